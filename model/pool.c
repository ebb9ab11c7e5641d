/* pool.c - persistent worker threads with a spin-then-sleep handshake.
 *
 * A decode step issues a few hundred short parallel regions, so waking a
 * worker must cost far less than creating one: workers spin on a
 * generation counter for a while before falling back to a condition
 * variable, and the caller spins for their completion. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include "pool.h"

#define SPIN_LIMIT (1 << 16)	/* ~0.3-1 ms of pause before sleeping */

struct worker {
	struct pool *p;
	int ith;
	pthread_t tid;
};

struct pool {
	int n;
	struct worker *w;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	atomic_uint gen;	/* bumped once per pool_run */
	atomic_int done;	/* workers finished with the current gen */
	atomic_int sleeping;
	atomic_int stop;
	pool_fn fn;
	void *ctx;
};

static inline void relax(void)
{
	__builtin_ia32_pause();
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct pool *p = w->p;
	unsigned seen = 0;

	for (;;) {
		unsigned g;
		int spins = 0;

		while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen) {
			if (++spins < SPIN_LIMIT) {
				relax();
				continue;
			}
			pthread_mutex_lock(&p->mu);
			atomic_fetch_add(&p->sleeping, 1);
			while (atomic_load(&p->gen) == seen)
				pthread_cond_wait(&p->cv, &p->mu);
			atomic_fetch_sub(&p->sleeping, 1);
			pthread_mutex_unlock(&p->mu);
			spins = 0;
		}
		seen = g;
		if (atomic_load(&p->stop))
			return NULL;
		p->fn(p->ctx, w->ith, p->n);
		atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
	}
}

/* Publishes a new generation and wakes sleepers. */
static void bump(struct pool *p)
{
	pthread_mutex_lock(&p->mu);
	atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
	if (atomic_load(&p->sleeping))
		pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

struct pool *pool_create(int n_threads)
{
	struct pool *p;

	if (n_threads < 1)
		return NULL;
	p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->n = n_threads;
	p->w = calloc((size_t)n_threads, sizeof *p->w);
	if (!p->w)
		goto free_pool;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	for (int i = 1; i < n_threads; i++) {
		p->w[i].p = p;
		p->w[i].ith = i;
		if (pthread_create(&p->w[i].tid, NULL, worker_main, &p->w[i])) {
			p->n = i;	/* destroy joins the ones started */
			pool_destroy(p);
			return NULL;
		}
	}
	return p;

free_pool:
	free(p);
	return NULL;
}

void pool_destroy(struct pool *p)
{
	if (!p)
		return;
	atomic_store(&p->stop, 1);
	bump(p);
	for (int i = 1; i < p->n; i++)
		pthread_join(p->w[i].tid, NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->w);
	free(p);
}

int pool_threads(const struct pool *p)
{
	return p->n;
}

void pool_run(struct pool *p, pool_fn fn, void *ctx)
{
	if (p->n == 1) {
		fn(ctx, 0, 1);
		return;
	}
	p->fn = fn;
	p->ctx = ctx;
	atomic_store_explicit(&p->done, 0, memory_order_relaxed);
	bump(p);
	fn(ctx, 0, p->n);
	for (int spins = 0;
	     atomic_load_explicit(&p->done, memory_order_acquire) < p->n - 1;) {
		if (++spins < SPIN_LIMIT)
			relax();
		else
			sched_yield();
	}
}

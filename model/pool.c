/* pool.c - persistent worker threads with a spin-then-sleep handshake.
 *
 * A decode step issues a few hundred short parallel regions, so waking a
 * worker must cost far less than creating one: workers spin on a
 * generation counter for a while before falling back to a condition
 * variable, and the caller spins for their completion.
 *
 * The generation and the thread count of a run are published together in
 * one 64-bit word, so a worker that is not part of a run (pool_set_active)
 * can never pair one run's generation with another run's count.  Each
 * worker sleeps on its own condition variable and a run signals only the
 * sleepers it needs: idle workers cost a run nothing.
 *
 * Spinning pays only while every thread has a CPU of its own.  A pool
 * with more threads than the CPUs this process may run on
 * (sched_getaffinity) does not spin at all: a spinning thread would hold
 * the CPU that the worker it waits for needs, and a decode step of
 * hundreds of runs would take seconds.  Its workers sleep at once and its
 * caller yields while it waits. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "pool.h"

#define SPIN_LIMIT (1 << 16)	/* ~0.3-1 ms of pause before sleeping */

/* One cache line each: cpu is written by its own worker only. */
struct worker {
	_Alignas(64) struct pool *p;
	int ith;
	pthread_t tid;
	pthread_cond_t cv;	/* signalled by bump when sleeping */
	int sleeping;		/* under p->mu */
	atomic_int cpu;		/* sched_getcpu at the start of the last task, -1 none */
	atomic_int moved;	/* seen on a second CPU since the last reset */
};

struct pool {
	int max;		/* threads created, caller included */
	int spin_limit;		/* SPIN_LIMIT, or 0 when oversubscribed */
	int active;		/* threads used by the next run */
	struct worker *w;	/* (max); w[0] is the caller's record */
	pthread_mutex_t mu;
	_Atomic uint64_t state;	/* gen << 32 | nth, bumped once per pool_run */
	atomic_int done;	/* workers finished with the current gen */
	atomic_int stop;
	pool_fn fn;
	void *ctx;
	int pin0;		/* caller's CPU, -1: none */
	pthread_t pin0_tid;	/* the thread pin0 was applied to */
};

static inline uint32_t gen_of(uint64_t s)
{
	return (uint32_t)(s >> 32);
}

static inline int nth_of(uint64_t s)
{
	return (int)(uint32_t)s;
}

static inline void relax(void)
{
	__builtin_ia32_pause();
}

/* Records the CPU w runs on now; a plain load when it has not moved, so
 * the per-task cost is one sched_getcpu (vDSO/rseq) and no shared write. */
static inline void note_cpu(struct worker *w)
{
	int c = sched_getcpu();
	int last = atomic_load_explicit(&w->cpu, memory_order_relaxed);

	if (c == last)
		return;
	if (last >= 0)
		atomic_store_explicit(&w->moved, 1, memory_order_relaxed);
	atomic_store_explicit(&w->cpu, c, memory_order_relaxed);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct pool *p = w->p;
	uint32_t seen = 0;
	int joined = 1;	/* took part in the last run seen: spin for the next */

	for (;;) {
		uint64_t s;
		int spins = joined ? 0 : p->spin_limit;

		while (gen_of(s = atomic_load_explicit(&p->state, memory_order_acquire)) == seen) {
			if (++spins < p->spin_limit) {
				relax();
				continue;
			}
			pthread_mutex_lock(&p->mu);
			w->sleeping = 1;
			while (gen_of(atomic_load(&p->state)) == seen)
				pthread_cond_wait(&w->cv, &p->mu);
			w->sleeping = 0;
			pthread_mutex_unlock(&p->mu);
			spins = 0;
		}
		seen = gen_of(s);
		if (atomic_load(&p->stop))
			return NULL;
		/* A run without this worker can finish and be followed by
		 * another before it gets here; s still names its own run. */
		joined = w->ith < nth_of(s);
		if (!joined)
			continue;
		note_cpu(w);
		p->fn(p->ctx, w->ith, nth_of(s));
		atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
	}
}

/* Publishes a new generation for nth threads and wakes the sleepers among
 * workers 1..nth-1. */
static void bump(struct pool *p, int nth)
{
	uint64_t s = atomic_load_explicit(&p->state, memory_order_relaxed);

	pthread_mutex_lock(&p->mu);
	s = (uint64_t)(gen_of(s) + 1) << 32 | (uint32_t)nth;
	atomic_store_explicit(&p->state, s, memory_order_release);
	for (int i = 1; i < nth; i++)
		if (p->w[i].sleeping)
			pthread_cond_signal(&p->w[i].cv);
	pthread_mutex_unlock(&p->mu);
}

struct pool *pool_create(int n_threads)
{
	struct pool *p;
	size_t wsize;

	if (n_threads < 1)
		return NULL;
	p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->max = p->active = n_threads;
	p->spin_limit = n_threads <= pool_cpus_available() ? SPIN_LIMIT : 0;
	p->pin0 = -1;
	wsize = (size_t)n_threads * sizeof *p->w;	/* a multiple of 64 */
	p->w = aligned_alloc(_Alignof(struct worker), wsize);
	if (!p->w)
		goto free_pool;
	memset(p->w, 0, wsize);
	pthread_mutex_init(&p->mu, NULL);
	for (int i = 0; i < n_threads; i++) {
		p->w[i].p = p;
		p->w[i].ith = i;
		atomic_init(&p->w[i].cpu, -1);
		pthread_cond_init(&p->w[i].cv, NULL);
	}
	for (int i = 1; i < n_threads; i++) {
		if (pthread_create(&p->w[i].tid, NULL, worker_main, &p->w[i])) {
			p->max = i;	/* destroy joins the ones started */
			for (int j = i; j < n_threads; j++)
				pthread_cond_destroy(&p->w[j].cv);
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
	bump(p, p->max);
	for (int i = 1; i < p->max; i++)
		pthread_join(p->w[i].tid, NULL);
	for (int i = 0; i < p->max; i++)
		pthread_cond_destroy(&p->w[i].cv);
	pthread_mutex_destroy(&p->mu);
	free(p->w);
	free(p);
}

int pool_cpus_available(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof set, &set) == 0)
		return CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

int pool_oversubscribed(const struct pool *p)
{
	return p->spin_limit == 0;
}

int pool_threads(const struct pool *p)
{
	return p->active;
}

int pool_threads_max(const struct pool *p)
{
	return p->max;
}

int pool_set_active(struct pool *p, int n)
{
	int prev = p->active;

	p->active = n < 1 ? 1 : n > p->max ? p->max : n;
	return prev;
}

/* Sets thread t's affinity to cpu, or to every configured CPU when cpu <
 * 0 (the kernel keeps only the online ones this process may use).
 * Returns 0 or an errno value. */
static int set_affinity(pthread_t t, int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	if (cpu >= 0) {
		CPU_SET(cpu, &set);
	} else {
		long n = sysconf(_SC_NPROCESSORS_CONF);

		for (long i = 0; i < n && i < CPU_SETSIZE; i++)
			CPU_SET(i, &set);
	}
	return pthread_setaffinity_np(t, sizeof set, &set);
}

int pool_pin(struct pool *p, const int *cpus, char *err, size_t errlen)
{
	int n = cpus ? p->active : p->max;
	pthread_t self = pthread_self();

	for (int i = 0; i < n; i++) {
		int cpu = cpus ? cpus[i] : -1;
		int rc;

		if (cpus && (cpu < 0 || cpu >= CPU_SETSIZE)) {
			snprintf(err, errlen, "pool_pin: worker %d: cpu %d out of range",
				 i, cpu);
			return -1;
		}
		rc = set_affinity(i ? p->w[i].tid : self, cpu);
		if (rc) {
			if (cpu < 0)
				snprintf(err, errlen, "pool_pin: worker %d: unpin refused: %s",
					 i, strerror(rc));
			else
				snprintf(err, errlen, "pool_pin: worker %d: cpu %d refused: %s",
					 i, cpu, strerror(rc));
			return -1;
		}
		if (i == 0) {
			p->pin0 = cpu;
			p->pin0_tid = self;
		}
	}
	/* moving was asked for: start the record afresh */
	pool_cpus_reset(p);
	return 0;
}

void pool_cpus_seen(const struct pool *p, int *cpu, int *moved)
{
	int any = 0;

	for (int i = 0; i < p->active; i++) {
		cpu[i] = atomic_load_explicit(&p->w[i].cpu, memory_order_relaxed);
		any |= atomic_load_explicit(&p->w[i].moved, memory_order_relaxed);
	}
	*moved = any;
}

void pool_cpus_reset(struct pool *p)
{
	for (int i = 0; i < p->max; i++) {
		atomic_store_explicit(&p->w[i].cpu, -1, memory_order_relaxed);
		atomic_store_explicit(&p->w[i].moved, 0, memory_order_relaxed);
	}
}

void pool_run(struct pool *p, pool_fn fn, void *ctx)
{
	int nth = p->active;

	/* the pin of worker 0 follows whichever thread drives the pool */
	if (p->pin0 >= 0 && !pthread_equal(pthread_self(), p->pin0_tid)) {
		p->pin0_tid = pthread_self();
		set_affinity(p->pin0_tid, p->pin0);
	}
	note_cpu(&p->w[0]);
	if (nth == 1) {
		fn(ctx, 0, 1);
		return;
	}
	p->fn = fn;
	p->ctx = ctx;
	atomic_store_explicit(&p->done, 0, memory_order_relaxed);
	bump(p, nth);
	fn(ctx, 0, nth);
	for (int spins = 0;
	     atomic_load_explicit(&p->done, memory_order_acquire) < nth - 1;) {
		if (++spins < p->spin_limit)
			relax();
		else
			sched_yield();
	}
}

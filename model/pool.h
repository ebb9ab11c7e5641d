/* pool.h - a persistent worker pool: threads are created once, by
 * pool_create, and reused for every op of every token.
 *
 * pool_run(p, fn, ctx) calls fn(ctx, ith, nth) once on each of the nth
 * active threads (the caller is ith 0) and returns when all have finished.
 *
 * The tuner narrows the pool without recreating it (pool_set_active),
 * pins workers to CPUs (pool_pin, plan from env_pin_plan in harness/env.h)
 * and checks afterwards that they stayed put (pool_cpus_seen).  Every
 * function below is called by the one thread that drives the pool, never
 * during a pool_run. */
#ifndef Q8TUNE_POOL_H
#define Q8TUNE_POOL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pool;

typedef void (*pool_fn)(void *ctx, int ith, int nth);

/* n_threads >= 1 (1: no worker threads), all active.  NULL on failure. */
struct pool *pool_create(int n_threads);
void pool_destroy(struct pool *p);
/* The CPUs this process may run on (sched_getaffinity), at least 1. */
int pool_cpus_available(void);

/* The pool has more threads than pool_cpus_available() had when it was
 * made: it does not spin (see pool.c), and a caller may warn. */
int pool_oversubscribed(const struct pool *p);

/* The most threads any tool accepts: far beyond any CPU this runs on,
 * low enough that a typo (--threads 100000) is an error, not a hang. */
#define POOL_MAX_THREADS 256

/* The active thread count: the nth every later pool_run passes. */
int pool_threads(const struct pool *p);
/* The count pool_create made: the most pool_set_active accepts.  Size
 * per-thread scratch by this, not by pool_threads, if the active count
 * may grow after allocation. */
int pool_threads_max(const struct pool *p);
void pool_run(struct pool *p, pool_fn fn, void *ctx);

/* Uses only the first n threads (1 <= n <= pool_threads_max; n is clamped
 * into that range) for later runs; the others sleep without being woken
 * by runs.  Returns the previous active count. */
int pool_set_active(struct pool *p, int n);

/* Pins worker ith (0 = the calling thread, which must be the one that
 * calls pool_run; a run from another thread moves the pin to that thread)
 * to cpus[ith], for ith < pool_threads(p), for every later run.
 * cpus == NULL unpins every thread of the pool, the caller included, to
 * the whole online set.  0, or -1 with a message naming the worker and CPU
 * when sched_setaffinity refuses (workers before it stay pinned). */
int pool_pin(struct pool *p, const int *cpus, char *err, size_t errlen);

/* cpu[i] (pool_threads(p) entries): the CPU worker i ran on at the start
 * of its last task (sched_getcpu), -1 if it ran none since the last reset;
 * *moved: 1 if any worker was seen on more than one CPU since the last
 * pool_cpus_reset (or pool_create). */
void pool_cpus_seen(const struct pool *p, int *cpu, int *moved);
void pool_cpus_reset(struct pool *p);

#ifdef __cplusplus
}
#endif

#endif

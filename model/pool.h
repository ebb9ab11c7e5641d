/* pool.h - a persistent worker pool: threads are created once, by
 * pool_create, and reused for every op of every token.
 *
 * pool_run(p, fn, ctx) calls fn(ctx, ith, nth) once on each of the nth
 * threads (the caller is ith 0) and returns when all have finished. */
#ifndef Q8TUNE_POOL_H
#define Q8TUNE_POOL_H

struct pool;

typedef void (*pool_fn)(void *ctx, int ith, int nth);

/* n_threads >= 1 (1: no worker threads).  NULL on failure. */
struct pool *pool_create(int n_threads);
void pool_destroy(struct pool *p);
int pool_threads(const struct pool *p);
void pool_run(struct pool *p, pool_fn fn, void *ctx);

#endif

/* bench.h - measuring the INT8 forward pass where it runs: prompt
 * processing and decode rows, interleaved A/B comparisons and the in-situ
 * per-op profile.
 *
 * A bench_ctx borrows a loaded model, a pool and a session (with a
 * context long enough for prompt + decode); every sample starts from a
 * cleared KV cache.  Samples are repeated until the 95% CI of the median
 * is within the target (2%) or the time budget runs out, after warm-up.
 * Nothing here prints: rows carry their numbers and warning bits, and
 * the mains (tools/bench.c, the tuner) report them. */
#ifndef Q8TUNE_BENCH_H
#define Q8TUNE_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include "counters.h"
#include "kernels.h"
#include "prof.h"
#include "stats.h"

struct model;
struct pool;
struct session;

struct bench_ctx {
	struct model *m;
	struct pool *pool;
	struct session *s;
	struct counters *ctr;	/* NULL: no counters */
	float *logits;		/* (n_vocab), owned */
};

struct bench_row;

/* Called after every measured sample of a row (or pair of rows of an
 * A/B): the row so far and the ms since its measuring began. */
typedef void (*bench_progress_fn)(void *ctx, const struct bench_row *r,
				  double elapsed_ms);

/* What to measure. */
struct bench_spec {
	const int32_t *prompt;	/* (n_prompt) the pp batch; also the decode
				 * prefix at depth 0 */
	int n_prompt;
	const int32_t *depth;	/* (n_depth) context evaluated untimed before
				 * every sample, at positions 0..n_depth-1;
				 * the decode prefix when n_depth > 0 */
	int n_depth;
	int n_gen;		/* tokens per decode sample */
	int min_reps;		/* at least this many samples per row */
	int max_reps;		/* at most (<= BENCH_MAX_SAMPLES) */
	double budget_ms;	/* per row, after warm-up: stop adding samples */
	double ci_target;	/* stop once CI half-width / median <= this */
	int warmup;		/* samples run and discarded first */
	unsigned prof_mask;	/* 1u << prof_op: also time these ops in
				 * every sample (bench_row.op_ms) */
	double decide_margin;	/* > 0: an A/B also stops once the ratio
				 * is significantly beyond 1 +- this (the
				 * answer to "faster by the margin?" is
				 * known); 0: only the CI target stops it */
	double alpha;		/* significance level of that rule (0: 0.05) */
	bench_progress_fn progress;	/* NULL: none */
	void *progress_ctx;
};

enum bench_kind { ROW_PP, ROW_TG };

/* One side of a comparison: what the session runs with. */
struct bench_setup {
	const struct kernels *k;	/* prepared with model_prepare */
	int threads;			/* active pool threads; 0: leave as is */
	int scratch;			/* enum scratch_mode (model.h) */
};

#define BENCH_MAX_SAMPLES 1000

/* Warning bits of a row. */
#define BW_CV 1u		/* coefficient of variation > 5% */
#define BW_NIVCSW 2u		/* involuntary context switches while measuring */
#define BW_CI 4u		/* the CI target was not reached in the budget */
#define BW_OVER 8u		/* measuring took over 1.25x the budget: the
				 * minimum samples take longer than it */
#define BENCH_OVER 1.25

enum bench_stop { STOP_CI, STOP_BUDGET, STOP_MAX_REPS };

struct bench_row {
	enum bench_kind kind;
	int n_tokens;		/* pp: batch size; tg: tokens per sample */
	int n_depth;		/* context positions before the timed part */
	int n;			/* samples */
	double ms[BENCH_MAX_SAMPLES];	/* pp: ms per batch; tg: ms per token */
	double op_ms[BENCH_MAX_SAMPLES];	/* the prof_mask ops' share of ms */
	struct stats st;	/* of ms[0..n) */
	double tok_s;		/* tokens/s at the median */
	struct ctr_sample ctr;	/* summed over the measured samples */
	unsigned warn;		/* BW_* */
	enum bench_stop stop;
	double wall_ms;		/* spent on this row, warm-up included */
};

/* An interleaved comparison A B A B ... of two kernel sets. */
struct bench_ab {
	struct bench_row a, b;
	double ratio, ratio_lo, ratio_hi;	/* median(b) / median(a), 95% CI */
	double p;		/* two-sided Mann-Whitney U */
	double u;
	int significant;	/* p < 0.05 and the CI excludes 1 */
	int practical;		/* and |ratio - 1| > the margin (1%) */
	/* the same for the prof_mask ops' time alone (0 without a mask) */
	double op_ratio, op_lo, op_hi, op_p;
	int op_significant, op_practical;
};

/* Defaults: 5..1000 samples, 1 warm-up, CI target 2%, budget 10 s. */
void bench_spec_defaults(struct bench_spec *sp);

/* Binds the context to m, pool and s (borrowed) and counters c (may be
 * NULL).  0, or -1 out of memory. */
int bench_ctx_init(struct bench_ctx *b, struct model *m, struct pool *pool,
		   struct session *s, struct counters *c, char *err,
		   size_t errlen);
void bench_ctx_free(struct bench_ctx *b);

/* A row with the session's current kernel set. */
int bench_row_run(struct bench_ctx *b, enum bench_kind kind,
		  const struct bench_spec *sp, struct bench_row *row,
		  char *err, size_t errlen);

/* Switches the session and pool to su.  0, or -1 out of memory. */
int bench_apply(struct bench_ctx *b, const struct bench_setup *su, char *err,
		size_t errlen);

/* A and B interleaved on the same prompt (A B A B ...); ends on A.  Both
 * kernel sets must have been prepared (model_prepare with both).  The
 * stopping rule applies to the CI of the ratio. */
int bench_ab_run(struct bench_ctx *b, enum bench_kind kind,
		 const struct bench_spec *sp, const struct bench_setup *a,
		 const struct bench_setup *bs, struct bench_ab *out, char *err,
		 size_t errlen);

/* The in-situ profile: reps profiled samples interleaved with as many
 * unprofiled ones.  p gets the profiled sample whose pass time is nearest
 * the median pass (divide by p->passes for one pass).  *overhead =
 * median(profiled) / median(plain) - 1. */
int bench_profile(struct bench_ctx *b, enum bench_kind kind,
		  const struct bench_spec *sp, int reps, struct prof *p,
		  double *overhead, char *err, size_t errlen);

/* The cost of profiling, from bench_profile_ci. */
struct bench_overhead {
	double ratio_m1;	/* median(profiled) / median(plain) - 1 */
	double lo, hi;		/* its 95% bootstrap CI, also minus 1 */
};

/* bench_profile, and the CI of the overhead. */
int bench_profile_ci(struct bench_ctx *b, enum bench_kind kind,
		     const struct bench_spec *sp, int reps, struct prof *p,
		     struct bench_overhead *ov, char *err, size_t errlen);

/* Sums of ctr_sample values by name; 0 when the name is absent. */
double ctr_value(const struct ctr_sample *c, const char *name);

#endif

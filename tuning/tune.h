/* tune.h - the search: the fastest correct configuration of a model on
 * this machine, measured inside the full forward pass (docs/tuning.md).
 *
 * Per phase (prompt batch, single-token decode), starting from the
 * default kernel set (the incumbent): every usable variant of every op
 * the model calls is gated for correctness and then timed against the
 * incumbent, interleaved, in situ; a candidate wins only if it is faster
 * with significance and by the practical margin.  Then thread counts;
 * then coordinate descent repeats until a round changes nothing.  Every
 * evaluation runs in a forked child with a time limit, so a variant that
 * crashes or hangs is recorded as failed and the search goes on.  Each
 * evaluation is appended to a log, which --resume reads back.
 *
 * Nothing here prints: decisions are passed to a callback as they are
 * made, and the final comparison is returned for the main to report. */
#ifndef Q8TUNE_TUNE_H
#define Q8TUNE_TUNE_H

#include <stdio.h>
#include "bench.h"
#include "config.h"

struct model;

#define TUNE_MAX_THREADS 64

struct tune_opts {
	const char *model_path;
	const char *log_path;	/* evaluation log (results/tune-log.jsonl) */
	double budget_s;	/* the whole search, final comparison included */
	int max_threads;	/* thread counts tried: 1..max_threads
				 * (<= TUNE_MAX_THREADS) */
	int n_pp;		/* prompt-phase batch (tokens) */
	int n_gen;		/* decode tokens per sample */
	int rounds;		/* coordinate-descent rounds at most */
	int resume;		/* reuse evaluations found in the log */
	uint32_t ops;		/* 1u << op_id of the ops searched; 0: all */
	double timeout_s;	/* per evaluation child; 0: derived from budget */
	const char *git_rev;	/* build identity, for the log keys */
};

void tune_opts_defaults(struct tune_opts *o);

enum tune_verdict {
	TV_WIN,			/* became the incumbent */
	TV_KEEP,		/* not faster by the margin: incumbent kept */
	TV_REJECTED,		/* failed the correctness gate */
	TV_CRASHED,		/* the child died of a signal */
	TV_HUNG,		/* the child timed out and was killed */
	TV_SKIPPED,		/* budget spent, not evaluated */
	TV_FINAL,		/* a final comparison, no decision */
};

const char *tune_verdict_name(enum tune_verdict v);

struct tune_decision {
	enum phase phase;
	int op;			/* enum op_id; -1 the thread count, -2 a
				 * final comparison, -3 a round not run */
	char incumbent[32], candidate[32];	/* variant names, or "2 threads" */
	enum tune_verdict verdict;
	char reason[256];	/* why: numbers, or the gate's failure */
	double ms_a, ms_b;	/* medians of the pass (ms per batch / token) */
	double ratio, lo, hi, p;	/* pass: median(b) / median(a), CI, p */
	double op_a, op_b, op_ratio, op_lo, op_hi, op_p;	/* op alone */
	int n;			/* samples per side */
	double gate_maxdiff;	/* worst |logit - reference| of the gate */
	int from_log;		/* reused from the log (--resume) */
	int index, total;	/* progress: evaluation i of about total */
	double eta_s;		/* estimated seconds left */
	int started;		/* 1: about to be evaluated (no verdict yet),
				 * for a progress line; 0: decided */
};

/* The final comparisons of one phase, measured in one child, interleaved. */
struct tune_final {
	struct bench_ab vs_default;	/* A = default, B = tuned */
	struct bench_ab vs_scalar;	/* A = all-scalar, B = tuned */
	struct prof prof_default, prof_tuned;	/* per op, one pass each */
	int have_prof;
};

struct tune_result {
	struct best_config cfg;		/* the winner (config_free it) */
	struct kernels def[PHASE_COUNT];	/* the default sets */
	int def_threads;
	struct tune_final fin[PHASE_COUNT];
	/* Amdahl: the end-to-end speedup predicted from the per-op gains
	 * measured during the search (each win's op time saved, thread wins'
	 * pass ratios), to hold against the final measured one */
	double predicted_speedup[PHASE_COUNT];
	int evaluations, reused, failed;
	int candidates;			/* evaluations of candidates that ran
					 * (not skipped, not the finals) */
	double elapsed_s;
	int interrupted;		/* SIGINT: nothing written */
};

/* Called twice per evaluation: when it starts (d->started) and when it
 * is decided. */
typedef void (*tune_report_fn)(void *ctx, const struct tune_decision *d);

/* Runs the search on m (loaded, not prepared; the search prepares what
 * each evaluation needs).  Fills r (config_free(&r->cfg) after success).
 * 0; 1 when interrupted by SIGINT (r->interrupted, no config); -1 with a
 * message. */
int tune_run(struct model *m, const struct tune_opts *o, tune_report_fn cb,
	     void *cb_ctx, struct tune_result *r, char *err, size_t errlen);

/* The evaluations logged in path by earlier runs, keyed by their key
 * (the last line of a key wins); torn lines, foreign lines and lines of
 * another schema are left out; no file: an empty object.  A new
 * reference, NULL only when out of memory. */
json_t *tune_log_load(const char *path);

/* The profile rows (1u << enum prof_op) whose time op's variant
 * decides: what "in-situ time of an op" means in the search and report. */
unsigned tune_prof_mask(int op);

/* 1 if the forward pass of m calls op. */
int tune_op_used(struct model *m, int op);

/* Sets the flag tune_run polls between evaluations (a SIGINT handler
 * calls it). */
void tune_interrupt(void);

#endif

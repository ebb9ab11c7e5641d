/* compare.h - a performance comparison of two builds of q8tune (BASE and
 * HEAD) at process level, for the regression report (make perf-report,
 * docs/perf-report.md).
 *
 * Timings: round after round, each side's ./bench runs as a fresh process
 * (pinned the same way, on the same model and prompt), the sides in a
 * rotating order so that slow drift of the machine hits them alike.  A
 * second HEAD side runs in every round too: HEAD against HEAD is the A/A
 * comparison whose spread is the noise band of the verdicts.  A row's
 * number per round is the median of that process's samples; the
 * uncertainty of a ratio is its round-to-round spread (a t interval over
 * the rounds' log ratios), not the samples pooled within a run, which on
 * a shared machine understate it several times.
 *
 * Counts: callgrind (valgrind) instruction and cache-miss counts of one
 * prompt pass and one decode step of each side's ./infer, collected only
 * inside session_eval, one thread, AVX2 kernels (valgrind cannot run
 * AVX-512): deterministic, so a 1% change in shared code shows even when
 * time is noise.
 *
 * Nothing here prints to the terminal: progress goes to the caller's
 * callback; the report is written to the FILEs the caller gives. */
#ifndef Q8TUNE_COMPARE_H
#define Q8TUNE_COMPARE_H

#include <stddef.h>
#include <stdio.h>
#include <jansson.h>
#include "stats.h"

#define CMP_MAX_ROUNDS 64
#define CMP_MAX_ROWS 64		/* tests plus their profile rows */
#define CMP_MAX_GROUPS 12	/* source groups of the counts */

enum cmp_side { SIDE_BASE, SIDE_HEAD, SIDE_HEAD2, SIDE_COUNT };

struct cmp_opts {
	const char *dir[2];	/* build folders holding bench and infer:
				 * [0] BASE, [1] HEAD (SIDE_HEAD2 is HEAD) */
	const char *name[2];	/* their revisions, for the report */
	const char *env[2];	/* "K=V K=V": environment of one side only
				 * (HEAD's applies to both HEAD sides); NULL */
	const char *model;	/* GGUF both sides time */
	const char *prompt;	/* text of the short prompt ("Hello world") */
	int gen;		/* tg tokens per sample (16) */
	int pp_long;		/* the longer prompt batch (64; 0: none) */
	int rounds;		/* >= 3 */
	int budget_s;		/* per row per bench process (bench takes whole s) */
	int threads;		/* 0: bench's default */
	double alpha;		/* significance (0.05) */
	double margin;		/* smallest change called slower/faster (0.03) */
	const char *count_model;	/* small GGUF for callgrind; NULL: no counts */
	const char *valgrind;	/* "valgrind" */
};

void cmp_opts_defaults(struct cmp_opts *o);

/* One row: a test ("pp3", "tg16", "pp64") or a profile row of one
 * ("pp64/mm_qkv"). */
struct cmp_row {
	char name[40];
	int is_op;
	double ms[SIDE_COUNT][CMP_MAX_ROUNDS];	/* per round; NaN: missing */
	json_t *samples[SIDE_COUNT];	/* test rows: each round's raw
					 * samples_ms, an array per round
					 * (owned; NULL for profile rows) */
	int rounds;		/* rounds with all three sides */
	int used;		/* of them, not dropped as disturbed */
	struct round_stats d;	/* log(HEAD / BASE) over the rounds used */
	struct round_stats aa;	/* log(HEAD2 / HEAD) */
	double ratio, lo, hi;	/* HEAD / BASE and its 95% CI */
	double aa_ratio;	/* HEAD2 / HEAD */
	double band;		/* noise band [1/band, band] from the A/A */
	int verdict;		/* +1 slower, -1 faster, 0 no change */
	/* a test row judged slower is measured again (fresh rounds): */
	int remeasured;
	double re_ratio, re_lo, re_hi;	/* the second measurement */
	int confirmed;		/* slower in both */
};

/* Deterministic counts of one side: [0] prompt pass, [1] decode step. */
struct cmp_counts {
	double ir[2], d1_miss[2], ll_miss[2];
	double group_ir[2][CMP_MAX_GROUPS];	/* Ir by source group */
};

struct cmp_result {
	int rounds;		/* rounds completed */
	int n_rows;
	struct cmp_row row[CMP_MAX_ROWS];
	double wall_s;		/* the timing rounds, re-measurement included */
	int have_counts;
	char counts_why[256];	/* when !have_counts */
	int n_groups;
	const char *group[CMP_MAX_GROUPS];	/* "kernels/", "model/", ... */
	struct cmp_counts counts[2];	/* BASE, HEAD */
	const char *prompt_flag[2];	/* how each build's ./bench takes a
					 * text prompt: "--prompt", or "-p"
					 * (revisions before llama-bench's
					 * flags); NULL: not asked yet */
};

/* Progress, one line (no '\n'): "round 2/6: head" and the like. */
typedef void (*cmp_progress_fn)(void *ctx, const char *line);

/* Runs the timing rounds and the counts, and judges every row (the rule
 * in cmp_judge); free r with cmp_result_free, after failure too.  A test row judged slower is measured again with a
 * fresh set of rounds; it stays "slower" only if the second measurement
 * says so too (confirmed).  0, or -1 with a message (a side's bench
 * failed: its last line of stderr). */
int cmp_run(const struct cmp_opts *o, cmp_progress_fn cb, void *cb_ctx,
	    struct cmp_result *r, char *err, size_t errlen);

void cmp_result_free(struct cmp_result *r);

/* The verdict of a row from its rounds.  Rounds a disturbance hit are
 * dropped first (a log ratio beyond 4 robust sd of the rounds' median,
 * never within 2%; at least 3 kept), for the ratio and the A/A apart.
 * Then ratio = exp(mean log ratio),
 * CI = exp(t interval), noise band = exp(|A/A mean| + A/A t half-width);
 * slower (+1) iff p < alpha, the CI's low end is above the band, and the
 * ratio exceeds 1 + margin; faster (-1) is the mirror image; else 0. */
void cmp_judge(struct cmp_row *row, int rounds, double alpha, double margin);

/* The markdown report (header with machine and both revisions, the test
 * rows, the profile rows, the counts) to out. */
void cmp_write_md(FILE *out, const struct cmp_opts *o,
		  const struct cmp_result *r, const char *machine);

/* The whole comparison with its raw per-round numbers, as JSON (schema
 * "q8tune-perf-report", docs/results-format.md); a new reference. */
json_t *cmp_json(const struct cmp_opts *o, const struct cmp_result *r,
		 const char *machine);

/* The largest ratio among the confirmed slower pp/tg rows, or 1. */
double cmp_worst_confirmed(const struct cmp_result *r);

#endif

/* results.h - the run record: one JSON object per ./bench run, appended
 * as one line to results/runs.jsonl (see docs/results-format.md), and the
 * CSV view of that file.
 *
 * Appends are atomic in the sense that matters: the whole line is
 * written by one write(2) under an exclusive lock, a short write is cut
 * back, and a torn last line left by a killed writer (no final '\n') is
 * cut before the next append, so earlier lines are never damaged. */
#ifndef Q8TUNE_RESULTS_H
#define Q8TUNE_RESULTS_H

#include <stddef.h>
#include <stdio.h>
#include <jansson.h>
#include "bench.h"
#include "env.h"
#include "generate.h"
#include "roofline.h"

struct model;

#define RUN_SCHEMA "q8tune-run"
#define RUN_SCHEMA_VERSION 1

/* JSON views of the harness's structs (new references; NULL only when
 * out of memory). */
json_t *stats_json(const struct stats *s);
json_t *ctr_sample_json(const struct ctr_sample *c);
/* A row: test name ("pp3", "tg32"), samples, statistics, counters,
 * warnings and how it stopped. */
json_t *bench_row_json(const struct bench_row *r);
const char *bench_row_test(const struct bench_row *r, char *buf, size_t cap);
/* "pp64", or "tg16 @ d512" at a context depth (llama-bench's names). */
const char *bench_test_name(enum bench_kind kind, int n_tokens, int n_depth,
			    char *buf, size_t cap);

/* What one side of a run measured with. */
struct run_setup {
	const char *name;	/* a config path, "default", "scalar", "per_call" */
	const struct kernels *k[PHASE_COUNT];
	int threads[PHASE_COUNT];	/* 0: the run's thread count */
	int scratch;		/* enum scratch_mode */
};

/* {name, prompt_kernels, decode_kernels, prompt_threads, decode_threads,
 * scratch} */
json_t *run_setup_json(const struct run_setup *s);

/* Where a run's floors come from: the machine's roofline (NULL: none)
 * and a token's weights. */
struct run_floors {
	const struct roofline *r;
	double bytes, macs;	/* per token: model_weight_bytes, _macs */
};

/* The floor of a row at threads threads (docs/results-format.md): a
 * decode step reads every weight once; a prompt batch multiplies every
 * weight by every token.  f->r must be set. */
double row_floor_ms(const struct run_floors *f, const struct bench_row *r,
		    int threads);

/* bench_row_json plus the row's thread count, and floor_ms and
 * pct_of_floor when f->r is set. */
json_t *row_json(const struct bench_row *r, const struct run_floors *f,
		 int threads);

/* % of the roof of one profile row: the time its bytes take at the
 * bandwidth roof, or its int8 MACs at the peak, whichever is longer, over
 * the time measured. */
double prof_roof_pct(const struct prof_row *p, const struct roofline *r,
		     int threads);

/* Whether profile row op is part of attention (attn_*, attention). */
int prof_is_attention(int op);

/* What one profile entry is made of. */
struct prof_in {
	const struct prof *p;
	enum bench_kind kind;
	int n_tokens, n_depth, threads;
	struct bench_overhead ov;
	const struct roofline *roof;	/* NULL: no roofline */
};

/* {test, kind, n_tokens, n_depth, threads, passes, pass_ms,
 * sum_of_ops_share, attention_share, attention_ms_per_pass, overhead,
 * overhead_ci_lo, overhead_ci_hi, warnings, ops: [{op, calls_per_pass,
 * ms_per_pass, share, bytes_per_pass, macs_per_pass, gb_s, gmac_s, int8,
 * warnings[, pct_of_roof]}]} for the rows that ran; pct_of_roof only
 * with a roofline.  Warnings: above_roof (an op faster than its roof),
 * overhead_below_zero (the CI of the overhead lies below 0). */
json_t *profile_json(const struct prof_in *in);

/* {a, b, threads, ratio_b_over_a, ratio_ci_lo, ratio_ci_hi,
 * mann_whitney_p, mann_whitney_u, significant, practical} */
json_t *bench_ab_json(const struct bench_ab *ab, int threads);

/* What the counters could read here: {hardware, software, rusage,
 * hardware_why, software_why, papi_version, status}. */
json_t *counters_json(struct counters *c);

/* Everything one ./bench run records (docs/results-format.md). */
struct run_info {
	const char *when;		/* ISO-8601 UTC */
	const struct env_info *env;
	struct counters *ctr;
	int threads, pin;		/* the pool's; pin: one per core */
	const int *cpus_seen;		/* (n_cpus) each worker's last CPU */
	int n_cpus, cpu_moved;
	const struct model *m;
	const char *model_path;
	const struct run_setup *setup[2];	/* [1] only for an A/B */
	const struct bench_spec *sp;	/* budget, reps, CI target, warm-up */
	int n_prompt, n_gen;		/* the first prompt and tg length */
	json_t *sweep;			/* {n_prompt, n_gen, threads} lists,
					 * borrowed; NULL: none */
	json_t *rows, *ab, *profile;	/* arrays, borrowed; empty: left out */
	const char *roof_key;		/* with floors->r */
	const struct run_floors *floors;
};

/* The run record (schema RUN_SCHEMA), a new reference, or NULL when out
 * of memory. */
json_t *run_record(const struct run_info *ri);

/* Appends rec as one line to path (created if absent, folder included).
 * 0, or -1 with a message naming the file. */
int results_append(const char *path, const json_t *rec, char *err,
		   size_t errlen);

/* Writes the CSV view of a runs.jsonl file to out: the header and the
 * lines of every run (harness/rows.h: rows, A/B sides, profile lines),
 * the columns `./bench -o csv` prints.  Torn or foreign lines
 * are skipped and counted in *skipped.  0, or -1 with a message. */
int results_csv(const char *path, FILE *out, int *skipped, char *err,
		size_t errlen);

#endif

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

/* Appends rec as one line to path (created if absent, folder included).
 * 0, or -1 with a message naming the file. */
int results_append(const char *path, const json_t *rec, char *err,
		   size_t errlen);

/* Writes the CSV view of a runs.jsonl file to out: one line per row of
 * every run (time, git_rev, model, config, threads, test, n, median_ms,
 * mad_ms, ci_lo_ms, ci_hi_ms, tok_s, warnings).  Torn or foreign lines
 * are skipped and counted in *skipped.  0, or -1 with a message. */
int results_csv(const char *path, FILE *out, int *skipped, char *err,
		size_t errlen);

#endif

/* rows.h - one set of columns for every view of ./bench's measurements:
 * `-o csv`, `-o md`, `-o table` and `./bench --csv` (the view of
 * runs.jsonl) all print lines made here from the run record's JSON, so
 * the same run gives the same values whichever way it is printed.
 *
 * A record has three kinds of lines: its rows (pp and tg), the two sides
 * of each A/B comparison (the B line carries the ratio), and per profiled
 * row one `pass` line and one line per op.  Every line carries the
 * record's context (time, build, CPU, model with its size and
 * parameters, backend, config, threads), so tables from different runs
 * and machines can be concatenated.  Columns: docs/results-format.md. */
#ifndef Q8TUNE_ROWS_H
#define Q8TUNE_ROWS_H

#include <stdio.h>
#include <jansson.h>

enum rv_col {
	RV_TIME, RV_GIT_REV, RV_CPU, RV_BACKEND, RV_MODEL, RV_MODEL_TYPE,
	RV_MODEL_SIZE, RV_MODEL_PARAMS, RV_WEIGHTS, RV_CONFIG, RV_THREADS,
	RV_PIN, RV_TEST, RV_KIND, RV_N_PROMPT, RV_N_GEN, RV_N_DEPTH, RV_N,
	RV_MEDIAN, RV_MAD, RV_CI_LO, RV_CI_HI, RV_CV, RV_TOK_S, RV_FLOOR,
	RV_PCT_FLOOR, RV_RATIO, RV_RATIO_LO, RV_RATIO_HI, RV_P, RV_VERDICT,
	RV_OP, RV_CALLS, RV_SHARE, RV_GB_S, RV_GMAC_S, RV_PCT_ROOF,
	RV_OVERHEAD, RV_OV_LO, RV_OV_HI, RV_ATTN_SHARE, RV_WARNINGS, RV_NCOL
};

/* The column names, as the CSV header has them. */
extern const char *const rv_names[RV_NCOL];

/* One line: text for the text columns, numbers (NaN: empty) for the
 * others. */
struct rv_line {
	char s[RV_NCOL][160];
	double v[RV_NCOL];
};

/* Whether column c holds text (else a number). */
int rv_is_text(enum rv_col c);

typedef void (*rv_fn)(void *ctx, const struct rv_line *l);

/* The lines of one element of rec (a run record, whose own rows, ab and
 * profile arrays are not read, so it may be the record of a run still
 * measuring): a row, an A/B comparison (two lines) or a profile entry
 * (the pass line, then the ops'). */
void rv_row(const json_t *rec, const json_t *row, rv_fn fn, void *ctx);
void rv_ab(const json_t *rec, const json_t *ab, rv_fn fn, void *ctx);
void rv_profile(const json_t *rec, const json_t *prof, rv_fn fn, void *ctx);

/* Every line of rec: rows, then A/B sides, then profile lines. */
void rv_record(const json_t *rec, rv_fn fn, void *ctx);

/* CSV: the header line, and one line (RFC 4180 quoting; numbers %.6g,
 * counts whole; empty for a missing value).  rv_csv_fn is an rv_fn
 * writing to the FILE * ctx. */
void rv_csv_header(FILE *out);
void rv_csv_line(FILE *out, const struct rv_line *l);
void rv_csv_fn(void *ctx, const struct rv_line *l);

#endif

/* --- the views for people: Markdown and a fixed-width table ------------- */

enum rv_set { RV_SET_ROWS, RV_SET_AB, RV_SET_PROFILE };

/* A table being printed: its lines go through rv_text_fn; the header is
 * printed before the first line, notes on flagged lines (an op above its
 * roof, an overhead below zero beyond its CI) by rv_text_end. */
struct rv_text {
	FILE *out;
	int md;			/* 1: Markdown, 0: fixed-width */
	enum rv_set set;
	int lines;		/* printed since the header */
	char above[512];	/* the ops flagged above_roof, ", "-joined */
	char below[160];	/* the tests flagged overhead_below_zero */
};

void rv_text_begin(struct rv_text *t, FILE *out, int md, enum rv_set set);
void rv_text_fn(void *ctx, const struct rv_line *l);
/* Ends the table: its notes, if any. */
void rv_text_end(struct rv_text *t);

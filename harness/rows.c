/* rows.c - the lines of the row views (see rows.h). */
#include <math.h>
#include <string.h>
#include "rows.h"

const char *const rv_names[RV_NCOL] = {
	"time", "git_rev", "cpu", "backend", "model", "model_type",
	"model_size", "model_params", "weights", "config", "threads", "pin",
	"test", "kind", "n_prompt", "n_gen", "n_depth", "n", "median_ms",
	"mad_ms", "ci_lo_ms", "ci_hi_ms", "cv", "tokens_per_s", "floor_ms",
	"pct_of_floor", "ratio", "ratio_ci_lo", "ratio_ci_hi", "p", "verdict",
	"op", "calls", "share", "gb_s", "gmac_s", "pct_of_roof", "overhead",
	"overhead_ci_lo", "overhead_ci_hi", "attention_share", "warnings",
};

int rv_is_text(enum rv_col c)
{
	return c <= RV_MODEL_TYPE || c == RV_WEIGHTS || c == RV_CONFIG || c == RV_PIN || c == RV_TEST ||
	       c == RV_KIND || c == RV_VERDICT || c == RV_OP || c == RV_WARNINGS;
}

/* Counts, printed whole. */
static int is_count(enum rv_col c)
{
	return c == RV_MODEL_SIZE || c == RV_MODEL_PARAMS || c == RV_THREADS ||
	       c == RV_N_PROMPT || c == RV_N_GEN || c == RV_N_DEPTH || c == RV_N;
}

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

/* A number of o, or NaN when it is absent or null. */
static double num(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

static void set(struct rv_line *l, enum rv_col c, const char *s)
{
	snprintf(l->s[c], sizeof l->s[c], "%s", s);
}

/* The items of a string array joined by ';'. */
static void set_list(struct rv_line *l, enum rv_col c, const json_t *a)
{
	size_t i, at = 0;
	json_t *e;

	l->s[c][0] = '\0';
	json_array_foreach(a, i, e) {
		if (at >= sizeof l->s[c])
			break;
		at += (size_t)snprintf(l->s[c] + at, sizeof l->s[c] - at, "%s%s",
				       i ? ";" : "", json_string_value(e) ?
				       json_string_value(e) : "");
	}
}

/* The context every line of rec carries; side: the setup of this line
 * (rec's config, or one side of an A/B), kind "pp" or "tg". */
static void context(struct rv_line *l, const json_t *rec, const json_t *side,
		    const char *kind, const char *cfg_name)
{
	const json_t *m = json_object_get(rec, "model");
	char type[96];

	for (int c = 0; c < RV_NCOL; c++) {
		l->s[c][0] = '\0';
		l->v[c] = NAN;
	}
	set(l, RV_TIME, str(rec, "time"));
	set(l, RV_GIT_REV, str(json_object_get(rec, "tool"), "git_rev"));
	set(l, RV_CPU, str(json_object_get(json_object_get(rec, "env"), "machine"),
			   "brand"));
	set(l, RV_BACKEND, str(json_object_get(side, strcmp(kind, "pp") ?
			       "decode_kernels" : "prompt_kernels"), "matmul_q8"));
	set(l, RV_MODEL, str(m, "path"));
	type[0] = '\0';
	if (*str(m, "arch"))
		snprintf(type, sizeof type, "%s %.0fL %.0fd", str(m, "arch"),
			 num(m, "n_layer"), num(m, "n_embd"));
	set(l, RV_MODEL_TYPE, type);
	l->v[RV_MODEL_SIZE] = num(m, "size_bytes");
	l->v[RV_MODEL_PARAMS] = num(m, "n_params");
	set(l, RV_WEIGHTS, str(m, "weights"));
	set(l, RV_CONFIG, cfg_name ? cfg_name : str(side, "name"));
	l->v[RV_THREADS] = num(rec, "threads");
	set(l, RV_PIN, str(rec, "pin"));
}

/* The measured columns of a row (pp or tg). */
static void measured(struct rv_line *l, const json_t *row)
{
	const json_t *st = json_object_get(row, "stats");
	const char *kind = str(row, "kind");
	const double n = num(row, "n_tokens"), d = num(row, "n_depth");
	const int pp = !strcmp(kind, "pp");

	set(l, RV_TEST, str(row, "test"));
	set(l, RV_KIND, kind);
	if (json_is_number(json_object_get(row, "threads")))
		l->v[RV_THREADS] = num(row, "threads");
	l->v[RV_N_PROMPT] = pp ? n : 0;
	l->v[RV_N_GEN] = pp ? 0 : n;
	l->v[RV_N_DEPTH] = isnan(d) ? 0 : d;
	l->v[RV_N] = num(st, "n");
	l->v[RV_MEDIAN] = num(st, "median");
	l->v[RV_MAD] = num(st, "mad");
	l->v[RV_CI_LO] = num(st, "ci_lo");
	l->v[RV_CI_HI] = num(st, "ci_hi");
	l->v[RV_CV] = num(st, "cv");
	l->v[RV_TOK_S] = num(row, "tokens_per_s");
	l->v[RV_FLOOR] = num(row, "floor_ms");
	l->v[RV_PCT_FLOOR] = num(row, "pct_of_floor");
	set_list(l, RV_WARNINGS, json_object_get(row, "warnings"));
}

void rv_row(const json_t *rec, const json_t *row, rv_fn fn, void *ctx)
{
	struct rv_line l;

	context(&l, rec, json_object_get(rec, "config"), str(row, "kind"), NULL);
	measured(&l, row);
	fn(ctx, &l);
}

void rv_ab(const json_t *rec, const json_t *ab, rv_fn fn, void *ctx)
{
	const json_t *cfg = json_object_get(rec, "config");
	const int sig = json_is_true(json_object_get(ab, "significant"));
	const int prac = json_is_true(json_object_get(ab, "practical"));

	for (int b = 0; b < 2; b++) {
		const json_t *side = json_object_get(cfg, b ? "b" : "a");
		const json_t *row = json_object_get(ab, b ? "b" : "a");
		struct rv_line l;
		char name[160];

		snprintf(name, sizeof name, "%s=%s", b ? "B" : "A", str(side, "name"));
		context(&l, rec, side, str(row, "kind"), name);
		measured(&l, row);
		l.v[RV_THREADS] = num(ab, "threads");
		if (b) {	/* B's line: B/A */
			l.v[RV_RATIO] = num(ab, "ratio_b_over_a");
			l.v[RV_RATIO_LO] = num(ab, "ratio_ci_lo");
			l.v[RV_RATIO_HI] = num(ab, "ratio_ci_hi");
			l.v[RV_P] = num(ab, "mann_whitney_p");
			set(&l, RV_VERDICT, prac ? "different" : sig ?
			    "significant but < 1%" : "no difference");
		}
		fn(ctx, &l);
	}
}

/* The columns a profile's pass line and op lines share. */
static void prof_common(struct rv_line *l, const json_t *rec, const json_t *prof)
{
	const char *kind = str(prof, "kind");
	const double n = num(prof, "n_tokens"), d = num(prof, "n_depth");
	const int pp = !strcmp(kind, "pp");

	context(l, rec, json_object_get(rec, "config"), kind, NULL);
	set(l, RV_TEST, str(prof, "test"));
	set(l, RV_KIND, "profile");
	l->v[RV_THREADS] = num(prof, "threads");
	l->v[RV_N_PROMPT] = pp ? n : 0;
	l->v[RV_N_GEN] = pp ? 0 : n;
	l->v[RV_N_DEPTH] = isnan(d) ? 0 : d;
}

/* Which number of a JSON object goes into which column. */
struct num_key {
	enum rv_col col;
	const char *key;
};

static const struct num_key pass_keys[] = {
	{ RV_N, "passes" }, { RV_MEDIAN, "pass_ms" },
	{ RV_SHARE, "sum_of_ops_share" }, { RV_OVERHEAD, "overhead" },
	{ RV_OV_LO, "overhead_ci_lo" }, { RV_OV_HI, "overhead_ci_hi" },
	{ RV_ATTN_SHARE, "attention_share" }, { RV_NCOL, NULL }
};

static const struct num_key op_keys[] = {
	{ RV_CALLS, "calls_per_pass" }, { RV_MEDIAN, "ms_per_pass" },
	{ RV_SHARE, "share" }, { RV_GB_S, "gb_s" }, { RV_GMAC_S, "gmac_s" },
	{ RV_PCT_ROOF, "pct_of_roof" }, { RV_NCOL, NULL }
};

/* A profile line: the common columns, op's name, the numbers of o by
 * keys and o's warnings. */
static void prof_line(const json_t *rec, const json_t *prof, const char *op,
		      const json_t *o, const struct num_key *keys, rv_fn fn,
		      void *ctx)
{
	struct rv_line l;

	prof_common(&l, rec, prof);
	set(&l, RV_OP, op);
	for (; keys->key; keys++)
		l.v[keys->col] = num(o, keys->key);
	set_list(&l, RV_WARNINGS, json_object_get(o, "warnings"));
	fn(ctx, &l);
}

void rv_profile(const json_t *rec, const json_t *prof, rv_fn fn, void *ctx)
{
	size_t i;
	json_t *op;

	prof_line(rec, prof, "pass", prof, pass_keys, fn, ctx);
	json_array_foreach(json_object_get(prof, "ops"), i, op)
		prof_line(rec, prof, str(op, "op"), op, op_keys, fn, ctx);
}

void rv_record(const json_t *rec, rv_fn fn, void *ctx)
{
	size_t i;
	json_t *e;

	json_array_foreach(json_object_get(rec, "rows"), i, e)
		rv_row(rec, e, fn, ctx);
	json_array_foreach(json_object_get(rec, "ab"), i, e)
		rv_ab(rec, e, fn, ctx);
	json_array_foreach(json_object_get(rec, "profile"), i, e)
		rv_profile(rec, e, fn, ctx);
}

/* --- CSV ------------------------------------------------------------------ */

/* A field: quoted when it holds a comma, quote or newline. */
static void csv_str(FILE *out, const char *s)
{
	if (!strpbrk(s, ",\"\n\r")) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

void rv_csv_header(FILE *out)
{
	for (int c = 0; c < RV_NCOL; c++)
		fprintf(out, "%s%s", c ? "," : "", rv_names[c]);
	fputc('\n', out);
}

void rv_csv_line(FILE *out, const struct rv_line *l)
{
	for (int c = 0; c < RV_NCOL; c++) {
		if (c)
			fputc(',', out);
		if (rv_is_text((enum rv_col)c))
			csv_str(out, l->s[c]);
		else if (!isfinite(l->v[c]))
			continue;
		else if (is_count((enum rv_col)c))
			fprintf(out, "%.0f", l->v[c]);
		else
			fprintf(out, "%.6g", l->v[c]);
	}
	fputc('\n', out);
}

void rv_csv_fn(void *ctx, const struct rv_line *l)
{
	rv_csv_line(ctx, l);
}

/* --- the views for people --------------------------------------------------- */

/* A column of a view: its title, width (fixed-width view), and the
 * line's column it shows, or a composite of several. */
enum { VC_CI = RV_NCOL, VC_RATIO_CI, VC_OVERHEAD, VC_SIZE, VC_PARAMS };

struct vcol {
	const char *title;
	int width;
	int col;
};

static const struct vcol view_rows[] = {
	{ "model", 16, RV_MODEL_TYPE }, { "size", 10, VC_SIZE },
	{ "params", 9, VC_PARAMS }, { "backend", 20, RV_BACKEND },
	{ "threads", 7, RV_THREADS }, { "config", 12, RV_CONFIG },
	{ "test", 12, RV_TEST }, { "n", 4, RV_N }, { "median ms", 10, RV_MEDIAN },
	{ "MAD", 8, RV_MAD }, { "95% CI of median", 22, VC_CI },
	{ "t/s", 9, RV_TOK_S }, { "% of floor", 10, RV_PCT_FLOOR },
	{ "warnings", 0, RV_WARNINGS }, { NULL, 0, 0 }
};

static const struct vcol view_ab[] = {
	{ "model", 16, RV_MODEL_TYPE }, { "size", 10, VC_SIZE },
	{ "params", 9, VC_PARAMS }, { "backend", 20, RV_BACKEND },
	{ "threads", 7, RV_THREADS }, { "config", 14, RV_CONFIG },
	{ "test", 12, RV_TEST }, { "n", 4, RV_N }, { "median ms", 10, RV_MEDIAN },
	{ "MAD", 8, RV_MAD }, { "t/s", 9, RV_TOK_S }, { "B/A", 7, RV_RATIO },
	{ "95% CI of B/A", 18, VC_RATIO_CI }, { "p", 9, RV_P },
	{ "verdict", 20, RV_VERDICT }, { "warnings", 0, RV_WARNINGS },
	{ NULL, 0, 0 }
};

static const struct vcol view_profile[] = {
	{ "test", 12, RV_TEST }, { "threads", 7, RV_THREADS },
	{ "op", 15, RV_OP }, { "calls", 6, RV_CALLS }, { "ms/pass", 9, RV_MEDIAN },
	{ "share %", 7, RV_SHARE }, { "GB/s", 7, RV_GB_S },
	{ "GMAC/s", 7, RV_GMAC_S }, { "% roof", 7, RV_PCT_ROOF },
	{ "overhead % [95% CI]", 22, VC_OVERHEAD },
	{ "attention %", 11, RV_ATTN_SHARE }, { "warnings", 0, RV_WARNINGS },
	{ NULL, 0, 0 }
};

static const struct vcol *view_of(enum rv_set s)
{
	return s == RV_SET_AB ? view_ab : s == RV_SET_PROFILE ? view_profile :
	       view_rows;
}

/* The text of view column c of line l into buf ("" when empty). */
static void vcol_text(const struct rv_line *l, int c, char *buf, size_t cap)
{
	const double *v = l->v;

	*buf = '\0';
	if (c < RV_NCOL && rv_is_text((enum rv_col)c)) {
		snprintf(buf, cap, "%s", l->s[c]);
	} else if (c == VC_CI || c == VC_RATIO_CI) {
		const int lo = c == VC_CI ? RV_CI_LO : RV_RATIO_LO;
		if (isfinite(v[lo]))
			snprintf(buf, cap, c == VC_CI ? "[%.3f, %.3f]" : "[%.4f, %.4f]",
				 v[lo], v[lo + 1]);
	} else if (c == VC_OVERHEAD) {
		if (isfinite(v[RV_OVERHEAD]))
			snprintf(buf, cap, "%+.1f [%+.1f, %+.1f]", 100 * v[RV_OVERHEAD],
				 100 * v[RV_OV_LO], 100 * v[RV_OV_HI]);
	} else if (c == VC_SIZE || c == VC_PARAMS) {
		const double x = v[c == VC_SIZE ? RV_MODEL_SIZE : RV_MODEL_PARAMS];
		if (isfinite(x))
			snprintf(buf, cap, c == VC_SIZE ? "%.2f MiB" : "%.2f M",
				 c == VC_SIZE ? x / 1048576 : x / 1e6);
	} else if (isfinite(v[c])) {
		const int pct = c == RV_SHARE || c == RV_ATTN_SHARE;
		snprintf(buf, cap, is_count((enum rv_col)c) ? "%.0f" : c == RV_P ?
			 "%.3g" : c == RV_RATIO ? "%.4f" : pct || c == RV_PCT_FLOOR ||
			 c == RV_PCT_ROOF || c == RV_CALLS ? "%.1f" : "%.3f",
			 pct ? 100 * v[c] : v[c]);
	}
}

void rv_text_begin(struct rv_text *t, FILE *out, int md, enum rv_set set)
{
	*t = (struct rv_text){ .out = out, .md = md, .set = set };
}

static void text_cell(const struct rv_text *t, const struct vcol *c,
		      const char *s, int first)
{
	if (t->md)
		fprintf(t->out, "%s %s |", first ? "|" : "", s);
	else if (c->width)
		fprintf(t->out, "%s%-*s", first ? "" : " ", c->width, s);
	else
		fprintf(t->out, "%s%s", first ? "" : " ", s);
}

/* Appends what to the ", "-joined list buf (what does not fit is left
 * out whole). */
static void list_add(char *buf, size_t cap, const char *what)
{
	size_t at = strlen(buf);
	const size_t n = strlen(what);

	if (at + n + 3 > cap)
		return;
	if (at) {
		memcpy(buf + at, ", ", 2);
		at += 2;
	}
	memcpy(buf + at, what, n + 1);
}

/* Remembers a flagged line for the notes under the table. */
static void note(struct rv_text *t, const struct rv_line *l)
{
	char what[200];

	snprintf(what, sizeof what, "%.80s%s%.80s", l->s[RV_TEST],
		 l->s[RV_OP][0] ? " " : "", l->s[RV_OP]);
	const char *test = l->s[RV_TEST];
	if (strstr(l->s[RV_WARNINGS], "above_roof") ||
	    strstr(l->s[RV_WARNINGS], "above_floor"))
		list_add(t->above, sizeof t->above, what);
	if (strstr(l->s[RV_WARNINGS], "overhead_below_zero"))
		list_add(t->below, sizeof t->below, test);
}

void rv_text_fn(void *ctx, const struct rv_line *l)
{
	struct rv_text *t = ctx;
	const struct vcol *view = view_of(t->set);
	char buf[200];

	if (!t->lines++) {
		for (const struct vcol *c = view; c->title; c++)
			text_cell(t, c, c->title, c == view);
		fputc('\n', t->out);
		for (const struct vcol *c = view; t->md && c->title; c++)
			fputs(c == view ? "|---|" : "---|", t->out);
		if (t->md)
			fputc('\n', t->out);
	}
	for (const struct vcol *c = view; c->title; c++) {
		vcol_text(l, c->col, buf, sizeof buf);
		text_cell(t, c, *buf || t->md ? buf : "-", c == view);
	}
	fputc('\n', t->out);
	note(t, l);
}

void rv_text_end(struct rv_text *t)
{
	if (t->above[0])
		fprintf(t->out, "\nnote: faster than the roofline allows (over 100%% of "
			"roof or floor): %s. Nothing runs "
			"faster than its roof: the roofline is stale or was measured "
			"on a busy machine (./bench --roofline again), or the data "
			"came from cache, not memory (the roof is memory bandwidth; a "
			"model or KV cache that fits the cache beats it); not a "
			"fact about the code.\n", t->above);
	if (t->below[0])
		fprintf(t->out, "%snote: profiling overhead below zero beyond its "
			"95%% CI: %s. Profiling cannot speed a pass up: the plain "
			"samples were slowed by other load (noise).\n",
			t->above[0] ? "" : "\n", t->below);
	t->above[0] = t->below[0] = '\0';
	t->lines = 0;
}

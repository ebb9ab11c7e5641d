/* plotdata.c - turns q8tune's results/ JSON into gnuplot input for plots/.
 *
 * One subcommand per plot.  Each reads the results files it is given,
 * checks every field it uses, and writes one gnuplot script fragment
 * (variables, arrays and inline datablocks) that plots/<plot>.gp loads.
 * Standalone on purpose: C11, libc and jansson, no project headers; the
 * plots read what the tools wrote (docs/results-format.md and the
 * writers named there), not the tools' code.
 *
 *   plotdata roofline   ROOFLINE_JSON RUNS_JSONL             [-o OUT]
 *   plotdata profile    RUNS_JSONL                           [-o OUT]
 *   plotdata tune       TUNE_LOG_JSONL [BEST_CONFIG_JSON]    [-o OUT]
 *   plotdata regression PERF_REPORT_JSON                     [-o OUT]
 *   plotdata scaling    RUNS_JSONL                           [-o OUT]
 *   plotdata microbench MICROBENCH_JSON [ROOFLINE_JSON]      [-o OUT]
 *
 * The bracketed files are optional: a path that does not exist is taken
 * as absent (the plot then lacks what it would add), a file that exists
 * must be valid.
 *
 * Exit status: 0 written; 1 bad input (one line on stderr naming the
 * file, the line and the field); 2 usage; 3 the input is valid but holds
 * nothing this plot can show (one line saying what is missing and which
 * command makes it).  OUT is written only on success (temporary file in
 * the same folder, then rename); without -o the fragment goes to stdout.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "text.h"

enum { EXIT_BAD = 1, EXIT_USAGE = 2, EXIT_NODATA = 3 };

#define RUN_SCHEMA "q8tune-run"
#define LOG_SCHEMA "q8tune-tune-log"
#define ROOF_SCHEMA 1

/* The message of the failure being returned (main prints it). */
static char g_err[1024];
static const char *g_plot = "?";	/* the subcommand, for "skip" lines */

/* Where a value came from: the file, and the line of a JSON Lines file
 * (0 for a whole-file JSON document). */
struct src {
	const char *file;
	long line;
};

/* Records a failure; returns code.  Bad input: "FILE: line N: msg";
 * nothing to plot: "skip PLOT: FILE: msg". */
static int failf(int code, const struct src *s, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	text_oneline(msg);	/* it may quote the file (a parser's "near") */
	if (code == EXIT_NODATA)
		snprintf(g_err, sizeof g_err, "skip %s: %s: %s", g_plot, s->file, msg);
	else if (s->line > 0)
		snprintf(g_err, sizeof g_err, "%s: line %ld: %s", s->file, s->line, msg);
	else
		snprintf(g_err, sizeof g_err, "%s: %s", s->file, msg);
	return code;
}

/* --- checked field access ------------------------------------------------- */
/* Each getter reads obj[key] (path names obj in messages, "" for the
 * top level) and returns 0, or EXIT_BAD with the message set. */

static int bad_field(const struct src *s, const char *path, const char *key,
		     const json_t *v, const char *want)
{
	return failf(EXIT_BAD, s, "field %s%s%s: %s", path, *path ? "." : "", key,
		     v ? want : "missing");
}

static int get_num(const struct src *s, const json_t *obj, const char *path,
		   const char *key, double *out)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_number(v) || !isfinite(json_number_value(v)))
		return bad_field(s, path, key, v, "not a number");
	*out = json_number_value(v);
	return 0;
}

static int get_int(const struct src *s, const json_t *obj, const char *path,
		   const char *key, long *out)
{
	json_t *v = json_object_get(obj, key);
	double d = json_number_value(v);

	if (!json_is_number(v) || d != floor(d) || fabs(d) > 1e15)
		return bad_field(s, path, key, v, "not an integer");
	*out = (long)d;
	return 0;
}

static int get_str(const struct src *s, const json_t *obj, const char *path,
		   const char *key, const char **out)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_string(v))
		return bad_field(s, path, key, v, "not a string");
	*out = json_string_value(v);
	return 0;
}

static int get_bool(const struct src *s, const json_t *obj, const char *path,
		    const char *key, int *out)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_boolean(v))
		return bad_field(s, path, key, v, "not true or false");
	*out = json_is_true(v);
	return 0;
}

static int get_obj(const struct src *s, const json_t *obj, const char *path,
		   const char *key, json_t **out)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_object(v))
		return bad_field(s, path, key, v, "not an object");
	*out = v;
	return 0;
}

static int get_arr(const struct src *s, const json_t *obj, const char *path,
		   const char *key, json_t **out)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_array(v))
		return bad_field(s, path, key, v, "not an array");
	*out = v;
	return 0;
}

/* obj.a.b... as a string: the first missing or mistyped link is named. */
static int get_str2(const struct src *s, const json_t *obj, const char *a,
		    const char *b, const char **out)
{
	json_t *o = NULL;

	if (get_obj(s, obj, "", a, &o))
		return EXIT_BAD;
	return get_str(s, o, a, b, out);
}

/* --- input files ----------------------------------------------------------- */

/* 1 if path names an existing file, 0 if nothing is there. */
static int exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 || errno != ENOENT;
}

/* Loads a whole-file JSON object into *out (caller owns it). */
static int load_json(const char *path, json_t **out)
{
	const struct src s = { path, 0 };
	json_error_t je;
	struct stat st;

	*out = NULL;
	if (stat(path, &st) < 0)
		return failf(EXIT_BAD, &s, "%s", strerror(errno));
	if (st.st_size == 0)
		return failf(EXIT_BAD, &s, "empty file (no JSON)");
	*out = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!*out) {
		if (je.line > 0)
			return failf(EXIT_BAD, &s, "line %d, column %d: not valid JSON: %s",
				     je.line, je.column, je.text);
		return failf(EXIT_BAD, &s, "%s", je.text);
	}
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return failf(EXIT_BAD, &s, "not a JSON object at the top level");
	}
	return 0;
}

/* One record of a JSON Lines file. */
struct rec {
	json_t *j;
	long line;
};

struct jsonl {
	const char *file;
	struct rec *r;		/* in file order: later lines are newer */
	size_t n;
};

static void jsonl_free(struct jsonl *l)
{
	for (size_t i = 0; i < l->n; i++)
		json_decref(l->r[i].j);
	free(l->r);
	l->r = NULL;
	l->n = 0;
}

static int blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
			return 0;
	return 1;
}

/* Loads the records of a JSON Lines file whose "schema" is schema (and,
 * for version >= 0, whose "schema_version" is version).  Every complete
 * line must be a JSON object; lines of other schemas are skipped, as
 * docs/results-format.md asks of readers; so is a last line without
 * '\n' that is not JSON (a writer killed mid-line).  No record at all is
 * an error (an empty file, or a file of something else). */
static int jsonl_load(const char *path, const char *schema, long version,
		      struct jsonl *out)
{
	struct src s = { path, 0 };
	char *line = NULL;
	size_t cap = 0, nalloc = 0;
	long other = 0, torn = 0, lines = 0;
	ssize_t len;
	int rc = 0;
	FILE *f = fopen(path, "r");

	out->file = path;
	out->r = NULL;
	out->n = 0;
	if (!f)
		return failf(EXIT_BAD, &s, "%s", strerror(errno));
	while ((len = getline(&line, &cap, f)) > 0) {
		json_error_t je;
		json_t *j;
		const char *sc;

		s.line++;
		if (blank(line))
			continue;
		lines++;
		j = json_loads(line, JSON_REJECT_DUPLICATES, &je);
		if (!j) {
			if (line[len - 1] != '\n') {
				torn = s.line;
				continue;
			}
			rc = failf(EXIT_BAD, &s, "not valid JSON (column %d: %s)",
				   je.column, je.text);
			goto close;
		}
		if (!json_is_object(j)) {
			json_decref(j);
			rc = failf(EXIT_BAD, &s, "not a JSON object");
			goto close;
		}
		sc = json_string_value(json_object_get(j, "schema"));
		if (!sc || strcmp(sc, schema) ||
		    (version >= 0 && json_integer_value(json_object_get(
				j, "schema_version")) != version)) {
			json_decref(j);
			other++;
			continue;
		}
		if (out->n == nalloc) {
			nalloc = nalloc ? 2 * nalloc : 64;
			struct rec *r = realloc(out->r, nalloc * sizeof *r);
			if (!r) {
				json_decref(j);
				rc = failf(EXIT_BAD, &s, "out of memory");
				goto close;
			}
			out->r = r;
		}
		out->r[out->n++] = (struct rec){ j, s.line };
	}
	if (ferror(f)) {
		rc = failf(EXIT_BAD, &s, "read error: %s", strerror(errno));
		goto close;
	}
	s.line = 0;
	if (out->n == 0) {
		if (torn) {
			s.line = torn;
			rc = failf(EXIT_BAD, &s, "not valid JSON (and no complete record "
				   "before it)");
		} else if (!lines) {
			rc = failf(EXIT_BAD, &s, "empty file (no records)");
		} else {
			rc = failf(EXIT_BAD, &s, "no \"schema\": \"%s\"%s record (%ld "
				   "line%s of another schema)", schema,
				   version >= 0 ? " version 1" : "", other,
				   other == 1 ? "" : "s");
		}
	}
close:
	free(line);
	fclose(f);
	if (rc)
		jsonl_free(out);
	return rc;
}

/* --- output ---------------------------------------------------------------- */

/* A gnuplot double-quoted string literal (escapes \ and ", newline as \n). */
static void gp_str(FILE *o, const char *s)
{
	fputc('"', o);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(o, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", o);
		else if ((unsigned char)*s < 0x20)
			fputc(' ', o);
		else
			fputc(*s, o);
	}
	fputc('"', o);
}

/* name = "value" */
static void gp_var(FILE *o, const char *name, const char *value)
{
	fprintf(o, "%s = ", name);
	gp_str(o, value);
	fputc('\n', o);
}

/* A number in a datablock line, NaN for what is not finite. */
static void gp_num(FILE *o, double v)
{
	if (isfinite(v))
		fprintf(o, "%.6g ", v);
	else
		fputs("NaN ", o);
}

/* footnote = "text", and footnote_lines, for the margin below the plot */
static void gp_footnote(FILE *o, const char *text)
{
	int n = 1;

	for (const char *p = text; *p; p++)
		n += *p == '\n';
	gp_var(o, "footnote", text);
	fprintf(o, "footnote_lines = %d\n", n);
}

/* A field of a datablock line: a double-quoted gnuplot data string (no
 * escapes are read there, so quotes become ' and controls spaces; a
 * newline is written as the two characters \n, which xtic() shows as a
 * line break). */
static void gp_field(FILE *o, const char *s)
{
	fputc('"', o);
	for (; *s; s++) {
		if (*s == '"')
			fputc('\'', o);
		else if (*s == '\n')
			fputs("\\n", o);
		else if ((unsigned char)*s < 0x20)
			fputc(' ', o);
		else
			fputc(*s, o);
	}
	fputs("\" ", o);
}

/* array name[n] of strings; gnuplot arrays cannot be empty, so n = 0
 * writes one empty string (the count variables say how many are real). */
static void gp_str_array(FILE *o, const char *name, const char *const *v, size_t n)
{
	fprintf(o, "array %s[%zu] = [", name, n ? n : 1);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputs(", ", o);
		gp_str(o, v[i]);
	}
	if (!n)
		fputs("\"\"", o);
	fputs("]\n", o);
}

static void gp_num_array(FILE *o, const char *name, const double *v, size_t n)
{
	fprintf(o, "array %s[%zu] = [", name, n ? n : 1);
	for (size_t i = 0; i < n; i++)
		fprintf(o, "%s%.6g", i ? ", " : "", v[i]);
	if (!n)
		fputs("0", o);
	fputs("]\n", o);
}

static int cmp_dbl(const void *a, const void *b)
{
	const double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* A short form of a path for labels: its last component. */
static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s && s[1] ? s + 1 : p;
}

/* Appends to a fixed buffer (truncating). */
static void cat(char *buf, size_t cap, const char *fmt, ...)
{
	size_t n = strlen(buf);
	va_list ap;

	if (n + 1 >= cap)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + n, cap - n, fmt, ap);
	va_end(ap);
}

/* A small set of strings in first-seen order (pointers are borrowed). */
#define MAXSET 64
struct strset {
	const char *v[MAXSET];
	size_t n;
};

/* Index of s in the set, added if new; -1 if the set is full. */
static int set_add(struct strset *st, const char *s)
{
	for (size_t i = 0; i < st->n; i++)
		if (!strcmp(st->v[i], s))
			return (int)i;
	if (st->n == MAXSET)
		return -1;
	st->v[st->n] = s;
	return (int)st->n++;
}

/* "a, b, c" (and "+N more" past 3) of a set, for footnotes. */
static void set_join(const struct strset *st, char *buf, size_t cap)
{
	buf[0] = '\0';
	for (size_t i = 0; i < st->n && i < 3; i++)
		cat(buf, cap, "%s%s", i ? ", " : "", st->v[i]);
	if (st->n > 3)
		cat(buf, cap, " +%zu more", st->n - 3);
}

/* --- the run record (docs/results-format.md) ------------------------------- */

/* What a footnote says about a run. */
struct runinfo {
	const char *time, *rev, *brand, *cfg, *arch, *model_path, *hash;
	long layers, threads;
};

static int run_info(const struct src *s, const json_t *r, struct runinfo *ri)
{
	json_t *env, *mach, *model, *cfg;

	if (get_str(s, r, "", "time", &ri->time) ||
	    get_str2(s, r, "tool", "git_rev", &ri->rev) ||
	    get_obj(s, r, "", "env", &env) ||
	    get_obj(s, env, "env", "machine", &mach) ||
	    get_str(s, mach, "env.machine", "brand", &ri->brand) ||
	    get_obj(s, r, "", "config", &cfg) ||
	    get_str(s, cfg, "config", "name", &ri->cfg) ||
	    get_obj(s, r, "", "model", &model) ||
	    get_str(s, model, "model", "arch", &ri->arch) ||
	    get_str(s, model, "model", "path", &ri->model_path) ||
	    get_str(s, model, "model", "tensor_hash", &ri->hash) ||
	    get_int(s, model, "model", "n_layer", &ri->layers) ||
	    get_int(s, r, "", "threads", &ri->threads))
		return EXIT_BAD;
	if (ri->threads < 1)
		return failf(EXIT_BAD, s, "field threads: %ld, not >= 1", ri->threads);
	return 0;
}

/* The run's config label: "default", or "tuned (FILE)" for a config file. */
static int cfg_is_file(const char *name)
{
	return strcmp(name, "default") && strcmp(name, "scalar") &&
	       strcmp(name, "per_call") && strcmp(name, "ab");
}

static void cfg_label(const char *name, char *buf, size_t cap)
{
	if (cfg_is_file(name))
		snprintf(buf, cap, "tuned (%s)", base_name(name));
	else
		snprintf(buf, cap, "%s", name);
}

/* The variant of op in config.<phase>_kernels, or "?" when absent. */
static int cfg_kernel(const struct src *s, const json_t *r, const char *which,
		      const char *op, const char **out)
{
	json_t *cfg = NULL, *k = NULL, *v;

	*out = "?";
	if (get_obj(s, r, "", "config", &cfg) || get_obj(s, cfg, "config", which, &k))
		return EXIT_BAD;
	v = json_object_get(k, op);
	if (v && !json_is_string(v))
		return failf(EXIT_BAD, s, "field config.%s.%s: not a string", which, op);
	*out = v ? json_string_value(v) : "?";
	return 0;
}

/* The threads a phase ran with: config.<phase>_threads, 0 = the run's. */
static int cfg_threads(const struct src *s, const json_t *r, const char *key,
		       long run_threads, long *out)
{
	json_t *cfg = NULL;
	long t = 0;

	if (get_obj(s, r, "", "config", &cfg) || get_int(s, cfg, "config", key, &t))
		return EXIT_BAD;
	*out = t > 0 ? t : run_threads;
	return 0;
}

/* --- roofline.json (harness/roofline.c) ------------------------------------ */

#define MAXISA 8
struct roof {
	const char *key, *cpu, *measured_at;
	long max_threads;
	double bw;			/* GB/s at the threads asked for */
	const char *isa[MAXISA];	/* available ISAs, file order */
	double peak[MAXISA];		/* GMAC/s at those threads */
	size_t n_isa;
	long at_threads;		/* the threads the values are for */
};

/* Reads machine entry `key` of roofline.json at `threads` threads (the
 * largest measured if fewer).  Values are the best of the measured runs
 * ("best"), as bench's floors use. */
static int roof_entry(const struct src *s, const json_t *machines, const char *key,
		      long threads, struct roof *rf)
{
	char path[256];
	json_t *e = json_object_get(machines, key), *th, *bw, *bwb, *g;
	const char *isa;
	json_t *v;

	snprintf(path, sizeof path, "machines.%s", key);
	if (!json_is_object(e))
		return failf(EXIT_BAD, s, "field %s: not an object", path);
	rf->key = key;
	if (get_str(s, e, path, "cpu", &rf->cpu) ||
	    get_str(s, e, path, "measured_at", &rf->measured_at) ||
	    get_arr(s, e, path, "threads", &th) ||
	    get_obj(s, e, path, "bandwidth_gbs", &bw) ||
	    get_obj(s, e, path, "int8_gmacs", &g))
		return EXIT_BAD;
	rf->max_threads = (long)json_array_size(th);
	if (rf->max_threads < 1)
		return failf(EXIT_BAD, s, "field %s.threads: empty", path);
	rf->at_threads = threads < rf->max_threads ? threads : rf->max_threads;
	const size_t ti = (size_t)rf->at_threads - 1;
	cat(path, sizeof path, ".bandwidth_gbs");
	if (get_arr(s, bw, path, "best", &bwb))
		return EXIT_BAD;
	if (!json_is_number(json_array_get(bwb, ti)) ||
	    json_number_value(json_array_get(bwb, ti)) <= 0)
		return failf(EXIT_BAD, s, "field %s.best[%zu]: missing or not a "
			     "positive number", path, ti);
	rf->bw = json_number_value(json_array_get(bwb, ti));
	snprintf(path, sizeof path, "machines.%s.int8_gmacs", key);
	rf->n_isa = 0;
	json_object_foreach(g, isa, v) {
		char p2[300];
		json_t *best;

		snprintf(p2, sizeof p2, "%s.%s", path, isa);
		if (!json_is_object(v))
			return failf(EXIT_BAD, s, "field %s: not an object", p2);
		if (json_is_false(json_object_get(v, "available")))
			continue;	/* this CPU lacks the ISA */
		if (get_arr(s, v, p2, "best", &best))
			return EXIT_BAD;
		if (!json_is_number(json_array_get(best, ti)) ||
		    json_number_value(json_array_get(best, ti)) <= 0)
			return failf(EXIT_BAD, s, "field %s.best[%zu]: missing or not "
				     "a positive number", p2, ti);
		if (rf->n_isa < MAXISA) {
			rf->isa[rf->n_isa] = isa;
			rf->peak[rf->n_isa++] = json_number_value(json_array_get(best, ti));
		}
	}
	if (!rf->n_isa)
		return failf(EXIT_BAD, s, "field %s: no available ISA", path);
	return 0;
}

/* Loads roofline.json and picks the entry of a machine: `key` when the
 * file has it, else the newest entry whose "cpu" is `brand` (NULL: any).
 * *root is the caller's.  EXIT_NODATA when no entry fits. */
static int roof_load(const char *path, const char *key, const char *brand,
		     long threads, json_t **root, struct roof *rf)
{
	const struct src s = { path, 0 };
	json_t *sc, *machines, *e;
	const char *k, *pick = NULL, *pick_at = "";

	if (load_json(path, root))
		return EXIT_BAD;
	sc = json_object_get(*root, "schema");
	if (!json_is_integer(sc) || json_integer_value(sc) != ROOF_SCHEMA)
		return failf(EXIT_BAD, &s, "field schema: %s (wants %d: a roofline "
			     "file of ./bench --roofline)", sc ? "not 1" : "missing",
			     ROOF_SCHEMA);
	if (get_obj(&s, *root, "", "machines", &machines))
		return EXIT_BAD;
	if (key && json_object_get(machines, key))
		return roof_entry(&s, machines, key, threads, rf);
	json_object_foreach(machines, k, e) {
		const char *cpu = json_string_value(json_object_get(e, "cpu"));
		const char *at = json_string_value(json_object_get(e, "measured_at"));

		if (!brand || (cpu && !strcmp(cpu, brand))) {
			if (!pick || (at && strcmp(at, pick_at) > 0)) {
				pick = k;
				pick_at = at ? at : "";
			}
		}
	}
	if (!pick)
		return failf(EXIT_NODATA, &s, "no entry for this machine (%s): run "
			     "./bench --roofline on it", brand ? brand : "any");
	return roof_entry(&s, machines, pick, threads, rf);
}

/* --- 1. roofline ------------------------------------------------------------ */

/* The newest record of l that has a non-empty "profile" array, or NULL. */
static const struct rec *latest_profile(const struct jsonl *l, int *rc)
{
	*rc = 0;
	for (size_t i = l->n; i-- > 0;) {
		json_t *p = json_object_get(l->r[i].j, "profile");
		if (!p)
			continue;
		if (!json_is_array(p)) {
			const struct src s = { l->file, l->r[i].line };
			*rc = failf(EXIT_BAD, &s, "field profile: not an array");
			return NULL;
		}
		if (json_array_size(p))
			return &l->r[i];
	}
	return NULL;
}

/* One op row of a profile entry, checked. */
struct oprow {
	const char *op;
	double ms, bytes, macs, gmacs;
	int int8;
};

static int op_row(const struct src *s, const json_t *ops, size_t k,
		  const char *where, struct oprow *o)
{
	char path[96];
	json_t *e = json_array_get(ops, k);

	snprintf(path, sizeof path, "%s.ops[%zu]", where, k);
	if (!json_is_object(e))
		return failf(EXIT_BAD, s, "field %s: not an object", path);
	if (get_str(s, e, path, "op", &o->op) ||
	    get_num(s, e, path, "ms_per_pass", &o->ms) ||
	    get_num(s, e, path, "bytes_per_pass", &o->bytes) ||
	    get_num(s, e, path, "macs_per_pass", &o->macs) ||
	    get_num(s, e, path, "gmac_s", &o->gmacs) ||
	    get_bool(s, e, path, "int8", &o->int8))
		return EXIT_BAD;
	return 0;
}

/* The profile entry of kind ("pp" or "tg") of a record, or NULL. */
static int profile_entry(const struct src *s, const json_t *r, const char *kind,
			 json_t **entry, const char **test, size_t *index)
{
	json_t *p = json_object_get(r, "profile");

	*entry = NULL;
	for (size_t i = 0; i < json_array_size(p); i++) {
		char path[32];
		json_t *e = json_array_get(p, i), *ops;
		const char *t;

		snprintf(path, sizeof path, "profile[%zu]", i);
		if (!json_is_object(e))
			return failf(EXIT_BAD, s, "field %s: not an object", path);
		if (get_str(s, e, path, "test", &t) || get_arr(s, e, path, "ops", &ops))
			return EXIT_BAD;
		if (!strncmp(t, kind, 2) && !*entry) {
			*entry = e;
			*test = t;
			*index = i;
		}
	}
	return 0;
}

/* The ops of a profile placed on the roofline: one series per (op, phase). */
struct rpoints {
	struct strset ops;
	char name[MAXSET][64];		/* key title of each op */
	int op[2 * MAXSET], ph[2 * MAXSET];	/* per series: op index, phase */
	int n;
	const char *test[2];		/* pp and tg test names */
	double xmin, xmax, ymin;
};

/* Writes $ops (one index per series: intensity, GMAC/s) for the ops of
 * run r that have MACs and a time. */
static int roofline_points(FILE *o, const struct src *s, const json_t *r,
			   struct rpoints *P)
{
	int rc;

	fputs("$ops << EOD\n", o);
	for (int ph = 0; ph < 2; ph++) {
		json_t *e, *arr;
		char where[32];
		size_t pi;
		if ((rc = profile_entry(s, r, ph ? "tg" : "pp", &e, &P->test[ph], &pi)))
			return rc;
		if (!e)
			continue;
		arr = json_object_get(e, "ops");
		snprintf(where, sizeof where, "profile[%zu]", pi);
		for (size_t k = 0; k < json_array_size(arr); k++) {
			struct oprow w;
			int oi;
			if ((rc = op_row(s, arr, k, where, &w)))
				return rc;
			if (w.macs <= 0 || w.bytes <= 0 || w.gmacs <= 0 || w.ms <= 0)
				continue;	/* no place on MAC axes */
			if ((oi = set_add(&P->ops, w.op)) < 0 || P->n == 2 * MAXSET)
				continue;
			snprintf(P->name[oi], sizeof P->name[oi], "%.40s%s", w.op,
				 w.int8 ? "" : " (float MACs)");
			const double x = w.macs / w.bytes;
			fprintf(o, "%.6g %.6g\n\n\n", x, w.gmacs);
			P->op[P->n] = oi + 1;
			P->ph[P->n++] = ph;
			P->xmin = fmin(P->xmin, x);
			P->xmax = fmax(P->xmax, x);
			P->ymin = fmin(P->ymin, w.gmacs);
		}
	}
	fputs("EOD\n", o);
	/* per series: op (colour), phase (symbol), key title (the op's first
	 * series names it) */
	fprintf(o, "n_ser = %d\narray ser_op[%d]\narray ser_phase[%d]\n"
		"array ser_title[%d]\n", P->n, P->n, P->n, P->n);
	for (int i = 0; i < P->n; i++) {
		int first = 1;
		for (int j = 0; j < i; j++)
			first &= P->op[j] != P->op[i];
		fprintf(o, "ser_op[%d] = %d; ser_phase[%d] = %d; ser_title[%d] = ", i + 1,
			P->op[i], i + 1, P->ph[i], i + 1);
		gp_str(o, first ? P->name[P->op[i] - 1] : "");
		fputc('\n', o);
	}
	return 0;
}

/* The roofs (bandwidth, peaks), the axes' ranges, title and footnote. */
static void roofline_text(FILE *o, const struct roof *rf, const struct rpoints *P,
			  const struct runinfo *ri)
{
	double top = 0, xmin = P->xmin, xmax = P->xmax, ymin = P->ymin;
	char buf[1024];

	/* the diagonal up to the highest peak; each peak from its knee */
	for (size_t i = 0; i < rf->n_isa; i++) {
		top = fmax(top, rf->peak[i]);
		ymin = fmin(ymin, rf->peak[i]);
		xmin = fmin(xmin, rf->peak[i] / rf->bw);
	}
	xmax = fmax(xmax, top / rf->bw);
	fprintf(o, "bw = %.6g\nn_isa = %zu\n", rf->bw, rf->n_isa);
	gp_str_array(o, "isa_name", rf->isa, rf->n_isa);
	gp_num_array(o, "isa_peak", rf->peak, rf->n_isa);
	fprintf(o, "xmin = %.6g\nxmax = %.6g\nymin = %.6g\nymax = %.6g\n",
		pow(10, floor(log10(xmin / 2))), pow(10, ceil(log10(xmax * 3))),
		pow(10, floor(log10(ymin / 2))), pow(10, ceil(log10(top * 2))));
	gp_var(o, "pp_test", P->test[0]);
	gp_var(o, "tg_test", P->test[1]);
	snprintf(buf, sizeof buf, "Roofline at %ld thread%s: the ops of the latest "
		 "./bench --profile run (%s%s%s)", rf->at_threads,
		 rf->at_threads == 1 ? "" : "s", P->test[0],
		 *P->test[0] && *P->test[1] ? ", " : "", P->test[1]);
	gp_var(o, "title", buf);
	snprintf(buf, sizeof buf, "%s | rev %s | run %s, config %s, %ld thread%s | "
		 "%s %ld layers (%s)\nroofline measured %s (best of its runs, at %ld "
		 "thread%s%s) | ops without MACs (norms, quantize, rope, softmax, glu, "
		 "...) have no place here", ri->brand, ri->rev, ri->time, ri->cfg,
		 ri->threads, ri->threads == 1 ? "" : "s", ri->arch, ri->layers,
		 base_name(ri->model_path), rf->measured_at, rf->at_threads,
		 rf->at_threads == 1 ? "" : "s",
		 rf->at_threads < ri->threads ? ", the most it has" : "");
	gp_footnote(o, buf);
}

static int cmd_roofline(const char *roof_path, const char *runs_path, FILE *o)
{
	static struct rpoints P;
	struct jsonl L = { 0 };
	json_t *root = NULL, *rl;
	struct runinfo ri;
	struct roof rf;
	const char *key = NULL;
	const struct rec *r;
	int rc;

	if ((rc = jsonl_load(runs_path, RUN_SCHEMA, 1, &L)))
		return rc;
	if (!(r = latest_profile(&L, &rc))) {
		if (!rc)
			rc = failf(EXIT_NODATA, &(struct src){ runs_path, 0 }, "no run "
				   "with a profile (./bench --model M --profile makes one)");
		goto out;
	}
	const struct src s = { runs_path, r->line };
	if ((rc = run_info(&s, r->j, &ri)))
		goto out;
	/* the roofline the run used names its machine entry */
	if ((rl = json_object_get(r->j, "roofline"))) {
		if (!json_is_object(rl)) {
			rc = failf(EXIT_BAD, &s, "field roofline: not an object");
			goto out;
		}
		if ((rc = get_str(&s, rl, "roofline", "key", &key)))
			goto out;
	}
	if ((rc = roof_load(roof_path, key, ri.brand, ri.threads, &root, &rf)))
		goto out;
	memset(&P, 0, sizeof P);
	P.test[0] = P.test[1] = "";
	P.xmin = P.ymin = INFINITY;
	if ((rc = roofline_points(o, &s, r->j, &P)))
		goto out;
	if (!P.n) {
		rc = failf(EXIT_NODATA, &s, "the profile has no op with MACs to place");
		goto out;
	}
	roofline_text(o, &rf, &P, &ri);
out:
	json_decref(root);
	jsonl_free(&L);
	return rc;
}

/* --- 2. per-op profile ------------------------------------------------------ */

#define MAXOPS 32

/* One bar: a side's profile entry of one phase. */
struct bar {
	const char *test;
	double pass_ms, ms[MAXOPS];	/* by op index of the op set */
	int present;
};

static int profile_bars(const struct src *s, const json_t *r, struct strset *ops,
			struct bar bars[2])
{
	for (int ph = 0; ph < 2; ph++) {
		json_t *e, *arr;
		size_t pi;
		char where[32];
		int rc;

		memset(&bars[ph], 0, sizeof bars[ph]);
		if ((rc = profile_entry(s, r, ph ? "tg" : "pp", &e, &bars[ph].test, &pi)))
			return rc;
		if (!e)
			continue;
		snprintf(where, sizeof where, "profile[%zu]", pi);
		if ((rc = get_num(s, e, where, "pass_ms", &bars[ph].pass_ms)))
			return rc;
		bars[ph].present = 1;
		arr = json_object_get(e, "ops");
		for (size_t k = 0; k < json_array_size(arr); k++) {
			struct oprow w;
			if ((rc = op_row(s, arr, k, where, &w)))
				return rc;
			int oi = set_add(ops, w.op);
			if (oi < 0 || oi >= MAXOPS)
				return failf(EXIT_BAD, s, "field %s.ops: more than %d ops",
					     where, MAXOPS);
			bars[ph].ms[oi] += w.ms;
		}
	}
	return 0;
}

/* Same model and sizes: the two runs' bars are comparable. */
static int same_shape(const json_t *a, const json_t *b)
{
	const json_t *ma = json_object_get(a, "model"), *mb = json_object_get(b, "model");
	const json_t *sa = json_object_get(a, "spec"), *sb = json_object_get(b, "spec");

	return json_equal(json_object_get(ma, "tensor_hash"),
			  json_object_get(mb, "tensor_hash")) &&
	       json_equal(json_object_get(sa, "n_prompt"), json_object_get(sb, "n_prompt")) &&
	       json_equal(json_object_get(sa, "n_gen"), json_object_get(sb, "n_gen"));
}

/* The ops whose variant differs between two runs' configs, for a label. */
static int kernel_diff(const struct src *sa, const json_t *a, const struct src *sb,
		       const json_t *b, char *buf, size_t cap)
{
	static const char *const which[2] = { "prompt_kernels", "decode_kernels" };
	static const char *const tkey[2] = { "prompt_threads", "decode_threads" };
	int any = 0, rc;

	buf[0] = '\0';
	for (int ph = 0; ph < 2; ph++) {
		json_t *ka, *kb, *v, *ca, *cb;
		const char *op;
		long ta, tb, na, nb;

		if ((rc = get_obj(sa, a, "", "config", &ca)) ||
		    (rc = get_obj(sb, b, "", "config", &cb)) ||
		    (rc = get_obj(sa, ca, "config", which[ph], &ka)) ||
		    (rc = get_obj(sb, cb, "config", which[ph], &kb)) ||
		    (rc = get_int(sa, a, "", "threads", &na)) ||
		    (rc = get_int(sb, b, "", "threads", &nb)) ||
		    (rc = cfg_threads(sa, a, tkey[ph], na, &ta)) ||
		    (rc = cfg_threads(sb, b, tkey[ph], nb, &tb)))
			return rc;
		json_object_foreach(kb, op, v) {
			const json_t *va = json_object_get(ka, op);
			if (!json_equal(va, v)) {
				cat(buf, cap, "%s%s %s %s -> %s", any ? "; " : "",
				    ph ? "decode" : "prompt", op,
				    json_is_string(va) ? json_string_value(va) : "?",
				    json_is_string(v) ? json_string_value(v) : "?");
				any = 1;
			}
		}
		if (ta != tb) {
			cat(buf, cap, "%s%s threads %ld -> %ld", any ? "; " : "",
			    ph ? "decode" : "prompt", ta, tb);
			any = 1;
		}
	}
	if (!any)
		snprintf(buf, cap, "none: the tuned config runs the default kernels "
			 "and threads");
	return 0;
}

/* One side of the plot: a run with a profile, its bars and label. */
struct side {
	const struct rec *r;	/* NULL: absent */
	struct src s;
	struct runinfo ri;
	struct bar bar[2];	/* [phase] */
	char lab[160];		/* under its bars */
};

/* The newest tuned (--config) profile in side[1], and in side[0] the
 * newest default one of the same model and sizes (else the newest
 * default, alone); with neither, the newest profile of any config. */
static void profile_pick(const struct jsonl *L, const struct rec *any,
			 struct side side[2])
{
	for (int want = 1; want >= 0; want--) {
		for (size_t i = L->n; i-- > 0 && !side[want].r;) {
			json_t *j = L->r[i].j;
			const char *name = json_string_value(json_object_get(
				json_object_get(j, "config"), "name"));
			if (!json_array_size(json_object_get(j, "profile")) || !name)
				continue;
			if (want ? cfg_is_file(name) :
			    !strcmp(name, "default") &&
			    (!side[1].r || same_shape(j, side[1].r->j)))
				side[want].r = &L->r[i];
		}
	}
	if (!side[0].r && !side[1].r)
		side[0].r = any;	/* e.g. only scalar or per_call profiles */
}

/* Ops under 2% of every bar they are in share one "other" column: big[]
 * marks the others.  Writes the column names; returns their count. */
static size_t profile_columns(FILE *o, const struct strset *ops,
			      const struct side side[2], int big[MAXOPS], int *nother)
{
	const char *cols[MAXOPS + 1];
	char other[64];
	size_t ncol = 0;

	*nother = 0;
	for (size_t oi = 0; oi < ops->n; oi++) {
		big[oi] = 0;
		for (int k = 0; k < 2; k++)
			for (int ph = 0; ph < 2; ph++)
				big[oi] |= side[k].r && side[k].bar[ph].present &&
					   side[k].bar[ph].ms[oi] >= 0.02 * side[k].bar[ph].pass_ms;
		if (big[oi])
			cols[ncol++] = ops->v[oi];
		*nother += !big[oi];
	}
	if (*nother) {
		snprintf(other, sizeof other, "other %d ops (each < 2%%)", *nother);
		cols[ncol++] = other;
	}
	fprintf(o, "n_col = %zu\nhas_other = %d\n", ncol, *nother > 0);
	gp_str_array(o, "col_name", cols, ncol);
	return ncol;
}

/* Phase ph: $pp or $tg (a row per side: label, ms per column), the totals
 * above the bars ($pp_totals: bar index, ms, label), the highest bar
 * (pp_max) and how many bars (has_pp); *test is the phase's test name. */
static void profile_phase(FILE *o, int ph, const struct side side[2],
			  const struct strset *ops, const int big[MAXOPS], int nother,
			  size_t ncol, const char **test)
{
	const char *name = ph ? "tg" : "pp";
	double total[2] = { 0, 0 }, top = 0;
	int has = 0;

	fprintf(o, "$%s << EOD\n", name);
	for (int k = 0; k < 2; k++) {
		const struct bar *b = &side[k].bar[ph];
		double other = 0;
		if (!side[k].r || !b->present)
			continue;
		has++;
		*test = b->test;
		gp_field(o, side[k].lab);
		for (size_t oi = 0; oi < ops->n; oi++) {
			if (big[oi])
				fprintf(o, "%.6g ", b->ms[oi]);
			else
				other += b->ms[oi];
			total[k] += b->ms[oi];
		}
		if (nother)
			fprintf(o, "%.6g", other);
		fputc('\n', o);
		top = fmax(top, fmax(total[k], b->pass_ms));
	}
	if (!has) {	/* no such phase: one blank row, not drawn */
		fputs("\"\"", o);
		for (size_t c = 0; c < ncol; c++)
			fputs(" NaN", o);
		fputc('\n', o);
	}
	fprintf(o, "EOD\n$%s_totals << EOD\n", name);
	for (int k = 0, i = 0; k < 2; k++)
		if (side[k].r && side[k].bar[ph].present)
			fprintf(o, "%d %.6g \"ops %.3g ms\\npass %.3g ms\"\n", i++, total[k],
				total[k], side[k].bar[ph].pass_ms);
	if (!has)
		fputs("NaN NaN \"\"\n", o);
	fprintf(o, "EOD\n%s_max = %.6g\nhas_%s = %d\n", name, top > 0 ? top : 1, name, has);
}

/* The title and the footnote: machine, revisions, runs, and what the
 * tuned config changes. */
static void profile_text(FILE *o, const struct side side[2], const char *diff)
{
	const struct runinfo *r0 = side[0].r ? &side[0].ri : &side[1].ri;
	char buf[1400];

	snprintf(buf, sizeof buf, "Per-op profile: ms of each op in one forward pass, %s",
		 side[0].r && side[1].r ? "default vs tuned config" :
		 side[1].r ? "tuned config only (no default run of the same model "
		 "and sizes)" : !strcmp(r0->cfg, "default") ? "default config only "
		 "(no --config run with a profile)" : r0->cfg);
	gp_var(o, "title", buf);
	snprintf(buf, sizeof buf, "%s | rev %s | %s %ld layers (%s)", r0->brand, r0->rev,
		 r0->arch, r0->layers, base_name(r0->model_path));
	for (int k = 0; k < 2; k++)
		if (side[k].r)
			cat(buf, sizeof buf, "\n%s: run %s, rev %s, %ld thread%s, config %s",
			    k ? "tuned" : side[k].ri.cfg, side[k].ri.time, side[k].ri.rev,
			    side[k].ri.threads, side[k].ri.threads == 1 ? "" : "s",
			    side[k].ri.cfg);
	if (*diff)
		cat(buf, sizeof buf, "\ntuned differs from default in: %s", diff);
	gp_footnote(o, buf);
}

static int cmd_profile(const char *runs_path, FILE *o)
{
	static struct side side[2];
	struct jsonl L = { 0 };
	const struct rec *any;
	struct strset ops = { .n = 0 };
	const char *test[2] = { "", "" };
	char diff[600] = "";
	int rc, big[MAXOPS], nother;

	if ((rc = jsonl_load(runs_path, RUN_SCHEMA, 1, &L)))
		return rc;
	if (!(any = latest_profile(&L, &rc))) {
		if (!rc)
			rc = failf(EXIT_NODATA, &(struct src){ runs_path, 0 },
				   "no run with a profile (./bench --model M --profile "
				   "[--config results/best-config.json] makes one)");
		goto out;
	}
	memset(side, 0, sizeof side);
	profile_pick(&L, any, side);
	for (int k = 0; k < 2; k++) {
		struct side *sd = &side[k];
		if (!sd->r)
			continue;
		sd->s = (struct src){ runs_path, sd->r->line };
		if ((rc = run_info(&sd->s, sd->r->j, &sd->ri)) ||
		    (rc = profile_bars(&sd->s, sd->r->j, &ops, sd->bar)))
			goto out;
		/* two lines under the bars: "tuned" and the file */
		if (cfg_is_file(sd->ri.cfg))
			snprintf(sd->lab, sizeof sd->lab, "tuned\n%s", base_name(sd->ri.cfg));
		else
			snprintf(sd->lab, sizeof sd->lab, "%s", sd->ri.cfg);
	}
	if (side[0].r && side[1].r &&
	    (rc = kernel_diff(&side[0].s, side[0].r->j, &side[1].s, side[1].r->j, diff,
			      sizeof diff)))
		goto out;
	const size_t ncol = profile_columns(o, &ops, side, big, &nother);
	for (int ph = 0; ph < 2; ph++)
		profile_phase(o, ph, side, &ops, big, nother, ncol, &test[ph]);
	gp_var(o, "pp_test", test[0]);
	gp_var(o, "tg_test", test[1]);
	profile_text(o, side, diff);
	rc = 0;
out:
	jsonl_free(&L);
	return rc;
}

/* --- 3. tuning decisions ---------------------------------------------------- */

enum kind { K_INCUMBENT, K_KEEP, K_WIN, K_REJECTED, K_CRASHED, K_HUNG, K_N };
static const char *const kind_name[K_N] = {
	"incumbent", "keep", "win", "rejected", "crashed", "hung"
};

/* One row of a phase panel. */
struct trow {
	const char *op, *name;	/* op; candidate (or incumbent) variant */
	const char *reason;
	enum kind kind;
	double t, lo, hi;	/* the op's in-situ time (whole pass for threads) */
	double inc;		/* the incumbent's, in the same comparison */
	int winner;
};

#define MAXROWS 128

/* The rows of both phase panels. */
struct tune_rows {
	struct trow r[2][MAXROWS];	/* [phase] */
	size_t n[2];
};

static const char *const tune_phases[2] = { "prompt", "decode" };

/* Reads log line j into *w and its phase *p; *inc is its incumbent.
 * Returns 0, EXIT_BAD, or -1 for a line with no candidate timing
 * (skipped, final). */
static int tune_line(const struct src *s, const json_t *j, struct trow *w, int *p,
		     const char **inc)
{
	const char *ph, *verdict;
	int rc;

	memset(w, 0, sizeof *w);
	if ((rc = get_str(s, j, "", "phase", &ph)) ||
	    (rc = get_str(s, j, "", "op", &w->op)) ||
	    (rc = get_str(s, j, "", "incumbent", inc)) ||
	    (rc = get_str(s, j, "", "candidate", &w->name)) ||
	    (rc = get_str(s, j, "", "verdict", &verdict)))
		return rc;
	if (strcmp(ph, "prompt") && strcmp(ph, "decode"))
		return failf(EXIT_BAD, s, "field phase: \"%s\", not prompt or decode", ph);
	*p = !strcmp(ph, "decode");
	w->reason = "";
	if (!strcmp(verdict, "keep") || !strcmp(verdict, "win")) {
		/* an op is timed by its own rows; threads by the whole pass */
		const int th = !strcmp(w->op, "threads");
		const char *ka = th ? "ms_a" : "op_a", *kb = th ? "ms_b" : "op_b";
		double a, b, lo, hi;
		if ((rc = get_num(s, j, "", ka, &a)) || (rc = get_num(s, j, "", kb, &b)) ||
		    (rc = get_num(s, j, "", th ? "lo" : "op_lo", &lo)) ||
		    (rc = get_num(s, j, "", th ? "hi" : "op_hi", &hi)))
			return rc;
		if (a <= 0 || b <= 0)
			return failf(EXIT_BAD, s, "field %s: not a positive time",
				     a <= 0 ? ka : kb);
		w->kind = verdict[0] == 'w' ? K_WIN : K_KEEP;
		w->inc = a;
		w->t = b;
		/* the CI of the ratio b/a, in ms of that comparison's incumbent */
		w->lo = a * lo;
		w->hi = a * hi;
		return 0;
	}
	if (!strcmp(verdict, "rejected"))
		w->kind = K_REJECTED;
	else if (!strcmp(verdict, "crashed"))
		w->kind = K_CRASHED;
	else if (!strcmp(verdict, "hung"))
		w->kind = K_HUNG;
	else
		return -1;
	/* shown in place of a time */
	return get_str(s, j, "", "reason", &w->reason);
}

/* Puts w into phase p (replacing an older row of the same candidate),
 * and a row for its incumbent if the phase has none for it yet. */
static int tune_put(const struct src *s, struct tune_rows *T, int p,
		    const struct trow *w, const char *inc)
{
	struct trow *r = T->r[p];
	size_t k, m;

	for (k = 0; k < T->n[p]; k++)
		if (!strcmp(r[k].op, w->op) && !strcmp(r[k].name, w->name) &&
		    r[k].kind != K_INCUMBENT)
			break;
	if (k == MAXROWS)
		return failf(EXIT_BAD, s, "more than %d candidates in phase %s",
			     MAXROWS, tune_phases[p]);
	r[k] = *w;
	T->n[p] += k == T->n[p];
	for (m = 0; m < T->n[p]; m++)
		if (!strcmp(r[m].op, w->op) && !strcmp(r[m].name, inc))
			return 0;
	if (T->n[p] < MAXROWS)
		r[T->n[p]++] = (struct trow){ .op = w->op, .name = inc,
					      .kind = K_INCUMBENT, .reason = "" };
	return 0;
}

/* Drops incumbent rows of variants that were candidates later (after a
 * win): their candidate row stands for them. */
static void tune_dedupe(struct tune_rows *T)
{
	for (int p = 0; p < 2; p++) {
		struct trow *r = T->r[p];
		size_t m = 0;
		for (size_t k = 0; k < T->n[p]; k++) {
			int dup = 0;
			for (size_t i = 0; i < T->n[p] && r[k].kind == K_INCUMBENT; i++)
				dup |= r[i].kind != K_INCUMBENT && !strcmp(r[i].op, r[k].op) &&
				       !strcmp(r[i].name, r[k].name);
			if (!dup)
				r[m++] = r[k];
		}
		T->n[p] = m;
	}
}

/* 1 if log line j is of phase p and op (fields checked by tune_line). */
static int tune_is(const json_t *j, int p, const char *op)
{
	return !strcmp(json_string_value(json_object_get(j, "phase")), tune_phases[p]) &&
	       !strcmp(json_string_value(json_object_get(j, "op")), op);
}

/* An incumbent row: the median and range of the incumbent's medians over
 * the comparisons it was in. */
static void tune_incumbent(const struct jsonl *L, int p, struct trow *w)
{
	const int th = !strcmp(w->op, "threads");
	double med[MAXROWS];
	size_t n = 0;

	w->lo = INFINITY;
	w->hi = 0;
	for (size_t i = 0; i < L->n && n < MAXROWS; i++) {
		const json_t *j = L->r[i].j, *a = json_object_get(j, th ? "ms_a" : "op_a");
		if (!tune_is(j, p, w->op) || !json_is_number(a) || json_number_value(a) <= 0 ||
		    strcmp(json_string_value(json_object_get(j, "incumbent")), w->name))
			continue;
		med[n++] = json_number_value(a);
		w->lo = fmin(w->lo, med[n - 1]);
		w->hi = fmax(w->hi, med[n - 1]);
	}
	qsort(med, n, sizeof med[0], cmp_dbl);
	w->t = !n ? NAN : n % 2 ? med[n / 2] : (med[n / 2 - 1] + med[n / 2]) / 2;
}

/* The variant chosen for op in phase p: the config's when it names one,
 * else the newest win in the log, else the op's first incumbent.  *want
 * points into cfg, the log or buf. */
static int tune_choice(const struct jsonl *L, const json_t *cfg, const char *cfg_path,
		       int p, const char *op, char *buf, size_t cap, const char **want)
{
	*want = NULL;
	if (cfg) {
		const struct src s = { cfg_path, 0 };
		json_t *phs, *pe, *ks, *ke;
		char path[64];
		long t;
		int rc;
		snprintf(path, sizeof path, "phases.%s", tune_phases[p]);
		if ((rc = get_obj(&s, cfg, "", "phases", &phs)) ||
		    (rc = get_obj(&s, phs, "phases", tune_phases[p], &pe)))
			return rc;
		if (!strcmp(op, "threads")) {
			if ((rc = get_int(&s, pe, path, "threads", &t)))
				return rc;
			snprintf(buf, cap, "%ld threads", t);	/* as the log names it */
			*want = buf;
			return 0;
		}
		if ((rc = get_obj(&s, pe, path, "kernels", &ks)))
			return rc;
		if ((ke = json_object_get(ks, op))) {
			cat(path, sizeof path, ".kernels.%s", op);
			return get_str(&s, ke, path, "variant", want);
		}
	}
	for (size_t i = 0; i < L->n; i++) {
		const json_t *j = L->r[i].j;
		if (!tune_is(j, p, op))
			continue;
		if (!*want)
			*want = json_string_value(json_object_get(j, "incumbent"));
		if (!strcmp(json_string_value(json_object_get(j, "verdict")), "win"))
			*want = json_string_value(json_object_get(j, "candidate"));
	}
	return 0;
}

/* Writes phase p's rows, grouped by op in first-seen order, as $<phase>
 * (y time lo hi incumbent kind winner "label" "note") and the y of the
 * lines between ops as $<phase>_sep; widens [*xmin, *xmax]. */
static void tune_write(FILE *o, const struct tune_rows *T, int p, double *xmin,
		       double *xmax)
{
	const char *ph = tune_phases[p];
	struct strset ops = { .n = 0 };
	size_t n = 0, nsep = 0;
	double sep[MAXSET];

	for (size_t k = 0; k < T->n[p]; k++)
		set_add(&ops, T->r[p][k].op);
	fprintf(o, "$%s << EOD\n", ph);
	for (size_t oi = 0; oi < ops.n; oi++) {
		if (oi && nsep < MAXSET)
			sep[nsep++] = (double)n + 0.5;
		for (size_t k = 0; k < T->n[p]; k++) {
			const struct trow *w = &T->r[p][k];
			char lab[256];
			if (strcmp(w->op, ops.v[oi]))
				continue;
			const int timed = isfinite(w->t) && w->t > 0;
			if (timed) {
				*xmin = fmin(*xmin, fmin(w->lo, w->inc > 0 ? w->inc : w->lo));
				*xmax = fmax(*xmax, fmax(w->hi, w->inc));
			}
			fprintf(o, "%zu ", ++n);
			gp_num(o, timed ? w->t : NAN);
			gp_num(o, timed ? w->lo : NAN);
			gp_num(o, timed ? w->hi : NAN);
			gp_num(o, w->inc > 0 ? w->inc : NAN);
			fprintf(o, "%d %d ", (int)w->kind, w->winner);
			if (!strcmp(w->op, "threads"))
				snprintf(lab, sizeof lab, "threads: %s (whole pass)%s",
					 w->name, w->winner ? " *" : "");
			else
				snprintf(lab, sizeof lab, "%s: %s%s%s", w->op, w->name,
					 w->kind == K_INCUMBENT ? " (incumbent)" : "",
					 w->winner ? " *" : "");
			gp_field(o, lab);
			snprintf(lab, sizeof lab, "%s: %s", kind_name[w->kind], w->reason);
			gp_field(o, w->kind >= K_REJECTED ? lab : "");
			fputc('\n', o);
		}
	}
	if (!n)	/* gnuplot warns of an empty datablock, not of NaN */
		fputs("NaN NaN NaN NaN NaN -1 0 \"\" \"\"\n", o);
	fprintf(o, "EOD\nn_%s = %zu\n$%s_sep << EOD\n", ph, n, ph);
	for (size_t i = 0; i < nsep; i++)
		fprintf(o, "%g\n", sep[i]);
	if (!nsep)
		fputs("NaN\n", o);
	fprintf(o, "EOD\nn_%s_sep = %zu\n", ph, nsep);
}

/* The footnote and the units: the config records what the log does not
 * (machine, revision, prompt size). */
static int tune_footnote(FILE *o, const struct jsonl *L, const json_t *cfg,
			 const char *cfg_path)
{
	const char *unit = "ms per prompt batch", *rev, *brand, *created, *arch;
	char buf[1024], ub[64];
	json_t *nt, *nl;
	int rc;

	snprintf(buf, sizeof buf, "tune log %s (%zu evaluation%s; candidates the "
		 "budget skipped are not logged)", base_name(L->file), L->n,
		 L->n == 1 ? "" : "s");
	if (!cfg) {
		cat(buf, sizeof buf, "\nmachine and revision: not recorded in the tune "
		    "log (no best-config file) | * = the newest winner, else the "
		    "incumbent");
	} else {
		const struct src s = { cfg_path, 0 };
		if ((rc = get_str2(&s, cfg, "tool", "git_rev", &rev)) ||
		    (rc = get_str2(&s, cfg, "machine", "brand", &brand)) ||
		    (rc = get_str(&s, cfg, "", "created", &created)))
			return rc;
		cat(buf, sizeof buf, "\n%s | rev %s | config %s written %s (* = the "
		    "variant it chose)", brand, rev, base_name(cfg_path), created);
		arch = json_string_value(json_object_get(json_object_get(cfg, "model"),
							 "arch"));
		nl = json_object_get(json_object_get(cfg, "model"), "n_layer");
		if (arch && json_is_integer(nl))
			cat(buf, sizeof buf, " | %s %lld layers", arch,
			    (long long)json_integer_value(nl));
		nt = json_object_get(json_object_get(json_object_get(cfg, "measurements"),
						     "prompt"), "n_tokens");
		if (json_is_integer(nt)) {
			snprintf(ub, sizeof ub, "ms per %lld-token prompt batch",
				 (long long)json_integer_value(nt));
			unit = ub;
		}
	}
	gp_footnote(o, buf);
	gp_var(o, "prompt_unit", unit);
	gp_var(o, "decode_unit", "ms per decode token");
	gp_var(o, "title", "Tuning decisions: every candidate's in-situ time with "
	       "its 95% CI, per phase and op (./tune)");
	return 0;
}

static int cmd_tune(const char *log_path, const char *cfg_path, FILE *o)
{
	static struct tune_rows T;
	struct jsonl L = { 0 };
	json_t *cfg = NULL;
	double xmin = INFINITY, xmax = 0;
	char buf[32];
	int rc;

	if ((rc = jsonl_load(log_path, LOG_SCHEMA, -1, &L)))
		return rc;
	if (cfg_path && exists(cfg_path) && (rc = load_json(cfg_path, &cfg)))
		goto out;
	/* every logged evaluation; the newest of each (phase, op, candidate) */
	memset(&T, 0, sizeof T);
	for (size_t i = 0; i < L.n; i++) {
		const struct src s = { log_path, L.r[i].line };
		const char *inc = NULL;
		struct trow w;
		int p = 0;
		rc = tune_line(&s, L.r[i].j, &w, &p, &inc);
		if (rc > 0 || (!rc && (rc = tune_put(&s, &T, p, &w, inc))))
			goto out;
	}
	tune_dedupe(&T);
	if (!T.n[0] && !T.n[1]) {
		rc = failf(EXIT_NODATA, &(struct src){ log_path, 0 }, "no evaluated "
			   "candidate (all skipped: give ./tune a larger --budget)");
		goto out;
	}
	for (int p = 0; p < 2; p++) {
		for (size_t k = 0; k < T.n[p]; k++) {
			struct trow *w = &T.r[p][k];
			const char *want;
			if (w->kind == K_INCUMBENT)
				tune_incumbent(&L, p, w);
			if ((rc = tune_choice(&L, cfg, cfg_path, p, w->op, buf, sizeof buf,
					      &want)))
				goto out;
			w->winner = want && !strcmp(want, w->name);
		}
		tune_write(o, &T, p, &xmin, &xmax);
	}
	if (!(xmax > 0)) {	/* nothing timed: only rejections or crashes */
		xmin = 0.01;
		xmax = 10;
	}
	fprintf(o, "xmin = %.6g\nxmax = %.6g\n", pow(10, floor(log10(xmin / 4))),
		pow(10, ceil(log10(xmax * 1.5))));
	rc = tune_footnote(o, &L, cfg, cfg_path);
out:
	json_decref(cfg);
	jsonl_free(&L);
	return rc;
}

/* --- 4. regression report ---------------------------------------------------- */

#define PERF_SCHEMA "q8tune-perf-report"
#define MAXRND 64	/* rounds per side (CMP_MAX_ROUNDS of harness/compare.h) */
#define MAXRROWS 256
#define NPROF 8		/* profile rows shown: filled up to this many ... */
#define MAXPROF 10	/* ... and at most this many when more have a verdict */

enum { SIDE_B, SIDE_H, SIDE_AA, NSIDE };

/* The label colours of regression.gp, by verdict. */
enum { V_SAME, V_SLOWER, V_FASTER, V_CONFIRMED, V_UNCONFIRMED, V_NODATA };

/* One row of perf-report.json; NaN for what is null. */
struct rrow {
	const char *name, *verdict;
	int profile, remeasured, confirmed;
	double ms[NSIDE][MAXRND];	/* per round, ms; NaN: missing */
	size_t rounds;			/* the longest of the three arrays */
	double ratio, lo, hi, p, band;	/* head/base, its 95% CI, p, A/A band */
	double re[3];			/* re-measured ratio, ci_lo, ci_hi */
	double norm;			/* median of base's rounds; NaN: none */
};

/* obj[key]: a number, or null (*out = NaN); pos: the number must be > 0. */
static int get_num_null(const struct src *s, const json_t *obj, const char *path,
			const char *key, int pos, double *out)
{
	json_t *v = json_object_get(obj, key);

	*out = NAN;
	if (json_is_null(v))
		return 0;
	if (!json_is_number(v) || !isfinite(json_number_value(v)))
		return bad_field(s, path, key, v, "not a number or null");
	if (pos && json_number_value(v) <= 0)
		return failf(EXIT_BAD, s, "field %s.%s: %g, not > 0", path, key,
			     json_number_value(v));
	*out = json_number_value(v);
	return 0;
}

/* row[key]: per-round ms, each a positive number or null, into v[MAXRND]
 * (NaN past the end); *n its length. */
static int get_rounds(const struct src *s, const json_t *row, const char *path,
		      const char *key, double *v, size_t *n)
{
	json_t *a;

	if (get_arr(s, row, path, key, &a))
		return EXIT_BAD;
	*n = json_array_size(a);
	if (*n > MAXRND)
		return failf(EXIT_BAD, s, "field %s.%s: %zu rounds, more than %d", path,
			     key, *n, MAXRND);
	for (size_t k = 0; k < MAXRND; k++) {
		const json_t *e = json_array_get(a, k);
		v[k] = NAN;
		if (k >= *n || json_is_null(e))
			continue;
		if (!json_is_number(e) || !(json_number_value(e) > 0) ||
		    !isfinite(json_number_value(e)))
			return failf(EXIT_BAD, s, "field %s.%s[%zu]: not a positive "
				     "number or null", path, key, k);
		v[k] = json_number_value(e);
	}
	return 0;
}

/* Sorts the finite values of v[0..n) into out; returns how many. */
static size_t finite_sorted(const double *v, size_t n, double *out)
{
	size_t m = 0;

	for (size_t i = 0; i < n; i++)
		if (isfinite(v[i]))
			out[m++] = v[i];
	qsort(out, m, sizeof *out, cmp_dbl);
	return m;
}

/* The q-quantile of sorted x[0..n), linearly interpolated (R's type 7). */
static double quantile(const double *x, size_t n, double q)
{
	const double h = (double)(n - 1) * q;
	const size_t i = (size_t)floor(h);

	return i + 1 < n ? x[i] + (h - (double)i) * (x[i + 1] - x[i]) : x[n - 1];
}

/* rows[k] of the report into *w, checked. */
static int reg_row(const struct src *s, const json_t *rows, size_t k, struct rrow *w)
{
	static const char *const side_key[NSIDE] = { "base_ms", "head_ms", "head_aa_ms" };
	static const char *const re_key[3] = { "ratio", "ci_lo", "ci_hi" };
	const json_t *row = json_array_get(rows, k), *re;
	char path[48];
	double x[MAXRND];
	int rc;

	snprintf(path, sizeof path, "rows[%zu]", k);
	if (!json_is_object(row))
		return failf(EXIT_BAD, s, "field %s: not an object", path);
	memset(w, 0, sizeof *w);
	if ((rc = get_str(s, row, path, "row", &w->name)) ||
	    (rc = get_bool(s, row, path, "profile_row", &w->profile)) ||
	    (rc = get_num_null(s, row, path, "ratio", 1, &w->ratio)) ||
	    (rc = get_num_null(s, row, path, "ci_lo", 1, &w->lo)) ||
	    (rc = get_num_null(s, row, path, "ci_hi", 1, &w->hi)) ||
	    (rc = get_num_null(s, row, path, "p", 0, &w->p)) ||
	    (rc = get_num_null(s, row, path, "noise_band", 1, &w->band)) ||
	    (rc = get_str(s, row, path, "verdict", &w->verdict)) ||
	    (rc = get_bool(s, row, path, "remeasured", &w->remeasured)) ||
	    (rc = get_bool(s, row, path, "confirmed", &w->confirmed)))
		return rc;
	if (strcmp(w->verdict, "slower") && strcmp(w->verdict, "faster") &&
	    strcmp(w->verdict, "no change") && strcmp(w->verdict, "only in base") &&
	    strcmp(w->verdict, "only in head"))
		return failf(EXIT_BAD, s, "field %s.verdict: \"%s\", not slower, faster, "
			     "no change, only in base or only in head", path,
			     w->verdict);
	for (int sd = 0; sd < NSIDE; sd++) {
		size_t n;
		if ((rc = get_rounds(s, row, path, side_key[sd], w->ms[sd], &n)))
			return rc;
		w->rounds = n > w->rounds ? n : w->rounds;
	}
	w->re[0] = w->re[1] = w->re[2] = NAN;
	re = json_object_get(row, "remeasured_ratio");
	if (re && !json_is_null(re)) {
		if (!json_is_object(re))
			return failf(EXIT_BAD, s, "field %s.remeasured_ratio: not an "
				     "object", path);
		cat(path, sizeof path, ".remeasured_ratio");
		for (int i = 0; i < 3; i++)
			if ((rc = get_num_null(s, re, path, re_key[i], 1, &w->re[i])))
				return rc;
	}
	const size_t n = finite_sorted(w->ms[SIDE_B], w->rounds, x);
	w->norm = n ? quantile(x, n, 0.5) : NAN;
	return 0;
}

static int verdict_code(const struct rrow *w)
{
	if (!isfinite(w->norm))
		return V_NODATA;
	if (!strcmp(w->verdict, "slower"))
		return !w->remeasured ? V_SLOWER : w->confirmed ? V_CONFIRMED :
		       V_UNCONFIRMED;
	return !strcmp(w->verdict, "faster") ? V_FASTER : V_SAME;
}

/* |log ratio|: how far a row moved (-1 without a ratio), for picking. */
static double moved(const struct rrow *w)
{
	return isfinite(w->ratio) ? fabs(log(w->ratio)) : -1;
}

/* The profile rows of the second panel, into pick[] in file order:
 * those with a verdict (at most MAXPROF, the largest moves), then the
 * largest moves of the rest up to NPROF rows.  Returns how many; *nv:
 * how many profile rows have a verdict (shown or not). */
static size_t reg_pick(const struct rrow *R, size_t n, size_t *pick, size_t *nv)
{
	unsigned char in[MAXRROWS] = { 0 };
	size_t m = 0;

	*nv = 0;
	for (size_t i = 0; i < n; i++)
		*nv += R[i].profile && strcmp(R[i].verdict, "no change") != 0;
	for (int pass = 0; pass < 2; pass++) {
		const size_t cap = pass ? NPROF : MAXPROF;
		for (;;) {
			size_t best = n;
			for (size_t i = 0; i < n; i++) {
				const int v = strcmp(R[i].verdict, "no change") != 0;
				if (!R[i].profile || in[i] || !isfinite(R[i].norm) ||
				    (!pass && !v) || moved(&R[i]) < 0)
					continue;
				if (best == n || moved(&R[i]) > moved(&R[best]))
					best = i;
			}
			if (best == n || m >= cap)
				break;
			in[best] = 1;
			m++;
		}
	}
	m = 0;
	for (size_t i = 0; i < n; i++)
		if (in[i])
			pick[m++] = i;
	return m;
}

/* A panel: its rows (indexes into the report's rows), and the y range of
 * its data (values normalised to each row's base median). */
struct rpanel {
	const char *name;	/* "t" test rows, "p" profile rows */
	size_t idx[MAXRROWS];
	size_t n;
	double dlo, dhi;	/* the data's part of the y axis */
};

/* Offsets of the sides' boxes in a row's slot; the ratio right of them. */
static const double side_dx[NSIDE] = { -0.3, -0.12, 0.06 };
#define RATIO_DX 0.23
#define RE_DX 0.35
#define BOX_W 0.15

/* Widens [*lo, *hi] to v when v is a positive number. */
static void widen(double *lo, double *hi, double v)
{
	if (isfinite(v) && v > 0) {
		*lo = fmin(*lo, v);
		*hi = fmax(*hi, v);
	}
}

/* The panel's data range: the bands, the CIs, 1 and the boxes'
 * quartiles; then the points within a quarter of that span (at most a
 * factor 1.25) beyond it; padded. */
static void reg_range(const struct rrow *R, struct rpanel *P)
{
	double lo = 0.98, hi = 1.02, x[MAXRND];

	for (size_t i = 0; i < P->n; i++) {
		const struct rrow *w = &R[P->idx[i]];
		widen(&lo, &hi, w->band);
		widen(&lo, &hi, 1 / w->band);
		widen(&lo, &hi, w->lo);
		widen(&lo, &hi, w->hi);
		widen(&lo, &hi, w->re[1]);
		widen(&lo, &hi, w->re[2]);
		for (int sd = 0; sd < NSIDE && isfinite(w->norm); sd++) {
			const size_t m = finite_sorted(w->ms[sd], w->rounds, x);
			if (m) {
				widen(&lo, &hi, quantile(x, m, 0.25) / w->norm);
				widen(&lo, &hi, quantile(x, m, 0.75) / w->norm);
			}
		}
	}
	/* points a little outside still count; farther ones are drawn at
	 * the edge (an outlier round must not squash every box) */
	const double ext = exp(fmin(log(hi / lo) / 4, log(1.25)));
	const double elo = lo / ext, ehi = hi * ext;
	for (size_t i = 0; i < P->n; i++) {
		const struct rrow *w = &R[P->idx[i]];
		for (int sd = 0; sd < NSIDE && isfinite(w->norm); sd++)
			for (size_t k = 0; k < w->rounds; k++) {
				const double v = w->ms[sd][k] / w->norm;
				if (v >= elo && v <= ehi)
					widen(&lo, &hi, v);
			}
	}
	const double pad = log(hi / lo) * 0.06;
	P->dlo = lo / exp(pad);
	P->dhi = hi * exp(pad);
}

/* <name>_tics: the y tics in [dlo, dhi]: the round values first, then
 * finer ones where they keep 1/14 of the (log) axis from the others. */
static void reg_tics(FILE *o, const struct rpanel *P)
{
	static const struct { double v; int level; } t[] = {
		{ 0.1, 0 }, { 0.2, 0 }, { 0.25, 1 }, { 0.333, 1 }, { 0.5, 0 },
		{ 0.667, 1 }, { 0.8, 1 }, { 0.9, 1 }, { 0.95, 2 }, { 0.97, 3 },
		{ 0.98, 3 }, { 0.99, 3 }, { 1, 0 }, { 1.01, 3 }, { 1.02, 3 },
		{ 1.03, 3 }, { 1.05, 2 }, { 1.1, 1 }, { 1.25, 1 }, { 1.5, 1 },
		{ 2, 0 }, { 3, 1 }, { 4, 1 }, { 5, 0 }, { 10, 0 },
	};
	enum { NT = sizeof t / sizeof *t };
	const double gap = log(P->dhi / P->dlo) / 14;
	int in[NT] = { 0 };
	char buf[256] = "";

	for (int lev = 0; lev <= 3; lev++)
		for (int i = 0; i < NT; i++) {
			int ok = t[i].level == lev && t[i].v >= P->dlo && t[i].v <= P->dhi;
			for (int k = 0; k < NT && ok; k++)
				ok = !in[k] || fabs(log(t[i].v / t[k].v)) >= gap;
			in[i] = in[i] || ok;
		}
	for (int i = 0; i < NT; i++)
		if (in[i])
			cat(buf, sizeof buf, "%s%g", *buf ? ", " : "", t[i].v);
	fprintf(o, "%s_tics = ", P->name);
	gp_str(o, *buf ? buf : "1");
	fputc('\n', o);
}

/* The verdict text over row w: the verdict, the ratio with its CI, the
 * re-measurement, p and the band, in lines narrow enough for a row's
 * slot (two decimals for the noisier profile rows, three for pp/tg). */
static void reg_label(const struct rrow *w, int code, char *buf, size_t cap)
{
	static const char *const vname[] = {
		"no change", "slower", "faster", "slower, confirmed",
		"slower once,\nnot confirmed", "measured by\none side only"
	};
	const int d = w->profile ? 2 : 3;

	snprintf(buf, cap, "%s", vname[code]);
	if (isfinite(w->ratio))
		cat(buf, cap, "\nratio %.*f\n[%.*f, %.*f]", d, w->ratio, d, w->lo, d, w->hi);
	else
		cat(buf, cap, "\nno ratio");
	if (isfinite(w->re[0]))
		cat(buf, cap, "\nagain %.*f\n[%.*f, %.*f]", d, w->re[0], d, w->re[1], d,
		    w->re[2]);
	if (isfinite(w->p))
		cat(buf, cap, "\np = %.2g", w->p);
	if (isfinite(w->band))
		cat(buf, cap, "\nband %.*f-%.*f", d, fmin(w->band, 1 / w->band), d,
		    fmax(w->band, 1 / w->band));
	else
		cat(buf, cap, "\nno A/A band");
}

/* $<name>_row (x, band low, band high, ratio, CI low, CI high, again,
 * its CI low, high, verdict code, "row name"), the arrays <name>_lab
 * and <name>_code of the verdict texts above the rows, and the most lines
 * of a text, <name>_lab_lines. */
static void reg_rows(FILE *o, const struct rrow *R, const struct rpanel *P)
{
	const char *lab[MAXRROWS];
	static char text[MAXRROWS][256];
	double code[MAXRROWS];
	char name[300], *sl;

	fprintf(o, "n_%s = %zu\n$%s_row << EOD\n", P->name, P->n, P->name);
	for (size_t i = 0; i < P->n; i++) {
		const struct rrow *w = &R[P->idx[i]];
		const int c = verdict_code(w);
		fprintf(o, "%zu ", i + 1);
		gp_num(o, isfinite(w->band) ? fmin(w->band, 1 / w->band) : NAN);
		gp_num(o, isfinite(w->band) ? fmax(w->band, 1 / w->band) : NAN);
		gp_num(o, w->ratio);
		gp_num(o, w->lo);
		gp_num(o, w->hi);
		for (int k = 0; k < 3; k++)
			gp_num(o, w->re[k]);
		fprintf(o, "%d ", c);
		/* a profile row on two lines: the test, then the op */
		snprintf(name, sizeof name, "%s", w->name);
		if ((sl = strchr(name, '/')))
			*sl = '\n';
		gp_field(o, name);
		fputc('\n', o);
		reg_label(w, c, text[i], sizeof text[i]);
		lab[i] = text[i];
		code[i] = c;
	}
	if (!P->n)
		fputs("NaN NaN NaN NaN NaN NaN NaN NaN NaN -1 \"\"\n", o);
	fputs("EOD\n", o);
	int lines = 1;	/* the most lines of a text, for the room above the rows */
	for (size_t i = 0; i < P->n; i++) {
		int k = 1;
		for (const char *c = lab[i]; *c; c++)
			k += *c == '\n';
		lines = k > lines ? k : lines;
	}
	fprintf(o, "%s_lab_lines = %d\n", P->name, lines);
	snprintf(name, sizeof name, "%s_lab", P->name);
	gp_str_array(o, name, lab, P->n);
	snprintf(name, sizeof name, "%s_code", P->name);
	gp_num_array(o, name, code, P->n);
}

/* $<name>_box (x, side, min, q1, median, q3, max: whiskers cut at the
 * data range) of each row and side. */
static void reg_boxes(FILE *o, const struct rrow *R, const struct rpanel *P)
{
	double x[MAXRND];
	size_t nb = 0;

	fprintf(o, "$%s_box << EOD\n", P->name);
	for (size_t i = 0; i < P->n; i++) {
		const struct rrow *w = &R[P->idx[i]];
		for (int sd = 0; sd < NSIDE && isfinite(w->norm); sd++) {
			const size_t m = finite_sorted(w->ms[sd], w->rounds, x);
			if (!m)
				continue;
			fprintf(o, "%.4f %d %.6g %.6g %.6g %.6g %.6g\n",
				(double)(i + 1) + side_dx[sd], sd,
				fmax(x[0] / w->norm, P->dlo),
				quantile(x, m, 0.25) / w->norm, quantile(x, m, 0.5) / w->norm,
				quantile(x, m, 0.75) / w->norm,
				fmin(x[m - 1] / w->norm, P->dhi));
			nb++;
		}
	}
	if (!nb)
		fputs("NaN 0 NaN NaN NaN NaN NaN\n", o);
	fputs("EOD\n", o);
}

/* $<name>_pts (x, y, side, 0 in range or +-1 drawn at the top or bottom
 * edge): each round of each side; then (pass 1) $<name>_off (x, y,
 * "value") of those at an edge.  Normalised to the row's base median. */
static void reg_points(FILE *o, const struct rrow *R, const struct rpanel *P)
{
	for (int pass = 0; pass < 2; pass++) {
		size_t np = 0;
		fprintf(o, "$%s_%s << EOD\n", P->name, pass ? "off" : "pts");
		for (size_t i = 0; i < P->n; i++) {
			const struct rrow *w = &R[P->idx[i]];
			for (int sd = 0; sd < NSIDE && isfinite(w->norm); sd++)
				for (size_t k = 0; k < w->rounds; k++) {
					const double v = w->ms[sd][k] / w->norm;
					/* each round a little right of the last */
					const double x = (double)(i + 1) + side_dx[sd] +
						((double)k - (double)(w->rounds - 1) / 2) *
						0.09 / (double)w->rounds;
					const int out = v > P->dhi ? 1 : v < P->dlo ? -1 : 0;
					const double y = out > 0 ? P->dhi : out < 0 ? P->dlo : v;
					if (!isfinite(v) || (pass && !out))
						continue;
					if (pass)
						fprintf(o, "%.4f %.6g \"%.2f\"\n", x, y, v);
					else
						fprintf(o, "%.4f %.6g %d %d\n", x, y, sd, out);
					np++;
				}
		}
		/* gnuplot 5.4 crashes on labels that are all left out: an empty one */
		if (!np)
			fputs(pass ? "1 1 \"\"\n" : "NaN NaN 0 0\n", o);
		fputs("EOD\n", o);
	}
}

/* What the title and the footnote say, from the report's header. */
struct rhead {
	const char *machine, *rev[2], *env[2], *model, *prompt;
	long rounds, gen, pp_long, threads;
	double budget, alpha, margin, wall;
};

/* obj[key]: a string, or null (*out = NULL). */
static int get_str_null(const struct src *s, const json_t *obj, const char *path,
			const char *key, const char **out)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return bad_field(s, path, key, v, "not a string or null");
	*out = json_string_value(v);
	return 0;
}

/* The header of perf-report.json, checked. */
static int reg_head(const struct src *s, const json_t *root, struct rhead *h)
{
	static const char *const side[2] = { "base", "head" };
	const char *sc;
	json_t *o, *sp;
	long ver;
	int rc;

	if ((rc = get_str(s, root, "", "schema", &sc)) ||
	    (rc = get_int(s, root, "", "schema_version", &ver)))
		return rc;
	if (strcmp(sc, PERF_SCHEMA) || ver != 1)
		return failf(EXIT_BAD, s, "field schema: \"%s\" version %ld, not \"%s\" "
			     "version 1 (make perf-report writes it)", sc, ver, PERF_SCHEMA);
	for (int i = 0; i < 2; i++)
		if ((rc = get_obj(s, root, "", side[i], &o)) ||
		    (rc = get_str(s, o, side[i], "rev", &h->rev[i])) ||
		    (rc = get_str_null(s, o, side[i], "env", &h->env[i])))
			return rc;
	if ((rc = get_str(s, root, "", "machine", &h->machine)) ||
	    (rc = get_num(s, root, "", "wall_s", &h->wall)) ||
	    (rc = get_obj(s, root, "", "spec", &sp)) ||
	    (rc = get_str(s, sp, "spec", "model", &h->model)) ||
	    (rc = get_str(s, sp, "spec", "prompt", &h->prompt)) ||
	    (rc = get_int(s, sp, "spec", "gen", &h->gen)) ||
	    (rc = get_int(s, sp, "spec", "pp_long", &h->pp_long)) ||
	    (rc = get_int(s, sp, "spec", "rounds", &h->rounds)) ||
	    (rc = get_int(s, sp, "spec", "threads", &h->threads)) ||
	    (rc = get_num(s, sp, "spec", "budget_s", &h->budget)) ||
	    (rc = get_num(s, sp, "spec", "alpha", &h->alpha)) ||
	    (rc = get_num(s, sp, "spec", "margin", &h->margin)))
		return rc;
	return 0;
}

/* The instruction counts' line of the footnote, when the report has
 * counts (an optional part). */
static int reg_counts(const struct src *s, const json_t *root, char *buf, size_t cap)
{
	static const char *const side[2] = { "counts.base", "counts.head" };
	const json_t *c = json_object_get(root, "counts");
	double ir[2][2];
	const char *why;

	if (!c)
		return 0;
	if (!json_is_object(c))
		return failf(EXIT_BAD, s, "field counts: not an object");
	if (json_object_get(c, "why")) {
		if (get_str(s, c, "counts", "why", &why))
			return EXIT_BAD;
		cat(buf, cap, "\nno instruction counts: %s", why);
		return 0;
	}
	for (int i = 0; i < 2; i++) {
		json_t *o, *a;
		if (get_obj(s, c, "counts", side[i] + 7, &o) ||
		    get_arr(s, o, side[i], "ir", &a))
			return EXIT_BAD;
		for (size_t k = 0; k < 2; k++) {
			const json_t *e = json_array_get(a, k);
			if (!json_is_number(e) || !(json_number_value(e) > 0))
				return failf(EXIT_BAD, s, "field %s.ir[%zu]: missing or not "
					     "a positive number", side[i], k);
			ir[i][k] = json_number_value(e);
		}
	}
	cat(buf, cap, "\ncallgrind instructions (Ir) head vs base, on the AVX2 path, "
	    "small model: prompt pass %+.3f%%, decode step %+.3f%% (deterministic; "
	    "docs/perf-report.md)", 100 * (ir[1][0] / ir[0][0] - 1),
	    100 * (ir[1][1] / ir[0][1] - 1));
	return 0;
}

/* The title, the panel titles and the footnote. */
static int reg_text(FILE *o, const struct src *s, const json_t *root,
		    const struct rhead *h, size_t nprof, size_t shown, size_t nv)
{
	char buf[1600];

	gp_var(o, "title", "Regression report: each round's time of base, head and "
	       "head again (A/A), over base's median, with the A/A noise band "
	       "(make perf-report)");
	snprintf(buf, sizeof buf, "per-op profile rows (ms per pass, in situ): %zu of "
		 "%zu, ", shown, nprof);
	if (!nprof)
		snprintf(buf, sizeof buf, "per-op profile rows: none in this report");
	else if (!nv)
		cat(buf, sizeof buf, "none with a verdict: the largest changes, |log ratio|");
	else if (nv > shown)
		cat(buf, sizeof buf, "the largest changes (|log ratio|) of the %zu with a verdict", nv);
	else
		cat(buf, sizeof buf, "the %zu with a verdict%s", nv, shown > nv ?
		    ", then the largest changes (|log ratio|) of the rest" : "");
	gp_var(o, "p_title", buf);
	snprintf(buf, sizeof buf, "%s\nbase: %s%s%s | head: %s%s%s", h->machine,
		 h->rev[0], h->env[0] ? ", env " : "", h->env[0] ? h->env[0] : "",
		 h->rev[1], h->env[1] ? ", env " : "", h->env[1] ? h->env[1] : "");
	cat(buf, sizeof buf, "\n%s, prompt \"%s\" (pp, tg%ld) and pp%ld; %ld rounds of "
	    "fresh processes in rotating order, %g s per row, %s threads; %.0f s of "
	    "timing", base_name(h->model), h->prompt, h->gen, h->pp_long, h->rounds,
	    h->budget, h->threads ? "" : "default", h->wall);
	if (h->threads)
		cat(buf, sizeof buf, " (%ld threads)", h->threads);
	cat(buf, sizeof buf, "\nslower (faster) needs p < %g, the CI above (below) the "
	    "band and the ratio beyond %.2f; a slower pp/tg row is measured again and "
	    "confirmed only if slower again", h->alpha, 1 + h->margin);
	if (reg_counts(s, root, buf, sizeof buf))
		return EXIT_BAD;
	gp_footnote(o, buf);
	return 0;
}

static int cmd_regression(const char *path, FILE *o)
{
	static struct rrow R[MAXRROWS];
	static struct rpanel P[2];
	const struct src s = { path, 0 };
	json_t *root = NULL, *rows;
	struct rhead h;
	size_t n, nprof = 0, nv;
	int rc;

	if ((rc = load_json(path, &root)))
		return rc;
	if ((rc = reg_head(&s, root, &h)) || (rc = get_arr(&s, root, "", "rows", &rows)))
		goto out;
	if ((n = json_array_size(rows)) > MAXRROWS) {
		rc = failf(EXIT_BAD, &s, "field rows: %zu rows, more than %d", n, MAXRROWS);
		goto out;
	}
	memset(P, 0, sizeof P);
	P[0].name = "t";
	P[1].name = "p";
	for (size_t k = 0; k < n; k++) {
		if ((rc = reg_row(&s, rows, k, &R[k])))
			goto out;
		nprof += R[k].profile;
		if (!R[k].profile)
			P[0].idx[P[0].n++] = k;
	}
	/* a test row with base and head samples is what the plot is for */
	size_t usable = 0;
	for (size_t i = 0; i < P[0].n; i++) {
		const struct rrow *w = &R[P[0].idx[i]];
		double x[MAXRND];
		usable += isfinite(w->norm) && finite_sorted(w->ms[SIDE_H], w->rounds, x);
	}
	if (!usable) {
		rc = failf(EXIT_NODATA, &s, "no pp or tg row with base and head samples "
			   "(make perf-report makes them)");
		goto out;
	}
	P[1].n = reg_pick(R, n, P[1].idx, &nv);
	for (int k = 0; k < 2; k++) {
		reg_range(R, &P[k]);
		fprintf(o, "%s_ymin = %.6g\n%s_top = %.6g\n", P[k].name, P[k].dlo,
			P[k].name, P[k].dhi);
		reg_tics(o, &P[k]);
		reg_rows(o, R, &P[k]);
		reg_boxes(o, R, &P[k]);
		reg_points(o, R, &P[k]);
	}
	rc = reg_text(o, &s, root, &h, nprof, P[1].n, nv);
out:
	json_decref(root);
	return rc;
}

/* --- 5. scaling ------------------------------------------------------------- */

struct pt {
	double x, y, lo, hi;
	long line;	/* newest wins */
};

#define MAXPTS 64
struct series {
	char title[160];	/* the key: config, threads or row, variant */
	char base[160];		/* the same without the variant */
	const char *mm;		/* the matmul_q8 variant */
	struct pt p[MAXPTS];
	size_t n;
};

/* Sets (x, y) of series s to this point, or adds it. */
static void series_put(struct series *s, const struct pt *p)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->p[i].x == p->x) {
			s->p[i] = *p;	/* a later line: the newer measurement */
			return;
		}
	if (s->n < MAXPTS)
		s->p[s->n++] = *p;
}

static int cmp_pt(const void *a, const void *b)
{
	const double x = ((const struct pt *)a)->x, y = ((const struct pt *)b)->x;

	return (x > y) - (x < y);
}

/* The series titled t in v[0..*n), added if new; NULL if full. */
static struct series *series_get(struct series *v, size_t *n, size_t cap,
				 const char *base, const char *mm)
{
	char t[sizeof v->title];

	snprintf(t, sizeof t, "%s (matmul_q8 %s)", base, mm);
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(v[i].title, t))
			return &v[i];
	if (*n == cap)
		return NULL;
	memset(&v[*n], 0, sizeof v[*n]);
	snprintf(v[*n].title, sizeof v[*n].title, "%s", t);
	snprintf(v[*n].base, sizeof v[*n].base, "%s", base);
	v[*n].mm = mm;
	return &v[(*n)++];
}

/* Folds the matmul_q8 variants of the series with 2+ points into *mm:
 * the one they share; *mixed once two differ. */
static void common_mm(const struct series *v, size_t n, const char **mm, int *mixed)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i].n < 2)
			continue;
		*mixed |= *mm && strcmp(*mm, v[i].mm);
		*mm = v[i].mm;
	}
}

/* Writes the series with at least 2 points as datablock name (one index
 * per series) and its titles (without the variant when short); returns
 * how many. */
static size_t write_series(FILE *o, const char *name, struct series *v, size_t n,
			   int short_titles)
{
	const char *titles[MAXSET];
	size_t k = 0;
	char buf[64];

	fprintf(o, "$%s << EOD\n", name);
	for (size_t i = 0; i < n && k < MAXSET; i++) {
		if (v[i].n < 2)
			continue;	/* one point is not a line */
		qsort(v[i].p, v[i].n, sizeof v[i].p[0], cmp_pt);
		for (size_t j = 0; j < v[i].n; j++)
			fprintf(o, "%.6g %.6g %.6g %.6g\n", v[i].p[j].x, v[i].p[j].y,
				v[i].p[j].lo, v[i].p[j].hi);
		fputs("\n\n", o);
		titles[k++] = short_titles ? v[i].base : v[i].title;
	}
	if (!k)
		fputs("NaN NaN NaN NaN\n", o);
	fputs("EOD\n", o);
	fprintf(o, "n_%s = %zu\n", name, k);
	snprintf(buf, sizeof buf, "%s_title", name);
	gp_str_array(o, buf, titles, k);
	return k;
}

/* The two panels' series and what the footnote says of them. */
struct scaling {
	struct series batch[MAXSET], threads[MAXSET];
	size_t nb, nt;
	struct strset revs;
	const char *first, *last;	/* times of the oldest and newest run used */
	long used, other;		/* rows used; runs of other models left out */
};

/* Row k of run j (run_info ri, config label cl) into the panels: a pp row
 * into the batch panel (x = its batch size), every row into the threads
 * panel (x = the threads of its phase). */
static int scaling_row(const struct src *s, const json_t *j, const struct runinfo *ri,
		       const char *cl, size_t k, struct scaling *S)
{
	json_t *row = json_array_get(json_object_get(j, "rows"), k), *st;
	char path[32], t[200];
	const char *kind, *test, *mm;
	long n, th;
	double med, lo, hi, tps;
	struct series *sr;
	int rc;

	snprintf(path, sizeof path, "rows[%zu]", k);
	if (!json_is_object(row))
		return failf(EXIT_BAD, s, "field %s: not an object", path);
	if ((rc = get_str(s, row, path, "kind", &kind)) ||
	    (rc = get_str(s, row, path, "test", &test)) ||
	    (rc = get_int(s, row, path, "n_tokens", &n)) ||
	    (rc = get_num(s, row, path, "tokens_per_s", &tps)) ||
	    (rc = get_obj(s, row, path, "stats", &st)))
		return rc;
	cat(path, sizeof path, ".stats");
	if ((rc = get_num(s, st, path, "median", &med)) ||
	    (rc = get_num(s, st, path, "ci_lo", &lo)) ||
	    (rc = get_num(s, st, path, "ci_hi", &hi)))
		return rc;
	const int pp = !strcmp(kind, "pp");
	if (!pp && strcmp(kind, "tg"))
		return failf(EXIT_BAD, s, "field rows[%zu].kind: \"%s\", not pp or tg",
			     k, kind);
	if (med <= 0 || lo <= 0 || hi <= 0 || n < 1)
		return failf(EXIT_BAD, s, "field %s: a time or n_tokens not > 0", path);
	if ((rc = cfg_kernel(s, j, pp ? "prompt_kernels" : "decode_kernels", "matmul_q8",
			     &mm)) ||
	    (rc = cfg_threads(s, j, pp ? "prompt_threads" : "decode_threads", ri->threads,
			      &th)))
		return rc;
	/* a sweep (--threads 1,2) records each row's own thread count */
	const json_t *rt = json_object_get(row, "threads");
	if (rt && !json_is_integer(rt))
		return failf(EXIT_BAD, s, "field rows[%zu].threads: not an integer", k);
	if (rt)
		th = (long)json_integer_value(rt);
	/* tokens/s, and its CI from the CI of the median time */
	const double per = pp ? (double)n * 1000 : 1000;
	struct pt p = { (double)n, tps, per / hi, per / lo, s->line };
	/* a row at a context depth (-d) is its own line, not a point of the
	 * depth-0 batch line */
	const json_t *dj = json_object_get(row, "n_depth");
	if (dj && !json_is_integer(dj))
		return failf(EXIT_BAD, s, "field rows[%zu].n_depth: not an integer", k);
	const long depth = dj ? (long)json_integer_value(dj) : 0;
	char at[32] = "";
	if (depth > 0)
		snprintf(at, sizeof at, " @ d%ld", depth);
	if (pp) {
		snprintf(t, sizeof t, "%s, %ld thread%s%s", cl, th, th == 1 ? "" : "s",
			 at);
		if ((sr = series_get(S->batch, &S->nb, MAXSET, t, mm)))
			series_put(sr, &p);
	}
	snprintf(t, sizeof t, "%s, %s", cl, test);
	p.x = (double)th;
	if ((sr = series_get(S->threads, &S->nt, MAXSET, t, mm)))
		series_put(sr, &p);
	set_add(&S->revs, ri->rev);
	if (!S->first)
		S->first = ri->time;
	S->last = ri->time;
	S->used++;
	return 0;
}

/* The title and footnote (mm: the variant of every line, or NULL). */
static void scaling_text(FILE *o, const struct scaling *S, const struct runinfo *ref,
			 const char *mm)
{
	char buf[1024], rv[256];

	gp_var(o, "title", "Scaling: tokens/s against prompt batch size and "
	       "against threads (./bench rows, 95% CI of the median)");
	set_join(&S->revs, rv, sizeof rv);
	snprintf(buf, sizeof buf, "%s | rev%s %s | %s %ld layers (%s) | %ld rows of "
		 "runs %s .. %s; the newest of each point", ref->brand,
		 S->revs.n > 1 ? "s" : "", rv, ref->arch, ref->layers,
		 base_name(ref->model_path), S->used, S->first, S->last);
	if (mm)
		cat(buf, sizeof buf, "\nmatmul_q8 variant of every line: %s", mm);
	if (S->other)
		cat(buf, sizeof buf, "%s%ld run%s of other models or machines left out",
		    mm ? " | " : "\n", S->other, S->other == 1 ? "" : "s");
	gp_footnote(o, buf);
}

static int cmd_scaling(const char *runs_path, FILE *o)
{
	static struct scaling S;
	struct jsonl L = { 0 };
	struct runinfo ref = { .hash = NULL };
	int rc;

	if ((rc = jsonl_load(runs_path, RUN_SCHEMA, 1, &L)))
		return rc;
	memset(&S, 0, sizeof S);
	/* the model and machine of the newest record with rows */
	for (size_t i = L.n; i-- > 0 && !ref.hash;) {
		const struct src s = { runs_path, L.r[i].line };
		if (json_array_size(json_object_get(L.r[i].j, "rows")) &&
		    (rc = run_info(&s, L.r[i].j, &ref)))
			goto out;
	}
	if (!ref.hash) {
		rc = failf(EXIT_NODATA, &(struct src){ runs_path, 0 }, "no run with rows "
			   "(./bench --model M --pp N [--threads T] makes one)");
		goto out;
	}
	for (size_t i = 0; i < L.n; i++) {
		const struct src s = { runs_path, L.r[i].line };
		const json_t *j = L.r[i].j, *rows = json_object_get(j, "rows");
		struct runinfo ri;
		char cl[160];
		if (rows && !json_is_array(rows)) {
			rc = failf(EXIT_BAD, &s, "field rows: not an array");
			goto out;
		}
		if (!json_array_size(rows))
			continue;	/* an --ab run: its rows are under "ab" */
		if ((rc = run_info(&s, j, &ri)))
			goto out;
		if (strcmp(ri.hash, ref.hash) || strcmp(ri.brand, ref.brand)) {
			S.other++;
			continue;
		}
		cfg_label(ri.cfg, cl, sizeof cl);
		for (size_t k = 0; k < json_array_size(rows); k++)
			if ((rc = scaling_row(&s, j, &ri, cl, k, &S)))
				goto out;
	}
	/* the variant goes into the key only when the lines differ in it */
	const char *mm = NULL;
	int mixed = 0;
	common_mm(S.batch, S.nb, &mm, &mixed);
	common_mm(S.threads, S.nt, &mm, &mixed);
	if (mixed)
		mm = NULL;
	const size_t kb = write_series(o, "batch", S.batch, S.nb, mm != NULL);
	const size_t kt = write_series(o, "threads", S.threads, S.nt, mm != NULL);
	if (!kb && !kt) {
		rc = failf(EXIT_NODATA, &(struct src){ runs_path, 0 },
			   "no sweep: no config has rows at 2 or more prompt sizes or "
			   "thread counts (run ./bench --pp N for several N, or "
			   "--threads T for several T)");
		goto out;
	}
	double xmax = 1;
	for (size_t i = 0; i < S.nt; i++)
		for (size_t k = 0; k < S.threads[i].n; k++)
			xmax = fmax(xmax, S.threads[i].p[k].x);
	fprintf(o, "threads_max = %g\n", xmax);
	scaling_text(o, &S, &ref, mm);
	rc = 0;
out:
	jsonl_free(&L);
	return rc;
}

/* --- 6. microbench ------------------------------------------------------------ */

struct mbcell {
	double med, sd;
	double it[64];	/* iteration runs' rates, when not aggregated */
	size_t nit;
	int have_med, have_sd;
};

struct mbgrp {
	long rows, cols, nt;
	struct mbcell c[MAXSET];	/* by variant */
};

/* The matmul_q8 benchmarks: a group per (shape, tokens), a cell per
 * variant, in GMAC/s. */
struct mb {
	struct mbgrp g[MAXSET];
	size_t ng;
	struct strset vars;
	char vname[MAXSET][64];	/* the variant names vars points to */
	int errors;		/* benchmarks that reported an error */
};

/* The cell of (variant, rows, cols, nt), added if new; NULL when full. */
static struct mbcell *mb_cell(struct mb *M, const char *var, long r, long c, long nt)
{
	size_t gi, v;

	for (gi = 0; gi < M->ng; gi++)
		if (M->g[gi].rows == r && M->g[gi].cols == c && M->g[gi].nt == nt)
			break;
	if (gi == MAXSET)
		return NULL;
	if (gi == M->ng) {
		memset(&M->g[gi], 0, sizeof M->g[gi]);
		M->g[gi] = (struct mbgrp){ .rows = r, .cols = c, .nt = nt };
		M->ng++;
	}
	for (v = 0; v < M->vars.n; v++)
		if (!strcmp(M->vars.v[v], var))
			break;
	if (v == MAXSET)
		return NULL;
	if (v == M->vars.n) {
		snprintf(M->vname[v], sizeof M->vname[v], "%s", var);
		M->vars.v[M->vars.n++] = M->vname[v];
	}
	return &M->g[gi].c[v];
}

/* Reads benchmarks[i] into M when it is a matmul_q8 one. */
static int mb_entry(const struct src *s, const json_t *b, size_t i, struct mb *M)
{
	char path[48], var[64];
	const char *rt, *agg, *type;
	long r, c, nt;
	double macs;
	int n = 0, rc;
	struct mbcell *cell;

	snprintf(path, sizeof path, "benchmarks[%zu]", i);
	if (!json_is_object(b))
		return failf(EXIT_BAD, s, "field %s: not an object", path);
	/* run_name: the name without an aggregate's "_median" */
	rt = json_string_value(json_object_get(b, "run_name"));
	if (!rt && (rc = get_str(s, b, path, "name", &rt)))
		return rc;
	if (strncmp(rt, "matmul_q8/", 10))
		return 0;	/* other ops: not this plot */
	/* "/real_time": Google Benchmark's suffix of a benchmark timed by
	 * the wall clock (./microbench's since its rates are real-time) */
	if (sscanf(rt, "matmul_q8/%63[^/]/%ldx%ld/nt:%ld%n", var, &r, &c, &nt, &n) != 4 ||
	    (rt[n] && strcmp(rt + n, "/real_time")) || r < 1 || c < 1 || nt < 1)
		return failf(EXIT_BAD, s, "field %s.run_name: \"%s\" is not "
			     "matmul_q8/VARIANT/ROWSxCOLS/nt:N[/real_time]", path, rt);
	if (!(cell = mb_cell(M, var, r, c, nt)))
		return 0;
	if (json_is_true(json_object_get(b, "error_occurred"))) {
		M->errors++;
		return 0;
	}
	if ((rc = get_num(s, b, path, "MAC/s", &macs)))
		return rc;
	agg = json_string_value(json_object_get(b, "aggregate_name"));
	type = json_string_value(json_object_get(b, "run_type"));
	if (type && !strcmp(type, "aggregate")) {
		if (agg && !strcmp(agg, "median")) {
			cell->med = macs / 1e9;
			cell->have_med = 1;
		} else if (agg && !strcmp(agg, "stddev")) {
			cell->sd = macs / 1e9;
			cell->have_sd = 1;
		}
	} else if (cell->nit < 64) {
		cell->it[cell->nit++] = macs / 1e9;
	}
	return 0;
}

/* Medians of repetitions where there was no aggregate; groups ordered by
 * tokens per call, shapes in file order.  Returns the cells with a value. */
static size_t mb_finish(struct mb *M)
{
	size_t cells = 0;

	for (size_t gi = 0; gi < M->ng; gi++)
		for (size_t v = 0; v < M->vars.n; v++) {
			struct mbcell *c = &M->g[gi].c[v];
			if (!c->have_med && c->nit) {
				qsort(c->it, c->nit, sizeof c->it[0], cmp_dbl);
				c->med = c->nit % 2 ? c->it[c->nit / 2] :
					 (c->it[c->nit / 2 - 1] + c->it[c->nit / 2]) / 2;
				c->have_med = 1;
			}
			cells += c->have_med;
		}
	for (size_t i = 1; i < M->ng; i++)	/* insertion sort: stable */
		for (size_t k = i; k > 0 && M->g[k - 1].nt > M->g[k].nt; k--) {
			struct mbgrp t = M->g[k];
			M->g[k] = M->g[k - 1];
			M->g[k - 1] = t;
		}
	return cells;
}

/* $mb: a row per group, "label" then median, low, high per variant (low:
 * median - sd, kept above a tenth of the median for the log axis); the
 * lines between token counts (sep); widens [*ymin, *ymax]. */
static void mb_write(FILE *o, const struct mb *M, double *ymin, double *ymax)
{
	double seps[MAXSET];
	size_t nsep = 0;
	char lab[64];

	fprintf(o, "n_var = %zu\nn_grp = %zu\n", M->vars.n, M->ng);
	gp_str_array(o, "var_name", M->vars.v, M->vars.n);
	fputs("$mb << EOD\n", o);
	for (size_t gi = 0; gi < M->ng; gi++) {
		const struct mbgrp *g = &M->g[gi];
		if (gi && g->nt != M->g[gi - 1].nt)
			seps[nsep++] = (double)gi - 0.5;
		snprintf(lab, sizeof lab, "%ldx%ld\n%ld tok", g->rows, g->cols, g->nt);
		gp_field(o, lab);
		for (size_t v = 0; v < M->vars.n; v++) {
			const struct mbcell *c = &g->c[v];
			const double sd = c->have_sd ? c->sd : 0;
			if (!c->have_med) {
				fputs("NaN NaN NaN ", o);
				continue;
			}
			fprintf(o, "%.6g %.6g %.6g ", c->med, fmax(c->med - sd, c->med / 10),
				c->med + sd);
			*ymin = fmin(*ymin, c->med);
			*ymax = fmax(*ymax, c->med + sd);
		}
		fputc('\n', o);
	}
	fprintf(o, "EOD\nn_sep = %zu\n", nsep);
	gp_num_array(o, "sep", seps, nsep);
}

static int cmd_microbench(const char *mb_path, const char *roof_path, FILE *o)
{
	const struct src s = { mb_path, 0 };
	static struct mb M;
	json_t *root = NULL, *rroot = NULL, *ctx, *bms;
	struct roof rf = { .n_isa = 0 };
	const char *cpu, *rev, *date, *nopeak = "no roofline file given";
	double ymin = INFINITY, ymax = 0;
	char buf[1024];
	int rc;

	if ((rc = load_json(mb_path, &root)))
		return rc;
	if ((rc = get_obj(&s, root, "", "context", &ctx)) ||
	    (rc = get_arr(&s, root, "", "benchmarks", &bms)))
		goto out;
	cpu = json_string_value(json_object_get(ctx, "q8tune_cpu"));
	rev = json_string_value(json_object_get(ctx, "q8tune_git_rev"));
	date = json_string_value(json_object_get(ctx, "date"));
	memset(&M, 0, sizeof M);
	for (size_t i = 0; i < json_array_size(bms); i++)
		if ((rc = mb_entry(&s, json_array_get(bms, i), i, &M)))
			goto out;
	if (!mb_finish(&M)) {
		rc = failf(EXIT_NODATA, &s, "no matmul_q8 benchmark (make microbench "
			   "MB_FILTER='matmul_q8/.*' makes them)");
		goto out;
	}
	mb_write(o, &M, &ymin, &ymax);
	/* the 1-thread peaks of this machine, when measured */
	if (roof_path && !exists(roof_path)) {
		nopeak = "no roofline.json (./bench --roofline)";
	} else if (roof_path) {
		rc = roof_load(roof_path, NULL, cpu, 1, &rroot, &rf);
		if (rc == EXIT_BAD)
			goto out;
		nopeak = "no roofline of this machine (./bench --roofline)";
		if (rc)
			rf.n_isa = 0;
	}
	fprintf(o, "n_peak = %zu\n", rf.n_isa);
	gp_str_array(o, "peak_name", rf.isa, rf.n_isa);
	gp_num_array(o, "peak", rf.peak, rf.n_isa);
	for (size_t i = 0; i < rf.n_isa; i++)
		ymax = fmax(ymax, rf.peak[i]);
	fprintf(o, "ymin = %.6g\nymax = %.6g\n", pow(10, floor(log10(ymin / 1.5))),
		pow(10, ceil(log10(ymax * 1.5))));
	gp_var(o, "title", "Microbench: matmul_q8 GMAC/s per variant, weight shape "
	       "(rows x cols) and tokens per call, 1 thread (./microbench)");
	snprintf(buf, sizeof buf, "%s | rev %s | microbench %s, median of the "
		 "repetitions, bars = +- 1 sd; weights hot in cache",
		 cpu ? cpu : "CPU not recorded", rev ? rev : "not recorded in "
		 "microbench.json", date ? date : "(no date)");
	if (rf.n_isa)
		cat(buf, sizeof buf, "\ndashed: int8 peaks at 1 thread from %s (measured "
		    "%s, best of its runs)", base_name(roof_path), rf.measured_at);
	else
		cat(buf, sizeof buf, "\nno peak line: %s", nopeak);
	if (M.errors)
		cat(buf, sizeof buf, " | %d benchmark%s reported an error (left blank)",
		    M.errors, M.errors == 1 ? "" : "s");
	gp_footnote(o, buf);
	rc = 0;
out:
	json_decref(rroot);
	json_decref(root);
	return rc;
}

/* --- main -------------------------------------------------------------------- */

static int usage(void)
{
	fputs("usage: plotdata roofline   ROOFLINE_JSON RUNS_JSONL [-o OUT]\n"
	      "       plotdata profile    RUNS_JSONL [-o OUT]\n"
	      "       plotdata tune       TUNE_LOG_JSONL [BEST_CONFIG_JSON] [-o OUT]\n"
	      "       plotdata regression PERF_REPORT_JSON [-o OUT]\n"
	      "       plotdata scaling    RUNS_JSONL [-o OUT]\n"
	      "       plotdata microbench MICROBENCH_JSON [ROOFLINE_JSON] [-o OUT]\n"
	      "Writes the gnuplot data plots/<plot>.gp loads. Exit 1: bad input; "
	      "3: nothing to plot.\n", stderr);
	return EXIT_USAGE;
}

/* 1 if path exists and is not a regular file (after symlinks). */
static int out_not_regular(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && !S_ISREG(st.st_mode);
}

int main(int argc, char **argv)
{
	const char *out = NULL, *arg[3] = { NULL, NULL, NULL };
	int narg = 0, rc;
	char *text = NULL;
	size_t len = 0;
	FILE *o;

	if (argc < 2)
		return usage();
	g_plot = argv[1];
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "-o") && i + 1 < argc)
			out = argv[++i];
		else if (argv[i][0] == '-' || narg == 3)
			return usage();
		else
			arg[narg++] = argv[i];
	}
	o = open_memstream(&text, &len);
	if (!o) {
		perror("plotdata");
		return EXIT_BAD;
	}
	fprintf(o, "# written by plotdata %s: gnuplot input for plots/%s.gp\n",
		g_plot, g_plot);
	if (!strcmp(g_plot, "roofline") && narg == 2)
		rc = cmd_roofline(arg[0], arg[1], o);
	else if (!strcmp(g_plot, "profile") && narg == 1)
		rc = cmd_profile(arg[0], o);
	else if (!strcmp(g_plot, "tune") && (narg == 1 || narg == 2))
		rc = cmd_tune(arg[0], arg[1], o);
	else if (!strcmp(g_plot, "regression") && narg == 1)
		rc = cmd_regression(arg[0], o);
	else if (!strcmp(g_plot, "scaling") && narg == 1)
		rc = cmd_scaling(arg[0], o);
	else if (!strcmp(g_plot, "microbench") && (narg == 1 || narg == 2))
		rc = cmd_microbench(arg[0], arg[1], o);
	else
		rc = -1;
	fclose(o);
	if (rc == -1) {
		free(text);
		return usage();
	}
	if (rc) {
		fprintf(stderr, "plotdata: %s\n", g_err);
		free(text);
		return rc;
	}
	if (!out) {
		rc = fwrite(text, 1, len, stdout) == len && fflush(stdout) == 0 ? 0 : EXIT_BAD;
	} else if (out_not_regular(out)) {
		/* renaming over it would replace a device (-o /dev/null as
		 * root) or a FIFO with a regular file */
		fprintf(stderr, "plotdata: %s: exists and is not a regular file\n",
			out);
		rc = EXIT_BAD;
	} else {
		/* the temporary file beside OUT, renamed over it when complete */
		char *tmp = malloc(strlen(out) + 16);
		FILE *f = NULL;
		if (tmp)
			sprintf(tmp, "%s.tmp%ld", out, (long)getpid());
		int bad = !tmp || !(f = fopen(tmp, "w"));
		if (!bad) {
			bad = fwrite(text, 1, len, f) != len;
			bad |= fclose(f) != 0;
			bad = bad || rename(tmp, out) != 0;
		}
		if (bad) {
			fprintf(stderr, "plotdata: %s: %s\n", out, strerror(errno));
			if (tmp)
				remove(tmp);
			rc = EXIT_BAD;
		}
		free(tmp);
	}
	free(text);
	return rc;
}

/* test_bench.c - the run record: its schema (docs/results.schema.json,
 * checked by tests/schema.h), the runs.jsonl file and its CSV view
 * (harness/results.c), and ./bench as a user runs it.
 *
 * The ./bench tests run the top-level binary, or $Q8TUNE_BENCH, and are
 * skipped with a message when it is absent.  Each works in its own
 * mkdtemp directory with a synthetic model (model/synth.h), so nothing
 * depends on ../shared or on results/ of the checkout.  Timings are never
 * asserted: only what must hold for any timing. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common.h"
#include "gguf_write.h"
#include "results.h"
#include "run.h"
#include "schema.h"
#include "stats.h"
#include "synth.h"

#define SCHEMA_PATH "docs/results.schema.json"

/* --- helpers ---------------------------------------------------------- */

struct fx {
	char dir[64];
	char model[128];
	char results[128];
};

/* Writes a synthetic gemma model to path: the tiny shape (2 layers, embd
 * 128, 2 heads of 64, 1 KV head, ff 256), or with big a wider one (embd
 * 512, ff 1536) whose ops dominate a pass enough for the profile's
 * shares to add up (the timestamps around ops cost the same per op). */
static void write_model(const char *path, int big)
{
	struct synth_cfg c;
	struct synth *s = NULL;
	char err[512] = "";

	synth_default(&c, SYNTH_GEMMA);
	c.n_layer = 2;
	c.n_embd = big ? 512 : 128;
	c.n_head = 2;
	c.n_head_kv = 1;
	c.head_dim = big ? 128 : 64;
	c.n_ff = big ? 1536 : 256;
	c.n_ctx = 256;
	c.seed = 7;
	cr_assert_eq(synth_create(&c, &s, err, sizeof err), 0, "synth: %s", err);
	cr_assert_eq(gguf_w_write(synth_writer(s), path, err, sizeof err), 0,
		     "%s", err);
	synth_free(s);
}

static void fx_open(struct fx *f, int big)
{
	memset(f, 0, sizeof *f);
	test_tmpdir(f->dir, sizeof f->dir, "bench");
	snprintf(f->model, sizeof f->model, "%s/m.gguf", f->dir);
	snprintf(f->results, sizeof f->results, "%s/runs.jsonl", f->dir);
	write_model(f->model, big);
}

/* Removes dir and everything under it (two levels are all we make). */
static void rm_tree(const char *dir)
{
	char cmd[160];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "test_bench: could not remove %s\n", dir);
}

/* The whole file as a NUL-terminated string (caller frees); NULL if it
 * cannot be read.  *n (may be NULL) gets its length. */
static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *b;
	long len;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	b = malloc((size_t)len + 1);
	cr_assert_not_null(b);
	cr_assert_eq(fread(b, 1, (size_t)len, f), (size_t)len);
	b[len] = '\0';
	fclose(f);
	if (n)
		*n = (size_t)len;
	return b;
}

static void spit(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	cr_assert_eq(fwrite(text, 1, strlen(text), f), strlen(text));
	fclose(f);
}

/* The '\n'-terminated lines of text parsed as JSON, in an array (a line
 * that is not JSON fails the test). */
static json_t *parse_lines(const char *text)
{
	json_t *a = json_array();
	const char *p = text, *nl;

	while ((nl = strchr(p, '\n'))) {
		json_error_t je;
		json_t *o = json_loadb(p, (size_t)(nl - p), 0, &je);
		cr_assert_not_null(o, "line %zu is not JSON: %s",
				   json_array_size(a) + 1, je.text);
		json_array_append_new(a, o);
		p = nl + 1;
	}
	cr_assert_eq(*p, '\0', "the file does not end with '\\n': '%.40s'", p);
	return a;
}

/* a and b equal, numbers within a relative rel (the record's reals are
 * written with fewer digits than a double holds). */
static int json_near(const json_t *a, const json_t *b, double rel)
{
	const char *k;
	const json_t *v;
	size_t i;

	if (!a || !b)
		return a == b;
	if (json_is_number(a) && json_is_number(b)) {
		const double x = json_number_value(a), y = json_number_value(b);
		return fabs(x - y) <= rel * fmax(fabs(x), fabs(y));
	}
	if (json_typeof(a) != json_typeof(b))
		return 0;
	if (json_is_object(a)) {
		if (json_object_size(a) != json_object_size(b))
			return 0;
		json_object_foreach((json_t *)a, k, v)
			if (!json_near(v, json_object_get(b, k), rel))
				return 0;
		return 1;
	}
	if (json_is_array(a)) {
		if (json_array_size(a) != json_array_size(b))
			return 0;
		json_array_foreach(a, i, v)
			if (!json_near(v, json_array_get(b, i), rel))
				return 0;
		return 1;
	}
	return json_equal(a, b);
}

static json_t *load_schema(void)
{
	json_error_t je;
	json_t *s = json_load_file(SCHEMA_PATH, 0, &je);

	cr_assert_not_null(s, "%s (run from the repository root): line %d: %s",
			   SCHEMA_PATH, je.line, je.text);
	return s;
}

static const json_t *schema_def(const json_t *schema, const char *name)
{
	const json_t *d = json_object_get(json_object_get(schema, "$defs"), name);

	cr_assert_not_null(d, "schema has no $defs/%s", name);
	return d;
}

/* x validates against sub (of root); what names x in the message. */
static void expect_valid(const json_t *root, const json_t *sub,
			 const json_t *x, const char *what)
{
	char path[512], msg[256];

	cr_expect_eq(schema_validate_at(root, sub, x, path, sizeof path, msg,
					sizeof msg), 0, "%s: %s: %s", what, path, msg);
}

/* x is rejected, and the first violation is at want_path. */
static void expect_invalid(const json_t *root, const json_t *sub,
			   const json_t *x, const char *want_path,
			   const char *want_msg)
{
	char path[512], msg[256];

	cr_expect_eq(schema_validate_at(root, sub, x, path, sizeof path, msg,
					sizeof msg), -1, "accepted, want a "
		     "violation at %s", want_path);
	cr_expect_str_eq(path, want_path, "violation at %s (%s), want %s",
			 path, msg, want_path);
	if (want_msg)
		cr_expect(strstr(msg, want_msg) != NULL, "'%s' not in: %s",
			  want_msg, msg);
}

/* One damage to a valid document: at `at` (keys and array indexes from
 * the root, '/'-separated, e.g. "rows/1/stats/median"; "+" as the last
 * part appends to an array) set the JSON text value, or delete the
 * field when value is NULL.  The validator must then name want_path and
 * say want_msg. */
struct damage {
	const char *at, *value, *want_path, *want_msg;
};

static void damage_apply(json_t *doc, const char *at, const char *value)
{
	char buf[128], *part, *next;
	json_t *parent = doc, *v = NULL;

	snprintf(buf, sizeof buf, "%s", at);
	part = buf;
	while ((next = strchr(part, '/'))) {
		*next = '\0';
		parent = json_is_array(parent) ?
			json_array_get(parent, (size_t)atoi(part)) :
			json_object_get(parent, part);
		cr_assert_not_null(parent, "%s: no '%s'", at, part);
		part = next + 1;
	}
	if (value)
		cr_assert_not_null(v = json_loads(value, JSON_DECODE_ANY, NULL),
				   "%s", value);
	if (json_is_array(parent) && !strcmp(part, "+"))
		json_array_append_new(parent, v);
	else if (json_is_array(parent) && v)
		json_array_set_new(parent, (size_t)atoi(part), v);
	else if (json_is_array(parent))
		json_array_remove(parent, (size_t)atoi(part));
	else if (v)
		json_object_set_new(parent, part, v);
	else
		json_object_del(parent, part);
}

/* Each damage of good, applied to a fresh copy, is rejected where it was
 * made. */
static void expect_damage_rejected(const json_t *root, const json_t *sub,
				   const json_t *good, const struct damage *d,
				   size_t n)
{
	for (size_t i = 0; i < n; i++) {
		json_t *bad = json_deep_copy(good);
		damage_apply(bad, d[i].at, d[i].value);
		expect_invalid(root, sub, bad, d[i].want_path, d[i].want_msg);
		json_decref(bad);
	}
}

/* A row as bench_row_run leaves it: n samples 1.00, 1.01, ... (ms). */
static struct bench_row *fake_row(enum bench_kind kind, int n_tokens, int n)
{
	struct bench_row *r = calloc(1, sizeof *r);

	cr_assert_not_null(r);
	r->kind = kind;
	r->n_tokens = n_tokens;
	r->n = n;
	for (int i = 0; i < n; i++)
		r->ms[i] = 1.0 + 0.01 * i;
	stats_summary(r->ms, n, &r->st);
	r->tok_s = (kind == ROW_PP ? n_tokens : 1) * 1e3 / r->st.median;
	r->ctr.n = 2;
	r->ctr.name[0] = "task_clock_ms";
	r->ctr.v[0] = 12.5;
	r->ctr.name[1] = "ru_nivcsw";
	r->ctr.v[1] = 1;
	r->warn = BW_CV | BW_CI;
	r->stop = STOP_BUDGET;
	r->wall_ms = 40;
	return r;
}

/* The fields results_csv reads, around rows built by bench_row_json. */
static json_t *fake_record(const char *time, const char *model_path,
			   int n_rows)
{
	json_t *rows = json_array();

	for (int i = 0; i < n_rows; i++) {
		struct bench_row *r = fake_row(i ? ROW_TG : ROW_PP, i ? 4 : 3,
					       5 + i);
		json_array_append_new(rows, bench_row_json(r));
		free(r);
	}
	return json_pack("{s:s,s:i,s:s,s:{s:s},s:{s:s},s:{s:s},s:i,s:s,s:o}",
			 "schema", RUN_SCHEMA, "schema_version", 1,
			 "time", time, "tool", "git_rev", "0123abcd",
			 "model", "path", model_path, "config", "name",
			 "default", "threads", 2, "pin", "none", "rows", rows);
}

/* Splits one CSV line (RFC 4180 quoting, no embedded newlines) into at
 * most cap fields, each copied into f[i] (64 bytes); returns the count. */
static int csv_fields(const char *line, char f[][64], int cap)
{
	int n = 0;

	while (n < cap) {
		size_t k = 0;
		if (*line == '"') {
			for (line++; *line && !(line[0] == '"' && line[1] != '"'); line++) {
				if (*line == '"')
					line++;
				if (k < 63)
					f[n][k++] = *line;
			}
			if (*line == '"')
				line++;
		} else {
			for (; *line && *line != ',' && *line != '\n'; line++)
				if (k < 63)
					f[n][k++] = *line;
		}
		f[n++][k] = '\0';
		if (*line != ',')
			break;
		line++;
	}
	return n;
}

/* The CSV columns (docs/results-format.md), -o csv's and --csv's. */
static const char csv_header[] = "time,git_rev,cpu,backend,model,model_type,"
	"model_size,model_params,weights,config,threads,pin,test,kind,n_prompt,"
	"n_gen,n_depth,n,median_ms,mad_ms,ci_lo_ms,ci_hi_ms,cv,tokens_per_s,"
	"floor_ms,pct_of_floor,ratio,ratio_ci_lo,ratio_ci_hi,p,verdict,op,calls,"
	"share,gb_s,gmac_s,pct_of_roof,overhead,overhead_ci_lo,overhead_ci_hi,"
	"attention_share,warnings\n";
#define CSV_NCOL 42

/* The index of column name in csv_header (the test fails without it). */
static int col(const char *name)
{
	char f[CSV_NCOL + 1][64];
	const int n = csv_fields(csv_header, f, CSV_NCOL + 1);

	for (int i = 0; i < n; i++)
		if (!strcmp(f[i], name))
			return i;
	cr_assert_fail("no CSV column '%s'", name);
	return -1;
}

/* --- the validator itself ---------------------------------------------- */

/* A row made by the library validates; each kind of damage is rejected
 * with the path of the damaged field. */
Test(bench, schema_row_accepts_library_row_and_names_violations)
{
	json_t *schema = load_schema();
	const json_t *row_s = schema_def(schema, "row");
	struct bench_row *r = fake_row(ROW_PP, 3, 5);
	json_t *row = bench_row_json(r);
	const struct damage damage[] = {
		{ "stats", NULL, "$", "'stats'" },
		{ "stats/n", "\"5\"", "$.stats.n", "string" },
		{ "kind", "\"decode\"", "$.kind", "enum" },
		{ "samples_ms/2", "-1.0", "$.samples_ms[2]", "minimum" },
		{ "median", "1.0", "$.median", "not allowed" },
		{ "counters/cycels", "1.0", "$.counters.cycels", "not allowed" },
		{ "stop", "1", "$.stop", "enum" },
		{ "warnings/+", "\"hot\"", "$.warnings[2]", "enum" },
		{ "unit", "\"ms\"", "$.unit", "enum" },
		{ "tokens_per_s", "true", "$.tokens_per_s", "boolean" },
	};

	cr_assert_not_null(row);
	expect_valid(schema, row_s, row, "bench_row_json");

	expect_damage_rejected(schema, row_s, row, damage,
			       sizeof damage / sizeof damage[0]);
	json_decref(row);
	free(r);
	json_decref(schema);
}

/* Each keyword of the subset on small inline schemas, including the
 * corners the draft defines (1.0 is an integer, 1 == 1.0 for const). */
Test(bench, schema_keywords)
{
	json_error_t je;
	json_t *s = json_loads(
		"{\"type\":\"object\",\"required\":[\"a\"],"
		"\"additionalProperties\":{\"type\":\"string\"},"
		"\"properties\":{"
		" \"a\":{\"type\":[\"integer\",\"null\"],\"minimum\":0,\"maximum\":9},"
		" \"b\":{\"const\":1},"
		" \"c\":{\"type\":\"array\",\"minItems\":2,\"items\":{\"$ref\":\"#/$defs/p\"}},"
		" \"d\":{\"oneOf\":[{\"type\":\"number\"},{\"type\":\"integer\"},"
		"                  {\"type\":\"string\"}]},"
		" \"e\":false},"
		"\"$defs\":{\"p\":{\"enum\":[\"x\",2]}}}", 0, &je);
	struct { const char *doc, *path, *msg; } cases[] = {
		{ "{\"a\":3,\"b\":1.0,\"c\":[\"x\",2.0],\"d\":\"s\",\"z\":\"ok\"}", NULL, NULL },
		{ "{\"a\":null}", NULL, NULL },
		{ "{\"a\":4.0}", NULL, NULL },
		{ "{}", "$", "'a'" },
		{ "[]", "$", "array" },
		{ "{\"a\":4.5}", "$.a", "number" },
		{ "{\"a\":\"4\"}", "$.a", "string" },
		{ "{\"a\":-1}", "$.a", "minimum" },
		{ "{\"a\":10}", "$.a", "maximum" },
		{ "{\"a\":1,\"b\":2}", "$.b", "constant" },
		{ "{\"a\":1,\"c\":[\"x\"]}", "$.c", "at least 2" },
		{ "{\"a\":1,\"c\":[\"x\",\"y\"]}", "$.c[1]", "enum" },
		{ "{\"a\":1,\"d\":3}", "$.d", "2 oneOf" },
		{ "{\"a\":1,\"d\":true}", "$.d", "no oneOf" },
		{ "{\"a\":1,\"e\":0}", "$.e", "schema false" },
		{ "{\"a\":1,\"z\":5}", "$.z", "integer" },
	};

	cr_assert_not_null(s, "%s", je.text);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *x = json_loads(cases[i].doc, JSON_DECODE_ANY, &je);
		cr_assert_not_null(x, "%s", cases[i].doc);
		if (cases[i].path)
			expect_invalid(s, s, x, cases[i].path, cases[i].msg);
		else
			expect_valid(s, s, x, cases[i].doc);
		json_decref(x);
	}
	json_decref(s);
}

/* A keyword the validator does not implement, or a $ref to nothing, is
 * a failure, never a silent pass. */
Test(bench, schema_refuses_what_it_cannot_check)
{
	const char *schemas[] = {
		"{\"type\":\"string\",\"pattern\":\"^a\"}",
		"{\"properties\":{\"a\":{\"anyOf\":[true]}}}",
		"{\"$ref\":\"#/$defs/nope\"}",
		"{\"items\":{\"$ref\":\"other.json#/x\"}}",
	};
	json_error_t je;
	json_t *x = json_loads("{\"a\":[\"a\"]}", 0, &je);
	char path[128], msg[256];

	for (size_t i = 0; i < sizeof schemas / sizeof schemas[0]; i++) {
		json_t *s = json_loads(schemas[i], 0, &je);
		json_t *arr = json_pack("[s]", "a");
		cr_assert_not_null(s);
		int rc = schema_validate(s, i == 3 ? arr : x, path, sizeof path,
					 msg, sizeof msg);
		cr_expect_eq(rc, -1, "%s accepted", schemas[i]);
		cr_expect(strstr(msg, "schema:") != NULL, "%s: %s", schemas[i], msg);
		json_decref(arr);
		json_decref(s);
	}
	json_decref(x);
}

/* The schema file: its own top level names every field, and the
 * enumerations the format promises are there. */
Test(bench, schema_file_declares_the_record)
{
	json_t *s = load_schema();
	const json_t *props = json_object_get(s, "properties");
	const char *req[] = { "schema", "schema_version", "time", "tool", "env",
			      "counters", "threads", "pin", "model", "config",
			      "spec", "rows" };
	const json_t *r = json_object_get(s, "required");
	char path[128], msg[256];

	cr_assert(json_is_false(json_object_get(s, "additionalProperties")));
	for (size_t i = 0; i < sizeof req / sizeof req[0]; i++) {
		int found = 0;
		for (size_t k = 0; k < json_array_size(r); k++)
			found |= !strcmp(json_string_value(json_array_get(r, k)), req[i]);
		cr_expect(found, "'%s' is not required", req[i]);
		cr_expect_not_null(json_object_get(props, req[i]), "%s", req[i]);
	}
	/* the kinds and stops of the library, by their JSON names */
	const json_t *row = schema_def(s, "row");
	json_t *pp = json_string("pp"), *mr = json_string("max_reps");
	cr_expect_eq(schema_validate_at(s, json_object_get(json_object_get(row,
		"properties"), "kind"), pp, path, sizeof path, msg, sizeof msg), 0);
	cr_expect_eq(schema_validate_at(s, json_object_get(json_object_get(row,
		"properties"), "stop"), mr, path, sizeof path, msg, sizeof msg), 0);
	json_decref(pp);
	json_decref(mr);
	/* the counter status is an object with all its parts required */
	const json_t *cs = schema_def(s, "counter_status");
	cr_expect_eq(json_array_size(json_object_get(cs, "required")), 7);
	json_decref(s);
}

/* --- results_append and results_csv ------------------------------------ */

Test(bench, append_creates_folder_and_writes_whole_lines)
{
	char dir[96], path[128], err[256] = "";
	json_t *a, *b, *lines;
	char *text;

	test_tmpdir(dir, sizeof dir, "res");
	snprintf(path, sizeof path, "%s/sub/deeper/runs.jsonl", dir);
	a = fake_record("2026-12-01T07:00:00Z", "a.gguf", 2);
	b = fake_record("2026-12-01T07:00:01Z", "b.gguf", 1);
	cr_assert_eq(results_append(path, a, err, sizeof err), 0, "%s", err);
	cr_assert_eq(results_append(path, b, err, sizeof err), 0, "%s", err);
	text = slurp(path, NULL);
	cr_assert_not_null(text);
	lines = parse_lines(text);
	cr_assert_eq(json_array_size(lines), 2, "%s", text);
	cr_expect(json_near(json_array_get(lines, 0), a, 1e-9), "line 1 differs");
	cr_expect(json_near(json_array_get(lines, 1), b, 1e-9), "line 2 differs");
	json_decref(lines);
	free(text);
	json_decref(a);
	json_decref(b);
	rm_tree(dir);
}

/* A torn last line (a writer killed mid-line) is cut; earlier lines are
 * kept byte for byte; a file that is nothing but a torn line ends up
 * holding just the new line. */
Test(bench, append_cuts_a_torn_last_line)
{
	char dir[96], path[128], err[256] = "";
	const char first[] = "{\"schema\":\"someone-else\",\"x\":1}\n";
	json_t *rec = fake_record("2026-12-01T07:00:00Z", "m.gguf", 1), *lines;
	char *text;

	test_tmpdir(dir, sizeof dir, "res");
	snprintf(path, sizeof path, "%s/runs.jsonl", dir);
	spit(path, "{\"schema\":\"someone-else\",\"x\":1}\n{\"schema\":\"q8tune-r");
	cr_assert_eq(results_append(path, rec, err, sizeof err), 0, "%s", err);
	text = slurp(path, NULL);
	cr_assert_eq(strncmp(text, first, strlen(first)), 0, "%s", text);
	lines = parse_lines(text);
	cr_expect_eq(json_array_size(lines), 2, "%s", text);
	cr_expect(json_near(json_array_get(lines, 1), rec, 1e-9));
	json_decref(lines);
	free(text);

	spit(path, "{\"torn\":");
	cr_assert_eq(results_append(path, rec, err, sizeof err), 0, "%s", err);
	text = slurp(path, NULL);
	lines = parse_lines(text);
	cr_expect_eq(json_array_size(lines), 1, "%s", text);
	cr_expect(json_near(json_array_get(lines, 0), rec, 1e-9));
	json_decref(lines);
	free(text);
	json_decref(rec);
	rm_tree(dir);
}

Test(bench, append_error_names_the_file)
{
	char dir[96], path[160], file[128], err[256] = "";
	json_t *rec = fake_record("2026-12-01T07:00:00Z", "m.gguf", 1);
	struct stat st;

	test_tmpdir(dir, sizeof dir, "res");
	snprintf(file, sizeof file, "%s/plain", dir);
	spit(file, "not a folder\n");
	snprintf(path, sizeof path, "%s/runs.jsonl", file);
	cr_expect_eq(results_append(path, rec, err, sizeof err), -1);
	cr_expect(strstr(err, path) != NULL, "path not named: %s", err);
	cr_expect_eq(stat(path, &st), -1);
	json_decref(rec);
	rm_tree(dir);
}

/* One CSV line per row of every q8tune record; foreign, non-JSON and
 * torn lines skipped and counted; fields quoted when they hold a comma. */
Test(bench, csv_one_line_per_row)
{
	char dir[96], path[128], err[256] = "";
	json_t *a = fake_record("2026-12-01T07:00:00Z", "dir,1/m.gguf", 2);
	json_t *b = fake_record("2026-12-01T07:00:09Z", "b.gguf", 1);
	char *a_s = json_dumps(a, JSON_COMPACT), *b_s = json_dumps(b, JSON_COMPACT);
	char *text = NULL, f[CSV_NCOL + 2][64];
	size_t len = 0;
	int skipped = -1;
	FILE *out = open_memstream(&text, &len);

	test_tmpdir(dir, sizeof dir, "res");
	snprintf(path, sizeof path, "%s/runs.jsonl", dir);
	char *file = malloc(strlen(a_s) + strlen(b_s) + 200);
	sprintf(file, "%s\n{\"schema\":\"other\",\"rows\":[]}\nnot json\n%s\n"
		"{\"schema\":\"q8tune-run\",\"rows\":[", a_s, b_s);
	spit(path, file);
	cr_assert_eq(results_csv(path, out, &skipped, err, sizeof err), 0, "%s", err);
	fclose(out);
	cr_expect_eq(skipped, 3);
	cr_assert_eq(strncmp(text, csv_header, strlen(csv_header)), 0, "%s", text);
	cr_assert_eq(count_lines(text), 4, "%s", text);

	/* pp3 of a: samples 1.00 .. 1.04, median 1.02, MAD 0.01,
	 * 3 tokens / 1.02 ms = 2941.18 tokens/s */
	const char *l1 = strchr(text, '\n') + 1;
	cr_assert_eq(csv_fields(l1, f, CSV_NCOL + 2), CSV_NCOL, "%s", l1);
	cr_expect_str_eq(f[col("time")], "2026-12-01T07:00:00Z");
	cr_expect_str_eq(f[col("git_rev")], "0123abcd");
	cr_expect_str_eq(f[col("model")], "dir,1/m.gguf");
	cr_expect(strstr(l1, ",\"dir,1/m.gguf\",") != NULL, "not quoted: %s", l1);
	cr_expect_str_eq(f[col("model_type")], "", "no arch: no type");
	cr_expect_str_eq(f[col("config")], "default");
	cr_expect_str_eq(f[col("threads")], "2");
	cr_expect_str_eq(f[col("pin")], "none");
	cr_expect_str_eq(f[col("test")], "pp3");
	cr_expect_str_eq(f[col("kind")], "pp");
	cr_expect_str_eq(f[col("n_prompt")], "3");
	cr_expect_str_eq(f[col("n_gen")], "0");
	cr_expect_str_eq(f[col("n_depth")], "0");
	cr_expect_str_eq(f[col("n")], "5");
	cr_expect_str_eq(f[col("median_ms")], "1.02");
	cr_expect_str_eq(f[col("mad_ms")], "0.01");
	const double lo = atof(f[col("ci_lo_ms")]), hi = atof(f[col("ci_hi_ms")]);
	cr_expect(lo >= 1.0 && lo <= 1.02, "ci_lo %g", lo);
	cr_expect(hi >= 1.02 && hi <= 1.04, "ci_hi %g", hi);
	cr_expect_str_eq(f[col("tokens_per_s")], "2941.18");
	cr_expect_str_eq(f[col("floor_ms")], "", "no roofline: empty");
	cr_expect_str_eq(f[col("warnings")], "cv>5%;ci_target_not_reached");

	/* tg4 of a: 6 samples 1.00 .. 1.05, median 1.025 */
	const char *l2 = strchr(l1, '\n') + 1;
	cr_assert_eq(csv_fields(l2, f, CSV_NCOL + 2), CSV_NCOL, "%s", l2);
	cr_expect_str_eq(f[col("test")], "tg4");
	cr_expect_str_eq(f[col("n_prompt")], "0");
	cr_expect_str_eq(f[col("n_gen")], "4");
	cr_expect_str_eq(f[col("n")], "6");
	cr_expect_str_eq(f[col("median_ms")], "1.025");
	cr_expect_str_eq(f[col("tokens_per_s")], "975.61");

	const char *l3 = strchr(l2, '\n') + 1;
	cr_assert_eq(csv_fields(l3, f, CSV_NCOL + 2), CSV_NCOL, "%s", l3);
	cr_expect_str_eq(f[col("time")], "2026-12-01T07:00:09Z");
	cr_expect_str_eq(f[col("model")], "b.gguf");
	cr_expect_str_eq(f[col("test")], "pp3");

	free(text);
	free(file);
	free(a_s);
	free(b_s);
	json_decref(a);
	json_decref(b);
	rm_tree(dir);
}

Test(bench, csv_missing_file_names_it)
{
	char err[256] = "";
	int skipped;
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	cr_expect_eq(results_csv("/tmp/q8t-no-such-dir/runs.jsonl", out,
				 &skipped, err, sizeof err), -1);
	fclose(out);
	cr_expect(strstr(err, "/tmp/q8t-no-such-dir/runs.jsonl") != NULL, "%s", err);
	free(text);
}

/* --- ./bench ----------------------------------------------------------- */

static const char *bench_bin(void)
{
	const char *p = getenv("Q8TUNE_BENCH");

	if (!p || !*p)
		p = "./bench";
	if (access(p, X_OK))
		cr_skip_test("%s is not built (make bench, or set Q8TUNE_BENCH); "
			     "skipped", p);
	return p;
}

/* Runs ./bench --model f->model --reps 3 --budget 1 --gen 4 extra... */
static void run_bench(const struct fx *f, const char *const *extra,
		      struct proc *p)
{
	const char *argv[32] = { bench_bin(), "--model", f->model, "--reps",
				 "3", "--budget", "1", "--gen", "4" };
	int n = 9;

	for (; extra && *extra; extra++) {
		cr_assert(n < 31);
		argv[n++] = *extra;
	}
	argv[n] = NULL;
	run_argv((char *const *)argv, p);
	cr_assert(!WIFSIGNALED(p->status), "killed by signal %d; stderr: %s",
		  WTERMSIG(p->status), p->err);
}

static void expect_ok(const struct proc *p)
{
	cr_assert(WIFEXITED(p->status) && WEXITSTATUS(p->status) == 0,
		  "exit %d; stderr: %s", WEXITSTATUS(p->status), p->err);
}

/* stdout must be exactly one JSON object. */
static json_t *stdout_json(const struct proc *p)
{
	json_error_t je;
	json_t *o = json_loads(p->out, 0, &je);

	cr_assert_not_null(o, "stdout is not one JSON object (%s): %.300s",
			   je.text, p->out);
	return o;
}

static double num(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);

	cr_assert(json_is_number(v), "'%s' is not a number", k);
	return json_number_value(v);
}

static int cmp_double(const void *a, const void *b)
{
	const double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* What must hold for any row, whatever the timings: samples == n >= 3,
 * the median (recomputed here from the samples) within [min, max] and
 * the CI, tokens/s from the median, the unit and test name of its kind. */
static void check_row_n(const json_t *row, enum bench_kind kind,
			int n_tokens, int min_n)
{
	const json_t *st = json_object_get(row, "stats");
	const json_t *smp = json_object_get(row, "samples_ms");
	const int n = (int)num(st, "n");
	char test[16];
	double *x;

	snprintf(test, sizeof test, "%s%d", kind == ROW_PP ? "pp" : "tg", n_tokens);
	cr_expect_str_eq(json_string_value(json_object_get(row, "test")), test);
	cr_expect_str_eq(json_string_value(json_object_get(row, "unit")),
			 kind == ROW_PP ? "ms/batch" : "ms/token");
	cr_expect_eq((int)num(row, "n_tokens"), n_tokens);
	cr_expect(n >= min_n, "%s: n = %d, want >= %d", test, n, min_n);
	cr_assert_eq((int)json_array_size(smp), n, "%s: %zu samples, n = %d",
		     test, json_array_size(smp), n);
	x = malloc(sizeof(double) * (size_t)n);
	for (int i = 0; i < n; i++)
		x[i] = json_number_value(json_array_get(smp, (size_t)i));
	qsort(x, (size_t)n, sizeof *x, cmp_double);
	const double med = n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
	const double m = num(st, "median");
	cr_expect(fabs(m - med) <= 1e-8 * med, "%s: median %.10g, samples give "
		  "%.10g", test, m, med);
	cr_expect(num(st, "min") == x[0] && num(st, "max") == x[n - 1],
		  "%s: min/max", test);
	cr_expect(num(st, "min") <= m && m <= num(st, "max"), "%s", test);
	cr_expect(num(st, "ci_lo") <= num(st, "ci_hi") &&
		  num(st, "ci_lo") >= x[0] && num(st, "ci_hi") <= x[n - 1],
		  "%s: CI [%g, %g] outside the samples", test, num(st, "ci_lo"),
		  num(st, "ci_hi"));
	const double tps = (kind == ROW_PP ? n_tokens : 1) * 1e3 / m;
	cr_expect(fabs(num(row, "tokens_per_s") - tps) <= 1e-6 * tps,
		  "%s: %g tokens/s, median gives %g", test,
		  num(row, "tokens_per_s"), tps);
	free(x);
}

/* A row of a run with --reps 3. */
static void check_row(const json_t *row, enum bench_kind kind, int n_tokens)
{
	check_row_n(row, kind, n_tokens, 3);
}

/* Rows pp3 (BOS + "Hello world") and tg4, in that order. */
static void check_rows(const json_t *rows)
{
	cr_assert_eq(json_array_size(rows), 2);
	check_row(json_array_get(rows, 0), ROW_PP, 3);
	check_row(json_array_get(rows, 1), ROW_TG, 4);
}

static void check_counters(const json_t *rec)
{
	const json_t *c = json_object_get(rec, "counters");
	const char *st = json_string_value(json_object_get(c, "status"));

	cr_assert_not_null(st);
	cr_expect(strncmp(st, "hardware counters: ", 19) == 0, "status: %s", st);
	if (json_is_false(json_object_get(c, "hardware")))
		cr_expect(*json_string_value(json_object_get(c, "hardware_why")),
			  "hardware off without a reason");
}

/* A ./bench run in a folder of its own, and the schema to check it by. */
struct brun {
	struct fx f;
	struct proc p;
	json_t *schema;
};

static void brun_open(struct brun *r, int big)
{
	memset(r, 0, sizeof *r);
	fx_open(&r->f, big);
	r->schema = load_schema();
}

static void brun_close(struct brun *r)
{
	json_decref(r->schema);
	proc_free(&r->p);
	rm_tree(r->f.dir);
}

/* Runs ./bench as run_bench does, expects exit 0 and returns stdout as
 * the JSON record, checked against the schema (the run must use -o json). */
static json_t *brun_json(struct brun *r, const char *const *extra)
{
	json_t *rec;

	proc_free(&r->p);
	run_bench(&r->f, extra, &r->p);
	expect_ok(&r->p);
	rec = stdout_json(&r->p);
	expect_valid(r->schema, r->schema, rec, "-o json");
	return rec;
}

/* The lines of the results file, each checked against the schema;
 * fails the test unless there are want of them. */
static json_t *brun_lines(const struct brun *r, size_t want)
{
	char *text = slurp(r->f.results, NULL);
	json_t *lines;

	cr_assert_not_null(text, "%s was not written", r->f.results);
	lines = parse_lines(text);
	cr_assert_eq(json_array_size(lines), want, "%s", text);
	for (size_t i = 0; i < want; i++)
		expect_valid(r->schema, r->schema, json_array_get(lines, i),
			     "runs.jsonl line");
	free(text);
	return lines;
}

/* -o json: stdout and the line appended to --results are the same
 * record, valid against the schema; a damaged copy of the real record is
 * rejected at the damaged field. */
Test(bench, json_record_validates, .timeout = 30)
{
	struct brun r;
	const struct damage damage[] = {
		{ "counters", NULL, "$", "'counters'" },
		{ "counters/hardware", "\"no\"", "$.counters.hardware", "string" },
		{ "counters/status", NULL, "$.counters", "'status'" },
		{ "rows/1/stats/median", "\"fast\"", "$.rows[1].stats.median", "string" },
		{ "schema", "\"q8tune-run2\"", "$.schema", "constant" },
		{ "pin", "\"all\"", "$.pin", "enum" },
		{ "model/weights", "\"q4\"", "$.model.weights", "enum" },
		{ "env/machine/l3", "-1", "$.env.machine.l3", "minimum" },
		{ "config/scratch", "3", "$.config.scratch", "enum" },
	};

	brun_open(&r, 0);
	const char *extra[] = { "-o", "json", "--results", r.f.results, NULL };
	json_t *rec = brun_json(&r, extra), *lines = brun_lines(&r, 1);
	cr_expect(json_equal(json_array_get(lines, 0), rec),
		  "the recorded line differs from -o json");
	check_rows(json_object_get(rec, "rows"));
	check_counters(rec);
	cr_expect_eq(num(json_object_get(rec, "spec"), "n_prompt"), 3);
	expect_damage_rejected(r.schema, r.schema, rec, damage,
			       sizeof damage / sizeof damage[0]);
	json_decref(lines);
	json_decref(rec);
	brun_close(&r);
}

/* --profile: per pass, the ops add up to the pass (a wider model, so the
 * timestamps' own cost stays small); shares recomputed from the ops. */
Test(bench, profile_shares_add_up, .timeout = 30)
{
	struct brun r;
	const char *want[] = { "pp3", "tg4" };
	/* one sample's passes (its times the medians over --reps 3):
	 * pp evaluates the batch once, tg one pass per token */
	const int passes[] = { 1, 4 };

	brun_open(&r, 1);
	const char *extra[] = { "--profile", "-o", "json", "--no-record", NULL };
	json_t *rec = brun_json(&r, extra);
	const json_t *prof = json_object_get(rec, "profile");
	cr_assert_eq(json_array_size(prof), 2, "profile entries");
	for (size_t i = 0; i < 2; i++) {
		const json_t *e = json_array_get(prof, i), *op;
		const double share = num(e, "sum_of_ops_share");
		double sum = 0, sum_ms = 0;
		size_t k;
		cr_expect_str_eq(json_string_value(json_object_get(e, "test")), want[i]);
		cr_expect_eq((int)num(e, "passes"), passes[i], "%s: %d passes",
			     want[i], (int)num(e, "passes"));
		cr_expect(share >= 0.95 && share <= 1.0001, "%s: ops are %.4f of "
			  "the pass", want[i], share);
		json_array_foreach(json_object_get(e, "ops"), k, op) {
			sum += num(op, "share");
			sum_ms += num(op, "ms_per_pass");
		}
		cr_expect(fabs(sum - share) <= 1e-6, "%s: shares sum to %.6f, "
			  "sum_of_ops_share %.6f", want[i], sum, share);
		cr_expect(fabs(sum_ms / num(e, "pass_ms") - share) <= 1e-6,
			  "%s: ms per pass", want[i]);
	}
	cr_expect(access(r.f.results, F_OK) != 0, "--no-record wrote %s",
		  r.f.results);
	json_decref(rec);
	brun_close(&r);
}

/* --reps 1: a row may stop after one sample (its CI has no width), and
 * must still be recorded, with sd and cv null (no spread to estimate). */
Test(bench, one_sample_rows_are_recorded, .timeout = 30)
{
	struct brun r;
	const char *extra[] = { "--reps", "1", "-o", "json", "--no-record", NULL };

	brun_open(&r, 0);
	json_t *rec = brun_json(&r, extra);
	const json_t *rows = json_object_get(rec, "rows");
	cr_assert_eq(json_array_size(rows), 2, "rows lost: %zu",
		     json_array_size(rows));
	for (size_t i = 0; i < 2; i++) {
		const json_t *row = json_array_get(rows, i);
		const json_t *st = json_object_get(row, "stats");
		check_row_n(row, i ? ROW_TG : ROW_PP, i ? 4 : 3, 1);
		if (num(st, "n") == 1)
			cr_expect(json_is_null(json_object_get(st, "sd")) &&
				  json_is_null(json_object_get(st, "cv")),
				  "n = 1: sd and cv should be null");
	}
	json_decref(rec);
	brun_close(&r);
}

/* One comparison of an A/A run: its fields agree with each other and
 * with the rows they come from. */
static void check_ab(const json_t *e, enum bench_kind kind, int n_tokens)
{
	const json_t *a = json_object_get(e, "a"), *b = json_object_get(e, "b");
	const double r = num(e, "ratio_b_over_a"), lo = num(e, "ratio_ci_lo");
	const double hi = num(e, "ratio_ci_hi"), pv = num(e, "mann_whitney_p");
	const double u = num(e, "mann_whitney_u");
	const int na = (int)num(json_object_get(a, "stats"), "n");
	const int nb = (int)num(json_object_get(b, "stats"), "n");
	const double want = num(json_object_get(b, "stats"), "median") /
		num(json_object_get(a, "stats"), "median");
	const int sig = pv < 0.05 && (lo > 1 || hi < 1);

	check_row(a, kind, n_tokens);
	check_row(b, kind, n_tokens);
	cr_expect_eq(na, nb, "interleaved A B A B: %d and %d samples", na, nb);
	cr_expect(lo <= r && r <= hi, "ratio %g outside its CI [%g, %g]", r, lo, hi);
	cr_expect(pv >= 0 && pv <= 1, "p = %g", pv);
	cr_expect(u >= 0 && u <= (double)na * nb, "U = %g", u);
	cr_expect(fabs(r - want) <= 1e-8 * want, "ratio %.10g, medians give "
		  "%.10g", r, want);
	/* A against itself: far from any real speed-up */
	cr_expect(r > 0.5 && r < 2, "A/A ratio %g", r);
	cr_expect_eq(json_is_true(json_object_get(e, "significant")), sig);
	cr_expect_eq(json_is_true(json_object_get(e, "practical")),
		     sig && fabs(r - 1) > 0.01);
}

/* --ab default default: an A/A comparison.  Whether it comes out as "no
 * difference" is noise on a shared machine, so that is not asserted. */
Test(bench, ab_fields_consistent, .timeout = 30)
{
	struct brun r;

	brun_open(&r, 0);
	const char *extra[] = { "-o", "json", "--results", r.f.results, "--ab",
				"default", "default", NULL };
	json_t *rec = brun_json(&r, extra), *lines = brun_lines(&r, 1);
	const json_t *ab = json_object_get(rec, "ab");
	cr_expect_str_eq(json_string_value(json_object_get(json_object_get(rec,
		"config"), "name")), "ab");
	cr_expect_eq(json_array_size(json_object_get(rec, "rows")), 0);
	cr_assert_eq(json_array_size(ab), 2);
	check_ab(json_array_get(ab, 0), ROW_PP, 3);
	check_ab(json_array_get(ab, 1), ROW_TG, 4);
	json_decref(lines);
	json_decref(rec);
	brun_close(&r);
}

/* Two runs append two valid lines; the first is not touched by the
 * second. */
Test(bench, two_runs_append_two_lines, .timeout = 30)
{
	struct brun r;
	char *first, *text;
	size_t n1;

	brun_open(&r, 0);
	const char *extra[] = { "--results", r.f.results, NULL };
	run_bench(&r.f, extra, &r.p);
	expect_ok(&r.p);
	first = slurp(r.f.results, &n1);
	cr_assert_not_null(first);
	proc_free(&r.p);
	run_bench(&r.f, extra, &r.p);
	expect_ok(&r.p);
	text = slurp(r.f.results, NULL);
	cr_expect_eq(strncmp(text, first, n1), 0, "the first line changed");
	json_t *lines = brun_lines(&r, 2);
	for (size_t i = 0; i < 2; i++)
		check_rows(json_object_get(json_array_get(lines, i), "rows"));
	json_decref(lines);
	free(text);
	free(first);
	brun_close(&r);
}

/* A torn last line left by a killed run is cut by the next run; the line
 * before it stays. */
Test(bench, torn_line_is_cut_by_the_next_run, .timeout = 30)
{
	struct brun r;
	const char earlier[] = "{\"schema\":\"q8tune-run\",\"note\":\"earlier\"}\n";
	char *text;

	brun_open(&r, 0);
	spit(r.f.results, "{\"schema\":\"q8tune-run\",\"note\":\"earlier\"}\n"
	     "{\"schema\":\"q8tune-run\",\"schema_version\":1,\"time\":\"2026-");
	const char *extra[] = { "--results", r.f.results, "-o", "md", NULL };
	run_bench(&r.f, extra, &r.p);
	expect_ok(&r.p);
	text = slurp(r.f.results, NULL);
	cr_expect_eq(strncmp(text, earlier, strlen(earlier)), 0, "%.200s", text);
	json_t *lines = parse_lines(text);
	cr_assert_eq(json_array_size(lines), 2, "%s", text);
	expect_valid(r.schema, r.schema, json_array_get(lines, 1), "appended line");
	json_decref(lines);
	free(text);
	brun_close(&r);
}

/* ./bench -o csv prints exactly what ./bench --csv=FILE prints of the
 * record it appended: the same columns and values; rows, then the profile
 * (a pass line and a line per op), every line with the same number of
 * fields, agreeing with the record; the run's header lines go to stderr. */
Test(bench, csv_view_of_a_run, .timeout = 30)
{
	struct brun r;
	char opt[160], f[CSV_NCOL + 2][64];

	brun_open(&r, 0);
	const char *extra[] = { "-o", "csv", "--profile", "--results", r.f.results,
				NULL };
	run_bench(&r.f, extra, &r.p);
	expect_ok(&r.p);
	char *run_out = strdup(r.p.out);
	json_t *lines = brun_lines(&r, 1);
	const json_t *rec = json_array_get(lines, 0);
	snprintf(opt, sizeof opt, "--csv=%s", r.f.results);
	char *argv[] = { (char *)bench_bin(), opt, NULL };
	proc_free(&r.p);
	run_argv(argv, &r.p);
	expect_ok(&r.p);
	cr_expect_str_eq(r.p.err, "");
	cr_expect_str_eq(run_out, r.p.out, "-o csv and --csv differ");
	cr_assert_eq(strncmp(r.p.out, csv_header, strlen(csv_header)), 0, "%s",
		     r.p.out);
	const json_t *prof = json_object_get(rec, "profile");
	size_t want = 2;
	for (size_t i = 0; i < json_array_size(prof); i++)
		want += 1 + json_array_size(json_object_get(json_array_get(prof, i),
							    "ops"));
	cr_assert_eq(count_lines(r.p.out), 1 + (int)want, "%s", r.p.out);
	const char *line = r.p.out;
	for (size_t i = 0; i < want; i++) {
		line = strchr(line, '\n') + 1;
		cr_assert_eq(csv_fields(line, f, CSV_NCOL + 2), CSV_NCOL, "%s", line);
		cr_expect_str_eq(f[col("time")],
				 json_string_value(json_object_get(rec, "time")));
		cr_expect_str_eq(f[col("model")], r.f.model);
		cr_expect_str_eq(f[col("model_type")], "gemma 2L 128d");
		cr_expect(atof(f[col("model_size")]) > 0 &&
			  atof(f[col("model_params")]) > 0, "%s", line);
		cr_expect(strchr(line, '%') == NULL || strstr(line, "cv>5%"),
			  "a %% sign outside the warnings: %s", line);
		if (i >= 2) {
			cr_expect_str_eq(f[col("kind")], "profile");
			continue;
		}
		const json_t *row = json_array_get(json_object_get(rec, "rows"), i);
		const json_t *st = json_object_get(row, "stats");
		char want_s[32];
		cr_expect_str_eq(f[col("test")],
				 json_string_value(json_object_get(row, "test")));
		cr_expect_eq(atoi(f[col("n")]), (int)num(st, "n"));
		snprintf(want_s, sizeof want_s, "%.6g", num(st, "median"));
		cr_expect_str_eq(f[col("median_ms")], want_s);
	}
	free(run_out);
	json_decref(lines);
	brun_close(&r);
}

/* `--csv FILE` (usage: bench --csv [FILE]) reads FILE, as --csv=FILE does. */
Test(bench, csv_file_as_its_own_argument)
{
	char dir[96], path[128], opt[160], err[256] = "";
	json_t *rec = fake_record("2026-12-01T07:00:00Z", "m.gguf", 2);
	struct proc eq, sp;
	const char *bin = bench_bin();

	test_tmpdir(dir, sizeof dir, "res");
	snprintf(path, sizeof path, "%s/runs.jsonl", dir);
	snprintf(opt, sizeof opt, "--csv=%s", path);
	cr_assert_eq(results_append(path, rec, err, sizeof err), 0, "%s", err);
	char *a1[] = { (char *)bin, opt, NULL };
	char *a2[] = { (char *)bin, "--csv", path, NULL };
	run_argv(a1, &eq);
	run_argv(a2, &sp);
	expect_ok(&eq);
	cr_expect_eq(count_lines(eq.out), 3, "%s", eq.out);
	cr_expect(WIFEXITED(sp.status) && WEXITSTATUS(sp.status) == 0,
		  "--csv FILE: exit %d: %s", WEXITSTATUS(sp.status), sp.err);
	cr_expect_str_eq(sp.out, eq.out);
	proc_free(&eq);
	proc_free(&sp);
	json_decref(rec);
	rm_tree(dir);
}

/* Bad input: exit 1, one line on stderr starting "bench: ", nothing on
 * stdout, never a signal, and the results file untouched. */
Test(bench, bad_input_fails_cleanly, .timeout = 60)
{
	struct fx f;
	char trunc[160], cfg[160], missing[160];
	const char earlier[] = "{\"schema\":\"q8tune-run\",\"note\":\"earlier\"}\n";
	size_t n;
	char *model;

	fx_open(&f, 0);
	snprintf(trunc, sizeof trunc, "%s/trunc.gguf", f.dir);
	snprintf(cfg, sizeof cfg, "%s/bad.json", f.dir);
	snprintf(missing, sizeof missing, "%s/none.gguf", f.dir);
	model = slurp(f.model, &n);
	FILE *t = fopen(trunc, "wb");
	cr_assert_not_null(t);
	fwrite(model, 1, n / 2, t);
	fclose(t);
	free(model);
	spit(cfg, "{\"schema\": \"q8tune-best-config\", \"phases\": [\n");
	spit(f.results, earlier);

	const char *bin = bench_bin();
	struct { const char *what; const char *argv[16]; } cases[] = {
		{ "unknown flag", { bin, "--model", f.model, "--bogus" } },
		{ "missing model", { bin, "--model", missing } },
		{ "truncated model", { bin, "--model", trunc } },
		{ "--pin bogus", { bin, "--model", f.model, "--pin", "bogus" } },
		{ "-o xml", { bin, "--model", f.model, "-o", "xml" } },
		{ "--ab with one argument", { bin, "--model", f.model, "--ab", "default" } },
		{ "malformed --config", { bin, "--model", f.model, "--config", cfg } },
		{ "-p TEXT", { bin, "--model", f.model, "-p", "Hello world" } },
		{ "--n-prompt=TEXT", { bin, "-m", f.model, "--n-prompt=Hello" } },
		{ "--prompt and -p", { bin, "-m", f.model, "--prompt", "Hi", "-p", "4" } },
		{ "-d x", { bin, "-m", f.model, "-d", "x" } },
		{ "--profile=1", { bin, "-m", f.model, "--profile=1" } },
		{ "-o jsonlines", { bin, "-m", f.model, "--output=jsonlines" } },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *argv[32];
		int k = 0;
		struct proc p;
		/* the common flags first, so the case's own come last (--ab
		 * with one argument must be the end of the line) */
		argv[k++] = cases[i].argv[0];
		const char *common[] = { "--reps", "3", "--budget", "1", "--gen",
					 "4", "--results", f.results };
		for (size_t c = 0; c < sizeof common / sizeof common[0]; c++)
			argv[k++] = common[c];
		for (int j = 1; cases[i].argv[j]; j++)
			argv[k++] = cases[i].argv[j];
		argv[k] = NULL;
		run_argv((char *const *)argv, &p);
		cr_expect(!WIFSIGNALED(p.status), "%s: killed by signal %d",
			  cases[i].what, WIFSIGNALED(p.status) ? WTERMSIG(p.status) : 0);
		cr_expect(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 1,
			  "%s: exit %d, want 1; stderr: %s", cases[i].what,
			  WEXITSTATUS(p.status), p.err);
		cr_expect_eq(count_lines(p.err), 1, "%s: want one line on stderr, "
			     "got: %s", cases[i].what, p.err);
		cr_expect(strncmp(p.err, "bench: ", 7) == 0, "%s: stderr does not "
			  "start 'bench: ': %.200s", cases[i].what, p.err);
		/* -p is llama-bench's prompt sizes: a text is named as such */
		if (strstr(cases[i].what, "TEXT"))
			cr_expect(strstr(p.err, "--prompt TEXT") != NULL, "%s: %s",
				  cases[i].what, p.err);
		cr_expect_str_eq(p.out, "", "%s: stdout should be empty", cases[i].what);
		char *after = slurp(f.results, NULL);
		cr_expect_str_eq(after, earlier, "%s: the results file changed",
				 cases[i].what);
		free(after);
		proc_free(&p);
	}
	rm_tree(f.dir);
}

/* Sweeps (llama-bench's lists): --pp 4,8 --gen 2,3 --threads 1,2 is one
 * row per combination in the order threads, then pp rows, then tg rows,
 * each with its thread count; the profile follows the same cells; the
 * record lists the sweep and validates. */
Test(bench, sweep_is_one_row_per_combination, .timeout = 60)
{
	struct brun r;
	static const char *const want[] = { "pp4", "pp8", "tg2", "tg3" };

	brun_open(&r, 0);
	const char *extra[] = { "--pp", "4,8", "--gen", "2,3", "--threads", "1,2",
				"--profile", "-o", "json", "--results", r.f.results,
				NULL };
	json_t *rec = brun_json(&r, extra);
	const json_t *rows = json_object_get(rec, "rows");
	const json_t *prof = json_object_get(rec, "profile");
	cr_assert_eq(json_array_size(rows), 8);
	cr_assert_eq(json_array_size(prof), 8);
	for (size_t i = 0; i < 8; i++) {
		const json_t *row = json_array_get(rows, i), *p = json_array_get(prof, i);
		const char *test = json_string_value(json_object_get(row, "test"));
		cr_expect_str_eq(test, want[i % 4], "row %zu", i);
		cr_expect_eq(num(row, "threads"), 1 + (int)(i / 4), "row %zu", i);
		cr_expect_str_eq(json_string_value(json_object_get(p, "test")),
				 want[i % 4]);
		cr_expect_eq(num(p, "threads"), 1 + (int)(i / 4));
	}
	const json_t *sw = json_object_get(json_object_get(rec, "spec"), "sweep");
	json_t *w = json_pack("{s:[i,i],s:[i,i],s:[i,i]}", "n_prompt", 4, 8,
			      "n_gen", 2, 3, "threads", 1, 2);
	cr_expect(json_equal(sw, w), "spec.sweep is not the lists asked for");
	json_decref(w);
	json_decref(rec);

	/* a bad list: one line naming the flag */
	const char *bad[] = { "--pp", "4,,8", NULL };
	proc_free(&r.p);
	run_bench(&r.f, bad, &r.p);
	cr_expect(WIFEXITED(r.p.status) && WEXITSTATUS(r.p.status) == 1);
	cr_expect_str_eq(r.p.err, "bench: --pp: '4,,8' is not a comma-separated "
			 "list of whole numbers\n");
	brun_close(&r);
}

/* llama-bench's spellings: -m, -p sizes, -n, -t, -r, -o md; every
 * combination is a row of one Markdown table, each line carrying the
 * model, its size and parameters, the backend, threads and config; the
 * header lines go to stderr, and no progress line when stderr is not a
 * terminal. */
Test(bench, llama_bench_flags_make_one_md_table, .timeout = 60)
{
	struct fx f;
	struct proc p;
	static const char *const want[] = { "pp4", "pp8", "tg2" };

	fx_open(&f, 0);
	char mflag[200];
	snprintf(mflag, sizeof mflag, "--model=%s", f.model);
	const char *argv[] = { bench_bin(), mflag, "-p", "4,8", "-n", "2", "-t",
			       "1,2", "-r", "3", "--budget=1", "-o", "md",
			       "--no-record", NULL };
	run_argv((char *const *)argv, &p);
	expect_ok(&p);
	cr_expect(strchr(p.err, '\r') == NULL && strstr(p.err, "\033[K") == NULL,
		  "a progress line on a stderr that is not a terminal: %s", p.err);
	cr_expect(strstr(p.err, "bench: gemma") != NULL, "%s", p.err);
	const char *l = p.out;
	int rows = 0;
	cr_assert(strncmp(l, "| model | size | params | backend | threads | config "
			  "| test |", 50) == 0, "%s", p.out);
	l = strchr(l, '\n') + 1;
	cr_assert(strncmp(l, "|---|", 5) == 0, "%s", p.out);
	while ((l = strchr(l, '\n')) && *++l && *l != '\n') {
		char test[64];
		cr_assert(strncmp(l, "| gemma 2L ", 11) == 0, "not a row: %.100s", l);
		cr_expect(strstr(l, " MiB | ") && strstr(l, " M | "), "%.200s", l);
		snprintf(test, sizeof test, "| %d | default | %s |", 1 + rows / 3,
			 want[rows % 3]);
		cr_expect(strstr(l, test) != NULL, "row %d: no '%s' in %.200s", rows,
			  test, l);
		rows++;
	}
	cr_expect_eq(rows, 6, "%s", p.out);
	/* after the table only a blank line and notes (a stored roofline may
	 * put this machine's tiny-model rows above their floor) */
	cr_expect(!l || !*l || (*l == '\n' && (!l[1] || !strncmp(l + 1, "note: ", 6))),
		  "more after the table: %s", l);
	proc_free(&p);
	rm_tree(f.dir);
}

/* -d: every row again after a prefilled context, named "pp4 @ d8" with
 * n_depth; the session holds depth + prompt + decode; the profile at
 * depth reports attention's share; -o jsonl is the record on one line. */
Test(bench, depth_rows, .timeout = 60)
{
	struct brun r;
	static const char *const want[] = { "pp4", "tg2", "pp4 @ d40", "tg2 @ d40" };
	json_error_t je;

	brun_open(&r, 0);
	const char *extra[] = { "-p", "4", "-n", "2", "-d", "0,40", "-t", "1",
				"--profile", "-o", "jsonl", "--results", r.f.results,
				NULL };
	run_bench(&r.f, extra, &r.p);
	expect_ok(&r.p);
	cr_assert_eq(count_lines(r.p.out), 1, "jsonl: one line: %s", r.p.out);
	json_t *rec = json_loads(r.p.out, 0, &je);
	cr_assert_not_null(rec, "%s", je.text);
	expect_valid(r.schema, r.schema, rec, "-o jsonl");
	json_t *lines = brun_lines(&r, 1);
	cr_expect(json_equal(rec, json_array_get(lines, 0)),
		  "-o jsonl and the appended line differ");
	const json_t *rows = json_object_get(rec, "rows");
	const json_t *prof = json_object_get(rec, "profile");
	cr_assert_eq(json_array_size(rows), 4);
	cr_assert_eq(json_array_size(prof), 4);
	for (size_t i = 0; i < 4; i++) {
		const json_t *row = json_array_get(rows, i), *pe = json_array_get(prof, i);
		cr_expect_str_eq(json_string_value(json_object_get(row, "test")), want[i]);
		cr_expect_eq(num(row, "n_depth"), i < 2 ? 0 : 40, "row %zu", i);
		cr_expect_str_eq(json_string_value(json_object_get(pe, "test")), want[i]);
		cr_expect(num(pe, "attention_share") > 0 &&
			  num(pe, "attention_share") < num(pe, "sum_of_ops_share"),
			  "%s: attention share %g", want[i], num(pe, "attention_share"));
		cr_expect(num(pe, "overhead_ci_lo") <= num(pe, "overhead") &&
			  num(pe, "overhead") <= num(pe, "overhead_ci_hi"), "%s", want[i]);
	}
	/* attention reads 40 more positions per token at depth */
	cr_expect(num(json_array_get(prof, 3), "attention_ms_per_pass") >
		  num(json_array_get(prof, 1), "attention_ms_per_pass"),
		  "tg attention at d40 not slower than at d0");
	json_decref(lines);
	json_decref(rec);
	brun_close(&r);
}

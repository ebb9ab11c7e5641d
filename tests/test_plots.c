/* test_plots.c - the gnuplot plots (plots/, docs/plots.md).
 *
 * Each plot renders through `make -f plots/plots.mk` from the committed
 * sample data in plots/testdata to a PNG of its size (signature, IHDR
 * width and height, IEND) and an SVG; missing data is a skip line; bad
 * results files (missing, empty, malformed JSON, a line that is not an
 * object, a missing field) stop at build/plotdata with one line naming
 * the file and the line or field, and gnuplot never runs on them.
 *
 * Only Criterion, libc and jansson: the plots read what the tools wrote,
 * not the project's code, and so does this test.  Every test works in
 * its own temporary folder, removed by the suite's fini (which Criterion
 * runs after a failed assertion too).  Without gnuplot the rendering
 * tests are skipped with a message; the converter's are not.
 * Run from the top of the tree, like the other tests. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* mkdtemp, nftw, getline (the Makefile defines it) */
#endif
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TESTDATA "plots/testdata"
#define PLOTDATA "build/plotdata"

static char tmp[64];	/* this test's folder */

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void tmp_make(void)
{
	snprintf(tmp, sizeof tmp, "/tmp/q8t-plots-XXXXXX");
	if (!mkdtemp(tmp))
		cr_assert_fail("mkdtemp: %s", strerror(errno));
}

static void tmp_remove(void)
{
	if (tmp[0])
		nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	tmp[0] = '\0';
}

TestSuite(plots, .init = tmp_make, .fini = tmp_remove, .timeout = 120);

/* --- running commands ------------------------------------------------------ */

struct run {
	int status;	/* exit status, or -1 if it did not exit */
	char out[32768], err[8192];
};

static void slurp(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, cap - 1, f) : 0;

	buf[n] = '\0';
	if (f)
		fclose(f);
}

/* Runs argv (argv[0] looked up in PATH) with stdout and stderr captured.
 * The make variables of a surrounding `make test` are dropped: their
 * jobserver descriptors are not ours. */
static void run(char *const argv[], struct run *r)
{
	char o[128], e[128];
	pid_t pid;
	int st;

	snprintf(o, sizeof o, "%s/.stdout", tmp);
	snprintf(e, sizeof e, "%s/.stderr", tmp);
	pid = fork();
	cr_assert_neq(pid, -1, "fork: %s", strerror(errno));
	if (pid == 0) {
		int fo = open(o, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int fe = open(e, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int nul = open("/dev/null", O_RDONLY);
		if (fo < 0 || fe < 0 || nul < 0)
			_exit(126);
		dup2(fo, 1);
		dup2(fe, 2);
		dup2(nul, 0);
		unsetenv("MAKEFLAGS");
		unsetenv("MFLAGS");
		unsetenv("MAKELEVEL");
		execvp(argv[0], argv);
		_exit(127);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	slurp(o, r->out, sizeof r->out);
	slurp(e, r->err, sizeof r->err);
}

/* make -s -f plots/plots.mk TARGET PLOTS_IN=in PLOTS_OUT=out */
static void run_make(const char *target, const char *in, const char *out,
		     struct run *r)
{
	char a_in[256], a_out[256];

	snprintf(a_in, sizeof a_in, "PLOTS_IN=%s", in);
	snprintf(a_out, sizeof a_out, "PLOTS_OUT=%s", out);
	char *argv[] = { "make", "-s", "--no-print-directory", "-f", "plots/plots.mk",
			 (char *)target, a_in, a_out, NULL };
	run(argv, r);
}

static int have_gnuplot(void)
{
	struct run r;
	char *argv[] = { "gnuplot", "--version", NULL };

	run(argv, &r);
	return r.status == 0;
}

static void need_gnuplot(void)
{
	if (!have_gnuplot())
		cr_skip_test("gnuplot is not installed (make deps installs gnuplot-nox): "
			     "plots not rendered");
}

/* Builds build/plotdata (make -f plots/plots.mk; renamed into place, so
 * tests running side by side do not clash). */
static void need_plotdata(void)
{
	struct run r;

	cr_assert_eq(access("plots/plots.mk", R_OK), 0,
		     "plots/plots.mk not found: run the tests from the top of the tree");
	run_make(PLOTDATA, TESTDATA, tmp, &r);
	cr_assert_eq(r.status, 0, "building %s failed:\n%s%s", PLOTDATA, r.out, r.err);
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert(f, "%s: %s", path, strerror(errno));
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
}

/* --- file checks ------------------------------------------------------------- */

static unsigned be32(const unsigned char *p)
{
	return (unsigned)p[0] << 24 | (unsigned)p[1] << 16 | (unsigned)p[2] << 8 | p[3];
}

/* path is a complete PNG of w x h: signature, IHDR first, IEND last. */
static void check_png(const char *path, unsigned w, unsigned h)
{
	static const unsigned char sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
	static const unsigned char iend[12] = { 0, 0, 0, 0, 'I', 'E', 'N', 'D',
						0xae, 0x42, 0x60, 0x82 };
	unsigned char head[24], tail[12];
	FILE *f = fopen(path, "rb");

	cr_assert(f, "%s was not written", path);
	const size_t n = fread(head, 1, sizeof head, f);
	const int seek = fseek(f, -12, SEEK_END);
	const size_t m = seek ? 0 : fread(tail, 1, sizeof tail, f);
	fclose(f);
	cr_assert_eq(n, sizeof head, "%s: %zu bytes, too short for a PNG", path, n);
	cr_assert(!memcmp(head, sig, 8), "%s: no PNG signature", path);
	cr_assert(be32(head + 8) == 13 && !memcmp(head + 12, "IHDR", 4),
		  "%s: the first chunk is not IHDR", path);
	cr_assert_eq(be32(head + 16), w, "%s: width %u, expected %u", path,
		     be32(head + 16), w);
	cr_assert_eq(be32(head + 20), h, "%s: height %u, expected %u", path,
		     be32(head + 20), h);
	cr_assert(m == sizeof tail && !memcmp(tail, iend, 12),
		  "%s: does not end with an IEND chunk (truncated?)", path);
}

/* path is a complete gnuplot SVG of w x h. */
static void check_svg(const char *path, unsigned w, unsigned h)
{
	static char buf[1 << 16];
	char want[64];
	struct stat st;

	cr_assert_eq(stat(path, &st), 0, "%s was not written", path);
	slurp(path, buf, sizeof buf);
	snprintf(want, sizeof want, "width=\"%u\" height=\"%u\"", w, h);
	cr_assert(!strncmp(buf, "<?xml", 5) && strstr(buf, "<svg"), "%s: not SVG", path);
	cr_assert(strstr(buf, want), "%s: no %s", path, want);
	/* the end: the last bytes of the file */
	FILE *f = fopen(path, "r");
	char end[32] = "";
	cr_assert(f);
	fseek(f, st.st_size > 16 ? -16 : 0, SEEK_END);
	end[fread(end, 1, sizeof end - 1, f)] = '\0';
	fclose(f);
	cr_assert(strstr(end, "</svg>"), "%s: does not end with </svg>", path);
}

/* --- rendering the sample data ------------------------------------------------ */

/* make plot-NAME from the folder in: PNG and SVG of w x h, one "wrote"
 * line, and nothing on stderr (no gnuplot warning either). */
static void render_from(const char *in, const char *name, unsigned w, unsigned h)
{
	char target[64], png[160], svg[160];
	struct run r;

	need_gnuplot();
	snprintf(target, sizeof target, "plot-%s", name);
	run_make(target, in, tmp, &r);
	cr_assert_eq(r.status, 0, "make %s failed (%d):\n%s%s", target, r.status,
		     r.out, r.err);
	cr_assert_str_empty(r.err, "make %s wrote to stderr:\n%s", target, r.err);
	snprintf(png, sizeof png, "%s/%s.png", tmp, name);
	snprintf(svg, sizeof svg, "%s/%s.svg", tmp, name);
	cr_assert(strstr(r.out, "plots: wrote") && strstr(r.out, png),
		  "make %s did not say it wrote %s:\n%s", target, png, r.out);
	check_png(png, w, h);
	check_svg(svg, w, h);
}

/* The same from the sample data, plots/testdata. */
static void render(const char *name, unsigned w, unsigned h)
{
	render_from(TESTDATA, name, w, h);
}

Test(plots, roofline_renders)
{
	render("roofline", 1200, 800);
}

Test(plots, profile_renders)
{
	render("profile", 1200, 800);
}

Test(plots, tune_renders)
{
	render("tune", 1600, 1000);
}

Test(plots, regression_renders)
{
	render("regression", 1700, 1000);
}

Test(plots, scaling_renders)
{
	render("scaling", 1400, 750);
}

Test(plots, microbench_renders)
{
	render("microbench", 1600, 850);
}

/* The sample data holds what each plot is meant to show: the converter's
 * output for it has every kind of row the .gp scripts draw. */
Test(plots, sample_data_covers_every_style)
{
	struct run r;

	need_plotdata();
	char *tune[] = { PLOTDATA, "tune", TESTDATA "/tune-log.jsonl",
			 TESTDATA "/best-config.json", NULL };
	run(tune, &r);
	cr_assert_eq(r.status, 0, "%s", r.err);
	/* kinds in column 6: 0 incumbent, 1 keep, 2 win, 3 rejected, 4 crashed,
	 * 5 hung; column 7 the winner flag, then the label */
	static const char *const kind[] = { "incumbent", "keep", "win", "rejected",
					    "crashed", "hung" };
	for (int k = 0; k < 6; k++) {
		char w0[24], w1[24];
		snprintf(w0, sizeof w0, " %d 0 \"", k);
		snprintf(w1, sizeof w1, " %d 1 \"", k);
		cr_expect(strstr(r.out, w0) || strstr(r.out, w1),
			  "tune sample data lacks a %s row", kind[k]);
	}
	char *prof[] = { PLOTDATA, "profile", TESTDATA "/runs.jsonl", NULL };
	run(prof, &r);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_expect(strstr(r.out, "has_pp = 2") && strstr(r.out, "has_tg = 2"),
		  "profile sample data lacks a default and a tuned run:\n%s", r.out);
	char *sc[] = { PLOTDATA, "scaling", TESTDATA "/runs.jsonl", NULL };
	run(sc, &r);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_expect(!strstr(r.out, "n_batch = 0") && !strstr(r.out, "n_threads = 0"),
		  "scaling sample data lacks a batch or a thread sweep");
}

/* --- missing data -------------------------------------------------------------- */

/* An empty results folder: every plot is one skip line naming the file
 * it lacks; nothing is drawn and make succeeds. */
Test(plots, missing_data_is_skipped)
{
	static const char *const want[][2] = {
		{ "roofline", "roofline.json" }, { "profile", "runs.jsonl" },
		{ "tune", "tune-log.jsonl" }, { "regression", "perf-report.json" },
		{ "scaling", "runs.jsonl" }, { "microbench", "microbench.json" },
	};
	const size_t n = sizeof want / sizeof *want;
	char in[128], out[128], line[256];
	struct run r;

	need_plotdata();
	snprintf(in, sizeof in, "%s/empty", tmp);
	snprintf(out, sizeof out, "%s/out", tmp);
	cr_assert_eq(mkdir(in, 0755), 0);
	run_make("plots", in, out, &r);
	cr_assert_eq(r.status, 0, "make plots on no data failed:\n%s%s", r.out, r.err);
	cr_assert_eq(count_lines(r.out), (int)n, "expected %zu skip lines:\n%s", n, r.out);
	for (size_t i = 0; i < n; i++) {
		snprintf(line, sizeof line, "plots: skip %s: %s/%s missing\n", want[i][0],
			 in, want[i][1]);
		cr_expect(strstr(r.out, line), "no line \"%s\" in:\n%s", line, r.out);
	}
	snprintf(line, sizeof line, "%s/roofline.png", out);
	cr_expect_neq(access(line, F_OK), 0, "%s drawn without data", line);
}

/* The header of a perf-report.json, up to its "rows". */
#define REPORT_HEAD "{\"schema\":\"q8tune-perf-report\",\"schema_version\":1," \
	"\"machine\":\"cpu\",\"base\":{\"rev\":\"a\",\"dir\":\"b\",\"env\":null}," \
	"\"head\":{\"rev\":\"h\",\"dir\":\".\",\"env\":null},\"spec\":{\"model\":" \
	"\"m.gguf\",\"prompt\":\"Hello world\",\"gen\":16,\"pp_long\":64,\"rounds\":3," \
	"\"budget_s\":1,\"threads\":0,\"alpha\":0.05,\"margin\":0.03},\"wall_s\":10,"

/* Valid files with nothing for a plot (no --profile run, one prompt size,
 * no matmul benchmark, no base samples in the regression report): skipped
 * with what is missing and how to make it. */
Test(plots, nothing_to_plot_is_skipped)
{
	char in[128], out[128], p[192];
	struct run r;

	need_gnuplot();
	need_plotdata();
	snprintf(in, sizeof in, "%s/in", tmp);
	snprintf(out, sizeof out, "%s/out", tmp);
	cr_assert_eq(mkdir(in, 0755), 0);
	/* one plain run, no profile, one size and thread count */
	json_error_t je;
	json_t *j = json_loads("{\"schema\":\"q8tune-run\",\"schema_version\":1,"
		"\"time\":\"2026-01-01T00:00:00Z\",\"tool\":{\"git_rev\":\"abc\"},"
		"\"env\":{\"machine\":{\"brand\":\"cpu\"}},\"threads\":2,"
		"\"model\":{\"arch\":\"gemma\",\"n_layer\":2,\"tensor_hash\":\"h\","
		"\"path\":\"m.gguf\"},\"config\":{\"name\":\"default\","
		"\"prompt_kernels\":{},\"decode_kernels\":{},\"prompt_threads\":0,"
		"\"decode_threads\":0},\"spec\":{\"n_prompt\":3,\"n_gen\":4},"
		"\"rows\":[{\"test\":\"pp3\",\"kind\":\"pp\",\"n_tokens\":3,"
		"\"tokens_per_s\":100,\"stats\":{\"median\":30,\"ci_lo\":29,\"ci_hi\":31}}]}",
		0, &je);
	cr_assert(j, "%s", je.text);
	snprintf(p, sizeof p, "%s/runs.jsonl", in);
	char *line = json_dumps(j, JSON_COMPACT);
	FILE *f = fopen(p, "w");
	cr_assert(f && line);
	fprintf(f, "%s\n", line);
	fclose(f);
	free(line);
	json_decref(j);
	write_file(strcat(strcpy(p, in), "/microbench.json"),
		   "{\"context\":{},\"benchmarks\":[{\"name\":\"gelu/avx2/n:2304\","
		   "\"run_type\":\"iteration\",\"real_time\":1}]}\n");
	/* a report whose BASE produced no number */
	write_file(strcat(strcpy(p, in), "/perf-report.json"), REPORT_HEAD
		   "\"rows\":[{\"row\":\"pp3\",\"profile_row\":false,"
		   "\"base_ms\":[null,null,null],\"head_ms\":[8,8.1,8.2],"
		   "\"head_aa_ms\":[8,8.2,8.1],\"ratio\":null,\"ci_lo\":null,"
		   "\"ci_hi\":null,\"p\":null,\"aa_ratio\":1,\"noise_band\":1.02,"
		   "\"verdict\":\"no change\",\"remeasured\":false,\"confirmed\":false}],"
		   "\"counts\":{\"why\":\"no valgrind\"}}\n");
	char roof[192];
	snprintf(roof, sizeof roof, "%s/roofline.json", in);
	char *cp[] = { "cp", TESTDATA "/roofline.json", roof, NULL };
	run(cp, &r);
	cr_assert_eq(r.status, 0);

	run_make("plots", in, out, &r);
	cr_assert_eq(r.status, 0, "make plots failed:\n%s%s", r.out, r.err);
	cr_expect(strstr(r.err, "skip roofline: ") && strstr(r.err, "no run with a profile"),
		  "roofline: no skip line for the missing profile:\n%s", r.err);
	cr_expect(strstr(r.err, "skip profile: ") && strstr(r.err, "./bench --model M --profile"),
		  "profile: no skip line:\n%s", r.err);
	cr_expect(strstr(r.err, "skip scaling: ") && strstr(r.err, "no sweep"),
		  "scaling: no skip line:\n%s", r.err);
	cr_expect(strstr(r.err, "skip microbench: ") && strstr(r.err, "no matmul_q8 benchmark"),
		  "microbench: no skip line:\n%s", r.err);
	cr_expect(strstr(r.out, "plots: skip tune: ") && strstr(r.out, "tune-log.jsonl missing"),
		  "tune: no skip line:\n%s", r.out);
	cr_expect(strstr(r.err, "skip regression: ") &&
		  strstr(r.err, "no pp or tg row with base and head samples"),
		  "regression: no skip line:\n%s", r.err);
	cr_expect(!strstr(r.out, "plots: wrote"), "a plot was drawn:\n%s", r.out);
	cr_expect_eq(count_lines(r.err), 5, "one line per skipped plot:\n%s", r.err);
}

/* --- bad input -------------------------------------------------------------------- */

/* The object at a path of object keys and array indexes ("rows.0.stats")
 * in j; the path's last key is left in *last (key holds it). */
static json_t *walk(json_t *j, const char *path, const char **last, char key[64])
{
	for (const char *p = path;;) {
		const char *dot = strchr(p, '.');
		snprintf(key, 64, "%.*s", dot ? (int)(dot - p) : (int)strlen(p), p);
		if (!dot) {
			*last = key;
			return j;
		}
		j = json_is_array(j) ? json_array_get(j, strtoul(key, NULL, 10)) :
				       json_object_get(j, key);
		cr_assert(j, "no %s in %s", key, path);
		p = dot + 1;
	}
}

/* Removes the field at path (as walk()) from j. */
static void del_path(json_t *j, const char *path)
{
	const char *last;
	char key[64];
	json_t *o = walk(j, path, &last, key);

	cr_assert_eq(json_object_del(o, last), 0, "no field %s", path);
}

/* j as compact JSON text (the caller frees it); j is released. */
static char *dump(json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT);

	json_decref(j);
	cr_assert(text);
	return text;
}

/* A line of plots/testdata/runs.jsonl (1-based) with one field removed
 * (a path of object keys and array indexes, "rows.0.stats.median"). */
static char *record_without(int lineno, const char *path)
{
	FILE *f = fopen(TESTDATA "/runs.jsonl", "r");
	char *line = NULL;
	size_t cap = 0;
	json_error_t je;
	json_t *j;

	cr_assert(f);
	for (int i = 0; i < lineno; i++)
		cr_assert(getline(&line, &cap, f) > 0, "runs.jsonl has no line %d", lineno);
	fclose(f);
	j = json_loads(line, 0, &je);
	free(line);
	cr_assert(j, "runs.jsonl line %d: %s", lineno, je.text);
	del_path(j, path);
	return dump(j);
}

/* plots/testdata/perf-report.json, parsed (the caller releases it). */
static json_t *report_load(void)
{
	json_error_t je;
	json_t *j = json_load_file(TESTDATA "/perf-report.json", 0, &je);

	cr_assert(j, TESTDATA "/perf-report.json: line %d: %s", je.line, je.text);
	return j;
}

/* The sample report with the field at path set to v (v: a new reference,
 * NULL removes the field), as text (the caller frees it). */
static char *report_with(const char *path, json_t *v)
{
	json_t *j = report_load(), *o;
	const char *last;
	char key[64];

	if (!v) {
		del_path(j, path);
		return dump(j);
	}
	o = walk(j, path, &last, key);
	if (json_is_array(o))
		cr_assert_eq(json_array_set_new(o, strtoul(last, NULL, 10), v), 0,
			     "no %s", path);
	else
		cr_assert_eq(json_object_set_new(o, last, v), 0, "no %s", path);
	return dump(j);
}

struct bad {
	const char *plot;	/* subcommand */
	const char *file;	/* the file written (in tmp) */
	const char *text;	/* its content; NULL: the file is absent */
	const char *before;	/* a testdata file given before it, or NULL */
	const char *after;	/* a testdata file given after it, or NULL */
	const char *want;	/* in the message, after "plotdata: FILE: " */
};

/* Each case: exit 1, exactly one line on stderr, naming the file first. */
static void check_bad(const struct bad *b)
{
	char path[192], before[192], after[192];
	char *argv[6] = { PLOTDATA, (char *)b->plot };
	struct run r;
	int n = 2;

	snprintf(path, sizeof path, "%s/%s", tmp, b->file);
	remove(path);
	if (b->text)
		write_file(path, b->text);
	if (b->before) {
		snprintf(before, sizeof before, TESTDATA "/%s", b->before);
		argv[n++] = before;
	}
	argv[n++] = path;
	if (b->after) {
		snprintf(after, sizeof after, TESTDATA "/%s", b->after);
		argv[n++] = after;
	}
	argv[n] = NULL;
	run(argv, &r);
	cr_expect_eq(r.status, 1, "%s on %s: exit %d, expected 1 (stderr: %s)", b->plot,
		     b->file, r.status, r.err);
	cr_expect_eq(count_lines(r.err), 1, "%s on %s: not one line:\n%s", b->plot,
		     b->file, r.err);
	char head[256];
	snprintf(head, sizeof head, "plotdata: %s: ", path);
	cr_expect(!strncmp(r.err, head, strlen(head)), "%s on %s: the message does not "
		  "start with \"%s\": %s", b->plot, b->file, head, r.err);
	cr_expect(strstr(r.err, b->want), "%s on %s: no \"%s\" in: %s", b->plot, b->file,
		  b->want, r.err);
	cr_expect_str_empty(r.out, "%s on %s: wrote to stdout", b->plot, b->file);
}

Test(plots, bad_input_is_one_line)
{
	char *no_median = record_without(5, "rows.0.stats.median");
	char *no_macs = record_without(11, "profile.0.ops.3.macs_per_pass");
	char *no_rev = record_without(1, "tool.git_rev");
	char a[8192], b[8192], c[8192];
	const char *tune_ok = "{\"schema\":\"q8tune-tune-log\",\"phase\":\"prompt\","
		"\"op\":\"gelu\",\"incumbent\":\"avx2\",\"candidate\":\"exact\","
		"\"verdict\":\"keep\",\"op_a\":1,\"op_b\":2,\"op_lo\":1.9,\"op_hi\":2.1}\n";

	need_plotdata();
	snprintf(a, sizeof a, "%s\n", no_median);
	snprintf(b, sizeof b, "%s\n", no_macs);
	snprintf(c, sizeof c, "%s\n", no_rev);
	const struct bad cases[] = {
		{ "scaling", "runs.jsonl", NULL, NULL, NULL, "No such file" },
		{ "scaling", "runs.jsonl", "", NULL, NULL, "empty file" },
		{ "profile", "runs.jsonl", "\n\n", NULL, NULL, "empty file" },
		{ "scaling", "runs.jsonl", "{\"schema\":\"q8tune-run\",\"schema_version\":1}\n"
		  "{\"schema\": \"q8tune-run\", bad}\n", NULL, NULL, "line 2: not valid JSON" },
		{ "profile", "runs.jsonl", "[1, 2]\n", NULL, NULL, "line 1: not a JSON object" },
		{ "scaling", "runs.jsonl", "{\"schema\":\"other\"}\n", NULL, NULL,
		  "no \"schema\": \"q8tune-run\" version 1 record (1 line of another schema)" },
		{ "scaling", "runs.jsonl", a, NULL, NULL,
		  "line 1: field rows[0].stats.median: missing" },
		{ "roofline", "runs.jsonl", b, "roofline.json", NULL,
		  "line 1: field profile[0].ops[3].macs_per_pass: missing" },
		{ "scaling", "runs.jsonl", c, NULL, NULL, "line 1: field tool.git_rev: missing" },
		{ "roofline", "roofline.json", "{\"schema\": 1,\n \"machines\": {\n", NULL, "runs.jsonl",
		  "line 3, column 0: not valid JSON" },
		{ "roofline", "roofline.json", "{\"schema\": 2, \"machines\": {}}\n", NULL,
		  "runs.jsonl",
		  "field schema" },
		{ "tune", "tune-log.jsonl", "", NULL, NULL, "empty file" },
		{ "tune", "tune-log.jsonl", "{\"schema\":\"q8tune-tune-log\",\"phase\":\"prompt\","
		  "\"op\":\"gelu\",\"incumbent\":\"avx2\",\"candidate\":\"exact\"}\n", NULL,
		  NULL, "line 1: field verdict: missing" },
		{ "tune", "best-config.json", "{\"phases\": [}", "tune-log.jsonl", NULL,
		  "line 1, column 13: not valid JSON" },
		{ "microbench", "microbench.json", "", NULL, NULL, "empty file" },
		{ "microbench", "microbench.json", "[]", NULL, NULL, "not a JSON object" },
		{ "microbench", "microbench.json", "{\"context\": {}, \"benchmarks\": "
		  "[{\"name\": \"matmul_q8/avx2/768x768/nt:1_median\", \"run_name\": "
		  "\"matmul_q8/avx2/768x768/nt:1\", \"run_type\": \"aggregate\", "
		  "\"aggregate_name\": \"median\"}]}", NULL, NULL,
		  "field benchmarks[0].MAC/s: missing" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		check_bad(&cases[i]);

	/* an optional file that is absent is no error: the plot lacks it */
	char path[192];
	struct run r;
	snprintf(path, sizeof path, "%s/tune-log.jsonl", tmp);
	write_file(path, tune_ok);
	char *argv[] = { PLOTDATA, "tune", path, "/nonexistent/best-config.json", NULL };
	run(argv, &r);
	cr_expect_eq(r.status, 0, "tune without its optional config: %s", r.err);
	free(no_median);
	free(no_macs);
	free(no_rev);
}

/* Sets the fields of v (released) in object o. */
static void set_all(json_t *o, json_t *v)
{
	cr_assert(v);
	cr_assert_eq(json_object_update(o, v), 0);
	json_decref(v);
}

/* The sample report is an A/A run: every verdict "no change".  The
 * converter and the script are given every other verdict too (slower,
 * faster, confirmed and not confirmed on re-measurement), a row without
 * p or band, a missing round, HEAD's env and a report without
 * counts; gnuplot draws them without a warning. */
Test(plots, regression_draws_every_verdict)
{
	json_t *j = report_load(), *rows = json_object_get(j, "rows");
	char in[128], path[192];
	struct run r;

	need_plotdata();
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(rows, 6), "row")),
			 "pp64", "the sample's rows moved: rows[6] is not pp64");
	set_all(json_array_get(rows, 0), json_pack("{s:s,s:b,s:b,s:{s:f,s:f,s:f}}",
		"verdict", "slower", "remeasured", 1, "confirmed", 0, "remeasured_ratio",
		"ratio", 1.01, "ci_lo", 0.98, "ci_hi", 1.04));
	json_object_set_new(json_array_get(rows, 1), "verdict", json_string("faster"));
	set_all(json_array_get(rows, 6), json_pack("{s:s,s:b,s:b,s:{s:f,s:f,s:f}}",
		"verdict", "slower", "remeasured", 1, "confirmed", 1, "remeasured_ratio",
		"ratio", 1.12, "ci_lo", 1.05, "ci_hi", 1.2));
	json_object_set_new(json_array_get(rows, 3), "verdict", json_string("slower"));
	set_all(json_array_get(rows, 5), json_pack("{s:n,s:n}", "p", "noise_band"));
	json_array_set_new(json_object_get(json_array_get(rows, 5), "head_ms"), 2, json_null());
	json_object_set_new(json_object_get(j, "head"), "env",
			    json_string("Q8TUNE_MATMUL_Q8=avx2"));
	json_object_set_new(j, "counts", json_pack("{s:s}", "why", "no valgrind here"));
	snprintf(in, sizeof in, "%s/in", tmp);
	cr_assert_eq(mkdir(in, 0755), 0);
	snprintf(path, sizeof path, "%s/perf-report.json", in);
	char *text = dump(j);
	write_file(path, text);
	free(text);

	char *argv[] = { PLOTDATA, "regression", path, NULL };
	run(argv, &r);
	cr_assert_eq(r.status, 0, "%s", r.err);
	/* codes: 0 no change, 1 slower, 2 faster, 3 confirmed, 4 not confirmed */
	cr_expect(strstr(r.out, "array t_code[3] = [4, 2, 3]"), "test rows' verdicts:\n%s",
		  r.out);
	cr_expect(strstr(r.out, "the 1 with a verdict, then"), "the slower profile row is not "
		  "picked first:\n%s", r.out);
	cr_expect(strstr(r.out, "no A/A band"), "the row without a band:\n%s", r.out);
	cr_expect(strstr(r.out, "env Q8TUNE_MATMUL_Q8=avx2") &&
		  strstr(r.out, "no instruction counts: no valgrind here"),
		  "the footnote lacks HEAD's env or the counts' line:\n%s", r.out);
	render_from(in, "regression", 1700, 1000);
}

/* The regression report: the whole-file cases and a field of each part
 * (header, spec, a row, a round, the counts), each one line and exit 1. */
Test(plots, regression_bad_input_is_one_line)
{
	char *v[] = {
		report_with("rows.0.base_ms", NULL),
		report_with("rows.1", json_integer(7)),
		report_with("rows.2.head_ms.3", json_string("x")),
		report_with("rows.0.verdict", json_string("worse")),
		report_with("rows.1.ratio", json_string("1.0")),
		report_with("schema", json_string("q8tune-run")),
		report_with("head.rev", NULL),
		report_with("spec.rounds", NULL),
		report_with("counts.head.ir", NULL),
		report_with("rows", json_object()),
	};
	const char *want[] = {
		"field rows[0].base_ms: missing",
		"field rows[1]: not an object",
		"field rows[2].head_ms[3]: not a positive number or null",
		"field rows[0].verdict: \"worse\", not slower, faster, no change, only in base or only in head",
		"field rows[1].ratio: not a number or null",
		"field schema: \"q8tune-run\" version 1, not \"q8tune-perf-report\"",
		"field head.rev: missing",
		"field spec.rounds: missing",
		"field counts.head.ir: missing",
		"field rows: not an array",
	};
	const struct bad whole[] = {
		{ "regression", "perf-report.json", NULL, NULL, NULL, "No such file" },
		{ "regression", "perf-report.json", "", NULL, NULL, "empty file" },
		{ "regression", "perf-report.json", "[]", NULL, NULL, "not a JSON object" },
		{ "regression", "perf-report.json", "{\"schema\": \"q8tune-perf-report\",\n",
		  NULL, NULL, "line 2, column 0: not valid JSON" },
	};

	need_plotdata();
	for (size_t i = 0; i < sizeof whole / sizeof *whole; i++)
		check_bad(&whole[i]);
	for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
		const struct bad b = { "regression", "perf-report.json", v[i], NULL, NULL,
				       want[i] };
		check_bad(&b);
		free(v[i]);
	}
}

/* Through make: a malformed file stops that plot with plotdata's line and
 * make's, no gnuplot output, and no image; the other plots still render
 * with -k. */
Test(plots, bad_input_stops_before_gnuplot)
{
	char in[128], out[128], p[192];
	struct run r;

	need_gnuplot();
	need_plotdata();
	snprintf(in, sizeof in, "%s/in", tmp);
	snprintf(out, sizeof out, "%s/out", tmp);
	cr_assert_eq(mkdir(in, 0755), 0);
	snprintf(p, sizeof p, "%s/tune-log.jsonl", in);
	write_file(p, "{\"schema\":\"q8tune-tune-log\",\"phase\":\"prompt\",\"op\":\"gelu\","
		   "\"incumbent\":\"avx2\",\"candidate\":\"erf\",\"verdict\":\"crashed\"}\n");
	run_make("plot-tune", in, out, &r);
	cr_assert_neq(r.status, 0, "make plot-tune succeeded on a bad log");
	cr_expect(strstr(r.err, "plotdata: ") && strstr(r.err, "tune-log.jsonl: line 1: "
						       "field reason: missing"),
		  "no plotdata line naming the field:\n%s", r.err);
	cr_expect_leq(count_lines(r.err), 2, "more than plotdata's and make's line:\n%s",
		     r.err);
	cr_expect(!strstr(r.err, "gnuplot") && !strstr(r.err, "warning"),
		  "gnuplot ran on bad input:\n%s", r.err);
	snprintf(p, sizeof p, "%s/tune.png", out);
	cr_expect_neq(access(p, F_OK), 0, "%s was drawn from bad input", p);
}

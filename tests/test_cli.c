/* test_cli.c - ./infer as a user runs it: tokenizer ids, JSON output, and
 * bad input (one line on stderr, exit 1, never a signal, no stdout). */
#include <ctype.h>
#include <jansson.h>
#include <stdint.h>
#include <sys/stat.h>
#include "common.h"
#include "gguf.h"
#include "run.h"
#include "small.h"

static void need_infer(void)
{
	if (access("./infer", X_OK))
		cr_skip_test("./infer is not built (run make first); skipped");
}

/* For every string of tokenizer-A.json: ./infer --tokenize gives exactly
 * llama.cpp's ids, plain and --json, with and without --no-special. */
Test(cli, tokenize_matches_llama_cpp)
{
	NEED_SHARED(model, "models/stories260K.gguf");
	NEED_SHARED(fx, "fixtures/tokenizer-A.json");
	json_error_t je;
	json_t *root = json_load_file(fx, 0, &je);
	const json_t *strs = json_object_get(root, "strings");

	need_infer();
	cr_assert(json_array_size(strs) >= 10);
	for (size_t i = 0; i < json_array_size(strs); i++) {
		const json_t *e = json_array_get(strs, i);
		const char *text = json_string_value(json_object_get(e, "string"));
		for (int special = 0; special < 2; special++) {
			const json_t *want = json_object_get(e, special ?
				"parse_special_true" : "parse_special_false");
			char want_s[1024] = "";
			size_t used = 0;
			for (size_t k = 0; k < json_array_size(want); k++)
				used += (size_t)snprintf(want_s + used, sizeof want_s - used,
					"%s%lld", k ? " " : "",
					(long long)json_integer_value(json_array_get(want, k)));
			strcat(want_s, "\n");

			char *plain[] = { "./infer", "--model", (char *)model, "-p",
					  (char *)text, "--tokenize",
					  special ? NULL : "--no-special", NULL };
			struct proc p;
			run_argv(plain, &p);
			cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0,
				  "%s", p.err);
			cr_expect_str_eq(p.out, want_s, "'%s' (special=%d)", text, special);
			proc_free(&p);

			char *js[] = { "./infer", "--model", (char *)model, "-p",
				       (char *)text, "--tokenize", "--json",
				       special ? NULL : "--no-special", NULL };
			run_argv(js, &p);
			json_t *got = json_loads(p.out, 0, &je);
			cr_assert_not_null(got, "not JSON: %s", p.out);
			cr_expect(json_equal(json_object_get(got, "tokens"), want),
				  "'%s' (special=%d): %s", text, special, p.out);
			json_decref(got);
			proc_free(&p);
		}
	}
	json_decref(root);
}

/* --json --top: one object with the documented fields. */
Test(cli, json_output_shape)
{
	NEED_SHARED(model, "models/stories260K-q8_0.gguf");
	char *argv[] = { "./infer", "--model", (char *)model, "-p", "Hello world",
			 "-n", "8", "--json", "--top", "3", "--weights", "native",
			 "--ignore-eos", NULL };
	struct proc p;
	json_error_t je;

	need_infer();
	run_argv(argv, &p);
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0, "%s", p.err);
	json_t *r = json_loads(p.out, 0, &je);
	cr_assert_not_null(r, "stdout is not one JSON object: %s", je.text);
	cr_expect_eq(json_array_size(json_object_get(r, "prompt_tokens")), 7);
	cr_expect_eq(json_array_size(json_object_get(r, "generated_tokens")), 8);
	cr_expect(json_is_string(json_object_get(r, "text")));
	const json_t *t = json_object_get(r, "timings");
	cr_expect(json_real_value(json_object_get(t, "prompt_ms")) > 0);
	cr_expect(json_is_real(json_object_get(t, "decode_ms_per_token")));
	const json_t *top = json_object_get(r, "top");
	cr_assert_eq(json_array_size(top), 8);
	for (size_t i = 0; i < 8; i++) {
		const json_t *s = json_array_get(top, i);
		cr_assert_eq(json_array_size(s), 3);
		/* best first, and the greedy token is the best */
		double l0 = json_real_value(json_object_get(json_array_get(s, 0), "logit"));
		double l1 = json_real_value(json_object_get(json_array_get(s, 1), "logit"));
		cr_expect(l0 >= l1);
		cr_expect_eq(json_integer_value(json_object_get(json_array_get(s, 0), "id")),
			     json_integer_value(json_array_get(json_object_get(r,
				"generated_tokens"), i)));
	}
	/* the timing summary goes to stderr, one line */
	cr_expect(strstr(p.err, "decode:") != NULL, "%s", p.err);
	json_decref(r);
	proc_free(&p);
}

/* Bad input gets exactly one line naming the file, exit 1, nothing on
 * stdout. */
static void expect_clean_failure(char *const argv[], const char *must_name)
{
	struct proc p;

	run_argv(argv, &p);
	cr_expect(!WIFSIGNALED(p.status), "killed by signal %d",
		  WIFSIGNALED(p.status) ? WTERMSIG(p.status) : 0);
	cr_expect(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 1,
		  "exit status %d, want 1; stderr: %s", WEXITSTATUS(p.status), p.err);
	cr_expect_eq(count_lines(p.err), 1, "want one line, got: %s", p.err);
	cr_expect_str_eq(p.out, "", "stdout should be empty: %s", p.out);
	if (must_name)
		cr_expect(strstr(p.err, must_name) != NULL, "'%s' not named in: %s",
			  must_name, p.err);
	proc_free(&p);
}

static char *write_temp(const void *buf, size_t n)
{
	static char path[256];
	const char *root = getenv("Q8TUNE_TEST_TMP");
	snprintf(path, sizeof path, "%s/bad-XXXXXX", root && *root ? root : "/tmp");
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, buf, n), (ssize_t)n);
	close(fd);
	return path;
}

static void *read_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f);
	fseek(f, 0, SEEK_END);
	*n = (size_t)ftell(f);
	rewind(f);
	void *b = malloc(*n);
	cr_assert_eq(fread(b, 1, *n, f), *n);
	fclose(f);
	return b;
}

Test(cli, truncated_models_fail_cleanly)
{
	NEED_SHARED(model, "models/stories260K-q8_0.gguf");
	size_t n;
	uint8_t *buf = read_file(model, &n);
	/* where the last tensor's data ends (the file may have padding) */
	struct gguf *g;
	char err[256];
	cr_assert_eq(gguf_open(model, &g, err, sizeof err), 0, "%s", err);
	size_t end = 0;
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		size_t e = (size_t)(g->data_offset + g->tensors[i].offset +
				    g->tensors[i].size);
		end = e > end ? e : end;
	}
	gguf_close(g);
	/* header, metadata, vocab strings, tensor table, data */
	const size_t cuts[] = { 0, 3, 4, 8, 15, 23, 40, 100, 1000, 5000, 20000,
				end / 3, end / 2, end - 100, end - 1 };

	need_infer();
	for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
		char *path = write_temp(buf, cuts[i]);
		char *argv[] = { "./infer", "--model", path, "-n", "2", NULL };
		expect_clean_failure(argv, path);
		unlink(path);
	}
	free(buf);
}

Test(cli, corrupt_and_foreign_files_fail_cleanly)
{
	NEED_SHARED(model, "models/stories260K-q8_0.gguf");
	size_t n;
	uint8_t *buf = read_file(model, &n);

	need_infer();
	/* absurd tensor count */
	uint8_t *c = malloc(n);
	memcpy(c, buf, n);
	memset(c + 8, 0xff, 8);
	char *path = write_temp(c, n);
	char *a1[] = { "./infer", "--model", path, NULL };
	expect_clean_failure(a1, path);
	unlink(path);
	/* a byte flipped in every 4 KiB of the metadata and tensor table */
	for (size_t off = 24; off < 12000 && off < n; off += 997) {
		memcpy(c, buf, n);
		c[off] ^= 0x5a;
		path = write_temp(c, n);
		char *a2[] = { "./infer", "--model", path, "-n", "1", NULL };
		struct proc p;
		run_argv(a2, &p);
		/* either it still loads (a harmless byte) or it fails cleanly */
		cr_expect(WIFEXITED(p.status) && WEXITSTATUS(p.status) <= 1,
			  "offset %zu: status %d", off, p.status);
		if (WEXITSTATUS(p.status) == 1)
			cr_expect_eq(count_lines(p.err), 1, "offset %zu: %s", off, p.err);
		proc_free(&p);
		unlink(path);
	}
	free(c);
	free(buf);

	/* not a GGUF file at all */
	char *a3[] = { "./infer", "--model", "Makefile", NULL };
	expect_clean_failure(a3, "Makefile");
	/* missing file, and a directory */
	char *a4[] = { "./infer", "--model", "/nonexistent/model.gguf", NULL };
	expect_clean_failure(a4, "/nonexistent/model.gguf");
	char *a5[] = { "./infer", "--model", "tests", NULL };
	expect_clean_failure(a5, "tests");
}

Test(cli, bad_flags_fail_cleanly)
{
	need_infer();
	char *a1[] = { "./infer", "--model", "x.gguf", "--weights", "q4", NULL };
	expect_clean_failure(a1, "q4");
	char *a2[] = { "./infer", "--model", "x.gguf", "-n", "many", NULL };
	expect_clean_failure(a2, "many");
	char *a3[] = { "./infer", "--model", "x.gguf", "--top", "5", NULL };
	expect_clean_failure(a3, "--json");
	char *a4[] = { "./infer", "--model", NULL };
	expect_clean_failure(a4, "--model");
}

/* FIFOs, directories and devices are refused at once with one line, never
 * opened in a way that waits for a writer: a model, a config, a results
 * file to read (bench --csv) or append to (bench --results), and a tune
 * model.  Each run has a time limit in the test: a hang fails it. */
Test(cli, fifos_and_directories_are_refused_without_hanging, .timeout = 60)
{
	char dir[96], fifo[160], model[160];
	struct synth_cfg c = small_cfg(SYNTH_GEMMA);

	need_infer();
	if (access("./bench", X_OK) || access("./tune", X_OK))
		cr_skip_test("./bench or ./tune is not built; skipped");
	test_tmpdir(dir, sizeof dir, "fifo");
	snprintf(fifo, sizeof fifo, "%s/pipe", dir);
	snprintf(model, sizeof model, "%s/m.gguf", dir);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	write_model(&c, model);
	char *const cases[][12] = {
		{ "./infer", "--model", fifo, NULL },
		{ "./infer", "--model", fifo, "--tokenize", NULL },
		{ "./infer", "--model", dir, NULL },
		{ "./infer", "--model", "/dev/null", NULL },
		{ "./infer", "--model", model, "--config", fifo, NULL },
		{ "./infer", "--model", model, "--config", dir, NULL },
		{ "./tune", "--model", fifo, NULL },
		{ "./tune", "--model", model, "--out", fifo, NULL },
		{ "./tune", "--model", model, "--out", "/dev/null", NULL },
		{ "./mkmodel", "-o", "/dev/null", "--layers", "1", NULL },
		{ "./bench", "--csv", fifo, NULL },
		{ "./bench", "--model", model, "--gen", "1", "--reps", "1",
		  "--budget", "1", "--results", fifo, NULL },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *argv[16] = { "/usr/bin/timeout", "20" };
		int k = 2;
		for (int j = 0; cases[i][j]; j++)
			argv[k++] = cases[i][j];
		argv[k] = NULL;
		/* the refused path is the one named */
		const char *named = strstr(argv[4], "/dev") ||
				    !strcmp(argv[k - 1], "/dev/null") ? "/dev/null" :
				    !strcmp(argv[k - 1], dir) || !strcmp(argv[4], dir) ?
				    dir : fifo;
		expect_clean_failure(argv, named);
	}
}

/* Output that cannot be written (stdout on /dev/full) is an error: exit
 * 1 and one line saying so, in every output mode of infer, in bench and
 * tune --list; the same runs to /dev/null succeed. */
Test(cli, a_failed_stdout_is_an_error, .timeout = 60)
{
	char dir[96], model[160], cmd[512];
	struct synth_cfg c = small_cfg(SYNTH_GEMMA);
	static const char *const runs[] = {
		"./infer --model %s -n 4", "./infer --model %s -n 4 --json",
		"./infer --model %s --tokenize", "./tune --list",
		"./bench --model %s --gen 1 --reps 1 --budget 1 --no-record",
	};

	need_infer();
	if (access("/dev/full", W_OK))
		cr_skip_test("no /dev/full here; skipped");
	test_tmpdir(dir, sizeof dir, "full");
	snprintf(model, sizeof model, "%s/m.gguf", dir);
	write_model(&c, model);
	for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
		char run[256];
		struct proc p;
		snprintf(run, sizeof run, runs[i], model);
		snprintf(cmd, sizeof cmd, "%s > /dev/full", run);
		char *argv[] = { "/bin/sh", "-c", cmd, NULL };
		run_argv(argv, &p);
		cr_expect(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 1,
			  "%s: exit %d, want 1", run, WEXITSTATUS(p.status));
		cr_expect_not_null(strstr(p.err, "cannot write to stdout"),
				   "%s: %s", run, p.err);
		proc_free(&p);
		snprintf(cmd, sizeof cmd, "%s > /dev/null", run);
		run_argv(argv, &p);
		cr_expect(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0,
			  "%s > /dev/null: exit %d: %s", run, WEXITSTATUS(p.status),
			  p.err);
		proc_free(&p);
	}
}

/* --- --help against the README ------------------------------------------ */

#define MAX_FLAGS 96

struct flagset {
	char name[MAX_FLAGS][32];
	int n;
};

static int has_flag(const struct flagset *s, const char *f)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->name[i], f))
			return 1;
	return 0;
}

/* Every flag text names: "--word-word" and "-x" where the '-' does not
 * continue a word ("non-zero", "q8_0-x" are not flags). */
static void flags_of(const char *text, struct flagset *s)
{
	s->n = 0;
	for (const char *p = text; *p; p++) {
		char f[32];
		size_t k = 0;
		if (*p != '-' || (p > text && (isalnum((unsigned char)p[-1]) ||
					      p[-1] == '-' || p[-1] == '_')))
			continue;
		if (p[1] == '-' && isalpha((unsigned char)p[2])) {
			for (f[k++] = '-', f[k++] = '-', p += 2; (isalnum((unsigned char)*p) ||
			     *p == '-') && k < sizeof f - 1; p++)
				f[k++] = *p;
			while (f[k - 1] == '-')
				k--;
			p--;
		} else if (isalpha((unsigned char)p[1]) &&
			   !isalnum((unsigned char)p[2]) && p[2] != '-' && p[2] != '_') {
			f[k++] = '-';
			f[k++] = p[1];
			p++;
		} else {
			continue;
		}
		f[k] = '\0';
		if (!has_flag(s, f) && s->n < MAX_FLAGS)
			snprintf(s->name[s->n++], sizeof s->name[0], "%s", f);
	}
}

/* The synopsis of tool in the README at path: the first ``` block after
 * the heading "### `./tool`".  A new string, or NULL. */
static char *readme_synopsis(const char *path, const char *tool)
{
	char *text = NULL, head[64], *at, *open, *close, *syn = NULL;
	size_t n = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return NULL;
	if (getdelim(&text, &n, '\0', f) < 0) {
		fclose(f);
		free(text);
		return NULL;
	}
	fclose(f);
	snprintf(head, sizeof head, "### `./%s`", tool);
	if ((at = strstr(text, head)) && (open = strstr(at, "```\n")) &&
	    (close = strstr(open + 4, "```")))
		syn = strndup(open + 4, (size_t)(close - open - 4));
	free(text);
	return syn;
}

/* The flags that one of the two lists and the other does not, as text;
 * "" when they agree. */
static void flag_diff(const struct flagset *help, const struct flagset *doc,
		      char *out, size_t cap)
{
	size_t at = 0;

	*out = '\0';
	for (int i = 0; i < help->n && at < cap; i++)
		if (!has_flag(doc, help->name[i]))
			at += (size_t)snprintf(out + at, cap - at, " %s (in --help, not "
					       "the README)", help->name[i]);
	for (int i = 0; i < doc->n && at < cap; i++)
		if (!has_flag(help, doc->name[i]))
			at += (size_t)snprintf(out + at, cap - at, " %s (in the README, "
					       "not --help)", doc->name[i]);
}

/* Each tool's --help names the flags its README synopsis names, no more
 * and no fewer (README.md, or $Q8TUNE_README). */
Test(cli, help_matches_readme_synopsis)
{
	static const char *const tools[] = { "bench", "infer", "tune", "mkmodel" };
	const char *readme = getenv("Q8TUNE_README") ? getenv("Q8TUNE_README") :
			     "README.md";

	for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++) {
		char bin[32], diff[2048];
		struct flagset help, doc;
		struct proc p;

		snprintf(bin, sizeof bin, "./%s", tools[i]);
		if (access(bin, X_OK))
			cr_skip_test("%s is not built (run make first); skipped", bin);
		char *argv[] = { bin, "--help", NULL };
		run_argv(argv, &p);
		cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0,
			  "%s --help: %s", bin, p.err);
		char *syn = readme_synopsis(readme, tools[i]);
		cr_assert_not_null(syn, "%s: no synopsis block under ### `./%s`",
				   readme, tools[i]);
		flags_of(p.out, &help);
		flags_of(syn, &doc);
		cr_expect(help.n >= 5, "%s --help names only %d flags", bin, help.n);
		flag_diff(&help, &doc, diff, sizeof diff);
		cr_expect_str_eq(diff, "", "%s: --help and the %s synopsis differ:%s",
				 bin, readme, diff);
		free(syn);
		proc_free(&p);
	}
}

/* The flag scanner the test above relies on. */
Test(cli, flags_of_finds_flags_not_hyphens)
{
	struct flagset s;

	flags_of("usage: x -m PATH [--n-prompt N,...] --tied/--untied -o\n"
		 "non-zero q8_0-x 1..-5 models/default-<arch>-q8_0.gguf (-h)", &s);
	cr_assert_eq(s.n, 6, "%d flags", s.n);
	cr_expect_str_eq(s.name[0], "-m");
	cr_expect_str_eq(s.name[1], "--n-prompt");
	cr_expect_str_eq(s.name[2], "--tied");
	cr_expect_str_eq(s.name[3], "--untied");
	cr_expect_str_eq(s.name[4], "-o");
	cr_expect_str_eq(s.name[5], "-h");
}

/* llama-cli's spellings (-m, -p, -n, -t, -c, --n-predict, --ctx-size) and
 * --flag=value give what the long spellings give. */
Test(cli, llama_cli_spellings_agree, .timeout = 60)
{
	char dir[96], model[160], mflag[200];
	const struct synth_cfg c = small_cfg(SYNTH_GEMMA);
	struct proc a, b;

	need_infer();
	test_tmpdir(dir, sizeof dir, "cli");
	snprintf(model, sizeof model, "%s/m.gguf", dir);
	snprintf(mflag, sizeof mflag, "--model=%s", model);
	write_model(&c, model);
	char *lng[] = { "./infer", "--model", model, "--prompt", "Hello world",
			"--n-predict", "6", "--threads", "1", "--ctx", "32", "--temp",
			"0.8", "--seed", "7", "--json", "--ignore-eos", NULL };
	char *sht[] = { "./infer", "-m", model, "-p", "Hello world", "-n", "6",
			"-t", "1", "-c", "32", "--temp=0.8", "--seed=7", "--json",
			"--ignore-eos", NULL };
	char *eq[] = { "./infer", mflag, "--prompt=Hello world", "--n-predict=6",
		       "--threads=1", "--ctx-size=32", "--temp=0.8", "--seed=7",
		       "--json", "--ignore-eos", NULL };
	run_argv(lng, &a);
	cr_assert(WIFEXITED(a.status) && WEXITSTATUS(a.status) == 0, "%s", a.err);
	json_t *ja = json_loads(a.out, 0, NULL);
	cr_assert_not_null(ja, "%s", a.out);
	cr_assert_eq(json_array_size(json_object_get(ja, "generated_tokens")), 6);
	for (int k = 0; k < 2; k++) {
		run_argv(k ? eq : sht, &b);
		cr_assert(WIFEXITED(b.status) && WEXITSTATUS(b.status) == 0, "%s", b.err);
		json_t *jb = json_loads(b.out, 0, NULL);
		cr_expect(json_equal(json_object_get(ja, "generated_tokens"),
				     json_object_get(jb, "generated_tokens")),
			  "%s: %s vs %s", k ? "--flag=value" : "short flags", a.out, b.out);
		json_decref(jb);
		proc_free(&b);
	}
	json_decref(ja);
	proc_free(&a);
	char *bad[] = { "./infer", mflag, "--ctx-size=x", NULL };
	expect_clean_failure(bad, "--ctx-size");
	char cmd[160];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}

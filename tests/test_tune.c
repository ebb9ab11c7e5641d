/* test_tune.c - ./tune as a user runs it: it writes a config that
 * ./infer --config runs with the reference's tokens; crashing and hanging
 * candidates are isolated; SIGINT and SIGKILL leave the previous config
 * intact and --resume continues from the log. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include "common.h"
#include "config.h"
#include "cpu.h"
#include "run.h"

static void need_tools(void)
{
	if (access("./tune", X_OK) || access("./infer", X_OK) ||
	    access("./mkmodel", X_OK))
		cr_skip_test("./tune, ./infer or ./mkmodel is not built (run make "
			     "first); skipped");
}

/* A fresh directory with a tiny gemma model in it; returns the dir. */
static const char *tiny_setup(char *dir, size_t cap, char *model, size_t mcap)
{
	struct proc p;

	test_tmpdir(dir, cap, "tune");
	snprintf(model, mcap, "%s/tiny.gguf", dir);
	char *argv[] = { "./mkmodel", "-o", model, "--layers", "2", "--embd",
			 "128", "--heads", "2", "--kv-heads", "1", "--head-dim",
			 "64", "--ff", "256", NULL };
	run_argv(argv, &p);
	cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0, "%s", p.err);
	proc_free(&p);
	return dir;
}

static int exited(const struct proc *p, int code)
{
	return WIFEXITED(p->status) && WEXITSTATUS(p->status) == code;
}

/* Runs ./tune on model with a small budget; extra args appended. */
static void tune(const char *model, const char *out, const char *log,
		 const char *budget, const char *extra, struct proc *p)
{
	char *argv[] = { "./tune", "--model", (char *)model, "--out", (char *)out,
			 "--log", (char *)log, "--budget", (char *)budget,
			 "--pp", "8", "--gen", "4", (char *)extra, NULL };
	run_argv(argv, p);
}

/* The generated tokens of ./infer --json (with config if non-NULL). */
static json_t *infer_tokens(const char *model, const char *config, int n)
{
	char ns[16];
	struct proc p;
	json_error_t je;

	snprintf(ns, sizeof ns, "%d", n);
	char *argv[] = { "./infer", "--model", (char *)model, "-p", "Hello world",
			 "-n", ns, "--ignore-eos", "--json",
			 config ? "--config" : NULL, (char *)config, NULL };
	run_argv(argv, &p);
	cr_assert(exited(&p, 0), "infer failed: %s", p.err);
	json_t *j = json_loads(p.out, 0, &je);
	cr_assert_not_null(j, "infer printed no JSON: %s", p.out);
	json_t *t = json_incref(json_object_get(j, "generated_tokens"));
	json_decref(j);
	proc_free(&p);
	cr_assert(json_array_size(t) == (size_t)n);
	return t;
}

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *b;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	*n = (size_t)ftell(f);
	rewind(f);
	b = malloc(*n + 1);
	if (b && fread(b, 1, *n, f) != *n) {
		free(b);
		b = NULL;
	}
	if (b)
		b[*n] = '\0';
	fclose(f);
	return b;
}

/* Every line of a log is JSON with the log schema; a torn last line (no
 * '\n') is allowed only if allow_torn.  Returns the complete lines. */
static int log_lines_valid(const char *path, int allow_torn)
{
	size_t n;
	char *b = slurp(path, &n), *line, *save = NULL;
	int count = 0;

	if (!b)
		return 0;
	const int torn = n && b[n - 1] != '\n';
	cr_assert(allow_torn || !torn, "%s ends in a torn line", path);
	if (torn)
		*strrchr(b, '\n' ) = '\0';
	for (line = strtok_r(b, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *j = json_loads(line, 0, NULL);
		cr_assert_not_null(j, "%s: not JSON: %.80s", path, line);
		cr_assert_str_eq(json_string_value(json_object_get(j, "schema")),
				 "q8tune-tune-log");
		json_decref(j);
		count++;
	}
	free(b);
	return count;
}

Test(tune, writes_config_that_infer_runs, .timeout = 120)
{
	char dir[64], model[96], out[128], log[128];
	struct proc p;
	struct best_config c;
	char err[512];

	need_tools();
	tiny_setup(dir, sizeof dir, model, sizeof model);
	snprintf(out, sizeof out, "%s/best.json", dir);
	snprintf(log, sizeof log, "%s/log.jsonl", dir);
	tune(model, out, log, "5", NULL, &p);
	cr_assert(exited(&p, 0), "tune failed: %s", p.err);
	cr_expect(strstr(p.out, "prompt phase") && strstr(p.out, "decode phase"),
		  "no report: %s", p.out);
	cr_expect(strstr(p.out, "Amdahl"), "no Amdahl check: %s", p.out);
	cr_expect(strstr(p.out, "./infer --model"), "no hint how to run it");
	proc_free(&p);

	/* the file validates and names a usable variant for every op */
	cr_assert(config_read(out, cpu_get()->features, &c, err, sizeof err) == 0,
		  "%s", err);
	for (int ph = 0; ph < PHASE_COUNT; ph++) {
		cr_expect(c.phase[ph].threads >= 1);
		for (int op = 0; op < OP_COUNT; op++)
			cr_expect(c.phase[ph].v[op] &&
				  !variant_unusable(c.phase[ph].v[op]));
	}
	cr_expect_not_null(json_object_get(json_object_get(c.measurements,
		"prompt"), "speedup_vs_scalar"));
	config_free(&c);

	/* production inference with it makes the reference config's tokens */
	json_t *ref = infer_tokens(model, NULL, 12);
	json_t *got = infer_tokens(model, out, 12);
	cr_expect(json_equal(ref, got), "tokens differ with the tuned config");
	json_decref(ref);
	json_decref(got);
	log_lines_valid(log, 0);
}

Test(tune, crashing_and_hanging_candidates_are_isolated, .timeout = 120)
{
	char dir[64], model[96], out[128], log[128];
	struct proc p;

	need_tools();
	tiny_setup(dir, sizeof dir, model, sizeof model);
	snprintf(out, sizeof out, "%s/best.json", dir);
	snprintf(log, sizeof log, "%s/log.jsonl", dir);
	/* gelu/rational and gelu/erf need no CPU feature and are never the
	 * default, so they are candidates under every CPU mask */
	setenv("Q8TUNE_TUNE_FAULT", "crash:gelu/rational", 1);
	tune(model, out, log, "6", "--ops=gelu", &p);
	cr_assert(exited(&p, 0), "tune gave up: %s", p.err);
	cr_expect(strstr(p.out, "rational") && strstr(p.out, "crashed") &&
		  strstr(p.out, "signal 11"), "crash not recorded: %s", p.out);
	cr_expect(access(out, R_OK) == 0, "no config written after a crash");
	proc_free(&p);

	/* a child that exits with an error (as a sanitizer or an abort
	 * handler does) is one failed candidate, not the end of the search */
	setenv("Q8TUNE_TUNE_FAULT", "exit:gelu/rational", 1);
	tune(model, out, log, "6", "--ops=gelu", &p);
	cr_assert(exited(&p, 0), "tune gave up: %s", p.err);
	cr_expect(strstr(p.out, "rational") && strstr(p.out, "crashed") &&
		  strstr(p.out, "exited with status 1"), "exit not recorded: %s",
		  p.out);
	proc_free(&p);

	setenv("Q8TUNE_TUNE_FAULT", "hang:gelu/erf", 1);
	char *argv[] = { "./tune", "--model", model, "--out", out, "--log", log,
			 "--budget", "8", "--pp", "8", "--gen", "4", "--timeout",
			 "2", "--ops", "gelu", NULL };
	run_argv(argv, &p);
	unsetenv("Q8TUNE_TUNE_FAULT");
	cr_assert(exited(&p, 0), "tune gave up: %s", p.err);
	cr_expect(strstr(p.out, "erf") && strstr(p.out, "hung"),
		  "hang not recorded: %s", p.out);
	proc_free(&p);
}

/* Starts ./tune in the background in a process group of its own, with
 * extra flags (NULL-terminated, may be NULL); returns its pid. */
static pid_t tune_bg_with(const char *model, const char *out, const char *log,
			  const char *budget, const char *const *extra)
{
	pid_t pid = fork();

	if (pid == 0) {
		const char *argv[24] = { "./tune", "--model", model, "--out", out,
			"--log", log, "--budget", budget, "--pp", "8", "--gen", "4" };
		int nul = open("/dev/null", O_RDWR), k = 13;
		setpgid(0, 0);	/* its evaluations are in its group */
		dup2(nul, 0);
		dup2(nul, 1);
		dup2(nul, 2);
		for (; extra && *extra && k < 23; extra++)
			argv[k++] = *extra;
		argv[k] = NULL;
		execv("./tune", (char *const *)argv);
		_exit(127);
	}
	return pid;
}

static pid_t tune_bg(const char *model, const char *out, const char *log,
		     const char *budget, int resume)
{
	const char *const extra[] = { resume ? "--resume" : NULL, NULL };

	return tune_bg_with(model, out, log, budget, extra);
}

/* Waits until the log has at least n complete lines (or ~20 s). */
static void wait_log(const char *log, int n)
{
	for (int i = 0; i < 400; i++) {
		size_t len;
		char *b = slurp(log, &len);
		int lines = 0;
		for (size_t k = 0; b && k < len; k++)
			lines += b[k] == '\n';
		free(b);
		if (lines >= n)
			return;
		usleep(50000);
	}
}

/* Processes of process group pg that are not zombies (from /proc). */
static int live_in_group(pid_t pg)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d))) {
		char path[300], buf[512], state;
		int ppid, pgrp;
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		size_t k = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[k] = '\0';
		const char *p = strrchr(buf, ')');
		if (p && sscanf(p + 1, " %c %d %d", &state, &ppid, &pgrp) == 3 &&
		    pgrp == pg && state != 'Z' && state != 'X')
			n++;
	}
	closedir(d);
	return n;
}

static void interrupted_run_keeps_config(int sig)
{
	char dir[64], model[96], out[128], log[128];
	static const char old[] = "{\"previous\": \"config, kept byte for byte\"}\n";
	size_t n;
	int st;

	need_tools();
	tiny_setup(dir, sizeof dir, model, sizeof model);
	snprintf(out, sizeof out, "%s/best.json", dir);
	snprintf(log, sizeof log, "%s/log.jsonl", dir);
	FILE *f = fopen(out, "w");
	fputs(old, f);
	fclose(f);

	pid_t pid = tune_bg(model, out, log, "30", 0);
	wait_log(log, 2);
	/* and until an evaluation child runs beside it */
	for (int i = 0; i < 400 && live_in_group(pid) < 2; i++)
		usleep(5000);
	kill(pid, sig);
	waitpid(pid, &st, 0);
	if (sig == SIGINT)
		cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 130,
			  "SIGINT: status %#x, not exit 130", st);
	else
		cr_expect(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	/* its evaluation children die with it: within 150 ms (an
	 * evaluation runs for longer) nothing of its process group runs (a
	 * zombie is dead: this container's init may be slow to reap it) */
	int orphans = 1;
	for (int i = 0; i < 15 && orphans; i++) {
		orphans = live_in_group(pid);
		if (orphans)
			usleep(10000);
	}
	cr_expect(!orphans, "%d evaluation children of the killed tune live on",
		  orphans);
	char *now = slurp(out, &n);
	cr_expect(now && !strcmp(now, old), "the previous config changed");
	free(now);
	/* no temporary file left beside it (SIGKILL may leave none either:
	 * the config is only written at the very end) */
	const int before = log_lines_valid(log, 1);
	cr_expect(before >= 2);

	/* --resume reuses what was measured and finishes */
	struct proc p;
	char *argv[] = { "./tune", "--model", model, "--out", out, "--log", log,
			 "--budget", "5", "--pp", "8", "--gen", "4", "--resume",
			 NULL };
	run_argv(argv, &p);
	cr_assert(exited(&p, 0), "resume failed: %s", p.err);
	cr_expect(strstr(p.out, "(from the log)"), "nothing reused: %s", p.out);
	proc_free(&p);
	log_lines_valid(log, 0);
	now = slurp(out, &n);
	cr_expect(now && strcmp(now, old), "resume wrote no config");
	free(now);
}

Test(tune, sigint_keeps_previous_config, .timeout = 120)
{
	interrupted_run_keeps_config(SIGINT);
}

Test(tune, sigkill_keeps_previous_config_and_resumes, .timeout = 120)
{
	interrupted_run_keeps_config(SIGKILL);
}

/* stories260K: tune, then infer with the winner reproduces llama.cpp's
 * 48 greedy tokens (the same rule as the foundation's e2e tests). */
Test(tune, stories_tuned_infer_matches_fixture, .timeout = 240)
{
	NEED_SHARED(model, "models/stories260K-q8_0.gguf");
	NEED_SHARED(fx, "fixtures/stories260K-q8_0-A.json");
	char dir[96], out[128], log[128];
	json_error_t je;
	struct proc p;

	need_tools();
	test_tmpdir(dir, sizeof dir, "tunes");
	snprintf(out, sizeof out, "%s/best.json", dir);
	snprintf(log, sizeof log, "%s/log.jsonl", dir);
	tune(model, out, log, "8", NULL, &p);
	cr_assert(exited(&p, 0), "tune failed: %s", p.err);
	proc_free(&p);

	json_t *root = json_load_file(fx, 0, &je);
	const json_t *c = json_array_get(json_object_get(root, "cases"), 0);
	const char *prompt = json_string_value(json_object_get(c, "prompt"));
	const json_t *want = json_object_get(c, "generated_tokens");
	char n[16];
	snprintf(n, sizeof n, "%zu", json_array_size(want));
	char *argv[] = { "./infer", "--model", (char *)model, "-p", (char *)prompt,
			 "-n", n, "--weights", "native", "--json", "--config", out,
			 NULL };
	run_argv(argv, &p);
	cr_assert(exited(&p, 0), "infer --config failed: %s", p.err);
	json_t *got = json_loads(p.out, 0, &je);
	cr_assert_not_null(got);
	cr_expect(json_equal(json_object_get(got, "generated_tokens"), want),
		  "tuned tokens differ from llama.cpp's: %s", p.out);
	json_decref(got);
	json_decref(root);
	proc_free(&p);
}

Test(tune, bad_flags_fail_cleanly)
{
	static const char *const cases[][4] = {
		{ "--model", "/nonexistent.gguf", NULL },
		{ "--model", "x.gguf", "--budget", "abc" },
		{ "--model", "x.gguf", "--threads", "0" },
		{ "--bogus", NULL },
		{ "--model", "x.gguf", "--ops", "nosuchop" },
		{ NULL },
	};

	need_tools();
	for (int i = 0; i < 6; i++) {
		char *argv[6] = { "./tune" };
		int k = 1;
		for (int j = 0; j < 4 && cases[i][j]; j++)
			argv[k++] = (char *)cases[i][j];
		argv[k] = NULL;
		struct proc p;
		run_argv(argv, &p);
		cr_expect(exited(&p, 1), "case %d: status %#x", i, p.status);
		cr_expect(count_lines(p.err) == 1, "case %d: stderr '%s'", i, p.err);
		cr_expect(!strncmp(p.err, "tune: ", 6), "case %d: '%s'", i, p.err);
		cr_expect_str_empty(p.out, "case %d", i);
		proc_free(&p);
	}
}

/* A tune in which every evaluation fails (here each one hangs and is
 * killed at the time limit: the fault hook makes every rope variant hang, and
 * one thread leaves no thread candidate) measured nothing: it exits 1
 * with one line saying so and leaves --out as it was.  (A bare tiny
 * --timeout is not enough: on a tiny model an evaluation can finish
 * within the first poll.) */
Test(tune, all_failed_keeps_previous_config, .timeout = 120)
{
	char dir[96], model[160], out[200], log[200];
	const char before[] = "{\"not\": \"touched\"}\n";
	struct proc p;

	need_tools();
	tiny_setup(dir, sizeof dir, model, sizeof model);
	snprintf(out, sizeof out, "%s/best.json", dir);
	snprintf(log, sizeof log, "%s/log.jsonl", dir);
	FILE *f = fopen(out, "w");
	cr_assert_not_null(f);
	fputs(before, f);
	fclose(f);
	char *argv[] = { "./tune", "--model", model, "--out", out, "--log", log,
			 "--budget", "5", "--pp", "8", "--gen", "4", "--ops", "rope",
			 "--threads", "1", "--timeout", "0.5", NULL };
	setenv("Q8TUNE_TUNE_FAULT", "hang:rope/*", 1);
	run_argv(argv, &p);
	unsetenv("Q8TUNE_TUNE_FAULT");
	cr_expect(exited(&p, 1), "exit %d; %s", WEXITSTATUS(p.status), p.err);
	cr_expect_not_null(strstr(p.err, "nothing was measured"), "%s", p.err);
	FILE *g = fopen(out, "r");
	char now[64] = "";
	cr_assert_not_null(g);
	cr_expect_not_null(fgets(now, sizeof now, g));
	fclose(g);
	cr_expect_str_eq(now, before, "--out was rewritten");
	proc_free(&p);
}

/* A SIGKILLed tune leaves no evaluation running: its children die with it
 * (PR_SET_PDEATHSIG).  A child that hangs (the fault hook) would
 * otherwise live on forever; it must be gone within 150 ms. */
Test(tune, sigkilled_tune_leaves_no_evaluation_running, .timeout = 60)
{
	char dir[96], model[160], out[200], log[200];
	int st, n = 0;

	need_tools();
	tiny_setup(dir, sizeof dir, model, sizeof model);
	snprintf(out, sizeof out, "%s/best.json", dir);
	snprintf(log, sizeof log, "%s/log.jsonl", dir);
	static const char *const extra[] = { "--ops", "gelu", "--timeout", "60",
					     NULL };
	/* gelu/fp16 needs no CPU feature and is never the default */
	setenv("Q8TUNE_TUNE_FAULT", "hang:gelu/fp16", 1);
	pid_t pid = tune_bg_with(model, out, log, "30", extra);
	unsetenv("Q8TUNE_TUNE_FAULT");
	/* the hanging evaluation: a child alive for a second */
	for (int i = 0; i < 800 && n < 20; i++) {
		n = live_in_group(pid) >= 2 ? n + 1 : 0;
		usleep(50000);
	}
	cr_assert_geq(n, 20, "no evaluation child stayed up");
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	int left = 1;
	for (int i = 0; i < 15 && left; i++) {
		left = live_in_group(pid);
		if (left)
			usleep(10000);
	}
	if (left)
		kill(-pid, SIGKILL);	/* do not leave it behind either */
	cr_expect(!left, "%d evaluation children of the killed tune live on",
		  left);
}

/* Two tunes on the same log at once: the second is refused at once with
 * one line naming the first one's pid; the first goes on. */
Test(tune, a_second_tune_on_the_same_log_is_refused, .timeout = 120)
{
	char dir[96], model[160], out[200], out2[200], log[200], pidstr[32];
	struct proc p;
	int st;

	need_tools();
	tiny_setup(dir, sizeof dir, model, sizeof model);
	snprintf(out, sizeof out, "%s/best.json", dir);
	snprintf(out2, sizeof out2, "%s/other.json", dir);
	snprintf(log, sizeof log, "%s/log.jsonl", dir);
	pid_t pid = tune_bg(model, out, log, "30", 0);
	wait_log(log, 1);
	char *argv[] = { "./tune", "--model", model, "--out", out2, "--log", log,
			 "--budget", "5", "--pp", "8", "--gen", "4", NULL };
	run_argv(argv, &p);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	snprintf(pidstr, sizeof pidstr, "process %d", (int)pid);
	cr_expect(exited(&p, 1), "exit %d: %s", WEXITSTATUS(p.status), p.err);
	cr_expect_eq(count_lines(p.err), 1, "%s", p.err);
	cr_expect_not_null(strstr(p.err, pidstr), "'%s' not in: %s", pidstr, p.err);
	cr_expect(access(out2, F_OK) != 0, "the refused tune wrote a config");
	proc_free(&p);
}

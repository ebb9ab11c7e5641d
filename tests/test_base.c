/* test_base.c - the base layer (base/): the clock, the generator, the
 * hash, the flag parsers and the folder maker; and the run's temp folder.
 *
 * The two report hooks below give every build/unit run one folder of its
 * own, $Q8TUNE_TEST_TMP = /tmp/q8t-run-PID-XXXXXX, made before the first
 * test (the workers inherit the variable) and removed with all it holds
 * after the last, so a test that fails, crashes or times out leaves
 * nothing behind.  Folders of earlier runs whose runner is gone (a
 * killed run) are removed at the start. */
#include <criterion/hooks.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <time.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <sys/stat.h>
#include "cli.h"
#include "clock.h"
#include "common.h"
#include "file.h"
#include "hash.h"
#include "text.h"
#include "rng.h"

static char run_root[128];

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* rm -rf path */
static void rm_tree(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Removes /tmp/q8t-run-PID-* folders whose PID is no longer running. */
static void rm_stale_roots(void)
{
	DIR *d = opendir("/tmp");
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[300];
		int pid;

		if (sscanf(e->d_name, "q8t-run-%d-", &pid) != 1 || pid <= 0 ||
		    (kill(pid, 0) == 0 || errno == EPERM))
			continue;
		snprintf(path, sizeof path, "/tmp/%s", e->d_name);
		rm_tree(path);
	}
	closedir(d);
}

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	(void)set;
	rm_stale_roots();
	snprintf(run_root, sizeof run_root, "/tmp/q8t-run-%d-XXXXXX", (int)getpid());
	if (mkdtemp(run_root))
		setenv("Q8TUNE_TEST_TMP", run_root, 1);
	else
		run_root[0] = '\0';
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	(void)stats;
	if (run_root[0])
		rm_tree(run_root);
}

/* --- clock ----------------------------------------------------------------- */

Test(base, clock_is_monotonic_and_consistent)
{
	uint64_t a = now_ns();
	double ma = now_ms();
	struct timespec sl = { 0, 20 * 1000 * 1000 };

	nanosleep(&sl, NULL);
	uint64_t b = now_ns();
	double mb = now_ms();
	cr_expect_geq(b - a, 20000000u, "slept 20 ms, clock moved %llu ns",
		      (unsigned long long)(b - a));
	cr_expect(mb - ma >= 20.0 && mb - ma < 5000.0, "ms moved %.3f", mb - ma);
	/* the ms clock is the ns clock scaled: read between two ns stamps */
	uint64_t c = now_ns();
	double m = now_ms();
	uint64_t d = now_ns();
	cr_expect(m >= c * 1e-6 - 1e-6 && m <= d * 1e-6 + 1e-6);
}

Test(base, utc_iso8601_format)
{
	char buf[32], small[8];
	int y, mo, d, h, mi, s;
	char z;

	utc_iso8601(buf, sizeof buf);
	cr_assert_eq(strlen(buf), 20, "'%s'", buf);
	cr_assert_eq(sscanf(buf, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi,
			    &s, &z), 7, "'%s'", buf);
	cr_expect(y >= 2024 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && z == 'Z');
	utc_iso8601(small, sizeof small);	/* too small: empty, not cut */
	cr_expect_str_eq(small, "");
}

/* --- generator and hash: published test vectors --------------------------- */

Test(base, splitmix64_reference_values)
{
	/* the first outputs for seed 1234567, as in the reference
	 * implementation's test (Vigna, splitmix64.c) */
	static const uint64_t want[] = {
		6457827717110365317ull, 3203168211198807973ull,
		9817491932198370423ull, 4593380528125082431ull,
		16408922859458223821ull,
	};
	uint64_t s = 1234567, t = 1234567;

	for (int i = 0; i < 5; i++)
		cr_expect_eq(splitmix64(&s), want[i], "output %d", i);
	/* unit: the top 53 bits of the same stream, in [0, 1) */
	for (int i = 0; i < 5; i++) {
		double u = splitmix64_unit(&t);
		cr_expect(u >= 0 && u < 1);
		cr_expect_eq(u, (double)(want[i] >> 11) / 9007199254740992.0);
	}
}

Test(base, fnv1a_test_vectors)
{
	/* Fowler/Noll/Vo's published vectors */
	cr_expect_eq(fnv1a64_str(""), 0xcbf29ce484222325ull);
	cr_expect_eq(fnv1a64_str("a"), 0xaf63dc4c8601ec8cull);
	cr_expect_eq(fnv1a64_str("foobar"), 0x85944171f73967e8ull);
	cr_expect_eq(fnv1a32_str(""), 0x811c9dc5u);
	cr_expect_eq(fnv1a32_str("a"), 0xe40c292cu);
	cr_expect_eq(fnv1a32_str("foobar"), 0xbf9cf968u);
	/* a running state: "foo" then "bar" is "foobar" */
	cr_expect_eq(fnv1a64(fnv1a64(FNV64_OFFSET, "foo", 3), "bar", 3),
		     0x85944171f73967e8ull);
}

Test(base, text_oneline)
{
	char s[] = "line 2: near '\"a\\\n\tb\x7f'", none[] = "plain";

	cr_expect_eq(text_oneline(s), s);
	cr_expect_str_eq(s, "line 2: near '\"a\\??b?'");
	cr_expect_str_eq(text_oneline(none), "plain");
}

/* --- flag parsing ---------------------------------------------------------- */

Test(base, cli_numbers)
{
	char err[256];
	long l;
	int i;
	uint64_t u;
	double d;

	cr_expect_eq(cli_long("--n", "42", 0, 100, &l, err, sizeof err), 0);
	cr_expect_eq(l, 42);
	cr_expect_eq(cli_long("--n", "-3", -5, 5, &l, err, sizeof err), 0);
	cr_expect_eq(l, -3);
	static const char *const bad_int[] = { "", " 1", "+1", "1x", "1.5",
		"101", "-1", "99999999999999999999", "0x10", NULL };
	for (int k = 0; bad_int[k]; k++) {
		err[0] = '\0';
		cr_expect_eq(cli_int("--n", bad_int[k], 0, 100, &i, err, sizeof err),
			     -1, "'%s' accepted", bad_int[k]);
		char want[64];
		snprintf(want, sizeof want, "--n: '%s' is not a whole number from 0 "
			 "to 100", bad_int[k]);
		cr_expect_str_eq(err, want);
	}
	cr_expect_eq(cli_u64("--seed", "0x10", UINT64_MAX, &u, err, sizeof err), 0);
	cr_expect_eq(u, 16);
	cr_expect_eq(cli_u64("--seed", "18446744073709551615", UINT64_MAX, &u,
			     err, sizeof err), 0);
	cr_expect_eq(u, UINT64_MAX);
	cr_expect_eq(cli_u64("--seed", "-1", UINT64_MAX, &u, err, sizeof err), -1);
	cr_expect_eq(cli_u64("--d", "4294967296", UINT32_MAX, &u, err, sizeof err), -1);
	cr_expect_str_eq(err, "--d: '4294967296' is not an unsigned number up to "
			 "4294967295");
	cr_expect_eq(cli_double("--b", "2.5", 0, 10, &d, err, sizeof err), 0);
	cr_expect_eq(d, 2.5);
	cr_expect_eq(cli_double("--b", "1e-2", 1e-3, 10, &d, err, sizeof err), 0);
	static const char *const bad_real[] = { "nan", "NAN", "inf", "-inf",
		"infinity", "", "1e400", "11", "0", "2.5s", NULL };
	for (int k = 0; bad_real[k]; k++)
		cr_expect_eq(cli_double("--b", bad_real[k], 1e-3, 10, &d, err,
					sizeof err), -1, "'%s' accepted", bad_real[k]);
	cr_expect_str_eq(err, "--b: '2.5s' is not a number from 0.001 to 10");
}

Test(base, cli_lists_and_choices)
{
	static const char *const fmts[] = { "table", "md", "csv", NULL };
	char err[256];
	int v[4];

	cr_expect_eq(cli_int_list("-p", "16,64,512", 1, 4096, v, 4, err,
				  sizeof err), 3);
	cr_expect(v[0] == 16 && v[1] == 64 && v[2] == 512);
	cr_expect_eq(cli_int_list("-t", "2", 1, 8, v, 4, err, sizeof err), 1);
	cr_expect_eq(v[0], 2);
	static const char *const bad[] = { "", ",", "1,", ",1", "1,,2", "1,x",
		"1,9", "1,2,3,4,5", NULL };
	for (int k = 0; bad[k]; k++)
		cr_expect_eq(cli_int_list("-t", bad[k], 1, 8, v, 4, err, sizeof err),
			     -1, "'%s' accepted", bad[k]);
	cr_expect_str_eq(err, "-t: '1,2,3,4,5' has more than 4 values");
	cr_expect_eq(cli_int_list("-t", "1,9", 1, 8, v, 4, err, sizeof err), -1);
	cr_expect_str_eq(err, "-t: '9' is not a whole number from 1 to 8");

	cr_expect_eq(cli_choice("-o", "md", fmts, err, sizeof err), 1);
	cr_expect_eq(cli_choice("-o", "json", fmts, err, sizeof err), -1);
	cr_expect_str_eq(err, "-o: 'json' is not table, md or csv");
}

/* --- folders --------------------------------------------------------------- */

Test(base, file_mkdirs_makes_the_parents_only)
{
	char dir[256], path[400];
	struct stat st;

	test_tmpdir(dir, sizeof dir, "base");
	snprintf(path, sizeof path, "%s/a/b/c.json", dir);
	cr_assert_eq(file_mkdirs(path), 0, "%s", strerror(errno));
	snprintf(path, sizeof path, "%s/a/b", dir);
	cr_expect(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
	snprintf(path, sizeof path, "%s/a/b/c.json", dir);
	cr_expect_eq(stat(path, &st), -1, "the file itself was made");
	/* again: the folders exist, not an error */
	cr_expect_eq(file_mkdirs(path), 0);
	/* a file in the way */
	snprintf(path, sizeof path, "%s/f", dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fclose(f);
	snprintf(path, sizeof path, "%s/f/x/y", dir);
	cr_expect_eq(file_mkdirs(path), -1);
}

/* The run's temp folder exists in the workers and test_tmpdir uses it. */
Test(base, test_tmpdir_is_under_the_run_root)
{
	const char *root = getenv("Q8TUNE_TEST_TMP");
	char dir[256];

	cr_assert_not_null(root, "the PRE_ALL hook did not set Q8TUNE_TEST_TMP");
	test_tmpdir(dir, sizeof dir, "x");
	cr_expect_eq(strncmp(dir, root, strlen(root)), 0, "%s not under %s", dir,
		     root);
}

/* Temp files of killed writers are removed by the next write to the same
 * target: a dead PID's file over a minute old; not one of a live process,
 * not a fresh one, not another target's. */
Test(base, stale_temp_files_are_cleaned_by_the_next_write)
{
	char dir[96], target[160], err[256];
	/* a PID beyond pid_max: no process has it */
	static const char *const names[] = {
		"t.json.2147483600.abcdef.tmp",	/* dead, old: removed */
		"t.json.2147483601.ghijkl.tmp",	/* dead, fresh: kept */
		"t.json.LIVE.mnopqr.tmp",	/* this process, old: kept */
		"t.json.uvwxyz.tmp",		/* an older build's, old: removed */
		"u.json.2147483602.abcdef.tmp",	/* another target: kept */
	};
	static const int old[] = { 1, 0, 1, 1, 1 }, gone[] = { 1, 0, 0, 1, 0 };
	char path[5][256];

	test_tmpdir(dir, sizeof dir, "stale");
	snprintf(target, sizeof target, "%s/t.json", dir);
	for (int i = 0; i < 5; i++) {
		char name[64];
		snprintf(name, sizeof name, "%s", names[i]);
		char *live = strstr(name, "LIVE");
		if (live) {
			char rest[32];
			snprintf(rest, sizeof rest, "%s", live + 4);
			snprintf(live, sizeof name - (size_t)(live - name), "%d%s",
				 (int)getpid(), rest);
		}
		snprintf(path[i], sizeof path[i], "%s/%s", dir, name);
		FILE *f = fopen(path[i], "w");
		cr_assert_not_null(f);
		fclose(f);
		if (old[i]) {
			struct timespec ts[2] = { { time(NULL) - 120, 0 },
						  { time(NULL) - 120, 0 } };
			cr_assert_eq(utimensat(AT_FDCWD, path[i], ts, 0), 0);
		}
	}
	cr_assert_eq(file_write_atomic(target, "{}\n", 3, 0, err, sizeof err), 0,
		     "%s", err);
	for (int i = 0; i < 5; i++)
		cr_expect_eq(access(path[i], F_OK) != 0, gone[i], "%s: %s", names[i],
			     gone[i] ? "left" : "removed");
	/* and the write itself leaves no temp file */
	cr_expect_eq(file_clean_stale(target), 0);
}

/* file_lock: a second process is refused and told the holder's pid; the
 * lock goes with the holder. */
Test(base, file_lock_names_the_holder)
{
	char dir[96], path[160], err[256] = "", want[64];
	int ready[2], done[2], st;
	char c;

	test_tmpdir(dir, sizeof dir, "lock");
	snprintf(path, sizeof path, "%s/sub/log.jsonl", dir);
	cr_assert_eq(pipe(ready), 0);
	cr_assert_eq(pipe(done), 0);
	pid_t pid = fork();
	if (pid == 0) {
		int fd = file_lock(path, err, sizeof err);
		c = fd >= 0 ? 'y' : 'n';
		(void)!write(ready[1], &c, 1);
		(void)!read(done[0], &c, 1);
		_exit(0);
	}
	cr_assert_eq(read(ready[0], &c, 1), 1);
	cr_assert_eq(c, 'y', "the child could not take the lock");
	cr_expect_eq(file_lock(path, err, sizeof err), -1);
	snprintf(want, sizeof want, "in use by process %d", (int)pid);
	cr_expect_not_null(strstr(err, want), "%s", err);
	cr_expect_not_null(strstr(err, path), "%s", err);
	(void)!write(done[1], "x", 1);
	waitpid(pid, &st, 0);
	int fd = file_lock(path, err, sizeof err);
	cr_expect_geq(fd, 0, "not free after the holder exited: %s", err);
	close(fd);
}

/* The atomic writer never replaces what is not a regular file (a FIFO
 * here; /dev/null for a root user): refused, left as it was. */
Test(base, atomic_write_refuses_a_non_regular_target)
{
	char dir[96], path[160], err[256] = "";
	struct stat st;

	test_tmpdir(dir, sizeof dir, "fifo");
	snprintf(path, sizeof path, "%s/pipe", dir);
	cr_assert_eq(mkfifo(path, 0600), 0);
	cr_expect_eq(file_write_atomic(path, "x", 1, 0, err, sizeof err), -1);
	cr_expect_not_null(strstr(err, "not a regular file"), "%s", err);
	cr_assert_eq(stat(path, &st), 0);
	cr_expect(S_ISFIFO(st.st_mode), "the FIFO was replaced");
}

/* --- the flag loop ----------------------------------------------------- */

enum { T_MODEL = 1, T_PP, T_QUIET, T_CSV };

static const struct cli_flag t_flags[] = {
	{ "model", 'm', 1, T_MODEL }, { "n-prompt", 'p', 1, T_PP },
	{ "pp", 0, 1, T_PP }, { "quiet", 'q', 0, T_QUIET }, { "csv", 0, 2, T_CSV },
	{ 0 }
};

/* Runs the loop over words (NULL-terminated) and returns what it saw,
 * one "id:flag=value" per flag, or "ERR:message". */
static void t_loop(const char *const *words, char *out, size_t cap)
{
	char *argv[16];
	int argc = 0, id;
	struct cli c;
	size_t at = 0;

	argv[argc++] = "tool";
	for (; *words; words++)
		argv[argc++] = (char *)*words;
	argv[argc] = NULL;
	*out = '\0';
	cli_begin(&c, argc, argv, t_flags);
	while ((id = cli_next(&c)) != 0 && at < cap) {
		if (id < 0) {
			snprintf(out + at, cap - at, "ERR:%.400s", c.err);
			return;
		}
		at += (size_t)snprintf(out + at, cap - at, "%d:%s=%s ", id, c.flag,
				       c.val ? c.val : "-");
	}
	if (cli_rest(&c) && at < cap)
		snprintf(out + at, cap - at, "rest:%s", cli_rest(&c));
}

/* Every spelling of a flag is its id; --flag=value, -xVALUE, aliases;
 * unknown flags, missing values and values given to a switch are one
 * line naming the flag as written. */
Test(base, cli_flag_loop)
{
	char out[512];

	t_loop((const char *[]){ "-m", "a.gguf", "--model=b.gguf", "-pc", "--pp",
				 "4,8", "--n-prompt=16", "-q", "--csv", "--csv=f",
				 "word", NULL }, out, sizeof out);
	cr_expect_str_eq(out, "1:-m=a.gguf 1:--model=b.gguf 2:-p=c 2:--pp=4,8 "
			 "2:--n-prompt=16 3:-q=- 4:--csv=- 4:--csv=f rest:word");
	t_loop((const char *[]){ "--bogus", NULL }, out, sizeof out);
	cr_expect_str_eq(out, "ERR:unknown option '--bogus' (see --help)");
	t_loop((const char *[]){ "-x", NULL }, out, sizeof out);
	cr_expect_str_eq(out, "ERR:unknown option '-x' (see --help)");
	t_loop((const char *[]){ "--model", NULL }, out, sizeof out);
	cr_expect_str_eq(out, "ERR:--model needs a value (see --help)");
	t_loop((const char *[]){ "-m", NULL }, out, sizeof out);
	cr_expect_str_eq(out, "ERR:-m needs a value (see --help)");
	t_loop((const char *[]){ "--quiet=yes", NULL }, out, sizeof out);
	cr_expect_str_eq(out, "ERR:--quiet takes no value (see --help)");
	/* a second pass starts afresh (getopt's state is global) */
	t_loop((const char *[]){ "--pp=1", NULL }, out, sizeof out);
	cr_expect_str_eq(out, "2:--pp=1 ");

	/* values are parsed in the flag's own spelling */
	char *argv[] = { "tool", "--n-prompt=4,x", NULL };
	struct cli c;
	int v[4];
	cli_begin(&c, 2, argv, t_flags);
	cr_assert_eq(cli_next(&c), T_PP);
	cr_expect_eq(cli_get_list(&c, 1, 100, v, 4), -1);
	cr_expect_str_eq(c.err, "--n-prompt: 'x' is not a whole number from 1 to 100");
}

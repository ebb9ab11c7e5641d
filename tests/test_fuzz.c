/* test_fuzz.c - every committed fuzz input as a plain regression test:
 * the seeds (tests/fuzz/corpus/<target>/) and every crash reproducer a
 * campaign found (tests/fuzz/crashes/<target>/) run through the target's
 * function built with gcc into this binary, so a fixed finding stays
 * fixed without clang.  A target that crashes or breaks a property
 * aborts, and Criterion reports this test as crashed. */
#include <dirent.h>
#include <sys/stat.h>
#include "common.h"
#include "fuzz/fuzz.h"

int fuzz_gguf(const uint8_t *data, size_t size);
int fuzz_tokenizer(const uint8_t *data, size_t size);
int fuzz_config(const uint8_t *data, size_t size);
int fuzz_results(const uint8_t *data, size_t size);
int fuzz_plotdata(const uint8_t *data, size_t size);

/* Runs fn on every file of tests/fuzz/<kind>/<target>/; how many. */
static int run_dir(const char *kind, const char *target,
		   int (*fn)(const uint8_t *, size_t))
{
	char dir[256];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(dir, sizeof dir, "tests/fuzz/%s/%s", kind, target);
	if (!(d = opendir(dir)))
		return 0;
	while ((e = readdir(d))) {
		char path[600];
		struct stat st;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "rb");
		cr_assert_not_null(f, "%s", path);
		cr_assert_eq(fstat(fileno(f), &st), 0);
		uint8_t *buf = malloc((size_t)st.st_size + 1);
		cr_assert_not_null(buf);
		cr_assert_eq(fread(buf, 1, (size_t)st.st_size, f), (size_t)st.st_size);
		fclose(f);
		cr_log_info("%s", path);
		fn(buf, (size_t)st.st_size);
		free(buf);
		n++;
	}
	closedir(d);
	return n;
}

static void run_target(const char *target, int (*fn)(const uint8_t *, size_t))
{
	if (access("tests/fuzz", R_OK))
		cr_skip_test("tests/fuzz is not here (run from the top of the "
			     "tree); skipped");
	int seeds = run_dir("corpus", target, fn);
	run_dir("crashes", target, fn);
	cr_expect_gt(seeds, 0, "no committed seed for %s", target);
}

Test(fuzz, gguf_inputs, .timeout = 120) { run_target("gguf", fuzz_gguf); }
Test(fuzz, tokenizer_inputs) { run_target("tokenizer", fuzz_tokenizer); }
Test(fuzz, config_inputs) { run_target("config", fuzz_config); }
Test(fuzz, results_inputs) { run_target("results", fuzz_results); }
Test(fuzz, plotdata_inputs) { run_target("plotdata", fuzz_plotdata); }

/* common.h - shared helpers for the Criterion tests. */
#ifndef Q8TUNE_TESTS_COMMON_H
#define Q8TUNE_TESTS_COMMON_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Path of a file under ../shared (or $Q8TUNE_SHARED), in a static buffer
 * per call site slot; NULL if the file is absent. */
static inline const char *shared_file(const char *rel)
{
	static char buf[8][1024];
	static int slot;
	const char *root = getenv("Q8TUNE_SHARED");
	char *p = buf[slot++ & 7];

	snprintf(p, 1024, "%s/%s", root ? root : "../shared", rel);
	return access(p, R_OK) == 0 ? p : NULL;
}

/* Skips the current test, saying clearly which fixture is missing. */
#define NEED_SHARED(var, rel)                                                 \
	const char *var = shared_file(rel);                                   \
	do {                                                                  \
		if (!var)                                                     \
			cr_skip_test("fixture ../shared/%s is absent "        \
				     "(set Q8TUNE_SHARED); skipped", rel);    \
	} while (0)

/* A fresh directory for one test's files, "ROOT/TAG-XXXXXX", into buf.
 * ROOT is the run's own folder ($Q8TUNE_TEST_TMP, made before the first
 * test and removed with everything in it after the last, by the hooks in
 * test_base.c), so nothing is left behind when a test fails, crashes or
 * times out; outside a build/unit run, /tmp.  Fails the test if it cannot
 * be made. */
static inline const char *test_tmpdir(char *buf, size_t cap, const char *tag)
{
	const char *root = getenv("Q8TUNE_TEST_TMP");

	snprintf(buf, cap, "%s/%s-XXXXXX", root && *root ? root : "/tmp", tag);
	cr_assert_not_null(mkdtemp(buf), "cannot make %s", buf);
	return buf;
}

#endif

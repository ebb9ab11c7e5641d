/* fuzz_plotdata.c - the readers of plots/plotdata.c (the perf report's
 * JSON, runs.jsonl, tune-log.jsonl) on arbitrary bytes, through its own
 * main as `make plots` runs it: a bad file is exit 1 with a message
 * (never a crash, a leak or undefined behaviour), a good one 0 or 3
 * (nothing to plot). */
#include <string.h>
#include <unistd.h>
#include "fuzz.h"

#define main plotdata_main
#include "../../plots/plotdata.c"
#undef main

FUZZ(plotdata)
{
	static const char *const plots[] = { "regression", "profile", "tune",
					     "scaling" };
	static char dir[64], out[96];
	char path[64];
	int fd;

	/* its output goes to a file of its own (plotdata writes beside it
	 * and renames: never name a device such as /dev/null) */
	if (!dir[0]) {
		if (!mkdtemp(strcpy(dir, "/tmp/q8t-fuzzplot-XXXXXX")))
			fuzz_fail("cannot make a folder");
		snprintf(out, sizeof out, "%s/out.gpdata", dir);
	}
	if ((fd = fuzz_memfile(data, size, path, sizeof path)) < 0)
		return 0;
	for (size_t i = 0; i < sizeof plots / sizeof *plots; i++) {
		char *argv[] = { "plotdata", (char *)plots[i], path, "-o", out, NULL };
		int rc = plotdata_main(5, argv);
		if (rc != 0 && rc != 1 && rc != 3)
			fuzz_fail("plotdata %s: exit %d", plots[i], rc);
	}
	close(fd);
	return 0;
}

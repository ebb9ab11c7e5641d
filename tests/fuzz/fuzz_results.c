/* fuzz_results.c - the readers of the results files the tools load, on
 * arbitrary bytes: roofline.json (./bench's floors), runs.jsonl (./bench
 * --csv) and tune-log.jsonl (./tune --resume).  Each refuses with a
 * message or reads, never a crash, a leak or undefined behaviour. */
#include <string.h>
#include <unistd.h>
#include "fuzz.h"
#include "results.h"
#include "roofline.h"
#include "tune.h"

FUZZ(results)
{
	static struct roofline r;
	char path[64], err[1024] = "";
	FILE *null = fopen("/dev/null", "w");
	int fd, skipped;

	if (!null)
		return 0;
	if ((fd = fuzz_memfile(data, size, path, sizeof path)) < 0) {
		fclose(null);
		return 0;
	}
	if (roofline_load(path, "fuzz", &r, err, sizeof err) < 0 &&
	    (!strstr(err, path) || strchr(err, '\n')))
		fuzz_fail("roofline_load: not one line naming the file: '%s'", err);
	if (results_csv(path, null, &skipped, err, sizeof err) == 0 && skipped < 0)
		fuzz_fail("results_csv: %d lines skipped", skipped);
	json_decref(tune_log_load(path));
	close(fd);
	fclose(null);
	return 0;
}

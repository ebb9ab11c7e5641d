/* clock.c - monotonic and wall-clock stamps (see clock.h). */
#include <time.h>
#include "clock.h"

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double now_ms(void)
{
	return (double)now_ns() * 1e-6;
}

void utc_iso8601(char *buf, size_t cap)
{
	time_t t = time(NULL);
	struct tm tm;

	if (!cap)
		return;
	if (!gmtime_r(&t, &tm) ||
	    !strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm))
		buf[0] = '\0';	/* strftime leaves it undefined */
}

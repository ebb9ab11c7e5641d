/* clock.h - the one clock every layer times with: CLOCK_MONOTONIC, in
 * nanoseconds for the profile's per-step stamps and in milliseconds for
 * everything coarser, plus the UTC wall-clock stamp that records carry. */
#ifndef Q8TUNE_CLOCK_H
#define Q8TUNE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Monotonic clock in nanoseconds (an arbitrary but fixed origin). */
uint64_t now_ns(void);

/* The same clock in milliseconds. */
double now_ms(void);

/* The current UTC time as ISO-8601, "2026-12-01T07:09:31Z", into buf
 * (always NUL-terminated when cap > 0; 21 bytes hold it). */
void utc_iso8601(char *buf, size_t cap);

#ifdef __cplusplus
}
#endif

#endif

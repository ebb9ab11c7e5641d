/* counters.h - event counts around a measurement, for every thread of the
 * process (the caller and the pool workers that already exist).
 *
 * Three tiers, each used when this machine offers it, all read together:
 *  1. hardware: PAPI presets (cycles, instructions, L1D/L2/LLC misses,
 *     branch mispredictions), each only if PAPI_query_event has it and
 *     PAPI_add_event accepts it.  One PAPI event set per thread, bound
 *     with PAPI_attach to that thread's id.  PAPI_INHERIT is not used: it
 *     follows only threads created after the counters start, and the pool
 *     workers exist before.
 *  2. software: perf_event_open software events (task-clock,
 *     context-switches, cpu-migrations, page-faults), one event group per
 *     thread found in /proc/self/task when opened, read and summed.  When
 *     perf_event_paranoid refuses kernel-side counting to an unprivileged
 *     user, the events are opened user-only and context-switches (which
 *     the kernel then never counts) is dropped.
 *  3. rusage: getrusage(RUSAGE_SELF) deltas, process-wide.
 *
 * Threads created after counters_open are counted only after
 * counters_attach_threads.  Calls on one struct counters must not overlap.
 *
 * Test hook: the environment variable Q8TUNE_COUNTERS, read by
 * counters_open, turns tiers off as if the machine lacked them:
 *   Q8TUNE_COUNTERS=sw      no hardware tier (software + rusage)
 *   Q8TUNE_COUNTERS=rusage  rusage only
 * unset or "all": everything available.  Another value is ignored and
 * named in counters_status. */
#ifndef Q8TUNE_COUNTERS_H
#define Q8TUNE_COUNTERS_H

#include <stddef.h>

#define CTR_MAX 16

/* One measurement: n named values, hardware first, then software, then
 * rusage.  Names are static strings: "cycles", "instructions",
 * "l1d_misses", "l2_misses", "llc_misses", "branch_misses",
 * "task_clock_ms", "context_switches", "cpu_migrations", "page_faults",
 * "ru_nvcsw", "ru_nivcsw", "ru_minflt", "ru_majflt", "ru_utime_ms",
 * "ru_stime_ms". */
struct ctr_sample {
	int n;				/* values filled */
	const char *name[CTR_MAX];
	double v[CTR_MAX];
};

struct counters;	/* opaque */

/* Probes what this machine offers and opens it for every thread of the
 * process.  Never fails for lack of counters (that is a status, not an
 * error); -1 only on allocation failure, with a message in err.  On 0,
 * *out is the caller's, to free with counters_close. */
int counters_open(struct counters **out, char *err, size_t errlen);

/* Releases everything counters_open made; NULL is a no-op. */
void counters_close(struct counters *c);

/* Re-scans the process's threads (call after creating a pool) and counts
 * all of them from now on.  0, or -1 on allocation failure with a
 * message; a tier the new threads can't be counted by is turned off and
 * says why in counters_status. */
int counters_attach_threads(struct counters *c, char *err, size_t errlen);

/* Marks the start of a measurement. */
void counters_start(struct counters *c);

/* Fills *out with the deltas since counters_start. */
void counters_stop(struct counters *c, struct ctr_sample *out);

/* What is being counted, one line owned by c, e.g.
 * "hardware counters: unavailable (PAPI 7.0.0.0: ...); software:
 * task-clock context-switches cpu-migrations page-faults (perf_event_open,
 * 3 threads); rusage". */
const char *counters_status(const struct counters *c);

/* Machine-readable availability: 1/0 per tier, plus reasons (empty when
 * the tier is on) and the PAPI version ("" if PAPI was not initialised:
 * it failed, or Q8TUNE_COUNTERS turned the hardware tier off). */
struct ctr_avail {
	int hw;
	int sw;
	int rusage;
	char hw_why[256];
	char sw_why[256];
	char papi_version[32];
};

void counters_avail(const struct counters *c, struct ctr_avail *a);

#endif

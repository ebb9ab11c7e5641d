/* env.h - what a measurement was taken on: the machine fingerprint a
 * config file or roofline is keyed by, the full environment record every
 * result carries, and the thread pinning plan (hwloc).
 *
 * Library code: nothing here prints; failures return -1 with a one-line
 * message in the caller's err buffer. */
#ifndef Q8TUNE_ENV_H
#define Q8TUNE_ENV_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What identifies "this machine" for a config file or a roofline. */
struct machine_fp {
	char vendor[13], brand[49];
	unsigned family, model, stepping;
	uint32_t features;	/* OS-enabled ISA features: cpu_get()->hw, NOT the masked set */
	int cores, pus, numa_nodes, packages;	/* hwloc */
	size_t l1d, l2, l3;	/* bytes of one cache of each level (hwloc), 0 unknown */
	int l3_count;		/* number of L3 instances */
};

/* Fills fp from cpu_get() and the hwloc topology.  0, or -1 with a
 * message (hwloc could not load the topology).  The topology is loaded
 * by the first of machine_fp_get, env_collect and env_pin_plan and kept
 * for the process. */
int machine_fp_get(struct machine_fp *fp, char *err, size_t errlen);

/* A new JSON object holding every field of fp (the caller owns the
 * reference); NULL only when out of memory. */
json_t *machine_fp_json(const struct machine_fp *fp);

/* Parses what machine_fp_json wrote into fp; 0, or -1 with a message
 * naming the missing or mistyped field (fp is then unspecified). */
int machine_fp_from_json(const json_t *j, struct machine_fp *fp, char *err,
			 size_t errlen);

/* NULL if a and b are equal, else a thread-local one-line description of
 * the first field that differs, e.g. "cpu model 0x1 != 0x11" or
 * "l3 33554432 != 16777216"; valid until the next call on this thread. */
const char *machine_fp_diff(const struct machine_fp *a,
			    const struct machine_fp *b);

#define MACHINE_FP_KEY_MAX 256	/* key buffer size enough for any real machine */

/* Writes a short stable key for keyed files into buf (always
 * NUL-terminated when cap > 0), e.g.
 * "AuthenticAMD-19-01-01-2c2t1n1p-32K-512K-32Mx1-sse42avxavx2fmaf16c-5f3a09c1"
 * (the last part hashes the brand string); characters outside
 * [A-Za-z0-9.-] become '_', so it can name a file. */
void machine_fp_key(const struct machine_fp *fp, char *buf, size_t cap);

/* The environment record every measurement carries. */
struct env_info {
	struct machine_fp m;
	char git_rev[48];
	int git_dirty;		/* build identity, baked in at build time */
	char compiler[96], cflags[256];	/* __VERSION__ and the CFLAGS used */
	char kernel[128];	/* uname -r -v (short) */
	char governor[32];	/* cpu0 scaling_governor, or "unreadable" */
	int online_cpus;
	char hwloc_summary[256];	/* e.g. "1 package, 1 NUMA node, 2 cores, 2 PUs, L1d 32K, L2 512K, L3 32M" */
	int smt;		/* PUs per core > 1 */
	uint32_t active_features;	/* cpu_get()->features: what kernels may use */
	char cpu_mask[32];	/* Q8TUNE_CPU_MASK that hid the rest, "" unset */
};

/* Fills e.  0, or -1 with a message (from machine_fp_get). */
int env_collect(struct env_info *e, char *err, size_t errlen);

/* A new JSON object with every field of e, the fingerprint under
 * "machine" (the caller owns the reference); NULL when out of memory. */
json_t *env_json(const struct env_info *e);

/* CPUs (OS indexes) to pin n worker threads to: one PU on each physical
 * core first (hwloc order), then the second hyperthreads, and so on;
 * worker i gets cpus[i].  Returns how many were written (<= cap, <=
 * n_threads, <= the PUs this process may run on), or -1 with a message. */
int env_pin_plan(int n_threads, int *cpus, int cap, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif

/* roofline.h - the machine's roofs: memory read bandwidth and peak int8
 * dot-product throughput per ISA, at 1..N threads of the project's pool
 * (model/pool.h), and their results file.
 *
 * Bandwidth: a buffer well beyond the last-level cache, each thread
 * reading its own contiguous slice (first touched by that thread) with
 * the widest loads this CPU runs, in GB/s (1e9 bytes/s).  Peak: each
 * ISA's int8 multiply-accumulate chain (AVX2 vpmaddubsw + vpmaddwd +
 * vpaddd, AVX-VNNI vpdpbusd ymm, AVX-512 VNNI vpdpbusd zmm) on many
 * independent accumulators, in GMAC/s (1e9 u8 x s8 MACs/s).  Each is
 * repeated; a roof is the best run, the median says how steady it was.
 * An ISA this CPU (or Q8TUNE_CPU_MASK) lacks is never executed: it is
 * reported unavailable, with the reason.
 *
 * The file (results/roofline.json) holds one entry per machine key:
 * {"schema":1, "machines": {"<key>": {"measured_at", "cpu", "threads":
 * [1..N], "bandwidth_gbs": {"best":[..], "median":[..]}, "buffer_bytes",
 * "int8_gmacs": {"avx2": {"best", "median"}, "avxvnni": {"available":
 * false, "why": "CPU lacks avxvnni"}, ...}}}}, the arrays indexed like
 * "threads".  The key is the caller's; roofline_machine_key() gives this
 * machine's. */
#ifndef Q8TUNE_ROOFLINE_H
#define Q8TUNE_ROOFLINE_H

#include <stddef.h>

#define ROOF_MAX_THREADS 64
#define ROOF_SCHEMA 1

enum roof_isa { ROOF_AVX2, ROOF_AVXVNNI, ROOF_AVX512VNNI, ROOF_NISA };

struct roof_series {
	double best[ROOF_MAX_THREADS + 1];	/* index = threads; [0] unused */
	double median[ROOF_MAX_THREADS + 1];
};

struct roofline {
	int max_threads;		/* series hold 1..max_threads */
	size_t buffer_bytes;		/* bandwidth buffer actually read */
	char measured_at[32];		/* ISO-8601 UTC, "2026-12-01T07:30:00Z" */
	char cpu[64];			/* CPUID brand string */
	struct roof_series bw;		/* GB/s */
	int isa_ok[ROOF_NISA];		/* measured on this CPU */
	char isa_why[ROOF_NISA][128];	/* why not, when !isa_ok; else "" */
	struct roof_series peak[ROOF_NISA];	/* GMAC/s; zero when !isa_ok */
};

/* "avx2", "avxvnni", "avx512vnni"; "?" out of range. */
const char *roof_isa_name(enum roof_isa i);

/* This machine's key for the results file: machine_fp_key() of
 * harness/env.h (CPU model, topology, caches, unmasked ISA features).
 * 0, or -1 with a message in err. */
int roofline_machine_key(char *buf, size_t cap, char *err, size_t errlen);

/* The bandwidth buffer the roof should use: 1 GiB, or 8x the total
 * last-level cache if that is larger (L3 size x instances from
 * machine_fp_get(); L2 x cores on a part without L3). */
size_t roofline_default_buffer(void);

/* Measures every roof at 1..max_threads (<= ROOF_MAX_THREADS) threads,
 * each best and median of reps (>= 1) timed runs: bandwidth over
 * buffer_bytes (rounded down to whole pages; at least one page per
 * thread), mapped afresh for each thread count.  Every kernel's result
 * is checked against its closed form.  Fills all of *r and returns 0,
 * or -1 with a one-line message in err (bad argument, allocation,
 * thread creation, a kernel returning a wrong sum; *r is then partly
 * filled).  Costs, per thread count: a first-touch write and reps + 1
 * reads of the buffer, and about (reps + 1) x 20 ms per usable ISA. */
int roofline_measure(struct roofline *r, int max_threads, size_t buffer_bytes,
		     int reps, char *err, size_t errlen);

/* Stores r as machines[key] of the results file at path, keeping the
 * other machines' entries, and the thread counts above r->max_threads of
 * the entry it replaces (same ISAs): measuring 1..T never drops T+1..N
 * (measured_at is then the newest measurement's); creates the file (and its folder, one level)
 * if absent.  Written atomically: a temporary file in the same folder,
 * fsync, rename.  An existing file that is not a schema-1 roofline file
 * is an error naming it, and is left untouched.  0 or -1 with err. */
int roofline_save(const char *path, const char *key, const struct roofline *r,
		  char *err, size_t errlen);

/* Reads machines[key] of the file at path into *r.  Returns 1 found, 0
 * no entry for key (or no file), -1 error (message names the file and
 * the field). */
int roofline_load(const char *path, const char *key, struct roofline *r,
		  char *err, size_t errlen);

/* The best int8 peak (GMAC/s) among the ISAs measured on this machine at
 * threads threads, for "% of roof"; *which (if not NULL) gets that ISA.
 * 0 (and *which = ROOF_NISA) when none, or threads outside
 * 1..r->max_threads. */
double roofline_int8_peak(const struct roofline *r, int threads,
			  enum roof_isa *which);

/* The floor in ms of work that moves bytes and does int8 macs at
 * threads threads: the longer of bytes at the bandwidth roof and macs at
 * the int8 peak.  A decode step's floor is its weight bytes (macs 0: it
 * is bandwidth-bound); a prompt batch of n tokens multiplies every
 * weight by n tokens (macs = n x the weights' MACs).  threads must be in
 * 1..r->max_threads. */
double roofline_floor_ms(const struct roofline *r, int threads, double bytes,
			 double macs);

#endif

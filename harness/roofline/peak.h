/* roofline/peak.h - the kernels behind the roofline, shared by
 * harness/roofline.c (which times them) and the per-ISA files that
 * implement them (roofline/scalar.c, avx2.c, avxvnni.c, avx512vnni.c).
 *
 * Two tables, best first, as kernels/registry.c keeps its variants: the
 * int8 peak kernels (one per enum roof_isa) and the bandwidth read
 * kernels (portable SSE2 last).  roofline.c and tests/test_roofline.c
 * both walk them, so the test checks exactly what gets timed. */
#ifndef Q8TUNE_ROOFLINE_PEAK_H
#define Q8TUNE_ROOFLINE_PEAK_H

#include <stddef.h>
#include <stdint.h>
#include "cpu.h"
#include "roofline.h"

/* Multiply steps per loop iteration.  The AVX2 chain's only
 * loop-carried step is a 1-cycle vpaddd, so 8 steps into 4 accumulators
 * keep both multiply pipes busy; vpdpbusd carries its 4-5 cycle latency
 * at up to 2 per cycle (Zen 4/5, Sapphire Rapids), so 12 accumulators,
 * one step each. */
#define ROOF_STEPS_AVX2 8
#define ROOF_NACC_VNNI 12

/* u8 x s8 multiply-accumulates per loop iteration of each kernel:
 * vpmaddubsw ymm and vpdpbusd ymm count 32, vpdpbusd zmm 64. */
#define ROOF_MACS_AVX2 (ROOF_STEPS_AVX2 * 32)
#define ROOF_MACS_AVXVNNI (ROOF_NACC_VNNI * 32)
#define ROOF_MACS_AVX512VNNI (ROOF_NACC_VNNI * 64)

/* An int8 peak kernel: iters iterations of its MACs with every u8 input
 * equal to a and every s8 input equal to b.  Returns the sum of all its
 * int32 accumulator lanes, wrapped mod 2^32, which is
 * (uint32_t)(iters * macs * a * b) for a correct kernel.  The AVX2 one
 * goes through vpmaddubsw, which saturates its int16 pairs: it requires
 * |2ab| <= 32767. */
typedef uint32_t (*roof_peak_fn)(uint8_t a, int8_t b, long iters);

uint32_t roof_peak_avx2(uint8_t a, int8_t b, long iters);
uint32_t roof_peak_avxvnni(uint8_t a, int8_t b, long iters);
uint32_t roof_peak_avx512vnni(uint8_t a, int8_t b, long iters);

/* A read kernel: the sum of the bytes/8 uint64 words at buf, mod 2^64.
 * buf is 64-byte aligned and bytes a multiple of ROOF_READ_ALIGN. */
typedef uint64_t (*roof_read_fn)(const void *buf, size_t bytes);

#define ROOF_READ_ALIGN 128

uint64_t roof_read_avx2(const void *buf, size_t bytes);
uint64_t roof_read_sse2(const void *buf, size_t bytes);

/* --- templates for the per-ISA files (expanded only there) ------------- */

/* Makes the compiler forget what v holds, at no instruction: without it
 * multiplies of loop-invariant inputs are hoisted out of the loop or
 * shared by all accumulators, and accumulators that start equal are
 * merged into one.  "v": any vector register (zmm16-31 too under
 * AVX-512). */
#define ROOF_OPAQUE(v) __asm__ volatile("" : "+v"(v))

/* v's 32-bit lanes (vector type V, stored with STORE) summed mod 2^32
 * into the uint32_t sum. */
#define ROOF_SUM32(V, STORE, v, sum)                                           \
	do {                                                                   \
		uint32_t l_[sizeof(V) / 4];                                    \
		STORE((V *)l_, v);                                             \
		for (size_t j_ = 0; j_ < sizeof l_ / sizeof *l_; j_++)         \
			sum += l_[j_];                                         \
	} while (0)

/* A roof_read_fn on vector type V: four chains of 64-bit lane sums. */
#define ROOF_READ_FN(name, V, ZERO, LOAD, ADD64, STORE)                        \
	uint64_t name(const void *buf, size_t bytes)                           \
	{                                                                      \
		const V *p = buf;                                              \
		V s0 = ZERO(), s1 = s0, s2 = s0, s3 = s0;                      \
		uint64_t w[sizeof(V) / 8], sum = 0;                            \
                                                                               \
		for (size_t i = 0; i < bytes / sizeof *p; i += 4) {            \
			s0 = ADD64(s0, LOAD(p + i));                           \
			s1 = ADD64(s1, LOAD(p + i + 1));                       \
			s2 = ADD64(s2, LOAD(p + i + 2));                       \
			s3 = ADD64(s3, LOAD(p + i + 3));                       \
		}                                                              \
		STORE((V *)w, ADD64(ADD64(s0, s1), ADD64(s2, s3)));            \
		for (size_t j = 0; j < sizeof w / sizeof *w; j++)              \
			sum += w[j];                                           \
		return sum;                                                    \
	}

/* A roof_peak_fn on vpdpbusd of vector type V: each int32 lane gains the
 * sum of 4 u8 x s8 products, 4ab, wrapping (the non-saturating form);
 * ROOF_NACC_VNNI (12) named accumulators, one step each an iteration
 * (an array of them gcc 12 keeps partly on the stack). */
#define ROOF_VNNI_FN(name, V, SET1, ZERO, DPBUSD, ADD, STORE)                  \
	uint32_t name(uint8_t a, int8_t b, long iters)                         \
	{                                                                      \
		V va = SET1((char)a), vb = SET1(b);                            \
		V c0 = ZERO(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;    \
		V c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;      \
		uint32_t sum = 0;                                              \
                                                                               \
		ROOF_OPAQUE(c0); ROOF_OPAQUE(c1); ROOF_OPAQUE(c2);             \
		ROOF_OPAQUE(c3); ROOF_OPAQUE(c4); ROOF_OPAQUE(c5);             \
		ROOF_OPAQUE(c6); ROOF_OPAQUE(c7); ROOF_OPAQUE(c8);             \
		ROOF_OPAQUE(c9); ROOF_OPAQUE(c10); ROOF_OPAQUE(c11);           \
		for (long i = 0; i < iters; i++) {                             \
			ROOF_OPAQUE(va);                                       \
			ROOF_OPAQUE(vb);                                       \
			c0 = DPBUSD(c0, va, vb), c1 = DPBUSD(c1, va, vb);      \
			c2 = DPBUSD(c2, va, vb), c3 = DPBUSD(c3, va, vb);      \
			c4 = DPBUSD(c4, va, vb), c5 = DPBUSD(c5, va, vb);      \
			c6 = DPBUSD(c6, va, vb), c7 = DPBUSD(c7, va, vb);      \
			c8 = DPBUSD(c8, va, vb), c9 = DPBUSD(c9, va, vb);      \
			c10 = DPBUSD(c10, va, vb), c11 = DPBUSD(c11, va, vb);  \
		}                                                              \
		c0 = ADD(ADD(ADD(c0, c1), ADD(c2, c3)),                        \
			 ADD(ADD(c4, c5), ADD(c6, c7)));                       \
		c0 = ADD(c0, ADD(ADD(c8, c9), ADD(c10, c11)));                 \
		ROOF_SUM32(V, STORE, c0, sum);                                 \
		return sum;                                                    \
	}

struct roof_peak {
	const char *name;	/* roof_isa_name() of its index */
	uint32_t needs;		/* CPU_* bits that must all be present */
	roof_peak_fn fn;
	int macs;		/* per iteration */
};

struct roof_read {
	const char *name;	/* "avx2", "sse2" */
	uint32_t needs;
	roof_read_fn fn;
};

/* Indexed by enum roof_isa. */
extern const struct roof_peak roof_peaks[ROOF_NISA];
/* Best first, the baseline x86-64 one (needs 0) last; NULL-terminated. */
extern const struct roof_read roof_reads[];

/* NULL if this CPU (after Q8TUNE_CPU_MASK) has every bit of needs, else
 * why not, e.g. "CPU lacks avxvnni" (a static per-thread string). */
const char *roof_unusable(uint32_t needs);

#endif

/* cpu.h - run-time CPU feature detection (CPUID + XGETBV).
 *
 * A feature bit is set only when the CPU reports it AND the OS has enabled
 * the register state it needs (XCR0), so a variant that requires it can be
 * called without SIGILL.  Q8TUNE_CPU_MASK hides features for testing. */
#ifndef Q8TUNE_CPU_H
#define Q8TUNE_CPU_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum cpu_feature {
	CPU_SSE42 = 1u << 0,
	CPU_AVX = 1u << 1,
	CPU_AVX2 = 1u << 2,
	CPU_FMA = 1u << 3,
	CPU_F16C = 1u << 4,
	CPU_AVXVNNI = 1u << 5,		/* VEX-encoded VPDPBUSD (Alder Lake, Zen 5) */
	CPU_AVX512F = 1u << 6,
	CPU_AVX512BW = 1u << 7,
	CPU_AVX512VL = 1u << 8,
	CPU_AVX512VNNI = 1u << 9,
	CPU_AVX512BF16 = 1u << 10,
};

#define CPU_N_FEATURES 11

/* What each per-ISA object may execute: every feature its compile flags
 * enable (the Makefile's AVX2_FLAGS, VNNI_FLAGS, AVX512_FLAGS), since the
 * compiler is free to use any of them, not only the intrinsics written.
 * kernels/ops/avx512.c is the exception: it has no int8 dot product for
 * the compiler to turn into VNNI, so it runs on AVX-512 parts without
 * VNNI (Skylake-SP). */
/* Haswell+, Zen 1+ */
#define NEEDS_AVX2 (CPU_AVX | CPU_AVX2 | CPU_FMA | CPU_F16C)
/* Alder Lake+ client, Sapphire Rapids+, Zen 5 */
#define NEEDS_AVXVNNI (NEEDS_AVX2 | CPU_AVXVNNI)
/* Skylake-SP+, Ice Lake, Zen 4+ */
#define NEEDS_AVX512 (NEEDS_AVX2 | CPU_AVX512F | CPU_AVX512BW | CPU_AVX512VL)
/* Cascade Lake+, Ice Lake, Zen 4+ */
#define NEEDS_AVX512VNNI (NEEDS_AVX512 | CPU_AVX512VNNI)

struct cpu_info {
	char vendor[13];
	char brand[49];
	unsigned family, model, stepping;
	uint32_t hw;		/* what CPUID+XCR0 report */
	uint32_t features;	/* hw minus what Q8TUNE_CPU_MASK hides */
	const char *mask_name;	/* value of Q8TUNE_CPU_MASK, or NULL */
	int mask_bad;		/* mask named an unknown feature: all hidden */
};

/* The detected CPU, computed once; never NULL. */
const struct cpu_info *cpu_get(void);

/* Name of a single feature bit ("avx2", "avx512vnni", ...). */
const char *cpu_feature_name(uint32_t bit);

/* Writes the space-separated names of the bits in mask to buf (always
 * NUL-terminated); returns buf. */
char *cpu_features_str(uint32_t mask, char *buf, unsigned long cap);

/* Parses a mask spec: "scalar" (nothing), "avx2" (AVX2+FMA+F16C and below),
 * "avx512" (everything up to AVX-512 VNNI), or a '+'/','-separated list of
 * feature names.  Returns 0 and sets *out, or -1 on an unknown name. */
int cpu_parse_mask(const char *spec, uint32_t *out);

#ifdef __cplusplus
}
#endif

#endif

/* roofline/avx2.c - the AVX2 int8 peak and the 256-bit read kernel.
 *
 * Serves: Intel Haswell and later, AMD Zen 1 and later.  Built with
 * -mavx2 -mfma -mf16c; roofline.c only calls these when cpu.c has seen
 * NEEDS_AVX2. */
#include <immintrin.h>
#include "peak.h"

/* The int8 dot product the AVX2 matmuls use: vpmaddubsw (u8 x s8 pairs
 * to int16, 32 MACs) + vpmaddwd by ones (pairs to int32) + vpaddd.
 * Each int32 lane gains 4ab per step.  ROOF_STEPS_AVX2 (8) steps an
 * iteration into 4 named accumulators: only the vpaddd is loop-carried,
 * and with 8 accumulators (or an array) gcc 12 spills some to the stack. */
#define STEP(c)                                                                \
	do {                                                                   \
		ROOF_OPAQUE(va);                                               \
		c = _mm256_add_epi32(c, _mm256_madd_epi16(                     \
			_mm256_maddubs_epi16(va, vb), ones));                  \
	} while (0)

uint32_t roof_peak_avx2(uint8_t a, int8_t b, long iters)
{
	const __m256i ones = _mm256_set1_epi16(1);
	__m256i va = _mm256_set1_epi8((char)a);
	__m256i vb = _mm256_set1_epi8(b);
	__m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0;
	uint32_t sum = 0;

	ROOF_OPAQUE(c0); ROOF_OPAQUE(c1); ROOF_OPAQUE(c2); ROOF_OPAQUE(c3);
	for (long i = 0; i < iters; i++) {
		STEP(c0); STEP(c1); STEP(c2); STEP(c3);
		STEP(c0); STEP(c1); STEP(c2); STEP(c3);
	}
	c0 = _mm256_add_epi32(_mm256_add_epi32(c0, c1),
			      _mm256_add_epi32(c2, c3));
	ROOF_SUM32(__m256i, _mm256_storeu_si256, c0, sum);
	return sum;
}

ROOF_READ_FN(roof_read_avx2, __m256i, _mm256_setzero_si256, _mm256_load_si256,
	     _mm256_add_epi64, _mm256_storeu_si256)

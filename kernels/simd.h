/* simd.h - small SIMD helpers shared by the per-ISA kernel files.
 *
 * Include only from an ISA file (avx2.c, avxvnni.c, avx512*.c): the bodies
 * need that file's -m flags.  The 256-bit helpers need AVX2; the 512-bit
 * ones are compiled only where __AVX512F__ is defined, so the AVX2 files
 * can include this too. */
#ifndef Q8TUNE_SIMD_H
#define Q8TUNE_SIMD_H

#include <immintrin.h>
#include <stdint.h>

#define AI static inline __attribute__((always_inline))

/* The 8 lanes of v reduced with OP (add, max): 8 -> 4 -> 2 -> 1. */
#define HREDUCE8(name, OP)                                                     \
	AI float name(__m256 v)                                                \
	{                                                                      \
		__m128 s = _mm_##OP##_ps(_mm256_castps256_ps128(v),            \
					 _mm256_extractf128_ps(v, 1));         \
		s = _mm_##OP##_ps(s, _mm_movehl_ps(s, s));                     \
		s = _mm_##OP##_ss(s, _mm_movehdup_ps(s));                      \
		return _mm_cvtss_f32(s);                                       \
	}
HREDUCE8(hsum8, add)
HREDUCE8(hmax8, max)
#undef HREDUCE8

/* Sum of the 4 double lanes. */
AI double hsum4d(__m256d v)
{
	__m128d s = _mm_add_pd(_mm256_castpd256_pd128(v),
			       _mm256_extractf128_pd(v, 1));
	return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

/* Lane mask (for maskload / maskstore) selecting the first rem (0..8)
 * lanes. */
AI __m256i tail_mask8(int rem)
{
	static const int32_t tab[16] = {
		-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0,
	};

	return _mm256_loadu_si256((const __m256i *)(tab + 8 - rem));
}

#ifdef __AVX512F__
/* Lane mask selecting the first min(left, 16) lanes (left >= 0): all of a
 * full step, the rest at the tail. */
AI __mmask16 tail_mask16(int left)
{
	return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
}
#endif

#endif

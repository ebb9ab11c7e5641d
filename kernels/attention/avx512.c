/* attention/avx512.c - the fused attention op in 16 float lanes.
 *
 * Serves: Intel Skylake-SP and later Xeons, Ice Lake / Tiger Lake client,
 * AMD Zen 4 and Zen 5.  Built with the AVX-512 flag set of the Makefile;
 * only F, BW and VL are used (registry.c asks for NEEDS_AVX512).  The
 * loops are flash.h's; this file gives its pieces: masked loads and
 * stores by k-mask, the reductions of AVX-512F, and 4 sums at once by
 * halving each register to 8 lanes, then three hadds. */
#include <immintrin.h>
#include "simd.h"

#define VW 512
#define VROUND(v) \
	_mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VNEG(v) _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(v), \
	_mm512_set1_epi32((int)0x80000000u)))
#define NL 16

AI __m512 vload_n(const float *p, int n)
{
	return _mm512_maskz_loadu_ps(tail_mask16(n), p);
}

AI void vstore_n(float *p, __m512 v, int n)
{
	_mm512_mask_storeu_ps(p, tail_mask16(n), v);
}

AI float vhsum(__m512 v)
{
	return _mm512_reduce_add_ps(v);
}

AI float vhmax(__m512 v)
{
	return _mm512_reduce_max_ps(v);
}

/* Lanes 0-7 plus lanes 8-15 (extractf32x8 would need AVX512DQ). */
AI __m256 half_sum(__m512 v)
{
	return _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(
		_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}

AI __m128 vhsum4(__m512 a, __m512 b, __m512 c, __m512 d)
{
	const __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(half_sum(a), half_sum(b)),
					_mm256_hadd_ps(half_sum(c), half_sum(d)));

	return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

/* 4 rows: 16 accumulators, 4 vectors and 4 broadcasts of the 32 zmm registers */
#define RB 4
#define FLASH_FN attention_avx512_flash
#include "flash.h"

/* attention/avx2.c - the fused attention op in 8 float lanes.
 *
 * Serves: Intel Haswell and later, AMD Zen 1 and later.  Built with
 * -mavx2 -mfma -mf16c.  The loops are flash.h's; this file gives its
 * pieces: masked loads and stores by lane mask, the horizontal sums of
 * simd.h, and 4 sums at once by three hadds. */
#include <immintrin.h>
#include "simd.h"

#define VW 256
#define VROUND(v) \
	_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VNEG(v) _mm256_xor_ps(v, _mm256_set1_ps(-0.0f))
#define NL 8

AI __m256 vload_n(const float *p, int n)
{
	return _mm256_maskload_ps(p, tail_mask8(n));
}

AI void vstore_n(float *p, __m256 v, int n)
{
	_mm256_maskstore_ps(p, tail_mask8(n), v);
}

AI float vhsum(__m256 v)
{
	return hsum8(v);
}

AI float vhmax(__m256 v)
{
	return hmax8(v);
}

/* Lanes of the hadds: (a01 a23 b01 b23 | a45 a67 b45 b67), then
 * (a0-3 b0-3 c0-3 d0-3 | a4-7 b4-7 c4-7 d4-7); the halves added. */
AI __m128 vhsum4(__m256 a, __m256 b, __m256 c, __m256 d)
{
	const __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(a, b),
					_mm256_hadd_ps(c, d));

	return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

/* 2 rows: 8 accumulators, 4 vectors and 2 broadcasts of the 16 ymm registers */
#define RB 2
#define FLASH_FN attention_avx2_flash
#include "flash.h"

/* matmul/blocked/vec512.h - the 512-bit vector pieces of drive.h: a row
 * vector is 16 rows in one zmm, one q8_0x16u group, so chunk k of it is
 * one 64-byte load and its 16 scales one VCVTPH2PS.  Include from an
 * AVX-512 ISA file before drive.h. */
#ifndef Q8TUNE_BLOCKED_VEC512_H
#define Q8TUNE_BLOCKED_VEC512_H

#include "simd.h"

#define VW 16			/* rows (int32 lanes) per row vector */
typedef __m512i vi;
typedef __m512 vf;

AI vf vf_zero(void) { return _mm512_setzero_ps(); }
AI vf vf_set1(float a) { return _mm512_set1_ps(a); }
AI vf vf_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
AI vf vf_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
AI vf vi_to_f(vi a) { return _mm512_cvtepi32_ps(a); }
AI vi vi_set1(int32_t a) { return _mm512_set1_epi32(a); }

/* The 16 fp16 scales of the group (R == 16; hi unused). */
AI vf ld_scales(const uint8_t *lo, const uint8_t *hi, const int R)
{
	(void)hi, (void)R;
	return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)lo));
}

/* Quants 4k..4k+3 of the 16 rows of the group, one row per lane. */
AI vi ld_chunk(const uint8_t *lo, const uint8_t *hi, int k, const int R)
{
	(void)hi, (void)R;
	return _mm512_loadu_si512((const void *)(lo + 32 + 64 * k));
}

/* Stores (add: adds) lanes 0..n-1 of r into y[0..n-1], n = 1..16. */
AI void y_put(float *y, int n, vf r, int add)
{
	const __mmask16 m = tail_mask16(n);

	if (add)
		r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(m, y));
	_mm512_mask_storeu_ps(y, m, r);
}

#endif

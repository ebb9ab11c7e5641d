/* matmul/blocked/vec256.h - the 256-bit vector pieces of drive.h: a row
 * vector is 8 rows in one ymm, read from q8_0x8 (one group) or q8_0x4
 * (two consecutive groups).  Include from an ISA file (avx2.c, avxvnni.c,
 * avx512vnni.c of this folder) before drive.h: the bodies take that
 * file's -m flags.  With AVX-512VL the partial stores use mask registers,
 * otherwise VMASKMOVPS; whole row vectors use plain loads and stores (a
 * masked store is microcoded on AMD). */
#ifndef Q8TUNE_BLOCKED_VEC256_H
#define Q8TUNE_BLOCKED_VEC256_H

#include <string.h>
#include "simd.h"

#define VW 8			/* rows (int32 lanes) per row vector */
typedef __m256i vi;
typedef __m256 vf;

AI vf vf_zero(void) { return _mm256_setzero_ps(); }
AI vf vf_set1(float a) { return _mm256_set1_ps(a); }
AI vf vf_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
AI vf vf_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
AI vf vi_to_f(vi a) { return _mm256_cvtepi32_ps(a); }
AI vi vi_set1(int32_t a) { return _mm256_set1_epi32(a); }

AI long long ld64(const void *p)
{
	long long v;

	memcpy(&v, p, 8);
	return v;
}

/* The 8 fp16 scales of row vector lo (q8_0x8), or lo and hi (q8_0x4). */
AI vf ld_scales(const uint8_t *lo, const uint8_t *hi, const int R)
{
	if (R == 8)
		return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)lo));
	return _mm256_cvtph_ps(_mm_set_epi64x(ld64(hi), ld64(lo)));
}

/* Quants 4k..4k+3 of the 8 rows of a row vector, one row per lane. */
AI vi ld_chunk(const uint8_t *lo, const uint8_t *hi, int k, const int R)
{
	if (R == 8)
		return _mm256_loadu_si256((const __m256i *)(lo + 16 + 32 * k));
	return _mm256_loadu2_m128i((const __m128i *)(hi + 8 + 16 * k),
				   (const __m128i *)(lo + 8 + 16 * k));
}

/* Stores (add: adds) lanes 0..n-1 of r into y[0..n-1], n = 1..8, touching
 * no other element. */
AI void y_put(float *y, int n, vf r, int add)
{
	if (n == VW) {
		if (add)
			r = _mm256_add_ps(r, _mm256_loadu_ps(y));
		_mm256_storeu_ps(y, r);
		return;
	}
#ifdef __AVX512VL__
	const __mmask8 m = (__mmask8)((1u << n) - 1);

	if (add)
		r = _mm256_add_ps(r, _mm256_maskz_loadu_ps(m, y));
	_mm256_mask_storeu_ps(y, m, r);
#else
	const __m256i m = tail_mask8(n);

	if (add)
		r = _mm256_add_ps(r, _mm256_maskload_ps(y, m));
	_mm256_maskstore_ps(y, m, r);
#endif
}

#endif

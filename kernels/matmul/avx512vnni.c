/* matmul/avx512vnni.c - Q8_0 matmuls with EVEX VPDPBUSD (AVX512-VNNI).
 *
 * Serves: Intel Cascade Lake, Ice Lake, Tiger Lake, Sapphire Rapids and
 * later Xeons; AMD Zen 4 and Zen 5.  Built with -mavx2 -mfma -mf16c
 * -mavx512f -mavx512bw -mavx512vl -mavx512vnni, so the registry requires
 * all of those bits (the compiler may use any of them).
 *
 * Both variants take the block dot with a bias trick instead of the sign
 * trick of avx2.c: w + 128 is a valid unsigned byte for every int8 w, so
 *	dpbusd(-128 * sum(x), w ^ 0x80, x) = sum((w + 128) x) - 128 sum(x)
 *					   = sum(w x)
 * exactly in int32 for all int8 inputs (-128 included, which the sign
 * trick gets wrong).  The correction is computed once per activation
 * block and reused for the R rows of a tile; per (row, token, block) the
 * dot is one VPDPBUSD.
 *
 *   matmul_q8_avx512vnni: 256-bit registers, one block per dot step.
 *   matmul_q8_avx512vnni_4blk: 512-bit registers, 4 blocks per step (two
 *   blocks per zmm), scales applied as vectors of the 4 products.
 * Both tile 4 weight rows x up to 4 tokens.  On Zen 4, which executes
 * 512-bit operations as two 256-bit halves, the two run at about the same
 * speed; the 512-bit one pays off where zmm is native (Zen 5, Intel). */
#include <immintrin.h>
#include "variants.h"
#include "simd.h"
#include "tile.h"

/* Row tile height: 4 rows (16 accumulators at 4 tokens), fewer at the
 * end of the range.  4 x 4 measured fastest on Zen 4 for 1 and 64 tokens. */
enum { ROW_TILE = 4 };

/* --- 256-bit: one block per step -------------------------------------- */

/* The tiles of matmul/q8_sign256.h (shared with avx2.c and avxvnni.c,
 * which run on every AVX2 machine) with the bias trick as its hooks:
 * weights biased once per (row, block), the correction once per (token,
 * block), one VPDPBUSD per (row, token, block). */
#define Q8_HOOKS
#define Q8_ROWS_1 ROW_TILE
#define Q8_ROWS_N ROW_TILE
#define Q8_MATMUL matmul_q8_avx512vnni

struct q8w {
	__m256i wu;		/* w ^ 0x80 = w + 128, as unsigned bytes */
};

struct q8x {
	__m256i q, corr;	/* x, and -128 * (sum of its quants) per lane */
};

AI struct q8w q8_w(__m256i wq)
{
	return (struct q8w){ _mm256_xor_si256(_mm256_set1_epi8((char)0x80), wq) };
}

/* x and its correction: the unsigned dot of 0x80 with x is 128 sum(x). */
AI struct q8x q8_x(__m256i xq)
{
	const __m256i bias = _mm256_set1_epi8((char)0x80);

	return (struct q8x){ xq, _mm256_sub_epi32(_mm256_setzero_si256(),
		_mm256_dpbusd_epi32(_mm256_setzero_si256(), bias, xq)) };
}

/* sum((w + 128) x) - 128 sum(x) = sum(w x), exact in int32. */
AI __m256i q8_wx(struct q8w w, struct q8x x)
{
	return _mm256_dpbusd_epi32(x.corr, w.wu, x.q);
}

/* Defines matmul_q8_avx512vnni; contract: kernels.h matmul_q8_fn, writes
 * exactly y[t*ldy + r] for t < nt, r0 <= r < r1; exact integer block sums
 * for all int8 quants. */
#include "q8_sign256.h"

/* --- 512-bit: four blocks per step ------------------------------------ */

/* Quants of blocks p[0] and p[1] in one zmm (blocks are 34 bytes apart,
 * so two unaligned 32-byte loads). */
AI __m512i ld2(const block_q8_0 *p)
{
	__m256i lo = _mm256_loadu_si256((const __m256i *)p[0].qs);
	__m256i hi = _mm256_loadu_si256((const __m256i *)p[1].qs);

	return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* The scales of blocks p[0..3] as floats (exact); the four 16-bit words
 * are gathered in a general register, which keeps the vector ports free. */
AI __m128 ld_d4(const block_q8_0 *p)
{
	uint64_t d = (uint64_t)p[0].d | (uint64_t)p[1].d << 16 |
		     (uint64_t)p[2].d << 32 | (uint64_t)p[3].d << 48;

	return _mm_cvtph_ps(_mm_cvtsi64_si128((long long)d));
}

/* -128 * (sum of the quants) per int32 lane: the bias correction. */
AI __m512i corr512(__m512i q)
{
	const __m512i bias = _mm512_set1_epi8((char)0x80);

	return _mm512_sub_epi32(_mm512_setzero_si512(),
		_mm512_dpbusd_epi32(_mm512_setzero_si512(), bias, q));
}

AI void q8_tile512(const block_q8_0 *w, const block_q8_0 *x, float *y,
		   int nb, int r, int t, int ldy, const int R, const int T)
{
	const __m512i bias = _mm512_set1_epi8((char)0x80);
	/* lanes 0-7 take scale 0 (first block), 8-15 scale 1; and 2, 3 */
	const __m512i sel01 = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1,
					       0, 0, 0, 0, 0, 0, 0, 0);
	const __m512i sel23 = _mm512_add_epi32(sel01, _mm512_set1_epi32(2));
	__m512 acc[4][4];
	int b = 0;

#pragma GCC unroll 4
	for (int i = 0; i < R; i++)
#pragma GCC unroll 4
		for (int j = 0; j < T; j++)
			acc[i][j] = _mm512_setzero_ps();

	for (; b + 4 <= nb; b += 4) {
		__m512i wa[4], wb[4];
		__m512 dwa[4], dwb[4];

#pragma GCC unroll 4
		for (int i = 0; i < R; i++) {
			const block_q8_0 *p = w + (size_t)(r + i) * nb + b;
			__m512 d4 = _mm512_castps128_ps512(ld_d4(p));

			wa[i] = _mm512_xor_si512(bias, ld2(p));
			wb[i] = _mm512_xor_si512(bias, ld2(p + 2));
			dwa[i] = _mm512_permutexvar_ps(sel01, d4);
			dwb[i] = _mm512_permutexvar_ps(sel23, d4);
		}
#pragma GCC unroll 4
		for (int j = 0; j < T; j++) {
			const block_q8_0 *q = x + (size_t)(t + j) * nb + b;
			__m512i xa = ld2(q), xb = ld2(q + 2);
			__m512i ca = corr512(xa), cb = corr512(xb);
			__m512 d4 = _mm512_castps128_ps512(ld_d4(q));
			__m512 dxa = _mm512_permutexvar_ps(sel01, d4);
			__m512 dxb = _mm512_permutexvar_ps(sel23, d4);
#pragma GCC unroll 4
			for (int i = 0; i < R; i++) {
				__m512i sa = _mm512_dpbusd_epi32(ca, wa[i], xa);
				__m512i sb = _mm512_dpbusd_epi32(cb, wb[i], xb);

				acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sa),
					_mm512_mul_ps(dwa[i], dxa), acc[i][j]);
				acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sb),
					_mm512_mul_ps(dwb[i], dxb), acc[i][j]);
			}
		}
	}
	/* 1-3 tail blocks, one at a time in the low half of a zmm: the high
	 * half is (0 ^ 0x80) against x = 0 with correction 0, which sums to 0. */
	for (; b < nb; b++) {
		__m512i wu[4];
		float dw[4];

#pragma GCC unroll 4
		for (int i = 0; i < R; i++) {
			const block_q8_0 *p = w + (size_t)(r + i) * nb + b;

			wu[i] = _mm512_xor_si512(bias, _mm512_zextsi256_si512(
				_mm256_loadu_si256((const __m256i *)p->qs)));
			dw[i] = _cvtsh_ss(p->d);
		}
#pragma GCC unroll 4
		for (int j = 0; j < T; j++) {
			const block_q8_0 *q = x + (size_t)(t + j) * nb + b;
			__m512i xq = _mm512_zextsi256_si512(
				_mm256_loadu_si256((const __m256i *)q->qs));
			__m512i cq = corr512(xq);
			float dx = _cvtsh_ss(q->d);
#pragma GCC unroll 4
			for (int i = 0; i < R; i++) {
				__m512i s = _mm512_dpbusd_epi32(cq, wu[i], xq);
				acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s),
					_mm512_set1_ps(dw[i] * dx), acc[i][j]);
			}
		}
	}
#pragma GCC unroll 4
	for (int i = 0; i < R; i++)
#pragma GCC unroll 4
		for (int j = 0; j < T; j++)
			y[(size_t)(t + j) * ldy + r + i] =
				_mm512_reduce_add_ps(acc[i][j]);
}

TILE_TABLE(q8_tile512)

/* Contract: kernels.h matmul_q8_fn.  Writes exactly y[t*ldy + r] for
 * t < nt, r0 <= r < r1; exact integer block sums for all int8 quants. */
void matmul_q8_avx512vnni_4blk(const void *w, const block_q8_0 *x,
			       float *y, int nb, int r0, int r1, int nt,
			       int ldy)
{
	q8_tile512_walk(ROW_TILE, ROW_TILE, w, x, y, nb, r0, r1, nt, ldy);
}

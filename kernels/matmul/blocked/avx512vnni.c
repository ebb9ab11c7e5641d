/* matmul/blocked/avx512vnni.c - Q8_0 matmuls on the row-interleaved
 * layouts q8_0x4 and q8_0x8 (layout.c), with EVEX VPDPBUSD on 256-bit
 * vectors.
 *
 * Serves: Intel Cascade Lake, Ice Lake, Tiger Lake, Sapphire Rapids and
 * later Xeons; AMD Zen 4 and Zen 5.  Built with -mavx2 -mfma -mf16c
 * -mavx512f -mavx512bw -mavx512vl -mavx512vnni (the Makefile's rule for
 * files named avx512vnni.c), so the registry requires all of those bits.
 *
 * The tile is drive.h's, shared with avx2.c in this folder (tested on
 * every AVX2 machine); this file gives the pieces that differ, below.
 * A row vector is 8 output rows, one int32 lane each: one q8_0x8 group,
 * or two consecutive q8_0x4 groups.  Per block, chunk k of a row vector
 * (quants 4k..4k+3 of its 8 rows) is one 32-byte load, chunk k of a token
 * is one 4-byte broadcast, and one VPDPBUSD advances the 8 block sums:
 * 8 of them give the 8 exact block sums, lane by lane, with no horizontal
 * reduction.  The 8 scales are one vector (VCVTPH2PS), so scaling costs
 * one convert, multiply and FMA per row vector, token and block (the
 * as-stored kernels spend that per row), and the 8 results of a token are
 * one store into y.  A tile is V row vectors x T tokens, the weights of a
 * chunk loaded once for the T tokens and each token chunk once for the V
 * row vectors.  Up to 3 x 4 (24 rows x 4 tokens): its 2 x 12 int and
 * float accumulators, 3 weight and 3 scale vectors fit the 32 EVEX
 * registers without spilling.  On Zen 4 it beat 2x4, 2x6, 1x8, 4x2 and
 * 4x1 at 7 and 64 tokens and is within 4% of 4x1 at one token, where all
 * are bound by the weight stream; software prefetch only slowed it.
 * 256-bit rather than 512-bit vectors: a zmm would join two groups with a
 * shuffle per chunk, and Zen 4 executes zmm as two halves anyway.
 *
 * Exact block sums for all int8 quants by the bias trick of
 * ../avx512vnni.c, turned around: VPDPBUSD multiplies unsigned bytes (a
 * register) by signed ones (here the broadcast memory operand), so the
 * weights take the bias, w ^ 0x80 = w + 128 as an unsigned byte, and
 *	dpbusd(-128 X, w ^ 0x80, x) = sum((w + 128) x) - 128 X = sum(w x)
 * where X, the sum of the token's 32 quants of the block, is one number
 * per (token, block) for every row: drive.h tabulates -128 X once per
 * call, and the block sums start from it.
 *
 * Rounding: the block term is fma(float(sum), d_w * d_x, acc), d_w * d_x
 * exact in float, as in ../avx512vnni.c; only the order of the sum over
 * blocks differs from the reference. */
#include "simd.h"

#define VMAX 3			/* row vectors per tile */
#define TMAX 4			/* tokens per tile */

/* A weight chunk biased to unsigned bytes: w ^ 0x80 = w + 128. */
struct wk {
	__m256i wu;
};

AI struct wk w_prep(__m256i q)
{
	return (struct wk){ _mm256_xor_si256(_mm256_set1_epi8((char)0x80), q) };
}

/* The sums start from the correction -128 X of the token's block. */
AI __m256i s_start(int32_t corr)
{
	return _mm256_set1_epi32(corr);
}

/* (w + 128) x summed per lane, on top of -128 X: sum(w x), exact. */
AI __m256i s_step(__m256i s, struct wk w, __m256i xb)
{
	return _mm256_dpbusd_epi32(s, w.wu, xb);
}

/* AVX-512 lane masks: bit i selects lane i. */
typedef __mmask8 ymask;

AI ymask y_first(int n)
{
	return (__mmask8)((1u << n) - 1);
}

AI void y_put(float *y, ymask m, __m256 r, int add)
{
	if (add)
		r = _mm256_add_ps(r, _mm256_maskz_loadu_ps(m, y));
	_mm256_mask_storeu_ps(y, m, r);
}

#include "drive.h"

TILES(4, 1) TILES(4, 2) TILES(4, 3)
static const tile_fn tiles_4[VMAX + 1][TMAX + 1] = {
	TILE_ROW(4, 1), TILE_ROW(4, 2), TILE_ROW(4, 3),
};
TILES(8, 1) TILES(8, 2) TILES(8, 3)
static const tile_fn tiles_8[VMAX + 1][TMAX + 1] = {
	TILE_ROW(8, 1), TILE_ROW(8, 2), TILE_ROW(8, 3),
};

/* Contract: kernels.h matmul_q8_fn, w prepared by prep_q8_0x4 (r0 a
 * multiple of 4; r1 too, or the last row).  Writes exactly y[t*ldy + r]
 * for t < nt, r0 <= r < r1 (not the padding rows); reads only the groups
 * holding those rows.  Exact integer block sums for all int8 quants. */
void matmul_q8_avx512vnni_blocked4(const void *w, const block_q8_0 *x,
				   float *y, int nb, int r0, int r1, int nt,
				   int ldy)
{
	drive(tiles_4, w, x, y, nb, r0, r1, nt, ldy, 4);
}

/* Contract: as matmul_q8_avx512vnni_blocked4, for prep_q8_0x8 (r0 a
 * multiple of 8; r1 too, or the last row). */
void matmul_q8_avx512vnni_blocked8(const void *w, const block_q8_0 *x,
				   float *y, int nb, int r0, int r1, int nt,
				   int ldy)
{
	drive(tiles_8, w, x, y, nb, r0, r1, nt, ldy, 8);
}

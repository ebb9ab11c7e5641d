/* matmul/blocked/avx2.c - Q8_0 matmuls on the row-interleaved layouts
 * q8_0x4 and q8_0x8 (layout.c) with AVX2 maddubs.
 *
 * Serves: Intel Haswell and later, AMD Zen 1 and later (every x86-64 CPU
 * with AVX2, FMA and F16C).  Built with -mavx2 -mfma -mf16c; the registry
 * only hands these out when cpu.c has seen all three.
 *
 * The tile of drive.h, shared with avx512vnni.c in this folder: per
 * block, chunk k of a row vector (quants 4k..4k+3 of 8 rows, one int32
 * lane per row) meets chunk k of a token broadcast to every lane, so the
 * 8 exact block sums build up lane by lane, the 8 scales are one vector
 * and the 8 results of a token are one store.  This file gives the pieces
 * drive.h asks for.  Without VPDPBUSD each step is maddubs + madd + add,
 * with the sign trick of ../avx2.c instead of a bias, so drive.h does
 * not tabulate the bias correction here (XT_CORR 0): maddubs
 * wants unsigned x signed bytes, so |w| x (x * sign w) = w x, pairs
 * summing to at most 2 * 128 * 127 = 32512 (no saturation, w = -128
 * included).  The one input it gets wrong is x = -128 with w < 0; x comes
 * from our activation quantizer, which only emits [-127, 127].
 *
 * Tiles of 1 row vector x up to 4 tokens: 4 int and 4 float accumulators,
 * the chunk, its magnitude, the scales and a token chunk in the 16 ymm
 * registers.  On Zen 4 1x4 beat 1x2, 1x3, 2x1 and 2x2 at 7 and 64 tokens
 * (2x2 is 3% faster at one token).  The kernel is bound by the two
 * multiplies per step (maddubs, madd: about one a cycle on Zen 4), so
 * it gains less over ../avx2.c than the VNNI one does over its peers. */
#include "vec256.h"

#define VMAX 2			/* row vectors per tile */
#define TMAX 4			/* tokens per tile */
#define XT_CORR 0		/* the sign trick needs no bias correction */

/* A weight chunk and its magnitude (the unsigned operand of maddubs). */
struct wk {
	__m256i w, aw;
};

AI struct wk w_prep(vi q)
{
	return (struct wk){ q, _mm256_sign_epi8(q, q) };
}

/* The sign trick needs no correction: the sums start at 0. */
AI vi s_start(int32_t corr)
{
	(void)corr;
	return _mm256_setzero_si256();
}

/* |w| x (x * sign w) = w x, pairs summed by maddubs, then pairs of those
 * by madd with ones. */
AI vi s_step(vi s, struct wk w, vi xb)
{
	const __m256i ones = _mm256_set1_epi16(1);
	__m256i sx = _mm256_sign_epi8(xb, w.w);

	s = _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_maddubs_epi16(w.aw, sx),
						  ones));
	/* one add chain: GCC would otherwise sum the 8 products of a block
	 * as a tree, all live at once, and spill (4% slower on Zen 4) */
	__asm__("" : "+x"(s));
	return s;
}

#include "drive.h"

TILES(4, 1)
static const tile_tab tiles_4 = { TILE_ROW(4, 1) };
TILES(8, 1) TILES(8, 2)
static const tile_tab tiles_8 = { TILE_ROW(8, 1), TILE_ROW(8, 2) };

/* Contract: kernels.h matmul_q8_fn, w prepared by prep_q8_0x4 (r0 a
 * multiple of 4; r1 too, or the last row).  Writes exactly y[t*ldy + r]
 * for t < nt, r0 <= r < r1 (not the padding rows); reads only the groups
 * holding those rows.  Exact integer block sums for x in [-127, 127]. */
void matmul_q8_avx2_blocked4(const void *w, const block_q8_0 *x, float *y,
			     int nb, int r0, int r1, int nt, int ldy)
{
	drive(tiles_4, 1, 4, w, x, y, nb, r0, r1, nt, ldy, 4);
}

/* Contract: as matmul_q8_avx2_blocked4, for prep_q8_0x8 (r0 a multiple
 * of 8; r1 too, or the last row). */
void matmul_q8_avx2_blocked8(const void *w, const block_q8_0 *x, float *y,
			     int nb, int r0, int r1, int nt, int ldy)
{
	drive(tiles_8, 1, 4, w, x, y, nb, r0, r1, nt, ldy, 8);
}

/* Contract: as matmul_q8_avx2_blocked8 (same layout), tiles of 2 row
 * vectors x 2 tokens: twice the rows per weight pass, half the tokens. */
void matmul_q8_avx2_r16t2(const void *w, const block_q8_0 *x, float *y,
			  int nb, int r0, int r1, int nt, int ldy)
{
	drive(tiles_8, 2, 2, w, x, y, nb, r0, r1, nt, ldy, 8);
}

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
 * vnni_step.h. */
#include "vec256.h"

#define VMAX 3			/* row vectors per tile */
#define TMAX 4			/* tokens per tile */

#include "vnni_step.h"
#include "drive.h"

TILES(4, 1) TILES(4, 2) TILES(4, 3)
static const tile_tab tiles_4 = {
	TILE_ROW(4, 1), TILE_ROW(4, 2), TILE_ROW(4, 3),
};
TILES(8, 1) TILES(8, 2) TILES(8, 3)
static const tile_tab tiles_8 = {
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
	drive(tiles_4, VMAX, TMAX, w, x, y, nb, r0, r1, nt, ldy, 4);
}

/* Contract: as matmul_q8_avx512vnni_blocked4, for prep_q8_0x8 (r0 a
 * multiple of 8; r1 too, or the last row). */
void matmul_q8_avx512vnni_blocked8(const void *w, const block_q8_0 *x,
				   float *y, int nb, int r0, int r1, int nt,
				   int ldy)
{
	drive(tiles_8, VMAX, TMAX, w, x, y, nb, r0, r1, nt, ldy, 8);
}

/* matmul/blocked/avxvnni.c - Q8_0 matmuls on the row-interleaved layout
 * q8_0x8 (layout.c) with VEX VPDPBUSD (AVX-VNNI) on 256-bit vectors.
 *
 * Serves: Intel Alder Lake and later client parts, Sapphire Rapids and
 * later Xeons, AMD Zen 5: the CPUs with AVX-VNNI, whether or not they
 * also have AVX-512.  Built with -mavx2 -mfma -mf16c -mavxvnni (the
 * Makefile's rule for files named avxvnni.c).
 *
 * The tile of drive.h with the dot step of vnni_step.h, as avx512vnni.c
 * of this folder, but with the 16 VEX registers: a tile's 2 V T
 * accumulators, V weight and V scale vectors and one token chunk must fit
 * in 16, so 1 x 6 (12 + 3) and 2 x 3 (12 + 5) are the largest shapes;
 * 2 x 3 is the one registered. */
#include "vec256.h"

#define VMAX 2			/* row vectors per tile */
#define TMAX 3			/* tokens per tile */

#include "vnni_step.h"
#include "drive.h"

TILES(8, 1) TILES(8, 2)
static const tile_tab tiles_8 = { TILE_ROW(8, 1), TILE_ROW(8, 2) };

/* Contract: kernels.h matmul_q8_fn, w prepared by prep_q8_0x8 (r0 a
 * multiple of 8; r1 too, or the last row).  Writes exactly y[t*ldy + r]
 * for t < nt, r0 <= r < r1 (not the padding rows); reads only the groups
 * holding those rows.  Exact integer block sums for all int8 quants.
 * Tiles of 2 row vectors x 3 tokens (1 x 6 was slower from 1 to 128
 * tokens on Sapphire Rapids). */
void matmul_q8_avxvnni_r16t3(const void *w, const block_q8_0 *x, float *y,
			     int nb, int r0, int r1, int nt, int ldy)
{
	drive(tiles_8, 2, 3, w, x, y, nb, r0, r1, nt, ldy, 8);
}

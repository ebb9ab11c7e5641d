/* matmul/wide/avx512vnni.c - the int8 GEMM micro-kernels for prompt
 * batches: Q8_0 matmuls on the 16-row layout q8_0x16u (../blocked/
 * layout.c) with EVEX VPDPBUSD on 512-bit vectors.
 *
 * Serves: Intel Cascade Lake, Ice Lake, Sapphire Rapids and later Xeons;
 * AMD Zen 4 and Zen 5.  Built with the Makefile's AVX-512 flags (files
 * named avx512vnni.c), so the registry requires all of those bits.
 *
 * The loop nest and tile are ../blocked/drive.h's, with the 512-bit
 * pieces of vec512.h and the bias-trick dot step of vnni_step.h: a row
 * vector is one q8_0x16u group, so per block chunk k of 16 rows is one
 * 64-byte load, a token's chunk one broadcast (folded into VPDPBUSD's
 * memory operand), and one VPDPBUSD advances 16 exact block sums, 64 MACs;
 * the layout stores the weights already biased, so there is nothing to
 * do to a chunk between its load and the VPDPBUSDs.
 * On cores with two 512-bit pipes (Sapphire Rapids, Ice Lake server) that
 * is twice the MACs per instruction of the 256-bit blocked kernels; on
 * Zen 4, which splits a zmm in two, it halves the instructions.
 *
 * Per block a tile spends 8 V T VPDPBUSD on the dot products and 3 V T
 * float operations on the scales (convert, d_w d_x, FMA): the two share
 * the vector pipes, so about 8 / 11 of the int8 peak is this design's
 * ceiling.  The shapes, each a variant so the tuner can choose, are the
 * ones whose 2 V T accumulators and V weight and scale vectors fit the 32
 * registers: 2 x 6 and 3 x 4 (1 x 8 lost to both in and out of the
 * pass: one weight stream), and auto, which picks one by batch size. */
#include "../blocked/vec512.h"

#define VMAX 3			/* row vectors per tile */
#define TMAX 6			/* tokens per tile */
#define VNNI_PREBIASED		/* q8_0x16u stores w + 128 */
#define TILE_PREFETCH		/* auto prefetches (drive_pf) */

#include "../blocked/vnni_step.h"
#include "../blocked/drive.h"

TILES(16, 1) TILES(16, 2) TILES(16, 3)
static const tile_tab tiles_16 = {
	TILE_ROW(16, 1), TILE_ROW(16, 2), TILE_ROW(16, 3),
};

/* The variant of shape V x T (16 V rows x T tokens per tile).  Contract:
 * kernels.h matmul_q8_fn, w prepared by prep_q8_0x16 (r0 a multiple of
 * 16; r1 too, or the last row).  Writes exactly y[t*ldy + r] for t < nt,
 * r0 <= r < r1 (not the padding rows); reads only the groups holding
 * those rows.  Exact integer block sums for all int8 quants. */
#define WIDE(V, T, ROWS)                                                       \
	void matmul_q8_avx512vnni_r##ROWS##t##T(const void *w,                 \
						const block_q8_0 *x, float *y, \
						int nb, int r0, int r1,        \
						int nt, int ldy)               \
	{                                                                      \
		drive(tiles_16, V, T, w, x, y, nb, r0, r1, nt, ldy, 16);       \
	}

WIDE(2, 6, 32)
WIDE(3, 4, 48)

/* The shape by batch size: up to 4 tokens 3 x nt, more 2 x 6.  Small
 * batches stream the weights once whatever the tile, and three row
 * vectors keep three weight streams in flight; 2 x 6 has the most
 * arithmetic per load.  Measured on Sapphire Rapids, seed model, 2
 * threads, in the pass against avx512vnni_blocked8 (./bench --ab):
 * 3 x 4 1.045x at tg and 1.07x at pp7; 2 x 6 1.07x at pp7 and equal at
 * tg; 1 x 8 (one stream) 0.89x at tg and 0.92x at pp7; 2 x 6 1.27x at
 * pp128.  Up to 8 tokens, where the weight stream is the bound, the tile
 * also prefetches its records PF_BLOCKS blocks ahead: pp7 9.4-9.8 ms
 * against 10.1-10.2 without, tg 5.94-5.99 against 6.13-6.44 ms/token (3
 * rounds each, interleaved; 3 and 4 blocks ahead were close, 8 and 16
 * slower).  Contract: as the fixed shapes above. */
#define PF_BLOCKS 6

void matmul_q8_avx512vnni_auto(const void *w, const block_q8_0 *x, float *y,
			       int nb, int r0, int r1, int nt, int ldy)
{
	const int pf = nt <= 8 ? PF_BLOCKS : 0;

	if (nt <= 4)
		drive_pf(tiles_16, 3, 4, pf, w, x, y, nb, r0, r1, nt, ldy, 16);
	else
		drive_pf(tiles_16, 2, 6, pf, w, x, y, nb, r0, r1, nt, ldy, 16);
}

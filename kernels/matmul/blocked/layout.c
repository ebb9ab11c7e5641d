/* matmul/blocked/layout.c - the row-interleaved Q8_0 layouts "q8_0x4" and
 * "q8_0x8", written once at load and read by the blocked matmul variants
 * (avx512vnni.c and avx2.c in this folder).  Portable C, no ISA flags.
 *
 * Rows go in groups of R (4 or 8): group g holds rows gR .. gR+R-1.  Each
 * (group g, block index b) is one record of 34 R bytes, records stored
 * group-major, record (g, b) at byte (g * nb + b) * 34 R:
 *
 *	uint16_t d[R];		fp16 scale of block b of row gR+i
 *	int8_t q[8][R][4];	q[k][i][0..3] = quants 4k .. 4k+3 of that block
 *
 * so 4-byte chunk k of the R rows is one contiguous 4R-byte vector with
 * one int32 lane per row, and one VPDPBUSD (or maddubs + madd) of it
 * against chunk k of a token, broadcast to every lane, advances the R dot
 * products at once: the full block sum of a row ends in its own lane, with
 * no horizontal reduction, and the R scales of the record are one vector.
 * The quants are the file's bytes, unbiased and in order within a chunk:
 * the layout is a permutation of the Q8_0 matrix, shared by every ISA.
 *
 * When rows % R != 0 the last group is padded with zero rows (d = 0,
 * q = 0): every group is whole, and bytes() counts the padding. */
#include <string.h>
#include "variants.h"

/* Bytes of the (rows, nb) matrix in the R-row layout. */
static size_t blocked_bytes(int rows, int nb, int R)
{
	return (size_t)((rows + R - 1) / R) * (size_t)nb * 34 * (size_t)R;
}

/* w (rows, nb) as stored -> out (blocked_bytes(rows, nb, R)), every byte
 * written; deterministic.  The caller owns both buffers. */
static void blocked_run(const block_q8_0 *w, void *out, int rows, int nb,
			int R)
{
	uint8_t *o = out;

	for (int g = 0; g < (rows + R - 1) / R; g++)
		for (int b = 0; b < nb; b++) {
			uint8_t *q = o + 2 * R;

			for (int i = 0; i < R; i++) {
				int r = g * R + i;
				uint16_t d = r < rows ? w[(size_t)r * nb + b].d : 0;

				memcpy(o + 2 * i, &d, 2);
			}
			for (int k = 0; k < QK8_0 / 4; k++)
				for (int i = 0; i < R; i++, q += 4) {
					int r = g * R + i;

					if (r < rows)
						memcpy(q, w[(size_t)r * nb + b].qs + 4 * k, 4);
					else
						memset(q, 0, 4);
				}
			o += 34 * R;
		}
}

/* The struct variant_prep hooks of the two layouts. */
static size_t q8_0x4_bytes(int rows, int nb)
{
	return blocked_bytes(rows, nb, 4);
}

static void q8_0x4_run(const block_q8_0 *w, void *out, int rows, int nb)
{
	blocked_run(w, out, rows, nb, 4);
}

static size_t q8_0x8_bytes(int rows, int nb)
{
	return blocked_bytes(rows, nb, 8);
}

static void q8_0x8_run(const block_q8_0 *w, void *out, int rows, int nb)
{
	blocked_run(w, out, rows, nb, 8);
}

const struct variant_prep prep_q8_0x4 = {
	.layout = "q8_0x4",
	.row_align = 4,
	.bytes = q8_0x4_bytes,
	.run = q8_0x4_run,
};

const struct variant_prep prep_q8_0x8 = {
	.layout = "q8_0x8",
	.row_align = 8,
	.bytes = q8_0x8_bytes,
	.run = q8_0x8_run,
};

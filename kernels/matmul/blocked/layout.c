/* matmul/blocked/layout.c - the row-interleaved Q8_0 layouts "q8_0x4",
 * "q8_0x8" and "q8_0x16u", written once at load and read by the blocked
 * matmul variants (the ISA files of this folder and of ../wide/).
 * Portable C, no ISA flags.
 *
 * Rows go in groups of R (4, 8 or 16): group g holds rows gR .. gR+R-1.  Each
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
 * In q8_0x4 and q8_0x8 the quants are the file's bytes, in order within
 * a chunk: a permutation of the Q8_0 matrix, shared by every ISA.
 * q8_0x16u, read only by the 512-bit VNNI kernels (../wide/), stores
 * each quant biased ("u"), w ^ 0x80 = w + 128 as an unsigned byte: the operand
 * VPDPBUSD takes (../blocked/vnni_step.h), so the kernel loads it as is
 * instead of spending an XOR per chunk.
 *
 * When rows % R != 0 the last group is padded with zero rows (d = 0,
 * q = 0, stored biased in q8_0x16u): every group is whole, and bytes() counts the padding. */
#include <string.h>
#include "variants.h"

/* Bytes of the (rows, nb) matrix in the R-row layout. */
static size_t blocked_bytes(int rows, int nb, int R)
{
	return (size_t)((rows + R - 1) / R) * (size_t)nb * 34 * (size_t)R;
}

/* w (rows, nb) as stored -> out (blocked_bytes(rows, nb, R)), every byte
 * written, each quant XORed with bias (0 or 0x80); deterministic.  The
 * caller owns both buffers. */
static void blocked_run(const block_q8_0 *w, void *out, int rows, int nb,
			int R, uint8_t bias)
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
					const int r = g * R + i;
					const int8_t *src = r < rows ?
						w[(size_t)r * nb + b].qs + 4 * k : NULL;

					for (int e = 0; e < 4; e++)
						q[e] = (uint8_t)(src ? src[e] : 0) ^ bias;
				}
			o += 34 * R;
		}
}

/* The struct variant_prep of the R-row layout, prep_q8_0x<R>, named
 * q8_0x<R> and SUFFIX (quants XORed with BIAS). */
#define LAYOUT(R, BIAS, SUFFIX)                                                        \
	static size_t q8_0x##R##_bytes(int rows, int nb)                       \
	{                                                                      \
		return blocked_bytes(rows, nb, R);                             \
	}                                                                      \
	static void q8_0x##R##_run(const block_q8_0 *w, void *out, int rows,   \
				   int nb)                                     \
	{                                                                      \
		blocked_run(w, out, rows, nb, R, BIAS);                        \
	}                                                                      \
	const struct variant_prep prep_q8_0x##R = {                            \
		.layout = "q8_0x" #R SUFFIX,                                   \
		.row_align = R,                                                \
		.bytes = q8_0x##R##_bytes,                                     \
		.run = q8_0x##R##_run,                                         \
	};

LAYOUT(4, 0, "")
LAYOUT(8, 0, "")
LAYOUT(16, 0x80, "u")

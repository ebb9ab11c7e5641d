/* matmul/blocked/avx512vnni.c - Q8_0 matmuls on the row-interleaved
 * layouts q8_0x4 and q8_0x8 (layout.c), with EVEX VPDPBUSD on 256-bit
 * vectors.
 *
 * Serves: Intel Cascade Lake, Ice Lake, Tiger Lake, Sapphire Rapids and
 * later Xeons; AMD Zen 4 and Zen 5.  Built with -mavx2 -mfma -mf16c
 * -mavx512f -mavx512bw -mavx512vl -mavx512vnni (the Makefile's rule for
 * files named avx512vnni.c), so the registry requires all of those bits.
 *
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
#define VMAX 3			/* row vectors per tile */
#define TMAX 4			/* tokens per tile */
#include "drive.h"

/* y[j*ldy + 8v + i] (+)= the V x T tile over blocks [b0, b0 + nbc). */
AI void tile(const struct targs *a, const int R, const int V, const int T)
{
	const __m256i bias = _mm256_set1_epi8((char)0x80);
	const size_t gs = a->gs, hs = a->hs, rec = 34 * (size_t)R;
	const int nbc = a->nbc, nb = a->nb;
	const block_q8_0 *x = a->x;
	const uint8_t *p = a->w;
	const __mmask8 last = (__mmask8)((1u << a->nlast) - 1);
	__m256 acc[VMAX][TMAX];

#pragma GCC unroll 4
	for (int v = 0; v < V; v++)
#pragma GCC unroll 8
		for (int j = 0; j < T; j++)
			acc[v][j] = _mm256_setzero_ps();

	for (int b = 0; b < nbc; b++, p += rec, x++) {
		const uint8_t *lo[VMAX], *hi[VMAX];
		__m256i s[VMAX][TMAX];
		__m256 dw[VMAX];

#pragma GCC unroll 4
		for (int v = 0; v < V; v++) {
			lo[v] = p + (R == 8 ? v : 2 * v) * gs;
			hi[v] = lo[v] + (v == V - 1 ? hs : gs);
			dw[v] = ld_scales(lo[v], hi[v], R);
		}
#pragma GCC unroll 8
		for (int j = 0; j < T; j++) {
			__m256i c = _mm256_set1_epi32(a->corr[j * nbc + b]);
#pragma GCC unroll 4
			for (int v = 0; v < V; v++)
				s[v][j] = c;
		}
#pragma GCC unroll 8
		for (int k = 0; k < QK8_0 / 4; k++) {
			__m256i wk[VMAX];

#pragma GCC unroll 4
			for (int v = 0; v < V; v++)
				wk[v] = _mm256_xor_si256(bias,
						ld_chunk(lo[v], hi[v], k, R));
#pragma GCC unroll 8
			for (int j = 0; j < T; j++) {
				__m256i xb = _mm256_set1_epi32(
					ld32(x[(size_t)j * nb].qs + 4 * k));
#pragma GCC unroll 4
				for (int v = 0; v < V; v++)
					s[v][j] = _mm256_dpbusd_epi32(s[v][j],
								      wk[v], xb);
			}
		}
#pragma GCC unroll 8
		for (int j = 0; j < T; j++) {
			__m256 dx = _mm256_set1_ps(a->dx[j * nbc + b]);
#pragma GCC unroll 4
			for (int v = 0; v < V; v++)
				acc[v][j] = _mm256_fmadd_ps(
					_mm256_cvtepi32_ps(s[v][j]),
					_mm256_mul_ps(dw[v], dx), acc[v][j]);
		}
	}
#pragma GCC unroll 8
	for (int j = 0; j < T; j++)
#pragma GCC unroll 4
		for (int v = 0; v < V; v++) {
			float *yo = a->y + (size_t)j * a->ldy + 8 * v;
			__mmask8 m = v == V - 1 ? last : 0xff;
			__m256 r = acc[v][j];

			if (a->add)
				r = _mm256_add_ps(r, _mm256_maskz_loadu_ps(m, yo));
			_mm256_mask_storeu_ps(yo, m, r);
		}
}

/* Defines tile_<R>_<V>x<T> for V = 1..3 and T = 1..4, and their table. */
#define TILE(R, V, T)                                                          \
	static void tile_##R##_##V##x##T(const struct targs *a)                \
	{                                                                      \
		tile(a, R, V, T);                                              \
	}
#define TILES(R, V) TILE(R, V, 1) TILE(R, V, 2) TILE(R, V, 3) TILE(R, V, 4)
#define TILE_TABLE(R)                                                          \
	TILES(R, 1) TILES(R, 2) TILES(R, 3)                                    \
	static const tile_fn tiles_##R[VMAX + 1][TMAX + 1] = {                 \
		[1] = { NULL, tile_##R##_1x1, tile_##R##_1x2, tile_##R##_1x3,  \
			tile_##R##_1x4 },                                      \
		[2] = { NULL, tile_##R##_2x1, tile_##R##_2x2, tile_##R##_2x3,  \
			tile_##R##_2x4 },                                      \
		[3] = { NULL, tile_##R##_3x1, tile_##R##_3x2, tile_##R##_3x3,  \
			tile_##R##_3x4 },                                      \
	};

TILE_TABLE(4)
TILE_TABLE(8)

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

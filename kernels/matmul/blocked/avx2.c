/* matmul/blocked/avx2.c - Q8_0 matmuls on the row-interleaved layouts
 * q8_0x4 and q8_0x8 (layout.c) with AVX2 maddubs.
 *
 * Serves: Intel Haswell and later, AMD Zen 1 and later (every x86-64 CPU
 * with AVX2, FMA and F16C).  Built with -mavx2 -mfma -mf16c; the registry
 * only hands these out when cpu.c has seen all three.
 *
 * The scheme of avx512vnni.c in this folder (see there and drive.h): per
 * block, chunk k of a row vector (quants 4k..4k+3 of 8 rows, one int32
 * lane per row) meets chunk k of a token broadcast to every lane, so the
 * 8 exact block sums build up lane by lane, the 8 scales are one vector
 * and the 8 results of a token are one store.  Without VPDPBUSD each step
 * is maddubs + madd + add, with the sign trick of ../avx2.c instead of a
 * bias, so the bias correction drive.h tabulates goes unused here: maddubs
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
#define VMAX 1			/* row vectors per tile */
#define TMAX 4			/* tokens per tile */
#include "drive.h"

/* y[j*ldy + 8v + i] (+)= the V x T tile over blocks [b0, b0 + nbc). */
AI void tile(const struct targs *a, const int R, const int V, const int T)
{
	const __m256i ones = _mm256_set1_epi16(1);
	const size_t gs = a->gs, hs = a->hs, rec = 34 * (size_t)R;
	const int nbc = a->nbc, nb = a->nb;
	const block_q8_0 *x = a->x;
	const uint8_t *p = a->w;
	const __m256i last = _mm256_cmpgt_epi32(_mm256_set1_epi32(a->nlast),
		_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
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
#pragma GCC unroll 8
			for (int j = 0; j < T; j++)
				s[v][j] = _mm256_setzero_si256();
		}
#pragma GCC unroll 8
		for (int k = 0; k < QK8_0 / 4; k++) {
			__m256i wk[VMAX], aw[VMAX];

#pragma GCC unroll 4
			for (int v = 0; v < V; v++) {
				wk[v] = ld_chunk(lo[v], hi[v], k, R);
				aw[v] = _mm256_sign_epi8(wk[v], wk[v]);
			}
#pragma GCC unroll 8
			for (int j = 0; j < T; j++) {
				__m256i xb = _mm256_set1_epi32(
					ld32(x[(size_t)j * nb].qs + 4 * k));
#pragma GCC unroll 4
				for (int v = 0; v < V; v++) {
					__m256i sx = _mm256_sign_epi8(xb, wk[v]);

					s[v][j] = _mm256_add_epi32(s[v][j],
						_mm256_madd_epi16(
							_mm256_maddubs_epi16(aw[v], sx),
							ones));
					/* one add chain: GCC would otherwise
					 * sum the 8 products of a block as a
					 * tree, all live at once, and spill
					 * (4% slower on Zen 4) */
					__asm__("" : "+x"(s[v][j]));
				}
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
			__m256i m = v == V - 1 ? last : _mm256_set1_epi32(-1);
			__m256 r = acc[v][j];

			if (a->add)
				r = _mm256_add_ps(r, _mm256_maskload_ps(yo, m));
			_mm256_maskstore_ps(yo, m, r);
		}
}

/* Defines tile_<R>_1x<T> for T = 1..4, and their table. */
#define TILE(R, V, T)                                                          \
	static void tile_##R##_##V##x##T(const struct targs *a)                \
	{                                                                      \
		tile(a, R, V, T);                                              \
	}
#define TILE_TABLE(R)                                                          \
	TILE(R, 1, 1) TILE(R, 1, 2) TILE(R, 1, 3) TILE(R, 1, 4)                \
	static const tile_fn tiles_##R[VMAX + 1][TMAX + 1] = {                 \
		[1] = { NULL, tile_##R##_1x1, tile_##R##_1x2, tile_##R##_1x3,  \
			tile_##R##_1x4 },                                      \
	};

TILE_TABLE(4)
TILE_TABLE(8)

/* Contract: kernels.h matmul_q8_fn, w prepared by prep_q8_0x4 (r0 a
 * multiple of 4; r1 too, or the last row).  Writes exactly y[t*ldy + r]
 * for t < nt, r0 <= r < r1 (not the padding rows); reads only the groups
 * holding those rows.  Exact integer block sums for x in [-127, 127]. */
void matmul_q8_avx2_blocked4(const void *w, const block_q8_0 *x, float *y,
			     int nb, int r0, int r1, int nt, int ldy)
{
	drive(tiles_4, w, x, y, nb, r0, r1, nt, ldy, 4);
}

/* Contract: as matmul_q8_avx2_blocked4, for prep_q8_0x8 (r0 a multiple
 * of 8; r1 too, or the last row). */
void matmul_q8_avx2_blocked8(const void *w, const block_q8_0 *x, float *y,
			     int nb, int r0, int r1, int nt, int ldy)
{
	drive(tiles_8, w, x, y, nb, r0, r1, nt, ldy, 8);
}

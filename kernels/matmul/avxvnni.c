/* matmul/avxvnni.c - Q8_0 matmul with VEX-encoded VPDPBUSD (AVX-VNNI).
 *
 * Serves: Intel Alder Lake / Raptor Lake / Meteor Lake (P- and E-cores),
 * Sapphire Rapids and later, AMD Zen 5 where the hypervisor exposes
 * AVX-VNNI; i.e. CPUs with 256-bit VNNI but (client parts) no AVX-512.
 * Built with -mavx2 -mfma -mf16c -mavxvnni.
 *
 * The same tiles as matmul/avx2.c; only the block dot changes: one
 * VPDPBUSD replaces VPMADDUBSW + VPMADDWD. */
#include <immintrin.h>
#include "variants.h"

#define AI static inline __attribute__((always_inline))

/* Sum of the 8 lanes. */
AI float hsum8(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v),
			      _mm256_extractf128_ps(v, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* Integer dot of two blocks as 8 int32 partial sums: |w| (unsigned) times
 * x * sign(w) (signed).  VPDPBUSD sums in int32, so nothing saturates;
 * as in avx2.c the only wrong input is x = -128 with w < 0, which our
 * activation quantizer never emits (its range is [-127, 127]). */
AI __m256i q8_dot(__m256i aw, __m256i w, __m256i xq)
{
	return _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), aw,
				       _mm256_sign_epi8(xq, w));
}

/* y[(t+j)*ldy + r+i] for i < R, j < T over all nb blocks. */
AI void q8_tile(const block_q8_0 *w, const block_q8_0 *x, float *y, int nb,
		int r, int t, int ldy, const int R, const int T)
{
	__m256 acc[4][4];

#pragma GCC unroll 4
	for (int i = 0; i < R; i++)
#pragma GCC unroll 4
		for (int j = 0; j < T; j++)
			acc[i][j] = _mm256_setzero_ps();

	for (int b = 0; b < nb; b++) {
		__m256i wq[4], aw[4];
		__m256 dw[4];

#pragma GCC unroll 4
		for (int i = 0; i < R; i++) {
			const block_q8_0 *wb = w + (size_t)(r + i) * nb + b;
			wq[i] = _mm256_loadu_si256((const __m256i *)wb->qs);
			aw[i] = _mm256_sign_epi8(wq[i], wq[i]);
			dw[i] = _mm256_set1_ps(_cvtsh_ss(wb->d));
		}
#pragma GCC unroll 4
		for (int j = 0; j < T; j++) {
			const block_q8_0 *xb = x + (size_t)(t + j) * nb + b;
			__m256i xq = _mm256_loadu_si256((const __m256i *)xb->qs);
			__m256 dx = _mm256_set1_ps(_cvtsh_ss(xb->d));
#pragma GCC unroll 4
			for (int i = 0; i < R; i++) {
				__m256 s = _mm256_cvtepi32_ps(q8_dot(aw[i], wq[i], xq));
				acc[i][j] = _mm256_fmadd_ps(s, _mm256_mul_ps(dw[i], dx),
							    acc[i][j]);
			}
		}
	}
#pragma GCC unroll 4
	for (int i = 0; i < R; i++)
#pragma GCC unroll 4
		for (int j = 0; j < T; j++)
			y[(size_t)(t + j) * ldy + r + i] = hsum8(acc[i][j]);
}

typedef void (*q8_tile_fn)(const block_q8_0 *, const block_q8_0 *, float *,
			   int, int, int, int);

#define Q8_TILE(R, T)                                                          \
	static void q8_tile_##R##x##T(const block_q8_0 *w, const block_q8_0 *x, \
				      float *y, int nb, int r, int t, int ldy)  \
	{                                                                      \
		q8_tile(w, x, y, nb, r, t, ldy, R, T);                         \
	}
#define Q8_TILES(R) Q8_TILE(R, 1) Q8_TILE(R, 2) Q8_TILE(R, 3) Q8_TILE(R, 4)
Q8_TILES(1)
Q8_TILES(2)
Q8_TILES(4)

/* Indexed [R][T]; R = 3 is never chosen. */
static const q8_tile_fn q8_tiles[5][5] = {
	[1] = { NULL, q8_tile_1x1, q8_tile_1x2, q8_tile_1x3, q8_tile_1x4 },
	[2] = { NULL, q8_tile_2x1, q8_tile_2x2, q8_tile_2x3, q8_tile_2x4 },
	[4] = { NULL, q8_tile_4x1, q8_tile_4x2, q8_tile_4x3, q8_tile_4x4 },
};

/* Row tile height, as in avx2.c: 4 rows for a single token, else 2. */
static inline int row_tile(int nt, int left)
{
	int want = nt == 1 ? 4 : 2;

	while (want > left)
		want >>= 1;
	return want;
}

/* Contract: kernels.h matmul_q8_fn.  Writes exactly y[t*ldy + r] for
 * t < nt, r0 <= r < r1; reads w rows [r0, r1) and all of x. */
void matmul_q8_avxvnni(const void *w, const block_q8_0 *x, float *y,
		       int nb, int r0, int r1, int nt, int ldy)
{
	for (int r = r0; r < r1;) {
		int R = row_tile(nt, r1 - r);

		for (int t = 0; t < nt; t += 4)
			q8_tiles[R][nt - t < 4 ? nt - t : 4](w, x, y, nb, r, t, ldy);
		r += R;
	}
}

/* matmul/avx2.c - AVX2 + FMA + F16C matmuls.
 *
 * Serves: Intel Haswell and later, AMD Zen 1 and later (every x86-64 CPU
 * with AVX2, FMA and F16C).  Built with -mavx2 -mfma -mf16c; the registry
 * only hands these out when cpu.c has seen all three.
 *
 * Every variant computes an R x T tile (R weight rows, T tokens) at a time
 * so that one weight load feeds T tokens and one activation load feeds R
 * rows.  The tile shapes are compile-time constants: each (R, T) pair is
 * its own function, so the accumulators stay in registers. */
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

/* --- Q8_0 x Q8_0 ------------------------------------------------------- */

/* Integer dot of two 32-quant blocks as 8 int32 partial sums.
 * maddubs wants unsigned x signed, so the sign of w moves onto x:
 * |w| * (x * sign w) = w * x.  |w| = 128 (w = -128, possible in a hostile
 * file) is fine as an unsigned byte, and pairs sum to at most
 * 2 * 128 * 127 = 32512, so maddubs never saturates.  The one input it
 * gets wrong is x = -128 with w < 0 (x * sign w overflows int8); x comes
 * from our activation quantizer, which only emits [-127, 127]. */
AI __m256i q8_dot(__m256i aw, __m256i w, __m256i xq)
{
	const __m256i ones = _mm256_set1_epi16(1);
	__m256i sx = _mm256_sign_epi8(xq, w);

	return _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sx), ones);
}

/* y[(t+j)*ldy + r+i] for i < R, j < T over all nb blocks.  The scale
 * product d_w * d_x is exact in float (11-bit x 11-bit mantissas), as in
 * the scalar reference; only the summation order differs. */
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

/* Row tile height: one token (decode) has nothing to reuse across tokens,
 * so take 4 rows per x load; several tokens take 2 rows x 4 tokens, which
 * fits the 16 ymm registers (8 accumulators). */
static inline int row_tile(int nt, int left)
{
	int want = nt == 1 ? 4 : 2;

	while (want > left)
		want >>= 1;
	return want;
}

/* Contract: kernels.h matmul_q8_fn.  Writes exactly y[t*ldy + r] for
 * t < nt, r0 <= r < r1; reads w rows [r0, r1) and all of x. */
void matmul_q8_avx2(const void *w, const block_q8_0 *x, float *y,
		    int nb, int r0, int r1, int nt, int ldy)
{
	for (int r = r0; r < r1;) {
		int R = row_tile(nt, r1 - r);

		for (int t = 0; t < nt; t += 4)
			q8_tiles[R][nt - t < 4 ? nt - t : 4](w, x, y, nb, r, t, ldy);
		r += R;
	}
}

/* --- F16 / BF16 / F32 -------------------------------------------------- */

AI __m256 ld_f32(const float *p)
{
	return _mm256_loadu_ps(p);
}

AI __m256 ld_f16(const uint16_t *p)
{
	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

AI __m256 ld_bf16(const uint16_t *p)
{
	__m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));

	return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

AI float one_f32(const float *p)
{
	return *p;
}

AI float one_f16(const uint16_t *p)
{
	return _cvtsh_ss(*p);
}

AI float one_bf16(const uint16_t *p)
{
	return bf16_to_f32(*p);
}

/* One template for the three float matmuls, tiled like q8_tile: 8 columns
 * per step into R x T accumulators, then the n % 8 tail in scalar. */
#define FLOAT_MATMUL(name, type, LD, ONE)                                      \
	AI void name##_tile(const type *w, const type *x, float *y, int n,     \
			    int r, int t, int ldy, const int R, const int T)   \
	{                                                                      \
		__m256 acc[4][4];                                              \
		int k = 0;                                                     \
                                                                               \
		_Pragma("GCC unroll 4") for (int i = 0; i < R; i++)            \
		_Pragma("GCC unroll 4") for (int j = 0; j < T; j++)            \
			acc[i][j] = _mm256_setzero_ps();                       \
		for (; k + 8 <= n; k += 8) {                                   \
			__m256 wv[4];                                          \
			_Pragma("GCC unroll 4") for (int i = 0; i < R; i++)    \
				wv[i] = LD(w + (size_t)(r + i) * n + k);       \
			_Pragma("GCC unroll 4") for (int j = 0; j < T; j++) {  \
				__m256 xv = LD(x + (size_t)(t + j) * n + k);   \
				_Pragma("GCC unroll 4") for (int i = 0; i < R; i++) \
					acc[i][j] = _mm256_fmadd_ps(wv[i], xv, \
								    acc[i][j]); \
			}                                                      \
		}                                                              \
		_Pragma("GCC unroll 4") for (int i = 0; i < R; i++)            \
		_Pragma("GCC unroll 4") for (int j = 0; j < T; j++) {          \
			const type *wr = w + (size_t)(r + i) * n;              \
			const type *xt = x + (size_t)(t + j) * n;              \
			float s = hsum8(acc[i][j]);                            \
			for (int m = k; m < n; m++)                            \
				s += ONE(wr + m) * ONE(xt + m);                \
			y[(size_t)(t + j) * ldy + r + i] = s;                  \
		}                                                              \
	}                                                                      \
	typedef void (*name##_fn)(const type *, const type *, float *, int,    \
				  int, int, int);                              \
	FLOAT_TILE(name, type, 1, 1) FLOAT_TILE(name, type, 1, 2)              \
	FLOAT_TILE(name, type, 1, 3) FLOAT_TILE(name, type, 1, 4)              \
	FLOAT_TILE(name, type, 2, 1) FLOAT_TILE(name, type, 2, 2)              \
	FLOAT_TILE(name, type, 2, 3) FLOAT_TILE(name, type, 2, 4)              \
	FLOAT_TILE(name, type, 4, 1) FLOAT_TILE(name, type, 4, 2)              \
	FLOAT_TILE(name, type, 4, 3) FLOAT_TILE(name, type, 4, 4)              \
	static const name##_fn name##_tiles[5][5] = {                          \
		[1] = { NULL, name##_1x1, name##_1x2, name##_1x3, name##_1x4 }, \
		[2] = { NULL, name##_2x1, name##_2x2, name##_2x3, name##_2x4 }, \
		[4] = { NULL, name##_4x1, name##_4x2, name##_4x3, name##_4x4 }, \
	};                                                                     \
	/* Contract: kernels.h matmul_h_fn / matmul_f32_fn. */                 \
	void name(const type *w, const type *x, float *y, int n, int r0,      \
		  int r1, int nt, int ldy)                                     \
	{                                                                      \
		for (int r = r0; r < r1;) {                                    \
			int R = row_tile(nt, r1 - r);                          \
			for (int t = 0; t < nt; t += 4)                        \
				name##_tiles[R][nt - t < 4 ? nt - t : 4](      \
					w, x, y, n, r, t, ldy);                \
			r += R;                                                \
		}                                                              \
	}

#define FLOAT_TILE(name, type, R, T)                                           \
	static void name##_##R##x##T(const type *w, const type *x, float *y,   \
				     int n, int r, int t, int ldy)             \
	{                                                                      \
		name##_tile(w, x, y, n, r, t, ldy, R, T);                      \
	}

FLOAT_MATMUL(matmul_f32_avx2, float, ld_f32, one_f32)
FLOAT_MATMUL(matmul_f16_avx2, uint16_t, ld_f16, one_f16)
FLOAT_MATMUL(matmul_bf16_avx2, uint16_t, ld_bf16, one_bf16)

/* matmul/avx2.c - AVX2 + FMA + F16C matmuls.
 *
 * Serves: Intel Haswell and later, AMD Zen 1 and later (every x86-64 CPU
 * with AVX2, FMA and F16C).  Built with -mavx2 -mfma -mf16c; the registry
 * only hands these out when cpu.c has seen all three.
 *
 * Every variant works in R x T tiles (R weight rows, T tokens), one
 * function per tile shape: see matmul/tile.h.  The Q8_0 tiles are
 * matmul/q8_sign256.h with the block dot below. */
#include <immintrin.h>
#include "variants.h"
#include "simd.h"
#include "tile.h"

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

#define Q8_MATMUL matmul_q8_avx2
#include "q8_sign256.h"

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
	TILE_TABLE(name##_tile)                                                \
	/* Contract: kernels.h matmul_h_fn / matmul_f32_fn. */                 \
	void name(const type *w, const type *x, float *y, int n, int r0,      \
		  int r1, int nt, int ldy)                                     \
	{                                                                      \
		name##_tile_walk(YMM_ROWS_1, YMM_ROWS_N, w, x, y, n, r0, r1,   \
				 nt, ldy);                                     \
	}

FLOAT_MATMUL(matmul_f32_avx2, float, ld_f32, one_f32)
FLOAT_MATMUL(matmul_f16_avx2, uint16_t, ld_f16, one_f16)
FLOAT_MATMUL(matmul_bf16_avx2, uint16_t, ld_bf16, one_bf16)

/* matmul/q8_sign256.h - the Q8_0 x Q8_0 matmul in 256-bit registers, one
 * block per dot step, for the files that differ only in the block dot:
 * matmul/avx2.c (VPMADDUBSW + VPMADDWD) and matmul/avxvnni.c (VPDPBUSD),
 * both with the sign trick (|w| as unsigned bytes times x * sign(w) as
 * signed), and matmul/avx512vnni.c (EVEX VPDPBUSD with its bias trick,
 * exact for all int8 inputs), which brings its own three hooks.
 *
 * A template: include it once, only from an ISA file (it needs AVX2, FMA
 * and F16C besides what the dot uses), after defining Q8_MATMUL, the name
 * of the matmul_q8_fn it defines, and either
 *	AI __m256i q8_dot(__m256i aw, __m256i w, __m256i xq)
 *		the integer dot of two 32-quant blocks w and x as 8 int32
 *		partial sums, given aw = |w| as unsigned bytes (the sign
 *		trick: the hooks below are made from it), or
 *	Q8_HOOKS, and
 *	struct q8w, AI struct q8w q8_w(__m256i wq)
 *		a weight block's quants made ready for the dot, once per
 *		(row, block);
 *	struct q8x, AI struct q8x q8_x(__m256i xq)
 *		the same for an activation block, once per (token, block);
 *	AI __m256i q8_wx(struct q8w w, struct q8x x)
 *		their integer dot as 8 int32 partial sums, per (row, token,
 *		block): all of the inner loop that is not loads and scaling.
 * Q8_ROWS_1 and Q8_ROWS_N (the row tile heights for one and several
 * tokens) default to the AVX2 files' YMM_ROWS_1 and YMM_ROWS_N. */
#ifndef Q8_MATMUL
#error "define Q8_MATMUL and q8_dot (or Q8_HOOKS) before including q8_sign256.h"
#endif

#include "simd.h"
#include "tile.h"

#ifndef Q8_ROWS_1
#define Q8_ROWS_1 YMM_ROWS_1
#define Q8_ROWS_N YMM_ROWS_N
#endif

#ifndef Q8_HOOKS
/* The sign trick: w and |w| per weight block, x as loaded. */
struct q8w {
	__m256i w, aw;
};

struct q8x {
	__m256i q;
};

AI struct q8w q8_w(__m256i wq)
{
	return (struct q8w){ wq, _mm256_sign_epi8(wq, wq) };
}

AI struct q8x q8_x(__m256i xq)
{
	return (struct q8x){ xq };
}

AI __m256i q8_wx(struct q8w w, struct q8x x)
{
	return q8_dot(w.aw, w.w, x.q);
}
#endif

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
		struct q8w wq[4];
		__m256 dw[4];

#pragma GCC unroll 4
		for (int i = 0; i < R; i++) {
			const block_q8_0 *wb = w + (size_t)(r + i) * nb + b;
			wq[i] = q8_w(_mm256_loadu_si256((const __m256i *)wb->qs));
			dw[i] = _mm256_set1_ps(_cvtsh_ss(wb->d));
		}
#pragma GCC unroll 4
		for (int j = 0; j < T; j++) {
			const block_q8_0 *xb = x + (size_t)(t + j) * nb + b;
			struct q8x xq = q8_x(_mm256_loadu_si256((const __m256i *)xb->qs));
			__m256 dx = _mm256_set1_ps(_cvtsh_ss(xb->d));
#pragma GCC unroll 4
			for (int i = 0; i < R; i++) {
				__m256i s = q8_wx(wq[i], xq);
				acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s),
							    _mm256_mul_ps(dw[i], dx),
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

TILE_TABLE(q8_tile)

/* Contract: kernels.h matmul_q8_fn.  Writes exactly y[t*ldy + r] for
 * t < nt, r0 <= r < r1; reads w rows [r0, r1) and all of x. */
void Q8_MATMUL(const void *w, const block_q8_0 *x, float *y,
	       int nb, int r0, int r1, int nt, int ldy)
{
	q8_tile_walk(Q8_ROWS_1, Q8_ROWS_N, w, x, y, nb, r0, r1, nt, ldy);
}

#undef Q8_MATMUL

/* ops/avx2.c - AVX2 + FMA + F16C element-wise and reduction ops.
 *
 * Serves: Intel Haswell and later, AMD Zen 1 and later.  Built with
 * -mavx2 -mfma -mf16c.
 *
 * Each op follows its scalar reference in ops/scalar.c expression by
 * expression (same operation order per element, same double accumulators),
 * so the only differences are summation order and, where exp is involved,
 * vexp() (ops/vmath.h) instead of libm's expf.  Lengths need not be
 * multiples of 8: the last n % 8 elements go through masked loads and
 * stores, never touching memory past n. */
#include <immintrin.h>
#include <math.h>
#include "variants.h"
#include "simd.h"

/* acc + each lane of v widened to double (4 + 4 lanes). */
AI __m256d add_wide(__m256d acc, __m256 v)
{
	acc = _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
	return _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

/* vexp, vgelu, vsilu in 8 lanes */
#define VW 256
#define VROUND(v) \
	_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VNEG(v) _mm256_xor_ps(v, _mm256_set1_ps(-0.0f))
#include "vmath.h"

/* The 32 floats v0..v3 as one Q8_0 block, as quantize_scalar. */
AI void q8_block(__m256 v0, __m256 v1, __m256 v2, __m256 v3, block_q8_0 *y)
{
	const __m256 sign = _mm256_set1_ps(-0.0f);
	const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
	__m256 m = _mm256_max_ps(
		_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
		_mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
	const float amax = hmax8(m);
	const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
	const __m256 idv = _mm256_set1_ps(id);

	y->d = _cvtss_sh(amax / 127.0f, 0);
	__m256i q0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, idv));
	__m256i q1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, idv));
	__m256i q2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, idv));
	__m256i q3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, idv));
	/* packs work per 128-bit lane; order puts the dwords back */
	__m256i q = _mm256_packs_epi16(_mm256_packs_epi32(q0, q1),
				       _mm256_packs_epi32(q2, q3));
	q = _mm256_permutevar8x32_epi32(q, order);
	_mm256_storeu_si256((__m256i *)y->qs, q);
}

/* Contract: kernels.h quantize_fn.  Bit-identical to quantize_scalar for
 * finite x (both round x * id with the current rounding mode, ties to even
 * by default); writes exactly n / 32 blocks.  Exception: a block whose
 * amax is nonzero but below 127 / FLT_MAX (~3.7e-37) makes id infinite,
 * where the reference's float -> int8 conversion is undefined (GCC gives
 * 0, this gives -128); both store d = 0, so the block still dequantizes
 * to zeros. */
void quantize_avx2(const float *x, block_q8_0 *y, int n)
{
	for (int b = 0; b < n / QK8_0; b++, x += QK8_0)
		q8_block(_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8),
			 _mm256_loadu_ps(x + 16), _mm256_loadu_ps(x + 24), y + b);
}

/* The sum of squares of x[0..n) in double: exact products, summed in
 * two accumulators of 4 lanes, 8 floats a step. */
AI __m256d sq_step(__m256d *s1, __m256d s0, __m256 v)
{
	__m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
	__m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));

	*s1 = _mm256_fmadd_pd(hi, hi, *s1);
	return _mm256_fmadd_pd(lo, lo, s0);
}

static double sumsq(const float *x, int n)
{
	__m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
	int k;

	for (k = 0; k + 8 <= n; k += 8)
		s0 = sq_step(&s1, s0, _mm256_loadu_ps(x + k));
	if (k < n)
		s0 = sq_step(&s1, s0, _mm256_maskload_ps(x + k, tail_mask8(n - k)));
	return hsum4d(_mm256_add_pd(s0, s1));
}

/* Contract: kernels.h rmsnorm_fn.  The sum of squares is taken in double
 * as in rmsnorm_scalar (exact products, different order), then the same
 * float expressions; o may equal x. */
void rmsnorm_avx2(float *o, const float *x, const float *w, int n, float eps)
{
	int k;
	const double ss = sumsq(x, n);
	const __m256 scale = _mm256_set1_ps(1.0f / sqrtf((float)(ss / n) + eps));

	for (k = 0; k + 8 <= n; k += 8) {
		__m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + k), scale);
		_mm256_storeu_ps(o + k, _mm256_mul_ps(v, _mm256_loadu_ps(w + k)));
	}
	if (k < n) {
		__m256i m = tail_mask8(n - k);
		__m256 v = _mm256_mul_ps(_mm256_maskload_ps(x + k, m), scale);
		_mm256_maskstore_ps(o + k, m,
				    _mm256_mul_ps(v, _mm256_maskload_ps(w + k, m)));
	}
}

/* Contract: kernels.h softmax_fn.  As softmax_scalar, with vexp for expf
 * (so each result within a few ulp of the scalar's); the sum is in double.
 * -inf entries (masked positions) give 0. */
void softmax_avx2(float *x, int n)
{
	__m256 mv = _mm256_set1_ps(-INFINITY);
	__m256d s0 = _mm256_setzero_pd();
	int k;

	for (k = 0; k + 8 <= n; k += 8)
		mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + k));
	if (k < n) {
		__m256i m = tail_mask8(n - k);
		__m256 v = _mm256_blendv_ps(_mm256_set1_ps(-INFINITY),
					    _mm256_maskload_ps(x + k, m),
					    _mm256_castsi256_ps(m));
		mv = _mm256_max_ps(mv, v);
	}
	mv = _mm256_set1_ps(hmax8(mv));

	for (k = 0; k + 8 <= n; k += 8) {
		__m256 e = vexp(_mm256_sub_ps(_mm256_loadu_ps(x + k), mv));
		_mm256_storeu_ps(x + k, e);
		s0 = add_wide(s0, e);
	}
	if (k < n) {
		__m256i m = tail_mask8(n - k);
		__m256 e = vexp(_mm256_sub_ps(_mm256_maskload_ps(x + k, m), mv));
		e = _mm256_and_ps(e, _mm256_castsi256_ps(m));
		_mm256_maskstore_ps(x + k, m, e);
		s0 = add_wide(s0, e);
	}
	const __m256 inv = _mm256_set1_ps((float)(1.0 / hsum4d(s0)));

	for (k = 0; k + 8 <= n; k += 8)
		_mm256_storeu_ps(x + k, _mm256_mul_ps(_mm256_loadu_ps(x + k), inv));
	if (k < n) {
		__m256i m = tail_mask8(n - k);
		_mm256_maskstore_ps(x + k, m,
				    _mm256_mul_ps(_mm256_maskload_ps(x + k, m), inv));
	}
}

/* Contract: kernels.h dot_fn.  Four 8-lane FMA accumulators. */
float dot_avx2(const float *a, const float *b, int n)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
	__m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
	int k;

	for (k = 0; k + 32 <= n; k += 32) {
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 8),
				     _mm256_loadu_ps(b + k + 8), s1);
		s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 16),
				     _mm256_loadu_ps(b + k + 16), s2);
		s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 24),
				     _mm256_loadu_ps(b + k + 24), s3);
	}
	for (; k + 8 <= n; k += 8)
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), s0);
	if (k < n) {
		__m256i m = tail_mask8(n - k);
		s1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + k, m),
				     _mm256_maskload_ps(b + k, m), s1);
	}
	return hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

/* Contract: kernels.h axpy_fn.  Multiply then add, not FMA, so the result
 * is bit-identical to axpy_scalar. */
void axpy_avx2(float *y, float a, const float *x, int n)
{
	const __m256 av = _mm256_set1_ps(a);
	int k;

	for (k = 0; k + 8 <= n; k += 8)
		_mm256_storeu_ps(y + k, _mm256_add_ps(_mm256_loadu_ps(y + k),
			_mm256_mul_ps(av, _mm256_loadu_ps(x + k))));
	if (k < n) {
		__m256i m = tail_mask8(n - k);
		_mm256_maskstore_ps(y + k, m, _mm256_add_ps(_mm256_maskload_ps(y + k, m),
			_mm256_mul_ps(av, _mm256_maskload_ps(x + k, m))));
	}
}

/* g = act(g) * u over n entries, with the tail masked. */
#define GLU_AVX2(name, ACT)                                                    \
	void name(float *g, const float *u, int n)                             \
	{                                                                      \
		int k;                                                         \
		for (k = 0; k + 8 <= n; k += 8)                                \
			_mm256_storeu_ps(g + k, _mm256_mul_ps(                 \
				ACT(_mm256_loadu_ps(g + k)), _mm256_loadu_ps(u + k))); \
		if (k < n) {                                                   \
			__m256i m = tail_mask8(n - k);                         \
			_mm256_maskstore_ps(g + k, m, _mm256_mul_ps(           \
				ACT(_mm256_maskload_ps(g + k, m)),             \
				_mm256_maskload_ps(u + k, m)));                \
		}                                                              \
	}

/* Contract: kernels.h glu_fn. */
GLU_AVX2(gelu_avx2, vgelu)
GLU_AVX2(silu_avx2, vsilu)

/* Contract: kernels.h norm_q8_fn (n % 32 == 0).  The add, then
 * rmsnorm_avx2's sums and expressions, then quantize_avx2's, block by
 * block while o is in registers: bit-identical to rmsnorm_avx2 followed
 * by quantize_avx2. */
void norm_q8_avx2(float *x, const float *d, const float *w, int n,
		  float eps, float *o, block_q8_0 *q)
{
	if (d)
		for (int k = 0; k < n; k += 8)
			_mm256_storeu_ps(x + k, _mm256_add_ps(_mm256_loadu_ps(x + k),
							      _mm256_loadu_ps(d + k)));
	const __m256 scale = _mm256_set1_ps(1.0f / sqrtf((float)(sumsq(x, n) / n) +
							 eps));

	for (int b = 0; b < n / QK8_0; b++) {
		__m256 v[4];

		for (int i = 0; i < 4; i++) {
			const int k = QK8_0 * b + 8 * i;

			v[i] = _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + k), scale),
					     _mm256_loadu_ps(w + k));
			_mm256_storeu_ps(o + k, v[i]);
		}
		q8_block(v[0], v[1], v[2], v[3], q + b);
	}
}

/* g = act(g) * u, then the blocks of g: bit-identical to the glu variant
 * of the same ISA followed by quantize_avx2 (n % 32 == 0). */
#define GLU_Q8_AVX2(name, ACT)                                                 \
	void name(float *g, const float *u, int n, block_q8_0 *q)              \
	{                                                                      \
		for (int b = 0; b < n / QK8_0; b++) {                          \
			__m256 v[4];                                           \
			for (int i = 0; i < 4; i++) {                          \
				const int k = QK8_0 * b + 8 * i;               \
				v[i] = _mm256_mul_ps(ACT(_mm256_loadu_ps(g + k)), \
						     _mm256_loadu_ps(u + k));  \
				_mm256_storeu_ps(g + k, v[i]);                 \
			}                                                      \
			q8_block(v[0], v[1], v[2], v[3], q + b);               \
		}                                                              \
	}

/* Contract: kernels.h glu_q8_fn. */
GLU_Q8_AVX2(gelu_q8_avx2, vgelu)
GLU_Q8_AVX2(silu_q8_avx2, vsilu)

/* One pair of rope_cached's rotation, for the tails. */
static void rot_pair(float *a, float *b, float c, float sn)
{
	const float x0 = *a, x1 = *b;

	*a = x0 * c - x1 * sn;
	*b = x0 * sn + x1 * c;
}

/* Contract: kernels.h rope_fn with the cached table (VF_ROPE_TABLE), as
 * rope_avx512 with 8 pairs a step and the last pairs one by one. */
void rope_avx2(float *x, int n_head, int head_dim, int pos,
	       const struct rope_tab *t)
{
	const int half = t->n_rot / 2;
	const float *cs = t->cs + (size_t)pos * half * 2;

	for (int h = 0; h < n_head; h++) {
		float *v = x + (size_t)h * head_dim;
		int i = 0;

		if (t->neox) {
			for (; i + 8 <= half; i += 8) {
				__m256 lo = _mm256_loadu_ps(cs + 2 * i);
				__m256 hi = _mm256_loadu_ps(cs + 2 * i + 8);
				/* per 128-bit lane: c0 c1 c4 c5 | c2 c3 c6 c7, then
				 * in order */
				__m256 c = _mm256_castpd_ps(_mm256_permute4x64_pd(
					_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0x88)), 0xd8));
				__m256 sn = _mm256_castpd_ps(_mm256_permute4x64_pd(
					_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0xdd)), 0xd8));
				__m256 a = _mm256_loadu_ps(v + i);
				__m256 b = _mm256_loadu_ps(v + half + i);

				_mm256_storeu_ps(v + i, _mm256_fmsub_ps(a, c,
						 _mm256_mul_ps(b, sn)));
				_mm256_storeu_ps(v + half + i, _mm256_fmadd_ps(a, sn,
						 _mm256_mul_ps(b, c)));
			}
			for (; i < half; i++)
				rot_pair(v + i, v + half + i, cs[2 * i], cs[2 * i + 1]);
		} else {
			for (; i + 4 <= half; i += 4) {	/* 4 pairs */
				__m256 xv = _mm256_loadu_ps(v + 2 * i);
				__m256 csv = _mm256_loadu_ps(cs + 2 * i);
				__m256 sw = _mm256_permute_ps(xv, _MM_SHUFFLE(2, 3, 0, 1));

				_mm256_storeu_ps(v + 2 * i, _mm256_fmaddsub_ps(xv,
					_mm256_moveldup_ps(csv),
					_mm256_mul_ps(sw, _mm256_movehdup_ps(csv))));
			}
			for (; i < half; i++)
				rot_pair(v + 2 * i, v + 2 * i + 1, cs[2 * i], cs[2 * i + 1]);
		}
	}
}

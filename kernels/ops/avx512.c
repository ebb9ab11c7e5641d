/* ops/avx512.c - AVX-512 (F, BW, VL) element-wise and reduction ops.
 *
 * Serves: Intel Skylake-SP and later Xeons, Ice Lake / Tiger Lake client,
 * AMD Zen 4 and Zen 5.  Built with the AVX-512 flag set of the Makefile
 * (which includes -mavx512vnni); nothing here is an int8 dot product, so
 * the compiler has no use for VNNI and the registry does not require it.
 *
 * The same arithmetic as ops/avx2.c in 16-lane registers; the last
 * n % 16 elements go through masked loads and stores. */
#include <immintrin.h>
#include <math.h>
#include "variants.h"
#include "simd.h"

/* acc + each lane of v widened to double (8 + 8 lanes). */
AI __m512d add_wide(__m512d acc, __m512 v)
{
	acc = _mm512_add_pd(acc, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
	return _mm512_add_pd(acc, _mm512_cvtps_pd(_mm256_castpd_ps(
		_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
}

/* vexp, vgelu, vsilu in 16 lanes; VNEG flips the bits as integers since
 * _mm512_xor_ps needs AVX512DQ. */
#define VW 512
#define VROUND(v) \
	_mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VNEG(v) _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(v), \
	_mm512_set1_epi32((int)0x80000000u)))
#include "vmath.h"

/* The 32 floats v0, v1 as one Q8_0 block, as quantize_scalar. */
AI void q8_block(__m512 v0, __m512 v1, block_q8_0 *y)
{
	const float amax = _mm512_reduce_max_ps(
		_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
	const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
	const __m512 idv = _mm512_set1_ps(id);

	y->d = _cvtss_sh(amax / 127.0f, 0);
	__m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, idv));
	__m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, idv));
	_mm_storeu_si128((__m128i *)y->qs, _mm512_cvtsepi32_epi8(q0));
	_mm_storeu_si128((__m128i *)(y->qs + 16), _mm512_cvtsepi32_epi8(q1));
}

/* Contract: kernels.h quantize_fn.  Bit-identical to quantize_scalar for
 * finite x, with the tiny-amax exception described at quantize_avx2;
 * writes exactly n / 32 blocks. */
void quantize_avx512(const float *x, block_q8_0 *y, int n)
{
	for (int b = 0; b < n / QK8_0; b++, x += QK8_0)
		q8_block(_mm512_loadu_ps(x), _mm512_loadu_ps(x + 16), y + b);
}

/* The sum of squares of x[0..n) in double, as rmsnorm_avx2 takes it but
 * 16 floats a step. */
static double sumsq(const float *x, int n)
{
	__m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();

	for (int k = 0; k < n; k += 16) {
		__mmask16 m = tail_mask16(n - k);
		__m512 v = _mm512_maskz_loadu_ps(m, x + k);
		__m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
		__m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(
			_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
		s0 = _mm512_fmadd_pd(lo, lo, s0);
		s1 = _mm512_fmadd_pd(hi, hi, s1);
	}
	return _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
}

/* Contract: kernels.h rmsnorm_fn; as rmsnorm_avx2 (double sum of squares,
 * then the scalar's float expressions).  o may equal x. */
void rmsnorm_avx512(float *o, const float *x, const float *w, int n, float eps)
{
	int k;
	const double ss = sumsq(x, n);
	const __m512 scale = _mm512_set1_ps(1.0f / sqrtf((float)(ss / n) + eps));

	for (k = 0; k < n; k += 16) {
		__mmask16 m = tail_mask16(n - k);
		__m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + k), scale);
		_mm512_mask_storeu_ps(o + k, m,
				      _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + k)));
	}
}

/* Contract: kernels.h softmax_fn; as softmax_avx2. */
void softmax_avx512(float *x, int n)
{
	__m512 mv = _mm512_set1_ps(-INFINITY);
	__m512d s0 = _mm512_setzero_pd();
	int k;

	for (k = 0; k < n; k += 16) {
		__mmask16 m = tail_mask16(n - k);
		mv = _mm512_mask_max_ps(mv, m, mv, _mm512_maskz_loadu_ps(m, x + k));
	}
	mv = _mm512_set1_ps(_mm512_reduce_max_ps(mv));
	for (k = 0; k < n; k += 16) {
		__mmask16 m = tail_mask16(n - k);
		__m512 e = _mm512_maskz_mov_ps(m,
			vexp(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + k), mv)));
		_mm512_mask_storeu_ps(x + k, m, e);
		s0 = add_wide(s0, e);
	}
	const __m512 inv = _mm512_set1_ps((float)(1.0 / _mm512_reduce_add_pd(s0)));

	for (k = 0; k < n; k += 16) {
		__mmask16 m = tail_mask16(n - k);
		_mm512_mask_storeu_ps(x + k, m,
				      _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + k), inv));
	}
}

/* Contract: kernels.h dot_fn.  Two 16-lane FMA accumulators. */
float dot_avx512(const float *a, const float *b, int n)
{
	__m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
	int k;

	for (k = 0; k + 32 <= n; k += 32) {
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k), _mm512_loadu_ps(b + k), s0);
		s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k + 16),
				     _mm512_loadu_ps(b + k + 16), s1);
	}
	for (; k < n; k += 16) {
		__mmask16 m = tail_mask16(n - k);
		s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + k),
				     _mm512_maskz_loadu_ps(m, b + k), s0);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

/* Contract: kernels.h axpy_fn.  Multiply then add: bit-identical to
 * axpy_scalar. */
void axpy_avx512(float *y, float a, const float *x, int n)
{
	const __m512 av = _mm512_set1_ps(a);

	for (int k = 0; k < n; k += 16) {
		__mmask16 m = tail_mask16(n - k);
		_mm512_mask_storeu_ps(y + k, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, y + k),
			_mm512_mul_ps(av, _mm512_maskz_loadu_ps(m, x + k))));
	}
}

/* g = act(g) * u over n entries, masked per step. */
#define GLU_AVX512(name, ACT)                                                  \
	void name(float *g, const float *u, int n)                             \
	{                                                                      \
		for (int k = 0; k < n; k += 16) {                              \
			__mmask16 m = tail_mask16(n - k);                      \
			_mm512_mask_storeu_ps(g + k, m, _mm512_mul_ps(         \
				ACT(_mm512_maskz_loadu_ps(m, g + k)),          \
				_mm512_maskz_loadu_ps(m, u + k)));             \
		}                                                              \
	}

/* Contract: kernels.h glu_fn. */
GLU_AVX512(gelu_avx512, vgelu)
GLU_AVX512(silu_avx512, vsilu)

/* Contract: kernels.h norm_q8_fn (n % 32 == 0).  The add, then
 * rmsnorm_avx512's sums and expressions, then quantize_avx512's, block by
 * block while o is in registers: bit-identical to rmsnorm_avx512
 * followed by quantize_avx512. */
void norm_q8_avx512(float *x, const float *d, const float *w, int n,
		    float eps, float *o, block_q8_0 *q)
{
	if (d)
		for (int k = 0; k < n; k += 16)
			_mm512_storeu_ps(x + k, _mm512_add_ps(_mm512_loadu_ps(x + k),
							      _mm512_loadu_ps(d + k)));
	const __m512 scale = _mm512_set1_ps(1.0f / sqrtf((float)(sumsq(x, n) / n) +
							 eps));

	for (int b = 0; b < n / QK8_0; b++) {
		const int k = QK8_0 * b;
		__m512 v0 = _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(x + k), scale),
					  _mm512_loadu_ps(w + k));
		__m512 v1 = _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(x + k + 16),
							scale),
					  _mm512_loadu_ps(w + k + 16));

		_mm512_storeu_ps(o + k, v0);
		_mm512_storeu_ps(o + k + 16, v1);
		q8_block(v0, v1, q + b);
	}
}

/* g = act(g) * u, then the blocks of g: bit-identical to the glu variant
 * of the same ISA followed by quantize_avx512 (n % 32 == 0). */
#define GLU_Q8_AVX512(name, ACT)                                               \
	void name(float *g, const float *u, int n, block_q8_0 *q)              \
	{                                                                      \
		for (int k = 0; k < n; k += QK8_0) {                           \
			__m512 v0 = _mm512_mul_ps(ACT(_mm512_loadu_ps(g + k)), \
						  _mm512_loadu_ps(u + k));     \
			__m512 v1 = _mm512_mul_ps(                             \
				ACT(_mm512_loadu_ps(g + k + 16)),              \
				_mm512_loadu_ps(u + k + 16));                  \
			_mm512_storeu_ps(g + k, v0);                           \
			_mm512_storeu_ps(g + k + 16, v1);                      \
			q8_block(v0, v1, q + k / QK8_0);                       \
		}                                                              \
	}

/* Contract: kernels.h glu_q8_fn. */
GLU_Q8_AVX512(gelu_q8_avx512, vgelu)
GLU_Q8_AVX512(silu_q8_avx512, vsilu)

/* Contract: kernels.h rope_fn with the cached table (VF_ROPE_TABLE), as
 * rope_cached: each pair (a, b) of a head's first n_rot dims becomes
 * (a c - b s, a s + b c), 16 pairs a step.  NEOX pairs (x[i], x[i+half])
 * take cos and sin deinterleaved from the table; adjacent pairs take
 * them duplicated (c c', s s') against x and x with its pairs swapped,
 * FMADDSUB doing the - and +.  Contracted with FMA, so within an ulp or
 * two of rope_cached, not bit for bit. */
void rope_avx512(float *x, int n_head, int head_dim, int pos,
		 const struct rope_tab *t)
{
	const int half = t->n_rot / 2;
	const float *cs = t->cs + (size_t)pos * half * 2;
	const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18,
					       20, 22, 24, 26, 28, 30);
	const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));

	for (int h = 0; h < n_head; h++) {
		float *v = x + (size_t)h * head_dim;

		if (t->neox) {
			for (int i = 0; i < half; i += 16) {
				const __mmask16 m = tail_mask16(half - i);
				const __mmask16 m2 = half - i > 8 ?
					tail_mask16(2 * (half - i) - 16) : 0;
				__m512 lo = _mm512_maskz_loadu_ps(tail_mask16(2 * (half - i)),
								  cs + 2 * i);
				__m512 hi = _mm512_maskz_loadu_ps(m2, cs + 2 * i + 16);
				__m512 c = _mm512_permutex2var_ps(lo, even, hi);
				__m512 sn = _mm512_permutex2var_ps(lo, odd, hi);
				__m512 a = _mm512_maskz_loadu_ps(m, v + i);
				__m512 b = _mm512_maskz_loadu_ps(m, v + half + i);

				_mm512_mask_storeu_ps(v + i, m, _mm512_fmsub_ps(a, c,
						_mm512_mul_ps(b, sn)));
				_mm512_mask_storeu_ps(v + half + i, m, _mm512_fmadd_ps(a, sn,
						_mm512_mul_ps(b, c)));
			}
		} else {
			for (int k = 0; k < 2 * half; k += 16) {
				const __mmask16 m = tail_mask16(2 * half - k);
				__m512 xv = _mm512_maskz_loadu_ps(m, v + k);
				__m512 csv = _mm512_maskz_loadu_ps(m, cs + k);
				__m512 sw = _mm512_permute_ps(xv, _MM_SHUFFLE(2, 3, 0, 1));

				_mm512_mask_storeu_ps(v + k, m, _mm512_fmaddsub_ps(xv,
					_mm512_moveldup_ps(csv),
					_mm512_mul_ps(sw, _mm512_movehdup_ps(csv))));
			}
		}
	}
}

/* ops/scalar.c - reference versions of the element-wise and reduction ops,
 * written to follow ggml's CPU arithmetic (llama.cpp is the reference the
 * fixtures come from).  Portable C, any CPU. */
#include <math.h>
#include "variants.h"

void quantize_scalar(const float *x, block_q8_0 *y, int n)
{
	for (int b = 0; b < n / QK8_0; b++, x += QK8_0) {
		float amax = 0.0f;

		for (int j = 0; j < QK8_0; j++)
			amax = fmaxf(amax, fabsf(x[j]));
		const float id = amax != 0.0f ? 127.0f / amax : 0.0f;

		y[b].d = f32_to_fp16(amax / 127.0f);
		for (int j = 0; j < QK8_0; j++)
			y[b].qs[j] = (int8_t)rintf(x[j] * id);	/* ties to even */
	}
}

void rmsnorm_scalar(float *o, const float *x, const float *w, int n,
		    float eps)
{
	double ss = 0.0;

	for (int i = 0; i < n; i++)
		ss += (double)x[i] * x[i];
	const float scale = 1.0f / sqrtf((float)(ss / n) + eps);
	for (int i = 0; i < n; i++)
		o[i] = (x[i] * scale) * w[i];
}

void softmax_scalar(float *x, int n)
{
	float max = -INFINITY;
	double sum = 0.0;

	for (int i = 0; i < n; i++)
		max = fmaxf(max, x[i]);
	for (int i = 0; i < n; i++) {
		x[i] = expf(x[i] - max);
		sum += x[i];
	}
	const float inv = (float)(1.0 / sum);
	for (int i = 0; i < n; i++)
		x[i] *= inv;
}

float dot_scalar(const float *a, const float *b, int n)
{
	float s = 0.0f;

	for (int i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

void axpy_scalar(float *y, float a, const float *x, int n)
{
	for (int i = 0; i < n; i++)
		y[i] += a * x[i];
}

/* GELU, tanh form (gemma's gelu_pytorch_tanh). */
void gelu_exact(float *g, const float *u, int n)
{
	const float c = 0.79788456080286535588f;	/* sqrt(2/pi) */

	for (int i = 0; i < n; i++) {
		float x = g[i];
		g[i] = 0.5f * x * (1.0f + tanhf(c * x * (1.0f + 0.044715f * x * x))) * u[i];
	}
}

/* llama.cpp's GELU: ggml looks the result up in a 64K-entry fp16 table,
 * i.e. rounds x to fp16 and gelu(x) to fp16, and passes |x| >= 10 through
 * as 0 or x.  Computed here without the table (same values).  Abs error
 * against gelu_exact <= 2^-11 (1.13 |x| + |gelu(x)|) |u|. */
void gelu_fp16(float *g, const float *u, int n)
{
	const float c = 0.79788456080286535588f;

	for (int i = 0; i < n; i++) {
		float x = g[i], y;
		if (x <= -10.0f) {
			y = 0.0f;
		} else if (x >= 10.0f) {
			y = x;
		} else {
			x = fp16_to_f32(f32_to_fp16(x));
			y = 0.5f * x * (1.0f + tanhf(c * x * (1.0f + 0.044715f * x * x)));
			y = fp16_to_f32(f32_to_fp16(y));
		}
		g[i] = y * u[i];
	}
}

/* GELU by its definition, 0.5 x (1 + erf(x / sqrt 2)): what the tanh
 * form approximates (they differ by at most 4.8e-4, near x = -2.7). */
void gelu_erf(float *g, const float *u, int n)
{
	for (int i = 0; i < n; i++) {
		float x = g[i];
		g[i] = 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)) * u[i];
	}
}

/* tanh by its [7/6] Pade approximant, clamped to +-1 where the approximant
 * crosses 1 (|z| = 4.9718): |error| <= 9.7e-5 in tanh, so <= 4.9e-5
 * max(1, |x|) in GELU.  No libm call. */
void gelu_rational(float *g, const float *u, int n)
{
	const float c = 0.79788456080286535588f;

	for (int i = 0; i < n; i++) {
		const float x = g[i];
		const float z = c * x * (1.0f + 0.044715f * x * x);
		float t;
		if (z >= 4.9718f) {
			t = 1.0f;
		} else if (z <= -4.9718f) {
			t = -1.0f;
		} else {
			const float z2 = z * z;
			t = z * (135135.0f + z2 * (17325.0f + z2 * (378.0f + z2))) /
			    (135135.0f + z2 * (62370.0f + z2 * (3150.0f + z2 * 28.0f)));
		}
		g[i] = 0.5f * x * (1.0f + t) * u[i];
	}
}

void silu_exact(float *g, const float *u, int n)
{
	for (int i = 0; i < n; i++)
		g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

/* Rotates the pairs of one head by the angles whose cos, sin are in cs
 * (half pairs). */
static void rotate_head(float *v, int half, int neox, const float *cs)
{
	const int stride = neox ? half : 1;	/* distance between pair members */

	for (int i = 0; i < half; i++) {
		float *a = neox ? v + i : v + 2 * i;
		const float c = cs[2 * i], s = cs[2 * i + 1];
		const float x0 = a[0], x1 = a[stride];
		a[0] = x0 * c - x1 * s;
		a[stride] = x0 * s + x1 * c;
	}
}

/* cos, sin of theta_i = pos * base^(-2i/n_rot) for i < n_rot/2, stepped as
 * ggml does (one powf, then repeated multiplication), so angles agree with
 * llama.cpp's to the last bit. */
static void rope_angles(float *cs, int half, int n_rot, float base, int pos)
{
	const float step = powf(base, -2.0f / (float)n_rot);
	float theta = (float)pos;

	for (int i = 0; i < half; i++, theta *= step) {
		cs[2 * i] = cosf(theta);
		cs[2 * i + 1] = sinf(theta);
	}
}

/* The naive port: angles computed on every call (powf, cosf, sinf). */
void rope_computed(float *x, int n_head, int head_dim, int pos,
		   const struct rope_tab *t)
{
	const int half = t->n_rot / 2;
	float cs[2 * 2048];	/* n_rot <= head_dim; model.c caps it */

	rope_angles(cs, half, t->n_rot, t->base, pos);
	for (int h = 0; h < n_head; h++)
		rotate_head(x + (size_t)h * head_dim, half, t->neox, cs);
}

/* Angles from the table rope_fill built; bit-identical to computed. */
void rope_cached(float *x, int n_head, int head_dim, int pos,
		 const struct rope_tab *t)
{
	const int half = t->n_rot / 2;
	const float *cs = t->cs + (size_t)pos * half * 2;

	for (int h = 0; h < n_head; h++)
		rotate_head(x + (size_t)h * head_dim, half, t->neox, cs);
}

void rope_fill(struct rope_tab *t)
{
	const int half = t->n_rot / 2;

	for (int p = 0; p < t->n_ctx; p++)
		rope_angles(t->cs + (size_t)p * half * 2, half, t->n_rot,
			    t->base, p);
}

/* The fused ops' references: the reference kernels composed (kernels.h). */
void norm_q8_unfused(float *x, const float *d, const float *w, int n,
		     float eps, float *o, block_q8_0 *q)
{
	if (d)
		for (int i = 0; i < n; i++)
			x[i] += d[i];
	rmsnorm_scalar(o, x, w, n, eps);
	quantize_scalar(o, q, n);
}

void gelu_q8_unfused(float *g, const float *u, int n, block_q8_0 *q)
{
	gelu_exact(g, u, n);
	quantize_scalar(g, q, n);
}

void silu_q8_unfused(float *g, const float *u, int n, block_q8_0 *q)
{
	silu_exact(g, u, n);
	quantize_scalar(g, q, n);
}

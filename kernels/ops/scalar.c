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

void silu_exact(float *g, const float *u, int n)
{
	for (int i = 0; i < n; i++)
		g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

/* theta_i = pos * base^(-2i/n_rot), stepped as ggml does (one powf, then
 * repeated multiplication), so positions agree with llama.cpp's to the
 * last bit of the angle. */
void rope_computed(float *x, int n_head, int head_dim, int pos,
		   const struct rope_tab *t)
{
	const int half = t->n_rot / 2;
	const float step = powf(t->base, -2.0f / (float)t->n_rot);
	const int stride = t->neox ? half : 1;	/* distance between pair members */

	for (int h = 0; h < n_head; h++) {
		float *v = x + (size_t)h * head_dim;
		float theta = (float)pos;
		for (int i = 0; i < half; i++, theta *= step) {
			const float c = cosf(theta), s = sinf(theta);
			float *a = t->neox ? v + i : v + 2 * i;
			const float x0 = a[0], x1 = a[stride];
			a[0] = x0 * c - x1 * s;
			a[stride] = x0 * s + x1 * c;
		}
	}
}

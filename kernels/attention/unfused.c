/* attention/unfused.c - the attention op as three passes per query row:
 * a score per cached position (dot), softmax over the row, then the sum of
 * p.v (axpy), the way the forward pass called the three ops before the
 * attention op existed.
 *
 * attention_scalar, with the scalar parts, is the op's specification; the
 * _unfused variants are the same composition with the parts of one ISA
 * (ops/avx2.c, ops/avx512.c), the composition the fused variants compete
 * against.  Built without ISA flags: it only calls the parts. */
#include <string.h>
#include "variants.h"

/* Contract: kernels.h attention_fn.  scratch holds the score row. */
static void attention_parts(const struct att_args *a, dot_fn dot,
			    softmax_fn softmax, axpy_fn axpy)
{
	float *sc = a->scratch;

	for (int t = 0; t < a->nt; t++) {
		const int n_kv = a->pos0 + t + 1;	/* causal */

		for (int g = 0; g < a->heads; g++) {
			const float *q = a->q + (size_t)t * a->ldq + (size_t)g * a->hd;
			float *out = a->out + (size_t)t * a->ldo + (size_t)g * a->hd;

			for (int p = 0; p < n_kv; p++)
				sc[p] = dot(q, a->k + (size_t)p * a->ldkv, a->hd) *
					a->scale;
			softmax(sc, n_kv);
			memset(out, 0, sizeof(float) * (size_t)a->hd);
			for (int p = 0; p < n_kv; p++)
				axpy(out, sc[p], a->v + (size_t)p * a->ldkv, a->hd);
		}
	}
}

void attention_scalar(const struct att_args *a)
{
	attention_parts(a, dot_scalar, softmax_scalar, axpy_scalar);
}

void attention_avx2_unfused(const struct att_args *a)
{
	attention_parts(a, dot_avx2, softmax_avx2, axpy_avx2);
}

void attention_avx512_unfused(const struct att_args *a)
{
	attention_parts(a, dot_avx512, softmax_avx512, axpy_avx512);
}

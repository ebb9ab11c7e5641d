/* matmul/scalar.c - the reference matmuls: the specification every other
 * variant is tested against.  Portable C, any CPU. */
#include "variants.h"

void matmul_q8_scalar(const void *w, const block_q8_0 *x, float *y,
		      int nb, int r0, int r1, int nt, int ldy)
{
	for (int r = r0; r < r1; r++) {
		const block_q8_0 *wr = (const block_q8_0 *)w + (size_t)r * nb;
		for (int t = 0; t < nt; t++) {
			const block_q8_0 *xt = x + (size_t)t * nb;
			float sum = 0.0f;
			for (int b = 0; b < nb; b++) {
				int s = 0;
				for (int j = 0; j < QK8_0; j++)
					s += wr[b].qs[j] * xt[b].qs[j];
				sum += (float)s * (fp16_to_f32(wr[b].d) *
						   fp16_to_f32(xt[b].d));
			}
			y[(size_t)t * ldy + r] = sum;
		}
	}
}

/* One template for the three float matmuls: LOAD(p, i) reads element i. */
#define FLOAT_MATMUL(name, wtype, xtype, LOAD)                                \
	void name(const wtype *w, const xtype *x, float *y, int n, int r0,    \
		  int r1, int nt, int ldy)                                    \
	{                                                                     \
		for (int r = r0; r < r1; r++) {                               \
			const wtype *wr = w + (size_t)r * n;                  \
			for (int t = 0; t < nt; t++) {                        \
				const xtype *xt = x + (size_t)t * n;          \
				float sum = 0.0f;                             \
				for (int i = 0; i < n; i++)                   \
					sum += LOAD(wr, i) * LOAD(xt, i);     \
				y[(size_t)t * ldy + r] = sum;                 \
			}                                                     \
		}                                                             \
	}

#define LOAD_F16(p, i) fp16_to_f32((p)[i])
#define LOAD_BF16(p, i) bf16_to_f32((p)[i])
#define LOAD_F32(p, i) ((p)[i])

FLOAT_MATMUL(matmul_f16_scalar, uint16_t, uint16_t, LOAD_F16)
FLOAT_MATMUL(matmul_bf16_scalar, uint16_t, uint16_t, LOAD_BF16)
FLOAT_MATMUL(matmul_f32_scalar, float, float, LOAD_F32)

/* quant_ref.c - the weight quantizer (model files), llama.cpp-identical. */
#include <math.h>
#include "q8.h"

void q8_quantize_weights(const float *x, block_q8_0 *y, int64_t n)
{
	for (int64_t b = 0; b < n / QK8_0; b++, x += QK8_0) {
		float amax = 0.0f;

		for (int j = 0; j < QK8_0; j++)
			amax = fmaxf(amax, fabsf(x[j]));
		const float d = amax / 127.0f;
		const float id = d ? 1.0f / d : 0.0f;

		y[b].d = f32_to_fp16(d);
		for (int j = 0; j < QK8_0; j++)
			y[b].qs[j] = (int8_t)roundf(x[j] * id);
	}
}

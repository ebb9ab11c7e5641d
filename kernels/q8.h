/* q8.h - storage formats shared by every layer: Q8_0 blocks and the
 * half-precision conversions.  Pure data and inline helpers, no ISA flags. */
#ifndef Q8TUNE_Q8_H
#define Q8TUNE_Q8_H

#include <stdint.h>
#include <string.h>

#define QK8_0 32

/* One Q8_0 block as GGUF stores it: 34 bytes, fp16 scale then 32 int8.
 * Value i of the block is fp16_to_f32(d) * qs[i]. */
typedef struct {
	uint16_t d;		/* fp16 scale */
	int8_t qs[QK8_0];	/* quants */
} block_q8_0;

#ifdef __cplusplus
static_assert(sizeof(block_q8_0) == 34, "Q8_0 block must be 34 bytes");
extern "C" {
#else
_Static_assert(sizeof(block_q8_0) == 34, "Q8_0 block must be 34 bytes");
#endif

/* IEEE binary16 -> binary32, exact for every input (subnormals, inf, NaN). */
static inline float fp16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f;
	uint32_t man = h & 0x3ff;
	uint32_t bits;
	float f;

	if (exp == 0x1f) {
		bits = sign | 0x7f800000u | (man << 13);
	} else if (exp != 0) {
		bits = sign | ((exp + 112) << 23) | (man << 13);
	} else if (man == 0) {
		bits = sign;
	} else {
		/* subnormal: value = man * 2^-24 */
		int e = -1;
		do {
			e++;
			man <<= 1;
		} while (!(man & 0x400));
		bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13);
	}
	memcpy(&f, &bits, 4);
	return f;
}

/* binary32 -> binary16 with round-to-nearest-even, as F16C's vcvtps2ph
 * with imm 0 does (and so as llama.cpp's GGML_FP32_TO_FP16). */
static inline uint16_t f32_to_fp16(float f)
{
	uint32_t x;
	memcpy(&x, &f, 4);
	uint32_t sign = (x >> 16) & 0x8000;
	uint32_t ax = x & 0x7fffffffu;

	if (ax >= 0x7f800000u)		/* inf or NaN */
		return (uint16_t)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0));
	if (ax >= 0x477ff000u)		/* rounds to >= 65520: overflow */
		return (uint16_t)(sign | 0x7c00);
	if (ax < 0x38800000u) {		/* below 2^-14: subnormal or zero */
		if (ax < 0x33000000u)	/* below 2^-25: rounds to zero */
			return (uint16_t)sign;
		uint32_t e = ax >> 23;
		uint32_t m = (ax & 0x7fffff) | 0x800000;
		uint32_t shift = 126 - e;	/* 14..24 */
		uint32_t q = m >> shift;
		uint32_t rem = m & ((1u << shift) - 1);
		uint32_t half = 1u << (shift - 1);
		if (rem > half || (rem == half && (q & 1)))
			q++;
		return (uint16_t)(sign | q);
	}
	uint32_t q = ((ax >> 13) - (112u << 10));
	uint32_t rem = ax & 0x1fff;
	if (rem > 0x1000 || (rem == 0x1000 && (q & 1)))
		q++;
	return (uint16_t)(sign | q);
}

/* bfloat16 -> binary32 (exact). */
static inline float bf16_to_f32(uint16_t h)
{
	uint32_t bits = (uint32_t)h << 16;
	float f;
	memcpy(&f, &bits, 4);
	return f;
}

/* binary32 -> bfloat16, round-to-nearest-even (NaN stays NaN), as
 * llama.cpp's GGML_FP32_TO_BF16. */
static inline uint16_t f32_to_bf16(float f)
{
	uint32_t x;
	memcpy(&x, &f, 4);
	if ((x & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((x >> 16) | 64);
	return (uint16_t)((x + (0x7fffu + ((x >> 16) & 1))) >> 16);
}

/* Quantizes n floats (n % 32 == 0) to Q8_0 exactly as llama.cpp's
 * quantize_row_q8_0_ref does for model files: d = amax/127 stored as fp16,
 * q = roundf(x / d) (half away from zero).  Byte-identical to llama.cpp's
 * quantizer; kernels/quant_ref.c. */
void q8_quantize_weights(const float *x, block_q8_0 *y, int64_t n);

#ifdef __cplusplus
}
#endif

#endif

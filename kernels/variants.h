/* variants.h - every variant function, for kernels/registry.c and the
 * per-ISA files that define them.  Nothing outside kernels/ includes this:
 * the rest of the project reaches variants through the tables. */
#ifndef Q8TUNE_VARIANTS_H
#define Q8TUNE_VARIANTS_H

#include "kernels.h"

/* The parts of the unfused attention (kernels/attention/unfused.c), each
 * in ops/scalar.c and every SIMD ops file: */
/* x = softmax(x) over n entries, in place. */
typedef void (*softmax_fn)(float *x, int n);
typedef float (*dot_fn)(const float *a, const float *b, int n);
/* y += a * x */
typedef void (*axpy_fn)(float *y, float a, const float *x, int n);

/* kernels/matmul/scalar.c: the specification */
void matmul_q8_scalar(const void *w, const block_q8_0 *x, float *y,
		      int nb, int r0, int r1, int nt, int ldy);
void matmul_f16_scalar(const uint16_t *w, const uint16_t *x, float *y,
		       int n, int r0, int r1, int nt, int ldy);
void matmul_bf16_scalar(const uint16_t *w, const uint16_t *x, float *y,
			int n, int r0, int r1, int nt, int ldy);
void matmul_f32_scalar(const float *w, const float *x, float *y, int n,
		       int r0, int r1, int nt, int ldy);

/* kernels/ops/scalar.c */
void quantize_scalar(const float *x, block_q8_0 *y, int n);
void rmsnorm_scalar(float *o, const float *x, const float *w, int n,
		    float eps);
void softmax_scalar(float *x, int n);
float dot_scalar(const float *a, const float *b, int n);
void axpy_scalar(float *y, float a, const float *x, int n);
void gelu_exact(float *g, const float *u, int n);
void gelu_fp16(float *g, const float *u, int n);
void gelu_erf(float *g, const float *u, int n);
void gelu_rational(float *g, const float *u, int n);
void silu_exact(float *g, const float *u, int n);
void rope_computed(float *x, int n_head, int head_dim, int pos,
		   const struct rope_tab *t);
void rope_cached(float *x, int n_head, int head_dim, int pos,
		 const struct rope_tab *t);
void norm_q8_unfused(float *x, const float *d, const float *w, int n,
		     float eps, float *o, block_q8_0 *q);
void gelu_q8_unfused(float *g, const float *u, int n, block_q8_0 *q);
void silu_q8_unfused(float *g, const float *u, int n, block_q8_0 *q);

/* kernels/ops/avx2.c, kernels/ops/avx512.c: the fused element-wise ops */
void norm_q8_avx2(float *x, const float *d, const float *w, int n,
		  float eps, float *o, block_q8_0 *q);
void gelu_q8_avx2(float *g, const float *u, int n, block_q8_0 *q);
void silu_q8_avx2(float *g, const float *u, int n, block_q8_0 *q);
void norm_q8_avx512(float *x, const float *d, const float *w, int n,
		    float eps, float *o, block_q8_0 *q);
void gelu_q8_avx512(float *g, const float *u, int n, block_q8_0 *q);
void silu_q8_avx512(float *g, const float *u, int n, block_q8_0 *q);
void rope_avx2(float *x, int n_head, int head_dim, int pos,
	       const struct rope_tab *t);
void rope_avx512(float *x, int n_head, int head_dim, int pos,
		 const struct rope_tab *t);

/* kernels/matmul/avx2.c (AVX2 + FMA + F16C) */
void matmul_q8_avx2(const void *w, const block_q8_0 *x, float *y,
		    int nb, int r0, int r1, int nt, int ldy);
void matmul_f16_avx2(const uint16_t *w, const uint16_t *x, float *y,
		     int n, int r0, int r1, int nt, int ldy);
void matmul_bf16_avx2(const uint16_t *w, const uint16_t *x, float *y,
		      int n, int r0, int r1, int nt, int ldy);
void matmul_f32_avx2(const float *w, const float *x, float *y, int n,
		     int r0, int r1, int nt, int ldy);

/* kernels/matmul/avxvnni.c (AVX2 + AVX-VNNI, VEX) */
void matmul_q8_avxvnni(const void *w, const block_q8_0 *x, float *y,
		       int nb, int r0, int r1, int nt, int ldy);

/* kernels/matmul/avx512vnni.c (AVX-512 F/BW/VL/VNNI) */
void matmul_q8_avx512vnni(const void *w, const block_q8_0 *x,
			  float *y, int nb, int r0, int r1, int nt, int ldy);
void matmul_q8_avx512vnni_4blk(const void *w, const block_q8_0 *x,
			       float *y, int nb, int r0, int r1, int nt,
			       int ldy);

/* kernels/matmul/blocked/layout.c: the row-interleaved weight layouts
 * q8_0x4 and q8_0x8 (4 or 8 rows per group) the blocked variants read */
extern const struct variant_prep prep_q8_0x4, prep_q8_0x8, prep_q8_0x16;

/* kernels/matmul/blocked/avx512vnni.c (AVX-512 F/BW/VL/VNNI); w prepared
 * by prep_q8_0x4 / prep_q8_0x8 */
void matmul_q8_avx512vnni_blocked4(const void *w, const block_q8_0 *x,
				   float *y, int nb, int r0, int r1, int nt,
				   int ldy);
void matmul_q8_avx512vnni_blocked8(const void *w, const block_q8_0 *x,
				   float *y, int nb, int r0, int r1, int nt,
				   int ldy);

/* kernels/matmul/wide/avx512vnni.c (AVX-512 F/BW/VL/VNNI); w prepared by
 * prep_q8_0x16; r<rows per tile>t<tokens per tile> */
#define Q8_MATMUL_PROTO(name)                                                  \
	void name(const void *w, const block_q8_0 *x, float *y, int nb,        \
		  int r0, int r1, int nt, int ldy)
Q8_MATMUL_PROTO(matmul_q8_avx512vnni_auto);
Q8_MATMUL_PROTO(matmul_q8_avx512vnni_r32t6);
Q8_MATMUL_PROTO(matmul_q8_avx512vnni_r48t4);

/* kernels/matmul/blocked/avxvnni.c (AVX2 + FMA + F16C + AVX-VNNI); w
 * prepared by prep_q8_0x8 */
Q8_MATMUL_PROTO(matmul_q8_avxvnni_r16t3);

/* kernels/matmul/blocked/avx2.c (AVX2 + FMA + F16C); w prepared by
 * prep_q8_0x4 / prep_q8_0x8 */
void matmul_q8_avx2_blocked4(const void *w, const block_q8_0 *x, float *y,
			     int nb, int r0, int r1, int nt, int ldy);
Q8_MATMUL_PROTO(matmul_q8_avx2_r16t2);
void matmul_q8_avx2_blocked8(const void *w, const block_q8_0 *x, float *y,
			     int nb, int r0, int r1, int nt, int ldy);

/* The ops every SIMD ops file defines, named for its ISA: quantize_<isa>,
 * rmsnorm_<isa>, softmax_<isa>, dot_<isa>, axpy_<isa>, gelu_<isa> and
 * silu_<isa>. */
#define DECLARE_OPS(isa)                                                       \
	void quantize_##isa(const float *x, block_q8_0 *y, int n);             \
	void rmsnorm_##isa(float *o, const float *x, const float *w, int n,    \
			   float eps);                                         \
	void softmax_##isa(float *x, int n);                                   \
	float dot_##isa(const float *a, const float *b, int n);                \
	void axpy_##isa(float *y, float a, const float *x, int n);             \
	void gelu_##isa(float *g, const float *u, int n);                      \
	void silu_##isa(float *g, const float *u, int n);

/* kernels/attention/unfused.c: q.k per position, softmax, sum of p.v,
 * with the scalar parts (the reference) or those of one ISA */
void attention_scalar(const struct att_args *a);
void attention_avx2_unfused(const struct att_args *a);
void attention_avx512_unfused(const struct att_args *a);

/* kernels/attention/avx2.c and avx512.c: one pass over the cache with an
 * online softmax (kernels/attention/flash.h) */
void attention_avx2_flash(const struct att_args *a);
void attention_avx512_flash(const struct att_args *a);

/* kernels/ops/avx2.c (AVX2 + FMA + F16C) */
DECLARE_OPS(avx2)
/* kernels/ops/avx512.c (AVX-512 F/BW/VL) */
DECLARE_OPS(avx512)

#endif

/* kernels.h - the narrow interface between the forward pass and compute.
 *
 * Every hot op has one table of variants (kernels/registry.c), best first
 * and the portable scalar reference last, as Linux lib/raid6 keeps its
 * algorithms.  Three readers walk the same tables: the selector below
 * (and later the tuner), the variant tests, and the listing.
 *
 * Kernels are pure compute: no I/O, no allocation, no threads.  A matmul
 * variant computes a slice of output rows [r0, r1) for every token; the
 * caller (model/mm.c) splits rows across the thread pool. */
#ifndef Q8TUNE_KERNELS_H
#define Q8TUNE_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include "q8.h"

#ifdef __cplusplus
extern "C" {
#endif

/* y[t*ldy + r] = sum over blocks b of d(w[r][b]) * d(x[t][b]) * (integer
 * dot of the 32 quants), for r in [r0, r1), t in [0, nt).  w: (rows, nb)
 * Q8_0 blocks as stored, or, for a variant with a prepare step, the
 * buffer its prepare wrote; x: (nt, nb) blocks. */
typedef void (*matmul_q8_fn)(const void *w, const block_q8_0 *x, float *y,
			     int nb, int r0, int r1, int nt, int ldy);
/* Same contract for 16-bit float weights and activations (F16 or BF16 by
 * op), n = row length; and for F32. */
typedef void (*matmul_h_fn)(const uint16_t *w, const uint16_t *x, float *y,
			    int n, int r0, int r1, int nt, int ldy);
typedef void (*matmul_f32_fn)(const float *w, const float *x, float *y,
			      int n, int r0, int r1, int nt, int ldy);
/* x (n floats, n % 32 == 0) -> n/32 Q8_0 blocks: d = amax/127, q = round
 * to nearest even of x*127/amax, as llama.cpp's activation quantizer. */
typedef void (*quantize_fn)(const float *x, block_q8_0 *y, int n);
/* o = x / rms(x) * w; o may equal x. */
typedef void (*rmsnorm_fn)(float *o, const float *x, const float *w, int n,
			   float eps);
/* g = act(g) * u over n entries (GeGLU / SwiGLU). */
typedef void (*glu_fn)(float *g, const float *u, int n);

/* Fused element-wise ops that end in a matmul input (n % 32 == 0, one
 * token row).  Each replaces a composition of the ops above, which is its
 * reference ("unfused": the reference kernels one after the other).  In
 * the forward pass the reference stands for the unfused path, the
 * rmsnorm (gelu, silu) and quantize variants in use run one after the
 * other; a fused variant replaces them for that step.
 *
 * norm_q8: x += d (d NULL: no add; the residual), o = x / rms(x) * w (as
 * rmsnorm_fn), q = the n / 32 Q8_0 blocks of o (as quantize_fn). */
typedef void (*norm_q8_fn)(float *x, const float *d, const float *w, int n,
			   float eps, float *o, block_q8_0 *q);
/* glu_q8: g = act(g) * u (as glu_fn), q = the Q8_0 blocks of g. */
typedef void (*glu_q8_fn)(float *g, const float *u, int n, block_q8_0 *q);

/* RoPE parameters for one model (model/ fills it; the cached variant owns
 * the cos/sin table built by rope_prepare). */
struct rope_tab {
	int n_rot;		/* rotated dims per head (even, <= head_dim) */
	int neox;		/* 0: adjacent pairs (x[2i], x[2i+1]); 1: halves */
	float base;		/* rope.freq_base */
	int n_ctx;		/* positions covered by cs */
	float *cs;		/* (n_ctx, n_rot/2, 2) cos,sin; NULL until prepared */
};
/* Rotates n_head heads of head_dim floats in x for position pos. */
typedef void (*rope_fn)(float *x, int n_head, int head_dim, int pos,
			const struct rope_tab *t);

/* Fills t->cs (n_ctx * n_rot floats, allocated by the caller) for a
 * variant with VF_ROPE_TABLE. */
void rope_fill(struct rope_tab *t);

/* One call of the attention op: causal softmax(scale q.k) v for the
 * `heads` query heads that share one KV head, over nt consecutive tokens
 * of a batch.  Token t (0 <= t < nt) sits at position pos0 + t and sees
 * the cached positions 0..pos0 + t (the causal mask inside the batch).
 * The forward pass splits (KV head, query block) pairs across threads;
 * every call writes only its own rows of out and its own scratch. */
struct att_args {
	const float *q;		/* (nt, ldq): head g of token t at q + t*ldq + g*hd */
	const float *k, *v;	/* (pos0 + nt, ldkv): position p at k + p*ldkv */
	float *out;		/* (nt, ldo): laid out as q; every element written */
	float *scratch;		/* ATT_SCRATCH(pos0 + nt, nt * heads) floats */
	int nt, heads, hd;	/* tokens, query heads (of one KV head), head_dim */
	int pos0;		/* position of token 0 */
	int ldq, ldkv, ldo;	/* row strides in floats */
	float scale;		/* the scores are scale * q.k */
};
/* Scratch floats of one call of `rows` query rows (nt * heads): a score
 * row of n_kv positions (the unfused composition), or per query row a
 * tile of at most ATT_TILE scores, a running max and sum and a rescaling
 * factor (the fused variants). */
#define ATT_TILE 64
#define ATT_SCRATCH(n_kv, rows) \
	((size_t)(n_kv) + (size_t)(rows) * (ATT_TILE + 3))
typedef void (*attention_fn)(const struct att_args *a);

enum op_id {
	OP_MATMUL_Q8,
	OP_MATMUL_F16,
	OP_MATMUL_BF16,
	OP_MATMUL_F32,
	OP_QUANTIZE,
	OP_RMSNORM,
	OP_ATTENTION,
	OP_GELU,
	OP_SILU,
	OP_ROPE,
	OP_NORM_Q8,
	OP_GELU_Q8,
	OP_SILU_Q8,
	OP_COUNT
};

enum variant_kind { KIND_REFERENCE, KIND_EXACT, KIND_APPROX };

/* Variant flags. */
#define VF_ROPE_TABLE 1u	/* reads rope_tab.cs: the session fills it */

/* The shape an op is about to run on (matmul: rows x cols weights, nt
 * tokens; element-wise ops: cols elements; attention: rows = query heads
 * per KV head, cols = head_dim, nt tokens). */
struct op_shape {
	int rows, cols, nt;
	int pos0;		/* attention: position of the first token */
};

/* Weight layout for variants that repack at load (matmul_q8 only). */
struct variant_prep {
	const char *layout;	/* e.g. "q8_0x8"; equal names share buffers */
	int row_align;		/* r0 and r1 must be multiples (or r1 = rows) */
	/* bytes of the prepared form of a (rows, nb) Q8_0 matrix */
	size_t (*bytes)(int rows, int nb);
	/* w (rows, nb) blocks as stored -> out (bytes(rows, nb)) */
	void (*run)(const block_q8_0 *w, void *out, int rows, int nb);
};

struct variant {
	const char *name;	/* stable: stored in config files */
	uint32_t needs;		/* CPU_* bits that must all be present */
	enum variant_kind kind;
	double err_bound;	/* declared max abs error (APPROX only) */
	int (*fits)(const struct op_shape *s);	/* NULL: every shape */
	unsigned flags;		/* VF_* */
	const struct variant_prep *prep;	/* NULL: weights as stored */
	union {
		matmul_q8_fn matmul_q8;
		matmul_h_fn matmul_h;
		matmul_f32_fn matmul_f32;
		quantize_fn quantize;
		rmsnorm_fn rmsnorm;
		attention_fn attention;
		glu_fn glu;
		norm_q8_fn norm_q8;
		glu_q8_fn glu_q8;
		rope_fn rope;
	} fn;
};

struct op_desc {
	const char *name;	/* "matmul_q8", "rmsnorm", ... */
	const struct variant *variants;	/* terminated by name == NULL */
};

/* The op tables, indexed by enum op_id. */
extern const struct op_desc kernel_ops[OP_COUNT];

/* The variants in use: one per op. */
struct kernels {
	const struct variant *v[OP_COUNT];
};

/* Returns NULL if v can run on this CPU, else why not (static string). */
const char *variant_unusable(const struct variant *v);

/* The number of variants in op's table. */
int variant_count(enum op_id op);

/* The op's reference variant (the last entry of its table). */
const struct variant *variant_reference(enum op_id op);

/* Finds variant `name` of op; NULL if no such name. */
const struct variant *variant_find(enum op_id op, const char *name);

/* Fills k with the first usable variant of each op, then applies the
 * Q8TUNE_<OP>=name environment overrides.  Returns 0, or -1 with a
 * one-line message in err when an override names an unknown or unusable
 * variant.  Q8TUNE_DEBUG=1 logs each choice to stderr. */
int kernels_default(struct kernels *k, char *err, size_t errlen);

/* Fills k with the reference variant of every op (the all-scalar set);
 * no environment overrides. */
void kernels_reference(struct kernels *k);

/* Sets op to variant `name`; 0, or -1 with a message in err. */
int kernels_set(struct kernels *k, enum op_id op, const char *name,
		char *err, size_t errlen);

/* Shorthands used by model/: K is a const struct kernels *. */
#define KCALL(K, op, member) ((K)->v[op]->fn.member)

#ifdef __cplusplus
}
#endif

#endif

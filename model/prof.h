/* prof.h - the forward pass's in-situ profile: where one pass spends its
 * time, op by op, measured inside the real pass (same threads, caches and
 * neighbours as in production).
 *
 * The session adds to a caller-owned struct prof when one is attached
 * (session_set_prof); with none attached the pass takes no timestamps.
 * Matmuls are broken down by the weight they multiply.  Bytes and MACs
 * are counted from the shapes (what the op must move and compute at
 * least), so a row's GB/s and GMAC/s compare with the machine's roofs. */
#ifndef Q8TUNE_PROF_H
#define Q8TUNE_PROF_H

#include <stdint.h>
#include "kernels.h"

enum prof_op {
	PROF_EMBED,		/* embedding rows (x sqrt(n_embd) for gemma) */
	PROF_RMSNORM,		/* attention, feed-forward and output norms */
	PROF_QUANTIZE,		/* activations to the weights' input format */
	PROF_MM_QKV,		/* q, k, v projections */
	PROF_MM_ATTN_OUT,	/* attention output projection */
	PROF_MM_FFN_UP,		/* feed-forward gate and up */
	PROF_MM_FFN_DOWN,	/* feed-forward down */
	PROF_MM_OUTPUT,		/* output head */
	PROF_ROPE,		/* RoPE on q and k */
	PROF_ATTENTION,		/* q scaling (gemma) and the attention op over
				 * the cache: q.k, softmax, p.v (MACs: both) */
	PROF_GLU,		/* GeGLU / SwiGLU */
	PROF_RESIDUAL,		/* residual adds */
	PROF_COUNT
};

struct prof_row {
	double ns;		/* wall time on the calling thread */
	uint64_t calls;
	double bytes;		/* bytes read + written (weights as stored or prepared) */
	double macs;		/* multiply-accumulates (int8 for Q8_0 matmuls) */
	int int8;		/* macs are int8 (Q8_0 weights) */
};

struct prof {
	struct prof_row r[PROF_COUNT];
	double pass_ns;		/* whole session_eval calls, for the shares */
	uint64_t passes;
};

/* Milliseconds per pass of the rows in mask (1u << enum prof_op). */
double prof_ms(const struct prof *p, unsigned mask);

/* "mm_qkv", "attention", ... (static strings). */
const char *prof_op_name(enum prof_op op);

#endif

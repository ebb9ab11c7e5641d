/* model.h - a transformer loaded from GGUF, and the state to run it.
 *
 * Data flow: gguf_open maps the file; model_load reads the hyper-
 * parameters and binds every weight (used in place from the mapping when
 * its stored type is what the weights mode wants, else converted once
 * into an owned buffer); session_create allocates the KV cache and scratch
 * for a context length; session_eval runs a batch of tokens through the
 * layers, calling every hot op through a struct kernels (kernels/). */
#ifndef Q8TUNE_MODEL_H
#define Q8TUNE_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include "gguf.h"
#include "kernels.h"

struct pool;
struct tokenizer;

enum arch { ARCH_LLAMA, ARCH_GEMMA };

/* How weights are used (the --weights flag). */
enum weights_mode {
	WEIGHTS_Q8_0,	/* float matrices with cols % 32 == 0 -> Q8_0 */
	WEIGHTS_NATIVE,	/* as stored */
	WEIGHTS_F32,	/* everything dequantized: the float reference */
};

/* One weight matrix as the kernels see it: rows outputs of cols inputs,
 * row-major, rows contiguous. */
#define WMAT_MAX_PREP 2	/* prepared layouts kept at once (prompt, decode) */

struct wmat {
	enum ggml_type type;	/* F32, F16, BF16 or Q8_0 */
	int rows, cols;
	const void *data;	/* mapping or owned buffer */
	struct {
		const struct variant_prep *prep;	/* NULL: slot free */
		void *data;	/* prep->bytes(rows, cols / 32) */
	} prep[WMAT_MAX_PREP];	/* Q8_0 repacked for layout-changing variants */
};

struct hparams {
	enum arch arch;
	int n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff;
	int n_rot;		/* rope.dimension_count, <= head_dim */
	int n_ctx_train;
	float eps, rope_base;
};

struct layer {
	const float *attn_norm;	/* (n_embd) */
	struct wmat wq;		/* (n_head*head_dim, n_embd) */
	struct wmat wk, wv;	/* (n_head_kv*head_dim, n_embd) */
	struct wmat wo;		/* (n_embd, n_head*head_dim) */
	const float *ffn_norm;	/* (n_embd) */
	struct wmat w_gate, w_up;	/* (n_ff, n_embd) */
	struct wmat w_down;	/* (n_embd, n_ff) */
};

struct model {
	struct gguf *g;
	struct hparams hp;
	enum weights_mode wmode;
	struct wmat tok_embd;	/* (n_vocab, n_embd) */
	const float *out_norm;	/* (n_embd) */
	struct wmat output;	/* (n_vocab, n_embd); = tok_embd when tied */
	int tied;
	struct layer *layers;	/* (n_layer) */
	struct tokenizer *tok;
	void **owned;		/* buffers converted at load */
	int n_owned;
	size_t owned_bytes;
};

/* Loads path.  Returns 0 and *out (free with model_free), or -1 with a
 * one-line message naming the file and the key or tensor at fault. */
int model_load(const char *path, enum weights_mode mode, struct model **out,
	       char *err, size_t errlen);
void model_free(struct model *m);
const char *arch_name(enum arch a);
/* "q8_0", "native", "f32" <-> enum weights_mode; parse: 0, or -1. */
int weights_mode_parse(const char *s, enum weights_mode *out);
const char *weights_mode_name(enum weights_mode w);

/* Row r of w as floats (w->cols of them). */
void wmat_row_f32(const struct wmat *w, int r, float *out);

/* What model_prepare did. */
struct prep_stats {
	size_t bytes;		/* held in prepared layouts after the call */
	size_t made;		/* bytes newly written by this call */
	double ms;		/* time spent repacking */
};

/* Makes the weights ready for the matmul variants of the n kernel sets:
 * every Q8_0 matrix gets the layout each set's OP_MATMUL_Q8 variant
 * prepares (if any); layouts no set uses are freed.  Switching variants
 * never reloads the model.  0, or -1 with a message (out of memory: the
 * model is left as it was, minus freed layouts). */
int model_prepare(struct model *m, const struct kernels *const *sets, int n,
		  struct prep_stats *st, char *err, size_t errlen);

/* The buffer variant v reads for w: its prepared layout, or w->data;
 * NULL if v needs a layout that has not been prepared. */
const void *wmat_data_for(const struct wmat *w, const struct variant *v);

/* Calls fn on every weight matrix (the output head once even if tied). */
void model_for_each_wmat(struct model *m, void (*fn)(struct wmat *, void *),
			 void *ctx);

/* Bytes of weights a forward pass over one token reads. */
size_t model_weight_bytes(const struct model *m);
/* Multiply-accumulates of the matmuls of one token's pass. */
double model_weight_macs(const struct model *m);

struct session;
struct prof;

/* Where the per-token scratch of a session lives: one arena sized at
 * session_create (the default), or allocated and freed around every
 * session_eval (the naive way, kept to measure whether it matters).
 * Q8TUNE_SCRATCH=per_call selects the second at session_create. */
enum scratch_mode { SCRATCH_ARENA, SCRATCH_PER_CALL };

/* A KV cache of n_ctx positions plus scratch, bound to m, a kernel set
 * and a pool (both borrowed, must outlive the session).  NULL on failure
 * (message in err). */
struct session *session_create(const struct model *m, int n_ctx,
			       const struct kernels *k, struct pool *pool,
			       char *err, size_t errlen);
void session_free(struct session *s);

/* Runs n tokens (one batch) at the next positions; writes the logits of
 * the last one to logits (n_vocab floats) if non-NULL.  0, or -1 (context
 * full or allocation failure; message in err). */
int session_eval(struct session *s, const int32_t *tokens, int n,
		 float *logits, char *err, size_t errlen);
/* Forgets every position (the cache is reused). */
void session_reset(struct session *s);
const struct model *session_model(const struct session *s);
/* Switches the kernel set used by later evals (building what it needs,
 * e.g. a RoPE table).  0, or -1 out of memory (the old set stays). */
int session_set_kernels(struct session *s, const struct kernels *k);
/* Attaches a profile that later evals add to (NULL: none, no timestamps
 * taken).  The caller owns p; see prof.h. */
void session_set_prof(struct session *s, struct prof *p);
void session_set_scratch(struct session *s, enum scratch_mode mode);
const char *scratch_mode_name(enum scratch_mode m);

#endif

/*
** q8tune.h - the q8tune library's public interface: INT8 transformer
** inference on x86 CPUs, run with the kernels that ./tune chose for this
** machine and model.
**
** This header is the whole contract with an embedding program.  It needs
** nothing but the C standard library's <stddef.h> and <stdint.h>; every
** handle is opaque.  Compile with -Iinclude (or the installed prefix's
** include/) and link libq8tune.a plus the system libraries that
** `pkg-config --libs --static q8tune` lists (jansson, PAPI, hwloc, libm,
** pthreads).  See examples/embed.c.
**
** The flow (./infer is this interface's first user, so what it runs is
** exactly what an embedding program runs):
**
**     struct q8_opts o = { .model = "m.gguf", .config = "best-config.json" };
**     struct q8 *q;
**     if (q8_open(&o, &q, err, sizeof err) != 0) ...
**     int n = q8_tokenize(q, text, strlen(text), 1, 1, ids, cap);
**     struct q8_gen_params p;
**     q8_gen_params_init(&p);
**     struct q8_result r;
**     if (q8_generate(q, ids, n, &p, on_token, ctx, &r, err, sizeof err) == 0)
**         ... r.tokens[0 .. r.n), r.prompt_ms, r.decode_ms ...
**     q8_result_free(&r);
**     q8_close(q);
**
** Conventions, as in sqlite3.h:
**   - Functions that can fail return 0 on success and -1 on failure, with
**     one line in the caller's err buffer (err may be NULL when errlen is
**     0) naming the file and the field or tensor at fault.  Nothing here
**     exits, aborts or prints.
**   - Warnings (a config tuned on another machine or model, a pinning
**     refusal, a bad config under config_fallback) go to the caller's
**     q8_opts.warn callback, one line each; with no callback they are
**     dropped.
**   - Strings returned by the library are owned by the library and valid
**     until the handle is closed.
**   - A handle is not thread-safe: use it from one thread at a time.  It
**     runs its own worker threads inside q8_generate.
*/
#ifndef Q8TUNE_H
#define Q8TUNE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
** An open model with its kernel choices, thread pool and KV cache.
** Made by q8_open, freed by q8_close.
*/
struct q8;

/*
** How weights are used.
**   Q8_WEIGHTS_Q8_0   float matrices whose rows are a multiple of 32 are
**                     quantized to Q8_0 at load (byte-identical to
**                     llama.cpp's quantizer); Q8_0 tensors are used as
**                     stored.  The default (zero).
**   Q8_WEIGHTS_NATIVE every tensor as stored (F32, F16, BF16, Q8_0).
**   Q8_WEIGHTS_F32    everything dequantized to F32: the float reference.
*/
enum q8_weights { Q8_WEIGHTS_Q8_0, Q8_WEIGHTS_NATIVE, Q8_WEIGHTS_F32 };

/*
** The two phases a best-config file tunes separately: the prompt,
** evaluated as one batch, and decode, one token per step.
*/
enum q8_phase { Q8_PHASE_PROMPT, Q8_PHASE_DECODE, Q8_PHASE_COUNT };

/* The most threads q8_open accepts. */
#define Q8_MAX_THREADS 256

/* Receives one warning line (no trailing newline). */
typedef void (*q8_warn_fn)(void *ctx, const char *line);

/*
** What to open.  Zero-initialize, then set model (and whatever else).
*/
struct q8_opts {
	const char *model;		/* GGUF file path; required */
	enum q8_weights weights;	/* default Q8_WEIGHTS_Q8_0 */
	const char *config;		/* best-config file from ./tune; NULL:
					 * the default kernels, every online
					 * CPU, unpinned */
	int config_fallback;		/* non-zero: a config that fails
					 * validation is a warning and the
					 * defaults run, instead of an error */
	int threads;			/* > 0: this many threads in both
					 * phases, over the config's choice;
					 * at most Q8_MAX_THREADS.  More than
					 * the CPUs this process may use is
					 * a warning: they share CPUs */
	int vocab_only;			/* non-zero: load only the tokenizer
					 * (q8_tokenize works, q8_generate
					 * fails); fast on any model size */
	q8_warn_fn warn;		/* may be NULL */
	void *warn_ctx;
};

/*
** Opens o->model.  Loads and checks the GGUF file, reads and validates
** o->config, warns about fingerprint differences (machine, model,
** registry), prepares the weight layouts the chosen kernels need and
** starts the worker threads.
**
** Fatal, -1 with one line in err: a missing, truncated or corrupt model;
** a config with the wrong schema, bad JSON, an unknown op or variant, or
** a variant this CPU cannot run (unless o->config_fallback).
** On success 0 and *out, to be freed with q8_close.
*/
int q8_open(const struct q8_opts *o, struct q8 **out, char *err,
	    size_t errlen);

/* Frees everything q8_open made.  NULL is a no-op. */
void q8_close(struct q8 *q);

/*
** The model's shape, from its GGUF metadata.
*/
struct q8_model_info {
	const char *arch;		/* "llama" or "gemma" */
	int n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff;
	int n_ctx_train;		/* the context length it was trained for */
	int32_t bos, eos;		/* special token ids, -1 if none */
	uint64_t weight_bytes;		/* weights one token's pass reads (0
					 * with vocab_only) */
	enum q8_weights weights;
};

/* Fills *mi.  A vocab_only handle fills n_vocab, bos and eos only (arch
 * "", the rest 0). */
void q8_model_info(const struct q8 *q, struct q8_model_info *mi);

/*
** What an open handle runs with.
*/
struct q8_info {
	int have_config;		/* a config file is in use */
	int threads[Q8_PHASE_COUNT];	/* worker threads per phase */
	int pinned[Q8_PHASE_COUNT];	/* one worker per physical core */
	double prep_mb, prep_ms;	/* weights repacked at open, and the
					 * time it took (0: none) */
	const char *prep_desc;		/* e.g. "matmul_q8/avx2_blocked8 ->
					 * q8_0x8", "" if none */
};

/* Fills *in. */
void q8_info(const struct q8 *q, struct q8_info *in);

/*
** The ops a model calls through the kernel registry, and the variant an
** open handle runs for each in each phase.  q8_op_name(i) for i in
** [0, q8_op_count()) names them ("matmul_q8", "rmsnorm", ...);
** q8_variant returns the variant's name ("avx512vnni_blocked8"), or NULL
** for an unknown op or a vocab_only handle.
*/
int q8_op_count(void);
const char *q8_op_name(int i);
const char *q8_variant(const struct q8 *q, enum q8_phase ph, const char *op);

/*
** Tokenizes text[0 .. len) with the model's SentencePiece vocab: a BOS
** first when add_bos and the vocab asks for one; special tokens written
** in the text ("<s>") parsed when parse_special.  Writes at most cap ids
** and returns how many the whole text needs (call with cap 0 to size the
** array), or -1 if the text cannot be tokenized.
*/
int q8_tokenize(const struct q8 *q, const char *text, size_t len, int add_bos,
		int parse_special, int32_t *ids, int cap);

/*
** The text of token id into buf (at most cap bytes, not NUL-terminated):
** the number of bytes written, 0 for a control token, or -1 for an id
** out of range.  A piece may be part of a UTF-8 sequence that the next
** token completes.
*/
int q8_token_piece(const struct q8 *q, int32_t id, char *buf, size_t cap);

/*
** How to generate.  q8_gen_params_init sets the defaults shown.
*/
struct q8_gen_params {
	int n_predict;		/* tokens to generate at most (48) */
	int n_ctx;		/* KV cache positions; 0: prompt + n_predict (0).
				 * A handle keeps the largest cache it made
				 * and reuses it for smaller requests */
	int ignore_eos;		/* go on past EOS (0) */
	int top_n;		/* record the top_n logits at every step (0) */
	float temp;		/* 0: greedy argmax; > 0 samples (0) */
	int top_k;		/* sampling keeps the k best, 0: all (40) */
	float top_p;		/* and the smallest set of mass >= p (0.95) */
	uint64_t seed;		/* of the sampler's generator (42) */
};

void q8_gen_params_init(struct q8_gen_params *p);

/*
** What q8_generate made.  Free with q8_result_free.
*/
struct q8_result {
	int32_t *tokens;	/* (n) generated ids, EOS included if hit */
	int n;
	int top_n;		/* as asked */
	int32_t *top_id;	/* (n, top_n) best first; NULL if top_n is 0 */
	float *top_logit;	/* (n, top_n) */
	int n_prompt;
	double prompt_ms;	/* the prompt batch's evaluation */
	double decode_ms;	/* the n - 1 decode steps together */
};

/* Receives each generated id as soon as it is chosen. */
typedef void (*q8_token_fn)(void *ctx, int32_t id);

/*
** Evaluates prompt[0 .. n_prompt) as one batch with the config's prompt
** kernels and threads, then generates up to p->n_predict tokens with its
** decode kernels and threads (p NULL: the defaults), calling cb (may be
** NULL) with each.  The KV cache starts empty at every call.  A prompt
** plus generation longer than the model's context_length is a warning
** (through q8_opts.warn), not an error.  0 and *r,
** or -1 with a message (an empty prompt, a context too small, out of
** memory, a vocab_only handle).
*/
int q8_generate(struct q8 *q, const int32_t *prompt, int n_prompt,
		const struct q8_gen_params *p, q8_token_fn cb, void *cb_ctx,
		struct q8_result *r, char *err, size_t errlen);

/* Frees what q8_generate put in *r (safe on a zeroed result). */
void q8_result_free(struct q8_result *r);

/*
** For programs with no SIGBUS handler of their own: installs one that
** turns a bus error inside a model file q8tune mapped (the file was
** truncated or rewritten while in use) into one line on stderr, "PROG:
** PATH: the file changed while in use ...", and _exit(1), instead of a
** silent death.  Any other bus error keeps the default action.  The
** library never installs it by itself.  prog must outlive the process.
*/
void q8_catch_sigbus(const char *prog);

/*
** Parses "q8_0", "native" or "f32" into *out: 0, or -1 for anything else.
*/
int q8_weights_parse(const char *s, enum q8_weights *out);

/* "q8_0", "native", "f32". */
const char *q8_weights_name(enum q8_weights w);

#ifdef __cplusplus
}
#endif

#endif

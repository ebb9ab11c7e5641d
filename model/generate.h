/* generate.h - prompt + decode loop over a session: the one code path that
 * ./infer, the tests and (later) the tuner's correctness gate share. */
#ifndef Q8TUNE_GENERATE_H
#define Q8TUNE_GENERATE_H

#include <stddef.h>
#include <stdint.h>
#include "sampler.h"

struct session;
struct kernels;
struct tokenizer;

/* The two phases of generation: the prompt evaluated as one batch, then
 * decode, one token per eval.  The best-config file, the tuner and the
 * library API choose kernels and threads per phase. */
enum phase { PHASE_PROMPT, PHASE_DECODE, PHASE_COUNT };

/* "prompt" / "decode" ("?" out of range). */
const char *phase_name(enum phase ph);

/* Called before the prompt eval (PHASE_PROMPT) and before the decode loop
 * (PHASE_DECODE), outside both timings, e.g. to change the pool's active
 * threads or pinning per phase.  0, or -1 with a message (generate then
 * fails with it). */
typedef int (*gen_phase_fn)(void *ctx, enum phase ph, char *err,
			    size_t errlen);

struct gen_params {
	int n_predict;		/* tokens to generate at most */
	int ignore_eos;		/* go on past EOS */
	int32_t eos;		/* EOS id (ignored if < 0) */
	int top_n;		/* record the top_n logits at every step */
	struct sampler_params sp;
	/* Optional (zero: unused).  decode_k: the kernel set for the decode
	 * evals, switched to with session_set_kernels after the prompt (its
	 * weight layouts must have been made by model_prepare; the session
	 * keeps it afterwards).  on_phase(phase_ctx, ...) as above. */
	const struct kernels *decode_k;
	gen_phase_fn on_phase;
	void *phase_ctx;
};

struct gen_result {
	int32_t *tokens;	/* (n) generated ids, EOS included if hit */
	int n;
	int32_t *top_id;	/* (n, top_n) best first, or NULL */
	float *top_logit;	/* (n, top_n) */
	int n_prompt;
	double prompt_ms, decode_ms;	/* decode_ms over n - 1 evals */
};

/* Called with each generated id as soon as it is chosen. */
typedef void (*gen_token_fn)(void *ctx, int32_t id);

/* Evaluates the prompt as one batch, then samples and evaluates one token
 * at a time (with p->decode_k, if set, from the first decode eval on).
 * Fills r (free with gen_result_free).  0, or -1 with a message in err. */
int generate(struct session *s, const int32_t *prompt, int n_prompt,
	     const struct gen_params *p, gen_token_fn cb, void *cb_ctx,
	     struct gen_result *r, char *err, size_t errlen);
void gen_result_free(struct gen_result *r);

/* The tokens of text (BOS first when the vocab asks for it, special
 * tokens parsed); with n > 0, cut or repeated to exactly n tokens (the
 * BOS kept once, at the start).  A malloc'd array of *n_out ids, or NULL
 * (text without tokens, out of memory). */
int32_t *prompt_tokens(const struct tokenizer *tok, const char *text, int n,
		       int *n_out);

#endif

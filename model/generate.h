/* generate.h - prompt + decode loop over a session: the one code path that
 * ./infer, the tests and (later) the tuner's correctness gate share. */
#ifndef Q8TUNE_GENERATE_H
#define Q8TUNE_GENERATE_H

#include <stddef.h>
#include <stdint.h>
#include "sampler.h"

struct session;

struct gen_params {
	int n_predict;		/* tokens to generate at most */
	int ignore_eos;		/* go on past EOS */
	int32_t eos;		/* EOS id (ignored if < 0) */
	int top_n;		/* record the top_n logits at every step */
	struct sampler_params sp;
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
 * at a time.  Fills r (free with gen_result_free).  0, or -1 with a
 * message in err. */
int generate(struct session *s, const int32_t *prompt, int n_prompt,
	     const struct gen_params *p, gen_token_fn cb, void *cb_ctx,
	     struct gen_result *r, char *err, size_t errlen);
void gen_result_free(struct gen_result *r);

/* Monotonic clock in milliseconds. */
double now_ms(void);

#endif

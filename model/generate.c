/* generate.c - the prompt + decode loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "clock.h"
#include "generate.h"
#include "model.h"
#include "tokenizer.h"

const char *phase_name(enum phase ph)
{
	static const char *const names[PHASE_COUNT] = { "prompt", "decode" };

	return ph >= 0 && ph < PHASE_COUNT ? names[ph] : "?";
}

int32_t *prompt_tokens(const struct tokenizer *tok, const char *text, int n,
		       int *n_out)
{
	const size_t len = strlen(text);
	int k = tok_encode(tok, text, len, 1, 1, NULL, 0);
	int32_t *t, *out;

	if (k < 1 || !(t = malloc(sizeof(int32_t) * (size_t)k)))
		return NULL;
	tok_encode(tok, text, len, 1, 1, t, k);
	if (n <= 0) {
		*n_out = k;
		return t;
	}
	out = malloc(sizeof(int32_t) * (size_t)n);
	if (out) {
		const int first = k > 1 && t[0] == tok_bos(tok);
		for (int i = 0; i < n; i++)
			out[i] = i < first ? t[0] : t[first + (i - first) % (k - first)];
		*n_out = n;
	}
	free(t);
	return out;
}

void gen_result_free(struct gen_result *r)
{
	free(r->tokens);
	free(r->top_id);
	free(r->top_logit);
	memset(r, 0, sizeof *r);
}

int generate(struct session *s, const int32_t *prompt, int n_prompt,
	     const struct gen_params *p, gen_token_fn cb, void *cb_ctx,
	     struct gen_result *r, char *err, size_t errlen)
{
	const int n_vocab = session_model(s)->hp.n_vocab;
	const int top_n = p->top_n < n_vocab ? p->top_n : n_vocab;
	float *logits = malloc(sizeof(float) * (size_t)n_vocab);
	struct sampler *smp = sampler_create(&p->sp, n_vocab);
	double t0;
	int rc = -1;

	memset(r, 0, sizeof *r);
	r->n_prompt = n_prompt;
	r->tokens = malloc(sizeof(int32_t) * (size_t)(p->n_predict + 1));
	if (top_n > 0) {
		r->top_id = malloc(sizeof(int32_t) * (size_t)top_n * (p->n_predict + 1));
		r->top_logit = malloc(sizeof(float) * (size_t)top_n * (p->n_predict + 1));
	}
	if (!logits || !smp || !r->tokens ||
	    (top_n > 0 && (!r->top_id || !r->top_logit))) {
		snprintf(err, errlen, "out of memory");
		goto free_all;
	}
	if (n_prompt < 1) {
		snprintf(err, errlen, "empty prompt: need at least one token");
		goto free_all;
	}

	if (p->on_phase && p->on_phase(p->phase_ctx, PHASE_PROMPT, err, errlen) < 0)
		goto free_all;
	t0 = now_ms();
	if (session_eval(s, prompt, n_prompt, logits, err, errlen) < 0)
		goto free_all;
	r->prompt_ms = now_ms() - t0;

	if (p->decode_k && session_set_kernels(s, p->decode_k) < 0) {
		snprintf(err, errlen, "out of memory switching to the decode kernels");
		goto free_all;
	}
	if (p->on_phase && p->on_phase(p->phase_ctx, PHASE_DECODE, err, errlen) < 0)
		goto free_all;
	t0 = now_ms();
	while (r->n < p->n_predict) {
		int32_t id = sampler_sample(smp, logits);

		if (top_n > 0)
			top_k_logits(logits, n_vocab, top_n,
				     r->top_id + (size_t)r->n * top_n,
				     r->top_logit + (size_t)r->n * top_n);
		r->tokens[r->n++] = id;
		if (cb)
			cb(cb_ctx, id);
		if ((id == p->eos && p->eos >= 0 && !p->ignore_eos) ||
		    r->n == p->n_predict)
			break;
		if (session_eval(s, &id, 1, logits, err, errlen) < 0)
			goto free_all;
	}
	r->decode_ms = now_ms() - t0;
	rc = 0;

free_all:
	if (rc < 0)
		gen_result_free(r);
	sampler_free(smp);
	free(logits);
	return rc;
}

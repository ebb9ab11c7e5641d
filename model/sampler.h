/* sampler.h - next-token choice from logits: greedy, or temperature with
 * top-k and top-p (nucleus) filtering and a seeded generator. */
#ifndef Q8TUNE_SAMPLER_H
#define Q8TUNE_SAMPLER_H

#include <stdint.h>

struct sampler_params {
	float temp;	/* <= 0: greedy (argmax, lowest id on ties) */
	int top_k;	/* 0: no limit */
	float top_p;	/* 1: no limit */
	uint64_t seed;
};

struct sampler;

/* NULL on allocation failure. */
struct sampler *sampler_create(const struct sampler_params *p, int n_vocab);
void sampler_free(struct sampler *s);
int32_t sampler_sample(struct sampler *s, const float *logits);

/* Argmax, lowest index on ties. */
int32_t argmax(const float *x, int n);

/* Writes the k largest (value, index) of x to ids/vals, best first. */
void top_k_logits(const float *x, int n, int k, int32_t *ids, float *vals);

#endif

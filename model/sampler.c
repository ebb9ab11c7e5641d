/* sampler.c - greedy and top-k / top-p / temperature sampling. */
#include <math.h>
#include <stdlib.h>
#include "rng.h"
#include "sampler.h"

struct cand {
	float v;
	int32_t id;
};

struct sampler {
	struct sampler_params p;
	int n_vocab;
	uint64_t state;
	struct cand *c;		/* (n_vocab) */
};

int32_t argmax(const float *x, int n)
{
	int32_t best = 0;

	for (int i = 1; i < n; i++)
		if (x[i] > x[best])
			best = i;
	return best;
}

void top_k_logits(const float *x, int n, int k, int32_t *ids, float *vals)
{
	int have = 0;

	/* insertion into a sorted list of k: n * k, fine for small k */
	for (int i = 0; i < n; i++) {
		if (have == k && !(x[i] > vals[k - 1]))
			continue;
		int j = have < k ? have++ : k - 1;
		while (j > 0 && x[i] > vals[j - 1]) {
			vals[j] = vals[j - 1];
			ids[j] = ids[j - 1];
			j--;
		}
		vals[j] = x[i];
		ids[j] = i;
	}
}

struct sampler *sampler_create(const struct sampler_params *p, int n_vocab)
{
	struct sampler *s = calloc(1, sizeof *s);

	if (!s)
		return NULL;
	s->p = *p;
	s->n_vocab = n_vocab;
	s->state = p->seed ^ 0x9e3779b97f4a7c15ull;
	s->c = malloc(sizeof *s->c * (size_t)n_vocab);
	if (!s->c) {
		free(s);
		return NULL;
	}
	return s;
}

void sampler_free(struct sampler *s)
{
	if (!s)
		return;
	free(s->c);
	free(s);
}

/* Uniform in [0, 1) from the sampler's splitmix64 stream. */
static double uniform(struct sampler *s)
{
	return splitmix64_unit(&s->state);
}

static int by_value_desc(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->v != y->v)
		return x->v < y->v ? 1 : -1;
	return x->id < y->id ? -1 : x->id > y->id;
}

int32_t sampler_sample(struct sampler *s, const float *logits)
{
	int n = s->n_vocab;
	double sum = 0.0, cum = 0.0, r;

	if (s->p.temp <= 0.0f)
		return argmax(logits, n);
	for (int i = 0; i < n; i++)
		s->c[i] = (struct cand){ logits[i], i };
	qsort(s->c, (size_t)n, sizeof *s->c, by_value_desc);
	if (s->p.top_k > 0 && s->p.top_k < n)
		n = s->p.top_k;
	const float max = s->c[0].v;
	for (int i = 0; i < n; i++) {
		s->c[i].v = expf((s->c[i].v - max) / s->p.temp);
		sum += s->c[i].v;
	}
	if (s->p.top_p < 1.0f) {
		int keep = 0;
		for (double acc = 0.0; keep < n && acc < s->p.top_p * sum; keep++)
			acc += s->c[keep].v;
		n = keep > 0 ? keep : 1;
		sum = 0.0;
		for (int i = 0; i < n; i++)
			sum += s->c[i].v;
	}
	r = uniform(s) * sum;
	for (int i = 0; i < n; i++) {
		cum += s->c[i].v;
		if (r < cum)
			return s->c[i].id;
	}
	return s->c[n - 1].id;
}

/* q8tune.h - production inference as a library: open a model with a
 * best-config file (./tune's output), generate.  ./infer is this API's
 * first user, so what ./infer runs is exactly what an embedding program
 * runs; the tuner measured the same forward pass (model/forward.c).
 *
 * The config's prompt-phase kernel set, thread count and pinning run the
 * prompt batch; its decode-phase ones run the decode loop.  Nothing here
 * prints: warnings (another machine or model, a pinning refusal, a bad
 * config under fallback) go to the caller's callback, one line each. */
#ifndef Q8TUNE_H
#define Q8TUNE_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "generate.h"
#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Receives one warning line (no '\n'). */
typedef void (*q8_warn_fn)(void *ctx, const char *line);

struct q8_opts {
	const char *model;		/* GGUF path */
	enum weights_mode weights;
	const char *config;		/* best-config file; NULL: defaults */
	int config_fallback;		/* a config that fails validation:
					 * a warning and the defaults */
	int threads;			/* > 0: both phases, over the config */
	q8_warn_fn warn;		/* may be NULL */
	void *warn_ctx;
};

/* What an open handle runs with. */
struct q8_info {
	int have_config;		/* a config file is in use */
	int threads[PHASE_COUNT];	/* per phase */
	int pinned[PHASE_COUNT];	/* pinned one worker per core */
	const struct kernels *k[PHASE_COUNT];
	struct prep_stats prep;		/* weights repacked at open */
	char prep_desc[256];		/* e.g. "matmul_q8/avx2_blocked8 -> q8_0x8" */
};

struct q8;

/* Loads o->model, reads and validates o->config (fatal: wrong schema, bad
 * JSON, unknown op or variant, a variant this CPU cannot run), warns
 * about fingerprint differences, prepares the weight layouts of both
 * phases and starts the thread pool.  0 and *out (free with q8_close),
 * or -1 with one line naming the file and field. */
int q8_open(const struct q8_opts *o, struct q8 **out, char *err,
	    size_t errlen);
void q8_close(struct q8 *q);

const struct model *q8_model(const struct q8 *q);
const struct q8_info *q8_info(const struct q8 *q);

/* Evaluates prompt as one batch, then generates up to p->n_predict tokens
 * (p->decode_k and p->on_phase are the handle's own: the caller leaves
 * them zero).  n_ctx: KV positions (0: n_prompt + n_predict).  Fills r
 * (gen_result_free).  0, or -1 with a message. */
int q8_generate(struct q8 *q, const int32_t *prompt, int n_prompt, int n_ctx,
		const struct gen_params *p, gen_token_fn cb, void *cb_ctx,
		struct gen_result *r, char *err, size_t errlen);

/* The config part of q8_open, for tools that compare configurations on
 * one loaded model (./bench): reads and validates path into c, warns
 * about machine, model and registry differences against m, and fills
 * k[phase].  Returns 1 (c in use: config_free it), 0 (fallback: a bad
 * file under fallback was warned about; k holds the defaults), or -1
 * with a message. */
int q8_config_load(const char *path, int fallback, const struct model *m,
		   struct best_config *c, struct kernels k[PHASE_COUNT],
		   q8_warn_fn warn, void *warn_ctx, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif

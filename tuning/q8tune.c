/* q8tune.c - production inference with a best-config file (see
 * include/q8tune.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cpu.h"
#include "env.h"
#include "fingerprint.h"
#include "pool.h"
#include "q8tune.h"

struct q8 {
	struct model *m;
	struct pool *pool;
	struct session *s;
	int n_ctx;			/* of s */
	struct best_config cfg;
	struct kernels k[PHASE_COUNT];
	int *plan[PHASE_COUNT];		/* CPUs for a pinned phase, else NULL */
	int pinned_now;
	q8_warn_fn warn;
	void *warn_ctx;
	struct q8_info info;
};

static void warnf(q8_warn_fn warn, void *ctx, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!warn)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	warn(ctx, line);
}

/* Passes each line of a '\n'-joined list to warn. */
static void warn_lines(q8_warn_fn warn, void *ctx, const char *w)
{
	while (*w) {
		size_t n = strcspn(w, "\n");
		warnf(warn, ctx, "%.*s", (int)n, w);
		w += n + (w[n] == '\n');
	}
}

int q8_config_load(const char *path, int fallback, const struct model *m,
		   struct best_config *c, struct kernels k[PHASE_COUNT],
		   q8_warn_fn warn, void *warn_ctx, char *err, size_t errlen)
{
	struct machine_fp here;
	struct model_fp mfp;
	char w[2048], why[256];
	int have_here;

	if (config_read(path, cpu_get()->features, c, err, errlen) == 0) {
		if (config_kernels(c, PHASE_PROMPT, &k[PHASE_PROMPT], err, errlen) == 0 &&
		    config_kernels(c, PHASE_DECODE, &k[PHASE_DECODE], err, errlen) == 0)
			goto check;
		config_free(c);
	}
	if (!fallback)
		return -1;
	warnf(warn, warn_ctx, "%s; running with the default kernels", err);
	if (kernels_default(&k[PHASE_PROMPT], err, errlen) < 0)
		return -1;
	k[PHASE_DECODE] = k[PHASE_PROMPT];
	return 0;

check:
	have_here = machine_fp_get(&here, why, sizeof why) == 0;
	if (!have_here)
		warnf(warn, warn_ctx, "machine not checked against %s: %s", path,
		      why);
	model_fp_get(m, &mfp);
	if (config_check(c, have_here ? &here : NULL, &mfp, w, sizeof w))
		warn_lines(warn, warn_ctx, w);
	return 1;
}

/* Applies a phase's threads and pinning before it runs (gen_params
 * on_phase).  Pinning only changes speed: a refusal is a warning. */
static int on_phase(void *ctx, enum phase i, char *err, size_t errlen)
{
	struct q8 *q = ctx;
	char why[256];

	(void)err;
	(void)errlen;
	pool_set_active(q->pool, q->info.threads[i]);
	if (q->plan[i] || q->pinned_now) {
		if (pool_pin(q->pool, q->plan[i], why, sizeof why) < 0)
			warnf(q->warn, q->warn_ctx, "%s phase runs unpinned: %s",
			      phase_name(i), why);
		q->pinned_now = q->plan[i] != NULL;
	}
	return 0;
}

/* Plans one worker per core for the phases whose config asks for it; a
 * phase whose plan cannot cover its threads runs unpinned (a warning). */
static void plan_pins(struct q8 *q)
{
	char why[256];

	for (int i = 0; i < PHASE_COUNT; i++) {
		const int n = q->info.threads[i];
		int got;

		if (!q->info.have_config || q->cfg.phase[i].pin != PIN_CORES)
			continue;
		q->plan[i] = malloc(sizeof(int) * (size_t)n);
		got = q->plan[i] ? env_pin_plan(n, q->plan[i], n, why, sizeof why) : -1;
		if (got == n) {
			q->info.pinned[i] = 1;
			continue;
		}
		if (got >= 0)
			snprintf(why, sizeof why, "only %d CPUs for %d threads", got, n);
		warnf(q->warn, q->warn_ctx, "%s phase runs unpinned: %s",
		      phase_name(i), q->plan[i] ? why : "out of memory");
		free(q->plan[i]);
		q->plan[i] = NULL;
	}
}

/* "matmul_q8/avx2_blocked8 -> q8_0x8" for every distinct repacking
 * matmul variant of the two phases. */
static void describe_prep(struct q8 *q)
{
	size_t a = 0;

	for (int i = 0; i < PHASE_COUNT; i++) {
		const struct variant *v = q->k[i].v[OP_MATMUL_Q8];
		if (!v->prep || (i && v == q->k[0].v[OP_MATMUL_Q8]))
			continue;
		a += (size_t)snprintf(q->info.prep_desc + a,
			a < sizeof q->info.prep_desc ? sizeof q->info.prep_desc - a : 0,
			"%smatmul_q8/%s -> %s", a ? ", " : "", v->name,
			v->prep->layout);
	}
}

int q8_open(const struct q8_opts *o, struct q8 **out, char *err,
	    size_t errlen)
{
	struct q8 *q = calloc(1, sizeof *q);
	long nc = sysconf(_SC_NPROCESSORS_ONLN);
	int have;

	if (!q) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	q->warn = o->warn;
	q->warn_ctx = o->warn_ctx;
	if (model_load(o->model, o->weights, &q->m, err, errlen) < 0)
		goto fail;
	if (o->config) {
		have = q8_config_load(o->config, o->config_fallback, q->m, &q->cfg,
				      q->k, o->warn, o->warn_ctx, err, errlen);
		if (have < 0)
			goto fail;
		q->info.have_config = have;
	} else {
		if (kernels_default(&q->k[PHASE_PROMPT], err, errlen) < 0)
			goto fail;
		q->k[PHASE_DECODE] = q->k[PHASE_PROMPT];
	}
	/* o->threads wins over the file, for both phases */
	int max = 1;
	for (int i = 0; i < PHASE_COUNT; i++) {
		int t = o->threads ? o->threads : q->info.have_config ?
			q->cfg.phase[i].threads : nc > 0 ? (int)nc : 1;
		q->info.threads[i] = t;
		q->info.k[i] = &q->k[i];
		max = t > max ? t : max;
	}
	const struct kernels *sets[PHASE_COUNT] = { &q->k[0], &q->k[1] };
	if (model_prepare(q->m, sets, PHASE_COUNT, &q->info.prep, err, errlen) < 0)
		goto fail;
	if (q->info.prep.made)
		describe_prep(q);
	if (!(q->pool = pool_create(max))) {
		snprintf(err, errlen, "cannot start %d worker threads", max);
		goto fail;
	}
	plan_pins(q);
	*out = q;
	return 0;
fail:
	q8_close(q);
	return -1;
}

void q8_close(struct q8 *q)
{
	if (!q)
		return;
	session_free(q->s);
	pool_destroy(q->pool);
	for (int i = 0; i < PHASE_COUNT; i++)
		free(q->plan[i]);
	if (q->info.have_config)
		config_free(&q->cfg);
	model_free(q->m);
	free(q);
}

const struct model *q8_model(const struct q8 *q)
{
	return q->m;
}

const struct q8_info *q8_info(const struct q8 *q)
{
	return &q->info;
}

int q8_generate(struct q8 *q, const int32_t *prompt, int n_prompt, int n_ctx,
		const struct gen_params *p, gen_token_fn cb, void *cb_ctx,
		struct gen_result *r, char *err, size_t errlen)
{
	struct gen_params gp = *p;

	if (n_ctx <= 0)
		n_ctx = n_prompt + p->n_predict;
	if (!q->s || q->n_ctx < n_ctx) {
		session_free(q->s);
		q->s = session_create(q->m, n_ctx, &q->k[PHASE_PROMPT], q->pool,
				      err, errlen);
		if (!q->s)
			return -1;
		q->n_ctx = n_ctx;
	}
	session_reset(q->s);
	if (session_set_kernels(q->s, &q->k[PHASE_PROMPT]) < 0) {
		snprintf(err, errlen, "out of memory switching kernels");
		return -1;
	}
	gp.decode_k = &q->k[PHASE_DECODE];
	gp.on_phase = on_phase;
	gp.phase_ctx = q;
	return generate(q->s, prompt, n_prompt, &gp, cb, cb_ctx, r, err, errlen);
}

/* q8tune.c - the public library API (include/q8tune.h): production
 * inference on a model with a best-config file.  It sits above the config
 * layer (config/: the file's reader) and the model (model/), and below
 * nothing but the mains: it does not depend on the search (tuning/).
 *
 * The internal types stay here; the header shows only opaque handles and
 * plain structs, so an embedder needs -Iinclude alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config.h"
#include "cpu.h"
#include "env.h"
#include "generate.h"
#include "gguf.h"
#include "model.h"
#include "pool.h"
#include "q8tune.h"
#include "tokenizer.h"

/* The public enums mirror the internal ones value for value. */
_Static_assert((int)Q8_WEIGHTS_Q8_0 == WEIGHTS_Q8_0 &&
	       (int)Q8_WEIGHTS_NATIVE == WEIGHTS_NATIVE &&
	       (int)Q8_WEIGHTS_F32 == WEIGHTS_F32, "enum q8_weights");
_Static_assert((int)Q8_PHASE_PROMPT == PHASE_PROMPT &&
	       (int)Q8_PHASE_DECODE == PHASE_DECODE &&
	       (int)Q8_PHASE_COUNT == PHASE_COUNT, "enum q8_phase");
_Static_assert(Q8_MAX_THREADS == POOL_MAX_THREADS, "Q8_MAX_THREADS");

struct q8 {
	struct model *m;		/* NULL with vocab_only */
	struct gguf *g;			/* vocab_only: the file, for tok */
	const struct tokenizer *tok;	/* m->tok, or owned_tok */
	struct tokenizer *owned_tok;
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
	char prep_desc[256];		/* info.prep_desc points here */
};

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
			config_warnf(q->warn, q->warn_ctx,
				     "%s phase runs unpinned: %s",
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
		config_warnf(q->warn, q->warn_ctx, "%s phase runs unpinned: %s",
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
		a += (size_t)snprintf(q->prep_desc + a,
			a < sizeof q->prep_desc ? sizeof q->prep_desc - a : 0,
			"%smatmul_q8/%s -> %s", a ? ", " : "", v->name,
			v->prep->layout);
	}
}

/* The tokenizer alone (vocab_only). */
static int open_vocab(struct q8 *q, const char *path, char *err, size_t errlen)
{
	if (gguf_open(path, &q->g, err, errlen) < 0 ||
	    tok_create(q->g, &q->owned_tok, err, errlen) < 0)
		return -1;
	q->tok = q->owned_tok;
	return 0;
}

/* The kernel sets of both phases: the config's, or the defaults. */
static int choose_kernels(struct q8 *q, const struct q8_opts *o, char *err,
			  size_t errlen)
{
	int have;

	if (!o->config) {
		if (kernels_default(&q->k[PHASE_PROMPT], err, errlen) < 0)
			return -1;
		q->k[PHASE_DECODE] = q->k[PHASE_PROMPT];
		return 0;
	}
	have = config_load(o->config, o->config_fallback, q->m, &q->cfg, q->k,
			   o->warn, o->warn_ctx, err, errlen);
	if (have < 0)
		return -1;
	q->info.have_config = have;
	return 0;
}

int q8_open(const struct q8_opts *o, struct q8 **out, char *err,
	    size_t errlen)
{
	struct q8 *q = calloc(1, sizeof *q);
	long nc = sysconf(_SC_NPROCESSORS_ONLN);
	struct prep_stats ps;
	int max = 1;

	*out = NULL;
	if (!q) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	q->warn = o->warn;
	q->warn_ctx = o->warn_ctx;
	q->info.prep_desc = q->prep_desc;
	if (cpu_get()->mask_bad)
		config_warnf(o->warn, o->warn_ctx, "Q8TUNE_CPU_MASK=%s names an "
			     "unknown feature; running scalar-only",
			     cpu_get()->mask_name);
	if (!o->model) {
		snprintf(err, errlen, "no model path given");
		goto fail;
	}
	if (o->vocab_only) {
		if (open_vocab(q, o->model, err, errlen) < 0)
			goto fail;
		*out = q;
		return 0;
	}
	if (model_load(o->model, (enum weights_mode)o->weights, &q->m, err,
		       errlen) < 0)
		goto fail;
	q->tok = q->m->tok;
	if (choose_kernels(q, o, err, errlen) < 0)
		goto fail;
	/* o->threads wins over the file, for both phases */
	for (int i = 0; i < PHASE_COUNT; i++) {
		int t = o->threads ? o->threads : q->info.have_config ?
			q->cfg.phase[i].threads : nc > 0 ? (int)nc : 1;
		q->info.threads[i] = t;
		max = t > max ? t : max;
	}
	const struct kernels *sets[PHASE_COUNT] = { &q->k[0], &q->k[1] };
	if (model_prepare(q->m, sets, PHASE_COUNT, &ps, err, errlen) < 0)
		goto fail;
	if (ps.made) {
		q->info.prep_mb = ps.made / 1e6;
		q->info.prep_ms = ps.ms;
		describe_prep(q);
	}
	if (max > POOL_MAX_THREADS) {
		snprintf(err, errlen, "%d threads: at most %d", max, POOL_MAX_THREADS);
		goto fail;
	}
	if (!(q->pool = pool_create(max))) {
		snprintf(err, errlen, "cannot start %d worker threads", max);
		goto fail;
	}
	if (pool_oversubscribed(q->pool))
		config_warnf(o->warn, o->warn_ctx, "%d threads on %d CPUs: the "
			     "threads share CPUs and run slower than %d would",
			     max, pool_cpus_available(), pool_cpus_available());
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
	tok_free(q->owned_tok);
	gguf_close(q->g);
	free(q);
}

void q8_model_info(const struct q8 *q, struct q8_model_info *mi)
{
	memset(mi, 0, sizeof *mi);
	mi->arch = "";
	mi->n_vocab = tok_n_vocab(q->tok);
	mi->bos = tok_bos(q->tok);
	mi->eos = tok_eos(q->tok);
	if (!q->m)
		return;
	const struct hparams *hp = &q->m->hp;
	mi->arch = arch_name(hp->arch);
	mi->n_vocab = hp->n_vocab;
	mi->n_embd = hp->n_embd;
	mi->n_layer = hp->n_layer;
	mi->n_head = hp->n_head;
	mi->n_head_kv = hp->n_head_kv;
	mi->head_dim = hp->head_dim;
	mi->n_ff = hp->n_ff;
	mi->n_ctx_train = hp->n_ctx_train;
	mi->weight_bytes = model_weight_bytes(q->m);
	mi->weights = (enum q8_weights)q->m->wmode;
}

void q8_info(const struct q8 *q, struct q8_info *in)
{
	*in = q->info;
}

int q8_op_count(void)
{
	return OP_COUNT;
}

const char *q8_op_name(int i)
{
	return i >= 0 && i < OP_COUNT ? kernel_ops[i].name : NULL;
}

const char *q8_variant(const struct q8 *q, enum q8_phase ph, const char *op)
{
	if (!q->m || (int)ph < 0 || ph >= Q8_PHASE_COUNT)
		return NULL;
	for (int i = 0; i < OP_COUNT; i++)
		if (!strcmp(kernel_ops[i].name, op))
			return q->k[ph].v[i]->name;
	return NULL;
}

int q8_tokenize(const struct q8 *q, const char *text, size_t len, int add_bos,
		int parse_special, int32_t *ids, int cap)
{
	return tok_encode(q->tok, text, len, add_bos, parse_special, ids, cap);
}

int q8_token_piece(const struct q8 *q, int32_t id, char *buf, size_t cap)
{
	return tok_piece(q->tok, id, 0, buf, cap);
}

void q8_gen_params_init(struct q8_gen_params *p)
{
	*p = (struct q8_gen_params){ .n_predict = 48, .top_k = 40,
				     .top_p = 0.95f, .seed = 42 };
}

/* A session with room for n_ctx positions, reused when it has it. */
static int ensure_session(struct q8 *q, int n_ctx, char *err, size_t errlen)
{
	if (q->s && q->n_ctx >= n_ctx)
		return 0;
	session_free(q->s);
	q->s = session_create(q->m, n_ctx, &q->k[PHASE_PROMPT], q->pool, err,
			      errlen);
	if (!q->s)
		return -1;
	q->n_ctx = n_ctx;
	return 0;
}

int q8_generate(struct q8 *q, const int32_t *prompt, int n_prompt,
		const struct q8_gen_params *p, q8_token_fn cb, void *cb_ctx,
		struct q8_result *r, char *err, size_t errlen)
{
	struct q8_gen_params dp;
	struct gen_result gr;
	int n_ctx;

	memset(r, 0, sizeof *r);
	if (!p) {
		q8_gen_params_init(&dp);
		p = &dp;
	}
	if (!q->m) {
		snprintf(err, errlen, "this handle was opened vocab_only: it "
			 "cannot generate");
		return -1;
	}
	n_ctx = p->n_ctx > 0 ? p->n_ctx : n_prompt + p->n_predict;
	const int train = q->m->hp.n_ctx_train;
	if (train > 0 && n_prompt + p->n_predict > train)
		config_warnf(q->warn, q->warn_ctx, "the prompt (%d tokens) and the "
			     "generation (up to %d) exceed the %d positions the "
			     "model was trained for (context_length): text past "
			     "them is unreliable", n_prompt, p->n_predict, train);
	if (ensure_session(q, n_ctx, err, errlen) < 0)
		return -1;
	session_reset(q->s);
	if (session_set_kernels(q->s, &q->k[PHASE_PROMPT]) < 0) {
		snprintf(err, errlen, "out of memory switching kernels");
		return -1;
	}
	const struct gen_params gp = {
		.n_predict = p->n_predict, .ignore_eos = p->ignore_eos,
		.eos = tok_eos(q->tok), .top_n = p->top_n,
		.sp = { .temp = p->temp, .top_k = p->top_k, .top_p = p->top_p,
			.seed = p->seed },
		.decode_k = &q->k[PHASE_DECODE], .on_phase = on_phase,
		.phase_ctx = q,
	};
	if (generate(q->s, prompt, n_prompt, &gp, cb, cb_ctx, &gr, err,
		     errlen) < 0)
		return -1;
	*r = (struct q8_result){ .tokens = gr.tokens, .n = gr.n,
		.top_n = p->top_n, .top_id = gr.top_id,
		.top_logit = gr.top_logit, .n_prompt = gr.n_prompt,
		.prompt_ms = gr.prompt_ms, .decode_ms = gr.decode_ms };
	return 0;
}

void q8_result_free(struct q8_result *r)
{
	struct gen_result gr = { .tokens = r->tokens, .top_id = r->top_id,
				 .top_logit = r->top_logit };

	gen_result_free(&gr);
	memset(r, 0, sizeof *r);
}

int q8_weights_parse(const char *s, enum q8_weights *out)
{
	enum weights_mode w;

	if (weights_mode_parse(s, &w) < 0)
		return -1;
	*out = (enum q8_weights)w;
	return 0;
}

const char *q8_weights_name(enum q8_weights w)
{
	return weights_mode_name((enum weights_mode)w);
}

void q8_catch_sigbus(const char *prog)
{
	gguf_guard_sigbus(prog);
}

/* infer - production inference: load a GGUF model, run a prompt, stream
 * the generated text.  Only parses flags and prints; the work is in
 * model/.  See README.md for the flags, docs/config-format.md for --config. */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config.h"
#include "cpu.h"
#include "env.h"
#include "fingerprint.h"
#include "generate.h"
#include "gguf.h"
#include "model.h"
#include "pool.h"
#include "tokenizer.h"

static const char usage[] =
"usage: infer --model PATH [-p TEXT] [-n N] [--threads N]\n"
"             [--weights q8_0|native|f32] [--ctx N]\n"
"             [--temp T] [--top-k K] [--top-p P] [--seed S] [--ignore-eos]\n"
"             [--json [--top N]] [--tokenize] [--no-special]\n"
"             [--config FILE [--config-fallback]]\n";

struct opts {
	const char *model, *prompt, *config;
	int n_predict, threads, n_ctx, json, top_n, tokenize, special;
	int config_fallback;	/* a bad config: warn, run the defaults */
	enum weights_mode wmode;
	struct sampler_params sp;
	int ignore_eos;
};

/* Prints one "infer: ..." line to stderr; returns the exit status 1. */
static int die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("infer: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return 1;
}

/* Strict integer / float parsing of a flag's value. */
static int parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int parse_float(const char *s, float *out)
{
	char *end;
	float v;

	errno = 0;
	v = strtof(s, &end);
	if (errno || end == s || *end || v != v)
		return -1;
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	long v;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VAL()                                                    \
	do {                                                          \
		if (!val)                                             \
			return die("%s needs a value", a);            \
		i++;                                                  \
	} while (0)
#define INT_ARG(dst, lo, hi)                                          \
	do {                                                          \
		NEED_VAL();                                           \
		if (parse_long(val, lo, hi, &v))                      \
			return die("%s: bad value '%s'", a, val);     \
		dst = (int)v;                                         \
	} while (0)
		if (!strcmp(a, "--model") || !strcmp(a, "-m")) {
			NEED_VAL();
			o->model = val;
		} else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
			NEED_VAL();
			o->prompt = val;
		} else if (!strcmp(a, "-n")) {
			INT_ARG(o->n_predict, 0, 1 << 20);
		} else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) {
			INT_ARG(o->threads, 1, 1024);
		} else if (!strcmp(a, "--ctx")) {
			INT_ARG(o->n_ctx, 1, 1 << 20);
		} else if (!strcmp(a, "--top")) {
			INT_ARG(o->top_n, 1, 1000);
		} else if (!strcmp(a, "--top-k")) {
			INT_ARG(o->sp.top_k, 0, 1 << 24);
		} else if (!strcmp(a, "--seed")) {
			NEED_VAL();
			char *end;
			errno = 0;
			o->sp.seed = strtoull(val, &end, 10);
			if (errno || end == val || *end)
				return die("%s: bad value '%s'", a, val);
		} else if (!strcmp(a, "--temp")) {
			NEED_VAL();
			if (parse_float(val, &o->sp.temp) || o->sp.temp < 0)
				return die("%s: bad value '%s'", a, val);
		} else if (!strcmp(a, "--top-p")) {
			NEED_VAL();
			if (parse_float(val, &o->sp.top_p) || o->sp.top_p <= 0 ||
			    o->sp.top_p > 1)
				return die("%s: bad value '%s' (0 < p <= 1)", a, val);
		} else if (!strcmp(a, "--weights")) {
			NEED_VAL();
			if (weights_mode_parse(val, &o->wmode))
				return die("--weights: '%s' is not q8_0, native or f32", val);
		} else if (!strcmp(a, "--config")) {
			NEED_VAL();
			o->config = val;
		} else if (!strcmp(a, "--config-fallback")) {
			o->config_fallback = 1;
		} else if (!strcmp(a, "--json")) {
			o->json = 1;
		} else if (!strcmp(a, "--tokenize")) {
			o->tokenize = 1;
		} else if (!strcmp(a, "--no-special")) {
			o->special = 0;
		} else if (!strcmp(a, "--ignore-eos")) {
			o->ignore_eos = 1;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage, stdout);
			exit(0);
		} else {
			return die("unknown argument '%s' (see --help)", a);
		}
#undef INT_ARG
#undef NEED_VAL
	}
	if (!o->model)
		return die("--model is required (see --help)");
	if (o->top_n && !o->json)
		return die("--top needs --json");
	if (o->config_fallback && !o->config)
		return die("--config-fallback needs --config");
	return 0;
}

/* Appends s to a growing buffer; the JSON text is built from it. */
struct buf {
	char *p;
	size_t n, cap;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t cap = (b->n + n + 1) * 2;
		char *p = realloc(b->p, cap);
		if (!p)
			return;	/* text is best effort; tokens stay exact */
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

/* Replaces each byte that is not part of valid UTF-8 with U+FFFD (as
 * llama.cpp's callers show split byte tokens). */
static char *utf8_clean(const char *s, size_t n)
{
	struct buf o = { 0 };

	buf_add(&o, "", 0);
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 :
			     (c >> 3) == 30 ? 4 : 0;
		int ok = len > 0 && i + len <= n;
		for (size_t k = 1; ok && k < len; k++)
			ok = ((unsigned char)s[i + k] & 0xc0) == 0x80;
		if (ok) {
			buf_add(&o, s + i, len);
			i += len;
		} else {
			buf_add(&o, "\xef\xbf\xbd", 3);
			i++;
		}
	}
	return o.p;
}

struct stream {
	const struct tokenizer *tok;
	struct buf text;
	int json;
};

static void on_token(void *ctx, int32_t id)
{
	struct stream *st = ctx;
	char piece[256];
	int n = tok_piece(st->tok, id, 0, piece, sizeof piece);

	if (n <= 0)
		return;
	buf_add(&st->text, piece, (size_t)n);
	if (!st->json) {
		fwrite(piece, 1, (size_t)n, stdout);
		fflush(stdout);
	}
}

static json_t *int_array(const int32_t *v, int n)
{
	json_t *a = json_array();

	for (int i = 0; i < n; i++)
		json_array_append_new(a, json_integer(v[i]));
	return a;
}

static int print_json(const struct opts *o, const int32_t *prompt,
		      int n_prompt, const struct gen_result *r,
		      const struct stream *st)
{
	json_t *root = json_object(), *tim = json_object();
	char *text = utf8_clean(st->text.p ? st->text.p : "", st->text.n);
	double dec_per = r->n > 1 ? r->decode_ms / (r->n - 1) : 0.0;

	json_object_set_new(root, "prompt_tokens", int_array(prompt, n_prompt));
	json_object_set_new(root, "generated_tokens", int_array(r->tokens, r->n));
	json_object_set_new(root, "text", json_string(text ? text : ""));
	json_object_set_new(tim, "prompt_tokens", json_integer(n_prompt));
	json_object_set_new(tim, "prompt_ms", json_real(r->prompt_ms));
	json_object_set_new(tim, "prompt_tokens_per_s",
			    json_real(r->prompt_ms > 0 ? n_prompt * 1e3 / r->prompt_ms : 0));
	json_object_set_new(tim, "decode_tokens", json_integer(r->n > 0 ? r->n - 1 : 0));
	json_object_set_new(tim, "decode_ms_per_token", json_real(dec_per));
	json_object_set_new(tim, "decode_tokens_per_s",
			    json_real(dec_per > 0 ? 1e3 / dec_per : 0));
	json_object_set_new(root, "timings", tim);
	if (o->top_n) {
		json_t *top = json_array();
		for (int i = 0; i < r->n; i++) {
			json_t *step = json_array();
			for (int k = 0; k < o->top_n; k++) {
				size_t at = (size_t)i * o->top_n + k;
				json_array_append_new(step, json_pack("{s:i,s:f}",
					"id", (json_int_t)r->top_id[at],
					"logit", (double)r->top_logit[at]));
			}
			json_array_append_new(top, step);
		}
		json_object_set_new(root, "top", top);
	}
	free(text);
	int rc = json_dumpf(root, stdout, JSON_COMPACT | JSON_REAL_PRECISION(9));
	fputc('\n', stdout);
	json_decref(root);
	return rc;
}

static int run_tokenize(const struct opts *o)
{
	char err[512];
	struct gguf *g;
	struct tokenizer *tok;
	int rc = 1;

	if (gguf_open(o->model, &g, err, sizeof err) < 0)
		return die("%s", err);
	if (tok_create(g, &tok, err, sizeof err) < 0) {
		die("%s", err);
		goto close_gguf;
	}
	size_t len = strlen(o->prompt);
	int n = tok_encode(tok, o->prompt, len, 1, o->special, NULL, 0);
	int32_t *ids = n >= 0 ? malloc(sizeof(int32_t) * (size_t)(n + 1)) : NULL;
	if (!ids) {
		die("out of memory tokenizing");
		goto free_tok;
	}
	tok_encode(tok, o->prompt, len, 1, o->special, ids, n);
	if (o->json) {
		json_t *root = json_pack("{s:o}", "tokens", int_array(ids, n));
		json_dumpf(root, stdout, JSON_COMPACT);
		json_decref(root);
	} else {
		for (int i = 0; i < n; i++)
			printf("%s%d", i ? " " : "", ids[i]);
	}
	putchar('\n');
	free(ids);
	rc = 0;
free_tok:
	tok_free(tok);
close_gguf:
	gguf_close(g);
	return rc;
}

/* Per-phase threads and pinning of a best-config file, applied by
 * generate() before each phase (on_phase). */
struct phases {
	struct pool *pool;
	int threads[PHASE_COUNT];
	int pin[PHASE_COUNT];	/* enum pin_mode */
	int *plan[PHASE_COUNT];	/* CPUs for PIN_CORES, else NULL */
	int pinned;		/* the pool is pinned now */
};

static int on_phase(void *ctx, enum gen_phase gp, char *err, size_t errlen)
{
	struct phases *ph = ctx;
	int i = gp == GEN_PROMPT ? PHASE_PROMPT : PHASE_DECODE;
	char why[256];

	(void)err;
	(void)errlen;
	pool_set_active(ph->pool, ph->threads[i]);
	if (ph->plan[i] || ph->pinned) {
		/* pinning only changes speed: a refusal is a warning */
		if (pool_pin(ph->pool, ph->plan[i], why, sizeof why) < 0)
			fprintf(stderr, "infer: warning: %s phase runs unpinned: "
				"%s\n", phase_name(i), why);
		ph->pinned = ph->plan[i] != NULL;
	}
	return 0;
}

/* Plans PIN_CORES for the phases that ask for it (ph->plan); a phase whose
 * plan cannot cover its threads runs unpinned, with a warning. */
static void plan_pins(struct phases *ph)
{
	char why[256];

	for (int i = 0; i < PHASE_COUNT; i++) {
		int n = ph->threads[i], got;

		if (ph->pin[i] != PIN_CORES)
			continue;
		ph->plan[i] = malloc(sizeof(int) * (size_t)n);
		got = ph->plan[i] ? env_pin_plan(n, ph->plan[i], n, why, sizeof why) : -1;
		if (got == n)
			continue;
		if (got >= 0)
			snprintf(why, sizeof why, "only %d CPUs for %d threads", got, n);
		fprintf(stderr, "infer: warning: %s phase runs unpinned: %s\n",
			phase_name(i), ph->plan[i] ? why : "out of memory");
		free(ph->plan[i]);
		ph->plan[i] = NULL;
	}
}

/* Prints each line of config_check's warnings as "infer: warning: ...". */
static void print_warnings(const char *w)
{
	while (*w) {
		size_t n = strcspn(w, "\n");

		fprintf(stderr, "infer: warning: %.*s\n", (int)n, w);
		w += n + (w[n] == '\n');
	}
}

/* Reads o->config into *cfg and the two kernel sets from it.  Returns 1
 * if a config is in use, 0 if not (no --config, or a bad file under
 * --config-fallback: defaults in kp and kd), -1 on a fatal error (the
 * line is printed). */
static int use_config(const struct opts *o, struct best_config *cfg,
		      struct kernels *kp, struct kernels *kd)
{
	char err[1024];

	if (o->config) {
		if (config_read(o->config, cpu_get()->features, cfg, err,
				sizeof err) == 0) {
			if (config_kernels(cfg, PHASE_PROMPT, kp, err, sizeof err) == 0 &&
			    config_kernels(cfg, PHASE_DECODE, kd, err, sizeof err) == 0)
				return 1;
			config_free(cfg);
		}
		if (!o->config_fallback)
			return -die("%s", err);
		fprintf(stderr, "infer: warning: %s; running with the default "
			"kernels\n", err);
	}
	if (kernels_default(kp, err, sizeof err) < 0)
		return -die("%s", err);
	*kd = *kp;
	return 0;
}

/* The repacking line: every distinct matmul_q8 variant of the sets that
 * repacks, e.g. "matmul_q8/avx2_blocked8: weights repacked to q8_0x8". */
static void print_prep(const struct kernels *const *sets, int n,
		       const struct prep_stats *ps)
{
	char names[256] = "", layouts[256] = "";
	size_t a = 0, b = 0;

	for (int i = 0; i < n; i++) {
		const struct variant *v = sets[i]->v[OP_MATMUL_Q8];

		if (!v->prep || (i && v == sets[0]->v[OP_MATMUL_Q8]))
			continue;
		a += (size_t)snprintf(names + a, sizeof names - a, "%smatmul_q8/%s",
				      a ? ", " : "", v->name);
		b += (size_t)snprintf(layouts + b, sizeof layouts - b, "%s%s",
				      b ? ", " : "", v->prep->layout);
	}
	fprintf(stderr, "infer: %s: weights repacked to %s: %.1f MB in %.1f ms\n",
		names, layouts, ps->made / 1e6, ps->ms);
}

int main(int argc, char **argv)
{
	struct opts o = {
		.prompt = "Once upon a time", .n_predict = 48, .special = 1,
		.wmode = WEIGHTS_Q8_0,
		.sp = { .temp = 0.0f, .top_k = 40, .top_p = 0.95f, .seed = 42 },
	};
	char err[512];
	struct model *m = NULL;
	struct pool *pool = NULL;
	struct session *s = NULL;
	struct kernels kp, kd;
	struct best_config cfg = { 0 };
	struct phases ph = { 0 };
	struct gen_result r;
	int32_t *prompt = NULL;
	int rc = 1, have_cfg;

	if (parse_args(argc, argv, &o))
		return 1;
	if (cpu_get()->mask_bad)
		fprintf(stderr, "infer: warning: Q8TUNE_CPU_MASK=%s names an "
			"unknown feature; running scalar-only\n", cpu_get()->mask_name);
	if (o.tokenize)
		return run_tokenize(&o);
	if ((have_cfg = use_config(&o, &cfg, &kp, &kd)) < 0)
		return 1;
	/* --threads wins over the file, for both phases */
	for (int i = 0; i < PHASE_COUNT; i++) {
		ph.threads[i] = o.threads ? o.threads : have_cfg ? cfg.phase[i].threads : 0;
		ph.pin[i] = have_cfg ? cfg.phase[i].pin : PIN_NONE;
		if (!ph.threads[i]) {
			long nc = sysconf(_SC_NPROCESSORS_ONLN);
			ph.threads[i] = nc > 0 ? (int)nc : 1;
		}
	}
	o.threads = ph.threads[PHASE_PROMPT] > ph.threads[PHASE_DECODE] ?
		    ph.threads[PHASE_PROMPT] : ph.threads[PHASE_DECODE];
	if (model_load(o.model, o.wmode, &m, err, sizeof err) < 0) {
		die("%s", err);
		goto free_cfg;
	}
	if (have_cfg) {
		struct machine_fp here;
		struct model_fp mfp;
		char warn[2048], why[256];
		int have_here = machine_fp_get(&here, why, sizeof why) == 0;

		if (!have_here)
			fprintf(stderr, "infer: warning: machine not checked against "
				"%s: %s\n", o.config, why);
		model_fp_get(m, &mfp);
		if (config_check(&cfg, have_here ? &here : NULL, &mfp, warn, sizeof warn))
			print_warnings(warn);
	}
	const struct kernels *sets[] = { &kp, &kd };
	struct prep_stats ps;
	if (model_prepare(m, sets, 2, &ps, err, sizeof err) < 0) {
		die("%s", err);
		goto free_model;
	}
	if (ps.made)
		print_prep(sets, 2, &ps);

	size_t len = strlen(o.prompt);
	int n_prompt = tok_encode(m->tok, o.prompt, len, 1, o.special, NULL, 0);
	prompt = n_prompt > 0 ? malloc(sizeof(int32_t) * (size_t)n_prompt) : NULL;
	if (!prompt) {
		die("cannot tokenize the prompt");
		goto free_model;
	}
	tok_encode(m->tok, o.prompt, len, 1, o.special, prompt, n_prompt);
	if (o.n_ctx == 0)
		o.n_ctx = n_prompt + o.n_predict;
	if (!(pool = pool_create(o.threads))) {
		die("cannot start %d worker threads", o.threads);
		goto free_model;
	}
	ph.pool = pool;
	plan_pins(&ph);
	if (!(s = session_create(m, o.n_ctx, &kp, pool, err, sizeof err))) {
		die("%s", err);
		goto free_pool;
	}

	struct gen_params gp = { .n_predict = o.n_predict, .ignore_eos = o.ignore_eos,
		.eos = tok_eos(m->tok), .top_n = o.top_n, .sp = o.sp,
		.decode_k = &kd, .on_phase = on_phase, .phase_ctx = &ph };
	struct stream st = { .tok = m->tok, .json = o.json };
	if (generate(s, prompt, n_prompt, &gp, on_token, &st, &r, err, sizeof err) < 0) {
		die("%s", err);
		goto free_session;
	}
	if (o.json) {
		if (print_json(&o, prompt, n_prompt, &r, &st) < 0)
			die("cannot write JSON to stdout");
		else
			rc = 0;
	} else {
		putchar('\n');
		fflush(stdout);	/* the text ends before the summary on stderr */
		rc = 0;
	}
	double per = r.n > 1 ? r.decode_ms / (r.n - 1) : 0.0;
	char thr[48];
	if (ph.threads[PHASE_PROMPT] == ph.threads[PHASE_DECODE])
		snprintf(thr, sizeof thr, "%d threads", ph.threads[PHASE_PROMPT]);
	else
		snprintf(thr, sizeof thr, "%d/%d threads (prompt/decode)",
			 ph.threads[PHASE_PROMPT], ph.threads[PHASE_DECODE]);
	fprintf(stderr, "infer: %s, %s weights, %s%s%s | prompt: %d tokens "
		"in %.2f ms (%.1f tok/s) | decode: %d tokens, %.3f ms/token "
		"(%.1f tok/s)\n", arch_name(m->hp.arch),
		o.wmode == WEIGHTS_Q8_0 ? "q8_0" : o.wmode == WEIGHTS_F32 ? "f32" : "native",
		thr, have_cfg ? ", config " : "", have_cfg ? o.config : "",
		n_prompt, r.prompt_ms,
		r.prompt_ms > 0 ? n_prompt * 1e3 / r.prompt_ms : 0.0,
		r.n > 0 ? r.n - 1 : 0, per, per > 0 ? 1e3 / per : 0.0);
	gen_result_free(&r);
	free(st.text.p);
free_session:
	session_free(s);
free_pool:
	pool_destroy(pool);
free_model:
	free(prompt);
	model_free(m);
free_cfg:
	for (int i = 0; i < PHASE_COUNT; i++)
		free(ph.plan[i]);
	config_free(&cfg);
	return rc;
}

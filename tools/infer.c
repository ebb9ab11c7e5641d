/* infer - production inference: load a GGUF model, run a prompt, stream
 * the generated text.  Only parses flags and prints; the work is the
 * public library API (include/q8tune.h), which this file uses alone, as
 * an embedding program would.  See README.md for the flags,
 * docs/config-format.md for --config. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "q8tune.h"

static const char usage[] =
"usage: infer --model PATH [-p TEXT] [-n N] [--threads N]\n"
"             [--weights q8_0|native|f32] [--ctx N]\n"
"             [--temp T] [--top-k K] [--top-p P] [--seed S] [--ignore-eos]\n"
"             [--json [--top N]] [--tokenize] [--no-special]\n"
"             [--config FILE [--config-fallback]]\n";

struct opts {
	const char *model, *prompt, *config;
	int threads, json, tokenize, special;
	int config_fallback;	/* a bad config: warn, run the defaults */
	enum q8_weights wmode;
	struct q8_gen_params gp;
};

static int parse_args(int argc, char **argv, struct opts *o)
{
	char err[256];
	double d;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VAL()                                                    \
	do {                                                          \
		if (!val)                                             \
			return cli_die("%s needs a value", a);            \
		i++;                                                  \
	} while (0)
#define INT_ARG(dst, lo, hi)                                          \
	do {                                                          \
		NEED_VAL();                                           \
		if (cli_int(a, val, lo, hi, &dst, err, sizeof err))   \
			return cli_die("%s", err);                        \
	} while (0)
		if (!strcmp(a, "--model") || !strcmp(a, "-m")) {
			NEED_VAL();
			o->model = val;
		} else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
			NEED_VAL();
			o->prompt = val;
		} else if (!strcmp(a, "-n")) {
			INT_ARG(o->gp.n_predict, 0, 1 << 20);
		} else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) {
			INT_ARG(o->threads, 1, Q8_MAX_THREADS);
		} else if (!strcmp(a, "--ctx")) {
			INT_ARG(o->gp.n_ctx, 1, 1 << 20);
		} else if (!strcmp(a, "--top")) {
			INT_ARG(o->gp.top_n, 1, 1000);
		} else if (!strcmp(a, "--top-k")) {
			INT_ARG(o->gp.top_k, 0, 1 << 24);
		} else if (!strcmp(a, "--seed")) {
			NEED_VAL();
			if (cli_u64(a, val, UINT64_MAX, &o->gp.seed, err, sizeof err))
				return cli_die("%s", err);
		} else if (!strcmp(a, "--temp")) {
			NEED_VAL();
			if (cli_double(a, val, 0, 1e6, &d, err, sizeof err))
				return cli_die("%s", err);
			o->gp.temp = (float)d;
		} else if (!strcmp(a, "--top-p")) {
			NEED_VAL();
			if (cli_double(a, val, 1e-9, 1, &d, err, sizeof err))
				return cli_die("%s", err);
			o->gp.top_p = (float)d;
		} else if (!strcmp(a, "--weights")) {
			NEED_VAL();
			if (q8_weights_parse(val, &o->wmode))
				return cli_die("--weights: '%s' is not q8_0, native or f32", val);
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
			o->gp.ignore_eos = 1;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage, stdout);
			exit(0);
		} else {
			return cli_die("unknown argument '%s' (see --help)", a);
		}
#undef INT_ARG
#undef NEED_VAL
	}
	if (!o->model)
		return cli_die("--model is required (see --help)");
	if (o->gp.top_n && !o->json)
		return cli_die("--top needs --json");
	if (o->config_fallback && !o->config)
		return cli_die("--config-fallback needs --config");
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
	const struct q8 *q;
	struct buf text;
	int json;
};

static void on_token(void *ctx, int32_t id)
{
	struct stream *st = ctx;
	char piece[256];
	int n = q8_token_piece(st->q, id, piece, sizeof piece);

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

static json_t *top_json(const struct q8_result *r)
{
	json_t *top = json_array();

	for (int i = 0; i < r->n; i++) {
		json_t *step = json_array();
		for (int k = 0; k < r->top_n; k++) {
			size_t at = (size_t)i * r->top_n + k;
			json_array_append_new(step, json_pack("{s:i,s:f}",
				"id", (json_int_t)r->top_id[at],
				"logit", (double)r->top_logit[at]));
		}
		json_array_append_new(top, step);
	}
	return top;
}

static int print_json(const int32_t *prompt, int n_prompt,
		      const struct q8_result *r, const struct stream *st)
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
	if (r->top_n)
		json_object_set_new(root, "top", top_json(r));
	free(text);
	int rc = json_dumpf(root, stdout, JSON_COMPACT | JSON_REAL_PRECISION(9));
	fputc('\n', stdout);
	json_decref(root);
	return rc;
}

/* The prompt's ids (malloc'd, *n of them), or NULL. */
static int32_t *tokenize(const struct q8 *q, const struct opts *o, int *n)
{
	size_t len = strlen(o->prompt);
	int32_t *ids;

	*n = q8_tokenize(q, o->prompt, len, 1, o->special, NULL, 0);
	ids = *n > 0 ? malloc(sizeof(int32_t) * (size_t)*n) : NULL;
	if (ids)
		q8_tokenize(q, o->prompt, len, 1, o->special, ids, *n);
	return ids;
}

/* --tokenize: the prompt's ids, space-separated or as JSON. */
static int print_tokens(const struct q8 *q, const struct opts *o)
{
	int n;
	int32_t *ids = tokenize(q, o, &n);

	if (!ids && n != 0)
		return cli_die("cannot tokenize the prompt");
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
	return 0;
}

static void on_warning(void *ctx, const char *line)
{
	(void)ctx;
	cli_warn("%s", line);
}

/* The one-line timing summary on stderr. */
static void print_summary(const struct q8 *q, const struct opts *o,
			  int n_prompt, const struct q8_result *r)
{
	struct q8_model_info mi;
	struct q8_info in;
	double per = r->n > 1 ? r->decode_ms / (r->n - 1) : 0.0;
	char thr[48];

	q8_model_info(q, &mi);
	q8_info(q, &in);
	if (in.threads[Q8_PHASE_PROMPT] == in.threads[Q8_PHASE_DECODE])
		snprintf(thr, sizeof thr, "%d threads", in.threads[Q8_PHASE_PROMPT]);
	else
		snprintf(thr, sizeof thr, "%d/%d threads (prompt/decode)",
			 in.threads[Q8_PHASE_PROMPT], in.threads[Q8_PHASE_DECODE]);
	fprintf(stderr, "infer: %s, %s weights, %s%s%s | prompt: %d tokens "
		"in %.2f ms (%.1f tok/s) | decode: %d tokens, %.3f ms/token "
		"(%.1f tok/s)\n", mi.arch, q8_weights_name(o->wmode), thr,
		in.have_config ? ", config " : "",
		in.have_config ? o->config : "", n_prompt, r->prompt_ms,
		r->prompt_ms > 0 ? n_prompt * 1e3 / r->prompt_ms : 0.0,
		r->n > 0 ? r->n - 1 : 0, per, per > 0 ? 1e3 / per : 0.0);
}

/* Generates from the prompt, streaming or as JSON. */
static int run(struct q8 *q, const struct opts *o)
{
	struct stream st = { .q = q, .json = o->json };
	struct q8_result r;
	struct q8_info in;
	char err[1024];
	int n_prompt, rc = 1;
	int32_t *prompt = tokenize(q, o, &n_prompt);

	q8_info(q, &in);
	if (in.prep_mb > 0)
		fprintf(stderr, "infer: %s: weights repacked: %.1f MB in %.1f ms\n",
			in.prep_desc, in.prep_mb, in.prep_ms);
	if (!prompt)
		return cli_die("cannot tokenize the prompt");
	if (q8_generate(q, prompt, n_prompt, &o->gp, on_token, &st, &r, err,
			sizeof err) < 0) {
		cli_die("%s", err);
		goto out;
	}
	if (o->json) {
		if (print_json(prompt, n_prompt, &r, &st) < 0)
			cli_die("cannot write JSON to stdout");
		else
			rc = 0;
	} else {
		putchar('\n');
		fflush(stdout);	/* the text ends before the summary on stderr */
		rc = 0;
	}
	print_summary(q, o, n_prompt, &r);
	q8_result_free(&r);
out:
	free(st.text.p);
	free(prompt);
	return rc;
}

int main(int argc, char **argv)
{
	struct opts o = { .prompt = "Once upon a time", .special = 1,
			  .wmode = Q8_WEIGHTS_Q8_0 };
	char err[1024];
	struct q8 *q;
	int rc;

	cli_set_prog("infer");
	q8_catch_sigbus("infer");
	q8_gen_params_init(&o.gp);
	if (parse_args(argc, argv, &o))
		return 1;
	const struct q8_opts qo = { .model = o.model, .weights = o.wmode,
		.config = o.config, .config_fallback = o.config_fallback,
		.threads = o.threads, .vocab_only = o.tokenize,
		.warn = on_warning };
	if (q8_open(&qo, &q, err, sizeof err) < 0)
		return cli_die("%s", err);
	rc = o.tokenize ? print_tokens(q, &o) : run(q, &o);
	q8_close(q);
	return cli_exit(rc);
}

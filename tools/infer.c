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
"usage: infer -m PATH [-p TEXT] [-n N] [-t N] [-c N] [--temp T] [--top-k K]\n"
"             [--top-p P] [--seed S] [--ignore-eos] [--weights q8_0|native|f32]\n"
"             [--json [--top N]] [--tokenize] [--no-special]\n"
"             [--config FILE [--config-fallback]]\n"
"  -m, --model PATH      GGUF file\n"
"  -p, --prompt TEXT     prompt (default \"Once upon a time\")\n"
"  -n, --n-predict N     tokens to generate (default 48)\n"
"  -t, --threads N       worker threads (default: online CPUs)\n"
"  -c, --ctx-size N      KV cache positions (default prompt + n); alias --ctx\n"
"  --temp T              0: greedy (default); > 0 samples\n"
"  --top-k K, --top-p P, --seed S   sampling (default 40, 0.95, 42)\n"
"  --ignore-eos          keep generating after EOS\n"
"  --weights MODE        q8_0 (default), native or f32\n"
"  --json                one JSON object instead of streaming text\n"
"  --top N               with --json: the N highest logits per position\n"
"  --tokenize            print only the prompt's token ids\n"
"  --no-special          do not parse special tokens in the prompt\n"
"  --config FILE         a best-config file from ./tune\n"
"  --config-fallback     a bad config is a warning and the defaults run\n"
"  -h, --help            this text\n";

struct opts {
	const char *model, *prompt, *config;
	int threads, json, tokenize, special;
	int config_fallback;	/* a bad config: warn, run the defaults */
	enum q8_weights wmode;
	struct q8_gen_params gp;
};

enum {
	OPT_MODEL = 1, OPT_PROMPT, OPT_N, OPT_THREADS, OPT_CTX, OPT_TOP,
	OPT_TOP_K, OPT_SEED, OPT_TEMP, OPT_TOP_P, OPT_WEIGHTS, OPT_CONFIG,
	OPT_FALLBACK, OPT_JSON, OPT_TOKENIZE, OPT_NO_SPECIAL, OPT_IGNORE_EOS,
	OPT_HELP,
};

/* llama-cli's spellings, and the earlier ones where they differ. */
static const struct cli_flag flags[] = {
	{ "model", 'm', 1, OPT_MODEL }, { "prompt", 'p', 1, OPT_PROMPT },
	{ "n-predict", 'n', 1, OPT_N }, { "threads", 't', 1, OPT_THREADS },
	{ "ctx-size", 'c', 1, OPT_CTX }, { "ctx", 0, 1, OPT_CTX },
	{ "top", 0, 1, OPT_TOP }, { "top-k", 0, 1, OPT_TOP_K },
	{ "seed", 0, 1, OPT_SEED }, { "temp", 0, 1, OPT_TEMP },
	{ "top-p", 0, 1, OPT_TOP_P }, { "weights", 0, 1, OPT_WEIGHTS },
	{ "config", 0, 1, OPT_CONFIG }, { "config-fallback", 0, 0, OPT_FALLBACK },
	{ "json", 0, 0, OPT_JSON }, { "tokenize", 0, 0, OPT_TOKENIZE },
	{ "no-special", 0, 0, OPT_NO_SPECIAL },
	{ "ignore-eos", 0, 0, OPT_IGNORE_EOS }, { "help", 'h', 0, OPT_HELP },
	{ 0 }
};

/* One flag into o; 0, or -1 with the message in c->err. */
static int take_flag(struct cli *c, int id, void *ctx)
{
	struct opts *o = ctx;
	double d;

	switch (id) {
	case OPT_MODEL: o->model = c->val; return 0;
	case OPT_PROMPT: o->prompt = c->val; return 0;
	case OPT_N: return cli_get_int(c, 0, 1 << 20, &o->gp.n_predict);
	case OPT_THREADS: return cli_get_int(c, 1, Q8_MAX_THREADS, &o->threads);
	case OPT_CTX: return cli_get_int(c, 1, 1 << 20, &o->gp.n_ctx);
	case OPT_TOP: return cli_get_int(c, 1, 1000, &o->gp.top_n);
	case OPT_TOP_K: return cli_get_int(c, 0, 1 << 24, &o->gp.top_k);
	case OPT_SEED: return cli_get_u64(c, UINT64_MAX, &o->gp.seed);
	case OPT_TEMP:
	case OPT_TOP_P:
		if (cli_get_double(c, id == OPT_TEMP ? 0 : 1e-9, id == OPT_TEMP ?
				   1e6 : 1, &d) < 0)
			return -1;
		*(id == OPT_TEMP ? &o->gp.temp : &o->gp.top_p) = (float)d;
		return 0;
	case OPT_WEIGHTS:
		if (!q8_weights_parse(c->val, &o->wmode))
			return 0;
		snprintf(c->err, sizeof c->err, "--weights: '%s' is not q8_0, "
			 "native or f32", c->val);
		return -1;
	case OPT_CONFIG: o->config = c->val; return 0;
	case OPT_FALLBACK: o->config_fallback = 1; return 0;
	case OPT_JSON: o->json = 1; return 0;
	case OPT_TOKENIZE: o->tokenize = 1; return 0;
	case OPT_NO_SPECIAL: o->special = 0; return 0;
	case OPT_IGNORE_EOS: o->gp.ignore_eos = 1; return 0;
	}
	fputs(usage, stdout);	/* OPT_HELP */
	exit(0);
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	if (cli_parse(argc, argv, flags, take_flag, o))
		return 1;
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

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
#include "cpu.h"
#include "generate.h"
#include "gguf.h"
#include "model.h"
#include "q8tune.h"
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

static void on_warning(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(stderr, "infer: warning: %s\n", line);
}

int main(int argc, char **argv)
{
	struct opts o = {
		.prompt = "Once upon a time", .n_predict = 48, .special = 1,
		.wmode = WEIGHTS_Q8_0,
		.sp = { .temp = 0.0f, .top_k = 40, .top_p = 0.95f, .seed = 42 },
	};
	char err[1024];
	struct q8 *q = NULL;
	struct gen_result r;
	int32_t *prompt = NULL;
	int rc = 1;

	if (parse_args(argc, argv, &o))
		return 1;
	if (cpu_get()->mask_bad)
		fprintf(stderr, "infer: warning: Q8TUNE_CPU_MASK=%s names an "
			"unknown feature; running scalar-only\n", cpu_get()->mask_name);
	if (o.tokenize)
		return run_tokenize(&o);
	const struct q8_opts qo = { .model = o.model, .weights = o.wmode,
		.config = o.config, .config_fallback = o.config_fallback,
		.threads = o.threads, .warn = on_warning };
	if (q8_open(&qo, &q, err, sizeof err) < 0)
		return die("%s", err);
	const struct model *m = q8_model(q);
	const struct q8_info *in = q8_info(q);
	if (in->prep.made)
		fprintf(stderr, "infer: %s: weights repacked: %.1f MB in %.1f ms\n",
			in->prep_desc, in->prep.made / 1e6, in->prep.ms);

	size_t len = strlen(o.prompt);
	int n_prompt = tok_encode(m->tok, o.prompt, len, 1, o.special, NULL, 0);
	prompt = n_prompt > 0 ? malloc(sizeof(int32_t) * (size_t)n_prompt) : NULL;
	if (!prompt) {
		die("cannot tokenize the prompt");
		goto out;
	}
	tok_encode(m->tok, o.prompt, len, 1, o.special, prompt, n_prompt);

	struct gen_params gp = { .n_predict = o.n_predict, .ignore_eos = o.ignore_eos,
		.eos = tok_eos(m->tok), .top_n = o.top_n, .sp = o.sp };
	struct stream st = { .tok = m->tok, .json = o.json };
	if (q8_generate(q, prompt, n_prompt, o.n_ctx, &gp, on_token, &st, &r, err,
			sizeof err) < 0) {
		die("%s", err);
		goto out;
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
	if (in->threads[PHASE_PROMPT] == in->threads[PHASE_DECODE])
		snprintf(thr, sizeof thr, "%d threads", in->threads[PHASE_PROMPT]);
	else
		snprintf(thr, sizeof thr, "%d/%d threads (prompt/decode)",
			 in->threads[PHASE_PROMPT], in->threads[PHASE_DECODE]);
	fprintf(stderr, "infer: %s, %s weights, %s%s%s | prompt: %d tokens "
		"in %.2f ms (%.1f tok/s) | decode: %d tokens, %.3f ms/token "
		"(%.1f tok/s)\n", arch_name(m->hp.arch),
		o.wmode == WEIGHTS_Q8_0 ? "q8_0" : o.wmode == WEIGHTS_F32 ? "f32" : "native",
		thr, in->have_config ? ", config " : "",
		in->have_config ? o.config : "", n_prompt, r.prompt_ms,
		r.prompt_ms > 0 ? n_prompt * 1e3 / r.prompt_ms : 0.0,
		r.n > 0 ? r.n - 1 : 0, per, per > 0 ? 1e3 / per : 0.0);
	gen_result_free(&r);
	free(st.text.p);
out:
	free(prompt);
	q8_close(q);
	return rc;
}

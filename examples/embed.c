/* embed.c - q8tune from an embedding program: open a model with a
 * best-config file, generate, print the text, the token ids, the kernels
 * that ran and the timings.
 *
 * It uses the public header alone.  Built by `make test` (and by hand)
 * against an installed prefix, as any embedder would:
 *
 *     make install PREFIX=/opt/q8tune
 *     cc -I/opt/q8tune/include embed.c /opt/q8tune/lib/libq8tune.a \
 *        $(PKG_CONFIG_PATH=/opt/q8tune/lib/pkgconfig pkg-config --libs --static q8tune)
 *
 * usage: embed MODEL [CONFIG|-] [PROMPT] [N]  (- : the default kernels) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <q8tune.h>

static void on_warning(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(stderr, "embed: warning: %s\n", line);
}

static void on_token(void *ctx, int32_t id)
{
	struct q8 *q = ctx;
	char piece[256];
	int n = q8_token_piece(q, id, piece, sizeof piece);

	if (n > 0)
		fwrite(piece, 1, (size_t)n, stdout);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct q8_opts o = { 0 };
	struct q8_gen_params p;
	struct q8_result r;
	struct q8_info in;
	struct q8 *q;
	char err[1024];
	const char *prompt = argc > 3 ? argv[3] : "Once upon a time";
	int32_t ids[512];
	int n, rc = 1;

	if (argc < 2 || argc > 5) {
		fprintf(stderr, "usage: embed MODEL [CONFIG|-] [PROMPT] [N]\n");
		return 2;
	}
	o.model = argv[1];
	o.config = argc > 2 && strcmp(argv[2], "-") ? argv[2] : NULL;
	o.warn = on_warning;
	if (q8_open(&o, &q, err, sizeof err) != 0) {
		fprintf(stderr, "embed: %s\n", err);
		return 1;
	}
	n = q8_tokenize(q, prompt, strlen(prompt), 1, 1, ids, 512);
	if (n <= 0 || n > 512) {
		fprintf(stderr, "embed: cannot tokenize the prompt (%d tokens)\n", n);
		goto out;
	}
	q8_gen_params_init(&p);
	p.n_predict = argc > 4 ? atoi(argv[4]) : 16;
	p.ignore_eos = 1;
	if (q8_generate(q, ids, n, &p, on_token, q, &r, err, sizeof err) != 0) {
		fprintf(stderr, "embed: %s\n", err);
		goto out;
	}
	printf("\ntokens:");
	for (int i = 0; i < r.n; i++)
		printf(" %d", (int)r.tokens[i]);
	q8_info(q, &in);
	printf("\nkernels:");
	for (int i = 0; i < q8_op_count(); i++)
		printf(" %s=%s/%s", q8_op_name(i),
		       q8_variant(q, Q8_PHASE_PROMPT, q8_op_name(i)),
		       q8_variant(q, Q8_PHASE_DECODE, q8_op_name(i)));
	printf("\nthreads: %d/%d%s\n", in.threads[Q8_PHASE_PROMPT],
	       in.threads[Q8_PHASE_DECODE], in.have_config ? " (config)" : "");
	printf("prompt: %d tokens in %.2f ms; decode: %d tokens, %.3f ms/token\n",
	       r.n_prompt, r.prompt_ms, r.n - 1,
	       r.n > 1 ? r.decode_ms / (r.n - 1) : 0.0);
	q8_result_free(&r);
	rc = 0;
out:
	q8_close(q);
	return rc;
}

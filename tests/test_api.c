/* test_api.c - the public library API (include/q8tune.h) as an embedder
 * uses it: the example program built against the installed prefix makes
 * the same tokens as ./infer; errors come back as one line naming the
 * file, warnings through the callback; a vocab-only handle tokenizes but
 * does not generate.  Models are small synthetic ones in the run's temp
 * folder; nothing depends on ../shared. */
#include <jansson.h>
#include <sys/wait.h>
#include "common.h"
#include "q8tune.h"
#include "run.h"
#include "small.h"

/* A small gemma model in a fresh folder; path into model. */
static void small_model(char *dir, size_t dcap, char *model, size_t mcap)
{
	struct synth_cfg c = small_cfg(SYNTH_GEMMA);

	test_tmpdir(dir, dcap, "api");
	snprintf(model, mcap, "%s/small.gguf", dir);
	write_model(&c, model);
}

/* The integers after "tokens:" in s, as a JSON array. */
static json_t *tokens_line(const char *s)
{
	const char *p = strstr(s, "\ntokens:");
	json_t *a = json_array();
	char *end;

	cr_assert_not_null(p, "no tokens line in: %s", s);
	p += 8;
	for (;;) {
		long v = strtol(p, &end, 10);
		if (end == p)
			break;
		json_array_append_new(a, json_integer(v));
		p = end;
	}
	return a;
}

Test(api, example_matches_infer, .timeout = 60)
{
	char dir[96], model[160];
	struct proc e, i;
	json_error_t je;

	if (access("build/embed", X_OK) || access("./infer", X_OK))
		cr_skip_test("build/embed or ./infer is not built (make test "
			     "builds them); skipped");
	small_model(dir, sizeof dir, model, sizeof model);
	char *ea[] = { "build/embed", model, "-", "Hello world", "12", NULL };
	run_argv(ea, &e);
	cr_assert(WIFEXITED(e.status) && WEXITSTATUS(e.status) == 0, "%s", e.err);
	char *ia[] = { "./infer", "--model", model, "-p", "Hello world", "-n",
		       "12", "--ignore-eos", "--json", NULL };
	run_argv(ia, &i);
	cr_assert(WIFEXITED(i.status) && WEXITSTATUS(i.status) == 0, "%s", i.err);
	json_t *got = tokens_line(e.out);
	json_t *root = json_loads(i.out, 0, &je);
	cr_assert_not_null(root, "infer --json: %s", je.text);
	json_t *want = json_object_get(root, "generated_tokens");
	cr_assert_eq(json_array_size(got), 12);
	cr_expect(json_equal(got, want), "embed and infer made different tokens");
	/* it reports the kernels it ran, one per op, both phases */
	for (int k = 0; k < q8_op_count(); k++) {
		char key[64];
		snprintf(key, sizeof key, " %s=", q8_op_name(k));
		cr_expect_not_null(strstr(e.out, key), "no %s in: %s", key, e.out);
	}
	json_decref(got);
	json_decref(root);
	proc_free(&e);
	proc_free(&i);

	/* a bad config: exit 1, one line naming the file */
	char cfg[200];
	snprintf(cfg, sizeof cfg, "%s/bad.json", dir);
	FILE *f = fopen(cfg, "w");
	cr_assert_not_null(f);
	fputs("{\"schema\": 7", f);
	fclose(f);
	char *ba[] = { "build/embed", model, cfg, NULL };
	run_argv(ba, &e);
	cr_expect(WIFEXITED(e.status) && WEXITSTATUS(e.status) == 1);
	cr_expect_eq(count_lines(e.err), 1, "%s", e.err);
	cr_expect_not_null(strstr(e.err, cfg), "%s", e.err);
	proc_free(&e);
}

struct warnings {
	int n;
	char last[512];
};

static void collect(void *ctx, const char *line)
{
	struct warnings *w = ctx;

	w->n++;
	snprintf(w->last, sizeof w->last, "%s", line);
}

Test(api, errors_name_the_file_and_warnings_use_the_callback)
{
	char dir[96], model[160], cfg[200], err[512] = "";
	struct q8 *q = (struct q8 *)&q;	/* not NULL: q8_open must clear it */
	struct warnings w = { 0 };

	small_model(dir, sizeof dir, model, sizeof model);
	struct q8_opts o = { .model = "/nonexistent/m.gguf" };
	cr_expect_eq(q8_open(&o, &q, err, sizeof err), -1);
	cr_expect_null(q);
	cr_expect_not_null(strstr(err, "/nonexistent/m.gguf"), "%s", err);
	cr_expect_null(strchr(err, '\n'), "more than one line: %s", err);

	struct q8_opts none = { 0 };
	cr_expect_eq(q8_open(&none, &q, err, sizeof err), -1);

	/* a config that is not JSON: fatal, or a warning with fallback */
	snprintf(cfg, sizeof cfg, "%s/bad.json", dir);
	FILE *f = fopen(cfg, "w");
	cr_assert_not_null(f);
	fputs("not json", f);
	fclose(f);
	struct q8_opts c = { .model = model, .config = cfg, .threads = 1,
			     .warn = collect, .warn_ctx = &w };
	cr_expect_eq(q8_open(&c, &q, err, sizeof err), -1);
	cr_expect_not_null(strstr(err, cfg), "%s", err);
	cr_expect_eq(w.n, 0);
	c.config_fallback = 1;
	cr_assert_eq(q8_open(&c, &q, err, sizeof err), 0, "%s", err);
	cr_expect_eq(w.n, 1);
	cr_expect_not_null(strstr(w.last, cfg), "%s", w.last);
	struct q8_info in;
	q8_info(q, &in);
	cr_expect_eq(in.have_config, 0);
	cr_expect(in.threads[Q8_PHASE_PROMPT] == 1 && in.threads[Q8_PHASE_DECODE] == 1);
	cr_expect_null(q8_variant(q, Q8_PHASE_PROMPT, "no_such_op"));
	cr_expect_not_null(q8_variant(q, Q8_PHASE_DECODE, "matmul_q8"));
	q8_close(q);
	q8_close(NULL);
}

Test(api, model_info_generate_and_vocab_only)
{
	char dir[96], model[160], err[512] = "";
	struct q8 *q, *v;
	struct q8_model_info mi, vi;
	struct q8_gen_params p;
	struct q8_result r;
	int32_t ids[64];

	small_model(dir, sizeof dir, model, sizeof model);
	struct q8_opts o = { .model = model, .threads = 1 };
	cr_assert_eq(q8_open(&o, &q, err, sizeof err), 0, "%s", err);
	q8_model_info(q, &mi);
	cr_expect_str_eq(mi.arch, "gemma");
	cr_expect(mi.n_layer == 2 && mi.n_embd == 64 && mi.n_head == 2 &&
		  mi.n_head_kv == 1 && mi.head_dim == 32 && mi.n_ff == 128);
	cr_expect_gt(mi.weight_bytes, 0);
	cr_expect_eq(mi.weights, Q8_WEIGHTS_Q8_0);

	int n = q8_tokenize(q, "Hello world", 11, 1, 1, ids, 64);
	cr_assert(n > 1 && n <= 64);
	cr_expect_eq(ids[0], mi.bos);
	cr_expect_eq(q8_tokenize(q, "Hello world", 11, 1, 1, NULL, 0), n,
		     "sizing call disagrees");
	q8_gen_params_init(&p);
	p.n_predict = 5;
	p.ignore_eos = 1;
	p.top_n = 3;
	cr_assert_eq(q8_generate(q, ids, n, &p, NULL, NULL, &r, err, sizeof err),
		     0, "%s", err);
	cr_expect(r.n == 5 && r.n_prompt == n && r.top_n == 3);
	for (int i = 0; i < r.n; i++) {
		cr_expect_eq(r.tokens[i], r.top_id[i * 3], "greedy = top-1 at %d", i);
		cr_expect_geq(r.top_logit[i * 3], r.top_logit[i * 3 + 1]);
	}
	/* a second call starts from an empty cache: the same tokens */
	struct q8_result r2;
	cr_assert_eq(q8_generate(q, ids, n, &p, NULL, NULL, &r2, err, sizeof err), 0);
	cr_expect_arr_eq(r.tokens, r2.tokens, sizeof(int32_t) * 5);
	q8_result_free(&r2);
	/* a context too small for the prompt is an error, not a crash (on a
	 * fresh handle: a handle keeps the largest cache it has made) */
	struct q8 *small;
	cr_assert_eq(q8_open(&o, &small, err, sizeof err), 0, "%s", err);
	p.n_ctx = 1;
	cr_expect_eq(q8_generate(small, ids, n, &p, NULL, NULL, &r2, err,
				 sizeof err), -1);
	cr_expect_gt(strlen(err), 0);
	q8_close(small);

	/* vocab only: the same ids, no generation */
	struct q8_opts vo = { .model = model, .vocab_only = 1 };
	cr_assert_eq(q8_open(&vo, &v, err, sizeof err), 0, "%s", err);
	int32_t vids[64];
	cr_expect_eq(q8_tokenize(v, "Hello world", 11, 1, 1, vids, 64), n);
	cr_expect_arr_eq(vids, ids, sizeof(int32_t) * (size_t)n);
	q8_model_info(v, &vi);
	cr_expect(vi.n_vocab == mi.n_vocab && vi.bos == mi.bos && vi.eos == mi.eos);
	cr_expect_str_eq(vi.arch, "");
	cr_expect_eq(q8_generate(v, ids, n, NULL, NULL, NULL, &r2, err, sizeof err), -1);
	cr_expect_not_null(strstr(err, "vocab_only"), "%s", err);
	cr_expect_null(q8_variant(v, Q8_PHASE_PROMPT, "matmul_q8"));
	char piece[64];
	cr_expect_eq(q8_token_piece(v, mi.n_vocab + 5, piece, sizeof piece), -1);
	q8_result_free(&r);
	q8_close(v);
	q8_close(q);
}

Test(api, weights_names_round_trip)
{
	static const enum q8_weights all[] = { Q8_WEIGHTS_Q8_0,
		Q8_WEIGHTS_NATIVE, Q8_WEIGHTS_F32 };
	enum q8_weights w;

	for (int i = 0; i < 3; i++) {
		cr_expect_eq(q8_weights_parse(q8_weights_name(all[i]), &w), 0);
		cr_expect_eq(w, all[i]);
	}
	cr_expect_eq(q8_weights_parse("q4_0", &w), -1);
	cr_expect_null(q8_op_name(-1));
	cr_expect_null(q8_op_name(q8_op_count()));
}

/* A prompt plus generation past the model's context_length (256 for the
 * small model) is a warning through the callback; within it, none. */
Test(api, past_context_length_is_a_warning, .timeout = 60)
{
	char dir[96], model[160], err[512] = "";
	struct warnings w = { 0 };
	struct q8_gen_params p;
	struct q8_result r;
	struct q8 *q;
	int32_t ids[8];

	small_model(dir, sizeof dir, model, sizeof model);
	struct q8_opts o = { .model = model, .threads = 1, .warn = collect,
			     .warn_ctx = &w };
	cr_assert_eq(q8_open(&o, &q, err, sizeof err), 0, "%s", err);
	int n = q8_tokenize(q, "Hello", 5, 1, 1, ids, 8);
	q8_gen_params_init(&p);
	p.ignore_eos = 1;
	p.n_predict = 256 - n;
	cr_assert_eq(q8_generate(q, ids, n, &p, NULL, NULL, &r, err, sizeof err), 0);
	q8_result_free(&r);
	cr_expect_eq(w.n, 0, "a warning within the context: %s", w.last);
	p.n_predict = 256 - n + 1;
	cr_assert_eq(q8_generate(q, ids, n, &p, NULL, NULL, &r, err, sizeof err), 0);
	q8_result_free(&r);
	cr_expect_eq(w.n, 1);
	cr_expect_not_null(strstr(w.last, "context_length"), "%s", w.last);
	q8_close(q);
}

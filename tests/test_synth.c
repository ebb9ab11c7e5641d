/* test_synth.c - the synthetic model builder (model/synth.c): determinism,
 * the GGUF it writes read back through gguf.c, its vocabulary through
 * tokenizer.c, argument checks and the size of the default shape. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "common.h"
#include "gguf.h"
#include "gguf_write.h"
#include "q8.h"
#include "small.h"
#include "synth.h"
#include "tokenizer.h"

/* Builds c into a malloc'd buffer (*buf, *size); fails the test on error. */
static void build_mem(const struct synth_cfg *c, uint8_t **buf, size_t *size)
{
	struct synth *s = NULL;
	char err[256] = "";

	cr_assert_eq(synth_create(c, &s, err, sizeof(err)), 0,
		     "synth_create: %s", err);
	cr_assert_eq(gguf_w_to_mem(synth_writer(s), buf, size, err,
				   sizeof(err)), 0, "gguf_w_to_mem: %s", err);
	synth_free(s);
}

/* Opens buf with the reader; fails the test on error. */
static struct gguf *open_mem(const uint8_t *buf, size_t size)
{
	struct gguf *g = NULL;
	char err[256] = "";

	cr_assert_eq(gguf_open_mem(buf, size, "synth", &g, err, sizeof(err)),
		     0, "gguf_open_mem: %s", err);
	return g;
}

static int str_eq(struct gguf_str s, const char *want)
{
	return s.len == strlen(want) && !memcmp(s.ptr, want, s.len);
}

static uint32_t get_u32(const struct gguf *g, const char *key)
{
	uint32_t v = 0;
	char err[256] = "";

	cr_assert_eq(gguf_get_u32(g, key, &v, err, sizeof(err)), 0,
		     "%s: %s", key, err);
	return v;
}

static float get_f32(const struct gguf *g, const char *key)
{
	float v = 0;
	char err[256] = "";

	cr_assert_eq(gguf_get_f32(g, key, &v, err, sizeof(err)), 0,
		     "%s: %s", key, err);
	return v;
}

static int get_bool(const struct gguf *g, const char *key)
{
	int v = -1;
	char err[256] = "";

	cr_assert_eq(gguf_get_bool(g, key, &v, err, sizeof(err)), 0,
		     "%s: %s", key, err);
	return v;
}

static void expect_str(const struct gguf *g, const char *key,
		       const char *want)
{
	struct gguf_str s = { 0 };
	char err[256] = "";

	cr_assert_eq(gguf_get_str(g, key, &s, err, sizeof(err)), 0, "%s: %s",
		     key, err);
	cr_expect(str_eq(s, want), "%s = '%.*s', want '%s'", key, (int)s.len,
		  s.ptr, want);
}

/* Checks tensor name exists with the given type and 1-D (ne1 == 0) or
 * 2-D shape. */
static const struct gguf_tensor *expect_tensor(const struct gguf *g,
					       const char *name,
					       enum ggml_type type,
					       uint64_t ne0, uint64_t ne1)
{
	const struct gguf_tensor *t = gguf_find_tensor(g, name);

	cr_assert_not_null(t, "tensor %s is missing", name);
	cr_expect_eq(t->type, type, "%s: type %s", name,
		     ggml_type_name(t->type));
	cr_expect_eq(t->n_dims, ne1 ? 2u : 1u, "%s: n_dims %u", name,
		     t->n_dims);
	cr_expect_eq(t->ne[0], ne0, "%s: ne0 %llu, want %llu", name,
		     (unsigned long long)t->ne[0], (unsigned long long)ne0);
	if (ne1)
		cr_expect_eq(t->ne[1], ne1, "%s: ne1 %llu, want %llu", name,
			     (unsigned long long)t->ne[1],
			     (unsigned long long)ne1);
	return t;
}

/* Sample standard deviation of a Q8_0 tensor's dequantized values. */
static double q8_std(const struct gguf_tensor *t)
{
	const block_q8_0 *b = t->data;
	uint64_t nb = t->ne[0] / QK8_0 * t->ne[1];
	double s = 0, s2 = 0;

	for (uint64_t i = 0; i < nb; i++) {
		float d = fp16_to_f32(b[i].d);

		for (int j = 0; j < QK8_0; j++) {
			double x = d * b[i].qs[j];

			s += x;
			s2 += x * x;
		}
	}
	double n = (double)nb * QK8_0;

	return sqrt(s2 / n - (s / n) * (s / n));
}

/* Reads back everything the loader relies on for c. */
/* The tensors of a synthetic file: llama.cpp's order, types and shapes,
 * and the weights' scale. */
static void check_tensors(const struct gguf *g, const struct synth_cfg *c)
{
	const uint64_t q = (uint64_t)c->n_head * c->head_dim;
	const uint64_t kv = (uint64_t)c->n_head_kv * c->head_dim;
	const uint32_t nv = synth_n_vocab();

	/* tensors, in llama.cpp's order */
	cr_expect_eq(g->n_tensors, 2 + 9ull * c->n_layer + !c->tied);
	cr_expect_str_eq(g->tensors[0].name, "token_embd.weight");
	cr_expect_str_eq(g->tensors[1].name, "blk.0.attn_norm.weight");
	cr_expect_str_eq(g->tensors[1 + 9 * c->n_layer].name,
			 "output_norm.weight");
	expect_tensor(g, "token_embd.weight", GGML_TYPE_Q8_0, c->n_embd, nv);
	for (uint32_t l = 0; l < c->n_layer; l++) {
		char n[64];
#define BLK(what) (snprintf(n, sizeof(n), "blk.%u." what ".weight", l), n)
		expect_tensor(g, BLK("attn_norm"), GGML_TYPE_F32, c->n_embd, 0);
		expect_tensor(g, BLK("attn_q"), GGML_TYPE_Q8_0, c->n_embd, q);
		expect_tensor(g, BLK("attn_k"), GGML_TYPE_Q8_0, c->n_embd, kv);
		expect_tensor(g, BLK("attn_v"), GGML_TYPE_Q8_0, c->n_embd, kv);
		expect_tensor(g, BLK("attn_output"), GGML_TYPE_Q8_0, q,
			      c->n_embd);
		expect_tensor(g, BLK("ffn_norm"), GGML_TYPE_F32, c->n_embd, 0);
		expect_tensor(g, BLK("ffn_gate"), GGML_TYPE_Q8_0, c->n_embd,
			      c->n_ff);
		expect_tensor(g, BLK("ffn_up"), GGML_TYPE_Q8_0, c->n_embd,
			      c->n_ff);
		expect_tensor(g, BLK("ffn_down"), GGML_TYPE_Q8_0, c->n_ff,
			      c->n_embd);
#undef BLK
	}
	expect_tensor(g, "output_norm.weight", GGML_TYPE_F32, c->n_embd, 0);
	if (c->tied)
		cr_expect_null(gguf_find_tensor(g, "output.weight"),
			       "tied model has output.weight");
	else
		expect_tensor(g, "output.weight", GGML_TYPE_Q8_0, c->n_embd,
			      nv);

	/* weight scale: 1/sqrt(n_in) for matrices, 1 + small noise for norms */
	const struct gguf_tensor *t;
	double sd;

	t = gguf_find_tensor(g, "blk.0.attn_q.weight");
	sd = q8_std(t) * sqrt((double)c->n_embd);
	cr_expect(sd > 0.9 && sd < 1.1, "attn_q std * sqrt(n_embd) = %g", sd);
	t = gguf_find_tensor(g, "blk.1.ffn_down.weight");
	sd = q8_std(t) * sqrt((double)c->n_ff);
	cr_expect(sd > 0.9 && sd < 1.1, "ffn_down std * sqrt(n_ff) = %g", sd);
	t = gguf_find_tensor(g, "output_norm.weight");
	for (uint64_t i = 0; i < t->ne[0]; i++) {
		float w = ((const float *)t->data)[i];

		cr_expect(w > 0.9f && w < 1.1f, "output_norm[%llu] = %g",
			  (unsigned long long)i, w);
	}
}

static void check_file(const struct synth_cfg *c)
{
	const char *a = synth_arch_name(c->arch);
	const uint32_t nv = synth_n_vocab();
	const struct gguf_value *arr;
	uint8_t *buf;
	size_t size;
	uint64_t want_size;
	char key[128], err[256] = "";

	build_mem(c, &buf, &size);
	cr_assert_eq(synth_size(c, &want_size, err, sizeof(err)), 0, "%s",
		     err);
	cr_expect_eq(size, want_size, "synth_size %llu, written %zu",
		     (unsigned long long)want_size, size);

	struct gguf *g = open_mem(buf, size);

	cr_expect_eq(g->version, 3u);
	cr_expect_eq(g->alignment, 32u);
	expect_str(g, "general.architecture", a);
	snprintf(key, sizeof(key), "q8tune synthetic %s", a);
	expect_str(g, "general.name", key);
	cr_expect_eq(get_u32(g, "general.file_type"), 7u);
	cr_expect_eq(get_u32(g, "general.quantization_version"), 2u);
#define AK(suffix) (snprintf(key, sizeof(key), "%s." suffix, a), key)
	cr_expect_eq(get_u32(g, AK("context_length")), c->n_ctx);
	cr_expect_eq(get_u32(g, AK("embedding_length")), c->n_embd);
	cr_expect_eq(get_u32(g, AK("block_count")), c->n_layer);
	cr_expect_eq(get_u32(g, AK("feed_forward_length")), c->n_ff);
	cr_expect_eq(get_u32(g, AK("attention.head_count")), c->n_head);
	cr_expect_eq(get_u32(g, AK("attention.head_count_kv")), c->n_head_kv);
	cr_expect_eq(get_u32(g, AK("attention.key_length")), c->head_dim);
	cr_expect_eq(get_u32(g, AK("attention.value_length")), c->head_dim);
	cr_expect_eq(get_u32(g, AK("rope.dimension_count")), c->head_dim);
	cr_expect_float_eq(get_f32(g, AK("rope.freq_base")), 10000.0f, 1e-3);
	cr_expect_float_eq(get_f32(g, AK("attention.layer_norm_rms_epsilon")),
			   c->arch == SYNTH_GEMMA ? 1e-6f : 1e-5f, 1e-9);
#undef AK
	expect_str(g, "tokenizer.ggml.model", "llama");
	cr_assert_eq(gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_T_STRING,
				  &arr, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(arr->v.arr.n, nv);
	cr_assert_eq(gguf_get_arr(g, "tokenizer.ggml.scores", GGUF_T_F32,
				  &arr, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(arr->v.arr.n, nv);
	cr_assert_eq(gguf_get_arr(g, "tokenizer.ggml.token_type", GGUF_T_I32,
				  &arr, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(arr->v.arr.n, nv);
	cr_expect_eq(get_u32(g, "tokenizer.ggml.bos_token_id"), 1u);
	cr_expect_eq(get_u32(g, "tokenizer.ggml.eos_token_id"), 2u);
	cr_expect_eq(get_u32(g, "tokenizer.ggml.unknown_token_id"), 0u);
	cr_expect_eq(get_bool(g, "tokenizer.ggml.add_bos_token"), 1);
	cr_expect_eq(get_bool(g, "tokenizer.ggml.add_eos_token"), 0);

	check_tensors(g, c);
	gguf_close(g);
	free(buf);
}

Test(synth, deterministic_per_seed)
{
	struct synth_cfg c = small_cfg(SYNTH_GEMMA);
	uint8_t *a, *b, *d;
	size_t na, nb, nd;

	build_mem(&c, &a, &na);
	build_mem(&c, &b, &nb);
	cr_assert_eq(na, nb);
	cr_expect(!memcmp(a, b, na), "same seed, different bytes");
	c.seed++;
	build_mem(&c, &d, &nd);
	cr_assert_eq(na, nd);
	cr_expect(memcmp(a, d, na), "different seed, same bytes");
	free(a);
	free(b);
	free(d);
}

/* A tensor's weights depend only on (seed, name): adding a layer leaves
 * token_embd and block 0 unchanged. */
Test(synth, tensor_streams_independent_of_shape)
{
	struct synth_cfg c = small_cfg(SYNTH_LLAMA);
	const char *names[] = { "token_embd.weight", "blk.0.attn_q.weight",
				"blk.1.ffn_down.weight" };
	uint8_t *a, *b;
	size_t na, nb;

	build_mem(&c, &a, &na);
	c.n_layer = 3;
	build_mem(&c, &b, &nb);

	struct gguf *ga = open_mem(a, na), *gb = open_mem(b, nb);

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct gguf_tensor *ta = gguf_find_tensor(ga, names[i]);
		const struct gguf_tensor *tb = gguf_find_tensor(gb, names[i]);

		cr_assert(ta && tb && ta->size == tb->size, "%s", names[i]);
		cr_expect(!memcmp(ta->data, tb->data, ta->size),
			  "%s changed with n_layer", names[i]);
	}
	gguf_close(ga);
	gguf_close(gb);
	free(a);
	free(b);
}

Test(synth, gemma_file_reads_back)
{
	struct synth_cfg c = small_cfg(SYNTH_GEMMA);

	check_file(&c);
}

Test(synth, llama_untied_file_reads_back)
{
	struct synth_cfg c = small_cfg(SYNTH_LLAMA);

	cr_assert_eq(c.tied, 0, "llama defaults to untied");
	check_file(&c);
}

Test(synth, llama_tied_gqa_file_reads_back)
{
	struct synth_cfg c = small_cfg(SYNTH_LLAMA);

	c.tied = 1;
	c.n_head = 4;
	c.n_head_kv = 2;
	c.head_dim = 16;
	check_file(&c);
}

/* Every piece is unique; ids 0..258 are <unk> <s> </s> and the 256 byte
 * tokens; every normal multi-character piece minus its last character is
 * also a piece (the SentencePiece merge path). */
Test(synth, vocab_layout)
{
	struct synth_cfg c = small_cfg(SYNTH_GEMMA);
	const struct gguf_value *tok, *typ;
	uint8_t *buf;
	size_t size;
	char err[256] = "", want[16];

	build_mem(&c, &buf, &size);
	struct gguf *g = open_mem(buf, size);

	cr_assert_eq(gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_T_STRING,
				  &tok, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(gguf_get_arr(g, "tokenizer.ggml.token_type", GGUF_T_I32,
				  &typ, err, sizeof(err)), 0, "%s", err);
	uint64_t n = tok->v.arr.n;
	const struct gguf_value *it = tok->v.arr.items;

	cr_expect(n >= 600 && n <= 1000, "vocab size %llu",
		  (unsigned long long)n);
	cr_expect(str_eq(it[0].v.s, "<unk>") && gguf_arr_int(typ, 0) == 2);
	cr_expect(str_eq(it[1].v.s, "<s>") && gguf_arr_int(typ, 1) == 3);
	cr_expect(str_eq(it[2].v.s, "</s>") && gguf_arr_int(typ, 2) == 3);
	for (int b = 0; b < 256; b++) {
		snprintf(want, sizeof(want), "<0x%02X>", b);
		cr_expect(str_eq(it[3 + b].v.s, want) &&
			  gguf_arr_int(typ, 3 + b) == 6, "byte token %d", b);
	}
	for (uint64_t i = 0; i < n; i++) {
		struct gguf_str s = it[i].v.s;

		for (uint64_t j = i + 1; j < n; j++)
			cr_assert(s.len != it[j].v.s.len ||
				  memcmp(s.ptr, it[j].v.s.ptr, s.len),
				  "piece %llu '%.*s' repeats at %llu",
				  (unsigned long long)i, (int)s.len, s.ptr,
				  (unsigned long long)j);
		if (i < 259)
			continue;
		cr_expect_eq(gguf_arr_int(typ, i), 1);
		/* strip the last UTF-8 character */
		uint64_t k = s.len;

		while (k > 0 && ((uint8_t)s.ptr[k - 1] & 0xc0) == 0x80)
			k--;
		if (k <= 1)
			continue;	/* a single character */
		k--;
		int found = 0;

		for (uint64_t j = 259; j < n && !found; j++)
			found = it[j].v.s.len == k &&
				!memcmp(it[j].v.s.ptr, s.ptr, k);
		cr_expect(found, "'%.*s' has no prefix piece '%.*s'",
			  (int)s.len, s.ptr, (int)k, s.ptr);
	}
	gguf_close(g);
	free(buf);
}

/* Encodes text with BOS; returns the count (ids in out[cap]). */
static int encode(const struct tokenizer *t, const char *text, int32_t *out,
		  int cap)
{
	int n = tok_encode(t, text, strlen(text), 1, 0, out, cap);

	cr_assert(n >= 0 && n <= cap, "tok_encode('%s') = %d", text, n);
	return n;
}

/* Concatenates tok_piece of ids[from..n) into buf. */
static void decode(const struct tokenizer *t, const int32_t *ids, int from,
		   int n, char *buf, size_t cap)
{
	size_t len = 0;

	for (int i = from; i < n; i++) {
		int k = tok_piece(t, ids[i], 0, buf + len, (int)(cap - 1 - len));

		cr_assert(k >= 0, "tok_piece(%d)", ids[i]);
		len += (size_t)k;
	}
	buf[len] = '\0';
}

Test(synth, tokenizer_hello_world)
{
	struct synth_cfg c = small_cfg(SYNTH_GEMMA);
	struct tokenizer *t = NULL;
	int32_t ids[64];
	uint8_t *buf;
	size_t size, len;
	char err[256] = "", text[256];
	int n;

	build_mem(&c, &buf, &size);
	struct gguf *g = open_mem(buf, size);

	cr_assert_eq(tok_create(g, &t, err, sizeof(err)), 0, "tok_create: %s",
		     err);
	cr_expect_eq(tok_n_vocab(t), (int)synth_n_vocab());

	n = encode(t, "Hello world", ids, 64);
	cr_expect_eq(ids[0], tok_bos(t), "no BOS first");
	cr_expect(n >= 3 && n <= 5, "'Hello world' -> BOS + %d tokens", n - 1);
	/* the design goal: exactly [BOS, ▁Hello, ▁world] */
	cr_expect_eq(n, 3, "'Hello world' -> BOS + %d tokens", n - 1);
	if (n == 3) {
		const char *p = tok_text(t, ids[1], &len);

		cr_expect(len == 8 && !memcmp(p, "\xe2\x96\x81Hello", 8));
		p = tok_text(t, ids[2], &len);
		cr_expect(len == 8 && !memcmp(p, "\xe2\x96\x81world", 8));
	}
	decode(t, ids, 1, n, text, sizeof(text));
	cr_expect_str_eq(text, " Hello world");

	/* one token per listed word */
	n = encode(t, "Once upon a time there was a little girl", ids, 64);
	cr_expect_eq(n, 1 + 9, "story line -> BOS + %d tokens", n - 1);
	decode(t, ids, 1, n, text, sizeof(text));
	cr_expect_str_eq(text, " Once upon a time there was a little girl");

	/* unlisted words split into characters, non-ASCII into bytes, and
	 * everything round-trips */
	const char *odd = "Zebras, caf\xc3\xa9 & 42!";

	n = encode(t, odd, ids, 64);
	decode(t, ids, 1, n, text, sizeof(text));
	cr_expect_eq(text[0], ' ');
	cr_expect_str_eq(text + 1, odd);

	tok_free(t);
	gguf_close(g);
	free(buf);
}

/* Each bad config is refused by synth_check, synth_size and
 * synth_create, with a message naming the field. */
Test(synth, bad_config_rejected)
{
	static const struct {
		const char *field;	/* expected in the message */
		int what;
		uint32_t v;
	} bad[] = {
		{ "n_embd", 0, 100 },
		{ "n_embd", 0, 0 },
		{ "n_ff", 1, 100 },
		{ "n_layer", 2, 0 },
		{ "n_layer", 2, 1u << 20 },
		{ "head_dim", 3, 33 },
		{ "n_head_kv", 4, 3 },	/* 3 KV heads for 2 heads */
		{ "n_head", 5, 3 },	/* 3 heads, 2 kv */
		{ "n_head * head_dim", 6, 40 },	/* 2 x 20 */
		{ "gemma", 7, 0 },
		{ "n_embd", 0, UINT32_MAX },
		{ "n_ctx", 8, 0 },
	};
	char err[256];
	uint64_t size;
	struct synth *s = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct synth_cfg c = small_cfg(SYNTH_GEMMA);

		switch (bad[i].what) {
		case 0: c.n_embd = bad[i].v; break;
		case 1: c.n_ff = bad[i].v; break;
		case 2: c.n_layer = bad[i].v; break;
		case 3: c.head_dim = bad[i].v; break;
		case 4: c.n_head_kv = bad[i].v; break;
		case 5: c.n_head = 3; c.n_head_kv = 2; c.head_dim = 32; break;
		case 6: c.head_dim = 20; break;
		case 7: c.tied = 0; break;
		case 8: c.n_ctx = 0; break;
		}
		err[0] = '\0';
		cr_expect_eq(synth_check(&c, err, sizeof(err)), -1,
			     "case %zu accepted", i);
		cr_expect(strstr(err, bad[i].field), "case %zu: '%s' lacks '%s'",
			  i, err, bad[i].field);
		cr_expect_eq(synth_size(&c, &size, err, sizeof(err)), -1);
		cr_expect_eq(synth_create(&c, &s, err, sizeof(err)), -1);
		cr_expect_null(s);
	}

	struct synth_cfg ok = small_cfg(SYNTH_LLAMA);

	ok.tied = 0;
	cr_expect_eq(synth_check(&ok, err, sizeof(err)), 0, "%s", err);
	ok.n_head = 2;
	ok.n_head_kv = 2;
	cr_expect_eq(synth_check(&ok, err, sizeof(err)), 0, "%s", err);
}

/* The default profile is the ~176 MB model of the issue; computed, not
 * generated. */
Test(synth, default_size)
{
	struct synth_cfg c;
	uint64_t size = 0;
	char err[256] = "";

	synth_default(&c, SYNTH_GEMMA);
	cr_expect(c.n_layer == 24 && c.n_embd == 768 && c.n_head == 3 &&
		  c.n_head_kv == 1 && c.head_dim == 256 && c.n_ff == 2304 &&
		  c.tied);
	cr_assert_eq(synth_size(&c, &size, err, sizeof(err)), 0, "%s", err);
	cr_expect(size > 170000000ull && size < 185000000ull,
		  "default model is %llu bytes", (unsigned long long)size);
}

/* test_tokenizer.c - the SPM tokenizer against llama.cpp's ids
 * (../shared/fixtures/tokenizer-A.json on stories260K.gguf) and against
 * small synthetic vocabs built in memory with the GGUF writer. */
#include <jansson.h>
#include <stdint.h>
#include <string.h>
#include "common.h"
#include "gguf.h"
#include "gguf_write.h"
#include "tokenizer.h"

#define MAX_IDS 4096

/* --- helpers ---------------------------------------------------------- */

/* s[0..n) with non-printing bytes as \xNN, in a static buffer (messages). */
static const char *esc(const char *s, size_t n)
{
	static char buf[4][512];
	static int slot;
	char *p = buf[slot++ & 3];
	size_t k = 0;

	for (size_t i = 0; i < n && k + 5 < sizeof(buf[0]); i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			p[k++] = (char)c;
		else
			k += (size_t)snprintf(p + k, 5, "\\x%02x", c);
	}
	p[k] = '\0';
	return p;
}

/* Ids as "[a, b, ...]" in a static buffer (messages). */
static const char *ids_str(const int32_t *ids, int n)
{
	static char buf[2][1024];
	static int slot;
	char *p = buf[slot++ & 1];
	size_t k = 0;

	p[k++] = '[';
	for (int i = 0; i < n && k + 16 < sizeof(buf[0]); i++)
		k += (size_t)snprintf(p + k, 16, "%s%d", i ? ", " : "", ids[i]);
	p[k++] = ']';
	p[k] = '\0';
	return p;
}

/* Opens the real model and its tokenizer; the test owns both. */
static void open_real(const char *path, struct gguf **g, struct tokenizer **t)
{
	char err[512];

	cr_assert_eq(gguf_open(path, g, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(tok_create(*g, t, err, sizeof(err)), 0, "%s", err);
}

/* Encodes a C string; asserts it fits. */
static int enc(const struct tokenizer *t, const char *s, int bos, int ps,
	       int32_t *ids)
{
	int n = tok_encode(t, s, strlen(s), bos, ps, ids, MAX_IDS);

	cr_assert(n >= 0 && n <= MAX_IDS, "tok_encode(\"%s\") = %d",
		  esc(s, strlen(s)), n);
	return n;
}

/* Concatenated tok_piece(special = 0) of ids into buf; returns length. */
static size_t detok(const struct tokenizer *t, const int32_t *ids, int n,
		    char *buf, size_t cap)
{
	size_t k = 0;

	for (int i = 0; i < n; i++) {
		int m = tok_piece(t, ids[i], 0, buf + k, (int)(cap - k));

		cr_assert(m >= 0, "tok_piece(%d) = %d", ids[i], m);
		k += (size_t)m;
	}
	return k;
}

static void expect_ids(const int32_t *got, int n_got, const int32_t *want,
		       int n_want, const char *what)
{
	int same = n_got == n_want &&
		   memcmp(got, want, (size_t)n_want * sizeof(*want)) == 0;

	cr_expect(same, "%s: got %s, want %s", what, ids_str(got, n_got),
		  ids_str(want, n_want));
}

/* --- llama.cpp's ids for stories260K ------------------------------------ */

/* Compares one fixture entry for one parse_special setting. */
static void check_entry(const struct tokenizer *t, json_t *e, int ps,
			int *n_checked)
{
	json_t *js = json_object_get(e, "string");
	json_t *jids = json_object_get(e, ps ? "parse_special_true"
					     : "parse_special_false");
	json_t *jpc = json_object_get(e, ps ? "pieces_parse_special_true"
					    : "pieces_parse_special_false");
	int32_t want[MAX_IDS], got[MAX_IDS];
	const char *s;
	size_t len;
	int n_want, n;

	cr_assert(json_is_string(js) && json_is_array(jids) &&
		  json_is_array(jpc), "malformed fixture entry");
	s = json_string_value(js);
	len = json_string_length(js);
	n_want = (int)json_array_size(jids);
	cr_assert(n_want <= MAX_IDS);
	for (int i = 0; i < n_want; i++)
		want[i] = (int32_t)json_integer_value(json_array_get(jids,
								     (size_t)i));
	n = tok_encode(t, s, len, 1, ps, got, MAX_IDS);
	cr_assert(n >= 0 && n <= MAX_IDS);
	cr_expect(n == n_want && memcmp(got, want, (size_t)n * 4) == 0,
		  "\"%s\" parse_special=%d: got %s, llama.cpp %s",
		  esc(s, len), ps, ids_str(got, n), ids_str(want, n_want));

	cr_expect_eq(json_array_size(jpc), (size_t)n_want);
	for (int i = 0; i < n_want && i < (int)json_array_size(jpc); i++) {
		json_t *jp = json_array_get(jpc, (size_t)i);
		size_t tl;
		const char *tx = tok_text(t, want[i], &tl);

		cr_expect(tx && tl == json_string_length(jp) &&
			  memcmp(tx, json_string_value(jp), tl) == 0,
			  "\"%s\": tok_text(%d) = \"%s\", fixture \"%s\"",
			  esc(s, len), want[i], tx ? esc(tx, tl) : "(null)",
			  esc(json_string_value(jp), json_string_length(jp)));
	}
	(*n_checked)++;
}

Test(tokenizer, llama_cpp_fixture)
{
	NEED_SHARED(mpath, "models/stories260K.gguf");
	NEED_SHARED(fpath, "fixtures/tokenizer-A.json");
	struct gguf *g;
	struct tokenizer *t;
	json_error_t jerr;
	json_t *root, *strs;
	int n_checked = 0;

	open_real(mpath, &g, &t);
	root = json_load_file(fpath, 0, &jerr);
	cr_assert(root, "%s:%d: %s", fpath, jerr.line, jerr.text);
	strs = json_object_get(root, "strings");
	cr_assert(json_is_array(strs) && json_array_size(strs) > 0);
	for (size_t i = 0; i < json_array_size(strs); i++) {
		check_entry(t, json_array_get(strs, i), 0, &n_checked);
		check_entry(t, json_array_get(strs, i), 1, &n_checked);
	}
	cr_expect_eq(n_checked, 2 * (int)json_array_size(strs));
	json_decref(root);
	tok_free(t);
	gguf_close(g);
}

/* Pieces after BOS give back the text with the one space SPM put in front
 * (none for "", which has no fragment to prefix). */
Test(tokenizer, round_trip)
{
	NEED_SHARED(mpath, "models/stories260K.gguf");
	NEED_SHARED(fpath, "fixtures/tokenizer-A.json");
	static const char *const more[] = {
		"  two  spaces  ", "tab\there", "caf\xc3\xa9 na\xc3\xafve",
		"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "\xf0\x9f\x99\x82!",
		"<s>not special</s>", "\n", "a\r\nb",
	};
	struct gguf *g;
	struct tokenizer *t;
	json_error_t jerr;
	json_t *root, *strs;
	int32_t ids[MAX_IDS];
	char out[8192], want[8192];

	open_real(mpath, &g, &t);
	root = json_load_file(fpath, 0, &jerr);
	cr_assert(root, "%s:%d: %s", fpath, jerr.line, jerr.text);
	strs = json_object_get(root, "strings");
	size_t n_str = json_array_size(strs);
	size_t n_all = n_str + sizeof(more) / sizeof(more[0]);

	for (size_t i = 0; i < n_all; i++) {
		const char *s;
		size_t len, wl, ol;
		int n;

		if (i < n_str) {
			json_t *js = json_object_get(json_array_get(strs, i),
						     "string");
			s = json_string_value(js);
			len = json_string_length(js);
		} else {
			s = more[i - n_str];
			len = strlen(s);
		}
		n = tok_encode(t, s, len, 1, 0, ids, MAX_IDS);
		cr_assert(n >= 1 && n <= MAX_IDS);
		cr_expect_eq(ids[0], tok_bos(t));
		ol = detok(t, ids + 1, n - 1, out, sizeof(out));
		wl = len ? (size_t)snprintf(want, sizeof(want), " %.*s",
					    (int)len, s) : 0;
		cr_expect(ol == wl && memcmp(out, want, wl) == 0,
			  "\"%s\": pieces give \"%s\"", esc(s, len),
			  esc(out, ol));
	}
	json_decref(root);
	tok_free(t);
	gguf_close(g);
}

Test(tokenizer, special_parsing)
{
	NEED_SHARED(mpath, "models/stories260K.gguf");
	struct gguf *g;
	struct tokenizer *t;
	int32_t sp[MAX_IDS], raw[MAX_IDS], hello[MAX_IDS];
	char out[256];
	int n_sp, n_raw, n_hello;
	size_t ol;

	open_real(mpath, &g, &t);
	cr_assert_eq(tok_bos(t), 1);
	cr_assert_eq(tok_eos(t), 2);

	/* "<s>" and "</s>" are CONTROL: ids only with parse_special; the
	 * text after a special token gets its own space prefix */
	n_sp = enc(t, "<s>hello</s>", 1, 1, sp);
	n_hello = enc(t, "hello", 0, 0, hello);
	cr_assert_eq(n_sp, 2 + n_hello + 1, "got %s", ids_str(sp, n_sp));
	cr_expect_eq(sp[0], 1);
	cr_expect_eq(sp[1], 1);
	expect_ids(sp + 2, n_hello, hello, n_hello, "between <s> and </s>");
	cr_expect_eq(sp[n_sp - 1], 2);

	n_raw = enc(t, "<s>hello</s>", 1, 0, raw);
	cr_expect_eq(raw[0], 1);
	for (int i = 1; i < n_raw; i++)
		cr_expect(raw[i] != 1 && raw[i] != 2,
			  "literal text gave a control id: %s",
			  ids_str(raw, n_raw));
	ol = detok(t, raw + 1, n_raw - 1, out, sizeof(out));
	cr_expect(ol == 13 && memcmp(out, " <s>hello</s>", 13) == 0,
		  "got \"%s\"", esc(out, ol));

	/* "<unk>" is UNKNOWN: matched only with parse_special, too */
	n_sp = enc(t, "<unk>", 0, 1, sp);
	cr_expect(n_sp == 1 && sp[0] == 0, "got %s", ids_str(sp, n_sp));
	n_raw = enc(t, "<unk>", 0, 0, raw);
	cr_expect(n_raw > 1, "got %s", ids_str(raw, n_raw));
	tok_free(t);
	gguf_close(g);
}

/* Characters outside the 512-token vocab go out as <0xXX> byte tokens. */
Test(tokenizer, byte_fallback)
{
	NEED_SHARED(mpath, "models/stories260K.gguf");
	static const char *const strs[] = {
		"\xe6\x97\xa5\xe6\x9c\xac",	/* 日本 */
		"\xf0\x9f\x98\x80",		/* U+1F600 */
	};
	struct gguf *g;
	struct tokenizer *t;
	int32_t ids[MAX_IDS];
	char out[256];

	open_real(mpath, &g, &t);
	for (size_t k = 0; k < sizeof(strs) / sizeof(strs[0]); k++) {
		const char *s = strs[k];
		size_t len = strlen(s), ol;
		int n = enc(t, s, 0, 0, ids);

		/* "▁" then one byte token per byte */
		cr_assert_eq(n, 1 + (int)len, "\"%s\": %s", esc(s, len),
			     ids_str(ids, n));
		for (size_t i = 0; i < len; i++) {
			char name[8];
			size_t tl;
			const char *tx = tok_text(t, ids[1 + i], &tl);

			snprintf(name, sizeof(name), "<0x%02X>",
				 (unsigned char)s[i]);
			cr_expect(tl == 6 && memcmp(tx, name, 6) == 0,
				  "byte %zu of \"%s\": %s", i, esc(s, len),
				  esc(tx, tl));
		}
		ol = detok(t, ids, n, out, sizeof(out));
		cr_expect(ol == len + 1 && out[0] == ' ' &&
			  memcmp(out + 1, s, len) == 0, "got \"%s\"",
			  esc(out, ol));
	}
	tok_free(t);
	gguf_close(g);
}

Test(tokenizer, short_buffer)
{
	NEED_SHARED(mpath, "models/stories260K.gguf");
	const char *s = "Lily and Ben went to the park.";
	struct gguf *g;
	struct tokenizer *t;
	int32_t all[MAX_IDS], few[4];
	int n_all, n;

	open_real(mpath, &g, &t);
	n_all = enc(t, s, 1, 0, all);
	cr_assert_gt(n_all, 4);
	memset(few, 0xee, sizeof(few));
	n = tok_encode(t, s, strlen(s), 1, 0, few, 3);
	cr_expect_eq(n, n_all);
	expect_ids(few, 3, all, 3, "first 3 ids");
	cr_expect_eq(few[3], (int32_t)0xeeeeeeee, "wrote past cap");
	cr_expect_eq(tok_encode(t, s, strlen(s), 1, 0, NULL, 0), n_all);
	cr_expect_eq(tok_encode(t, "", 0, 1, 0, NULL, 0), 1);
	cr_expect_eq(tok_encode(t, "", 0, 0, 0, NULL, 0), 0);
	tok_free(t);
	gguf_close(g);
}

Test(tokenizer, pieces)
{
	NEED_SHARED(mpath, "models/stories260K.gguf");
	struct gguf *g;
	struct tokenizer *t;
	char buf[64];
	int n;

	open_real(mpath, &g, &t);
	cr_expect_eq(tok_n_vocab(t), 512);
	cr_expect_eq(tok_piece(t, 1, 0, buf, sizeof(buf)), 0);	/* CONTROL */
	n = tok_piece(t, 1, 1, buf, sizeof(buf));
	cr_expect(n == 3 && memcmp(buf, "<s>", 3) == 0);
	cr_expect_eq(tok_piece(t, 0, 0, buf, sizeof(buf)), 0);	/* UNKNOWN */
	n = tok_piece(t, 0, 1, buf, sizeof(buf));
	cr_expect(n == 5 && memcmp(buf, "<unk>", 5) == 0);
	n = tok_piece(t, 13, 0, buf, sizeof(buf));		/* <0x0A> */
	cr_expect(n == 1 && buf[0] == '\n');
	n = tok_piece(t, 265, 0, buf, sizeof(buf));		/* ▁the */
	cr_expect(n == 4 && memcmp(buf, " the", 4) == 0);
	n = tok_piece(t, 265, 0, buf, 2);			/* cut */
	cr_expect(n == 2 && memcmp(buf, " t", 2) == 0);
	cr_expect_eq(tok_piece(t, 512, 0, buf, sizeof(buf)), -1);
	cr_expect_eq(tok_piece(t, -1, 0, buf, sizeof(buf)), -1);
	cr_expect_null(tok_text(t, 512, NULL));
	tok_free(t);
	gguf_close(g);
}

/* Long input: merges stay O(n log n) and the text comes back. */
Test(tokenizer, long_text)
{
	NEED_SHARED(mpath, "models/stories260K.gguf");
	const char *unit = "Once upon a time, there was a little girl named "
			   "Lily. She loved to play outside.\n";
	size_t ul = strlen(unit), reps = 4000, len = ul * reps, ol;
	struct gguf *g;
	struct tokenizer *t;
	char *text = malloc(len), *out = malloc(len + 16);
	int32_t *ids;
	int n;

	cr_assert(text && out);
	for (size_t i = 0; i < reps; i++)
		memcpy(text + i * ul, unit, ul);
	open_real(mpath, &g, &t);
	n = tok_encode(t, text, len, 1, 0, NULL, 0);
	cr_assert_gt(n, 0);
	ids = malloc((size_t)n * sizeof(*ids));
	cr_assert(ids);
	cr_assert_eq(tok_encode(t, text, len, 1, 0, ids, n), n);
	ol = detok(t, ids + 1, n - 1, out, len + 16);
	cr_expect(ol == len + 1 && out[0] == ' ' &&
		  memcmp(out + 1, text, len) == 0);
	free(ids);
	free(out);
	free(text);
	tok_free(t);
	gguf_close(g);
}

/* --- synthetic vocabs ----------------------------------------------------- */

struct vspec {
	const char *text;
	float score;
	int32_t type;
};

/* <unk> <s> </s>, as SPM vocabs start. */
#define VOCAB_HEAD                                                            \
	{ "<unk>", 0, TOK_UNKNOWN }, { "<s>", 0, TOK_CONTROL },               \
	{ "</s>", 0, TOK_CONTROL }

/* Adds model "llama" and tokens/scores/token_type from v. */
static void add_vocab(struct gguf_writer *w, const struct vspec *v, int n)
{
	const char *texts[64];
	float scores[64];
	int32_t types[64];

	cr_assert(n <= 64);
	for (int i = 0; i < n; i++) {
		texts[i] = v[i].text;
		scores[i] = v[i].score;
		types[i] = v[i].type;
	}
	cr_assert_eq(gguf_w_str(w, "tokenizer.ggml.model", "llama"), 0);
	cr_assert_eq(gguf_w_arr_str(w, "tokenizer.ggml.tokens", texts,
				    (uint64_t)n), 0);
	cr_assert_eq(gguf_w_arr_f32(w, "tokenizer.ggml.scores", scores,
				    (uint64_t)n), 0);
	cr_assert_eq(gguf_w_arr_i32(w, "tokenizer.ggml.token_type", types,
				    (uint64_t)n), 0);
}

/* Serializes w (and frees it) and opens the result; *buf backs *g. */
static struct gguf *open_w(struct gguf_writer *w, uint8_t **buf)
{
	struct gguf *g;
	size_t size;
	char err[512];

	cr_assert_eq(gguf_w_to_mem(w, buf, &size, err, sizeof(err)), 0, "%s",
		     err);
	gguf_w_free(w);
	cr_assert_eq(gguf_open_mem(*buf, size, "synth.gguf", &g, err,
				   sizeof(err)), 0, "%s", err);
	return g;
}

/* A tokenizer over v; space_prefix -1 leaves the key out. */
static struct tokenizer *synth(const struct vspec *v, int n,
			       int space_prefix, struct gguf **g,
			       uint8_t **buf)
{
	struct gguf_writer *w = gguf_w_new();
	struct tokenizer *t;
	char err[512];

	cr_assert(w);
	add_vocab(w, v, n);
	if (space_prefix >= 0)
		cr_assert_eq(gguf_w_bool(w, "tokenizer.ggml.add_space_prefix",
					 space_prefix), 0);
	*g = open_w(w, buf);
	cr_assert_eq(tok_create(*g, &t, err, sizeof(err)), 0, "%s", err);
	return t;
}

static void synth_free(struct tokenizer *t, struct gguf *g, uint8_t *buf)
{
	tok_free(t);
	gguf_close(g);
	free(buf);
}

/* Encodes s without BOS and compares with want. */
static void expect_enc(const struct tokenizer *t, const char *s, int ps,
		       const int32_t *want, int n_want)
{
	int32_t got[MAX_IDS];
	int n = enc(t, s, 0, ps, got);
	char what[128];

	snprintf(what, sizeof(what), "\"%s\" parse_special=%d",
		 esc(s, strlen(s)), ps);
	expect_ids(got, n, want, n_want, what);
}

/* Equal scores: the leftmost pair merges first. */
Test(tokenizer, merge_tie_leftmost)
{
	static const struct vspec v[] = {
		VOCAB_HEAD, { "a", 0, 1 }, { "aa", 0, 1 },	/* 3, 4 */
	};
	struct gguf *g;
	uint8_t *buf;
	struct tokenizer *t = synth(v, 5, 0, &g, &buf);

	expect_enc(t, "aaa", 0, (int32_t[]){ 4, 3 }, 2);
	expect_enc(t, "aaaa", 0, (int32_t[]){ 4, 4 }, 2);
	expect_enc(t, "aaaaa", 0, (int32_t[]){ 4, 4, 3 }, 3);
	synth_free(t, g, buf);
}

/* Higher score first wherever it is; a queued pair whose side grew since
 * is stale and must not merge. */
Test(tokenizer, merge_priority_and_stale)
{
	static const struct vspec v[] = {
		VOCAB_HEAD, { "b", 0, 1 }, { "c", 0, 1 }, { "d", 0, 1 },
		{ "bc", -2, 1 }, { "cd", -1, 1 },		/* 6, 7 */
		{ "x", 0, 1 }, { "y", 0, 1 }, { "xy", -5, 1 },	/* 8-10 */
		{ "xyb", -1, 1 }, { "yb", -9, 1 },		/* 11, 12 */
	};
	static const struct vspec w[] = {
		VOCAB_HEAD, { "b", 0, 1 }, { "c", 0, 1 }, { "d", 0, 1 },
		{ "bc", -2, 1 }, { "cd", -1, 1 }, { "bcd", -3, 1 },
	};
	struct gguf *g;
	uint8_t *buf;
	struct tokenizer *t = synth(v, 13, 0, &g, &buf);

	/* cd (-1) beats bc (-2); then (b, cd) is stale: "bcd" is no token */
	expect_enc(t, "bcd", 0, (int32_t[]){ 3, 7 }, 2);
	expect_enc(t, "bc", 0, (int32_t[]){ 6 }, 1);
	/* xy (-5) beats yb (-9); then xy+b = "xyb" (-1) */
	expect_enc(t, "xyb", 0, (int32_t[]){ 11 }, 1);
	synth_free(t, g, buf);

	t = synth(w, 9, 0, &g, &buf);
	expect_enc(t, "bcd", 0, (int32_t[]){ 8 }, 1);
	synth_free(t, g, buf);
}

/* Space prefix and U+2581; a missing byte token falls back to the
 * one-byte text, then to UNK; a truncated UTF-8 lead byte swallows the
 * bytes it claims (llama.cpp's utf8_len). */
Test(tokenizer, spaces_and_fallbacks)
{
	static const struct vspec v[] = {
		VOCAB_HEAD, { "a", 0, 1 }, { "b", 0, 1 }, { "ab", 0, 1 },
		{ "\xe2\x96\x81", 0, 1 }, { "\xe2\x96\x81" "a", 0, 1 },
		{ "\xc3", 0, 1 }, { "<0xA9>", 0, TOK_BYTE },	/* 8, 9 */
	};
	struct gguf *g;
	uint8_t *buf;
	struct tokenizer *t = synth(v, 10, -1, &g, &buf);
	int32_t ids[8];

	expect_enc(t, "a", 0, (int32_t[]){ 7 }, 1);
	expect_enc(t, "b a", 0, (int32_t[]){ 6, 4, 7 }, 3);
	/* "▁a" and "ab" tie on score: the leftmost pair merges first */
	expect_enc(t, "ab", 0, (int32_t[]){ 7, 4 }, 2);
	/* é = C3 A9: "\xc3" as text, A9 as <0xA9> */
	expect_enc(t, "\xc3\xa9", 0, (int32_t[]){ 6, 8, 9 }, 3);
	/* E6 claims 3 bytes: "\xe6ab" is one symbol, so not "ab" */
	expect_enc(t, "\xe6" "ab", 0, (int32_t[]){ 6, 0, 3, 4 }, 4);
	cr_expect_eq(tok_encode(t, "", 0, 1, 0, ids, 8), 1);
	cr_expect_eq(ids[0], 1);
	synth_free(t, g, buf);

	t = synth(v, 10, 0, &g, &buf);
	expect_enc(t, "b a", 0, (int32_t[]){ 4, 7 }, 2);
	expect_enc(t, "ab", 0, (int32_t[]){ 5 }, 1);
	synth_free(t, g, buf);
}

/* USER_DEFINED tokens split the text even without parse_special, longest
 * first; llama.cpp forces "<end_of_turn>" to CONTROL. */
Test(tokenizer, special_types)
{
	static const struct vspec v[] = {
		VOCAB_HEAD, { "x", 0, 1 }, { "\xe2\x96\x81" "x", 0, 1 },
		{ "<t>", 0, TOK_USER_DEFINED }, { "<t><u>", 0, 4 },
		{ "<end_of_turn>", 0, TOK_USER_DEFINED },	/* 7 */
		{ "", 0, 1 },					/* 8 */
		{ "\xe2\x96\x81", 0, 1 },			/* 9 */
	};
	struct gguf *g;
	uint8_t *buf;
	struct tokenizer *t = synth(v, 10, -1, &g, &buf);
	int32_t ids[MAX_IDS];
	char pc[32];
	size_t tl;
	const char *tx;
	int n;

	for (int ps = 0; ps < 2; ps++) {
		expect_enc(t, "x<t>x", ps, (int32_t[]){ 4, 5, 4 }, 3);
		expect_enc(t, "<t><u>x", ps, (int32_t[]){ 6, 4 }, 2);
		expect_enc(t, "<t><t>", ps, (int32_t[]){ 5, 5 }, 2);
	}
	expect_enc(t, "<end_of_turn>x", 1, (int32_t[]){ 7, 4 }, 2);
	n = enc(t, "<end_of_turn>", 0, 0, ids);
	cr_expect(n > 1, "matched without parse_special: %s",
		  ids_str(ids, n));
	cr_expect_eq(tok_piece(t, 7, 0, pc, sizeof(pc)), 0);
	cr_expect_eq(tok_piece(t, 5, 0, pc, sizeof(pc)), 3);

	/* llama.cpp renames an empty token "[EMPTY_<id>]" */
	tx = tok_text(t, 8, &tl);
	cr_expect(tl == 9 && memcmp(tx, "[EMPTY_8]", 9) == 0, "got \"%s\"",
		  esc(tx, tl));
	synth_free(t, g, buf);
}

Test(tokenizer, bos_eos_flags)
{
	static const struct vspec v[] = {
		VOCAB_HEAD, { "\xe2\x96\x81" "a", 0, 1 },
	};
	struct gguf_writer *w = gguf_w_new();
	struct tokenizer *t;
	struct gguf *g;
	uint8_t *buf;
	int32_t ids[8];
	char err[512];

	cr_assert(w);
	add_vocab(w, v, 4);
	gguf_w_bool(w, "tokenizer.ggml.add_bos_token", 0);
	gguf_w_bool(w, "tokenizer.ggml.add_eos_token", 1);
	gguf_w_u32(w, "tokenizer.ggml.eos_token_id", 1);
	g = open_w(w, &buf);
	cr_assert_eq(tok_create(g, &t, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(tok_eos(t), 1);
	cr_expect_eq(tok_encode(t, "a", 1, 1, 0, ids, 8), 2);
	cr_expect(ids[0] == 3 && ids[1] == 1);
	cr_expect_eq(tok_encode(t, "a", 1, 0, 0, ids, 8), 1);
	synth_free(t, g, buf);
}

/* --- refusals ------------------------------------------------------------- */

enum breakage {
	NO_TOKENS, NO_MODEL, MODEL_GPT2, SCORES_SHORT, TYPES_LONG,
	SCORES_I32, BOS_RANGE, DUP_TEXT, ADD_BOS_U32,
};

static void expect_refusal(enum breakage b, const char *key)
{
	static const char *const texts[] = { "<unk>", "<s>", "</s>", "a" };
	static const char *const dup[] = { "<unk>", "<s>", "</s>", "<s>" };
	static const float scores[] = { 0, 0, 0, 0, 0 };
	static const int32_t types[] = { 2, 3, 3, 1, 1 };
	struct gguf_writer *w = gguf_w_new();
	struct tokenizer *t = (struct tokenizer *)&t;
	struct gguf *g;
	uint8_t *buf;
	char err[512] = "";

	cr_assert(w);
	if (b != NO_MODEL)
		gguf_w_str(w, "tokenizer.ggml.model",
			   b == MODEL_GPT2 ? "gpt2" : "llama");
	if (b != NO_TOKENS)
		gguf_w_arr_str(w, "tokenizer.ggml.tokens",
			       b == DUP_TEXT ? dup : texts, 4);
	if (b == SCORES_I32)
		gguf_w_arr_i32(w, "tokenizer.ggml.scores", types, 4);
	else
		gguf_w_arr_f32(w, "tokenizer.ggml.scores", scores,
			       b == SCORES_SHORT ? 3 : 4);
	gguf_w_arr_i32(w, "tokenizer.ggml.token_type", types,
		       b == TYPES_LONG ? 5 : 4);
	if (b == BOS_RANGE)
		gguf_w_u32(w, "tokenizer.ggml.bos_token_id", 4);
	if (b == ADD_BOS_U32)
		gguf_w_u32(w, "tokenizer.ggml.add_bos_token", 1);
	g = open_w(w, &buf);
	cr_expect_eq(tok_create(g, &t, err, sizeof(err)), -1,
		     "breakage %d accepted", b);
	cr_expect_null(t);
	cr_expect(strstr(err, key) && strstr(err, "synth.gguf"),
		  "breakage %d: message \"%s\" lacks %s or the file name", b,
		  err, key);
	cr_expect_null(strchr(err, '\n'), "two lines: %s", err);
	gguf_close(g);
	free(buf);
}

Test(tokenizer, refusals)
{
	expect_refusal(NO_TOKENS, "tokenizer.ggml.tokens");
	expect_refusal(NO_MODEL, "tokenizer.ggml.model");
	expect_refusal(MODEL_GPT2, "tokenizer.ggml.model");
	expect_refusal(SCORES_SHORT, "tokenizer.ggml.scores");
	expect_refusal(TYPES_LONG, "tokenizer.ggml.token_type");
	expect_refusal(SCORES_I32, "tokenizer.ggml.scores");
	expect_refusal(BOS_RANGE, "tokenizer.ggml.bos_token_id");
	expect_refusal(DUP_TEXT, "tokenizer.ggml.tokens");
	expect_refusal(ADD_BOS_U32, "tokenizer.ggml.add_bos_token");
}

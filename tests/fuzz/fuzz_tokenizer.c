/* fuzz_tokenizer.c - the SentencePiece tokenizer on arbitrary text, with
 * the vocab of the synthetic model (byte fallback, whole-word pieces):
 * encoding never overflows, the sizing call agrees with the filling one,
 * every id is in the vocab, and on valid UTF-8 the pieces of the ids give
 * back " " + the text (SentencePiece's space prefix).  The first byte
 * picks the flags (add BOS, parse special tokens). */
#include <string.h>
#include "fuzz.h"
#include "gguf.h"
#include "gguf_write.h"
#include "synth.h"
#include "tokenizer.h"

/* The synthetic model's vocab, built once (kept for the process). */
static const struct tokenizer *vocab(void)
{
	static struct tokenizer *t;
	static struct gguf *g;
	struct synth_cfg c;
	struct synth *s;
	uint8_t *buf;
	size_t n;
	char err[256];

	if (t)
		return t;
	synth_default(&c, SYNTH_LLAMA);
	c.n_layer = 1;
	c.n_embd = 32;
	c.n_head = 1;
	c.n_head_kv = 1;
	c.head_dim = 32;
	c.n_ff = 32;
	if (synth_create(&c, &s, err, sizeof err) ||
	    gguf_w_to_mem(synth_writer(s), &buf, &n, err, sizeof err) ||
	    gguf_open_mem(buf, n, "synth", &g, err, sizeof err) ||
	    tok_create(g, &t, err, sizeof err))
		fuzz_fail("cannot build the vocab: %s", err);
	synth_free(s);
	return t;	/* buf and g stay: t's strings point into them */
}

/* 1 if s[0..n) is valid UTF-8 without U+2581 (which decodes as a space). */
static int plain_utf8(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		const unsigned c = s[i];
		size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 :
			     (c >> 3) == 30 ? 4 : 0;
		if (!len || i + len > n)
			return 0;
		for (size_t k = 1; k < len; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
		if (len == 3 && c == 0xe2 && s[i + 1] == 0x96 && s[i + 2] == 0x81)
			return 0;
		i += len;
	}
	return 1;
}

FUZZ(tokenizer)
{
	const struct tokenizer *t = vocab();
	const int add_bos = size && (data[0] & 1), special = size && (data[0] & 2);
	const char *text = (const char *)data + (size > 0);
	const size_t len = size - (size > 0);
	int32_t ids[3 * 900 + 4];
	char out[16384], piece[256];
	size_t ol = 0;

	if (len > 900)
		return 0;	/* bounded work per input */
	const int n = tok_encode(t, text, len, add_bos, special, NULL, 0);
	/* at most one id per byte once every space (and the prefix) has
	 * become U+2581's 3 bytes, plus BOS */
	if (n < 0 || n > 3 * (int)len + 4)
		fuzz_fail("sizing call: %d ids for %zu bytes", n, len);
	if (tok_encode(t, text, len, add_bos, special, ids,
		       (int)(sizeof ids / sizeof *ids)) != n)
		fuzz_fail("the filling call disagrees with the sizing call");
	for (int i = 0; i < n; i++) {
		if (ids[i] < 0 || ids[i] >= tok_n_vocab(t))
			fuzz_fail("id %d out of the vocab", ids[i]);
		int k = tok_piece(t, ids[i], 0, piece, sizeof piece);
		if (k < 0 || ol + (size_t)k > sizeof out)
			fuzz_fail("piece of id %d: %d", ids[i], k);
		memcpy(out + ol, piece, (size_t)k);
		ol += (size_t)k;
	}
	if (!special && plain_utf8((const uint8_t *)text, len) && len &&
	    (ol != len + 1 || out[0] != ' ' || memcmp(out + 1, text, len)))
		fuzz_fail("round trip: %zu bytes in, %zu out", len, ol);
	return 0;
}

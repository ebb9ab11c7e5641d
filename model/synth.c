/* synth.c - a deterministic synthetic GGUF model; see synth.h.
 *
 * One tensor plan, two readers: synth_size() walks it to count bytes,
 * synth_create() walks it to generate weights and hand them to the writer.
 * The metadata goes through the same emitter in both, so the computed size
 * and the written file cannot drift apart. */
#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf_write.h"
#include "hash.h"
#include "q8.h"
#include "rng.h"
#include "synth.h"

#define GGUF_ALIGN	32	/* llama.cpp's default general.alignment */
#define FILE_TYPE_Q8_0	7	/* llama_ftype LLAMA_FTYPE_MOSTLY_Q8_0 */
#define QUANT_VERSION	2	/* GGML_QNT_VERSION */
#define SPM_SPACE	"\xe2\x96\x81"	/* U+2581, SentencePiece's space */

/* Upper limits: far above any model this project runs, low enough that no
 * size below overflows 64 bits (worst tensor 2^18 x 2^16 x 34/32 bytes). */
#define MAX_LAYER	1024u
#define MAX_EMBD	65536u
#define MAX_HEAD	1024u
#define MAX_HEAD_DIM	4096u
#define MAX_QDIM	262144u
#define MAX_FF		262144u
#define MAX_CTX		(1u << 24)
#define MAX_FILE	(1ull << 40)	/* 1 TiB: the whole file is built in memory */

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Writes one formatted line into err (if any). */
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- PRNG: xoshiro256** seeded through splitmix64 ---------------------- */

struct rng {
	uint64_t s[4];
};

/* Seeds r with the stream for (seed, name): each tensor's weights depend
 * only on the seed and its own name, not on what came before it. */
static void rng_init(struct rng *r, uint64_t seed, const char *name)
{
	uint64_t x = seed ^ fnv1a64_str(name);

	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* Next xoshiro256** output. */
static inline uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

/* Approximately standard normal (Irwin-Hall sum of four 16-bit uniforms
 * from one draw): mean exactly 0, std 1, bounded at +-3.46. */
static inline float rng_gauss(struct rng *r)
{
	uint64_t x = rng_next(r);
	int32_t s = (int32_t)(x & 0xffff) + (int32_t)((x >> 16) & 0xffff) +
		    (int32_t)((x >> 32) & 0xffff) + (int32_t)(x >> 48) - 131070;

	/* sqrt(4 * (65536^2 - 1) / 12) */
	return (float)s * (1.0f / 37837.227f);
}

/* ---- vocabulary --------------------------------------------------------- */

/* Whole words, each reachable by SentencePiece merges: the vocab holds
 * every prefix of SPM_SPACE + word, and every single character used.  All
 * multi-character pieces start with SPM_SPACE, so the only bigram inside a
 * word is (the word's growing head, next character): a word in this list
 * always ends as one token, whatever the scores. */
static const char *const words[] = {
	"the", "a", "an", "and", "or", "but", "of", "to", "in", "on", "at",
	"by", "for", "with", "from", "up", "down", "out", "over", "under",
	"into", "about", "after", "before", "then", "than", "so", "if", "as",
	"is", "are", "was", "were", "be", "been", "have", "has", "had", "do",
	"did", "does", "not", "no", "yes", "can", "could", "will", "would",
	"should", "may", "must", "it", "its", "he", "she", "they", "we",
	"you", "I", "me", "him", "her", "them", "us", "my", "your", "his",
	"their", "our", "this", "that", "these", "those", "there", "here",
	"what", "who", "when", "where", "why", "how", "which", "all", "some",
	"any", "one", "two", "three", "many", "much", "more", "most", "very",
	"just", "only", "also", "again", "too", "now", "said", "say", "go",
	"went", "going", "come", "came", "see", "saw", "look", "looked",
	"like", "liked", "love", "loved", "want", "wanted", "know", "knew",
	"think", "thought", "make", "made", "take", "took", "get", "got",
	"give", "gave", "find", "found", "play", "played", "help", "helped",
	"run", "ran", "day", "night", "time", "once", "upon", "little", "big",
	"small", "happy", "sad", "good", "bad", "new", "old", "friend",
	"friends", "mom", "dad", "girl", "boy", "dog", "cat", "bird", "fish",
	"tree", "house", "home", "park", "ball", "toy", "sun", "sky", "water",
	"world", "hello", "name", "named", "people", "man", "woman", "child",
	"way", "thing", "things", "year", "hand", "eyes", "head", "long",
	"great", "first", "last", "next", "other", "same", "every", "each",
	"because", "while", "away", "back", "around", "something", "nothing",
	"everything", "always", "never", "together", "tell", "told", "feel",
	"felt", "red", "blue", "green", "best", "nice", "fun", "kind",
	"brave", "school", "book", "story", "flower", "food", "cake", "apple",
	"smile", "smiled", "laugh", "laughed", "cried", "asked", "tried",
	"began", "hug", "car", "box", "door", "room", "bed", "table",
	"sister", "family", "baby", "Hello", "Once", "The", "One", "She",
	"He", "They", "It", "There", "Lily", "Tom", "Ben", "Sue", "Max",
	"Mia", "Tim", "Anna", "But", "When", "Then",
};

/* Single characters besides SPM_SPACE; anything else falls back to
 * <0xNN> byte tokens. */
static const char singles[] =
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	".,!?'\":;-()";

#define N_WORDS (sizeof(words) / sizeof(words[0]))

/* tokenizer.ggml.token_type values (llama_token_type) */
enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_BYTE = 6 };

struct vocab {
	uint32_t n, cap;
	const char **text;	/* (cap) NUL-terminated pieces, into arena */
	float *score;		/* (cap) */
	int32_t *type;		/* (cap) tokenizer.ggml.token_type values */
	char *arena;
	size_t used, arena_cap;
	uint32_t *slot;		/* (n_slot) open addressing: id + 1, 0 empty */
	uint32_t n_slot;	/* power of two, >= 2 * cap */
};

/* Frees what vocab_build allocated (safe on a zeroed vocab). */
static void vocab_free(struct vocab *v)
{
	free(v->text);
	free(v->score);
	free(v->type);
	free(v->arena);
	free(v->slot);
	memset(v, 0, sizeof(*v));
}

/* Appends piece s (len bytes) unless already present.  vocab_build sizes
 * the arrays for every piece it can add. */
static void vocab_add(struct vocab *v, const char *s, size_t len,
		      float score, int32_t type)
{
	uint64_t h = fnv1a64(FNV64_OFFSET, s, len);
	uint32_t i;

	for (i = (uint32_t)h & (v->n_slot - 1); v->slot[i];
	     i = (i + 1) & (v->n_slot - 1)) {
		const char *t = v->text[v->slot[i] - 1];

		if (strlen(t) == len && !memcmp(t, s, len))
			return;
	}
	assert(v->n < v->cap && v->used + len + 1 <= v->arena_cap);
	char *p = v->arena + v->used;

	memcpy(p, s, len);
	p[len] = '\0';
	v->used += len + 1;
	v->text[v->n] = p;
	v->score[v->n] = score;
	v->type[v->n] = type;
	v->slot[i] = ++v->n;
}

/* Builds the embedded vocabulary, llama/SentencePiece layout: 0 <unk>,
 * 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, then normal pieces (SPM_SPACE,
 * single characters, then for each word every prefix of SPM_SPACE + word).
 * A normal piece of c characters scores c - 64 - id / (4 * cap): negative
 * like SentencePiece log-probabilities, longer pieces always higher,
 * earlier (more common) pieces first among equals.  0, or -1 on
 * allocation failure. */
static int vocab_build(struct vocab *v)
{
	size_t arena = 3 * 8 + 256 * 7 + 4 + 2 * sizeof(singles);
	uint32_t cap = 3 + 256 + 1 + (uint32_t)sizeof(singles);
	char buf[64];

	memset(v, 0, sizeof(*v));
	for (size_t w = 0; w < N_WORDS; w++) {
		size_t len = strlen(words[w]);

		cap += (uint32_t)len;
		arena += len * (sizeof(SPM_SPACE) + 1) + len * (len + 1) / 2;
	}
	v->cap = cap;
	v->arena_cap = arena;
	for (v->n_slot = 1; v->n_slot < 2 * cap; v->n_slot <<= 1)
		;
	v->text = calloc(cap, sizeof(*v->text));
	v->score = calloc(cap, sizeof(*v->score));
	v->type = calloc(cap, sizeof(*v->type));
	v->arena = malloc(arena);
	v->slot = calloc(v->n_slot, sizeof(*v->slot));
	if (!v->text || !v->score || !v->type || !v->arena || !v->slot)
		goto fail;

	const float tie = 1.0f / (4.0f * (float)cap);

	vocab_add(v, "<unk>", 5, 0.0f, TT_UNKNOWN);
	vocab_add(v, "<s>", 3, 0.0f, TT_CONTROL);
	vocab_add(v, "</s>", 4, 0.0f, TT_CONTROL);
	for (int b = 0; b < 256; b++) {
		snprintf(buf, sizeof(buf), "<0x%02X>", b);
		vocab_add(v, buf, 6, 0.0f, TT_BYTE);
	}
	vocab_add(v, SPM_SPACE, 3, 1.0f - 64.0f - v->n * tie, TT_NORMAL);
	for (size_t k = 0; singles[k]; k++)
		vocab_add(v, &singles[k], 1, 1.0f - 64.0f - v->n * tie,
			  TT_NORMAL);
	for (size_t w = 0; w < N_WORDS; w++) {
		size_t len = strlen(words[w]);

		assert(len + sizeof(SPM_SPACE) <= sizeof(buf));
		memcpy(buf, SPM_SPACE, 3);
		memcpy(buf + 3, words[w], len);
		for (size_t c = 1; c <= len; c++)	/* c letters after the space */
			vocab_add(v, buf, 3 + c,
				  (float)(c + 1) - 64.0f - v->n * tie,
				  TT_NORMAL);
	}
	return 0;
fail:
	vocab_free(v);
	return -1;
}

uint32_t synth_n_vocab(void)
{
	struct vocab v;
	uint32_t n;

	if (vocab_build(&v))
		return 0;
	n = v.n;
	vocab_free(&v);
	return n;
}

/* ---- configuration ------------------------------------------------------ */

void synth_default(struct synth_cfg *c, enum synth_arch arch)
{
	memset(c, 0, sizeof(*c));
	c->arch = arch;
	c->n_layer = 24;
	c->n_embd = 768;
	c->n_head = 3;
	c->n_head_kv = 1;
	c->head_dim = 256;
	c->n_ff = 2304;
	c->n_ctx = 2048;
	c->seed = 0;
	c->tied = arch == SYNTH_GEMMA;
}

const char *synth_arch_name(enum synth_arch a)
{
	switch (a) {
	case SYNTH_GEMMA:
		return "gemma";
	case SYNTH_LLAMA:
		return "llama";
	}
	return "?";
}

int synth_arch_parse(const char *s, enum synth_arch *out)
{
	if (!strcmp(s, "gemma"))
		*out = SYNTH_GEMMA;
	else if (!strcmp(s, "llama"))
		*out = SYNTH_LLAMA;
	else
		return -1;
	return 0;
}

/* 0 if lo <= x <= hi and x % mult == 0, else -1 with a message. */
static int check_dim(const char *field, uint32_t x, uint32_t lo, uint32_t hi,
		     uint32_t mult, char *err, size_t errlen)
{
	if (x < lo || x > hi) {
		seterr(err, errlen, "synth: %s = %u is out of range [%u, %u]",
		       field, x, lo, hi);
		return -1;
	}
	if (x % mult) {
		seterr(err, errlen,
		       "synth: %s = %u is not a multiple of %u%s", field, x,
		       mult, mult == QK8_0 ? " (the Q8_0 block size)" : "");
		return -1;
	}
	return 0;
}

int synth_check(const struct synth_cfg *c, char *err, size_t errlen)
{
	if (c->arch != SYNTH_GEMMA && c->arch != SYNTH_LLAMA) {
		seterr(err, errlen, "synth: unknown arch %d", (int)c->arch);
		return -1;
	}
	if (check_dim("n_layer", c->n_layer, 1, MAX_LAYER, 1, err, errlen) ||
	    check_dim("n_embd", c->n_embd, QK8_0, MAX_EMBD, QK8_0, err,
		      errlen) ||
	    check_dim("n_head", c->n_head, 1, MAX_HEAD, 1, err, errlen) ||
	    check_dim("n_head_kv", c->n_head_kv, 1, c->n_head, 1, err,
		      errlen) ||
	    check_dim("head_dim", c->head_dim, 2, MAX_HEAD_DIM, 2, err,
		      errlen) ||
	    check_dim("n_ff", c->n_ff, QK8_0, MAX_FF, QK8_0, err, errlen) ||
	    check_dim("n_ctx", c->n_ctx, 1, MAX_CTX, 1, err, errlen))
		return -1;
	if (c->n_head % c->n_head_kv) {
		seterr(err, errlen,
		       "synth: n_head = %u is not a multiple of n_head_kv = %u",
		       c->n_head, c->n_head_kv);
		return -1;
	}
	/* both factors are capped above, so the product fits 32 bits */
	if (check_dim("n_head * head_dim", c->n_head * c->head_dim, QK8_0,
		      MAX_QDIM, QK8_0, err, errlen))
		return -1;
	if (c->arch == SYNTH_GEMMA && !c->tied) {
		seterr(err, errlen,
		       "synth: gemma always ties output to token_embd");
		return -1;
	}
	return 0;
}

/* ---- tensor plan -------------------------------------------------------- */

struct stensor {
	char name[48];		/* "blk.N.attn_q.weight" */
	enum ggml_type type;	/* Q8_0 matrices, F32 norms */
	uint32_t n_dims;
	uint64_t ne[2];		/* ne[0] = row length = input dim */
	float std;		/* Q8_0: weight std; F32: noise around 1 */
	uint64_t size;		/* bytes */
	void *data;		/* into the handle's arena */
};

/* Fills t; returns t + 1.  ne1 == 0 means a 1-D tensor (a norm). */
static struct stensor *plan_one(struct stensor *t, const char *name,
				uint64_t ne0, uint64_t ne1, float std)
{
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->ne[0] = ne0;
	t->ne[1] = ne1 ? ne1 : 1;
	t->n_dims = ne1 ? 2 : 1;
	t->std = std;
	t->type = ne1 ? GGML_TYPE_Q8_0 : GGML_TYPE_F32;
	t->size = ne1 ? ne0 / QK8_0 * sizeof(block_q8_0) * ne1 : ne0 * 4;
	return t + 1;
}

/* The tensors of c, for a vocab of nv tokens, in llama.cpp's file order
 * (token_embd, blocks, output_norm, output).  Returns a malloc'd array (caller frees) and its
 * length in *n, or NULL on allocation failure.  c must pass synth_check.
 *
 * Weights are ~N(0, std^2) with std = 1/sqrt(n_in), so every matmul output
 * has unit variance when its input (RMS-normed) does.  Embeddings: gemma
 * multiplies them by sqrt(n_embd) at run time, and a tied table is also
 * the output projection, so those get 1/sqrt(n_embd) (unit activations,
 * unit-variance logits); an untied llama table gets std 1. */
static struct stensor *plan(const struct synth_cfg *c, uint32_t nv,
			    uint32_t *n)
{
	const uint64_t q = (uint64_t)c->n_head * c->head_dim;
	const uint64_t kv = (uint64_t)c->n_head_kv * c->head_dim;
	const float s_embd = 1.0f / sqrtf((float)c->n_embd);
	const float s_q = 1.0f / sqrtf((float)q);
	const float s_ff = 1.0f / sqrtf((float)c->n_ff);
	const float norm = 0.02f;
	char name[48];

	*n = 2 + 9 * c->n_layer + !c->tied;
	struct stensor *tab = calloc(*n, sizeof(*tab));
	struct stensor *t = tab;

	if (!tab)
		return NULL;
	t = plan_one(t, "token_embd.weight", c->n_embd, nv,
		     c->tied ? s_embd : 1.0f);
	for (uint32_t l = 0; l < c->n_layer; l++) {
#define BLK(what) (snprintf(name, sizeof(name), "blk.%u." what ".weight", l), name)
		t = plan_one(t, BLK("attn_norm"), c->n_embd, 0, norm);
		t = plan_one(t, BLK("attn_q"), c->n_embd, q, s_embd);
		t = plan_one(t, BLK("attn_k"), c->n_embd, kv, s_embd);
		t = plan_one(t, BLK("attn_v"), c->n_embd, kv, s_embd);
		t = plan_one(t, BLK("attn_output"), q, c->n_embd, s_q);
		t = plan_one(t, BLK("ffn_norm"), c->n_embd, 0, norm);
		t = plan_one(t, BLK("ffn_gate"), c->n_embd, c->n_ff, s_embd);
		t = plan_one(t, BLK("ffn_up"), c->n_embd, c->n_ff, s_embd);
		t = plan_one(t, BLK("ffn_down"), c->n_ff, c->n_embd, s_ff);
#undef BLK
	}
	t = plan_one(t, "output_norm.weight", c->n_embd, 0, norm);
	if (!c->tied)
		t = plan_one(t, "output.weight", c->n_embd, nv, s_embd);
	return tab;
}

#define ARENA_ALIGN 32

static uint64_t arena_round(uint64_t n)
{
	return (n + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
}

/* Generates t->data from the (seed, name) stream; row is scratch for
 * t->ne[0] floats. */
static void fill(struct stensor *t, uint64_t seed, float *row)
{
	struct rng r;
	const uint64_t ne0 = t->ne[0];

	rng_init(&r, seed, t->name);
	if (t->type == GGML_TYPE_F32) {
		float *x = t->data;

		for (uint64_t i = 0; i < ne0; i++)
			x[i] = 1.0f + t->std * rng_gauss(&r);
		return;
	}
	block_q8_0 *b = t->data;

	for (uint64_t j = 0; j < t->ne[1]; j++, b += ne0 / QK8_0) {
		for (uint64_t i = 0; i < ne0; i++)
			row[i] = t->std * rng_gauss(&r);
		q8_quantize_weights(row, b, (int64_t)ne0);
	}
}

/* ---- metadata emitter: counts bytes, and writes when w is set ----------- */

struct emit {
	struct gguf_writer *w;	/* NULL: only count */
	uint64_t meta;		/* header, key-values, tensor infos */
	uint64_t data;		/* tensor data, each padded to GGUF_ALIGN */
	const char *bad;	/* first key or tensor the writer refused */
};

/* Records a refusal by the writer (allocation failure). */
static void em_rc(struct emit *e, int rc, const char *what)
{
	if (rc && !e->bad)
		e->bad = what;
}

/* Each em_* below counts one key-value (or tensor info and padded data)
 * as GGUF v3 lays it out, and adds it to the writer when there is one. */
static void em_key(struct emit *e, const char *key)
{
	e->meta += 8 + strlen(key) + 4;		/* string key, value type */
}

static void em_u32(struct emit *e, const char *key, uint32_t v)
{
	em_key(e, key);
	e->meta += 4;
	if (e->w)
		em_rc(e, gguf_w_u32(e->w, key, v), key);
}

static void em_f32(struct emit *e, const char *key, float v)
{
	em_key(e, key);
	e->meta += 4;
	if (e->w)
		em_rc(e, gguf_w_f32(e->w, key, v), key);
}

static void em_bool(struct emit *e, const char *key, int v)
{
	em_key(e, key);
	e->meta += 1;
	if (e->w)
		em_rc(e, gguf_w_bool(e->w, key, v), key);
}

static void em_str(struct emit *e, const char *key, const char *v)
{
	em_key(e, key);
	e->meta += 8 + strlen(v);
	if (e->w)
		em_rc(e, gguf_w_str(e->w, key, v), key);
}

static void em_arr_str(struct emit *e, const char *key,
		       const char *const *v, uint32_t n)
{
	em_key(e, key);
	e->meta += 4 + 8;			/* element type, count */
	for (uint32_t i = 0; i < n; i++)
		e->meta += 8 + strlen(v[i]);
	if (e->w)
		em_rc(e, gguf_w_arr_str(e->w, key, v, n), key);
}

static void em_arr_f32(struct emit *e, const char *key, const float *v,
		       uint32_t n)
{
	em_key(e, key);
	e->meta += 4 + 8 + 4ull * n;
	if (e->w)
		em_rc(e, gguf_w_arr_f32(e->w, key, v, n), key);
}

static void em_arr_i32(struct emit *e, const char *key, const int32_t *v,
		       uint32_t n)
{
	em_key(e, key);
	e->meta += 4 + 8 + 4ull * n;
	if (e->w)
		em_rc(e, gguf_w_arr_i32(e->w, key, v, n), key);
}

static void em_tensor(struct emit *e, const struct stensor *t)
{
	/* name, n_dims, ne[], type, offset */
	e->meta += 8 + strlen(t->name) + 4 + 8ull * t->n_dims + 4 + 8;
	e->data += (t->size + GGUF_ALIGN - 1) / GGUF_ALIGN * GGUF_ALIGN;
	if (e->w)
		em_rc(e, gguf_w_tensor(e->w, t->name, t->type, t->n_dims,
				       t->ne, t->data), t->name);
}

/* "<arch>.<suffix>" in buf. */
static const char *akey(char *buf, size_t len, const struct synth_cfg *c,
			const char *suffix)
{
	snprintf(buf, len, "%s.%s", synth_arch_name(c->arch), suffix);
	return buf;
}

/* Emits the whole file description, in the key order llama.cpp's converter
 * uses.  Tensor data may be unset when only counting. */
static void emit_all(struct emit *e, const struct synth_cfg *c,
		     const struct vocab *v, const struct stensor *tab,
		     uint32_t n_tensors)
{
	const int gemma = c->arch == SYNTH_GEMMA;
	char k[96], name[64];

	e->meta = 4 + 4 + 8 + 8;	/* magic, version, n_tensors, n_kv */
	e->data = 0;
	snprintf(name, sizeof(name), "q8tune synthetic %s",
		 synth_arch_name(c->arch));
	em_str(e, "general.architecture", synth_arch_name(c->arch));
	em_str(e, "general.name", name);
	em_u32(e, akey(k, sizeof(k), c, "context_length"), c->n_ctx);
	em_u32(e, akey(k, sizeof(k), c, "embedding_length"), c->n_embd);
	em_u32(e, akey(k, sizeof(k), c, "block_count"), c->n_layer);
	em_u32(e, akey(k, sizeof(k), c, "feed_forward_length"), c->n_ff);
	em_u32(e, akey(k, sizeof(k), c, "attention.head_count"), c->n_head);
	em_u32(e, akey(k, sizeof(k), c, "attention.head_count_kv"),
	       c->n_head_kv);
	em_u32(e, akey(k, sizeof(k), c, "attention.key_length"), c->head_dim);
	em_u32(e, akey(k, sizeof(k), c, "attention.value_length"),
	       c->head_dim);
	em_f32(e, akey(k, sizeof(k), c, "attention.layer_norm_rms_epsilon"),
	       gemma ? 1e-6f : 1e-5f);
	em_f32(e, akey(k, sizeof(k), c, "rope.freq_base"), 10000.0f);
	em_u32(e, akey(k, sizeof(k), c, "rope.dimension_count"), c->head_dim);
	em_u32(e, "general.file_type", FILE_TYPE_Q8_0);
	em_str(e, "tokenizer.ggml.model", "llama");
	em_arr_str(e, "tokenizer.ggml.tokens", v->text, v->n);
	em_arr_f32(e, "tokenizer.ggml.scores", v->score, v->n);
	em_arr_i32(e, "tokenizer.ggml.token_type", v->type, v->n);
	em_u32(e, "tokenizer.ggml.bos_token_id", 1);
	em_u32(e, "tokenizer.ggml.eos_token_id", 2);
	em_u32(e, "tokenizer.ggml.unknown_token_id", 0);
	em_bool(e, "tokenizer.ggml.add_bos_token", 1);
	em_bool(e, "tokenizer.ggml.add_eos_token", 0);
	/* the pieces carry a leading U+2581: the first word needs one too */
	em_bool(e, "tokenizer.ggml.add_space_prefix", 1);
	em_u32(e, "general.quantization_version", QUANT_VERSION);
	for (uint32_t i = 0; i < n_tensors; i++)
		em_tensor(e, &tab[i]);
}

/* Bytes of the whole file once e has seen everything. */
static uint64_t emit_total(const struct emit *e)
{
	return (e->meta + GGUF_ALIGN - 1) / GGUF_ALIGN * GGUF_ALIGN + e->data;
}

/* ---- public API --------------------------------------------------------- */

struct synth {
	struct gguf_writer *w;
	struct vocab vocab;
	struct stensor *tab;	/* (n_tensors) names and shapes */
	uint32_t n_tensors;
	uint8_t *arena;		/* every tensor's data */
};

int synth_size(const struct synth_cfg *c, uint64_t *bytes, char *err,
	       size_t errlen)
{
	struct emit e = { 0 };
	struct vocab v;
	struct stensor *tab;
	uint32_t n;
	int rc = -1;

	if (synth_check(c, err, errlen))
		return -1;
	if (vocab_build(&v)) {
		seterr(err, errlen, "synth: out of memory building the vocab");
		return -1;
	}
	tab = plan(c, v.n, &n);
	if (!tab) {
		seterr(err, errlen, "synth: out of memory planning tensors");
		goto free_vocab;
	}
	emit_all(&e, c, &v, tab, n);
	*bytes = emit_total(&e);
	rc = 0;
	free(tab);
free_vocab:
	vocab_free(&v);
	return rc;
}

int synth_create(const struct synth_cfg *c, struct synth **out, char *err,
		 size_t errlen)
{
	struct emit e = { 0 };
	struct synth *s;
	uint64_t total = 0, max_row = 0;
	float *row;

	if (synth_check(c, err, errlen))
		return -1;
	s = calloc(1, sizeof(*s));
	if (!s)
		goto oom;
	if (vocab_build(&s->vocab))
		goto oom_free;
	s->tab = plan(c, s->vocab.n, &s->n_tensors);
	if (!s->tab)
		goto oom_free;

	/* size check before the big allocation */
	emit_all(&e, c, &s->vocab, s->tab, s->n_tensors);
	if (emit_total(&e) > MAX_FILE) {
		seterr(err, errlen,
		       "synth: the model would take %llu bytes, over the "
		       "%llu-byte limit", (unsigned long long)emit_total(&e),
		       (unsigned long long)MAX_FILE);
		goto fail_free;
	}
	/* each tensor at a multiple of ARENA_ALIGN: a Q8_0 tensor is 34
	 * bytes a block, and the F32 one after it must stay float-aligned
	 * (UBSan under the tokenizer fuzzer found the misaligned stores) */
	for (uint32_t i = 0; i < s->n_tensors; i++) {
		total += arena_round(s->tab[i].size);
		if (s->tab[i].ne[0] > max_row)
			max_row = s->tab[i].ne[0];
	}
	s->arena = malloc(total);
	row = malloc(max_row * sizeof(*row));
	if (!s->arena || !row) {
		free(row);
		seterr(err, errlen,
		       "synth: out of memory for %llu bytes of weights",
		       (unsigned long long)total);
		goto fail_free;
	}
	total = 0;
	for (uint32_t i = 0; i < s->n_tensors; i++) {
		s->tab[i].data = s->arena + total;
		total += arena_round(s->tab[i].size);
		fill(&s->tab[i], c->seed, row);
	}
	free(row);

	s->w = gguf_w_new();
	if (!s->w)
		goto oom_free;
	e.w = s->w;
	emit_all(&e, c, &s->vocab, s->tab, s->n_tensors);
	if (e.bad) {
		seterr(err, errlen, "synth: the GGUF writer refused %s", e.bad);
		goto fail_free;
	}
	*out = s;
	return 0;

oom_free:
	seterr(err, errlen, "synth: out of memory");
fail_free:
	synth_free(s);
	return -1;
oom:
	seterr(err, errlen, "synth: out of memory");
	return -1;
}

struct gguf_writer *synth_writer(const struct synth *s)
{
	return s->w;
}

void synth_free(struct synth *s)
{
	if (!s)
		return;
	gguf_w_free(s->w);
	vocab_free(&s->vocab);
	free(s->tab);
	free(s->arena);
	free(s);
}

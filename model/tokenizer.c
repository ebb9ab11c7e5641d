/* tokenizer.c - llama.cpp's SentencePiece ("llama") tokenizer over a GGUF
 * vocab.
 *
 * The reference is llama.cpp's llama-vocab.cpp (load, tokenizer_st_partition,
 * llm_tokenizer_spm_session, token_to_piece).  Where it behaves in a way a
 * reader would not guess, the comment says so; where we refuse what it
 * would abort or throw on, the comment says that too. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gguf.h"
#include "tokenizer.h"

#define SPACE_MARK "\xe2\x96\x81"	/* U+2581, what SPM writes for ' ' */
#define SPACE_MARK_LEN 3

/* Default ids for an SPM vocab, as llama.cpp sets them. */
#define DEF_UNK 0
#define DEF_BOS 1
#define DEF_EOS 2

struct tok_entry {
	const char *text;	/* into the mapping, or into owned */
	uint32_t len;
	float score;
	enum tok_type type;	/* 0..6; values outside read as UNDEFINED */
};

struct tokenizer {
	int n_vocab;
	struct tok_entry *tok;	/* (n_vocab) */
	int32_t *slot;		/* (mask + 1) open-addressed ids, -1 empty */
	uint32_t mask;
	int32_t *special;	/* (n_special) CONTROL/USER_DEFINED/UNKNOWN
				 * ids, longest text first */
	int n_special;
	int32_t byte_tok[256];	/* byte fallback id of each byte */
	int32_t bos, eos, unk;
	int add_bos, add_eos, add_space_prefix;
	char *owned;		/* "[EMPTY_i]" texts of empty tokens */
};

/* --- vocab hash map --------------------------------------------------- */

/* FNV-1a, 32 bits: short keys, good enough spread for linear probing. */
static uint32_t hash_bytes(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++) {
		h ^= (uint8_t)s[i];
		h *= 16777619u;
	}
	return h;
}

/* Id whose text is exactly s[0..n), or -1. */
static int32_t tok_find(const struct tokenizer *t, const char *s, size_t n)
{
	uint32_t i = hash_bytes(s, n) & t->mask;

	for (;;) {
		int32_t id = t->slot[i];

		if (id < 0)
			return -1;
		if (t->tok[id].len == n && memcmp(t->tok[id].text, s, n) == 0)
			return id;
		i = (i + 1) & t->mask;
	}
}

/* Inserts every id.  Returns -1 and *dup (the earlier id) when two ids
 * share a text: llama.cpp aborts on that (GGML_ASSERT(id_to_token.size()
 * == token_to_id.size())), so no file it loads has one. */
static int map_build(struct tokenizer *t, int32_t *dup_a, int32_t *dup_b)
{
	for (int32_t id = 0; id < t->n_vocab; id++) {
		const struct tok_entry *e = &t->tok[id];
		uint32_t i = hash_bytes(e->text, e->len) & t->mask;

		while (t->slot[i] >= 0) {
			const struct tok_entry *o = &t->tok[t->slot[i]];

			if (o->len == e->len &&
			    memcmp(o->text, e->text, e->len) == 0) {
				*dup_a = t->slot[i];
				*dup_b = id;
				return -1;
			}
			i = (i + 1) & t->mask;
		}
		t->slot[i] = id;
	}
	return 0;
}

/* --- loading ---------------------------------------------------------- */

/* Texts llama.cpp forces to CONTROL type whatever the file says ("control-
 * looking token ... its type will be overridden", llama_vocab load).  A
 * group with a key is applied only when that key does not name a valid id;
 * llama.cpp then takes the first match in unordered_map order, we take
 * every match (they differ only for a vocab holding two texts of one
 * group).  key NULL: the end-of-generation list, applied always. */
struct ctl_group {
	const char *key;
	const char *key2;	/* deprecated alias, or NULL */
	const char *const *texts;
};

static const char *const ctl_eot[] = {
	"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
	"<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>",
	"<\xef\xbd\x9c" "end" SPACE_MARK "of" SPACE_MARK "sentence"
	"\xef\xbd\x9c>", "<end_of_utterance>", NULL,
};
static const char *const ctl_eom[] = { "<|eom_id|>", NULL };
static const char *const ctl_fim_pre[] = {
	"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>",
	"<\xef\xbd\x9c" "fim" SPACE_MARK "begin\xef\xbd\x9c>", "<PRE>",
	SPACE_MARK "<PRE>", "<|code_prefix|>", NULL,
};
static const char *const ctl_fim_suf[] = {
	"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>",
	"<\xef\xbd\x9c" "fim" SPACE_MARK "hole\xef\xbd\x9c>", "<SUF>",
	SPACE_MARK "<SUF>", "<|code_suffix|>", NULL,
};
static const char *const ctl_fim_mid[] = {
	"<|fim_middle|>", "<fim-middle>", "<fim_middle>",
	"<\xef\xbd\x9c" "fim" SPACE_MARK "end\xef\xbd\x9c>", "<MID>",
	SPACE_MARK "<MID>", "<|code_middle|>", NULL,
};
static const char *const ctl_fim_pad[] = {
	"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", NULL,
};
static const char *const ctl_fim_rep[] = {
	"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>",
	"<reponame>", NULL,
};
static const char *const ctl_fim_sep[] = { "<|file_sep|>", NULL };
static const char *const ctl_eog[] = {
	"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>",
	"<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>",
	"<|end_of_text|>", "<end_of_utterance>", NULL,
};

static const struct ctl_group ctl_groups[] = {
	{ "tokenizer.ggml.eot_token_id", NULL, ctl_eot },
	{ "tokenizer.ggml.eom_token_id", NULL, ctl_eom },
	{ "tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.prefix_token_id",
	  ctl_fim_pre },
	{ "tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.suffix_token_id",
	  ctl_fim_suf },
	{ "tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.middle_token_id",
	  ctl_fim_mid },
	{ "tokenizer.ggml.fim_pad_token_id", NULL, ctl_fim_pad },
	{ "tokenizer.ggml.fim_rep_token_id", NULL, ctl_fim_rep },
	{ "tokenizer.ggml.fim_sep_token_id", NULL, ctl_fim_sep },
	{ NULL, NULL, ctl_eog },
};

/* gpt-oss (harmony) tokens llama.cpp always renders: USER_DEFINED. */
static const char *const user_texts[] = {
	"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>", NULL,
};

static int32_t find_cstr(const struct tokenizer *t, const char *s)
{
	return tok_find(t, s, strlen(s));
}

/* 1 if key (or its alias) holds a valid id, 0 if not, -1 on a bad type. */
static int key_sets_id(const struct gguf *g, const struct tokenizer *t,
		       const char *key, char *err, size_t errlen)
{
	uint32_t v;
	int rc;

	if (!key)
		return 0;
	rc = gguf_get_u32(g, key, &v, err, errlen);
	if (rc < 0)
		return -1;
	/* llama.cpp ignores an out-of-range id here ("bad special token") */
	return rc == 0 && v < (uint32_t)t->n_vocab;
}

/* Applies llama.cpp's by-text type overrides.  0, or -1 with err. */
static int apply_overrides(const struct gguf *g, struct tokenizer *t,
			   char *err, size_t errlen)
{
	const size_t n_groups = sizeof(ctl_groups) / sizeof(ctl_groups[0]);
	int32_t id;

	for (size_t i = 0; i < n_groups; i++) {
		const struct ctl_group *c = &ctl_groups[i];
		int set = key_sets_id(g, t, c->key, err, errlen);

		if (set < 0)
			return -1;
		if (!set) {
			set = key_sets_id(g, t, c->key2, err, errlen);
			if (set < 0)
				return -1;
		}
		if (set)
			continue;
		for (const char *const *s = c->texts; *s; s++)
			if ((id = find_cstr(t, *s)) >= 0)
				t->tok[id].type = TOK_CONTROL;
	}
	for (const char *const *s = user_texts; *s; s++)
		if ((id = find_cstr(t, *s)) >= 0)
			t->tok[id].type = TOK_USER_DEFINED;
	/* o200k_harmony: with <|return|> and <|call|>, <|end|> is no EOG */
	if (find_cstr(t, "<|return|>") >= 0 && find_cstr(t, "<|call|>") >= 0 &&
	    (id = find_cstr(t, "<|end|>")) >= 0)
		t->tok[id].type = TOK_USER_DEFINED;
	return 0;
}

static int special_cmp(const void *pa, const void *pb, void *ctx)
{
	const struct tokenizer *t = ctx;
	int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;

	if (t->tok[a].len != t->tok[b].len)
		return t->tok[a].len > t->tok[b].len ? -1 : 1;
	return (a > b) - (a < b);
}

/* Special-token list in match order.  llama.cpp sorts by length with the
 * unstable std::sort; equal lengths here go by id, which only matters
 * when two equally long special texts overlap in one input.  Empty texts
 * cannot occur (empty tokens are renamed). */
static int build_special(struct tokenizer *t)
{
	int n = 0;

	for (int32_t id = 0; id < t->n_vocab; id++) {
		enum tok_type ty = t->tok[id].type;

		n += ty == TOK_CONTROL || ty == TOK_USER_DEFINED ||
		     ty == TOK_UNKNOWN;
	}
	t->special = malloc((size_t)(n ? n : 1) * sizeof(*t->special));
	if (!t->special)
		return -1;
	n = 0;
	for (int32_t id = 0; id < t->n_vocab; id++) {
		enum tok_type ty = t->tok[id].type;

		if (ty == TOK_CONTROL || ty == TOK_USER_DEFINED ||
		    ty == TOK_UNKNOWN)
			t->special[n++] = id;
	}
	t->n_special = n;
	qsort_r(t->special, (size_t)n, sizeof(*t->special), special_cmp, t);
	return 0;
}

/* llama.cpp byte_to_token for SPM: "<0xXX>", else the one-byte text.  It
 * throws when both are missing; we fall back to UNK. */
static void build_byte_tok(struct tokenizer *t)
{
	static const char hex[] = "0123456789ABCDEF";

	for (int b = 0; b < 256; b++) {
		char s[6] = { '<', '0', 'x', hex[b >> 4], hex[b & 15], '>' };
		char c = (char)b;
		int32_t id = tok_find(t, s, sizeof(s));

		if (id < 0)
			id = tok_find(t, &c, 1);
		t->byte_tok[b] = id >= 0 ? id : t->unk;
	}
}

/* Reads an optional u32 id key into *id (default kept when absent); -1
 * with err when it has a bad type or is out of range, as is a default out
 * of range.  llama.cpp warns and keeps the default for an out-of-range
 * value; a file that says so is broken, and we say where. */
static int read_id(const struct gguf *g, struct tokenizer *t,
		   const char *key, int32_t *id, char *err, size_t errlen)
{
	uint32_t v;
	int rc = gguf_get_u32(g, key, &v, err, errlen);

	if (rc < 0)
		return -1;
	if (rc == 0 && v >= (uint32_t)t->n_vocab) {
		snprintf(err, errlen, "%s: %s = %u is out of range (n_vocab "
			 "%d)", g->path, key, v, t->n_vocab);
		return -1;
	}
	if (rc == 0)
		*id = (int32_t)v;
	else if (*id >= t->n_vocab) {
		snprintf(err, errlen, "%s: %s is absent and its default %d is "
			 "out of range (n_vocab %d)", g->path, key, *id,
			 t->n_vocab);
		return -1;
	}
	return 0;
}

/* Reads an optional bool key into *flag (default kept when absent). */
static int read_flag(const struct gguf *g, const char *key, int *flag,
		     char *err, size_t errlen)
{
	int v;
	int rc = gguf_get_bool(g, key, &v, err, errlen);

	if (rc < 0)
		return -1;
	if (rc == 0)
		*flag = v;
	return 0;
}

/* Fills t->tok from tokens/scores/token_type; renames empty tokens
 * "[EMPTY_<id>]" as llama.cpp does.  0, or -1 with err. */
static int read_vocab(const struct gguf *g, struct tokenizer *t,
		      const struct gguf_value *toks,
		      const struct gguf_value *scores,
		      const struct gguf_value *types, char *err, size_t errlen)
{
	const char *kt = "tokenizer.ggml.tokens";
	size_t n_empty = 0, used = 0;

	for (int i = 0; i < t->n_vocab; i++) {
		const struct gguf_str *s = &toks->v.arr.items[i].v.s;

		if (s->len > INT_MAX / 4) {
			snprintf(err, errlen, "%s: %s[%d] is %llu bytes long",
				 g->path, kt, i, (unsigned long long)s->len);
			return -1;
		}
		n_empty += s->len == 0;
	}
	if (n_empty) {
		t->owned = malloc(n_empty * 24);
		if (!t->owned) {
			snprintf(err, errlen, "%s: %s: out of memory", g->path,
				 kt);
			return -1;
		}
	}
	for (int i = 0; i < t->n_vocab; i++) {
		const struct gguf_str *s = &toks->v.arr.items[i].v.s;
		struct tok_entry *e = &t->tok[i];
		int64_t ty = types ? gguf_arr_int(types, (uint64_t)i)
				   : TOK_NORMAL;

		if (s->len) {
			e->text = s->ptr;
			e->len = (uint32_t)s->len;
		} else {
			int k = snprintf(t->owned + used, 24, "[EMPTY_%d]", i);

			e->text = t->owned + used;
			e->len = (uint32_t)k;
			used += (size_t)k + 1;
		}
		e->score = scores ? gguf_arr_f32(scores, (uint64_t)i) : 0.0f;
		e->type = ty >= TOK_UNDEFINED && ty <= TOK_BYTE
			  ? (enum tok_type)ty : TOK_UNDEFINED;
	}
	return 0;
}

/* Optional per-token array: absent (*out NULL), or exactly n entries. */
static int read_tok_arr(const struct gguf *g, const char *key,
			enum gguf_vtype et, uint64_t n,
			const struct gguf_value **out, char *err,
			size_t errlen)
{
	int rc = gguf_get_arr(g, key, et, out, err, errlen);

	if (rc < 0)
		return -1;
	if (rc > 0) {
		*out = NULL;
		return 0;
	}
	if ((*out)->v.arr.n != n) {
		snprintf(err, errlen, "%s: %s has %llu entries, expected %llu "
			 "(one per token)", g->path, key,
			 (unsigned long long)(*out)->v.arr.n,
			 (unsigned long long)n);
		return -1;
	}
	return 0;
}

/* Builds the tokenizer of g.  0 and *out (free with tok_free), or -1 and
 * a one-line message naming the file and key.  Texts point into g's
 * mapping: free the tokenizer before closing g. */
/* Checks tokenizer.ggml.model is "llama" (SentencePiece) and finds the
 * token array: 0 and *toks, or -1 with a message naming the key. */
static int read_tok_model(const struct gguf *g, const struct gguf_value **toks,
			  char *err, size_t errlen)
{
	struct gguf_str model;
	uint64_t n;
	int rc;

	rc = gguf_get_str(g, "tokenizer.ggml.model", &model, err, errlen);
	if (rc < 0)
		return -1;
	if (rc > 0) {
		snprintf(err, errlen, "%s: tokenizer.ggml.model is absent",
			 g->path);
		return -1;
	}
	if (model.len != 5 || memcmp(model.ptr, "llama", 5) != 0) {
		snprintf(err, errlen, "%s: tokenizer.ggml.model is \"%.*s\"; "
			 "only \"llama\" (SentencePiece) is supported",
			 g->path, model.len > 64 ? 64 : (int)model.len,
			 model.ptr);
		return -1;
	}
	rc = gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_T_STRING, toks,
			  err, errlen);
	if (rc < 0)
		return -1;
	if (rc > 0) {
		snprintf(err, errlen, "%s: tokenizer.ggml.tokens is absent",
			 g->path);
		return -1;
	}
	n = (*toks)->v.arr.n;
	if (n == 0 || n > INT32_MAX / 4) {
		snprintf(err, errlen, "%s: tokenizer.ggml.tokens has %llu "
			 "entries", g->path, (unsigned long long)n);
		return -1;
	}
	return 0;
}

int tok_create(const struct gguf *g, struct tokenizer **out, char *err,
	       size_t errlen)
{
	const struct gguf_value *toks, *scores, *types;
	struct tokenizer *t;
	uint64_t n, cap;
	int32_t dup_a, dup_b;

	*out = NULL;
	if (read_tok_model(g, &toks, err, errlen) < 0)
		return -1;
	n = toks->v.arr.n;
	if (read_tok_arr(g, "tokenizer.ggml.scores", GGUF_T_F32, n, &scores,
			 err, errlen) ||
	    read_tok_arr(g, "tokenizer.ggml.token_type", GGUF_T_I32, n,
			 &types, err, errlen))
		return -1;

	t = calloc(1, sizeof(*t));
	if (!t)
		goto err_oom;
	t->n_vocab = (int)n;
	t->bos = DEF_BOS;
	t->eos = DEF_EOS;
	t->unk = DEF_UNK;
	t->add_bos = 1;
	t->add_eos = 0;
	t->add_space_prefix = 1;
	t->tok = calloc(n, sizeof(*t->tok));
	for (cap = 16; cap < 2 * n; cap *= 2)
		;
	t->mask = (uint32_t)(cap - 1);
	t->slot = malloc(cap * sizeof(*t->slot));
	if (!t->tok || !t->slot)
		goto err_oom_free;
	memset(t->slot, 0xff, cap * sizeof(*t->slot));

	if (read_vocab(g, t, toks, scores, types, err, errlen))
		goto err_free;
	if (map_build(t, &dup_a, &dup_b)) {
		snprintf(err, errlen, "%s: tokenizer.ggml.tokens: ids %d and "
			 "%d have the same text \"%.*s\"", g->path, dup_a,
			 dup_b, t->tok[dup_b].len > 64 ? 64
			 : (int)t->tok[dup_b].len, t->tok[dup_b].text);
		goto err_free;
	}
	if (read_id(g, t, "tokenizer.ggml.bos_token_id", &t->bos, err,
		    errlen) ||
	    read_id(g, t, "tokenizer.ggml.eos_token_id", &t->eos, err,
		    errlen) ||
	    read_id(g, t, "tokenizer.ggml.unknown_token_id", &t->unk, err,
		    errlen) ||
	    read_flag(g, "tokenizer.ggml.add_bos_token", &t->add_bos, err,
		      errlen) ||
	    read_flag(g, "tokenizer.ggml.add_eos_token", &t->add_eos, err,
		      errlen) ||
	    read_flag(g, "tokenizer.ggml.add_space_prefix",
		      &t->add_space_prefix, err, errlen) ||
	    apply_overrides(g, t, err, errlen))
		goto err_free;
	if (build_special(t))
		goto err_oom_free;
	build_byte_tok(t);
	*out = t;
	return 0;

err_oom_free:
	tok_free(t);
err_oom:
	snprintf(err, errlen, "%s: tokenizer.ggml.tokens: out of memory",
		 g->path);
	return -1;
err_free:
	tok_free(t);
	return -1;
}

void tok_free(struct tokenizer *t)
{
	if (!t)
		return;
	free(t->special);
	free(t->owned);
	free(t->slot);
	free(t->tok);
	free(t);
}

/* --- encoding --------------------------------------------------------- */

/* A piece of the input: raw text [off, off+len) or a special token. */
struct frag {
	size_t off, len;
	int32_t id;		/* -1: raw text */
};

struct frag_list {
	struct frag *v;
	size_t n, cap;
};

static int frag_push(struct frag_list *l, size_t off, size_t len, int32_t id)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		struct frag *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = (struct frag){ off, len, id };
	return 0;
}

/* llama.cpp tokenizer_st_partition: for each special token in turn
 * (longest first), split every raw fragment at each of its leftmost
 * non-overlapping occurrences.  CONTROL and UNKNOWN tokens take part only
 * with parse_special.  *l holds the result (caller frees l->v).  0, or -1
 * on allocation failure. */
static int partition(const struct tokenizer *t, const char *text,
		     size_t len, int parse_special, struct frag_list *l)
{
	struct frag_list tmp = { 0 };
	int ret = -1;

	if (len && frag_push(l, 0, len, -1))
		return -1;
	for (int k = 0; k < t->n_special; k++) {
		int32_t sid = t->special[k];
		const struct tok_entry *s = &t->tok[sid];
		size_t i;

		if (!parse_special &&
		    (s->type == TOK_CONTROL || s->type == TOK_UNKNOWN))
			continue;
		for (i = 0; i < l->n; i++)
			if (l->v[i].id < 0 &&
			    memmem(text + l->v[i].off, l->v[i].len, s->text,
				   s->len))
				break;
		if (i == l->n)
			continue;

		tmp.n = 0;
		for (i = 0; i < l->n; i++) {
			struct frag f = l->v[i];
			const char *m;

			if (f.id >= 0) {
				if (frag_push(&tmp, f.off, f.len, f.id))
					goto out;
				continue;
			}
			while (f.len && (m = memmem(text + f.off, f.len,
						    s->text, s->len))) {
				size_t left = (size_t)(m - text) - f.off;

				if ((left && frag_push(&tmp, f.off, left, -1)) ||
				    frag_push(&tmp, 0, 0, sid))
					goto out;
				f.off += left + s->len;
				f.len -= left + s->len;
			}
			if (f.len && frag_push(&tmp, f.off, f.len, -1))
				goto out;
		}
		struct frag_list sw = *l;

		*l = tmp;
		tmp = sw;
	}
	ret = 0;
out:
	free(tmp.v);
	return ret;
}

/* One symbol of the SPM merge: bytes [off, off+n) of the session text;
 * n == 0 once merged into its left neighbour. */
struct sym {
	int prev, next;
	uint32_t off, n;
};

struct bigram {
	int left, right;
	float score;
	uint32_t size;
};

/* Scratch for one SPM session, sized for the longest fragment. */
struct spm {
	const struct tokenizer *t;
	char *buf;		/* escaped text */
	struct sym *sym;
	struct bigram *heap;	/* max-heap: score desc, then left asc */
	size_t n_heap;
};

/* llama.cpp's llm_bigram_spm::comparator: a below b. */
static int bigram_less(const struct bigram *a, const struct bigram *b)
{
	return a->score < b->score ||
	       (a->score == b->score && a->left > b->left);
}

static void heap_push(struct spm *s, struct bigram b)
{
	size_t i = s->n_heap++;

	while (i) {
		size_t p = (i - 1) / 2;

		if (!bigram_less(&s->heap[p], &b))
			break;
		s->heap[i] = s->heap[p];
		i = p;
	}
	s->heap[i] = b;
}

static struct bigram heap_pop(struct spm *s)
{
	struct bigram top = s->heap[0], last = s->heap[--s->n_heap];
	size_t i = 0, n = s->n_heap;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && bigram_less(&s->heap[c], &s->heap[c + 1]))
			c++;
		if (!bigram_less(&last, &s->heap[c]))
			break;
		s->heap[i] = s->heap[c];
		i = c;
	}
	if (n)
		s->heap[i] = last;
	return top;
}

/* Queues (left, right) if their joined text is a vocab token. */
static void try_bigram(struct spm *s, int left, int right)
{
	const struct sym *l, *r;
	int32_t id;

	if (left < 0 || right < 0)
		return;
	l = &s->sym[left];
	r = &s->sym[right];
	id = tok_find(s->t, s->buf + l->off, l->n + r->n);
	if (id < 0)
		return;
	heap_push(s, (struct bigram){ left, right, s->t->tok[id].score,
				      l->n + r->n });
}

/* Appends id at *n (written only below cap). */
static void emit(int32_t *out, int cap, int64_t *n, int32_t id)
{
	if (*n < cap)
		out[*n] = id;
	(*n)++;
}

/* llama.cpp utf8_len: length a lead byte claims (continuation bytes: 1). */
static uint32_t utf8_len(uint8_t c)
{
	static const uint8_t len[16] = {
		1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4,
	};

	return len[c >> 4];
}

/* llm_tokenizer_spm_session::tokenize over s->buf[0..n), n > 0. */
static void spm_session(struct spm *s, uint32_t n, int32_t *out,
			int cap, int64_t *count)
{
	const struct tokenizer *t = s->t;
	uint32_t off = 0;
	int ns = 0;

	while (off < n) {
		uint32_t k = utf8_len((uint8_t)s->buf[off]);

		if (k > n - off)
			k = n - off;
		s->sym[ns] = (struct sym){ ns - 1, off + k == n ? -1 : ns + 1,
					   off, k };
		off += k;
		ns++;
	}
	s->n_heap = 0;
	for (int i = 1; i < ns; i++)
		try_bigram(s, i - 1, i);

	while (s->n_heap) {
		struct bigram b = heap_pop(s);
		struct sym *l = &s->sym[b.left], *r = &s->sym[b.right];

		/* stale: a side was merged away or has grown since */
		if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
			continue;
		l->n += r->n;
		r->n = 0;
		l->next = r->next;
		if (r->next >= 0)
			s->sym[r->next].prev = b.left;
		try_bigram(s, l->prev, b.left);
		try_bigram(s, b.left, l->next);
	}

	/* Every merged symbol is a vocab token; an unmerged one that is not
	 * goes out byte by byte (llama.cpp's rev_merge path never fires). */
	for (int i = 0; i != -1; i = s->sym[i].next) {
		const struct sym *y = &s->sym[i];
		int32_t id = tok_find(t, s->buf + y->off, y->n);

		if (id >= 0) {
			emit(out, cap, count, id);
			continue;
		}
		for (uint32_t j = 0; j < y->n; j++)
			emit(out, cap, count,
			     t->byte_tok[(uint8_t)s->buf[y->off + j]]);
	}
}

/* Encodes text as llama_tokenize(add_special = add_bos, parse_special)
 * does for an SPM vocab: BOS first when add_bos and the vocab's
 * add_bos_token (default true), EOS last when add_bos and add_eos_token
 * (default false).  Each raw fragment after BOS, after a special token or
 * at the start gets a ' ' prefix when add_space_prefix (default true).
 * Writes at most cap ids to out (may be NULL when cap is 0).  Returns the
 * total count, or -1 on allocation failure or a count beyond INT_MAX. */
int tok_encode(const struct tokenizer *t, const char *text, size_t len,
	       int add_bos, int parse_special, int32_t *out, int cap)
{
	struct frag_list fl = { 0 };
	struct spm s = { .t = t };
	size_t max_len = 0, n_buf;
	int64_t count = 0;
	int prev_special = 1;	/* "prefix with space if first token" */
	int ret = -1;

	if (cap < 0)
		cap = 0;
	if (partition(t, text, len, parse_special, &fl))
		goto out_frags;
	for (size_t i = 0; i < fl.n; i++)
		if (fl.v[i].id < 0 && fl.v[i].len > max_len)
			max_len = fl.v[i].len;
	/* ' ' -> 3 bytes; symbols and heap are indexed by int, sizes u32 */
	if (max_len > (INT32_MAX - SPACE_MARK_LEN) / (3 * SPACE_MARK_LEN))
		goto out_frags;
	n_buf = SPACE_MARK_LEN * (max_len + 1);
	if (fl.n) {
		s.buf = malloc(n_buf);
		s.sym = malloc(n_buf * sizeof(*s.sym));
		/* seeds plus at most two per merge */
		s.heap = malloc(3 * n_buf * sizeof(*s.heap));
		if (!s.buf || !s.sym || !s.heap)
			goto out_session;
	}

	if (add_bos && t->add_bos)
		emit(out, cap, &count, t->bos);
	for (size_t i = 0; i < fl.n; i++) {
		const struct frag *f = &fl.v[i];
		uint32_t n = 0;

		if (f->id >= 0) {
			emit(out, cap, &count, f->id);
			prev_special = 1;
			continue;
		}
		if (t->add_space_prefix && prev_special) {
			memcpy(s.buf, SPACE_MARK, SPACE_MARK_LEN);
			n = SPACE_MARK_LEN;
		}
		for (size_t j = 0; j < f->len; j++) {
			char c = text[f->off + j];

			if (c == ' ') {
				memcpy(s.buf + n, SPACE_MARK, SPACE_MARK_LEN);
				n += SPACE_MARK_LEN;
			} else {
				s.buf[n++] = c;
			}
		}
		spm_session(&s, n, out, cap, &count);
		prev_special = 0;
		if (count > INT_MAX)
			goto out_session;
	}
	if (add_bos && t->add_eos)
		emit(out, cap, &count, t->eos);
	ret = count > INT_MAX ? -1 : (int)count;

out_session:
	free(s.heap);
	free(s.sym);
	free(s.buf);
out_frags:
	free(fl.v);
	return ret;
}

/* --- decoding --------------------------------------------------------- */

/* llama.cpp token_to_byte: strtol of text[3..5) in base 16; we read the
 * leading hex digits there (0 when none). */
static uint8_t byte_of(const struct tok_entry *e)
{
	unsigned v = 0;

	for (uint32_t i = 3; i < 5 && i < e->len; i++) {
		char c = e->text[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			break;
		v = v * 16 + d;
	}
	return (uint8_t)v;
}

/* llama_token_to_piece(lstrip 0) for SPM: CONTROL and UNKNOWN give ""
 * unless special (then their text; llama.cpp no longer prints U+2585 for
 * UNKNOWN), USER_DEFINED its text, NORMAL its text with U+2581 -> ' ',
 * BYTE its byte, UNUSED and UNDEFINED "".  Writes at most cap bytes (no
 * NUL; a longer piece is cut) and returns how many, or -1 for a bad id. */
int tok_piece(const struct tokenizer *t, int32_t id, int special, char *buf,
	      int cap)
{
	const struct tok_entry *e;
	uint32_t i = 0;
	int n = 0;

	if (id < 0 || id >= t->n_vocab)
		return -1;
	if (cap <= 0)
		return 0;
	e = &t->tok[id];
	switch (e->type) {
	case TOK_UNKNOWN:
	case TOK_CONTROL:
		if (!special)
			return 0;
		/* fall through */
	case TOK_USER_DEFINED:
		n = e->len < (uint32_t)cap ? (int)e->len : cap;
		memcpy(buf, e->text, (size_t)n);
		return n;
	case TOK_NORMAL:
		while (i < e->len && n < cap) {
			if (e->len - i >= SPACE_MARK_LEN &&
			    memcmp(e->text + i, SPACE_MARK,
				   SPACE_MARK_LEN) == 0) {
				buf[n++] = ' ';
				i += SPACE_MARK_LEN;
			} else {
				buf[n++] = e->text[i++];
			}
		}
		return n;
	case TOK_BYTE:
		buf[0] = (char)byte_of(e);
		return 1;
	default:
		return 0;
	}
}

/* Vocab text of id, with U+2581 markers; NULL for a bad id. */
const char *tok_text(const struct tokenizer *t, int32_t id, size_t *len)
{
	if (id < 0 || id >= t->n_vocab) {
		if (len)
			*len = 0;
		return NULL;
	}
	if (len)
		*len = t->tok[id].len;
	return t->tok[id].text;
}

int tok_n_vocab(const struct tokenizer *t)
{
	return t->n_vocab;
}

int32_t tok_bos(const struct tokenizer *t)
{
	return t->bos;
}

int32_t tok_eos(const struct tokenizer *t)
{
	return t->eos;
}

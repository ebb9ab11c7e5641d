/* model.c - hyper-parameters and weights from GGUF (llama, gemma). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include "clock.h"
#include "model.h"
#include "tokenizer.h"

const char *arch_name(enum arch a)
{
	return a == ARCH_GEMMA ? "gemma" : "llama";
}

static const char *const weights_names[] = {
	[WEIGHTS_Q8_0] = "q8_0", [WEIGHTS_NATIVE] = "native",
	[WEIGHTS_F32] = "f32",
};

int weights_mode_parse(const char *s, enum weights_mode *out)
{
	for (int i = 0; i < (int)(sizeof weights_names / sizeof *weights_names); i++)
		if (!strcmp(s, weights_names[i])) {
			*out = (enum weights_mode)i;
			return 0;
		}
	return -1;
}

const char *weights_mode_name(enum weights_mode w)
{
	return (unsigned)w < sizeof weights_names / sizeof *weights_names ?
	       weights_names[w] : "?";
}

/* Takes ownership of buf (freed by model_free); NULL buf is an error. */
static void *own(struct model *m, void *buf, size_t bytes)
{
	void **o;

	if (!buf)
		return NULL;
	o = realloc(m->owned, sizeof *o * (size_t)(m->n_owned + 1));
	if (!o) {
		free(buf);
		return NULL;
	}
	m->owned = o;
	m->owned[m->n_owned++] = buf;
	m->owned_bytes += bytes;
	return buf;
}

/* Element i..i+n of row data of type t, as floats. */
static void row_to_f32(enum ggml_type t, const void *row, float *out, int n)
{
	switch (t) {
	case GGML_TYPE_F32:
		memcpy(out, row, sizeof(float) * (size_t)n);
		break;
	case GGML_TYPE_F16:
		for (int i = 0; i < n; i++)
			out[i] = fp16_to_f32(((const uint16_t *)row)[i]);
		break;
	case GGML_TYPE_BF16:
		for (int i = 0; i < n; i++)
			out[i] = bf16_to_f32(((const uint16_t *)row)[i]);
		break;
	case GGML_TYPE_Q8_0:
		for (int b = 0; b < n / QK8_0; b++) {
			const block_q8_0 *blk = (const block_q8_0 *)row + b;
			const float d = fp16_to_f32(blk->d);
			for (int j = 0; j < QK8_0; j++)
				out[b * QK8_0 + j] = d * blk->qs[j];
		}
		break;
	}
}

void wmat_row_f32(const struct wmat *w, int r, float *out)
{
	size_t rb = ggml_row_size(w->type, (uint64_t)w->cols);
	row_to_f32(w->type, (const char *)w->data + rb * (size_t)r, out, w->cols);
}

/* Gives the pages of a converted tensor back to the kernel: the mapping
 * is read-only and private, so they can be re-read if ever needed. */
static void drop_pages(const void *p, size_t n)
{
	long pg = sysconf(_SC_PAGESIZE);
	uintptr_t a = ((uintptr_t)p + (uintptr_t)pg - 1) & ~((uintptr_t)pg - 1);
	uintptr_t e = ((uintptr_t)p + n) & ~((uintptr_t)pg - 1);

	if (e > a)
		madvise((void *)a, e - a, MADV_DONTNEED);
}

/* Converts w in place (w->data becomes an owned buffer) to type to. */
static int convert(struct model *m, struct wmat *w, enum ggml_type to)
{
	size_t rb_in = ggml_row_size(w->type, (uint64_t)w->cols);
	size_t rb_out = ggml_row_size(to, (uint64_t)w->cols);
	size_t bytes = rb_out * (size_t)w->rows;
	char *buf = own(m, malloc(bytes), bytes);
	float *tmp = malloc(sizeof(float) * (size_t)w->cols);

	if (!buf || !tmp) {
		free(tmp);
		return -1;
	}
	for (int r = 0; r < w->rows; r++) {
		const char *src = (const char *)w->data + rb_in * (size_t)r;
		char *dst = buf + rb_out * (size_t)r;
		if (to == GGML_TYPE_F32) {
			row_to_f32(w->type, src, (float *)(void *)dst, w->cols);
		} else {
			row_to_f32(w->type, src, tmp, w->cols);
			q8_quantize_weights(tmp, (block_q8_0 *)(void *)dst, w->cols);
		}
	}
	free(tmp);
	drop_pages(w->data, rb_in * (size_t)w->rows);
	w->type = to;
	w->data = buf;
	return 0;
}

struct loader {
	struct model *m;
	const char *path;
	char *err;
	size_t errlen;
};

static const struct gguf_tensor *need_tensor(struct loader *L,
					     const char *name, int rows,
					     int cols)
{
	const struct gguf_tensor *t = gguf_find_tensor(L->m->g, name);

	if (!t) {
		snprintf(L->err, L->errlen, "%s: tensor '%s' is missing",
			 L->path, name);
		return NULL;
	}
	uint64_t want1 = rows > 0 ? (uint64_t)rows : 1;
	if (t->ne[0] != (uint64_t)cols || t->ne[1] != want1 || t->ne[2] != 1 ||
	    t->ne[3] != 1) {
		snprintf(L->err, L->errlen,
			 "%s: tensor '%s' has shape [%llu, %llu, %llu, %llu], "
			 "expected [%d, %llu]", L->path, name,
			 (unsigned long long)t->ne[0], (unsigned long long)t->ne[1],
			 (unsigned long long)t->ne[2], (unsigned long long)t->ne[3],
			 cols, (unsigned long long)want1);
		return NULL;
	}
	return t;
}

/* Binds a matrix, converting it as the weights mode says. */
static int bind_mat(struct loader *L, const char *name, int rows, int cols,
		    struct wmat *w)
{
	const struct gguf_tensor *t = need_tensor(L, name, rows, cols);
	enum ggml_type to;

	if (!t)
		return -1;
	w->type = t->type;
	w->rows = rows;
	w->cols = cols;
	w->data = t->data;
	switch (L->m->wmode) {
	case WEIGHTS_NATIVE:
		to = t->type;
		break;
	case WEIGHTS_F32:
		to = GGML_TYPE_F32;
		break;
	case WEIGHTS_Q8_0:
	default:
		to = cols % QK8_0 == 0 ? GGML_TYPE_Q8_0 : t->type;
		break;
	}
	if (to == t->type && (t->type != GGML_TYPE_F32 ||
			      ((uintptr_t)t->data & 3) == 0))
		return 0;
	if (convert(L->m, w, to) < 0) {
		snprintf(L->err, L->errlen, "%s: tensor '%s': out of memory "
			 "converting to %s", L->path, name, ggml_type_name(to));
		return -1;
	}
	return 0;
}

/* Binds a vector as an owned F32 copy.  Norm vectors are tiny, but read
 * in place they would keep the mapping's pages around them resident (the
 * kernel maps whole page-cache folios on a fault), which defeats dropping
 * the pages of weights a repacking variant has copied. */
static const float *bind_vec(struct loader *L, const char *name, int n)
{
	const struct gguf_tensor *t = need_tensor(L, name, 0, n);
	struct wmat w;

	if (!t)
		return NULL;
	w = (struct wmat){ .type = t->type, .rows = 1, .cols = n, .data = t->data };
	if (t->type == GGML_TYPE_Q8_0 || convert(L->m, &w, GGML_TYPE_F32) < 0) {
		snprintf(L->err, L->errlen, "%s: tensor '%s': cannot use type "
			 "%s for a norm vector", L->path, name,
			 ggml_type_name(t->type));
		return NULL;
	}
	return w.data;
}

/* Reads "<arch>.<key>" as u32 into *out; required or default. */
static int hp_u32(struct loader *L, const char *arch, const char *key,
		  int required, uint32_t def, int *out)
{
	char full[128];
	uint32_t v = def;
	int rc;

	snprintf(full, sizeof full, "%s.%s", arch, key);
	rc = gguf_get_u32(L->m->g, full, &v, L->err, L->errlen);
	if (rc < 0)
		return -1;
	if (rc == 1 && required) {
		snprintf(L->err, L->errlen, "%s: metadata key '%s' is missing",
			 L->path, full);
		return -1;
	}
	if (v > (1u << 24)) {
		snprintf(L->err, L->errlen, "%s: metadata '%s' = %u is out of "
			 "range", L->path, full, v);
		return -1;
	}
	*out = (int)v;
	return 0;
}

static int hp_f32(struct loader *L, const char *arch, const char *key,
		  float def, float *out)
{
	char full[128];
	float v = def;

	snprintf(full, sizeof full, "%s.%s", arch, key);
	if (gguf_get_f32(L->m->g, full, &v, L->err, L->errlen) < 0)
		return -1;
	if (!(v > 0.0f) || !isfinite(v)) {
		snprintf(L->err, L->errlen, "%s: metadata '%s' = %g is out of "
			 "range", L->path, full, (double)v);
		return -1;
	}
	*out = v;
	return 0;
}

static int load_hparams(struct loader *L)
{
	struct hparams *hp = &L->m->hp;
	struct gguf_str s;
	char arch[32];
	int rc, n_vdim;

	rc = gguf_get_str(L->m->g, "general.architecture", &s, L->err, L->errlen);
	if (rc != 0) {
		if (rc == 1)
			snprintf(L->err, L->errlen, "%s: metadata key "
				 "'general.architecture' is missing", L->path);
		return -1;
	}
	if (s.len == 5 && !memcmp(s.ptr, "llama", 5)) {
		hp->arch = ARCH_LLAMA;
	} else if (s.len == 5 && !memcmp(s.ptr, "gemma", 5)) {
		hp->arch = ARCH_GEMMA;
	} else {
		snprintf(L->err, L->errlen, "%s: general.architecture '%.*s' is "
			 "not supported (llama, gemma)", L->path,
			 (int)(s.len > 40 ? 40 : s.len), s.ptr);
		return -1;
	}
	snprintf(arch, sizeof arch, "%s", arch_name(hp->arch));

	if (hp_u32(L, arch, "embedding_length", 1, 0, &hp->n_embd) ||
	    hp_u32(L, arch, "block_count", 1, 0, &hp->n_layer) ||
	    hp_u32(L, arch, "feed_forward_length", 1, 0, &hp->n_ff) ||
	    hp_u32(L, arch, "attention.head_count", 1, 0, &hp->n_head) ||
	    hp_u32(L, arch, "context_length", 0, 2048, &hp->n_ctx_train))
		return -1;
	if (hp->n_embd <= 0 || hp->n_layer <= 0 || hp->n_ff <= 0 ||
	    hp->n_head <= 0) {
		snprintf(L->err, L->errlen, "%s: %s.embedding_length, block_count, "
			 "feed_forward_length and attention.head_count must be "
			 "positive", L->path, arch);
		return -1;
	}
	if (hp_u32(L, arch, "attention.head_count_kv", 0, (uint32_t)hp->n_head,
		   &hp->n_head_kv) ||
	    hp_u32(L, arch, "attention.key_length", 0,
		   (uint32_t)(hp->n_embd / hp->n_head), &hp->head_dim) ||
	    hp_u32(L, arch, "attention.value_length", 0, (uint32_t)hp->head_dim,
		   &n_vdim) ||
	    hp_u32(L, arch, "rope.dimension_count", 0, (uint32_t)hp->head_dim,
		   &hp->n_rot))
		return -1;
	if (hp->n_head_kv <= 0 || hp->n_head % hp->n_head_kv) {
		snprintf(L->err, L->errlen, "%s: %s.attention.head_count_kv = %d "
			 "does not divide head_count = %d", L->path, arch,
			 hp->n_head_kv, hp->n_head);
		return -1;
	}
	if (hp->head_dim <= 0 || n_vdim != hp->head_dim || hp->n_rot <= 0 ||
	    hp->n_rot > hp->head_dim || hp->n_rot % 2 || hp->n_rot > 4096) {
		snprintf(L->err, L->errlen, "%s: %s.attention.key_length = %d, "
			 "value_length = %d, rope.dimension_count = %d: need "
			 "key = value and an even rope dimension <= key, 4096",
			 L->path, arch, hp->head_dim, n_vdim, hp->n_rot);
		return -1;
	}
	if ((int64_t)hp->n_head * hp->head_dim > (1 << 24)) {
		snprintf(L->err, L->errlen, "%s: %s.attention.head_count * "
			 "key_length is out of range", L->path, arch);
		return -1;
	}
	if (hp_f32(L, arch, "attention.layer_norm_rms_epsilon",
		   hp->arch == ARCH_GEMMA ? 1e-6f : 1e-5f, &hp->eps) ||
	    hp_f32(L, arch, "rope.freq_base", 10000.0f, &hp->rope_base))
		return -1;
	return 0;
}

static int load_weights(struct loader *L)
{
	struct model *m = L->m;
	struct hparams *hp = &m->hp;
	const struct gguf_tensor *te = gguf_find_tensor(m->g, "token_embd.weight");
	int qdim = hp->n_head * hp->head_dim;
	int kvdim = hp->n_head_kv * hp->head_dim;
	char name[96];

	if (!te) {
		snprintf(L->err, L->errlen, "%s: tensor 'token_embd.weight' is "
			 "missing", L->path);
		return -1;
	}
	if (te->ne[1] < 1 || te->ne[1] > (1u << 24)) {
		snprintf(L->err, L->errlen, "%s: tensor 'token_embd.weight': "
			 "vocabulary of %llu rows is out of range", L->path,
			 (unsigned long long)te->ne[1]);
		return -1;
	}
	hp->n_vocab = (int)te->ne[1];
	/* In q8_0 mode the embedding is quantized like every other matrix,
	 * as llama.cpp's quantizer does, so both paths see the same rows. */
	if (bind_mat(L, "token_embd.weight", hp->n_vocab, hp->n_embd,
		     &m->tok_embd))
		return -1;
	m->tied = !gguf_find_tensor(m->g, "output.weight");
	if (m->tied)
		m->output = m->tok_embd;
	else if (bind_mat(L, "output.weight", hp->n_vocab, hp->n_embd,
			  &m->output))
		return -1;
	if (!(m->out_norm = bind_vec(L, "output_norm.weight", hp->n_embd)))
		return -1;

	/* every block has 9 tensors: a block_count the tensor table cannot
	 * hold is refused before anything is sized by it (fuzzing found a
	 * 6 GB allocation for a file that claims 50 million blocks) */
	if ((uint64_t)hp->n_layer * 9 > m->g->n_tensors) {
		snprintf(L->err, L->errlen, "%s: %s.block_count is %d, but the file "
			 "has only %llu tensors (9 per block)", L->path,
			 arch_name(hp->arch), hp->n_layer,
			 (unsigned long long)m->g->n_tensors);
		return -1;
	}
	m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
	if (!m->layers) {
		snprintf(L->err, L->errlen, "%s: out of memory", L->path);
		return -1;
	}
	for (int i = 0; i < hp->n_layer; i++) {
		struct layer *l = &m->layers[i];
#define NAME(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, i), name)
		if (!(l->attn_norm = bind_vec(L, NAME("attn_norm.weight"), hp->n_embd)) ||
		    !(l->ffn_norm = bind_vec(L, NAME("ffn_norm.weight"), hp->n_embd)) ||
		    bind_mat(L, NAME("attn_q.weight"), qdim, hp->n_embd, &l->wq) ||
		    bind_mat(L, NAME("attn_k.weight"), kvdim, hp->n_embd, &l->wk) ||
		    bind_mat(L, NAME("attn_v.weight"), kvdim, hp->n_embd, &l->wv) ||
		    bind_mat(L, NAME("attn_output.weight"), hp->n_embd, qdim, &l->wo) ||
		    bind_mat(L, NAME("ffn_gate.weight"), hp->n_ff, hp->n_embd, &l->w_gate) ||
		    bind_mat(L, NAME("ffn_up.weight"), hp->n_ff, hp->n_embd, &l->w_up) ||
		    bind_mat(L, NAME("ffn_down.weight"), hp->n_embd, hp->n_ff, &l->w_down))
			return -1;
#undef NAME
	}
	return 0;
}

int model_load(const char *path, enum weights_mode mode, struct model **out,
	       char *err, size_t errlen)
{
	struct model *m = calloc(1, sizeof *m);
	struct loader L = { m, path, err, errlen };

	if (!m) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	m->wmode = mode;
	if (gguf_open(path, &m->g, err, errlen) < 0)
		goto free_model;
	if (load_hparams(&L) < 0 || load_weights(&L) < 0)
		goto free_model;
	if (tok_create(m->g, &m->tok, err, errlen) < 0)
		goto free_model;
	if (tok_n_vocab(m->tok) != m->hp.n_vocab) {
		snprintf(err, errlen, "%s: tokenizer.ggml.tokens has %d entries "
			 "but token_embd.weight has %d rows", path,
			 tok_n_vocab(m->tok), m->hp.n_vocab);
		goto free_model;
	}
	*out = m;
	return 0;

free_model:
	model_free(m);
	return -1;
}

static void free_preps(struct wmat *w, void *ctx)
{
	(void)ctx;
	for (int i = 0; i < WMAT_MAX_PREP; i++) {
		free(w->prep[i].data);
		w->prep[i].prep = NULL;
		w->prep[i].data = NULL;
	}
}

void model_free(struct model *m)
{
	if (!m)
		return;
	tok_free(m->tok);
	if (m->layers)
		model_for_each_wmat(m, free_preps, NULL);
	for (int i = 0; i < m->n_owned; i++)
		free(m->owned[i]);
	free(m->owned);
	free(m->layers);
	gguf_close(m->g);
	free(m);
}

void model_for_each_wmat(struct model *m, void (*fn)(struct wmat *, void *),
			 void *ctx)
{
	for (int i = 0; i < m->hp.n_layer; i++) {
		struct layer *l = &m->layers[i];
		struct wmat *all[] = { &l->wq, &l->wk, &l->wv, &l->wo,
				       &l->w_gate, &l->w_up, &l->w_down };
		for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
			fn(all[k], ctx);
	}
	/* when tied, tok_embd shares output's data; it is only read a row at
	 * a time from w->data, never by a matmul kernel, so it is not visited */
	fn(&m->output, ctx);
}

static size_t wmat_bytes(const struct wmat *w)
{
	return ggml_row_size(w->type, (uint64_t)w->cols) * (size_t)w->rows;
}

static void add_bytes(struct wmat *w, void *ctx)
{
	*(size_t *)ctx += wmat_bytes(w);
}

size_t model_weight_bytes(const struct model *m)
{
	size_t n = 0;

	model_for_each_wmat((struct model *)m, add_bytes, &n);
	return n;
}

static void add_macs(struct wmat *w, void *ctx)
{
	*(double *)ctx += (double)w->rows * w->cols;
}

double model_weight_macs(const struct model *m)
{
	double n = 0;

	model_for_each_wmat((struct model *)m, add_macs, &n);
	return n;
}

const void *wmat_data_for(const struct wmat *w, const struct variant *v)
{
	if (!v->prep)
		return w->data;
	for (int i = 0; i < WMAT_MAX_PREP; i++)
		if (w->prep[i].prep && !strcmp(w->prep[i].prep->layout,
					       v->prep->layout))
			return w->prep[i].data;
	return NULL;
}

struct prep_job {
	const struct model *m;
	const struct variant_prep *want[WMAT_MAX_PREP];
	int n_want;
	struct prep_stats *st;
	int failed;
};

/* Frees the layouts of w no set wants, then makes the missing ones. */
static void prep_one(struct wmat *w, void *ctx)
{
	struct prep_job *j = ctx;

	if (w->type != GGML_TYPE_Q8_0)
		return;
	const int nb = w->cols / QK8_0;
	for (int i = 0; i < WMAT_MAX_PREP; i++) {
		int keep = 0;
		for (int k = 0; k < j->n_want; k++)
			keep |= w->prep[i].prep == j->want[k];
		if (w->prep[i].prep && !keep) {
			free(w->prep[i].data);
			w->prep[i].prep = NULL;
			w->prep[i].data = NULL;
		}
	}
	for (int k = 0; k < j->n_want && !j->failed; k++) {
		const struct variant_prep *p = j->want[k];
		int have = 0, slot = -1;
		for (int i = 0; i < WMAT_MAX_PREP; i++) {
			have |= w->prep[i].prep == p;
			if (!w->prep[i].prep && slot < 0)
				slot = i;
		}
		if (have)
			continue;
		size_t bytes = p->bytes(w->rows, nb);
		void *buf = slot >= 0 ? malloc(bytes) : NULL;
		if (!buf) {
			j->failed = 1;
			return;
		}
		p->run(w->data, buf, w->rows, nb);
		/* weights read from the mapping are not needed any more unless
		 * a shape falls back to the reference: give the pages back
		 * (they are re-read from the file if so) */
		const uint8_t *d = w->data, *map = j->m->g->map;
		if (d >= map && d < map + j->m->g->map_size)
			drop_pages(d, ggml_row_size(w->type, (uint64_t)w->cols) *
				      (size_t)w->rows);
		w->prep[slot].prep = p;
		w->prep[slot].data = buf;
		j->st->made += bytes;
	}
	for (int i = 0; i < WMAT_MAX_PREP; i++)
		if (w->prep[i].prep)
			j->st->bytes += w->prep[i].prep->bytes(w->rows, nb);
}

int model_prepare(struct model *m, const struct kernels *const *sets, int n,
		  struct prep_stats *st, char *err, size_t errlen)
{
	struct prep_job j = { .m = m, .st = st };
	double t0;

	memset(st, 0, sizeof *st);
	for (int i = 0; i < n; i++) {
		const struct variant_prep *p = sets[i]->v[OP_MATMUL_Q8]->prep;
		int dup = 0;
		for (int k = 0; k < j.n_want; k++)
			dup |= j.want[k] == p;
		if (p && !dup) {
			if (j.n_want == WMAT_MAX_PREP) {
				snprintf(err, errlen, "more than %d prepared weight "
					 "layouts requested at once", WMAT_MAX_PREP);
				return -1;
			}
			j.want[j.n_want++] = p;
		}
	}
	t0 = now_ms();
	model_for_each_wmat(m, prep_one, &j);
	st->ms = now_ms() - t0;
	if (j.failed) {
		snprintf(err, errlen, "out of memory preparing weight layout %s",
			 j.n_want ? j.want[0]->layout : "?");
		return -1;
	}
	return 0;
}


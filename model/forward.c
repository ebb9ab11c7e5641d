/* forward.c - the transformer forward pass over a KV cache.
 *
 * A batch of n tokens goes through each weight matrix together (prompt
 * processing); decode is the same code with n = 1.  Every hot op is called
 * through the struct kernels; matmuls and attention are split across the
 * persistent pool, the cheap element-wise ops run on the calling thread. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "clock.h"
#include "model.h"
#include "pool.h"
#include "prof.h"

#define UBATCH 512	/* tokens per pass through the layers */
#define ROW_ALIGN 16	/* matmul row slices are multiples of this */

struct session {
	const struct model *m;
	const struct kernels *k;
	struct pool *pool;
	int n_ctx, pos;
	int cap;		/* tokens per pass: min(UBATCH, n_ctx) */
	int qdim, kvdim;
	float *x;		/* (cap, n_embd) residual stream */
	float *xb, *xb2;	/* (cap, n_embd) */
	float *q;		/* (cap, qdim) */
	float *att;		/* (cap, qdim) */
	float *hb, *hb2;	/* (cap, n_ff) */
	float *kc, *vc;		/* (n_layer, n_ctx, kvdim) */
	float *scores;		/* (score_threads, score_len) attention scratch */
	int score_threads;
	size_t score_len;
	void *act;		/* cap rows of converted activations */
	int scratch_rows;	/* tokens the scratch above holds; 0: none */
	enum scratch_mode scratch;
	struct rope_tab rope;
	struct prof *prof;	/* NULL: no timestamps taken */
};

static int scratch_alloc(struct session *s, int U);
static void scratch_free(struct session *s);

/* --- profiling ----------------------------------------------------------- */

/* Start of a profiled step: a timestamp, or 0 when no profile is
 * attached (then prof_add does nothing). */
static inline uint64_t prof_tick(const struct session *s)
{
	return s->prof ? now_ns() : 0;
}

static inline void prof_add(struct session *s, enum prof_op op, uint64_t t0,
			    double bytes, double macs)
{
	struct prof_row *r;

	if (!s->prof)
		return;
	r = &s->prof->r[op];
	r->ns += (double)(now_ns() - t0);
	r->calls++;
	r->bytes += bytes;
	r->macs += macs;
}

/* --- matmul -------------------------------------------------------------- */

struct mm_job {
	const struct session *s;
	const struct wmat *w;
	const float *x;		/* (nt, cols) */
	float *y;		/* (nt, ldy) */
	int nt, ldy;
	const struct variant *v;	/* the Q8_0 variant for this shape */
	const void *wd;		/* the weights as v reads them */
	int align;		/* row slice granularity */
};

/* Converts rows [t0, t1) of x to the activation format of w->type. */
static void convert_rows(const struct mm_job *j, int t0, int t1)
{
	const int n = j->w->cols;
	const struct kernels *k = j->s->k;

	for (int t = t0; t < t1; t++) {
		const float *xr = j->x + (size_t)t * n;
		switch (j->w->type) {
		case GGML_TYPE_Q8_0:
			KCALL(k, OP_QUANTIZE, quantize)(xr,
				(block_q8_0 *)j->s->act + (size_t)t * (n / QK8_0), n);
			break;
		case GGML_TYPE_F16: {
			uint16_t *h = (uint16_t *)j->s->act + (size_t)t * n;
			for (int i = 0; i < n; i++)
				h[i] = f32_to_fp16(xr[i]);
			break;
		}
		case GGML_TYPE_BF16: {
			uint16_t *h = (uint16_t *)j->s->act + (size_t)t * n;
			for (int i = 0; i < n; i++)
				h[i] = f32_to_bf16(xr[i]);
			break;
		}
		case GGML_TYPE_F32:
			break;
		}
	}
}

static void split(int n, int align, int ith, int nth, int *a, int *b)
{
	int units = (n + align - 1) / align;
	int per = units / nth, extra = units % nth;
	int u0 = ith * per + (ith < extra ? ith : extra);
	int u1 = u0 + per + (ith < extra);

	*a = u0 * align < n ? u0 * align : n;
	*b = u1 * align < n ? u1 * align : n;
}

static void convert_task(void *ctx, int ith, int nth)
{
	const struct mm_job *j = ctx;
	int t0, t1;

	split(j->nt, 1, ith, nth, &t0, &t1);
	convert_rows(j, t0, t1);
}

static void mm_task(void *ctx, int ith, int nth)
{
	const struct mm_job *j = ctx;
	const struct wmat *w = j->w;
	const struct kernels *k = j->s->k;
	int r0, r1;

	split(w->rows, j->align, ith, nth, &r0, &r1);
	if (r0 >= r1)
		return;
	switch (w->type) {
	case GGML_TYPE_Q8_0:
		j->v->fn.matmul_q8(j->wd, j->s->act, j->y, w->cols / QK8_0, r0,
				   r1, j->nt, j->ldy);
		break;
	case GGML_TYPE_F16:
		KCALL(k, OP_MATMUL_F16, matmul_h)(w->data, j->s->act, j->y,
			w->cols, r0, r1, j->nt, j->ldy);
		break;
	case GGML_TYPE_BF16:
		KCALL(k, OP_MATMUL_BF16, matmul_h)(w->data, j->s->act, j->y,
			w->cols, r0, r1, j->nt, j->ldy);
		break;
	case GGML_TYPE_F32:
		KCALL(k, OP_MATMUL_F32, matmul_f32)(w->data, j->x, j->y,
			w->cols, r0, r1, j->nt, j->ldy);
		break;
	}
}

/* Bytes of w as variant v reads it. */
static double wmat_bytes_as(const struct wmat *w, const struct variant *v)
{
	if (w->type == GGML_TYPE_Q8_0 && v && v->prep)
		return (double)v->prep->bytes(w->rows, w->cols / QK8_0);
	return (double)ggml_row_size(w->type, (uint64_t)w->cols) * w->rows;
}

/* y (nt, ldy) [:, 0..w->rows) = x (nt, w->cols) times w transposed;
 * profiled as po (the conversion of x as PROF_QUANTIZE). */
static void matmul(struct session *s, const struct wmat *w, const float *x,
		   int nt, float *y, int ldy, enum prof_op po)
{
	struct mm_job j = { s, w, x, y, nt, ldy, NULL, NULL, ROW_ALIGN };
	const double in_bytes = (double)nt * w->cols * sizeof(float);
	double act_bytes = 0;
	uint64_t t0;

	if (w->type == GGML_TYPE_Q8_0) {
		/* the chosen variant, unless this shape does not fit it or its
		 * layout was not prepared: then the reference, on the weights
		 * as stored */
		const struct op_shape sh = { w->rows, w->cols, nt, 0 };
		j.v = s->k->v[OP_MATMUL_Q8];
		j.wd = wmat_data_for(w, j.v);
		if ((j.v->fits && !j.v->fits(&sh)) || !j.wd) {
			j.v = variant_reference(OP_MATMUL_Q8);
			j.wd = w->data;
		}
		if (j.v->prep && j.v->prep->row_align > j.align)
			j.align = j.v->prep->row_align;
	}
	if (w->type != GGML_TYPE_F32) {
		t0 = prof_tick(s);
		if (nt >= 4)
			pool_run(s->pool, convert_task, &j);
		else
			convert_rows(&j, 0, nt);
		act_bytes = w->type == GGML_TYPE_Q8_0 ?
			(double)nt * (w->cols / QK8_0) * sizeof(block_q8_0) :
			(double)nt * w->cols * 2;
		prof_add(s, PROF_QUANTIZE, t0, in_bytes + act_bytes, 0);
	}
	t0 = prof_tick(s);
	pool_run(s->pool, mm_task, &j);
	if (s->prof) {
		prof_add(s, po, t0, wmat_bytes_as(w, j.v) +
			 (act_bytes ? act_bytes : in_bytes) +
			 (double)nt * w->rows * sizeof(float),
			 (double)nt * w->rows * w->cols);
		s->prof->r[po].int8 = w->type == GGML_TYPE_Q8_0;
	}
}

/* --- attention ----------------------------------------------------------- */

#define ATT_QB_MAX 32	/* tokens per attention call, at most */

/* One attention step: tasks of (query block, KV head, part of its query
 * heads), one attention call each (after scaling its rows of q, for
 * gemma), taken costliest first (the last query
 * block sees the most positions) from a shared counter. */
struct att_job {
	struct session *s;
	int layer, pos0, nt;
	float scale;		/* applied to q.k before softmax */
	float qscale;		/* applied to q first (1: none) */
	const struct variant *v;	/* the attention variant for this shape */
	int qb;			/* tokens per query block */
	int hsplit, hper;	/* parts of a KV head's query heads, heads a part */
	int n_tasks;
	atomic_int next;	/* the next task to take */
};

/* Plans the tasks for nth threads: about 4 a thread, in query blocks of
 * at most ATT_QB_MAX tokens; at one token (decode), a KV head's query
 * heads are split when there are fewer KV heads than threads (each part
 * then reads the K and V rows again). */
static void att_plan(struct att_job *j, const struct hparams *hp, int nth)
{
	const int group = hp->n_head / hp->n_head_kv;
	int want;

	j->hsplit = 1;
	if (j->nt == 1 && hp->n_head_kv < nth) {
		j->hsplit = (nth + hp->n_head_kv - 1) / hp->n_head_kv;
		j->hsplit = j->hsplit < group ? j->hsplit : group;
	}
	j->hper = (group + j->hsplit - 1) / j->hsplit;
	j->hsplit = (group + j->hper - 1) / j->hper;	/* no empty part */
	want = 4 * nth / (hp->n_head_kv * j->hsplit);
	want = want < 1 ? 1 : want;
	j->qb = (j->nt + want - 1) / want;
	j->qb = j->qb > ATT_QB_MAX ? ATT_QB_MAX : j->qb;
	j->n_tasks = (j->nt + j->qb - 1) / j->qb * hp->n_head_kv * j->hsplit;
	atomic_init(&j->next, 0);
}

/* x[t*ld + i] *= c for t < nt, i < n. */
static void scale_rows(float *x, int nt, int n, int ld, float c)
{
	for (int t = 0; t < nt; t++)
		for (int i = 0; i < n; i++)
			x[(size_t)t * ld + i] *= c;
}

static void att_task(void *ctx, int ith, int nth)
{
	struct att_job *j = ctx;
	const struct session *s = j->s;
	const struct hparams *hp = &s->m->hp;
	const int hd = hp->head_dim, group = hp->n_head / hp->n_head_kv;
	const int per_blk = hp->n_head_kv * j->hsplit;
	const int nblk = (j->nt + j->qb - 1) / j->qb;
	const size_t lofs = (size_t)j->layer * s->n_ctx * s->kvdim;
	int i;

	(void)nth;	/* nth <= score_threads: ith owns its scratch */
	while ((i = atomic_fetch_add(&j->next, 1)) < j->n_tasks) {
		const int t0 = (nblk - 1 - i / per_blk) * j->qb;
		const int kvh = i % per_blk / j->hsplit, part = i % j->hsplit;
		const int h0 = kvh * group + part * j->hper;
		const int heads = group - part * j->hper < j->hper ?
				  group - part * j->hper : j->hper;
		const struct att_args a = {
			.q = s->q + (size_t)t0 * s->qdim + (size_t)h0 * hd,
			.k = s->kc + lofs + (size_t)kvh * hd,
			.v = s->vc + lofs + (size_t)kvh * hd,
			.out = s->att + (size_t)t0 * s->qdim + (size_t)h0 * hd,
			.scratch = s->scores + (size_t)ith * s->score_len,
			.nt = j->nt - t0 < j->qb ? j->nt - t0 : j->qb,
			.heads = heads, .hd = hd, .pos0 = j->pos0 + t0,
			.ldq = s->qdim, .ldkv = s->kvdim, .ldo = s->qdim,
			.scale = j->scale,
		};
		if (j->qscale != 1.0f)
			scale_rows(s->q + (size_t)t0 * s->qdim + (size_t)h0 * hd,
				   a.nt, heads * hd, s->qdim, j->qscale);
		j->v->fn.attention(&a);
	}
}

/* Causal attention of the nt tokens of layer il over the cache (their
 * own k and v rows included), into s->att. */
static void attention(struct session *s, int il, int nt)
{
	const struct hparams *hp = &s->m->hp;
	const uint64_t t0 = prof_tick(s);
	struct att_job aj = { .s = s, .layer = il, .pos0 = s->pos, .nt = nt,
			      .scale = 1.0f / sqrtf((float)hp->head_dim),
			      .qscale = 1.0f };

	if (hp->arch == ARCH_GEMMA) {
		/* gemma scales q, not the scores (as llama.cpp's graph does):
		 * each task its own rows of q */
		aj.qscale = aj.scale;
		aj.scale = 1.0f;
	}
	/* the chosen variant, unless it refuses the shape: then the
	 * reference */
	const struct op_shape sh = { hp->n_head / hp->n_head_kv, hp->head_dim,
				     nt, s->pos };
	aj.v = s->k->v[OP_ATTENTION];
	if (aj.v->fits && !aj.v->fits(&sh))
		aj.v = variant_reference(OP_ATTENTION);
	att_plan(&aj, hp, pool_threads(s->pool));
	pool_run(s->pool, att_task, &aj);
	if (s->prof) {
		/* every head scores the n_kv cached positions of its token and
		 * sums as many v rows (a MAC per element each); the cache rows
		 * are read at least once, q read and out written once */
		const double scores = (double)hp->n_head *
			((double)nt * (s->pos + 1) + (double)nt * (nt - 1) / 2);
		const double n_kv = (double)s->pos + nt;
		prof_add(s, PROF_ATTENTION, t0, sizeof(float) *
			 (2 * n_kv * s->kvdim + 2.0 * nt * s->qdim),
			 2 * scores * hp->head_dim);
	}
}

/* --- element-wise in parallel -------------------------------------------- */

struct glu_job {
	const struct kernels *k;
	enum op_id op;
	float *g;
	const float *u;
	int n;
};

static void glu_task(void *ctx, int ith, int nth)
{
	const struct glu_job *j = ctx;
	int a, b;

	split(j->n, 64, ith, nth, &a, &b);
	if (a < b)
		j->k->v[j->op]->fn.glu(j->g + a, j->u + a, b - a);
}

/* --- the pass ------------------------------------------------------------ */

/* x += d over n floats. */
static void residual_add(struct session *s, const float *d, size_t n)
{
	uint64_t t0 = prof_tick(s);

	for (size_t i = 0; i < n; i++)
		s->x[i] += d[i];
	prof_add(s, PROF_RESIDUAL, t0, 3.0 * sizeof(float) * n, 0);
}

/* o = rmsnorm(x) * w for nt rows of E. */
static void rmsnorm_rows(struct session *s, float *o, const float *x,
			 const float *w, int nt)
{
	const int E = s->m->hp.n_embd;
	uint64_t t0 = prof_tick(s);

	for (int t = 0; t < nt; t++)
		KCALL(s->k, OP_RMSNORM, rmsnorm)(o + (size_t)t * E,
			x + (size_t)t * E, w, E, s->m->hp.eps);
	prof_add(s, PROF_RMSNORM, t0, 3.0 * sizeof(float) * nt * E, 0);
}

static void layer_forward(struct session *s, int il, int nt)
{
	const struct model *m = s->m;
	const struct hparams *hp = &m->hp;
	const struct layer *l = &m->layers[il];
	const struct kernels *k = s->k;
	const int E = hp->n_embd, F = hp->n_ff;
	float *kc = s->kc + ((size_t)il * s->n_ctx + s->pos) * s->kvdim;
	float *vc = s->vc + ((size_t)il * s->n_ctx + s->pos) * s->kvdim;
	uint64_t t0;

	rmsnorm_rows(s, s->xb, s->x, l->attn_norm, nt);
	matmul(s, &l->wq, s->xb, nt, s->q, s->qdim, PROF_MM_QKV);
	/* k and v straight into the cache */
	matmul(s, &l->wk, s->xb, nt, kc, s->kvdim, PROF_MM_QKV);
	matmul(s, &l->wv, s->xb, nt, vc, s->kvdim, PROF_MM_QKV);
	t0 = prof_tick(s);
	for (int t = 0; t < nt; t++) {
		KCALL(k, OP_ROPE, rope)(s->q + (size_t)t * s->qdim, hp->n_head,
					hp->head_dim, s->pos + t, &s->rope);
		KCALL(k, OP_ROPE, rope)(kc + (size_t)t * s->kvdim, hp->n_head_kv,
					hp->head_dim, s->pos + t, &s->rope);
	}
	prof_add(s, PROF_ROPE, t0, 2.0 * sizeof(float) * nt *
		 (s->qdim + s->kvdim), 0);

	attention(s, il, nt);

	matmul(s, &l->wo, s->att, nt, s->xb2, E, PROF_MM_ATTN_OUT);
	residual_add(s, s->xb2, (size_t)nt * E);

	rmsnorm_rows(s, s->xb, s->x, l->ffn_norm, nt);
	matmul(s, &l->w_gate, s->xb, nt, s->hb, F, PROF_MM_FFN_UP);
	matmul(s, &l->w_up, s->xb, nt, s->hb2, F, PROF_MM_FFN_UP);
	t0 = prof_tick(s);
	struct glu_job gj = { k, hp->arch == ARCH_GEMMA ? OP_GELU : OP_SILU,
			      s->hb, s->hb2, nt * F };
	pool_run(s->pool, glu_task, &gj);
	prof_add(s, PROF_GLU, t0, 3.0 * sizeof(float) * nt * F, 0);
	matmul(s, &l->w_down, s->hb, nt, s->xb2, E, PROF_MM_FFN_DOWN);
	residual_add(s, s->xb2, (size_t)nt * E);
}

/* One ubatch of nt <= cap tokens. */
static void eval_ubatch(struct session *s, const int32_t *tok, int nt,
			float *logits)
{
	const struct model *m = s->m;
	const struct hparams *hp = &m->hp;
	const int E = hp->n_embd;
	uint64_t t0 = prof_tick(s);

	for (int t = 0; t < nt; t++) {
		float *xr = s->x + (size_t)t * E;
		wmat_row_f32(&m->tok_embd, tok[t], xr);
		if (hp->arch == ARCH_GEMMA) {
			const float sc = sqrtf((float)E);
			for (int i = 0; i < E; i++)
				xr[i] *= sc;
		}
	}
	prof_add(s, PROF_EMBED, t0, (double)nt * (wmat_bytes_as(&m->tok_embd,
		 NULL) / m->tok_embd.rows + E * sizeof(float)), 0);
	for (int il = 0; il < hp->n_layer; il++)
		layer_forward(s, il, nt);
	s->pos += nt;
	if (!logits)
		return;
	rmsnorm_rows(s, s->xb, s->x + (size_t)(nt - 1) * E, m->out_norm, 1);
	matmul(s, &m->output, s->xb, 1, logits, hp->n_vocab, PROF_MM_OUTPUT);
}

int session_eval(struct session *s, const int32_t *tokens, int n,
		 float *logits, char *err, size_t errlen)
{
	if (n <= 0)
		return 0;
	if (n > s->n_ctx - s->pos) {
		snprintf(err, errlen, "context full: %d positions used of %d, "
			 "%d more requested", s->pos, s->n_ctx, n);
		return -1;
	}
	for (int i = 0; i < n; i++)
		if (tokens[i] < 0 || tokens[i] >= s->m->hp.n_vocab) {
			snprintf(err, errlen, "token id %d is out of range "
				 "(vocabulary of %d)", tokens[i], s->m->hp.n_vocab);
			return -1;
		}
	const uint64_t t0 = prof_tick(s);
	const int rows = n < s->cap ? n : s->cap;
	if ((s->scratch == SCRATCH_PER_CALL || s->scratch_rows < rows) &&
	    scratch_alloc(s, s->scratch == SCRATCH_PER_CALL ? rows : s->cap) < 0) {
		snprintf(err, errlen, "out of memory for scratch of %d tokens", rows);
		return -1;
	}
	for (int done = 0; done < n;) {
		int nt = n - done < s->cap ? n - done : s->cap;
		eval_ubatch(s, tokens + done, nt, done + nt == n ? logits : NULL);
		done += nt;
	}
	if (s->scratch == SCRATCH_PER_CALL)
		scratch_free(s);
	if (s->prof) {
		s->prof->pass_ns += (double)(now_ns() - t0);
		s->prof->passes++;
	}
	return 0;
}

/* --- lifetime ------------------------------------------------------------ */

static void scratch_free(struct session *s)
{
	free(s->x);
	free(s->xb);
	free(s->xb2);
	free(s->q);
	free(s->att);
	free(s->hb);
	free(s->hb2);
	free(s->scores);
	free(s->act);
	s->x = s->xb = s->xb2 = s->q = s->att = s->hb = s->hb2 = NULL;
	s->scores = NULL;
	s->act = NULL;
	s->scratch_rows = 0;
	s->score_threads = 0;
}

/* (Re)allocates the per-token buffers for U tokens and the attention
 * scores for every thread the pool may activate.  0, or -1 (nothing held). */
static int scratch_alloc(struct session *s, int U)
{
	const struct hparams *hp = &s->m->hp;
	const size_t E = (size_t)hp->n_embd;
	int maxdim = hp->n_embd > hp->n_ff ? hp->n_embd : hp->n_ff;

	maxdim = maxdim > s->qdim ? maxdim : s->qdim;
	scratch_free(s);
	s->x = malloc(sizeof(float) * U * E);
	s->xb = malloc(sizeof(float) * U * E);
	s->xb2 = malloc(sizeof(float) * U * E);
	s->q = malloc(sizeof(float) * U * s->qdim);
	s->att = malloc(sizeof(float) * U * s->qdim);
	s->hb = malloc(sizeof(float) * U * hp->n_ff);
	s->hb2 = malloc(sizeof(float) * U * hp->n_ff);
	s->score_threads = pool_threads_max(s->pool);
	s->score_len = ATT_SCRATCH(s->n_ctx, (size_t)ATT_QB_MAX *
				   (hp->n_head / hp->n_head_kv));
	s->scores = malloc(sizeof(float) * s->score_len * s->score_threads);
	s->act = malloc(2 * (size_t)U * maxdim);	/* >= 34/32 bytes each */
	if (!s->x || !s->xb || !s->xb2 || !s->q || !s->att || !s->hb ||
	    !s->hb2 || !s->scores || !s->act) {
		scratch_free(s);
		return -1;
	}
	s->scratch_rows = U;
	return 0;
}

/* Builds the RoPE table if k's rope variant reads one. */
static int rope_table_for(struct session *s, const struct kernels *k)
{
	if (!(k->v[OP_ROPE]->flags & VF_ROPE_TABLE) || s->rope.cs)
		return 0;
	s->rope.n_ctx = s->n_ctx;
	s->rope.cs = malloc(sizeof(float) * (size_t)s->n_ctx * s->rope.n_rot);
	if (!s->rope.cs)
		return -1;
	rope_fill(&s->rope);
	return 0;
}

struct session *session_create(const struct model *m, int n_ctx,
			       const struct kernels *k, struct pool *pool,
			       char *err, size_t errlen)
{
	const struct hparams *hp = &m->hp;
	struct session *s = calloc(1, sizeof *s);
	const char *sm = getenv("Q8TUNE_SCRATCH");

	if (!s)
		goto oom;
	if (n_ctx < 1) {
		snprintf(err, errlen, "context length %d must be positive", n_ctx);
		free(s);
		return NULL;
	}
	s->m = m;
	s->k = k;
	s->pool = pool;
	s->n_ctx = n_ctx;
	s->qdim = hp->n_head * hp->head_dim;
	s->kvdim = hp->n_head_kv * hp->head_dim;
	s->rope = (struct rope_tab){ .n_rot = hp->n_rot,
		.neox = hp->arch == ARCH_GEMMA, .base = hp->rope_base };
	s->scratch = sm && !strcmp(sm, "per_call") ? SCRATCH_PER_CALL :
		     SCRATCH_ARENA;
	s->cap = n_ctx < UBATCH ? n_ctx : UBATCH;
	const size_t kv = (size_t)hp->n_layer * n_ctx * s->kvdim;
	s->kc = calloc(kv, sizeof(float));
	s->vc = calloc(kv, sizeof(float));
	if (!s->kc || !s->vc || rope_table_for(s, k) < 0 ||
	    (s->scratch == SCRATCH_ARENA && scratch_alloc(s, s->cap) < 0))
		goto oom;
	return s;

oom:
	session_free(s);
	snprintf(err, errlen, "out of memory for a session of %d positions",
		 n_ctx);
	return NULL;
}

void session_free(struct session *s)
{
	if (!s)
		return;
	scratch_free(s);
	free(s->kc);
	free(s->vc);
	free(s->rope.cs);
	free(s);
}

void session_reset(struct session *s)
{
	s->pos = 0;
}

const struct model *session_model(const struct session *s)
{
	return s->m;
}

int session_set_kernels(struct session *s, const struct kernels *k)
{
	if (rope_table_for(s, k) < 0)
		return -1;
	s->k = k;
	return 0;
}

void session_set_prof(struct session *s, struct prof *p)
{
	s->prof = p;
}

void session_set_scratch(struct session *s, enum scratch_mode mode)
{
	if (mode == s->scratch)
		return;
	s->scratch = mode;
	if (mode == SCRATCH_PER_CALL)
		scratch_free(s);	/* the next eval allocates what it needs */
}

const char *scratch_mode_name(enum scratch_mode m)
{
	return m == SCRATCH_PER_CALL ? "per_call" : "arena";
}

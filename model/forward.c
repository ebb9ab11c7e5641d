/* forward.c - the transformer forward pass over a KV cache.
 *
 * A batch of n tokens goes through each weight matrix together (prompt
 * processing); decode is the same code with n = 1.  Every hot op is called
 * through the struct kernels; matmuls and attention are split across the
 * persistent pool, and so are the element-wise steps of a prompt batch
 * (rmsnorm and rope by token, the residual and GLU by element); a
 * matmul's input, converted to its weights' activation format, is reused
 * by the next matmul of the same input (q, k and v; gate and up). */
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
	const float *act_x;	/* what act holds: x, nt rows, for type */
	int act_nt, act_type;
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

/* act now holds x (nt rows) converted for weights of type type. */
static void act_mark(struct session *s, const float *x, int nt, int type)
{
	s->act_x = x, s->act_nt = nt, s->act_type = type;
}

/* y (nt, ldy) [:, 0..w->rows) = x (nt, w->cols) times w transposed;
 * profiled as po (the conversion of x as PROF_QUANTIZE).  again: x is the
 * input of the previous matmul, unchanged since, so its conversion is
 * reused when that was for the same rows and format. */
static void mm(struct session *s, const struct wmat *w, const float *x,
	       int nt, float *y, int ldy, enum prof_op po, int again)
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
	if (!again)
		s->act_x = NULL;	/* x is new: whatever act holds is stale */
	if (w->type != GGML_TYPE_F32) {
		act_bytes = w->type == GGML_TYPE_Q8_0 ?
			(double)nt * (w->cols / QK8_0) * sizeof(block_q8_0) :
			(double)nt * w->cols * 2;
		if (s->act_x != x || s->act_nt != nt ||
		    s->act_type != (int)w->type) {
			t0 = prof_tick(s);
			if (nt >= 4)
				pool_run(s->pool, convert_task, &j);
			else
				convert_rows(&j, 0, nt);
			prof_add(s, PROF_QUANTIZE, t0, in_bytes + act_bytes, 0);
			act_mark(s, x, nt, (int)w->type);
		}
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

static void matmul(struct session *s, const struct wmat *w, const float *x,
		   int nt, float *y, int ldy, enum prof_op po)
{
	mm(s, w, x, nt, y, ldy, po, 0);
}

/* matmul of the same x as the previous call (see mm). */
static void matmul_again(struct session *s, const struct wmat *w,
			 const float *x, int nt, float *y, int ldy,
			 enum prof_op po)
{
	mm(s, w, x, nt, y, ldy, po, 1);
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

/* g = act(g) * u over n floats in 64-float pieces; with q (a fused glu_q8
 * variant v), also the Q8_0 blocks of g, the pieces then whole blocks. */
struct glu_job {
	const struct kernels *k;
	enum op_id op;
	float *g;
	const float *u;
	int n;
	const struct variant *v;	/* the fused variant, or NULL */
	block_q8_0 *q;
};

static void glu_task(void *ctx, int ith, int nth)
{
	const struct glu_job *j = ctx;
	int a, b;

	split(j->n, 64, ith, nth, &a, &b);
	if (a >= b)
		return;
	if (j->v)
		j->v->fn.glu_q8(j->g + a, j->u + a, b - a, j->q + a / QK8_0);
	else
		j->k->v[j->op]->fn.glu(j->g + a, j->u + a, b - a);
}

/* --- the pass ------------------------------------------------------------ */

/* An element-wise step of a batch, split across the pool: rows [0, nt)
 * of E floats (rmsnorm, rope) or n floats in 64-float pieces (residual).
 * A single row or a short vector runs on the calling thread. */
struct ew_job {
	struct session *s;
	float *o;
	const float *x, *w;	/* rmsnorm: o = rmsnorm(x) * w; residual: o += x */
	int nt, E;
	size_t n;
	int pos;		/* rope: position of row 0 */
};

/* Rows [0, nt) of x (E floats each): x += d (the residual, if d), o =
 * rmsnorm(x) * w and its Q8_0 blocks into q, by a fused norm_q8 v. */
struct norm_q8_job {
	struct session *s;
	const struct variant *v;
	float *x, *o;
	const float *d, *w;
	block_q8_0 *q;
	int nt, E;
};

static void norm_q8_task(void *ctx, int ith, int nth)
{
	const struct norm_q8_job *j = ctx;
	const size_t E = (size_t)j->E;
	int a, b;

	split(j->nt, 1, ith, nth, &a, &b);
	for (int t = a; t < b; t++)
		j->v->fn.norm_q8(j->x + t * E, j->d ? j->d + t * E : NULL, j->w,
				 j->E, j->s->m->hp.eps, j->o + t * E,
				 j->q + t * (E / QK8_0));
}

static void rmsnorm_task(void *ctx, int ith, int nth)
{
	const struct ew_job *j = ctx;
	int a, b;

	split(j->nt, 1, ith, nth, &a, &b);
	for (int t = a; t < b; t++)
		KCALL(j->s->k, OP_RMSNORM, rmsnorm)(j->o + (size_t)t * j->E,
			j->x + (size_t)t * j->E, j->w, j->E, j->s->m->hp.eps);
}

static void residual_task(void *ctx, int ith, int nth)
{
	const struct ew_job *j = ctx;
	int a, b;

	split((int)j->n, 64, ith, nth, &a, &b);
	for (int i = a; i < b; i++)
		j->o[i] += j->x[i];
}

/* Runs fn over the pool when the step is worth splitting (parts >= 2),
 * else on the calling thread. */
static void ew_run(struct session *s, void (*fn)(void *, int, int),
		   void *j, int parts)
{
	if (parts >= 2)
		pool_run(s->pool, fn, j);
	else
		fn(j, 0, 1);
}

/* x += d over n floats. */
static void residual_add(struct session *s, const float *d, size_t n)
{
	uint64_t t0 = prof_tick(s);
	struct ew_job j = { .s = s, .o = s->x, .x = d, .n = n };

	ew_run(s, residual_task, &j, n >= 4096 ? 2 : 1);
	prof_add(s, PROF_RESIDUAL, t0, 3.0 * sizeof(float) * n, 0);
}

/* o = rmsnorm(x) * w for nt rows of E. */
static void rmsnorm_rows(struct session *s, float *o, const float *x,
			 const float *w, int nt)
{
	const int E = s->m->hp.n_embd;
	uint64_t t0 = prof_tick(s);
	struct ew_job j = { .s = s, .o = o, .x = x, .w = w, .nt = nt, .E = E };

	ew_run(s, rmsnorm_task, &j, nt);
	prof_add(s, PROF_RMSNORM, t0, 3.0 * sizeof(float) * nt * E, 0);
}

/* RoPE on rows [a, b) of q and of the new k rows (o: k, in the cache). */
static void rope_task(void *ctx, int ith, int nth)
{
	const struct ew_job *j = ctx;
	struct session *s = j->s;
	const struct hparams *hp = &s->m->hp;
	int a, b;

	split(j->nt, 1, ith, nth, &a, &b);
	for (int t = a; t < b; t++) {
		float *q = s->q + (size_t)t * s->qdim;

		KCALL(s->k, OP_ROPE, rope)(q, hp->n_head, hp->head_dim,
					   j->pos + t, &s->rope);
		KCALL(s->k, OP_ROPE, rope)(j->o + (size_t)t * s->kvdim,
					   hp->n_head_kv, hp->head_dim,
					   j->pos + t, &s->rope);
	}
}

/* The variant of a fused op if it is to run: the chosen one, unless it
 * is the reference (the unfused path) or the step's matmuls do not all
 * take Q8_0 input (q8 == 0). */
static const struct variant *fused(const struct session *s, enum op_id op,
				   int q8)
{
	const struct variant *v = s->k->v[op];

	return q8 && v != variant_reference(op) ? v : NULL;
}

/* The norm before a group of matmuls: x += d (the residual, if d), then
 * xb = rmsnorm(x) * w for nt rows.  With a fused norm_q8 variant (and q8:
 * the group's weights are all Q8_0) the group's quantized input is made
 * in the same pass and left in act for the group's matmuls (matmul_again);
 * otherwise act is marked stale and the first matmul converts xb.  The
 * fused step is profiled as rmsnorm. */
static void norm_step(struct session *s, const float *d, const float *w,
		      int nt, int q8)
{
	const int E = s->m->hp.n_embd;
	struct norm_q8_job j = { s, fused(s, OP_NORM_Q8, q8), s->x, s->xb, d, w,
				 s->act, nt, E };
	uint64_t t0;

	s->act_x = NULL;
	if (!j.v) {
		if (d)
			residual_add(s, d, (size_t)nt * E);
		rmsnorm_rows(s, s->xb, s->x, w, nt);
		return;
	}
	t0 = prof_tick(s);
	ew_run(s, norm_q8_task, &j, nt);
	prof_add(s, PROF_RMSNORM, t0, (double)nt * E * (sizeof(float) *
		 (d ? 5 : 3) + sizeof(block_q8_0) / (double)QK8_0), 0);
	act_mark(s, s->xb, nt, GGML_TYPE_Q8_0);
}

/* hb = act(hb) * hb2 over nt rows of n_ff; with a fused gelu_q8 or
 * silu_q8 variant (and q8: w_down is Q8_0) also the down matmul's input,
 * left in act as norm_step leaves it. */
static void glu_step(struct session *s, int nt, int q8)
{
	const int gemma = s->m->hp.arch == ARCH_GEMMA, F = s->m->hp.n_ff;
	struct glu_job gj = { s->k, gemma ? OP_GELU : OP_SILU, s->hb, s->hb2,
			      nt * F, fused(s, gemma ? OP_GELU_Q8 : OP_SILU_Q8, q8),
			      s->act };
	const uint64_t t0 = prof_tick(s);

	s->act_x = NULL;
	pool_run(s->pool, glu_task, &gj);
	prof_add(s, PROF_GLU, t0, (double)nt * F * (3.0 * sizeof(float) +
		 (gj.v ? sizeof(block_q8_0) / (double)QK8_0 : 0)), 0);
	if (gj.v)
		act_mark(s, s->hb, nt, GGML_TYPE_Q8_0);
}

static int all_q8(const struct wmat *a, const struct wmat *b,
		  const struct wmat *c)
{
	return a->type == GGML_TYPE_Q8_0 && b->type == GGML_TYPE_Q8_0 &&
	       (!c || c->type == GGML_TYPE_Q8_0);
}

/* One layer over nt tokens; d: the residual still to be added to x (the
 * previous layer's down projection), or NULL.  Leaves its own down
 * projection in xb2, not yet added: the next norm step adds it. */
static void layer_forward(struct session *s, int il, int nt, const float *d)
{
	const struct model *m = s->m;
	const struct hparams *hp = &m->hp;
	const struct layer *l = &m->layers[il];
	const int E = hp->n_embd, F = hp->n_ff;
	float *kc = s->kc + ((size_t)il * s->n_ctx + s->pos) * s->kvdim;
	float *vc = s->vc + ((size_t)il * s->n_ctx + s->pos) * s->kvdim;
	uint64_t t0;

	norm_step(s, d, l->attn_norm, nt, all_q8(&l->wq, &l->wk, &l->wv));
	matmul_again(s, &l->wq, s->xb, nt, s->q, s->qdim, PROF_MM_QKV);
	/* k and v straight into the cache */
	matmul_again(s, &l->wk, s->xb, nt, kc, s->kvdim, PROF_MM_QKV);
	matmul_again(s, &l->wv, s->xb, nt, vc, s->kvdim, PROF_MM_QKV);
	struct ew_job rj = { .s = s, .o = kc, .nt = nt, .pos = s->pos };
	t0 = prof_tick(s);
	ew_run(s, rope_task, &rj, nt);
	prof_add(s, PROF_ROPE, t0, 2.0 * sizeof(float) * nt *
		 (s->qdim + s->kvdim), 0);

	attention(s, il, nt);

	matmul(s, &l->wo, s->att, nt, s->xb2, E, PROF_MM_ATTN_OUT);

	norm_step(s, s->xb2, l->ffn_norm, nt, all_q8(&l->w_gate, &l->w_up, NULL));
	matmul_again(s, &l->w_gate, s->xb, nt, s->hb, F, PROF_MM_FFN_UP);
	matmul_again(s, &l->w_up, s->xb, nt, s->hb2, F, PROF_MM_FFN_UP);
	glu_step(s, nt, l->w_down.type == GGML_TYPE_Q8_0);
	matmul_again(s, &l->w_down, s->hb, nt, s->xb2, E, PROF_MM_FFN_DOWN);
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
		layer_forward(s, il, nt, il ? s->xb2 : NULL);
	if (hp->n_layer > 0)	/* the last layer's residual */
		residual_add(s, s->xb2, (size_t)nt * E);
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
	s->act_x = NULL;
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

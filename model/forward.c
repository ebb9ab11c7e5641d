/* forward.c - the transformer forward pass over a KV cache.
 *
 * A batch of n tokens goes through each weight matrix together (prompt
 * processing); decode is the same code with n = 1.  Every hot op is called
 * through the struct kernels; matmuls and attention are split across the
 * persistent pool, the cheap element-wise ops run on the calling thread. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model.h"
#include "pool.h"

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
	float *scores;		/* (threads, n_ctx) */
	void *act;		/* cap rows of converted activations */
	struct rope_tab rope;
};

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

/* y (nt, ldy) [:, 0..w->rows) = x (nt, w->cols) times w transposed. */
static void matmul(struct session *s, const struct wmat *w, const float *x,
		   int nt, float *y, int ldy)
{
	struct mm_job j = { s, w, x, y, nt, ldy, NULL, NULL, ROW_ALIGN };

	if (w->type == GGML_TYPE_Q8_0) {
		/* the chosen variant, unless this shape does not fit it or its
		 * layout was not prepared: then the reference, on the weights
		 * as stored */
		const struct op_shape sh = { w->rows, w->cols, nt };
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
		if (nt >= 4)
			pool_run(s->pool, convert_task, &j);
		else
			convert_rows(&j, 0, nt);
	}
	pool_run(s->pool, mm_task, &j);
}

/* --- attention ----------------------------------------------------------- */

struct att_job {
	struct session *s;
	int layer, pos0, nt;
	float scale;		/* applied to q.k before softmax */
};

static void att_task(void *ctx, int ith, int nth)
{
	const struct att_job *j = ctx;
	struct session *s = j->s;
	const struct hparams *hp = &s->m->hp;
	const struct kernels *k = s->k;
	const int hd = hp->head_dim, group = hp->n_head / hp->n_head_kv;
	const size_t lofs = (size_t)j->layer * s->n_ctx * s->kvdim;
	float *sc = s->scores + (size_t)ith * s->n_ctx;

	for (int task = ith; task < j->nt * hp->n_head; task += nth) {
		const int t = task / hp->n_head, h = task % hp->n_head;
		const int n_kv = j->pos0 + t + 1;	/* causal */
		const float *q = s->q + (size_t)t * s->qdim + (size_t)h * hd;
		const size_t kvo = lofs + (size_t)(h / group) * hd;
		float *out = s->att + (size_t)t * s->qdim + (size_t)h * hd;

		for (int p = 0; p < n_kv; p++)
			sc[p] = KCALL(k, OP_DOT, dot)(q, s->kc + kvo +
					(size_t)p * s->kvdim, hd) * j->scale;
		KCALL(k, OP_SOFTMAX, softmax)(sc, n_kv);
		memset(out, 0, sizeof(float) * (size_t)hd);
		for (int p = 0; p < n_kv; p++)
			KCALL(k, OP_AXPY, axpy)(out, sc[p], s->vc + kvo +
					(size_t)p * s->kvdim, hd);
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

static void layer_forward(struct session *s, int il, int nt)
{
	const struct model *m = s->m;
	const struct hparams *hp = &m->hp;
	const struct layer *l = &m->layers[il];
	const struct kernels *k = s->k;
	const int E = hp->n_embd, F = hp->n_ff;
	float *kc = s->kc + ((size_t)il * s->n_ctx + s->pos) * s->kvdim;
	float *vc = s->vc + ((size_t)il * s->n_ctx + s->pos) * s->kvdim;

	for (int t = 0; t < nt; t++)
		KCALL(k, OP_RMSNORM, rmsnorm)(s->xb + (size_t)t * E,
			s->x + (size_t)t * E, l->attn_norm, E, hp->eps);
	matmul(s, &l->wq, s->xb, nt, s->q, s->qdim);
	matmul(s, &l->wk, s->xb, nt, kc, s->kvdim);	/* straight into the cache */
	matmul(s, &l->wv, s->xb, nt, vc, s->kvdim);
	for (int t = 0; t < nt; t++) {
		KCALL(k, OP_ROPE, rope)(s->q + (size_t)t * s->qdim, hp->n_head,
					hp->head_dim, s->pos + t, &s->rope);
		KCALL(k, OP_ROPE, rope)(kc + (size_t)t * s->kvdim, hp->n_head_kv,
					hp->head_dim, s->pos + t, &s->rope);
	}

	struct att_job aj = { s, il, s->pos, nt, 1.0f / sqrtf((float)hp->head_dim) };
	if (hp->arch == ARCH_GEMMA) {
		/* gemma scales q, not the scores (as llama.cpp's graph does) */
		const size_t n = (size_t)nt * s->qdim;
		for (size_t i = 0; i < n; i++)
			s->q[i] *= aj.scale;
		aj.scale = 1.0f;
	}
	pool_run(s->pool, att_task, &aj);

	matmul(s, &l->wo, s->att, nt, s->xb2, E);
	for (size_t i = 0; i < (size_t)nt * E; i++)
		s->x[i] += s->xb2[i];

	for (int t = 0; t < nt; t++)
		KCALL(k, OP_RMSNORM, rmsnorm)(s->xb + (size_t)t * E,
			s->x + (size_t)t * E, l->ffn_norm, E, hp->eps);
	matmul(s, &l->w_gate, s->xb, nt, s->hb, F);
	matmul(s, &l->w_up, s->xb, nt, s->hb2, F);
	struct glu_job gj = { k, hp->arch == ARCH_GEMMA ? OP_GELU : OP_SILU,
			      s->hb, s->hb2, nt * F };
	pool_run(s->pool, glu_task, &gj);
	matmul(s, &l->w_down, s->hb, nt, s->xb2, E);
	for (size_t i = 0; i < (size_t)nt * E; i++)
		s->x[i] += s->xb2[i];
}

/* One ubatch of nt <= cap tokens. */
static void eval_ubatch(struct session *s, const int32_t *tok, int nt,
			float *logits)
{
	const struct model *m = s->m;
	const struct hparams *hp = &m->hp;
	const int E = hp->n_embd;

	for (int t = 0; t < nt; t++) {
		float *xr = s->x + (size_t)t * E;
		wmat_row_f32(&m->tok_embd, tok[t], xr);
		if (hp->arch == ARCH_GEMMA) {
			const float sc = sqrtf((float)E);
			for (int i = 0; i < E; i++)
				xr[i] *= sc;
		}
	}
	for (int il = 0; il < hp->n_layer; il++)
		layer_forward(s, il, nt);
	s->pos += nt;
	if (!logits)
		return;
	KCALL(s->k, OP_RMSNORM, rmsnorm)(s->xb, s->x + (size_t)(nt - 1) * E,
					 m->out_norm, E, hp->eps);
	matmul(s, &m->output, s->xb, 1, logits, hp->n_vocab);
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
	for (int done = 0; done < n;) {
		int nt = n - done < s->cap ? n - done : s->cap;
		eval_ubatch(s, tokens + done, nt, done + nt == n ? logits : NULL);
		done += nt;
	}
	return 0;
}

/* --- lifetime ------------------------------------------------------------ */

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
	int maxdim;

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
	maxdim = hp->n_embd > hp->n_ff ? hp->n_embd : hp->n_ff;
	maxdim = maxdim > s->qdim ? maxdim : s->qdim;

	s->cap = n_ctx < UBATCH ? n_ctx : UBATCH;
	const size_t U = (size_t)s->cap, E = (size_t)hp->n_embd;
	const size_t kv = (size_t)hp->n_layer * n_ctx * s->kvdim;
	s->x = malloc(sizeof(float) * U * E);
	s->xb = malloc(sizeof(float) * U * E);
	s->xb2 = malloc(sizeof(float) * U * E);
	s->q = malloc(sizeof(float) * U * s->qdim);
	s->att = malloc(sizeof(float) * U * s->qdim);
	s->hb = malloc(sizeof(float) * U * hp->n_ff);
	s->hb2 = malloc(sizeof(float) * U * hp->n_ff);
	s->kc = calloc(kv, sizeof(float));
	s->vc = calloc(kv, sizeof(float));
	s->scores = malloc(sizeof(float) * (size_t)n_ctx * pool_threads(pool));
	s->act = malloc(2 * U * (size_t)maxdim);	/* >= 34/32 bytes each */
	if (!s->x || !s->xb || !s->xb2 || !s->q || !s->att || !s->hb ||
	    !s->hb2 || !s->kc || !s->vc || !s->scores || !s->act ||
	    rope_table_for(s, k) < 0)
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
	free(s->x);
	free(s->xb);
	free(s->xb2);
	free(s->q);
	free(s->att);
	free(s->hb);
	free(s->hb2);
	free(s->kc);
	free(s->vc);
	free(s->scores);
	free(s->act);
	free(s->rope.cs);
	free(s);
}

void session_reset(struct session *s)
{
	s->pos = 0;
}

int session_pos(const struct session *s)
{
	return s->pos;
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

/* test_prof.c - the forward pass's in-situ profile: every row the model
 * runs is filled, the calls, bytes and MACs are the ones its shapes
 * imply (computed here independently), the rows never exceed the pass,
 * and a pass without a profile attached is the same computation. */
#include <math.h>
#include <stdlib.h>
#include "common.h"
#include "kernels.h"
#include "model.h"
#include "pool.h"
#include "prof.h"
#include "small.h"

struct rig {
	char path[320];
	struct model *m;
	struct pool *pool;
	struct session *s;
	struct kernels k;
};

static void rig_open(struct rig *r, int threads)
{
	struct synth_cfg c = small_cfg(SYNTH_GEMMA);
	char err[256];
	char dir[96];

	test_tmpdir(dir, sizeof dir, "prof");
	snprintf(r->path, sizeof r->path, "%s/model.gguf", dir);
	write_model(&c, r->path);
	r->m = load(r->path);
	cr_assert_eq(kernels_default(&r->k, err, sizeof err), 0, "%s", err);
	const struct kernels *sets[] = { &r->k };
	struct prep_stats ps;
	cr_assert_eq(model_prepare(r->m, sets, 1, &ps, err, sizeof err), 0, "%s", err);
	cr_assert_not_null(r->pool = pool_create(threads));
	r->s = session_create(r->m, 64, &r->k, r->pool, err, sizeof err);
	cr_assert_not_null(r->s, "%s", err);
}

static void rig_close(struct rig *r)
{
	session_free(r->s);
	pool_destroy(r->pool);
	model_free(r->m);
	unlink(r->path);
}

/* A batch of nt tokens from position 0, then one decode token, with the
 * profile: every count follows from the shapes. */
static void check_counts(int threads)
{
	struct rig r;
	struct prof p = { 0 };
	char err[256];
	const int nt = 5;
	int32_t toks[5] = { 1, 7, 9, 11, 13 };
	float *logits;

	rig_open(&r, threads);
	const struct hparams *hp = &r.m->hp;
	const double L = hp->n_layer, E = hp->n_embd, F = hp->n_ff;
	const double qd = (double)hp->n_head * hp->head_dim;
	const double kvd = (double)hp->n_head_kv * hp->head_dim;
	logits = malloc(sizeof(float) * (size_t)hp->n_vocab);
	session_set_prof(r.s, &p);
	cr_assert_eq(session_eval(r.s, toks, nt, logits, err, sizeof err), 0, "%s", err);

	cr_expect_eq(p.passes, 1);
	/* two norms per layer and the output norm, each once per call */
	cr_expect_eq(p.r[PROF_RMSNORM].calls, 2 * L + 1);
	cr_expect_eq(p.r[PROF_MM_QKV].calls, 3 * L);
	cr_expect_eq(p.r[PROF_MM_FFN_UP].calls, 2 * L);
	cr_expect_eq(p.r[PROF_MM_FFN_DOWN].calls, L);
	cr_expect_eq(p.r[PROF_MM_OUTPUT].calls, 1);
	cr_expect_eq(p.r[PROF_ATTENTION].calls, L);
	/* int8 MACs: every weight times every token, the head for the last */
	cr_expect_eq(p.r[PROF_MM_QKV].macs, L * nt * (qd + 2 * kvd) * E);
	cr_expect_eq(p.r[PROF_MM_ATTN_OUT].macs, L * nt * E * qd);
	cr_expect_eq(p.r[PROF_MM_FFN_UP].macs, L * nt * 2 * F * E);
	cr_expect_eq(p.r[PROF_MM_FFN_DOWN].macs, L * nt * E * F);
	cr_expect_eq(p.r[PROF_MM_OUTPUT].macs, (double)hp->n_vocab * E);
	cr_expect(p.r[PROF_MM_QKV].int8);
	/* causal attention over 1..nt positions, every head: q.k and p.v */
	const double kv = L * hp->n_head * hp->head_dim * (nt * (nt + 1) / 2.0);
	cr_expect_eq(p.r[PROF_ATTENTION].macs, 2 * kv);
	/* the cache rows of nt positions (k and v), q and out */
	cr_expect_eq(p.r[PROF_ATTENTION].bytes,
		     L * sizeof(float) * (2.0 * nt * kvd + 2.0 * nt * qd));

	double sum = 0;
	for (int i = 0; i < PROF_COUNT; i++) {
		cr_expect(p.r[i].ns >= 0 && isfinite(p.r[i].ns), "%s: %g ns",
			  prof_op_name(i), p.r[i].ns);
		cr_expect(p.r[i].calls > 0, "%s never ran", prof_op_name(i));
		sum += p.r[i].ns;
	}
	cr_expect(sum <= p.pass_ns, "rows %.0f ns > pass %.0f ns", sum, p.pass_ns);
	cr_expect(p.r[PROF_ATTENTION].ns > 0);

	/* one decode token: 1 token against nt + 1 cached positions */
	struct prof d = { 0 };
	session_set_prof(r.s, &d);
	cr_assert_eq(session_eval(r.s, toks, 1, logits, err, sizeof err), 0, "%s", err);
	cr_expect_eq(d.r[PROF_ATTENTION].macs,
		     2 * L * hp->n_head * hp->head_dim * (nt + 1.0));
	cr_expect_eq(d.r[PROF_MM_QKV].macs, L * (qd + 2 * kvd) * E);
	free(logits);
	rig_close(&r);
}

Test(prof, counts_follow_the_shapes)
{
	check_counts(1);
}

Test(prof, counts_follow_the_shapes_two_threads)
{
	check_counts(2);
}

/* Profiling only observes: the same tokens give the same logits with and
 * without a profile, and a detached profile is not written. */
Test(prof, profile_does_not_change_the_pass)
{
	struct rig r;
	struct prof p = { 0 };
	char err[256];
	int32_t toks[4] = { 1, 5, 6, 7 };

	rig_open(&r, 2);
	const int V = r.m->hp.n_vocab;
	float *a = malloc(sizeof(float) * V), *b = malloc(sizeof(float) * V);
	cr_assert_eq(session_eval(r.s, toks, 4, a, err, sizeof err), 0, "%s", err);
	session_reset(r.s);
	session_set_prof(r.s, &p);
	cr_assert_eq(session_eval(r.s, toks, 4, b, err, sizeof err), 0, "%s", err);
	for (int i = 0; i < V; i++)
		cr_expect_eq(a[i], b[i], "logit %d: %g != %g", i, a[i], b[i]);
	session_set_prof(r.s, NULL);
	const uint64_t passes = p.passes;
	session_reset(r.s);
	cr_assert_eq(session_eval(r.s, toks, 4, a, err, sizeof err), 0, "%s", err);
	cr_expect_eq(p.passes, passes, "a detached profile was written");
	free(a);
	free(b);
	rig_close(&r);
}

/* prof_ms sums the masked rows per pass. */
Test(prof, prof_ms_sums_masked_rows)
{
	struct prof p = { .passes = 4 };

	p.r[PROF_GLU].ns = 8e6;
	p.r[PROF_ROPE].ns = 4e6;
	p.r[PROF_RMSNORM].ns = 1e9;
	cr_expect_float_eq(prof_ms(&p, 1u << PROF_GLU | 1u << PROF_ROPE), 3.0, 1e-12);
	cr_expect_float_eq(prof_ms(&p, 0), 0.0, 1e-12);
	p.passes = 0;
	cr_expect_float_eq(prof_ms(&p, 1u << PROF_GLU), 0.0, 1e-12);
}

/* bench.c - in-situ measurement of the forward pass (see bench.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"
#include "clock.h"
#include "generate.h"
#include "model.h"
#include "pool.h"
#include "sampler.h"

#define AB_MARGIN 0.01	/* a practical difference: more than 1% */
/* The CI target may stop a row from this many samples on: below it the
 * distribution-free CI of the median is [min, max] with less than 95%
 * coverage (75% at n = 3), and at n = 1 it has no width at all. */
#define CI_MIN_N 6

void bench_spec_defaults(struct bench_spec *sp)
{
	*sp = (struct bench_spec){ .n_gen = 32, .min_reps = 5,
		.max_reps = BENCH_MAX_SAMPLES, .budget_ms = 10000,
		.ci_target = 0.02, .warmup = 1 };
}

int bench_ctx_init(struct bench_ctx *b, struct model *m, struct pool *pool,
		   struct session *s, struct counters *c, char *err,
		   size_t errlen)
{
	*b = (struct bench_ctx){ .m = m, .pool = pool, .s = s, .ctr = c };
	b->logits = malloc(sizeof(float) * (size_t)m->hp.n_vocab);
	if (!b->logits) {
		snprintf(err, errlen, "out of memory for logits");
		return -1;
	}
	return 0;
}

void bench_ctx_free(struct bench_ctx *b)
{
	free(b->logits);
	b->logits = NULL;
}

double ctr_value(const struct ctr_sample *c, const char *name)
{
	for (int i = 0; i < c->n; i++)
		if (!strcmp(c->name[i], name))
			return c->v[i];
	return 0;
}

static void ctr_accumulate(struct ctr_sample *sum, const struct ctr_sample *s)
{
	for (int i = 0; i < s->n; i++) {
		int j = 0;
		while (j < sum->n && strcmp(sum->name[j], s->name[i]))
			j++;
		if (j == sum->n) {
			if (sum->n == CTR_MAX)
				continue;
			sum->name[sum->n] = s->name[i];
			sum->v[sum->n++] = 0;
		}
		sum->v[j] += s->v[i];
	}
}

/* One sample from a cleared cache: the n_depth context first, untimed;
 * then pp evaluates the prompt as one batch (*ms = its wall time); tg
 * evaluates the prompt untimed (at depth 0: the depth context is its
 * prefix otherwise), then n_gen single tokens (each the previous one's argmax; *ms = ms per token).
 * Counters (if any) and the profile pr (if non-NULL, zeroed
 * first) cover the timed part only; counter deltas are added to *acc (may
 * be NULL). */
static int sample(struct bench_ctx *b, enum bench_kind kind,
		  const struct bench_spec *sp, double *ms,
		  struct ctr_sample *acc, struct prof *pr, char *err,
		  size_t errlen)
{
	struct ctr_sample cs = { 0 };
	double t0;
	int rc = -1;

	if (pr)
		memset(pr, 0, sizeof *pr);
	if (kind == ROW_TG && sp->n_gen < 1) {
		snprintf(err, errlen, "decode needs at least 1 token");
		return -1;
	}
	session_reset(b->s);
	/* the untimed prefix: the depth context, else tg's prompt */
	if (sp->n_depth > 0 && session_eval(b->s, sp->depth, sp->n_depth,
					    b->logits, err, errlen) < 0)
		return -1;
	if (kind == ROW_TG && sp->n_depth == 0 &&
	    session_eval(b->s, sp->prompt, sp->n_prompt, b->logits, err,
			 errlen) < 0)
		return -1;
	session_set_prof(b->s, pr);
	if (b->ctr)
		counters_start(b->ctr);
	t0 = now_ms();
	if (kind == ROW_PP) {
		if (session_eval(b->s, sp->prompt, sp->n_prompt, b->logits,
				 err, errlen) < 0)
			goto out;
		*ms = now_ms() - t0;
	} else {
		for (int i = 0; i < sp->n_gen; i++) {
			int32_t id = argmax(b->logits, b->m->hp.n_vocab);
			if (session_eval(b->s, &id, 1, b->logits, err, errlen) < 0)
				goto out;
		}
		*ms = (now_ms() - t0) / sp->n_gen;
	}
	rc = 0;
out:
	if (b->ctr) {
		counters_stop(b->ctr, &cs);
		if (acc && rc == 0)
			ctr_accumulate(acc, &cs);
	}
	session_set_prof(b->s, NULL);
	return rc;
}

/* Appends one measured sample to row r. */
static int row_sample(struct bench_ctx *b, enum bench_kind kind,
		      const struct bench_spec *sp, struct bench_row *r,
		      char *err, size_t errlen)
{
	struct prof p;

	if (sample(b, kind, sp, &r->ms[r->n], &r->ctr,
		   sp->prof_mask ? &p : NULL, err, errlen) < 0)
		return -1;
	if (sp->prof_mask)
		r->op_ms[r->n] = prof_ms(&p, sp->prof_mask);
	r->n++;
	return 0;
}

/* Tells the spec's progress callback about r; t_meas: when measuring
 * began. */
static void progress(const struct bench_spec *sp, const struct bench_row *r,
		     double t_meas)
{
	if (sp->progress)
		sp->progress(sp->progress_ctx, r, now_ms() - t_meas);
}

/* The warnings of a row that ended: BW_OVER when measuring took well
 * over the budget (the minimum samples were too long for it). */
static void over_budget(const struct bench_spec *sp, struct bench_row *r,
			double t_meas)
{
	if (sp->budget_ms > 0 && now_ms() - t_meas > BENCH_OVER * sp->budget_ms)
		r->warn |= BW_OVER;
}

static int row_tokens(enum bench_kind kind, const struct bench_spec *sp)
{
	return kind == ROW_PP ? sp->n_prompt : sp->n_gen;
}

/* Relative half-width of the distribution-free 95% CI of the median:
 * cheap enough to check after every sample. */
static double rel_ci(const double *x, int n)
{
	double lo, hi, cov, med = stats_median(x, n);

	stats_median_ci_order(x, n, 0.95, &lo, &hi, &cov);
	return med > 0 ? (hi - lo) / 2 / med : INFINITY;
}

static void row_finish(struct bench_row *r)
{
	stats_summary(r->ms, r->n, &r->st);
	r->tok_s = r->st.median > 0 ? (r->kind == ROW_PP ? r->n_tokens : 1) *
		1e3 / r->st.median : 0;
	if (r->st.cv > 0.05)
		r->warn |= BW_CV;
	if (ctr_value(&r->ctr, "ru_nivcsw") > 0)
		r->warn |= BW_NIVCSW;
	if (r->stop != STOP_CI)
		r->warn |= BW_CI;
}

static int max_reps(const struct bench_spec *sp)
{
	return sp->max_reps > 0 && sp->max_reps < BENCH_MAX_SAMPLES ?
	       sp->max_reps : BENCH_MAX_SAMPLES;
}

int bench_row_run(struct bench_ctx *b, enum bench_kind kind,
		  const struct bench_spec *sp, struct bench_row *row,
		  char *err, size_t errlen)
{
	const double start = now_ms();
	const int cap = max_reps(sp);
	double ms, t_meas;

	memset(row, 0, sizeof *row);
	row->kind = kind;
	row->n_tokens = row_tokens(kind, sp);
	row->n_depth = sp->n_depth;
	for (int i = 0; i < sp->warmup; i++)
		if (sample(b, kind, sp, &ms, NULL, NULL, err, errlen) < 0)
			return -1;
	t_meas = now_ms();
	for (;;) {
		if (row_sample(b, kind, sp, row, err, errlen) < 0)
			return -1;
		progress(sp, row, t_meas);
		if (row->n < sp->min_reps)
			continue;
		if (row->n >= CI_MIN_N && rel_ci(row->ms, row->n) <= sp->ci_target) {
			row->stop = STOP_CI;
			break;
		}
		if (row->n >= cap) {
			row->stop = STOP_MAX_REPS;
			break;
		}
		if (now_ms() - t_meas >= sp->budget_ms) {
			row->stop = STOP_BUDGET;
			break;
		}
	}
	over_budget(sp, row, t_meas);
	row->wall_ms = now_ms() - start;
	row_finish(row);
	return 0;
}

/* Ratio median(b)/median(a) with its CI, Mann-Whitney p, and verdicts. */
static void compare(const double *a, const double *b, int n, int resamples,
		    double *ratio, double *lo, double *hi, double *p,
		    double *u, int *significant, int *practical)
{
	stats_ratio_ci(a, n, b, n, 0.95, resamples, 0x9e3779b97f4a7c15ull,
		       ratio, lo, hi);
	*p = stats_mann_whitney(a, n, b, n, u);
	*significant = *p < 0.05 && (*lo > 1 || *hi < 1);
	*practical = *significant && fabs(*ratio - 1) > AB_MARGIN;
}

static void ab_stats(struct bench_ab *o, unsigned mask, int resamples)
{
	double u;

	compare(o->a.ms, o->b.ms, o->a.n, resamples, &o->ratio, &o->ratio_lo,
		&o->ratio_hi, &o->p, &o->u, &o->significant, &o->practical);
	if (mask)
		compare(o->a.op_ms, o->b.op_ms, o->a.n, resamples, &o->op_ratio,
			&o->op_lo, &o->op_hi, &o->op_p, &u, &o->op_significant,
			&o->op_practical);
}

int bench_apply(struct bench_ctx *b, const struct bench_setup *su, char *err,
		size_t errlen)
{
	if (session_set_kernels(b->s, su->k) < 0) {
		snprintf(err, errlen, "out of memory switching kernels");
		return -1;
	}
	if (su->threads > 0)
		pool_set_active(b->pool, su->threads);
	session_set_scratch(b->s, (enum scratch_mode)su->scratch);
	return 0;
}

int bench_ab_run(struct bench_ctx *b, enum bench_kind kind,
		 const struct bench_spec *sp, const struct bench_setup *a,
		 const struct bench_setup *bs, struct bench_ab *o, char *err,
		 size_t errlen)
{
	const struct bench_setup *set[2] = { a, bs };
	struct bench_row *row[2] = { &o->a, &o->b };
	const double start = now_ms();
	const int cap = max_reps(sp);
	double ms, t_meas;
	int rc = -1;

	memset(o, 0, sizeof *o);
	for (int i = 0; i < 2; i++) {
		row[i]->kind = kind;
		row[i]->n_tokens = row_tokens(kind, sp);
		row[i]->n_depth = sp->n_depth;
	}
	for (int w = 0; w < sp->warmup; w++)
		for (int i = 0; i < 2; i++)
			if (bench_apply(b, set[i], err, errlen) < 0 ||
			    sample(b, kind, sp, &ms, NULL, NULL, err, errlen) < 0)
				goto out;
	t_meas = now_ms();
	for (;;) {
		for (int i = 0; i < 2; i++) {
			if (bench_apply(b, set[i], err, errlen) < 0)
				goto out;
			if (row_sample(b, kind, sp, row[i], err, errlen) < 0)
				goto out;
		}
		const int n = o->a.n;
		progress(sp, &o->a, t_meas);
		if (n < sp->min_reps)
			continue;
		enum bench_stop stop = STOP_CI;
		if (n >= cap)
			stop = STOP_MAX_REPS;
		else if (now_ms() - t_meas >= sp->budget_ms)
			stop = STOP_BUDGET;
		else if ((n - sp->min_reps) % 4)
			continue;	/* checked at min_reps, then every 4 pairs */
		ab_stats(o, sp->prof_mask, 400);
		/* with a mask the ops' own ratio is what the caller decides on */
		const double r = sp->prof_mask ? o->op_ratio : o->ratio;
		const double lo = sp->prof_mask ? o->op_lo : o->ratio_lo;
		const double hi = sp->prof_mask ? o->op_hi : o->ratio_hi;
		const double p = sp->prof_mask ? o->op_p : o->p;
		const double m = sp->decide_margin;
		const double alpha = sp->alpha > 0 ? sp->alpha : 0.05;
		const int decided = m > 0 && p < alpha && (lo > 1 + m || hi < 1 - m);
		if (stop == STOP_CI && !decided &&
		    (n < CI_MIN_N || (hi - lo) / 2 > sp->ci_target * r))
			continue;
		o->a.stop = o->b.stop = stop;
		break;
	}
	over_budget(sp, &o->a, t_meas);
	over_budget(sp, &o->b, t_meas);
	o->a.wall_ms = o->b.wall_ms = now_ms() - start;
	row_finish(&o->a);
	row_finish(&o->b);
	ab_stats(o, sp->prof_mask, 2000);
	rc = 0;
out:
	if (bench_apply(b, a, err, errlen) < 0)
		rc = -1;
	return rc;
}

int bench_profile(struct bench_ctx *b, enum bench_kind kind,
		  const struct bench_spec *sp, int reps, struct prof *p,
		  double *overhead, char *err, size_t errlen)
{
	struct bench_overhead ov;
	int rc = bench_profile_ci(b, kind, sp, reps, p, &ov, err, errlen);

	*overhead = ov.ratio_m1;
	return rc;
}

int bench_profile_ci(struct bench_ctx *b, enum bench_kind kind,
		     const struct bench_spec *sp, int reps, struct prof *p,
		     struct bench_overhead *ov, char *err, size_t errlen)
{
	const int n = reps > 0 ? reps : 1;
	struct prof *each = malloc(sizeof(struct prof) * (size_t)n);
	double *on = malloc(sizeof(double) * 3 * (size_t)n);
	double *off = on + n, *tmp = on + 2 * n;
	double ms;
	int rc = -1;

	memset(p, 0, sizeof *p);
	*ov = (struct bench_overhead){ 0 };
	if (!on || !each) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (sample(b, kind, sp, &ms, NULL, NULL, err, errlen) < 0)	/* warm-up */
		goto out;
	/* the decode prefix is not part of the profile: sample() attaches it
	 * around what it times only */
	for (int i = 0; i < n; i++)
		if (sample(b, kind, sp, &off[i], NULL, NULL, err, errlen) < 0 ||
		    sample(b, kind, sp, &on[i], NULL, &each[i], err, errlen) < 0)
			goto out;
	/* the whole profiled sample whose pass time is nearest the median:
	 * one preempted sample does not decide, and its rows still add up to
	 * its own pass (a sum of per-row medians would not) */
	for (int i = 0; i < n; i++)
		tmp[i] = each[i].pass_ns;
	const double mid = stats_median(tmp, n);
	int best = 0;
	for (int i = 1; i < n; i++)
		if (fabs(each[i].pass_ns - mid) < fabs(each[best].pass_ns - mid))
			best = i;
	*p = each[best];
	stats_ratio_ci(off, n, on, n, 0.95, 2000, 0x9e3779b97f4a7c15ull,
		       &ov->ratio_m1, &ov->lo, &ov->hi);
	ov->ratio_m1 = stats_median(on, n) / stats_median(off, n) - 1;
	ov->lo -= 1;
	ov->hi -= 1;
	rc = 0;
out:
	free(each);
	free(on);
	return rc;
}

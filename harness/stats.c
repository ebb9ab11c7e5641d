/* stats.c - robust statistics for timings; see stats.h for the contracts.
 *
 * Every entry point copies and sorts its input once; the order
 * statistics, the bootstrap and the rank test all work on sorted copies.
 * Bootstrap resamples are drawn as indices into the sorted copy, so the
 * median of a resample is found by counting how often each index was
 * drawn (O(n) per resample, no sort). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "stats.h"

/* --- deterministic generator ---------------------------------------------- */

/* splitmix64 (base/rng.h): a seed alone fixes the whole stream. */
struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *g)
{
	return splitmix64(&g->s);
}

/* Uniform integer in [0, n), n >= 1, without modulo bias (Lemire 2019:
 * multiply-shift, rejecting the few low products that would bias it). */
static uint32_t rng_below(struct rng *g, uint32_t n)
{
	uint64_t m = (uint64_t)(uint32_t)rng_next(g) * n;

	if ((uint32_t)m < n) {
		uint32_t t = -n % n;

		while ((uint32_t)m < t)
			m = (uint64_t)(uint32_t)rng_next(g) * n;
	}
	return m >> 32;
}

/* --- sorted copies and order statistics ----------------------------------- */

static int cmp_double(const void *pa, const void *pb)
{
	double a = *(const double *)pa, b = *(const double *)pb;

	return (a > b) - (a < b);
}

/* A malloc'd ascending copy of x[0..n) (the caller frees it), or NULL if
 * n < 1, x is NULL, x holds a NaN (no order exists) or malloc fails. */
static double *sorted_copy(const double *x, int n)
{
	double *s;
	int i;

	if (n < 1 || !x)
		return NULL;
	for (i = 0; i < n; i++)
		if (isnan(x[i]))
			return NULL;
	s = malloc((size_t)n * sizeof(*s));
	if (!s)
		return NULL;
	memcpy(s, x, (size_t)n * sizeof(*s));
	qsort(s, (size_t)n, sizeof(*s), cmp_double);
	return s;
}

/* a + t (b - a): the type-7 interpolation between two order statistics;
 * exact when a == b. */
static double lerp(double a, double b, double t)
{
	return t == 0 ? a : a + t * (b - a);
}

/* Type-7 quantile p of the ascending s[0..n), n >= 1; NaN unless
 * 0 <= p <= 1. */
static double quantile_sorted(const double *s, int n, double p)
{
	double h;
	int lo;

	if (!(p >= 0 && p <= 1))
		return NAN;
	h = (n - 1) * p;
	lo = (int)floor(h);
	if (lo >= n - 1)
		return s[n - 1];
	return lerp(s[lo], s[lo + 1], h - lo);
}

double stats_quantile(const double *x, int n, double p)
{
	double *s = sorted_copy(x, n);
	double q;

	if (!s)
		return NAN;
	q = quantile_sorted(s, n, p);
	free(s);
	return q;
}

double stats_median(const double *x, int n)
{
	return stats_quantile(x, n, 0.5);
}

/* MAD of the ascending s[0..n) about its median med into *mad: 0, or -1
 * if malloc fails. */
static int mad_sorted(const double *s, int n, double med, double *mad)
{
	double *d = malloc((size_t)n * sizeof(*d));
	int i;

	if (!d)
		return -1;
	for (i = 0; i < n; i++)
		d[i] = fabs(s[i] - med);
	qsort(d, (size_t)n, sizeof(*d), cmp_double);
	*mad = quantile_sorted(d, n, 0.5);
	free(d);
	return 0;
}

double stats_mad(const double *x, int n)
{
	double *s = sorted_copy(x, n);
	double m = NAN;

	if (!s)
		return NAN;
	mad_sorted(s, n, quantile_sorted(s, n, 0.5), &m);
	free(s);
	return m;
}

/* --- bootstrap ------------------------------------------------------------ */

static int level_ok(double level)
{
	return level > 0 && level < 1;
}

/* Median of one resample (n draws with replacement) of the ascending
 * s[0..n).  cnt: n ints of scratch.  The resample's k-th smallest value
 * is s[i] for the first i whose running draw count exceeds k. */
static double boot_median(const double *s, int n, int *cnt, struct rng *g)
{
	int k1 = (n - 1) / 2, k2 = n / 2;	/* the two middle ranks, 0-based */
	double v1 = s[0];
	int i, c = 0;

	memset(cnt, 0, (size_t)n * sizeof(*cnt));
	for (i = 0; i < n; i++)
		cnt[rng_below(g, (uint32_t)n)]++;
	for (i = 0; i < n; i++) {
		if (c <= k1 && c + cnt[i] > k1)
			v1 = s[i];
		c += cnt[i];
		if (c > k2)
			break;
	}
	return lerp(v1, s[i], 0.5);
}

/* Percentile interval of the r bootstrap replicates in v (sorted here). */
static void boot_interval(double *v, int r, double level, double *lo,
			  double *hi)
{
	qsort(v, (size_t)r, sizeof(*v), cmp_double);
	*lo = quantile_sorted(v, r, (1 - level) / 2);
	*hi = quantile_sorted(v, r, (1 + level) / 2);
}

/* stats_median_ci_boot on the ascending s[0..n): 0, or -1 if malloc
 * fails (then *lo, *hi are untouched). */
static int boot_ci_sorted(const double *s, int n, double level, int resamples,
			  uint64_t seed, double *lo, double *hi)
{
	struct rng g = { seed };
	double *med = malloc((size_t)resamples * sizeof(*med));
	int *cnt = malloc((size_t)n * sizeof(*cnt));
	int r, ret = -1;

	if (!med || !cnt)
		goto free_scratch;
	for (r = 0; r < resamples; r++)
		med[r] = boot_median(s, n, cnt, &g);
	boot_interval(med, resamples, level, lo, hi);
	ret = 0;
free_scratch:
	free(cnt);
	free(med);
	return ret;
}

void stats_median_ci_boot(const double *x, int n, double level, int resamples,
			  uint64_t seed, double *lo, double *hi)
{
	double *s = NULL;

	*lo = *hi = NAN;
	if (!level_ok(level) || resamples < 1)
		return;
	s = sorted_copy(x, n);
	if (!s)
		return;
	boot_ci_sorted(s, n, level, resamples, seed, lo, hi);
	free(s);
}

void stats_ratio_ci(const double *a, int na, const double *b, int nb, double level,
		    int resamples, uint64_t seed, double *ratio, double *lo, double *hi)
{
	struct rng g = { seed };
	double *sa = NULL, *sb = NULL, *rat = NULL;
	int *cnt = NULL;
	int r;

	*ratio = *lo = *hi = NAN;
	if (!level_ok(level) || resamples < 1)
		return;
	sa = sorted_copy(a, na);
	sb = sorted_copy(b, nb);
	if (!sa || !sb)
		goto free_copies;
	*ratio = quantile_sorted(sb, nb, 0.5) / quantile_sorted(sa, na, 0.5);
	rat = malloc((size_t)resamples * sizeof(*rat));
	cnt = malloc((size_t)(na > nb ? na : nb) * sizeof(*cnt));
	if (!rat || !cnt) {
		*ratio = NAN;
		goto free_copies;
	}
	for (r = 0; r < resamples; r++) {
		double ma = boot_median(sa, na, cnt, &g);

		rat[r] = boot_median(sb, nb, cnt, &g) / ma;
	}
	boot_interval(rat, resamples, level, lo, hi);
free_copies:
	free(cnt);
	free(rat);
	free(sb);
	free(sa);
}

/* --- order-statistic CI --------------------------------------------------- */

void stats_median_ci_order(const double *x, int n, double level, double *lo, double *hi, double *coverage)
{
	double *s = NULL;
	double t = 1, c = 1;	/* C(n, i) and sum_{j <= i} C(n, j), times 2^e */
	double cov, next;
	int e = -n, k = 1;

	*lo = *hi = NAN;
	if (coverage)
		*coverage = NAN;
	if (!level_ok(level))
		return;
	s = sorted_copy(x, n);
	if (!s)
		return;
	/* [x(k), x(n+1-k)] misses the median iff at most k-1 of the n draws
	 * fall below it or at most k-1 above: coverage 1 - 2 F(k-1), F the
	 * Binom(n, 1/2) CDF.  Widen k while the next interval still reaches
	 * the level.  The binomial terms are kept scaled by 2^e so that they
	 * are exact for small n and neither underflow nor overflow for large. */
	cov = 1 - 2 * ldexp(c, e);
	while (cov >= level && k + 1 <= (n + 1) / 2) {
		t = t * (n - (k - 1)) / k;
		c += t;
		if (c > 0x1p900) {
			t = ldexp(t, -900);
			c = ldexp(c, -900);
			e += 900;
		}
		next = 1 - 2 * ldexp(c, e);
		if (next < level)
			break;
		cov = next;
		k++;
	}
	/* cov < level only if even [min, max] falls short (tiny n); k is 1. */
	*lo = s[k - 1];
	*hi = s[n - k];
	if (coverage)
		*coverage = cov;
	free(s);
}

/* --- summary -------------------------------------------------------------- */

void stats_summary(const double *x, int n, struct stats *st)
{
	double *s = sorted_copy(x, n);
	double med, mad, lo, hi, sum = 0, ss = 0;
	int i;

	st->n = n;
	st->median = st->mad = st->q1 = st->q3 = st->iqr = NAN;
	st->mean = st->sd = st->cv = st->min = st->max = NAN;
	st->ci_lo = st->ci_hi = NAN;
	if (!s)
		return;
	med = quantile_sorted(s, n, 0.5);
	if (mad_sorted(s, n, med, &mad) ||
	    boot_ci_sorted(s, n, 0.95, STATS_SUMMARY_RESAMPLES,
			   STATS_SUMMARY_SEED, &lo, &hi))
		goto free_sorted;	/* malloc failed: every field stays NaN */
	st->median = med;
	st->mad = mad;
	st->ci_lo = lo;
	st->ci_hi = hi;
	st->q1 = quantile_sorted(s, n, 0.25);
	st->q3 = quantile_sorted(s, n, 0.75);
	st->iqr = st->q3 - st->q1;
	st->min = s[0];
	st->max = s[n - 1];
	for (i = 0; i < n; i++)
		sum += s[i];
	st->mean = sum / n;
	/* Two passes: the sum of squares about the mean, not E[x^2] - mean^2,
	 * which cancels catastrophically for timings with a small spread. */
	for (i = 0; i < n; i++)
		ss += (s[i] - st->mean) * (s[i] - st->mean);
	if (n > 1) {
		st->sd = sqrt(ss / (n - 1));
		st->cv = st->sd / st->mean;
	}
free_sorted:
	free(s);
}

/* --- Mann-Whitney U ------------------------------------------------------- */

/* Two-sided exact p, min(1, 2 P(U >= k)), under the null with no ties for
 * samples of m and n: NaN if m * n > STATS_MWU_EXACT_MAX or malloc fails.
 * f(i, j, u), the number of orderings of i + j values with U = u, obeys
 * f(i, j, u) = f(i-1, j, u-j) + f(i, j-1, u) (the largest value is from
 * the first sample and beats all j, or from the second).  Only additions
 * of counts: no cancellation, relative error ~ (m+n) ulp even in the far
 * tail. */
static double mwu_exact_p(int m, int n, double k)
{
	size_t w;	/* row length: u in [0, m*n] */
	double *f, tail = 0, tot = 0;
	int i, j, u;

	if (m > n) {
		i = m;
		m = n;
		n = i;
	}
	if ((double)m * n > STATS_MWU_EXACT_MAX)
		return NAN;
	w = (size_t)m * n + 1;
	/* Row j holds f(i, j, .) for the current i; j runs over the smaller
	 * sample so the table is (m+1) rows. */
	f = calloc((size_t)(m + 1) * w, sizeof(*f));
	if (!f)
		return NAN;
	for (j = 0; j <= m; j++)
		f[j * w] = 1;	/* i = 0: one ordering, U = 0 */
	for (i = 1; i <= n; i++)
		for (j = 1; j <= m; j++)
			for (u = i * j; u >= 0; u--)
				f[j * w + u] = (u >= j ? f[j * w + u - j] : 0) +
					       f[(j - 1) * w + u];
	for (u = 0; u < (int)w; u++) {
		tot += f[m * w + u];
		if (u >= k)
			tail += f[m * w + u];
	}
	free(f);
	return fmin(1, 2 * tail / tot);
}

/* Two-sided normal-approximation p for U = umax (the larger of the two
 * U's), with the tie term sum(t^3 - t) over tie groups and the continuity
 * correction, as scipy's _get_mwu_z. */
static double mwu_asymptotic_p(int na, int nb, double umax, double tie)
{
	double nn = (double)na + nb;
	double sd = sqrt((double)na * nb / 12 *
			 ((nn + 1) - tie / (nn * (nn - 1))));
	double z;

	if (!(sd > 0))
		return 1;	/* every value tied: no evidence of a difference */
	z = (umax - (double)na * nb / 2 - 0.5) / sd;
	return fmin(1, erfc(z / sqrt(2)));
}

struct tagged {
	double v;
	int from_a;
};

static int cmp_tagged(const void *pa, const void *pb)
{
	return cmp_double(&((const struct tagged *)pa)->v,
			  &((const struct tagged *)pb)->v);
}

double stats_mann_whitney_method(const double *a, int na, const double *b, int nb,
				 enum stats_mwu_method method, double *u)
{
	struct tagged *t = NULL;
	double rank_a = 0, tie = 0, u1, umax, p = NAN;
	int i, j, k, nn;

	if (u)
		*u = NAN;
	if (na < 1 || nb < 1 || !a || !b)
		return NAN;
	nn = na + nb;
	t = malloc((size_t)nn * sizeof(*t));
	if (!t)
		return NAN;
	for (i = 0; i < nn; i++) {
		t[i].v = i < na ? a[i] : b[i - na];
		t[i].from_a = i < na;
		if (isnan(t[i].v))
			goto free_pooled;
	}
	qsort(t, (size_t)nn, sizeof(*t), cmp_tagged);
	/* Rank sum of a, ties given their average rank; the tie group
	 * t[i..j) holds ranks i+1 .. j. */
	for (i = 0; i < nn; i = j) {
		int in_a = 0;

		for (j = i; j < nn && t[j].v == t[i].v; j++)
			in_a += t[j].from_a;
		k = j - i;
		rank_a += in_a * (i + 1 + j) / 2.0;
		tie += (double)k * k * k - k;
	}
	u1 = rank_a - (double)na * (na + 1) / 2;
	umax = fmax(u1, (double)na * nb - u1);
	if (u)
		*u = u1;
	if (method == STATS_MWU_AUTO)
		method = tie == 0 && (double)na * nb <= 625 ?
			 STATS_MWU_EXACT : STATS_MWU_ASYMPTOTIC;
	if (method == STATS_MWU_EXACT)
		p = mwu_exact_p(na, nb, floor(umax));
	else if (method == STATS_MWU_ASYMPTOTIC)
		p = mwu_asymptotic_p(na, nb, umax, tie);
free_pooled:
	free(t);
	return p;
}

double stats_mann_whitney(const double *a, int na, const double *b, int nb, double *u)
{
	return stats_mann_whitney_method(a, na, b, nb, STATS_MWU_AUTO, u);
}

int stats_differs(double p, double ratio_lo, double ratio_hi, double alpha,
		  double margin)
{
	if (!(p < alpha) || !(margin >= 0))
		return 0;
	if (ratio_lo > 1 + margin)
		return 1;
	if (ratio_hi < 1 / (1 + margin))
		return -1;
	return 0;
}

/* --- Student's t, for statistics over a few independent rounds ------------ */

/* Continued fraction of the regularized incomplete beta function
 * (modified Lentz), valid for x < (a + 1) / (a + b + 2). */
static double beta_cf(double a, double b, double x)
{
	const double tiny = 1e-300;
	double c = 1, d = 1 - (a + b) * x / (a + 1), h;

	d = fabs(d) < tiny ? tiny : d;
	d = 1 / d;
	h = d;
	for (int m = 1; m <= 300; m++) {
		const int m2 = 2 * m;
		double aa = m * (b - m) * x / ((a + m2 - 1) * (a + m2)), del;

		d = 1 + aa * d;
		d = fabs(d) < tiny ? tiny : d;
		c = 1 + aa / c;
		c = fabs(c) < tiny ? tiny : c;
		d = 1 / d;
		h *= d * c;
		aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
		d = 1 + aa * d;
		d = fabs(d) < tiny ? tiny : d;
		c = 1 + aa / c;
		c = fabs(c) < tiny ? tiny : c;
		d = 1 / d;
		del = d * c;
		h *= del;
		if (fabs(del - 1) < 1e-15)
			break;
	}
	return h;
}

/* I_x(a, b), the regularized incomplete beta function. */
static double beta_inc(double a, double b, double x)
{
	double front;

	if (x <= 0)
		return 0;
	if (x >= 1)
		return 1;
	front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) +
		    b * log1p(-x));
	if (x < (a + 1) / (a + b + 2))
		return front * beta_cf(a, b, x) / a;
	return 1 - front * beta_cf(b, a, 1 - x) / b;
}

double stats_t_p(double t, double df)
{
	if (!(df > 0) || isnan(t))
		return NAN;
	if (isinf(t))
		return 0;
	return beta_inc(df / 2, 0.5, df / (df + t * t));
}

double stats_t_quantile(double p, double df)
{
	double lo = 0, hi = 1;

	if (!(df > 0) || !(p > 0 && p < 1))
		return NAN;
	if (p < 0.5)
		return -stats_t_quantile(1 - p, df);
	if (p == 0.5)
		return 0;
	/* the upper tail is 2 (1 - p) of the two-sided p-value: bisect */
	while (stats_t_p(hi, df) > 2 * (1 - p))
		hi *= 2;
	for (int i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
		const double mid = (lo + hi) / 2;

		if (stats_t_p(mid, df) > 2 * (1 - p))
			lo = mid;
		else
			hi = mid;
	}
	return (lo + hi) / 2;
}

void stats_rounds(const double *x, int n, double level, struct round_stats *r)
{
	double s = 0, ss = 0;

	r->n = n;
	r->mean = r->sd = r->lo = r->hi = r->p = NAN;
	if (n < 2 || !(level > 0 && level < 1))
		return;
	for (int i = 0; i < n; i++) {
		if (isnan(x[i]))
			return;
		s += x[i];
	}
	r->mean = s / n;
	for (int i = 0; i < n; i++)
		ss += (x[i] - r->mean) * (x[i] - r->mean);
	r->sd = sqrt(ss / (n - 1));
	const double se = r->sd / sqrt((double)n);
	const double q = stats_t_quantile((1 + level) / 2, n - 1);
	r->lo = r->mean - q * se;
	r->hi = r->mean + q * se;
	r->p = se > 0 ? stats_t_p(r->mean / se, n - 1) : r->mean == 0 ? 1 : 0;
}

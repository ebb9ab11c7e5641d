/* stats.h - robust statistics for noisy timings on a shared machine:
 * order statistics (median, quantiles, MAD), confidence intervals of the
 * median (percentile bootstrap and distribution-free order statistics),
 * the Mann-Whitney U test and a bootstrap CI of a ratio of medians, the
 * tools Google Benchmark's compare.py and FFTW-style planners rely on.
 *
 * Conventions, for every function here:
 * - Inputs are never modified; sample arrays need not be sorted.
 * - Pure functions of their arguments: no globals, no I/O, thread-safe.
 *   Bootstrap resampling uses a private splitmix64 stream seeded by the
 *   caller, so the same inputs and seed give the same answer everywhere.
 * - Bad input (n < 1, a NaN in the data, a level outside (0, 1), fewer
 *   than 1 resample) and allocation failure yield NaN results, never a
 *   crash.  Scratch memory is malloc'd and freed before return. */
#ifndef Q8TUNE_STATS_H
#define Q8TUNE_STATS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct stats {
	int n;
	double median, mad;	/* mad: median of |x - median|, unscaled */
	double q1, q3, iqr;	/* quantiles by linear interpolation (R type 7, numpy default) */
	double mean, sd, cv;	/* sd with n-1; cv = sd / mean */
	double min, max;
	double ci_lo, ci_hi;	/* 95% CI of the median (see stats_summary) */
};

/* Resamples and seed stats_summary uses for its CI of the median. */
#define STATS_SUMMARY_RESAMPLES 2000
#define STATS_SUMMARY_SEED 0x7135eedULL

/* Quantile p in [0, 1] of x[0..n) by linear interpolation between order
 * statistics (R type 7, numpy's default): with s sorted and h = (n-1)p,
 * s[floor h] + (h - floor h) * (s[floor h + 1] - s[floor h]). */
double stats_quantile(const double *x, int n, double p);  /* x need not be sorted; not modified */
double stats_median(const double *x, int n);
/* Median absolute deviation from the median, unscaled (multiply by
 * 1.4826 to estimate sd for normal data). */
double stats_mad(const double *x, int n);

/* Percentile bootstrap CI of the median: `resamples` resamples with a deterministic
 * generator seeded by `seed` (same inputs, same answer), level e.g. 0.95.
 * The bounds are the type-7 quantiles (1-level)/2 and (1+level)/2 of the
 * resampled medians.  *lo, *hi: NaN on bad input. */
void stats_median_ci_boot(const double *x, int n, double level, int resamples,
			  uint64_t seed, double *lo, double *hi);

/* Distribution-free CI of the median from order statistics (binomial), level e.g. 0.95;
 * for tiny n where no order-statistic interval reaches the level, returns [min, max]
 * and that interval's true coverage in *coverage (may be NULL).
 * Otherwise the narrowest symmetric interval [x(k), x(n+1-k)] (1-based
 * order statistics) whose coverage 1 - 2 P(Binom(n, 1/2) <= k-1) is at
 * least level, and that coverage.  E.g. n = 10, 0.95: x(2), x(9), 0.9785. */
void stats_median_ci_order(const double *x, int n, double level, double *lo, double *hi, double *coverage);

/* Fills s; CI of the median = bootstrap (2000 resamples, fixed seed). n >= 1.
 * For n == 1, sd and cv are NaN (no spread can be estimated); cv is
 * sd / mean as is, so it is inf or NaN when the mean is 0.  Bad input
 * or allocation failure: every field but n is NaN. */
void stats_summary(const double *x, int n, struct stats *s);

/* How stats_mann_whitney_method computes the p-value. */
enum stats_mwu_method {
	STATS_MWU_AUTO,		/* exact if no ties and na * nb <= 625, else asymptotic */
	STATS_MWU_EXACT,	/* null distribution of U without ties; na * nb <= STATS_MWU_EXACT_MAX */
	STATS_MWU_ASYMPTOTIC,	/* normal, tie and continuity corrected */
};
#define STATS_MWU_EXACT_MAX 10000

/* Mann-Whitney U test, two-sided.  U = U of sample a (number of pairs a_i > b_j, ties 1/2).
 * p-value: exact (by counting/recursion over the U distribution) when there are no ties and
 * na, nb <= 25 or so; otherwise the normal approximation with tie correction and continuity correction
 * (as scipy.stats.mannwhitneyu method='asymptotic' does).  Returns p; *u (may be NULL).
 * "25 or so" is na * nb <= 625, which covers every na, nb <= 25.  Both
 * paths return min(1, 2 P(U' >= max(U, na*nb - U))) under the null, so
 * swapping a and b gives the same p, identical samples give 1, and the
 * values match scipy's method='exact' / 'asymptotic'.  NaN (and *u NaN)
 * if na or nb < 1, on a NaN in the data or on allocation failure. */
double stats_mann_whitney(const double *a, int na, const double *b, int nb, double *u);
/* The same with the method chosen by the caller.  EXACT on data with
 * ties uses the no-ties distribution at floor(U), as scipy does; EXACT
 * with na * nb > STATS_MWU_EXACT_MAX returns NaN. */
double stats_mann_whitney_method(const double *a, int na, const double *b, int nb,
				 enum stats_mwu_method method, double *u);

/* Ratio of medians median(b)/median(a) with a 95% percentile-bootstrap CI, resampling each
 * group independently (deterministic seed).  level is the CI's level
 * (0.95 for the 95% CI); each resample draws a then b from one stream.
 * A zero median of a gives inf or NaN, as the division does. */
void stats_ratio_ci(const double *a, int na, const double *b, int nb, double level,
		    int resamples, uint64_t seed, double *ratio, double *lo, double *hi);

/* Decision helper for "is b really different from a": +1 if b is larger
 * (p < alpha and the whole ratio CI lies above 1 + margin), -1 if b is
 * smaller (p < alpha and the whole CI lies below 1 / (1 + margin), the
 * mirror bound, so that swapping a and b flips the sign), 0 otherwise,
 * including NaN inputs.  margin >= 0 is the smallest relative change that
 * matters, e.g. 0.02 for 2%. */
int stats_differs(double p, double ratio_lo, double ratio_hi, double alpha,
		  double margin);

/* Student's t with df degrees of freedom (df > 0, not necessarily whole):
 * the two-sided p-value P(|T| >= |t|), and the quantile q with
 * P(T <= q) = p for p in (0, 1).  NaN on bad input.  E.g.
 * stats_t_quantile(0.975, 5) = 2.5706, stats_t_p(2.0, 5) = 0.1019. */
double stats_t_p(double t, double df);
double stats_t_quantile(double p, double df);

/* A quantity measured once per round over n independent rounds (e.g. the
 * log of a ratio of medians, each round a fresh pair of processes): its
 * mean, sd (n - 1), the t-based CI of the mean at level, and the
 * two-sided one-sample t-test p-value against 0.  The round-to-round
 * spread is the uncertainty, not the samples pooled within rounds.  NaN
 * fields when n < 2 or on a NaN in x. */
struct round_stats {
	int n;
	double mean, sd, lo, hi, p;
};
void stats_rounds(const double *x, int n, double level, struct round_stats *r);

#ifdef __cplusplus
}
#endif

#endif

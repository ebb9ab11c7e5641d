/* test_stats.c - harness/stats.c against values computed independently:
 * by hand (worked in the comments), from published examples (scipy's and
 * NAG's documentation, Wikipedia), and from a one-off python3 script
 * (standard library only: itertools enumeration of every rank split for
 * exact Mann-Whitney p-values, math.erfc for the asymptotic ones, exact
 * Fraction binomial sums for the order-statistic intervals, and
 * statistics.quantiles(method='inclusive'), which is R type 7).  Its
 * outputs are pasted below as constants. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "common.h"
#include "stats.h"

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static void check_near(double got, double want, double tol, const char *what)
{
	cr_assert(fabs(got - want) <= tol, "%s = %.17g, want %.17g (tol %g)",
		  what, got, want, tol);
}

/* A test-local generator (xorshift64*), independent of the library's. */
static uint64_t rng_state;

static double uniform01(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return ((rng_state * 0x2545f4914f6cdd1dULL) >> 11) * 0x1p-53;
}

/* Standard normal by Box-Muller. */
static double normal01(void)
{
	double u = uniform01(), v = uniform01();

	return sqrt(-2 * log(1 - u)) * cos(2 * M_PI * v);
}

/* n timings-like draws: 100 * exp(0.2 N(0,1)), skewed as timings are;
 * population median exactly 100. */
static void fill_lognormal(double *x, int n, uint64_t seed)
{
	int i;

	rng_state = seed;
	for (i = 0; i < n; i++)
		x[i] = 100 * exp(0.2 * normal01());
}

/* --- order statistics ----------------------------------------------------- */

/* Even n, unsorted.  Sorted: 1 1 2 3 4 5 6 9.  Type 7 with h = 7p:
 * p=.25: h=1.75 -> 1 + .75*(2-1) = 1.75;  p=.5: h=3.5 -> 3.5;
 * p=.75: h=5.25 -> 5 + .25*(6-5) = 5.25;  p=.2: h=1.4 -> 1.4;
 * p=.1: h=.7 -> 1 (s[0] = s[1]).  |x - 3.5| sorted: .5 .5 1.5 1.5 2.5
 * 2.5 2.5 5.5 -> MAD 2.  python statistics.quantiles agrees. */
Test(stats, quantiles_even_unsorted)
{
	const double x[] = { 3, 1, 4, 1, 5, 9, 2, 6 };
	double copy[8];

	memcpy(copy, x, sizeof(x));
	check_near(stats_median(copy, 8), 3.5, 0, "median");
	check_near(stats_quantile(copy, 8, 0.25), 1.75, 1e-15, "q1");
	check_near(stats_quantile(copy, 8, 0.75), 5.25, 1e-15, "q3");
	check_near(stats_quantile(copy, 8, 0.2), 1.4, 1e-15, "q.2");
	check_near(stats_quantile(copy, 8, 0.1), 1, 0, "q.1");
	check_near(stats_quantile(copy, 8, 0), 1, 0, "q0");
	check_near(stats_quantile(copy, 8, 1), 9, 0, "q1.0");
	check_near(stats_mad(copy, 8), 2, 0, "mad");
	cr_assert(!memcmp(copy, x, sizeof(x)), "input was modified");
}

/* Odd n.  Sorted: 2 4 5 7 9, h = 4p: median 5, q1 4, q3 7,
 * p=.1: h=.4 -> 2 + .4*2 = 2.8;  p=.9: h=3.6 -> 7 + .6*2 = 8.2.
 * |x - 5| = 2 3 4 1 0 -> MAD 2. */
Test(stats, quantiles_odd)
{
	double x[] = { 7, 2, 9, 4, 5 };

	check_near(stats_median(x, 5), 5, 0, "median");
	check_near(stats_quantile(x, 5, 0.25), 4, 0, "q1");
	check_near(stats_quantile(x, 5, 0.75), 7, 0, "q3");
	check_near(stats_quantile(x, 5, 0.1), 2.8, 1e-15, "q.1");
	check_near(stats_quantile(x, 5, 0.9), 8.2, 1e-15, "q.9");
	check_near(stats_mad(x, 5), 2, 0, "mad");
	cr_assert_eq(x[0], 7);
	cr_assert_eq(x[4], 5);
}

Test(stats, single_value)
{
	double x[] = { 42 }, lo, hi, cov;
	struct stats s;

	check_near(stats_median(x, 1), 42, 0, "median");
	check_near(stats_quantile(x, 1, 0.9), 42, 0, "q.9");
	check_near(stats_mad(x, 1), 0, 0, "mad");
	stats_summary(x, 1, &s);
	cr_assert_eq(s.n, 1);
	cr_assert(s.median == 42 && s.min == 42 && s.max == 42 && s.iqr == 0);
	cr_assert(s.mean == 42 && isnan(s.sd) && isnan(s.cv),
		  "n=1: sd %g cv %g, want NaN", s.sd, s.cv);
	cr_assert(s.ci_lo == 42 && s.ci_hi == 42);
	/* [x(1), x(1)] covers the median with probability 1 - 2 * 1/2 = 0 */
	stats_median_ci_order(x, 1, 0.95, &lo, &hi, &cov);
	cr_assert(lo == 42 && hi == 42 && cov == 0, "%g %g %g", lo, hi, cov);
}

/* Bad input is NaN, never a crash. */
Test(stats, bad_input_is_nan)
{
	double x[] = { 1, 2, NAN, 4 }, ok[] = { 1, 2, 3 }, lo, hi, r, cov;
	struct stats s;

	cr_assert(isnan(stats_median(ok, 0)));
	cr_assert(isnan(stats_median(NULL, 3)));
	cr_assert(isnan(stats_quantile(ok, 3, 1.5)));
	cr_assert(isnan(stats_quantile(ok, 3, -0.1)));
	cr_assert(isnan(stats_quantile(ok, 3, NAN)));
	cr_assert(isnan(stats_median(x, 4)));
	cr_assert(isnan(stats_mad(x, 4)));
	stats_summary(x, 4, &s);
	cr_assert(s.n == 4 && isnan(s.median) && isnan(s.mean) &&
		  isnan(s.ci_lo));
	stats_median_ci_boot(ok, 3, 1.0, 100, 1, &lo, &hi);
	cr_assert(isnan(lo) && isnan(hi));
	stats_median_ci_boot(ok, 3, 0.95, 0, 1, &lo, &hi);
	cr_assert(isnan(lo) && isnan(hi));
	stats_median_ci_order(ok, 3, 0, &lo, &hi, &cov);
	cr_assert(isnan(lo) && isnan(hi) && isnan(cov));
	stats_ratio_ci(ok, 3, x, 4, 0.95, 100, 1, &r, &lo, &hi);
	cr_assert(isnan(r) && isnan(lo) && isnan(hi));
	cr_assert(isnan(stats_mann_whitney(ok, 3, x, 4, &r)) && isnan(r));
	cr_assert(isnan(stats_mann_whitney(ok, 3, ok, 0, NULL)));
}

/* Sorted 2 4 4 4 5 5 7 9: mean 5, squared deviations 9+1+1+1+0+0+4+16 =
 * 32, sd = sqrt(32/7) = 2.138089935299395, cv = sd/5.  q1: h=1.75 -> 4;
 * q3: h=5.25 -> 5 + .25*2 = 5.5; median 4.5; |x - 4.5| has five .5s ->
 * MAD .5 (python statistics agrees). */
Test(stats, summary_hand_values)
{
	const double x[] = { 9, 4, 5, 2, 4, 7, 4, 5 };
	struct stats s;

	stats_summary(x, 8, &s);
	cr_assert_eq(s.n, 8);
	check_near(s.median, 4.5, 0, "median");
	check_near(s.mad, 0.5, 0, "mad");
	check_near(s.q1, 4, 0, "q1");
	check_near(s.q3, 5.5, 1e-15, "q3");
	check_near(s.iqr, 1.5, 1e-15, "iqr");
	check_near(s.mean, 5, 1e-15, "mean");
	check_near(s.sd, 2.138089935299395, 1e-14, "sd");
	check_near(s.cv, 0.427617987059879, 1e-14, "cv");
	cr_assert(s.min == 2 && s.max == 9);
	cr_assert(s.ci_lo <= s.median && s.median <= s.ci_hi &&
		  s.ci_lo >= 2 && s.ci_hi <= 9, "ci [%g, %g]", s.ci_lo,
		  s.ci_hi);
}

/* --- Mann-Whitney U ------------------------------------------------------- */

/* Checks U and p of (a, b) by method m (AUTO through stats_mann_whitney
 * itself), and that (b, a) gives U' = na*nb - U and the same p. */
static void check_mwu(const double *a, int na, const double *b, int nb,
		      enum stats_mwu_method m, double want_u, double want_p,
		      double tol)
{
	double u, p;

	p = m == STATS_MWU_AUTO ? stats_mann_whitney(a, na, b, nb, &u) :
		stats_mann_whitney_method(a, na, b, nb, m, &u);
	cr_assert_eq(u, want_u, "U = %g, want %g", u, want_u);
	check_near(p, want_p, tol, "p");
	p = m == STATS_MWU_AUTO ? stats_mann_whitney(b, nb, a, na, &u) :
		stats_mann_whitney_method(b, nb, a, na, m, &u);
	cr_assert_eq(u, (double)na * nb - want_u, "swapped: U = %g", u);
	check_near(p, want_p, tol, "p, samples swapped");
}

/* scipy.stats.mannwhitneyu documentation, Examples (diabetes diagnosis
 * ages, following its reference [4]): U1 = 17 for males, U2 = 3, exact
 * two-sided p = 0.1111111111111111.  Hand check: C(9,4) = 126 orderings,
 * P(U <= 3) = (1+1+2+3)/126 (partitions of 0..3), p = 14/126.  The
 * asymptotic p, 0.11134688653314048, is from the python script (z =
 * (17 - 10 - .5) / sqrt(20/12 * 10)); scipy's docs print
 * 0.11134688653314041 for it, equal to 1e-15. */
Test(stats, mwu_scipy_example)
{
	const double males[] = { 19, 22, 16, 29, 24 };
	const double females[] = { 20, 11, 17, 12 };

	check_mwu(males, 5, females, 4, STATS_MWU_AUTO, 17, 1.0 / 9, 1e-15);
	check_mwu(males, 5, females, 4, STATS_MWU_ASYMPTOTIC, 17,
		  0.11134688653314048, 1e-13);
}

/* NAG Library g08amc (nag_nonpar_mann_whitney) example program: groups of
 * 16 and 23 with many ties; printed results U = 86.0000, normal statistic
 * -2.8039, approximate (one-)tail probability 0.0025.  Our two-sided p is
 * twice the tail: the python script gives z = 2.803900661575858 with the
 * tie and continuity corrections (NAG's |z|, so NAG applies both) and
 * p = 0.005048845813774749.  Ties force the asymptotic path. */
Test(stats, mwu_nag_example_with_ties)
{
	const double g1[] = { 13, 6, 12, 7, 12, 7, 10, 7, 10, 7, 16, 7, 10,
			      8, 9, 8 };
	const double g2[] = { 17, 6, 10, 8, 15, 8, 15, 10, 15, 10, 14, 10, 14,
			      11, 14, 11, 13, 12, 13, 12, 13, 12, 12 };

	cr_assert_eq(N_OF(g1), 16);
	cr_assert_eq(N_OF(g2), 23);
	check_mwu(g1, 16, g2, 23, STATS_MWU_AUTO, 86, 0.005048845813774749,
		  1e-12);
	check_near(stats_mann_whitney(g1, 16, g2, 23, NULL) / 2, 0.0025, 5e-5,
		   "NAG's printed tail");
}

/* Wikipedia, "Mann-Whitney U test", illustration: six tortoises and six
 * hares finish in the order T H H H H H T T T T T H; the article counts
 * U_T = 11 (hares each tortoise beats: 6 + 5*1) and U_H = 25.  With
 * finishing positions as the data, a_i > b_j means "a finished later", so
 * U(tortoises) here is 25 and U(hares) 11.  Exact p = 2 * 143/924 =
 * 0.30952380952380953 (python enumeration of the 924 splits). */
Test(stats, mwu_tortoise_and_hare)
{
	const double t[] = { 0, 6, 7, 8, 9, 10 }, h[] = { 1, 2, 3, 4, 5, 11 };

	check_mwu(h, 6, t, 6, STATS_MWU_AUTO, 11, 0.30952380952380953, 1e-14);
}

/* ClickHouse documentation, mannWhitneyUTest('greater') on {10,11,12} vs
 * {1,2,3}: U = 9, p = 0.04042779918503192 (one-sided, asymptotic with
 * continuity correction).  Two-sided asymptotic is twice that; the exact
 * two-sided p is 2 / C(6,3) = 0.1. */
Test(stats, mwu_clickhouse_example)
{
	const double a[] = { 10, 11, 12 }, b[] = { 1, 2, 3 };

	/* ClickHouse's normal CDF differs from erfc's in the 14th digit */
	check_mwu(a, 3, b, 3, STATS_MWU_ASYMPTOTIC, 9,
		  2 * 0.04042779918503192, 1e-12);
	check_mwu(a, 3, b, 3, STATS_MWU_AUTO, 9, 0.1, 1e-15);
}

/* Interleaved samples of 6 and 8 without ties: python enumeration of all
 * C(14,6) = 3003 splits gives U = 12, exact p = 0.14185814185814186;
 * the asymptotic formula gives 0.13763825510818284. */
Test(stats, mwu_python_reference)
{
	const double a[] = { 1.1, 2.3, 3.8, 4.4, 6.0, 7.2 };
	const double b[] = { 2.0, 3.1, 5.5, 6.6, 8.1, 9.0, 9.4, 10.2 };

	check_mwu(a, 6, b, 8, STATS_MWU_AUTO, 12, 0.14185814185814186, 1e-14);
	check_mwu(a, 6, b, 8, STATS_MWU_ASYMPTOTIC, 12, 0.13763825510818284,
		  1e-14);
}

/* Completely separated samples: only one ordering of C(n+m, n) reaches
 * U = n*m, so p = 2 / C(n+m, n): 2/C(20,10) = 2/184756 for 10 and 10 (the
 * auto path), 2/C(60,30) = 1.6911233892144735e-17 for 30 and 30 (forced
 * exact; a far tail the recurrence must keep to full relative accuracy). */
Test(stats, mwu_separated)
{
	double a[30], b[30], p;
	int i;

	for (i = 0; i < 30; i++) {
		a[i] = 100 + i * 0.5;
		b[i] = 50 - i;
	}
	check_mwu(a, 10, b, 10, STATS_MWU_AUTO, 100, 2.0 / 184756, 1e-18);
	check_mwu(a, 30, b, 30, STATS_MWU_EXACT, 900, 1.6911233892144735e-17,
		  1e-12 * 1.6911233892144735e-17);
	/* Above STATS_MWU_EXACT_MAX the exact path refuses. */
	{
		static double big_a[200], big_b[101];

		for (i = 0; i < 200; i++)
			big_a[i] = i;
		for (i = 0; i < 101; i++)
			big_b[i] = 2 * i - 0.5;	/* spread over a's range */
		cr_assert(isnan(stats_mann_whitney_method(big_a, 200, big_b,
				101, STATS_MWU_EXACT, NULL)));
		p = stats_mann_whitney(big_a, 200, big_b, 101, NULL);
		cr_assert(p > 0.01 && p <= 1, "p %g", p);
	}
}

/* Swapping a and b gives the same p and U' = na*nb - U, on both paths,
 * with and without ties. */
Test(stats, mwu_symmetric)
{
	double a[7], b[12], u1, u2, p1, p2;
	int i, m, ties;

	for (ties = 0; ties < 2; ties++) {
		rng_state = 99 + ties;
		for (i = 0; i < 7; i++)
			a[i] = ties ? floor(uniform01() * 5) : uniform01();
		for (i = 0; i < 12; i++)
			b[i] = ties ? floor(uniform01() * 5 + 1) :
				      uniform01() + 0.3;
		for (m = STATS_MWU_AUTO; m <= STATS_MWU_ASYMPTOTIC; m++) {
			p1 = stats_mann_whitney_method(a, 7, b, 12, m, &u1);
			p2 = stats_mann_whitney_method(b, 12, a, 7, m, &u2);
			cr_assert(p1 > 0 && p1 <= 1, "p %g", p1);
			check_near(p2, p1, 1e-15, "swapped p");
			check_near(u1 + u2, 84, 0, "U + U'");
		}
	}
}

Test(stats, mwu_identical_samples)
{
	double a[10], c[5] = { 3, 3, 3, 3, 3 }, u;
	int i;

	for (i = 0; i < 10; i++)
		a[i] = i * 1.5;
	check_near(stats_mann_whitney(a, 10, a, 10, &u), 1, 0, "p");
	check_near(u, 50, 0, "U");
	check_near(stats_mann_whitney(c, 5, c, 3, &u), 1, 0, "p all tied");
	check_near(u, 7.5, 0, "U all tied");
}

/* Where both apply (no ties, 20 and 20), the normal approximation tracks
 * the exact p within 0.01 across shifts from none to large. */
Test(stats, mwu_exact_vs_asymptotic)
{
	double a[20], b[20], pe, pa;
	int i, s;

	for (s = 0; s < 6; s++) {
		rng_state = 1234 + s;
		for (i = 0; i < 20; i++) {
			a[i] = normal01();
			b[i] = normal01() + 0.25 * s;
		}
		pe = stats_mann_whitney_method(a, 20, b, 20, STATS_MWU_EXACT,
					       NULL);
		pa = stats_mann_whitney_method(a, 20, b, 20,
					       STATS_MWU_ASYMPTOTIC, NULL);
		cr_assert(pe > 0 && pe <= 1);
		cr_assert(fabs(pe - pa) < 0.01, "shift %d: exact %g asym %g",
			  s, pe, pa);
	}
}

/* --- confidence intervals ------------------------------------------------- */

/* Resample medians of {1, 2, 3}: P(med = 1) = P(at least two draws of 1)
 * = 3 (1/3)^2 (2/3) + (1/3)^3 = 7/27 = .259, P(3) = 7/27, P(2) = 13/27.
 * So the 30%..70% quantiles of the replicates are both 2, and the 20%..
 * 80% ones are 1 and 3 (4000 resamples put the observed fractions within
 * a few 0.007 of 7/27). */
Test(stats, boot_replicate_distribution)
{
	const double x[] = { 3, 1, 2 };
	double lo, hi;

	stats_median_ci_boot(x, 3, 0.4, 4000, 7, &lo, &hi);
	cr_assert(lo == 2 && hi == 2, "40%%: [%g, %g]", lo, hi);
	stats_median_ci_boot(x, 3, 0.6, 4000, 7, &lo, &hi);
	cr_assert(lo == 1 && hi == 3, "60%%: [%g, %g]", lo, hi);
	/* Even n: resamples of {1, 2} have medians 1, 1.5, 2 with
	 * probabilities 1/4, 1/2, 1/4, so the 30%..70% quantiles are 1.5. */
	stats_median_ci_boot(x + 1, 2, 0.4, 4000, 7, &lo, &hi);
	cr_assert(lo == 1.5 && hi == 1.5, "n=2 40%%: [%g, %g]", lo, hi);
	stats_median_ci_boot(x + 1, 2, 0.6, 4000, 7, &lo, &hi);
	cr_assert(lo == 1 && hi == 2, "n=2 60%%: [%g, %g]", lo, hi);
}

Test(stats, boot_deterministic_and_contains_median)
{
	double x[101], lo1, hi1, lo2, hi2, med;

	fill_lognormal(x, 101, 5);
	med = stats_median(x, 101);
	stats_median_ci_boot(x, 101, 0.95, 2000, 42, &lo1, &hi1);
	stats_median_ci_boot(x, 101, 0.95, 2000, 42, &lo2, &hi2);
	cr_assert(lo1 == lo2 && hi1 == hi2, "seed 42 gave [%g, %g] then "
		  "[%g, %g]", lo1, hi1, lo2, hi2);
	cr_assert(lo1 < med && med < hi1, "[%g, %g] vs median %g", lo1, hi1,
		  med);
	/* The population median is 100; a 95% CI from 101 draws of sd ~20
	 * has half-width near 5. */
	cr_assert(hi1 - lo1 > 1 && hi1 - lo1 < 20, "width %g", hi1 - lo1);
}

/* Same distribution, 100x the data: the CI narrows about 10x; and at
 * n = 2001 the bootstrap and the exact order-statistic interval agree to
 * a fraction of their width. */
Test(stats, boot_narrows_with_n)
{
	static double big[2001];
	double small[21], lo, hi, w_small, w_big, olo, ohi;

	fill_lognormal(small, 21, 11);
	fill_lognormal(big, 2001, 12);
	stats_median_ci_boot(small, 21, 0.95, 2000, 1, &lo, &hi);
	w_small = hi - lo;
	stats_median_ci_boot(big, 2001, 0.95, 2000, 1, &lo, &hi);
	w_big = hi - lo;
	cr_assert(w_big > 0 && w_big < w_small / 4, "widths %g (n=21) %g "
		  "(n=2001)", w_small, w_big);
	cr_assert(lo < 100 && 100 < hi, "n=2001: [%g, %g] misses 100", lo,
		  hi);
	stats_median_ci_order(big, 2001, 0.95, &olo, &ohi, NULL);
	cr_assert(fabs(lo - olo) < 0.3 * w_big && fabs(hi - ohi) < 0.3 * w_big,
		  "boot [%g, %g] vs order [%g, %g]", lo, hi, olo, ohi);
}

/* Binomial table values: the interval is [x(k), x(n+1-k)] with coverage
 * 1 - 2 P(Binom(n, 1/2) <= k-1).  n = 10: k = 2, 1 - 2*11/1024 =
 * 0.978515625 (k = 3 gives 0.890625).  n = 20: k = 6, 1 - 2*21700/2^20.
 * n = 100: x(40), x(61), the textbook pair.  n = 5: even [min, max]
 * covers only 1 - 2/32 = 0.9375.  n = 6: [min, max], 0.96875.  The
 * larger ones (from exact Fraction sums in python) exercise the rescaling
 * past 2^-1074.  Data: a permutation of 1..n, so x(k) = k. */
Test(stats, order_ci_binomial_table)
{
	static const struct {
		int n;
		double level;
		int k, k_hi;
		double cov;
	} t[] = {
		{ 5, 0.95, 1, 5, 0.9375 },
		{ 6, 0.95, 1, 6, 0.96875 },
		{ 10, 0.95, 2, 9, 0.978515625 },
		{ 10, 0.99, 1, 10, 0.998046875 },
		{ 10, 0.2, 5, 6, 0.24609375 },	/* C(10,5)/1024: the innermost pair */
		{ 20, 0.95, 6, 15, 0.9586105346679688 },
		{ 20, 0.90, 6, 15, 0.9586105346679688 },
		{ 100, 0.95, 40, 61, 0.9647997997822952 },
		{ 1000, 0.95, 469, 532, 0.9537088026395019 },
		{ 2000, 0.95, 956, 1045, 0.9534471795082162 },
		{ 5000, 0.99, 2409, 2592, 0.9903536934752578 },
	};
	static double x[5000];
	double lo, hi, cov;
	int i, j;

	for (i = 0; i < N_OF(t); i++) {
		int n = t[i].n;

		for (j = 0; j < n; j++)
			x[j] = (double)((j * 7919L) % n + 1);	/* 7919 is prime */
		stats_median_ci_order(x, n, t[i].level, &lo, &hi, &cov);
		cr_assert(lo == t[i].k && hi == t[i].k_hi,
			  "n=%d level %g: [x(%g), x(%g)], want [x(%d), x(%d)]",
			  n, t[i].level, lo, hi, t[i].k, t[i].k_hi);
		check_near(cov, t[i].cov, 1e-12, "coverage");
	}
	stats_median_ci_order(x, 10, 0.95, &lo, &hi, NULL);	/* NULL ok */
}

/* b is 2x a in distribution: the ratio CI contains 2; b = 2a exactly
 * gives the point ratio exactly 2 (doubling is exact in binary). */
Test(stats, ratio_ci_known_scale)
{
	static double a[300], b[200];
	double r, lo, hi, r2, lo2, hi2, p;
	int i;

	fill_lognormal(a, 300, 21);
	fill_lognormal(b, 200, 22);
	for (i = 0; i < 200; i++)
		b[i] *= 2;
	stats_ratio_ci(a, 300, b, 200, 0.95, 2000, 3, &r, &lo, &hi);
	cr_assert(lo < 2 && 2 < hi && lo <= r && r <= hi,
		  "ratio %g [%g, %g] misses 2", r, lo, hi);
	cr_assert(hi - lo < 0.3, "width %g", hi - lo);
	stats_ratio_ci(a, 300, b, 200, 0.95, 2000, 3, &r2, &lo2, &hi2);
	cr_assert(r == r2 && lo == lo2 && hi == hi2, "not deterministic");
	p = stats_mann_whitney(a, 300, b, 200, NULL);
	cr_assert(p < 1e-6, "p %g", p);
	cr_assert_eq(stats_differs(p, lo, hi, 0.05, 0.05), 1);
	/* the mirror: a/b = 1/2 */
	stats_ratio_ci(b, 200, a, 300, 0.95, 2000, 3, &r, &lo, &hi);
	cr_assert(lo < 0.5 && 0.5 < hi, "[%g, %g] misses 0.5", lo, hi);
	cr_assert_eq(stats_differs(p, lo, hi, 0.05, 0.05), -1);

	for (i = 0; i < 200; i++)
		b[i] = 2 * a[i];
	stats_ratio_ci(a, 200, b, 200, 0.95, 2000, 3, &r, &lo, &hi);
	cr_assert(r == 2, "ratio %.17g", r);
	cr_assert(lo < 2 && 2 < hi, "[%g, %g]", lo, hi);
}

/* Each group is resampled: against a constant group, the ratio CI is the
 * median CI of the other group mapped through 100/x (or x/100), so its
 * relative width matches that CI's to within the bootstrap's noise. */
Test(stats, ratio_ci_resamples_both)
{
	static double v[301], c[50];
	double r, lo, hi, mlo, mhi, rel_m, rel_r;
	int i;

	fill_lognormal(v, 301, 41);
	for (i = 0; i < 50; i++)
		c[i] = 100;
	stats_median_ci_boot(v, 301, 0.95, 2000, 5, &mlo, &mhi);
	rel_m = (mhi - mlo) / stats_median(v, 301);
	cr_assert(rel_m > 0.01, "median CI [%g, %g]", mlo, mhi);

	stats_ratio_ci(v, 301, c, 50, 0.95, 2000, 5, &r, &lo, &hi);
	rel_r = (hi - lo) / r;
	cr_assert(fabs(rel_r / rel_m - 1) < 0.3, "a resampled: relative "
		  "widths %g (ratio) vs %g (median)", rel_r, rel_m);
	stats_ratio_ci(c, 50, v, 301, 0.95, 2000, 5, &r, &lo, &hi);
	rel_r = (hi - lo) / r;
	cr_assert(fabs(rel_r / rel_m - 1) < 0.3, "b resampled: relative "
		  "widths %g (ratio) vs %g (median)", rel_r, rel_m);
}

/* Same distribution twice: no decision; and the helper's rules by hand. */
Test(stats, differs_rules)
{
	static double a[200], b[200];
	double r, lo, hi, p;

	fill_lognormal(a, 200, 31);
	fill_lognormal(b, 200, 32);
	stats_ratio_ci(a, 200, b, 200, 0.95, 2000, 9, &r, &lo, &hi);
	p = stats_mann_whitney(a, 200, b, 200, NULL);
	cr_assert(lo < 1 && 1 < hi, "same distribution: [%g, %g]", lo, hi);
	cr_assert_eq(stats_differs(p, lo, hi, 0.05, 0.02), 0);

	cr_assert_eq(stats_differs(0.01, 1.05, 1.10, 0.05, 0.02), 1);
	cr_assert_eq(stats_differs(0.01, 1.01, 1.10, 0.05, 0.02), 0);	/* CI reaches below 1.02 */
	cr_assert_eq(stats_differs(0.10, 1.05, 1.10, 0.05, 0.02), 0);	/* not significant */
	/* 1/(1.02) = 0.98039...: 0.9805 is inside the margin, 0.9800 below */
	cr_assert_eq(stats_differs(0.01, 0.90, 0.9805, 0.05, 0.02), 0);
	cr_assert_eq(stats_differs(0.01, 0.90, 0.9800, 0.05, 0.02), -1);
	cr_assert_eq(stats_differs(NAN, 1.5, 1.6, 0.05, 0.02), 0);
	cr_assert_eq(stats_differs(0.01, NAN, NAN, 0.05, 0.02), 0);
}

/* Student's t against published table values (and closed forms). */
Test(stats, student_t)
{
	/* two-sided 5% critical values, any t table */
	cr_expect_float_eq(stats_t_quantile(0.975, 1), 12.7062, 1e-4);
	cr_expect_float_eq(stats_t_quantile(0.975, 5), 2.5706, 1e-4);
	cr_expect_float_eq(stats_t_quantile(0.975, 9), 2.2622, 1e-4);
	cr_expect_float_eq(stats_t_quantile(0.975, 30), 2.0423, 1e-4);
	cr_expect_float_eq(stats_t_quantile(0.995, 10), 3.1693, 1e-4);
	cr_expect_float_eq(stats_t_quantile(0.025, 5), -2.5706, 1e-4);
	cr_expect_eq(stats_t_quantile(0.5, 7), 0);
	/* df = 1 is Cauchy: P(|T| >= t) = 1 - 2 atan(t) / pi */
	for (double t = 0.25; t < 20; t *= 2)
		cr_expect_float_eq(stats_t_p(t, 1), 1 - 2 * atan(t) / M_PI, 1e-12,
				   "t=%g", t);
	/* df = 2: P(|T| >= t) = 1 - t / sqrt(2 + t^2) */
	for (double t = 0.25; t < 20; t *= 2)
		cr_expect_float_eq(stats_t_p(t, 2), 1 - t / sqrt(2 + t * t), 1e-12,
				   "t=%g", t);
	cr_expect_float_eq(stats_t_p(2.0, 5), 0.10194, 1e-5);
	cr_expect_eq(stats_t_p(0, 5), 1);
	cr_expect(isnan(stats_t_p(1, 0)) && isnan(stats_t_quantile(1.0, 5)));
}

/* Round statistics: scipy.stats.ttest_1samp([1, 2, 3, 4, 5], 0) gives
 * t = 4.2426, p = 0.013236; the CI is mean +- 2.7764 * sd / sqrt(5). */
Test(stats, rounds_t_interval)
{
	const double x[] = { 1, 2, 3, 4, 5 };
	const double c[] = { 0.5, 0.5, 0.5 };
	struct round_stats r;

	stats_rounds(x, 5, 0.95, &r);
	cr_expect_eq(r.n, 5);
	cr_expect_float_eq(r.mean, 3, 1e-12);
	cr_expect_float_eq(r.sd, sqrt(2.5), 1e-12);
	cr_expect_float_eq(r.p, 0.013236, 1e-6);
	cr_expect_float_eq(r.lo, 3 - 2.776445 * sqrt(2.5) / sqrt(5), 1e-5);
	cr_expect_float_eq(r.hi, 3 + 2.776445 * sqrt(2.5) / sqrt(5), 1e-5);
	/* no spread: a certain non-zero mean */
	stats_rounds(c, 3, 0.95, &r);
	cr_expect(r.p == 0 && r.lo == 0.5 && r.hi == 0.5);
	stats_rounds(x, 1, 0.95, &r);
	cr_expect(isnan(r.mean) && isnan(r.p));
}

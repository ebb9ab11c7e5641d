/* test_compare.c - the regression report's statistics and machinery
 * (harness/compare.c): verdicts from per-round numbers against the A/A
 * noise band, and cmp_run end to end on stand-in bench programs whose
 * speed the test sets, so a planted slowdown must be found and an A/A
 * must not be. */
#include <math.h>
#include <sys/stat.h>
#include "common.h"
#include "compare.h"
#include "rng.h"

/* A row whose rounds are base * (1 + noise), head = base * f * (1 +
 * noise), head2 = head's speed with its own noise. */
static void fill(struct cmp_row *w, int rounds, double f, double noise,
		 uint64_t seed)
{
	memset(w, 0, sizeof *w);
	for (int k = 0; k < rounds; k++) {
		const double drift = 1 + 0.2 * k / rounds;	/* the machine drifts */
		w->ms[SIDE_BASE][k] = 10 * drift * (1 + noise * (splitmix64_unit(&seed) - 0.5));
		w->ms[SIDE_HEAD][k] = 10 * f * drift * (1 + noise * (splitmix64_unit(&seed) - 0.5));
		w->ms[SIDE_HEAD2][k] = 10 * f * drift * (1 + noise * (splitmix64_unit(&seed) - 0.5));
	}
}

Test(compare, judge_finds_a_planted_change_and_no_change)
{
	struct cmp_row w;

	fill(&w, 6, 1.15, 0.02, 1);
	cmp_judge(&w, 6, 0.05, 0.03);
	cr_expect_eq(w.verdict, 1, "15%% slower: ratio %.3f [%.3f, %.3f] p %.3g band %.3f",
		     w.ratio, w.lo, w.hi, w.d.p, w.band);
	cr_expect(w.lo > 1.1 && w.hi < 1.2 && w.ratio > 1.12 && w.ratio < 1.18);
	fill(&w, 6, 1 / 1.15, 0.02, 2);
	cmp_judge(&w, 6, 0.05, 0.03);
	cr_expect_eq(w.verdict, -1, "15%% faster: ratio %.3f", w.ratio);
	/* no change, over many seeds: never a verdict */
	for (uint64_t s = 0; s < 200; s++) {
		fill(&w, 6, 1.0, 0.04, 100 + s);
		cmp_judge(&w, 6, 0.05, 0.03);
		cr_expect_eq(w.verdict, 0, "seed %llu: A/A judged %d, ratio %.3f",
			     (unsigned long long)s, w.verdict, w.ratio);
	}
	/* below the margin: significant but not slower */
	fill(&w, 6, 1.02, 0.002, 3);
	cmp_judge(&w, 6, 0.05, 0.03);
	cr_expect_eq(w.verdict, 0, "2%% is under the 3%% margin");
	/* a noisy A/A widens the band: 8% in 20% noise is not called */
	fill(&w, 6, 1.08, 0.40, 4);
	cmp_judge(&w, 6, 0.05, 0.03);
	cr_expect_eq(w.verdict, 0, "ratio %.3f band %.3f", w.ratio, w.band);
	cr_expect_gt(w.band, 1.08);
	/* a round a disturbance hit (one side twice as slow) is dropped: the
	 * planted 15% is still found, and an A/A with such a round is still
	 * no change */
	fill(&w, 6, 1.15, 0.02, 6);
	w.ms[SIDE_HEAD][3] *= 2;
	cmp_judge(&w, 6, 0.05, 0.03);
	cr_expect(w.verdict == 1 && w.used == 5 && w.rounds == 6,
		  "verdict %d, %d of %d rounds used, ratio %.3f", w.verdict,
		  w.used, w.rounds, w.ratio);
	fill(&w, 6, 1.0, 0.02, 7);
	w.ms[SIDE_BASE][1] *= 2;
	cmp_judge(&w, 6, 0.05, 0.03);
	cr_expect(w.verdict == 0 && w.used == 5, "A/A with a disturbed round: "
		  "verdict %d, %d used", w.verdict, w.used);
	/* missing rounds are left out, too few rounds judge nothing */
	fill(&w, 6, 1.15, 0.02, 5);
	w.ms[SIDE_HEAD][2] = NAN;
	cmp_judge(&w, 6, 0.05, 0.03);
	cr_expect_eq(w.rounds, 5);
	cr_expect_eq(w.verdict, 1);
	cmp_judge(&w, 1, 0.05, 0.03);
	cr_expect_eq(w.verdict, 0);
	cr_expect(isnan(w.ratio));
}

/* A stand-in ./bench: one record with a pp3 row and one profile row,
 * 10 ms times $FAKE_FACTOR (default 1) with 1% noise. */
static void fake_build(const char *dir)
{
	char path[256];
	FILE *f;

	cr_assert_eq(mkdir(dir, 0755), 0);
	snprintf(path, sizeof path, "%s/bench", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("#!/bin/sh\n"
	      "exec awk -v f=\"${FAKE_FACTOR:-1}\" -v s=$$ 'BEGIN { srand(s);\n"
	      "  m = 10 * f * (1 + 0.01 * (rand() - 0.5));\n"
	      "  o = 2 * f * (1 + 0.01 * (rand() - 0.5));\n"
	      "  printf \"{\\\"rows\\\":[{\\\"test\\\":\\\"pp3\\\",\\\"samples_ms\\\":[%f],\\\"stats\\\":{\\\"median\\\":%f}}],"
	      "\\\"profile\\\":[{\\\"test\\\":\\\"pp3\\\",\\\"ops\\\":[{\\\"op\\\":\\\"mm_qkv\\\","
	      "\\\"ms_per_pass\\\":%f}]}]}\\n\", m, m, o }'\n", f);
	fclose(f);
	chmod(path, 0755);
}

static void fake_opts(struct cmp_opts *o, const char *a, const char *b)
{
	cmp_opts_defaults(o);
	o->dir[0] = a;
	o->dir[1] = b;
	o->model = "unused.gguf";
	o->pp_long = 0;
	o->rounds = 5;
}

static const struct cmp_row *row_named(const struct cmp_result *r,
				       const char *name)
{
	for (int i = 0; i < r->n_rows; i++)
		if (!strcmp(r->row[i].name, name))
			return &r->row[i];
	cr_assert_fail("no row %s", name);
	return NULL;
}

Test(compare, run_finds_an_injected_slowdown_through_head_env, .timeout = 60)
{
	static struct cmp_result r;
	struct cmp_opts o;
	char dir[96], a[128], b[128], err[512] = "";

	test_tmpdir(dir, sizeof dir, "cmp");
	snprintf(a, sizeof a, "%s/base", dir);
	snprintf(b, sizeof b, "%s/head", dir);
	fake_build(a);
	fake_build(b);
	fake_opts(&o, a, b);
	o.env[1] = "FAKE_FACTOR=1.2";
	cr_assert_eq(cmp_run(&o, NULL, NULL, &r, err, sizeof err), 0, "%s", err);
	cr_expect_eq(r.rounds, 5);
	const struct cmp_row *pp = row_named(&r, "pp3");
	const struct cmp_row *op = row_named(&r, "pp3/mm_qkv");
	cr_expect(!pp->is_op && op->is_op);
	cr_expect_eq(pp->verdict, 1, "ratio %.3f [%.3f, %.3f]", pp->ratio, pp->lo,
		     pp->hi);
	cr_expect(pp->remeasured && pp->confirmed, "a slower row is re-measured");
	cr_expect(pp->re_ratio > 1.15 && pp->re_ratio < 1.25);
	cr_expect_eq(op->verdict, 1, "located at the op's row");
	cr_expect(fabs(cmp_worst_confirmed(&r) - 1.2) < 0.03);
	cr_expect_eq(r.have_counts, 0);
	cr_expect_not_null(strstr(r.counts_why, "no model"));

	/* the report names both sides and the verdict; JSON holds the rounds */
	char *md = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&md, &n);
	cmp_write_md(f, &o, &r, "test machine");
	fclose(f);
	cr_expect_not_null(strstr(md, "**slower (confirmed)**"), "%s", md);
	cr_expect_not_null(strstr(md, "FAKE_FACTOR=1.2"));
	free(md);
	json_t *j = cmp_json(&o, &r, "test machine");
	cr_assert_not_null(j);
	json_t *rows = json_object_get(j, "rows");
	cr_expect_eq(json_array_size(json_object_get(json_array_get(rows, 0),
						     "base_ms")), 5);
	json_decref(j);

	/* the raw samples of each round are kept for the JSON */
	cr_expect_eq(json_array_size(pp->samples[SIDE_HEAD]), 5);
	cmp_result_free(&r);

	/* A/A: the same build on both sides, nothing is called */
	fake_opts(&o, a, a);
	cr_assert_eq(cmp_run(&o, NULL, NULL, &r, err, sizeof err), 0, "%s", err);
	for (int i = 0; i < r.n_rows; i++)
		cr_expect_eq(r.row[i].verdict, 0, "A/A %s: %.3f", r.row[i].name,
			     r.row[i].ratio);
	cr_expect_eq(cmp_worst_confirmed(&r), 1);
	cmp_result_free(&r);
}

Test(compare, a_failing_side_is_one_error_line)
{
	static struct cmp_result r;
	struct cmp_opts o;
	char dir[96], a[128], err[512] = "";

	test_tmpdir(dir, sizeof dir, "cmp");
	snprintf(a, sizeof a, "%s/nothing", dir);
	cr_assert_eq(mkdir(a, 0755), 0);
	fake_opts(&o, a, a);
	cr_expect_eq(cmp_run(&o, NULL, NULL, &r, err, sizeof err), -1);
	cmp_result_free(&r);
	cr_expect_not_null(strstr(err, "/nothing/bench"), "%s", err);
	cr_expect_null(strchr(err, '\n'));
	o.rounds = 2;
	cr_expect_eq(cmp_run(&o, NULL, NULL, &r, err, sizeof err), -1);
	cr_expect_not_null(strstr(err, "rounds"), "%s", err);
}

/* A profile row one revision does not have (renamed, split or merged) is
 * "only in base" / "only in head" in the report and its JSON, never a
 * ratio of NaNs called "no change". */
Test(compare, a_row_of_one_side_is_named_so)
{
	static struct cmp_result r;
	struct cmp_opts o = { .name = { "base", "head" }, .dir = { "b", "h" },
			      .model = "m.gguf", .prompt = "Hello world",
			      .rounds = 3 };
	char *md = NULL;
	size_t n = 0;

	r.rounds = 3;
	r.n_rows = 3;
	snprintf(r.counts_why, sizeof r.counts_why, "none");
	fill(&r.row[0], 3, 1.0, 0.01, 7);
	snprintf(r.row[0].name, sizeof r.row[0].name, "pp3");
	cmp_judge(&r.row[0], 3, 0.05, 0.03);
	snprintf(r.row[1].name, sizeof r.row[1].name, "pp3/attn_dot");
	snprintf(r.row[2].name, sizeof r.row[2].name, "pp3/attention");
	r.row[1].is_op = r.row[2].is_op = 1;
	for (int k = 0; k < 3; k++) {
		r.row[1].ms[SIDE_BASE][k] = 2.0;	/* base only */
		r.row[2].ms[SIDE_HEAD][k] = 1.0;	/* head only */
		r.row[2].ms[SIDE_HEAD2][k] = 1.0;
	}
	cmp_judge(&r.row[1], 3, 0.05, 0.03);
	cmp_judge(&r.row[2], 3, 0.05, 0.03);
	FILE *f = open_memstream(&md, &n);
	cmp_write_md(f, &o, &r, "test machine");
	fclose(f);
	cr_expect_not_null(strstr(md, "| pp3/attn_dot | 2.000 | nan | - | - | - | - | only in base |"),
			   "%s", md);
	cr_expect_not_null(strstr(md, "only in head |"), "%s", md);
	cr_expect_null(strstr(md, "nan [nan"), "%s", md);
	free(md);
	json_t *j = cmp_json(&o, &r, "test machine");
	cr_assert_not_null(j);
	json_t *rows = json_object_get(j, "rows");
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(rows, 1),
							   "verdict")), "only in base");
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(rows, 2),
							   "verdict")), "only in head");
	json_decref(j);
}

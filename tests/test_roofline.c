/* test_roofline.c - the roof kernels and the roofline results file.
 *
 * The kernels are checked through the same tables roofline_measure times
 * (roof_peaks[], roof_reads[] of harness/roofline/peak.h): each usable
 * one must return the closed form of its known inputs, so a kernel that
 * drops work, or counts MACs it does not do, fails.  What this CPU (or
 * Q8TUNE_CPU_MASK) cannot run is skipped with the reason printed; on a
 * CPU without it, calling it would SIGILL, so a measure that survives
 * here and marks it unavailable has not called it.
 *
 * No timing targets: measured rates are only required to be finite,
 * positive and best >= median. */
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include "common.h"
#include "cpu.h"
#include "env.h"
#include "roofline.h"
#include "roofline/peak.h"

/* --- kernels ------------------------------------------------------------ */

/* (uint32_t)(iters * macs * a * b): all int32 lanes wrap mod 2^32. */
static uint32_t peak_want(long iters, int macs, int a, int b)
{
	return (uint32_t)(uint64_t)((int64_t)iters * macs * a * b);
}

Test(roofline, peak_closed_form)
{
	/* (a, b) with |2ab| <= 32767 (vpmaddubsw's int16 pairs), extremes
	 * included; the VNNI kernels also get the full u8 x s8 range. */
	static const int ab[][2] = { { 1, 1 }, { 3, -7 }, { 255, 64 },
				     { 128, -128 }, { 0, 99 }, { 17, 0 } };
	static const int ab_vnni[][2] = { { 255, 127 }, { 255, -128 } };
	static const long iters[] = { 0, 1, 7, 1000, 100003 };
	int ran = 0;

	for (int i = 0; i < ROOF_NISA; i++) {
		const struct roof_peak *k = &roof_peaks[i];
		const char *why = roof_unusable(k->needs);
		int n = (int)(sizeof ab / sizeof ab[0]);

		cr_assert_str_eq(k->name, roof_isa_name((enum roof_isa)i));
		if (why) {
			cr_log_info("roofline: peak %s skipped: %s", k->name, why);
			continue;
		}
		for (int c = 0; c < n + 2; c++) {
			int a, b;

			if (c >= n && i == ROOF_AVX2)
				break;
			a = c < n ? ab[c][0] : ab_vnni[c - n][0];
			b = c < n ? ab[c][1] : ab_vnni[c - n][1];
			for (size_t j = 0; j < sizeof iters / sizeof *iters; j++) {
				uint32_t got = k->fn((uint8_t)a, (int8_t)b, iters[j]);
				uint32_t want = peak_want(iters[j], k->macs, a, b);

				cr_assert_eq(got, want, "%s a=%d b=%d iters=%ld: "
					     "%#x, expected %#x", k->name, a, b,
					     iters[j], got, want);
			}
		}
		ran++;
	}
	/* the MAC counts the rates are computed from */
	cr_assert_eq(roof_peaks[ROOF_AVX2].macs % 32, 0);
	cr_assert_eq(roof_peaks[ROOF_AVX512VNNI].macs,
		     2 * roof_peaks[ROOF_AVXVNNI].macs);
	cr_log_info("roofline: %d peak kernel(s) checked", ran);
}

Test(roofline, read_closed_form)
{
	static const size_t sizes[] = { 128, 4096, 128 * 37, 65536 + 128 };
	size_t max = 65536 + 128;
	uint64_t *buf = aligned_alloc(64, max);
	uint64_t s = 0x9e3779b97f4a7c15ull;
	int ran = 0;

	cr_assert_not_null(buf);
	for (size_t j = 0; j < max / 8; j++) {
		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		buf[j] = s;
	}
	for (const struct roof_read *rd = roof_reads; rd->name; rd++) {
		const char *why = roof_unusable(rd->needs);

		if (why) {
			cr_log_info("roofline: read %s skipped: %s", rd->name, why);
			continue;
		}
		for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
			uint64_t want = 0, got;

			for (size_t j = 0; j < sizes[i] / 8; j++)
				want += buf[j];
			got = rd->fn(buf, sizes[i]);
			cr_assert_eq(got, want, "read %s over %zu bytes: %#llx, "
				     "expected %#llx", rd->name, sizes[i],
				     (unsigned long long)got,
				     (unsigned long long)want);
		}
		ran++;
	}
	cr_assert_geq(ran, 1, "the baseline read kernel must always run");
	free(buf);
}

/* --- measure ------------------------------------------------------------ */

static int finite_pos(double x)
{
	return isfinite(x) && x > 0;
}

Test(roofline, measure_small)
{
	const struct cpu_info *ci = cpu_get();
	struct roofline r;
	enum roof_isa which;
	double top = 0;
	char err[256];

	cr_assert_eq(roofline_measure(&r, 2, (64u << 20) + 100, 1, err,
				      sizeof err), 0, "%s", err);
	cr_assert_eq(r.max_threads, 2);
	cr_assert_eq(r.buffer_bytes, 64u << 20, "rounded down to pages");
	cr_assert_eq(strlen(r.measured_at), 20, "%s", r.measured_at);
	cr_assert_eq(r.measured_at[10], 'T');
	cr_assert_eq(r.measured_at[19], 'Z');
	cr_assert_gt(strlen(r.cpu), 0);
	for (int t = 1; t <= 2; t++) {
		cr_assert(finite_pos(r.bw.best[t]) && finite_pos(r.bw.median[t]),
			  "bandwidth at %d threads: %g / %g", t, r.bw.best[t],
			  r.bw.median[t]);
		cr_assert_geq(r.bw.best[t], r.bw.median[t]);
		cr_log_info("roofline: %d thread(s): %.1f GB/s", t, r.bw.best[t]);
	}
	for (int i = 0; i < ROOF_NISA; i++) {
		uint32_t needs = roof_peaks[i].needs;
		int ok = (ci->features & needs) == needs;

		cr_assert_eq(r.isa_ok[i], ok, "%s", roof_isa_name((enum roof_isa)i));
		for (int t = 1; t <= 2; t++) {
			double b = r.peak[i].best[t], m = r.peak[i].median[t];

			if (!ok) {
				cr_assert(b == 0 && m == 0, "unavailable %s has "
					  "a rate", roof_isa_name((enum roof_isa)i));
				continue;
			}
			cr_assert(finite_pos(b) && finite_pos(m));
			cr_assert_geq(b, m);
			if (t == 2 && b > top)
				top = b;
			cr_log_info("roofline: %s at %d thread(s): %.1f GMAC/s",
				    roof_isa_name((enum roof_isa)i), t, b);
		}
		if (ok) {
			cr_assert_str_empty(r.isa_why[i]);
			continue;
		}
		cr_assert(strstr(r.isa_why[i], "CPU lacks") ||
			  strstr(r.isa_why[i], "hidden by Q8TUNE_CPU_MASK"),
			  "why: '%s'", r.isa_why[i]);
		cr_assert(strstr(r.isa_why[i], cpu_feature_name(needs & ~ci->features
							       & -(needs & ~ci->features))),
			  "why '%s' names no missing feature", r.isa_why[i]);
	}
	cr_assert_eq(roofline_int8_peak(&r, 2, &which), top);
	if (top == 0)
		cr_assert_eq(which, ROOF_NISA);
}

Test(roofline, measure_bad_arguments)
{
	struct roofline r;
	char err[256];

	cr_assert_eq(roofline_measure(&r, 0, 1 << 20, 1, err, sizeof err), -1);
	cr_assert(strstr(err, "threads"), "%s", err);
	cr_assert_eq(roofline_measure(&r, ROOF_MAX_THREADS + 1, 1 << 30, 1, err,
				      sizeof err), -1);
	cr_assert_eq(roofline_measure(&r, 1, 1 << 20, 0, err, sizeof err), -1);
	cr_assert(strstr(err, "reps"), "%s", err);
	cr_assert_eq(roofline_measure(&r, 2, 4096, 1, err, sizeof err), -1);
	cr_assert(strstr(err, "page"), "%s", err);
}

/* --- the results file --------------------------------------------------- */

/* A made-up roofline: n threads, values derived from seed; avx2 usable,
 * the VNNI ISAs not (their rates set anyway, to show they are ignored). */
static void fake(struct roofline *r, int n, double seed)
{
	memset(r, 0, sizeof *r);
	r->max_threads = n;
	r->buffer_bytes = ((size_t)1 << 30) + (size_t)seed;
	snprintf(r->measured_at, sizeof r->measured_at, "2026-12-01T07:%02d:00Z",
		 (int)seed % 60);
	snprintf(r->cpu, sizeof r->cpu, "Test CPU %g", seed);
	for (int t = 1; t <= n; t++) {
		r->bw.best[t] = seed + 10.25 * t;
		r->bw.median[t] = seed + 9.5 * t;
		for (int i = 0; i < ROOF_NISA; i++) {
			r->peak[i].best[t] = seed * 3 + 100.125 * t * (i + 1);
			r->peak[i].median[t] = seed * 3 + 99.0625 * t * (i + 1);
		}
	}
	r->isa_ok[ROOF_AVX2] = 1;
	snprintf(r->isa_why[ROOF_AVXVNNI], sizeof r->isa_why[0], "CPU lacks avxvnni");
	snprintf(r->isa_why[ROOF_AVX512VNNI], sizeof r->isa_why[0],
		 "CPU lacks avx512f avx512vnni");
}

static void near(double got, double want, const char *what, int t)
{
	cr_assert(fabs(got - want) <= 1e-5 * fabs(want), "%s[%d]: %.9g, want %.9g",
		  what, t, got, want);
}

/* Loaded l equals saved s; unavailable ISAs load with zero rates. */
static void same(const struct roofline *l, const struct roofline *s)
{
	cr_assert_eq(l->max_threads, s->max_threads);
	cr_assert_eq(l->buffer_bytes, s->buffer_bytes);
	cr_assert_str_eq(l->measured_at, s->measured_at);
	cr_assert_str_eq(l->cpu, s->cpu);
	for (int t = 1; t <= s->max_threads; t++) {
		near(l->bw.best[t], s->bw.best[t], "bw.best", t);
		near(l->bw.median[t], s->bw.median[t], "bw.median", t);
	}
	for (int i = 0; i < ROOF_NISA; i++) {
		cr_assert_eq(l->isa_ok[i], s->isa_ok[i]);
		cr_assert_str_eq(l->isa_why[i], s->isa_why[i]);
		for (int t = 1; t <= s->max_threads; t++) {
			if (!s->isa_ok[i]) {
				cr_assert(l->peak[i].best[t] == 0);
				continue;
			}
			near(l->peak[i].best[t], s->peak[i].best[t], "peak.best", t);
			near(l->peak[i].median[t], s->peak[i].median[t],
			     "peak.median", t);
		}
	}
}

/* A fresh folder under /tmp, its path in dir (64 bytes). */
static void tmp_dir(char *dir)
{
	test_tmpdir(dir, 64, "roof");
}

/* Removes dir and what is in it (one level of subfolders); returns how
 * many *.tmp files were left anywhere in it. */
static int rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[512];
	int tmps = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		struct stat st;
		size_t n = strlen(de->d_name);

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
		tmps += n > 4 && !strcmp(de->d_name + n - 4, ".tmp");
		if (!stat(p, &st) && S_ISDIR(st.st_mode))
			tmps += rm_dir(p);
		else
			unlink(p);
	}
	closedir(d);
	rmdir(dir);
	return tmps;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *s = calloc(1, 1 << 16);

	cr_assert_not_null(f);
	cr_assert_lt(fread(s, 1, (1 << 16) - 1, f), (1 << 16) - 1);
	fclose(f);
	return s;
}

Test(roofline, save_load_round_trip)
{
	struct roofline s, l;
	char dir[64], path[128], err[256];
	json_t *root, *e;

	tmp_dir(dir);
	snprintf(path, sizeof path, "%s/results/roofline.json", dir);
	fake(&s, 3, 7);
	cr_assert_eq(roofline_save(path, "zen3-2c", &s, err, sizeof err), 0,
		     "%s", err);
	cr_assert_eq(roofline_load(path, "zen3-2c", &l, err, sizeof err), 1,
		     "%s", err);
	same(&l, &s);

	/* the file's shape, read without the loader */
	root = json_load_file(path, 0, NULL);
	cr_assert_not_null(root);
	cr_assert_eq(json_integer_value(json_object_get(root, "schema")), 1);
	e = json_object_get(json_object_get(root, "machines"), "zen3-2c");
	cr_assert_eq(json_array_size(json_object_get(e, "threads")), 3);
	cr_assert_eq(json_integer_value(json_array_get(json_object_get(e,
						"threads"), 2)), 3);
	cr_assert_eq(json_real_value(json_array_get(json_object_get(json_object_get(
		e, "bandwidth_gbs"), "best"), 1)), 7 + 20.5);
	cr_assert(json_is_false(json_object_get(json_object_get(json_object_get(
		e, "int8_gmacs"), "avxvnni"), "available")));
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(
		json_object_get(e, "int8_gmacs"), "avxvnni"), "why")),
		"CPU lacks avxvnni");
	cr_assert_eq(json_integer_value(json_object_get(e, "buffer_bytes")),
		     (1 << 30) + 7);
	json_decref(root);
	cr_assert_eq(rm_dir(dir), 0, "a temporary file was left behind");
}

Test(roofline, two_keys_survive)
{
	struct roofline a, b, a2, l;
	char dir[64], path[128], err[256];

	tmp_dir(dir);
	snprintf(path, sizeof path, "%s/roofline.json", dir);
	fake(&a, 2, 1);
	fake(&b, 4, 2);
	fake(&a2, 2, 3);
	cr_assert_eq(roofline_save(path, "machine-a", &a, err, sizeof err), 0, "%s", err);
	cr_assert_eq(roofline_save(path, "machine-b", &b, err, sizeof err), 0, "%s", err);
	cr_assert_eq(roofline_load(path, "machine-a", &l, err, sizeof err), 1, "%s", err);
	same(&l, &a);
	cr_assert_eq(roofline_load(path, "machine-b", &l, err, sizeof err), 1, "%s", err);
	same(&l, &b);
	/* replacing one entry keeps the other */
	cr_assert_eq(roofline_save(path, "machine-a", &a2, err, sizeof err), 0, "%s", err);
	cr_assert_eq(roofline_load(path, "machine-a", &l, err, sizeof err), 1, "%s", err);
	same(&l, &a2);
	cr_assert_eq(roofline_load(path, "machine-b", &l, err, sizeof err), 1, "%s", err);
	same(&l, &b);
	cr_assert_eq(rm_dir(dir), 0, "a temporary file was left behind");
}

/* Measuring fewer threads than stored replaces those counts and keeps
 * the others (./bench --roofline --threads 1 after a 2-thread roofline);
 * measuring more replaces all. */
Test(roofline, fewer_threads_keep_the_others)
{
	struct roofline two, one, four, l, want;
	char dir[64], path[128], err[256];

	tmp_dir(dir);
	snprintf(path, sizeof path, "%s/roofline.json", dir);
	fake(&two, 2, 1);
	fake(&one, 1, 5);
	fake(&four, 4, 9);
	cr_assert_eq(roofline_save(path, "m", &two, err, sizeof err), 0, "%s", err);
	cr_assert_eq(roofline_save(path, "m", &one, err, sizeof err), 0, "%s", err);
	cr_assert_eq(roofline_load(path, "m", &l, err, sizeof err), 1, "%s", err);
	want = one;	/* thread 1 and the metadata: the new measurement */
	want.max_threads = 2;
	want.bw.best[2] = two.bw.best[2];
	want.bw.median[2] = two.bw.median[2];
	for (int i = 0; i < ROOF_NISA; i++)
		want.peak[i] = (struct roof_series){ { 0, one.peak[i].best[1],
			two.peak[i].best[2] }, { 0, one.peak[i].median[1],
			two.peak[i].median[2] } };
	same(&l, &want);
	cr_assert(roofline_floor_ms(&l, 2, 1e9, 0) > 0);
	cr_assert_eq(roofline_save(path, "m", &four, err, sizeof err), 0, "%s", err);
	cr_assert_eq(roofline_load(path, "m", &l, err, sizeof err), 1, "%s", err);
	same(&l, &four);
	cr_assert_eq(rm_dir(dir), 0, "a temporary file was left behind");
}

Test(roofline, malformed_file_untouched)
{
	static const char *const bodies[] = {
		"{\"schema\": 1, \"machines\": [1, 2",	/* truncated */
		"{\"schema\": 2, \"machines\": {}}",	/* other schema */
		"[]",
		"",
	};
	struct roofline r, l;
	char dir[64], path[128], err[256];

	tmp_dir(dir);
	snprintf(path, sizeof path, "%s/roofline.json", dir);
	fake(&r, 2, 5);
	for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
		FILE *f = fopen(path, "wb");
		char *after;

		cr_assert_not_null(f);
		fputs(bodies[i], f);
		fclose(f);
		err[0] = '\0';
		cr_assert_eq(roofline_save(path, "k", &r, err, sizeof err), -1,
			     "body %zu", i);
		cr_assert(strstr(err, path), "message names no file: %s", err);
		after = slurp(path);
		cr_assert_str_eq(after, bodies[i], "the file was changed");
		free(after);
		err[0] = '\0';
		cr_assert_eq(roofline_load(path, "k", &l, err, sizeof err), -1);
		cr_assert(strstr(err, path), "%s", err);
	}
	cr_assert_eq(rm_dir(dir), 0, "a temporary file was left behind");
}

Test(roofline, bad_field_named)
{
	static const struct {
		const char *body, *field;
	} cases[] = {
		{ "{\"schema\":1,\"machines\":{\"k\":{\"threads\":[1,3]}}}",
		  "machines.k.threads" },
		{ "{\"schema\":1,\"machines\":{\"k\":{\"threads\":[1],"
		  "\"measured_at\":\"x\",\"cpu\":\"c\",\"buffer_bytes\":1,"
		  "\"bandwidth_gbs\":{\"best\":[1],\"median\":[\"a\"]}}}}",
		  "machines.k.bandwidth_gbs.median" },
		{ "{\"schema\":1,\"machines\":{\"k\":{\"threads\":[1],"
		  "\"measured_at\":\"x\",\"cpu\":\"c\",\"buffer_bytes\":1,"
		  "\"bandwidth_gbs\":{\"best\":[1],\"median\":[1]},"
		  "\"int8_gmacs\":{\"avx2\":{\"best\":[1],\"median\":[1]},"
		  "\"avxvnni\":{\"available\":false}}}}}",
		  "machines.k.int8_gmacs.avxvnni" },
	};
	struct roofline l;
	char dir[64], path[128], err[256];

	tmp_dir(dir);
	snprintf(path, sizeof path, "%s/roofline.json", dir);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		FILE *f = fopen(path, "wb");

		cr_assert_not_null(f);
		fputs(cases[i].body, f);
		fclose(f);
		cr_assert_eq(roofline_load(path, "k", &l, err, sizeof err), -1);
		cr_assert(strstr(err, path) && strstr(err, cases[i].field),
			  "case %zu: %s", i, err);
		/* another machine's entry is not read at all */
		cr_assert_eq(roofline_load(path, "other", &l, err, sizeof err), 0);
	}
	cr_assert_eq(rm_dir(dir), 0);
}

Test(roofline, missing_key_or_file)
{
	struct roofline r, l;
	char dir[64], path[128], err[256];

	tmp_dir(dir);
	snprintf(path, sizeof path, "%s/roofline.json", dir);
	cr_assert_eq(roofline_load(path, "k", &l, err, sizeof err), 0, "no file");
	fake(&r, 2, 4);
	cr_assert_eq(roofline_save(path, "k", &r, err, sizeof err), 0, "%s", err);
	cr_assert_eq(roofline_load(path, "nope", &l, err, sizeof err), 0);
	cr_assert_eq(roofline_save(path, "", &r, err, sizeof err), -1);
	cr_assert_eq(rm_dir(dir), 0);
}

Test(roofline, int8_peak_picks_best_usable)
{
	struct roofline r;
	enum roof_isa which;

	fake(&r, 2, 0);
	/* avx512vnni has the largest rate but is unavailable: not chosen */
	cr_assert_eq(roofline_int8_peak(&r, 2, &which), 200.25);
	cr_assert_eq(which, ROOF_AVX2);
	r.isa_ok[ROOF_AVXVNNI] = 1;
	cr_assert_eq(roofline_int8_peak(&r, 1, &which), 200.25);
	cr_assert_eq(which, ROOF_AVXVNNI);
	cr_assert_eq(roofline_int8_peak(&r, 3, &which), 0, "beyond max_threads");
	cr_assert_eq(which, ROOF_NISA);
	cr_assert_eq(roofline_int8_peak(&r, 0, NULL), 0);
	cr_assert_str_eq(roof_isa_name(ROOF_AVX512VNNI), "avx512vnni");
	cr_assert_str_eq(roof_isa_name(ROOF_NISA), "?");
}

Test(roofline, machine_key)
{
	char key[MACHINE_FP_KEY_MAX], err[256];

	cr_assert_eq(roofline_machine_key(key, sizeof key, err, sizeof err), 0,
		     "%s", err);
	cr_assert_gt(strlen(key), 8, "%s", key);
	cr_assert_eq(strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			    "0123456789.-_"), strlen(key), "%s", key);
}

Test(roofline, default_buffer)
{
	size_t b = roofline_default_buffer(), llc;
	struct machine_fp fp;
	char err[256];

	cr_assert_eq(machine_fp_get(&fp, err, sizeof err), 0, "%s", err);
	llc = fp.l3 ? fp.l3 * (size_t)fp.l3_count : fp.l2 * (size_t)fp.cores;
	cr_assert_eq(b, 8 * llc > (1u << 30) ? 8 * llc : (size_t)1 << 30,
		     "%zu (LLC %zu)", b, llc);
	cr_log_info("roofline: default buffer %zu MiB (LLC %zu KiB)", b >> 20,
		    llc >> 10);
}

/* test_env.c - machine fingerprint, environment record, pin plan, and the
 * pool's pinning and active-thread count.
 *
 * Expected values come from sources independent of hwloc where Linux has
 * them (sysconf, sysfs topology and cache files, uname, git, the thread's
 * own sched_getcpu/sched_getaffinity). */
#include <ctype.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/utsname.h>
#include "common.h"
#include "cpu.h"
#include "env.h"
#include "pool.h"

/* A fingerprint with every field distinct and non-zero. */
static struct machine_fp sample_fp(void)
{
	struct machine_fp m = {
		.vendor = "AuthenticAMD",
		.brand = "AMD EPYC 7B13 64-Core Processor",
		.family = 0x19, .model = 0x1, .stepping = 0x1,
		.features = CPU_SSE42 | CPU_AVX | CPU_AVX2 | CPU_FMA | CPU_F16C,
		.cores = 2, .pus = 4, .numa_nodes = 1, .packages = 1,
		.l1d = 32768, .l2 = 524288, .l3 = 33554432, .l3_count = 3,
	};
	return m;
}

/* One way to change each field, and the name the diff must use for it. */
struct mut {
	const char *label;
	void (*apply)(struct machine_fp *m);
};

static void m_vendor(struct machine_fp *m) { strcpy(m->vendor, "GenuineIntel"); }
static void m_brand(struct machine_fp *m) { m->brand[4] = 'X'; }
static void m_family(struct machine_fp *m) { m->family = 0x6; }
static void m_model(struct machine_fp *m) { m->model = 0x11; }
static void m_stepping(struct machine_fp *m) { m->stepping = 0x2; }
static void m_features(struct machine_fp *m) { m->features |= CPU_AVX512F; }
static void m_cores(struct machine_fp *m) { m->cores = 4; }
static void m_pus(struct machine_fp *m) { m->pus = 8; }
static void m_numa(struct machine_fp *m) { m->numa_nodes = 2; }
static void m_packages(struct machine_fp *m) { m->packages = 2; }
static void m_l1d(struct machine_fp *m) { m->l1d = 49152; }
static void m_l2(struct machine_fp *m) { m->l2 = 1048576; }
static void m_l3(struct machine_fp *m) { m->l3 = 16777216; }
static void m_l3_count(struct machine_fp *m) { m->l3_count = 1; }

static const struct mut muts[] = {
	{ "vendor", m_vendor }, { "brand", m_brand },
	{ "cpu family", m_family }, { "cpu model", m_model },
	{ "cpu stepping", m_stepping }, { "features", m_features },
	{ "cores", m_cores }, { "pus", m_pus }, { "numa_nodes", m_numa },
	{ "packages", m_packages }, { "l1d", m_l1d }, { "l2", m_l2 },
	{ "l3", m_l3 }, { "l3_count", m_l3_count },
};
#define N_MUTS (sizeof muts / sizeof muts[0])

/* Field by field, without machine_fp_diff. */
static void assert_fp_eq(const struct machine_fp *a, const struct machine_fp *b)
{
	cr_assert_str_eq(a->vendor, b->vendor);
	cr_assert_str_eq(a->brand, b->brand);
	cr_assert_eq(a->family, b->family);
	cr_assert_eq(a->model, b->model);
	cr_assert_eq(a->stepping, b->stepping);
	cr_assert_eq(a->features, b->features);
	cr_assert_eq(a->cores, b->cores);
	cr_assert_eq(a->pus, b->pus);
	cr_assert_eq(a->numa_nodes, b->numa_nodes);
	cr_assert_eq(a->packages, b->packages);
	cr_assert_eq(a->l1d, b->l1d);
	cr_assert_eq(a->l2, b->l2);
	cr_assert_eq(a->l3, b->l3);
	cr_assert_eq(a->l3_count, b->l3_count);
}

/* fp -> JSON text -> fp, as a config file would carry it. */
static void round_trip(const struct machine_fp *in, struct machine_fp *out)
{
	char err[256];
	json_t *j = machine_fp_json(in), *back;
	char *text;

	cr_assert_not_null(j);
	text = json_dumps(j, JSON_COMPACT);
	cr_assert_not_null(text);
	back = json_loads(text, 0, NULL);
	cr_assert_not_null(back, "%s", text);
	memset(out, 0x5a, sizeof *out);
	cr_assert_eq(machine_fp_from_json(back, out, err, sizeof err), 0, "%s", err);
	json_decref(back);
	json_decref(j);
	free(text);
}

Test(env, fp_json_round_trip)
{
	struct machine_fp here, s = sample_fp(), out;
	char err[256];

	cr_assert_eq(machine_fp_get(&here, err, sizeof err), 0, "%s", err);
	round_trip(&here, &out);
	assert_fp_eq(&here, &out);
	cr_assert_null(machine_fp_diff(&here, &out));
	round_trip(&s, &out);
	assert_fp_eq(&s, &out);
	s.l3 = (size_t)3 << 40;	/* beyond 32 bits survives */
	round_trip(&s, &out);
	cr_assert_eq(out.l3, (size_t)3 << 40);
}

/* from_json refuses a broken object and names the field. */
Test(env, fp_json_errors_name_field)
{
	struct machine_fp s = sample_fp(), out;
	const struct { const char *field; json_t *value; } bad[] = {
		{ "l3", NULL },				/* missing */
		{ "cores", json_string("2") },		/* wrong type */
		{ "vendor", json_string("AuthenticAMDx") },	/* too long */
		{ "l1d", json_integer(-1) },		/* out of range */
		{ "family", json_integer((json_int_t)UINT32_MAX + 1) },
	};
	char err[256], want[32];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		json_t *j = machine_fp_json(&s);

		if (bad[i].value)
			json_object_set_new(j, bad[i].field, bad[i].value);
		else
			json_object_del(j, bad[i].field);
		cr_assert_eq(machine_fp_from_json(j, &out, err, sizeof err), -1,
			     "bad %s accepted", bad[i].field);
		snprintf(want, sizeof want, "\"%s\"", bad[i].field);
		cr_assert(strstr(err, want), "bad %s: \"%s\"", bad[i].field, err);
		json_decref(j);
	}
	cr_assert_eq(machine_fp_from_json(json_array(), &out, err, sizeof err), -1);
}

Test(env, fp_diff_names_each_field)
{
	struct machine_fp a = sample_fp(), b;

	cr_assert_null(machine_fp_diff(&a, &a));
	for (size_t i = 0; i < N_MUTS; i++) {
		char want[64];
		const char *d;

		b = a;
		muts[i].apply(&b);
		snprintf(want, sizeof want, "%s ", muts[i].label);
		d = machine_fp_diff(&a, &b);
		cr_assert_not_null(d, "%s changed, no diff", muts[i].label);
		cr_assert_eq(strncmp(d, want, strlen(want)), 0,
			     "%s changed, diff says \"%s\"", muts[i].label, d);
		d = machine_fp_diff(&b, &a);
		cr_assert_not_null(d);
		cr_assert_eq(strncmp(d, want, strlen(want)), 0, "%s", d);
	}
	/* the wording the config-file loader shows */
	b = a;
	m_model(&b);
	cr_assert_str_eq(machine_fp_diff(&a, &b), "cpu model 0x1 != 0x11");
	b = a;
	m_l3(&b);
	cr_assert_str_eq(machine_fp_diff(&a, &b), "l3 33554432 != 16777216");
}

Test(env, fp_key_stable_and_distinct)
{
	struct machine_fp a = sample_fp(), b, here, rt;
	char ka[MACHINE_FP_KEY_MAX], kb[MACHINE_FP_KEY_MAX];
	char keys[N_MUTS][MACHINE_FP_KEY_MAX];
	char err[256];

	machine_fp_key(&a, ka, sizeof ka);
	machine_fp_key(&a, kb, sizeof kb);
	cr_assert_str_eq(ka, kb);
	cr_assert_eq(strncmp(ka, "AuthenticAMD-19-01-01-", 22), 0, "%s", ka);
	cr_assert(strlen(ka) < 160, "%s", ka);
	for (const char *p = ka; *p; p++)
		cr_assert(isalnum((unsigned char)*p) || *p == '-' || *p == '.',
			  "key %s has '%c'", ka, *p);

	for (size_t i = 0; i < N_MUTS; i++) {
		b = a;
		muts[i].apply(&b);
		machine_fp_key(&b, keys[i], sizeof keys[i]);
		cr_assert_str_neq(keys[i], ka, "%s changed, same key", muts[i].label);
		for (size_t k = 0; k < i; k++)
			cr_assert_str_neq(keys[i], keys[k], "%s and %s give one key",
					  muts[i].label, muts[k].label);
	}

	/* this machine's key survives the JSON round trip; a tiny cap truncates */
	cr_assert_eq(machine_fp_get(&here, err, sizeof err), 0, "%s", err);
	round_trip(&here, &rt);
	machine_fp_key(&here, ka, sizeof ka);
	machine_fp_key(&rt, kb, sizeof kb);
	cr_assert_str_eq(ka, kb);
	machine_fp_key(&here, kb, 5);
	cr_assert_eq(strlen(kb), 4);
	cr_assert_eq(strncmp(kb, ka, 4), 0);
}

/* --- independent sources ---------------------------------------------- */

/* An integer from a sysfs file, -1 if unreadable. */
static long sysfs_long(const char *fmt, int a, int b)
{
	char path[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof path, fmt, a, b);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/* "32K" style sysfs size in bytes, -1 if unreadable. */
static long sysfs_size(int cpu, int idx)
{
	char path[256], unit = 0;
	long v;
	FILE *f;

	snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/cache/index%d/size",
		 cpu, idx);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld%c", &v, &unit) < 1)
		v = -1;
	fclose(f);
	return unit == 'K' ? v << 10 : unit == 'M' ? v << 20 : v;
}

/* sysfs cache size of cpu0 at a level ("Data" or "Unified"), -1 unknown. */
static long sysfs_cache(int level)
{
	for (int i = 0; i < 8; i++) {
		char path[128], type[32] = "";
		FILE *f;

		if (sysfs_long("/sys/devices/system/cpu/cpu%d/cache/index%d/level", 0, i) != level)
			continue;
		snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", i);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fscanf(f, "%31s", type) != 1)
			type[0] = '\0';
		fclose(f);
		if (!strcmp(type, "Data") || !strcmp(type, "Unified"))
			return sysfs_size(0, i);
	}
	return -1;
}

/* package << 16 | core_id of a CPU from sysfs, -1 unknown. */
static long core_of(int cpu)
{
	long pkg = sysfs_long("/sys/devices/system/cpu/cpu%d/topology/physical_package_id", cpu, 0);
	long core = sysfs_long("/sys/devices/system/cpu/cpu%d/topology/core_id", cpu, 0);

	return pkg < 0 || core < 0 ? -1 : pkg << 16 | core;
}

/* Distinct values among v[0..n). */
static int distinct(const long *v, int n)
{
	int d = 0;

	for (int i = 0; i < n; i++) {
		int seen = 0;

		for (int k = 0; k < i; k++)
			seen |= v[k] == v[i];
		d += !seen;
	}
	return d;
}

/* First line of a command's output, "" when it fails. */
static void run_cmd(const char *cmd, char *buf, size_t cap)
{
	FILE *f = popen(cmd, "r");

	buf[0] = '\0';
	if (!f)
		return;
	if (!fgets(buf, (int)cap, f))
		buf[0] = '\0';
	if (pclose(f) != 0)
		buf[0] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
}

Test(env, collect_matches_system)
{
	struct env_info e;
	struct utsname u;
	char err[256], head[64], gov[64] = "", want[64];
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	FILE *f;

	cr_assert_eq(env_collect(&e, err, sizeof err), 0, "%s", err);

	/* build identity */
	cr_assert_neq(e.git_rev[0], '\0');
	cr_assert_eq(e.git_dirty, strstr(e.git_rev, "-dirty") != NULL, "%s", e.git_rev);
	run_cmd("git rev-parse --short=12 HEAD 2>/dev/null", head, sizeof head);
	if (head[0] && access("harness/env.c", R_OK) == 0) {
		char tagged[80];

		snprintf(tagged, sizeof tagged, "-g%s", head);
		cr_assert(!strncmp(e.git_rev, head, strlen(head)) || strstr(e.git_rev, tagged),
			  "git_rev \"%s\" is not HEAD %s (built at another commit? rebuild)",
			  e.git_rev, head);
	} else {
		cr_log_info("env: cwd is not this git checkout; git_rev \"%s\" not compared",
			    e.git_rev);
	}
	cr_assert(strstr(e.compiler, __VERSION__), "%s", e.compiler);
	cr_assert(strstr(e.cflags, "-std=c11"), "cflags \"%s\"", e.cflags);

	/* system */
	cr_assert_eq(uname(&u), 0);
	cr_assert_eq(strncmp(e.kernel, u.release, strlen(u.release)), 0, "%s", e.kernel);
	f = fopen("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", "r");
	if (f && fscanf(f, "%63s", gov) == 1)
		cr_assert_str_eq(e.governor, gov);
	else
		cr_assert_str_eq(e.governor, "unreadable");
	if (f)
		fclose(f);
	cr_assert_eq(e.online_cpus, online);
	cr_assert_eq(e.m.features, cpu_get()->hw);
	cr_assert_eq(e.active_features, cpu_get()->features);

	/* topology against sysconf and sysfs */
	cr_assert_eq(e.m.pus, online);
	cr_assert(e.m.cores >= 1 && e.m.cores <= e.m.pus, "cores %d pus %d",
		  e.m.cores, e.m.pus);
	cr_assert_geq(e.m.numa_nodes, 1);
	cr_assert_geq(e.m.packages, 1);
	cr_assert_eq(e.smt, e.m.pus > e.m.cores);
	if (online <= 1024 && core_of(0) >= 0) {
		long cores[1024], pkgs[1024];
		int n = 0;

		for (int c = 0; n < online && c < 4096; c++) {
			long k = core_of(c);

			if (k < 0)
				continue;
			cores[n] = k;
			pkgs[n++] = k >> 16;
		}
		cr_assert_eq(e.m.cores, distinct(cores, n));
		cr_assert_eq(e.m.packages, distinct(pkgs, n));
	}
	for (int lv = 1; lv <= 3; lv++) {
		long want_sz = sysfs_cache(lv);
		size_t got = lv == 1 ? e.m.l1d : lv == 2 ? e.m.l2 : e.m.l3;

		if (want_sz > 0)
			cr_assert_eq(got, (size_t)want_sz, "L%d: hwloc %zu, sysfs %ld", lv,
				     got, want_sz);
	}
	snprintf(want, sizeof want, "%d core%s, %d PU", e.m.cores,
		 e.m.cores == 1 ? "" : "s", e.m.pus);
	cr_assert(strstr(e.hwloc_summary, want), "\"%s\" lacks \"%s\"", e.hwloc_summary, want);
}

Test(env, env_json_fields)
{
	struct env_info e;
	struct machine_fp m;
	char err[256];
	json_t *j;

	cr_assert_eq(env_collect(&e, err, sizeof err), 0, "%s", err);
	j = env_json(&e);
	cr_assert_not_null(j);
	cr_assert_str_eq(json_string_value(json_object_get(j, "git_rev")), e.git_rev);
	cr_assert_str_eq(json_string_value(json_object_get(j, "governor")), e.governor);
	cr_assert_str_eq(json_string_value(json_object_get(j, "hwloc_summary")),
			 e.hwloc_summary);
	cr_assert_eq(json_integer_value(json_object_get(j, "online_cpus")), e.online_cpus);
	cr_assert_eq(json_is_true(json_object_get(j, "smt")), e.smt);
	cr_assert_eq(machine_fp_from_json(json_object_get(j, "machine"), &m, err,
					  sizeof err), 0, "%s", err);
	assert_fp_eq(&m, &e.m);
	json_decref(j);
}

Test(env, pin_plan_distinct_online)
{
	int cpus[256], n, pus;
	long online = sysconf(_SC_NPROCESSORS_ONLN), keys[256];
	struct machine_fp m;
	cpu_set_t allowed;
	char err[256];

	cr_assert_eq(machine_fp_get(&m, err, sizeof err), 0, "%s", err);
	cr_assert_eq(sched_getaffinity(0, sizeof allowed, &allowed), 0);
	pus = CPU_COUNT(&allowed);
	n = env_pin_plan(256, cpus, 256, err, sizeof err);
	cr_assert_gt(n, 0, "%s", err);
	cr_assert_leq(n, online);
	cr_assert_geq(n, pus, "plan %d, this process may use %d", n, pus);
	for (int i = 0; i < n; i++) {
		cr_assert(cpus[i] >= 0 && cpus[i] < CPU_SETSIZE);
		cr_assert_eq(sysfs_long("/sys/devices/system/cpu/cpu%d/online", cpus[i], 0) != 0,
			     1, "cpu %d offline", cpus[i]);
		for (int k = 0; k < i; k++)
			cr_assert_neq(cpus[i], cpus[k], "cpu %d twice", cpus[i]);
		keys[i] = core_of(cpus[i]);
	}
	/* physical cores first: the first `cores` entries are all distinct */
	if (keys[0] >= 0 && n >= m.cores)
		cr_assert_eq(distinct(keys, m.cores), m.cores);

	/* cap and n_threads bound the count */
	cr_assert_eq(env_pin_plan(1, cpus, 256, err, sizeof err), 1);
	if (n >= 2)
		cr_assert_eq(env_pin_plan(256, cpus, 2, err, sizeof err), 2);
	cr_assert_eq(env_pin_plan(0, cpus, 4, err, sizeof err), -1);
	cr_assert(strstr(err, "n_threads"), "%s", err);
}

/* --- pool ---------------------------------------------------------------- */

struct probe {
	atomic_int calls[4];
	atomic_int nth[4];	/* last nth seen per ith */
	atomic_int cpu[4];	/* sched_getcpu seen by fn */
	atomic_int wrong_cpu;	/* runs where ith was off its expected CPU */
	atomic_int bad_nth;	/* calls with ith >= nth */
	int expect[4];		/* -1: no expectation */
	cpu_set_t mask[4];	/* each thread's affinity, last run */
};

static void probe_fn(void *ctx, int ith, int nth)
{
	struct probe *pr = ctx;
	int c = sched_getcpu();

	atomic_fetch_add(&pr->calls[ith], 1);
	if (ith >= nth)
		atomic_fetch_add(&pr->bad_nth, 1);
	atomic_store(&pr->nth[ith], nth);
	atomic_store(&pr->cpu[ith], c);
	if (pr->expect[ith] >= 0 && c != pr->expect[ith])
		atomic_fetch_add(&pr->wrong_cpu, 1);
	sched_getaffinity(0, sizeof pr->mask[ith], &pr->mask[ith]);
}

static void probe_init(struct probe *pr)
{
	memset(pr, 0, sizeof *pr);
	for (int i = 0; i < 4; i++)
		pr->expect[i] = -1;
}

/* The first two CPUs this process may run on; skips on a 1-CPU machine. */
static void two_cpus(int *a, int *b, cpu_set_t *allowed)
{
	int n = 0;

	cr_assert_eq(sched_getaffinity(0, sizeof *allowed, allowed), 0);
	for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
		if (CPU_ISSET(c, allowed))
			*(n++ ? b : a) = c;
	if (n < 2)
		cr_skip_test("env: one CPU available: pinning two workers apart is impossible");
}

/* pool_cpus_seen reports c0, c1 for a 2-thread pool, and moved. */
static void expect_seen(const struct pool *p, int c0, int c1, int moved)
{
	int seen[2], m;

	pool_cpus_seen(p, seen, &m);
	cr_assert_eq(seen[0], c0, "worker 0 seen on %d, expected %d", seen[0], c0);
	cr_assert_eq(seen[1], c1, "worker 1 seen on %d, expected %d", seen[1], c1);
	cr_assert_eq(m, moved, "moved %d, expected %d", m, moved);
}

Test(env, pool_pin_places_workers, .timeout = 20)
{
	struct pool *p;
	struct probe pr;
	cpu_set_t allowed, one;
	int a, b;
	char err[256];

	two_cpus(&a, &b, &allowed);
	p = pool_create(2);
	cr_assert_not_null(p);
	/* swapped, so a match cannot come from the scheduler's default */
	cr_assert_eq(pool_pin(p, (int[]){ b, a }, err, sizeof err), 0, "%s", err);
	probe_init(&pr);
	pr.expect[0] = b;
	pr.expect[1] = a;
	for (int r = 0; r < 20; r++)
		pool_run(p, probe_fn, &pr);
	cr_assert_eq(pr.calls[0], 20);
	cr_assert_eq(pr.calls[1], 20);
	cr_assert_eq(pr.wrong_cpu, 0);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(CPU_COUNT(&pr.mask[i]), 1, "worker %d affinity not one CPU", i);
	expect_seen(p, b, a, 0);

	/* re-pinning restarts the record: no "moved" for a requested move */
	cr_assert_eq(pool_pin(p, (int[]){ a, b }, err, sizeof err), 0, "%s", err);
	expect_seen(p, -1, -1, 0);
	pool_run(p, probe_fn, &pr);
	expect_seen(p, a, b, 0);

	/* moving the caller behind the pool's back is seen */
	CPU_ZERO(&one);
	CPU_SET(b, &one);
	cr_assert_eq(sched_setaffinity(0, sizeof one, &one), 0);
	pool_run(p, probe_fn, &pr);
	expect_seen(p, b, b, 1);
	pool_cpus_reset(p);
	expect_seen(p, -1, -1, 0);

	/* a bad CPU is refused with a message */
	cr_assert_eq(pool_pin(p, (int[]){ a, -3 }, err, sizeof err), -1);
	cr_assert(strstr(err, "worker 1"), "%s", err);
	pool_destroy(p);
}

Test(env, pool_unpin_restores_set, .timeout = 20)
{
	struct pool *p;
	struct probe pr;
	cpu_set_t allowed;
	int a, b;
	char err[256];

	two_cpus(&a, &b, &allowed);
	p = pool_create(2);
	cr_assert_not_null(p);
	cr_assert_eq(pool_pin(p, (int[]){ a, a }, err, sizeof err), 0, "%s", err);
	probe_init(&pr);
	pool_run(p, probe_fn, &pr);
	cr_assert_eq(CPU_COUNT(&pr.mask[1]), 1);
	cr_assert_eq(pool_pin(p, NULL, err, sizeof err), 0, "%s", err);
	pool_run(p, probe_fn, &pr);
	for (int i = 0; i < 2; i++) {
		cpu_set_t both;

		CPU_AND(&both, &pr.mask[i], &allowed);
		cr_assert(CPU_EQUAL(&both, &allowed),
			  "worker %d: %d CPUs after unpin, process had %d", i,
			  CPU_COUNT(&pr.mask[i]), CPU_COUNT(&allowed));
	}
	pool_destroy(p);
}

Test(env, pool_set_active_narrows_runs, .timeout = 20)
{
	struct pool *p = pool_create(3);
	struct probe pr;
	int seen[3], moved;

	cr_assert_not_null(p);
	cr_assert_eq(pool_threads_max(p), 3);
	cr_assert_eq(pool_set_active(p, 1), 3);
	cr_assert_eq(pool_threads(p), 1);
	probe_init(&pr);
	pool_run(p, probe_fn, &pr);
	cr_assert_eq(pr.calls[0], 1);
	cr_assert_eq(pr.nth[0], 1);
	cr_assert_eq(pr.calls[1], 0);
	cr_assert_eq(pr.calls[2], 0);

	/* two of three, after the idle workers have gone to sleep */
	usleep(20000);
	cr_assert_eq(pool_set_active(p, 2), 1);
	cr_assert_eq(pool_threads(p), 2);
	probe_init(&pr);
	for (int r = 0; r < 20; r++)
		pool_run(p, probe_fn, &pr);
	cr_assert_eq(pr.calls[0], 20);
	cr_assert_eq(pr.calls[1], 20);
	cr_assert_eq(pr.calls[2], 0);
	cr_assert_eq(pr.nth[0], 2);
	cr_assert_eq(pr.nth[1], 2);
	pool_cpus_seen(p, seen, &moved);
	cr_assert_eq(seen[0], pr.cpu[0]);
	cr_assert_eq(seen[1], pr.cpu[1]);

	/* all three again, the third woken from its sleep */
	usleep(20000);
	cr_assert_eq(pool_set_active(p, 3), 2);
	probe_init(&pr);
	for (int r = 0; r < 20; r++)
		pool_run(p, probe_fn, &pr);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(pr.calls[i], 20, "ith %d ran %d times", i, pr.calls[i]);
		cr_assert_eq(pr.nth[i], 3);
	}

	/* narrowed and widened run by run: the third is still spinning from
	 * a 3-thread run when each 2-thread run starts, and must sit it out */
	probe_init(&pr);
	for (int r = 0; r < 40; r++) {
		pool_set_active(p, r % 2 ? 2 : 3);
		pool_run(p, probe_fn, &pr);
	}
	cr_assert_eq(pr.calls[0], 40);
	cr_assert_eq(pr.calls[1], 40);
	cr_assert_eq(pr.calls[2], 20, "ith 2 ran %d times in 20 runs", pr.calls[2]);
	cr_assert_eq(pr.bad_nth, 0);

	/* out of range is clamped */
	cr_assert_eq(pool_set_active(p, 0), 2);
	cr_assert_eq(pool_threads(p), 1);
	pool_set_active(p, 99);
	cr_assert_eq(pool_threads(p), 3);
	pool_destroy(p);
}

/* An oversubscribed pool (more threads than the CPUs this process may
 * use) says so and still runs every task exactly once per run; a pool
 * that fits does not say so. */
static void count_task(void *ctx, int ith, int nth)
{
	atomic_int *hits = ctx;

	(void)nth;
	atomic_fetch_add(&hits[ith], 1);
}

Test(env, pool_oversubscribed_runs_every_task, .timeout = 60)
{
	const int cpus = pool_cpus_available();
	const int n = 4 * cpus;
	atomic_int hits[4 * 64] = { 0 };
	struct pool *fit = pool_create(cpus), *over;

	cr_assert(cpus >= 1 && cpus <= 64, "cpus %d", cpus);
	cr_assert_not_null(fit);
	cr_expect_eq(pool_oversubscribed(fit), 0);
	pool_destroy(fit);
	cr_assert_not_null(over = pool_create(n));
	cr_expect_eq(pool_oversubscribed(over), 1, "%d threads on %d CPUs", n, cpus);
	for (int r = 0; r < 300; r++)
		pool_run(over, count_task, hits);
	for (int i = 0; i < n; i++)
		cr_expect_eq(atomic_load(&hits[i]), 300, "worker %d ran %d tasks", i,
			     atomic_load(&hits[i]));
	pool_destroy(over);
}

/* test_counters.c - harness/counters.c: the status line and
 * counters_avail against PAPI's own answers, the software tier against
 * clocks the kernel keeps independently (process and per-thread CPU
 * clocks), page faults and context switches provoked on purpose, threads
 * that exist before counters_open, and the fallbacks forced for real:
 * Q8TUNE_COUNTERS, a seccomp filter refusing perf_event_open, and an
 * unprivileged user under perf_event_paranoid.
 *
 * Criterion runs each test in its own process, so setenv, seccomp and
 * setuid here stay inside one test. */
#include <errno.h>
#include <linux/filter.h>
#include <linux/perf_event.h>
#include <linux/seccomp.h>
#include <math.h>
#include <papi.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>

#include "common.h"
#include "counters.h"
#include "pool.h"

static double clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* Burns CPU on the calling thread for ms of wall time. */
static void spin_ms(double ms)
{
	double end = clock_ms(CLOCK_MONOTONIC) + ms;
	volatile unsigned x = 0;

	while (clock_ms(CLOCK_MONOTONIC) < end)
		for (int i = 0; i < 1000; i++)
			x += (unsigned)i;
}

/* The value named name in s, or NAN if absent. */
static double get(const struct ctr_sample *s, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->name[i], name))
			return s->v[i];
	return NAN;
}

static struct counters *open_ok(void)
{
	struct counters *c = NULL;
	char err[256] = "";

	cr_assert_eq(counters_open(&c, err, sizeof(err)), 0,
		     "counters_open: %s", err);
	cr_assert_not_null(c);
	cr_log_info("status: %s", counters_status(c));
	return c;
}

/* Whether this process may open a task-clock counter on itself, asked
 * directly of the kernel (not through counters.c). */
static int perf_try(int user_only)
{
	struct perf_event_attr a = {
		.size = sizeof(a),
		.type = PERF_TYPE_SOFTWARE,
		.config = PERF_COUNT_SW_TASK_CLOCK,
		.exclude_kernel = (unsigned)user_only,
		.exclude_hv = (unsigned)user_only,
	};
	int fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);

	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

/* Threads in this process, as the kernel counts them. */
static int count_threads(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[128];
	int n = 0;

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* Asserts one tier's flag and reason agree with the status line st: off
 * exactly when st has "<label>: unavailable (", with the reason in it. */
static void check_tier(const char *st, const char *label, int on,
		       const char *why)
{
	char off[64];

	snprintf(off, sizeof(off), "%s: unavailable (", label);
	cr_assert_eq(on, strstr(st, off) == NULL, "%s on=%d but status: %s",
		     label, on, st);
	if (on) {
		cr_assert_eq(why[0], '\0', "%s on with a reason: %s", label, why);
		return;
	}
	cr_assert_neq(why[0], '\0', "%s off without a reason", label);
	cr_assert_not_null(strstr(st, why), "status lacks the %s reason '%s': %s",
			   label, why, st);
}

/* Asserts the status line and counters_avail tell the same story. */
static void check_avail_matches_status(const struct counters *c,
				       struct ctr_avail *a)
{
	const char *st = counters_status(c);

	counters_avail(c, a);
	check_tier(st, "hardware counters", a->hw, a->hw_why);
	check_tier(st, "; software", a->sw, a->sw_why);
	cr_assert_eq(a->rusage, strstr(st, "; rusage: unavailable") == NULL);
	if (a->hw)
		cr_assert_not_null(strstr(st, a->papi_version));
}

/* Asserts the six rusage values are there, in order, and plausible. */
static void check_rusage_names(const struct ctr_sample *s)
{
	static const char *const ru[] = {
		"ru_nvcsw", "ru_nivcsw", "ru_minflt", "ru_majflt",
		"ru_utime_ms", "ru_stime_ms",
	};

	cr_assert_geq(s->n, 6);
	cr_assert_leq(s->n, CTR_MAX);
	for (int i = 0; i < 6; i++) {
		cr_assert_str_eq(s->name[s->n - 6 + i], ru[i]);
		cr_assert_geq(s->v[s->n - 6 + i], 0.0, "%s negative", ru[i]);
	}
}

/* A thread that burns CPU until told to stop. */
struct spinner {
	pthread_t th;
	atomic_int run, started;
};

static void *spin_fn(void *p)
{
	struct spinner *s = p;
	volatile unsigned x = 0;

	atomic_store(&s->started, 1);
	while (atomic_load_explicit(&s->run, memory_order_relaxed))
		for (int i = 0; i < 1000; i++)
			x += (unsigned)i;
	return NULL;
}

static void spinner_start(struct spinner *s)
{
	atomic_store(&s->run, 1);
	atomic_store(&s->started, 0);
	cr_assert_eq(pthread_create(&s->th, NULL, spin_fn, s), 0);
	while (!atomic_load(&s->started))
		sched_yield();
}

static void spinner_stop(struct spinner *s)
{
	atomic_store(&s->run, 0);
	pthread_join(s->th, NULL);
}

/* Spins the caller with c counting until it has used ms of CPU and the
 * spinner ms/2 (so both really ran, however loaded the shared CPUs are;
 * at most 3 s of wall).  Returns the task clock and the CPU time the
 * caller and the spinner used meanwhile. */
static double measure_two(struct counters *c, struct spinner *s, double ms,
			  double *main_cpu, double *worker_cpu)
{
	struct ctr_sample smp;
	clockid_t wid;
	double m0, w0, end = clock_ms(CLOCK_MONOTONIC) + 3000;
	volatile unsigned x = 0;

	cr_assert_eq(pthread_getcpuclockid(s->th, &wid), 0);
	w0 = clock_ms(wid);
	m0 = clock_ms(CLOCK_THREAD_CPUTIME_ID);
	counters_start(c);
	while ((clock_ms(CLOCK_THREAD_CPUTIME_ID) - m0 < ms ||
		clock_ms(wid) - w0 < ms / 2) && clock_ms(CLOCK_MONOTONIC) < end)
		for (int i = 0; i < 1000; i++)
			x += (unsigned)i;
	counters_stop(c, &smp);
	*main_cpu = clock_ms(CLOCK_THREAD_CPUTIME_ID) - m0;
	*worker_cpu = clock_ms(wid) - w0;
	cr_assert_geq(*worker_cpu, ms / 2, "the worker got %.2f ms of CPU in 3 s",
		      *worker_cpu);
	return get(&smp, "task_clock_ms");
}

TestSuite(counters, .timeout = 20);

/* The status line says hardware and software availability explicitly,
 * with reasons, and counters_avail agrees. */
Test(counters, status_explicit_and_avail_agrees)
{
	struct counters *c = open_ok();
	struct ctr_avail a;
	const char *st = counters_status(c);

	check_avail_matches_status(c, &a);
	cr_assert(!strncmp(st, "hardware counters: ", 19), "status: %s", st);
	cr_assert_not_null(strstr(st, "; software: "));
	cr_assert_eq(a.rusage, 1);
	cr_assert_eq(a.sw, perf_try(0) || perf_try(1),
		     "sw=%d but the kernel %s task-clock: %s", a.sw,
		     a.sw ? "refuses" : "grants", st);
	counters_close(c);
}

/* The presets counters.c asks for (its hw_events), by sample name. */
static const struct { const char *name; int code[2]; } ev[] = {
	{ "cycles", { PAPI_TOT_CYC } },
	{ "instructions", { PAPI_TOT_INS } },
	{ "l1d_misses", { PAPI_L1_DCM } },
	{ "l2_misses", { PAPI_L2_DCM, PAPI_L2_TCM } },
	{ "llc_misses", { PAPI_L3_TCM } },
	{ "branch_misses", { PAPI_BR_MSP } },
};

/* What PAPI says of ev[] on this thread: how many exist (*n_exist) and
 * can be added (*n_added), and the first add's error and preset. */
static void papi_presets(int can_add, int *n_exist, int *n_added,
			 int *first_err, char *first_name)
{
	int es = PAPI_NULL;

	if (can_add)
		cr_assert_eq(PAPI_create_eventset(&es), PAPI_OK);
	for (size_t i = 0; i < sizeof(ev) / sizeof(ev[0]); i++)
		for (int k = 0; k < 2 && ev[i].code[k]; k++) {
			int q = PAPI_query_event(ev[i].code[k]), r;

			if (q != PAPI_OK || es == PAPI_NULL)
				continue;
			(*n_exist)++;
			r = PAPI_add_event(es, ev[i].code[k]);
			if (r == PAPI_OK) {
				(*n_added)++;
			} else if (*first_err == PAPI_OK) {
				*first_err = r;
				PAPI_event_code_to_name(ev[i].code[k], first_name);
			}
			break;
		}
	if (es != PAPI_NULL) {
		PAPI_cleanup_eventset(es);
		PAPI_destroy_eventset(&es);
	}

}

/* PAPI as far as this machine allows, asked directly: the library
 * initialises, the perf_event component answers, and what counters.c
 * reports (available or not, which presets, why not) follows from what
 * PAPI says here. */
Test(counters, papi_path_consistent)
{
	const PAPI_component_info_t *info;
	int ver, cid, ncnt, n_added = 0, n_exist = 0, first_err = PAPI_OK;
	char version[32], first_name[PAPI_MAX_STR_LEN] = "";
	struct counters *c;
	struct ctr_avail a;
	struct ctr_sample s;

	ver = PAPI_library_init(PAPI_VER_CURRENT);
	cr_assert_eq(ver, PAPI_VER_CURRENT, "PAPI_library_init: %d", ver);
	snprintf(version, sizeof(version), "%d.%d.%d.%d",
		 PAPI_VERSION_MAJOR(ver), PAPI_VERSION_MINOR(ver),
		 PAPI_VERSION_REVISION(ver), PAPI_VERSION_INCREMENT(ver));
	cid = PAPI_get_component_index("perf_event");
	cr_assert_geq(cid, 0, "PAPI has no perf_event component");
	info = PAPI_get_component_info(cid);
	cr_assert_not_null(info);
	ncnt = PAPI_num_cmp_hwctrs(cid);
	cr_log_info("PAPI %s perf_event: disabled=%d (%s), %d counters",
		    version, info->disabled, info->disabled_reason, ncnt);

	papi_presets(!info->disabled && ncnt > 0, &n_exist, &n_added,
		     &first_err, first_name);
	c = open_ok();
	check_avail_matches_status(c, &a);
	cr_assert_str_eq(a.papi_version, version);
	if (info->disabled) {
		cr_assert_eq(a.hw, 0);
		cr_assert_not_null(strstr(a.hw_why, "disabled"));
		cr_assert_not_null(strstr(a.hw_why, info->disabled_reason),
				   "reason '%s' lacks PAPI's '%s'", a.hw_why,
				   info->disabled_reason);
	} else if (ncnt <= 0) {
		cr_assert_eq(a.hw, 0);
	} else if (n_exist == 0) {
		/* A VM whose PAPI lists no preset at all (seen on a Xeon
		 * under KVM): nothing was tried. */
		cr_assert_eq(a.hw, 0, "no preset exists, yet hw=1");
		cr_assert_not_null(strstr(a.hw_why, "no preset exists"),
				   "reason '%s'", a.hw_why);
	} else if (n_added == 0) {
		/* This VM: the component is enabled and the presets are
		 * listed, but the kernel has no PMU to add them to. */
		char want[PAPI_MAX_STR_LEN + 32];

		cr_assert_eq(a.hw, 0, "PAPI could add nothing, yet hw=1");
		cr_assert_neq(first_err, PAPI_OK);
		snprintf(want, sizeof(want), "PAPI_add_event(%s): %s",
			 first_name, PAPI_strerror(first_err));
		cr_assert_not_null(strstr(a.hw_why, want),
				   "reason '%s' lacks '%s'", a.hw_why, want);
	} else {
		cr_assert_eq(a.hw, 1, "PAPI added %d presets, yet: %s",
			     n_added, a.hw_why);
	}

	/* A hardware name in a sample only if PAPI_query_event has it. */
	counters_start(c);
	counters_stop(c, &s);
	for (size_t i = 0; i < sizeof(ev) / sizeof(ev[0]); i++) {
		int exists = PAPI_query_event(ev[i].code[0]) == PAPI_OK ||
			     (ev[i].code[1] &&
			      PAPI_query_event(ev[i].code[1]) == PAPI_OK);

		if (!exists || !a.hw)
			cr_assert(isnan(get(&s, ev[i].name)),
				  "%s sampled: exists=%d hw=%d", ev[i].name,
				  exists, a.hw);
		if (!exists && a.hw)
			cr_assert_not_null(strstr(counters_status(c), "absent:"));
	}
	counters_close(c);
}

/* A busy loop of 50 ms of CPU time: the task clock matches the process
 * CPU clock, is at least the 50 ms and at most the wall time (the loop
 * is CPU-timed, not wall-timed, so other load on these shared CPUs only
 * stretches the wall time); rusage CPU time agrees. */
Test(counters, busy_loop_task_clock)
{
	struct counters *c = open_ok();
	struct ctr_avail a;
	struct ctr_sample s;
	double w0, p0, t0, wall, cpu, tc, ru;
	volatile unsigned x = 0;

	counters_avail(c, &a);
	if (!a.sw)
		cr_skip_test("software counters unavailable: %s", a.sw_why);
	w0 = clock_ms(CLOCK_MONOTONIC);
	p0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
	counters_start(c);
	t0 = clock_ms(CLOCK_THREAD_CPUTIME_ID);
	while (clock_ms(CLOCK_THREAD_CPUTIME_ID) - t0 < 50)
		for (int i = 0; i < 1000; i++)
			x += (unsigned)i;
	counters_stop(c, &s);
	cpu = clock_ms(CLOCK_PROCESS_CPUTIME_ID) - p0;
	wall = clock_ms(CLOCK_MONOTONIC) - w0;
	tc = get(&s, "task_clock_ms");
	ru = get(&s, "ru_utime_ms") + get(&s, "ru_stime_ms");
	cr_log_info("wall %.1f ms, process cpu %.1f ms, task clock %.1f ms, rusage %.1f ms",
		    wall, cpu, tc, ru);
	check_rusage_names(&s);
	cr_assert(!isnan(tc), "no task_clock_ms");
	cr_assert(fabs(tc - cpu) <= 0.1 * cpu + 2, "task clock %.2f vs cpu %.2f", tc, cpu);
	cr_assert(tc >= 50 * 0.95 && tc <= wall * 1.05 + 2,
		  "task clock %.2f for 50 ms of CPU in %.2f ms wall", tc, wall);
	cr_assert(fabs(ru - cpu) <= 0.2 * cpu + 10, "rusage %.2f vs cpu %.2f", ru, cpu);
	counters_close(c);
}

/* Touching N fresh pages faults at least N/2 times (both tiers). */
Test(counters, fresh_pages_fault)
{
	enum { N = 512 };
	struct counters *c = open_ok();
	struct ctr_avail a;
	struct ctr_sample s;
	long pg = sysconf(_SC_PAGESIZE);
	volatile char *m = mmap(NULL, (size_t)(N * pg), PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	double pf, mf;

	cr_assert_neq((void *)m, MAP_FAILED);
	/* One fault per page, not one per 2 MiB huge page. */
	madvise((void *)m, (size_t)(N * pg), MADV_NOHUGEPAGE);
	counters_avail(c, &a);
	counters_start(c);
	for (long i = 0; i < N; i++)
		m[i * pg] = (char)i;
	counters_stop(c, &s);
	munmap((void *)m, (size_t)(N * pg));
	pf = get(&s, "page_faults");
	mf = get(&s, "ru_minflt");
	cr_log_info("%d pages: page_faults %.0f, ru_minflt %.0f", N, pf, mf);
	check_rusage_names(&s);
	cr_assert(mf >= N / 2 && mf <= 4 * N, "ru_minflt %.0f for %d pages", mf, N);
	if (a.sw)
		cr_assert(pf >= N / 2 && pf <= 4 * N, "page_faults %.0f for %d pages", pf, N);
	else
		cr_assert(isnan(pf));
	counters_close(c);
}

/* Sleeping in a loop switches context voluntarily. */
Test(counters, sleeps_switch_voluntarily)
{
	struct counters *c = open_ok();
	struct ctr_avail a;
	struct ctr_sample s;
	double cs, nv;

	counters_avail(c, &a);
	counters_start(c);
	for (int i = 0; i < 20; i++) {
		usleep(1000);
		sched_yield();
	}
	counters_stop(c, &s);
	cs = get(&s, "context_switches");
	nv = get(&s, "ru_nvcsw");
	cr_log_info("20 sleeps: context_switches %.0f, ru_nvcsw %.0f", cs, nv);
	cr_assert(nv >= 10, "ru_nvcsw %.0f after 20 sleeps", nv);
	if (!isnan(cs))
		cr_assert(cs >= 10, "context_switches %.0f after 20 sleeps", cs);
	else if (a.sw)
		cr_assert_not_null(strstr(counters_status(c), "context-switches dropped"),
				   "context_switches missing without a reason");
	counters_close(c);
}

/* A thread busy before counters_open is counted: the task clock is the
 * sum of both threads' CPU clocks, about twice the wall time. */
Test(counters, thread_started_before_open)
{
	struct spinner sp;
	struct counters *c;
	struct ctr_avail a;
	double mc, wc, tc, w0, wall;
	char want[64];

	spinner_start(&sp);
	c = open_ok();
	counters_avail(c, &a);
	if (!a.sw) {
		spinner_stop(&sp);
		cr_skip_test("software counters unavailable: %s", a.sw_why);
	}
	snprintf(want, sizeof(want), "(perf_event_open, %d threads", count_threads());
	cr_assert_not_null(strstr(counters_status(c), want), "want '%s'", want);
	w0 = clock_ms(CLOCK_MONOTONIC);
	tc = measure_two(c, &sp, 40, &mc, &wc);
	wall = clock_ms(CLOCK_MONOTONIC) - w0;
	spinner_stop(&sp);
	/* About 2x wall on two idle CPUs; the shared CPUs make the wall
	 * ratio unreliable, the two threads' own clocks are not. */
	cr_log_info("wall %.1f, main %.1f, worker %.1f, task clock %.1f ms (%.2fx wall)",
		    wall, mc, wc, tc, tc / wall);
	cr_assert(fabs(tc - (mc + wc)) <= 0.15 * (mc + wc) + 3,
		  "task clock %.2f vs main %.2f + worker %.2f", tc, mc, wc);
	counters_close(c);
}

/* A thread created after counters_open is counted only after
 * counters_attach_threads. */
Test(counters, attach_threads_rescans)
{
	struct counters *c = open_ok();
	struct spinner sp;
	struct ctr_avail a;
	double mc, wc, tc;
	char err[256] = "";

	counters_avail(c, &a);
	if (!a.sw)
		cr_skip_test("software counters unavailable: %s", a.sw_why);
	spinner_start(&sp);
	tc = measure_two(c, &sp, 30, &mc, &wc);
	cr_log_info("before attach: main %.1f, worker %.1f, task clock %.1f", mc, wc, tc);
	cr_assert(fabs(tc - mc) <= 0.15 * mc + 3, "task clock %.2f, main %.2f", tc, mc);

	cr_assert_eq(counters_attach_threads(c, err, sizeof(err)), 0, "%s", err);
	tc = measure_two(c, &sp, 30, &mc, &wc);
	spinner_stop(&sp);
	cr_log_info("after attach: main %.1f, worker %.1f, task clock %.1f", mc, wc, tc);
	cr_assert(fabs(tc - (mc + wc)) <= 0.15 * (mc + wc) + 3,
		  "task clock %.2f vs main %.2f + worker %.2f", tc, mc, wc);
	counters_close(c);
}

/* Per-thread CPU each pool thread spent in burn_task. */
struct burn {
	double ms;		/* CPU to burn per thread */
	double used[8];		/* by ith */
};

static void burn_task(void *ctx, int ith, int nth)
{
	struct burn *b = ctx;
	double t0 = clock_ms(CLOCK_THREAD_CPUTIME_ID);
	volatile unsigned x = 0;

	(void)nth;
	while (clock_ms(CLOCK_THREAD_CPUTIME_ID) - t0 < b->ms)
		for (int i = 0; i < 1000; i++)
			x += (unsigned)i;
	b->used[ith] = clock_ms(CLOCK_THREAD_CPUTIME_ID) - t0;
}

/* The production pool's workers, created before counters_open as bench
 * does, are counted: the task clock covers the CPU all three threads
 * spent in the task, and no more than the whole process used. */
Test(counters, pool_workers_counted)
{
	struct pool *p = pool_create(3);
	struct burn b = { .ms = 20 };
	struct counters *c;
	struct ctr_avail a;
	struct ctr_sample s;
	double p0, cpu, tc, sum = 0;
	int n = 0;
	const char *st;

	cr_assert_not_null(p);
	c = open_ok();
	counters_avail(c, &a);
	if (!a.sw) {
		pool_destroy(p);
		cr_skip_test("software counters unavailable: %s", a.sw_why);
	}
	st = strstr(counters_status(c), "(perf_event_open, ");
	cr_assert(st && sscanf(st, "(perf_event_open, %d threads", &n) == 1);
	cr_assert_geq(n, 3, "%d threads counted with a pool of 3", n);
	p0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
	counters_start(c);
	pool_run(p, burn_task, &b);
	counters_stop(c, &s);
	cpu = clock_ms(CLOCK_PROCESS_CPUTIME_ID) - p0;
	for (int i = 0; i < 3; i++)
		sum += b.used[i];
	tc = get(&s, "task_clock_ms");
	cr_log_info("pool of 3: task %.1f + %.1f + %.1f ms, task clock %.1f, process %.1f",
		    b.used[0], b.used[1], b.used[2], tc, cpu);
	cr_assert(tc >= 0.9 * sum - 2, "task clock %.2f < tasks' %.2f", tc, sum);
	cr_assert(tc <= cpu * 1.05 + 2, "task clock %.2f > process %.2f", tc, cpu);
	counters_close(c);
	pool_destroy(p);
}

/* Q8TUNE_COUNTERS=rusage: only rusage, still real values, and the status
 * says software counters are off and why. */
Test(counters, forced_rusage_only)
{
	enum { N = 256 };
	struct counters *c;
	struct ctr_avail a;
	struct ctr_sample s;
	long pg = sysconf(_SC_PAGESIZE);
	char *m;
	double p0, cpu, ru;

	setenv("Q8TUNE_COUNTERS", "rusage", 1);
	c = open_ok();
	check_avail_matches_status(c, &a);
	cr_assert_eq(a.hw, 0);
	cr_assert_eq(a.sw, 0);
	cr_assert_eq(a.rusage, 1);
	cr_assert_not_null(strstr(a.sw_why, "Q8TUNE_COUNTERS=rusage"));
	cr_assert_not_null(strstr(counters_status(c),
				  "software: unavailable (turned off by Q8TUNE_COUNTERS=rusage)"));

	m = mmap(NULL, (size_t)(N * pg), PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq((void *)m, MAP_FAILED);
	madvise(m, (size_t)(N * pg), MADV_NOHUGEPAGE);
	p0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
	counters_start(c);
	spin_ms(40);
	for (long i = 0; i < N; i++)
		((volatile char *)m)[i * pg] = 1;
	for (int i = 0; i < 10; i++)
		usleep(1000);
	counters_stop(c, &s);
	cpu = clock_ms(CLOCK_PROCESS_CPUTIME_ID) - p0;
	munmap(m, (size_t)(N * pg));

	cr_assert_eq(s.n, 6, "%d values in rusage-only mode", s.n);
	check_rusage_names(&s);
	ru = get(&s, "ru_utime_ms") + get(&s, "ru_stime_ms");
	cr_log_info("rusage cpu %.1f vs %.1f ms, minflt %.0f, nvcsw %.0f",
		    ru, cpu, get(&s, "ru_minflt"), get(&s, "ru_nvcsw"));
	cr_assert(fabs(ru - cpu) <= 0.2 * cpu + 10, "rusage %.2f vs cpu %.2f", ru, cpu);
	cr_assert_geq(get(&s, "ru_minflt"), N / 2);
	cr_assert_geq(get(&s, "ru_nvcsw"), 5);
	counters_close(c);
}

/* Q8TUNE_COUNTERS=sw: the hardware tier is off and says so; PAPI is not
 * touched; software as the kernel allows. */
Test(counters, forced_software)
{
	struct counters *c;
	struct ctr_avail a;
	struct ctr_sample s;

	setenv("Q8TUNE_COUNTERS", "sw", 1);
	c = open_ok();
	check_avail_matches_status(c, &a);
	cr_assert_eq(a.hw, 0);
	cr_assert_str_eq(a.hw_why, "turned off by Q8TUNE_COUNTERS=sw");
	cr_assert_str_eq(a.papi_version, "");
	cr_assert_eq(a.sw, perf_try(0) || perf_try(1));
	counters_start(c);
	counters_stop(c, &s);
	cr_assert(isnan(get(&s, "cycles")));
	cr_assert_eq(!isnan(get(&s, "task_clock_ms")), a.sw);
	check_rusage_names(&s);
	counters_close(c);
}

/* An unknown Q8TUNE_COUNTERS value is not an error; the status names it. */
Test(counters, unknown_mode_named)
{
	struct counters *c;

	setenv("Q8TUNE_COUNTERS", "bogus", 1);
	c = open_ok();
	cr_assert_not_null(strstr(counters_status(c), "Q8TUNE_COUNTERS=bogus ignored"));
	counters_close(c);
}

/* A seccomp filter makes perf_event_open fail with EACCES, as a container
 * runtime's does: no software tier, the reason names the error and the
 * filter, rusage still measures. */
Test(counters, perf_refused_by_seccomp)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_perf_event_open, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };
	struct counters *c;
	struct ctr_avail a;
	struct ctr_sample s;
	double p0, cpu, ru;

	cr_assert_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
	cr_assert_eq(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0,
		     "seccomp: %s", strerror(errno));
	cr_assert_eq(perf_try(0), 0, "the filter does not bite");

	c = open_ok();
	check_avail_matches_status(c, &a);
	cr_assert_eq(a.hw, 0);
	cr_assert_eq(a.sw, 0);
	cr_assert_not_null(strstr(a.sw_why, "perf_event_open(task-clock, user-only"),
			   "no user-only retry: %s", a.sw_why);
	cr_assert_not_null(strstr(a.sw_why, strerror(EACCES)), "%s", a.sw_why);
	cr_assert_not_null(strstr(a.sw_why, "seccomp filter active"), "%s", a.sw_why);

	p0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
	counters_start(c);
	spin_ms(30);
	counters_stop(c, &s);
	cpu = clock_ms(CLOCK_PROCESS_CPUTIME_ID) - p0;
	cr_assert_eq(s.n, 6);
	check_rusage_names(&s);
	ru = get(&s, "ru_utime_ms") + get(&s, "ru_stime_ms");
	cr_assert(fabs(ru - cpu) <= 0.2 * cpu + 10, "rusage %.2f vs cpu %.2f", ru, cpu);
	counters_close(c);
}

/* As an unprivileged user the kernel may allow only user-only events
 * (perf_event_paranoid >= 2): then context-switches is dropped with a
 * reason and the task clock still counts.  Run as root, this test first
 * drops to nobody (its own process). */
Test(counters, unprivileged_user)
{
	struct counters *c;
	struct ctr_avail a;
	struct ctr_sample s;
	double p0, cpu, tc;
	int full, user;

	if (geteuid() == 0) {
		cr_assert_eq(setresgid(65534, 65534, 65534), 0);
		cr_assert_eq(setresuid(65534, 65534, 65534), 0);
	}
	full = perf_try(0);
	user = perf_try(1);
	cr_log_info("euid %d: full events %s, user-only %s", (int)geteuid(),
		    full ? "allowed" : "refused", user ? "allowed" : "refused");
	c = open_ok();
	check_avail_matches_status(c, &a);
	cr_assert_eq(a.sw, full || user);
	p0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
	counters_start(c);
	spin_ms(30);
	counters_stop(c, &s);
	cpu = clock_ms(CLOCK_PROCESS_CPUTIME_ID) - p0;
	tc = get(&s, "task_clock_ms");
	check_rusage_names(&s);
	if (full) {
		cr_assert(!isnan(get(&s, "context_switches")));
		cr_assert_null(strstr(counters_status(c), "user-only"));
	} else if (user) {
		cr_assert(isnan(get(&s, "context_switches")));
		cr_assert_not_null(strstr(counters_status(c),
					  "user-only, context-switches dropped"));
	} else {
		cr_assert(isnan(tc));
		cr_assert_not_null(strstr(a.sw_why, strerror(EACCES)), "%s", a.sw_why);
	}
	if (a.sw)
		cr_assert(fabs(tc - cpu) <= 0.1 * cpu + 2, "task clock %.2f vs cpu %.2f", tc, cpu);
	counters_close(c);
}

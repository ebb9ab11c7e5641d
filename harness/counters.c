/* counters.c - PAPI hardware counters, perf_event_open software events and
 * getrusage deltas for every thread of the process; see counters.h.
 *
 * Every counter runs from the moment it is opened; counters_start and
 * counters_stop read them and take differences, so a measurement costs a
 * few read(2)s per thread and nothing is reset or re-armed in between. */
#include <dirent.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <papi.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include "counters.h"

/* A hardware quantity: the first preset PAPI_query_event has is used
 * (L2: data misses, else total misses). */
struct hw_event {
	const char *name;	/* sample name */
	int code[2];		/* presets in order of preference; 0 ends */
	const char *papi[2];	/* their PAPI names */
};

static const struct hw_event hw_events[] = {
	{ "cycles", { PAPI_TOT_CYC }, { "PAPI_TOT_CYC" } },
	{ "instructions", { PAPI_TOT_INS }, { "PAPI_TOT_INS" } },
	{ "l1d_misses", { PAPI_L1_DCM }, { "PAPI_L1_DCM" } },
	{ "l2_misses", { PAPI_L2_DCM, PAPI_L2_TCM },
	  { "PAPI_L2_DCM", "PAPI_L2_TCM" } },
	{ "llc_misses", { PAPI_L3_TCM }, { "PAPI_L3_TCM" } },
	{ "branch_misses", { PAPI_BR_MSP }, { "PAPI_BR_MSP" } },
};

#define N_HW ((int)(sizeof(hw_events) / sizeof(hw_events[0])))

/* A perf software event.  Entry 0 leads each thread's group. */
struct sw_event {
	const char *name;	/* sample name */
	const char *perf;	/* perf's name, for the status line */
	uint64_t config;	/* PERF_COUNT_SW_* */
	double scale;		/* raw count -> sample unit */
	int kernel_side;	/* only counted when kernel-side counting is allowed */
};

static const struct sw_event sw_events[] = {
	{ "task_clock_ms", "task-clock", PERF_COUNT_SW_TASK_CLOCK, 1e-6, 0 },
	/* Switches happen in kernel mode: exclude_kernel hides every one. */
	{ "context_switches", "context-switches",
	  PERF_COUNT_SW_CONTEXT_SWITCHES, 1, 1 },
	{ "cpu_migrations", "cpu-migrations", PERF_COUNT_SW_CPU_MIGRATIONS, 1, 0 },
	{ "page_faults", "page-faults", PERF_COUNT_SW_PAGE_FAULTS, 1, 0 },
};

#define N_SW ((int)(sizeof(sw_events) / sizeof(sw_events[0])))
#define N_RU 6

/* One counted thread. */
struct thr {
	pid_t tid;
	int es;			/* PAPI event set attached to tid, or PAPI_NULL */
	int fd[N_SW];		/* perf fds, fd[0] the group leader; -1: none */
	long long hw0[N_HW];	/* PAPI_read at counters_start */
	uint64_t sw0[N_SW];	/* group read at counters_start */
	int hw0_ok, sw0_ok;	/* those reads worked */
};

struct counters {
	struct thr *thr;
	int n_thr;
	char thr_note[128];	/* why only some threads are seen, or "" */
	char env_note[96];	/* an ignored Q8TUNE_COUNTERS value, or "" */

	int hw;			/* tier 1 on */
	char hw_why[256];
	char papi_version[32];
	int papi_cid;		/* perf_event component */
	int n_hw;
	int hw_ev[N_HW];	/* index into hw_events, in add order */
	int hw_code[N_HW];	/* the preset used for it */
	const char *hw_papi[N_HW];
	char hw_absent[128];	/* presets PAPI_query_event lacks */
	int hw_n_thr;		/* threads with an event set */

	int sw;			/* tier 2 on */
	char sw_why[256];
	int user_only;		/* exclude_kernel: paranoid refused more */
	int n_sw;
	int sw_ev[N_SW];	/* index into sw_events, in group order */
	int sw_n_thr;		/* threads with a group */

	int rusage;		/* tier 3 on */
	struct rusage ru0;

	char status[1024];
};

/* printf appended at the end of buf (cap bytes, NUL-terminated);
 * truncates silently: reasons are one line for people. */
__attribute__((format(printf, 3, 4)))
static void cat(char *buf, size_t cap, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;

	if (used + 1 >= cap)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, cap - used, fmt, ap);
	va_end(ap);
}

/* Replaces the reason in char array buf with printf output. */
#define set_why(buf, ...) ((buf)[0] = '\0', cat((buf), sizeof(buf), __VA_ARGS__))

static int perf_open(struct perf_event_attr *a, pid_t tid, int group)
{
	return (int)syscall(SYS_perf_event_open, a, tid, -1, group,
			    PERF_FLAG_FD_CLOEXEC);
}

/* 1 if thread tid of this process no longer exists. */
static int thread_gone(pid_t tid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%d", (int)tid);
	return access(path, F_OK) != 0;
}

/* Appends to buf what in this process's setup limits perf_event_open:
 * the paranoid level and an active seccomp filter. */
static void perf_limits(char *buf, size_t cap)
{
	char line[128];
	FILE *f;
	int paranoid = 99, seccomp = 0;

	f = fopen("/proc/sys/kernel/perf_event_paranoid", "r");
	if (f) {
		if (fscanf(f, "%d", &paranoid) != 1)
			paranoid = 99;
		fclose(f);
	}
	f = fopen("/proc/self/status", "r");
	if (f) {
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "Seccomp: %d", &seccomp) == 1)
				break;
		fclose(f);
	}
	cat(buf, cap, " (");
	if (paranoid != 99)
		cat(buf, cap, "perf_event_paranoid=%d, ", paranoid);
	cat(buf, cap, "euid %d%s)", (int)geteuid(),
	    seccomp == 2 ? ", seccomp filter active" : "");
}

/* The thread ids in /proc/self/task, into a malloc'd *tids.  Without
 * /proc, only the caller (noted in c->thr_note).  -1 on allocation
 * failure. */
static int list_threads(struct counters *c, pid_t **tids, int *n)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int cap = 16;
	pid_t *t = malloc((size_t)cap * sizeof(*t));

	*n = 0;
	c->thr_note[0] = '\0';
	if (!t)
		goto fail;
	if (!d) {
		snprintf(c->thr_note, sizeof(c->thr_note),
			 "only the calling thread: /proc/self/task: %s",
			 strerror(errno));
		t[(*n)++] = gettid();
		*tids = t;
		return 0;
	}
	while ((e = readdir(d))) {
		char *end;
		long v = strtol(e->d_name, &end, 10);

		if (end == e->d_name || *end || v <= 0)
			continue;
		if (*n == cap) {
			pid_t *nt = realloc(t, (size_t)(cap *= 2) * sizeof(*t));

			if (!nt)
				goto fail;
			t = nt;
		}
		t[(*n)++] = (pid_t)v;
	}
	closedir(d);
	*tids = t;
	return 0;
fail:
	if (d)
		closedir(d);
	free(t);
	return -1;
}

/* --- tier 1: PAPI ------------------------------------------------------ */

/* Why the kernel itself refuses a hardware event, into buf. */
static void hw_kernel_why(char *buf, size_t cap)
{
	struct perf_event_attr a = {
		.size = sizeof(a),
		.type = PERF_TYPE_HARDWARE,
		.config = PERF_COUNT_HW_CPU_CYCLES,
		.disabled = 1,
		.exclude_kernel = 1,
		.exclude_hv = 1,
	};
	int fd = perf_open(&a, 0, -1);

	if (fd >= 0) {
		close(fd);
		snprintf(buf, cap, "perf_event_open(cycles) works");
		return;
	}
	snprintf(buf, cap, "perf_event_open(cycles): %s%s", strerror(errno),
		 errno == ENOENT ? " (the kernel has no CPU PMU)" : "");
}

/* Stops and frees *es; PAPI_NULL is a no-op. */
static void hw_drop(int *es)
{
	long long v[N_HW];
	int state;

	if (*es == PAPI_NULL)
		return;
	if (PAPI_state(*es, &state) == PAPI_OK && (state & PAPI_RUNNING))
		PAPI_stop(*es, v);
	PAPI_cleanup_eventset(*es);
	PAPI_destroy_eventset(es);
	*es = PAPI_NULL;
}

/* Decides tier 1: PAPI initialised, its perf_event component enabled and
 * with counters, and which presets exist (PAPI_query_event) and are
 * accepted and start on this thread.  Sets c->hw, or c->hw_why. */
/* Initializes PAPI and checks its perf_event component can count other
 * threads: the component's hardware counter count, or -1 with
 * c->hw_why set. */
static int hw_component(struct counters *c)
{
	const PAPI_component_info_t *info;
	int ver, cid, ncnt;

	ver = PAPI_library_init(PAPI_VER_CURRENT);
	if (ver != PAPI_VER_CURRENT) {
		set_why(c->hw_why, "PAPI_library_init: %s",
			ver < 0 ? PAPI_strerror(ver) : "version mismatch");
		return -1;
	}
	snprintf(c->papi_version, sizeof(c->papi_version), "%d.%d.%d.%d",
		 PAPI_VERSION_MAJOR(ver), PAPI_VERSION_MINOR(ver),
		 PAPI_VERSION_REVISION(ver), PAPI_VERSION_INCREMENT(ver));
	cid = PAPI_get_component_index("perf_event");
	info = cid >= 0 ? PAPI_get_component_info(cid) : NULL;
	if (!info) {
		set_why(c->hw_why,
			"PAPI %s: no perf_event component", c->papi_version);
		return -1;
	}
	if (info->disabled) {
		set_why(c->hw_why,
			"PAPI %s: perf_event component disabled: %s",
			c->papi_version, info->disabled_reason);
		return -1;
	}
	ncnt = PAPI_num_cmp_hwctrs(cid);
	if (ncnt <= 0) {
		set_why(c->hw_why,
			"PAPI %s: perf_event component has %d hardware counters",
			c->papi_version, ncnt);
		return -1;
	}
	if (!info->attach) {
		set_why(c->hw_why,
			"PAPI %s: perf_event component cannot attach to other threads",
			c->papi_version);
		return -1;
	}
	c->papi_cid = cid;
	return ncnt;
}

static void hw_probe(struct counters *c)
{
	int ncnt, es = PAPI_NULL, r, bad_r = PAPI_OK;
	long long v[N_HW];
	char kwhy[128], bad[48] = "";

	if ((ncnt = hw_component(c)) < 0)
		return;

	r = PAPI_create_eventset(&es);
	if (r != PAPI_OK) {
		set_why(c->hw_why,
			"PAPI %s: PAPI_create_eventset: %s", c->papi_version,
			PAPI_strerror(r));
		return;
	}
	for (int i = 0; i < N_HW; i++) {
		const struct hw_event *e = &hw_events[i];
		int k = 0;

		while (k < 2 && e->code[k] && PAPI_query_event(e->code[k]) != PAPI_OK)
			k++;
		if (k == 2 || !e->code[k]) {
			cat(c->hw_absent, sizeof(c->hw_absent), "%s%s",
			    c->hw_absent[0] ? " " : "", e->papi[0]);
			continue;
		}
		/* One at a time: a preset that conflicts with those before
		 * it, or that the kernel refuses, is left out alone. */
		r = PAPI_add_event(es, e->code[k]);
		if (r != PAPI_OK) {
			if (!bad[0]) {
				snprintf(bad, sizeof(bad), "PAPI_add_event(%s)",
					 e->papi[k]);
				bad_r = r;
			}
			continue;
		}
		c->hw_ev[c->n_hw] = i;
		c->hw_code[c->n_hw] = e->code[k];
		c->hw_papi[c->n_hw++] = e->papi[k];
	}
	if (c->n_hw > 0) {
		r = PAPI_start(es);
		if (r == PAPI_OK)
			PAPI_stop(es, v);
		else {
			snprintf(bad, sizeof(bad), "PAPI_start");
			bad_r = r;
			c->n_hw = 0;
		}
	}
	hw_drop(&es);
	if (c->n_hw == 0) {
		hw_kernel_why(kwhy, sizeof(kwhy));
		if (!bad[0])
			set_why(c->hw_why,
				"PAPI %s: no preset exists (absent: %s)",
				c->papi_version, c->hw_absent);
		else
			set_why(c->hw_why,
				"PAPI %s: perf_event component enabled (%d counters) but %s: %s; %s",
				c->papi_version, ncnt, bad,
				PAPI_strerror(bad_r), kwhy);
		return;
	}
	c->hw = 1;
}

/* Opens an event set with c's presets attached to t->tid and starts it:
 * 0, or a PAPI error with *what naming the call. */
static int hw_open_thread(struct counters *c, struct thr *t, const char **what)
{
	int r;

	*what = "PAPI_create_eventset";
	r = PAPI_create_eventset(&t->es);
	if (r != PAPI_OK)
		return r;
	*what = "PAPI_assign_eventset_component";
	r = PAPI_assign_eventset_component(t->es, c->papi_cid);
	if (r == PAPI_OK) {
		*what = "PAPI_attach";
		r = PAPI_attach(t->es, (unsigned long)t->tid);
	}
	for (int i = 0; i < c->n_hw && r == PAPI_OK; i++) {
		*what = c->hw_papi[i];
		r = PAPI_add_event(t->es, c->hw_code[i]);
	}
	if (r == PAPI_OK) {
		*what = "PAPI_start";
		r = PAPI_start(t->es);
	}
	if (r != PAPI_OK)
		hw_drop(&t->es);
	return r;
}

/* Gives every thread in c->thr an event set, or turns tier 1 off. */
static void hw_attach(struct counters *c)
{
	const char *what;
	int r;

	c->hw_n_thr = 0;
	for (int i = 0; i < c->n_thr; i++) {
		struct thr *t = &c->thr[i];

		r = hw_open_thread(c, t, &what);
		if (r == PAPI_OK) {
			c->hw_n_thr++;
			continue;
		}
		if (thread_gone(t->tid))
			continue;
		set_why(c->hw_why,
			"PAPI %s: %s on thread %d: %s", c->papi_version,
			what, (int)t->tid, PAPI_strerror(r));
		for (int j = 0; j < i; j++)
			hw_drop(&c->thr[j].es);
		c->hw = 0;
		c->hw_n_thr = 0;
		return;
	}
}

/* --- tier 2: perf_event_open software events ---------------------------- */

static void sw_close_thread(struct thr *t)
{
	for (int k = 0; k < N_SW; k++) {
		if (t->fd[k] >= 0)
			close(t->fd[k]);
		t->fd[k] = -1;
	}
}

/* Opens c's event group on t->tid: 0, or the errno of the open that
 * failed with *what naming its event. */
static int sw_open_thread(struct counters *c, struct thr *t, const char **what)
{
	for (int k = 0; k < c->n_sw; k++) {
		const struct sw_event *e = &sw_events[c->sw_ev[k]];
		struct perf_event_attr a = {
			.size = sizeof(a),
			.type = PERF_TYPE_SOFTWARE,
			.config = e->config,
			.read_format = PERF_FORMAT_GROUP,
			.exclude_kernel = (unsigned)c->user_only,
			.exclude_hv = (unsigned)c->user_only,
		};

		t->fd[k] = perf_open(&a, t->tid, k ? t->fd[0] : -1);
		if (t->fd[k] < 0) {
			int err = errno;

			*what = e->perf;
			sw_close_thread(t);
			return err;
		}
	}
	return 0;
}

/* Gives every thread in c->thr an event group, or turns tier 2 off.
 * Falls back to user-only events once if the kernel refuses the full
 * ones (perf_event_paranoid >= 2 without privilege). */
static void sw_attach(struct counters *c)
{
	const char *what = "";
	int err;

again:
	c->n_sw = 0;
	for (int k = 0; k < N_SW; k++)
		if (!(c->user_only && sw_events[k].kernel_side))
			c->sw_ev[c->n_sw++] = k;
	c->sw_n_thr = 0;
	for (int i = 0; i < c->n_thr; i++) {
		struct thr *t = &c->thr[i];

		err = sw_open_thread(c, t, &what);
		if (!err) {
			c->sw_n_thr++;
			continue;
		}
		if (err == ESRCH || thread_gone(t->tid))
			continue;
		for (int j = 0; j < i; j++)
			sw_close_thread(&c->thr[j]);
		if ((err == EACCES || err == EPERM) && !c->user_only) {
			c->user_only = 1;
			goto again;
		}
		set_why(c->sw_why,
			"perf_event_open(%s%s, thread %d): %s", what,
			c->user_only ? ", user-only" : "", (int)t->tid,
			strerror(err));
		perf_limits(c->sw_why, sizeof(c->sw_why));
		c->sw = 0;
		c->sw_n_thr = 0;
		return;
	}
}

/* Sum over threads of the group counts now, minus those at start, into
 * d (c->n_sw values).  start: record them instead. */
static void sw_read(struct counters *c, int start, double *d)
{
	struct {
		uint64_t nr;
		uint64_t v[N_SW];
	} g;
	size_t want = sizeof(uint64_t) * (size_t)(1 + c->n_sw);

	for (int i = 0; i < c->n_thr; i++) {
		struct thr *t = &c->thr[i];
		int ok = t->fd[0] >= 0 &&
			 read(t->fd[0], &g, want) == (ssize_t)want &&
			 g.nr == (uint64_t)c->n_sw;

		if (start) {
			t->sw0_ok = ok;
			if (ok)
				memcpy(t->sw0, g.v, sizeof(t->sw0));
			continue;
		}
		if (!ok || !t->sw0_ok)
			continue;
		for (int k = 0; k < c->n_sw; k++)
			d[k] += (double)(g.v[k] - t->sw0[k]);
	}
}

/* --- status ------------------------------------------------------------ */

static void build_status(struct counters *c)
{
	char *s = c->status;
	size_t cap = sizeof(c->status);

	s[0] = '\0';
	if (!c->hw) {
		cat(s, cap, "hardware counters: unavailable (%s)", c->hw_why);
	} else {
		cat(s, cap, "hardware counters: PAPI %s perf_event:",
		    c->papi_version);
		for (int i = 0; i < c->n_hw; i++)
			cat(s, cap, " %s", c->hw_papi[i]);
		cat(s, cap, " (PAPI_attach, %d threads", c->hw_n_thr);
		if (c->hw_absent[0])
			cat(s, cap, "; absent: %s", c->hw_absent);
		cat(s, cap, ")");
	}
	if (!c->sw) {
		cat(s, cap, "; software: unavailable (%s)", c->sw_why);
	} else {
		cat(s, cap, "; software:");
		for (int k = 0; k < c->n_sw; k++)
			cat(s, cap, " %s", sw_events[c->sw_ev[k]].perf);
		cat(s, cap, " (perf_event_open, %d threads", c->sw_n_thr);
		if (c->user_only) {
			cat(s, cap, "; user-only, context-switches dropped");
			perf_limits(s, cap);
		}
		cat(s, cap, ")");
	}
	cat(s, cap, c->rusage ? "; rusage" : "; rusage: unavailable");
	if (c->thr_note[0])
		cat(s, cap, "; %s", c->thr_note);
	if (c->env_note[0])
		cat(s, cap, "; %s", c->env_note);
}

/* --- public ------------------------------------------------------------ */

/* Closes every thread's counters and frees the thread table. */
static void drop_threads(struct counters *c)
{
	for (int i = 0; i < c->n_thr; i++) {
		hw_drop(&c->thr[i].es);
		sw_close_thread(&c->thr[i]);
	}
	free(c->thr);
	c->thr = NULL;
	c->n_thr = 0;
}

int counters_attach_threads(struct counters *c, char *err, size_t errlen)
{
	pid_t *tids = NULL;
	int n = 0;

	drop_threads(c);
	if (list_threads(c, &tids, &n) < 0)
		goto oom;
	c->thr = calloc((size_t)n, sizeof(*c->thr));
	if (!c->thr && n)
		goto oom;
	c->n_thr = n;
	for (int i = 0; i < n; i++) {
		c->thr[i].tid = tids[i];
		c->thr[i].es = PAPI_NULL;
		for (int k = 0; k < N_SW; k++)
			c->thr[i].fd[k] = -1;
	}
	free(tids);
	if (c->hw)
		hw_attach(c);
	if (c->sw)
		sw_attach(c);
	build_status(c);
	return 0;
oom:
	free(tids);
	c->hw = c->sw = 0;
	set_why(c->hw_why, "out of memory listing threads");
	set_why(c->sw_why, "out of memory listing threads");
	build_status(c);
	snprintf(err, errlen, "counters_attach_threads: out of memory for %d threads", n);
	return -1;
}

int counters_open(struct counters **out, char *err, size_t errlen)
{
	struct counters *c = calloc(1, sizeof(*c));
	const char *mode = getenv("Q8TUNE_COUNTERS");
	struct rusage ru;

	*out = NULL;
	if (!c) {
		snprintf(err, errlen, "counters_open: out of memory");
		return -1;
	}
	c->hw = c->sw = 1;
	if (mode && !strcmp(mode, "sw")) {
		c->hw = 0;
		set_why(c->hw_why, "turned off by Q8TUNE_COUNTERS=sw");
	} else if (mode && !strcmp(mode, "rusage")) {
		c->hw = c->sw = 0;
		set_why(c->hw_why, "turned off by Q8TUNE_COUNTERS=rusage");
		set_why(c->sw_why, "turned off by Q8TUNE_COUNTERS=rusage");
	} else if (mode && *mode && strcmp(mode, "all")) {
		snprintf(c->env_note, sizeof(c->env_note),
			 "Q8TUNE_COUNTERS=%.40s ignored (want sw, rusage or all)",
			 mode);
	}
	if (c->hw) {
		c->hw = 0;
		hw_probe(c);
	}
	c->rusage = getrusage(RUSAGE_SELF, &ru) == 0;
	if (counters_attach_threads(c, err, errlen) < 0) {
		counters_close(c);
		return -1;
	}
	*out = c;
	return 0;
}

void counters_close(struct counters *c)
{
	if (!c)
		return;
	drop_threads(c);
	free(c);
}

void counters_start(struct counters *c)
{
	for (int i = 0; i < c->n_thr && c->hw; i++) {
		struct thr *t = &c->thr[i];

		t->hw0_ok = t->es != PAPI_NULL &&
			    PAPI_read(t->es, t->hw0) == PAPI_OK;
	}
	if (c->sw)
		sw_read(c, 1, NULL);
	if (c->rusage)
		getrusage(RUSAGE_SELF, &c->ru0);
}

static double tv_ms(struct timeval a, struct timeval b)
{
	return (double)(b.tv_sec - a.tv_sec) * 1e3 +
	       (double)(b.tv_usec - a.tv_usec) * 1e-3;
}

void counters_stop(struct counters *c, struct ctr_sample *out)
{
	double hw[N_HW] = { 0 }, sw[N_SW] = { 0 };
	long long v[N_HW];
	struct rusage ru;

	/* Read in reverse order of counters_start, so each tier's window
	 * encloses the tiers read inside it as little as possible. */
	if (c->rusage)
		getrusage(RUSAGE_SELF, &ru);
	if (c->sw)
		sw_read(c, 0, sw);
	for (int i = 0; i < c->n_thr && c->hw; i++) {
		struct thr *t = &c->thr[i];

		if (!t->hw0_ok || PAPI_read(t->es, v) != PAPI_OK)
			continue;
		for (int k = 0; k < c->n_hw; k++)
			hw[k] += (double)(v[k] - t->hw0[k]);
	}

	out->n = 0;
	for (int k = 0; c->hw && k < c->n_hw; k++) {
		out->name[out->n] = hw_events[c->hw_ev[k]].name;
		out->v[out->n++] = hw[k];
	}
	for (int k = 0; c->sw && k < c->n_sw; k++) {
		const struct sw_event *e = &sw_events[c->sw_ev[k]];

		out->name[out->n] = e->name;
		out->v[out->n++] = sw[k] * e->scale;
	}
	if (c->rusage) {
		const struct { const char *name; double v; } r[N_RU] = {
			{ "ru_nvcsw", (double)(ru.ru_nvcsw - c->ru0.ru_nvcsw) },
			{ "ru_nivcsw", (double)(ru.ru_nivcsw - c->ru0.ru_nivcsw) },
			{ "ru_minflt", (double)(ru.ru_minflt - c->ru0.ru_minflt) },
			{ "ru_majflt", (double)(ru.ru_majflt - c->ru0.ru_majflt) },
			{ "ru_utime_ms", tv_ms(c->ru0.ru_utime, ru.ru_utime) },
			{ "ru_stime_ms", tv_ms(c->ru0.ru_stime, ru.ru_stime) },
		};

		for (int k = 0; k < N_RU; k++) {
			out->name[out->n] = r[k].name;
			out->v[out->n++] = r[k].v;
		}
	}
}

const char *counters_status(const struct counters *c)
{
	return c->status;
}

void counters_avail(const struct counters *c, struct ctr_avail *a)
{
	memset(a, 0, sizeof(*a));
	a->hw = c->hw;
	a->sw = c->sw;
	a->rusage = c->rusage;
	if (!c->hw)
		snprintf(a->hw_why, sizeof(a->hw_why), "%s", c->hw_why);
	if (!c->sw)
		snprintf(a->sw_why, sizeof(a->sw_why), "%s", c->sw_why);
	snprintf(a->papi_version, sizeof(a->papi_version), "%s",
		 c->papi_version);
}

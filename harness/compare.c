/* compare.c - BASE against HEAD at process level (see compare.h). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "clock.h"
#include "compare.h"
#include "text.h"

void cmp_opts_defaults(struct cmp_opts *o)
{
	*o = (struct cmp_opts){ .prompt = "Hello world", .gen = 16,
		.pp_long = 64, .rounds = 6, .budget_s = 1, .alpha = 0.05,
		.margin = 0.03, .valgrind = "valgrind",
		.name = { "base", "head" } };
}

/* --- processes ------------------------------------------------------------- */

/* Reads all of f from the start into a malloc'd string. */
static char *slurp(FILE *f)
{
	size_t cap = 1 << 16, n = 0, k;
	char *b = malloc(cap);

	rewind(f);
	while (b && (k = fread(b + n, 1, cap - n - 1, f)) > 0) {
		n += k;
		if (cap - n < 2) {
			char *nb = realloc(b, cap *= 2);
			if (!nb) {
				free(b);
				return NULL;
			}
			b = nb;
		}
	}
	if (b)
		b[n] = '\0';
	return b;
}

/* The last non-empty line of s into buf that is not valgrind's own
 * ("==PID== ..."): the program's error under valgrind. */
static void last_line(const char *s, char *buf, size_t cap)
{
	const char *end = s + strlen(s), *start;

	for (;;) {
		while (end > s && (end[-1] == '\n' || end[-1] == '\r'))
			end--;
		start = end;
		while (start > s && start[-1] != '\n')
			start--;
		if (start == s || strncmp(start, "==", 2))
			break;
		end = start;
	}
	snprintf(buf, cap, "%.*s", (int)(end - start), start);
}

/* Runs argv (found on PATH) in folder cwd (NULL: this one) with the
 * extra "K=V K=V" environments env and env2 (may be NULL) and *out = its
 * stdout (free it).  0, or -1 with a message naming argv[0] and its last
 * line of stderr. */
static int run_capture(char *const argv[], const char *cwd, const char *env,
		       const char *env2, char **out, char *err, size_t errlen)
{
	FILE *fo = tmpfile(), *fe = tmpfile();
	int status = 0, rc = -1;
	pid_t pid;

	*out = NULL;
	if (!fo || !fe) {
		snprintf(err, errlen, "cannot make temporary files: %s",
			 strerror(errno));
		goto out;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		const char *envs[2] = { env, env2 };
		for (int k = 0; k < 2; k++) {
			char buf[1024], *save, *kv;
			snprintf(buf, sizeof buf, "%s", envs[k] ? envs[k] : "");
			for (kv = strtok_r(buf, " \t", &save); kv;
			     kv = strtok_r(NULL, " \t", &save))
				putenv(strdup(kv));
		}
		dup2(fileno(fo), 1);
		dup2(fileno(fe), 2);
		if (cwd && chdir(cwd) < 0) {
			fprintf(stderr, "cannot enter %s: %s\n", cwd, strerror(errno));
			_exit(127);
		}
		execvp(argv[0], argv);
		fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0) {
		snprintf(err, errlen, "%s: cannot start: %s", argv[0],
			 strerror(errno));
		goto out;
	}
	*out = slurp(fo);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char *e = slurp(fe), line[400] = "";
		if (e)
			last_line(e, line, sizeof line);
		free(e);
		snprintf(err, errlen, "%s failed (%s %d): %s", argv[0],
			 WIFEXITED(status) ? "exit" : "signal",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
			 line);
		free(*out);
		*out = NULL;
		goto out;
	}
	rc = *out ? 0 : -1;
	if (rc)
		snprintf(err, errlen, "%s: out of memory", argv[0]);
out:
	if (fo)
		fclose(fo);
	if (fe)
		fclose(fe);
	return rc;
}

/* --- timing rounds --------------------------------------------------------- */

static struct cmp_row *row_get(struct cmp_result *r, const char *name,
			       int is_op)
{
	for (int i = 0; i < r->n_rows; i++)
		if (!strcmp(r->row[i].name, name))
			return &r->row[i];
	if (r->n_rows == CMP_MAX_ROWS)
		return NULL;
	struct cmp_row *w = &r->row[r->n_rows++];
	memset(w, 0, sizeof *w);
	snprintf(w->name, sizeof w->name, "%s", name);
	w->is_op = is_op;
	for (int s = 0; s < SIDE_COUNT; s++)
		for (int k = 0; k < CMP_MAX_ROUNDS; k++)
			w->ms[s][k] = NAN;
	return w;
}

/* Files the rows and profile rows of one bench -o json record under
 * round k of side s.  0, or -1 with a message. */
static int take_record(struct cmp_result *r, const char *text, int s, int k,
		       char *err, size_t errlen)
{
	json_error_t je;
	json_t *rec = json_loads(text, 0, &je), *v;
	size_t i, j;

	if (!rec) {
		snprintf(err, errlen, "bench -o json: line %d: %s", je.line,
			 text_oneline(je.text));
		return -1;
	}
	json_array_foreach(json_object_get(rec, "rows"), i, v) {
		const char *t = json_string_value(json_object_get(v, "test"));
		double med = json_number_value(json_object_get(
			json_object_get(v, "stats"), "median"));
		json_t *raw = json_object_get(v, "samples_ms");
		struct cmp_row *w = t ? row_get(r, t, 0) : NULL;
		if (w && med > 0)
			w->ms[s][k] = med;
		if (w && !w->samples[s])
			w->samples[s] = json_array();
		/* round k's samples at index k; null for a missing round */
		while (w && w->samples[s] && (int)json_array_size(w->samples[s]) < k)
			json_array_append_new(w->samples[s], json_null());
		if (w && w->samples[s])
			json_array_append(w->samples[s], raw ? raw : json_null());
	}
	json_array_foreach(json_object_get(rec, "profile"), i, v) {
		const char *t = json_string_value(json_object_get(v, "test"));
		json_t *op;
		json_array_foreach(json_object_get(v, "ops"), j, op) {
			const char *name = json_string_value(json_object_get(op, "op"));
			double ms = json_number_value(json_object_get(op, "ms_per_pass"));
			char key[48];
			if (!t || !name || !(ms > 0))
				continue;
			snprintf(key, sizeof key, "%s/%s", t, name);
			struct cmp_row *w = row_get(r, key, 1);
			if (w)
				w->ms[s][k] = ms;
		}
	}
	json_decref(rec);
	return 0;
}

/* The flag build d's ./bench takes a text prompt with, from its --help:
 * --prompt, or -p in a revision older than llama-bench's spelling (where
 * -p meant the text).  0, or -1 with a message. */
static int prompt_flag(const struct cmp_opts *o, struct cmp_result *r, int d,
		       char *err, size_t errlen)
{
	char bin[4096], *out;

	if (r->prompt_flag[d])
		return 0;
	snprintf(bin, sizeof bin, "%s/bench", o->dir[d]);
	char *argv[] = { bin, "--help", NULL };
	if (run_capture(argv, NULL, NULL, NULL, &out, err, errlen) < 0)
		return -1;
	r->prompt_flag[d] = strstr(out, "--prompt TEXT") ? "--prompt" : "-p";
	free(out);
	return 0;
}

/* One side's bench processes of one round: the short prompt with decode,
 * then the longer prompt batch. */
static int bench_side(const struct cmp_opts *o, struct cmp_result *r, int s,
		      int k, char *err, size_t errlen)
{
	const int d = s == SIDE_BASE ? 0 : 1;
	char bin[4096], gen[16], pp[16], budget[32], threads[16];
	char *out;

	snprintf(bin, sizeof bin, "%s/bench", o->dir[d]);
	snprintf(gen, sizeof gen, "%d", o->gen);
	snprintf(pp, sizeof pp, "%d", o->pp_long);
	snprintf(budget, sizeof budget, "%d", o->budget_s);
	snprintf(threads, sizeof threads, "%d", o->threads);
	if (prompt_flag(o, r, d, err, errlen) < 0)
		return -1;
	for (int run = 0; run < (o->pp_long > 0 ? 2 : 1); run++) {
		char *argv[24];
		int a = 0;
		argv[a++] = bin;
		argv[a++] = "--model";
		argv[a++] = (char *)o->model;
		if (run == 0) {
			argv[a++] = (char *)r->prompt_flag[d];
			argv[a++] = (char *)o->prompt;
			argv[a++] = "--gen";
			argv[a++] = gen;
		} else {
			argv[a++] = "--pp";
			argv[a++] = pp;
			argv[a++] = "--gen";
			argv[a++] = "0";
		}
		argv[a++] = "--budget";
		argv[a++] = budget;
		argv[a++] = "--reps";
		argv[a++] = "3";
		if (o->threads > 0) {
			argv[a++] = "--threads";
			argv[a++] = threads;
		}
		argv[a++] = "--profile";
		argv[a++] = "-o";
		argv[a++] = "json";
		argv[a++] = "--no-record";
		argv[a] = NULL;
		if (run_capture(argv, NULL, o->env[d], NULL, &out, err, errlen) < 0)
			return -1;
		int rc = take_record(r, out, s, k, err, errlen);
		free(out);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static void progress(cmp_progress_fn cb, void *ctx, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void progress(cmp_progress_fn cb, void *ctx, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	if (!cb)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	cb(ctx, line);
}

/* rounds x 3 sides, each round in the next of the six orders. */
static int time_rounds(const struct cmp_opts *o, struct cmp_result *r,
		       const char *what, cmp_progress_fn cb, void *ctx,
		       char *err, size_t errlen)
{
	static const int order[6][3] = {
		{ SIDE_BASE, SIDE_HEAD, SIDE_HEAD2 }, { SIDE_HEAD, SIDE_HEAD2, SIDE_BASE },
		{ SIDE_HEAD2, SIDE_BASE, SIDE_HEAD }, { SIDE_HEAD2, SIDE_HEAD, SIDE_BASE },
		{ SIDE_HEAD, SIDE_BASE, SIDE_HEAD2 }, { SIDE_BASE, SIDE_HEAD2, SIDE_HEAD },
	};
	static const char *const names[] = { "base", "head", "head (A/A)" };
	const double t0 = now_ms();

	for (int k = 0; k < o->rounds; k++) {
		for (int i = 0; i < 3; i++) {
			const int s = order[k % 6][i];
			progress(cb, ctx, "%sround %d/%d: %s", what, k + 1, o->rounds,
				 names[s]);
			if (bench_side(o, r, s, k, err, errlen) < 0)
				return -1;
		}
		r->rounds = k + 1;
	}
	r->wall_s += (now_ms() - t0) / 1e3;
	return 0;
}

/* Drops the rounds a disturbance hit: log ratios farther from their
 * median than 4 robust standard deviations (1.4826 MAD), and never
 * closer than 2%.  A real change moves every round, and the median with
 * them; a process that lost its CPU for a while moves one round.  Keeps
 * at least 3.  Returns how many are left in x. */
static int drop_disturbed(double *x, int n)
{
	const double m = stats_median(x, n);
	const double lim = fmax(4 * 1.4826 * stats_mad(x, n), 0.02);
	int k = 0;

	if (n <= 3 || isnan(m))
		return n;
	for (int i = 0; i < n; i++)
		if (fabs(x[i] - m) <= lim)
			x[k++] = x[i];
	return k >= 3 ? k : n;
}

void cmp_judge(struct cmp_row *w, int rounds, double alpha, double margin)
{
	double d[CMP_MAX_ROUNDS], aa[CMP_MAX_ROUNDS];
	int n = 0;

	for (int k = 0; k < rounds; k++) {
		const double b = w->ms[SIDE_BASE][k], h = w->ms[SIDE_HEAD][k],
			     h2 = w->ms[SIDE_HEAD2][k];
		if (!(b > 0 && h > 0 && h2 > 0))
			continue;
		d[n] = log(h / b);
		aa[n++] = log(h2 / h);
	}
	w->used = drop_disturbed(d, n);
	stats_rounds(d, w->used, 0.95, &w->d);
	stats_rounds(aa, drop_disturbed(aa, n), 0.95, &w->aa);
	w->rounds = n;
	w->ratio = exp(w->d.mean);
	w->lo = exp(w->d.lo);
	w->hi = exp(w->d.hi);
	w->aa_ratio = exp(w->aa.mean);
	w->band = exp(fabs(w->aa.mean) + (w->aa.hi - w->aa.lo) / 2);
	w->verdict = 0;
	if (!(w->d.p < alpha) || isnan(w->band))
		return;
	if (w->lo > w->band && w->ratio > 1 + margin)
		w->verdict = 1;
	else if (w->hi < 1 / w->band && w->ratio < 1 / (1 + margin))
		w->verdict = -1;
}

static void judge_all(const struct cmp_opts *o, struct cmp_result *r)
{
	for (int i = 0; i < r->n_rows; i++)
		cmp_judge(&r->row[i], r->rounds, o->alpha, o->margin);
}

/* A test row judged slower is measured again: fresh rounds of all sides;
 * it is confirmed only if judged slower again. */
static int remeasure(const struct cmp_opts *o, struct cmp_result *r,
		     cmp_progress_fn cb, void *ctx, char *err, size_t errlen)
{
	struct cmp_result *again;
	int any = 0;

	for (int i = 0; i < r->n_rows; i++)
		any |= !r->row[i].is_op && r->row[i].verdict > 0;
	if (!any)
		return 0;
	if (!(again = calloc(1, sizeof *again))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (time_rounds(o, again, "re-measuring a regression: ", cb, ctx, err,
			errlen) < 0) {
		cmp_result_free(again);
		free(again);
		return -1;
	}
	judge_all(o, again);
	r->wall_s += again->wall_s;
	for (int i = 0; i < r->n_rows; i++) {
		struct cmp_row *w = &r->row[i];
		if (w->is_op || w->verdict <= 0)
			continue;
		for (int j = 0; j < again->n_rows; j++) {
			const struct cmp_row *a = &again->row[j];
			if (strcmp(a->name, w->name))
				continue;
			w->remeasured = 1;
			w->re_ratio = a->ratio;
			w->re_lo = a->lo;
			w->re_hi = a->hi;
			w->confirmed = a->verdict > 0;
		}
	}
	cmp_result_free(again);
	free(again);
	return 0;
}

/* --- deterministic counts --------------------------------------------------- */

static const char *const groups[] = {
	"kernels/", "model/", "harness/", "base/", "config/", "tuning/", "api/",
	"other (libc, libm, ...)",
};
#define N_GROUPS ((int)(sizeof groups / sizeof *groups))

/* The project group of a source path ("/x/y/kernels/ops/avx2.c"), or -1
 * for a file outside the project (a system header, libc). */
static int group_of(const char *path)
{
	if (!strncmp(path, "/usr/", 5))
		return -1;
	for (int g = 0; g < N_GROUPS - 1; g++) {
		const size_t n = strlen(groups[g]);
		if (!strncmp(path, groups[g], n))
			return g;
		for (const char *p = strstr(path, groups[g]); p;
		     p = strstr(p + 1, groups[g]))
			if (p[-1] == '/')
				return g;
	}
	return -1;
}

/* One callgrind_annotate line "  1,234 (x%)  file:function [obj]" into
 * its count, file and function; 0 if it is not such a line. */
static int annotate_line(const char *l, double *ir, char *file, size_t fcap,
			 char *fn, size_t ncap)
{
	char num[64];
	size_t n = 0;
	const char *p = l, *colon, *end;

	while (*p == ' ')
		p++;
	while ((isdigit((unsigned char)*p) || *p == ',') && n + 1 < sizeof num) {
		if (*p != ',')
			num[n++] = *p;
		p++;
	}
	num[n] = '\0';
	if (!n || *p != ' ')
		return 0;
	while (*p == ' ')
		p++;
	if (*p == '(') {
		p = strchr(p, ')');
		if (!p)
			return 0;
		p++;
		while (*p == ' ')
			p++;
	}
	end = p + strcspn(p, " \n");
	colon = memchr(p, ':', (size_t)(end - p));
	if (!colon)
		return 0;
	*ir = strtod(num, NULL);
	snprintf(file, fcap, "%.*s", (int)(colon - p), p);
	snprintf(fn, ncap, "%.*s", (int)(end - colon - 1), colon + 1);
	return 1;
}

/* Ir by group from callgrind_annotate's per-file:function table.  An
 * inlined intrinsic is listed under its system header: it joins the
 * group of the project file that defines the same function. */
static void group_costs(const char *table, double *g_ir)
{
	struct ent { char fn[128]; double ir; int g; } *e = NULL;
	int n = 0, cap = 0;
	char file[512], fn[128];
	double ir;

	for (const char *l = table; *l; l += strcspn(l, "\n") + (l[strcspn(l, "\n")] != 0)) {
		char line[800];
		snprintf(line, sizeof line, "%.*s", (int)strcspn(l, "\n"), l);
		if (strstr(line, "PROGRAM TOTALS") ||
		    !annotate_line(line, &ir, file, sizeof file, fn, sizeof fn))
			continue;
		if (n == cap) {
			struct ent *ne = realloc(e, sizeof *e * (size_t)(cap = cap ? 2 * cap : 64));
			if (!ne)
				break;
			e = ne;
		}
		snprintf(e[n].fn, sizeof e[n].fn, "%s", fn);
		e[n].ir = ir;
		e[n++].g = group_of(file);
	}
	for (int i = 0; i < n; i++) {
		int g = e[i].g;
		for (int j = 0; g < 0 && j < n; j++)
			if (e[j].g >= 0 && !strcmp(e[j].fn, e[i].fn))
				g = e[j].g;
		g_ir[g < 0 ? N_GROUPS - 1 : g] += e[i].ir;
	}
	free(e);
}

/* Counts of one ./infer run of n tokens (prompt pass, then n - 1 decode
 * steps) into tot[9] (callgrind's events) and g_ir by group. */
static int count_run(const struct cmp_opts *o, int d, int n, double tot[9],
		     double *g_ir, char *err, size_t errlen)
{
	char outf[] = "/tmp/q8t-cg-XXXXXX", outopt[64], ns[8], model[4096];
	char *out = NULL;
	int fd = mkstemp(outf), rc = -1;

	if (fd < 0) {
		snprintf(err, errlen, "cannot make a temporary file: %s",
			 strerror(errno));
		return -1;
	}
	close(fd);
	if (!realpath(o->count_model, model)) {
		snprintf(err, errlen, "%s: %s", o->count_model, strerror(errno));
		unlink(outf);
		return -1;
	}
	snprintf(outopt, sizeof outopt, "--callgrind-out-file=%s", outf);
	snprintf(ns, sizeof ns, "%d", n);
	char *argv[] = { (char *)o->valgrind, "--tool=callgrind", "--cache-sim=yes",
		"--toggle-collect=session_eval", outopt, "./infer", "--model",
		model, "-p", (char *)o->prompt, "-n", ns,
		"--threads", "1", "--ignore-eos", NULL };
	/* run as ./infer inside its build folder, so that both sides have
	 * the same argv and stack layout: the simulated caches then see the
	 * same addresses, and the miss counts repeat exactly */
	if (run_capture(argv, o->dir[d], o->env[d], "Q8TUNE_CPU_MASK=avx2", &out,
			err, errlen) < 0)
		goto done;
	free(out);
	FILE *f = fopen(outf, "r");
	char line[1024];
	int found = 0;
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, "summary:", 8)) {
			found = sscanf(line + 8, "%lf %lf %lf %lf %lf %lf %lf %lf %lf",
				       &tot[0], &tot[1], &tot[2], &tot[3], &tot[4],
				       &tot[5], &tot[6], &tot[7], &tot[8]) == 9;
			break;
		}
	if (f)
		fclose(f);
	if (!found) {
		snprintf(err, errlen, "%s: no callgrind summary (events Ir Dr Dw "
			 "I1mr D1mr D1mw ILmr DLmr DLmw expected)", outf);
		goto done;
	}
	char *av2[] = { "callgrind_annotate", "--show=Ir", "--auto=no",
			"--threshold=100", "--inclusive=no", outf, NULL };
	if (run_capture(av2, NULL, NULL, NULL, &out, err, errlen) < 0)
		goto done;
	group_costs(out, g_ir);
	free(out);
	rc = 0;
done:
	unlink(outf);
	return rc;
}

/* Both sides: the prompt pass (n = 1) and one decode step (n = 2 minus
 * n = 1).  Sets r->have_counts, or r->counts_why. */
static void count_all(const struct cmp_opts *o, struct cmp_result *r,
		      cmp_progress_fn cb, void *ctx)
{
	char err[sizeof r->counts_why];

	r->n_groups = N_GROUPS;
	for (int g = 0; g < N_GROUPS; g++)
		r->group[g] = groups[g];
	if (!o->count_model) {
		snprintf(r->counts_why, sizeof r->counts_why, "no model for "
			 "the counts");
		return;
	}
	for (int d = 0; d < 2; d++) {
		double t1[9] = { 0 }, t2[9] = { 0 };
		double g1[CMP_MAX_GROUPS] = { 0 }, g2[CMP_MAX_GROUPS] = { 0 };
		struct cmp_counts *c = &r->counts[d];

		progress(cb, ctx, "callgrind: %s", o->name[d]);
		if (count_run(o, d, 1, t1, g1, err, sizeof err) < 0 ||
		    count_run(o, d, 2, t2, g2, err, sizeof err) < 0) {
			snprintf(r->counts_why, sizeof r->counts_why, "%s", err);
			return;
		}
		c->ir[0] = t1[0];
		c->ir[1] = t2[0] - t1[0];
		c->d1_miss[0] = t1[4] + t1[5];
		c->d1_miss[1] = t2[4] + t2[5] - c->d1_miss[0];
		c->ll_miss[0] = t1[7] + t1[8];
		c->ll_miss[1] = t2[7] + t2[8] - c->ll_miss[0];
		for (int g = 0; g < N_GROUPS; g++) {
			c->group_ir[0][g] = g1[g];
			c->group_ir[1][g] = g2[g] - g1[g];
		}
	}
	r->have_counts = 1;
}

int cmp_run(const struct cmp_opts *o, cmp_progress_fn cb, void *cb_ctx,
	    struct cmp_result *r, char *err, size_t errlen)
{
	memset(r, 0, sizeof *r);
	if (o->rounds < 3 || o->rounds > CMP_MAX_ROUNDS) {
		snprintf(err, errlen, "rounds: %d is not from 3 to %d", o->rounds,
			 CMP_MAX_ROUNDS);
		return -1;
	}
	if (time_rounds(o, r, "", cb, cb_ctx, err, errlen) < 0)
		return -1;
	judge_all(o, r);
	if (remeasure(o, r, cb, cb_ctx, err, errlen) < 0)
		return -1;
	count_all(o, r, cb, cb_ctx);
	return 0;
}

void cmp_result_free(struct cmp_result *r)
{
	for (int i = 0; i < r->n_rows; i++)
		for (int s = 0; s < SIDE_COUNT; s++) {
			json_decref(r->row[i].samples[s]);
			r->row[i].samples[s] = NULL;
		}
}

double cmp_worst_confirmed(const struct cmp_result *r)
{
	double worst = 1;

	for (int i = 0; i < r->n_rows; i++) {
		const struct cmp_row *w = &r->row[i];
		const double v = w->ratio < w->re_ratio ? w->ratio : w->re_ratio;

		if (!w->is_op && w->confirmed && v > worst)
			worst = v;
	}
	return worst;
}

/* --- the report ------------------------------------------------------------- */

/* Whether side s measured the row in any round. */
static int measured(const struct cmp_row *w, int s)
{
	for (int k = 0; k < CMP_MAX_ROUNDS; k++)
		if (w->ms[s][k] > 0)
			return 1;
	return 0;
}

/* A row one side does not have (a profile row renamed, split or merged
 * between the two revisions): nothing to compare. */
static const char *one_sided(const struct cmp_row *w)
{
	if (!measured(w, SIDE_BASE))
		return "only in head";
	return measured(w, SIDE_HEAD) ? NULL : "only in base";
}

static const char *verdict_name(const struct cmp_row *w)
{
	if (one_sided(w))
		return one_sided(w);
	if (w->verdict > 0)
		return !w->remeasured ? "slower" : w->confirmed ?
		       "**slower (confirmed)**" : "no change (not confirmed)";
	return w->verdict < 0 ? "faster" : "no change";
}

static double median_of(const struct cmp_row *w, int s, int rounds)
{
	double v[CMP_MAX_ROUNDS];
	int n = 0;

	for (int k = 0; k < rounds; k++)
		if (w->ms[s][k] > 0)
			v[n++] = w->ms[s][k];
	return n ? stats_median(v, n) : NAN;
}

static void md_row(FILE *out, const struct cmp_row *w, int rounds)
{
	if (one_sided(w)) {
		fprintf(out, "| %s | %.3f | %.3f | - | - | - | - | %s |\n", w->name,
			median_of(w, SIDE_BASE, rounds),
			median_of(w, SIDE_HEAD, rounds), one_sided(w));
		return;
	}
	fprintf(out, "| %s | %.3f | %.3f | %.3f [%.3f, %.3f] | %.2g | "
		"%.3f-%.3f | %d/%d | %s |", w->name, median_of(w, SIDE_BASE, rounds),
		median_of(w, SIDE_HEAD, rounds), w->ratio, w->lo, w->hi, w->d.p,
		1 / w->band, w->band, w->used, w->rounds, verdict_name(w));
	if (w->remeasured)
		fprintf(out, " again: %.3f [%.3f, %.3f]", w->re_ratio, w->re_lo,
			w->re_hi);
	fputc('\n', out);
}

static void md_counts(FILE *out, const struct cmp_opts *o,
		      const struct cmp_result *r)
{
	static const char *const ph[2] = { "prompt pass", "decode step" };
	const struct cmp_counts *b = &r->counts[0], *h = &r->counts[1];

	fprintf(out, "\n## Instruction counts (callgrind, deterministic)\n\n");
	if (!r->have_counts) {
		fprintf(out, "Not measured: %s\n", r->counts_why);
		return;
	}
	fprintf(out, "`./infer` on %s, prompt \"%s\", 1 thread, "
		"`Q8TUNE_CPU_MASK=avx2`: **these counts are for the AVX2 "
		"kernels** (valgrind cannot run AVX-512), collected inside "
		"`session_eval` only. The prompt pass is a run of 1 token; the "
		"decode step is a run of 2 tokens minus it.\n\n", o->count_model,
		o->prompt);
	fprintf(out, "| count | base | head | delta |\n|---|---|---|---|\n");
	for (int p = 0; p < 2; p++) {
		const double *bv[3] = { &b->ir[p], &b->d1_miss[p], &b->ll_miss[p] };
		const double *hv[3] = { &h->ir[p], &h->d1_miss[p], &h->ll_miss[p] };
		static const char *const what[3] = { "Ir", "D1 misses", "LL misses" };
		for (int e = 0; e < 3; e++)
			fprintf(out, "| %s, %s | %.0f | %.0f | %+.3f%% |\n", what[e],
				ph[p], *bv[e], *hv[e],
				*bv[e] > 0 ? 100 * (*hv[e] / *bv[e] - 1) : 0.0);
	}
	fprintf(out, "\nIr by source group (an inlined intrinsic counts for the "
		"function it is inlined in):\n\n| group | phase | base | head | "
		"delta | share of the change |\n|---|---|---|---|---|---|\n");
	for (int p = 0; p < 2; p++) {
		const double dt = h->ir[p] - b->ir[p];
		for (int g = 0; g < r->n_groups; g++) {
			const double bg = b->group_ir[p][g], hg = h->group_ir[p][g];
			if (bg == 0 && hg == 0)
				continue;
			char share[32] = "-";
			if (dt != 0)	/* the group's part of the whole change */
				snprintf(share, sizeof share, "%+.0f%%",
					 100 * (hg - bg) / fabs(dt));
			fprintf(out, "| %s | %s | %.0f | %.0f | %+.3f%% | %s |\n",
				r->group[g], ph[p], bg, hg,
				bg > 0 ? 100 * (hg / bg - 1) : 0.0, share);
		}
	}
}

void cmp_write_md(FILE *out, const struct cmp_opts *o,
		  const struct cmp_result *r, const char *machine)
{
	fprintf(out, "# Performance report: %s against %s\n\n", o->name[1],
		o->name[0]);
	fprintf(out, "- machine: %s\n- base: %s (%s)%s%s\n- head: %s (%s)%s%s\n"
		"- model: %s; prompt \"%s\", tg %d tokens, pp%d; %s threads; "
		"%d rounds of fresh processes in rotating order, %d s of "
		"bench budget per row (%.0f s in all)\n", machine, o->name[0],
		o->dir[0], o->env[0] ? ", env " : "", o->env[0] ? o->env[0] : "",
		o->name[1], o->dir[1], o->env[1] ? ", env " : "",
		o->env[1] ? o->env[1] : "", o->model, o->prompt, o->gen,
		o->pp_long, o->threads ? "" : "default", r->rounds, o->budget_s,
		r->wall_s);
	fprintf(out, "- rule: ratio = head/base (> 1: head slower), the "
		"geometric mean over rounds; 95%% CI and p from the rounds' "
		"spread (t); noise band from head against head (A/A) in the same "
		"rounds; *rounds*: used/run, a round a disturbance hit (beyond 4 "
		"robust sd of the median round) is dropped. **slower** needs p < %.2g, the CI above the band and the "
		"ratio above %.2f; a slower pp/tg row is measured again and must "
		"be slower again to be confirmed.\n\n", o->alpha, 1 + o->margin);
	fprintf(out, "| row | base ms | head ms | ratio [95%% CI] | p | noise "
		"band | rounds | verdict |\n|---|---|---|---|---|---|---|---|\n");
	for (int i = 0; i < r->n_rows; i++)
		if (!r->row[i].is_op)
			md_row(out, &r->row[i], r->rounds);
	fprintf(out, "\n## Per-op profile rows (ms per pass, in situ)\n\n| row | "
		"base ms | head ms | ratio [95%% CI] | p | noise band | rounds | "
		"verdict |\n|---|---|---|---|---|---|---|---|\n");
	for (int i = 0; i < r->n_rows; i++)
		if (r->row[i].is_op)
			md_row(out, &r->row[i], r->rounds);
	md_counts(out, o, r);
}

static json_t *reals(const double *v, int n)
{
	json_t *a = json_array();

	for (int i = 0; a && i < n; i++)
		json_array_append_new(a, isfinite(v[i]) ? json_real(v[i]) : json_null());
	return a;
}

static json_t *real_or_null(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static json_t *row_json_cmp(const struct cmp_row *w, int rounds)
{
	json_t *o = json_pack("{s:s,s:b,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:i,s:s,s:b,s:b}",
		"row", w->name, "profile_row", w->is_op,
		"base_ms", reals(w->ms[SIDE_BASE], rounds),
		"head_ms", reals(w->ms[SIDE_HEAD], rounds),
		"head_aa_ms", reals(w->ms[SIDE_HEAD2], rounds),
		"ratio", real_or_null(w->ratio), "ci_lo", real_or_null(w->lo),
		"ci_hi", real_or_null(w->hi), "p", real_or_null(w->d.p),
		"aa_ratio", real_or_null(w->aa_ratio),
		"noise_band", real_or_null(w->band), "rounds_used", w->used,
		"verdict", one_sided(w) ? one_sided(w) : w->verdict > 0 ?
			   "slower" : w->verdict < 0 ? "faster" : "no change",
		"remeasured", w->remeasured, "confirmed", w->confirmed);

	static const char *const keys[SIDE_COUNT] = { "base_samples_ms",
		"head_samples_ms", "head_aa_samples_ms" };
	for (int s = 0; o && s < SIDE_COUNT; s++)
		if (w->samples[s])
			json_object_set(o, keys[s], w->samples[s]);
	if (o && w->remeasured)
		json_object_set_new(o, "remeasured_ratio", json_pack("{s:f,s:f,s:f}",
			"ratio", w->re_ratio, "ci_lo", w->re_lo, "ci_hi", w->re_hi));
	return o;
}

static json_t *counts_json(const struct cmp_result *r, int d)
{
	const struct cmp_counts *c = &r->counts[d];
	json_t *g = json_object();

	for (int i = 0; g && i < r->n_groups; i++)
		json_object_set_new(g, r->group[i], json_pack("[f,f]",
			c->group_ir[0][i], c->group_ir[1][i]));
	return json_pack("{s:[f,f],s:[f,f],s:[f,f],s:o}", "ir", c->ir[0], c->ir[1],
			 "d1_misses", c->d1_miss[0], c->d1_miss[1],
			 "ll_misses", c->ll_miss[0], c->ll_miss[1], "group_ir", g);
}

json_t *cmp_json(const struct cmp_opts *o, const struct cmp_result *r,
		 const char *machine)
{
	json_t *rows = json_array(), *rec;

	for (int i = 0; rows && i < r->n_rows; i++)
		json_array_append_new(rows, row_json_cmp(&r->row[i], r->rounds));
	rec = json_pack("{s:s,s:i,s:s,s:{s:s,s:s,s:s?},s:{s:s,s:s,s:s?},"
		"s:{s:s,s:s,s:i,s:i,s:i,s:f,s:i,s:f,s:f},s:f,s:o}",
		"schema", "q8tune-perf-report", "schema_version", 1,
		"machine", machine,
		"base", "rev", o->name[0], "dir", o->dir[0], "env", o->env[0],
		"head", "rev", o->name[1], "dir", o->dir[1], "env", o->env[1],
		"spec", "model", o->model, "prompt", o->prompt, "gen", o->gen,
		"pp_long", o->pp_long, "rounds", r->rounds, "budget_s", (double)o->budget_s,
		"threads", o->threads, "alpha", o->alpha, "margin", o->margin,
		"wall_s", r->wall_s, "rows", rows);
	if (!rec)
		return NULL;
	if (r->have_counts)
		json_object_set_new(rec, "counts", json_pack("{s:s,s:s,s:o,s:o}",
			"model", o->count_model, "isa", "avx2",
			"base", counts_json(r, 0), "head", counts_json(r, 1)));
	else
		json_object_set_new(rec, "counts", json_pack("{s:s}", "why",
							     r->counts_why));
	return rec;
}

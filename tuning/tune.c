/* tune.c - the in-situ search (see tune.h and docs/tuning.md). */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "clock.h"
#include "cpu.h"
#include "env.h"
#include "file.h"
#include "fingerprint.h"
#include "generate.h"
#include "model.h"
#include "pool.h"
#include "results.h"
#include "sampler.h"
#include "hash.h"
#include "signature.h"
#include "tune.h"

#define MARGIN 0.01		/* a win is more than 1% faster */
#define GATE_STEPS 4		/* decode positions checked after the batch */
#define GATE_ABS 0.05		/* logit bound: GATE_ABS + GATE_REL * max|ref| */
#define GATE_REL 0.01
#define LOG_SCHEMA "q8tune-tune-log"

static volatile sig_atomic_t interrupted;

void tune_interrupt(void)
{
	interrupted = 1;
}

void tune_opts_defaults(struct tune_opts *o)
{
	long nc = sysconf(_SC_NPROCESSORS_ONLN);

	*o = (struct tune_opts){ .log_path = "results/tune-log.jsonl",
		.budget_s = 60,
		.max_threads = nc < 1 ? 1 : nc > TUNE_MAX_THREADS ? TUNE_MAX_THREADS : (int)nc,
		.n_pp = 16, .n_gen = 8, .rounds = 2, .git_rev = "unknown" };
}

static const char *const verdict_names[] = {
	[TV_WIN] = "win", [TV_KEEP] = "keep", [TV_REJECTED] = "rejected",
	[TV_CRASHED] = "crashed", [TV_HUNG] = "hung", [TV_SKIPPED] = "skipped",
	[TV_FINAL] = "final",
};

const char *tune_verdict_name(enum tune_verdict v)
{
	return verdict_names[v];
}

/* --- what the model uses ------------------------------------------------- */

/* The weight types a model holds, as bits. */
enum wtype_bit { WT_Q8_0 = 1, WT_F16 = 2, WT_BF16 = 4, WT_F32 = 8 };

static void add_type(struct wmat *w, void *ctx)
{
	*(unsigned *)ctx |= w->type == GGML_TYPE_Q8_0 ? WT_Q8_0 :
			    w->type == GGML_TYPE_F16 ? WT_F16 :
			    w->type == GGML_TYPE_BF16 ? WT_BF16 : WT_F32;
}

int tune_op_used(struct model *m, int op)
{
	unsigned types = 0;

	model_for_each_wmat(m, add_type, &types);
	switch (op) {
	case OP_MATMUL_Q8: return !!(types & WT_Q8_0);
	case OP_MATMUL_F16: return !!(types & WT_F16);
	case OP_MATMUL_BF16: return !!(types & WT_BF16);
	case OP_MATMUL_F32: return !!(types & WT_F32);
	case OP_GELU: return m->hp.arch == ARCH_GEMMA;
	case OP_SILU: return m->hp.arch == ARCH_LLAMA;
	/* the fused ops make Q8_0 matmul inputs */
	case OP_NORM_Q8: return !!(types & WT_Q8_0);
	case OP_GELU_Q8: return m->hp.arch == ARCH_GEMMA && (types & WT_Q8_0);
	case OP_SILU_Q8: return m->hp.arch == ARCH_LLAMA && (types & WT_Q8_0);
	default: return 1;
	}
}

unsigned tune_prof_mask(int op)
{
	switch (op) {
	case OP_MATMUL_Q8: case OP_MATMUL_F16: case OP_MATMUL_BF16:
	case OP_MATMUL_F32:
		return 1u << PROF_MM_QKV | 1u << PROF_MM_ATTN_OUT |
		       1u << PROF_MM_FFN_UP | 1u << PROF_MM_FFN_DOWN |
		       1u << PROF_MM_OUTPUT;
	case OP_QUANTIZE: return 1u << PROF_QUANTIZE;
	case OP_RMSNORM: return 1u << PROF_RMSNORM;
	case OP_ROPE: return 1u << PROF_ROPE;
	case OP_GELU: case OP_SILU: return 1u << PROF_GLU;
	case OP_ATTENTION: return 1u << PROF_ATTENTION;
	/* a fused op's time is booked to rmsnorm (glu); the unfused path
	 * also spends it in the residual add and the quantize rows */
	case OP_NORM_Q8:
		return 1u << PROF_RMSNORM | 1u << PROF_RESIDUAL | 1u << PROF_QUANTIZE;
	case OP_GELU_Q8: case OP_SILU_Q8:
		return 1u << PROF_GLU | 1u << PROF_QUANTIZE;
	default: return 0;
	}
}

/* --- evaluation in a child ----------------------------------------------- */

/* Shared with the children (MAP_SHARED): what an evaluation returns. */
struct shm {
	int ok;			/* the child finished its work */
	int rejected;		/* failed the gate */
	char reason[256];
	double gate_maxdiff;
	struct bench_ab ab, ab2;
	struct prof prof_a, prof_b;
	/* the gate's reference, computed once */
	int n_ref;		/* positions */
	int32_t ref_tok[GATE_STEPS];
	/* followed by (GATE_STEPS + 1, n_vocab) reference logits */
};

enum eval_kind { EV_COMPARE, EV_REFERENCE, EV_FINAL };

struct eval {
	enum eval_kind kind;
	enum phase phase;
	struct bench_setup a, b;	/* compare: incumbent, candidate */
	const struct kernels *scalar;	/* final: the all-scalar set */
	int gate;			/* gate b before timing */
	unsigned mask;			/* op's profile rows (0: pass only) */
	double budget_ms;
	const char *fault;		/* candidate name the fault hook hits */
	double alpha;			/* significance level of a win */
};

struct tuner {
	struct model *m;
	const struct tune_opts *o;
	struct shm *sh;
	size_t sh_bytes;
	float *ref_logits;	/* in sh */
	int32_t *prompt;
	int n_prompt;
	const char *fault_env;	/* Q8TUNE_TUNE_FAULT */
	json_t *log;		/* earlier evaluations (--resume) */
	char machine_key[256], model_hash[20];
	double t_start;
	int pin;
	int cores;
};

/* Runs the gate sequence with k: the prompt as one batch, then
 * GATE_STEPS decode tokens (the reference's greedy choices, so every
 * configuration sees the same inputs).  logits: (GATE_STEPS + 1, n_vocab). */
static int gate_run(struct session *s, const struct tuner *t, int32_t *toks,
		    float *logits, char *err, size_t errlen)
{
	const int V = t->m->hp.n_vocab;

	session_reset(s);
	if (session_eval(s, t->prompt, t->n_prompt, logits, err, errlen) < 0)
		return -1;
	for (int i = 0; i < GATE_STEPS; i++) {
		int32_t id = toks ? toks[i] : argmax(logits + (size_t)i * V, V);
		if (!toks)
			t->sh->ref_tok[i] = id;
		if (session_eval(s, &id, 1, logits + (size_t)(i + 1) * V, err,
				 errlen) < 0)
			return -1;
	}
	return 0;
}

/* 0 if logits match the reference (top-1 identical at every position,
 * max |diff| within the bound), else 1 with the reason. */
static int gate_check(const struct tuner *t, const float *logits, double *maxd,
		      char *why, size_t cap)
{
	const int V = t->m->hp.n_vocab;
	double amax = 0, worst = 0;

	for (size_t i = 0; i < (size_t)(GATE_STEPS + 1) * V; i++)
		amax = fmax(amax, fabs(t->ref_logits[i]));
	const double bound = GATE_ABS + GATE_REL * amax;
	for (int p = 0; p <= GATE_STEPS; p++) {
		const float *r = t->ref_logits + (size_t)p * V, *l = logits + (size_t)p * V;
		for (int i = 0; i < V; i++) {
			double d = fabs((double)l[i] - r[i]);
			if (!(d <= worst))
				worst = isnan(d) ? INFINITY : d;
		}
		int ra = argmax(r, V), la = argmax(l, V);
		if (ra != la) {
			*maxd = worst;
			snprintf(why, cap, "top-1 differs at position %d: %d, "
				 "reference %d", p, la, ra);
			return 1;
		}
	}
	*maxd = worst;
	if (worst > bound) {
		snprintf(why, cap, "max |logit diff| %.3g > bound %.3g", worst, bound);
		return 1;
	}
	return 0;
}

/* Whether the fault hook's value env asks for fault kind at the
 * evaluation of "op/variant" what: "kind:op/variant", or "kind:op/" plus "*" for
 * every variant of op. */
static int fault_is(const char *env, const char *kind, const char *what)
{
	const size_t k = strlen(kind);
	const char *slash = strchr(what, '/');

	if (strncmp(env, kind, k) || env[k] != ':')
		return 0;
	env += k + 1;
	if (!strcmp(env, what))
		return 1;
	return slash && !strncmp(env, what, (size_t)(slash - what) + 1) &&
	       !strcmp(env + (slash - what) + 1, "*");
}

static void maybe_fault(const struct tuner *t, const struct eval *ev)
{
	if (!t->fault_env || !ev->fault)
		return;
	if (fault_is(t->fault_env, "crash", ev->fault))
		raise(SIGSEGV);
	if (fault_is(t->fault_env, "exit", ev->fault))
		_exit(1);	/* as a sanitizer or an abort handler does */
	if (fault_is(t->fault_env, "hang", ev->fault))
		for (;;)
			pause();
}

static int setup_threads(const struct bench_setup *a, const struct bench_setup *b)
{
	return a->threads > b->threads ? a->threads : b->threads;
}

/* The child's work; writes into t->sh.  Returns the exit status. */
static int child_eval(struct tuner *t, const struct eval *ev)
{
	struct shm *sh = t->sh;
	const int nth = setup_threads(&ev->a, &ev->b);
	const int V = t->m->hp.n_vocab;
	struct pool *pool = pool_create(nth);
	struct session *s = NULL;
	struct bench_ctx bc;
	struct bench_spec sp;
	float *logits = NULL;
	char err[256];

	signal(SIGINT, SIG_DFL);
	if (!pool) {
		snprintf(sh->reason, sizeof sh->reason, "cannot start %d threads", nth);
		return 2;
	}
	if (t->pin) {
		int cpus[TUNE_MAX_THREADS];
		int n = env_pin_plan(nth, cpus, TUNE_MAX_THREADS, err, sizeof err);
		if (n >= nth)
			pool_pin(pool, cpus, err, sizeof err);
	}
	s = session_create(t->m, t->n_prompt + GATE_STEPS + t->o->n_gen + 1,
			   ev->a.k, pool, err, sizeof err);
	logits = malloc(sizeof(float) * (size_t)(GATE_STEPS + 1) * V);
	if (!s || !logits || bench_ctx_init(&bc, t->m, pool, s, NULL, err,
					    sizeof err) < 0) {
		snprintf(sh->reason, sizeof sh->reason, "%s", s ? "out of memory" : err);
		return 2;
	}
	if (ev->kind == EV_REFERENCE) {
		if (gate_run(s, t, NULL, t->ref_logits, err, sizeof err) < 0)
			goto fail;
		sh->ok = 1;
		return 0;
	}
	if (ev->gate) {
		maybe_fault(t, ev);
		if (bench_apply(&bc, &ev->b, err, sizeof err) < 0 ||
		    gate_run(s, t, sh->ref_tok, logits, err, sizeof err) < 0)
			goto fail;
		if (gate_check(t, logits, &sh->gate_maxdiff, sh->reason,
			       sizeof sh->reason)) {
			sh->rejected = 1;
			sh->ok = 1;
			return 0;
		}
	}
	bench_spec_defaults(&sp);
	sp.prompt = t->prompt;
	sp.n_prompt = t->n_prompt;
	sp.n_gen = t->o->n_gen;
	/* a final's budget: 45% vs default, 35% vs all-scalar, the rest for
	 * the two profiles */
	sp.budget_ms = ev->kind == EV_FINAL ? ev->budget_ms * 0.45 : ev->budget_ms;
	sp.prof_mask = ev->mask;
	/* 6 pairs: the fewest at which an exact Mann-Whitney p can pass a
	 * Bonferroni level of 0.05 / 14 candidates */
	sp.min_reps = ev->kind == EV_FINAL ? 4 : 6;
	sp.alpha = ev->alpha;
	/* a candidate that is clearly faster or slower than the margin is
	 * decided as soon as that is significant (a scalar candidate need
	 * not be sampled until its CI is 2% wide) */
	sp.decide_margin = ev->kind == EV_COMPARE ? 2 * MARGIN : 0;
	const enum bench_kind kind = ev->phase == PHASE_PROMPT ? ROW_PP : ROW_TG;
	if (bench_ab_run(&bc, kind, &sp, &ev->a, &ev->b, &sh->ab, err,
			 sizeof err) < 0)
		goto fail;
	if (ev->kind == EV_FINAL) {
		struct bench_setup sc = { ev->scalar, ev->b.threads, 0 };
		double ovh;
		sp.budget_ms = ev->budget_ms * 0.35;
		if (bench_ab_run(&bc, kind, &sp, &sc, &ev->b, &sh->ab2, err,
				 sizeof err) < 0 ||
		    bench_apply(&bc, &ev->a, err, sizeof err) < 0 ||
		    bench_profile(&bc, kind, &sp, 3, &sh->prof_a, &ovh, err,
				  sizeof err) < 0 ||
		    bench_apply(&bc, &ev->b, err, sizeof err) < 0 ||
		    bench_profile(&bc, kind, &sp, 3, &sh->prof_b, &ovh, err,
				  sizeof err) < 0)
			goto fail;
	}
	sh->ok = 1;
	return 0;
fail:
	snprintf(sh->reason, sizeof sh->reason, "%s", err);
	return 2;
}

/* Forks a child for ev and waits for it at most timeout_s.  Returns the
 * verdict class: TV_FINAL (it finished: read t->sh), TV_CRASHED (killed
 * by a signal, or exited without a result: an abort handler, a
 * sanitizer, an allocation failure), TV_HUNG, with the reason in why; -1
 * if it could not be started.  The child dies with its parent. */
static int run_child(struct tuner *t, const struct eval *ev, double timeout_s,
		     char *why, size_t cap)
{
	const size_t keep = offsetof(struct shm, n_ref);
	const pid_t parent = getpid();
	pid_t pid;
	int st;

	memset(t->sh, 0, keep);	/* the reference part stays */
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		snprintf(why, cap, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		/* a SIGKILLed tune must not leave evaluations running */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(3);
		_exit(child_eval(t, ev));
	}
	const double deadline = now_ms() + timeout_s * 1e3;
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			snprintf(why, cap, "waitpid: %s", strerror(errno));
			return -1;
		}
		if (now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			snprintf(why, cap, "no result after %.3g s: killed", timeout_s);
			return TV_HUNG;
		}
		usleep(2000);
	}
	if (WIFSIGNALED(st)) {
		snprintf(why, cap, "died of signal %d (%s)", WTERMSIG(st),
			 strsignal(WTERMSIG(st)));
		return TV_CRASHED;
	}
	if (!t->sh->ok) {
		snprintf(why, cap, "exited with status %d: %.200s", WEXITSTATUS(st),
			 t->sh->reason[0] ? t->sh->reason :
			 "no result (an abort handler or a sanitizer?)");
		return TV_CRASHED;
	}
	return TV_FINAL;
}

/* --- the log (--resume) -------------------------------------------------- */

/* FNV-1a of s, then of a 0xff separator (not a byte of any string). */
static uint64_t fnv(uint64_t h, const char *s)
{
	return fnv1a64(fnv1a64(h, s, strlen(s)), "\xff", 1);
}

static uint64_t setup_hash(uint64_t h, const struct bench_setup *su)
{
	char buf[32];

	for (int op = 0; op < OP_COUNT; op++)
		h = fnv(h, su->k->v[op]->name);
	snprintf(buf, sizeof buf, "%d/%d", su->threads, su->scratch);
	return fnv(h, buf);
}

static void eval_key(const struct tuner *t, const struct eval *ev, char *out,
		     size_t cap)
{
	char buf[64];
	uint64_t h = FNV64_OFFSET;

	h = fnv(h, t->machine_key);
	h = fnv(h, t->model_hash);
	h = fnv(h, t->o->git_rev);
	snprintf(buf, sizeof buf, "%d/%d/%d/%d", ev->phase, t->n_prompt,
		 t->o->n_gen, t->pin);
	h = fnv(h, buf);
	h = setup_hash(h, &ev->a);
	h = setup_hash(h, &ev->b);
	snprintf(out, cap, "%016llx", (unsigned long long)h);
}

json_t *tune_log_load(const char *path)
{
	char err[512];
	FILE *f = file_fopen_read(path, err, sizeof err);
	json_t *log = json_object();
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f || !log)
		goto out;
	while ((n = getline(&line, &cap, f)) > 0) {
		json_t *j;
		if (line[n - 1] != '\n' || !(j = json_loads(line, 0, NULL)))
			continue;	/* a torn line of a killed run */
		const char *k = json_string_value(json_object_get(j, "key"));
		const char *sc = json_string_value(json_object_get(j, "schema"));
		if (k && sc && !strcmp(sc, LOG_SCHEMA))
			json_object_set(log, k, j);
		json_decref(j);
	}
out:
	free(line);
	if (f)
		fclose(f);
	return log;
}

static json_t *decision_json(const struct tune_decision *d, const char *key)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:f,s:f,s:f,s:f,s:f,"
			 "s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:i}",
			 "schema", LOG_SCHEMA, "key", key,
			 "phase", phase_name(d->phase),
			 "op", d->op >= 0 ? kernel_ops[d->op].name : d->op == -1 ?
			 "threads" : d->op == -2 ? "final" : "round",
			 "incumbent", d->incumbent, "candidate", d->candidate,
			 "verdict", tune_verdict_name(d->verdict), "reason", d->reason,
			 "ms_a", d->ms_a, "ms_b", d->ms_b, "ratio", d->ratio,
			 "lo", d->lo, "hi", d->hi, "p", d->p, "op_a", d->op_a,
			 "op_b", d->op_b, "op_ratio", d->op_ratio,
			 "op_lo", d->op_lo, "op_hi", d->op_hi,
			 "gate_maxdiff", d->gate_maxdiff, "n", d->n);
}

/* Appends d to the log under key (not after SIGINT: the run's lines end
 * where it stopped).  0, or -1 with a message. */
static int log_decision(const struct tuner *t, const struct tune_decision *d,
			const char *key, char *err, size_t errlen)
{
	json_t *j = decision_json(d, key);
	int rc = interrupted ? 0 : results_append(t->o->log_path, j, err, errlen);

	json_decref(j);
	return rc;
}

static int decision_from_log(const json_t *j, struct tune_decision *d)
{
	const char *v = json_string_value(json_object_get(j, "verdict"));
	const char *r = json_string_value(json_object_get(j, "reason"));
	int i;

	for (i = 0; i <= TV_FINAL; i++)
		if (v && !strcmp(v, verdict_names[i]))
			break;
	if (i > TV_FINAL || i == TV_SKIPPED)
		return -1;
	d->verdict = (enum tune_verdict)i;
	snprintf(d->reason, sizeof d->reason, "%s", r ? r : "");
#define NUM(f) d->f = json_number_value(json_object_get(j, #f))
	NUM(ms_a); NUM(ms_b); NUM(ratio); NUM(lo); NUM(hi); NUM(p);
	NUM(op_a); NUM(op_b); NUM(op_ratio); NUM(op_lo); NUM(op_hi);
	NUM(gate_maxdiff);
#undef NUM
	d->n = (int)json_integer_value(json_object_get(j, "n"));
	d->from_log = 1;
	return 0;
}

/* --- decisions ----------------------------------------------------------- */

static void fill_numbers(struct tune_decision *d, const struct bench_ab *ab,
			 double gate_maxdiff)
{
	d->ms_a = ab->a.st.median;
	d->ms_b = ab->b.st.median;
	d->ratio = ab->ratio;
	d->lo = ab->ratio_lo;
	d->hi = ab->ratio_hi;
	d->p = ab->p;
	d->op_a = stats_median(ab->a.op_ms, ab->a.n);
	d->op_b = stats_median(ab->b.op_ms, ab->b.n);
	d->op_ratio = ab->op_ratio;
	d->op_lo = ab->op_lo;
	d->op_hi = ab->op_hi;
	d->op_p = ab->op_p;
	d->n = ab->a.n;
	d->gate_maxdiff = gate_maxdiff;
}

/* The verdict on measured numbers: an op candidate must make its op's own
 * in-situ time faster by the margin with significance, and must not make
 * the pass significantly slower; a thread count must make the pass
 * faster by the margin with significance. */
static void judge(struct tune_decision *d, const struct bench_ab *ab,
		  double alpha)
{
	const char *unit = d->phase == PHASE_PROMPT ? "ms" : "ms/token";

	if (d->op >= 0 && ab->op_ratio > 0) {	/* the op's rows were timed */
		const int faster = ab->op_p < alpha && ab->op_hi < 1 - MARGIN / 2 &&
				   ab->op_ratio < 1 - MARGIN;
		const int pass_worse = ab->significant && ab->ratio > 1;
		d->verdict = faster && !pass_worse ? TV_WIN : TV_KEEP;
		snprintf(d->reason, sizeof d->reason, "op %.4f -> %.4f %s (x%.3f "
			 "[%.3f, %.3f], p=%.2g); pass %.3f -> %.3f (x%.3f "
			 "[%.3f, %.3f], p=%.2g); n=%d%s", d->op_a, d->op_b, unit,
			 d->op_ratio, d->op_lo, d->op_hi, d->op_p, d->ms_a, d->ms_b,
			 d->ratio, d->lo, d->hi, d->p, d->n,
			 pass_worse ? "; pass slower" : "");
	} else {
		d->verdict = ab->p < alpha && ab->ratio_hi < 1 &&
			     ab->ratio < 1 - MARGIN ? TV_WIN : TV_KEEP;
		snprintf(d->reason, sizeof d->reason, "pass %.3f -> %.3f %s (x%.3f "
			 "[%.3f, %.3f], p=%.2g); n=%d", d->ms_a, d->ms_b, unit,
			 d->ratio, d->lo, d->hi, d->p, d->n);
	}
}

/* Evaluates ev (from the log when resuming), filling d; appends it to
 * the log.  Returns 0, or -1 on a failure of the machinery itself. */
static int evaluate(struct tuner *t, const struct eval *ev,
		    struct tune_decision *d, char *err, size_t errlen)
{
	char key[24];
	const json_t *old;
	int rc;

	eval_key(t, ev, key, sizeof key);
	if (t->o->resume && (old = json_object_get(t->log, key)) &&
	    decision_from_log(old, d) == 0)
		return 0;
	const double timeout = t->o->timeout_s > 0 ? t->o->timeout_s :
		30 + 4 * ev->budget_ms / 1e3;
	rc = run_child(t, ev, timeout, d->reason, sizeof d->reason);
	if (rc < 0) {
		snprintf(err, errlen, "%s/%s: %s", phase_name(d->phase),
			 d->candidate, d->reason);
		return -1;
	}
	if (rc == TV_CRASHED || rc == TV_HUNG) {
		d->verdict = (enum tune_verdict)rc;
	} else if (t->sh->rejected) {
		d->verdict = TV_REJECTED;
		d->gate_maxdiff = t->sh->gate_maxdiff;
		snprintf(d->reason, sizeof d->reason, "%s", t->sh->reason);
	} else {
		fill_numbers(d, &t->sh->ab, t->sh->gate_maxdiff);
		judge(d, &t->sh->ab, ev->alpha);
	}
	return log_decision(t, d, key, err, errlen);
}

/* --- the search ---------------------------------------------------------- */

/* 1 if op is searched: the model calls it and --ops (if given) names it. */
static int op_searched(const struct tuner *t, int op)
{
	return tune_op_used(t->m, op) && (!t->o->ops || (t->o->ops >> op & 1));
}

static int count_candidates(struct tuner *t, const struct kernels *inc)
{
	int n = t->o->max_threads - 1;

	for (int op = 0; op < OP_COUNT; op++) {
		if (!op_searched(t, op))
			continue;
		for (const struct variant *v = kernel_ops[op].variants; v->name; v++)
			n += !variant_unusable(v) && v != inc->v[op];
	}
	return n;
}

/* Prepares the layouts of the sets (the ones no set uses are freed). */
static int prepare(struct tuner *t, const struct kernels *a,
		   const struct kernels *b, char *err, size_t errlen)
{
	const struct kernels *sets[2] = { a, b };
	struct prep_stats ps;

	return model_prepare(t->m, sets, 2, &ps, err, errlen);
}

struct search {
	struct tuner *t;
	tune_report_fn cb;
	void *cb_ctx;
	struct tune_result *r;
	int done, total;	/* evaluations, for the progress line */
	int ph_done, ph_total;	/* the same within the phase being searched */
	double budget_end;	/* now_ms() deadline of the phase being searched */
	/* Amdahl bookkeeping per phase: the default pass time (first
	 * measured), op time saved by wins, product of thread-win ratios */
	double pass0[PHASE_COUNT], saved[PHASE_COUNT], factor[PHASE_COUNT];
};

/* Records a measured decision for the Amdahl prediction. */
static void amdahl_note(struct search *se, const struct tune_decision *d)
{
	if (d->verdict != TV_WIN && d->verdict != TV_KEEP)
		return;
	if (!se->pass0[d->phase])
		se->pass0[d->phase] = d->ms_a;
	if (d->verdict != TV_WIN)
		return;
	if (d->op >= 0)
		/* measured at the thread count of the time: in units of the
		 * default pass, so that the prediction is
		 * (pass0 - saved) * factor */
		se->saved[d->phase] += (d->op_a - d->op_b) / se->factor[d->phase];
	else
		se->factor[d->phase] *= d->ratio;
}

static double remaining_s(const struct search *se)
{
	return (se->budget_end - now_ms()) / 1e3;
}

/* Budget of the next evaluation: what is left of the phase's budget
 * shared by the phase's evaluations that remain. */
static double next_budget_ms(const struct search *se)
{
	const int left = se->ph_total - se->ph_done > 1 ?
			 se->ph_total - se->ph_done : 1;
	const double ms = remaining_s(se) * 1e3 / left;

	return ms > 200 ? ms : 200;
}

static void report(struct search *se, struct tune_decision *d)
{
	const double el = (now_ms() - se->t->t_start) / 1e3;

	amdahl_note(se, d);
	se->ph_done++;
	d->index = ++se->done;
	d->total = se->total > se->done ? se->total : se->done;
	d->eta_s = se->done ? el / se->done * (d->total - se->done) : 0;
	se->r->evaluations++;
	se->r->reused += d->from_log;
	se->r->failed += d->verdict == TV_CRASHED || d->verdict == TV_HUNG ||
			 d->verdict == TV_REJECTED;
	se->r->candidates += d->op != -2 && d->verdict != TV_SKIPPED;
	if (se->cb)
		se->cb(se->cb_ctx, d);
}

/* Tells the callback that d is about to be evaluated (progress). */
static void announce(struct search *se, const struct tune_decision *d)
{
	struct tune_decision st = *d;
	const double el = (now_ms() - se->t->t_start) / 1e3;

	if (!se->cb)
		return;
	st.started = 1;
	st.index = se->done + 1;
	st.total = se->total > st.index ? se->total : st.index;
	st.eta_s = se->done ? el / se->done * (st.total - se->done) : 0;
	se->cb(se->cb_ctx, &st);
}

/* Evaluates ev (the incumbent against one candidate), or records it as
 * skipped when the budget is spent, and reports it.  0 (d->verdict says
 * what happened), 1 interrupted, -1 on a failure of the machinery. */
static int consider(struct search *se, struct eval *ev,
		    struct tune_decision *d, char *err, size_t errlen)
{
	if (interrupted)
		return 1;
	if (remaining_s(se) <= 0) {
		d->verdict = TV_SKIPPED;
		snprintf(d->reason, sizeof d->reason, "budget spent");
		report(se, d);
		return 0;
	}
	ev->budget_ms = next_budget_ms(se);
	/* Bonferroni over the phase's candidates: with ~14 comparisons of
	 * near-equal variants, 0.05 each would crown a false winner about
	 * every other round */
	ev->alpha = 0.05 / (se->ph_total > 1 ? se->ph_total : 1);
	announce(se, d);
	if (prepare(se->t, ev->a.k, ev->b.k, err, errlen) < 0 ||
	    evaluate(se->t, ev, d, err, errlen) < 0)
		return -1;
	if (interrupted)
		return 1;
	report(se, d);
	return 0;
}

/* A re-check round (round > 0) whose budget is spent: one line for the
 * rest of it, not one per candidate.  1 if so. */
static int round_spent(struct search *se, enum phase ph, int round)
{
	struct tune_decision d = { .phase = ph, .op = -3, .verdict = TV_SKIPPED };

	if (round == 0 || remaining_s(se) > 0)
		return 0;
	snprintf(d.incumbent, sizeof d.incumbent, "round %d", round + 1);
	snprintf(d.candidate, sizeof d.candidate, "-");
	snprintf(d.reason, sizeof d.reason, "budget spent: the rest of round %d "
		 "(re-checking every op after a change) not run", round + 1);
	report(se, &d);
	return 1;
}

/* One phase: coordinate descent over ops, then threads, until a round
 * changes nothing.  inc/threads hold the incumbent in and the winner out. */
static int search_phase(struct search *se, enum phase ph, struct kernels *inc,
			int *threads, char *err, size_t errlen)
{
	struct tuner *t = se->t;
	int rc;

	se->ph_done = 0;
	se->ph_total = count_candidates(t, inc);
	for (int round = 0; round < t->o->rounds; round++) {
		int changed = 0;
		if (round_spent(se, ph, round))
			break;
		for (int op = 0; op < OP_COUNT; op++) {
			/* variants that lost the incumbency to a winner in this
			 * op's loop (by table index): comparing them again is
			 * the same pair */
			const struct variant *tab = kernel_ops[op].variants;
			unsigned char lost[variant_count(op)];
			memset(lost, 0, sizeof lost);
			if (!op_searched(t, op))
				continue;
			for (const struct variant *v = tab; v->name; v++) {
				if (variant_unusable(v) || v == inc->v[op] ||
				    lost[v - tab])
					continue;
				if (round_spent(se, ph, round))
					return 0;
				struct kernels cand = *inc;
				struct tune_decision d = { .phase = ph, .op = op };
				char fault[64];
				cand.v[op] = v;
				snprintf(d.incumbent, sizeof d.incumbent, "%s",
					 inc->v[op]->name);
				snprintf(d.candidate, sizeof d.candidate, "%s", v->name);
				snprintf(fault, sizeof fault, "%s/%s",
					 kernel_ops[op].name, v->name);
				struct eval ev = { .kind = EV_COMPARE, .phase = ph,
					.a = { inc, *threads, 0 },
					.b = { &cand, *threads, 0 }, .gate = 1,
					.mask = tune_prof_mask(op), .fault = fault };
				if ((rc = consider(se, &ev, &d, err, errlen)))
					return rc;
				if (d.verdict == TV_WIN) {
					lost[inc->v[op] - tab] = 1;
					*inc = cand;
					changed = 1;
				}
			}
		}
		for (int th = 1; th <= t->o->max_threads; th++) {
			if (th == *threads)
				continue;
			if (round_spent(se, ph, round))
				return 0;
			struct tune_decision d = { .phase = ph, .op = -1 };
			snprintf(d.incumbent, sizeof d.incumbent, "%d threads", *threads);
			snprintf(d.candidate, sizeof d.candidate, "%d threads", th);
			/* threads do not change the numerics: no gate */
			struct eval ev = { .kind = EV_COMPARE, .phase = ph,
				.a = { inc, *threads, 0 }, .b = { inc, th, 0 } };
			if ((rc = consider(se, &ev, &d, err, errlen)))
				return rc;
			if (d.verdict == TV_WIN) {
				*threads = th;
				changed = 1;
			}
		}
		if (!changed)
			break;
		if (round + 1 < t->o->rounds) {
			const int more = count_candidates(t, inc);
			se->total += more;
			se->ph_total += more;
		}
	}
	return 0;
}

static json_t *row_summary(const struct bench_row *r)
{
	return json_pack("{s:f,s:f,s:f,s:i}", "median_ms", r->st.median,
			 "ci_lo", r->st.ci_lo, "ci_hi", r->st.ci_hi, "n", r->n);
}

static json_t *final_json(const struct tune_final *f, enum phase ph, int n_tok)
{
	const struct bench_ab *d = &f->vs_default, *s = &f->vs_scalar;

	return json_pack("{s:s,s:i,s:o,s:o,s:o,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f}",
		"unit", ph == PHASE_PROMPT ? "ms/batch" : "ms/token",
		"n_tokens", n_tok,
		"default", row_summary(&d->a), "all_scalar", row_summary(&s->a),
		"tuned", row_summary(&d->b),
		"speedup_vs_default", 1 / d->ratio,
		"speedup_vs_default_ci_lo", 1 / d->ratio_hi,
		"speedup_vs_default_ci_hi", 1 / d->ratio_lo,
		"p_vs_default", d->p,
		"speedup_vs_scalar", 1 / s->ratio,
		"speedup_vs_scalar_ci_lo", 1 / s->ratio_hi,
		"speedup_vs_scalar_ci_hi", 1 / s->ratio_lo,
		"p_vs_scalar", s->p);
}

/* Fingerprints, defaults, the tuning prompt, the shared page the
 * children report through, and the evaluation log.  0, or -1 with a
 * message (tuner_close undoes what was done either way). */
static int tuner_open(struct tuner *t, struct tune_result *r, char *err,
		      size_t errlen)
{
	const struct tune_opts *o = t->o;
	struct machine_fp mfp;
	struct model_fp mdl;

	t->fault_env = getenv("Q8TUNE_TUNE_FAULT");
	t->sh = MAP_FAILED;
	if (machine_fp_get(&mfp, err, errlen) < 0)
		return -1;
	machine_fp_key(&mfp, t->machine_key, sizeof t->machine_key);
	model_fp_get(t->m, &mdl);
	snprintf(t->model_hash, sizeof t->model_hash, "%s", mdl.tensor_hash);
	t->cores = mfp.cores;
	t->pin = o->max_threads <= mfp.cores;
	if (kernels_default(&r->def[PHASE_PROMPT], err, errlen) < 0)
		return -1;
	r->def[PHASE_DECODE] = r->def[PHASE_PROMPT];
	r->def_threads = o->max_threads;
	/* the gate's and the timings' prompt: a fixed text to n_pp tokens */
	t->prompt = prompt_tokens(t->m->tok, "Once upon a time, there was a "
				  "little girl who liked to run in the park with "
				  "her dog.", o->n_pp, &t->n_prompt);
	if (!t->prompt) {
		snprintf(err, errlen, "cannot tokenize the tuning prompt");
		return -1;
	}
	t->sh_bytes = sizeof(struct shm) +
		sizeof(float) * (size_t)(GATE_STEPS + 1) * t->m->hp.n_vocab;
	t->sh = mmap(NULL, t->sh_bytes, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (t->sh == MAP_FAILED) {
		snprintf(err, errlen, "cannot map %zu bytes", t->sh_bytes);
		return -1;
	}
	t->ref_logits = (float *)(t->sh + 1);
	t->log = tune_log_load(t->o->log_path);
	return 0;
}

static void tuner_close(struct tuner *t)
{
	json_decref(t->log);
	if (t->sh != MAP_FAILED)
		munmap(t->sh, t->sh_bytes);
	free(t->prompt);
}

/* The gate's reference logits: every op's reference variant, one
 * thread.  0, or -1 with a message. */
static int reference_logits(struct tuner *t, const struct kernels *scalar,
			    char *err, size_t errlen)
{
	struct eval ref = { .kind = EV_REFERENCE, .phase = PHASE_PROMPT,
			    .a = { scalar, 1, 0 }, .b = { scalar, 1, 0 } };
	char why[256];

	if (prepare(t, scalar, scalar, err, errlen) < 0)
		return -1;
	if (run_child(t, &ref, 600, why, sizeof why) != TV_FINAL) {
		snprintf(err, errlen, "the reference configuration failed: %s", why);
		return -1;
	}
	return 0;
}

/* The search of both phases from the defaults; inc and threads get the
 * winners.  A third of the budget is kept for the final comparisons; the
 * search's two thirds are shared by the phases, so the prompt phase's
 * rounds cannot starve decode.  0, 1 interrupted, -1 failed. */
static int search_all(struct search *se, struct kernels inc[PHASE_COUNT],
		      int threads[PHASE_COUNT], char *err, size_t errlen)
{
	struct tuner *t = se->t;
	const double search_end = t->t_start + t->o->budget_s * 1e3 * 2 / 3;

	for (int ph = 0; ph < PHASE_COUNT; ph++) {
		se->factor[ph] = 1;
		inc[ph] = se->r->def[ph];
		threads[ph] = t->o->max_threads;
		se->total += count_candidates(t, &inc[ph]) + 1;
	}
	for (int ph = 0; ph < PHASE_COUNT; ph++) {
		se->budget_end = now_ms() + (search_end - now_ms()) / (PHASE_COUNT - ph);
		int rc = search_phase(se, ph, &inc[ph], &threads[ph], err, errlen);
		if (rc)
			return rc;
	}
	return 0;
}

/* One phase's final comparison (default vs tuned and all-scalar vs
 * tuned, interleaved in one child) into r->fin[ph], the phase's choices
 * into r->cfg, its measurements into meas.  0, 1 interrupted, -1. */
static int final_phase(struct search *se, enum phase ph,
		       const struct kernels *inc, int threads,
		       const struct kernels *scalar, json_t *meas, char *err,
		       size_t errlen)
{
	struct tuner *t = se->t;
	struct tune_result *r = se->r;
	struct tune_decision d = { .phase = ph, .op = -2, .verdict = TV_FINAL };
	const double left = (se->budget_end - now_ms()) / (PHASE_COUNT - ph);
	struct eval ev = { .kind = EV_FINAL, .phase = ph,
		.a = { &r->def[ph], t->o->max_threads, 0 },
		.b = { inc, threads, 0 }, .scalar = scalar,
		.budget_ms = left > 1000 ? left : 1000 };
	char why[256];

	snprintf(d.incumbent, sizeof d.incumbent, "default");
	snprintf(d.candidate, sizeof d.candidate, "tuned");
	if (prepare(t, &r->def[ph], inc, err, errlen) < 0)
		return -1;
	announce(se, &d);
	int v = run_child(t, &ev, 60 + 4 * ev.budget_ms / 1e3, why, sizeof why);
	if (interrupted)
		return 1;
	if (v != TV_FINAL) {
		snprintf(err, errlen, "final comparison (%s): %s", phase_name(ph),
			 why);
		return -1;
	}
	struct tune_final *f = &r->fin[ph];
	r->predicted_speedup[ph] = se->pass0[ph] > 0 ? se->pass0[ph] /
		((se->pass0[ph] - se->saved[ph]) * se->factor[ph]) : 1;
	f->vs_default = t->sh->ab;
	f->vs_scalar = t->sh->ab2;
	f->prof_default = t->sh->prof_a;
	f->prof_tuned = t->sh->prof_b;
	f->have_prof = 1;
	fill_numbers(&d, &f->vs_default, 0);
	snprintf(d.reason, sizeof d.reason, "tuned/default x%.3f [%.3f, %.3f]; "
		 "tuned/all-scalar x%.4f", d.ratio, d.lo, d.hi, f->vs_scalar.ratio);
	report(se, &d);
	/* logged too, under a key no comparison has: never reused */
	char hex[24], key[32];
	eval_key(t, &ev, hex, sizeof hex);
	snprintf(key, sizeof key, "final-%s", hex);
	if (log_decision(t, &d, key, err, errlen) < 0)
		return -1;
	json_object_set_new(meas, phase_name(ph), final_json(f, ph,
		ph == PHASE_PROMPT ? t->n_prompt : t->o->n_gen));

	struct phase_cfg *pc = &r->cfg.phase[ph];
	pc->threads = threads;
	pc->pin = t->pin && threads <= t->cores ? PIN_CORES : PIN_NONE;
	for (int op = 0; op < OP_COUNT; op++)
		pc->v[op] = inc->v[op];
	return 0;
}

/* The final comparisons of both phases and the config they make.  0, 1
 * interrupted, -1 failed (r->cfg is then freed). */
static int finish(struct search *se, const struct kernels inc[PHASE_COUNT],
		  const int threads[PHASE_COUNT], const struct kernels *scalar,
		  char *err, size_t errlen)
{
	const struct tune_opts *o = se->t->o;
	struct tune_result *r = se->r;
	json_t *meas;
	int rc = 0;

	se->budget_end = se->t->t_start + o->budget_s * 1e3;
	if (config_init(&r->cfg, se->t->m, err, errlen) < 0)
		return -1;
	snprintf(r->cfg.tool, sizeof r->cfg.tool, "tune");
	snprintf(r->cfg.git_rev, sizeof r->cfg.git_rev, "%s", o->git_rev);
	if (!(meas = json_object())) {
		snprintf(err, errlen, "out of memory");
		rc = -1;
	}
	for (int ph = 0; !rc && ph < PHASE_COUNT; ph++)
		rc = final_phase(se, ph, &inc[ph], threads[ph], scalar, meas, err,
				 errlen);
	if (rc) {
		json_decref(meas);
		config_free(&r->cfg);
		return rc;
	}
	json_object_set_new(meas, "budget_s", json_real(o->budget_s));
	json_object_set_new(meas, "evaluations", json_integer(r->evaluations));
	r->cfg.measurements = meas;
	return 0;
}

int tune_run(struct model *m, const struct tune_opts *o, tune_report_fn cb,
	     void *cb_ctx, struct tune_result *r, char *err, size_t errlen)
{
	struct tuner t = { .m = m, .o = o, .t_start = now_ms() };
	struct search se = { .t = &t, .cb = cb, .cb_ctx = cb_ctx, .r = r };
	struct kernels scalar, inc[PHASE_COUNT];
	int threads[PHASE_COUNT], rc = -1;

	memset(r, 0, sizeof *r);
	interrupted = 0;
	kernels_reference(&scalar);
	if (tuner_open(&t, r, err, errlen) == 0 &&
	    reference_logits(&t, &scalar, err, errlen) == 0) {
		rc = search_all(&se, inc, threads, err, errlen);
		if (rc == 0 && r->candidates > 0 && r->failed == r->candidates) {
			/* nothing was measured: a config would only restate
			 * the defaults as if they had won (e.g. --timeout too
			 * short for any evaluation) */
			snprintf(err, errlen, "every one of the %d evaluations "
				 "failed (crashed, hung or rejected; see above): "
				 "nothing was measured", r->candidates);
			rc = -1;
		}
		if (rc == 0)
			rc = finish(&se, inc, threads, &scalar, err, errlen);
	}
	if (rc == 1 || (rc != 0 && interrupted)) {
		r->interrupted = 1;
		rc = 1;
	}
	r->elapsed_s = (now_ms() - t.t_start) / 1e3;
	tuner_close(&t);
	return rc;
}

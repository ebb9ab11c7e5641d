/* tune - the tuner's front end: the variant listing (--list) and the
 * in-situ search (--model), which writes the best-config file that
 * ./infer --config and ./bench --config read.  Only parses flags and
 * prints: the search is tuning/tune.c, the listing reads kernels/. */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "config.h"
#include "cpu.h"
#include "env.h"
#include "file.h"
#include "gguf.h"
#include "kernels.h"
#include "model.h"
#include "pool.h"
#include "prof.h"
#include "tune.h"

static const char usage[] =
"usage: tune --list [--json]\n"
"       tune -m PATH [-o FILE] [--budget SECONDS] [-t N] [-p N] [-n N]\n"
"            [--rounds R] [--resume] [--log FILE] [--timeout SECONDS]\n"
"            [--ops OP,OP...] [--weights q8_0|native|f32]\n"
"  --list              every op and variant: CPU needs, usable here (or why\n"
"                      not), kind, declared error bound, weight layout\n"
"  --json              with --list: one JSON object\n"
"  -m, --model PATH    tune this model: every usable variant of every op it\n"
"                      calls, gated against the reference logits, timed in\n"
"                      the full pass\n"
"  -o, --out FILE      best-config file (default results/best-config.json),\n"
"                      written atomically at the end\n"
"  --budget S          seconds for the whole search (default 60)\n"
"  -t, --threads N     thread counts tried: 1..N (default: online CPUs)\n"
"  -p, --n-prompt N    prompt-phase batch in tokens (default 16); alias --pp\n"
"  -n, --n-gen N       decode tokens per sample (default 8); alias --gen\n"
"  --rounds R          coordinate-descent rounds at most (default 2)\n"
"  --resume            reuse evaluations already in the log (same machine,\n"
"                      model, build, and the same two configurations)\n"
"  --log FILE          evaluation log (default results/tune-log.jsonl)\n"
"  --timeout S         per-evaluation limit (default 30 s + 4x its time\n"
"                      budget)\n"
"  --ops LIST          search only these ops (e.g. matmul_q8,gelu); the\n"
"                      others keep their default variant\n"
"  --weights MODE      q8_0 (default), native or f32\n"
"  -h, --help          this text\n";

static const char *kind_name(enum variant_kind k)
{
	return k == KIND_REFERENCE ? "reference" :
	       k == KIND_EXACT ? "exact" : "approximate";
}

static json_t *cpu_json(const struct cpu_info *ci)
{
	char f[256], hw[256];

	cpu_features_str(ci->features, f, sizeof f);
	cpu_features_str(ci->hw, hw, sizeof hw);
	return json_pack("{s:s,s:s,s:i,s:i,s:i,s:s,s:s,s:s?}",
			 "vendor", ci->vendor, "brand", ci->brand,
			 "family", ci->family, "model", ci->model,
			 "stepping", ci->stepping, "features", f,
			 "hw_features", hw, "mask", ci->mask_name);
}

static int list(int as_json)
{
	const struct cpu_info *ci = cpu_get();
	json_t *ops = json_array();
	char needs[256];

	if (!as_json) {
		cpu_features_str(ci->features, needs, sizeof needs);
		printf("CPU: %s (%s family %#x model %#x); features: %s%s%s\n\n",
		       ci->brand, ci->vendor, ci->family, ci->model, needs,
		       ci->mask_name ? "; Q8TUNE_CPU_MASK=" : "",
		       ci->mask_name ? ci->mask_name : "");
		printf("%-12s %-20s %-10s %-12s %-9s %s\n", "op", "variant",
		       "usable", "kind", "bound", "needs / layout / why not");
	}
	for (int op = 0; op < OP_COUNT; op++) {
		json_t *vs = json_array();
		for (const struct variant *v = kernel_ops[op].variants; v->name; v++) {
			const char *why = variant_unusable(v);
			cpu_features_str(v->needs, needs, sizeof needs);
			if (as_json) {
				json_t *e = json_pack("{s:s,s:s,s:b,s:s,s:f,s:b}",
					"name", v->name, "needs", needs,
					"usable", why == NULL, "kind", kind_name(v->kind),
					"err_bound", v->err_bound, "fits", v->fits != NULL);
				if (why)
					json_object_set_new(e, "why_not", json_string(why));
				if (v->prep)
					json_object_set_new(e, "layout", json_pack("{s:s,s:i}",
						"name", v->prep->layout,
						"row_align", v->prep->row_align));
				json_array_append_new(vs, e);
				continue;
			}
			char bound[16] = "-";
			if (v->kind == KIND_APPROX)
				snprintf(bound, sizeof bound, "%.2g", v->err_bound);
			printf("%-12s %-20s %-10s %-12s %-9s %s%s%s%s%s\n",
			       kernel_ops[op].name, v->name, why ? "no" : "yes",
			       kind_name(v->kind), bound, *needs ? needs : "(any x86-64)",
			       v->prep ? "; layout " : "", v->prep ? v->prep->layout : "",
			       why ? "; " : "", why ? why : "");
		}
		if (as_json)
			json_array_append_new(ops, json_pack("{s:s,s:o}", "op",
				kernel_ops[op].name, "variants", vs));
		else
			json_decref(vs);
	}
	if (as_json) {
		json_t *root = json_pack("{s:o,s:o}", "cpu", cpu_json(ci), "ops", ops);
		json_dumpf(root, stdout, JSON_INDENT(1));
		putchar('\n');
		json_decref(root);
	} else {
		json_decref(ops);
	}
	return 0;
}

/* --- the search --------------------------------------------------------- */

struct printer {
	int tty;		/* stderr is a terminal: progress lines */
};

static void on_decision(void *ctx, const struct tune_decision *d)
{
	const struct printer *pr = ctx;
	const char *op = d->op >= 0 ? kernel_ops[d->op].name :
			 d->op == -1 ? "threads" : d->op == -2 ? "final" : "search";

	if (d->started) {
		if (pr->tty)
			fprintf(stderr, "\r\033[Ktune: [%s] %s: %s vs %s (%d/%d, "
				"ETA %.0f s)", phase_name(d->phase), op,
				d->incumbent, d->candidate, d->index, d->total,
				d->eta_s);
		return;
	}
	if (pr->tty)
		fprintf(stderr, "\r\033[K");
	printf("[%s] %-10s %-20s vs %-20s %-8s %s%s\n", phase_name(d->phase),
	       op, d->incumbent, d->candidate, tune_verdict_name(d->verdict),
	       d->reason, d->from_log ? " (from the log)" : "");
	fflush(stdout);
}

static void print_report(struct model *m, const struct tune_result *r)
{
	for (int ph = 0; ph < PHASE_COUNT; ph++) {
		const struct tune_final *f = &r->fin[ph];
		const struct phase_cfg *pc = &r->cfg.phase[ph];
		const char *unit = ph == PHASE_PROMPT ? "ms/batch" : "ms/token";

		printf("\n%s phase (%d tokens %s): threads %d -> %d, pin %s\n",
		       phase_name(ph), f->vs_default.a.n_tokens,
		       ph == PHASE_PROMPT ? "per batch" : "per sample",
		       r->def_threads, pc->threads, pc->pin ? "cores" : "none");
		printf("%-12s %-20s %-20s %12s %12s %8s  %s\n", "op", "default",
		       "tuned", "default ms", "tuned ms", "speedup",
		       "timed as (profile rows)");
		for (int op = 0; op < OP_COUNT; op++) {
			if (!tune_op_used(m, op))
				continue;
			const unsigned mask = tune_prof_mask(op);
			const double a = prof_ms(&f->prof_default, mask);
			const double b = prof_ms(&f->prof_tuned, mask);
			char rows[128] = "";
			size_t used = 0;
			for (int i = 0; i < PROF_COUNT && used < sizeof rows; i++)
				if (mask & (1u << i))
					used += (size_t)snprintf(rows + used,
						sizeof rows - used, "%s%s",
						used ? "+" : "", prof_op_name(i));
			printf("%-12s %-20s %-20s %12.4f %12.4f %7.2fx  %s\n",
			       kernel_ops[op].name, r->def[ph].v[op]->name,
			       pc->v[op]->name, a, b, b > 0 ? a / b : 0, rows);
		}
		const struct bench_ab *d = &f->vs_default, *s = &f->vs_scalar;
		printf("end to end (%s, interleaved in one child, n=%d/%d):\n"
		       "  default    %10.3f [%.3f, %.3f]\n"
		       "  tuned      %10.3f [%.3f, %.3f]\n"
		       "  all-scalar %10.3f [%.3f, %.3f]\n"
		       "  tuned vs default:    %.3fx [%.3f, %.3f] 95%% CI, p=%.2g\n"
		       "  tuned vs all-scalar: %.2fx [%.2f, %.2f] 95%% CI, p=%.2g\n"
		       "  Amdahl: per-op gains of the search predict %.3fx; "
		       "measured %.3fx\n", unit, d->a.n, s->a.n,
		       d->a.st.median, d->a.st.ci_lo, d->a.st.ci_hi,
		       d->b.st.median, d->b.st.ci_lo, d->b.st.ci_hi,
		       s->a.st.median, s->a.st.ci_lo, s->a.st.ci_hi,
		       1 / d->ratio, 1 / d->ratio_hi, 1 / d->ratio_lo, d->p,
		       1 / s->ratio, 1 / s->ratio_hi, 1 / s->ratio_lo, s->p,
		       r->predicted_speedup[ph], 1 / d->ratio);
	}
}

static void on_sigint(int sig)
{
	(void)sig;
	tune_interrupt();
}

/* "matmul_q8,gelu" -> a mask of op ids; -1 with a message in c->err on
 * an unknown name. */
static int parse_ops(struct cli *c, uint32_t *mask)
{
	const char *list = c->val;
	char buf[256];

	snprintf(buf, sizeof buf, "%s", list);
	*mask = 0;
	for (char *save, *t = strtok_r(buf, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		int op = 0;
		while (op < OP_COUNT && strcmp(kernel_ops[op].name, t))
			op++;
		if (op == OP_COUNT) {
			snprintf(c->err, sizeof c->err, "%s: no op '%s' (see --list)",
				 c->flag, t);
			return -1;
		}
		*mask |= 1u << op;
	}
	if (!*mask) {
		snprintf(c->err, sizeof c->err, "%s: empty list", c->flag);
		return -1;
	}
	return 0;
}

/* What the flags ask for: a listing or a search. */
struct args {
	int list, json;
	struct tune_opts o;
	const char *out;
	enum weights_mode wmode;
};

enum {
	OPT_LIST = 1, OPT_JSON, OPT_MODEL, OPT_OUT, OPT_BUDGET, OPT_THREADS,
	OPT_PP, OPT_GEN, OPT_ROUNDS, OPT_RESUME, OPT_LOG, OPT_TIMEOUT,
	OPT_WEIGHTS, OPT_OPS, OPT_HELP,
};

static const struct cli_flag flags[] = {
	{ "list", 0, 0, OPT_LIST }, { "json", 0, 0, OPT_JSON },
	{ "model", 'm', 1, OPT_MODEL }, { "out", 'o', 1, OPT_OUT },
	{ "budget", 0, 1, OPT_BUDGET }, { "threads", 't', 1, OPT_THREADS },
	{ "n-prompt", 'p', 1, OPT_PP }, { "pp", 0, 1, OPT_PP },
	{ "n-gen", 'n', 1, OPT_GEN }, { "gen", 0, 1, OPT_GEN },
	{ "rounds", 0, 1, OPT_ROUNDS }, { "resume", 0, 0, OPT_RESUME },
	{ "log", 0, 1, OPT_LOG }, { "timeout", 0, 1, OPT_TIMEOUT },
	{ "weights", 0, 1, OPT_WEIGHTS }, { "ops", 0, 1, OPT_OPS },
	{ "help", 'h', 0, OPT_HELP }, { 0 }
};

/* One flag into a; 0, or -1 with the message in c->err. */
static int take_flag(struct cli *c, int id, void *ctx)
{
	struct args *a = ctx;
	struct tune_opts *o = &a->o;

	switch (id) {
	case OPT_LIST: a->list = 1; return 0;
	case OPT_JSON: a->json = 1; return 0;
	case OPT_MODEL: o->model_path = c->val; return 0;
	case OPT_OUT: a->out = c->val; return 0;
	case OPT_BUDGET: return cli_get_double(c, 1e-3, 1e7, &o->budget_s);
	case OPT_THREADS: return cli_get_int(c, 1, TUNE_MAX_THREADS, &o->max_threads);
	case OPT_PP: return cli_get_int(c, 1, 1 << 20, &o->n_pp);
	case OPT_GEN: return cli_get_int(c, 1, 1 << 20, &o->n_gen);
	case OPT_ROUNDS: return cli_get_int(c, 1, 1000, &o->rounds);
	case OPT_RESUME: o->resume = 1; return 0;
	case OPT_LOG: o->log_path = c->val; return 0;
	case OPT_TIMEOUT: return cli_get_double(c, 1e-3, 1e7, &o->timeout_s);
	case OPT_OPS: return parse_ops(c, &o->ops);
	case OPT_WEIGHTS:
		if (weights_mode_parse(c->val, &a->wmode) == 0)
			return 0;
		snprintf(c->err, sizeof c->err, "--weights: '%s' is not q8_0, "
			 "native or f32", c->val);
		return -1;
	}
	fputs(usage, stdout);	/* OPT_HELP */
	exit(0);
}

/* The flags into a.  0, or 1 (printed). */
static int parse_args(int argc, char **argv, struct args *a)
{
	tune_opts_defaults(&a->o);
	a->out = "results/best-config.json";
	a->wmode = WEIGHTS_Q8_0;
	if (cli_parse(argc, argv, flags, take_flag, a))
		return 1;
	if (a->list && a->o.model_path)
		return cli_die("--list or --model PATH, not both (see --help)");
	if (!a->list && !a->o.model_path)
		return cli_die("nothing to do: --list or --model PATH (see --help)");
	if (a->json && !a->list)
		return cli_die("--json goes with --list");
	return 0;
}

/* --model: the search, its report and the config it writes. */
static int search(struct args *a)
{
	struct tune_opts o = a->o;
	struct tune_result r;
	struct env_info env;
	struct model *m = NULL;
	struct printer pr = { isatty(2) };
	const char *out = a->out;
	const enum weights_mode wmode = a->wmode;
	char err[1024];
	int rc;

	if (env_collect(&env, err, sizeof err) < 0) {
		fprintf(stderr, "tune: %s\n", err);
		return 1;
	}
	/* one tune per log and per config file at a time: two would time on
	 * the same cores and corrupt each other's measurements.  The locks
	 * are held until exit. */
	if (file_check_target(out, err, sizeof err) < 0 ||
	    file_check_target(o.log_path, err, sizeof err) < 0 ||
	    file_lock(o.log_path, err, sizeof err) < 0 ||
	    (strcmp(out, o.log_path) && file_lock(out, err, sizeof err) < 0)) {
		fprintf(stderr, "tune: %s\n", err);
		return 1;
	}
	o.git_rev = env.git_rev;
	if (model_load(o.model_path, wmode, &m, err, sizeof err) < 0) {
		fprintf(stderr, "tune: %s\n", err);
		return 1;
	}
	printf("tune: %s (%s, %d layers, n_embd %d) on %s, %s; budget %.0f s, "
	       "threads 1..%d, pp %d tokens, decode %d tokens per sample\n",
	       o.model_path, arch_name(m->hp.arch), m->hp.n_layer, m->hp.n_embd,
	       env.m.brand, env.hwloc_summary, o.budget_s, o.max_threads, o.n_pp,
	       o.n_gen);
	if (o.max_threads > pool_cpus_available())
		printf("tune: warning: up to %d threads on %d CPUs: the counts "
		       "above %d share CPUs\n", o.max_threads, pool_cpus_available(),
		       pool_cpus_available());
	fflush(stdout);
	signal(SIGINT, on_sigint);
	rc = tune_run(m, &o, on_decision, &pr, &r, err, sizeof err);
	signal(SIGINT, SIG_DFL);
	if (pr.tty)
		fprintf(stderr, "\r\033[K");
	if (rc == 1) {
		fprintf(stderr, "tune: interrupted after %d evaluations; %s is "
			"unchanged; --resume continues from %s\n", r.evaluations,
			out, o.log_path);
		model_free(m);
		return 130;
	}
	if (rc < 0) {
		fprintf(stderr, "tune: %s\n", err);
		model_free(m);
		return 1;
	}
	print_report(m, &r);
	if (config_write(out, &r.cfg, err, sizeof err) < 0) {
		fprintf(stderr, "tune: %s\n", err);
		config_free(&r.cfg);
		model_free(m);
		return 1;
	}
	printf("\n%d evaluations (%d from the log, %d failed or rejected) in "
	       "%.1f s\nwrote %s\nrun it: ./infer --model %s --config %s\n",
	       r.evaluations, r.reused, r.failed, r.elapsed_s, out,
	       o.model_path, out);
	config_free(&r.cfg);
	model_free(m);
	return 0;
}

int main(int argc, char **argv)
{
	static struct args a;

	cli_set_prog("tune");
	gguf_guard_sigbus("tune");
	if (parse_args(argc, argv, &a))
		return 1;
	return cli_exit(a.list ? list(a.json) : search(&a));
}

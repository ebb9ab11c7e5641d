/* tune - the tuner's front end: the variant listing (--list) and the
 * in-situ search (--model), which writes the best-config file that
 * ./infer --config and ./bench --config read.  Only parses flags and
 * prints: the search is tuning/tune.c, the listing reads kernels/. */
#include <errno.h>
#include <getopt.h>
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
"       tune --model PATH [--out FILE] [--budget SECONDS] [--threads N]\n"
"            [--pp N] [--gen N] [--rounds R] [--resume] [--log FILE]\n"
"            [--timeout SECONDS] [--ops OP,OP...] [--weights q8_0|native|f32]\n"
"  --list      every op and variant: CPU needs, usable here (or why not),\n"
"              kind, declared error bound, weight layout\n"
"  --model     tune this model: every usable variant of every op it calls,\n"
"              gated against the reference logits, timed in the full pass\n"
"  --out       best-config file (default results/best-config.json), written\n"
"              atomically at the end\n"
"  --budget    seconds for the whole search (default 60)\n"
"  --threads   thread counts tried: 1..N (default: online CPUs)\n"
"  --pp N      prompt-phase batch in tokens (default 16)\n"
"  --gen N     decode tokens per sample (default 8)\n"
"  --rounds R  coordinate-descent rounds at most (default 2)\n"
"  --resume    reuse evaluations already in the log (same machine, model,\n"
"              build, and the same two configurations)\n"
"  --log FILE  evaluation log (default results/tune-log.jsonl)\n"
"  --timeout S per-evaluation limit (default 30 s + 4x its time budget)\n"
"  --ops LIST  search only these ops (e.g. matmul_q8,gelu); the others keep\n"
"              their default variant\n";

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

/* "matmul_q8,gelu" -> a mask of op ids; -1 (message printed) on an
 * unknown name. */
static int parse_ops(const char *list, uint32_t *mask)
{
	char buf[256];

	snprintf(buf, sizeof buf, "%s", list);
	*mask = 0;
	for (char *save, *t = strtok_r(buf, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		int op = 0;
		while (op < OP_COUNT && strcmp(kernel_ops[op].name, t))
			op++;
		if (op == OP_COUNT) {
			fprintf(stderr, "tune: --ops: no op '%s' (see --list)\n", t);
			return -1;
		}
		*mask |= 1u << op;
	}
	if (!*mask) {
		fprintf(stderr, "tune: --ops: empty list\n");
		return -1;
	}
	return 0;
}

/* The flags of a search into o, *out and *wmode.  0, or 1 (printed). */
static int search_args(int argc, char **argv, struct tune_opts *o,
		       const char **out, enum weights_mode *wmode)
{
	static const struct option lo[] = {
		{ "model", 1, 0, 'm' }, { "out", 1, 0, 'o' },
		{ "budget", 1, 0, 'b' }, { "threads", 1, 0, 't' },
		{ "pp", 1, 0, 'p' }, { "gen", 1, 0, 'g' },
		{ "rounds", 1, 0, 'r' }, { "resume", 0, 0, 'R' },
		{ "log", 1, 0, 'l' }, { "timeout", 1, 0, 'T' },
		{ "weights", 1, 0, 'w' }, { "ops", 1, 0, 'O' }, { 0 }
	};
	char err[256];
	int c;

	optind = 1;
	opterr = 0;	/* one line of our own instead of getopt's */
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		int bad = 0;
		if (c == '?') {
			fprintf(stderr, "tune: unknown option or missing value: "
				"'%s' (see --help)\n", argv[optind - 1]);
			return 1;
		}
		switch (c) {
		case 'm': o->model_path = optarg; break;
		case 'o': *out = optarg; break;
		case 'b':
			bad = cli_double("--budget", optarg, 1e-3, 1e7, &o->budget_s,
					 err, sizeof err);
			break;
		case 't':
			bad = cli_int("--threads", optarg, 1, TUNE_MAX_THREADS,
				      &o->max_threads, err, sizeof err);
			break;
		case 'p': bad = cli_int("--pp", optarg, 1, 1 << 20, &o->n_pp, err, sizeof err); break;
		case 'g': bad = cli_int("--gen", optarg, 1, 1 << 20, &o->n_gen, err, sizeof err); break;
		case 'r': bad = cli_int("--rounds", optarg, 1, 1000, &o->rounds, err, sizeof err); break;
		case 'R': o->resume = 1; break;
		case 'l': o->log_path = optarg; break;
		case 'T':
			bad = cli_double("--timeout", optarg, 1e-3, 1e7,
					 &o->timeout_s, err, sizeof err);
			break;
		case 'O':
			if (parse_ops(optarg, &o->ops) < 0)
				return 1;
			break;
		case 'w':
			if (weights_mode_parse(optarg, wmode) < 0) {
				fprintf(stderr, "tune: --weights: '%s' is not q8_0, "
					"native or f32\n", optarg);
				return 1;
			}
			break;
		}
		if (bad) {
			fprintf(stderr, "tune: %s\n", err);
			return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tune: unexpected argument '%s' (see --help)\n",
			argv[optind]);
		return 1;
	}
	if (!o->model_path) {
		fprintf(stderr, "tune: --model PATH is required (see --help)\n");
		return 1;
	}
	return 0;
}

/* --model: the search, its report and the config it writes. */
static int search(int argc, char **argv)
{
	struct tune_opts o;
	struct tune_result r;
	struct env_info env;
	struct model *m = NULL;
	struct printer pr = { isatty(2) };
	const char *out = "results/best-config.json";
	enum weights_mode wmode = WEIGHTS_Q8_0;
	char err[1024];
	int rc;

	tune_opts_defaults(&o);
	if (search_args(argc, argv, &o, &out, &wmode))
		return 1;
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
	int do_list = 0, as_json = 0;

	cli_set_prog("tune");
	gguf_guard_sigbus("tune");

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--model") || !strncmp(argv[i], "--model=", 8))
			return cli_exit(search(argc, argv));
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--list")) {
			do_list = 1;
		} else if (!strcmp(argv[i], "--json")) {
			as_json = 1;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage, stdout);
			return 0;
		} else {
			fprintf(stderr, "tune: unknown argument '%s' (see --help)\n",
				argv[i]);
			return 1;
		}
	}
	if (!do_list) {
		fprintf(stderr, "tune: nothing to do: --list or --model PATH "
			"(see --help)\n");
		return 1;
	}
	return cli_exit(list(as_json));
}

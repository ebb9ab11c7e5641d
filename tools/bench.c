/* bench - the forward pass measured in situ: llama-bench-style pp and tg
 * rows with dispersion and confidence intervals, the per-op profile, A/B
 * comparisons, the machine roofline, and one JSON record per run appended
 * to results/runs.jsonl.  Parses flags and prints; the measuring is
 * harness/, the model is model/. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bench.h"
#include "cli.h"
#include "file.h"
#include "clock.h"
#include "config.h"
#include "counters.h"
#include "cpu.h"
#include "env.h"
#include "generate.h"
#include "gguf.h"
#include "model.h"
#include "pool.h"
#include "prof.h"
#include "results.h"
#include "roofline.h"

static const char usage[] =
"usage: bench --model PATH [--config FILE] [-p TEXT | --pp N[,N...]]\n"
"             [--gen N[,N...]] [--reps R] [--threads T[,T...]] [--pin none|cores]\n"
"             [-o table|md|csv|json]\n"
"             [--profile] [--roofline] [--ab A B] [--budget SECONDS]\n"
"             [--weights q8_0|native|f32] [--results FILE] [--no-record]\n"
"       bench --roofline [--threads T]\n"
"       bench --csv [FILE]\n"
"  -p TEXT       prompt (BOS prepended); default \"Hello world\"\n"
"  --pp N        a prompt of N tokens instead (the text's tokens repeated)\n"
"  --gen N       decode tokens per tg sample (default 32; 0: no tg row)\n"
"                --pp, --gen and --threads take comma lists (16,64,512):\n"
"                every combination is a row, as in llama-bench; tg rows\n"
"                decode after the first prompt of the list\n"
"  --reps R      at least R samples per row (default 5); more until the\n"
"                95%% CI of the median is within 2%% or the budget is spent\n"
"  --budget S    seconds per row after warm-up (default 10)\n"
"  --threads T   worker threads (default: online CPUs; over a config's)\n"
"  --pin MODE    none, or cores: one worker per physical core (default when\n"
"                threads <= cores)\n"
"  --config FILE a best-config file (./tune): its prompt phase for pp, its\n"
"                decode phase for tg\n"
"  --config-fallback  a bad config is a warning and the defaults run\n"
"  --ab A B      A and B interleaved (A B A B ...); each is a config file or\n"
"                default, scalar (every op's reference) or per_call (default\n"
"                kernels, scratch allocated per call)\n"
"  --profile     per-op table measured inside the pass\n"
"  --roofline    measure bandwidth and int8 peaks, store them in\n"
"                results/roofline.json (keyed by machine)\n"
"  --csv [FILE]  print the CSV view of FILE (default results/runs.jsonl)\n";

enum fmt { FMT_TABLE, FMT_MD, FMT_CSV, FMT_JSON };

#define MAX_SWEEP 16	/* values of one swept flag */

struct opts {
	const char *model, *config, *prompt, *results, *ab[2], *csv;
	int pp[MAX_SWEEP], n_pp;	/* 0 values: the text prompt */
	int gen[MAX_SWEEP], n_gen;
	int thr[MAX_SWEEP], n_thr;	/* 0 values: online CPUs */
	int reps, pin;			/* pin: -1 auto */
	int threads;			/* the pool's: the largest of thr */
	int profile, roofline, record, fallback;
	double budget_s;
	enum fmt fmt;
	enum weights_mode wmode;
};

/* A flag's whole-number value in [lo, 1000000]; 0, or -1 (printed). */
static int parse_int(const char *flag, const char *s, int lo, int *out)
{
	char err[256];

	if (cli_int(flag, s, lo, 1000000, out, err, sizeof err) < 0)
		return cli_die("%s", err), -1;
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "model", 1, 0, 'm' }, { "config", 1, 0, 'c' },
		{ "pp", 1, 0, 'P' }, { "gen", 1, 0, 'g' }, { "reps", 1, 0, 'r' },
		{ "threads", 1, 0, 't' }, { "pin", 1, 0, 'i' },
		{ "profile", 0, 0, 'f' }, { "roofline", 0, 0, 'R' },
		{ "ab", 1, 0, 'a' }, { "budget", 1, 0, 'b' },
		{ "weights", 1, 0, 'w' }, { "results", 1, 0, 'o' + 256 },
		{ "no-record", 0, 0, 'n' }, { "csv", 2, 0, 'C' },
		{ "config-fallback", 0, 0, 'F' }, { "help", 0, 0, 'h' },
		{ 0 }
	};
	static const char *const pins[] = { "none", "cores", NULL };
	static const char *const fmts[] = { "table", "md", "csv", "json", NULL };
	char err[256];
	int c, v;

	opterr = 0;	/* one line of our own instead of getopt's */
	while ((c = getopt_long(argc, argv, "p:o:h", lo, NULL)) != -1) {
		switch (c) {
		case 'm': o->model = optarg; break;
		case 'c': o->config = optarg; break;
		case 'p': o->prompt = optarg; break;
		case 'P':
			if ((o->n_pp = cli_int_list("--pp", optarg, 1, 1 << 16, o->pp,
						    MAX_SWEEP, err, sizeof err)) < 0)
				return cli_die("%s", err), -1;
			break;
		case 'g':
			if ((o->n_gen = cli_int_list("--gen", optarg, 0, 1 << 16, o->gen,
						     MAX_SWEEP, err, sizeof err)) < 0)
				return cli_die("%s", err), -1;
			break;
		case 'r': if (parse_int("--reps", optarg, 1, &o->reps)) return -1; break;
		case 't':
			if ((o->n_thr = cli_int_list("--threads", optarg, 1,
						     ROOF_MAX_THREADS, o->thr, MAX_SWEEP,
						     err, sizeof err)) < 0)
				return cli_die("%s", err), -1;
			for (int i = 0; i < o->n_thr; i++)
				o->threads = o->thr[i] > o->threads ? o->thr[i] : o->threads;
			break;
		case 'b':
			if (parse_int("--budget", optarg, 1, &v))
				return -1;
			o->budget_s = v;
			break;
		case 'i':
			if ((o->pin = cli_choice("--pin", optarg, pins, err,
						 sizeof err)) < 0)
				return cli_die("%s", err), -1;
			break;
		case 'o':
			if ((v = cli_choice("-o", optarg, fmts, err, sizeof err)) < 0)
				return cli_die("%s", err), -1;
			o->fmt = (enum fmt)v;
			break;
		case 'f': o->profile = 1; break;
		case 'R': o->roofline = 1; break;
		case 'a':
			if (optind >= argc)
				return cli_die("--ab needs two arguments: A B"), -1;
			o->ab[0] = optarg;
			o->ab[1] = argv[optind++];
			if (o->ab[0][0] == '-' || o->ab[1][0] == '-')
				return cli_die("--ab needs two setups A B (config files, "
					   "default, scalar or per_call), not '%s'",
					   o->ab[o->ab[0][0] == '-' ? 0 : 1]), -1;
			break;
		case 'w':
			if (weights_mode_parse(optarg, &o->wmode) < 0)
				return cli_die("--weights: '%s' is not q8_0, native or f32",
					   optarg), -1;
			break;
		case 'o' + 256: o->results = optarg; break;
		case 'n': o->record = 0; break;
		case 'C':	/* --csv [FILE]: the file may be the next word */
			if (!optarg && optind < argc && argv[optind][0] != '-')
				optarg = argv[optind++];
			o->csv = optarg ? optarg : "results/runs.jsonl";
			break;
		case 'F': o->fallback = 1; break;
		case 'h': fputs(usage, stdout); exit(0);
		default:
			return cli_die("unknown option or missing value: '%s' "
				   "(see --help)", argv[optind - 1]), -1;
		}
	}
	if (optind < argc)
		return cli_die("unexpected argument '%s' (see --help)", argv[optind]), -1;
	if (!o->model && !o->roofline && !o->csv)
		return cli_die("--model PATH is required (see --help)"), -1;
	if (o->ab[0] && (o->config || o->profile))
		return cli_die("--ab compares its own two setups: drop --config and "
			   "--profile"), -1;
	return 0;
}

/* --- roofline ------------------------------------------------------------ */

static void print_roofline(const struct roofline *r, const char *key)
{
	printf("roofline (%s, %s, measured %s; buffer %.0f MiB)\n", r->cpu, key,
	       r->measured_at, r->buffer_bytes / 1048576.0);
	printf("%-22s", "threads");
	for (int t = 1; t <= r->max_threads; t++)
		printf(" %12d", t);
	printf("\n%-22s", "read bandwidth GB/s");
	for (int t = 1; t <= r->max_threads; t++)
		printf(" %12.1f", r->bw.best[t]);
	putchar('\n');
	for (int i = 0; i < ROOF_NISA; i++) {
		char label[40];
		snprintf(label, sizeof label, "int8 %s GMAC/s", roof_isa_name(i));
		printf("%-22s", label);
		if (!r->isa_ok[i]) {
			printf(" unavailable: %s\n", r->isa_why[i]);
			continue;
		}
		for (int t = 1; t <= r->max_threads; t++)
			printf(" %12.1f", r->peak[i].best[t]);
		putchar('\n');
	}
}

/* --- setups -------------------------------------------------------------- */

/* A named side of the run: kernels for pp and tg, threads, scratch. */
struct side {
	struct run_setup su;	/* su.k[] point at k[] */
	struct kernels k[PHASE_COUNT];
	int has_config;
	struct best_config cfg;
};

static void on_warning(void *ctx, const char *line)
{
	(void)ctx;
	cli_warn("%s", line);
}

static int side_load(struct side *sd, const char *spec, int fallback,
		     const struct model *m, char *err, size_t errlen)
{
	memset(sd, 0, sizeof *sd);
	sd->su.name = spec;
	for (int ph = 0; ph < PHASE_COUNT; ph++)
		sd->su.k[ph] = &sd->k[ph];
	if (!strcmp(spec, "scalar")) {
		kernels_reference(&sd->k[PHASE_PROMPT]);
		kernels_reference(&sd->k[PHASE_DECODE]);
		return 0;
	}
	if (kernels_default(&sd->k[PHASE_PROMPT], err, errlen) < 0)
		return -1;
	sd->k[PHASE_DECODE] = sd->k[PHASE_PROMPT];
	if (!strcmp(spec, "default"))
		return 0;
	if (!strcmp(spec, "per_call")) {
		sd->su.scratch = SCRATCH_PER_CALL;
		return 0;
	}
	int have = config_load(spec, fallback, m, &sd->cfg, sd->k, on_warning,
			       NULL, err, errlen);
	if (have < 0)
		return -1;
	sd->has_config = have;
	for (int ph = 0; have && ph < PHASE_COUNT; ph++)
		sd->su.threads[ph] = sd->cfg.phase[ph].threads;
	return 0;
}

static void setup_of(const struct side *sd, enum bench_kind kind,
		     struct bench_setup *su)
{
	const int ph = kind == ROW_PP ? PHASE_PROMPT : PHASE_DECODE;

	*su = (struct bench_setup){ &sd->k[ph], sd->su.threads[ph],
				    sd->su.scratch };
}

/* --- printing ------------------------------------------------------------ */

static const char *warn_str(unsigned w, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s%s%s", w & BW_CV ? " cv>5%" : "",
		 w & BW_NIVCSW ? " preempted" : "",
		 w & BW_CI ? " ci>target" : "");
	return buf + (*buf == ' ');
}

static void print_rows_header(enum fmt f)
{
	if (f == FMT_CSV)
		puts("test,threads,n,median_ms,mad_ms,ci_lo_ms,ci_hi_ms,cv,tokens_per_s,"
		     "floor_ms,pct_of_floor,warnings");
	else if (f == FMT_MD)
		puts("| test | threads | n | median | MAD | 95% CI of median | t/s | "
		     "floor | % of floor | warnings |\n"
		     "|---|---|---|---|---|---|---|---|---|---|");
	else
		printf("%-8s %7s %5s %12s %9s %23s %10s %10s %8s  %s\n", "test",
		       "threads", "n", "median ms", "MAD", "95% CI of median", "t/s",
		       "floor ms", "% floor", "warnings");
}

static void print_row(enum fmt f, const struct bench_row *r,
		      const struct run_floors *fl, int threads)
{
	char test[32], wbuf[64], ci[48], floor_s[24] = "-", pct_s[24] = "-";
	const char *w = warn_str(r->warn, wbuf, sizeof wbuf);

	bench_row_test(r, test, sizeof test);
	snprintf(ci, sizeof ci, "[%.3f, %.3f]", r->st.ci_lo, r->st.ci_hi);
	if (fl->r) {
		const double floor = row_floor_ms(fl, r, threads);
		snprintf(floor_s, sizeof floor_s, "%.3f", floor);
		snprintf(pct_s, sizeof pct_s, "%.1f%%", 100 * floor / r->st.median);
	}
	if (f == FMT_CSV)
		printf("%s,%d,%d,%.6g,%.6g,%.6g,%.6g,%.4f,%.6g,%s,%s,%s\n", test,
		       threads, r->n, r->st.median, r->st.mad, r->st.ci_lo, r->st.ci_hi,
		       r->st.cv, r->tok_s, fl->r ? floor_s : "",
		       fl->r ? pct_s : "", w);
	else if (f == FMT_MD)
		printf("| %s | %d | %d | %.3f %s | %.3f | %s | %.1f | %s | %s | %s |\n",
		       test, threads, r->n, r->st.median, r->kind == ROW_PP ? "ms" : "ms/tok",
		       r->st.mad, ci, r->tok_s, floor_s, pct_s, w);
	else
		printf("%-8s %7d %5d %12.3f %9.3f %23s %10.1f %10s %8s  %s\n",
		       test, threads, r->n, r->st.median, r->st.mad, ci, r->tok_s, floor_s,
		       pct_s, w);
}

/* The profile table of one row (table and md formats). */
static void print_profile(const char *test, const struct prof *p,
			  double overhead, const struct roofline *roof,
			  int threads)
{
	const double passes = p->passes ? (double)p->passes : 1;
	const double pass_ms = p->pass_ns / passes / 1e6;
	double sum_ns = 0;

	printf("\nprofile %s: %llu profiled passes, %.3f ms per pass; profiling "
	       "overhead %+.1f%% (profiled vs plain samples, interleaved)\n",
	       test, (unsigned long long)p->passes, pass_ms, 100 * overhead);
	printf("%-16s %9s %10s %7s %12s %12s %8s %8s %8s\n", "op", "calls",
	       "ms/pass", "share", "bytes/pass", "MACs/pass", "GB/s",
	       "GMAC/s", "% roof");
	for (int i = 0; i < PROF_COUNT; i++) {
		const struct prof_row *r = &p->r[i];
		char roof_s[16] = "-";

		if (!r->calls)
			continue;
		sum_ns += r->ns;
		if (roof)
			snprintf(roof_s, sizeof roof_s, "%.1f%%",
				 prof_roof_pct(r, roof, threads));
		printf("%-16s %9.0f %10.3f %6.1f%% %12.3g %12.3g %8.2f %8.2f %8s\n",
		       prof_op_name(i), r->calls / passes, r->ns / passes / 1e6,
		       100 * r->ns / p->pass_ns, r->bytes / passes,
		       r->macs / passes, r->bytes / r->ns, r->macs / r->ns, roof_s);
	}
	printf("%-16s %9s %10.3f %6.1f%%  (of the %.3f ms pass; the rest is "
	       "loop and timing overhead)\n", "sum of ops", "",
	       sum_ns / passes / 1e6, 100 * sum_ns / p->pass_ns, pass_ms);
}

static void print_ab(enum fmt f, const struct bench_ab *ab, const char *na,
		     const char *nb)
{
	char test[32];
	const char *verdict = ab->practical ? "different" :
		ab->significant ? "significant but < 1%" : "no difference";

	bench_row_test(&ab->a, test, sizeof test);
	if (f == FMT_CSV) {
		printf("%s,%s,%s,%d,%.6g,%.6g,%.6g,%.6g,%.6g,%.4g,%s\n", test, na, nb,
		       ab->a.n, ab->a.st.median, ab->b.st.median, ab->ratio,
		       ab->ratio_lo, ab->ratio_hi, ab->p, verdict);
		return;
	}
	printf("%-8s A=%s %.3f ms (MAD %.3f) | B=%s %.3f ms (MAD %.3f) | n=%d+%d\n"
	       "         B/A %.4f [%.4f, %.4f] 95%% CI; A/B speedup %.3fx; "
	       "Mann-Whitney p=%.3g: %s\n", test, na, ab->a.st.median,
	       ab->a.st.mad, nb, ab->b.st.median, ab->b.st.mad, ab->a.n, ab->b.n,
	       ab->ratio, ab->ratio_lo, ab->ratio_hi, 1 / ab->ratio, ab->p,
	       verdict);
}

/* --- the run ------------------------------------------------------------- */

static int run_roofline(const struct opts *o, const struct machine_fp *mfp,
			struct roofline *r, char *key, size_t keycap)
{
	char err[512];

	machine_fp_key(mfp, key, keycap);
	/* the key is the machine's, whatever the mask hides: a masked roof
	 * would replace the real one */
	if (cpu_get()->mask_name)
		return cli_die("--roofline: Q8TUNE_CPU_MASK=%s is set; the roofline "
			   "is this machine's and is not measured masked",
			   cpu_get()->mask_name);
	fprintf(stderr, "bench: measuring the roofline at 1..%d threads...\n",
		o->threads);
	if (roofline_measure(r, o->threads, roofline_default_buffer(), 5, err,
			     sizeof err) < 0)
		return cli_die("%s", err);
	if (roofline_save("results/roofline.json", key, r, err, sizeof err) < 0)
		return cli_die("%s", err);
	if (o->fmt != FMT_JSON)
		print_roofline(r, key);
	return 0;
}

/* One row to measure: a kind at a batch size and a thread count (every
 * combination of the --pp, --gen and --threads lists is one). */
struct cell {
	enum bench_kind kind;
	int prompt;		/* index into run.prompt[] */
	int n_gen;		/* tg: tokens per sample */
	int threads;		/* 0: the setup's (a config's, or --threads) */
};

#define MAX_CELLS (MAX_SWEEP * 2 * MAX_SWEEP)

/* Everything one measuring run holds, so main reads as its steps. */
struct run {
	struct opts o;
	struct env_info env;
	char key[MACHINE_FP_KEY_MAX], when[32];
	struct roofline roof;
	struct run_floors fl;
	struct side sides[2];
	int n_sides;
	struct counters *ctr;
	struct model *m;
	struct pool *pool;
	struct session *s;
	struct bench_ctx bc;
	struct bench_spec sp;
	struct prep_stats ps;
	int32_t *prompt[MAX_SWEEP];	/* [0] is also the tg rows' prefix */
	int n_prompt[MAX_SWEEP], n_prompts;
	struct cell cell[MAX_CELLS];
	int n_cells;
	json_t *rows, *profiles, *abs;
};

/* The roofline: measured now (--roofline), or this machine's stored one.
 * 1: stop here (only --roofline asked), 0: go on, -1: failed. */
static int run_floors(struct run *R)
{
	char err[512];

	if (R->o.roofline) {
		if (run_roofline(&R->o, &R->env.m, &R->roof, R->key, sizeof R->key))
			return -1;
		R->fl.r = &R->roof;
		return R->o.model ? 0 : 1;
	}
	int found = roofline_load("results/roofline.json", R->key, &R->roof, err,
				  sizeof err);
	if (found < 0)
		cli_warn("%s", err);
	R->fl.r = found == 1 ? &R->roof : NULL;
	return 0;
}

/* Loads the model and both sides' kernel sets and prepares their
 * weights; raises o.threads to the highest a config asks for. */
static int load_sides(struct run *R, char *err, size_t errlen)
{
	const struct kernels *sets[4];
	int n_sets = 0;

	if (model_load(R->o.model, R->o.wmode, &R->m, err, errlen) < 0)
		return -1;
	R->fl.bytes = (double)model_weight_bytes(R->m);
	R->fl.macs = model_weight_macs(R->m);
	R->n_sides = R->o.ab[0] ? 2 : 1;
	for (int i = 0; i < R->n_sides; i++) {
		const char *spec = R->o.ab[0] ? R->o.ab[i] :
				   R->o.config ? R->o.config : "default";
		if (side_load(&R->sides[i], spec, R->o.fallback, R->m, err,
			      errlen) < 0)
			return -1;
		for (int ph = 0; ph < PHASE_COUNT; ph++) {
			if (R->sides[i].su.threads[ph] > R->o.threads)
				R->o.threads = R->sides[i].su.threads[ph];
			sets[n_sets++] = &R->sides[i].k[ph];
		}
	}
	/* floors need the roof at every thread count a row may run with */
	if (R->fl.r && R->roof.max_threads < R->o.threads)
		R->fl.r = NULL;
	return model_prepare(R->m, sets, n_sets, &R->ps, err, errlen);
}

/* The prompts (the text, or one per --pp value) and the cells: for each
 * thread count, a pp row per prompt and a tg row per --gen value. */
static int plan_cells(struct run *R, char *err, size_t errlen)
{
	const struct opts *o = &R->o;
	const char *text = o->prompt ? o->prompt : "Hello world";
	const int n_thr = o->n_thr ? o->n_thr : 1;

	R->n_prompts = o->n_pp ? o->n_pp : 1;
	for (int i = 0; i < R->n_prompts; i++)
		if (!(R->prompt[i] = prompt_tokens(R->m->tok, text, o->n_pp ?
						   o->pp[i] : 0, &R->n_prompt[i]))) {
			snprintf(err, errlen, "cannot tokenize the prompt");
			return -1;
		}
	for (int t = 0; t < n_thr; t++) {
		const int th = o->n_thr ? o->thr[t] : 0;
		for (int i = 0; i < R->n_prompts; i++)
			R->cell[R->n_cells++] = (struct cell){ ROW_PP, i, 0, th };
		for (int g = 0; g < o->n_gen; g++)
			if (o->gen[g] > 0)
				R->cell[R->n_cells++] = (struct cell){ ROW_TG, 0,
							o->gen[g], th };
	}
	return 0;
}

/* The pool (pinned when asked or when every worker can have a core), a
 * session long enough for every cell, and the bench context. */
static int start_pool(struct run *R, char *err, size_t errlen)
{
	struct opts *o = &R->o;
	int ctx = 0, gen = 0;

	if (plan_cells(R, err, errlen) < 0)
		return -1;
	if (!(R->pool = pool_create(o->threads))) {
		snprintf(err, errlen, "cannot start %d worker threads", o->threads);
		return -1;
	}
	if (o->pin < 0)
		o->pin = o->threads <= R->env.m.cores;
	if (o->pin) {
		int cpus[ROOF_MAX_THREADS];
		int n = env_pin_plan(o->threads, cpus, ROOF_MAX_THREADS, err, errlen);
		if (n >= 0 && n < o->threads)
			snprintf(err, errlen, "fewer usable CPUs than threads");
		if (n < o->threads || pool_pin(R->pool, cpus, err, errlen) < 0) {
			char why[256];
			snprintf(why, sizeof why, "%s", err);
			snprintf(err, errlen, "--pin cores: %s", why);
			return -1;
		}
	}
	if (counters_attach_threads(R->ctr, err, errlen) < 0)
		cli_warn("%s", err);
	for (int i = 0; i < R->n_prompts; i++)
		ctx = R->n_prompt[i] > ctx ? R->n_prompt[i] : ctx;
	for (int g = 0; g < o->n_gen; g++)
		gen = o->gen[g] > gen ? o->gen[g] : gen;
	if (!(R->s = session_create(R->m, ctx + gen + 1, &R->sides[0].k[PHASE_PROMPT],
				    R->pool, err, errlen)))
		return -1;
	if (bench_ctx_init(&R->bc, R->m, R->pool, R->s, R->ctr, err, errlen) < 0)
		return -1;
	bench_spec_defaults(&R->sp);
	R->sp.min_reps = o->reps;
	R->sp.budget_ms = o->budget_s * 1e3;
	return 0;
}

/* The spec, the setup of side sd and the thread count of cell c. */
static int cell_of(const struct run *R, const struct cell *c,
		   const struct side *sd, struct bench_spec *sp,
		   struct bench_setup *su)
{
	*sp = R->sp;
	sp->prompt = R->prompt[c->prompt];
	sp->n_prompt = R->n_prompt[c->prompt];
	sp->n_gen = c->n_gen;
	setup_of(sd, c->kind, su);
	if (c->threads)		/* an explicit --threads wins over a config */
		su->threads = c->threads;
	return su->threads ? su->threads : R->o.threads;
}

/* What the run is about to measure on: on stdout for a person, on stderr
 * when stdout is data. */
static void print_preamble(const struct run *R)
{
	const struct opts *o = &R->o;
	FILE *pre = o->fmt == FMT_TABLE || o->fmt == FMT_MD ? stdout : stderr;

	fprintf(pre, "bench: %s, %d layers, n_embd %d (%s), %s weights; %d threads%s, "
		"pin %s\n", arch_name(R->m->hp.arch), R->m->hp.n_layer,
		R->m->hp.n_embd, o->model, weights_mode_name(o->wmode), o->threads,
		o->n_thr > 1 ? " at most" : "", o->pin ? "cores" : "none");
	fprintf(pre, "cpu: %s; %s\n", R->env.m.brand, R->env.hwloc_summary);
	fprintf(pre, "counters: %s\n", counters_status(R->ctr));
	if (strcmp(R->env.governor, "performance"))
		fprintf(pre, "warning: CPU frequency governor is '%s', not "
			"'performance': clocks may vary\n", R->env.governor);
	if (!R->fl.r)
		fprintf(pre, "roofline: none for this machine at %d threads "
			"(./bench --roofline stores one); floors omitted\n",
			o->threads);
	if (pool_oversubscribed(R->pool))
		fprintf(pre, "warning: %d threads on %d CPUs: the threads share "
			"CPUs; the rows measure that\n", o->threads,
			pool_cpus_available());
	if (R->ps.made)
		fprintf(pre, "repacked %.1f MB of weights in %.1f ms\n",
			R->ps.made / 1e6, R->ps.ms);
}

/* --ab: each cell, A and B interleaved. */
static int measure_ab(struct run *R, char *err, size_t errlen)
{
	const struct opts *o = &R->o;

	if (o->fmt != FMT_JSON && o->fmt != FMT_CSV)
		printf("\nA/B: A=%s, B=%s, interleaved A B A B ...\n", o->ab[0],
		       o->ab[1]);
	for (int i = 0; i < R->n_cells; i++) {
		static struct bench_ab ab;
		struct bench_setup a, b;
		struct bench_spec sp;
		const int th = cell_of(R, &R->cell[i], &R->sides[0], &sp, &a);

		cell_of(R, &R->cell[i], &R->sides[1], &sp, &b);
		if (bench_ab_run(&R->bc, R->cell[i].kind, &sp, &a, &b, &ab, err,
				 errlen) < 0)
			return -1;
		if (o->fmt != FMT_JSON)
			print_ab(o->fmt, &ab, o->ab[0], o->ab[1]);
		json_array_append_new(R->abs, bench_ab_json(&ab, th));
	}
	return 0;
}

/* The rows of one setup, one per cell. */
static int measure_rows(struct run *R, char *err, size_t errlen)
{
	const struct opts *o = &R->o;

	if (o->fmt != FMT_JSON) {
		if (o->fmt != FMT_CSV)
			putchar('\n');
		print_rows_header(o->fmt);
	}
	for (int i = 0; i < R->n_cells; i++) {
		static struct bench_row row;
		struct bench_setup su;
		struct bench_spec sp;
		const int th = cell_of(R, &R->cell[i], &R->sides[0], &sp, &su);

		if (bench_apply(&R->bc, &su, err, errlen) < 0 ||
		    bench_row_run(&R->bc, R->cell[i].kind, &sp, &row, err, errlen) < 0)
			return -1;
		if (o->fmt != FMT_JSON)
			print_row(o->fmt, &row, &R->fl, th);
		json_t *rj = row_json(&row, &R->fl, th);
		if (!rj) {
			snprintf(err, errlen, "cannot build the run record");
			return -1;
		}
		json_array_append_new(R->rows, rj);
	}
	return 0;
}

/* --profile: the per-op profile of each cell. */
static int measure_profiles(struct run *R, char *err, size_t errlen)
{
	const struct opts *o = &R->o;

	for (int i = 0; i < R->n_cells; i++) {
		const struct cell *c = &R->cell[i];
		struct bench_setup su;
		struct bench_spec sp;
		struct prof p;
		double overhead;
		char test[32];
		const int th = cell_of(R, c, &R->sides[0], &sp, &su);

		if (bench_apply(&R->bc, &su, err, errlen) < 0 ||
		    bench_profile(&R->bc, c->kind, &sp, o->reps, &p, &overhead,
				  err, errlen) < 0)
			return -1;
		snprintf(test, sizeof test, "%s%d", c->kind == ROW_PP ? "pp" : "tg",
			 c->kind == ROW_PP ? sp.n_prompt : sp.n_gen);
		if (o->fmt != FMT_JSON)
			print_profile(test, &p, overhead, R->fl.r, th);
		json_array_append_new(R->profiles, profile_json(test, &p, overhead,
								R->fl.r, th));
	}
	return 0;
}

/* The run record: appended to --results, and printed with -o json. */
static int record(struct run *R, char *err, size_t errlen)
{
	int cpu_seen[ROOF_MAX_THREADS] = { 0 }, moved = 0;
	const struct opts *o = &R->o;

	json_t *sweep = json_pack("{s:[],s:[],s:[]}", "n_prompt", "n_gen", "threads");

	for (int i = 0; sweep && i < R->n_prompts; i++)
		json_array_append_new(json_object_get(sweep, "n_prompt"),
				      json_integer(R->n_prompt[i]));
	for (int i = 0; sweep && i < o->n_gen; i++)
		json_array_append_new(json_object_get(sweep, "n_gen"),
				      json_integer(o->gen[i]));
	for (int i = 0; sweep && i < (o->n_thr ? o->n_thr : 1); i++)
		json_array_append_new(json_object_get(sweep, "threads"),
				      json_integer(o->n_thr ? o->thr[i] : o->threads));
	pool_cpus_seen(R->pool, cpu_seen, &moved);
	const struct run_info ri = {
		.when = R->when, .env = &R->env, .ctr = R->ctr,
		.threads = o->threads, .pin = o->pin,
		.cpus_seen = cpu_seen, .n_cpus = pool_threads(R->pool),
		.cpu_moved = moved, .m = R->m, .model_path = o->model,
		.setup = { &R->sides[0].su, R->n_sides > 1 ? &R->sides[1].su : NULL },
		.sp = &R->sp, .n_prompt = R->n_prompt[0],
		.n_gen = R->o.n_gen ? R->o.gen[0] : 0, .sweep = sweep, .rows = R->rows, .ab = R->abs,
		.profile = R->profiles, .roof_key = R->key, .floors = &R->fl,
	};
	json_t *rec = run_record(&ri);
	int rc = -1;

	json_decref(sweep);

	if (!rec) {
		snprintf(err, errlen, "cannot build the run record");
		return -1;
	}
	if (o->record && results_append(o->results, rec, err, errlen) < 0)
		goto out;
	if (o->fmt == FMT_JSON) {
		if (json_dumpf(rec, stdout, JSON_INDENT(1) | JSON_REAL_PRECISION(10)) < 0) {
			snprintf(err, errlen, "cannot write JSON to stdout");
			goto out;
		}
		putchar('\n');
	} else if (o->record && o->fmt == FMT_TABLE) {
		printf("\nrecorded in %s\n", o->results);
	}
	rc = 0;
out:
	json_decref(rec);
	return rc;
}

/* Loads, measures and records; 0 or -1 with a message. */
static int measure(struct run *R, char *err, size_t errlen)
{
	if ((R->o.record && file_check_target(R->o.results, err, errlen) < 0) ||
	    counters_open(&R->ctr, err, errlen) < 0 ||
	    load_sides(R, err, errlen) < 0 || start_pool(R, err, errlen) < 0)
		return -1;
	utc_iso8601(R->when, sizeof R->when);
	print_preamble(R);
	R->rows = json_array();
	R->profiles = json_array();
	R->abs = json_array();
	if (!R->rows || !R->profiles || !R->abs) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (R->o.ab[0]) {
		if (measure_ab(R, err, errlen) < 0)
			return -1;
	} else if (measure_rows(R, err, errlen) < 0 ||
		   (R->o.profile && measure_profiles(R, err, errlen) < 0)) {
		return -1;
	}
	return record(R, err, errlen);
}

static void run_free(struct run *R)
{
	json_decref(R->rows);
	json_decref(R->abs);
	json_decref(R->profiles);
	bench_ctx_free(&R->bc);
	session_free(R->s);
	pool_destroy(R->pool);
	for (int i = 0; i < 2; i++)
		if (R->sides[i].has_config)
			config_free(&R->sides[i].cfg);
	for (int i = 0; i < R->n_prompts; i++)
		free(R->prompt[i]);
	model_free(R->m);
	counters_close(R->ctr);
}

/* --csv [FILE]: the CSV view of a runs.jsonl file. */
static int print_csv(const char *path)
{
	char err[1024];
	int skipped;

	if (results_csv(path, stdout, &skipped, err, sizeof err) < 0)
		return cli_die("%s", err);
	if (skipped)
		fprintf(stderr, "bench: %s: %d torn or foreign lines skipped\n",
			path, skipped);
	return 0;
}

int main(int argc, char **argv)
{
	static struct run R = { .o = { .gen = { 32 }, .n_gen = 1, .reps = 5, .pin = -1,
		.record = 1, .budget_s = 10, .wmode = WEIGHTS_Q8_0,
		.results = "results/runs.jsonl" } };
	char err[1024];
	int rc;

	cli_set_prog("bench");
	gguf_guard_sigbus("bench");
	if (parse_args(argc, argv, &R.o))
		return 1;
	if (R.o.csv)
		return cli_exit(print_csv(R.o.csv));
	if (cpu_get()->mask_bad)
		cli_warn("Q8TUNE_CPU_MASK=%s names an unknown feature; running "
			 "scalar-only", cpu_get()->mask_name);
	if (R.o.threads == 0) {
		long nc = sysconf(_SC_NPROCESSORS_ONLN);
		R.o.threads = nc > 0 ? (int)nc : 1;
	}
	if (env_collect(&R.env, err, sizeof err) < 0)
		return cli_die("%s", err);
	machine_fp_key(&R.env.m, R.key, sizeof R.key);
	if ((rc = run_floors(&R)) != 0)
		return cli_exit(rc < 0);
	rc = measure(&R, err, sizeof err) < 0 ? cli_die("%s", err) : 0;
	run_free(&R);
	return cli_exit(rc);
}

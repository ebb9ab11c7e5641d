/* bench - the forward pass measured in situ: llama-bench-style pp and tg
 * rows with dispersion and confidence intervals, the per-op profile, A/B
 * comparisons, the machine roofline, and one JSON record per run appended
 * to results/runs.jsonl.  Parses flags and prints; the measuring is
 * harness/, the model is model/. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "bench.h"
#include "cli.h"
#include "clock.h"
#include "config.h"
#include "counters.h"
#include "cpu.h"
#include "env.h"
#include "fingerprint.h"
#include "generate.h"
#include "model.h"
#include "pool.h"
#include "prof.h"
#include "results.h"
#include "roofline.h"

static const char usage[] =
"usage: bench --model PATH [--config FILE] [-p TEXT | --pp N] [--gen N]\n"
"             [--reps R] [--threads T] [--pin none|cores] [-o table|md|csv|json]\n"
"             [--profile] [--roofline] [--ab A B] [--budget SECONDS]\n"
"             [--weights q8_0|native|f32] [--results FILE] [--no-record]\n"
"       bench --roofline [--threads T]\n"
"       bench --csv [FILE]\n"
"  -p TEXT       prompt (BOS prepended); default \"Hello world\"\n"
"  --pp N        a prompt of N tokens instead (the text's tokens repeated)\n"
"  --gen N       decode tokens per tg sample (default 32; 0: no tg row)\n"
"  --reps R      at least R samples per row (default 5); more until the\n"
"                95%% CI of the median is within 2%% or the budget is spent\n"
"  --budget S    seconds per row after warm-up (default 10)\n"
"  --threads T   worker threads (default: online CPUs)\n"
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

struct opts {
	const char *model, *config, *prompt, *results, *ab[2], *csv;
	int pp, gen, reps, threads, pin;	/* pin: -1 auto */
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
		case 'P': if (parse_int("--pp", optarg, 1, &o->pp)) return -1; break;
		case 'g': if (parse_int("--gen", optarg, 0, &o->gen)) return -1; break;
		case 'r': if (parse_int("--reps", optarg, 1, &o->reps)) return -1; break;
		case 't':
			if (parse_int("--threads", optarg, 1, &o->threads))
				return -1;
			if (o->threads > ROOF_MAX_THREADS)
				return cli_die("--threads: at most %d", ROOF_MAX_THREADS), -1;
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
	const char *name;
	struct kernels k[PHASE_COUNT];
	int threads[PHASE_COUNT];	/* 0: --threads */
	int scratch;
	int has_config;
	struct best_config cfg;
};

static void on_warning(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(stderr, "bench: warning: %s\n", line);
}

static int side_load(struct side *sd, const char *spec, int fallback,
		     const struct model *m, char *err, size_t errlen)
{
	memset(sd, 0, sizeof *sd);
	sd->name = spec;
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
		sd->scratch = SCRATCH_PER_CALL;
		return 0;
	}
	int have = config_load(spec, fallback, m, &sd->cfg, sd->k, on_warning,
				  NULL, err, errlen);
	if (have < 0)
		return -1;
	sd->has_config = have;
	for (int ph = 0; have && ph < PHASE_COUNT; ph++)
		sd->threads[ph] = sd->cfg.phase[ph].threads;
	return 0;
}

static json_t *kernels_json(const struct kernels *k)
{
	json_t *o = json_object();

	for (int op = 0; op < OP_COUNT; op++)
		json_object_set_new(o, kernel_ops[op].name,
				    json_string(k->v[op]->name));
	return o;
}

static json_t *side_json(const struct side *sd)
{
	return json_pack("{s:s,s:o,s:o,s:i,s:i,s:s}", "name", sd->name,
			 "prompt_kernels", kernels_json(&sd->k[PHASE_PROMPT]),
			 "decode_kernels", kernels_json(&sd->k[PHASE_DECODE]),
			 "prompt_threads", sd->threads[PHASE_PROMPT],
			 "decode_threads", sd->threads[PHASE_DECODE],
			 "scratch", scratch_mode_name(sd->scratch));
}

static void setup_of(const struct side *sd, enum bench_kind kind,
		     struct bench_setup *su)
{
	const int ph = kind == ROW_PP ? PHASE_PROMPT : PHASE_DECODE;

	*su = (struct bench_setup){ &sd->k[ph], sd->threads[ph], sd->scratch };
}

/* --- printing ------------------------------------------------------------ */

struct floors {
	int have;		/* a roofline for this machine */
	double bytes, macs;	/* weights per token */
	const struct roofline *r;
};

/* The floor of a row in ms: decode reads every weight once per token;
 * a prompt batch multiplies every weight by every token. */
static double row_floor(const struct floors *f, const struct bench_row *r,
			int threads)
{
	const double bw = f->r->bw.best[threads] * 1e9;
	const double peak = roofline_int8_peak(f->r, threads, NULL) * 1e9;
	double t_mem = f->bytes / bw, t_mac;

	if (r->kind == ROW_TG)
		return 1e3 * t_mem;
	t_mac = f->macs * r->n_tokens / peak;
	return 1e3 * (t_mem > t_mac ? t_mem : t_mac);
}

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
		puts("test,n,median_ms,mad_ms,ci_lo_ms,ci_hi_ms,cv,tokens_per_s,"
		     "floor_ms,pct_of_floor,warnings");
	else if (f == FMT_MD)
		puts("| test | n | median | MAD | 95% CI of median | t/s | floor | "
		     "% of floor | warnings |\n|---|---|---|---|---|---|---|---|---|");
	else
		printf("%-8s %5s %12s %9s %23s %10s %10s %8s  %s\n", "test", "n",
		       "median ms", "MAD", "95% CI of median", "t/s", "floor ms",
		       "% floor", "warnings");
}

static void print_row(enum fmt f, const struct bench_row *r,
		      const struct floors *fl, int threads)
{
	char test[32], wbuf[64], ci[48], floor_s[24] = "-", pct_s[24] = "-";
	const char *w = warn_str(r->warn, wbuf, sizeof wbuf);

	bench_row_test(r, test, sizeof test);
	snprintf(ci, sizeof ci, "[%.3f, %.3f]", r->st.ci_lo, r->st.ci_hi);
	if (fl->have) {
		const double floor = row_floor(fl, r, threads);
		snprintf(floor_s, sizeof floor_s, "%.3f", floor);
		snprintf(pct_s, sizeof pct_s, "%.1f%%", 100 * floor / r->st.median);
	}
	if (f == FMT_CSV)
		printf("%s,%d,%.6g,%.6g,%.6g,%.6g,%.4f,%.6g,%s,%s,%s\n", test,
		       r->n, r->st.median, r->st.mad, r->st.ci_lo, r->st.ci_hi,
		       r->st.cv, r->tok_s, fl->have ? floor_s : "",
		       fl->have ? pct_s : "", w);
	else if (f == FMT_MD)
		printf("| %s | %d | %.3f %s | %.3f | %s | %.1f | %s | %s | %s |\n",
		       test, r->n, r->st.median, r->kind == ROW_PP ? "ms" : "ms/tok",
		       r->st.mad, ci, r->tok_s, floor_s, pct_s, w);
	else
		printf("%-8s %5d %12.3f %9.3f %23s %10.1f %10s %8s  %s\n",
		       test, r->n, r->st.median, r->st.mad, ci, r->tok_s, floor_s,
		       pct_s, w);
}

static json_t *row_json_floor(const struct bench_row *r,
			      const struct floors *fl, int threads)
{
	json_t *o = bench_row_json(r);

	if (fl->have) {
		const double floor = row_floor(fl, r, threads);
		json_object_set_new(o, "floor_ms", json_real(floor));
		json_object_set_new(o, "pct_of_floor",
				    json_real(100 * floor / r->st.median));
	}
	return o;
}

/* % of the roof of one profile row: the time its bytes take at the
 * bandwidth roof, or its int8 MACs at the peak, whichever is longer,
 * over the time measured. */
static double prof_roof_pct(const struct prof_row *p, const struct floors *fl,
			    int threads)
{
	const double t_mem = p->bytes / (fl->r->bw.best[threads] * 1e9);
	const double t_mac = p->int8 ? p->macs /
		(roofline_int8_peak(fl->r, threads, NULL) * 1e9) : 0;

	return 100 * (t_mem > t_mac ? t_mem : t_mac) / (p->ns * 1e-9);
}

static json_t *print_profile(enum fmt f, const char *test, const struct prof *p,
			     double overhead, const struct floors *fl,
			     int threads)
{
	const double passes = p->passes ? (double)p->passes : 1;
	const double pass_ms = p->pass_ns / passes / 1e6;
	json_t *rows = json_array();
	double sum_ns = 0;

	if (f != FMT_JSON) {
		printf("\nprofile %s: %llu profiled passes, %.3f ms per pass; profiling "
		       "overhead %+.1f%% (profiled vs plain samples, interleaved)\n",
		       test, (unsigned long long)p->passes, pass_ms, 100 * overhead);
		printf("%-16s %9s %10s %7s %12s %12s %8s %8s %8s\n", "op", "calls",
		       "ms/pass", "share", "bytes/pass", "MACs/pass", "GB/s",
		       "GMAC/s", "% roof");
	}
	for (int i = 0; i < PROF_COUNT; i++) {
		const struct prof_row *r = &p->r[i];
		if (!r->calls)
			continue;
		const double gbs = r->bytes / r->ns, gmacs = r->macs / r->ns;
		const double roof = fl->have ? prof_roof_pct(r, fl, threads) : NAN;
		sum_ns += r->ns;
		char roof_s[16] = "-";
		if (fl->have)
			snprintf(roof_s, sizeof roof_s, "%.1f%%", roof);
		if (f != FMT_JSON)
			printf("%-16s %9.0f %10.3f %6.1f%% %12.3g %12.3g %8.2f %8.2f %8s\n",
			       prof_op_name(i), r->calls / passes, r->ns / passes / 1e6,
			       100 * r->ns / p->pass_ns, r->bytes / passes,
			       r->macs / passes, gbs, gmacs, roof_s);
		json_array_append_new(rows, json_pack("{s:s,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:b}",
			"op", prof_op_name(i), "calls_per_pass", r->calls / passes,
			"ms_per_pass", r->ns / passes / 1e6,
			"share", r->ns / p->pass_ns, "bytes_per_pass", r->bytes / passes,
			"macs_per_pass", r->macs / passes, "gb_s", gbs, "gmac_s", gmacs,
			"int8", r->int8));
		if (fl->have)
			json_object_set_new(json_array_get(rows, json_array_size(rows) - 1),
					    "pct_of_roof", json_real(roof));
	}
	if (f != FMT_JSON)
		printf("%-16s %9s %10.3f %6.1f%%  (of the %.3f ms pass; the rest is "
		       "loop and timing overhead)\n", "sum of ops", "",
		       sum_ns / passes / 1e6, 100 * sum_ns / p->pass_ns, pass_ms);
	return json_pack("{s:s,s:I,s:f,s:f,s:f,s:o}", "test", test,
			 "passes", (json_int_t)p->passes, "pass_ms", pass_ms,
			 "sum_of_ops_share", sum_ns / p->pass_ns,
			 "overhead", overhead, "ops", rows);
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

static json_t *ab_json(const struct bench_ab *ab)
{
	return json_pack("{s:o,s:o,s:f,s:f,s:f,s:f,s:f,s:b,s:b}",
			 "a", bench_row_json(&ab->a), "b", bench_row_json(&ab->b),
			 "ratio_b_over_a", ab->ratio, "ratio_ci_lo", ab->ratio_lo,
			 "ratio_ci_hi", ab->ratio_hi, "mann_whitney_p", ab->p,
			 "mann_whitney_u", ab->u, "significant", ab->significant,
			 "practical", ab->practical);
}

/* --- the run ------------------------------------------------------------- */

static json_t *counters_json(struct counters *c)
{
	struct ctr_avail a;

	counters_avail(c, &a);
	return json_pack("{s:b,s:b,s:b,s:s,s:s,s:s,s:s}", "hardware", a.hw,
			 "software", a.sw, "rusage", a.rusage, "hardware_why",
			 a.hw_why, "software_why", a.sw_why, "papi_version",
			 a.papi_version, "status", counters_status(c));
}

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

int main(int argc, char **argv)
{
	struct opts o = { .gen = 32, .reps = 5, .pin = -1, .record = 1,
			  .budget_s = 10, .wmode = WEIGHTS_Q8_0,
			  .results = "results/runs.jsonl" };
	static struct roofline roof;
	static struct side sides[2];
	struct env_info env;
	struct counters *ctr = NULL;
	struct model *m = NULL;
	struct pool *pool = NULL;
	struct session *s = NULL;
	struct bench_ctx bc = { 0 };
	struct floors fl = { 0 };
	char err[1024], key[256], when[32];
	int32_t *prompt = NULL;
	int n_prompt = 0, n_sides, rc = 1;
	json_t *rec = NULL, *rows = NULL, *profiles = NULL, *abs = NULL;

	cli_set_prog("bench");
	if (parse_args(argc, argv, &o))
		return 1;
	if (o.csv) {
		int skipped;
		if (results_csv(o.csv, stdout, &skipped, err, sizeof err) < 0)
			return cli_die("%s", err);
		if (skipped)
			fprintf(stderr, "bench: %s: %d torn or foreign lines skipped\n",
				o.csv, skipped);
		return 0;
	}
	if (cpu_get()->mask_bad)
		fprintf(stderr, "bench: warning: Q8TUNE_CPU_MASK=%s names an "
			"unknown feature; running scalar-only\n", cpu_get()->mask_name);
	if (o.threads == 0) {
		long nc = sysconf(_SC_NPROCESSORS_ONLN);
		o.threads = nc > 0 ? (int)nc : 1;
	}
	if (env_collect(&env, err, sizeof err) < 0)
		return cli_die("%s", err);
	machine_fp_key(&env.m, key, sizeof key);
	if (o.roofline) {
		if (run_roofline(&o, &env.m, &roof, key, sizeof key))
			return 1;
		fl.have = 1;
		if (!o.model)
			return 0;
	} else {
		int found = roofline_load("results/roofline.json", key, &roof, err,
					  sizeof err);
		if (found < 0)
			fprintf(stderr, "bench: warning: %s\n", err);
		fl.have = found == 1;
	}
	fl.r = &roof;

	if (counters_open(&ctr, err, sizeof err) < 0)
		return cli_die("%s", err);
	if (model_load(o.model, o.wmode, &m, err, sizeof err) < 0) {
		cli_die("%s", err);
		goto out;
	}
	fl.bytes = (double)model_weight_bytes(m);
	fl.macs = model_weight_macs(m);

	n_sides = o.ab[0] ? 2 : 1;
	for (int i = 0; i < n_sides; i++) {
		const char *spec = o.ab[0] ? o.ab[i] : o.config ? o.config : "default";
		if (side_load(&sides[i], spec, o.fallback, m, err, sizeof err) < 0) {
			cli_die("%s", err);
			goto out;
		}
		for (int ph = 0; ph < PHASE_COUNT; ph++)
			if (sides[i].threads[ph] > o.threads)
				o.threads = sides[i].threads[ph];
	}
	/* floors need the roof at every thread count a row may run with */
	fl.have = fl.have && roof.max_threads >= o.threads;
	const struct kernels *sets[4];
	int n_sets = 0;
	for (int i = 0; i < n_sides; i++)
		for (int ph = 0; ph < PHASE_COUNT; ph++)
			sets[n_sets++] = &sides[i].k[ph];
	struct prep_stats ps;
	if (model_prepare(m, sets, n_sets, &ps, err, sizeof err) < 0) {
		cli_die("%s", err);
		goto out;
	}
	if (!(prompt = prompt_tokens(m->tok, o.prompt ? o.prompt : "Hello world",
				     o.pp, &n_prompt))) {
		cli_die("cannot tokenize the prompt");
		goto out;
	}
	if (!(pool = pool_create(o.threads))) {
		cli_die("cannot start %d worker threads", o.threads);
		goto out;
	}
	/* pinning helps when every worker can have a core of its own */
	if (o.pin < 0)
		o.pin = o.threads <= env.m.cores;
	if (o.pin) {
		int cpus[ROOF_MAX_THREADS];
		int n = env_pin_plan(o.threads, cpus, ROOF_MAX_THREADS, err, sizeof err);
		if (n < o.threads || pool_pin(pool, cpus, err, sizeof err) < 0) {
			cli_die("--pin cores: %s", n < 0 ? err : "fewer usable CPUs than threads");
			goto out;
		}
	}
	if (counters_attach_threads(ctr, err, sizeof err) < 0)
		fprintf(stderr, "bench: warning: %s\n", err);
	if (!(s = session_create(m, n_prompt + o.gen + 1, &sides[0].k[PHASE_PROMPT],
				 pool, err, sizeof err)) ||
	    bench_ctx_init(&bc, m, pool, s, ctr, err, sizeof err) < 0) {
		cli_die("%s", err);
		goto out;
	}

	struct bench_spec sp;
	bench_spec_defaults(&sp);
	sp.prompt = prompt;
	sp.n_prompt = n_prompt;
	sp.n_gen = o.gen;
	sp.min_reps = o.reps;
	sp.budget_ms = o.budget_s * 1e3;

	utc_iso8601(when, sizeof when);
	/* the preamble: on stdout for a person, on stderr when stdout is data */
	FILE *pre = o.fmt == FMT_TABLE || o.fmt == FMT_MD ? stdout : stderr;
	fprintf(pre, "bench: %s, %d layers, n_embd %d (%s), %s weights; %d threads, "
	       "pin %s\n", arch_name(m->hp.arch), m->hp.n_layer, m->hp.n_embd,
	       o.model, weights_mode_name(o.wmode), o.threads,
	       o.pin ? "cores" : "none");
	fprintf(pre, "cpu: %s; %s\n", env.m.brand, env.hwloc_summary);
	fprintf(pre, "counters: %s\n", counters_status(ctr));
	if (strcmp(env.governor, "performance"))
		fprintf(pre, "warning: CPU frequency governor is '%s', not "
			"'performance': clocks may vary\n", env.governor);
	if (!fl.have)
		fprintf(pre, "roofline: none for this machine at %d threads "
			"(./bench --roofline stores one); floors omitted\n",
			o.threads);
	if (ps.made)
		fprintf(pre, "repacked %.1f MB of weights in %.1f ms\n",
			ps.made / 1e6, ps.ms);

	rows = json_array();
	profiles = json_array();
	abs = json_array();
	const enum bench_kind kinds[2] = { ROW_PP, ROW_TG };
	const int n_kinds = o.gen > 0 ? 2 : 1;
	if (o.ab[0]) {
		if (o.fmt != FMT_JSON && o.fmt != FMT_CSV)
			printf("\nA/B: A=%s, B=%s, interleaved A B A B ...\n",
			       o.ab[0], o.ab[1]);
		for (int i = 0; i < n_kinds; i++) {
			struct bench_setup a, b;
			static struct bench_ab ab;
			setup_of(&sides[0], kinds[i], &a);
			setup_of(&sides[1], kinds[i], &b);
			if (bench_ab_run(&bc, kinds[i], &sp, &a, &b, &ab, err,
					 sizeof err) < 0) {
				cli_die("%s", err);
				goto out;
			}
			if (o.fmt != FMT_JSON)
				print_ab(o.fmt, &ab, o.ab[0], o.ab[1]);
			json_array_append_new(abs, ab_json(&ab));
		}
	} else {
		if (o.fmt != FMT_JSON) {
			if (o.fmt != FMT_CSV)
				putchar('\n');
			print_rows_header(o.fmt);
		}
		for (int i = 0; i < n_kinds; i++) {
			struct bench_setup su;
			static struct bench_row row;
			setup_of(&sides[0], kinds[i], &su);
			if (bench_apply(&bc, &su, err, sizeof err) < 0 ||
			    bench_row_run(&bc, kinds[i], &sp, &row, err, sizeof err) < 0) {
				cli_die("%s", err);
				goto out;
			}
			const int th = su.threads ? su.threads : o.threads;
			if (o.fmt != FMT_JSON)
				print_row(o.fmt, &row, &fl, th);
			json_t *rj = row_json_floor(&row, &fl, th);
			if (!rj) {
				cli_die("cannot build the run record");
				goto out;
			}
			json_array_append_new(rows, rj);
		}
		for (int i = 0; o.profile && i < n_kinds; i++) {
			struct bench_setup su;
			struct prof p;
			double overhead;
			char test[32];
			setup_of(&sides[0], kinds[i], &su);
			if (bench_apply(&bc, &su, err, sizeof err) < 0 ||
			    bench_profile(&bc, kinds[i], &sp, o.reps, &p, &overhead,
					  err, sizeof err) < 0) {
				cli_die("%s", err);
				goto out;
			}
			snprintf(test, sizeof test, "%s%d", kinds[i] == ROW_PP ?
				 "pp" : "tg", kinds[i] == ROW_PP ? n_prompt : o.gen);
			json_array_append_new(profiles, print_profile(o.fmt, test, &p,
				overhead, &fl, su.threads ? su.threads : o.threads));
		}
	}

	int cpu_seen[ROOF_MAX_THREADS] = { 0 }, moved = 0;
	json_t *seen = json_array();
	struct model_fp mfp;
	pool_cpus_seen(pool, cpu_seen, &moved);
	for (int i = 0; i < pool_threads(pool); i++)
		json_array_append_new(seen, json_integer(cpu_seen[i]));
	model_fp_get(m, &mfp);
	json_t *model_j = model_fp_json(&mfp);
	json_object_set_new(model_j, "path", json_string(o.model));
	json_object_set_new(model_j, "weights", json_string(weights_mode_name(o.wmode)));
	json_t *cfg_j = o.ab[0] ? json_pack("{s:s,s:o,s:o}", "name", "ab", "a",
		side_json(&sides[0]), "b", side_json(&sides[1])) : side_json(&sides[0]);
	rec = json_pack("{s:s,s:i,s:s,s:{s:s,s:b,s:s,s:s},s:o,s:o,s:i,s:s,s:o,s:b,"
			"s:o,s:o,s:{s:i,s:i,s:i,s:f,s:f,s:i},s:o}",
		"schema", RUN_SCHEMA, "schema_version", RUN_SCHEMA_VERSION,
		"time", when,
		"tool", "git_rev", env.git_rev, "dirty", env.git_dirty,
		"compiler", env.compiler, "cflags", env.cflags,
		"env", env_json(&env), "counters", counters_json(ctr),
		"threads", o.threads, "pin", o.pin ? "cores" : "none",
		"cpus_seen", seen, "cpu_moved", moved,
		"model", model_j, "config", cfg_j,
		"spec", "n_prompt", n_prompt, "n_gen", o.gen, "min_reps", o.reps,
		"budget_ms", sp.budget_ms, "ci_target", sp.ci_target,
		"warmup", sp.warmup,
		"rows", rows);
	rows = NULL;	/* rec holds it (or json_pack freed it) */
	if (!rec) {
		cli_die("cannot build the run record");
		goto out;
	}
	if (json_array_size(abs))
		json_object_set(rec, "ab", abs);
	if (json_array_size(profiles))
		json_object_set(rec, "profile", profiles);
	if (fl.have)
		json_object_set_new(rec, "roofline", json_pack("{s:s,s:s,s:f,s:f}",
			"key", key, "measured_at", roof.measured_at,
			"bandwidth_gbs", roof.bw.best[o.threads],
			"int8_gmacs", roofline_int8_peak(&roof, o.threads, NULL)));
	if (o.record && results_append(o.results, rec, err, sizeof err) < 0) {
		cli_die("%s", err);
		goto out;
	}
	if (o.fmt == FMT_JSON) {
		if (json_dumpf(rec, stdout, JSON_INDENT(1) | JSON_REAL_PRECISION(10)) < 0) {
			cli_die("cannot write JSON to stdout");
			goto out;
		}
		putchar('\n');
	} else if (o.record && o.fmt == FMT_TABLE) {
		printf("\nrecorded in %s\n", o.results);
	}
	rc = 0;
out:
	json_decref(rows);
	json_decref(abs);
	json_decref(profiles);
	json_decref(rec);
	bench_ctx_free(&bc);
	session_free(s);
	pool_destroy(pool);
	for (int i = 0; i < 2; i++)
		if (sides[i].has_config)
			config_free(&sides[i].cfg);
	free(prompt);
	model_free(m);
	counters_close(ctr);
	return rc;
}

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
#include "rows.h"
#include "stats.h"

static const char usage[] =
"usage: bench -m PATH [-p N[,N...]] [-n N[,N...]] [-d N[,N...]] [-t T[,T...]]\n"
"             [-r R] [-o table|md|csv|json|jsonl] [--prompt TEXT]\n"
"             [--config FILE [--config-fallback]] [--pin none|cores]\n"
"             [--profile] [--roofline] [--ab A B] [--budget SECONDS]\n"
"             [--weights q8_0|native|f32] [--results FILE] [--no-record]\n"
"       bench --roofline [-t T]\n"
"       bench --csv [FILE]\n"
"  -m, --model PATH      the GGUF model\n"
"  -p, --n-prompt N,...  prompt sizes in tokens (the text's tokens repeated);\n"
"                        alias --pp.  Without it: one pp row of the text\n"
"  -n, --n-gen N,...     decode tokens per tg sample (default 32; 0: no tg\n"
"                        row); alias --gen\n"
"  -d, --n-depth N,...   context depth: each row runs after N positions of\n"
"                        context, prefilled untimed (default 0); rows are\n"
"                        named 'pp64 @ d512', 'tg16 @ d512'\n"
"  -t, --threads T,...   worker threads (default: online CPUs; over a config's)\n"
"                        -p, -n, -d and -t take comma lists: every\n"
"                        combination is a row, as in llama-bench; tg rows\n"
"                        at depth 0 decode after the first prompt\n"
"  -r, --repetitions R   at least R samples per row (default 5); more until\n"
"                        the 95% CI of the median is within 2% or the budget\n"
"                        is spent; alias --reps\n"
"  -o, --output FMT      table (default), md, csv, json (the run record,\n"
"                        indented) or jsonl (the record on one line)\n"
"  --prompt TEXT         the text prompt (BOS prepended; default \"Hello world\")\n"
"  --budget S            seconds per row after warm-up (default 10)\n"
"  --pin MODE            none, or cores: one worker per physical core (default\n"
"                        when threads <= cores)\n"
"  --config FILE         a best-config file (./tune): its prompt phase for pp,\n"
"                        its decode phase for tg\n"
"  --config-fallback     a bad config is a warning and the defaults run\n"
"  --ab A B              A and B interleaved (A B A B ...); each is a config\n"
"                        file or default, scalar (every op's reference) or\n"
"                        per_call (default kernels, scratch allocated per call)\n"
"  --profile             per-op table measured inside the pass\n"
"  --roofline            measure bandwidth and int8 peaks at 1..T threads, and\n"
"                        store them in results/roofline.json (keyed by machine;\n"
"                        other thread counts are kept)\n"
"  --weights MODE        q8_0 (default), native or f32\n"
"  --results FILE        the run record is appended here (default\n"
"                        results/runs.jsonl)\n"
"  --no-record           append nothing\n"
"  --csv [FILE]          print the CSV view of FILE (default results/runs.jsonl)\n"
"  -h, --help            this text\n"
"A progress line goes to stderr while measuring when stderr is a terminal.\n";

enum fmt { FMT_TABLE, FMT_MD, FMT_CSV, FMT_JSON, FMT_JSONL };

#define MAX_SWEEP 16	/* values of one swept flag */

struct opts {
	const char *model, *config, *prompt, *results, *ab[2], *csv;
	int pp[MAX_SWEEP], n_pp;	/* 0 values: the text prompt */
	int gen[MAX_SWEEP], n_gen;
	int depth[MAX_SWEEP], n_depth;	/* 0 values: depth 0 */
	int thr[MAX_SWEEP], n_thr;	/* 0 values: online CPUs */
	int reps, pin;			/* pin: -1 auto */
	int threads;			/* the pool's: the largest of thr */
	int profile, roofline, record, fallback;
	double budget_s;
	enum fmt fmt;
	enum weights_mode wmode;
};

enum {
	OPT_MODEL = 1, OPT_CONFIG, OPT_PP, OPT_GEN, OPT_DEPTH, OPT_REPS,
	OPT_THREADS, OPT_PIN, OPT_PROFILE, OPT_ROOFLINE, OPT_AB, OPT_BUDGET,
	OPT_WEIGHTS, OPT_RESULTS, OPT_NO_RECORD, OPT_CSV, OPT_FALLBACK,
	OPT_OUTPUT, OPT_PROMPT, OPT_HELP,
};

static const struct cli_flag flags[] = {
	{ "model", 'm', 1, OPT_MODEL }, { "n-prompt", 'p', 1, OPT_PP },
	{ "pp", 0, 1, OPT_PP }, { "n-gen", 'n', 1, OPT_GEN },
	{ "gen", 0, 1, OPT_GEN }, { "n-depth", 'd', 1, OPT_DEPTH },
	{ "threads", 't', 1, OPT_THREADS }, { "repetitions", 'r', 1, OPT_REPS },
	{ "reps", 0, 1, OPT_REPS }, { "output", 'o', 1, OPT_OUTPUT },
	{ "prompt", 0, 1, OPT_PROMPT }, { "config", 0, 1, OPT_CONFIG },
	{ "config-fallback", 0, 0, OPT_FALLBACK }, { "pin", 0, 1, OPT_PIN },
	{ "profile", 0, 0, OPT_PROFILE }, { "roofline", 0, 0, OPT_ROOFLINE },
	{ "ab", 0, 1, OPT_AB }, { "budget", 0, 1, OPT_BUDGET },
	{ "weights", 0, 1, OPT_WEIGHTS }, { "results", 0, 1, OPT_RESULTS },
	{ "no-record", 0, 0, OPT_NO_RECORD }, { "csv", 0, 2, OPT_CSV },
	{ "help", 'h', 0, OPT_HELP }, { 0 }
};

/* -p/--n-prompt/--pp: a list of sizes; a text (what -p meant before
 * llama-bench's spelling) is named as such. */
static int get_sizes(struct cli *c, int *out, int *n)
{
	if (c->val[strspn(c->val, "0123456789,")]) {
		snprintf(c->err, sizeof c->err, "%s takes prompt sizes N[,N...] as "
			 "in llama-bench, not '%s'; for a text prompt use --prompt "
			 "TEXT", c->flag, c->val);
		return -1;
	}
	return (*n = cli_get_list(c, 1, 1 << 16, out, MAX_SWEEP)) < 0 ? -1 : 0;
}

/* --ab A B: the two setups. */
static int get_ab(struct cli *c, struct opts *o)
{
	o->ab[0] = c->val;
	o->ab[1] = cli_word(c);
	if (!o->ab[1] || o->ab[0][0] == '-') {
		snprintf(c->err, sizeof c->err, "--ab needs two setups A B (config "
			 "files, default, scalar or per_call)");
		return -1;
	}
	return 0;
}

/* One flag into o; 0, or -1 with the message in c->err. */
static int take_flag(struct cli *c, int id, void *ctx)
{
	struct opts *o = ctx;
	static const char *const pins[] = { "none", "cores", NULL };
	static const char *const fmts[] = { "table", "md", "csv", "json", "jsonl",
					    NULL };
	int v;

	switch (id) {
	case OPT_MODEL: o->model = c->val; return 0;
	case OPT_CONFIG: o->config = c->val; return 0;
	case OPT_PROMPT: o->prompt = c->val; return 0;
	case OPT_PP: return get_sizes(c, o->pp, &o->n_pp);
	case OPT_GEN:
		return (o->n_gen = cli_get_list(c, 0, 1 << 16, o->gen, MAX_SWEEP)) < 0 ?
		       -1 : 0;
	case OPT_DEPTH:
		return (o->n_depth = cli_get_list(c, 0, 1 << 20, o->depth,
						  MAX_SWEEP)) < 0 ? -1 : 0;
	case OPT_REPS: return cli_get_int(c, 1, 1000000, &o->reps);
	case OPT_THREADS:
		if ((o->n_thr = cli_get_list(c, 1, ROOF_MAX_THREADS, o->thr,
					     MAX_SWEEP)) < 0)
			return -1;
		for (int i = 0; i < o->n_thr; i++)
			o->threads = o->thr[i] > o->threads ? o->thr[i] : o->threads;
		return 0;
	case OPT_BUDGET:
		if (cli_get_int(c, 1, 1000000, &v) < 0)
			return -1;
		o->budget_s = v;
		return 0;
	case OPT_PIN: return (o->pin = cli_get_choice(c, pins)) < 0 ? -1 : 0;
	case OPT_OUTPUT:
		if ((v = cli_get_choice(c, fmts)) < 0)
			return -1;
		o->fmt = (enum fmt)v;
		return 0;
	case OPT_PROFILE: o->profile = 1; return 0;
	case OPT_ROOFLINE: o->roofline = 1; return 0;
	case OPT_AB: return get_ab(c, o);
	case OPT_WEIGHTS:
		if (weights_mode_parse(c->val, &o->wmode) == 0)
			return 0;
		snprintf(c->err, sizeof c->err, "--weights: '%s' is not q8_0, "
			 "native or f32", c->val);
		return -1;
	case OPT_RESULTS: o->results = c->val; return 0;
	case OPT_NO_RECORD: o->record = 0; return 0;
	case OPT_CSV:	/* --csv [FILE]: the file may be the next word */
		o->csv = c->val ? c->val : cli_word(c);
		if (!o->csv)
			o->csv = "results/runs.jsonl";
		return 0;
	case OPT_FALLBACK: o->fallback = 1; return 0;
	}
	fputs(usage, stdout);	/* OPT_HELP */
	exit(0);
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	if (cli_parse(argc, argv, flags, take_flag, o))
		return -1;
	if (!o->model && !o->roofline && !o->csv)
		return cli_die("--model PATH is required (see --help)"), -1;
	if (o->ab[0] && (o->config || o->profile))
		return cli_die("--ab compares its own two setups: drop --config and "
			   "--profile"), -1;
	if (o->prompt && o->n_pp)
		return cli_die("--prompt TEXT and -p N are one or the other: the "
			   "text, or prompts of N tokens"), -1;
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
	const int measured = r->max_threads;
	/* what the file holds now: the counts measured, and any above them
	 * kept from before */
	if (roofline_save("results/roofline.json", key, r, err, sizeof err) < 0 ||
	    roofline_load("results/roofline.json", key, r, err, sizeof err) < 0)
		return cli_die("%s", err);
	if (r->max_threads > measured)
		fprintf(stderr, "bench: measured 1..%d threads; kept %d..%d from the "
			"stored roofline\n", measured, measured + 1, r->max_threads);
	if (o->fmt == FMT_TABLE || o->fmt == FMT_MD)
		print_roofline(r, key);
	return 0;
}

/* The progress line on stderr, when it is a terminal: the row, its
 * samples so far, the width of its CI, the time spent and the budget. */
struct progress {
	int on;
	int cell, cells;	/* 1-based */
	char what[96];
	double budget_ms, last_ms;
};

/* One row to measure: a kind at a batch size and a thread count (every
 * combination of the --pp, --gen and --threads lists is one). */
struct cell {
	enum bench_kind kind;
	int prompt;		/* index into run.prompt[] */
	int n_gen;		/* tg: tokens per sample */
	int depth;		/* index into run.depth[] */
	int threads;		/* 0: the setup's (a config's, or --threads) */
};

#define MAX_CELLS (MAX_SWEEP * MAX_SWEEP * 2 * MAX_SWEEP)

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
	int32_t *depth[MAX_SWEEP];	/* the contexts of -d (NULL: depth 0) */
	int n_depth[MAX_SWEEP], n_depths;
	struct cell cell[MAX_CELLS];
	int n_cells;
	json_t *rows, *profiles, *abs;
	json_t *head;		/* the record before any row: the context of
				 * every printed line */
	struct rv_text view;	/* table and md */
	struct progress prog;
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

/* --- progress ------------------------------------------------------------ */

static void on_progress(void *ctx, const struct bench_row *r, double elapsed_ms)
{
	struct progress *pg = ctx;
	const double now = now_ms();
	double lo, hi, cov, med;
	char ci[32] = "-";

	if (!pg->on || (now - pg->last_ms < 100 && r->n > 1))
		return;
	pg->last_ms = now;
	if (r->n >= 2) {
		med = stats_median(r->ms, r->n);
		stats_median_ci_order(r->ms, r->n, 0.95, &lo, &hi, &cov);
		snprintf(ci, sizeof ci, "+-%.1f%%", med > 0 ? 50 * (hi - lo) / med : 0);
	}
	fprintf(stderr, "\r\033[Kbench: [%d/%d] %s: %d samples, CI %s (target "
		"+-2%%), %.1f s of %.0f s budget%s", pg->cell, pg->cells, pg->what,
		r->n, ci, elapsed_ms / 1e3, pg->budget_ms / 1e3,
		elapsed_ms > BENCH_OVER * pg->budget_ms ? " (over: the minimum "
		"samples take longer)" : "");
}

/* Names cell i (0-based) of the progress line, or clears the line. */
static void progress_at(struct progress *pg, int i, const char *what, int th)
{
	if (!pg->on)
		return;
	pg->cell = i + 1;
	pg->last_ms = 0;
	snprintf(pg->what, sizeof pg->what, "%s, %d thread%s", what, th,
		 th == 1 ? "" : "s");
	fprintf(stderr, "\r\033[Kbench: [%d/%d] %s", pg->cell, pg->cells, pg->what);
}

static void progress_clear(const struct progress *pg)
{
	if (pg->on)
		fputs("\r\033[K", stderr);
}

/* --- the plan ------------------------------------------------------------ */

/* The tokens of a prompt of n tokens (0: the text's own). */
static int32_t *tokens_of(const struct run *R, int n, int *got)
{
	return prompt_tokens(R->m->tok, R->o.prompt ? R->o.prompt : "Hello world",
			     n, got);
}

/* The prompts (the text, or one per -p value), the depth contexts and
 * the cells: for each thread count and depth, a pp row per prompt and a
 * tg row per -n value. */
static int plan_cells(struct run *R, char *err, size_t errlen)
{
	const struct opts *o = &R->o;
	const int n_thr = o->n_thr ? o->n_thr : 1;

	R->n_prompts = o->n_pp ? o->n_pp : 1;
	R->n_depths = o->n_depth ? o->n_depth : 1;
	for (int i = 0; i < R->n_prompts; i++)
		if (!(R->prompt[i] = tokens_of(R, o->n_pp ? o->pp[i] : 0,
					       &R->n_prompt[i])))
			goto bad;
	for (int i = 0; i < R->n_depths; i++)
		if (o->n_depth && o->depth[i] > 0 &&
		    !(R->depth[i] = tokens_of(R, o->depth[i], &R->n_depth[i])))
			goto bad;
	for (int t = 0; t < n_thr; t++)
		for (int d = 0; d < R->n_depths; d++) {
			const int th = o->n_thr ? o->thr[t] : 0;
			for (int i = 0; i < R->n_prompts; i++)
				R->cell[R->n_cells++] = (struct cell){ ROW_PP, i, 0, d, th };
			for (int g = 0; g < o->n_gen; g++)
				if (o->gen[g] > 0)
					R->cell[R->n_cells++] = (struct cell){ ROW_TG, 0,
						o->gen[g], d, th };
		}
	R->prog.cells = R->n_cells;
	return 0;
bad:
	snprintf(err, errlen, "cannot tokenize the prompt");
	return -1;
}

/* Context positions the longest cell needs: its depth, then its prompt
 * or decode prefix and its decode tokens. */
static int ctx_needed(const struct run *R)
{
	int ctx = 0, gen = 0, depth = 0;

	for (int i = 0; i < R->n_prompts; i++)
		ctx = R->n_prompt[i] > ctx ? R->n_prompt[i] : ctx;
	for (int g = 0; g < R->o.n_gen; g++)
		gen = R->o.gen[g] > gen ? R->o.gen[g] : gen;
	for (int d = 0; d < R->n_depths; d++)
		depth = R->n_depth[d] > depth ? R->n_depth[d] : depth;
	return depth + ctx + gen + 1;
}

/* The pool (pinned when asked or when every worker can have a core), a
 * session long enough for every cell, and the bench context. */
static int start_pool(struct run *R, char *err, size_t errlen)
{
	struct opts *o = &R->o;

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
	if (!(R->s = session_create(R->m, ctx_needed(R),
				    &R->sides[0].k[PHASE_PROMPT], R->pool, err,
				    errlen)))
		return -1;
	if (bench_ctx_init(&R->bc, R->m, R->pool, R->s, R->ctr, err, errlen) < 0)
		return -1;
	bench_spec_defaults(&R->sp);
	R->sp.min_reps = o->reps;
	R->sp.budget_ms = o->budget_s * 1e3;
	R->sp.progress = on_progress;
	R->sp.progress_ctx = &R->prog;
	R->prog.budget_ms = R->sp.budget_ms;
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
	sp->depth = R->depth[c->depth];
	sp->n_depth = R->depth[c->depth] ? R->n_depth[c->depth] : 0;
	sp->n_gen = c->n_gen;
	setup_of(sd, c->kind, su);
	if (c->threads)		/* an explicit --threads wins over a config */
		su->threads = c->threads;
	return su->threads ? su->threads : R->o.threads;
}

/* Cell i's name in the progress line, and the line. */
static void progress_cell(struct run *R, int i, const struct bench_spec *sp,
			  int th, const char *doing)
{
	char test[48], what[64];

	bench_test_name(R->cell[i].kind, R->cell[i].kind == ROW_PP ? sp->n_prompt :
			sp->n_gen, sp->n_depth, test, sizeof test);
	snprintf(what, sizeof what, "%s%s", doing, test);
	progress_at(&R->prog, i, what, th);
}

/* What the run is about to measure on: on stdout for a person, on stderr
 * when stdout is data (csv, json, jsonl, and md, which is one table). */
static void print_preamble(const struct run *R)
{
	const struct opts *o = &R->o;
	FILE *pre = o->fmt == FMT_TABLE ? stdout : stderr;

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
	if (o->fmt == FMT_TABLE)
		putchar('\n');
}

/* --- measuring ----------------------------------------------------------- */

/* Starts a table of the text views, or the CSV (its header once). */
static void view_begin(struct run *R, enum rv_set set)
{
	const enum fmt f = R->o.fmt;
	static int csv_header;

	if (f == FMT_TABLE || f == FMT_MD)
		rv_text_begin(&R->view, stdout, f == FMT_MD, set);
	if (f == FMT_CSV && !csv_header++)
		rv_csv_header(stdout);
}

/* The printer of the lines of the run's format; NULL: none (json). */
static rv_fn view_fn(struct run *R, void **ctx)
{
	*ctx = R->o.fmt == FMT_CSV ? (void *)stdout : (void *)&R->view;
	return R->o.fmt == FMT_CSV ? rv_csv_fn : R->o.fmt <= FMT_MD ?
	       rv_text_fn : NULL;
}

/* Ends a table; the next one is set off by a blank line. */
static void view_end(struct run *R)
{
	if (R->o.fmt <= FMT_MD && R->view.lines) {
		rv_text_end(&R->view);
		putchar('\n');
	}
	fflush(stdout);
}

/* Prints the lines of an element of the record as it is measured. */
static int view_put(struct run *R, json_t *e, json_t *arr,
		    void (*lines)(const json_t *, const json_t *, rv_fn, void *),
		    char *err, size_t errlen)
{
	void *ctx;
	rv_fn fn = view_fn(R, &ctx);

	if (!e) {
		snprintf(err, errlen, "cannot build the run record");
		return -1;
	}
	progress_clear(&R->prog);
	if (fn)
		lines(R->head, e, fn, ctx);
	fflush(stdout);
	json_array_append_new(arr, e);
	return 0;
}

/* --ab: each cell, A and B interleaved. */
static int measure_ab(struct run *R, char *err, size_t errlen)
{
	view_begin(R, RV_SET_AB);
	for (int i = 0; i < R->n_cells; i++) {
		static struct bench_ab ab;
		struct bench_setup a, b;
		struct bench_spec sp;
		const int th = cell_of(R, &R->cell[i], &R->sides[0], &sp, &a);

		cell_of(R, &R->cell[i], &R->sides[1], &sp, &b);
		progress_cell(R, i, &sp, th, "A/B ");
		if (bench_ab_run(&R->bc, R->cell[i].kind, &sp, &a, &b, &ab, err,
				 errlen) < 0 ||
		    view_put(R, bench_ab_json(&ab, th), R->abs, rv_ab, err, errlen) < 0)
			return -1;
	}
	view_end(R);
	return 0;
}

/* The rows of one setup, one per cell. */
static int measure_rows(struct run *R, char *err, size_t errlen)
{
	view_begin(R, RV_SET_ROWS);
	for (int i = 0; i < R->n_cells; i++) {
		static struct bench_row row;
		struct bench_setup su;
		struct bench_spec sp;
		const int th = cell_of(R, &R->cell[i], &R->sides[0], &sp, &su);

		progress_cell(R, i, &sp, th, "");
		if (bench_apply(&R->bc, &su, err, errlen) < 0 ||
		    bench_row_run(&R->bc, R->cell[i].kind, &sp, &row, err, errlen) < 0 ||
		    view_put(R, row_json(&row, &R->fl, th), R->rows, rv_row, err,
			     errlen) < 0)
			return -1;
	}
	view_end(R);
	return 0;
}

/* --profile: the per-op profile of each cell, a table each. */
static int measure_profiles(struct run *R, char *err, size_t errlen)
{
	for (int i = 0; i < R->n_cells; i++) {
		const struct cell *c = &R->cell[i];
		struct bench_setup su;
		struct bench_spec sp;
		static struct prof p;
		struct prof_in in = { .p = &p, .kind = c->kind, .roof = R->fl.r };

		in.threads = cell_of(R, c, &R->sides[0], &sp, &su);
		in.n_tokens = c->kind == ROW_PP ? sp.n_prompt : sp.n_gen;
		in.n_depth = sp.n_depth;
		progress_cell(R, i, &sp, in.threads, "profiling ");
		view_begin(R, RV_SET_PROFILE);
		if (bench_apply(&R->bc, &su, err, errlen) < 0 ||
		    bench_profile_ci(&R->bc, c->kind, &sp, R->o.reps, &p, &in.ov,
				     err, errlen) < 0 ||
		    view_put(R, profile_json(&in), R->profiles, rv_profile, err,
			     errlen) < 0)
			return -1;
		view_end(R);
	}
	return 0;
}

/* The run record of what has been measured so far (NULL: out of memory). */
static json_t *make_record(struct run *R)
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
	if (sweep && o->n_depth) {
		json_t *d = json_array();
		for (int i = 0; i < R->n_depths; i++)
			json_array_append_new(d, json_integer(R->depth[i] ?
							      R->n_depth[i] : 0));
		json_object_set_new(sweep, "n_depth", d);
	}
	pool_cpus_seen(R->pool, cpu_seen, &moved);
	const struct run_info ri = {
		.when = R->when, .env = &R->env, .ctr = R->ctr,
		.threads = o->threads, .pin = o->pin,
		.cpus_seen = cpu_seen, .n_cpus = pool_threads(R->pool),
		.cpu_moved = moved, .m = R->m, .model_path = o->model,
		.setup = { &R->sides[0].su, R->n_sides > 1 ? &R->sides[1].su : NULL },
		.sp = &R->sp, .n_prompt = R->n_prompt[0],
		.n_gen = o->n_gen ? o->gen[0] : 0, .sweep = sweep, .rows = R->rows,
		.ab = R->abs, .profile = R->profiles, .roof_key = R->key,
		.floors = &R->fl,
	};
	json_t *rec = run_record(&ri);

	json_decref(sweep);
	return rec;
}

/* The run record: appended to --results, and printed with -o json or
 * jsonl. */
static int record(struct run *R, char *err, size_t errlen)
{
	const struct opts *o = &R->o;
	json_t *rec = make_record(R);
	int rc = -1;

	if (!rec) {
		snprintf(err, errlen, "cannot build the run record");
		return -1;
	}
	if (o->record && results_append(o->results, rec, err, errlen) < 0)
		goto out;
	if (o->fmt == FMT_JSON || o->fmt == FMT_JSONL) {
		const size_t flags = JSON_REAL_PRECISION(17) |
			(o->fmt == FMT_JSON ? JSON_INDENT(1) : JSON_COMPACT);
		if (json_dumpf(rec, stdout, flags) < 0) {
			snprintf(err, errlen, "cannot write JSON to stdout");
			goto out;
		}
		putchar('\n');
	} else if (o->record && o->fmt == FMT_TABLE) {
		printf("recorded in %s\n", o->results);
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
	if (!R->rows || !R->profiles || !R->abs || !(R->head = make_record(R))) {
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
	json_decref(R->head);
	bench_ctx_free(&R->bc);
	session_free(R->s);
	pool_destroy(R->pool);
	for (int i = 0; i < 2; i++)
		if (R->sides[i].has_config)
			config_free(&R->sides[i].cfg);
	for (int i = 0; i < R->n_prompts; i++)
		free(R->prompt[i]);
	for (int i = 0; i < R->n_depths; i++)
		free(R->depth[i]);
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
	R.prog.on = isatty(STDERR_FILENO);
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

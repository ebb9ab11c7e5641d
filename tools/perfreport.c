/* perfreport - BASE against HEAD: timing rounds of both builds' ./bench
 * at process level with an A/A noise band, per-op profile rows side by
 * side, callgrind counts, a verdict per row (harness/compare.c).  Parses
 * flags and prints; `make perf-report` builds BASE and calls it (see
 * docs/perf-report.md).
 *
 * Exit status: 0; 3 when a pp/tg row is a confirmed regression of more
 * than --fail-pct percent; 1 on an error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "compare.h"
#include "env.h"
#include "file.h"

static const char usage[] =
"usage: perfreport --base DIR --head DIR --model GGUF [--base-name REV]\n"
"                  [--head-name REV] [--base-env 'K=V ...'] [--head-env 'K=V ...']\n"
"                  [--rounds N] [--budget S] [--threads T] [--gen N] [--pp N]\n"
"                  [--margin PCT] [--fail-pct PCT] [--count-model GGUF]\n"
"                  [--md FILE] [--json FILE]\n"
"  --base, --head   build folders holding bench and infer\n"
"  --base-env/--head-env  environment of one side only, e.g.\n"
"                   'Q8TUNE_MATMUL_Q8=avx2' (HEAD's applies to the A/A side too)\n"
"  --rounds N       timing rounds, each side a fresh process (default 6)\n"
"  --budget S       bench budget per row per process, whole seconds (default 1)\n"
"  --margin PCT     smallest change called slower or faster (default 3)\n"
"  --fail-pct PCT   exit 3 on a confirmed pp/tg regression above PCT\n"
"                   (default: never)\n"
"  --count-model F  small model for the callgrind counts (none: no counts)\n"
"  --md, --json     where the report goes (default results/perf-report.*)\n";

struct opts {
	struct cmp_opts c;
	double fail_pct;	/* < 0: never fail */
	const char *md, *json;
};

enum {
	OPT_BASE = 1, OPT_HEAD, OPT_BASE_NAME, OPT_HEAD_NAME, OPT_BASE_ENV,
	OPT_HEAD_ENV, OPT_MODEL, OPT_COUNT_MODEL, OPT_ROUNDS, OPT_BUDGET,
	OPT_THREADS, OPT_GEN, OPT_PP, OPT_MARGIN, OPT_FAIL_PCT, OPT_MD, OPT_JSON,
	OPT_HELP,
};

static const struct cli_flag flags[] = {
	{ "base", 0, 1, OPT_BASE }, { "head", 0, 1, OPT_HEAD },
	{ "base-name", 0, 1, OPT_BASE_NAME }, { "head-name", 0, 1, OPT_HEAD_NAME },
	{ "base-env", 0, 1, OPT_BASE_ENV }, { "head-env", 0, 1, OPT_HEAD_ENV },
	{ "model", 0, 1, OPT_MODEL }, { "count-model", 0, 1, OPT_COUNT_MODEL },
	{ "rounds", 0, 1, OPT_ROUNDS }, { "budget", 0, 1, OPT_BUDGET },
	{ "threads", 0, 1, OPT_THREADS }, { "gen", 0, 1, OPT_GEN },
	{ "pp", 0, 1, OPT_PP }, { "margin", 0, 1, OPT_MARGIN },
	{ "fail-pct", 0, 1, OPT_FAIL_PCT }, { "md", 0, 1, OPT_MD },
	{ "json", 0, 1, OPT_JSON }, { "help", 0, 0, OPT_HELP }, { 0 }
};

/* One flag into o; 0, or -1 with the message in c->err. */
static int take_flag(struct cli *c, int id, void *ctx)
{
	struct opts *o = ctx;
	const char *v = c->val;
	double d;

	switch (id) {
	case OPT_BASE: o->c.dir[0] = v; return 0;
	case OPT_HEAD: o->c.dir[1] = v; return 0;
	case OPT_BASE_NAME: o->c.name[0] = v; return 0;
	case OPT_HEAD_NAME: o->c.name[1] = v; return 0;
	case OPT_BASE_ENV: o->c.env[0] = *v ? v : NULL; return 0;
	case OPT_HEAD_ENV: o->c.env[1] = *v ? v : NULL; return 0;
	case OPT_MODEL: o->c.model = v; return 0;
	case OPT_COUNT_MODEL: o->c.count_model = *v ? v : NULL; return 0;
	case OPT_ROUNDS: return cli_get_int(c, 3, CMP_MAX_ROUNDS, &o->c.rounds);
	case OPT_BUDGET: return cli_get_int(c, 1, 600, &o->c.budget_s);
	case OPT_THREADS: return cli_get_int(c, 1, 64, &o->c.threads);
	case OPT_GEN: return cli_get_int(c, 1, 4096, &o->c.gen);
	case OPT_PP: return cli_get_int(c, 0, 4096, &o->c.pp_long);
	case OPT_MARGIN:
		if (cli_get_double(c, 0, 100, &d) < 0)
			return -1;
		o->c.margin = d / 100;
		return 0;
	case OPT_FAIL_PCT: return cli_get_double(c, 0, 1000, &o->fail_pct);
	case OPT_MD: o->md = v; return 0;
	case OPT_JSON: o->json = v; return 0;
	}
	fputs(usage, stdout);	/* OPT_HELP */
	exit(0);
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	if (cli_parse(argc, argv, flags, take_flag, o))
		return 1;
	if (!o->c.dir[0] || !o->c.dir[1] || !o->c.model)
		return cli_die("--base, --head and --model are required (see --help)");
	return 0;
}

static void on_progress(void *ctx, const char *line)
{
	const int tty = *(const int *)ctx;

	fprintf(stderr, tty ? "\r\033[Kperf-report: %s" : "perf-report: %s\n", line);
}

/* The report as text, written atomically to path. */
static int write_md(const char *path, const struct opts *o,
		    const struct cmp_result *r, const char *machine)
{
	char *buf = NULL, err[512];
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	int rc;

	if (!f)
		return cli_die("out of memory");
	cmp_write_md(f, &o->c, r, machine);
	fclose(f);
	fputs(buf, stdout);
	rc = file_write_atomic(path, buf, n, 1, err, sizeof err);
	free(buf);
	return rc < 0 ? cli_die("%s", err) : 0;
}

static int write_json(const char *path, const struct opts *o,
		      const struct cmp_result *r, const char *machine)
{
	json_t *j = cmp_json(&o->c, r, machine);
	char *text = j ? json_dumps(j, JSON_INDENT(1) | JSON_REAL_PRECISION(10)) : NULL;
	char err[512];
	int rc = -1;

	if (text)
		rc = file_write_atomic(path, text, strlen(text), 1, err, sizeof err);
	else
		snprintf(err, sizeof err, "%s: out of memory", path);
	free(text);
	json_decref(j);
	return rc < 0 ? cli_die("%s", err) : 0;
}

int main(int argc, char **argv)
{
	static struct cmp_result r;
	struct opts o = { .fail_pct = -1, .md = "results/perf-report.md",
			  .json = "results/perf-report.json" };
	struct env_info env;
	char err[1024], machine[512];
	int tty = isatty(2);

	cli_set_prog("perf-report");
	cmp_opts_defaults(&o.c);
	if (parse_args(argc, argv, &o))
		return 1;
	if (env_collect(&env, err, sizeof err) < 0)
		return cli_die("%s", err);
	snprintf(machine, sizeof machine, "%s; %s", env.m.brand, env.hwloc_summary);
	if (cmp_run(&o.c, on_progress, &tty, &r, err, sizeof err) < 0) {
		if (tty)
			fputc('\n', stderr);
		cmp_result_free(&r);
		return cli_die("%s", err);
	}
	if (tty)
		fputs("\r\033[K", stderr);
	int rc = write_md(o.md, &o, &r, machine) ||
		 write_json(o.json, &o, &r, machine);
	const double worst = cmp_worst_confirmed(&r);
	cmp_result_free(&r);
	if (rc)
		return cli_exit(1);
	if (o.fail_pct >= 0 && worst > 1 + o.fail_pct / 100)
		return cli_die("a confirmed regression of %.1f%% on a pp/tg row, "
			       "above the %.0f%% threshold", 100 * (worst - 1),
			       o.fail_pct), cli_exit(3);
	return cli_exit(0);
}

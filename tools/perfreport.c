/* perfreport - BASE against HEAD: timing rounds of both builds' ./bench
 * at process level with an A/A noise band, per-op profile rows side by
 * side, callgrind counts, a verdict per row (harness/compare.c).  Parses
 * flags and prints; `make perf-report` builds BASE and calls it (see
 * docs/perf-report.md).
 *
 * Exit status: 0; 3 when a pp/tg row is a confirmed regression of more
 * than --fail-pct percent; 1 on an error. */
#include <getopt.h>
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

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "base", 1, 0, 'b' }, { "head", 1, 0, 'h' + 256 },
		{ "base-name", 1, 0, 'B' }, { "head-name", 1, 0, 'H' },
		{ "base-env", 1, 0, 'e' }, { "head-env", 1, 0, 'E' },
		{ "model", 1, 0, 'm' }, { "count-model", 1, 0, 'c' },
		{ "rounds", 1, 0, 'r' }, { "budget", 1, 0, 'u' },
		{ "threads", 1, 0, 't' }, { "gen", 1, 0, 'g' }, { "pp", 1, 0, 'p' },
		{ "margin", 1, 0, 'M' }, { "fail-pct", 1, 0, 'f' },
		{ "md", 1, 0, 'd' }, { "json", 1, 0, 'j' }, { "help", 0, 0, '?' + 256 },
		{ 0 }
	};
	char err[256];
	double v;
	int c, bad;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		bad = 0;
		switch (c) {
		case 'b': o->c.dir[0] = optarg; break;
		case 'h' + 256: o->c.dir[1] = optarg; break;
		case 'B': o->c.name[0] = optarg; break;
		case 'H': o->c.name[1] = optarg; break;
		case 'e': o->c.env[0] = *optarg ? optarg : NULL; break;
		case 'E': o->c.env[1] = *optarg ? optarg : NULL; break;
		case 'm': o->c.model = optarg; break;
		case 'c': o->c.count_model = *optarg ? optarg : NULL; break;
		case 'r': bad = cli_int("--rounds", optarg, 3, CMP_MAX_ROUNDS, &o->c.rounds, err, sizeof err); break;
		case 'u': bad = cli_int("--budget", optarg, 1, 600, &o->c.budget_s, err, sizeof err); break;
		case 't': bad = cli_int("--threads", optarg, 1, 64, &o->c.threads, err, sizeof err); break;
		case 'g': bad = cli_int("--gen", optarg, 1, 4096, &o->c.gen, err, sizeof err); break;
		case 'p': bad = cli_int("--pp", optarg, 0, 4096, &o->c.pp_long, err, sizeof err); break;
		case 'M':
			bad = cli_double("--margin", optarg, 0, 100, &v, err, sizeof err);
			o->c.margin = v / 100;
			break;
		case 'f': bad = cli_double("--fail-pct", optarg, 0, 1000, &o->fail_pct, err, sizeof err); break;
		case 'd': o->md = optarg; break;
		case 'j': o->json = optarg; break;
		case '?' + 256: fputs(usage, stdout); exit(0);
		default:
			return cli_die("unknown option or missing value: '%s' (see "
				       "--help)", argv[optind - 1]);
		}
		if (bad)
			return cli_die("%s", err);
	}
	if (optind < argc)
		return cli_die("unexpected argument '%s' (see --help)", argv[optind]);
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

/* mkmodel - writes a deterministic synthetic GGUF model (model/synth.h).
 *
 * Same flags, same bytes.  Default: the gemma profile this project is
 * built around, to models/default-gemma-q8_0.gguf.  Prints one summary
 * line to stderr; on error one line and exit status 1. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "clock.h"
#include "gguf_write.h"
#include "synth.h"

static const char usage[] =
"usage: mkmodel [-o PATH] [--arch gemma|llama] [--layers N] [--embd N]\n"
"               [--heads N] [--kv-heads N] [--head-dim N] [--ff N] [--ctx N]\n"
"               [--seed N] [--tied|--untied] [-h]\n"
"\n"
"Writes a deterministic synthetic GGUF (random Q8_0 weights, embedded\n"
"SentencePiece vocab): same flags and seed, same bytes.\n"
"\n"
"  -o PATH         output (default models/default-<arch>-q8_0.gguf)\n"
"  --arch A        gemma (default) or llama\n"
"  --layers N      blocks (default 24)\n"
"  --embd N        n_embd, multiple of 32 (default 768)\n"
"  --heads N       attention heads (default 3)\n"
"  --kv-heads N    KV heads, divides --heads (default 1)\n"
"  --head-dim N    even; heads * head-dim multiple of 32 (default 256)\n"
"  --ff N          feed-forward width, multiple of 32 (default 2304)\n"
"  --ctx N         context_length (default 2048)\n"
"  --seed N        PRNG seed (default 0)\n"
"  --tied/--untied llama only: share token_embd as output (default\n"
"                  untied); gemma is always tied\n";

enum {
	OPT_ARCH = 256, OPT_LAYERS, OPT_EMBD, OPT_HEADS, OPT_KV_HEADS,
	OPT_HEAD_DIM, OPT_FF, OPT_CTX, OPT_SEED, OPT_TIED, OPT_UNTIED,
};

static const struct option longopts[] = {
	{ "arch", required_argument, NULL, OPT_ARCH },
	{ "layers", required_argument, NULL, OPT_LAYERS },
	{ "embd", required_argument, NULL, OPT_EMBD },
	{ "heads", required_argument, NULL, OPT_HEADS },
	{ "kv-heads", required_argument, NULL, OPT_KV_HEADS },
	{ "head-dim", required_argument, NULL, OPT_HEAD_DIM },
	{ "ff", required_argument, NULL, OPT_FF },
	{ "ctx", required_argument, NULL, OPT_CTX },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "tied", no_argument, NULL, OPT_TIED },
	{ "untied", no_argument, NULL, OPT_UNTIED },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Generates the model of c and writes it to path, with a summary line.
 * The exit status. */
static int write_model(const struct synth_cfg *cp, const char *path)
{
	const struct synth_cfg c = *cp;
	struct synth *s = NULL;
	char err[512];
	uint64_t size;
	double t0, t1, t2;

	if (synth_size(&c, &size, err, sizeof(err))) {
		fprintf(stderr, "mkmodel: %s\n", err);
		return 1;
	}
	t0 = now_ms() / 1e3;
	if (synth_create(&c, &s, err, sizeof(err))) {
		fprintf(stderr, "mkmodel: %s\n", err);
		return 1;
	}
	t1 = now_ms() / 1e3;
	if (gguf_w_write(synth_writer(s), path, err, sizeof(err))) {
		fprintf(stderr, "mkmodel: %s\n", err);
		synth_free(s);
		return 1;
	}
	t2 = now_ms() / 1e3;
	synth_free(s);

	fprintf(stderr, "mkmodel: %s: %s, %u layers, embd %u, %u heads x %u "
		"(%u kv), ff %u, ctx %u, vocab %u, %s, seed %" PRIu64 ", Q8_0, "
		"%" PRIu64 " bytes (%.1f MB) in %.2f s (generate %.2f, write "
		"%.2f)\n", path, synth_arch_name(c.arch), c.n_layer, c.n_embd,
		c.n_head, c.head_dim, c.n_head_kv, c.n_ff, c.n_ctx,
		synth_n_vocab(), c.tied ? "tied" : "untied", c.seed, size,
		size / 1e6, t2 - t0, t1 - t0, t2 - t1);
	return 0;
}

int main(int argc, char **argv)
{
	struct synth_cfg c;
	enum synth_arch arch = SYNTH_GEMMA;
	const char *path = NULL;
	char defpath[64], err[512], flag[32];
	uint32_t *dims[OPT_CTX - OPT_LAYERS + 1] = {
		&c.n_layer, &c.n_embd, &c.n_head, &c.n_head_kv, &c.head_dim,
		&c.n_ff, &c.n_ctx,
	};
	uint32_t set[OPT_CTX - OPT_LAYERS + 1] = { 0 };
	int have[OPT_CTX - OPT_LAYERS + 1] = { 0 };
	uint64_t seed = 0, v;
	int tied = -1, opt, li = 0;

	cli_set_prog("mkmodel");
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":o:h", longopts, &li)) != -1) {
		switch (opt) {
		case 'o':
			path = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case OPT_ARCH:
			if (synth_arch_parse(optarg, &arch)) {
				fprintf(stderr, "mkmodel: --arch: unknown "
					"architecture '%s' (gemma or llama)\n",
					optarg);
				return 1;
			}
			break;
		case OPT_SEED:
			if (cli_u64("--seed", optarg, UINT64_MAX, &seed, err,
				    sizeof err))
				return cli_die("%s", err);
			break;
		case OPT_TIED:
			tied = 1;
			break;
		case OPT_UNTIED:
			tied = 0;
			break;
		case ':':
			fprintf(stderr, "mkmodel: %s needs a value (try -h)\n",
				argv[optind - 1]);
			return 1;
		case '?':
			if (optopt > 0 && optopt < 256)
				fprintf(stderr, "mkmodel: unknown option '-%c' "
					"(try -h)\n", optopt);
			else
				fprintf(stderr, "mkmodel: unknown option '%s' "
					"(try -h)\n", argv[optind - 1]);
			return 1;
		default:	/* one of the dimensions */
			snprintf(flag, sizeof flag, "--%s", longopts[li].name);
			if (cli_u64(flag, optarg, UINT32_MAX, &v, err, sizeof err))
				return cli_die("%s", err);
			set[opt - OPT_LAYERS] = (uint32_t)v;
			have[opt - OPT_LAYERS] = 1;
			break;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mkmodel: unexpected argument '%s' (try -h)\n",
			argv[optind]);
		return 1;
	}
	if (arch == SYNTH_GEMMA && tied == 0) {
		fprintf(stderr, "mkmodel: --untied: gemma always ties its "
			"output to token_embd\n");
		return 1;
	}

	synth_default(&c, arch);
	for (int i = 0; i <= OPT_CTX - OPT_LAYERS; i++)
		if (have[i])
			*dims[i] = set[i];
	c.seed = seed;
	if (tied >= 0)
		c.tied = tied;
	if (!path) {
		snprintf(defpath, sizeof(defpath), "models/default-%s-q8_0.gguf",
			 synth_arch_name(arch));
		path = defpath;
		if (mkdir("models", 0777) && errno != EEXIST) {
			fprintf(stderr, "mkmodel: mkdir models: %s\n",
				strerror(errno));
			return 1;
		}
	}

	return write_model(&c, path);
}

/* mkmodel - writes a deterministic synthetic GGUF model (model/synth.h).
 *
 * Same flags, same bytes.  Default: the gemma profile this project is
 * built around, to models/default-gemma-q8_0.gguf.  Prints one summary
 * line to stderr; on error one line and exit status 1. */
#include <errno.h>
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
"  -o, --out PATH  output (default models/default-<arch>-q8_0.gguf)\n"
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
"                  untied); gemma is always tied\n"
"  -h, --help      this text\n";

enum {
	OPT_OUT = 1, OPT_ARCH, OPT_SEED, OPT_TIED, OPT_UNTIED, OPT_HELP,
	OPT_LAYERS, OPT_EMBD, OPT_HEADS, OPT_KV_HEADS, OPT_HEAD_DIM, OPT_FF,
	OPT_CTX,	/* the dimensions, OPT_LAYERS..OPT_CTX, in synth_cfg order */
};

#define N_DIMS (OPT_CTX - OPT_LAYERS + 1)

static const struct cli_flag flags[] = {
	{ "out", 'o', 1, OPT_OUT }, { "arch", 0, 1, OPT_ARCH },
	{ "layers", 0, 1, OPT_LAYERS }, { "embd", 0, 1, OPT_EMBD },
	{ "heads", 0, 1, OPT_HEADS }, { "kv-heads", 0, 1, OPT_KV_HEADS },
	{ "head-dim", 0, 1, OPT_HEAD_DIM }, { "ff", 0, 1, OPT_FF },
	{ "ctx", 0, 1, OPT_CTX }, { "seed", 0, 1, OPT_SEED },
	{ "tied", 0, 0, OPT_TIED }, { "untied", 0, 0, OPT_UNTIED },
	{ "help", 'h', 0, OPT_HELP }, { 0 }
};

/* What the flags ask for. */
struct opts {
	enum synth_arch arch;
	const char *path;
	uint64_t seed;
	int tied;		/* -1: the architecture's default */
	uint32_t dim[N_DIMS];
	int have[N_DIMS];
};

/* One flag into o; 0, or -1 with the message in c->err. */
static int take_flag(struct cli *c, int id, void *ctx)
{
	struct opts *o = ctx;
	uint64_t v;

	switch (id) {
	case OPT_OUT: o->path = c->val; return 0;
	case OPT_ARCH:
		if (!synth_arch_parse(c->val, &o->arch))
			return 0;
		snprintf(c->err, sizeof c->err, "--arch: unknown architecture '%s' "
			 "(gemma or llama)", c->val);
		return -1;
	case OPT_SEED: return cli_get_u64(c, UINT64_MAX, &o->seed);
	case OPT_TIED:
	case OPT_UNTIED: o->tied = id == OPT_TIED; return 0;
	case OPT_HELP: fputs(usage, stdout); exit(0);
	}
	if (cli_get_u64(c, UINT32_MAX, &v) < 0)	/* one of the dimensions */
		return -1;
	o->dim[id - OPT_LAYERS] = (uint32_t)v;
	o->have[id - OPT_LAYERS] = 1;
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	if (cli_parse(argc, argv, flags, take_flag, o))
		return 1;
	if (o->arch == SYNTH_GEMMA && o->tied == 0)
		return cli_die("--untied: gemma always ties its output to token_embd");
	return 0;
}

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
	struct opts o = { .arch = SYNTH_GEMMA, .tied = -1 };
	struct synth_cfg c;
	char defpath[64];
	uint32_t *dims[N_DIMS] = {
		&c.n_layer, &c.n_embd, &c.n_head, &c.n_head_kv, &c.head_dim,
		&c.n_ff, &c.n_ctx,
	};

	cli_set_prog("mkmodel");
	if (parse_args(argc, argv, &o))
		return 1;
	synth_default(&c, o.arch);
	for (int i = 0; i < N_DIMS; i++)
		if (o.have[i])
			*dims[i] = o.dim[i];
	c.seed = o.seed;
	if (o.tied >= 0)
		c.tied = o.tied;
	if (!o.path) {
		snprintf(defpath, sizeof(defpath), "models/default-%s-q8_0.gguf",
			 synth_arch_name(o.arch));
		o.path = defpath;
		if (mkdir("models", 0777) && errno != EEXIST)
			return cli_die("mkdir models: %s", strerror(errno));
	}
	return write_model(&c, o.path);
}

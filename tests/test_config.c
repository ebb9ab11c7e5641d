/* test_config.c - the best-config file (tuning/config.c), the registry
 * signature (kernels/signature.c), the model fingerprint
 * (model/fingerprint.c) and ./infer --config.
 *
 * Every test works in its own mkdtemp directory under /tmp with small
 * synthetic models (model/synth.h); nothing depends on ../shared. */
#include <dirent.h>
#include <jansson.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "common.h"
#include "file.h"
#include "config.h"
#include "cpu.h"
#include "env.h"
#include "fingerprint.h"
#include "generate.h"
#include "gguf.h"
#include "gguf_write.h"
#include "model.h"
#include "pool.h"
#include "run.h"
#include "signature.h"
#include "small.h"
#include "synth.h"

#define ALL_FEATURES 0xffffffffu

/* --- helpers ---------------------------------------------------------- */

/* A directory with a llama model and a valid config written for it. */
struct fx {
	char dir[64], cfg[128], model[128];
	struct model *m;
	struct best_config c;
};

static void set_choice(struct phase_cfg *p, enum op_id op, const char *name)
{
	p->v[op] = variant_find(op, name);
	cr_assert_not_null(p->v[op], "%s/%s missing", kernel_ops[op].name, name);
}

/* Every variant chosen here has needs 0, so the file reads back under any
 * Q8TUNE_CPU_MASK. */
static void fx_open(struct fx *f)
{
	struct synth_cfg sc = small_cfg(SYNTH_LLAMA);
	char err[512] = "";

	memset(f, 0, sizeof *f);
	test_tmpdir(f->dir, sizeof f->dir, "cfg");
	snprintf(f->cfg, sizeof f->cfg, "%s/best.json", f->dir);
	snprintf(f->model, sizeof f->model, "%s/m.gguf", f->dir);
	write_model(&sc, f->model);
	f->m = load(f->model);
	cr_assert_eq(config_init(&f->c, f->m, err, sizeof err), 0, "%s", err);
	snprintf(f->c.tool, sizeof f->c.tool, "tune");
	snprintf(f->c.git_rev, sizeof f->c.git_rev, "0123456789ab-dirty");
	f->c.dirty = 1;
	snprintf(f->c.created, sizeof f->c.created, "2026-12-01T07:09:31Z");

	struct phase_cfg *pp = &f->c.phase[PHASE_PROMPT], *pd = &f->c.phase[PHASE_DECODE];
	pp->threads = 2;
	pp->pin = PIN_CORES;
	set_choice(pp, OP_MATMUL_Q8, "scalar");
	pp->n_params[OP_MATMUL_Q8] = 2;
	snprintf(pp->params[OP_MATMUL_Q8][0].name, CFG_PARAM_NAME, "rows_per_task");
	pp->params[OP_MATMUL_Q8][0].value = 16;
	snprintf(pp->params[OP_MATMUL_Q8][1].name, CFG_PARAM_NAME, "big");
	pp->params[OP_MATMUL_Q8][1].value = 1LL << 40;
	set_choice(pp, OP_GELU, "rational");
	pd->threads = 1;
	pd->pin = PIN_NONE;
	set_choice(pd, OP_GELU, "erf");
	set_choice(pd, OP_ROPE, "computed");
	f->c.measurements = json_pack(
		"{s:{s:{s:f,s:f,s:f,s:i},s:{s:f,s:f,s:f,s:i},s:f,s:[i,i]},"
		"s:{s:s,s:{s:b}}}",
		"decode",
		"default", "median_ms", 2.5, "ci_lo", 2.4, "ci_hi", 2.6, "n", 21,
		"tuned", "median_ms", 2.0, "ci_lo", 1.9, "ci_hi", 2.1, "n", 21,
		"speedup_vs_default", 1.25, "notes", 3, 4,
		"tuner", "budget", "60s", "flags", "quick", 1);
	cr_assert_not_null(f->c.measurements);
	cr_assert_eq(config_write(f->cfg, &f->c, err, sizeof err), 0, "%s", err);
}

/* Removes every file of dir, then dir. */
static void rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[512];

	if (!d)
		return;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
			unlink(p);
		}
	closedir(d);
	rmdir(dir);
}

static void fx_close(struct fx *f)
{
	config_free(&f->c);
	model_free(f->m);
	rm_dir(f->dir);
}

static char *slurp(const char *path, size_t *n)
{
	FILE *fp = fopen(path, "rb");
	char *b;
	long len;

	cr_assert_not_null(fp, "cannot open %s", path);
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	b = malloc((size_t)len + 1);
	cr_assert_eq(fread(b, 1, (size_t)len, fp), (size_t)len);
	b[len] = '\0';
	fclose(fp);
	if (n)
		*n = (size_t)len;
	return b;
}

static void spit(const char *path, const char *text, size_t n)
{
	FILE *fp = fopen(path, "wb");

	cr_assert_not_null(fp);
	cr_assert_eq(fwrite(text, 1, n, fp), n);
	fclose(fp);
}

/* Node at a dotted path of root (op names have no dots); NULL if absent. */
static json_t *at(json_t *root, const char *dotted, char *last, size_t cap)
{
	char buf[256], *save = NULL, *tok, *next;
	json_t *o = root;

	snprintf(buf, sizeof buf, "%s", dotted);
	tok = strtok_r(buf, ".", &save);
	while (tok && (next = strtok_r(NULL, ".", &save))) {
		o = json_object_get(o, tok);
		cr_assert(json_is_object(o), "no object at %s in %s", tok, dotted);
		tok = next;
	}
	snprintf(last, cap, "%s", tok);
	return o;
}

/* Rewrites f->cfg with the field at dotted set to val (stolen), or
 * deleted when val is NULL. */
static void tamper(struct fx *f, const char *dotted, json_t *val)
{
	json_error_t je;
	json_t *root = json_load_file(f->cfg, 0, &je);
	char key[64];
	json_t *parent;

	cr_assert_not_null(root, "%s", je.text);
	parent = at(root, dotted, key, sizeof key);
	if (val)
		json_object_set_new(parent, key, val);
	else
		json_object_del(parent, key);
	cr_assert_eq(json_dump_file(root, f->cfg, JSON_INDENT(2)), 0);
	json_decref(root);
}

/* config_read must fail with one line "FILE: " + something containing
 * want. */
static void expect_fatal(struct fx *f, uint32_t features, const char *want)
{
	struct best_config c;
	char err[1024] = "", prefix[160];
	int rc = config_read(f->cfg, features, &c, err, sizeof err);

	cr_assert_eq(rc, -1, "config_read accepted the file (wanted '%s')", want);
	snprintf(prefix, sizeof prefix, "%s: ", f->cfg);
	cr_expect(!strncmp(err, prefix, strlen(prefix)),
		  "message does not start with the file: %s", err);
	cr_expect(strstr(err, want), "message '%s' lacks '%s'", err, want);
	cr_expect(!strchr(err, '\n'), "message is not one line: %s", err);
	cr_expect_null(c.measurements);
}

static void read_ok(const char *path, uint32_t features, struct best_config *c)
{
	char err[1024] = "";

	cr_assert_eq(config_read(path, features, c, err, sizeof err), 0,
		     "config_read: %s", err);
}

/* --- registry signature ------------------------------------------------ */

/* FNV-1a 64, written again here from the published constants. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n--) {
		h ^= *b++;
		h *= 1099511628211ull;
	}
	return h;
}

Test(config, signature_of_a_known_table)
{
	static const struct variant ta[] = { { .name = "x" }, { .name = "yz" }, { 0 } };
	static const struct variant tb[] = { { .name = "w" }, { 0 } };
	const struct op_desc ops[] = { { "opa", ta }, { "opb", tb } };
	const char text[] = "opa/x\nopa/yz\nopb/w\n";
	const unsigned char count[4] = { 3, 0, 0, 0 };
	uint64_t want = fnv(fnv(14695981039346656037ull, text, strlen(text)),
			    count, 4);
	int n = -1;

	cr_expect_eq(registry_hash(ops, 2, &n), want, "hash %016llx, want %016llx",
		     (unsigned long long)registry_hash(ops, 2, NULL),
		     (unsigned long long)want);
	cr_expect_eq(n, 3);
}

Test(config, signature_follows_the_registry)
{
	struct op_desc ops[OP_COUNT];
	struct variant copy[64];
	char sig[32], again[32], hex[32];
	int count = 0, n = 0, i = 0;

	for (int op = 0; op < OP_COUNT; op++)
		for (const struct variant *v = kernel_ops[op].variants; v->name; v++)
			count++;
	cr_expect_eq(registry_variant_count(), count);
	registry_signature(sig, sizeof sig);
	registry_signature(again, sizeof again);
	cr_expect_str_eq(sig, again);
	cr_expect_eq(strlen(sig), 16u);
	cr_expect_eq(strspn(sig, "0123456789abcdef"), 16u, "%s", sig);
	snprintf(hex, sizeof hex, "%016llx",
		 (unsigned long long)registry_hash(kernel_ops, OP_COUNT, &n));
	cr_expect_str_eq(hex, sig);
	cr_expect_eq(n, count);

	/* a faithful copy hashes the same; one renamed variant does not */
	memcpy(ops, kernel_ops, sizeof ops);
	for (const struct variant *v = kernel_ops[OP_MATMUL_Q8].variants; v->name; v++)
		copy[i++] = *v;
	copy[i] = (struct variant){ 0 };
	ops[OP_MATMUL_Q8].variants = copy;
	uint64_t base = registry_hash(kernel_ops, OP_COUNT, NULL);
	cr_expect_eq(registry_hash(ops, OP_COUNT, NULL), base);
	copy[1].name = "avx512vnni_blocked4x";
	cr_expect_neq(registry_hash(ops, OP_COUNT, NULL), base);
	/* swapping two entries changes the order, hence the hash */
	copy[1] = kernel_ops[OP_MATMUL_Q8].variants[0];
	copy[0] = kernel_ops[OP_MATMUL_Q8].variants[1];
	cr_expect_neq(registry_hash(ops, OP_COUNT, NULL), base);
	/* one variant fewer */
	memcpy(copy, kernel_ops[OP_MATMUL_Q8].variants, sizeof copy[0] * (size_t)i);
	copy[i - 1] = (struct variant){ 0 };
	cr_expect_neq(registry_hash(ops, OP_COUNT, &n), base);
	cr_expect_eq(n, count - 1);
	/* an op renamed */
	ops[OP_MATMUL_Q8].variants = kernel_ops[OP_MATMUL_Q8].variants;
	ops[OP_ATTENTION].name = "attn";
	cr_expect_neq(registry_hash(ops, OP_COUNT, NULL), base);
}

/* --- model fingerprint ------------------------------------------------- */

Test(config, model_fingerprint)
{
	struct synth_cfg a = small_cfg(SYNTH_LLAMA), b = a, t = a;
	char dir[96], pa[128], pb[128], pt[128], err[256];
	struct model_fp fa, fb, ft, back;
	struct model *ma, *mb, *mt;

	test_tmpdir(dir, sizeof dir, "fp");
	snprintf(pa, sizeof pa, "%s/a.gguf", dir);
	snprintf(pb, sizeof pb, "%s/b.gguf", dir);
	snprintf(pt, sizeof pt, "%s/t.gguf", dir);
	b.n_layer = 3;
	t.tied = 1;	/* same shape, no output.weight: another tensor table */
	write_model(&a, pa);
	write_model(&b, pb);
	write_model(&t, pt);
	ma = load(pa);
	mb = load(pb);
	mt = load(pt);
	cr_assert_eq(model_fp_get(ma, &fa), 0);
	cr_assert_eq(model_fp_get(mb, &fb), 0);
	cr_assert_eq(model_fp_get(mt, &ft), 0);
	cr_expect_str_eq(fa.arch, "llama");
	cr_expect_eq(fa.n_layer, 2);
	cr_expect_eq(fa.n_embd, 64);
	cr_expect_eq(fa.n_head, 2);
	cr_expect_eq(fa.n_head_kv, 1);
	cr_expect_eq(fa.head_dim, 32);
	cr_expect_eq(fa.n_ff, 128);
	cr_expect_eq(fa.n_vocab, (int)synth_n_vocab());
	cr_expect_eq(strlen(fa.tensor_hash), 16u);

	/* the hash, recomputed from the raw table as documented */
	uint64_t h = 14695981039346656037ull;
	const struct gguf *g = ma->g;
#define FEED(x) do { uint64_t v_ = (x); unsigned char le[8]; \
		for (int k = 0; k < 8; k++) le[k] = (unsigned char)(v_ >> (8 * k)); \
		h = fnv(h, le, 8); } while (0)
	FEED(g->n_tensors);
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		h = fnv(h, g->tensors[i].name, strlen(g->tensors[i].name) + 1);
		FEED((uint64_t)g->tensors[i].type);
		FEED(g->tensors[i].n_dims);
		for (uint32_t d = 0; d < g->tensors[i].n_dims; d++)
			FEED(g->tensors[i].ne[d]);
		FEED(g->tensors[i].offset);
	}
#undef FEED
	char hex[20];
	snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
	cr_expect_str_eq(fa.tensor_hash, hex);

	cr_expect_null(model_fp_diff(&fa, &fa));
	cr_expect_str_eq(model_fp_diff(&fa, &fb), "n_layer 2 != 3");
	const char *d = model_fp_diff(&fa, &ft);
	cr_assert_not_null(d);
	cr_expect(!strncmp(d, "tensor table hash ", 18), "%s", d);
	cr_expect_eq(ft.n_layer, fa.n_layer);

	json_t *j = model_fp_json(&fa);
	cr_assert_eq(model_fp_from_json(j, &back, err, sizeof err), 0, "%s", err);
	cr_expect_null(model_fp_diff(&fa, &back), "%s", model_fp_diff(&fa, &back));
	json_object_set_new(j, "n_ff", json_string("128"));
	cr_expect_eq(model_fp_from_json(j, &back, err, sizeof err), -1);
	cr_expect_str_eq(err, "n_ff: expected an integer");
	json_decref(j);

	model_free(ma);
	model_free(mb);
	model_free(mt);
	rm_dir(dir);
}

/* --- round trip --------------------------------------------------------- */

static void expect_same(const struct best_config *a, const struct best_config *b)
{
	cr_expect_str_eq(a->tool, b->tool);
	cr_expect_str_eq(a->git_rev, b->git_rev);
	cr_expect_eq(a->dirty, b->dirty);
	cr_expect_str_eq(a->created, b->created);
	cr_expect_null(machine_fp_diff(&a->machine, &b->machine), "machine: %s",
		       machine_fp_diff(&a->machine, &b->machine));
	cr_expect_null(model_fp_diff(&a->model, &b->model), "model: %s",
		       model_fp_diff(&a->model, &b->model));
	cr_expect_str_eq(a->registry_sig, b->registry_sig);
	cr_expect_eq(a->registry_variants, b->registry_variants);
	for (int ph = 0; ph < PHASE_COUNT; ph++) {
		const struct phase_cfg *p = &a->phase[ph], *q = &b->phase[ph];

		cr_expect_eq(p->threads, q->threads, "%s threads", phase_name(ph));
		cr_expect_eq(p->pin, q->pin, "%s pin", phase_name(ph));
		for (int op = 0; op < OP_COUNT; op++) {
			cr_expect_eq(p->v[op], q->v[op], "%s %s", phase_name(ph),
				     kernel_ops[op].name);
			cr_expect_eq(p->n_params[op], q->n_params[op]);
			for (int i = 0; i < p->n_params[op]; i++) {
				cr_expect_str_eq(p->params[op][i].name,
						 q->params[op][i].name);
				cr_expect_eq(p->params[op][i].value,
					     q->params[op][i].value);
			}
		}
	}
	cr_expect(json_equal(a->measurements, b->measurements),
		  "measurements differ");
}

Test(config, round_trip)
{
	struct fx f;
	struct best_config c;
	struct machine_fp here;
	struct model_fp mfp;
	char err[512], warn[1024], sig[32];

	fx_open(&f);
	read_ok(f.cfg, 0, &c);
	expect_same(&f.c, &c);
	cr_expect_str_eq(c.path, f.cfg);
	/* config_init filled what identifies this build, machine and model */
	registry_signature(sig, sizeof sig);
	cr_expect_str_eq(c.registry_sig, sig);
	cr_assert_eq(machine_fp_get(&here, err, sizeof err), 0, "%s", err);
	model_fp_get(f.m, &mfp);
	cr_expect_eq(config_check(&c, &here, &mfp, warn, sizeof warn), 0,
		     "warnings on the same machine and model: %s", warn);
	cr_expect_str_eq(warn, "");

	/* what reads back writes back to the same bytes */
	char again[160];
	snprintf(again, sizeof again, "%s/again.json", f.dir);
	cr_assert_eq(config_write(again, &c, err, sizeof err), 0, "%s", err);
	char *t1 = slurp(f.cfg, NULL), *t2 = slurp(again, NULL);
	cr_expect_str_eq(t1, t2);
	cr_expect(strstr(t1, "\"schema\": \"q8tune-best-config\""), "%.200s", t1);
	free(t1);
	free(t2);
	config_free(&c);
	cr_expect_null(c.measurements);
	fx_close(&f);
}

Test(config, measurements_optional)
{
	struct fx f;
	struct best_config c;

	fx_open(&f);
	tamper(&f, "measurements", NULL);
	read_ok(f.cfg, 0, &c);
	cr_expect_null(c.measurements);
	cr_expect_eq(c.phase[PHASE_DECODE].v[OP_GELU], variant_find(OP_GELU, "erf"));
	config_free(&c);
	fx_close(&f);
	/* a known field of a wrong type is refused, naming it */
	fx_open(&f);
	tamper(&f, "measurements.decode.tuned.median_ms", json_string("fast"));
	expect_fatal(&f, 0, "measurements.decode.tuned.median_ms: expected a number, got a string");
	fx_close(&f);
}

/* --- fatal tampering ----------------------------------------------------- */

Test(config, unknown_variant)
{
	struct fx f;

	fx_open(&f);
	tamper(&f, "phases.decode.kernels.matmul_q8",
	       json_pack("{s:s}", "variant", "avx9000"));
	expect_fatal(&f, ALL_FEATURES,
		     "phases.decode.kernels.matmul_q8: unknown variant 'avx9000' (known: ");
	fx_close(&f);
}

Test(config, unknown_op)
{
	struct fx f;

	fx_open(&f);
	tamper(&f, "phases.prompt.kernels.matmul_q9",
	       json_pack("{s:s}", "variant", "scalar"));
	expect_fatal(&f, ALL_FEATURES, "phases.prompt.kernels.matmul_q9: unknown op");
	fx_close(&f);
}

/* A config tuned by a build that still had dot, softmax and axpy (now
 * folded into attention) loads; those entries are ignored, the other
 * choices kept. */
Test(config, retired_ops_are_ignored)
{
	struct fx f;
	struct best_config c;
	struct kernels k;
	char err[512];

	fx_open(&f);
	tamper(&f, "phases.prompt.kernels.softmax",
	       json_pack("{s:s}", "variant", "avx512"));
	tamper(&f, "phases.decode.kernels.dot",
	       json_pack("{s:s,s:{}}", "variant", "scalar", "params"));
	read_ok(f.cfg, ALL_FEATURES, &c);
	cr_assert_eq(config_kernels(&c, PHASE_PROMPT, &k, err, sizeof err), 0,
		     "%s", err);
	cr_expect_not_null(k.v[OP_ATTENTION]);
	config_free(&c);
	/* a retired name is not a wildcard: an unknown one still fails */
	tamper(&f, "phases.prompt.kernels.dots",
	       json_pack("{s:s}", "variant", "scalar"));
	expect_fatal(&f, ALL_FEATURES, "phases.prompt.kernels.dots: unknown op");
	fx_close(&f);
}

Test(config, missing_isa)
{
	struct fx f;
	struct best_config c;
	const uint32_t avx2 = CPU_SSE42 | CPU_AVX | CPU_AVX2 | CPU_FMA | CPU_F16C;

	fx_open(&f);
	tamper(&f, "phases.decode.kernels.matmul_q8",
	       json_pack("{s:s,s:{}}", "variant", "avx2", "params"));
	expect_fatal(&f, 0, "phases.decode.kernels.matmul_q8: variant 'avx2' "
		     "needs avx avx2 fma f16c which this CPU lacks");
	read_ok(f.cfg, avx2, &c);
	cr_expect_eq(c.phase[PHASE_DECODE].v[OP_MATMUL_Q8],
		     variant_find(OP_MATMUL_Q8, "avx2"));
	config_free(&c);
	/* only what is missing is named */
	tamper(&f, "phases.decode.kernels.matmul_q8",
	       json_pack("{s:s}", "variant", "avx512vnni_4blk"));
	expect_fatal(&f, avx2, "variant 'avx512vnni_4blk' needs avx512f avx512bw "
		     "avx512vl avx512vnni which this CPU lacks");
	fx_close(&f);
}

Test(config, bad_json_names_line_and_column)
{
	struct fx f;
	size_t n, cut;
	char *text, want[64];
	int line = 1;

	fx_open(&f);
	text = slurp(f.cfg, &n);
	/* cut in the middle of a line, after a value's first character */
	for (cut = n / 2; text[cut - 1] == '\n' || text[cut] == '\n'; cut++)
		;
	for (size_t i = 0; i < cut; i++)
		line += text[i] == '\n';
	spit(f.cfg, text, cut);
	snprintf(want, sizeof want, ": line %d column ", line);
	expect_fatal(&f, ALL_FEATURES, want);
	/* not JSON at all, and an empty file */
	spit(f.cfg, "best config\n", 12);
	expect_fatal(&f, ALL_FEATURES, ": line 1 column 4: ");
	spit(f.cfg, "", 0);
	expect_fatal(&f, ALL_FEATURES, "line ");
	/* a JSON value that is not an object */
	spit(f.cfg, "[1]\n", 4);
	expect_fatal(&f, ALL_FEATURES, "expected a JSON object, got an array");
	free(text);
	fx_close(&f);
}

Test(config, every_truncation_is_refused)
{
	struct fx f;
	size_t n;
	char *text;

	fx_open(&f);
	text = slurp(f.cfg, &n);
	for (size_t cut = 0; cut + 2 < n; cut += 5) {
		struct best_config c;
		char err[512] = "";

		spit(f.cfg, text, cut);
		cr_assert_eq(config_read(f.cfg, ALL_FEATURES, &c, err, sizeof err), -1,
			     "a file cut at %zu of %zu bytes was accepted", cut, n);
		cr_assert(strstr(err, "line "), "cut %zu: %s", cut, err);
	}
	free(text);
	fx_close(&f);
}

Test(config, missing_file)
{
	struct best_config c;
	char err[512] = "";

	cr_expect_eq(config_read("/nonexistent/best.json", 0, &c, err, sizeof err), -1);
	cr_expect(!strncmp(err, "/nonexistent/best.json: ", 24), "%s", err);
	cr_expect(strstr(err, "No such file"), "%s", err);
}

Test(config, wrong_schema)
{
	struct fx f;

	fx_open(&f);
	tamper(&f, "schema", json_string("fftw-wisdom"));
	expect_fatal(&f, ALL_FEATURES, "schema: 'fftw-wisdom' is not q8tune-best-config");
	tamper(&f, "schema", NULL);
	expect_fatal(&f, ALL_FEATURES, "schema: missing");
	fx_close(&f);
}

Test(config, wrong_schema_version)
{
	struct fx f;

	fx_open(&f);
	tamper(&f, "schema_version", json_integer(2));
	expect_fatal(&f, ALL_FEATURES, "schema_version: 2 is not supported");
	tamper(&f, "schema_version", json_string("1"));
	expect_fatal(&f, ALL_FEATURES, "schema_version: expected an integer, got a string");
	fx_close(&f);
}

Test(config, wrong_values)
{
	static const struct {
		const char *field, *json, *want;
	} cases[] = {
		{ "phases.prompt.threads", "\"two\"",
		  "phases.prompt.threads: expected an integer, got a string" },
		{ "phases.prompt.threads", "0",
		  "phases.prompt.threads: 0 is out of range [1, 1024]" },
		{ "phases.decode.pin", "\"numa\"",
		  "phases.decode.pin: 'numa' is not none or cores" },
		{ "phases.decode.kernels.gelu.params", "[1]",
		  "phases.decode.kernels.gelu.params: expected an object, got an array" },
		{ "phases.prompt.kernels.matmul_q8.params.rows_per_task", "1.5",
		  "phases.prompt.kernels.matmul_q8.params.rows_per_task: expected an integer, got a real number" },
		{ "phases.prompt.kernels.matmul_q8.variant", "null",
		  "phases.prompt.kernels.matmul_q8.variant: expected a string, got null" },
		{ "phases.prompt.kernels.matmul_q8.tile", "4",
		  "phases.prompt.kernels.matmul_q8.tile: unknown field" },
		{ "phases.prompt.thread", "2", "phases.prompt.thread: unknown field" },
		{ "phases.warmup", "{}", "phases.warmup: unknown field" },
		{ "phases.decode", "null", "phases.decode: expected an object, got null" },
		{ "created", "\"yesterday\"", "created: 'yesterday' is not YYYY-MM-DDTHH:MM:SSZ" },
		{ "tool.dirty", "1", "tool.dirty: expected true or false, got an integer" },
		{ "registry.variants", "-1", "registry.variants: -1 is out of range" },
		{ "model.n_layer", "\"2\"", "model.n_layer: expected an integer" },
		{ "wisdom", "{}", "wisdom: unknown field" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct fx f;
		json_error_t je;
		json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY, &je);

		cr_assert_not_null(v, "%s", cases[i].json);
		fx_open(&f);
		tamper(&f, cases[i].field, v);
		expect_fatal(&f, ALL_FEATURES, cases[i].want);
		fx_close(&f);
	}
}

/* Every field of a valid file, replaced in turn by a value of every other
 * JSON type: refused, naming the field (machine: its own parser's
 * message, under "machine"), and never a crash. */
static void replace_each(json_t *root, json_t *node, const char *path,
			 const char *file, int *checked)
{
	const char *key;
	json_t *child;

	json_object_foreach(node, key, child) {
		char p[256];

		snprintf(p, sizeof p, "%s%s%s", path, *path ? "." : "", key);
		/* opaque under measurements: anything goes */
		if (!strncmp(p, "measurements.tuner", 18) ||
		    !strcmp(p, "measurements.decode.notes"))
			continue;
		json_t *subs[] = { json_string("x"), json_integer(7), json_real(0.5),
				   json_array(), json_object(), json_null(), json_true() };
		for (size_t s = 0; s < sizeof subs / sizeof subs[0]; s++) {
			json_t *sub = subs[s];
			int same = json_typeof(sub) == json_typeof(child) ||
				   (json_is_boolean(sub) && json_is_boolean(child)) ||
				   (json_is_real(child) && json_is_integer(sub));
			struct best_config c;
			char err[1024] = "";

			if (same)
				goto next;
			json_incref(child);
			json_object_set(node, key, sub);
			cr_assert_eq(json_dump_file(root, file, 0), 0);
			json_object_set(node, key, child);
			json_decref(child);
			int rc = config_read(file, ALL_FEATURES, &c, err, sizeof err);
			if (!strncmp(p, "machine", 7)) {
				if (rc == 0)
					config_free(&c);
				else
					cr_expect(strstr(err, "machine"), "%s -> %s", p, err);
				goto next;
			}
			cr_expect_eq(rc, -1, "%s replaced by %s was accepted", p,
				     json_dumps(sub, JSON_ENCODE_ANY));
			cr_expect(strstr(err, p), "%s: message '%s'", p, err);
			(*checked)++;
next:
			json_decref(sub);
		}
		if (json_is_object(child))
			replace_each(root, child, p, file, checked);
	}
}

Test(config, wrong_types_everywhere)
{
	struct fx f;
	json_error_t je;
	json_t *root;
	int checked = 0;

	fx_open(&f);
	root = json_load_file(f.cfg, 0, &je);
	cr_assert_not_null(root);
	replace_each(root, root, "", f.cfg, &checked);
	cr_expect_gt(checked, 150, "only %d replacements checked", checked);
	json_decref(root);
	fx_close(&f);
}

/* --- warnings ----------------------------------------------------------- */

/* Reads path (must succeed), then config_check gives n warnings, one
 * line each, one of them containing want. */
static void expect_warnings(const char *path, const struct machine_fp *here,
			    const struct model_fp *model, int n, const char *want)
{
	struct best_config c;
	char warn[2048];

	read_ok(path, 0, &c);
	cr_expect_eq(config_check(&c, here, model, warn, sizeof warn), n, "%s", warn);
	cr_expect_eq(count_lines(warn), n ? n - 1 : 0, "%d lines joined by newlines: %s",
		     n, warn);
	cr_expect(strstr(warn, want), "'%s' lacks '%s'", warn, want);
	config_free(&c);
}

Test(config, other_model_warns)
{
	struct fx f;
	struct synth_cfg sc = small_cfg(SYNTH_LLAMA);
	struct model_fp other;
	char path[160], want[256];
	struct model *m;

	fx_open(&f);
	sc.n_layer = 3;
	snprintf(path, sizeof path, "%s/other.gguf", f.dir);
	write_model(&sc, path);
	m = load(path);
	model_fp_get(m, &other);
	snprintf(want, sizeof want, "%s: model fingerprint differs: n_layer 2 != 3",
		 f.cfg);
	expect_warnings(f.cfg, NULL, &other, 1, want);
	model_free(m);
	fx_close(&f);
}

Test(config, other_machine_warns)
{
	struct fx f;
	struct machine_fp here;
	char want[256], err[256];

	fx_open(&f);
	cr_assert_eq(machine_fp_get(&here, err, sizeof err), 0, "%s", err);
	/* the file claims another CPU model; everything else as here */
	f.c.machine.model = here.model + 0x10;
	cr_assert_eq(config_write(f.cfg, &f.c, err, sizeof err), 0, "%s", err);
	snprintf(want, sizeof want, "%s: machine fingerprint differs: %s", f.cfg,
		 machine_fp_diff(&f.c.machine, &here));
	expect_warnings(f.cfg, &here, NULL, 1, want);
	/* NULL skips the machine */
	expect_warnings(f.cfg, NULL, NULL, 0, "");
	fx_close(&f);
}

Test(config, stale_registry_warns)
{
	struct fx f;

	fx_open(&f);
	tamper(&f, "registry.signature", json_string("0123456789abcdef"));
	expect_warnings(f.cfg, NULL, NULL, 1,
			"registry signature differs: 0123456789abcdef");
	fx_close(&f);
	/* the count alone differs */
	fx_open(&f);
	tamper(&f, "registry.variants", json_integer(1));
	expect_warnings(f.cfg, NULL, NULL, 1, "(1 variants) != this build's");
	tamper(&f, "registry.signature", NULL);
	expect_fatal(&f, 0, "registry.signature: missing");
	fx_close(&f);
}

Test(config, all_warnings_at_once)
{
	struct fx f;
	struct machine_fp here;
	struct model_fp other;
	char err[256];

	fx_open(&f);
	cr_assert_eq(machine_fp_get(&here, err, sizeof err), 0, "%s", err);
	here.l3 += 1024;
	other = f.c.model;
	other.n_ff = 256;
	tamper(&f, "registry.variants", json_integer(1));
	expect_warnings(f.cfg, &here, &other, 3, "model fingerprint differs: n_ff 128 != 256");
	expect_warnings(f.cfg, &here, &other, 3, "machine fingerprint differs: ");
	expect_warnings(f.cfg, &here, &other, 3, "(1 variants)");
	fx_close(&f);
}

/* --- atomic write -------------------------------------------------------- */

/* Names in dir other than the given ones. */
static int strays(const char *dir, const char *a, const char *b)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    strcmp(e->d_name, a) && strcmp(e->d_name, b))
			n++;
	closedir(d);
	return n;
}

Test(config, failed_write_keeps_the_old_file)
{
	static const enum atomic_fault faults[] = {
		ATOMIC_FAULT_OPEN, ATOMIC_FAULT_WRITE, ATOMIC_FAULT_FSYNC,
		ATOMIC_FAULT_RENAME
	};
	static const char *const steps[] = {
		"cannot create a temp file", "cannot write the temp file",
		"cannot fsync the temp file", "cannot rename the temp file"
	};
	struct fx f;
	size_t n0, n1;
	char *before, *after, err[512];

	fx_open(&f);
	before = slurp(f.cfg, &n0);
	f.c.phase[PHASE_DECODE].threads = 2;	/* a different file to write */
	for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
		atomic_fault_set(faults[i]);
		err[0] = '\0';
		cr_expect_eq(config_write(f.cfg, &f.c, err, sizeof err), -1,
			     "fault %zu", i);
		cr_expect(strstr(err, steps[i]), "fault %zu: %s", i, err);
		cr_expect(!strncmp(err, f.cfg, strlen(f.cfg)), "%s", err);
		after = slurp(f.cfg, &n1);
		cr_expect(n0 == n1 && !memcmp(before, after, n0),
			  "fault %zu changed the file", i);
		free(after);
		cr_expect_eq(strays(f.dir, "best.json", "m.gguf"), 0,
			     "fault %zu left a temp file", i);
	}
	/* the hook is one-shot: the next write goes through */
	cr_expect_eq(config_write(f.cfg, &f.c, err, sizeof err), 0, "%s", err);
	after = slurp(f.cfg, &n1);
	cr_expect(strstr(after, "\"threads\": 2"), "%s", after);
	cr_expect(strcmp(before, after), "the successful write changed nothing");
	cr_expect_eq(strays(f.dir, "best.json", "m.gguf"), 0);
	struct stat st;
	cr_expect_eq(stat(f.cfg, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0644, "mode %o", st.st_mode & 0777);
	free(after);
	free(before);
	/* a directory that does not exist: an error, nothing written */
	cr_expect_eq(config_write("/nonexistent-q8t/best.json", &f.c, err, sizeof err), -1);
	cr_expect(strstr(err, "/nonexistent-q8t/best.json: cannot create a temp file"),
		  "%s", err);
	fx_close(&f);
}

Test(config, write_refuses_what_it_cannot_store)
{
	struct fx f;
	struct variant fake = { .name = "scalar" };
	char err[512];

	fx_open(&f);
	f.c.phase[PHASE_PROMPT].threads = 0;
	cr_expect_eq(config_write(f.cfg, &f.c, err, sizeof err), -1);
	cr_expect(strstr(err, "phase prompt"), "%s", err);
	f.c.phase[PHASE_PROMPT].threads = 1;
	f.c.phase[PHASE_DECODE].v[OP_ATTENTION] = &fake;
	cr_expect_eq(config_write(f.cfg, &f.c, err, sizeof err), -1);
	cr_expect(strstr(err, "attention is not from its table"), "%s", err);
	fx_close(&f);
}

/* --- kernel sets ---------------------------------------------------------- */

Test(config, kernels_per_phase)
{
	struct fx f;
	struct best_config c;
	struct kernels def, kp, kd;
	char err[512];

	fx_open(&f);
	read_ok(f.cfg, cpu_get()->features, &c);
	cr_assert_eq(kernels_default(&def, err, sizeof err), 0, "%s", err);
	cr_assert_eq(config_kernels(&c, PHASE_PROMPT, &kp, err, sizeof err), 0, "%s", err);
	cr_assert_eq(config_kernels(&c, PHASE_DECODE, &kd, err, sizeof err), 0, "%s", err);
	for (int op = 0; op < OP_COUNT; op++) {
		const struct variant *wp = c.phase[PHASE_PROMPT].v[op];
		const struct variant *wd = c.phase[PHASE_DECODE].v[op];

		cr_expect_eq(kp.v[op], wp ? wp : def.v[op], "prompt %s", kernel_ops[op].name);
		cr_expect_eq(kd.v[op], wd ? wd : def.v[op], "decode %s", kernel_ops[op].name);
	}
	cr_expect_str_eq(kd.v[OP_GELU]->name, "erf");
	cr_expect_str_eq(kp.v[OP_GELU]->name, "rational");
	cr_expect_str_eq(kp.v[OP_MATMUL_Q8]->name, "scalar");

	/* the environment overrides the file, as it overrides the defaults */
	setenv("Q8TUNE_GELU", "exact", 1);
	cr_assert_eq(config_kernels(&c, PHASE_DECODE, &kd, err, sizeof err), 0, "%s", err);
	cr_expect_str_eq(kd.v[OP_GELU]->name, "exact");
	unsetenv("Q8TUNE_GELU");

	cr_expect_eq(config_kernels(&c, PHASE_COUNT, &kd, err, sizeof err), -1);
	config_free(&c);
	fx_close(&f);
}

/* --- generate() with a decode kernel set ---------------------------------- */

/* An attention that counts its calls: shows which set each phase used. */
static int attention_calls;

static void counting_attention(const struct att_args *a)
{
	attention_calls++;
	variant_reference(OP_ATTENTION)->fn.attention(a);
}

struct seen {
	int calls_at[2];	/* attention_calls when each phase began */
	int phases;
};

static int note_phase(void *ctx, enum phase ph, char *err, size_t errlen)
{
	struct seen *s = ctx;

	(void)err;
	(void)errlen;
	s->calls_at[ph] = attention_calls;
	s->phases |= 1 << ph;
	return 0;
}

Test(config, generate_switches_to_the_decode_set)
{
	static const struct variant counting = {
		.name = "counting", .kind = KIND_EXACT, .fn.attention = counting_attention
	};
	struct fx f;
	struct kernels kp, kd;
	struct pool *pool = pool_create(1);
	struct session *s;
	struct gen_result r, r0;
	struct seen seen = { { -1, -1 }, 0 };
	const int32_t prompt[] = { 1, 5, 9, 12 };
	char err[512];

	fx_open(&f);
	cr_assert_eq(kernels_default(&kp, err, sizeof err), 0, "%s", err);
	kd = kp;
	kd.v[OP_ATTENTION] = &counting;
	const struct kernels *sets[] = { &kp, &kd };
	struct prep_stats ps;
	cr_assert_eq(model_prepare(f.m, sets, 2, &ps, err, sizeof err), 0, "%s", err);

	struct gen_params gp = { .n_predict = 5, .ignore_eos = 1, .eos = -1,
				 .decode_k = &kd, .on_phase = note_phase,
				 .phase_ctx = &seen };
	s = session_create(f.m, 16, &kp, pool, err, sizeof err);
	cr_assert_not_null(s, "%s", err);
	cr_assert_eq(generate(s, prompt, 4, &gp, NULL, NULL, &r, err, sizeof err), 0,
		     "%s", err);
	cr_expect_eq(seen.phases, 3, "on_phase saw %#x", seen.phases);
	cr_expect_eq(seen.calls_at[PHASE_PROMPT], 0);
	cr_expect_eq(seen.calls_at[PHASE_DECODE], 0, "the prompt ran the decode set");
	/* 4 decode evals ran the counting set; their count per eval is the
	 * forward pass's business */
	cr_expect_gt(attention_calls, 0, "the decode evals did not use decode_k");

	/* same tokens as one set throughout: the switch changes no result */
	session_free(s);
	s = session_create(f.m, 16, &kp, pool, err, sizeof err);
	gp.decode_k = NULL;
	gp.on_phase = NULL;
	cr_assert_eq(generate(s, prompt, 4, &gp, NULL, NULL, &r0, err, sizeof err), 0,
		     "%s", err);
	cr_assert_eq(r.n, r0.n);
	cr_expect_arr_eq(r.tokens, r0.tokens, sizeof(int32_t) * (size_t)r.n);
	gen_result_free(&r);
	gen_result_free(&r0);
	session_free(s);
	pool_destroy(pool);
	fx_close(&f);
}

/* --- ./infer --config ------------------------------------------------------ */

/* The infer binary under test: $Q8TUNE_INFER, else ./infer. */
static char *infer_path(void)
{
	const char *p = getenv("Q8TUNE_INFER");

	static int fresh = -1;
	struct proc h;

	p = p && *p ? p : "./infer";
	if (access(p, X_OK))
		cr_skip_test("%s is not built (make infer, or set Q8TUNE_INFER); "
			     "skipped", p);
	if (fresh < 0) {
		char *argv[] = { (char *)p, "--help", NULL };

		run_argv(argv, &h);
		fresh = h.out && strstr(h.out, "--config") != NULL;
		proc_free(&h);
	}
	if (!fresh)
		cr_skip_test("%s predates --config (rebuild it: make infer); skipped", p);
	return (char *)p;
}

/* Runs infer on f's model for 4 greedy tokens with the extra arguments
 * (NULL-terminated, at most 4). */
static void run_infer(struct fx *f, struct proc *p, char *a1, char *a2, char *a3)
{
	char *argv[16] = { infer_path(), "--model", f->model, "-p", "Hello world",
			   "-n", "4", "--ignore-eos", "--json" };
	int n = 9;

	if (a1)
		argv[n++] = a1;
	if (a2)
		argv[n++] = a2;
	if (a3)
		argv[n++] = a3;
	argv[n] = NULL;
	run_argv(argv, p);
}

static json_t *tokens_of(const struct proc *p)
{
	json_error_t je;
	json_t *r = json_loads(p->out, 0, &je);

	cr_assert_not_null(r, "stdout is not JSON (%s): %s / %s", je.text, p->out, p->err);
	json_t *t = json_incref(json_object_get(r, "generated_tokens"));
	json_decref(r);
	cr_assert_eq(json_array_size(t), 4);
	return t;
}

static int exit_code(const struct proc *p)
{
	return WIFEXITED(p->status) ? WEXITSTATUS(p->status) : 128 + WTERMSIG(p->status);
}

Test(config, infer_runs_with_a_config)
{
	struct fx f;
	struct proc p0, p;
	char want[256];

	fx_open(&f);
	run_infer(&f, &p0, NULL, NULL, NULL);
	cr_assert_eq(exit_code(&p0), 0, "%s", p0.err);
	run_infer(&f, &p, "--config", f.cfg, NULL);
	cr_assert_eq(exit_code(&p), 0, "%s", p.err);
	json_t *t0 = tokens_of(&p0), *t = tokens_of(&p);
	cr_expect(json_equal(t0, t), "the config's exact variants changed the tokens");
	/* threads per phase from the file (prompt 2, decode 1), no warnings */
	snprintf(want, sizeof want, "2/1 threads (prompt/decode), config %s", f.cfg);
	cr_expect(strstr(p.err, want), "%s", p.err);
	cr_expect(!strstr(p.err, "differs"), "%s", p.err);
	/* --threads overrides the file */
	proc_free(&p);
	char *argv[] = { infer_path(), "--model", f.model, "-n", "2", "--config",
			 f.cfg, "--threads", "1", NULL };
	run_argv(argv, &p);
	cr_expect_eq(exit_code(&p), 0, "%s", p.err);
	cr_expect(strstr(p.err, ", 1 threads, config "), "%s", p.err);
	json_decref(t0);
	json_decref(t);
	proc_free(&p0);
	proc_free(&p);
	fx_close(&f);
}

/* A bad file: one line "infer: FILE: field: ...", exit 1, nothing on
 * stdout; with --config-fallback a warning and the default kernels. */
Test(config, infer_bad_config)
{
	struct fx f;
	struct proc p0, p;
	char want[256];

	fx_open(&f);
	tamper(&f, "phases.decode.kernels.matmul_q8",
	       json_pack("{s:s}", "variant", "avx9000"));
	run_infer(&f, &p, "--config", f.cfg, NULL);
	cr_expect_eq(exit_code(&p), 1, "%s", p.err);
	snprintf(want, sizeof want, "infer: %s: phases.decode.kernels.matmul_q8: "
		 "unknown variant 'avx9000'", f.cfg);
	cr_expect(!strncmp(p.err, want, strlen(want)), "%s", p.err);
	cr_expect_eq(count_lines(p.err), 1, "%s", p.err);
	cr_expect_str_eq(p.out, "");
	proc_free(&p);

	run_infer(&f, &p0, NULL, NULL, NULL);
	run_infer(&f, &p, "--config", f.cfg, "--config-fallback");
	cr_assert_eq(exit_code(&p), 0, "%s", p.err);
	snprintf(want, sizeof want, "infer: warning: %s: phases.decode.kernels."
		 "matmul_q8: unknown variant", f.cfg);
	cr_expect(!strncmp(p.err, want, strlen(want)), "%s", p.err);
	cr_expect(strstr(p.err, "; running with the default kernels\n"), "%s", p.err);
	cr_expect(!strstr(p.err, ", config "), "%s", p.err);
	json_t *t0 = tokens_of(&p0), *t = tokens_of(&p);
	cr_expect(json_equal(t0, t));
	json_decref(t0);
	json_decref(t);
	proc_free(&p0);
	proc_free(&p);

	/* a missing file, and --config-fallback alone */
	run_infer(&f, &p, "--config", "/nonexistent/best.json", NULL);
	cr_expect_eq(exit_code(&p), 1, "%s", p.err);
	cr_expect(!strncmp(p.err, "infer: /nonexistent/best.json: ", 31), "%s", p.err);
	proc_free(&p);
	run_infer(&f, &p, "--config-fallback", NULL, NULL);
	cr_expect_eq(exit_code(&p), 1, "%s", p.err);
	cr_expect(strstr(p.err, "--config-fallback needs --config"), "%s", p.err);
	proc_free(&p);
	fx_close(&f);
}

/* A variant the (masked) CPU cannot run is fatal in ./infer too. */
Test(config, infer_refuses_a_missing_isa)
{
	struct fx f;
	struct proc p;

	fx_open(&f);
	tamper(&f, "phases.prompt.kernels.matmul_q8",
	       json_pack("{s:s}", "variant", "avx2"));
	setenv("Q8TUNE_CPU_MASK", "scalar", 1);
	run_infer(&f, &p, "--config", f.cfg, NULL);
	unsetenv("Q8TUNE_CPU_MASK");
	cr_expect_eq(exit_code(&p), 1, "%s", p.err);
	cr_expect(strstr(p.err, "phases.prompt.kernels.matmul_q8: variant 'avx2' "
			 "needs avx avx2 fma f16c which this CPU lacks"), "%s", p.err);
	cr_expect_eq(count_lines(p.err), 1, "%s", p.err);
	proc_free(&p);
	fx_close(&f);
}

/* Another model: a warning naming the field, then a normal run. */
Test(config, infer_warns_on_another_model)
{
	struct fx f;
	struct proc p;
	struct synth_cfg sc = small_cfg(SYNTH_LLAMA);
	char want[256];

	fx_open(&f);
	sc.n_layer = 3;
	write_model(&sc, f.model);	/* the config stays the 2-layer one's */
	run_infer(&f, &p, "--config", f.cfg, NULL);
	cr_expect_eq(exit_code(&p), 0, "%s", p.err);
	snprintf(want, sizeof want, "infer: warning: %s: model fingerprint differs: "
		 "n_layer 2 != 3", f.cfg);
	cr_expect(strstr(p.err, want), "%s", p.err);
	json_decref(tokens_of(&p));
	proc_free(&p);
	fx_close(&f);
}

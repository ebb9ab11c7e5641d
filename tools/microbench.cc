/* microbench.cc - Google Benchmark timings of every usable kernel variant.
 *
 * Walks kernel_ops[] (the same tables the selector, the tuner and the
 * variant test read) and registers one benchmark per (op, usable variant,
 * shape) at run time; nothing here names a variant.  Shapes are those of
 * the default synthetic gemma model (n_embd 768, 3 heads of 256, 1 KV
 * head, ff 2304, vocab 943).  Variants the CPU cannot run, and shapes a
 * variant's fits() refuses, are skipped with the reason on stderr.
 *
 * Every input is generated from a fixed seed per buffer, so a benchmark
 * sees the same data whatever the filter.  Weights are hot in cache after
 * the first iteration: this measures kernels, not DRAM (the tuner and the
 * end-to-end bench measure the rest).
 *
 * A matmul_q8 variant with a prepare step has its weights repacked once,
 * outside the timing, and reports prep_us / prep_bytes; before its first
 * timing each non-reference matmul_q8 variant is checked against the
 * reference on the same data (a fast wrong kernel is an error, not a row).
 *
 * Every benchmark uses real (wall-clock) time: its Time column and its
 * rates (MAC/s, bytes/s, elem/s) are per real second, the same clock as
 * the summary below.  After the run it prints, for matmul_q8, the median
 * real time of every variant per shape and its ratio to the reference
 * (scalar) variant measured in the same run.
 *
 * rope: variants flagged VF_ROPE_TABLE get the table rope_fill builds,
 * the others cs = NULL, as a session gives them.
 *
 * attention: one call as the forward pass makes it for the default model
 * (the 3 query heads of its KV head): a decode step at depth 512, and the
 * last query blocks of pp128 and pp512 (q, k, v uniform in [-1, 1),
 * scale 1: scores of a few units).
 *
 * Own flag: --mb_brief prints one console line per benchmark (the median,
 * with cv as a counter) instead of every run and aggregate. */
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cpu.h"
#include "hash.h"
#include "kernels.h"
#include "q8.h"
#include "rng.h"

namespace {

/* The default synthetic model (mkmodel, gemma). */
constexpr int kEmbd = 768;	/* n_embd, = q dim (3 heads x 256) */
constexpr int kHeads = 3;
constexpr int kHeadDim = 256;
constexpr int kKvDim = 256;	/* 1 KV head */
constexpr int kFf = 2304;
constexpr int kVocab = 943;	/* output head rows of the default model */
constexpr int kCtx = 2048;	/* positions in the rope cos/sin table */
constexpr int kRopePos = 1000;	/* a mid-context position */
constexpr float kRopeBase = 10000.0f;
constexpr uint64_t kSeed = 0x5eed0f8a11u;
/* In-place ops whose repeated application drifts their input (glu
 * shrinks it towards 0, softmax flattens it) get the pristine input back
 * every kRestore iterations; the copy is timed, amortized over kRestore. */
constexpr int kRestore = 8;

/* ---- deterministic inputs ---------------------------------------------- */

/* splitmix64: seeded per buffer from its key, so data do not depend on
 * which benchmarks ran before. */
struct Rng {
	uint64_t s;
	explicit Rng(const std::string &key)
		: s(fnv1a64(kSeed, key.data(), key.size())) {}
	uint64_t next() { return splitmix64(&s); }
	/* uniform in [lo, hi) */
	float uni(float lo, float hi)
	{
		return lo + (hi - lo) * (float)((next() >> 40) * 0x1p-24);
	}
};

/* A 64-byte aligned buffer; `sec` is how long filling it took. */
struct Buf {
	void *p = nullptr;
	size_t bytes = 0;
	double sec = 0;
	~Buf() { free(p); }
};

/* Buffers by key, filled once on first use and kept until exit. */
std::map<std::string, std::unique_ptr<Buf>> g_bufs;

template <class Fill>
Buf *cached(const std::string &key, size_t bytes, Fill fill)
{
	auto it = g_bufs.find(key);
	if (it != g_bufs.end())
		return it->second.get();
	std::unique_ptr<Buf> b(new Buf);
	b->bytes = bytes;
	b->p = aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
	if (!b->p) {
		fprintf(stderr, "microbench: out of memory (%zu bytes)\n", bytes);
		exit(1);
	}
	auto t0 = std::chrono::steady_clock::now();
	fill(b->p);
	b->sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
	Buf *r = b.get();
	g_bufs.emplace(key, std::move(b));
	return r;
}

std::string keyf(const char *fmt, int a, int b = 0, int c = 0)
{
	char s[96];
	snprintf(s, sizeof s, fmt, a, b, c);
	return s;
}

/* n floats uniform in [lo, hi), by key. */
float *randf(const std::string &key, size_t n, float lo, float hi)
{
	return (float *)cached(key, n * sizeof(float), [&](void *p) {
		Rng r(key);
		float *f = (float *)p;
		for (size_t i = 0; i < n; i++)
			f[i] = r.uni(lo, hi);
	})->p;
}

/* The reference (KIND_REFERENCE) variant of op: the specification. */
const struct variant *reference(int op)
{
	for (const struct variant *v = kernel_ops[op].variants; v->name; v++)
		if (v->kind == KIND_REFERENCE)
			return v;
	return nullptr;
}

/* (rows, cols) Q8_0 weights quantized with the model-file quantizer. */
const block_q8_0 *q8_weights(int rows, int cols)
{
	const std::string key = keyf("q8w/%dx%d", rows, cols);
	const size_t n = (size_t)rows * cols;
	return (const block_q8_0 *)cached(key, n / QK8_0 * sizeof(block_q8_0), [&](void *p) {
		const float *f = randf(key + "/f32", n, -1.0f, 1.0f);
		q8_quantize_weights(f, (block_q8_0 *)p, (int64_t)n);
	})->p;
}

/* (nt, cols) Q8_0 activations from the registry's reference quantizer,
 * row by row as the forward pass quantizes them. */
const block_q8_0 *q8_acts(int cols, int nt)
{
	const std::string key = keyf("q8x/%d/nt:%d", cols, nt);
	const size_t n = (size_t)nt * cols;
	return (const block_q8_0 *)cached(key, n / QK8_0 * sizeof(block_q8_0), [&](void *p) {
		const float *f = randf(key + "/f32", n, -4.0f, 4.0f);
		quantize_fn q = reference(OP_QUANTIZE)->fn.quantize;
		for (int t = 0; t < nt; t++)
			q(f + (size_t)t * cols, (block_q8_0 *)p + (size_t)t * (cols / QK8_0), cols);
	})->p;
}

/* n halves (F16 or BF16 by bf) of uniform [lo, hi) floats. */
const uint16_t *halves(const std::string &key, size_t n, bool bf, float lo, float hi)
{
	return (const uint16_t *)cached(key, n * 2, [&](void *p) {
		const float *f = randf(key + "/f32", n, lo, hi);
		uint16_t *h = (uint16_t *)p;
		for (size_t i = 0; i < n; i++)
			h[i] = bf ? f32_to_bf16(f[i]) : f32_to_fp16(f[i]);
	})->p;
}

/* The cos/sin table of a VF_ROPE_TABLE variant, built by the registry's
 * rope_fill as the session builds it: (n_ctx, n_rot/2, 2) floats. */
float *rope_cs(int n_rot, float base, int n_ctx)
{
	const std::string key = keyf("rope_cs/%d/%d", n_rot, n_ctx);
	return (float *)cached(key, (size_t)n_ctx * n_rot * sizeof(float), [&](void *p) {
		struct rope_tab t;
		t.n_rot = n_rot;
		t.neox = 1;
		t.base = base;
		t.n_ctx = n_ctx;
		t.cs = (float *)p;
		rope_fill(&t);
	})->p;
}

/* ---- the cases ---------------------------------------------------------- */

/* One registered benchmark. */
struct Case {
	std::string name;
	int op;
	const struct variant *v;
	int vi;			/* index of v in its table */
	int si;			/* index of the shape in the op's list */
	struct op_shape s;	/* matmul: rows x cols, nt tokens; else see shapes_for */
	bool checked = false;	/* matmul_q8: compared with the reference once */
};

std::vector<std::unique_ptr<Case>> g_cases;

/* Shapes per op, as the forward pass calls them.  matmul: rows x cols
 * weights at nt tokens.  quantize: nt calls of cols.  glu: one call of
 * cols*nt (forward.c runs nt*ff in one job).  rope: rows heads of cols. */
std::vector<struct op_shape> shapes_for(int op)
{
	std::vector<struct op_shape> v;
	auto add = [&](int r, int c, int nt) {
		struct op_shape s;
		s.rows = r;
		s.cols = c;
		s.nt = nt;
		s.pos0 = 0;
		v.push_back(s);
	};
	switch (op) {
	case OP_MATMUL_Q8: {
		const int w[][2] = { { kEmbd, kEmbd },	/* attn_q, attn_output */
				     { kKvDim, kEmbd },	/* attn_k, attn_v */
				     { kFf, kEmbd },	/* ffn_gate, ffn_up */
				     { kEmbd, kFf },	/* ffn_down */
				     { kVocab, kEmbd } };	/* output head */
		for (auto &rc : w)
			for (int nt : { 1, 7, 64, 128 })
				add(rc[0], rc[1], nt);
		break;
	}
	case OP_MATMUL_F16:
	case OP_MATMUL_BF16:
	case OP_MATMUL_F32:
		add(kEmbd, kEmbd, 1);
		add(kEmbd, kEmbd, 7);
		break;
	case OP_QUANTIZE:
		add(1, kEmbd, 1);
		add(1, kFf, 1);
		add(1, kEmbd, 64);
		break;
	case OP_RMSNORM:
		add(1, kEmbd, 1);
		break;
	case OP_ATTENTION:
		/* the 3 query heads of the KV head: a decode step at depth 512,
		 * the last query block of pp128 and of pp512 (forward.c) */
		add(kHeads, kHeadDim, 1);
		v.back().pos0 = 511;
		add(kHeads, kHeadDim, 16);
		v.back().pos0 = 112;
		add(kHeads, kHeadDim, 32);
		v.back().pos0 = 480;
		break;
	case OP_GELU:
	case OP_SILU:
	case OP_GELU_Q8:
	case OP_SILU_Q8:
		add(1, kFf, 1);
		add(1, kFf, 64);
		break;
	case OP_NORM_Q8:	/* one call per token row */
		add(1, kEmbd, 1);
		add(1, kEmbd, 64);
		break;
	case OP_ROPE:
		add(kHeads, kHeadDim, 1);
		break;
	default:
		break;
	}
	return v;
}

std::string case_name(int op, const struct variant *v, const struct op_shape &s)
{
	char b[160];
	const char *o = kernel_ops[op].name;
	switch (op) {
	case OP_MATMUL_Q8:
	case OP_MATMUL_F16:
	case OP_MATMUL_BF16:
	case OP_MATMUL_F32:
		snprintf(b, sizeof b, "%s/%s/%dx%d/nt:%d", o, v->name, s.rows, s.cols, s.nt);
		break;
	case OP_ROPE:
		snprintf(b, sizeof b, "%s/%s/%dx%d/pos:%d", o, v->name, s.rows, s.cols, kRopePos);
		break;
	case OP_ATTENTION:
		snprintf(b, sizeof b, "%s/%s/%dx%d/nt:%d/pos:%d", o, v->name, s.rows,
			 s.cols, s.nt, s.pos0);
		break;
	default:
		if (s.nt > 1)
			snprintf(b, sizeof b, "%s/%s/n:%d/nt:%d", o, v->name, s.cols, s.nt);
		else
			snprintf(b, sizeof b, "%s/%s/n:%d", o, v->name, s.cols);
	}
	return b;
}

/* The op_shape handed to fits(): what one kernel call sees. */
struct op_shape call_shape(int op, struct op_shape s)
{
	if (op == OP_GELU || op == OP_SILU || op == OP_GELU_Q8 || op == OP_SILU_Q8) {
		s.cols *= s.nt;
		s.nt = 1;
	}
	return s;
}

using benchmark::Counter;

void set_rate(benchmark::State &st, const char *name, double per_iter)
{
	st.counters[name] = Counter(per_iter, Counter::kIsIterationInvariantRate);
}

/* Element-wise ops: elements and bytes (read + written) per iteration. */
void elem_counters(benchmark::State &st, double elems, double bytes)
{
	set_rate(st, "elem/s", elems);
	st.SetBytesProcessed((int64_t)(bytes * (double)st.iterations()));
}

void bm_matmul_q8(benchmark::State &st, Case *c)
{
	const struct variant *v = c->v;
	const int rows = c->s.rows, cols = c->s.cols, nt = c->s.nt, nb = cols / QK8_0;
	const block_q8_0 *w = q8_weights(rows, cols);
	const block_q8_0 *x = q8_acts(cols, nt);
	const void *wd = w;
	double wbytes = (double)rows * nb * sizeof(block_q8_0);

	if (v->prep) {
		/* prepared once per (layout, shape), timed once, outside the loop */
		const struct variant_prep *pp = v->prep;
		Buf *b = cached(std::string("prep/") + pp->layout + keyf("/%dx%d", rows, cols),
				pp->bytes(rows, nb),
				[&](void *p) { pp->run(w, p, rows, nb); });
		wd = b->p;
		wbytes = (double)b->bytes;
		st.counters["prep_us"] = b->sec * 1e6;
		st.counters["prep_bytes"] = (double)b->bytes;
		st.SetLabel(std::string("prep:") + pp->layout);
	}
	float *y = (float *)cached(keyf("y/%dx%d", nt, rows), (size_t)nt * rows * sizeof(float),
				   [](void *) {})->p;
	if (!c->checked && v != reference(OP_MATMUL_Q8)) {
		/* a timing of wrong output (a misused layout) is worthless */
		const float *ref = (const float *)cached(keyf("ref/%dx%d/nt:%d", rows, cols, nt),
			(size_t)nt * rows * sizeof(float), [&](void *p) {
				reference(OP_MATMUL_Q8)->fn.matmul_q8(w, x, (float *)p, nb, 0, rows, nt, rows);
			})->p;
		float amax = 0;
		for (size_t i = 0; i < (size_t)nt * rows; i++) {
			y[i] = NAN;
			amax = std::max(amax, std::fabs(ref[i]));
		}
		v->fn.matmul_q8(wd, x, y, nb, 0, rows, nt, rows);
		for (size_t i = 0; i < (size_t)nt * rows; i++)
			if (!(std::fabs(y[i] - ref[i]) <= 1e-4f * amax)) {
				char e[160];
				snprintf(e, sizeof e, "y[%zu] = %g, reference %g", i, y[i], ref[i]);
				st.SkipWithError(e);
				return;
			}
		c->checked = true;
	}
	for (auto _ : st) {
		v->fn.matmul_q8(wd, x, y, nb, 0, rows, nt, rows);
		benchmark::ClobberMemory();
	}
	st.SetBytesProcessed((int64_t)((wbytes + (double)nt * nb * sizeof(block_q8_0)) *
				       (double)st.iterations()));
	set_rate(st, "MAC/s", (double)rows * cols * nt);
}

void bm_matmul_other(benchmark::State &st, Case *c)
{
	const int rows = c->s.rows, n = c->s.cols, nt = c->s.nt;
	float *y = (float *)cached(keyf("y/%dx%d", nt, rows), (size_t)nt * rows * sizeof(float),
				   [](void *) {})->p;
	double esz;

	if (c->op == OP_MATMUL_F32) {
		const float *w = randf(keyf("f32w/%dx%d", rows, n), (size_t)rows * n, -1, 1);
		const float *x = randf(keyf("f32x/%d/nt:%d", n, nt), (size_t)nt * n, -4, 4);
		for (auto _ : st) {
			c->v->fn.matmul_f32(w, x, y, n, 0, rows, nt, rows);
			benchmark::ClobberMemory();
		}
		esz = 4;
	} else {
		const bool bf = c->op == OP_MATMUL_BF16;
		const char *t = bf ? "bf16" : "f16";
		const uint16_t *w = halves(std::string(t) + keyf("w/%dx%d", rows, n),
					   (size_t)rows * n, bf, -1, 1);
		const uint16_t *x = halves(std::string(t) + keyf("x/%d/nt:%d", n, nt),
					   (size_t)nt * n, bf, -4, 4);
		for (auto _ : st) {
			c->v->fn.matmul_h(w, x, y, n, 0, rows, nt, rows);
			benchmark::ClobberMemory();
		}
		esz = 2;
	}
	st.SetBytesProcessed((int64_t)(esz * ((double)rows * n + (double)nt * n) *
				       (double)st.iterations()));
	set_rate(st, "MAC/s", (double)rows * n * nt);
}

void bm_quantize(benchmark::State &st, Case *c)
{
	const int n = c->s.cols, nt = c->s.nt;
	const float *x = randf(keyf("qx/%d/nt:%d", n, nt), (size_t)nt * n, -4, 4);
	block_q8_0 *y = (block_q8_0 *)cached(keyf("qy/%d/nt:%d", n, nt),
		(size_t)nt * n / QK8_0 * sizeof(block_q8_0), [](void *) {})->p;
	quantize_fn f = c->v->fn.quantize;

	for (auto _ : st) {
		for (int t = 0; t < nt; t++)
			f(x + (size_t)t * n, y + (size_t)t * (n / QK8_0), n);
		benchmark::ClobberMemory();
	}
	elem_counters(st, (double)nt * n, (double)nt * n * (4 + 34.0 / 32));
}

/* Ops on float vectors of n = cols (x nt for glu). */
void bm_vec(benchmark::State &st, Case *c)
{
	const struct variant *v = c->v;
	const int n = c->s.cols * c->s.nt;
	const std::string k = keyf("/%d", n);
	float *a = (float *)cached("work_a" + k, (size_t)n * 4, [](void *) {})->p;

	switch (c->op) {
	case OP_RMSNORM: {
		const float *x = randf("rms_x" + k, n, -4, 4);
		const float *w = randf("rms_w" + k, n, 0.5f, 1.5f);
		for (auto _ : st) {
			v->fn.rmsnorm(a, x, w, n, 1e-6f);
			benchmark::ClobberMemory();
		}
		elem_counters(st, n, 12.0 * n);
		break;
	}
	case OP_GELU:
	case OP_SILU: {
		const float *g0 = randf("glu_g" + k, n, -4, 4);
		const float *u = randf("glu_u" + k, n, -2, 2);
		int i = 0;
		memcpy(a, g0, (size_t)n * 4);
		for (auto _ : st) {
			if (++i == kRestore) {
				memcpy(a, g0, (size_t)n * 4);
				i = 0;
			}
			v->fn.glu(a, u, n);
			benchmark::ClobberMemory();
		}
		elem_counters(st, n, 12.0 * n);
		break;
	}
	case OP_GELU_Q8:
	case OP_SILU_Q8: {	/* glu plus the blocks of g */
		const float *g0 = randf("glu_g" + k, n, -4, 4);
		const float *u = randf("glu_u" + k, n, -2, 2);
		block_q8_0 *q = (block_q8_0 *)cached("fused_q" + k,
			(size_t)n / QK8_0 * sizeof(block_q8_0), [](void *) {})->p;
		int i = 0;
		memcpy(a, g0, (size_t)n * 4);
		for (auto _ : st) {
			if (++i == kRestore) {
				memcpy(a, g0, (size_t)n * 4);
				i = 0;
			}
			v->fn.glu_q8(a, u, n, q);
			benchmark::ClobberMemory();
		}
		elem_counters(st, n, (12.0 + 34.0 / 32) * n);
		break;
	}
	case OP_NORM_Q8: {	/* residual add, rmsnorm, blocks: per row */
		const int E = c->s.cols, nt = c->s.nt;
		const float *x0 = randf("rms_x" + k, n, -4, 4);
		const float *d = randf("rms_d" + k, n, -1, 1);
		const float *w = randf("rms_w" + keyf("/%d", E), E, 0.5f, 1.5f);
		float *x = (float *)cached("norm_x" + k, (size_t)n * 4, [](void *) {})->p;
		block_q8_0 *q = (block_q8_0 *)cached("fused_q" + k,
			(size_t)n / QK8_0 * sizeof(block_q8_0), [](void *) {})->p;
		int i = 0;
		memcpy(x, x0, (size_t)n * 4);
		for (auto _ : st) {
			if (++i == kRestore) {	/* the adds accumulate */
				memcpy(x, x0, (size_t)n * 4);
				i = 0;
			}
			for (int t = 0; t < nt; t++)
				v->fn.norm_q8(x + (size_t)t * E, d + (size_t)t * E, w, E,
					      1e-6f, a + (size_t)t * E,
					      q + (size_t)t * (E / QK8_0));
			benchmark::ClobberMemory();
		}
		elem_counters(st, n, (20.0 + 34.0 / 32) * n);
		break;
	}
	default:
		st.SkipWithError("no benchmark body for this op");
	}
}

void bm_rope(benchmark::State &st, Case *c)
{
	const int nh = c->s.rows, hd = c->s.cols, n = nh * hd;
	struct rope_tab t;
	t.n_rot = hd;
	t.neox = 1;
	t.base = kRopeBase;
	t.n_ctx = kCtx;
	/* NULL for the others, as in a session: a variant without the flag
	 * that reads cs crashes here rather than in production */
	t.cs = c->v->flags & VF_ROPE_TABLE ? rope_cs(t.n_rot, t.base, t.n_ctx) : nullptr;
	float *x = (float *)cached(keyf("rope_work/%d", n), (size_t)n * 4, [](void *) {})->p;

	memcpy(x, randf(keyf("rope_x/%d", n), n, -1, 1), (size_t)n * 4);
	for (auto _ : st) {
		c->v->fn.rope(x, nh, hd, kRopePos, &t);	/* a rotation: no drift */
		benchmark::ClobberMemory();
	}
	elem_counters(st, (double)nh * t.n_rot, 8.0 * n);
}

/* One attention call: rows query heads of cols floats sharing one KV
 * head, nt tokens at pos0 (q scaled as gemma's); MAC/s counts q.k and p.v. */
void bm_attention(benchmark::State &st, Case *c)
{
	const int heads = c->s.rows, hd = c->s.cols, nt = c->s.nt, pos0 = c->s.pos0;
	const int n_kv = pos0 + nt, w = heads * hd;
	const float *q = randf(keyf("att_q/%d/nt:%d", w, nt), (size_t)nt * w, -1, 1);
	const float *k = randf(keyf("att_k/%d/%d", hd, n_kv), (size_t)n_kv * hd, -1, 1);
	const float *v = randf(keyf("att_v/%d/%d", hd, n_kv), (size_t)n_kv * hd, -1, 1);
	float *o = (float *)cached(keyf("att_o/%d/nt:%d", w, nt), (size_t)nt * w * 4,
				   [](void *) {})->p;
	const size_t ns = ATT_SCRATCH(n_kv, nt * heads);
	float *sc = (float *)cached(keyf("att_s/%d/%d", (int)ns), ns * 4, [](void *) {})->p;
	struct att_args a;

	a.q = q;
	a.k = k;
	a.v = v;
	a.out = o;
	a.scratch = sc;
	a.nt = nt;
	a.heads = heads;
	a.hd = hd;
	a.pos0 = pos0;
	a.ldq = a.ldo = w;
	a.ldkv = hd;
	a.scale = 1.0f;
	for (auto _ : st) {
		c->v->fn.attention(&a);
		benchmark::ClobberMemory();
	}
	const double scores = (double)heads * ((double)nt * (pos0 + 1) + nt * (nt - 1) / 2.0);
	set_rate(st, "MAC/s", 2 * scores * hd);
	st.SetBytesProcessed((int64_t)(4.0 * (2.0 * n_kv * hd + 2.0 * nt * w) *
				       (double)st.iterations()));
}

/* Registers every (op, usable variant, fitting shape); returns the count. */
int register_all()
{
	int n = 0;

	for (int op = 0; op < OP_COUNT; op++) {
		const std::vector<struct op_shape> shapes = shapes_for(op);
		if (shapes.empty()) {
			fprintf(stderr, "microbench: op %s has no shapes here: not benchmarked\n",
				kernel_ops[op].name);
			continue;
		}
		int vi = 0;
		for (const struct variant *v = kernel_ops[op].variants; v->name; v++, vi++) {
			if (const char *why = variant_unusable(v)) {
				fprintf(stderr, "microbench: skip %s/%s: %s\n",
					kernel_ops[op].name, v->name, why);
				continue;
			}
			for (size_t si = 0; si < shapes.size(); si++) {
				std::unique_ptr<Case> c(new Case);
				c->op = op;
				c->v = v;
				c->vi = vi;
				c->si = (int)si;
				c->s = shapes[si];
				c->name = case_name(op, v, c->s);
				const struct op_shape cs = call_shape(op, c->s);
				if (v->fits && !v->fits(&cs)) {
					fprintf(stderr, "microbench: skip %s: shape does not fit the variant\n",
						c->name.c_str());
					continue;
				}
				void (*fn)(benchmark::State &, Case *);
				benchmark::TimeUnit unit = benchmark::kNanosecond;
				switch (op) {
				case OP_MATMUL_Q8:
					fn = bm_matmul_q8;
					unit = benchmark::kMicrosecond;
					break;
				case OP_MATMUL_F16:
				case OP_MATMUL_BF16:
				case OP_MATMUL_F32:
					fn = bm_matmul_other;
					unit = benchmark::kMicrosecond;
					break;
				case OP_QUANTIZE:
					fn = bm_quantize;
					break;
				case OP_ROPE:
					fn = bm_rope;
					break;
				case OP_ATTENTION:
					fn = bm_attention;
					unit = benchmark::kMicrosecond;
					break;
				default:
					fn = bm_vec;
				}
				Case *cp = c.get();
				/* real time: the Time column and every rate
				 * (MAC/s, bytes/s, elem/s) are from the wall
				 * clock, as the summary table is; CPU time
				 * would count only the caller's thread */
				benchmark::RegisterBenchmark(cp->name.c_str(),
					[fn, cp](benchmark::State &st) { fn(st, cp); })
					->Unit(unit)->UseRealTime();
				g_cases.push_back(std::move(c));
				n++;
			}
		}
	}
	return n;
}

/* ---- reporting ---------------------------------------------------------- */

struct Stat {
	double median_s = NAN, stddev_s = NAN, cv = NAN;
	int reps = 0;
	bool error = false;
};

/* Console output (all runs, or with --mb_brief only the medians) plus the
 * per-benchmark statistics the speedup table needs. */
class Reporter : public benchmark::ConsoleReporter {
public:
	Reporter(OutputOptions o, bool brief) : ConsoleReporter(o), brief_(brief) {}

	void ReportRuns(const std::vector<Run> &runs) override
	{
		std::vector<double> iter_s;
		std::vector<Run> shown;
		Stat st;
		std::string name;

		for (const Run &r : runs) {
			name = r.run_name.function_name;
			if (r.error_occurred) {
				st.error = true;
				continue;
			}
			const double s = r.GetAdjustedRealTime() /
					 benchmark::GetTimeUnitMultiplier(r.time_unit);
			if (r.run_type == Run::RT_Iteration) {
				iter_s.push_back(s);
			} else if (r.aggregate_name == "median") {
				st.median_s = s;
				st.reps = (int)r.iterations;	/* repetitions, for aggregates */
			} else if (r.aggregate_name == "stddev") {
				st.stddev_s = s;
			} else if (r.aggregate_name == "cv") {
				st.cv = r.real_accumulated_time;	/* a fraction */
			}
		}
		if (std::isnan(st.median_s) && !iter_s.empty()) {
			std::sort(iter_s.begin(), iter_s.end());
			const size_t m = iter_s.size();
			st.median_s = m % 2 ? iter_s[m / 2] : (iter_s[m / 2 - 1] + iter_s[m / 2]) / 2;
			st.reps = (int)m;
		}
		if (!name.empty())
			stats_[name] = st;

		if (!brief_ || std::isnan(st.cv)) {
			ConsoleReporter::ReportRuns(runs);
			return;
		}
		for (const Run &r : runs)
			if (r.error_occurred ||
			    (r.run_type == Run::RT_Aggregate && r.aggregate_name == "median")) {
				shown.push_back(r);
				if (!r.error_occurred)
					shown.back().counters["cv%"] = Counter(100 * st.cv);
			}
		ConsoleReporter::ReportRuns(shown);
	}

	/* matmul_q8: median, spread and ratio to the reference per shape. */
	void print_speedup(std::FILE *f) const
	{
		std::vector<const Case *> mm;
		for (auto &c : g_cases)
			if (c->op == OP_MATMUL_Q8 && stats_.count(c->name))
				mm.push_back(c.get());
		if (mm.empty())
			return;
		std::stable_sort(mm.begin(), mm.end(), [](const Case *a, const Case *b) {
			return a->si != b->si ? a->si < b->si : a->vi < b->vi;
		});
		const struct variant *ref = reference(OP_MATMUL_Q8);
		fprintf(f, "\nmatmul_q8: median real time per call over %d repetitions, spread = "
			   "stddev and cv;\nx%s = %s median / variant median, same run\n",
			stats_.at(mm[0]->name).reps, ref->name, ref->name);
		fprintf(f, "%-10s %3s  %-18s %11s %10s %7s %10s %9s\n", "shape", "nt", "variant",
			"median_us", "stddev_us", "cv", "GMAC/s(rt)", ("x" + std::string(ref->name)).c_str());
		int last_si = -1;
		for (const Case *c : mm) {
			const Stat &s = stats_.at(c->name);
			if (c->si != last_si && last_si >= 0)
				fputc('\n', f);
			last_si = c->si;
			char shape[32], ratio[16] = "-", cv[16] = "-", sd[16] = "-";
			snprintf(shape, sizeof shape, "%dx%d", c->s.rows, c->s.cols);
			if (s.error) {
				fprintf(f, "%-10s %3d  %-18s  error (see above)\n", shape, c->s.nt,
					c->v->name);
				continue;
			}
			for (const Case *r : mm)
				if (r->si == c->si && r->v == ref) {
					const Stat &rs = stats_.at(r->name);
					if (!rs.error)
						snprintf(ratio, sizeof ratio, "%.2f", rs.median_s / s.median_s);
				}
			if (!std::isnan(s.cv))
				snprintf(cv, sizeof cv, "%.1f%%", 100 * s.cv);
			if (!std::isnan(s.stddev_s))
				snprintf(sd, sizeof sd, "%.2f", s.stddev_s * 1e6);
			fprintf(f, "%-10s %3d  %-18s %11.2f %10s %7s %10.2f %9s\n", shape, c->s.nt,
				c->v->name, s.median_s * 1e6, sd, cv,
				(double)c->s.rows * c->s.cols * c->s.nt / s.median_s * 1e-9, ratio);
		}
	}

private:
	bool brief_;
	std::map<std::string, Stat> stats_;
};

}  // namespace

int main(int argc, char **argv)
{
	bool brief = false;
	int n = 1;

	/* take our own flags out before Google Benchmark sees the rest */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--mb_brief"))
			brief = true;
		else
			argv[n++] = argv[i];
	}
	argc = n;
	argv[argc] = nullptr;

	const struct cpu_info *ci = cpu_get();
	char feat[256], hidden[256];
	cpu_features_str(ci->features, feat, sizeof feat);
	cpu_features_str(ci->hw & ~ci->features, hidden, sizeof hidden);
	fprintf(stderr, "microbench: CPU %s (%s family %u model %u)\n", ci->brand, ci->vendor,
		ci->family, ci->model);
	fprintf(stderr, "microbench: features: %s\n", feat);
	if (ci->mask_name)
		fprintf(stderr, "microbench: Q8TUNE_CPU_MASK=%s hides: %s%s\n", ci->mask_name,
			hidden, ci->mask_bad ? " (unknown name: everything hidden)" : "");

	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 1;

	const int nb = register_all();
	fprintf(stderr, "microbench: %d benchmarks registered from kernel_ops[]\n", nb);

	benchmark::AddCustomContext("q8tune_cpu", ci->brand);
	benchmark::AddCustomContext("q8tune_features", feat);
	if (ci->mask_name) {
		benchmark::AddCustomContext("q8tune_cpu_mask", ci->mask_name);
		benchmark::AddCustomContext("q8tune_hidden_features", hidden);
	}
	benchmark::AddCustomContext("q8tune_seed", std::to_string(kSeed));

	Reporter rep(isatty(STDOUT_FILENO) ? Reporter::OO_ColorTabular : Reporter::OO_Tabular,
		     brief);
	const size_t ran = benchmark::RunSpecifiedBenchmarks(&rep);
	std::fflush(stdout);
	rep.print_speedup(stdout);
	benchmark::Shutdown();
	return ran ? 0 : 1;
}

/* registry.c - the variant tables (best first, reference last) and the
 * run-time selection.  Built without ISA flags: it only takes addresses. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cpu.h"
#include "variants.h"

#define REF(nm, member, f) { .name = nm, .kind = KIND_REFERENCE, .fn.member = f }
#define EXACT(nm, nd, member, f) \
	{ .name = nm, .needs = nd, .kind = KIND_EXACT, .fn.member = f }
/* An exact matmul_q8 variant reading weights its prepare step repacked. */
#define PREPPED(nm, nd, pr, f) \
	{ .name = nm, .needs = nd, .kind = KIND_EXACT, .prep = pr, \
	  .fn.matmul_q8 = f }
#define APPROX(nm, nd, bound, member, f) \
	{ .name = nm, .needs = nd, .kind = KIND_APPROX, .err_bound = bound, \
	  .fn.member = f }

/* gelu via vexp: worst 2.07e-7 (units below) over every third float in
 * [-64, 64] (7.4e8 points, u = 1); declared with a 2x margin. */
#define GELU_VEXP_BOUND 4e-7

/* the flash attention variants, in units of max |v| x max(1, max |score|)
 * over the positions a query row sees: worst 9.6e-7 over 12 seeds of the
 * variant test (head_dim 8 to 256, 1 to 340 positions, scores up to about
 * +-60); declared with a 4x margin. */
#define ATT_FLASH_BOUND 4e-6

/* KIND_EXACT float variants differ from the reference only in rounding;
 * the bounds they are held to are stated in tests/test_variants.c.
 * err_bound of the GLU ops (g = act(g) * u) is in units of
 * max(1, |g|) * max(1, |u|): the abs error allowed for g, u in [-1, 1],
 * growing with them beyond. */
static const struct variant matmul_q8_tab[] = {
	/* GEMM micro-kernels on q8_0x16u (kernels/matmul/wide/): 512-bit
	 * VPDPBUSD tiles of 16 V rows x T tokens.  On Sapphire Rapids r32t6
	 * is 1.44-1.52x blocked8 at 64 and 128 tokens (220-226 against
	 * 149-153 GMAC/s, one thread, ./microbench); auto picks the shape by
	 * batch size */
	PREPPED("avx512vnni_auto", NEEDS_AVX512VNNI, &prep_q8_0x16,
		matmul_q8_avx512vnni_auto),
	PREPPED("avx512vnni_r32t6", NEEDS_AVX512VNNI, &prep_q8_0x16,
		matmul_q8_avx512vnni_r32t6),
	PREPPED("avx512vnni_r48t4", NEEDS_AVX512VNNI, &prep_q8_0x16,
		matmul_q8_avx512vnni_r48t4),
	/* blocked: weights interleaved 8 (4) rows a group at load.  On Zen 4
	 * blocked8 is 2-3x avx512vnni_4blk from 1 to 64 tokens, blocked4
	 * 15-40% behind blocked8 (finer row_align for thread splits) */
	PREPPED("avx512vnni_blocked8", NEEDS_AVX512VNNI, &prep_q8_0x8,
		matmul_q8_avx512vnni_blocked8),
	PREPPED("avx512vnni_blocked4", NEEDS_AVX512VNNI, &prep_q8_0x4,
		matmul_q8_avx512vnni_blocked4),
	EXACT("avx512vnni_4blk", NEEDS_AVX512VNNI, matmul_q8, matmul_q8_avx512vnni_4blk),
	EXACT("avx512vnni", NEEDS_AVX512VNNI, matmul_q8, matmul_q8_avx512vnni),
	/* AVX-VNNI tiles on q8_0x8: 0.85-0.93x avx512vnni_blocked8 on
	 * Sapphire Rapids (the 16 VEX registers), 1.5-2.3x avx2_blocked8;
	 * 2 x 3 beat 1 x 6 from 1 to 128 tokens */
	PREPPED("avxvnni_r16t3", NEEDS_AVXVNNI, &prep_q8_0x8,
		matmul_q8_avxvnni_r16t3),
	EXACT("avxvnni", NEEDS_AVXVNNI, matmul_q8, matmul_q8_avxvnni),
	/* 1.6-1.8x (blocked8) and 1.3-1.6x (blocked4) avx2 on Zen 4 */
	PREPPED("avx2_blocked8", NEEDS_AVX2, &prep_q8_0x8, matmul_q8_avx2_blocked8),
	PREPPED("avx2_r16t2", NEEDS_AVX2, &prep_q8_0x8, matmul_q8_avx2_r16t2),
	PREPPED("avx2_blocked4", NEEDS_AVX2, &prep_q8_0x4, matmul_q8_avx2_blocked4),
	EXACT("avx2", NEEDS_AVX2, matmul_q8, matmul_q8_avx2),
	REF("scalar", matmul_q8, matmul_q8_scalar),
	{ 0 }
};
static const struct variant matmul_f16_tab[] = {
	EXACT("avx2", NEEDS_AVX2, matmul_h, matmul_f16_avx2),
	REF("scalar", matmul_h, matmul_f16_scalar),
	{ 0 }
};
static const struct variant matmul_bf16_tab[] = {
	EXACT("avx2", NEEDS_AVX2, matmul_h, matmul_bf16_avx2),
	REF("scalar", matmul_h, matmul_bf16_scalar),
	{ 0 }
};
static const struct variant matmul_f32_tab[] = {
	EXACT("avx2", NEEDS_AVX2, matmul_f32, matmul_f32_avx2),
	REF("scalar", matmul_f32, matmul_f32_scalar),
	{ 0 }
};
static const struct variant quantize_tab[] = {
	EXACT("avx512", NEEDS_AVX512, quantize, quantize_avx512),
	EXACT("avx2", NEEDS_AVX2, quantize, quantize_avx2),
	REF("scalar", quantize, quantize_scalar),
	{ 0 }
};
static const struct variant rmsnorm_tab[] = {
	EXACT("avx512", NEEDS_AVX512, rmsnorm, rmsnorm_avx512),
	EXACT("avx2", NEEDS_AVX2, rmsnorm, rmsnorm_avx2),
	REF("scalar", rmsnorm, rmsnorm_scalar),
	{ 0 }
};
/* attention: the fused variants (one pass, online softmax) against the
 * composition they replace (the _unfused variants and the reference).
 * err_bound: see ATT_FLASH_BOUND. */
static const struct variant attention_tab[] = {
	APPROX("avx512_flash", NEEDS_AVX512, ATT_FLASH_BOUND, attention,
	       attention_avx512_flash),
	APPROX("avx2_flash", NEEDS_AVX2, ATT_FLASH_BOUND, attention,
	       attention_avx2_flash),
	EXACT("avx512_unfused", NEEDS_AVX512, attention, attention_avx512_unfused),
	EXACT("avx2_unfused", NEEDS_AVX2, attention, attention_avx2_unfused),
	REF("scalar", attention, attention_scalar),
	{ 0 }
};
static const struct variant gelu_tab[] = {
	APPROX("avx512", NEEDS_AVX512, GELU_VEXP_BOUND, glu, gelu_avx512),
	APPROX("avx2", NEEDS_AVX2, GELU_VEXP_BOUND, glu, gelu_avx2),
	/* 2^-11 (1.13 + 1) = 1.04e-3: see gelu_fp16 */
	APPROX("fp16", 0, 1.1e-3, glu, gelu_fp16),
	/* Pade tanh: 4.9e-5 (see gelu_rational) plus float rounding */
	APPROX("rational", 0, 1e-4, glu, gelu_rational),
	/* the erf definition is 4.8e-4 from the tanh form at most */
	APPROX("erf", 0, 6e-4, glu, gelu_erf),
	REF("exact", glu, gelu_exact),
	{ 0 }
};
static const struct variant silu_tab[] = {
	EXACT("avx512", NEEDS_AVX512, glu, silu_avx512),
	EXACT("avx2", NEEDS_AVX2, glu, silu_avx2),
	REF("exact", glu, silu_exact),
	{ 0 }
};
/* The fused ops: each fused variant computes what the same ISA's
 * rmsnorm (gelu, silu) and quantize variants compute, in one pass; the
 * bounds are those variants' */
static const struct variant norm_q8_tab[] = {
	EXACT("avx512", NEEDS_AVX512, norm_q8, norm_q8_avx512),
	EXACT("avx2", NEEDS_AVX2, norm_q8, norm_q8_avx2),
	REF("unfused", norm_q8, norm_q8_unfused),
	{ 0 }
};
static const struct variant gelu_q8_tab[] = {
	APPROX("avx512", NEEDS_AVX512, GELU_VEXP_BOUND, glu_q8, gelu_q8_avx512),
	APPROX("avx2", NEEDS_AVX2, GELU_VEXP_BOUND, glu_q8, gelu_q8_avx2),
	REF("unfused", glu_q8, gelu_q8_unfused),
	{ 0 }
};
static const struct variant silu_q8_tab[] = {
	EXACT("avx512", NEEDS_AVX512, glu_q8, silu_q8_avx512),
	EXACT("avx2", NEEDS_AVX2, glu_q8, silu_q8_avx2),
	REF("unfused", glu_q8, silu_q8_unfused),
	{ 0 }
};
static const struct variant rope_tab[] = {
	/* the cached table in 16 (8) pairs a step */
	{ .name = "avx512", .needs = NEEDS_AVX512, .kind = KIND_EXACT,
	  .flags = VF_ROPE_TABLE, .fn.rope = rope_avx512 },
	{ .name = "avx2", .needs = NEEDS_AVX2, .kind = KIND_EXACT,
	  .flags = VF_ROPE_TABLE, .fn.rope = rope_avx2 },
	{ .name = "cached", .kind = KIND_EXACT, .flags = VF_ROPE_TABLE,
	  .fn.rope = rope_cached },
	REF("computed", rope, rope_computed),
	{ 0 }
};

const struct op_desc kernel_ops[OP_COUNT] = {
	[OP_MATMUL_Q8] = { "matmul_q8", matmul_q8_tab },
	[OP_MATMUL_F16] = { "matmul_f16", matmul_f16_tab },
	[OP_MATMUL_BF16] = { "matmul_bf16", matmul_bf16_tab },
	[OP_MATMUL_F32] = { "matmul_f32", matmul_f32_tab },
	[OP_QUANTIZE] = { "quantize", quantize_tab },
	[OP_RMSNORM] = { "rmsnorm", rmsnorm_tab },
	[OP_ATTENTION] = { "attention", attention_tab },
	[OP_GELU] = { "gelu", gelu_tab },
	[OP_SILU] = { "silu", silu_tab },
	[OP_ROPE] = { "rope", rope_tab },
	[OP_NORM_Q8] = { "norm_q8", norm_q8_tab },
	[OP_GELU_Q8] = { "gelu_q8", gelu_q8_tab },
	[OP_SILU_Q8] = { "silu_q8", silu_q8_tab },
};

const char *variant_unusable(const struct variant *v)
{
	static _Thread_local char why[320];
	const struct cpu_info *ci = cpu_get();
	uint32_t absent = v->needs & ~ci->hw;		/* not in this CPU */
	uint32_t hidden = v->needs & ci->hw & ~ci->features;	/* masked */
	char a[100], h[100];

	if (!absent && !hidden)
		return NULL;
	cpu_features_str(absent, a, sizeof a);
	cpu_features_str(hidden, h, sizeof h);
	snprintf(why, sizeof why, "%s%s%s%s%s%.40s", absent ? "CPU lacks " : "",
		 absent ? a : "", absent && hidden ? "; " : "",
		 hidden ? h : "", hidden ? " hidden by Q8TUNE_CPU_MASK=" : "",
		 hidden ? ci->mask_name : "");
	return why;
}

int variant_count(enum op_id op)
{
	int n = 0;

	while (kernel_ops[op].variants[n].name)
		n++;
	return n;
}

const struct variant *variant_reference(enum op_id op)
{
	const struct variant *v = kernel_ops[op].variants;

	while (v[1].name)
		v++;
	return v;
}

const struct variant *variant_find(enum op_id op, const char *name)
{
	for (const struct variant *v = kernel_ops[op].variants; v->name; v++)
		if (!strcmp(v->name, name))
			return v;
	return NULL;
}

int kernels_set(struct kernels *k, enum op_id op, const char *name,
		char *err, size_t errlen)
{
	const struct variant *v = variant_find(op, name);
	const char *why;

	if (!v) {
		snprintf(err, errlen, "op %s has no variant '%s'",
			 kernel_ops[op].name, name);
		return -1;
	}
	if ((why = variant_unusable(v))) {
		snprintf(err, errlen, "variant %s/%s cannot run here: %s",
			 kernel_ops[op].name, name, why);
		return -1;
	}
	k->v[op] = v;
	return 0;
}

static int debug_enabled(void)
{
	const char *d = getenv("Q8TUNE_DEBUG");
	return d && *d && strcmp(d, "0");
}

void kernels_reference(struct kernels *k)
{
	for (int op = 0; op < OP_COUNT; op++)
		k->v[op] = variant_reference((enum op_id)op);
}

int kernels_default(struct kernels *k, char *err, size_t errlen)
{
	for (int op = 0; op < OP_COUNT; op++) {
		char env[64];
		const char *src = "first usable";

		k->v[op] = NULL;
		for (const struct variant *v = kernel_ops[op].variants; v->name; v++)
			if (!variant_unusable(v)) {
				k->v[op] = v;
				break;
			}
		/* the reference kinds have no needs, so one is always usable */
		snprintf(env, sizeof env, "Q8TUNE_%s", kernel_ops[op].name);
		for (char *c = env; *c; c++)
			*c = (char)toupper((unsigned char)*c);
		const char *over = getenv(env);
		if (over && *over) {
			if (kernels_set(k, (enum op_id)op, over, err, errlen) < 0) {
				size_t n = strlen(err);
				snprintf(err + n, errlen - n, " (from %s)", env);
				return -1;
			}
			src = env;
		}
		if (debug_enabled())
			fprintf(stderr, "q8tune: %s = %s (%s)\n",
				kernel_ops[op].name, k->v[op]->name, src);
	}
	return 0;
}

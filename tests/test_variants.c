/* test_variants.c - every registered variant against its op's reference.
 *
 * Walks kernel_ops[] (the production tables, as lib/raid6's test walks
 * its algos), skips with a printed reason what this CPU (or
 * Q8TUNE_CPU_MASK) cannot run, and compares each remaining variant with
 * the op's KIND_REFERENCE entry on random inputs over awkward sizes.
 * Outputs are poisoned first (NaN floats, 0xee / 0x11 bytes) and guarded
 * on both sides, so unwritten elements and stray writes are caught.
 *
 * A matmul_q8 variant with a prepare step (struct variant_prep) gets its
 * weights through it, the prepared buffer checked (every byte written,
 * deterministic, nothing past bytes()) and fenced by an inaccessible page
 * so reading past it faults, and row ranges in its row_align.  The
 * q8_0x<R> layouts are also decoded byte by byte (variants/q8_layouts).
 *
 * Each variant runs with a fixed seed and a fresh one (time ^ pid, or
 * Q8TUNE_TEST_SEED=<n> to replay a failure); both are printed.
 *
 * Bounds (u = 2^-24, the unit roundoff of float):
 *   matmul_q8  unit scales, nb <= 32: exact (every partial sum is an
 *              integer below 2^24, so any summation order gives the same
 *              float; this checks the integer block sums bit for bit, also
 *              against an independent int64 sum).  Random scales:
 *              |y - ref| <= (2 nb + 16) u S + 1e-37, S = sum over blocks of
 *              |d_w d_x| sum_j |w_j x_j|: both sides sum exact terms
 *              (d_w d_x is exact in float) over trees of depth <= nb + 8.
 *   matmul_f16/bf16/f32: |y - ref| <= (2 n + 32) u sum_i |w_i x_i| + 1e-37.
 *   quantize   bit-exact bytes, every byte written, nothing else touched.
 *   rmsnorm    |o - ref| <= 8 u |ref| + 1e-37 (the double sums of squares
 *              differ only in order; at most one ulp of the scale).
 *   attention  per output row, vmax = max |v| it reads, S = max over
 *              its positions of scale sum_i |q_i k_i|: |o - ref| <= vmax
 *              (4 (2 hd + 32) u S + 32 u + 2 n_kv u) (the score's dot in
 *              another order, softmax by vexp: 16 u, sums of p.v);
 *              KIND_APPROX: err_bound vmax max(1, max |score|) instead.
 *   silu       |g - ref| <= 16 u |ref| + 1e-37.
 *   KIND_APPROX GLU ops: |g - ref| <= err_bound max(1, |g|) max(1, |u|);
 *   KIND_APPROX elsewhere: the bound above or err_bound, the larger. */
#include <math.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include "common.h"
#include <criterion/parameterized.h>
#include "cpu.h"
#include "kernels.h"
#include "rng.h"
#include "variants.h"

#define U24 (1.0 / 16777216.0)
#define GUARD 19		/* poisoned elements either side of outputs */
#define MAX_SHOWN 5		/* mismatches printed per run */

/* --- randomness -------------------------------------------------------- */

struct rng {
	uint64_t s;
};

static uint64_t rng_u64(struct rng *g)
{
	return splitmix64(&g->s);
}

/* Uniform in [0, 1). */
static double rng_unit(struct rng *g)
{
	return splitmix64_unit(&g->s);
}

/* Uniform in [lo, hi]. */
static int rng_int(struct rng *g, int lo, int hi)
{
	return lo + (int)(rng_u64(g) % (uint64_t)(hi - lo + 1));
}

static float rng_float(struct rng *g, double lo, double hi)
{
	return (float)(lo + (hi - lo) * rng_unit(g));
}

/* --- reporting --------------------------------------------------------- */

/* The outcome of comparing one variant with the reference. */
struct check {
	const char *op, *name;
	uint64_t seed;
	int quiet;		/* self-tests: count, do not print */
	long checks, fails;
	double worst;		/* worst |err| / bound (0 when all exact) */
	double worst_abs;	/* worst |err| */
	char first[320];	/* first failure */
};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	cr_log_info("%s", buf);
	printf("%s\n", buf);
	fflush(stdout);
}

static void fail(struct check *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void fail(struct check *c, const char *fmt, ...)
{
	char buf[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (!c->fails)
		snprintf(c->first, sizeof c->first, "%s", buf);
	if (!c->quiet && c->fails < MAX_SHOWN)
		say("  FAIL %s/%s seed %#llx: %s", c->op, c->name,
		    (unsigned long long)c->seed, buf);
	c->fails++;
}

static const uint32_t poison_bits = 0x7fc0deadu;	/* a quiet NaN */

static float poison(void)
{
	float f;

	memcpy(&f, &poison_bits, 4);
	return f;
}

static int is_poison(float f)
{
	uint32_t b;

	memcpy(&b, &f, 4);
	return b == poison_bits;
}

/* n floats with GUARD poisoned floats either side; returns the first of
 * the n, all poisoned.  Free with free_guarded. */
static float *alloc_guarded(size_t n)
{
	float *p = malloc((n + 2 * GUARD) * sizeof *p);

	cr_assert(p, "out of memory");
	for (size_t i = 0; i < n + 2 * GUARD; i++)
		p[i] = poison();
	return p + GUARD;
}

static void free_guarded(float *p)
{
	free(p - GUARD);
}

/* The guards around p (n floats) must still be poison. */
static void check_guards(struct check *c, const float *p, size_t n,
			 const char *what)
{
	for (int i = 1; i <= GUARD; i++) {
		if (!is_poison(p[-i]))
			fail(c, "%s: wrote %d before the start", what, i);
		if (!is_poison(p[n + i - 1]))
			fail(c, "%s: wrote %d past the end (n=%zu)", what, i, n);
	}
}

/* One output element: got vs the reference want, allowed |diff| <= tol. */
static void cmp(struct check *c, float got, float want, double tol,
		const char *what, long i, long j)
{
	double err;

	c->checks++;
	if (is_poison(got)) {
		fail(c, "%s[%ld,%ld] not written (still poison)", what, i, j);
		return;
	}
	if (isnan(got) || isnan(want)) {
		fail(c, "%s[%ld,%ld] = %g, reference %g", what, i, j, got, want);
		return;
	}
	err = got == want ? 0.0 : fabs((double)got - (double)want);
	if (err > c->worst_abs)
		c->worst_abs = err;
	if (err > 0 && (tol <= 0 || err / tol > c->worst))
		c->worst = tol > 0 ? err / tol : INFINITY;
	if (!(err <= tol))
		fail(c, "%s[%ld,%ld] = %.9g, reference %.9g: |diff| %.3g > bound %.3g",
		     what, i, j, got, want, err, tol);
}

/* The bound of a KIND_APPROX variant outside the GLU ops. */
static double widen(const struct variant *v, double tol)
{
	return v->kind == KIND_APPROX && v->err_bound > tol ? v->err_bound : tol;
}

/* --- matmul_q8 --------------------------------------------------------- */

static const int awkward[] = { 1, 3, 7, 17, 31, 33, 127 };
#define N_AWKWARD (int)(sizeof awkward / sizeof awkward[0])

/* A random fp16 scale: mostly positive, magnitudes 2^-20 .. 4, so fp16
 * subnormals and negative scales (hostile files) occur too. */
static uint16_t rand_scale(struct rng *g)
{
	float v = ldexpf(1.0f + (float)rng_unit(g), rng_int(g, -20, 1));

	return f32_to_fp16(rng_int(g, 0, 7) ? v : -v);
}

/* n random blocks with quants in [lo, 127]; some blocks all lo or all 127,
 * so the largest block sums (and maddubs' largest pairs) are reached. */
static void fill_q8(struct rng *g, block_q8_0 *b, size_t n, int unit, int lo)
{
	for (size_t i = 0; i < n; i++) {
		int kind = rng_int(g, 0, 7);

		b[i].d = unit ? 0x3c00 : rand_scale(g);	/* 0x3c00 = 1.0 */
		for (int j = 0; j < QK8_0; j++)
			b[i].qs[j] = (int8_t)(kind == 0 ? lo : kind == 1 ? 127 :
					      kind == 2 ? (rng_int(g, 0, 1) ? lo : 127) :
					      rng_int(g, lo, 127));
	}
}

/* Rows [r0, r1) of ldy: a sub-range a third of the time the full range,
 * sometimes empty; ldy >= rows, usually larger. */
static void rand_range(struct rng *g, int rows, int *r0, int *r1, int *ldy)
{
	int k = rng_int(g, 0, 5);

	if (k < 2) {
		*r0 = 0;
		*r1 = rows;
	} else {
		*r0 = rng_int(g, 0, rows);
		*r1 = k == 2 ? *r0 : rng_int(g, *r0, rows);
	}
	*ldy = rows + (rng_int(g, 0, 3) ? rng_int(g, 1, 5) : 0);
}

/* Narrows [r0, r1) to what a variant with row alignment align accepts:
 * r0 a multiple of align, r1 too or = rows. */
static void align_range(int rows, int align, int *r0, int *r1)
{
	*r0 -= *r0 % align;
	if (*r1 != rows)
		*r1 -= *r1 % align;
	if (*r1 < *r0)
		*r1 = *r0;
}

#define PREP_GUARD 64		/* poisoned bytes after a prepared buffer */

/* n bytes that end where an inaccessible page begins, so that reading (or
 * writing) past them faults.  Free with free_fenced(p, n). */
static void *alloc_fenced(size_t n)
{
	const size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	const size_t len = (n + pg - 1) / pg * pg + pg;
	uint8_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	cr_assert(m != MAP_FAILED, "mmap of %zu bytes failed", len);
	cr_assert(!mprotect(m + len - pg, pg, PROT_NONE), "mprotect failed");
	return m + len - pg - n;
}

static void free_fenced(void *p, size_t n)
{
	const size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	const size_t len = (n + pg - 1) / pg * pg + pg;

	if (p)
		munmap((uint8_t *)p + n + pg - len, len);
}

/* The prepared form of w (rows, nb) by p, fenced (free with
 * free_fenced(ret, p->bytes(rows, nb))): a variant reading past the end
 * of the layout faults.  Prepares twice, over 0x11 and over 0xee bytes:
 * the two must agree on every byte (each written, deterministically), and
 * the first must leave the bytes past p->bytes alone. */
static void *prep_checked(struct check *c, const struct variant_prep *p,
			  const block_q8_0 *w, int rows, int nb)
{
	const size_t n = p->bytes(rows, nb);
	unsigned char *loose = malloc(n + PREP_GUARD), *fenced = alloc_fenced(n);

	cr_assert(loose, "out of memory");
	c->checks++;
	if (n < (size_t)rows * nb * sizeof *w)
		fail(c, "layout %s: bytes(%d, %d) = %zu, below the %zu of the "
		     "weights", p->layout, rows, nb, n, (size_t)rows * nb * sizeof *w);
	memset(loose, 0x11, n + PREP_GUARD);
	p->run(w, loose, rows, nb);
	for (size_t i = n; i < n + PREP_GUARD; i++)
		if (loose[i] != 0x11) {
			fail(c, "layout %s (rows %d nb %d): wrote byte %zu past "
			     "bytes() = %zu", p->layout, rows, nb, i, n);
			break;
		}
	memset(fenced, 0xee, n);
	p->run(w, fenced, rows, nb);
	if (memcmp(loose, fenced, n)) {
		size_t i = 0;

		while (loose[i] == fenced[i])
			i++;
		fail(c, "layout %s (rows %d nb %d): byte %zu of %zu not written "
		     "(or not deterministic)", p->layout, rows, nb, i, n);
	}
	free(loose);
	return fenced;
}

/* One matmul_q8 case; unit: all scales 1.0 (exact integer mode).  A
 * variant with a prepare step gets w through it, and rows in its
 * alignment. */
static void q8_case(const struct variant *v, const struct variant *ref,
		    struct check *c, struct rng *g, int rows, int nb, int nt,
		    int unit)
{
	block_q8_0 *w = malloc((size_t)rows * nb * sizeof *w);
	block_q8_0 *x = malloc((size_t)nt * nb * sizeof *x);
	void *wp = NULL;
	int r0, r1, ldy;
	const int exact = unit && nb <= 32;

	cr_assert(w && x, "out of memory");
	fill_q8(g, w, (size_t)rows * nb, unit, -128);	/* files may hold -128 */
	fill_q8(g, x, (size_t)nt * nb, unit, -127);	/* our quantizer's range */
	rand_range(g, rows, &r0, &r1, &ldy);
	if (v->prep) {
		align_range(rows, v->prep->row_align, &r0, &r1);
		wp = prep_checked(c, v->prep, w, rows, nb);
	}

	const size_t ny = (size_t)nt * ldy;
	float *y = alloc_guarded(ny), *yr = alloc_guarded(ny);

	v->fn.matmul_q8(wp ? wp : w, x, y, nb, r0, r1, nt, ldy);
	ref->fn.matmul_q8(w, x, yr, nb, r0, r1, nt, ldy);
	check_guards(c, y, ny, "y");
	for (int t = 0; t < nt; t++)
		for (int r = 0; r < ldy; r++) {
			size_t k = (size_t)t * ldy + r;

			if (r < r0 || r >= r1) {
				if (!is_poison(y[k]))
					fail(c, "y[%d,%d] written outside rows [%d,%d) "
					     "(rows %d nb %d nt %d ldy %d)",
					     t, r, r0, r1, rows, nb, nt, ldy);
				if (!is_poison(yr[k]))
					fail(c, "reference wrote y[%d,%d] outside rows", t, r);
				continue;
			}
			const block_q8_0 *wr = w + (size_t)r * nb;
			const block_q8_0 *xt = x + (size_t)t * nb;
			int64_t isum = 0;
			double s = 0;

			for (int b = 0; b < nb; b++) {
				int64_t bs = 0, ba = 0;
				for (int j = 0; j < QK8_0; j++) {
					bs += wr[b].qs[j] * xt[b].qs[j];
					ba += abs(wr[b].qs[j] * xt[b].qs[j]);
				}
				isum += bs;
				s += fabs((double)fp16_to_f32(wr[b].d) *
					  fp16_to_f32(xt[b].d)) * (double)ba;
			}
			if (exact) {
				/* the reference too must equal the integer sum */
				if (yr[k] != (float)isum)
					fail(c, "reference y[%d,%d] = %.9g, integer sum %lld",
					     t, r, yr[k], (long long)isum);
				cmp(c, y[k], (float)isum, 0.0, "y", t, r);
			} else {
				cmp(c, y[k], yr[k],
				    widen(v, (2.0 * nb + 16) * U24 * s + 1e-37), "y", t, r);
			}
		}
	if (c->fails && !c->quiet && c->fails <= MAX_SHOWN)
		say("  (case rows %d nb %d nt %d r0 %d r1 %d ldy %d%s)", rows, nb,
		    nt, r0, r1, ldy, unit ? " unit scales" : "");
	free_guarded(y);
	free_guarded(yr);
	if (wp)
		free_fenced(wp, v->prep->bytes(rows, nb));
	free(w);
	free(x);
}

static void check_matmul_q8(const struct variant *v, const struct variant *ref,
			    struct check *c)
{
	static const int nbs[] = { 1, 2, 3, 5, 8, 24 };
	static const int model[][2] = {		/* rows, nb: (rows x K) */
		{ 768, 24 }, { 256, 24 }, { 2304, 24 }, { 768, 72 },
		{ 41, 300 },	/* rows beyond a kernel's block chunk (blocked: 256) */
	};
	static const int model_nt[] = { 1, 5, 64 };
	struct rng g = { c->seed };

	for (int unit = 0; unit < 2; unit++)
		for (int a = 0; a < N_AWKWARD; a++)
			for (int b = 0; b < N_AWKWARD; b++)
				for (size_t k = 0; k < sizeof nbs / sizeof nbs[0]; k++)
					q8_case(v, ref, c, &g, awkward[a], nbs[k],
						awkward[b], unit);
	for (size_t m = 0; m < sizeof model / sizeof model[0]; m++)
		for (size_t k = 0; k < sizeof model_nt / sizeof model_nt[0]; k++)
			for (int unit = 0; unit < 2; unit++)
				q8_case(v, ref, c, &g, model[m][0], model[m][1],
					model_nt[k], unit);
}

/* --- float matmuls ----------------------------------------------------- */

enum fkind { FK_F16, FK_BF16, FK_F32 };

static float fk_get(enum fkind k, const void *p, size_t i)
{
	switch (k) {
	case FK_F16:
		return fp16_to_f32(((const uint16_t *)p)[i]);
	case FK_BF16:
		return bf16_to_f32(((const uint16_t *)p)[i]);
	default:
		return ((const float *)p)[i];
	}
}

/* n random values of kind k in [-2, 2], a few tiny (fp16 subnormals). */
static void *fk_fill(struct rng *g, enum fkind k, size_t n)
{
	void *p = malloc(n * (k == FK_F32 ? 4 : 2) + 1);

	cr_assert(p, "out of memory");
	for (size_t i = 0; i < n; i++) {
		float f = rng_float(g, -2, 2);
		uint32_t bits;

		if (rng_int(g, 0, 15) == 0)
			f *= 1e-5f;
		memcpy(&bits, &f, 4);
		if (k == FK_F16)
			((uint16_t *)p)[i] = f32_to_fp16(f);
		else if (k == FK_BF16)
			((uint16_t *)p)[i] = (uint16_t)(bits >> 16);
		else
			((float *)p)[i] = f;
	}
	return p;
}

static void fmm_case(const struct variant *v, const struct variant *ref,
		     struct check *c, struct rng *g, enum fkind k, int rows,
		     int n, int nt)
{
	void *w = fk_fill(g, k, (size_t)rows * n), *x = fk_fill(g, k, (size_t)nt * n);
	int r0, r1, ldy;

	rand_range(g, rows, &r0, &r1, &ldy);

	const size_t ny = (size_t)nt * ldy;
	float *y = alloc_guarded(ny), *yr = alloc_guarded(ny);

	if (k == FK_F32) {
		v->fn.matmul_f32(w, x, y, n, r0, r1, nt, ldy);
		ref->fn.matmul_f32(w, x, yr, n, r0, r1, nt, ldy);
	} else {
		v->fn.matmul_h(w, x, y, n, r0, r1, nt, ldy);
		ref->fn.matmul_h(w, x, yr, n, r0, r1, nt, ldy);
	}
	check_guards(c, y, ny, "y");
	for (int t = 0; t < nt; t++)
		for (int r = 0; r < ldy; r++) {
			size_t o = (size_t)t * ldy + r;
			double s = 0;

			if (r < r0 || r >= r1) {
				if (!is_poison(y[o]))
					fail(c, "y[%d,%d] written outside rows [%d,%d) "
					     "(rows %d n %d nt %d ldy %d)",
					     t, r, r0, r1, rows, n, nt, ldy);
				continue;
			}
			for (int i = 0; i < n; i++)
				s += fabs((double)fk_get(k, w, (size_t)r * n + i) *
					  fk_get(k, x, (size_t)t * n + i));
			cmp(c, y[o], yr[o], widen(v, (2.0 * n + 32) * U24 * s + 1e-37),
			    "y", t, r);
		}
	free_guarded(y);
	free_guarded(yr);
	free(w);
	free(x);
}

static void check_fmm(const struct variant *v, const struct variant *ref,
		      struct check *c, enum fkind k)
{
	static const int ns[] = { 1, 3, 7, 8, 9, 17, 31, 33, 64, 127, 771 };
	static const int nts[] = { 1, 3, 7, 17, 33 };
	struct rng g = { c->seed };

	for (int a = 0; a < N_AWKWARD; a++)
		for (size_t b = 0; b < sizeof nts / sizeof nts[0]; b++)
			for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
				fmm_case(v, ref, c, &g, k, awkward[a], ns[i], nts[b]);
	fmm_case(v, ref, c, &g, k, 768, 768, 1);
	fmm_case(v, ref, c, &g, k, 256, 768, 5);
}

static void check_matmul_f16(const struct variant *v, const struct variant *ref,
			     struct check *c)
{
	check_fmm(v, ref, c, FK_F16);
}

static void check_matmul_bf16(const struct variant *v, const struct variant *ref,
			      struct check *c)
{
	check_fmm(v, ref, c, FK_BF16);
}

static void check_matmul_f32(const struct variant *v, const struct variant *ref,
			     struct check *c)
{
	check_fmm(v, ref, c, FK_F32);
}

/* --- quantize ---------------------------------------------------------- */

/* One block of activations of a random kind: plain noise at a random
 * magnitude, all zero, one nonzero, exact .5 ties (amax = 127 makes
 * id = 1), signed zeros, huge, tiny (but amax above 127 / FLT_MAX, below
 * which the reference is undefined: see quantize_avx2). */
static void fill_act_block(struct rng *g, float *x)
{
	int kind = rng_int(g, 0, 9);
	float s = powf(10.0f, rng_float(g, -6, 4));

	for (int j = 0; j < QK8_0; j++) {
		switch (kind) {
		case 0:
			x[j] = 0.0f;
			break;
		case 1:
			x[j] = j == 7 ? -s : 0.0f;
			break;
		case 2:
			x[j] = (float)rng_int(g, -126, 125) + 0.5f;
			break;
		case 3:
			x[j] = rng_int(g, 0, 1) ? -0.0f : rng_float(g, -1e-3, 1e-3);
			break;
		case 4:
			x[j] = rng_float(g, -1e30, 1e30);
			break;
		case 5:
			x[j] = rng_float(g, -1e-35, 1e-35);
			break;
		default:
			x[j] = rng_float(g, -s, s);
		}
	}
	if (kind == 2)
		x[rng_int(g, 0, QK8_0 - 1)] = rng_int(g, 0, 1) ? 127.0f : -127.0f;
}

static void quant_case(const struct variant *v, const struct variant *ref,
		       struct check *c, struct rng *g, int n)
{
	static const unsigned char poisons[] = { 0xee, 0x11 };
	const int nb = n / QK8_0;
	const size_t bytes = (size_t)(nb + 4) * sizeof(block_q8_0);
	float *x = malloc((size_t)n * sizeof *x);
	block_q8_0 *y = malloc(bytes), *yr = malloc(bytes);

	cr_assert(x && y && yr, "out of memory");
	for (int b = 0; b < nb; b++)
		fill_act_block(g, x + (size_t)b * QK8_0);
	/* two poisons, so a byte left unwritten cannot match by chance */
	for (int p = 0; p < 2; p++) {
		memset(y, poisons[p], bytes);
		memset(yr, poisons[p], bytes);
		v->fn.quantize(x, y + 2, n);
		ref->fn.quantize(x, yr + 2, n);
		c->checks += nb;
		if (memcmp(y, yr, bytes)) {
			const unsigned char *a = (const void *)y, *b = (const void *)yr;
			size_t i = 0;

			while (a[i] == b[i])
				i++;
			long blk = (long)(i / sizeof(block_q8_0)) - 2;
			long off = (long)(i % sizeof(block_q8_0));
			if (blk < 0 || blk >= nb)
				fail(c, "n %d: wrote outside the %d blocks (block %ld byte %ld)",
				     n, nb, blk, off);
			else
				fail(c, "n %d poison %#x: block %ld byte %ld = %#x, "
				     "reference %#x (x[%ld..] first %.9g)", n, poisons[p],
				     blk, off, a[i], b[i], blk * QK8_0,
				     x[blk * QK8_0]);
		}
	}
	free(x);
	free(y);
	free(yr);
}

static void check_quantize(const struct variant *v, const struct variant *ref,
			   struct check *c)
{
	static const int ns[] = { 32, 64, 96, 160, 256, 768, 2304, 32 * 127 };
	struct rng g = { c->seed };

	for (int rep = 0; rep < 8; rep++)
		for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
			quant_case(v, ref, c, &g, ns[i]);
}

/* --- element-wise and reductions --------------------------------------- */

static const int lens[] = { 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33,
			    63, 100, 127, 768, 2304, 4099 };
#define N_LENS (int)(sizeof lens / sizeof lens[0])

/* n floats uniform in [-s, s], s a random power of ten in [1e-3, 1e3]. */
static float *rand_vec(struct rng *g, int n)
{
	float *p = alloc_guarded((size_t)n);
	float s = powf(10.0f, (float)rng_int(g, -3, 3));

	for (int i = 0; i < n; i++)
		p[i] = rng_float(g, -s, s);
	return p;
}

static float *copy_guarded(const float *src, int n)
{
	float *p = alloc_guarded((size_t)n);

	memcpy(p, src, (size_t)n * sizeof *p);
	return p;
}

static void check_rmsnorm(const struct variant *v, const struct variant *ref,
			  struct check *c)
{
	struct rng g = { c->seed };

	for (int rep = 0; rep < 4; rep++)
		for (int i = 0; i < N_LENS; i++) {
			const int n = lens[i];
			const float eps = rep & 1 ? 1e-6f : 1e-5f;
			float *x = rand_vec(&g, n), *w = rand_vec(&g, n);
			float *o = alloc_guarded((size_t)n), *orf = alloc_guarded((size_t)n);
			float *xi = copy_guarded(x, n), *xr = copy_guarded(x, n);

			v->fn.rmsnorm(o, x, w, n, eps);
			ref->fn.rmsnorm(orf, x, w, n, eps);
			check_guards(c, o, (size_t)n, "o");
			for (int k = 0; k < n; k++)
				cmp(c, o[k], orf[k], widen(v, 8 * U24 * fabsf(orf[k]) + 1e-37),
				    "o", n, k);
			/* in place: o == x */
			v->fn.rmsnorm(xi, xi, w, n, eps);
			ref->fn.rmsnorm(xr, xr, w, n, eps);
			check_guards(c, xi, (size_t)n, "o == x");
			for (int k = 0; k < n; k++)
				cmp(c, xi[k], xr[k], widen(v, 8 * U24 * fabsf(xr[k]) + 1e-37),
				    "o==x", n, k);
			free_guarded(x);
			free_guarded(w);
			free_guarded(o);
			free_guarded(orf);
			free_guarded(xi);
			free_guarded(xr);
		}
}

/* g = act(g) * u: EXACT variants within 16 u relative; APPROX ones within
 * err_bound in units of max(1, |g|) max(1, |u|). */
static void glu_run(const struct variant *v, const struct variant *ref,
		    struct check *c, const float *g0, const float *u, int n)
{
	float *gv = copy_guarded(g0, n), *gr = copy_guarded(g0, n);

	v->fn.glu(gv, u, n);
	ref->fn.glu(gr, u, n);
	check_guards(c, gv, (size_t)n, "g");
	for (int k = 0; k < n; k++) {
		double tol = v->kind == KIND_APPROX ?
			v->err_bound * fmax(1, fabsf(g0[k])) * fmax(1, fabsf(u[k])) :
			16 * U24 * fabsf(gr[k]) + 1e-37;
		cmp(c, gv[k], gr[k], tol, "g", n, k);
	}
	free_guarded(gv);
	free_guarded(gr);
}

static void check_glu(const struct variant *v, const struct variant *ref,
		      struct check *c)
{
	static const float special[] = {
		0.0f, -0.0f, 1e-40f, -1e-40f, 1e-20f, -1e-20f, 0.5f, -0.5f,
		3.0f, -3.0f, 9.0f, -9.0f, 44.4f, -44.4f, 88.7f, -88.7f,
		89.0f, -89.0f, 104.0f, -104.0f, 1e3f, -1e3f, 1e13f, -1e13f,
		1e20f, -1e20f, 3e38f, -3e38f,
	};
	const int ns = (int)(sizeof special / sizeof special[0]);
	struct rng g = { c->seed };

	/* random lengths and magnitudes */
	for (int rep = 0; rep < 4; rep++)
		for (int i = 0; i < N_LENS; i++) {
			const int n = lens[i];
			float *x = alloc_guarded((size_t)n), *u = alloc_guarded((size_t)n);
			float s = rep == 3 ? 100.0f : 8.0f;

			for (int k = 0; k < n; k++) {
				x[k] = rng_float(&g, -s, s);
				u[k] = rng_float(&g, -2, 2);
			}
			glu_run(v, ref, c, x, u, n);
			free_guarded(x);
			free_guarded(u);
		}
	/* a dense sweep of [-20, 20] with u = 1, then the special values */
	{
		const int n = 40 * 8192 + 1;
		float *x = alloc_guarded((size_t)n), *u = alloc_guarded((size_t)n);

		for (int k = 0; k < n; k++) {
			x[k] = -20.0f + (float)k / 8192.0f;
			u[k] = 1.0f;
		}
		glu_run(v, ref, c, x, u, n);
		for (int k = 0; k < ns; k++)
			x[k] = special[k];
		glu_run(v, ref, c, x, u, ns);
		free_guarded(x);
		free_guarded(u);
	}
}

/* RoPE: both layouts, full and partial rotation, positions across a
 * context; heads beyond n_rot must stay untouched.  A variant with
 * VF_ROPE_TABLE gets the table rope_fill builds. */
static void check_rope(const struct variant *v, const struct variant *ref,
		       struct check *c)
{
	static const int dims[] = { 8, 64, 256 };
	struct rng g = { c->seed };

	for (int neox = 0; neox < 2; neox++)
		for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
			for (int part = 0; part < 2; part++) {
				const int hd = dims[d], n_head = 3, n = n_head * hd;
				struct rope_tab t = { .n_rot = part ? hd / 2 : hd,
					.neox = neox, .base = part ? 1e6f : 1e4f,
					.n_ctx = 1024 };
				if (v->flags & VF_ROPE_TABLE) {
					t.cs = malloc(sizeof(float) * (size_t)t.n_ctx * t.n_rot);
					rope_fill(&t);
				}
				for (int rep = 0; rep < 8; rep++) {
					const int pos = rep ? rng_int(&g, 0, t.n_ctx - 1) : 0;
					float *x = rand_vec(&g, n);
					float *xr = copy_guarded(x, n);
					float amax = 0.0f;
					for (int k = 0; k < n; k++)
						amax = fmaxf(amax, fabsf(x[k]));
					v->fn.rope(x, n_head, hd, pos, &t);
					ref->fn.rope(xr, n_head, hd, pos, &t);
					check_guards(c, x, (size_t)n, "x");
					for (int k = 0; k < n; k++)
						cmp(c, x[k], xr[k], widen(v, 4 * U24 * amax),
						    "x", n, k);
					free_guarded(x);
					free_guarded(xr);
				}
				free(t.cs);
			}
}

/* --- attention ---------------------------------------------------------- */

/* One call: heads query heads of head_dim hd, a block of nt tokens at
 * pos0, rows wider than their data (the other KV heads' heads and cache
 * columns, as in the forward pass), scores of magnitude about qs.  The
 * gaps between rows must stay poison, like the guards.  Bound per output
 * row, vmax = max |v| over the positions it sees, smax = max |score|, S =
 * max over positions of scale sum_i |q_i k_i|:
 *   reference parts of another ISA (dot in another order, softmax with
 *   vexp): vmax (4 (2 hd + 32) u S + 32 u + 2 n_kv u);
 *   KIND_APPROX: err_bound vmax max(1, smax), the declared bound alone. */
static void att_case(const struct variant *v, const struct variant *ref,
		     struct check *c, struct rng *g, int hd, int heads, int nt,
		     int pos0, float qs)
{
	const int n_kv = pos0 + nt, w = heads * hd;
	const int ldq = w + rng_int(g, 0, 2) * hd + rng_int(g, 0, 3);
	const int ldo = w + rng_int(g, 0, 1) * (hd + 1);
	const int ldkv = hd * rng_int(g, 1, 3) + rng_int(g, 0, 1);
	const size_t ns = ATT_SCRATCH(n_kv, nt * heads);
	const float scale = 1.0f / sqrtf((float)hd);
	float *q = rand_vec(g, nt * ldq), *k = alloc_guarded((size_t)n_kv * ldkv);
	float *vv = rand_vec(g, n_kv * ldkv);
	float *o = alloc_guarded((size_t)nt * ldo), *orf = alloc_guarded((size_t)nt * ldo);
	float *sc = alloc_guarded(ns), *scr = alloc_guarded(ns);

	for (int i = 0; i < nt * ldq; i++)
		q[i] = rng_float(g, -qs, qs);
	for (int i = 0; i < n_kv * ldkv; i++)
		k[i] = rng_float(g, -1, 1);
	struct att_args a = { q, k, vv, o, sc, nt, heads, hd, pos0, ldq, ldkv,
			      ldo, scale };
	v->fn.attention(&a);
	a.out = orf;
	a.scratch = scr;
	ref->fn.attention(&a);
	check_guards(c, o, (size_t)nt * ldo, "out");
	check_guards(c, sc, ns, "scratch");
	for (int t = 0; t < nt; t++)
		for (int h = 0; h < heads; h++) {
			const float *qh = q + (size_t)t * ldq + (size_t)h * hd;
			double vmax = 0, smax = 0, S = 0, tol;

			for (int p = 0; p <= pos0 + t; p++) {
				double d = 0, m = 0;
				for (int i = 0; i < hd; i++) {
					d += (double)qh[i] * k[(size_t)p * ldkv + i];
					m += fabs((double)qh[i] * k[(size_t)p * ldkv + i]);
					vmax = fmax(vmax, fabsf(vv[(size_t)p * ldkv + i]));
				}
				smax = fmax(smax, fabs(d) * scale);
				S = fmax(S, m * scale);
			}
			tol = v->kind == KIND_APPROX ?
			      v->err_bound * vmax * fmax(1, smax) + 1e-37 :
			      vmax * (4 * (2.0 * hd + 32) * U24 * S + 32 * U24 +
				      2.0 * (pos0 + t + 1) * U24) + 1e-37;
			for (int i = 0; i < hd; i++) {
				const size_t e = (size_t)t * ldo + (size_t)h * hd + i;
				cmp(c, o[e], orf[e], tol, "out", t * heads + h, i);
			}
		}
	for (int t = 0; t < nt; t++)
		for (int i = w; i < ldo; i++)
			if (!is_poison(o[(size_t)t * ldo + i]))
				fail(c, "hd %d heads %d: wrote out[%d][%d], past the "
				     "%d heads", hd, heads, t, i, heads);
	free_guarded(q);
	free_guarded(k);
	free_guarded(vv);
	free_guarded(o);
	free_guarded(orf);
	free_guarded(sc);
	free_guarded(scr);
}

/* Head sizes of the models (8: stories260K, 64, 128, 256: the seed model)
 * and awkward ones; 1 to 4 query heads a KV head; blocks of tokens at
 * pos0 = 0 and later, n_kv from 1 up, across the vector widths and the
 * fused variants' tiles. */
static void check_attention(const struct variant *v, const struct variant *ref,
			    struct check *c)
{
	static const int hds[] = { 8, 64, 256, 20, 72, 100, 128 };
	static const int blk[][2] = { /* pos0, nt */
		{ 0, 1 }, { 0, 3 }, { 7, 1 }, { 0, 17 }, { 5, 16 }, { 33, 7 },
		{ 100, 1 }, { 63, 2 }, { 127, 33 }, { 300, 5 }, { 1, 40 },
	};
	static const float qss[] = { 1, 8, 40 };
	struct rng g = { c->seed };

	for (size_t h = 0; h < sizeof hds / sizeof hds[0]; h++)
		for (int heads = 1; heads <= 4; heads++)
			for (size_t b = 0; b < sizeof blk / sizeof blk[0]; b++)
				att_case(v, ref, c, &g, hds[h], heads, blk[b][1],
					 blk[b][0], qss[(h + heads + b) % 3]);
}

/* --- fused element-wise ops (norm_q8, gelu_q8, silu_q8) ------------------ */

/* The blocks a fused op wrote (q, nb of them, with a poisoned block either
 * side) must be exactly quantize_scalar of the floats it also wrote (v):
 * the quantizing is exact given its input, which the caller checks
 * against the reference within the composed op's bound. */
static void fused_q_check(struct check *c, const block_q8_0 *q, const float *v,
			  int n, const char *what)
{
	const int nb = n / QK8_0;
	block_q8_0 *want = malloc((size_t)nb * sizeof *want);

	cr_assert(want, "out of memory");
	quantize_scalar(v, want, n);
	c->checks += nb;
	for (int b = 0; b < nb; b++)
		if (memcmp(q + b, want + b, sizeof *want)) {
			fail(c, "%s n %d: block %d is not the quantized output "
			     "(d %#x, reference %#x)", what, n, b, q[b].d, want[b].d);
			break;
		}
	free(want);
}

/* nb blocks of 0xa5 bytes with one more either side; returns the first
 * of the nb.  free_blocks checks the two outer ones. */
static block_q8_0 *alloc_blocks(int nb)
{
	block_q8_0 *q = malloc((size_t)(nb + 2) * sizeof *q);

	cr_assert(q, "out of memory");
	memset(q, 0xa5, (size_t)(nb + 2) * sizeof *q);
	return q + 1;
}

static void free_blocks(struct check *c, block_q8_0 *q, int nb)
{
	static const unsigned char p[sizeof(block_q8_0)] = {
		0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5,
		0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5,
		0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5,
		0xa5,
	};

	if (memcmp(q - 1, p, sizeof p) || memcmp(q + nb, p, sizeof p))
		fail(c, "q: wrote outside its %d blocks", nb);
	free(q - 1);
}

static const int fused_lens[] = { 32, 64, 96, 768, 2304, 4096 };
#define N_FUSED_LENS (int)(sizeof fused_lens / sizeof fused_lens[0])

/* norm_q8: the residual x after the add bit for bit (one float add each),
 * o within rmsnorm's bound of the reference, q the blocks of o; with and
 * without the add. */
static void check_norm_q8(const struct variant *v, const struct variant *ref,
			  struct check *c)
{
	struct rng g = { c->seed };

	for (int rep = 0; rep < 4; rep++)
		for (int i = 0; i < N_FUSED_LENS; i++) {
			const int n = fused_lens[i], nb = n / QK8_0;
			const float eps = rep & 2 ? 1e-6f : 1e-5f;
			float *x = rand_vec(&g, n), *d = rand_vec(&g, n);
			float *w = rand_vec(&g, n), *xr = copy_guarded(x, n);
			float *o = alloc_guarded((size_t)n), *orf = alloc_guarded((size_t)n);
			block_q8_0 *q = alloc_blocks(nb), *qr = alloc_blocks(nb);
			const float *dd = rep & 1 ? NULL : d;

			v->fn.norm_q8(x, dd, w, n, eps, o, q);
			ref->fn.norm_q8(xr, dd, w, n, eps, orf, qr);
			check_guards(c, x, (size_t)n, "x");
			check_guards(c, o, (size_t)n, "o");
			for (int k = 0; k < n; k++) {
				cmp(c, x[k], xr[k], 0, "x", n, k);
				cmp(c, o[k], orf[k], widen(v, 8 * U24 * fabsf(orf[k]) + 1e-37),
				    "o", n, k);
			}
			fused_q_check(c, q, o, n, "norm_q8");
			free_blocks(c, q, nb);
			free_blocks(c, qr, nb);
			free_guarded(x);
			free_guarded(d);
			free_guarded(w);
			free_guarded(xr);
			free_guarded(o);
			free_guarded(orf);
		}
}

/* gelu_q8, silu_q8: g as the GLU ops' checker bounds it (APPROX: err_bound
 * in units of max(1, |g|) max(1, |u|); else 16 u relative), q the blocks
 * of g. */
static void check_glu_q8(const struct variant *v, const struct variant *ref,
			 struct check *c)
{
	struct rng g = { c->seed };

	for (int rep = 0; rep < 4; rep++)
		for (int i = 0; i < N_FUSED_LENS; i++) {
			const int n = fused_lens[i], nb = n / QK8_0;
			const float s = rep == 3 ? 100.0f : 8.0f;
			float *g0 = alloc_guarded((size_t)n), *u = alloc_guarded((size_t)n);
			float *gv, *gr;
			block_q8_0 *q = alloc_blocks(nb), *qr = alloc_blocks(nb);

			for (int k = 0; k < n; k++) {
				g0[k] = rng_float(&g, -s, s);
				u[k] = rng_float(&g, -2, 2);
			}
			gv = copy_guarded(g0, n);
			gr = copy_guarded(g0, n);
			v->fn.glu_q8(gv, u, n, q);
			ref->fn.glu_q8(gr, u, n, qr);
			check_guards(c, gv, (size_t)n, "g");
			for (int k = 0; k < n; k++) {
				double tol = v->kind == KIND_APPROX ?
					v->err_bound * fmax(1, fabsf(g0[k])) *
					fmax(1, fabsf(u[k])) :
					16 * U24 * fabsf(gr[k]) + 1e-37;
				cmp(c, gv[k], gr[k], tol, "g", n, k);
			}
			fused_q_check(c, q, gv, n, "glu_q8");
			free_blocks(c, q, nb);
			free_blocks(c, qr, nb);
			free_guarded(g0);
			free_guarded(u);
			free_guarded(gv);
			free_guarded(gr);
		}
}

/* --- the walk ---------------------------------------------------------- */

typedef void (*checker_fn)(const struct variant *, const struct variant *,
			   struct check *);

static const checker_fn checkers[OP_COUNT] = {
	[OP_MATMUL_Q8] = check_matmul_q8,
	[OP_MATMUL_F16] = check_matmul_f16,
	[OP_MATMUL_BF16] = check_matmul_bf16,
	[OP_MATMUL_F32] = check_matmul_f32,
	[OP_QUANTIZE] = check_quantize,
	[OP_RMSNORM] = check_rmsnorm,
	[OP_ATTENTION] = check_attention,
	[OP_GELU] = check_glu,
	[OP_SILU] = check_glu,
	[OP_ROPE] = check_rope,
	[OP_NORM_Q8] = check_norm_q8,
	[OP_GELU_Q8] = check_glu_q8,
	[OP_SILU_Q8] = check_glu_q8,
};

/* The seed for this run: Q8TUNE_TEST_SEED if set, else fresh. */
static uint64_t fresh_seed(int op)
{
	const char *e = getenv("Q8TUNE_TEST_SEED");
	struct timespec ts;

	if (e && *e)
		return strtoull(e, NULL, 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^
	       ((uint64_t)getpid() << 16) ^ (uint64_t)op;
}

#define FIXED_SEED 0x5eed0f00du

/* Checks variant v of op against ref with one seed; reports, and fails
 * the test when anything mismatched. */
static void run_variant(int op, const struct variant *v,
			const struct variant *ref, uint64_t seed)
{
	struct check c = { .op = kernel_ops[op].name, .name = v->name, .seed = seed };

	checkers[op](v, ref, &c);
	say("%s/%s seed %#llx: %ld checks, %ld failed, worst |err| %.3g, "
	    "worst |err|/bound %.3g%s", c.op, c.name, (unsigned long long)seed,
	    c.checks, c.fails, c.worst_abs, c.worst,
	    v->kind == KIND_APPROX ? " (approx)" : "");
	cr_expect(c.checks > 0, "%s/%s: nothing was checked", c.op, c.name);
	cr_expect(c.fails == 0, "%s/%s seed %#llx (Q8TUNE_TEST_SEED=%#llx to "
		  "replay): %ld of %ld checks failed; first: %s", c.op, c.name,
		  (unsigned long long)seed, (unsigned long long)seed, c.fails,
		  c.checks, c.first);
}

static void run_op(int op)
{
	const struct op_desc *d = &kernel_ops[op];
	const struct variant *ref = NULL;
	const uint64_t seed = fresh_seed(op);
	int n = 0, tested = 0;

	cr_assert(d->name && d->variants, "op %d has no table", op);
	for (const struct variant *v = d->variants; v->name; v++, n++)
		if (v->kind == KIND_REFERENCE) {
			cr_assert(!ref, "op %s has two references", d->name);
			ref = v;
			cr_expect(!v[1].name, "op %s: reference %s is not last",
				  d->name, v->name);
			cr_expect(!variant_unusable(v), "op %s: reference unusable",
				  d->name);
		}
	cr_assert(ref, "op %s has no KIND_REFERENCE variant", d->name);

	for (const struct variant *v = d->variants; v->name; v++) {
		const char *why;

		if (v == ref)
			continue;
		for (const struct variant *o = d->variants; o != v; o++)
			cr_expect(strcmp(o->name, v->name), "op %s: duplicate name %s",
				  d->name, v->name);
		cr_expect(v->kind == KIND_APPROX ? v->err_bound > 0 : v->err_bound == 0,
			  "op %s/%s: err_bound %g does not fit its kind", d->name,
			  v->name, v->err_bound);
		if ((why = variant_unusable(v))) {
			say("%s/%s: skipped: %s", d->name, v->name, why);
			continue;
		}
		if (!checkers[op]) {
			cr_expect_fail("%s/%s: no checker for op %s in tests/test_variants.c",
				d->name, v->name, d->name);
			continue;
		}
		run_variant(op, v, ref, FIXED_SEED);
		run_variant(op, v, ref, seed);
		tested++;
	}
	if (n == 1)
		say("%s: only the reference %s", d->name, ref->name);
	else if (!tested)
		say("%s: no variant besides %s runs here", d->name, ref->name);
}

ParameterizedTestParameters(variants, vs_reference)
{
	static int ops[OP_COUNT];

	for (int i = 0; i < OP_COUNT; i++)
		ops[i] = i;
	return cr_make_param_array(int, ops, OP_COUNT);
}

ParameterizedTest(int *op, variants, vs_reference)
{
	run_op(*op);
}

/* --- prepared layouts -------------------------------------------------- */

/* R of a layout named q8_0x<R> or q8_0x<R>u (layout.c documents both),
 * else 0; the bias its quants are stored with (u: XOR 0x80) in *bias. */
static int q8x_group_bias(const struct variant_prep *p, uint8_t *bias)
{
	int R = 0, n = 0;

	*bias = 0;
	if (sscanf(p->layout, "q8_0x%d%n", &R, &n) != 1 || R < 1)
		return 0;
	if (p->layout[n] == 'u')
		*bias = 0x80, n++;
	return p->layout[n] ? 0 : R;
}

static int q8x_group(const struct variant_prep *p)
{
	uint8_t bias;

	return q8x_group_bias(p, &bias);
}

/* Byte i of the record (group g, block b) of a q8_0x<R> layout. */
static const uint8_t *q8x_rec(const void *w, int R, int nb, int g, int b)
{
	return (const uint8_t *)w + ((size_t)g * nb + b) * 34 * (size_t)R;
}

static int q8x_R;	/* the group height q8x_read reads */
static uint8_t q8x_bias;	/* and the bias of its quants */

/* The q8_0x<R> layout read plainly, R = q8x_R, summing as the reference
 * does: the kernel of the self-tests, which any CPU runs. */
static void q8x_read(const void *w, const block_q8_0 *x, float *y, int nb,
		     int r0, int r1, int nt, int ldy)
{
	const int R = q8x_R;

	for (int r = r0; r < r1; r++)
		for (int t = 0; t < nt; t++) {
			const block_q8_0 *xt = x + (size_t)t * nb;
			float sum = 0.0f;

			for (int b = 0; b < nb; b++) {
				const uint8_t *rec = q8x_rec(w, R, nb, r / R, b);
				const int i = r % R;
				uint16_t d;
				int s = 0;

				memcpy(&d, rec + 2 * i, 2);
				for (int j = 0; j < QK8_0; j++)
					s += (int8_t)(rec[2 * R + 4 * (j / 4 * R + i) + j % 4] ^
						      q8x_bias) * xt[b].qs[j];
				sum += (float)s * (fp16_to_f32(d) * fp16_to_f32(xt[b].d));
			}
			y[(size_t)t * ldy + r] = sum;
		}
}

/* Every prepare step of the matmul_q8 table (portable C, so on any CPU):
 * total, deterministic and in bounds (prep_checked), and for the q8_0x<R>
 * layouts byte for byte as documented, the rows of a last partial group
 * padded with zeros. */
Test(variants, q8_layouts)
{
	static const int nbs[] = { 1, 3, 24 };
	struct check c = { .op = "matmul_q8", .seed = FIXED_SEED };
	struct rng g = { FIXED_SEED };
	int n = 0;

	for (const struct variant *v = kernel_ops[OP_MATMUL_Q8].variants; v->name; v++) {
		const struct variant_prep *p = v->prep;
		const struct variant *o;
		uint8_t bias;
		int R;

		if (!p)
			continue;
		for (o = kernel_ops[OP_MATMUL_Q8].variants; o != v; o++)
			if (o->prep && !strcmp(o->prep->layout, p->layout))
				break;
		if (o != v)
			continue;	/* layout already checked */
		c.name = p->layout;
		n++;
		R = q8x_group_bias(p, &bias);
		if (!R)
			say("layout %s: not a q8_0x<R> layout; checked through "
			    "its variants only", p->layout);
		else
			cr_expect_eq(p->row_align, R, "layout %s: row_align %d",
				     p->layout, p->row_align);
		for (int a = 0; a < N_AWKWARD; a++)
			for (size_t k = 0; k < sizeof nbs / sizeof nbs[0]; k++) {
				const int rows = awkward[a], nb = nbs[k];
				const int groups = R ? (rows + R - 1) / R : 0;
				block_q8_0 *w = malloc((size_t)rows * nb * sizeof *w);
				uint8_t *wp;

				cr_assert(w, "out of memory");
				fill_q8(&g, w, (size_t)rows * nb, 0, -128);
				wp = prep_checked(&c, p, w, rows, nb);
				if (R && p->bytes(rows, nb) != (size_t)groups * nb * 34 * R)
					fail(&c, "bytes(%d, %d) = %zu, not %zu", rows, nb,
					     p->bytes(rows, nb), (size_t)groups * nb * 34 * R);
				for (int gi = 0; gi < groups; gi++)
					for (int b = 0; b < nb; b++) {
						const uint8_t *rec = q8x_rec(wp, R, nb, gi, b);

						for (int i = 0; i < R; i++) {
							const int r = gi * R + i;
							const block_q8_0 *src = w + (size_t)r * nb + b;
							block_q8_0 got;

							memcpy(&got.d, rec + 2 * i, 2);
							for (int j = 0; j < QK8_0; j++)
								got.qs[j] = (int8_t)(rec[2 * R +
									4 * (j / 4 * R + i) + j % 4] ^ bias);
							c.checks++;
							if (r < rows ? memcmp(&got, src, sizeof got) :
							    got.d || memcmp(got.qs, (int8_t[QK8_0]){ 0 },
									    QK8_0))
								fail(&c, "rows %d nb %d: row %d block %d "
								     "%s", rows, nb, r, b, r < rows ?
								     "differs from the weights" :
								     "(padding) is not zero");
						}
					}
				free_fenced(wp, p->bytes(rows, nb));
				free(w);
			}
		say("layout %s: %ld checks, %ld failed", p->layout, c.checks, c.fails);
	}
	cr_expect(c.fails == 0, "%ld of %ld layout checks failed; first: %s",
		  c.fails, c.checks, c.first);
	if (!n)
		say("matmul_q8: no variant with a prepare step");
}

/* --- the checks can fail ----------------------------------------------- */

/* Broken variants: each must be caught by the checker of its op. */
static void q8_drop_last_block(const void *wv, const block_q8_0 *x,
			       float *y, int nb, int r0, int r1, int nt, int ldy)
{
	const block_q8_0 *w = wv;

	for (int r = r0; r < r1; r++)
		for (int t = 0; t < nt; t++) {
			float sum = 0.0f;
			for (int b = 0; b < (nb > 1 ? nb - 1 : nb); b++) {
				int s = 0;
				for (int j = 0; j < QK8_0; j++)
					s += w[(size_t)r * nb + b].qs[j] *
					     x[(size_t)t * nb + b].qs[j];
				sum += (float)s * (fp16_to_f32(w[(size_t)r * nb + b].d) *
						   fp16_to_f32(x[(size_t)t * nb + b].d));
			}
			y[(size_t)t * ldy + r] = sum;
		}
}

static matmul_q8_fn q8_ref;

/* Correct, but leaves the last token of the last row unwritten. */
static void q8_skip_one(const void *w, const block_q8_0 *x, float *y,
			int nb, int r0, int r1, int nt, int ldy)
{
	float keep;

	if (r0 == r1)
		return;
	keep = y[(size_t)(nt - 1) * ldy + r1 - 1];
	q8_ref(w, x, y, nb, r0, r1, nt, ldy);
	y[(size_t)(nt - 1) * ldy + r1 - 1] = keep;
}

/* Correct, but also writes the row after r1 (ldy > rows leaves room). */
static void q8_spill(const void *w, const block_q8_0 *x, float *y,
		     int nb, int r0, int r1, int nt, int ldy)
{
	q8_ref(w, x, y, nb, r0, r1, nt, ldy);
	if (r1 < ldy)
		y[r1] = 0.0f;
}

/* Off by a relative 1e-4: beyond every bound above. */
static void q8_scaled(const void *w, const block_q8_0 *x, float *y,
		      int nb, int r0, int r1, int nt, int ldy)
{
	q8_ref(w, x, y, nb, r0, r1, nt, ldy);
	for (int t = 0; t < nt; t++)
		for (int r = r0; r < r1; r++)
			y[(size_t)t * ldy + r] *= 1.0001f;
}

/* Rounds half away from zero: differs from the reference on ties only. */
static void quant_roundf(const float *x, block_q8_0 *y, int n)
{
	for (int b = 0; b < n / QK8_0; b++, x += QK8_0) {
		float amax = 0.0f;

		for (int j = 0; j < QK8_0; j++)
			amax = fmaxf(amax, fabsf(x[j]));
		const float id = amax != 0.0f ? 127.0f / amax : 0.0f;

		y[b].d = f32_to_fp16(amax / 127.0f);
		for (int j = 0; j < QK8_0; j++)
			y[b].qs[j] = (int8_t)roundf(x[j] * id);
	}
}

/* Sum of squares in float, missing the last element. */
static void rms_short(float *o, const float *x, const float *w, int n, float eps)
{
	float ss = 0.0f;

	for (int i = 0; i < n - 1; i++)
		ss += x[i] * x[i];
	const float scale = 1.0f / sqrtf(ss / n + eps);
	for (int i = 0; i < n; i++)
		o[i] = (x[i] * scale) * w[i];
}

/* Fused ops, broken: the add skipped; a block quantized from the input
 * instead of the output; the blocks right but g left as it was. */
static void norm_q8_no_add(float *x, const float *d, const float *w, int n,
			   float eps, float *o, block_q8_0 *q)
{
	(void)d;
	norm_q8_unfused(x, NULL, w, n, eps, o, q);
}

static void norm_q8_stale_block(float *x, const float *d, const float *w,
				int n, float eps, float *o, block_q8_0 *q)
{
	norm_q8_unfused(x, d, w, n, eps, o, q);
	quantize_scalar(x + n - QK8_0, q + n / QK8_0 - 1, QK8_0);
}

static void gelu_q8_g_kept(float *g, const float *u, int n, block_q8_0 *q)
{
	float *t = malloc((size_t)n * sizeof *t);

	cr_assert(t, "out of memory");
	memcpy(t, g, (size_t)n * sizeof *t);
	gelu_q8_unfused(t, u, n, q);
	free(t);
}

static attention_fn att_ref;

/* The attention of a without the causal mask inside the block: every
 * token sees all pos0 + nt positions. */
static void att_no_mask(const struct att_args *a)
{
	for (int t = 0; t < a->nt; t++) {
		struct att_args r = *a;

		r.q = a->q + (size_t)t * a->ldq;
		r.out = a->out + (size_t)t * a->ldo;
		r.nt = 1;
		r.pos0 = a->pos0 + a->nt - 1;
		att_ref(&r);
	}
}

/* Correct, then nudges one output by 1e-4 relative. */
static void att_nudge(const struct att_args *a)
{
	att_ref(a);
	a->out[(size_t)(a->nt - 1) * a->ldo] *= 1.0001f;
}

/* Correct, but writes the element after the last head of the last token. */
static void att_overrun(const struct att_args *a)
{
	att_ref(a);
	a->out[(size_t)(a->nt - 1) * a->ldo + (size_t)a->heads * a->hd] = 0.0f;
}

/* Every head reads the query of head 0. */
static void att_head0(const struct att_args *a)
{
	for (int g = 0; g < a->heads; g++) {
		struct att_args r = *a;

		r.out = a->out + (size_t)g * a->hd;
		r.heads = 1;
		att_ref(&r);
	}
}

/* Correct, but uses one float of scratch past ATT_SCRATCH. */
static void att_scratch_overrun(const struct att_args *a)
{
	att_ref(a);
	a->scratch[ATT_SCRATCH(a->pos0 + a->nt, a->nt * a->heads)] = 0.0f;
}

static glu_fn gelu_ref;

/* Correct but for an absolute 1e-5 error near 1: exceeds err_bound 1e-6. */
static void gelu_bumped(float *g, const float *u, int n)
{
	gelu_ref(g, u, n);
	for (int i = 0; i < n; i++)
		if (g[i] > 0.9f && g[i] < 1.1f)
			g[i] += 1e-5f;
}

/* tanh as (e^2z - 1) / (e^2z + 1): accurate, until e^2z overflows to
 * inf (x above about 10) and the quotient is NaN. */
static void gelu_expform(float *g, const float *u, int n)
{
	const float c = 0.79788456080286535588f;

	for (int i = 0; i < n; i++) {
		const float x = g[i];
		const float e = expf(2.0f * c * x * (1.0f + 0.044715f * x * x));

		g[i] = 0.5f * x * (1.0f + (e - 1.0f) / (e + 1.0f)) * u[i];
	}
}

/* SiLU flushed to zero below g = -20, where the true value is a tiny
 * negative number: wrong only in the far tail. */
static void silu_flush(float *g, const float *u, int n)
{
	for (int i = 0; i < n; i++)
		g[i] = g[i] < -20.0f ? 0.0f : g[i] / (1.0f + expf(-g[i])) * u[i];
}

/* The classic SIMD bug: the n % 8 tail left out of the sum. */
static float dot_no_tail(const float *a, const float *b, int n)
{
	float s = 0.0f;

	for (int i = 0; i < n - n % 8; i++)
		s += a[i] * b[i];
	return s;
}

static void mm_f32_no_tail(const float *w, const float *x, float *y, int n,
			   int r0, int r1, int nt, int ldy)
{
	for (int r = r0; r < r1; r++)
		for (int t = 0; t < nt; t++)
			y[(size_t)t * ldy + r] = dot_no_tail(w + (size_t)r * n,
							     x + (size_t)t * n, n);
}

/* RoPE written again from its specification (kernels.h, ggml's angle
 * stepping, so that it matches the reference bit for bit), with the one
 * bug rope_bug names; ROPE_OK is the control that must pass.  With
 * rope_table the angles come from t->cs, as a VF_ROPE_TABLE variant's. */
enum rope_bug {
	ROPE_OK,
	ROPE_POS_PLUS1,		/* angles of the next position */
	ROPE_SIN_SIGN,		/* rotates by -theta */
	ROPE_SKIP_HEAD,		/* leaves the last head alone */
	ROPE_PAIRING,		/* pairs of the other layout (normal vs NEOX) */
	ROPE_ALL_DIMS,		/* rotates all head_dim dims, not n_rot */
	ROPE_ROW_STRIDE,	/* table row pos * n_rot/2, not pos * n_rot */
};
static enum rope_bug rope_bug;
static int rope_table;

static void rope_mutant(float *x, int n_head, int head_dim, int pos,
			const struct rope_tab *t)
{
	const int neox = rope_bug == ROPE_PAIRING ? !t->neox : t->neox;
	const int half = (rope_bug == ROPE_ALL_DIMS ? head_dim : t->n_rot) / 2;
	const int p = rope_bug == ROPE_POS_PLUS1 ? pos + 1 : pos;
	const int heads = rope_bug == ROPE_SKIP_HEAD ? n_head - 1 : n_head;
	const float step = powf(t->base, -2.0f / (float)t->n_rot);
	const float sg = rope_bug == ROPE_SIN_SIGN ? -1.0f : 1.0f;
	/* p % n_ctx: row pos + 1 of the last position wraps to row 0, so the
	 * table is never read past its end */
	const float *row = rope_table ? t->cs + (size_t)(p % t->n_ctx) * t->n_rot /
				(rope_bug == ROPE_ROW_STRIDE ? 2 : 1) : NULL;

	for (int h = 0; h < heads; h++) {
		float *v = x + (size_t)h * head_dim, theta = (float)p;

		for (int i = 0; i < half; i++, theta *= step) {
			float *a = neox ? v + i : v + 2 * i;
			const int d = neox ? half : 1;
			const float c = row && i < t->n_rot / 2 ? row[2 * i] : cosf(theta);
			const float s = sg * (row && i < t->n_rot / 2 ?
					      row[2 * i + 1] : sinf(theta));
			const float x0 = a[0], x1 = a[d];

			a[0] = x0 * c - x1 * s;
			a[d] = x0 * s + x1 * c;
		}
	}
}

static const struct variant_prep *swap_base;

/* swap_base's prepare of w with rows 0 and 1 exchanged. */
static void prep_swap01(const block_q8_0 *w, void *out, int rows, int nb)
{
	const size_t n = (size_t)rows * nb;
	block_q8_0 *t = malloc(n * sizeof *t);

	cr_assert(t, "out of memory");
	memcpy(t, w, n * sizeof *t);
	if (rows >= 2) {
		memcpy(t, w + nb, (size_t)nb * sizeof *t);
		memcpy(t + nb, w, (size_t)nb * sizeof *t);
	}
	swap_base->run(t, out, rows, nb);
	free(t);
}

static const struct variant *ref_of(enum op_id op)
{
	const struct variant *v = kernel_ops[op].variants;

	while (v->name && v->kind != KIND_REFERENCE)
		v++;
	cr_assert(v->name, "op %s has no reference", kernel_ops[op].name);
	return v;
}

/* Runs checker op on a fake variant; the checker must report failures. */
static void must_catch(enum op_id op, struct variant fake, const char *what)
{
	struct check c = { .op = kernel_ops[op].name, .name = fake.name,
			   .seed = FIXED_SEED, .quiet = 1 };

	checkers[op](&fake, ref_of(op), &c);
	cr_expect(c.fails > 0, "%s: a broken %s (%s) passed %ld checks",
		  kernel_ops[op].name, fake.name, what, c.checks);
	say("self-test %s/%s (%s): caught, %ld of %ld checks failed; first: %s",
	    c.op, c.name, what, c.fails, c.checks, c.first);
}

/* The broken variants of the element-wise and matmul ops, one a row:
 * op, the fake variant, what is wrong with it. */
#define BROKEN(op_, name_, kind_, bound_, member, f, what_)                    \
	{ .op = op_, .what = what_, .v = { .name = name_, .kind = kind_,       \
	  .err_bound = bound_, .fn.member = f } }
static const struct broken {
	enum op_id op;
	const char *what;
	struct variant v;
} broken[] = {
	BROKEN(OP_MATMUL_Q8, "drop_block", KIND_EXACT, 0, matmul_q8,
	       q8_drop_last_block, "ignores the last block"),
	BROKEN(OP_MATMUL_Q8, "skip_one", KIND_EXACT, 0, matmul_q8, q8_skip_one,
	       "leaves one element unwritten"),
	BROKEN(OP_MATMUL_Q8, "spill", KIND_EXACT, 0, matmul_q8, q8_spill,
	       "writes outside [r0, r1)"),
	BROKEN(OP_MATMUL_Q8, "scaled", KIND_EXACT, 0, matmul_q8, q8_scaled,
	       "1e-4 relative error"),
	BROKEN(OP_MATMUL_F32, "no_tail", KIND_EXACT, 0, matmul_f32,
	       mm_f32_no_tail, "drops the n % 8 tail"),
	BROKEN(OP_QUANTIZE, "roundf", KIND_EXACT, 0, quantize, quant_roundf,
	       "ties away from zero"),
	BROKEN(OP_RMSNORM, "short_sum", KIND_EXACT, 0, rmsnorm, rms_short,
	       "drops the last square"),
	BROKEN(OP_ATTENTION, "no_mask", KIND_EXACT, 0, attention, att_no_mask,
	       "no causal mask inside the block"),
	BROKEN(OP_ATTENTION, "nudge", KIND_EXACT, 0, attention, att_nudge,
	       "1e-4 relative error on one output"),
	/* the bound the flash variants declare */
	BROKEN(OP_ATTENTION, "nudge_approx", KIND_APPROX, 4e-6, attention,
	       att_nudge, "1e-4 relative error against err_bound 4e-6"),
	BROKEN(OP_ATTENTION, "overrun", KIND_EXACT, 0, attention, att_overrun,
	       "writes past its heads"),
	BROKEN(OP_ATTENTION, "head0", KIND_EXACT, 0, attention, att_head0,
	       "every head reads the query of head 0"),
	BROKEN(OP_ATTENTION, "scratch", KIND_EXACT, 0, attention,
	       att_scratch_overrun, "writes past its scratch"),
	BROKEN(OP_GELU, "bumped", KIND_APPROX, 1e-6, glu, gelu_bumped,
	       "1e-5 error against err_bound 1e-6"),
	/* the bound gelu/avx2 declares */
	BROKEN(OP_GELU, "expform", KIND_APPROX, 4e-7, glu, gelu_expform,
	       "tanh by exp: NaN once exp overflows"),
	BROKEN(OP_SILU, "flush", KIND_EXACT, 0, glu, silu_flush, "0 below -20"),
	BROKEN(OP_NORM_Q8, "no_add", KIND_EXACT, 0, norm_q8, norm_q8_no_add,
	       "skips the residual add"),
	BROKEN(OP_NORM_Q8, "stale_block", KIND_EXACT, 0, norm_q8,
	       norm_q8_stale_block, "quantizes its last block from x, not o"),
	BROKEN(OP_GELU_Q8, "g_kept", KIND_APPROX, 4e-7, glu_q8, gelu_q8_g_kept,
	       "writes the blocks but leaves g unchanged"),
};
#undef BROKEN

Test(variants, checks_catch_broken_variants)
{
	q8_ref = ref_of(OP_MATMUL_Q8)->fn.matmul_q8;
	att_ref = ref_of(OP_ATTENTION)->fn.attention;
	gelu_ref = ref_of(OP_GELU)->fn.glu;

	for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++)
		must_catch(broken[i].op, broken[i].v, broken[i].what);
	/* a prepare step that swaps two rows: caught through the plain
	 * reader of its layout, and through each registered kernel of that
	 * layout this CPU runs; the reader passes with the true prepare */
	for (const struct variant *v = kernel_ops[OP_MATMUL_Q8].variants;
	     v->name && !swap_base; v++)
		if (v->prep && q8x_group(v->prep))
			swap_base = v->prep;
	if (!swap_base) {
		say("matmul_q8: no q8_0x<R> layout registered; swapped-row "
		    "self-test skipped");
		return;
	}

	const struct variant_prep swapped = {
		.layout = "swapped", .row_align = swap_base->row_align,
		.bytes = swap_base->bytes, .run = prep_swap01,
	};
	struct check ok = { .op = "matmul_q8", .name = "plain_reader",
			    .seed = FIXED_SEED };

	q8x_R = q8x_group_bias(swap_base, &q8x_bias);
	check_matmul_q8(&(struct variant){ .name = "plain_reader",
			.kind = KIND_EXACT, .prep = swap_base,
			.fn.matmul_q8 = q8x_read }, ref_of(OP_MATMUL_Q8), &ok);
	cr_expect(ok.fails == 0, "the plain reader of layout %s fails: %s",
		  swap_base->layout, ok.first);
	must_catch(OP_MATMUL_Q8, (struct variant){ .name = "swap_rows",
		   .kind = KIND_EXACT, .prep = &swapped,
		   .fn.matmul_q8 = q8x_read }, "prepare swaps rows 0 and 1");
	for (const struct variant *v = kernel_ops[OP_MATMUL_Q8].variants;
	     v->name; v++)
		if (v->prep && !strcmp(v->prep->layout, swap_base->layout) &&
		    !variant_unusable(v))
			must_catch(OP_MATMUL_Q8, (struct variant){
				   .name = v->name, .kind = KIND_EXACT,
				   .prep = &swapped, .fn = v->fn },
				   "prepare swaps rows 0 and 1");
}

/* The RoPE checker: the plain rope above passes, from the angles it
 * computes and from the table; each of its bugs is caught. */
Test(variants, rope_checks_catch_broken_ropes)
{
	static const struct {
		enum rope_bug bug;
		int table;
		const char *name, *what;
	} bugs[] = {
		{ ROPE_POS_PLUS1, 0, "pos_plus1", "angles of pos + 1" },
		{ ROPE_SIN_SIGN, 0, "sin_sign", "rotates by -theta" },
		{ ROPE_SKIP_HEAD, 0, "skip_head", "leaves the last head alone" },
		{ ROPE_PAIRING, 0, "pairing", "normal pairs for NEOX and back" },
		{ ROPE_ALL_DIMS, 0, "all_dims", "rotates past n_rot" },
		{ ROPE_POS_PLUS1, 1, "table_pos_plus1", "table row pos + 1" },
		{ ROPE_ROW_STRIDE, 1, "table_stride", "table rows n_rot/2 apart" },
	};
	const struct variant *ref = ref_of(OP_ROPE);

	for (rope_table = 0; rope_table < 2; rope_table++) {
		struct check ok = { .op = "rope", .name = "plain", .seed = FIXED_SEED };

		rope_bug = ROPE_OK;
		check_rope(&(struct variant){ .name = "plain", .kind = KIND_EXACT,
			   .flags = rope_table ? VF_ROPE_TABLE : 0,
			   .fn.rope = rope_mutant }, ref, &ok);
		cr_expect(ok.checks > 0 && ok.fails == 0, "the plain rope (%s) "
			  "fails %ld of %ld checks: %s", rope_table ? "table" :
			  "computed", ok.fails, ok.checks, ok.first);
		say("self-test rope/plain (%s angles): %ld checks, %ld failed, "
		    "worst |err| %.3g", rope_table ? "table" : "computed",
		    ok.checks, ok.fails, ok.worst_abs);
	}
	for (size_t i = 0; i < sizeof bugs / sizeof bugs[0]; i++) {
		rope_bug = bugs[i].bug;
		rope_table = bugs[i].table;
		must_catch(OP_ROPE, (struct variant){ .name = bugs[i].name,
			   .kind = KIND_EXACT,
			   .flags = bugs[i].table ? VF_ROPE_TABLE : 0,
			   .fn.rope = rope_mutant }, bugs[i].what);
	}
}

/* --- Q8TUNE_CPU_MASK ----------------------------------------------------- */

Test(variants, cpu_mask)
{
	const uint32_t avx512_bits = CPU_AVX512F | CPU_AVX512BW | CPU_AVX512VL |
				     CPU_AVX512VNNI | CPU_AVX512BF16;
	const struct cpu_info *ci = cpu_get();
	uint32_t m = 0xdead;

	cr_assert_eq(cpu_parse_mask("avx2", &m), 0);
	cr_expect((m & (CPU_AVX2 | CPU_FMA | CPU_F16C)) == (CPU_AVX2 | CPU_FMA | CPU_F16C),
		  "avx2 mask %#x lacks AVX2/FMA/F16C", m);
	cr_expect(!(m & (avx512_bits | CPU_AVXVNNI)), "avx2 mask %#x admits %#x", m,
		  m & (avx512_bits | CPU_AVXVNNI));
	cr_assert_eq(cpu_parse_mask("scalar", &m), 0);
	cr_expect_eq(m, 0u);
	cr_assert_eq(cpu_parse_mask("avx512", &m), 0);
	cr_expect((m & avx512_bits) == avx512_bits);
	cr_assert_eq(cpu_parse_mask("avx2+avxvnni", &m), 0);
	cr_expect(m & CPU_AVXVNNI && m & CPU_AVX2 && !(m & avx512_bits));
	cr_expect_eq(cpu_parse_mask("bogus", &m), -1);
	cr_expect_eq(cpu_parse_mask("avx2+bogus", &m), -1);
	cr_expect_eq(cpu_parse_mask("avx2,,fma", &m), -1);

	/* the mask of this run, if any, really hides what it names; a
	 * misspelt one hides everything and would leave only the references
	 * tested, so it fails here rather than passing quietly */
	cr_expect_eq(ci->features & ~ci->hw, 0u);
	cr_expect(!ci->mask_bad, "Q8TUNE_CPU_MASK=%s names an unknown feature, "
		  "so every variant is hidden", ci->mask_name);
	/* what vs_reference runs is exactly what this CPU and mask allow: a
	 * variant is skipped (with a reason) if and only if a need is hidden
	 * or absent */
	for (int op = 0; op < OP_COUNT; op++)
		for (const struct variant *v = kernel_ops[op].variants; v->name; v++) {
			const char *why = variant_unusable(v);

			cr_expect(!why == !(v->needs & ~ci->features),
				  "%s/%s: needs %#x, features %#x, unusable: %s",
				  kernel_ops[op].name, v->name, v->needs,
				  ci->features, why ? why : "no");
			cr_expect(!why || *why, "%s/%s: skipped with an empty reason",
				  kernel_ops[op].name, v->name);
		}
	if (ci->mask_name && !ci->mask_bad) {
		uint32_t allow;

		cr_assert_eq(cpu_parse_mask(ci->mask_name, &allow), 0);
		cr_expect_eq(ci->features & ~allow, 0u, "mask %s leaves %#x",
			     ci->mask_name, ci->features & ~allow);
		for (int op = 0; op < OP_COUNT; op++)
			for (const struct variant *v = kernel_ops[op].variants; v->name; v++)
				if (v->needs & ~allow)
					cr_expect(variant_unusable(v) != NULL,
						  "%s/%s usable under mask %s",
						  kernel_ops[op].name, v->name,
						  ci->mask_name);
		say("cpu_mask: Q8TUNE_CPU_MASK=%s leaves features %#x of %#x",
		    ci->mask_name, ci->features, ci->hw);
	}
}

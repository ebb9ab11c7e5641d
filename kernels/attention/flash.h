/* attention/flash.h - the fused attention op, shared by the ISA files of
 * this folder (avx2.c, avx512.c).  A template: each file includes it once,
 * so it is compiled with that file's ISA flags, after defining what
 * ops/vmath.h asks for (VW, VROUND, VNEG: vexp comes from there), NL (the
 * float lanes of a register), FLASH_FN (the function's name) and these
 * pieces, the only code in which the two ISAs differ:
 *
 *	AI VF vload_n(const float *p, int n)
 *			lanes 0..n-1 from p (n = 1..NL), the rest 0; reads
 *			nothing past p + n;
 *	AI void vstore_n(float *p, VF v, int n)
 *			lanes 0..n-1 of v to p, touching nothing else;
 *	AI float vhsum(VF v), AI float vhmax(VF v)
 *			sum and max of the lanes;
 *	AI __m128 vhsum4(VF a, VF b, VF c, VF d)
 *			the sums of the lanes of a, b, c and d.
 *
 * One pass over the cache in tiles of positions, flash-attention style:
 * for each tile, the query rows of the call (its tokens x its heads, all
 * sharing one KV head) take their scores against the tile, fold them into
 * their running max and sum (the online softmax) and add p.v for the tile
 * into their output, rescaled by e^(old max - new max).  Each step runs
 * for every row before the next (so that a row's reductions and exp
 * overlap with other rows' work), the scores and p.v two rows at a time
 * (they share every K and V load).  The K and V rows of a tile are read
 * from memory once per call and from L1 by every pair; no full row of
 * scores exists.  The output is divided by the sum at the end.
 *
 * Against attention_scalar: float sums in another order (the reference
 * sums p in double and rounds p / sum before p.v), vexp instead of expf,
 * and the rescaling; hence KIND_APPROX, with the bound in registry.c. */
#ifndef Q8TUNE_ATTENTION_FLASH_H
#define Q8TUNE_ATTENTION_FLASH_H

#ifndef FLASH_FN
#error "define FLASH_FN, NL and the per-ISA pieces before including flash.h"
#endif

#include <math.h>
#include "ops/vmath.h"
#include "variants.h"

_Static_assert(ATT_TILE % NL == 0, "a tile's scores pad to whole registers");

/* Positions per tile: the K tile (4 hd bytes a position), which every
 * row's scores read, then the V tile, which every row's p.v reads, fit
 * 32 KB of L1 each. */
static int tile_len(int hd)
{
	int bk = 8192 / hd;

	bk = bk < 8 ? 8 : bk > ATT_TILE ? ATT_TILE : bk;
	return bk & ~3;
}

/* A pair of query rows going over a tile together: they share every K
 * and V load.  A row without a partner is paired with itself (the same
 * pointers twice: both halves compute the same values, so the second
 * store of each is the first again). */
struct pair {
	const float *q[2];
	float *o[2];
	float *s[2];		/* their score tiles */
	int n[2];		/* positions of the tile each row sees */
};

/* The loops over the 4 vectors of an acc8 are unrolled so that its 8
 * accumulators live in registers. */
#define UNROLL4 _Pragma("GCC unroll 4")

/* The 2 x 4 accumulators of a pair of rows against 4 vectors: keys (the
 * scores) or chunks of a V row (p.v). */
struct acc8 {
	VF a[2][4];
};

/* a[i][j] += x_i y_j: the outer step both products are made of. */
AI void outer2x4(struct acc8 *r, VF x0, VF x1, const VF y[4])
{
	UNROLL4
	for (int j = 0; j < 4; j++) {
		r->a[0][j] = V(fmadd_ps)(x0, y[j], r->a[0][j]);
		r->a[1][j] = V(fmadd_ps)(x1, y[j], r->a[1][j]);
	}
}

/* Rows q0, q1 against the 4 keys from k (stride ld): their 4 dots of hd
 * floats each, into r0 and r1. */
AI void dot4x2(const float *q0, const float *q1, const float *k, size_t ld,
	       int hd, __m128 *r0, __m128 *r1)
{
	struct acc8 r;

	UNROLL4
	for (int j = 0; j < 4; j++)
		r.a[0][j] = r.a[1][j] = V(setzero_ps)();
	for (int d = 0; d < hd; d += NL) {
		const int w = hd - d < NL ? hd - d : NL;
		VF y[4];

		UNROLL4
		for (int j = 0; j < 4; j++)
			y[j] = w == NL ? V(loadu_ps)(k + j * ld + d) :
					 vload_n(k + j * ld + d, w);
		outer2x4(&r, w == NL ? V(loadu_ps)(q0 + d) : vload_n(q0 + d, w),
			 w == NL ? V(loadu_ps)(q1 + d) : vload_n(q1 + d, w), y);
	}
	*r0 = vhsum4(r.a[0][0], r.a[0][1], r.a[0][2], r.a[0][3]);
	*r1 = vhsum4(r.a[1][0], r.a[1][1], r.a[1][2], r.a[1][3]);
}

/* p->s[i][j] = scale * q_i.k_j of the two rows for the n keys of a tile
 * (k, stride ld). */
static void tile_scores(const struct pair *p, const float *k, size_t ld,
			int n, int hd, float scale)
{
	float *s0 = p->s[0], *s1 = p->s[1];
	const __m128 sc = _mm_set1_ps(scale);
	int j;

	for (j = 0; j + 4 <= n; j += 4) {
		__m128 r0, r1;

		dot4x2(p->q[0], p->q[1], k + j * ld, ld, hd, &r0, &r1);
		_mm_storeu_ps(s0 + j, _mm_mul_ps(r0, sc));
		_mm_storeu_ps(s1 + j, _mm_mul_ps(r1, sc));
	}
	for (; j < n; j++) {
		VF a = V(setzero_ps)(), b = a;

		for (int d = 0; d < hd; d += NL) {
			const int w = hd - d < NL ? hd - d : NL;
			const VF c = vload_n(k + j * ld + d, w);

			a = V(fmadd_ps)(vload_n(p->q[0] + d, w), c, a);
			b = V(fmadd_ps)(vload_n(p->q[1] + d, w), c, b);
		}
		s0[j] = vhsum(a) * scale;
		s1[j] = vhsum(b) * scale;
	}
}

/* o_i (hd floats) = c_i o_i + sum over the tile's n positions of
 * p_i[j] v_j (v, stride ld, p_i = p->s[i]), for both rows i; first: o_i
 * holds nothing yet (it is not read).  Four registers of each o_i stay in
 * registers across the tile. */
static void tile_pv(const struct pair *p, int n, const float *v, size_t ld,
		    int hd, float c0s, float c1s, int first)
{
	const VF c0 = V(set1_ps)(c0s), c1 = V(set1_ps)(c1s), z = V(setzero_ps)();
	const float *p0 = p->s[0], *p1 = p->s[1];
	float *o0 = p->o[0], *o1 = p->o[1];
	int d;

	for (d = 0; d + 4 * NL <= hd; d += 4 * NL) {
		struct acc8 r;

		UNROLL4
		for (int i = 0; i < 4; i++) {
			r.a[0][i] = first ? z : V(mul_ps)(V(loadu_ps)(o0 + d + i * NL), c0);
			r.a[1][i] = first ? z : V(mul_ps)(V(loadu_ps)(o1 + d + i * NL), c1);
		}
		for (int j = 0; j < n; j++) {
			VF y[4];

			UNROLL4
			for (int i = 0; i < 4; i++)
				y[i] = V(loadu_ps)(v + j * ld + d + i * NL);
			outer2x4(&r, V(set1_ps)(p0[j]), V(set1_ps)(p1[j]), y);
		}
		UNROLL4
		for (int i = 0; i < 4; i++) {
			V(storeu_ps)(o0 + d + i * NL, r.a[0][i]);
			V(storeu_ps)(o1 + d + i * NL, r.a[1][i]);
		}
	}
	for (; d < hd; d += NL) {
		const int w = hd - d < NL ? hd - d : NL;
		VF a = first ? z : V(mul_ps)(vload_n(o0 + d, w), c0);
		VF b = first ? z : V(mul_ps)(vload_n(o1 + d, w), c1);

		for (int j = 0; j < n; j++) {
			const VF vj = vload_n(v + j * ld + d, w);
			a = V(fmadd_ps)(V(set1_ps)(p0[j]), vj, a);
			b = V(fmadd_ps)(V(set1_ps)(p1[j]), vj, b);
		}
		vstore_n(o0 + d, a, w);
		vstore_n(o1 + d, b, w);
	}
}

/* The online softmax step of one row: its scores s[0..n) of a tile,
 * padded with -inf to nv (whole registers), become p = e^(s - m), m the
 * new running max (from m_old unless first); *mp and *lp get the new max
 * and sum.  Returns c = e^(m_old - m), the factor the row's output so far
 * is rescaled by. */
static float tile_softmax(float *s, int n, int nv, float m_old, float l_old,
			  int first, float *mp, float *lp)
{
	VF mx = V(set1_ps)(-INFINITY), sum = V(setzero_ps)();

	for (int j = n; j < nv; j++)
		s[j] = -INFINITY;	/* e^-inf = 0 in vexp */
	for (int j = 0; j < nv; j += NL)
		mx = V(max_ps)(mx, V(loadu_ps)(s + j));
	const float m = first ? vhmax(mx) : fmaxf(m_old, vhmax(mx));
	const float c = first ? 0.0f : expf(m_old - m);
	const VF mv = V(set1_ps)(m);

	for (int j = 0; j < nv; j += NL) {
		const VF e = vexp(V(sub_ps)(V(loadu_ps)(s + j), mv));
		V(storeu_ps)(s + j, e);
		sum = V(add_ps)(sum, e);
	}
	*mp = m;
	*lp = (first ? 0.0f : l_old * c) + vhsum(sum);
	return c;
}

/* The pair of rows r and r + 1 (or r alone, twice) of the call, r = t *
 * heads + g, at the tile starting at p0 of length bk; s: the score tiles,
 * ATT_TILE floats a row. */
static struct pair pair_at(const struct att_args *a, int r, int rows, int p0,
			   int bk, float *s)
{
	struct pair p;

	for (int i = 0; i < 2; i++) {
		const int ri = r + i < rows ? r + i : r;
		const int t = ri / a->heads, g = ri % a->heads;
		const int left = a->pos0 + t + 1 - p0;

		p.q[i] = a->q + (size_t)t * a->ldq + (size_t)g * a->hd;
		p.o[i] = a->out + (size_t)t * a->ldo + (size_t)g * a->hd;
		p.s[i] = s + (size_t)ri * ATT_TILE;
		p.n[i] = left < bk ? left : bk;
	}
	return p;
}

/* One tile of positions [p0, p0 + bk) for rows r0.. of the call (those
 * before r0 see none of it): the scores of every row, then every row's
 * online softmax, then p.v, each step for all rows before the next so that
 * no row waits on its own reductions. */
static void tile_rows(const struct att_args *a, int p0, int bk, int r0,
		      float *s, float *m, float *l, float *c)
{
	const int rows = a->nt * a->heads, first = p0 == 0;
	const size_t ld = (size_t)a->ldkv;
	const int len = a->pos0 + a->nt - p0 < bk ? a->pos0 + a->nt - p0 : bk;
	const int nv = (len + NL - 1) / NL * NL;

	for (int r = r0; r < rows; r += 2) {
		const struct pair p = pair_at(a, r, rows, p0, bk, s);

		tile_scores(&p, a->k + p0 * ld, ld, p.n[0] > p.n[1] ? p.n[0] : p.n[1],
			    a->hd, a->scale);
	}
	for (int r = r0; r < rows; r++) {
		const int n = a->pos0 + r / a->heads + 1 - p0;

		c[r] = tile_softmax(s + (size_t)r * ATT_TILE, n < bk ? n : bk, nv,
				    first ? 0.0f : m[r], first ? 0.0f : l[r],
				    first, &m[r], &l[r]);
	}
	for (int r = r0; r < rows; r += 2) {
		const struct pair p = pair_at(a, r, rows, p0, bk, s);

		tile_pv(&p, p.n[0] > p.n[1] ? p.n[0] : p.n[1], a->v + p0 * ld, ld,
			a->hd, c[r], c[r + 1 < rows ? r + 1 : r], first);
	}
}

/* Contract: kernels.h attention_fn.  scratch: a tile of ATT_TILE scores
 * per query row, then each row's running max, sum and rescaling factor. */
void FLASH_FN(const struct att_args *a)
{
	const int hd = a->hd, bk = tile_len(hd), n_all = a->pos0 + a->nt;
	const int rows = a->nt * a->heads;
	float *s = a->scratch, *m = s + (size_t)rows * ATT_TILE, *l = m + rows;

	for (int p0 = 0; p0 < n_all; p0 += bk) {
		/* rows of tokens before t0 see no position of this tile */
		const int t0 = p0 > a->pos0 ? p0 - a->pos0 : 0;

		tile_rows(a, p0, bk, t0 * a->heads, s, m, l, l + rows);
	}
	for (int r = 0; r < rows; r++) {
		float *o = a->out + (size_t)(r / a->heads) * a->ldo +
			   (size_t)(r % a->heads) * hd;
		const VF inv = V(set1_ps)(1.0f / l[r]);

		for (int d = 0; d < hd; d += NL) {
			const int w = hd - d < NL ? hd - d : NL;
			vstore_n(o + d, V(mul_ps)(vload_n(o + d, w), inv), w);
		}
	}
}

#endif

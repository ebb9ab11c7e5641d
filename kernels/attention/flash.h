/* attention/flash.h - the fused attention op, shared by the ISA files of
 * this folder (avx2.c, avx512.c).  A template: each file includes it once,
 * so it is compiled with that file's ISA flags, after defining what
 * ops/vmath.h asks for (VW, VROUND, VNEG: vexp comes from there), NL (the
 * float lanes of a register), FLASH_FN (the function's name) and these
 * pieces, the only code in which the two ISAs differ:
 *
 *	RB		query rows that go over a tile together (their
 *			RB x 4 accumulators, 4 loaded vectors and RB
 *			broadcasts must fit the register file);
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
 * overlap with other rows' work), the scores and p.v RB rows at a time
 * (they share every K and V load).  The K and V rows of a tile are read
 * from memory once per call and from L1 by every group; no full row of
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
_Static_assert(RB >= 1 && RB <= 4, "rows a group: 1 to 4");

/* Positions per tile: the K tile (4 hd bytes a position), which every
 * row's scores read, then the V tile, which every row's p.v reads, fit
 * 32 KB of L1 each. */
static int tile_len(int hd)
{
	int bk = 8192 / hd;

	bk = bk < 8 ? 8 : bk > ATT_TILE ? ATT_TILE : bk;
	return bk & ~3;
}

/* A group of RB query rows going over a tile together: they share every
 * K and V load.  The last group of a call is filled up with its last row
 * again (the same pointers: those halves compute the same values, so each
 * later store of them is the first again). */
struct rgroup {
	const float *q[RB];
	float *o[RB];
	float *s[RB];		/* their score tiles */
	int n;			/* positions of the tile the group reads */
};

/* The loops over the RB x 4 vectors of an acc are unrolled so that its
 * accumulators live in registers. */
#define UNROLL _Pragma("GCC unroll 4")

/* The RB x 4 accumulators of a group against 4 vectors: keys (the
 * scores) or chunks of a V row (p.v). */
struct acc {
	VF a[RB][4];
};

/* a[i][j] += x_i y_j: the outer step both products are made of. */
AI void outer(struct acc *r, const VF x[RB], const VF y[4])
{
	UNROLL
	for (int i = 0; i < RB; i++) {
		UNROLL
		for (int j = 0; j < 4; j++)
			r->a[i][j] = V(fmadd_ps)(x[i], y[j], r->a[i][j]);
	}
}

/* The first w lanes (1..NL) at p, the rest 0. */
AI VF vload_w(const float *p, int w)
{
	return w == NL ? V(loadu_ps)(p) : vload_n(p, w);
}

/* The group's rows against the 4 keys from k (stride ld): the 4 dots of
 * hd floats of row i into r[i]. */
AI void dot4(const struct rgroup *g, const float *k, size_t ld, int hd,
	     __m128 r[RB])
{
	struct acc a;

	UNROLL
	for (int i = 0; i < RB; i++) {
		UNROLL
		for (int j = 0; j < 4; j++)
			a.a[i][j] = V(setzero_ps)();
	}
	for (int d = 0; d < hd; d += NL) {
		const int w = hd - d < NL ? hd - d : NL;
		VF x[RB], y[4];

		UNROLL
		for (int j = 0; j < 4; j++)
			y[j] = vload_w(k + j * ld + d, w);
		UNROLL
		for (int i = 0; i < RB; i++)
			x[i] = vload_w(g->q[i] + d, w);
		outer(&a, x, y);
	}
	UNROLL
	for (int i = 0; i < RB; i++)
		r[i] = vhsum4(a.a[i][0], a.a[i][1], a.a[i][2], a.a[i][3]);
}

/* g->s[i][j] = scale * q_i.k_j for the group's rows and the g->n keys of
 * a tile (k, stride ld). */
static void tile_scores(const struct rgroup *g, const float *k, size_t ld,
			int hd, float scale)
{
	const __m128 sc = _mm_set1_ps(scale);
	int j;

	for (j = 0; j + 4 <= g->n; j += 4) {
		__m128 r[RB];

		dot4(g, k + j * ld, ld, hd, r);
		UNROLL
		for (int i = 0; i < RB; i++)
			_mm_storeu_ps(g->s[i] + j, _mm_mul_ps(r[i], sc));
	}
	for (; j < g->n; j++)
		for (int i = 0; i < RB; i++) {
			VF a = V(setzero_ps)();

			for (int d = 0; d < hd; d += NL) {
				const int w = hd - d < NL ? hd - d : NL;
				a = V(fmadd_ps)(vload_n(g->q[i] + d, w),
						vload_n(k + j * ld + d, w), a);
			}
			g->s[i][j] = vhsum(a) * scale;
		}
}

/* o_i[d..] (nr registers of w lanes) = c_i o_i + sum over the tile's
 * g->n positions of p_i[j] v_j (v, stride ld, p_i = g->s[i]), for the
 * group's rows i; first: o_i holds nothing yet (it is not read).  Called
 * with constant nr and w, so the accumulators stay in registers. */
AI void pv_regs(const struct rgroup *g, const float *v, size_t ld, int d,
		int nr, int w, const float c[RB], int first)
{
	struct acc r;

	UNROLL
	for (int i = 0; i < RB; i++) {
		UNROLL
		for (int e = 0; e < nr; e++)
			r.a[i][e] = first ? V(setzero_ps)() :
				V(mul_ps)(vload_w(g->o[i] + d + e * NL, w),
					  V(set1_ps)(c[i]));
	}
	for (int j = 0; j < g->n; j++) {
		VF x[RB], y[4];

		UNROLL
		for (int e = 0; e < 4; e++)
			y[e] = e < nr ? vload_w(v + j * ld + d + e * NL, w) :
					V(setzero_ps)();
		UNROLL
		for (int i = 0; i < RB; i++)
			x[i] = V(set1_ps)(g->s[i][j]);
		outer(&r, x, y);
	}
	UNROLL
	for (int i = 0; i < RB; i++) {
		UNROLL
		for (int e = 0; e < nr; e++)
			vstore_n(g->o[i] + d + e * NL, r.a[i][e], w);
	}
}

/* p.v of a tile into the group's rows (pv_regs), 4 registers of o at a
 * time, then the rest of hd one at a time. */
static void tile_pv(const struct rgroup *g, const float *v, size_t ld,
		    int hd, const float c[RB], int first)
{
	int d;

	for (d = 0; d + 4 * NL <= hd; d += 4 * NL)
		pv_regs(g, v, ld, d, 4, NL, c, first);
	for (; d < hd; d += NL)
		pv_regs(g, v, ld, d, 1, hd - d < NL ? hd - d : NL, c, first);
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

/* The group of rows r..r + RB - 1 of the call (the last repeated past
 * the end), r = t * heads + g, at the tile starting at p0 of length bk;
 * s: the score tiles, ATT_TILE floats a row. */
static struct rgroup group_at(const struct att_args *a, int r, int rows,
			      int p0, int bk, float *s)
{
	struct rgroup g = { .n = 0 };

	for (int i = 0; i < RB; i++) {
		const int ri = r + i < rows ? r + i : rows - 1;
		const int t = ri / a->heads, h = ri % a->heads;
		const int left = a->pos0 + t + 1 - p0;

		g.q[i] = a->q + (size_t)t * a->ldq + (size_t)h * a->hd;
		g.o[i] = a->out + (size_t)t * a->ldo + (size_t)h * a->hd;
		g.s[i] = s + (size_t)ri * ATT_TILE;
		g.n = left < bk ? left : bk;	/* the last row sees the most */
	}
	return g;
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

	for (int r = r0; r < rows; r += RB) {
		const struct rgroup g = group_at(a, r, rows, p0, bk, s);

		tile_scores(&g, a->k + p0 * ld, ld, a->hd, a->scale);
	}
	for (int r = r0; r < rows; r++) {
		const int n = a->pos0 + r / a->heads + 1 - p0;

		c[r] = tile_softmax(s + (size_t)r * ATT_TILE, n < bk ? n : bk, nv,
				    first ? 0.0f : m[r], first ? 0.0f : l[r],
				    first, &m[r], &l[r]);
	}
	for (int r = r0; r < rows; r += RB) {
		const struct rgroup g = group_at(a, r, rows, p0, bk, s);
		float cg[RB];

		for (int i = 0; i < RB; i++)
			cg[i] = c[r + i < rows ? r + i : rows - 1];
		tile_pv(&g, a->v + p0 * ld, ld, a->hd, cg, first);
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

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
 * for each tile, every query row of the call (its tokens x its heads, all
 * sharing one KV head) takes its scores against the tile, folds them into
 * its running max and sum (the online softmax) and adds p.v for the tile
 * into its output, rescaled by e^(old max - new max).  The K and V rows of
 * a tile are read from memory once per call and from L1 by every row;
 * no full row of scores exists.  The output is divided by the sum at the
 * end.
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

/* Positions per tile: the K and V tiles (2 x 4 hd bytes a position) fit
 * 32 KB of L1 together; a multiple of 4 for tile_scores. */
static int tile_len(int hd)
{
	int bk = 4096 / hd;

	bk = bk < 8 ? 8 : bk > ATT_TILE ? ATT_TILE : bk;
	return bk & ~3;
}

/* Row q against 4 keys from k (stride ld): the 4 dots of hd floats. */
AI __m128 dot4(const float *q, const float *k, size_t ld, int hd)
{
	const float *k1 = k + ld, *k2 = k1 + ld, *k3 = k2 + ld;
	VF a0 = V(setzero_ps)(), a1 = a0, a2 = a0, a3 = a0;
	int d;

	for (d = 0; d + NL <= hd; d += NL) {
		const VF x = V(loadu_ps)(q + d);
		a0 = V(fmadd_ps)(x, V(loadu_ps)(k + d), a0);
		a1 = V(fmadd_ps)(x, V(loadu_ps)(k1 + d), a1);
		a2 = V(fmadd_ps)(x, V(loadu_ps)(k2 + d), a2);
		a3 = V(fmadd_ps)(x, V(loadu_ps)(k3 + d), a3);
	}
	if (d < hd) {
		const int w = hd - d;
		const VF x = vload_n(q + d, w);
		a0 = V(fmadd_ps)(x, vload_n(k + d, w), a0);
		a1 = V(fmadd_ps)(x, vload_n(k1 + d, w), a1);
		a2 = V(fmadd_ps)(x, vload_n(k2 + d, w), a2);
		a3 = V(fmadd_ps)(x, vload_n(k3 + d, w), a3);
	}
	return vhsum4(a0, a1, a2, a3);
}

/* s[j] = scale * q.k_j for the n keys of a tile (k, stride ld). */
static void tile_scores(const float *q, const float *k, size_t ld, int n,
			int hd, float scale, float *s)
{
	int j;

	for (j = 0; j + 4 <= n; j += 4)
		_mm_storeu_ps(s + j, _mm_mul_ps(dot4(q, k + j * ld, ld, hd),
						_mm_set1_ps(scale)));
	for (; j < n; j++) {
		VF a = V(setzero_ps)();
		int d;

		for (d = 0; d + NL <= hd; d += NL)
			a = V(fmadd_ps)(V(loadu_ps)(q + d),
					V(loadu_ps)(k + j * ld + d), a);
		if (d < hd)
			a = V(fmadd_ps)(vload_n(q + d, hd - d),
					vload_n(k + j * ld + d, hd - d), a);
		s[j] = vhsum(a) * scale;
	}
}

/* o (hd floats) = c o + sum over the tile's n positions of p[j] v_j (v,
 * stride ld); first: o holds nothing yet (it is not read).  Four
 * registers of o at a time stay in registers across the tile. */
static void tile_pv(const float *p, int n, const float *v, size_t ld, int hd,
		    float c, float *o, int first)
{
	const VF cv = V(set1_ps)(c), z = V(setzero_ps)();
	int d;

	for (d = 0; d + 4 * NL <= hd; d += 4 * NL) {
		VF a0 = first ? z : V(mul_ps)(V(loadu_ps)(o + d), cv);
		VF a1 = first ? z : V(mul_ps)(V(loadu_ps)(o + d + NL), cv);
		VF a2 = first ? z : V(mul_ps)(V(loadu_ps)(o + d + 2 * NL), cv);
		VF a3 = first ? z : V(mul_ps)(V(loadu_ps)(o + d + 3 * NL), cv);

		for (int j = 0; j < n; j++) {
			const float *vj = v + j * ld + d;
			const VF pj = V(set1_ps)(p[j]);
			a0 = V(fmadd_ps)(pj, V(loadu_ps)(vj), a0);
			a1 = V(fmadd_ps)(pj, V(loadu_ps)(vj + NL), a1);
			a2 = V(fmadd_ps)(pj, V(loadu_ps)(vj + 2 * NL), a2);
			a3 = V(fmadd_ps)(pj, V(loadu_ps)(vj + 3 * NL), a3);
		}
		V(storeu_ps)(o + d, a0);
		V(storeu_ps)(o + d + NL, a1);
		V(storeu_ps)(o + d + 2 * NL, a2);
		V(storeu_ps)(o + d + 3 * NL, a3);
	}
	for (; d < hd; d += NL) {
		const int w = hd - d < NL ? hd - d : NL;
		VF a = first ? z : V(mul_ps)(vload_n(o + d, w), cv);

		for (int j = 0; j < n; j++)
			a = V(fmadd_ps)(V(set1_ps)(p[j]), vload_n(v + j * ld + d, w), a);
		vstore_n(o + d, a, w);
	}
}

/* Folds the scores s[0..n) of one tile into a row's running max *m and
 * sum *l, and its p.v into o.  s has room for ATT_TILE floats; it is
 * padded with -inf to whole registers and overwritten with p. */
static void tile_fold(float *s, int n, const float *v, size_t ld, int hd,
		      float *m, float *l, float *o, int first)
{
	const int nv = (n + NL - 1) / NL * NL;
	VF mx = V(set1_ps)(-INFINITY), sum = V(setzero_ps)();

	for (int j = n; j < nv; j++)
		s[j] = -INFINITY;	/* e^-inf = 0 in vexp */
	for (int j = 0; j < nv; j += NL)
		mx = V(max_ps)(mx, V(loadu_ps)(s + j));
	const float mnew = fmaxf(*m, vhmax(mx));
	const float c = first ? 0.0f : expf(*m - mnew);
	const VF mv = V(set1_ps)(mnew);

	for (int j = 0; j < nv; j += NL) {
		const VF p = vexp(V(sub_ps)(V(loadu_ps)(s + j), mv));
		V(storeu_ps)(s + j, p);
		sum = V(add_ps)(sum, p);
	}
	*l = *l * c + vhsum(sum);
	*m = mnew;
	tile_pv(s, n, v, ld, hd, c, o, first);
}

/* Contract: kernels.h attention_fn.  scratch: the tile's scores
 * (ATT_TILE), then the running max and sum of each query row. */
void FLASH_FN(const struct att_args *a)
{
	const int hd = a->hd, bk = tile_len(hd), n_all = a->pos0 + a->nt;
	const size_t ld = (size_t)a->ldkv;
	float *s = a->scratch, *m = s + ATT_TILE, *l = m + a->nt * a->heads;

	for (int p0 = 0; p0 < n_all; p0 += bk) {
		const float *k = a->k + p0 * ld, *v = a->v + p0 * ld;
		/* tokens before t0 see no position of this tile */
		const int t0 = p0 > a->pos0 ? p0 - a->pos0 : 0;

		for (int t = t0; t < a->nt; t++) {
			const int left = a->pos0 + t + 1 - p0;
			const int n = left < bk ? left : bk;

			for (int g = 0; g < a->heads; g++) {
				const int r = t * a->heads + g;
				const float *q = a->q + (size_t)t * a->ldq + (size_t)g * hd;
				float *o = a->out + (size_t)t * a->ldo + (size_t)g * hd;

				if (p0 == 0) {
					m[r] = -INFINITY;
					l[r] = 0.0f;
				}
				tile_scores(q, k, ld, n, hd, a->scale, s);
				tile_fold(s, n, v, ld, hd, &m[r], &l[r], o, p0 == 0);
			}
		}
	}
	for (int t = 0; t < a->nt; t++)
		for (int g = 0; g < a->heads; g++) {
			float *o = a->out + (size_t)t * a->ldo + (size_t)g * hd;
			const VF inv = V(set1_ps)(1.0f / l[t * a->heads + g]);

			for (int d = 0; d < hd; d += NL) {
				const int w = hd - d < NL ? hd - d : NL;
				vstore_n(o + d, V(mul_ps)(vload_n(o + d, w), inv), w);
			}
		}
}

#endif

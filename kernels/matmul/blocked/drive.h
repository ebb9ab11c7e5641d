/* matmul/blocked/drive.h - the blocked matmul shared by every ISA file
 * that reads a row-interleaved layout (layout.c): the loop nest, the
 * register tile and the tile tables.  A template: each file includes it
 * once, so it is compiled with that file's ISA flags, after a vector
 * header (vec256.h or vec512.h: the vector types vi and vf, VW lanes,
 * their arithmetic, the layout loads and the y stores) and the ISA's
 * dot step:
 *
 *	VMAX, TMAX	the largest tile: row vectors x tokens (TMAX <= 8);
 *	struct wk	a weight chunk made ready for the dot step;
 *	AI struct wk w_prep(vi q)
 *			from chunk k of a row vector (quants 4k..4k+3 of
 *			VW rows, one int32 lane per row);
 *	AI vi s_start(int32_t corr)
 *			the VW block sums before the first step, given the
 *			token's bias correction (below);
 *	AI vi s_step(vi s, struct wk w, vi xb)
 *			s plus the dot of w with chunk k of a token,
 *			broadcast to every lane (xb), lane by lane.
 * The ISA files say why each piece is what it is (the sign trick of
 * maddubs, the bias trick of VPDPBUSD).
 *
 * A row vector is VW output rows, one 32-bit lane each: one group of the
 * layout (R == VW: q8_0x8 in ymm, q8_0x16u in zmm), or two consecutive
 * groups (R == VW / 2: q8_0x4 in ymm).  A tile is V <= vmax row vectors
 * x T <= tmax tokens over one chunk of blocks; each variant is one
 * (vmax, tmax) shape of a file's table, so the tuner picks the shape.
 * Per block and tile the weights of a chunk are loaded once for the T
 * tokens and each token's chunk once for the V row vectors, and the V x T
 * block sums and V x T float sums stay in registers: 2 V T vectors, which
 * with the V weight and scale vectors must fit the register file (16 ymm
 * for AVX2 and AVX-VNNI, 32 for EVEX) or the tile spills.
 *
 * Per (token, block) the tiles need the token's scale as a float and
 * -128 times the sum of its 32 quants (the bias correction of the VNNI
 * files): the driver computes both once per call into a table on the
 * stack, tokens in super-tiles of up to XT_TOKENS and blocks in chunks of
 * up to XT_BLOCKS, so the table stays 32 KB whatever the shape; chunks
 * after the first add into y. */
#ifndef Q8TUNE_BLOCKED_DRIVE_H
#define Q8TUNE_BLOCKED_DRIVE_H

#if !defined(VMAX) || !defined(VW)
#error "include a vector header and define VMAX, TMAX and the dot step first"
#endif

#include <stdint.h>
#include <string.h>
#include "variants.h"

_Static_assert(TMAX >= 1 && TMAX <= 8, "TILES makes tiles of 1 to 8 tokens");

/* A dot step that starts from 0 (the sign trick: avx2.c) defines
 * XT_CORR 0, and the table's corrections are neither computed nor read. */
#ifndef XT_CORR
#define XT_CORR 1
#endif

#define XT_ENTRIES 4096		/* (token, block) entries of the table */
#define XT_BLOCKS 256		/* blocks per chunk */
#define XT_TOKENS 48		/* tokens per super-tile at most */

/* The table: (tokens, nbc) entries of the current super-tile and chunk. */
struct xtab {
	int32_t corr[XT_ENTRIES];	/* -128 * (sum of the quants) */
	float dx[XT_ENTRIES];		/* the scale */
};

/* One tile's operands: the weight records of block b0 of its first group,
 * the tokens' blocks b0.., their table rows, their outputs. */
struct targs {
	const uint8_t *w;	/* record (first group, b0) */
	size_t gs;		/* bytes between groups: nb * 34 R */
	size_t hs;		/* R == VW / 2: offset of the upper group of the
				 * last row vector, gs, or 0 when it has none
				 * (the lower is read twice, its rows not
				 * written) */
	const block_q8_0 *x;	/* token 0 of the tile, block b0 */
	int nb;			/* blocks per token in x */
	const int32_t *corr;	/* xtab row of token 0, stride nbc */
	const float *dx;
	int nbc;		/* blocks in this chunk */
	float *y;		/* y of token 0, first row of the tile */
	int ldy;
	int nlast;		/* rows of the last row vector to write, 1..VW */
	int add;		/* add into y (a later block chunk) */
	int pf;			/* prefetch the records this many blocks ahead
				 * (0: none; only in a file that defines
				 * TILE_PREFETCH: elsewhere the tiles carry no
				 * prefetch code, not even its test) */
};

typedef void (*tile_fn)(const struct targs *);

AI int32_t ld32(const void *p)
{
	int32_t v;

	memcpy(&v, p, 4);
	return v;
}

/* The sum of a block's 32 quants: maddubs by ones makes 16 pair sums,
 * madd 8, and the rest is a horizontal add (every includer has AVX2). */
AI int32_t q8_sum(const int8_t *qs)
{
	const __m256i q = _mm256_loadu_si256((const __m256i *)qs);
	__m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q),
				      _mm256_set1_epi16(1));
	__m128i h = _mm_add_epi32(_mm256_castsi256_si128(s),
				  _mm256_extracti128_si256(s, 1));

	h = _mm_add_epi32(h, _mm_shuffle_epi32(h, _MM_SHUFFLE(1, 0, 3, 2)));
	h = _mm_add_epi32(h, _mm_shuffle_epi32(h, _MM_SHUFFLE(2, 3, 0, 1)));
	return _mm_cvtsi128_si32(h);
}

/* The table rows of tokens [0, nt) of x, blocks [b0, b0 + nbc). */
static void xtab_fill(struct xtab *xt, const block_q8_0 *x, int nb, int b0,
		      int nbc, int nt)
{
	for (int j = 0; j < nt; j++)
		for (int b = 0; b < nbc; b++) {
			const block_q8_0 *q = x + (size_t)j * nb + b0 + b;

			if (XT_CORR)
				xt->corr[j * nbc + b] = -128 * q8_sum(q->qs);
			xt->dx[j * nbc + b] = _cvtsh_ss(q->d);
		}
}

/* y[j*ldy + VW*v + i] (+)= the V x T tile over blocks [b0, b0 + nbc). */
AI void tile(const struct targs *a, const int R, const int V, const int T)
{
	const size_t gs = a->gs, hs = a->hs, rec = 34 * (size_t)R;
	const int nbc = a->nbc, nb = a->nb, G = VW / R;
	const block_q8_0 *x = a->x;
	const uint8_t *p = a->w;
	vf acc[VMAX][TMAX];

#pragma GCC unroll 4
	for (int v = 0; v < V; v++)
#pragma GCC unroll 8
		for (int j = 0; j < T; j++)
			acc[v][j] = vf_zero();

	for (int b = 0; b < nbc; b++, p += rec, x++) {
		const uint8_t *lo[VMAX], *hi[VMAX];
		vi s[VMAX][TMAX];
		vf dw[VMAX];

#pragma GCC unroll 4
		for (int v = 0; v < V; v++) {
			lo[v] = p + (size_t)(G * v) * gs;
			hi[v] = lo[v] + (v == V - 1 ? hs : gs);
			dw[v] = ld_scales(lo[v], hi[v], R);
#ifdef TILE_PREFETCH
			/* the address in integers: it may lie past the
			 * buffer, where a pointer may not point */
			if (a->pf)
				for (size_t c = 0; c < rec; c += 64)
					_mm_prefetch((const char *)((uintptr_t)lo[v] +
						     a->pf * rec + c), _MM_HINT_T0);
#endif
		}
#pragma GCC unroll 8
		for (int j = 0; j < T; j++) {
			vi c = s_start(XT_CORR ? a->corr[j * nbc + b] : 0);
#pragma GCC unroll 4
			for (int v = 0; v < V; v++)
				s[v][j] = c;
		}
#pragma GCC unroll 8
		for (int k = 0; k < QK8_0 / 4; k++) {
			struct wk wk[VMAX];

#pragma GCC unroll 4
			for (int v = 0; v < V; v++)
				wk[v] = w_prep(ld_chunk(lo[v], hi[v], k, R));
#pragma GCC unroll 8
			for (int j = 0; j < T; j++) {
				vi xb = vi_set1(ld32(x[(size_t)j * nb].qs + 4 * k));
#pragma GCC unroll 4
				for (int v = 0; v < V; v++)
					s[v][j] = s_step(s[v][j], wk[v], xb);
			}
		}
#pragma GCC unroll 8
		for (int j = 0; j < T; j++) {
			vf dx = vf_set1(a->dx[j * nbc + b]);
#pragma GCC unroll 4
			for (int v = 0; v < V; v++)
				acc[v][j] = vf_fma(vi_to_f(s[v][j]),
						   vf_mul(dw[v], dx), acc[v][j]);
		}
	}
#pragma GCC unroll 8
	for (int j = 0; j < T; j++)
#pragma GCC unroll 4
		for (int v = 0; v < V; v++)
			y_put(a->y + (size_t)j * a->ldy + VW * v,
			      v == V - 1 ? a->nlast : VW, acc[v][j], a->add);
}

/* tile_<R>_<V>x<T> for T = 1..TMAX, and row V of a table tab[V][T] of
 * them (a file lists the rows V = 1..VMAX it has; a variant uses the part
 * of the table its shape allows). */
#define TILE(R, V, T)                                                          \
	static void tile_##R##_##V##x##T(const struct targs *a)                \
	{                                                                      \
		tile(a, R, V, T);                                              \
	}
#define T_UPTO1(F, R, V) F(R, V, 1)
#define T_UPTO2(F, R, V) T_UPTO1(F, R, V) F(R, V, 2)
#define T_UPTO3(F, R, V) T_UPTO2(F, R, V) F(R, V, 3)
#define T_UPTO4(F, R, V) T_UPTO3(F, R, V) F(R, V, 4)
#define T_UPTO5(F, R, V) T_UPTO4(F, R, V) F(R, V, 5)
#define T_UPTO6(F, R, V) T_UPTO5(F, R, V) F(R, V, 6)
#define T_UPTO7(F, R, V) T_UPTO6(F, R, V) F(R, V, 7)
#define T_UPTO8(F, R, V) T_UPTO7(F, R, V) F(R, V, 8)
#define T_CAT(a, b) a##b
#define T_UPTO(n) T_CAT(T_UPTO, n)
#define TILE_ENTRY(R, V, T) tile_##R##_##V##x##T,
#define TILES(R, V) T_UPTO(TMAX)(TILE, R, V)
#define TILE_ROW(R, V) [V] = { NULL, T_UPTO(TMAX)(TILE_ENTRY, R, V) }

typedef tile_fn tile_tab[VMAX + 1][TMAX + 1];

/* Tokens per super-tile for chunks of nbc blocks: as many as the table
 * holds, up to XT_TOKENS, a multiple of tmax when that is possible. */
static int super_tokens(int nbc, int tmax)
{
	int ts = nbc ? XT_ENTRIES / nbc : XT_TOKENS;

	if (ts > XT_TOKENS)
		ts = XT_TOKENS;
	return ts >= tmax ? ts - ts % tmax : ts;
}

/* Walks block chunks, token super-tiles, row tiles of up to vmax row
 * vectors and token tiles of up to tmax, in that order (outermost first),
 * calling tab[V][T] per tile.  R is the group height of the layout;
 * r0 % R == 0, and r1 % R == 0 or r1 is the last row.  pf > 0 (in a
 * file defining TILE_PREFETCH; ignored elsewhere): each tile prefetches
 * the records of its row vectors pf blocks ahead (a hint: it may run past
 * the chunk; prefetches never fault). */
static void drive_pf(const tile_tab tab, int vmax, int tmax, int pf,
		     const uint8_t *w, const block_q8_0 *x, float *y, int nb,
		     int r0, int r1, int nt, int ldy, const int R)
{
	struct xtab xt;
	const size_t rec = 34 * (size_t)R, gs = (size_t)nb * rec;
	int b0 = 0;

	do {	/* once even for nb = 0, which stores zeros */
		const int nbc = nb - b0 < XT_BLOCKS ? nb - b0 : XT_BLOCKS;
		const int ts = super_tokens(nbc, tmax);

		for (int t0 = 0; t0 < nt; t0 += ts) {
			const int ntt = nt - t0 < ts ? nt - t0 : ts;

			xtab_fill(&xt, x + (size_t)t0 * nb, nb, b0, nbc, ntt);
			for (int r = r0; r < r1;) {
				const int left = r1 - r;
				const int V = left >= VW * vmax ? vmax :
					      (left + VW - 1) / VW;
				const int nl = left - VW * (V - 1) < VW ?
					       left - VW * (V - 1) : VW;
				struct targs a = {
					.w = w + (size_t)(r / R) * gs + b0 * rec,
					.gs = gs,
					.hs = nl > R ? gs : 0,
					.nb = nb,
					.nbc = nbc,
					.ldy = ldy,
					.nlast = nl,
					.add = b0 > 0,
					.pf = pf,
				};

				for (int t = 0; t < ntt; t += tmax) {
					a.x = x + (size_t)(t0 + t) * nb + b0;
					a.corr = xt.corr + t * nbc;
					a.dx = xt.dx + t * nbc;
					a.y = y + (size_t)(t0 + t) * ldy + r;
					tab[V][ntt - t < tmax ? ntt - t : tmax](&a);
				}
				r += VW * V;
			}
		}
		b0 += nbc;
	} while (b0 < nb);
}


/* drive_pf without prefetching. */
static inline void drive(const tile_tab tab, int vmax, int tmax,
			 const uint8_t *w, const block_q8_0 *x, float *y,
			 int nb, int r0, int r1, int nt, int ldy, const int R)
{
	drive_pf(tab, vmax, tmax, 0, w, x, y, nb, r0, r1, nt, ldy, R);
}

#endif

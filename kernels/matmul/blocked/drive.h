/* matmul/blocked/drive.h - the blocked matmul shared by the ISA files of
 * this folder (avx512vnni.c, avx2.c): the loop nest, the tile and the
 * tile tables.  A template: each file includes it once, so it is compiled
 * with that file's ISA flags, after defining VMAX and TMAX (the largest
 * tile) and its per-ISA pieces, the only code in which the two differ:
 *
 *	struct wk	a weight chunk made ready for the dot step;
 *	AI struct wk w_prep(__m256i q)
 *			from chunk k of a row vector (quants 4k..4k+3 of
 *			8 rows, one int32 lane per row);
 *	AI __m256i s_start(int32_t corr)
 *			the 8 block sums before the first step, given the
 *			token's bias correction (below);
 *	AI __m256i s_step(__m256i s, struct wk w, __m256i xb)
 *			s plus the dot of w with chunk k of a token,
 *			broadcast to every lane (xb), lane by lane;
 *	ymask, AI ymask y_first(int n)
 *			a lane mask selecting lanes 0..n-1 (n = 1..8);
 *	AI void y_put(float *y, ymask m, __m256 r, int add)
 *			stores (add: adds) the lanes m of r into y[0..7],
 *			touching no other element.
 * The ISA files say why each piece is what it is (the sign trick of
 * maddubs, the bias trick of VPDPBUSD); only F16C is used here besides
 * AVX2 and FMA (every includer has them).
 *
 * A row vector is 8 output rows, one 32-bit lane each: one q8_0x8 group,
 * or two consecutive q8_0x4 groups (layout.c).  A tile is V <= VMAX row
 * vectors x T <= TMAX tokens over one chunk of blocks.
 *
 * Per (token, block) the tiles need the token's scale as a float and
 * -128 times the sum of its 32 quants (the bias correction of
 * avx512vnni.c): the driver computes both once per call into a table on
 * the stack, tokens in super-tiles of up to XT_TOKENS and blocks in chunks
 * of up to XT_BLOCKS, so the table stays 16 KB whatever the shape; chunks
 * after the first add into y. */
#ifndef Q8TUNE_BLOCKED_DRIVE_H
#define Q8TUNE_BLOCKED_DRIVE_H

#ifndef VMAX
#error "define VMAX, TMAX and the per-ISA pieces before including drive.h"
#endif

#include <string.h>
#include "simd.h"
#include "variants.h"

_Static_assert(TMAX == 4, "TILES below makes tiles of 1 to 4 tokens");

#define XT_ENTRIES 2048		/* (token, block) entries of the table */
#define XT_BLOCKS 256		/* blocks per chunk */
#define XT_TOKENS 16		/* tokens per super-tile */

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
	size_t hs;		/* q8_0x4: offset of the upper group of the last
				 * row vector, gs, or 0 when it has none (the
				 * lower is read twice, its rows not written) */
	const block_q8_0 *x;	/* token 0 of the tile, block b0 */
	int nb;			/* blocks per token in x */
	const int32_t *corr;	/* xtab row of token 0, stride nbc */
	const float *dx;
	int nbc;		/* blocks in this chunk */
	float *y;		/* y of token 0, first row of the tile */
	int ldy;
	int nlast;		/* rows of the last row vector to write, 1..8 */
	int add;		/* add into y (a later block chunk) */
};

typedef void (*tile_fn)(const struct targs *);

AI int32_t ld32(const void *p)
{
	int32_t v;

	memcpy(&v, p, 4);
	return v;
}

AI long long ld64(const void *p)
{
	long long v;

	memcpy(&v, p, 8);
	return v;
}

/* The 8 fp16 scales of row vector lo (q8_0x8), or lo and hi (q8_0x4). */
AI __m256 ld_scales(const uint8_t *lo, const uint8_t *hi, const int R)
{
	if (R == 8)
		return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)lo));
	return _mm256_cvtph_ps(_mm_set_epi64x(ld64(hi), ld64(lo)));
}

/* Quants 4k..4k+3 of the 8 rows of a row vector, one row per lane. */
AI __m256i ld_chunk(const uint8_t *lo, const uint8_t *hi, int k, const int R)
{
	if (R == 8)
		return _mm256_loadu_si256((const __m256i *)(lo + 16 + 32 * k));
	return _mm256_loadu2_m128i((const __m128i *)(hi + 8 + 16 * k),
				   (const __m128i *)(lo + 8 + 16 * k));
}

/* The table rows of tokens [0, nt) of x, blocks [b0, b0 + nbc). */
static void xtab_fill(struct xtab *xt, const block_q8_0 *x, int nb, int b0,
		      int nbc, int nt)
{
	for (int j = 0; j < nt; j++)
		for (int b = 0; b < nbc; b++) {
			const block_q8_0 *q = x + (size_t)j * nb + b0 + b;
			int s = 0;

			for (int i = 0; i < QK8_0; i++)
				s += q->qs[i];
			xt->corr[j * nbc + b] = -128 * s;
			xt->dx[j * nbc + b] = _cvtsh_ss(q->d);
		}
}

/* y[j*ldy + 8v + i] (+)= the V x T tile over blocks [b0, b0 + nbc). */
AI void tile(const struct targs *a, const int R, const int V, const int T)
{
	const size_t gs = a->gs, hs = a->hs, rec = 34 * (size_t)R;
	const int nbc = a->nbc, nb = a->nb;
	const block_q8_0 *x = a->x;
	const uint8_t *p = a->w;
	const ymask last = y_first(a->nlast);
	__m256 acc[VMAX][TMAX];

#pragma GCC unroll 4
	for (int v = 0; v < V; v++)
#pragma GCC unroll 8
		for (int j = 0; j < T; j++)
			acc[v][j] = _mm256_setzero_ps();

	for (int b = 0; b < nbc; b++, p += rec, x++) {
		const uint8_t *lo[VMAX], *hi[VMAX];
		__m256i s[VMAX][TMAX];
		__m256 dw[VMAX];

#pragma GCC unroll 4
		for (int v = 0; v < V; v++) {
			lo[v] = p + (R == 8 ? v : 2 * v) * gs;
			hi[v] = lo[v] + (v == V - 1 ? hs : gs);
			dw[v] = ld_scales(lo[v], hi[v], R);
		}
#pragma GCC unroll 8
		for (int j = 0; j < T; j++) {
			__m256i c = s_start(a->corr[j * nbc + b]);
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
				__m256i xb = _mm256_set1_epi32(
					ld32(x[(size_t)j * nb].qs + 4 * k));
#pragma GCC unroll 4
				for (int v = 0; v < V; v++)
					s[v][j] = s_step(s[v][j], wk[v], xb);
			}
		}
#pragma GCC unroll 8
		for (int j = 0; j < T; j++) {
			__m256 dx = _mm256_set1_ps(a->dx[j * nbc + b]);
#pragma GCC unroll 4
			for (int v = 0; v < V; v++)
				acc[v][j] = _mm256_fmadd_ps(
					_mm256_cvtepi32_ps(s[v][j]),
					_mm256_mul_ps(dw[v], dx), acc[v][j]);
		}
	}
#pragma GCC unroll 8
	for (int j = 0; j < T; j++)
#pragma GCC unroll 4
		for (int v = 0; v < V; v++)
			y_put(a->y + (size_t)j * a->ldy + 8 * v,
			      v == V - 1 ? last : y_first(8), acc[v][j], a->add);
}

/* tile_<R>_<V>x<T> for T = 1..4, and row V of a table tab[V][T] of them
 * (a file lists the rows V = 1..VMAX it has). */
#define TILE(R, V, T)                                                          \
	static void tile_##R##_##V##x##T(const struct targs *a)                \
	{                                                                      \
		tile(a, R, V, T);                                              \
	}
#define TILES(R, V) TILE(R, V, 1) TILE(R, V, 2) TILE(R, V, 3) TILE(R, V, 4)
#define TILE_ROW(R, V)                                                         \
	[V] = { NULL, tile_##R##_##V##x1, tile_##R##_##V##x2,                  \
		tile_##R##_##V##x3, tile_##R##_##V##x4 }

/* Walks block chunks, token super-tiles, row tiles of up to VMAX row
 * vectors and token tiles of up to TMAX, in that order (outermost first),
 * calling tab[V][T] per tile.  R is the group height of the layout;
 * r0 % R == 0, and r1 % R == 0 or r1 is the last row. */
static void drive(const tile_fn tab[VMAX + 1][TMAX + 1], const uint8_t *w,
		  const block_q8_0 *x, float *y, int nb, int r0, int r1,
		  int nt, int ldy, const int R)
{
	struct xtab xt;
	const size_t rec = 34 * (size_t)R, gs = (size_t)nb * rec;
	int b0 = 0;

	do {	/* once even for nb = 0, which stores zeros */
		const int nbc = nb - b0 < XT_BLOCKS ? nb - b0 : XT_BLOCKS;
		int ts = nbc ? XT_ENTRIES / nbc : XT_TOKENS;

		if (ts > XT_TOKENS)
			ts = XT_TOKENS;
		for (int t0 = 0; t0 < nt; t0 += ts) {
			const int ntt = nt - t0 < ts ? nt - t0 : ts;

			xtab_fill(&xt, x + (size_t)t0 * nb, nb, b0, nbc, ntt);
			for (int r = r0; r < r1;) {
				const int left = r1 - r;
				const int V = left >= 8 * VMAX ? VMAX : (left + 7) / 8;
				const int nl = left - 8 * (V - 1) < 8 ?
					       left - 8 * (V - 1) : 8;
				struct targs a = {
					.w = w + (size_t)(r / R) * gs + b0 * rec,
					.gs = gs,
					.hs = nl > 4 ? gs : 0,
					.nb = nb,
					.nbc = nbc,
					.ldy = ldy,
					.nlast = nl,
					.add = b0 > 0,
				};

				for (int t = 0; t < ntt; t += TMAX) {
					a.x = x + (size_t)(t0 + t) * nb + b0;
					a.corr = xt.corr + t * nbc;
					a.dx = xt.dx + t * nbc;
					a.y = y + (size_t)(t0 + t) * ldy + r;
					tab[V][ntt - t < TMAX ? ntt - t : TMAX](&a);
				}
				r += 8 * V;
			}
		}
		b0 += nbc;
	} while (b0 < nb);
}

#endif

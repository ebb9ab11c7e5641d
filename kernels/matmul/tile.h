/* matmul/tile.h - the tile tables and the row/token walk of the SIMD
 * matmul files.
 *
 * A variant computes an R x T tile (R weight rows, T tokens) at a time so
 * that one weight load feeds T tokens and one activation load feeds R
 * rows.  The tile shapes are compile-time constants: each (R, T) pair is
 * its own function, so the accumulators stay in registers.  R is 1, 2 or
 * 4 and T is 1 to 4.  Include only from an ISA file. */
#ifndef Q8TUNE_MATMUL_TILE_H
#define Q8TUNE_MATMUL_TILE_H

#include <stddef.h>

/* y[(t+j)*ldy + r+i] for i < R, j < T.  n: row length in the unit of w
 * and x (Q8_0 blocks or elements). */
typedef void (*tile_fn)(const void *w, const void *x, float *y, int n,
			int r, int t, int ldy);

/* Row tile heights of the AVX2 files (16 ymm registers): one token
 * (decode) has nothing to reuse across tokens, so take 4 rows per x load;
 * several tokens take 2 rows x 4 tokens (8 accumulators). */
enum { YMM_ROWS_1 = 4, YMM_ROWS_N = 2 };

/* From an always-inline body name(w, x, y, n, r, t, ldy, R, T), defines
 * name_RxT for every tile shape, the table name_tab[R][T] of them (R = 3
 * and T = 0 are never chosen), and
 *	name_walk(rt1, rtn, w, x, y, n, r0, r1, nt, ldy)
 * which covers rows [r0, r1) in tiles of rt1 rows for one token, rtn for
 * several (halved while fewer are left), and tokens [0, nt) in tiles of
 * up to 4.  The walk is generated per table, with the height picked in the
 * loop, because that is the form in which GCC turns the decode tile
 * (nt = 1) into a direct call; one walk taking the table as an argument
 * keeps it indirect, which measured ~1.5% slower for the AVX2 decode
 * matmul on Zen 4. */
#define TILE_TABLE(name)                                                       \
	TILE_ROW(name, 1) TILE_ROW(name, 2) TILE_ROW(name, 4)                  \
	static const tile_fn name##_tab[5][5] = {                              \
		[1] = { NULL, name##_1x1, name##_1x2, name##_1x3, name##_1x4 }, \
		[2] = { NULL, name##_2x1, name##_2x2, name##_2x3, name##_2x4 }, \
		[4] = { NULL, name##_4x1, name##_4x2, name##_4x3, name##_4x4 }, \
	};                                                                     \
	static inline void name##_walk(int rt1, int rtn, const void *w,        \
				       const void *x, float *y, int n, int r0, \
				       int r1, int nt, int ldy)                \
	{                                                                      \
		for (int r = r0; r < r1;) {                                    \
			int R = nt == 1 ? rt1 : rtn;                           \
			while (R > r1 - r)                                     \
				R >>= 1;                                       \
			for (int t = 0; t < nt; t += 4)                        \
				name##_tab[R][nt - t < 4 ? nt - t : 4](        \
					w, x, y, n, r, t, ldy);                \
			r += R;                                                \
		}                                                              \
	}
#define TILE_ROW(name, R)                                                      \
	TILE_FN(name, R, 1) TILE_FN(name, R, 2) TILE_FN(name, R, 3)            \
	TILE_FN(name, R, 4)
#define TILE_FN(name, R, T)                                                    \
	static void name##_##R##x##T(const void *w, const void *x, float *y,   \
				     int n, int r, int t, int ldy)             \
	{                                                                      \
		name(w, x, y, n, r, t, ldy, R, T);                             \
	}

#endif

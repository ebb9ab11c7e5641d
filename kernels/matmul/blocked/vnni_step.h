/* matmul/blocked/vnni_step.h - drive.h's dot step with VPDPBUSD, for the
 * VNNI ISA files (avx512vnni.c, avxvnni.c here, ../wide/avx512vnni.c):
 * EVEX on zmm (VW 16) or ymm, VEX on ymm (AVX-VNNI), chosen by the
 * including file's flags.  Include after the vector header.
 *
 * Exact block sums for all int8 quants by the bias trick of
 * ../avx512vnni.c, turned around: VPDPBUSD multiplies unsigned bytes (a
 * register) by signed ones (here the broadcast token chunk), so the
 * weights take the bias, w ^ 0x80 = w + 128 as an unsigned byte, and
 *	dpbusd(-128 X, w ^ 0x80, x) = sum((w + 128) x) - 128 X = sum(w x)
 * where X, the sum of the token's 32 quants of the block, is one number
 * per (token, block) for every row: drive.h tabulates -128 X once per
 * call, and the block sums start from it.  Rounding: the block term is
 * fma(float(sum), d_w * d_x, acc), d_w * d_x exact in float, as in
 * ../avx512vnni.c; only the order of the sum over blocks differs from the
 * reference. */
#ifndef Q8TUNE_BLOCKED_VNNI_STEP_H
#define Q8TUNE_BLOCKED_VNNI_STEP_H

#if VW == 16
#define VNNI_XOR(a, b) _mm512_xor_si512(a, b)
#define VNNI_SET8(c) _mm512_set1_epi8(c)
#define VNNI_DP(s, u, x) _mm512_dpbusd_epi32(s, u, x)
#elif defined(__AVX512VL__) && defined(__AVX512VNNI__)
#define VNNI_XOR(a, b) _mm256_xor_si256(a, b)
#define VNNI_SET8(c) _mm256_set1_epi8(c)
#define VNNI_DP(s, u, x) _mm256_dpbusd_epi32(s, u, x)
#elif defined(__AVXVNNI__)
#define VNNI_XOR(a, b) _mm256_xor_si256(a, b)
#define VNNI_SET8(c) _mm256_set1_epi8(c)
#define VNNI_DP(s, u, x) _mm256_dpbusd_avx_epi32(s, u, x)
#else
#error "vnni_step.h needs AVX-512 VNNI or AVX-VNNI"
#endif

/* A weight chunk biased to unsigned bytes: w ^ 0x80 = w + 128.  A layout
 * that stores the quants biased (q8_0x16u) defines VNNI_PREBIASED. */
struct wk {
	vi wu;
};

AI struct wk w_prep(vi q)
{
#ifdef VNNI_PREBIASED
	return (struct wk){ q };
#else
	return (struct wk){ VNNI_XOR(VNNI_SET8((char)0x80), q) };
#endif
}

/* The sums start from the correction -128 X of the token's block. */
AI vi s_start(int32_t corr)
{
	return vi_set1(corr);
}

/* (w + 128) x summed per lane, on top of -128 X: sum(w x), exact. */
AI vi s_step(vi s, struct wk w, vi xb)
{
	return VNNI_DP(s, w.wu, xb);
}

#endif

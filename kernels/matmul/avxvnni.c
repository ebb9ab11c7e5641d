/* matmul/avxvnni.c - Q8_0 matmul with VEX-encoded VPDPBUSD (AVX-VNNI).
 *
 * Serves: Intel Alder Lake / Raptor Lake / Meteor Lake (P- and E-cores),
 * Sapphire Rapids and later, AMD Zen 5 where the hypervisor exposes
 * AVX-VNNI; i.e. CPUs with 256-bit VNNI but (client parts) no AVX-512.
 * Built with -mavx2 -mfma -mf16c -mavxvnni.
 *
 * The same tiles as matmul/avx2.c (matmul/q8_sign256.h); only the block
 * dot changes: one VPDPBUSD replaces VPMADDUBSW + VPMADDWD. */
#include <immintrin.h>
#include "variants.h"
#include "simd.h"

/* Integer dot of two blocks as 8 int32 partial sums: |w| (unsigned) times
 * x * sign(w) (signed).  VPDPBUSD sums in int32, so nothing saturates;
 * as in avx2.c the only wrong input is x = -128 with w < 0, which our
 * activation quantizer never emits (its range is [-127, 127]). */
AI __m256i q8_dot(__m256i aw, __m256i w, __m256i xq)
{
	return _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), aw,
				       _mm256_sign_epi8(xq, w));
}

#define Q8_MATMUL matmul_q8_avxvnni
#include "q8_sign256.h"

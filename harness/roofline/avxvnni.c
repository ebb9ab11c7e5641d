/* roofline/avxvnni.c - the AVX-VNNI int8 peak (VEX vpdpbusd ymm, 32 MACs
 * an instruction).
 *
 * Serves: Intel Alder Lake and later client parts, Sapphire Rapids and
 * later, AMD Zen 5.  Built with -mavx2 -mfma -mf16c -mavxvnni;
 * roofline.c only calls it when cpu.c has seen NEEDS_AVXVNNI. */
#include <immintrin.h>
#include "peak.h"

ROOF_VNNI_FN(roof_peak_avxvnni, __m256i, _mm256_set1_epi8, _mm256_setzero_si256,
	     _mm256_dpbusd_avx_epi32, _mm256_add_epi32, _mm256_storeu_si256)

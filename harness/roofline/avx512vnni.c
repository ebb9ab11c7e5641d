/* roofline/avx512vnni.c - the AVX-512 VNNI int8 peak (vpdpbusd zmm, 64
 * MACs an instruction).
 *
 * Serves: Intel Cascade Lake and later, Ice Lake, AMD Zen 4 and later.
 * Built with the Makefile's AVX512_FLAGS; roofline.c only calls it when
 * cpu.c has seen NEEDS_AVX512VNNI. */
#include <immintrin.h>
#include "peak.h"

/* _mm512_storeu_si512 takes void *: the template hands it a __m512i *. */
ROOF_VNNI_FN(roof_peak_avx512vnni, __m512i, _mm512_set1_epi8,
	     _mm512_setzero_si512, _mm512_dpbusd_epi32, _mm512_add_epi32,
	     _mm512_storeu_si512)

/* roofline/scalar.c - the baseline x86-64 read kernel (SSE2, which every
 * x86-64 CPU has): the bandwidth roof on a CPU without AVX2, or with it
 * hidden by Q8TUNE_CPU_MASK.  There is no scalar int8 peak: a roof is
 * what the SIMD kernels can reach, and the matmul reference is not one. */
#include <emmintrin.h>
#include "peak.h"

ROOF_READ_FN(roof_read_sse2, __m128i, _mm_setzero_si128, _mm_load_si128,
	     _mm_add_epi64, _mm_storeu_si128)

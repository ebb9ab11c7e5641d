/* rng.h - splitmix64 (Steele, Lea, Flood 2014), the project's one
 * deterministic generator: full period 2^64, passes BigCrush, and one
 * word of state, so a seed alone fixes the whole stream.  The statistics'
 * bootstrap, the sampler, the synthetic model's weights (as the seed of
 * xoshiro256**), the microbenchmark's inputs and the variant tests all
 * draw from it.  Header-only (static inline) so the C++ microbenchmark
 * and the hot loops that draw from it inline it. */
#ifndef Q8TUNE_RNG_H
#define Q8TUNE_RNG_H

#include <stdint.h>

/* The next output; advances *state. */
static inline uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1) with 53 random bits; advances *state. */
static inline double splitmix64_unit(uint64_t *state)
{
	return (double)(splitmix64(state) >> 11) * (1.0 / 9007199254740992.0);
}

#endif

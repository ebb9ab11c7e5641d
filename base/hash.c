/* hash.c - FNV-1a (see hash.h). */
#include <string.h>
#include "hash.h"

#define FNV64_PRIME 0x100000001b3ull

uint64_t fnv1a64(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * FNV64_PRIME;
	return h;
}

uint64_t fnv1a64_str(const char *s)
{
	return fnv1a64(FNV64_OFFSET, s, strlen(s));
}

uint32_t fnv1a32_str(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

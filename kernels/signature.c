/* signature.c - FNV-1a 64 over the registry's names (see signature.h). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "hash.h"
#include "signature.h"

static uint64_t fnv_str(uint64_t h, const char *s)
{
	return fnv1a64(h, s, strlen(s));
}

uint64_t registry_hash(const struct op_desc *ops, int n_ops, int *n_variants)
{
	uint64_t h = FNV64_OFFSET;
	uint32_t count = 0;
	unsigned char le[4];

	for (int op = 0; op < n_ops; op++)
		for (const struct variant *v = ops[op].variants; v && v->name; v++) {
			h = fnv_str(h, ops[op].name);
			h = fnv_str(h, "/");
			h = fnv_str(h, v->name);
			h = fnv_str(h, "\n");	/* "a/bc" != "ab/c" */
			count++;
		}
	/* the count as 4 little-endian bytes: host-independent */
	for (int i = 0; i < 4; i++)
		le[i] = (unsigned char)(count >> (8 * i));
	h = fnv1a64(h, le, sizeof le);
	if (n_variants)
		*n_variants = (int)count;
	return h;
}

void registry_signature(char *buf, size_t cap)
{
	uint64_t h = registry_hash(kernel_ops, OP_COUNT, NULL);

	if (cap)
		snprintf(buf, cap, "%016" PRIx64, h);
}

int registry_variant_count(void)
{
	int n;

	registry_hash(kernel_ops, OP_COUNT, &n);
	return n;
}

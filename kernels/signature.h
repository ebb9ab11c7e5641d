/* signature.h - a fingerprint of the variant registry (kernel_ops[]).
 *
 * A best-config file stores it, as FFTW's wisdom stores a hash of its
 * solver names, so a file written against another set of variants (one
 * renamed, added or removed) is detected as stale. */
#ifndef Q8TUNE_SIGNATURE_H
#define Q8TUNE_SIGNATURE_H

#include <stddef.h>
#include <stdint.h>
#include "kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Hex digits of a signature plus the NUL. */
#define REGISTRY_SIG_LEN 17

/* FNV-1a 64 over "op/variant\n" for every variant of every op of the
 * n_ops tables in order, then over the variant count; *n_variants (may be
 * NULL) gets the count.  Exposed so tests can hash a modified copy. */
uint64_t registry_hash(const struct op_desc *ops, int n_ops, int *n_variants);

/* The signature of kernel_ops[] as 16 lower-case hex digits in buf
 * (always NUL-terminated when cap > 0; truncated if cap < 17). */
void registry_signature(char *buf, size_t cap);

/* Number of variants over every op of kernel_ops[]. */
int registry_variant_count(void);

#ifdef __cplusplus
}
#endif

#endif

/* hash.h - FNV-1a, the project's one non-cryptographic hash: the registry
 * signature, the model fingerprint, the tuner's log keys, the synthetic
 * model's per-tensor seeds and the machine key's brand hash. */
#ifndef Q8TUNE_HASH_H
#define Q8TUNE_HASH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* FNV-1a 64: start from FNV64_OFFSET (or a running state), feed n bytes;
 * returns the new state. */
#define FNV64_OFFSET 0xcbf29ce484222325ull
uint64_t fnv1a64(uint64_t h, const void *p, size_t n);

/* FNV-1a 64 of a NUL-terminated string from FNV64_OFFSET. */
uint64_t fnv1a64_str(const char *s);

/* FNV-1a 32 of a NUL-terminated string (the machine key's brand part). */
uint32_t fnv1a32_str(const char *s);

#ifdef __cplusplus
}
#endif

#endif

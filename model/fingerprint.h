/* fingerprint.h - what identifies "this model" for a best-config file:
 * the hyper-parameters the kernels' shapes come from, and a hash of the
 * GGUF tensor table (names, types, dims, data offsets in file order), so
 * a config tuned on one model is recognised on another of the same shape
 * but different layout. */
#ifndef Q8TUNE_FINGERPRINT_H
#define Q8TUNE_FINGERPRINT_H

#include <stddef.h>
#include <jansson.h>

struct model;
struct gguf;

struct model_fp {
	char arch[16];		/* "llama", "gemma" */
	int n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff;
	char tensor_hash[20];	/* 16 hex digits, FNV-1a 64 */
};

/* Fills fp from a loaded model (m->hp and the tensor table of m->g).
 * Returns 0, or -1 if m has no GGUF handle (fp zeroed). */
int model_fp_get(const struct model *m, struct model_fp *fp);

/* The tensor table hash of g as 16 hex digits in buf (cap >= 17). */
void model_fp_tensor_hash(const struct gguf *g, char *buf, size_t cap);

/* A new JSON object with every field of fp (caller owns the reference);
 * NULL only when out of memory. */
json_t *model_fp_json(const struct model_fp *fp);

/* Parses what model_fp_json wrote.  0, or -1 with a one-line message
 * naming the missing or mistyped field ("n_layer: expected an integer");
 * unknown fields are refused too.  fp is unspecified after -1. */
int model_fp_from_json(const json_t *j, struct model_fp *fp, char *err,
		       size_t errlen);

/* NULL if a and b are equal, else a thread-local line naming the first
 * field that differs ("n_layer 24 != 2", "tensor table hash 1a.. !=
 * 2b.."); valid until the next call on this thread. */
const char *model_fp_diff(const struct model_fp *a, const struct model_fp *b);

#endif

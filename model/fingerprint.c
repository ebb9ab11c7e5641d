/* fingerprint.c - the model fingerprint and its JSON form. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "fingerprint.h"
#include "model.h"
#include "hash.h"
#include "signature.h"

/* The integer fields, in the order JSON, diffs and messages use. */
static const struct {
	const char *name;
	size_t off;
} int_fields[] = {
	{ "n_vocab", offsetof(struct model_fp, n_vocab) },
	{ "n_embd", offsetof(struct model_fp, n_embd) },
	{ "n_layer", offsetof(struct model_fp, n_layer) },
	{ "n_head", offsetof(struct model_fp, n_head) },
	{ "n_head_kv", offsetof(struct model_fp, n_head_kv) },
	{ "head_dim", offsetof(struct model_fp, head_dim) },
	{ "n_ff", offsetof(struct model_fp, n_ff) },
};
#define N_INT_FIELDS (sizeof int_fields / sizeof int_fields[0])

static int *field_of(struct model_fp *fp, size_t i)
{
	return (int *)((char *)fp + int_fields[i].off);
}

static int field_val(const struct model_fp *fp, size_t i)
{
	return *(const int *)((const char *)fp + int_fields[i].off);
}

/* Feeds v as 8 little-endian bytes: the hash does not depend on the host. */
static uint64_t fnv_u64(uint64_t h, uint64_t v)
{
	unsigned char le[8];

	for (int i = 0; i < 8; i++)
		le[i] = (unsigned char)(v >> (8 * i));
	return fnv1a64(h, le, sizeof le);
}

void model_fp_tensor_hash(const struct gguf *g, char *buf, size_t cap)
{
	uint64_t h = fnv_u64(FNV64_OFFSET, g->n_tensors);

	for (uint64_t i = 0; i < g->n_tensors; i++) {
		const struct gguf_tensor *t = &g->tensors[i];

		h = fnv1a64(h, t->name, strlen(t->name) + 1);
		h = fnv_u64(h, (uint64_t)t->type);
		h = fnv_u64(h, t->n_dims);
		for (uint32_t d = 0; d < t->n_dims && d < GGUF_MAX_DIMS; d++)
			h = fnv_u64(h, t->ne[d]);
		h = fnv_u64(h, t->offset);
	}
	if (cap)
		snprintf(buf, cap, "%016" PRIx64, h);
}

int model_fp_get(const struct model *m, struct model_fp *fp)
{
	memset(fp, 0, sizeof *fp);
	if (!m || !m->g)
		return -1;
	snprintf(fp->arch, sizeof fp->arch, "%s", arch_name(m->hp.arch));
	fp->n_vocab = m->hp.n_vocab;
	fp->n_embd = m->hp.n_embd;
	fp->n_layer = m->hp.n_layer;
	fp->n_head = m->hp.n_head;
	fp->n_head_kv = m->hp.n_head_kv;
	fp->head_dim = m->hp.head_dim;
	fp->n_ff = m->hp.n_ff;
	model_fp_tensor_hash(m->g, fp->tensor_hash, sizeof fp->tensor_hash);
	return 0;
}

json_t *model_fp_json(const struct model_fp *fp)
{
	json_t *o = json_object();
	int bad;

	if (!o)
		return NULL;
	bad = json_object_set_new(o, "arch", json_string(fp->arch));
	for (size_t i = 0; i < N_INT_FIELDS; i++)
		bad |= json_object_set_new(o, int_fields[i].name,
					   json_integer(field_val(fp, i)));
	bad |= json_object_set_new(o, "tensor_hash", json_string(fp->tensor_hash));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Copies string field key of j into dst (cap bytes); 0 or -1 with a
 * message. */
static int get_str(const json_t *j, const char *key, char *dst, size_t cap,
		   char *err, size_t errlen)
{
	const json_t *v = json_object_get(j, key);

	if (!json_is_string(v)) {
		snprintf(err, errlen, "%s: %s", key,
			 v ? "expected a string" : "missing");
		return -1;
	}
	if (json_string_length(v) >= cap) {
		snprintf(err, errlen, "%s: longer than %zu bytes", key, cap - 1);
		return -1;
	}
	memcpy(dst, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int known_key(const char *key)
{
	if (!strcmp(key, "arch") || !strcmp(key, "tensor_hash"))
		return 1;
	for (size_t i = 0; i < N_INT_FIELDS; i++)
		if (!strcmp(key, int_fields[i].name))
			return 1;
	return 0;
}

int model_fp_from_json(const json_t *j, struct model_fp *fp, char *err,
		       size_t errlen)
{
	const char *key;
	json_t *val;

	memset(fp, 0, sizeof *fp);
	if (!json_is_object(j)) {
		snprintf(err, errlen, "expected an object");
		return -1;
	}
	json_object_foreach((json_t *)j, key, val) {
		if (!known_key(key)) {
			snprintf(err, errlen, "%s: unknown field", key);
			return -1;
		}
	}
	if (get_str(j, "arch", fp->arch, sizeof fp->arch, err, errlen) < 0 ||
	    get_str(j, "tensor_hash", fp->tensor_hash, sizeof fp->tensor_hash,
		    err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < N_INT_FIELDS; i++) {
		const json_t *v = json_object_get(j, int_fields[i].name);

		if (!json_is_integer(v)) {
			snprintf(err, errlen, "%s: %s", int_fields[i].name,
				 v ? "expected an integer" : "missing");
			return -1;
		}
		json_int_t x = json_integer_value(v);
		if (x < 0 || x > 1 << 30) {
			snprintf(err, errlen, "%s: %lld out of range",
				 int_fields[i].name, (long long)x);
			return -1;
		}
		*field_of(fp, i) = (int)x;
	}
	return 0;
}

const char *model_fp_diff(const struct model_fp *a, const struct model_fp *b)
{
	static _Thread_local char msg[128];

	if (strcmp(a->arch, b->arch)) {
		snprintf(msg, sizeof msg, "arch %s != %s", a->arch, b->arch);
		return msg;
	}
	for (size_t i = 0; i < N_INT_FIELDS; i++)
		if (field_val(a, i) != field_val(b, i)) {
			snprintf(msg, sizeof msg, "%s %d != %d", int_fields[i].name,
				 field_val(a, i), field_val(b, i));
			return msg;
		}
	if (strcmp(a->tensor_hash, b->tensor_hash)) {
		snprintf(msg, sizeof msg, "tensor table hash %s != %s",
			 a->tensor_hash, b->tensor_hash);
		return msg;
	}
	return NULL;
}

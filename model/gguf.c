/* gguf.c - checked GGUF (v2, v3) reader; see gguf.h.
 *
 * Layout (all little-endian):
 *   "GGUF" u32 version, u64 n_tensors, u64 n_kv
 *   n_kv x { string key, u32 vtype, value }
 *   n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 type,
 *                 u64 offset }
 *   padding to general.alignment, data section
 * where string = u64 len + bytes and array = u32 etype, u64 n, elements.
 *
 * The parser trusts nothing: every read goes through rd_need(), which
 * checks the bytes that remain, every count is bounded by what the
 * remaining bytes could possibly hold before anything is allocated, and
 * every size computation uses checked arithmetic.  Like ggml's gguf.cpp
 * and unlike gguf-tools. */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf.h"

#define GGUF_MAGIC		"GGUF"
#define GGUF_DEFAULT_ALIGN	32
#define GGUF_MAX_DEPTH		8	/* arrays of arrays, nested at most */
#define GGUF_NAME_MAX		127	/* tensor name bytes, without NUL */

/* Fewest bytes each record can occupy: bounds counts before allocation. */
#define MIN_KV_BYTES		(8 + 4 + 1)	/* empty key, type, a u8 */
#define MIN_TENSOR_BYTES	(8 + 4 + 8 + 4 + 8)	/* 1-dim, empty name */
#define MIN_ARR_BYTES		(4 + 8)		/* nested: etype, count */
#define MIN_STR_BYTES		8		/* length only */

/* A handle plus what only this file needs to know about it. */
struct gguf_priv {
	struct gguf pub;
	int mapped;	/* pub.map came from mmap in gguf_open */
};

/* Parse cursor over the whole file. */
struct rd {
	const uint8_t *p;
	size_t n;
	size_t pos;
	const char *name;	/* file name for messages */
	char *err;
	size_t errlen;
};

/* Where a tensor's fields were, for messages once sorted. */
struct tref {
	struct gguf_tensor *t;
	uint64_t info_off;	/* file offset of the tensor's name */
	uint64_t off_field;	/* file offset of its offset field */
};

/* Writes "name: offset off: <fmt>" into r->err.  Always returns -1. */
static int __attribute__((format(printf, 3, 4)))
rd_fail(struct rd *r, uint64_t off, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (!r->err || !r->errlen)
		return -1;
	k = snprintf(r->err, r->errlen, "%s: offset %llu: ", r->name,
		     (unsigned long long)off);
	if (k < 0 || (size_t)k >= r->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(r->err + k, r->errlen - k, fmt, ap);
	va_end(ap);
	return -1;
}

/* Copies len bytes of p into out (size outlen) as printable ASCII for a
 * one-line message: control and high bytes become \xNN, long names are
 * cut with "...".  Returns out. */
static const char *printable(char *out, size_t outlen, const void *p,
			     uint64_t len)
{
	const uint8_t *s = p;
	size_t o = 0;
	uint64_t i;

	for (i = 0; i < len; i++) {
		if (o + 8 >= outlen) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (s[i] < 0x20 || s[i] >= 0x7f || s[i] == '\'' ||
		    s[i] == '\\')
			o += snprintf(out + o, outlen - o, "\\x%02x", s[i]);
		else
			out[o++] = s[i];
	}
	out[o] = '\0';
	return out;
}

#define PNAME_LEN 160	/* a 127-byte name, a few escapes */
#define PNAME(buf, str) printable(buf, sizeof(buf), (str).ptr, (str).len)

/* 0 if n more bytes remain at the cursor, else -1 naming what.  ctx
 * ("key 'x'", "tensor 'y'") or NULL says whose field it is. */
static int rd_need(struct rd *r, uint64_t n, const char *what,
		   const char *ctx)
{
	size_t left = r->n - r->pos;

	if (n <= left)
		return 0;
	return rd_fail(r, r->pos, "%s%s%s needs %llu bytes, only %zu remain "
		       "(file size %zu)", ctx ? ctx : "", ctx ? ": " : "",
		       what, (unsigned long long)n, left, r->n);
}

/* Little-endian loads from possibly unaligned p. */
static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* Reads a u32 / u64 at the cursor.  0, or -1 with a message. */
static int rd_u32(struct rd *r, uint32_t *v, const char *what,
		  const char *ctx)
{
	if (rd_need(r, 4, what, ctx))
		return -1;
	*v = le32(r->p + r->pos);
	r->pos += 4;
	return 0;
}

static int rd_u64(struct rd *r, uint64_t *v, const char *what,
		  const char *ctx)
{
	if (rd_need(r, 8, what, ctx))
		return -1;
	*v = le64(r->p + r->pos);
	r->pos += 8;
	return 0;
}

/* Reads a GGUF string; s->ptr points into the buffer. */
static int rd_str(struct rd *r, struct gguf_str *s, const char *what,
		  const char *ctx)
{
	uint64_t len;
	size_t at = r->pos;

	if (rd_u64(r, &len, what, ctx))
		return -1;
	if (len > r->n - r->pos)
		return rd_fail(r, at, "%s%s%s length %llu runs past end of "
			       "file (%zu bytes remain)", ctx ? ctx : "",
			       ctx ? ": " : "", what, (unsigned long long)len,
			       r->n - r->pos);
	s->len = len;
	s->ptr = (const char *)r->p + r->pos;
	r->pos += len;
	return 0;
}

/* Bytes of one scalar of type t; 0 for STRING, ARRAY and unknown types. */
static size_t vtype_size(uint32_t t)
{
	static const uint8_t sz[] = {
		[GGUF_T_U8] = 1, [GGUF_T_I8] = 1, [GGUF_T_U16] = 2,
		[GGUF_T_I16] = 2, [GGUF_T_U32] = 4, [GGUF_T_I32] = 4,
		[GGUF_T_F32] = 4, [GGUF_T_BOOL] = 1, [GGUF_T_STRING] = 0,
		[GGUF_T_ARRAY] = 0, [GGUF_T_U64] = 8, [GGUF_T_I64] = 8,
		[GGUF_T_F64] = 8,
	};

	return t < sizeof(sz) ? sz[t] : 0;
}

/* 1 for value types 0..12. */
static int vtype_valid(uint32_t t)
{
	return t <= GGUF_T_F64;
}

/* Decodes one scalar of type t at p into v (type already set). */
static void decode_scalar(struct gguf_value *v, uint32_t t, const uint8_t *p)
{
	uint32_t u32;
	uint64_t u64;
	float f;
	double d;

	switch (t) {
	case GGUF_T_U8:
	case GGUF_T_BOOL:
		v->v.u = p[0];
		break;
	case GGUF_T_I8:
		v->v.i = (int8_t)p[0];
		break;
	case GGUF_T_U16:
		v->v.u = (uint16_t)(p[0] | p[1] << 8);
		break;
	case GGUF_T_I16:
		v->v.i = (int16_t)(uint16_t)(p[0] | p[1] << 8);
		break;
	case GGUF_T_U32:
		v->v.u = le32(p);
		break;
	case GGUF_T_I32:
		v->v.i = (int32_t)le32(p);
		break;
	case GGUF_T_F32:
		u32 = le32(p);
		memcpy(&f, &u32, 4);
		v->v.f = f;
		break;
	case GGUF_T_U64:
		v->v.u = le64(p);
		break;
	case GGUF_T_I64:
		v->v.i = (int64_t)le64(p);
		break;
	case GGUF_T_F64:
		u64 = le64(p);
		memcpy(&d, &u64, 8);
		v->v.f = d;
		break;
	}
}

/* Frees what v owns (nested item arrays), not v itself. */
static void value_free(struct gguf_value *v)
{
	uint64_t i;

	if (v->type != GGUF_T_ARRAY || !v->v.arr.items)
		return;
	if (v->v.arr.type == GGUF_T_ARRAY)
		for (i = 0; i < v->v.arr.n; i++)
			value_free(&v->v.arr.items[i]);
	free(v->v.arr.items);
	v->v.arr.items = NULL;
}

static int rd_value(struct rd *r, uint32_t type, struct gguf_value *v,
		    int depth, const char *key);

/* Reads an array body (element type, count, elements) into v.  Scalar
 * elements stay in the buffer (v.arr.raw); strings and nested arrays get
 * an items array that v owns. */
static int rd_array(struct rd *r, struct gguf_value *v, int depth,
		    const char *ctx)
{
	uint32_t et;
	uint64_t n, i, bytes, min;
	size_t at = r->pos, esz;

	if (depth >= GGUF_MAX_DEPTH)
		return rd_fail(r, at, "%s: arrays nested deeper than %d",
			       ctx, GGUF_MAX_DEPTH);
	if (rd_u32(r, &et, "array element type", ctx))
		return -1;
	if (!vtype_valid(et))
		return rd_fail(r, at, "%s: unknown array element type "
			       "%u (valid: 0..12)", ctx, et);
	at = r->pos;
	if (rd_u64(r, &n, "array count", ctx))
		return -1;
	v->v.arr.type = et;
	v->v.arr.n = 0;
	esz = vtype_size(et);
	if (esz) {
		if (__builtin_mul_overflow(n, (uint64_t)esz, &bytes) ||
		    bytes > r->n - r->pos)
			return rd_fail(r, at, "%s: array of %llu %s "
				       "runs past end of file (%zu bytes "
				       "remain)", ctx, (unsigned long long)n,
				       gguf_vtype_name(et), r->n - r->pos);
		v->v.arr.n = n;
		v->v.arr.raw = r->p + r->pos;
		r->pos += bytes;
		return 0;
	}
	min = et == GGUF_T_STRING ? MIN_STR_BYTES : MIN_ARR_BYTES;
	if (n > (r->n - r->pos) / min)
		return rd_fail(r, at, "%s: array count %llu of %s cannot "
			       "fit in the %zu bytes that remain", ctx,
			       (unsigned long long)n, gguf_vtype_name(et),
			       r->n - r->pos);
	if (n == 0)
		return 0;
	v->v.arr.items = calloc(n, sizeof(*v->v.arr.items));
	if (!v->v.arr.items)
		return rd_fail(r, at, "%s: out of memory for %llu array "
			       "elements", ctx, (unsigned long long)n);
	/* n counts the items to free if an element fails part way. */
	for (i = 0; i < n; i++) {
		v->v.arr.n = i + 1;
		if (rd_value(r, et, &v->v.arr.items[i], depth + 1, ctx))
			return -1;
	}
	return 0;
}

/* Reads one value of type (already read and validated) into v. */
static int rd_value(struct rd *r, uint32_t type, struct gguf_value *v,
		    int depth, const char *ctx)
{
	size_t at = r->pos, sz;

	v->type = type;
	if (type == GGUF_T_STRING)
		return rd_str(r, &v->v.s, "string", ctx);
	if (type == GGUF_T_ARRAY)
		return rd_array(r, v, depth, ctx);
	sz = vtype_size(type);
	if (rd_need(r, sz, gguf_vtype_name(type), ctx))
		return -1;
	decode_scalar(v, type, r->p + r->pos);
	if (type == GGUF_T_BOOL && v->v.u > 1)
		return rd_fail(r, at, "%s: BOOL value %llu is not 0 or 1",
			       ctx, (unsigned long long)v->v.u);
	r->pos += sz;
	return 0;
}

/* qsort order of key/value pointers: by key bytes, then file offset. */
static int kv_cmp(const void *a, const void *b)
{
	const struct gguf_kv *x = *(const struct gguf_kv *const *)a;
	const struct gguf_kv *y = *(const struct gguf_kv *const *)b;
	uint64_t n = x->key.len < y->key.len ? x->key.len : y->key.len;
	int c = n ? memcmp(x->key.ptr, y->key.ptr, n) : 0;

	if (c)
		return c;
	if (x->key.len != y->key.len)
		return x->key.len < y->key.len ? -1 : 1;
	/* Equal keys: file order, so the later one is reported. */
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Refuses two keys with the same bytes, naming the later one. */
static int check_dup_keys(struct rd *r, const struct gguf *g)
{
	const struct gguf_kv **sorted;
	char kname[PNAME_LEN];
	uint64_t i;
	int ret = 0;

	if (g->n_kv < 2)
		return 0;
	sorted = malloc(g->n_kv * sizeof(*sorted));
	if (!sorted)
		return rd_fail(r, 0, "out of memory checking %llu keys",
			       (unsigned long long)g->n_kv);
	for (i = 0; i < g->n_kv; i++)
		sorted[i] = &g->kv[i];
	qsort(sorted, g->n_kv, sizeof(*sorted), kv_cmp);
	for (i = 1; i < g->n_kv; i++) {
		const struct gguf_kv *a = sorted[i - 1], *b = sorted[i];

		if (a->key.len != b->key.len ||
		    memcmp(a->key.ptr, b->key.ptr, a->key.len))
			continue;
		ret = rd_fail(r, b->offset, "key '%s': duplicate key (first at "
			      "offset %llu)", PNAME(kname, b->key),
			      (unsigned long long)a->offset);
		break;
	}
	free(sorted);
	return ret;
}

/* Reads the n_kv key/values, refuses duplicate keys, and sets
 * g->alignment from general.alignment. */
static int rd_kvs(struct rd *r, struct gguf *g)
{
	char kname[PNAME_LEN], ctx[PNAME_LEN + 8];
	uint64_t i;
	uint32_t t;

	for (i = 0; i < g->n_kv; i++) {
		struct gguf_kv *kv = &g->kv[i];
		size_t at;

		kv->offset = r->pos;
		if (rd_str(r, &kv->key, "key", NULL))
			return -1;
		snprintf(ctx, sizeof(ctx), "key '%s'", PNAME(kname, kv->key));
		at = r->pos;
		if (rd_u32(r, &t, "value type", ctx))
			return -1;
		if (!vtype_valid(t))
			return rd_fail(r, at, "%s: unknown value type %u (valid:"
				       " 0..12)", ctx, t);
		if (rd_value(r, t, &kv->val, 0, ctx))
			return -1;
	}
	if (check_dup_keys(r, g))
		return -1;

	g->alignment = GGUF_DEFAULT_ALIGN;
	for (i = 0; i < g->n_kv; i++) {
		const struct gguf_kv *kv = &g->kv[i];

		if (kv->key.len != strlen("general.alignment") ||
		    memcmp(kv->key.ptr, "general.alignment", kv->key.len))
			continue;
		if (kv->val.type != GGUF_T_U32)
			return rd_fail(r, kv->offset, "key 'general.alignment':"
				       " type %s, expected U32",
				       gguf_vtype_name(kv->val.type));
		if (kv->val.v.u == 0 || (kv->val.v.u & (kv->val.v.u - 1)))
			return rd_fail(r, kv->offset, "key 'general.alignment':"
				       " %llu is not a non-zero power of two",
				       (unsigned long long)kv->val.v.u);
		g->alignment = kv->val.v.u;
	}
	return 0;
}

/* 1 for the tensor types q8tune computes with. */
static int type_supported(uint32_t t)
{
	return t == GGML_TYPE_F32 || t == GGML_TYPE_F16 ||
	       t == GGML_TYPE_BF16 || t == GGML_TYPE_Q8_0;
}

/* Reads one tensor info record into t (data not yet located) and notes
 * where its fields were in ref. */
static int rd_tensor_info(struct rd *r, struct gguf_tensor *t,
			  struct tref *ref)
{
	char tname[PNAME_LEN], ctx[PNAME_LEN + 12];
	struct gguf_str name;
	uint64_t nel = 1, rows = 1, row;
	uint32_t d, type;
	size_t at = r->pos;

	ref->t = t;
	ref->info_off = at;
	if (rd_str(r, &name, "tensor name", NULL))
		return -1;
	snprintf(ctx, sizeof(ctx), "tensor '%s'", PNAME(tname, name));
	if (name.len > GGUF_NAME_MAX)
		return rd_fail(r, at, "%s: name is %llu bytes, longer than %d",
			       ctx, (unsigned long long)name.len,
			       GGUF_NAME_MAX);
	if (memchr(name.ptr, '\0', name.len))
		return rd_fail(r, at, "%s: name contains a NUL byte", ctx);
	memcpy(t->name, name.ptr, name.len);
	t->name[name.len] = '\0';

	at = r->pos;
	if (rd_u32(r, &t->n_dims, "n_dims", ctx))
		return -1;
	if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
		return rd_fail(r, at, "%s: n_dims %u, expected 1..%d", ctx,
			       t->n_dims, GGUF_MAX_DIMS);
	for (d = 0; d < GGUF_MAX_DIMS; d++)
		t->ne[d] = 1;
	for (d = 0; d < t->n_dims; d++) {
		at = r->pos;
		if (rd_u64(r, &t->ne[d], "dimension", ctx))
			return -1;
		if (t->ne[d] > INT64_MAX)
			return rd_fail(r, at, "%s: ne[%u] = %llu exceeds "
				       "INT64_MAX", ctx, d,
				       (unsigned long long)t->ne[d]);
		if (__builtin_mul_overflow(nel, t->ne[d], &nel) ||
		    nel > INT64_MAX)
			return rd_fail(r, at, "%s: element count overflows "
				       "int64 at ne[%u] = %llu", ctx, d,
				       (unsigned long long)t->ne[d]);
		if (d)
			rows *= t->ne[d];	/* <= nel: cannot overflow */
	}

	at = r->pos;
	if (rd_u32(r, &type, "type", ctx))
		return -1;
	if (!type_supported(type))
		return rd_fail(r, at, "%s has type %s (%u), which q8tune does "
			       "not support (F32, F16, BF16, Q8_0)", ctx,
			       ggml_type_name(type), type);
	t->type = type;
	if (type == GGML_TYPE_Q8_0 && t->ne[0] % 32)
		return rd_fail(r, at, "%s: Q8_0 row length ne[0] = %llu is not "
			       "a multiple of 32", ctx,
			       (unsigned long long)t->ne[0]);
	row = ggml_row_size(type, t->ne[0]);
	if ((row == 0 && t->ne[0] != 0) ||
	    __builtin_mul_overflow(row, rows, &t->size))
		return rd_fail(r, at, "%s: byte size of %llu x %llu %s "
			       "overflows", ctx, (unsigned long long)t->ne[0],
			       (unsigned long long)rows, ggml_type_name(type));

	ref->off_field = r->pos;
	return rd_u64(r, &t->offset, "data offset", ctx);
}

/* qsort orders of tensor refs: by data offset, or by name; ties by
 * position in the file. */
static int tref_by_offset(const void *a, const void *b)
{
	const struct tref *x = a, *y = b;

	if (x->t->offset != y->t->offset)
		return x->t->offset < y->t->offset ? -1 : 1;
	return x->info_off < y->info_off ? -1 : x->info_off > y->info_off;
}

static int tref_by_name(const void *a, const void *b)
{
	const struct tref *x = a, *y = b;
	int c = strcmp(x->t->name, y->t->name);

	if (c)
		return c;
	return x->info_off < y->info_off ? -1 : x->info_off > y->info_off;
}

/* t's name made printable for a message, in buf. */
#define TNAME(buf, t) printable(buf, sizeof(buf), (t)->name, strlen((t)->name))

/* Refuses two tensors with one name, naming the later one; sorts refs. */
static int check_dup_names(struct rd *r, const struct gguf *g,
			   struct tref *refs)
{
	char n1[PNAME_LEN];
	uint64_t i;

	qsort(refs, g->n_tensors, sizeof(*refs), tref_by_name);
	for (i = 1; i < g->n_tensors; i++) {
		if (strcmp(refs[i - 1].t->name, refs[i].t->name))
			continue;
		return rd_fail(r, refs[i].info_off, "tensor '%s': duplicate "
			       "name (first at offset %llu)",
			       TNAME(n1, refs[i].t),
			       (unsigned long long)refs[i - 1].info_off);
	}
	return 0;
}

/* Checks each tensor's data is aligned and inside the file, and points
 * t->data at it. */
static int place_data(struct rd *r, struct gguf *g, const struct tref *refs)
{
	uint64_t i, room = r->n - g->data_offset, s0, s1;
	char n1[PNAME_LEN];

	for (i = 0; i < g->n_tensors; i++) {
		struct gguf_tensor *t = refs[i].t;

		if (t->offset % g->alignment)
			return rd_fail(r, refs[i].off_field, "tensor '%s': data"
				       " offset %llu is not a multiple of the "
				       "alignment %llu", TNAME(n1, t),
				       (unsigned long long)t->offset,
				       (unsigned long long)g->alignment);
		if (t->offset <= room && t->size <= room - t->offset) {
			t->data = r->p + g->data_offset + t->offset;
			continue;
		}
		if (__builtin_add_overflow(g->data_offset, t->offset, &s0) ||
		    __builtin_add_overflow(s0, t->size, &s1))
			return rd_fail(r, refs[i].off_field, "tensor '%s': data"
				       " offset %llu + size %llu overflows",
				       TNAME(n1, t),
				       (unsigned long long)t->offset,
				       (unsigned long long)t->size);
		return rd_fail(r, refs[i].off_field, "tensor '%s': data [%llu, "
			       "%llu) runs past end of file (size %zu)",
			       TNAME(n1, t), (unsigned long long)s0,
			       (unsigned long long)s1, r->n);
	}
	return 0;
}

/* Refuses tensors whose data ranges overlap, naming both; sorts refs.
 * Empty tensors occupy nothing and are skipped. */
static int check_overlap(struct rd *r, const struct gguf *g,
			 struct tref *refs)
{
	const struct gguf_tensor *a = NULL, *b;
	char n1[PNAME_LEN], n2[PNAME_LEN];
	uint64_t i, d = g->data_offset;

	qsort(refs, g->n_tensors, sizeof(*refs), tref_by_offset);
	for (i = 0; i < g->n_tensors; i++) {
		b = refs[i].t;
		if (!b->size)
			continue;
		if (a && a->offset + a->size > b->offset)
			return rd_fail(r, refs[i].off_field, "tensor '%s' data "
				       "[%llu, %llu) overlaps tensor '%s' data "
				       "[%llu, %llu)", TNAME(n1, b),
				       (unsigned long long)(d + b->offset),
				       (unsigned long long)(d + b->offset +
							    b->size),
				       TNAME(n2, a),
				       (unsigned long long)(d + a->offset),
				       (unsigned long long)(d + a->offset +
							    a->size));
		a = b;
	}
	return 0;
}

/* Reads the tensor table and locates the data section and every
 * tensor's data in it.  With no tensors the data section may lie past
 * the end of the file (ggml does not insist on the final padding). */
static int rd_tensors(struct rd *r, struct gguf *g)
{
	struct tref *refs;
	uint64_t i, pad;
	int ret = -1;

	if (!g->n_tensors) {
		pad = (g->alignment - r->pos % g->alignment) % g->alignment;
		g->data_offset = r->pos + pad;
		return 0;
	}
	refs = calloc(g->n_tensors, sizeof(*refs));
	if (!refs)
		return rd_fail(r, r->pos, "out of memory for %llu tensors",
			       (unsigned long long)g->n_tensors);
	for (i = 0; i < g->n_tensors; i++)
		if (rd_tensor_info(r, &g->tensors[i], &refs[i]))
			goto free_refs;
	if (check_dup_names(r, g, refs))
		goto free_refs;

	pad = (g->alignment - r->pos % g->alignment) % g->alignment;
	if (pad > r->n - r->pos) {
		rd_fail(r, r->pos, "data section: padding to alignment %llu "
			"runs past end of file (size %zu)",
			(unsigned long long)g->alignment, r->n);
		goto free_refs;
	}
	g->data_offset = r->pos + pad;
	if (place_data(r, g, refs) || check_overlap(r, g, refs))
		goto free_refs;
	ret = 0;

free_refs:
	free(refs);
	return ret;
}

/* Parses r into g (zeroed, map fields set).  On failure g may hold
 * partial allocations: free_parsed() releases them. */
static int parse(struct rd *r, struct gguf *g)
{
	uint64_t left;
	uint32_t v;

	if (rd_need(r, 4, "magic", NULL))
		return -1;
	if (memcmp(r->p, GGUF_MAGIC, 4)) {
		char m[PNAME_LEN];

		return rd_fail(r, 0, "bad magic '%s', expected 'GGUF' (not a "
			       "GGUF file)", printable(m, sizeof(m), r->p, 4));
	}
	r->pos = 4;
	if (rd_u32(r, &v, "version", NULL))
		return -1;
	if (v == 1)
		return rd_fail(r, 4, "GGUF version 1 (32-bit counts) is not "
			       "supported; only versions 2 and 3 are");
	if (v != 2 && v != 3) {
		if ((v & 0xffff) == 0 && v)
			return rd_fail(r, 4, "version field 0x%08x looks "
				       "big-endian; only little-endian GGUF "
				       "is supported", v);
		return rd_fail(r, 4, "unsupported GGUF version %u (supported:"
			       " 2, 3)", v);
	}
	g->version = v;
	if (rd_u64(r, &g->n_tensors, "n_tensors", NULL) ||
	    rd_u64(r, &g->n_kv, "n_kv", NULL))
		return -1;

	left = r->n - r->pos;
	/* Bound both counts by the bytes left before allocating anything;
	 * each product below is then at most left. */
	if (g->n_kv > left / MIN_KV_BYTES)
		return rd_fail(r, 16, "n_kv %llu cannot fit in the %llu bytes "
			       "that remain", (unsigned long long)g->n_kv,
			       (unsigned long long)left);
	if (g->n_tensors > left / MIN_TENSOR_BYTES ||
	    g->n_kv * MIN_KV_BYTES + g->n_tensors * MIN_TENSOR_BYTES > left)
		return rd_fail(r, 8, "n_tensors %llu (with n_kv %llu) cannot "
			       "fit in the %llu bytes that remain",
			       (unsigned long long)g->n_tensors,
			       (unsigned long long)g->n_kv,
			       (unsigned long long)left);
	if (g->n_kv) {
		g->kv = calloc(g->n_kv, sizeof(*g->kv));
		if (!g->kv)
			return rd_fail(r, 16, "out of memory for %llu keys",
				       (unsigned long long)g->n_kv);
	}
	if (g->n_tensors) {
		g->tensors = calloc(g->n_tensors, sizeof(*g->tensors));
		if (!g->tensors)
			return rd_fail(r, 8, "out of memory for %llu tensors",
				       (unsigned long long)g->n_tensors);
	}
	if (rd_kvs(r, g))
		return -1;
	return rd_tensors(r, g);
}

/* Frees everything g owns except the mapping and g itself. */
static void free_parsed(struct gguf *g)
{
	uint64_t i;

	if (g->kv)
		for (i = 0; i < g->n_kv; i++)
			value_free(&g->kv[i].val);
	free(g->kv);
	free(g->tensors);
	g->kv = NULL;
	g->tensors = NULL;
}

/* Common tail of gguf_open and gguf_open_mem: parses buf into a new
 * handle.  On failure nothing is kept (the caller unmaps). */
static int open_buf(const void *buf, size_t size, const char *name,
		    int mapped, struct gguf **out, char *err, size_t errlen)
{
	struct gguf_priv *p;
	struct rd r = {
		.p = buf, .n = size, .name = name, .err = err,
		.errlen = errlen,
	};

	p = calloc(1, sizeof(*p));
	if (!p)
		return rd_fail(&r, 0, "out of memory");
	snprintf(p->pub.path, sizeof(p->pub.path), "%s", name);
	p->pub.map = buf;
	p->pub.map_size = size;
	p->mapped = mapped;
	if (parse(&r, &p->pub))
		goto free_handle;
	*out = &p->pub;
	return 0;

free_handle:
	free_parsed(&p->pub);
	free(p);
	return -1;
}

/* Parses the caller's buf (kept, not copied: it must outlive the handle).
 * 0 with *out, or -1 with *out NULL and a message naming name. */
int gguf_open_mem(const void *buf, size_t size, const char *name,
		  struct gguf **out, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	*out = NULL;
	if (!name)
		name = "<memory>";
	if (!buf && size) {
		if (err && errlen)
			snprintf(err, errlen, "%s: no buffer", name);
		return -1;
	}
	return open_buf(buf ? buf : "", size, name, 0, out, err, errlen);
}

/* Writes "path: <what>: <strerror(e)>" or "path: <what>". Returns -1. */
static int file_fail(char *err, size_t errlen, const char *path,
		     const char *what, int e)
{
	if (err && errlen) {
		if (e)
			snprintf(err, errlen, "%s: %s: %s", path, what,
				 strerror(e));
		else
			snprintf(err, errlen, "%s: %s", path, what);
	}
	return -1;
}

/* --- a mapped file that shrinks ---------------------------------------------
 *
 * Reading a page of a mapping past the end of its file raises SIGBUS: a
 * model truncated or rewritten while it is in use would kill the process
 * with no word.  Every mapping gguf_open makes is listed here (a fixed
 * table of lock-free slots, readable from a signal handler), and the
 * handler that gguf_guard_sigbus installs turns a bus error inside one of
 * them into one line naming the file, then _exit(1).  A bus error
 * anywhere else gets the default action. */

#define GUARD_SLOTS 32

static struct guard {
	_Atomic(uintptr_t) lo;	/* 0: free; set last, cleared first */
	uintptr_t hi;
	char path[512];
} guards[GUARD_SLOTS];
static const char *guard_prog = "q8tune";

static void guard_add(const void *map, size_t n, const char *path)
{
	for (int i = 0; i < GUARD_SLOTS; i++) {
		uintptr_t free_slot = 0;
		/* claim with a placeholder, fill, then publish the range */
		if (!atomic_compare_exchange_strong(&guards[i].lo, &free_slot, 1))
			continue;
		guards[i].hi = (uintptr_t)map + n;
		snprintf(guards[i].path, sizeof guards[i].path, "%s", path);
		atomic_store(&guards[i].lo, (uintptr_t)map);
		return;
	}
	/* more than GUARD_SLOTS files at once: this one is not named */
}

static void guard_remove(const void *map)
{
	for (int i = 0; i < GUARD_SLOTS; i++)
		if (atomic_load(&guards[i].lo) == (uintptr_t)map) {
			atomic_store(&guards[i].lo, 0);
			return;
		}
}

static void say(const char *s)
{
	(void)!write(2, s, strlen(s));
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	const uintptr_t a = (uintptr_t)si->si_addr;

	(void)uc;
	for (int i = 0; i < GUARD_SLOTS; i++) {
		const uintptr_t lo = atomic_load(&guards[i].lo);
		if (lo > 1 && a >= lo && a < guards[i].hi) {
			say(guard_prog);
			say(": ");
			say(guards[i].path);
			say(": the file changed while in use (truncated or rewritten?): "
			    "a page of it can no longer be read\n");
			_exit(1);
		}
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

void gguf_guard_sigbus(const char *prog)
{
	struct sigaction sa = { .sa_sigaction = on_sigbus,
				.sa_flags = SA_SIGINFO };

	guard_prog = prog;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
}

/* Maps path read-only and parses it; the handle owns the mapping.  0 with
 * *out, or -1 with *out NULL and a message naming path. */
int gguf_open(const char *path, struct gguf **out, char *err, size_t errlen)
{
	struct stat st;
	void *map;
	int fd;

	if (err && errlen)
		err[0] = '\0';
	*out = NULL;
	/* O_NONBLOCK: opening a FIFO with no writer would block forever;
	 * it is refused below as not a regular file.  (mmap ignores it.) */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return file_fail(err, errlen, path, "cannot open", errno);
	if (fstat(fd, &st)) {
		file_fail(err, errlen, path, "cannot stat", errno);
		goto close_fd;
	}
	if (!S_ISREG(st.st_mode)) {
		file_fail(err, errlen, path, S_ISDIR(st.st_mode) ?
			  "is a directory, not a regular file" :
			  S_ISFIFO(st.st_mode) ? "is a FIFO, not a regular file" :
			  "not a regular file", 0);
		goto close_fd;
	}
	if (st.st_size == 0) {
		file_fail(err, errlen, path, "empty file (0 bytes), not GGUF",
			  0);
		goto close_fd;
	}
	if ((uint64_t)st.st_size > SIZE_MAX) {
		file_fail(err, errlen, path, "too large to map", 0);
		goto close_fd;
	}
	map = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		file_fail(err, errlen, path, "cannot mmap", errno);
		goto close_fd;
	}
	close(fd);
	guard_add(map, st.st_size, path);
	if (open_buf(map, st.st_size, path, 1, out, err, errlen))
		goto unmap;
	return 0;

unmap:
	guard_remove(map);
	munmap(map, st.st_size);
	return -1;
close_fd:
	close(fd);
	return -1;
}

/* Frees g and, if gguf_open mapped it, its mapping.  NULL is a no-op. */
void gguf_close(struct gguf *g)
{
	struct gguf_priv *p;

	if (!g)
		return;
	p = (struct gguf_priv *)((char *)g - offsetof(struct gguf_priv, pub));
	free_parsed(g);
	if (p->mapped) {
		guard_remove(g->map);
		munmap((void *)g->map, g->map_size);
	}
	free(p);
}

/* The key/value with this key, or NULL.  Linear search: files hold a few
 * dozen keys. */
const struct gguf_kv *gguf_find(const struct gguf *g, const char *key)
{
	size_t n = strlen(key);
	uint64_t i;

	for (i = 0; i < g->n_kv; i++)
		if (g->kv[i].key.len == n && !memcmp(g->kv[i].key.ptr, key, n))
			return &g->kv[i];
	return NULL;
}

/* The tensor called name, or NULL; linear search too. */
const struct gguf_tensor *gguf_find_tensor(const struct gguf *g,
					   const char *name)
{
	uint64_t i;

	for (i = 0; i < g->n_tensors; i++)
		if (!strcmp(g->tensors[i].name, name))
			return &g->tensors[i];
	return NULL;
}

/* Writes "path: offset N: key 'k': <fmt>" for a getter.  Returns -1. */
static int __attribute__((format(printf, 5, 6)))
get_fail(const struct gguf *g, const struct gguf_kv *kv, char *err,
	 size_t errlen, const char *fmt, ...)
{
	char kname[PNAME_LEN];
	va_list ap;
	int k;

	if (!err || !errlen)
		return -1;
	k = snprintf(err, errlen, "%s: offset %llu: key '%s': ", g->path,
		     (unsigned long long)kv->offset, PNAME(kname, kv->key));
	if (k < 0 || (size_t)k >= errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err + k, errlen - k, fmt, ap);
	va_end(ap);
	return -1;
}

/* Unsigned / signed integer value types (BOOL is neither). */
static int vtype_unsigned(uint32_t t)
{
	return t == GGUF_T_U8 || t == GGUF_T_U16 || t == GGUF_T_U32 ||
	       t == GGUF_T_U64;
}

static int vtype_signed(uint32_t t)
{
	return t == GGUF_T_I8 || t == GGUF_T_I16 || t == GGUF_T_I32 ||
	       t == GGUF_T_I64;
}

/* 0 with *out set, 1 if absent, -1 if not an integer in [0, UINT32_MAX]. */
int gguf_get_u32(const struct gguf *g, const char *key, uint32_t *out,
		 char *err, size_t errlen)
{
	const struct gguf_kv *kv = gguf_find(g, key);
	const struct gguf_value *v;

	if (!kv)
		return 1;
	v = &kv->val;
	if (vtype_unsigned(v->type)) {
		if (v->v.u > UINT32_MAX)
			return get_fail(g, kv, err, errlen, "value %llu does "
					"not fit u32",
					(unsigned long long)v->v.u);
		*out = (uint32_t)v->v.u;
		return 0;
	}
	if (vtype_signed(v->type)) {
		if (v->v.i < 0 || v->v.i > (int64_t)UINT32_MAX)
			return get_fail(g, kv, err, errlen, "value %lld does "
					"not fit u32", (long long)v->v.i);
		*out = (uint32_t)v->v.i;
		return 0;
	}
	return get_fail(g, kv, err, errlen, "type %s, expected an integer",
			gguf_vtype_name(v->type));
}

/* Accepts F32 and F64 (narrowed). */
int gguf_get_f32(const struct gguf *g, const char *key, float *out,
		 char *err, size_t errlen)
{
	const struct gguf_kv *kv = gguf_find(g, key);

	if (!kv)
		return 1;
	if (kv->val.type != GGUF_T_F32 && kv->val.type != GGUF_T_F64)
		return get_fail(g, kv, err, errlen, "type %s, expected F32",
				gguf_vtype_name(kv->val.type));
	*out = (float)kv->val.v.f;
	return 0;
}

/* *out is 0 or 1. */
int gguf_get_bool(const struct gguf *g, const char *key, int *out,
		  char *err, size_t errlen)
{
	const struct gguf_kv *kv = gguf_find(g, key);

	if (!kv)
		return 1;
	if (kv->val.type != GGUF_T_BOOL)
		return get_fail(g, kv, err, errlen, "type %s, expected BOOL",
				gguf_vtype_name(kv->val.type));
	*out = kv->val.v.u != 0;
	return 0;
}

/* out->ptr points into the file and is not NUL-terminated. */
int gguf_get_str(const struct gguf *g, const char *key, struct gguf_str *out,
		 char *err, size_t errlen)
{
	const struct gguf_kv *kv = gguf_find(g, key);

	if (!kv)
		return 1;
	if (kv->val.type != GGUF_T_STRING)
		return get_fail(g, kv, err, errlen, "type %s, expected STRING",
				gguf_vtype_name(kv->val.type));
	*out = kv->val.v.s;
	return 0;
}

/* *out is the ARRAY value itself (owned by g); its v.arr.n is the length. */
int gguf_get_arr(const struct gguf *g, const char *key, enum gguf_vtype etype,
		 const struct gguf_value **out, char *err, size_t errlen)
{
	const struct gguf_kv *kv = gguf_find(g, key);

	if (!kv)
		return 1;
	if (kv->val.type != GGUF_T_ARRAY)
		return get_fail(g, kv, err, errlen, "type %s, expected an "
				"array of %s", gguf_vtype_name(kv->val.type),
				gguf_vtype_name(etype));
	if (kv->val.v.arr.type != etype)
		return get_fail(g, kv, err, errlen, "array of %s, expected an "
				"array of %s",
				gguf_vtype_name(kv->val.v.arr.type),
				gguf_vtype_name(etype));
	*out = &kv->val;
	return 0;
}

/* Decodes scalar element i of array a; 0 if a is not such an array or i
 * is out of range (a programmer error). */
static int arr_elem(const struct gguf_value *a, uint64_t i,
		    struct gguf_value *e)
{
	size_t sz;

	if (a->type != GGUF_T_ARRAY || i >= a->v.arr.n)
		return 0;
	sz = vtype_size(a->v.arr.type);
	if (!sz || !a->v.arr.raw)
		return 0;
	e->type = a->v.arr.type;
	decode_scalar(e, a->v.arr.type, a->v.arr.raw + i * sz);
	return 1;
}

/* Any numeric array element as float; 0 for bad a or i. */
float gguf_arr_f32(const struct gguf_value *a, uint64_t i)
{
	struct gguf_value e;

	if (!arr_elem(a, i, &e))
		return 0.0f;
	if (e.type == GGUF_T_F32 || e.type == GGUF_T_F64)
		return (float)e.v.f;
	if (vtype_signed(e.type))
		return (float)e.v.i;
	return (float)e.v.u;
}

/* Integer or BOOL element as int64 (U64 above INT64_MAX wraps); float
 * elements truncate toward zero; 0 for bad a or i. */
int64_t gguf_arr_int(const struct gguf_value *a, uint64_t i)
{
	struct gguf_value e;

	if (!arr_elem(a, i, &e))
		return 0;
	if (e.type == GGUF_T_F32 || e.type == GGUF_T_F64) {
		if (!(e.v.f > -9.2e18 && e.v.f < 9.2e18))
			return 0;
		return (int64_t)e.v.f;
	}
	if (vtype_signed(e.type))
		return e.v.i;
	return (int64_t)e.v.u;
}

/* 0 also when the size overflows u64. */
uint64_t ggml_row_size(enum ggml_type t, uint64_t ne0)
{
	uint64_t n;

	switch (t) {
	case GGML_TYPE_F32:
		return __builtin_mul_overflow(ne0, 4, &n) ? 0 : n;
	case GGML_TYPE_F16:
	case GGML_TYPE_BF16:
		return __builtin_mul_overflow(ne0, 2, &n) ? 0 : n;
	case GGML_TYPE_Q8_0:
		if (ne0 % 32)
			return 0;
		return (ne0 / 32) * 34;	/* 2-byte scale + 32 quants */
	}
	return 0;
}

/* Names of every ggml type, so refusals say what the file holds. */
static const char *const ggml_names[] = {
	[0] = "F32", [1] = "F16", [2] = "Q4_0", [3] = "Q4_1",
	[6] = "Q5_0", [7] = "Q5_1", [8] = "Q8_0", [9] = "Q8_1",
	[10] = "Q2_K", [11] = "Q3_K", [12] = "Q4_K", [13] = "Q5_K",
	[14] = "Q6_K", [15] = "Q8_K", [16] = "IQ2_XXS", [17] = "IQ2_XS",
	[18] = "IQ3_XXS", [19] = "IQ1_S", [20] = "IQ4_NL", [21] = "IQ3_S",
	[22] = "IQ2_S", [23] = "IQ4_XS", [24] = "I8", [25] = "I16",
	[26] = "I32", [27] = "I64", [28] = "F64", [29] = "IQ1_M",
	[30] = "BF16", [34] = "TQ1_0", [35] = "TQ2_0", [39] = "MXFP4",
};

/* Static name, or "type N" in a thread-local buffer. */
const char *ggml_type_name(uint32_t t)
{
	static _Thread_local char buf[24];

	if (t < sizeof(ggml_names) / sizeof(ggml_names[0]) && ggml_names[t])
		return ggml_names[t];
	snprintf(buf, sizeof(buf), "type %u", t);
	return buf;
}

static const char *const vtype_names[] = {
	"U8", "I8", "U16", "I16", "U32", "I32", "F32", "BOOL", "STRING",
	"ARRAY", "U64", "I64", "F64",
};

/* Static name, or "type N" in a thread-local buffer. */
const char *gguf_vtype_name(uint32_t t)
{
	static _Thread_local char buf[24];

	if (t < sizeof(vtype_names) / sizeof(vtype_names[0]))
		return vtype_names[t];
	snprintf(buf, sizeof(buf), "type %u", t);
	return buf;
}

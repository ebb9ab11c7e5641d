/* test_gguf.c - the GGUF reader and writer against good, hand-made bad,
 * truncated and randomly corrupted files, and the real stories260K files.
 *
 * Also built alone with ASan + UBSan (build/gguf-san, Q8_SANITIZED) with
 * only model/gguf.c and model/gguf_write.c: use nothing else.  Buffers
 * handed to the reader for failure cases are exact-size heap copies, so
 * any read past the end is caught there. */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common.h"
#include "gguf.h"
#include "gguf_write.h"

#define NAME "test.gguf"

/* ------------------------------------------------------------------ */
/* A byte builder for hand-made files.                                 */

struct bb {
	uint8_t *p;
	size_t n, cap;
};

/* Appends n bytes; aborts the test on allocation failure. */
static void bb_raw(struct bb *b, const void *s, size_t n)
{
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;

		while (cap < b->n + n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		cr_assert(b->p, "out of memory");
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->n, s, n);
	b->n += n;
}

static void bb_u8(struct bb *b, uint8_t v)
{
	bb_raw(b, &v, 1);
}

static void bb_u16(struct bb *b, uint16_t v)
{
	uint8_t x[2] = { v, v >> 8 };

	bb_raw(b, x, 2);
}

static void bb_u32(struct bb *b, uint32_t v)
{
	uint8_t x[4] = { v, v >> 8, v >> 16, v >> 24 };

	bb_raw(b, x, 4);
}

static void bb_u64(struct bb *b, uint64_t v)
{
	bb_u32(b, (uint32_t)v);
	bb_u32(b, (uint32_t)(v >> 32));
}

static void bb_f32(struct bb *b, float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	bb_u32(b, u);
}

static void bb_f64(struct bb *b, double d)
{
	uint64_t u;

	memcpy(&u, &d, 8);
	bb_u64(b, u);
}

static void bb_str(struct bb *b, const char *s)
{
	bb_u64(b, strlen(s));
	bb_raw(b, s, strlen(s));
}

static void bb_zeros(struct bb *b, size_t n)
{
	while (n--)
		bb_u8(b, 0);
}

static void bb_pad(struct bb *b, size_t align)
{
	while (b->n % align)
		bb_u8(b, 0);
}

static void bb_header(struct bb *b, uint32_t version, uint64_t n_tensors,
		      uint64_t n_kv)
{
	bb_raw(b, "GGUF", 4);
	bb_u32(b, version);
	bb_u64(b, n_tensors);
	bb_u64(b, n_kv);
}

/* Key and value type; the caller appends the value. */
static void bb_key(struct bb *b, const char *key, uint32_t type)
{
	bb_str(b, key);
	bb_u32(b, type);
}

/* Array head: element type and count; the caller appends elements. */
static void bb_arr(struct bb *b, uint32_t etype, uint64_t n)
{
	bb_u32(b, etype);
	bb_u64(b, n);
}

struct ti {
	const char *name;
	uint32_t n_dims;
	uint64_t ne[5];
	uint32_t type;
	uint64_t offset;
};

static void bb_tinfo(struct bb *b, const struct ti *t)
{
	uint32_t d;

	bb_str(b, t->name);
	bb_u32(b, t->n_dims);
	for (d = 0; d < t->n_dims; d++)
		bb_u64(b, t->ne[d]);
	bb_u32(b, t->type);
	bb_u64(b, t->offset);
}

/* A v3 file: one string key, the tensors in t, padding to 32, then
 * data_bytes of 0x5a. */
static void bb_file(struct bb *b, const struct ti *t, int nt,
		    size_t data_bytes)
{
	int i;

	bb_header(b, 3, nt, 1);
	bb_key(b, "general.architecture", GGUF_T_STRING);
	bb_str(b, "llama");
	for (i = 0; i < nt; i++)
		bb_tinfo(b, &t[i]);
	bb_pad(b, 32);
	while (data_bytes--)
		bb_u8(b, 0x5a);
}

/* ------------------------------------------------------------------ */
/* Opening helpers.                                                    */

/* Opens an exact-size heap copy of buf.  Returns the handle; *copy must
 * be freed after gguf_close. */
static struct gguf *open_copy(const void *buf, size_t n, uint8_t **copy,
			      char *err, size_t errlen)
{
	struct gguf *g = (struct gguf *)0x1;	/* must be reset */

	*copy = malloc(n ? n : 1);
	cr_assert(*copy);
	if (n)
		memcpy(*copy, buf, n);
	if (gguf_open_mem(*copy, n, NAME, &g, err, errlen)) {
		cr_assert_null(g, "failed open left *out set");
		return NULL;
	}
	cr_assert_not_null(g);
	return g;
}

/* Asserts buf opens; returns the handle (close it, then free *copy). */
static struct gguf *open_ok(const struct bb *b, uint8_t **copy)
{
	char err[512] = "";
	struct gguf *g = open_copy(b->p, b->n, copy, err, sizeof(err));

	cr_assert_not_null(g, "expected success, got: %s", err);
	return g;
}

/* Asserts the message is one non-empty line naming the file. */
static void check_msg(const char *err)
{
	cr_assert(err[0], "empty error message");
	cr_assert(!strchr(err, '\n'), "message is not one line: %s", err);
	cr_assert(strstr(err, NAME), "message lacks the file name: %s", err);
}

/* Asserts buf[0..n) is refused with a one-line message naming the file,
 * a byte offset, and containing s1 and s2 (if not NULL). */
static void expect_fail(const void *buf, size_t n, const char *s1,
			const char *s2)
{
	char err[512] = "";
	uint8_t *copy;
	struct gguf *g = open_copy(buf, n, &copy, err, sizeof(err));

	if (g)
		gguf_close(g);
	free(copy);
	cr_assert_null(g, "expected failure (want '%s'), got success",
		       s1 ? s1 : "");
	check_msg(err);
	cr_assert(strstr(err, "offset "), "message lacks an offset: %s", err);
	cr_assert(!s1 || strstr(err, s1), "message lacks '%s': %s", s1, err);
	cr_assert(!s2 || strstr(err, s2), "message lacks '%s': %s", s2, err);
}

static void expect_fail_bb(struct bb *b, const char *s1, const char *s2)
{
	expect_fail(b->p, b->n, s1, s2);
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static int str_is(struct gguf_str s, const char *c)
{
	return s.len == strlen(c) && !memcmp(s.ptr, c, s.len);
}

static const struct gguf_value *val(const struct gguf *g, const char *key,
				    enum gguf_vtype type)
{
	const struct gguf_kv *kv = gguf_find(g, key);

	cr_assert_not_null(kv, "key %s missing", key);
	cr_assert_eq(kv->val.type, type, "key %s: type %d, want %d", key,
		     kv->val.type, type);
	return &kv->val;
}

/* ------------------------------------------------------------------ */
/* Writer round trip.                                                  */

static uint8_t tdata[4][512];

static void fill(void)
{
	int i, j;

	for (i = 0; i < 4; i++)
		for (j = 0; j < 512; j++)
			tdata[i][j] = (uint8_t)(i * 61 + j * 7 + 1);
}

/* The writer with every adder used; alignment 0 means default. */
static struct gguf_writer *rich_writer(uint32_t alignment)
{
	static const char *const toks[] = { "<unk>", "", "h\xc3\xa9llo" };
	static const float f[] = { 1.5f, -2.0f, 1e30f };
	static const int32_t iv[] = { -1, 0, INT32_MAX, INT32_MIN };
	static const uint64_t ne_f32[] = { 5, 3 }, ne_f16[] = { 7 },
		ne_bf16[] = { 3, 2, 2 }, ne_q8[] = { 64, 2 },
		ne_4d[] = { 1, 2, 3, 4 };
	struct gguf_writer *w = gguf_w_new();

	cr_assert_not_null(w);
	fill();
	if (alignment)
		cr_assert_eq(gguf_w_u32(w, "general.alignment", alignment), 0);
	cr_assert_eq(gguf_w_str(w, "general.architecture", "llama"), 0);
	cr_assert_eq(gguf_w_u32(w, "t.u32", 0xdeadbeefu), 0);
	cr_assert_eq(gguf_w_i32(w, "t.i32", -123456), 0);
	cr_assert_eq(gguf_w_f32(w, "t.f32", 3.25f), 0);
	cr_assert_eq(gguf_w_bool(w, "t.true", 7), 0);
	cr_assert_eq(gguf_w_bool(w, "t.false", 0), 0);
	cr_assert_eq(gguf_w_str(w, "t.empty", ""), 0);
	cr_assert_eq(gguf_w_arr_str(w, "t.toks", toks, 3), 0);
	cr_assert_eq(gguf_w_arr_f32(w, "t.scores", f, 3), 0);
	cr_assert_eq(gguf_w_arr_i32(w, "t.ints", iv, 4), 0);
	cr_assert_eq(gguf_w_arr_i32(w, "t.none", NULL, 0), 0);
	cr_assert_eq(gguf_w_tensor(w, "t.f32", GGML_TYPE_F32, 2, ne_f32,
				   tdata[0]), 0);
	cr_assert_eq(gguf_w_tensor(w, "t.f16", GGML_TYPE_F16, 1, ne_f16,
				   tdata[1]), 0);
	cr_assert_eq(gguf_w_tensor(w, "t.bf16", GGML_TYPE_BF16, 3, ne_bf16,
				   tdata[2]), 0);
	cr_assert_eq(gguf_w_tensor(w, "t.q8", GGML_TYPE_Q8_0, 2, ne_q8,
				   tdata[3]), 0);
	cr_assert_eq(gguf_w_tensor(w, "t.4d", GGML_TYPE_F32, 4, ne_4d,
				   tdata[0]), 0);
	return w;
}

/* n_kv: 11, plus general.alignment if it was set. */
static void check_rich(const struct gguf *g, uint64_t align, uint64_t n_kv)
{
	static const struct {
		const char *name;
		enum ggml_type type;
		uint32_t n_dims;
		uint64_t ne[4], size;
		int data;
	} want[] = {
		{ "t.f32", GGML_TYPE_F32, 2, { 5, 3, 1, 1 }, 60, 0 },
		{ "t.f16", GGML_TYPE_F16, 1, { 7, 1, 1, 1 }, 14, 1 },
		{ "t.bf16", GGML_TYPE_BF16, 3, { 3, 2, 2, 1 }, 24, 2 },
		{ "t.q8", GGML_TYPE_Q8_0, 2, { 64, 2, 1, 1 }, 136, 3 },
		{ "t.4d", GGML_TYPE_F32, 4, { 1, 2, 3, 4 }, 96, 0 },
	};
	const struct gguf_value *v;
	uint64_t prev_end = 0;
	unsigned i, d;

	cr_assert_eq(g->version, 3);
	cr_assert_eq(g->alignment, align);
	cr_assert_eq(g->data_offset % align, 0);
	cr_assert_eq(g->n_kv, n_kv);
	cr_assert(str_is(val(g, "general.architecture", GGUF_T_STRING)->v.s,
			 "llama"));
	cr_assert_eq(val(g, "t.u32", GGUF_T_U32)->v.u, 0xdeadbeefu);
	cr_assert_eq(val(g, "t.i32", GGUF_T_I32)->v.i, -123456);
	cr_assert_eq(val(g, "t.f32", GGUF_T_F32)->v.f, 3.25);
	cr_assert_eq(val(g, "t.true", GGUF_T_BOOL)->v.u, 1);
	cr_assert_eq(val(g, "t.false", GGUF_T_BOOL)->v.u, 0);
	cr_assert(str_is(val(g, "t.empty", GGUF_T_STRING)->v.s, ""));

	v = val(g, "t.toks", GGUF_T_ARRAY);
	cr_assert_eq(v->v.arr.type, GGUF_T_STRING);
	cr_assert_eq(v->v.arr.n, 3);
	cr_assert_eq(v->v.arr.items[0].type, GGUF_T_STRING);
	cr_assert(str_is(v->v.arr.items[0].v.s, "<unk>"));
	cr_assert(str_is(v->v.arr.items[1].v.s, ""));
	cr_assert(str_is(v->v.arr.items[2].v.s, "h\xc3\xa9llo"));

	v = val(g, "t.scores", GGUF_T_ARRAY);
	cr_assert_eq(v->v.arr.type, GGUF_T_F32);
	cr_assert_eq(v->v.arr.n, 3);
	cr_assert_eq(gguf_arr_f32(v, 0), 1.5f);
	cr_assert_eq(gguf_arr_f32(v, 1), -2.0f);
	cr_assert_eq(gguf_arr_f32(v, 2), 1e30f);

	v = val(g, "t.ints", GGUF_T_ARRAY);
	cr_assert_eq(v->v.arr.type, GGUF_T_I32);
	cr_assert_eq(v->v.arr.n, 4);
	cr_assert_eq(gguf_arr_int(v, 0), -1);
	cr_assert_eq(gguf_arr_int(v, 1), 0);
	cr_assert_eq(gguf_arr_int(v, 2), INT32_MAX);
	cr_assert_eq(gguf_arr_int(v, 3), INT32_MIN);
	cr_assert_eq(gguf_arr_f32(v, 0), -1.0f);

	v = val(g, "t.none", GGUF_T_ARRAY);
	cr_assert_eq(v->v.arr.type, GGUF_T_I32);
	cr_assert_eq(v->v.arr.n, 0);

	cr_assert_eq(g->n_tensors, 5);
	for (i = 0; i < 5; i++) {
		const struct gguf_tensor *t = &g->tensors[i];

		cr_assert_str_eq(t->name, want[i].name);
		cr_assert_eq(gguf_find_tensor(g, want[i].name), t);
		cr_assert_eq(t->type, want[i].type, "%s", t->name);
		cr_assert_eq(t->n_dims, want[i].n_dims, "%s", t->name);
		for (d = 0; d < 4; d++)
			cr_assert_eq(t->ne[d], want[i].ne[d], "%s ne[%u]",
				     t->name, d);
		cr_assert_eq(t->size, want[i].size, "%s", t->name);
		cr_assert_eq(t->offset % align, 0, "%s", t->name);
		cr_assert_geq(t->offset, prev_end, "%s", t->name);
		prev_end = t->offset + t->size;
		cr_assert_eq((const uint8_t *)t->data,
			     g->map + g->data_offset + t->offset);
		cr_assert_eq(memcmp(t->data, tdata[want[i].data], t->size), 0,
			     "%s data differs", t->name);
	}
	cr_assert_null(gguf_find_tensor(g, "t.missing"));
	cr_assert_null(gguf_find(g, "t.missing"));
	cr_assert_null(gguf_find(g, "t"));	/* prefix is not a match */
}

Test(gguf, roundtrip_writer)
{
	static const uint32_t aligns[] = { 0, 32, 64, 1, 256 };
	char err[256];
	unsigned k;

	for (k = 0; k < sizeof(aligns) / sizeof(aligns[0]); k++) {
		struct gguf_writer *w = rich_writer(aligns[k]);
		uint64_t a = aligns[k] ? aligns[k] : 32;
		struct gguf *g;
		uint8_t *buf;
		size_t n;

		cr_assert_eq(gguf_w_to_mem(w, &buf, &n, err, sizeof(err)), 0,
			     "%s", err);
		/* ggml pads every tensor, the last one too. */
		cr_assert_eq(n % a, 0, "size %zu, alignment %llu", n,
			     (unsigned long long)a);
		cr_assert_eq(gguf_open_mem(buf, n, NAME, &g, err, sizeof(err)),
			     0, "alignment %llu: %s", (unsigned long long)a,
			     err);
		cr_assert_eq(g->map, buf);
		cr_assert_eq(g->map_size, n);
		check_rich(g, a, aligns[k] ? 12 : 11);
		gguf_close(g);
		free(buf);
		gguf_w_free(w);
	}
}

Test(gguf, getters)
{
	struct gguf_writer *w = rich_writer(0);
	const struct gguf_value *a;
	struct gguf_str s;
	char err[256];
	struct gguf *g;
	uint8_t *buf;
	uint32_t u = 77;
	float f = 9.0f;
	int b = 5;
	size_t n;

	cr_assert_eq(gguf_w_to_mem(w, &buf, &n, err, sizeof(err)), 0);
	cr_assert_eq(gguf_open_mem(buf, n, NAME, &g, err, sizeof(err)), 0);

	cr_assert_eq(gguf_get_u32(g, "t.u32", &u, err, sizeof(err)), 0);
	cr_assert_eq(u, 0xdeadbeefu);
	u = 77;
	cr_assert_eq(gguf_get_u32(g, "absent", &u, err, sizeof(err)), 1);
	cr_assert_eq(u, 77, "absent key touched out");
	err[0] = '\0';
	cr_assert_eq(gguf_get_u32(g, "t.i32", &u, err, sizeof(err)), -1,
		     "negative I32 accepted as u32");
	cr_assert(strstr(err, "t.i32") && strstr(err, NAME), "%s", err);
	cr_assert_eq(u, 77);
	cr_assert_eq(gguf_get_u32(g, "t.f32", &u, err, sizeof(err)), -1);
	cr_assert_eq(gguf_get_u32(g, "t.toks", &u, err, sizeof(err)), -1);
	cr_assert_eq(gguf_get_u32(g, "t.true", &u, err, sizeof(err)), -1);

	cr_assert_eq(gguf_get_f32(g, "t.f32", &f, err, sizeof(err)), 0);
	cr_assert_eq(f, 3.25f);
	cr_assert_eq(gguf_get_f32(g, "t.u32", &f, err, sizeof(err)), -1);
	cr_assert_eq(gguf_get_f32(g, "absent", &f, err, sizeof(err)), 1);

	cr_assert_eq(gguf_get_bool(g, "t.true", &b, err, sizeof(err)), 0);
	cr_assert_eq(b, 1);
	cr_assert_eq(gguf_get_bool(g, "t.false", &b, err, sizeof(err)), 0);
	cr_assert_eq(b, 0);
	cr_assert_eq(gguf_get_bool(g, "t.u32", &b, err, sizeof(err)), -1);

	cr_assert_eq(gguf_get_str(g, "general.architecture", &s, err,
				  sizeof(err)), 0);
	cr_assert(str_is(s, "llama"));
	cr_assert_eq(gguf_get_str(g, "t.toks", &s, err, sizeof(err)), -1);
	cr_assert(strstr(err, "t.toks"), "%s", err);

	cr_assert_eq(gguf_get_arr(g, "t.toks", GGUF_T_STRING, &a, err,
				  sizeof(err)), 0);
	cr_assert_eq(a->v.arr.n, 3);
	cr_assert_eq(gguf_get_arr(g, "t.toks", GGUF_T_I32, &a, err,
				  sizeof(err)), -1, "wrong element type");
	cr_assert(strstr(err, "STRING") && strstr(err, "I32"), "%s", err);
	cr_assert_eq(gguf_get_arr(g, "t.u32", GGUF_T_U32, &a, err,
				  sizeof(err)), -1, "scalar as array");
	cr_assert_eq(gguf_get_arr(g, "absent", GGUF_T_U32, &a, err,
				  sizeof(err)), 1);

	gguf_close(g);
	free(buf);
	gguf_w_free(w);
}

/* ------------------------------------------------------------------ */
/* Every value type, by hand, in v3 and v2.                            */

static void bb_all_types(struct bb *b, uint32_t version)
{
	int d;

	bb_header(b, version, 3, 26);
	bb_key(b, "u8", GGUF_T_U8);
	bb_u8(b, 200);
	bb_key(b, "i8", GGUF_T_I8);
	bb_u8(b, (uint8_t)-100);
	bb_key(b, "u16", GGUF_T_U16);
	bb_u16(b, 60000);
	bb_key(b, "i16", GGUF_T_I16);
	bb_u16(b, (uint16_t)-30000);
	bb_key(b, "u32", GGUF_T_U32);
	bb_u32(b, 4000000000u);
	bb_key(b, "i32", GGUF_T_I32);
	bb_u32(b, (uint32_t)-2000000000);
	bb_key(b, "f32", GGUF_T_F32);
	bb_f32(b, 0.5f);
	bb_key(b, "bool", GGUF_T_BOOL);
	bb_u8(b, 1);
	bb_key(b, "str", GGUF_T_STRING);
	bb_str(b, "str");
	bb_key(b, "u64", GGUF_T_U64);
	bb_u64(b, (1ull << 63) + 5);
	bb_key(b, "i64", GGUF_T_I64);
	bb_u64(b, (uint64_t)-(1ll << 62));
	bb_key(b, "f64", GGUF_T_F64);
	bb_f64(b, 1e300);
	bb_key(b, "a.u8", GGUF_T_ARRAY);
	bb_arr(b, GGUF_T_U8, 3);
	bb_u8(b, 1);
	bb_u8(b, 2);
	bb_u8(b, 255);
	bb_key(b, "a.i8", GGUF_T_ARRAY);
	bb_arr(b, GGUF_T_I8, 2);
	bb_u8(b, (uint8_t)-128);
	bb_u8(b, 127);
	bb_key(b, "a.u16", GGUF_T_ARRAY);
	bb_arr(b, GGUF_T_U16, 1);
	bb_u16(b, 65535);
	bb_key(b, "a.i16", GGUF_T_ARRAY);
	bb_arr(b, GGUF_T_I16, 2);
	bb_u16(b, (uint16_t)-2);
	bb_u16(b, 3);
	bb_key(b, "a.u32", GGUF_T_ARRAY);
	bb_arr(b, GGUF_T_U32, 1);
	bb_u32(b, UINT32_MAX);
	bb_key(b, "a.bool", GGUF_T_ARRAY);
	bb_arr(b, GGUF_T_BOOL, 3);
	bb_u8(b, 1);
	bb_u8(b, 0);
	bb_u8(b, 1);
	bb_key(b, "a.u64", GGUF_T_ARRAY);
	bb_arr(b, GGUF_T_U64, 2);
	bb_u64(b, UINT64_MAX);
	bb_u64(b, 1);
	bb_key(b, "a.i64", GGUF_T_ARRAY);
	bb_arr(b, GGUF_T_I64, 1);
	bb_u64(b, (uint64_t)INT64_MIN);
	bb_key(b, "a.f64", GGUF_T_ARRAY);
	bb_arr(b, GGUF_T_F64, 1);
	bb_f64(b, -0.25);
	bb_key(b, "a.str", GGUF_T_ARRAY);
	bb_arr(b, GGUF_T_STRING, 3);
	bb_str(b, "x");
	bb_str(b, "yz");
	bb_str(b, "");
	/* [[7, 8], ["q"], [[9]], []] */
	bb_key(b, "a.nest", GGUF_T_ARRAY);
	bb_arr(b, GGUF_T_ARRAY, 4);
	bb_arr(b, GGUF_T_I32, 2);
	bb_u32(b, 7);
	bb_u32(b, 8);
	bb_arr(b, GGUF_T_STRING, 1);
	bb_str(b, "q");
	bb_arr(b, GGUF_T_ARRAY, 1);
	bb_arr(b, GGUF_T_U8, 1);
	bb_u8(b, 9);
	bb_arr(b, GGUF_T_U8, 0);
	bb_key(b, "a.empty", GGUF_T_ARRAY);
	bb_arr(b, GGUF_T_ARRAY, 0);
	/* 8 levels of arrays, the most allowed: [[[[[[[[1.0f]]]]]]]] */
	bb_key(b, "a.deep", GGUF_T_ARRAY);
	for (d = 0; d < 7; d++)
		bb_arr(b, GGUF_T_ARRAY, 1);
	bb_arr(b, GGUF_T_F32, 1);
	bb_f32(b, 1.0f);
	bb_key(b, "", GGUF_T_U8);	/* an empty key is legal */
	bb_u8(b, 42);

	/* b.w at data offset 64 (64 bytes), then an empty tensor inside
	 * its range, then a.w at 0: out of order but no overlap. */
	bb_tinfo(b, &(struct ti){ "b.w", 2, { 8, 2 }, GGML_TYPE_F32, 64 });
	bb_tinfo(b, &(struct ti){ "empty", 2, { 8, 0 }, GGML_TYPE_F32, 96 });
	bb_tinfo(b, &(struct ti){ "a.w", 1, { 32 }, GGML_TYPE_F16, 0 });
	bb_pad(b, 32);
	for (d = 0; d < 128; d++)
		bb_u8(b, d);
}

static void check_all_types(const struct gguf *g)
{
	const struct gguf_value *v, *e;

	cr_assert_eq(val(g, "u8", GGUF_T_U8)->v.u, 200);
	cr_assert_eq(val(g, "i8", GGUF_T_I8)->v.i, -100);
	cr_assert_eq(val(g, "u16", GGUF_T_U16)->v.u, 60000);
	cr_assert_eq(val(g, "i16", GGUF_T_I16)->v.i, -30000);
	cr_assert_eq(val(g, "u32", GGUF_T_U32)->v.u, 4000000000u);
	cr_assert_eq(val(g, "i32", GGUF_T_I32)->v.i, -2000000000);
	cr_assert_eq(val(g, "f32", GGUF_T_F32)->v.f, 0.5);
	cr_assert_eq(val(g, "bool", GGUF_T_BOOL)->v.u, 1);
	cr_assert(str_is(val(g, "str", GGUF_T_STRING)->v.s, "str"));
	cr_assert_eq(val(g, "u64", GGUF_T_U64)->v.u, (1ull << 63) + 5);
	cr_assert_eq(val(g, "i64", GGUF_T_I64)->v.i, -(1ll << 62));
	cr_assert_eq(val(g, "f64", GGUF_T_F64)->v.f, 1e300);
	cr_assert_eq(val(g, "", GGUF_T_U8)->v.u, 42);

	v = val(g, "a.u8", GGUF_T_ARRAY);
	cr_assert_eq(v->v.arr.type, GGUF_T_U8);
	cr_assert_eq(v->v.arr.n, 3);
	cr_assert_eq(gguf_arr_int(v, 0), 1);
	cr_assert_eq(gguf_arr_int(v, 2), 255);
	cr_assert_eq(gguf_arr_f32(v, 2), 255.0f);
	v = val(g, "a.i8", GGUF_T_ARRAY);
	cr_assert_eq(gguf_arr_int(v, 0), -128);
	cr_assert_eq(gguf_arr_int(v, 1), 127);
	v = val(g, "a.u16", GGUF_T_ARRAY);
	cr_assert_eq(gguf_arr_int(v, 0), 65535);
	v = val(g, "a.i16", GGUF_T_ARRAY);
	cr_assert_eq(gguf_arr_int(v, 0), -2);
	cr_assert_eq(gguf_arr_int(v, 1), 3);
	v = val(g, "a.u32", GGUF_T_ARRAY);
	cr_assert_eq(gguf_arr_int(v, 0), UINT32_MAX);
	v = val(g, "a.bool", GGUF_T_ARRAY);
	cr_assert_eq(v->v.arr.type, GGUF_T_BOOL);
	cr_assert_eq(gguf_arr_int(v, 0), 1);
	cr_assert_eq(gguf_arr_int(v, 1), 0);
	cr_assert_eq(gguf_arr_int(v, 2), 1);
	v = val(g, "a.u64", GGUF_T_ARRAY);
	cr_assert_eq((uint64_t)gguf_arr_int(v, 0), UINT64_MAX);
	cr_assert_eq(gguf_arr_int(v, 1), 1);
	v = val(g, "a.i64", GGUF_T_ARRAY);
	cr_assert_eq(gguf_arr_int(v, 0), INT64_MIN);
	v = val(g, "a.f64", GGUF_T_ARRAY);
	cr_assert_eq(gguf_arr_f32(v, 0), -0.25f);
	cr_assert_eq(gguf_arr_f32(v, 1), 0.0f, "out of range must give 0");

	v = val(g, "a.str", GGUF_T_ARRAY);
	cr_assert_eq(v->v.arr.type, GGUF_T_STRING);
	cr_assert_eq(v->v.arr.n, 3);
	cr_assert(str_is(v->v.arr.items[0].v.s, "x"));
	cr_assert(str_is(v->v.arr.items[1].v.s, "yz"));
	cr_assert(str_is(v->v.arr.items[2].v.s, ""));

	v = val(g, "a.nest", GGUF_T_ARRAY);
	cr_assert_eq(v->v.arr.type, GGUF_T_ARRAY);
	cr_assert_eq(v->v.arr.n, 4);
	e = &v->v.arr.items[0];
	cr_assert_eq(e->type, GGUF_T_ARRAY);
	cr_assert_eq(e->v.arr.type, GGUF_T_I32);
	cr_assert_eq(e->v.arr.n, 2);
	cr_assert_eq(gguf_arr_int(e, 0), 7);
	cr_assert_eq(gguf_arr_int(e, 1), 8);
	e = &v->v.arr.items[1];
	cr_assert_eq(e->v.arr.type, GGUF_T_STRING);
	cr_assert_eq(e->v.arr.n, 1);
	cr_assert(str_is(e->v.arr.items[0].v.s, "q"));
	e = &v->v.arr.items[2];
	cr_assert_eq(e->v.arr.type, GGUF_T_ARRAY);
	cr_assert_eq(e->v.arr.n, 1);
	cr_assert_eq(e->v.arr.items[0].v.arr.type, GGUF_T_U8);
	cr_assert_eq(gguf_arr_int(&e->v.arr.items[0], 0), 9);
	e = &v->v.arr.items[3];
	cr_assert_eq(e->v.arr.type, GGUF_T_U8);
	cr_assert_eq(e->v.arr.n, 0);

	v = val(g, "a.empty", GGUF_T_ARRAY);
	cr_assert_eq(v->v.arr.type, GGUF_T_ARRAY);
	cr_assert_eq(v->v.arr.n, 0);

	v = val(g, "a.deep", GGUF_T_ARRAY);
	for (int d = 0; d < 7; d++) {
		cr_assert_eq(v->v.arr.type, GGUF_T_ARRAY);
		cr_assert_eq(v->v.arr.n, 1);
		v = &v->v.arr.items[0];
	}
	cr_assert_eq(v->v.arr.type, GGUF_T_F32);
	cr_assert_eq(gguf_arr_f32(v, 0), 1.0f);

	cr_assert_eq(g->n_tensors, 3);
	cr_assert_eq(g->alignment, 32);
	cr_assert_eq(g->tensors[0].offset, 64);
	cr_assert_eq(g->tensors[0].size, 64);
	cr_assert_eq(((const uint8_t *)g->tensors[0].data)[0], 64);
	cr_assert_eq(g->tensors[1].size, 0);
	cr_assert_eq(g->tensors[1].ne[1], 0);
	cr_assert_eq(g->tensors[2].size, 64);
	cr_assert_eq(((const uint8_t *)g->tensors[2].data)[63], 63);
}

Test(gguf, all_value_types_v3_and_v2)
{
	uint32_t version;

	for (version = 2; version <= 3; version++) {
		struct bb b = { 0 };
		uint8_t *copy;
		struct gguf *g;

		bb_all_types(&b, version);
		g = open_ok(&b, &copy);
		cr_assert_eq(g->version, version);
		check_all_types(g);
		gguf_close(g);
		free(copy);
		free(b.p);
	}
}

Test(gguf, getters_convert_integers)
{
	struct bb b = { 0 };
	char err[256];
	uint8_t *copy;
	struct gguf *g;
	uint32_t u;
	float f;

	bb_all_types(&b, 3);
	g = open_ok(&b, &copy);
	cr_assert_eq(gguf_get_u32(g, "u8", &u, err, sizeof(err)), 0);
	cr_assert_eq(u, 200);
	cr_assert_eq(gguf_get_u32(g, "u16", &u, err, sizeof(err)), 0);
	cr_assert_eq(u, 60000);
	cr_assert_eq(gguf_get_u32(g, "u32", &u, err, sizeof(err)), 0);
	cr_assert_eq(u, 4000000000u);
	cr_assert_eq(gguf_get_u32(g, "i8", &u, err, sizeof(err)), -1);
	cr_assert_eq(gguf_get_u32(g, "u64", &u, err, sizeof(err)), -1,
		     "2^63 + 5 does not fit u32");
	cr_assert(strstr(err, "'u64'") && strstr(err, "offset "), "%s", err);
	cr_assert_eq(gguf_get_u32(g, "i64", &u, err, sizeof(err)), -1);
	cr_assert_eq(gguf_get_f32(g, "f64", &f, err, sizeof(err)), 0);
	cr_assert(isinf(f), "1e300 narrows to inf");
	gguf_close(g);
	free(copy);
	free(b.p);
}

/* ------------------------------------------------------------------ */
/* Truncation and corruption.                                          */

/* A file with metadata (string arrays among them) and three tensors
 * whose data ends exactly at the end of the file. */
static void small_file(uint8_t **buf, size_t *n)
{
	static const char *const toks[] = { "<unk>", "<s>", "</s>", "a" };
	static const float sc[] = { 0, -1, -2, -3 };
	static const uint64_t ne1[] = { 64, 1 }, ne2[] = { 3, 2 },
		ne3[] = { 8, 2 };
	struct gguf_writer *w = gguf_w_new();
	char err[256];
	struct gguf *g;

	fill();
	cr_assert_not_null(w);
	gguf_w_str(w, "general.architecture", "llama");
	gguf_w_u32(w, "llama.embedding_length", 64);
	gguf_w_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
	gguf_w_bool(w, "t.flag", 1);
	gguf_w_arr_str(w, "tokenizer.ggml.tokens", toks, 4);
	gguf_w_arr_f32(w, "tokenizer.ggml.scores", sc, 4);
	gguf_w_tensor(w, "blk.0.attn_q.weight", GGML_TYPE_Q8_0, 2, ne1,
		      tdata[0]);
	gguf_w_tensor(w, "blk.0.ffn_down.weight", GGML_TYPE_F16, 2, ne2,
		      tdata[1]);
	/* 64 bytes, a multiple of 32: no trailing padding. */
	gguf_w_tensor(w, "output_norm.weight", GGML_TYPE_F32, 2, ne3,
		      tdata[2]);
	cr_assert_eq(gguf_w_to_mem(w, buf, n, err, sizeof(err)), 0, "%s", err);
	gguf_w_free(w);

	cr_assert_eq(gguf_open_mem(*buf, *n, NAME, &g, err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_eq(g->n_tensors, 3);
	cr_assert_eq(g->tensors[2].offset + g->tensors[2].size +
		     g->data_offset, *n, "data must end at end of file");
	gguf_close(g);
}

Test(gguf, truncated_at_every_offset)
{
	char err[512];
	uint8_t *buf, *copy;
	struct gguf *g;
	size_t n, len;

	small_file(&buf, &n);
	for (len = 0; len < n; len++) {
		err[0] = '\0';
		g = open_copy(buf, len, &copy, err, sizeof(err));
		if (g)
			gguf_close(g);
		free(copy);
		cr_assert_null(g, "prefix of %zu of %zu bytes accepted", len,
			       n);
		check_msg(err);
	}
	g = open_copy(buf, n, &copy, err, sizeof(err));
	cr_assert_not_null(g, "%s", err);
	gguf_close(g);
	free(copy);
	free(buf);
}

/* Reads every string and every tensor byte range g points at, so ASan
 * flags any pointer outside the buffer. */
static unsigned touch_value(const struct gguf_value *v)
{
	unsigned s = 0;
	uint64_t i;

	if (v->type == GGUF_T_STRING) {
		for (i = 0; i < v->v.s.len; i++)
			s += (uint8_t)v->v.s.ptr[i];
	} else if (v->type == GGUF_T_ARRAY) {
		if (v->v.arr.type == GGUF_T_STRING ||
		    v->v.arr.type == GGUF_T_ARRAY)
			for (i = 0; i < v->v.arr.n; i++)
				s += touch_value(&v->v.arr.items[i]);
		else
			for (i = 0; i < v->v.arr.n; i++)
				s += (unsigned)gguf_arr_int(v, i);
	}
	return s;
}

static unsigned touch_all(const struct gguf *g)
{
	unsigned s = 0;
	uint64_t i;

	for (i = 0; i < g->n_kv; i++) {
		s += g->kv[i].key.len ? (uint8_t)g->kv[i].key.ptr[0] : 0;
		s += touch_value(&g->kv[i].val);
	}
	for (i = 0; i < g->n_tensors; i++) {
		const struct gguf_tensor *t = &g->tensors[i];

		cr_assert_leq(g->data_offset + t->offset + t->size,
			      g->map_size);
		cr_assert_lt(strlen(t->name), 128);
		if (t->size)
			s += ((const uint8_t *)t->data)[0] +
			     ((const uint8_t *)t->data)[t->size - 1];
	}
	return s;
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

Test(gguf, random_corruption_fuzz)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	unsigned ok = 0, bad = 0, sink = 0;
	uint8_t *buf, *mut, *copy;
	char err[512];
	struct gguf *g;
	size_t n, head;
	int it, k;

	small_file(&buf, &n);
	cr_assert_eq(gguf_open_mem(buf, n, NAME, &g, err, sizeof(err)), 0);
	head = g->data_offset;
	gguf_close(g);
	mut = malloc(n);
	cr_assert_not_null(mut);
	for (it = 0; it < 2000; it++) {
		size_t len = n;
		int flips = 1 + rng_next(&seed) % 4;

		memcpy(mut, buf, n);
		for (k = 0; k < flips; k++) {
			uint64_t r = rng_next(&seed);
			size_t at = r % head;

			/* Half the time a random byte, else a big count. */
			if (r >> 63)
				mut[at] ^= 1 + (r >> 8) % 255;
			else
				mut[at] = 0xff;
		}
		if (rng_next(&seed) % 4 == 0)
			len = rng_next(&seed) % n;
		err[0] = '\0';
		g = open_copy(mut, len, &copy, err, sizeof(err));
		if (g) {
			ok++;
			sink += touch_all(g);
			gguf_close(g);
		} else {
			bad++;
			check_msg(err);
		}
		free(copy);
	}
	cr_log_info("fuzz: %u accepted, %u refused (sink %u)", ok, bad, sink);
	cr_assert_gt(bad, 0);
	free(mut);
	free(buf);
}

/* ------------------------------------------------------------------ */
/* Hand-made bad files.                                                */

static const struct ti T_OK = { "a.weight", 1, { 8 }, GGML_TYPE_F32, 0 };

Test(gguf, minimal_valid)
{
	struct bb b = { 0 };
	uint8_t *copy;
	struct gguf *g;

	bb_file(&b, &T_OK, 1, 32);
	g = open_ok(&b, &copy);
	cr_assert_eq(g->n_tensors, 1);
	cr_assert_eq(g->tensors[0].size, 32);
	gguf_close(g);
	free(copy);
	free(b.p);
}

Test(gguf, bad_magic_and_versions)
{
	struct bb b = { 0 };

	bb_file(&b, &T_OK, 1, 32);
	memcpy(b.p, "GGML", 4);
	expect_fail_bb(&b, "magic", NULL);

	bb_file(&b, &T_OK, 1, 32);
	b.p[4] = 1;
	expect_fail_bb(&b, "version 1", "32-bit");

	bb_file(&b, &T_OK, 1, 32);
	b.p[4] = 4;
	expect_fail_bb(&b, "version 4", NULL);

	bb_file(&b, &T_OK, 1, 32);
	b.p[4] = 0;
	expect_fail_bb(&b, "version 0", NULL);

	/* A big-endian v3 file. */
	bb_file(&b, &T_OK, 1, 32);
	b.p[4] = 0;
	b.p[7] = 3;
	expect_fail_bb(&b, "endian", NULL);

	expect_fail("", 0, "magic", NULL);
	expect_fail("GGU", 3, "magic", NULL);
}

Test(gguf, absurd_counts)
{
	struct bb b = { 0 };

	bb_header(&b, 3, 0, 1ull << 62);
	bb_zeros(&b, 64);
	expect_fail_bb(&b, "n_kv 4611686018427387904 cannot fit", NULL);

	bb_header(&b, 3, UINT64_MAX, 0);
	bb_zeros(&b, 64);
	expect_fail_bb(&b, "n_tensors 18446744073709551615", "cannot fit");

	/* Each alone fits, both together cannot. */
	bb_header(&b, 3, 2, 4);
	bb_zeros(&b, 100);
	expect_fail_bb(&b, "n_tensors", NULL);

	/* Key length UINT64_MAX. */
	bb_header(&b, 3, 0, 1);
	bb_u64(&b, UINT64_MAX);
	bb_zeros(&b, 16);
	expect_fail_bb(&b, "key length", "18446744073709551615");

	/* String value length UINT64_MAX. */
	bb_header(&b, 3, 0, 1);
	bb_key(&b, "general.name", GGUF_T_STRING);
	bb_u64(&b, UINT64_MAX);
	bb_zeros(&b, 16);
	expect_fail_bb(&b, "general.name", "18446744073709551615");

	/* String length one more than what remains. */
	bb_header(&b, 3, 0, 1);
	bb_key(&b, "general.name", GGUF_T_STRING);
	bb_u64(&b, 5);
	bb_raw(&b, "abcd", 4);
	expect_fail_bb(&b, "general.name", "length 5");

	/* Scalar array whose byte size overflows u64: 2^61 x 8. */
	bb_header(&b, 3, 0, 1);
	bb_key(&b, "a", GGUF_T_ARRAY);
	bb_arr(&b, GGUF_T_U64, 1ull << 61);
	bb_zeros(&b, 64);
	expect_fail_bb(&b, "'a'", "2305843009213693952");

	/* Huge string array count. */
	bb_header(&b, 3, 0, 1);
	bb_key(&b, "tokenizer.ggml.tokens", GGUF_T_ARRAY);
	bb_arr(&b, GGUF_T_STRING, 1ull << 60);
	bb_zeros(&b, 64);
	expect_fail_bb(&b, "tokenizer.ggml.tokens", "1152921504606846976");

	/* Array of arrays, count UINT64_MAX. */
	bb_header(&b, 3, 0, 1);
	bb_key(&b, "a", GGUF_T_ARRAY);
	bb_arr(&b, GGUF_T_ARRAY, UINT64_MAX);
	bb_zeros(&b, 64);
	expect_fail_bb(&b, "'a'", "18446744073709551615");

	/* Nested array with a huge count inside a sane outer one. */
	bb_header(&b, 3, 0, 1);
	bb_key(&b, "a", GGUF_T_ARRAY);
	bb_arr(&b, GGUF_T_ARRAY, 2);
	bb_arr(&b, GGUF_T_U8, 1);
	bb_u8(&b, 1);
	bb_arr(&b, GGUF_T_I32, 1ull << 62);
	bb_zeros(&b, 64);
	expect_fail_bb(&b, "'a'", "4611686018427387904");

	/* Tensor name length UINT64_MAX. */
	bb_header(&b, 3, 1, 0);
	bb_u64(&b, UINT64_MAX);
	bb_zeros(&b, 40);
	expect_fail_bb(&b, "tensor name", "18446744073709551615");
}

Test(gguf, nesting_too_deep)
{
	struct bb b = { 0 };
	int d;

	bb_header(&b, 3, 0, 1);
	bb_key(&b, "deep", GGUF_T_ARRAY);
	for (d = 0; d < 8; d++)
		bb_arr(&b, GGUF_T_ARRAY, 1);
	bb_arr(&b, GGUF_T_U8, 1);
	bb_u8(&b, 1);
	expect_fail_bb(&b, "'deep'", "nested");

	/* A bomb: every level claims many arrays. */
	bb_header(&b, 3, 0, 1);
	bb_key(&b, "bomb", GGUF_T_ARRAY);
	for (d = 0; d < 64; d++)
		bb_arr(&b, GGUF_T_ARRAY, 3);
	expect_fail_bb(&b, "'bomb'", NULL);
}

Test(gguf, bad_value_types)
{
	struct bb b = { 0 };

	bb_header(&b, 3, 0, 1);
	bb_key(&b, "general.weird", 13);
	bb_zeros(&b, 16);
	expect_fail_bb(&b, "general.weird", "unknown value type 13");

	bb_header(&b, 3, 0, 1);
	bb_key(&b, "general.weird", UINT32_MAX);
	bb_zeros(&b, 16);
	expect_fail_bb(&b, "general.weird", "4294967295");

	bb_header(&b, 3, 0, 1);
	bb_key(&b, "arr", GGUF_T_ARRAY);
	bb_arr(&b, 99, 1);
	bb_zeros(&b, 16);
	expect_fail_bb(&b, "'arr'", "element type 99");

	bb_header(&b, 3, 0, 1);
	bb_key(&b, "flag", GGUF_T_BOOL);
	bb_u8(&b, 2);
	expect_fail_bb(&b, "'flag'", "BOOL");
}

Test(gguf, duplicate_key)
{
	struct bb b = { 0 };

	bb_header(&b, 3, 0, 3);
	bb_key(&b, "general.name", GGUF_T_STRING);
	bb_str(&b, "a");
	bb_key(&b, "general.other", GGUF_T_U8);
	bb_u8(&b, 1);
	bb_key(&b, "general.name", GGUF_T_U32);
	bb_u32(&b, 1);
	expect_fail_bb(&b, "general.name", "duplicate");
}

/* A one-tensor file with general.alignment of the given type/value. */
static void bb_aligned(struct bb *b, uint32_t type, uint32_t align)
{
	bb_header(b, 3, 1, 1);
	bb_key(b, "general.alignment", type);
	bb_u32(b, align);
	bb_tinfo(b, &T_OK);
	bb_pad(b, 64);
	bb_zeros(b, 32);
}

Test(gguf, alignment)
{
	struct bb b = { 0 };
	uint8_t *copy;
	struct gguf *g;

	bb_aligned(&b, GGUF_T_U32, 0);
	expect_fail_bb(&b, "general.alignment", "power of two");
	bb_aligned(&b, GGUF_T_U32, 3);
	expect_fail_bb(&b, "general.alignment", "power of two");
	bb_aligned(&b, GGUF_T_U32, 0x80000001u);
	expect_fail_bb(&b, "general.alignment", "power of two");
	bb_aligned(&b, GGUF_T_I32, 32);
	expect_fail_bb(&b, "general.alignment", "U32");

	bb_aligned(&b, GGUF_T_U32, 64);
	g = open_ok(&b, &copy);
	cr_assert_eq(g->alignment, 64);
	cr_assert_eq(g->data_offset % 64, 0);
	gguf_close(g);
	free(copy);
	free(b.p);
	memset(&b, 0, sizeof(b));

	/* An alignment far larger than the file: padding runs off the end. */
	bb_aligned(&b, GGUF_T_U32, 1u << 31);
	expect_fail_bb(&b, "alignment", "past end of file");
}

Test(gguf, tensor_shapes)
{
	struct bb b = { 0 };
	struct ti t;

	t = T_OK;
	t.n_dims = 0;
	bb_file(&b, &t, 1, 32);
	expect_fail_bb(&b, "a.weight", "n_dims 0");

	t = T_OK;
	t.n_dims = 5;
	t.ne[1] = t.ne[2] = t.ne[3] = t.ne[4] = 1;
	bb_file(&b, &t, 1, 32);
	expect_fail_bb(&b, "a.weight", "n_dims 5");

	/* 2^32 x 2^32 elements overflows int64. */
	t = T_OK;
	t.n_dims = 2;
	t.ne[0] = t.ne[1] = 1ull << 32;
	bb_file(&b, &t, 1, 32);
	expect_fail_bb(&b, "a.weight", "overflow");

	/* 2^63 elements: fits u64, not int64. */
	t = T_OK;
	t.n_dims = 2;
	t.ne[0] = 1ull << 32;
	t.ne[1] = 1ull << 31;
	bb_file(&b, &t, 1, 32);
	expect_fail_bb(&b, "a.weight", "element count overflows int64");

	/* 2^31 x 2^31 x 4 = 2^64 elements, spread over 4 dims. */
	t = T_OK;
	t.n_dims = 4;
	t.ne[0] = t.ne[1] = 1ull << 31;
	t.ne[2] = 2;
	t.ne[3] = 2;
	bb_file(&b, &t, 1, 32);
	expect_fail_bb(&b, "a.weight", "overflow");

	t = T_OK;
	t.ne[0] = 1ull << 63;
	bb_file(&b, &t, 1, 32);
	expect_fail_bb(&b, "a.weight", "INT64_MAX");

	/* 2^62 F32 elements fit int64, but 2^64 bytes do not. */
	t = T_OK;
	t.ne[0] = 1ull << 62;
	bb_file(&b, &t, 1, 32);
	expect_fail_bb(&b, "a.weight", "overflow");

	/* Q8_0 rows must be whole blocks. */
	t = T_OK;
	t.type = GGML_TYPE_Q8_0;
	t.ne[0] = 33;
	bb_file(&b, &t, 1, 64);
	expect_fail_bb(&b, "a.weight", "multiple of 32");
}

Test(gguf, unsupported_tensor_type)
{
	struct bb b = { 0 };
	struct ti t[2] = { T_OK, { "blk.0.ffn_down.weight", 2, { 256, 4 },
				   12, 32 } };

	bb_file(&b, t, 2, 32 + 576);
	expect_fail_bb(&b, "tensor 'blk.0.ffn_down.weight' has type Q4_K (12)",
		       "F32, F16, BF16, Q8_0");

	t[1].type = 77;
	bb_file(&b, t, 2, 32 + 576);
	expect_fail_bb(&b, "blk.0.ffn_down.weight", "type 77");
}

Test(gguf, tensor_names)
{
	char name[200];
	struct bb b = { 0 };
	struct ti t = T_OK;
	uint8_t *copy;
	struct gguf *g;

	memset(name, 'n', sizeof(name));
	name[127] = '\0';
	t.name = name;
	bb_file(&b, &t, 1, 32);
	g = open_ok(&b, &copy);
	cr_assert_eq(strlen(g->tensors[0].name), 127);
	cr_assert_not_null(gguf_find_tensor(g, name));
	gguf_close(g);
	free(copy);
	free(b.p);
	memset(&b, 0, sizeof(b));

	name[127] = 'n';
	name[128] = '\0';
	bb_file(&b, &t, 1, 32);
	expect_fail_bb(&b, "128 bytes", "longer than 127");

	/* An embedded NUL would make two names compare equal. */
	bb_header(&b, 3, 1, 0);
	bb_u64(&b, 3);
	bb_raw(&b, "a\0b", 3);
	bb_u32(&b, 1);
	bb_u64(&b, 8);
	bb_u32(&b, GGML_TYPE_F32);
	bb_u64(&b, 0);
	bb_pad(&b, 32);
	bb_zeros(&b, 32);
	expect_fail_bb(&b, "a\\x00b", "NUL");

	/* A name with a newline must not break the one-line message. */
	t.name = "bad\nname";
	t.type = 12;
	bb_file(&b, &t, 1, 32);
	expect_fail_bb(&b, "bad\\x0aname", "Q4_K");
}

Test(gguf, duplicate_tensor_name)
{
	struct bb b = { 0 };
	struct ti t[3] = {
		{ "a.weight", 1, { 8 }, GGML_TYPE_F32, 0 },
		{ "b.weight", 1, { 8 }, GGML_TYPE_F32, 32 },
		{ "a.weight", 1, { 8 }, GGML_TYPE_F32, 64 },
	};

	bb_file(&b, t, 3, 96);
	expect_fail_bb(&b, "a.weight", "duplicate");
}

Test(gguf, tensor_data_placement)
{
	struct bb b = { 0 };
	struct ti two[2] = {
		{ "a.weight", 1, { 16 }, GGML_TYPE_F32, 0 },	/* [0, 64) */
		{ "b.weight", 1, { 8 }, GGML_TYPE_F32, 32 },	/* [32, 64) */
	};
	struct ti t = T_OK;

	bb_file(&b, two, 2, 96);
	expect_fail_bb(&b, "overlaps", "'a.weight'");
	bb_file(&b, two, 2, 96);
	expect_fail_bb(&b, "overlaps", "'b.weight'");

	/* Same start. */
	two[1].offset = 0;
	bb_file(&b, two, 2, 96);
	expect_fail_bb(&b, "overlaps", NULL);

	/* Out of the file by one byte. */
	t.offset = 32;
	bb_file(&b, &t, 1, 63);
	expect_fail_bb(&b, "a.weight", "runs past end of file");

	/* Far out of the file; offset + size overflows. */
	t.offset = 1ull << 62;
	bb_file(&b, &t, 1, 32);
	expect_fail_bb(&b, "a.weight", "past end of file");
	t.offset = UINT64_MAX - 31;
	bb_file(&b, &t, 1, 32);
	expect_fail_bb(&b, "a.weight", "overflows");

	/* Misaligned. */
	t.offset = 16;
	bb_file(&b, &t, 1, 64);
	expect_fail_bb(&b, "a.weight", "not a multiple of the alignment 32");

	/* No data section at all. */
	t.offset = 0;
	bb_file(&b, &t, 1, 0);
	expect_fail_bb(&b, "a.weight", "runs past end of file");
}

Test(gguf, no_tensors)
{
	struct bb b = { 0 };
	uint8_t *copy;
	struct gguf *g;

	/* No tensors and no final padding: ggml accepts this. */
	bb_header(&b, 3, 0, 1);
	bb_key(&b, "general.architecture", GGUF_T_STRING);
	bb_str(&b, "llama");
	g = open_ok(&b, &copy);
	cr_assert_eq(g->n_tensors, 0);
	cr_assert_eq(g->n_kv, 1);
	gguf_close(g);
	free(copy);
	free(b.p);
}

/* ------------------------------------------------------------------ */
/* Helpers and names.                                                  */

Test(gguf, row_sizes_and_names)
{
	cr_assert_eq(ggml_row_size(GGML_TYPE_F32, 7), 28);
	cr_assert_eq(ggml_row_size(GGML_TYPE_F16, 7), 14);
	cr_assert_eq(ggml_row_size(GGML_TYPE_BF16, 7), 14);
	cr_assert_eq(ggml_row_size(GGML_TYPE_Q8_0, 64), 68);
	cr_assert_eq(ggml_row_size(GGML_TYPE_Q8_0, 4096), 4352);
	cr_assert_eq(ggml_row_size(GGML_TYPE_Q8_0, 33), 0);
	cr_assert_eq(ggml_row_size((enum ggml_type)12, 256), 0);
	cr_assert_eq(ggml_row_size(GGML_TYPE_F32, 1ull << 62), 0);
	cr_assert_str_eq(ggml_type_name(0), "F32");
	cr_assert_str_eq(ggml_type_name(1), "F16");
	cr_assert_str_eq(ggml_type_name(8), "Q8_0");
	cr_assert_str_eq(ggml_type_name(12), "Q4_K");
	cr_assert_str_eq(ggml_type_name(30), "BF16");
	cr_assert_str_eq(ggml_type_name(4), "type 4");
	cr_assert_str_eq(ggml_type_name(1000), "type 1000");
	cr_assert_str_eq(gguf_vtype_name(GGUF_T_STRING), "STRING");
	cr_assert_str_eq(gguf_vtype_name(GGUF_T_F64), "F64");
	cr_assert_str_eq(gguf_vtype_name(13), "type 13");
}

/* ------------------------------------------------------------------ */
/* Files.                                                              */

Test(gguf, file_errors)
{
	char dir[96], path[128], err[512];
	struct gguf *g = (struct gguf *)0x1;
	int fd;

	test_tmpdir(dir, sizeof dir, "gguf");
	snprintf(path, sizeof(path), "%s/missing.gguf", dir);
	cr_assert_eq(gguf_open(path, &g, err, sizeof(err)), -1);
	cr_assert_null(g);
	cr_assert(strstr(err, path) && !strchr(err, '\n'), "%s", err);

	cr_assert_eq(gguf_open(dir, &g, err, sizeof(err)), -1);
	cr_assert(strstr(err, dir) && strstr(err, "directory"), "%s", err);

	snprintf(path, sizeof(path), "%s/empty.gguf", dir);
	fd = open(path, O_CREAT | O_WRONLY | O_EXCL, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(gguf_open(path, &g, err, sizeof(err)), -1);
	cr_assert(strstr(err, path) && strstr(err, "empty"), "%s", err);
	unlink(path);

	/* A short file is parsed, and named, like a short buffer. */
	snprintf(path, sizeof(path), "%s/short.gguf", dir);
	fd = open(path, O_CREAT | O_WRONLY | O_EXCL, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "GGUF\3\0\0\0", 8), 8);
	close(fd);
	cr_assert_eq(gguf_open(path, &g, err, sizeof(err)), -1);
	cr_assert(strstr(err, path) && strstr(err, "n_tensors"), "%s", err);
	unlink(path);

	/* Not a regular file. */
	cr_assert_eq(gguf_open("/dev/null", &g, err, sizeof(err)), -1);
	cr_assert(strstr(err, "/dev/null") && strstr(err, "regular"), "%s",
		  err);
	rmdir(dir);
}

/* Number of entries in dir other than . and .. */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

Test(gguf, write_file_atomically)
{
	char dir[96], path[128], err[512];
	struct gguf_writer *w = rich_writer(64);
	uint8_t *mem, *file;
	struct gguf *g;
	size_t n;
	FILE *f;

	test_tmpdir(dir, sizeof dir, "gguf");
	snprintf(path, sizeof(path), "%s/m.gguf", dir);
	cr_assert_eq(gguf_w_write(w, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(count_entries(dir), 1, "temporary file left behind");
	cr_assert_eq(gguf_w_to_mem(w, &mem, &n, err, sizeof(err)), 0);

	/* The file is byte for byte what gguf_w_to_mem makes. */
	file = malloc(n + 1);
	f = fopen(path, "rb");
	cr_assert(file && f);
	cr_assert_eq(fread(file, 1, n + 1, f), n);
	fclose(f);
	cr_assert_eq(memcmp(file, mem, n), 0);
	free(file);
	free(mem);

	cr_assert_eq(gguf_open(path, &g, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(g->path, path);
	check_rich(g, 64, 12);
	gguf_close(g);

	/* Overwrite in place, then fail to write into a missing folder. */
	cr_assert_eq(gguf_w_write(w, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(count_entries(dir), 1);
	snprintf(path, sizeof(path), "%s/no/such/dir/m.gguf", dir);
	cr_assert_eq(gguf_w_write(w, path, err, sizeof(err)), -1);
	cr_assert(strstr(err, path), "%s", err);

	/* A target that is not a regular file (here a directory; /dev/null
	 * for a root user) is refused before anything is written: renaming
	 * over it would replace it.  No temporary is left. */
	snprintf(path, sizeof(path), "%s/d.gguf", dir);
	cr_assert_eq(mkdir(path, 0700), 0);
	cr_assert_eq(gguf_w_write(w, path, err, sizeof(err)), -1);
	cr_assert(strstr(err, path) && strstr(err, "not a regular file"), "%s", err);
	cr_assert_eq(count_entries(dir), 2, "temporary file left behind");
	rmdir(path);
	gguf_w_free(w);

	snprintf(path, sizeof(path), "%s/m.gguf", dir);
	unlink(path);
	rmdir(dir);
}

Test(gguf, writer_refuses_bad_input)
{
	static const uint64_t ne33[] = { 33 }, ne8[] = { 8 };
	char dir[96], path[128], err[512];
	struct gguf_writer *w;
	float x[8] = { 0 };
	uint8_t *mem;
	size_t n;

	w = gguf_w_new();
	cr_assert_eq(gguf_w_u32(w, "k", 1), 0);
	cr_assert_eq(gguf_w_u32(w, "k", 2), -1, "duplicate key accepted");
	cr_assert_eq(gguf_w_to_mem(w, &mem, &n, err, sizeof(err)), -1);
	cr_assert(strstr(err, "'k'"), "%s", err);
	gguf_w_free(w);

	w = gguf_w_new();
	cr_assert_eq(gguf_w_tensor(w, "q", GGML_TYPE_Q8_0, 1, ne33, x), -1);
	cr_assert_eq(gguf_w_to_mem(w, &mem, &n, err, sizeof(err)), -1);
	gguf_w_free(w);

	w = gguf_w_new();
	cr_assert_eq(gguf_w_tensor(w, "t", GGML_TYPE_F32, 1, ne8, x), 0);
	cr_assert_eq(gguf_w_tensor(w, "t", GGML_TYPE_F32, 1, ne8, x), -1);
	gguf_w_free(w);

	w = gguf_w_new();
	cr_assert_eq(gguf_w_tensor(w, "t", GGML_TYPE_F32, 5, ne8, x), -1);
	gguf_w_free(w);

	/* A bad general.alignment fails the write, leaving no file. */
	test_tmpdir(dir, sizeof dir, "gguf");
	snprintf(path, sizeof(path), "%s/m.gguf", dir);
	w = gguf_w_new();
	cr_assert_eq(gguf_w_u32(w, "general.alignment", 48), 0);
	cr_assert_eq(gguf_w_write(w, path, err, sizeof(err)), -1);
	cr_assert(strstr(err, path) && strstr(err, "alignment"), "%s", err);
	cr_assert_eq(count_entries(dir), 0);
	gguf_w_free(w);
	rmdir(dir);
}

/* ------------------------------------------------------------------ */
/* The real files.                                                     */

static void check_stories_common(const struct gguf *g)
{
	const struct gguf_tensor *t;
	const struct gguf_value *a;
	struct gguf_str s;
	char err[256];
	uint32_t u;
	float eps;

	cr_assert_eq(g->version, 3);
	cr_assert_eq(g->n_tensors, 48);
	cr_assert_eq(g->alignment, 32);
	cr_assert_eq(gguf_get_str(g, "general.architecture", &s, err,
				  sizeof(err)), 0);
	cr_assert(str_is(s, "llama"));
	cr_assert_eq(gguf_get_u32(g, "llama.embedding_length", &u, err,
				  sizeof(err)), 0);
	cr_assert_eq(u, 64);
	cr_assert_eq(gguf_get_u32(g, "llama.block_count", &u, err,
				  sizeof(err)), 0);
	cr_assert_eq(u, 5);
	cr_assert_eq(gguf_get_u32(g, "llama.feed_forward_length", &u, err,
				  sizeof(err)), 0);
	cr_assert_eq(u, 172);
	cr_assert_eq(gguf_get_u32(g, "llama.attention.head_count_kv", &u,
				  err, sizeof(err)), 0);
	cr_assert_eq(u, 4);
	cr_assert_eq(gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon",
				  &eps, err, sizeof(err)), 0);
	cr_assert_float_eq(eps, 1e-5f, 1e-9f);

	cr_assert_eq(gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_T_STRING,
				  &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(a->v.arr.n, 512);
	cr_assert(str_is(a->v.arr.items[0].v.s, "<unk>"));
	cr_assert(str_is(a->v.arr.items[1].v.s, "<s>"));
	cr_assert(str_is(a->v.arr.items[2].v.s, "</s>"));
	cr_assert_eq(gguf_get_arr(g, "tokenizer.ggml.scores", GGUF_T_F32, &a,
				  err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(a->v.arr.n, 512);
	cr_assert_eq(gguf_get_arr(g, "tokenizer.ggml.token_type", GGUF_T_I32,
				  &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(a->v.arr.n, 512);
	cr_assert_eq(gguf_arr_int(a, 0), 2, "<unk> is UNKNOWN");
	cr_assert_eq(gguf_arr_int(a, 1), 3, "<s> is CONTROL");

	t = gguf_find_tensor(g, "token_embd.weight");
	cr_assert_not_null(t);
	cr_assert_eq(t->n_dims, 2);
	cr_assert_eq(t->ne[0], 64);
	cr_assert_eq(t->ne[1], 512);
	t = gguf_find_tensor(g, "blk.4.ffn_norm.weight");
	cr_assert_not_null(t);
	cr_assert_eq(t->type, GGML_TYPE_F32);
	cr_assert_eq(t->n_dims, 1);
	cr_assert_eq(t->size, 256);
}

Test(gguf, stories260K_f32)
{
	NEED_SHARED(path, "models/stories260K.gguf");
	const struct gguf_tensor *t;
	char err[512];
	struct gguf *g;
	uint64_t i, end = 0;

	cr_assert_eq(gguf_open(path, &g, err, sizeof(err)), 0, "%s", err);
	check_stories_common(g);
	cr_assert_eq(g->n_kv, 19);
	cr_assert_eq(g->map_size, 1185376);
	cr_assert_eq(g->data_offset, 14176);
	for (i = 0; i < g->n_tensors; i++) {
		cr_assert_eq(g->tensors[i].type, GGML_TYPE_F32, "%s",
			     g->tensors[i].name);
		if (g->tensors[i].offset + g->tensors[i].size > end)
			end = g->tensors[i].offset + g->tensors[i].size;
	}
	cr_assert_eq(g->data_offset + end, g->map_size);
	t = gguf_find_tensor(g, "token_embd.weight");
	cr_assert_eq(t->type, GGML_TYPE_F32);
	cr_assert_eq(t->size, 64 * 512 * 4);
	cr_assert_eq(t->offset, 0);
	t = gguf_find_tensor(g, "blk.0.ffn_down.weight");
	cr_assert_eq(t->ne[0], 172);
	cr_assert_eq(t->ne[1], 64);
	gguf_close(g);
}

Test(gguf, stories260K_q8_0)
{
	NEED_SHARED(path, "models/stories260K-q8_0.gguf");
	const struct gguf_tensor *t;
	int count[31] = { 0 };
	char err[512];
	struct gguf *g;
	uint32_t u;
	uint64_t i;

	cr_assert_eq(gguf_open(path, &g, err, sizeof(err)), 0, "%s", err);
	check_stories_common(g);
	cr_assert_eq(g->n_kv, 21);
	cr_assert_eq(gguf_get_u32(g, "general.file_type", &u, err,
				  sizeof(err)), 0);
	cr_assert_eq(u, 7);
	for (i = 0; i < g->n_tensors; i++)
		count[g->tensors[i].type]++;
	cr_assert_eq(count[GGML_TYPE_Q8_0], 32);
	cr_assert_eq(count[GGML_TYPE_F16], 5);
	cr_assert_eq(count[GGML_TYPE_F32], 11);

	t = gguf_find_tensor(g, "blk.0.ffn_down.weight");
	cr_assert_not_null(t);
	cr_assert_eq(t->type, GGML_TYPE_F16);
	cr_assert_eq(t->ne[0], 172);
	cr_assert_eq(t->size, 172 * 64 * 2);
	t = gguf_find_tensor(g, "blk.0.attn_q.weight");
	cr_assert_not_null(t);
	cr_assert_eq(t->type, GGML_TYPE_Q8_0);
	cr_assert_eq(t->size, 64 * 34 * 2);
	t = gguf_find_tensor(g, "token_embd.weight");
	cr_assert_eq(t->type, GGML_TYPE_Q8_0);
	cr_assert_eq(t->size, 512 * 68);
	gguf_close(g);
}

/* A mapped file cut short while in use: with the guard installed, reading
 * a page past the new end is one line naming the file and exit 1, not a
 * bare SIGBUS (in a child, which the guard ends). */
Test(gguf, file_truncated_while_mapped_is_named)
{
	char dir[96], path[128], err[512], buf[512] = "";
	struct gguf_writer *w = rich_writer(4096);
	struct gguf *g;
	int pipefd[2], st;

	test_tmpdir(dir, sizeof dir, "gguf");
	snprintf(path, sizeof(path), "%s/cut.gguf", dir);
	cr_assert_eq(gguf_w_write(w, path, err, sizeof(err)), 0, "%s", err);
	gguf_w_free(w);
	cr_assert_eq(gguf_open(path, &g, err, sizeof(err)), 0, "%s", err);
	cr_assert_gt(g->map_size, 3 * 4096, "the sample is too small to cut");
	cr_assert_eq(pipe(pipefd), 0);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pipefd[1], 2);
		gguf_guard_sigbus("test");
		if (truncate(path, 4096) < 0)
			_exit(7);
		volatile const char *last = (const char *)g->map + g->map_size - 1;
		(void)*last;	/* SIGBUS */
		_exit(8);
	}
	close(pipefd[1]);
	waitpid(pid, &st, 0);
	ssize_t k = read(pipefd[0], buf, sizeof buf - 1);
	buf[k > 0 ? k : 0] = '\0';
	close(pipefd[0]);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %#x: %s", st, buf);
	cr_expect(strncmp(buf, "test: ", 6) == 0 && strstr(buf, path) &&
		  strstr(buf, "changed while in use"), "%s", buf);
	cr_expect_eq(strchr(buf, '\n'), buf + strlen(buf) - 1, "one line: %s", buf);
	/* without the guard the same read is a plain SIGBUS */
	pid = fork();
	if (pid == 0) {
		signal(SIGBUS, SIG_DFL);
		volatile const char *last = (const char *)g->map + g->map_size - 1;
		(void)*last;
		_exit(8);
	}
	waitpid(pid, &st, 0);
	cr_expect(WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS, "status %#x", st);
	gguf_close(g);
}

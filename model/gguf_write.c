/* gguf_write.c - GGUF v3 writer; see gguf_write.h.
 *
 * Key/values are serialized as they are added into one growing buffer;
 * tensors are recorded (name, shape, caller's data pointer) and laid out
 * at write time the way ggml's gguf writer does: data offsets in info
 * order, each padded to the alignment, the last one padded too.  What
 * gguf.c reads back is exactly what was added. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf_write.h"

#define W_DEFAULT_ALIGN	32
#define W_NAME_MAX	127

struct wtensor {
	char name[W_NAME_MAX + 1];
	enum ggml_type type;
	uint32_t n_dims;
	uint64_t ne[GGUF_MAX_DIMS];	/* unused dims 1 */
	uint64_t size;			/* bytes */
	const void *data;		/* caller's */
};

struct gguf_writer {
	uint8_t *kv;		/* serialized key/values */
	size_t kv_len, kv_cap;
	uint64_t n_kv;
	char **keys;		/* copies, for duplicate checks */
	size_t keys_cap;
	struct wtensor *t;
	uint64_t n_t;
	size_t t_cap;
	uint64_t alignment;
	char why[192];		/* first error; "" if none */
};

/* Remembers the first error.  Always returns -1. */
static int __attribute__((format(printf, 2, 3)))
w_fail(struct gguf_writer *w, const char *fmt, ...)
{
	va_list ap;

	if (w->why[0])
		return -1;
	va_start(ap, fmt);
	vsnprintf(w->why, sizeof(w->why), fmt, ap);
	va_end(ap);
	return -1;
}

/* Grows *p (elements of size sz, capacity *cap) to hold need. */
static int grow(void **p, size_t *cap, size_t need, size_t sz)
{
	size_t n = *cap ? *cap : 16, bytes;
	void *q;

	if (need <= *cap)
		return 0;
	while (n < need)
		if (__builtin_mul_overflow(n, 2, &n))
			return -1;
	if (__builtin_mul_overflow(n, sz, &bytes))
		return -1;
	q = realloc(*p, bytes);
	if (!q)
		return -1;
	*p = q;
	*cap = n;
	return 0;
}

/* Appends n bytes to the key/value buffer. */
static int put(struct gguf_writer *w, const void *b, size_t n)
{
	size_t need;

	if (__builtin_add_overflow(w->kv_len, n, &need) ||
	    grow((void **)&w->kv, &w->kv_cap, need, 1))
		return w_fail(w, "out of memory for metadata");
	if (n)
		memcpy(w->kv + w->kv_len, b, n);
	w->kv_len += n;
	return 0;
}

/* Little-endian stores. */
static void le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void le64(uint8_t *p, uint64_t v)
{
	le32(p, (uint32_t)v);
	le32(p + 4, (uint32_t)(v >> 32));
}

/* Append a u32 / u64 / GGUF string to the key/values; 0 or -1. */
static int put32(struct gguf_writer *w, uint32_t v)
{
	uint8_t b[4];

	le32(b, v);
	return put(w, b, 4);
}

static int put64(struct gguf_writer *w, uint64_t v)
{
	uint8_t b[8];

	le64(b, v);
	return put(w, b, 8);
}

static int put_str(struct gguf_writer *w, const char *s)
{
	size_t n = strlen(s);

	return put64(w, n) || put(w, s, n) ? -1 : 0;
}

/* Starts a key/value: checks the key is new and writes it and its type.
 * On failure the buffer is rolled back by the caller (kv_begin/kv_end). */
static int kv_begin(struct gguf_writer *w, const char *key, uint32_t type,
		    size_t *mark)
{
	uint64_t i;

	*mark = w->kv_len;
	if (w->why[0])
		return -1;
	if (!key)
		return w_fail(w, "NULL key");
	for (i = 0; i < w->n_kv; i++)
		if (!strcmp(w->keys[i], key))
			return w_fail(w, "key '%s' added twice", key);
	if (!strcmp(key, "general.alignment") && type != GGUF_T_U32)
		return w_fail(w, "key 'general.alignment' must be U32");
	return put_str(w, key) || put32(w, type) ? -1 : 0;
}

/* Ends a key/value begun at mark: records the key, or rolls back. */
static int kv_end(struct gguf_writer *w, const char *key, int failed,
		  size_t mark)
{
	char *k = failed ? NULL : strdup(key);

	if (k && !grow((void **)&w->keys, &w->keys_cap, w->n_kv + 1,
		       sizeof(*w->keys))) {
		w->keys[w->n_kv++] = k;
		return 0;
	}
	if (!failed)
		w_fail(w, "out of memory for key '%s'", key);
	free(k);
	w->kv_len = mark;
	return -1;
}

/* NULL on allocation failure; free with gguf_w_free. */
struct gguf_writer *gguf_w_new(void)
{
	struct gguf_writer *w = calloc(1, sizeof(*w));

	if (w)
		w->alignment = W_DEFAULT_ALIGN;
	return w;
}

/* Frees w and its copies; never the callers' tensor data. */
void gguf_w_free(struct gguf_writer *w)
{
	uint64_t i;

	if (!w)
		return;
	for (i = 0; i < w->n_kv; i++)
		free(w->keys[i]);
	free(w->keys);
	free(w->kv);
	free(w->t);
	free(w);
}

/* A u32; general.alignment also sets the data alignment. */
int gguf_w_u32(struct gguf_writer *w, const char *key, uint32_t v)
{
	size_t mark;
	int bad;

	if (!w)
		return -1;
	bad = kv_begin(w, key, GGUF_T_U32, &mark) || put32(w, v);
	if (!bad && !strcmp(key, "general.alignment"))
		w->alignment = v;
	return kv_end(w, key, bad, mark);
}

/* The other adders: 0, or -1 (remembered) on allocation failure, a
 * duplicate key or a NULL argument. */
int gguf_w_i32(struct gguf_writer *w, const char *key, int32_t v)
{
	size_t mark;
	int bad;

	if (!w)
		return -1;
	bad = kv_begin(w, key, GGUF_T_I32, &mark) || put32(w, (uint32_t)v);
	return kv_end(w, key, bad, mark);
}

int gguf_w_f32(struct gguf_writer *w, const char *key, float v)
{
	uint32_t u;
	size_t mark;
	int bad;

	if (!w)
		return -1;
	memcpy(&u, &v, 4);
	bad = kv_begin(w, key, GGUF_T_F32, &mark) || put32(w, u);
	return kv_end(w, key, bad, mark);
}

/* Any non-zero v is written as 1. */
int gguf_w_bool(struct gguf_writer *w, const char *key, int v)
{
	uint8_t b = v != 0;
	size_t mark;
	int bad;

	if (!w)
		return -1;
	bad = kv_begin(w, key, GGUF_T_BOOL, &mark) || put(w, &b, 1);
	return kv_end(w, key, bad, mark);
}

int gguf_w_str(struct gguf_writer *w, const char *key, const char *v)
{
	size_t mark;
	int bad;

	if (!w)
		return -1;
	if (!v)
		return w_fail(w, "key '%s': NULL string", key ? key : "?");
	bad = kv_begin(w, key, GGUF_T_STRING, &mark) || put_str(w, v);
	return kv_end(w, key, bad, mark);
}

/* Writes an array header: element type and count. */
static int put_arr_head(struct gguf_writer *w, uint32_t etype, uint64_t n)
{
	return put32(w, etype) || put64(w, n) ? -1 : 0;
}

int gguf_w_arr_str(struct gguf_writer *w, const char *key,
		   const char *const *v, uint64_t n)
{
	uint64_t i;
	size_t mark;
	int bad;

	if (!w)
		return -1;
	bad = kv_begin(w, key, GGUF_T_ARRAY, &mark) ||
	      put_arr_head(w, GGUF_T_STRING, n);
	for (i = 0; !bad && i < n; i++)
		bad = v[i] ? put_str(w, v[i]) :
			     w_fail(w, "key '%s': element %llu is NULL", key,
				    (unsigned long long)i);
	return kv_end(w, key, bad, mark);
}

/* Arrays of 4-byte scalars (F32, I32), converted to little-endian. */
static int arr32(struct gguf_writer *w, const char *key, uint32_t etype,
		 const void *v, uint64_t n)
{
	const uint8_t *p = v;
	uint64_t i;
	uint32_t u;
	size_t mark;
	int bad;

	if (!w)
		return -1;
	bad = kv_begin(w, key, GGUF_T_ARRAY, &mark) ||
	      put_arr_head(w, etype, n);
	for (i = 0; !bad && i < n; i++) {
		memcpy(&u, p + 4 * i, 4);
		bad = put32(w, u);
	}
	return kv_end(w, key, bad, mark);
}

int gguf_w_arr_f32(struct gguf_writer *w, const char *key, const float *v,
		   uint64_t n)
{
	return arr32(w, key, GGUF_T_F32, v, n);
}

int gguf_w_arr_i32(struct gguf_writer *w, const char *key, const int32_t *v,
		   uint64_t n)
{
	return arr32(w, key, GGUF_T_I32, v, n);
}

/* Records a tensor; refuses what the reader would refuse (bad name,
 * shape or type, size overflow, duplicate name). */
int gguf_w_tensor(struct gguf_writer *w, const char *name,
		  enum ggml_type type, uint32_t n_dims, const uint64_t *ne,
		  const void *data)
{
	struct wtensor *t;
	uint64_t i, nel = 1, rows = 1, row, size;
	uint32_t d;

	if (!w || w->why[0])
		return -1;
	if (!name || !*name || strlen(name) > W_NAME_MAX)
		return w_fail(w, "tensor '%.40s': name empty or longer than %d",
			      name ? name : "", W_NAME_MAX);
	if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
		return w_fail(w, "tensor '%s': n_dims %u, expected 1..%d", name,
			      n_dims, GGUF_MAX_DIMS);
	for (d = 0; d < n_dims; d++) {
		if (ne[d] > INT64_MAX ||
		    __builtin_mul_overflow(nel, ne[d], &nel) ||
		    nel > INT64_MAX)
			return w_fail(w, "tensor '%s': element count "
				      "overflows", name);
		if (d)
			rows *= ne[d];
	}
	row = ggml_row_size(type, ne[0]);
	if (row == 0 && ne[0] != 0)
		return w_fail(w, "tensor '%s': type %s cannot hold rows of "
			      "%llu", name, ggml_type_name(type),
			      (unsigned long long)ne[0]);
	if (__builtin_mul_overflow(row, rows, &size))
		return w_fail(w, "tensor '%s': byte size overflows", name);
	if (size && !data)
		return w_fail(w, "tensor '%s': NULL data", name);
	for (i = 0; i < w->n_t; i++)
		if (!strcmp(w->t[i].name, name))
			return w_fail(w, "tensor '%s' added twice", name);
	if (grow((void **)&w->t, &w->t_cap, w->n_t + 1, sizeof(*w->t)))
		return w_fail(w, "out of memory for tensor '%s'", name);
	t = &w->t[w->n_t++];
	memset(t, 0, sizeof(*t));
	strcpy(t->name, name);
	t->type = type;
	t->n_dims = n_dims;
	for (d = 0; d < GGUF_MAX_DIMS; d++)
		t->ne[d] = d < n_dims ? ne[d] : 1;
	t->size = size;
	t->data = data;
	return 0;
}

/* Where serialized bytes go: a buffer of known size, or a file. */
struct sink {
	uint8_t *mem;
	int fd;
	uint64_t pos;
	const char *path;
	char *err;
	size_t errlen;
};

/* Appends n bytes to s; 0, or -1 with a message (files only). */
static int sink_put(struct sink *s, const void *b, size_t n)
{
	const uint8_t *p = b;
	ssize_t k;

	if (!n)
		return 0;
	if (s->mem) {
		memcpy(s->mem + s->pos, b, n);
		s->pos += n;
		return 0;
	}
	while (n) {
		k = write(s->fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			snprintf(s->err, s->errlen, "%s: write at offset %llu: "
				 "%s", s->path, (unsigned long long)s->pos,
				 k < 0 ? strerror(errno) : "no progress");
			return -1;
		}
		p += k;
		n -= k;
		s->pos += k;
	}
	return 0;
}

/* Writes zero bytes up to the next multiple of align. */
static int sink_pad(struct sink *s, uint64_t align)
{
	static const uint8_t zero[256];
	uint64_t n = (align - s->pos % align) % align, k;

	while (n) {
		k = n < sizeof(zero) ? n : sizeof(zero);
		if (sink_put(s, zero, k))
			return -1;
		n -= k;
	}
	return 0;
}

/* x rounded up to a multiple of a (a power of two). */
static uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) / a * a;
}

/* Size of the whole file in *total.  -1 with "name: why" in err if an
 * adder failed or the alignment is bad. */
static int layout(struct gguf_writer *w, const char *name, uint64_t *total,
		  char *err, size_t errlen)
{
	uint64_t i, h = 4 + 4 + 8 + 8, off = 0;

	if (w->why[0] || w->alignment == 0 ||
	    (w->alignment & (w->alignment - 1))) {
		snprintf(err, errlen, "%s: %s", name, w->why[0] ? w->why :
			 "general.alignment is not a non-zero power of two");
		return -1;
	}
	h += w->kv_len;
	for (i = 0; i < w->n_t; i++) {
		h += 8 + strlen(w->t[i].name) + 4 + 8 * w->t[i].n_dims + 4 + 8;
		/* Each size fits u64; their sum may not. */
		if (__builtin_add_overflow(off, w->t[i].size, &off) ||
		    off > UINT64_MAX - w->alignment)
			goto too_big;
		off = align_up(off, w->alignment);
	}
	h = align_up(h, w->alignment);
	if (__builtin_add_overflow(h, off, total))
		goto too_big;
	return 0;

too_big:
	snprintf(err, errlen, "%s: tensor data adds up past 2^64 bytes", name);
	return -1;
}

/* Writes the whole file to s. */
static int emit(struct gguf_writer *w, struct sink *s)
{
	uint8_t b[8];
	uint64_t i, off = 0;
	uint32_t d;

	le32(b, 3);
	if (sink_put(s, "GGUF", 4) || sink_put(s, b, 4))
		return -1;
	le64(b, w->n_t);
	if (sink_put(s, b, 8))
		return -1;
	le64(b, w->n_kv);
	if (sink_put(s, b, 8) || sink_put(s, w->kv, w->kv_len))
		return -1;
	for (i = 0; i < w->n_t; i++) {
		const struct wtensor *t = &w->t[i];
		size_t n = strlen(t->name);

		le64(b, n);
		if (sink_put(s, b, 8) || sink_put(s, t->name, n))
			return -1;
		le32(b, t->n_dims);
		if (sink_put(s, b, 4))
			return -1;
		for (d = 0; d < t->n_dims; d++) {
			le64(b, t->ne[d]);
			if (sink_put(s, b, 8))
				return -1;
		}
		le32(b, t->type);
		if (sink_put(s, b, 4))
			return -1;
		le64(b, off);
		if (sink_put(s, b, 8))
			return -1;
		off = align_up(off + t->size, w->alignment);
	}
	if (sink_pad(s, w->alignment))
		return -1;
	for (i = 0; i < w->n_t; i++) {
		if ((w->t[i].size &&
		     sink_put(s, w->t[i].data, w->t[i].size)) ||
		    sink_pad(s, w->alignment))
			return -1;
	}
	return 0;
}

/* Serializes into a malloc'd buffer (*out, *size; caller frees). */
int gguf_w_to_mem(struct gguf_writer *w, uint8_t **out, size_t *size,
		  char *err, size_t errlen)
{
	struct sink s = { .fd = -1, .path = "<memory>", .err = err,
			  .errlen = errlen };
	uint64_t total;

	if (!w) {
		snprintf(err, errlen, "<memory>: no writer");
		return -1;
	}
	if (layout(w, "<memory>", &total, err, errlen))
		return -1;
	if (total > SIZE_MAX || !(s.mem = malloc(total ? total : 1))) {
		snprintf(err, errlen, "<memory>: out of memory for %llu bytes",
			 (unsigned long long)total);
		return -1;
	}
	emit(w, &s);	/* cannot fail into memory */
	*out = s.mem;
	*size = total;
	return 0;
}

/* Writes path atomically: path.XXXXXX.tmp in the same folder, fsync, rename,
 * fsync of the folder.  The temporary file is removed on failure. */
int gguf_w_write(struct gguf_writer *w, const char *path, char *err,
		 size_t errlen)
{
	struct sink s = { .path = path, .err = err, .errlen = errlen };
	uint64_t total;
	char *tmp, *slash;
	int dfd;

	if (!w) {
		snprintf(err, errlen, "%s: no writer", path);
		return -1;
	}
	if (layout(w, path, &total, err, errlen))
		return -1;
	/* the rename below would replace a device (-o /dev/null as root) or
	 * a FIFO with a regular file: refused */
	struct stat st;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: exists and is not a regular file: not "
			 "replaced", path);
		return -1;
	}
	/* The ".tmp" suffix keeps a leftover out of git (.gitignore). */
	if (asprintf(&tmp, "%s.XXXXXX.tmp", path) < 0) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	s.fd = mkstemps(tmp, 4);
	if (s.fd < 0) {
		snprintf(err, errlen, "%s: cannot create temporary file %s: %s",
			 path, tmp, strerror(errno));
		goto free_tmp;
	}
	if (fchmod(s.fd, 0644)) {
		snprintf(err, errlen, "%s: chmod %s: %s", path, tmp,
			 strerror(errno));
		goto close_tmp;
	}
	if (emit(w, &s))
		goto close_tmp;
	if (fsync(s.fd)) {
		snprintf(err, errlen, "%s: fsync: %s", path, strerror(errno));
		goto close_tmp;
	}
	if (close(s.fd)) {
		s.fd = -1;
		snprintf(err, errlen, "%s: close: %s", path, strerror(errno));
		goto unlink_tmp;
	}
	s.fd = -1;
	if (rename(tmp, path)) {
		snprintf(err, errlen, "%s: rename from %s: %s", path, tmp,
			 strerror(errno));
		goto unlink_tmp;
	}
	/* Make the rename itself durable; best effort. */
	slash = strrchr(tmp, '/');
	if (slash)
		*slash = '\0';
	dfd = open(slash ? (*tmp ? tmp : "/") : ".", O_RDONLY | O_DIRECTORY);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	free(tmp);
	return 0;

close_tmp:
	close(s.fd);
unlink_tmp:
	unlink(tmp);
free_tmp:
	free(tmp);
	return -1;
}

/* gguf.h - a checked, read-only GGUF (v2, v3) reader over mmap.
 *
 * gguf_open maps the whole file read-only and parses the header, the
 * metadata and the tensor table.  Every count, length, offset and dimension
 * is checked against the bytes that remain and against overflow; on bad
 * input it returns -1 and writes one line naming the file, the field or
 * tensor and the byte offset.  Strings and tensor data point into the
 * mapping: they live as long as the struct gguf. */
#ifndef Q8TUNE_GGUF_H
#define Q8TUNE_GGUF_H

#include <stddef.h>
#include <stdint.h>

enum gguf_vtype {
	GGUF_T_U8 = 0, GGUF_T_I8 = 1, GGUF_T_U16 = 2, GGUF_T_I16 = 3,
	GGUF_T_U32 = 4, GGUF_T_I32 = 5, GGUF_T_F32 = 6, GGUF_T_BOOL = 7,
	GGUF_T_STRING = 8, GGUF_T_ARRAY = 9, GGUF_T_U64 = 10, GGUF_T_I64 = 11,
	GGUF_T_F64 = 12,
};

/* ggml tensor types this project reads; others are refused by name. */
enum ggml_type {
	GGML_TYPE_F32 = 0,
	GGML_TYPE_F16 = 1,
	GGML_TYPE_Q8_0 = 8,
	GGML_TYPE_BF16 = 30,
};

#define GGUF_MAX_DIMS 4

struct gguf_str {
	uint64_t len;
	const char *ptr;	/* into the mapping; NOT NUL-terminated */
};

struct gguf_value {
	enum gguf_vtype type;
	union {
		uint64_t u;	/* U8..U64, BOOL */
		int64_t i;	/* I8..I64 */
		double f;	/* F32, F64 */
		struct gguf_str s;
		struct {
			enum gguf_vtype type;	/* element type */
			uint64_t n;
			const uint8_t *raw;	/* scalar elements, packed LE */
			struct gguf_value *items;	/* STRING/ARRAY elements */
		} arr;
	} v;
};

struct gguf_kv {
	struct gguf_str key;
	struct gguf_value val;
	uint64_t offset;	/* file offset of the key, for messages */
};

struct gguf_tensor {
	char name[128];		/* NUL-terminated copy */
	uint32_t n_dims;
	uint64_t ne[GGUF_MAX_DIMS];	/* ne[0] = row length; unused dims 1 */
	enum ggml_type type;
	uint64_t offset;	/* relative to the data section */
	uint64_t size;		/* bytes */
	const void *data;	/* into the mapping */
};

struct gguf {
	char path[512];
	uint32_t version;
	const uint8_t *map;
	size_t map_size;
	uint64_t n_kv;
	struct gguf_kv *kv;
	uint64_t n_tensors;
	struct gguf_tensor *tensors;
	uint64_t alignment;
	uint64_t data_offset;	/* file offset of the data section; with
				 * no tensors it may be >= map_size */
};

/* Opens and validates path.  Returns 0 and a handle in *out (free with
 * gguf_close), or -1 with *out NULL and a one-line message in err.
 * Refused: versions other than 2 and 3, big-endian files, duplicate keys
 * or tensor names, arrays nested deeper than 8, tensor names over 127
 * bytes, n_dims outside 1..4, tensor types other than F32, F16, BF16 and
 * Q8_0, and tensor data that is misaligned, overlaps other tensor data
 * or runs past the end of the file.  A tensor may have 0 elements.
 * The handle must come from here: only gguf_close may free it. */
int gguf_open(const char *path, struct gguf **out, char *err, size_t errlen);
/* Same, over a caller-owned buffer (tests, fuzzing); name is used in
 * messages.  The buffer must outlive the handle. */
int gguf_open_mem(const void *buf, size_t size, const char *name,
		  struct gguf **out, char *err, size_t errlen);
void gguf_close(struct gguf *g);

/* Installs a SIGBUS handler for the process: a bus error inside a file
 * mapped by gguf_open (it was truncated or rewritten while in use)
 * becomes one line "PROG: PATH: the file changed while in use ..." on
 * stderr and _exit(1) instead of a silent death; any other bus error
 * keeps the default action.  For the mains (a library does not take
 * signals on its own); prog must outlive the process. */
void gguf_guard_sigbus(const char *prog);

/* Lookup; NULL if absent. */
const struct gguf_kv *gguf_find(const struct gguf *g, const char *key);
const struct gguf_tensor *gguf_find_tensor(const struct gguf *g,
					   const char *name);

/* Typed getters.  Each returns 0 on success, 1 if the key is absent (out
 * untouched), -1 if it has an incompatible type (message in err).  Integer
 * getters accept any integer type whose value fits. */
int gguf_get_u32(const struct gguf *g, const char *key, uint32_t *out,
		 char *err, size_t errlen);
int gguf_get_f32(const struct gguf *g, const char *key, float *out,
		 char *err, size_t errlen);
int gguf_get_bool(const struct gguf *g, const char *key, int *out,
		  char *err, size_t errlen);
int gguf_get_str(const struct gguf *g, const char *key, struct gguf_str *out,
		 char *err, size_t errlen);
/* An array of element type etype (GGUF_T_*) and its length. */
int gguf_get_arr(const struct gguf *g, const char *key, enum gguf_vtype etype,
		 const struct gguf_value **out, char *err, size_t errlen);

/* Element i of an array of scalars, converted. */
float gguf_arr_f32(const struct gguf_value *a, uint64_t i);
int64_t gguf_arr_int(const struct gguf_value *a, uint64_t i);

/* Bytes per row of ne0 elements of type t; 0 if t is unsupported or ne0
 * does not fit its block size. */
uint64_t ggml_row_size(enum ggml_type t, uint64_t ne0);
/* "F32", "Q8_0", ... or "type 12" for others (static or thread-local). */
const char *ggml_type_name(uint32_t t);
const char *gguf_vtype_name(uint32_t t);

#endif

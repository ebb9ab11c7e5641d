/* gguf_write.h - builds a GGUF v3 file (mkmodel, tests).
 *
 * Collect metadata and tensors, then gguf_w_write() writes the file
 * atomically (temporary file in the same folder, fsync, rename): an
 * interrupted write never leaves a half-written file at path.  Tensor data
 * is not copied: the caller keeps it alive until the write. */
#ifndef Q8TUNE_GGUF_WRITE_H
#define Q8TUNE_GGUF_WRITE_H

#include <stddef.h>
#include <stdint.h>
#include "gguf.h"

struct gguf_writer;

struct gguf_writer *gguf_w_new(void);	/* NULL on allocation failure */
void gguf_w_free(struct gguf_writer *w);

/* Each adder returns 0, or -1 on allocation failure (then the writer
 * remembers the error and gguf_w_write fails). Keys and strings are
 * copied.  A key added twice, a NULL argument, or general.alignment as
 * anything but a u32 fails the same way. */
int gguf_w_u32(struct gguf_writer *w, const char *key, uint32_t v);
int gguf_w_i32(struct gguf_writer *w, const char *key, int32_t v);
int gguf_w_f32(struct gguf_writer *w, const char *key, float v);
int gguf_w_bool(struct gguf_writer *w, const char *key, int v);
int gguf_w_str(struct gguf_writer *w, const char *key, const char *v);
int gguf_w_arr_str(struct gguf_writer *w, const char *key,
		   const char *const *v, uint64_t n);
int gguf_w_arr_f32(struct gguf_writer *w, const char *key, const float *v,
		   uint64_t n);
int gguf_w_arr_i32(struct gguf_writer *w, const char *key, const int32_t *v,
		   uint64_t n);
/* ne[0] is the row length.  data holds ggml_row_size(type, ne[0]) *
 * ne[1] * ... bytes.  Fails (remembered, as above) on what the reader
 * would refuse: a name that is empty, taken or over 127 bytes, n_dims
 * outside 1..4, a type other than F32/F16/BF16/Q8_0, a Q8_0 row that is
 * not whole blocks, or a size that overflows. */
int gguf_w_tensor(struct gguf_writer *w, const char *name,
		  enum ggml_type type, uint32_t n_dims, const uint64_t *ne,
		  const void *data);

/* Serializes into a malloc'd buffer (*out, *size; caller frees).  The
 * layout is ggml's: data offsets in tensor order, each tensor padded to
 * the alignment, the last one too (ggml reads the padded total). */
int gguf_w_to_mem(struct gguf_writer *w, uint8_t **out, size_t *size,
		  char *err, size_t errlen);
/* Writes path atomically.  0, or -1 with a one-line message. */
int gguf_w_write(struct gguf_writer *w, const char *path, char *err,
		 size_t errlen);

#endif

/* synth.h - a deterministic synthetic GGUF model (mkmodel, tests).
 *
 * Builds, into a struct gguf_writer, a model laid out as llama.cpp's
 * converter writes it: the standard general.*, <arch>.* and
 * tokenizer.ggml.* keys, Q8_0 matrices, F32 norms, and an embedded
 * SentencePiece vocabulary (byte fallback plus whole-word pieces) so the
 * file depends on nothing outside itself.  Same config, same bytes: every
 * tensor draws from its own PRNG stream seeded from (seed, tensor name). */
#ifndef Q8TUNE_SYNTH_H
#define Q8TUNE_SYNTH_H

#include <stddef.h>
#include <stdint.h>

struct gguf_writer;
struct synth;

enum synth_arch {
	SYNTH_GEMMA = 0,	/* tied output, embeddings scaled at run time */
	SYNTH_LLAMA = 1,
};

struct synth_cfg {
	enum synth_arch arch;
	uint32_t n_layer;
	uint32_t n_embd;	/* multiple of 32 */
	uint32_t n_head;
	uint32_t n_head_kv;	/* divides n_head */
	uint32_t head_dim;	/* even; n_head * head_dim multiple of 32 */
	uint32_t n_ff;		/* multiple of 32 */
	uint32_t n_ctx;
	uint64_t seed;
	int tied;		/* 1: no output.weight (gemma: must be 1) */
};

/* The profile this project is built around (gemma: 24 layers, n_embd 768,
 * 3 heads x 256, 1 KV head, ff 2304, ctx 2048, seed 0) for arch; llama
 * gets the same shape, untied. */
void synth_default(struct synth_cfg *c, enum synth_arch arch);

/* "gemma" / "llama"; synth_arch_parse returns 0, or -1 if unknown. */
const char *synth_arch_name(enum synth_arch a);
int synth_arch_parse(const char *s, enum synth_arch *out);

/* 0 if c describes a model this builder can write, else -1 with a
 * one-line message naming the field. */
int synth_check(const struct synth_cfg *c, char *err, size_t errlen);

/* Exact size in bytes of the GGUF file for c, without generating any
 * weights.  0, or -1 (bad config) with a message. */
int synth_size(const struct synth_cfg *c, uint64_t *bytes, char *err,
	       size_t errlen);

/* Number of tokens in the embedded vocabulary (same for every config). */
uint32_t synth_n_vocab(void);

/* Generates the model.  Returns 0 and *out, or -1 with a message (bad
 * config, allocation failure).  The handle owns the writer and every
 * buffer it points at; free it with synth_free after the last
 * gguf_w_write / gguf_w_to_mem. */
int synth_create(const struct synth_cfg *c, struct synth **out, char *err,
		 size_t errlen);
struct gguf_writer *synth_writer(const struct synth *s);
void synth_free(struct synth *s);

#endif

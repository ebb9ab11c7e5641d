/* tokenizer.h - SentencePiece ("llama" tokenizer model) over a GGUF vocab.
 *
 * Reproduces llama.cpp's SPM tokenizer: optional space prefix, spaces as
 * U+2581, greedy bigram merges by score (ties: leftmost), byte fallback
 * <0xNN> for characters not in the vocab, special tokens split out of the
 * text first.  Pieces point into the GGUF mapping: the tokenizer lives no
 * longer than the struct gguf it was created from. */
#ifndef Q8TUNE_TOKENIZER_H
#define Q8TUNE_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

struct gguf;
struct tokenizer;

/* Token types as GGUF stores them (tokenizer.ggml.token_type). */
enum tok_type {
	TOK_UNDEFINED = 0, TOK_NORMAL = 1, TOK_UNKNOWN = 2, TOK_CONTROL = 3,
	TOK_USER_DEFINED = 4, TOK_UNUSED = 5, TOK_BYTE = 6,
};

/* Reads tokenizer.ggml.{model,tokens,scores,token_type,bos_token_id,
 * eos_token_id,unknown_token_id,add_bos_token,add_space_prefix}.  Returns
 * 0 and *out, or -1 with a one-line message naming the file and key. */
int tok_create(const struct gguf *g, struct tokenizer **out, char *err,
	       size_t errlen);
void tok_free(struct tokenizer *t);

/* Encodes len bytes of text.  add_bos: prepend BOS when the vocab asks for
 * it (add_bos_token, default true).  parse_special: control tokens written
 * in the text (e.g. "<s>") become their ids; user-defined tokens always
 * do.  Writes at most cap ids; returns the total count (may exceed cap:
 * call again with a larger buffer), or -1 on allocation failure. */
int tok_encode(const struct tokenizer *t, const char *text, size_t len,
	       int add_bos, int parse_special, int32_t *out, int cap);

/* The bytes token id stands for in generated text: U+2581 -> ' ', byte
 * tokens -> their byte, control tokens -> "" (unless special is set, then
 * their text).  Returns the length written to buf (at most cap, no NUL),
 * or -1 for an id out of range. */
int tok_piece(const struct tokenizer *t, int32_t id, int special, char *buf,
	      int cap);

/* Raw vocab string of id (with U+2581 markers), and its length. */
const char *tok_text(const struct tokenizer *t, int32_t id, size_t *len);

int tok_n_vocab(const struct tokenizer *t);
int32_t tok_bos(const struct tokenizer *t);
int32_t tok_eos(const struct tokenizer *t);

#endif

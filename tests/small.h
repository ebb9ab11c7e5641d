/* small.h - the small synthetic model shape several suites build. */
#ifndef Q8TUNE_TESTS_SMALL_H
#define Q8TUNE_TESTS_SMALL_H

#include <criterion/criterion.h>
#include "gguf_write.h"
#include "model.h"
#include "synth.h"

/* 2 layers, embd 64, 2 heads of 32, 1 KV head, ff 128, ctx 256, seed 42. */
static inline struct synth_cfg small_cfg(enum synth_arch arch)
{
	struct synth_cfg c;

	synth_default(&c, arch);
	c.n_layer = 2;
	c.n_embd = 64;
	c.n_head = 2;
	c.n_head_kv = 1;
	c.head_dim = 32;
	c.n_ff = 128;
	c.n_ctx = 256;
	c.seed = 42;
	return c;
}

/* Writes the synthetic model of c to path (the test fails if it cannot). */
static inline void write_model(const struct synth_cfg *c, const char *path)
{
	struct synth *s = NULL;
	char err[256] = "";

	cr_assert_eq(synth_create(c, &s, err, sizeof err), 0, "synth: %s", err);
	cr_assert_eq(gguf_w_write(synth_writer(s), path, err, sizeof err), 0,
		     "gguf_w_write: %s", err);
	synth_free(s);
}

/* Loads path with its weights as stored (the test fails if it cannot). */
static inline struct model *load(const char *path)
{
	struct model *m = NULL;
	char err[512] = "";

	cr_assert_eq(model_load(path, WEIGHTS_NATIVE, &m, err, sizeof err), 0,
		     "model_load: %s", err);
	return m;
}

#endif

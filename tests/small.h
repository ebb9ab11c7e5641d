/* small.h - the small synthetic model shape several suites build. */
#ifndef Q8TUNE_TESTS_SMALL_H
#define Q8TUNE_TESTS_SMALL_H

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

#endif

/* prof.c - the in-situ profile's row names and sums (see prof.h); the
 * rows are filled by the forward pass (forward.c). */
#include "prof.h"

static const char *const prof_names[PROF_COUNT] = {
	[PROF_EMBED] = "embed", [PROF_RMSNORM] = "rmsnorm",
	[PROF_QUANTIZE] = "quantize", [PROF_MM_QKV] = "mm_qkv",
	[PROF_MM_ATTN_OUT] = "mm_attn_out", [PROF_MM_FFN_UP] = "mm_ffn_gate_up",
	[PROF_MM_FFN_DOWN] = "mm_ffn_down", [PROF_MM_OUTPUT] = "mm_output",
	[PROF_ROPE] = "rope", [PROF_ATTENTION] = "attention",
	[PROF_GLU] = "glu", [PROF_RESIDUAL] = "residual",
};

double prof_ms(const struct prof *p, unsigned mask)
{
	double ns = 0;

	for (int i = 0; i < PROF_COUNT; i++)
		if (mask & (1u << i))
			ns += p->r[i].ns;
	return p->passes ? ns / 1e6 / (double)p->passes : 0;
}

const char *prof_op_name(enum prof_op op)
{
	return op < PROF_COUNT ? prof_names[op] : "?";
}

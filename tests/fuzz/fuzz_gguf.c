/* fuzz_gguf.c - the GGUF reader and model loading on arbitrary bytes: a
 * file is refused with a message or loaded whole, never a crash, a leak
 * or undefined behaviour.  The same bytes go through gguf_open_mem, and
 * through model_load by path (as ./infer loads them), in the two weights
 * modes that read tensors differently. */
#include <string.h>
#include <unistd.h>
#include "fuzz.h"
#include "gguf.h"
#include "model.h"
#include "tokenizer.h"

FUZZ(gguf)
{
	char err[512], path[64];
	struct gguf *g;
	struct model *m;
	int fd;

	if (gguf_open_mem(data, size, "fuzz.gguf", &g, err, sizeof err) == 0) {
		struct tokenizer *t;
		if (tok_create(g, &t, err, sizeof err) == 0)
			tok_free(t);
		gguf_close(g);
	} else if (!err[0] || strchr(err, '\n')) {
		fuzz_fail("gguf_open_mem failed without one line: '%s'", err);
	}
	if ((fd = fuzz_memfile(data, size, path, sizeof path)) < 0)
		return 0;
	for (int w = 0; w < 2; w++) {
		err[0] = '\0';
		if (model_load(path, w ? WEIGHTS_Q8_0 : WEIGHTS_NATIVE, &m, err,
			       sizeof err) == 0)
			model_free(m);
		else if (!err[0] || strchr(err, '\n'))
			fuzz_fail("model_load failed without one line: '%s'", err);
	}
	close(fd);
	return 0;
}

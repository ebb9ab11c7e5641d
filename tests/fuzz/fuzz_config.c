/* fuzz_config.c - the best-config reader on arbitrary bytes: a file is
 * refused with one line naming it, or read; what is read writes back, and
 * the written file reads and writes again to the same bytes (a round trip
 * that changes nothing). */
#include <string.h>
#include <unistd.h>
#include "config.h"
#include "fuzz.h"

/* The text of file path (malloc'd), or NULL. */
static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *b = NULL;
	long len;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 &&
	    (b = malloc((size_t)len + 1))) {
		rewind(f);
		*n = fread(b, 1, (size_t)len, f);
	}
	fclose(f);
	return b;
}

FUZZ(config)
{
	static char dir[64];
	char path[64], a[96], b[96], err[1024] = "";
	struct best_config c, c2;
	size_t na = 0, nb = 0;
	int fd;

	if (!dir[0] && !mkdtemp(strcpy(dir, "/tmp/q8t-fuzzcfg-XXXXXX")))
		fuzz_fail("cannot make a folder");
	if ((fd = fuzz_memfile(data, size, path, sizeof path)) < 0)
		return 0;
	if (config_read(path, 0xffffffffu, &c, err, sizeof err) < 0) {
		close(fd);
		if (!strstr(err, path) || strchr(err, '\n'))
			fuzz_fail("refused without one line naming the file: '%s'", err);
		return 0;
	}
	close(fd);
	snprintf(a, sizeof a, "%s/a.json", dir);
	snprintf(b, sizeof b, "%s/b.json", dir);
	if (config_write(a, &c, err, sizeof err) < 0)
		fuzz_fail("cannot write what was read: %s", err);
	config_free(&c);
	if (config_read(a, 0xffffffffu, &c2, err, sizeof err) < 0)
		fuzz_fail("cannot read what was written: %s", err);
	if (config_write(b, &c2, err, sizeof err) < 0)
		fuzz_fail("cannot write it again: %s", err);
	config_free(&c2);
	char *ta = slurp(a, &na), *tb = slurp(b, &nb);
	if (!ta || !tb || na != nb || memcmp(ta, tb, na))
		fuzz_fail("read-write-read-write changed the file");
	free(ta);
	free(tb);
	unlink(a);
	unlink(b);
	return 0;
}

/* fuzz.h - the fuzz targets' shape (tests/fuzz/, docs/reliability.md).
 *
 * Each target is one file defining FUZZ(name) { ... } over (data, size).
 * Built by `make fuzz` with clang -DFUZZ_LIBFUZZER, it is libFuzzer's
 * LLVMFuzzerTestOneInput (with ASan + UBSan); built into build/unit with
 * the rest of the tests, it is fuzz_<name>(), which tests/test_fuzz.c runs
 * on every committed seed and crash reproducer, so a finding stays a
 * regression test without clang.  A target returns 0; a property it
 * checks that does not hold calls fuzz_fail, which aborts (libFuzzer
 * saves the input) or fails the Criterion test. */
#ifndef Q8TUNE_FUZZ_H
#define Q8TUNE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef FUZZ_LIBFUZZER
#define FUZZ(name) int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
#else
#define FUZZ(name) int fuzz_##name(const uint8_t *data, size_t size)
#endif

/* A property failed: say what, then abort (the harness catches it). */
#define fuzz_fail(...)                                                   \
	do {                                                             \
		fprintf(stderr, "fuzz: property failed: " __VA_ARGS__);  \
		fputc('\n', stderr);                                     \
		abort();                                                 \
	} while (0)

/* data as a file this process can open by path (a memfd: no disk, no
 * clean-up; "/proc/self/fd/N" into path).  The fd, to close after use, or
 * -1. */
int fuzz_memfile(const uint8_t *data, size_t size, char *path, size_t cap);

#endif

/* cli.h - what the mains in tools/ share: strict parsing of flag values
 * into numbers and lists, with one message style, and the one-line
 * "tool: ..." error and warning lines.
 *
 * The parsers never print: on bad input they return -1 with one line in
 * err that names the flag and the value ("--threads: 'x' is not a whole
 * number from 1 to 1024").  Only cli_die and cli_warn print, and only the
 * mains call them (library code reports through err buffers). */
#ifndef Q8TUNE_CLI_H
#define Q8TUNE_CLI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A whole decimal number in [lo, hi] (no sign on a non-negative range,
 * no spaces, no trailing junk).  0, or -1 with a message. */
int cli_long(const char *flag, const char *s, long lo, long hi, long *out,
	     char *err, size_t errlen);

/* cli_long into an int; lo and hi must fit an int. */
int cli_int(const char *flag, const char *s, int lo, int hi, int *out,
	    char *err, size_t errlen);

/* An unsigned decimal or 0x-hex number <= hi.  0, or -1 with a message. */
int cli_u64(const char *flag, const char *s, uint64_t hi, uint64_t *out,
	    char *err, size_t errlen);

/* A finite real number in [lo, hi]: NaN and infinity are refused
 * whatever the range.  0, or -1 with a message. */
int cli_double(const char *flag, const char *s, double lo, double hi,
	       double *out, char *err, size_t errlen);

/* A comma-separated list of whole numbers in [lo, hi], e.g. "16,64,512":
 * at most cap of them into out.  The count (>= 1), or -1 with a message
 * (an empty item, a bad number, more than cap items). */
int cli_int_list(const char *flag, const char *s, int lo, int hi, int *out,
		 int cap, char *err, size_t errlen);

/* Index of s in the NULL-terminated names[], or -1 with a message listing
 * the names ("--pin: 'x' is not none or cores"). */
int cli_choice(const char *flag, const char *s, const char *const *names,
	       char *err, size_t errlen);

/* Flushes and closes stdout, checking every write that went to it: rc
 * when all is well, else one line "prog: cannot write to stdout: REASON"
 * and 1 (a full disk or /dev/full must not pass for success).  Mains
 * return cli_exit(rc). */
int cli_exit(int rc);

/* Names the tool in cli_die and cli_warn lines ("bench"). */
void cli_set_prog(const char *name);

/* Prints "prog: MESSAGE\n" to stderr; returns 1, the exit status. */
int cli_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "prog: warning: MESSAGE\n" to stderr. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#ifdef __cplusplus
}
#endif

#endif

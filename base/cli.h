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

#include <getopt.h>
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

/* --- the flag loop: getopt_long driven by a table ------------------------ */

/* One flag of a tool.  Every spelling of a flag is its own entry with the
 * same id: { "n-prompt", 'p', 1, OPT_PP } and { "pp", 0, 1, OPT_PP } make
 * -p, --n-prompt and --pp one flag.  The table ends with a zero entry. */
struct cli_flag {
	const char *name;	/* long name without "--"; NULL: short only */
	int letter;		/* short letter (-x), 0: none */
	int arg;		/* 0: no value, 1: a value (--name V, --name=V,
				 * -x V), 2: an optional one (--name=V, -xV) */
	int id;			/* what cli_next returns for it, > 0 */
};

#define CLI_MAX_FLAGS 64

/* The state of one pass over argv. */
struct cli {
	const struct cli_flag *flags;
	int argc;
	char **argv;
	const char *flag;	/* the current flag as written: "-p", "--pp" */
	const char *val;	/* its value (NULL for a flag without one) */
	char err[512];		/* the message of a -1 */
	char fbuf[48];
	struct option lo[CLI_MAX_FLAGS + 1];
	char shorts[3 * CLI_MAX_FLAGS + 2];
};

/* Starts a pass over argv[1..argc) with the table flags (at most
 * CLI_MAX_FLAGS entries). */
void cli_begin(struct cli *c, int argc, char **argv,
	       const struct cli_flag *flags);

/* The id of the next flag (c->flag and c->val describe it); 0 when the
 * flags are done (cli_rest gives the first word that is not one); -1 with
 * one line in c->err: an unknown flag, or a flag without its value. */
int cli_next(struct cli *c);

/* The next word of argv when it is not a flag (the FILE of "--csv FILE",
 * the B of "--ab A B"), consumed; NULL when there is none. */
const char *cli_word(struct cli *c);

/* The first argument after the flags that is not a flag, or NULL. */
const char *cli_rest(const struct cli *c);

/* A tool's handler of one flag: stores it in ctx; 0, or -1 with one line
 * in c->err. */
typedef int (*cli_take_fn)(struct cli *c, int id, void *ctx);

/* The whole loop: every flag of argv through take, then no word may be
 * left over.  0, or 1 after printing the one-line error (cli_die). */
int cli_parse(int argc, char **argv, const struct cli_flag *flags,
	      cli_take_fn take, void *ctx);

/* The current flag's value parsed as cli_int / cli_double / cli_int_list /
 * cli_choice / cli_u64 do, named as the user wrote it.  0 (cli_list: the
 * count; cli_pick: the index), or -1 with the message in c->err. */
int cli_get_int(struct cli *c, int lo, int hi, int *out);
int cli_get_double(struct cli *c, double lo, double hi, double *out);
int cli_get_u64(struct cli *c, uint64_t hi, uint64_t *out);
int cli_get_list(struct cli *c, int lo, int hi, int *out, int cap);
int cli_get_choice(struct cli *c, const char *const *names);

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

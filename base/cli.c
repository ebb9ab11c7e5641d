/* cli.c - flag-value parsing and the tools' message lines (see cli.h). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

static const char *prog = "q8tune";

int cli_long(const char *flag, const char *s, long lo, long hi, long *out,
	     char *err, size_t errlen)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (!*s || *s == ' ' || *s == '+' || errno || *end || v < lo ||
	    v > hi) {
		snprintf(err, errlen, "%s: '%s' is not a whole number from %ld "
			 "to %ld", flag, s, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

int cli_int(const char *flag, const char *s, int lo, int hi, int *out,
	    char *err, size_t errlen)
{
	long v;

	if (cli_long(flag, s, lo, hi, &v, err, errlen) < 0)
		return -1;
	*out = (int)v;
	return 0;
}

int cli_u64(const char *flag, const char *s, uint64_t hi, uint64_t *out,
	    char *err, size_t errlen)
{
	unsigned long long v = 0;
	char *end = NULL;
	int bad = !*s || *s == '-' || *s == '+' || *s == ' ';

	if (!bad) {
		errno = 0;
		v = strtoull(s, &end, 0);
		bad = errno || *end || v > hi;
	}
	if (bad) {
		snprintf(err, errlen, "%s: '%s' is not an unsigned number up to "
			 "%llu", flag, s, (unsigned long long)hi);
		return -1;
	}
	*out = v;
	return 0;
}

int cli_double(const char *flag, const char *s, double lo, double hi,
	       double *out, char *err, size_t errlen)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (!*s || *s == ' ' || errno || *end || !isfinite(v) || v < lo ||
	    v > hi) {
		snprintf(err, errlen, "%s: '%s' is not a number from %g to %g",
			 flag, s, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

int cli_int_list(const char *flag, const char *s, int lo, int hi, int *out,
		 int cap, char *err, size_t errlen)
{
	char item[64];
	int n = 0;

	for (const char *p = s;; ) {
		size_t len = strcspn(p, ",");

		if (n == cap) {
			snprintf(err, errlen, "%s: '%s' has more than %d values",
				 flag, s, cap);
			return -1;
		}
		if (len == 0 || len >= sizeof item) {
			snprintf(err, errlen, "%s: '%s' is not a comma-separated "
				 "list of whole numbers", flag, s);
			return -1;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		if (cli_int(flag, item, lo, hi, &out[n++], err, errlen) < 0)
			return -1;
		if (!p[len])
			return n;
		p += len + 1;
	}
}

int cli_choice(const char *flag, const char *s, const char *const *names,
	       char *err, size_t errlen)
{
	size_t at;
	int i;

	for (i = 0; names[i]; i++)
		if (!strcmp(s, names[i]))
			return i;
	at = (size_t)snprintf(err, errlen, "%s: '%s' is not", flag, s);
	for (i = 0; names[i] && at < errlen; i++)
		at += (size_t)snprintf(err + at, errlen - at, "%s %s",
				       !i ? "" : names[i + 1] ? "," : " or",
				       names[i]);
	return -1;
}

/* --- the flag loop ------------------------------------------------------ */

void cli_begin(struct cli *c, int argc, char **argv,
	       const struct cli_flag *flags)
{
	size_t n = 0, k = 0;

	memset(c, 0, sizeof *c);
	c->flags = flags;
	c->argc = argc;
	c->argv = argv;
	c->shorts[k++] = ':';	/* a missing value is ':', not '?' */
	for (const struct cli_flag *f = flags; f->id; f++) {
		if (f->name && n < CLI_MAX_FLAGS)
			c->lo[n++] = (struct option){ f->name, f->arg == 2 ?
				optional_argument : f->arg ? required_argument :
				no_argument, NULL, 256 + (int)(f - flags) };
		if (f->letter && k + 4 < sizeof c->shorts) {
			c->shorts[k++] = (char)f->letter;
			for (int i = 0; i < f->arg; i++)
				c->shorts[k++] = ':';
		}
	}
	optind = 0;	/* glibc: start afresh, also after an earlier pass */
	opterr = 0;	/* one line of our own instead of getopt's */
}

/* The table entry of what getopt_long returned, or NULL. */
static const struct cli_flag *entry_of(const struct cli *c, int r)
{
	if (r >= 256)
		return &c->flags[r - 256];
	for (const struct cli_flag *f = c->flags; f->id; f++)
		if (f->letter == r)
			return f;
	return NULL;
}

int cli_next(struct cli *c)
{
	const struct cli_flag *f;
	const char *bad;
	int r;

	r = getopt_long(c->argc, c->argv, c->shorts, c->lo, NULL);
	if (r == -1)
		return 0;
	bad = c->argv[optind - 1];
	if (r == '?' || r == ':') {
		if (optopt > 0 && optopt < 256)
			snprintf(c->fbuf, sizeof c->fbuf, "-%c", optopt);
		else
			snprintf(c->fbuf, sizeof c->fbuf, "%.*s", (int)strcspn(bad, "="),
				 bad);
		if (r == ':')
			snprintf(c->err, sizeof c->err, "%s needs a value (see --help)",
				 c->fbuf);
		else if (optopt >= 256)
			snprintf(c->err, sizeof c->err, "%s takes no value (see --help)",
				 c->fbuf);
		else
			snprintf(c->err, sizeof c->err, "unknown option '%s' (see "
				 "--help)", c->fbuf);
		return -1;
	}
	f = entry_of(c, r);
	if (r >= 256)
		snprintf(c->fbuf, sizeof c->fbuf, "--%s", f->name);
	else
		snprintf(c->fbuf, sizeof c->fbuf, "-%c", f->letter);
	c->flag = c->fbuf;
	c->val = f->arg ? optarg : NULL;
	return f->id;
}

const char *cli_word(struct cli *c)
{
	if (optind >= c->argc || c->argv[optind][0] == '-')
		return NULL;
	return c->argv[optind++];
}

const char *cli_rest(const struct cli *c)
{
	return optind < c->argc ? c->argv[optind] : NULL;
}

int cli_parse(int argc, char **argv, const struct cli_flag *flags,
	      cli_take_fn take, void *ctx)
{
	struct cli c;
	int id;

	cli_begin(&c, argc, argv, flags);
	while ((id = cli_next(&c)) != 0)
		if (id < 0 || take(&c, id, ctx) < 0)
			return cli_die("%s", c.err);
	if (cli_rest(&c))
		return cli_die("unexpected argument '%s' (see --help)", cli_rest(&c));
	return 0;
}

int cli_get_int(struct cli *c, int lo, int hi, int *out)
{
	return cli_int(c->flag, c->val, lo, hi, out, c->err, sizeof c->err);
}

int cli_get_double(struct cli *c, double lo, double hi, double *out)
{
	return cli_double(c->flag, c->val, lo, hi, out, c->err, sizeof c->err);
}

int cli_get_u64(struct cli *c, uint64_t hi, uint64_t *out)
{
	return cli_u64(c->flag, c->val, hi, out, c->err, sizeof c->err);
}

int cli_get_list(struct cli *c, int lo, int hi, int *out, int cap)
{
	return cli_int_list(c->flag, c->val, lo, hi, out, cap, c->err,
			    sizeof c->err);
}

int cli_get_choice(struct cli *c, const char *const *names)
{
	return cli_choice(c->flag, c->val, names, c->err, sizeof c->err);
}

void cli_set_prog(const char *name)
{
	prog = name;
}

/* "prog: TAGmessage\n" on stderr. */
static void say(const char *tag, const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: %s", prog, tag);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int cli_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say("", fmt, ap);
	va_end(ap);
	return 1;
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say("warning: ", fmt, ap);
	va_end(ap);
}

int cli_exit(int rc)
{
	int bad = fflush(stdout) != 0 || ferror(stdout);
	int e = errno;

	if (fclose(stdout) != 0 && !bad) {
		bad = 1;
		e = errno;
	}
	if (!bad)
		return rc;
	cli_die("cannot write to stdout: %s", strerror(e ? e : EIO));
	return 1;
}

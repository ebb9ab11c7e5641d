/* run.h - runs a tool as a child process for the CLI tests. */
#ifndef Q8TUNE_TESTS_RUN_H
#define Q8TUNE_TESTS_RUN_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct proc {
	int status;		/* raw wait status */
	char *out, *err;	/* NUL-terminated captures (caller frees) */
};

static inline char *slurp_fd(int fd)
{
	size_t n = 0, cap = 4096;
	char *b = malloc(cap);
	ssize_t k;

	lseek(fd, 0, SEEK_SET);
	while (b && (k = read(fd, b + n, cap - n - 1)) > 0) {
		n += (size_t)k;
		if (cap - n < 2)
			b = realloc(b, cap *= 2);
	}
	if (b)
		b[n] = '\0';
	close(fd);
	return b;
}

/* Runs argv (argv[0] a path) with stdout and stderr captured; returns the
 * wait status in p->status. */
static inline void run_argv(char *const argv[], struct proc *p)
{
	char on[] = "/tmp/q8t-outXXXXXX", en[] = "/tmp/q8t-errXXXXXX";
	int of = mkstemp(on), ef = mkstemp(en);
	pid_t pid;

	unlink(on);
	unlink(en);
	pid = fork();
	if (pid == 0) {
		dup2(of, 1);
		dup2(ef, 2);
		int nul = open("/dev/null", O_RDONLY);
		dup2(nul, 0);
		execv(argv[0], argv);
		_exit(127);
	}
	waitpid(pid, &p->status, 0);
	p->out = slurp_fd(of);
	p->err = slurp_fd(ef);
}

static inline void proc_free(struct proc *p)
{
	free(p->out);
	free(p->err);
}

/* Counts '\n'-terminated lines. */
static inline int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

#endif

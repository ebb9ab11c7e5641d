/* file.c - atomic file replacement, folder creation and safe opening for
 * reading (see file.h). */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <time.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "file.h"

static enum atomic_fault fault;
static const char *kind_of(const struct stat *st);

void atomic_fault_set(enum atomic_fault f)
{
	fault = f;
}

/* 1 (and the hook cleared) if the injected fault is at step f. */
static int fault_at(enum atomic_fault f)
{
	if (fault != f)
		return 0;
	fault = ATOMIC_FAULT_NONE;
	return 1;
}

/* Writes all n bytes; with the WRITE fault, half of them then EIO. */
static int write_all(int fd, const char *p, size_t n)
{
	if (fault_at(ATOMIC_FAULT_WRITE)) {
		if (write(fd, p, n / 2) < 0)
			return -1;
		errno = EIO;
		return -1;
	}
	while (n) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* The folder holding path into dir ("." or "/" at the ends). */
static void dir_of(const char *path, char *dir, size_t cap)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(dir, cap, ".");
	else if (slash == path)
		snprintf(dir, cap, "/");
	else
		snprintf(dir, cap, "%.*s", (int)(slash - path), path);
}

/* fsyncs the folder, so the rename itself is durable. */
static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	/* some file systems cannot sync a directory: nothing more to do */
	if (rc < 0 && errno == EINVAL)
		rc = 0;
	close(fd);
	return rc;
}

int file_write_atomic(const char *path, const void *buf, size_t n,
		      int mkdir_parent, char *err, size_t errlen)
{
	char tmp[4096], dir[4096];
	const char *step = "cannot create a temp file";
	int fd = -1, rc;

	if ((size_t)snprintf(tmp, sizeof tmp, "%s.%d.XXXXXX.tmp", path,
			     (int)getpid()) >= sizeof tmp) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	if (file_check_target(path, err, errlen) < 0)
		return -1;
	file_clean_stale(path);
	dir_of(path, dir, sizeof dir);
	if (mkdir_parent && mkdir(dir, 0777) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: cannot create folder %s: %s", path, dir,
			 strerror(errno));
		return -1;
	}
	if (fault_at(ATOMIC_FAULT_OPEN)) {
		errno = EACCES;
		goto fail;
	}
	if ((fd = mkstemps(tmp, 4)) < 0)
		goto fail;
	step = "cannot write the temp file";
	if (fchmod(fd, 0644) < 0 || write_all(fd, buf, n) < 0)
		goto unlink_tmp;
	step = "cannot fsync the temp file";
	if (fault_at(ATOMIC_FAULT_FSYNC)) {
		errno = EIO;
		goto unlink_tmp;
	}
	if (fsync(fd) < 0)
		goto unlink_tmp;
	step = "cannot close the temp file";
	rc = close(fd);
	fd = -1;
	if (rc < 0)
		goto unlink_tmp;
	step = "cannot rename the temp file over it";
	if (fault_at(ATOMIC_FAULT_RENAME)) {
		errno = EXDEV;
		goto unlink_tmp;
	}
	if (rename(tmp, path) < 0)
		goto unlink_tmp;
	/* the new file is in place; only its durability is in doubt now */
	step = "written, but cannot fsync its directory";
	if (sync_dir(dir) < 0)
		goto fail;
	return 0;

unlink_tmp:
	{
		int e = errno;

		if (fd >= 0)
			close(fd);
		unlink(tmp);
		errno = e;
	}
fail:
	snprintf(err, errlen, "%s: %s: %s", path, step, strerror(errno));
	return -1;
}

/* 1 if name (in the folder of a target whose file name is base) is a
 * temp file of an earlier write to it that no one will finish: "BASE.
 * PID.XXXXXX.tmp" whose PID is gone and whose mtime is a minute old, or
 * the PID-less "BASE.XXXXXX.tmp" of older builds when a minute old. */
static int stale_temp(const char *dirpath, const char *base, const char *name,
		      time_t now)
{
	const size_t nb = strlen(base), nn = strlen(name);
	char path[4096 + 256 + 2];	/* a folder and a d_name */
	struct stat st;
	int pid = 0, used = 0;

	if (nn < nb + 11 || strncmp(name, base, nb) || name[nb] != '.' ||
	    strcmp(name + nn - 4, ".tmp"))
		return 0;
	/* the middle: "PID.XXXXXX" or "XXXXXX" */
	if (nn - nb - 5 != 6) {
		if (sscanf(name + nb + 1, "%d.%n", &pid, &used) != 1 || pid <= 0 ||
		    nn - nb - 1 - (size_t)used - 4 != 6)
			return 0;
		if (kill(pid, 0) == 0 || errno != ESRCH)
			return 0;	/* its writer is alive (or not ours to see) */
	}
	snprintf(path, sizeof path, "%s/%s", dirpath, name);
	return lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       now - st.st_mtime > 60;
}

int file_clean_stale(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
	time_t now = time(NULL);
	struct dirent *e;
	DIR *d;
	int n = 0;

	dir_of(path, dir, sizeof dir);
	if (!(d = opendir(dir)))
		return 0;
	while ((e = readdir(d)))
		if (stale_temp(dir, base, e->d_name, now)) {
			char p[sizeof dir + sizeof e->d_name + 1];
			snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
			n += unlink(p) == 0;
		}
	closedir(d);
	return n;
}

int file_mkdirs(const char *path)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n >= sizeof buf) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0777) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return 0;
}

/* What kind of file st is, for the message. */
static const char *kind_of(const struct stat *st)
{
	return S_ISDIR(st->st_mode) ? "a directory" : S_ISFIFO(st->st_mode) ?
	       "a FIFO" : S_ISCHR(st->st_mode) ? "a character device" :
	       S_ISBLK(st->st_mode) ? "a block device" : S_ISSOCK(st->st_mode) ?
	       "a socket" : "not a regular file";
}

int file_check_target(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) < 0 || S_ISREG(st.st_mode))
		return 0;	/* absent: it will be made (or the write says why) */
	snprintf(err, errlen, "%s: is %s, not a regular file", path, kind_of(&st));
	return -1;
}

int file_open_read(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC), e;

	if (fd < 0) {
		e = errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
		errno = e;
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		e = errno;
		snprintf(err, errlen, "%s: cannot stat: %s", path, strerror(e));
		close(fd);
		errno = e;
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: is %s, not a regular file", path,
			 kind_of(&st));
		close(fd);
		errno = EINVAL;
		return -1;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		e = errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

FILE *file_fopen_read(const char *path, char *err, size_t errlen)
{
	int fd = file_open_read(path, err, errlen);
	FILE *f;

	if (fd < 0)
		return NULL;
	if (!(f = fdopen(fd, "r"))) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		close(fd);
	}
	return f;
}

int file_lock(const char *path, char *err, size_t errlen)
{
	char lp[4096];
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int fd;

	if ((size_t)snprintf(lp, sizeof lp, "%s.lock", path) >= sizeof lp) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	if (file_mkdirs(lp) < 0 ||
	    (fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
		snprintf(err, errlen, "%s: cannot make its lock file %s: %s", path,
			 lp, strerror(errno));
		return -1;
	}
	if (fcntl(fd, F_SETLK, &fl) == 0)
		return fd;
	if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
		snprintf(err, errlen, "%s is in use by process %d (another tune?): "
			 "wait for it to finish, or give this run its own file", path,
			 (int)fl.l_pid);
	else
		snprintf(err, errlen, "%s: cannot lock %s: %s", path, lp,
			 strerror(errno));
	close(fd);
	return -1;
}

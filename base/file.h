/* file.h - files the way every layer writes them: replacing a file's
 * contents so that a reader (or a crash) sees the old file or the new one,
 * never a mix (the best-config file, the roofline file), and creating the
 * folders a result file goes into. */
#ifndef Q8TUNE_FILE_H
#define Q8TUNE_FILE_H

#include <stddef.h>
#include <stdio.h>

/* Writes n bytes of buf to path: a temporary file beside it
 * (path.PID.XXXXXX.tmp, mode 0644), fsync, rename over path, fsync of the
 * folder.  With mkdir_parent the folder is created first if missing (one
 * level).  On failure path is untouched and no temporary file is left.
 * 0, or -1 with one line "PATH: step: reason" in err; the steps are
 * "cannot create a temp file", "cannot write the temp file", "cannot
 * fsync the temp file", "cannot close the temp file", "cannot rename the
 * temp file over it", "written, but cannot fsync its directory". */
int file_write_atomic(const char *path, const void *buf, size_t n,
		      int mkdir_parent, char *err, size_t errlen);

/* Fault injection for tests (not thread-safe): the next file_write_atomic
 * fails at the given step, then the hook resets itself. */
enum atomic_fault {
	ATOMIC_FAULT_NONE,
	ATOMIC_FAULT_OPEN,	/* creating the temp file */
	ATOMIC_FAULT_WRITE,	/* after writing half the bytes */
	ATOMIC_FAULT_FSYNC,	/* fsync of the temp file */
	ATOMIC_FAULT_RENAME,	/* rename over the target */
};
void atomic_fault_set(enum atomic_fault f);

/* Whether path may be written or replaced: it is absent, or a regular
 * file (symlinks followed).  0, or -1 with one line "PATH: is a FIFO, not
 * a regular file" (a directory, a device...), so a tool can refuse before
 * it works; file_write_atomic refuses the same way, as renaming over
 * /dev/null would replace the device for a root user. */
int file_check_target(const char *path, char *err, size_t errlen);

/* Removes the temp files that earlier writes to path left when they were
 * killed: "path.PID.XXXXXX.tmp" whose process is gone, and the PID-less
 * "path.XXXXXX.tmp" of older builds, each only when its mtime is more
 * than a minute old.  file_write_atomic calls it first.  Returns how many
 * it removed. */
int file_clean_stale(const char *path);

/* Opens path for reading only if it is a regular file, without ever
 * blocking: opened with O_NONBLOCK (a FIFO with no writer would hang a
 * plain open), checked with fstat, then made blocking again.  The fd, or
 * -1 with errno set and one line in err: "PATH: cannot open: REASON",
 * "PATH: is a directory, not a regular file", "PATH: is a FIFO, not a
 * regular file" (ENOENT leaves errno ENOENT for callers that treat a
 * missing file as empty). */
int file_open_read(const char *path, char *err, size_t errlen);

/* file_open_read as a FILE * (mode "r"), or NULL with errno and err. */
FILE *file_fopen_read(const char *path, char *err, size_t errlen);

/* Takes the lock "path.lock" (made if absent, folders included): a POSIX
 * record lock, held until the returned fd is closed or the process ends,
 * never inherited by fork children, so a second process that asks gets
 * the holder's pid.  The fd, or -1 with one line in err: "PATH is in use
 * by process PID (another tune?)" or why the lock file cannot be made. */
int file_lock(const char *path, char *err, size_t errlen);

/* mkdir -p of the folders leading to path (not path itself): "a/b/c.json"
 * creates a and a/b.  0, or -1 with errno set (path too long: ENAMETOOLONG). */
int file_mkdirs(const char *path);

#endif

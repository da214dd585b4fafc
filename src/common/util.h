/*
 * Small helpers: allocation that cannot fail (fatal on exhaustion), file
 * reading, descriptors.
 */
#ifndef SINKTRAP_UTIL_H
#define SINKTRAP_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);

/* Read a whole file (at most max bytes) into a NUL-terminated malloced buffer. NULL + errno. */
char *read_file(const char *path, size_t max, size_t *len);
int fd_nonblock(int fd);
int fd_cloexec(int fd);
/*
 * The soft limit on open descriptors raised to the hard one: idle trap
 * connections by the ten thousand, and a socket per upstream query in
 * flight, need them. Workers inherit it from the parent; a worker run alone
 * raises its own.
 */
void raise_nofile(void);
/* Create a directory and its parents (mode 0750); 0 or -errno. */
int mkdir_p(const char *path);
/* The same, each directory it makes given to uid:gid (uid -1: none), so that
 * user can reach the last one. */
int mkdir_p_owned(const char *path, uid_t uid, gid_t gid);
/* write() all of buf, retrying on EINTR; 0 or -errno. */
int write_full(int fd, const void *buf, size_t len);
/* "/proc/self/fd/FD" in buf: a path that opens what fd refers to again (a file
 * renamed or unlinked since, a memory file). Returns buf. */
#define FD_PATH_MAX 32
const char *fd_path(int fd, char buf[FD_PATH_MAX]);
/*
 * Open name in the directory dfd for reading, if it is a regular file with
 * one name: never through a symbolic link at name and never waiting on a
 * FIFO, for files in a directory another user can write (with AT_FDCWD, name
 * may be a path: its last name alone is never followed). The descriptor
 * (O_CLOEXEC; O_NONBLOCK, which a regular file ignores) and its stat in *st
 * (may be NULL); -ENOENT when it is not there; else -errno with what it is in
 * why: "a symbolic link", "not a regular file (a FIFO)", "a file with 2 names
 * (hard links)", or the error's text.
 */
int open_plain_at(int dfd, const char *name, struct stat *st, char *why, size_t whylen);
/*
 * Write len bytes of buf as name in the directory dfd, never through a link
 * and never over a file already there: written under a temporary name made
 * there (.name.XXXXXX: O_EXCL, O_NOFOLLOW, given exactly mode), synced, then
 * renamed to name only if name is still free, and the directory synced.
 * Whoever looks finds name complete or not at all. 0; -EEXIST when name is
 * there (nothing is left behind); else -errno.
 */
int write_file_at(int dfd, const char *name, mode_t mode, const void *buf, size_t len);
/*
 * Remove what a write_file_at of name in dfd left when its process died
 * between making its temporary file and renaming it (.name.XXXXXX, six of
 * [a-z0-9]), when it was last changed more than min_age seconds ago (so a
 * write under way in another process is left alone). Regular files only,
 * nothing followed. The number removed; each name removed in removed (a
 * callback, may be NULL) before it goes.
 */
int sweep_tmp_at(int dfd, const char *name, int min_age,
                 void (*removed)(const char *tmp, void *arg), void *arg);
/* Monotonic clock in milliseconds. */
int64_t mono_ms(void);
/* Format an error message into err[errlen]; nothing when err is NULL or errlen 0. */
void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The same, returning code: `return set_err_code(-EIO, err, errlen, ...)`. */
int set_err_code(int code, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/*
 * A duration: "1500ms", "2s", "5m", "1h", or a bare number of seconds, at most
 * max_ms; 0, or -1 for anything else.
 */
int parse_duration_ms(const char *v, long max_ms, long *out);

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif

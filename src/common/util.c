#include "util.h"

#include <dirent.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "siphash.h"

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		fatal("malloc %zu", n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL)
		fatal("calloc %zu x %zu", n, size);
	return p;
}

void *xreallocarray(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		fatalx("reallocarray overflow");
	size_t bytes = n * size;
	void *q = realloc(p, bytes ? bytes : 1);
	if (q == NULL)
		fatal("realloc %zu", n * size);
	return q;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (p == NULL)
		fatal("strdup");
	return p;
}

char *read_file(const char *path, size_t max, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t cap = 4096, n = 0;
	char *buf = xmalloc(cap + 1);
	for (;;) {
		if (n == cap) {
			if (cap >= max) {
				free(buf);
				close(fd);
				errno = EFBIG;
				return NULL;
			}
			cap *= 2;
			buf = xreallocarray(buf, cap + 1, 1);
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(buf);
			close(fd);
			errno = e;
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	*len = n;
	return buf;
}

int fd_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int fd_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);
	if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
		return -errno;
	return 0;
}

int mkdir_p(const char *path)
{
	return mkdir_p_owned(path, (uid_t)-1, (gid_t)-1);
}

/*
 * A symlink is followed only where its directory is trusted: owned by root (or
 * by this process's user) and writable by no one else. In a directory another
 * user can write (a state directory the workers own, /tmp), a link there could
 * have been planted to send root's mkdir and chown elsewhere.
 */
static int dir_trusted(int dfd)
{
	struct stat st;
	if (fstat(dfd, &st) < 0)
		return 0;
	return (st.st_uid == 0 || st.st_uid == geteuid()) &&
	       !(st.st_mode & (S_IWGRP | S_IWOTH));
}

/*
 * Each directory of path made here is given to uid:gid (unless uid is -1), by
 * its descriptor, walked from the root (or the working directory) one name at
 * a time: one renamed away and replaced by a link between the mkdir and the
 * chown is not given away, and links are followed only as dir_trusted says.
 * The last name, when it is there already, is not opened: whatever it is (a
 * link too), the caller decides what to do with it.
 */
int mkdir_p_owned(const char *path, uid_t uid, gid_t gid)
{
	char tmp[PATH_MAX];
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, n + 1);
	int dfd = open(tmp[0] == '/' ? "/" : ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	char *save = NULL;
	char *name = strtok_r(tmp, "/", &save);
	while (name) {
		char *next = strtok_r(NULL, "/", &save);
		if (strcmp(name, ".") == 0) {
			name = next;
			continue;
		}
		int made = mkdirat(dfd, name, 0750) == 0;
		if (!made && errno != EEXIST) {
			int e = -errno;
			close(dfd);
			return e;
		}
		if (!made && next == NULL)
			break; /* there already: what it is, the caller checks (sandbox_chown)
			        */
		int fl = O_DIRECTORY | O_RDONLY | O_CLOEXEC;
		if (!dir_trusted(dfd))
			fl |= O_NOFOLLOW;
		int nfd = openat(dfd, name, fl);
		int e = nfd < 0 ? -errno : 0;
		struct stat st;
		/* O_DIRECTORY says ENOTDIR of a link it did not follow: say ELOOP. */
		if (e == -ENOTDIR && (fl & O_NOFOLLOW) &&
		    fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
			e = -ELOOP;
		close(dfd);
		if (nfd < 0)
			return e;
		dfd = nfd;
		/* Given away only if it is still the one made here (this process's). */
		if (made && uid != (uid_t)-1 && fstat(dfd, &st) == 0 &&
		    st.st_uid == geteuid() && fchown(dfd, uid, gid) < 0) {
			e = -errno;
			close(dfd);
			return e;
		}
		name = next;
	}
	close(dfd);
	return 0;
}

const char *fd_path(int fd, char buf[FD_PATH_MAX])
{
	snprintf(buf, FD_PATH_MAX, "/proc/self/fd/%d", fd);
	return buf;
}

int write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int open_plain_at(int dfd, const char *name, struct stat *st, char *why, size_t whylen)
{
	struct stat own;
	if (st == NULL)
		st = &own;
	set_err(why, whylen, "%s", "");
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e != ENOENT)
			set_err(why, whylen, "%s",
			        e == ELOOP ? "a symbolic link" : strerror(e));
		return -e;
	}
	int rc = -EPERM;
	if (fstat(fd, st) < 0) {
		rc = -errno;
		set_err(why, whylen, "%s", strerror(-rc));
	} else if (!S_ISREG(st->st_mode)) {
		set_err(why, whylen, "not a regular file (%s)",
		        S_ISDIR(st->st_mode)    ? "a directory"
		        : S_ISFIFO(st->st_mode) ? "a FIFO"
		        : S_ISSOCK(st->st_mode) ? "a socket"
		                                : "a device");
	} else if (st->st_nlink != 1) {
		set_err(why, whylen, "a file with %lu names (hard links)",
		        (unsigned long)st->st_nlink);
	} else {
		return fd;
	}
	close(fd);
	return rc;
}

/* The suffix of write_file_at's temporary names: six of these. */
static const char tmp_set[] = "abcdefghijklmnopqrstuvwxyz0123456789";
#define TMP_SFX_LEN 6

/* name, unless something is there: atomically where the file system can. */
static int publish_at(int dfd, const char *tmp, const char *name)
{
	if (renameat2(dfd, tmp, dfd, name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	/* A file system without RENAME_NOREPLACE: a second name, then the
	 * temporary one removed (linkat follows no link at tmp). */
	if (linkat(dfd, tmp, dfd, name, 0) < 0)
		return -errno;
	unlinkat(dfd, tmp, 0);
	return 0;
}

int write_file_at(int dfd, const char *name, mode_t mode, const void *buf, size_t len)
{
	char tmp[NAME_MAX + 1];
	int fd = -1, rc;
	if (name[0] == '\0' || strchr(name, '/') != NULL || strlen(name) + 9 > NAME_MAX)
		return -EINVAL;
	for (int tries = 0; fd < 0 && tries < 100; tries++) {
		unsigned char r[TMP_SFX_LEN];
		if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
			uint64_t x = (uint64_t)mono_ms() * 2654435761u ^ (uint64_t)getpid() ^
			             (uint64_t)tries << 40;
			memcpy(r, &x, sizeof(r));
		}
		char sfx[sizeof(r) + 1];
		for (size_t i = 0; i < sizeof(r); i++)
			sfx[i] = tmp_set[r[i] % (sizeof(tmp_set) - 1)];
		sfx[sizeof(r)] = '\0';
		snprintf(tmp, sizeof(tmp), ".%s.%s", name, sfx);
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		            0600);
		if (fd < 0 && errno != EEXIST)
			return -errno;
	}
	if (fd < 0)
		return -EEXIST;
	rc = fchmod(fd, mode) < 0 ? -errno : write_full(fd, buf, len);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0)
		rc = publish_at(dfd, tmp, name);
	if (rc < 0) {
		unlinkat(dfd, tmp, 0);
		return rc;
	}
	fsync(dfd); /* the new name itself durable; -EBADF from an O_PATH dfd: no matter */
	return 0;
}

int sweep_tmp_at(int dfd, const char *name, int min_age,
                 void (*removed)(const char *tmp, void *arg), void *arg)
{
	size_t nlen = strlen(name);
	int dup = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dup < 0)
		return -errno;
	DIR *d = fdopendir(dup);
	if (d == NULL) {
		int e = errno;
		close(dup);
		return -e;
	}
	int n = 0;
	time_t now = time(NULL);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		const char *s = de->d_name;
		if (strlen(s) != nlen + 2 + TMP_SFX_LEN || s[0] != '.' ||
		    strncmp(s + 1, name, nlen) != 0 || s[nlen + 1] != '.' ||
		    strspn(s + nlen + 2, tmp_set) != TMP_SFX_LEN)
			continue;
		struct stat st;
		if (fstatat(dfd, s, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
		    now - st.st_mtime <= min_age)
			continue;
		if (removed)
			removed(s, arg);
		if (unlinkat(dfd, s, 0) == 0)
			n++;
	}
	closedir(d);
	return n;
}

void sipkey_init(struct sipkey *k, uint64_t seed, const void *salt)
{
	uint64_t v[2] = {seed, seed * 0x9e3779b97f4a7c15ull};
	if (seed == 0 && getrandom(v, sizeof(v), 0) != (ssize_t)sizeof(v)) {
		v[0] =
		    (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)salt ^ (uint64_t)getpid() << 32;
		v[1] = v[0] * 0x9e3779b97f4a7c15ull;
	}
	k->k0 = v[0];
	k->k1 = v[1];
}

int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void vset_err(char *err, size_t errlen, const char *fmt, va_list ap)
{
	if (err != NULL && errlen > 0)
		vsnprintf(err, errlen, fmt, ap);
}

void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vset_err(err, errlen, fmt, ap);
	va_end(ap);
}

int set_err_code(int code, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vset_err(err, errlen, fmt, ap);
	va_end(ap);
	return code;
}

int parse_duration_ms(const char *v, long max_ms, long *out)
{
	/* Decimal digits, maybe a fraction, then the unit: no sign, exponent,
	 * hexadecimal, infinity or space, which strtod would take. */
	const char *q = v;
	while (isdigit((unsigned char)*q))
		q++;
	if (q == v)
		return -1;
	if (*q == '.') {
		const char *f = ++q;
		while (isdigit((unsigned char)*q))
			q++;
		if (q == f)
			return -1;
	}
	char *end;
	errno = 0;
	double d = strtod(v, &end);
	if (end != q || errno || !(d >= 0))
		return -1;
	if (!strcmp(end, "ms"))
		;
	else if (!strcmp(end, "s") || *end == '\0')
		d *= 1000;
	else if (!strcmp(end, "m"))
		d *= 60000;
	else if (!strcmp(end, "h"))
		d *= 3600000;
	else
		return -1;
	if (d > (double)max_ms)
		return -1;
	*out = (long)d;
	return 0;
}

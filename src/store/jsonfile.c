#include "jsonfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "render.h"

#define MAX_BUFFERED (64u << 20)
/* A rotation that failed is tried again after this; its warning is repeated at most
 * this often (a directory the store may not write fails every time). */
#define ROTATE_RETRY_MS 5000
#define ROTATE_WARN_MS 60000

struct jsonfile {
	char *path;
	int64_t max_size;
	int keep;
	int fd;
	int64_t size;
	struct strbuf buf;
	uint32_t buf_lines;
	uint64_t lines, errors, rotations, dropped;
	int failing; /* the last flush could not write everything */
	/* The last rotation failed: the file grows past max_size until one works. */
	int rotate_failing;
	int64_t rotate_retry_at, rotate_warned_at; /* mono ms */
	uint64_t rotate_failures;
	char rotate_err[256];
};

struct jsonfile *jsonfile_new(const char *path, int64_t max_size, int keep)
{
	struct jsonfile *j = xcalloc(1, sizeof(*j));
	j->path = xstrdup(path);
	j->max_size = max_size;
	j->keep = keep > 0 ? keep : 1;
	j->fd = -1;
	strbuf_init(&j->buf);
	return j;
}

const char *jsonfile_path(const struct jsonfile *j)
{
	return j->path;
}

void jsonfile_counts(const struct jsonfile *j, uint64_t *lines, uint64_t *errors,
                     uint64_t *rotations, uint64_t *dropped)
{
	*lines = j->lines;
	*errors = j->errors;
	*rotations = j->rotations;
	*dropped = j->dropped;
}

static int open_file(struct jsonfile *j)
{
	struct stat st;
	if (j->fd >= 0)
		close(j->fd);
	j->fd = open(j->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (j->fd < 0)
		return -errno;
	j->size = fstat(j->fd, &st) == 0 ? (int64_t)st.st_size : 0;
	return 0;
}

/*
 * events.json -> events.json.rotating first: only once that worked are
 * events.json.(i) -> .(i+1) for i = keep-1 .. 1 moved, and .rotating -> .1,
 * so a rotation that cannot be done moves none of the older files. Then a
 * new events.json. 0, or -1 when the file could not be renamed (a directory
 * the store may not write...): the same file stays open, to be written past
 * max_size, and the rotation is tried again after ROTATE_RETRY_MS. A file
 * that is no longer there (removed, or moved by hand) is started again.
 */
static void shift_rotated(struct jsonfile *j, char *from, char *to, size_t n)
{
	for (int i = j->keep - 1; i >= 1; i--) {
		snprintf(from, n, "%s.%d", j->path, i);
		snprintf(to, n, "%s.%d", j->path, i + 1);
		if (rename(from, to) < 0 && errno != ENOENT)
			log_warn("rotate %s", from);
	}
}

/*
 * A .rotating left by a rotation that a crash cut short holds lines older
 * than the file in use: it takes the place of .1 before the new rotation,
 * which would otherwise rename over it.
 */
static void finish_cut_rotation(struct jsonfile *j, char *from, char *to, size_t n)
{
	struct stat st;
	snprintf(from, n, "%s.rotating", j->path);
	if (lstat(from, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	snprintf(to, n, "%s.1", j->path);
	if (lstat(to, &st) == 0)
		shift_rotated(j, from, to, n);
	snprintf(from, n, "%s.rotating", j->path);
	snprintf(to, n, "%s.1", j->path);
	if (rename(from, to) < 0)
		log_warn("rotate: %s, left by a rotation that was cut short, to %s", from, to);
	else
		log_warnx("%s: left by a rotation that was cut short: now %s", from, to);
}

static int rotate(struct jsonfile *j)
{
	size_t n = strlen(j->path) + 16;
	char *from = xmalloc(n), *to = xmalloc(n);
	finish_cut_rotation(j, from, to, n);
	snprintf(from, n, "%s.rotating", j->path);
	snprintf(to, n, "%s", from);
	int r = rename(j->path, from) < 0 ? -errno : 0;
	int64_t now = mono_ms();
	if (r == -ENOENT) {
		/* Written so far into a file no longer in the directory. */
		log_warnx("%s is gone (removed or moved away): a new one is started", j->path);
		r = 0;
	} else if (r == 0) {
		shift_rotated(j, from, to, n);
		snprintf(from, n, "%s.rotating", j->path);
		snprintf(to, n, "%s.1", j->path);
		if (rename(from, to) < 0) {
			r = -errno; /* back where it was: written on, past the size */
			if (rename(from, j->path) < 0)
				log_warn("rotate: %s back to %s", from, j->path);
		} else {
			j->rotations++;
		}
	}
	if (r < 0) {
		char err[sizeof(j->rotate_err)];
		snprintf(err, sizeof(err), "cannot rename it to %s: %s", to, strerror(-r));
		j->rotate_failures++;
		j->rotate_retry_at = now + ROTATE_RETRY_MS;
		if (!j->rotate_failing || strcmp(err, j->rotate_err) != 0 ||
		    now - j->rotate_warned_at >= ROTATE_WARN_MS) {
			log_warnx("%s: %s; the file grows past json_max_size (%lld bytes now, "
			          "rotation tried again every %d s)",
			          j->path, err, (long long)j->size, ROTATE_RETRY_MS / 1000);
			j->rotate_warned_at = now;
		}
		snprintf(j->rotate_err, sizeof(j->rotate_err), "%s", err);
		j->rotate_failing = 1;
	} else {
		if (j->rotate_failing)
			log_info("rotated %s (%lld bytes) after %llu failed tries", j->path,
			         (long long)j->size, (unsigned long long)j->rotate_failures);
		else
			log_info("rotated %s (%lld bytes)", j->path, (long long)j->size);
		j->rotate_failing = 0;
		j->rotate_failures = 0;
		j->rotate_err[0] = '\0';
	}
	free(from);
	free(to);
	if (r < 0)
		return -1;
	r = open_file(j);
	if (r < 0)
		log_warnx("%s: %s", j->path, strerror(-r));
	return 0;
}

const char *jsonfile_rotate_error(const struct jsonfile *j, int64_t *size)
{
	*size = j->size;
	return j->rotate_failing ? j->rotate_err : NULL;
}

void jsonfile_put(struct jsonfile *j, const char *line, size_t len)
{
	strbuf_put(&j->buf, line, len);
	strbuf_putc(&j->buf, '\n');
	j->buf_lines++;
}

size_t jsonfile_pending(const struct jsonfile *j)
{
	return j->buf.len;
}

uint64_t jsonfile_pending_lines(const struct jsonfile *j)
{
	return j->buf_lines;
}

int jsonfile_flush(struct jsonfile *j)
{
	if (j->buf.len == 0)
		return 0;
	if (j->fd < 0) {
		int r = open_file(j);
		if (r < 0) {
			if (j->errors++ % 1000 == 0)
				log_warnx("%s: %s", j->path, strerror(-r));
			goto keep;
		}
	}
	/* Whole lines up to the limit in each file: rotate between lines. A rotation
	 * that fails (or is not due again yet) lets the rest go past the limit. */
	size_t off = 0;
	int past = j->rotate_failing && mono_ms() < j->rotate_retry_at;
	while (off < j->buf.len) {
		size_t n = j->buf.len - off;
		if (j->max_size > 0 && !past && j->size + (int64_t)n > j->max_size) {
			int64_t room = j->max_size - j->size;
			const char *cut = NULL;
			if (room > 0)
				cut = memrchr(j->buf.data + off, '\n', (size_t)room);
			if (cut) {
				n = (size_t)(cut - (j->buf.data + off)) + 1;
			} else if (j->size > 0) {
				if (rotate(j) < 0)
					past = 1;
				else if (j->fd < 0)
					break;
				continue;
			} else {
				/* One line longer than the limit: it gets a file of its own. */
				cut = memchr(j->buf.data + off, '\n', n);
				n = cut ? (size_t)(cut - (j->buf.data + off)) + 1 : n;
			}
		}
		ssize_t w = 0;
		int r = 0;
		while ((size_t)w < n) {
			ssize_t k = write(j->fd, j->buf.data + off + w, n - (size_t)w);
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0) {
				r = -errno;
				break;
			}
			w += k;
		}
		if (r < 0) {
			/*
			 * A full disk must not take the store down: say so, keep the
			 * lines for the next flush, and take back the part of a line
			 * that went in, so that the file never holds half a line.
			 */
			const char *nl =
			    w > 0 ? memrchr(j->buf.data + off, '\n', (size_t)w) : NULL;
			size_t whole = nl ? (size_t)(nl - (j->buf.data + off)) + 1 : 0;
			struct stat st;
			if ((size_t)w > whole && fstat(j->fd, &st) == 0 &&
			    st.st_size >= w - (ssize_t)whole &&
			    ftruncate(j->fd, st.st_size - (w - (ssize_t)whole)) < 0)
				log_warn("%s: truncate", j->path);
			j->size += (int64_t)whole;
			off += whole;
			if (j->errors++ % 1000 == 0)
				log_warnx("%s: %s (%zu bytes of events not written yet)",
				          j->path, strerror(-r), j->buf.len - off);
			break;
		}
		j->size += (int64_t)n;
		off += n;
	}
	if (off < j->buf.len) {
		/* Keep what was not written for the next flush. */
		for (size_t i = 0; i < off; i++)
			if (j->buf.data[i] == '\n')
				j->buf_lines--, j->lines++;
		memmove(j->buf.data, j->buf.data + off, j->buf.len - off);
		j->buf.len -= off;
		goto keep;
	}
	if (j->failing) {
		log_info("%s: written again (%u lines that waited)", j->path, j->buf_lines);
		j->failing = 0;
	}
	j->lines += j->buf_lines;
	strbuf_reset(&j->buf);
	j->buf_lines = 0;
	return 0;
keep:
	j->failing = 1;
	if (j->buf.len >= MAX_BUFFERED) {
		/* Retrying forever would hold all memory: give them up, and say so. */
		log_warnx("%s: %zu lines (%zu bytes) of events could not be written and are "
		          "given up",
		          j->path, (size_t)j->buf_lines, j->buf.len);
		j->dropped += j->buf_lines;
		strbuf_reset(&j->buf);
		j->buf_lines = 0;
	}
	return -EIO;
}

void jsonfile_reopen(struct jsonfile *j)
{
	jsonfile_flush(j);
	int r = open_file(j);
	if (r < 0)
		log_warnx("%s: %s", j->path, strerror(-r));
	else
		log_info("reopened %s", j->path);
}

void jsonfile_free(struct jsonfile **jp)
{
	struct jsonfile *j = *jp;
	if (j == NULL)
		return;
	jsonfile_flush(j);
	if (j->buf_lines)
		log_warnx("%s: %u lines of events could not be written before the stop: they "
		          "are lost",
		          j->path, j->buf_lines);
	if (j->fd >= 0) {
		fsync(j->fd);
		close(j->fd);
	}
	strbuf_free(&j->buf);
	free(j->path);
	free(j);
	*jp = NULL;
}

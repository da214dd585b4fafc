#include "queue.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "../common/event.h"
#include "../common/log.h"
#include "../common/util.h"

#define HDR 8
#define WBUF_FLUSH (1u << 20)
/* Records the disk would not take are kept for the next flush up to this. */
#define WBUF_KEEP_MAX (64u << 20)
#define MAX_SEGMENT (16u << 20)
#define MIN_SEGMENT (8u << 10)
#define MAX_REC ((uint32_t)EV_MAX_RECORD + 64)

struct seg {
	uint64_t num;
	uint64_t bytes; /* flushed */
	uint64_t nrec;  /* flushed */
};

struct queue {
	char *dir;
	uint64_t max_bytes, seg_size;
	pthread_mutex_t mu;

	/* Under mu. */
	struct seg *segs; /* oldest first; the last is being written */
	size_t nsegs, capsegs;
	uint64_t total_bytes;
	uint64_t ack_seg, ack_off, ack_nrec; /* acknowledged up to here */
	uint64_t rd_seg, rd_off;             /* the consumer reads from here */
	uint64_t delivered, dropped, drops_untaken, appended;
	uint64_t damage_untaken; /* of dropped: records damaged on disk, not yet reported */
	int cursor_dirty;

	/* Producer only. */
	uint64_t wbytes; /* flushed bytes of the segment being written (its seg.bytes) */
	int wfd;
	uint8_t *wbuf;
	size_t wlen, wcap;
	uint32_t wn;
	uint64_t write_errors;
	int failing; /* the last flush could not write: wbuf waits for room */

	/* Consumer only. */
	int rfd;
	uint64_t rfd_seg;
	int evfd;
};

static void seg_path(const struct queue *q, uint64_t num, char *out, size_t n)
{
	snprintf(out, n, "%s/%016" PRIx64 ".q", q->dir, num);
}

static uint32_t crc(const uint8_t *p, size_t n)
{
	return (uint32_t)crc32(0L, p, (uInt)n);
}

/* ---------------------------------------------------------------- cursor */

/* A name made, renamed or removed in dir reaches the disk (a power loss keeps it). */
static void sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

static int cursor_write(const struct queue *q, uint64_t seg, uint64_t off, uint64_t nrec,
                        uint64_t delivered, uint64_t dropped)
{
	char path[4200], tmp[4210], line[256];
	int n = snprintf(line, sizeof(line),
	                 "sinktrap-queue 1 %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
	                 " %" PRIu64,
	                 seg, off, nrec, delivered, dropped);
	n += snprintf(line + n, sizeof(line) - (size_t)n, " %08x\n",
	              crc((uint8_t *)line, (size_t)n));
	snprintf(path, sizeof(path), "%s/cursor", q->dir);
	snprintf(tmp, sizeof(tmp), "%s/cursor.tmp", q->dir);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	int r = write_full(fd, line, (size_t)n);
	if (r == 0 && fdatasync(fd) < 0)
		r = -errno;
	close(fd);
	if (r < 0)
		return r;
	if (rename(tmp, path) < 0)
		return -errno;
	sync_dir(q->dir);
	return 0;
}

static int cursor_read(struct queue *q)
{
	char path[4200], line[256];
	uint64_t v[5];
	unsigned c;
	snprintf(path, sizeof(path), "%s/cursor", q->dir);
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return -1;
	int ok = fgets(line, sizeof(line), f) != NULL;
	fclose(f);
	if (!ok) {
		log_warnx("%s: empty; delivering the queue from its start", path);
		return -1;
	}
	char *sp = strrchr(line, ' ');
	if (sp == NULL ||
	    sscanf(line,
	           "sinktrap-queue 1 %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
	           " %x",
	           &v[0], &v[1], &v[2], &v[3], &v[4], &c) != 6 ||
	    crc((uint8_t *)line, (size_t)(sp - line)) != c) {
		log_warnx("%s: unreadable; delivering the queue from its start", path);
		return -1;
	}
	q->ack_seg = v[0];
	q->ack_off = v[1];
	q->ack_nrec = v[2];
	q->delivered = v[3];
	q->dropped = v[4];
	return 0;
}

/* ---------------------------------------------------------------- recovery */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void seg_push(struct queue *q, uint64_t num, uint64_t bytes, uint64_t nrec)
{
	if (q->nsegs == q->capsegs) {
		q->capsegs = q->capsegs ? q->capsegs * 2 : 16;
		q->segs = xreallocarray(q->segs, q->capsegs, sizeof(*q->segs));
	}
	q->segs[q->nsegs++] = (struct seg){num, bytes, nrec};
	__atomic_add_fetch(&q->total_bytes, bytes, __ATOMIC_RELAXED);
}

/* Whether a whole, intact record starts at off (its length field sane, the
 * record's own length the same, its CRC right, its fields well formed). */
static int record_at(const uint8_t *buf, size_t off, size_t len)
{
	uint32_t rl, c;
	if (off + HDR + 4 > len)
		return 0;
	memcpy(&rl, buf + off, 4);
	memcpy(&c, buf + off + 4, 4);
	return rl >= 4 && rl <= MAX_REC && off + HDR + rl <= len &&
	       crc(buf + off + HDR, rl) == c &&
	       ev_record_check(buf + off + HDR, rl) == (long)rl;
}

/* The first offset at or after from where a whole record starts; len when none does. */
static size_t record_find(const uint8_t *buf, size_t from, size_t len)
{
	for (size_t off = from; off + HDR + 4 <= len; off++) {
		uint32_t rl, rl2;
		memcpy(&rl, buf + off, 4);
		memcpy(&rl2, buf + off + HDR, 4);
		if (rl == rl2 && record_at(buf, off, len))
			return off;
	}
	return len;
}

/*
 * Where no whole record starts (buf, at least a header): the offset of what
 * follows the damage. A record whose length is sane and leads to a whole
 * record, or to the end, is damaged alone; else the length is damaged too,
 * and the next whole record is searched for (len when none is found).
 */
static size_t damage_end(const uint8_t *buf, size_t len)
{
	uint32_t rl;
	memcpy(&rl, buf, 4);
	if (rl >= 4 && rl <= MAX_REC && HDR + rl <= len &&
	    (HDR + rl == len || record_at(buf, HDR + rl, len)))
		return HDR + rl;
	return record_find(buf, 1, len);
}

/*
 * Scan a segment: its records (bytes, nrec). A damaged record whose length
 * is sane is skipped alone; a damaged length is skipped up to the next whole
 * record. Each counts as one record here, so that the reader, which skips
 * them the same way and counts them as dropped when it passes them, agrees.
 * A tail with no whole record after it is cut in the last segment (a torn
 * write: *cut says so) and left, to be skipped, in an older one. Also the
 * last record boundary at or before offset at, and the records before it
 * (at_off, at_nrec): where a cursor into it may resume.
 */
static int seg_scan(struct queue *q, uint64_t num, int last, uint64_t *bytes, uint64_t *nrec,
                    uint64_t at, uint64_t *at_off, uint64_t *at_nrec, int *cut)
{
	char path[4200];
	seg_path(q, num, path, sizeof(path));
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -errno;
	}
	size_t size = (size_t)st.st_size;
	uint8_t *buf = size ? xmalloc(size) : NULL;
	size_t got = 0;
	while (got < size) {
		ssize_t r = pread(fd, buf + got, size - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			/* Not a torn tail: the disk could not read it. Nothing is cut. */
			int e = errno;
			free(buf);
			close(fd);
			errno = e; /* for the caller's message */
			return -e;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	size_t off = 0;
	uint64_t n = 0;
	*at_off = *at_nrec = 0;
	*cut = 0;
	while (off + HDR <= got) {
		uint32_t rl;
		memcpy(&rl, buf + off, 4);
		if (record_at(buf, off, got)) {
			off += HDR + rl;
		} else {
			size_t next = off + damage_end(buf + off, got - off);
			if (next == got && last)
				break; /* nothing whole after it: a torn tail */
			log_warnx("%s: %zu damaged bytes at %zu: skipped", path, next - off,
			          off);
			off = next;
		}
		n++;
		if (off <= at) {
			*at_off = off;
			*at_nrec = n;
		}
	}
	if (off < size && !last) {
		/* Less than a header left in an older segment: one damaged record more. */
		log_warnx("%s: %zu damaged bytes at %zu: skipped", path, size - off, off);
		off = size;
		n++;
	} else if (off < size) {
		log_warnx("%s: cutting %zu bytes of a torn or damaged tail after %" PRIu64
		          " records: one event lost",
		          path, size - off, n);
		if (ftruncate(fd, (off_t)off) < 0)
			log_warn("%s: truncate", path);
		*cut = 1;
	}
	free(buf);
	close(fd);
	*bytes = off;
	*nrec = n;
	return 0;
}

static int recover(struct queue *q, char *err, size_t errlen)
{
	DIR *d = opendir(q->dir);
	if (d == NULL) {
		snprintf(err, errlen, "%s: %s", q->dir, strerror(errno));
		return -1;
	}
	uint64_t *nums = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		char *end;
		size_t l = strlen(de->d_name);
		if (l != 18 || strcmp(de->d_name + 16, ".q") != 0)
			continue;
		uint64_t num = strtoull(de->d_name, &end, 16);
		if (end != de->d_name + 16 || num == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			nums = xreallocarray(nums, cap, sizeof(*nums));
		}
		nums[n++] = num;
	}
	closedir(d);
	if (n > 1)
		qsort(nums, n, sizeof(*nums), cmp_u64);

	int have_cursor = cursor_read(q) == 0;
	uint64_t at_off = 0, at_nrec = 0; /* in the cursor's segment */
	uint64_t left = 0; /* the highest number of a segment left unread where it is */
	for (size_t i = 0; i < n; i++) {
		char path[4200];
		uint64_t bytes = 0, nrec = 0, o = 0, r = 0;
		if (have_cursor && nums[i] < q->ack_seg) {
			/* Delivered before a crash, not yet deleted. */
			seg_path(q, nums[i], path, sizeof(path));
			unlink(path);
			continue;
		}
		int here = have_cursor && nums[i] == q->ack_seg, cut = 0;
		if (seg_scan(q, nums[i], i == n - 1, &bytes, &nrec, here ? q->ack_off : 0, &o,
		             &r, &cut) < 0) {
			/* Unreadable (an I/O error): kept, out of the queue's numbering,
			 * for whoever can read it; new segments never write after it, nor
			 * does a cursor past it delete it as delivered. */
			char aside[4300];
			seg_path(q, nums[i], path, sizeof(path));
			log_warn("%s", path);
			snprintf(aside, sizeof(aside), "%s.unreadable", path);
			if (rename(path, aside) == 0)
				log_warnx("%s: kept as %s; its events are not delivered", path,
				          aside);
			else if (nums[i] > left)
				left = nums[i];
			continue;
		}
		if (cut) {
			/* The record a crash cut in the middle is lost: counted. */
			q->dropped++;
			q->damage_untaken++;
			q->cursor_dirty = 1;
		}
		if (here) {
			at_off = o;
			at_nrec = r;
		}
		seg_push(q, nums[i], bytes, nrec);
	}
	free(nums);

	if (q->nsegs == 0) {
		uint64_t num = have_cursor && q->ack_seg ? q->ack_seg : 1;
		seg_push(q, num > left ? num : left + 1, 0, 0);
	} else if (q->segs[q->nsegs - 1].num <= left) {
		seg_push(q, left + 1, 0, 0); /* written after the one left unread */
	}
	struct seg *first = &q->segs[0];
	if (!have_cursor || q->ack_seg != first->num) {
		if (have_cursor && q->ack_seg > first->num)
			log_warnx("%s: cursor names a segment that is gone; delivering from "
			          "the oldest",
			          q->dir);
		q->ack_seg = first->num;
		q->ack_off = 0;
		q->ack_nrec = 0;
	} else if (q->ack_off != at_off || q->ack_nrec != at_nrec) {
		/* Not where a record starts, or not after as many records as it
		 * says: resume at the last record boundary before it (a record cut
		 * there is delivered again rather than read from its middle). */
		log_warnx("%s: cursor at %" PRIu64 " (%" PRIu64
		          " records) does not fall between "
		          "records; resuming at %" PRIu64 " (%" PRIu64 " records)",
		          q->dir, q->ack_off, q->ack_nrec, at_off, at_nrec);
		q->ack_off = at_off;
		q->ack_nrec = at_nrec;
	}
	q->rd_seg = q->ack_seg;
	q->rd_off = q->ack_off;
	return 0;
}

static int open_write_segment(struct queue *q)
{
	char path[4200];
	struct seg *last = &q->segs[q->nsegs - 1];
	seg_path(q, last->num, path, sizeof(path));
	if (q->wfd >= 0) {
		fdatasync(q->wfd); /* the segment before is whole on disk before a newer one */
		close(q->wfd);
	}
	q->wfd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (q->wfd < 0)
		return -errno;
	sync_dir(q->dir);
	return 0;
}

void queue_set_max(struct queue *q, int64_t max_bytes)
{
	q->max_bytes = max_bytes > 0 ? (uint64_t)max_bytes : (256u << 20);
	q->seg_size = q->max_bytes / 8;
	if (q->seg_size > MAX_SEGMENT)
		q->seg_size = MAX_SEGMENT;
	if (q->seg_size < MIN_SEGMENT)
		q->seg_size = MIN_SEGMENT;
}

struct queue *queue_open(const char *dir, int64_t max_bytes, char *err, size_t errlen)
{
	struct queue *q = xcalloc(1, sizeof(*q));
	int r;
	q->dir = xstrdup(dir);
	queue_set_max(q, max_bytes);
	q->wfd = q->rfd = q->evfd = -1;
	pthread_mutex_init(&q->mu, NULL);
	if ((r = mkdir_p(dir)) < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(-r));
		goto fail;
	}
	if (recover(q, err, errlen) < 0)
		goto fail;
	q->wbytes = q->segs[q->nsegs - 1].bytes;
	if ((r = open_write_segment(q)) < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(-r));
		goto fail;
	}
	q->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->evfd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	return q;
fail:
	queue_close(&q);
	return NULL;
}

void queue_close(struct queue **qp)
{
	struct queue *q = *qp;
	if (q == NULL)
		return;
	if (q->wlen && queue_flush(q) < 0 && q->wlen) {
		log_warnx("%s: %u records could not be written before the stop: they are lost",
		          q->dir, q->wn);
		pthread_mutex_lock(&q->mu); /* counted: the next start shows them dropped */
		q->dropped += q->wn;
		q->cursor_dirty = 1;
		pthread_mutex_unlock(&q->mu);
	}
	if (q->wfd >= 0) {
		queue_sync(q);
		close(q->wfd);
	}
	if (q->segs)
		queue_save_cursor(q);
	if (q->rfd >= 0)
		close(q->rfd);
	if (q->evfd >= 0)
		close(q->evfd);
	pthread_mutex_destroy(&q->mu);
	free(q->segs);
	free(q->wbuf);
	free(q->dir);
	free(q);
	*qp = NULL;
}

/* ---------------------------------------------------------------- producer */

/* Under mu: delete the oldest segment, counting what was not delivered. */
static void drop_oldest(struct queue *q)
{
	char path[4200];
	struct seg s = q->segs[0];
	uint64_t lost = s.nrec;
	if (q->ack_seg == s.num)
		lost -= q->ack_nrec < lost ? q->ack_nrec : lost;
	seg_path(q, s.num, path, sizeof(path));
	unlink(path);
	memmove(q->segs, q->segs + 1, (q->nsegs - 1) * sizeof(*q->segs));
	q->nsegs--;
	__atomic_sub_fetch(&q->total_bytes, s.bytes, __ATOMIC_RELAXED);
	q->dropped += lost;
	q->drops_untaken += lost;
	q->cursor_dirty = 1;
	if (q->ack_seg <= s.num) {
		q->ack_seg = q->segs[0].num;
		q->ack_off = 0;
		q->ack_nrec = 0;
	}
	if (q->rd_seg <= s.num) {
		q->rd_seg = q->segs[0].num;
		q->rd_off = 0;
	}
}

/* Start a new segment (the buffer is empty). */
static void roll(struct queue *q)
{
	pthread_mutex_lock(&q->mu);
	seg_push(q, q->segs[q->nsegs - 1].num + 1, 0, 0);
	pthread_mutex_unlock(&q->mu);
	q->wbytes = 0;
	int r = open_write_segment(q);
	if (r < 0)
		log_warnx("%s: new segment: %s", q->dir, strerror(-r));
}

void queue_append(struct queue *q, const uint8_t *rec, size_t len)
{
	uint64_t need = HDR + len;
	/* While the disk refuses, the records wait for the sink's own flushes. */
	if (!q->failing && q->wbytes + q->wlen > 0 &&
	    q->wbytes + q->wlen + need > q->seg_size) {
		queue_flush(q);
		if (q->wbytes > 0)
			roll(q);
	}
	/* total_bytes shrinks under the consumer only: a stale read errs on the safe side. */
	if (__atomic_load_n(&q->total_bytes, __ATOMIC_RELAXED) + q->wlen + need >
	    q->max_bytes) {
		pthread_mutex_lock(&q->mu);
		while (q->nsegs > 1 &&
		       __atomic_load_n(&q->total_bytes, __ATOMIC_RELAXED) + q->wlen + need >
		           q->max_bytes)
			drop_oldest(q);
		pthread_mutex_unlock(&q->mu);
	}
	__atomic_add_fetch(&q->appended, 1, __ATOMIC_RELAXED);

	if (q->wlen + need > q->wcap) {
		q->wcap = q->wcap ? q->wcap : 65536;
		while (q->wcap < q->wlen + need)
			q->wcap *= 2;
		q->wbuf = xreallocarray(q->wbuf, q->wcap, 1);
	}
	uint32_t rl = (uint32_t)len, c = crc(rec, len);
	memcpy(q->wbuf + q->wlen, &rl, 4);
	memcpy(q->wbuf + q->wlen + 4, &c, 4);
	memcpy(q->wbuf + q->wlen + HDR, rec, len);
	q->wlen += need;
	q->wn++;
	if (q->wlen >= WBUF_FLUSH && !q->failing)
		queue_flush(q);
}

int queue_flush(struct queue *q)
{
	if (q->wlen == 0)
		return 0;
	if (q->wfd < 0)
		open_write_segment(q); /* a segment the disk would not create before */
	int r = q->wfd >= 0 ? write_full(q->wfd, q->wbuf, q->wlen) : -EBADF;
	int give_up = r < 0 && q->wlen >= WBUF_KEEP_MAX;
	pthread_mutex_lock(&q->mu);
	struct seg *last = &q->segs[q->nsegs - 1];
	uint64_t good = last->bytes;
	if (r == 0) {
		last->bytes += q->wlen;
		last->nrec += q->wn;
		q->wbytes = last->bytes;
		__atomic_add_fetch(&q->total_bytes, q->wlen, __ATOMIC_RELAXED);
	} else if (give_up) {
		/* Disk full or gone for long: these records are lost to this sink; say so. */
		q->dropped += q->wn;
		q->drops_untaken += q->wn;
		q->cursor_dirty = 1;
	}
	pthread_mutex_unlock(&q->mu);
	if (r < 0) {
		if (q->write_errors++ % 1000 == 0 || give_up)
			log_warnx("%s: %s (%u records %s)", q->dir, strerror(-r), q->wn,
			          give_up ? "not queued: given up"
			                  : "kept in memory until it has room");
		/* A partial write would leave half a record: cut it. */
		if (q->wfd >= 0 && ftruncate(q->wfd, (off_t)good) < 0)
			log_warn("%s: truncate", q->dir);
		q->failing = 1;
		if (!give_up)
			return r;
	} else {
		if (q->failing)
			log_info("%s: written again (%u records that waited)", q->dir, q->wn);
		q->failing = 0;
		uint64_t one = 1;
		if (write(q->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_warn("queue eventfd");
	}
	q->wlen = 0;
	q->wn = 0;
	return r;
}

int queue_sync(struct queue *q)
{
	if (q->wfd < 0)
		return 0;
	return fdatasync(q->wfd) < 0 ? -errno : 0;
}

uint64_t queue_drops_take(struct queue *q, uint64_t *damaged)
{
	pthread_mutex_lock(&q->mu);
	uint64_t n = q->drops_untaken;
	q->drops_untaken = 0;
	*damaged = q->damage_untaken;
	q->damage_untaken = 0;
	pthread_mutex_unlock(&q->mu);
	return n;
}

/* ---------------------------------------------------------------- consumer */

int queue_event_fd(const struct queue *q)
{
	return q->evfd;
}

void queue_event_clear(struct queue *q)
{
	uint64_t v;
	if (read(q->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("queue eventfd");
}

static struct seg *find_seg(struct queue *q, uint64_t num)
{
	for (size_t i = 0; i < q->nsegs; i++)
		if (q->segs[i].num == num)
			return &q->segs[i];
	return NULL;
}

/* Consumer: the length of the damage at offset at of a segment whose flushed
 * records end at end (read from the file: it may reach past the batch). */
static size_t damage_next(struct queue *q, uint64_t at, uint64_t end)
{
	size_t len = (size_t)(end - at), got = 0;
	if (len < HDR)
		return len;
	uint8_t *buf = xmalloc(len);
	while (got < len) {
		ssize_t r = pread(q->rfd, buf + got, len - got, (off_t)(at + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	size_t n = got < HDR ? len : damage_end(buf, got);
	free(buf);
	return n == got ? len : n;
}

int queue_read(struct queue *q, struct queue_batch *b, size_t max_bytes)
{
	for (;;) {
		uint64_t seg, off, avail;
		pthread_mutex_lock(&q->mu);
		if (q->rd_seg < q->segs[0].num) {
			q->rd_seg = q->segs[0].num;
			q->rd_off = 0;
		}
		struct seg *s = find_seg(q, q->rd_seg);
		if (s == NULL) { /* cannot happen: segments are consecutive */
			q->rd_seg = q->segs[0].num;
			q->rd_off = 0;
			s = &q->segs[0];
		}
		if (q->rd_off >= s->bytes) {
			int last = s == &q->segs[q->nsegs - 1];
			if (!last) {
				q->rd_seg = s[1].num;
				q->rd_off = 0;
			}
			pthread_mutex_unlock(&q->mu);
			if (last)
				return 0;
			continue;
		}
		seg = q->rd_seg;
		off = q->rd_off;
		avail = s->bytes - off;
		pthread_mutex_unlock(&q->mu);

		if (q->rfd < 0 || q->rfd_seg != seg) {
			char path[4200];
			if (q->rfd >= 0)
				close(q->rfd);
			seg_path(q, seg, path, sizeof(path));
			q->rfd = open(path, O_RDONLY | O_CLOEXEC);
			q->rfd_seg = seg;
			if (q->rfd < 0) {
				/* Dropped under us: the next round starts at the oldest
				 * segment. */
				pthread_mutex_lock(&q->mu);
				int gone = q->segs[0].num > seg;
				pthread_mutex_unlock(&q->mu);
				if (gone)
					continue;
				log_warn("%s", path);
				return 0;
			}
		}
		size_t want = max_bytes < HDR + MAX_REC ? HDR + MAX_REC : max_bytes;
		if (want > avail)
			want = (size_t)avail;
		if (b->cap < want) {
			b->cap = want;
			b->data = xreallocarray(b->data, b->cap, 1);
		}
		size_t got = 0;
		while (got < want) {
			ssize_t r =
			    pread(q->rfd, b->data + got, want - got, (off_t)(off + got));
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			got += (size_t)r;
		}
		/*
		 * Whole, intact records only, moved together in the batch. One
		 * damaged on disk is skipped (as the scan at the open does: alone,
		 * or up to the next whole record when its length is damaged too)
		 * and counted as dropped when the batch is acknowledged.
		 */
		size_t p = 0, out = 0;
		uint32_t n = 0, skipped = 0;
		while (p < got) {
			uint32_t rl = 0;
			if (p + HDR <= got)
				memcpy(&rl, b->data + p, 4);
			int sane =
			    p + HDR <= got && rl >= 4 && rl <= MAX_REC && p + HDR + rl <= avail;
			if (sane && p + HDR + rl > got)
				break; /* read whole in the next batch */
			if (sane && (n > 0 || skipped > 0) && out + HDR + rl > max_bytes)
				break;
			if (sane && record_at(b->data, p, got)) {
				if (out != p)
					memmove(b->data + out, b->data + p, HDR + rl);
				out += HDR + rl;
				p += HDR + rl;
				n++;
				continue;
			}
			if (p + HDR > got && got < avail)
				break; /* a header cut by the end of the read */
			size_t next = p + damage_next(q, off + p, off + avail);
			log_warnx("%s: damaged record in segment %" PRIu64 " at %" PRIu64
			          " (%zu bytes): skipped, counted as dropped",
			          q->dir, seg, off + p, next - p);
			p = next;
			skipped++;
		}
		pthread_mutex_lock(&q->mu);
		int moved = q->rd_seg != seg || q->rd_off != off;
		if (!moved && p > 0)
			q->rd_off = off + p;
		pthread_mutex_unlock(&q->mu);
		if (moved)
			continue;
		if (n == 0 && skipped == 0)
			return 0;
		b->len = out;
		b->span = (struct queue_span){seg, off, off + p, n, skipped};
		return 1;
	}
}

int queue_batch_next(const struct queue_batch *b, size_t *off, const uint8_t **rec, size_t *len)
{
	if (*off + HDR > b->len)
		return 0;
	uint32_t rl;
	memcpy(&rl, b->data + *off, 4);
	*rec = b->data + *off + HDR;
	*len = rl;
	*off += HDR + rl;
	return 1;
}

void queue_batch_free(struct queue_batch *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void queue_ack(struct queue *q, const struct queue_span *sp)
{
	char path[4200];
	pthread_mutex_lock(&q->mu);
	if (sp->seg < q->ack_seg || (sp->seg == q->ack_seg && sp->end <= q->ack_off)) {
		/* Dropped for size meanwhile (already counted), or acked before. */
		pthread_mutex_unlock(&q->mu);
		return;
	}
	if (sp->seg > q->ack_seg) {
		/* Every segment before this one is done: delete them. */
		while (q->nsegs > 1 && q->segs[0].num < sp->seg) {
			struct seg s = q->segs[0];
			uint64_t rest = s.nrec - (s.num == q->ack_seg ? q->ack_nrec : 0);
			/* Every record read was acknowledged in its span: what is left
			 * was damaged past counting (a length damaged over several). */
			q->dropped += rest;
			q->damage_untaken += rest;
			seg_path(q, s.num, path, sizeof(path));
			unlink(path);
			memmove(q->segs, q->segs + 1, (q->nsegs - 1) * sizeof(*q->segs));
			q->nsegs--;
			__atomic_sub_fetch(&q->total_bytes, s.bytes, __ATOMIC_RELAXED);
			q->ack_seg = q->segs[0].num;
			q->ack_off = 0;
			q->ack_nrec = 0;
		}
	}
	if (sp->seg == q->ack_seg) {
		q->ack_off = sp->end;
		q->ack_nrec += sp->n + sp->skipped;
		q->delivered += sp->n;
		q->dropped += sp->skipped;
		q->damage_untaken += sp->skipped;
	}
	q->cursor_dirty = 1;
	pthread_mutex_unlock(&q->mu);
}

void queue_rewind(struct queue *q)
{
	pthread_mutex_lock(&q->mu);
	q->rd_seg = q->ack_seg;
	q->rd_off = q->ack_off;
	pthread_mutex_unlock(&q->mu);
}

int queue_save_cursor(struct queue *q)
{
	pthread_mutex_lock(&q->mu);
	if (!q->cursor_dirty) {
		pthread_mutex_unlock(&q->mu);
		return 0;
	}
	uint64_t seg = q->ack_seg, off = q->ack_off, nrec = q->ack_nrec, dl = q->delivered,
	         dr = q->dropped;
	q->cursor_dirty = 0;
	pthread_mutex_unlock(&q->mu);
	int r = cursor_write(q, seg, off, nrec, dl, dr);
	if (r < 0) {
		log_warnx("%s/cursor: %s", q->dir, strerror(-r));
		pthread_mutex_lock(&q->mu);
		q->cursor_dirty = 1;
		pthread_mutex_unlock(&q->mu);
	}
	return r;
}

void queue_get_stats(struct queue *q, struct queue_stats *st)
{
	pthread_mutex_lock(&q->mu);
	st->appended = __atomic_load_n(&q->appended, __ATOMIC_RELAXED);
	st->delivered = q->delivered;
	st->dropped = q->dropped;
	uint64_t n = 0;
	for (size_t i = 0; i < q->nsegs; i++)
		n += q->segs[i].nrec;
	st->queued = n - q->ack_nrec;
	st->bytes = __atomic_load_n(&q->total_bytes, __ATOMIC_RELAXED);
	st->segments = q->nsegs;
	pthread_mutex_unlock(&q->mu);
}

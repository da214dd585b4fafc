#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "capture/index.h"
#include "capture/pcapfile.h"
#include "common/timeparse.h"
#include "common/util.h"

#define PREFIX "sinktrap-"
#define PREFIX_LEN 9
#define TIME_LEN 16 /* YYYYmmddTHHMMSSZ */
#define SEQ_LEN 10
#define STALE_TMP_SECS 600

int spool_name_make(char *buf, size_t len, int64_t created, uint32_t seq, int pcapng)
{
	struct tm tm;
	time_t t = (time_t)created;
	if (gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	int n = snprintf(buf, len, PREFIX "%04d%02d%02dT%02d%02d%02dZ-%010" PRIu32 ".%s",
	                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	                 tm.tm_sec, seq, pcapng ? "pcapng" : "pcap");
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int spool_name_parse(const char *name, struct spool_file *out)
{
	size_t n = strlen(name);
	int part = 0;
	memset(out, 0, sizeof(*out));
	if (n > 5 && !strcmp(name + n - 5, ".part")) {
		part = 1;
		n -= 5;
	}
	const size_t base = PREFIX_LEN + TIME_LEN + 1 + SEQ_LEN;
	int ng;
	if (n == base + 5 && !strncmp(name + base, ".pcap", 5))
		ng = 0;
	else if (n == base + 7 && !strncmp(name + base, ".pcapng", 7))
		ng = 1;
	else
		return -EINVAL;
	if (strncmp(name, PREFIX, PREFIX_LEN) || name[PREFIX_LEN + 8] != 'T' ||
	    name[PREFIX_LEN + 15] != 'Z' || name[PREFIX_LEN + TIME_LEN] != '-')
		return -EINVAL;
	const char *t = name + PREFIX_LEN;
	int y, mo, d, h, mi, s;
	if (digits(t, 4, &y) || digits(t + 4, 2, &mo) || digits(t + 6, 2, &d) ||
	    digits(t + 9, 2, &h) || digits(t + 11, 2, &mi) || digits(t + 13, 2, &s))
		return -EINVAL;
	uint64_t seq = 0;
	for (int i = 0; i < SEQ_LEN; i++) {
		char c = name[PREFIX_LEN + TIME_LEN + 1 + i];
		if (c < '0' || c > '9')
			return -EINVAL;
		seq = seq * 10 + (uint64_t)(c - '0');
	}
	if (seq > UINT32_MAX || seq == 0)
		return -EINVAL;
	out->created = time_utc(y, mo, d, h, mi, s);
	out->seq = (uint32_t)seq;
	out->pcapng = (uint8_t)ng;
	out->part = (uint8_t)part;
	memcpy(out->name, name, n);
	out->name[n] = '\0';
	return 0;
}

static int path_of(char *buf, size_t len, const char *dir, const char *name, const char *suffix)
{
	int n = snprintf(buf, len, "%s/%s%s", dir, name, suffix);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int seq_cmp(const void *a, const void *b)
{
	const struct spool_file *x = a, *y = b;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return (int)x->part - (int)y->part;
}

int spool_list(const char *dir, struct spool_file **out, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct spool_file *v = NULL;
	size_t nv = 0, cap = 0;
	char path[4096];

	*out = NULL;
	*n = 0;
	if (d == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		struct spool_file f;
		struct stat st;
		if (spool_name_parse(de->d_name, &f) < 0)
			continue;
		if (path_of(path, sizeof(path), dir, de->d_name, "") < 0 ||
		    stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		f.pcap_size = (uint64_t)st.st_size;
		f.size = (uint64_t)st.st_size;
		if (!f.part && path_of(path, sizeof(path), dir, f.name, ".idx") == 0 &&
		    stat(path, &st) == 0) {
			f.indexed = 1;
			f.size += (uint64_t)st.st_size;
		}
		if (nv == cap) {
			cap = cap ? cap * 2 : 64;
			struct spool_file *nvp = realloc(v, cap * sizeof(*v));
			if (nvp == NULL) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = nvp;
		}
		v[nv++] = f;
	}
	closedir(d);
	if (nv)
		qsort(v, nv, sizeof(*v), seq_cmp);
	*out = v;
	*n = nv;
	return 0;
}

int spool_take_ids(const char *dir, uid_t owner, gid_t group, uint64_t floor, uint64_t count,
                   uint64_t *first)
{
	char path[4096], tmp[4200];
	unsigned long long next = 0;
	if (path_of(path, sizeof(path), dir, SPOOL_IDS_FILE, "") < 0 ||
	    path_of(tmp, sizeof(tmp), dir, SPOOL_IDS_FILE, ".tmp") < 0)
		return -EINVAL;
	int lk = spool_lock(dir);
	if (lk < 0)
		return lk;
	/* Root (an ingest) changes files in a directory the workers' user owns: a
	 * link there is never followed, and a stale temporary name never reused. */
	int rfd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat rst;
	FILE *f = NULL;
	if (rfd >= 0 &&
	    (fstat(rfd, &rst) < 0 || !S_ISREG(rst.st_mode) || (f = fdopen(rfd, "r")) == NULL))
		close(rfd);
	if (f != NULL) {
		/*
		 * "capture N" and "ingest N": both name the next free id (a spool
		 * written when the two kinds had counters of their own: the larger
		 * is free for both). Anything else is ignored (floor rules).
		 */
		char line[128];
		while (fgets(line, sizeof(line), f)) {
			unsigned long long v;
			if ((sscanf(line, "capture %llu", &v) == 1 ||
			     sscanf(line, "ingest %llu", &v) == 1) &&
			    v > next)
				next = v;
		}
		fclose(f);
	}
	uint64_t base = next > floor ? next : floor;
	next = base + count;
	int rc = 0;
	if (unlink(tmp) < 0 && errno != ENOENT) {
		spool_unlock(lk);
		return -errno;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0) {
		rc = -errno;
	} else {
		/* Both lines, so a reader that knows one counter per kind agrees. */
		char text[128];
		int len =
		    snprintf(text, sizeof(text), "capture %llu\ningest %llu\n", next, next);
		if (write(fd, text, (size_t)len) != len || fsync(fd) < 0)
			rc = errno ? -errno : -EIO;
		/* Root's ingest leaves it to the spool's owner, the workers' user, who
		 * reads it next (a file it cannot read: ids by time, which may meet
		 * those of the ingest). */
		if (rc == 0 && owner != (uid_t)-1 && fchown(fd, owner, group) < 0)
			rc = -errno;
		close(fd);
		if (rc == 0 && rename(tmp, path) < 0)
			rc = -errno;
		if (rc < 0)
			unlink(tmp);
	}
	spool_unlock(lk);
	if (rc == 0)
		*first = base;
	return rc;
}

int spool_lock(const char *dir)
{
	char path[4096];
	if (path_of(path, sizeof(path), dir, ".lock", "") < 0)
		return -ENAMETOOLONG;
	/* never a link: made by the spool's owner, it could point anywhere */
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0660);
	if (fd < 0 && errno != ELOOP) /* made by another user: flock needs no write */
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int e = -errno;
			close(fd);
			return e;
		}
	}
	return fd;
}

void spool_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

/* The highest sequence number in dir (0 when none). */
static int max_seq(const char *dir, uint32_t *out)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	*out = 0;
	if (d == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		struct spool_file f;
		if (spool_name_parse(de->d_name, &f) == 0 && f.seq > *out)
			*out = f.seq;
	}
	closedir(d);
	return 0;
}

int spool_create(const char *dir, int64_t now, int pcapng, uid_t owner, gid_t group,
                 uint32_t after, struct spool_file *f)
{
	char path[4096];
	uint32_t seq;
	int lk = spool_lock(dir), rc, fd = -1;
	if (lk < 0)
		return lk;
	if ((rc = max_seq(dir, &seq)) < 0)
		goto out;
	if (seq < after) /* a file of its own dropped since: its number is not reused */
		seq = after;
	if (seq == UINT32_MAX) {
		rc = -EOVERFLOW;
		goto out;
	}
	memset(f, 0, sizeof(*f));
	f->seq = seq + 1;
	f->created = now;
	f->pcapng = (uint8_t)(pcapng != 0);
	f->part = 1;
	if ((rc = spool_name_make(f->name, sizeof(f->name), now, f->seq, pcapng)) < 0 ||
	    (rc = path_of(path, sizeof(path), dir, f->name, ".part")) < 0)
		goto out;
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	/* Held until the writer closes: recovery leaves a locked file alone. */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		rc = -errno;
		close(fd);
		unlink(path);
		fd = -1;
		goto out;
	}
	if (owner != (uid_t)-1 && fchown(fd, owner, group) < 0) {
		/* not fatal: the file is still ours to write */
	}
	rc = fd;
out:
	spool_unlock(lk);
	return rc;
}

int spool_publish(const char *dir, const struct spool_file *f, struct index_writer *iw,
                  uint64_t pcap_size, const struct flow_config *fc, char *err, size_t errlen)
{
	char part[4096], final[4096], idx[4096];
	int rc;
	if (path_of(part, sizeof(part), dir, f->name, ".part") < 0 ||
	    path_of(final, sizeof(final), dir, f->name, "") < 0 ||
	    path_of(idx, sizeof(idx), dir, f->name, ".idx") < 0) {
		set_err(err, errlen, "%s: name too long", dir);
		return -ENAMETOOLONG;
	}
	if (iw)
		rc = index_writer_save(iw, pcap_size, idx, err, errlen);
	else
		rc = index_rebuild(part, idx, fc, err, errlen);
	/* The packets matter more than their index: publish them either way
	 * (the next recovery indexes a file that has none). */
	if (rename(part, final) < 0) {
		int e = -errno;
		set_err(err, errlen, "rename %s: %s", part, strerror(-e));
		return e;
	}
	return rc;
}

/*
 * chown a file of the spool by name, never through a link: the spool's owner
 * may have put anything under that name since it was written. Only a
 * regular file of one name, root's or already the owner's, is given.
 */
static void chown_plain(const char *path, uid_t owner, gid_t group)
{
	struct stat st;
	int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 &&
	    (st.st_uid == 0 || st.st_uid == owner) &&
	    fchownat(fd, "", owner, group, AT_EMPTY_PATH) < 0) {
		/* left as it is: readable by root, deletable by the spool's owner */
	}
	close(fd);
}

void spool_chown(const char *dir, const struct spool_file *f, uid_t owner, gid_t group)
{
	char path[4096];
	if (owner == (uid_t)-1)
		return;
	if (path_of(path, sizeof(path), dir, f->name, "") == 0)
		chown_plain(path, owner, group);
	if (path_of(path, sizeof(path), dir, f->name, ".idx") == 0)
		chown_plain(path, owner, group);
}

size_t spool_plan(const struct spool_file *files, size_t n, const struct spool_limits *lim,
                  uint64_t reserve, uint64_t fs_total, uint64_t fs_avail, uint8_t *del)
{
	uint64_t total = 0;
	size_t newest = n, count = 0;
	for (size_t i = 0; i < n; i++) {
		total += files[i].size;
		del[i] = SPOOL_KEEP;
		if (!files[i].part)
			newest = i;
	}
	for (size_t i = 0; i < n; i++) {
		int over = lim->max_disk && total + reserve > lim->max_disk;
		/* free after the next file, as a share of the file system, below min_free */
		int low = lim->min_free > 0 && fs_total > 0 &&
		          (fs_avail < reserve || (double)(fs_avail - reserve) * 100.0 <
		                                     (double)fs_total * lim->min_free);
		if (!over && !low)
			break;
		if (files[i].part || i == newest)
			continue;
		del[i] = over ? SPOOL_DEL_MAX_DISK : SPOOL_DEL_MIN_FREE;
		count++;
		total -= files[i].size;
		fs_avail += files[i].size;
	}
	return count;
}

int spool_enforce(const char *dir, const struct spool_limits *lim, uint64_t reserve,
                  spool_deleted_cb *cb, void *arg)
{
	struct spool_file *files;
	size_t n;
	struct statvfs vfs;
	uint64_t fs_total = 0, fs_avail = 0;
	char path[4096];
	int rc, deleted = 0;

	if (lim->max_disk == 0 && lim->min_free == 0)
		return 0;
	int lk = spool_lock(dir);
	if (lk < 0)
		return lk;
	if ((rc = spool_list(dir, &files, &n)) < 0) {
		spool_unlock(lk);
		return rc;
	}
	if (statvfs(dir, &vfs) == 0) {
		fs_total = (uint64_t)vfs.f_blocks * vfs.f_frsize;
		fs_avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	}
	uint8_t *del = calloc(n ? n : 1, 1);
	if (del == NULL) {
		free(files);
		spool_unlock(lk);
		return -ENOMEM;
	}
	spool_plan(files, n, lim, reserve, fs_total, fs_avail, del);
	for (size_t i = 0; i < n; i++) {
		if (del[i] == SPOOL_KEEP)
			continue;
		/* capture first: an index alone is cleaned up, a capture alone is re-indexed */
		if (path_of(path, sizeof(path), dir, files[i].name, "") == 0 &&
		    unlink(path) < 0 && errno != ENOENT)
			continue;
		if (path_of(path, sizeof(path), dir, files[i].name, ".idx") == 0)
			unlink(path);
		deleted++;
		if (cb)
			cb(arg, &files[i],
			   del[i] == SPOOL_DEL_MAX_DISK ? "max_disk" : "min_free");
	}
	free(del);
	free(files);
	spool_unlock(lk);
	return deleted;
}

static int flow_ok(void *arg, const struct index_flow *fl, const uint64_t *offsets)
{
	(void)arg;
	(void)fl;
	(void)offsets;
	return 0;
}

/* Whether the index at idx covers a capture of pcap_size bytes: its header
 * and block table sound (their CRCs) and its size the capture's; with deep,
 * every block of it inflated too. why (when not) says what is wrong. */
static int index_covers(const char *idx, uint64_t pcap_size, int deep, char *why, size_t whylen)
{
	struct index_reader *ir;
	struct index_info info;
	char err[256];
	if (index_reader_open(&ir, idx, err, sizeof(err)) < 0) {
		snprintf(why, whylen, "its index is unreadable: %s", err);
		return 0;
	}
	index_reader_info(ir, &info);
	int ok = info.pcap_size == pcap_size;
	if (!ok)
		snprintf(why, whylen, "its index did not cover it");
	else if (deep && index_reader_foreach(ir, flow_ok, NULL) < 0) {
		snprintf(why, whylen, "its index is corrupt: %s", index_reader_error(ir));
		ok = 0;
	}
	index_reader_close(&ir);
	return ok;
}

static void note(spool_note_cb *cb, void *arg, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void note(spool_note_cb *cb, void *arg, const char *name, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	if (cb == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cb(arg, name, msg);
}

/* A ".part" left by a crash: cut to its last complete record, index, rename. */
static int recover_part(const char *dir, const struct spool_file *f,
                        const struct flow_config *fc, spool_note_cb *cb, void *arg)
{
	char part[4096], err[512];
	struct pcapfile_reader *r = NULL;
	struct pcapfile_pkt p;
	uint64_t npkts = 0, good;
	int rc;

	if (path_of(part, sizeof(part), dir, f->name, ".part") < 0)
		return -ENAMETOOLONG;
	int fd = open(part, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd); /* its writer is alive */
		return 0;
	}
	rc = pcapfile_reader_open_file(&r, part, err, sizeof(err));
	if (rc == -ENODATA) {
		/* Not even a whole file header: the writer died before writing anything. */
		unlink(part);
		close(fd);
		note(cb, arg, f->name, "removed: nothing was written to it (%s)", err);
		return 1;
	}
	if (rc < 0) {
		/* Unreadable for another cause (memory, the disk, not a capture): left as it
		 * is, for the next start or a look by hand. */
		close(fd);
		note(cb, arg, f->name, "left unrecovered: %s", err);
		return 0;
	}
	pcapfile_reader_set_lenient(r, 1);
	while ((rc = pcapfile_reader_next(r, &p)) == 1)
		npkts++;
	good = pcapfile_reader_offset(r);
	if (rc < 0)
		snprintf(err, sizeof(err), "%s", pcapfile_reader_error(r));
	pcapfile_reader_close(&r);
	if (rc == -EIO || rc == -ENOMEM) {
		/* A read that failed is no cut record: nothing is cut for it. */
		close(fd);
		note(cb, arg, f->name, "left unrecovered: %s", err);
		return 0;
	}
	if (npkts == 0) {
		unlink(part);
		close(fd);
		note(cb, arg, f->name, "removed: no complete packet in it");
		return 1;
	}
	uint64_t cut = f->pcap_size > good ? f->pcap_size - good : 0;
	if (cut && ftruncate(fd, (off_t)good) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	rc = spool_publish(dir, f, NULL, good, fc, err, sizeof(err));
	close(fd);
	if (rc < 0) {
		note(cb, arg, f->name, "recovered %" PRIu64 " packets, but not indexed: %s",
		     npkts, err);
		return 1;
	}
	if (cut)
		note(cb, arg, f->name,
		     "recovered after a crash: %" PRIu64 " packets, %" PRIu64
		     " bytes of an unfinished record cut",
		     npkts, cut);
	else
		note(cb, arg, f->name, "recovered after a crash: %" PRIu64 " packets", npkts);
	return 1;
}

/* Indexes without their capture, and temporary files of a writer that died. */
static void sweep_leftovers(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[4096], base[4096];
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		struct spool_file f;
		struct stat st;
		if (n > 8 && !strcmp(de->d_name + n - 8, ".idx.tmp")) {
			if (path_of(path, sizeof(path), dir, de->d_name, "") == 0 &&
			    stat(path, &st) == 0 && time(NULL) - st.st_mtime > STALE_TMP_SECS)
				unlink(path);
			continue;
		}
		if (n <= 4 || strcmp(de->d_name + n - 4, ".idx"))
			continue;
		snprintf(base, sizeof(base), "%.*s", (int)(n - 4), de->d_name);
		if (spool_name_parse(base, &f) < 0)
			continue;
		/* .part first: a finisher elsewhere renames it to its final name, so one
		 * of the two is found whenever the capture is there */
		if (path_of(path, sizeof(path), dir, base, ".part") == 0 &&
		    stat(path, &st) == 0)
			continue;
		if (path_of(path, sizeof(path), dir, base, "") == 0 && stat(path, &st) == 0)
			continue;
		if (path_of(path, sizeof(path), dir, de->d_name, "") == 0)
			unlink(path);
	}
	closedir(d);
}

int spool_recover(const char *dir, const struct flow_config *fc, spool_note_cb *cb, void *arg)
{
	struct spool_file *files;
	size_t n;
	char path[4096], err[512];
	int rc, done = 0;

	int lk = spool_lock(dir);
	if (lk < 0)
		return lk;
	if ((rc = spool_list(dir, &files, &n)) < 0) {
		spool_unlock(lk);
		return rc;
	}
	/* The newest finished files, those the last run was finishing when it
	 * stopped, have every block of their index inflated; the others only
	 * their header and block table read (a damaged block of theirs is found
	 * by the query that needs it, which reads the capture instead). */
	size_t deep_from = n, finished = 0;
	while (deep_from > 0 && finished < SPOOL_RECOVER_DEEP) {
		if (!files[--deep_from].part)
			finished++;
	}
	for (size_t i = 0; i < n; i++) {
		const struct spool_file *f = &files[i];
		if (f->part) {
			rc = recover_part(dir, f, fc, cb, arg);
			if (rc > 0)
				done++;
			else if (rc < 0)
				note(cb, arg, f->name, "not recovered: %s", strerror(-rc));
			continue;
		}
		if (path_of(path, sizeof(path), dir, f->name, ".idx") < 0)
			continue;
		char why[400] = "it had no index";
		if (f->indexed &&
		    index_covers(path, f->pcap_size, i >= deep_from, why, sizeof(why)))
			continue;
		char pcap[4096];
		if (path_of(pcap, sizeof(pcap), dir, f->name, "") < 0)
			continue;
		rc = index_rebuild(pcap, path, fc, err, sizeof(err));
		if (rc < 0) {
			note(cb, arg, f->name, "could not be indexed: %s", err);
			continue;
		}
		note(cb, arg, f->name, "indexed again (%s)", why);
		done++;
	}
	free(files);
	sweep_leftovers(dir);
	spool_unlock(lk);
	return done;
}

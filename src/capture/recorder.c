#include "recorder.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "capture/decode.h"
#include "capture/index.h"
#include "common/emit.h"
#include "common/event.h"
#include "common/log.h"
#include "common/util.h"

#define RETRY_MS 1000

struct fname {
	uint32_t seq;
	char name[SPOOL_NAME_MAX];
};

struct deleted {
	struct spool_file f;
	const char *reason; /* static string */
};

struct job {
	int fd;
	struct spool_file f;
	struct index_writer *iw;
	uint64_t size;
};

struct recorder {
	struct recorder_config cfg;
	char *spool; /* Malloced copy of cfg.spool. */
	struct emitter *em;
	struct flow_table *ft;
	struct index_writer *iw[2];
	int cur; /* iw[cur] fills; iw[!cur] may be with the finisher */

	/* the file being written */
	struct pcapfile_writer *w;
	int fd;
	struct spool_file file;
	uint32_t linktype;
	int64_t opened_ms;
	uint64_t file_pkts;
	int64_t retry_ms; /* after a failure, no new file before this */

	/* names of the files made here, by sequence (increasing) */
	struct fname *names;
	size_t nnames, capnames;
	uint32_t deleted_through; /* every file up to this sequence is gone */

	/* the finisher */
	pthread_t th;
	int th_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int have_job, busy, quit;
	struct job job;
	struct deleted *dels; /* reported by the finisher, taken by recorder_tick */
	size_t ndels, capdels;
	uint64_t done_files, done_index_errors;

	struct recorder_stats st;
};

static int64_t wall_s(void)
{
	return (int64_t)time(NULL);
}

/* ---- file names ---- */

static void name_add(struct recorder *r, const struct spool_file *f)
{
	if (r->nnames == r->capnames) {
		r->capnames = r->capnames ? r->capnames * 2 : 64;
		r->names = xreallocarray(r->names, r->capnames, sizeof(*r->names));
	}
	r->names[r->nnames].seq = f->seq;
	memcpy(r->names[r->nnames].name, f->name, sizeof(f->name));
	r->nnames++;
}

static const char *name_of(const struct recorder *r, uint32_t seq)
{
	size_t lo = 0, hi = r->nnames;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (r->names[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < r->nnames && r->names[lo].seq == seq ? r->names[lo].name : NULL;
}

/* ---- events ---- */

/*
 * flow_event_render's record, reopened to add the names of the spool files
 * that hold the flow's packets (the store keys session expiry on the last).
 */
int recorder_flow_event(struct evbuf *b, const struct flow *f, const char *first,
                        const char *last, int expired)
{
	struct flow copy = *f;
	size_t start = b->len;
	copy.file_first = copy.file_last = 0; /* rendered by name below */
	int rc = flow_event_render(&copy, b);
	if (rc < 0)
		return rc;
	b->start = start; /* reopen the record just closed */
	b->depth = 0;
	if (first && last) {
		ev_obj(b, "pcap");
		ev_str(b, "file_first", first);
		ev_str(b, "file_last", last);
		if (expired)
			ev_bool(b, "expired", 1);
		ev_close(b);
	}
	return 0;
}

static void on_flow_end(void *arg, const struct flow *f)
{
	struct recorder *r = arg;
	const char *first = f->file_first ? name_of(r, f->file_first) : NULL;
	const char *last = f->file_last ? name_of(r, f->file_last) : NULL;
	int expired = f->file_last && f->file_last <= r->deleted_through;
	r->st.flow_events++;
	if (r->cfg.flow_cb) {
		r->cfg.flow_cb(r->cfg.flow_cb_arg, f, first, last, expired);
		return;
	}
	if (recorder_flow_event(emit_buf(r->em), f, first, last, expired) < 0)
		return;
	emit_commit(r->em);
	emit_soon(r->em);
}

static void emit_expired(struct recorder *r, const struct deleted *d)
{
	struct evbuf *b = emit_buf(r->em);
	ev_begin(b, "pcap_expired", 0);
	ev_obj(b, "pcap_expired");
	ev_str(b, "file", d->f.name);
	ev_int(b, "bytes", (int64_t)d->f.size);
	ev_time(b, "created", d->f.created * 1000000);
	ev_str(b, "reason", d->reason);
	ev_close(b);
	emit_commit(r->em);
	emit_soon(r->em);
	if (d->f.seq > r->deleted_through)
		r->deleted_through = d->f.seq;
	r->st.files_deleted++;
	r->st.bytes_deleted += d->f.size;
	log_info("%s deleted (%s): %" PRIu64 " bytes", d->f.name, d->reason, d->f.size);
}

/* What the finisher did since the last call: counted and reported. */
static void take_results(struct recorder *r)
{
	struct deleted *dels;
	size_t n;
	pthread_mutex_lock(&r->mu);
	dels = r->dels;
	n = r->ndels;
	r->dels = NULL;
	r->ndels = r->capdels = 0;
	r->st.files = r->done_files;
	r->st.index_errors = r->done_index_errors;
	pthread_mutex_unlock(&r->mu);
	for (size_t i = 0; i < n; i++)
		emit_expired(r, &dels[i]);
	free(dels);
}

/* ---- the finisher thread ---- */

struct collect {
	struct deleted *v;
	size_t n, cap;
};

static void collect_deleted(void *arg, const struct spool_file *f, const char *reason)
{
	struct collect *c = arg;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 8;
		c->v = xreallocarray(c->v, c->cap, sizeof(*c->v));
	}
	c->v[c->n].f = *f;
	c->v[c->n].reason = reason;
	c->n++;
}

static void finish_job(struct recorder *r, struct job *j)
{
	char err[512];
	int rc = spool_publish(r->spool, &j->f, j->iw, j->size, &r->cfg.flow, err, sizeof(err));
	if (rc < 0) {
		/* e.g. a failed write left offsets past the end: index what is there */
		char pcap[4200], idx[4200];
		snprintf(pcap, sizeof(pcap), "%s/%s", r->spool, j->f.name);
		snprintf(idx, sizeof(idx), "%s/%s.idx", r->spool, j->f.name);
		char err2[512];
		if (access(pcap, F_OK) == 0 &&
		    index_rebuild(pcap, idx, &r->cfg.flow, err2, sizeof(err2)) == 0)
			rc = 0;
		else
			log_warnx("%s: %s", j->f.name, err);
	}
	spool_chown(r->spool, &j->f, r->cfg.owner, r->cfg.group);
	close(j->fd);
	index_writer_reset(j->iw);

	struct collect c = {NULL, 0, 0};
	int n = spool_enforce(r->spool, &r->cfg.limits, r->cfg.file_size, collect_deleted, &c);
	if (n < 0)
		log_warnx("%s: quota: %s", r->spool, strerror(-n));

	pthread_mutex_lock(&r->mu);
	r->done_files++;
	if (rc < 0)
		r->done_index_errors++;
	for (size_t i = 0; i < c.n; i++) {
		if (r->ndels == r->capdels) {
			r->capdels = r->capdels ? r->capdels * 2 : 8;
			r->dels = xreallocarray(r->dels, r->capdels, sizeof(*r->dels));
		}
		r->dels[r->ndels++] = c.v[i];
	}
	pthread_mutex_unlock(&r->mu);
	free(c.v);
}

static void *finisher(void *arg)
{
	struct recorder *r = arg;
	pthread_mutex_lock(&r->mu);
	for (;;) {
		while (!r->have_job && !r->quit)
			pthread_cond_wait(&r->cv, &r->mu);
		if (!r->have_job)
			break;
		struct job j = r->job;
		r->have_job = 0;
		r->busy = 1;
		pthread_mutex_unlock(&r->mu);
		finish_job(r, &j);
		pthread_mutex_lock(&r->mu);
		r->busy = 0;
		pthread_cond_broadcast(&r->cv);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* Hand a finished file to the finisher; the other index writer takes over. */
static void hand_over(struct recorder *r, int fd, const struct spool_file *f, uint64_t size)
{
	pthread_mutex_lock(&r->mu);
	while (r->have_job || r->busy)
		pthread_cond_wait(&r->cv, &r->mu);
	r->job.fd = fd;
	r->job.f = *f;
	r->job.iw = r->iw[r->cur];
	r->job.size = size;
	r->have_job = 1;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	r->cur ^= 1;
}

/* ---- files ---- */

static void drop_part(struct recorder *r, int fd, const struct spool_file *f)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s.part", r->spool, f->name);
	unlink(path);
	close(fd);
}

static void finish_file(struct recorder *r)
{
	if (r->w == NULL)
		return;
	int rc = pcapfile_writer_close(&r->w);
	struct stat st;
	uint64_t size = fstat(r->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	if (rc < 0)
		log_warnx("%s: %s", r->file.name, strerror(-rc));
	if (r->file_pkts == 0) {
		drop_part(r, r->fd, &r->file);
		index_writer_reset(r->iw[r->cur]);
	} else {
		hand_over(r, r->fd, &r->file, size);
	}
	r->fd = -1;
	r->st.current[0] = '\0';
}

static int open_file(struct recorder *r, uint32_t linktype)
{
	char err[256];
	int64_t now = mono_ms();
	if (now < r->retry_ms)
		return -EAGAIN;
	int pcapng = r->cfg.format == PCAPFILE_PCAPNG;
	int fd = spool_create(r->spool, wall_s(), pcapng, r->cfg.owner, r->cfg.group, &r->file);
	if (fd < 0) {
		r->retry_ms = now + RETRY_MS;
		log_warnx("%s: cannot start a capture file: %s", r->spool, strerror(-fd));
		return fd;
	}
	int rc = pcapfile_writer_open(&r->w, fd, r->cfg.format, linktype, r->cfg.snaplen, err,
	                              sizeof(err));
	if (rc < 0) {
		r->retry_ms = now + RETRY_MS;
		log_warnx("%s: %s", r->file.name, err);
		drop_part(r, fd, &r->file);
		return rc;
	}
	r->fd = fd;
	r->linktype = linktype;
	r->opened_ms = now;
	r->file_pkts = 0;
	name_add(r, &r->file);
	flow_table_set_file(r->ft, r->file.seq);
	snprintf(r->st.current, sizeof(r->st.current), "%s", r->file.name);
	return 0;
}

/* ---- API ---- */

int recorder_new(struct recorder **out, const struct recorder_config *c, struct emitter *em,
                 char *err, size_t errlen)
{
	struct recorder *r = xcalloc(1, sizeof(*r));
	int rc;
	*out = NULL;
	r->cfg = *c;
	r->spool = xstrdup(c->spool);
	r->cfg.spool = r->spool;
	r->em = em;
	r->fd = -1;
	r->cfg.flow.end_cb = on_flow_end;
	r->cfg.flow.cb_arg = r;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	if ((rc = flow_table_new(&r->ft, &r->cfg.flow)) < 0) {
		snprintf(err, errlen, "flow table of %u flows: %s", c->flow.capacity,
		         strerror(-rc));
		goto fail;
	}
	if ((rc = index_writer_new(&r->iw[0], c->flow.cid_seed, 0)) < 0 ||
	    (rc = index_writer_new(&r->iw[1], c->flow.cid_seed, 0)) < 0) {
		snprintf(err, errlen, "index: %s", strerror(-rc));
		goto fail;
	}
	struct collect col = {NULL, 0, 0};
	rc = spool_enforce(r->spool, &c->limits, c->file_size, collect_deleted, &col);
	if (rc < 0)
		log_warnx("%s: quota: %s", r->spool, strerror(-rc));
	r->dels = col.v;
	r->ndels = col.n;
	r->capdels = col.cap;
	if ((rc = pthread_create(&r->th, NULL, finisher, r)) != 0) {
		snprintf(err, errlen, "thread: %s", strerror(rc));
		rc = -rc;
		goto fail;
	}
	r->th_started = 1;
	*out = r;
	return 0;
fail:
	recorder_close(&r, FLOW_END_SHUTDOWN);
	return rc;
}

int recorder_packet(struct recorder *r, int64_t ts_ns, const uint8_t *data, uint32_t caplen,
                    uint32_t origlen, uint32_t linktype)
{
	struct decode_pkt d;
	struct flow *f = NULL;
	int dir, rc;
	uint64_t off;

	r->st.pkts++;
	r->st.bytes += origlen;
	if (ts_ns > r->st.last_ts)
		r->st.last_ts = ts_ns;
	if (r->w && linktype != r->linktype)
		finish_file(r); /* one link type per file */
	if (r->w == NULL)
		open_file(r, linktype);
	rc = decode_packet(linktype, data, caplen, &d);
	if (rc < 0)
		r->st.malformed++;
	else if (d.l3 == 0)
		r->st.nonip++;
	else
		f = flow_table_track(r->ft, &d, ts_ns, origlen, &dir);
	if (r->w == NULL) {
		r->st.write_errors++;
		return -EIO;
	}
	rc = pcapfile_writer_write(r->w, ts_ns, data, caplen, origlen, &off);
	if (rc < 0) {
		r->st.write_errors++;
		log_warnx("%s: write: %s", r->file.name, strerror(-rc));
		finish_file(r);
		r->retry_ms = mono_ms() + RETRY_MS;
		return rc;
	}
	r->st.written++;
	r->file_pkts++;
	/* A failure here (out of memory) makes the index unsaveable: the finisher
	 * then rebuilds it from the file. */
	if (f)
		index_writer_add_hint(r->iw[r->cur], f->id, &f->key, ts_ns, off, &f->ix);
	if (r->cfg.file_size && pcapfile_writer_offset(r->w) >= r->cfg.file_size)
		finish_file(r);
	return 0;
}

struct copy_arg {
	int in, out;
	uint64_t len;
	int rc;
};

/* Copy len bytes in the kernel (page cache to page cache), read/write as a fallback. */
static void *copy_thread(void *arg)
{
	struct copy_arg *c = arg;
	loff_t in_off = 0, out_off = 0;
	uint64_t left = c->len;
	c->rc = 0;
	while (left > 0) {
		ssize_t n = copy_file_range(c->in, &in_off, c->out, &out_off, left, 0);
		if (n > 0) {
			left -= (uint64_t)n;
			continue;
		}
		if (n == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno != EXDEV && errno != ENOSYS && errno != EINVAL &&
		    errno != EOPNOTSUPP) {
			c->rc = -errno;
			return NULL;
		}
		/* another file system, or no copy_file_range: by hand */
		static const size_t bs = 1 << 20;
		uint8_t *buf = malloc(bs);
		if (buf == NULL) {
			c->rc = -ENOMEM;
			return NULL;
		}
		while (left > 0) {
			ssize_t m = pread(c->in, buf, left < bs ? left : bs, in_off);
			if (m <= 0) {
				if (m < 0 && errno == EINTR)
					continue;
				break;
			}
			if (pwrite(c->out, buf, (size_t)m, out_off) != m) {
				c->rc = -EIO;
				break;
			}
			in_off += m;
			out_off += m;
			left -= (uint64_t)m;
		}
		free(buf);
		break;
	}
	return NULL;
}

int recorder_adopt(struct recorder *r, const char *path, uint64_t *npkts, char *stop,
                   size_t stoplen, char *err, size_t errlen)
{
	struct pcapfile_reader *rd;
	struct pcapfile_pkt p;
	struct spool_file file;
	struct stat st;
	int rc;

	*npkts = 0;
	stop[0] = '\0';
	finish_file(r);
	if ((rc = pcapfile_reader_open_file(&rd, path, err, errlen)) < 0)
		return rc;
	enum pcapfile_format fmt = pcapfile_reader_format(rd);
	if (fmt == PCAPFILE_PCAPNG) {
		pcapfile_reader_close(&rd);
		snprintf(err, errlen, "%s: pcapng is converted, not adopted", path);
		return -ENOTSUP;
	}
	pcapfile_reader_set_lenient(rd, 1);
	int in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &st) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		if (in >= 0)
			close(in);
		pcapfile_reader_close(&rd);
		return rc;
	}
	int fd = spool_create(r->spool, wall_s(), 0, r->cfg.owner, r->cfg.group, &file);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot start a capture file: %s", r->spool,
		         strerror(-fd));
		close(in);
		pcapfile_reader_close(&rd);
		return fd;
	}
	name_add(r, &file);
	flow_table_set_file(r->ft, file.seq);
	snprintf(r->st.current, sizeof(r->st.current), "%s", file.name);

	struct copy_arg ca = {in, fd, (uint64_t)st.st_size, 0};
	pthread_t th;
	int threaded = pthread_create(&th, NULL, copy_thread, &ca) == 0;
	if (!threaded)
		copy_thread(&ca);

	struct index_writer *iw = r->iw[r->cur];
	uint64_t n = 0;
	while ((rc = pcapfile_reader_next(rd, &p)) == 1) {
		struct decode_pkt d;
		int dir;
		n++;
		r->st.pkts++;
		r->st.bytes += p.origlen;
		if (p.ts_ns > r->st.last_ts)
			r->st.last_ts = p.ts_ns;
		r->st.written++;
		int dr = decode_packet(p.linktype, p.data, p.caplen, &d);
		if (dr < 0) {
			r->st.malformed++;
			continue;
		}
		if (d.l3 == 0) {
			r->st.nonip++;
			continue;
		}
		struct flow *f = flow_table_track(r->ft, &d, p.ts_ns, p.origlen, &dir);
		if (f)
			index_writer_add(iw, f->id, &f->key, p.ts_ns, p.offset);
	}
	if (rc < 0)
		snprintf(stop, stoplen, "%s", pcapfile_reader_error(rd));
	uint64_t good = pcapfile_reader_offset(rd);
	uint64_t oversized = pcapfile_reader_oversized(rd);
	pcapfile_reader_close(&rd);
	if (threaded)
		pthread_join(th, NULL);
	close(in);
	*npkts = n;
	r->st.current[0] = '\0';
	if (ca.rc < 0 || (n > 0 && ftruncate(fd, (off_t)good) < 0)) {
		rc = ca.rc < 0 ? ca.rc : -errno;
		snprintf(err, errlen, "%s: copy into %s: %s", path, r->spool, strerror(-rc));
		index_writer_reset(iw);
		drop_part(r, fd, &file);
		return rc;
	}
	if (oversized && stop[0] == '\0')
		snprintf(stop, stoplen,
		         "%" PRIu64 " packets longer than the file's snaplen (kept whole)",
		         oversized);
	if (n == 0) {
		index_writer_reset(iw);
		drop_part(r, fd, &file);
		return 0;
	}
	hand_over(r, fd, &file, good);
	return 0;
}

int recorder_flush(struct recorder *r)
{
	if (r->w == NULL)
		return 0;
	int rc = pcapfile_writer_flush(r->w);
	if (rc < 0) {
		log_warnx("%s: write: %s", r->file.name, strerror(-rc));
		finish_file(r);
		r->retry_ms = mono_ms() + RETRY_MS;
	}
	return rc;
}

void recorder_end_flows(struct recorder *r, enum flow_end reason)
{
	flow_table_flush(r->ft, reason);
}

void recorder_expire(struct recorder *r, int64_t now_ns)
{
	flow_table_expire(r->ft, now_ns);
}

void recorder_tick(struct recorder *r)
{
	if (r->w && r->cfg.file_time_ms > 0 && r->file_pkts > 0 &&
	    mono_ms() - r->opened_ms >= r->cfg.file_time_ms)
		finish_file(r);
	take_results(r);
}

int recorder_rotate(struct recorder *r)
{
	finish_file(r);
	return 0;
}

void recorder_close(struct recorder **rp, enum flow_end reason)
{
	struct recorder *r = *rp;
	if (r == NULL)
		return;
	if (r->ft)
		flow_table_flush(r->ft, reason);
	finish_file(r);
	if (r->th_started) {
		pthread_mutex_lock(&r->mu);
		r->quit = 1;
		pthread_cond_broadcast(&r->cv);
		pthread_mutex_unlock(&r->mu);
		pthread_join(r->th, NULL);
	}
	if (r->em)
		take_results(r);
	flow_table_free(&r->ft);
	index_writer_free(&r->iw[0]);
	index_writer_free(&r->iw[1]);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r->dels);
	free(r->names);
	free(r->spool);
	free(r);
	*rp = NULL;
}

void recorder_stats(const struct recorder *r, struct recorder_stats *out)
{
	*out = r->st;
	flow_table_stats(r->ft, &out->flows);
}

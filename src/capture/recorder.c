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
/* Files written at once: one per link type (a pcapng whose interfaces have
 * several); one more link type finishes the file the longest unused. */
#define MAX_OPEN 8
/* Finished files waiting for the finisher or being finished, each with its
 * index writer: a hand-over waits only when this many are (the finisher a
 * whole set of open files behind), so at most 2 * MAX_OPEN writers exist. */
#define MAX_JOBS MAX_OPEN
/* Files finished to make room for another link type, from one rotation to the
 * next (an ingested capture): link types taking turns past MAX_OPEN would
 * otherwise make one file a packet, each start listing the whole spool. */
#define MAX_ROOM (8 * MAX_OPEN)

struct fname {
	uint32_t seq;
	uint8_t deleted; /* a pcap_expired event was emitted for it */
	char name[SPOOL_NAME_MAX];
};

struct deleted {
	struct spool_file f;
	const char *reason; /* static string */
};

struct job {
	struct job *next;
	int fd;
	struct spool_file f;
	struct index_writer *iw;
	uint64_t size;
};

/* A file being written, of one link type. */
struct out {
	struct pcapfile_writer *w; /* NULL: none */
	int fd;
	struct spool_file file;
	uint32_t linktype;
	int64_t opened_ms;
	uint64_t file_pkts;
	uint64_t used; /* when a packet last went here (recorder.uses) */
	struct index_writer *iw;
};

struct recorder {
	struct recorder_config cfg;
	char *spool; /* Malloced copy of cfg.spool. */
	struct emitter *em;
	struct flow_table *ft;
	/* index writers not in use (under mu: the finisher gives them back); one
	 * fills per file being written while the finisher saves others */
	struct index_writer **spare;
	size_t nspare, capspare;

	struct out out[MAX_OPEN]; /* the files being written */
	struct out *last;         /* the last packet's */
	/* the file recorder_adopt is indexing, and its index writer */
	struct index_writer *adopt_iw;
	uint32_t adopt_seq;
	uint64_t uses;
	unsigned room;    /* files finished for room since finish_files (MAX_ROOM) */
	int64_t room_ms;  /* when recorder_tick last let room start again */
	int64_t retry_ms; /* after a failure, no new file before this */

	/* names of the files made here, by sequence (increasing), and which of
	 * them are deleted: files written side by side finish, and so go, out of
	 * sequence order */
	struct fname *names;
	size_t nnames, capnames;
	uint32_t last_seq; /* the last file number taken: numbers only grow (spool_create) */

	/* the finisher: a queue of finished files (under mu), taken in order */
	pthread_t th;
	int th_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *jobs, **jobs_tail; /* waiting */
	int njobs;                     /* waiting or being finished (<= MAX_JOBS) */
	int quit;
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

/* Files are added as they are started: by sequence, each number once (a file
 * dropped empty keeps its number, spool_create never gives it again). */
static void name_add(struct recorder *r, const struct spool_file *f)
{
	if (r->nnames == r->capnames) {
		r->capnames = r->capnames ? r->capnames * 2 : 64;
		r->names = xreallocarray(r->names, r->capnames, sizeof(*r->names));
	}
	r->names[r->nnames].seq = f->seq;
	r->names[r->nnames].deleted = 0;
	memcpy(r->names[r->nnames].name, f->name, sizeof(f->name));
	r->nnames++;
}

static struct fname *name_find(const struct recorder *r, uint32_t seq)
{
	size_t lo = 0, hi = r->nnames;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (r->names[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < r->nnames && r->names[lo].seq == seq ? &r->names[lo] : NULL;
}

static const char *name_of(const struct recorder *r, uint32_t seq)
{
	const struct fname *n = name_find(r, seq);
	return n ? n->name : NULL;
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
	/* its own last file, not a sequence bound: a file of another link type
	 * written beside it can go while it is still open */
	const struct fname *lastf = f->file_last ? name_find(r, f->file_last) : NULL;
	int expired = lastf && lastf->deleted;
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

/* A later fragment held for its first is counted in its flow: its packet,
 * indexed without a flow when it was written, is given it. */
static void on_held(void *arg, const struct flow *f, int dir, const struct flow_frag_held *h)
{
	struct recorder *r = arg;
	struct index_writer *iw = NULL;
	(void)dir;
	if (h->tag == FLOW_TAG_NONE || h->file_id == 0)
		return; /* not written, or not indexed */
	for (int i = 0; i < MAX_OPEN && iw == NULL; i++)
		if (r->out[i].w && r->out[i].file.seq == h->file_id)
			iw = r->out[i].iw;
	if (iw == NULL && r->adopt_iw && r->adopt_seq == h->file_id)
		iw = r->adopt_iw;
	/* A failure (out of memory) leaves the packet in no flow of the index. A file's
	 * fragments are all let go before its index goes to the finisher (finish_out). */
	if (iw)
		index_writer_assign(iw, (size_t)h->tag, f->id, &f->key, h->ts_ns, NULL);
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
	struct fname *n = name_find(r, d->f.seq);
	if (n)
		n->deleted = 1;
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

/* An index writer for a new file: a spare one, or a new one (NULL when out of memory). */
static struct index_writer *iw_get(struct recorder *r)
{
	struct index_writer *w = NULL;
	pthread_mutex_lock(&r->mu);
	if (r->nspare > 0)
		w = r->spare[--r->nspare];
	pthread_mutex_unlock(&r->mu);
	if (w == NULL && index_writer_new(&w, r->cfg.flow.cid_seed, 0) < 0)
		w = NULL;
	return w;
}

/* Give an index writer back, emptied (either thread). */
static void iw_put(struct recorder *r, struct index_writer *w)
{
	if (w == NULL)
		return;
	index_writer_reset(w);
	pthread_mutex_lock(&r->mu);
	if (r->nspare == r->capspare) {
		r->capspare = r->capspare ? r->capspare * 2 : 4;
		r->spare = xreallocarray(r->spare, r->capspare, sizeof(*r->spare));
	}
	r->spare[r->nspare++] = w;
	pthread_mutex_unlock(&r->mu);
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
	iw_put(r, j->iw);

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

/* Finished files, one after the other in the order handed over, until told
 * to quit with none left. */
static void *finisher(void *arg)
{
	struct recorder *r = arg;
	pthread_mutex_lock(&r->mu);
	for (;;) {
		while (r->jobs == NULL && !r->quit)
			pthread_cond_wait(&r->cv, &r->mu);
		struct job *j = r->jobs;
		if (j == NULL)
			break;
		r->jobs = j->next;
		if (r->jobs == NULL)
			r->jobs_tail = &r->jobs;
		pthread_mutex_unlock(&r->mu);
		finish_job(r, j);
		free(j);
		pthread_mutex_lock(&r->mu);
		r->njobs--;
		pthread_cond_broadcast(&r->cv);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/*
 * Hand a finished file and its index writer to the finisher: queued behind
 * the others, never waiting for the one being finished. Only a finisher
 * MAX_JOBS files behind makes it wait (for one of them).
 */
static void hand_over(struct recorder *r, int fd, const struct spool_file *f, uint64_t size,
                      struct index_writer *iw)
{
	struct job *j = xcalloc(1, sizeof(*j));
	j->fd = fd;
	j->f = *f;
	j->iw = iw;
	j->size = size;
	pthread_mutex_lock(&r->mu);
	while (r->njobs >= MAX_JOBS)
		pthread_cond_wait(&r->cv, &r->mu);
	*r->jobs_tail = j;
	r->jobs_tail = &j->next;
	r->njobs++;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

/* ---- files ---- */

static void drop_part(struct recorder *r, int fd, const struct spool_file *f)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s.part", r->spool, f->name);
	unlink(path);
	close(fd);
}

/* The name of the file opened last of those being written, for the stats. */
static void note_current(struct recorder *r)
{
	const struct out *cur = NULL;
	for (int i = 0; i < MAX_OPEN; i++)
		if (r->out[i].w && (cur == NULL || r->out[i].file.seq > cur->file.seq))
			cur = &r->out[i];
	snprintf(r->st.current, sizeof(r->st.current), "%s", cur ? cur->file.name : "");
}

/*
 * Finish a file being written. Returns 0, or the -errno of a write that
 * failed (now or before): the packets that did not reach the file are then
 * counted as not written (the writer cut the file back to its last whole
 * record) and the file is published with those that did.
 */
static int finish_out(struct recorder *r, struct out *o)
{
	if (o->w == NULL)
		return 0;
	/* fragments of this file still held for their first go to their flows now: its
	 * index is complete when the finisher takes it */
	if (r->ft)
		flow_table_release_frags(r->ft, o->file.seq);
	int rc = pcapfile_writer_flush(o->w);
	if (rc < 0) {
		uint64_t kept = pcapfile_writer_records(o->w);
		uint64_t lost = o->file_pkts > kept ? o->file_pkts - kept : 0;
		r->st.written -= lost;
		r->st.write_errors += lost;
		o->file_pkts = kept;
		log_warnx("%s: write: %s (%" PRIu64 " packets lost, %" PRIu64 " kept)",
		          o->file.name, strerror(-rc), lost, kept);
	}
	pcapfile_writer_close(&o->w);
	struct stat st;
	uint64_t size = fstat(o->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	if (o->file_pkts == 0) {
		drop_part(r, o->fd, &o->file);
		iw_put(r, o->iw);
	} else {
		hand_over(r, o->fd, &o->file, size, o->iw);
	}
	o->iw = NULL;
	o->fd = -1;
	if (r->last == o)
		r->last = NULL;
	note_current(r);
	return rc;
}

/* Finish every file being written; the first write error, or 0. */
static int finish_files(struct recorder *r)
{
	int rc = 0;
	r->room = 0;
	for (int i = 0; i < MAX_OPEN; i++) {
		int e = finish_out(r, &r->out[i]);
		if (rc == 0)
			rc = e;
	}
	return rc;
}

static int open_file(struct recorder *r, struct out *o, uint32_t linktype)
{
	char err[256];
	int64_t now = mono_ms();
	if (now < r->retry_ms)
		return -EAGAIN;
	int pcapng = r->cfg.format == PCAPFILE_PCAPNG;
	struct index_writer *iw = iw_get(r);
	if (iw == NULL) {
		r->retry_ms = now + RETRY_MS;
		log_warnx("%s: index: out of memory", r->spool);
		return -ENOMEM;
	}
	int fd = spool_create(r->spool, wall_s(), pcapng, r->cfg.owner, r->cfg.group,
	                      r->last_seq, &o->file);
	if (fd < 0) {
		r->retry_ms = now + RETRY_MS;
		log_warnx("%s: cannot start a capture file: %s", r->spool, strerror(-fd));
		iw_put(r, iw);
		return fd;
	}
	r->last_seq = o->file.seq;
	int rc = pcapfile_writer_open(&o->w, fd, r->cfg.format, linktype, r->cfg.snaplen, err,
	                              sizeof(err));
	if (rc < 0) {
		r->retry_ms = now + RETRY_MS;
		log_warnx("%s: %s", o->file.name, err);
		drop_part(r, fd, &o->file);
		iw_put(r, iw);
		return rc;
	}
	o->fd = fd;
	o->iw = iw;
	o->linktype = linktype;
	o->opened_ms = now;
	o->file_pkts = 0;
	name_add(r, &o->file);
	note_current(r);
	return 0;
}

/*
 * The file packets of linktype go to: the one being written, or a new one
 * (when all are taken, the longest unused is finished first, its write error
 * in *lost). NULL when none could be started; *lost is then -EMLINK when
 * MAX_ROOM files were already finished for room.
 */
static struct out *out_for(struct recorder *r, uint32_t linktype, int *lost)
{
	struct out *spare = NULL, *lru = NULL;
	for (int i = 0; i < MAX_OPEN; i++) {
		struct out *o = &r->out[i];
		if (o->w == NULL) {
			if (spare == NULL)
				spare = o;
		} else if (o->linktype == linktype) {
			return o;
		} else if (lru == NULL || o->used < lru->used) {
			lru = o;
		}
	}
	if (spare == NULL) {
		if (r->room >= MAX_ROOM) {
			*lost = -EMLINK;
			return NULL;
		}
		r->room++;
		*lost = finish_out(r, lru);
		spare = lru;
	}
	return open_file(r, spare, linktype) == 0 ? spare : NULL;
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
	for (int i = 0; i < MAX_OPEN; i++)
		r->out[i].fd = -1;
	r->cfg.flow.end_cb = on_flow_end;
	r->cfg.flow.held_cb = on_held;
	r->cfg.flow.cb_arg = r;
	r->jobs_tail = &r->jobs;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	if ((rc = flow_table_new(&r->ft, &r->cfg.flow)) < 0) {
		snprintf(err, errlen, "flow table of %u flows: %s", c->flow.capacity,
		         strerror(-rc));
		goto fail;
	}
	for (int i = 0; i < 2; i++) { /* one fills while the finisher saves another */
		struct index_writer *w;
		if ((rc = index_writer_new(&w, c->flow.cid_seed, 0)) < 0) {
			snprintf(err, errlen, "index: %s", strerror(-rc));
			goto fail;
		}
		iw_put(r, w);
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
	int dir = -1, rc;
	uint64_t off;
	size_t pos;

	int lost = 0;
	struct out *o = r->last;
	if (o == NULL || o->linktype != linktype) { /* one link type per file */
		o = out_for(r, linktype, &lost);
		r->last = o;
		flow_table_set_file(r->ft, o ? o->file.seq : 0);
		if (lost == -EMLINK) { /* neither taken nor tracked: counted */
			r->st.pkts++;
			r->st.bytes += origlen;
			r->st.refused++;
			return lost;
		}
	}
	r->st.pkts++;
	r->st.bytes += origlen;
	if (ts_ns > r->st.last_ts)
		r->st.last_ts = ts_ns;
	rc = decode_packet(linktype, data, caplen, &d);
	if (rc < 0)
		r->st.malformed++;
	else if (d.l3 == 0)
		r->st.nonip++;
	else
		f = flow_table_track(r->ft, &d, ts_ns, origlen, &dir);
	if (o == NULL) {
		r->st.write_errors++;
		return -EIO;
	}
	o->used = ++r->uses;
	rc = pcapfile_writer_write(o->w, ts_ns, data, caplen, origlen, &off);
	if (rc < 0) {
		r->st.write_errors++; /* this one; finish_out counts those buffered */
		finish_out(r, o);
		r->retry_ms = mono_ms() + RETRY_MS;
		return rc;
	}
	r->st.written++;
	o->file_pkts++;
	/* A failure here (out of memory) makes the index unsaveable: the finisher
	 * then rebuilds it from the file. */
	if (f)
		index_writer_add_hint(o->iw, f->id, &f->key, ts_ns, off, &f->ix);
	else if (dir == FLOW_DIR_HELD && index_writer_add_pending(o->iw, off, &pos) == 0)
		flow_table_tag_held(r->ft, pos); /* its flow comes later (on_held) */
	/* A file ends at its size, or earlier when its index takes too much memory
	 * (many flows of few packets: a scan, a flood of spoofed sources). */
	if (((r->cfg.file_size && pcapfile_writer_offset(o->w) >= r->cfg.file_size) ||
	     index_writer_memory(o->iw) >=
	         (r->cfg.index_max_mem ? r->cfg.index_max_mem : INDEX_WRITER_MAX_MEM)) &&
	    (rc = finish_out(r, o)) < 0) {
		r->retry_ms = mono_ms() + RETRY_MS;
		return rc;
	}
	return lost;
}

struct copy_arg {
	int in, out;
	uint64_t len;
	uint64_t done; /* bytes copied */
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
			c->done += (uint64_t)n;
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
		while (left > 0 && c->rc == 0) {
			ssize_t m = pread(c->in, buf, left < bs ? left : bs, in_off);
			if (m <= 0) {
				if (m < 0 && errno == EINTR)
					continue;
				break;
			}
			in_off += m;
			/* a short write is followed by another: the one that cannot
			 * write anything says why (a full disk, a file size limit) */
			for (ssize_t put = 0; put < m;) {
				ssize_t w =
				    pwrite(c->out, buf + put, (size_t)(m - put), out_off);
				if (w < 0 && errno == EINTR)
					continue;
				if (w <= 0) {
					c->rc = w < 0 ? -errno : -EIO;
					break;
				}
				put += w;
				out_off += w;
				left -= (uint64_t)w;
				c->done += (uint64_t)w;
			}
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
	if ((rc = finish_files(r)) < 0) {
		snprintf(err, errlen, "%s: write: %s", r->spool, strerror(-rc));
		return rc;
	}
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
	/* A file still being written is taken as it is now: the reader stops where
	 * the copy does. */
	pcapfile_reader_set_limit(rd, (uint64_t)st.st_size);
	int fd =
	    spool_create(r->spool, wall_s(), 0, r->cfg.owner, r->cfg.group, r->last_seq, &file);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot start a capture file: %s", r->spool,
		         strerror(-fd));
		close(in);
		pcapfile_reader_close(&rd);
		return fd;
	}
	r->last_seq = file.seq;
	struct index_writer *iw = iw_get(r);
	if (iw == NULL) {
		snprintf(err, errlen, "index: out of memory");
		drop_part(r, fd, &file);
		close(in);
		pcapfile_reader_close(&rd);
		return -ENOMEM;
	}
	name_add(r, &file);
	flow_table_set_file(r->ft, file.seq);
	r->last = NULL; /* the next packet sets its own file */
	r->adopt_iw = iw;
	r->adopt_seq = file.seq;
	snprintf(r->st.current, sizeof(r->st.current), "%s", file.name);

	struct copy_arg ca = {in, fd, (uint64_t)st.st_size, 0, 0};
	pthread_t th;
	int threaded = pthread_create(&th, NULL, copy_thread, &ca) == 0;
	if (!threaded)
		copy_thread(&ca);

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
		size_t pos;
		struct flow *f = flow_table_track(r->ft, &d, p.ts_ns, p.origlen, &dir);
		if (f)
			index_writer_add(iw, f->id, &f->key, p.ts_ns, p.offset);
		else if (dir == FLOW_DIR_HELD &&
		         index_writer_add_pending(iw, p.offset, &pos) == 0)
			flow_table_tag_held(r->ft, pos); /* its flow comes later (on_held) */
	}
	/* the fragments still held go to their flows while the index is here */
	flow_table_release_frags(r->ft, file.seq);
	r->adopt_iw = NULL;
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
	if (ca.rc == 0 && ca.done < good)
		ca.rc = -ENODATA; /* it shrank while it was copied */
	/* only ever cut (a partial last record), never extended */
	if (ca.rc < 0 || (n > 0 && good < ca.done && ftruncate(fd, (off_t)good) < 0)) {
		rc = ca.rc < 0 ? ca.rc : -errno;
		snprintf(err, errlen, "%s: copy into %s: %s", path, r->spool,
		         rc == -ENODATA ? "the file shrank while it was copied"
		                        : strerror(-rc));
		r->st.written -= n; /* none of them is in the spool */
		r->st.write_errors += n;
		iw_put(r, iw);
		drop_part(r, fd, &file);
		return rc;
	}
	if (oversized && stop[0] == '\0')
		snprintf(stop, stoplen,
		         "%" PRIu64 " packets longer than the file's snaplen (kept whole)",
		         oversized);
	if (n == 0) {
		iw_put(r, iw);
		drop_part(r, fd, &file);
		return 0;
	}
	hand_over(r, fd, &file, good, iw);
	return 0;
}

int recorder_flush(struct recorder *r)
{
	int rc = 0;
	for (int i = 0; i < MAX_OPEN; i++) {
		struct out *o = &r->out[i];
		if (o->w == NULL)
			continue;
		int e = pcapfile_writer_flush(o->w);
		if (e < 0) {
			finish_out(r, o);
			r->retry_ms = mono_ms() + RETRY_MS;
			if (rc == 0)
				rc = e;
		}
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
	/* A live capture never rotates all its files at once: the room for link
	 * types taking turns comes back every second (MAX_ROOM files a second at
	 * most), so a capture that meets them refuses packets only in bursts. */
	int64_t now = mono_ms();
	if (now - r->room_ms >= 1000) {
		r->room = 0;
		r->room_ms = now;
	}
	for (int i = 0; i < MAX_OPEN; i++) {
		struct out *o = &r->out[i];
		if (o->w && r->cfg.file_time_ms > 0 && o->file_pkts > 0 &&
		    mono_ms() - o->opened_ms >= r->cfg.file_time_ms)
			finish_out(r, o);
	}
	take_results(r);
}

int recorder_rotate(struct recorder *r)
{
	return finish_files(r);
}

void recorder_close(struct recorder **rp, enum flow_end reason)
{
	struct recorder *r = *rp;
	if (r == NULL)
		return;
	if (r->ft)
		flow_table_flush(r->ft, reason);
	finish_files(r);
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
	for (size_t i = 0; i < r->nspare; i++)
		index_writer_free(&r->spare[i]);
	free(r->spare);
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

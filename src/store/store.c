#include "store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/event.h"
#include "../common/ipc.h"
#include "../common/log.h"
#include "../common/loop.h"
#include "../common/sandbox.h"
#include "../common/util.h"
#include "db.h"
#include "evsum.h"
#include "jsonfile.h"
#include "render.h"
#include "rows.h"
#include "sink.h"
#include "sinkspec.h"
#include "status.h"

#define COMMIT_MS 200
#define STATUS_MS 1000
/*
 * Under a flood (COMMIT_BUSY_MIN records or more in a batch) records go into
 * the open transaction as they come, and a batch grows to a second: a commit
 * writes every page the batch touched, and index entries in random order
 * (domains) touch most of an index however few they are.
 */
#define COMMIT_BUSY_MIN 2000
#define COMMIT_BUSY_MS 1000
#define COMMIT_BUSY_ROWS 200000
/* A batch also commits when the records it keeps (below) reach this size. */
#define COMMIT_BUSY_BYTES (128u << 20)
/* While the database cannot be written, records wait in memory up to this
 * size; past it the oldest quarter is given up, and counted. */
#define PENDING_MAX (256u << 20)
#define DB_RETRY_MIN_MS 1000
#define DB_RETRY_MAX_MS 30000
#define JSON_FLUSH_BYTES (4u << 20)
#define TOUCH_SLOTS 4096
#define STOP_GRACE_MS 3000

struct peer {
	int fd; /* -1 once closed */
	char name[16];
	uint64_t events;
	int subscribed;        /* gets every new sinkhole mapping (the trap, for attribution) */
	int map_sent;          /* it asked for the map on this channel, and had it */
	int lagging;           /* took no new mapping in time: not waited for until it does */
	uint64_t maps_missed;  /* new mappings not passed to it while it lagged */
	uint64_t bad;          /* messages dropped as malformed */
	uint64_t bad_reported; /* of those, already said */
	int64_t bad_said_at;   /* ms: said at most once a second */
	const char *bad_what;  /* the last one, a static string */
};

/* The last stats event of a worker, for the status file. */
struct worker_stats {
	char name[16];
	struct strbuf json;
	int64_t ts;
};

struct store {
	struct config *cfg;
	struct loop *loop;
	struct db *db;
	struct jsonfile *json;
	int json_alerted;    /* said that the JSON file's rotation fails */
	struct sink **sinks; /* as many as the config names */
	int nsinks;
	/* Sinks stopped whose thread did not end (a hung peer): kept, with their queue,
	 * until it does, or until a new sink of the same name takes them. */
	struct sink **hung;
	int nhung;
	struct strbuf line; /* one rendered event */
	struct strbuf status;
	struct evbuf own; /* events the store makes itself */
	struct peer peers[STORE_MAX_PEERS];
	int npeers;
	int parent_fd;
	int stopping;
	uint64_t rows_in_batch;
	int64_t batch_at; /* ms: the last commit */
	uint64_t n_events, n_db_rows, n_db_errors;
	/*
	 * Every record of the open batch, kept until the batch commits: the
	 * first pend_written bytes are in the open transaction, the rest go in
	 * at the commit (db_write) or, under a flood, as they come. A commit
	 * that fails (a full disk) is rolled back; the records then wait here,
	 * with those that come meanwhile, and the whole batch is done again at
	 * the next try (inserts of an event id already stored are ignored, so
	 * nothing is stored twice).
	 */
	uint8_t *pend;
	size_t pend_len, pend_high;  /* bytes kept; the most touched since the last trim */
	size_t pend_written;         /* bytes of them in the open transaction */
	uint64_t pend_n, batch_rows; /* records kept; event rows inserted in the batch */
	int db_wanted;               /* SQLite is configured (db is NULL until it opens) */
	char db_open_err[512];       /* why it does not open */
	int db_down;                 /* the last try failed: records wait in pend */
	int batch_broken;            /* a write of the open batch failed as a full disk does */
	int64_t db_down_since, db_retry_at; /* mono ms */
	int db_retry_ms;
	uint64_t db_given_up; /* records dropped from pend past PENDING_MAX */
	int64_t started;
	struct worker_stats wstats[4];
	int nwstats;
	/* sinkhole addresses seen in answers since the last commit: last use to persist */
	char touch_addr[TOUCH_SLOTS][INET6_ADDRSTRLEN];
	int64_t touch_ts[TOUCH_SLOTS];
	struct ipc_msg msg;
};

static void touch_flush(struct store *s)
{
	for (int i = 0; i < TOUCH_SLOTS; i++) {
		if (s->touch_addr[i][0] == '\0')
			continue;
		db_map_touch(s->db, s->touch_addr[i], s->touch_ts[i]);
		s->touch_addr[i][0] = '\0';
	}
}

static void db_write(struct store *s);

/* The open batch is gone (committed, or given up with the database). After a
 * flood, a small batch gives the memory the flood's batches used back. */
#define PEND_KEEP (1u << 20)
static void pending_clear(struct store *s)
{
	if (s->pend_len > s->pend_high)
		s->pend_high = s->pend_len;
	if (s->pend_len < PEND_KEEP && s->pend_high > 8 * PEND_KEEP) {
		madvise(s->pend + PEND_KEEP, s->pend_high - PEND_KEEP, MADV_DONTNEED);
		s->pend_high = PEND_KEEP;
	}
	s->pend_len = 0;
	s->pend_written = 0;
	s->pend_n = 0;
	s->batch_rows = 0;
}

/* The next kept record after *off (0: the first); 0 at the end. */
static int pending_next(const struct store *s, size_t *off, const uint8_t **rec, uint32_t *rl)
{
	if (*off >= s->pend_len)
		return 0;
	*rec = s->pend + *off;
	memcpy(rl, *rec, sizeof(*rl));
	*off += *rl;
	return 1;
}

/* The records of data (len bytes, n records, checked) join the open batch's. */
static void pending_add(struct store *s, const uint8_t *data, size_t len, uint64_t n)
{
	if (s->pend == NULL) {
		/* Reserved once, touched as used; huge pages keep a flood's copies cheap. */
		s->pend = mmap(NULL, PENDING_MAX + IPC_MAX_PAYLOAD, PROT_READ | PROT_WRITE,
		               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (s->pend == MAP_FAILED)
			fatal("events kept for the database: mmap");
		madvise(s->pend, PENDING_MAX + IPC_MAX_PAYLOAD, MADV_HUGEPAGE); /* a hint */
	}
	if (s->pend_len + len > PENDING_MAX) {
		/* Only while the database is down (a batch commits long before):
		 * give up the oldest quarter, say how many, keep the newest. */
		size_t off = 0;
		uint64_t k = 0;
		const uint8_t *rec;
		uint32_t rl;
		while (off < s->pend_len / 4 && pending_next(s, &off, &rec, &rl))
			k++;
		memmove(s->pend, s->pend + off, s->pend_len - off);
		s->pend_len -= off;
		s->pend_n -= k;
		s->db_given_up += k;
		log_warnx(
		    "database: not writable for %lld s: the %llu oldest events waiting for it "
		    "are given up (%llu in all; JSON lines and remote destinations still "
		    "have them)",
		    (long long)((mono_ms() - s->db_down_since) / 1000), (unsigned long long)k,
		    (unsigned long long)s->db_given_up);
	}
	memcpy(s->pend + s->pend_len, data, len);
	s->pend_len += len;
	s->pend_n += n;
}

/* The database is not there to write to: records wait; the next try is later. */
static void db_backoff(struct store *s)
{
	int64_t now = mono_ms();
	if (!s->db_down) {
		s->db_down = 1;
		s->db_down_since = now;
		s->db_retry_ms = DB_RETRY_MIN_MS;
	} else if (s->db_retry_ms < DB_RETRY_MAX_MS) {
		s->db_retry_ms =
		    s->db_retry_ms * 2 < DB_RETRY_MAX_MS ? s->db_retry_ms * 2 : DB_RETRY_MAX_MS;
	}
	s->db_retry_at = now + s->db_retry_ms;
}

/* A begin or commit failed: the batch was rolled back; try again later. */
static void db_failed(struct store *s, const char *what)
{
	s->batch_broken = 0;
	db_backoff(s);
	s->pend_written = 0;
	s->n_db_rows -= s->batch_rows;
	s->batch_rows = 0;
	s->n_db_errors++;
	log_warnx("database %s: %s: %llu events wait in memory for it (next try in %d s)", what,
	          db_error(s->db), (unsigned long long)s->pend_n, s->db_retry_ms / 1000);
}

/*
 * The commit tick: JSON lines written, the database batch committed, and
 * every delivery queue fdatasynced (so a power loss costs at most one tick).
 */
static int db_open_now(struct store *s);

static void commit(struct store *s)
{
	if (s->json)
		jsonfile_flush(s->json);
	if (s->db_wanted && (!s->db_down || s->stopping || mono_ms() >= s->db_retry_at)) {
		if (s->db == NULL)
			db_open_now(s);
		if (s->db != NULL && s->pend_n > 0)
			db_write(s);
	}
	s->rows_in_batch = 0;
	s->batch_at = mono_ms();
	for (int i = 0; i < s->nsinks; i++) {
		sink_flush(s->sinks[i]);
		sink_sync(s->sinks[i]);
	}
}

static void commit_timer(void *arg)
{
	struct store *s = arg;
	if (s->rows_in_batch >= COMMIT_BUSY_MIN && mono_ms() - s->batch_at < COMMIT_BUSY_MS) {
		/* A flood: JSON lines and delivery queues as every tick, the database later. */
		if (s->json)
			jsonfile_flush(s->json);
		for (int i = 0; i < s->nsinks; i++) {
			sink_flush(s->sinks[i]);
			sink_sync(s->sinks[i]);
		}
		return;
	}
	commit(s);
}

static void touch(struct store *s, const uint8_t *p, size_t n, int64_t ts)
{
	if (n == 0 || n >= INET6_ADDRSTRLEN)
		return;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	for (int probe = 0; probe < 8; probe++) {
		char *slot = s->touch_addr[(h + (uint32_t)probe) % TOUCH_SLOTS];
		int64_t *t = &s->touch_ts[(h + (uint32_t)probe) % TOUCH_SLOTS];
		if (slot[0] == '\0' || (strlen(slot) == n && !memcmp(slot, p, n))) {
			int fresh = slot[0] == '\0';
			memcpy(slot, p, n);
			slot[n] = '\0';
			if (fresh || ts > *t)
				*t = ts;
			return;
		}
	}
	/* Table full: persist it now, then keep this one. */
	if (s->db && db_in_batch(s->db)) {
		touch_flush(s);
		touch(s, p, n, ts);
	}
}

static int send_blocking(int fd, uint32_t type, const void *a, size_t al, const void *b,
                         size_t bl, int wait_ms);

/* A new mapping, to every subscribed peer at once (attribution must not lag). */
static void map_publish(struct store *s, const char *address, const char *domain, int64_t ts)
{
	struct ipc_map_entry e;
	memset(&e, 0, sizeof(e));
	e.last_use = ts;
	if (inet_pton(AF_INET, address, e.addr) == 1)
		e.family = AF_INET;
	else if (inet_pton(AF_INET6, address, e.addr) == 1)
		e.family = AF_INET6;
	else
		return;
	size_t nl = strlen(domain);
	if (nl > IPC_MAP_NAME_MAX)
		return;
	for (int i = 0; i < s->npeers; i++) {
		struct peer *p = &s->peers[i];
		if (p->fd < 0 || !p->subscribed)
			continue;
		/* A peer behind on its channel is waited for a while: a mapping it
		 * misses would leave a recycled address under its old domain. One
		 * that took nothing in that while is not waited for again until it
		 * takes one, so a hung peer cannot hold the store a second for each
		 * new mapping. */
		int r = send_blocking(p->fd, IPC_MAP_ENTRY, &e, sizeof(e), domain, nl,
		                      p->lagging ? 0 : 1000);
		if (r < 0) {
			if (!p->lagging)
				log_warnx(
				    "could not pass the sinkhole mapping %s -> %s to %s (%s): "
				    "the new mappings it misses are counted, not waited for, "
				    "until it takes one",
				    address, domain, p->name, strerror(-r));
			p->lagging = 1;
			p->maps_missed++;
		} else if (p->lagging) {
			log_warnx("%s takes sinkhole mappings again; it missed %" PRIu64,
			          p->name, p->maps_missed);
			p->lagging = 0;
		}
	}
}

/* A row beside `events` not written: the batch is done again later when the
 * cause may pass (a full disk); otherwise the row's own fault is said. */
static void row_failed(struct store *s, const char *what)
{
	if (db_retriable(s->db))
		s->batch_broken = 1;
	else
		log_warnx("%s: %s", what, db_error(s->db));
}

/* A sinkhole_map event's mapping: address, domain, family and time. */
struct mapping {
	char address[64], domain[1100], family[8];
	int64_t ts;
};

static int mapping_of(const struct evsum *es, struct mapping *m)
{
	const struct ev_field *ts = evsum_get(es, ES_TIMESTAMP),
	                      *f1 = evsum_get(es, ES_MAP_ADDRESS),
	                      *f2 = evsum_get(es, ES_MAP_DOMAIN),
	                      *f3 = evsum_get(es, ES_MAP_FAMILY);
	if (!evsum_is(es, ES_EVENT_TYPE, "sinkhole_map") || !ts || !f1 || !f2 || !f3 ||
	    f1->kind != EV_STR || f2->kind != EV_STR || f3->kind != EV_STR)
		return 0;
	snprintf(m->address, sizeof(m->address), "%.*s", (int)f1->strlen, f1->str);
	snprintf(m->domain, sizeof(m->domain), "%.*s", (int)f2->strlen, f2->str);
	snprintf(m->family, sizeof(m->family), "%.*s", (int)f3->strlen, f3->str);
	m->ts = ts->i;
	return 1;
}

/* What a record changes besides the tables: a new mapping goes to the peers. */
static void publish(struct store *s, const struct evsum *es)
{
	struct mapping m;
	if (mapping_of(es, &m))
		map_publish(s, m.address, m.domain, m.ts);
}

/* The sinkhole map: a new mapping is kept, an answer's address is marked used. */
static void apply(struct store *s, const struct evsum *es)
{
	struct mapping m;
	if (mapping_of(es, &m)) {
		if (db_map_upsert(s->db, m.address, m.domain, m.family, m.ts) < 0)
			row_failed(s, "sinkhole map");
	} else if (evsum_is(es, ES_EVENT_TYPE, "dns") && evsum_is(es, ES_ACTION, "sinkhole")) {
		const struct ev_field *ts = evsum_get(es, ES_TIMESTAMP),
		                      *ans = evsum_answer_address(es);
		if (ts && ans)
			touch(s, ans->str, ans->strlen, ts->i);
	}
}

/* Keep the last stats of each worker ("stats": {"worker": W, W: {...}}). */
static void keep_stats(struct store *s, const uint8_t *rec, size_t len)
{
	struct ev_field w, sub, ts;
	char name[16], path[32];
	if (!ev_find(rec, len, "stats.worker", &w) || w.kind != EV_STR || w.strlen == 0 ||
	    w.strlen >= sizeof(name))
		return;
	memcpy(name, w.str, w.strlen);
	name[w.strlen] = '\0';
	snprintf(path, sizeof(path), "stats.%s", name);
	if (!ev_find(rec, len, path, &sub) || sub.kind != EV_OBJ)
		return;
	struct worker_stats *ws = NULL;
	for (int i = 0; i < s->nwstats; i++)
		if (!strcmp(s->wstats[i].name, name))
			ws = &s->wstats[i];
	if (ws == NULL) {
		if (s->nwstats == (int)ARRAY_SIZE(s->wstats))
			return;
		ws = &s->wstats[s->nwstats++];
		snprintf(ws->name, sizeof(ws->name), "%s", name);
		strbuf_init(&ws->json);
	}
	strbuf_reset(&ws->json);
	render_json(rec, len, s->cfg->sensor, &ws->json);
	ws->ts = ev_find(rec, len, "timestamp", &ts) ? ts.i : 0;
}

/*
 * The database work of one record in the open batch: its event row (with its
 * JSON, rendered into s->line unless `rendered` says it is there already,
 * when database_types stores the type), the sinkhole map and the tables
 * beside `events`. 0, or -1 when a write failed as a full disk does: the
 * batch is rolled back, to be done again later.
 */
static int db_work(struct store *s, const uint8_t *rec, size_t rl, const struct evsum *es,
                   const struct ev_field *type, int rendered)
{
	const char *what;
	int to_db = sinkspec_types_pass(&s->cfg->database_types, rec, rl, type);
	if (to_db && !rendered) {
		strbuf_reset(&s->line);
		render_json(rec, rl, s->cfg->sensor, &s->line);
	}
	int r = db_event_store(s->db, rec, rl, es, to_db ? s->line.data : NULL,
	                       to_db ? s->line.len : 0, &what);
	if (r > 0) {
		s->n_db_rows++;
		s->batch_rows++;
	} else if (r < 0) {
		if (db_retriable(s->db))
			s->batch_broken = 1; /* the whole batch again, later */
		else if (s->n_db_errors++ % 1000 == 0)
			log_warnx("%s: %s", what, db_error(s->db));
	}
	apply(s, es);
	if (!s->batch_broken)
		return 0;
	db_rollback(s->db);
	db_failed(s, "write");
	return -1;
}

/*
 * The records kept since the last one in the open transaction go into it
 * (begun if need be). 0, or -1 when the batch failed and was rolled back.
 */
static int db_insert_pending(struct store *s)
{
	if (db_begin(s->db) < 0) {
		db_failed(s, "begin");
		return -1;
	}
	size_t off = s->pend_written;
	const uint8_t *rec;
	uint32_t rl;
	while (pending_next(s, &off, &rec, &rl)) {
		struct ev_field type;
		if (!ev_find(rec, rl, "event_type", &type) || type.kind != EV_STR)
			continue;
		struct evsum es;
		evsum_extract(rec, rl, &es);
		if (db_work(s, rec, rl, &es, &type, 0) < 0)
			return -1;
	}
	s->pend_written = s->pend_len;
	return 0;
}

/*
 * The batch committed: the records not yet in the open transaction go in
 * first. A quiet store takes the write lock only here, for the moment the
 * batch takes, so another writer (`sinktrap ingest`) gets its turn between
 * batches; under a flood records go in as they come (take_records), so that
 * the store keeps taking events meanwhile. After a failure, the same records
 * and those taken meanwhile, once the database is writable again.
 */
static void db_write(struct store *s)
{
	if (db_insert_pending(s) < 0)
		return;
	touch_flush(s);
	if (db_commit(s->db) < 0) {
		db_failed(s, "commit");
		return;
	}
	if (s->db_down)
		log_info("database writable again after %lld s: the %llu events that waited "
		         "are stored",
		         (long long)((mono_ms() - s->db_down_since) / 1000),
		         (unsigned long long)s->pend_n);
	s->db_down = 0;
	pending_clear(s);
}

/*
 * One record: JSON lines, SQLite, and every remote sink's queue. The queues
 * are written (sink_flush) before the next message is taken, so an event the
 * store took survives a crash of the store.
 */
static void take_one(struct store *s, const uint8_t *rec, size_t rl, int *direct)
{
	struct ev_field type;
	if (!ev_find(rec, rl, "event_type", &type) || type.kind != EV_STR)
		return;
	int rendered = 0;
	if (s->json && sinkspec_types_pass(&s->cfg->json_types, rec, rl, &type)) {
		strbuf_reset(&s->line);
		render_json(rec, rl, s->cfg->sensor, &s->line);
		jsonfile_put(s->json, s->line.data, s->line.len);
		rendered = 1;
	}
	struct evsum es;
	evsum_extract(rec, rl, &es);
	publish(s, &es);
	if (s->db_wanted)
		s->rows_in_batch++; /* written with its batch (db_write), or now */
	/* A flood, the batch's records so far in the open transaction: this one
	 * follows them now, with the line and fields already made. */
	if (*direct && db_work(s, rec, rl, &es, &type, rendered) < 0)
		*direct = 0; /* the whole batch again, later */
	for (int i = 0; i < s->nsinks; i++)
		if (sink_wants(s->sinks[i], rec, rl))
			sink_put(s->sinks[i], rec, rl);
	if (type.strlen == 5 && !memcmp(type.str, "stats", 5))
		keep_stats(s, rec, rl);
	s->n_events++;
}

/*
 * The records of one message. 0, or -1 when a record is malformed (a worker
 * that is not what it should be): the records before it are taken, the rest
 * of the message is not (without a valid record there is no telling where the
 * next one starts), and the caller counts the message as bad (peer_bad).
 */
static int take_records(struct store *s, struct peer *p, const uint8_t *data, size_t len)
{
	int bad = 0;
	size_t off = 0;
	uint64_t n = 0;
	/* Under a flood, once every kept record is in the open transaction,
	 * these go in as they are taken (take_one): each rendered once. */
	int direct = s->db_wanted && s->db && !s->db_down &&
	             s->rows_in_batch >= COMMIT_BUSY_MIN && s->pend_written == s->pend_len &&
	             db_begin(s->db) == 0;
	while (off < len) {
		long rl = ev_record_check(data + off, len - off);
		if (rl < 0) {
			if (p == NULL)
				fatalx("malformed event record of the store's own");
			log_debug("%s: malformed event record at byte %zu of a message of %zu",
			          p->name, off, len);
			bad = 1;
			break;
		}
		take_one(s, data + off, (size_t)rl, &direct);
		if (p)
			p->events++;
		off += (size_t)rl;
		n++;
	}
	/* Kept, in one piece, until the batch that holds them commits. */
	if (s->db_wanted && n > 0) {
		pending_add(s, data, off, n);
		if (direct)
			s->pend_written = s->pend_len;
		else if (s->rows_in_batch >= COMMIT_BUSY_MIN && !s->db_down)
			db_insert_pending(s);
	}
	for (int i = 0; i < s->nsinks; i++)
		sink_flush(s->sinks[i]);
	if (s->rows_in_batch >= COMMIT_BUSY_ROWS ||
	    (!s->db_down && s->pend_len >= COMMIT_BUSY_BYTES))
		commit(s);
	else if (s->json && jsonfile_pending(s->json) > JSON_FLUSH_BYTES)
		jsonfile_flush(s->json);
	return bad ? -1 : 0;
}

/* ---------------------------------------------------------------- status */

static void status_str(struct strbuf *b, const char *key, const char *v)
{
	strbuf_printf(b, "\"%s\":", key);
	strbuf_json_str(b, (const uint8_t *)v, strlen(v));
}

static void status_sink_common(struct strbuf *b, const char *name, const char *kind,
                               const char *dest, int up, uint64_t delivered, uint64_t queued,
                               uint64_t dropped)
{
	strbuf_putc(b, '{');
	status_str(b, "name", name);
	strbuf_putc(b, ',');
	status_str(b, "kind", kind);
	strbuf_putc(b, ',');
	status_str(b, "dest", dest);
	strbuf_printf(b,
	              ",\"connected\":%s,\"delivered\":%" PRIu64 ",\"queued\":%" PRIu64
	              ",\"dropped\":%" PRIu64,
	              up ? "true" : "false", delivered, queued, dropped);
}

/* The start of an alert of the store's own, its "alert" object left open. */
static struct evbuf *alert_open(struct store *s, const char *signature)
{
	struct evbuf *b = &s->own;
	evbuf_reset(b);
	ev_begin(b, "alert", 0);
	ev_obj(b, "alert");
	ev_str(b, "signature", signature);
	ev_str(b, "category", "sinktrap");
	ev_str(b, "severity", "warning");
	return b;
}

/* An alert of the store's own, through its own pipeline. */
static void own_alert(struct store *s, const char *signature, const char *detail)
{
	struct evbuf *b = alert_open(s, signature);
	ev_str(b, "error", detail);
	ev_close(b);
	ev_end(b);
	take_records(s, NULL, b->data, b->len);
}

/*
 * A message no worker makes: a malformed record, a broken frame or a type the
 * store does not take. It is dropped and the channel kept, since the messages
 * are framed (SOCK_SEQPACKET) and the next one starts clean: closing it would
 * lose every later event of that worker, which gets no new channel until the
 * store restarts. Said in the log and as an alert at most once a second; what
 * came meanwhile is said by the next status tick.
 */
static void peer_bad_say(struct store *s, struct peer *p)
{
	int64_t now = mono_ms();
	if (p->bad == p->bad_reported || (p->bad_said_at != 0 && now - p->bad_said_at < 1000))
		return;
	uint64_t n = p->bad - p->bad_reported;
	p->bad_reported = p->bad;
	p->bad_said_at = now;
	log_warnx("%s sent %" PRIu64
	          " malformed message%s (the last: %s): dropped, the channel "
	          "kept (%" PRIu64 " so far)",
	          p->name, n, n == 1 ? "" : "s", p->bad_what, p->bad);
	struct evbuf *b = alert_open(s, "malformed message from a worker: dropped");
	ev_str(b, "error", p->bad_what);
	ev_close(b);
	ev_obj(b, "stats");
	ev_str(b, "worker", p->name);
	ev_int(b, "messages_dropped", (int64_t)n);
	ev_int(b, "messages_dropped_total", (int64_t)p->bad);
	ev_close(b);
	ev_end(b);
	take_records(s, NULL, b->data, b->len);
}

static void peer_bad(struct store *s, struct peer *p, const char *what)
{
	p->bad++;
	p->bad_what = what;
	peer_bad_say(s, p);
}

/* An alert of events a remote sink's queue lost, through the store's own pipeline. */
static void drop_alert(struct store *s, const struct sink_status *st, const char *signature,
                       uint64_t n)
{
	struct evbuf *b = alert_open(s, signature);
	ev_close(b);
	ev_obj(b, "stats");
	ev_str(b, "worker", "store");
	ev_str(b, "sink", st->name);
	ev_int(b, "events_dropped", (int64_t)n);
	ev_int(b, "events_dropped_total", (int64_t)st->dropped);
	ev_int(b, "queued", (int64_t)st->queued);
	ev_close(b);
	ev_end(b);
	take_records(s, NULL, b->data, b->len);
}

/* A JSON file that grows past its size because its rotation fails: an alert, once
 * each time it begins. */
static void report_json(struct store *s)
{
	int64_t size;
	const char *err = s->json ? jsonfile_rotate_error(s->json, &size) : NULL;
	if (err == NULL) {
		s->json_alerted = 0;
		return;
	}
	if (s->json_alerted)
		return;
	s->json_alerted = 1;
	char detail[1024];
	snprintf(detail, sizeof(detail),
	         "%s is %lld bytes, past json_max_size (%lld): its rotation fails: %s",
	         jsonfile_path(s->json), (long long)size, (long long)s->cfg->json_max_size,
	         err);
	own_alert(s, "JSON file past its size: rotation fails", detail);
}

/* Report queue drops (full, or damaged on disk) as alerts. */
static void report_drops(struct store *s)
{
	for (int i = 0; i < s->nsinks; i++) {
		uint64_t damaged = 0, n = sink_drops_take(s->sinks[i], &damaged);
		if (n == 0 && damaged == 0)
			continue;
		struct sink_status st;
		sink_get_status(s->sinks[i], &st);
		if (n > 0) {
			log_warnx("%s: delivery queue full: %" PRIu64
			          " oldest events dropped (%" PRIu64 " in all)",
			          st.name, n, st.dropped);
			drop_alert(s, &st, "delivery queue full: oldest events dropped", n);
		}
		if (damaged > 0) {
			log_warnx("%s: delivery queue damaged on disk: %" PRIu64
			          " events lost (%" PRIu64 " dropped in all)",
			          st.name, damaged, st.dropped);
			drop_alert(s, &st, "delivery queue damaged on disk: events lost",
			           damaged);
		}
	}
}

static void hung_reap(struct store *s);
static void sinks_start(struct store *s);

static void status_update(void *arg)
{
	struct store *s = arg;
	struct strbuf *b = &s->status;
	char t[80];
	int64_t now = time_now_usec();

	if (!s->stopping) {
		/* Threads stopped at a reload that have ended since: their sinks go, and
		 * a new sink that took one's queue starts. */
		int waiting = 0;
		hung_reap(s);
		for (int i = 0; i < s->nsinks; i++)
			waiting |= sink_waiting(s->sinks[i]);
		if (waiting)
			sinks_start(s);
	}
	report_drops(s);
	report_json(s);
	for (int i = 0; i < s->npeers; i++)
		peer_bad_say(s, &s->peers[i]);
	strbuf_reset(b);
	strbuf_printf(b, "{\"version\":1,\"updated_usec\":%" PRId64 ",\"updated\":\"", now);
	strbuf_time(b, now);
	strbuf_printf(
	    b, "\",\"pid\":%d,\"started_usec\":%" PRId64 ",\"events\":%" PRIu64 ",\"sinks\":[",
	    (int)getpid(), s->started, s->n_events);
	int first = 1;
	if (s->json) {
		uint64_t lines, errors, rot, dropped;
		jsonfile_counts(s->json, &lines, &errors, &rot, &dropped);
		status_sink_common(b, "json", "json", jsonfile_path(s->json), 1, lines,
		                   jsonfile_pending_lines(s->json), dropped);
		strbuf_printf(b, ",\"errors\":%" PRIu64 ",\"rotations\":%" PRIu64, errors, rot);
		int64_t size;
		const char *rerr = jsonfile_rotate_error(s->json, &size);
		if (rerr) {
			char why[512];
			snprintf(why, sizeof(why),
			         "%lld bytes, past json_max_size: rotation fails: %s",
			         (long long)size, rerr);
			strbuf_putc(b, ',');
			status_str(b, "last_error", why);
		}
		strbuf_putc(b, '}');
		first = 0;
	}
	if (s->db_wanted) {
		if (!first)
			strbuf_putc(b, ',');
		snprintf(t, sizeof(t), "%s/sinktrap.db", s->cfg->state_dir);
		status_sink_common(b, "sqlite", "sqlite", t, !s->db_down, s->n_db_rows,
		                   s->db_down ? s->pend_n : 0, s->db_given_up);
		strbuf_printf(b, ",\"errors\":%" PRIu64 "}", s->n_db_errors);
		first = 0;
	}
	for (int i = 0; i < s->nsinks; i++) {
		struct sink_status st;
		sink_get_status(s->sinks[i], &st);
		if (!first)
			strbuf_putc(b, ',');
		first = 0;
		status_sink_common(b, st.name, st.kind, st.dest, st.connected, st.delivered,
		                   st.queued, st.dropped);
		strbuf_putc(b, ',');
		status_str(b, "format", st.format);
		strbuf_printf(b,
		              ",\"queue_bytes\":%" PRIu64 ",\"reconnects\":%" PRIu64
		              ",\"last_delivery_usec\":%" PRId64 ",",
		              st.queue_bytes, st.reconnects, st.last_delivery);
		status_str(b, "last_error", st.last_error);
		strbuf_putc(b, '}');
	}
	strbuf_puts(b, "],\"workers\":{");
	for (int i = 0; i < s->nwstats; i++) {
		struct worker_stats *ws = &s->wstats[i];
		if (i)
			strbuf_putc(b, ',');
		strbuf_json_str(b, (const uint8_t *)ws->name, strlen(ws->name));
		strbuf_putc(b, ':');
		/* The event, with its time in usec for the table: {"timestamp_usec":N,...} */
		strbuf_printf(b, "{\"timestamp_usec\":%" PRId64 ",", ws->ts);
		strbuf_put(b, ws->json.data + 1, ws->json.len - 1);
	}
	strbuf_puts(b, "}}\n");
	int r = status_write(s->cfg->state_dir, b->data, b->len);
	if (r < 0) {
		static int warned;
		if (!warned++)
			log_warnx("%s/%s: %s", s->cfg->state_dir, STATUS_FILE, strerror(-r));
	}
}

/* ---------------------------------------------------------------- channels */

struct map_send {
	int fd;
	uint32_t n;
};

/* How long a peer that asked for the map may keep the store waiting per message. */
#define MAP_WAIT_MS 10000

/* One message to a peer that may be behind: waits up to wait_ms for room
 * (-ETIMEDOUT then: a peer that takes nothing cannot hold the store). */
static int send_blocking(int fd, uint32_t type, const void *a, size_t al, const void *b,
                         size_t bl, int wait_ms)
{
	int64_t end = mono_ms() + wait_ms;
	for (;;) {
		int r = ipc_send2(fd, type, a, al, b, bl, -1);
		if (r != -EAGAIN)
			return r;
		int64_t left = end - mono_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd pf = {.fd = fd, .events = POLLOUT};
		poll(&pf, 1, (int)left);
	}
}

static int map_send_row(const struct db_map_row *row, void *arg)
{
	struct map_send *ms = arg;
	struct ipc_map_entry e;
	memset(&e, 0, sizeof(e));
	e.last_use = row->last_seen;
	if (inet_pton(AF_INET, row->address, e.addr) == 1)
		e.family = AF_INET;
	else if (inet_pton(AF_INET6, row->address, e.addr) == 1)
		e.family = AF_INET6;
	else
		return 0;
	size_t nl = strlen(row->domain);
	if (nl > IPC_MAP_NAME_MAX)
		return 0;
	if (send_blocking(ms->fd, IPC_MAP_ENTRY, &e, sizeof(e), row->domain, nl, MAP_WAIT_MS) <
	    0)
		return -1;
	ms->n++;
	return 0;
}

/* The mappings still waiting for the database, after those it has. */
static void pending_maps_send(struct store *s, struct map_send *ms)
{
	size_t off = 0;
	const uint8_t *rec;
	uint32_t rl;
	while (pending_next(s, &off, &rec, &rl)) {
		struct evsum es;
		struct mapping m;
		evsum_extract(rec, rl, &es);
		if (!mapping_of(&es, &m))
			continue;
		struct db_map_row row = {m.address, m.domain, m.family, m.ts, m.ts};
		if (map_send_row(&row, ms) < 0)
			return;
	}
}

static void peer_close(struct store *s, struct peer *p)
{
	loop_io_del(s->loop, p->fd);
	close(p->fd);
	p->fd = -1;
}

static int peers_open(const struct store *s)
{
	int n = 0;
	for (int i = 0; i < s->npeers; i++)
		n += s->peers[i].fd >= 0;
	return n;
}

/* A channel closed: at a stop, the last one ends the loop. */
static void peer_gone(struct store *s, struct peer *p)
{
	peer_close(s, p);
	if (s->stopping && peers_open(s) == 0)
		loop_break(s->loop);
}

static struct store *S;

static void peer_event(int fd, uint32_t events, void *arg)
{
	struct store *s = S;
	struct peer *p = arg;
	/* Bounded per wake-up, so one busy producer cannot starve the others. */
	for (int i = 0; i < 64; i++) {
		int r = ipc_recv(fd, &s->msg);
		if (r == -EAGAIN)
			return;
		if (r == -EBADMSG) {
			peer_bad(s, p, "a broken frame");
			continue;
		}
		if (r < 0)
			log_warnx("channel from %s: %s: closed", p->name, strerror(-r));
		if (r <= 0) {
			if (r == 0)
				log_debug("%s closed its channel", p->name);
			peer_gone(s, p);
			return;
		}
		if (s->msg.fd >= 0) {
			ipc_close_unwanted(s->msg.fd);
			s->msg.fd = -1;
		}
		switch (s->msg.hdr.type) {
		case IPC_EVENTS:
			if (take_records(s, p, s->msg.data, s->msg.hdr.len) < 0)
				peer_bad(s, p, "a malformed event record");
			break;
		case IPC_MAP_REQUEST: {
			/* The workers that attribute by address ask once, as they start;
			 * sending the map takes the store's time (and waits for a reader
			 * that is behind), so no other asks, and none twice. */
			if (strcmp(p->name, "dns") != 0 && strcmp(p->name, "trap") != 0) {
				peer_bad(s, p,
				         "a sinkhole map request from a worker that does not "
				         "attribute by address");
				break;
			}
			if (p->map_sent) {
				peer_bad(s, p, "a second sinkhole map request");
				break;
			}
			p->map_sent = 1;
			/* Everything accepted so far is in the map before it is sent. */
			commit(s);
			struct map_send ms = {fd, 0};
			if (s->db)
				db_map_each(s->db, map_send_row, &ms);
			if (s->db_wanted && s->db_down)
				pending_maps_send(s, &ms);
			if (send_blocking(fd, IPC_MAP_DONE, NULL, 0, NULL, 0, MAP_WAIT_MS) < 0)
				log_warnx(
				    "%s took nothing for %d s: the sinkhole map it asked for "
				    "was not sent whole",
				    p->name, MAP_WAIT_MS / 1000);
			log_debug("sent %u sinkhole mappings to %s", ms.n, p->name);
			/* A one-byte 1: also send every mapping made from now on. */
			if (s->msg.hdr.len == 1 && s->msg.data[0] == 1)
				p->subscribed = 1;
			break;
		}
		default:
			peer_bad(s, p, "a message of a type the store does not take");
			break;
		}
	}
}

static void peer_add(struct store *s, int fd, const char *name)
{
	struct peer *p = NULL;
	for (int i = 0; i < s->npeers; i++)
		if (s->peers[i].fd < 0 && !strcmp(s->peers[i].name, name))
			p = &s->peers[i];
	if (p == NULL) {
		if (s->npeers == STORE_MAX_PEERS)
			fatalx("too many store peers");
		p = &s->peers[s->npeers++];
	}
	p->fd = fd;
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->subscribed = p->map_sent = p->lagging = 0;
	p->maps_missed = 0;
	fd_nonblock(fd);
	loop_io_add(s->loop, fd, EPOLLIN, peer_event, p);
}

static struct config *config_from_fd(int fd, const char *name);
static void events_reload(struct store *s, struct config *nc);

static void parent_event(int fd, uint32_t events, void *arg)
{
	struct store *s = arg;
	struct ipc_msg *m = xmalloc(sizeof(*m));
	for (;;) {
		int r = ipc_recv(fd, m);
		if (r == -EAGAIN)
			break;
		if (r == 0) {
			/* The parent is gone: take what is queued, then stop. */
			loop_io_del(s->loop, fd);
			s->stopping = 1;
			loop_break(s->loop);
			break;
		}
		if (r < 0)
			fatalx("parent channel: %s", strerror(-r));
		if (m->hdr.type == IPC_STORE_RELOAD) {
			char name[256];
			size_t nl =
			    m->hdr.len < sizeof(name) - 1 ? m->hdr.len : sizeof(name) - 1;
			memcpy(name, m->data, nl);
			name[nl] = '\0';
			struct config *nc = m->fd >= 0 ? config_from_fd(m->fd, name) : NULL;
			if (nc == NULL) {
				log_warnx("reload: could not read the new configuration; "
				          "events go where "
				          "they went");
			} else {
				events_reload(s, nc);
				config_free(nc);
			}
		} else if (m->hdr.type == IPC_PEER_CHANNEL) {
			char name[16];
			if (m->fd < 0 || m->hdr.len == 0 || m->hdr.len >= sizeof(name))
				fatalx("invalid IPC_PEER_CHANNEL");
			memcpy(name, m->data, m->hdr.len);
			name[m->hdr.len] = '\0';
			peer_add(s, m->fd, name);
			m->fd = -1;
		} else {
			fatalx("unexpected message %u from parent", m->hdr.type);
		}
		if (m->fd >= 0)
			close(m->fd);
	}
	free(m);
}

static void on_signal(int fd, uint32_t events, void *arg)
{
	struct store *s = arg;
	struct signalfd_siginfo si;
	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			/* logrotate moved the file: write to a fresh one. */
			if (s->json)
				jsonfile_reopen(s->json);
		} else {
			s->stopping = 1;
			if (peers_open(s) == 0)
				loop_break(s->loop);
		}
	}
}

/* Take everything still queued on every channel, without waiting. */
static void drain(struct store *s)
{
	for (int i = 0; i < s->npeers; i++) {
		struct peer *p = &s->peers[i];
		while (p->fd >= 0) {
			int r = ipc_recv(p->fd, &s->msg);
			if (r == -EBADMSG) { /* as at any other time: the channel is kept */
				peer_bad(s, p, "a broken frame");
				continue;
			}
			if (r <= 0) {
				if (r != -EAGAIN)
					peer_close(s, p);
				break;
			}
			if (s->msg.fd >= 0)
				close(s->msg.fd);
			if (s->msg.hdr.type == IPC_EVENTS &&
			    take_records(s, p, s->msg.data, s->msg.hdr.len) < 0)
				peer_bad(s, p, "a malformed event record");
		}
	}
}

int store_prepare(const struct config *c, uid_t uid, gid_t gid)
{
	int r = mkdir_p_owned(c->state_dir, uid, gid);
	if (r < 0) {
		log_warnx("state_dir %s: %s", c->state_dir, strerror(-r));
		return -1;
	}
	return 0;
}

/* The stopped sink of that name whose thread has not ended, taken out of the hung list. */
static struct sink *hung_take(struct store *s, const char *name)
{
	for (int i = 0; i < s->nhung; i++) {
		if (strcmp(sink_name(s->hung[i]), name) != 0)
			continue;
		struct sink *k = s->hung[i];
		s->hung[i] = s->hung[--s->nhung];
		return k;
	}
	return NULL;
}

/* The remote sinks of the config. At start a sink that cannot be made is fatal; at a
 * reload it is left out, said in the log and in an alert, and the others run. One
 * whose queue a stopped thread still reads takes that sink over (sink_start). */
static void sinks_open(struct store *s, int fatal)
{
	struct config *c = s->cfg;
	char err[512], msg[1024];
	int n = c->nsyslog + (c->database != NULL);
	s->sinks = xreallocarray(s->sinks, (size_t)(n ? n : 1), sizeof(*s->sinks));
	for (int i = 0; i < n; i++) {
		struct sink *k, *prev;
		if (i < c->nsyslog) {
			prev = hung_take(s, c->syslog[i].name);
			k = sink_syslog_new(c, &c->syslog[i], prev, err, sizeof(err));
			snprintf(msg, sizeof(msg), "%s:%d: syslog %s: %s", c->file,
			         c->syslog[i].line, c->syslog[i].dest, err);
		} else {
			prev = hung_take(s, "postgresql");
			k = sink_pg_new(c, prev, err, sizeof(err));
			snprintf(msg, sizeof(msg), "database: %s", err);
		}
		if (k != NULL) {
			s->sinks[s->nsinks++] = k;
			continue;
		}
		if (prev)
			s->hung[s->nhung++] = prev;
		if (fatal)
			fatalx("%s", msg);
		log_warnx("reload: %s; this destination is off until the next reload", msg);
		own_alert(s, "reload: an event destination could not be set up", msg);
	}
}

/* Free the hung sinks whose thread has ended since. */
static void hung_reap(struct store *s)
{
	for (int i = 0; i < s->nhung;) {
		if (sink_free(&s->hung[i]) == 0) {
			s->hung[i] = s->hung[--s->nhung];
			continue;
		}
		i++;
	}
}

/* Stop the delivery threads together; at the last stop the status file gets their final
 * counts before they are freed. A thread that does not end (a peer hung where no stop
 * reaches it) keeps its sink: it is not freed, and its queue not opened again, until it
 * has ended. */
static void sinks_stop(struct store *s, int grace_ms, int last)
{
	for (int i = 0; i < s->nsinks; i++)
		sink_request_stop(s->sinks[i], grace_ms);
	for (int i = 0; i < s->nsinks; i++)
		sink_join(s->sinks[i], grace_ms + 5000);
	if (last)
		status_update(s);
	s->hung = xreallocarray(s->hung, (size_t)(s->nhung + s->nsinks + 1), sizeof(*s->hung));
	for (int i = 0; i < s->nsinks; i++)
		if (sink_free(&s->sinks[i]) < 0)
			s->hung[s->nhung++] = s->sinks[i];
	s->nsinks = 0;
	hung_reap(s);
	if (last && s->nhung)
		log_warnx("%d delivery thread%s still hung at the stop: left to the exit",
		          s->nhung, s->nhung == 1 ? "" : "s");
}

/* Start the delivery threads not started yet: those that wait for a hung one of the
 * same name start once it has ended (tried again at every status tick). */
static void sinks_start(struct store *s)
{
	for (int i = 0; i < s->nsinks; i++) {
		int r = sink_start(s->sinks[i]);
		if (r < 0)
			fatalx("%s: thread: %s", sink_name(s->sinks[i]), strerror(-r));
	}
}

/*
 * Open the database: 0, or -1 when it cannot be (a file that is not a
 * database, a directory it may not write...). Then the store goes on without
 * it, as while a full disk refuses its writes: JSON lines and remote
 * destinations get every event, the events wait in memory for the database
 * (up to PENDING_MAX), and the open is tried again with back-off, so that
 * moving a damaged file away is enough for them to be stored.
 */
static int db_open_now(struct store *s)
{
	char path[4096], err[512];
	snprintf(path, sizeof(path), "%s/sinktrap.db", s->cfg->state_dir);
	s->db = db_open_sqlite(path, err, sizeof(err));
	if (s->db == NULL) {
		int first = !s->db_down || strcmp(err, s->db_open_err) != 0;
		snprintf(s->db_open_err, sizeof(s->db_open_err), "%s", err);
		db_backoff(s);
		s->n_db_errors++;
		if (first || s->db_retry_ms >= DB_RETRY_MAX_MS)
			log_warnx(
			    "database: %s: %llu events wait in memory for it; JSON lines and "
			    "remote destinations have them (next try in %d s)",
			    err, (unsigned long long)s->pend_n, s->db_retry_ms / 1000);
		return -1;
	}
	db_set_sensor(s->db, s->cfg->sensor);
	if (s->db_down) {
		log_info("database: %s opens again", path);
		if (s->pend_n == 0)
			s->db_down = 0; /* else when what waits is written (db_write) */
	}
	return 0;
}

static void sqlite_open(struct store *s)
{
	s->db_wanted = 1;
	db_open_now(s);
}

static int strv_equal(const struct cfg_strv *a, const struct cfg_strv *b)
{
	if (a->n != b->n)
		return 0;
	for (int i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]))
			return 0;
	return 1;
}

/*
 * SIGHUP with a changed [events]: what was taken so far is written and
 * queued under the old settings, then the JSON file, SQLite and the remote
 * sinks that changed are closed and made anew. A remote sink's queue stays
 * on disk, so a destination that is still configured (same name) resumes
 * where it was; one that is gone keeps its queue for a later return.
 */
static void events_reload(struct store *s, struct config *nc)
{
	struct config *c = s->cfg;
	struct strbuf a, b;
	strbuf_init(&a);
	strbuf_init(&b);
	sinkspec_remote_signature(c, &a);
	sinkspec_remote_signature(nc, &b);
	int sinks_changed = a.len != b.len || memcmp(a.data, b.data, a.len);
	int json_changed =
	    (c->json == NULL) != (nc->json == NULL) || (c->json && strcmp(c->json, nc->json)) ||
	    c->json_max_size != nc->json_max_size || c->json_keep != nc->json_keep;
	int sqlite_changed = c->sqlite != nc->sqlite;
	int types_changed = !strv_equal(&c->json_types, &nc->json_types) ||
	                    !strv_equal(&c->database_types, &nc->database_types);
	strbuf_free(&a);
	strbuf_free(&b);
	if (!sinks_changed && !json_changed && !sqlite_changed && !types_changed)
		return;

	commit(s);
	if (sinks_changed)
		sinks_stop(s, 1000, 0);
	if (json_changed)
		jsonfile_free(&s->json);
	if (sqlite_changed) {
		if (s->db_down)
			log_warnx(
			    "database: turned off while %llu events still waited for it: they "
			    "are not stored in it",
			    (unsigned long long)s->pend_n);
		s->db_down = 0;
		s->db_wanted = 0;
		pending_clear(s);
		db_close(&s->db);
	}
	/* The old values go to nc, freed with it (every sink has copies of its own, so a
	 * thread still running uses none of them). */
	sinkspec_config_swap(c, nc);
	if (json_changed && c->json)
		s->json = jsonfile_new(c->json, c->json_max_size, c->json_keep);
	if (json_changed)
		s->json_alerted = 0;
	if (sqlite_changed && c->sqlite)
		sqlite_open(s);
	if (sinks_changed) {
		sinks_open(s, 0);
		sinks_start(s);
	}
	log_info("reload: events now go to%s%s %d remote destination%s",
	         c->json ? " JSON," : "", c->sqlite ? " SQLite," : "", s->nsinks,
	         s->nsinks == 1 ? "" : "s");
}

/* The parent's checked config text, from its descriptor; NULL when unreadable. */
static struct config *config_from_fd(int fd, const char *name)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size > (1 << 20))
		return NULL;
	char *text = xmalloc((size_t)st.st_size);
	ssize_t n = pread(fd, text, (size_t)st.st_size, 0);
	struct config *c = NULL;
	if (n == st.st_size) {
		struct cfg_errors errs;
		/* Checked by the parent, files included; the store may not read them all. */
		c = config_parse(name, text, (size_t)n, 0, &errs);
		for (int i = 0; c == NULL && i < errs.n; i++)
			log_warnx("reload: %s", errs.msg[i]);
		cfg_errors_free(&errs);
	}
	free(text);
	return c;
}

int store_worker_main(struct config *c, struct store_setup *setup)
{
	static struct store store;
	struct store *s = &store;

	S = s;
	memset(s, 0, sizeof(*s));
	s->cfg = c;
	s->loop = loop_new();
	s->parent_fd = setup->parent_fd;
	s->started = time_now_usec();
	strbuf_init(&s->line);
	strbuf_init(&s->status);
	evbuf_init(&s->own);
	signal(SIGPIPE, SIG_IGN);

	if (c->json)
		s->json = jsonfile_new(c->json, c->json_max_size, c->json_keep);
	if (c->sqlite)
		sqlite_open(s);
	sinks_open(s, 1);
	for (int i = 0; i < setup->npeers; i++)
		peer_add(s, setup->peers[i].fd, setup->peers[i].name);
	if (s->parent_fd >= 0) {
		fd_nonblock(s->parent_fd);
		loop_io_add(s->loop, s->parent_fd, EPOLLIN, parent_event, s);
	}
	static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
	loop_signals(s->loop, sigs, 3, on_signal, s);
	loop_timer_add(s->loop, COMMIT_MS, 1, commit_timer, s);
	loop_timer_add(s->loop, STATUS_MS, 1, status_update, s);
	status_update(s);
	sandbox_lockdown("store", SANDBOX_NO_PACKET);
	/*
	 * Delivery threads start after the lockdown, so they inherit the filter
	 * (it binds the thread that loads it and its future threads), and the
	 * blocked signals: the loop alone takes those.
	 */
	sinks_start(s);
	if (s->parent_fd >= 0)
		ipc_send(s->parent_fd, IPC_HELLO, "store", 5, -1);

	loop_run(s->loop);

	s->stopping = 1;
	drain(s);
	commit(s);
	if (s->db_wanted && s->db_down)
		log_warnx(
		    "database: still not writable at the stop: %llu events are not stored in "
		    "it (%s)",
		    (unsigned long long)s->pend_n, s->db ? db_error(s->db) : s->db_open_err);
	sinks_stop(s, STOP_GRACE_MS, 1);
	log_info("stopped: %llu events stored", (unsigned long long)s->n_events);
	db_close(&s->db);
	if (s->pend)
		munmap(s->pend, PENDING_MAX + IPC_MAX_PAYLOAD);
	jsonfile_free(&s->json);
	return 0;
}

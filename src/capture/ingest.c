/*
 * `sinktrap ingest -c FILE CAPTURE...`: captures taken elsewhere, through the
 * same path as live capture.
 *
 * Each file goes into the spool: a classic pcap as it is (its bytes copied
 * up to its last complete record, indexed at its own offsets), a pcapng
 * converted packet by packet (to nanosecond pcap, or pcapng when the spool
 * is pcapng; one file per link type, rotated by file_size). One flow table
 * runs over all the files, so a session that crosses from one file into the
 * next stays one session.
 *
 * The events (flow, pcap_expired) are written in this process by the same
 * store code the store worker runs, into the JSON file and SQLite database
 * of the configuration: ingest works whether sinktrap runs or not (SQLite
 * and the spool lock take turns with a running instance). Remote sinks
 * (syslog, PostgreSQL) are not fed from here. A thread of its own takes the
 * finished flows (their Community ID, their event, JSON and database), so
 * that work overlaps the packet work on the other core.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "capture/capture.h"
#include "capture/capture_int.h"
#include "capture/pcapfile.h"
#include "capture/recorder.h"
#include "common/config.h"
#include "common/emit.h"
#include "common/event.h"
#include "common/log.h"
#include "common/util.h"
#include "store/db.h"
#include "store/evsum.h"
#include "store/jsonfile.h"
#include "store/render.h"
#include "store/sinkspec.h"

#define HANDOFF_BYTES (1u << 20) /* records passed to the store thread at a time */
#define QUEUE_MAX (64u << 20)    /* the packet side waits past this */
/* Events a transaction; a running store waits for the write lock that long
 * (about a quarter of a second here), so it is kept short. */
#define COMMIT_ROWS 10000

/*
 * The store, in process: JSON lines and SQLite, fed by a thread of its own.
 * Its queue holds items "u32 length, u32 kind, body": an event record
 * (ITEM_RECORD), or a finished flow to render (ITEM_FLOW: struct flow_item).
 */
enum { ITEM_RECORD = 0, ITEM_FLOW = 1 };

struct flow_item {
	struct flow f;
	char first[SPOOL_NAME_MAX], last[SPOOL_NAME_MAX]; /* "" when none */
	int expired;
};

struct local_store {
	struct config *cfg;
	struct db *db;
	struct jsonfile *json;
	struct strbuf line;
	struct evbuf ev; /* flow events rendered on the store thread */
	uint16_t cid_seed;
	uint64_t events, rows, errors;
	uint64_t batch_events, lost; /* taken into the open batch; in batches that failed */
	int broken;                  /* a write of the open batch failed as a full disk does */
	unsigned wait_ms;            /* how long a refused batch is tried again (--db-wait) */
	uint8_t *batch;              /* the open batch's records: "u32 length, record" */
	size_t blen, bcap;
	char lost_why[256];
	pthread_t th;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint8_t *q; /* records handed over, not yet taken */
	size_t qlen, qcap;
	int done;
	uint8_t *pend; /* records of the packet side, not yet handed over */
	size_t plen, pcap;
};

static void grow(uint8_t **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return;
	size_t c = *cap ? *cap : 1 << 16;
	while (c < need)
		c *= 2;
	*buf = xreallocarray(*buf, c, 1);
	*cap = c;
}

/*
 * The database side of a one-off command. The records of the open batch are
 * kept until it commits. A batch that a full disk, an I/O error or a lock
 * held past the busy timeout refuses is rolled back and written again from
 * those records after 1, 2, 4 ... 8 s, for up to --db-wait seconds from its
 * first refusal (the daemon's store behind a flood, a disk being freed);
 * past that it is counted, and the command says so and fails at the end.
 * The JSON file has each event once: only the database side is done again.
 * A row refused for its own fault is logged and skipped.
 */
static void local_row_failed(struct local_store *ls, const char *what)
{
	if (db_retriable(ls->db)) {
		if (!ls->broken)
			snprintf(ls->lost_why, sizeof(ls->lost_why), "%s: %s", what,
			         db_error(ls->db));
		ls->broken = 1;
	} else if (ls->errors++ % 1000 == 0) {
		log_warnx("%s: %s", what, db_error(ls->db));
	}
}

/* One record's rows: its row in events (when database_types lets it) and
 * the rows beside it. `rendered`: ls->line holds its JSON already. */
static void db_one(struct local_store *ls, const uint8_t *rec, size_t len,
                   const struct ev_field *type, int rendered)
{
	struct evsum es;
	const char *what;
	int to_db;
	if (ls->broken)
		return;
	if (db_begin(ls->db) < 0) {
		local_row_failed(ls, "begin");
		return;
	}
	evsum_extract(rec, len, &es);
	to_db = sinkspec_types_pass(&ls->cfg->database_types, rec, len, type);
	if (to_db && !rendered) {
		strbuf_reset(&ls->line);
		render_json(rec, len, ls->cfg->sensor, &ls->line);
	}
	if (db_event_store(ls->db, rec, len, &es, to_db ? ls->line.data : NULL,
	                   to_db ? ls->line.len : 0, &what) < 0)
		local_row_failed(ls, what);
}

/* The batch again, from its kept records. */
static void batch_redo(struct local_store *ls)
{
	size_t off = 0;
	while (off < ls->blen && !ls->broken) {
		uint32_t rl;
		struct ev_field type;
		memcpy(&rl, ls->batch + off, 4);
		const uint8_t *rec = ls->batch + off + 4;
		if (ev_find(rec, rl, "event_type", &type) && type.kind == EV_STR)
			db_one(ls, rec, rl, &type, 0);
		off += 4 + (size_t)rl;
	}
}

static void local_commit(struct local_store *ls)
{
	int64_t deadline = 0;
	unsigned wait_s = 1;
	for (;;) {
		if (!ls->broken && db_commit(ls->db) == 0)
			break;
		if (!ls->broken)
			snprintf(ls->lost_why, sizeof(ls->lost_why), "commit: %s",
			         db_error(ls->db));
		db_rollback(ls->db);
		ls->broken = 0;
		if (deadline == 0)
			deadline = mono_ms() + (int64_t)ls->wait_ms;
		if (!db_retriable(ls->db) || mono_ms() + wait_s * 1000 > deadline) {
			log_warnx("database %s: %llu events not stored", ls->lost_why,
			          (unsigned long long)ls->batch_events);
			ls->lost += ls->batch_events;
			break;
		}
		log_warnx("database %s: the batch of %llu events is written again in %u s",
		          ls->lost_why, (unsigned long long)ls->batch_events, wait_s);
		sleep(wait_s);
		if (wait_s < 8)
			wait_s *= 2;
		batch_redo(ls);
	}
	ls->batch_events = 0;
	ls->blen = 0;
}

/* One record, as the store worker takes it (without remote sinks). */
static void take_one(struct local_store *ls, const uint8_t *rec, size_t len)
{
	struct ev_field type;
	if (!ev_find(rec, len, "event_type", &type) || type.kind != EV_STR)
		return;
	int to_json = ls->json && sinkspec_types_pass(&ls->cfg->json_types, rec, len, &type);
	if (to_json) {
		strbuf_reset(&ls->line);
		render_json(rec, len, ls->cfg->sensor, &ls->line);
		jsonfile_put(ls->json, ls->line.data, ls->line.len);
	}
	if (ls->db) {
		uint32_t rl = (uint32_t)len;
		grow(&ls->batch, &ls->bcap, ls->blen + 4 + len);
		memcpy(ls->batch + ls->blen, &rl, 4);
		memcpy(ls->batch + ls->blen + 4, rec, len);
		ls->blen += 4 + len;
		db_one(ls, rec, len, &type, to_json);
		ls->batch_events++; /* a batch that failed counts all it was given */
		if (++ls->rows % COMMIT_ROWS == 0)
			local_commit(ls);
	}
	if (ls->json && jsonfile_pending(ls->json) > (4u << 20))
		jsonfile_flush(ls->json);
	ls->events++;
}

/* One queued item: a record as it is, a flow rendered first. */
static void take_item(struct local_store *ls, const uint8_t *p, size_t len)
{
	uint32_t kind;
	memcpy(&kind, p + 4, 4);
	if (kind == ITEM_RECORD) {
		if (ev_record_check(p + 8, len - 8) != (long)(len - 8))
			fatalx("ingest: corrupt event record");
		take_one(ls, p + 8, len - 8);
		return;
	}
	struct flow_item it;
	if (len - 8 != sizeof(it))
		fatalx("ingest: corrupt flow item");
	memcpy(&it, p + 8, sizeof(it));
	if (it.f.community_id[0] == '\0')
		flow_community_id(&it.f, ls->cid_seed);
	evbuf_reset(&ls->ev);
	if (recorder_flow_event(&ls->ev, &it.f, it.first[0] ? it.first : NULL,
	                        it.last[0] ? it.last : NULL, it.expired) < 0)
		return;
	ev_end(&ls->ev);
	take_one(ls, ls->ev.data, ls->ev.len);
}

static void take_items(struct local_store *ls, const uint8_t *buf, size_t len)
{
	size_t off = 0;
	while (off < len) {
		uint32_t il;
		if (len - off < 8)
			fatalx("ingest: corrupt queue");
		memcpy(&il, buf + off, 4);
		if (il < 8 || il > len - off)
			fatalx("ingest: corrupt queue");
		take_item(ls, buf + off, il);
		off += il;
	}
}

static void *store_thread(void *arg)
{
	struct local_store *ls = arg;
	uint8_t *buf = NULL;
	size_t cap = 0;
	pthread_mutex_lock(&ls->mu);
	for (;;) {
		while (ls->qlen == 0 && !ls->done)
			pthread_cond_wait(&ls->cv, &ls->mu);
		if (ls->qlen == 0)
			break;
		/* take the whole queue, leave an empty buffer */
		uint8_t *tb = ls->q;
		size_t tl = ls->qlen, tc = ls->qcap;
		ls->q = buf;
		ls->qcap = cap;
		ls->qlen = 0;
		buf = tb;
		cap = tc;
		pthread_cond_broadcast(&ls->cv);
		pthread_mutex_unlock(&ls->mu);
		take_items(ls, buf, tl);
		pthread_mutex_lock(&ls->mu);
	}
	pthread_mutex_unlock(&ls->mu);
	free(buf);
	return NULL;
}

static void handoff(struct local_store *ls)
{
	if (ls->plen == 0)
		return;
	if (!ls->started) {
		take_items(ls, ls->pend, ls->plen); /* no thread: here */
		ls->plen = 0;
		return;
	}
	pthread_mutex_lock(&ls->mu);
	while (ls->qlen > QUEUE_MAX)
		pthread_cond_wait(&ls->cv, &ls->mu);
	grow(&ls->q, &ls->qcap, ls->qlen + ls->plen);
	memcpy(ls->q + ls->qlen, ls->pend, ls->plen);
	ls->qlen += ls->plen;
	pthread_cond_broadcast(&ls->cv);
	pthread_mutex_unlock(&ls->mu);
	ls->plen = 0;
}

static void queue_item(struct local_store *ls, uint32_t kind, const void *body, size_t len)
{
	uint32_t il = (uint32_t)(8 + len);
	grow(&ls->pend, &ls->pcap, ls->plen + il);
	memcpy(ls->pend + ls->plen, &il, 4);
	memcpy(ls->pend + ls->plen + 4, &kind, 4);
	memcpy(ls->pend + ls->plen + 8, body, len);
	ls->plen += il;
	if (ls->plen >= HANDOFF_BYTES)
		handoff(ls);
}

/* Records of the emitter (pcap_expired). */
static void local_sink(const uint8_t *rec, size_t len, void *arg)
{
	queue_item(arg, ITEM_RECORD, rec, len);
}

/* A finished flow: rendered on the store thread, Community ID and all. */
static void local_flow(void *arg, const struct flow *f, const char *first, const char *last,
                       int expired)
{
	struct local_store *ls = arg;
	struct flow_item it;
	if (ls->db == NULL && ls->json == NULL)
		return; /* no event sink here: nothing to render */
	memset(&it, 0, sizeof(it));
	it.f = *f;
	if (first)
		snprintf(it.first, sizeof(it.first), "%s", first);
	if (last)
		snprintf(it.last, sizeof(it.last), "%s", last);
	it.expired = expired;
	queue_item(ls, ITEM_FLOW, &it, sizeof(it));
}

static int local_open(struct local_store *ls, struct config *c, unsigned wait_ms, char *err,
                      size_t errlen)
{
	memset(ls, 0, sizeof(*ls));
	ls->cfg = c;
	ls->wait_ms = wait_ms;
	ls->cid_seed = (uint16_t)c->capture_cid_seed;
	strbuf_init(&ls->line);
	evbuf_init(&ls->ev);
	pthread_mutex_init(&ls->mu, NULL);
	pthread_cond_init(&ls->cv, NULL);
	if (c->sqlite) {
		char path[4200];
		if (mkdir_p(c->state_dir) < 0) {
			snprintf(err, errlen, "%s: cannot create", c->state_dir);
			return -1;
		}
		snprintf(path, sizeof(path), "%s/sinktrap.db", c->state_dir);
		ls->db = db_open_sqlite_wait(path, (int64_t)wait_ms, err, errlen);
		if (ls->db == NULL)
			return -1;
		db_set_sensor(ls->db, c->sensor);
	}
	if (c->json)
		ls->json = jsonfile_new(c->json, 0, 0);
	ls->started = pthread_create(&ls->th, NULL, store_thread, ls) == 0;
	return 0;
}

/* Returns the number of events SQLite did not get. */
static uint64_t local_close(struct local_store *ls)
{
	handoff(ls);
	if (ls->started) {
		pthread_mutex_lock(&ls->mu);
		ls->done = 1;
		pthread_cond_broadcast(&ls->cv);
		pthread_mutex_unlock(&ls->mu);
		pthread_join(ls->th, NULL);
	}
	if (ls->db) {
		local_commit(ls);
		db_close(&ls->db);
	}
	jsonfile_free(&ls->json);
	strbuf_free(&ls->line);
	evbuf_free(&ls->ev);
	free(ls->q);
	free(ls->pend);
	free(ls->batch);
	pthread_mutex_destroy(&ls->mu);
	pthread_cond_destroy(&ls->cv);
	return ls->lost;
}

/* ---------------------------------------------------------------- ingest */

static void usage(void)
{
	fprintf(stderr,
	        "usage: sinktrap ingest [-c FILE] [-q] [--db-wait SECONDS] CAPTURE...\n");
}

/*
 * Convert one file packet by packet. Returns 0; -1 when it could not be read
 * at all; -2 when a write into the spool failed (err says why): the
 * conversion stops there, the packets that reached the spool are kept.
 */
static int convert(struct recorder *rec, const char *path, uint64_t *npkts, char *stop,
                   size_t stoplen, char *err, size_t errlen)
{
	struct pcapfile_reader *rd;
	struct pcapfile_pkt p;
	int rc, wr = 0;
	*npkts = 0;
	stop[0] = '\0';
	if (pcapfile_reader_open_file(&rd, path, err, errlen) < 0)
		return -1;
	pcapfile_reader_set_lenient(rd, 1);
	while ((rc = pcapfile_reader_next(rd, &p)) == 1) {
		wr = recorder_packet(rec, p.ts_ns, p.data, p.caplen, p.origlen, p.linktype);
		if (wr == -EMLINK) {
			snprintf(stop, stoplen,
			         "packet %" PRIu64 " of link type %u: more link types take "
			         "turns than the spool can keep files open for, and too many "
			         "files were finished to make room",
			         *npkts + 1, p.linktype);
			wr = 0;
			rc = 0;
			break;
		}
		if (wr < 0)
			break;
		if (++*npkts % (1u << 20) == 0)
			recorder_tick(rec);
	}
	if (wr == 0 && rc < 0)
		snprintf(stop, stoplen, "%s", pcapfile_reader_error(rd));
	else if (wr == 0 && !stop[0] && pcapfile_reader_oversized(rd))
		snprintf(stop, stoplen,
		         "%" PRIu64 " packets longer than the snaplen (kept whole)",
		         pcapfile_reader_oversized(rd));
	pcapfile_reader_close(&rd);
	int fr = recorder_rotate(rec); /* the converted file ends with its source */
	if (wr == 0)
		wr = fr;
	if (wr < 0) {
		snprintf(err, errlen, "%s", strerror(-wr));
		return -2;
	}
	return 0;
}

/* The format of a file from its magic, and its first packet's time; -1 when it
 * cannot be read. */
static int sniff(const char *path, int64_t *first_ts, char *err, size_t errlen)
{
	struct pcapfile_reader *rd;
	struct pcapfile_pkt p;
	if (pcapfile_reader_open_file(&rd, path, err, errlen) < 0)
		return -1;
	int f = (int)pcapfile_reader_format(rd);
	pcapfile_reader_set_lenient(rd, 1);
	*first_ts = pcapfile_reader_next(rd, &p) == 1 ? p.ts_ns : INT64_MAX;
	pcapfile_reader_close(&rd);
	return f;
}

/* "sinktrap: PATH: what", the path given once. */
static void say_error(const char *path, const char *err)
{
	size_t n = strlen(path);
	if (!strncmp(err, path, n) && err[n] == ':')
		fprintf(stderr, "sinktrap: %s\n", err);
	else
		fprintf(stderr, "sinktrap: %s: %s\n", path, err);
}

int capture_ingest_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"db-wait", required_argument, NULL, 'W'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *conf = NULL;
	int quiet = 0, ch, failed = 0;
	unsigned wait_ms = 60 * 1000; /* a refused batch is tried again for a minute */
	char err[512], stop[512], spool[4096];

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:dqh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			conf = optarg;
			break;
		case 'd':
			log_level_set(LOG_LVL_DEBUG);
			break;
		case 'q':
			quiet = 1;
			break;
		case 'W': {
			long ms;
			if (parse_duration_ms(optarg, 86400000L, &ms) < 0) {
				fprintf(stderr,
				        "sinktrap: --db-wait %s: a duration from 0 to 1 day "
				        "(seconds, or with ms, s, m or h)\n",
				        optarg);
				return 2;
			}
			wait_ms = (unsigned)ms;
			break;
		}
		case 'h':
			usage();
			return 0;
		default:
			usage();
			return 2;
		}
	}
	if (optind >= argc) {
		usage();
		return 2;
	}
	struct cfg_errors errs;
	struct config *c = config_load(conf, &errs);
	if (c == NULL) {
		cfg_errors_print(&errs, stderr);
		cfg_errors_free(&errs);
		return 2;
	}
	log_procname("ingest");
	if (log_level_get() < LOG_LVL_DEBUG) /* -d wins over the config */
		log_level_set(c->log_level);
	capture_spool_dir(c, spool, sizeof(spool));
	/* As root, a spool made now is the workers' user's, as the daemon makes
	 * it: the capture worker indexes and rotates what is ingested into it. */
	struct passwd *pw = geteuid() == 0 ? getpwnam(c->user) : NULL;
	if (pw && pw->pw_uid != 0)
		capture_prepare(c, pw->pw_uid, pw->pw_gid);
	if (mkdir_p(spool) < 0) {
		fprintf(stderr, "sinktrap: spool %s: cannot create it\n", spool);
		config_free(c);
		return 1;
	}
	/* The lock is taken for every file started: one that cannot be is said once. */
	int lk = spool_lock(spool);
	if (lk < 0) {
		fprintf(stderr, "sinktrap: spool %s: lock %s/.lock: %s\n", spool, spool,
		        lk == -ELOOP    ? "a symbolic link (never followed); remove it"
		        : lk == -EINVAL ? "not a regular file; remove it"
		                        : strerror(-lk));
		config_free(c);
		return 1;
	}
	spool_unlock(lk);
	struct recorder_config rc;
	capture_recorder_config(c, spool, &rc);
	/* pcapng keeps its nanoseconds in a pcap spool */
	if (rc.format == PCAPFILE_PCAP)
		rc.format = PCAPFILE_PCAP_NS;
	struct stat st;
	if (geteuid() == 0 && stat(spool, &st) == 0 && st.st_uid != 0) {
		/* as root: the files belong to the spool's owner, the capture worker's user */
		rc.owner = st.st_uid;
		rc.group = st.st_gid;
	}
	capture_flow_ids(&rc.flow, spool, rc.owner, rc.group, 1);

	struct local_store ls;
	if (local_open(&ls, c, wait_ms, err, sizeof(err)) < 0) {
		fprintf(stderr, "sinktrap: %s\n", err);
		config_free(c);
		return 1;
	}
	struct emitter em;
	event_id_init();
	emit_init(&em, NULL, -1, "ingest");
	emit_set_sink(&em, local_sink, &ls);
	rc.flow.cid_lazy = 1;
	rc.flow_cb = local_flow;
	rc.flow_cb_arg = &ls;
	struct recorder *rec;
	if (recorder_new(&rec, &rc, &em, err, sizeof(err)) < 0) {
		fprintf(stderr, "sinktrap: %s\n", err);
		local_close(&ls);
		config_free(c);
		return 1;
	}

	int64_t t0 = mono_ms();
	uint64_t total = 0;
	for (int i = optind; i < argc; i++) {
		const char *path = argv[i];
		uint64_t n = 0;
		int64_t first_ts;
		struct stat pst;
		/* A capture is read twice (its format and first time, then its
		 * packets, a classic pcap while it is copied): files only. A FIFO
		 * would block the first open until a writer came. */
		if (!strcmp(path, "-")) {
			fprintf(stderr, "sinktrap: -: ingest reads capture files, not standard "
			                "input (save it to a file first)\n");
			failed++;
			continue;
		}
		if (stat(path, &pst) == 0 && !S_ISREG(pst.st_mode)) {
			fprintf(stderr,
			        "sinktrap: %s: not a regular file (%s); ingest reads capture "
			        "files (save it to a file first)\n",
			        path,
			        S_ISDIR(pst.st_mode)    ? "a directory"
			        : S_ISFIFO(pst.st_mode) ? "a pipe"
			                                : "a device or socket");
			failed++;
			continue;
		}
		int fmt = sniff(path, &first_ts, err, sizeof(err));
		int r;
		if (fmt < 0) {
			say_error(path, err);
			failed++;
			continue;
		}
		/* A capture that starts before the last one ended is another capture,
		 * not its continuation: its sessions must not merge into those. */
		struct recorder_stats now, after;
		recorder_stats(rec, &now);
		if (now.pkts && first_ts < now.last_ts)
			recorder_end_flows(rec, FLOW_END_SHUTDOWN);
		if (fmt == PCAPFILE_PCAPNG)
			r = convert(rec, path, &n, stop, sizeof(stop), err, sizeof(err));
		else
			r = recorder_adopt(rec, path, &n, stop, sizeof(stop), err, sizeof(err));
		recorder_stats(rec, &after);
		n = after.written - now.written; /* what is in the spool */
		total += n;
		if (after.write_errors > now.write_errors) {
			/* The spool cannot take it (full disk, a file size limit): the
			 * files after it would fare no better. */
			if (r == -2)
				fprintf(stderr, "sinktrap: %s: write into %s failed: %s\n",
				        path, spool, err);
			else if (r == 0)
				fprintf(stderr,
				        "sinktrap: %s: write into %s failed (logged above)\n",
				        path, spool);
			else
				say_error(path, err);
			fprintf(stderr,
			        "sinktrap: %s: %" PRIu64 " packets ingested, %" PRIu64
			        " not written; ingest stopped%s\n",
			        path, n, after.write_errors - now.write_errors,
			        i + 1 < argc ? ", the files after it are not read" : "");
			failed++;
			break;
		}
		if (r < 0) {
			say_error(path, err);
			failed++;
			continue;
		}
		if (stop[0]) {
			fprintf(stderr,
			        "sinktrap: %s: %s; the %" PRIu64
			        " packets before it are ingested\n",
			        path, stop, n);
			if (!strstr(stop, "kept whole"))
				failed++;
		} else if (!quiet) {
			fprintf(stderr, "%s: %" PRIu64 " packet%s%s\n", path, n,
			        n == 1 ? "" : "s", n == 0 ? " (nothing to ingest)" : "");
		}
		recorder_tick(rec);
	}
	struct recorder_stats rs;
	recorder_stats(rec, &rs);
	recorder_close(&rec, FLOW_END_SHUTDOWN);
	emit_drain(&em);
	uint64_t lost = local_close(&ls);
	emit_free(&em);
	if (lost) {
		fprintf(stderr,
		        "sinktrap: database %s/sinktrap.db: %" PRIu64
		        " events not stored (%s); the packets are in the spool\n",
		        c->state_dir, lost, ls.lost_why);
		failed++;
	}
	if (!quiet) {
		char werr[64] = "";
		if (rs.write_errors)
			snprintf(werr, sizeof(werr), ", %" PRIu64 " not written (write errors)",
			         rs.write_errors);
		printf("ingested %" PRIu64 " packet%s from %d file%s in %.2f s: %" PRIu64
		       " sessions, %" PRIu64 " packets not IP, %" PRIu64
		       " malformed%s; spool %s\n",
		       total, total == 1 ? "" : "s", argc - optind,
		       argc - optind == 1 ? "" : "s", (double)(mono_ms() - t0) / 1000.0,
		       rs.flows.created, rs.nonip, rs.malformed, werr, spool);
	}
	config_free(c);
	return failed ? 1 : 0;
}

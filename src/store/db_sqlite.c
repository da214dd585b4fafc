#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/event.h"
#include "../common/log.h"
#include "../common/util.h"
#include "db.h"
#include "evsum.h"
#include "render.h"
#include "rows.h"

struct db {
	sqlite3 *h;
	sqlite3_stmt *ins_event, *map_upsert, *map_close, *map_touch, *map_all;
	sqlite3_stmt *ses_insert, *ses_expire, *pay_upsert; /* prepared at first use */
	int in_batch;
	int last_rc;        /* SQLite's result code of the last failure */
	int64_t busy_since; /* mono ms: when the wait for the write lock began */
	char *sensor;
	char err[256];
};

/* Migrations: entry i takes the schema from version i to i + 1. */
static const char *const migrations[] = {
    "CREATE TABLE events ("
    "  id INTEGER PRIMARY KEY,"
    "  event_id TEXT NOT NULL UNIQUE,"
    "  ts INTEGER NOT NULL," /* microseconds since the epoch */
    "  event_type TEXT NOT NULL,"
    "  src_ip TEXT, src_port INTEGER, dest_ip TEXT, dest_port INTEGER, proto TEXT,"
    "  community_id TEXT,"
    "  domain TEXT,"
    "  json TEXT NOT NULL);"
    "CREATE INDEX events_ts ON events(ts);"
    "CREATE INDEX events_type_ts ON events(event_type, ts);"
    "CREATE INDEX events_src_ts ON events(src_ip, ts);"
    "CREATE INDEX events_domain ON events(domain);"
    "CREATE TABLE sinkhole_map ("
    "  address TEXT PRIMARY KEY,"
    "  family TEXT NOT NULL,"
    "  domain TEXT NOT NULL,"
    "  first_seen INTEGER NOT NULL,"
    "  last_seen INTEGER NOT NULL);"
    "CREATE INDEX sinkhole_map_domain ON sinkhole_map(domain);",

    /* 2: the columns for many sensors and ingest lag; sessions and payloads. */
    "ALTER TABLE events ADD COLUMN flow_id INTEGER;"
    "ALTER TABLE events ADD COLUMN sensor TEXT;"
    "ALTER TABLE events ADD COLUMN stored INTEGER;"
    "CREATE INDEX events_dest_ts ON events(dest_ip, ts);"
    "CREATE INDEX events_community_id ON events(community_id) WHERE community_id IS NOT NULL;"
    "CREATE INDEX events_flow_id ON events(flow_id) WHERE flow_id IS NOT NULL;"
    "CREATE TABLE sessions ("
    "  id INTEGER PRIMARY KEY,"
    "  event_id TEXT UNIQUE,"
    "  sensor TEXT,"
    "  flow_id INTEGER NOT NULL,"
    "  community_id TEXT,"
    "  src_ip TEXT NOT NULL, src_port INTEGER, dest_ip TEXT NOT NULL, dest_port INTEGER,"
    "  proto TEXT NOT NULL,"
    "  vlan TEXT,"
    "  start_ts INTEGER NOT NULL, end_ts INTEGER NOT NULL,"
    "  pkts_toserver INTEGER NOT NULL DEFAULT 0, pkts_toclient INTEGER NOT NULL DEFAULT 0,"
    "  bytes_toserver INTEGER NOT NULL DEFAULT 0, bytes_toclient INTEGER NOT NULL DEFAULT 0,"
    "  tcp_flags TEXT, tcp_flags_ts TEXT, tcp_flags_tc TEXT,"
    "  state TEXT, end_reason TEXT,"
    "  pcap_files TEXT,"
    "  expired INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX sessions_start ON sessions(start_ts);"
    "CREATE INDEX sessions_src_start ON sessions(src_ip, start_ts);"
    "CREATE INDEX sessions_dest_start ON sessions(dest_ip, start_ts);"
    "CREATE INDEX sessions_community_id ON sessions(community_id);"
    "CREATE INDEX sessions_flow_id ON sessions(flow_id);"
    "CREATE TABLE payloads ("
    "  sha256 TEXT PRIMARY KEY,"
    "  size INTEGER NOT NULL,"
    "  first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,"
    "  seen INTEGER NOT NULL DEFAULT 1,"
    "  kind TEXT, name TEXT,"
    "  event_id TEXT);"
    "CREATE INDEX payloads_first_seen ON payloads(first_seen);",

    /* 3: what a captured session needs beyond version 2 (capture worker, ingest). */
    "ALTER TABLE sessions ADD COLUMN payload_toserver INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE sessions ADD COLUMN payload_toclient INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE sessions ADD COLUMN conn_state TEXT;"
    "ALTER TABLE sessions ADD COLUMN history TEXT;"
    "ALTER TABLE sessions ADD COLUMN pcap_first TEXT;"
    "ALTER TABLE sessions ADD COLUMN pcap_last TEXT;"
    "CREATE INDEX sessions_pcap_last ON sessions(pcap_last);",

    /*
     * 4: which domain held each pool address before: the map keeps the present
     * holder only; when the pool recycles an address, the sessions to it
     * before belong to the earlier domain. The history holds the closed spans,
     * written when a mapping is replaced (db_map_upsert; a new mapping costs
     * nothing more, and no trigger makes every upsert keep a statement
     * journal); sinkhole_map_spans is them and the present ones. Filled from
     * the sinkhole_map events already stored.
     */
    "CREATE TABLE sinkhole_map_history ("
    "  address TEXT NOT NULL,"
    "  domain TEXT NOT NULL,"
    "  family TEXT NOT NULL,"
    "  held_from INTEGER NOT NULL,"
    "  held_until INTEGER NOT NULL,"
    "  PRIMARY KEY (address, held_from));"
    "CREATE INDEX sinkhole_map_history_domain ON sinkhole_map_history(domain);"
    "INSERT OR IGNORE INTO sinkhole_map_history SELECT a, d, f, ts, u FROM ("
    "  SELECT a, d, f, ts, coalesce(lead(ts) OVER (PARTITION BY a ORDER BY ts),"
    "    (SELECT first_seen FROM sinkhole_map m WHERE m.address = a AND m.first_seen > ts))"
    "    AS u FROM ("
    "    SELECT json_extract(json, '$.sinkhole_map.address') AS a,"
    "      json_extract(json, '$.sinkhole_map.domain') AS d,"
    "      json_extract(json, '$.sinkhole_map.family') AS f, ts"
    "    FROM events WHERE event_type = 'sinkhole_map' AND json_valid(json))"
    "  WHERE a IS NOT NULL AND d IS NOT NULL AND f IS NOT NULL)"
    "  WHERE u IS NOT NULL;"
    "CREATE VIEW sinkhole_map_spans AS"
    "  SELECT address, domain, family, held_from, held_until FROM sinkhole_map_history"
    "  UNION ALL SELECT address, domain, family, first_seen, NULL FROM sinkhole_map;",
};

static int exec(struct db *d, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(d->h, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		d->last_rc = rc;
		snprintf(d->err, sizeof(d->err), "%s", msg ? msg : sqlite3_errmsg(d->h));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int schema_version(struct db *d, int *version)
{
	sqlite3_stmt *st;
	*version = 0;
	int rc = sqlite3_prepare_v2(d->h, "PRAGMA user_version", -1, &st, NULL);
	if (rc != SQLITE_OK) {
		d->last_rc = rc;
		snprintf(d->err, sizeof(d->err), "%s", sqlite3_errmsg(d->h));
		return -1;
	}
	if (sqlite3_step(st) == SQLITE_ROW)
		*version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return 0;
}

/*
 * Bring the schema to DB_SCHEMA_VERSION, one step per transaction. Another
 * process may be opening the same new file at that moment (the store and a
 * `sinktrap ingest`, two ingests): each step takes the write lock first
 * (BEGIN IMMEDIATE, waiting as the busy timeout allows) and reads the version
 * again under it, so a step is applied once, by whoever comes first.
 */
static int migrate(struct db *d)
{
	int version, first = -1;
	if (schema_version(d, &version) < 0)
		return -1;
	while (version < DB_SCHEMA_VERSION) {
		if (exec(d, "BEGIN IMMEDIATE") < 0)
			return -1;
		if (schema_version(d, &version) < 0) {
			exec(d, "ROLLBACK");
			return -1;
		}
		if (version >= DB_SCHEMA_VERSION) {
			exec(d, "ROLLBACK"); /* done meanwhile by another process */
			break;
		}
		if (first < 0)
			first = version;
		char pragma[64];
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", version + 1);
		if (exec(d, migrations[version]) < 0 || exec(d, pragma) < 0 ||
		    exec(d, "COMMIT") < 0) {
			char why[sizeof(d->err)];
			snprintf(why, sizeof(why), "%s", d->err);
			exec(d, "ROLLBACK");
			snprintf(d->err, sizeof(d->err), "%s", why);
			return -1;
		}
		version++;
	}
	/* Said once, by the process that did it; a new file is not an upgrade. */
	if (first == 0)
		log_info("database created (schema version %d)", version);
	else if (first > 0)
		log_info("database schema upgraded from version %d to %d", first, version);
	if (version > DB_SCHEMA_VERSION) {
		snprintf(d->err, sizeof(d->err),
		         "database schema version %d is newer than this sinktrap (%d)", version,
		         DB_SCHEMA_VERSION);
		return -1;
	}
	return 0;
}

static int prepare(struct db *d, const char *sql, sqlite3_stmt **st)
{
	int rc = sqlite3_prepare_v3(d->h, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
	if (rc != SQLITE_OK) {
		d->last_rc = rc; /* every failure sets it: db_retriable reads the latest */
		snprintf(d->err, sizeof(d->err), "%s", sqlite3_errmsg(d->h));
		return -1;
	}
	return 0;
}

static void sqlite_setup(void)
{
	/* No memory statistics: they take a global mutex at every allocation. */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

/*
 * Another writer (the store, an ingest) holds the write lock: look again every
 * millisecond, up to DB_BUSY_MS. SQLite's own wait sleeps up to 100 ms between
 * looks and misses the moments between another writer's transactions (its
 * checkpoint, say), so it could wait out its whole timeout behind a busy
 * ingest.
 */
#define DB_BUSY_MS 5000
static int busy_wait(void *arg, int tries)
{
	struct db *d = arg;
	int64_t now = mono_ms();
	if (tries == 0)
		d->busy_since = now;
	if (now - d->busy_since >= DB_BUSY_MS)
		return 0;
	usleep(1000);
	return 1;
}

/* The last failed open was refused for a lock another process held. */
static __thread int open_busy;

/* One thread uses a connection (the store's): no mutexes inside SQLite. */
struct db *db_open_sqlite(const char *path, char *err, size_t errlen)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, sqlite_setup);
	struct db *d = xcalloc(1, sizeof(*d));
	if (sqlite3_open_v2(path, &d->h,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path,
		         d->h ? sqlite3_errmsg(d->h) : "cannot open");
		db_close(&d);
		return NULL;
	}
	sqlite3_busy_handler(d->h, busy_wait, d);
	/* WAL: readers (the CLI, the web page) never block the writer. */
	/*
	 * The indexes of a busy sensor outgrow the default 2 MB page cache: keep
	 * 64 MB of pages, map the file for reads, and checkpoint the WAL in larger
	 * steps (fewer, longer writes).
	 */
	if (exec(d,
	         "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
	         "PRAGMA cache_size=-65536; PRAGMA mmap_size=1073741824; "
	         "PRAGMA wal_autocheckpoint=2048;") < 0 ||
	    migrate(d) < 0 ||
	    prepare(d,
	            "INSERT OR IGNORE INTO events (event_id, ts, event_type, src_ip, src_port, "
	            "dest_ip, dest_port, proto, community_id, domain, json, flow_id, sensor, "
	            "stored) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
	            &d->ins_event) < 0 ||
	    prepare(d,
	            "INSERT INTO sinkhole_map (address, family, domain, first_seen, last_seen) "
	            "VALUES (?1,?2,?3,?4,?4) ON CONFLICT(address) DO UPDATE SET "
	            "domain = excluded.domain, family = excluded.family, "
	            "first_seen = excluded.first_seen, last_seen = excluded.last_seen",
	            &d->map_upsert) < 0 ||
	    prepare(
	        d,
	        "INSERT OR IGNORE INTO sinkhole_map_history SELECT address, domain, family, "
	        "first_seen, ?2 FROM sinkhole_map WHERE address = ?1 AND first_seen < ?2 AND "
	        "(domain IS NOT ?3 OR family IS NOT ?4)",
	        &d->map_close) < 0 ||
	    prepare(
	        d,
	        "UPDATE sinkhole_map SET last_seen = ?2 WHERE address = ?1 AND last_seen < ?2",
	        &d->map_touch) < 0 ||
	    prepare(d,
	            "SELECT address, domain, family, first_seen, last_seen FROM sinkhole_map "
	            "ORDER BY last_seen",
	            &d->map_all) < 0) {
		snprintf(err, errlen, "%s: %s", path, d->err);
		open_busy =
		    (d->last_rc & 0xff) == SQLITE_BUSY || (d->last_rc & 0xff) == SQLITE_LOCKED;
		db_close(&d);
		return NULL;
	}
	return d;
}

struct db *db_open_sqlite_wait(const char *path, int64_t wait_ms, char *err, size_t errlen)
{
	int64_t deadline = mono_ms() + wait_ms;
	unsigned wait_s = 1;
	for (;;) {
		open_busy = 0;
		struct db *d = db_open_sqlite(path, err, errlen);
		if (d || !open_busy || mono_ms() + wait_s * 1000 > deadline)
			return d;
		log_warnx("%s; trying again in %u s", err, wait_s);
		sleep(wait_s);
		if (wait_s < 8)
			wait_s *= 2;
	}
}

void db_close(struct db **dp)
{
	struct db *d = *dp;
	if (d == NULL)
		return;
	if (d->in_batch)
		db_commit(d);
	sqlite3_finalize(d->ins_event);
	sqlite3_finalize(d->map_upsert);
	sqlite3_finalize(d->map_close);
	sqlite3_finalize(d->map_touch);
	sqlite3_finalize(d->map_all);
	sqlite3_finalize(d->ses_insert);
	sqlite3_finalize(d->ses_expire);
	sqlite3_finalize(d->pay_upsert);
	sqlite3_close(d->h);
	free(d->sensor);
	free(d);
	*dp = NULL;
}

int db_begin(struct db *d)
{
	if (d->in_batch)
		return 0;
	if (exec(d, "BEGIN") < 0)
		return -1;
	d->in_batch = 1;
	return 0;
}

int db_commit(struct db *d)
{
	if (!d->in_batch)
		return 0;
	d->in_batch = 0;
	if (exec(d, "COMMIT") == 0)
		return 0;
	/* A commit that failed may leave its transaction open: none of it is kept. */
	d->in_batch = 1;
	db_rollback(d);
	return -1;
}

int db_rollback(struct db *d)
{
	if (!d->in_batch)
		return 0;
	d->in_batch = 0;
	if (!sqlite3_get_autocommit(d->h)) {
		char err[sizeof(d->err)];
		int rc = d->last_rc;
		memcpy(err, d->err, sizeof(err));
		exec(d, "ROLLBACK");
		memcpy(d->err, err, sizeof(err));
		d->last_rc = rc;
	}
	return 0;
}

int db_retriable(const struct db *d)
{
	switch (d->last_rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_NOMEM:
	case SQLITE_CANTOPEN:
	case SQLITE_PROTOCOL:
	case SQLITE_READONLY:
		return 1;
	default:
		return 0;
	}
}

int db_in_batch(const struct db *d)
{
	return d->in_batch;
}
const char *db_error(const struct db *d)
{
	return d->err;
}

static void bind_field(sqlite3_stmt *st, int col, const struct ev_field *f)
{
	if (f == NULL)
		sqlite3_bind_null(st, col);
	else if (f->kind == EV_STR && text_plain(f->str, f->strlen))
		sqlite3_bind_text(st, col, (const char *)f->str, (int)f->strlen, SQLITE_STATIC);
	else if (f->kind == EV_STR) {
		/* A NUL or bytes that are not UTF-8 (a hostile Host header): U+FFFD in
		 * the column, as in PostgreSQL's, so that the column compares and
		 * searches as the text it shows (LIKE stops at a NUL; a name sent
		 * through JSON comes back as other bytes). The json column has them
		 * all, escaped. */
		struct strbuf b;
		strbuf_init(&b);
		text_clean(&b, f->str, f->strlen);
		sqlite3_bind_text(st, col, b.data ? b.data : "", (int)b.len, SQLITE_TRANSIENT);
		strbuf_free(&b);
	} else if (f->kind == EV_INT || f->kind == EV_TIME || f->kind == EV_BOOL)
		sqlite3_bind_int64(st, col, f->i);
	else
		sqlite3_bind_null(st, col);
}

void db_set_sensor(struct db *d, const char *sensor)
{
	free(d->sensor);
	d->sensor = sensor ? xstrdup(sensor) : NULL;
}

static int step_reset(struct db *d, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		d->last_rc = rc;
		snprintf(d->err, sizeof(d->err), "%s", sqlite3_errmsg(d->h));
		return -1;
	}
	return 0;
}

int db_event_insert_sum(struct db *d, const struct evsum *e, const char *json, size_t jsonlen)
{
	sqlite3_stmt *st = d->ins_event;
	const struct evsum *es = e;
	bind_field(st, 1, evsum_get(es, ES_EVENT_ID));
	bind_field(st, 2, evsum_get(es, ES_TIMESTAMP));
	bind_field(st, 3, evsum_get(es, ES_EVENT_TYPE));
	bind_field(st, 4, evsum_get(es, ES_SRC_IP));
	bind_field(st, 5, evsum_get(es, ES_SRC_PORT));
	bind_field(st, 6, evsum_get(es, ES_DEST_IP));
	bind_field(st, 7, evsum_get(es, ES_DEST_PORT));
	bind_field(st, 8, evsum_get(es, ES_PROTO));
	bind_field(st, 9, evsum_get(es, ES_COMMUNITY_ID));
	/* The domain an event is about, whichever part names it. */
	bind_field(st, 10, evsum_domain(es));
	sqlite3_bind_text(st, 11, json, (int)jsonlen, SQLITE_STATIC);
	bind_field(st, 12, evsum_get(es, ES_FLOW_ID));
	if (d->sensor)
		sqlite3_bind_text(st, 13, d->sensor, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 13);
	sqlite3_bind_int64(st, 14, time_now_usec());
	return step_reset(d, st);
}

int db_map_upsert(struct db *d, const char *address, const char *domain, const char *family,
                  int64_t ts)
{
	/* The mapping this one replaces (a recycled address) goes to the history. */
	sqlite3_stmt *st = d->map_close;
	sqlite3_bind_text(st, 1, address, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, ts);
	sqlite3_bind_text(st, 3, domain, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, family, -1, SQLITE_STATIC);
	if (step_reset(d, st) < 0)
		return -1;
	st = d->map_upsert;
	sqlite3_bind_text(st, 1, address, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, family, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, domain, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, ts);
	return step_reset(d, st);
}

int db_map_touch(struct db *d, const char *address, int64_t ts)
{
	sqlite3_stmt *st = d->map_touch;
	sqlite3_bind_text(st, 1, address, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, ts);
	return step_reset(d, st);
}

int db_map_each(struct db *d, db_map_cb *cb, void *arg)
{
	sqlite3_stmt *st = d->map_all;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct db_map_row r = {(const char *)sqlite3_column_text(st, 0),
		                       (const char *)sqlite3_column_text(st, 1),
		                       (const char *)sqlite3_column_text(st, 2),
		                       sqlite3_column_int64(st, 3),
		                       sqlite3_column_int64(st, 4)};
		if (r.address && r.domain && r.family && cb(&r, arg) < 0)
			break;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

/* ---------------------------------------------------------------- sessions (capture) */

static int ses_prepare(struct db *d)
{
	if (d->ses_insert == NULL) {
		/* The columns of rows.h in order, then sensor, vlan, pcap_files, expired. */
		char sql[1024], *q = sql;
		q += sprintf(q, "INSERT OR IGNORE INTO sessions (");
		for (int i = 0; i < SC_MAX; i++)
			q += sprintf(q, "%s, ", ses_col_names[i]);
		q += sprintf(q, "sensor, vlan, pcap_files, expired) VALUES (");
		for (int i = 0; i < SC_MAX + 4; i++)
			q += sprintf(q, "%s?", i ? "," : "");
		sprintf(q, ")");
		if (prepare(d, sql, &d->ses_insert) < 0)
			return -1;
	}
	if (d->ses_expire == NULL &&
	    prepare(d, "UPDATE sessions SET expired = 1 WHERE pcap_last = ? AND expired = 0",
	            &d->ses_expire) < 0)
		return -1;
	return 0;
}

int db_session_insert(struct db *d, const uint8_t *rec, size_t len)
{
	struct session_row r;
	if (!session_row_extract(rec, len, &r))
		return 0; /* not a captured session */
	if (ses_prepare(d) < 0)
		return -1;
	sqlite3_stmt *st = d->ses_insert;
	for (int i = 0; i < SC_MAX; i++) {
		if (r.col[i].kind)
			bind_field(st, i + 1, &r.col[i]);
		else if (i >= SC_PKTS_TOSERVER && i <= SC_PAYLOAD_TOCLIENT)
			sqlite3_bind_int(st, i + 1, 0); /* a counter not reported is zero */
		else
			sqlite3_bind_null(st, i + 1);
	}
	if (d->sensor)
		sqlite3_bind_text(st, SC_MAX + 1, d->sensor, -1, SQLITE_STATIC);
	if (r.vlan[0])
		sqlite3_bind_text(st, SC_MAX + 2, r.vlan, -1, SQLITE_TRANSIENT);
	if (r.pcap_files[0])
		sqlite3_bind_text(st, SC_MAX + 3, r.pcap_files, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, SC_MAX + 4, r.expired);
	return step_reset(d, st);
}

/* ---------------------------------------------------------------- payloads (trap) */

int db_payload_seen(struct db *d, const struct payload_row *p)
{
	if (d->pay_upsert == NULL &&
	    prepare(
	        d,
	        "INSERT INTO payloads (sha256, size, first_seen, last_seen, seen, kind, name, "
	        "event_id) VALUES (?1, ?2, ?3, ?3, 1, ?4, ?5, ?6) ON CONFLICT (sha256) DO "
	        "UPDATE SET first_seen = min(first_seen, excluded.first_seen), "
	        "last_seen = max(last_seen, excluded.last_seen), seen = seen + 1, "
	        "name = coalesce(name, excluded.name)",
	        &d->pay_upsert) < 0)
		return -1;
	sqlite3_stmt *st = d->pay_upsert;
	bind_field(st, 1, &p->sha256);
	bind_field(st, 2, &p->size);
	bind_field(st, 3, &p->ts);
	bind_field(st, 4, p->kind.kind ? &p->kind : NULL);
	bind_field(st, 5, p->filename.kind ? &p->filename : NULL);
	bind_field(st, 6, p->event_id.kind ? &p->event_id : NULL);
	return step_reset(d, st);
}

int db_changes(struct db *d)
{
	return sqlite3_changes(d->h);
}

int db_sessions_expire(struct db *d, const char *file)
{
	if (ses_prepare(d) < 0)
		return -1;
	sqlite3_bind_text(d->ses_expire, 1, file, -1, SQLITE_STATIC);
	if (step_reset(d, d->ses_expire) < 0)
		return -1;
	return sqlite3_changes(d->h);
}

int db_event_rows(struct db *d, const uint8_t *rec, size_t len, const struct evsum *es,
                  int replayed, const char **what)
{
	if (evsum_is(es, ES_EVENT_TYPE, "flow")) {
		*what = "session";
		return db_session_insert(d, rec, len) < 0 ? -1 : 0;
	}
	if (evsum_is(es, ES_EVENT_TYPE, "pcap_expired")) {
		struct ev_field f;
		char file[128];
		*what = "session expiry";
		if (!expired_file_extract(rec, len, &f) || f.strlen >= sizeof(file))
			return 0;
		snprintf(file, sizeof(file), "%.*s", (int)f.strlen, f.str);
		return db_sessions_expire(d, file) < 0 ? -1 : 0;
	}
	if (evsum_is(es, ES_EVENT_TYPE, "fileinfo") && !replayed) {
		struct payload_row p;
		*what = "payload";
		return payload_row_extract(rec, len, &p) && db_payload_seen(d, &p) < 0 ? -1 : 0;
	}
	return 0;
}

int db_event_store(struct db *d, const uint8_t *rec, size_t len, const struct evsum *es,
                   const char *json, size_t jsonlen, const char **what)
{
	int ret = 0, replayed = 0;
	const char *failed = NULL;
	if (json) {
		if (db_event_insert_sum(d, es, json, jsonlen) < 0) {
			*what = "database insert";
			if (db_retriable(d))
				return -1;
			failed = *what; /* its own fault: the rows beside it all the same */
		} else {
			replayed = db_changes(d) == 0;
			ret = !replayed;
		}
	}
	if (db_event_rows(d, rec, len, es, replayed, what) < 0)
		return -1;
	if (failed) {
		*what = failed;
		return -1;
	}
	return ret;
}

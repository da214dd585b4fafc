/*
 * The PostgreSQL sink: the same schema as the local SQLite database
 * (events, sessions, sinkhole_map, payloads), created and migrated here at
 * every connection under an advisory lock (several sensors may share one
 * database), with the version in sinktrap_schema.
 *
 * A batch is one transaction: COPY into temporary staging tables, then
 * INSERT ... SELECT ... ON CONFLICT (event_id) DO NOTHING, the sinkhole map
 * upserts and last-use updates, the session rows of flow events, the
 * sightings of payloads (counted from the event rows this batch inserted,
 * so a batch sent twice counts nothing twice), session expiry, COMMIT. The queue advances only
 * after the commit, so a batch cut by a crash or a lost connection is sent again and finds its
 * rows already there: every event is stored exactly once.
 */
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/event.h"
#include "../common/log.h"
#include "../common/util.h"
#include "db.h"
#include "evsum.h"
#include "pg_copy.h"
#include "render.h"
#include "rows.h"
#include "sink_impl.h"

/* Migrations: entry i takes the schema from version i to i + 1 (db_sqlite.c has the twins). */
static const char *const pg_migrations[DB_SCHEMA_VERSION] = {
    "CREATE TABLE events ("
    "  id BIGSERIAL PRIMARY KEY,"
    "  event_id TEXT NOT NULL UNIQUE,"
    "  ts BIGINT NOT NULL,"
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
    "  first_seen BIGINT NOT NULL,"
    "  last_seen BIGINT NOT NULL);"
    "CREATE INDEX sinkhole_map_domain ON sinkhole_map(domain);",

    "ALTER TABLE events ADD COLUMN flow_id BIGINT;"
    "ALTER TABLE events ADD COLUMN sensor TEXT;"
    "ALTER TABLE events ADD COLUMN stored BIGINT;"
    "CREATE INDEX events_dest_ts ON events(dest_ip, ts);"
    "CREATE INDEX events_community_id ON events(community_id) WHERE community_id IS NOT NULL;"
    "CREATE INDEX events_flow_id ON events(flow_id) WHERE flow_id IS NOT NULL;"
    "CREATE TABLE sessions ("
    "  id BIGSERIAL PRIMARY KEY,"
    "  event_id TEXT UNIQUE,"
    "  sensor TEXT,"
    "  flow_id BIGINT NOT NULL,"
    "  community_id TEXT,"
    "  src_ip TEXT NOT NULL, src_port INTEGER, dest_ip TEXT NOT NULL, dest_port INTEGER,"
    "  proto TEXT NOT NULL,"
    "  vlan TEXT,"
    "  start_ts BIGINT NOT NULL, end_ts BIGINT NOT NULL,"
    "  pkts_toserver BIGINT NOT NULL DEFAULT 0, pkts_toclient BIGINT NOT NULL DEFAULT 0,"
    "  bytes_toserver BIGINT NOT NULL DEFAULT 0, bytes_toclient BIGINT NOT NULL DEFAULT 0,"
    "  tcp_flags TEXT, tcp_flags_ts TEXT, tcp_flags_tc TEXT,"
    "  state TEXT, end_reason TEXT,"
    "  pcap_files TEXT,"
    "  expired BOOLEAN NOT NULL DEFAULT FALSE);"
    "CREATE INDEX sessions_start ON sessions(start_ts);"
    "CREATE INDEX sessions_src_start ON sessions(src_ip, start_ts);"
    "CREATE INDEX sessions_dest_start ON sessions(dest_ip, start_ts);"
    "CREATE INDEX sessions_community_id ON sessions(community_id);"
    "CREATE INDEX sessions_flow_id ON sessions(flow_id);"
    "CREATE TABLE payloads ("
    "  sha256 TEXT PRIMARY KEY,"
    "  size BIGINT NOT NULL,"
    "  first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL,"
    "  seen INTEGER NOT NULL DEFAULT 1,"
    "  kind TEXT, name TEXT,"
    "  event_id TEXT);"
    "CREATE INDEX payloads_first_seen ON payloads(first_seen);",

    "ALTER TABLE sessions ADD COLUMN payload_toserver BIGINT NOT NULL DEFAULT 0;"
    "ALTER TABLE sessions ADD COLUMN payload_toclient BIGINT NOT NULL DEFAULT 0;"
    "ALTER TABLE sessions ADD COLUMN conn_state TEXT;"
    "ALTER TABLE sessions ADD COLUMN history TEXT;"
    "ALTER TABLE sessions ADD COLUMN pcap_first TEXT;"
    "ALTER TABLE sessions ADD COLUMN pcap_last TEXT;"
    "CREATE INDEX sessions_pcap_last ON sessions(pcap_last);",

    /* 4: which domain held each pool address before (the twin of SQLite's;
     * the closed spans are written with each batch, below). */
    "CREATE TABLE sinkhole_map_history ("
    "  address TEXT NOT NULL,"
    "  domain TEXT NOT NULL,"
    "  family TEXT NOT NULL,"
    "  held_from BIGINT NOT NULL,"
    "  held_until BIGINT NOT NULL,"
    "  PRIMARY KEY (address, held_from));"
    "CREATE INDEX sinkhole_map_history_domain ON sinkhole_map_history(domain);"
    "CREATE VIEW sinkhole_map_spans AS"
    "  SELECT address, domain, family, held_from, held_until FROM sinkhole_map_history"
    "  UNION ALL SELECT address, domain, family, first_seen, NULL FROM sinkhole_map;",
};

/* A staged row that is a whole sinkhole mapping. */
#define STAGE_MAPPING                                                                          \
	"map_address IS NOT NULL AND map_domain IS NOT NULL AND map_family IS NOT NULL AND "   \
	"ts "                                                                                  \
	"IS NOT NULL"

#define STAGE_COLUMNS                                                                          \
	"seq, keep, event_id, ts, event_type, src_ip, src_port, dest_ip, dest_port, proto, "   \
	"community_id, flow_id, domain, json, answer, map_address, map_domain, map_family, "   \
	"p_sha256, p_size, p_kind, p_name, x_file"

#define CONNECT_TIMEOUT_MS 10000

struct pg_sink {
	char *conninfo;
	char *sensor;     /* "host" in the JSON; NULL = none */
	char *sensor_lit; /* SQL literal: 'name' or NULL */
	const struct cfg_strv *types;
	int need_action;
	PGconn *conn;
	int timeout_ms; /* [events] database_timeout: the longest wait for the server */
	struct strbuf copy, line, sql, ses; /* ses: the COPY text of sessions_stage */
	char ses_columns[1024];             /* the sessions columns of rows.h, SQL list */
};

static struct pg_sink *impl(struct sink *s)
{
	return s->impl;
}

static void pg_error(PGconn *c, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: %s", what, c ? PQerrorMessage(c) : "no connection");
	for (char *p = err; *p; p++)
		if (*p == '\n')
			*p = *(p + 1) ? ' ' : '\0';
}

/*
 * Commands run without blocking, each wait bounded by the sink's timeout: a
 * server that stops answering (stopped, or stuck on a lock) while its host
 * and TCP stay up, which keepalives do not see, costs the connection, not the
 * delivery thread; the batch is sent again over a new one.
 */
static int pg_wait(struct sink *s, short events, int64_t deadline, const char *what, char *err,
                   size_t errlen)
{
	struct pg_sink *g = impl(s);
	int w = sink_wait(s, PQsocket(g->conn), events, deadline, 1);
	if (w > 0)
		return 0;
	if (w == 0)
		snprintf(err, errlen, "%s: no answer from the server in %d ms", what,
		         g->timeout_ms);
	else
		snprintf(err, errlen, "%s: cut by a stop", what);
	return -1;
}

/* What libpq holds for the server sent; 0, or -1 with err. */
static int pg_flush(struct sink *s, const char *what, char *err, size_t errlen)
{
	struct pg_sink *g = impl(s);
	int64_t deadline = mono_ms() + g->timeout_ms;
	for (;;) {
		int f = PQflush(g->conn);
		if (f == 0)
			return 0;
		if (f < 0) {
			pg_error(g->conn, what, err, errlen);
			return -1;
		}
		/* The server may be sending while it waits for the rest. */
		if (pg_wait(s, POLLOUT | POLLIN, deadline, what, err, errlen) < 0)
			return -1;
		if (PQconsumeInput(g->conn) != 1) {
			pg_error(g->conn, what, err, errlen);
			return -1;
		}
	}
}

/* The next result, waited for; NULL once there is none, or with err set on a failure. */
static PGresult *pg_next(struct sink *s, const char *what, int *failed, char *err,
                         size_t errlen)
{
	struct pg_sink *g = impl(s);
	int64_t deadline = mono_ms() + g->timeout_ms;
	while (PQisBusy(g->conn)) {
		if (pg_wait(s, POLLIN, deadline, what, err, errlen) < 0 ||
		    (PQconsumeInput(g->conn) != 1 &&
		     (pg_error(g->conn, what, err, errlen), 1))) {
			*failed = 1;
			return NULL;
		}
	}
	return PQgetResult(g->conn);
}

/*
 * The results of what was sent, as PQexec gives them: the last, or the first
 * that failed (the commands after it are not run); a COPY's start ends them,
 * the caller carrying the COPY on. NULL with err when the server did not
 * answer or the connection failed.
 */
static PGresult *pg_results(struct sink *s, const char *what, char *err, size_t errlen)
{
	PGresult *last = NULL, *r;
	int failed = 0;
	while ((r = pg_next(s, what, &failed, err, errlen)) != NULL) {
		ExecStatusType st = PQresultStatus(r);
		if (last && (PQresultStatus(last) == PGRES_FATAL_ERROR ||
		             PQresultStatus(last) == PGRES_BAD_RESPONSE)) {
			PQclear(r); /* the first failure is the one that counts */
		} else {
			PQclear(last);
			last = r;
		}
		if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH)
			return last; /* the caller carries the COPY on */
	}
	if (failed) {
		PQclear(last);
		return NULL;
	}
	return last;
}

/* Run SQL; its result as pg_results gives it. */
static PGresult *pg_exec(struct sink *s, const char *sql, const char *what, char *err,
                         size_t errlen)
{
	struct pg_sink *g = impl(s);
	if (PQsendQuery(g->conn, sql) != 1) {
		pg_error(g->conn, what, err, errlen);
		return NULL;
	}
	if (pg_flush(s, what, err, errlen) < 0)
		return NULL;
	return pg_results(s, what, err, errlen);
}

/* 0 when r (taken, NULL: err set already) has status want, or -1 with err. */
static int result_is(struct sink *s, PGresult *r, ExecStatusType want, const char *what,
                     char *err, size_t errlen)
{
	if (r == NULL)
		return -1;
	int ok = PQresultStatus(r) == want;
	if (!ok)
		pg_error(impl(s)->conn, what, err, errlen);
	PQclear(r);
	return ok ? 0 : -1;
}

/* Run SQL; 0 when its (last) result has status want, or -1 with err. */
static int exec_ok(struct sink *s, const char *sql, ExecStatusType want, const char *what,
                   char *err, size_t errlen)
{
	return result_is(s, pg_exec(s, sql, what, err, errlen), want, what, err, errlen);
}

static void notice(void *arg, const char *msg)
{
	log_debug("postgresql: %s", msg);
}

static int migrate(struct sink *s, char *err, size_t errlen)
{
	PGconn *c = impl(s)->conn;
	if (exec_ok(s,
	            "BEGIN; SELECT pg_advisory_xact_lock(7632001);"
	            "CREATE TABLE IF NOT EXISTS sinktrap_schema (version INTEGER NOT NULL)",
	            PGRES_COMMAND_OK, "schema", err, errlen) < 0)
		return -1;
	PGresult *r =
	    pg_exec(s, "SELECT version FROM sinktrap_schema", "schema version", err, errlen);
	if (r == NULL)
		return -1;
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		pg_error(c, "schema version", err, errlen);
		PQclear(r);
		return -1;
	}
	int version = 0, have = PQntuples(r) > 0;
	if (have)
		version = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	if (!have && exec_ok(s, "INSERT INTO sinktrap_schema VALUES (0)", PGRES_COMMAND_OK,
	                     "schema version", err, errlen) < 0)
		return -1;
	if (version > DB_SCHEMA_VERSION) {
		snprintf(err, errlen,
		         "database schema version %d is newer than this sinktrap (%d)", version,
		         DB_SCHEMA_VERSION);
		return -1;
	}
	for (int v = version; v < DB_SCHEMA_VERSION; v++) {
		char upd[96];
		if (exec_ok(s, pg_migrations[v], PGRES_COMMAND_OK, "schema migration", err,
		            errlen) < 0)
			return -1;
		snprintf(upd, sizeof(upd), "UPDATE sinktrap_schema SET version = %d", v + 1);
		if (exec_ok(s, upd, PGRES_COMMAND_OK, "schema version", err, errlen) < 0)
			return -1;
	}
	if (exec_ok(s, "COMMIT", PGRES_COMMAND_OK, "schema", err, errlen) < 0)
		return -1;
	if (version == 0)
		log_info("postgresql: schema created (version %d)", DB_SCHEMA_VERSION);
	else if (version < DB_SCHEMA_VERSION)
		log_info("postgresql: schema upgraded from version %d to %d", version,
		         DB_SCHEMA_VERSION);
	return exec_ok(
	    s,
	    "CREATE TEMP TABLE IF NOT EXISTS events_stage (seq INTEGER, keep BOOLEAN, "
	    "event_id TEXT, ts BIGINT, event_type TEXT, src_ip TEXT, src_port INTEGER, "
	    "dest_ip TEXT, dest_port INTEGER, proto TEXT, community_id TEXT, "
	    "flow_id BIGINT, domain TEXT, json TEXT, answer TEXT, map_address TEXT, "
	    "map_domain TEXT, map_family TEXT, p_sha256 TEXT, p_size BIGINT, "
	    "p_kind TEXT, p_name TEXT, x_file TEXT) ON COMMIT DELETE ROWS;"
	    "CREATE TEMP TABLE IF NOT EXISTS sessions_stage (seq INTEGER, "
	    "event_id TEXT, flow_id BIGINT, community_id TEXT, src_ip TEXT, "
	    "src_port INTEGER, dest_ip TEXT, dest_port INTEGER, proto TEXT, "
	    "start_ts BIGINT, end_ts BIGINT, pkts_toserver BIGINT, pkts_toclient BIGINT, "
	    "bytes_toserver BIGINT, bytes_toclient BIGINT, payload_toserver BIGINT, "
	    "payload_toclient BIGINT, tcp_flags TEXT, tcp_flags_ts TEXT, "
	    "tcp_flags_tc TEXT, state TEXT, end_reason TEXT, conn_state TEXT, "
	    "history TEXT, pcap_first TEXT, pcap_last TEXT, vlan TEXT, pcap_files TEXT, "
	    "expired BOOLEAN) ON COMMIT DELETE ROWS",
	    PGRES_COMMAND_OK, "staging tables", err, errlen);
}

static void pg_disconnect(struct sink *s)
{
	struct pg_sink *g = impl(s);
	if (g->conn) {
		PQfinish(g->conn);
		g->conn = NULL;
	}
}

/* Connect without blocking: each wait ends at a stop, and after CONNECT_TIMEOUT_MS. */
static int pg_connect(struct sink *s, char *err, size_t errlen)
{
	struct pg_sink *g = impl(s);
	/* A server whose host is gone mid-batch is given up within about half a
	 * minute (TCP keepalives, and a limit on data left unacknowledged), not
	 * the kernel's two hours; the connection string the user gave (dbname,
	 * expanded after these) may set any of them otherwise. */
	const char *keys[] = {"connect_timeout",
	                      "application_name",
	                      "keepalives",
	                      "keepalives_idle",
	                      "keepalives_interval",
	                      "keepalives_count",
	                      "tcp_user_timeout",
	                      "dbname",
	                      NULL};
	const char *vals[] = {"5", "sinktrap", "1", "10", "5", "3", "30000", g->conninfo, NULL};
	g->conn = PQconnectStartParams(keys, vals, 1);
	if (g->conn == NULL || PQstatus(g->conn) == CONNECTION_BAD) {
		pg_error(g->conn, "connect", err, errlen);
		pg_disconnect(s);
		return -1;
	}
	int64_t deadline = mono_ms() + CONNECT_TIMEOUT_MS;
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	while (st != PGRES_POLLING_OK) {
		if (st == PGRES_POLLING_FAILED) {
			pg_error(g->conn, "connect", err, errlen);
			pg_disconnect(s);
			return -1;
		}
		int w = sink_wait(s, PQsocket(g->conn),
		                  st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline, 0);
		if (w <= 0) {
			snprintf(err, errlen, "connect: %s",
			         w == 0 ? "timed out" : "cut by a stop");
			pg_disconnect(s);
			return -1;
		}
		st = PQconnectPoll(g->conn);
	}
	PQsetNoticeProcessor(g->conn, notice, NULL);
	/* Events carry any Unicode text (and U+FFFD for what was not text): a
	 * database in a narrower encoding would refuse a batch for one character
	 * and hold up everything behind it. Refused at the connection instead,
	 * with the events queued. */
	const char *enc = PQparameterStatus(g->conn, "server_encoding");
	if (enc && strcmp(enc, "UTF8") != 0 && strcmp(enc, "SQL_ASCII") != 0) {
		snprintf(err, errlen,
		         "the database's encoding is %s: it must be UTF8 (CREATE DATABASE ... "
		         "ENCODING 'UTF8' TEMPLATE template0)",
		         enc);
		pg_disconnect(s);
		return -1;
	}
	if (PQsetnonblocking(g->conn, 1) != 0) {
		pg_error(g->conn, "connect", err, errlen);
		pg_disconnect(s);
		return -1;
	}
	if (exec_ok(s, "SET client_encoding = 'UTF8'", PGRES_COMMAND_OK, "encoding", err,
	            errlen) < 0 ||
	    migrate(s, err, errlen) < 0) {
		pg_disconnect(s);
		return -1;
	}
	return 0;
}

/* COPY ... FROM STDIN begun; 0, or -1 with err. */
static int copy_begin(struct sink *s, const char *sql, char *err, size_t errlen)
{
	return exec_ok(s, sql, PGRES_COPY_IN, "copy", err, errlen);
}

/* COPY text sent; 0, or -1 with err. */
static int copy_put(struct sink *s, const struct strbuf *data, char *err, size_t errlen)
{
	struct pg_sink *g = impl(s);
	if (data->len == 0)
		return 0;
	for (;;) {
		int r = PQputCopyData(g->conn, data->data, (int)data->len);
		if (r < 0) {
			pg_error(g->conn, "copy", err, errlen);
			return -1;
		}
		if (pg_flush(s, "copy", err, errlen) < 0)
			return -1;
		if (r == 1)
			return 0;
		/* 0: libpq had no room for it; there is now. */
	}
}

/* The rest of the COPY text sent and the COPY ended; 0, or -1 with err. */
static int copy_end(struct sink *s, const struct strbuf *data, char *err, size_t errlen)
{
	struct pg_sink *g = impl(s);
	if (copy_put(s, data, err, errlen) < 0)
		return -1;
	int r;
	while ((r = PQputCopyEnd(g->conn, NULL)) == 0)
		if (pg_flush(s, "copy", err, errlen) < 0)
			return -1;
	if (r < 0 || pg_flush(s, "copy", err, errlen) < 0) {
		if (r < 0)
			pg_error(g->conn, "copy", err, errlen);
		return -1;
	}
	return result_is(s, pg_results(s, "copy", err, errlen), PGRES_COMMAND_OK, "copy", err,
	                 errlen);
}

static int keep_row(struct pg_sink *g, const struct evsum *es)
{
	const struct ev_field *t = evsum_get(es, ES_EVENT_TYPE), *a = evsum_get(es, ES_ACTION);
	if (g->types->n == 0)
		return 1;
	if (t == NULL || t->kind != EV_STR)
		return 0;
	int ha = g->need_action && a && a->kind == EV_STR;
	return sinkspec_types_match(g->types, t->str, t->strlen, ha ? a->str : NULL,
	                            ha ? a->strlen : 0);
}

static int pg_send(struct sink *s, const struct queue_batch *b, char *err, size_t errlen)
{
	struct pg_sink *g = impl(s);
	const uint8_t *rec;
	size_t len, off = 0;
	uint32_t seq = 0;
	int any_map = 0, any_answer = 0, any_payload = 0, any_expiry = 0;

	if (exec_ok(s, "BEGIN", PGRES_COMMAND_OK, "begin", err, errlen) < 0 ||
	    copy_begin(s, "COPY events_stage (" STAGE_COLUMNS ") FROM STDIN", err, errlen) < 0)
		return -1;
	strbuf_reset(&g->copy);
	strbuf_reset(&g->ses);
	while (queue_batch_next(b, &off, &rec, &len)) {
		struct evsum es;
		struct session_row sr;
		struct payload_row pr;
		struct ev_field xf;
		evsum_extract(rec, len, &es);
		int keep = keep_row(g, &es);
		int is_map = evsum_is(&es, ES_EVENT_TYPE, "sinkhole_map");
		/* a sinkholed answer raises its address's last_seen, stored or not */
		int touch =
		    evsum_is(&es, ES_EVENT_TYPE, "dns") && evsum_is(&es, ES_ACTION, "sinkhole");
		const struct ev_field *ans = evsum_answer_address(&es);
		if (ans == NULL)
			touch = 0;
		int is_session = session_row_extract(rec, len, &sr);
		int is_payload = keep && payload_row_extract(rec, len, &pr);
		int is_expiry = expired_file_extract(rec, len, &xf);
		if (!keep && !is_map && !is_session && !is_expiry && !touch)
			continue;
		if (is_session)
			pg_copy_session(&g->ses, seq, &sr);
		struct strbuf *o = &g->copy;
		strbuf_printf(o, "%u\t%s", seq++, keep ? "t" : "f");
		pg_copy_str(o, evsum_get(&es, ES_EVENT_ID));
		pg_copy_int(o, evsum_get(&es, ES_TIMESTAMP), INT64_MIN, INT64_MAX);
		pg_copy_str(o, evsum_get(&es, ES_EVENT_TYPE));
		pg_copy_str(o, evsum_get(&es, ES_SRC_IP));
		pg_copy_int(o, evsum_get(&es, ES_SRC_PORT), 0, 65535);
		pg_copy_str(o, evsum_get(&es, ES_DEST_IP));
		pg_copy_int(o, evsum_get(&es, ES_DEST_PORT), 0, 65535);
		pg_copy_str(o, evsum_get(&es, ES_PROTO));
		pg_copy_str(o, evsum_get(&es, ES_COMMUNITY_ID));
		pg_copy_int(o, evsum_get(&es, ES_FLOW_ID), INT64_MIN, INT64_MAX);
		pg_copy_str(o, evsum_domain(&es));
		pg_copy_sep(o);
		if (keep) {
			strbuf_reset(&g->line);
			render_json(rec, len, g->sensor, &g->line);
			pg_copy_text(o, (const uint8_t *)g->line.data, g->line.len);
		} else {
			strbuf_puts(o, "\\N");
		}
		pg_copy_str(o, touch ? ans : NULL);
		pg_copy_str(o, is_map ? evsum_get(&es, ES_MAP_ADDRESS) : NULL);
		pg_copy_str(o, is_map ? evsum_get(&es, ES_MAP_DOMAIN) : NULL);
		pg_copy_str(o, is_map ? evsum_get(&es, ES_MAP_FAMILY) : NULL);
		pg_copy_str(o, is_payload ? &pr.sha256 : NULL);
		pg_copy_int(o, is_payload ? &pr.size : NULL, 0, INT64_MAX);
		pg_copy_str(o, is_payload && pr.kind.kind ? &pr.kind : NULL);
		pg_copy_str(o, is_payload && pr.filename.kind ? &pr.filename : NULL);
		pg_copy_str(o, is_expiry ? &xf : NULL);
		strbuf_putc(o, '\n');
		any_map |= is_map;
		any_answer |= touch;
		any_payload |= is_payload;
		any_expiry |= is_expiry;
		if (o->len >= (1u << 20)) {
			if (copy_put(s, o, err, errlen) < 0)
				return -1;
			strbuf_reset(o);
		}
	}
	if (copy_end(s, &g->copy, err, errlen) < 0)
		return -1;
	if (g->ses.len && (copy_begin(s, "COPY sessions_stage FROM STDIN", err, errlen) < 0 ||
	                   copy_end(s, &g->ses, err, errlen) < 0))
		return -1;

	struct strbuf *q = &g->sql;
	strbuf_reset(q);
	/* With payloads, the event rows this batch inserted say which sightings are new. */
	if (any_payload)
		strbuf_puts(q, "WITH ins AS (");
	strbuf_printf(
	    q,
	    "INSERT INTO events (event_id, ts, event_type, src_ip, src_port, dest_ip, "
	    "dest_port, proto, community_id, flow_id, domain, json, sensor, stored) "
	    "SELECT event_id, ts, event_type, src_ip, src_port, dest_ip, dest_port, proto, "
	    "community_id, flow_id, domain, json, %s, "
	    "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint "
	    "FROM events_stage WHERE keep AND event_id IS NOT NULL AND ts IS NOT NULL "
	    "AND event_type IS NOT NULL ORDER BY seq ON CONFLICT (event_id) DO NOTHING",
	    g->sensor_lit);
	if (any_payload)
		strbuf_puts(
		    q,
		    " RETURNING event_id) "
		    "INSERT INTO payloads (sha256, size, first_seen, last_seen, seen, kind, "
		    "name, event_id) SELECT p_sha256, max(p_size), min(ts), max(ts), count(*), "
		    "min(p_kind), min(p_name), min(s.event_id) FROM events_stage s JOIN ins "
		    "ON ins.event_id = s.event_id WHERE p_sha256 IS NOT NULL AND p_size IS "
		    "NOT NULL GROUP BY p_sha256 ON CONFLICT (sha256) DO UPDATE SET "
		    "first_seen = least(payloads.first_seen, excluded.first_seen), "
		    "last_seen = greatest(payloads.last_seen, excluded.last_seen), "
		    "seen = payloads.seen + excluded.seen, "
		    "name = coalesce(payloads.name, excluded.name)");
	strbuf_puts(q, ";");
	if (any_map)
		strbuf_puts(
		    q,
		    /* what the batch replaces: the present holder of an address until
		     * the batch's first mapping of it, then each mapping of the batch
		     * until the next (the map keeps the last) */
		    "INSERT INTO sinkhole_map_history SELECT m.address, m.domain, m.family, "
		    "m.first_seen, b.t FROM sinkhole_map m JOIN (SELECT map_address, min(ts) "
		    "AS t FROM events_stage WHERE " STAGE_MAPPING " GROUP BY map_address) b ON "
		    "m.address = b.map_address WHERE m.first_seen < b.t ON CONFLICT DO NOTHING;"
		    "INSERT INTO sinkhole_map_history SELECT a, d, f, ts, nxt FROM (SELECT "
		    "map_address AS a, map_domain AS d, map_family AS f, ts, lead(ts) OVER "
		    "(PARTITION BY map_address ORDER BY seq) AS nxt FROM events_stage "
		    "WHERE " STAGE_MAPPING ") x WHERE nxt IS NOT NULL ON CONFLICT DO NOTHING;"
		    "INSERT INTO sinkhole_map (address, family, domain, first_seen, last_seen) "
		    "SELECT DISTINCT ON (map_address) map_address, map_family, map_domain, "
		    "ts, ts FROM events_stage WHERE " STAGE_MAPPING
		    " ORDER BY map_address, seq DESC ON CONFLICT (address) DO UPDATE SET "
		    "domain = excluded.domain, family = excluded.family, "
		    "first_seen = excluded.first_seen, last_seen = excluded.last_seen;");
	if (any_answer)
		strbuf_puts(q,
		            "UPDATE sinkhole_map m SET last_seen = v.ts FROM (SELECT answer, "
		            "max(ts) AS ts FROM events_stage WHERE answer IS NOT NULL GROUP BY "
		            "answer) v WHERE m.address = v.answer AND m.last_seen < v.ts;");
	if (g->ses.len)
		/* A counter not reported is zero; a row without what the table requires is
		 * none. */
		strbuf_printf(
		    q,
		    "INSERT INTO sessions (%s, sensor, vlan, pcap_files, expired) SELECT "
		    "event_id, flow_id, community_id, src_ip, src_port, dest_ip, dest_port, "
		    "proto, start_ts, end_ts, coalesce(pkts_toserver, 0), "
		    "coalesce(pkts_toclient, 0), coalesce(bytes_toserver, 0), "
		    "coalesce(bytes_toclient, 0), coalesce(payload_toserver, 0), "
		    "coalesce(payload_toclient, 0), tcp_flags, tcp_flags_ts, tcp_flags_tc, "
		    "state, end_reason, conn_state, history, pcap_first, pcap_last, %s, vlan, "
		    "pcap_files, expired FROM sessions_stage WHERE flow_id IS NOT NULL AND "
		    "src_ip IS NOT NULL AND dest_ip IS NOT NULL AND proto IS NOT NULL AND "
		    "start_ts IS NOT NULL AND end_ts IS NOT NULL ORDER BY seq "
		    "ON CONFLICT (event_id) DO NOTHING;",
		    g->ses_columns, g->sensor_lit);
	if (any_expiry)
		strbuf_puts(
		    q, "UPDATE sessions SET expired = TRUE WHERE NOT expired AND pcap_last IN "
		       "(SELECT x_file FROM events_stage WHERE x_file IS NOT NULL);");
	strbuf_puts(q, "COMMIT");
	return exec_ok(s, q->data, PGRES_COMMAND_OK, "insert", err, errlen);
}

static int pg_idle_fd(struct sink *s)
{
	struct pg_sink *g = impl(s);
	return g->conn ? PQsocket(g->conn) : -1;
}

static int pg_idle_check(struct sink *s, char *err, size_t errlen)
{
	struct pg_sink *g = impl(s);
	if (PQconsumeInput(g->conn) != 1 || PQstatus(g->conn) != CONNECTION_OK) {
		pg_error(g->conn, "connection", err, errlen);
		return -1;
	}
	PGnotify *n;
	while ((n = PQnotifies(g->conn)) != NULL)
		PQfreemem(n);
	return 0;
}

static void pg_free(struct sink *s)
{
	struct pg_sink *g = impl(s);
	pg_disconnect(s);
	strbuf_free(&g->copy);
	strbuf_free(&g->line);
	strbuf_free(&g->sql);
	strbuf_free(&g->ses);
	free(g->conninfo);
	free(g->sensor_lit);
	free(g->sensor);
	free(g);
}

static const struct sink_ops pg_ops = {
    .kind = "postgresql",
    .connect = pg_connect,
    .send = pg_send,
    .disconnect = pg_disconnect,
    .idle_fd = pg_idle_fd,
    .idle_check = pg_idle_check,
    .unacked = NULL,
    .free = pg_free,
    .windowed = 0,
};

/* The conninfo for display: a password (URI or key=value) replaced by ***. */
static void redact(const char *ci, char *out, size_t n)
{
	char *msg = NULL;
	PQconninfoOption *opts = PQconninfoParse(ci, &msg);
	PQfreemem(msg);
	if (opts == NULL) {
		snprintf(out, n, "postgresql");
		return;
	}
	const char *host = NULL, *port = NULL, *db = NULL, *user = NULL;
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (!o->val)
			continue;
		if (!strcmp(o->keyword, "host"))
			host = o->val;
		else if (!strcmp(o->keyword, "port"))
			port = o->val;
		else if (!strcmp(o->keyword, "dbname"))
			db = o->val;
		else if (!strcmp(o->keyword, "user"))
			user = o->val;
	}
	snprintf(out, n, "postgresql://%s%s%s%s%s/%s", user ? user : "", user ? "@" : "",
	         host ? host : "", port ? ":" : "", port ? port : "", db ? db : "");
	PQconninfoFree(opts);
}

struct sink *sink_pg_new(const struct config *c, struct sink *prev, char *err, size_t errlen)
{
	struct sink *s = sink_alloc(c, "postgresql", &pg_ops, 0, prev, err, errlen);
	if (s == NULL)
		return NULL;
	struct pg_sink *g = xcalloc(1, sizeof(*g));
	s->impl = g;
	g->conninfo = xstrdup(c->database);
	g->timeout_ms = c->database_timeout_ms;
	/* The sink's own copy: the config may be freed while the thread runs. */
	sinkspec_types_copy(&s->types, &c->database_types);
	g->types = &s->types;
	g->need_action = sinkspec_types_need_action(&c->database_types);
	g->sensor = c->sensor ? xstrdup(c->sensor) : NULL;
	if (c->sensor) {
		struct strbuf lit;
		strbuf_init(&lit);
		strbuf_putc(&lit, '\'');
		for (const char *p = c->sensor; *p; p++) {
			if (*p == '\'')
				strbuf_putc(&lit, '\'');
			strbuf_putc(&lit, *p);
		}
		strbuf_putc(&lit, '\'');
		g->sensor_lit = xstrdup(lit.data);
		strbuf_free(&lit);
	} else {
		g->sensor_lit = xstrdup("NULL");
	}
	strbuf_init(&g->copy);
	strbuf_init(&g->line);
	strbuf_init(&g->sql);
	strbuf_init(&g->ses);
	for (int i = 0; i < SC_MAX; i++) {
		size_t n = strlen(g->ses_columns);
		snprintf(g->ses_columns + n, sizeof(g->ses_columns) - n, "%s%s", i ? ", " : "",
		         ses_col_names[i]);
	}
	/* The queue takes what the rows need plus what fills the other tables. */
	s->need_action = g->need_action;
	s->keep_tables = 1;
	s->batch_bytes = 4 << 20;
	redact(c->database, s->dest, sizeof(s->dest));
	return s;
}

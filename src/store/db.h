/*
 * The database behind the store: schema creation and migration (with a
 * schema version), batched event inserts that are idempotent by event_id, and
 * the durable sinkhole map. SQLite (WAL) is the default backend.
 */
#ifndef SINKTRAP_STORE_DB_H
#define SINKTRAP_STORE_DB_H

#include <stddef.h>
#include <stdint.h>

struct db;

/* Both backends (db_sqlite.c, sink_pg.c); columns in docs/events-delivery.md. */
#define DB_SCHEMA_VERSION 4

struct db_map_row {
	const char *address;
	const char *domain;
	const char *family;
	int64_t first_seen, last_seen; /* usec */
};

typedef int db_map_cb(const struct db_map_row *row, void *arg);

/* Open (creating and migrating) the database at path. NULL with err on failure. */
struct db *db_open_sqlite(const char *path, char *err, size_t errlen);
/*
 * The same, waiting while another process holds the write lock (creating the
 * schema, or in a long transaction) for up to wait_ms, trying again after 1,
 * 2, 4 ... 8 s: for a one-off command, which has no later to try again in.
 */
struct db *db_open_sqlite_wait(const char *path, int64_t wait_ms, char *err, size_t errlen);
void db_close(struct db **d);
/* The sensor name stored with every event (NULL = none). Copied. */
void db_set_sensor(struct db *d, const char *sensor);
struct evsum;
/* Insert one event, its fields extracted (evsum.h), with its rendered JSON;
 * inside a batch. */
int db_event_insert_sum(struct db *d, const struct evsum *es, const char *json, size_t jsonlen);
/* Record a new or recycled mapping (the one it replaces goes to the history). */
int db_map_upsert(struct db *d, const char *address, const char *domain, const char *family,
                  int64_t ts);
int db_map_touch(struct db *d, const char *address, int64_t ts);
/* Every mapping, most recently used last. */
int db_map_each(struct db *d, db_map_cb *cb, void *arg);
/* The session row of a "flow" event (checked record; a replayed event is ignored). */
int db_session_insert(struct db *d, const uint8_t *rec, size_t len);
/* A spool file was deleted: the sessions whose last packets it held are expired.
 * Returns the number of sessions marked, or -1. */
int db_sessions_expire(struct db *d, const char *file);
struct payload_row;
/* One sighting of a stored payload (rows.h): first/last seen, times seen. */
int db_payload_seen(struct db *d, const struct payload_row *p);
/*
 * The rows an event makes beside `events` (rows.h), for the store and for
 * `sinktrap ingest` alike: a flow's session, the sessions of a deleted spool
 * file expired, a payload sighting (not when the event's own row was a
 * replay). 0, or -1 with *what naming the row (db_error says why).
 */
int db_event_rows(struct db *d, const uint8_t *rec, size_t len, const struct evsum *es,
                  int replayed, const char **what);
/*
 * Everything one event writes in the open batch: its row in `events` (json:
 * its rendered line, NULL when database_types keeps it out of there) and the
 * rows beside it (db_event_rows). Returns 1 when its events row is new, 0 when
 * it was there already (a replay) or not asked for, -1 when a write failed:
 * *what names it, and db_retriable() tells a cause that may pass (the batch is
 * to be done again) from the row's own fault (the other rows are written all
 * the same). The store and `sinktrap ingest` both write through it.
 */
int db_event_store(struct db *d, const uint8_t *rec, size_t len, const struct evsum *es,
                   const char *json, size_t jsonlen, const char **what);
/* Rows changed by the last statement (1 after an insert that was not a replay). */
int db_changes(struct db *d);
/* Begin a batch if none is open; commit the open batch (-1: it is rolled back). */
int db_begin(struct db *d);
int db_commit(struct db *d);
int db_in_batch(const struct db *d);
/* Give up the open batch (none of it is kept). */
int db_rollback(struct db *d);
/* Was the last failure one that may pass (busy, locked, full, I/O, memory)?
 * Otherwise it is the statement's own (a constraint), and would fail again. */
int db_retriable(const struct db *d);
const char *db_error(const struct db *d);

#endif

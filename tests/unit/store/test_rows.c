/* The rows beside `events`: sessions and payloads, as extracted and as stored in SQLite. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../test_dir.h"
#include "common/event.h"
#include "store/db.h"
#include "store/evsum.h"
#include "store/render.h"
#include "store/rows.h"

static const char SHA[] = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

static void flow_event(struct evbuf *b, int64_t flow_id, int with_vlan, const char *first,
                       const char *last)
{
	evbuf_reset(b);
	ev_begin(b, "flow", 1700000000000000LL);
	ev_int(b, "flow_id", flow_id);
	ev_str(b, "community_id", "1:abc=");
	ev_str(b, "src_ip", "10.0.0.5");
	ev_int(b, "src_port", 40000);
	ev_str(b, "dest_ip", "127.0.0.2");
	ev_int(b, "dest_port", 80);
	ev_str(b, "proto", "TCP");
	if (with_vlan) {
		ev_arr(b, "vlan");
		ev_int(b, NULL, 100);
		ev_int(b, NULL, 200);
		ev_close(b);
	}
	ev_obj(b, "flow");
	ev_time(b, "start", 1700000000000000LL);
	ev_time(b, "end", 1700000001000000LL);
	ev_int(b, "pkts_toserver", 5);
	ev_int(b, "pkts_toclient", 4);
	ev_int(b, "bytes_toserver", 500);
	ev_int(b, "bytes_toclient", 4000);
	ev_str(b, "history", "ShADadFf");
	ev_str(b, "reason", "fin");
	ev_close(b);
	ev_obj(b, "tcp");
	ev_str(b, "tcp_flags", "1b");
	ev_close(b);
	ev_obj(b, "pcap");
	ev_str(b, "file_first", first);
	ev_str(b, "file_last", last);
	ev_bool(b, "expired", 0);
	ev_close(b);
	ev_end(b);
}

static void fileinfo_event(struct evbuf *b, int64_t ts, const char *name)
{
	evbuf_reset(b);
	ev_begin(b, "fileinfo", ts);
	ev_str(b, "src_ip", "10.0.0.5");
	ev_obj(b, "fileinfo");
	ev_str(b, "sha256", SHA);
	ev_int(b, "size", 4);
	ev_str(b, "kind", "http_request_body");
	if (name)
		ev_str(b, "filename", name);
	ev_close(b);
	ev_end(b);
}

static void test_session_extract(void **state)
{
	(void)state;
	struct evbuf b;
	struct session_row r;
	evbuf_init(&b);
	flow_event(&b, 77, 1, "a.pcap", "b.pcap");
	assert_int_equal(session_row_extract(b.data, b.len, &r), 1);
	assert_int_equal(r.col[SC_FLOW_ID].i, 77);
	assert_int_equal(r.col[SC_DEST_PORT].i, 80);
	assert_int_equal(r.col[SC_BYTES_TOCLIENT].i, 4000);
	assert_int_equal(r.col[SC_START_TS].i, 1700000000000000LL);
	assert_int_equal(r.col[SC_HISTORY].strlen, 8);
	assert_int_equal(r.col[SC_TCP_FLAGS_TS].kind, 0); /* absent */
	assert_string_equal(r.vlan, "100,200");
	assert_string_equal(r.pcap_files, "a.pcap,b.pcap");
	flow_event(&b, 78, 0, "a.pcap", "a.pcap");
	assert_int_equal(session_row_extract(b.data, b.len, &r), 1);
	assert_string_equal(r.vlan, "");
	assert_string_equal(r.pcap_files, "a.pcap");
	/* Not a flow: no row. */
	fileinfo_event(&b, 1, NULL);
	assert_int_equal(session_row_extract(b.data, b.len, &r), 0);
	evbuf_free(&b);
}

static void test_payload_extract(void **state)
{
	(void)state;
	struct evbuf b;
	struct payload_row p;
	evbuf_init(&b);
	fileinfo_event(&b, 5, "x.exe");
	assert_int_equal(payload_row_extract(b.data, b.len, &p), 1);
	assert_int_equal(p.size.i, 4);
	assert_int_equal(p.ts.i, 5);
	assert_memory_equal(p.sha256.str, SHA, 64);
	assert_memory_equal(p.filename.str, "x.exe", 5);
	assert_int_equal(p.event_id.strlen, 24);
	/* A fileinfo without a proper sha256 is no payload row. */
	evbuf_reset(&b);
	ev_begin(&b, "fileinfo", 5);
	ev_obj(&b, "fileinfo");
	ev_str(&b, "sha256", "abc");
	ev_int(&b, "size", 4);
	ev_close(&b);
	ev_end(&b);
	assert_int_equal(payload_row_extract(b.data, b.len, &p), 0);
	evbuf_free(&b);
}

static int64_t query_int(const char *path, const char *sql)
{
	sqlite3 *h;
	sqlite3_stmt *st;
	int64_t v = -1;
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

/* A change to the database file from another connection (not the store's). */
static void exec_on(const char *path, const char *sql)
{
	sqlite3 *h;
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
}

static void test_sqlite_rows(void **state)
{
	(void)state;
	char err[256];
	const char *path = test_dir_path("t.db");
	struct db *d = db_open_sqlite(path, err, sizeof(err));
	assert_non_null(d);
	struct evbuf b;
	struct payload_row p;
	evbuf_init(&b);

	assert_int_equal(db_begin(d), 0);
	flow_event(&b, 9, 1, "f1.pcap", "f2.pcap");
	assert_int_equal(db_session_insert(d, b.data, b.len), 0);
	assert_int_equal(db_session_insert(d, b.data, b.len), 0); /* a replay: ignored */
	fileinfo_event(&b, 300, NULL);
	assert_int_equal(payload_row_extract(b.data, b.len, &p), 1);
	assert_int_equal(db_payload_seen(d, &p), 0);
	fileinfo_event(&b, 100, "up.bin");
	assert_int_equal(payload_row_extract(b.data, b.len, &p), 1);
	assert_int_equal(db_payload_seen(d, &p), 0);
	assert_int_equal(db_sessions_expire(d, "f2.pcap"), 1);
	assert_int_equal(db_sessions_expire(d, "f2.pcap"), 0);
	assert_int_equal(db_commit(d), 0);
	db_close(&d);

	assert_int_equal(query_int(path, "SELECT count(*) FROM sessions"), 1);
	assert_int_equal(query_int(path, "SELECT expired FROM sessions WHERE flow_id = 9"), 1);
	assert_int_equal(query_int(path, "SELECT pkts_toserver FROM sessions"), 5);
	assert_int_equal(query_int(path, "SELECT vlan = '100,200' AND pcap_files = "
	                                 "'f1.pcap,f2.pcap' FROM sessions"),
	                 1);
	assert_int_equal(query_int(path, "SELECT seen FROM payloads"), 2);
	assert_int_equal(query_int(path, "SELECT first_seen FROM payloads"), 100);
	assert_int_equal(query_int(path, "SELECT last_seen FROM payloads"), 300);
	assert_int_equal(query_int(path, "SELECT name = 'up.bin' FROM payloads"), 1);
	evbuf_free(&b);
}

/* What db_event_rows makes of each kind of event: the store and ingest both use it. */
static void test_event_rows(void **state)
{
	(void)state;
	char err[256];
	const char *path = test_dir_path("r.db");
	struct db *d = db_open_sqlite(path, err, sizeof(err));
	assert_non_null(d);
	struct evbuf b;
	struct evsum es;
	const char *what = NULL;
	evbuf_init(&b);
	assert_int_equal(db_begin(d), 0);

	flow_event(&b, 7, 1, "f1.pcap", "f3.pcap");
	evsum_extract(b.data, b.len, &es);
	assert_int_equal(db_event_rows(d, b.data, b.len, &es, 0, &what), 0);
	/* A fileinfo whose event row was a replay is not a new sighting. */
	fileinfo_event(&b, 100, "a.bin");
	evsum_extract(b.data, b.len, &es);
	assert_int_equal(db_event_rows(d, b.data, b.len, &es, 0, &what), 0);
	assert_int_equal(db_event_rows(d, b.data, b.len, &es, 1, &what), 0);
	/* A dns event makes no row beside its own. */
	evbuf_reset(&b);
	ev_begin(&b, "dns", 5);
	ev_str(&b, "src_ip", "10.0.0.1");
	ev_end(&b);
	evsum_extract(b.data, b.len, &es);
	assert_int_equal(db_event_rows(d, b.data, b.len, &es, 0, &what), 0);
	/* The spool file holding the session's last packets is deleted. */
	evbuf_reset(&b);
	ev_begin(&b, "pcap_expired", 6);
	ev_obj(&b, "pcap_expired");
	ev_str(&b, "file", "f3.pcap");
	ev_close(&b);
	ev_end(&b);
	evsum_extract(b.data, b.len, &es);
	assert_int_equal(db_event_rows(d, b.data, b.len, &es, 0, &what), 0);
	assert_int_equal(db_commit(d), 0);
	db_close(&d);

	assert_int_equal(query_int(path, "SELECT count(*) FROM sessions"), 1);
	assert_int_equal(query_int(path, "SELECT expired FROM sessions WHERE flow_id = 7"), 1);
	assert_int_equal(query_int(path, "SELECT seen FROM payloads"), 1);

	/* A failure names the row it was about. */
	d = db_open_sqlite(path, err, sizeof(err));
	assert_non_null(d);
	exec_on(path, "DROP TABLE payloads");
	fileinfo_event(&b, 200, "b.bin");
	evsum_extract(b.data, b.len, &es);
	assert_int_equal(db_begin(d), 0);
	assert_int_equal(db_event_rows(d, b.data, b.len, &es, 0, &what), -1);
	assert_string_equal(what, "payload");
	db_rollback(d);
	db_close(&d);
	evbuf_free(&b);
}

/* Everything an event writes, as the store and ingest write it. */
static void test_event_store(void **state)
{
	(void)state;
	char err[256];
	const char *path = test_dir_path("s.db");
	struct db *d = db_open_sqlite(path, err, sizeof(err));
	assert_non_null(d);
	struct evbuf b;
	struct evsum es;
	const char *what = NULL;
	evbuf_init(&b);
	assert_int_equal(db_begin(d), 0);

	/* new, then the same event again (a replay): one row each side */
	flow_event(&b, 11, 0, "f1.pcap", "f1.pcap");
	evsum_extract(b.data, b.len, &es);
	assert_int_equal(db_event_store(d, b.data, b.len, &es, "{}", 2, &what), 1);
	assert_int_equal(db_event_store(d, b.data, b.len, &es, "{}", 2, &what), 0);
	/* kept out of events (database_types): its session all the same */
	flow_event(&b, 12, 0, "f1.pcap", "f1.pcap");
	evsum_extract(b.data, b.len, &es);
	assert_int_equal(db_event_store(d, b.data, b.len, &es, NULL, 0, &what), 0);
	/* a replayed fileinfo is not a second sighting */
	fileinfo_event(&b, 100, "a.bin");
	evsum_extract(b.data, b.len, &es);
	assert_int_equal(db_event_store(d, b.data, b.len, &es, "{}", 2, &what), 1);
	assert_int_equal(db_event_store(d, b.data, b.len, &es, "{}", 2, &what), 0);
	assert_int_equal(db_commit(d), 0);

	/* an events row refused for its own fault: said, and the rows beside it
	 * are written all the same */
	exec_on(path, "CREATE TRIGGER no_rows BEFORE INSERT ON events BEGIN "
	              "SELECT RAISE(ABORT, 'refused'); END");
	db_close(&d);
	d = db_open_sqlite(path, err, sizeof(err));
	assert_non_null(d);
	assert_int_equal(db_begin(d), 0);
	fileinfo_event(&b, 200, "b.bin");
	evsum_extract(b.data, b.len, &es);
	assert_int_equal(db_event_store(d, b.data, b.len, &es, "{}", 2, &what), -1);
	assert_string_equal(what, "database insert");
	assert_int_equal(db_retriable(d), 0);
	assert_int_equal(db_commit(d), 0);
	db_close(&d);

	assert_int_equal(
	    query_int(path, "SELECT count(*) FROM events WHERE event_type = 'flow'"), 1);
	assert_int_equal(query_int(path, "SELECT count(*) FROM sessions"), 2);
	assert_int_equal(query_int(path, "SELECT count(*) FROM events WHERE "
	                                 "event_type = 'fileinfo'"),
	                 1);
	assert_int_equal(query_int(path, "SELECT seen FROM payloads"), 2);
	evbuf_free(&b);
}

/*
 * Records a producer cut at EV_MAX_RECORD ("truncated": true, event.h) are
 * stored like any other: the events row with the marker in its JSON, the
 * payload row from what the record kept.
 */
static void test_truncated_event_store(void **state)
{
	(void)state;
	static char big[EV_MAX_RECORD];
	char err[256];
	const char *path = test_dir_path("tr.db");
	struct db *d = db_open_sqlite(path, err, sizeof(err));
	assert_non_null(d);
	struct evbuf b;
	struct evsum es;
	struct strbuf js;
	const char *what = NULL;
	memset(big, 'A', sizeof(big));
	evbuf_init(&b);
	strbuf_init(&js);
	assert_int_equal(db_begin(d), 0);

	/* a trap event whose header values run past the record */
	ev_begin(&b, "trap", 1700000000000000LL);
	ev_str(&b, "src_ip", "10.0.0.9");
	ev_obj(&b, "trap");
	ev_str(&b, "domain", "evil.example");
	ev_close(&b);
	ev_obj(&b, "http");
	ev_arr(&b, "request_headers");
	for (int i = 0; i < 8; i++) {
		ev_obj(&b, NULL);
		ev_str(&b, "name", "X-Pad");
		ev_strn(&b, "value", big, 25000);
		ev_close(&b);
	}
	ev_close(&b);
	ev_close(&b);
	ev_obj(&b, "credentials");
	ev_str(&b, "username", "root");
	ev_close(&b);
	ev_end(&b);
	assert_int_equal(ev_record_check(b.data, b.len), (long)b.len);
	evsum_extract(b.data, b.len, &es);
	render_json(b.data, b.len, NULL, &js);
	assert_int_equal(db_event_store(d, b.data, b.len, &es, js.data, js.len, &what), 1);

	/* a fileinfo cut after its hash and size */
	evbuf_reset(&b);
	strbuf_reset(&js);
	ev_begin(&b, "fileinfo", 400);
	ev_obj(&b, "fileinfo");
	ev_str(&b, "sha256", SHA);
	ev_int(&b, "size", 4);
	ev_strn(&b, "filename", big, sizeof(big));
	ev_str(&b, "kind", "raw");
	ev_close(&b);
	ev_end(&b);
	assert_int_equal(ev_record_check(b.data, b.len), (long)b.len);
	evsum_extract(b.data, b.len, &es);
	render_json(b.data, b.len, NULL, &js);
	assert_int_equal(db_event_store(d, b.data, b.len, &es, js.data, js.len, &what), 1);
	assert_int_equal(db_commit(d), 0);
	db_close(&d);

	assert_int_equal(query_int(path,
	                           "SELECT count(*) FROM events WHERE json_valid(json) AND "
	                           "json_extract(json, '$.truncated') = 1"),
	                 2);
	assert_int_equal(query_int(path, "SELECT domain = 'evil.example' FROM events WHERE "
	                                 "event_type = 'trap'"),
	                 1);
	assert_int_equal(
	    query_int(path, "SELECT json_extract(json, '$.credentials') IS NULL AND "
	                    "json_array_length(json, '$.http.request_headers') = 2 AND "
	                    "json_extract(json, '$.http.request_headers[1].value') IS NOT NULL "
	                    "FROM events WHERE event_type = 'trap'"),
	    1);
	assert_int_equal(query_int(path, "SELECT size FROM payloads"), 4);
	strbuf_free(&js);
	evbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_session_extract),
	    cmocka_unit_test(test_payload_extract),
	    cmocka_unit_test_setup_teardown(test_sqlite_rows, test_dir_setup,
	                                    test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_event_rows, test_dir_setup, test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_event_store, test_dir_setup,
	                                    test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_truncated_event_store, test_dir_setup,
	                                    test_dir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

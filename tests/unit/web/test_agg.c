/*
 * The web worker's running totals (agg.c) over a store's events table: names
 * come from attackers (qnames, Host headers, SNI), so two whose hashes are
 * equal must be told apart without reading past the shorter one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "web/web_int.h"

/* The events columns the totals read, as the store writes them. */
static sqlite3 *events_db(void)
{
	sqlite3 *d = NULL;
	assert_int_equal(sqlite3_open(":memory:", &d), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(d,
	                 "CREATE TABLE events (id INTEGER PRIMARY KEY, "
	                 "event_id TEXT NOT NULL UNIQUE, ts INTEGER NOT NULL, "
	                 "event_type TEXT NOT NULL, src_ip TEXT, src_port INTEGER, "
	                 "dest_ip TEXT, dest_port INTEGER, proto TEXT, "
	                 "community_id TEXT, domain TEXT, json TEXT NOT NULL)",
	                 NULL, NULL, NULL),
	    SQLITE_OK);
	return d;
}

static void add_dns(sqlite3 *d, const char *ip, const char *domain)
{
	static int n;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(d,
	                                    "INSERT INTO events (event_id, ts, event_type, "
	                                    "src_ip, proto, domain, json) VALUES (?, ?, 'dns', "
	                                    "?, 'UDP', ?, '{}')",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	char id[32];
	snprintf(id, sizeof(id), "e%d", ++n);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, 1700000000000000LL + n);
	sqlite3_bind_text(st, 3, ip, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, domain, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
}

/* What agg_domains_under() finds under d: how many, their JSON (unless NULL), their events. */
static void check_under(struct agg *a, const char *d, int want_n, const char *want_json,
                        int64_t want_events)
{
	struct strbuf sb;
	int64_t ev = -1;
	strbuf_init(&sb);
	assert_int_equal(agg_domains_under(a, d, 10, &sb, &ev), want_n);
	strbuf_putc(&sb, '\0');
	if (want_json)
		assert_string_equal(sb.data, want_json);
	assert_int_equal(ev, want_events);
	strbuf_free(&sb);
}

/*
 * FNV-1a (32 bits) gives these two the same hash. The short one is stored
 * first, so that looking the long one up meets the short key: comparing it
 * over the long one's length read past its end (AddressSanitizer reports it).
 */
#define SHORT "hehh.ev.example"
#define LONG "tilrftnhpziwinnhwtrzpnzj.ev.example"

static void test_colliding_names(void **state)
{
	(void)state;
	sqlite3 *d = events_db();
	struct agg *a = agg_new();
	add_dns(d, "10.0.0.1", SHORT);
	assert_int_equal(agg_update(a, d), 0);
	add_dns(d, "10.0.0.1", LONG);
	add_dns(d, "10.0.0.1", LONG);
	add_dns(d, "10.0.0.2", SHORT);
	assert_int_equal(agg_update(a, d), 0);

	check_under(a, SHORT, 1, "[\"" SHORT "\"]", 2);
	check_under(a, LONG, 1, "[\"" LONG "\"]", 2);
	check_under(a, "ev.example", 2, NULL, 4);

	/* Each name its own count, each host its own names. */
	struct strbuf sb;
	strbuf_init(&sb);
	agg_host_domains_json(a, "10.0.0.1", 10, &sb);
	strbuf_putc(&sb, '\0');
	assert_non_null(strstr(sb.data, "{\"domain\":\"" LONG "\",\"queries\":2,"));
	assert_non_null(strstr(sb.data, "{\"domain\":\"" SHORT "\",\"queries\":1,"));
	strbuf_reset(&sb);
	agg_host_domains_json(a, "10.0.0.2", 10, &sb);
	strbuf_putc(&sb, '\0');
	assert_non_null(strstr(sb.data, "\"" SHORT "\""));
	assert_null(strstr(sb.data, "\"" LONG "\""));
	strbuf_reset(&sb);
	agg_stats_json(a, d, &sb);
	strbuf_putc(&sb, '\0');
	assert_non_null(strstr(sb.data, "{\"domain\":\"" LONG "\",\"n\":2,\"hosts\":1}"));
	assert_non_null(strstr(sb.data, "{\"domain\":\"" SHORT "\",\"n\":2,\"hosts\":2}"));
	assert_non_null(strstr(sb.data, "\"domains\":2,"));
	strbuf_free(&sb);

	agg_free(a);
	sqlite3_close(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_colliding_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

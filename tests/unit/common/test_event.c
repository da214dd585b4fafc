/* Event records: build, check, find, and render to JSON (escaping hostile bytes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/event.h"
#include "store/render.h"

static void test_roundtrip(void **state)
{
	struct evbuf b;
	struct strbuf s;
	evbuf_init(&b);
	strbuf_init(&s);
	ev_begin(&b, "dns", 1700000000123456LL);
	ev_str(&b, "src_ip", "10.0.0.1");
	ev_int(&b, "src_port", 5353);
	ev_obj(&b, "dns");
	ev_str(&b, "rrname", "evil.example");
	ev_arr(&b, "answers");
	ev_str(&b, NULL, "1.2.3.4");
	ev_int(&b, NULL, -7);
	ev_close(&b);
	ev_bool(&b, "aa", 1);
	ev_close(&b);
	ev_end(&b);

	long rl = ev_record_check(b.data, b.len);
	assert_int_equal(rl, (long)b.len);
	struct ev_field f;
	assert_true(ev_find(b.data, b.len, "dns.rrname", &f));
	assert_int_equal(f.strlen, 12);
	assert_memory_equal(f.str, "evil.example", 12);
	assert_true(ev_find(b.data, b.len, "src_port", &f));
	assert_int_equal(f.i, 5353);
	assert_false(ev_find(b.data, b.len, "rrname", &f)); /* only inside dns */
	assert_false(ev_find(b.data, b.len, "dns.nothere", &f));

	render_json(b.data, b.len, "sensor-1", &s);
	const char *want_prefix =
	    "{\"timestamp\":\"2023-11-14T22:13:20.123456+0000\","
	    "\"event_type\":\"dns\",\"host\":\"sensor-1\",\"event_id\":\"";
	assert_memory_equal(s.data, want_prefix, strlen(want_prefix));
	const char *tail = strstr(s.data, "\"src_ip\"");
	assert_non_null(tail);
	assert_string_equal(tail,
	                    "\"src_ip\":\"10.0.0.1\",\"src_port\":5353,\"dns\":{\"rrname\":"
	                    "\"evil.example\",\"answers\":[\"1.2.3.4\",-7],\"aa\":true}}");
	evbuf_free(&b);
	strbuf_free(&s);
}

static void test_escaping(void **state)
{
	struct strbuf s;
	strbuf_init(&s);
	/* quote, backslash, newline, NUL, a valid 2-byte UTF-8, an invalid byte, DEL */
	const uint8_t in[] = {'a', '"', '\\', '\n', 0, 0xc3, 0xa9, 0xff, 0x7f, ']'};
	strbuf_json_str(&s, in, sizeof(in));
	assert_string_equal(s.data, "\"a\\\"\\\\\\n\\u0000\xc3\xa9\\u00ff\\u007f]\"");
	strbuf_reset(&s);
	/* overlong encoding of '/' and a lone surrogate are not UTF-8 */
	const uint8_t bad[] = {0xc0, 0xaf, 0xed, 0xa0, 0x80};
	strbuf_json_str(&s, bad, sizeof(bad));
	assert_string_equal(s.data, "\"\\u00c0\\u00af\\u00ed\\u00a0\\u0080\"");
	strbuf_free(&s);
}

static void test_malformed(void **state)
{
	uint8_t junk[64];
	memset(junk, 0xff, sizeof(junk));
	assert_int_equal(ev_record_check(junk, sizeof(junk)), -1);
	struct evbuf b;
	evbuf_init(&b);
	ev_begin(&b, "x", 1);
	ev_str(&b, "k", "value");
	ev_end(&b);
	/* A record cut short anywhere is rejected. */
	for (size_t n = 0; n < b.len; n++)
		assert_int_equal(ev_record_check(b.data, n), -1);
	/* A length field that cuts the last field in half is rejected. */
	uint8_t copy[256];
	memcpy(copy, b.data, b.len);
	uint32_t l = (uint32_t)b.len - 2;
	memcpy(copy, &l, 4);
	assert_int_equal(ev_record_check(copy, b.len), -1);
	/* An unbalanced close is rejected. */
	memcpy(copy, b.data, b.len);
	copy[b.len] = EV_END;
	copy[b.len + 1] = 0;
	l = (uint32_t)b.len + 2;
	memcpy(copy, &l, 4);
	assert_int_equal(ev_record_check(copy, b.len + 2), -1);
	/* An unknown field kind is rejected. */
	copy[b.len] = 99;
	assert_int_equal(ev_record_check(copy, b.len + 2), -1);
	evbuf_free(&b);
}

static void test_unique_ids(void **state)
{
	char a[25], b[25];
	event_id_init();
	event_id_new(a);
	event_id_new(b);
	assert_int_equal(strlen(a), 24);
	assert_string_not_equal(a, b);
}

static void test_record_limit(void **state)
{
	struct evbuf b;
	static char big[EV_MAX_RECORD];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	evbuf_init(&b);
	ev_begin(&b, "x", 1);
	ev_obj(&b, "o");
	ev_str(&b, "a", big);
	ev_str(&b, "b", big);
	ev_end(&b);
	assert_true(b.len <= EV_MAX_RECORD + 64);
	assert_int_equal(ev_record_check(b.data, b.len), (long)b.len);
	evbuf_free(&b);
}

/* ---- a record that runs out of room -------------------------------------- */

/* The marker "truncated": true as a record field: kind, key length, key, value. */
#define MARK_LEN (2 + sizeof("truncated") - 1 + 1)

/*
 * The record as JSON, parsed (SQLite's JSON functions): asserts it is valid
 * JSON and returns the value at path as text (NULL when absent; "{...}" or
 * "[...]" for objects and arrays), in one of four static buffers used in turn.
 */
static const char *json_at(const struct evbuf *b, size_t off, size_t len, const char *path)
{
	static char bufs[4][EV_MAX_RECORD * 2];
	static int turn;
	char *out = bufs[turn++ & 3];
	struct strbuf s;
	sqlite3 *db;
	sqlite3_stmt *st;
	strbuf_init(&s);
	render_json(b->data + off, len, NULL, &s);
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT json_valid(?1), json_extract(?1, ?2)",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_text(st, 1, s.data, (int)s.len, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	if (sqlite3_column_int(st, 0) != 1)
		fail_msg("not JSON: %.300s", s.data);
	const char *r = NULL;
	if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
		snprintf(out, sizeof(bufs[0]), "%s", (const char *)sqlite3_column_text(st, 1));
		r = out;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	strbuf_free(&s);
	return r;
}

/* The one record in b: checked whole, within the limit. */
static void assert_record(const struct evbuf *b)
{
	assert_true(b->len <= EV_MAX_RECORD);
	assert_int_equal(ev_record_check(b->data, b->len), (long)b->len);
}

static void add_str(struct evbuf *b)
{
	ev_str(b, "field", "a value of some length");
}
static void add_int(struct evbuf *b)
{
	ev_int(b, "field", 1234567);
}
static void add_bool(struct evbuf *b)
{
	ev_bool(b, "field", 1);
}
static void add_time(struct evbuf *b)
{
	ev_time(b, "field", 1700000000000000LL);
}
static void add_addr(struct evbuf *b)
{
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
	inet_pton(AF_INET6, "2001:db8::1234:5678", &s6.sin6_addr);
	ev_addr(b, "field", (const struct sockaddr *)&s6);
}
static void add_obj(struct evbuf *b)
{
	ev_obj(b, "field");
	ev_int(b, "inner", 1);
	ev_close(b);
}
static void add_arr(struct evbuf *b)
{
	ev_arr(b, "field");
	ev_int(b, NULL, 1);
	ev_close(b);
}
/* An element of an array of objects: {"name": ...} */
static void add_elem(struct evbuf *b)
{
	ev_obj(b, NULL);
	ev_str(b, "name", "X-Header");
	ev_close(b);
}
/* {"name": ..., "value": ...}: kept whole or not at all */
static void add_header(struct evbuf *b)
{
	ev_obj(b, NULL);
	ev_str(b, "name", "X-Header");
	ev_str(b, "value", "a value long enough for its name to fit alone");
	ev_close(b);
}

enum where { TOP, IN_OBJ, IN_ARR_OF_OBJ, IN_ARR };

/*
 * One case: the field of kind `add` is added at `where` after padding that
 * leaves `slack` bytes more (or, negative, fewer) than the field and the
 * record's closing need. It is kept with slack >= 0; with slack < 0 it and
 * every later field are left out, and the record ends with the marker.
 */
struct ov_case {
	const char *name;
	void (*add)(struct evbuf *b);
	enum where where;
	const char *path; /* JSON path of the field (or of the object holding it) */
};

static const struct ov_case ov_cases[] = {
    {"string", add_str, TOP, "$.field"},
    {"int", add_int, TOP, "$.field"},
    {"bool", add_bool, TOP, "$.field"},
    {"time", add_time, TOP, "$.field"},
    {"address", add_addr, TOP, "$.field"},
    {"object", add_obj, TOP, "$.field"},
    {"array", add_arr, TOP, "$.field"},
    {"string in an object", add_str, IN_OBJ, "$.o.field"},
    {"object in an object", add_obj, IN_OBJ, "$.o.field"},
    {"int in an array", add_int, IN_ARR, "$.a[1]"},
    {"array in an array", add_arr, IN_ARR, "$.a[1]"},
    {"object element of an array in an object", add_elem, IN_ARR_OF_OBJ, "$.o.a[1]"},
    {"name and value element of an array", add_header, IN_ARR_OF_OBJ, "$.o.a[1]"},
    {"name and value element of a top-level array", add_header, IN_ARR, "$.a[1]"},
    {"string in an object in an array in an object", add_str, IN_ARR_OF_OBJ, "$.o.a[1]"},
};

/* The record up to where the field goes, with a pad string of padlen bytes. */
static void ov_prefix(struct evbuf *b, const struct ov_case *c, size_t padlen)
{
	static char pad[EV_MAX_RECORD];
	memset(pad, 'p', sizeof(pad));
	ev_begin(b, "trap", 1700000000000000LL);
	ev_str(b, "before", "kept");
	ev_strn(b, "pad", pad, padlen);
	switch (c->where) {
	case TOP:
		break;
	case IN_OBJ:
		ev_obj(b, "o");
		ev_str(b, "first", "kept");
		break;
	case IN_ARR:
		ev_arr(b, "a");
		ev_str(b, NULL, "kept");
		break;
	case IN_ARR_OF_OBJ:
		ev_obj(b, "o");
		ev_arr(b, "a");
		ev_obj(b, NULL);
		ev_str(b, "name", "kept");
		ev_close(b);
		if (c->add == add_str)
			ev_obj(b, NULL);
		break;
	}
}

/*
 * After the field: with more, one more field in its container and more after
 * the containers are closed (none of which fits); then the end.
 */
static void ov_suffix(struct evbuf *b, const struct ov_case *c, int more)
{
	if (more)
		ev_int(b, "after", 7); /* in an array its key is dropped: element [2] */
	if (c->where == IN_ARR_OF_OBJ && c->add == add_str)
		ev_close(b);
	if (c->where == IN_ARR_OF_OBJ)
		ev_close(b);
	if (c->where != TOP)
		ev_close(b);
	if (more) {
		ev_str(b, "later", "small");
		ev_obj(b, "credentials");
		ev_str(b, "username", "root");
		ev_close(b);
	}
	ev_end(b);
}

/* How many bytes the field takes, and what the containers around it need to close. */
static size_t ov_need(const struct ov_case *c, size_t *used)
{
	struct evbuf b;
	evbuf_init(&b);
	ov_prefix(&b, c, 0);
	size_t before = b.len;
	int depth = b.depth;
	c->add(&b);
	size_t fl = b.len - before;
	/* an object or array added whole is closed already; its END was in the room */
	*used = before;
	evbuf_free(&b);
	return fl + 2 * (size_t)depth + MARK_LEN;
}

static int str_is(const char *got, const char *want)
{
	return got != NULL && strcmp(got, want) == 0;
}

/* A failed check names its case. */
#define OV_CHECK(cond)                                                                         \
	do {                                                                                   \
		if (!(cond))                                                                   \
			fail_msg("%s, slack %d%s: %s", c->name, slack,                         \
			         more ? ", more after" : "", #cond);                           \
	} while (0)

static void test_overflow_each_field(void **state)
{
	for (size_t i = 0; i < sizeof(ov_cases) / sizeof(ov_cases[0]); i++) {
		const struct ov_case *c = &ov_cases[i];
		size_t used;
		size_t need = ov_need(c, &used);
		size_t exact = EV_MAX_RECORD - used - need; /* the pad that leaves just room */
		/* -40: only the name of a name and value element fits */
		for (int slack = -40; slack <= 1; slack++) {
			if (slack < -3 && (slack != -40 || c->add != add_header))
				continue;
			for (int more = 0; more <= 1; more++) {
				struct evbuf b;
				evbuf_init(&b);
				ov_prefix(&b, c, (size_t)((long)exact - slack));
				c->add(&b);
				ov_suffix(&b, c, more);
				assert_record(&b);
				const char *trunc = json_at(&b, 0, b.len, "$.truncated");
				const char *got = json_at(&b, 0, b.len, c->path);
				OV_CHECK(str_is(json_at(&b, 0, b.len, "$.before"), "kept"));
				/*
				 * It is kept exactly when there is room for it, but for a
				 * field in an element object that the next field leaves
				 * not whole: the element goes with it.
				 */
				int kept = slack >= 0 && !(more && c->where == IN_ARR_OF_OBJ &&
				                           c->add == add_str);
				if (kept)
					OV_CHECK(got != NULL);
				else
					OV_CHECK(got == NULL);
				if (slack >= 0 && !more) {
					/* the record is full but nothing was left out */
					OV_CHECK(trunc == NULL);
					evbuf_free(&b);
					continue;
				}
				OV_CHECK(str_is(trunc, "1"));
				/* the marker is the record's last field */
				OV_CHECK(b.data[b.len - 1] == 1);
				OV_CHECK(!memcmp(b.data + b.len - 1 - 9, "truncated", 9));
				/* nothing after what was left out, anywhere */
				OV_CHECK(json_at(&b, 0, b.len, "$.later") == NULL);
				OV_CHECK(json_at(&b, 0, b.len, "$.credentials") == NULL);
				OV_CHECK(json_at(&b, 0, b.len, "$.after") == NULL);
				OV_CHECK(json_at(&b, 0, b.len, "$.o.after") == NULL);
				OV_CHECK(json_at(&b, 0, b.len, "$.a[2]") == NULL);
				OV_CHECK(json_at(&b, 0, b.len, "$.o.a[2]") == NULL);
				/* what came before it, in its containers, is kept */
				if (c->where == IN_OBJ)
					OV_CHECK(
					    str_is(json_at(&b, 0, b.len, "$.o.first"), "kept"));
				if (c->where == IN_ARR)
					OV_CHECK(
					    str_is(json_at(&b, 0, b.len, "$.a[0]"), "kept"));
				if (c->where == IN_ARR_OF_OBJ)
					OV_CHECK(str_is(json_at(&b, 0, b.len, "$.o.a[0].name"),
					                "kept"));
				/* no object or array left empty by the cut */
				OV_CHECK(strstr(json_at(&b, 0, b.len, "$"), "{}") == NULL);
				OV_CHECK(strstr(json_at(&b, 0, b.len, "$"), "[]") == NULL);
				evbuf_free(&b);
			}
		}
	}
}

/* A large field that does not fit, then smaller ones that would: none are written. */
static void test_overflow_no_later_field(void **state)
{
	static char big[40000];
	memset(big, 'v', sizeof(big));
	struct evbuf b;
	evbuf_init(&b);
	ev_begin(&b, "trap", 1);
	ev_obj(&b, "http");
	ev_arr(&b, "request_headers");
	for (int i = 0; i < 3; i++) {
		ev_obj(&b, NULL);
		ev_str(&b, "name", "X-Big");
		ev_strn(&b, "value", big, sizeof(big)); /* the second one does not fit */
		ev_close(&b);
	}
	ev_close(&b);
	ev_str(&b, "url", "/after");
	ev_obj(&b, "empty_later");
	ev_close(&b);
	ev_close(&b);
	ev_obj(&b, "credentials");
	ev_str(&b, "username", "root");
	ev_close(&b);
	ev_end(&b);
	assert_record(&b);
	assert_string_equal(json_at(&b, 0, b.len, "$.http.request_headers[0].name"), "X-Big");
	assert_non_null(json_at(&b, 0, b.len, "$.http.request_headers[0].value"));
	/* the second header does not fit whole: neither its name nor its value */
	assert_null(json_at(&b, 0, b.len, "$.http.request_headers[1]"));
	assert_null(json_at(&b, 0, b.len, "$.http.request_headers[2]"));
	assert_null(json_at(&b, 0, b.len, "$.http.url"));
	assert_null(json_at(&b, 0, b.len, "$.http.empty_later"));
	assert_null(json_at(&b, 0, b.len, "$.credentials"));
	assert_string_equal(json_at(&b, 0, b.len, "$.truncated"), "1");
	evbuf_free(&b);
}

/* Nesting past EV_MAX_DEPTH truncates like a field that does not fit. */
static void test_overflow_depth(void **state)
{
	struct evbuf b;
	evbuf_init(&b);
	ev_begin(&b, "x", 1);
	for (int i = 0; i < EV_MAX_DEPTH + 2; i++) {
		ev_obj(&b, "o");
		ev_int(&b, "level", i);
	}
	for (int i = 0; i < EV_MAX_DEPTH + 2; i++) {
		ev_int(&b, "after", i);
		ev_close(&b);
	}
	ev_str(&b, "later", "x");
	ev_end(&b);
	assert_record(&b);
	assert_string_equal(json_at(&b, 0, b.len, "$.o.o.o.o.o.o.o.level"), "6");
	assert_null(json_at(&b, 0, b.len, "$.o.o.o.o.o.o.o.after"));
	assert_null(json_at(&b, 0, b.len, "$.o.after"));
	assert_null(json_at(&b, 0, b.len, "$.later"));
	assert_string_equal(json_at(&b, 0, b.len, "$.truncated"), "1");
	evbuf_free(&b);
}

/* A record that fits has no marker; one after a truncated one starts clean. */
static void test_overflow_next_record(void **state)
{
	static char big[EV_MAX_RECORD + 10];
	memset(big, 'x', sizeof(big));
	struct evbuf b;
	evbuf_init(&b);
	ev_begin(&b, "x", 1);
	ev_strn(&b, "huge", big, sizeof(big)); /* longer than any record */
	ev_str(&b, "small", "y");
	ev_end(&b);
	size_t first = b.len;
	ev_begin(&b, "x", 1);
	ev_str(&b, "small", "y");
	ev_end(&b);
	assert_int_equal(ev_record_check(b.data, first), (long)first);
	assert_int_equal(ev_record_check(b.data + first, b.len - first), (long)(b.len - first));
	assert_null(json_at(&b, 0, first, "$.huge"));
	assert_null(json_at(&b, 0, first, "$.small"));
	assert_string_equal(json_at(&b, 0, first, "$.truncated"), "1");
	assert_string_equal(json_at(&b, first, b.len - first, "$.small"), "y");
	assert_null(json_at(&b, first, b.len - first, "$.truncated"));
	evbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_escaping),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_unique_ids),
	    cmocka_unit_test(test_record_limit),
	    cmocka_unit_test(test_overflow_each_field),
	    cmocka_unit_test(test_overflow_no_later_field),
	    cmocka_unit_test(test_overflow_depth),
	    cmocka_unit_test(test_overflow_next_record),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Event records: build, check, find, and render to JSON (escaping hostile bytes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip),    cmocka_unit_test(test_escaping),
	    cmocka_unit_test(test_malformed),    cmocka_unit_test(test_unique_ids),
	    cmocka_unit_test(test_record_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

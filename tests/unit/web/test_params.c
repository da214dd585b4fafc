#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "capture/capture_int.h"
#include "web/params.h"

static void check_str(const char *body, const char *key, const char *want)
{
	char *v = web_json_get_str(body, strlen(body), key);
	if (want == NULL) {
		assert_null(v);
		return;
	}
	assert_non_null(v);
	assert_string_equal(v, want);
	free(v);
}

static void test_json_get_str(void **state)
{
	check_str("{\"username\": \"admin\", \"password\": \"s3cret\"}", "username", "admin");
	check_str("{\"username\": \"admin\", \"password\": \"s3cret\"}", "password", "s3cret");
	check_str("{ \"a\":\"x\\\"y\\\\z\\n\" }", "a", "x\"y\\z\n");
	check_str("{\"a\": \"\\u00e9\\u20ac\"}", "a", "\xc3\xa9\xe2\x82\xac");
	check_str("{\"a\": \"x\"}", "b", NULL);
	check_str("{\"a\": 5, \"b\": \"x\"}", "b", NULL); /* only string values */
	check_str("{\"a\": \"unterminated", "a", NULL);
	check_str("{\"a\": \"\\u12\"}", "a", NULL);       /* short escape */
	check_str("{\"a\": \"\\", "a", NULL);             /* escape at the end */
	check_str("{\"a\": \"line\nbreak\"}", "a", NULL); /* raw control character */
	check_str("no object", "a", NULL);
	check_str("", "a", NULL);
	/* the length given is the end, whatever follows */
	const char *body = "{\"a\": \"xy\"}";
	assert_null(web_json_get_str(body, 8, "a"));
}

static void test_parse_int(void **state)
{
	int64_t v;
	assert_int_equal(web_parse_int("42", 1, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(web_parse_int("0", 1, 100, &v), -1);
	assert_int_equal(web_parse_int("101", 1, 100, &v), -1);
	assert_int_equal(web_parse_int("4x", 1, 100, &v), -1);
	assert_int_equal(web_parse_int("", 1, 100, &v), -1);
	assert_int_equal(web_parse_int(NULL, 1, 100, &v), -1);
	assert_int_equal(web_parse_int("99999999999999999999", 0, INT64_MAX, &v), -1);
}

static void test_parse_time(void **state)
{
	int64_t v;
	assert_int_equal(web_parse_time("1479982108", &v), 0);
	assert_int_equal(v, 1479982108000000LL);
	assert_int_equal(web_parse_time("1479982108250000", &v), 0); /* microseconds */
	assert_int_equal(v, 1479982108250000LL);
	assert_int_equal(web_parse_time("2016-11-24T10:08:28Z", &v), 0);
	assert_int_equal(v, 1479982108000000LL);
	assert_int_equal(web_parse_time("2016-11-24", &v), 0);
	assert_int_equal(v, 1479945600000000LL);
	assert_int_equal(web_parse_time("2016-11-24T10:08:28+01:00", &v), -1);
	assert_int_equal(web_parse_time("yesterday", &v), -1);
	/* seconds whose microseconds do not fit: refused, not wrapped */
	assert_int_equal(web_parse_time("10000000000000", &v), -1);
	assert_int_equal(web_parse_time("100000000000000", &v), -1);
	assert_int_equal(web_parse_time("253402300799", &v), 0);
	assert_int_equal(v, 253402300799LL * 1000000);
	assert_int_equal(web_parse_time("253402300800", &v), -1);
	assert_int_equal(web_parse_time("253402300799000000", &v), 0);
	assert_int_equal(web_parse_time("253402300800000000", &v), -1);
}

static void test_capture_parse_time(void **state)
{
	int64_t v;
	assert_int_equal(capture_parse_time("@1479982108.25", &v), 0);
	assert_int_equal(v, 1479982108250000000LL);
	assert_int_equal(capture_parse_time("2016-11-24T10:08:28Z", &v), 0);
	assert_int_equal(v, 1479982108000000000LL);
	assert_int_equal(capture_parse_time("2016-11-24 11:08:28+01:00", &v), 0);
	assert_int_equal(v, 1479982108000000000LL);
	assert_int_equal(capture_parse_time("2h", &v), 0);
	assert_true(v > 0);
	/* out of what nanoseconds since 1970 can hold: refused */
	assert_int_equal(capture_parse_time("@1e300", &v), -1);
	assert_int_equal(capture_parse_time("99999999999999999999", &v), -1);
	assert_int_equal(capture_parse_time("9999-12-31", &v), -1);
	assert_int_equal(capture_parse_time("1960-01-01", &v), -1);
	assert_int_equal(capture_parse_time("99999999999999999999d", &v), -1);
	assert_int_equal(capture_parse_time("2026-11-22T22:40:1e300Z", &v), -1);
	assert_int_equal(capture_parse_time("1.2.3h", &v), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_get_str),
	    cmocka_unit_test(test_parse_int),
	    cmocka_unit_test(test_parse_time),
	    cmocka_unit_test(test_capture_parse_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

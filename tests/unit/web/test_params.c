#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

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

/* The web's times are common/timeparse.h's, in microseconds. */
static void test_parse_time(void **state)
{
	int64_t v;
	assert_int_equal(web_parse_time("1479982108", &v), 0);
	assert_int_equal(v, 1479982108000000LL);
	assert_int_equal(web_parse_time("1479982108250000", &v), 0); /* microseconds */
	assert_int_equal(v, 1479982108250000LL);
	assert_int_equal(web_parse_time("2016-11-24T10:08:28Z", &v), 0);
	assert_int_equal(v, 1479982108000000LL);
	assert_int_equal(web_parse_time("2016-11-24T11:08:28+01:00", &v), 0);
	assert_int_equal(v, 1479982108000000LL);
	assert_int_equal(web_parse_time("2016-11-24", &v), 0);
	assert_int_equal(v, 1479945600000000LL);
	assert_int_equal(web_parse_time("2h", &v), 0);
	assert_true(v > 1479982108000000LL);
	assert_int_equal(web_parse_time("yesterday", &v), -1);
	/* seconds whose microseconds would not fit: refused, not wrapped */
	assert_int_equal(web_parse_time("10000000000000", &v), -1);
	assert_int_equal(web_parse_time("253402300799", &v), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_get_str),
	    cmocka_unit_test(test_parse_int),
	    cmocka_unit_test(test_parse_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

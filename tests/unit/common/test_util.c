/*
 * The small shared parsers and helpers of util.c: durations (config keys,
 * remote sink options, ingest's --db-wait) and error formatting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "common/util.h"

static void test_duration(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		long max, want; /* want -1: refused */
	} t[] = {
	    {"0", 1000, 0},           {"2", 10000, 2000},      {"2s", 10000, 2000},
	    {"1.5s", 10000, 1500},    {"1500ms", 10000, 1500}, {"5m", 1000000, 300000},
	    {"1h", 3600000, 3600000}, {"1h", 3599999, -1}, /* past the maximum */
	    {"601", 600000, -1},      {"600", 600000, 600000}, {"", 1000, -1},
	    {"s", 1000, -1},          {"-1", 1000, -1},        {"2 s", 10000, -1},
	    {"2d", 1000000000, -1},   {"2sec", 10000, -1},     {"nan", 1000, -1},
	    {"inf", 1000, -1},        {"1e400", 1000, -1},
	};
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		long v = -7;
		int rc = parse_duration_ms(t[i].in, t[i].max, &v);
		if (t[i].want < 0) {
			if (rc != -1)
				fail_msg("'%s' (max %ld) accepted as %ld", t[i].in, t[i].max,
				         v);
			if (v != -7)
				fail_msg("'%s': output written although refused", t[i].in);
		} else if (rc != 0 || v != t[i].want) {
			fail_msg("'%s' (max %ld): rc %d, %ld, not %ld", t[i].in, t[i].max, rc,
			         v, t[i].want);
		}
	}
}

static void test_set_err_code(void **state)
{
	(void)state;
	char err[16];
	assert_int_equal(set_err_code(-EIO, err, sizeof(err), "%s: %d", "disk", 5), -EIO);
	assert_string_equal(err, "disk: 5");
	/* truncated to the buffer, still terminated */
	assert_int_equal(set_err_code(-1, err, sizeof(err), "%s", "a much longer message"), -1);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	/* no buffer: only the code */
	assert_int_equal(set_err_code(3, NULL, 0, "%s", "x"), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_duration),
	    cmocka_unit_test(test_set_err_code),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

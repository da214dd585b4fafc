#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/timeparse.h"

#define NS 1000000000LL
/* 2016-11-24T10:08:28Z */
#define T0 1479982108LL
static const int64_t now = 1700000000LL * NS;

static void ok(const char *s, int64_t want)
{
	int64_t v = -1;
	if (time_parse_ns(s, now, &v) != 0)
		fail_msg("'%s' refused", s);
	if (v != want)
		fail_msg("'%s': %lld, not %lld", s, (long long)v, (long long)want);
}

static void refused(const char *s)
{
	int64_t v;
	if (time_parse_ns(s, now, &v) != -1)
		fail_msg("'%s' accepted: %lld", s, (long long)v);
}

static void test_forms(void **state)
{
	ok("now", now);
	ok("1479982108", T0 * NS);
	ok("@1479982108", T0 * NS);
	ok("1479982108.25", T0 * NS + 250000000);
	ok("@1479982108.123456789", T0 * NS + 123456789); /* exact */
	ok("1479982108250000", T0 * NS + 250000000);      /* microseconds */
	ok("0", 0);
	ok("2016-11-24", (T0 - 36508) * NS);
	ok("2016-11-24T10:08", (T0 - 28) * NS);
	ok("2016-11-24 10:08:28", T0 * NS);
	ok("2016-11-24T10:08:28Z", T0 * NS);
	ok("2016-11-24T10:08:28.5Z", T0 * NS + 500000000);
	ok("2016-11-24T11:08:28+01:00", T0 * NS);
	ok("2016-11-24T09:08:28-0100", T0 * NS);
	ok("90s", now - 90 * NS);
	ok("30m", now - 1800 * NS);
	ok("2h", now - 7200 * NS);
	ok("1.5h", now - 5400 * NS);
	ok("7d", now - 7 * 86400 * NS);
}

static void test_refused(void **state)
{
	refused("");
	refused("yesterday");
	refused("2016-11-24T25:00");
	refused("2016-13-01");
	refused("2016-11-24T10:08:28+25:00");
	refused("2016-11-24T10:08:28Zjunk");
	refused("16-11-24");
	refused("1.2.3h");
	refused("h");
	refused("@2h");
	refused(".");
	/* out of what nanoseconds since 1970 hold (2262): refused, not wrapped */
	refused("99999999999999999999");
	refused("@1e300");
	refused("9999-12-31");
	refused("1960-01-01");
	refused("10000000000000");
	refused("9300000000000000"); /* microseconds past 2262 */
	refused("99999999999999999999d");
	refused("20000d"); /* before 1970 */
	refused("2016-11-24T10:08:1e300Z");
	refused("2016-11-24T10:08:61Z");
	refused("2026-11-22 22:40:30.5+{");
	refused("2026-11-22 22:40:30.5+0");
	refused("2026-11-22 22:40:30.5+01:");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_forms),
	    cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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

/* A day past its month's end is refused, not carried into the next month
 * (2024-02-31 is no 2024-03-02); leap years follow the Gregorian rule. */
static void test_impossible_dates(void **state)
{
	(void)state;
	refused("2024-02-31");
	refused("2024-02-30");
	refused("2023-02-29"); /* not a leap year */
	refused("2100-02-29"); /* divisible by 100, not by 400 */
	refused("2024-04-31");
	refused("2024-06-31T10:00Z");
	refused("2024-09-31 00:00:00");
	refused("2024-11-31T23:59:59+01:00");
	refused("2024-01-32");
	refused("2024-01-00");
	ok("2024-02-29", (int64_t)time_utc(2024, 2, 29, 0, 0, 0) * NS); /* leap */
	ok("2000-02-29", (int64_t)time_utc(2000, 2, 29, 0, 0, 0) * NS); /* divisible by 400 */
	ok("2023-02-28T23:59:59Z", (int64_t)time_utc(2023, 2, 28, 23, 59, 59) * NS);
	ok("2024-04-30", (int64_t)time_utc(2024, 4, 30, 0, 0, 0) * NS);
	ok("2024-12-31T23:59:59Z", (int64_t)time_utc(2024, 12, 31, 23, 59, 59) * NS);
	ok("2024-01-31", (int64_t)time_utc(2024, 1, 31, 0, 0, 0) * NS);
	/* every day of every month of a few years: the last is taken, the one after is not */
	static const int years[] = {1970, 1999, 2000, 2023, 2024, 2100, 2200};
	for (size_t i = 0; i < sizeof(years) / sizeof(years[0]); i++)
		for (int m = 1; m <= 12; m++) {
			struct tm tm;
			memset(&tm, 0, sizeof(tm));
			tm.tm_year = years[i] - 1900;
			tm.tm_mon = m; /* day 0 of the next month: this one's last day */
			tm.tm_mday = 0;
			timegm(&tm);
			int last = tm.tm_mday;
			char s[32];
			snprintf(s, sizeof(s), "%04d-%02d-%02d", years[i], m, last);
			ok(s, (int64_t)time_utc(years[i], m, last, 0, 0, 0) * NS);
			snprintf(s, sizeof(s), "%04d-%02d-%02d", years[i], m, last + 1);
			if (last < 31)
				refused(s);
		}
}

/* time_utc agrees with timegm: every day from 1600 to 2400 at a few times,
 * and fields out of range, which carry as timegm's do. */
static void test_time_utc(void **state)
{
	(void)state;
	static const int fields[][6] = {
	    {1970, 1, 1, 0, 0, 0},     {1969, 12, 31, 23, 59, 59}, {2000, 2, 29, 12, 0, 0},
	    {2026, 11, 23, 8, 11, 26}, {2024, 13, 1, 0, 0, 0},     {2024, 0, 1, 0, 0, 0},
	    {2024, -13, 1, 0, 0, 0},   {2023, 2, 29, 0, 0, 0},     {2023, 1, 0, 24, 60, 61},
	    {2023, 25, -40, -3, 0, 0}, {1600, 3, 1, 0, 0, 0},      {9999, 12, 31, 23, 59, 59},
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const int *f = fields[i];
		struct tm tm;
		memset(&tm, 0, sizeof(tm));
		tm.tm_year = f[0] - 1900;
		tm.tm_mon = f[1] - 1;
		tm.tm_mday = f[2];
		tm.tm_hour = f[3];
		tm.tm_min = f[4];
		tm.tm_sec = f[5];
		int64_t want = (int64_t)timegm(&tm);
		int64_t got = time_utc(f[0], f[1], f[2], f[3], f[4], f[5]);
		if (got != want)
			fail_msg("%d-%d-%d %d:%d:%d: %lld, not %lld", f[0], f[1], f[2], f[3],
			         f[4], f[5], (long long)got, (long long)want);
	}
	for (int y = 1600; y <= 2400; y++)
		for (int m = 1; m <= 12; m++)
			for (int d = 1; d <= 31; d++) {
				struct tm tm;
				memset(&tm, 0, sizeof(tm));
				tm.tm_year = y - 1900;
				tm.tm_mon = m - 1;
				tm.tm_mday = d;
				tm.tm_hour = d % 24;
				tm.tm_min = m * 4;
				tm.tm_sec = y % 60;
				int64_t want = (int64_t)timegm(&tm);
				int64_t got = time_utc(y, m, d, d % 24, m * 4, y % 60);
				if (got != want)
					fail_msg("%d-%02d-%02d: %lld, not %lld", y, m, d,
					         (long long)got, (long long)want);
			}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_forms),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_impossible_dates),
	    cmocka_unit_test(test_time_utc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

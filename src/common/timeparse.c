#include "timeparse.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define NS 1000000000LL
/* Seconds since the epoch whose nanoseconds, plus a minute, fit in an int64 (2262-04-11). */
#define MAX_SECONDS 9223371900LL
#define MICROSECONDS_ABOVE 100000000000000LL

int64_t time_now_ns(void)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	return (int64_t)now.tv_sec * NS + now.tv_nsec;
}

/* Days from 1970-01-01 to year-month-01 of the proleptic Gregorian calendar,
 * month 1..12 (the civil-from-days algorithm run backwards: years start in
 * March, so the leap day is the last day of a year). */
static int64_t days_to_month(int64_t year, int month)
{
	year -= month <= 2;
	int64_t era = (year >= 0 ? year : year - 399) / 400;
	int64_t yoe = year - era * 400;                               /* 0..399 */
	int64_t doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5; /* 0..365 */
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;          /* 0..146096 */
	return era * 146097 + doe - 719468;
}

/*
 * Seconds since the epoch of a UTC date and time, as timegm() gives them
 * (fields out of range carry into the next larger), without the time zone
 * machinery timegm() starts: no read of /etc/localtime.
 */
int64_t time_utc(int year, int month, int day, int hour, int min, int sec)
{
	int64_t y = year, m = (int64_t)month - 1;
	y += m >= 0 ? m / 12 : -((11 - m) / 12);
	m -= (y - year) * 12;
	int64_t days = days_to_month(y, (int)m + 1) + day - 1;
	return days * 86400 + (int64_t)hour * 3600 + (int64_t)min * 60 + sec;
}

/* Digits, then optionally '.' and digits: whole seconds (up to max) and
 * nanoseconds, exactly (a double would round them). The end in *end. */
static int decimal(const char *t, int64_t max, int64_t *secs, int64_t *ns, const char **end)
{
	int64_t s = 0, f = 0;
	int digits = 0, frac = 0;
	const char *p = t;
	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		s = s * 10 + (*p - '0');
		if (s > max)
			return -1;
	}
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			if (frac < 9) {
				f = f * 10 + (*p - '0');
				frac++;
			}
	if (digits == 0)
		return -1;
	for (; frac < 9; frac++)
		f *= 10;
	*secs = s;
	*ns = f;
	*end = p;
	return 0;
}

/* Exactly n digits: their value, or -1. */
static int digits(const char *p, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* The days of a month, 1..12, of the proleptic Gregorian calendar. */
static int month_days(int year, int month)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	return days[month - 1] + (month == 2 && leap);
}

static int date_time(const char *t, int64_t *out)
{
	int y = digits(t, 4), mo = -1, d = -1, h = 0, mi = 0;
	int64_t sec = 0, frac = 0;
	const char *p = t + 4;
	if (y < 0 || *p != '-' || (mo = digits(p + 1, 2)) < 1 || mo > 12 || p[3] != '-' ||
	    (d = digits(p + 4, 2)) < 1 || d > month_days(y, mo))
		return -1; /* no 2024-02-30 turned into March */
	p += 6;
	if (*p == 'T' || *p == ' ') {
		if ((h = digits(p + 1, 2)) < 0 || h > 23 || p[3] != ':' ||
		    (mi = digits(p + 4, 2)) < 0 || mi > 59)
			return -1;
		p += 6;
		if (*p == ':') {
			const char *e;
			if (p[1] < '0' || p[1] > '9' || decimal(p + 1, 60, &sec, &frac, &e) < 0)
				return -1;
			p = e;
		}
	}
	int64_t off = 0;
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh = digits(p + 1, 2), om;
		if (oh < 0 || oh > 23)
			return -1;
		const char *q = p + 3; /* p[1], p[2] were digits: p[3] is in the string */
		if (*q == ':')
			q++;
		om = digits(q, 2);
		if (om < 0 || om > 59)
			return -1;
		off = (int64_t)(oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
		p = q + 2;
	}
	if (*p)
		return -1;
	int64_t secs = time_utc(y, mo, d, h, mi, 0) - off + sec;
	if (secs < 0 || secs > MAX_SECONDS)
		return -1;
	*out = secs * NS + frac;
	return 0;
}

int time_parse_ns(const char *s, int64_t now_ns, int64_t *out)
{
	if (s == NULL || *s == '\0')
		return -1;
	if (!strcmp(s, "now")) {
		*out = now_ns;
		return 0;
	}
	const char *t = s[0] == '@' ? s + 1 : s;
	size_t n = strlen(t);
	int64_t secs, ns;
	const char *end;
	if (strspn(t, "0123456789.") == n) {
		/* unix seconds, or microseconds (a whole number above 10^14) */
		if (s[0] != '@' && !strchr(t, '.') && n >= 15 &&
		    decimal(t, MAX_SECONDS * 1000000, &secs, &ns, &end) == 0 &&
		    secs > MICROSECONDS_ABOVE) {
			*out = secs * 1000;
			return 0;
		}
		if (decimal(t, MAX_SECONDS, &secs, &ns, &end) < 0 || *end)
			return -1;
		*out = secs * NS + ns;
		return 0;
	}
	if (n >= 2 && strchr("smhd", t[n - 1]) && t == s) {
		static const int64_t unit[] = {1, 60, 3600, 86400};
		int64_t mul = unit[strchr("smhd", t[n - 1]) - "smhd"];
		if (decimal(t, MAX_SECONDS, &secs, &ns, &end) < 0 || end != t + n - 1)
			return -1;
		/* an age reaching before 1970 is no time */
		if (secs > now_ns / NS / mul)
			return -1;
		int64_t age = secs * mul * NS + ns / 1000 * mul * 1000;
		if (age > now_ns)
			return -1;
		*out = now_ns - age;
		return 0;
	}
	return date_time(t, out);
}

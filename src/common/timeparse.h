/*
 * Times as analysts write them, on the command line (--since, --until) and
 * in the web API (since, until): one parser for both.
 *
 *   "now"
 *   an age, that long ago: "90s", "30m", "2h", "7d", "1.5h"
 *   unix seconds: "1479982108", "1479982108.25", "@1479982108" (a fraction
 *     is exact to the nanosecond)
 *   unix microseconds: a whole number above 10^14 ("1479982108250000")
 *   a date and time, UTC unless an offset is given: "2026-11-22",
 *     "2026-11-22T22:40", "2026-11-22 22:40:05.5", "2026-11-22T22:40:05Z",
 *     "2026-11-22T23:40:05+01:00" (or "+0100")
 *
 * The result is nanoseconds since the epoch, from 1970 to 2262 (what an
 * int64 holds); anything else, or outside that, is -1.
 */
#ifndef SINKTRAP_TIMEPARSE_H
#define SINKTRAP_TIMEPARSE_H

#include <stdint.h>

/* now_ns: the present, for "now" and ages. 0, or -1. */
int time_parse_ns(const char *s, int64_t now_ns, int64_t *out);

/* Seconds since the epoch of a UTC date and time given by its fields
 * (month 1-12; out-of-range fields carry over, as timegm does). */
int64_t time_utc(int year, int month, int day, int hour, int min, int sec);

/* The present in nanoseconds since the epoch (CLOCK_REALTIME). */
int64_t time_now_ns(void);

#endif

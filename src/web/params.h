/*
 * What a client sends, parsed: the sign-in body and the API's numbers and
 * times. Reached before authentication (the body) or with any query string:
 * every input gives a value or -1/NULL, never undefined behaviour
 * (fuzz/fuzz_params.c).
 */
#ifndef SINKTRAP_WEB_PARAMS_H
#define SINKTRAP_WEB_PARAMS_H

#include <stddef.h>
#include <stdint.h>

/* The string value of key in a flat JSON object, malloced; NULL if absent,
 * not a string, or the object is malformed before it. */
char *web_json_get_str(const char *s, size_t len, const char *key);

/* A decimal integer in [min, max]: 0, or -1. */
int web_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);

/* A time as common/timeparse.h reads them (unix seconds or microseconds,
 * a date and time, an age such as "2h", "now"), in microseconds since the
 * epoch. 0, or -1. */
int web_parse_time(const char *s, int64_t *usec);

#endif

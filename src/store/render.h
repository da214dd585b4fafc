/*
 * Rendering event records (see common/event.h) as EVE-style JSON. Strings
 * from the network may hold any bytes: valid UTF-8 is kept, control
 * characters and bytes that are not UTF-8 are escaped as \u00XX, so the
 * output is always valid JSON and no byte is lost.
 */
#ifndef SINKTRAP_STORE_RENDER_H
#define SINKTRAP_STORE_RENDER_H

#include <stddef.h>
#include <stdint.h>

struct strbuf {
	char *data; /* Malloced. */
	size_t len, cap;
};

/* Length of a valid UTF-8 sequence at p (n bytes left), or 0: overlong forms, surrogates
 * and code points past U+10FFFF are not UTF-8. */
size_t utf8_len(const uint8_t *p, size_t n);
/* 1 when p[0..n) is UTF-8 with no NUL: text a database column and a JSON
 * string carry as the same bytes. */
int text_plain(const uint8_t *p, size_t n);
/* p[0..n) into s as such text: a NUL or a byte that is not UTF-8 becomes
 * U+FFFD (as the PostgreSQL columns have it). */
void text_clean(struct strbuf *s, const uint8_t *p, size_t n);

void strbuf_init(struct strbuf *s);
void strbuf_free(struct strbuf *s);
void strbuf_reset(struct strbuf *s);
void strbuf_put(struct strbuf *s, const void *p, size_t n);
void strbuf_putc(struct strbuf *s, char c);
void strbuf_puts(struct strbuf *s, const char *str);
void strbuf_printf(struct strbuf *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A JSON string literal (with quotes) for n bytes of p. */
void strbuf_json_str(struct strbuf *s, const uint8_t *p, size_t n);
/* "2026-11-22T21:40:00.123456+0000" */
void strbuf_time(struct strbuf *s, int64_t usec);

/*
 * Append the record as one JSON object (no newline). sensor, when not NULL,
 * is added as "host" after "event_type". The record must have passed
 * ev_record_check().
 */
void render_json(const uint8_t *rec, size_t len, const char *sensor, struct strbuf *out);

/*
 * An emitter sink (emit.h) for a worker run alone in the foreground: each
 * record as one JSON line on standard output.
 */
void render_sink_stdout(const uint8_t *rec, size_t len, void *arg);

#endif

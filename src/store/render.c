#include "render.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/event.h"
#include "../common/util.h"

void strbuf_init(struct strbuf *s)
{
	memset(s, 0, sizeof(*s));
}

void strbuf_free(struct strbuf *s)
{
	free(s->data);
	memset(s, 0, sizeof(*s));
}

void strbuf_reset(struct strbuf *s)
{
	s->len = 0;
}

static void grow(struct strbuf *s, size_t n)
{
	if (s->len + n + 1 <= s->cap)
		return;
	size_t cap = s->cap ? s->cap : 1024;
	while (cap < s->len + n + 1)
		cap *= 2;
	s->data = xreallocarray(s->data, cap, 1);
	s->cap = cap;
}

void strbuf_put(struct strbuf *s, const void *p, size_t n)
{
	grow(s, n);
	memcpy(s->data + s->len, p, n);
	s->len += n;
	s->data[s->len] = '\0';
}

void strbuf_putc(struct strbuf *s, char c)
{
	strbuf_put(s, &c, 1);
}
void strbuf_puts(struct strbuf *s, const char *str)
{
	strbuf_put(s, str, strlen(str));
}

void strbuf_printf(struct strbuf *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	grow(s, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(s->data + s->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	s->len += (size_t)n;
}

size_t utf8_len(const uint8_t *p, size_t n)
{
	uint8_t c = p[0];
	size_t l;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if ((c & 0xE0) == 0xC0)
		l = 2, cp = c & 0x1F;
	else if ((c & 0xF0) == 0xE0)
		l = 3, cp = c & 0x0F;
	else if ((c & 0xF8) == 0xF0)
		l = 4, cp = c & 0x07;
	else
		return 0;
	if (n < l)
		return 0;
	for (size_t i = 1; i < l; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3F);
	}
	/* Overlong forms, surrogates and out-of-range code points are not UTF-8. */
	if ((l == 2 && cp < 0x80) || (l == 3 && cp < 0x800) || (l == 4 && cp < 0x10000) ||
	    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return l;
}

int text_plain(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t l = p[i] ? utf8_len(p + i, n - i) : 0;
		if (l == 0)
			return 0;
		i += l;
	}
	return 1;
}

void text_clean(struct strbuf *s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t l = p[i] ? utf8_len(p + i, n - i) : 0;
		if (l == 0) {
			strbuf_put(s, "\xef\xbf\xbd", 3);
			i++;
		} else {
			strbuf_put(s, p + i, l);
			i += l;
		}
	}
}

void strbuf_json_str(struct strbuf *s, const uint8_t *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	/* The worst case (every byte as \u00XX) fits: write straight into the buffer. */
	grow(s, n * 6 + 2);
	char *o = s->data + s->len;
	*o++ = '"';
	size_t i = 0;
	while (i < n) {
		uint8_t c = p[i];
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			*o++ = (char)c;
			i++;
			continue;
		}
		if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
			i++;
		} else if (c == '\n' || c == '\r' || c == '\t') {
			*o++ = '\\';
			*o++ = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
			i++;
		} else if (c >= 0x80 && utf8_len(p + i, n - i) > 1) {
			size_t l = utf8_len(p + i, n - i);
			memcpy(o, p + i, l);
			o += l;
			i += l;
		} else {
			memcpy(o, "\\u00", 4);
			o[4] = hex[c >> 4];
			o[5] = hex[c & 15];
			o += 6;
			i++;
		}
	}
	*o++ = '"';
	s->len = (size_t)(o - s->data);
	s->data[s->len] = '\0';
}

/* Civil date of a day count since 1970-01-01 (H. Hinnant's algorithm): no locale, no lock. */
static void civil(int64_t days, int *y, int *m, int *d)
{
	days += 719468;
	int64_t era = (days >= 0 ? days : days - 146096) / 146097;
	int64_t doe = days - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

static char *digits(char *p, unsigned v, int n)
{
	for (int i = n - 1; i >= 0; i--, v /= 10)
		p[i] = (char)('0' + v % 10);
	return p + n;
}

void strbuf_time(struct strbuf *s, int64_t usec)
{
	int64_t secs = usec / 1000000, frac = usec % 1000000;
	if (frac < 0) {
		frac += 1000000;
		secs--;
	}
	int64_t days = secs / 86400, rem = secs % 86400;
	if (rem < 0) {
		rem += 86400;
		days--;
	}
	int y, m, d;
	civil(days, &y, &m, &d);
	if (y < 0 || y > 9999) {
		/* Out of range for four digits: let the C library say it. */
		time_t t = (time_t)secs;
		struct tm tm;
		char buf[64];
		gmtime_r(&t, &tm);
		size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(buf + n, sizeof(buf) - n, ".%06ld+0000", (long)frac);
		strbuf_puts(s, buf);
		return;
	}
	char buf[32], *p = buf; /* 2026-11-22T21:40:00.123456+0000 */
	p = digits(p, (unsigned)y, 4);
	*p++ = '-';
	p = digits(p, (unsigned)m, 2);
	*p++ = '-';
	p = digits(p, (unsigned)d, 2);
	*p++ = 'T';
	p = digits(p, (unsigned)(rem / 3600), 2);
	*p++ = ':';
	p = digits(p, (unsigned)(rem / 60 % 60), 2);
	*p++ = ':';
	p = digits(p, (unsigned)(rem % 60), 2);
	*p++ = '.';
	p = digits(p, (unsigned)frac, 6);
	memcpy(p, "+0000", 5);
	p += 5;
	strbuf_put(s, buf, (size_t)(p - buf));
}

void render_json(const uint8_t *rec, size_t len, const char *sensor, struct strbuf *out)
{
	struct ev_reader r;
	struct ev_field f;
	int first[EV_MAX_DEPTH + 1];
	int is_arr[EV_MAX_DEPTH + 1];
	int depth = 0;

	first[0] = 1;
	is_arr[0] = 0;
	strbuf_putc(out, '{');
	ev_reader_init(&r, rec, len);
	while (ev_reader_next(&r, &f)) {
		if (f.kind == EV_END) {
			strbuf_putc(out, is_arr[depth] ? ']' : '}');
			depth--;
			continue;
		}
		if (!first[depth])
			strbuf_putc(out, ',');
		first[depth] = 0;
		if (!is_arr[depth]) {
			strbuf_json_str(out, (const uint8_t *)f.key, f.keylen);
			strbuf_putc(out, ':');
		}
		switch (f.kind) {
		case EV_STR:
			strbuf_json_str(out, f.str, f.strlen);
			if (sensor && depth == 0 && f.keylen == 10 &&
			    !memcmp(f.key, "event_type", 10)) {
				strbuf_puts(out, ",\"host\":");
				strbuf_json_str(out, (const uint8_t *)sensor, strlen(sensor));
			}
			break;
		case EV_INT: {
			char num[24], *e = num + sizeof(num), *q = e;
			uint64_t u = f.i < 0 ? (uint64_t)0 - (uint64_t)f.i : (uint64_t)f.i;
			do
				*--q = (char)('0' + u % 10);
			while ((u /= 10) != 0);
			if (f.i < 0)
				*--q = '-';
			strbuf_put(out, q, (size_t)(e - q));
			break;
		}
		case EV_BOOL:
			strbuf_puts(out, f.i ? "true" : "false");
			break;
		case EV_TIME:
			strbuf_putc(out, '"');
			strbuf_time(out, f.i);
			strbuf_putc(out, '"');
			break;
		case EV_OBJ:
		case EV_ARR:
			strbuf_putc(out, f.kind == EV_OBJ ? '{' : '[');
			depth++;
			first[depth] = 1;
			is_arr[depth] = f.kind == EV_ARR;
			break;
		default:
			break;
		}
	}
	strbuf_putc(out, '}');
}

void render_sink_stdout(const uint8_t *rec, size_t len, void *arg)
{
	struct strbuf sb;
	strbuf_init(&sb);
	render_json(rec, len, NULL, &sb);
	strbuf_putc(&sb, '\n');
	write_full(STDOUT_FILENO, sb.data, sb.len);
	strbuf_free(&sb);
}

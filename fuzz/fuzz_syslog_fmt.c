/*
 * The syslog formatters (RFC 5424, RFC 3164, CEF) on any event record that
 * passes the check, and the status reader on any bytes. Whatever the record
 * holds, a message is one line of valid UTF-8 without control characters:
 * hostile bytes never break the framing or the receiver's parser.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/event.h"
#include "store/render.h"
#include "store/sinkspec.h"
#include "store/status.h"
#include "store/syslog_fmt.h"

static size_t utf8_seq(const uint8_t *p, size_t n)
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
	if ((l == 2 && cp < 0x80) || (l == 3 && cp < 0x800) || (l == 4 && cp < 0x10000) ||
	    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return l;
}

static void check_line(const struct strbuf *s)
{
	const uint8_t *p = (const uint8_t *)s->data;
	size_t i = 0;
	while (i < s->len) {
		if (p[i] < 0x20 || p[i] == 0x7f)
			abort(); /* a control character would split or corrupt the message */
		size_t l = utf8_seq(p + i, s->len - i);
		if (l == 0)
			abort(); /* not UTF-8 */
		i += l;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	long rl = ev_record_check(data, size);
	if (rl > 0) {
		struct strbuf s;
		strbuf_init(&s);
		for (int f = SYSLOG_RFC5424; f <= SYSLOG_CEF; f++) {
			struct syslog_fmt fmt = {
			    f,  16, "sensor.example", "sinktrap", f ? "s=1|x" : NULL, "1.0",
			    42, 0,  f == SYSLOG_CEF};
			strbuf_reset(&s);
			syslog_fmt_render(&fmt, data, (size_t)rl, &s);
			check_line(&s);
		}
		strbuf_free(&s);
	}
	FILE *out = fopen("/dev/null", "w");
	if (out) {
		status_print((const char *)data, size, 0, out);
		fclose(out);
	}
	return 0;
}

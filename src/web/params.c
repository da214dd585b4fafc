#include "web/params.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeparse.h"
#include "store/render.h"

char *web_json_get_str(const char *s, size_t len, const char *key)
{
	const char *end = s + len;
	size_t kl = strlen(key);
	const char *p = s;
	while (p < end && *p != '{')
		p++;
	if (p >= end)
		return NULL;
	p++;
	for (;;) {
		while (p < end &&
		       (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == ','))
			p++;
		if (p >= end || *p != '"')
			return NULL;
		/* Parse a string (key or value). */
		char *str[2] = {NULL, NULL};
		for (int part = 0; part < 2; part++) {
			if (part == 1) {
				while (p < end &&
				       (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
					p++;
				if (p >= end || *p != ':')
					goto bad;
				p++;
				while (p < end &&
				       (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
					p++;
				if (p >= end || *p != '"')
					goto bad; /* only string values */
			}
			p++;
			struct strbuf b;
			strbuf_init(&b);
			while (p < end && *p != '"') {
				if ((unsigned char)*p < 0x20) {
					strbuf_free(&b);
					goto bad;
				}
				if (*p == '\\') {
					p++;
					if (p >= end) {
						strbuf_free(&b);
						goto bad;
					}
					char c = *p;
					if (c == 'n')
						c = '\n';
					else if (c == 't')
						c = '\t';
					else if (c == 'r')
						c = '\r';
					else if (c == 'b')
						c = '\b';
					else if (c == 'f')
						c = '\f';
					else if (c == 'u') {
						if (end - p < 5) {
							strbuf_free(&b);
							goto bad;
						}
						char hex[5] = {p[1], p[2], p[3], p[4], 0};
						char *e;
						unsigned long cp = strtoul(hex, &e, 16);
						if (*e) {
							strbuf_free(&b);
							goto bad;
						}
						p += 4;
						if (cp < 0x80)
							c = (char)cp;
						else if (cp < 0x800) {
							strbuf_putc(&b,
							            (char)(0xc0 | (cp >> 6)));
							c = (char)(0x80 | (cp & 0x3f));
						} else {
							strbuf_putc(&b,
							            (char)(0xe0 | (cp >> 12)));
							strbuf_putc(
							    &b,
							    (char)(0x80 | ((cp >> 6) & 0x3f)));
							c = (char)(0x80 | (cp & 0x3f));
						}
					}
					strbuf_putc(&b, c);
					p++;
					continue;
				}
				strbuf_putc(&b, *p++);
			}
			if (p >= end) {
				strbuf_free(&b);
				goto bad;
			}
			p++;
			strbuf_putc(&b, '\0');
			str[part] = b.data;
		}
		if (strlen(str[0]) == kl && !memcmp(str[0], key, kl)) {
			free(str[0]);
			return str[1];
		}
		free(str[0]);
		free(str[1]);
		continue;
	bad:
		free(str[0]);
		free(str[1]);
		return NULL;
	}
}

int web_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	if (s == NULL || *s == '\0')
		return -1;
	char *e;
	errno = 0;
	long long v = strtoll(s, &e, 10);
	if (*e || errno || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int web_parse_time(const char *s, int64_t *usec)
{
	int64_t ns;
	if (time_parse_ns(s, time_now_ns(), &ns) < 0)
		return -1;
	*usec = ns / 1000;
	return 0;
}

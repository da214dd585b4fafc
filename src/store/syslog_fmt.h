/*
 * Syslog messages for events: RFC 5424 (structured data with the event's
 * key fields, the EVE JSON as MSG), RFC 3164 (the JSON after the tag) and
 * ArcSight CEF (after an RFC 3164 header). Pure functions over a checked
 * record; no transport framing (the sink adds octet counts for TCP/TLS).
 *
 * Hostile bytes never escape their field: SD-PARAM values escape '"', '\'
 * and ']' (RFC 5424 6.3.3); CEF escapes '|' and '\' in the header and '\',
 * '=', CR and LF in extensions; control characters and bytes that are not
 * UTF-8 become U+FFFD there. The JSON keeps every byte (escaped as \u00XX),
 * so no output ever holds a raw control character or invalid UTF-8.
 */
#ifndef SINKTRAP_STORE_SYSLOG_FMT_H
#define SINKTRAP_STORE_SYSLOG_FMT_H

#include <stddef.h>
#include <stdint.h>

#include "render.h"

#define SYSLOG_SD_ID "sinktrap@32473"

struct syslog_fmt {
	int format;           /* enum syslog_format (sinkspec.h) */
	int facility;         /* 0..23 */
	const char *hostname; /* HOSTNAME; printable ASCII, no space. Borrowed. */
	const char *app_name; /* APP-NAME / TAG. Borrowed. */
	const char *sensor;   /* "host" in the JSON, dvchost in CEF; NULL = none. Borrowed. */
	const char *version;  /* product version in the CEF header. Borrowed. */
	int pid;              /* PROCID */
	int local_time;       /* RFC 3164 / CEF timestamps in local time (else UTC) */
	int no_hostname;      /* RFC 3164 / CEF over the host's own socket: no HOSTNAME */
};

/* Append one message for the record to out. */
void syslog_fmt_render(const struct syslog_fmt *f, const uint8_t *rec, size_t len,
                       struct strbuf *out);
/* Syslog severity (0..7) and CEF severity (0..10) of an event. */
int syslog_fmt_severity(const uint8_t *rec, size_t len);
int syslog_fmt_cef_severity(const uint8_t *rec, size_t len);

/* Escapers, exposed for the tests. */
void syslog_fmt_sd_value(struct strbuf *out, const uint8_t *p, size_t n);
void syslog_fmt_cef_header(struct strbuf *out, const uint8_t *p, size_t n);
void syslog_fmt_cef_value(struct strbuf *out, const uint8_t *p, size_t n);

#endif

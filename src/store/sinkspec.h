/*
 * The [events] keys of the configuration: syslog destinations with their
 * inline options, event-type filters, formats, facilities, sizes and the
 * PostgreSQL connection string. Pure parsing (no I/O, no connection), called
 * by the config machinery (common/config.c), which turns each error into a
 * "FILE:LINE: ..." line. The syntax is documented in docs/configuration.md.
 */
#ifndef SINKTRAP_STORE_SINKSPEC_H
#define SINKTRAP_STORE_SINKSPEC_H

#include <stddef.h>
#include <stdint.h>

#include "../common/config.h"

enum syslog_transport {
	SYSLOG_LOCAL, /* the host's /dev/log (datagram) */
	SYSLOG_UNIX,  /* unix://PATH: a datagram socket of one's choosing */
	SYSLOG_UDP,
	SYSLOG_TCP, /* octet-counted framing, RFC 6587 */
	SYSLOG_TLS, /* RFC 5425 */
};

enum syslog_format { SYSLOG_RFC5424 = 0, SYSLOG_RFC3164 = 1, SYSLOG_CEF = 2 };

/* One `syslog = DEST [option=value ...]` line. */
struct cfg_syslog {
	char *name; /* queue directory under state_dir/queue/. Malloced. */
	char *dest; /* DEST as written. Malloced. */
	int line;   /* where the config names it */
	enum syslog_transport transport;
	char *host; /* host name or address; the socket path for local/unix. Malloced. */
	int port;
	int format;            /* enum syslog_format, or -1: [events] syslog_format */
	int facility;          /* 0..23, or -1: [events] syslog_facility */
	struct cfg_strv types; /* event types sent; none = every type */
	char *ca; /* TLS: CA file that signs the server's certificate. Malloced or NULL. */
	char *cert, *key;  /* TLS: client certificate and key. Malloced or NULL. */
	char *servername;  /* TLS: name checked in the certificate (default: host). Malloced or
	                      NULL. */
	int verify;        /* TLS: check the server's certificate (default yes) */
	int64_t queue_max; /* bytes; 0 = [events] queue_max */
	int resend_ms; /* after a broken connection, what was sent this recently is sent again
	                */
};

/* Defaults of the [events] keys. */
void sinkspec_config_defaults(struct config *c);

/* libpq, opened at its first use (pq_shim.c): 0, or -1 and why not. */
int pq_ready(char *err, size_t errlen);
/*
 * Set one [events] key handled here (see sinkspec_handles). line is the
 * config line; check_files: also open the TLS files a destination names.
 * 0, or -1 with err filled (no FILE:LINE prefix).
 */
int sinkspec_config_set(struct config *c, const char *key, const char *value, int line,
                        int check_files, char *err, size_t errlen);
/* Whether sinkspec_config_set handles this [events] key. */
int sinkspec_handles(const char *key);
/* Free what sinkspec_config_set allocated. */
void sinkspec_config_free(struct config *c);
/* Exchange every [events] value of a and b (a reload moves the new ones in). */
void sinkspec_config_swap(struct config *a, struct config *b);
struct strbuf;
/* What the remote sinks of c are made from, as one string: equal strings, equal sinks. */
void sinkspec_remote_signature(const struct config *c, struct strbuf *b);

/* Parse one syslog destination line into out (zeroed first). 0 or -1 with err. */
int sinkspec_syslog_parse(const char *value, struct cfg_syslog *out, char *err, size_t errlen);
void sinkspec_syslog_free(struct cfg_syslog *s);
/* A deep copy (a delivery thread keeps its own: the config it came from may be freed). */
void sinkspec_syslog_copy(struct cfg_syslog *out, const struct cfg_syslog *in);
void sinkspec_types_copy(struct cfg_strv *out, const struct cfg_strv *in);
void sinkspec_types_free(struct cfg_strv *v);
/* "dns,trap,dns:forward" or "all"; every name must be a known event type. */
int sinkspec_types_parse(const char *value, struct cfg_strv *out, char *err, size_t errlen);
/* Whether a record (checked) of event type `type` passes the filter; none = every type. */
struct ev_field;
int sinkspec_types_pass(const struct cfg_strv *types, const uint8_t *rec, size_t len,
                        const struct ev_field *type);
/* "local5", "daemon", ... -> 0..23; -1 if unknown. */
int sinkspec_facility(const char *name);
/* "rfc5424", "rfc3164", "cef" -> enum syslog_format; -1 if unknown. */
int sinkspec_format(const char *name);
const char *sinkspec_format_name(int format);
const char *sinkspec_transport_name(enum syslog_transport t);
/* "64k", "256M", "1G" (powers of 1024). 0 or -1. */
int sinkspec_size(const char *v, int64_t *out);

/*
 * Whether an event of this type (and, for dns, this sinkhole.action) passes
 * the filter. A filter entry "dns" takes every dns event; "dns:forward" and
 * "dns:sinkhole" take only that action. An empty filter takes everything.
 */
int sinkspec_types_match(const struct cfg_strv *types, const uint8_t *type, size_t typelen,
                         const uint8_t *action, size_t actionlen);
/* Whether the filter needs the dns action to decide (has a "dns:..." entry). */
int sinkspec_types_need_action(const struct cfg_strv *types);

#endif

/*
 * The key fields of an event record, found in one pass: what the syslog
 * formats put in structured data or CEF extensions and what the databases
 * put in columns. Pure; the record must have passed ev_record_check().
 */
#ifndef SINKTRAP_STORE_EVSUM_H
#define SINKTRAP_STORE_EVSUM_H

#include <stddef.h>
#include <stdint.h>

#include "../common/event.h"

enum evsum_key {
	ES_TIMESTAMP,
	ES_EVENT_TYPE,
	ES_EVENT_ID,
	ES_SRC_IP,
	ES_SRC_PORT,
	ES_DEST_IP,
	ES_DEST_PORT,
	ES_PROTO,
	ES_APP_PROTO,
	ES_COMMUNITY_ID,
	ES_FLOW_ID,
	ES_RRNAME,      /* dns.rrname */
	ES_RRTYPE,      /* dns.rrtype */
	ES_RCODE,       /* dns.rcode */
	ES_ACTION,      /* sinkhole.action */
	ES_REASON,      /* sinkhole.reason */
	ES_RULE,        /* sinkhole.rule */
	ES_LIST,        /* sinkhole.list */
	ES_ANSWER,      /* sinkhole.answer */
	ES_MAP_DOMAIN,  /* sinkhole_map.domain */
	ES_MAP_ADDRESS, /* sinkhole_map.address */
	ES_MAP_FAMILY,  /* sinkhole_map.family */
	ES_MAP_ACTION,  /* sinkhole_map.action */
	ES_HTTP_HOST,   /* http.hostname */
	ES_URL,         /* http.url */
	ES_METHOD,      /* http.http_method */
	ES_USER_AGENT,  /* http.http_user_agent */
	ES_TLS_SNI,     /* tls.sni */
	ES_TRAP_DOMAIN, /* trap.domain */
	ES_FILE_DOMAIN, /* fileinfo.domain */
	ES_USER,        /* credentials.username */
	ES_SHA256,      /* fileinfo.sha256 */
	ES_FILE_SIZE,   /* fileinfo.size */
	ES_FILE_NAME,   /* fileinfo.filename */
	ES_SIGNATURE,   /* alert.signature */
	ES_CATEGORY,    /* alert.category */
	ES_MAX
};

_Static_assert(ES_MAX <= 64, "evsum_key must fit a 64-bit mask");

struct evsum {
	uint64_t present;          /* bit k: f[k] was found */
	struct ev_field f[ES_MAX]; /* only the present ones are set; strings borrowed */
};

void evsum_extract(const uint8_t *rec, size_t len, struct evsum *s);
/* The field, or NULL when absent. */
const struct ev_field *evsum_get(const struct evsum *s, enum evsum_key k);
/* The domain the event is about: dns.rrname, sinkhole_map.domain, trap.domain,
 * fileinfo.domain, http.hostname or tls.sni, the first present. */
const struct ev_field *evsum_domain(const struct evsum *s);
/* Whether a string field equals the C string. */
int evsum_is(const struct evsum *s, enum evsum_key k, const char *str);
/* sinkhole.answer when it is an address (not NODATA or TRUNCATED), else NULL. */
const struct ev_field *evsum_answer_address(const struct evsum *s);

#endif

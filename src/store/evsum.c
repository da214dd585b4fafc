#include "evsum.h"

#include <ctype.h>
#include <pthread.h>
#include <string.h>

#include "../common/util.h"

static const char *const paths[ES_MAX] = {
    [ES_TIMESTAMP] = "timestamp",
    [ES_EVENT_TYPE] = "event_type",
    [ES_EVENT_ID] = "event_id",
    [ES_SRC_IP] = "src_ip",
    [ES_SRC_PORT] = "src_port",
    [ES_DEST_IP] = "dest_ip",
    [ES_DEST_PORT] = "dest_port",
    [ES_PROTO] = "proto",
    [ES_APP_PROTO] = "app_proto",
    [ES_COMMUNITY_ID] = "community_id",
    [ES_FLOW_ID] = "flow_id",
    [ES_RRNAME] = "dns.rrname",
    [ES_RRTYPE] = "dns.rrtype",
    [ES_RCODE] = "dns.rcode",
    [ES_ACTION] = "sinkhole.action",
    [ES_REASON] = "sinkhole.reason",
    [ES_RULE] = "sinkhole.rule",
    [ES_LIST] = "sinkhole.list",
    [ES_ANSWER] = "sinkhole.answer",
    [ES_MAP_DOMAIN] = "sinkhole_map.domain",
    [ES_MAP_ADDRESS] = "sinkhole_map.address",
    [ES_MAP_FAMILY] = "sinkhole_map.family",
    [ES_MAP_ACTION] = "sinkhole_map.action",
    [ES_HTTP_HOST] = "http.hostname",
    [ES_URL] = "http.url",
    [ES_METHOD] = "http.http_method",
    [ES_USER_AGENT] = "http.http_user_agent",
    [ES_TLS_SNI] = "tls.sni",
    [ES_TRAP_DOMAIN] = "trap.domain",
    [ES_FILE_DOMAIN] = "fileinfo.domain",
    [ES_USER] = "credentials.username",
    [ES_SHA256] = "fileinfo.sha256",
    [ES_FILE_SIZE] = "fileinfo.size",
    [ES_FILE_NAME] = "fileinfo.filename",
    [ES_SIGNATURE] = "alert.signature",
    [ES_CATEGORY] = "alert.category",
};

/* The paths split once: parent object (empty at the top) and key, with lengths. */
struct split {
	const char *parent, *key;
	size_t pl, kl;
};

static struct split splits[ES_MAX];
static pthread_once_t split_once = PTHREAD_ONCE_INIT;

static void split_init(void)
{
	for (int k = 0; k < ES_MAX; k++) {
		const char *dot = strchr(paths[k], '.');
		struct split *sp = &splits[k];
		if (dot) {
			sp->parent = paths[k];
			sp->pl = (size_t)(dot - paths[k]);
			sp->key = dot + 1;
		} else {
			sp->parent = "";
			sp->pl = 0;
			sp->key = paths[k];
		}
		sp->kl = strlen(sp->key);
	}
}

void evsum_extract(const uint8_t *rec, size_t len, struct evsum *s)
{
	struct ev_reader r;
	struct ev_field f;
	const char *parent = NULL; /* key of the enclosing top-level object */
	size_t pl = 0;

	pthread_once(&split_once, split_init);
	s->present = 0;
	ev_reader_init(&r, rec, len);
	while (ev_reader_next(&r, &f)) {
		if (f.kind == EV_END) {
			if (f.depth == 0)
				parent = NULL;
			continue;
		}
		if (f.depth == 0 && (f.kind == EV_OBJ || f.kind == EV_ARR)) {
			parent = f.kind == EV_OBJ ? f.key : NULL;
			pl = f.keylen;
			continue;
		}
		if (f.depth > 1 || (f.depth == 1 && parent == NULL) || f.kind == EV_OBJ ||
		    f.kind == EV_ARR)
			continue;
		size_t want_pl = f.depth ? pl : 0;
		for (int k = 0; k < ES_MAX; k++) {
			const struct split *sp = &splits[k];
			if (sp->kl != f.keylen || sp->pl != want_pl || (s->present >> k & 1))
				continue;
			if (memcmp(sp->key, f.key, f.keylen) != 0 ||
			    (want_pl && memcmp(sp->parent, parent, want_pl) != 0))
				continue;
			s->f[k] = f;
			s->present |= 1ULL << k;
			break;
		}
	}
}

const struct ev_field *evsum_get(const struct evsum *s, enum evsum_key k)
{
	return s->present >> k & 1 ? &s->f[k] : NULL;
}

const struct ev_field *evsum_domain(const struct evsum *s)
{
	/* The sinkhole's attribution first: a Host header or SNI may say anything. */
	static const enum evsum_key order[] = {ES_RRNAME,      ES_MAP_DOMAIN, ES_TRAP_DOMAIN,
	                                       ES_FILE_DOMAIN, ES_HTTP_HOST,  ES_TLS_SNI};
	for (size_t i = 0; i < ARRAY_SIZE(order); i++)
		if ((s->present >> order[i] & 1) && s->f[order[i]].kind == EV_STR &&
		    s->f[order[i]].strlen > 0)
			return &s->f[order[i]];
	return NULL;
}

int evsum_is(const struct evsum *s, enum evsum_key k, const char *str)
{
	const struct ev_field *f = &s->f[k];
	size_t n = strlen(str);
	return (s->present >> k & 1) && f->kind == EV_STR && f->strlen == n &&
	       memcmp(f->str, str, n) == 0;
}

const struct ev_field *evsum_answer_address(const struct evsum *s)
{
	const struct ev_field *a = evsum_get(s, ES_ANSWER);
	if (a == NULL || a->kind != EV_STR || a->strlen == 0 ||
	    !(isxdigit((unsigned char)a->str[0]) || a->str[0] == ':'))
		return NULL;
	return a;
}

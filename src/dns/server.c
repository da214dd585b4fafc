/*
 * The DNS worker. One thread serves every socket from an epoll loop: UDP in
 * batches (recvmmsg/sendmmsg), TCP per connection, upstream answers. Policy
 * reloads are built on a second thread and swapped in between batches, so
 * queries keep being answered while a large list loads.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/emit.h"
#include "../common/ipc.h"
#include "../common/log.h"
#include "../common/loop.h"
#include "../common/sandbox.h"
#include "../common/siphash.h"
#include "../common/util.h"
#include "../store/render.h"
#include "cache.h"
#include "idn.h"
#include "dns.h"
#include "pool.h"
#include "wire.h"

#define BATCH 64
#define PKT_MAX 4096
#define MAX_PENDING 8192
/* Buckets of the table of questions in flight (a power of two). */
#define QTAB 16384
/* Clients waiting on one question in flight, past which a new one is asked. */
#define MAX_FOLLOWERS 256
/* Tries an upstream socket carries before it makes way for a new port. */
#define USOCK_USES 64
/* Idle sockets kept per upstream. */
#define USOCK_IDLE 256
/* Buckets of the per-client count of queries in flight (a power of two). */
#define CTAB 4096
#define STATS_INTERVAL_MS 60000
/* Events pending for the store past which UDP reads wait (about 10,000 events). */
#define EVENTS_HOLD_BYTES (4u << 20)
#define HOLD_TICK_MS 5

enum transport { T_UDP, T_TCP };

struct tcp_conn {
	int fd;
	struct dns_worker *w;
	struct dns_listener *l;
	struct sockaddr_storage peer;
	uint8_t *in;
	size_t inlen, incap;
	uint8_t *out;
	size_t outlen, outoff, outcap;
	int64_t last;
	int64_t partial; /* when the first byte of the message not yet whole came (0: none) */
	uint32_t gen;
	int pending; /* upstream queries in flight for this connection: each holds it */
	int closing;
	int broken; /* an error, or a client that does not read: no more to send */
	struct tcp_conn *prev, *next;
};

/*
 * A UDP socket to an upstream, connected (the kernel drops datagrams from
 * anyone else) from a port the kernel picked at random. It carries one try
 * at a time and USOCK_USES tries in all, then makes way for a new one, so
 * the ports in use keep changing; between tries it waits in its upstream's
 * idle list.
 */
struct usock {
	int fd;
	int upstream;
	int uses;
	struct pending *p; /* the try it carries, NULL when idle */
};

/*
 * A forwarded query. Each try goes out on a socket no other query in flight
 * uses, from a random port, with a random id: an answer is taken only on
 * that socket, with that id and the question asked, so a forged answer must
 * guess the port and the id together. Clients
 * asking a question already in flight wait on it (followers of the leader
 * that went out) instead of sending it again: many copies in flight would
 * let a forger try against all of them at once.
 */
struct pending {
	uint16_t id;
	int upstream;     /* index of the upstream in use */
	struct usock *us; /* the socket of this try, NULL */
	int tries;
	int64_t start, deadline; /* ms */
	enum transport tr;
	int udp_fd;
	struct sockaddr_storage client;
	socklen_t clen;
	struct sockaddr_storage local;
	struct tcp_conn *conn;
	uint32_t conn_gen;
	struct policy_match m; /* rule and file point into mtext */
	char *mtext;           /* Malloced: the rule and file, which outlive a reload */
	const char *reason;
	struct pending *prev, *next;
	/* The same question over TCP, when the UDP answer came back truncated. */
	int tcp_fd;
	uint8_t *tcp_buf; /* Malloced: the query out, then the answer in */
	size_t tcp_len, tcp_off;
	int tcp_sent;
	/* Coalescing: a leader is in w->qtab; followers hang on their leader. */
	uint32_t qhash;
	struct pending *hnext;     /* next in the leader's bucket */
	int follower;              /* not a leader: neither in w->qtab nor timed */
	int counted;               /* in its client's count of queries in flight */
	struct pending *leader;    /* a follower's leader while it waits */
	struct pending *followers; /* a leader's followers */
	struct pending *fnext;
	int nfollow;
	struct dns_query q;
};

/* Forwarded queries in flight from one client address. */
struct client_count {
	uint8_t addr[16];
	int family;
	int n;
	struct client_count *next;
};

struct upstream {
	struct addrport addr;
	struct usock **idle; /* sockets between tries */
	int nidle;
};

struct reload {
	struct list_source *ls;
	int n;
	uint32_t seq; /* the parent's number for it (0: none) */
	struct policy *result;
	char err[512];
	double secs;
};

struct dns_worker {
	struct config *cfg;
	struct dns_setup *setup;
	struct loop *loop;
	struct emitter em;
	struct policy *policy;
	struct pool *pool4, *pool6;
	struct dns_cache *cache;
	struct upstream *ups;
	int nups;
	int next_up;
	struct pending *qtab[QTAB];      /* questions in flight, by question */
	struct client_count *ctab[CTAB]; /* queries in flight, by client address */
	struct sipkey hkey;              /* of both: keyed, their keys are the clients' */
	uint64_t n_coalesced, n_client_limited;
	int64_t limit_logged; /* ms: when a client over its limit was last logged */
	struct pending *phead, *ptail;
	int npending;
	struct tcp_conn *conns;
	int nconns;
	uint32_t conn_gen;
	struct tcp_conn *in_conn; /* the connection conn_event is handling (it closes it) */
	/* reload */
	int reload_efd;
	pthread_t reload_thread;
	int reloading;
	struct reload *rl;
	struct list_source *incoming;
	int nincoming;
	struct list_source *queued; /* a reload asked for while one was running */
	int nqueued;
	int have_queued;
	uint32_t queued_seq;
	/* batch buffers */
	uint8_t rx[BATCH][PKT_MAX];
	uint8_t tx[BATCH][PKT_MAX];
	struct sockaddr_storage rxaddr[BATCH];
	struct sockaddr_storage rxlocal[BATCH]; /* where each query arrived */
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	} rxctl[BATCH], txctl[BATCH];
	struct mmsghdr rmsg[BATCH], smsg[BATCH];
	struct iovec riov[BATCH], siov[BATCH];
	/* a cached answer on its way out: as long as the TCP answer it was */
	uint8_t cached[UINT16_MAX + 64];
	/* counters */
	uint64_t n_queries, n_sinkholed, n_forwarded, n_cached, n_formerr, n_servfail,
	    n_dropped, n_timeouts, n_tcp;
	char map_pending;              /* waiting for the store's map */
	int held;                      /* reads (UDP, TCP) paused until the store catches up */
	struct loop_timer *hold_timer; /* checks a hold every few ms */
};

static struct dns_worker *W;

static inline uint8_t lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/* ---------- events ---------- */

static void ev_endpoints(struct evbuf *b, const struct sockaddr *src,
                         const struct sockaddr *dst, enum transport tr)
{
	ev_addr(b, "src_ip", src);
	ev_int(b, "src_port", addr_port(src));
	if (dst && dst->sa_family != AF_UNSPEC) {
		ev_addr(b, "dest_ip", dst);
		ev_int(b, "dest_port", addr_port(dst));
	}
	ev_str(b, "proto", tr == T_UDP ? "UDP" : "TCP");
}

static void ev_rule(struct evbuf *b, const struct policy_match *m)
{
	if (m->action == POLICY_NONE)
		return;
	ev_str(b, "rule", m->rule);
	ev_str(b, "list", m->file);
	ev_int(b, "line", m->line);
}

/*
 * A sinkholed query. target: the name the sinkhole record is owned by, q's
 * own, or the end of the CNAME chain c (links 0..upto) that led to a listed
 * name.
 */
static void emit_sinkhole(struct dns_worker *w, const struct dns_query *q,
                          const struct sockaddr *src, const struct sockaddr *dst,
                          enum transport tr, const struct policy_match *m, const char *reason,
                          const struct dns_chain *c, int upto, const char *target,
                          const char *ip, const uint8_t *addr, int family, int truncated)
{
	struct evbuf *b = emit_buf(&w->em);
	char tb[16], at[INET6_ADDRSTRLEN];
	const char *tname = dns_type_name(q->qtype, tb, sizeof(tb));

	if (addr)
		addr_text(family, addr, at);
	ev_begin(b, "dns", 0);
	ev_endpoints(b, src, dst, tr);
	ev_obj(b, "dns");
	ev_int(b, "version", 2);
	ev_str(b, "type", "answer");
	ev_int(b, "id", q->id);
	ev_str(b, "rrname", q->name);
	ev_str(b, "rrtype", tname);
	ev_str(b, "rcode", "NOERROR");
	if (truncated)
		ev_bool(b, "truncated", 1);
	if (!truncated && (addr || c)) {
		ev_arr(b, "answers");
		for (int i = 0; c && i <= upto; i++) {
			char owner[DNS_NAME_TEXT_MAX], alias[DNS_NAME_TEXT_MAX];
			if (i > 0)
				dns_name_to_text(c->name[i - 1], c->len[i - 1], owner,
				                 sizeof(owner));
			dns_name_to_text(c->name[i], c->len[i], alias, sizeof(alias));
			ev_obj(b, NULL);
			ev_str(b, "rrname", i > 0 ? owner : q->name);
			ev_str(b, "rrtype", "CNAME");
			ev_int(b, "ttl",
			       c->ttl[i] < (uint32_t)w->cfg->ttl ? (long long)c->ttl[i]
			                                         : w->cfg->ttl);
			ev_str(b, "rdata", alias);
			ev_close(b);
		}
		if (addr) {
			ev_obj(b, NULL);
			ev_str(b, "rrname", target);
			/* the record's own type: an ANY query is answered with an A */
			ev_str(b, "rrtype", family == AF_INET6 ? "AAAA" : "A");
			ev_int(b, "ttl", w->cfg->ttl);
			ev_str(b, "rdata", at);
			ev_close(b);
		}
		ev_close(b);
	}
	ev_close(b);
	ev_obj(b, "sinkhole");
	ev_str(b, "action", "sinkhole");
	ev_str(b, "reason", reason);
	ev_rule(b, m);
	if (c)
		ev_str(b, "cname", target);
	if (ip)
		ev_str(b, "answer_ip", ip);
	ev_str(b, "answer", truncated ? "TRUNCATED" : addr ? at : "NODATA");
	ev_close(b);
	emit_commit(&w->em);
}

static void emit_forward(struct dns_worker *w, const struct dns_query *q,
                         const struct sockaddr *src, const struct sockaddr *dst,
                         enum transport tr, const struct policy_match *m, const char *reason,
                         int rcode, int cached)
{
	struct evbuf *b = emit_buf(&w->em);
	char tb[16];
	ev_begin(b, "dns", 0);
	ev_endpoints(b, src, dst, tr);
	ev_obj(b, "dns");
	ev_int(b, "version", 2);
	ev_str(b, "type", "answer");
	ev_int(b, "id", q->id);
	ev_str(b, "rrname", q->name);
	ev_str(b, "rrtype", dns_type_name(q->qtype, tb, sizeof(tb)));
	ev_str(b, "rcode", dns_rcode_name(rcode));
	ev_close(b);
	ev_obj(b, "sinkhole");
	ev_str(b, "action", "forward");
	ev_str(b, "reason", reason);
	ev_rule(b, m);
	ev_bool(b, "cached", cached);
	ev_close(b);
	emit_commit(&w->em);
}

static void emit_map(struct dns_worker *w, const char *name, const uint8_t *addr, int family,
                     enum pool_result r, const char *evicted)
{
	struct evbuf *b = emit_buf(&w->em);
	char at[INET6_ADDRSTRLEN];
	inet_ntop(family, addr, at, sizeof(at));
	ev_begin(b, "sinkhole_map", 0);
	ev_obj(b, "sinkhole_map");
	ev_str(b, "domain", name);
	ev_str(b, "address", at);
	ev_str(b, "family", family == AF_INET ? "ipv4" : "ipv6");
	ev_str(b, "action", r == POOL_RECYCLED ? "recycled" : "new");
	if (r == POOL_RECYCLED) {
		ev_str(b, "evicted_domain", evicted);
		ev_str(b, "note",
		       "address pool exhausted: the least recently used mapping was "
		       "reassigned");
	}
	ev_close(b);
	emit_commit(&w->em);
}

static void emit_stats(void *arg)
{
	struct dns_worker *w = arg;
	struct evbuf *b = emit_buf(&w->em);
	ev_begin(b, "stats", 0);
	ev_obj(b, "stats");
	ev_str(b, "worker", "dns");
	ev_obj(b, "dns");
	ev_int(b, "queries", (int64_t)w->n_queries);
	ev_int(b, "sinkholed", (int64_t)w->n_sinkholed);
	ev_int(b, "forwarded", (int64_t)w->n_forwarded);
	ev_int(b, "cache_hits", (int64_t)w->n_cached);
	ev_int(b, "formerr", (int64_t)w->n_formerr);
	ev_int(b, "servfail", (int64_t)w->n_servfail);
	ev_int(b, "upstream_timeouts", (int64_t)w->n_timeouts);
	ev_int(b, "coalesced", (int64_t)w->n_coalesced);
	ev_int(b, "client_limited", (int64_t)w->n_client_limited);
	ev_int(b, "dropped", (int64_t)w->n_dropped);
	ev_int(b, "tcp_queries", (int64_t)w->n_tcp);
	ev_int(b, "pending", w->npending);
	ev_int(b, "tcp_clients", w->nconns);
	ev_int(b, "rules", (int64_t)policy_rules(w->policy));
	if (w->cache)
		ev_int(b, "cache_entries", dns_cache_entries(w->cache));
	if (w->pool4) {
		ev_int(b, "pool4_used", pool_used(w->pool4));
		ev_int(b, "pool4_freed", (int64_t)pool_freed(w->pool4));
	}
	if (w->pool6) {
		ev_int(b, "pool6_used", pool_used(w->pool6));
		ev_int(b, "pool6_freed", (int64_t)pool_freed(w->pool6));
	}
	ev_close(b);
	ev_close(b);
	emit_commit(&w->em);
	emit_flush(&w->em);
}

static void emit_reload(struct dns_worker *w, const struct policy *p, const char *err,
                        double secs)
{
	struct evbuf *b = emit_buf(&w->em);
	ev_begin(b, err ? "alert" : "stats", 0);
	if (err) {
		ev_obj(b, "alert");
		ev_str(b, "signature", "list reload failed: previous lists kept");
		ev_str(b, "category", "sinktrap");
		ev_str(b, "error", err);
		ev_close(b);
	} else {
		ev_obj(b, "stats");
		ev_str(b, "worker", "dns");
		ev_obj(b, "reload");
		ev_int(b, "rules", (int64_t)policy_rules(p));
		ev_int(b, "duration_ms", (int64_t)(secs * 1000));
		ev_arr(b, "lists");
		for (int i = 0; i < policy_list_count(p); i++) {
			const struct list_info *li = policy_list(p, i);
			ev_obj(b, NULL);
			ev_str(b, "path", li->path);
			ev_str(b, "format", list_format_name(li->format));
			ev_bool(b, "allow", li->allow);
			ev_int(b, "entries", li->entries);
			ev_int(b, "invalid", li->invalid);
			ev_close(b);
		}
		ev_close(b);
		ev_close(b);
		ev_close(b);
	}
	emit_commit(&w->em);
	emit_flush(&w->em);
}

/* ---------- decisions ---------- */

enum verdict { V_SINKHOLE, V_FORWARD };

static int in_zone(const char *name, size_t nl, const char *zone)
{
	size_t zl = strlen(zone);
	if (zl == 1 && zone[0] == '.')
		return 1;
	if (nl < zl || memcmp(name + nl - zl, zone, zl) != 0)
		return 0;
	/* a boundary between labels, not a dot inside one ("x\.corp.test") */
	return nl == zl || (name[nl - zl - 1] == '.' && !policy_dot_escaped(name, nl - zl - 1));
}

static enum verdict decide(const struct config *cfg, const struct policy *pol,
                           const struct dns_query *q, const struct sockaddr *client,
                           struct policy_match *m, const char **reason)
{
	/* A client under an rpz-client-ip trigger: every name it asks is
	 * sinkholed (a host in quarantine), or none (exempt). */
	if (client && policy_client_rules(pol)) {
		uint8_t ip[16];
		int fam = addr_ip(client, ip);
		enum policy_action ca =
		    fam ? policy_lookup_client(pol, fam, ip, m) : POLICY_NONE;
		if (ca != POLICY_NONE) {
			*reason = "client";
			return ca == POLICY_BLOCK ? V_SINKHOLE : V_FORWARD;
		}
	}
	enum policy_action a = policy_lookup(pol, q->name, q->name_len, m);
	if (a == POLICY_BLOCK) {
		*reason = "blocklist";
		return V_SINKHOLE;
	}
	if (a == POLICY_ALLOW) {
		*reason = "allowlist";
		return V_FORWARD;
	}
	memset(m, 0, sizeof(*m));
	if (cfg->mode == DNS_MODE_BLOCKLIST) {
		*reason = "unlisted";
		return V_FORWARD;
	}
	for (int i = 0; i < cfg->internal_zones.n; i++) {
		if (in_zone(q->name, q->name_len, cfg->internal_zones.v[i])) {
			*reason = "internal_zone";
			return V_FORWARD;
		}
	}
	*reason = "strict";
	return V_SINKHOLE;
}

/*
 * The sinkhole answer for q into out: for q's own name, or, with a chain c,
 * for c->name[upto], the listed name q's answer led to. 0 when it would be
 * longer than limit (a long chain over UDP) or cannot be built: then nothing
 * is mapped or reported, since the client is not given it.
 */
static size_t answer_sinkhole(struct dns_worker *w, const struct dns_query *q,
                              const struct sockaddr *src, const struct sockaddr *dst,
                              enum transport tr, const struct policy_match *m,
                              const char *reason, const struct dns_chain *c, int upto,
                              const char *ip, size_t limit, uint8_t *out, size_t cap)
{
	uint8_t addr[16] = {0};
	const uint8_t *ap = NULL;
	int family = 0;
	struct pool *pool = NULL;
	char alias[DNS_NAME_TEXT_MAX];
	const char *target = q->name;

	if (c) {
		if (dns_name_to_text(c->name[upto], c->len[upto], alias, sizeof(alias)) < 0)
			return 0;
		target = alias;
	}

	if (q->qclass == DNS_C_IN || q->qclass == DNS_T_ANY) {
		if (q->qtype == DNS_T_A || q->qtype == DNS_T_ANY) {
			pool = w->pool4;
			family = AF_INET;
		} else if (q->qtype == DNS_T_AAAA) {
			pool = w->pool6;
			family = AF_INET6;
		}
	}
	/* An ANY query gets the A record: the type is rewritten in a copy. */
	struct dns_query qa;
	const struct dns_query *qq = q;
	if (q->qtype == DNS_T_ANY && pool) {
		qa = *q;
		qa.qtype = DNS_T_A;
		qq = &qa;
	}
	/* Only a chain can make it long: its size first, with any address. */
	if (c) {
		size_t n = dns_resp_sinkhole_chain(qq, c, upto, pool ? addr : NULL, w->cfg->ttl,
		                                   (uint16_t)w->cfg->edns_size, out, cap);
		if (n > limit) /* the query is reported all the same, with no address */
			emit_sinkhole(w, q, src, dst, tr, m, reason, c, upto, target, ip, NULL,
			              0, 1);
		if (n == 0 || n > limit)
			return 0;
	}
	if (pool) {
		char evicted[DNS_NAME_TEXT_MAX];
		int r = (int)pool_get(pool, target, time_now_usec(), addr, evicted,
		                      sizeof(evicted));
		if (r >= 0) {
			if (r != POOL_EXISTING) {
				emit_map(w, target, addr, family, (enum pool_result)r, evicted);
				/* The trap needs it before the client connects: no batching
				 * delay. */
				emit_flush(&w->em);
			}
			ap = addr;
		} else {
			/* No memory for a new mapping: the first pool address, unattributed. */
			prefix_nth(family == AF_INET ? &w->cfg->sinkhole4 : &w->cfg->sinkhole6,
			           prefix_size(family == AF_INET ? &w->cfg->sinkhole4
			                                         : &w->cfg->sinkhole6,
			                       2) > 1,
			           addr);
			ap = addr;
		}
	}
	size_t n = dns_resp_sinkhole_chain(qq, c, upto, ap, w->cfg->ttl,
	                                   (uint16_t)w->cfg->edns_size, out, cap);
	if (n == 0 || n > limit)
		return 0;
	if (qq != q && n >= DNS_HDR_LEN + q->qraw_len) {
		/* Keep the question as asked (ANY) while the record says A. */
		memcpy(out + DNS_HDR_LEN, q->qraw, q->qraw_len);
	}
	w->n_sinkholed++;
	emit_sinkhole(w, q, src, dst, tr, m, reason, c, upto, target, ip, ap, family, 0);
	return n;
}

/* answer_sinkhole(), or a truncated stub when it is longer than the client
 * takes (the client asks again over TCP). */
static size_t sinkhole_reply(struct dns_worker *w, const struct dns_query *q,
                             const struct sockaddr *src, const struct sockaddr *dst,
                             enum transport tr, const struct policy_match *m,
                             const char *reason, const struct dns_chain *c, int upto,
                             const char *ip, uint8_t *out, size_t cap)
{
	uint16_t es = (uint16_t)w->cfg->edns_size;
	size_t limit = tr == T_UDP ? dns_query_udp_limit(q, (size_t)es) : 65535;
	size_t n = answer_sinkhole(w, q, src, dst, tr, m, reason, c, upto, ip, limit, out, cap);
	if (n == 0) {
		n = dns_resp_empty(q, DNS_R_NOERROR, 1, es, out, cap);
		out[2] |= DNS_F_TC >> 8;
	}
	return n;
}

/*
 * CNAME inspection: the first name of the forwarded answer's CNAME chain
 * that a block rule covers (its rule in m), or -1. An alias of an unlisted
 * name is how a listed C&C name is reached without being asked for.
 */
struct alias_look {
	const struct policy *pol;
	struct policy_match *m;
};

static int alias_blocked(void *arg, const uint8_t *name, size_t nlen)
{
	struct alias_look *a = arg;
	char t[DNS_NAME_TEXT_MAX];
	int tl = dns_name_to_text(name, nlen, t, sizeof(t));
	return tl > 0 && policy_lookup(a->pol, t, (size_t)tl, a->m) == POLICY_BLOCK;
}

static int chain_blocked(struct dns_worker *w, const uint8_t *pkt, size_t len,
                         const struct dns_msg *dm, struct dns_chain *c, struct policy_match *m)
{
	if (!w->cfg->cname_inspect || dm->ancount == 0 || dns_msg_chain(pkt, len, dm, c) == 0)
		return -1;
	struct alias_look a = {w->policy, m};
	for (int i = 0; i < c->n; i++)
		if (alias_blocked(&a, c->name[i], c->len[i]))
			return i;
	/* A chain longer than we follow: a listed name anywhere past its cut
	 * sinkholes it all the same (at its last link kept). */
	if (c->n == DNS_CHAIN_MAX && dns_msg_cnames(pkt, len, dm, alias_blocked, &a))
		return c->n - 1;
	return -1;
}

/*
 * Response-IP policy: an address of the forwarded answer that an address
 * rule (rpz-ip trigger, ip list entry) blocks (its text in ip, its rule in m): a name, listed
 * or not, that resolves to a known C&C address. 1 if there is one.
 */
static int ip_blocked(struct dns_worker *w, const uint8_t *pkt, size_t len,
                      const struct dns_msg *dm, struct policy_match *m, char *ip)
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	struct dns_addr a[32];
	struct dns_addr_cursor cur = {0};
	if (dm->ancount == 0 || !policy_ip_rules(w->policy))
		return 0;
	int n;
	do {
		/* every record, however many decoys come first */
		n = dns_msg_addrs(pkt, len, dm, &cur, a, 32);
		for (int i = 0; i < n; i++) {
			/* ::ffff:a.b.c.d reaches a.b.c.d: looked up as that */
			int mapped = a[i].family == AF_INET6 && !memcmp(a[i].a, v4mapped, 12);
			if (policy_lookup_ip(w->policy, mapped ? AF_INET : a[i].family,
			                     mapped ? a[i].a + 12 : a[i].a,
			                     m) == POLICY_BLOCK) {
				inet_ntop(a[i].family, a[i].a, ip, INET6_ADDRSTRLEN);
				return 1;
			}
		}
	} while (n == 32);
	return 0;
}

/*
 * A forwarded answer that must be sinkholed instead (CNAME chain or
 * response IP): the sinkhole answer into out, or 0 to pass the answer on.
 * qm: how q's own name was decided; an allow rule for it wins here too.
 */
static size_t answer_inspect(struct dns_worker *w, const struct dns_query *q,
                             const struct policy_match *qm, const struct sockaddr *src,
                             const struct sockaddr *dst, enum transport tr, const uint8_t *pkt,
                             size_t len, const struct dns_msg *dm, uint8_t *out, size_t cap)
{
	if (qm->action == POLICY_ALLOW)
		return 0;
	struct dns_chain c;
	struct policy_match m;
	char ip[INET6_ADDRSTRLEN];
	int at = chain_blocked(w, pkt, len, dm, &c, &m);
	if (at >= 0)
		return sinkhole_reply(w, q, src, dst, tr, &m, "blocklist", &c, at, NULL, out,
		                      cap);
	if (ip_blocked(w, pkt, len, dm, &m, ip))
		return sinkhole_reply(w, q, src, dst, tr, &m, "blocklist", NULL, 0, ip, out,
		                      cap);
	return 0;
}

/* ---------- upstream ---------- */

static void pending_unlink(struct dns_worker *w, struct pending *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		w->phead = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		w->ptail = p->prev;
	p->prev = p->next = NULL;
}

static void pending_append(struct dns_worker *w, struct pending *p)
{
	p->next = NULL;
	p->prev = w->ptail;
	if (w->ptail)
		w->ptail->next = p;
	else
		w->phead = p;
	w->ptail = p;
}

/* The try on p's socket is over: the socket waits for another, or goes. */
static void udp_close(struct dns_worker *w, struct pending *p)
{
	struct usock *us = p->us;
	if (us == NULL)
		return;
	p->us = NULL;
	us->p = NULL;
	struct upstream *u = &w->ups[us->upstream];
	if (us->uses < USOCK_USES && u->nidle < USOCK_IDLE) {
		u->idle[u->nidle++] = us;
		return;
	}
	loop_io_del(w->loop, us->fd);
	close(us->fd);
	free(us);
}

/*
 * The count of queries in flight from the address of client (its port aside),
 * made when create and missing; NULL otherwise.
 */
static struct client_count **client_slot(struct dns_worker *w, const struct sockaddr *client,
                                         int create)
{
	uint8_t a[16] = {0};
	int fam = client->sa_family;
	size_t len = fam == AF_INET6 ? 16 : 4;
	if (fam == AF_INET6)
		memcpy(a, &((const struct sockaddr_in6 *)client)->sin6_addr, 16);
	else
		memcpy(a, &((const struct sockaddr_in *)client)->sin_addr, 4);
	uint32_t h = (uint32_t)siphash13(&w->hkey, a, len);
	struct client_count **pp = &w->ctab[h & (CTAB - 1)];
	while (*pp && ((*pp)->family != fam || memcmp((*pp)->addr, a, len) != 0))
		pp = &(*pp)->next;
	if (*pp == NULL && create) {
		struct client_count *cc = xcalloc(1, sizeof(*cc));
		memcpy(cc->addr, a, len);
		cc->family = fam;
		*pp = cc;
	}
	return *pp ? pp : NULL;
}

static void client_done(struct dns_worker *w, const struct sockaddr *client)
{
	struct client_count **pp = client_slot(w, client, 0);
	if (pp && --(*pp)->n <= 0) {
		struct client_count *cc = *pp;
		*pp = cc->next;
		free(cc);
	}
}

static void conn_release(struct tcp_conn *c);

/* Free p, a follower, or a leader whose followers have been taken off. */
static void pending_free(struct dns_worker *w, struct pending *p)
{
	if (p->tcp_fd >= 0) {
		loop_io_del(w->loop, p->tcp_fd);
		close(p->tcp_fd);
	}
	udp_close(w, p);
	free(p->tcp_buf);
	free(p->mtext);
	if (p->follower) {
		if (p->leader) {
			struct pending **pp = &p->leader->followers;
			while (*pp && *pp != p)
				pp = &(*pp)->fnext;
			if (*pp)
				*pp = p->fnext;
			p->leader->nfollow--;
		}
	} else {
		pending_unlink(w, p);
		struct pending **pp = &w->qtab[p->qhash & (QTAB - 1)];
		while (*pp && *pp != p)
			pp = &(*pp)->hnext;
		if (*pp)
			*pp = p->hnext;
	}
	if (p->conn)
		conn_release(p->conn);
	if (p->counted)
		client_done(w, (struct sockaddr *)&p->client);
	w->npending--;
	free(p);
}

static int try_timeout_ms(const struct dns_worker *w)
{
	int t = w->cfg->upstream_timeout_ms / (w->nups > 1 ? 2 : 1);
	return t < 100 ? 100 : t;
}

static void upstream_read(int fd, uint32_t events, void *arg);

/* A socket to upstream ui that carries nothing now: an idle one, or a new one. */
static struct usock *usock_get(struct dns_worker *w, int ui)
{
	struct upstream *u = &w->ups[ui];
	if (u->nidle > 0) {
		/* the one idle longest: a late answer to its last try has had time to come */
		struct usock *us = u->idle[0];
		memmove(u->idle, u->idle + 1, (size_t)--u->nidle * sizeof(*u->idle));
		return us;
	}
	int fd = socket(u->addr.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_debug("upstream socket: %s", strerror(errno));
		return NULL;
	}
	struct usock *us = xcalloc(1, sizeof(*us));
	us->fd = fd;
	us->upstream = ui;
	/* Connecting binds a port the kernel picks at random. */
	if (connect(fd, (struct sockaddr *)&u->addr.ss, u->addr.len) < 0 ||
	    loop_io_add(w->loop, fd, EPOLLIN, upstream_read, us) < 0) {
		log_debug("upstream connect: %s", strerror(errno));
		close(fd);
		free(us);
		return NULL;
	}
	return us;
}

/* One try of p: another socket, a new id. 0, or -1 when no socket can be had. */
static int upstream_send(struct dns_worker *w, struct pending *p)
{
	uint8_t buf[PKT_MAX];
	uint16_t id;
	if (getrandom(&id, sizeof(id), 0) != sizeof(id))
		id = (uint16_t)rand();
	p->id = id;
	struct usock *us = usock_get(w, p->upstream);
	udp_close(w, p);
	if (us == NULL)
		return -1;
	us->uses++;
	us->p = p;
	p->us = us;
	size_t n = dns_query_build(&p->q, id, (uint16_t)w->cfg->edns_size, buf, sizeof(buf));
	if (n == 0 || send(us->fd, buf, n, 0) < 0) {
		log_debug("upstream send: %s", strerror(errno));
		/* Counts as a failed try: the timeout moves it on. */
	}
	return 0;
}

static void reply_tcp(struct tcp_conn *c, const uint8_t *msg, size_t len);
static void reply_from(struct msghdr *mh, const struct sockaddr *local, void *ctlbuf);

/* One datagram to a client, sent from the address it asked (local may be NULL). */
static void udp_send(int fd, const uint8_t *msg, size_t len, const struct sockaddr *client,
                     socklen_t clen, const struct sockaddr *local)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	} ctl;
	struct iovec iov = {(void *)msg, len};
	struct msghdr mh;
	memset(&mh, 0, sizeof(mh));
	mh.msg_name = (void *)client;
	mh.msg_namelen = clen;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (local && (local->sa_family == AF_INET || local->sa_family == AF_INET6) &&
	    local->sa_family == client->sa_family)
		reply_from(&mh, local, &ctl);
	if (sendmsg(fd, &mh, MSG_DONTWAIT) < 0)
		log_debug("udp reply: %s", strerror(errno));
}

static void deliver(struct dns_worker *w, struct pending *p, const uint8_t *msg, size_t len)
{
	if (p->tr == T_UDP) {
		udp_send(p->udp_fd, msg, len, (struct sockaddr *)&p->client, p->clen,
		         (struct sockaddr *)&p->local);
	} else if (p->conn && p->conn->gen == p->conn_gen) {
		reply_tcp(p->conn, msg, len); /* a connection still open (gen 0 once closed) */
	}
}

/* The question as the upstream is asked it: name (any case), type, class, DO, CD. */
static uint32_t question_hash(const struct dns_worker *w, const struct dns_query *q)
{
	uint8_t k[DNS_NAME_WIRE_MAX + 8];
	size_t n = q->qraw_len < DNS_NAME_WIRE_MAX + 4 ? q->qraw_len : DNS_NAME_WIRE_MAX + 4;
	for (size_t i = 0; i < n; i++)
		k[i] = i + 4 < n ? lower(q->qraw[i]) : q->qraw[i];
	k[n++] = (uint8_t)((q->edns_do ? 1 : 0) | (q->flags & DNS_F_CD ? 2 : 0));
	return (uint32_t)siphash13(&w->hkey, k, n);
}

static int same_question(const struct dns_query *a, const struct dns_query *b)
{
	if (a->qraw_len != b->qraw_len || a->qtype != b->qtype || a->qclass != b->qclass ||
	    !a->edns_do != !b->edns_do || (a->flags & DNS_F_CD) != (b->flags & DNS_F_CD))
		return 0;
	for (size_t i = 0; i + 4 < a->qraw_len; i++)
		if (lower(a->qraw[i]) != lower(b->qraw[i]))
			return 0;
	return 1;
}

/* An answer with p's own question, no records and rcode. */
static void answer_rcode(struct dns_worker *w, struct pending *p, int rcode)
{
	uint8_t out[PKT_MAX];
	size_t n =
	    dns_resp_empty(&p->q, rcode, 0, (uint16_t)w->cfg->edns_size, out, sizeof(out));
	if (rcode == DNS_R_SERVFAIL)
		w->n_servfail++;
	if (n)
		deliver(w, p, out, n);
	if (w->cfg->log_forwarded)
		emit_forward(w, &p->q, (struct sockaddr *)&p->client,
		             (struct sockaddr *)&p->local, p->tr, &p->m, p->reason, rcode, 0);
}

static void servfail(struct dns_worker *w, struct pending *p)
{
	answer_rcode(w, p, DNS_R_SERVFAIL);
}

static void forward(struct dns_worker *w, const struct dns_query *q, enum transport tr,
                    int udp_fd, const struct sockaddr *client, socklen_t clen,
                    const struct sockaddr *local, struct tcp_conn *conn,
                    const struct policy_match *m, const char *reason)
{
	struct dns_msg dm;
	size_t limit = tr == T_UDP ? dns_query_udp_limit(q, (size_t)w->cfg->edns_size) : 65535;

	w->n_forwarded++;
	if (w->cache) {
		uint8_t *out = w->cached;
		size_t n =
		    dns_cache_get(w->cache, q, loop_now(w->loop), out, sizeof(w->cached), &dm);
		if (n) {
			w->n_cached++;
			/* The cached answer, or the sinkhole answer it calls for. */
			uint8_t sk[DNS_CHAIN_RESP_MAX];
			const uint8_t *msg = sk;
			size_t len = answer_inspect(w, q, m, client, local, tr, out, n, &dm, sk,
			                            sizeof(sk));
			if (len == 0) {
				msg = out;
				len = dns_resp_adapt(q, &dm, out, n, sizeof(w->cached), limit,
				                     (uint16_t)w->cfg->edns_size);
				if (w->cfg->log_forwarded)
					emit_forward(w, q, client, local, tr, m, reason,
					             dm.rcode, 1);
			}
			if (tr == T_UDP)
				udp_send(udp_fd, msg, len, client, clen, local);
			else
				reply_tcp(conn, msg, len);
			return;
		}
	}
	uint32_t h = question_hash(w, q);
	struct pending *lead = w->qtab[h & (QTAB - 1)];
	while (lead && (lead->qhash != h || lead->nfollow >= MAX_FOLLOWERS ||
	                !same_question(&lead->q, q)))
		lead = lead->hnext;
	struct pending *p = xcalloc(1, sizeof(*p));
	p->tcp_fd = -1;
	p->qhash = h;
	p->q = *q;
	p->tr = tr;
	p->udp_fd = udp_fd;
	memcpy(&p->client, client, clen);
	p->clen = clen;
	if (local)
		memcpy(&p->local, local,
		       local->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
		                                    : sizeof(struct sockaddr_in));
	p->conn = conn;
	if (conn) {
		p->conn_gen = conn->gen;
		conn->pending++;
	}
	p->m = *m;
	if (m->rule || m->file) {
		/* The policy may be replaced by a reload before the answer comes. */
		size_t rl = m->rule ? strlen(m->rule) + 1 : 0,
		       fl = m->file ? strlen(m->file) + 1 : 0;
		p->mtext = xmalloc(rl + fl);
		if (m->rule)
			p->m.rule = memcpy(p->mtext, m->rule, rl);
		if (m->file)
			p->m.file = memcpy(p->mtext + rl, m->file, fl);
	}
	p->reason = reason;
	p->start = loop_now(w->loop);
	w->npending++;
	struct client_count **cc = client_slot(w, client, 0);
	int limited = cc && (*cc)->n >= w->cfg->client_pending_max;
	if (w->npending > MAX_PENDING || limited) {
		if (limited && w->npending <= MAX_PENDING) {
			w->n_client_limited++;
			if (p->start - w->limit_logged >= 10000) {
				char t[INET6_ADDRSTRLEN + 8];
				w->limit_logged = p->start;
				log_warnx("client %s has %d queries waiting for the upstream "
				          "(client_pending_max): its new ones get SERVFAIL",
				          addr_fmt(client, t, sizeof(t)), (*cc)->n);
			}
		}
		p->follower = 1; /* on no list */
		servfail(w, p);
		pending_free(w, p);
		return;
	}
	if (cc == NULL)
		cc = client_slot(w, client, 1);
	(*cc)->n++;
	p->counted = 1;
	if (lead) {
		/* The same question is in flight: wait for its answer. */
		w->n_coalesced++;
		p->follower = 1;
		p->leader = lead;
		p->fnext = lead->followers;
		lead->followers = p;
		lead->nfollow++;
		return;
	}
	p->upstream = w->next_up;
	w->next_up = (w->next_up + 1) % w->nups;
	pending_append(w, p);
	p->hnext = w->qtab[h & (QTAB - 1)];
	w->qtab[h & (QTAB - 1)] = p;
	if (upstream_send(w, p) < 0) {
		servfail(w, p);
		pending_free(w, p);
		return;
	}
	p->deadline = p->start + try_timeout_ms(w);
}

/*
 * An error answer without a question (QDCOUNT 0): servers answer so when they
 * refuse or cannot parse a query (REFUSED, FORMERR, NOTIMP, SERVFAIL). Its id
 * and the socket it came on tie it to the try; it carries no records to take
 * for a name, so an answer that claims success (NOERROR, NXDOMAIN) is not one.
 */
static int error_without_question(const struct dns_msg *m)
{
	return m->qdcount == 0 && m->rcode != DNS_R_NOERROR && m->rcode != DNS_R_NXDOMAIN;
}

/* Is the walked answer m for the question p asked? */
static int answer_matches(const struct pending *p, const struct dns_msg *m)
{
	if (m->qdcount != 1 || m->qtype != p->q.qtype || m->qclass != p->q.qclass ||
	    m->qname_len != p->q.qraw_len - 4)
		return 0;
	for (size_t k = 0; k < m->qname_len; k++)
		if (lower(p->q.qraw[k]) != m->qname[k])
			return 0;
	return 1;
}

/* Cache the upstream answer (cache), adapt it for p's client and send it; free p. */
static void upstream_answer(struct dns_worker *w, struct pending *p, const uint8_t *buf,
                            size_t n, const struct dns_msg *m, int cache)
{
	if (cache && w->cache)
		dns_cache_put(w->cache, &p->q, buf, n, m, loop_now(w->loop));
	uint8_t sk[DNS_CHAIN_RESP_MAX];
	size_t skn =
	    answer_inspect(w, &p->q, &p->m, (struct sockaddr *)&p->client,
	                   (struct sockaddr *)&p->local, p->tr, buf, n, m, sk, sizeof(sk));
	if (skn) {
		deliver(w, p, sk, skn);
		pending_free(w, p);
		return;
	}
	size_t limit =
	    p->tr == T_UDP ? dns_query_udp_limit(&p->q, (size_t)w->cfg->edns_size) : 65535;
	size_t cap = n + 64;
	uint8_t small[PKT_MAX];
	uint8_t *out = cap <= sizeof(small) ? small : xmalloc(cap);
	memcpy(out, buf, n);
	size_t len = dns_resp_adapt(&p->q, m, out, n, cap, limit, (uint16_t)w->cfg->edns_size);
	deliver(w, p, out, len);
	if (out != small)
		free(out);
	if (w->cfg->log_forwarded)
		emit_forward(w, &p->q, (struct sockaddr *)&p->client,
		             (struct sockaddr *)&p->local, p->tr, &p->m, p->reason, m->rcode,
		             0);
	pending_free(w, p);
}

/*
 * p's question is answered (buf: the upstream's answer, walked as m) or has
 * failed (buf NULL: SERVFAIL, or m's rcode when m is given, an error answer
 * without a question): so for p and every client waiting on it, each freed.
 * The followers go first: buf may be the leader's own buffer.
 */
static void settle(struct dns_worker *w, struct pending *p, const uint8_t *buf, size_t n,
                   const struct dns_msg *m)
{
	/* An extended rcode needs EDNS, which a client may not have sent. */
	int rcode = buf == NULL && m && m->rcode <= 15 ? m->rcode : DNS_R_SERVFAIL;
	struct pending *f = p->followers;
	p->followers = NULL;
	p->nfollow = 0;
	for (struct pending *x = f; x; x = x->fnext)
		x->leader = NULL;
	while (f) {
		struct pending *next = f->fnext;
		if (buf) {
			upstream_answer(w, f, buf, n, m, 0);
		} else {
			answer_rcode(w, f, rcode);
			pending_free(w, f);
		}
		f = next;
	}
	if (buf) {
		upstream_answer(w, p, buf, n, m, 1);
	} else {
		answer_rcode(w, p, rcode);
		pending_free(w, p);
	}
}

/* The largest UDP answer any client waiting on p takes (65535 over TCP). */
static size_t waiting_limit(const struct dns_worker *w, const struct pending *p)
{
	size_t limit = 0;
	for (const struct pending *x = p; x; x = x == p ? p->followers : x->fnext) {
		size_t l = x->tr == T_UDP
		               ? dns_query_udp_limit(&x->q, (size_t)w->cfg->edns_size)
		               : 65535;
		if (l > limit)
			limit = l;
	}
	return limit;
}

static void upstream_tcp_event(int fd, uint32_t events, void *arg)
{
	struct dns_worker *w = W;
	struct pending *p = arg;
	if (events & (EPOLLERR | EPOLLHUP) && !(events & EPOLLIN)) {
		settle(w, p, NULL, 0, NULL);
		return;
	}
	if (!p->tcp_sent && (events & EPOLLOUT)) {
		ssize_t k =
		    send(fd, p->tcp_buf + p->tcp_off, p->tcp_len - p->tcp_off, MSG_NOSIGNAL);
		if (k < 0 && errno != EAGAIN) {
			settle(w, p, NULL, 0, NULL);
			return;
		}
		if (k > 0)
			p->tcp_off += (size_t)k;
		if (p->tcp_off == p->tcp_len) {
			p->tcp_sent = 1;
			p->tcp_off = 0;
			p->tcp_len = 0;
			loop_io_mod(w->loop, fd, EPOLLIN);
		}
		return;
	}
	if (!(events & EPOLLIN))
		return;
	/* The answer: a 2-byte length, then the message (read into a 64 KB buffer). */
	ssize_t k = recv(fd, p->tcp_buf + p->tcp_off, 65537 - p->tcp_off, MSG_DONTWAIT);
	if (k <= 0) {
		if (k < 0 && errno == EAGAIN)
			return;
		settle(w, p, NULL, 0, NULL);
		return;
	}
	p->tcp_off += (size_t)k;
	if (p->tcp_off < 2)
		return;
	size_t ml = (size_t)p->tcp_buf[0] << 8 | p->tcp_buf[1];
	if (p->tcp_off < 2 + ml)
		return;
	struct dns_msg m;
	if (dns_msg_walk(p->tcp_buf + 2, ml, &m) < 0 || !(m.flags & DNS_F_QR) ||
	    m.id != p->id) {
		settle(w, p, NULL, 0, NULL);
		return;
	}
	if (!answer_matches(p, &m)) {
		settle(w, p, NULL, 0, error_without_question(&m) ? &m : NULL);
		return;
	}
	settle(w, p, p->tcp_buf + 2, ml, &m);
}

/* Ask the same upstream again over TCP (the UDP answer was truncated). */
static void upstream_tcp(struct dns_worker *w, struct pending *p)
{
	struct upstream *u = &w->ups[p->upstream];
	int fd = socket(u->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || (connect(fd, (struct sockaddr *)&u->addr.ss, u->addr.len) < 0 &&
	               errno != EINPROGRESS)) {
		if (fd >= 0)
			close(fd);
		settle(w, p, NULL, 0, NULL);
		return;
	}
	udp_close(w, p);
	p->tcp_fd = fd;
	p->tcp_buf = xmalloc(65537);
	size_t n =
	    dns_query_build(&p->q, p->id, (uint16_t)w->cfg->edns_size, p->tcp_buf + 2, 65535);
	p->tcp_buf[0] = (uint8_t)(n >> 8);
	p->tcp_buf[1] = (uint8_t)n;
	p->tcp_len = n + 2;
	p->tcp_off = 0;
	/* A fresh deadline for the TCP exchange; a timeout there is final. */
	p->tries = 2 * w->nups;
	p->deadline = loop_now(w->loop) + try_timeout_ms(w);
	pending_unlink(w, p);
	pending_append(w, p);
	loop_io_add(w->loop, fd, EPOLLOUT | EPOLLIN, upstream_tcp_event, p);
}

/* A datagram on an upstream socket: the answer to the try it carries, or dropped. */
static void upstream_read(int fd, uint32_t events, void *arg)
{
	struct dns_worker *w = W;
	struct usock *us = arg;
	uint8_t buf[PKT_MAX];
	for (int i = 0; i < 8; i++) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0)
			return;
		struct pending *p = us->p;
		if (p == NULL)
			continue; /* idle: a late answer to an earlier try */
		struct dns_msg m;
		/* Only an answer with the id and the question of this try, or an
		 * error answer with its id and no question. */
		if (dns_msg_walk(buf, (size_t)n, &m) < 0 || !(m.flags & DNS_F_QR) ||
		    m.id != p->id)
			continue;
		if (!answer_matches(p, &m)) {
			if (error_without_question(&m)) {
				settle(w, p, NULL, 0, &m);
				return;
			}
			continue;
		}
		if ((m.flags & DNS_F_TC) && waiting_limit(w, p) > (size_t)n) {
			/* A client can take more than this: get all of it over TCP. */
			upstream_tcp(w, p);
			return;
		}
		settle(w, p, buf, (size_t)n, &m);
		return;
	}
}

static void pending_sweep(void *arg)
{
	struct dns_worker *w = arg;
	int64_t now = loop_now(w->loop);
	while (w->phead && w->phead->deadline <= now) {
		struct pending *p = w->phead;
		w->n_timeouts++;
		p->tries++;
		if (now - p->start + try_timeout_ms(w) <= w->cfg->upstream_timeout_ms + 50 &&
		    p->tries < 2 * w->nups) {
			/* Try the next upstream, with a fresh id. */
			p->upstream = (p->upstream + 1) % w->nups;
			pending_unlink(w, p);
			pending_append(w, p);
			p->deadline = now + try_timeout_ms(w);
			if (upstream_send(w, p) == 0)
				continue;
		}
		settle(w, p, NULL, 0, NULL);
	}
	emit_soon(&w->em);
}

static int upstreams_open(struct dns_worker *w)
{
	w->nups = w->cfg->nupstream;
	w->ups = xcalloc((size_t)w->nups + 1, sizeof(*w->ups));
	for (int i = 0; i < w->nups; i++) {
		w->ups[i].addr = w->cfg->upstream[i];
		w->ups[i].idle = xcalloc(USOCK_IDLE, sizeof(*w->ups[i].idle));
	}
	return 0;
}

/* ---------- one query, whatever the transport ---------- */

/*
 * Answer pkt from src. Returns the length of an immediate answer in out, or
 * 0 when there is none (dropped, or forwarded and answered later).
 */
static size_t handle_query(struct dns_worker *w, const uint8_t *pkt, size_t len,
                           enum transport tr, int udp_fd, const struct sockaddr *src,
                           socklen_t slen, const struct sockaddr *local, struct tcp_conn *conn,
                           uint8_t *out, size_t cap)
{
	struct dns_query q;
	struct policy_match m;
	const char *reason;
	uint16_t es = (uint16_t)w->cfg->edns_size;

	w->n_queries++;
	enum dns_parse pr = dns_query_parse(pkt, len, &q);
	if (pr != DNS_PARSE_OK) {
		w->n_dropped += pr == DNS_PARSE_DROP;
		w->n_formerr += pr == DNS_PARSE_FORMERR;
		return dns_resp_parse_error(pr, &q, es, out, cap);
	}
	if (q.qtype == DNS_T_AXFR || q.qtype == 251 /* IXFR */)
		return dns_resp_empty(&q, DNS_R_REFUSED, 0, es, out, cap);

	if (decide(w->cfg, w->policy, &q, src, &m, &reason) == V_SINKHOLE)
		return sinkhole_reply(w, &q, src, local, tr, &m, reason, NULL, 0, NULL, out,
		                      cap);
	if (w->nups == 0) {
		w->n_servfail++;
		return dns_resp_empty(&q, DNS_R_REFUSED, 0, es, out, cap);
	}
	forward(w, &q, tr, udp_fd, src, slen, local, conn, &m, reason);
	return 0;
}

/* ---------- UDP ---------- */

/* The address a query on a wildcard socket was sent to (IP_PKTINFO). */
static int local_addr(const struct msghdr *mh, const struct dns_listener *l,
                      struct sockaddr_storage *out)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c;
	     c = CMSG_NXTHDR((struct msghdr *)mh, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			struct sockaddr_in *s4 = (struct sockaddr_in *)out;
			memset(s4, 0, sizeof(*s4));
			s4->sin_family = AF_INET;
			s4->sin_addr = pi.ipi_addr;
			s4->sin_port = ((const struct sockaddr_in *)&l->addr.ss)->sin_port;
			return 0;
		}
		if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;
			memset(s6, 0, sizeof(*s6));
			s6->sin6_family = AF_INET6;
			s6->sin6_addr = pi.ipi6_addr;
			s6->sin6_port = ((const struct sockaddr_in6 *)&l->addr.ss)->sin6_port;
			return 0;
		}
	}
	return -1;
}

/* Answer from the address the query was sent to, as clients expect. */
static void reply_from(struct msghdr *mh, const struct sockaddr *local, void *ctlbuf)
{
	char *buf = ctlbuf;
	mh->msg_control = buf;
	if (local->sa_family == AF_INET) {
		mh->msg_controllen = CMSG_SPACE(sizeof(struct in_pktinfo));
		struct cmsghdr *c = CMSG_FIRSTHDR(mh);
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
		struct in_pktinfo pi;
		memset(&pi, 0, sizeof(pi));
		pi.ipi_spec_dst = ((const struct sockaddr_in *)local)->sin_addr;
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	} else {
		mh->msg_controllen = CMSG_SPACE(sizeof(struct in6_pktinfo));
		struct cmsghdr *c = CMSG_FIRSTHDR(mh);
		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
		struct in6_pktinfo pi;
		memset(&pi, 0, sizeof(pi));
		pi.ipi6_addr = ((const struct sockaddr_in6 *)local)->sin6_addr;
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	}
}

/*
 * Every sinkholed query is an event: while the store is behind, queries wait
 * in the sockets' receive buffers (UDP) and in the connections (TCP: their
 * clients' sends then wait too) instead of their events being dropped (on
 * one shared CPU this hands the store the time it needs). A hold is short
 * (emit.h): answers never wait long for the store.
 */
static void hold_tick(void *arg)
{
	struct dns_worker *w = arg;
	w->hold_timer = NULL;
	emit_hold_check(&w->em); /* may call input_room */
	if (w->held)
		w->hold_timer = loop_timer_add(w->loop, HOLD_TICK_MS, 0, hold_tick, w);
}

static void conn_update(struct tcp_conn *c);

static void hold_input(struct dns_worker *w)
{
	if (w->held)
		return;
	w->held = 1;
	for (int i = 0; i < w->setup->nls; i++)
		loop_io_del(w->loop, w->setup->ls[i].udp_fd);
	for (struct tcp_conn *c = w->conns; c; c = c->next)
		conn_update(c);
	if (w->hold_timer == NULL)
		w->hold_timer = loop_timer_add(w->loop, HOLD_TICK_MS, 0, hold_tick, w);
}

static void udp_read(int fd, uint32_t events, void *arg);

static void input_room(void *arg)
{
	struct dns_worker *w = arg;
	if (!w->held)
		return;
	w->held = 0;
	for (int i = 0; i < w->setup->nls; i++)
		loop_io_add(w->loop, w->setup->ls[i].udp_fd, EPOLLIN, udp_read,
		            &w->setup->ls[i]);
	/* level-triggered: a connection with queries waiting is read at once */
	for (struct tcp_conn *c = w->conns; c; c = c->next)
		conn_update(c);
}

static void udp_read(int fd, uint32_t events, void *arg)
{
	struct dns_worker *w = W;
	struct dns_listener *l = arg;

	for (int round = 0; round < 4; round++) {
		if (emit_hold(&w->em)) {
			hold_input(w);
			return;
		}
		for (int i = 0; i < BATCH; i++) {
			w->riov[i].iov_base = w->rx[i];
			w->riov[i].iov_len = PKT_MAX;
			memset(&w->rmsg[i].msg_hdr, 0, sizeof(w->rmsg[i].msg_hdr));
			w->rmsg[i].msg_hdr.msg_iov = &w->riov[i];
			w->rmsg[i].msg_hdr.msg_iovlen = 1;
			w->rmsg[i].msg_hdr.msg_name = &w->rxaddr[i];
			w->rmsg[i].msg_hdr.msg_namelen = sizeof(w->rxaddr[i]);
			if (l->wildcard) {
				w->rmsg[i].msg_hdr.msg_control = w->rxctl[i].buf;
				w->rmsg[i].msg_hdr.msg_controllen = sizeof(w->rxctl[i].buf);
			}
		}
		int n = recvmmsg(fd, w->rmsg, BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			break;
		int ns = 0;
		for (int i = 0; i < n; i++) {
			if (w->rmsg[i].msg_hdr.msg_flags & MSG_TRUNC) {
				w->n_dropped++;
				continue;
			}
			const struct sockaddr *local = (struct sockaddr *)&l->addr.ss;
			if (l->wildcard &&
			    local_addr(&w->rmsg[i].msg_hdr, l, &w->rxlocal[i]) == 0)
				local = (struct sockaddr *)&w->rxlocal[i];
			size_t out = handle_query(w, w->rx[i], w->rmsg[i].msg_len, T_UDP, fd,
			                          (struct sockaddr *)&w->rxaddr[i],
			                          w->rmsg[i].msg_hdr.msg_namelen, local, NULL,
			                          w->tx[ns], PKT_MAX);
			if (out == 0)
				continue;
			w->siov[ns].iov_base = w->tx[ns];
			w->siov[ns].iov_len = out;
			memset(&w->smsg[ns].msg_hdr, 0, sizeof(w->smsg[ns].msg_hdr));
			w->smsg[ns].msg_hdr.msg_iov = &w->siov[ns];
			w->smsg[ns].msg_hdr.msg_iovlen = 1;
			w->smsg[ns].msg_hdr.msg_name = &w->rxaddr[i];
			w->smsg[ns].msg_hdr.msg_namelen = w->rmsg[i].msg_hdr.msg_namelen;
			if (l->wildcard && local != (struct sockaddr *)&l->addr.ss)
				reply_from(&w->smsg[ns].msg_hdr, local, &w->txctl[ns]);
			ns++;
		}
		for (int off = 0; off < ns;) {
			int s = sendmmsg(fd, w->smsg + off, (unsigned)(ns - off), MSG_DONTWAIT);
			if (s <= 0) {
				/* One bad destination must not stall the batch: skip it. */
				off++;
				continue;
			}
			off += s;
		}
		if (n < BATCH)
			break;
	}
	emit_soon(&w->em);
}

/* ---------- TCP ---------- */

/*
 * Closed: its descriptor, buffers and place in the list go at once; the
 * struct stays while queries it asked upstream are in flight (each holds it,
 * conn_release), which see gen 0 and send nothing.
 */
static void conn_close(struct tcp_conn *c)
{
	struct dns_worker *w = c->w;
	if (c->gen == 0)
		return;
	loop_io_del(w->loop, c->fd);
	close(c->fd);
	c->fd = -1;
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->nconns--;
	c->gen = 0;
	free(c->in);
	free(c->out);
	c->in = c->out = NULL;
	if (c->pending == 0)
		free(c);
}

/* A client that closed its side waits for the answers of its queries in flight. */
static int conn_done(const struct tcp_conn *c)
{
	return c->broken || (c->closing && c->pending == 0 && c->outlen == c->outoff);
}

/* A query in flight for c is over (answered, or given up). */
static void conn_release(struct tcp_conn *c)
{
	c->pending--;
	if (c->gen == 0) {
		if (c->pending == 0)
			free(c);
	} else if (conn_done(c) && c != c->w->in_conn) {
		conn_close(c);
	}
}

static void conn_update(struct tcp_conn *c)
{
	/* Closing: nothing more is read (its input would wake the loop for ever). */
	uint32_t ev = c->w->held || c->closing ? 0 : EPOLLIN;
	if (c->outlen > c->outoff)
		ev |= EPOLLOUT;
	loop_io_mod(c->w->loop, c->fd, ev);
}

static void conn_write(struct tcp_conn *c)
{
	while (c->outoff < c->outlen) {
		ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
		                 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			c->closing = c->broken = 1;
			c->outoff = c->outlen;
			break;
		}
		c->outoff += (size_t)n;
	}
	if (c->outoff == c->outlen)
		c->outoff = c->outlen = 0;
}

static void reply_tcp(struct tcp_conn *c, const uint8_t *msg, size_t len)
{
	/* A client that never reads gets cut off rather than buffered without bound. */
	if (c->outlen - c->outoff > 256 * 1024) {
		c->closing = c->broken = 1;
		return;
	}
	/* What was sent goes: the buffer holds only what is waiting, whatever
	 * a client that reads slowly but never quite keeps up has taken. */
	if (c->outoff > 0 && c->outlen + len + 2 > c->outcap) {
		memmove(c->out, c->out + c->outoff, c->outlen - c->outoff);
		c->outlen -= c->outoff;
		c->outoff = 0;
	}
	if (c->outlen + len + 2 > c->outcap) {
		size_t cap = c->outcap ? c->outcap : 1024;
		while (cap < c->outlen + len + 2)
			cap *= 2;
		c->out = xreallocarray(c->out, cap, 1);
		c->outcap = cap;
	}
	c->out[c->outlen] = (uint8_t)(len >> 8);
	c->out[c->outlen + 1] = (uint8_t)len;
	memcpy(c->out + c->outlen + 2, msg, len);
	c->outlen += len + 2;
	conn_write(c);
	if (c->gen)
		conn_update(c);
}

static void conn_event(int fd, uint32_t events, void *arg)
{
	struct tcp_conn *c = arg;
	struct dns_worker *w = c->w;
	uint8_t out[PKT_MAX];

	w->in_conn = c;
	if (events & (EPOLLERR | EPOLLHUP))
		c->closing = c->broken = 1;
	if (events & EPOLLOUT)
		conn_write(c);
	if ((events & EPOLLIN) && !c->closing) {
		/* A few reads, then the others' turn (the socket stays readable). */
		for (int round = 0; round < 8 && !c->closing; round++) {
			/* the messages read so far are answered; no more while held */
			if (emit_hold(&w->em)) {
				hold_input(w);
				break;
			}
			if (c->inlen == c->incap) {
				size_t cap = c->incap ? c->incap * 2 : 512;
				if (cap > 65537)
					cap = 65537;
				if (cap == c->incap)
					break;
				c->in = xreallocarray(c->in, cap, 1);
				c->incap = cap;
			}
			ssize_t n =
			    recv(fd, c->in + c->inlen, c->incap - c->inlen, MSG_DONTWAIT);
			if (n == 0) {
				c->closing = 1;
				break;
			}
			if (n < 0) {
				if (errno != EAGAIN && errno != EINTR)
					c->closing = 1;
				break;
			}
			c->inlen += (size_t)n;
			c->last = loop_now(w->loop);
			/* Every complete length-prefixed message. */
			size_t off = 0;
			while (c->inlen - off >= 2) {
				size_t ml = (size_t)c->in[off] << 8 | c->in[off + 1];
				if (c->inlen - off - 2 < ml)
					break;
				w->n_tcp++;
				size_t r = handle_query(
				    w, c->in + off + 2, ml, T_TCP, -1,
				    (struct sockaddr *)&c->peer, sizeof(c->peer),
				    (struct sockaddr *)&c->l->addr.ss, c, out, sizeof(out));
				if (r)
					reply_tcp(c, out, r);
				off += 2 + ml;
				if (c->closing)
					break;
			}
			memmove(c->in, c->in + off, c->inlen - off);
			c->inlen -= off;
			/* A message must be whole within the idle timeout of its first
			 * byte: a byte now and then does not keep a slot (tcp_sweep). */
			if (c->inlen == 0)
				c->partial = 0;
			else if (off > 0 || c->partial == 0)
				c->partial = c->last;
		}
	}
	w->in_conn = NULL;
	if (conn_done(c))
		conn_close(c);
	else
		conn_update(c);
	emit_soon(&w->em);
}

/* Which of two connections makes room first: one with no query in flight (closing
 * it loses no answer), then the one idle longest. */
static int evict_first(const struct tcp_conn *a, const struct tcp_conn *b)
{
	if ((a->pending == 0) != (b->pending == 0))
		return a->pending == 0;
	return a->last < b->last;
}

static void tcp_accept(int fd, uint32_t events, void *arg)
{
	struct dns_worker *w = W;
	struct dns_listener *l = arg;
	for (int i = 0; i < 32; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int cfd =
		    accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				log_warnx("tcp: %s: new connections wait 100 ms",
				          strerror(errno));
				loop_io_pause(w->loop, fd, EPOLLIN, 100);
			}
			return;
		}
		if (w->nconns >= w->cfg->tcp_max_clients) {
			/* Full: the client idle longest makes room, one with no
			 * query in flight first. */
			struct tcp_conn *old = w->conns;
			for (struct tcp_conn *o = w->conns; o; o = o->next)
				if (evict_first(o, old))
					old = o;
			if (old)
				conn_close(old);
		}
		struct tcp_conn *c = xcalloc(1, sizeof(*c));
		c->fd = cfd;
		c->w = w;
		c->l = l;
		c->peer = ss;
		c->last = loop_now(w->loop);
		c->gen = ++w->conn_gen ? w->conn_gen : ++w->conn_gen;
		c->next = w->conns;
		if (w->conns)
			w->conns->prev = c;
		w->conns = c;
		w->nconns++;
		loop_io_add(w->loop, cfd, w->held ? 0 : EPOLLIN, conn_event, c);
	}
}

static void tcp_sweep(void *arg)
{
	struct dns_worker *w = arg;
	int64_t now = loop_now(w->loop);
	for (struct tcp_conn *c = w->conns, *nx; c; c = nx) {
		nx = c->next;
		if (now - c->last > w->cfg->tcp_idle_ms && c->pending == 0) {
			conn_close(c);
			continue;
		}
		/*
		 * A message begun longer ago than the idle timeout and still not
		 * whole: a client keeping the slot with a byte now and then. Not
		 * while bytes wait unread (input held for the store, or not yet
		 * read): those may be the rest of it.
		 */
		int waiting = 0;
		if (c->partial && now - c->partial > w->cfg->tcp_idle_ms &&
		    (ioctl(c->fd, FIONREAD, &waiting) < 0 || waiting == 0))
			conn_close(c);
	}
}

/* ---------- reload ---------- */

static void *reload_thread(void *arg)
{
	struct reload *r = arg;
	/* Queries first: the loader runs at the lowest priority beside them. */
	setpriority(PRIO_PROCESS, (id_t)gettid(), 19);
	int64_t t0 = mono_ms();
	r->result = dns_policy_build(r->ls, r->n, 0, 1, r->err, sizeof(r->err));
	r->secs = (double)(mono_ms() - t0) / 1000.0;
	uint64_t one = 1;
	ssize_t x = write(W->reload_efd, &one, sizeof(one));
	(void)x;
	return NULL;
}

/* The parent hears that reload seq is over: it tells the service manager. */
static void reload_told(struct dns_worker *w, uint32_t seq, int ok)
{
	struct ipc_reloaded rd = {seq, ok ? 1u : 0u};
	if (seq != 0 && w->setup->parent_fd >= 0)
		ipc_send(w->setup->parent_fd, IPC_RELOADED, &rd, sizeof(rd), -1);
}

static void reload_start(struct dns_worker *w, struct list_source *ls, int n, uint32_t seq)
{
	if (w->reloading) {
		/* The newest request wins, and runs as soon as the current one is done. */
		if (w->have_queued) {
			dns_lists_close(w->queued, w->nqueued);
			reload_told(w, w->queued_seq, 0); /* never loaded */
		}
		w->queued = ls;
		w->nqueued = n;
		w->queued_seq = seq;
		w->have_queued = 1;
		log_info("reload queued behind the one running");
		return;
	}
	/* What the lists in service hold, file by file: an empty file does not
	 * replace a list that had entries (dns_policy_build). */
	for (int i = 0; i < n; i++) {
		ls[i].had = 0;
		for (int k = 0; w->policy && k < policy_list_count(w->policy); k++) {
			const struct list_info *li = policy_list(w->policy, k);
			if (strcmp(li->path, ls[i].path) == 0 && !li->allow == !ls[i].allow &&
			    !li->clients == !ls[i].clients)
				ls[i].had = li->entries;
		}
	}
	struct reload *r = xcalloc(1, sizeof(*r));
	r->ls = ls;
	r->n = n;
	r->seq = seq;
	w->rl = r;
	w->reloading = 1;
	if (pthread_create(&w->reload_thread, NULL, reload_thread, r) != 0) {
		log_warn("reload thread");
		dns_lists_close(ls, n);
		free(r);
		w->rl = NULL;
		w->reloading = 0;
		reload_told(w, seq, 0);
	}
}

static void reload_done(int fd, uint32_t events, void *arg)
{
	struct dns_worker *w = arg;
	uint64_t v;
	if (read(fd, &v, sizeof(v)) < 0)
		return;
	if (!w->reloading)
		return;
	pthread_join(w->reload_thread, NULL);
	struct reload *r = w->rl;
	w->reloading = 0;
	w->rl = NULL;
	if (r->result) {
		struct policy *old = w->policy;
		w->policy = r->result;
		log_info("lists reloaded: %zu rules in %.2fs", policy_rules(w->policy),
		         r->secs);
		emit_reload(w, w->policy, NULL, r->secs);
		policy_free(&old);
	} else {
		log_warnx("reload failed, previous lists kept: %s", r->err);
		emit_reload(w, NULL, r->err, r->secs);
	}
	dns_lists_close(r->ls, r->n);
	/* Every reload is told, in order: the parent keeps the lists of the last
	 * one taken for a restart (it waits only for the newest). */
	reload_told(w, r->seq, r->result != NULL);
	if (w->have_queued) {
		w->have_queued = 0;
		reload_start(w, w->queued, w->nqueued, w->queued_seq);
		w->queued = NULL;
		w->nqueued = 0;
	}
	free(r);
}

/* ---------- parent and store channels ---------- */

static void parent_read(int fd, uint32_t events, void *arg)
{
	struct dns_worker *w = arg;
	struct ipc_msg *m = xmalloc(sizeof(*m));
	for (;;) {
		int r = ipc_recv(fd, m);
		if (r == -EAGAIN)
			break;
		if (r == 0) {
			log_info("parent gone; stopping");
			loop_break(w->loop);
			break;
		}
		if (r < 0)
			fatalx("parent channel: %s", strerror(-r));
		switch (m->hdr.type) {
		case IPC_RELOAD_BEGIN:
			dns_lists_close(w->incoming, w->nincoming);
			w->incoming = NULL;
			w->nincoming = 0;
			break;
		case IPC_RELOAD_LIST: {
			struct ipc_list il;
			if (m->hdr.len < sizeof(il) || m->hdr.len > sizeof(il) + 4096 ||
			    m->fd < 0)
				fatalx("invalid IPC_RELOAD_LIST");
			memcpy(&il, m->data, sizeof(il));
			size_t pl = m->hdr.len - sizeof(il);
			w->incoming = xreallocarray(w->incoming, (size_t)w->nincoming + 1,
			                            sizeof(*w->incoming));
			struct list_source *s = &w->incoming[w->nincoming++];
			s->path = xmalloc(pl + 1);
			memcpy(s->path, m->data + sizeof(il), pl);
			s->path[pl] = '\0';
			s->fd = m->fd;
			m->fd = -1;
			s->allow = il.allow != 0;
			s->clients = il.clients != 0;
			s->line = il.line;
			break;
		}
		case IPC_RELOAD_END: {
			uint32_t seq = 0;
			if (m->hdr.len == sizeof(seq))
				memcpy(&seq, m->data, sizeof(seq));
			reload_start(w, w->incoming, w->nincoming, seq);
			w->incoming = NULL;
			w->nincoming = 0;
			break;
		}
		case IPC_RELOAD_ERROR: {
			char msg[1024];
			size_t l = m->hdr.len < sizeof(msg) - 1 ? m->hdr.len : sizeof(msg) - 1;
			memcpy(msg, m->data, l);
			msg[l] = '\0';
			emit_reload(w, NULL, msg, 0);
			break;
		}
		case IPC_STORE_CHANNEL:
			if (m->fd < 0)
				fatalx("invalid IPC_STORE_CHANNEL");
			fd_nonblock(m->fd);
			emit_set_channel(&w->em, m->fd);
			m->fd = -1;
			break;
		default:
			fatalx("unexpected message %u from parent", m->hdr.type);
		}
		if (m->fd >= 0)
			close(m->fd);
	}
	free(m);
}

/* Ask the store for the durable sinkhole map and wait for it (bounded). */
static void map_load(struct dns_worker *w)
{
	int fd = w->em.fd;
	if (fd < 0 || ipc_send(fd, IPC_MAP_REQUEST, NULL, 0, -1) < 0)
		return;
	struct ipc_msg *m = xmalloc(sizeof(*m));
	int64_t until = mono_ms() + 30000;
	uint32_t n = 0;
	for (;;) {
		int r = ipc_recv(fd, m);
		if (r == -EAGAIN) {
			if (mono_ms() > until) {
				log_warnx("store did not send the sinkhole map in time");
				break;
			}
			usleep(2000);
			continue;
		}
		if (r <= 0) {
			log_warnx("store channel closed while loading the map");
			break;
		}
		if (m->hdr.type == IPC_MAP_DONE)
			break;
		if (m->hdr.type != IPC_MAP_ENTRY)
			fatalx("unexpected message %u from store", m->hdr.type);
		struct ipc_map_entry e;
		if (m->hdr.len < sizeof(e) || m->hdr.len > sizeof(e) + IPC_MAP_NAME_MAX)
			fatalx("invalid IPC_MAP_ENTRY");
		memcpy(&e, m->data, sizeof(e));
		char name[IPC_MAP_NAME_MAX + 1];
		size_t nl = m->hdr.len - sizeof(e);
		memcpy(name, m->data + sizeof(e), nl);
		name[nl] = '\0';
		struct pool *p = e.family == AF_INET ? w->pool4 : w->pool6;
		if (p && pool_restore(p, name, e.addr, e.last_use) == 0)
			n++;
	}
	free(m);
	log_info("sinkhole map: %u mappings restored", n);
}

static void store_read(int fd, void *arg)
{
	/* The store only talks during map_load(); anything else is drained. */
	struct ipc_msg *m = xmalloc(sizeof(*m));
	int r;
	while ((r = ipc_recv(fd, m)) > 0)
		if (m->fd >= 0)
			close(m->fd);
	if (r == 0)
		emit_set_reader(&W->em, NULL, NULL); /* the store is gone: a new one comes */
	free(m);
}

/* ---------- main ---------- */

static void on_signal(int fd, uint32_t events, void *arg)
{
	struct dns_worker *w = arg;
	struct signalfd_siginfo si;
	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			log_info("stopping");
			loop_break(w->loop);
		} else if (si.ssi_signo == SIGHUP && w->setup->parent_fd < 0) {
			/* Alone: reopen the lists of the config ourselves. */
			struct list_source *ls;
			int n;
			char err[512];
			if (dns_lists_open(w->cfg, &ls, &n, err, sizeof(err)) < 0) {
				log_warnx("reload: %s", err);
				emit_reload(w, NULL, err, 0);
			} else {
				reload_start(w, ls, n, 0);
			}
		}
	}
}

int dns_worker_main(struct config *c, struct dns_setup *s)
{
	static struct dns_worker worker;
	struct dns_worker *w = &worker;
	char err[512];

	W = w;
	w->cfg = c;
	w->setup = s;
	sipkey_init(&w->hkey, 0, w);
	w->loop = loop_new();
	emit_init(&w->em, w->loop, s->store_fd, "dns");
	if (s->store_fd < 0)
		emit_set_sink(&w->em, render_sink_stdout, NULL);
	else
		fd_nonblock(s->store_fd);

	int64_t t0 = mono_ms();
	w->policy = dns_policy_build(s->lists, s->nlists, 0, 0, err, sizeof(err));
	dns_lists_close(s->lists, s->nlists);
	s->lists = NULL;
	s->nlists = 0;
	if (w->policy == NULL)
		fatalx("%s", err);
	if (err[0])
		emit_reload(w, NULL, err, 0); /* loaded anyway: nothing older to keep */
	log_info("%zu rules from %d lists loaded in %.2fs", policy_rules(w->policy),
	         policy_list_count(w->policy), (double)(mono_ms() - t0) / 1000.0);

	if (c->have_sinkhole4)
		w->pool4 = pool_new(&c->sinkhole4, (uint32_t)c->map_memory);
	if (c->have_sinkhole6)
		w->pool6 = pool_new(&c->sinkhole6, (uint32_t)c->map_memory);
	map_load(w);
	if (s->store_fd >= 0) {
		emit_set_reader(&w->em, store_read, w);
		emit_set_hold(&w->em, EVENTS_HOLD_BYTES, input_room, w);
	}
	if (c->cache_entries > 0)
		w->cache = dns_cache_new((uint32_t)c->cache_entries, 16u << 20, 86400);
	upstreams_open(w);

	for (int i = 0; i < s->nls; i++) {
		struct dns_listener *l = &s->ls[i];
		fd_nonblock(l->udp_fd);
		fd_nonblock(l->tcp_fd);
		loop_io_add(w->loop, l->udp_fd, EPOLLIN, udp_read, l);
		loop_io_add(w->loop, l->tcp_fd, EPOLLIN, tcp_accept, l);
	}
	if (s->parent_fd >= 0) {
		fd_nonblock(s->parent_fd);
		loop_io_add(w->loop, s->parent_fd, EPOLLIN, parent_read, w);
	}
	w->reload_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	loop_io_add(w->loop, w->reload_efd, EPOLLIN, reload_done, w);

	static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
	loop_signals(w->loop, sigs, 3, on_signal, w);

	/* Everything is open: from here on the worker only serves. */
	sandbox_lockdown("dns", SANDBOX_NO_PACKET);

	loop_timer_add(w->loop, 50, 1, pending_sweep, w);
	loop_timer_add(w->loop, 1000, 1, tcp_sweep, w);
	loop_timer_add(w->loop, STATS_INTERVAL_MS, 1, emit_stats, w);

	for (int i = 0; i < s->nls; i++) {
		char t[80];
		log_info("serving on %s (udp, tcp)",
		         addrport_fmt((struct sockaddr *)&s->ls[i].addr.ss, t, sizeof(t)));
	}
	if (s->parent_fd >= 0)
		ipc_send(s->parent_fd, IPC_HELLO, "dns", 3, -1);

	loop_run(w->loop);

	/* Clean stop: answer nothing more, hand every event to the store. */
	emit_stats(w);
	emit_drain(&w->em);
	if (w->reloading)
		pthread_join(w->reload_thread, NULL);
	return 0;
}

/* ---------- sinktrap check ---------- */

int dns_check_policy(struct config *c, struct policy *p, const char *name, FILE *out,
                     FILE *errout)
{
	struct dns_query q;
	memset(&q, 0, sizeof(q));
	size_t nl = strlen(name);
	char ascii[sizeof(q.name)], err[160];
	if (idn_is_unicode(name, nl)) {
		/* asked as it is written; looked up as queries carry it */
		if (idn_to_ascii(name, nl, ascii, sizeof(ascii), err, sizeof(err)) < 0) {
			fprintf(errout, "%s: %s\n", name, err);
			return 2;
		}
		name = ascii;
		nl = strlen(name);
	}
	uint8_t ip[16];
	int fam = addr_parse_ip(name, ip);
	if (fam) {
		/* An address: which address rule (rpz-ip, ip list) covers it in a
		 * forwarded answer, and which rpz-client-ip trigger as a client. */
		struct policy_match m;
		enum policy_action a = policy_lookup_ip(p, fam, ip, &m);
		if (a == POLICY_NONE)
			fprintf(out, "%s: no address entry covers it\n", name);
		else
			fprintf(out, "%s: %s by %s:%d (%s)\n", name,
			        a == POLICY_BLOCK ? "blocked" : "allowed", m.file, m.line,
			        m.rule);
		fprintf(out, "answer: %s\n",
		        a == POLICY_BLOCK
		            ? "a forwarded answer holding it is sinkholed (the name "
		              "asked gets the sinkhole answer)"
		            : "a forwarded answer holding it is passed on");
		enum policy_action ca = policy_lookup_client(p, fam, ip, &m);
		if (ca != POLICY_NONE)
			fprintf(out, "client %s: %s by %s:%d (%s): %s\n", name,
			        ca == POLICY_BLOCK ? "blocked" : "allowed", m.file, m.line,
			        m.rule,
			        ca == POLICY_BLOCK ? "every name it asks is sinkholed"
			                           : "no list entry applies to its queries");
		else if (policy_client_rules(p))
			fprintf(out, "client %s: no rpz-client-ip entry covers it\n", name);
		return a == POLICY_BLOCK || ca == POLICY_BLOCK ? 0 : 1;
	}
	if (nl >= sizeof(q.name)) {
		fprintf(errout, "name too long\n");
		return 2;
	}
	for (size_t i = 0; i <= nl; i++)
		q.name[i] = (char)lower((uint8_t)name[i]);
	if (nl > 0 && q.name[nl - 1] == '.')
		q.name[--nl] = '\0'; /* "." is the root, "" */
	q.name_len = nl;
	/* Only a name a query can carry has an answer to show. */
	const char *why = nl > 253 ? "longer than 253 characters" : NULL;
	for (size_t i = 0; why == NULL && i < nl; i++)
		if ((uint8_t)q.name[i] <= ' ' || (uint8_t)q.name[i] == 0x7f)
			why = "a space or control character (written \\DDD in a name, \\032 "
			      "for a "
			      "space)";
	for (size_t i = 0, ls = 0; why == NULL && nl > 0 && i <= nl; i++) {
		if (i < nl && q.name[i] != '.')
			continue;
		if (i == ls)
			why = "an empty label";
		else if (i - ls > 63)
			why = "a label longer than 63 characters";
		ls = i + 1;
	}
	if (why) {
		fprintf(errout, "%s: not a domain name: %s\n", name, why);
		return 2;
	}

	struct policy_match m;
	const char *reason;
	enum verdict v = decide(c, p, &q, NULL, &m, &reason);
	if (m.action != POLICY_NONE)
		fprintf(out, "%s: %s by %s:%d (%s%s)\n", q.name[0] ? q.name : ".",
		        m.action == POLICY_BLOCK ? "blocked" : "allowed", m.file, m.line,
		        m.rule, m.wildcard ? ", covers subdomains" : "");
	else
		fprintf(out, "%s: no list entry (%s)\n", q.name[0] ? q.name : ".", reason);
	if (v == V_SINKHOLE) {
		char a[128] = "", b[128] = "";
		if (c->have_sinkhole4)
			prefix_fmt(&c->sinkhole4, a, sizeof(a));
		if (c->have_sinkhole6)
			prefix_fmt(&c->sinkhole6, b, sizeof(b));
		fprintf(out,
		        "answer: sinkholed (%s): A from %s, AAAA from %s, other types NODATA, "
		        "ttl %u\n",
		        reason, a[0] ? a : "none (NODATA)", b[0] ? b : "none (NODATA)", c->ttl);
	} else {
		fprintf(out, "answer: forwarded to upstream (%s)%s\n", reason,
		        c->cname_inspect ? "; sinkholed instead if the answer's CNAME chain "
		                           "reaches a blocked name"
		                         : "");
	}
	return v == V_SINKHOLE ? 0 : 1;
}

int dns_check_name(struct config *c, const char *name, FILE *out)
{
	struct list_source *ls;
	int n;
	char err[512];
	if (dns_lists_open(c, &ls, &n, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	struct policy *p = dns_policy_build(ls, n, 1, 0, err, sizeof(err));
	dns_lists_close(ls, n);
	if (p == NULL) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	int rc = dns_check_policy(c, p, name, out, stderr);
	policy_free(&p);
	return rc;
}

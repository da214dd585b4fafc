/*
 * The trap worker: one epoll loop for every listener and connection.
 *
 * A TCP connection goes through these states:
 *   DETECT   bytes are gathered until the protocol is known (detect.h), or a
 *            banner was sent first on a server-speaks-first port;
 *   TLS      a ClientHello was seen: it is fingerprinted (tlshello.h), then
 *            OpenSSL terminates TLS through memory BIOs with a certificate for
 *            the SNI name (tlsca.h), and detection starts again on plaintext;
 *   SSH      the client's identification and KEXINIT are recorded;
 *   RESPOND  a responder (responder.h) talks the protocol.
 * Every connection ends in one "trap" event, whatever ends it. The worker
 * never opens an outbound connection (its seccomp filter refuses connect).
 */
#include "trap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../capture/communityid.h"
#include "../common/emit.h"
#include "../common/ipc.h"
#include "../common/log.h"
#include "../common/loop.h"
#include "../common/openssl_shim.h"
#include "../common/sandbox.h"
#include "../common/util.h"
#include "../dns/wire.h"
#include "../store/render.h"
#include "attrib.h"
#include "detect.h"
#include "payload.h"
#include "resp_common.h"
#include "responder.h"
#include "sshbanner.h"
#include "tlsca.h"
#include "tlshello.h"

#define READ_CHUNK 16384
#define DETECT_WAIT_MS 3000   /* partial opening: decide with what there is */
#define LONG_SESSION_MS 30000 /* a start event for connections older than this */
#define MAX_PAYLOADS 8        /* hashes named in one trap event */
#define SSH_BANNER "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"
#define SOURCE_SLOTS 16384
#define UDP_HEX_BYTES 64
#define UDP_MAX                                                                                \
	65536 /* more than any datagram holds (65507 bytes over IPv4, 65527 over IPv6) */
/* What an SSL object holds for a connection, counted in memory_max: its
 * record buffers (16 KiB and more each way), the handshake's state and the
 * memory BIOs, about 34 to 42 KiB measured. */
#define TLS_CONN_MEM (40u << 10)
#define DNS_TCP_QUERIES 16 /* questions of one DNS-over-TCP connection kept for its event */
#define ERROR_TEXT 160

enum cstate { ST_DETECT, ST_TLS, ST_SSH, ST_RESPOND, ST_DATA };

struct tconn {
	int fd;
	struct trap_worker *w;
	struct trap_listener *l;
	enum cstate state;
	struct sockaddr_storage peer, local; /* local: the original destination */
	int64_t start_ms, last_ms, start_us, first_byte_ms;
	uint64_t bytes_in, bytes_out;
	const char *end;
	char domain[DNS_NAME_TEXT_MAX];
	const char *domain_source;
	int started_event;
	int closing;
	uint32_t evmask; /* what epoll watches now: a change costs a system call */
	/* detection buffer (raw, or plaintext after TLS) */
	uint8_t *in;
	size_t inlen, incap;
	/* TLS */
	int tls;
	SSL *ssl;
	struct tls_hello *hello;
	char tls_version[32], tls_cipher[64], tls_alpn[32];
	/* SSH */
	struct ssh_banner *sshb;
	struct ssh_kexinit *sshk;
	int sshb_ok, sshk_ok; /* parsed (the structs are filled only then) */
	/* The client's opening bytes, for a TLS handshake (kept when the hello did
	 * not parse or the handshake failed) and DNS over TCP (always kept). */
	struct resp_blob opening;
	int keep_opening;
	char error[ERROR_TEXT]; /* why the hello, identification or handshake failed */
	/* DNS over TCP: the questions asked */
	struct dns_tcp_q *dnsq;
	int ndnsq;
	unsigned dnsq_total;
	size_t mem_charged; /* in memory_max besides reply buffers and blobs: conn_charge */
	size_t held;        /* all it holds in memory_max, as its turns took it (approximate) */
	/* the protocol */
	enum trap_proto proto;
	int banner_sent;
	const struct responder *r;
	void *rst;
	struct resp_ctx ctx;
	struct resp_out out; /* plaintext replies */
	struct resp_out raw; /* bytes for the socket (TLS records, SSH banner) */
	char payloads[MAX_PAYLOADS][65];
	int npayloads;
	unsigned payload_count; /* all stored, listed or not */
	/* FTP data channel */
	int data_listen_fd;
	uint16_t data_port;
	struct tconn *data;   /* the data connection, once it came */
	struct tconn *parent; /* for a data connection: its control connection */
	/* What goes out on the data channel (kept by the control connection
	 * until the data connection comes): a listing, owned, or the stand-in
	 * file, the worker's for its life; sent from send_off, a piece at a time. */
	const uint8_t *send_src;
	size_t send_len, send_off;
	int send_owned;
	struct source *src;
	struct tconn *prev, *next;
};

struct dns_tcp_q {
	char *name; /* presentation form, malloced */
	char type[16];
};

struct source {
	uint8_t key[17];
	int used;
	int active;
	double tokens;
	int64_t last_ms;
	uint64_t refused;
};

struct trap_worker {
	struct config *cfg;
	struct trap_setup *setup;
	struct loop *loop;
	struct emitter em;
	struct attrib *map;
	struct payload_store *payloads;
	struct tlsca *ca;
	SSL_CTX *tls_ctx;
	struct resp_config rcfg;
	uint8_t *http_page, *ftp_file;
	size_t http_page_len, ftp_file_len;
	struct tconn *conns;
	int nconns;
	struct tconn *dead; /* closed, freed when the current callback returns */
	struct tconn **ftp; /* control connections waiting for a passive data connection */
	int nftp, capftp;   /* (as many as there are connections: none is left out) */
	/* Per-source accounting, TCP and UDP apart: a UDP source costs nothing to
	 * forge, and forged ones filling the table would leave real TCP clients
	 * with no slot, which are then not counted at all. */
	struct source *sources, *usources;
	uint8_t rx[READ_CHUNK];
	uint8_t udp_rx[UDP_MAX];
	/* counters */
	uint64_t n_conns, n_refused, n_udp, n_payloads, n_evicted;
	uint64_t n_memory;      /* connections closed by the memory budget */
	int64_t memory_said_ms; /* when the log last said so */
};

static struct trap_worker *W;

/* ---------- helpers ---------- */

static void community_id(const struct sockaddr *src, const struct sockaddr *dst, uint8_t proto,
                         char out[COMMUNITYID_STRLEN])
{
	int f1, f2;
	uint8_t a[16], b[16];
	f1 = addr_ip(src, a);
	f2 = addr_ip(dst, b);
	out[0] = '\0';
	if (f1 == f2)
		communityid_compute(0, f1 == AF_INET ? 4 : 6, a, b, proto,
		                    (uint16_t)addr_port(src), (uint16_t)addr_port(dst), out);
}

/* ---------- per-source limits ---------- */

static struct source *source_get(struct trap_worker *w, struct source *table,
                                 const struct sockaddr *sa, int64_t now)
{
	uint8_t key[17];
	addr_source_key(sa, key);
	uint32_t h = 2166136261u;
	for (int i = 0; i < 17; i++)
		h = (h ^ key[i]) * 16777619u;
	struct source *victim = NULL;
	for (int probe = 0; probe < 16; probe++) {
		struct source *s = &table[(h + (uint32_t)probe) % SOURCE_SLOTS];
		if (s->used && !memcmp(s->key, key, 17))
			return s;
		if (!s->used || (s->active == 0 && now - s->last_ms > 10000)) {
			if (victim == NULL)
				victim = s;
		}
	}
	if (victim == NULL)
		return NULL; /* the table is busy: no per-source accounting for this one */
	memset(victim, 0, sizeof(*victim));
	memcpy(victim->key, key, 17);
	victim->used = 1;
	victim->tokens = w->cfg->rate_per_source;
	victim->last_ms = now;
	return victim;
}

/* May this source open one more connection now? Token bucket + concurrency. */
static int source_admit(struct trap_worker *w, struct source *s, int64_t now)
{
	if (s == NULL)
		return 1;
	double rate = w->cfg->rate_per_source;
	s->tokens += (double)(now - s->last_ms) * rate / 1000.0;
	if (s->tokens > rate)
		s->tokens = rate;
	s->last_ms = now;
	if (s->active >= w->cfg->max_per_source || s->tokens < 1.0) {
		s->refused++;
		return 0;
	}
	s->tokens -= 1.0;
	return 1;
}

/* ---------- events ---------- */

static void ev_conn(struct evbuf *b, const struct tconn *c, const char *proto)
{
	char cid[COMMUNITYID_STRLEN];
	ev_addr(b, "src_ip", (const struct sockaddr *)&c->peer);
	ev_int(b, "src_port", addr_port((const struct sockaddr *)&c->peer));
	ev_addr(b, "dest_ip", (const struct sockaddr *)&c->local);
	ev_int(b, "dest_port", addr_port((const struct sockaddr *)&c->local));
	ev_str(b, "proto", proto);
	community_id((const struct sockaddr *)&c->peer, (const struct sockaddr *)&c->local,
	             !strcmp(proto, "TCP") ? 6 : 17, cid);
	if (cid[0])
		ev_str(b, "community_id", cid);
}

static const char *listener_name(enum trap_listen_kind k)
{
	return k == TRAP_L_REDIRECT ? "redirect" : k == TRAP_L_TPROXY ? "tproxy" : "explicit";
}

static void attribute(struct trap_worker *w, struct tconn *c)
{
	int family;
	uint8_t a[16];
	family = addr_ip((struct sockaddr *)&c->local, a);
	const char *d = attrib_get(w->map, family, a);
	if (d) {
		snprintf(c->domain, sizeof(c->domain), "%s", d);
		c->domain_source = "sinkhole_map";
	}
}

static void domain_from_request_name(struct tconn *c, const struct responder *r, void *st);

/* c's domain as far as it is known now: the trap and fileinfo events say the same. */
static void conn_domain(struct trap_worker *w, struct tconn *c)
{
	/* The mapping can arrive a moment after a connection that followed the answer at once.
	 */
	if (c->domain_source == NULL || strcmp(c->domain_source, "sinkhole_map") != 0)
		attribute(w, c);
	if (!c->domain[0] && c->r && c->r->domain && c->rst)
		domain_from_request_name(c, c->r, c->rst);
}

static void emit_trap(struct trap_worker *w, struct tconn *c, const char *phase)
{
	struct evbuf *b = emit_buf(&w->em);
	conn_domain(w, c);
	int64_t now = loop_now(w->loop);
	ev_begin(b, "trap", 0);
	ev_conn(b, c, "TCP");
	if (c->proto != TRAP_PROTO_UNKNOWN)
		ev_str(b, "app_proto", trap_proto_name(c->proto));
	ev_obj(b, "trap");
	ev_str(b, "phase", phase);
	ev_time(b, "start", c->start_us);
	if (c->domain[0]) {
		ev_str(b, "domain", c->domain);
		ev_str(b, "domain_source", c->domain_source);
	}
	ev_str(b, "listener", listener_name(c->l->kind));
	ev_str(b, "detected", trap_proto_name(c->proto));
	ev_bool(b, "tls", c->tls);
	ev_int(b, "bytes_toserver", (int64_t)c->bytes_in);
	ev_int(b, "bytes_toclient", (int64_t)c->bytes_out);
	ev_int(b, "duration_ms", now - c->start_ms);
	if (c->end)
		ev_str(b, "end", c->end);
	if (c->error[0])
		ev_str(b, "error", c->error);
	if (c->npayloads) {
		ev_arr(b, "payloads");
		for (int i = 0; i < c->npayloads; i++)
			ev_str(b, NULL, c->payloads[i]);
		ev_close(b);
		if (c->payload_count > (unsigned)c->npayloads)
			ev_int(b, "payload_count", c->payload_count);
	}
	ev_close(b);
	if (c->hello) {
		tls_hello_event_fields(c->hello, b);
	}
	if (c->tls && c->tls_version[0]) {
		ev_obj(b, "tls_session");
		ev_str(b, "version", c->tls_version);
		ev_str(b, "cipher", c->tls_cipher);
		if (c->tls_alpn[0])
			ev_str(b, "alpn", c->tls_alpn);
		ev_close(b);
	}
	if (c->sshb && c->sshb_ok)
		ssh_event_fields(c->sshb, c->sshk_ok ? c->sshk : NULL, b);
	if (c->ndnsq) {
		/* The first question as a datagram's; every kept one when there were more. */
		ev_obj(b, "dns");
		ev_str(b, "rrname", c->dnsq[0].name);
		ev_str(b, "rrtype", c->dnsq[0].type);
		if (c->dnsq_total > 1) {
			ev_int(b, "query_count", c->dnsq_total);
			ev_arr(b, "queries");
			for (int i = 0; i < c->ndnsq; i++) {
				ev_obj(b, "");
				ev_str(b, "rrname", c->dnsq[i].name);
				ev_str(b, "rrtype", c->dnsq[i].type);
				ev_close(b);
			}
			ev_close(b);
		}
		ev_close(b);
	}
	if (c->r && c->rst)
		c->r->fields(c->rst, b);
	emit_commit(&w->em);
}

/* ---------- payloads (the responders' callback) ---------- */

static void on_payload(void *arg, const char *kind, const char *name, const uint8_t *data,
                       size_t len, int truncated)
{
	struct tconn *c = arg;
	struct trap_worker *w = c->w;
	struct payload_result r;
	if (len == 0 || w->payloads == NULL)
		return;
	payload_store_put(w->payloads, data, len, &r);
	w->n_payloads++;
	c->payload_count++;
	if (c->npayloads < MAX_PAYLOADS)
		memcpy(c->payloads[c->npayloads++], r.sha256, 65);
	conn_domain(w, c);
	struct evbuf *b = emit_buf(&w->em);
	ev_begin(b, "fileinfo", 0);
	ev_conn(b, c, "TCP");
	ev_str(b, "app_proto", trap_proto_name(c->proto));
	ev_obj(b, "fileinfo");
	if (name)
		ev_str(b, "filename", name);
	ev_str(b, "kind", kind);
	ev_str(b, "sha256", r.sha256);
	ev_int(b, "size", (int64_t)len);
	ev_bool(b, "stored", r.stored);
	ev_bool(b, "truncated", truncated);
	if (c->domain[0])
		ev_str(b, "domain", c->domain);
	ev_close(b);
	emit_commit(&w->em);
	if (r.evicted) {
		w->n_evicted += r.evicted;
		ev_begin(b, "stats", 0);
		ev_obj(b, "stats");
		ev_str(b, "worker", "trap");
		ev_obj(b, "payloads");
		ev_int(b, "evicted", r.evicted);
		ev_int(b, "evicted_bytes", r.evicted_bytes);
		ev_str(b, "note", "payload quota reached: the oldest payloads were removed");
		ev_int(b, "stored_bytes", payload_store_bytes(w->payloads));
		ev_close(b);
		ev_close(b);
		emit_commit(&w->em);
	}
}

/* ---------- connections ---------- */

/*
 * Memory a connection holds outside its reply buffers and blobs (this
 * struct, from conn_new; its detection buffer, its TLS state and hello, its
 * SSH identification and algorithms, the DNS questions it recorded), counted
 * in memory_max while it lives and given back, all of it, when it is freed
 * (conn_release), however it ended.
 */
static void conn_charge(struct tconn *c, size_t n)
{
	size_t *prev = resp_mem_owner(&c->held);
	resp_mem_charge(n);
	resp_mem_owner(prev);
	c->mem_charged += n;
}

static void conn_uncharge(struct tconn *c, size_t n)
{
	if (n > c->mem_charged)
		n = c->mem_charged;
	size_t *prev = resp_mem_owner(&c->held);
	resp_mem_release(n);
	resp_mem_owner(prev);
	c->mem_charged -= n;
}

/* The detection buffer's memory, given back. */
static void in_free(struct tconn *c)
{
	conn_uncharge(c, c->incap);
	free(c->in);
	c->in = NULL;
	c->inlen = c->incap = 0;
}

/*
 * The opening bytes kept (see struct tconn) become a "raw" payload, and their
 * memory is given back.
 */
static void opening_store(struct tconn *c)
{
	struct resp_blob *o = &c->opening;
	if (o->seen)
		on_payload(c, "raw", NULL, o->data ? o->data : (const uint8_t *)"", o->len,
		           o->seen > o->len);
	resp_blob_free(o);
}

/* The TLS library's reason for the error at the front of its queue, after what. */
static void tls_error_text(struct tconn *c, const char *what, int ssl_error)
{
	char buf[256];
	const char *reason = buf;
	unsigned long e = ERR_get_error();
	if (e != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		/* "error:0A000102:SSL routines::unsupported protocol": the last part */
		char *colon = strrchr(buf, ':');
		if (colon && colon[1])
			reason = colon + 1;
	} else if (ssl_error == SSL_ERROR_ZERO_RETURN) {
		reason = "closed by the client";
	} else {
		snprintf(buf, sizeof(buf), "error %d", ssl_error);
	}
	/* After what the hello's parse said, if anything; cut to fit. */
	size_t l = strlen(c->error);
	if (l + 3 < sizeof(c->error) && snprintf(c->error + l, sizeof(c->error) - l, "%s%s: %s",
	                                         l ? "; " : "", what, reason) < 0)
		c->error[l] = '\0';
}

static void conn_close(struct tconn *c, const char *why);
static void reap(struct trap_worker *w);
static void ftp_forget(struct trap_worker *w, struct tconn *c);
static void data_listen_close(struct tconn *c);

/*
 * Output the client has not taken. Past OUT_PAUSE its input waits (as a
 * server's would for pipelined commands), so that a client that asks and
 * never reads holds about that much, not the whole of its buffers.
 */
#define OUT_PAUSE (256u << 10)
static int conn_backed_up(const struct tconn *c)
{
	return c->out.len + c->raw.len > OUT_PAUSE;
}

/*
 * The worker's memory budget ([trap] memory_max): replies waiting, payloads
 * being collected and each connection's own state, every connection
 * together. When a connection's turn takes the worker past it (what all held
 * was `before` that turn, and grew in it), the connections that hold the most
 * are closed until what they hold brings the worker back under it: the
 * newcomer only when it is itself among the largest. So clients that hold
 * much and never read (or upload slowly) cannot pin the budget and have every
 * new connection refused. A connection closed so ends as trap.end "memory",
 * its payload so far stored like any other. One that took no more is left
 * alone. 1 when c itself was closed.
 */
static int over_budget(const struct trap_worker *w, size_t before)
{
	size_t held = resp_mem_held();
	return held > before && held > (size_t)w->cfg->trap_memory_max;
}

static void memory_close(struct tconn *c, size_t held)
{
	struct trap_worker *w = c->w;
	w->n_memory++;
	int64_t now = loop_now(w->loop);
	if (w->memory_said_ms == 0 || now - w->memory_said_ms >= 10000) {
		char ip[INET6_ADDRSTRLEN + 8];
		log_warnx(
		    "connections hold %zu bytes, past memory_max %lld: the connection from "
		    "%s, holding %zu, is closed, its payload so far stored (%llu so far)",
		    held, (long long)w->cfg->trap_memory_max,
		    addrport_fmt((const struct sockaddr *)&c->peer, ip, sizeof(ip)), c->held,
		    (unsigned long long)w->n_memory);
		w->memory_said_ms = now;
	}
	conn_close(c, "memory");
}

/* The open connection that holds the most, not yet chosen (its fd < 0 once closed). */
static struct tconn *largest_holder(struct trap_worker *w)
{
	struct tconn *big = NULL;
	/* A data connection's memory is its control connection's (data_owner):
	 * closing that one closes both. */
	for (struct tconn *x = w->conns; x; x = x->next)
		if (x->fd >= 0 && x->state != ST_DATA && (big == NULL || x->held > big->held))
			big = x;
	return big;
}

static int conn_over_budget(struct tconn *c, size_t before)
{
	struct trap_worker *w = c->w;
	size_t held = resp_mem_held();
	if (c->fd < 0 || !over_budget(w, before))
		return 0;
	/* What a closed connection holds is given back when it is reaped: counted here. */
	size_t left = held, max = (size_t)w->cfg->trap_memory_max;
	for (int i = 0; i < 64 && left > max && c->fd >= 0; i++) {
		struct tconn *x = largest_holder(w);
		/* None holds anything this one does not (the rest is counted to no
		 * one): closing others would free nothing, so this one goes. */
		if (x == NULL || x->held == 0 || x->held < c->held)
			x = c;
		size_t freed = x->held;
		memory_close(x, held);
		left = freed > left ? 0 : left - freed;
	}
	if (left > max && c->fd >= 0)
		memory_close(c, held);
	return c->fd < 0;
}

static void conn_update(struct tconn *c)
{
	/* A closing connection is not read any more: only its last output goes. */
	uint32_t ev = c->closing || conn_backed_up(c) ? 0 : EPOLLIN;
	if (c->raw.len || (!c->tls && c->out.len))
		ev |= EPOLLOUT;
	if (ev != c->evmask && c->fd >= 0) {
		loop_io_mod(c->w->loop, c->fd, ev);
		c->evmask = ev;
	}
}

/*
 * Responder output into raw, as much as fits: nothing is cut off the stream
 * (a TLS record least of all); what does not fit waits in out or in TLS's
 * buffer until the client has taken more.
 */
static void conn_fill(struct tconn *c)
{
	size_t max = c->raw.max ? c->raw.max : RESP_OUT_MAX;
	if (c->ssl) {
		/* Plaintext goes through TLS once it runs; handshake records go out
		 * regardless. */
		BIO *wb = SSL_get_wbio(c->ssl);
		char buf[16384];
		while (c->raw.len + sizeof(buf) <= max) {
			int n = BIO_read(wb, buf, sizeof(buf));
			if (n > 0) {
				resp_out_put(&c->raw, buf, (size_t)n);
				continue;
			}
			if (!c->tls || c->out.len == 0)
				break;
			n = SSL_write(c->ssl, c->out.data,
			              (int)(c->out.len > 16384 ? 16384 : c->out.len));
			if (n <= 0)
				break;
			resp_out_consume(&c->out, (size_t)n);
		}
	} else if (c->out.len && c->raw.len < max) {
		size_t k = max - c->raw.len < c->out.len ? max - c->raw.len : c->out.len;
		resp_out_put(&c->raw, c->out.data, k);
		resp_out_consume(&c->out, k);
	}
}

/* Move responder output to the socket (through TLS when it runs). */
static int conn_flush(struct tconn *c)
{
	size_t max = c->raw.max ? c->raw.max : RESP_OUT_MAX;
	for (;;) {
		if (c->raw.len < max / 2)
			conn_fill(c);
		if (c->raw.len == 0)
			return 0;
		while (c->raw.len) {
			ssize_t n =
			    send(c->fd, c->raw.data, c->raw.len, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR)
					return 0;
				return -1;
			}
			c->bytes_out += (uint64_t)n;
			if (n > 0) { /* a client taking a long reply is not idle */
				c->last_ms = loop_now(c->w->loop);
				if (c->parent) /* nor is an FTP session taking a file */
					c->parent->last_ms = c->last_ms;
			}
			resp_out_consume(&c->raw, (size_t)n);
		}
	}
}

static void act(struct tconn *c, int action)
{
	if (action < 0) {
		conn_close(c, "error");
		return;
	}
	if (conn_flush(c) < 0) {
		conn_close(c, "reset");
		return;
	}
	if (action == RESP_CLOSE) {
		c->closing = 1;
		if (c->raw.len == 0)
			conn_close(c, "server_closed");
		else
			conn_update(c);
		return;
	}
	conn_update(c);
}

static const struct resp_ops resp_ops;

static void start_responder(struct tconn *c, enum trap_proto p)
{
	size_t before = resp_mem_held();
	c->proto = p;
	c->r = resp_lookup(p);
	c->ctx.ops = &resp_ops;
	c->ctx.arg = c;
	c->ctx.tls = c->tls;
	addr_fmt((struct sockaddr *)&c->local, c->ctx.local_ip, sizeof(c->ctx.local_ip));
	addr_fmt((struct sockaddr *)&c->peer, c->ctx.peer_ip, sizeof(c->ctx.peer_ip));
	c->ctx.local_port = (uint16_t)addr_port((struct sockaddr *)&c->local);
	c->ctx.peer_port = (uint16_t)addr_port((struct sockaddr *)&c->peer);
	c->rst = c->r->create(&c->w->rcfg, &c->ctx);
	if (c->rst == NULL) {
		conn_close(c, "error");
		return;
	}
	c->state = ST_RESPOND;
	act(c, c->r->start(c->rst, &c->out));
	/* its state and buffers, and the greeting, count in memory_max as well */
	conn_over_budget(c, before);
}

/* The domain from what the client said, when the address did not tell. */
static void domain_from_request(struct tconn *c, const char *name, size_t len,
                                const char *source)
{
	if (c->domain[0] || len == 0 || len >= sizeof(c->domain))
		return;
	memcpy(c->domain, name, len);
	c->domain[len] = '\0';
	c->domain_source = source;
}

/* The name a responder's request gave (HTTP's Host), when it is a host name, not an address. */
static void domain_from_request_name(struct tconn *c, const struct responder *r, void *st)
{
	const char *name = NULL;
	size_t n = r->domain(st, &name);
	char clean[TLSCA_NAME_MAX + 1];
	uint8_t ip[16];
	if (n > 0 && n <= TLSCA_NAME_MAX && tlsca_name_clean(name, n, clean) &&
	    addr_parse_ip(clean, ip) == 0)
		domain_from_request(c, clean, strlen(clean), "http_host");
}

/* DNS over TCP at the trap: every A/AAAA answered with the address asked. */
static size_t dns_answer(const uint8_t *q, size_t qlen, const struct sockaddr *local,
                         uint8_t *out, size_t cap)
{
	struct dns_query dq;
	enum dns_parse pr = dns_query_parse(q, qlen, &dq);
	if (pr != DNS_PARSE_OK)
		return dns_resp_parse_error(pr, &dq, 1232, out, cap);
	int family;
	uint8_t a[16];
	family = addr_ip(local, a);
	int match = (dq.qtype == DNS_T_A && family == AF_INET) ||
	            (dq.qtype == DNS_T_AAAA && family == AF_INET6);
	return dns_resp_sinkhole(&dq, match ? a : NULL, 60, 1232, out, cap);
}

/* A question asked over TCP, kept for the event as a datagram's is (the first few). */
static void dns_tcp_record(struct tconn *c, const uint8_t *msg, size_t len)
{
	struct dns_query q;
	if (dns_query_parse(msg, len, &q) != DNS_PARSE_OK)
		return;
	c->dnsq_total++;
	if (c->ndnsq >= DNS_TCP_QUERIES)
		return;
	if (c->dnsq == NULL) {
		c->dnsq = xcalloc(DNS_TCP_QUERIES, sizeof(*c->dnsq));
		conn_charge(c, DNS_TCP_QUERIES * sizeof(*c->dnsq));
	}
	struct dns_tcp_q *d = &c->dnsq[c->ndnsq++];
	d->name = xmalloc(q.name_len + 1);
	memcpy(d->name, q.name, q.name_len);
	d->name[q.name_len] = '\0';
	conn_charge(c, q.name_len + 1);
	char tb[16];
	snprintf(d->type, sizeof(d->type), "%s", dns_type_name(q.qtype, tb, sizeof(tb)));
}

static void dns_tcp(struct tconn *c)
{
	size_t off = 0;
	uint8_t out[1024];
	while (c->inlen - off >= 2) {
		size_t ml = (size_t)c->in[off] << 8 | c->in[off + 1];
		if (c->inlen - off - 2 < ml)
			break;
		dns_tcp_record(c, c->in + off + 2, ml);
		size_t n = dns_answer(c->in + off + 2, ml, (struct sockaddr *)&c->local,
		                      out + 2, sizeof(out) - 2);
		if (n) {
			out[0] = (uint8_t)(n >> 8);
			out[1] = (uint8_t)n;
			resp_out_put(&c->out, out, n + 2);
		}
		off += 2 + ml;
	}
	memmove(c->in, c->in + off, c->inlen - off);
	c->inlen -= off;
	act(c, RESP_CONTINUE);
}

static void begin_tls(struct tconn *c);
static void feed_plain(struct tconn *c, const uint8_t *buf, size_t n);

/* The SSH identification line; inside TLS it goes through it, as every reply does. */
static void ssh_banner(struct tconn *c)
{
	resp_out_put(c->tls ? &c->out : &c->raw, SSH_BANNER, strlen(SSH_BANNER));
}

static void ssh_step(struct tconn *c)
{
	char err[128];
	if (c->sshb == NULL) {
		c->sshb = xcalloc(1, sizeof(*c->sshb));
		conn_charge(c, sizeof(*c->sshb));
	}
	int r = ssh_banner_parse(c->in, c->inlen, c->sshb, err, sizeof(err));
	if (r == -EAGAIN)
		return;
	if (r < 0) {
		/* What it sent is kept (conn_close), and why it is no SSH client. */
		snprintf(c->error, sizeof(c->error), "SSH identification: %s", err);
		conn_close(c, "protocol_error");
		return;
	}
	c->sshb_ok = 1;
	if (c->sshk == NULL) {
		c->sshk = xcalloc(1, sizeof(*c->sshk));
		conn_charge(c, sizeof(*c->sshk));
	}
	r = ssh_kexinit_parse(c->in + c->sshb->consumed, c->inlen - c->sshb->consumed, c->sshk,
	                      err, sizeof(err));
	if (r == -EAGAIN)
		return;
	if (r < 0)
		snprintf(c->error, sizeof(c->error), "SSH KEXINIT: %s", err);
	else
		c->sshk_ok = 1;
	/* Identification and algorithms are what a low-interaction trap can learn. */
	conn_close(c, "ssh_recorded");
}

/* Detection over what has arrived (plaintext after TLS). */
static void detect_step(struct tconn *c, int deadline)
{
	struct detect_result d;
	uint16_t port = (uint16_t)addr_port((struct sockaddr *)&c->local);
	detect_proto(c->in, c->inlen, port, &d);
	if (d.need_more && !deadline && c->inlen < DETECT_MAX_BYTES)
		return;
	enum trap_proto p = d.proto;
	if (p == TRAP_PROTO_TLS && !c->tls) {
		begin_tls(c);
		return;
	}
	if (p == TRAP_PROTO_SSH) {
		c->proto = p;
		c->state = ST_SSH;
		ssh_banner(c);
		conn_flush(c);
		ssh_step(c);
		return;
	}
	if (p == TRAP_PROTO_DNS) {
		c->proto = p;
		c->state = ST_RESPOND;
		resp_blob_add(&c->opening, c->in, c->inlen);
		dns_tcp(c);
		return;
	}
	/* Hand everything gathered so far to the responder. */
	start_responder(c, p);
	if (c->fd < 0 || c->closing)
		return;
	uint8_t *buf = c->in;
	size_t n = c->inlen, cap = c->incap;
	c->in = NULL;
	c->inlen = c->incap = 0;
	if (n)
		act(c, c->r->input(c->rst, buf, n, &c->out));
	free(buf);
	conn_uncharge(c, cap);
}

static void gather(struct tconn *c, const uint8_t *buf, size_t n)
{
	if (c->inlen + n > c->incap) {
		size_t cap = c->incap ? c->incap : 512;
		while (cap < c->inlen + n)
			cap *= 2;
		c->in = xreallocarray(c->in, cap, 1);
		conn_charge(c, cap - c->incap);
		c->incap = cap;
	}
	memcpy(c->in + c->inlen, buf, n);
	c->inlen += n;
}

/* Plaintext from the client (after TLS, or the raw stream). */
static void feed_plain(struct tconn *c, const uint8_t *buf, size_t n)
{
	switch (c->state) {
	case ST_DETECT:
		gather(c, buf, n);
		detect_step(c, 0);
		break;
	case ST_SSH:
		gather(c, buf, n);
		if (c->inlen > 64 * 1024)
			conn_close(c, "max_bytes");
		else
			ssh_step(c);
		break;
	case ST_RESPOND:
		if (c->proto == TRAP_PROTO_DNS) {
			resp_blob_add(&c->opening, buf, n);
			gather(c, buf, n);
			if (c->inlen > 70000)
				conn_close(c, "max_bytes");
			else
				dns_tcp(c);
		} else {
			act(c, c->r->input(c->rst, buf, n, &c->out));
		}
		break;
	default:
		break;
	}
}

static void tls_handshake(struct tconn *c)
{
	ERR_clear_error(); /* what the library says next is this handshake's alone */
	int r = SSL_do_handshake(c->ssl);
	conn_flush(c);
	if (c->fd < 0)
		return;
	if (r == 1) {
		snprintf(c->tls_version, sizeof(c->tls_version), "%s", SSL_get_version(c->ssl));
		snprintf(c->tls_cipher, sizeof(c->tls_cipher), "%s",
		         SSL_CIPHER_get_name(SSL_get_current_cipher(c->ssl)));
		const unsigned char *alpn;
		unsigned int alen;
		SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
		if (alen && alen < sizeof(c->tls_alpn)) {
			memcpy(c->tls_alpn, alpn, alen);
			c->tls_alpn[alen] = '\0';
		}
		c->tls = 1;
		c->state = ST_DETECT;
		/* A hello the parser could not read is kept even so; a fingerprinted one is
		 * not. */
		if (c->keep_opening)
			opening_store(c);
		else
			resp_blob_free(&c->opening);
		uint16_t port = (uint16_t)addr_port((struct sockaddr *)&c->local);
		enum trap_proto b = detect_banner(port, 1);
		if (b != TRAP_PROTO_UNKNOWN && b != TRAP_PROTO_SSH)
			start_responder(c, b);
		else
			conn_update(c);
		return;
	}
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		conn_update(c);
		return;
	}
	tls_error_text(c, "TLS handshake", e);
	ERR_clear_error();
	c->keep_opening = 1;
	conn_close(c, "tls_failed");
}

static void begin_tls(struct tconn *c)
{
	char err[128];
	struct trap_worker *w = c->w;
	if (c->hello == NULL) {
		c->hello = xcalloc(1, sizeof(*c->hello));
		conn_charge(c, sizeof(*c->hello));
	}
	int r = tls_hello_parse(c->in, c->inlen, c->hello, err, sizeof(err));
	if (r == -EAGAIN && c->inlen < TLS_HELLO_MAX_INPUT)
		return; /* the rest of the ClientHello is on its way */
	c->proto = TRAP_PROTO_TLS;
	/* The SNI names the domain only when it is a host name as it stands: not
	 * "paypal.com\0.evil.example", nor a name cut short, nor an address. */
	char clean[TLSCA_NAME_MAX + 1];
	uint8_t ip[16];
	if (r == 0 && c->hello->has_sni && !(c->hello->anomalies & TLS_HELLO_A_SNI_LONG) &&
	    tlsca_name_clean(c->hello->sni, c->hello->sni_len, clean) &&
	    addr_parse_ip(clean, ip) == 0)
		domain_from_request(c, clean, strlen(clean), "tls_sni");
	if (r != 0) {
		/* Not fingerprinted: what it sent is kept, and why. */
		if (r == -EAGAIN)
			snprintf(err, sizeof(err), "incomplete in %zu bytes", c->inlen);
		snprintf(c->error, sizeof(c->error), "ClientHello: %s", err);
		c->keep_opening = 1;
		free(c->hello);
		c->hello = NULL;
		conn_uncharge(c, sizeof(struct tls_hello));
	}
	if (w->tls_ctx == NULL) {
		conn_close(c, "tls_unavailable");
		return;
	}
	c->ssl = SSL_new(w->tls_ctx);
	BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
	if (c->ssl == NULL || rb == NULL || wb == NULL) {
		BIO_free(rb);
		BIO_free(wb);
		conn_close(c, "error");
		return;
	}
	SSL_set_bio(c->ssl, rb, wb);
	SSL_set_accept_state(c->ssl);
	/* No usable SNI: a certificate for the domain the address was handed out for. */
	if (c->domain[0])
		tlsca_ssl_set_name(w->ca, c->ssl, c->domain);
	BIO_write(rb, c->in, (int)c->inlen);
	/* The library keeps its copy; the opening stays until the handshake ends. */
	conn_charge(c, TLS_CONN_MEM);
	resp_blob_add(&c->opening, c->in, c->inlen);
	in_free(c);
	c->state = ST_TLS;
	tls_handshake(c);
}

/* Bytes from the socket. */
static void on_bytes(struct tconn *c, const uint8_t *buf, size_t n)
{
	if (c->first_byte_ms == 0)
		c->first_byte_ms = loop_now(c->w->loop);
	if (c->state == ST_TLS || (c->tls && c->ssl)) {
		if (c->state == ST_TLS)
			resp_blob_add(&c->opening, buf, n);
		BIO_write(SSL_get_rbio(c->ssl), buf, (int)n);
		if (c->state == ST_TLS) {
			tls_handshake(c);
			if (c->fd < 0 || c->state == ST_TLS)
				return;
		}
		uint8_t plain[READ_CHUNK];
		int k;
		while (c->fd >= 0 && !c->closing &&
		       (k = SSL_read(c->ssl, plain, sizeof(plain))) > 0)
			feed_plain(c, plain, (size_t)k);
		if (c->fd >= 0 && c->ssl) {
			int e = SSL_get_error(c->ssl, 0);
			(void)e;
			ERR_clear_error();
			conn_flush(c);
		}
		return;
	}
	feed_plain(c, buf, n);
}

static void data_close(struct tconn *d, int status);
static void data_drop(struct tconn *c);

static void conn_event_run(int fd, uint32_t events, void *arg)
{
	struct tconn *c = arg;
	struct trap_worker *w = c->w;
	size_t before = resp_mem_held();

	if (events & EPOLLOUT) {
		if (conn_flush(c) < 0) {
			conn_close(c, "reset");
			goto out;
		}
		if (conn_over_budget(c, before)) /* its replies moved into a larger buffer */
			goto out;
		if (c->closing && c->raw.len == 0) {
			conn_close(c, "server_closed");
			goto out;
		}
		conn_update(c);
	}
	if (c->fd >= 0 && (c->closing || conn_backed_up(c)) &&
	    (events & (EPOLLHUP | EPOLLERR))) {
		conn_close(c, "reset"); /* gone before taking its output */
		goto out;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		for (int round = 0;
		     round < 8 && c->fd >= 0 && !c->closing && !conn_backed_up(c); round++) {
			ssize_t n = recv(fd, w->rx, sizeof(w->rx), MSG_DONTWAIT);
			if (n == 0) {
				conn_close(c, c->bytes_in ? "client_closed" : "silent");
				break;
			}
			if (n < 0) {
				if (errno != EAGAIN && errno != EINTR)
					conn_close(c, "reset");
				break;
			}
			c->last_ms = loop_now(w->loop);
			c->bytes_in += (uint64_t)n;
			if ((int64_t)c->bytes_in > w->cfg->max_bytes) {
				conn_close(c, "max_bytes");
				break;
			}
			before = resp_mem_held();
			on_bytes(c, w->rx, (size_t)n);
			if (conn_over_budget(c, before) || (size_t)n < sizeof(w->rx))
				break;
		}
	}
out:
	emit_soon(&w->em);
	reap(w);
}

/* A connection's turn: what it takes in memory_max is counted as its own. */
static void conn_event(int fd, uint32_t events, void *arg)
{
	struct tconn *c = arg;
	resp_mem_owner(&c->held);
	conn_event_run(fd, events, arg);
	resp_mem_owner(NULL);
}

static struct tconn *conn_new(struct trap_worker *w, int fd, struct trap_listener *l,
                              const struct sockaddr_storage *peer,
                              const struct sockaddr_storage *local)
{
	struct tconn *c = xcalloc(1, sizeof(*c));
	conn_charge(c, sizeof(*c));
	c->fd = fd;
	c->w = w;
	c->l = l;
	c->peer = *peer;
	c->local = *local;
	c->start_ms = c->last_ms = loop_now(w->loop);
	c->start_us = time_now_usec();
	c->data_listen_fd = -1;
	resp_out_init(&c->out, 0);
	resp_out_init(&c->raw, 0);
	resp_blob_init(&c->opening, w->rcfg.max_raw ? w->rcfg.max_raw : RESP_RAW_MAX);
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->nconns++;
	return c;
}

/*
 * Unlink a closed connection; its memory is freed by reap() once the callback
 * that closed it has returned, so no caller is left holding a freed pointer.
 */
static void conn_free(struct tconn *c)
{
	struct trap_worker *w = c->w;
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->nconns--;
	c->prev = NULL;
	c->next = w->dead;
	w->dead = c;
}

static void conn_release(struct tconn *c)
{
	/* What it gives back is counted in no one's share, its own going away. */
	resp_mem_owner(NULL);
	if (c->src)
		c->src->active--;
	if (c->r && c->rst)
		c->r->destroy(c->rst);
	if (c->ssl)
		SSL_free(c->ssl);
	resp_out_free(&c->out);
	resp_out_free(&c->raw);
	resp_blob_free(&c->opening);
	free(c->in);
	free(c->hello);
	free(c->sshb);
	free(c->sshk);
	for (int i = 0; i < c->ndnsq; i++)
		free(c->dnsq[i].name);
	free(c->dnsq);
	if (c->send_owned)
		free((void *)c->send_src);
	/* The detection buffer, the TLS state, the DNS questions: all given back. */
	resp_mem_release(c->mem_charged);
	free(c);
}

static void reap(struct trap_worker *w)
{
	while (w->dead) {
		struct tconn *c = w->dead;
		w->dead = c->next;
		conn_release(c);
	}
}

static void conn_close(struct tconn *c, const char *why)
{
	struct trap_worker *w = c->w;
	if (c->fd < 0)
		return;
	if (c->state == ST_DATA) {
		data_close(c, 0);
		return;
	}
	if (!c->end)
		c->end = why;
	if (c->state == ST_DETECT && c->inlen && c->r == NULL) {
		/* Bytes that never made a protocol: keep them. */
		c->proto = TRAP_PROTO_UNKNOWN;
		on_payload(c, "raw", NULL, c->in, c->inlen, 0);
	}
	/* The opening of a handshake that failed or did not parse, and of DNS over
	 * TCP: keep it too; and what an SSH client sent that its identification
	 * and KEXINIT, recorded, do not tell. */
	if ((c->state == ST_TLS && c->keep_opening) || c->proto == TRAP_PROTO_DNS)
		opening_store(c);
	if (c->state == ST_SSH && c->inlen && !c->sshk_ok &&
	    (!c->sshb_ok || c->inlen > c->sshb->consumed))
		on_payload(c, "raw", NULL, c->in, c->inlen, 0);
	if (c->r && c->rst)
		c->r->end(c->rst);
	if (c->ssl && c->tls) {
		SSL_shutdown(c->ssl);
		conn_flush(c);
	}
	/* Detached first: its end is not news to a responder that has ended. */
	data_drop(c);
	data_listen_close(c);
	ftp_forget(w, c);
	emit_trap(w, c, "end");
	loop_io_del(w->loop, c->fd);
	close(c->fd);
	c->fd = -1;
	conn_free(c);
}

/* ---------- FTP data channel ---------- */

/* c's data connection (if any) ends without word to c's responder. */
static void data_drop(struct tconn *c)
{
	struct tconn *d = c->data;
	if (d == NULL)
		return;
	c->data = NULL;
	d->parent = NULL;
	data_close(d, -1);
}

static void data_close(struct tconn *d, int status)
{
	struct tconn *c = d->parent;
	struct trap_worker *w = d->w;
	if (d->fd >= 0) {
		loop_io_del(w->loop, d->fd);
		close(d->fd);
		d->fd = -1;
	}
	if (c) {
		c->data = NULL;
		if (c->fd >= 0 && c->r && c->r->data_closed)
			act(c, c->r->data_closed(c->rst, status, &c->out));
	}
	d->parent = NULL;
	conn_free(d);
}

/* Queue the next piece of what the data channel sends. */
#define DATA_PIECE (256u << 10)
static void data_fill(struct tconn *d)
{
	if (d->send_src && d->send_off < d->send_len && d->raw.len < DATA_PIECE) {
		size_t k = d->send_len - d->send_off;
		if (k > DATA_PIECE - d->raw.len)
			k = DATA_PIECE - d->raw.len;
		resp_out_put(&d->raw, d->send_src + d->send_off, k);
		d->send_off += k;
	}
}

/* The memory budget on a data connection's turn: it and its control
 * connection close when that turn took the worker past it. 1 when they did. */
static int data_over_budget(struct tconn *d, size_t before)
{
	struct tconn *c = d->parent;
	if (c == NULL || c->fd < 0 || !over_budget(d->w, before))
		return 0;
	data_close(d, -1);
	conn_over_budget(c, before);
	reap(d->w);
	return 1;
}

static void data_event_run(int fd, uint32_t events, void *arg)
{
	struct tconn *d = arg;
	struct trap_worker *w = d->w;
	struct tconn *c = d->parent;
	size_t before = resp_mem_held();
	if (events & EPOLLOUT) {
		int r;
		do {
			data_fill(d);
			r = conn_flush(d);
		} while (r == 0 && d->raw.len == 0 && d->send_off < d->send_len);
		/* A listing or stand-in file is sent whole, then the channel ends. */
		if (d->raw.len == 0 && d->send_off >= d->send_len && d->closing) {
			data_close(d, 0);
			reap(w);
			return;
		}
		if (data_over_budget(d, before))
			return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		ssize_t n = recv(fd, w->rx, sizeof(w->rx), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			data_close(d, 0);
			reap(w);
			return;
		}
		if (n > 0 && c) {
			c->bytes_in += (uint64_t)n;
			c->last_ms = loop_now(w->loop);
			if ((int64_t)c->bytes_in > w->cfg->max_bytes) {
				data_close(d, -1);
				conn_close(c, "max_bytes");
				reap(w);
				return;
			}
			if (c->r->data_input)
				act(c, c->r->data_input(c->rst, w->rx, (size_t)n, &c->out));
			if (data_over_budget(d, before))
				return;
		}
	}
	if (d->fd >= 0)
		loop_io_mod(w->loop, d->fd, EPOLLIN | (d->raw.len ? EPOLLOUT : 0));
	emit_soon(&w->em);
	reap(w);
}

/* What a data connection takes (an upload into its control connection's
 * responder, a listing it sends) counts as its control connection's. */
static size_t *data_owner(struct tconn *d)
{
	return d->parent ? &d->parent->held : &d->held;
}

static void data_event(int fd, uint32_t events, void *arg)
{
	struct tconn *d = arg;
	resp_mem_owner(data_owner(d));
	data_event_run(fd, events, arg);
	resp_mem_owner(NULL);
}

/*
 * The control connection waiting for a passive data connection from peer to
 * local (its announced port), or NULL. Under the catch-all the data
 * connection reaches the redirect listener, not the one opened for it.
 */
static struct tconn *ftp_expecting(struct trap_worker *w, const struct sockaddr_storage *peer,
                                   const struct sockaddr_storage *local)
{
	int fp, fl;
	uint8_t ap[16], al[16];
	fp = addr_ip((const struct sockaddr *)peer, ap);
	fl = addr_ip((const struct sockaddr *)local, al);
	uint16_t port = (uint16_t)addr_port((const struct sockaddr *)local);
	for (int i = 0; i < w->nftp; i++) {
		struct tconn *c = w->ftp[i];
		int cf, lf;
		uint8_t cp[16], lc[16];
		if (c->data_port != port)
			continue;
		cf = addr_ip((struct sockaddr *)&c->peer, cp);
		lf = addr_ip((struct sockaddr *)&c->local, lc);
		if (cf == fp && lf == fl && !memcmp(cp, ap, 16) && !memcmp(lc, al, 16))
			return c;
	}
	return NULL;
}

static void ftp_forget(struct trap_worker *w, struct tconn *c)
{
	for (int i = 0; i < w->nftp; i++) {
		if (w->ftp[i] == c) {
			w->ftp[i] = w->ftp[--w->nftp];
			return;
		}
	}
}

static void data_event(int fd, uint32_t events, void *arg);

/* dfd is the data connection of control connection c. */
static void data_attach(struct tconn *c, int dfd, const struct sockaddr_storage *ss)
{
	struct trap_worker *w = c->w;
	data_listen_close(c);
	ftp_forget(w, c);
	c->data_port = 0;
	data_drop(c); /* a second passive connection while one is open: the old one ends */
	size_t *owner = resp_mem_owner(&c->held);
	size_t before = resp_mem_held();
	struct tconn *d = conn_new(w, dfd, c->l, ss, &c->local);
	d->state = ST_DATA;
	d->parent = c;
	c->data = d;
	if (c->send_src) {
		d->send_src = c->send_src;
		d->send_len = c->send_len;
		d->send_owned = c->send_owned;
		c->send_src = NULL;
		c->send_owned = 0;
		data_fill(d);
		d->closing = 1;
	}
	loop_io_add(w->loop, dfd, EPOLLIN | (d->raw.len ? EPOLLOUT : 0), data_event, d);
	/* its state, and the first piece of what it sends, count in memory_max */
	data_over_budget(d, before);
	resp_mem_owner(owner);
}

static void data_listen_close(struct tconn *c)
{
	struct trap_worker *w = c->w;
	if (c->data_listen_fd >= 0) {
		loop_io_del(w->loop, c->data_listen_fd);
		close(c->data_listen_fd);
		c->data_listen_fd = -1;
	}
}

static void data_accept(int fd, uint32_t events, void *arg)
{
	struct tconn *c = arg;
	struct trap_worker *w = c->w;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int dfd = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (dfd >= 0) {
		data_attach(c, dfd, &ss);
	} else if (errno == EMFILE || errno == ENFILE) {
		/* The connection waits in the backlog and the listener stays readable:
		 * rest it as the main listeners do (on_accept), or the loop spins. The
		 * pause ends with the listener's registration (data_listen_close). */
		w->n_refused++;
		loop_io_pause(w->loop, fd, EPOLLIN, 100);
	}
}

static int op_listen_data(void *arg, uint16_t *port)
{
	struct tconn *c = arg;
	struct trap_worker *w = c->w;
	data_listen_close(c);
	struct sockaddr_storage ss = c->local;
	int one = 1;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* The address the client knows the trap by (it may not be a local one: freebind). */
	setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = 0;
	else
		((struct sockaddr_in6 *)&ss)->sin6_port = 0;
	socklen_t sl =
	    ss.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 1) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	c->data_listen_fd = fd;
	*port = (uint16_t)addr_port((struct sockaddr *)&ss);
	c->data_port = *port;
	ftp_forget(w, c);
	if (w->nftp == w->capftp) {
		w->capftp = w->capftp ? w->capftp * 2 : 64;
		w->ftp = xreallocarray(w->ftp, (size_t)w->capftp, sizeof(*w->ftp));
	}
	w->ftp[w->nftp++] = c;
	loop_io_add(w->loop, fd, EPOLLIN, data_accept, c);
	return 0;
}

static int op_send_data(void *arg, const uint8_t *data, size_t len)
{
	struct tconn *c = arg;
	struct tconn *t = c->data ? c->data : c;
	if (t->send_owned)
		free((void *)t->send_src);
	t->send_off = 0;
	t->send_len = len;
	if (data == c->w->ftp_file) {
		/* The stand-in file stays the worker's: sent from there, not copied. */
		t->send_src = data;
		t->send_owned = 0;
	} else {
		uint8_t *copy = xmalloc(len ? len : 1);
		memcpy(copy, data, len);
		t->send_src = copy;
		t->send_owned = 1;
	}
	if (c->data) {
		data_fill(c->data);
		c->data->closing = 1;
		loop_io_mod(c->w->loop, c->data->fd, EPOLLIN | EPOLLOUT);
	}
	return 0;
}

static const struct resp_ops resp_ops = {
    .payload = on_payload,
    .listen_data = op_listen_data,
    .send_data = op_send_data,
    .now_usec = NULL,
};

/* ---------- accepting ---------- */

static int original_dst(int fd, const struct trap_listener *l, struct sockaddr_storage *out)
{
	socklen_t sl = sizeof(*out);
	if (l->kind == TRAP_L_REDIRECT) {
		if (l->addr.ss.ss_family == AF_INET &&
		    getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, out, &sl) == 0)
			return 0;
		sl = sizeof(*out);
		if (l->addr.ss.ss_family == AF_INET6 &&
		    getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, out, &sl) == 0)
			return 0;
	}
	sl = sizeof(*out);
	return getsockname(fd, (struct sockaddr *)out, &sl);
}

static void on_accept(int fd, uint32_t events, void *arg)
{
	struct trap_worker *w = W;
	struct trap_listener *l = arg;
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage peer, local;
		socklen_t sl = sizeof(peer);
		int cfd =
		    accept4(fd, (struct sockaddr *)&peer, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				w->n_refused++;
				loop_io_pause(w->loop, fd, EPOLLIN, 100);
			}
			break;
		}
		int64_t now = loop_now(w->loop);
		struct source *src = source_get(w, w->sources, (struct sockaddr *)&peer, now);
		if (w->nconns >= w->cfg->max_connections || !source_admit(w, src, now)) {
			/* Refused quietly (RST): a flood must not cost an event each. */
			struct linger lg = {1, 0};
			setsockopt(cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			close(cfd);
			w->n_refused++;
			continue;
		}
		if (original_dst(cfd, l, &local) < 0) {
			close(cfd);
			continue;
		}
		/* A data connection for a passive FTP transfer, diverted by the catch-all. */
		struct tconn *ctl = ftp_expecting(w, &peer, &local);
		if (ctl) {
			data_attach(ctl, cfd, &peer);
			continue;
		}
		w->n_conns++;
		size_t before = resp_mem_held();
		struct tconn *c = conn_new(w, cfd, l, &peer, &local);
		resp_mem_owner(&c->held); /* what its start takes is its own */
		c->src = src;
		if (src)
			src->active++;
		attribute(w, c);
		loop_io_add(w->loop, cfd, EPOLLIN, conn_event, c);
		c->evmask = EPOLLIN;
		uint16_t port = (uint16_t)addr_port((struct sockaddr *)&local);
		enum trap_proto b = detect_banner(port, 0);
		if (b == TRAP_PROTO_SSH) {
			c->proto = b;
			c->state = ST_SSH;
			ssh_banner(c);
			act(c, RESP_CONTINUE);
		} else if (b != TRAP_PROTO_UNKNOWN) {
			start_responder(c, b);
		}
		/* Its own state counts in memory_max, idle or not, with what the
		 * protocol of a port that speaks first took as it started: one that
		 * takes the worker past it is closed at once, as any other. */
		conn_over_budget(c, before);
		resp_mem_owner(NULL);
	}
	emit_soon(&w->em);
	reap(w);
}

/* ---------- UDP ---------- */

/*
 * A TPROXY datagram is answered from its original destination, port and all:
 * a transparent socket bound there for the one reply (IP_TRANSPARENT needs
 * CAP_NET_RAW, and a port below 1024 CAP_NET_BIND_SERVICE: the two capabilities
 * the trap keeps when it has a TPROXY port).
 */
static void udp_reply_transparent(const struct sockaddr_storage *from,
                                  const struct sockaddr_storage *to, const uint8_t *msg,
                                  size_t len)
{
	int one = 1;
	int fd = socket(from->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	socklen_t fl = from->ss_family == AF_INET ? sizeof(struct sockaddr_in)
	                                          : sizeof(struct sockaddr_in6);
	int lvl = from->ss_family == AF_INET ? SOL_IP : SOL_IPV6;
	int opt = from->ss_family == AF_INET ? IP_TRANSPARENT : IPV6_TRANSPARENT;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (setsockopt(fd, lvl, opt, &one, sizeof(one)) < 0 ||
	    bind(fd, (const struct sockaddr *)from, fl) < 0 ||
	    sendto(fd, msg, len, MSG_DONTWAIT, (const struct sockaddr *)to, fl) < 0)
		log_debug("udp answer from the original address: %s", strerror(errno));
	close(fd);
}

static void on_udp(int fd, uint32_t events, void *arg)
{
	struct trap_worker *w = W;
	struct trap_listener *l = arg;
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage peer, local;
		union {
			struct cmsghdr align;
			char buf[256];
		} ctl;
		/* Every datagram fits; MSG_TRUNC tells its length should one not. */
		struct iovec iov = {w->udp_rx, sizeof(w->udp_rx)};
		struct msghdr mh;
		memset(&mh, 0, sizeof(mh));
		mh.msg_name = &peer;
		mh.msg_namelen = sizeof(peer);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		ssize_t got = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_TRUNC);
		if (got < 0)
			break;
		const uint8_t *rx = w->udp_rx;
		size_t n = (size_t)got < sizeof(w->udp_rx) ? (size_t)got : sizeof(w->udp_rx);
		int truncated = (size_t)got > n || (mh.msg_flags & MSG_TRUNC);
		/* The original destination: TPROXY's, or the address the datagram was sent to.
		 */
		memcpy(&local, &l->addr.ss, sizeof(local));
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_ORIGDSTADDR)
				memcpy(&local, CMSG_DATA(c), sizeof(struct sockaddr_in));
			else if (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_ORIGDSTADDR)
				memcpy(&local, CMSG_DATA(c), sizeof(struct sockaddr_in6));
			else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
				struct in_pktinfo pi;
				memcpy(&pi, CMSG_DATA(c), sizeof(pi));
				((struct sockaddr_in *)&local)->sin_addr = pi.ipi_addr;
			}
		}
		int64_t now = loop_now(w->loop);
		struct source *src = source_get(w, w->usources, (struct sockaddr *)&peer, now);
		if (!source_admit(w, src, now)) {
			w->n_refused++;
			continue;
		}
		w->n_udp++;
		struct tconn c;
		memset(&c, 0, sizeof(c));
		c.w = w;
		c.l = l;
		c.peer = peer;
		c.local = local;
		int family;
		uint8_t a[16];
		family = addr_ip((struct sockaddr *)&local, a);
		const char *d = attrib_get(w->map, family, a);
		struct evbuf *b = emit_buf(&w->em);
		ev_begin(b, "trap", 0);
		ev_conn(b, &c, "UDP");
		uint16_t dport = (uint16_t)addr_port((struct sockaddr *)&local);
		uint8_t out[1024];
		size_t an = 0;
		if (dport == 53 || (n >= 12 && dport == 5353)) {
			an = dns_answer(rx, n, (struct sockaddr *)&local, out, sizeof(out));
			if (an)
				ev_str(b, "app_proto", "dns");
		}
		ev_obj(b, "trap");
		ev_str(b, "phase", "datagram");
		if (d) {
			ev_str(b, "domain", d);
			ev_str(b, "domain_source", "sinkhole_map");
		}
		ev_str(b, "listener", listener_name(l->kind));
		ev_int(b, "bytes_toserver", (int64_t)got);
		ev_int(b, "bytes_toclient", (int64_t)an);
		char hex[UDP_HEX_BYTES * 2 + 1];
		size_t hn = n < UDP_HEX_BYTES ? n : UDP_HEX_BYTES;
		for (size_t k = 0; k < hn; k++)
			snprintf(hex + 2 * k, 3, "%02x", rx[k]);
		hex[2 * hn] = '\0';
		ev_str(b, "payload_hex", hex);
		char sha[65];
		payload_sha256(rx, n, sha);
		ev_str(b, "payload_sha256", sha);
		if (truncated) /* the hash is of the bytes received, not the datagram's */
			ev_bool(b, "payload_truncated", 1);
		ev_close(b);
		if (an) {
			struct dns_query q;
			if (dns_query_parse(rx, n, &q) == DNS_PARSE_OK) {
				char tb[16];
				ev_obj(b, "dns");
				ev_str(b, "rrname", q.name);
				ev_str(b, "rrtype", dns_type_name(q.qtype, tb, sizeof(tb)));
				ev_close(b);
			}
		}
		emit_commit(&w->em);
		if (an && l->kind == TRAP_L_TPROXY) {
			udp_reply_transparent(&local, &peer, out, an);
		} else if (an) {
			/* From the address the datagram was sent to. */
			struct iovec oiov = {out, an};
			struct msghdr om;
			union {
				struct cmsghdr align;
				char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
			} octl;
			memset(&om, 0, sizeof(om));
			memset(&octl, 0, sizeof(octl));
			om.msg_name = &peer;
			om.msg_namelen = mh.msg_namelen;
			om.msg_iov = &oiov;
			om.msg_iovlen = 1;
			if (local.ss_family == AF_INET && peer.ss_family == AF_INET) {
				om.msg_control = octl.buf;
				om.msg_controllen = CMSG_SPACE(sizeof(struct in_pktinfo));
				struct cmsghdr *cm = CMSG_FIRSTHDR(&om);
				cm->cmsg_level = IPPROTO_IP;
				cm->cmsg_type = IP_PKTINFO;
				cm->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
				struct in_pktinfo pi;
				memset(&pi, 0, sizeof(pi));
				pi.ipi_spec_dst = ((struct sockaddr_in *)&local)->sin_addr;
				memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
			}
			sendmsg(fd, &om, MSG_DONTWAIT);
		}
	}
	emit_soon(&w->em);
}

/* ---------- timers ---------- */

static void sweep(void *arg)
{
	struct trap_worker *w = arg;
	int64_t now = loop_now(w->loop);
	for (struct tconn *c = w->conns, *nx; c; c = nx) {
		nx = c->next;
		if (c->state == ST_DATA || c->fd < 0)
			continue;
		resp_mem_owner(&c->held); /* freed only by reap, after the loop */
		if (now - c->start_ms > w->cfg->session_timeout_ms) {
			conn_close(c, "session_timeout");
			continue;
		}
		if (!c->started_event && now - c->start_ms > LONG_SESSION_MS) {
			c->started_event = 1;
			emit_trap(w, c, "start");
		}
		if (c->state == ST_DETECT && c->inlen &&
		    now - c->first_byte_ms > DETECT_WAIT_MS) {
			detect_step(c, 1);
			/* Still waiting (a TLS hello not whole yet): the read timeout holds. */
			if (c->fd < 0 || c->state != ST_DETECT)
				continue;
		}
		if (now - c->last_ms > w->cfg->read_timeout_ms) {
			c->last_ms = now;
			if (c->closing) {
				/* Its last output not taken within the read timeout. */
				conn_close(c, "timeout");
				continue;
			}
			if (c->state == ST_RESPOND && c->r && c->r->timeout &&
			    c->proto != TRAP_PROTO_DNS) {
				int r = c->r->timeout(c->rst, &c->out);
				/* A responder that says goodbye at the timeout (421, a
				 * PING unanswered) ends it by the timeout, not by choice. */
				if (r == RESP_CLOSE && !c->end)
					c->end = c->bytes_in ? "timeout" : "silent";
				act(c, r);
				continue;
			}
			conn_close(c, c->bytes_in ? "timeout" : "silent");
		}
	}
	resp_mem_owner(NULL);
	emit_soon(&w->em);
	reap(w);
}

static void emit_stats(void *arg)
{
	struct trap_worker *w = arg;
	struct evbuf *b = emit_buf(&w->em);
	ev_begin(b, "stats", 0);
	ev_obj(b, "stats");
	ev_str(b, "worker", "trap");
	ev_obj(b, "trap");
	ev_int(b, "connections", (int64_t)w->n_conns);
	ev_int(b, "refused", (int64_t)w->n_refused);
	ev_int(b, "datagrams", (int64_t)w->n_udp);
	ev_int(b, "active", w->nconns);
	ev_int(b, "payloads", (int64_t)w->n_payloads);
	if (w->payloads) {
		ev_int(b, "payload_bytes", payload_store_bytes(w->payloads));
		ev_int(b, "payload_files", payload_store_count(w->payloads));
	}
	ev_int(b, "payloads_evicted", (int64_t)w->n_evicted);
	ev_int(b, "memory_closed", (int64_t)w->n_memory);
	ev_int(b, "memory_held", (int64_t)resp_mem_held());
	ev_int(b, "mapped_addresses", attrib_count(w->map));
	ev_close(b);
	ev_close(b);
	emit_commit(&w->em);
	emit_flush(&w->em);
}

/* ---------- channels ---------- */

static void map_entry(struct trap_worker *w, const struct ipc_msg *m)
{
	struct ipc_map_entry e;
	if (m->hdr.len < sizeof(e) || m->hdr.len > sizeof(e) + IPC_MAP_NAME_MAX)
		fatalx("invalid IPC_MAP_ENTRY");
	memcpy(&e, m->data, sizeof(e));
	char name[IPC_MAP_NAME_MAX + 1];
	size_t nl = m->hdr.len - sizeof(e);
	memcpy(name, m->data + sizeof(e), nl);
	name[nl] = '\0';
	if (e.family == AF_INET || e.family == AF_INET6)
		attrib_set(w->map, e.family, e.addr, name);
}

static void store_read(int fd, void *arg)
{
	struct trap_worker *w = arg;
	struct ipc_msg *m = xmalloc(sizeof(*m));
	for (int i = 0; i < 256; i++) {
		int r = ipc_recv(fd, m);
		if (r == 0) {
			emit_set_reader(&w->em, NULL,
			                NULL); /* the store is gone: a new one comes */
			break;
		}
		if (r < 0)
			break;
		if (m->fd >= 0)
			close(m->fd);
		if (m->hdr.type == IPC_MAP_ENTRY)
			map_entry(w, m);
	}
	free(m);
}

static void subscribe_map(struct trap_worker *w)
{
	int fd = w->em.fd;
	if (fd < 0)
		return;
	/* Ask for the map and every mapping made from now on. */
	const uint8_t subscribe = 1;
	if (ipc_send(fd, IPC_MAP_REQUEST, &subscribe, 1, -1) < 0)
		return;
	emit_set_reader(&w->em, store_read, w);
}

static void parent_read(int fd, uint32_t events, void *arg)
{
	struct trap_worker *w = arg;
	struct ipc_msg *m = xmalloc(sizeof(*m));
	for (;;) {
		int r = ipc_recv(fd, m);
		if (r == -EAGAIN)
			break;
		if (r == 0) {
			loop_break(w->loop);
			break;
		}
		if (r < 0)
			fatalx("parent channel: %s", strerror(-r));
		if (m->hdr.type == IPC_STORE_CHANNEL && m->fd >= 0) {
			fd_nonblock(m->fd);
			emit_set_channel(&w->em, m->fd);
			subscribe_map(w);
		} else {
			if (m->fd >= 0)
				close(m->fd);
			fatalx("unexpected message %u from parent", m->hdr.type);
		}
	}
	free(m);
}

static void on_signal(int fd, uint32_t events, void *arg)
{
	struct trap_worker *w = arg;
	struct signalfd_siginfo si;
	while (read(fd, &si, sizeof(si)) == sizeof(si))
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
			loop_break(w->loop);
}

/* ---------- set-up ---------- */

static uint8_t *slurp(const char *path, size_t *len, size_t max)
{
	if (path == NULL)
		return NULL;
	char *d = read_file(path, max, len);
	if (d == NULL)
		log_warn("%s", path);
	return (uint8_t *)d;
}

static void ca_dir_of(const struct config *c, char *dir, size_t len)
{
	if (c->ca_dir)
		snprintf(dir, len, "%s", c->ca_dir);
	else
		snprintf(dir, len, "%s/ca", c->state_dir);
}

static void setup_tls(struct trap_worker *w)
{
	char err[256], dir[4096];
	ca_dir_of(w->cfg, dir, sizeof(dir));
	if (tlsca_open(dir, &w->ca, err, sizeof(err)) < 0) {
		log_warnx("TLS disabled: %s", err);
		return;
	}
	/* Old malware speaks old TLS: this context and every name's accept what the
	 * library still can, from TLS 1.0 at security level 0, and answer ALPN
	 * alike (tlsca_ctx_configure, applied by tlsca_install_sni_cb), so that
	 * the switch to a name's context in the handshake changes only the
	 * certificate. */
	w->tls_ctx = SSL_CTX_new(TLS_server_method());
	if (w->tls_ctx == NULL ||
	    tlsca_install_sni_cb(w->tls_ctx, w->ca, err, sizeof(err)) < 0) {
		log_warnx("TLS disabled: %s", err);
		SSL_CTX_free(w->tls_ctx);
		w->tls_ctx = NULL;
		return;
	}
	char fp[65];
	tlsca_ca_fingerprint(w->ca, fp);
	log_info("TLS: local CA %s/ca.crt (sha256 %s)", dir, fp);
}

/*
 * The payloads directory and the local CA, made while privileged and given to
 * the workers' user. Both lie in the state directory, which that user can
 * write: nothing found there is followed or given away unchecked
 * (sandbox_chown), and the CA is not made through a link planted in place of
 * its directory.
 */
void trap_prepare(const struct config *c, uid_t uid, gid_t gid)
{
	char dir[4096], path[4200], err[256], why[4200];
	struct tlsca *ca = NULL;
	snprintf(dir, sizeof(dir), "%s/payloads", c->state_dir);
	mkdir_p(dir);
	if (uid != (uid_t)-1)
		sandbox_chown(dir, SANDBOX_OWN_DIR, uid, gid, c->user);
	ca_dir_of(c, dir, sizeof(dir));
	int dfd = sandbox_open_dir(dir, why, sizeof(why));
	if (dfd < 0 && dfd != -ENOENT) {
		log_warnx("local CA %s: refused: %s", dir, why);
		return;
	}
	if (dfd >= 0)
		close(dfd);
	if (tlsca_open(dir, &ca, err, sizeof(err)) < 0) {
		log_warnx("local CA: %s", err);
		return;
	}
	tlsca_close(&ca);
	if (uid == (uid_t)-1)
		return;
	/* the directory and the CA's two files (the leaf key lives in memory only) */
	const char *files[] = {"", "/ca.key", "/ca.crt"};
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		snprintf(path, sizeof(path), "%s%s", dir, files[i]);
		sandbox_chown(path, i == 0 ? SANDBOX_OWN_DIR : SANDBOX_OWN_FILE, uid, gid,
		              c->user);
	}
}

int trap_worker_main(struct config *c, struct trap_setup *s)
{
	static struct trap_worker worker;
	struct trap_worker *w = &worker;
	char err[512], dir[4096];

	W = w;
	w->cfg = c;
	w->setup = s;
	w->loop = loop_new();
	w->sources = xcalloc(SOURCE_SLOTS, sizeof(*w->sources));
	w->usources = xcalloc(SOURCE_SLOTS, sizeof(*w->usources));
	/* Each pool holds up to map_size mappings: the trap knows them all. */
	w->map = attrib_new((uint32_t)c->map_memory *
	                    (c->have_sinkhole4 && c->have_sinkhole6 ? 2u : 1u));
	emit_init(&w->em, w->loop, s->store_fd, "trap");
	if (s->store_fd < 0)
		emit_set_sink(&w->em, render_sink_stdout, NULL);
	else
		fd_nonblock(s->store_fd);
	signal(SIGPIPE, SIG_IGN);

	snprintf(dir, sizeof(dir), "%s/payloads", c->state_dir);
	w->payloads = payload_store_open(dir, c->payload_quota, err, sizeof(err));
	if (w->payloads) {
		/* A file takes a 4 KiB block at least: many tiny ones fill a disk too. */
		int64_t files = c->payload_quota / 4096;
		payload_store_set_max_files(w->payloads, files < 1 ? 1
		                                         : files > UINT32_MAX
		                                             ? UINT32_MAX
		                                             : (uint32_t)files);
	}
	if (w->payloads == NULL)
		log_warnx("payloads will not be stored: %s", err);
	setup_tls(w);

	for (int i = 0; i < c->banners.n; i++) {
		int port;
		char name[32];
		if (sscanf(c->banners.v[i], "%d:%31s", &port, name) != 2)
			continue;
		enum trap_proto p;
		if (trap_proto_parse(name, &p) < 0)
			log_warnx("banner %s: unknown protocol '%s'", c->banners.v[i], name);
		else
			detect_banner_set((uint16_t)port, p);
	}
	w->http_page = slurp(c->http_page, &w->http_page_len, RESP_HTTP_BODY_MAX);
	w->ftp_file = slurp(c->ftp_file, &w->ftp_file_len, 64 << 20);
	w->rcfg.hostname = c->trap_hostname;
	w->rcfg.max_payload = (size_t)c->payload_max;
	w->rcfg.http.status = c->http_status;
	w->rcfg.http.content_type = c->http_content_type;
	w->rcfg.http.body = w->http_page;
	w->rcfg.http.body_len = w->http_page_len;
	w->rcfg.ftp.file = w->ftp_file;
	w->rcfg.ftp.file_len = w->ftp_file_len;

	for (int i = 0; i < s->nls; i++) {
		struct trap_listener *l = &s->ls[i];
		fd_nonblock(l->fd);
		loop_io_add(w->loop, l->fd, EPOLLIN,
		            l->type == SOCK_STREAM ? on_accept : on_udp, l);
	}
	if (s->parent_fd >= 0) {
		fd_nonblock(s->parent_fd);
		loop_io_add(w->loop, s->parent_fd, EPOLLIN, parent_read, w);
	}
	subscribe_map(w);

	static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
	loop_signals(w->loop, sigs, 3, on_signal, w);
	loop_timer_add(w->loop, 1000, 1, sweep, w);
	loop_timer_add(w->loop, 60000, 1, emit_stats, w);

	openssl_require("trap"); /* TLS, certificates, hashes */
	/* The trap faces malware: no outbound connection, ever; it does not run
	 * unconfined (with CAP_NET_RAW for TPROXY, at that). */
	if (sandbox_lockdown("trap", SANDBOX_NO_CONNECT | SANDBOX_NO_PACKET) < 0)
		fatalx("trap: the sandbox could not be set up: not serving unconfined");
	log_info("trap serving %d listeners", s->nls);
	if (s->parent_fd >= 0)
		ipc_send(s->parent_fd, IPC_HELLO, "trap", 4, -1);

	loop_run(w->loop);

	while (w->conns)
		conn_close(w->conns, "shutdown");
	reap(w);
	free(w->ftp);
	w->ftp = NULL;
	w->nftp = w->capftp = 0;
	emit_stats(w);
	emit_drain(&w->em);
	return 0;
}

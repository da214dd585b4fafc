/*
 * Responders: the I/O-free protocol layer of the trap.
 *
 * A responder talks like one real service (a bland nginx, Postfix, vsftpd,
 * Dovecot, an IRC server, a BusyBox telnetd) just far enough to record what a
 * client wants: request lines, credentials, commands, uploaded files. It never
 * touches a socket, a file or a clock: the worker owns every descriptor and
 * feeds bytes in; the responder appends reply bytes to an output buffer and
 * tells the worker what to do next. That keeps each one unit-testable from a
 * recorded transcript and fuzzable alone.
 *
 * Lifecycle of one connection (the worker's side):
 *
 *   st = r->create(cfg, ctx)          per-connection state (NULL: out of memory)
 *   act = r->start(st, out)           greeting/banner, if the server speaks first
 *   loop:
 *     act = r->input(st, buf, n, out) client bytes, in any split (1 byte at a time is fine)
 *     act = r->timeout(st, out)       the client stayed silent for the worker's idle period
 *     act = r->data_input / data_closed   FTP data connection (only where non-NULL)
 *     flush out; act decides: keep reading, close after the flush, or TLS
 *   r->end(st)                        connection over, whatever the reason: flush payloads
 *   r->fields(st, ev)                 request summary into the open "trap" event
 *   r->destroy(st)
 *
 * Every input path is bounded: line length, header and command counts, body
 * and message sizes, recorded strings. Binary garbage is answered like a real
 * server would (an error reply, or a close), never trusted.
 *
 * Memory per connection is bounded whatever the client sends: at most
 * max_payload bytes of payload being collected, RESP_OUT_MAX of queued
 * replies, 40 KiB of recorded fields (RESP_RECORD_MAX, or HTTP's own budget
 * of the same size), and the responder's state with its fixed buffers (line
 * readers, IMAP's command buffer), all of it counted in resp_mem_held from
 * create to destroy; the worker bounds the number of connections, and what
 * they hold together (its own state for each, from accept, counted too).
 *
 * Memory: cfg and ctx are borrowed for the life of the state (the worker keeps
 * a configuration alive until every connection created with it is destroyed);
 * out is the worker's; bytes passed to the payload callback are borrowed for
 * the call only.
 */
#ifndef SINKTRAP_TRAP_RESPONDER_H
#define SINKTRAP_TRAP_RESPONDER_H

#include <stddef.h>
#include <stdint.h>

#include "common/event.h"
#include "trap/detect.h"

/* ---- output buffer ------------------------------------------------------- */

/* Hard bound on queued reply bytes per connection (pipelined HTTP included). */
#define RESP_OUT_MAX (4u * 1024 * 1024)

/*
 * Reply bytes for the client, owned by the worker. Responders only append
 * (resp_out_put/printf); the worker writes data[0..len) to the socket and
 * drops what was written with resp_out_consume(). Appends past max are cut
 * and set overflow (the reply is then truncated, never the process).
 */
struct resp_out {
	uint8_t *data; /* the unsent bytes: inside base, from where consume left off */
	size_t len;
	uint8_t *base; /* Malloced, grown on demand; cap bytes */
	size_t cap;
	size_t max; /* 0 = RESP_OUT_MAX */
	int overflow;
};

void resp_out_init(struct resp_out *o, size_t max);
void resp_out_free(struct resp_out *o);
/* What every reply buffer and payload blob of the process holds (their
 * capacity): the worker closes a connection that takes it past its budget. */
size_t resp_mem_held(void);
/*
 * Other memory a connection holds for as long as it lives (recorded fields,
 * the detection buffer, TLS state) is counted in the same budget: charged when
 * taken, released, the same amount, when given back.
 */
void resp_mem_charge(size_t n);
void resp_mem_release(size_t n);
/*
 * What is charged and released from now on is counted in *owner too (the
 * connection whose turn it is; NULL: none), so that the worker knows who holds
 * what. Returns the owner before.
 */
size_t *resp_mem_owner(size_t *owner);
/* Drop n bytes (those written to the socket) from the front: no copy, so a
 * client that reads a little at a time costs no more than one that reads all. */
void resp_out_consume(struct resp_out *o, size_t n);
/* 0, or -ENOBUFS when the bytes did not all fit (those that fit are kept). */
int resp_out_put(struct resp_out *o, const void *p, size_t n);
int resp_out_puts(struct resp_out *o, const char *s);
int resp_out_printf(struct resp_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- what the worker does next ------------------------------------------ */

enum resp_action {
	RESP_CONTINUE = 0,  /* replies (if any) are queued; keep reading */
	RESP_NEED_MORE = 1, /* a partial line/body is buffered: keep reading to complete it
	                       (the worker may apply a shorter slowloris deadline) */
	RESP_CLOSE = 2,     /* flush out, then close */
	RESP_STARTTLS = 3,  /* flush out, then run the TLS server handshake and feed
	                       the plaintext that follows; bytes already read past this
	                       point must be discarded (STARTTLS injection). Only
	                       returned when cfg->starttls is set. */
};

/* ---- the worker's side, as the responder sees it ------------------------ */

struct resp_ops {
	/*
	 * A payload for the store: the worker hashes it (sha256), keeps it
	 * content-addressed and emits a "fileinfo" event. kind is a static
	 * string ("http_request_body", "smtp_message", "ftp_upload", "raw");
	 * name is a suggested file name or NULL; data is borrowed for the call.
	 * truncated: more bytes arrived than the responder keeps.
	 */
	void (*payload)(void *arg, const char *kind, const char *name, const uint8_t *data,
	                size_t len, int truncated);
	/*
	 * FTP passive mode: open (or reuse) a listener for this connection's data
	 * channel and write its port. 0 or -errno (the responder then answers
	 * 425). At most one data channel per control connection: a new call
	 * replaces the old one. The worker calls data_input() with the bytes the
	 * client sends on it and data_closed() when it ends. It never opens an
	 * outbound connection: PORT/EPRT are recorded and the transfer refused.
	 */
	int (*listen_data)(void *arg, uint16_t *port);
	/*
	 * Queue bytes to send on the data channel (a listing, a stand-in file)
	 * as soon as the client connects to it; the worker closes the channel
	 * once they are written and then calls data_closed(). Copied by the
	 * worker before it returns. 0 or -errno.
	 */
	int (*send_data)(void *arg, const uint8_t *data, size_t len);
	/* Wall-clock time in microseconds (HTTP Date:). NULL = the real clock. */
	int64_t (*now_usec)(void *arg);
};

/* What the responder knows about its connection. Filled by the worker. */
struct resp_ctx {
	const struct resp_ops *ops; /* Borrowed; any op may be NULL when not offered. */
	void *arg;                  /* passed back to every op */
	char local_ip[46];          /* text, as shown to the client (FTP PASV) */
	char peer_ip[46];
	uint16_t local_port;
	uint16_t peer_port;
	int tls; /* 1: the connection runs inside TLS already (implicit TLS port) */
};

/* ---- configuration ------------------------------------------------------- */

#define RESP_PAYLOAD_MAX (1024u * 1024)  /* default bytes kept per payload */
#define RESP_RAW_MAX (64u * 1024)        /* default bytes kept by the generic responder */
#define RESP_HTTP_BODY_MAX (256u * 1024) /* bound on the page served */

/*
 * One per responder, built by the worker from [trap] settings. All-zero
 * means every default. Strings and bytes are borrowed (see the top comment).
 */
struct resp_config {
	const char *hostname; /* shown in banners and replies; NULL = "localhost" */
	/*
	 * Greeting text instead of the default, without the protocol's framing:
	 * SMTP "220 <banner>", FTP "220 <banner>", POP3 "+OK <banner>",
	 * IMAP "* OK [CAPABILITY ...] <banner>", telnet: printed before
	 * "login:", HTTP: the Server header. NULL = default.
	 */
	const char *banner;
	int starttls;       /* the worker can upgrade in-stream: offer STARTTLS/STLS/AUTH TLS */
	int login_reject;   /* 1: every login fails (default: any credentials succeed) */
	size_t max_payload; /* bytes kept per payload; 0 = RESP_PAYLOAD_MAX */
	size_t max_raw;     /* generic responder: bytes kept; 0 = RESP_RAW_MAX */

	struct {
		int status;               /* 0 = 200 */
		const char *content_type; /* NULL = "text/html" */
		const uint8_t
		    *body; /* NULL = a bland default page; at most RESP_HTTP_BODY_MAX */
		size_t body_len;
	} http;

	struct {
		const char *file_name; /* listed and served by RETR; NULL = "backup.tar.gz" */
		const uint8_t *file;   /* stand-in bytes; NULL = RETR is refused (550) */
		size_t file_len;
	} ftp;

	struct {
		const char *topic; /* set on every channel joined; NULL = no topic */
	} irc;
};

/* ---- the responder interface -------------------------------------------- */

/*
 * Every function returning int returns a resp_action (>= 0) or a negative
 * errno (-ENOMEM); on a negative value the worker closes the connection.
 * After RESP_CLOSE the worker makes no further input/timeout calls.
 */
struct responder {
	const char *name; /* "http", "smtp", ... (trap_proto_name of proto) */
	enum trap_proto proto;

	void *(*create)(const struct resp_config *cfg, const struct resp_ctx *ctx);
	/* Greeting, if any (server-speaks-first protocols). */
	int (*start)(void *st, struct resp_out *out);
	/* Consume all n client bytes (any split), append replies. */
	int (*input)(void *st, const uint8_t *buf, size_t n, struct resp_out *out);
	/* The client has been silent for the worker's idle period. */
	int (*timeout)(void *st, struct resp_out *out);
	/* FTP data channel; NULL for every other responder. */
	int (*data_input)(void *st, const uint8_t *buf, size_t n, struct resp_out *out);
	/* status 0: the channel carried its transfer and closed; <0: it never came. */
	int (*data_closed)(void *st, int status, struct resp_out *out);
	/* The connection is over (any reason): hand pending payloads over. Idempotent. */
	void (*end)(void *st);
	/*
	 * Write the request summary into the open event (the worker has called
	 * ev_begin and writes the connection fields itself): Suricata-style
	 * sub-objects such as http{...}, smtp{...} + email{...}, ftp{...},
	 * irc{...}, credentials{username, password, method}.
	 */
	void (*fields)(void *st, struct evbuf *ev);
	/*
	 * The name the client's request gave for the server (HTTP's Host, without
	 * its port), as sent; NULL, or 0 when none. The worker checks that it is
	 * a host name before it names the connection's domain with it.
	 */
	size_t (*domain)(void *st, const char **name);
	void (*destroy)(void *st);
};

extern const struct responder resp_http;
extern const struct responder resp_smtp;
extern const struct responder resp_ftp;
extern const struct responder resp_pop3;
extern const struct responder resp_imap;
extern const struct responder resp_irc;
extern const struct responder resp_telnet;
extern const struct responder resp_generic;

/*
 * The responder for a detected or announced protocol. Never NULL: protocols
 * without one of their own (and UNKNOWN) get resp_generic, which records
 * what arrives. TLS and SSH are the worker's (handshake, banner exchange)
 * before any responder is chosen; HTTP2 gets resp_http, which answers the
 * preface like an HTTP/1.1-only server.
 */
const struct responder *resp_lookup(enum trap_proto proto);

#endif

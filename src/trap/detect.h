/*
 * Protocol detection for the trap: which protocol a connection speaks, from
 * its first bytes, whatever the port; and which protocol to announce first on
 * ports where the server speaks first.
 *
 * detect_proto() is pure over (buf, len): the worker calls it each time more
 * bytes arrive until need_more is 0 (or its own detection deadline passes, or
 * DETECT_MAX_BYTES have arrived), then takes the best answer it has.
 *
 * The banner table is process-wide: the worker fills the overrides from its
 * configuration ([trap] banner = PORT:PROTO) before it accepts connections,
 * and again on reload; lookups never allocate.
 */
#ifndef SINKTRAP_TRAP_DETECT_H
#define SINKTRAP_TRAP_DETECT_H

#include <stddef.h>
#include <stdint.h>

enum trap_proto {
	TRAP_PROTO_UNKNOWN = 0,
	TRAP_PROTO_HTTP,
	TRAP_PROTO_HTTP2, /* prior-knowledge preface "PRI * HTTP/2.0" */
	TRAP_PROTO_TLS,
	TRAP_PROTO_SSH,
	TRAP_PROTO_SMTP,
	TRAP_PROTO_FTP,
	TRAP_PROTO_POP3,
	TRAP_PROTO_IMAP,
	TRAP_PROTO_IRC,
	TRAP_PROTO_TELNET,
	TRAP_PROTO_DNS, /* DNS over TCP */
	TRAP_PROTO_RDP,
	TRAP_PROTO_SMB,
	TRAP_PROTO_SIP,
	TRAP_PROTO_RTSP,
	TRAP_PROTO_REDIS,
	TRAP_PROTO_MQTT,
	TRAP_PROTO_SOCKS,
	TRAP_PROTO_COUNT
};

/* Detection never needs more than this many bytes to give its answer. */
#define DETECT_MAX_BYTES 512

/* Confidence levels (0..100). */
#define DETECT_CERTAIN 100 /* a complete, well-formed opening: "GET / HTTP/1.1" */
#define DETECT_STRONG 80   /* a distinctive keyword: "EHLO ", "SSH-" */
#define DETECT_WEAK 50     /* ambiguous between protocols, settled by the port */
#define DETECT_GUESS 20    /* a prefix of a keyword; more bytes would tell */

struct detect_result {
	enum trap_proto proto; /* best guess so far; UNKNOWN if none */
	int confidence;        /* 0..100 */
	int need_more;         /* 1: more bytes could change or firm up the answer */
};

/*
 * Detect the protocol of a connection from its first len bytes. port is the
 * local (destination) port, used only to settle ambiguous openings (USER is
 * FTP on 21 and POP3 on 110; PASS is IRC where the port says nothing).
 * Always fills out; returns 0, or -EINVAL when buf is NULL with a nonzero
 * len.
 */
int detect_proto(const uint8_t *buf, size_t len, uint16_t port, struct detect_result *out);

/*
 * The protocol to announce on connect for a server-speaks-first port, or
 * TRAP_PROTO_UNKNOWN to wait for the client's bytes. tls is 1 once a TLS
 * handshake has completed on the connection (port 465 announces SMTP only
 * then; 993 IMAP, 995 POP3, 6697 IRC likewise). Overrides apply whatever
 * tls. A worker may also wait a moment before announcing and run
 * detect_proto() on whatever the client sent first: a scanner speaking HTTP
 * to port 21 is then answered in HTTP.
 */
enum trap_proto detect_banner(uint16_t port, int tls);

/*
 * Override the banner table for one port; proto TRAP_PROTO_UNKNOWN means
 * "wait for the client" on that port. Returns 0, or -ENOSPC past
 * DETECT_MAX_OVERRIDES ports, -EINVAL for port 0 or a bad proto.
 */
#define DETECT_MAX_OVERRIDES 256
int detect_banner_set(uint16_t port, enum trap_proto proto);
/* Drop every override (before a reload fills them again). */
void detect_banner_clear(void);

/* Lower-case name ("http", "smtp", "unknown"); never NULL. Static storage. */
const char *trap_proto_name(enum trap_proto p);
/* Parse a name as trap_proto_name() writes it (case-insensitive; "none" is UNKNOWN). */
int trap_proto_parse(const char *name, enum trap_proto *out);

#endif

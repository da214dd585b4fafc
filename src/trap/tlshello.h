/*
 * TLS ClientHello parsing and client fingerprints (JA3, JA4).
 *
 * tls_hello_parse() is a pure function over the first bytes a client sent on
 * a TCP connection: it walks the TLS records, reassembles a ClientHello that
 * spans several of them, and fills a self-contained struct tls_hello (no
 * pointers into the input, no allocation). The worker calls it each time
 * more bytes arrive until it stops answering -EAGAIN.
 *
 * Structure is checked strictly (every length against what is there);
 * oddities a conforming client would not send but that do not break the
 * structure (an empty host_name, a duplicated extension) are parsed and
 * reported in `anomalies`, because a scanner's odd hello is worth its
 * fingerprint.
 *
 * Fingerprints:
 *  - JA3 (Salesforce): "version,ciphers,extensions,groups,point_formats",
 *    decimal, '-'-joined, GREASE left out; ja3_hash is its MD5 in hex.
 *  - JA4 (FoxIO, technical_details/JA4.md): "t13d1516h2_<12>_<12>", and
 *    ja4_r, the same with the sorted lists in clear instead of hashed.
 * GREASE values (RFC 8701) are kept in the lists below, as sent, and left out
 * of every fingerprint and count.
 */
#ifndef SINKTRAP_TRAP_TLSHELLO_H
#define SINKTRAP_TRAP_TLSHELLO_H

#include <stddef.h>
#include <stdint.h>

struct evbuf;

/* Largest ClientHello body reassembled, and most records it may span;
 * beyond either the hello is -EBADMSG. */
#define TLS_HELLO_MAX_LEN 16384
#define TLS_HELLO_MAX_RECORDS 64
/* The parser never answers -EAGAIN once this many bytes are given: a worker
 * may stop buffering there. */
#define TLS_HELLO_MAX_INPUT (5 * TLS_HELLO_MAX_RECORDS + 4 + TLS_HELLO_MAX_LEN)

/* Caps on the lists kept; past a cap the rest is dropped (TLS_HELLO_A_TRUNCATED). */
#define TLS_HELLO_MAX_CIPHERS 512
#define TLS_HELLO_MAX_EXTS 128
#define TLS_HELLO_MAX_GROUPS 128
#define TLS_HELLO_MAX_POINT_FORMATS 32
#define TLS_HELLO_MAX_SIGALGS 128
#define TLS_HELLO_MAX_VERSIONS 32
#define TLS_HELLO_MAX_ALPN 16
#define TLS_HELLO_ALPN_LEN 255 /* a protocol name is at most 255 bytes */
#define TLS_HELLO_SNI_LEN 255  /* longer host names are cut (TLS_HELLO_A_SNI_LONG) */

/* Room for the longest strings the caps allow, NUL included. */
#define TLS_JA3_LEN                                                                            \
	(6 + 6 * (TLS_HELLO_MAX_CIPHERS + TLS_HELLO_MAX_EXTS + TLS_HELLO_MAX_GROUPS) +         \
	 4 * TLS_HELLO_MAX_POINT_FORMATS + 8)
#define TLS_JA4_LEN 37 /* 10 + 1 + 12 + 1 + 12, NUL */
#define TLS_JA4R_LEN                                                                           \
	(16 + 5 * (TLS_HELLO_MAX_CIPHERS + TLS_HELLO_MAX_EXTS + TLS_HELLO_MAX_SIGALGS))

/* Where GREASE values were seen (struct tls_hello.grease). */
#define TLS_GREASE_CIPHER 0x01
#define TLS_GREASE_EXT 0x02
#define TLS_GREASE_GROUP 0x04
#define TLS_GREASE_VERSION 0x08
#define TLS_GREASE_SIGALG 0x10
#define TLS_GREASE_ALPN 0x20

/* Anomalies: the structure holds, but a conforming client would not send this. */
#define TLS_HELLO_A_SNI_EMPTY 0x001      /* server_name present without a host_name, or empty */
#define TLS_HELLO_A_SNI_LONG 0x002       /* host_name longer than TLS_HELLO_SNI_LEN: cut */
#define TLS_HELLO_A_SNI_BYTES 0x004      /* host_name has bytes outside [A-Za-z0-9._-] */
#define TLS_HELLO_A_DUP_EXT 0x008        /* an extension type twice (the later one is kept) */
#define TLS_HELLO_A_TRUNCATED 0x010      /* a list exceeded its cap */
#define TLS_HELLO_A_ALPN_EMPTY 0x020     /* a zero-length ALPN protocol name */
#define TLS_HELLO_A_TRAILING 0x040       /* bytes after the hello in its last record */
#define TLS_HELLO_A_NO_CIPHERS 0x080     /* empty cipher_suites */
#define TLS_HELLO_A_NO_COMPRESSION 0x100 /* empty compression_methods */

struct tls_hello {
	uint16_t record_version; /* legacy_record_version of the first record */
	uint16_t version;        /* ClientHello legacy_version (what JA3 uses) */
	uint16_t max_version;    /* highest non-GREASE supported_versions, else version */
	size_t records_len;      /* input bytes taken by the records carrying the hello */
	size_t hello_len;        /* handshake body length */
	uint8_t random[32];
	uint8_t session_id_len;
	uint8_t n_compressions;

	uint16_t ciphers[TLS_HELLO_MAX_CIPHERS];
	size_t n_ciphers;
	uint16_t exts[TLS_HELLO_MAX_EXTS]; /* extension types in the order sent */
	size_t n_exts;
	uint16_t versions[TLS_HELLO_MAX_VERSIONS]; /* supported_versions */
	size_t n_versions;
	uint16_t groups[TLS_HELLO_MAX_GROUPS]; /* supported_groups */
	size_t n_groups;
	uint8_t point_formats[TLS_HELLO_MAX_POINT_FORMATS];
	size_t n_point_formats;
	uint16_t sigalgs[TLS_HELLO_MAX_SIGALGS]; /* signature_algorithms */
	size_t n_sigalgs;

	/* server_name: the first host_name entry. May hold any byte, NUL
	 * included; sni_len says how many. NUL-terminated for convenience. */
	int has_sni; /* the server_name extension is present */
	char sni[TLS_HELLO_SNI_LEN + 1];
	size_t sni_len;

	/* ALPN protocol names in order; NUL-terminated, any byte possible. */
	char alpn[TLS_HELLO_MAX_ALPN][TLS_HELLO_ALPN_LEN + 1];
	uint8_t alpn_len[TLS_HELLO_MAX_ALPN];
	size_t n_alpn;

	unsigned grease;    /* TLS_GREASE_* */
	unsigned anomalies; /* TLS_HELLO_A_* */

	char ja3[TLS_JA3_LEN];
	char ja3_hash[33];
	char ja4[TLS_JA4_LEN];
	char ja4_r[TLS_JA4R_LEN];
};

/*
 * Parse the ClientHello at the start of buf (len bytes received so far).
 * Returns
 *   0                  parsed: *out is filled, fingerprints included;
 *   -EAGAIN            a valid beginning of a TLS handshake: call again with more;
 *   -EPROTONOSUPPORT   not TLS (the first bytes are no TLS handshake record);
 *   -EBADMSG           TLS, but malformed (or larger than TLS_HELLO_MAX_LEN),
 * with the reason in err (may be NULL) for the two errors. *out is undefined
 * unless 0 is returned. O(len).
 */
int tls_hello_parse(const uint8_t *buf, size_t len, struct tls_hello *out, char *err,
                    size_t errlen);

/* 1 if v is a GREASE value (RFC 8701: 0x0a0a, 0x1a1a, ... 0xfafa). */
int tls_grease_is(uint16_t v);

/* "TLSv1.3", "TLSv1.2", ..., "SSLv3", or "0x%04x" into buf; returns buf. */
const char *tls_version_name(uint16_t v, char *buf, size_t len);

/*
 * Write a Suricata-style "tls" object into the event being built:
 *   tls{sni, version, ja3{hash, string}, ja4, ja4_r, alpn[...]}
 * version is max_version by name (Suricata shows the negotiated one; the
 * hello's best offer is what we know). sni and alpn only when present.
 */
void tls_hello_event_fields(const struct tls_hello *h, struct evbuf *b);

#endif

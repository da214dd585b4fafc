/*
 * DNS wire format: query parsing, response building, and the walk over a
 * whole message that forwarding and caching need. Pure: bytes in, structs
 * out, no I/O, no allocation. Every length and count in a packet is checked
 * against the bytes that are really there; compression pointers must point
 * backwards and are followed at most a bounded number of times.
 */
#ifndef SINKTRAP_DNS_WIRE_H
#define SINKTRAP_DNS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define DNS_HDR_LEN 12
#define DNS_NAME_WIRE_MAX 255
/* Presentation form: every byte may need a "\DDD" escape. */
#define DNS_NAME_TEXT_MAX (DNS_NAME_WIRE_MAX * 4 + 1)
/* A TTL above this (its top bit set) is read as 0 (RFC 2181 section 8). */
#define DNS_TTL_MAX 0x7fffffffu
/* The longest a negative answer (NXDOMAIN, NODATA) is kept: 3 hours, as
 * BIND's max-ncache-ttl (RFC 2308 section 5 advises 1 to 3 hours). */
#define DNS_NEG_TTL_MAX 10800u

enum {
	DNS_T_A = 1,
	DNS_T_NS = 2,
	DNS_T_CNAME = 5,
	DNS_T_SOA = 6,
	DNS_T_PTR = 12,
	DNS_T_MX = 15,
	DNS_T_TXT = 16,
	DNS_T_AAAA = 28,
	DNS_T_SRV = 33,
	DNS_T_OPT = 41,
	DNS_T_HTTPS = 65,
	DNS_T_AXFR = 252,
	DNS_T_ANY = 255,
	DNS_C_IN = 1,
};

enum {
	DNS_R_NOERROR = 0,
	DNS_R_FORMERR = 1,
	DNS_R_SERVFAIL = 2,
	DNS_R_NXDOMAIN = 3,
	DNS_R_NOTIMP = 4,
	DNS_R_REFUSED = 5,
	DNS_R_BADVERS = 16, /* extended: needs EDNS */
};

/* Header flag bits (second 16-bit word). */
#define DNS_F_QR 0x8000
#define DNS_F_AA 0x0400
#define DNS_F_TC 0x0200
#define DNS_F_RD 0x0100
#define DNS_F_RA 0x0080
#define DNS_F_AD 0x0020
#define DNS_F_CD 0x0010

/* The result of parsing a query. */
enum dns_parse {
	DNS_PARSE_OK = 0,
	DNS_PARSE_DROP = -1,    /* not even a header, or a response: no answer */
	DNS_PARSE_FORMERR = -2, /* answer FORMERR (the question if it parsed) */
	DNS_PARSE_NOTIMP = -3,  /* opcode other than QUERY */
	DNS_PARSE_BADVERS = -4, /* EDNS version > 0 */
};

struct dns_query {
	uint16_t id;
	uint16_t flags;
	uint8_t opcode;
	uint16_t qdcount, ancount, nscount, arcount;
	int have_question;
	/* The question as received (name uncompressed, original case, type, class). */
	uint8_t qraw[DNS_NAME_WIRE_MAX + 4];
	size_t qraw_len;
	/* Lowercased presentation form without the trailing dot ("." for the root). */
	char name[DNS_NAME_TEXT_MAX];
	size_t name_len;
	uint16_t qtype, qclass;
	/* EDNS(0) */
	int edns;
	uint16_t edns_size; /* advertised UDP payload size (>= 512) */
	uint8_t edns_version;
	int edns_do;
};

/* Parse a query. See enum dns_parse. */
enum dns_parse dns_query_parse(const uint8_t *pkt, size_t len, struct dns_query *q);

/* The largest response this client accepts over UDP. */
size_t dns_query_udp_limit(const struct dns_query *q, size_t server_max);

/*
 * Build responses into out (cap bytes). Each returns the length written, or
 * 0 if cap is too small (cap >= 512 always suffices for these).
 * edns_size: what we advertise in our OPT (sent only if the query had EDNS).
 */
/* Header + question, rcode, no records. Also for errors (FORMERR, SERVFAIL...). */
size_t dns_resp_empty(const struct dns_query *q, int rcode, int aa, uint16_t edns_size,
                      uint8_t *out, size_t cap);
/*
 * The answer to a query that did not parse (r, dns_query_parse's result, not
 * DNS_PARSE_OK): FORMERR, NOTIMP or BADVERS with what of it parsed; 0 for
 * DNS_PARSE_DROP (no header, or a response: never answered, or two servers
 * that answer responses would bounce one for ever).
 */
size_t dns_resp_parse_error(enum dns_parse r, const struct dns_query *q, uint16_t edns_size,
                            uint8_t *out, size_t cap);
/*
 * The sinkhole answer: one A (the first 4 bytes of addr) or AAAA (all 16
 * bytes) record for the question with ttl; or, when addr is NULL, NODATA
 * with a SOA in the authority section (negative TTL = ttl).
 */
size_t dns_resp_sinkhole(const struct dns_query *q, const uint8_t *addr, uint32_t ttl,
                         uint16_t edns_size, uint8_t *out, size_t cap);

/*
 * Build a query for forwarding: new id, RD set, CD copied, the lowercased
 * question, an OPT advertising edns_size with the client's DO bit.
 */
size_t dns_query_build(const struct dns_query *q, uint16_t id, uint16_t edns_size, uint8_t *out,
                       size_t cap);

/* The layout of a whole message, from dns_msg_walk(). */
struct dns_msg {
	uint16_t id, flags;
	uint16_t qdcount, ancount, nscount, arcount;
	int rcode; /* including the EDNS extended bits */
	size_t question_end;
	size_t opt_start; /* 0 when there is no OPT record */
	size_t opt_end;
	int opt_last;       /* the OPT record is the last record */
	uint16_t opt_index; /* its position in the additional section */
	uint32_t min_ttl;   /* answer TTLs, or the SOA negative TTL (at most
	                       DNS_NEG_TTL_MAX); a TTL above DNS_TTL_MAX counts as 0;
	                       UINT32_MAX if none */
	uint16_t qtype, qclass;
	uint8_t qname[DNS_NAME_WIRE_MAX]; /* lowercased wire form */
	size_t qname_len;
};

/*
 * Walk and validate a whole message (any section, any record). Returns 0,
 * or -1 if it is malformed. Cost: linear in the message (pointer chains are
 * bounded).
 */
int dns_msg_walk(const uint8_t *pkt, size_t len, struct dns_msg *m);
/* Subtract sub seconds from every TTL (except OPT) of a walked message, in place. */
void dns_msg_age(uint8_t *pkt, size_t len, uint32_t sub);

/*
 * Turn an upstream response (walked as m) into the response for client q,
 * in place in buf (len bytes used, cap available): client id, client's
 * question bytes (same name, original case), RD as the client sent it, the
 * upstream OPT replaced by ours (or removed when the client had no EDNS), and
 * truncated to header + question with TC set when it exceeds limit.
 * Returns the new length.
 */
size_t dns_resp_adapt(const struct dns_query *q, const struct dns_msg *m, uint8_t *buf,
                      size_t len, size_t cap, size_t limit, uint16_t edns_size);

/*
 * The CNAME chain an answer follows from its question name: the target of
 * the answer-section CNAME owned by the question name, then the target of
 * the one owned by that target, and so on (at most DNS_CHAIN_MAX links; a
 * name seen before ends it). Names are lowercased wire form.
 */
#define DNS_CHAIN_MAX 16
struct dns_chain {
	int n;
	uint8_t name[DNS_CHAIN_MAX][DNS_NAME_WIRE_MAX];
	size_t len[DNS_CHAIN_MAX];
	uint32_t ttl[DNS_CHAIN_MAX]; /* of the CNAME record leading to name[i] */
};

/* Fill c from the walked message m. Returns c->n (0: no chain, or malformed). */
int dns_msg_chain(const uint8_t *pkt, size_t len, const struct dns_msg *m, struct dns_chain *c);
/*
 * fn on the target of every CNAME record (class IN) of m's answer section, in
 * order, lowercased wire form (borrowed for the call), whatever chain it is
 * on; stops at the first non-zero return, which it returns (else 0).
 */
int dns_msg_cnames(const uint8_t *pkt, size_t len, const struct dns_msg *m,
                   int (*fn)(void *arg, const uint8_t *name, size_t nlen), void *arg);

/* An address record of an answer section. */
struct dns_addr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t a[16];
};

/* Where dns_msg_addrs() goes on from: all zero for the first record. */
struct dns_addr_cursor {
	size_t off;
	uint16_t i;
};

/*
 * The A and AAAA records (class IN) of m's answer section, at most max of
 * them from cur on, which is moved past them: called again until it returns
 * fewer than max, it gives every one however many the answer holds.
 */
int dns_msg_addrs(const uint8_t *pkt, size_t len, const struct dns_msg *m,
                  struct dns_addr_cursor *cur, struct dns_addr *out, int max);

/*
 * The sinkhole answer for a name reached by a CNAME chain: the chain's
 * first `upto` + 1 CNAME records (owner names uncompressed, TTLs capped at
 * ttl), then the sinkhole record (or NODATA's SOA) owned by
 * c->name[upto]. c NULL: the plain sinkhole answer for the question.
 * DNS_CHAIN_RESP_MAX bytes hold the longest (a chain of DNS_CHAIN_MAX
 * names of 255 bytes): more than a UDP answer, less than a TCP one.
 */
#define DNS_CHAIN_RESP_MAX                                                                     \
	(12 + DNS_NAME_WIRE_MAX + 4 + DNS_CHAIN_MAX * (2 * DNS_NAME_WIRE_MAX + 10) +           \
	 DNS_NAME_WIRE_MAX + 10 + 128 + 11)
size_t dns_resp_sinkhole_chain(const struct dns_query *q, const struct dns_chain *c, int upto,
                               const uint8_t *addr, uint32_t ttl, uint16_t edns_size,
                               uint8_t *out, size_t cap);

/* Wire name (uncompressed) to lowercased presentation form. Returns length or -1. */
int dns_name_to_text(const uint8_t *wire, size_t wlen, char *out, size_t cap);

const char *dns_type_name(uint16_t t, char *buf, size_t len);
const char *dns_rcode_name(int rcode);

#endif

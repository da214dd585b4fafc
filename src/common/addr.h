/*
 * Addresses: "ADDR:PORT" / "[V6]:PORT" parsing, CIDR prefixes, formatting.
 * Pure functions; errors are reported through a caller-owned buffer.
 */
#ifndef SINKTRAP_ADDR_H
#define SINKTRAP_ADDR_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct addrport {
	struct sockaddr_storage ss;
	socklen_t len;
};

struct prefix {
	int family;       /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network byte order; v4 in the first 4 bytes */
	int bits;
};

/*
 * Parse "1.2.3.4:53", "[::1]:53", "1.2.3.4" or "::1" (then defport).
 * Returns 0, or -1 with a reason in err.
 */
int addrport_parse(const char *s, int defport, struct addrport *out, char *err, size_t errlen);
/* "1.2.3.4:53" or "[::1]:53" into buf. */
const char *addrport_fmt(const struct sockaddr *sa, char *buf, size_t len);
/* Text address only (v4-mapped shown as v4), and the port. */
const char *addr_fmt(const struct sockaddr *sa, char *buf, size_t len);
int addr_port(const struct sockaddr *sa);
/*
 * A text address into out[16] (an IPv4 one in its first 4 bytes, the rest 0):
 * AF_INET or AF_INET6, or 0 when s is not one. A v4-mapped IPv6 address
 * (::ffff:a.b.c.d) is the IPv4 address it maps, as addr_fmt writes it.
 */
int addr_parse_ip(const char *s, uint8_t out[16]);
/* The same from a socket address: AF_INET (v4-mapped too) or AF_INET6, or 0. */
int addr_ip(const struct sockaddr *sa, uint8_t out[16]);
/*
 * What per-source limits count a client by: its family and an IPv4 address
 * (an IPv4-mapped IPv6 one too), or an IPv6 /64. A host is given a /64 as
 * readily as one address and can pick a new source address in it for every
 * connection: keyed by the full address, it would get a fresh allowance each
 * time. The trap's limits and the web worker's use it.
 */
void addr_source_key(const struct sockaddr *sa, uint8_t key[17]);
/* 0.0.0.0 or :: (a listener on every address). */
int addr_is_wildcard(const struct sockaddr *sa);
/* The same address (ports aside), of the same family. */
int addr_equal(const struct sockaddr *a, const struct sockaddr *b);

/* Parse "10.66.0.0/16", "fd00::/64" or a single address (a full-length prefix). */
int prefix_parse(const char *s, struct prefix *out, char *err, size_t errlen);
/* The same for a network to search in: host bits are let through and
 * cleared ("10.1.2.3/24" is 10.1.2.0/24), as an analyst types them. */
int prefix_parse_net(const char *s, struct prefix *out, char *err, size_t errlen);
/* Number of addresses in the prefix, capped at cap. */
uint64_t prefix_size(const struct prefix *p, uint64_t cap);
/* The n-th address of the prefix into out[16] (n < prefix_size). */
void prefix_nth(const struct prefix *p, uint64_t n, uint8_t out[16]);
/* Index of addr within p, or -1 if it is not inside or beyond the first
 * 2^63 addresses (a pool's index; for membership, prefix_contains). */
int64_t prefix_index(const struct prefix *p, const uint8_t *addr);
/* Whether addr (of p's family, 4 or 16 bytes) is inside p. */
int prefix_contains(const struct prefix *p, const uint8_t *addr);
const char *prefix_fmt(const struct prefix *p, char *buf, size_t len);

#endif

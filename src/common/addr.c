#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int addrport_parse(const char *s, int defport, struct addrport *out, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *port = NULL;
	size_t hl;

	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL) {
			snprintf(err, errlen, "'%s': missing ']'", s);
			return -1;
		}
		hl = (size_t)(close - s - 1);
		if (close[1] == ':')
			port = close + 2;
		else if (close[1] != '\0') {
			snprintf(err, errlen, "'%s': expected ':PORT' after ']'", s);
			return -1;
		}
		s++;
	} else {
		const char *colon = strrchr(s, ':');
		/* One colon: v4 with a port. Several: a bare v6 address. */
		if (colon && strchr(s, ':') == colon) {
			hl = (size_t)(colon - s);
			port = colon + 1;
		} else {
			hl = strlen(s);
		}
	}
	if (hl == 0 || hl >= sizeof(host)) {
		snprintf(err, errlen, "'%s': not an address", s);
		return -1;
	}
	memcpy(host, s, hl);
	host[hl] = '\0';

	long p = defport;
	if (port) {
		char *end;
		errno = 0;
		p = strtol(port, &end, 10);
		if (*port == '\0' || *end != '\0' || errno || p < 1 || p > 65535) {
			snprintf(err, errlen, "'%s': bad port '%s' (1-65535)", s, port);
			return -1;
		}
	} else if (defport <= 0) {
		snprintf(err, errlen, "'%s': a port is required (ADDR:PORT)", s);
		return -1;
	}

	struct sockaddr_in *s4 = (struct sockaddr_in *)&out->ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->ss;
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)p);
		out->len = sizeof(*s4);
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)p);
		out->len = sizeof(*s6);
	} else {
		snprintf(err, errlen, "'%s': '%s' is not an IPv4 or IPv6 address", s, host);
		return -1;
	}
	return 0;
}

const char *addr_fmt(const struct sockaddr *sa, char *buf, size_t len)
{
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, len);
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a))
			inet_ntop(AF_INET, &a->s6_addr[12], buf, len);
		else
			inet_ntop(AF_INET6, a, buf, len);
	} else {
		snprintf(buf, len, "?");
	}
	return buf;
}

int addr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

int addr_ip(const struct sockaddr *sa, uint8_t out[16])
{
	memset(out, 0, 16);
	if (sa->sa_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return AF_INET;
	}
	if (sa->sa_family != AF_INET6)
		return 0;
	const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (IN6_IS_ADDR_V4MAPPED(a)) {
		memcpy(out, &a->s6_addr[12], 4);
		return AF_INET;
	}
	memcpy(out, a, 16);
	return AF_INET6;
}

void addr_source_key(const struct sockaddr *sa, uint8_t key[17])
{
	int family = addr_ip(sa, key + 1);
	key[0] = (uint8_t)family;
	if (family == AF_INET6)
		memset(key + 1 + 8, 0, 8);
}

int addr_parse_ip(const char *s, uint8_t out[16])
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	memset(out, 0, 16);
	if (inet_pton(AF_INET, s, out) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, s, out) != 1)
		return 0;
	if (memcmp(out, v4mapped, sizeof(v4mapped)))
		return AF_INET6;
	memmove(out, out + 12, 4);
	memset(out + 4, 0, 12);
	return AF_INET;
}

int addr_is_wildcard(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_ANY);
	return sa->sa_family == AF_INET6 &&
	       IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr);
}

int addr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return 0;
	if (a->sa_family == AF_INET)
		return !memcmp(&((const struct sockaddr_in *)a)->sin_addr,
		               &((const struct sockaddr_in *)b)->sin_addr, 4);
	return a->sa_family == AF_INET6 &&
	       !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
	               &((const struct sockaddr_in6 *)b)->sin6_addr, 16);
}

const char *addrport_fmt(const struct sockaddr *sa, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	addr_fmt(sa, a, sizeof(a));
	if (strchr(a, ':'))
		snprintf(buf, len, "[%s]:%d", a, addr_port(sa));
	else
		snprintf(buf, len, "%s:%d", a, addr_port(sa));
	return buf;
}

static int prefix_parse_mode(const char *s, struct prefix *out, int strict, char *err,
                             size_t errlen)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t hl = slash ? (size_t)(slash - s) : strlen(s);

	memset(out, 0, sizeof(*out));
	if (hl == 0 || hl >= sizeof(host)) {
		snprintf(err, errlen, "'%s': not an address or prefix", s);
		return -1;
	}
	memcpy(host, s, hl);
	host[hl] = '\0';
	int max;
	if (inet_pton(AF_INET, host, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else {
		snprintf(err, errlen, "'%s': '%s' is not an IPv4 or IPv6 address", s, host);
		return -1;
	}
	out->bits = max;
	if (slash) {
		char *end;
		long b = strtol(slash + 1, &end, 10);
		if (slash[1] == '\0' || *end != '\0' || b < 0 || b > max) {
			snprintf(err, errlen, "'%s': bad prefix length (0-%d)", s, max);
			return -1;
		}
		out->bits = (int)b;
	}
	/* Host bits: refused when strict ("10.66.1.0/16" in a configuration is
	 * almost surely a typo), cleared otherwise. */
	for (int i = out->bits; i < max; i++) {
		if (!strict) {
			out->addr[i / 8] &= (uint8_t) ~(0x80 >> (i % 8));
			continue;
		}
		if (out->addr[i / 8] & (0x80 >> (i % 8))) {
			snprintf(err, errlen, "'%s': host bits set past /%d", s, out->bits);
			return -1;
		}
	}
	return 0;
}

int prefix_parse(const char *s, struct prefix *out, char *err, size_t errlen)
{
	return prefix_parse_mode(s, out, 1, err, errlen);
}

int prefix_parse_net(const char *s, struct prefix *out, char *err, size_t errlen)
{
	return prefix_parse_mode(s, out, 0, err, errlen);
}

uint64_t prefix_size(const struct prefix *p, uint64_t cap)
{
	int max = p->family == AF_INET ? 32 : 128;
	int host = max - p->bits;
	if (host >= 63)
		return cap;
	uint64_t n = (uint64_t)1 << host;
	return n < cap ? n : cap;
}

void prefix_nth(const struct prefix *p, uint64_t n, uint8_t out[16])
{
	int len = p->family == AF_INET ? 4 : 16;
	memset(out, 0, 16);
	memcpy(out, p->addr, (size_t)len);
	/* Add n to the address, big-endian, from the last byte. */
	for (int i = len - 1; i >= 0 && n; i--) {
		unsigned sum = out[i] + (unsigned)(n & 0xff);
		out[i] = (uint8_t)sum;
		n = (n >> 8) + (sum >> 8);
	}
}

int prefix_contains(const struct prefix *p, const uint8_t *addr)
{
	int full = p->bits / 8, rem = p->bits % 8;
	if (memcmp(addr, p->addr, (size_t)full) != 0)
		return 0;
	return !rem || !((addr[full] ^ p->addr[full]) & (0xff00 >> rem) & 0xff);
}

int64_t prefix_index(const struct prefix *p, const uint8_t *addr)
{
	int len = p->family == AF_INET ? 4 : 16;
	if (!prefix_contains(p, addr))
		return -1;
	/* Host part, up to 63 bits. */
	uint64_t idx = 0;
	int hostbits = len * 8 - p->bits;
	for (int i = 0; i < len; i++) {
		int bitpos = i * 8;
		if (bitpos + 8 <= p->bits)
			continue;
		if (len * 8 - bitpos > 63 && hostbits > 63) {
			if (addr[i] &
			    ((bitpos < p->bits) ? (0xff >> (p->bits - bitpos)) : 0xff))
				return -1; /* beyond what a pool can index */
			continue;
		}
		uint8_t b = addr[i];
		if (bitpos < p->bits)
			b &= (uint8_t)(0xff >> (p->bits - bitpos));
		idx = (idx << 8) | b;
	}
	return (int64_t)idx;
}

const char *prefix_fmt(const struct prefix *p, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	inet_ntop(p->family, p->addr, a, sizeof(a));
	snprintf(buf, len, "%s/%d", a, p->bits);
	return buf;
}

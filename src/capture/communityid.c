#include "communityid.h"

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

int communityid_has_ports(uint8_t proto)
{
	return proto == 6 || proto == 17 || proto == 132 || proto == 1 || proto == 58;
}

/* Counterpart types, as Zeek's ICMP4_counterpart()/ICMP6_counterpart(). */
static int icmp4_counterpart(uint8_t type)
{
	switch (type) {
	case 8:
		return 0; /* echo */
	case 0:
		return 8; /* echo reply */
	case 13:
		return 14; /* timestamp */
	case 14:
		return 13;
	case 15:
		return 16; /* information */
	case 16:
		return 15;
	case 10:
		return 9; /* router solicitation -> advertisement */
	case 9:
		return 10;
	case 17:
		return 18; /* address mask */
	case 18:
		return 17;
	default:
		return -1;
	}
}

static int icmp6_counterpart(uint8_t type)
{
	switch (type) {
	case 128:
		return 129; /* echo */
	case 129:
		return 128;
	case 133:
		return 134; /* router solicitation / advertisement */
	case 134:
		return 133;
	case 135:
		return 136; /* neighbour solicitation / advertisement */
	case 136:
		return 135;
	case 130:
		return 131; /* multicast listener query / report */
	case 131:
		return 130;
	case 139:
		return 140; /* node information query / response */
	case 140:
		return 139;
	case 144:
		return 145; /* home agent address discovery */
	case 145:
		return 144;
	default:
		return -1;
	}
}

int communityid_icmp_ports(int v6, uint8_t type, uint8_t code, uint16_t *p1, uint16_t *p2)
{
	int c = v6 ? icmp6_counterpart(type) : icmp4_counterpart(type);
	*p1 = type;
	if (c < 0) {
		*p2 = code;
		return 1;
	}
	*p2 = (uint16_t)c;
	return 0;
}

int communityid_compute(uint16_t seed, int family, const uint8_t *saddr, const uint8_t *daddr,
                        uint8_t proto, uint16_t sport, uint16_t dport,
                        char out[COMMUNITYID_STRLEN])
{
	uint8_t buf[2 + 16 + 16 + 2 + 4];
	uint8_t md[SHA_DIGEST_LENGTH];
	size_t alen, n = 0;
	const uint8_t *a1 = saddr, *a2 = daddr;
	uint16_t p1 = sport, p2 = dport;
	int one_way = 0, ports = communityid_has_ports(proto);

	out[0] = '\0';
	if (family == 4)
		alen = 4;
	else if (family == 6)
		alen = 16;
	else
		return -EINVAL;

	if (proto == 1 || proto == 58)
		one_way = communityid_icmp_ports(proto == 58, (uint8_t)sport, (uint8_t)dport,
		                                 &p1, &p2);
	if (!ports)
		p1 = p2 = 0;
	if (!one_way) {
		int c = memcmp(saddr, daddr, alen);
		if (c > 0 || (c == 0 && p1 > p2)) {
			uint16_t t = p1;
			a1 = daddr;
			a2 = saddr;
			p1 = p2;
			p2 = t;
		}
	}
	buf[n++] = (uint8_t)(seed >> 8);
	buf[n++] = (uint8_t)seed;
	memcpy(buf + n, a1, alen);
	n += alen;
	memcpy(buf + n, a2, alen);
	n += alen;
	buf[n++] = proto;
	buf[n++] = 0;
	if (ports) {
		buf[n++] = (uint8_t)(p1 >> 8);
		buf[n++] = (uint8_t)p1;
		buf[n++] = (uint8_t)(p2 >> 8);
		buf[n++] = (uint8_t)p2;
	}
	if (SHA1(buf, n, md) == NULL)
		return -EIO;
	out[0] = '1';
	out[1] = ':';
	/* 20 bytes -> 28 characters + NUL: fits out[2..30]. */
	EVP_EncodeBlock((unsigned char *)out + 2, md, SHA_DIGEST_LENGTH);
	return 0;
}

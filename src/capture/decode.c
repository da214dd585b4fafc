#include "decode.h"

#include <errno.h>
#include <string.h>

#include "communityid.h"

/* Bounds on header chains, so a crafted packet cannot make us loop long. */
#define MAX_L2_HEADERS 16
#define MAX_IP6_EXT 16

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int fail(struct decode_pkt *d, enum decode_reason r)
{
	d->reason = (uint8_t)r;
	d->l3 = 0;
	return -EBADMSG;
}

static int nonip(struct decode_pkt *d, enum decode_reason r)
{
	d->reason = (uint8_t)r;
	return 0;
}

/* Teredo (RFC 4380): optional authentication and origin indication headers, then IPv6. */
static void udp_teredo(struct decode_pkt *d, const uint8_t *b, uint32_t off, uint32_t end)
{
	for (int i = 0; i < 2; i++) {
		if (end - off < 2)
			return;
		if (b[off] == 0 && b[off + 1] == 1) { /* authentication */
			if (end - off < 4)
				return;
			uint32_t n = 4u + b[off + 2] + b[off + 3] + 9u;
			if (end - off < n)
				return;
			off += n;
		} else if (b[off] == 0 && b[off + 1] == 0) { /* origin indication */
			if (end - off < 8)
				return;
			off += 8;
		} else {
			break;
		}
	}
	if (end - off < 40 || (b[off] >> 4) != 6 || 40u + be16(b + off + 4) > end - off)
		return;
	d->tunnel = DECODE_TUNNEL_TEREDO;
	d->inner_off = off;
	d->inner_linktype = DECODE_LINK_RAW;
}

/* L2TPv2 data message (RFC 2661): optional length, sequence and offset fields, then PPP. */
static void udp_l2tp(struct decode_pkt *d, const uint8_t *b, uint32_t off, uint32_t end)
{
	if (end - off < 6)
		return;
	uint16_t fv = be16(b + off);
	if ((fv & 0x000f) != 2 || (fv & 0x8000)) /* version 2, data (not control) */
		return;
	uint32_t hl = 2 + ((fv & 0x4000) ? 2 : 0) + 4 + ((fv & 0x0800) ? 4 : 0);
	if (fv & 0x0200) { /* offset size, then that much padding */
		if (end - off < hl + 2)
			return;
		hl += 2 + be16(b + off + hl);
	}
	if (end - off < hl + 2)
		return;
	d->tunnel = DECODE_TUNNEL_L2TP;
	d->inner_off = off + hl;
	d->inner_linktype = DECODE_LINK_PPP;
}

static void l4_gre(struct decode_pkt *d, const uint8_t *b, uint32_t off, uint32_t end)
{
	if (end - off < 4)
		return;
	uint16_t fv = be16(b + off), ptype = be16(b + off + 2);
	uint32_t hl = 4;
	if ((fv & 0x7) == 0) {
		if (fv & 0x8000 || fv & 0x4000) /* checksum or routing present */
			hl += 4;
		if (fv & 0x2000) /* key */
			hl += 4;
		if (fv & 0x1000) /* sequence */
			hl += 4;
		if (fv & 0x4000) /* source routing: not followed */
			return;
	} else if ((fv & 0x7) == 1) { /* enhanced GRE (PPTP): key always, ack optional */
		hl += 4;
		if (fv & 0x1000)
			hl += 4;
		if (fv & 0x0080)
			hl += 4;
	} else {
		return;
	}
	if (end - off < hl)
		return;
	d->tunnel = DECODE_TUNNEL_GRE;
	d->inner_off = off + hl;
	if (ptype == 0x8909 && end - d->inner_off >= 8) {
		/* Cisco MetaData: the ethertype, version, length, options, SGT */
		ptype = be16(b + d->inner_off);
		d->inner_off += 8;
	}
	switch (ptype) {
	case 0x0800:
	case 0x86dd:
		d->inner_linktype = DECODE_LINK_RAW;
		break;
	case 0x6558:
		d->inner_linktype = DECODE_LINK_ETHERNET;
		break;
	case 0x880b:
		d->inner_linktype = DECODE_LINK_PPP;
		break;
	default:
		d->inner_linktype = 0xffffffff; /* unknown payload */
		break;
	}
}

/*
 * L4 at off; end is where the IP datagram ends within the capture,
 * ipend where it ends per the IP header.
 */
static void dec_l4(struct decode_pkt *d, const uint8_t *b, uint32_t off, uint32_t end,
                   uint32_t ipend)
{
	uint32_t avail = end - off, hl = 0;

	d->l4_off = off;
	switch (d->proto) {
	case 6: /* TCP */
		if (avail < 4) {
			d->flags |= DECODE_F_L4_TRUNC;
			return;
		}
		d->sport = be16(b + off);
		d->dport = be16(b + off + 2);
		d->flags |= DECODE_F_L4;
		if (avail < 20) {
			d->flags |= DECODE_F_L4_TRUNC;
			return;
		}
		d->tcp_seq = be32(b + off + 4);
		d->tcp_ack = be32(b + off + 8);
		d->tcp_flags = b[off + 13];
		d->tcp_win = be16(b + off + 14);
		d->flags |= DECODE_F_TCP_HDR;
		hl = (uint32_t)(b[off + 12] >> 4) * 4;
		if (hl < 20) {
			d->flags |= DECODE_F_L4_TRUNC;
			return;
		}
		if (hl > avail) {
			/* options cut by the snaplen: the payload length is still known */
			d->flags |= DECODE_F_L4_TRUNC;
			d->payload_off = end;
			d->payload_len = ipend > off + hl ? ipend - (off + hl) : 0;
			d->payload_cap = 0;
			return;
		}
		break;
	case 17:  /* UDP */
	case 136: /* UDP-Lite: same header, ports only */
		if (avail < 8) {
			d->flags |= DECODE_F_L4_TRUNC;
			if (avail >= 4 && d->proto == 17) {
				d->sport = be16(b + off);
				d->dport = be16(b + off + 2);
				d->flags |= DECODE_F_L4;
			}
			return;
		}
		d->sport = be16(b + off);
		d->dport = be16(b + off + 2);
		if (d->proto == 17)
			d->flags |= DECODE_F_L4;
		hl = 8;
		break;
	case 132: /* SCTP */
		if (avail < 4) {
			d->flags |= DECODE_F_L4_TRUNC;
			return;
		}
		d->sport = be16(b + off);
		d->dport = be16(b + off + 2);
		d->flags |= DECODE_F_L4;
		hl = avail < 12 ? avail : 12;
		break;
	case 1:  /* ICMP */
	case 58: /* ICMPv6 */
		if (avail < 2) {
			d->flags |= DECODE_F_L4_TRUNC;
			return;
		}
		d->icmp_type = b[off];
		d->icmp_code = b[off + 1];
		d->flags |= DECODE_F_L4;
		hl = avail < 8 ? avail : 8;
		break;
	case 47: /* GRE */
		l4_gre(d, b, off, end);
		return;
	case 4:  /* IPv4 in IP */
	case 41: /* IPv6 in IP */
		d->tunnel = DECODE_TUNNEL_IPIP;
		d->inner_off = off;
		d->inner_linktype = DECODE_LINK_RAW;
		return;
	default:
		return;
	}
	d->payload_off = off + hl;
	d->payload_len = ipend > off + hl ? ipend - (off + hl) : 0;
	d->payload_cap = end - (off + hl);
	if (d->proto == 17) {
		uint16_t ulen = be16(b + off + 4);
		if (ulen >= 8 && ulen - 8u < d->payload_len)
			d->payload_len = ulen - 8u;
		if (d->payload_cap > d->payload_len)
			d->payload_cap = d->payload_len;
		if (d->sport == 3544 || d->dport == 3544)
			udp_teredo(d, b, d->payload_off, d->payload_off + d->payload_cap);
		else if (d->sport == 1701 || d->dport == 1701)
			udp_l2tp(d, b, d->payload_off, d->payload_off + d->payload_cap);
		else if (d->dport == 4789 && d->payload_cap >= 8 + 14 &&
		         (b[d->payload_off] & 0x08)) {
			d->tunnel = DECODE_TUNNEL_VXLAN;
			d->inner_off = d->payload_off + 8;
			d->inner_linktype = DECODE_LINK_ETHERNET;
		}
	}
}

static int dec_ipv4(struct decode_pkt *d, const uint8_t *b, uint32_t off, uint32_t caplen)
{
	uint32_t avail = caplen - off;

	d->l3_off = off;
	if (avail < 20)
		return fail(d, DECODE_ERR_IP_HEADER);
	if ((b[off] >> 4) != 4)
		return fail(d, DECODE_ERR_IP_VERSION);
	uint32_t ihl = (uint32_t)(b[off] & 0x0f) * 4;
	uint32_t tot = be16(b + off + 2);
	if (ihl < 20 || ihl > avail)
		return fail(d, DECODE_ERR_IP_HEADER);
	/* A zero total length is what segmentation offload leaves in captures taken on the
	 * sending host: the captured length is all there is to go by. */
	if (tot == 0)
		tot = avail;
	if (tot < ihl)
		return fail(d, DECODE_ERR_IP_HEADER);
	if (ihl > 20)
		d->flags |= DECODE_F_IP_OPTIONS;
	uint32_t end = off + tot, ipend = end;
	if (tot > avail) {
		d->flags |= DECODE_F_TRUNC;
		end = caplen;
	}
	d->l3 = 4;
	d->ip_len = tot;
	d->ttl = b[off + 8];
	d->proto = d->frag_nh = b[off + 9];
	d->frag_id = be16(b + off + 4);
	memcpy(d->src, b + off + 12, 4);
	memcpy(d->dst, b + off + 16, 4);
	uint16_t fo = be16(b + off + 6);
	d->frag_off = (uint16_t)((fo & 0x1fff) * 8);
	if ((fo & 0x2000) || d->frag_off) {
		d->flags |= DECODE_F_FRAG;
		if (d->frag_off) {
			d->flags |= DECODE_F_FRAG_LATER;
			return 0;
		}
	}
	dec_l4(d, b, off + ihl, end, ipend);
	return 0;
}

static int dec_ipv6(struct decode_pkt *d, const uint8_t *b, uint32_t off, uint32_t caplen)
{
	uint32_t avail = caplen - off;

	d->l3_off = off;
	if (avail < 40)
		return fail(d, DECODE_ERR_IP_HEADER);
	if ((b[off] >> 4) != 6)
		return fail(d, DECODE_ERR_IP_VERSION);
	uint32_t tot = 40u + be16(b + off + 4);
	uint8_t nh = b[off + 6];
	if (tot == 40 && nh == 0)
		tot = avail; /* jumbogram (RFC 2675): the length is in an option */
	uint32_t end = off + tot, ipend = end;
	if (tot > avail) {
		d->flags |= DECODE_F_TRUNC;
		end = caplen;
	}
	d->l3 = 6;
	d->ip_len = tot;
	d->ttl = b[off + 7];
	memcpy(d->src, b + off + 8, 16);
	memcpy(d->dst, b + off + 24, 16);

	uint32_t p = off + 40;
	for (int i = 0; i < MAX_IP6_EXT; i++) {
		uint32_t hl;
		switch (nh) {
		case 0:   /* hop-by-hop */
		case 43:  /* routing */
		case 60:  /* destination options */
		case 135: /* mobility */
		case 139: /* HIP */
		case 140: /* shim6 */
			if (end - p < 2)
				goto cut;
			hl = ((uint32_t)b[p + 1] + 1) * 8;
			break;
		case 51: /* AH */
			if (end - p < 2)
				goto cut;
			hl = ((uint32_t)b[p + 1] + 2) * 4;
			break;
		case 44: /* fragment */
			if (end - p < 8)
				goto cut;
			d->flags |= DECODE_F_FRAG;
			d->frag_off = be16(b + p + 2) & 0xfff8;
			d->frag_id = be32(b + p + 4);
			d->proto = d->frag_nh = b[p];
			if (d->frag_off) {
				d->flags |= DECODE_F_FRAG_LATER;
				return 0;
			}
			/* An atomic fragment (offset 0, no more) is a whole datagram. */
			if (!(be16(b + p + 2) & 1))
				d->flags &= (uint16_t)~DECODE_F_FRAG;
			hl = 8;
			break;
		default:
			d->proto = nh;
			dec_l4(d, b, p, end, ipend);
			return 0;
		}
		if (end - p < hl)
			goto cut;
		d->flags |= DECODE_F_IP6_EXT;
		nh = b[p];
		p += hl;
	}
cut:
	/* Extension headers cut short or too many: addresses only. */
	d->proto = nh;
	d->flags |= DECODE_F_L4_TRUNC;
	return 0;
}

static int dec_ip_any(struct decode_pkt *d, const uint8_t *b, uint32_t off, uint32_t caplen)
{
	if (caplen - off < 1)
		return fail(d, DECODE_ERR_IP_HEADER);
	switch (b[off] >> 4) {
	case 4:
		return dec_ipv4(d, b, off, caplen);
	case 6:
		return dec_ipv6(d, b, off, caplen);
	default:
		d->l3_off = off;
		return fail(d, DECODE_ERR_IP_VERSION);
	}
}

/* PPP protocol field (1 or 2 bytes, RFC 1661 protocol field compression). */
static int dec_ppp(struct decode_pkt *d, const uint8_t *b, uint32_t off, uint32_t caplen)
{
	uint16_t proto;
	if (caplen - off < 1)
		return fail(d, DECODE_ERR_L2);
	if (b[off] & 1) {
		proto = b[off];
		off += 1;
	} else {
		if (caplen - off < 2)
			return fail(d, DECODE_ERR_L2);
		proto = be16(b + off);
		off += 2;
	}
	if (proto == 0x0021)
		return dec_ipv4(d, b, off, caplen);
	if (proto == 0x0057)
		return dec_ipv6(d, b, off, caplen);
	return nonip(d, DECODE_NONIP_PPP_CTRL);
}

/* Everything after an ethertype at off: tags, PPPoE, MPLS, then IP. */
static int dec_ethertype(struct decode_pkt *d, const uint8_t *b, uint32_t off, uint32_t caplen,
                         uint16_t type)
{
	for (int i = 0; i < MAX_L2_HEADERS; i++) {
		d->ethertype = type;
		switch (type) {
		case 0x0800:
			return dec_ipv4(d, b, off, caplen);
		case 0x86dd:
			return dec_ipv6(d, b, off, caplen);
		case 0x8100:
		case 0x88a8:
		case 0x9100:
		case 0x9200:
			if (caplen - off < 4)
				return fail(d, DECODE_ERR_L2);
			if (d->vlan_count < 2)
				d->vlan[d->vlan_count] = be16(b + off) & 0x0fff;
			else
				d->flags |= DECODE_F_VLAN_MORE;
			if (d->vlan_count < 255)
				d->vlan_count++;
			type = be16(b + off + 2);
			off += 4;
			continue;
		case 0x8864: /* PPPoE session: ver/type, code, session, length, PPP */
			if (caplen - off < 6)
				return fail(d, DECODE_ERR_L2);
			d->flags |= DECODE_F_PPPOE;
			return dec_ppp(d, b, off + 6, caplen);
		case 0x8863:
			return nonip(d, DECODE_NONIP_PPPOE_DISC);
		case 0x0806:
		case 0x8035:
			return nonip(d, DECODE_NONIP_ARP);
		case 0x88cc:
			return nonip(d, DECODE_NONIP_LLDP);
		case 0x9000:
			return nonip(d, DECODE_NONIP_LOOPBACK);
		case 0x8847:
		case 0x8848: /* MPLS: labels until bottom of stack, then IP by version */
			d->flags |= DECODE_F_MPLS;
			for (int l = 0;; l++) {
				if (l >= MAX_L2_HEADERS || caplen - off < 4)
					return fail(d, DECODE_ERR_L2);
				uint8_t bos = b[off + 2] & 1;
				off += 4;
				if (bos)
					break;
			}
			if (caplen - off >= 1 && ((b[off] >> 4) == 4 || (b[off] >> 4) == 6))
				return dec_ip_any(d, b, off, caplen);
			return nonip(d, DECODE_NONIP_ETHERTYPE);
		default:
			if (type <= 1500) { /* 802.3 length: LLC follows */
				if (caplen - off < 3)
					return nonip(d, DECODE_NONIP_LLC);
				if (b[off] == 0x42 && b[off + 1] == 0x42)
					return nonip(d, DECODE_NONIP_STP);
				if (b[off] == 0xaa && b[off + 1] == 0xaa && caplen - off >= 8) {
					uint32_t oui = (uint32_t)b[off + 3] << 16 |
					               (uint32_t)b[off + 4] << 8 | b[off + 5];
					uint16_t pid = be16(b + off + 6);
					if (oui == 0x00000c && pid == 0x010b) /* Cisco PVST+ */
						return nonip(d, DECODE_NONIP_STP);
					/* SNAP with a zero OUI carries an ethertype */
					if (oui == 0 && pid > 1500) {
						type = pid;
						off += 8;
						continue;
					}
				}
				return nonip(d, DECODE_NONIP_LLC);
			}
			return nonip(d, DECODE_NONIP_ETHERTYPE);
		}
	}
	return nonip(d, DECODE_NONIP_ETHERTYPE);
}

/* BSD loopback family values for IP and IPv6 (they differ across systems). */
static int dec_family(struct decode_pkt *d, const uint8_t *b, uint32_t off, uint32_t caplen,
                      uint32_t fam)
{
	switch (fam) {
	case 2:
		return dec_ipv4(d, b, off, caplen);
	case 10: /* Linux */
	case 24: /* NetBSD, OpenBSD */
	case 28: /* FreeBSD */
	case 30: /* macOS */
		return dec_ipv6(d, b, off, caplen);
	default:
		return nonip(d, DECODE_NONIP_FAMILY);
	}
}

int decode_packet(uint32_t linktype, const uint8_t *buf, size_t caplen_in, struct decode_pkt *d)
{
	memset(d, 0, sizeof(*d));
	d->linktype = linktype;
	/* Offsets are 32-bit: a larger buffer is decoded as if cut at 4 GB. */
	uint32_t caplen = caplen_in > 0xffffffffu ? 0xffffffffu : (uint32_t)caplen_in;
	if (buf == NULL)
		caplen = 0;

	switch (linktype) {
	case DECODE_LINK_ETHERNET:
		if (caplen < 14)
			return fail(d, DECODE_ERR_L2);
		return dec_ethertype(d, buf, 14, caplen, be16(buf + 12));
	case DECODE_LINK_RAW:
	case DECODE_LINK_RAW_BSD:
	case DECODE_LINK_RAW_OBSD:
		return dec_ip_any(d, buf, 0, caplen);
	case DECODE_LINK_IPV4:
		return dec_ipv4(d, buf, 0, caplen);
	case DECODE_LINK_IPV6:
		return dec_ipv6(d, buf, 0, caplen);
	case DECODE_LINK_NULL: {
		if (caplen < 4)
			return fail(d, DECODE_ERR_L2);
		/* host order of the capturing machine: accept either */
		uint32_t fam = (uint32_t)buf[0] | (uint32_t)buf[1] << 8 |
		               (uint32_t)buf[2] << 16 | (uint32_t)buf[3] << 24;
		if (fam > 0xffff)
			fam = be32(buf);
		return dec_family(d, buf, 4, caplen, fam);
	}
	case DECODE_LINK_LOOP:
		if (caplen < 4)
			return fail(d, DECODE_ERR_L2);
		return dec_family(d, buf, 4, caplen, be32(buf));
	case DECODE_LINK_SLL: {
		if (caplen < 16)
			return fail(d, DECODE_ERR_L2);
		uint16_t proto = be16(buf + 14);
		if (be16(buf + 2) == 824) /* ARPHRD_NETLINK */
			return nonip(d, DECODE_NONIP_FAMILY);
		if (proto == 0x0001 || proto == 0x0004)
			return nonip(d, DECODE_NONIP_LLC);
		return dec_ethertype(d, buf, 16, caplen, proto);
	}
	case DECODE_LINK_SLL2: {
		if (caplen < 20)
			return fail(d, DECODE_ERR_L2);
		uint16_t proto = be16(buf);
		if (be16(buf + 8) == 824)
			return nonip(d, DECODE_NONIP_FAMILY);
		if (proto == 0x0001 || proto == 0x0004)
			return nonip(d, DECODE_NONIP_LLC);
		return dec_ethertype(d, buf, 20, caplen, proto);
	}
	case DECODE_LINK_PPP: {
		uint32_t off = 0;
		if (caplen >= 2 && buf[0] == 0xff && buf[1] == 0x03)
			off = 2;
		return dec_ppp(d, buf, off, caplen);
	}
	default:
		return nonip(d, DECODE_NONIP_LINKTYPE);
	}
}

int decode_key_get(const struct decode_pkt *d, struct decode_key *k)
{
	memset(k, 0, sizeof(*k));
	if (d->l3 != 4 && d->l3 != 6)
		return -ENOENT;
	size_t alen = d->l3 == 4 ? 4 : 16;
	k->family = d->l3;
	k->proto = d->proto;
	k->vlan[0] = d->vlan[0];
	k->vlan[1] = d->vlan[1];
	memcpy(k->src, d->src, alen);
	memcpy(k->dst, d->dst, alen);
	if (!(d->flags & DECODE_F_L4))
		return 0;
	switch (d->proto) {
	case 1:
	case 58:
		communityid_icmp_ports(d->proto == 58, d->icmp_type, d->icmp_code, &k->sport,
		                       &k->dport);
		break;
	case 6:
	case 17:
	case 132:
		k->sport = d->sport;
		k->dport = d->dport;
		break;
	}
	return 0;
}

void decode_key_reverse(const struct decode_key *k, struct decode_key *out)
{
	struct decode_key t = *k;
	memcpy(t.src, k->dst, 16);
	memcpy(t.dst, k->src, 16);
	t.sport = k->dport;
	t.dport = k->sport;
	*out = t;
}

const char *decode_reason_str(int reason)
{
	static const char *const names[DECODE_REASON_MAX] = {
	    [DECODE_OK] = "ok",
	    [DECODE_NONIP_ARP] = "arp",
	    [DECODE_NONIP_LLC] = "llc",
	    [DECODE_NONIP_STP] = "stp",
	    [DECODE_NONIP_LLDP] = "lldp",
	    [DECODE_NONIP_PPPOE_DISC] = "pppoe-discovery",
	    [DECODE_NONIP_PPP_CTRL] = "ppp-control",
	    [DECODE_NONIP_LOOPBACK] = "loopback",
	    [DECODE_NONIP_ETHERTYPE] = "ethertype",
	    [DECODE_NONIP_LINKTYPE] = "linktype",
	    [DECODE_NONIP_FAMILY] = "family",
	    [DECODE_ERR_L2] = "l2-truncated",
	    [DECODE_ERR_IP_VERSION] = "ip-version",
	    [DECODE_ERR_IP_HEADER] = "ip-header",
	};
	if (reason < 0 || reason >= DECODE_REASON_MAX)
		return "unknown";
	return names[reason];
}

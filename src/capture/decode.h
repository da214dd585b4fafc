/*
 * Packet decoder: (link type, captured bytes) -> a decoded view of L2, L3
 * and L4, and the flow key of the packet. Pure: no allocation, no I/O, and
 * no length field is trusted (every header is checked against what was
 * captured). The view points into nothing: offsets are relative to the
 * buffer given to decode_packet(), which the caller keeps.
 *
 * Link types: NULL/BSD loopback (0), Ethernet (1), PPP (9), RAW IP (101, and
 * the DLT values 12 and 14 some systems write), LOOP (108), Linux SLL (113),
 * IPv4 (228), IPv6 (229), Linux SLL2 (276).
 * Inside Ethernet: 802.1Q, 802.1ad and 0x9100 tags (the outer two VLAN ids
 * are kept, outer first), PPPoE session -> PPP -> IP, MPLS label stacks.
 * IPv4 with options and fragments; IPv6 with extension headers (hop-by-hop,
 * routing, fragment, destination options, AH, mobility). Only an unfragmented
 * packet or the first fragment carries L4 ports; a later fragment keeps its
 * addresses, protocol and fragment id so the flow table can match it.
 *
 * Tunnels (GRE incl. Cisco MetaData, IP-in-IP, IPv6-in-IPv4, Teredo, VXLAN,
 * L2TPv2) are recognised and the
 * offset of the inner packet is reported, but the flow key is always the
 * OUTER header: the capture is about who talked to the sensor, and keying on
 * the outer header keeps every packet of one tunnel in one flow. A caller
 * that wants the inner flow decodes again at inner_off with inner_linktype.
 *
 * Non-IP frames (ARP, STP and other LLC, LLDP, PPPoE discovery, PPP control,
 * loopback test frames, unknown link types) are not errors: l3 is 0 and
 * reason says what the frame was.
 */
#ifndef SINKTRAP_CAPTURE_DECODE_H
#define SINKTRAP_CAPTURE_DECODE_H

#include <stddef.h>
#include <stdint.h>

/* Link types (LINKTYPE_* values as written in capture files). */
enum {
	DECODE_LINK_NULL = 0,
	DECODE_LINK_ETHERNET = 1,
	DECODE_LINK_PPP = 9,
	DECODE_LINK_RAW_BSD = 12,
	DECODE_LINK_RAW_OBSD = 14,
	DECODE_LINK_RAW = 101,
	DECODE_LINK_LOOP = 108,
	DECODE_LINK_SLL = 113,
	DECODE_LINK_IPV4 = 228,
	DECODE_LINK_IPV6 = 229,
	DECODE_LINK_SLL2 = 276,
};

enum decode_reason {
	DECODE_OK = 0,
	/* not IP (decode_packet returns 0) */
	DECODE_NONIP_ARP,
	DECODE_NONIP_LLC, /* 802.3 length field + LLC, not STP */
	DECODE_NONIP_STP,
	DECODE_NONIP_LLDP,
	DECODE_NONIP_PPPOE_DISC,
	DECODE_NONIP_PPP_CTRL,  /* LCP, IPCP, ... inside PPP or PPPoE */
	DECODE_NONIP_LOOPBACK,  /* Ethernet configuration testing, 0x9000 */
	DECODE_NONIP_ETHERTYPE, /* any other ethertype */
	DECODE_NONIP_LINKTYPE,  /* link type not supported */
	DECODE_NONIP_FAMILY,    /* NULL/LOOP/SLL header with a non-IP protocol */
	/* malformed (decode_packet returns -EBADMSG) */
	DECODE_ERR_L2, /* link header cut short */
	DECODE_ERR_IP_VERSION,
	DECODE_ERR_IP_HEADER, /* IP header cut short or its lengths are inconsistent */
	DECODE_REASON_MAX
};

/* decode_pkt.flags */
#define DECODE_F_L4 0x0001         /* L4 header decoded: ports / ICMP type are valid */
#define DECODE_F_FRAG 0x0002       /* a fragment (first or later) */
#define DECODE_F_FRAG_LATER 0x0004 /* a fragment other than the first: no L4 */
#define DECODE_F_L4_TRUNC 0x0008   /* L4 header not fully captured */
#define DECODE_F_TRUNC 0x0010      /* IP datagram longer than what was captured */
#define DECODE_F_PPPOE 0x0020
#define DECODE_F_MPLS 0x0040
#define DECODE_F_VLAN_MORE 0x0080 /* more than two VLAN tags */
#define DECODE_F_IP_OPTIONS 0x0100
#define DECODE_F_IP6_EXT 0x0200 /* IPv6 extension headers were skipped */
#define DECODE_F_TCP_HDR 0x0400 /* the fixed TCP header (seq, ack, flags, window) is valid */

enum decode_tunnel {
	DECODE_TUNNEL_NONE = 0,
	DECODE_TUNNEL_GRE,
	DECODE_TUNNEL_IPIP,   /* IPv4 or IPv6 in IPv4/IPv6 (protocols 4, 41) */
	DECODE_TUNNEL_TEREDO, /* IPv6 in UDP/3544 */
	DECODE_TUNNEL_VXLAN,  /* Ethernet in UDP/4789 */
	DECODE_TUNNEL_L2TP,   /* PPP in L2TPv2 data messages, UDP/1701 */
};

/* TCP flags as in the header's 13th byte. */
#define DECODE_TH_FIN 0x01
#define DECODE_TH_SYN 0x02
#define DECODE_TH_RST 0x04
#define DECODE_TH_PSH 0x08
#define DECODE_TH_ACK 0x10
#define DECODE_TH_URG 0x20
#define DECODE_TH_ECE 0x40
#define DECODE_TH_CWR 0x80

struct decode_pkt {
	uint32_t linktype;
	uint16_t flags;     /* DECODE_F_* */
	uint8_t reason;     /* enum decode_reason */
	uint8_t l3;         /* 0 = not IP, 4 = IPv4, 6 = IPv6 */
	uint16_t vlan[2];   /* outer, inner VLAN id; 0 = none */
	uint8_t vlan_count; /* tags seen (may exceed 2) */
	uint8_t ttl;        /* TTL / hop limit */
	uint16_t ethertype; /* the last ethertype seen (0 for raw/NULL links) */

	uint32_t l3_off;          /* offset of the IP header */
	uint32_t ip_len;          /* IP datagram length per its header (may exceed caplen) */
	uint8_t src[16], dst[16]; /* network order; IPv4 in the first 4 bytes */
	uint8_t proto;            /* L4 protocol after extension headers */
	uint8_t tcp_flags;        /* with tcp_seq, tcp_ack, tcp_win: DECODE_F_TCP_HDR */
	uint8_t icmp_type, icmp_code;
	uint16_t frag_off; /* fragment offset in bytes */
	uint32_t frag_id;  /* IPv4 id or IPv6 fragment identification */
	uint8_t frag_nh;   /* what every fragment of the datagram says its protocol is:
	                    * IPv4's, or the next header of IPv6's fragment header (the
	                    * first fragment's proto is what follows further headers) */

	uint16_t sport, dport; /* TCP, UDP, SCTP (DECODE_F_L4) */
	uint16_t tcp_win;
	uint32_t tcp_seq, tcp_ack;
	uint32_t l4_off;      /* offset of the L4 header */
	uint32_t payload_off; /* offset of the L4 payload (end of capture if cut) */
	uint32_t payload_len; /* L4 payload length per the headers */
	uint32_t payload_cap; /* of which captured */

	uint8_t tunnel;          /* enum decode_tunnel */
	uint32_t inner_off;      /* offset of the tunnelled packet */
	uint32_t inner_linktype; /* how to decode it: DECODE_LINK_RAW, _ETHERNET or _PPP */
};

/*
 * Flow key of a packet, oriented as the packet travels. For ICMP/ICMPv6 the
 * ports are the Community ID port equivalents (type, counterpart type or
 * code), so a request and its reply are the two directions of one key;
 * other protocols without ports have 0, 0, and so has a later fragment (the
 * flow table lends it the ports of its first fragment).
 */
struct decode_key {
	uint8_t family; /* 4 or 6 */
	uint8_t proto;
	uint16_t sport, dport;
	uint16_t vlan[2];
	uint8_t src[16], dst[16]; /* unused bytes are zero */
};

/*
 * Decode caplen bytes captured on linktype into *d (fully overwritten).
 * Returns 0 when decoded, IP or not (d->l3 tells; d->reason says why not IP),
 * or -EBADMSG when a header is cut short or inconsistent (d->reason says
 * which; the fields decoded before it are kept).
 */
int decode_packet(uint32_t linktype, const uint8_t *buf, size_t caplen, struct decode_pkt *d);

/* Flow key of a decoded IP packet. Returns 0, or -ENOENT if d is not IP. */
int decode_key_get(const struct decode_pkt *d, struct decode_key *k);

/* Swap the key's direction. */
void decode_key_reverse(const struct decode_key *k, struct decode_key *out);

/* Short constant name of a reason ("arp", "stp", "ip-header", ...). */
const char *decode_reason_str(int reason);

#endif

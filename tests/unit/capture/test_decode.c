/*
 * Packet decoder: link types and encapsulations on the shared captures (QinQ,
 * PPPoE, RAW, GRE in 802.1Q, Teredo, IPv6 fragments, STP/LLC) and on built
 * packets (SLL, SLL2, NULL, LOOP, PPP, MPLS, VXLAN, IPv4 options and
 * fragments, IPv6 extension headers, padding), and every prefix of every
 * packet of a capture decoding without a fault.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>

#include "capture/communityid.h"
#include "capture/decode.h"
#include "capture_test.h"

/* ---- a small packet builder ---- */

struct pb {
	uint8_t b[2048];
	size_t n;
};

static void put(struct pb *p, const void *d, size_t n)
{
	assert_true(p->n + n <= sizeof(p->b));
	memcpy(p->b + p->n, d, n);
	p->n += n;
}
static void put8(struct pb *p, uint8_t v)
{
	put(p, &v, 1);
}
static void put16(struct pb *p, uint16_t v)
{
	uint8_t t[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	put(p, t, 2);
}
static void put32(struct pb *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p, (uint16_t)v);
}
static void zeros(struct pb *p, size_t n)
{
	static const uint8_t z[256];
	while (n > 0) {
		size_t k = n < sizeof(z) ? n : sizeof(z);
		put(p, z, k);
		n -= k;
	}
}

static void eth(struct pb *p, uint16_t type)
{
	static const uint8_t macs[12] = {0, 1, 2, 3, 4, 5, 0, 6, 7, 8, 9, 10};
	put(p, macs, 12);
	put16(p, type);
}

/* IPv4 header with total length tot (header ihl_words*4 incl. zeroed options). */
static void ipv4(struct pb *p, uint8_t proto, const char *src, const char *dst, uint16_t tot,
                 int ihl_words, uint16_t id, uint16_t frag)
{
	uint8_t a[16];
	int f;
	put8(p, (uint8_t)(0x40 | ihl_words));
	put8(p, 0);
	put16(p, tot);
	put16(p, id);
	put16(p, frag);
	put8(p, 64);
	put8(p, proto);
	put16(p, 0);
	addr_parse(src, &f, a);
	put(p, a, 4);
	addr_parse(dst, &f, a);
	put(p, a, 4);
	zeros(p, (size_t)(ihl_words - 5) * 4);
}

static void ipv6(struct pb *p, uint8_t nh, const char *src, const char *dst, uint16_t plen)
{
	uint8_t a[16];
	int f;
	put32(p, 0x60000000);
	put16(p, plen);
	put8(p, nh);
	put8(p, 64);
	addr_parse(src, &f, a);
	put(p, a, 16);
	addr_parse(dst, &f, a);
	put(p, a, 16);
}

static void tcp(struct pb *p, uint16_t sp, uint16_t dp, uint32_t seq, uint8_t flags)
{
	put16(p, sp);
	put16(p, dp);
	put32(p, seq);
	put32(p, 0);
	put8(p, 5 << 4);
	put8(p, flags);
	put16(p, 8192);
	put32(p, 0);
}

static void udp(struct pb *p, uint16_t sp, uint16_t dp, uint16_t len)
{
	put16(p, sp);
	put16(p, dp);
	put16(p, len);
	put16(p, 0);
}

static void check_v4(const struct decode_pkt *d, const char *src, const char *dst)
{
	uint8_t a[16];
	int f;
	assert_int_equal(d->l3, 4);
	addr_parse(src, &f, a);
	assert_memory_equal(d->src, a, 4);
	addr_parse(dst, &f, a);
	assert_memory_equal(d->dst, a, 4);
}

/* ---- built packets ---- */

static void test_ethernet_tcp(void **state)
{
	struct pb p = {0};
	struct decode_pkt d;
	eth(&p, 0x0800);
	ipv4(&p, 6, "10.0.0.1", "10.0.0.2", 20 + 20 + 5, 5, 7, 0);
	tcp(&p, 40000, 80, 1000, DECODE_TH_PSH | DECODE_TH_ACK);
	put(&p, "hello", 5);
	zeros(&p, 60 - p.n > 0 && p.n < 60 ? 60 - p.n : 0); /* Ethernet padding */
	assert_int_equal(decode_packet(DECODE_LINK_ETHERNET, p.b, p.n, &d), 0);
	check_v4(&d, "10.0.0.1", "10.0.0.2");
	assert_int_equal(d.proto, 6);
	assert_true(d.flags & DECODE_F_L4);
	assert_int_equal(d.sport, 40000);
	assert_int_equal(d.dport, 80);
	assert_int_equal(d.tcp_seq, 1000);
	assert_int_equal(d.tcp_flags, DECODE_TH_PSH | DECODE_TH_ACK);
	assert_int_equal(d.l3_off, 14);
	assert_int_equal(d.l4_off, 34);
	assert_int_equal(d.payload_off, 54);
	assert_int_equal(d.payload_len, 5); /* not the padding */
	assert_int_equal(d.payload_cap, 5);
	assert_memory_equal(p.b + d.payload_off, "hello", 5);

	/* cut in the middle of the payload: the headers still say 5 */
	assert_int_equal(decode_packet(DECODE_LINK_ETHERNET, p.b, 56, &d), 0);
	assert_true(d.flags & DECODE_F_TRUNC);
	assert_int_equal(d.payload_len, 5);
	assert_int_equal(d.payload_cap, 2);

	/* cut inside the TCP header: ports known, flags not */
	assert_int_equal(decode_packet(DECODE_LINK_ETHERNET, p.b, 40, &d), 0);
	assert_true(d.flags & DECODE_F_L4);
	assert_true(d.flags & DECODE_F_L4_TRUNC);
	assert_false(d.flags & DECODE_F_TCP_HDR);
	assert_int_equal(d.dport, 80);

	/* a SYN whose options the snaplen cut: flags and lengths still known */
	struct pb syn = {0};
	eth(&syn, 0x0800);
	ipv4(&syn, 6, "10.0.0.1", "10.0.0.2", 20 + 40, 5, 1, 0);
	tcp(&syn, 40001, 443, 5, DECODE_TH_SYN);
	syn.b[14 + 20 + 12] = 10 << 4; /* 40-byte header */
	zeros(&syn, 20);
	assert_int_equal(decode_packet(DECODE_LINK_ETHERNET, syn.b, 54, &d), 0);
	assert_true(d.flags & DECODE_F_TCP_HDR);
	assert_true(d.flags & DECODE_F_L4_TRUNC);
	assert_int_equal(d.tcp_flags, DECODE_TH_SYN);
	assert_int_equal(d.payload_len, 0);
	assert_int_equal(d.payload_cap, 0);

	/* cut inside the IP header: malformed */
	assert_int_equal(decode_packet(DECODE_LINK_ETHERNET, p.b, 30, &d), -EBADMSG);
	assert_int_equal(d.reason, DECODE_ERR_IP_HEADER);
	assert_int_equal(d.l3, 0);
	assert_int_equal(decode_packet(DECODE_LINK_ETHERNET, p.b, 10, &d), -EBADMSG);
	assert_int_equal(d.reason, DECODE_ERR_L2);
	assert_string_equal(decode_reason_str(d.reason), "l2-truncated");
}

static void test_ipv4_options_fragments(void **state)
{
	struct pb p = {0};
	struct decode_pkt d;
	/* first fragment, with 8 bytes of options: ports present */
	ipv4(&p, 17, "192.0.2.1", "192.0.2.2", 28 + 8 + 100, 7, 0x1234, 0x2000);
	udp(&p, 5000, 53, 8 + 300);
	zeros(&p, 100);
	assert_int_equal(decode_packet(DECODE_LINK_RAW, p.b, p.n, &d), 0);
	assert_true(d.flags & DECODE_F_IP_OPTIONS);
	assert_true(d.flags & DECODE_F_FRAG);
	assert_false(d.flags & DECODE_F_FRAG_LATER);
	assert_true(d.flags & DECODE_F_L4);
	assert_int_equal(d.l4_off, 28);
	assert_int_equal(d.dport, 53);
	assert_int_equal(d.frag_id, 0x1234);
	assert_int_equal(d.payload_len, 100); /* what this fragment holds */

	/* a later fragment: no ports, same id and protocol */
	p.n = 0;
	ipv4(&p, 17, "192.0.2.1", "192.0.2.2", 20 + 200, 5, 0x1234, 0x0010 /* 128 bytes */);
	zeros(&p, 200);
	assert_int_equal(decode_packet(DECODE_LINK_IPV4, p.b, p.n, &d), 0);
	assert_true(d.flags & DECODE_F_FRAG_LATER);
	assert_false(d.flags & DECODE_F_L4);
	assert_int_equal(d.frag_off, 128);
	assert_int_equal(d.proto, 17);
	assert_int_equal(d.sport, 0);

	/* bad header lengths */
	p.n = 0;
	ipv4(&p, 6, "192.0.2.1", "192.0.2.2", 10, 5, 0, 0); /* total < header */
	assert_int_equal(decode_packet(DECODE_LINK_RAW, p.b, p.n, &d), -EBADMSG);
	p.b[0] = 0x44; /* ihl 16 bytes */
	assert_int_equal(decode_packet(DECODE_LINK_RAW, p.b, p.n, &d), -EBADMSG);
	p.b[0] = 0x55; /* version 5 */
	assert_int_equal(decode_packet(DECODE_LINK_RAW, p.b, p.n, &d), -EBADMSG);
	assert_int_equal(d.reason, DECODE_ERR_IP_VERSION);

	/* total length 0 (segmentation offload): the capture is the datagram */
	p.n = 0;
	ipv4(&p, 6, "192.0.2.1", "192.0.2.2", 0, 5, 0, 0);
	tcp(&p, 1, 2, 3, DECODE_TH_ACK);
	zeros(&p, 1000);
	assert_int_equal(decode_packet(DECODE_LINK_RAW, p.b, p.n, &d), 0);
	assert_int_equal(d.payload_len, 1000);
}

static void test_ipv6_ext(void **state)
{
	struct pb p = {0};
	struct decode_pkt d;
	/* hop-by-hop (8) -> routing (24) -> destination options (16) -> TCP */
	ipv6(&p, 0, "2001:db8::1", "2001:db8::2", 8 + 24 + 16 + 20);
	put8(&p, 43);
	put8(&p, 0);
	zeros(&p, 6);
	put8(&p, 60);
	put8(&p, 2);
	zeros(&p, 22);
	put8(&p, 6);
	put8(&p, 1);
	zeros(&p, 14);
	tcp(&p, 1234, 443, 77, DECODE_TH_SYN);
	assert_int_equal(decode_packet(DECODE_LINK_IPV6, p.b, p.n, &d), 0);
	assert_int_equal(d.l3, 6);
	assert_true(d.flags & DECODE_F_IP6_EXT);
	assert_int_equal(d.proto, 6);
	assert_int_equal(d.l4_off, 40 + 48);
	assert_int_equal(d.dport, 443);
	assert_int_equal(d.tcp_flags, DECODE_TH_SYN);

	/* an extension header that runs past the packet */
	p.b[40 + 8 + 1] = 200;
	assert_int_equal(decode_packet(DECODE_LINK_IPV6, p.b, p.n, &d), 0);
	assert_true(d.flags & DECODE_F_L4_TRUNC);
	assert_false(d.flags & DECODE_F_L4);

	/* fragment header, first fragment then a later one */
	p.n = 0;
	ipv6(&p, 44, "2001:db8::1", "2001:db8::2", 8 + 8 + 16);
	put8(&p, 17);
	put8(&p, 0);
	put16(&p, 0x0001); /* offset 0, more */
	put32(&p, 0xdeadbeef);
	udp(&p, 1000, 2000, 8 + 100);
	zeros(&p, 16);
	assert_int_equal(decode_packet(DECODE_LINK_RAW, p.b, p.n, &d), 0);
	assert_true(d.flags & DECODE_F_FRAG);
	assert_true(d.flags & DECODE_F_L4);
	assert_int_equal(d.frag_id, 0xdeadbeef);
	assert_int_equal(d.dport, 2000);
	p.b[40 + 2] = 0x00;
	p.b[40 + 3] = 0x18; /* offset 24 */
	assert_int_equal(decode_packet(DECODE_LINK_RAW, p.b, p.n, &d), 0);
	assert_true(d.flags & DECODE_F_FRAG_LATER);
	assert_false(d.flags & DECODE_F_L4);
	assert_int_equal(d.frag_off, 24);
	assert_int_equal(d.proto, 17);
	/* an atomic fragment (offset 0, no more) is a whole datagram */
	p.b[40 + 3] = 0x00;
	assert_int_equal(decode_packet(DECODE_LINK_RAW, p.b, p.n, &d), 0);
	assert_false(d.flags & DECODE_F_FRAG);
	assert_true(d.flags & DECODE_F_L4);
}

static void test_link_types(void **state)
{
	struct pb ip = {0}, p;
	struct decode_pkt d;
	ipv4(&ip, 17, "10.1.1.1", "10.2.2.2", 28, 5, 0, 0);
	udp(&ip, 1111, 53, 8);

	/* NULL: host-order family, either byte order */
	p.n = 0;
	put(&p, (const uint8_t[]){2, 0, 0, 0}, 4);
	put(&p, ip.b, ip.n);
	assert_int_equal(decode_packet(DECODE_LINK_NULL, p.b, p.n, &d), 0);
	check_v4(&d, "10.1.1.1", "10.2.2.2");
	p.b[0] = 0;
	p.b[3] = 2;
	assert_int_equal(decode_packet(DECODE_LINK_NULL, p.b, p.n, &d), 0);
	assert_int_equal(d.l3, 4);
	p.b[3] = 7; /* not IP */
	assert_int_equal(decode_packet(DECODE_LINK_NULL, p.b, p.n, &d), 0);
	assert_int_equal(d.l3, 0);
	assert_int_equal(d.reason, DECODE_NONIP_FAMILY);
	/* LOOP: network order */
	p.b[3] = 2;
	assert_int_equal(decode_packet(DECODE_LINK_LOOP, p.b, p.n, &d), 0);
	assert_int_equal(d.l3, 4);

	/* SLL: 16-byte header, protocol last */
	p.n = 0;
	zeros(&p, 14);
	put16(&p, 0x0800);
	put(&p, ip.b, ip.n);
	assert_int_equal(decode_packet(DECODE_LINK_SLL, p.b, p.n, &d), 0);
	assert_int_equal(d.l3_off, 16);
	assert_int_equal(d.dport, 53);
	p.b[15] = 0x06; /* ARP */
	p.b[14] = 0x08;
	assert_int_equal(decode_packet(DECODE_LINK_SLL, p.b, p.n, &d), 0);
	assert_int_equal(d.reason, DECODE_NONIP_ARP);

	/* SLL2: protocol first, 20-byte header, with an 802.1Q tag after it */
	p.n = 0;
	put16(&p, 0x8100);
	zeros(&p, 18);
	put16(&p, 42);
	put16(&p, 0x0800);
	put(&p, ip.b, ip.n);
	assert_int_equal(decode_packet(DECODE_LINK_SLL2, p.b, p.n, &d), 0);
	assert_int_equal(d.l3_off, 24);
	assert_int_equal(d.vlan[0], 42);
	assert_int_equal(d.vlan_count, 1);

	/* PPP with address/control, and with protocol field compression */
	p.n = 0;
	put(&p, (const uint8_t[]){0xff, 0x03, 0x00, 0x21}, 4);
	put(&p, ip.b, ip.n);
	assert_int_equal(decode_packet(DECODE_LINK_PPP, p.b, p.n, &d), 0);
	assert_int_equal(d.l3, 4);
	p.n = 0;
	put8(&p, 0x21);
	put(&p, ip.b, ip.n);
	assert_int_equal(decode_packet(DECODE_LINK_PPP, p.b, p.n, &d), 0);
	assert_int_equal(d.l3_off, 1);
	p.b[0] = 0xc0; /* LCP, two bytes c021 */
	p.b[1] = 0x21;
	assert_int_equal(decode_packet(DECODE_LINK_PPP, p.b, p.n, &d), 0);
	assert_int_equal(d.reason, DECODE_NONIP_PPP_CTRL);

	/* MPLS: two labels, then IPv4 */
	p.n = 0;
	eth(&p, 0x8847);
	put32(&p, 0x00010040);
	put32(&p, 0x00020140); /* bottom of stack */
	put(&p, ip.b, ip.n);
	assert_int_equal(decode_packet(DECODE_LINK_ETHERNET, p.b, p.n, &d), 0);
	assert_true(d.flags & DECODE_F_MPLS);
	assert_int_equal(d.l3_off, 22);

	/* RAW with a bad version; unknown link type */
	assert_int_equal(decode_packet(DECODE_LINK_RAW, (const uint8_t *)"\x50", 1, &d),
	                 -EBADMSG);
	assert_int_equal(decode_packet(147, ip.b, ip.n, &d), 0);
	assert_int_equal(d.l3, 0);
	assert_int_equal(d.reason, DECODE_NONIP_LINKTYPE);
	assert_int_equal(decode_packet(DECODE_LINK_ETHERNET, NULL, 0, &d), -EBADMSG);
}

static void test_nonip_and_tunnels(void **state)
{
	struct pb p = {0}, in = {0};
	struct decode_pkt d;
	/* ARP, LLDP, LLC, PPPoE discovery, 802.1D STP */
	static const struct {
		uint16_t type;
		int reason;
	} nonip[] = {{0x0806, DECODE_NONIP_ARP},
	             {0x88cc, DECODE_NONIP_LLDP},
	             {0x8863, DECODE_NONIP_PPPOE_DISC},
	             {0x9000, DECODE_NONIP_LOOPBACK},
	             {0x88b5, DECODE_NONIP_ETHERTYPE}};
	for (size_t i = 0; i < sizeof(nonip) / sizeof(nonip[0]); i++) {
		p.n = 0;
		eth(&p, nonip[i].type);
		zeros(&p, 46);
		assert_int_equal(decode_packet(DECODE_LINK_ETHERNET, p.b, p.n, &d), 0);
		assert_int_equal(d.l3, 0);
		assert_int_equal(d.reason, nonip[i].reason);
	}
	p.n = 0;
	eth(&p, 38);
	put(&p, (const uint8_t[]){0x42, 0x42, 0x03}, 3);
	zeros(&p, 35);
	assert_int_equal(decode_packet(DECODE_LINK_ETHERNET, p.b, p.n, &d), 0);
	assert_int_equal(d.reason, DECODE_NONIP_STP);

	/* VXLAN: UDP/4789 carrying Ethernet */
	eth(&in, 0x0800);
	ipv4(&in, 1, "172.16.0.1", "172.16.0.2", 28, 5, 0, 0);
	put(&in, (const uint8_t[]){8, 0, 0, 0, 0, 0, 0, 0}, 8);
	p.n = 0;
	eth(&p, 0x0800);
	ipv4(&p, 17, "10.0.0.1", "10.0.0.2", (uint16_t)(20 + 8 + 8 + in.n), 5, 0, 0);
	udp(&p, 50000, 4789, (uint16_t)(8 + 8 + in.n));
	put(&p, (const uint8_t[]){0x08, 0, 0, 0, 0, 0, 1, 0}, 8);
	put(&p, in.b, in.n);
	assert_int_equal(decode_packet(DECODE_LINK_ETHERNET, p.b, p.n, &d), 0);
	check_v4(&d, "10.0.0.1", "10.0.0.2"); /* keyed on the outer header */
	assert_int_equal(d.tunnel, DECODE_TUNNEL_VXLAN);
	assert_int_equal(d.inner_linktype, DECODE_LINK_ETHERNET);
	struct decode_pkt inner;
	assert_int_equal(
	    decode_packet(d.inner_linktype, p.b + d.inner_off, p.n - d.inner_off, &inner), 0);
	check_v4(&inner, "172.16.0.1", "172.16.0.2");
	assert_int_equal(inner.icmp_type, 8);

	/* IPv6 in IPv4 (protocol 41) */
	p.n = 0;
	ipv4(&p, 41, "10.0.0.1", "10.0.0.2", 20 + 40, 5, 0, 0);
	ipv6(&p, 59, "2001:db8::1", "2001:db8::2", 0);
	assert_int_equal(decode_packet(DECODE_LINK_RAW, p.b, p.n, &d), 0);
	assert_int_equal(d.tunnel, DECODE_TUNNEL_IPIP);
	assert_int_equal(d.inner_off, 20);
}

static void test_key(void **state)
{
	struct pb p = {0};
	struct decode_pkt d;
	struct decode_key req, rep, rev;
	ipv4(&p, 1, "10.0.0.1", "10.0.0.2", 28, 5, 0, 0);
	put(&p, (const uint8_t[]){8, 0, 0, 0, 0, 1, 0, 1}, 8);
	assert_int_equal(decode_packet(DECODE_LINK_RAW, p.b, p.n, &d), 0);
	assert_int_equal(decode_key_get(&d, &req), 0);
	assert_int_equal(req.sport, 8);
	assert_int_equal(req.dport, 0);
	p.n = 0;
	ipv4(&p, 1, "10.0.0.2", "10.0.0.1", 28, 5, 0, 0);
	put(&p, (const uint8_t[]){0, 0, 0, 0, 0, 1, 0, 1}, 8);
	assert_int_equal(decode_packet(DECODE_LINK_RAW, p.b, p.n, &d), 0);
	assert_int_equal(decode_key_get(&d, &rep), 0);
	decode_key_reverse(&rep, &rev);
	assert_memory_equal(&rev, &req, sizeof(req)); /* the reply is the request reversed */

	/* an unknown protocol has ports 0 */
	p.n = 0;
	ipv4(&p, 103, "10.0.0.2", "10.0.0.1", 24, 5, 0, 0);
	zeros(&p, 4);
	assert_int_equal(decode_packet(DECODE_LINK_RAW, p.b, p.n, &d), 0);
	assert_int_equal(decode_key_get(&d, &req), 0);
	assert_int_equal(req.proto, 103);
	assert_int_equal(req.sport | req.dport, 0);

	memset(&d, 0, sizeof(d));
	assert_int_equal(decode_key_get(&d, &req), -ENOENT);
}

/* ---- the shared captures ---- */

struct tally {
	long n, ip4, ip6, l4, bad, pppoe, pppoe_dns, vlan_1213, gre, stp, llc, arp;
	long frag_first, frag_later, teredo, inner_ok, l2tp_ip6;
	uint16_t vlan0, vlan1;
	uint8_t vcount;
};

static void tally_fn(void *arg, const struct pcapfile_pkt *p, const struct decode_pkt *d,
                     int rc)
{
	struct tally *t = arg;
	t->n++;
	if (rc < 0) {
		t->bad++;
		return;
	}
	if (d->l3 == 4)
		t->ip4++;
	if (d->l3 == 6)
		t->ip6++;
	if (d->flags & DECODE_F_L4)
		t->l4++;
	if ((d->flags & DECODE_F_PPPOE) && d->l3) {
		t->pppoe++;
		if (d->proto == 17 && (d->sport == 53 || d->dport == 53))
			t->pppoe_dns++;
	}
	if (d->vlan_count && d->vlan[0] == 1213)
		t->vlan_1213++;
	if (d->tunnel == DECODE_TUNNEL_GRE) {
		struct decode_pkt in;
		t->gre++;
		if (d->inner_linktype == DECODE_LINK_RAW &&
		    decode_packet(d->inner_linktype, p->data + d->inner_off,
		                  p->caplen - d->inner_off, &in) == 0 &&
		    in.l3 == 4)
			t->inner_ok++;
	}
	if (d->tunnel == DECODE_TUNNEL_TEREDO) {
		struct decode_pkt in;
		t->teredo++;
		if (decode_packet(d->inner_linktype, p->data + d->inner_off,
		                  p->caplen - d->inner_off, &in) == 0 &&
		    in.l3 == 6)
			t->inner_ok++;
	}
	if (d->tunnel == DECODE_TUNNEL_L2TP) {
		struct decode_pkt in;
		if (decode_packet(d->inner_linktype, p->data + d->inner_off,
		                  p->caplen - d->inner_off, &in) == 0 &&
		    in.l3 == 6)
			t->l2tp_ip6++;
	}
	if (d->l3 == 0 && d->reason == DECODE_NONIP_STP)
		t->stp++;
	if (d->l3 == 0 && d->reason == DECODE_NONIP_LLC)
		t->llc++;
	if (d->l3 == 0 && d->reason == DECODE_NONIP_ARP) {
		t->arp++;
		t->vlan0 = d->vlan[0];
		t->vlan1 = d->vlan[1];
		t->vcount = d->vlan_count;
	}
	if ((d->flags & DECODE_F_FRAG) && !(d->flags & DECODE_F_FRAG_LATER))
		t->frag_first++;
	if (d->flags & DECODE_F_FRAG_LATER)
		t->frag_later++;
}

static void test_qinq(void **state)
{
	struct tally t = {0};
	NEED_PCAP("tcpdump-tests_802.1ad_QinQ.pcap");
	each_packet("tcpdump-tests_802.1ad_QinQ.pcap", tally_fn, &t);
	assert_int_equal(t.n, 2);
	assert_int_equal(t.arp, 2);
	assert_int_equal(t.vcount, 2);
	assert_int_equal(t.vlan0, 200);  /* outer, 802.1ad */
	assert_int_equal(t.vlan1, 2001); /* inner, 802.1Q */
}

static void test_pppoe(void **state)
{
	struct tally t = {0};
	NEED_PCAP("nb6-startup.pcap");
	each_packet("nb6-startup.pcap", tally_fn, &t);
	assert_int_equal(t.n, 531);
	assert_int_equal(t.bad, 0);
	assert_int_equal(t.pppoe, 210);     /* IPv4 in PPPoE sessions, as tshark counts */
	assert_int_equal(t.pppoe_dns, 110); /* of tshark's 112 DNS, 2 are plain Ethernet */
	/* tshark's 10 IPv6 packets sit in L2TP (UDP/1701) inside PPPoE */
	assert_int_equal(t.l2tp_ip6, 10);
	assert_int_equal(t.arp, 89);
}

static void test_raw(void **state)
{
	struct tally t = {0};
	NEED_PCAP("ivre_dnsbl_rawip.pcap");
	each_packet("ivre_dnsbl_rawip.pcap", tally_fn, &t);
	assert_int_equal(t.n, 40);
	assert_int_equal(t.ip4, 40);
	assert_int_equal(t.l4, 40);
}

static void test_gre_vlan(void **state)
{
	struct tally t = {0};
	NEED_PCAP("tcpdump-tests_various_gre.pcap");
	each_packet("tcpdump-tests_various_gre.pcap", tally_fn, &t);
	assert_int_equal(t.n, 100);
	assert_int_equal(t.bad, 0);
	assert_int_equal(t.vlan_1213, 51);
	assert_int_equal(t.gre, 30);
	/* IPv4 inside Cisco MetaData (ICMP, PIM, nested GRE); the rest are keepalives and CDP
	 */
	assert_int_equal(t.inner_ok, 20);
	assert_int_equal(t.stp, 63); /* 802.1D and Cisco PVST+ */
	assert_int_equal(t.llc, 2);  /* CDP, DTP */
}

static void test_teredo(void **state)
{
	struct tally t = {0};
	NEED_PCAP("Teredo.pcap");
	each_packet("Teredo.pcap", tally_fn, &t);
	assert_int_equal(t.n, 78);
	assert_int_equal(t.ip4, 78);
	assert_int_equal(t.teredo, 4);
	assert_int_equal(t.inner_ok, 4);
}

static void test_ipv6_fragments(void **state)
{
	struct tally t = {0};
	NEED_PCAP("ipv6_fragments.pcapng");
	each_packet("ipv6_fragments.pcapng", tally_fn, &t);
	assert_int_equal(t.n, 22);
	assert_int_equal(t.ip6, 22);
	assert_int_equal(t.frag_first, 10);
	assert_int_equal(t.frag_later, 10);
	assert_int_equal(t.l4, 12); /* first fragments + NS/NA */
}

static void test_macgyver(void **state)
{
	struct tally t = {0};
	NEED_PCAP("macgyver.pcap");
	each_packet("macgyver.pcap", tally_fn, &t);
	assert_int_equal(t.n, 3701);
	assert_int_equal(t.ip6, 494);
	assert_int_equal(t.stp, 824);
	assert_int_equal(t.bad, 0);
}

static void test_badlabel(void **state)
{
	struct tally t = {0};
	NEED_PCAP("tcpdump-tests_dns-badlabel.pcap");
	each_packet("tcpdump-tests_dns-badlabel.pcap", tally_fn, &t);
	assert_int_equal(t.n, 1);
	assert_int_equal(t.l4, 1);
}

/* Every prefix of every packet: never a fault, and the result agrees with the status. */
static void prefixes_fn(void *arg, const struct pcapfile_pkt *p, const struct decode_pkt *full,
                        int rc)
{
	long *n = arg;
	size_t lim = p->caplen < 200 ? p->caplen : 200;
	for (size_t len = 0; len <= lim; len++) {
		struct decode_pkt d;
		uint8_t *copy = malloc(len ? len : 1); /* so ASan sees any overread */
		memcpy(copy, p->data, len);
		int r = decode_packet(p->linktype, copy, len, &d);
		assert_true(r == 0 || r == -EBADMSG);
		if (r == 0 && d.l3) {
			assert_true(d.l3_off < len);
			assert_true(d.payload_off + d.payload_cap <= len);
		}
		free(copy);
		(*n)++;
	}
}

static void test_prefixes(void **state)
{
	long n = 0;
	NEED_PCAP("nb6-startup.pcap");
	each_packet("nb6-startup.pcap", prefixes_fn, &n);
	each_packet("tcpdump-tests_various_gre.pcap", prefixes_fn, &n);
	each_packet("ipv6_fragments.pcapng", prefixes_fn, &n);
	each_packet("Teredo.pcap", prefixes_fn, &n);
	assert_true(n > 10000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ethernet_tcp),
	    cmocka_unit_test(test_ipv4_options_fragments),
	    cmocka_unit_test(test_ipv6_ext),
	    cmocka_unit_test(test_link_types),
	    cmocka_unit_test(test_nonip_and_tunnels),
	    cmocka_unit_test(test_key),
	    cmocka_unit_test(test_qinq),
	    cmocka_unit_test(test_pppoe),
	    cmocka_unit_test(test_raw),
	    cmocka_unit_test(test_gre_vlan),
	    cmocka_unit_test(test_teredo),
	    cmocka_unit_test(test_ipv6_fragments),
	    cmocka_unit_test(test_macgyver),
	    cmocka_unit_test(test_badlabel),
	    cmocka_unit_test(test_prefixes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

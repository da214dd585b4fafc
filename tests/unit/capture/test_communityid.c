/*
 * Community ID v1: the spec's baseline vectors, vectors computed by tshark
 * 4.0 (-o tcp.try_heuristic_first:FALSE --enable-protocol communityid -T
 * fields -e communityid) on the shared captures, ICMP one-way handling, and
 * ids computed through the decoder from real packets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>

#include "capture/communityid.h"
#include "capture_test.h"

struct vec {
	uint16_t seed;
	const char *src, *dst;
	uint8_t proto;
	uint16_t sport, dport; /* ICMP: type, code */
	const char *want;
};

static const struct vec vectors[] = {
    /* community-id-spec baseline/baseline_deflt.json */
    {0, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 58, 135, 0,
     "1:dGHyGvjMfljg6Bppwm3bg0LO8TY="},
    {0, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 58, 136, 0,
     "1:dGHyGvjMfljg6Bppwm3bg0LO8TY="},
    {0, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 58, 135, 0,
     "1:zavyT/cezQr1fmImYCwYnMXbgck="},
    {0, "3ffe:501:1800:2345::2", "3ffe:507:0:1:200:86ff:fe05:80da", 58, 3, 0,
     "1:2ObVBgIn28oZvibYZhZMBgh7WdQ="},
    {0, "3ffe:501:410:0:2c0:dfff:fe47:33e", "3ffe:507:0:1:200:86ff:fe05:80da", 58, 1, 4,
     "1:hLZd0XGWojozrvxqE0dWB1iM6R0="},
    {0, "3ffe:507:0:1:200:86ff:fe05:80da", "3ffe:501:0:1001::2", 58, 128, 0,
     "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg="},
    {0, "3ffe:501:0:1001::2", "3ffe:507:0:1:200:86ff:fe05:80da", 58, 129, 0,
     "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg="},
    {0, "fe80::200:86ff:fe05:80da", "ff02::2", 58, 133, 0, "1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0="},
    {0, "fe80::260:97ff:fe07:69ea", "ff02::1", 58, 134, 0, "1:pkvHqCL88/tg1k4cPigmZXUtL00="},
    {0, "192.168.0.89", "192.168.0.1", 1, 8, 0, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="},
    {0, "192.168.0.1", "192.168.0.89", 1, 0, 0, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="},
    {0, "10.0.0.1", "10.0.0.2", 1, 11, 0, "1:YHxtAirCG//0OzkcVAukqKQN9xM="},
    {0, "2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", 6, 63943, 25,
     "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="},
    {0, "2607:f8b0:400c:c03::1a", "2001:470:e5bf:dead:4957:2174:e82c:4887", 6, 25, 63943,
     "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="},
    {0, "192.168.170.8", "192.168.170.56", 132, 7, 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="},
    {0, "192.168.170.56", "192.168.170.8", 132, 7, 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="},
    {0, "128.232.110.120", "66.35.250.204", 6, 34855, 80, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
    {0, "192.168.1.52", "8.8.8.8", 17, 54585, 53, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="},
    {0, "8.8.8.8", "192.168.1.52", 17, 53, 54585, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="},
    {0, "10.1.12.1", "10.1.12.2", 46, 0, 0, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw="},
    {0, "10.1.12.2", "10.1.12.1", 46, 0, 0, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw="},
    /* community-id-spec baseline/baseline_seed1.json */
    {1, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 58, 135, 0,
     "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY="},
    {1, "192.168.0.89", "192.168.0.1", 1, 8, 0, "1:03g6IloqVBdcZlPyX8r0hgoE7kA="},
    {1, "128.232.110.120", "66.35.250.204", 6, 34855, 80, "1:3V71V58M3Ksw/yuFALMcW0LAHvc="},
    {1, "10.1.12.1", "10.1.12.2", 46, 0, 0, "1:rYir8gphR31noO9iDRQmF/BteEI="},
    /* tshark 4.0.17 on the shared captures */
    /* cerber: TCP (Kerberos) */
    {0, "192.168.1.46", "192.168.1.195", 6, 49183, 88, "1:++padySyNhZriZz2q74c4d7/zxc="},
    /* Teredo.pcap: TCP seen server side first, UDP DNS */
    {0, "75.126.130.163", "192.168.2.16", 6, 80, 1576, "1:6AwzGGt0AhE2TSEbljlBcZ1uHho="},
    {0, "192.168.2.16", "192.168.2.1", 17, 1920, 53, "1:B63e9PenObOhcN+pmiklWaFNJp4="},
    /* http_ip4and6: TCP over IPv4 and IPv6 */
    {0, "172.16.16.140", "172.16.16.139", 6, 53350, 80, "1:Ep/Kf0JbNwcRj5BCO0UG9IKuGOU="},
    {0, "2001:db8:1:2::1002", "2001:db8:1:2::1000", 6, 35023, 80,
     "1:thTcakmyvO8TA8uU8ufWUmbYkWY="},
    /* macgyver: LLMNR over IPv6, router solicitation, MLDv2 report (one-way) */
    {0, "fe80::15d3:5ac:3887:99e4", "ff02::1:3", 17, 61311, 5355,
     "1:+2NO/7sJHtU8nuyrRHfD24sqEZA="},
    {0, "fe80::15d3:5ac:3887:99e4", "ff02::2", 58, 133, 0, "1:07wc3WmSgoB4+d3Mc+oEMfsa/ZY="},
    {0, "fe80::15d3:5ac:3887:99e4", "ff02::16", 58, 143, 0, "1:7WFE6SoVG4Ww7Z2DGGEg2qMYHGQ="},
    /* macgyver: ICMP port unreachable (one-way), echo request */
    {0, "192.168.1.175", "192.168.1.1", 1, 3, 3, "1:DoAq8wXhHojpwM4+fUHRf/vdZzE="},
    {0, "192.168.1.1", "192.168.1.46", 1, 8, 0, "1:gf31yX5sWGdq5tnRbdnZd4awrbQ="},
    /* cerber: echo, host unreachable (3/13), time exceeded (11/0), IGMP (no ports) */
    {0, "192.168.1.1", "192.168.1.195", 1, 8, 0, "1:zIrUUa8FAgbZQAmyA0Y7fiUsDPc="},
    {0, "194.165.18.1", "192.168.1.46", 1, 3, 13, "1:4fxEylvJytGzQdITpJXcK5K8Aag="},
    {0, "95.141.21.37", "192.168.1.46", 1, 11, 0, "1:QxoCpusFLwQ3porPVH3iW3ykhwk="},
    {0, "192.168.1.46", "224.0.0.22", 2, 0, 0, "1:XARNNkI/Dpt2ipSx3yCYi6GnJEw="},
    /* ipv6_fragments: echo (reassembled by tshark), neighbour solicitation */
    {0, "2001:db8:1:2::1003", "2001:db8:1:2::1000", 58, 128, 0,
     "1:kiVfog1EE6xPCLE8NAvAFnlnl7w="},
    {0, "fe80::20c:29ff:fe1f:a755", "2001:db8:1:2::1003", 58, 135, 0,
     "1:yc0NLiamQldXDKFvzDfiNB42Fp0="},
    /* various_gre: GRE between the tunnel endpoints */
    {0, "10.172.64.7", "10.172.64.6", 47, 0, 0, "1:KSOis4bMGnbqYD+PcaWMcFUav3k="},
};

static void test_vectors(void **state)
{
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const struct vec *v = &vectors[i];
		uint8_t s[16], d[16];
		int fs, fd;
		char out[COMMUNITYID_STRLEN];
		addr_parse(v->src, &fs, s);
		addr_parse(v->dst, &fd, d);
		assert_int_equal(fs, fd);
		assert_int_equal(
		    communityid_compute(v->seed, fs, s, d, v->proto, v->sport, v->dport, out),
		    0);
		if (strcmp(out, v->want) != 0)
			fail_msg("vector %zu (%s -> %s proto %u): got %s, want %s", i, v->src,
			         v->dst, v->proto, out, v->want);
	}
}

/* Both directions give one id for two-way traffic; a one-way ICMP type keeps its order. */
static void test_direction(void **state)
{
	uint8_t a[16], b[16];
	int f;
	char x[COMMUNITYID_STRLEN], y[COMMUNITYID_STRLEN];
	addr_parse("10.0.0.2", &f, a);
	addr_parse("10.0.0.1", &f, b);
	communityid_compute(0, 4, a, b, 6, 1234, 80, x);
	communityid_compute(0, 4, b, a, 6, 80, 1234, y);
	assert_string_equal(x, y);
	/* equal addresses: the ports decide */
	communityid_compute(0, 4, a, a, 17, 53, 5353, x);
	communityid_compute(0, 4, a, a, 17, 5353, 53, y);
	assert_string_equal(x, y);
	/* port unreachable a->b and b->a are different flows */
	communityid_compute(0, 4, a, b, 1, 3, 3, x);
	communityid_compute(0, 4, b, a, 1, 3, 3, y);
	assert_string_not_equal(x, y);
	/* timestamp request / reply pair up; so do router solicitation / advertisement */
	communityid_compute(0, 4, a, b, 1, 13, 0, x);
	communityid_compute(0, 4, b, a, 1, 14, 0, y);
	assert_string_equal(x, y);
	communityid_compute(0, 4, a, b, 1, 10, 0, x);
	communityid_compute(0, 4, b, a, 1, 9, 0, y);
	assert_string_equal(x, y);
	/* the code of a two-way type is not hashed */
	communityid_compute(0, 4, a, b, 1, 8, 0, x);
	communityid_compute(0, 4, a, b, 1, 8, 7, y);
	assert_string_equal(x, y);
	/* ports of a protocol without ports are ignored */
	communityid_compute(0, 4, a, b, 47, 0, 0, x);
	communityid_compute(0, 4, a, b, 47, 99, 12, y);
	assert_string_equal(x, y);
}

static void test_icmp_ports(void **state)
{
	uint16_t p1, p2;
	assert_int_equal(communityid_icmp_ports(0, 8, 0, &p1, &p2), 0);
	assert_int_equal(p1, 8);
	assert_int_equal(p2, 0);
	assert_int_equal(communityid_icmp_ports(0, 3, 1, &p1, &p2), 1);
	assert_int_equal(p1, 3);
	assert_int_equal(p2, 1);
	assert_int_equal(communityid_icmp_ports(1, 129, 0, &p1, &p2), 0);
	assert_int_equal(p2, 128);
	assert_int_equal(communityid_icmp_ports(1, 145, 0, &p1, &p2), 0);
	assert_int_equal(p2, 144);
	assert_int_equal(communityid_icmp_ports(1, 1, 4, &p1, &p2), 1);
}

static void test_errors(void **state)
{
	uint8_t a[16] = {1}, b[16] = {2};
	char out[COMMUNITYID_STRLEN];
	assert_int_equal(communityid_compute(0, 5, a, b, 6, 1, 2, out), -EINVAL);
	assert_string_equal(out, "");
	assert_int_equal(communityid_compute(0xffff, 6, a, b, 255, 1, 2, out), 0);
	assert_int_equal(strlen(out), COMMUNITYID_STRLEN - 1);
	assert_memory_equal(out, "1:", 2);
}

struct frame_id {
	const char *file;
	long frame; /* 1-based, as tshark numbers them */
	const char *want;
};

/* tshark's ids for single frames, through our reader and decoder */
static const struct frame_id frames[] = {
    {"http_ip4and6.pcapng", 1, "1:Ep/Kf0JbNwcRj5BCO0UG9IKuGOU="},
    {"http_ip4and6.pcapng", 11, "1:thTcakmyvO8TA8uU8ufWUmbYkWY="},
    /* LINKTYPE_RAW */
    {"ivre_dnsbl_rawip.pcap", 1, "1:v/miltsxg0P+82+suv+u2wE07Kg="},
    {"ivre_dnsbl_rawip.pcap", 2, "1:iCuNqt/8yuF/AgyUQ7MRTgQ0FvA="},
    {"ivre_dnsbl_rawip.pcap", 3, "1:v/miltsxg0P+82+suv+u2wE07Kg="},
    /* PPPoE session -> PPP -> IPv4 -> UDP/53 */
    {"nb6-startup.pcap", 50, "1:v3T93JYdWKIC2iKhsj2SQGM5xyE="},
    {"nb6-startup.pcap", 51, "1:v3T93JYdWKIC2iKhsj2SQGM5xyE="},
    {"nb6-startup.pcap", 52, "1:JQoZ/G2rc0rmCqPOzPnUMx+ZvTs="},
    /* the first fragment of a fragmented ICMPv6 echo (tshark hashes the reassembly) */
    {"ipv6_fragments.pcapng", 1, "1:kiVfog1EE6xPCLE8NAvAFnlnl7w="},
};

struct frame_probe {
	long want_frame, n;
	char got[COMMUNITYID_STRLEN];
};

static void cid_of_frame(void *arg, const struct pcapfile_pkt *p, const struct decode_pkt *d,
                         int rc)
{
	struct frame_probe *f = arg;
	struct decode_key k;
	if (++f->n != f->want_frame)
		return;
	assert_int_equal(rc, 0);
	assert_int_equal(decode_key_get(d, &k), 0);
	assert_int_equal(
	    communityid_compute(0, k.family, k.src, k.dst, k.proto, k.sport, k.dport, f->got),
	    0);
}

static void test_real_packets(void **state)
{
	NEED_PCAP("http_ip4and6.pcapng");
	for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
		struct frame_probe f = {.want_frame = frames[i].frame};
		each_packet(frames[i].file, cid_of_frame, &f);
		if (strcmp(f.got, frames[i].want) != 0)
			fail_msg("%s frame %ld: got %s, want %s", frames[i].file,
			         frames[i].frame, f.got, frames[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors),      cmocka_unit_test(test_direction),
	    cmocka_unit_test(test_icmp_ports),   cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_real_packets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Flow table: session counts on the shared captures against tshark's
 * tcp.stream, TCP states and end reasons, timeouts on packet time (also when
 * it goes backwards or leaps), IPv6 and fragments, VLANs, eviction when full,
 * the end callback's exact count, and the rendered flow event.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>

#include "capture/flow.h"
#include "capture_test.h"
#include "common/event.h"

#define SEC 1000000000ll

/* ---- ended flows, kept for inspection ---- */

#define MAX_ENDED 8192

struct ended {
	long n;
	struct flow f[MAX_ENDED];
};

static void on_end(void *arg, const struct flow *f)
{
	struct ended *e = arg;
	if (e->n < MAX_ENDED)
		e->f[e->n] = *f;
	e->n++;
}

static struct flow_table *table(struct ended *e, uint32_t capacity)
{
	struct flow_config c;
	struct flow_table *ft;
	flow_config_default(&c);
	if (capacity)
		c.capacity = capacity;
	c.end_cb = on_end;
	c.cb_arg = e;
	c.hash_seed = 42;
	assert_int_equal(flow_table_new(&ft, &c), 0);
	return ft;
}

/* ---- built packets (LINKTYPE_RAW IPv4/IPv6) ---- */

struct pkt {
	uint8_t b[256];
	size_t n;
	struct decode_pkt d;
};

static void mk_ip(struct pkt *p, const char *src, const char *dst, uint8_t proto,
                  const uint8_t *l4, size_t l4len, uint16_t frag, uint16_t id)
{
	uint8_t s[16], d[16];
	int fam;
	addr_parse(src, &fam, s);
	addr_parse(dst, &fam, d);
	memset(p, 0, sizeof(*p));
	if (fam == 4) {
		uint16_t tot = (uint16_t)(20 + l4len);
		uint8_t h[20] = {0x45,
		                 0,
		                 (uint8_t)(tot >> 8),
		                 (uint8_t)tot,
		                 (uint8_t)(id >> 8),
		                 (uint8_t)id,
		                 (uint8_t)(frag >> 8),
		                 (uint8_t)frag,
		                 64,
		                 proto};
		memcpy(h + 12, s, 4);
		memcpy(h + 16, d, 4);
		memcpy(p->b, h, 20);
		p->n = 20;
	} else {
		uint8_t h[40] = {0x60,           0,     0, 0, (uint8_t)(l4len >> 8),
		                 (uint8_t)l4len, proto, 64};
		memcpy(h + 8, s, 16);
		memcpy(h + 24, d, 16);
		memcpy(p->b, h, 40);
		p->n = 40;
	}
	memcpy(p->b + p->n, l4, l4len);
	p->n += l4len;
	assert_int_equal(decode_packet(DECODE_LINK_RAW, p->b, p->n, &p->d), 0);
}

static void mk_tcp(struct pkt *p, const char *src, const char *dst, uint16_t sp, uint16_t dp,
                   uint32_t seq, uint8_t flags, size_t paylen)
{
	uint8_t t[20 + 64] = {(uint8_t)(sp >> 8),  (uint8_t)sp,          (uint8_t)(dp >> 8),
	                      (uint8_t)dp,         (uint8_t)(seq >> 24), (uint8_t)(seq >> 16),
	                      (uint8_t)(seq >> 8), (uint8_t)seq};
	t[12] = 5 << 4;
	t[13] = flags;
	assert_true(paylen <= 64);
	mk_ip(p, src, dst, 6, t, 20 + paylen, 0, 0);
}

static void mk_udp(struct pkt *p, const char *src, const char *dst, uint16_t sp, uint16_t dp,
                   size_t paylen)
{
	uint8_t u[8 + 64] = {(uint8_t)(sp >> 8), (uint8_t)sp, (uint8_t)(dp >> 8),
	                     (uint8_t)dp,        0,           (uint8_t)(8 + paylen)};
	mk_ip(p, src, dst, 17, u, 8 + paylen, 0, 0);
}

static struct flow *track(struct flow_table *ft, struct pkt *p, int64_t ts, int *dir)
{
	return flow_table_track(ft, &p->d, ts, (uint32_t)p->n, dir);
}

enum {
	SYN = DECODE_TH_SYN,
	ACK = DECODE_TH_ACK,
	FIN = DECODE_TH_FIN,
	RST = DECODE_TH_RST,
	PSH = DECODE_TH_PSH
};

/* ---- TCP states ---- */

static void test_tcp_lifecycle(void **state)
{
	struct ended *e = calloc(1, sizeof(*e));
	struct flow_table *ft = table(e, 0);
	struct pkt p;
	struct flow *f;
	int dir;
	const char *A = "10.0.0.1", *B = "10.0.0.2";
	int64_t t = 1000 * SEC;

	mk_tcp(&p, A, B, 40000, 80, 100, SYN, 0);
	f = track(ft, &p, t, &dir);
	assert_non_null(f);
	assert_int_equal(dir, 0);
	assert_int_equal(f->id, 1);
	assert_int_equal(f->state, FLOW_STATE_NEW);
	uint64_t id = f->id;
	mk_tcp(&p, B, A, 80, 40000, 900, SYN | ACK, 0);
	f = track(ft, &p, t + 1000, &dir);
	assert_int_equal(f->id, id);
	assert_int_equal(dir, 1);
	mk_tcp(&p, A, B, 40000, 80, 101, ACK, 0);
	f = track(ft, &p, t + 2000, &dir);
	assert_int_equal(f->state, FLOW_STATE_ESTABLISHED);
	mk_tcp(&p, A, B, 40000, 80, 101, PSH | ACK, 10);
	track(ft, &p, t + 3000, &dir);
	mk_tcp(&p, B, A, 80, 40000, 901, PSH | ACK, 30);
	track(ft, &p, t + 4000, &dir);
	mk_tcp(&p, A, B, 40000, 80, 111, FIN | ACK, 0);
	f = track(ft, &p, t + 5000, &dir);
	assert_int_equal(f->state, FLOW_STATE_ESTABLISHED);
	mk_tcp(&p, B, A, 80, 40000, 931, FIN | ACK, 0);
	f = track(ft, &p, t + 6000, &dir);
	assert_int_equal(f->state, FLOW_STATE_CLOSED);
	/* the last ACK stays in the flow */
	mk_tcp(&p, A, B, 40000, 80, 112, ACK, 0);
	f = track(ft, &p, t + 7000, &dir);
	assert_int_equal(f->id, id);
	assert_int_equal(e->n, 0);

	assert_int_equal(f->pkts[0], 5);
	assert_int_equal(f->pkts[1], 3);
	assert_int_equal(f->payload[0], 10);
	assert_int_equal(f->payload[1], 30);
	assert_int_equal(f->bytes[0], 5 * 40 + 10);
	assert_int_equal(f->tcp_flags[0], SYN | ACK | PSH | FIN);
	assert_int_equal(f->tcp_flags[1], SYN | ACK | PSH | FIN);
	assert_string_equal(f->history, "ShADdFf"); /* the responder sent no pure ACK */
	assert_string_equal(flow_conn_state(f), "SF");
	assert_int_equal(f->start_ns, t);
	assert_int_equal(f->end_ns, t + 7000);

	/* closed flows linger for tcp_closed (60 s), then end with reason "fin" */
	assert_int_equal(flow_table_expire(ft, t + 30 * SEC), 0);
	assert_int_equal(flow_table_expire(ft, t + 61 * SEC), 1);
	assert_int_equal(e->n, 1);
	assert_int_equal(e->f[0].end_reason, FLOW_END_FIN);

	/* RST closes; SYN -> RST is REJ */
	mk_tcp(&p, A, B, 40001, 81, 5, SYN, 0);
	track(ft, &p, t + 62 * SEC, &dir);
	mk_tcp(&p, B, A, 81, 40001, 0, RST | ACK, 0);
	f = track(ft, &p, t + 62 * SEC + 10, &dir);
	assert_int_equal(f->state, FLOW_STATE_CLOSED);
	assert_string_equal(flow_conn_state(f), "REJ");
	assert_int_equal(flow_table_flush(ft, FLOW_END_SHUTDOWN), 1);
	assert_int_equal(e->f[1].end_reason, FLOW_END_RST); /* closed flows keep their reason */

	struct flow_stats st;
	flow_table_stats(ft, &st);
	assert_int_equal(st.created, 2);
	assert_int_equal(st.active, 0);
	assert_int_equal(st.ended[FLOW_END_FIN], 1);
	assert_int_equal(st.ended[FLOW_END_RST], 1);
	flow_table_free(&ft);
	assert_null(ft);
	free(e);
}

static void test_tcp_orientation_and_reuse(void **state)
{
	struct ended *e = calloc(1, sizeof(*e));
	struct flow_table *ft = table(e, 0);
	struct pkt p;
	struct flow *f;
	int dir;
	const char *A = "192.0.2.10", *B = "198.51.100.7";

	/* first seen through the SYN-ACK: the SYN's sender is the initiator */
	mk_tcp(&p, B, A, 443, 50000, 7, SYN | ACK, 0);
	f = track(ft, &p, SEC, &dir);
	assert_int_equal(dir, 1);
	assert_int_equal(f->key.sport, 50000);
	assert_int_equal(f->key.dport, 443);
	assert_true(f->flipped);
	assert_string_equal(f->history, "^h");

	/* a SYN with another sequence number starts a new flow (port reuse) */
	mk_tcp(&p, A, B, 40000, 22, 1000, SYN, 0);
	uint64_t first = track(ft, &p, 2 * SEC, &dir)->id;
	track(ft, &p, 3 * SEC, &dir); /* retransmission: same flow */
	assert_int_equal(e->n, 0);
	mk_tcp(&p, A, B, 40000, 22, 5000, SYN, 0);
	f = track(ft, &p, 4 * SEC, &dir);
	assert_int_not_equal(f->id, first);
	assert_int_equal(e->n, 1);
	assert_int_equal(e->f[0].id, first);
	assert_int_equal(e->f[0].end_reason, FLOW_END_REUSED);
	assert_int_equal(e->f[0].pkts[0], 2);
	assert_string_equal(flow_conn_state(&e->f[0]), "S0");

	/* midstream: no SYN seen */
	mk_tcp(&p, A, B, 40002, 25, 1, PSH | ACK, 20);
	track(ft, &p, 5 * SEC, &dir);
	mk_tcp(&p, B, A, 25, 40002, 1, ACK, 0);
	f = track(ft, &p, 5 * SEC + 1, &dir);
	assert_int_equal(f->state, FLOW_STATE_ESTABLISHED);
	assert_string_equal(flow_conn_state(f), "OTH");
	flow_table_free(&ft);
	free(e);
}

/* ---- timeouts on packet time ---- */

static void test_timeouts(void **state)
{
	struct ended *e = calloc(1, sizeof(*e));
	struct flow_table *ft = table(e, 0);
	struct pkt p;
	int dir;
	int64_t t0 = 1400000000 * SEC;

	mk_udp(&p, "10.0.0.1", "10.0.0.53", 5353, 53, 30);
	track(ft, &p, t0, &dir);
	mk_tcp(&p, "10.0.0.1", "10.0.0.80", 1111, 80, 1, SYN, 0); /* half-open: 60 s */
	track(ft, &p, t0, &dir);
	mk_tcp(&p, "10.0.0.1", "10.0.0.81", 1112, 80, 1, SYN, 0);
	track(ft, &p, t0, &dir);
	mk_tcp(&p, "10.0.0.81", "10.0.0.1", 80, 1112, 1, SYN | ACK, 0);
	track(ft, &p, t0, &dir);
	mk_tcp(&p, "10.0.0.1", "10.0.0.81", 1112, 80, 2, ACK, 0); /* established: 600 s */
	track(ft, &p, t0, &dir);
	uint8_t icmp[8] = {8, 0, 0, 0, 0, 1, 0, 1};
	mk_ip(&p, "10.0.0.1", "10.0.0.9", 1, icmp, 8, 0, 0); /* other: 60 s */
	track(ft, &p, t0, &dir);

	/* another flow's packets drive the clock: the sweep runs once per second */
	mk_udp(&p, "10.9.9.9", "10.9.9.8", 1, 2, 0);
	track(ft, &p, t0 + 59 * SEC, &dir);
	assert_int_equal(e->n, 0);
	track(ft, &p, t0 + 61 * SEC, &dir);
	assert_int_equal(e->n, 2); /* half-open TCP and ICMP */
	track(ft, &p, t0 + 119 * SEC, &dir);
	assert_int_equal(e->n, 2);
	track(ft, &p, t0 + 121 * SEC, &dir);
	assert_int_equal(e->n, 3); /* UDP */
	assert_int_equal(e->f[2].key.proto, 17);
	assert_int_equal(e->f[2].end_reason, FLOW_END_TIMEOUT);
	assert_string_equal(flow_conn_state(&e->f[2]), "S0");
	/* the established TCP flow, and the driving flow, idle since +121 s */
	assert_int_equal(flow_table_expire(ft, t0 + 601 * SEC), 2);
	assert_int_equal(e->n, 5);
	const struct flow *est = e->f[3].key.proto == 6 ? &e->f[3] : &e->f[4];
	assert_int_equal(est->key.dport, 80);
	assert_int_equal(est->state, FLOW_STATE_ESTABLISHED);
	assert_int_equal(est->end_reason, FLOW_END_TIMEOUT);
	flow_table_free(&ft);
	free(e);
}

/* IPv6 sessions go through the same states and timeouts; QinQ: both VLAN ids key
 * the session, so the same 5-tuple in two inner VLANs is two sessions. */
static void test_ipv6_tcp_qinq(void **state)
{
	struct ended *e = calloc(1, sizeof(*e));
	struct flow_table *ft = table(e, 0);
	struct pkt p;
	struct flow *f;
	int dir;
	const char *A = "2001:db8::1", *B = "2001:db8:ffff::2";
	int64_t t = 1700000000 * SEC;

	/* picked up at the SYN-ACK: turned round, the SYN's sender is the initiator */
	mk_tcp(&p, B, A, 443, 50000, 700, SYN | ACK, 0);
	f = track(ft, &p, t, &dir);
	assert_int_equal(dir, 1);
	assert_int_equal(f->key.family, 6);
	assert_int_equal(f->key.sport, 50000);
	assert_int_equal(f->key.dport, 443);
	uint64_t id = f->id;
	mk_tcp(&p, A, B, 50000, 443, 11, ACK, 0);
	f = track(ft, &p, t + 1000, &dir);
	assert_int_equal(f->id, id);
	assert_int_equal(dir, 0);
	assert_int_equal(f->state, FLOW_STATE_ESTABLISHED);
	mk_tcp(&p, A, B, 50000, 443, 11, PSH | ACK, 40);
	track(ft, &p, t + 2000, &dir);
	mk_tcp(&p, A, B, 50000, 443, 51, RST, 0);
	f = track(ft, &p, t + 3000, &dir);
	assert_int_equal(f->state, FLOW_STATE_CLOSED);
	assert_string_equal(flow_conn_state(f), "RSTO");
	assert_int_equal(f->bytes[0], 3 * 60 + 40);
	assert_int_equal(f->payload[0], 40);

	/* an IPv6 half-open connection ends after tcp_new_timeout (60 s) */
	mk_tcp(&p, A, B, 50001, 22, 1, SYN, 0);
	track(ft, &p, t + 10 * SEC, &dir);
	assert_int_equal(flow_table_expire(ft, t + 69 * SEC), 1); /* the RST one (60 s) */
	assert_int_equal(e->f[0].end_reason, FLOW_END_RST);
	assert_int_equal(flow_table_expire(ft, t + 71 * SEC), 1);
	assert_int_equal(e->f[1].end_reason, FLOW_END_TIMEOUT);
	assert_string_equal(flow_conn_state(&e->f[1]), "S0");

	/* QinQ: outer 200, inner 2001 or 2002; the same tuple untagged is a third */
	mk_udp(&p, A, B, 5000, 53, 20);
	p.d.vlan[0] = 200;
	p.d.vlan[1] = 2001;
	uint64_t q1 = track(ft, &p, t + 80 * SEC, &dir)->id;
	p.d.vlan[1] = 2002;
	uint64_t q2 = track(ft, &p, t + 80 * SEC, &dir)->id;
	p.d.vlan[0] = p.d.vlan[1] = 0;
	uint64_t q0 = track(ft, &p, t + 80 * SEC, &dir)->id;
	assert_int_not_equal(q1, q2);
	assert_int_not_equal(q0, q1);
	assert_int_not_equal(q0, q2);
	mk_udp(&p, B, A, 53, 5000, 60); /* the answer, in 200/2002 */
	p.d.vlan[0] = 200;
	p.d.vlan[1] = 2002;
	f = track(ft, &p, t + 80 * SEC + 5, &dir);
	assert_int_equal(f->id, q2);
	assert_int_equal(dir, 1);
	assert_int_equal(f->key.vlan[0], 200);
	assert_int_equal(f->key.vlan[1], 2002);
	assert_int_equal(flow_table_flush(ft, FLOW_END_SHUTDOWN), 3);
	flow_table_free(&ft);
	free(e);
}

/* Time going backwards neither expires nor stalls anything; a leap forward
 * expires what was idle, and the clock keeps its pace after it. */
static void test_backwards_time(void **state)
{
	struct ended *e = calloc(1, sizeof(*e));
	struct flow_table *ft = table(e, 0);
	struct pkt p, q;
	struct flow *f;
	int dir;
	int64_t t0 = 1388534400 * SEC; /* 2014 */

	mk_udp(&p, "10.0.0.1", "10.0.0.2", 1000, 2000, 1);
	track(ft, &p, t0, &dir);
	f = track(ft, &p, t0 - 3600 * SEC, &dir); /* an hour earlier */
	assert_int_equal(f->start_ns, t0 - 3600 * SEC);
	assert_int_equal(f->end_ns, t0);
	f = track(ft, &p, 54 * SEC, &dir); /* 1970, as a router with no clock */
	assert_int_equal(f->start_ns, 54 * SEC);
	assert_int_equal(e->n, 0);
	f = track(ft, &p, t0 + 10 * SEC, &dir);
	assert_int_equal(f->pkts[0], 4);
	assert_int_equal(e->n, 0);

	/* a single packet far in the future */
	mk_udp(&q, "10.0.0.3", "10.0.0.4", 1, 2, 1);
	track(ft, &q, t0 + 86400 * 365 * SEC, &dir);
	assert_int_equal(e->n, 1); /* the idle one expired */
	/* back to normal time: a new flow still times out after its 120 s */
	mk_udp(&p, "10.0.0.5", "10.0.0.6", 1, 2, 1);
	track(ft, &p, t0 + 20 * SEC, &dir);
	mk_udp(&q, "10.0.0.7", "10.0.0.8", 1, 2, 1);
	track(ft, &q, t0 + 100 * SEC, &dir);
	assert_int_equal(e->n, 1);
	track(ft, &q, t0 + 145 * SEC, &dir);
	assert_int_equal(e->n, 3); /* 10.0.0.5 (125 s idle) and the future one */
	assert_int_equal(e->f[2].key.src[3] == 5 || e->f[1].key.src[3] == 5, 1);
	flow_table_free(&ft);
	free(e);
}

/* ---- IPv6, fragments, VLANs ---- */

static void test_ipv6_fragments_real(void **state)
{
	NEED_PCAP("ipv6_fragments.pcapng"); /* before anything is allocated: skip() returns */
	struct ended *e = calloc(1, sizeof(*e));
	struct flow_table *ft = table(e, 0);
	struct pcapfile_reader *r;
	struct pcapfile_pkt pp;
	assert_int_equal(
	    pcapfile_reader_open_path(&r, pcap_path("ipv6_fragments.pcapng"), NULL, 0), 0);
	while (pcapfile_reader_next(r, &pp) == 1) {
		struct decode_pkt d;
		int dir;
		assert_int_equal(decode_packet(pp.linktype, pp.data, pp.caplen, &d), 0);
		assert_non_null(flow_table_track(ft, &d, pp.ts_ns, pp.origlen, &dir));
	}
	pcapfile_reader_close(&r);
	assert_int_equal(flow_table_flush(ft, FLOW_END_SHUTDOWN), 2);
	const struct flow *echo = e->f[0].key.sport == 128 ? &e->f[0] : &e->f[1];
	assert_int_equal(echo->key.family, 6);
	assert_int_equal(echo->key.proto, 58);
	assert_int_equal(echo->pkts[0], 10); /* both fragments of 5 requests */
	assert_int_equal(echo->pkts[1], 10);
	assert_string_equal(echo->community_id, "1:kiVfog1EE6xPCLE8NAvAFnlnl7w=");
	assert_int_equal(echo->icmp_type[0], 128);
	assert_int_equal(echo->icmp_type[1], 129);
	flow_table_free(&ft);
	free(e);
}

static void test_fragments_built(void **state)
{
	struct ended *e = calloc(1, sizeof(*e));
	struct flow_table *ft = table(e, 0);
	struct pkt p;
	struct flow *f;
	int dir;
	uint8_t l4[16] = {0x13, 0x88, 0x00, 0x35, 0, 16};
	mk_ip(&p, "10.1.0.1", "10.1.0.2", 17, l4, 16, 0x2000, 77); /* first, more fragments */
	uint64_t id = track(ft, &p, SEC, &dir)->id;
	mk_ip(&p, "10.1.0.1", "10.1.0.2", 17, l4, 16, 0x0002, 77); /* offset 16 */
	f = track(ft, &p, SEC + 1, &dir);
	assert_int_equal(f->id, id);
	assert_int_equal(f->pkts[0], 2);
	/* another datagram's later fragment, whose first was never seen: a port-less flow */
	mk_ip(&p, "10.1.0.1", "10.1.0.2", 17, l4, 16, 0x0002, 78);
	f = track(ft, &p, SEC + 2, &dir);
	assert_int_not_equal(f->id, id);
	assert_int_equal(f->key.sport, 0);
	flow_table_free(&ft);
	free(e);
}

static void test_vlan(void **state)
{
	struct ended *e = calloc(1, sizeof(*e));
	struct flow_table *ft = table(e, 0);
	struct pkt p;
	int dir;
	mk_udp(&p, "10.0.0.1", "10.0.0.2", 1, 2, 0);
	p.d.vlan[0] = 100;
	uint64_t a = track(ft, &p, SEC, &dir)->id;
	p.d.vlan[0] = 200;
	uint64_t b = track(ft, &p, SEC, &dir)->id;
	assert_int_not_equal(a, b);
	p.d.vlan[0] = 100;
	assert_int_equal(track(ft, &p, SEC, &dir)->id, a);
	flow_table_free(&ft);
	free(e);

	/* GRE in 802.1Q 1213: one flow between the tunnel end points */
	NEED_PCAP("tcpdump-tests_various_gre.pcap"); /* before the allocations below */
	struct ended *g = calloc(1, sizeof(*g));
	ft = table(g, 0);
	struct pcapfile_reader *r;
	struct pcapfile_pkt pp;
	assert_int_equal(
	    pcapfile_reader_open_path(&r, pcap_path("tcpdump-tests_various_gre.pcap"), NULL, 0),
	    0);
	while (pcapfile_reader_next(r, &pp) == 1) {
		struct decode_pkt d;
		if (decode_packet(pp.linktype, pp.data, pp.caplen, &d) == 0)
			flow_table_track(ft, &d, pp.ts_ns, pp.origlen, &dir);
	}
	pcapfile_reader_close(&r);
	struct flow_stats st;
	flow_table_stats(ft, &st);
	assert_int_equal(st.nonip, 70);
	assert_int_equal(flow_table_flush(ft, FLOW_END_SHUTDOWN), 1);
	assert_int_equal(g->f[0].key.proto, 47);
	assert_int_equal(g->f[0].key.vlan[0], 1213);
	assert_int_equal(g->f[0].pkts[0] + g->f[0].pkts[1], 30);
	flow_table_free(&ft);
	free(g);
}

/* One UDP packet from 10.0.0.1 to 10.0.NET.HOST at ts: its flow. */
static struct flow *udp_to(struct flow_table *ft, int net, int host, int64_t ts)
{
	struct pkt p;
	int dir;
	char dst[32];
	snprintf(dst, sizeof(dst), "10.0.%d.%d", net, host);
	mk_udp(&p, "10.0.0.1", dst, 1000, 53, 0);
	return track(ft, &p, ts, &dir);
}

/* ---- how long a flow can stay idle and still take a packet ---- */

/* A packet that comes the timeout and up to one sweep interval after a flow's
 * last one still joins it, whatever the sweeps' phase (other traffic drives
 * them); later, never. flow_config_longest_idle_ns is that bound: what
 * `pcap --session` uses to decide whether a file being written may hold more
 * of a session. */
static void test_longest_idle(void **state)
{
	struct flow_config c;
	flow_config_default(&c);
	c.tcp_new_timeout = c.tcp_est_timeout = c.tcp_closed_timeout = c.udp_timeout =
	    c.other_timeout = 2;
	c.hash_seed = 42;
	const int64_t bound = flow_config_longest_idle_ns(&c);
	assert_int_equal(bound, 3 * SEC);
	int64_t longest = 0;
	for (int phase = 0; phase < 10; phase++) {
		for (int g = 0; g <= 50; g++) {
			int64_t gap = 2 * SEC + g * (SEC / 40); /* 2 s .. 3.25 s */
			struct flow_table *ft;
			assert_int_equal(flow_table_new(&ft, &c), 0);
			struct flow *a = udp_to(ft, 1, 1, SEC);
			uint64_t id = a->id;
			/* other traffic, whose packets run the sweeps */
			for (int64_t t = SEC + phase * (SEC / 10); t < SEC + gap; t += SEC / 2)
				udp_to(ft, 2, 1, t);
			a = udp_to(ft, 1, 1, SEC + gap);
			if (a->id == id && gap > longest)
				longest = gap;
			flow_table_free(&ft);
		}
	}
	assert_true(longest > 2 * SEC); /* the timeout alone is not the bound */
	assert_true(longest < bound);
}

/* ---- ids: blocks, and the next block when one is used up ---- */

struct blocks {
	uint64_t next_first, lasts[4];
	int calls;
};

static uint64_t more_ids(void *arg, uint64_t last, uint64_t *end)
{
	struct blocks *b = arg;
	b->lasts[b->calls++] = last;
	uint64_t first = b->next_first;
	b->next_first += 1000;
	*end = first + 2;
	return first;
}

static void test_id_blocks(void **state)
{
	struct blocks b = {.next_first = 5000};
	struct flow_config c;
	struct flow_table *ft;
	flow_config_default(&c);
	c.id_base = 100;
	c.id_end = 103;
	c.id_more = more_ids;
	c.id_arg = &b;
	assert_int_equal(flow_table_new(&ft, &c), 0);
	const uint64_t want[] = {101, 102, 103, 5001, 5002, 6001};
	for (int i = 0; i < 6; i++) {
		struct flow *f = udp_to(ft, 3, i + 1, SEC + i);
		assert_non_null(f);
		assert_int_equal(f->id, want[i]);
	}
	assert_int_equal(b.calls, 2);
	assert_int_equal(b.lasts[0], 103);
	assert_int_equal(b.lasts[1], 5002);
	flow_table_free(&ft);
}

/* ---- capacity ---- */

static void test_eviction(void **state)
{
	struct ended *e = calloc(1, sizeof(*e));
	struct flow_table *ft = table(e, 4);
	struct pkt p;
	int dir;
	/* four UDP flows, the second touched again last */
	for (int i = 0; i < 4; i++)
		udp_to(ft, 1, i + 1, SEC + i);
	mk_udp(&p, "10.0.0.1", "10.0.1.1", 1000, 53, 0);
	track(ft, &p, SEC + 10, &dir);
	/* a fifth: the oldest idle (10.0.1.2) is forced out */
	mk_udp(&p, "10.0.0.1", "10.0.9.9", 1000, 53, 0);
	track(ft, &p, SEC + 11, &dir);
	assert_int_equal(e->n, 1);
	assert_int_equal(e->f[0].end_reason, FLOW_END_FORCED);
	assert_int_equal(e->f[0].key.dst[3], 2);
	/* a half-open TCP flow goes before a UDP flow idle as long (nearer its timeout) */
	mk_tcp(&p, "10.0.0.1", "10.0.2.1", 1, 2, 1, SYN, 0);
	track(ft, &p, SEC + 12, &dir);
	assert_int_equal(e->n, 2);
	struct flow_stats st;
	flow_table_stats(ft, &st);
	assert_int_equal(st.active, 4);
	assert_int_equal(st.ended[FLOW_END_FORCED], 2);
	flow_table_free(&ft);
	free(e);

	struct flow_config c;
	flow_config_default(&c);
	c.capacity = 0;
	assert_int_equal(flow_table_new(&ft, &c), -EINVAL);
}

/* ---- real captures: sessions as tshark counts tcp.stream ---- */

struct run {
	struct ended *e;
	long tcp, udp, other;
	long s0, callbacks;
};

static void count_end(void *arg, const struct flow *f)
{
	struct run *r = arg;
	r->callbacks++;
	if (f->key.proto == 6) {
		r->tcp++;
		if (strcmp(flow_conn_state(f), "S0") == 0)
			r->s0++;
	} else if (f->key.proto == 17) {
		r->udp++;
	} else {
		r->other++;
	}
}

static struct run run_file(const char *name)
{
	struct run r = {0};
	struct flow_config c;
	struct flow_table *ft;
	struct pcapfile_reader *rd;
	struct pcapfile_pkt pp;
	flow_config_default(&c);
	c.end_cb = count_end;
	c.cb_arg = &r;
	assert_int_equal(flow_table_new(&ft, &c), 0);
	assert_int_equal(pcapfile_reader_open_path(&rd, pcap_path(name), NULL, 0), 0);
	while (pcapfile_reader_next(rd, &pp) == 1) {
		struct decode_pkt d;
		int dir;
		if (decode_packet(pp.linktype, pp.data, pp.caplen, &d) == 0)
			flow_table_track(ft, &d, pp.ts_ns, pp.origlen, &dir);
	}
	pcapfile_reader_close(&rd);
	flow_table_flush(ft, FLOW_END_SHUTDOWN);
	struct flow_stats st;
	flow_table_stats(ft, &st);
	assert_int_equal(st.created, (uint64_t)r.callbacks);
	assert_int_equal(st.active, 0);
	flow_table_free(&ft);
	return r;
}

static void test_tshark_streams(void **state)
{
	static const struct {
		const char *name;
		long tcp;
	} want[] = {
	    {"capture-Thu-11-24-16-10-28-11_cerber.pcap", 257},
	    {"evilfingers_xscan_capture.pcap", 636},
	    {"synscan.pcapng", 1994},
	    {"http_espn.pcapng", 25},
	    {"ek_to_cryptowall4.pcapng", 10},
	    {"honeynet_fc2010-1_attack-trace.pcap", 5},
	    {"cryptowall4_c2.pcapng", 3},
	    {"macgyver.pcap", 86},
	    {"http_ip4and6.pcapng", 2},
	    {"ivre_dnsbl_rawip.pcap", 2},
	    {"nb6-startup.pcap", 8},
	};
	NEED_PCAP(want[0].name);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct run r = run_file(want[i].name);
		if (r.tcp != want[i].tcp)
			fail_msg("%s: %ld TCP flows, tshark has %ld streams", want[i].name,
			         r.tcp, want[i].tcp);
	}
	/* the SYN scan: nearly every flow a lone SYN */
	struct run r = run_file("synscan.pcapng");
	assert_true(r.s0 > 1900);
}

/* ---- rendering ---- */

static void test_render(void **state)
{
	struct ended *e = calloc(1, sizeof(*e));
	struct flow_table *ft = table(e, 0);
	struct pkt p;
	struct flow *f;
	struct evbuf b;
	struct ev_field fl;
	int dir;
	int64_t t = 1479981011 * SEC + 123456789;

	flow_table_set_file(ft, 7);
	mk_tcp(&p, "192.168.1.46", "192.168.1.195", 49183, 88, 1, SYN, 0);
	p.d.vlan[0] = 200;
	p.d.vlan[1] = 2001;
	track(ft, &p, t, &dir);
	mk_tcp(&p, "192.168.1.195", "192.168.1.46", 88, 49183, 1, SYN | ACK, 0);
	p.d.vlan[0] = 200;
	p.d.vlan[1] = 2001;
	flow_table_set_file(ft, 8);
	f = track(ft, &p, t + 2500 * 1000000ll, &dir);
	f->end_reason = FLOW_END_TIMEOUT;

	evbuf_init(&b);
	assert_int_equal(flow_event_render(f, &b), 0);
	assert_int_equal(ev_record_check(b.data, b.len), (long)b.len);
	assert_true(ev_find(b.data, b.len, "event_type", &fl));
	assert_memory_equal(fl.str, "flow", 4);
	assert_true(ev_find(b.data, b.len, "timestamp", &fl));
	assert_int_equal(fl.i, t / 1000);
	assert_true(ev_find(b.data, b.len, "flow_id", &fl));
	assert_int_equal(fl.i, (int64_t)f->id);
	assert_true(ev_find(b.data, b.len, "src_ip", &fl));
	assert_int_equal(fl.strlen, strlen("192.168.1.46"));
	assert_memory_equal(fl.str, "192.168.1.46", fl.strlen);
	assert_true(ev_find(b.data, b.len, "dest_port", &fl));
	assert_int_equal(fl.i, 88);
	assert_true(ev_find(b.data, b.len, "proto", &fl));
	assert_memory_equal(fl.str, "TCP", 3);
	assert_true(ev_find(b.data, b.len, "community_id", &fl));
	assert_memory_equal(fl.str, "1:++padySyNhZriZz2q74c4d7/zxc=", fl.strlen);
	assert_true(ev_find(b.data, b.len, "vlan", &fl));
	assert_int_equal(fl.kind, EV_ARR);
	assert_true(ev_find(b.data, b.len, "flow.pkts_toserver", &fl));
	assert_int_equal(fl.i, 1);
	assert_true(ev_find(b.data, b.len, "flow.bytes_toclient", &fl));
	assert_int_equal(fl.i, 40);
	assert_true(ev_find(b.data, b.len, "flow.age", &fl));
	assert_int_equal(fl.i, 2); /* as Suricata: end second - start second (11.12 -> 13.62) */
	assert_true(ev_find(b.data, b.len, "flow.state", &fl));
	assert_memory_equal(fl.str, "new", 3);
	assert_true(ev_find(b.data, b.len, "flow.reason", &fl));
	assert_memory_equal(fl.str, "timeout", 7);
	assert_true(ev_find(b.data, b.len, "flow.conn_state", &fl));
	assert_memory_equal(fl.str, "OTH", 3); /* Zeek: SYN, SYN-ACK and no ACK yet */
	assert_true(ev_find(b.data, b.len, "flow.history", &fl));
	assert_memory_equal(fl.str, "Sh", 2);
	assert_true(ev_find(b.data, b.len, "tcp.tcp_flags", &fl));
	assert_memory_equal(fl.str, "12", 2);
	assert_true(ev_find(b.data, b.len, "tcp.tcp_flags_ts", &fl));
	assert_memory_equal(fl.str, "02", 2);
	assert_true(ev_find(b.data, b.len, "tcp.syn", &fl));
	assert_int_equal(fl.i, 1);
	assert_false(ev_find(b.data, b.len, "tcp.fin", &fl));
	assert_true(ev_find(b.data, b.len, "tcp.state", &fl));
	assert_memory_equal(fl.str, "syn_recv", 8);
	assert_true(ev_find(b.data, b.len, "pcap.file_first", &fl));
	assert_int_equal(fl.i, 7);
	assert_true(ev_find(b.data, b.len, "pcap.file_last", &fl));
	assert_int_equal(fl.i, 8);

	/* ICMPv6 over IPv6: names and response type */
	evbuf_reset(&b);
	uint8_t icmp[8] = {128, 0, 0, 0, 0, 1, 0, 1};
	mk_ip(&p, "2001:db8::1", "2001:db8::2", 58, icmp, 8, 0, 0);
	track(ft, &p, t, &dir);
	icmp[0] = 129;
	mk_ip(&p, "2001:db8::2", "2001:db8::1", 58, icmp, 8, 0, 0);
	f = track(ft, &p, t, &dir);
	assert_int_equal(dir, 1);
	assert_int_equal(flow_event_render(f, &b), 0);
	assert_true(ev_find(b.data, b.len, "proto", &fl));
	assert_memory_equal(fl.str, "IPv6-ICMP", 9);
	assert_true(ev_find(b.data, b.len, "src_ip", &fl));
	assert_memory_equal(fl.str, "2001:db8::1", fl.strlen);
	assert_false(ev_find(b.data, b.len, "src_port", &fl));
	assert_true(ev_find(b.data, b.len, "response_icmp_type", &fl));
	assert_int_equal(fl.i, 129);
	assert_false(ev_find(b.data, b.len, "tcp", &fl));
	assert_true(ev_find(b.data, b.len, "flow.state", &fl));
	assert_memory_equal(fl.str, "established", 11);

	char buf[4];
	assert_string_equal(flow_proto_str(47, buf), "47");
	assert_string_equal(flow_end_str(FLOW_END_FORCED), "forced");
	evbuf_free(&b);
	flow_table_free(&ft);
	free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tcp_lifecycle),
	    cmocka_unit_test(test_tcp_orientation_and_reuse),
	    cmocka_unit_test(test_timeouts),
	    cmocka_unit_test(test_ipv6_tcp_qinq),
	    cmocka_unit_test(test_backwards_time),
	    cmocka_unit_test(test_ipv6_fragments_real),
	    cmocka_unit_test(test_fragments_built),
	    cmocka_unit_test(test_vlan),
	    cmocka_unit_test(test_eviction),
	    cmocka_unit_test(test_id_blocks),
	    cmocka_unit_test(test_longest_idle),
	    cmocka_unit_test(test_tshark_streams),
	    cmocka_unit_test(test_render),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

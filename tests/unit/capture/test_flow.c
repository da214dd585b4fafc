/*
 * Flow table: session counts on the shared captures against tshark's
 * tcp.stream, TCP states and end reasons, timeouts on packet time (also when
 * it goes backwards or leaps), IPv6 and fragments (also tail first: held, joined,
 * bounded in number and time), VLANs, eviction when full,
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
	/* held fragments counted in a flow (the held callback) */
	long held, joined;
	struct flow_frag_held h[MAX_ENDED];
	uint64_t held_flow[MAX_ENDED];
	int held_dir[MAX_ENDED];
};

static void on_end(void *arg, const struct flow *f)
{
	struct ended *e = arg;
	if (e->n < MAX_ENDED)
		e->f[e->n] = *f;
	e->n++;
}

static void on_held(void *arg, const struct flow *f, int dir, const struct flow_frag_held *h)
{
	struct ended *e = arg;
	if (e->held < MAX_ENDED) {
		e->h[e->held] = *h;
		e->held_flow[e->held] = f->id;
		e->held_dir[e->held] = dir;
	}
	e->held++;
	e->joined += h->joined;
}

static struct flow_table *table(struct ended *e, uint32_t capacity)
{
	struct flow_config c;
	struct flow_table *ft;
	flow_config_default(&c);
	if (capacity)
		c.capacity = capacity;
	c.end_cb = on_end;
	c.held_cb = on_held;
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
	/* another datagram's later fragment, whose first was never seen: held for it... */
	mk_ip(&p, "10.1.0.1", "10.1.0.2", 17, l4, 16, 0x0002, 78);
	assert_null(track(ft, &p, SEC + 2, &dir));
	assert_int_equal(dir, FLOW_DIR_HELD);
	flow_table_tag_held(ft, 4242);
	/* ...not past its bound (30 s of packet time)... */
	mk_udp(&p, "10.9.0.1", "10.9.0.2", 1, 2, 0);
	track(ft, &p, SEC + 2 + FLOW_FRAGS_HOLD_NS, &dir);
	assert_int_equal(e->held, 0);
	/* ...then where it went unheld: a port-less flow, with its own time */
	track(ft, &p, SEC + 3 + FLOW_FRAGS_HOLD_NS, &dir);
	assert_int_equal(e->held, 1);
	assert_int_equal(e->joined, 0);
	assert_int_equal(e->h[0].tag, 4242);
	assert_int_equal(e->h[0].ts_ns, SEC + 2);
	assert_int_equal(e->h[0].key.sport, 0);
	assert_int_not_equal(e->held_flow[0], id);
	/* its first fragment (another port), too late, does not take it back */
	l4[1] = 0x89;
	mk_ip(&p, "10.1.0.1", "10.1.0.2", 17, l4, 16, 0x2000, 78);
	f = track(ft, &p, SEC + 4 + FLOW_FRAGS_HOLD_NS, &dir);
	assert_int_equal(f->pkts[0], 1);
	assert_int_equal(e->held, 1);
	assert_int_equal(flow_table_flush(ft, FLOW_END_SHUTDOWN), 4);
	int portless = 0;
	for (long i = 0; i < e->n; i++) {
		if (e->f[i].id != e->held_flow[0])
			continue;
		portless++;
		assert_int_equal(e->f[i].key.sport, 0);
		assert_int_equal(e->f[i].key.dport, 0);
		assert_int_equal(e->f[i].pkts[0], 1);
		assert_int_equal(e->f[i].start_ns, SEC + 2);
	}
	assert_int_equal(portless, 1);

	/* flow_table_expire lets go of one past its bound, with no packet */
	e->n = e->held = 0;
	mk_ip(&p, "10.1.0.1", "10.1.0.2", 17, l4, 16, 0x0002, 79);
	assert_null(track(ft, &p, 100 * SEC, &dir));
	assert_int_equal(flow_table_expire(ft, 100 * SEC + FLOW_FRAGS_HOLD_NS), 0);
	assert_int_equal(e->held, 0);
	flow_table_expire(ft, 101 * SEC + FLOW_FRAGS_HOLD_NS);
	assert_int_equal(e->held, 1);
	assert_int_equal(e->h[0].tag, FLOW_TAG_NONE); /* never named */
	struct flow_stats st;
	flow_table_stats(ft, &st);
	assert_int_equal(st.frags_held, 2);
	assert_int_equal(st.frags_joined, 0);
	flow_table_free(&ft);
	free(e);
}

/* A later fragment held in one file does not join a first fragment written to another
 * (files written side by side, one per link type): it goes at its bound, port-less. */
static void test_fragments_other_file(void **state)
{
	(void)state;
	struct ended *e = calloc(1, sizeof(*e));
	struct flow_table *ft = table(e, 0);
	struct pkt p;
	int dir;
	uint8_t dg[16] = {0x13, 0x88, 0x00, 0x35, 0, 16};
	const char *A = "10.2.0.1", *B = "10.2.0.2";
	flow_table_set_file(ft, 5);
	mk_ip(&p, A, B, 17, dg + 8, 8, 0x0001, 700); /* offset 8, the last */
	assert_null(track(ft, &p, 10 * SEC, &dir));
	assert_int_equal(dir, FLOW_DIR_HELD);
	flow_table_set_file(ft, 6);
	mk_ip(&p, A, B, 17, dg, 8, 0x2000, 700); /* the first, in the other file */
	struct flow *f = track(ft, &p, 10 * SEC + 1, &dir);
	assert_non_null(f);
	assert_int_equal(f->pkts[0], 1);
	assert_int_equal(e->joined, 0);
	flow_table_release_frags(ft, 5); /* file 5 finishes */
	assert_int_equal(flow_table_flush(ft, FLOW_END_SHUTDOWN), 2);
	struct flow_stats st;
	flow_table_stats(ft, &st);
	assert_int_equal(st.frags_held, 1);
	assert_int_equal(st.frags_joined, 0);
	flow_table_free(&ft);
	free(e);
}

/* An IPv6 fragment (fragment header, next header nh) of id at byte offset off. */
static void mk_frag6(struct pkt *p, const char *src, const char *dst, uint8_t nh, uint16_t off,
                     int more, uint32_t id, const uint8_t *data, size_t len)
{
	uint8_t b[8 + 128] = {nh,
	                      0,
	                      (uint8_t)(off >> 8),
	                      (uint8_t)((off & 0xf8) | (more ? 1 : 0)),
	                      (uint8_t)(id >> 24),
	                      (uint8_t)(id >> 16),
	                      (uint8_t)(id >> 8),
	                      (uint8_t)id};
	assert_true(len <= 128);
	memcpy(b + 8, data, len);
	mk_ip(p, src, dst, 44, b, 8 + len, 0, 0);
}

/* A UDP datagram (5000 -> 53, 32 bytes) in three IPv4 fragments that come tail first:
 * the later two are held and join the session when the first comes. */
static void test_fragments_tail_first_v4(void **state)
{
	struct ended *e = calloc(1, sizeof(*e));
	struct flow_table *ft = table(e, 0);
	struct pkt p;
	struct flow *f;
	int dir;
	uint8_t dg[32] = {0x13, 0x88, 0x00, 0x35, 0, 32};
	const char *A = "10.2.0.1", *B = "10.2.0.2";
	flow_table_set_file(ft, 3);
	mk_ip(&p, A, B, 17, dg + 24, 8, 0x0003, 500); /* offset 24, the last */
	assert_null(track(ft, &p, 10 * SEC, &dir));
	assert_int_equal(dir, FLOW_DIR_HELD);
	flow_table_tag_held(ft, 103);
	size_t last_len = p.n;
	mk_ip(&p, A, B, 17, dg + 16, 8, 0x2002, 500); /* offset 16, more */
	assert_null(track(ft, &p, 10 * SEC + 1, &dir));
	assert_int_equal(dir, FLOW_DIR_HELD);
	flow_table_tag_held(ft, 102);
	assert_int_equal(e->held, 0);
	mk_ip(&p, A, B, 17, dg, 16, 0x2000, 500); /* the first: UDP header, more */
	f = track(ft, &p, 10 * SEC + 2, &dir);
	assert_non_null(f);
	assert_int_equal(dir, 0);
	assert_int_equal(f->key.sport, 5000);
	assert_int_equal(f->key.dport, 53);
	assert_int_equal(f->pkts[0], 3);
	assert_int_equal(f->pkts[1], 0);
	assert_int_equal(f->bytes[0], 2 * last_len + p.n);
	assert_int_equal(f->start_ns, 10 * SEC); /* the first packet of it on the wire */
	assert_int_equal(f->end_ns, 10 * SEC + 2);
	assert_int_equal(f->file_first, 3);
	assert_int_equal(f->file_last, 3);
	assert_int_equal(e->held, 2);
	assert_int_equal(e->joined, 2);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(e->held_flow[i], f->id);
		assert_int_equal(e->held_dir[i], 0);
		assert_int_equal(e->h[i].key.sport, 5000);
		assert_true(e->h[i].tag == 102 || e->h[i].tag == 103);
	}
	assert_int_not_equal(e->h[0].tag, e->h[1].tag);
	/* a later fragment after the first joins at once, as before */
	mk_ip(&p, A, B, 17, dg + 16, 8, 0x2002, 500);
	assert_ptr_equal(track(ft, &p, 10 * SEC + 3, &dir), f);
	assert_int_equal(f->pkts[0], 4);
	/* one session, no port-less flow beside it */
	assert_int_equal(flow_table_flush(ft, FLOW_END_SHUTDOWN), 1);
	assert_int_equal(e->held, 2);
	struct flow_stats st;
	flow_table_stats(ft, &st);
	assert_int_equal(st.frags_held, 2);
	assert_int_equal(st.frags_joined, 2);
	assert_int_equal(st.created, 1);
	flow_table_free(&ft);
	free(e);
}

/* IPv6: a TCP segment from the responder in fragment headers, tail first, joins its
 * connection in the reply direction; a datagram seen in another VLAN is another's. */
static void test_fragments_tail_first_v6(void **state)
{
	struct ended *e = calloc(1, sizeof(*e));
	struct flow_table *ft = table(e, 0);
	struct pkt p;
	struct flow *f;
	int dir;
	const char *A = "2001:db8::1", *B = "2001:db8::2";
	int64_t t = 50 * SEC;
	mk_tcp(&p, A, B, 40000, 443, 1, SYN, 0);
	uint64_t id = track(ft, &p, t, &dir)->id;
	mk_tcp(&p, B, A, 443, 40000, 7, SYN | ACK, 0);
	track(ft, &p, t + 1, &dir);
	mk_tcp(&p, A, B, 40000, 443, 2, ACK, 0);
	track(ft, &p, t + 2, &dir);
	uint8_t seg[20 + 48] = {0x01, 0xbb, 0x9c, 0x40, 0, 0, 0, 8};
	seg[12] = 5 << 4;
	seg[13] = PSH | ACK;
	/* offsets 48 and 24 (last first), then the first 24 bytes with the TCP header */
	mk_frag6(&p, B, A, 6, 48, 0, 0xabcdef01, seg + 48, 20);
	assert_null(track(ft, &p, t + 3, &dir));
	assert_int_equal(dir, FLOW_DIR_HELD);
	mk_frag6(&p, B, A, 6, 24, 1, 0xabcdef01, seg + 24, 24);
	p.d.vlan[0] = 7; /* the same datagram's fragment in VLAN 7: not this one's */
	assert_null(track(ft, &p, t + 4, &dir));
	mk_frag6(&p, B, A, 6, 24, 1, 0xabcdef01, seg + 24, 24);
	assert_null(track(ft, &p, t + 5, &dir));
	mk_frag6(&p, B, A, 6, 0, 1, 0xabcdef01, seg, 24);
	assert_true(p.d.flags & DECODE_F_L4);
	f = track(ft, &p, t + 6, &dir);
	assert_int_equal(f->id, id);
	assert_int_equal(dir, 1);
	assert_int_equal(f->pkts[0], 2);
	assert_int_equal(f->pkts[1], 4); /* SYN-ACK and three fragments */
	assert_int_equal(f->state, FLOW_STATE_ESTABLISHED);
	assert_int_equal(e->held, 2);
	assert_int_equal(e->joined, 2);
	assert_int_equal(e->held_dir[0], 1);
	assert_int_equal(e->held_dir[1], 1);
	assert_int_equal(e->h[0].key.sport, 443);
	assert_int_equal(e->h[0].key.family, 6);
	/* the VLAN 7 fragment stays held; at the end of the capture it goes port-less */
	assert_int_equal(flow_table_flush(ft, FLOW_END_SHUTDOWN), 2);
	assert_int_equal(e->held, 3);
	assert_int_equal(e->joined, 2);
	assert_int_equal(e->h[2].key.vlan[0], 7);
	assert_int_equal(e->h[2].key.sport, 0);
	flow_table_free(&ft);
	free(e);
}

/* IPv6 with a header after the fragment header (destination options, as AH would be): the
 * later fragments say 60 where the first, past that header, says TCP. Held or not, they join
 * the TCP connection, ports and protocol from the first. */
static void test_fragments_v6_header_after_fragment(void **state)
{
	struct ended *e = calloc(1, sizeof(*e));
	struct flow_table *ft = table(e, 0);
	struct pkt p;
	struct flow *f;
	int dir;
	const char *A = "2001:db8::1", *B = "2001:db8::2";
	int64_t t = 70 * SEC;
	mk_tcp(&p, A, B, 40001, 80, 1, SYN, 0);
	uint64_t id = track(ft, &p, t, &dir)->id;
	mk_tcp(&p, B, A, 80, 40001, 7, SYN | ACK, 0);
	track(ft, &p, t + 1, &dir);
	/* destination options (next header TCP, one 8-byte unit of padding), then the segment
	 */
	uint8_t dg[8 + 20 + 36] = {6, 0, 1, 4, 0, 0, 0, 0, 0x9c, 0x41, 0x00, 0x50};
	dg[8 + 12] = 5 << 4;
	dg[8 + 13] = PSH | ACK;
	for (int round = 0; round < 2; round++) {
		uint32_t fid = 0x5151u + (uint32_t)round;
		if (round == 0) { /* the later fragment first: held, then joined */
			mk_frag6(&p, A, B, 60, 32, 0, fid, dg + 32, sizeof(dg) - 32);
			assert_int_equal(p.d.proto, 60);
			assert_null(track(ft, &p, t + 2, &dir));
			assert_int_equal(dir, FLOW_DIR_HELD);
		}
		mk_frag6(&p, A, B, 60, 0, 1, fid, dg, 32);
		assert_int_equal(p.d.proto, 6);
		assert_true(p.d.flags & DECODE_F_L4);
		f = track(ft, &p, t + 3 + round, &dir);
		assert_int_equal(f->id, id);
		assert_int_equal(dir, 0);
		if (round == 1) { /* the first fragment first: the later one joins at once */
			mk_frag6(&p, A, B, 60, 32, 0, fid, dg + 32, sizeof(dg) - 32);
			assert_ptr_equal(track(ft, &p, t + 5, &dir), f);
			assert_int_equal(dir, 0);
		}
	}
	assert_int_equal(f->pkts[0], 5); /* SYN and both datagrams' two fragments */
	assert_int_equal(e->joined, 1);
	assert_int_equal(e->held_flow[0], id);
	assert_int_equal(e->h[0].key.proto, 6);
	assert_int_equal(e->h[0].key.dport, 80);
	/* one session: no protocol-60 flow beside it */
	assert_int_equal(flow_table_flush(ft, FLOW_END_SHUTDOWN), 1);
	flow_table_free(&ft);
	free(e);
}

/* Fragments that no first fragment claims: never more than FLOW_FRAGS_HOLD held (the
 * oldest goes first), each let go once, and a first fragment takes back only those still
 * held; the file they were written to can let go of its own. */
static void test_fragments_bounded(void **state)
{
	struct ended *e = calloc(1, sizeof(*e));
	struct flow_table *ft = table(e, 0);
	struct pkt p;
	int dir;
	uint8_t data[8] = {0};
	const long N = 3 * FLOW_FRAGS_HOLD;
	/* N datagrams' later fragments, whose firsts never come */
	for (long i = 0; i < N; i++) {
		mk_ip(&p, "10.3.0.1", "10.3.0.2", 17, data, 8, 0x0001, (uint16_t)i);
		assert_null(track(ft, &p, SEC + i, &dir));
		flow_table_tag_held(ft, (uint64_t)i);
		long out = i + 1 > FLOW_FRAGS_HOLD ? i + 1 - FLOW_FRAGS_HOLD : 0;
		assert_int_equal(e->held, out);
	}
	for (long i = 0; i < e->held; i++) {
		assert_int_equal(e->h[i].tag, (uint64_t)i); /* oldest first */
		assert_int_equal(e->h[i].joined, 0);
	}
	assert_int_equal(flow_table_flush(ft, FLOW_END_SHUTDOWN), 1);
	assert_int_equal(e->held, N);
	assert_int_equal(e->f[0].pkts[0], N); /* all in the port-less flow, none lost */
	assert_int_equal(e->f[0].key.sport, 0);

	/* N later fragments of one datagram (a flood of one id), then its first: the first
	 * takes back the FLOW_FRAGS_HOLD held last, in one walk of its chain */
	e->n = e->held = e->joined = 0;
	uint8_t udp[16] = {0x13, 0x88, 0x00, 0x35, 0, 24};
	for (long i = 0; i < N; i++) {
		mk_ip(&p, "10.3.0.1", "10.3.0.2", 17, data, 8, 0x2002, 9);
		assert_null(track(ft, &p, 10000 * SEC + i, &dir));
	}
	assert_int_equal(e->held, N - FLOW_FRAGS_HOLD);
	mk_ip(&p, "10.3.0.1", "10.3.0.2", 17, udp, 16, 0x2000, 9);
	struct flow *f = track(ft, &p, 10000 * SEC + N, &dir);
	assert_int_equal(f->pkts[0], FLOW_FRAGS_HOLD + 1);
	assert_int_equal(e->joined, FLOW_FRAGS_HOLD);
	assert_int_equal(e->held, N);

	/* a file finishing lets go of its own held fragments only */
	e->held = e->joined = 0;
	flow_table_set_file(ft, 21);
	mk_ip(&p, "10.3.0.1", "10.3.0.2", 17, data, 8, 0x0001, 1000);
	assert_null(track(ft, &p, 20000 * SEC, &dir));
	flow_table_set_file(ft, 22);
	mk_ip(&p, "10.3.0.1", "10.3.0.2", 17, data, 8, 0x0001, 1001);
	assert_null(track(ft, &p, 20000 * SEC + 1, &dir));
	assert_int_equal(flow_table_release_frags(ft, 21), 1);
	assert_int_equal(e->held, 1);
	assert_int_equal(e->h[0].file_id, 21);
	assert_int_equal(flow_table_release_frags(ft, FLOW_FILE_ANY), 1);
	assert_int_equal(e->h[1].file_id, 22);
	assert_int_equal(flow_table_release_frags(ft, FLOW_FILE_ANY), 0);
	flow_table_free(&ft);
	free(e);
}

/* The map alone, as a scan of a capture file uses it: held, joined, past its time,
 * released; without hold, nothing is held. */
static void test_frags_map(void **state)
{
	struct flow_frags *m;
	struct flow_frag_held h, hold = {.ts_ns = 5, .wirelen = 60, .tag = 777};
	struct pkt p;
	struct decode_key k;
	uint8_t udp[16] = {0x04, 0xd2, 0x00, 0x35, 0, 24};
	assert_int_equal(flow_frags_new(&m), 0);
	mk_ip(&p, "10.4.0.1", "10.4.0.2", 17, udp, 8, 0x0002, 1);
	assert_int_equal(decode_key_get(&p.d, &k), 0);
	assert_int_equal(flow_frags_ports(m, &p.d, 5, &k, NULL), 0); /* not held */
	assert_int_equal(flow_frags_ports(m, &p.d, 5, &k, &hold), 1);
	assert_int_equal(flow_frags_take(m, 5 + FLOW_FRAGS_HOLD_NS, &h), 0);
	mk_ip(&p, "10.4.0.1", "10.4.0.2", 17, udp, 16, 0x2000, 1);
	assert_int_equal(decode_key_get(&p.d, &k), 0);
	assert_int_equal(flow_frags_ports(m, &p.d, 6, &k, &hold), 0);
	assert_int_equal(flow_frags_take(m, 6, &h), 1);
	assert_int_equal(h.joined, 1);
	assert_int_equal(h.tag, 777);
	assert_int_equal(h.wirelen, 60);
	assert_int_equal(h.key.sport, 1234);
	assert_int_equal(h.key.dport, 53);
	assert_int_equal(flow_frags_take(m, 6, &h), 0);
	/* past its time */
	mk_ip(&p, "10.4.0.1", "10.4.0.2", 17, udp, 8, 0x0002, 2);
	assert_int_equal(decode_key_get(&p.d, &k), 0);
	assert_int_equal(flow_frags_ports(m, &p.d, 100, &k, &hold), 1);
	assert_int_equal(flow_frags_take(m, 100 + FLOW_FRAGS_HOLD_NS, &h), 0);
	assert_int_equal(flow_frags_take(m, 101 + FLOW_FRAGS_HOLD_NS, &h), 1);
	assert_int_equal(h.joined, 0);
	assert_int_equal(h.key.sport, 0);
	/* released (the end of a file), whatever the time */
	assert_int_equal(flow_frags_ports(m, &p.d, INT64_MAX, &k, &hold), 1);
	assert_int_equal(flow_frags_take(m, INT64_MIN, &h), 0);
	flow_frags_release(m, FLOW_FILE_ANY);
	assert_int_equal(flow_frags_take(m, INT64_MIN, &h), 1);
	assert_int_equal(flow_frags_take(m, INT64_MIN, &h), 0);
	flow_frags_free(&m);
	assert_null(m);
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
	    cmocka_unit_test(test_fragments_tail_first_v4),
	    cmocka_unit_test(test_fragments_other_file),
	    cmocka_unit_test(test_fragments_tail_first_v6),
	    cmocka_unit_test(test_fragments_v6_header_after_fragment),
	    cmocka_unit_test(test_fragments_bounded),
	    cmocka_unit_test(test_frags_map),
	    cmocka_unit_test(test_vlan),
	    cmocka_unit_test(test_eviction),
	    cmocka_unit_test(test_id_blocks),
	    cmocka_unit_test(test_longest_idle),
	    cmocka_unit_test(test_tshark_streams),
	    cmocka_unit_test(test_render),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The DNS wire codec: table-driven parse cases, exact response bytes, adapt and truncation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "dns/wire.h"

/* Append the dotted name as an uncompressed wire name; returns its length. */
static size_t wname(uint8_t *p, const char *name)
{
	size_t n = 0;
	const char *s = name;
	while (*s) {
		const char *dot = strchr(s, '.');
		size_t l = dot ? (size_t)(dot - s) : strlen(s);
		p[n++] = (uint8_t)l;
		memcpy(p + n, s, l);
		n += l;
		s += l + (dot ? 1 : 0);
	}
	p[n++] = 0;
	return n;
}

/* Build a query for name (dotted) and type; edns >= 0 adds an OPT with that size. */
static size_t mkquery(uint8_t *p, const char *name, uint16_t type, int edns, int do_bit)
{
	size_t n = 12;
	memset(p, 0, 12);
	p[0] = 0x12;
	p[1] = 0x34;
	p[2] = 0x01; /* RD */
	p[5] = 1;
	n += wname(p + n, name);
	p[n++] = (uint8_t)(type >> 8);
	p[n++] = (uint8_t)type;
	p[n++] = 0;
	p[n++] = 1;
	if (edns >= 0) {
		p[11] = 1;
		/* clang-format off */
		uint8_t opt[11] = {0, 0, 41, (uint8_t)(edns >> 8), (uint8_t)edns, 0, 0,
		                   (uint8_t)(do_bit ? 0x80 : 0), 0, 0, 0};
		/* clang-format on */
		memcpy(p + n, opt, 11);
		n += 11;
	}
	return n;
}

static void test_parse_ok(void **state)
{
	uint8_t p[512];
	struct dns_query q;
	size_t n = mkquery(p, "WWW.Evil.Example", DNS_T_AAAA, 4096, 1);
	assert_int_equal(dns_query_parse(p, n, &q), DNS_PARSE_OK);
	assert_string_equal(q.name, "www.evil.example");
	assert_int_equal(q.name_len, 16);
	assert_int_equal(q.qtype, DNS_T_AAAA);
	assert_int_equal(q.id, 0x1234);
	assert_true(q.edns);
	assert_int_equal(q.edns_size, 4096);
	assert_true(q.edns_do);
	assert_int_equal(dns_query_udp_limit(&q, 1232), 1232);
	/* original case kept for the answer */
	assert_memory_equal(q.qraw + 1, "WWW", 3);

	n = mkquery(p, "a.b", DNS_T_A, 100, 0); /* tiny EDNS size counts as 512 */
	assert_int_equal(dns_query_parse(p, n, &q), DNS_PARSE_OK);
	assert_int_equal(dns_query_udp_limit(&q, 1232), 512);
	n = mkquery(p, "", DNS_T_NS, -1, 0);
	assert_int_equal(dns_query_parse(p, n, &q), DNS_PARSE_OK);
	assert_string_equal(q.name, ".");
	assert_int_equal(dns_query_udp_limit(&q, 1232), 512);
	/* odd bytes are escaped in the text form */
	n = mkquery(p, "a b\\.x", DNS_T_A, -1, 0);
	assert_int_equal(dns_query_parse(p, n, &q), DNS_PARSE_OK);
	assert_string_equal(q.name, "a\\032b\\\\.x");
}

struct bad {
	const char *what;
	const uint8_t *pkt;
	size_t len;
	enum dns_parse want;
};

static const uint8_t hdr_only[] = {1, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0};
static const uint8_t response[] = {1, 2, 0x81, 0,   0, 1, 0, 0, 0, 0,
                                   0, 0, 1,    'a', 0, 0, 1, 0, 1};
static const uint8_t qd0[] = {1, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0};
static const uint8_t qd2[] = {1, 2, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 1, 'a', 0, 0, 1, 0, 1};
static const uint8_t notify[] = {1, 2, 0x20, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0, 0, 1, 0, 1};
static const uint8_t trunc_q[] = {1, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0, 0, 1, 0};
static const uint8_t trunc_label[] = {1, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 9, 'a', 'b'};
static const uint8_t self_ptr[] = {1, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1};
static const uint8_t fwd_ptr[] = {1, 2,    1,  0, 0,   1, 0, 0, 0, 0, 0,
                                  0, 0xc0, 14, 1, 'a', 0, 0, 1, 0, 1};
static const uint8_t hdr_ptr[] = {1, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 2, 0, 1, 0, 1};
static const uint8_t ext_label[] = {1, 2, 1,    0,   0, 1, 0, 0, 0, 0,
                                    0, 0, 0x41, 'a', 0, 0, 1, 0, 1};
static const uint8_t bad_an[] = {1, 2, 1, 0, 0, 1, 0, 5, 0, 0, 0, 0, 1, 'a', 0, 0, 1, 0, 1};
static const uint8_t opt_in_an[] = {1, 2, 1, 0, 0, 1, 0,  1,  0, 0, 0, 0, 1, 'a', 0,
                                    0, 1, 0, 1, 0, 0, 41, 16, 0, 0, 0, 0, 0, 0,   0};
static const uint8_t two_opt[] = {1, 2, 1, 0, 0,  1,  0, 0,  0,  0, 0, 2, 1, 'a',
                                  0, 0, 1, 0, 1,  0,  0, 41, 16, 0, 0, 0, 0, 0,
                                  0, 0, 0, 0, 41, 16, 0, 0,  0,  0, 0, 0, 0};
static const uint8_t edns_v1[] = {1, 2, 1, 0, 0, 1, 0,  0,  0, 0, 0, 1, 1, 'a', 0,
                                  0, 1, 0, 1, 0, 0, 41, 16, 0, 0, 1, 0, 0, 0,   0};
static const uint8_t opt_rdlen[] = {1, 2, 1, 0, 0, 1, 0,  0,  0, 0, 0, 1, 1, 'a', 0,
                                    0, 1, 0, 1, 0, 0, 41, 16, 0, 0, 0, 0, 0, 0,   9};

static const struct bad bads[] = {
    {"empty", hdr_only, 0, DNS_PARSE_DROP},
    {"short header", hdr_only, sizeof(hdr_only), DNS_PARSE_DROP},
    {"a response", response, sizeof(response), DNS_PARSE_DROP},
    {"no question", qd0, sizeof(qd0), DNS_PARSE_FORMERR},
    {"two questions", qd2, sizeof(qd2), DNS_PARSE_FORMERR},
    {"opcode NOTIFY", notify, sizeof(notify), DNS_PARSE_NOTIMP},
    {"truncated question", trunc_q, sizeof(trunc_q), DNS_PARSE_FORMERR},
    {"truncated label", trunc_label, sizeof(trunc_label), DNS_PARSE_FORMERR},
    {"pointer to itself", self_ptr, sizeof(self_ptr), DNS_PARSE_FORMERR},
    {"forward pointer", fwd_ptr, sizeof(fwd_ptr), DNS_PARSE_FORMERR},
    {"pointer into header", hdr_ptr, sizeof(hdr_ptr), DNS_PARSE_FORMERR},
    {"extended label type", ext_label, sizeof(ext_label), DNS_PARSE_FORMERR},
    {"answer count past the end", bad_an, sizeof(bad_an), DNS_PARSE_FORMERR},
    {"OPT in the answer section", opt_in_an, sizeof(opt_in_an), DNS_PARSE_FORMERR},
    {"two OPT records", two_opt, sizeof(two_opt), DNS_PARSE_FORMERR},
    {"EDNS version 1", edns_v1, sizeof(edns_v1), DNS_PARSE_BADVERS},
    {"OPT rdata past the end", opt_rdlen, sizeof(opt_rdlen), DNS_PARSE_FORMERR},
};

static void test_parse_bad(void **state)
{
	struct dns_query q;
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		enum dns_parse r = dns_query_parse(bads[i].pkt, bads[i].len, &q);
		if (r != bads[i].want)
			fail_msg("%s: got %d, want %d", bads[i].what, r, bads[i].want);
	}
}

static void test_long_names(void **state)
{
	uint8_t p[1024];
	struct dns_query q;
	/* 64-byte label */
	memset(p, 0, sizeof(p));
	p[2] = 1;
	p[5] = 1;
	p[12] = 64;
	memset(p + 13, 'a', 64);
	assert_int_equal(dns_query_parse(p, 13 + 64 + 5, &q), DNS_PARSE_FORMERR);
	/* 4 labels of 63 = 256 bytes on the wire: one too many */
	size_t n = 12;
	for (int i = 0; i < 4; i++) {
		p[n++] = 63;
		memset(p + n, 'b', 63);
		n += 63;
	}
	p[n++] = 0;
	p[n++] = 0;
	p[n++] = 1;
	p[n++] = 0;
	p[n++] = 1;
	assert_int_equal(dns_query_parse(p, n, &q), DNS_PARSE_FORMERR);
	/* a one-letter name after those still parses */
	n = 12;
	p[n++] = 1;
	p[n++] = 'x';
	p[n++] = 0;
	p[n++] = 0;
	p[n++] = 1;
	p[n++] = 0;
	p[n++] = 1;
	assert_int_equal(dns_query_parse(p, n, &q), DNS_PARSE_OK);
}

static void test_sinkhole_bytes(void **state)
{
	uint8_t p[512], out[512];
	struct dns_query q;
	size_t n = mkquery(p, "Evil.Example", DNS_T_A, -1, 0);
	assert_int_equal(dns_query_parse(p, n, &q), DNS_PARSE_OK);
	const uint8_t addr[16] = {127, 66, 0, 7};
	size_t r = dns_resp_sinkhole(&q, addr, 300, 1232, out, sizeof(out));
	const uint8_t want[] = {0x12, 0x34, 0x85, 0x80, 0,   1, 0,    1,   0,   0,   0,   0,
	                        4,    'E',  'v',  'i',  'l', 7, 'E',  'x', 'a', 'm', 'p', 'l',
	                        'e',  0,    0,    1,    0,   1, 0xc0, 12,  0,   1,   0,   1,
	                        0,    0,    1,    0x2c, 0,   4, 127,  66,  0,   7};
	assert_int_equal(r, sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
	struct dns_msg m;
	assert_int_equal(dns_msg_walk(out, r, &m), 0);
	assert_int_equal(m.min_ttl, 300);

	/* NODATA with SOA, and the OPT echoing DO when the query had EDNS */
	n = mkquery(p, "evil.example", DNS_T_MX, 1232, 1);
	assert_int_equal(dns_query_parse(p, n, &q), DNS_PARSE_OK);
	r = dns_resp_sinkhole(&q, NULL, 60, 1232, out, sizeof(out));
	assert_int_equal(dns_msg_walk(out, r, &m), 0);
	assert_int_equal(m.ancount, 0);
	assert_int_equal(m.nscount, 1);
	assert_int_equal(m.arcount, 1);
	assert_int_equal(m.min_ttl, 60); /* the negative TTL */
	assert_int_not_equal(m.opt_start, 0);
	assert_int_equal(out[m.opt_start + 7] & 0x80, 0x80);
}

static void test_errors(void **state)
{
	uint8_t out[512];
	struct dns_query q;
	assert_int_equal(dns_query_parse(qd2, sizeof(qd2), &q), DNS_PARSE_FORMERR);
	size_t r = dns_resp_empty(&q, DNS_R_FORMERR, 0, 1232, out, sizeof(out));
	assert_int_equal(r, 12);
	assert_int_equal(out[3] & 0xf, DNS_R_FORMERR);
	assert_int_equal(out[2] & 0x80, 0x80);
	assert_int_equal(dns_query_parse(edns_v1, sizeof(edns_v1), &q), DNS_PARSE_BADVERS);
	r = dns_resp_empty(&q, DNS_R_BADVERS, 0, 1232, out, sizeof(out));
	struct dns_msg m;
	assert_int_equal(dns_msg_walk(out, r, &m), 0);
	assert_int_equal(m.rcode, DNS_R_BADVERS);
}

/* An upstream answer with n A records for the question of p. */
static size_t mkanswer(uint8_t *a, const uint8_t *p, size_t qlen, int n, uint32_t ttl, int opt)
{
	memcpy(a, p, qlen);
	a[2] |= 0x80;
	a[3] = 0x80;
	a[6] = 0;
	a[7] = (uint8_t)n;
	a[11] = opt ? 1 : 0;
	size_t off = qlen;
	for (int i = 0; i < n; i++) {
		/* clang-format off */
		uint8_t rr[16] = {0xc0, 12, 0, 1, 0, 1, (uint8_t)(ttl >> 24), (uint8_t)(ttl >> 16),
		                  (uint8_t)(ttl >> 8), (uint8_t)ttl, 0, 4, 192, 0, 2, (uint8_t)i};
		/* clang-format on */
		memcpy(a + off, rr, 16);
		off += 16;
	}
	if (opt) {
		uint8_t o[11] = {0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0};
		memcpy(a + off, o, 11);
		off += 11;
	}
	return off;
}

static void test_adapt(void **state)
{
	uint8_t p[512], up[4096];
	struct dns_query q, q0;
	struct dns_msg m;
	/* upstream got our lowercased query; the client asked in mixed case, no EDNS */
	size_t ql = mkquery(p, "Big.Example", DNS_T_A, -1, 0);
	assert_int_equal(dns_query_parse(p, ql, &q), DNS_PARSE_OK);
	uint8_t lower[512];
	size_t ll = mkquery(lower, "big.example", DNS_T_A, -1, 0);
	assert_int_equal(dns_query_parse(lower, ll, &q0), DNS_PARSE_OK);

	/* 40 records = 29 + 640 bytes > 512: truncated with TC */
	size_t n = mkanswer(up, lower, ll, 40, 100, 1);
	assert_int_equal(dns_msg_walk(up, n, &m), 0);
	assert_int_equal(m.min_ttl, 100);
	size_t r =
	    dns_resp_adapt(&q, &m, up, n, sizeof(up), dns_query_udp_limit(&q, 1232), 1232);
	assert_int_equal(r, ql);
	assert_int_equal(up[2] & 0x02, 0x02);          /* TC */
	assert_memory_equal(up + 12, p + 12, ql - 12); /* the client's spelling */
	assert_int_equal(dns_msg_walk(up, r, &m), 0);
	assert_int_equal(m.ancount, 0);

	/* the same over TCP (no limit): everything, the upstream OPT removed */
	n = mkanswer(up, lower, ll, 40, 100, 1);
	assert_int_equal(dns_msg_walk(up, n, &m), 0);
	r = dns_resp_adapt(&q, &m, up, n, sizeof(up), 65535, 1232);
	assert_int_equal(r, n - 11);
	assert_int_equal(dns_msg_walk(up, r, &m), 0);
	assert_int_equal(m.ancount, 40);
	assert_int_equal(m.arcount, 0);
	assert_int_equal(up[2] & 0x02, 0);

	/* aging lowers every TTL, never below zero */
	n = mkanswer(up, lower, ll, 3, 100, 0);
	dns_msg_age(up, n, 30);
	assert_int_equal(dns_msg_walk(up, n, &m), 0);
	assert_int_equal(m.min_ttl, 70);
	dns_msg_age(up, n, 1000);
	assert_int_equal(dns_msg_walk(up, n, &m), 0);
	assert_int_equal(m.min_ttl, 0);
}

/* A negative answer behind an alias: kept for the SOA's negative TTL, not
 * the alias's (RFC 2308); an NXDOMAIN without a SOA is not kept at all. */
static void test_negative_ttl_after_cname(void **state)
{
	(void)state;
	static const uint8_t head[] = {
	    0x12, 0x34, 0x81, 0x83, 0, 1, 0, 1, 0, 1, 0, 0, /* NXDOMAIN, an: 1, ns: 1 */
	    1, 'a', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1,
	    /* a.example CNAME gone.example, TTL 3600 */
	    0xc0, 12, 0, 5, 0, 1, 0, 0, 0x0e, 0x10, 0, 14, 4, 'g', 'o', 'n', 'e', 7, 'e', 'x',
	    'a', 'm', 'p', 'l', 'e', 0,
	    /* example SOA . . 1 2 3 4 5, TTL 600: negative TTL 5 */
	    0xc0, 14, 0, 6, 0, 1, 0, 0, 0x02, 0x58, 0, 22, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0,
	    0, 3, 0, 0, 0, 4, 0, 0, 0, 5};
	uint8_t pkt[sizeof(head)];
	struct dns_msg m;
	memcpy(pkt, head, sizeof(pkt));
	assert_int_equal(dns_msg_walk(pkt, sizeof(pkt), &m), 0);
	assert_int_equal(m.min_ttl, 5);
	pkt[3] = 0x80; /* NOERROR: NODATA after the alias */
	assert_int_equal(dns_msg_walk(pkt, sizeof(pkt), &m), 0);
	assert_int_equal(m.min_ttl, 5);
	/* an alias shorter-lived than the negative TTL: the alias's */
	pkt[3] = 0x83;
	pkt[35] = 0;
	pkt[36] = 3; /* CNAME TTL 3 */
	assert_int_equal(dns_msg_walk(pkt, sizeof(pkt), &m), 0);
	assert_int_equal(m.min_ttl, 3);
	pkt[35] = 0x0e;
	pkt[36] = 0x10;
	pkt[3] = 0x83;
	pkt[9] = 0; /* NXDOMAIN without its SOA (ns: 0, the SOA bytes left over) */
	assert_int_equal(dns_msg_walk(pkt, sizeof(pkt) - 34, &m), 0);
	assert_int_equal(m.min_ttl, UINT32_MAX);
	pkt[3] = 0x80; /* a positive answer: the alias's own TTL */
	assert_int_equal(dns_msg_walk(pkt, sizeof(pkt) - 34, &m), 0);
	assert_int_equal(m.min_ttl, 3600);
}

static void test_forward_query(void **state)
{
	uint8_t p[512], out[512];
	struct dns_query q, q2;
	size_t n = mkquery(p, "MiXeD.example", DNS_T_TXT, 4096, 1);
	assert_int_equal(dns_query_parse(p, n, &q), DNS_PARSE_OK);
	size_t r = dns_query_build(&q, 0xbeef, 1232, out, sizeof(out));
	assert_int_equal(dns_query_parse(out, r, &q2), DNS_PARSE_OK);
	assert_int_equal(q2.id, 0xbeef);
	assert_memory_equal(q2.qraw + 1, "mixed", 5);
	assert_true(q2.edns);
	assert_true(q2.edns_do);
	assert_int_equal(q2.edns_size, 1232);
}

/* One record at p + off: owner (a wire name, or a 2-byte pointer), type, ttl, rdata. */
static size_t rec(uint8_t *p, size_t off, const uint8_t *owner, size_t olen, uint16_t type,
                  uint32_t ttl, const uint8_t *rd, size_t rdlen)
{
	memcpy(p + off, owner, olen);
	off += olen;
	uint8_t h[10] = {(uint8_t)(type >> 8),
	                 (uint8_t)type,
	                 0,
	                 1,
	                 (uint8_t)(ttl >> 24),
	                 (uint8_t)(ttl >> 16),
	                 (uint8_t)(ttl >> 8),
	                 (uint8_t)ttl,
	                 (uint8_t)(rdlen >> 8),
	                 (uint8_t)rdlen};
	memcpy(p + off, h, 10);
	memcpy(p + off + 10, rd, rdlen);
	return off + 10 + rdlen;
}

/* An upstream answer: question, then the CNAME chain the tests below walk. */
static size_t mkchain(uint8_t *up, int loop)
{
	size_t n = mkquery(up, "www.legit.example", DNS_T_A, -1, 0);
	up[2] = 0x81;
	up[3] = 0x80;
	uint8_t qptr[2] = {0xc0, 12}, t1[256], t2[256], other[256], x[256];
	size_t l1 = wname(t1, "CDN.Alias.example"), l2 = wname(t2, "c2.EVIL.example");
	size_t lo = wname(other, "other.example"), lx = wname(x, "x.example");
	/* a record outside the chain first: it must not be followed */
	n = rec(up, n, other, lo, DNS_T_CNAME, 5, x, lx);
	size_t first = n;
	n = rec(up, n, qptr, 2, DNS_T_CNAME, 600, t1, l1);
	/* the second link's owner is a pointer to the first link's target */
	uint16_t t1off = (uint16_t)(first + 2 + 10);
	uint8_t p1[2] = {(uint8_t)(0xc0 | t1off >> 8), (uint8_t)t1off};
	if (loop) {
		/* cdn.alias.example CNAME www.legit.example: back to the question */
		uint8_t q[256];
		size_t lq = wname(q, "www.legit.example");
		n = rec(up, n, p1, 2, DNS_T_CNAME, 60, q, lq);
		up[7] = 2;
		return n;
	}
	n = rec(up, n, p1, 2, DNS_T_CNAME, 60, t2, l2);
	uint8_t a[4] = {192, 0, 2, 1};
	n = rec(up, n, t2, l2, DNS_T_A, 30, a, 4);
	up[7] = 4;
	return n;
}

static void test_cname_chain(void **state)
{
	uint8_t up[1024], p[512], out[1024];
	struct dns_msg m;
	struct dns_chain c;
	size_t n = mkchain(up, 0);
	assert_int_equal(dns_msg_walk(up, n, &m), 0);
	assert_int_equal(dns_msg_chain(up, n, &m, &c), 2);
	char t[DNS_NAME_TEXT_MAX];
	assert_true(dns_name_to_text(c.name[0], c.len[0], t, sizeof(t)) > 0);
	assert_string_equal(t, "cdn.alias.example");
	assert_true(dns_name_to_text(c.name[1], c.len[1], t, sizeof(t)) > 0);
	assert_string_equal(t, "c2.evil.example");
	assert_int_equal(c.ttl[0], 600);
	assert_int_equal(c.ttl[1], 60);

	/* a loop ends the chain where it comes back */
	n = mkchain(up, 1);
	assert_int_equal(dns_msg_walk(up, n, &m), 0);
	assert_int_equal(dns_msg_chain(up, n, &m, &c), 1);

	/* no CNAME owned by the question: no chain */
	n = mkanswer(up, p, mkquery(p, "big.example", DNS_T_A, -1, 0), 3, 100, 0);
	assert_int_equal(dns_msg_walk(up, n, &m), 0);
	assert_int_equal(dns_msg_chain(up, n, &m, &c), 0);

	/* The answer for the listed second link: both CNAMEs, then its A. */
	n = mkchain(up, 0);
	assert_int_equal(dns_msg_walk(up, n, &m), 0);
	assert_int_equal(dns_msg_chain(up, n, &m, &c), 2);
	struct dns_query q;
	size_t ql = mkquery(p, "WWW.legit.Example", DNS_T_A, 1232, 0);
	assert_int_equal(dns_query_parse(p, ql, &q), DNS_PARSE_OK);
	static const uint8_t addr[4] = {127, 66, 0, 9};
	size_t r = dns_resp_sinkhole_chain(&q, &c, 1, addr, 300, 1232, out, sizeof(out));
	assert_true(r > 0);
	struct dns_msg rm;
	struct dns_chain rc;
	assert_int_equal(dns_msg_walk(out, r, &rm), 0);
	assert_int_equal(rm.ancount, 3);
	assert_int_equal(rm.nscount, 0);
	assert_int_equal(rm.arcount, 1); /* OPT: the client sent EDNS */
	assert_int_equal(rm.rcode, DNS_R_NOERROR);
	assert_memory_equal(out + 12, p + 12, q.qraw_len); /* the client's spelling */
	assert_int_equal(dns_msg_chain(out, r, &rm, &rc), 2);
	assert_int_equal(rc.ttl[0], 300); /* capped at the sinkhole TTL */
	assert_int_equal(rc.ttl[1], 60);
	assert_memory_equal(rc.name[1], c.name[1], c.len[1]);
	/* the last record: A 127.66.0.9 owned by c2.evil.example */
	assert_memory_equal(out + rm.opt_start - 4, addr, 4);
	assert_memory_equal(out + rm.opt_start - 14 - c.len[1], c.name[1], c.len[1]);

	/* NODATA for another type: the chain, then the SOA in the authority section */
	ql = mkquery(p, "www.legit.example", DNS_T_MX, -1, 0);
	assert_int_equal(dns_query_parse(p, ql, &q), DNS_PARSE_OK);
	r = dns_resp_sinkhole_chain(&q, &c, 0, NULL, 300, 1232, out, sizeof(out));
	assert_int_equal(dns_msg_walk(out, r, &rm), 0);
	assert_int_equal(rm.ancount, 1);
	assert_int_equal(rm.nscount, 1);
	assert_int_equal(rm.arcount, 0);
	assert_int_equal(rm.min_ttl, 300);

	/* too small a buffer, or a link the chain does not have: nothing */
	assert_int_equal(dns_resp_sinkhole_chain(&q, &c, 0, NULL, 300, 1232, out, 60), 0);
	assert_int_equal(dns_resp_sinkhole_chain(&q, &c, 2, NULL, 300, 1232, out, sizeof(out)),
	                 0);
}

/*
 * A compression pointer must lead to a name wholly before it: here the owner
 * of the second record points back into the first record's rdata, and the
 * label there runs over the pointer itself into the type field that follows.
 */
static void test_pointer_reads_forward(void **state)
{
	/* clang-format off */
	uint8_t msg[] = {
	    0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0,
	    0, 0, 1, 0, 1,                                /* question: ". A IN" (12..16) */
	    0, 0, 16, 0, 1, 0, 0, 0, 60, 0, 4,            /* ". TXT", rdata at 28 */
	    6, 'a', 'b', 'c',                             /* a 6-byte label from 28 */
	    0xc0, 28, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4,       /* owner: pointer (32) to 28 */
	    192, 0, 2, 1};
	/* clang-format on */
	struct dns_msg m;
	assert_int_equal(dns_msg_walk(msg, sizeof(msg), &m), -1);
	/* the same label ending before the pointer is a prior name: accepted */
	msg[28] = 3;
	assert_int_equal(msg[32], 0xc0);
	uint8_t fixed[sizeof(msg) + 1];
	memcpy(fixed, msg, 32);
	fixed[32] = 0; /* the label "abc", then the root: "abc." */
	memcpy(fixed + 33, msg + 32, sizeof(msg) - 32);
	fixed[27] = 5; /* rdlen */
	assert_int_equal(dns_msg_walk(fixed, sizeof(fixed), &m), 0);
	assert_int_equal(m.ancount, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_ok),
	    cmocka_unit_test(test_parse_bad),
	    cmocka_unit_test(test_long_names),
	    cmocka_unit_test(test_sinkhole_bytes),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_adapt),
	    cmocka_unit_test(test_negative_ttl_after_cname),
	    cmocka_unit_test(test_forward_query),
	    cmocka_unit_test(test_cname_chain),
	    cmocka_unit_test(test_pointer_reads_forward),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

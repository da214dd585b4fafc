/* The forwarder's cache: TTLs honoured, aging, bounds, what is not cached. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "dns/cache.h"

static size_t mk(uint8_t *p, const char *label, uint16_t type, uint8_t rcode, uint32_t ttl,
                 int answer)
{
	size_t l = strlen(label), n = 12;
	memset(p, 0, 12);
	p[2] = 0x81;
	p[3] = (uint8_t)(0x80 | rcode);
	p[5] = 1;
	p[7] = answer ? 1 : 0;
	p[n++] = (uint8_t)l;
	memcpy(p + n, label, l);
	n += l;
	memcpy(p + n, "\7example\0", 9);
	n += 9;
	p[n++] = (uint8_t)(type >> 8);
	p[n++] = (uint8_t)type;
	p[n++] = 0;
	p[n++] = 1;
	if (answer) {
		/* clang-format off */
		uint8_t rr[16] = {0xc0, 12, 0, 1, 0, 1, (uint8_t)(ttl >> 24), (uint8_t)(ttl >> 16),
		                  (uint8_t)(ttl >> 8), (uint8_t)ttl, 0, 4, 10, 0, 0, 1};
		/* clang-format on */
		memcpy(p + n, rr, 16);
		n += 16;
	}
	return n;
}

static void query_of(const uint8_t *resp, size_t n, struct dns_query *q)
{
	uint8_t p[512];
	memcpy(p, resp, n);
	p[2] &= 0x7f; /* a query again */
	p[7] = 0;
	assert_int_equal(dns_query_parse(p, n > 512 ? 512 : n, q), DNS_PARSE_OK);
}

static void test_hit_and_age(void **state)
{
	struct dns_cache *c = dns_cache_new(100, 1 << 20, 86400);
	uint8_t r[512], out[512];
	struct dns_msg m;
	struct dns_query q;
	size_t n = mk(r, "www", DNS_T_A, 0, 60, 1);
	assert_int_equal(dns_msg_walk(r, n, &m), 0);
	query_of(r, n, &q);
	dns_cache_put(c, &q, r, n, &m, 1000);
	assert_int_equal(dns_cache_get(c, &q, 1000 + 10500, out, sizeof(out), &m), n);
	assert_int_equal(m.min_ttl, 50); /* 10.5 s later: 10 s older */
	assert_int_equal(dns_cache_get(c, &q, 1000 + 60000, out, sizeof(out), &m), 0);
	assert_int_equal(dns_cache_entries(c), 0); /* expired entries go */
	dns_cache_free(&c);
}

static void test_not_cached(void **state)
{
	struct dns_cache *c = dns_cache_new(100, 1 << 20, 86400);
	uint8_t r[512], out[512];
	struct dns_msg m;
	struct dns_query q;
	size_t n = mk(r, "sf", DNS_T_A, DNS_R_SERVFAIL, 60, 0);
	dns_msg_walk(r, n, &m);
	query_of(r, n, &q);
	dns_cache_put(c, &q, r, n, &m, 0);
	n = mk(r, "zero", DNS_T_A, 0, 0, 1);
	dns_msg_walk(r, n, &m);
	query_of(r, n, &q);
	dns_cache_put(c, &q, r, n, &m, 0);
	n = mk(r, "nosoa", DNS_T_A, DNS_R_NXDOMAIN, 0, 0); /* no SOA: no negative TTL */
	dns_msg_walk(r, n, &m);
	query_of(r, n, &q);
	dns_cache_put(c, &q, r, n, &m, 0);
	n = mk(r, "tc", DNS_T_A, 0, 60, 1);
	r[2] |= 0x02;
	dns_msg_walk(r, n, &m);
	query_of(r, n, &q);
	dns_cache_put(c, &q, r, n, &m, 0);
	assert_int_equal(dns_cache_entries(c), 0);
	(void)out;
	dns_cache_free(&c);
}

static void test_bounds_and_case(void **state)
{
	struct dns_cache *c = dns_cache_new(3, 1 << 20, 30);
	uint8_t r[512], out[512];
	struct dns_msg m;
	struct dns_query q;
	const char *names[] = {"a", "b", "c", "d"};
	for (int i = 0; i < 4; i++) {
		size_t n = mk(r, names[i], DNS_T_A, 0, 3600, 1);
		dns_msg_walk(r, n, &m);
		query_of(r, n, &q);
		dns_cache_put(c, &q, r, n, &m, 0);
	}
	assert_int_equal(dns_cache_entries(c), 3);
	size_t n = mk(r, "A", DNS_T_A, 0, 3600, 1); /* evicted: least recently used */
	query_of(r, n, &q);
	assert_int_equal(dns_cache_get(c, &q, 0, out, sizeof(out), &m), 0);
	n = mk(r, "D", DNS_T_A, 0, 3600, 1); /* case does not matter */
	query_of(r, n, &q);
	assert_int_not_equal(dns_cache_get(c, &q, 0, out, sizeof(out), &m), 0);
	/* max_ttl caps the lifetime */
	assert_int_equal(dns_cache_get(c, &q, 31000, out, sizeof(out), &m), 0);
	/* another type is another entry */
	n = mk(r, "b", DNS_T_AAAA, 0, 3600, 1);
	query_of(r, n, &q);
	assert_int_equal(dns_cache_get(c, &q, 0, out, sizeof(out), &m), 0);
	dns_cache_free(&c);
}

/* A negative answer (no answer records) with the zone's SOA in authority. */
static size_t mk_neg(uint8_t *p, const char *label, uint8_t rcode, uint32_t ttl,
                     uint32_t minimum)
{
	size_t n = mk(p, label, DNS_T_A, rcode, 0, 0);
	p[9] = 1; /* ns: 1 */
	/* clang-format off */
	uint8_t soa[] = {0xc0, (uint8_t)(12 + 1 + strlen(label)), 0, 6, 0, 1,
	                 (uint8_t)(ttl >> 24), (uint8_t)(ttl >> 16), (uint8_t)(ttl >> 8),
	                 (uint8_t)ttl, 0, 22, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0,
	                 0, 4, (uint8_t)(minimum >> 24), (uint8_t)(minimum >> 16),
	                 (uint8_t)(minimum >> 8), (uint8_t)minimum};
	/* clang-format on */
	memcpy(p + n, soa, sizeof(soa));
	return n + sizeof(soa);
}

static int cached(struct dns_cache *c, const uint8_t *r, size_t n, int64_t at)
{
	uint8_t out[512];
	struct dns_msg m;
	struct dns_query q;
	query_of(r, n, &q);
	return dns_cache_get(c, &q, at, out, sizeof(out), &m) != 0;
}

/* A TTL with its top bit set is 0 (RFC 2181 section 8): not kept, not kept for
 * max_ttl; a negative answer is kept 3 hours at most, whatever its SOA says. */
static void test_ttl_top_bit_and_negative_cap(void **state)
{
	(void)state;
	struct dns_cache *c = dns_cache_new(100, 1 << 20, 86400);
	uint8_t r[512];
	struct dns_msg m;
	struct dns_query q;
	const struct {
		const char *label;
		uint32_t ttl;
		int kept;
	} pos[] = {{"top", 0x80000000u, 0}, {"all", 0xffffffffu, 0}, {"max", 0x7fffffffu, 1}};
	for (size_t i = 0; i < sizeof(pos) / sizeof(pos[0]); i++) {
		size_t n = mk(r, pos[i].label, DNS_T_A, 0, pos[i].ttl, 1);
		assert_int_equal(dns_msg_walk(r, n, &m), 0);
		assert_int_equal(m.min_ttl, pos[i].kept ? pos[i].ttl : 0);
		query_of(r, n, &q);
		dns_cache_put(c, &q, r, n, &m, 0);
		assert_int_equal(cached(c, r, n, 1000), pos[i].kept);
	}
	const struct {
		const char *label;
		uint8_t rcode;
		uint32_t ttl, minimum, life; /* seconds kept */
	} neg[] = {
	    {"nx", DNS_R_NXDOMAIN, 86400, 86400, 10800},     /* capped */
	    {"nodata", DNS_R_NOERROR, 86400, 86400, 10800},  /* capped */
	    {"short", DNS_R_NXDOMAIN, 86400, 600, 600},      /* the SOA's own */
	    {"topttl", DNS_R_NXDOMAIN, 0x80000001u, 600, 0}, /* SOA TTL read as 0 */
	    {"topmin", DNS_R_NXDOMAIN, 600, 0xfffffff0u, 0}, /* SOA minimum read as 0 */
	};
	for (size_t i = 0; i < sizeof(neg) / sizeof(neg[0]); i++) {
		size_t n = mk_neg(r, neg[i].label, neg[i].rcode, neg[i].ttl, neg[i].minimum);
		assert_int_equal(dns_msg_walk(r, n, &m), 0);
		assert_int_equal(m.min_ttl, neg[i].life);
		query_of(r, n, &q);
		dns_cache_put(c, &q, r, n, &m, 0);
		if (neg[i].life == 0) {
			assert_false(cached(c, r, n, 0));
			continue;
		}
		assert_true(cached(c, r, n, (int64_t)neg[i].life * 1000 - 1));
		assert_false(cached(c, r, n, (int64_t)neg[i].life * 1000));
	}
	dns_cache_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_hit_and_age),
	                                   cmocka_unit_test(test_not_cached),
	                                   cmocka_unit_test(test_bounds_and_case),
	                                   cmocka_unit_test(test_ttl_top_bit_and_negative_cap)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

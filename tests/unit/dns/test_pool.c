/*
 * Sinkhole address pool: stable addresses, LRU recycling, restore, the
 * reverse map, one-address pools, IPv6 caps and skipped IPv4 addresses.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dns/pool.h"

static struct prefix pfx(const char *addr, int bits)
{
	struct prefix p;

	memset(&p, 0, sizeof(p));
	p.bits = bits;
	if (inet_pton(AF_INET, addr, p.addr) == 1) {
		p.family = AF_INET;
	} else {
		assert_int_equal(inet_pton(AF_INET6, addr, p.addr), 1);
		p.family = AF_INET6;
	}
	return p;
}

/* addr as text, for comparisons with a readable failure. */
static const char *fmt(int family, const uint8_t a[16], char *buf)
{
	return inet_ntop(family, a, buf, INET6_ADDRSTRLEN);
}

static void assert_addr(int family, const uint8_t a[16], const char *want)
{
	char buf[INET6_ADDRSTRLEN];

	assert_string_equal(fmt(family, a, buf), want);
}

static void addr_of(const char *text, uint8_t a[16])
{
	memset(a, 0, 16);
	if (inet_pton(AF_INET, text, a) != 1)
		assert_int_equal(inet_pton(AF_INET6, text, a), 1);
}

static void test_stable_address(void **state)
{
	struct prefix p4 = pfx("10.66.0.0", 16);
	struct pool *p = pool_new(&p4, 1000);
	uint8_t a[16], b[16];
	char ev[64];

	(void)state;
	assert_non_null(p);
	assert_int_equal(pool_capacity(p), 1000);
	assert_int_equal(pool_single(p), 0);
	assert_int_equal(pool_get(p, "evil.example", 1, a, ev, sizeof(ev)), POOL_NEW);
	assert_string_equal(ev, "");
	/* the network address 10.66.0.0 is skipped */
	assert_addr(AF_INET, a, "10.66.0.1");
	assert_int_equal(a[4] | a[15], 0);
	assert_int_equal(pool_get(p, "evil.example", 2, b, NULL, 0), POOL_EXISTING);
	assert_memory_equal(a, b, 16);
	assert_int_equal(pool_get(p, "other.example", 3, b, NULL, 0), POOL_NEW);
	assert_addr(AF_INET, b, "10.66.0.2");
	assert_int_equal(pool_get(p, "evil.example", 4, b, NULL, 0), POOL_EXISTING);
	assert_memory_equal(a, b, 16);
	assert_int_equal(pool_used(p), 2);
	pool_free(&p);
	assert_null(p);
	pool_free(&p);
}

static void test_distinct_addresses(void **state)
{
	struct prefix p4 = pfx("127.66.0.0", 16);
	struct pool *p = pool_new(&p4, 70000);
	static uint8_t seen[65536 / 8];
	uint8_t a[16];
	char name[64];
	int i;

	(void)state;
	/* a /16 holds 65,534 usable addresses, fewer than max_entries */
	assert_int_equal(pool_capacity(p), 65534);
	for (i = 0; i < 65534; i++) {
		unsigned idx;

		snprintf(name, sizeof(name), "host%d.example", i);
		assert_int_equal(pool_get(p, name, i, a, NULL, 0), POOL_NEW);
		assert_int_equal(a[0], 127);
		assert_int_equal(a[1], 66);
		idx = (unsigned)a[2] << 8 | a[3];
		assert_true(idx != 0 && idx != 65535); /* network, broadcast */
		assert_false(seen[idx / 8] & (1u << (idx % 8)));
		seen[idx / 8] |= (uint8_t)(1u << (idx % 8));
		assert_string_equal(pool_name_of(p, a), name);
	}
	assert_int_equal(pool_used(p), 65534);
	/* everything mapped: the next name recycles the oldest, host0 */
	assert_int_equal(pool_get(p, "late.example", 99999, a, name, sizeof(name)),
	                 POOL_RECYCLED);
	assert_string_equal(name, "host0.example");
	assert_addr(AF_INET, a, "127.66.0.1");
	pool_free(&p);
}

static void test_lru_recycling(void **state)
{
	struct prefix p4 = pfx("192.0.2.0", 29); /* .1 to .6 usable */
	struct pool *p = pool_new(&p4, 100);
	uint8_t a[16], a2[16];
	char name[32], ev[64];
	int i;

	(void)state;
	assert_int_equal(pool_capacity(p), 6);
	for (i = 1; i <= 6; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		assert_int_equal(pool_get(p, name, i, a, NULL, 0), POOL_NEW);
	}
	/* n1 is used again: n2 becomes the least recently used */
	assert_int_equal(pool_get(p, "n1", 7, a, NULL, 0), POOL_EXISTING);
	/* recency is the order of use, whatever the time given */
	assert_int_equal(pool_get(p, "n2", 0, a2, NULL, 0), POOL_EXISTING);
	assert_int_equal(pool_get(p, "fresh", 8, a, ev, sizeof(ev)), POOL_RECYCLED);
	assert_string_equal(ev, "n3");
	assert_addr(AF_INET, a, "192.0.2.3");
	assert_string_equal(pool_name_of(p, a), "fresh");
	/* the evicted name comes back and takes the next oldest, n4 */
	assert_int_equal(pool_get(p, "n3", 9, a, ev, sizeof(ev)), POOL_RECYCLED);
	assert_string_equal(ev, "n4");
	assert_addr(AF_INET, a, "192.0.2.4");
	/* a short buffer gets a truncated, terminated name */
	assert_int_equal(pool_get(p, "another", 10, a, ev, 3), POOL_RECYCLED);
	assert_string_equal(ev, "n5");
	assert_int_equal(pool_get(p, "more", 11, a, ev, 2), POOL_RECYCLED);
	assert_string_equal(ev, "n");
	assert_int_equal(pool_used(p), 6);
	pool_free(&p);
}

static void test_restore(void **state)
{
	struct prefix p4 = pfx("10.0.0.0", 24);
	struct pool *p = pool_new(&p4, 254);
	uint8_t a[16];
	char ev[64];

	(void)state;
	addr_of("10.0.0.10", a);
	assert_int_equal(pool_restore(p, "a.example", a, 5), 0);
	assert_int_equal(pool_restore(p, "other.example", a, 5), -1); /* address taken */
	addr_of("10.0.0.11", a);
	assert_int_equal(pool_restore(p, "a.example", a, 5), -1); /* name mapped */
	addr_of("10.0.1.10", a);
	assert_int_equal(pool_restore(p, "b.example", a, 5), -1); /* outside */
	addr_of("10.0.0.0", a);
	assert_int_equal(pool_restore(p, "b.example", a, 5), -1); /* network */
	addr_of("10.0.0.255", a);
	assert_int_equal(pool_restore(p, "b.example", a, 5), -1); /* broadcast */
	addr_of("10.0.0.1", a);
	assert_int_equal(pool_restore(p, "b.example", a, 1), 0);
	assert_int_equal(pool_used(p), 2);

	assert_int_equal(pool_get(p, "a.example", 6, a, NULL, 0), POOL_EXISTING);
	assert_addr(AF_INET, a, "10.0.0.10");
	assert_string_equal(pool_name_of(p, a), "a.example");
	/* .1 is taken by the restore: new names go around it */
	assert_int_equal(pool_get(p, "c.example", 7, a, ev, sizeof(ev)), POOL_NEW);
	assert_addr(AF_INET, a, "10.0.0.2");
	pool_free(&p);
}

/* Restores arrive in any order; recycling follows their last use. */
static void test_restore_lru_order(void **state)
{
	struct prefix p4 = pfx("10.0.0.0", 29);
	struct pool *p = pool_new(&p4, 3); /* .1 .2 .3 */
	uint8_t a[16];
	char ev[64];

	(void)state;
	addr_of("10.0.0.1", a);
	assert_int_equal(pool_restore(p, "mid", a, 50), 0);
	addr_of("10.0.0.2", a);
	assert_int_equal(pool_restore(p, "old", a, 10), 0);
	addr_of("10.0.0.3", a);
	assert_int_equal(pool_restore(p, "new", a, 90), 0);
	addr_of("10.0.0.4", a);
	assert_int_equal(pool_restore(p, "beyond", a, 1), -1); /* past max_entries */
	assert_int_equal(pool_get(p, "x", 100, a, ev, sizeof(ev)), POOL_RECYCLED);
	assert_string_equal(ev, "old");
	assert_addr(AF_INET, a, "10.0.0.2");
	assert_int_equal(pool_get(p, "y", 101, a, ev, sizeof(ev)), POOL_RECYCLED);
	assert_string_equal(ev, "mid");
	assert_int_equal(pool_get(p, "z", 102, a, ev, sizeof(ev)), POOL_RECYCLED);
	assert_string_equal(ev, "new");
	pool_free(&p);
}

static void test_name_of(void **state)
{
	struct prefix p6 = pfx("fd00:66::", 64);
	struct pool *p = pool_new(&p6, 16);
	uint8_t a[16], b[16];

	(void)state;
	addr_of("fd00:66::5", a);
	assert_null(pool_name_of(p, a)); /* inside, not handed out */
	addr_of("fd00:67::", a);
	assert_null(pool_name_of(p, a)); /* outside */
	addr_of("fd00:66::1:0:0:0", a);
	assert_null(pool_name_of(p, a)); /* inside the /64, beyond max_entries */
	addr_of("fd00:66::", a);
	assert_null(pool_name_of(p, a)); /* prefix::0 is never handed out */
	assert_int_equal(pool_get(p, "v6.example", 1, a, NULL, 0), POOL_NEW);
	assert_addr(AF_INET6, a, "fd00:66::1");
	assert_string_equal(pool_name_of(p, a), "v6.example");
	assert_int_equal(pool_get(p, "w6.example", 1, b, NULL, 0), POOL_NEW);
	assert_addr(AF_INET6, b, "fd00:66::2");
	assert_string_equal(pool_name_of(p, b), "w6.example");
	pool_free(&p);
}

static void test_single_address(void **state)
{
	struct prefix p4 = pfx("127.66.0.1", 32);
	struct prefix p6 = pfx("fd00::1", 128);
	struct pool *p = pool_new(&p4, 1000);
	uint8_t a[16];
	char ev[16] = "junk";

	(void)state;
	assert_int_equal(pool_single(p), 1);
	assert_int_equal(pool_capacity(p), 1);
	assert_int_equal(pool_get(p, "a.example", 1, a, ev, sizeof(ev)), POOL_EXISTING);
	assert_string_equal(ev, "");
	assert_addr(AF_INET, a, "127.66.0.1");
	assert_int_equal(pool_get(p, "b.example", 2, a, NULL, 0), POOL_EXISTING);
	assert_addr(AF_INET, a, "127.66.0.1");
	assert_null(pool_name_of(p, a));
	assert_int_equal(pool_restore(p, "c.example", a, 3), -1);
	assert_int_equal(pool_used(p), 0);
	pool_free(&p);

	p = pool_new(&p6, 1000);
	assert_int_equal(pool_single(p), 1);
	assert_int_equal(pool_get(p, "a.example", 1, a, NULL, 0), POOL_EXISTING);
	assert_addr(AF_INET6, a, "fd00::1");
	pool_free(&p);
}

static void test_v6_cap(void **state)
{
	struct prefix p6 = pfx("2001:db8:66:1::", 64);
	struct pool *p = pool_new(&p6, 1000);
	uint8_t a[16];
	char name[32], ev[32];
	int i;

	(void)state;
	assert_int_equal(pool_capacity(p), 1000);
	for (i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "h%d", i);
		assert_int_equal(pool_get(p, name, i, a, NULL, 0), POOL_NEW);
	}
	assert_addr(AF_INET6, a, "2001:db8:66:1::3e8");
	assert_int_equal(pool_get(p, "h1000", 1000, a, ev, sizeof(ev)), POOL_RECYCLED);
	assert_string_equal(ev, "h0");
	assert_addr(AF_INET6, a, "2001:db8:66:1::1");
	/* a small v6 prefix caps below max_entries; all but prefix::0 is usable */
	pool_free(&p);
	p6 = pfx("2001:db8::", 120);
	p = pool_new(&p6, 1000);
	assert_int_equal(pool_capacity(p), 255);
	pool_free(&p);
}

static void test_v4_edges(void **state)
{
	struct prefix p;
	struct pool *pl;
	uint8_t a[16];
	char ev[16];

	(void)state;
	/* /30: network .0 and broadcast .3 skipped */
	p = pfx("198.51.100.0", 30);
	pl = pool_new(&p, 10);
	assert_int_equal(pool_capacity(pl), 2);
	assert_int_equal(pool_get(pl, "a", 1, a, NULL, 0), POOL_NEW);
	assert_addr(AF_INET, a, "198.51.100.1");
	assert_int_equal(pool_get(pl, "b", 2, a, NULL, 0), POOL_NEW);
	assert_addr(AF_INET, a, "198.51.100.2");
	assert_int_equal(pool_get(pl, "c", 3, a, ev, sizeof(ev)), POOL_RECYCLED);
	assert_addr(AF_INET, a, "198.51.100.1");
	pool_free(&pl);
	/* /31 has no network or broadcast address (RFC 3021) */
	p = pfx("198.51.100.4", 31);
	pl = pool_new(&p, 10);
	assert_int_equal(pool_capacity(pl), 2);
	assert_int_equal(pool_get(pl, "a", 1, a, NULL, 0), POOL_NEW);
	assert_addr(AF_INET, a, "198.51.100.4");
	pool_free(&pl);
	/* host bits in the prefix are ignored */
	p = pfx("10.1.2.3", 24);
	pl = pool_new(&p, 10);
	assert_int_equal(pool_get(pl, "a", 1, a, NULL, 0), POOL_NEW);
	assert_addr(AF_INET, a, "10.1.2.1");
	pool_free(&pl);
	/* a carry across bytes */
	p = pfx("10.1.0.0", 16);
	pl = pool_new(&p, 300);
	for (int i = 0; i < 256; i++) {
		char n[16];

		snprintf(n, sizeof(n), "n%d", i);
		pool_get(pl, n, i, a, NULL, 0);
	}
	assert_addr(AF_INET, a, "10.1.1.0");
	pool_free(&pl);
	/* invalid arguments */
	p = pfx("10.0.0.0", 8);
	assert_null(pool_new(&p, 0));
	p.bits = 33;
	assert_null(pool_new(&p, 10));
	p.family = AF_UNIX;
	p.bits = 8;
	assert_null(pool_new(&p, 10));
	assert_null(pool_new(NULL, 10));
}

/*
 * Random use checked against a plain model: the index must survive many
 * recycles (its deletions shift entries) and the LRU must pick the model's
 * victim every time.
 */
static void test_against_model(void **state)
{
	enum { CAP = 61, NAMES = 400, OPS = 200000 };
	struct prefix p6 = pfx("fd00:1::", 64);
	struct pool *p = pool_new(&p6, CAP);
	static int64_t used_at[NAMES]; /* 0 = not mapped */
	static int slot_of[NAMES];
	uint64_t rng = 42;
	uint8_t a[16];
	char name[32], ev[32];
	int op;

	(void)state;
	for (op = 1; op <= OPS; op++) {
		int n, i, mapped = 0, victim = -1;
		enum pool_result r, want;

		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		n = (int)((rng >> 33) % NAMES);
		for (i = 0; i < NAMES; i++)
			if (used_at[i]) {
				mapped++;
				if (victim < 0 || used_at[i] < used_at[victim])
					victim = i;
			}
		want = used_at[n] ? POOL_EXISTING : mapped < CAP ? POOL_NEW : POOL_RECYCLED;
		snprintf(name, sizeof(name), "name-%d.example", n);
		r = pool_get(p, name, op, a, ev, sizeof(ev));
		if (r != want)
			fail_msg("op %d: %s: result %d, want %d", op, name, r, want);
		if (r == POOL_RECYCLED) {
			char vn[32];

			snprintf(vn, sizeof(vn), "name-%d.example", victim);
			assert_string_equal(ev, vn);
			assert_int_equal(a[15] | a[14] << 8, slot_of[victim]);
			used_at[victim] = 0;
		}
		if (r == POOL_EXISTING)
			assert_int_equal(a[15] | a[14] << 8, slot_of[n]);
		used_at[n] = op;
		slot_of[n] = a[15] | a[14] << 8;
		assert_string_equal(pool_name_of(p, a), name);
	}
	assert_int_equal(pool_used(p), CAP);
	pool_free(&p);
}

/*
 * Names a client makes as long as a name can be (escaped bytes, four characters
 * each) cannot fill the pool's memory: the names held stay within 64 bytes per
 * mapping (4 KiB at least); past that the least recently used are let go, their
 * addresses given out again, never the name just mapped. Restores stop there too.
 */
static void test_name_bytes_bounded(void **state)
{
	enum { CAP = 100 }; /* 6,400 bytes of names */
	struct prefix p4 = pfx("10.9.0.0", 16);
	struct pool *p = pool_new(&p4, CAP);
	char name[1100], ev[64];
	uint8_t a[16], first[16];

	(void)state;
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "short%d.example", i);
		assert_int_equal(pool_get(p, name, i, a, ev, sizeof(ev)), POOL_NEW);
		if (i == 0)
			memcpy(first, a, 16);
	}
	assert_int_equal(pool_used(p), 20);
	assert_int_equal(pool_freed(p), 0);
	for (int i = 0; i < 12; i++) {
		memset(name, 'x', 1000);
		snprintf(name + 1000, sizeof(name) - 1000, "\\%03d.example", i);
		assert_int_equal(pool_get(p, name, 100 + i, a, ev, sizeof(ev)), POOL_NEW);
		assert_string_equal(pool_name_of(p, a), name); /* the new one is kept */
		assert_true(pool_name_bytes(p) <= 6400);
	}
	/* six long names fit beside some short ones; the oldest went first */
	assert_true(pool_used(p) < 20 + 12);
	assert_true(pool_freed(p) == 20 + 12 - pool_used(p));
	/* the first short name's address went, and was given out again to a long one */
	const char *now_at = pool_name_of(p, first);
	assert_non_null(now_at);
	assert_int_equal(strlen(now_at), 1012);
	/* the short name lost its mapping: asked again, it is a new one */
	assert_int_equal(pool_get(p, "short0.example", 200, a, ev, sizeof(ev)), POOL_NEW);
	assert_string_equal(pool_name_of(p, a), "short0.example");
	/* a name is never let go for itself, however long */
	memset(name, 'y', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_int_equal(pool_get(p, name, 300, a, ev, sizeof(ev)), POOL_NEW);
	assert_string_equal(pool_name_of(p, a), name);
	pool_free(&p);

	/* restoring stops where the names would take more */
	p = pool_new(&p4, CAP);
	int restored = 0, refused = 0;
	for (int i = 0; i < 12; i++) {
		memset(name, 'z', 1000);
		snprintf(name + 1000, sizeof(name) - 1000, "%d.example", i);
		addr_of(i < 9 ? "10.9.0.1" : "10.9.0.2", a);
		a[3] = (uint8_t)(i + 1);
		int r = pool_restore(p, name, a, i);
		restored += r == 0;
		refused += r == -ENOSPC;
	}
	assert_int_equal(restored, 6);
	assert_int_equal(refused, 6);
	assert_true(pool_name_bytes(p) <= 6400);
	pool_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stable_address),
	    cmocka_unit_test(test_distinct_addresses),
	    cmocka_unit_test(test_lru_recycling),
	    cmocka_unit_test(test_restore),
	    cmocka_unit_test(test_restore_lru_order),
	    cmocka_unit_test(test_name_of),
	    cmocka_unit_test(test_single_address),
	    cmocka_unit_test(test_v6_cap),
	    cmocka_unit_test(test_v4_edges),
	    cmocka_unit_test(test_against_model),
	    cmocka_unit_test(test_name_bytes_bounded),
	};

	return cmocka_run_group_tests_name("dns_pool", tests, NULL, NULL);
}

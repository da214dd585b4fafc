/*
 * Attribution map (sinkhole address -> domain): set/get/replace, IPv4 and
 * IPv6 keys kept apart, the capacity bound forgetting the oldest mapping,
 * and the open-addressing table staying correct through many deletions
 * (backward shift), checked against a plain reference model.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "trap/attrib.h"

static void v4(const char *text, uint8_t a[16])
{
	memset(a, 0, 16);
	assert_int_equal(inet_pton(AF_INET, text, a), 1);
}

static void v6(const char *text, uint8_t a[16])
{
	memset(a, 0, 16);
	assert_int_equal(inet_pton(AF_INET6, text, a), 1);
}

static void assert_name(const struct attrib *m, int family, const uint8_t a[16],
                        const char *want)
{
	const char *got = attrib_get(m, family, a);

	if (want == NULL) {
		assert_null(got);
	} else {
		assert_non_null(got);
		assert_string_equal(got, want);
	}
}

static void test_set_get_replace(void **state)
{
	struct attrib *m = attrib_new(100);
	uint8_t a[16], b[16];

	(void)state;
	assert_non_null(m);
	assert_int_equal(attrib_count(m), 0);
	v4("10.66.0.1", a);
	v4("10.66.0.2", b);
	assert_name(m, AF_INET, a, NULL);

	attrib_set(m, AF_INET, a, "evil.example");
	assert_name(m, AF_INET, a, "evil.example");
	assert_name(m, AF_INET, b, NULL);
	assert_int_equal(attrib_count(m), 1);

	attrib_set(m, AF_INET, b, "c2.botnet.example");
	assert_name(m, AF_INET, a, "evil.example");
	assert_name(m, AF_INET, b, "c2.botnet.example");
	assert_int_equal(attrib_count(m), 2);

	/* The pool recycled 10.66.0.1: the newer domain replaces the older. */
	attrib_set(m, AF_INET, a, "recycled.example");
	assert_name(m, AF_INET, a, "recycled.example");
	assert_name(m, AF_INET, b, "c2.botnet.example");
	assert_int_equal(attrib_count(m), 2);

	/* The name is copied, not borrowed. */
	char buf[32];
	snprintf(buf, sizeof(buf), "copied.example");
	attrib_set(m, AF_INET, b, buf);
	memset(buf, 'x', sizeof(buf) - 1);
	assert_name(m, AF_INET, b, "copied.example");

	/* A long name (a full DNS name) is kept whole. */
	char longname[254];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	for (int i = 63; i < 253; i += 64)
		longname[i] = '.';
	attrib_set(m, AF_INET, a, longname);
	assert_name(m, AF_INET, a, longname);

	attrib_free(&m);
	assert_null(m);
	attrib_free(&m);
}

static void test_v4_v6_distinct(void **state)
{
	struct attrib *m = attrib_new(100);
	uint8_t a4[16], a6[16], mapped[16], junk[16];

	(void)state;
	v4("10.66.0.1", a4);
	/* The same first four bytes, as an IPv6 address: another key. */
	memset(a6, 0, 16);
	memcpy(a6, a4, 4);
	v6("::ffff:10.66.0.1", mapped);

	attrib_set(m, AF_INET, a4, "four.example");
	assert_name(m, AF_INET6, a6, NULL);
	assert_name(m, AF_INET6, mapped, NULL);
	attrib_set(m, AF_INET6, a6, "six.example");
	assert_name(m, AF_INET, a4, "four.example");
	assert_name(m, AF_INET6, a6, "six.example");
	assert_int_equal(attrib_count(m), 2);

	/* IPv4 uses the first four bytes only: whatever follows them is ignored. */
	memcpy(junk, a4, 4);
	memset(junk + 4, 0xa5, 12);
	assert_name(m, AF_INET, junk, "four.example");
	attrib_set(m, AF_INET, junk, "four-again.example");
	assert_name(m, AF_INET, a4, "four-again.example");
	assert_int_equal(attrib_count(m), 2);

	/* Every byte of an IPv6 address counts. */
	uint8_t p1[16], p2[16];
	v6("fd66::1", p1);
	v6("fd66::1:0:0:1", p2);
	attrib_set(m, AF_INET6, p1, "p1.example");
	attrib_set(m, AF_INET6, p2, "p2.example");
	assert_name(m, AF_INET6, p1, "p1.example");
	assert_name(m, AF_INET6, p2, "p2.example");
	assert_int_equal(attrib_count(m), 4);
	attrib_free(&m);
}

static void test_capacity_forgets_oldest(void **state)
{
	struct attrib *m = attrib_new(3);
	uint8_t a[16], b[16], c[16], d[16], e[16];

	(void)state;
	v4("10.66.0.1", a);
	v4("10.66.0.2", b);
	v4("10.66.0.3", c);
	v4("10.66.0.4", d);
	v6("fd66::5", e);
	attrib_set(m, AF_INET, a, "a.example");
	attrib_set(m, AF_INET, b, "b.example");
	attrib_set(m, AF_INET, c, "c.example");
	assert_int_equal(attrib_count(m), 3);

	/* A fourth: the oldest (a) is forgotten, the rest stay. */
	attrib_set(m, AF_INET, d, "d.example");
	assert_int_equal(attrib_count(m), 3);
	assert_name(m, AF_INET, a, NULL);
	assert_name(m, AF_INET, b, "b.example");
	assert_name(m, AF_INET, c, "c.example");
	assert_name(m, AF_INET, d, "d.example");

	/* Replacing an existing key never evicts anything. */
	attrib_set(m, AF_INET, c, "c2.example");
	assert_int_equal(attrib_count(m), 3);
	assert_name(m, AF_INET, b, "b.example");
	assert_name(m, AF_INET, d, "d.example");

	/* Next the oldest is b (c was just set again). */
	attrib_set(m, AF_INET6, e, "e.example");
	assert_name(m, AF_INET, b, NULL);
	assert_name(m, AF_INET, c, "c2.example");
	assert_name(m, AF_INET, d, "d.example");
	assert_name(m, AF_INET6, e, "e.example");
	assert_int_equal(attrib_count(m), 3);
	attrib_free(&m);

	/* A bound of 0 still keeps one mapping. */
	m = attrib_new(0);
	attrib_set(m, AF_INET, a, "a.example");
	attrib_set(m, AF_INET, b, "b.example");
	assert_int_equal(attrib_count(m), 1);
	assert_name(m, AF_INET, a, NULL);
	assert_name(m, AF_INET, b, "b.example");
	attrib_free(&m);
}

/* ---- against a reference model ------------------------------------------ */

struct ref {
	int family;
	uint8_t addr[16];
	char name[40];
	uint64_t order;
	int live;
};

static uint64_t rng_state;

static uint32_t rnd(void)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(rng_state >> 33);
}

/* Key number k -> an address: a dense pool, both families. */
static void key_addr(unsigned k, int *family, uint8_t a[16])
{
	memset(a, 0, 16);
	if (k % 3 == 2) {
		*family = AF_INET6;
		a[0] = 0xfd;
		a[1] = 0x66;
		a[12] = (uint8_t)(k >> 24);
		a[13] = (uint8_t)(k >> 16);
		a[14] = (uint8_t)(k >> 8);
		a[15] = (uint8_t)k;
	} else {
		*family = AF_INET;
		a[0] = 10;
		a[1] = 66;
		a[2] = (uint8_t)(k >> 8);
		a[3] = (uint8_t)k;
	}
}

static void check_all(const struct attrib *m, const struct ref *refs, unsigned nkeys,
                      uint32_t live)
{
	assert_int_equal(attrib_count(m), live);
	for (unsigned k = 0; k < nkeys; k++) {
		const char *got = attrib_get(m, refs[k].family, refs[k].addr);

		if (refs[k].live) {
			if (got == NULL)
				fail_msg("key %u (%s) lost", k, refs[k].name);
			assert_string_equal(got, refs[k].name);
		} else if (got != NULL) {
			fail_msg("key %u answers '%s' after it was forgotten", k, got);
		}
	}
}

/*
 * Random sets over a key space larger than the bound: every insertion past
 * the bound deletes (backward shift) somewhere in a probe cluster. After each
 * step the map must agree with the model on every key.
 */
static void run_model(uint32_t max, unsigned nkeys, unsigned steps, uint64_t seed,
                      unsigned check_every)
{
	struct attrib *m = attrib_new(max);
	struct ref *refs = calloc(nkeys, sizeof(*refs));
	uint64_t seq = 0;
	uint32_t live = 0;

	assert_non_null(refs);
	rng_state = seed;
	for (unsigned k = 0; k < nkeys; k++)
		key_addr(k, &refs[k].family, refs[k].addr);
	for (unsigned step = 0; step < steps; step++) {
		/* Skewed: a hot set of keys comes back often (replacements). */
		unsigned k = (rnd() % 4 == 0) ? rnd() % (max / 2 + 1) : rnd() % nkeys;
		struct ref *r = &refs[k];

		if (!r->live && live == max) {
			/* The model forgets its oldest live mapping. */
			struct ref *old = NULL;
			for (unsigned j = 0; j < nkeys; j++)
				if (refs[j].live && (old == NULL || refs[j].order < old->order))
					old = &refs[j];
			old->live = 0;
			live--;
		}
		if (!r->live)
			live++;
		r->live = 1;
		r->order = seq++;
		snprintf(r->name, sizeof(r->name), "d%u-%u.example", k, step);
		attrib_set(m, r->family, r->addr, r->name);
		if (step % check_every == 0 || step + 1 == steps)
			check_all(m, refs, nkeys, live);
	}
	attrib_free(&m);
	free(refs);
}

static void test_model_small_table(void **state)
{
	(void)state;
	/* 40 mappings in a 128-slot table: long clusters, wrap-around. */
	run_model(40, 400, 20000, 1, 1);
	/* The smallest table (64 slots) nearly half full. */
	run_model(31, 200, 20000, 2, 1);
	run_model(1, 10, 500, 3, 1);
}

static void test_model_large(void **state)
{
	(void)state;
	run_model(1000, 5000, 60000, 4, 997);
}

/* Keys that all hash near each other: deletion inside one long cluster. */
static void test_dense_cluster_deletions(void **state)
{
	struct attrib *m = attrib_new(32);
	uint8_t a[16];
	char name[32];

	(void)state;
	/* 10.66.0.0 .. 10.66.0.255, 32 at a time: each new one forgets one. */
	for (unsigned i = 0; i < 256; i++) {
		v4("10.66.0.0", a);
		a[3] = (uint8_t)i;
		snprintf(name, sizeof(name), "n%u.example", i);
		attrib_set(m, AF_INET, a, name);
		unsigned lo = i >= 31 ? i - 31 : 0;
		for (unsigned j = 0; j <= i; j++) {
			uint8_t b[16];
			char want[32];

			v4("10.66.0.0", b);
			b[3] = (uint8_t)j;
			snprintf(want, sizeof(want), "n%u.example", j);
			assert_name(m, AF_INET, b, j >= lo ? want : NULL);
		}
		assert_int_equal(attrib_count(m), i - lo + 1);
	}
	attrib_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_set_get_replace),
	    cmocka_unit_test(test_v4_v6_distinct),
	    cmocka_unit_test(test_capacity_forgets_oldest),
	    cmocka_unit_test(test_model_small_table),
	    cmocka_unit_test(test_model_large),
	    cmocka_unit_test(test_dense_cluster_deletions),
	};

	return cmocka_run_group_tests_name("trap_attrib", tests, NULL, NULL);
}

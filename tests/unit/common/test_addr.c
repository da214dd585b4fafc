#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <string.h>

#include "common/addr.h"

static void test_addrport(void **state)
{
	struct addrport a;
	char err[128], buf[64];
	assert_int_equal(addrport_parse("127.0.0.1:5353", -1, &a, err, sizeof(err)), 0);
	assert_string_equal(addrport_fmt((struct sockaddr *)&a.ss, buf, sizeof(buf)),
	                    "127.0.0.1:5353");
	assert_int_equal(addrport_parse("[::1]:53", -1, &a, err, sizeof(err)), 0);
	assert_string_equal(addrport_fmt((struct sockaddr *)&a.ss, buf, sizeof(buf)),
	                    "[::1]:53");
	assert_int_equal(addrport_parse("fd00::1", 53, &a, err, sizeof(err)), 0);
	assert_int_equal(addr_port((struct sockaddr *)&a.ss), 53);
	assert_int_equal(addrport_parse("[::1", 53, &a, err, sizeof(err)), -1);
	assert_int_equal(addrport_parse("host.example:53", 53, &a, err, sizeof(err)), -1);
	assert_int_equal(addrport_parse("1.2.3.4:0", 53, &a, err, sizeof(err)), -1);
}

static void test_wildcard_and_equal(void **state)
{
	(void)state;
	static const struct {
		const char *a, *b;
		int a_wild, equal;
	} t[] = {
	    {"0.0.0.0:53", "0.0.0.0:5353", 1, 1}, /* ports aside */
	    {"[::]:53", "[::]:53", 1, 1},
	    {"127.0.0.1:53", "127.0.0.1:54", 0, 1},
	    {"127.0.0.1:53", "127.0.0.2:53", 0, 0},
	    {"[::1]:53", "[::1]:53", 0, 1},
	    {"[::1]:53", "[::2]:53", 0, 0},
	    {"0.0.0.0:53", "[::]:53", 1, 0}, /* families differ */
	    {"[::ffff:127.0.0.1]:53", "127.0.0.1:53", 0, 0},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct addrport a, b;
		char err[128];
		assert_int_equal(addrport_parse(t[i].a, -1, &a, err, sizeof(err)), 0);
		assert_int_equal(addrport_parse(t[i].b, -1, &b, err, sizeof(err)), 0);
		const struct sockaddr *sa = (const struct sockaddr *)&a.ss;
		const struct sockaddr *sb = (const struct sockaddr *)&b.ss;
		if (addr_is_wildcard(sa) != t[i].a_wild || addr_equal(sa, sb) != t[i].equal ||
		    addr_equal(sb, sa) != t[i].equal)
			fail_msg("%s / %s: wildcard %d, equal %d", t[i].a, t[i].b,
			         addr_is_wildcard(sa), addr_equal(sa, sb));
	}
}

static void test_prefix(void **state)
{
	struct prefix p;
	char err[128], buf[64];
	uint8_t out[16];
	assert_int_equal(prefix_parse("10.66.0.0/16", &p, err, sizeof(err)), 0);
	assert_int_equal(prefix_size(&p, 1u << 30), 65536);
	prefix_nth(&p, 258, out);
	assert_string_equal(inet_ntop(AF_INET, out, buf, sizeof(buf)), "10.66.1.2");
	assert_int_equal(prefix_index(&p, out), 258);
	uint8_t outside[4] = {10, 67, 0, 1};
	assert_int_equal(prefix_index(&p, outside), -1);

	assert_int_equal(prefix_parse("fd00:66::/64", &p, err, sizeof(err)), 0);
	assert_int_equal(prefix_size(&p, 1000000), 1000000);
	prefix_nth(&p, 0x10001, out);
	assert_string_equal(inet_ntop(AF_INET6, out, buf, sizeof(buf)), "fd00:66::1:1");
	assert_int_equal(prefix_index(&p, out), 0x10001);

	assert_int_equal(prefix_parse("127.0.0.1", &p, err, sizeof(err)), 0);
	assert_int_equal(p.bits, 32);
	assert_int_equal(prefix_size(&p, 100), 1);
	assert_int_equal(prefix_parse("10.0.0.0/33", &p, err, sizeof(err)), -1);
	assert_int_equal(prefix_parse("10.0.0.1/24", &p, err, sizeof(err)), -1);
}

/* Text addresses as the store writes them: a v4-mapped one is IPv4. */
static void test_parse_ip(void **state)
{
	(void)state;
	uint8_t a[16];
	char buf[64];
	assert_int_equal(addr_parse_ip("10.1.2.3", a), AF_INET);
	assert_string_equal(inet_ntop(AF_INET, a, buf, sizeof(buf)), "10.1.2.3");
	assert_int_equal(addr_parse_ip("::ffff:10.1.2.3", a), AF_INET);
	assert_string_equal(inet_ntop(AF_INET, a, buf, sizeof(buf)), "10.1.2.3");
	for (int i = 4; i < 16; i++)
		assert_int_equal(a[i], 0);
	assert_int_equal(addr_parse_ip("::0001", a), AF_INET6);
	assert_string_equal(inet_ntop(AF_INET6, a, buf, sizeof(buf)), "::1");
	assert_int_equal(addr_parse_ip("::fffe:10.1.2.3", a), AF_INET6);
	assert_int_equal(addr_parse_ip("10.1.2", a), 0);
	assert_int_equal(addr_parse_ip("host.example", a), 0);
	assert_int_equal(addr_parse_ip("", a), 0);
}

/* A network to search in: host bits are cleared, not refused; the rest is
 * checked as strictly. */
static void test_prefix_net(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want; /* want NULL: refused */
	} cases[] = {
	    {"10.1.2.3/24", "10.1.2.0/24"},
	    {"10.1.2.3", "10.1.2.3/32"},
	    {"10.255.255.255/0", "0.0.0.0/0"},
	    {"192.168.77.200/27", "192.168.77.192/27"},
	    {"fd00:66::1:2/64", "fd00:66::/64"},
	    {"2001:db8::ff/120", "2001:db8::/120"},
	    {"::0001", "::1/128"},
	    {"10.0.0.0/33", NULL},
	    {"10.0.0.0/", NULL},
	    {"10.0.0.0/8x", NULL},
	    {"10.0.0/8", NULL},
	    {"/8", NULL},
	    {"fd00::/129", NULL},
	    {"evil.example/24", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct prefix p;
		char err[160], buf[64];
		int r = prefix_parse_net(cases[i].in, &p, err, sizeof(err));
		if (cases[i].want == NULL) {
			assert_int_equal(r, -1);
			assert_non_null(strstr(err, cases[i].in));
		} else {
			assert_int_equal(r, 0);
			assert_string_equal(prefix_fmt(&p, buf, sizeof(buf)), cases[i].want);
		}
	}
}

/* Membership, for searches: every address of a wide IPv6 network is in it,
 * whatever its host bits (prefix_index, a pool's index, stops at 2^63). */
static void test_prefix_contains(void **state)
{
	(void)state;
	static const struct {
		const char *net, *addr;
		int in;
	} cases[] = {
	    {"2001:db8:1:2::/64", "2001:db8:1:2:a00:27ff:fe4e:66a1", 1},
	    {"2001:db8::/32", "2001:db8:1::1", 1},
	    {"2001:db8::/32", "2001:db9::1", 0},
	    {"::/0", "fe80::1", 1},
	    {"fd00::/7", "fdff:ffff::1", 1},
	    {"fd00::/8", "fe00::1", 0},
	    {"2001:db8::1/128", "2001:db8::1", 1},
	    {"2001:db8::1/128", "2001:db8::2", 0},
	    {"10.0.0.0/8", "10.255.1.2", 1},
	    {"10.0.0.0/9", "10.128.0.1", 0},
	    {"192.168.77.192/27", "192.168.77.223", 1},
	    {"192.168.77.192/27", "192.168.77.224", 0},
	    {"0.0.0.0/0", "203.0.113.9", 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct prefix p;
		uint8_t a[16];
		char err[160];
		assert_int_equal(prefix_parse_net(cases[i].net, &p, err, sizeof(err)), 0);
		assert_int_not_equal(addr_parse_ip(cases[i].addr, a), 0);
		if (prefix_contains(&p, a) != cases[i].in)
			fail_msg("%s in %s: want %d", cases[i].addr, cases[i].net, cases[i].in);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_addrport), cmocka_unit_test(test_wildcard_and_equal),
	    cmocka_unit_test(test_prefix),   cmocka_unit_test(test_prefix_net),
	    cmocka_unit_test(test_parse_ip), cmocka_unit_test(test_prefix_contains)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

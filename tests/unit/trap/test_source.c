/*
 * What the trap's per-source limits count by (max_per_source, rate_per_source):
 * an IPv4 address, or an IPv6 /64, whatever address in it a host picks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "common/addr.h"

static void key_of(const char *text, uint16_t port, uint8_t key[17])
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, text, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
	} else {
		assert_int_equal(inet_pton(AF_INET6, text, &s6->sin6_addr), 1);
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
	}
	memset(key, 0xaa, 17);
	addr_source_key((struct sockaddr *)&ss, key);
}

static int same(const char *a, const char *b)
{
	uint8_t ka[17], kb[17];
	key_of(a, 1000, ka);
	key_of(b, 2000, kb);
	return memcmp(ka, kb, 17) == 0;
}

static void test_ipv6_by_64(void **state)
{
	(void)state;
	/* One host with a /64: every address in it is the same source. */
	assert_true(same("2001:db8:1:2::1", "2001:db8:1:2::1"));
	assert_true(same("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"));
	assert_true(same("2001:db8:1:2:1234:5678:9abc:def0", "2001:db8:1:2::"));
	/* Another /64, even the next one, is another source. */
	assert_false(same("2001:db8:1:2::1", "2001:db8:1:3::1"));
	assert_false(same("2001:db8:1:2::1", "2001:db9:1:2::1"));
	assert_false(same("fd99::1", "fd98::1"));
	/* The key says the family and the /64, and nothing of the rest. */
	uint8_t k[17];
	key_of("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 7, k);
	assert_int_equal(k[0], AF_INET6);
	static const uint8_t prefix[8] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2};
	static const uint8_t zero[8];
	assert_memory_equal(k + 1, prefix, 8);
	assert_memory_equal(k + 9, zero, 8);
}

static void test_ipv4_by_address(void **state)
{
	(void)state;
	assert_true(same("10.99.0.1", "10.99.0.1"));
	assert_false(same("10.99.0.1", "10.99.0.3"));
	assert_false(same("10.99.0.1", "10.99.1.1"));
	/* An IPv4-mapped IPv6 address is the IPv4 address it maps, not a /64. */
	assert_true(same("::ffff:10.99.0.1", "10.99.0.1"));
	assert_false(same("::ffff:10.99.0.1", "::ffff:10.99.0.3"));
	uint8_t k[17];
	key_of("192.0.2.7", 1, k);
	assert_int_equal(k[0], AF_INET);
	static const uint8_t want[16] = {192, 0, 2, 7};
	assert_memory_equal(k + 1, want, 16);
	/* Not a family apart from IPv4's. */
	assert_false(same("10.99.0.1", "::10.99.0.1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ipv6_by_64),
	    cmocka_unit_test(test_ipv4_by_address),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

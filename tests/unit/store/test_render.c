/*
 * What the store renders from a producer's record: addresses as inet_ntop
 * writes them, and event ids that grow from one record to the next (the
 * database's unique index on them appends) and differ in a forked child.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/event.h"
#include "store/render.h"

static void render_addr(const struct sockaddr *sa, char *out, size_t cap)
{
	struct evbuf b;
	struct strbuf sb;
	evbuf_init(&b);
	strbuf_init(&sb);
	ev_begin(&b, "x", 1);
	ev_addr(&b, "src_ip", sa);
	ev_end(&b);
	render_json(b.data, b.len, NULL, &sb);
	const char *p = strstr(sb.data, "\"src_ip\":\"");
	assert_non_null(p);
	p += 10;
	size_t n = strcspn(p, "\"");
	assert_true(n < cap);
	memcpy(out, p, n);
	out[n] = '\0';
	strbuf_free(&sb);
	evbuf_free(&b);
}

static void test_ipv4_text(void **state)
{
	static const char *const addrs[] = {"0.0.0.0",    "127.0.0.1",       "10.200.3.255",
	                                    "1.20.100.9", "255.255.255.255", "192.168.0.10",
	                                    "100.10.1.0"};
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		struct sockaddr_in s4 = {.sin_family = AF_INET};
		char got[64], want[INET6_ADDRSTRLEN];
		assert_int_equal(inet_pton(AF_INET, addrs[i], &s4.sin_addr), 1);
		render_addr((struct sockaddr *)&s4, got, sizeof(got));
		assert_string_equal(got, addrs[i]);
		assert_int_equal(addr_text(AF_INET, &s4.sin_addr, want), strlen(addrs[i]));
		assert_string_equal(want, addrs[i]);
	}
}

static void test_ipv6_text(void **state)
{
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
	char got[64];
	assert_int_equal(inet_pton(AF_INET6, "fd00:66::1", &s6.sin6_addr), 1);
	render_addr((struct sockaddr *)&s6, got, sizeof(got));
	assert_string_equal(got, "fd00:66::1");
	/* v4-mapped: shown as plain IPv4 */
	assert_int_equal(inet_pton(AF_INET6, "::ffff:10.1.2.3", &s6.sin6_addr), 1);
	render_addr((struct sockaddr *)&s6, got, sizeof(got));
	assert_string_equal(got, "10.1.2.3");
}

static void id_of(const struct evbuf *b, size_t off, char out[25])
{
	struct ev_field f;
	long rl = ev_record_check(b->data + off, b->len - off);
	assert_true(rl > 0);
	assert_true(ev_find(b->data + off, (size_t)rl, "event_id", &f));
	assert_int_equal(f.strlen, 24);
	memcpy(out, f.str, 24);
	out[24] = '\0';
}

static void test_ids_grow(void **state)
{
	struct evbuf b;
	char prev[25] = "", id[25];
	evbuf_init(&b);
	for (int i = 0; i < 5000; i++) {
		size_t off = b.len;
		/* A record's own timestamp (an old capture) does not order its id. */
		ev_begin(&b, "dns", i % 2 ? 1240198114516921 : 0);
		ev_end(&b);
		id_of(&b, off, id);
		assert_int_equal(strspn(id, "0123456789abcdef"), 24);
		assert_true(strcmp(prev, id) < 0);
		memcpy(prev, id, sizeof(prev));
		if (i == 2500)
			usleep(3000); /* across milliseconds too */
	}
	evbuf_free(&b);
}

static void test_fork_new_ids(void **state)
{
	char parent[25], child[25];
	int pfd[2];
	event_id_new(parent);
	assert_int_equal(pipe(pfd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char c[25];
		event_id_new(c);
		_exit(write(pfd[1], c, 24) == 24 ? 0 : 1);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(read(pfd[0], child, 24), 24);
	child[24] = '\0';
	event_id_new(parent);
	/* Same millisecond or not, the child drew its own tag and counter. */
	assert_memory_not_equal(parent + 11, child + 11, 13);
	close(pfd[0]);
	close(pfd[1]);
}

/* Column text: UTF-8 without NUL passes as it is; anything else is U+FFFD. */
static void test_text_clean(void **state)
{
	static const struct {
		const char *in;
		size_t n;
		int plain;
		const char *out;
	} cases[] = {
	    {"c2.evil.example", 15, 1, "c2.evil.example"},
	    {"caf\xc3\xa9.example", 13, 1, "caf\xc3\xa9.example"},
	    {"c2\xff.evil", 8, 0, "c2\xef\xbf\xbd.evil"},
	    {"zz\0.evil", 8, 0, "zz\xef\xbf\xbd.evil"},
	    {"\xc3", 1, 0, "\xef\xbf\xbd"},                                 /* cut sequence */
	    {"\xed\xa0\x80", 3, 0, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* surrogate */
	    {"", 0, 1, ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct strbuf b;
		strbuf_init(&b);
		assert_int_equal(text_plain((const uint8_t *)cases[i].in, cases[i].n),
		                 cases[i].plain);
		text_clean(&b, (const uint8_t *)cases[i].in, cases[i].n);
		assert_int_equal(b.len, strlen(cases[i].out));
		assert_memory_equal(b.len ? b.data : "", cases[i].out, b.len);
		strbuf_free(&b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ipv4_text),  cmocka_unit_test(test_ipv6_text),
	    cmocka_unit_test(test_ids_grow),   cmocka_unit_test(test_fork_new_ids),
	    cmocka_unit_test(test_text_clean),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

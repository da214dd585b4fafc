/* Config parsing: valid files, and every error reported as FILE:LINE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "common/config.h"

static struct config *parse(const char *text, struct cfg_errors *e)
{
	return config_parse("t.conf", text, strlen(text), 0, e);
}

static void test_minimal(void **state)
{
	struct cfg_errors e;
	struct config *c = parse("[dns]\nlisten = 127.0.0.1:5353\nupstream = 127.0.0.1\n"
	                         "sinkhole_ipv4 = 10.66.0.0/16\nsinkhole_ipv6 = fd00:66::/64\n"
	                         "blocklist = a.txt\nallowlist = b.txt  # inline comment\n"
	                         "internal_zone = Corp.Example.\ninternal_zone = B\xc3\x9c"
	                         "cher.example.\n"
	                         "ttl = 60\nupstream_timeout = 1500ms\n"
	                         "[events]\njson = no\n",
	                         &e);
	assert_non_null(c);
	assert_int_equal(e.n, 0);
	assert_int_equal(c->dns_nlisten, 1);
	assert_int_equal(c->nupstream, 1);
	assert_int_equal(c->ttl, 60);
	assert_int_equal(c->upstream_timeout_ms, 1500);
	assert_int_equal(c->nlists, 2);
	assert_string_equal(c->lists[1].path, "b.txt");
	assert_int_equal(c->lists[1].allow, 1);
	assert_int_equal(c->lists[1].line, 7);
	assert_string_equal(c->internal_zones.v[0], "corp.example");
	/* written in Unicode: the xn-- form queries carry */
	assert_string_equal(c->internal_zones.v[1], "xn--bcher-kva.example");
	assert_int_equal(c->sinkhole4.bits, 16);
	assert_int_equal(c->sinkhole6.bits, 64);
	assert_null(c->json);
	config_free(c);
}

struct bad {
	const char *text;
	const char *expect; /* the whole first error line */
};

static const struct bad bads[] = {
    {"[dns]\nlisten = 127.0.0.1:5353\nbogus = 1\n", "t.conf:3: unknown key 'bogus' in [dns]"},
    {"[nope]\n", "t.conf:1: unknown section [nope]"},
    {"listen = 1.2.3.4:53\n", "t.conf:1: 'listen' outside of any [section]"},
    {"[dns]\nlisten = 1.2.3.4\n",
     "t.conf:2: listen: '1.2.3.4': a port is required (ADDR:PORT)"},
    {"[dns]\nlisten = 1.2.3.400:53\n",
     "t.conf:2: listen: '1.2.3.400:53': '1.2.3.400' is not an IPv4 or IPv6 address"},
    {"[dns]\nlisten = 1.2.3.4:99999\n",
     "t.conf:2: listen: '1.2.3.4:99999': bad port '99999' (1-65535)"},
    {"[dns]\nttl = forever\n", "t.conf:2: ttl: 'forever' is not a number from 0 to 604800"},
    {"[dns]\nsinkhole_ipv4 = fd00::/64\n",
     "t.conf:2: sinkhole_ipv4: 'fd00::/64' is not an IPv4 address or prefix"},
    {"[dns]\nsinkhole_ipv4 = 10.66.1.0/16\n",
     "t.conf:2: sinkhole_ipv4: '10.66.1.0/16': host bits set past /16"},
    {"[dns]\nmode = paranoid\n", "t.conf:2: mode: 'paranoid' is not blocklist or allowlist"},
    {"[dns]\nlog_forwarded = maybe\n",
     "t.conf:2: log_forwarded: 'maybe' is not a boolean (yes/no)"},
    {"[dns]\nttl = 1\nttl = 2\n", "t.conf:3: 'ttl' given twice in [dns]"},
    {"[dns]\njust words\n", "t.conf:2: expected 'key = value', got 'just words'"},
    {"[dns]\ninternal_zone = a..b\n",
     "t.conf:2: internal_zone: 'a..b' is not a valid domain name"},
    {"[dns]\ninternal_zone = \xef\xbd\x83orp.example\n",
     "t.conf:2: internal_zone: '\xef\xbd\x83orp.example': a label written in Unicode becomes "
     "the plain ASCII \"corp\" (write that if it is meant)"},
    {"[dns]\nupstream_timeout = 5 weeks\n",
     "t.conf:2: upstream_timeout: '5 weeks' is not a duration from 100ms to 30s"},
    {"[dns]\nenabled = yes\n", "t.conf:1: [dns]: no 'listen' address"},
    {"[trap]\nbanner = 21:gopher\n",
     "t.conf:2: banner: '21:gopher': unknown protocol 'gopher'"},
    {"[trap]\nbanner = 21\n", "t.conf:2: banner: '21' is not PORT:PROTO (e.g. 2525:smtp)"},
    /* 4294988937 is 2^32 + 21641: refused, not wrapped to port 21641 */
    {"[trap]\nbanner = 4294988937:smtp\n",
     "t.conf:2: banner: '4294988937:smtp': bad port (1-65535)"},
    {"[trap]\nbanner = 99999999999999999999999:smtp\n",
     "t.conf:2: banner: '99999999999999999999999:smtp': bad port (1-65535)"},
    {"[trap]\nbanner = 65536:smtp\n", "t.conf:2: banner: '65536:smtp': bad port (1-65535)"},
    {"[trap]\nbanner = 0:smtp\n", "t.conf:2: banner: '0:smtp': bad port (1-65535)"},
    {"[trap]\nbanner = -25:smtp\n",
     "t.conf:2: banner: '-25:smtp' is not PORT:PROTO (e.g. 2525:smtp)"},
    {"[trap]\nbanner = +25:smtp\n",
     "t.conf:2: banner: '+25:smtp' is not PORT:PROTO (e.g. 2525:smtp)"},
    {"[trap]\nbanner = 25:SMTP\n",
     "t.conf:2: banner: '25:SMTP' is not PORT:PROTO (e.g. 2525:smtp)"},
    {"[trap]\nbanner = 25:smtp x\n",
     "t.conf:2: banner: '25:smtp x' is not PORT:PROTO (e.g. 2525:smtp)"},
    {"[web]\nlisten = 127.0.0.1:80808\n",
     "t.conf:2: listen: '127.0.0.1:80808': bad port '80808' (1-65535)"},
    {"[web]\nlisten = localhost:8080\n",
     "t.conf:2: listen: 'localhost:8080': 'localhost' is not an IPv4 or IPv6 address"},
    {"[events]\nsyslog = udp://\n", "t.conf:2: syslog 'udp://': '': missing host"},
    /* the trap listens on redirect_port and the 15 ports after it */
    {"[trap]\nredirect_port = 65530\n",
     "t.conf:2: redirect_port: '65530' is not a port from 0 to 65520"},
    {"[trap]\ntproxy_port = +80\n",
     "t.conf:2: tproxy_port: '+80' is not a port from 0 to 65535"},
    {"[dns]\nttl = +300\n", "t.conf:2: ttl: '+300' is not a number from 0 to 604800"},
    {"[dns]\nupstream_timeout = 1e3\n",
     "t.conf:2: upstream_timeout: '1e3' is not a duration from 100ms to 30s"},
    {"[capture]\nmin_free = %\n", "t.conf:2: min_free: '%' is not a percentage from 0 to 99"},
    {"[trap]\nports = 21,\n",
     "t.conf:2: ports: '21,' is not a list of ports and ranges (21,25,8000-8100) within "
     "1-65535"},
    {"[trap]\nports = +21\n",
     "t.conf:2: ports: '+21' is not a list of ports and ranges (21,25,8000-8100) within "
     "1-65535"},
    {"[trap]\nports = 21- 25\n",
     "t.conf:2: ports: '21- 25' is not a list of ports and ranges (21,25,8000-8100) within "
     "1-65535"},
    {"[events]\njson_max_size = +1G\n", NULL},
};

static void test_errors(void **state)
{
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		struct cfg_errors e;
		struct config *c = parse(bads[i].text, &e);
		if (bads[i].expect == NULL) { /* refused: the message is checked elsewhere */
			if (c != NULL)
				fail_msg("case %zu: '%s' taken", i, bads[i].text);
			cfg_errors_free(&e);
			continue;
		}
		assert_null(c);
		assert_true(e.n >= 1);
		if (strcmp(e.msg[0], bads[i].expect) != 0)
			fail_msg("case %zu: got '%s', want '%s'", i, e.msg[0], bads[i].expect);
		cfg_errors_free(&e);
	}
}

/* A banner is kept as the trap reads it back: the port as a plain number. */
static void test_banner_kept(void **state)
{
	(void)state;
	struct cfg_errors e;
	struct config *c =
	    parse("[dns]\nenabled = no\n[trap]\nbanner = 2525:smtp\nbanner = 00021:ftp\n"
	          "banner = 65535:ssh\n",
	          &e);
	assert_non_null(c);
	assert_int_equal(c->banners.n, 3);
	assert_string_equal(c->banners.v[0], "2525:smtp");
	assert_string_equal(c->banners.v[1], "21:ftp");
	assert_string_equal(c->banners.v[2], "65535:ssh");
	config_free(c);
}

/* With files checked (check-config, run): what names a file or a user must
 * name one that exists. */
static void test_files_and_user_checked(void **state)
{
	(void)state;
	static const char text[] = "[sinktrap]\nuser = no-such-user-sinktrap\n"
	                           "[dns]\nenabled = no\n"
	                           "[trap]\nhttp_page = /nonexistent/page.html\nftp_file = /\n"
	                           "[web]\ntls_cert = no\nusers = /nonexistent/users\n";
	struct cfg_errors e;
	struct config *c = config_parse("t.conf", text, strlen(text), 1, &e);
	assert_null(c);
	static const char *const want[] = {
	    "t.conf:2: user: no user 'no-such-user-sinktrap' on this host",
	    "t.conf:6: http_page '/nonexistent/page.html': No such file or directory",
	    "t.conf:7: ftp_file '/': not a regular file",
	};
	if (e.n != 3)
		fail_msg("%d errors, the first '%s'", e.n, e.n ? e.msg[0] : "");
	for (int i = 0; i < 3; i++)
		assert_string_equal(e.msg[i], want[i]);
	cfg_errors_free(&e);
	/* unchecked (the unit tests' own parse), the same text is taken */
	c = config_parse("t.conf", text, strlen(text), 0, &e);
	assert_non_null(c);
	config_free(c);
}

/* The workers' user is not root, nor in root's group. */
static void test_user_not_root(void **state)
{
	(void)state;
	static const char text[] = "[sinktrap]\nuser = root\n[dns]\nenabled = no\n";
	struct cfg_errors e;
	struct config *c = config_parse("t.conf", text, strlen(text), 1, &e);
	assert_null(c);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.msg[0],
	                    "t.conf:2: user: 'root' has uid 0: the workers must run as "
	                    "an unprivileged user");
	cfg_errors_free(&e);
}

/* Every error is reported, not just the first. */
static void test_all_errors(void **state)
{
	struct cfg_errors e;
	struct config *c = parse("[dns]\nupstream = 127.0.0.1\nsinkhole_ipv4 = 10.0.0.1\n"
	                         "foo = 1\nttl = x\nlisten = nope:1\n",
	                         &e);
	assert_null(c);
	assert_int_equal(e.n, 4); /* three bad lines + no listen address */
	assert_non_null(strstr(e.msg[0], "t.conf:4:"));
	assert_non_null(strstr(e.msg[1], "t.conf:5:"));
	assert_non_null(strstr(e.msg[2], "t.conf:6:"));
	assert_string_equal(e.msg[3], "t.conf:1: [dns]: no 'listen' address");
	cfg_errors_free(&e);
}

static void test_missing_list(void **state)
{
	struct cfg_errors e;
	const char *t =
	    "[dns]\nlisten = 127.0.0.1:53\nupstream = 127.0.0.2\nsinkhole_ipv4 = 10.0.0.1\n"
	    "blocklist = /nonexistent/list.txt\n";
	struct config *c = config_parse("t.conf", t, strlen(t), 1, &e);
	assert_null(c);
	assert_int_equal(e.n, 1);
	assert_string_equal(
	    e.msg[0], "t.conf:5: blocklist '/nonexistent/list.txt': No such file or directory");
	cfg_errors_free(&e);
}

/* An upstream that is sinktrap's own listener: every unlisted query would loop. */
static void test_upstream_loop(void **state)
{
	(void)state;
	static const struct {
		const char *listen, *upstream, *err; /* err NULL: accepted */
	} t[] = {
	    {"127.0.0.1:5353", "127.0.0.1:5353",
	     "t.conf:3: upstream 127.0.0.1:5353 is sinktrap's own listener 127.0.0.1:5353: "
	     "unlisted names would be forwarded back to it; name the real resolvers"},
	    {"[::1]:53", "::1",
	     "t.conf:3: upstream [::1]:53 is sinktrap's own listener [::1]:53: unlisted names "
	     "would be forwarded back to it; name the real resolvers"},
	    /* a wildcard listener takes the host's own addresses (lo's 127.0.0.1) */
	    {"0.0.0.0:5353", "127.0.0.1:5353",
	     "t.conf:3: upstream 127.0.0.1:5353 is sinktrap's own listener 0.0.0.0:5353: "
	     "unlisted names would be forwarded back to it; name the real resolvers"},
	    /* not an interface address: a local resolver of its own (systemd-resolved) */
	    {"0.0.0.0:5353", "127.0.0.53:5353", NULL},
	    {"0.0.0.0:5353", "127.0.0.1:53", NULL},
	    {"[::]:5353", "127.0.0.1:5353", NULL},
	    {"127.0.0.1:5353", "127.0.0.2:5353", NULL},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char text[256];
		snprintf(text, sizeof(text),
		         "[dns]\nlisten = %s\nupstream = %s\nsinkhole_ipv4 = 10.0.0.1\n",
		         t[i].listen, t[i].upstream);
		struct cfg_errors e;
		struct config *c = config_parse("t.conf", text, strlen(text), 0, &e);
		if (t[i].err == NULL) {
			if (c == NULL)
				fail_msg("%s / %s refused: %s", t[i].listen, t[i].upstream,
				         e.msg[0]);
			config_free(c);
		} else {
			if (c != NULL)
				fail_msg("%s / %s accepted", t[i].listen, t[i].upstream);
			assert_int_equal(e.n, 1);
			assert_string_equal(e.msg[0], t[i].err);
		}
		cfg_errors_free(&e);
	}
}

static void test_embedded_default(void **state)
{
	struct cfg_errors e;
	struct config *c = config_parse("<embedded>", sinktrap_default_conf,
	                                strlen(sinktrap_default_conf), 0, &e);
	if (c == NULL)
		fail_msg("embedded default: %s", e.n ? e.msg[0] : "?");
	assert_int_equal(c->dns_nlisten, 2);
	assert_string_equal(c->state_dir, "./var");
	config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_minimal),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_banner_kept),
	    cmocka_unit_test(test_files_and_user_checked),
	    cmocka_unit_test(test_user_not_root),
	    cmocka_unit_test(test_all_errors),
	    cmocka_unit_test(test_missing_list),
	    cmocka_unit_test(test_upstream_loop),
	    cmocka_unit_test(test_embedded_default),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The [events] keys: syslog destinations with options, filters, sizes, and FILE:LINE errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "common/config.h"
#include "store/sinkspec.h"

#define BASE                                                                                   \
	"[dns]\nlisten = 127.0.0.1:5353\nupstream = 127.0.0.1\nsinkhole_ipv4 = 10.66.0.0/16\n" \
	"[events]\n"

static struct config *parse(const char *text, struct cfg_errors *e)
{
	return config_parse("t.conf", text, strlen(text), 0, e);
}

static void test_defaults(void **state)
{
	struct cfg_errors e;
	struct config *c = parse(BASE, &e);
	assert_non_null(c);
	assert_int_equal(c->nsyslog, 0);
	assert_null(c->database);
	assert_int_equal(c->queue_max, 256LL << 20);
	assert_int_equal(c->database_timeout_ms, 60000);
	assert_int_equal(c->syslog_format, SYSLOG_RFC5424);
	assert_int_equal(c->syslog_facility, 16);
	assert_int_equal(c->json_max_size, 0);
	assert_int_equal(c->json_keep, 5);
	assert_int_equal(c->json_types.n, 0);
	config_free(c);
}

static void test_full(void **state)
{
	struct cfg_errors e;
	struct config *c = parse(
	    BASE
	    "syslog = local\n"
	    "syslog = tcp://127.0.0.1:6514 format=rfc3164 types=dns,trap facility=local5\n"
	    "syslog = tls://siem.example:6514 ca=/etc/ca.pem cert=/c.pem key=/k.pem format=cef "
	    "servername=siem verify=no name=siem queue_max=1M resend=250ms\n"
	    "syslog = udp://[::1]:514 types=dns:sinkhole,alert\n"
	    "syslog = unix:///run/x.sock\n"
	    "syslog_format = cef\nsyslog_facility = daemon\nsyslog_app_name = trap1\n"
	    "syslog_hostname = sensor-7.example\njson_types = dns, alert\n"
	    "json_max_size = 100M\njson_keep = 9\n"
	    "database = postgresql://sinktrap@127.0.0.1:5432/events\n"
	    "database_types = all\nqueue_max = 64M\ndatabase_timeout = 90s\n",
	    &e);
	cfg_errors_print(&e, stderr);
	assert_non_null(c);
	assert_int_equal(c->nsyslog, 5);
	struct cfg_syslog *s = c->syslog;
	assert_int_equal(s[0].transport, SYSLOG_LOCAL);
	assert_string_equal(s[0].host, "/dev/log");
	assert_string_equal(s[0].name, "syslog-local");
	assert_int_equal(s[0].format, -1);
	assert_int_equal(s[1].transport, SYSLOG_TCP);
	assert_string_equal(s[1].host, "127.0.0.1");
	assert_int_equal(s[1].port, 6514);
	assert_int_equal(s[1].format, SYSLOG_RFC3164);
	assert_int_equal(s[1].facility, 21);
	assert_int_equal(s[1].types.n, 2);
	assert_string_equal(s[1].types.v[1], "trap");
	assert_int_equal(s[1].line, 7);
	assert_string_equal(s[1].name, "syslog-tcp-127.0.0.1-6514");
	assert_int_equal(s[2].transport, SYSLOG_TLS);
	assert_string_equal(s[2].ca, "/etc/ca.pem");
	assert_string_equal(s[2].cert, "/c.pem");
	assert_string_equal(s[2].key, "/k.pem");
	assert_string_equal(s[2].servername, "siem");
	assert_int_equal(s[2].verify, 0);
	assert_string_equal(s[2].name, "siem");
	assert_int_equal(s[2].queue_max, 1 << 20);
	assert_int_equal(s[2].resend_ms, 250);
	assert_int_equal(s[3].transport, SYSLOG_UDP);
	assert_string_equal(s[3].host, "::1");
	assert_int_equal(s[3].port, 514);
	assert_string_equal(s[3].name, "syslog-udp-__1-514");
	assert_int_equal(s[4].transport, SYSLOG_UNIX);
	assert_string_equal(s[4].host, "/run/x.sock");
	assert_int_equal(c->syslog_format, SYSLOG_CEF);
	assert_int_equal(c->syslog_facility, 3);
	assert_string_equal(c->syslog_app_name, "trap1");
	assert_string_equal(c->syslog_hostname, "sensor-7.example");
	assert_int_equal(c->json_types.n, 2);
	assert_int_equal(c->json_max_size, 100LL << 20);
	assert_int_equal(c->json_keep, 9);
	assert_string_equal(c->database, "postgresql://sinktrap@127.0.0.1:5432/events");
	assert_int_equal(c->database_types.n, 0);
	assert_int_equal(c->queue_max, 64LL << 20);
	assert_int_equal(c->database_timeout_ms, 90000);
	config_free(c);
}

/* Every bad value is an error at its line; the config is refused as a whole. */
static void test_errors(void **state)
{
	static const struct {
		const char *line;
		const char *msg;
	} cases[] = {
	    {"syslog = smtp://x:25", "destination is not local"},
	    {"syslog = tcp://host:99999", "port is not a number"},
	    {"syslog = tcp://:514", "missing host"},
	    {"syslog = tcp://::1:514", "[ADDR]:PORT"},
	    {"syslog = udp://[::1:514", "missing ']'"},
	    {"syslog = tcp://h:1 format=json", "format 'json'"},
	    {"syslog = tcp://h:1 facility=local9", "facility 'local9'"},
	    {"syslog = tcp://h:1 types=dns,http", "unknown event type 'http'"},
	    {"syslog = tcp://h:1 colour=red", "unknown option 'colour'"},
	    {"syslog = tcp://h:1 ca=/x", "tls:// only"},
	    {"syslog = tls://h:1 cert=/x", "both cert= and key="},
	    {"syslog = tcp://h:1 name=../x", "name '../x'"},
	    {"syslog = tcp://h:1 name=postgresql", "name 'postgresql'"},
	    {"syslog = tcp://h:1 queue_max=1k", "queue_max '1k'"},
	    {"syslog = tcp://h:1 resend=forever", "resend 'forever'"},
	    {"syslog = tcp://h:1 justaword", "expected option=value"},
	    {"syslog = unix:relative", "absolute socket path"},
	    {"syslog =", "empty destination"},
	    {"syslog_format = xml", "syslog_format: 'xml'"},
	    {"syslog_facility = kernel", "syslog_facility: 'kernel'"},
	    {"syslog_app_name = two words", "syslog_app_name"},
	    {"json_types =", "empty list"},
	    {"json_max_size = 10", "json_max_size: '10'"},
	    {"json_keep = 0", "json_keep: '0'"},
	    {"database = mysql://x", "expected postgresql://"},
	    {"database = host=x bogus=1", "database: invalid connection option"},
	    {"database_types = dns,,trap", "empty or overlong"},
	    {"queue_max = lots", "queue_max: 'lots'"},
	    {"database_timeout = 500ms", "database_timeout: '500ms' is not a duration"},
	    {"database_timeout = 2h", "database_timeout: '2h'"},
	    {"database_timeout = soon", "database_timeout: 'soon'"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[1024];
		struct cfg_errors e;
		snprintf(text, sizeof(text), BASE "%s\n", cases[i].line);
		struct config *c = parse(text, &e);
		if (c != NULL || e.n != 1 || strncmp(e.msg[0], "t.conf:6: ", 10) != 0 ||
		    strstr(e.msg[0], cases[i].msg) == NULL)
			fail_msg("'%s': got %d errors: %s", cases[i].line, e.n,
			         e.n ? e.msg[0] : "-");
		cfg_errors_free(&e);
		config_free(c);
	}
}

static void test_duplicate_name(void **state)
{
	struct cfg_errors e;
	struct config *c = parse(BASE "syslog = tcp://h:1\nsyslog = tcp://h:1\n", &e);
	assert_null(c);
	assert_int_equal(e.n, 1);
	assert_non_null(strstr(e.msg[0], "t.conf:7: "));
	assert_non_null(strstr(e.msg[0], "taken by line 6"));
	cfg_errors_free(&e);
	c = parse(BASE "queue_max = 1M\nqueue_max = 2M\n", &e);
	assert_null(c);
	assert_non_null(strstr(e.msg[0], "t.conf:7: 'queue_max' given twice"));
	cfg_errors_free(&e);
}

/* With check_files (run, check-config), the TLS files must be there. */
static void test_tls_files_checked(void **state)
{
	struct cfg_errors e;
	const char *text = BASE "syslog = tls://h:6514 ca=/nonexistent/ca.pem\n";
	struct config *c = config_parse("t.conf", text, strlen(text), 1, &e);
	assert_null(c);
	assert_int_equal(e.n, 1);
	assert_non_null(
	    strstr(e.msg[0], "t.conf:6: syslog 'tls://h:6514': ca '/nonexistent/ca.pem'"));
	cfg_errors_free(&e);
	c = parse(text, &e); /* unit tests parse without looking at files */
	assert_non_null(c);
	config_free(c);
}

static void test_types_match(void **state)
{
	struct cfg_strv t = {NULL, 0};
	char err[256];
	assert_int_equal(sinkspec_types_parse("dns:sinkhole, trap", &t, err, sizeof(err)), 0);
	assert_true(sinkspec_types_need_action(&t));
	assert_true(sinkspec_types_match(&t, (const uint8_t *)"trap", 4, NULL, 0));
	assert_true(sinkspec_types_match(&t, (const uint8_t *)"dns", 3,
	                                 (const uint8_t *)"sinkhole", 8));
	assert_false(
	    sinkspec_types_match(&t, (const uint8_t *)"dns", 3, (const uint8_t *)"forward", 7));
	assert_false(sinkspec_types_match(&t, (const uint8_t *)"dns", 3, NULL, 0));
	assert_false(sinkspec_types_match(&t, (const uint8_t *)"alert", 5, NULL, 0));
	assert_int_equal(sinkspec_types_parse("ALL", &t, err, sizeof(err)), 0);
	assert_int_equal(t.n, 0);
	assert_true(sinkspec_types_match(&t, (const uint8_t *)"whatever", 8, NULL, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),    cmocka_unit_test(test_full),
	    cmocka_unit_test(test_errors),      cmocka_unit_test(test_duplicate_name),
	    cmocka_unit_test(test_types_match), cmocka_unit_test(test_tls_files_checked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

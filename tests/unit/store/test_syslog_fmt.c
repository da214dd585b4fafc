/*
 * Syslog formats, byte for byte: RFC 5424 (structured data escaping per
 * 6.3.3), RFC 3164 and CEF (header and extension escaping), with hostile
 * values such as a malicious request would bring: quotes, ']', '=', '|',
 * backslashes, newlines, NUL and bytes that are not UTF-8.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "common/event.h"
#include "store/render.h"
#include "store/sinkspec.h"
#include "store/syslog_fmt.h"

#define TS 1795386557210013LL /* 2026-11-22T22:29:17.210013Z */
#define ID "0123456789abcdef01234567"

/* Give the record being finished a fixed event id (ev_begin makes a random one). */
static void fix_id(struct evbuf *b)
{
	for (size_t i = 0; i + 24 <= b->len; i++) {
		if (!memcmp(b->data + i, "event_id", 8)) {
			memcpy(b->data + i + 8 + 4, ID, 24);
			return;
		}
	}
	fail();
}

static const char hostile[] = "a\"b]c\\d=e|f\ng\rh\x01i\xff\xc3(j\xe2\x82\xacz";

static void hostile_dns(struct evbuf *b)
{
	evbuf_init(b);
	ev_begin(b, "dns", TS);
	fix_id(b);
	ev_str(b, "src_ip", "192.0.2.7");
	ev_int(b, "src_port", 40001);
	ev_str(b, "dest_ip", "2001:db8::53");
	ev_int(b, "dest_port", 53);
	ev_str(b, "proto", "UDP");
	ev_obj(b, "dns");
	ev_str(b, "rrname", hostile);
	ev_str(b, "rrtype", "A");
	ev_close(b);
	ev_obj(b, "sinkhole");
	ev_str(b, "action", "sinkhole");
	ev_str(b, "reason", "blocklist");
	ev_str(b, "rule", "x=y");
	ev_str(b, "list", "/etc/l|st");
	ev_str(b, "answer", "127.66.0.9");
	ev_close(b);
	ev_end(b);
}

static struct syslog_fmt fmt(int format)
{
	struct syslog_fmt f = {
	    format, 21 /* local5 */, "sensor-1.example", "sinktrap", NULL, "1.2.3", 4242, 0};
	return f;
}

static void render(int format, const struct evbuf *b, struct strbuf *out)
{
	struct syslog_fmt f = fmt(format);
	strbuf_init(out);
	syslog_fmt_render(&f, b->data, b->len, out);
}

/* The bytes of the hostile value, escaped as each format wants. */
#define SD_HOSTILE                                                                             \
	"a\\\"b\\]c\\\\d=e|f\xef\xbf\xbdg\xef\xbf\xbdh\xef\xbf\xbdi\xef\xbf\xbd\xef\xbf\xbd("  \
	"j\xe2\x82\xacz"
#define CEF_HOSTILE                                                                            \
	"a\"b]c\\\\d\\=e|f\\ng\\rh\xef\xbf\xbdi\xef\xbf\xbd\xef\xbf\xbd(j\xe2\x82\xacz"
#define JSON_HOSTILE "a\\\"b]c\\\\d=e|f\\ng\\rh\\u0001i\\u00ff\\u00c3(j\xe2\x82\xacz"

#define JSON_EVENT                                                                             \
	"{\"timestamp\":\"2026-11-22T22:29:17.210013+0000\",\"event_type\":\"dns\","           \
	"\"event_id\":\"" ID "\",\"src_ip\":\"192.0.2.7\",\"src_port\":40001,"                 \
	"\"dest_ip\":\"2001:db8::53\",\"dest_port\":53,\"proto\":\"UDP\",\"dns\":{\"rrname\":" \
	"\"" JSON_HOSTILE "\",\"rrtype\":\"A\"},\"sinkhole\":{\"action\":\"sinkhole\","        \
	"\"reason\":\"blocklist\",\"rule\":\"x=y\",\"list\":\"/etc/l|st\","                    \
	"\"answer\":\"127.66.0.9\"}}"

static void test_rfc5424_hostile(void **state)
{
	struct evbuf b;
	struct strbuf out;
	hostile_dns(&b);
	render(SYSLOG_RFC5424, &b, &out);
	const char *want =
	    "<173>1 2026-11-22T22:29:17.210013Z sensor-1.example sinktrap 4242 dns "
	    "[sinktrap@32473 event_type=\"dns\" event_id=\"" ID "\" src_ip=\"192.0.2.7\" "
	    "src_port=\"40001\" dest_ip=\"2001:db8::53\" dest_port=\"53\" proto=\"UDP\" "
	    "domain=\"" SD_HOSTILE "\" rrtype=\"A\" action=\"sinkhole\" reason=\"blocklist\" "
	    "rule=\"x=y\" list=\"/etc/l|st\" answer=\"127.66.0.9\"] " JSON_EVENT;
	assert_int_equal(out.len, strlen(want));
	assert_memory_equal(out.data, want, out.len);
	strbuf_free(&out);
	evbuf_free(&b);
}

static void test_rfc3164_hostile(void **state)
{
	struct evbuf b;
	struct strbuf out;
	hostile_dns(&b);
	render(SYSLOG_RFC3164, &b, &out);
	const char *want = "<173>Nov 22 22:29:17 sensor-1.example sinktrap[4242]: " JSON_EVENT;
	assert_int_equal(out.len, strlen(want));
	assert_memory_equal(out.data, want, out.len);
	/* Nothing a receiver would split a message on. */
	assert_null(memchr(out.data, '\n', out.len));
	assert_null(memchr(out.data, '\r', out.len));
	strbuf_free(&out);
	evbuf_free(&b);
}

static void test_cef_hostile(void **state)
{
	struct evbuf b;
	struct strbuf out;
	hostile_dns(&b);
	render(SYSLOG_CEF, &b, &out);
	const char *want =
	    "<173>Nov 22 22:29:17 sensor-1.example CEF:0|sinktrap|sinktrap|1.2.3|dns:sinkhole|"
	    "DNS query sinkholed|5|rt=1795386557210 cat=dns externalId=" ID " src=192.0.2.7 "
	    "spt=40001 c6a3Label=Destination IPv6 Address c6a3=2001:db8::53 dpt=53 proto=UDP "
	    "dhost=" CEF_HOSTILE " act=sinkhole reason=blocklist cs1Label=rule cs1=x\\=y "
	    "cs2Label=list cs2=/etc/l|st cs4Label=sinkholeAddress cs4=127.66.0.9 "
	    "cs5Label=rrtype cs5=A";
	assert_int_equal(out.len, strlen(want));
	assert_memory_equal(out.data, want, out.len);
	assert_null(memchr(out.data, '\n', out.len));
	strbuf_free(&out);
	evbuf_free(&b);
}

/* An alert whose signature holds the CEF header's separators. */
static void test_cef_header_escaping(void **state)
{
	struct evbuf b;
	struct strbuf out;
	evbuf_init(&b);
	ev_begin(&b, "alert", TS);
	fix_id(&b);
	ev_obj(&b, "alert");
	ev_str(&b, "signature", "list|reload \\ failed\n");
	ev_str(&b, "category", "sinktrap");
	ev_close(&b);
	ev_end(&b);
	struct syslog_fmt f = fmt(SYSLOG_CEF);
	f.sensor = "s=1";
	f.facility = 16;
	strbuf_init(&out);
	syslog_fmt_render(&f, b.data, b.len, &out);
	const char *want =
	    "<132>Nov 22 22:29:17 sensor-1.example CEF:0|sinktrap|sinktrap|1.2.3|"
	    "alert|list\\|reload \\\\ failed\xef\xbf\xbd|6|rt=1795386557210 cat=alert "
	    "externalId=" ID " dvchost=s\\=1 msg=sinktrap";
	assert_int_equal(out.len, strlen(want));
	assert_memory_equal(out.data, want, out.len);
	strbuf_free(&out);
	evbuf_free(&b);
}

static void test_escapers(void **state)
{
	struct strbuf o;
	strbuf_init(&o);
	syslog_fmt_sd_value(&o, (const uint8_t *)"]\"\\", 3);
	assert_string_equal(o.data, "\\]\\\"\\\\");
	strbuf_reset(&o);
	/* An overlong '/' (C0 AF) and a lone surrogate (ED A0 80) are not UTF-8. */
	syslog_fmt_sd_value(&o, (const uint8_t *)"\xc0\xaf\xed\xa0\x80", 5);
	assert_string_equal(o.data,
	                    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	strbuf_reset(&o);
	syslog_fmt_cef_value(&o, (const uint8_t *)"a=b\\c\r\nd|", 9);
	assert_string_equal(o.data, "a\\=b\\\\c\\r\\nd|");
	strbuf_reset(&o);
	syslog_fmt_cef_header(&o, (const uint8_t *)"a|b\\c=d", 7);
	assert_string_equal(o.data, "a\\|b\\\\c=d");
	strbuf_reset(&o);
	/* NUL inside a value. */
	syslog_fmt_cef_value(&o, (const uint8_t *)"a\0b", 3);
	assert_string_equal(o.data, "a\xef\xbf\xbd"
	                            "b");
	strbuf_free(&o);
}

/* A sinkhole_map event and a trap connection with HTTP details. */
static void test_field_mapping(void **state)
{
	struct evbuf b;
	struct strbuf out;
	evbuf_init(&b);
	ev_begin(&b, "trap", TS);
	fix_id(&b);
	ev_str(&b, "src_ip", "10.1.2.3");
	ev_int(&b, "src_port", 50000);
	ev_str(&b, "dest_ip", "127.66.0.9");
	ev_int(&b, "dest_port", 80);
	ev_str(&b, "proto", "TCP");
	ev_str(&b, "app_proto", "http");
	ev_str(&b, "community_id", "1:abc=");
	ev_obj(&b, "trap");
	ev_str(&b, "domain", "evil.test");
	ev_close(&b);
	ev_obj(&b, "http");
	ev_str(&b, "hostname", "other.test");
	ev_str(&b, "url", "/gate.php?id=1 2");
	ev_str(&b, "http_method", "POST");
	ev_close(&b);
	ev_obj(&b, "credentials");
	ev_str(&b, "username", "admin");
	ev_close(&b);
	ev_end(&b);
	render(SYSLOG_CEF, &b, &out);
	const char *want =
	    "<172>Nov 22 22:29:17 sensor-1.example CEF:0|sinktrap|sinktrap|1.2.3|trap|"
	    "Connection to the trap|7|rt=1795386557210 cat=trap externalId=" ID " src=10.1.2.3 "
	    "spt=50000 dst=127.66.0.9 dpt=80 proto=TCP app=http dhost=evil.test "
	    "request=/gate.php?id\\=1 2 requestMethod=POST suser=admin cs3Label=communityId "
	    "cs3=1:abc\\=";
	assert_int_equal(out.len, strlen(want));
	assert_memory_equal(out.data, want, out.len);
	strbuf_reset(&out);
	struct syslog_fmt f = fmt(SYSLOG_RFC5424);
	f.sensor = "s1";
	syslog_fmt_render(&f, b.data, b.len, &out);
	const char *sd =
	    "[sinktrap@32473 event_type=\"trap\" event_id=\"" ID "\" host=\"s1\" "
	    "src_ip=\"10.1.2.3\" src_port=\"50000\" dest_ip=\"127.66.0.9\" "
	    "dest_port=\"80\" proto=\"TCP\" app_proto=\"http\" community_id=\"1:abc=\" "
	    "domain=\"evil.test\" url=\"/gate.php?id=1 2\" method=\"POST\" "
	    "user=\"admin\"] {";
	assert_non_null(strstr(out.data, sd));
	assert_non_null(strstr(out.data, "\"event_type\":\"trap\",\"host\":\"s1\","));
	assert_int_equal(syslog_fmt_severity(b.data, b.len), 4);
	assert_int_equal(syslog_fmt_cef_severity(b.data, b.len), 7);
	strbuf_free(&out);
	evbuf_free(&b);
}

/* Long or odd header tokens: cut to their RFC 5424 limits, spaces replaced. */
static void test_header_tokens(void **state)
{
	struct evbuf b;
	struct strbuf out;
	char app[80];
	memset(app, 'a', sizeof(app) - 1);
	app[sizeof(app) - 1] = '\0';
	evbuf_init(&b);
	ev_begin(&b, "stats with space", TS);
	fix_id(&b);
	ev_end(&b);
	struct syslog_fmt f = fmt(SYSLOG_RFC5424);
	f.app_name = app;
	f.hostname = "";
	strbuf_init(&out);
	syslog_fmt_render(&f, b.data, b.len, &out);
	char want[256];
	snprintf(
	    want, sizeof(want),
	    "<174>1 2026-11-22T22:29:17.210013Z - %.48s 4242 stats_with_space [sinktrap@32473 "
	    "event_type=\"stats with space\" event_id=\"" ID "\"] {",
	    app);
	assert_memory_equal(out.data, want, strlen(want));
	strbuf_reset(&out);
	f.format = SYSLOG_RFC3164;
	f.app_name = "my:tag[x]";
	syslog_fmt_render(&f, b.data, b.len, &out);
	const char *w3 = "<174>Nov 22 22:29:17 - my_tag_x_[4242]: {";
	assert_memory_equal(out.data, w3, strlen(w3));
	strbuf_free(&out);
	evbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc5424_hostile), cmocka_unit_test(test_rfc3164_hostile),
	    cmocka_unit_test(test_cef_hostile),     cmocka_unit_test(test_cef_header_escaping),
	    cmocka_unit_test(test_escapers),        cmocka_unit_test(test_field_mapping),
	    cmocka_unit_test(test_header_tokens),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

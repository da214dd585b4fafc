/* cmocka tests of the PostgreSQL sink's COPY text (src/store/pg_copy.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "store/pg_copy.h"

static char *text(struct strbuf *b)
{
	strbuf_putc(b, '\0');
	return b->data;
}

/* Text values: what COPY's text format would read otherwise is escaped; what the
 * database refuses (NUL, bytes that are not UTF-8) becomes U+FFFD. */
static void test_text(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		size_t n;
		const char *out;
	} cases[] = {
	    {"plain", 5, "plain"},
	    {"a\tb\nc\rd\\e", 9, "a\\tb\\nc\\rd\\\\e"},
	    {"nul\0x", 5, "nul\xef\xbf\xbdx"},
	    {"\xc3\xa9t\xc3\xa9", 5, "\xc3\xa9t\xc3\xa9"}, /* UTF-8 kept */
	    {"\xff\xfe", 2, "\xef\xbf\xbd\xef\xbf\xbd"},   /* not UTF-8 */
	    {"\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd"},   /* overlong '/' */
	    {"\xe2\x82", 2, "\xef\xbf\xbd\xef\xbf\xbd"},   /* cut */
	    {"\x01\x1f", 2, "\x01\x1f"},                   /* other controls are text */
	    {"\\N", 2, "\\\\N"},                           /* not NULL */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct strbuf b;
		strbuf_init(&b);
		pg_copy_text(&b, (const uint8_t *)cases[i].in, cases[i].n);
		assert_string_equal(text(&b), cases[i].out);
		strbuf_free(&b);
	}
}

static struct ev_field str(const char *s)
{
	struct ev_field f = {.kind = EV_STR, .str = (const uint8_t *)s, .strlen = strlen(s)};
	return f;
}

static struct ev_field num(int64_t v)
{
	struct ev_field f = {.kind = EV_INT, .i = v};
	return f;
}

/* The columns of one sessions_stage line, split at the tabs. */
static int columns(char *line, char **col, int max)
{
	int n = 0;
	size_t len = strlen(line);
	if (len && line[len - 1] == '\n')
		line[len - 1] = '\0';
	for (char *p = line; n < max;) {
		col[n++] = p;
		char *t = strchr(p, '\t');
		if (t == NULL)
			break;
		*t = '\0';
		p = t + 1;
	}
	return n;
}

/* A well-formed session: every column in place, numbers as numbers. */
static void test_session(void **state)
{
	(void)state;
	struct session_row r;
	memset(&r, 0, sizeof(r));
	r.col[SC_EVENT_ID] = str("ev1");
	r.col[SC_FLOW_ID] = num(1234567890123);
	r.col[SC_SRC_IP] = str("10.0.0.1");
	r.col[SC_SRC_PORT] = num(40000);
	r.col[SC_DEST_IP] = str("127.66.0.1");
	r.col[SC_DEST_PORT] = num(443);
	r.col[SC_PROTO] = str("TCP");
	r.col[SC_START_TS] = (struct ev_field){.kind = EV_TIME, .i = 1700000000000000};
	r.col[SC_END_TS] = (struct ev_field){.kind = EV_TIME, .i = 1700000001000000};
	r.col[SC_PKTS_TOSERVER] = num(7);
	r.col[SC_HISTORY] = str("ShADadfF");
	snprintf(r.vlan, sizeof(r.vlan), "100,200");
	snprintf(r.pcap_files, sizeof(r.pcap_files), "a.pcap,b.pcap");
	r.expired = 1;
	struct strbuf b;
	strbuf_init(&b);
	pg_copy_session(&b, 9, &r);
	char *col[64];
	int n = columns(text(&b), col, 64);
	assert_int_equal(n, 1 + SC_MAX + 3);
	assert_string_equal(col[0], "9");
	assert_string_equal(col[1 + SC_EVENT_ID], "ev1");
	assert_string_equal(col[1 + SC_FLOW_ID], "1234567890123");
	assert_string_equal(col[1 + SC_SRC_PORT], "40000");
	assert_string_equal(col[1 + SC_DEST_PORT], "443");
	assert_string_equal(col[1 + SC_START_TS], "1700000000000000");
	assert_string_equal(col[1 + SC_PKTS_TOSERVER], "7");
	assert_string_equal(col[1 + SC_PKTS_TOCLIENT], "\\N");
	assert_string_equal(col[1 + SC_HISTORY], "ShADadfF");
	assert_string_equal(col[1 + SC_MAX], "100,200");
	assert_string_equal(col[1 + SC_MAX + 1], "a.pcap,b.pcap");
	assert_string_equal(col[1 + SC_MAX + 2], "t");
	strbuf_free(&b);
}

/*
 * A record a worker got wrong: a string where the table has a number, a port past
 * 65535, a negative counter. Each is NULL, never text the database would refuse
 * for the column's type (which would refuse the whole batch, again and again).
 */
static void test_session_wrong_types(void **state)
{
	(void)state;
	struct session_row r;
	memset(&r, 0, sizeof(r));
	r.col[SC_EVENT_ID] = str("ev2");
	r.col[SC_FLOW_ID] = str("x");
	r.col[SC_SRC_IP] = str("10.0.0.1");
	r.col[SC_SRC_PORT] = num((int64_t)1 << 40);
	r.col[SC_DEST_IP] = str("10.0.0.2");
	r.col[SC_DEST_PORT] = num(-1);
	r.col[SC_PROTO] = num(6); /* a number in a TEXT column is valid text */
	r.col[SC_START_TS] = str("yesterday");
	r.col[SC_END_TS] = (struct ev_field){.kind = EV_BOOL, .i = 1};
	r.col[SC_BYTES_TOSERVER] = num(-5);
	r.col[SC_BYTES_TOCLIENT] = str("12");
	r.col[SC_STATE] = (struct ev_field){.kind = EV_OBJ};
	struct strbuf b;
	strbuf_init(&b);
	pg_copy_session(&b, 1, &r);
	char *col[64];
	int n = columns(text(&b), col, 64);
	assert_int_equal(n, 1 + SC_MAX + 3);
	assert_string_equal(col[1 + SC_FLOW_ID], "\\N");
	assert_string_equal(col[1 + SC_SRC_PORT], "\\N");
	assert_string_equal(col[1 + SC_DEST_PORT], "\\N");
	assert_string_equal(col[1 + SC_PROTO], "6");
	assert_string_equal(col[1 + SC_START_TS], "\\N");
	assert_string_equal(col[1 + SC_END_TS], "\\N");
	assert_string_equal(col[1 + SC_BYTES_TOSERVER], "\\N");
	assert_string_equal(col[1 + SC_BYTES_TOCLIENT], "\\N");
	assert_string_equal(col[1 + SC_STATE], "\\N");
	assert_string_equal(col[1 + SC_MAX], "\\N");
	assert_string_equal(col[1 + SC_MAX + 2], "f");
	strbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_text),
	    cmocka_unit_test(test_session),
	    cmocka_unit_test(test_session_wrong_types),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

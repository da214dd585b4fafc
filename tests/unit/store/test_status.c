/* The status file: the table `sinktrap status` prints, and staleness. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/status.h"

static const char doc[] =
    "{\"version\":1,\"updated_usec\":1795386557000000,\"updated\":\"x\",\"pid\":77,"
    "\"started_usec\":1,\"events\":12345,\"sinks\":["
    "{\"name\":\"json\",\"kind\":\"json\",\"dest\":\"/v/e.json\",\"connected\":true,"
    "\"delivered\":12345,\"queued\":0,\"dropped\":0},"
    "{\"name\":\"siem\",\"kind\":\"syslog\",\"dest\":\"tcp://"
    "127.0.0.1:514\",\"connected\":false,"
    "\"delivered\":100,\"queued\":12245,\"dropped\":7,\"format\":\"cef\","
    "\"last_error\":\"127.0.0.1:514: Connection refused \\u00e9\\\"\"}],"
    "\"workers\":{\"dns\":{\"timestamp_usec\":1795386556000000,\"timestamp\":\"T\","
    "\"event_type\":\"stats\",\"stats\":{\"worker\":\"dns\",\"dns\":{\"queries\":42,"
    "\"sinkholed\":40}}}}}";

static char *print(const char *json, int64_t now, int *rc)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	*rc = status_print(json, strlen(json), now, f);
	fclose(f);
	return buf;
}

static void test_table(void **state)
{
	int rc;
	char *out = print(doc, 1795386557500000LL, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "store pid 77"));
	assert_non_null(strstr(out, "12345 events taken"));
	assert_non_null(strstr(out,
	                       "json                         json       up            12345 "
	                       "         0          0  /v/e.json\n"));
	assert_non_null(strstr(out,
	                       "siem                         syslog     down            100 "
	                       "     12245          7  tcp://127.0.0.1:514 (cef)\n"));
	assert_non_null(
	    strstr(out, "last error: 127.0.0.1:514: Connection refused \xc3\xa9\"\n"));
	assert_non_null(strstr(out, "dns worker, stats of T:"));
	assert_non_null(strstr(out, "    queries=42  sinkholed=40\n"));
	free(out);
}

static void test_stale(void **state)
{
	int rc;
	char *out = print(doc, 1795386557000000LL + 60 * 1000000LL, &rc);
	assert_int_equal(rc, 1);
	assert_non_null(strstr(out, "is sinktrap running?"));
	free(out);
}

static void test_garbage(void **state)
{
	static const char *const bad[] = {
	    "",
	    "{",
	    "[1,2]",
	    "{\"a\":}",
	    "{\"a\":\"x}",
	    "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]"
	    "]]]]]]]]]]]]]]]]]]]]]]]}",
	    "{\"a\":\"\\u12\"}",
	    "{\"a\" 1}",
	    "{\"a\":1,}",
	    "nul"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc;
		char *out = print(bad[i], 0, &rc);
		assert_int_equal(rc, -1);
		free(out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_stale),
	    cmocka_unit_test(test_garbage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

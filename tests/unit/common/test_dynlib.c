#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

#include "capture/capture.h"
#include "common/dynlib.h"
#include "store/sinkspec.h"

/* Whether a library whose file name starts with prefix is mapped into this process. */
static int mapped(const char *prefix)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[1024];
	int found = 0;
	assert_non_null(f);
	while (!found && fgets(line, sizeof(line), f)) {
		const char *slash = strrchr(line, '/');
		if (slash && !strncmp(slash + 1, prefix, strlen(prefix)))
			found = 1;
	}
	fclose(f);
	return found;
}

static struct dynlib nothere = DYNLIB_INIT(
    "test library (libnothere)", "libsinktrap-nothere.so.7", "libsinktrap-nothere.so.8");
static struct dynlib zlib = DYNLIB_INIT("zlib", "libsinktrap-nothere.so.7", "libz.so.1");

static void test_missing_library(void **state)
{
	struct dynlib *lib = &nothere;
	char err[300];
	assert_int_equal(dynlib_ready(lib, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "test library (libnothere)"));
	assert_non_null(strstr(err, "libsinktrap-nothere.so.7"));
	/* asked again: the same answer, nothing retried */
	err[0] = '\0';
	assert_int_equal(dynlib_ready(lib, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "libsinktrap-nothere"));
}

static void test_fallback_name(void **state)
{
	struct dynlib *lib = &zlib;
	char err[300];
	assert_int_equal(dynlib_ready(lib, err, sizeof(err)), 0);
	const char *(*version)(void) = (const char *(*)(void))dynlib_sym(lib, "zlibVersion");
	assert_non_null(version);
	assert_true(version()[0] >= '1');
}

/* libpq is not loaded until it is used; then the calls reach it. */
static void test_pq_loaded_at_first_use(void **state)
{
	char err[300];
	assert_false(mapped("libpq.so"));
	char *msg = NULL;
	PQconninfoOption *o =
	    PQconninfoParse("postgresql://alice@db.example:6543/events", &msg);
	assert_true(mapped("libpq.so"));
	assert_non_null(o);
	const char *port = NULL, *user = NULL;
	for (PQconninfoOption *p = o; p->keyword; p++) {
		if (!strcmp(p->keyword, "port"))
			port = p->val;
		if (!strcmp(p->keyword, "user"))
			user = p->val;
	}
	assert_string_equal(port, "6543");
	assert_string_equal(user, "alice");
	PQconninfoFree(o);
	assert_null(PQconninfoParse("postgresql://[broken", &msg));
	assert_non_null(msg);
	PQfreemem(msg);
	assert_int_equal(pq_ready(err, sizeof(err)), 0);
}

static void test_pcap_loaded_at_first_use(void **state)
{
	char err[300];
	assert_false(mapped("libpcap.so"));
	assert_int_equal(capture_filter_check("tcp port 80", err, sizeof(err)), 0);
	assert_true(mapped("libpcap.so"));
	assert_int_equal(capture_filter_check("tcp port", err, sizeof(err)), -1);
	assert_true(strlen(err) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_missing_library),
	    cmocka_unit_test(test_fallback_name),
	    cmocka_unit_test(test_pq_loaded_at_first_use),
	    cmocka_unit_test(test_pcap_loaded_at_first_use),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

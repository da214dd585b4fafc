#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <argon2.h>
#include <arpa/inet.h>
#include <errno.h>
#include <libpq-fe.h>
#include <seccomp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "capture/capture.h"
#include "capture/communityid.h"
#include "common/dynlib.h"
#include "common/openssl_shim.h"
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

/* libcrypto (and libssl with it) is not loaded until used: the Community ID's
 * SHA-1 and base64 come through the shim right. */
static void test_openssl_loaded_at_first_use(void **state)
{
	char err[300], cid[COMMUNITYID_STRLEN];
	uint8_t a[16], b[16];
	assert_false(mapped("libcrypto.so"));
	assert_false(mapped("libssl.so"));
	assert_int_equal(inet_pton(AF_INET6, "fe80::200:86ff:fe05:80da", a), 1);
	assert_int_equal(inet_pton(AF_INET6, "fe80::260:97ff:fe07:69ea", b), 1);
	assert_int_equal(communityid_compute(0, 6, a, b, 58, 135, 0, cid), 0);
	assert_string_equal(cid, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=");
	assert_true(mapped("libcrypto.so"));
	assert_int_equal(openssl_ready(err, sizeof(err)), 0);
	assert_true(mapped("libssl.so"));
}

/* SQLite, its one variadic call included. */
static void test_sqlite_loaded_at_first_use(void **state)
{
	assert_false(mapped("libsqlite3.so"));
	assert_int_equal(sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0), SQLITE_OK);
	assert_true(mapped("libsqlite3.so"));
	assert_int_equal(sqlite3_config(SQLITE_CONFIG_LOG, NULL, NULL), SQLITE_MISUSE);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE, NULL),
	                 SQLITE_OK);
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT ? * 6, 'x' || ?", -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_int64(st, 1, 7);
	sqlite3_bind_text(st, 2, "yz", -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int64(st, 0), 42);
	assert_string_equal((const char *)sqlite3_column_text(st, 1), "xyz");
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* libseccomp: a rule with comparisons passes through the variadic forwarder
 * (nothing is loaded into the kernel here). */
static void test_seccomp_loaded_at_first_use(void **state)
{
	assert_false(mapped("libseccomp.so"));
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	assert_non_null(ctx);
	assert_true(mapped("libseccomp.so"));
	assert_int_equal(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 2,
	                                  SCMP_A0(SCMP_CMP_EQ, 17), SCMP_A1(SCMP_CMP_EQ, 3)),
	                 0);
	assert_int_equal(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(connect), 0), 0);
	assert_true(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 7) < 0);
	assert_true(seccomp_syscall_resolve_name("openat") >= 0);
	seccomp_release(ctx);
}

static void test_argon2_loaded_at_first_use(void **state)
{
	char enc[128];
	assert_false(mapped("libargon2.so"));
	assert_int_equal(
	    argon2id_hash_encoded(1, 64, 1, "pw", 2, "saltsalt", 8, 16, enc, sizeof(enc)),
	    ARGON2_OK);
	assert_true(mapped("libargon2.so"));
	assert_int_equal(argon2id_verify(enc, "pw", 2), ARGON2_OK);
	assert_int_equal(argon2id_verify(enc, "pW", 2), ARGON2_VERIFY_MISMATCH);
	assert_non_null(argon2_error_message(ARGON2_VERIFY_MISMATCH));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_missing_library),
	    cmocka_unit_test(test_fallback_name),
	    /* before libpq, which brings libcrypto with it */
	    cmocka_unit_test(test_openssl_loaded_at_first_use),
	    cmocka_unit_test(test_pq_loaded_at_first_use),
	    cmocka_unit_test(test_pcap_loaded_at_first_use),
	    cmocka_unit_test(test_sqlite_loaded_at_first_use),
	    cmocka_unit_test(test_seccomp_loaded_at_first_use),
	    cmocka_unit_test(test_argon2_loaded_at_first_use),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

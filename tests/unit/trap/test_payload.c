/*
 * The payload store: content addressing, the existed flag, quota eviction
 * (oldest first, exact counts), the eviction bookkeeping past its first
 * array, and reopening (scan, mtime order, leftover temporaries removed).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "trap/payload.h"

#define SHA_HELLO "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static char *tmpdir(void)
{
	char tmpl[] = "/tmp/sinktrap-payload-XXXXXX";
	char *d = mkdtemp(tmpl);

	assert_non_null(d);
	return strdup(d);
}

static void rm_rf(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;

	if (d == NULL) {
		unlink(path);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		char sub[4096];

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		rm_rf(sub);
	}
	closedir(d);
	rmdir(path);
}

static void path_of(const char *dir, const char *sha, char *out, size_t len)
{
	snprintf(out, len, "%s/%.2s/%s", dir, sha, sha);
}

static int exists(const char *dir, const char *sha)
{
	char p[4200];
	struct stat st;

	path_of(dir, sha, p, sizeof(p));
	return stat(p, &st) == 0;
}

/* The stored file's bytes equal data. */
static void assert_file(const char *dir, const char *sha, const void *data, size_t len)
{
	char p[4200];
	uint8_t buf[8192];
	int fd;
	ssize_t n;

	path_of(dir, sha, p, sizeof(p));
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_int_equal(n, (ssize_t)len);
	assert_memory_equal(buf, data, len);
}

/* A payload of len bytes, distinct for each tag. */
static void fill(uint8_t *buf, size_t len, unsigned tag)
{
	uint32_t x = 2166136261u ^ tag;

	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u + tag;
		buf[i] = (uint8_t)(x >> 16);
	}
	if (len >= 4)
		memcpy(buf, &tag, 4);
}

static void put_ok(struct payload_store *ps, const void *data, size_t len,
                   struct payload_result *r)
{
	assert_int_equal(payload_store_put(ps, data, len, r), 0);
	assert_int_equal(r->stored, 1);
}

static void count_files(const char *dir, int *payloads, int *others)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	*payloads = *others = 0;
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		char sub[4096];
		DIR *sd;
		struct dirent *fe;

		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
		sd = opendir(sub);
		if (sd == NULL) {
			(*others)++;
			continue;
		}
		while ((fe = readdir(sd)) != NULL) {
			if (!strcmp(fe->d_name, ".") || !strcmp(fe->d_name, ".."))
				continue;
			if (strlen(fe->d_name) == 64)
				(*payloads)++;
			else
				(*others)++;
		}
		closedir(sd);
	}
	closedir(d);
}

static void test_sha256(void **state)
{
	char hex[65];

	(void)state;
	payload_sha256((const uint8_t *)"hello", 5, hex);
	assert_string_equal(hex, SHA_HELLO);
	payload_sha256((const uint8_t *)"", 0, hex);
	assert_string_equal(hex, SHA_EMPTY);
}

static void test_content_addressed(void **state)
{
	char *dir = tmpdir(), err[256], sub[4096];
	struct payload_store *ps;
	struct payload_result r;
	struct stat st;

	(void)state;
	/* A directory that does not exist yet is made. */
	snprintf(sub, sizeof(sub), "%s/deep/payloads", dir);
	ps = payload_store_open(sub, 1 << 20, err, sizeof(err));
	assert_non_null(ps);
	assert_int_equal(payload_store_count(ps), 0);
	assert_int_equal(payload_store_bytes(ps), 0);

	put_ok(ps, "hello", 5, &r);
	assert_string_equal(r.sha256, SHA_HELLO);
	assert_int_equal(r.existed, 0);
	assert_int_equal(r.evicted, 0);
	assert_int_equal(r.evicted_bytes, 0);
	assert_file(sub, SHA_HELLO, "hello", 5);
	assert_int_equal(payload_store_count(ps), 1);
	assert_int_equal(payload_store_bytes(ps), 5);

	/* The same bytes again: nothing written, nothing counted twice. */
	char p[4200];
	path_of(sub, SHA_HELLO, p, sizeof(p));
	assert_int_equal(stat(p, &st), 0);
	ino_t ino = st.st_ino;
	put_ok(ps, "hello", 5, &r);
	assert_string_equal(r.sha256, SHA_HELLO);
	assert_int_equal(r.existed, 1);
	assert_int_equal(r.evicted, 0);
	assert_int_equal(payload_store_count(ps), 1);
	assert_int_equal(payload_store_bytes(ps), 5);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_ino, ino);

	/* Other bytes, another file in its own two-hex-digit directory. */
	put_ok(ps, "hello!", 6, &r);
	assert_int_equal(r.existed, 0);
	assert_string_not_equal(r.sha256, SHA_HELLO);
	assert_file(sub, r.sha256, "hello!", 6);
	assert_int_equal(payload_store_count(ps), 2);
	assert_int_equal(payload_store_bytes(ps), 11);

	/* Binary bytes with NULs are kept exactly. */
	uint8_t bin[300];
	char want[65];
	fill(bin, sizeof(bin), 7);
	bin[10] = 0;
	payload_sha256(bin, sizeof(bin), want);
	put_ok(ps, bin, sizeof(bin), &r);
	assert_string_equal(r.sha256, want);
	assert_file(sub, want, bin, sizeof(bin));

	int np, no;
	count_files(sub, &np, &no);
	assert_int_equal(np, 3);
	assert_int_equal(no, 0); /* no temporary left behind */
	payload_store_close(&ps);
	assert_null(ps);
	payload_store_close(&ps);
	rm_rf(dir);
	free(dir);
}

static void test_quota_evicts_oldest_first(void **state)
{
	char *dir = tmpdir(), err[256];
	struct payload_store *ps = payload_store_open(dir, 100, err, sizeof(err));
	struct payload_result r;
	uint8_t a[40], b[40], c[40], d[90], e[30], big[101];
	char sa[65], sb[65], sc[65], sd[65];

	(void)state;
	assert_non_null(ps);
	fill(a, sizeof(a), 1);
	fill(b, sizeof(b), 2);
	fill(c, sizeof(c), 3);
	fill(d, sizeof(d), 4);
	fill(e, sizeof(e), 5);
	fill(big, sizeof(big), 6);

	put_ok(ps, a, sizeof(a), &r);
	memcpy(sa, r.sha256, 65);
	put_ok(ps, b, sizeof(b), &r);
	memcpy(sb, r.sha256, 65);
	assert_int_equal(r.evicted, 0);
	assert_int_equal(payload_store_bytes(ps), 80);

	/* 80 + 40 > 100: exactly the oldest (a) goes. */
	put_ok(ps, c, sizeof(c), &r);
	memcpy(sc, r.sha256, 65);
	assert_int_equal(r.evicted, 1);
	assert_int_equal(r.evicted_bytes, 40);
	assert_false(exists(dir, sa));
	assert_true(exists(dir, sb));
	assert_true(exists(dir, sc));
	assert_int_equal(payload_store_count(ps), 2);
	assert_int_equal(payload_store_bytes(ps), 80);

	/* A payload already there evicts nothing, even at the quota. */
	put_ok(ps, b, sizeof(b), &r);
	assert_int_equal(r.existed, 1);
	assert_int_equal(r.evicted, 0);

	/* 80 + 90 > 100: b then c (oldest first), and no more than needed. */
	put_ok(ps, d, sizeof(d), &r);
	memcpy(sd, r.sha256, 65);
	assert_int_equal(r.evicted, 2);
	assert_int_equal(r.evicted_bytes, 80);
	assert_false(exists(dir, sb));
	assert_false(exists(dir, sc));
	assert_true(exists(dir, sd));
	assert_int_equal(payload_store_count(ps), 1);
	assert_int_equal(payload_store_bytes(ps), 90);

	/* Larger than the whole store: described, not kept, nothing evicted. */
	assert_int_equal(payload_store_put(ps, big, sizeof(big), &r), 0);
	assert_int_equal(r.stored, 0);
	assert_int_equal(r.existed, 0);
	assert_int_equal(r.evicted, 0);
	assert_false(exists(dir, r.sha256));
	assert_true(exists(dir, sd));
	assert_int_equal(payload_store_bytes(ps), 90);

	/* Exactly at the quota is allowed: 90 + 10 = 100 evicts nothing. */
	put_ok(ps, e, 10, &r);
	assert_int_equal(r.evicted, 0);
	assert_int_equal(payload_store_bytes(ps), 100);

	/* An evicted payload comes back as new. */
	put_ok(ps, a, sizeof(a), &r);
	assert_string_equal(r.sha256, sa);
	assert_int_equal(r.existed, 0);
	assert_int_equal(r.evicted, 1); /* d (90) goes; e (10) + a (40) stay */
	assert_int_equal(r.evicted_bytes, 90);
	assert_true(exists(dir, sa));
	assert_false(exists(dir, sd));
	assert_int_equal(payload_store_count(ps), 2);
	assert_int_equal(payload_store_bytes(ps), 50);

	payload_store_close(&ps);
	rm_rf(dir);
	free(dir);
}

/* Tiny payloads: the number of files is bounded as well as their bytes. */
static void test_max_files(void **state)
{
	char *dir = tmpdir(), err[256];
	struct payload_store *ps = payload_store_open(dir, 1 << 20, err, sizeof(err));
	struct payload_result r;
	uint8_t buf[4];
	char first[65];

	(void)state;
	assert_non_null(ps);
	payload_store_set_max_files(ps, 3);
	for (unsigned i = 0; i < 10; i++) {
		fill(buf, sizeof(buf), 7000 + i);
		put_ok(ps, buf, sizeof(buf), &r);
		if (i == 0)
			memcpy(first, r.sha256, 65);
		assert_int_equal(r.evicted, i < 3 ? 0 : 1);
		assert_int_equal(payload_store_count(ps), i < 3 ? i + 1 : 3);
	}
	assert_false(exists(dir, first));
	int np, no;
	count_files(dir, &np, &no);
	assert_int_equal(np, 3);
	payload_store_close(&ps);
	rm_rf(dir);
	free(dir);
}

/* Thousands of puts under a quota: the bookkeeping past its first array. */
static void test_long_run_eviction(void **state)
{
	enum { SZ = 10, KEEP = 1500, TOTAL = 5000 };
	char *dir = tmpdir(), err[256];
	struct payload_store *ps =
	    payload_store_open(dir, (int64_t)SZ * KEEP, err, sizeof(err));
	static char shas[TOTAL][65];
	struct payload_result r;
	uint8_t buf[SZ];
	uint64_t evicted = 0;

	(void)state;
	assert_non_null(ps);
	for (unsigned i = 0; i < TOTAL; i++) {
		fill(buf, sizeof(buf), 1000 + i);
		put_ok(ps, buf, sizeof(buf), &r);
		assert_int_equal(r.existed, 0);
		memcpy(shas[i], r.sha256, 65);
		assert_int_equal(r.evicted, i < KEEP ? 0 : 1);
		assert_int_equal(r.evicted_bytes, i < KEEP ? 0 : SZ);
		evicted += r.evicted;
		if (i >= KEEP)
			assert_false(exists(dir, shas[i - KEEP]));
		assert_int_equal(payload_store_count(ps), i < KEEP ? i + 1 : KEEP);
		assert_int_equal(payload_store_bytes(ps),
		                 (int64_t)SZ * (i < KEEP ? i + 1 : KEEP));
	}
	assert_int_equal(evicted, TOTAL - KEEP);
	for (unsigned i = TOTAL - KEEP; i < TOTAL; i++)
		assert_true(exists(dir, shas[i]));
	int np, no;
	count_files(dir, &np, &no);
	assert_int_equal(np, KEEP);
	assert_int_equal(no, 0);
	payload_store_close(&ps);
	rm_rf(dir);
	free(dir);
}

static void set_mtime(const char *dir, const char *sha, time_t t)
{
	char p[4200];
	struct timeval tv[2] = {{t, 0}, {t, 0}};

	path_of(dir, sha, p, sizeof(p));
	assert_int_equal(utimes(p, tv), 0);
}

static void write_at(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_reopen_scans_and_cleans(void **state)
{
	char *dir = tmpdir(), err[256], p[4300];
	struct payload_store *ps = payload_store_open(dir, 1000, err, sizeof(err));
	struct payload_result r;
	uint8_t x[100], y[200], z[300], w[600];
	char sx[65], sy[65], sz[65];
	struct stat st;

	(void)state;
	assert_non_null(ps);
	fill(x, sizeof(x), 11);
	fill(y, sizeof(y), 12);
	fill(z, sizeof(z), 13);
	fill(w, sizeof(w), 14);
	put_ok(ps, y, sizeof(y), &r);
	memcpy(sy, r.sha256, 65);
	put_ok(ps, x, sizeof(x), &r);
	memcpy(sx, r.sha256, 65);
	put_ok(ps, z, sizeof(z), &r);
	memcpy(sz, r.sha256, 65);
	payload_store_close(&ps);

	/* The age on disk decides the order after a restart: x, then z, then y. */
	set_mtime(dir, sx, 1000000000);
	set_mtime(dir, sz, 1100000000);
	set_mtime(dir, sy, 1200000000);

	/* A crash left temporaries (in a payload directory and a fresh one). */
	snprintf(p, sizeof(p), "%s/%.2s/.tmp.4242.7", dir, sx);
	write_at(p, "half a payload");
	snprintf(p, sizeof(p), "%s/ab", dir);
	mkdir(p, 0750);
	snprintf(p, sizeof(p), "%s/ab/.tmp.1.0", dir);
	write_at(p, "partial");
	/* Files that are not payloads are ignored, not removed, not counted. */
	snprintf(p, sizeof(p), "%s/%.2s/README", dir, sx);
	write_at(p, "operator's note");

	ps = payload_store_open(dir, 1000, err, sizeof(err));
	assert_non_null(ps);
	assert_int_equal(payload_store_count(ps), 3);
	assert_int_equal(payload_store_bytes(ps), 600);
	snprintf(p, sizeof(p), "%s/%.2s/.tmp.4242.7", dir, sx);
	assert_int_equal(stat(p, &st), -1);
	assert_int_equal(errno, ENOENT);
	snprintf(p, sizeof(p), "%s/ab/.tmp.1.0", dir);
	assert_int_equal(stat(p, &st), -1);
	snprintf(p, sizeof(p), "%s/%.2s/README", dir, sx);
	assert_int_equal(stat(p, &st), 0);

	/* A payload known from the scan is not written again. */
	put_ok(ps, z, sizeof(z), &r);
	assert_int_equal(r.existed, 1);
	assert_int_equal(payload_store_count(ps), 3);

	/* 600 + 600 > 1000: the two oldest on disk (x 100, z 300) make room. */
	put_ok(ps, w, sizeof(w), &r);
	assert_int_equal(r.evicted, 2);
	assert_int_equal(r.evicted_bytes, 400);
	assert_false(exists(dir, sx));
	assert_false(exists(dir, sz));
	assert_true(exists(dir, sy));
	assert_true(exists(dir, r.sha256));
	assert_int_equal(payload_store_count(ps), 2);
	assert_int_equal(payload_store_bytes(ps), 800);
	payload_store_close(&ps);

	/* Reopened once more: what is on disk now, nothing else. */
	ps = payload_store_open(dir, 1000, err, sizeof(err));
	assert_non_null(ps);
	assert_int_equal(payload_store_count(ps), 2);
	assert_int_equal(payload_store_bytes(ps), 800);
	payload_store_close(&ps);
	rm_rf(dir);
	free(dir);
}

static void test_open_fails_cleanly(void **state)
{
	char *dir = tmpdir(), err[256] = "", p[4200];

	(void)state;
	/* A regular file where the directory should be. */
	snprintf(p, sizeof(p), "%s/file", dir);
	write_at(p, "x");
	struct payload_store *ps = payload_store_open(p, 1000, err, sizeof(err));
	assert_null(ps);
	assert_true(strlen(err) > 0);
	rm_rf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sha256),
	    cmocka_unit_test(test_content_addressed),
	    cmocka_unit_test(test_quota_evicts_oldest_first),
	    cmocka_unit_test(test_long_run_eviction),
	    cmocka_unit_test(test_max_files),
	    cmocka_unit_test(test_reopen_scans_and_cleans),
	    cmocka_unit_test(test_open_fails_cleanly),
	};

	return cmocka_run_group_tests_name("trap_payload", tests, NULL, NULL);
}

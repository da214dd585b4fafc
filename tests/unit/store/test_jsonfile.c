/* The JSON lines file: size-based rotation with N kept, reopen after a move, a full disk,
 * a rotation that fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../test_dir.h"
#include "store/jsonfile.h"

static char path[300];

static int setup(void **state)
{
	test_dir_setup(state);
	snprintf(path, sizeof(path), "%s/events.json", test_dir);
	return 0;
}

static off_t size_of(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 ? st.st_size : -1;
}

static void test_rotation(void **state)
{
	struct jsonfile *j = jsonfile_new(path, 64 << 10, 3);
	char line[1000], name[400];
	memset(line, 'a', sizeof(line));
	for (int i = 0; i < 400; i++) {
		jsonfile_put(j, line, sizeof(line) - 1);
		if (i % 10 == 9)
			assert_int_equal(jsonfile_flush(j), 0);
	}
	jsonfile_flush(j);
	uint64_t lines, errors, rot, dropped;
	jsonfile_counts(j, &lines, &errors, &rot, &dropped);
	assert_int_equal(lines, 400);
	assert_int_equal(errors, 0);
	assert_true(rot >= 5);
	/* Never past the limit, and only KEEP old files. */
	assert_true(size_of(path) <= 64 << 10);
	for (int k = 1; k <= 3; k++) {
		snprintf(name, sizeof(name), "%s.%d", path, k);
		assert_true(size_of(name) > 0 && size_of(name) <= 64 << 10);
	}
	snprintf(name, sizeof(name), "%s.4", path);
	assert_int_equal(size_of(name), -1);
	jsonfile_free(&j);
}

static void test_reopen(void **state)
{
	struct jsonfile *j = jsonfile_new(path, 0, 1);
	char moved[400];
	jsonfile_put(j, "{\"a\":1}", 7);
	jsonfile_flush(j);
	snprintf(moved, sizeof(moved), "%s.old", path);
	assert_int_equal(rename(path, moved), 0);
	jsonfile_put(j, "{\"a\":2}", 7); /* buffered: goes to the old file */
	jsonfile_reopen(j);
	jsonfile_put(j, "{\"a\":3}", 7);
	jsonfile_free(&j);
	assert_int_equal(size_of(moved), 16);
	assert_int_equal(size_of(path), 8);
}

/*
 * A file that cannot grow (the file size limit stands in for a full disk):
 * the write stops in the middle of a line. The flush fails, the half line is
 * taken back, and once there is room every line is in the file exactly once.
 */
static void test_full(void **state)
{
	struct jsonfile *j = jsonfile_new(path, 0, 1);
	char line[64];
	for (int i = 0; i < 300; i++) {
		snprintf(line, sizeof(line), "{\"n\":%d,\"pad\":\"%030d\"}", i, i);
		jsonfile_put(j, line, strlen(line));
	}
	struct rlimit old, lim;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 5000; /* not a line boundary */
	void (*h)(int) = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	int r = jsonfile_flush(j);
	long size = size_of(path);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, h);
	assert_int_equal(r, -EIO);
	assert_true(size > 0 && size < 5000);
	uint64_t lines, errors, rot, dropped;
	jsonfile_counts(j, &lines, &errors, &rot, &dropped);
	assert_int_equal(errors, 1);
	assert_true(lines > 0 && lines < 300);
	assert_int_equal(lines + jsonfile_pending_lines(j), 300);
	assert_int_equal(jsonfile_flush(j), 0);
	jsonfile_free(&j);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char got[128];
	int n = 0;
	while (fgets(got, sizeof(got), f)) {
		snprintf(line, sizeof(line), "{\"n\":%d,\"pad\":\"%030d\"}\n", n, n);
		if (strcmp(got, line))
			fail_msg("line %d: %s", n + 1, got);
		n++;
	}
	fclose(f);
	assert_int_equal(n, 300);
}

/*
 * A rotation that fails (events.json.1 a directory that is not empty: even
 * root cannot rename over it): the lines go past the size into the same file,
 * the flush returns, the error is told; after the retry delay, with the way
 * clear, the file rotates. Before, the flush tried to rotate forever.
 */
static void test_rotation_fails(void **state)
{
	struct jsonfile *j = jsonfile_new(path, 64 << 10, 1);
	char line[1000], dir[400], inner[500];
	int64_t size;
	memset(line, 'b', sizeof(line));
	snprintf(dir, sizeof(dir), "%s.1", path);
	snprintf(inner, sizeof(inner), "%s/x", dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	FILE *f = fopen(inner, "w");
	assert_non_null(f);
	fclose(f);
	for (int i = 0; i < 200; i++)
		jsonfile_put(j, line, sizeof(line) - 1);
	assert_int_equal(jsonfile_flush(j), 0);
	assert_int_equal(size_of(path), 200 * 1000);
	const char *err = jsonfile_rotate_error(j, &size);
	assert_non_null(err);
	assert_non_null(strstr(err, "cannot rename it to"));
	assert_int_equal(size, 200 * 1000);
	/* More lines before the retry: written too, no rotation tried. */
	for (int i = 0; i < 10; i++)
		jsonfile_put(j, line, sizeof(line) - 1);
	assert_int_equal(jsonfile_flush(j), 0);
	assert_int_equal(size_of(path), 210 * 1000);
	uint64_t lines, errors, rot, dropped;
	jsonfile_counts(j, &lines, &errors, &rot, &dropped);
	assert_int_equal(lines, 210);
	assert_int_equal(rot, 0);
	/* The way clear, the next flush after the delay rotates. */
	assert_int_equal(unlink(inner), 0);
	assert_int_equal(rmdir(dir), 0);
	sleep(6);
	jsonfile_put(j, line, sizeof(line) - 1);
	assert_int_equal(jsonfile_flush(j), 0);
	assert_null(jsonfile_rotate_error(j, &size));
	assert_int_equal(size_of(dir), 210 * 1000);
	assert_int_equal(size_of(path), 1000);
	jsonfile_free(&j);
}

/*
 * events.json removed while the store writes it (to free space, say): at
 * the next rotation a new one is started, and the rotated files are left
 * as they are (before, each retry moved them on and lost them).
 */
static void test_removed_file(void **state)
{
	(void)state;
	struct jsonfile *j = jsonfile_new(path, 10 << 10, 3);
	char line[1000], p1[400], p2[400];
	memset(line, 'c', sizeof(line));
	snprintf(p1, sizeof(p1), "%s.1", path);
	snprintf(p2, sizeof(p2), "%s.2", path);
	for (int i = 0; i < 25; i++) /* 2 rotations: .1 and .2 */
		jsonfile_put(j, line, sizeof(line) - 1);
	assert_int_equal(jsonfile_flush(j), 0);
	assert_int_equal(size_of(p2), 10 * 1000);
	assert_int_equal(size_of(p1), 10 * 1000);
	assert_int_equal(unlink(path), 0);
	for (int i = 0; i < 8; i++)
		jsonfile_put(j, line, sizeof(line) - 1);
	assert_int_equal(jsonfile_flush(j), 0);
	int64_t size;
	assert_null(jsonfile_rotate_error(j, &size));
	assert_int_equal(size_of(p2), 10 * 1000);
	assert_int_equal(size_of(p1), 10 * 1000);
	assert_true(size_of(path) > 0);
	jsonfile_free(&j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_rotation, setup, test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_reopen, setup, test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_full, setup, test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_rotation_fails, setup, test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_removed_file, setup, test_dir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

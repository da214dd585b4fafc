/*
 * A temporary directory for unit tests: made by test_dir_setup, removed with
 * everything in it by test_dir_teardown (cmocka set-up/tear-down, per test or
 * per group). Header-only, included after <cmocka.h>.
 */
#ifndef SINKTRAP_TEST_DIR_H
#define SINKTRAP_TEST_DIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

static char test_dir[256];

static inline int test_dir_setup(void **state)
{
	(void)state;
	snprintf(test_dir, sizeof(test_dir), "/tmp/sinktrap-test-XXXXXX");
	assert_non_null(mkdtemp(test_dir));
	return 0;
}

static inline int test_dir_rm(const char *path, const struct stat *st, int flag,
                              struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline int test_dir_teardown(void **state)
{
	(void)state;
	return nftw(test_dir, test_dir_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* test_dir/NAME; four may be in use at once. */
static inline const char *test_dir_path(const char *name)
{
	static char p[4][512];
	static int next;
	char *b = p[next++ % 4];
	snprintf(b, sizeof(p[0]), "%s/%s", test_dir, name);
	return b;
}

#endif

/*
 * The small shared parsers and helpers of util.c: durations (config keys,
 * remote sink options, ingest's --db-wait) and error formatting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/siphash.h"
#include "common/util.h"

static void test_duration(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		long max, want; /* want -1: refused */
	} t[] = {
	    {"0", 1000, 0},
	    {"2", 10000, 2000},
	    {"2s", 10000, 2000},
	    {"1.5s", 10000, 1500},
	    {"1500ms", 10000, 1500},
	    {"5m", 1000000, 300000},
	    {"1h", 3600000, 3600000},
	    {"1h", 3599999, -1}, /* past the maximum */
	    {"601", 600000, -1},
	    {"600", 600000, 600000},
	    {"", 1000, -1},
	    {"s", 1000, -1},
	    {"-1", 1000, -1},
	    {"2 s", 10000, -1},
	    {"2d", 1000000000, -1},
	    {"2sec", 10000, -1},
	    {"nan", 1000, -1},
	    {"inf", 1000, -1},
	    {"1e400", 1000, -1},
	    /* what strtod takes but a duration is not */
	    {"1e3", 10000000, -1},
	    {"0x10", 100000, -1},
	    {"0x1p4", 100000, -1},
	    {"+5s", 10000, -1},
	    {" 5s", 10000, -1},
	    {"-0", 1000, -1},
	    {".5s", 1000, -1},
	    {"5.s", 10000, -1},
	    {"1.5e1m", 10000000, -1},
	    {"0.25s", 1000, 250},
	};
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		long v = -7;
		int rc = parse_duration_ms(t[i].in, t[i].max, &v);
		if (t[i].want < 0) {
			if (rc != -1)
				fail_msg("'%s' (max %ld) accepted as %ld", t[i].in, t[i].max,
				         v);
			if (v != -7)
				fail_msg("'%s': output written although refused", t[i].in);
		} else if (rc != 0 || v != t[i].want) {
			fail_msg("'%s' (max %ld): rc %d, %ld, not %ld", t[i].in, t[i].max, rc,
			         v, t[i].want);
		}
	}
}

static void test_set_err_code(void **state)
{
	(void)state;
	char err[16];
	assert_int_equal(set_err_code(-EIO, err, sizeof(err), "%s: %d", "disk", 5), -EIO);
	assert_string_equal(err, "disk: 5");
	/* truncated to the buffer, still terminated */
	assert_int_equal(set_err_code(-1, err, sizeof(err), "%s", "a much longer message"), -1);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	/* no buffer: only the code */
	assert_int_equal(set_err_code(3, NULL, 0, "%s", "x"), 3);
}

/*
 * A link in a directory others can write is not followed (it could have been
 * put there to send root's mkdir and chown elsewhere); one in a directory only
 * root (or this user) writes is, as a link an administrator made.
 */
static void test_mkdir_p_links(void **state)
{
	(void)state;
	char base[] = "/tmp/sinktrap-util-XXXXXX", p[512], q[512];
	assert_non_null(mkdtemp(base));
	uid_t uid = geteuid() == 0 ? 65534 : geteuid();
	gid_t gid = geteuid() == 0 ? 65534 : getegid();
	struct stat st;
	/* shared: world-writable, as a state directory another user can write */
	snprintf(p, sizeof(p), "%s/shared", base);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(chmod(p, 01777), 0);
	snprintf(p, sizeof(p), "%s/target", base);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(q, sizeof(q), "%s/shared/pcap", base);
	assert_int_equal(symlink(p, q), 0);
	snprintf(p, sizeof(p), "%s/shared/pcap/new", base);
	assert_int_equal(mkdir_p_owned(p, uid, gid), -ELOOP);
	/* the link itself, there already: left to the caller, nothing given away */
	assert_int_equal(mkdir_p_owned(q, uid, gid), 0);
	snprintf(p, sizeof(p), "%s/target/new", base);
	assert_int_equal(stat(p, &st), -1); /* nothing made where the link pointed */
	snprintf(p, sizeof(p), "%s/target", base);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_uid, geteuid()); /* nor given away */
	/* trusted: only its owner writes it, so its link is followed */
	snprintf(q, sizeof(q), "%s/link", base);
	assert_int_equal(symlink(p, q), 0);
	snprintf(p, sizeof(p), "%s/link/made/here", base);
	assert_int_equal(mkdir_p_owned(p, uid, gid), 0);
	snprintf(p, sizeof(p), "%s/target/made/here", base);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_uid, uid);
	/* a relative path, from the working directory */
	char cwd[4096];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(base), 0);
	assert_int_equal(mkdir_p_owned("./rel//x/", uid, gid), 0);
	assert_int_equal(stat("rel/x", &st), 0);
	assert_int_equal(st.st_uid, uid);
	assert_int_equal(chdir(cwd), 0);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	assert_int_equal(system(cmd), 0);
}

/* Each directory made is given to the user; one there already is left as it is. */
static void test_mkdir_p_owned(void **state)
{
	(void)state;
	char base[] = "/tmp/sinktrap-util-XXXXXX", path[256], mid[256];
	assert_non_null(mkdtemp(base));
	uid_t uid = geteuid() == 0 ? 65534 : geteuid();
	gid_t gid = geteuid() == 0 ? 65534 : getegid();
	snprintf(mid, sizeof(mid), "%s/a", base);
	snprintf(path, sizeof(path), "%s/a/b/c", base);
	assert_int_equal(mkdir_p_owned(path, uid, gid), 0);
	struct stat st;
	mode_t mask = umask(0);
	umask(mask);
	const char *made[] = {path, mid};
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(stat(made[i], &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		assert_int_equal(st.st_mode & 07777, 0750 & ~mask);
		assert_int_equal(st.st_uid, uid);
		assert_int_equal(st.st_gid, gid);
	}
	assert_int_equal(stat(base, &st), 0);
	assert_int_equal(st.st_uid, geteuid()); /* there before: not given away */
	/* all there: nothing to do */
	assert_int_equal(mkdir_p_owned(path, uid, gid), 0);
	/* a file in the way */
	char file[300];
	snprintf(file, sizeof(file), "%s/f", base);
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/f/x", base);
	assert_int_equal(mkdir_p_owned(path, uid, gid), -ENOTDIR);
	unlink(file);
	snprintf(path, sizeof(path), "%s/a/b/c", base);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/a/b", base);
	rmdir(path);
	rmdir(mid);
	assert_int_equal(rmdir(base), 0);
}

/* The names in dir other than . and .., in one string ("a b "). */
static void names_in(const char *dir, char *out, size_t len)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "ls -A '%s' | tr '\n' ' '", dir);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	pclose(p);
}

/* Only a regular file with one name is opened, and never through a link. */
static void test_open_plain_at(void **state)
{
	(void)state;
	char base[] = "/tmp/sinktrap-util-XXXXXX", p[512], q[512], why[128];
	struct stat st;
	assert_non_null(mkdtemp(base));
	int dfd = open(base, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	snprintf(p, sizeof(p), "%s/plain", base);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs("text", f);
	fclose(f);

	int fd = open_plain_at(dfd, "plain", &st, why, sizeof(why));
	assert_true(fd >= 0);
	assert_int_equal(st.st_size, 4);
	close(fd);
	assert_int_equal(open_plain_at(dfd, "missing", NULL, why, sizeof(why)), -ENOENT);

	assert_int_equal(symlinkat("plain", dfd, "link"), 0);
	assert_int_equal(open_plain_at(dfd, "link", NULL, why, sizeof(why)), -ELOOP);
	assert_string_equal(why, "a symbolic link");

	assert_int_equal(linkat(dfd, "plain", dfd, "second", 0), 0);
	assert_int_equal(open_plain_at(dfd, "plain", NULL, why, sizeof(why)), -EPERM);
	assert_string_equal(why, "a file with 2 names (hard links)");
	assert_int_equal(unlinkat(dfd, "second", 0), 0);

	assert_int_equal(mkfifoat(dfd, "fifo", 0600), 0); /* not waited on */
	assert_int_equal(open_plain_at(dfd, "fifo", NULL, why, sizeof(why)), -EPERM);
	assert_string_equal(why, "not a regular file (a FIFO)");
	assert_int_equal(mkdirat(dfd, "dir", 0700), 0);
	assert_int_equal(open_plain_at(dfd, "dir", NULL, why, sizeof(why)), -EPERM);
	assert_string_equal(why, "not a regular file (a directory)");

	/* AT_FDCWD and a path: the same for its last name */
	snprintf(q, sizeof(q), "%s/link", base);
	assert_int_equal(open_plain_at(AT_FDCWD, q, NULL, why, sizeof(why)), -ELOOP);
	fd = open_plain_at(AT_FDCWD, p, NULL, why, sizeof(why));
	assert_true(fd >= 0);
	close(fd);
	close(dfd);
	snprintf(q, sizeof(q), "rm -rf '%s'", base);
	assert_int_equal(system(q), 0);
}

/*
 * A file is written whole under a temporary name, then published under its
 * name with exactly its mode; nothing already there (a file, a link, a link
 * to nowhere) is replaced or followed, and no temporary file is left.
 */
static void test_write_file_at(void **state)
{
	(void)state;
	char base[] = "/tmp/sinktrap-util-XXXXXX", other[] = "/tmp/sinktrap-util-XXXXXX";
	char p[512], names[512];
	struct stat st;
	assert_non_null(mkdtemp(base));
	assert_non_null(mkdtemp(other));
	int dfd = open(base, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);

	mode_t mask = umask(077);
	assert_int_equal(write_file_at(dfd, "a.pem", 0644, "hello\n", 6), 0);
	umask(mask);
	assert_int_equal(fstatat(dfd, "a.pem", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0644); /* whatever the umask */
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(st.st_size, 6);
	names_in(base, names, sizeof(names));
	assert_string_equal(names, "a.pem ");

	/* there already: -EEXIST, the file as it was, no temporary file left */
	assert_int_equal(write_file_at(dfd, "a.pem", 0600, "other", 5), -EEXIST);
	assert_int_equal(fstatat(dfd, "a.pem", &st, 0), 0);
	assert_int_equal(st.st_size, 6);
	names_in(base, names, sizeof(names));
	assert_string_equal(names, "a.pem ");

	/* a link to a file elsewhere, or to a name elsewhere that is not there yet:
	 * neither is written through */
	snprintf(p, sizeof(p), "%s/victim", other);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs("root:secret\n", f);
	fclose(f);
	assert_int_equal(symlinkat(p, dfd, "b.pem"), 0);
	assert_int_equal(write_file_at(dfd, "b.pem", 0600, "key", 3), -EEXIST);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, 12);
	snprintf(p, sizeof(p), "%s/new", other);
	assert_int_equal(symlinkat(p, dfd, "c.pem"), 0);
	assert_int_equal(write_file_at(dfd, "c.pem", 0600, "key", 3), -EEXIST);
	assert_int_equal(stat(p, &st), -1);
	names_in(other, names, sizeof(names));
	assert_string_equal(names, "victim ");
	names_in(base, names, sizeof(names));
	assert_string_equal(names, "a.pem b.pem c.pem ");

	/* one name, not a path */
	assert_int_equal(write_file_at(dfd, "x/y", 0600, "", 0), -EINVAL);
	assert_int_equal(write_file_at(dfd, "", 0600, "", 0), -EINVAL);
	close(dfd);
	snprintf(p, sizeof(p), "rm -rf '%s' '%s'", base, other);
	assert_int_equal(system(p), 0);
}

static void touch_at(int dfd, const char *name, time_t age)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	struct timespec t[2] = {{time(NULL) - age, 0}, {time(NULL) - age, 0}};
	assert_int_equal(futimens(fd, t), 0);
	close(fd);
}

static void count_removed(const char *tmp, void *arg)
{
	(void)tmp;
	(*(int *)arg)++;
}

/*
 * What a write_file_at left when its process died (.name.XXXXXX) is removed
 * once older than min_age; a newer one (a write under way elsewhere), other
 * names, and a link or directory of that shape are left alone.
 */
static void test_sweep_tmp_at(void **state)
{
	(void)state;
	char base[] = "/tmp/sinktrap-util-XXXXXX", names[512], p[600];
	assert_non_null(mkdtemp(base));
	int dfd = open(base, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	touch_at(dfd, ".ca.key.ab12cd", 3600); /* left by a crash */
	touch_at(dfd, ".ca.key.zz99aa", 2);    /* a write under way */
	touch_at(dfd, ".ca.key.AB12CD", 3600); /* not a suffix write_file_at makes */
	touch_at(dfd, ".ca.key.ab12c", 3600);
	touch_at(dfd, ".ca.crt.ab12cd", 3600); /* another name's */
	touch_at(dfd, "ca.key", 3600);
	assert_int_equal(symlinkat("/etc/passwd", dfd, ".ca.key.link00"), 0);
	assert_int_equal(mkdirat(dfd, ".ca.key.dir000", 0700), 0);
	int seen = 0;
	assert_int_equal(sweep_tmp_at(dfd, "ca.key", 60, count_removed, &seen), 1);
	assert_int_equal(seen, 1);
	names_in(base, names, sizeof(names));
	assert_string_equal(names, ".ca.crt.ab12cd .ca.key.AB12CD .ca.key.ab12c .ca.key.dir000 "
	                           ".ca.key.link00 .ca.key.zz99aa ca.key ");
	assert_int_equal(sweep_tmp_at(dfd, "ca.key", 60, NULL, NULL), 0);
	assert_int_equal(sweep_tmp_at(dfd, "ca.crt", 60, NULL, NULL), 1);
	close(dfd);
	snprintf(p, sizeof(p), "rm -rf '%s'", base);
	assert_int_equal(system(p), 0);
}

/* SipHash-1-3 against the reference implementation's outputs (the all-zero key), and
 * the word form against the byte form of the same little-endian words. */
static void test_siphash13(void **state)
{
	(void)state;
	struct sipkey zero = {0, 0}, k;
	assert_true(siphash13(&zero, "", 0) == 0xd1fba762150c532cull);
	assert_true(siphash13(&zero, "\0", 1) == 0x68a914128e01e473ull);
	assert_true(siphash13(&zero, "siphash", 7) == 0x8264ceeccb16bcbeull);
	sipkey_init(&k, 42, NULL);
	uint8_t b[24];
	uint64_t w[3];
	for (size_t i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)(i * 37 + 1);
	for (size_t i = 0; i < 3; i++) {
		w[i] = 0;
		for (int j = 7; j >= 0; j--)
			w[i] = w[i] << 8 | b[8 * i + (size_t)j];
	}
	assert_true(siphash13(&k, b, 24) == siphash13_words(&k, w, 3));
	assert_true(siphash13(&k, b, 23) != siphash13(&k, b, 24));
	/* a fixed seed gives the same key; no seed, a random one */
	struct sipkey k2, r1, r2;
	sipkey_init(&k2, 42, NULL);
	assert_true(k.k0 == k2.k0 && k.k1 == k2.k1);
	sipkey_init(&r1, 0, NULL);
	sipkey_init(&r2, 0, NULL);
	assert_true(r1.k0 != r2.k0 || r1.k1 != r2.k1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_duration),      cmocka_unit_test(test_set_err_code),
	    cmocka_unit_test(test_mkdir_p_owned), cmocka_unit_test(test_mkdir_p_links),
	    cmocka_unit_test(test_open_plain_at), cmocka_unit_test(test_write_file_at),
	    cmocka_unit_test(test_sweep_tmp_at),  cmocka_unit_test(test_siphash13),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

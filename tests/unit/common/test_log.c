/*
 * Log lines: stamped "TIME sinktrap[PID] PROC: ..." on a plain stderr, and
 * "<PRIORITY>PROC[PID]: ..." when stderr is the journal's stream (systemd
 * names it in $JOURNAL_STREAM), so that the journal keeps each line's level.
 * Each case runs in a child: the choice is made once per process.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"

enum stream { PLAIN, JOURNAL, OTHER_STREAM };

/* What a child that logs one line at each level writes to stderr. */
static char *lines_of(enum stream how, pid_t *child)
{
	char path[] = "/tmp/sinktrap-log-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct stat st;
		char env[64];
		dup2(fd, STDERR_FILENO);
		fstat(fd, &st);
		snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
		         (unsigned long long)st.st_ino + (how == OTHER_STREAM));
		if (how != PLAIN)
			setenv("JOURNAL_STREAM", env, 1);
		else
			unsetenv("JOURNAL_STREAM");
		log_procname("dns");
		log_level_set(LOG_LVL_DEBUG);
		log_warnx("list %s: line %d", "a.hosts", 7);
		errno = ENOENT;
		log_warn("open b.hosts");
		log_info("serving");
		log_debug("detail");
		fatalx("the end");
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	*child = pid;
	char *text = calloc(1, 4096);
	assert_non_null(text);
	assert_true(pread(fd, text, 4095, 0) > 0);
	close(fd);
	unlink(path);
	return text;
}

static void test_journal_stream(void **state)
{
	(void)state;
	pid_t pid;
	char *got = lines_of(JOURNAL, &pid), want[1024];
	snprintf(want, sizeof(want),
	         "<4>dns[%d]: warning: list a.hosts: line 7\n"
	         "<4>dns[%d]: warning: open b.hosts: No such file or directory\n"
	         "<6>dns[%d]: serving\n"
	         "<7>dns[%d]: debug: detail\n"
	         "<3>dns[%d]: fatal: the end\n",
	         (int)pid, (int)pid, (int)pid, (int)pid, (int)pid);
	assert_string_equal(got, want);
	free(got);
}

static void check_plain(const char *got, pid_t pid)
{
	static const char *const tails[] = {
	    "dns: warning: list a.hosts: line 7",
	    "dns: warning: open b.hosts: No such file or directory", "dns: serving",
	    "dns: debug: detail", "dns: fatal: the end"};
	char head[64];
	snprintf(head, sizeof(head), "Z sinktrap[%d] ", (int)pid);
	const char *p = got;
	for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		const char *nl = strchr(p, '\n');
		assert_non_null(nl);
		/* 2026-11-23T18:58:30.423Z sinktrap[PID] dns: ... */
		assert_true(nl - p > 24 && p[4] == '-' && p[10] == 'T' && p[19] == '.');
		assert_memory_equal(p + 23, head, strlen(head));
		assert_memory_equal(p + 23 + strlen(head), tails[i], strlen(tails[i]));
		assert_int_equal(nl - p, 23 + strlen(head) + strlen(tails[i]));
		p = nl + 1;
	}
	assert_int_equal(*p, '\0');
}

static void test_plain_stderr(void **state)
{
	(void)state;
	pid_t pid;
	char *got = lines_of(PLAIN, &pid);
	check_plain(got, pid);
	free(got);
}

/* $JOURNAL_STREAM inherited by a process whose stderr went elsewhere: plain lines. */
static void test_stream_not_stderr(void **state)
{
	(void)state;
	pid_t pid;
	char *got = lines_of(OTHER_STREAM, &pid);
	check_plain(got, pid);
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_journal_stream),
	    cmocka_unit_test(test_plain_stderr),
	    cmocka_unit_test(test_stream_not_stderr),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

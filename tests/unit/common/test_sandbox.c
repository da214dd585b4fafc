/*
 * The sandbox: a child locked down as the workers are makes no packet socket
 * (SOCK_PACKET included), starts no connection (connect, TCP Fast Open,
 * io_uring, SCTP), signals no other process and types into no terminal, in
 * every thread, those made before the lockdown too, while what the workers do
 * still works; and the parent's
 * hand-over of files to the workers' user follows no link and takes no hard
 * link a worker could have planted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <linux/if_ether.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/sandbox.h"
#include "../test_dir.h"

#ifndef SOCK_PACKET
#define SOCK_PACKET 10
#endif

/* What a locked-down child found wrong, line by line, through a pipe. */
static int report_fd = -1;
static int wrong;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(report_fd, buf, (size_t)n) < 0)
		_exit(3);
	wrong++;
}

/* A call that must be refused by the filter (EPERM); r is its result. */
static void refused(const char *what, long r)
{
	int e = errno;
	if (r >= 0)
		say("%s: allowed (returned %ld)", what,
		    r); /* the child exits: nothing to close */
	else if (e != EPERM) {
		say("%s: failed with %s, not EPERM from the filter", what, strerror(e));
	}
}

static void allowed(const char *what, long r)
{
	if (r < 0)
		say("%s: refused: %s", what, strerror(errno));
}

/*
 * Run body in a child locked down with flags (before, when not NULL, runs in
 * the child first, unconfined); the child's complaints fail the test.
 */
static void in_sandbox_after(unsigned flags, void (*before)(void *), void (*body)(void *),
                             void *arg)
{
#if defined(__SANITIZE_ADDRESS__) || defined(FUZZING)
	(void)flags;
	(void)before;
	(void)body;
	(void)arg;
	skip(); /* the sandbox is skipped in a sanitizer build */
#else
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		report_fd = p[1];
		if (before)
			before(arg);
		if (sandbox_lockdown("test", flags) < 0)
			say("sandbox_lockdown failed");
		else
			body(arg);
		_exit(wrong ? 1 : 0);
	}
	close(p[1]);
	char out[4096];
	size_t len = 0;
	ssize_t n;
	while (len < sizeof(out) - 1 && (n = read(p[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(p[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || len > 0)
		fail_msg("in the sandbox (status %#x):\n%s", status, out);
#endif
}

static void in_sandbox(unsigned flags, void (*body)(void *), void *arg)
{
	in_sandbox_after(flags, NULL, body, arg);
}

static void packet_body(void *arg)
{
	(void)arg;
	/* The obsolete SOCK_PACKET type makes a packet socket of AF_INET. */
	refused("socket(AF_INET, SOCK_PACKET, ETH_P_ALL)",
	        socket(AF_INET, SOCK_PACKET, htons(ETH_P_ALL)));
	refused("socket(AF_INET, SOCK_PACKET | SOCK_CLOEXEC, ETH_P_ALL)",
	        socket(AF_INET, SOCK_PACKET | SOCK_CLOEXEC, htons(ETH_P_ALL)));
	refused("socket(AF_PACKET, SOCK_RAW)", socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)));
	refused("socket(AF_PACKET, SOCK_DGRAM)",
	        socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_ALL)));
	refused("socket(AF_INET, SOCK_RAW)", socket(AF_INET, SOCK_RAW, IPPROTO_UDP));
	refused("socket(AF_INET6, SOCK_RAW)", socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6));
	refused("socket(AF_INET, SOCK_RDM)", socket(AF_INET, SOCK_RDM, 0));
	refused("socket(AF_BLUETOOTH)", socket(31, SOCK_STREAM, 0));
	refused("socket(AF_NETLINK, SOCK_RAW)", socket(AF_NETLINK, SOCK_RAW, 0));
	/* what the workers use */
	allowed("socket(AF_INET, SOCK_DGRAM)", socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
	allowed("socket(AF_INET6, SOCK_STREAM)",
	        socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	allowed("socket(AF_UNIX, SOCK_DGRAM)", socket(AF_UNIX, SOCK_DGRAM, 0));
	allowed("socket(AF_UNIX, SOCK_SEQPACKET)", socket(AF_UNIX, SOCK_SEQPACKET, 0));
	int sv[2];
	allowed("socketpair(AF_UNIX, SOCK_SEQPACKET)",
	        socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
}

static void test_no_packet_sockets(void **state)
{
	(void)state;
	in_sandbox(SANDBOX_NO_CONNECT | SANDBOX_NO_PACKET, packet_body, NULL);
}

/* The capture worker keeps its packet sockets (opened before): only dns, store, trap,
 * web are narrowed so. */
static void capture_body(void *arg)
{
	(void)arg;
	allowed("socket(AF_INET, SOCK_DGRAM)", socket(AF_INET, SOCK_DGRAM, 0));
}

static void test_capture_flags(void **state)
{
	(void)state;
	in_sandbox(SANDBOX_NO_CONNECT, capture_body, NULL);
}

struct target {
	struct sockaddr_in tcp, udp;
};

static void connect_body(void *arg)
{
	const struct target *t = arg;
	const struct sockaddr *to = (const struct sockaddr *)&t->tcp;
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	allowed("socket(AF_INET, SOCK_STREAM)", s);
	refused("connect", connect(s, to, sizeof(t->tcp)));
	/* TCP Fast Open: a send on an unconnected socket connects it */
	refused("sendto(MSG_FASTOPEN)", sendto(s, "x", 1, MSG_FASTOPEN, to, sizeof(t->tcp)));
	refused(
	    "sendto(MSG_FASTOPEN | MSG_DONTWAIT)",
	    sendto(s, "x", 1, MSG_FASTOPEN | MSG_DONTWAIT | MSG_NOSIGNAL, to, sizeof(t->tcp)));
	struct iovec iov = {"x", 1};
	struct msghdr mh;
	memset(&mh, 0, sizeof(mh));
	mh.msg_name = (void *)to;
	mh.msg_namelen = sizeof(t->tcp);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	refused("sendmsg(MSG_FASTOPEN)", sendmsg(s, &mh, MSG_FASTOPEN));
	struct mmsghdr mm = {mh, 0};
	refused("sendmmsg(MSG_FASTOPEN)", sendmmsg(s, &mm, 1, MSG_FASTOPEN));
	int one = 1;
	refused("setsockopt(TCP_FASTOPEN_CONNECT)",
	        setsockopt(s, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &one, sizeof(one)));
	close(s);
	/* io_uring's operations (IORING_OP_CONNECT, _SOCKET) are out of the filter's sight */
	struct io_uring_params up;
	memset(&up, 0, sizeof(up));
	refused("io_uring_setup", syscall(SYS_io_uring_setup, 4, &up));
	/* SCTP sequenced packets associate at the first send */
	refused("socket(AF_INET, SOCK_SEQPACKET, IPPROTO_SCTP)",
	        socket(AF_INET, SOCK_SEQPACKET, IPPROTO_SCTP));
	/* and SCTP streams at a send to an address, or SCTP_SOCKOPT_CONNECTX */
	refused("socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP)",
	        socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP));
	refused("socket(AF_INET6, SOCK_STREAM, IPPROTO_SCTP)",
	        socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_SCTP));
	/* the kernel reads the protocol as an int: high bits do not hide it */
	refused("socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP | 1 << 32)",
	        syscall(SYS_socket, AF_INET, SOCK_STREAM, (long)IPPROTO_SCTP | 1L << 32));
	/* a UDP reply, sendmsg and sendto alike, still goes */
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	allowed("socket(AF_INET, SOCK_DGRAM)", u);
	allowed("sendto (udp)", sendto(u, "u", 1, MSG_DONTWAIT,
	                               (const struct sockaddr *)&t->udp, sizeof(t->udp)));
	mh.msg_name = (void *)&t->udp;
	allowed("sendmsg (udp)", sendmsg(u, &mh, MSG_DONTWAIT | MSG_NOSIGNAL));
	int one_more = 1;
	allowed("setsockopt(SO_REUSEADDR)",
	        setsockopt(u, SOL_SOCKET, SO_REUSEADDR, &one_more, sizeof(one_more)));
	close(u);
}

static void test_no_connect(void **state)
{
	(void)state;
	struct target t;
	socklen_t sl = sizeof(t.tcp);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int u = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	assert_true(l >= 0 && u >= 0);
	memset(&t, 0, sizeof(t));
	t.tcp.sin_family = AF_INET;
	t.tcp.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	t.udp = t.tcp;
	int qlen = 16; /* the listener takes Fast Open: a connect would surely be made */
	setsockopt(l, IPPROTO_TCP, TCP_FASTOPEN, &qlen, sizeof(qlen));
	assert_int_equal(bind(l, (struct sockaddr *)&t.tcp, sizeof(t.tcp)), 0);
	assert_int_equal(listen(l, 16), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&t.tcp, &sl), 0);
	sl = sizeof(t.udp);
	assert_int_equal(bind(u, (struct sockaddr *)&t.udp, sizeof(t.udp)), 0);
	assert_int_equal(getsockname(u, (struct sockaddr *)&t.udp, &sl), 0);

	in_sandbox(SANDBOX_NO_CONNECT | SANDBOX_NO_PACKET, connect_body, &t);

	/* nothing reached the listener; the datagrams did reach theirs */
	usleep(100000);
	int c = accept(l, NULL, NULL);
	if (c >= 0)
		fail_msg("the sandboxed child connected to 127.0.0.1:%d",
		         ntohs(t.tcp.sin_port));
	assert_int_equal(errno, EAGAIN);
	char b[4];
	assert_int_equal(recv(u, b, sizeof(b), 0), 1);
	assert_int_equal(recv(u, b, sizeof(b), 0), 1);
	close(l);
	close(u);
}

/* Signals only to itself: not to its parent, its group, every process, nor
 * a thread or a pidfd of another; to itself, as the C library does, still. */
static void signal_body(void *arg)
{
	(void)arg;
	refused("kill(parent, 0)", kill(getppid(), 0));
	refused("kill(-1, 0)", kill(-1, 0)); /* 0: a probe, never a signal */
	refused("kill(0, 0)", kill(0, 0));
	refused("kill(-parent, 0)", kill(-getppid(), 0));
	refused("tgkill(parent, parent, 0)", syscall(SYS_tgkill, getppid(), getppid(), 0));
	refused("tkill(parent, 0)", syscall(SYS_tkill, getppid(), 0));
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	si.si_code = SI_QUEUE;
	refused("rt_sigqueueinfo(parent)", syscall(SYS_rt_sigqueueinfo, getppid(), 0, &si));
	int pfd = (int)syscall(SYS_pidfd_open, getppid(), 0);
	if (pfd >= 0)
		refused("pidfd_send_signal(parent)",
		        syscall(SYS_pidfd_send_signal, pfd, 0, NULL, 0));
	allowed("kill(self, 0)", kill(getpid(), 0));
	allowed("tgkill(self, self, 0)", syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), 0));
	allowed("raise(0)", raise(0));
	/* no keystrokes into a terminal */
	char c = 'x';
	refused("ioctl(TIOCSTI)", ioctl(0, TIOCSTI, &c));
	refused("ioctl(TIOCSTI | 1 << 32)",
	        syscall(SYS_ioctl, 0, (unsigned long)TIOCSTI | 1UL << 32, &c));
	/* no other process as a descriptor's owner: the kernel would signal it */
	int p[2];
	if (pipe(p) < 0) {
		say("pipe: %s", strerror(errno));
		return;
	}
	refused("fcntl(F_SETOWN, parent)", fcntl(p[0], F_SETOWN, getppid()));
	refused("fcntl(F_SETOWN | 1 << 32, parent)",
	        syscall(SYS_fcntl, p[0], (unsigned long)F_SETOWN | 1UL << 32, getppid()));
	struct f_owner_ex ox = {F_OWNER_PID, getppid()};
	refused("fcntl(F_SETOWN_EX, parent)", fcntl(p[0], F_SETOWN_EX, &ox));
	refused("fcntl(F_SETSIG, SIGKILL)", fcntl(p[0], F_SETSIG, SIGKILL));
	int owner = getppid();
	refused("ioctl(FIOSETOWN, parent)", ioctl(p[0], FIOSETOWN, &owner));
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	refused("ioctl(SIOCSPGRP, parent)", ioctl(u, SIOCSPGRP, &owner));
	allowed("fcntl(F_GETOWN)", fcntl(p[0], F_GETOWN));
	allowed("fcntl(F_SETFL, O_NONBLOCK)", fcntl(p[0], F_SETFL, O_NONBLOCK));
	close(u);
	close(p[0]);
	close(p[1]);
}

static void test_signals_to_itself_only(void **state)
{
	(void)state;
	in_sandbox(SANDBOX_NO_PACKET, signal_body, NULL);
	in_sandbox(SANDBOX_NO_CONNECT, signal_body, NULL);
}

/* A thread the worker made before it locked down is locked down with it. */
static int go[2];
static pthread_t early;

static void *early_thread(void *arg)
{
	(void)arg;
	char b;
	if (read(go[0], &b, 1) != 1)
		return NULL;
	refused("socket(AF_PACKET) in a thread made before", socket(AF_PACKET, SOCK_RAW, 0));
	refused("kill(parent) in a thread made before", kill(getppid(), 0));
	refused("io_uring_setup in a thread made before",
	        syscall(SYS_io_uring_setup, 4, &(struct io_uring_params){0}));
	return NULL;
}

static void start_early_thread(void *arg)
{
	(void)arg;
	if (pipe(go) < 0 || pthread_create(&early, NULL, early_thread, NULL) != 0)
		say("could not start the thread");
}

static void release_early_thread(void *arg)
{
	(void)arg;
	if (write(go[1], "g", 1) != 1)
		say("could not release the thread");
	pthread_join(early, NULL);
}

static void test_threads_made_before(void **state)
{
	(void)state;
	in_sandbox_after(SANDBOX_NO_CONNECT | SANDBOX_NO_PACKET, start_early_thread,
	                 release_early_thread, NULL);
}

/* ---------- sandbox_chown ---------- */

#define WORKER 65534 /* nobody: the uid a compromised worker would have */

static int as_root(void **state)
{
	if (geteuid() != 0)
		return 0;
	return test_dir_setup(state);
}

static int as_root_down(void **state)
{
	if (geteuid() != 0)
		return 0;
	return test_dir_teardown(state);
}

static void need_root(void)
{
	if (geteuid() != 0)
		skip();
}

static void touch(const char *path, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "secret\n", 7), 7);
	close(fd);
}

static void owner_is(const char *path, uid_t uid, mode_t mode)
{
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	if (st.st_uid != uid || (st.st_mode & 07777) != mode)
		fail_msg("%s: uid %u mode %04o, not uid %u mode %04o", path,
		         (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777), (unsigned)uid,
		         (unsigned)mode);
}

/* The workers' directory (theirs to write), with a root file outside it. */
static void layout(void)
{
	assert_int_equal(mkdir(test_dir_path("state"), 0750), 0);
	assert_int_equal(chown(test_dir_path("state"), WORKER, WORKER), 0);
	touch(test_dir_path("shadow"), 0600);
	assert_int_equal(mkdir(test_dir_path("secret"), 0700), 0);
	touch(test_dir_path("secret/ca.key"), 0600);
}

static void test_chown_takes_no_planted_link(void **state)
{
	need_root();
	layout();
	/* a link to a root file, where the database's files go */
	assert_int_equal(
	    symlink(test_dir_path("shadow"), test_dir_path("state/sinktrap.db-shm")), 0);
	assert_int_equal(sandbox_chown(test_dir_path("state/sinktrap.db-shm"), SANDBOX_OWN_FILE,
	                               WORKER, WORKER, "nobody"),
	                 -1);
	owner_is(test_dir_path("shadow"), 0, 0600);
	/* nor made through one (the JSON file) */
	assert_int_equal(symlink(test_dir_path("shadow"), test_dir_path("state/events.json")),
	                 0);
	assert_int_equal(sandbox_chown(test_dir_path("state/events.json"), SANDBOX_OWN_CREATE,
	                               WORKER, WORKER, "nobody"),
	                 -1);
	owner_is(test_dir_path("shadow"), 0, 0600);
	/* a dangling one: nothing is made where it points */
	assert_int_equal(symlink(test_dir_path("made"), test_dir_path("state/dangling")), 0);
	assert_int_equal(sandbox_chown(test_dir_path("state/dangling"), SANDBOX_OWN_CREATE,
	                               WORKER, WORKER, "nobody"),
	                 -1);
	assert_int_equal(access(test_dir_path("made"), F_OK), -1);
	/* a hard link to a root file */
	assert_int_equal(link(test_dir_path("shadow"), test_dir_path("state/sinktrap.db-wal")),
	                 0);
	assert_int_equal(sandbox_chown(test_dir_path("state/sinktrap.db-wal"), SANDBOX_OWN_FILE,
	                               WORKER, WORKER, "nobody"),
	                 -1);
	owner_is(test_dir_path("shadow"), 0, 0600);
	/* a directory replaced by a link: the file under it is not reached */
	assert_int_equal(symlink(test_dir_path("secret"), test_dir_path("state/ca")), 0);
	assert_int_equal(sandbox_chown(test_dir_path("state/ca/ca.key"), SANDBOX_OWN_FILE,
	                               WORKER, WORKER, "nobody"),
	                 -1);
	assert_int_equal(
	    sandbox_chown(test_dir_path("state/ca"), SANDBOX_OWN_DIR, WORKER, WORKER, "nobody"),
	    -1);
	owner_is(test_dir_path("secret/ca.key"), 0, 0600);
	owner_is(test_dir_path("secret"), 0, 0700);
	/* a FIFO is no JSON file (and opening it does not hang) */
	assert_int_equal(mkfifo(test_dir_path("state/fifo.json"), 0600), 0);
	assert_int_equal(sandbox_chown(test_dir_path("state/fifo.json"), SANDBOX_OWN_CREATE,
	                               WORKER, WORKER, "nobody"),
	                 -1);
	/* a file of another user stays theirs */
	touch(test_dir_path("state/other"), 0600);
	assert_int_equal(chown(test_dir_path("state/other"), 1, 1), 0);
	assert_int_equal(sandbox_chown(test_dir_path("state/other"), SANDBOX_OWN_FILE, WORKER,
	                               WORKER, "nobody"),
	                 -1);
	owner_is(test_dir_path("state/other"), 1, 0600);
}

static void test_chown_gives_what_is_ours(void **state)
{
	need_root();
	layout();
	/* the database an earlier start as root made */
	touch(test_dir_path("state/sinktrap.db"), 0644);
	assert_int_equal(sandbox_chown(test_dir_path("state/sinktrap.db"), SANDBOX_OWN_FILE,
	                               WORKER, WORKER, "nobody"),
	                 0);
	owner_is(test_dir_path("state/sinktrap.db"), WORKER, 0644);
	/* not there: nothing to do */
	assert_int_equal(sandbox_chown(test_dir_path("state/sinktrap.db-shm"), SANDBOX_OWN_FILE,
	                               WORKER, WORKER, "nobody"),
	                 0);
	assert_int_equal(access(test_dir_path("state/sinktrap.db-shm"), F_OK), -1);
	/* made new */
	assert_int_equal(sandbox_chown(test_dir_path("state/events.json"), SANDBOX_OWN_CREATE,
	                               WORKER, WORKER, "nobody"),
	                 0);
	owner_is(test_dir_path("state/events.json"), WORKER, 0640);
	/* a directory */
	assert_int_equal(mkdir(test_dir_path("state/payloads"), 0750), 0);
	assert_int_equal(sandbox_chown(test_dir_path("state/payloads"), SANDBOX_OWN_DIR, WORKER,
	                               WORKER, "nobody"),
	                 0);
	owner_is(test_dir_path("state/payloads"), WORKER, 0750);
	/* a shared one is not given away */
	assert_int_equal(mkdir(test_dir_path("shared"), 0700), 0);
	assert_int_equal(chmod(test_dir_path("shared"), 01777), 0);
	assert_int_equal(
	    sandbox_chown(test_dir_path("shared"), SANDBOX_OWN_DIR, WORKER, WORKER, "nobody"),
	    -1);
	owner_is(test_dir_path("shared"), 0, 01777);
	/* the administrator's link, in a directory only root writes, is followed */
	assert_int_equal(symlink("state", test_dir_path("link")), 0);
	touch(test_dir_path("state/sinktrap.db-wal"), 0644);
	assert_int_equal(sandbox_chown(test_dir_path("link/sinktrap.db-wal"), SANDBOX_OWN_FILE,
	                               WORKER, WORKER, "nobody"),
	                 0);
	owner_is(test_dir_path("state/sinktrap.db-wal"), WORKER, 0644);
}

static void test_open_dir(void **state)
{
	need_root();
	layout();
	char why[4200];
	int fd = sandbox_open_dir(test_dir_path("state"), why, sizeof(why));
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(sandbox_open_dir(test_dir_path("state/none"), why, sizeof(why)),
	                 -ENOENT);
	assert_int_equal(symlink("../secret", test_dir_path("state/ca")), 0);
	assert_int_equal(sandbox_open_dir(test_dir_path("state/ca"), why, sizeof(why)), -ELOOP);
	assert_non_null(strstr(why, "'ca' is a symbolic link (to ../secret)"));
	assert_int_equal(symlink("secret", test_dir_path("admin")), 0);
	fd = sandbox_open_dir(test_dir_path("admin"), why, sizeof(why));
	assert_true(fd >= 0);
	close(fd);
	touch(test_dir_path("file"), 0600);
	assert_int_equal(sandbox_open_dir(test_dir_path("file"), why, sizeof(why)), -ENOTDIR);
}

int main(void)
{
	log_level_set(LOG_LVL_WARN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_no_packet_sockets),
	    cmocka_unit_test(test_capture_flags),
	    cmocka_unit_test(test_no_connect),
	    cmocka_unit_test(test_signals_to_itself_only),
	    cmocka_unit_test(test_threads_made_before),
	    cmocka_unit_test_setup_teardown(test_chown_takes_no_planted_link, as_root,
	                                    as_root_down),
	    cmocka_unit_test_setup_teardown(test_chown_gives_what_is_ours, as_root,
	                                    as_root_down),
	    cmocka_unit_test_setup_teardown(test_open_dir, as_root, as_root_down),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

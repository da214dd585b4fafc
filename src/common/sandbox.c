#include "sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* Nothing a worker does after set-up, and everything an intruder would want. */
static const char *const denied[] = {
    "execve",
    "execveat",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "keyctl",
    "add_key",
    "request_key",
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "setgroups",
    "setfsuid",
    "setfsgid",
    "capset",
    "personality",
    "acct",
    "swapon",
    "swapoff",
    "reboot",
    "sethostname",
    "setdomainname",
    "iopl",
    "ioperm",
    "syslog",
    "open_by_handle_at",
    "name_to_handle_at",
    "fanotify_init",
    "lookup_dcookie",
    "quotactl",
    "vhangup",
    "clock_settime",
    "settimeofday",
    "adjtimex",
    "clock_adjtime",
    /* io_uring runs its operations (socket, connect, open...) where no filter sees them. */
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
};

#if !defined(__SANITIZE_ADDRESS__) && !defined(FUZZING)
/*
 * An argument the kernel takes as an int (an ioctl or fcntl command, a
 * protocol, a socket option): the filter sees all 64 bits of the register, the
 * kernel the low 32, so a rule that refuses a value compares those alone; an
 * equality on the whole register would let the value with high bits set by.
 */
#define INT_ARG 0xffffffffULL

/*
 * The socket families and types a worker without packet sockets may make
 * (Unix, IPv4, IPv6, netlink; streams, datagrams, sequenced packets: so
 * netlink only as datagrams, and the C library's own netlink look-ups, made
 * with SOCK_RAW, are refused; it then takes both address families to be
 * there, which the workers' look-ups need not know): every other value is refused, so a
 * family or type added to the kernel later is refused too. SOCK_PACKET (an
 * obsolete type that makes a packet socket of AF_INET) is one of them.
 */
static const int families_ok[] = {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK};
static const int types_ok[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET};

static int in(const int *v, size_t n, int x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == x)
			return 1;
	return 0;
}

/* socket(2) refused for every family and type outside the lists above. */
static int deny_sockets(scmp_filter_ctx ctx)
{
	int rc = 0;
	for (int f = 0; f <= AF_NETLINK && rc == 0; f++)
		if (!in(families_ok, sizeof(families_ok) / sizeof(families_ok[0]), f))
			rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 1,
			                      SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)f));
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 1,
		                      SCMP_A0(SCMP_CMP_GT, (scmp_datum_t)AF_NETLINK));
	/* the type's low four bits; SOCK_NONBLOCK and SOCK_CLOEXEC are above them */
	for (int t = 0; t <= 0xf && rc == 0; t++)
		if (!in(types_ok, sizeof(types_ok) / sizeof(types_ok[0]), t))
			rc =
			    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 1,
			                     SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, (scmp_datum_t)t));
	return rc;
}

/*
 * No connection started by the worker: connect(2), and what connects
 * without it. A TCP Fast Open send (MSG_FASTOPEN to sendto, sendmsg or
 * sendmmsg) connects an unconnected socket, so does TCP_FASTOPEN_CONNECT's
 * deferred connect; an SCTP socket makes an association at its first send
 * (sequenced packets) or at a send to an address. Datagrams (UDP replies) and
 * Unix sockets stay allowed.
 */
static int deny_connect(scmp_filter_ctx ctx)
{
	int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(connect), 0);
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(sendto), 1,
		                      SCMP_A3(SCMP_CMP_MASKED_EQ, MSG_FASTOPEN, MSG_FASTOPEN));
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(sendmsg), 1,
		                      SCMP_A2(SCMP_CMP_MASKED_EQ, MSG_FASTOPEN, MSG_FASTOPEN));
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(sendmmsg), 1,
		                      SCMP_A3(SCMP_CMP_MASKED_EQ, MSG_FASTOPEN, MSG_FASTOPEN));
	if (rc == 0)
		rc = seccomp_rule_add(
		    ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(setsockopt), 2,
		    SCMP_A1(SCMP_CMP_MASKED_EQ, INT_ARG, IPPROTO_TCP),
		    SCMP_A2(SCMP_CMP_MASKED_EQ, INT_ARG, TCP_FASTOPEN_CONNECT));
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 2,
		                      SCMP_A0(SCMP_CMP_NE, AF_UNIX),
		                      SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_SEQPACKET));
	/* an SCTP stream socket associates at a send to an address too, and by
	 * SCTP_SOCKOPT_CONNECTX: no SCTP socket at all */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 1,
		                      SCMP_A2(SCMP_CMP_MASKED_EQ, INT_ARG, IPPROTO_SCTP));
	return rc;
}
#endif

#if !defined(__SANITIZE_ADDRESS__) && !defined(FUZZING)
/*
 * Signals to the worker itself only: the workers share one user, and one
 * that stopped or killed the others would take the service down with no
 * restart (a stopped worker is not an ended one). kill and the queued forms
 * name a process: only this one (its pid when it locked down); tkill names a
 * thread of any process: refused (the C library signals its own threads
 * with tgkill, checked the same way); a pidfd can name any process: refused.
 */
static int deny_signals(scmp_filter_ctx ctx)
{
	scmp_datum_t self = (scmp_datum_t)getpid();
	int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(kill), 1,
	                          SCMP_A0(SCMP_CMP_NE, self));
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(tgkill), 1,
		                      SCMP_A0(SCMP_CMP_NE, self));
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(rt_sigqueueinfo), 1,
		                      SCMP_A0(SCMP_CMP_NE, self));
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(rt_tgsigqueueinfo),
		                      1, SCMP_A0(SCMP_CMP_NE, self));
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(tkill), 0);
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(pidfd_send_signal),
		                      0);
	/* A descriptor's owner is signalled by the kernel (SIGIO, or any signal
	 * F_SETSIG names) when it is ready: naming another process as the owner
	 * would signal it. */
	static const unsigned long owner_fcntl[] = {F_SETOWN, F_SETOWN_EX, F_SETSIG};
	for (size_t i = 0; i < sizeof(owner_fcntl) / sizeof(owner_fcntl[0]) && rc == 0; i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(fcntl), 1,
		                      SCMP_A1(SCMP_CMP_MASKED_EQ, INT_ARG, owner_fcntl[i]));
	static const unsigned long owner_ioctl[] = {FIOSETOWN, SIOCSPGRP};
	for (size_t i = 0; i < sizeof(owner_ioctl) / sizeof(owner_ioctl[0]) && rc == 0; i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
		                      SCMP_A1(SCMP_CMP_MASKED_EQ, INT_ARG, owner_ioctl[i]));
	return rc;
}
#endif

int sandbox_lockdown(const char *worker, unsigned flags)
{
#if defined(__SANITIZE_ADDRESS__) || defined(FUZZING)
	/* The sanitizers' runtime needs some of these (ptrace for leak checks). */
	(void)flags;
	log_debug("%s: sandbox skipped in a sanitizer build", worker);
	return 0;
#else
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		log_warn("%s: no_new_privs", worker);
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (ctx == NULL) {
		log_warnx("%s: seccomp_init failed", worker);
		return -ENOMEM;
	}
	int rc = 0;
	for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]) && rc == 0; i++) {
		int nr = seccomp_syscall_resolve_name(denied[i]);
		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture */
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
	}
	/*
	 * No new namespaces through clone either. clone3 passes its flags in
	 * memory a filter cannot read: it answers ENOSYS, and the C library
	 * falls back to clone, whose flags are checked one by one.
	 */
	static const unsigned long ns_flags[] = {0x00020000, 0x02000000, 0x04000000, 0x08000000,
	                                         0x10000000, 0x20000000, 0x40000000};
	for (size_t i = 0; i < sizeof(ns_flags) / sizeof(ns_flags[0]) && rc == 0; i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
		                      SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (rc == 0)
		rc = deny_signals(ctx);
	/* No keystrokes into a terminal the worker still has (a run in the foreground). */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
		                      SCMP_A1(SCMP_CMP_MASKED_EQ, INT_ARG, TIOCSTI));
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
		                      SCMP_A1(SCMP_CMP_MASKED_EQ, INT_ARG, TIOCLINUX));
	/* Every thread: those made before (the web server's, the capture's finisher)
	 * as well as this one and those it makes. */
	if (rc == 0)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (rc == 0 && (flags & SANDBOX_NO_CONNECT))
		rc = deny_connect(ctx);
	if (rc == 0 && (flags & SANDBOX_NO_PACKET))
		rc = deny_sockets(ctx);
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0) {
		log_warnx("%s: seccomp: %s", worker, strerror(-rc));
		return rc;
	}
	log_debug("%s: locked down", worker);
	return 0;
#endif
}

/* ---------- handing files to the workers' user ---------- */

/* Only root can add, remove or rename its entries: its symbolic links are root's doing. */
static int dir_trusted(int dfd)
{
	struct stat st;
	return fstat(dfd, &st) == 0 && st.st_uid == 0 && !(st.st_mode & (S_IWGRP | S_IWOTH));
}

/* What a symbolic link (an O_PATH descriptor of it) points to, for a message. */
static const char *link_target(int fd, char *buf, size_t len)
{
	ssize_t n = readlinkat(fd, "", buf, len - 1);
	if (n < 0)
		snprintf(buf, len, "?");
	else
		buf[n] = '\0';
	return buf;
}

int sandbox_open_dir(const char *path, char *why, size_t whylen)
{
	char todo[2 * PATH_MAX], next[2 * PATH_MAX], name[NAME_MAX + 1], target[PATH_MAX];
	int links = 0, rc;
	if (path == NULL || path[0] == '\0' || strlen(path) >= PATH_MAX) {
		snprintf(why, whylen, "not a usable path");
		return -ENAMETOOLONG;
	}
	snprintf(todo, sizeof(todo), "%s", path);
	int dfd = open(path[0] == '/' ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rc = -errno;
		snprintf(why, whylen, "%s", strerror(-rc));
		return rc;
	}
	const char *p = todo;
	for (;;) {
		while (*p == '/')
			p++;
		if (*p == '\0')
			return dfd;
		size_t len = strcspn(p, "/");
		if (len > NAME_MAX) {
			snprintf(why, whylen, "a name longer than %d bytes", NAME_MAX);
			rc = -ENAMETOOLONG;
			break;
		}
		memcpy(name, p, len);
		name[len] = '\0';
		p += len;
		if (strcmp(name, ".") == 0)
			continue;
		int fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0) {
			rc = -errno;
			snprintf(why, whylen, "'%s': %s", name, strerror(-rc));
			if (fd >= 0)
				close(fd);
			break;
		}
		if (S_ISLNK(st.st_mode)) {
			/* A link is followed only where nobody but root could have made it. */
			if (!dir_trusted(dfd)) {
				snprintf(why, whylen,
				         "'%s' is a symbolic link (to %s) in a directory that "
				         "others "
				         "than root can write: not followed",
				         name, link_target(fd, target, sizeof(target)));
				close(fd);
				rc = -ELOOP;
				break;
			}
			ssize_t n = readlinkat(fd, "", target, sizeof(target) - 1);
			close(fd);
			if (n <= 0 || ++links > 40 ||
			    snprintf(next, sizeof(next), "%.*s/%s", (int)n, target, p) >=
			        (int)sizeof(next)) {
				snprintf(why, whylen,
				         "'%s': too many or too long symbolic links", name);
				rc = -ELOOP;
				break;
			}
			memcpy(todo, next, sizeof(todo));
			p = todo;
			if (todo[0] == '/') {
				int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
				if (root < 0) {
					rc = -errno;
					snprintf(why, whylen, "/: %s", strerror(-rc));
					break;
				}
				close(dfd);
				dfd = root;
			}
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			snprintf(why, whylen, "'%s' is not a directory", name);
			close(fd);
			rc = -ENOTDIR;
			break;
		}
		close(dfd);
		dfd = fd;
	}
	close(dfd);
	return rc;
}

int sandbox_open_plain(const char *path, struct stat *st, char *why, size_t whylen)
{
	return open_plain_at(AT_FDCWD, path, st, why, whylen);
}

int sandbox_chown(const char *path, enum sandbox_own kind, uid_t uid, gid_t gid,
                  const char *user)
{
	char dir[PATH_MAX], why[PATH_MAX + 256], target[PATH_MAX];
	size_t n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		n--;
	if (n == 0 || n >= sizeof(dir)) {
		log_warnx("%s: not given to user %s: not a usable path", path, user);
		return -1;
	}
	memcpy(dir, path, n);
	dir[n] = '\0';
	char *slash = strrchr(dir, '/');
	const char *base = dir;
	if (slash == dir) {
		base = slash + 1;
		dir[0] = '\0';
	} else if (slash != NULL) {
		*slash = '\0';
		base = slash + 1;
	}
	const char *in_dir = slash == dir ? "/" : slash ? dir : ".";
	if (base[0] == '\0' || !strcmp(base, ".") || !strcmp(base, "..")) {
		log_warnx("%s: not given to user %s: not a file name", path, user);
		return -1;
	}
	int dfd = sandbox_open_dir(in_dir, why, sizeof(why));
	/* Nothing there to give (a directory that could not be made was said so then). */
	if (dfd == -ENOENT)
		return 0;
	if (dfd < 0) {
		log_warnx("%s: not given to user %s: %s: %s", path, user, in_dir, why);
		return -1;
	}
	int fd = openat(dfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && kind == SANDBOX_OWN_CREATE) {
		/* made here, new: O_EXCL and O_NOFOLLOW take nothing that was there */
		fd = openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		            0640);
		if (fd < 0 && errno == EEXIST)
			fd = openat(dfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	}
	int e = errno;
	close(dfd);
	if (fd < 0) {
		if (e == ENOENT)
			return 0;
		log_warnx("%s: not given to user %s: %s", path, user, strerror(e));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		log_warn("%s: not given to user %s", path, user);
		close(fd);
		return -1;
	}
	const int want_dir = kind == SANDBOX_OWN_DIR;
	why[0] = '\0';
	if (S_ISLNK(st.st_mode))
		snprintf(why, sizeof(why),
		         "it is a symbolic link (to %s): a link in a place others can write "
		         "is never followed",
		         link_target(fd, target, sizeof(target)));
	else if (want_dir && !S_ISDIR(st.st_mode))
		snprintf(why, sizeof(why), "it is not a directory");
	else if (!want_dir && !S_ISREG(st.st_mode))
		snprintf(why, sizeof(why), "it is not a regular file");
	else if (!want_dir && st.st_nlink != 1)
		snprintf(why, sizeof(why),
		         "it has %lu hard links: another name of it may be a file of someone "
		         "else",
		         (unsigned long)st.st_nlink);
	else if (st.st_uid != 0 && st.st_uid != uid)
		snprintf(why, sizeof(why), "it belongs to uid %u, neither root nor user %s",
		         (unsigned)st.st_uid, user);
	else if (want_dir && (st.st_mode & (S_ISVTX | S_IWOTH)))
		snprintf(why, sizeof(why),
		         "it is a directory every user can write (mode %04o): a shared one, "
		         "not sinktrap's own",
		         (unsigned)(st.st_mode & 07777));
	int rc = 0;
	if (why[0] != '\0') {
		log_warnx("%s: not given to user %s: %s", path, user, why);
		rc = -1;
	} else if ((st.st_uid != uid || st.st_gid != gid) &&
	           fchownat(fd, "", uid, gid, AT_EMPTY_PATH) < 0) {
		log_warn("chown %s", path);
		rc = -1;
	}
	close(fd);
	return rc;
}

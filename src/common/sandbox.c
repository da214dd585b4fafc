#include "sandbox.h"

#include <errno.h>
#include <linux/if_ether.h>
#include <seccomp.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include "log.h"

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
};

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
	if (rc == 0 && (flags & SANDBOX_NO_CONNECT))
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(connect), 0);
	if (rc == 0 && (flags & SANDBOX_NO_PACKET)) {
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 1,
		                      SCMP_A0(SCMP_CMP_EQ, AF_PACKET));
		if (rc == 0)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 1,
			                      SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_RAW));
	}
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

/*
 * Worker lockdown: after a worker has opened everything it needs, it gives
 * up what it should never do again. A seccomp filter refuses (EPERM) the
 * system calls no worker needs: running programs, tracing, mounting,
 * namespaces, modules, raw kernel interfaces, changing identity. Flags take
 * away more for workers facing hostile input.
 */
#ifndef SINKTRAP_SANDBOX_H
#define SINKTRAP_SANDBOX_H

#include <sys/stat.h>
#include <sys/types.h>

enum {
	SANDBOX_NO_CONNECT = 1 << 0, /* never open an outbound connection (the trap) */
	SANDBOX_NO_PACKET = 1 << 1,  /* no raw or packet sockets (all but capture) */
};

/* Install the filter. 0, or -errno (logged); the worker goes on either way. */
int sandbox_lockdown(const char *worker, unsigned flags);

/*
 * Before the workers start, the parent (root) gives them what it made: the
 * state directory's files, the payloads, the local CA, the capture spool.
 * Those lie in directories the workers' user can write, so a compromised
 * worker may have put anything there for the next start: nothing found there
 * is taken on trust.
 */

/*
 * Open a directory (O_PATH) walking path one name at a time: a symbolic link
 * is followed only in a directory nobody but root can write (the
 * administrator's links: /var -> /srv/var), never in one the workers' user
 * or anyone else could have put it. A descriptor, or -errno with the reason
 * in why (-ENOENT: a name is missing).
 */
int sandbox_open_dir(const char *path, char *why, size_t whylen);

/*
 * Open path for reading only if it is a regular file with one name, never
 * through a symbolic link and never waiting on a FIFO (a file root reads or
 * changes where another user could have put a link or a second name). The
 * descriptor (O_CLOEXEC; O_NONBLOCK, which a regular file ignores) and its
 * stat in *st (may be NULL); -ENOENT when it is not there; else -errno with
 * what it is in why: "a symbolic link", "not a regular file (a FIFO)", "a
 * file with 2 names (hard links)", or the error's text.
 */
int sandbox_open_plain(const char *path, struct stat *st, char *why, size_t whylen);

enum sandbox_own {
	SANDBOX_OWN_FILE,   /* a regular file, if it is there */
	SANDBOX_OWN_DIR,    /* a directory, if it is there */
	SANDBOX_OWN_CREATE, /* a regular file, made empty (0640) if it is missing */
};

/*
 * Give path to uid:gid (user: the name, for the log) if it is what it should
 * be: its directory reached as sandbox_open_dir() does, then the name itself
 * never followed; a regular file with one link (or a directory other users
 * cannot write), owned by root or by uid already. Anything else (a link to
 * /etc/shadow, a hard link, a device) is left as it is and said in the log,
 * with the reason. 0 (given, or not there), -1 refused or failed.
 */
int sandbox_chown(const char *path, enum sandbox_own kind, uid_t uid, gid_t gid,
                  const char *user);

#endif

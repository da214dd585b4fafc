/*
 * Worker lockdown: after a worker has opened everything it needs, it gives
 * up what it should never do again. A seccomp filter refuses (EPERM) the
 * system calls no worker needs: running programs, tracing, mounting,
 * namespaces, modules, raw kernel interfaces, changing identity. Flags take
 * away more for workers facing hostile input.
 */
#ifndef SINKTRAP_SANDBOX_H
#define SINKTRAP_SANDBOX_H

enum {
	SANDBOX_NO_CONNECT = 1 << 0, /* never open an outbound connection (the trap) */
	SANDBOX_NO_PACKET = 1 << 1,  /* no raw or packet sockets (all but capture) */
};

/* Install the filter. 0, or -errno (logged); the worker goes on either way. */
int sandbox_lockdown(const char *worker, unsigned flags);

#endif

/*
 * The trap worker: accepts whatever an infected host sends to a sinkholed
 * address, on any port, answers like the real service, and records
 * everything. The parent opens the listeners (explicit ports, the catch-all
 * redirect and TPROXY sockets); the worker does the rest.
 */
#ifndef SINKTRAP_TRAP_H
#define SINKTRAP_TRAP_H

#include <stdio.h>
#include <sys/types.h>

#include "../common/config.h"

enum trap_listen_kind {
	TRAP_L_EXPLICIT = 0, /* a socket per configured port */
	TRAP_L_REDIRECT, /* nftables redirect: the original destination via SO_ORIGINAL_DST */
	TRAP_L_TPROXY,   /* UDP TPROXY: the original destination via IP_RECVORIGDSTADDR */
};

/*
 * The TCP catch-all listens on redirect_port .. redirect_port + REDIRECT_SPAN - 1
 * and nftables redirects to that range: with one target port, connections
 * from one source port to several destinations would collide after the
 * redirect and conntrack would renumber their source ports; with a range it
 * picks another target port instead, and the source port stays true.
 */
#define REDIRECT_SPAN 16

struct trap_listener {
	int fd;
	int type; /* SOCK_STREAM or SOCK_DGRAM */
	enum trap_listen_kind kind;
	struct addrport addr;
};

struct trap_setup {
	struct trap_listener *ls; /* Malloced. */
	int nls;
	int parent_fd; /* -1 when run alone */
	int store_fd;  /* -1 when run alone: events are printed as JSON lines */
};

/* Bind every listener of [trap]. 0, or -1 with err. */
int trap_listeners_open(const struct config *c, struct trap_listener **out, int *n, char *err,
                        size_t errlen);
void trap_listeners_close(struct trap_listener *ls, int n);
/*
 * Before the workers start (privileged): the payload directory and the local
 * CA exist, owned by uid/gid (uid (uid_t)-1: leave ownership alone).
 */
void trap_prepare(const struct config *c, uid_t uid, gid_t gid);
/* Run the worker until SIGTERM. Returns the exit status. */
int trap_worker_main(struct config *c, struct trap_setup *s);

enum trap_fw_mode { TRAP_FW_PRINT, TRAP_FW_APPLY, TRAP_FW_REMOVE };
/*
 * `sinktrap firewall`: print the nftables ruleset and routing for the
 * catch-all and the containment, apply them, or remove them. Returns the
 * exit status; messages go to out / stderr.
 */
int trap_firewall(const struct config *c, enum trap_fw_mode mode, FILE *out);

#endif

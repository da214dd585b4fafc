/*
 * The DNS worker: UDP and TCP listeners, the policy (block/allow lists), the
 * sinkhole pools, the forwarder with its cache, and the events it emits.
 * The parent opens the listeners and the list files (it has the privilege),
 * the worker does the rest.
 */
#ifndef SINKTRAP_DNS_H
#define SINKTRAP_DNS_H

#include <stdint.h>
#include <stdio.h>

#include "../common/config.h"
#include "policy.h"

struct dns_listener {
	int udp_fd, tcp_fd;
	struct addrport addr;
	int wildcard; /* bound to 0.0.0.0 or ::: answers carry the queried address */
};

/* A list file to load: opened by whoever has the privilege to. */
struct list_source {
	char *path; /* Malloced. */
	int fd;     /* owned; closed once loaded */
	int allow;
	int clients;  /* a list of clients */
	int line;     /* config line naming it */
	uint32_t had; /* a reload: entries of the list in service from this file (0: none) */
};

struct dns_setup {
	struct dns_listener *ls; /* Malloced. */
	int nls;
	struct list_source *lists; /* Malloced. */
	int nlists;
	int parent_fd; /* -1 when run alone */
	int store_fd;  /* -1 when run alone: events are printed as JSON lines */
};

/* Bind UDP and TCP sockets for every [dns] listen. 0, or -1 with err. */
int dns_listeners_open(const struct config *c, struct dns_listener **out, int *n, char *err,
                       size_t errlen);
/* Open every list file of c. 0, or -1 with err naming FILE:LINE. */
int dns_lists_open(const struct config *c, struct list_source **out, int *n, char *err,
                   size_t errlen);
void dns_lists_close(struct list_source *ls, int n);
/*
 * Build a policy from opened lists (closes their fds). Invalid lines are
 * logged as FILE:LINE warnings (the first few per file, then a count). A list
 * that cannot be read is an error: NULL with the reason in err. A list that
 * looks broken (nothing in it parses, or most of it is invalid) is an error
 * too when strict (a reload, which then keeps the lists it has); otherwise
 * (the first load, with nothing to fall back on) what parsed is used and the
 * reason is logged and left in err. A list that yields no entry (an empty
 * file, comments only) is a warning; when strict and the list in service from
 * that file had entries (ls[i].had), it is taken for a failed download and is
 * an error.
 */
struct policy *dns_policy_build(struct list_source *ls, int n, int quiet, int strict, char *err,
                                size_t errlen);
/* Run the worker until SIGTERM/SIGINT. Returns the exit status. */
int dns_worker_main(struct config *c, struct dns_setup *s);
/*
 * `sinktrap check NAME`: print the deciding entry and the answer NAME would
 * get. Returns 0 if it would be sinkholed, 1 if not, 2 on error.
 */
int dns_check_name(struct config *c, const char *name, FILE *out);
/* The same against lists already built (p): which entry decides NAME, then
 * the mode and the internal zones, as the DNS worker decides. 0 if
 * sinkholed, 1 if not, 2 on error (to errout). */
int dns_check_policy(struct config *c, struct policy *p, const char *name, FILE *out,
                     FILE *errout);

#endif

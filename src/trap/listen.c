/* The trap's listening sockets, opened by the privileged parent. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/util.h"
#include "trap.h"

static int open_one(struct trap_listener *l, char *err, size_t errlen)
{
	char t[80];
	int one = 1;
	int fd = socket(l->addr.ss.ss_family, l->type | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l->addr.ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (l->kind == TRAP_L_TPROXY || l->kind == TRAP_L_REDIRECT) {
		/* TPROXY delivers packets for addresses that are not local. */
		if (l->kind == TRAP_L_TPROXY) {
			int lvl = l->addr.ss.ss_family == AF_INET ? SOL_IP : SOL_IPV6;
			int opt =
			    l->addr.ss.ss_family == AF_INET ? IP_TRANSPARENT : IPV6_TRANSPARENT;
			if (setsockopt(fd, lvl, opt, &one, sizeof(one)) < 0) {
				snprintf(err, errlen,
				         "tproxy_port: IP_TRANSPARENT needs CAP_NET_ADMIN: %s",
				         strerror(errno));
				close(fd);
				return -1;
			}
		}
	}
	if (l->type == SOCK_DGRAM) {
		if (l->addr.ss.ss_family == AF_INET) {
			setsockopt(fd, SOL_IP, IP_RECVORIGDSTADDR, &one, sizeof(one));
			setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
		} else {
			setsockopt(fd, SOL_IPV6, IPV6_RECVORIGDSTADDR, &one, sizeof(one));
		}
	}
	if (bind(fd, (struct sockaddr *)&l->addr.ss, l->addr.len) < 0 ||
	    (l->type == SOCK_STREAM && listen(fd, 4096) < 0)) {
		snprintf(err, errlen, "%s %s: %s", l->type == SOCK_STREAM ? "tcp" : "udp",
		         addrport_fmt((struct sockaddr *)&l->addr.ss, t, sizeof(t)),
		         strerror(errno));
		close(fd);
		return -1;
	}
	l->fd = fd;
	return 0;
}

static void set_port(struct addrport *a, int port)
{
	if (a->ss.ss_family == AF_INET)
		((struct sockaddr_in *)&a->ss)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)&a->ss)->sin6_port = htons((uint16_t)port);
}

static void wildcard(struct addrport *a, int family)
{
	memset(a, 0, sizeof(*a));
	a->ss.ss_family = (sa_family_t)family;
	a->len = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

int trap_listeners_open(const struct config *c, struct trap_listener **out, int *n, char *err,
                        size_t errlen)
{
	int cap = 16, cnt = 0;
	struct trap_listener *ls = xcalloc((size_t)cap, sizeof(*ls));
#define ADD(l_)                                                                                \
	do {                                                                                   \
		if (cnt == cap) {                                                              \
			cap *= 2;                                                              \
			ls = xreallocarray(ls, (size_t)cap, sizeof(*ls));                      \
		}                                                                              \
		ls[cnt] = (l_);                                                                \
		if (open_one(&ls[cnt], err, errlen) < 0)                                       \
			goto fail;                                                             \
		cnt++;                                                                         \
	} while (0)

	for (int i = 0; i < c->trap_nlisten; i++) {
		for (int port = 1; port < 65536; port++) {
			int tcp = portset_has(&c->trap_ports, port);
			int udp = portset_has(&c->trap_udp_ports, port);
			if (!tcp && !udp)
				continue;
			struct trap_listener l = {.fd = -1, .kind = TRAP_L_EXPLICIT};
			l.addr = c->trap_listen[i];
			set_port(&l.addr, port);
			if (tcp) {
				l.type = SOCK_STREAM;
				ADD(l);
			}
			if (udp) {
				l.type = SOCK_DGRAM;
				ADD(l);
			}
		}
	}
	/*
	 * The catch-all sockets take what nftables diverts to them, for any
	 * address: they listen on the wildcard addresses, and the ruleset of
	 * `sinktrap firewall` decides what reaches them.
	 */
	for (int fam = 0; fam < 2; fam++) {
		int family = fam ? AF_INET6 : AF_INET;
		for (int k = 0; c->redirect_port && k < REDIRECT_SPAN; k++) {
			struct trap_listener l = {
			    .fd = -1, .kind = TRAP_L_REDIRECT, .type = SOCK_STREAM};
			wildcard(&l.addr, family);
			set_port(&l.addr, c->redirect_port + k);
			ADD(l);
		}
		if (c->tproxy_port) {
			struct trap_listener l = {
			    .fd = -1, .kind = TRAP_L_TPROXY, .type = SOCK_DGRAM};
			wildcard(&l.addr, family);
			set_port(&l.addr, c->tproxy_port);
			ADD(l);
		}
	}
#undef ADD
	*out = ls;
	*n = cnt;
	return 0;
fail:
	trap_listeners_close(ls, cnt);
	return -1;
}

void trap_listeners_close(struct trap_listener *ls, int n)
{
	for (int i = 0; i < n; i++)
		if (ls[i].fd >= 0)
			close(ls[i].fd);
	free(ls);
}

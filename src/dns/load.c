/* Opening and loading the lists, shared by the worker, reloads and `check`. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "dns.h"

#define WARN_PER_FILE 10

int dns_lists_open(const struct config *c, struct list_source **out, int *n, char *err,
                   size_t errlen)
{
	struct list_source *ls = xcalloc((size_t)c->nlists + 1, sizeof(*ls));
	for (int i = 0; i < c->nlists; i++) {
		int fd = open(c->lists[i].path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			snprintf(err, errlen, "%s:%d: %s%s '%s': %s", c->file, c->lists[i].line,
			         c->lists[i].clients ? "client_" : "",
			         c->lists[i].allow ? "allowlist" : "blocklist",
			         c->lists[i].path, strerror(errno));
			dns_lists_close(ls, i);
			return -1;
		}
		ls[i].path = xstrdup(c->lists[i].path);
		ls[i].fd = fd;
		ls[i].allow = c->lists[i].allow;
		ls[i].clients = c->lists[i].clients;
		ls[i].line = c->lists[i].line;
	}
	*out = ls;
	*n = c->nlists;
	return 0;
}

void dns_lists_close(struct list_source *ls, int n)
{
	if (ls == NULL)
		return;
	for (int i = 0; i < n; i++) {
		if (ls[i].fd >= 0)
			close(ls[i].fd);
		free(ls[i].path);
	}
	free(ls);
}

struct warn_ctx {
	int quiet;
	int count;
};

static void warn_cb(void *arg, const char *file, int line, const char *msg)
{
	struct warn_ctx *w = arg;
	if (!w->quiet && w->count < WARN_PER_FILE)
		log_warnx("%s:%d: %s (line skipped)", file, line, msg);
	w->count++;
}

struct policy *dns_policy_build(struct list_source *ls, int n, int quiet, int strict, char *err,
                                size_t errlen)
{
	err[0] = '\0';
	struct policy *p = policy_new();
	if (p == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (int i = 0; i < n; i++) {
		struct warn_ctx w = {quiet, 0};
		int r = policy_add_fd(p, ls[i].path, ls[i].fd,
		                      (ls[i].allow ? POLICY_LIST_ALLOW : 0) |
		                          (ls[i].clients ? POLICY_LIST_CLIENTS : 0),
		                      warn_cb, &w);
		close(ls[i].fd);
		ls[i].fd = -1;
		if (r < 0) {
			snprintf(err, errlen, "%s: cannot read: %s", ls[i].path, strerror(-r));
			goto fail;
		}
		const struct list_info *li = policy_list(p, policy_list_count(p) - 1);
		if (w.count > WARN_PER_FILE && !quiet)
			log_warnx("%s: %d invalid lines in all (%d shown)", ls[i].path, w.count,
			          WARN_PER_FILE);
		/*
		 * A broken download (an HTML error page, a binary, a truncated
		 * file of junk) is no list: nothing in it parsed, or most of it is
		 * invalid (a stray word in an error page parses as a plain name, so
		 * "most" is what tells). Adblock lists are the exception: browser
		 * lists are mostly cosmetic rules, and their DNS rules still count.
		 */
		if (li && li->invalid > 0 &&
		    (li->entries == 0 ||
		     (li->format != LIST_FMT_ADBLOCK && li->invalid > li->entries))) {
			snprintf(
			    err, errlen,
			    "%s: broken list: %u of its lines are invalid and only %u valid",
			    ls[i].path, li->invalid, li->entries);
			if (strict)
				goto fail;
			log_warnx("%s (its valid lines are used)", err);
		} else if (li && li->entries == 0) {
			/*
			 * An empty file, or comments only: a download that failed
			 * half-way (a 0-byte file) looks just like this. A reload
			 * does not let it drop a list that had entries.
			 */
			if (strict && ls[i].had > 0) {
				snprintf(
				    err, errlen,
				    "%s: broken list: no entries (empty or comments only), "
				    "the list in service has %u",
				    ls[i].path, ls[i].had);
				goto fail;
			}
			if (!quiet)
				log_warnx("%s: no entries (empty or comments only)",
				          ls[i].path);
		}
		if (!quiet && li)
			log_info("%s: %u entries (%s%s%s)", ls[i].path, li->entries,
			         list_format_name(li->format), ls[i].clients ? ", clients" : "",
			         ls[i].allow ? ", allowlist" : "");
	}
	policy_finish(p);
	return p;
fail:
	for (int i = 0; i < n; i++) {
		if (ls[i].fd >= 0) {
			close(ls[i].fd);
			ls[i].fd = -1;
		}
	}
	policy_free(&p);
	return NULL;
}

static int bind_one(int type, const struct addrport *a, char *err, size_t errlen)
{
	char t[80];
	int fd = socket(a->ss.ss_family, type | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (a->ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 1024) < 0)) {
		snprintf(err, errlen, "%s %s: %s", type == SOCK_STREAM ? "tcp" : "udp",
		         addrport_fmt((const struct sockaddr *)&a->ss, t, sizeof(t)),
		         strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int dns_listeners_open(const struct config *c, struct dns_listener **out, int *n, char *err,
                       size_t errlen)
{
	struct dns_listener *ls = xcalloc((size_t)c->dns_nlisten + 1, sizeof(*ls));
	for (int i = 0; i < c->dns_nlisten; i++) {
		ls[i].addr = c->dns_listen[i];
		ls[i].udp_fd = bind_one(SOCK_DGRAM, &ls[i].addr, err, errlen);
		ls[i].tcp_fd =
		    ls[i].udp_fd < 0 ? -1 : bind_one(SOCK_STREAM, &ls[i].addr, err, errlen);
		if (ls[i].udp_fd >= 0) {
			int one = 1;
			const struct sockaddr *sa = (const struct sockaddr *)&ls[i].addr.ss;
			ls[i].wildcard = addr_is_wildcard(sa);
			if (ls[i].wildcard && sa->sa_family == AF_INET)
				setsockopt(ls[i].udp_fd, IPPROTO_IP, IP_PKTINFO, &one,
				           sizeof(one));
			else if (ls[i].wildcard)
				setsockopt(ls[i].udp_fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one,
				           sizeof(one));
			/*
			 * A deep receive queue rides out bursts and list reloads. Set here,
			 * while privileged: SO_RCVBUFFORCE may exceed net.core.rmem_max.
			 */
			int sz = c->rcvbuf;
			if (setsockopt(ls[i].udp_fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz,
			               sizeof(sz)) < 0)
				setsockopt(ls[i].udp_fd, SOL_SOCKET, SO_RCVBUF, &sz,
				           sizeof(sz));
		}
		if (ls[i].udp_fd < 0 || ls[i].tcp_fd < 0) {
			for (int k = 0; k <= i; k++) {
				if (ls[k].udp_fd >= 0)
					close(ls[k].udp_fd);
				if (ls[k].tcp_fd >= 0)
					close(ls[k].tcp_fd);
			}
			free(ls);
			return -1;
		}
	}
	*out = ls;
	*n = c->dns_nlisten;
	return 0;
}

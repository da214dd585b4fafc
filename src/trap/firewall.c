/*
 * `sinktrap firewall`: the nftables ruleset and routes that make the trap a
 * catch-all, and the containment that keeps it from reaching anything.
 *
 * One table, `inet sinktrap`, holds everything, so applying is one atomic
 * nft transaction (the table is declared, deleted and rebuilt in the same
 * script: idempotent) and removing is deleting the table. Routing is added
 * with `ip ... replace` so repeating it changes nothing; every route carries
 * sinktrap's protocol number (FW_PROTO), so removing takes away what was
 * applied, read back from the kernel, whatever the configuration says now
 * (a pool changed since, the trap disabled, a list file missing).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libpq-fe.h>
#include <netdb.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/util.h"
#include "../store/sinkspec.h"
#include "trap.h"

#define FW_MARK "0x5354"
#define FW_TABLE 5354
/* The routes' protocol (`ip route ... proto N`): sinktrap's marker ('S'); no routing
 * daemon uses it. */
#define FW_PROTO 83

struct sbuf {
	char *p;
	size_t len, cap;
};

static void sb_printf(struct sbuf *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sbuf *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (s->len + (size_t)n + 1 > s->cap) {
		s->cap = (s->len + (size_t)n + 1) * 2;
		s->p = xreallocarray(s->p, s->cap, 1);
	}
	va_start(ap, fmt);
	vsnprintf(s->p + s->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	s->len += (size_t)n;
}

/* The trap's listen addresses of one family. */
static int listen_addrs(const struct config *c, int family, struct sbuf *s)
{
	char buf[128];
	int n = 0;
	for (int i = 0; i < c->trap_nlisten; i++) {
		const struct sockaddr *sa = (const struct sockaddr *)&c->trap_listen[i].ss;
		if (sa->sa_family != family)
			continue;
		sb_printf(s, "%s%s", n++ ? ", " : "", addr_fmt(sa, buf, sizeof(buf)));
	}
	return n;
}

/* The DNS pool of one family (its addresses exist for the trap alone: every port). */
static int pool_addrs(const struct config *c, int family, struct sbuf *s)
{
	char buf[128];
	const struct prefix *p = family == AF_INET ? &c->sinkhole4 : &c->sinkhole6;
	int have = family == AF_INET ? c->have_sinkhole4 : c->have_sinkhole6;
	if (!have)
		return 0;
	sb_printf(s, "%s", prefix_fmt(p, buf, sizeof(buf)));
	return 1;
}

static void port_ranges(const struct portset *ps, struct sbuf *s)
{
	int n = 0;
	for (int port = 1; port < 65536; port++) {
		if (!portset_has(ps, port))
			continue;
		int end = port;
		while (end + 1 < 65536 && portset_has(ps, end + 1))
			end++;
		if (end > port)
			sb_printf(s, "%s%d-%d", n++ ? ", " : "", port, end);
		else
			sb_printf(s, "%s%d", n++ ? ", " : "", port);
		port = end;
	}
}

/*
 * Let the host reach one configured destination. A name is resolved now: the
 * ruleset holds addresses, so it must be applied again if the name moves.
 */
static void allow_dest(struct sbuf *s, const char *host, int port, const char *l4,
                       const char *why)
{
	struct addrinfo hints, *res = NULL;
	char buf[INET6_ADDRSTRLEN];
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, NULL, &hints, &res) != 0) {
		sb_printf(s, "\t\t# %s %s: cannot resolve, no rule\n", why, host);
		return;
	}
	for (struct addrinfo *a = res; a; a = a->ai_next)
		sb_printf(s, "\t\t%s daddr %s %s dport %d accept comment \"%s\"\n",
		          a->ai_family == AF_INET ? "ip" : "ip6",
		          addr_fmt(a->ai_addr, buf, sizeof(buf)), l4, port, why);
	freeaddrinfo(res);
}

static void ruleset(const struct config *c, struct sbuf *s)
{
	struct sbuf a4 = {0}, a6 = {0}, p4 = {0}, p6 = {0}, ex = {0};
	int n4 = listen_addrs(c, AF_INET, &a4), n6 = listen_addrs(c, AF_INET6, &a6);
	int m4 = pool_addrs(c, AF_INET, &p4), m6 = pool_addrs(c, AF_INET6, &p6);
	port_ranges(&c->exclude_ports, &ex);
	char rport[32];
	snprintf(rport, sizeof(rport), "%d-%d", c->redirect_port,
	         c->redirect_port + REDIRECT_SPAN - 1);

	sb_printf(s, "# sinktrap catch-all and containment (sinktrap firewall -c %s)\n",
	          c->file);
	sb_printf(s, "table inet sinktrap\ndelete table inet sinktrap\n");
	sb_printf(s, "table inet sinktrap {\n");
	if (n4)
		sb_printf(s,
		          "\tset trap4 {\n\t\ttype ipv4_addr; flags interval;\n\t\telements = "
		          "{ %s }\n\t}\n",
		          a4.p);
	if (n6)
		sb_printf(s,
		          "\tset trap6 {\n\t\ttype ipv6_addr; flags interval;\n\t\telements = "
		          "{ %s }\n\t}\n",
		          a6.p);
	if (m4)
		sb_printf(s,
		          "\tset pool4 {\n\t\ttype ipv4_addr; flags interval;\n\t\telements = "
		          "{ %s }\n\t}\n",
		          p4.p);
	if (m6)
		sb_printf(s,
		          "\tset pool6 {\n\t\ttype ipv6_addr; flags interval;\n\t\telements = "
		          "{ %s }\n\t}\n",
		          p6.p);
	sb_printf(s, "\tset excluded {\n\t\ttype inet_service; flags interval;\n");
	if (ex.len)
		sb_printf(s, "\t\telements = { %s }\n", ex.p);
	sb_printf(s, "\t}\n");

	if (c->redirect_port) {
		sb_printf(s, "\n\t# every TCP port of the trap addresses to the trap (the "
		             "pools: all of them)\n");
		sb_printf(s, "\tchain divert_tcp {\n\t\ttype nat hook prerouting priority "
		             "dstnat; policy accept;\n");
		if (m4)
			sb_printf(s, "\t\tip daddr @pool4 meta l4proto tcp redirect to :%s\n",
			          rport);
		if (m6)
			sb_printf(s, "\t\tip6 daddr @pool6 meta l4proto tcp redirect to :%s\n",
			          rport);
		if (n4)
			sb_printf(
			    s, "\t\tip daddr @trap4 tcp dport != @excluded redirect to :%s\n",
			    rport);
		if (n6)
			sb_printf(
			    s, "\t\tip6 daddr @trap6 tcp dport != @excluded redirect to :%s\n",
			    rport);
		sb_printf(s, "\t}\n");
		if (m4 || m6) {
			/*
			 * The sinkhole host's own connections to the pools (an analyst's
			 * curl, a sandbox run there): NAT for a locally made connection
			 * is decided at output, and its looped-back packets never meet
			 * the prerouting chain above as a new connection. Only the
			 * pools: the host's own services on its listen addresses stay
			 * its own.
			 */
			sb_printf(s,
			          "\n\t# the sinkhole host's own connections to the pools\n");
			sb_printf(s, "\tchain divert_tcp_local {\n\t\ttype nat hook output "
			             "priority -100; policy accept;\n");
			if (m4)
				sb_printf(
				    s, "\t\tip daddr @pool4 meta l4proto tcp redirect to :%s\n",
				    rport);
			if (m6)
				sb_printf(
				    s,
				    "\t\tip6 daddr @pool6 meta l4proto tcp redirect to :%s\n",
				    rport);
			sb_printf(s, "\t}\n");
		}
	}
	if (c->tproxy_port) {
		sb_printf(s, "\n\t# every UDP port of the trap addresses to the trap, original "
		             "destination kept\n");
		sb_printf(s, "\tchain divert_udp {\n\t\ttype filter hook prerouting priority "
		             "mangle; policy accept;\n");
		if (m4)
			sb_printf(s,
			          "\t\tip daddr @pool4 meta l4proto udp meta mark set " FW_MARK
			          " tproxy ip to :%d accept\n",
			          c->tproxy_port);
		if (m6)
			sb_printf(s,
			          "\t\tip6 daddr @pool6 meta l4proto udp meta mark set " FW_MARK
			          " tproxy ip6 to :%d accept\n",
			          c->tproxy_port);
		if (n4)
			sb_printf(
			    s,
			    "\t\tip daddr @trap4 udp dport != @excluded meta mark set " FW_MARK
			    " tproxy ip to :%d accept\n",
			    c->tproxy_port);
		if (n6)
			sb_printf(
			    s,
			    "\t\tip6 daddr @trap6 udp dport != @excluded meta mark set " FW_MARK
			    " tproxy ip6 to :%d accept\n",
			    c->tproxy_port);
		sb_printf(s, "\t}\n");
	}

	/* Containment: replies to what came in, loopback, and the few destinations configured.
	 */
	sb_printf(
	    s, "\n\t# containment: nothing leaves but replies and the configured services\n");
	sb_printf(
	    s,
	    "\tchain contain {\n\t\ttype filter hook output priority filter; policy drop;\n");
	sb_printf(s, "\t\toif \"lo\" accept\n");
	sb_printf(s, "\t\tct state established,related accept\n");
	/* IPv6 needs neighbour discovery, which conntrack does not track. */
	sb_printf(
	    s, "\t\ticmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit } "
	       "accept\n");

	char buf[128];
	for (int i = 0; i < c->nupstream; i++) {
		const struct sockaddr *sa = (const struct sockaddr *)&c->upstream[i].ss;
		const char *fam = sa->sa_family == AF_INET ? "ip" : "ip6";
		int port = addr_port(sa);
		sb_printf(s, "\t\t%s daddr %s udp dport %d accept comment \"dns upstream\"\n",
		          fam, addr_fmt(sa, buf, sizeof(buf)), port);
		sb_printf(s, "\t\t%s daddr %s tcp dport %d accept comment \"dns upstream\"\n",
		          fam, addr_fmt(sa, buf, sizeof(buf)), port);
	}
	for (int i = 0; i < c->nsyslog; i++) {
		const struct cfg_syslog *d = &c->syslog[i];
		if (d->transport == SYSLOG_LOCAL || d->transport == SYSLOG_UNIX)
			continue;
		allow_dest(s, d->host, d->port, d->transport == SYSLOG_UDP ? "udp" : "tcp",
		           "event sink");
	}
	if (c->database) {
		/* The PostgreSQL server named by the conninfo (a socket path needs no rule). */
		PQconninfoOption *opts = PQconninfoParse(c->database, NULL);
		const char *host = NULL, *port = "5432";
		for (PQconninfoOption *o = opts; o && o->keyword; o++) {
			if (o->val && (!strcmp(o->keyword, "hostaddr") ||
			               (!strcmp(o->keyword, "host") && !host)))
				host = o->val;
			if (o->val && !strcmp(o->keyword, "port"))
				port = o->val;
		}
		if (host && host[0] != '/')
			allow_dest(s, host, atoi(port), "tcp", "database");
		PQconninfoFree(opts);
	}
	sb_printf(s,
	          "\t\tcounter comment \"dropped: the trap host never starts a connection\"\n");
	sb_printf(s, "\t}\n}\n");
	free(a4.p);
	free(a6.p);
	free(p4.p);
	free(p6.p);
	free(ex.p);
}

static int run(char *const argv[], const char *input, int quiet);
static int run_lines(const char *script, int ignore_errors);

/* The routing: the pools are local addresses; TPROXY-marked packets are delivered locally. */
static void routes(const struct config *c, struct sbuf *s)
{
	char buf[128];
	if (c->have_sinkhole4 && c->sinkhole4.bits < 32)
		sb_printf(s, "ip -4 route replace local %s dev lo proto %d\n",
		          prefix_fmt(&c->sinkhole4, buf, sizeof(buf)), FW_PROTO);
	if (c->have_sinkhole6 && c->sinkhole6.bits < 128)
		sb_printf(s, "ip -6 route replace local %s dev lo proto %d\n",
		          prefix_fmt(&c->sinkhole6, buf, sizeof(buf)), FW_PROTO);
	if (c->tproxy_port) {
		sb_printf(s, "ip -4 rule add fwmark " FW_MARK " lookup %d\n", FW_TABLE);
		sb_printf(s, "ip -4 route replace local 0.0.0.0/0 dev lo table %d proto %d\n",
		          FW_TABLE, FW_PROTO);
		sb_printf(s, "ip -6 rule add fwmark " FW_MARK " lookup %d\n", FW_TABLE);
		sb_printf(s, "ip -6 route replace local ::/0 dev lo table %d proto %d\n",
		          FW_TABLE, FW_PROTO);
	}
}

/*
 * What every apply may have left, read back from the kernel: the pool routes
 * carry FW_PROTO, the TPROXY routing is its own table and rule. The
 * configuration is not needed (c may be NULL); when it is there, its pools'
 * routes are deleted too, for those an older sinktrap added without the
 * marker.
 */
static void unroute(const struct config *c)
{
	char buf[128], line[256];
	struct sbuf s = {0};
	sb_printf(&s, "ip -4 route flush table local proto %d\n", FW_PROTO);
	sb_printf(&s, "ip -6 route flush table local proto %d\n", FW_PROTO);
	if (c && c->have_sinkhole4 && c->sinkhole4.bits < 32)
		sb_printf(&s, "ip -4 route del local %s dev lo table local\n",
		          prefix_fmt(&c->sinkhole4, buf, sizeof(buf)));
	if (c && c->have_sinkhole6 && c->sinkhole6.bits < 128)
		sb_printf(&s, "ip -6 route del local %s dev lo table local\n",
		          prefix_fmt(&c->sinkhole6, buf, sizeof(buf)));
	sb_printf(&s, "ip -4 route flush table %d\n", FW_TABLE);
	sb_printf(&s, "ip -6 route flush table %d\n", FW_TABLE);
	run_lines(s.p, 1);
	free(s.p);
	/* the rule, as many times as it was added */
	for (int fam = 4; fam <= 6; fam += 2)
		for (int i = 0; i < 16; i++) {
			snprintf(line, sizeof(line), "-%d", fam);
			char table[16];
			snprintf(table, sizeof(table), "%d", FW_TABLE);
			char *argv[] = {"ip",    line,     "rule", "del", "fwmark",
			                FW_MARK, "lookup", table,  NULL};
			if (run(argv, NULL, 1) != 0)
				break;
		}
}

/* The ruleset and every route sinktrap may have added, whatever the configuration. */
static void remove_all(const struct config *c)
{
	char *argv[] = {"nft", "delete", "table", "inet", "sinktrap", NULL};
	run(argv, NULL, 1);
	unroute(c);
}

/* Run argv with input on stdin (may be NULL). Returns the exit status. */
static int run(char *const argv[], const char *input, int quiet)
{
	int pfd[2];
	if (pipe(pfd) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(pfd[0], 0);
		close(pfd[0]);
		close(pfd[1]);
		if (quiet) {
			int null = open("/dev/null", O_WRONLY);
			if (null >= 0)
				dup2(null, 2);
		}
		execvp(argv[0], argv);
		fprintf(stderr, "sinktrap firewall: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(pfd[0]);
	if (input)
		write_full(pfd[1], input, strlen(input));
	close(pfd[1]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

/* Each line of a route script: split on spaces (our own text, no quoting). */
static int run_lines(const char *script, int ignore_errors)
{
	char *copy = xstrdup(script), *save = NULL;
	int rc = 0;
	for (char *line = strtok_r(copy, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *argv[16], *s2 = NULL;
		int n = 0;
		for (char *w = strtok_r(line, " ", &s2); w && n < 15;
		     w = strtok_r(NULL, " ", &s2))
			argv[n++] = w;
		argv[n] = NULL;
		if (n == 0)
			continue;
		/* A rule already there is fine: delete it first, then add (idempotent). */
		if (n > 3 && !strcmp(argv[0], "ip") && !strcmp(argv[2], "rule") &&
		    !strcmp(argv[3], "add")) {
			argv[3] = "del";
			run(argv, NULL, 1);
			argv[3] = "add";
		}
		int r = run(argv, NULL, ignore_errors);
		if (r != 0 && !ignore_errors) {
			fprintf(stderr, "sinktrap firewall: failed (%d): %s\n", r, script);
			rc = 1;
		}
	}
	free(copy);
	return rc;
}

/*
 * c may be NULL for TRAP_FW_REMOVE, which needs no configuration: a service's
 * stop removes the ruleset even when its configuration has become invalid.
 * With the trap disabled there is no ruleset: --apply removes any that is
 * there (one applied before the trap was disabled) and succeeds.
 */
int trap_firewall(const struct config *c, enum trap_fw_mode mode, FILE *out)
{
	struct sbuf nft = {0}, rt = {0};
	int rc = 0;
	if (mode == TRAP_FW_REMOVE || c == NULL) {
		/* The configured pools' unmarked routes only when the trap is on:
		 * with it off, a pool may be routed by hand. */
		remove_all(c && c->trap_enabled ? c : NULL);
		fprintf(out, "sinktrap firewall: removed\n");
		return 0;
	}
	if (!c->trap_enabled) {
		if (mode == TRAP_FW_PRINT) {
			fprintf(out,
			        "# %s: [trap] is not enabled: no ruleset (--apply removes "
			        "one applied before)\n",
			        c->file);
			return 0;
		}
		remove_all(
		    NULL); /* what sinktrap marked: the DNS pools may be routed by hand */
		fprintf(out, "sinktrap firewall: [trap] is not enabled: nothing applied, any "
		             "earlier ruleset and routes removed\n");
		return 0;
	}
	ruleset(c, &nft);
	routes(c, &rt);
	switch (mode) {
	case TRAP_FW_PRINT:
		fputs(nft.p, out);
		fprintf(out, "\n# routing (sinktrap firewall --apply runs these)\n%s",
		        rt.p ? rt.p : "");
		break;
	case TRAP_FW_APPLY: {
		char *argv[] = {"nft", "-f", "-", NULL};
		if (run(argv, nft.p, 0) != 0) {
			fprintf(stderr, "sinktrap firewall: nft refused the ruleset\n");
			rc = 1;
			break;
		}
		/* the routes of an earlier apply first: a pool changed since is not left */
		unroute(NULL);
		if (rt.p)
			rc = run_lines(rt.p, 0);
		if (rc == 0)
			fprintf(out, "sinktrap firewall: applied\n");
		break;
	}
	case TRAP_FW_REMOVE: /* above */
		break;
	}
	free(nft.p);
	free(rt.p);
	return rc;
}

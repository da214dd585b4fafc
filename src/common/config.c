#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "../store/sinkspec.h"
#include "../capture/capture.h"
#include "../trap/detect.h"
#include "../dns/idn.h"

enum ktype {
	K_BOOL,
	K_INT,
	K_STR,
	K_PATH_OR_NO, /* a path, or "no"/"" to disable */
	K_LISTEN,     /* ADDR:PORT, repeatable */
	K_UPSTREAM,   /* ADDR[:PORT] or "system", repeatable */
	K_BLOCKLIST,
	K_ALLOWLIST,
	K_CLIENT_BLOCKLIST, /* clients: a quarantine */
	K_CLIENT_ALLOWLIST, /* clients: exempt from every rule */
	K_PREFIX4,
	K_PREFIX6,
	K_MODE,
	K_ZONE,
	K_LOGLEVEL,
	K_DURATION_MS,
	K_SIZE,
	K_SIZE64,
	K_PORTSET,    /* "21,25,8000-8100" */
	K_ADDR,       /* an address without port, repeatable (trap listen) */
	K_BANNER,     /* "PORT:PROTO", repeatable */
	K_PORT,       /* 0..65535 */
	K_EVENTS,     /* an [events] key parsed by store/sinkspec.c */
	K_IFACE,      /* a network interface name, repeatable */
	K_CAPFMT,     /* "pcap" or "pcapng" */
	K_PERCENT,    /* "10" or "10%" */
	K_ADDRPORT,   /* one ADDR[:PORT] (the default port is min) */
	K_FILE_OR_NO, /* as K_PATH_OR_NO, a file that must exist */
	K_USER,       /* a user name that must exist */
};

struct key {
	const char *section;
	const char *name;
	enum ktype type;
	size_t off; /* offset in struct config; unused for handler types */
	long min, max;
	int repeat;
};

#define O(f) offsetof(struct config, f)

static const struct key keys[] = {
    {"sinktrap", "state_dir", K_STR, O(state_dir), 0, 0, 0},
    {"sinktrap", "user", K_USER, O(user), 0, 0, 0},
    {"sinktrap", "sensor", K_STR, O(sensor), 0, 0, 0},
    {"sinktrap", "log_level", K_LOGLEVEL, O(log_level), 0, 0, 0},

    {"dns", "enabled", K_BOOL, O(dns_enabled), 0, 0, 0},
    {"dns", "listen", K_LISTEN, 0, 0, 0, 1},
    {"dns", "upstream", K_UPSTREAM, 0, 0, 0, 1},
    {"dns", "blocklist", K_BLOCKLIST, 0, 0, 0, 1},
    {"dns", "allowlist", K_ALLOWLIST, 0, 0, 0, 1},
    {"dns", "client_blocklist", K_CLIENT_BLOCKLIST, 0, 0, 0, 1},
    {"dns", "client_allowlist", K_CLIENT_ALLOWLIST, 0, 0, 0, 1},
    {"dns", "mode", K_MODE, O(mode), 0, 0, 0},
    {"dns", "internal_zone", K_ZONE, 0, 0, 0, 1},
    {"dns", "sinkhole_ipv4", K_PREFIX4, 0, 0, 0, 0},
    {"dns", "sinkhole_ipv6", K_PREFIX6, 0, 0, 0, 0},
    {"dns", "ttl", K_INT, O(ttl), 0, 604800, 0},
    {"dns", "log_forwarded", K_BOOL, O(log_forwarded), 0, 0, 0},
    {"dns", "cname_inspect", K_BOOL, O(cname_inspect), 0, 0, 0},
    {"dns", "cache_size", K_INT, O(cache_entries), 0, 10000000, 0},
    {"dns", "upstream_timeout", K_DURATION_MS, O(upstream_timeout_ms), 100, 30000, 0},
    {"dns", "edns_size", K_INT, O(edns_size), 512, 4096, 0},
    {"dns", "tcp_idle_timeout", K_DURATION_MS, O(tcp_idle_ms), 100, 600000, 0},
    {"dns", "tcp_max_clients", K_INT, O(tcp_max_clients), 1, 100000, 0},
    {"dns", "client_pending_max", K_INT, O(client_pending_max), 1, 8192, 0},
    {"dns", "rcvbuf", K_SIZE, O(rcvbuf), 65536, 256 << 20, 0},
    {"dns", "map_size", K_INT, O(map_memory), 1, 16000000, 0},

    {"events", "json", K_PATH_OR_NO, O(json), 0, 0, 0},
    {"events", "sqlite", K_BOOL, O(sqlite), 0, 0, 0},
    {"events", "syslog", K_EVENTS, 0, 0, 0, 1},
    {"events", "syslog_format", K_EVENTS, 0, 0, 0, 0},
    {"events", "syslog_facility", K_EVENTS, 0, 0, 0, 0},
    {"events", "syslog_app_name", K_EVENTS, 0, 0, 0, 0},
    {"events", "syslog_hostname", K_EVENTS, 0, 0, 0, 0},
    {"events", "json_types", K_EVENTS, 0, 0, 0, 0},
    {"events", "json_max_size", K_EVENTS, 0, 0, 0, 0},
    {"events", "json_keep", K_EVENTS, 0, 0, 0, 0},
    {"events", "database", K_EVENTS, 0, 0, 0, 0},
    {"events", "database_types", K_EVENTS, 0, 0, 0, 0},
    {"events", "database_timeout", K_EVENTS, 0, 0, 0, 0},
    {"events", "queue_max", K_EVENTS, 0, 0, 0, 0},

    {"trap", "enabled", K_BOOL, O(trap_enabled), 0, 0, 0},
    {"trap", "listen", K_ADDR, 0, 0, 0, 1},
    {"trap", "ports", K_PORTSET, O(trap_ports), 0, 0, 0},
    {"trap", "udp_ports", K_PORTSET, O(trap_udp_ports), 0, 0, 0},
    {"trap", "exclude_ports", K_PORTSET, O(exclude_ports), 0, 0, 0},
    {"trap", "redirect_port", K_PORT, O(redirect_port), 0, 65535 - 15, 0},
    {"trap", "tproxy_port", K_PORT, O(tproxy_port), 0, 65535, 0},
    {"trap", "banner", K_BANNER, 0, 0, 0, 1},
    {"trap", "hostname", K_STR, O(trap_hostname), 0, 0, 0},
    {"trap", "http_page", K_FILE_OR_NO, O(http_page), 0, 0, 0},
    {"trap", "http_content_type", K_STR, O(http_content_type), 0, 0, 0},
    {"trap", "http_status", K_INT, O(http_status), 100, 599, 0},
    {"trap", "ftp_file", K_FILE_OR_NO, O(ftp_file), 0, 0, 0},
    {"trap", "max_connections", K_INT, O(max_connections), 1, 1000000, 0},
    {"trap", "max_per_source", K_INT, O(max_per_source), 1, 1000000, 0},
    {"trap", "rate_per_source", K_INT, O(rate_per_source), 1, 1000000, 0},
    {"trap", "read_timeout", K_DURATION_MS, O(read_timeout_ms), 100, 3600000, 0},
    {"trap", "session_timeout", K_DURATION_MS, O(session_timeout_ms), 1000, 86400000, 0},
    {"trap", "max_bytes", K_SIZE64, O(max_bytes), 1024, 1LL << 34, 0},
    {"trap", "payload_max", K_SIZE64, O(payload_max), 1024, 1LL << 32, 0},
    {"trap", "payload_quota", K_SIZE64, O(payload_quota), 1 << 20, 1LL << 42, 0},
    {"trap", "memory_max", K_SIZE64, O(trap_memory_max), 1 << 20, 1LL << 40, 0},
    {"trap", "ca_dir", K_STR, O(ca_dir), 0, 0, 0},
    {"capture", "enabled", K_BOOL, O(capture_enabled), 0, 0, 0},
    {"capture", "interface", K_IFACE, 0, 0, 0, 1},
    {"capture", "filter", K_STR, O(capture_filter), 0, 0, 0},
    {"capture", "snaplen", K_INT, O(capture_snaplen), 64, 262144, 0},
    {"capture", "buffer", K_SIZE64, O(capture_buffer), 1 << 20, 1LL << 32, 0},
    {"capture", "promisc", K_BOOL, O(capture_promisc), 0, 0, 0},
    {"capture", "format", K_CAPFMT, O(capture_format), 0, 0, 0},
    {"capture", "spool", K_STR, O(capture_spool), 0, 0, 0},
    {"capture", "file_size", K_SIZE64, O(capture_file_size), 1 << 16, 1LL << 40, 0},
    {"capture", "file_time", K_DURATION_MS, O(capture_file_time_ms), 1000, 86400000, 0},
    {"capture", "max_disk", K_SIZE64, O(capture_max_disk), 0, 1LL << 50, 0},
    {"capture", "min_free", K_PERCENT, O(capture_min_free), 0, 99, 0},
    {"capture", "stats_interval", K_DURATION_MS, O(capture_stats_ms), 1000, 3600000, 0},
    {"capture", "max_flows", K_INT, O(capture_max_flows), 1024, 1 << 24, 0},
    {"capture", "tcp_new_timeout", K_DURATION_MS, O(capture_tcp_new_ms), 1000, 86400000, 0},
    {"capture", "tcp_timeout", K_DURATION_MS, O(capture_tcp_est_ms), 1000, 86400000, 0},
    {"capture", "tcp_closed_timeout", K_DURATION_MS, O(capture_tcp_closed_ms), 1000, 86400000,
     0},
    {"capture", "udp_timeout", K_DURATION_MS, O(capture_udp_ms), 1000, 86400000, 0},
    {"capture", "other_timeout", K_DURATION_MS, O(capture_other_ms), 1000, 86400000, 0},
    {"capture", "community_id_seed", K_INT, O(capture_cid_seed), 0, 65535, 0},
    {"web", "enabled", K_BOOL, O(web_enabled), 0, 0, 0},
    {"web", "listen", K_ADDRPORT, O(web_listen), 8080, 0, 0},
    {"web", "users", K_PATH_OR_NO, O(web_users), 0, 0, 0},
    {"web", "tokens", K_PATH_OR_NO, O(web_tokens), 0, 0, 0},
    {"web", "tls_cert", K_FILE_OR_NO, O(web_tls_cert), 0, 0, 0},
    {"web", "tls_key", K_FILE_OR_NO, O(web_tls_key), 0, 0, 0},
    {"web", "memory_max", K_SIZE64, O(web_memory_max), 1 << 20, 1LL << 40, 0},
    {"web", "query_timeout", K_DURATION_MS, O(web_query_ms), 100, 600000, 0},
};

static const char *const sections[] = {"sinktrap", "dns", "trap", "capture", "events", "web"};

struct parser {
	struct config *c;
	const char *name;
	struct cfg_errors *errs;
	int line;
	int check_files;
	unsigned char seen[sizeof(keys) / sizeof(keys[0])];
	int dns_section_line;
	int trap_section_line;
	int capture_section_line;
	int *upstream_line; /* per upstream: its line, negative when from /etc/resolv.conf */
};

static void perr(struct parser *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void perr(struct parser *p, int line, const char *fmt, ...)
{
	char msg[512], full[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(full, sizeof(full), "%s:%d: %s", p->name, line, msg);
	else
		snprintf(full, sizeof(full), "%s: %s", p->name, msg);
	p->errs->msg = xreallocarray(p->errs->msg, (size_t)p->errs->n + 1, sizeof(char *));
	p->errs->msg[p->errs->n++] = xstrdup(full);
}

static void config_defaults(struct config *c)
{
	c->state_dir = xstrdup("./var");
	c->user = xstrdup("nobody");
	c->sensor = NULL;
	c->log_level = LOG_LVL_INFO;
	c->dns_enabled = 1;
	c->mode = DNS_MODE_BLOCKLIST;
	c->ttl = 300;
	c->cname_inspect = 1;
	c->cache_entries = 100000;
	c->upstream_timeout_ms = 2000;
	c->edns_size = 1232;
	c->tcp_idle_ms = 10000;
	c->tcp_max_clients = 512;
	c->client_pending_max = 1024;
	c->rcvbuf = 8 << 20;
	c->map_memory = 1000000;
	c->sqlite = 1;
	sinkspec_config_defaults(c);
	c->http_status = 200;
	c->max_connections = 20000;
	c->max_per_source = 512;
	c->rate_per_source = 200;
	c->read_timeout_ms = 30000;
	c->session_timeout_ms = 600000;
	c->max_bytes = 16 << 20;
	c->payload_max = 8 << 20;
	c->payload_quota = 1LL << 30;
	c->trap_memory_max = 512LL << 20;
	c->web_memory_max = 256LL << 20;
	c->web_query_ms = 10000;
	c->capture_snaplen = 262144;
	c->capture_buffer = 64 << 20;
	c->capture_promisc = 1;
	c->capture_file_size = 512LL << 20;
	c->capture_file_time_ms = 600000;
	c->capture_min_free = 10;
	c->capture_stats_ms = 10000;
	c->capture_max_flows = 262144;
	c->capture_tcp_new_ms = 60000;
	c->capture_tcp_est_ms = 600000;
	c->capture_tcp_closed_ms = 60000;
	c->capture_udp_ms = 120000;
	c->capture_other_ms = 60000;
}

static int parse_bool(const char *v, int *out)
{
	if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1") ||
	    !strcasecmp(v, "on"))
		*out = 1;
	else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0") ||
	         !strcasecmp(v, "off"))
		*out = 0;
	else
		return -1;
	return 0;
}

/* "65536", "64k", "8M", "1G" (powers of 1024). */
/* A number's text starts with a digit (or a minus and a digit, when signed):
 * strtol would also take spaces and a plus sign before it. */
static int number_text(const char *v, int sign)
{
	if (sign && *v == '-')
		v++;
	return isdigit((unsigned char)*v);
}

static int parse_size(const char *v, int64_t *out)
{
	char *end;
	errno = 0;
	if (!number_text(v, 0))
		return -1;
	long long n = strtoll(v, &end, 10);
	if (end == v || errno || n < 0)
		return -1;
	int64_t mul = 1;
	if (*end == 'k' || *end == 'K')
		mul = 1024, end++;
	else if (*end == 'm' || *end == 'M')
		mul = 1024 * 1024, end++;
	else if (*end == 'g' || *end == 'G')
		mul = 1024LL * 1024 * 1024, end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end != '\0' || n > INT64_MAX / mul)
		return -1;
	*out = n * mul;
	return 0;
}

/* "21,25,8000-8100": each a port or a range, 1-65535. */
static int parse_portset(const char *v, struct portset *ps, char *err, size_t errlen)
{
	const char *s = v;
	if (*s == '\0') {
		snprintf(err, errlen, "empty port list");
		return -1;
	}
	while (*s) {
		char *end;
		while (*s == ' ')
			s++;
		if (!number_text(s, 0))
			goto bad;
		long a = strtol(s, &end, 10), b;
		if (end == s || a < 1 || a > 65535)
			goto bad;
		b = a;
		s = end;
		if (*s == '-') {
			const char *t = s + 1;
			if (!number_text(t, 0))
				goto bad;
			b = strtol(t, &end, 10);
			if (end == t || b < a || b > 65535)
				goto bad;
			s = end;
		}
		for (long port = a; port <= b; port++) {
			if (!(ps->bits[port >> 3] & (1 << (port & 7))))
				ps->count++;
			ps->bits[port >> 3] |= (uint8_t)(1 << (port & 7));
		}
		while (*s == ' ')
			s++;
		if (*s == ',') {
			if (*++s == '\0')
				goto bad; /* a list that ends with a comma */
		} else if (*s != '\0') {
			goto bad;
		}
	}
	return 0;
bad:
	snprintf(err, errlen,
	         "'%s' is not a list of ports and ranges (21,25,8000-8100) "
	         "within 1-65535",
	         v);
	return -1;
}

static int valid_zone(const char *z)
{
	size_t n = strlen(z), label = 0;
	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)z[i];
		if (ch == '.') {
			if (label == 0 && !(i == n - 1 && n == 1))
				return 0;
			label = 0;
			continue;
		}
		if (!isalnum(ch) && ch != '-' && ch != '_')
			return 0;
		if (++label > 63)
			return 0;
	}
	return 1;
}

static void add_upstream(struct parser *p, const struct addrport *ap, int from_system)
{
	struct config *c = p->c;
	c->upstream = xreallocarray(c->upstream, (size_t)c->nupstream + 1, sizeof(*ap));
	p->upstream_line = xreallocarray(p->upstream_line, (size_t)c->nupstream + 1,
	                                 sizeof(*p->upstream_line));
	p->upstream_line[c->nupstream] = from_system ? -p->line : p->line;
	c->upstream[c->nupstream++] = *ap;
}

/* "system": the nameservers of /etc/resolv.conf. */
static int upstream_system(struct parser *p)
{
	FILE *f = fopen("/etc/resolv.conf", "r");
	char line[512];
	int n = 0;
	if (f == NULL) {
		perr(p, p->line, "upstream 'system': cannot read /etc/resolv.conf: %s",
		     strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char word[64], addr[128];
		if (sscanf(line, "%63s %127s", word, addr) != 2 || strcmp(word, "nameserver"))
			continue;
		struct addrport ap;
		char err[256];
		if (addrport_parse(addr, 53, &ap, err, sizeof(err)) == 0) {
			add_upstream(p, &ap, 1);
			n++;
		}
	}
	fclose(f);
	if (n == 0)
		perr(p, p->line, "upstream 'system': no nameserver in /etc/resolv.conf");
	return n ? 0 : -1;
}

static void set_key(struct parser *p, const struct key *k, const char *v)
{
	struct config *c = p->c;
	char err[256];
	void *field = (char *)c + k->off;

	switch (k->type) {
	case K_BOOL:
		if (parse_bool(v, (int *)field) < 0)
			perr(p, p->line, "%s: '%s' is not a boolean (yes/no)", k->name, v);
		break;
	case K_INT: {
		char *end;
		errno = 0;
		long n = strtol(v, &end, 10);
		if (!number_text(v, 1) || *end != '\0' || errno || n < k->min || n > k->max)
			perr(p, p->line, "%s: '%s' is not a number from %ld to %ld", k->name, v,
			     k->min, k->max);
		else
			*(int *)field = (int)n;
		break;
	}
	case K_USER:
		if (p->check_files && *v) {
			const struct passwd *pw = getpwnam(v);
			if (pw == NULL) {
				perr(p, p->line, "%s: no user '%s' on this host", k->name, v);
				break;
			}
			if (pw->pw_uid == 0 || pw->pw_gid == 0) {
				/* the workers would keep root, or root's group */
				perr(p, p->line,
				     "%s: '%s' has %s 0: the workers must run as an "
				     "unprivileged "
				     "user",
				     k->name, v, pw->pw_uid == 0 ? "uid" : "group");
				break;
			}
		}
		/* FALLTHROUGH */
	case K_STR:
		if (*v == '\0') {
			perr(p, p->line, "%s: empty value", k->name);
			break;
		}
		free(*(char **)field);
		*(char **)field = xstrdup(v);
		break;
	case K_FILE_OR_NO: {
		/* Only its existence: a key readable by root alone is fine here. */
		struct stat st;
		if (p->check_files && *v && strcasecmp(v, "no")) {
			if (stat(v, &st) < 0) {
				perr(p, p->line, "%s '%s': %s", k->name, v, strerror(errno));
				break;
			}
			if (!S_ISREG(st.st_mode)) {
				perr(p, p->line, "%s '%s': not a regular file", k->name, v);
				break;
			}
		}
	}
		/* FALLTHROUGH */
	case K_PATH_OR_NO:
		free(*(char **)field);
		*(char **)field = (*v == '\0' || !strcasecmp(v, "no")) ? NULL : xstrdup(v);
		break;
	case K_LISTEN: {
		struct addrport ap;
		if (addrport_parse(v, -1, &ap, err, sizeof(err)) < 0) {
			perr(p, p->line, "listen: %s", err);
			break;
		}
		c->dns_listen =
		    xreallocarray(c->dns_listen, (size_t)c->dns_nlisten + 1, sizeof(ap));
		c->dns_listen[c->dns_nlisten++] = ap;
		break;
	}
	case K_UPSTREAM: {
		struct addrport ap;
		if (!strcasecmp(v, "system")) {
			upstream_system(p);
			break;
		}
		if (addrport_parse(v, 53, &ap, err, sizeof(err)) < 0) {
			perr(p, p->line, "upstream: %s", err);
			break;
		}
		add_upstream(p, &ap, 0);
		break;
	}
	case K_BLOCKLIST:
	case K_ALLOWLIST:
	case K_CLIENT_BLOCKLIST:
	case K_CLIENT_ALLOWLIST: {
		if (*v == '\0') {
			perr(p, p->line, "%s: empty path", k->name);
			break;
		}
		if (p->check_files) {
			int fd = open(v, O_RDONLY | O_CLOEXEC);
			struct stat st;
			if (fd < 0) {
				perr(p, p->line, "%s '%s': %s", k->name, v, strerror(errno));
				break;
			}
			if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
				perr(p, p->line, "%s '%s': not a regular file", k->name, v);
				close(fd);
				break;
			}
			close(fd);
		}
		c->lists = xreallocarray(c->lists, (size_t)c->nlists + 1, sizeof(*c->lists));
		c->lists[c->nlists].path = xstrdup(v);
		c->lists[c->nlists].line = p->line;
		c->lists[c->nlists].allow =
		    k->type == K_ALLOWLIST || k->type == K_CLIENT_ALLOWLIST;
		c->lists[c->nlists].clients =
		    k->type == K_CLIENT_BLOCKLIST || k->type == K_CLIENT_ALLOWLIST;
		c->nlists++;
		break;
	}
	case K_PREFIX4:
	case K_PREFIX6: {
		struct prefix pf;
		int want = k->type == K_PREFIX4 ? AF_INET : AF_INET6;
		if (prefix_parse(v, &pf, err, sizeof(err)) < 0) {
			perr(p, p->line, "%s: %s", k->name, err);
			break;
		}
		if (pf.family != want) {
			perr(p, p->line, "%s: '%s' is not an %s address or prefix", k->name, v,
			     want == AF_INET ? "IPv4" : "IPv6");
			break;
		}
		if (want == AF_INET) {
			c->sinkhole4 = pf;
			c->have_sinkhole4 = 1;
		} else {
			c->sinkhole6 = pf;
			c->have_sinkhole6 = 1;
		}
		break;
	}
	case K_MODE:
		if (!strcasecmp(v, "blocklist"))
			c->mode = DNS_MODE_BLOCKLIST;
		else if (!strcasecmp(v, "allowlist") || !strcasecmp(v, "strict"))
			c->mode = DNS_MODE_ALLOWLIST;
		else
			perr(p, p->line, "mode: '%s' is not blocklist or allowlist", v);
		break;
	case K_ZONE: {
		char z[256], ascii[300];
		size_t n = strlen(v);
		if (idn_is_unicode(v, n)) {
			/* written in Unicode: its xn-- form, as lists take it (dns/idn.h) */
			if (idn_to_ascii(v, n, ascii, sizeof(ascii), err, sizeof(err)) < 0) {
				perr(p, p->line, "internal_zone: '%s': %s", v, err);
				break;
			}
			v = ascii;
			n = strlen(v);
		}
		if (n >= sizeof(z) || !valid_zone(v)) {
			perr(p, p->line, "internal_zone: '%s' is not a valid domain name", v);
			break;
		}
		for (size_t i = 0; i <= n; i++)
			z[i] = (char)tolower((unsigned char)v[i]);
		if (n > 1 && z[n - 1] == '.')
			z[n - 1] = '\0';
		c->internal_zones.v = xreallocarray(
		    c->internal_zones.v, (size_t)c->internal_zones.n + 1, sizeof(char *));
		c->internal_zones.v[c->internal_zones.n++] = xstrdup(z);
		break;
	}
	case K_LOGLEVEL:
		if (!strcasecmp(v, "warning") || !strcasecmp(v, "warn"))
			c->log_level = LOG_LVL_WARN;
		else if (!strcasecmp(v, "info"))
			c->log_level = LOG_LVL_INFO;
		else if (!strcasecmp(v, "debug"))
			c->log_level = LOG_LVL_DEBUG;
		else
			perr(p, p->line, "log_level: '%s' is not warning, info or debug", v);
		break;
	case K_DURATION_MS: {
		long ms;
		if (parse_duration_ms(v, 1000000000000L, &ms) < 0 || ms < k->min || ms > k->max)
			perr(p, p->line, "%s: '%s' is not a duration from %ldms to %lds",
			     k->name, v, k->min, k->max / 1000);
		else
			*(int *)field = (int)ms;
		break;
	}
	case K_SIZE64: {
		int64_t n;
		if (parse_size(v, &n) < 0 || n < k->min || n > k->max)
			perr(p, p->line, "%s: '%s' is not a size from %ld to %ld bytes",
			     k->name, v, k->min, k->max);
		else
			*(int64_t *)field = n;
		break;
	}
	case K_PORT: {
		char *end;
		errno = 0;
		long n = strtol(v, &end, 10);
		if (!number_text(v, 0) || *end != '\0' || errno || n < k->min || n > k->max)
			perr(p, p->line, "%s: '%s' is not a port from %ld to %ld", k->name, v,
			     k->min, k->max);
		else
			*(int *)field = (int)n;
		break;
	}
	case K_PORTSET: {
		struct portset *ps = field;
		memset(ps, 0, sizeof(*ps));
		if (parse_portset(v, ps, err, sizeof(err)) < 0)
			perr(p, p->line, "%s: %s", k->name, err);
		break;
	}
	case K_ADDR: {
		struct addrport ap;
		if (addrport_parse(v, 1, &ap, err, sizeof(err)) < 0 || strchr(v, ']') ||
		    (strchr(v, ':') == strrchr(v, ':') && strchr(v, ':'))) {
			perr(p, p->line,
			     "listen: '%s' is not an address (no port here: the ports "
			     "are set by 'ports')",
			     v);
			break;
		}
		c->trap_listen =
		    xreallocarray(c->trap_listen, (size_t)c->trap_nlisten + 1, sizeof(ap));
		c->trap_listen[c->trap_nlisten++] = ap;
		break;
	}
	case K_BANNER: {
		/* PORT:PROTO, the port in digits alone (no sign, no space) and in range */
		char proto[32], *end = NULL;
		long port = -1;
		size_t plen = 0;
		if (v[0] >= '0' && v[0] <= '9') {
			errno = 0;
			port = strtol(v, &end, 10);
			if (errno == ERANGE)
				port = 65536; /* past the range: said so below */
		}
		if (port >= 0 && *end == ':') {
			plen = strspn(end + 1, "abcdefghijklmnopqrstuvwxyz0123456789");
			if (plen == 0 || plen >= sizeof(proto) || end[1 + plen] != '\0')
				port = -1;
		} else {
			port = -1;
		}
		if (port < 0) {
			perr(p, p->line, "banner: '%s' is not PORT:PROTO (e.g. 2525:smtp)", v);
			break;
		}
		if (port < 1 || port > 65535) {
			perr(p, p->line, "banner: '%s': bad port (1-65535)", v);
			break;
		}
		memcpy(proto, end + 1, plen);
		proto[plen] = '\0';
		enum trap_proto tp;
		if (trap_proto_parse(proto, &tp) < 0) {
			perr(p, p->line, "banner: '%s': unknown protocol '%s'", v, proto);
			break;
		}
		/* kept as the trap reads it back: the port without leading zeros */
		char norm[48];
		snprintf(norm, sizeof(norm), "%ld:%s", port, proto);
		c->banners.v =
		    xreallocarray(c->banners.v, (size_t)c->banners.n + 1, sizeof(char *));
		c->banners.v[c->banners.n++] = xstrdup(norm);
		break;
	}
	case K_ADDRPORT: {
		struct addrport ap;
		if (addrport_parse(v, (int)k->min, &ap, err, sizeof(err)) < 0) {
			perr(p, p->line, "%s: %s", k->name, err);
			break;
		}
		char **dst = (char **)((char *)c + k->off);
		free(*dst);
		*dst = xstrdup(v);
		break;
	}
	case K_EVENTS:
		if (sinkspec_config_set(c, k->name, v, p->line, p->check_files, err,
		                        sizeof(err)) < 0)
			perr(p, p->line, "%s", err);
		break;
	case K_IFACE: {
		/* IFNAMSIZ is 16: at most 15 characters, none of them '/' or white space. */
		size_t n = strlen(v);
		int ok = n > 0 && n < 16 && strcmp(v, ".") && strcmp(v, "..");
		for (size_t i = 0; ok && i < n; i++)
			ok = v[i] != '/' && v[i] != ':' && !isspace((unsigned char)v[i]);
		if (!ok) {
			perr(p, p->line, "interface: '%s' is not an interface name", v);
			break;
		}
		struct cfg_strv *sv = &c->capture_interfaces;
		for (int i = 0; i < sv->n; i++)
			if (!strcmp(sv->v[i], v)) {
				perr(p, p->line, "interface: '%s' given twice", v);
				return;
			}
		sv->v = xreallocarray(sv->v, (size_t)sv->n + 1, sizeof(char *));
		sv->v[sv->n++] = xstrdup(v);
		break;
	}
	case K_CAPFMT:
		if (!strcasecmp(v, "pcap"))
			*(int *)field = 0;
		else if (!strcasecmp(v, "pcapng"))
			*(int *)field = 1;
		else
			perr(p, p->line, "format: '%s' is not pcap or pcapng", v);
		break;
	case K_PERCENT: {
		char *end;
		errno = 0;
		long n = strtol(v, &end, 10);
		if (*end == '%')
			end++;
		if (!number_text(v, 0) || *end != '\0' || errno || n < k->min || n > k->max)
			perr(p, p->line, "%s: '%s' is not a percentage from %ld to %ld",
			     k->name, v, k->min, k->max);
		else
			*(int *)field = (int)n;
		break;
	}
	case K_SIZE: {
		int64_t n;
		if (parse_size(v, &n) < 0 || n < k->min || n > k->max)
			perr(p, p->line, "%s: '%s' is not a size from %ld to %ld bytes",
			     k->name, v, k->min, k->max);
		else
			*(int *)field = (int)n;
		break;
	}
	}
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Cut an inline comment: '#' or ';' preceded by white space. */
static void cut_comment(char *s)
{
	for (char *q = s; *q; q++) {
		if ((*q == '#' || *q == ';') && q > s && isspace((unsigned char)q[-1])) {
			*q = '\0';
			return;
		}
	}
}

/* Whether sa's address is one of this host's interface addresses. */
static int addr_is_own(const struct sockaddr *sa)
{
	struct ifaddrs *ifs, *i;
	int own = 0;
	if (getifaddrs(&ifs) < 0)
		return 0;
	for (i = ifs; i && !own; i = i->ifa_next)
		own = i->ifa_addr != NULL && addr_equal(i->ifa_addr, sa);
	freeifaddrs(ifs);
	return own;
}

/*
 * An upstream that is one of sinktrap's own listeners sends every unlisted
 * query back to sinktrap, round and round until it times out: a sinkhole
 * host whose /etc/resolv.conf names itself, with `upstream = system`.
 */
static void check_upstream_loop(struct parser *p)
{
	struct config *c = p->c;
	for (int u = 0; u < c->nupstream; u++) {
		const struct sockaddr *up = (const struct sockaddr *)&c->upstream[u].ss;
		for (int l = 0; l < c->dns_nlisten; l++) {
			const struct sockaddr *ls =
			    (const struct sockaddr *)&c->dns_listen[l].ss;
			if (up->sa_family != ls->sa_family || addr_port(up) != addr_port(ls))
				continue;
			if (!addr_equal(up, ls) && !(addr_is_wildcard(ls) && addr_is_own(up)))
				continue;
			char a[80], b[80];
			int line = p->upstream_line[u];
			perr(p, line < 0 ? -line : line,
			     "upstream %s%s is sinktrap's own listener %s: "
			     "unlisted names would be forwarded back to it; "
			     "name the real resolvers",
			     addrport_fmt(up, a, sizeof(a)),
			     line < 0 ? " (from /etc/resolv.conf)" : "",
			     addrport_fmt(ls, b, sizeof(b)));
			break;
		}
	}
}

static void validate(struct parser *p)
{
	struct config *c = p->c;
	int line = p->dns_section_line;

	if (c->dns_enabled) {
		if (c->dns_nlisten == 0)
			perr(p, line, "[dns]: no 'listen' address");
		if (c->mode == DNS_MODE_BLOCKLIST && c->nupstream == 0)
			perr(p, line,
			     "[dns]: mode blocklist forwards unlisted names: set 'upstream'");
		if (c->mode == DNS_MODE_ALLOWLIST && c->nupstream == 0 &&
		    (c->internal_zones.n > 0 || c->nlists > 0))
			perr(p, line,
			     "[dns]: internal zones and allowlists need an 'upstream'");
		if (!c->have_sinkhole4 && !c->have_sinkhole6)
			perr(p, line, "[dns]: set sinkhole_ipv4 and/or sinkhole_ipv6");
		check_upstream_loop(p);
	}
	if (c->trap_enabled) {
		if (c->trap_nlisten == 0 && (c->trap_ports.count || c->trap_udp_ports.count))
			perr(p, p->trap_section_line,
			     "[trap]: 'ports' need a 'listen' address");
		if (c->trap_ports.count == 0 && c->trap_udp_ports.count == 0 &&
		    !c->redirect_port && !c->tproxy_port)
			perr(p, p->trap_section_line,
			     "[trap]: nothing to listen on: set ports, udp_ports, "
			     "redirect_port or "
			     "tproxy_port");
	}
	if (c->state_dir && c->state_dir[0] == '\0')
		perr(p, 0, "[sinktrap] state_dir is empty");
	if (c->capture_enabled && c->capture_interfaces.n == 0)
		perr(p, p->capture_section_line, "[capture]: no 'interface' to capture on");
	if (c->capture_max_disk && c->capture_max_disk < 2 * c->capture_file_size)
		perr(p, p->capture_section_line,
		     "[capture]: max_disk (%lld bytes) must hold at least two files of "
		     "file_size "
		     "(%lld bytes)",
		     (long long)c->capture_max_disk, (long long)c->capture_file_size);
	if (c->capture_filter) {
		char err[256];
		if (capture_filter_check(c->capture_filter, err, sizeof(err)) < 0)
			perr(p, p->capture_section_line, "[capture] filter '%s': %s",
			     c->capture_filter, err);
	}
}

struct config *config_parse(const char *name, const char *text, size_t len, int check_files,
                            struct cfg_errors *errs)
{
	struct parser p;
	char section[32] = "";
	int section_ok = 0;

	memset(&p, 0, sizeof(p));
	memset(errs, 0, sizeof(*errs));
	p.c = xcalloc(1, sizeof(struct config));
	p.c->file = xstrdup(name);
	p.name = name;
	p.errs = errs;
	p.check_files = check_files;
	config_defaults(p.c);

	const char *q = text, *end = text + len;
	while (q < end) {
		const char *nl = memchr(q, '\n', (size_t)(end - q));
		size_t ll = nl ? (size_t)(nl - q) : (size_t)(end - q);
		p.line++;
		char buf[4096];
		if (ll >= sizeof(buf)) {
			perr(&p, p.line, "line too long (%zu bytes)", ll);
			q = nl ? nl + 1 : end;
			continue;
		}
		memcpy(buf, q, ll);
		buf[ll] = '\0';
		q = nl ? nl + 1 : end;
		if (memchr(buf, '\0', ll)) {
			perr(&p, p.line, "NUL byte in line");
			continue;
		}
		char *s = trim(buf);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			cut_comment(s);
			s = trim(s);
			size_t sl = strlen(s);
			if (s[sl - 1] != ']' || sl < 3 || sl - 2 >= sizeof(section)) {
				perr(&p, p.line, "bad section header '%s'", s);
				section_ok = 0;
				continue;
			}
			memcpy(section, s + 1, sl - 2);
			section[sl - 2] = '\0';
			char *t = trim(section);
			memmove(section, t, strlen(t) + 1);
			section_ok = 0;
			for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
				if (!strcmp(section, sections[i]))
					section_ok = 1;
			if (!section_ok)
				perr(&p, p.line, "unknown section [%s]", section);
			if (!strcmp(section, "dns"))
				p.dns_section_line = p.line;
			if (!strcmp(section, "trap"))
				p.trap_section_line = p.line;
			if (!strcmp(section, "capture"))
				p.capture_section_line = p.line;
			continue;
		}
		char *eq = strchr(s, '=');
		if (eq == NULL) {
			perr(&p, p.line, "expected 'key = value', got '%s'", s);
			continue;
		}
		*eq = '\0';
		char *key = trim(s);
		char *val = eq + 1;
		cut_comment(val);
		val = trim(val);
		if (section[0] == '\0') {
			perr(&p, p.line, "'%s' outside of any [section]", key);
			continue;
		}
		if (!section_ok)
			continue; /* already reported the section */
		const struct key *k = NULL;
		size_t ki;
		for (ki = 0; ki < sizeof(keys) / sizeof(keys[0]); ki++) {
			if (!strcmp(keys[ki].section, section) && !strcmp(keys[ki].name, key)) {
				k = &keys[ki];
				break;
			}
		}
		if (k == NULL) {
			perr(&p, p.line, "unknown key '%s' in [%s]", key, section);
			continue;
		}
		if (!k->repeat && p.seen[ki]) {
			perr(&p, p.line, "'%s' given twice in [%s]", key, section);
			continue;
		}
		p.seen[ki] = 1;
		set_key(&p, k, val);
	}
	validate(&p);
	free(p.upstream_line);
	if (errs->n > 0) {
		config_free(p.c);
		return NULL;
	}
	return p.c;
}

struct config *config_load(const char *path, struct cfg_errors *errs)
{
	if (path == NULL)
		return config_parse("<embedded>", sinktrap_default_conf,
		                    strlen(sinktrap_default_conf), 1, errs);
	size_t len;
	char *text = read_file(path, 1 << 20, &len);
	if (text == NULL) {
		memset(errs, 0, sizeof(*errs));
		char msg[600];
		snprintf(msg, sizeof(msg), "%s: cannot read: %s", path, strerror(errno));
		errs->msg = xcalloc(1, sizeof(char *));
		errs->msg[0] = xstrdup(msg);
		errs->n = 1;
		return NULL;
	}
	struct config *c = config_parse(path, text, len, 1, errs);
	free(text);
	return c;
}

void config_free(struct config *c)
{
	if (c == NULL)
		return;
	free(c->file);
	free(c->state_dir);
	free(c->user);
	free(c->sensor);
	free(c->dns_listen);
	free(c->upstream);
	for (int i = 0; i < c->nlists; i++)
		free(c->lists[i].path);
	free(c->lists);
	for (int i = 0; i < c->internal_zones.n; i++)
		free(c->internal_zones.v[i]);
	free(c->internal_zones.v);
	free(c->json);
	sinkspec_config_free(c);
	free(c->trap_listen);
	for (int i = 0; i < c->banners.n; i++)
		free(c->banners.v[i]);
	free(c->banners.v);
	free(c->trap_hostname);
	free(c->http_page);
	free(c->http_content_type);
	free(c->ftp_file);
	free(c->ca_dir);
	for (int i = 0; i < c->capture_interfaces.n; i++)
		free(c->capture_interfaces.v[i]);
	free(c->capture_interfaces.v);
	free(c->capture_filter);
	free(c->capture_spool);
	free(c->web_listen);
	free(c->web_users);
	free(c->web_tokens);
	free(c->web_tls_cert);
	free(c->web_tls_key);
	free(c);
}

void cfg_errors_print(const struct cfg_errors *errs, FILE *out)
{
	for (int i = 0; i < errs->n; i++)
		fprintf(out, "%s\n", errs->msg[i]);
}

void cfg_errors_free(struct cfg_errors *errs)
{
	for (int i = 0; i < errs->n; i++)
		free(errs->msg[i]);
	free(errs->msg);
	memset(errs, 0, sizeof(*errs));
}

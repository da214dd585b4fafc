#include "sinkspec.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../common/event.h"
#include "../common/util.h"
#include "render.h"

#define DEFAULT_QUEUE_MAX (256LL << 20)
#define DEFAULT_RESEND_MS 1000

/* Event types a filter may name; a later worker's new type is added here. */
static const char *const known_types[] = {"dns",          "sinkhole_map", "trap",  "fileinfo",
                                          "flow",         "pcap_expired", "alert", "stats",
                                          "dns:sinkhole", "dns:forward"};

static const struct {
	const char *name;
	int code;
} facilities[] = {
    {"kern", 0},      {"user", 1},    {"mail", 2},    {"daemon", 3},    {"auth", 4},
    {"syslog", 5},    {"lpr", 6},     {"news", 7},    {"uucp", 8},      {"cron", 9},
    {"authpriv", 10}, {"ftp", 11},    {"ntp", 12},    {"security", 13}, {"audit", 13},
    {"console", 14},  {"local0", 16}, {"local1", 17}, {"local2", 18},   {"local3", 19},
    {"local4", 20},   {"local5", 21}, {"local6", 22}, {"local7", 23},
};

static const char *const format_names[] = {"rfc5424", "rfc3164", "cef"};

int sinkspec_facility(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(facilities); i++)
		if (!strcasecmp(name, facilities[i].name))
			return facilities[i].code;
	return -1;
}

int sinkspec_format(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(format_names); i++)
		if (!strcasecmp(name, format_names[i]))
			return (int)i;
	return -1;
}

const char *sinkspec_format_name(int format)
{
	return format >= 0 && (size_t)format < ARRAY_SIZE(format_names) ? format_names[format]
	                                                                : "?";
}

const char *sinkspec_transport_name(enum syslog_transport t)
{
	switch (t) {
	case SYSLOG_LOCAL:
		return "local";
	case SYSLOG_UNIX:
		return "unix";
	case SYSLOG_UDP:
		return "udp";
	case SYSLOG_TCP:
		return "tcp";
	case SYSLOG_TLS:
		return "tls";
	}
	return "?";
}

int sinkspec_size(const char *v, int64_t *out)
{
	char *end;
	errno = 0;
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

static void strv_free(struct cfg_strv *s)
{
	for (int i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

int sinkspec_types_parse(const char *value, struct cfg_strv *out, char *err, size_t errlen)
{
	struct cfg_strv t = {NULL, 0};
	const char *p = value;
	int all = 0;

	if (*value == '\0') {
		snprintf(err, errlen, "empty list of event types");
		return -1;
	}
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		char name[64];
		while (n > 0 && isspace((unsigned char)*p))
			p++, n--;
		while (n > 0 && isspace((unsigned char)p[n - 1]))
			n--;
		if (n == 0 || n >= sizeof(name)) {
			snprintf(err, errlen, "'%s': empty or overlong event type", value);
			strv_free(&t);
			return -1;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		for (char *q = name; *q; q++)
			*q = (char)tolower((unsigned char)*q);
		if (!strcmp(name, "all") || !strcmp(name, "*")) {
			all = 1;
		} else {
			size_t i;
			for (i = 0; i < ARRAY_SIZE(known_types); i++)
				if (!strcmp(name, known_types[i]))
					break;
			if (i == ARRAY_SIZE(known_types)) {
				snprintf(err, errlen,
				         "unknown event type '%s' (known: dns, dns:sinkhole, "
				         "dns:forward, "
				         "sinkhole_map, trap, fileinfo, flow, pcap_expired, "
				         "alert, stats, all)",
				         name);
				strv_free(&t);
				return -1;
			}
			t.v = xreallocarray(t.v, (size_t)t.n + 1, sizeof(char *));
			t.v[t.n++] = xstrdup(name);
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	if (all)
		strv_free(&t);
	strv_free(out);
	*out = t;
	return 0;
}

int sinkspec_types_need_action(const struct cfg_strv *types)
{
	for (int i = 0; i < types->n; i++)
		if (!strncmp(types->v[i], "dns:", 4))
			return 1;
	return 0;
}

int sinkspec_types_match(const struct cfg_strv *types, const uint8_t *type, size_t typelen,
                         const uint8_t *action, size_t actionlen)
{
	if (types->n == 0)
		return 1;
	for (int i = 0; i < types->n; i++) {
		const char *t = types->v[i];
		const char *colon = strchr(t, ':');
		size_t tl = colon ? (size_t)(colon - t) : strlen(t);
		if (tl != typelen || memcmp(t, type, tl) != 0)
			continue;
		if (colon == NULL)
			return 1;
		size_t al = strlen(colon + 1);
		if (action && al == actionlen && !memcmp(colon + 1, action, al))
			return 1;
	}
	return 0;
}

static int valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64 || s[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return 0;
	return 1;
}

/* Printable ASCII without space, as RFC 5424 wants of HOSTNAME and APP-NAME. */
static int valid_token(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 32 || (unsigned char)s[i] >= 127)
			return 0;
	return 1;
}

/* "HOST:PORT", "[V6]:PORT", "HOST" (default port). */
static int parse_hostport(const char *hp, int defport, struct cfg_syslog *o, char *err,
                          size_t errlen)
{
	char host[256];
	const char *portstr = NULL;
	size_t hl;
	if (hp[0] == '[') {
		const char *rb = strchr(hp, ']');
		if (rb == NULL) {
			snprintf(err, errlen, "'%s': missing ']'", hp);
			return -1;
		}
		hl = (size_t)(rb - hp - 1);
		if (hl == 0 || hl >= sizeof(host)) {
			snprintf(err, errlen, "'%s': bad address", hp);
			return -1;
		}
		memcpy(host, hp + 1, hl);
		if (rb[1] == ':')
			portstr = rb + 2;
		else if (rb[1] != '\0') {
			snprintf(err, errlen, "'%s': junk after ']'", hp);
			return -1;
		}
	} else {
		const char *colon = strrchr(hp, ':');
		if (colon && strchr(hp, ':') != colon) {
			snprintf(err, errlen, "'%s': write an IPv6 address as [ADDR]:PORT", hp);
			return -1;
		}
		hl = colon ? (size_t)(colon - hp) : strlen(hp);
		if (hl == 0 || hl >= sizeof(host)) {
			snprintf(err, errlen, "'%s': missing host", hp);
			return -1;
		}
		memcpy(host, hp, hl);
		if (colon)
			portstr = colon + 1;
	}
	host[hl] = '\0';
	for (size_t i = 0; i < hl; i++) {
		unsigned char ch = (unsigned char)host[i];
		if (!isalnum(ch) && ch != '.' && ch != '-' && ch != ':' && ch != '_' &&
		    ch != '%') {
			snprintf(err, errlen, "'%s': bad host name", host);
			return -1;
		}
	}
	int port = defport;
	if (portstr) {
		char *end;
		long n = strtol(portstr, &end, 10);
		if (*portstr == '\0' || *end != '\0' || n < 1 || n > 65535) {
			snprintf(err, errlen, "'%s': port is not a number from 1 to 65535", hp);
			return -1;
		}
		port = (int)n;
	}
	o->host = xstrdup(host);
	o->port = port;
	return 0;
}

static void derive_name(struct cfg_syslog *o)
{
	char buf[128];
	if (o->transport == SYSLOG_LOCAL)
		snprintf(buf, sizeof(buf), "syslog-local");
	else if (o->transport == SYSLOG_UNIX)
		snprintf(buf, sizeof(buf), "syslog-unix-%s", o->host);
	else
		snprintf(buf, sizeof(buf), "syslog-%s-%s-%d",
		         sinkspec_transport_name(o->transport), o->host, o->port);
	buf[64] = '\0';
	for (char *q = buf; *q; q++)
		if (!isalnum((unsigned char)*q) && *q != '.' && *q != '-')
			*q = '_';
	o->name = xstrdup(buf);
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void sinkspec_types_copy(struct cfg_strv *out, const struct cfg_strv *in)
{
	out->n = in->n;
	out->v = in->n ? xreallocarray(NULL, (size_t)in->n, sizeof(*out->v)) : NULL;
	for (int i = 0; i < in->n; i++)
		out->v[i] = xstrdup(in->v[i]);
}

void sinkspec_types_free(struct cfg_strv *v)
{
	strv_free(v);
}

void sinkspec_syslog_copy(struct cfg_syslog *out, const struct cfg_syslog *in)
{
	*out = *in;
	out->name = dup_or_null(in->name);
	out->dest = dup_or_null(in->dest);
	out->host = dup_or_null(in->host);
	out->ca = dup_or_null(in->ca);
	out->cert = dup_or_null(in->cert);
	out->key = dup_or_null(in->key);
	out->servername = dup_or_null(in->servername);
	sinkspec_types_copy(&out->types, &in->types);
}

void sinkspec_syslog_free(struct cfg_syslog *s)
{
	free(s->name);
	free(s->dest);
	free(s->host);
	free(s->ca);
	free(s->cert);
	free(s->key);
	free(s->servername);
	strv_free(&s->types);
	memset(s, 0, sizeof(*s));
}

static int set_option(struct cfg_syslog *o, const char *k, const char *v, char *err,
                      size_t errlen)
{
	char **str = NULL;
	if (*v == '\0') {
		snprintf(err, errlen, "option '%s': empty value", k);
		return -1;
	}
	if (!strcmp(k, "format")) {
		if ((o->format = sinkspec_format(v)) < 0) {
			snprintf(err, errlen, "format '%s' is not rfc5424, rfc3164 or cef", v);
			return -1;
		}
		return 0;
	}
	if (!strcmp(k, "facility")) {
		if ((o->facility = sinkspec_facility(v)) < 0) {
			snprintf(err, errlen,
			         "facility '%s' is not a syslog facility (local0..local7, "
			         "daemon, user, ...)",
			         v);
			return -1;
		}
		return 0;
	}
	if (!strcmp(k, "types"))
		return sinkspec_types_parse(v, &o->types, err, errlen);
	if (!strcmp(k, "name")) {
		if (!valid_name(v) || !strcmp(v, "postgresql")) {
			snprintf(err, errlen,
			         "name '%s': use 1-64 of A-Z a-z 0-9 . _ - (not 'postgresql')",
			         v);
			return -1;
		}
		free(o->name);
		o->name = xstrdup(v);
		return 0;
	}
	if (!strcmp(k, "queue_max")) {
		if (sinkspec_size(v, &o->queue_max) < 0 || o->queue_max < (64 << 10)) {
			snprintf(err, errlen, "queue_max '%s' is not a size of at least 64k",
			         v);
			return -1;
		}
		return 0;
	}
	if (!strcmp(k, "resend")) {
		long ms;
		if (parse_duration_ms(v, 600000, &ms) < 0) {
			snprintf(err, errlen, "resend '%s' is not a duration up to 10m", v);
			return -1;
		}
		o->resend_ms = (int)ms;
		return 0;
	}
	if (!strcmp(k, "verify")) {
		if (parse_bool(v, &o->verify) < 0) {
			snprintf(err, errlen, "verify '%s' is not yes or no", v);
			return -1;
		}
		return 0;
	}
	if (!strcmp(k, "ca"))
		str = &o->ca;
	else if (!strcmp(k, "cert"))
		str = &o->cert;
	else if (!strcmp(k, "key"))
		str = &o->key;
	else if (!strcmp(k, "servername"))
		str = &o->servername;
	if (str == NULL) {
		snprintf(
		    err, errlen,
		    "unknown option '%s' (format, types, facility, name, queue_max, resend, "
		    "ca, cert, key, servername, verify)",
		    k);
		return -1;
	}
	free(*str);
	*str = xstrdup(v);
	return 0;
}

int sinkspec_syslog_parse(const char *value, struct cfg_syslog *o, char *err, size_t errlen)
{
	char *copy = xstrdup(value), *save = NULL;
	char *dest = strtok_r(copy, " \t", &save);
	int rc = -1;

	memset(o, 0, sizeof(*o));
	o->format = -1;
	o->facility = -1;
	o->verify = 1;
	o->resend_ms = DEFAULT_RESEND_MS;
	if (dest == NULL) {
		snprintf(err, errlen, "syslog: empty destination");
		goto out;
	}
	o->dest = xstrdup(dest);
	if (!strcasecmp(dest, "local")) {
		o->transport = SYSLOG_LOCAL;
		o->host = xstrdup("/dev/log");
	} else if (!strncasecmp(dest, "unix://", 7) || !strncasecmp(dest, "unix:", 5)) {
		const char *path = dest + (strncasecmp(dest, "unix://", 7) ? 5 : 7);
		if (path[0] != '/' || strlen(path) > 100) {
			snprintf(err, errlen,
			         "syslog '%s': unix:// needs an absolute socket path", dest);
			goto out;
		}
		o->transport = SYSLOG_UNIX;
		o->host = xstrdup(path);
	} else {
		static const struct {
			const char *scheme;
			enum syslog_transport t;
			int port;
		} schemes[] = {{"udp://", SYSLOG_UDP, 514},
		               {"tcp://", SYSLOG_TCP, 514},
		               {"tls://", SYSLOG_TLS, 6514}};
		size_t i;
		for (i = 0; i < ARRAY_SIZE(schemes); i++)
			if (!strncasecmp(dest, schemes[i].scheme, strlen(schemes[i].scheme)))
				break;
		if (i == ARRAY_SIZE(schemes)) {
			snprintf(err, errlen,
			         "syslog '%s': destination is not local, unix://PATH, "
			         "udp://HOST:PORT, "
			         "tcp://HOST:PORT or tls://HOST:PORT",
			         dest);
			goto out;
		}
		o->transport = schemes[i].t;
		char why[400];
		if (parse_hostport(dest + strlen(schemes[i].scheme), schemes[i].port, o, why,
		                   sizeof(why)) < 0) {
			snprintf(err, errlen, "syslog '%s': %s", dest, why);
			goto out;
		}
	}
	derive_name(o);
	char *tok;
	while ((tok = strtok_r(NULL, " \t", &save)) != NULL) {
		char *eq = strchr(tok, '=');
		if (eq == NULL) {
			snprintf(err, errlen, "syslog: expected option=value, got '%s'", tok);
			goto out;
		}
		*eq = '\0';
		if (set_option(o, tok, eq + 1, err, errlen) < 0)
			goto out;
	}
	if (o->transport != SYSLOG_TLS && (o->ca || o->cert || o->key || o->servername)) {
		snprintf(err, errlen,
		         "syslog '%s': ca, cert, key and servername are for tls:// only", dest);
		goto out;
	}
	if ((o->cert == NULL) != (o->key == NULL)) {
		snprintf(err, errlen,
		         "syslog '%s': a client certificate needs both cert= and key=", dest);
		goto out;
	}
	rc = 0;
out:
	free(copy);
	if (rc < 0)
		sinkspec_syslog_free(o);
	return rc;
}

static int parse_database(const char *v, char *err, size_t errlen)
{
	if (!strncmp(v, "postgresql://", 13) || !strncmp(v, "postgres://", 11) ||
	    strchr(v, '=')) {
		char why[300];
		if (pq_ready(why, sizeof(why)) < 0) {
			snprintf(err, errlen, "database: %s", why);
			return -1;
		}
		char *msg = NULL;
		PQconninfoOption *opts = PQconninfoParse(v, &msg);
		if (opts == NULL) {
			snprintf(err, errlen, "database: %s",
			         msg ? msg : "cannot parse the connection string");
			for (char *q = err; *q; q++)
				if (*q == '\n')
					*q = ' ';
			PQfreemem(msg);
			return -1;
		}
		PQconninfoFree(opts);
		return 0;
	}
	snprintf(
	    err, errlen,
	    "database '%s': expected postgresql://USER@HOST:PORT/DB or 'host=... dbname=...' "
	    "(SQLite is set with 'sqlite = yes')",
	    v);
	return -1;
}

static const char *const handled[] = {
    "syslog",          "syslog_format",  "syslog_facility",  "syslog_app_name",
    "syslog_hostname", "json_types",     "json_max_size",    "json_keep",
    "database",        "database_types", "database_timeout", "queue_max",
};

int sinkspec_handles(const char *key)
{
	for (size_t i = 0; i < ARRAY_SIZE(handled); i++)
		if (!strcmp(key, handled[i]))
			return 1;
	return 0;
}

void sinkspec_config_defaults(struct config *c)
{
	c->json_max_size = 0;
	c->json_keep = 5;
	c->queue_max = DEFAULT_QUEUE_MAX;
	c->database_timeout_ms = 60000;
	c->syslog_format = SYSLOG_RFC5424;
	c->syslog_facility = 16; /* local0 */
}

/* The TLS files must exist and be readable (by whoever checks: run and check-config are root).
 */
static int check_tls_files(const struct cfg_syslog *s, char *err, size_t errlen)
{
	const char *files[] = {s->ca, s->cert, s->key};
	const char *what[] = {"ca", "cert", "key"};
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		if (files[i] == NULL)
			continue;
		int fd = open(files[i], O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			snprintf(err, errlen, "syslog '%s': %s '%s': %s", s->dest, what[i],
			         files[i], strerror(errno));
			return -1;
		}
		close(fd);
	}
	return 0;
}

int sinkspec_config_set(struct config *c, const char *key, const char *v, int line,
                        int check_files, char *err, size_t errlen)
{
	if (!strcmp(key, "syslog")) {
		struct cfg_syslog s;
		if (sinkspec_syslog_parse(v, &s, err, errlen) < 0)
			return -1;
		if (check_files && check_tls_files(&s, err, errlen) < 0) {
			sinkspec_syslog_free(&s);
			return -1;
		}
		for (int i = 0; i < c->nsyslog; i++) {
			if (!strcmp(c->syslog[i].name, s.name)) {
				snprintf(err, errlen,
				         "syslog '%s': its queue name '%s' is taken by line %d "
				         "(set name=)",
				         s.dest, s.name, c->syslog[i].line);
				sinkspec_syslog_free(&s);
				return -1;
			}
		}
		s.line = line;
		c->syslog = xreallocarray(c->syslog, (size_t)c->nsyslog + 1, sizeof(s));
		c->syslog[c->nsyslog++] = s;
		return 0;
	}
	if (!strcmp(key, "syslog_format")) {
		int f = sinkspec_format(v);
		if (f < 0) {
			snprintf(err, errlen,
			         "syslog_format: '%s' is not rfc5424, rfc3164 or cef", v);
			return -1;
		}
		c->syslog_format = f;
		return 0;
	}
	if (!strcmp(key, "syslog_facility")) {
		int f = sinkspec_facility(v);
		if (f < 0) {
			snprintf(err, errlen, "syslog_facility: '%s' is not a syslog facility",
			         v);
			return -1;
		}
		c->syslog_facility = f;
		return 0;
	}
	if (!strcmp(key, "syslog_app_name") || !strcmp(key, "syslog_hostname")) {
		int app = key[7] == 'a';
		if (!valid_token(v, app ? 48 : 255)) {
			snprintf(err, errlen,
			         "%s: '%s' must be 1-%d printable ASCII characters, no spaces",
			         key, v, app ? 48 : 255);
			return -1;
		}
		char **f = app ? &c->syslog_app_name : &c->syslog_hostname;
		free(*f);
		*f = xstrdup(v);
		return 0;
	}
	if (!strcmp(key, "json_types"))
		return sinkspec_types_parse(v, &c->json_types, err, errlen);
	if (!strcmp(key, "database_types"))
		return sinkspec_types_parse(v, &c->database_types, err, errlen);
	if (!strcmp(key, "json_max_size")) {
		int64_t n;
		if (!strcasecmp(v, "no") || !strcmp(v, "0")) {
			c->json_max_size = 0;
			return 0;
		}
		if (sinkspec_size(v, &n) < 0 || n < (64 << 10)) {
			snprintf(err, errlen,
			         "json_max_size: '%s' is not a size of at least 64k (or no)",
			         v);
			return -1;
		}
		c->json_max_size = n;
		return 0;
	}
	if (!strcmp(key, "json_keep")) {
		char *end;
		long n = strtol(v, &end, 10);
		if (*v == '\0' || *end != '\0' || n < 1 || n > 1000) {
			snprintf(err, errlen, "json_keep: '%s' is not a number from 1 to 1000",
			         v);
			return -1;
		}
		c->json_keep = (int)n;
		return 0;
	}
	if (!strcmp(key, "queue_max")) {
		int64_t n;
		if (sinkspec_size(v, &n) < 0 || n < (64 << 10)) {
			snprintf(err, errlen, "queue_max: '%s' is not a size of at least 64k",
			         v);
			return -1;
		}
		c->queue_max = n;
		return 0;
	}
	if (!strcmp(key, "database_timeout")) {
		long ms;
		if (parse_duration_ms(v, 1000000000000L, &ms) < 0 || ms < 1000 ||
		    ms > 3600000) {
			snprintf(err, errlen,
			         "database_timeout: '%s' is not a duration from 1s to 3600s",
			         v);
			return -1;
		}
		c->database_timeout_ms = (int)ms;
		return 0;
	}
	if (!strcmp(key, "database")) {
		free(c->database);
		c->database = NULL;
		if (*v == '\0' || !strcasecmp(v, "no") || !strcasecmp(v, "sqlite"))
			return 0;
		if (parse_database(v, err, errlen) < 0)
			return -1;
		c->database = xstrdup(v);
		return 0;
	}
	snprintf(err, errlen, "unknown key '%s' in [events]", key);
	return -1;
}

int sinkspec_types_pass(const struct cfg_strv *types, const uint8_t *rec, size_t len,
                        const struct ev_field *type)
{
	struct ev_field action;
	if (types->n == 0)
		return 1;
	int ha = sinkspec_types_need_action(types) &&
	         ev_find(rec, len, "sinkhole.action", &action) && action.kind == EV_STR;
	return sinkspec_types_match(types, type->str, type->strlen, ha ? action.str : NULL,
	                            ha ? action.strlen : 0);
}

void sinkspec_config_swap(struct config *a, struct config *b)
{
#define SWAP(f)                                                                                \
	do {                                                                                   \
		__typeof__(a->f) t_ = a->f;                                                    \
		a->f = b->f;                                                                   \
		b->f = t_;                                                                     \
	} while (0)
	SWAP(json);
	SWAP(sqlite);
	SWAP(json_max_size);
	SWAP(json_keep);
	SWAP(json_types);
	SWAP(database_types);
	SWAP(database);
	SWAP(database_timeout_ms);
	SWAP(queue_max);
	SWAP(syslog);
	SWAP(nsyslog);
	SWAP(syslog_format);
	SWAP(syslog_facility);
	SWAP(syslog_app_name);
	SWAP(syslog_hostname);
#undef SWAP
}

static void sig_strv(struct strbuf *b, const struct cfg_strv *v)
{
	for (int i = 0; i < v->n; i++)
		strbuf_printf(b, "%s,", v->v[i]);
	strbuf_putc(b, '|');
}

static void sig_str(struct strbuf *b, const char *s)
{
	strbuf_printf(b, "%zu:%s|", s ? strlen(s) : (size_t)0, s ? s : "");
}

void sinkspec_remote_signature(const struct config *c, struct strbuf *b)
{
	strbuf_reset(b);
	strbuf_printf(b, "%lld|%d|%d|", (long long)c->queue_max, c->syslog_format,
	              c->syslog_facility);
	sig_str(b, c->syslog_app_name);
	sig_str(b, c->syslog_hostname);
	sig_str(b, c->database);
	strbuf_printf(b, "%d|", c->database_timeout_ms);
	sig_strv(b, &c->database_types);
	for (int i = 0; i < c->nsyslog; i++) {
		const struct cfg_syslog *s = &c->syslog[i];
		sig_str(b, s->name);
		sig_str(b, s->dest);
		sig_str(b, s->host);
		sig_str(b, s->ca);
		sig_str(b, s->cert);
		sig_str(b, s->key);
		sig_str(b, s->servername);
		strbuf_printf(b, "%d|%d|%d|%d|%d|%lld|%d|", (int)s->transport, s->port,
		              s->format, s->facility, s->verify, (long long)s->queue_max,
		              s->resend_ms);
		sig_strv(b, &s->types);
	}
}

void sinkspec_config_free(struct config *c)
{
	for (int i = 0; i < c->nsyslog; i++)
		sinkspec_syslog_free(&c->syslog[i]);
	free(c->syslog);
	c->syslog = NULL;
	c->nsyslog = 0;
	strv_free(&c->json_types);
	strv_free(&c->database_types);
	free(c->database);
	free(c->syslog_app_name);
	free(c->syslog_hostname);
	c->database = c->syslog_app_name = c->syslog_hostname = NULL;
}

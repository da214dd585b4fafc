#include "syslog_fmt.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../common/event.h"
#include "../common/util.h"
#include "evsum.h"
#include "sinkspec.h"

static const char repl[] = "\xef\xbf\xbd"; /* U+FFFD */

/* Bytes a format escapes with a backslash. */
static const uint8_t sd_special[256] = {['"'] = 1, ['\\'] = 1, [']'] = 1};
static const uint8_t cef_head_special[256] = {['|'] = 1, ['\\'] = 1};
static const uint8_t cef_ext_special[256] = {['='] = 1, ['\\'] = 1};

/*
 * Copy n bytes, backslash-escaping the bytes marked in special; CR and LF as
 * \r and \n when crlf; other control characters and invalid UTF-8 as U+FFFD.
 */
static void put_escaped(struct strbuf *out, const uint8_t *p, size_t n, const uint8_t *special,
                        int crlf)
{
	size_t i = 0;
	while (i < n) {
		size_t j = i;
		while (j < n && p[j] >= 0x20 && p[j] < 0x7f && !special[p[j]])
			j++;
		if (j > i) {
			strbuf_put(out, p + i, j - i);
			i = j;
			continue;
		}
		uint8_t c = p[i];
		if (c >= 0x20 && c < 0x7f) {
			char esc[2] = {'\\', (char)c};
			strbuf_put(out, esc, 2);
			i++;
		} else if (crlf && (c == '\n' || c == '\r')) {
			strbuf_put(out, c == '\n' ? "\\n" : "\\r", 2);
			i++;
		} else if (c >= 0x80 && utf8_len(p + i, n - i)) {
			size_t l = utf8_len(p + i, n - i);
			strbuf_put(out, p + i, l);
			i += l;
		} else {
			strbuf_put(out, repl, 3);
			i++;
		}
	}
}

/* Decimal without printf (the hot path formats several numbers per event). */
static void put_int(struct strbuf *out, int64_t v)
{
	char num[24], *e = num + sizeof(num), *q = e;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do
		*--q = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		*--q = '-';
	strbuf_put(out, q, (size_t)(e - q));
}

void syslog_fmt_sd_value(struct strbuf *out, const uint8_t *p, size_t n)
{
	put_escaped(out, p, n, sd_special, 0);
}

void syslog_fmt_cef_header(struct strbuf *out, const uint8_t *p, size_t n)
{
	put_escaped(out, p, n, cef_head_special, 0);
}

void syslog_fmt_cef_value(struct strbuf *out, const uint8_t *p, size_t n)
{
	put_escaped(out, p, n, cef_ext_special, 1);
}

static int type_is(const struct evsum *s, const char *t)
{
	return evsum_is(s, ES_EVENT_TYPE, t);
}

static int severity(const struct evsum *s)
{
	if (type_is(s, "alert") || type_is(s, "trap") || type_is(s, "fileinfo"))
		return 4; /* warning */
	if ((type_is(s, "dns") && evsum_is(s, ES_ACTION, "sinkhole")) ||
	    type_is(s, "sinkhole_map"))
		return 5; /* notice */
	return 6;         /* informational */
}

static int cef_severity(const struct evsum *s)
{
	if (type_is(s, "fileinfo"))
		return 8;
	if (type_is(s, "trap"))
		return 7;
	if (type_is(s, "alert"))
		return 6;
	if (type_is(s, "dns"))
		return evsum_is(s, ES_ACTION, "sinkhole") ? 5 : 1;
	if (type_is(s, "sinkhole_map"))
		return 3;
	if (type_is(s, "flow"))
		return 2;
	if (type_is(s, "stats"))
		return 0;
	return 3;
}

int syslog_fmt_severity(const uint8_t *rec, size_t len)
{
	struct evsum s;
	evsum_extract(rec, len, &s);
	return severity(&s);
}

int syslog_fmt_cef_severity(const uint8_t *rec, size_t len)
{
	struct evsum s;
	evsum_extract(rec, len, &s);
	return cef_severity(&s);
}

static int64_t event_usec(const struct evsum *s)
{
	const struct ev_field *t = evsum_get(s, ES_TIMESTAMP);
	return t && t->kind == EV_TIME ? t->i : time_now_usec();
}

static void split_usec(int64_t usec, time_t *sec, long *frac)
{
	*sec = (time_t)(usec / 1000000);
	*frac = (long)(usec % 1000000);
	if (*frac < 0) {
		*frac += 1000000;
		(*sec)--;
	}
}

/* RFC 3339 in UTC with microseconds: 2026-11-22T21:40:00.123456Z */
static void put_time5424(struct strbuf *out, int64_t usec)
{
	/* strbuf_time writes ...+0000: the same instant, written the RFC 5424 way. */
	size_t at = out->len;
	strbuf_time(out, usec);
	if (out->len == at + 31 && out->data[at + 26] == '+') {
		out->len = at + 26;
		strbuf_putc(out, 'Z');
	}
}

/* "Nov  2 21:40:00" (RFC 3164: English month, day padded with a space). */
static void put_time3164(struct strbuf *out, int64_t usec, int local)
{
	static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	/* One conversion per second and thread: localtime_r takes a lock every call. */
	static __thread time_t cached = -1;
	static __thread int cached_local = -1;
	static __thread char text[16];
	time_t t;
	long frac;
	split_usec(usec, &t, &frac);
	if (t != cached || local != cached_local) {
		struct tm tm;
		if (local)
			localtime_r(&t, &tm);
		else
			gmtime_r(&t, &tm);
		snprintf(text, sizeof(text), "%s %2d %02d:%02d:%02d", mon[tm.tm_mon % 12],
		         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		cached = t;
		cached_local = local;
	}
	strbuf_put(out, text, 15);
}

/* A header token: printable ASCII without space, at most max, '-' when empty. */
static void put_token(struct strbuf *out, const char *s, size_t n, size_t max, int tag)
{
	if (n > max)
		n = max;
	if (n == 0) {
		strbuf_putc(out, '-');
		return;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		int ok = c > 32 && c < 127;
		/* An RFC 3164 TAG ends at the first non-alphanumeric: keep it one word. */
		if (tag && (c == ':' || c == '[' || c == ']'))
			ok = 0;
		strbuf_putc(out, ok ? (char)c : '_');
	}
}

static void put_pri(struct strbuf *out, const struct syslog_fmt *f, const struct evsum *s)
{
	strbuf_putc(out, '<');
	put_int(out, (f->facility & 31) * 8 + severity(s));
	strbuf_putc(out, '>');
}

static const char *nz(const char *s, const char *def)
{
	return s && *s ? s : def;
}

/* The SD-PARAMs: name in the message, field, in this order. */
static const struct {
	const char *name;
	int key; /* enum evsum_key, or -1 for the domain, -2 for the sensor */
} sd_params[] = {
    {"event_type", ES_EVENT_TYPE},
    {"event_id", ES_EVENT_ID},
    {"host", -2},
    {"src_ip", ES_SRC_IP},
    {"src_port", ES_SRC_PORT},
    {"dest_ip", ES_DEST_IP},
    {"dest_port", ES_DEST_PORT},
    {"proto", ES_PROTO},
    {"app_proto", ES_APP_PROTO},
    {"community_id", ES_COMMUNITY_ID},
    {"flow_id", ES_FLOW_ID},
    {"domain", -1},
    {"rrtype", ES_RRTYPE},
    {"rcode", ES_RCODE},
    {"action", ES_ACTION},
    {"reason", ES_REASON},
    {"rule", ES_RULE},
    {"list", ES_LIST},
    {"answer", ES_ANSWER},
    {"address", ES_MAP_ADDRESS},
    {"url", ES_URL},
    {"method", ES_METHOD},
    {"user", ES_USER},
    {"sha256", ES_SHA256},
    {"signature", ES_SIGNATURE},
};

static void put_value(struct strbuf *out, const struct ev_field *v,
                      void (*esc)(struct strbuf *, const uint8_t *, size_t))
{
	if (v->kind == EV_STR)
		esc(out, v->str, v->strlen);
	else if (v->kind == EV_BOOL)
		strbuf_puts(out, v->i ? "true" : "false");
	else
		put_int(out, v->i);
}

static void render_5424(const struct syslog_fmt *f, const struct evsum *s, const uint8_t *rec,
                        size_t len, struct strbuf *out)
{
	const struct ev_field *type = evsum_get(s, ES_EVENT_TYPE);
	put_pri(out, f, s);
	strbuf_puts(out, "1 ");
	put_time5424(out, event_usec(s));
	strbuf_putc(out, ' ');
	const char *h = nz(f->hostname, "-");
	put_token(out, h, strlen(h), 255, 0);
	strbuf_putc(out, ' ');
	const char *a = nz(f->app_name, "sinktrap");
	put_token(out, a, strlen(a), 48, 0);
	strbuf_putc(out, ' ');
	put_int(out, f->pid);
	strbuf_putc(out, ' ');
	if (type && type->kind == EV_STR)
		put_token(out, (const char *)type->str, type->strlen, 32, 0);
	else
		strbuf_putc(out, '-');
	strbuf_puts(out, " [" SYSLOG_SD_ID);
	for (size_t i = 0; i < ARRAY_SIZE(sd_params); i++) {
		struct ev_field sensor;
		const struct ev_field *v;
		if (sd_params[i].key == -1) {
			v = evsum_domain(s);
		} else if (sd_params[i].key == -2) {
			if (f->sensor == NULL)
				continue;
			memset(&sensor, 0, sizeof(sensor));
			sensor.kind = EV_STR;
			sensor.str = (const uint8_t *)f->sensor;
			sensor.strlen = strlen(f->sensor);
			v = &sensor;
		} else {
			v = evsum_get(s, (enum evsum_key)sd_params[i].key);
		}
		if (v == NULL || v->kind == EV_OBJ || v->kind == EV_ARR)
			continue;
		strbuf_putc(out, ' ');
		strbuf_puts(out, sd_params[i].name);
		strbuf_put(out, "=\"", 2);
		put_value(out, v, syslog_fmt_sd_value);
		strbuf_putc(out, '"');
	}
	strbuf_puts(out, "] ");
	render_json(rec, len, f->sensor, out);
}

static void render_3164(const struct syslog_fmt *f, const struct evsum *s, const uint8_t *rec,
                        size_t len, struct strbuf *out)
{
	put_pri(out, f, s);
	put_time3164(out, event_usec(s), f->local_time);
	strbuf_putc(out, ' ');
	if (!f->no_hostname) {
		const char *h = nz(f->hostname, "-");
		put_token(out, h, strlen(h), 255, 0);
		strbuf_putc(out, ' ');
	}
	const char *a = nz(f->app_name, "sinktrap");
	put_token(out, a, strlen(a), 32, 1);
	strbuf_putc(out, '[');
	put_int(out, f->pid);
	strbuf_put(out, "]: ", 3);
	render_json(rec, len, f->sensor, out);
}

static void cef_ext(struct strbuf *out, const char *key, const struct ev_field *v)
{
	if (v == NULL || v->kind == EV_OBJ || v->kind == EV_ARR)
		return;
	strbuf_putc(out, ' '); /* rt= always comes first */
	strbuf_puts(out, key);
	strbuf_putc(out, '=');
	put_value(out, v, syslog_fmt_cef_value);
}

static void cef_ext_str(struct strbuf *out, const char *key, const char *val)
{
	struct ev_field v;
	memset(&v, 0, sizeof(v));
	v.kind = EV_STR;
	v.str = (const uint8_t *)val;
	v.strlen = strlen(val);
	cef_ext(out, key, &v);
}

/* A custom string with its label (cs1 = rule, ...), only when the value exists. */
static void cef_custom(struct strbuf *out, const char *key, const char *label,
                       const struct ev_field *v)
{
	char lk[24];
	if (v == NULL)
		return;
	snprintf(lk, sizeof(lk), "%sLabel", key);
	cef_ext_str(out, lk, label);
	cef_ext(out, key, v);
}

static int is_v6(const struct ev_field *v)
{
	return v && v->kind == EV_STR && memchr(v->str, ':', v->strlen) != NULL;
}

static void cef_name(struct strbuf *out, const struct evsum *s)
{
	const char *n;
	if (type_is(s, "dns"))
		n = evsum_is(s, ES_ACTION, "sinkhole")  ? "DNS query sinkholed"
		    : evsum_is(s, ES_ACTION, "forward") ? "DNS query forwarded"
		                                        : "DNS query";
	else if (type_is(s, "sinkhole_map"))
		n = "Sinkhole address mapped";
	else if (type_is(s, "trap"))
		n = "Connection to the trap";
	else if (type_is(s, "fileinfo"))
		n = "Payload captured";
	else if (type_is(s, "flow"))
		n = "Flow";
	else if (type_is(s, "stats"))
		n = "Statistics";
	else if (type_is(s, "alert")) {
		const struct ev_field *sig = evsum_get(s, ES_SIGNATURE);
		if (sig && sig->kind == EV_STR) {
			syslog_fmt_cef_header(out, sig->str, sig->strlen);
			return;
		}
		n = "Alert";
	} else {
		const struct ev_field *t = evsum_get(s, ES_EVENT_TYPE);
		if (t && t->kind == EV_STR) {
			syslog_fmt_cef_header(out, t->str, t->strlen);
			return;
		}
		n = "Event";
	}
	strbuf_puts(out, n);
}

static void render_cef(const struct syslog_fmt *f, const struct evsum *s, struct strbuf *out)
{
	const struct ev_field *type = evsum_get(s, ES_EVENT_TYPE),
	                      *act = evsum_get(s, ES_ACTION);
	int64_t usec = event_usec(s);

	put_pri(out, f, s);
	put_time3164(out, usec, f->local_time);
	strbuf_putc(out, ' ');
	if (!f->no_hostname) {
		const char *h = nz(f->hostname, "-");
		put_token(out, h, strlen(h), 255, 0);
		strbuf_putc(out, ' ');
	}
	strbuf_puts(out, "CEF:0|sinktrap|sinktrap|");
	syslog_fmt_cef_header(out, (const uint8_t *)nz(f->version, "0"),
	                      strlen(nz(f->version, "0")));
	strbuf_putc(out, '|');
	/* Signature ID: the event type, with the action for dns ("dns:sinkhole"). */
	if (type && type->kind == EV_STR)
		syslog_fmt_cef_header(out, type->str, type->strlen);
	else
		strbuf_puts(out, "event");
	if (type_is(s, "dns") && act && act->kind == EV_STR) {
		strbuf_putc(out, ':');
		syslog_fmt_cef_header(out, act->str, act->strlen);
	}
	strbuf_putc(out, '|');
	cef_name(out, s);
	strbuf_putc(out, '|');
	put_int(out, cef_severity(s));
	strbuf_put(out, "|rt=", 4);
	put_int(out, usec / 1000);
	cef_ext(out, "cat", type);
	cef_ext(out, "externalId", evsum_get(s, ES_EVENT_ID));
	if (f->sensor)
		cef_ext_str(out, "dvchost", f->sensor);
	const struct ev_field *src = evsum_get(s, ES_SRC_IP), *dst = evsum_get(s, ES_DEST_IP);
	if (is_v6(src)) {
		cef_ext_str(out, "c6a2Label", "Source IPv6 Address");
		cef_ext(out, "c6a2", src);
	} else {
		cef_ext(out, "src", src);
	}
	cef_ext(out, "spt", evsum_get(s, ES_SRC_PORT));
	if (is_v6(dst)) {
		cef_ext_str(out, "c6a3Label", "Destination IPv6 Address");
		cef_ext(out, "c6a3", dst);
	} else {
		cef_ext(out, "dst", dst);
	}
	cef_ext(out, "dpt", evsum_get(s, ES_DEST_PORT));
	cef_ext(out, "proto", evsum_get(s, ES_PROTO));
	cef_ext(out, "app", evsum_get(s, ES_APP_PROTO));
	cef_ext(out, "dhost", evsum_domain(s));
	cef_ext(out, "request", evsum_get(s, ES_URL));
	cef_ext(out, "requestMethod", evsum_get(s, ES_METHOD));
	cef_ext(out, "requestClientApplication", evsum_get(s, ES_USER_AGENT));
	cef_ext(out, "suser", evsum_get(s, ES_USER));
	cef_ext(out, "act", act ? act : evsum_get(s, ES_MAP_ACTION));
	cef_ext(out, "reason", evsum_get(s, ES_REASON));
	cef_custom(out, "cs1", "rule", evsum_get(s, ES_RULE));
	cef_custom(out, "cs2", "list", evsum_get(s, ES_LIST));
	cef_custom(out, "cs3", "communityId", evsum_get(s, ES_COMMUNITY_ID));
	const struct ev_field *ans = evsum_get(s, ES_ANSWER);
	cef_custom(out, "cs4", "sinkholeAddress", ans ? ans : evsum_get(s, ES_MAP_ADDRESS));
	cef_custom(out, "cs5", "rrtype", evsum_get(s, ES_RRTYPE));
	cef_custom(out, "cs6", "flowId", evsum_get(s, ES_FLOW_ID));
	cef_ext(out, "fileHash", evsum_get(s, ES_SHA256));
	cef_ext(out, "fsize", evsum_get(s, ES_FILE_SIZE));
	cef_ext(out, "fname", evsum_get(s, ES_FILE_NAME));
	cef_ext(out, "msg", evsum_get(s, ES_CATEGORY));
}

void syslog_fmt_render(const struct syslog_fmt *f, const uint8_t *rec, size_t len,
                       struct strbuf *out)
{
	struct evsum s;
	evsum_extract(rec, len, &s);
	switch (f->format) {
	case SYSLOG_RFC3164:
		render_3164(f, &s, rec, len, out);
		break;
	case SYSLOG_CEF:
		render_cef(f, &s, out);
		break;
	default:
		render_5424(f, &s, rec, len, out);
		break;
	}
}

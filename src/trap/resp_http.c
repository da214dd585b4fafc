/*
 * HTTP/1.x responder: a bland nginx. Parses request line, headers
 * (bounded in count and size), Content-Length and chunked bodies, answers a
 * few pipelined or keep-alive requests with the configured page, and records
 * each request (method, host, URL, user agent, headers) and its body.
 *
 * A body larger than payload_max is read to its end all the same (the worker
 * stops any connection at max_bytes): its first payload_max bytes are kept
 * and stored as truncated, its whole length is reported, and it is answered
 * 413 once read, as SMTP answers 552 after the message (the client is told,
 * and what it sent is kept).
 *
 * What is recorded of a connection's requests fits a budget of event bytes
 * (HTTP_FIELDS_BUDGET, well under the event's EV_MAX_RECORD) and is counted
 * in the worker's memory budget: each request keeps its request line, Host
 * and User-Agent (part of the budget is held back for every request that may
 * still come), then as many headers as fit. A value cut to fit ends with
 * HTTP_CUT_MARK; headers not kept are counted (headers_truncated), and the
 * values cut, to fit or at their bound (RESP_STR_MAX, HTTP_URL_MAX), are
 * counted in each request's RESP_CUT_KEY.
 */
#include "resp_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HTTP_LINE_MAX 8192            /* request line, header line */
#define HTTP_HEADERS_MAX 100          /* per request: more is a 400 */
#define HTTP_HEADER_BYTES (64 * 1024) /* per request: more is a 400 */
#define HTTP_KEEP_HEADERS 32          /* headers recorded per request */
#define HTTP_MAX_REQUESTS 8           /* per connection; the last one closes */
#define HTTP_URL_MAX 2048             /* bytes of the URL recorded */

/*
 * Event bytes (the record's encoding: kind, key, length, value) that the
 * http{} and http_requests[] fields of one connection take at most.
 */
#define HTTP_FIELDS_BUDGET (40 * 1024)
/* Held back for each request that may still come: its request line, Host, User-Agent. */
#define HTTP_REQ_RESERVE 1024
/* Bytes of Host and of User-Agent held back in a request until they arrive. */
#define HTTP_CORE_MIN 128
/* Ends a value cut to fit the budget. */
#define HTTP_CUT_MARK "[...]"
#define HTTP_CUT_LEN (sizeof(HTTP_CUT_MARK) - 1)
/* A cut value keeps at least this much, or the field is not kept. */
#define HTTP_CUT_MIN 16

static const char default_page[] =
    "<!DOCTYPE html>\n"
    "<html>\n"
    "<head>\n"
    "<title>Welcome to nginx!</title>\n"
    "<style>\n"
    "html { color-scheme: light dark; }\n"
    "body { width: 35em; margin: 0 auto;\n"
    "font-family: Tahoma, Verdana, Arial, sans-serif; }\n"
    "</style>\n"
    "</head>\n"
    "<body>\n"
    "<h1>Welcome to nginx!</h1>\n"
    "<p>If you see this page, the nginx web server is successfully installed and\n"
    "working. Further configuration is required.</p>\n"
    "\n"
    "<p>For online documentation and support please refer to\n"
    "<a href=\"http://nginx.org/\">nginx.org</a>.<br/>\n"
    "Commercial support is available at\n"
    "<a href=\"http://nginx.com/\">nginx.com</a>.</p>\n"
    "\n"
    "<p><em>Thank you for using nginx.</em></p>\n"
    "</body>\n"
    "</html>\n";

/* A recorded string; its memory is counted in the worker's budget. */
struct bstr {
	char *s; /* Malloced, NUL-terminated */
	size_t n;
};

static void bstr_free(struct bstr *b)
{
	if (b->s != NULL)
		resp_mem_release(b->n + 1);
	free(b->s);
	b->s = NULL;
	b->n = 0;
}

/* p[0..n), followed by mark when not NULL. 0, or -1 when out of memory. */
static int bstr_set(struct bstr *b, const char *p, size_t n, const char *mark)
{
	size_t ml = mark ? strlen(mark) : 0;
	bstr_free(b);
	b->s = malloc(n + ml + 1);
	if (b->s == NULL)
		return -1;
	memcpy(b->s, p, n);
	memcpy(b->s + n, mark ? mark : "", ml);
	b->n = n + ml;
	b->s[b->n] = '\0';
	resp_mem_charge(b->n + 1);
	return 0;
}

/* The fields of a request that were cut (RESP_CUT_KEY): bits of http_req.cut. */
enum {
	CUT_LINE = 1 << 0,
	CUT_METHOD = 1 << 1,
	CUT_URL = 1 << 2,
	CUT_PROTOCOL = 1 << 3,
	CUT_HOST = 1 << 4,
	CUT_UA = 1 << 5,
	CUT_REFERER = 1 << 6,
};

struct http_req {
	struct bstr line; /* the raw request line (shown when it did not parse) */
	struct bstr method, url, protocol, host, ua, referer;
	struct bstr hname[HTTP_KEEP_HEADERS], hvalue[HTTP_KEEP_HEADERS];
	int nhdr;
	unsigned cut;         /* CUT_* of the fields above that were cut */
	uint32_t hcut;        /* bit i: header i was cut (its name or value) */
	unsigned hdr_dropped; /* headers not recorded: past HTTP_KEEP_HEADERS or the budget */
	int status;
	size_t length; /* response body length */
	uint64_t body_len;
	const char *content_type; /* of the response; static or config */
};

enum http_state {
	H_LINE,
	H_HEADERS,
	H_BODY,
	H_CHUNK_SIZE,
	H_CHUNK_DATA,
	H_CHUNK_END,
	H_TRAILERS,
	H_DONE,
};

struct http {
	const struct resp_config *cfg;
	const struct resp_ctx *ctx;
	enum http_state state;
	struct resp_line line;
	struct http_req req[HTTP_MAX_REQUESTS];
	int nreq;

	/* the request being parsed */
	int major, minor;
	int is_head;
	int conn_close, conn_keep;
	int chunked, bad_te;
	int64_t clen; /* -1: none */
	uint64_t remaining;
	int expect;
	unsigned nheaders;
	size_t header_bytes;
	int fold_ok; /* the last header was kept: a continuation may extend it */
	struct resp_blob body;
	int ended;

	size_t budget;    /* event bytes left of HTTP_FIELDS_BUDGET */
	size_t req_fixed; /* event bytes of a request's fixed fields */
};

static const struct {
	int status;
	const char *text;
} reasons[] = {
    {100, "Continue"},
    {200, "OK"},
    {201, "Created"},
    {204, "No Content"},
    {301, "Moved Permanently"},
    {302, "Moved Temporarily"},
    {304, "Not Modified"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Not Allowed"},
    {408, "Request Time-out"},
    {413, "Request Entity Too Large"},
    {414, "Request-URI Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Temporarily Unavailable"},
    {505, "HTTP Version Not Supported"},
};

static const char *reason(int status)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].status == status)
			return reasons[i].text;
	return "OK";
}

static const char *server_name(const struct http *h)
{
	return h->cfg && h->cfg->banner ? h->cfg->banner : "nginx";
}

static int64_t now_usec(const struct http *h)
{
	if (h->ctx && h->ctx->ops && h->ctx->ops->now_usec)
		return h->ctx->ops->now_usec(h->ctx->arg);
	return (int64_t)time(NULL) * 1000000;
}

/* RFC 9110 IMF-fixdate, without the locale's help. */
static void http_date(int64_t usec, char out[160])
{
	static const char wd[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char mo[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t t = (time_t)(usec / 1000000);
	struct tm tm;
	if (gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	snprintf(out, 160, "%s, %02d %s %04d %02d:%02d:%02d GMT", wd[tm.tm_wday % 7],
	         tm.tm_mday, mo[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
	         tm.tm_sec);
}

static void req_free(struct http_req *r)
{
	bstr_free(&r->line);
	bstr_free(&r->method);
	bstr_free(&r->url);
	bstr_free(&r->protocol);
	bstr_free(&r->host);
	bstr_free(&r->ua);
	bstr_free(&r->referer);
	for (int i = 0; i < r->nhdr; i++) {
		bstr_free(&r->hname[i]);
		bstr_free(&r->hvalue[i]);
	}
	r->nhdr = 0;
	r->cut = 0;
	r->hcut = 0;
}

static void request_reset(struct http *h)
{
	h->major = h->minor = 0;
	h->is_head = 0;
	h->conn_close = h->conn_keep = 0;
	h->chunked = h->bad_te = 0;
	h->clen = -1;
	h->remaining = 0;
	h->expect = 0;
	h->nheaders = 0;
	h->header_bytes = 0;
	h->fold_ok = 0;
}

/* Event bytes of one string field: kind, key length, key, value length, value. */
static size_t str_cost(const char *key, size_t n)
{
	return 6 + strlen(key) + n;
}

/*
 * Event bytes of a request's fields other than its recorded strings: the
 * object, status, length, content type, body length, the headers' array,
 * headers_truncated and the count of values cut.
 */
static size_t req_fixed_cost(size_t ctype_len)
{
	return (2 + 4 + 1) + 2 * (2 + 6 + 8) + str_cost("http_content_type", ctype_len) +
	       (2 + 19 + 8) + (2 + 15 + 1) + (2 + 17 + 8) + (2 + sizeof(RESP_CUT_KEY) + 8);
}

static void *http_create(const struct resp_config *cfg, const struct resp_ctx *ctx)
{
	struct http *h = resp_fixed_alloc(sizeof(*h));
	if (h == NULL)
		return NULL;
	if (resp_line_init(&h->line, HTTP_LINE_MAX) < 0) {
		resp_fixed_free(h, sizeof(*h));
		return NULL;
	}
	h->cfg = cfg;
	h->ctx = ctx;
	resp_blob_init(&h->body, resp_max_payload(cfg));
	request_reset(h);
	/* the http_requests array around them */
	h->budget = HTTP_FIELDS_BUDGET - (2 + 13 + 1);
	size_t ctl = cfg && cfg->http.body && cfg->http.content_type
	                 ? strlen(cfg->http.content_type)
	                 : 0;
	h->req_fixed = req_fixed_cost(ctl > 9 ? ctl : 9); /* "text/html" */
	return h;
}

static struct http_req *cur(struct http *h)
{
	return &h->req[h->nreq - 1];
}

/* ---- what is recorded: the budget of event bytes ------------------------ */

/* The first request is rendered twice (http{} and http_requests[0]). */
static size_t weight(const struct http *h)
{
	return h->nreq <= 1 ? 2 : 1;
}

/* Event bytes the current request may still take: the budget less what is
 * held back for the requests that may follow it. */
static size_t room(const struct http *h)
{
	size_t later = (size_t)(HTTP_MAX_REQUESTS - h->nreq) * HTTP_REQ_RESERVE;
	return h->budget > later ? h->budget - later : 0;
}

/* Held back in the current request for its Host and User-Agent until they
 * come; no_host/no_ua leave that one out (it is the one being kept). */
static size_t held_core(struct http *h, int no_host, int no_ua)
{
	const struct http_req *r = cur(h);
	size_t n = 0;
	if (!no_host && r->host.s == NULL)
		n += str_cost("hostname", HTTP_CORE_MIN);
	if (!no_ua && r->ua.s == NULL)
		n += str_cost("http_user_agent", HTTP_CORE_MIN);
	return n * weight(h);
}

static void spend(struct http *h, size_t n)
{
	h->budget -= n < h->budget ? n : h->budget;
}

/* Room for a field of fixed cost over, less held: how many value bytes fit
 * whole (*whole) or, when they do not, cut with the mark; 0: none. */
static size_t fit(struct http *h, size_t over, size_t n, size_t held, int *whole)
{
	size_t r = room(h);
	r = r > held ? (r - held) / weight(h) : 0;
	*whole = over + n <= r;
	if (*whole)
		return n;
	if (r < over + HTTP_CUT_MIN + HTTP_CUT_LEN)
		return 0;
	return r - over - HTTP_CUT_LEN;
}

/*
 * Record p[0..n) (its first max bytes) as the current request's field key,
 * within its room less held: cut to fit and marked, or not kept when not
 * even HTTP_CUT_MIN bytes fit. 2: kept whole, 1: cut (at max, or to fit; the
 * field's bit, which, is then set in the request's cut), 0: not kept.
 */
static int keep(struct http *h, struct bstr *b, unsigned which, const char *key, const char *p,
                size_t n, size_t max, size_t held)
{
	int whole, over = n > max;
	if (over)
		n = max;
	size_t k = fit(h, str_cost(key, 0), n, held, &whole);
	if (!whole && k == 0)
		return 0;
	if (bstr_set(b, p, k, whole ? NULL : HTTP_CUT_MARK) < 0)
		return 0;
	spend(h, str_cost(key, b->n) * weight(h));
	if (whole && !over)
		return 2;
	cur(h)->cut |= which;
	return 1;
}

/* Give back a field keep() recorded that is not to be shown after all. */
static void unkeep(struct http *h, struct bstr *b, unsigned which, const char *key)
{
	if (b->s == NULL)
		return;
	h->budget += str_cost(key, b->n) * weight(h);
	bstr_free(b);
	cur(h)->cut &= ~which;
}

/* One entry of request_headers; counted in hdr_dropped when not kept.
 * 2: kept whole, 1: cut (its name or value at RESP_STR_MAX, or its value to
 * fit; counted in the request's hcut), 0: not kept. */
static int keep_header(struct http *h, const char *name, size_t nl, const char *v, size_t vl)
{
	struct http_req *r = cur(h);
	int whole, over_max = nl > RESP_STR_MAX || vl > RESP_STR_MAX;
	if (r->nhdr >= HTTP_KEEP_HEADERS) {
		r->hdr_dropped++;
		return 0;
	}
	if (nl > RESP_STR_MAX)
		nl = RESP_STR_MAX;
	if (vl > RESP_STR_MAX)
		vl = RESP_STR_MAX;
	size_t over = 3 + str_cost("name", nl) + str_cost("value", 0);
	size_t k = fit(h, over, vl, held_core(h, 0, 0), &whole);
	if (!whole && k == 0) {
		r->hdr_dropped++;
		return 0;
	}
	struct bstr *bn = &r->hname[r->nhdr], *bv = &r->hvalue[r->nhdr];
	if (bstr_set(bn, name, nl, NULL) < 0 ||
	    bstr_set(bv, v, k, whole ? NULL : HTTP_CUT_MARK) < 0) {
		bstr_free(bn);
		bstr_free(bv);
		r->hdr_dropped++;
		return 0;
	}
	spend(h, (over + bv->n) * weight(h));
	if (whole && !over_max) {
		r->nhdr++;
		return 2;
	}
	r->hcut |= 1u << r->nhdr;
	r->nhdr++;
	return 1;
}

/*
 * Obsolete line folding: extend the last header's value, if it fits (in
 * RESP_STR_MAX and the budget); when it does not, the value is counted as
 * cut and no later continuation extends it.
 */
static void fold_header(struct http *h, const char *c, size_t cl)
{
	struct http_req *r = cur(h);
	struct bstr *v = &r->hvalue[r->nhdr - 1];
	int whole = v->n + 1 + cl <= RESP_STR_MAX;
	if (whole)
		fit(h, 0, 1 + cl, held_core(h, 0, 0), &whole);
	if (!whole) {
		r->hcut |= 1u << (r->nhdr - 1);
		h->fold_ok = 0;
		return;
	}
	size_t add = cl;
	char *nv = realloc(v->s, v->n + 2 + add);
	if (nv == NULL)
		return;
	nv[v->n] = ' ';
	memcpy(nv + v->n + 1, c, add);
	v->n += 1 + add;
	nv[v->n] = '\0';
	v->s = nv;
	resp_mem_charge(1 + add);
	spend(h, (1 + add) * weight(h));
}

/* Suggested name for an uploaded body: the last segment of the URL path. */
static void body_name(const struct http_req *r, char *out, size_t cap)
{
	out[0] = '\0';
	if (r->url.s == NULL)
		return;
	size_t end = strcspn(r->url.s, "?#");
	size_t start = end;
	while (start > 0 && r->url.s[start - 1] != '/')
		start--;
	size_t n = end - start;
	if (n == 0 || n >= cap)
		return;
	memcpy(out, r->url.s + start, n);
	out[n] = '\0';
}

static void emit_body(struct http *h)
{
	char name[128];
	if (h->body.seen == 0)
		return;
	body_name(cur(h), name, sizeof(name));
	resp_blob_emit(&h->body, h->ctx, "http_request_body", name[0] ? name : NULL);
}

/*
 * Write one response and finish the request. keep: the connection stays
 * open for another request. Returns the action to report.
 */
static int respond(struct http *h, struct resp_out *out, int status, int keep)
{
	const struct resp_config *cfg = h->cfg;
	const uint8_t *body;
	size_t blen;
	const char *ctype = "text/html";
	char page[512], date[160];

	body = NULL;
	blen = 0;
	if (status == 0) {
		status = cfg && cfg->http.status ? cfg->http.status : 200;
		if (cfg && cfg->http.body) {
			body = cfg->http.body;
			blen = cfg->http.body_len < RESP_HTTP_BODY_MAX ? cfg->http.body_len
			                                               : RESP_HTTP_BODY_MAX;
			if (cfg->http.content_type)
				ctype = cfg->http.content_type;
		} else if (status == 200) {
			body = (const uint8_t *)default_page;
			blen = sizeof(default_page) - 1;
		}
	}
	if (body == NULL) {
		snprintf(page, sizeof(page),
		         "<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n"
		         "<center><h1>%d %s</h1></center>\r\n<hr><center>%s</center>\r\n"
		         "</body>\r\n</html>\r\n",
		         status, reason(status), status, reason(status), server_name(h));
		body = (const uint8_t *)page;
		blen = strlen(page);
	}
	if (h->nreq >= HTTP_MAX_REQUESTS)
		keep = 0;

	if (h->nreq > 0) {
		struct http_req *r = cur(h);
		r->status = status;
		r->length = blen;
		r->content_type = ctype;
		r->body_len = h->body.seen;
		emit_body(h);
	}

	if (h->major == 0 && h->nreq > 0 && cur(h)->protocol.s == NULL && status < 400) {
		/* HTTP/0.9: the body alone, then close. */
		resp_out_put(out, body, blen);
		h->state = H_DONE;
		return RESP_CLOSE;
	}
	http_date(now_usec(h), date);
	resp_out_printf(out,
	                "HTTP/1.1 %d %s\r\nServer: %s\r\nDate: %s\r\nContent-Type: %s\r\n"
	                "Content-Length: %zu\r\nConnection: %s\r\n\r\n",
	                status, reason(status), server_name(h), date, ctype, blen,
	                keep ? "keep-alive" : "close");
	if (!h->is_head)
		resp_out_put(out, body, blen);
	resp_blob_reset(&h->body);
	request_reset(h);
	if (!keep) {
		h->state = H_DONE;
		return RESP_CLOSE;
	}
	h->state = H_LINE;
	return RESP_CONTINUE;
}

static int fail(struct http *h, struct resp_out *out, int status)
{
	return respond(h, out, status, 0);
}

static int is_token(char c)
{
	return c > 0x20 && c < 0x7f && strchr("()<>@,;:\\\"/[]?={}", c) == NULL;
}

static int request_line(struct http *h, const char *s, size_t n, int overlong,
                        struct resp_out *out)
{
	struct http_req *r = &h->req[h->nreq++];
	spend(h, h->req_fixed * weight(h));
	keep(h, &r->line, CUT_LINE, "request_line", s, n, RESP_STR_MAX, held_core(h, 0, 0));
	if (overlong)
		return fail(h, out, 414);

	const char *tok[4];
	size_t tl[4];
	int nt = 0;
	size_t i = 0;
	while (i < n && nt < 4) {
		while (i < n && s[i] == ' ')
			i++;
		if (i == n)
			break;
		size_t b = i;
		while (i < n && s[i] != ' ')
			i++;
		tok[nt] = s + b;
		tl[nt] = i - b;
		nt++;
	}
	if (nt < 2 || nt > 3)
		return fail(h, out, 400);
	for (size_t k = 0; k < tl[0]; k++)
		if (!is_token(tok[0][k]))
			return fail(h, out, 400);
	/* the raw line is shown only when it does not parse */
	unkeep(h, &r->line, CUT_LINE, "request_line");
	keep(h, &r->method, CUT_METHOD, "http_method", tok[0], tl[0], 32, held_core(h, 0, 0));
	/* the short ones first: a long URL is what is cut */
	if (nt == 3)
		keep(h, &r->protocol, CUT_PROTOCOL, "protocol", tok[2], tl[2], 32,
		     held_core(h, 0, 0));
	keep(h, &r->url, CUT_URL, "url", tok[1], tl[1], HTTP_URL_MAX, held_core(h, 0, 0));
	h->is_head = tl[0] == 4 && memcmp(tok[0], "HEAD", 4) == 0;
	if (nt == 2) {
		/* HTTP/0.9 */
		if (!(tl[0] == 3 && memcmp(tok[0], "GET", 3) == 0))
			return fail(h, out, 400);
		return respond(h, out, 0, 0);
	}
	const char *v = tok[2];
	if (tl[2] != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' ||
	    v[6] != '.' || v[7] < '0' || v[7] > '9')
		return fail(h, out, 400);
	h->major = v[5] - '0';
	h->minor = v[7] - '0';
	if (h->major != 1)
		return fail(h, out, h->major == 0 ? 400 : 505);
	h->state = H_HEADERS;
	return RESP_CONTINUE;
}

/* Does the comma-separated list hold token (case-insensitive)? */
static int list_has(const char *v, size_t n, const char *token)
{
	size_t i = 0;
	while (i < n) {
		size_t b = i;
		while (i < n && v[i] != ',')
			i++;
		const char *e = v + b;
		size_t el = i - b;
		resp_trim(&e, &el);
		if (resp_word_eq(e, el, token))
			return 1;
		i++;
	}
	return 0;
}

/* The last element of a comma-separated list. */
static void list_last(const char *v, size_t n, const char **e, size_t *el)
{
	size_t b = n;
	while (b > 0 && v[b - 1] != ',')
		b--;
	*e = v + b;
	*el = n - b;
	resp_trim(e, el);
}

static int header_line(struct http *h, const char *s, size_t n, int overlong,
                       struct resp_out *out)
{
	struct http_req *r = cur(h);
	h->header_bytes += n + 2;
	if (overlong || h->header_bytes > HTTP_HEADER_BYTES || ++h->nheaders > HTTP_HEADERS_MAX)
		return fail(h, out, 400);
	if (s[0] == ' ' || s[0] == '\t') {
		/* obsolete line folding: extend the previous value */
		if (h->fold_ok && r->nhdr > 0) {
			const char *c = s;
			size_t cl = n;
			resp_trim(&c, &cl);
			fold_header(h, c, cl);
		}
		return RESP_CONTINUE;
	}
	const char *colon = memchr(s, ':', n);
	size_t nl = colon ? (size_t)(colon - s) : 0;
	for (size_t k = 0; k < nl; k++)
		if (!is_token(s[k]))
			nl = 0;
	h->fold_ok = 0;
	if (nl == 0)
		return RESP_CONTINUE; /* nginx ignores invalid header lines */
	const char *v = colon + 1;
	size_t vl = n - nl - 1;
	resp_trim(&v, &vl);
	if (h->state == H_TRAILERS)
		return RESP_CONTINUE;

	/* Host and User-Agent first: part of the room is theirs */
	if (resp_word_eq(s, nl, "Host")) {
		if (r->host.s == NULL)
			keep(h, &r->host, CUT_HOST, "hostname", v, vl, RESP_STR_MAX,
			     held_core(h, 1, 0));
	} else if (resp_word_eq(s, nl, "User-Agent")) {
		if (r->ua.s == NULL)
			keep(h, &r->ua, CUT_UA, "http_user_agent", v, vl, RESP_STR_MAX,
			     held_core(h, 0, 1));
	} else if (resp_word_eq(s, nl, "Referer")) {
		if (r->referer.s == NULL)
			keep(h, &r->referer, CUT_REFERER, "http_refer", v, vl, RESP_STR_MAX,
			     held_core(h, 0, 0));
	}
	/* a value cut to fit is not extended by a folded line after its mark */
	h->fold_ok = keep_header(h, s, nl, v, vl) == 2;

	if (resp_word_eq(s, nl, "Content-Length")) {
		int64_t val = 0;
		if (vl == 0 || vl > 15)
			return fail(h, out, vl > 15 ? 413 : 400);
		for (size_t k = 0; k < vl; k++) {
			if (v[k] < '0' || v[k] > '9')
				return fail(h, out, 400);
			val = val * 10 + (v[k] - '0');
		}
		if (h->clen >= 0 && h->clen != val)
			return fail(h, out, 400);
		h->clen = val;
	} else if (resp_word_eq(s, nl, "Transfer-Encoding")) {
		const char *e;
		size_t el;
		list_last(v, vl, &e, &el);
		if (resp_word_eq(e, el, "chunked"))
			h->chunked = 1;
		else if (!resp_word_eq(e, el, "identity"))
			h->bad_te = 1;
	} else if (resp_word_eq(s, nl, "Connection")) {
		if (list_has(v, vl, "close"))
			h->conn_close = 1;
		if (list_has(v, vl, "keep-alive"))
			h->conn_keep = 1;
	} else if (resp_word_eq(s, nl, "Expect")) {
		if (resp_word_eq(v, vl, "100-continue"))
			h->expect = 1;
	}
	return RESP_CONTINUE;
}

static int keep_alive(const struct http *h)
{
	if (h->conn_close)
		return 0;
	return h->minor >= 1 || h->conn_keep;
}

static int headers_done(struct http *h, struct resp_out *out)
{
	if (h->bad_te)
		return fail(h, out, 501);
	/* A body of any length is read (the worker ends the connection at
	 * max_bytes): its first payload_max bytes are kept, all are counted. */
	if (h->chunked) {
		h->state = H_CHUNK_SIZE;
	} else if (h->clen > 0) {
		h->remaining = (uint64_t)h->clen;
		h->state = H_BODY;
	} else {
		return respond(h, out, 0, keep_alive(h));
	}
	if (h->expect)
		resp_out_puts(out, "HTTP/1.1 100 Continue\r\n\r\n");
	return RESP_CONTINUE;
}

static int chunk_size(struct http *h, const char *s, size_t n, int overlong,
                      struct resp_out *out)
{
	uint64_t size = 0;
	size_t i = 0;
	if (overlong)
		return fail(h, out, 400);
	while (i < n && i < 16) {
		char c = s[i];
		int d = c >= '0' && c <= '9'   ? c - '0'
		        : c >= 'a' && c <= 'f' ? c - 'a' + 10
		        : c >= 'A' && c <= 'F' ? c - 'A' + 10
		                               : -1;
		if (d < 0)
			break;
		size = size * 16 + (uint64_t)d;
		i++;
	}
	if (i == 0 || i == 16 || (i < n && s[i] != ';' && s[i] != ' ' && s[i] != '\t'))
		return fail(h, out, 400);
	if (size == 0) {
		h->state = H_TRAILERS;
		return RESP_CONTINUE;
	}
	h->remaining = size;
	h->state = H_CHUNK_DATA;
	return RESP_CONTINUE;
}

/*
 * The request's body has been read: answered 413 (and the connection
 * closed, as nginx does after a 413) when it was larger than payload_max,
 * which keeps its first bytes; otherwise as any request.
 */
static int body_done(struct http *h, struct resp_out *out)
{
	if (h->body.seen > h->body.max)
		return fail(h, out, 413);
	return respond(h, out, 0, keep_alive(h));
}

static int on_line(struct http *h, struct resp_out *out)
{
	const char *s = h->line.buf;
	size_t n = h->line.len;
	int overlong = h->line.overlong;

	switch (h->state) {
	case H_LINE:
		if (n == 0 && !overlong)
			return RESP_CONTINUE; /* stray CRLF between requests */
		return request_line(h, s, n, overlong, out);
	case H_HEADERS:
		if (n == 0 && !overlong)
			return headers_done(h, out);
		return header_line(h, s, n, overlong, out);
	case H_CHUNK_SIZE:
		return chunk_size(h, s, n, overlong, out);
	case H_CHUNK_END:
		if (n != 0 || overlong)
			return fail(h, out, 400);
		h->state = H_CHUNK_SIZE;
		return RESP_CONTINUE;
	case H_TRAILERS:
		if (n == 0 && !overlong)
			return body_done(h, out);
		return header_line(h, s, n, overlong, out);
	default:
		return RESP_CLOSE;
	}
}

static int http_input(void *st, const uint8_t *buf, size_t n, struct resp_out *out)
{
	struct http *h = st;
	while (n > 0 && h->state != H_DONE) {
		if (h->state == H_BODY || h->state == H_CHUNK_DATA) {
			size_t k = h->remaining < n ? (size_t)h->remaining : n;
			resp_blob_add(&h->body, buf, k);
			buf += k;
			n -= k;
			h->remaining -= k;
			if (h->remaining > 0)
				break;
			if (h->state == H_CHUNK_DATA) {
				h->state = H_CHUNK_END;
				continue;
			}
			int rc = body_done(h, out);
			if (rc != RESP_CONTINUE)
				return rc;
			continue;
		}
		size_t used = resp_line_feed(&h->line, buf, n);
		buf += used;
		n -= used;
		if (!h->line.done)
			break;
		int rc = on_line(h, out);
		resp_line_clear(&h->line);
		if (rc < 0 || rc == RESP_CLOSE)
			return rc;
	}
	if (h->state == H_DONE)
		return RESP_CLOSE;
	if (h->state != H_LINE || h->line.len > 0 || h->line.overlong)
		return RESP_NEED_MORE;
	return RESP_CONTINUE;
}

static int http_start(void *st, struct resp_out *out)
{
	return RESP_CONTINUE;
}

/* nginx closes an idle or stalled connection without a word. */
static int http_timeout(void *st, struct resp_out *out)
{
	return RESP_CLOSE;
}

static void http_end(void *st)
{
	struct http *h = st;
	if (h->ended)
		return;
	h->ended = 1;
	/* a body cut short still counts */
	if (h->body.seen > 0 && h->nreq > 0) {
		cur(h)->body_len = h->body.seen;
		emit_body(h);
	}
}

static void req_render(const struct http_req *r, struct evbuf *ev, const char *key)
{
	ev_obj(ev, key);
	if (r->host.s)
		ev_strn(ev, "hostname", r->host.s, r->host.n);
	if (r->url.s)
		ev_strn(ev, "url", r->url.s, r->url.n);
	if (r->ua.s)
		ev_strn(ev, "http_user_agent", r->ua.s, r->ua.n);
	if (r->method.s)
		ev_strn(ev, "http_method", r->method.s, r->method.n);
	else if (r->line.s)
		ev_strn(ev, "request_line", r->line.s, r->line.n);
	if (r->protocol.s)
		ev_strn(ev, "protocol", r->protocol.s, r->protocol.n);
	if (r->referer.s)
		ev_strn(ev, "http_refer", r->referer.s, r->referer.n);
	if (r->status) {
		ev_int(ev, "status", r->status);
		ev_int(ev, "length", (int64_t)r->length);
		ev_str(ev, "http_content_type", r->content_type);
	}
	if (r->body_len)
		ev_int(ev, "request_body_length", (int64_t)r->body_len);
	if (r->hdr_dropped)
		ev_int(ev, "headers_truncated", r->hdr_dropped);
	resp_cut_render(ev,
	                (unsigned)(__builtin_popcount(r->cut) + __builtin_popcount(r->hcut)));
	if (r->nhdr > 0) {
		ev_arr(ev, "request_headers");
		for (int i = 0; i < r->nhdr; i++) {
			ev_obj(ev, "");
			ev_strn(ev, "name", r->hname[i].s, r->hname[i].n);
			ev_strn(ev, "value", r->hvalue[i].s, r->hvalue[i].n);
			ev_close(ev);
		}
		ev_close(ev);
	}
	ev_close(ev);
}

/* The first Host a request gave, without its port; an address in brackets names none. */
static size_t http_domain(void *st, const char **name)
{
	const struct http *h = st;
	for (int i = 0; i < h->nreq; i++) {
		const struct bstr *b = &h->req[i].host;
		if (b->s == NULL || b->n == 0)
			continue;
		if (b->s[0] == '[')
			return 0;
		size_t n = b->n;
		const char *colon = memrchr(b->s, ':', n);
		if (colon != NULL) {
			size_t p = (size_t)(colon - b->s) + 1;
			while (p < n && b->s[p] >= '0' && b->s[p] <= '9')
				p++;
			if (p != n)
				return 0;
			n = (size_t)(colon - b->s);
		}
		*name = b->s;
		return n;
	}
	return 0;
}

static void http_fields(void *st, struct evbuf *ev)
{
	struct http *h = st;
	if (h->nreq == 0)
		return;
	req_render(&h->req[0], ev, "http");
	if (h->nreq > 1) {
		ev_arr(ev, "http_requests");
		for (int i = 0; i < h->nreq; i++)
			req_render(&h->req[i], ev, "");
		ev_close(ev);
	}
}

static void http_destroy(void *st)
{
	struct http *h = st;
	if (h == NULL)
		return;
	for (int i = 0; i < h->nreq; i++)
		req_free(&h->req[i]);
	resp_line_free(&h->line);
	resp_blob_free(&h->body);
	resp_fixed_free(h, sizeof(*h));
}

const struct responder resp_http = {
    .name = "http",
    .proto = TRAP_PROTO_HTTP,
    .create = http_create,
    .start = http_start,
    .input = http_input,
    .timeout = http_timeout,
    .end = http_end,
    .fields = http_fields,
    .domain = http_domain,
    .destroy = http_destroy,
};

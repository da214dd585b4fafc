/*
 * HTTP/1.x responder: a bland nginx. Parses request line, headers
 * (bounded in count and size), Content-Length and chunked bodies, answers a
 * few pipelined or keep-alive requests with the configured page, and records
 * each request (method, host, URL, user agent, headers) and its body.
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

struct bstr {
	char *s; /* Malloced, NUL-terminated */
	size_t n;
};

static void bstr_set(struct bstr *b, const char *p, size_t n, size_t max)
{
	free(b->s);
	if (n > max)
		n = max;
	b->s = malloc(n + 1);
	b->n = 0;
	if (b->s == NULL)
		return;
	memcpy(b->s, p, n);
	b->s[n] = '\0';
	b->n = n;
}

static void bstr_free(struct bstr *b)
{
	free(b->s);
	b->s = NULL;
	b->n = 0;
}

struct http_req {
	struct bstr line; /* the raw request line (shown when it did not parse) */
	struct bstr method, url, protocol, host, ua, referer;
	struct bstr hname[HTTP_KEEP_HEADERS], hvalue[HTTP_KEEP_HEADERS];
	int nhdr;
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

static void *http_create(const struct resp_config *cfg, const struct resp_ctx *ctx)
{
	struct http *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return NULL;
	if (resp_line_init(&h->line, HTTP_LINE_MAX) < 0) {
		free(h);
		return NULL;
	}
	h->cfg = cfg;
	h->ctx = ctx;
	resp_blob_init(&h->body, resp_max_payload(cfg));
	request_reset(h);
	return h;
}

static struct http_req *cur(struct http *h)
{
	return &h->req[h->nreq - 1];
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
	bstr_set(&r->line, s, n, RESP_STR_MAX);
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
	bstr_set(&r->method, tok[0], tl[0], 32);
	bstr_set(&r->url, tok[1], tl[1], HTTP_URL_MAX);
	h->is_head = tl[0] == 4 && memcmp(tok[0], "HEAD", 4) == 0;
	if (nt == 2) {
		/* HTTP/0.9 */
		if (!(tl[0] == 3 && memcmp(tok[0], "GET", 3) == 0))
			return fail(h, out, 400);
		return respond(h, out, 0, 0);
	}
	bstr_set(&r->protocol, tok[2], tl[2], 32);
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
			struct bstr *v = &r->hvalue[r->nhdr - 1];
			const char *c = s;
			size_t cl = n;
			resp_trim(&c, &cl);
			size_t keep = v->n + 1 + cl > RESP_STR_MAX ? 0 : cl;
			char *nv = realloc(v->s, v->n + 2 + keep);
			if (nv != NULL) {
				nv[v->n] = ' ';
				memcpy(nv + v->n + 1, c, keep);
				v->n += 1 + keep;
				nv[v->n] = '\0';
				v->s = nv;
			}
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

	if (r->nhdr < HTTP_KEEP_HEADERS) {
		bstr_set(&r->hname[r->nhdr], s, nl, RESP_STR_MAX);
		bstr_set(&r->hvalue[r->nhdr], v, vl, RESP_STR_MAX);
		r->nhdr++;
		h->fold_ok = 1;
	}
	if (resp_word_eq(s, nl, "Host")) {
		if (r->host.s == NULL)
			bstr_set(&r->host, v, vl, RESP_STR_MAX);
	} else if (resp_word_eq(s, nl, "User-Agent")) {
		if (r->ua.s == NULL)
			bstr_set(&r->ua, v, vl, RESP_STR_MAX);
	} else if (resp_word_eq(s, nl, "Referer")) {
		if (r->referer.s == NULL)
			bstr_set(&r->referer, v, vl, RESP_STR_MAX);
	} else if (resp_word_eq(s, nl, "Content-Length")) {
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
	size_t max = resp_max_payload(h->cfg);
	if (h->chunked) {
		h->state = H_CHUNK_SIZE;
	} else if (h->clen > 0) {
		if ((uint64_t)h->clen > max)
			return fail(h, out, 413);
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
	if (h->body.seen + size > resp_max_payload(h->cfg))
		return fail(h, out, 413);
	h->remaining = size;
	h->state = H_CHUNK_DATA;
	return RESP_CONTINUE;
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
			return respond(h, out, 0, keep_alive(h));
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
			int rc = respond(h, out, 0, keep_alive(h));
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
	free(h);
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
    .destroy = http_destroy,
};

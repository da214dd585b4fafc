/*
 * Test harness for the responders: a fake worker. It runs a responder over a
 * client transcript (whole, or one byte at a time), collects the reply bytes,
 * the payloads and the FTP data-channel requests, renders the event fields,
 * and reads them back with ev_find. Header-only: each test_resp_*.c includes
 * it once.
 */
#ifndef SINKTRAP_TEST_RESP_HARNESS_H
#define SINKTRAP_TEST_RESP_HARNESS_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/event.h"
#include "trap/responder.h"

#define TR_MAX_PAYLOADS 16
#define TR_FIXED_NOW 1700000000000000LL /* Tue, 14 Nov 2023 22:13:20 GMT */

struct tr_payload {
	char kind[32];
	char name[128];
	uint8_t *data;
	size_t len;
	int truncated;
};

struct tr_conn {
	const struct responder *r;
	struct resp_config cfg;
	struct resp_ops ops;
	struct resp_ctx ctx;
	void *st;
	struct resp_out out;
	int act;
	struct tr_payload pl[TR_MAX_PAYLOADS];
	int npl;
	int listen_calls;
	uint16_t data_port;
	uint8_t sent[8192]; /* bytes queued on the data channel */
	size_t sentlen;
	int send_calls;
	struct evbuf ev;
	size_t fields_at; /* offset of the responder's first field in the record */
	int rendered;
};

static inline void tr_payload_cb(void *arg, const char *kind, const char *name,
                                 const uint8_t *data, size_t len, int truncated)
{
	struct tr_conn *c = arg;
	assert_true(c->npl < TR_MAX_PAYLOADS);
	struct tr_payload *p = &c->pl[c->npl++];
	snprintf(p->kind, sizeof(p->kind), "%s", kind);
	snprintf(p->name, sizeof(p->name), "%s", name ? name : "");
	p->data = malloc(len + 1);
	assert_non_null(p->data);
	memcpy(p->data, data, len);
	p->data[len] = 0;
	p->len = len;
	p->truncated = truncated;
}

static inline int tr_listen_cb(void *arg, uint16_t *port)
{
	struct tr_conn *c = arg;
	c->listen_calls++;
	c->data_port = (uint16_t)(40000 + c->listen_calls);
	*port = c->data_port;
	return 0;
}

static inline int tr_send_cb(void *arg, const uint8_t *data, size_t len)
{
	struct tr_conn *c = arg;
	c->send_calls++;
	if (len > sizeof(c->sent) - c->sentlen)
		len = sizeof(c->sent) - c->sentlen;
	memcpy(c->sent + c->sentlen, data, len);
	c->sentlen += len;
	return 0;
}

static inline int64_t tr_now_cb(void *arg)
{
	(void)arg;
	return TR_FIXED_NOW;
}

/*
 * Create the state; cfg may be NULL (all defaults) and is copied. tls: the
 * connection runs inside TLS already (an implicit TLS port, ctx.tls).
 */
static inline void tr_open_tls(struct tr_conn *c, const struct responder *r,
                               const struct resp_config *cfg, int tls)
{
	memset(c, 0, sizeof(*c));
	c->r = r;
	if (cfg)
		c->cfg = *cfg;
	c->ops.payload = tr_payload_cb;
	c->ops.listen_data = tr_listen_cb;
	c->ops.send_data = tr_send_cb;
	c->ops.now_usec = tr_now_cb;
	c->ctx.ops = &c->ops;
	c->ctx.arg = c;
	strcpy(c->ctx.local_ip, "192.0.2.10");
	strcpy(c->ctx.peer_ip, "198.51.100.23");
	c->ctx.local_port = 2525;
	c->ctx.peer_port = 50123;
	c->ctx.tls = tls;
	resp_out_init(&c->out, 0);
	evbuf_init(&c->ev);
	c->st = r->create(&c->cfg, &c->ctx);
	assert_non_null(c->st);
}

static inline void tr_open(struct tr_conn *c, const struct responder *r,
                           const struct resp_config *cfg)
{
	tr_open_tls(c, r, cfg, 0);
}

static inline int tr_start(struct tr_conn *c)
{
	c->act = c->r->start(c->st, &c->out);
	return c->act;
}

/* Feed bytes whole or one at a time; stops at CLOSE/STARTTLS like a worker. */
static inline int tr_feed(struct tr_conn *c, const void *buf, size_t n, int bytewise)
{
	const uint8_t *p = buf;
	if (!bytewise) {
		c->act = c->r->input(c->st, p, n, &c->out);
		return c->act;
	}
	for (size_t i = 0; i < n; i++) {
		c->act = c->r->input(c->st, p + i, 1, &c->out);
		if (c->act == RESP_CLOSE || c->act == RESP_STARTTLS || c->act < 0)
			break;
	}
	return c->act;
}

static inline int tr_feeds(struct tr_conn *c, const char *s, int bytewise)
{
	return tr_feed(c, s, strlen(s), bytewise);
}

/* The reply bytes so far as a NUL-terminated string (borrowed). */
static inline const char *tr_out(struct tr_conn *c)
{
	resp_out_put(&c->out, "", 1);
	c->out.len--;
	return (const char *)c->out.data;
}

/* end() then fields() into a fresh "trap" record. */
static inline void tr_render(struct tr_conn *c)
{
	c->r->end(c->st);
	evbuf_reset(&c->ev);
	ev_begin(&c->ev, "trap", TR_FIXED_NOW);
	c->fields_at = c->ev.len;
	c->r->fields(c->st, &c->ev);
	ev_end(&c->ev);
	assert_true(ev_record_check(c->ev.data, c->ev.len) == (long)c->ev.len);
	c->rendered = 1;
}

/* Bytes the responder's fields took in the rendered record. */
static inline size_t tr_fields_len(struct tr_conn *c)
{
	if (!c->rendered)
		tr_render(c);
	return c->ev.len - c->fields_at;
}

static inline void tr_close(struct tr_conn *c)
{
	c->r->destroy(c->st);
	resp_out_free(&c->out);
	evbuf_free(&c->ev);
	for (int i = 0; i < c->npl; i++)
		free(c->pl[i].data);
	memset(c, 0, sizeof(*c));
}

static inline int tr_find(struct tr_conn *c, const char *path, struct ev_field *f)
{
	if (!c->rendered)
		tr_render(c);
	return ev_find(c->ev.data, c->ev.len, path, f);
}

/* A string field as a NUL-terminated copy in a rotating static buffer; NULL if absent. */
static inline const char *tr_strf(const struct ev_field *f)
{
	static char bufs[4][4096];
	static int k;
	char *b = bufs[k++ & 3];
	size_t n = f->strlen < sizeof(bufs[0]) - 1 ? f->strlen : sizeof(bufs[0]) - 1;
	memcpy(b, f->str, n);
	b[n] = 0;
	return b;
}

static inline const char *tr_str(struct tr_conn *c, const char *path)
{
	struct ev_field f;
	if (!tr_find(c, path, &f) || f.kind != EV_STR)
		return NULL;
	return tr_strf(&f);
}

static inline int64_t tr_int(struct tr_conn *c, const char *path)
{
	struct ev_field f;
	if (!tr_find(c, path, &f) || (f.kind != EV_INT && f.kind != EV_BOOL))
		return -1;
	return f.i;
}

/*
 * Element idx of the array at path: a string element, or, with key, the
 * string member key of an object element. NULL when absent.
 */
static inline const char *tr_elem(struct tr_conn *c, const char *path, int idx, const char *key)
{
	struct ev_field a, f;
	if (!tr_find(c, path, &a) || a.kind != EV_ARR)
		return NULL;
	struct ev_reader r = {(const uint8_t *)a.key + a.keylen, c->ev.data + c->ev.len,
	                      a.depth + 1};
	int i = -1;
	while (ev_reader_next(&r, &f)) {
		if (f.depth < a.depth + 1)
			return NULL; /* end of the array */
		if (f.depth != a.depth + 1 || f.kind == EV_END)
			continue;
		if (++i < idx)
			continue;
		if (key == NULL)
			return f.kind == EV_STR ? tr_strf(&f) : NULL;
		if (f.kind != EV_OBJ)
			return NULL;
		while (ev_reader_next(&r, &f) && f.depth > a.depth + 1) {
			if (f.depth == a.depth + 2 && f.kind == EV_STR &&
			    f.keylen == strlen(key) && memcmp(f.key, key, f.keylen) == 0)
				return tr_strf(&f);
		}
		return NULL;
	}
	return NULL;
}

static inline int tr_count(struct tr_conn *c, const char *path)
{
	int n = 0;
	struct ev_field a, f;
	if (!tr_find(c, path, &a) || a.kind != EV_ARR)
		return -1;
	struct ev_reader r = {(const uint8_t *)a.key + a.keylen, c->ev.data + c->ev.len,
	                      a.depth + 1};
	while (ev_reader_next(&r, &f) && f.depth >= a.depth + 1)
		if (f.depth == a.depth + 1 && f.kind != EV_END)
			n++;
	return n;
}

/*
 * Run the same transcript whole and one byte at a time (after start) and
 * assert identical reply bytes, payloads, final action and event fields.
 * Leaves the whole-feed run open in *c for the caller's assertions.
 */
static inline void tr_run_both(struct tr_conn *c, const struct responder *r,
                               const struct resp_config *cfg, const void *tx, size_t n)
{
	struct tr_conn b;
	tr_open(&b, r, cfg);
	tr_start(&b);
	tr_feed(&b, tx, n, 1);
	tr_render(&b);

	tr_open(c, r, cfg);
	tr_start(c);
	tr_feed(c, tx, n, 0);
	tr_render(c);

	assert_int_equal(c->act, b.act);
	assert_int_equal(c->out.len, b.out.len);
	assert_memory_equal(c->out.data, b.out.data, c->out.len);
	assert_int_equal(c->npl, b.npl);
	for (int i = 0; i < c->npl; i++) {
		assert_string_equal(c->pl[i].kind, b.pl[i].kind);
		assert_string_equal(c->pl[i].name, b.pl[i].name);
		assert_int_equal(c->pl[i].len, b.pl[i].len);
		assert_memory_equal(c->pl[i].data, b.pl[i].data, c->pl[i].len);
	}
	/* the records differ only in their event_id */
	assert_int_equal(c->ev.len - c->fields_at, b.ev.len - b.fields_at);
	assert_memory_equal(c->ev.data + c->fields_at, b.ev.data + b.fields_at,
	                    c->ev.len - c->fields_at);
	tr_close(&b);
}

/* Is needle among the reply bytes? */
static inline int tr_out_has(struct tr_conn *c, const char *needle)
{
	return strstr(tr_out(c), needle) != NULL;
}

/*
 * The replies so far are whole lines, each ended by CRLF, with no CR, LF or
 * NUL inside one: a client that splits them at CR, at LF or at CRLF reads
 * the same lines.
 */
static inline void tr_assert_lines(struct tr_conn *c)
{
	const uint8_t *o = c->out.data;
	size_t n = c->out.len;
	for (size_t i = 0; i < n; i++) {
		int bad = o[i] == '\0' || (o[i] == '\r' && (i + 1 == n || o[i + 1] != '\n')) ||
		          (o[i] == '\n' && (i == 0 || o[i - 1] != '\r'));
		if (bad) {
			/* the line up to it, control bytes shown as \xNN */
			char ctx[256];
			size_t k = 0;
			for (size_t j = i > 40 ? i - 40 : 0; j <= i && k + 5 < sizeof(ctx); j++)
				k += (size_t)snprintf(
				    ctx + k, sizeof(ctx) - k,
				    o[j] < 0x20 || o[j] >= 0x7f ? "\\x%02x" : "%c", o[j]);
			fail_msg("byte %zu of the replies breaks a line: ...%s", i, ctx);
		}
	}
	if (n > 0 && o[n - 1] != '\n')
		fail_msg("the replies end inside a line");
}

#endif

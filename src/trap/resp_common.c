#include "resp_common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- output buffer ------------------------------------------------------- */

void resp_out_init(struct resp_out *o, size_t max)
{
	memset(o, 0, sizeof(*o));
	o->max = max ? max : RESP_OUT_MAX;
}

/*
 * Bytes the process holds in reply buffers and payload blobs, all
 * connections together: the worker's memory budget reads it. One worker
 * is one thread, so a plain counter does.
 */
static size_t held_bytes;

size_t resp_mem_held(void)
{
	return held_bytes;
}

/* The counter of the connection whose turn it is (resp_mem_owner), or NULL. */
static size_t *mem_owner;

size_t *resp_mem_owner(size_t *owner)
{
	size_t *prev = mem_owner;
	mem_owner = owner;
	return prev;
}

void resp_mem_charge(size_t n)
{
	held_bytes += n;
	if (mem_owner)
		*mem_owner += n;
}

/*
 * Every release goes through here: one that gives back more than is held is
 * a bug (the fuzz targets stop on it); in production the count stays at 0
 * rather than wrapping round, which would close every connection as over
 * memory_max.
 */
void resp_mem_release(size_t n)
{
#ifdef FUZZING
	if (n > held_bytes)
		abort();
#endif
	held_bytes = n > held_bytes ? 0 : held_bytes - n;
	if (mem_owner)
		*mem_owner = n > *mem_owner ? 0 : *mem_owner - n;
}

void resp_out_free(struct resp_out *o)
{
	resp_mem_release(o->cap);
	free(o->base);
	memset(o, 0, sizeof(*o));
}

void resp_out_consume(struct resp_out *o, size_t n)
{
	if (n >= o->len) {
		o->len = 0;
		o->data = o->base;
		return;
	}
	o->data += n;
	o->len -= n;
}

int resp_out_put(struct resp_out *o, const void *p, size_t n)
{
	size_t max = o->max ? o->max : RESP_OUT_MAX;
	int rc = 0;
	if (n > max - (o->len < max ? o->len : max)) {
		n = o->len < max ? max - o->len : 0;
		o->overflow = 1;
		rc = -ENOBUFS;
	}
	if (n == 0)
		return rc;
	size_t head = o->base ? (size_t)(o->data - o->base) : 0;
	if (head > 0 && head >= o->len && head + o->len + n > o->cap) {
		/* Moving the unsent bytes costs no more than was sent since. */
		memmove(o->base, o->data, o->len);
		o->data = o->base;
		head = 0;
	}
	if (head + o->len + n > o->cap) {
		/* Grown rather than moved: up to twice max with what was sent in front. */
		size_t cap = o->cap ? o->cap : 1024;
		while (cap < head + o->len + n)
			cap *= 2;
		if (cap > 2 * max)
			cap = 2 * max;
		uint8_t *d = realloc(o->base, cap);
		if (d == NULL) {
			o->overflow = 1;
			return -ENOMEM;
		}
		resp_mem_charge(cap - o->cap);
		o->base = d;
		o->data = d + head;
		o->cap = cap;
	}
	memcpy(o->data + o->len, p, n);
	o->len += n;
	return rc;
}

int resp_out_puts(struct resp_out *o, const char *s)
{
	return resp_out_put(o, s, strlen(s));
}

int resp_out_printf(struct resp_out *o, const char *fmt, ...)
{
	char small[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n < sizeof(small))
		return resp_out_put(o, small, (size_t)n);
	char *big = malloc((size_t)n + 1);
	if (big == NULL) {
		o->overflow = 1;
		return -ENOMEM;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	int rc = resp_out_put(o, big, (size_t)n);
	free(big);
	return rc;
}

/* ---- registry ------------------------------------------------------------ */

const struct responder *resp_lookup(enum trap_proto proto)
{
	switch (proto) {
	case TRAP_PROTO_HTTP:
	case TRAP_PROTO_HTTP2:
		return &resp_http;
	case TRAP_PROTO_SMTP:
		return &resp_smtp;
	case TRAP_PROTO_FTP:
		return &resp_ftp;
	case TRAP_PROTO_POP3:
		return &resp_pop3;
	case TRAP_PROTO_IMAP:
		return &resp_imap;
	case TRAP_PROTO_IRC:
		return &resp_irc;
	case TRAP_PROTO_TELNET:
		return &resp_telnet;
	default:
		return &resp_generic;
	}
}

/* ---- per-connection state ------------------------------------------------ */

void *resp_fixed_alloc(size_t n)
{
	void *p = calloc(1, n);
	if (p != NULL)
		resp_mem_charge(n);
	return p;
}

void resp_fixed_free(void *p, size_t n)
{
	if (p == NULL)
		return;
	resp_mem_release(n);
	free(p);
}

void resp_cut_render(struct evbuf *ev, unsigned n)
{
	if (n > 0)
		ev_int(ev, RESP_CUT_KEY, n);
}

/* ---- line reader --------------------------------------------------------- */

int resp_line_init(struct resp_line *l, size_t max)
{
	memset(l, 0, sizeof(*l));
	l->buf = malloc(max + 1);
	if (l->buf == NULL)
		return -ENOMEM;
	resp_mem_charge(max + 1);
	l->max = max;
	l->buf[0] = '\0';
	return 0;
}

void resp_line_free(struct resp_line *l)
{
	if (l->buf != NULL)
		resp_mem_release(l->max + 1);
	free(l->buf);
	memset(l, 0, sizeof(*l));
}

void resp_line_clear(struct resp_line *l)
{
	l->len = 0;
	l->overlong = 0;
	l->done = 0;
	if (l->buf)
		l->buf[0] = '\0';
}

size_t resp_line_feed(struct resp_line *l, const uint8_t *p, size_t n)
{
	if (l->done)
		resp_line_clear(l);
	const uint8_t *lf = memchr(p, '\n', n);
	size_t take = lf ? (size_t)(lf - p) : n;
	size_t room = l->max - l->len;
	size_t copy = take < room ? take : room;
	if (copy < take)
		l->overlong = 1;
	memcpy(l->buf + l->len, p, copy);
	l->len += copy;
	if (lf == NULL) {
		l->buf[l->len] = '\0';
		return n;
	}
	/* The CR may have been the last byte of an earlier feed. */
	if (l->len > 0 && l->buf[l->len - 1] == '\r')
		l->len--;
	l->buf[l->len] = '\0';
	l->done = 1;
	return take + 1;
}

/* ---- the record budget --------------------------------------------------- */

void resp_record_init(struct resp_record *r, size_t max)
{
	r->used = 0;
	r->max = max ? max : RESP_RECORD_MAX;
}

int resp_record_take(struct resp_record *r, size_t n, enum resp_rec_class cls)
{
	if (r == NULL)
		return 0;
	size_t limit = r->max;
	if (cls == RESP_REC_BULK)
		limit =
		    r->max > RESP_RECORD_RESERVE ? r->max - RESP_RECORD_RESERVE : r->max / 2;
	if (cls != RESP_REC_ALWAYS && (r->used > limit || n > limit - r->used))
		return -ENOSPC;
	r->used += n;
	resp_mem_charge(n);
	return 0;
}

void resp_record_give(struct resp_record *r, size_t n)
{
	if (r == NULL)
		return;
	if (n > r->used)
		n = r->used;
	r->used -= n;
	resp_mem_release(n);
}

/* ---- recorded strings ---------------------------------------------------- */

void resp_strv_init(struct resp_strv *v, int max)
{
	memset(v, 0, sizeof(*v));
	v->max = max;
}

void resp_strv_budget(struct resp_strv *v, struct resp_record *rec, enum resp_rec_class cls)
{
	v->rec = rec;
	v->cls = cls;
}

void resp_strv_free(struct resp_strv *v)
{
	for (int i = 0; i < v->n; i++) {
		free(v->v[i]);
		resp_record_give(v->rec, v->len[i] + RESP_ITEM_COST);
	}
	free(v->v);
	free(v->len);
	resp_mem_release(v->slots);
	int max = v->max;
	struct resp_record *rec = v->rec;
	enum resp_rec_class cls = v->cls;
	memset(v, 0, sizeof(*v));
	v->max = max;
	v->rec = rec;
	v->cls = cls;
}

int resp_strv_add(struct resp_strv *v, const void *s, size_t n)
{
	return resp_strv_add_cut(v, s, n, 0);
}

int resp_strv_add_cut(struct resp_strv *v, const void *s, size_t n, int cut)
{
	/* only the first ones: none after one that was not kept */
	if (v->total++ > (unsigned)v->n || v->n >= v->max)
		return -ENOSPC;
	if (n > RESP_STR_MAX) {
		n = RESP_STR_MAX;
		cut = 1;
	}
	if (resp_record_take(v->rec, n + RESP_ITEM_COST, v->cls) < 0)
		return -ENOSPC;
	if (v->v == NULL) {
		v->v = calloc((size_t)v->max, sizeof(*v->v));
		v->len = calloc((size_t)v->max, sizeof(*v->len));
		if (v->v == NULL || v->len == NULL) {
			free(v->v);
			free(v->len);
			v->v = NULL;
			v->len = NULL;
			resp_record_give(v->rec, n + RESP_ITEM_COST);
			return -ENOMEM;
		}
		if (v->rec) {
			v->slots = (size_t)v->max * (sizeof(*v->v) + sizeof(*v->len));
			resp_mem_charge(v->slots);
		}
	}
	char *c = malloc(n + 1);
	if (c == NULL) {
		resp_record_give(v->rec, n + RESP_ITEM_COST);
		return -ENOMEM;
	}
	memcpy(c, s, n);
	c[n] = '\0';
	v->v[v->n] = c;
	v->len[v->n] = n;
	v->n++;
	v->cut += cut != 0;
	return 0;
}

unsigned resp_strv_not_kept(const struct resp_strv *v)
{
	return v->total - (unsigned)v->n;
}

void resp_str_set(struct resp_str *d, struct resp_record *rec, const void *s, size_t n)
{
	resp_str_set_cut(d, rec, s, n, 0);
}

void resp_str_set_cut(struct resp_str *d, struct resp_record *rec, const void *s, size_t n,
                      int cut)
{
	resp_str_free(d, rec);
	if (n > RESP_STR_MAX) {
		n = RESP_STR_MAX;
		cut = 1;
	}
	d->s = malloc(n + 1);
	if (d->s == NULL)
		return;
	memcpy(d->s, s, n);
	d->s[n] = '\0';
	d->len = n;
	d->cut = cut != 0;
	resp_record_take(rec, n + RESP_ITEM_COST, RESP_REC_ALWAYS);
}

void resp_str_free(struct resp_str *d, struct resp_record *rec)
{
	if (d->s)
		resp_record_give(rec, d->len + RESP_ITEM_COST);
	free(d->s);
	d->s = NULL;
	d->len = 0;
	d->cut = 0;
}

void resp_strv_render(const struct resp_strv *v, struct evbuf *ev, const char *key)
{
	if (v->n == 0)
		return;
	ev_arr(ev, key);
	for (int i = 0; i < v->n; i++)
		ev_strn(ev, "", v->v[i], v->len[i]);
	ev_close(ev);
}

/* ---- credentials --------------------------------------------------------- */

/* A copy of the first RESP_STR_MAX bytes; *cut set when there were more. */
static char *dup_bounded(const void *s, size_t *n, int *cut)
{
	if (s == NULL)
		return NULL;
	if (*n > RESP_STR_MAX) {
		*n = RESP_STR_MAX;
		*cut = 1;
	}
	char *c = malloc(*n + 1);
	if (c == NULL)
		return NULL;
	memcpy(c, s, *n);
	c[*n] = '\0';
	return c;
}

/*
 * What a kept attempt takes of the record budget: the user name as kept, room
 * for a password of any kept length (it may come later: resp_creds_set_pass),
 * and the framing of an object with three fields and the count of those cut.
 */
static size_t cred_cost(size_t ulen)
{
	return (ulen > RESP_STR_MAX ? RESP_STR_MAX : ulen) + RESP_STR_MAX + 6 * RESP_ITEM_COST;
}

void resp_creds_budget(struct resp_creds *c, struct resp_record *rec)
{
	c->rec = rec;
}

void resp_creds_add(struct resp_creds *c, const void *user, size_t ulen, const void *pass,
                    size_t plen, const char *method)
{
	resp_creds_add_cut(c, user, ulen, 0, pass, plen, 0, method);
}

void resp_creds_add_cut(struct resp_creds *c, const void *user, size_t ulen, int ucut,
                        const void *pass, size_t plen, int pcut, const char *method)
{
	/* only the first ones: none after one that was not kept */
	if (c->total++ > (unsigned)c->n || c->n >= RESP_CREDS_MAX)
		return;
	size_t cost = cred_cost(user ? ulen : 0);
	if (resp_record_take(c->rec, cost, RESP_REC_PRIORITY) < 0)
		return;
	struct resp_cred *r = &c->c[c->n++];
	r->cost = cost;
	r->ulen = ulen;
	r->plen = plen;
	r->ucut = user && ucut;
	r->pcut = pass && pcut;
	r->user = dup_bounded(user, &r->ulen, &r->ucut);
	r->pass = dup_bounded(pass, &r->plen, &r->pcut);
	r->method = method;
}

void resp_creds_mark_cut(struct resp_creds *c, int before)
{
	if (c->n <= before)
		return;
	struct resp_cred *r = &c->c[c->n - 1];
	if (r->pass)
		r->pcut = 1;
	else if (r->user)
		r->ucut = 1; /* the rendering's cost covers the marker either way */
}

void resp_creds_set_pass(struct resp_creds *c, const void *pass, size_t plen)
{
	if (c->n == 0 || c->total != (unsigned)c->n)
		return; /* the last attempt was not kept */
	struct resp_cred *r = &c->c[c->n - 1];
	free(r->pass);
	r->plen = plen;
	r->pcut = 0;
	r->pass = dup_bounded(pass, &r->plen, &r->pcut);
}

void resp_creds_free(struct resp_creds *c)
{
	for (int i = 0; i < c->n; i++) {
		resp_record_give(c->rec, c->c[i].cost);
		free(c->c[i].user);
		free(c->c[i].pass);
	}
	struct resp_record *rec = c->rec;
	memset(c, 0, sizeof(*c));
	c->rec = rec;
}

static void cred_render(const struct resp_cred *r, struct evbuf *ev, const char *key)
{
	ev_obj(ev, key);
	if (r->user)
		ev_strn(ev, "username", r->user, r->ulen);
	if (r->pass)
		ev_strn(ev, "password", r->pass, r->plen);
	ev_str(ev, "method", r->method);
	resp_cut_render(ev, (unsigned)((r->user && r->ucut) + (r->pass && r->pcut)));
	ev_close(ev);
}

void resp_creds_render(const struct resp_creds *c, struct evbuf *ev)
{
	if (c->n == 0)
		return;
	cred_render(&c->c[0], ev, "credentials");
	if (c->total > 1) {
		ev_arr(ev, "credentials_tried");
		for (int i = 0; i < c->n; i++)
			cred_render(&c->c[i], ev, "");
		ev_close(ev);
		ev_int(ev, "credentials_count", c->total);
		if (c->total > (unsigned)c->n)
			ev_int(ev, "credentials_not_kept", c->total - (unsigned)c->n);
	}
}

/* ---- payload blobs ------------------------------------------------------- */

void resp_blob_init(struct resp_blob *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void resp_blob_add(struct resp_blob *b, const void *p, size_t n)
{
	b->seen += n;
	size_t room = b->max - b->len;
	if (n > room)
		n = room;
	if (n == 0)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		if (cap > b->max)
			cap = b->max;
		uint8_t *d = realloc(b->data, cap);
		if (d == NULL)
			return; /* counted in seen, so it shows as truncated */
		resp_mem_charge(cap - b->cap);
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void resp_blob_reset(struct resp_blob *b)
{
	b->len = 0;
	b->seen = 0;
}

void resp_blob_free(struct resp_blob *b)
{
	resp_mem_release(b->cap);
	free(b->data);
	size_t max = b->max;
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void resp_blob_emit(struct resp_blob *b, const struct resp_ctx *ctx, const char *kind,
                    const char *name)
{
	if (b->seen > 0 && ctx && ctx->ops && ctx->ops->payload)
		ctx->ops->payload(ctx->arg, kind, name, b->data ? b->data : (const uint8_t *)"",
		                  b->len, b->seen > b->len);
	resp_blob_reset(b);
}

/* ---- small tools --------------------------------------------------------- */

static int b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Base64 walked byte by byte: each decoded byte goes to put(arg, byte), so
 * that a blob of any length is read without a buffer for all of it. The
 * count of decoded bytes, or -1 when in is not base64.
 */
static long b64_walk(const char *in, size_t n, void (*put)(void *, uint8_t), void *arg)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t i = 0;
	long o = 0;
	for (; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '=')
			break;
		int v = b64_val(c);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			put(arg, (uint8_t)(acc >> bits));
			o++;
		}
	}
	for (; i < n; i++)
		if (in[i] != '=')
			return -1;
	return o;
}

struct b64_head {
	uint8_t *out;
	size_t len, cap;
};

static void head_put(void *arg, uint8_t b)
{
	struct b64_head *h = arg;
	if (h->len < h->cap)
		h->out[h->len++] = b;
}

long resp_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
	struct b64_head h = {out, 0, cap};
	return b64_walk(in, n, head_put, &h);
}

/* authzid NUL authcid NUL passwd: the NULs after the second are the password's */
static void plain_put(void *arg, uint8_t b)
{
	struct resp_plain *p = arg;
	if (b == 0 && p->parts < 3) {
		p->parts++;
		return;
	}
	size_t *len = &p->len[p->parts - 1];
	if (*len < RESP_STR_MAX)
		p->v[p->parts - 1][*len] = b;
	(*len)++;
}

int resp_plain_decode(const char *b64, size_t n, struct resp_plain *p)
{
	p->len[0] = p->len[1] = p->len[2] = 0;
	p->parts = 1;
	return b64_walk(b64, n, plain_put, p) < 0 ? -1 : 0;
}

int resp_plain_record(const struct resp_plain *p, struct resp_creds *c)
{
	int u = p->parts >= 2 ? 1 : 0;
	size_t ul = p->len[u] < RESP_STR_MAX ? p->len[u] : RESP_STR_MAX;
	if (p->parts < 3) {
		resp_creds_add_cut(c, p->v[u], ul, p->len[u] > RESP_STR_MAX, NULL, 0, 0,
		                   "PLAIN");
		return 0;
	}
	size_t pl = p->len[2] < RESP_STR_MAX ? p->len[2] : RESP_STR_MAX;
	resp_creds_add_cut(c, p->v[1], ul, p->len[1] > RESP_STR_MAX, p->v[2], pl,
	                   p->len[2] > RESP_STR_MAX, "PLAIN");
	return 1;
}

enum { SASL_IDLE, SASL_PLAIN, SASL_LOGIN_USER, SASL_LOGIN_PASS };

/* A PLAIN message of any length: its credentials are recorded, cut to fit. */
static int sasl_plain(struct resp_sasl *s, const char *b64, size_t n, struct resp_creds *c)
{
	struct resp_plain p;
	s->step = SASL_IDLE;
	if (resp_plain_decode(b64, n, &p) < 0)
		return RESP_SASL_BAD;
	return resp_plain_record(&p, c) ? RESP_SASL_DONE : RESP_SASL_BAD;
}

int resp_sasl_start(struct resp_sasl *s, const char *mech, size_t ml, const char *ir,
                    size_t irl, struct resp_creds *c, const char **challenge)
{
	s->step = SASL_IDLE;
	s->ulen = 0;
	s->ucut = 0;
	/* "=" is an empty initial response (RFC 4959) */
	int have_ir = irl > 0 && !(irl == 1 && ir[0] == '=');
	if (resp_word_eq(mech, ml, "PLAIN")) {
		if (have_ir)
			return sasl_plain(s, ir, irl, c);
		s->step = SASL_PLAIN;
		*challenge = "";
		return RESP_SASL_CHALLENGE;
	}
	if (resp_word_eq(mech, ml, "LOGIN")) {
		s->step = SASL_LOGIN_USER;
		*challenge = "VXNlcm5hbWU6"; /* "Username:" */
		if (have_ir)
			return resp_sasl_step(s, ir, irl, c, challenge);
		return RESP_SASL_CHALLENGE;
	}
	return RESP_SASL_MECH;
}

int resp_sasl_step(struct resp_sasl *s, const char *line, size_t n, struct resp_creds *c,
                   const char **challenge)
{
	if (n == 1 && line[0] == '*') {
		s->step = SASL_IDLE;
		return RESP_SASL_ABORT;
	}
	if (s->step == SASL_PLAIN)
		return sasl_plain(s, line, n, c);
	/* LOGIN: a user name or a password of any length, its first bytes kept */
	uint8_t buf[RESP_STR_MAX];
	long dl = resp_b64_decode(line, n, buf, sizeof(buf));
	if (dl < 0 || (s->step != SASL_LOGIN_USER && s->step != SASL_LOGIN_PASS)) {
		s->step = SASL_IDLE;
		return RESP_SASL_BAD;
	}
	size_t kept = (size_t)dl < sizeof(buf) ? (size_t)dl : sizeof(buf);
	if (s->step == SASL_LOGIN_USER) {
		memcpy(s->user, buf, kept);
		s->ulen = kept;
		s->ucut = kept < (size_t)dl;
		s->step = SASL_LOGIN_PASS;
		*challenge = "UGFzc3dvcmQ6"; /* "Password:" */
		return RESP_SASL_CHALLENGE;
	}
	resp_creds_add_cut(c, s->user, s->ulen, s->ucut, buf, kept, kept < (size_t)dl, "LOGIN");
	s->step = SASL_IDLE;
	return RESP_SASL_DONE;
}

int resp_word_eq(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

size_t resp_split(const char *s, size_t n, const char **arg, size_t *alen)
{
	size_t v = 0;
	while (v < n && s[v] != ' ')
		v++;
	size_t a = v;
	while (a < n && s[a] == ' ')
		a++;
	*arg = s + a;
	*alen = n - a;
	return v;
}

const char *resp_echo(char *dst, size_t cap, const void *s, size_t n, size_t max)
{
	const uint8_t *p = s;
	size_t o = 0, k = n > max ? max : n;
	if (cap < 4) {
		if (cap > 0)
			dst[0] = '\0';
		return dst;
	}
	if (k > cap - 4)
		k = cap - 4;
	for (size_t i = 0; i < k; i++)
		dst[o++] = p[i] < 0x20 || p[i] == 0x7f ? '?' : (char)p[i];
	if (k < n) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
	return dst;
}

void resp_trim(const char **s, size_t *n)
{
	while (*n > 0 && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

const char *resp_hostname(const struct resp_config *cfg)
{
	return cfg && cfg->hostname && cfg->hostname[0] ? cfg->hostname : "localhost";
}

size_t resp_max_payload(const struct resp_config *cfg)
{
	return cfg && cfg->max_payload ? cfg->max_payload : RESP_PAYLOAD_MAX;
}

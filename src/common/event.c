#include "event.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/*
 * Event ids are time-ordered, so the database's unique index on them grows at
 * its right edge instead of splitting pages in the middle. 24 hex digits:
 *   11  milliseconds since the epoch (never going back within a process)
 *    5  a random tag per process
 *    8  a counter, starting at a random value
 * Two processes (here, after a restart or on another sensor) can only make
 * the same id by drawing the same tag and then the same counter value in the
 * same millisecond.
 */
static uint32_t id_tag, id_counter;
static uint64_t id_last_ms;
static int id_ready;

static void id_forget(void)
{
	id_ready = 0;
}

void event_id_init(void)
{
	static int atfork;
	uint32_t r[2] = {0, 0};
	if (getrandom(r, sizeof(r), 0) != sizeof(r)) {
		uint64_t t = (uint64_t)time_now_usec() ^ ((uint64_t)getpid() << 32);
		r[0] = (uint32_t)t ^ (uint32_t)(t >> 32);
		r[1] = (uint32_t)getpid() * 2654435761u;
	}
	id_tag = r[0] & 0xfffff;
	id_counter = r[1];
	id_ready = 1;
	/* A forked child must not repeat its parent's ids. */
	if (!atfork++)
		pthread_atfork(NULL, NULL, id_forget);
}

static void id_make(char out[25], uint64_t ms)
{
	static const char hex[] = "0123456789abcdef";
	if (!id_ready)
		event_id_init();
	if (ms < id_last_ms)
		ms = id_last_ms; /* the clock stepped back: stay ordered */
	id_last_ms = ms;
	uint64_t hi = (ms & 0xfffffffffffull) << 20 | id_tag;
	uint32_t lo = id_counter++;
	for (int i = 15; i >= 0; i--, hi >>= 4)
		out[i] = hex[hi & 15];
	for (int i = 23; i >= 16; i--, lo >>= 4)
		out[i] = hex[lo & 15];
	out[24] = '\0';
}

void event_id_new(char out[25])
{
	id_make(out, (uint64_t)time_now_usec() / 1000);
}

int64_t time_now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void evbuf_init(struct evbuf *b)
{
	memset(b, 0, sizeof(*b));
}

void evbuf_free(struct evbuf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void evbuf_reset(struct evbuf *b)
{
	b->len = 0;
	b->start = 0;
	b->depth = 0;
	b->overflow = 0;
	b->skipped = 0;
}

void evbuf_shrink(struct evbuf *b, size_t keep)
{
	if (b->cap <= keep || b->len > keep / 4)
		return;
	uint8_t *d = realloc(b->data, keep);
	if (d == NULL)
		return; /* the larger buffer stays: nothing is lost */
	b->data = d;
	b->cap = keep;
}

static void reserve_raw(struct evbuf *b, size_t n)
{
	if (b->len + n <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + n)
		cap *= 2;
	uint8_t *d = realloc(b->data, cap);
	if (d == NULL)
		fatal("event buffer");
	b->data = d;
	b->cap = cap;
}

/*
 * The record is full: nothing more is written to it. An open object that is
 * an element of an array is taken out again, as it is not whole (no header
 * name without its value), and so is each open object or array left empty,
 * so the record shows no "{}" that stood for content; the caller's ev_close
 * for each of them then closes nothing.
 */
static void truncate_here(struct evbuf *b)
{
	b->overflow = 1;
	while (b->depth > 0 &&
	       (b->element[b->depth - 1] || b->len == b->body_at[b->depth - 1])) {
		b->depth--;
		b->len = b->open_at[b->depth];
		b->skipped++;
	}
}

/*
 * Room for n more bytes in the current record, opening `opens` objects or
 * arrays; -1 once the record is full. What closing the record may still
 * need stays free: an END for each open object and array (the new ones
 * included) and the truncation marker.
 */
static int reserve(struct evbuf *b, size_t n, int opens)
{
	if (b->overflow)
		return -1;
	size_t tail = 2 * (size_t)(b->depth + opens) + EV_TRUNCATED_LEN;
	if (b->len - b->start + n + tail > EV_MAX_RECORD) {
		truncate_here(b);
		return -1;
	}
	reserve_raw(b, n);
	return 0;
}

static void put_raw_key(struct evbuf *b, enum ev_kind kind, const char *key, size_t kl)
{
	b->data[b->len++] = (uint8_t)kind;
	b->data[b->len++] = (uint8_t)kl;
	if (kl)
		memcpy(b->data + b->len, key, kl);
	b->len += kl;
}

static int put_key(struct evbuf *b, enum ev_kind kind, const char *key, size_t extra)
{
	size_t kl = key ? strlen(key) : 0;
	if (kl > 255)
		kl = 255;
	int opens = kind == EV_OBJ || kind == EV_ARR;
	if (reserve(b, 2 + kl + extra, opens) < 0)
		return -1;
	put_raw_key(b, kind, key, kl);
	return 0;
}

void ev_strn(struct evbuf *b, const char *key, const void *s, size_t n)
{
	/* A string longer than a record can never fit: it truncates the record. */
	if (n > EV_MAX_RECORD) {
		if (!b->overflow)
			truncate_here(b);
		return;
	}
	if (put_key(b, EV_STR, key, 4 + n) < 0)
		return;
	uint32_t l = (uint32_t)n;
	memcpy(b->data + b->len, &l, 4);
	memcpy(b->data + b->len + 4, s, n);
	b->len += 4 + n;
}

void ev_str(struct evbuf *b, const char *key, const char *s)
{
	if (s == NULL)
		return;
	ev_strn(b, key, s, strlen(s));
}

static void put_i64(struct evbuf *b, enum ev_kind kind, const char *key, int64_t v)
{
	if (put_key(b, kind, key, 8) < 0)
		return;
	memcpy(b->data + b->len, &v, 8);
	b->len += 8;
}

void ev_int(struct evbuf *b, const char *key, int64_t v)
{
	put_i64(b, EV_INT, key, v);
}
void ev_time(struct evbuf *b, const char *key, int64_t usec)
{
	put_i64(b, EV_TIME, key, usec);
}

void ev_bool(struct evbuf *b, const char *key, int v)
{
	if (put_key(b, EV_BOOL, key, 1) < 0)
		return;
	b->data[b->len++] = v ? 1 : 0;
}

/* Dotted quad without the C library's sprintf (two per DNS event). */
static size_t ipv4_text(const uint8_t *a, char *out)
{
	char *o = out;
	for (int i = 0; i < 4; i++) {
		unsigned v = a[i];
		if (v >= 100)
			*o++ = (char)('0' + v / 100);
		if (v >= 10)
			*o++ = (char)('0' + v / 10 % 10);
		*o++ = (char)('0' + v % 10);
		*o++ = '.';
	}
	*--o = '\0';
	return (size_t)(o - out);
}

size_t addr_text(int family, const void *addr, char out[INET6_ADDRSTRLEN])
{
	if (family == AF_INET)
		return ipv4_text(addr, out);
	if (inet_ntop(family, addr, out, INET6_ADDRSTRLEN) == NULL) {
		out[0] = '\0';
		return 0;
	}
	return strlen(out);
}

void ev_addr(struct evbuf *b, const char *key, const struct sockaddr *sa)
{
	char text[INET6_ADDRSTRLEN];
	size_t n;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		n = ipv4_text((const uint8_t *)&s4->sin_addr, text);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		/* v4-mapped addresses are shown as plain IPv4. */
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			n = ipv4_text(&s6->sin6_addr.s6_addr[12], text);
		else
			n = addr_text(AF_INET6, &s6->sin6_addr, text);
	} else {
		return;
	}
	ev_strn(b, key, text, n);
}

/* Open an object or array, or, once the record is full, count it as skipped. */
static void open_nested(struct evbuf *b, enum ev_kind kind, const char *key)
{
	if (!b->overflow && b->depth >= EV_MAX_DEPTH - 1)
		truncate_here(b); /* too deep to write: the record ends here */
	size_t at = b->len;
	if (put_key(b, kind, key, 0) < 0) {
		b->skipped++; /* its ev_close closes nothing */
		return;
	}
	b->open_at[b->depth] = at;
	b->body_at[b->depth] = b->len;
	b->element[b->depth] =
	    kind == EV_OBJ && b->depth > 0 && b->data[b->open_at[b->depth - 1]] == EV_ARR;
	b->depth++;
}

void ev_obj(struct evbuf *b, const char *key)
{
	open_nested(b, EV_OBJ, key);
}

void ev_arr(struct evbuf *b, const char *key)
{
	open_nested(b, EV_ARR, key);
}

void ev_close(struct evbuf *b)
{
	if (b->skipped > 0) {
		b->skipped--;
		return;
	}
	if (b->depth == 0)
		return;
	/* The room for END was kept free when the object was opened. */
	reserve_raw(b, 2);
	b->data[b->len++] = EV_END;
	b->data[b->len++] = 0;
	b->depth--;
}

void ev_begin(struct evbuf *b, const char *event_type, int64_t usec)
{
	char id[25];
	int64_t now = time_now_usec();
	b->start = b->len;
	b->depth = 0;
	b->overflow = 0;
	b->skipped = 0;
	reserve_raw(b, 4);
	b->len += 4;
	ev_time(b, "timestamp", usec ? usec : now);
	ev_str(b, "event_type", event_type);
	id_make(id, (uint64_t)now / 1000);
	ev_strn(b, "event_id", id, 24);
}

void ev_end(struct evbuf *b)
{
	b->skipped = 0;
	while (b->depth > 0)
		ev_close(b);
	if (b->overflow) {
		/* Its room was kept free: the record stays within EV_MAX_RECORD. */
		reserve_raw(b, EV_TRUNCATED_LEN);
		put_raw_key(b, EV_BOOL, EV_TRUNCATED_KEY, sizeof(EV_TRUNCATED_KEY) - 1);
		b->data[b->len++] = 1;
	}
	uint32_t l = (uint32_t)(b->len - b->start);
	memcpy(b->data + b->start, &l, 4);
	b->start = b->len;
}

void ev_abort(struct evbuf *b)
{
	b->len = b->start;
	b->depth = 0;
	b->overflow = 0;
	b->skipped = 0;
}

long ev_record_check(const uint8_t *buf, size_t len)
{
	uint32_t rl;
	if (len < 4)
		return -1;
	memcpy(&rl, buf, 4);
	if (rl < 4 || rl > len || rl > EV_MAX_RECORD + 64)
		return -1;
	const uint8_t *p = buf + 4, *end = buf + rl;
	int depth = 0;
	while (p < end) {
		if (end - p < 2)
			return -1;
		uint8_t kind = p[0], kl = p[1];
		p += 2;
		if ((size_t)(end - p) < kl)
			return -1;
		p += kl;
		switch (kind) {
		case EV_STR: {
			uint32_t sl;
			if (end - p < 4)
				return -1;
			memcpy(&sl, p, 4);
			p += 4;
			if ((size_t)(end - p) < sl)
				return -1;
			p += sl;
			break;
		}
		case EV_INT:
		case EV_TIME:
			if (end - p < 8)
				return -1;
			p += 8;
			break;
		case EV_BOOL:
			if (end - p < 1)
				return -1;
			p += 1;
			break;
		case EV_OBJ:
		case EV_ARR:
			if (++depth >= EV_MAX_DEPTH)
				return -1;
			break;
		case EV_END:
			if (kl != 0 || --depth < 0)
				return -1;
			break;
		default:
			return -1;
		}
	}
	if (depth != 0)
		return -1;
	return (long)rl;
}

void ev_reader_init(struct ev_reader *r, const uint8_t *rec, size_t reclen)
{
	r->p = rec + 4;
	r->end = rec + reclen;
	r->depth = 0;
}

int ev_reader_next(struct ev_reader *r, struct ev_field *f)
{
	if (r->p >= r->end)
		return 0;
	memset(f, 0, sizeof(*f));
	f->kind = r->p[0];
	f->keylen = r->p[1];
	f->key = (const char *)r->p + 2;
	r->p += 2 + f->keylen;
	f->depth = r->depth;
	switch (f->kind) {
	case EV_STR: {
		uint32_t sl;
		memcpy(&sl, r->p, 4);
		f->str = r->p + 4;
		f->strlen = sl;
		r->p += 4 + sl;
		break;
	}
	case EV_INT:
	case EV_TIME:
		memcpy(&f->i, r->p, 8);
		r->p += 8;
		break;
	case EV_BOOL:
		f->i = r->p[0];
		r->p += 1;
		break;
	case EV_OBJ:
	case EV_ARR:
		r->depth++;
		break;
	case EV_END:
		r->depth--;
		f->depth = r->depth;
		break;
	}
	return 1;
}

int ev_find(const uint8_t *rec, size_t reclen, const char *path, struct ev_field *out)
{
	struct ev_reader r;
	struct ev_field f;
	const char *seg = path;
	int want_depth = 0;
	ev_reader_init(&r, rec, reclen);
	while (ev_reader_next(&r, &f)) {
		if (f.kind == EV_END) {
			if (f.depth < want_depth)
				return 0; /* left the object the path names */
			continue;
		}
		if (f.depth != want_depth)
			continue;
		const char *dot = strchr(seg, '.');
		size_t sl = dot ? (size_t)(dot - seg) : strlen(seg);
		if (f.keylen != sl || memcmp(f.key, seg, sl) != 0)
			continue;
		if (dot == NULL) {
			*out = f;
			return 1;
		}
		if (f.kind != EV_OBJ)
			return 0;
		seg = dot + 1;
		want_depth++;
	}
	return 0;
}

/*
 * Fuzz the HTTP responder. The first byte picks configuration variants and
 * seeds the split points; the rest is the client's byte stream. The stream
 * is fed whole and again split at pseudo-random points, and both runs must
 * agree byte for byte (replies, payloads, event fields): a responder whose
 * answer depends on how TCP cut the stream is a bug, not just a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trap/responder.h"

struct run {
	uint64_t payload_hash;
	int payloads;
	int act;
	struct resp_out out;
	struct evbuf ev;
	size_t fields_at;
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

static void on_payload(void *arg, const char *kind, const char *name, const uint8_t *data,
                       size_t len, int truncated)
{
	struct run *r = arg;
	r->payloads++;
	r->payload_hash = fnv(r->payload_hash, kind, strlen(kind));
	if (name)
		r->payload_hash = fnv(r->payload_hash, name, strlen(name));
	r->payload_hash = fnv(r->payload_hash, data, len);
	r->payload_hash = fnv(r->payload_hash, &truncated, sizeof(truncated));
}

static int64_t fixed_now(void *arg)
{
	return 1700000000000000LL;
}

static void run_once(const struct responder *rs, const struct resp_config *cfg,
                     const uint8_t *d, size_t n, uint32_t seed, int split, struct run *r)
{
	struct resp_ops ops = {.payload = on_payload, .now_usec = fixed_now};
	struct resp_ctx ctx = {.ops = &ops,
	                       .arg = r,
	                       .local_ip = "192.0.2.1",
	                       .peer_ip = "198.51.100.2",
	                       .local_port = 80};
	memset(r, 0, sizeof(*r));
	r->payload_hash = 1469598103934665603ull;
	resp_out_init(&r->out, 0);
	evbuf_init(&r->ev);
	void *st = rs->create(cfg, &ctx);
	if (st == NULL)
		abort();
	r->act = rs->start(st, &r->out);
	size_t i = 0;
	while (i < n && r->act != RESP_CLOSE && r->act != RESP_STARTTLS && r->act >= 0) {
		size_t k = n - i;
		if (split) {
			seed = seed * 1103515245 + 12345;
			k = 1 + (seed >> 16) % 17;
			if (k > n - i)
				k = n - i;
		}
		r->act = rs->input(st, d + i, k, &r->out);
		i += k;
	}
	if (r->act == RESP_CONTINUE || r->act == RESP_NEED_MORE)
		r->act = rs->timeout(st, &r->out);
	rs->end(st);
	ev_begin(&r->ev, "trap", 1);
	r->fields_at = r->ev.len;
	rs->fields(st, &r->ev);
	ev_end(&r->ev);
	if (ev_record_check(r->ev.data, r->ev.len) != (long)r->ev.len)
		abort();
	/* what a connection records fits its part of the event (40 KiB) */
	if (r->ev.len - r->fields_at > 40 * 1024)
		abort();
	rs->destroy(st);
}

static void compare(struct run *a, struct run *b)
{
	if (a->act != b->act || a->out.len != b->out.len ||
	    (a->out.len && memcmp(a->out.data, b->out.data, a->out.len) != 0) ||
	    a->payloads != b->payloads || a->payload_hash != b->payload_hash ||
	    a->ev.len - a->fields_at != b->ev.len - b->fields_at ||
	    memcmp(a->ev.data + a->fields_at, b->ev.data + b->fields_at,
	           a->ev.len - a->fields_at))
		abort();
	resp_out_free(&a->out);
	resp_out_free(&b->out);
	evbuf_free(&a->ev);
	evbuf_free(&b->ev);
	if (resp_mem_held() != 0) /* the worker's memory budget counts true */
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t page[] = "stand-in\n";
	if (size < 1)
		return 0;
	struct resp_config cfg = {0};
	uint8_t v = data[0];
	if (v & 1)
		cfg.max_payload = 64;
	if (v & 2) {
		cfg.http.body = page;
		cfg.http.body_len = sizeof(page) - 1;
		cfg.http.content_type = "text/plain";
	}
	if (v & 4)
		cfg.http.status = 404;
	struct run whole, cut;
	run_once(&resp_http, &cfg, data + 1, size - 1, v, 0, &whole);
	run_once(&resp_http, &cfg, data + 1, size - 1, v, 1, &cut);
	compare(&whole, &cut);
	return 0;
}

/*
 * Fuzz the FTP, POP3, IMAP, telnet and generic responders. Byte 0 picks
 * the responder; byte 1 the mode and configuration variants:
 *   bit 0 clear: differential: the stream is fed whole and again split at
 *                pseudo-random points; both runs must agree byte for byte.
 *   bit 0 set:   events: the stream is cut into steps that are client input,
 *                idle timeouts, data-channel bytes and data-channel closes
 *                (FTP), in pseudo-random order; it must never crash or leak.
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
	uint32_t seed;
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

static int on_listen(void *arg, uint16_t *port)
{
	struct run *r = arg;
	r->seed = r->seed * 1103515245 + 12345;
	if ((r->seed >> 16) % 13 == 0)
		return -1; /* the worker may fail to listen */
	*port = 40000;
	return 0;
}

static int on_send(void *arg, const uint8_t *data, size_t len)
{
	struct run *r = arg;
	r->payload_hash = fnv(r->payload_hash, data, len);
	return 0;
}

static uint32_t next(uint32_t *seed)
{
	*seed = *seed * 1103515245 + 12345;
	return *seed >> 16;
}

static void run_once(const struct responder *rs, const struct resp_config *cfg,
                     const uint8_t *d, size_t n, uint32_t seed, int mode, struct run *r)
{
	struct resp_ops ops = {
	    .payload = on_payload, .listen_data = on_listen, .send_data = on_send};
	struct resp_ctx ctx = {.ops = &ops,
	                       .arg = r,
	                       .local_ip = "192.0.2.1",
	                       .peer_ip = "198.51.100.2",
	                       .local_port = 21};
	memset(r, 0, sizeof(*r));
	r->payload_hash = 1469598103934665603ull;
	r->seed = seed;
	resp_out_init(&r->out, 0);
	evbuf_init(&r->ev);
	void *st = rs->create(cfg, &ctx);
	if (st == NULL)
		abort();
	r->act = rs->start(st, &r->out);
	size_t i = 0;
	while (i < n && r->act != RESP_CLOSE && r->act != RESP_STARTTLS && r->act >= 0) {
		size_t k = n - i;
		if (mode > 0)
			k = 1 + next(&seed) % 17;
		if (k > n - i)
			k = n - i;
		uint32_t op = mode == 2 ? next(&seed) % 16 : 0;
		if (op == 1) {
			r->act = rs->timeout(st, &r->out);
			continue;
		}
		if (op >= 2 && op <= 4 && rs->data_input) {
			r->act = rs->data_input(st, d + i, k, &r->out);
			i += k;
			continue;
		}
		if (op == 5 && rs->data_closed) {
			r->act = rs->data_closed(st, (int)(next(&seed) & 1) - 1, &r->out);
			continue;
		}
		r->act = rs->input(st, d + i, k, &r->out);
		i += k;
		/* the worker drains the output now and then */
		if (mode == 2 && (next(&seed) & 3) == 0)
			resp_out_consume(&r->out, r->out.len / 2);
	}
	if (r->act == RESP_CONTINUE || r->act == RESP_NEED_MORE)
		r->act = rs->timeout(st, &r->out);
	rs->end(st);
	rs->end(st); /* idempotent */
	ev_begin(&r->ev, "trap", 1);
	r->fields_at = r->ev.len;
	rs->fields(st, &r->ev);
	ev_end(&r->ev);
	if (ev_record_check(r->ev.data, r->ev.len) != (long)r->ev.len)
		abort();
	if (rs->domain) {
		/* the name is the responder's own bytes, read in full */
		const char *name = NULL;
		size_t n = rs->domain(st, &name);
		volatile char sink = 0;
		for (size_t j = 0; j < n; j++)
			sink ^= name[j];
		(void)sink;
	}
	rs->destroy(st);
}

static void release(struct run *r)
{
	resp_out_free(&r->out);
	evbuf_free(&r->ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t file[] = "stand-in";
	static const struct responder *const rs[] = {&resp_ftp, &resp_pop3, &resp_imap,
	                                             &resp_telnet, &resp_generic};
	if (size < 2)
		return 0;
	const struct responder *r = rs[data[0] % 5];
	uint8_t v = data[1];
	struct resp_config cfg = {0};
	cfg.starttls = (v >> 1) & 1;
	cfg.login_reject = (v >> 2) & 1;
	if (v & 8) {
		cfg.max_payload = 64;
		cfg.max_raw = 64;
	}
	if (v & 16) {
		cfg.ftp.file = file;
		cfg.ftp.file_len = sizeof(file) - 1;
	}
	const uint8_t *d = data + 2;
	size_t n = size - 2;
	struct run a, b;
	if (v & 1) {
		run_once(r, &cfg, d, n, v, 2, &a);
		release(&a);
		if (resp_mem_held() != 0) /* the worker's memory budget counts true */
			abort();
		return 0;
	}
	run_once(r, &cfg, d, n, v, 0, &a);
	run_once(r, &cfg, d, n, v, 1, &b);
	if (a.act != b.act || a.out.len != b.out.len ||
	    (a.out.len && memcmp(a.out.data, b.out.data, a.out.len) != 0) ||
	    a.payloads != b.payloads || a.payload_hash != b.payload_hash ||
	    a.ev.len - a.fields_at != b.ev.len - b.fields_at ||
	    memcmp(a.ev.data + a.fields_at, b.ev.data + b.fields_at, a.ev.len - a.fields_at) !=
	        0)
		abort();
	release(&a);
	release(&b);
	if (resp_mem_held() != 0)
		abort();
	return 0;
}

/*
 * Generic responder: stays silent and records what arrives, up to max_raw
 * bytes, as one "raw" payload. Closes at the first idle timeout, or once more
 * than the bound has arrived (there is nothing more to learn from a flood).
 */
#include "resp_common.h"

#include <stdlib.h>
#include <string.h>

#define GENERIC_HEAD 256 /* bytes shown in the event itself */

struct generic {
	const struct resp_ctx *ctx;
	struct resp_blob raw;
	uint64_t seen;
	uint8_t head[GENERIC_HEAD];
	size_t headlen;
	int ended;
};

static void *generic_create(const struct resp_config *cfg, const struct resp_ctx *ctx)
{
	struct generic *g = resp_fixed_alloc(sizeof(*g));
	if (g == NULL)
		return NULL;
	g->ctx = ctx;
	resp_blob_init(&g->raw, cfg && cfg->max_raw ? cfg->max_raw : RESP_RAW_MAX);
	return g;
}

static int generic_start(void *st, struct resp_out *out)
{
	return RESP_CONTINUE;
}

static int generic_input(void *st, const uint8_t *buf, size_t n, struct resp_out *out)
{
	struct generic *g = st;
	g->seen += n;
	size_t cap = g->raw.max < GENERIC_HEAD ? g->raw.max : GENERIC_HEAD;
	if (g->headlen < cap) {
		size_t k = cap - g->headlen < n ? cap - g->headlen : n;
		memcpy(g->head + g->headlen, buf, k);
		g->headlen += k;
	}
	resp_blob_add(&g->raw, buf, n);
	/* past the bound (not at it: how the stream was cut must not matter) */
	return g->raw.seen > g->raw.max ? RESP_CLOSE : RESP_CONTINUE;
}

static int generic_timeout(void *st, struct resp_out *out)
{
	return RESP_CLOSE;
}

static void generic_end(void *st)
{
	struct generic *g = st;
	if (g->ended)
		return;
	g->ended = 1;
	resp_blob_emit(&g->raw, g->ctx, "raw", NULL);
}

static void generic_fields(void *st, struct evbuf *ev)
{
	struct generic *g = st;
	ev_obj(ev, "raw");
	/* bytes kept; the worker may have read more before it closed */
	ev_int(ev, "length", (int64_t)(g->seen < g->raw.max ? g->seen : g->raw.max));
	if (g->seen > g->raw.max)
		ev_bool(ev, "truncated", 1);
	if (g->headlen > 0)
		ev_strn(ev, "head", g->head, g->headlen);
	ev_close(ev);
}

static void generic_destroy(void *st)
{
	struct generic *g = st;
	if (g == NULL)
		return;
	resp_blob_free(&g->raw);
	resp_fixed_free(g, sizeof(*g));
}

const struct responder resp_generic = {
    .name = "generic",
    .proto = TRAP_PROTO_UNKNOWN,
    .create = generic_create,
    .start = generic_start,
    .input = generic_input,
    .timeout = generic_timeout,
    .end = generic_end,
    .fields = generic_fields,
    .destroy = generic_destroy,
};

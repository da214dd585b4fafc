/*
 * Packet decoder: the first byte picks the link type, the rest is the
 * captured frame. Decode, take the flow key and its Community ID, decode a
 * tunnel's inner packet, and feed a small flow table (its eviction, sweeps
 * and fragment memory run too, later fragments held for their first
 * included; the time comes from the input) and a fragment map as a scan of
 * a capture file keeps one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "capture/communityid.h"
#include "capture/decode.h"
#include "capture/flow.h"

static const uint32_t linktypes[] = {
    DECODE_LINK_ETHERNET, DECODE_LINK_RAW,     DECODE_LINK_NULL,     DECODE_LINK_LOOP,
    DECODE_LINK_SLL,      DECODE_LINK_SLL2,    DECODE_LINK_PPP,      DECODE_LINK_IPV4,
    DECODE_LINK_IPV6,     DECODE_LINK_RAW_BSD, DECODE_LINK_RAW_OBSD,
};

static struct flow_table *ft;
static struct flow_frags *frags;
static uint64_t tags;

/* A held fragment is counted in a live flow, in one of its two directions. */
static void on_held(void *arg, const struct flow *f, int dir, const struct flow_frag_held *h)
{
	(void)arg;
	if (f == NULL || (dir != 0 && dir != 1) || f->key.family != h->key.family ||
	    f->key.proto != h->key.proto || (h->tag != FLOW_TAG_NONE && h->tag > tags))
		abort();
}

static void check(const struct decode_pkt *d, size_t len)
{
	if (d->l3 == 0)
		return;
	if (d->l3_off >= len || d->payload_off + d->payload_cap > len ||
	    (d->tunnel && d->inner_off > len))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct decode_pkt d, in;
	struct decode_key k;
	char cid[COMMUNITYID_STRLEN];
	int dir;

	if (size < 1)
		return 0;
	if (ft == NULL) {
		struct flow_config c;
		flow_config_default(&c);
		c.capacity = 64;
		c.hash_seed = 1;
		c.held_cb = on_held;
		if (flow_table_new(&ft, &c) < 0 || flow_frags_new(&frags) < 0)
			abort();
	}
	uint32_t lt = linktypes[data[0] % (sizeof(linktypes) / sizeof(linktypes[0]))];
	data++;
	size--;

	int rc = decode_packet(lt, data, size, &d);
	check(&d, size);
	if (rc == 0 && decode_key_get(&d, &k) == 0) {
		communityid_compute(0, k.family, k.src, k.dst, k.proto, k.sport, k.dport, cid);
		/* time from the packet's own bytes: jumps back and forth */
		int64_t ts = 0;
		memcpy(&ts, data, size < 8 ? size : 8);
		uint32_t file = (uint32_t)(size & 3);
		flow_table_set_file(ft, file);
		if (flow_table_track(ft, &d, ts, (uint32_t)size, &dir) == NULL &&
		    dir == FLOW_DIR_HELD)
			flow_table_tag_held(ft, ++tags);
		if (size > 0 && data[size - 1] == 0xff) /* now and then a file finishes */
			flow_table_release_frags(ft, file);
		/* as a scan of a capture file: those past their time, the packet, the rest */
		struct flow_frag_held h,
		    hold = {.ts_ns = ts, .wirelen = (uint32_t)size, .tag = 1};
		while (flow_frags_take(frags, ts, &h))
			;
		flow_frags_ports(frags, &d, ts, &k, &hold);
		while (flow_frags_take(frags, ts, &h))
			if (h.tag != 1)
				abort();
	}
	if (rc == 0 && d.tunnel && d.inner_off <= size) {
		if (decode_packet(d.inner_linktype, data + d.inner_off, size - d.inner_off,
		                  &in) == 0)
			check(&in, size - d.inner_off);
	}
	return 0;
}

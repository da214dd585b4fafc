/*
 * SSH client parsers: the input as a connection's first bytes (banner, then
 * the KEXINIT after it), and as a KEXINIT payload in a well-framed packet,
 * so that mutations reach the name-lists directly.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/event.h"
#include "trap/sshbanner.h"

static struct ssh_banner banner;
static struct ssh_kexinit kex;
static uint8_t packet[SSH_PACKET_MAX];

static void emit(const struct ssh_kexinit *k)
{
	struct evbuf b;
	evbuf_init(&b);
	ev_begin(&b, "trap", 1);
	ssh_event_fields(&banner, k, &b);
	ev_end(&b);
	if (ev_record_check(b.data, b.len) != (long)b.len)
		abort();
	evbuf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int rc = ssh_banner_parse(data, size, &banner, NULL, 0);
	if (rc == 0) {
		if (banner.consumed > size || banner.line_len >= SSH_BANNER_MAX ||
		    strlen(banner.line) != banner.line_len)
			abort();
		rc = ssh_kexinit_parse(data + banner.consumed, size - banner.consumed, &kex,
		                       NULL, 0);
		if (rc == 0 &&
		    (kex.packet_len > size - banner.consumed || strlen(kex.hassh) != 32))
			abort();
		emit(rc == 0 ? &kex : NULL);
	} else if (rc == -EAGAIN && size > SSH_BANNER_MAX_INPUT) {
		abort();
	}

	/* The input as a KEXINIT payload after the message number. */
	if (size + 1 + 4 + 5 <= sizeof(packet)) {
		size_t plen = 1 + 1 + size + 4;
		packet[0] = (uint8_t)(plen >> 24);
		packet[1] = (uint8_t)(plen >> 16);
		packet[2] = (uint8_t)(plen >> 8);
		packet[3] = (uint8_t)plen;
		packet[4] = 4;
		packet[5] = 20;
		memcpy(packet + 6, data, size);
		memset(packet + 6 + size, 0, 4);
		if (ssh_kexinit_parse(packet, 4 + plen, &kex, NULL, 0) == 0 &&
		    kex.packet_len != 4 + plen)
			abort();
	}
	return 0;
}

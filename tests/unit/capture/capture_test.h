/*
 * Shared helpers of the capture unit tests: the path of a shared capture, a
 * loop over its decoded packets, and a temporary directory for a group of
 * tests. Header-only (static functions), included by each test after
 * <cmocka.h>.
 */
#ifndef SINKTRAP_TEST_CAPTURE_H
#define SINKTRAP_TEST_CAPTURE_H

#include <arpa/inet.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../test_dir.h"
#include "capture/decode.h"
#include "capture/pcapfile.h"

#ifndef SHARED_DATA
#define SHARED_DATA "../shared/data"
#endif

static inline const char *pcap_path(const char *name)
{
	static char path[1024];
	snprintf(path, sizeof(path), "%s/pcaps/%s", SHARED_DATA, name);
	return path;
}

/* Skip the calling test when the shared captures are not there. */
#define NEED_PCAP(name)                                                                        \
	do {                                                                                   \
		if (access(pcap_path(name), R_OK) != 0) {                                      \
			fprintf(stderr, "no %s: skipped\n", pcap_path(name));                  \
			skip();                                                                \
		}                                                                              \
	} while (0)

static inline void addr_parse(const char *s, int *family, uint8_t out[16])
{
	memset(out, 0, 16);
	*family = strchr(s, ':') ? 6 : 4;
	assert_int_equal(inet_pton(*family == 4 ? AF_INET : AF_INET6, s, out), 1);
}

/*
 * One UDP datagram (sport -> dport, 24 bytes of data) from src to dst in three
 * IPv4 fragments (raw IP, LINKTYPE_RAW) of IP id: frag[0] the first (the UDP
 * header and 8 bytes), frag[1] bytes 16..23, frag[2] the last 8. Lengths in len.
 */
static inline void udp_fragments(const char *src, const char *dst, uint16_t id, uint16_t sport,
                                 uint16_t dport, uint8_t frag[3][64], size_t len[3])
{
	uint8_t dg[32] = {(uint8_t)(sport >> 8),
	                  (uint8_t)sport,
	                  (uint8_t)(dport >> 8),
	                  (uint8_t)dport,
	                  0,
	                  32};
	static const uint16_t word[3] = {0x2000, 0x2002, 0x0003}; /* more, offset / 8 */
	static const size_t at[3] = {0, 16, 24}, n[3] = {16, 8, 8};
	int fam;
	for (int i = 8; i < 32; i++)
		dg[i] = (uint8_t)('a' + i);
	for (int i = 0; i < 3; i++) {
		uint8_t *b = frag[i];
		memset(b, 0, 64);
		b[0] = 0x45;
		b[3] = (uint8_t)(20 + n[i]);
		b[4] = (uint8_t)(id >> 8);
		b[5] = (uint8_t)id;
		b[6] = (uint8_t)(word[i] >> 8);
		b[7] = (uint8_t)word[i];
		b[8] = 64;
		b[9] = 17;
		uint8_t a[16];
		addr_parse(src, &fam, a);
		memcpy(b + 12, a, 4);
		addr_parse(dst, &fam, a);
		memcpy(b + 16, a, 4);
		memcpy(b + 20, dg + at[i], n[i]);
		len[i] = 20 + n[i];
	}
}

typedef void packet_fn(void *arg, const struct pcapfile_pkt *p, const struct decode_pkt *d,
                       int rc);

/* Read and decode every packet of a shared capture; returns the count. */
static inline long each_packet(const char *name, packet_fn *fn, void *arg)
{
	struct pcapfile_reader *r;
	struct pcapfile_pkt p;
	char err[256];
	long n = 0;
	int rc = pcapfile_reader_open_path(&r, pcap_path(name), err, sizeof(err));
	if (rc < 0)
		fail_msg("%s: %s", name, err);
	while ((rc = pcapfile_reader_next(r, &p)) == 1) {
		struct decode_pkt d;
		int drc = decode_packet(p.linktype, p.data, p.caplen, &d);
		if (fn)
			fn(arg, &p, &d, drc);
		n++;
	}
	if (rc != 0)
		fail_msg("%s: %s", name, pcapfile_reader_error(r));
	pcapfile_reader_close(&r);
	return n;
}

#endif

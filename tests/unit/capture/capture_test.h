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

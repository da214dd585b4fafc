/*
 * Capture file reader over arbitrary bytes, both ways in: as a memory image
 * and as a stream. The two must agree packet for packet (offsets, lengths,
 * times, link types) and end the same way; every packet is then decoded.
 * Odd-sized inputs run in lenient mode (packets longer than the snaplen kept).
 * Then the sparse file reader (what `sinktrap pcap` uses) seeks to the
 * packets' offsets in an order taken from the input, forward, back and within
 * what it has read, and must find the packets the memory reader found
 * (pcap files: a pcapng reader seeks only where its interfaces are known).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "capture/decode.h"
#include "capture/pcapfile.h"

#define SPARSE_PKTS 256

static void check_sparse(const uint8_t *data, size_t size, int lenient)
{
	struct pcapfile_reader *m = NULL, *r = NULL;
	struct pcapfile_pkt p, pkts[SPARSE_PKTS];
	char err[256], path[64];
	size_t n = 0;
	if (pcapfile_reader_open_mem(&m, data, size, err, sizeof(err)) < 0)
		return;
	if (pcapfile_reader_format(m) == PCAPFILE_PCAPNG) {
		/* a pcapng reader knows the interfaces it has passed: seeks stay
		 * within a section whose interfaces lead it (as the spool's do) */
		pcapfile_reader_close(&m);
		return;
	}
	pcapfile_reader_set_lenient(m, lenient);
	while (n < SPARSE_PKTS && pcapfile_reader_next(m, &p) == 1)
		pkts[n++] = p;
	pcapfile_reader_close(&m);
	if (n == 0)
		return;
	int fd = memfd_create("fuzz-pcap", MFD_CLOEXEC);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (pcapfile_reader_open_sparse(&r, path, err, sizeof(err)) < 0)
		abort();
	pcapfile_reader_set_lenient(r, lenient);
	for (size_t i = 0; i < 2 * n; i++) {
		size_t k = (i + data[i % size] * 31u) % n;
		if (pcapfile_reader_seek(r, pkts[k].offset) < 0 ||
		    pcapfile_reader_next(r, &p) != 1)
			abort();
		if (p.offset != pkts[k].offset || p.caplen != pkts[k].caplen ||
		    p.ts_ns != pkts[k].ts_ns || p.linktype != pkts[k].linktype ||
		    memcmp(p.data, pkts[k].data, p.caplen) != 0)
			abort();
		/* and on from there, as a run of a session's packets is read */
		if (k + 1 < n && (data[i % size] & 1)) {
			if (pcapfile_reader_next(r, &p) != 1 ||
			    p.offset != pkts[k + 1].offset ||
			    memcmp(p.data, pkts[k + 1].data, p.caplen) != 0)
				abort();
		}
	}
	pcapfile_reader_close(&r);
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pcapfile_reader *m = NULL, *s = NULL;
	struct pcapfile_pkt p, q;
	struct decode_pkt d;
	char err[256];

	int rm = pcapfile_reader_open_mem(&m, data, size, err, sizeof(err));
	FILE *f = size ? fmemopen((void *)data, size, "rb") : NULL;
	int rs = f ? pcapfile_reader_open_stream(&s, f, err, sizeof(err)) : rm;
	if ((rm < 0) != (rs < 0))
		abort();
	if (size & 1) {
		if (m)
			pcapfile_reader_set_lenient(m, 1);
		if (s)
			pcapfile_reader_set_lenient(s, 1);
	}
	for (int n = 0; rm == 0 && n < 100000; n++) {
		int a = pcapfile_reader_next(m, &p);
		int b = s ? pcapfile_reader_next(s, &q) : a;
		if (a != b)
			abort();
		if (a != 1)
			break;
		if (s && (p.offset != q.offset || p.caplen != q.caplen || p.ts_ns != q.ts_ns ||
		          p.linktype != q.linktype || memcmp(p.data, q.data, p.caplen) != 0))
			abort();
		if (p.caplen > PCAPFILE_MAX_CAPLEN || p.data < data ||
		    p.data + p.caplen > data + size)
			abort();
		decode_packet(p.linktype, p.data, p.caplen, &d);
	}
	if (m && pcapfile_reader_offset(m) > size)
		abort();
	pcapfile_reader_close(&m);
	pcapfile_reader_close(&s);
	if (f)
		fclose(f);
	if (rm == 0)
		check_sparse(data, size, (int)(size & 1));
	return 0;
}

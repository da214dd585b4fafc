/*
 * Capture file reader over arbitrary bytes, both ways in: as a memory image
 * and as a stream. The two must agree packet for packet (offsets, lengths,
 * times, link types) and end the same way; every packet is then decoded.
 * Odd-sized inputs run in lenient mode (packets longer than the snaplen kept).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/decode.h"
#include "capture/pcapfile.h"

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
	return 0;
}

/*
 * capgen: big captures for the capture benchmarks, made of real ones.
 *
 * The inputs (pcap or pcapng, Ethernet) are looped until SIZE MB are
 * written, as classic microsecond pcap files of FILE MB each (the way a
 * capture tool rotates its output). Each round is shifted in time to follow
 * the one before, and with -u each round's addresses are moved into a range
 * of their own (IPv4: second and third octets; IPv6: bytes 4 and 5) so every
 * round's sessions are distinct.
 *
 *   capgen [-u] OUTPREFIX SIZE_MB FILE_MB INPUT...
 *   -> OUTPREFIX-001.pcap, OUTPREFIX-002.pcap, ...
 *
 * Build: cc -O2 -D_GNU_SOURCE -Isrc bench/capture/capgen.c src/capture/pcapfile.c -o capgen
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture/pcapfile.h"

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "capgen: %s: %s\n", what, msg);
	exit(1);
}

static uint16_t csum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)(p[n - 1] << 8);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* Move the IPv4 addresses of an Ethernet frame (behind up to two VLAN tags) to round r. */
static void rewrite(uint8_t *f, uint32_t len, unsigned r)
{
	uint32_t off = 12;
	for (int tags = 0; tags < 2 && off + 4 <= len; tags++) {
		uint16_t et = (uint16_t)(f[off] << 8 | f[off + 1]);
		if (et != 0x8100 && et != 0x88a8)
			break;
		off += 4;
	}
	if (off + 2 > len)
		return;
	if (f[off] == 0x86 && f[off + 1] == 0xdd) {
		uint8_t *ip6 = f + off + 2;
		if (len - off - 2 < 40 || (ip6[0] >> 4) != 6)
			return;
		for (int a = 8; a <= 24; a += 16) {
			ip6[a + 4] ^= (uint8_t)(r & 0xff);
			ip6[a + 5] ^= (uint8_t)((r >> 8) & 0xff);
		}
		return;
	}
	if (f[off] != 0x08 || f[off + 1] != 0x00)
		return;
	uint8_t *ip = f + off + 2;
	uint32_t room = len - off - 2;
	if (room < 20 || (ip[0] >> 4) != 4)
		return;
	uint32_t ihl = (uint32_t)(ip[0] & 15) * 4;
	if (ihl < 20 || ihl > room)
		return;
	for (int a = 12; a <= 16; a += 4) {
		ip[a + 1] ^= (uint8_t)(r & 0xff);
		ip[a + 2] ^= (uint8_t)((r >> 8) & 0xff);
	}
	ip[10] = ip[11] = 0;
	uint16_t c = csum(ip, ihl);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
}

int main(int argc, char **argv)
{
	int unique = 0, ch;
	while ((ch = getopt(argc, argv, "u")) != -1) {
		if (ch == 'u')
			unique = 1;
		else
			return 2;
	}
	if (argc - optind < 4) {
		fprintf(stderr, "usage: capgen [-u] OUTPREFIX SIZE_MB FILE_MB INPUT...\n");
		return 2;
	}
	const char *prefix = argv[optind];
	uint64_t total = (uint64_t)atol(argv[optind + 1]) << 20;
	uint64_t per = (uint64_t)atol(argv[optind + 2]) << 20;
	char **inputs = argv + optind + 3;
	int ninputs = argc - optind - 3;
	static uint8_t frame[PCAPFILE_MAX_CAPLEN];
	char err[256], path[4096];
	struct pcapfile_writer *w = NULL;
	uint64_t written = 0, pkts = 0;
	int64_t shift = 0, last = 0;
	int nfile = 0;
	unsigned round = 0;

	while (written < total) {
		for (int i = 0; i < ninputs && written < total; i++) {
			struct pcapfile_reader *r;
			struct pcapfile_pkt p;
			int64_t first = 0;
			int have = 0;
			if (pcapfile_reader_open_path(&r, inputs[i], err, sizeof(err)) < 0)
				die(inputs[i], err);
			while (written < total && pcapfile_reader_next(r, &p) == 1) {
				if (p.linktype != 1)
					continue;
				if (!have) {
					first = p.ts_ns;
					have = 1;
				}
				if (w == NULL) {
					snprintf(path, sizeof(path), "%s-%03d.pcap", prefix,
					         ++nfile);
					unlink(path);
					if (pcapfile_writer_open_path(&w, path, PCAPFILE_PCAP,
					                              1, 65535, err,
					                              sizeof(err)) < 0)
						die(path, err);
				}
				int64_t ts = p.ts_ns - first + shift;
				if (ts > last)
					last = ts;
				memcpy(frame, p.data, p.caplen);
				if (unique)
					rewrite(frame, p.caplen, round + 1);
				if (pcapfile_writer_write(w, ts, frame, p.caplen, p.origlen,
				                          NULL) < 0)
					die(path, "write failed");
				pkts++;
				if (pcapfile_writer_offset(w) >= per) {
					written += pcapfile_writer_offset(w);
					if (pcapfile_writer_close(&w) < 0)
						die(path, "close failed");
				}
			}
			pcapfile_reader_close(&r);
			shift = last + 1000000; /* the next round starts a millisecond later */
		}
		round++;
	}
	if (w) {
		written += pcapfile_writer_offset(w);
		if (pcapfile_writer_close(&w) < 0)
			die(path, "close failed");
	}
	printf("%d files, %llu packets, %.1f MB, %u rounds\n", nfile, (unsigned long long)pkts,
	       (double)written / 1048576.0, round);
	return 0;
}

/*
 * Capture files: every shared capture read by magic (pcapng named .pcap),
 * offsets that lead back to the same record, stream and stdin reading,
 * byte orders, timestamp resolutions, sections and interfaces, truncation
 * and corruption at every byte, the writer's formats, appending, what a
 * kill -9 leaves behind, a write that fails, and reading up to a limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "capture/pcapfile.h"
#include "capture_test.h"

static const struct {
	const char *name;
	enum pcapfile_format fmt;
	uint32_t linktype;
	long packets;
} shared[] = {
    {"capture-Thu-11-24-16-10-28-11_cerber.pcap", PCAPFILE_PCAPNG, 1, 15236},
    {"cryptowall4_c2.pcapng", PCAPFILE_PCAPNG, 1, 162},
    {"dns_query_nonexistent.pcapng", PCAPFILE_PCAPNG, 1, 2},
    {"dns_tcp.pcapng", PCAPFILE_PCAPNG, 1, 14},
    {"ek_to_cryptowall4.pcapng", PCAPFILE_PCAPNG, 1, 653},
    {"evilfingers_xscan_capture.pcap", PCAPFILE_PCAP, 1, 12014},
    {"honeynet_fc2010-1_attack-trace.pcap", PCAPFILE_PCAP, 1, 348},
    {"http_espn.pcapng", PCAPFILE_PCAPNG, 1, 956},
    {"http_ip4and6.pcapng", PCAPFILE_PCAPNG, 1, 20},
    {"ipv6_fragments.pcapng", PCAPFILE_PCAPNG, 1, 22},
    {"ivre_dnsbl_rawip.pcap", PCAPFILE_PCAP, 101, 40},
    {"macgyver.pcap", PCAPFILE_PCAPNG, 1, 3701},
    {"nb6-startup.pcap", PCAPFILE_PCAP, 1, 531},
    {"synscan.pcapng", PCAPFILE_PCAPNG, 1, 2011},
    {"Teredo.pcap", PCAPFILE_PCAP, 1, 78},
    {"tcpdump-tests_802.1ad_QinQ.pcap", PCAPFILE_PCAP, 1, 2},
    {"tcpdump-tests_dns-badlabel.pcap", PCAPFILE_PCAP, 1, 1},
    {"tcpdump-tests_dnssec.pcap", PCAPFILE_PCAP, 1, 6},
    {"tcpdump-tests_edns-opts.pcap", PCAPFILE_PCAP, 1, 42},
    {"tcpdump-tests_various_gre.pcap", PCAPFILE_PCAP, 1, 100},
    {"wireshark-wiki_dns.pcap", PCAPFILE_PCAP, 1, 38},
};

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *b = malloc((size_t)n + 1);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return b;
}

/* Count packets of a memory image; *last gets the final return code. */
static long count_mem(const uint8_t *b, size_t len, int *last, int *open_rc)
{
	struct pcapfile_reader *r;
	struct pcapfile_pkt p;
	char err[256];
	long n = 0;
	*open_rc = pcapfile_reader_open_mem(&r, b, len, err, sizeof(err));
	if (*open_rc < 0)
		return -1;
	while ((*last = pcapfile_reader_next(r, &p)) == 1)
		n++;
	pcapfile_reader_close(&r);
	return n;
}

static void test_shared_counts(void **state)
{
	NEED_PCAP(shared[0].name);
	for (size_t i = 0; i < sizeof(shared) / sizeof(shared[0]); i++) {
		struct pcapfile_reader *r;
		struct pcapfile_pkt p;
		char err[256];
		long n = 0;
		int rc =
		    pcapfile_reader_open_path(&r, pcap_path(shared[i].name), err, sizeof(err));
		assert_int_equal(rc, 0);
		assert_int_equal(pcapfile_reader_format(r), shared[i].fmt);
		assert_int_equal(pcapfile_reader_linktype(r), shared[i].linktype);
		while ((rc = pcapfile_reader_next(r, &p)) == 1) {
			assert_int_equal(p.linktype, shared[i].linktype);
			assert_true(p.caplen <= p.origlen);
			n++;
		}
		assert_int_equal(rc, 0);
		if (n != shared[i].packets)
			fail_msg("%s: %ld packets, want %ld", shared[i].name, n,
			         shared[i].packets);
		pcapfile_reader_close(&r);
		assert_null(r);
	}
}

/* Seeking to a reported offset reads the same packet again. */
static void test_offsets(void **state)
{
	const char *names[] = {"synscan.pcapng", "honeynet_fc2010-1_attack-trace.pcap"};
	NEED_PCAP(names[0]);
	for (int k = 0; k < 2; k++) {
		struct pcapfile_reader *r, *r2;
		struct pcapfile_pkt p, q;
		char err[256];
		assert_int_equal(
		    pcapfile_reader_open_path(&r, pcap_path(names[k]), err, sizeof(err)), 0);
		assert_int_equal(
		    pcapfile_reader_open_path(&r2, pcap_path(names[k]), err, sizeof(err)), 0);
		uint64_t prev = 0;
		while (pcapfile_reader_next(r, &p) == 1) {
			assert_true(p.offset > prev || prev == 0);
			prev = p.offset;
			assert_int_equal(pcapfile_reader_seek(r2, p.offset), 0);
			assert_int_equal(pcapfile_reader_next(r2, &q), 1);
			assert_int_equal(q.offset, p.offset);
			assert_int_equal(q.ts_ns, p.ts_ns);
			assert_int_equal(q.caplen, p.caplen);
			assert_memory_equal(q.data, p.data, p.caplen);
		}
		assert_int_equal(pcapfile_reader_offset(r), pcapfile_reader_offset(r2));
		pcapfile_reader_close(&r);
		pcapfile_reader_close(&r2);
	}
	/* the first record of a classic pcap is right after the 24-byte header */
	struct pcapfile_reader *r;
	struct pcapfile_pkt p;
	assert_int_equal(pcapfile_reader_open_path(&r, pcap_path("Teredo.pcap"), NULL, 0), 0);
	assert_int_equal(pcapfile_reader_next(r, &p), 1);
	assert_int_equal(p.offset, 24);
	uint32_t first = p.caplen;
	assert_int_equal(pcapfile_reader_next(r, &p), 1);
	assert_int_equal(p.offset, 24 + 16 + first);
	pcapfile_reader_close(&r);
}

/* A stream gives the same packets and offsets as the mapped file; so does stdin. */
static void test_stream_and_stdin(void **state)
{
	const char *name = "ek_to_cryptowall4.pcapng";
	NEED_PCAP(name);
	struct pcapfile_reader *a, *b, *c;
	struct pcapfile_pkt p, q, s;
	char err[256];
	FILE *f = fopen(pcap_path(name), "rb");
	assert_non_null(f);
	assert_int_equal(pcapfile_reader_open_path(&a, pcap_path(name), err, sizeof(err)), 0);
	assert_int_equal(pcapfile_reader_open_stream(&b, f, err, sizeof(err)), 0);
	int saved = dup(0), fd = open(pcap_path(name), O_RDONLY);
	assert_true(fd >= 0);
	dup2(fd, 0);
	close(fd);
	assert_int_equal(pcapfile_reader_open_path(&c, "-", err, sizeof(err)), 0);
	long n = 0;
	int ra, rb, rc;
	for (;;) {
		ra = pcapfile_reader_next(a, &p);
		rb = pcapfile_reader_next(b, &q);
		rc = pcapfile_reader_next(c, &s);
		assert_int_equal(ra, rb);
		assert_int_equal(ra, rc);
		if (ra != 1)
			break;
		assert_int_equal(p.offset, q.offset);
		assert_int_equal(p.offset, s.offset);
		assert_int_equal(p.ts_ns, q.ts_ns);
		assert_int_equal(p.caplen, s.caplen);
		assert_memory_equal(p.data, q.data, p.caplen);
		assert_memory_equal(p.data, s.data, p.caplen);
		n++;
	}
	assert_int_equal(ra, 0);
	assert_int_equal(n, 653);
	assert_int_equal(pcapfile_reader_seek(b, 0), -ESPIPE);
	pcapfile_reader_close(&a);
	pcapfile_reader_close(&b);
	pcapfile_reader_close(&c);
	fclose(f);
	dup2(saved, 0);
	close(saved);
}

/* nb6-startup starts in 1970 (router clock unset) and jumps to 2014; cerber has one
 * packet out of order; dns-badlabel is in 1970. */
static void test_timestamps(void **state)
{
	struct pcapfile_reader *r;
	struct pcapfile_pkt p;
	NEED_PCAP("nb6-startup.pcap");
	assert_int_equal(pcapfile_reader_open_path(&r, pcap_path("nb6-startup.pcap"), NULL, 0),
	                 0);
	assert_int_equal(pcapfile_reader_next(r, &p), 1);
	assert_true(p.ts_ns >= 54 * 1000000000ll && p.ts_ns < 55 * 1000000000ll);
	int64_t last = 0;
	while (pcapfile_reader_next(r, &p) == 1)
		last = p.ts_ns;
	assert_true(last > 1388534400ll * 1000000000ll); /* after 2014-01-01 */
	pcapfile_reader_close(&r);

	assert_int_equal(
	    pcapfile_reader_open_path(
	        &r, pcap_path("capture-Thu-11-24-16-10-28-11_cerber.pcap"), NULL, 0),
	    0);
	int64_t prev = INT64_MIN;
	int back = 0;
	while (pcapfile_reader_next(r, &p) == 1) {
		if (p.ts_ns < prev)
			back++;
		prev = p.ts_ns;
	}
	assert_int_equal(back, 1);
	pcapfile_reader_close(&r);

	/* microsecond pcap: ns values are whole microseconds */
	assert_int_equal(pcapfile_reader_open_path(&r, pcap_path("Teredo.pcap"), NULL, 0), 0);
	while (pcapfile_reader_next(r, &p) == 1)
		assert_int_equal(p.ts_ns % 1000, 0);
	pcapfile_reader_close(&r);
}

/* ---- built files ---- */

struct fb {
	uint8_t b[4096];
	size_t n;
	int be;
};

static void fput(struct fb *f, const void *d, size_t n)
{
	assert_true(f->n + n <= sizeof(f->b));
	memcpy(f->b + f->n, d, n);
	f->n += n;
}
static void f16(struct fb *f, uint16_t v)
{
	uint8_t t[2];
	if (f->be) {
		t[0] = (uint8_t)(v >> 8);
		t[1] = (uint8_t)v;
	} else {
		t[0] = (uint8_t)v;
		t[1] = (uint8_t)(v >> 8);
	}
	fput(f, t, 2);
}
static void f32(struct fb *f, uint32_t v)
{
	if (f->be) {
		f16(f, (uint16_t)(v >> 16));
		f16(f, (uint16_t)v);
	} else {
		f16(f, (uint16_t)v);
		f16(f, (uint16_t)(v >> 16));
	}
}

static void pcap_hdr(struct fb *f, uint32_t magic, uint32_t snaplen, uint32_t linktype)
{
	f32(f, magic);
	f16(f, 2);
	f16(f, 4);
	f32(f, 0);
	f32(f, 0);
	f32(f, snaplen);
	f32(f, linktype);
}

static void pcap_rec(struct fb *f, uint32_t sec, uint32_t frac, uint32_t caplen, uint32_t len)
{
	f32(f, sec);
	f32(f, frac);
	f32(f, caplen);
	f32(f, len);
	for (uint32_t i = 0; i < caplen; i++)
		fput(f, &(uint8_t){(uint8_t)i}, 1);
}

static void ng_shb(struct fb *f)
{
	f32(f, 0x0a0d0d0a);
	f32(f, 28);
	f32(f, 0x1a2b3c4d);
	f16(f, 1);
	f16(f, 0);
	f32(f, 0xffffffff);
	f32(f, 0xffffffff);
	f32(f, 28);
}

/* IDB with optional if_tsresol (tsresol >= 0) and if_tsoffset (tsoff != 0) */
static void ng_idb(struct fb *f, uint16_t linktype, uint32_t snaplen, int tsresol,
                   int64_t tsoff)
{
	uint32_t len = 20 + (tsresol >= 0 ? 8 : 0) + (tsoff ? 12 : 0) + 4;
	f32(f, 1);
	f32(f, len);
	f16(f, linktype);
	f16(f, 0);
	f32(f, snaplen);
	if (tsresol >= 0) {
		f16(f, 9);
		f16(f, 1);
		fput(f, (uint8_t[]){(uint8_t)tsresol, 0, 0, 0}, 4);
	}
	if (tsoff) {
		f16(f, 14);
		f16(f, 8);
		uint32_t lo = (uint32_t)((uint64_t)tsoff & 0xffffffff);
		uint32_t hi = (uint32_t)((uint64_t)tsoff >> 32);
		f32(f, f->be ? hi : lo);
		f32(f, f->be ? lo : hi);
	}
	f32(f, 0);
	f32(f, len);
}

static void ng_epb(struct fb *f, uint32_t ifid, uint64_t ts, uint32_t caplen, uint32_t len)
{
	uint32_t pad = (caplen + 3) & ~3u, blen = 32 + pad;
	f32(f, 6);
	f32(f, blen);
	f32(f, ifid);
	f32(f, (uint32_t)(ts >> 32));
	f32(f, (uint32_t)ts);
	f32(f, caplen);
	f32(f, len);
	for (uint32_t i = 0; i < pad; i++)
		fput(f, &(uint8_t){(uint8_t)(i < caplen ? 0xa0 + i : 0)}, 1);
	f32(f, blen);
}

static void test_pcap_variants(void **state)
{
	struct pcapfile_reader *r;
	struct pcapfile_pkt p;
	char err[256];
	struct fb f = {.be = 1};
	/* big-endian, nanosecond magic, snaplen 0 (unset), link type with FCS bits set */
	pcap_hdr(&f, 0xa1b23c4d, 0, 0x14000001);
	pcap_rec(&f, 1700000000, 123456789, 60, 1514);
	pcap_rec(&f, 1700000001, 5, 0, 0);
	assert_int_equal(pcapfile_reader_open_mem(&r, f.b, f.n, err, sizeof(err)), 0);
	assert_int_equal(pcapfile_reader_format(r), PCAPFILE_PCAP_NS);
	assert_int_equal(pcapfile_reader_linktype(r), 1);
	assert_int_equal(pcapfile_reader_next(r, &p), 1);
	assert_int_equal(p.ts_ns, 1700000000123456789ll);
	assert_int_equal(p.caplen, 60);
	assert_int_equal(p.origlen, 1514);
	assert_int_equal(p.data[59], 59);
	assert_int_equal(pcapfile_reader_next(r, &p), 1);
	assert_int_equal(p.caplen, 0);
	assert_int_equal(p.ts_ns, 1700000001000000005ll);
	assert_int_equal(pcapfile_reader_next(r, &p), 0);
	assert_int_equal(pcapfile_reader_next(r, &p), 0);
	pcapfile_reader_close(&r);

	/* little-endian microseconds, caplen above the snaplen */
	memset(&f, 0, sizeof(f));
	pcap_hdr(&f, 0xa1b2c3d4, 64, 101);
	pcap_rec(&f, 10, 999999, 64, 64);
	pcap_rec(&f, 11, 0, 65, 65);
	assert_int_equal(pcapfile_reader_open_mem(&r, f.b, f.n, err, sizeof(err)), 0);
	assert_int_equal(pcapfile_reader_next(r, &p), 1);
	assert_int_equal(p.ts_ns, 10999999000ll);
	assert_int_equal(p.linktype, 101);
	assert_int_equal(pcapfile_reader_next(r, &p), -EMSGSIZE);
	assert_non_null(strstr(pcapfile_reader_error(r), "snaplen"));
	assert_int_equal(pcapfile_reader_next(r, &p), -EMSGSIZE); /* sticky */
	pcapfile_reader_close(&r);

	/* caplen above 256 KB with no snaplen */
	memset(&f, 0, sizeof(f));
	pcap_hdr(&f, 0xa1b2c3d4, 0, 1);
	f32(&f, 1);
	f32(&f, 0);
	f32(&f, PCAPFILE_MAX_CAPLEN + 1);
	f32(&f, PCAPFILE_MAX_CAPLEN + 1);
	assert_int_equal(pcapfile_reader_open_mem(&r, f.b, f.n, err, sizeof(err)), 0);
	assert_int_equal(pcapfile_reader_next(r, &p), -EMSGSIZE);
	pcapfile_reader_close(&r);

	/* modified (Kuznetzov) pcap: 24-byte record headers */
	memset(&f, 0, sizeof(f));
	pcap_hdr(&f, 0xa1b2cd34, 65535, 1);
	f32(&f, 5);
	f32(&f, 6);
	f32(&f, 4);
	f32(&f, 4);
	f32(&f, 0);
	f32(&f, 0);
	fput(&f, "abcd", 4);
	assert_int_equal(pcapfile_reader_open_mem(&r, f.b, f.n, err, sizeof(err)), 0);
	assert_int_equal(pcapfile_reader_next(r, &p), 1);
	assert_memory_equal(p.data, "abcd", 4);
	assert_int_equal(pcapfile_reader_next(r, &p), 0);
	pcapfile_reader_close(&r);

	/* not a capture file; empty; a short header; an unsupported version */
	assert_int_equal(pcapfile_reader_open_mem(&r, "GIF89a....", 10, err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "magic"));
	assert_null(r);
	assert_int_equal(pcapfile_reader_open_mem(&r, "", 0, err, sizeof(err)), -ENODATA);
	assert_int_equal(pcapfile_reader_open_mem(&r, f.b, 10, err, sizeof(err)), -ENODATA);
	f.b[4] = 3;
	assert_int_equal(pcapfile_reader_open_mem(&r, f.b, f.n, err, sizeof(err)), -EINVAL);
}

static void test_pcapng_variants(void **state)
{
	struct pcapfile_reader *r;
	struct pcapfile_pkt p;
	char err[256];
	for (int be = 0; be <= 1; be++) {
		struct fb f = {.be = be};
		ng_shb(&f);
		ng_idb(&f, 1, 0, -1, 0);            /* if 0: microseconds (default) */
		ng_idb(&f, 101, 128, 0x80 | 20, 0); /* if 1: 2^-20 s */
		ng_idb(&f, 113, 0, 3, 100);         /* if 2: milliseconds, +100 s */
		/* an unknown block (type 0x0bad) to skip */
		f32(&f, 0x0bad);
		f32(&f, 16);
		f32(&f, 0);
		f32(&f, 16);
		ng_epb(&f, 0, 1500000000123456ull, 5, 60);
		ng_epb(&f, 1, (3ull << 20) | (1ull << 19), 3, 3); /* 3.5 s */
		ng_epb(&f, 2, 2500, 1, 1);                        /* 2.5 s + 100 s */
		/* SPB: interface 0, cut to the block */
		f32(&f, 3);
		f32(&f, 20);
		f32(&f, 1000);
		fput(&f, "wxyz", 4);
		f32(&f, 20);
		/* a second section: new byte order state, new interfaces */
		ng_shb(&f);
		ng_idb(&f, 276, 0, 9, 0);
		ng_epb(&f, 0, 42, 2, 2);

		assert_int_equal(pcapfile_reader_open_mem(&r, f.b, f.n, err, sizeof(err)), 0);
		assert_int_equal(pcapfile_reader_format(r), PCAPFILE_PCAPNG);
		assert_int_equal(pcapfile_reader_linktype(r), 1);
		assert_int_equal(pcapfile_reader_next(r, &p), 1);
		assert_int_equal(p.ts_ns, 1500000000123456000ll);
		assert_int_equal(p.caplen, 5);
		assert_int_equal(p.origlen, 60);
		assert_int_equal(p.data[0], 0xa0);
		assert_int_equal(p.linktype, 1);
		assert_int_equal(pcapfile_reader_next(r, &p), 1);
		assert_int_equal(p.ts_ns, 3500000000ll);
		assert_int_equal(p.linktype, 101);
		assert_int_equal(p.ifindex, 1);
		assert_int_equal(pcapfile_reader_next(r, &p), 1);
		assert_int_equal(p.ts_ns, 102500000000ll);
		assert_int_equal(p.linktype, 113);
		assert_int_equal(pcapfile_reader_next(r, &p), 1); /* SPB */
		assert_int_equal(p.caplen, 4);
		assert_int_equal(p.origlen, 1000);
		assert_int_equal(p.ts_ns, 102500000000ll); /* repeats the last */
		assert_memory_equal(p.data, "wxyz", 4);
		assert_int_equal(pcapfile_reader_next(r, &p), 1);
		assert_int_equal(p.linktype, 276);
		assert_int_equal(p.ts_ns, 42);
		assert_int_equal(pcapfile_reader_next(r, &p), 0);
		pcapfile_reader_close(&r);

		/* every truncation: the packets before it, then -ENODATA or a clean end */
		for (size_t len = 0; len < f.n; len++) {
			int last = 0, orc;
			uint8_t *copy = malloc(len ? len : 1);
			memcpy(copy, f.b, len);
			long n = count_mem(copy, len, &last, &orc);
			free(copy);
			if (orc < 0) {
				assert_int_equal(orc, -ENODATA);
				continue;
			}
			assert_true(n >= 0 && n <= 5);
			assert_true(last == 0 || last == -ENODATA);
		}
	}

	/* corruptions: block length not a multiple of 4, too small, trailer mismatch,
	 * unknown interface, caplen past the block, caplen above the interface snaplen */
	struct fb g = {0};
	ng_shb(&g);
	ng_idb(&g, 1, 64, -1, 0);
	size_t at = g.n;
	ng_epb(&g, 0, 1, 10, 10);
	size_t end = g.n;
	static const struct {
		size_t off;
		uint32_t val;
		int want;
	} bad[] = {
	    {4, 33, -EBADMSG}, {4, 8, -EBADMSG},   {40, 40, -EBADMSG}, /* trailer */
	    {8, 1, -EBADMSG},  {20, 40, -EBADMSG}, {20, 13, -EBADMSG},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fb h = g;
		uint32_t v = bad[i].val;
		memcpy(h.b + at + bad[i].off, &v, 4);
		int last, orc;
		long n = count_mem(h.b, end, &last, &orc);
		assert_int_equal(orc, 0);
		assert_int_equal(n, 0);
		if (last != bad[i].want)
			fail_msg("corruption %zu: %d, want %d", i, last, bad[i].want);
	}
	struct fb h = {0};
	ng_shb(&h);
	ng_idb(&h, 1, 8, -1, 0);
	ng_epb(&h, 0, 1, 9, 9);
	int last, orc;
	assert_int_equal(count_mem(h.b, h.n, &last, &orc), 0);
	assert_int_equal(last, -EMSGSIZE);
	/* a section header with a bad byte-order magic */
	memset(&h, 0, sizeof(h));
	ng_shb(&h);
	h.b[8] = 0x11;
	assert_int_equal(pcapfile_reader_open_mem(&r, h.b, h.n, err, sizeof(err)), -EBADMSG);
}

/* Every truncation of a real capture returns all whole packets before it. */
static void test_truncation_real(void **state)
{
	size_t len;
	NEED_PCAP("dns_tcp.pcapng");
	const char *names[] = {"dns_tcp.pcapng", "wireshark-wiki_dns.pcap"};
	for (int k = 0; k < 2; k++) {
		uint8_t *b = slurp(pcap_path(names[k]), &len);
		long full;
		int last, orc;
		full = count_mem(b, len, &last, &orc);
		assert_int_equal(last, 0);
		long prev = 0;
		for (size_t cut = 0; cut < len; cut++) {
			uint8_t *copy = malloc(cut ? cut : 1);
			memcpy(copy, b, cut);
			long n = count_mem(copy, cut, &last, &orc);
			free(copy);
			if (orc < 0)
				continue;
			assert_true(n >= prev && n <= full);
			assert_true(last == 0 || last == -ENODATA);
			prev = n;
		}
		assert_true(prev == full || prev == full - 1);
		free(b);
	}
}

/* ---- writer ---- */

static void test_writer_roundtrip(void **state)
{
	static const enum pcapfile_format fmts[] = {PCAPFILE_PCAP, PCAPFILE_PCAP_NS,
	                                            PCAPFILE_PCAPNG};
	uint8_t pkt[300];
	for (size_t i = 0; i < sizeof(pkt); i++)
		pkt[i] = (uint8_t)(i * 7);
	for (int k = 0; k < 3; k++) {
		struct pcapfile_writer *w;
		struct pcapfile_reader *r;
		struct pcapfile_pkt p;
		char err[256], name[32];
		uint64_t offs[10];
		snprintf(name, sizeof(name), "rt%d", k);
		const char *path = test_dir_path(name);
		assert_int_equal(
		    pcapfile_writer_open_path(&w, path, fmts[k], 276, 200, err, sizeof(err)),
		    0);
		for (int i = 0; i < 10; i++)
			assert_int_equal(pcapfile_writer_write(w, 1700000000123456789ll + i,
			                                       pkt, (uint32_t)(i * 30), 300,
			                                       &offs[i]),
			                 0);
		uint64_t size = pcapfile_writer_offset(w);
		assert_int_equal(pcapfile_writer_close(&w), 0);
		struct stat st;
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal((uint64_t)st.st_size, size);

		assert_int_equal(pcapfile_reader_open_path(&r, path, err, sizeof(err)), 0);
		assert_int_equal(pcapfile_reader_format(r), fmts[k]);
		assert_int_equal(pcapfile_reader_linktype(r), 276);
		assert_int_equal(pcapfile_reader_snaplen(r), 200);
		for (int i = 0; i < 10; i++) {
			assert_int_equal(pcapfile_reader_next(r, &p), 1);
			uint32_t want = (uint32_t)(i * 30) > 200 ? 200 : (uint32_t)(i * 30);
			assert_int_equal(p.caplen, want);
			assert_int_equal(p.origlen, 300);
			assert_int_equal(p.offset, offs[i]);
			assert_memory_equal(p.data, pkt, want);
			int64_t ts = 1700000000123456789ll + i;
			assert_int_equal(p.ts_ns,
			                 fmts[k] == PCAPFILE_PCAP ? ts / 1000 * 1000 : ts);
		}
		assert_int_equal(pcapfile_reader_next(r, &p), 0);
		pcapfile_reader_close(&r);
	}
}

static long count_path(const char *path, int *last)
{
	struct pcapfile_reader *r;
	struct pcapfile_pkt p;
	long n = 0;
	if (pcapfile_reader_open_path(&r, path, NULL, 0) < 0)
		return -1;
	while ((*last = pcapfile_reader_next(r, &p)) == 1)
		n++;
	pcapfile_reader_close(&r);
	return n;
}

static void test_writer_append(void **state)
{
	for (int ng = 0; ng <= 1; ng++) {
		enum pcapfile_format fmt = ng ? PCAPFILE_PCAPNG : PCAPFILE_PCAP_NS;
		const char *path = test_dir_path(ng ? "append.pcapng" : "append.pcap");
		struct pcapfile_writer *w;
		char err[256];
		uint64_t off;
		int last;
		assert_int_equal(
		    pcapfile_writer_open_path(&w, path, fmt, 1, 0, err, sizeof(err)), 0);
		for (int i = 0; i < 3; i++)
			assert_int_equal(
			    pcapfile_writer_write(w, i, "0123456789", 10, 10, NULL), 0);
		assert_int_equal(pcapfile_writer_close(&w), 0);
		/* appending continues the file */
		assert_int_equal(
		    pcapfile_writer_open_path(&w, path, fmt, 1, 0, err, sizeof(err)), 0);
		uint64_t before = pcapfile_writer_offset(w);
		assert_int_equal(pcapfile_writer_write(w, 3, "abc", 3, 3, &off), 0);
		assert_int_equal(off, before);
		assert_int_equal(pcapfile_writer_close(&w), 0);
		assert_int_equal(count_path(path, &last), 4);
		assert_int_equal(last, 0);
		/* a crash mid-record: the reader stops cleanly, the writer cuts the tail */
		struct stat st;
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(truncate(path, st.st_size - 2), 0);
		assert_int_equal(count_path(path, &last), 3);
		assert_int_equal(last, -ENODATA);
		assert_int_equal(
		    pcapfile_writer_open_path(&w, path, fmt, 1, 0, err, sizeof(err)), 0);
		assert_int_equal(pcapfile_writer_write(w, 4, "xyz", 3, 3, NULL), 0);
		assert_int_equal(pcapfile_writer_close(&w), 0);
		assert_int_equal(count_path(path, &last), 4);
		assert_int_equal(last, 0);
		/* another link type or format is refused, and the file is left alone */
		assert_int_equal(
		    pcapfile_writer_open_path(&w, path, fmt, 101, 0, err, sizeof(err)),
		    -EINVAL);
		assert_int_equal(pcapfile_writer_open_path(&w, path,
		                                           ng ? PCAPFILE_PCAP : PCAPFILE_PCAPNG,
		                                           1, 0, err, sizeof(err)),
		                 -EINVAL);
		assert_int_equal(count_path(path, &last), 4);
	}
	/* a file holding only part of a header is started again */
	const char *path = test_dir_path("stub.pcap");
	FILE *f = fopen(path, "wb");
	fwrite("\xd4\xc3\xb2\xa1\x02", 1, 5, f);
	fclose(f);
	struct pcapfile_writer *w;
	int last;
	assert_int_equal(pcapfile_writer_open_path(&w, path, PCAPFILE_PCAP, 1, 0, NULL, 0), 0);
	assert_int_equal(pcapfile_writer_write(w, 0, "a", 1, 1, NULL), 0);
	assert_int_equal(pcapfile_writer_close(&w), 0);
	assert_int_equal(count_path(path, &last), 1);
}

/* After a flush, a kill -9 loses nothing; what was only buffered is lost whole. */
static void test_writer_kill9(void **state)
{
	const char *path = test_dir_path("kill.pcapng");
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct pcapfile_writer *w;
		uint8_t pkt[1000] = {0};
		if (pcapfile_writer_open_path(&w, path, PCAPFILE_PCAPNG, 1, 0, NULL, 0) < 0)
			_exit(1);
		for (int i = 0; i < 100; i++) {
			pkt[0] = (uint8_t)i;
			pcapfile_writer_write(w, i, pkt, sizeof(pkt), sizeof(pkt), NULL);
			if (i % 10 == 9)
				pcapfile_writer_flush(w);
		}
		pcapfile_writer_write(w, 100, pkt, 10, 10, NULL); /* buffered only */
		kill(getpid(), SIGKILL);
		_exit(2);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	int last;
	assert_int_equal(count_path(path, &last), 100);
	assert_int_equal(last, 0);

	/* a record half written when the process died */
	int fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "\x06\x00\x00\x00\x30\x00\x00\x00\x00", 9), 9);
	close(fd);
	assert_int_equal(count_path(path, &last), 100);
	assert_int_equal(last, -ENODATA);
}

/* A stream reader at a partial record retries and picks the record up once complete. */
static void test_follow(void **state)
{
	const char *path = test_dir_path("follow.pcap");
	struct pcapfile_writer *w;
	uint8_t data[64];
	memset(data, 0x5a, sizeof(data));
	assert_int_equal(pcapfile_writer_open_path(&w, path, PCAPFILE_PCAP, 1, 0, NULL, 0), 0);
	assert_int_equal(pcapfile_writer_write(w, 1000, data, 64, 64, NULL), 0);
	assert_int_equal(pcapfile_writer_close(&w), 0);
	/* cut the record: 24 + 16 + 64 = 104 bytes; keep 60 */
	uint8_t full[104];
	FILE *f = fopen(path, "rb");
	assert_int_equal(fread(full, 1, sizeof(full), f), sizeof(full));
	fclose(f);
	assert_int_equal(truncate(path, 60), 0);

	FILE *in = fopen(path, "rb");
	struct pcapfile_reader *r;
	struct pcapfile_pkt p;
	assert_int_equal(pcapfile_reader_open_stream(&r, in, NULL, 0), 0);
	assert_int_equal(pcapfile_reader_next(r, &p), -ENODATA);
	assert_non_null(strstr(pcapfile_reader_error(r), "truncated"));
	FILE *out = fopen(path, "ab");
	fwrite(full + 60, 1, sizeof(full) - 60, out);
	fclose(out);
	assert_int_equal(pcapfile_reader_next(r, &p), 1);
	assert_int_equal(p.caplen, 64);
	assert_int_equal(p.offset, 24);
	assert_int_equal(pcapfile_reader_next(r, &p), 0);
	pcapfile_reader_close(&r);
	fclose(in);
}

/* Three records of 64 bytes (at 24, 104, 184; 264 bytes) read up to a limit. */
static void test_limit(void **state)
{
	const char *path = test_dir_path("limit.pcap");
	struct pcapfile_writer *w;
	struct pcapfile_reader *r;
	struct pcapfile_pkt p;
	uint8_t data[64];
	memset(data, 0x5a, sizeof(data));
	assert_int_equal(pcapfile_writer_open_path(&w, path, PCAPFILE_PCAP, 1, 0, NULL, 0), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pcapfile_writer_write(w, 1000 + i, data, 64, 64, NULL), 0);
	assert_int_equal(pcapfile_writer_close(&w), 0);
	for (int how = 0; how < 4; how++) {
		for (int cut = 0; cut < 2; cut++) {
			FILE *in = NULL;
			if (how == 0)
				assert_int_equal(pcapfile_reader_open_file(&r, path, NULL, 0),
				                 0);
			else if (how == 1)
				assert_int_equal(pcapfile_reader_open_sparse(&r, path, NULL, 0),
				                 0);
			else if (how == 2)
				assert_int_equal(pcapfile_reader_open_path(&r, path, NULL, 0),
				                 0);
			else {
				assert_non_null(in = fopen(path, "rb"));
				assert_int_equal(pcapfile_reader_open_stream(&r, in, NULL, 0),
				                 0);
			}
			/* in the second record, or at its end */
			pcapfile_reader_set_limit(r, cut ? 150 : 184);
			assert_int_equal(pcapfile_reader_next(r, &p), 1);
			assert_int_equal(p.offset, 24);
			if (cut) {
				assert_int_equal(pcapfile_reader_next(r, &p), -ENODATA);
			} else {
				assert_int_equal(pcapfile_reader_next(r, &p), 1);
				assert_int_equal(p.offset, 104);
				assert_int_equal(pcapfile_reader_next(r, &p), 0);
			}
			assert_int_equal(pcapfile_reader_offset(r), cut ? 104 : 184);
			pcapfile_reader_close(&r);
			if (in)
				fclose(in);
		}
	}
}

/*
 * A write that fails part way (here the file size limit, in a child): the
 * error is sticky, the records written whole stay and are counted, and the
 * partial one after them is cut off.
 */
static void test_writer_failure(void **state)
{
	const char *path = test_dir_path("limited.pcap");
	uint8_t data[64];
	memset(data, 0x33, sizeof(data));
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct pcapfile_writer *w;
		struct rlimit rl = {24 + 2 * 80 + 30, 24 + 2 * 80 + 30};
		signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &rl) < 0 ||
		    pcapfile_writer_open_path(&w, path, PCAPFILE_PCAP, 1, 0, NULL, 0) < 0)
			_exit(2);
		for (int i = 0; i < 5; i++)
			if (pcapfile_writer_write(w, 1000 + i, data, 64, 64, NULL) < 0)
				_exit(3);
		if (pcapfile_writer_flush(w) != -EFBIG)
			_exit(4);
		if (pcapfile_writer_write(w, 2000, data, 64, 64, NULL) != -EFBIG)
			_exit(5); /* sticky */
		if (pcapfile_writer_records(w) != 2)
			_exit(6);
		pcapfile_writer_close(&w);
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 24 + 2 * 80);
	struct pcapfile_reader *r;
	struct pcapfile_pkt p;
	assert_int_equal(pcapfile_reader_open_path(&r, path, NULL, 0), 0);
	assert_int_equal(pcapfile_reader_next(r, &p), 1);
	assert_int_equal(pcapfile_reader_next(r, &p), 1);
	assert_int_equal(pcapfile_reader_next(r, &p), 0);
	pcapfile_reader_close(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_shared_counts),    cmocka_unit_test(test_offsets),
	    cmocka_unit_test(test_stream_and_stdin), cmocka_unit_test(test_timestamps),
	    cmocka_unit_test(test_pcap_variants),    cmocka_unit_test(test_pcapng_variants),
	    cmocka_unit_test(test_truncation_real),  cmocka_unit_test(test_writer_roundtrip),
	    cmocka_unit_test(test_writer_append),    cmocka_unit_test(test_writer_kill9),
	    cmocka_unit_test(test_follow),           cmocka_unit_test(test_limit),
	    cmocka_unit_test(test_writer_failure),
	};
	return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}

/*
 * Capture index: round trip of built flows (several blocks, IPv4/IPv6,
 * VLANs, sparse ids, times before 1970), the index of real captures built as
 * the capture loop will (offsets lead back to packets of the flow; overhead
 * under 3%), rebuild from the PCAP alone, extracting one session byte for
 * byte as tshark does, corrupt or truncated index files, and packets indexed
 * before their flow is known (IP fragments that come before their first:
 * given their flow later, in file order; a rebuild keys them as the capture
 * run did).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <openssl/sha.h>

#include "capture/flow.h"
#include "capture/index.h"
#include "capture/pcapfile.h"
#include "capture_test.h"

/* ---- built flows ---- */

#define NFLOWS 9000
#define PKTS_PER 5

struct model {
	uint64_t id;
	struct decode_key key;
	int64_t first, last;
	uint32_t n;
	uint64_t offs[PKTS_PER];
};

static void make_key(struct decode_key *k, int i)
{
	memset(k, 0, sizeof(*k));
	k->family = i % 3 == 0 ? 6 : 4;
	k->proto = i % 5 == 0 ? 17 : 6;
	k->sport = (uint16_t)(1024 + i);
	k->dport = (uint16_t)(i % 7 == 0 ? 53 : 80);
	k->vlan[0] = (uint16_t)(i % 11 == 0 ? 100 : 0);
	k->vlan[1] = (uint16_t)(i % 22 == 0 ? 4095 : 0);
	size_t alen = k->family == 4 ? 4 : 16;
	for (size_t b = 0; b < alen; b++) {
		k->src[b] = (uint8_t)(10 + b + (i % 13));
		k->dst[b] = (uint8_t)(200 - b - (i % 17));
	}
}

/* The packets of NFLOWS flows, interleaved; through index_writer_add_hint when hints
 * (one per flow) is given. */
static struct model *build_h(struct index_writer *w, uint64_t *pcap_size,
                             struct index_hint *hints)
{
	struct model *m = calloc(NFLOWS, sizeof(*m));
	uint64_t off = 24;
	/* ids with gaps; packets interleaved across flows in file order */
	for (int i = 0; i < NFLOWS; i++) {
		m[i].id = 1000 + (uint64_t)i * 3;
		make_key(&m[i].key, i);
		m[i].n = 1 + (uint32_t)(i % PKTS_PER);
		m[i].first = INT64_MAX;
		m[i].last = INT64_MIN;
	}
	uint32_t done[NFLOWS] = {0};
	int64_t ts = -5 * 1000000000ll; /* starts before 1970 */
	for (int round = 0; round < PKTS_PER; round++) {
		for (int i = NFLOWS - 1; i >= 0; i--) {
			if (done[i] >= m[i].n)
				continue;
			ts += 12345;
			m[i].offs[done[i]++] = off;
			if (ts < m[i].first)
				m[i].first = ts;
			if (ts > m[i].last)
				m[i].last = ts;
			if (hints)
				assert_int_equal(index_writer_add_hint(w, m[i].id, &m[i].key,
				                                       ts, off, &hints[i]),
				                 0);
			else
				assert_int_equal(
				    index_writer_add(w, m[i].id, &m[i].key, ts, off), 0);
			off += 60 + (uint64_t)(i % 1500);
		}
	}
	*pcap_size = off;
	return m;
}

static struct model *build(struct index_writer *w, uint64_t *pcap_size)
{
	return build_h(w, pcap_size, NULL);
}

/* Hints only save lookups: stale ones (another writer, before a reset, another
 * flow's) are ignored, and the index is byte for byte the one without hints. */
static void test_hints(void **state)
{
	struct index_writer *plain, *w, *other;
	uint64_t size, size2;
	uint8_t *want, *got;
	size_t wlen, glen;
	struct index_hint *hints = calloc(NFLOWS, sizeof(*hints));
	assert_int_equal(index_writer_new(&plain, 0, 0), 0);
	assert_int_equal(index_writer_new(&w, 0, 0), 0);
	assert_int_equal(index_writer_new(&other, 0, 0), 0);
	free(build(plain, &size));
	assert_int_equal(index_writer_encode(plain, size, &want, &wlen), 0);

	/* hints of another writer */
	free(build_h(other, &size2, hints));
	for (int i = 0; i < NFLOWS; i++)
		assert_int_not_equal(hints[i].gen, 0);
	free(build_h(w, &size2, hints));
	assert_int_equal(size2, size);
	assert_int_equal(index_writer_encode(w, size, &got, &glen), 0);
	assert_int_equal(glen, wlen);
	assert_memory_equal(got, want, wlen);
	free(got);

	/* hints of this writer before its reset, some of them another flow's slot */
	index_writer_reset(w);
	for (int i = 1; i < NFLOWS; i += 3)
		hints[i] = hints[i - 1];
	free(build_h(w, &size2, hints));
	assert_int_equal(index_writer_encode(w, size, &got, &glen), 0);
	assert_int_equal(glen, wlen);
	assert_memory_equal(got, want, wlen);
	free(got);

	/* and a valid hint naming another flow's slot in this very file */
	index_writer_reset(w);
	memset(hints, 0, NFLOWS * sizeof(*hints));
	struct decode_key k;
	make_key(&k, 0);
	assert_int_equal(index_writer_add_hint(w, 1, &k, 0, 24, &hints[0]), 0);
	struct index_hint h1 = hints[0];
	assert_int_equal(index_writer_add_hint(w, 2, &k, 0, 100, &h1), 0); /* not flow 1's */
	assert_int_not_equal(h1.slot, hints[0].slot);
	assert_int_equal(index_writer_add_hint(w, 1, &k, 0, 200, &hints[0]), 0);
	assert_int_equal(index_writer_encode(w, 300, &got, &glen), 0);
	struct index_reader *r;
	struct index_flow fl;
	const uint64_t *offs;
	assert_int_equal(index_reader_open_mem(&r, got, glen, NULL, 0), 0);
	assert_int_equal(index_reader_find(r, 1, &fl, &offs), 0);
	assert_int_equal(fl.npkts, 2);
	assert_int_equal(offs[0], 24);
	assert_int_equal(offs[1], 200);
	assert_int_equal(index_reader_find(r, 2, &fl, &offs), 0);
	assert_int_equal(fl.npkts, 1);
	index_reader_close(&r);
	free(got);

	free(want);
	free(hints);
	index_writer_free(&plain);
	index_writer_free(&w);
	index_writer_free(&other);
}

static void check_flow(const struct model *m, const struct index_flow *fl, const uint64_t *offs)
{
	assert_int_equal(fl->id, m->id);
	assert_memory_equal(&fl->key, &m->key, sizeof(fl->key));
	assert_int_equal(fl->npkts, m->n);
	assert_true(fl->first_ns <= m->first && m->first - fl->first_ns < 1000000);
	assert_true(fl->last_ns >= m->last && fl->last_ns - m->last < 1000000);
	assert_memory_equal(offs, m->offs, m->n * sizeof(uint64_t));
}

struct walk {
	const struct model *m;
	long n;
	const char *cid;
	long cid_hits;
};

static int walk_cb(void *arg, const struct index_flow *fl, const uint64_t *offs)
{
	struct walk *w = arg;
	check_flow(&w->m[w->n], fl, offs); /* by increasing id */
	w->n++;
	return 0;
}

static int cid_cb(void *arg, const struct index_flow *fl, const uint64_t *offs)
{
	struct walk *w = arg;
	w->cid_hits++;
	return 0;
}

static int stop_cb(void *arg, const struct index_flow *fl, const uint64_t *offs)
{
	return 7;
}

static void test_roundtrip(void **state)
{
	struct index_writer *w;
	struct index_reader *r;
	struct index_info info;
	struct index_flow fl;
	const uint64_t *offs;
	uint64_t size;
	uint8_t *buf;
	size_t len;
	char err[256];

	assert_int_equal(index_writer_new(&w, 3, 0), 0);
	struct model *m = build(w, &size);
	assert_int_equal(index_writer_encode(w, size, &buf, &len), 0);
	assert_int_equal(index_reader_open_mem(&r, buf, len, err, sizeof(err)), 0);
	index_reader_info(r, &info);
	assert_int_equal(info.version, INDEX_VERSION);
	assert_int_equal(info.cid_seed, 3);
	assert_int_equal(info.nflows, NFLOWS);
	assert_int_equal(info.nblocks, (NFLOWS + 1023) / 1024); /* 1024 flows a block */
	assert_int_equal(info.pcap_size, size);
	assert_true(info.first_ns < 0);

	/* every flow, in random order */
	for (int k = 0; k < NFLOWS; k++) {
		int i = (int)(((uint64_t)k * 7919) % NFLOWS);
		assert_int_equal(index_reader_find(r, m[i].id, &fl, &offs), 0);
		check_flow(&m[i], &fl, offs);
	}
	/* ids between, before and after */
	assert_int_equal(index_reader_find(r, m[5].id + 1, &fl, &offs), -ENOENT);
	assert_int_equal(index_reader_find(r, 1, &fl, &offs), -ENOENT);
	assert_int_equal(index_reader_find(r, UINT64_MAX, &fl, &offs), -ENOENT);

	struct walk wk = {.m = m};
	assert_int_equal(index_reader_foreach(r, walk_cb, &wk), 0);
	assert_int_equal(wk.n, NFLOWS);
	assert_int_equal(index_reader_foreach(r, stop_cb, NULL), 7);

	/* Community ID (with the stored seed) finds the flow */
	char cid[COMMUNITYID_STRLEN];
	assert_int_equal(communityid_compute(3, m[10].key.family, m[10].key.src, m[10].key.dst,
	                                     m[10].key.proto, m[10].key.sport, m[10].key.dport,
	                                     cid),
	                 0);
	assert_int_equal(index_reader_find_cid(r, cid, cid_cb, &wk), 0);
	assert_int_equal(wk.cid_hits, 1);
	index_reader_close(&r);
	assert_null(r);

	/* through a file */
	assert_int_equal(index_writer_save(w, size, test_dir_path("x.idx"), err, sizeof(err)),
	                 0);
	assert_int_equal(index_reader_open(&r, test_dir_path("x.idx"), err, sizeof(err)), 0);
	assert_int_equal(index_reader_find(r, m[NFLOWS - 1].id, &fl, &offs), 0);
	check_flow(&m[NFLOWS - 1], &fl, offs);
	index_reader_close(&r);
	struct stat st;
	assert_int_equal(stat(test_dir_path("x.idx.tmp"), &st), -1); /* renamed into place */

	/* reset: an empty index */
	index_writer_reset(w);
	free(buf);
	assert_int_equal(index_writer_encode(w, 24, &buf, &len), 0);
	assert_int_equal(len, 64);
	assert_int_equal(index_reader_open_mem(&r, buf, len, err, sizeof(err)), 0);
	assert_int_equal(index_reader_find(r, 1000, &fl, &offs), -ENOENT);
	index_reader_close(&r);

	char p[16];
	assert_int_equal(index_path_for("a.pcap", p, sizeof(p)), 0);
	assert_string_equal(p, "a.pcap.idx");
	assert_int_equal(index_path_for("0123456789abcdef", p, sizeof(p)), -ENAMETOOLONG);
	free(buf);
	free(m);
	index_writer_free(&w);
	assert_null(w);
}

/* ---- corrupt input ---- */

static void open_and_walk(const uint8_t *b, size_t len)
{
	struct index_reader *r;
	struct index_flow fl;
	const uint64_t *offs;
	char err[256];
	uint8_t *copy = malloc(len ? len : 1); /* exact size, so ASan sees overreads */
	memcpy(copy, b, len);
	int rc = index_reader_open_mem(&r, copy, len, err, sizeof(err));
	if (rc == 0) {
		struct walk wk = {0};
		rc = index_reader_foreach(r, cid_cb, &wk);
		assert_true(rc == 0 || rc == -EBADMSG);
		rc = index_reader_find(r, 1003, &fl, &offs);
		assert_true(rc == 0 || rc == -ENOENT || rc == -EBADMSG);
		index_reader_close(&r);
	} else {
		assert_int_equal(rc, -EBADMSG);
		assert_true(err[0] != '\0');
	}
	free(copy);
}

static void test_corrupt(void **state)
{
	struct index_writer *w;
	struct decode_key k;
	uint8_t *buf;
	size_t len;
	assert_int_equal(index_writer_new(&w, 0, 0), 0);
	for (int i = 0; i < 40; i++) {
		make_key(&k, i);
		for (int j = 0; j <= i % 3; j++)
			assert_int_equal(index_writer_add(w, 1000 + (uint64_t)i, &k,
			                                  i * 1000000ll + j,
			                                  (uint64_t)(24 + i * 300 + j * 100)),
			                 0);
	}
	assert_int_equal(index_writer_encode(w, 100000, &buf, &len), 0);
	open_and_walk(buf, len);

	/* every truncation is refused at open or at the block read */
	for (size_t cut = 0; cut < len; cut++) {
		struct index_reader *r;
		uint8_t *copy = malloc(cut ? cut : 1);
		memcpy(copy, buf, cut);
		int rc = index_reader_open_mem(&r, copy, cut, NULL, 0);
		if (rc == 0) {
			struct walk wk = {0};
			assert_int_equal(index_reader_foreach(r, cid_cb, &wk), -EBADMSG);
			index_reader_close(&r);
		} else {
			assert_int_equal(rc, -EBADMSG);
		}
		free(copy);
	}
	/* every byte changed, several ways: never a fault */
	static const uint8_t xors[] = {0x01, 0x80, 0xff, 0x7f};
	for (size_t i = 0; i < len; i++) {
		for (size_t x = 0; x < sizeof(xors); x++) {
			buf[i] ^= xors[x];
			open_and_walk(buf, len);
			buf[i] ^= xors[x];
		}
	}
	/* header or table damage is caught by the checksums */
	struct index_reader *r;
	buf[20] ^= 1;
	assert_int_equal(index_reader_open_mem(&r, buf, len, NULL, 0), -EBADMSG);
	buf[20] ^= 1;
	buf[64 + 3] ^= 1;
	assert_int_equal(index_reader_open_mem(&r, buf, len, NULL, 0), -EBADMSG);
	buf[64 + 3] ^= 1;
	assert_int_equal(index_reader_open_mem(&r, "STCAPIX1", 8, NULL, 0), -EBADMSG);
	free(buf);
	index_writer_free(&w);
}

/* ---- real captures, indexed as the capture loop does it ---- */

struct live {
	struct flow_table *ft;
	struct index_writer *iw;
};

/* A later fragment held for its first, counted in its flow: its pending packet is given it. */
static void live_held(void *arg, const struct flow *f, int dir, const struct flow_frag_held *h)
{
	struct live *l = arg;
	(void)dir;
	if (h->tag != FLOW_TAG_NONE)
		assert_int_equal(
		    index_writer_assign(l->iw, (size_t)h->tag, f->id, &f->key, h->ts_ns, NULL),
		    0);
}

static uint64_t index_capture(const char *name, uint8_t **buf, size_t *len)
{
	struct flow_config c;
	struct live l;
	struct pcapfile_reader *r;
	struct pcapfile_pkt p;
	flow_config_default(&c);
	c.id_base = 5000000; /* ids of a run, not starting at 1 */
	c.held_cb = live_held;
	c.cb_arg = &l;
	assert_int_equal(flow_table_new(&l.ft, &c), 0);
	assert_int_equal(index_writer_new(&l.iw, c.cid_seed, 0), 0);
	assert_int_equal(pcapfile_reader_open_path(&r, pcap_path(name), NULL, 0), 0);
	while (pcapfile_reader_next(r, &p) == 1) {
		struct decode_pkt d;
		int dir;
		if (decode_packet(p.linktype, p.data, p.caplen, &d) < 0)
			continue;
		size_t pos;
		struct flow *f = flow_table_track(l.ft, &d, p.ts_ns, p.origlen, &dir);
		if (f) {
			assert_int_equal(
			    index_writer_add(l.iw, f->id, &f->key, p.ts_ns, p.offset), 0);
		} else if (dir == FLOW_DIR_HELD) {
			assert_int_equal(index_writer_add_pending(l.iw, p.offset, &pos), 0);
			flow_table_tag_held(l.ft, pos);
		}
	}
	uint64_t size = pcapfile_reader_offset(r);
	flow_table_release_frags(l.ft, FLOW_FILE_ANY);
	pcapfile_reader_close(&r);
	assert_int_equal(index_writer_encode(l.iw, size, buf, len), 0);
	index_writer_free(&l.iw);
	flow_table_free(&l.ft);
	return size;
}

struct verify {
	struct pcapfile_reader *pr;
	long flows, pkts;
};

/* Each offset leads to a packet of that flow, in either direction. */
static int verify_cb(void *arg, const struct index_flow *fl, const uint64_t *offs)
{
	struct verify *v = arg;
	v->flows++;
	for (uint32_t i = 0; i < fl->npkts; i++) {
		struct pcapfile_pkt p;
		struct decode_pkt d;
		struct decode_key k, rk;
		assert_int_equal(pcapfile_reader_seek(v->pr, offs[i]), 0);
		assert_int_equal(pcapfile_reader_next(v->pr, &p), 1);
		assert_true(p.ts_ns >= fl->first_ns && p.ts_ns <= fl->last_ns);
		assert_int_equal(decode_packet(p.linktype, p.data, p.caplen, &d), 0);
		assert_int_equal(decode_key_get(&d, &k), 0);
		decode_key_reverse(&k, &rk);
		/* later fragments carry no ports of their own */
		if (!(d.flags & DECODE_F_FRAG_LATER))
			assert_true(memcmp(&k, &fl->key, sizeof(k)) == 0 ||
			            memcmp(&rk, &fl->key, sizeof(k)) == 0);
		v->pkts++;
	}
	return 0;
}

static void test_real_captures(void **state)
{
	static const struct {
		const char *name;
		long tcp_flows;
	} caps[] = {
	    {"capture-Thu-11-24-16-10-28-11_cerber.pcap", 257},
	    {"evilfingers_xscan_capture.pcap", 636},
	    {"synscan.pcapng", 1994},
	    {"http_espn.pcapng", 25},
	    {"ipv6_fragments.pcapng", 0},
	    {"nb6-startup.pcap", 8},
	};
	NEED_PCAP(caps[0].name);
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		uint8_t *buf;
		size_t len;
		struct index_reader *r;
		struct index_info info;
		struct verify v = {0};
		uint64_t size = index_capture(caps[i].name, &buf, &len);
		assert_int_equal(index_reader_open_mem(&r, buf, len, NULL, 0), 0);
		index_reader_info(r, &info);
		assert_int_equal(
		    pcapfile_reader_open_path(&v.pr, pcap_path(caps[i].name), NULL, 0), 0);
		assert_int_equal(index_reader_foreach(r, verify_cb, &v), 0);
		assert_int_equal(v.flows, info.nflows);
		assert_int_equal(v.pkts, (long)info.npkts);
		if (i < 4) { /* the captures the 3% budget is measured on */
			double pct = 100.0 * (double)len / (double)size;
			print_message(
			    "%-45s %8llu bytes, index %6zu bytes = %.2f%%, %u flows\n",
			    caps[i].name, (unsigned long long)size, len, pct, info.nflows);
			assert_true(pct < 3.0);
		}
		pcapfile_reader_close(&v.pr);
		index_reader_close(&r);
		free(buf);
	}
}

/* A lost index is rebuilt from the PCAP: same flows, same offsets, flagged. */
static int collect_cb(void *arg, const struct index_flow *fl, const uint64_t *offs)
{
	uint64_t *sum = arg;
	sum[0]++;
	sum[1] += fl->npkts;
	for (uint32_t i = 0; i < fl->npkts; i++)
		sum[2] = sum[2] * 31 + offs[i] + fl->key.sport;
	return 0;
}

static void test_rebuild(void **state)
{
	const char *name = "evilfingers_xscan_capture.pcap";
	char err[256];
	uint8_t *buf;
	size_t len;
	struct index_reader *a, *b;
	struct index_info ia, ib;
	uint64_t sa[3] = {0}, sb[3] = {0};
	NEED_PCAP(name);
	index_capture(name, &buf, &len);
	assert_int_equal(
	    index_rebuild(pcap_path(name), test_dir_path("xscan.idx"), NULL, err, sizeof(err)),
	    0);
	assert_int_equal(index_reader_open_mem(&a, buf, len, NULL, 0), 0);
	assert_int_equal(index_reader_open(&b, test_dir_path("xscan.idx"), err, sizeof(err)),
	                 0);
	index_reader_info(a, &ia);
	index_reader_info(b, &ib);
	assert_int_equal(ia.flags, 0);
	assert_int_equal(ib.flags, INDEX_F_REBUILT);
	assert_int_equal(ia.nflows, ib.nflows);
	assert_int_equal(ia.npkts, ib.npkts);
	assert_int_equal(ia.pcap_size, ib.pcap_size);
	assert_int_equal(index_reader_foreach(a, collect_cb, sa), 0);
	assert_int_equal(index_reader_foreach(b, collect_cb, sb), 0);
	assert_memory_equal(sa, sb, sizeof(sa)); /* flows in the same order, same offsets */
	index_reader_close(&a);
	index_reader_close(&b);
	free(buf);

	/* a PCAP cut short (writer killed): the index covers the whole records */
	size_t n;
	FILE *f = fopen(pcap_path(name), "rb");
	uint8_t *img = malloc(200000);
	n = fread(img, 1, 200000, f);
	fclose(f);
	FILE *o = fopen(test_dir_path("cut.pcap"), "wb");
	fwrite(img, 1, n - 7, o);
	fclose(o);
	free(img);
	assert_int_equal(index_rebuild(test_dir_path("cut.pcap"), test_dir_path("cut.pcap.idx"),
	                               NULL, err, sizeof(err)),
	                 0);
	assert_int_equal(index_reader_open(&b, test_dir_path("cut.pcap.idx"), err, sizeof(err)),
	                 0);
	index_reader_info(b, &ib);
	assert_true(ib.pcap_size < n - 7 && ib.pcap_size > n - 7 - 1600);
	index_reader_close(&b);
	assert_int_equal(index_rebuild(test_dir_path("nothere.pcap"), test_dir_path("n.idx"),
	                               NULL, err, sizeof(err)),
	                 -ENOENT);

	/* packets longer than the file's snaplen (ingest adopts such a file, as
	 * libpcap reads it): indexed, all of them */
	const char *attack = "honeynet_fc2010-1_attack-trace.pcap";
	NEED_PCAP(attack);
	f = fopen(pcap_path(attack), "rb");
	img = malloc(200000);
	n = fread(img, 1, 200000, f);
	fclose(f);
	uint32_t snap = 96;
	memcpy(img + 16, &snap, 4);
	o = fopen(test_dir_path("snap.pcap"), "wb");
	fwrite(img, 1, n, o);
	fclose(o);
	free(img);
	if (index_rebuild(test_dir_path("snap.pcap"), test_dir_path("snap.pcap.idx"), NULL, err,
	                  sizeof(err)) != 0)
		fail_msg("rebuild: %s", err);
	assert_int_equal(
	    index_reader_open(&b, test_dir_path("snap.pcap.idx"), err, sizeof(err)), 0);
	index_reader_info(b, &ib);
	assert_int_equal(ib.npkts, 348);
	assert_int_equal(ib.pcap_size, n);
	index_reader_close(&b);
}

/* Pull the 1080/tcp download out of the honeypot attack: the same bytes as
 * tshark -r attack-trace.pcap -Y tcp.stream==4 -w out.pcap -F pcap. */
struct find_port {
	uint16_t port;
	struct index_flow fl;
	uint64_t offs[512];
	int found;
};

static int port_cb(void *arg, const struct index_flow *fl, const uint64_t *offs)
{
	struct find_port *fp = arg;
	if (fl->key.dport != fp->port || fl->key.proto != 6)
		return 0;
	assert_true(fl->npkts <= 512);
	fp->fl = *fl;
	memcpy(fp->offs, offs, fl->npkts * sizeof(*offs));
	fp->found++;
	return 0;
}

static void test_extract_session(void **state)
{
	const char *name = "honeynet_fc2010-1_attack-trace.pcap";
	uint8_t *buf;
	size_t len;
	struct index_reader *r;
	struct pcapfile_reader *pr;
	struct pcapfile_writer *w;
	struct pcapfile_pkt p;
	struct find_port fp = {.port = 1080};
	NEED_PCAP(name);
	index_capture(name, &buf, &len);
	assert_int_equal(index_reader_open_mem(&r, buf, len, NULL, 0), 0);
	assert_int_equal(index_reader_foreach(r, port_cb, &fp), 0);
	assert_int_equal(fp.found, 1);
	assert_int_equal(fp.fl.npkts, 271);
	assert_int_equal(pcapfile_reader_open_path(&pr, pcap_path(name), NULL, 0), 0);
	assert_int_equal(pcapfile_writer_open_path(&w, test_dir_path("s4.pcap"), PCAPFILE_PCAP,
	                                           pcapfile_reader_linktype(pr),
	                                           pcapfile_reader_snaplen(pr), NULL, 0),
	                 0);
	for (uint32_t i = 0; i < fp.fl.npkts; i++) {
		assert_int_equal(pcapfile_reader_seek(pr, fp.offs[i]), 0);
		assert_int_equal(pcapfile_reader_next(pr, &p), 1);
		assert_int_equal(
		    pcapfile_writer_write(w, p.ts_ns, p.data, p.caplen, p.origlen, NULL), 0);
	}
	assert_int_equal(pcapfile_writer_close(&w), 0);
	pcapfile_reader_close(&pr);
	index_reader_close(&r);
	free(buf);

	FILE *f = fopen(test_dir_path("s4.pcap"), "rb");
	uint8_t *img = malloc(1 << 20);
	size_t n = fread(img, 1, 1 << 20, f);
	fclose(f);
	uint8_t md[SHA256_DIGEST_LENGTH];
	char hex[2 * SHA256_DIGEST_LENGTH + 1];
	SHA256(img, n, md);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	free(img);
	assert_int_equal(n, 177748);
	assert_string_equal(hex,
	                    "bbce23478c3da14dd1a4743ba6eb2e5b27e0be8b90d44e05366a5fe32596c35a");
}

/* ---- packets indexed before their flow is known (fragments held for their first) ---- */

static void test_pending(void **state)
{
	struct index_writer *w;
	struct decode_key a, b, c;
	struct index_reader *r;
	struct index_info info;
	struct index_flow fl;
	const uint64_t *offs;
	uint8_t *buf;
	size_t len, p1, p2, p3;
	const int64_t MS = 1000000;
	make_key(&a, 1);
	make_key(&b, 2);
	make_key(&c, 3);
	assert_int_equal(index_writer_new(&w, 0, 0), 0);
	assert_int_equal(index_writer_add(w, 10, &a, 5 * MS, 100), 0);
	assert_int_equal(index_writer_add_pending(w, 200, &p1), 0); /* a's, found out later */
	assert_int_equal(index_writer_add(w, 20, &b, 6 * MS, 250), 0);
	assert_int_equal(index_writer_add_pending(w, 300, &p2), 0); /* a flow not seen yet */
	assert_int_equal(index_writer_add(w, 10, &a, 7 * MS, 400), 0);
	assert_int_equal(index_writer_add_pending(w, 500, &p3), 0); /* never given one */
	assert_int_equal(index_writer_add_pending(w, 450, &p3),
	                 -EINVAL); /* not in file order */
	assert_int_equal(index_writer_assign(w, p1, 10, &a, 2 * MS, NULL), 0);
	assert_int_equal(index_writer_assign(w, p1, 10, &a, 2 * MS, NULL), -ENOENT); /* once */
	assert_int_equal(index_writer_assign(w, 1, 10, &a, 2 * MS, NULL),
	                 -ENOENT); /* a's own */
	assert_int_equal(index_writer_assign(w, 99, 10, &a, 2 * MS, NULL), -ENOENT);
	struct index_hint hint = {0, 0};
	assert_int_equal(index_writer_assign(w, p2, 30, &c, 8 * MS, &hint), 0);
	/* the hint the assignment left serves the flow's next packet */
	assert_int_equal(index_writer_add_hint(w, 30, &c, 9 * MS, 600, &hint), 0);
	assert_int_equal(index_writer_encode(w, 1000, &buf, &len), 0);
	assert_int_equal(index_reader_open_mem(&r, buf, len, NULL, 0), 0);
	index_reader_info(r, &info);
	assert_int_equal(info.nflows, 3);
	assert_int_equal(info.npkts, 6); /* the packet never given a flow is in none */
	assert_int_equal(index_reader_find(r, 10, &fl, &offs), 0);
	assert_int_equal(fl.npkts, 3);
	assert_int_equal(offs[0], 100); /* in file order, the late one in its place */
	assert_int_equal(offs[1], 200);
	assert_int_equal(offs[2], 400);
	assert_int_equal(fl.first_ns, 2 * MS);
	assert_int_equal(fl.last_ns, 7 * MS);
	assert_int_equal(index_reader_find(r, 30, &fl, &offs), 0);
	assert_int_equal(fl.npkts, 2);
	assert_int_equal(offs[0], 300);
	assert_int_equal(offs[1], 600);
	assert_memory_equal(&fl.key, &c, sizeof(c));
	assert_int_equal(index_reader_find(r, 20, &fl, &offs), 0);
	assert_int_equal(fl.npkts, 1);
	index_reader_close(&r);
	free(buf);

	/* a flow whose offsets would go back is refused at encoding, never written */
	index_writer_reset(w);
	assert_int_equal(index_writer_add_pending(w, 200, &p1), 0);
	assert_int_equal(index_writer_add(w, 10, &a, 0, 100), 0);
	assert_int_equal(index_writer_assign(w, p1, 10, &a, 0, NULL), 0);
	assert_int_equal(index_writer_encode(w, 1000, &buf, &len), -EINVAL);
	index_writer_free(&w);
}

/*
 * A rebuilt index (no index, or a crash) keys tail-first fragments as the capture run did:
 * a UDP datagram whose later fragments come before its first is one session of three
 * packets, in file order; a later fragment whose first never comes is in a flow without
 * ports.
 */
struct frag_flows {
	uint32_t with_ports, portless, other;
	uint64_t offs[3];
};

static int frag_cb(void *arg, const struct index_flow *fl, const uint64_t *offs)
{
	struct frag_flows *ff = arg;
	if (fl->key.sport == 5000 && fl->key.dport == 53) {
		ff->with_ports = fl->npkts;
		for (uint32_t i = 0; i < fl->npkts && i < 3; i++)
			ff->offs[i] = offs[i];
	} else if (fl->key.sport == 0) {
		ff->portless = fl->npkts;
	} else {
		ff->other += fl->npkts;
	}
	return 0;
}

static void test_rebuild_tail_first(void **state)
{
	uint8_t frag[3][64], lone[3][64], other[3][64];
	size_t len[3], llen[3], olen[3];
	uint64_t off[6];
	char err[256];
	struct pcapfile_writer *w;
	udp_fragments("10.5.0.1", "10.5.0.2", 1, 5000, 53, frag, len);
	udp_fragments("10.5.0.1", "10.5.0.2", 2, 5000, 53, lone, llen);
	udp_fragments("10.5.0.1", "10.5.0.2", 3, 7, 9, other, olen);
	other[0][7] = 0; /* not a fragment: a datagram of its own (its length aside) */
	other[0][6] = 0;
	assert_int_equal(pcapfile_writer_open_path(&w, test_dir_path("tail.pcap"),
	                                           PCAPFILE_PCAP, DECODE_LINK_RAW, 65535, err,
	                                           sizeof(err)),
	                 0);
	const int64_t S = 1000000000ll;
	assert_int_equal(pcapfile_writer_write(w, 1 * S, other[0], olen[0], olen[0], &off[0]),
	                 0);
	assert_int_equal(pcapfile_writer_write(w, 2 * S, frag[2], len[2], len[2], &off[1]), 0);
	assert_int_equal(pcapfile_writer_write(w, 3 * S, frag[1], len[1], len[1], &off[2]), 0);
	assert_int_equal(pcapfile_writer_write(w, 4 * S, other[0], olen[0], olen[0], &off[3]),
	                 0);
	assert_int_equal(pcapfile_writer_write(w, 5 * S, frag[0], len[0], len[0], &off[4]), 0);
	assert_int_equal(pcapfile_writer_write(w, 6 * S, lone[2], llen[2], llen[2], &off[5]),
	                 0);
	assert_int_equal(pcapfile_writer_close(&w), 0);
	assert_int_equal(index_rebuild(test_dir_path("tail.pcap"),
	                               test_dir_path("tail.pcap.idx"), NULL, err, sizeof(err)),
	                 0);
	struct index_reader *r;
	struct index_info info;
	struct frag_flows ff = {0};
	assert_int_equal(
	    index_reader_open(&r, test_dir_path("tail.pcap.idx"), err, sizeof(err)), 0);
	index_reader_info(r, &info);
	assert_int_equal(info.npkts, 6);
	assert_int_equal(index_reader_foreach(r, frag_cb, &ff), 0);
	assert_int_equal(ff.with_ports, 3);
	assert_int_equal(ff.offs[0], off[1]);
	assert_int_equal(ff.offs[1], off[2]);
	assert_int_equal(ff.offs[2], off[4]);
	assert_int_equal(ff.portless, 1);
	assert_int_equal(ff.other, 2);
	index_reader_close(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip), cmocka_unit_test(test_hints),
	    cmocka_unit_test(test_corrupt),   cmocka_unit_test(test_real_captures),
	    cmocka_unit_test(test_rebuild),   cmocka_unit_test(test_extract_session),
	    cmocka_unit_test(test_pending),   cmocka_unit_test(test_rebuild_tail_first),
	};
	return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}

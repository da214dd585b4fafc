/*
 * The recorder (what live capture and ingest share): a real capture fed
 * through small rotating spool files; every file published with its index;
 * flow events naming their files; one session's packets found again through
 * the indexes of several files, byte for byte; the quota deleting the
 * oldest files with a pcap_expired event each; a new file when the link
 * type changes, and one file per link type when they take turns; adopting a
 * classic pcap as it is, also one still growing; files finishing together
 * queued for the finisher without waiting for one another; a flow whose file
 * is still open not reported expired when files written beside it are
 * deleted; IP fragments that come before their first counted and indexed in
 * their session, packet by packet and adopted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "capture/index.h"
#include "capture/pcapfile.h"
#include "capture/recorder.h"
#include "capture/spool.h"
#include "capture_test.h"
#include "common/emit.h"
#include "common/event.h"

#define ATTACK "honeynet_fc2010-1_attack-trace.pcap"

/* Every record the recorder emits, kept. */
struct events {
	uint8_t *buf;
	size_t len;
	int flows, expired;
};

static void sink(const uint8_t *rec, size_t len, void *arg)
{
	struct events *ev = arg;
	struct ev_field t;
	ev->buf = realloc(ev->buf, ev->len + len);
	memcpy(ev->buf + ev->len, rec, len);
	ev->len += len;
	assert_true(ev_find(rec, len, "event_type", &t));
	if (t.strlen == 4 && !memcmp(t.str, "flow", 4))
		ev->flows++;
	if (t.strlen == 12 && !memcmp(t.str, "pcap_expired", 12))
		ev->expired++;
}

static void config(struct recorder_config *c, uint64_t file_size)
{
	memset(c, 0, sizeof(*c));
	c->spool = test_dir;
	c->format = PCAPFILE_PCAP;
	c->file_size = file_size;
	flow_config_default(&c->flow);
	c->flow.id_base = 1000;
	c->flow.hash_seed = 1;
	c->owner = (uid_t)-1;
	c->group = (gid_t)-1;
}

static long feed(struct recorder *r, const char *name)
{
	struct pcapfile_reader *rd;
	struct pcapfile_pkt p;
	char err[256];
	long n = 0;
	assert_int_equal(pcapfile_reader_open_path(&rd, pcap_path(name), err, sizeof(err)), 0);
	while (pcapfile_reader_next(rd, &p) == 1) {
		assert_int_equal(
		    recorder_packet(r, p.ts_ns, p.data, p.caplen, p.origlen, p.linktype), 0);
		n++;
	}
	pcapfile_reader_close(&rd);
	return n;
}

/* The flow event of the session to port 1080 (the malware download). */
static int find_session(const struct events *ev, uint64_t *id, char *first, char *last)
{
	size_t off = 0;
	while (off < ev->len) {
		long rl = ev_record_check(ev->buf + off, ev->len - off);
		assert_true(rl > 0);
		const uint8_t *rec = ev->buf + off;
		struct ev_field f, a, b;
		if (ev_find(rec, (size_t)rl, "dest_port", &f) && f.i == 1080 &&
		    ev_find(rec, (size_t)rl, "flow_id", &f) &&
		    ev_find(rec, (size_t)rl, "pcap.file_first", &a) &&
		    ev_find(rec, (size_t)rl, "pcap.file_last", &b)) {
			*id = (uint64_t)f.i;
			snprintf(first, SPOOL_NAME_MAX, "%.*s", (int)a.strlen, a.str);
			snprintf(last, SPOOL_NAME_MAX, "%.*s", (int)b.strlen, b.str);
			return 1;
		}
		off += (size_t)rl;
	}
	return 0;
}

/* A digest of the packets of 2152 <-> 1080 in the source, in file order. */
static void source_digest(char *out, size_t len, long *count)
{
	struct pcapfile_reader *rd;
	struct pcapfile_pkt p;
	char err[256];
	uint64_t h = 1469598103934665603ull;
	*count = 0;
	assert_int_equal(pcapfile_reader_open_path(&rd, pcap_path(ATTACK), err, sizeof(err)),
	                 0);
	while (pcapfile_reader_next(rd, &p) == 1) {
		struct decode_pkt d;
		if (decode_packet(p.linktype, p.data, p.caplen, &d) < 0 ||
		    !(d.flags & DECODE_F_L4))
			continue;
		if (!((d.sport == 2152 && d.dport == 1080) ||
		      (d.sport == 1080 && d.dport == 2152)))
			continue;
		for (uint32_t i = 0; i < p.caplen; i++)
			h = (h ^ p.data[i]) * 1099511628211ull;
		h = (h ^ (uint64_t)p.ts_ns) * 1099511628211ull;
		(*count)++;
	}
	pcapfile_reader_close(&rd);
	snprintf(out, len, "%016llx", (unsigned long long)h);
}

static void test_rotation_and_extraction(void **state)
{
	NEED_PCAP(ATTACK);
	struct recorder_config c;
	struct recorder *r;
	struct emitter em;
	struct events ev = {NULL, 0, 0, 0};
	char err[256];
	config(&c, 48 * 1024);
	emit_init(&em, NULL, -1, "test");
	emit_set_sink(&em, sink, &ev);
	assert_int_equal(recorder_new(&r, &c, &em, err, sizeof(err)), 0);
	long n = feed(r, ATTACK);
	assert_int_equal(n, 348);
	struct recorder_stats st;
	recorder_stats(r, &st);
	assert_int_equal(st.pkts, 348);
	assert_int_equal(st.written, 348);
	recorder_close(&r, FLOW_END_SHUTDOWN);
	emit_drain(&em);

	struct spool_file *files;
	size_t nf;
	assert_int_equal(spool_list(test_dir, &files, &nf), 0);
	assert_true(nf >= 4); /* 189 KB in 48 KB files */
	for (size_t i = 0; i < nf; i++) {
		assert_false(files[i].part);
		assert_true(files[i].indexed);
	}
	assert_true(ev.flows >= 5);
	assert_int_equal(ev.expired, 0);

	uint64_t id = 0;
	char first[SPOOL_NAME_MAX], last[SPOOL_NAME_MAX];
	assert_true(find_session(&ev, &id, first, last));
	assert_string_not_equal(first, last); /* 167 KB: it spans files */

	/* its packets, through the index of each file it spans */
	uint64_t h = 1469598103934665603ull;
	long count = 0;
	struct spool_file ff, fl;
	assert_int_equal(spool_name_parse(first, &ff), 0);
	assert_int_equal(spool_name_parse(last, &fl), 0);
	for (size_t i = 0; i < nf; i++) {
		if (files[i].seq < ff.seq || files[i].seq > fl.seq)
			continue;
		char path[512], idx[520];
		snprintf(path, sizeof(path), "%s/%s", test_dir, files[i].name);
		snprintf(idx, sizeof(idx), "%s.idx", path);
		struct index_reader *ir;
		struct index_flow flw;
		const uint64_t *offs;
		assert_int_equal(index_reader_open(&ir, idx, err, sizeof(err)), 0);
		assert_int_equal(index_reader_find(ir, id, &flw, &offs), 0);
		struct pcapfile_reader *rd;
		struct pcapfile_pkt p;
		assert_int_equal(pcapfile_reader_open_path(&rd, path, err, sizeof(err)), 0);
		for (uint32_t k = 0; k < flw.npkts; k++) {
			assert_int_equal(pcapfile_reader_seek(rd, offs[k]), 0);
			assert_int_equal(pcapfile_reader_next(rd, &p), 1);
			for (uint32_t b = 0; b < p.caplen; b++)
				h = (h ^ p.data[b]) * 1099511628211ull;
			h = (h ^ (uint64_t)p.ts_ns) * 1099511628211ull;
			count++;
		}
		pcapfile_reader_close(&rd);
		index_reader_close(&ir);
	}
	char got[32], want[32];
	long want_count;
	snprintf(got, sizeof(got), "%016llx", (unsigned long long)h);
	source_digest(want, sizeof(want), &want_count);
	assert_int_equal(count, want_count);
	assert_int_equal(count, 271);
	assert_string_equal(got, want);
	free(files);
	free(ev.buf);
	emit_free(&em);
}

static void test_quota(void **state)
{
	NEED_PCAP(ATTACK);
	struct recorder_config c;
	struct recorder *r;
	struct emitter em;
	struct events ev = {NULL, 0, 0, 0};
	char err[256];
	config(&c, 32 * 1024);
	c.limits.max_disk = 100 * 1024;
	emit_init(&em, NULL, -1, "test");
	emit_set_sink(&em, sink, &ev);
	assert_int_equal(recorder_new(&r, &c, &em, err, sizeof(err)), 0);
	feed(r, ATTACK);
	recorder_close(&r, FLOW_END_SHUTDOWN);
	emit_drain(&em);

	struct spool_file *files;
	size_t nf;
	assert_int_equal(spool_list(test_dir, &files, &nf), 0);
	uint64_t total = 0;
	for (size_t i = 0; i < nf; i++)
		total += files[i].size;
	assert_true(total <= 100 * 1024);
	assert_true(ev.expired >= 3);
	/* the survivors are the newest: their sequence numbers run up to the last */
	assert_int_equal(files[nf - 1].seq, files[0].seq + nf - 1);
	assert_int_equal(files[0].seq, (uint32_t)ev.expired + 1);
	free(files);
	free(ev.buf);
	emit_free(&em);
}

/* A SYN scan (a flow per packet): a file ends when its index takes what the recorder
 * allows, whatever its size, and no packet is lost to it. */
static void test_index_memory_ends_a_file(void **state)
{
	NEED_PCAP("synscan.pcapng");
	struct recorder_config c;
	struct recorder *r;
	struct emitter em;
	struct events ev = {NULL, 0, 0, 0};
	char err[256];
	config(&c, 0); /* no size limit */
	c.index_max_mem = 32 * 1024;
	emit_init(&em, NULL, -1, "test");
	emit_set_sink(&em, sink, &ev);
	assert_int_equal(recorder_new(&r, &c, &em, err, sizeof(err)), 0);
	long n = feed(r, "synscan.pcapng");
	struct recorder_stats st;
	recorder_stats(r, &st);
	recorder_close(&r, FLOW_END_SHUTDOWN);
	emit_drain(&em);
	assert_int_equal(st.written, n);
	assert_int_equal(st.write_errors, 0);
	struct spool_file *files;
	size_t nf;
	assert_int_equal(spool_list(test_dir, &files, &nf), 0);
	assert_true(nf >= 5);
	for (size_t i = 0; i < nf; i++) {
		assert_false(files[i].part);
		assert_true(files[i].indexed);
	}
	free(files);
	free(ev.buf);
	emit_free(&em);
}

static void test_linktype_and_adopt(void **state)
{
	NEED_PCAP(ATTACK);
	NEED_PCAP("ivre_dnsbl_rawip.pcap");
	struct recorder_config c;
	struct recorder *r;
	struct emitter em;
	struct events ev = {NULL, 0, 0, 0};
	char err[256], stop[256];
	uint64_t n;
	config(&c, 0);
	c.format = PCAPFILE_PCAPNG;
	emit_init(&em, NULL, -1, "test");
	emit_set_sink(&em, sink, &ev);
	assert_int_equal(recorder_new(&r, &c, &em, err, sizeof(err)), 0);
	feed(r, ATTACK);
	feed(r, "ivre_dnsbl_rawip.pcap"); /* RAW: a file of its own */
	assert_int_equal(
	    recorder_adopt(r, pcap_path(ATTACK), &n, stop, sizeof(stop), err, sizeof(err)), 0);
	assert_int_equal(n, 348);
	assert_string_equal(stop, "");
	assert_int_equal(recorder_adopt(r, pcap_path("http_espn.pcapng"), &n, stop,
	                                sizeof(stop), err, sizeof(err)),
	                 -ENOTSUP);
	recorder_close(&r, FLOW_END_SHUTDOWN);
	emit_drain(&em);

	struct spool_file *files;
	size_t nf;
	assert_int_equal(spool_list(test_dir, &files, &nf), 0);
	assert_int_equal(nf, 3);
	assert_true(files[0].pcapng);
	assert_true(files[1].pcapng);
	assert_false(files[2].pcapng); /* adopted as it is */
	struct stat st;
	assert_int_equal(stat(pcap_path(ATTACK), &st), 0);
	assert_int_equal(files[2].pcap_size, (uint64_t)st.st_size);
	free(files);
	free(ev.buf);
	emit_free(&em);
}

/*
 * More link types taking turns than files open at once: past 64 files
 * finished to make room, a packet of a link type without a file is refused
 * and counted; a live capture (which never rotates every file at once) gets
 * the room back each second at its tick, instead of refusing for ever.
 */
static void test_room_for_link_types_comes_back(void **state)
{
	(void)state;
	struct recorder_config c;
	struct recorder *r;
	struct emitter em;
	struct events ev = {NULL, 0, 0, 0};
	struct recorder_stats st;
	char err[256];
	uint8_t frame[64];
	memset(frame, 0xab, sizeof(frame));
	config(&c, 0);
	emit_init(&em, NULL, -1, "test");
	emit_set_sink(&em, sink, &ev);
	assert_int_equal(recorder_new(&r, &c, &em, err, sizeof(err)), 0);
	int64_t ts = 1700000000LL * 1000000000LL;
	int refused_at = -1;
	for (int i = 0; i < 9 * 20 && refused_at < 0; i++) {
		int rc = recorder_packet(r, ts + i, frame, sizeof(frame), sizeof(frame),
		                         147u + (uint32_t)(i % 9));
		if (rc == -EMLINK)
			refused_at = i;
		else
			assert_int_equal(rc, 0);
	}
	assert_true(refused_at > 0);
	recorder_stats(r, &st);
	assert_int_equal(st.refused, 1);
	assert_int_equal(recorder_packet(r, ts + 1000, frame, sizeof(frame), sizeof(frame),
	                                 147u + (uint32_t)(refused_at % 9)),
	                 -EMLINK);
	usleep(1100 * 1000);
	recorder_tick(r);
	assert_int_equal(recorder_packet(r, ts + 2000, frame, sizeof(frame), sizeof(frame),
	                                 147u + (uint32_t)(refused_at % 9)),
	                 0);
	recorder_stats(r, &st);
	assert_int_equal(st.refused, 2);
	recorder_close(&r, FLOW_END_SHUTDOWN);
	emit_drain(&em);
	free(ev.buf);
}

/*
 * Link types taking turns packet by packet (a pcapng of two interfaces): one
 * file per link type, written side by side, not a file per packet. The same
 * session seen on both (its frames as Ethernet and as raw IP) names the
 * first and the last of them, and its packets are found in both indexes.
 */
static void test_link_types_taking_turns(void **state)
{
	NEED_PCAP(ATTACK);
	struct recorder_config c;
	struct recorder *r;
	struct emitter em;
	struct events ev = {NULL, 0, 0, 0};
	struct pcapfile_reader *rd;
	struct pcapfile_pkt p;
	char err[256];
	config(&c, 0);
	emit_init(&em, NULL, -1, "test");
	emit_set_sink(&em, sink, &ev);
	assert_int_equal(recorder_new(&r, &c, &em, err, sizeof(err)), 0);
	assert_int_equal(pcapfile_reader_open_path(&rd, pcap_path(ATTACK), err, sizeof(err)),
	                 0);
	long n = 0;
	while (pcapfile_reader_next(rd, &p) == 1) {
		if (n++ % 2 == 0)
			assert_int_equal(recorder_packet(r, p.ts_ns, p.data, p.caplen,
			                                 p.origlen, p.linktype),
			                 0);
		else /* the same frame without its Ethernet header */
			assert_int_equal(recorder_packet(r, p.ts_ns, p.data + 14, p.caplen - 14,
			                                 p.origlen - 14, DECODE_LINK_RAW),
			                 0);
	}
	pcapfile_reader_close(&rd);
	assert_int_equal(n, 348);
	recorder_close(&r, FLOW_END_SHUTDOWN);
	emit_drain(&em);

	struct spool_file *files;
	size_t nf;
	assert_int_equal(spool_list(test_dir, &files, &nf), 0);
	assert_int_equal(nf, 2);
	uint64_t id = 0;
	char first[SPOOL_NAME_MAX], last[SPOOL_NAME_MAX];
	assert_true(find_session(&ev, &id, first, last));
	assert_string_equal(first, files[0].name);
	assert_string_equal(last, files[1].name);
	long total = 0, of_session = 0;
	for (size_t i = 0; i < nf; i++) {
		char path[512], idx[520];
		snprintf(path, sizeof(path), "%s/%s", test_dir, files[i].name);
		snprintf(idx, sizeof(idx), "%s.idx", path);
		assert_int_equal(pcapfile_reader_open_path(&rd, path, err, sizeof(err)), 0);
		assert_int_equal(pcapfile_reader_linktype(rd), i == 0 ? 1 : DECODE_LINK_RAW);
		while (pcapfile_reader_next(rd, &p) == 1)
			total++;
		pcapfile_reader_close(&rd);
		struct index_reader *ir;
		struct index_flow flw;
		const uint64_t *offs;
		assert_int_equal(index_reader_open(&ir, idx, err, sizeof(err)), 0);
		assert_int_equal(index_reader_find(ir, id, &flw, &offs), 0);
		of_session += flw.npkts;
		index_reader_close(&ir);
	}
	assert_int_equal(total, 348);
	assert_int_equal(of_session, 271);
	free(files);
	free(ev.buf);
	emit_free(&em);
}

/* Appends whole records to a file, over and over, until told to stop. */
struct appender {
	const char *path;
	const uint8_t *recs;
	size_t len;
	int stop;
	uint64_t appended;
};

static void *append_loop(void *arg)
{
	struct appender *a = arg;
	int fd = open(a->path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	while (!__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE) && a->appended < (64u << 20)) {
		if (write(fd, a->recs, a->len) != (ssize_t)a->len)
			break;
		__atomic_add_fetch(&a->appended, a->len, __ATOMIC_RELEASE);
		usleep(100);
	}
	close(fd);
	return NULL;
}

static int check_offset(void *arg, const struct index_flow *fl, const uint64_t *offs)
{
	struct pcapfile_reader *rd = arg;
	struct pcapfile_pkt p;
	for (uint32_t i = 0; i < fl->npkts; i++) {
		assert_int_equal(pcapfile_reader_seek(rd, offs[i]), 0);
		assert_int_equal(pcapfile_reader_next(rd, &p), 1);
		assert_true(p.ts_ns > 0 && p.caplen > 0);
	}
	return 0;
}

/*
 * A classic pcap that grows while it is adopted (a capture tool still
 * writing it) is taken as it was when looked at: the packets read are the
 * bytes copied, and the index points at them, never at bytes the copy did
 * not take (which a cut extending the file turned into zeros: packets of
 * time 0).
 */
static void test_adopt_growing(void **state)
{
	NEED_PCAP(ATTACK);
	struct recorder_config c;
	struct recorder *r;
	struct emitter em;
	struct events ev = {NULL, 0, 0, 0};
	char err[256], stop[256], src[512];
	uint64_t n;

	/* the attack trace's records, 8 MB of them after its header */
	FILE *f = fopen(pcap_path(ATTACK), "rb");
	assert_non_null(f);
	static uint8_t data[256 * 1024];
	size_t len = fread(data, 1, sizeof(data), f);
	fclose(f);
	assert_true(len > 24 && len < sizeof(data));
	snprintf(src, sizeof(src), "%s/growing.pcap", test_dir);
	f = fopen(src, "wb");
	assert_non_null(f);
	fwrite(data, 1, len, f);
	for (int i = 0; i < 44; i++)
		fwrite(data + 24, 1, len - 24, f);
	fclose(f);

	struct appender a = {src, data + 24, len - 24, 0, 0};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, append_loop, &a), 0);
	while (__atomic_load_n(&a.appended, __ATOMIC_ACQUIRE) == 0)
		usleep(100);

	config(&c, 0);
	emit_init(&em, NULL, -1, "test");
	emit_set_sink(&em, sink, &ev);
	assert_int_equal(recorder_new(&r, &c, &em, err, sizeof(err)), 0);
	assert_int_equal(recorder_adopt(r, src, &n, stop, sizeof(stop), err, sizeof(err)), 0);
	recorder_close(&r, FLOW_END_SHUTDOWN);
	emit_drain(&em);
	__atomic_store_n(&a.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	assert_true(n >= 45 * 348);

	struct spool_file *files;
	size_t nf;
	assert_int_equal(spool_list(test_dir, &files, &nf), 0);
	assert_int_equal(nf, 1);
	assert_true(files[0].indexed);
	char path[512], idx[520];
	snprintf(path, sizeof(path), "%s/%s", test_dir, files[0].name);
	snprintf(idx, sizeof(idx), "%s.idx", path);
	/* every packet of the copy is one of the source's, and all of them were taken */
	struct pcapfile_reader *rd;
	struct pcapfile_pkt p;
	uint64_t count = 0;
	int rc;
	assert_int_equal(pcapfile_reader_open_path(&rd, path, err, sizeof(err)), 0);
	while ((rc = pcapfile_reader_next(rd, &p)) == 1) {
		assert_true(p.ts_ns > 0 && p.caplen > 0);
		count++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(count, n);
	assert_int_equal(pcapfile_reader_offset(rd), files[0].pcap_size);
	/* the index covers the copy and points at its packets */
	struct index_reader *ir;
	struct index_info info;
	assert_int_equal(index_reader_open(&ir, idx, err, sizeof(err)), 0);
	index_reader_info(ir, &info);
	assert_int_equal(info.pcap_size, files[0].pcap_size);
	assert_int_equal(info.npkts, n);
	assert_int_equal(index_reader_foreach(ir, check_offset, rd), 0);
	index_reader_close(&ir);
	pcapfile_reader_close(&rd);
	free(files);
	free(ev.buf);
	emit_free(&em);
}

/*
 * Holds the spool lock for a test: the finisher's quota step takes it, so a
 * job stops there until the test lets go. A deadline lets go by itself, so
 * that a recorder that waits for its finisher fails the test instead of
 * hanging it (the test passes or fails on whether the lock was still the
 * test's, never on a time measured).
 */
struct lock_holder {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int fd;
	int release;   /* the test is done with it */
	int timed_out; /* the deadline let go */
};

static void *hold_lock(void *arg)
{
	struct lock_holder *h = arg;
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 60;
	pthread_mutex_lock(&h->mu);
	while (!h->release)
		if (pthread_cond_timedwait(&h->cv, &h->mu, &dl) == ETIMEDOUT) {
			h->timed_out = 1;
			break;
		}
	spool_unlock(h->fd);
	h->fd = -1;
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

/*
 * Two files of two link types reaching file_time at the same tick: both are
 * queued for the finisher, the second without waiting for the first to be
 * finished. The first job is held in its quota step (the spool lock, held
 * here), so a recorder_tick that waited for it could only return after the
 * holder's deadline let go. Once released, both are published with their
 * indexes.
 */
static void test_files_finishing_together(void **state)
{
	NEED_PCAP(ATTACK);
	struct recorder_config c;
	struct recorder *r;
	struct emitter em;
	struct events ev = {NULL, 0, 0, 0};
	struct pcapfile_reader *rd;
	struct pcapfile_pkt p;
	struct recorder_stats st;
	char err[256];
	config(&c, 0);
	c.file_time_ms = 1;
	c.limits.max_disk = 1ull << 30; /* a quota, so each job takes the spool lock */
	emit_init(&em, NULL, -1, "test");
	emit_set_sink(&em, sink, &ev);
	assert_int_equal(recorder_new(&r, &c, &em, err, sizeof(err)), 0);
	assert_int_equal(pcapfile_reader_open_path(&rd, pcap_path(ATTACK), err, sizeof(err)),
	                 0);
	for (int n = 0; n < 40 && pcapfile_reader_next(rd, &p) == 1; n++) {
		if (n % 2 == 0)
			assert_int_equal(recorder_packet(r, p.ts_ns, p.data, p.caplen,
			                                 p.origlen, p.linktype),
			                 0);
		else
			assert_int_equal(recorder_packet(r, p.ts_ns, p.data + 14, p.caplen - 14,
			                                 p.origlen - 14, DECODE_LINK_RAW),
			                 0);
	}
	pcapfile_reader_close(&rd);

	struct lock_holder h = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, -1, 0, 0};
	h.fd = spool_lock(test_dir);
	assert_true(h.fd >= 0);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, hold_lock, &h), 0);
	usleep(5000); /* both files past their 1 ms */
	recorder_tick(r);
	recorder_stats(r, &st);
	pthread_mutex_lock(&h.mu);
	int waited = h.timed_out;
	h.release = 1;
	pthread_cond_signal(&h.cv);
	pthread_mutex_unlock(&h.mu);
	pthread_join(th, NULL);
	recorder_close(&r, FLOW_END_SHUTDOWN);
	emit_drain(&em);
	assert_false(waited); /* recorder_tick returned while the first job was held */
	assert_int_equal(st.files, 0);
	assert_string_equal(st.current, ""); /* both handed over */

	struct spool_file *files;
	size_t nf;
	assert_int_equal(spool_list(test_dir, &files, &nf), 0);
	assert_int_equal(nf, 2);
	for (size_t i = 0; i < nf; i++) {
		assert_false(files[i].part);
		assert_true(files[i].indexed);
	}
	free(files);
	free(ev.buf);
	emit_free(&em);
}

/* The flow event of the session with dest_port port: whether it is there,
 * its pcap.file_last into last and pcap.expired into *expired. */
static int flow_to_port(const struct events *ev, int64_t port, char *last, int *expired)
{
	size_t off = 0;
	while (off < ev->len) {
		long rl = ev_record_check(ev->buf + off, ev->len - off);
		assert_true(rl > 0);
		const uint8_t *rec = ev->buf + off;
		struct ev_field f;
		if (ev_find(rec, (size_t)rl, "dest_port", &f) && f.i == port &&
		    ev_find(rec, (size_t)rl, "pcap.file_last", &f)) {
			snprintf(last, SPOOL_NAME_MAX, "%.*s", (int)f.strlen, f.str);
			*expired = ev_find(rec, (size_t)rl, "pcap.expired", &f) && f.i;
			return 1;
		}
		off += (size_t)rl;
	}
	return 0;
}

/*
 * Files written side by side finish out of sequence order: a file of a
 * quiet link type (raw IP, one datagram) stays open while the busy one
 * (Ethernet) rotates past it and the quota deletes its finished files, later
 * in sequence than the quiet one. A flow whose packets are only in the file
 * still open is not expired; one whose last file went is.
 */
static void test_expiry_of_files_side_by_side(void **state)
{
	NEED_PCAP(ATTACK);
	struct recorder_config c;
	struct recorder *r;
	struct emitter em;
	struct events ev = {NULL, 0, 0, 0};
	struct pcapfile_reader *rd;
	struct pcapfile_pkt p;
	struct recorder_stats st;
	char err[256];
	config(&c, 32 * 1024);
	c.limits.max_disk = 100 * 1024;
	emit_init(&em, NULL, -1, "test");
	emit_set_sink(&em, sink, &ev);
	assert_int_equal(recorder_new(&r, &c, &em, err, sizeof(err)), 0);
	assert_int_equal(pcapfile_reader_open_path(&rd, pcap_path(ATTACK), err, sizeof(err)),
	                 0);
	/* 192.0.2.1:5000 -> 198.51.100.1:5353, UDP over raw IPv4: the file of seq 1 */
	static const uint8_t dgram[32] = {0x45, 0,    0, 32, 0, 1,   0,   0,   64,  17,   0,
	                                  0,    192,  0, 2,  1, 198, 51,  100, 1,   0x13, 0x88,
	                                  0x14, 0xe9, 0, 12, 0, 0,   'q', 'u', 'i', 't'};
	int first = 1;
	while (pcapfile_reader_next(rd, &p) == 1) {
		if (first)
			assert_int_equal(recorder_packet(r, p.ts_ns, dgram, sizeof(dgram),
			                                 sizeof(dgram), DECODE_LINK_RAW),
			                 0);
		first = 0;
		assert_int_equal(
		    recorder_packet(r, p.ts_ns, p.data, p.caplen, p.origlen, p.linktype), 0);
	}
	pcapfile_reader_close(&rd);
	/* the deletions the finisher made, reported (a few Ethernet files of 32 KB
	 * went for a 100 KB quota) */
	recorder_stats(r, &st);
	for (int i = 0; i < 60000 && st.files_deleted < 2; i++) {
		usleep(1000);
		recorder_tick(r);
		recorder_stats(r, &st);
	}
	assert_true(st.files_deleted >= 2);
	struct spool_file *files;
	size_t nf;
	assert_int_equal(spool_list(test_dir, &files, &nf), 0);
	assert_true(nf >= 2);
	assert_int_equal(files[0].seq, 1); /* the quiet file, still being written */
	assert_true(files[0].part);
	assert_true(files[1].seq > 2); /* the busy one's first files gone */
	free(files);
	recorder_end_flows(r, FLOW_END_SHUTDOWN);
	emit_drain(&em);

	char last[SPOOL_NAME_MAX];
	int expired = -1;
	assert_true(flow_to_port(&ev, 5353, last, &expired));
	struct spool_file lf;
	assert_int_equal(spool_name_parse(last, &lf), 0);
	assert_int_equal(lf.seq, 1); /* still open: it went nowhere */
	assert_false(expired);
	/* the session of port 445 at the start of the trace ended in a deleted file */
	assert_true(flow_to_port(&ev, 445, last, &expired));
	assert_int_equal(spool_name_parse(last, &lf), 0);
	assert_true(lf.seq > 1);
	assert_true(expired);

	recorder_close(&r, FLOW_END_SHUTDOWN);
	emit_drain(&em);
	free(ev.buf);
	emit_free(&em);
}

/* The packet count toward the server of the flow event of src_port sport (-1: none). */
static long pkts_from_port(const struct events *ev, int64_t sport)
{
	size_t off = 0;
	while (off < ev->len) {
		long rl = ev_record_check(ev->buf + off, ev->len - off);
		assert_true(rl > 0);
		const uint8_t *rec = ev->buf + off;
		struct ev_field f;
		if (ev_find(rec, (size_t)rl, "src_port", &f) && f.i == sport &&
		    ev_find(rec, (size_t)rl, "flow.pkts_toserver", &f))
			return (long)f.i;
		off += (size_t)rl;
	}
	return -1;
}

/* Packets per source port in a spool file's index (port 0: the flows without ports). */
struct by_port {
	uint32_t pkts[65536];
	uint64_t offs[65536][4];
};

static int by_port_cb(void *arg, const struct index_flow *fl, const uint64_t *offs)
{
	struct by_port *bp = arg;
	for (uint32_t i = 0; i < fl->npkts; i++) {
		if (bp->pkts[fl->key.sport] < 4)
			bp->offs[fl->key.sport][bp->pkts[fl->key.sport]] = offs[i];
		bp->pkts[fl->key.sport]++;
	}
	return 0;
}

static void index_by_port(const struct spool_file *f, struct by_port *bp)
{
	char idx[600], err[256];
	struct index_reader *ir;
	memset(bp, 0, sizeof(*bp));
	snprintf(idx, sizeof(idx), "%s/%s.idx", test_dir, f->name);
	assert_int_equal(index_reader_open(&ir, idx, err, sizeof(err)), 0);
	assert_int_equal(index_reader_foreach(ir, by_port_cb, bp), 0);
	index_reader_close(&ir);
}

/*
 * IP fragments that come before their datagram's first: held, then counted in its
 * session (its flow event) and indexed under it in file order, packet by packet
 * (recorder_packet: live capture, a pcapng ingested) and adopted (a classic pcap
 * ingested). The fragments still held when their file finishes go, in that file's index,
 * to the flow they would have joined unheld (no ports): a file's index is complete when
 * it is saved.
 */
static void test_fragments_tail_first(void **state)
{
	struct recorder_config c;
	struct recorder *r;
	struct emitter em;
	struct events ev = {NULL, 0, 0, 0};
	char err[256], stop[256];
	uint8_t a[3][64], lone[3][64], b[3][64];
	size_t alen[3], llen[3], blen[3];
	const int64_t S = 1000000000ll;
	udp_fragments("10.6.0.1", "10.6.0.2", 1, 5000, 53, a, alen);
	udp_fragments("10.6.0.1", "10.6.0.2", 2, 5002, 53, lone, llen);
	udp_fragments("10.6.0.1", "10.6.0.2", 3, 5001, 53, b, blen);
	config(&c, 0);
	emit_init(&em, NULL, -1, "test");
	emit_set_sink(&em, sink, &ev);
	assert_int_equal(recorder_new(&r, &c, &em, err, sizeof(err)), 0);
	/* file 1: a's fragments last first, lone's tail (its first never comes), b's tail */
	assert_int_equal(recorder_packet(r, 1 * S, a[2], alen[2], alen[2], DECODE_LINK_RAW), 0);
	assert_int_equal(recorder_packet(r, 2 * S, a[1], alen[1], alen[1], DECODE_LINK_RAW), 0);
	assert_int_equal(recorder_packet(r, 3 * S, a[0], alen[0], alen[0], DECODE_LINK_RAW), 0);
	assert_int_equal(recorder_packet(r, 4 * S, lone[2], llen[2], llen[2], DECODE_LINK_RAW),
	                 0);
	assert_int_equal(recorder_packet(r, 5 * S, b[2], blen[2], blen[2], DECODE_LINK_RAW), 0);
	assert_int_equal(recorder_rotate(r), 0);
	/* file 2: b's first, after its file finished */
	assert_int_equal(recorder_packet(r, 6 * S, b[0], blen[0], blen[0], DECODE_LINK_RAW), 0);
	recorder_end_flows(r, FLOW_END_SHUTDOWN);
	emit_drain(&em);
	assert_int_equal(pkts_from_port(&ev, 5000), 3);
	assert_int_equal(pkts_from_port(&ev, 5001), 1);
	assert_int_equal(pkts_from_port(&ev, 0), 2);

	/* a classic pcap of a's fragments, last first, adopted as it is */
	struct pcapfile_writer *w;
	assert_int_equal(pcapfile_writer_open_path(&w, test_dir_path("tail.pcap"),
	                                           PCAPFILE_PCAP, DECODE_LINK_RAW, 65535, err,
	                                           sizeof(err)),
	                 0);
	for (int i = 2; i >= 0; i--)
		assert_int_equal(
		    pcapfile_writer_write(w, (10 - i) * S, a[i], alen[i], alen[i], NULL), 0);
	assert_int_equal(pcapfile_writer_close(&w), 0);
	uint64_t n;
	assert_int_equal(recorder_adopt(r, test_dir_path("tail.pcap"), &n, stop, sizeof(stop),
	                                err, sizeof(err)),
	                 0);
	assert_int_equal(n, 3);
	recorder_close(&r, FLOW_END_SHUTDOWN);
	emit_drain(&em);

	struct spool_file *files;
	size_t nf;
	assert_int_equal(spool_list(test_dir, &files, &nf), 0);
	assert_int_equal(nf, 3);
	struct by_port *bp = malloc(sizeof(*bp));
	index_by_port(&files[0], bp);
	assert_int_equal(bp->pkts[5000], 3);
	/* in file order: the two held first, then their first */
	assert_true(bp->offs[5000][0] < bp->offs[5000][1]);
	assert_true(bp->offs[5000][1] < bp->offs[5000][2]);
	assert_int_equal(bp->offs[5000][0], 24);
	assert_int_equal(bp->pkts[0], 2); /* lone's and b's tails, let go when the file ended */
	assert_int_equal(bp->pkts[5001], 0);
	index_by_port(&files[1], bp);
	assert_int_equal(bp->pkts[5001], 1);
	index_by_port(&files[2], bp); /* the adopted file */
	assert_int_equal(bp->pkts[5000], 3);
	assert_int_equal(bp->offs[5000][0], 24);
	assert_int_equal(bp->pkts[0], 0);
	free(bp);
	free(files);
	free(ev.buf);
	emit_free(&em);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_rotation_and_extraction, test_dir_setup,
	                                    test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_index_memory_ends_a_file, test_dir_setup,
	                                    test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_quota, test_dir_setup, test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_linktype_and_adopt, test_dir_setup,
	                                    test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_adopt_growing, test_dir_setup,
	                                    test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_room_for_link_types_comes_back, test_dir_setup,
	                                    test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_link_types_taking_turns, test_dir_setup,
	                                    test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_files_finishing_together, test_dir_setup,
	                                    test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_expiry_of_files_side_by_side, test_dir_setup,
	                                    test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_fragments_tail_first, test_dir_setup,
	                                    test_dir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

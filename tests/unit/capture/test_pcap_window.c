/*
 * `sinktrap pcap` takes a file's packets a window of offsets at a time (query.c):
 * built here with windows of a few dozen offsets, so that every result spans
 * many windows and files are walked and scanned again and again, it must write
 * the same bytes as with one window per file (pcap_onepass.c, the way of one
 * walk): filters, sessions through the store and through the indexes alone,
 * Community IDs, --bpf, a capture ingested twice (two files' packets side by
 * side, their windows sharing the room), files read without an index (none, a
 * corrupt one, a file still being written), and IP fragments, tail first and
 * in order, whose first fragment is in the file before (the scans run again in
 * turn, with the fragment map they had).
 */
#define PCAP_WIN_TOTAL ((size_t)48)
#define PCAP_WIN_MIN ((size_t)8)
#define PCAP_WIN_FIRST ((size_t)2)
#include "capture/query.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dirent.h>
#include <sys/types.h>

#include "capture_test.h"

int capture_pcap_main_onepass(int argc, char **argv);

/* The fragment map's hash keys the same in every run: random, which datagrams
 * share a slot of the map (and so which fragments get their first one's ports
 * in a scan) would change from one run to the next, whatever the windows. */
ssize_t getrandom(void *buf, size_t len, unsigned int flags);
ssize_t getrandom(void *buf, size_t len, unsigned int flags)
{
	(void)flags;
	memset(buf, 0x5a, len);
	return (ssize_t)len;
}

static char conf_path[512], spool_dir[300];

static void write_conf(void)
{
	snprintf(conf_path, sizeof(conf_path), "%s/sinktrap.conf", test_dir);
	snprintf(spool_dir, sizeof(spool_dir), "%s/state/pcap", test_dir);
	FILE *f = fopen(conf_path, "w");
	assert_non_null(f);
	fprintf(f,
	        "[sinktrap]\nstate_dir = %s/state\nlog_level = warning\n"
	        "[dns]\nenabled = no\n"
	        "[events]\njson = %s/state/events.json\nsqlite = yes\n"
	        "[capture]\nfile_size = 64k\n",
	        test_dir, test_dir);
	static const char *const timeouts[] = {"tcp_timeout", "tcp_new_timeout",
	                                       "tcp_closed_timeout", "udp_timeout",
	                                       "other_timeout"};
	for (size_t i = 0; i < sizeof(timeouts) / sizeof(*timeouts); i++)
		fprintf(f, "%s = 24h\n", timeouts[i]);
	fclose(f);
}

static void ingest(const char *path)
{
	char *argv[] = {"ingest", "-c", conf_path, (char *)path, NULL};
	optind = 0;
	assert_int_equal(capture_ingest_main(4, argv), 0);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	*len = 0;
	if (f == NULL)
		return NULL;
	uint8_t *b = NULL;
	size_t cap = 0;
	for (;;) {
		if (*len == cap) {
			cap = cap ? 2 * cap : 65536;
			b = realloc(b, cap);
			assert_non_null(b);
		}
		size_t n = fread(b + *len, 1, cap - *len, f);
		if (n == 0)
			break;
		*len += n;
	}
	fclose(f);
	return b;
}

/* Packets in a classic pcap image (either timestamp unit, this host's order). */
static long records(const uint8_t *b, size_t len)
{
	long n = 0;
	for (size_t off = 24; off + 16 <= len; n++) {
		uint32_t caplen;
		memcpy(&caplen, b + off + 8, 4);
		off += 16 + caplen;
	}
	return n;
}

/* `pcap ARGS` both ways: the same status and the same bytes. How many packets. */
static long same_both_ways(const char *const *args)
{
	char *argv[40], out[2][600];
	int argc = 0, rc[2];
	argv[argc++] = "pcap";
	argv[argc++] = "-c";
	argv[argc++] = conf_path;
	for (size_t i = 0; args[i]; i++)
		argv[argc++] = (char *)args[i];
	argv[argc++] = "-w";
	argv[argc + 1] = NULL;
	for (int k = 0; k < 2; k++) {
		snprintf(out[k], sizeof(out[k]), "%s/out%d.pcap", test_dir, k);
		unlink(out[k]);
		argv[argc] = out[k];
		optind = 0;
		rc[k] = k ? capture_pcap_main_onepass(argc + 1, argv)
		          : capture_pcap_main(argc + 1, argv);
	}
	size_t len[2];
	uint8_t *b[2] = {slurp(out[0], &len[0]), slurp(out[1], &len[1])};
	if (rc[0] != rc[1] || len[0] != len[1] || (len[0] && memcmp(b[0], b[1], len[0]))) {
		fprintf(stderr, "pcap");
		for (size_t i = 0; args[i]; i++)
			fprintf(stderr, " %s", args[i]);
		fprintf(stderr, ": windows %d, %zu bytes; one walk %d, %zu bytes\n", rc[0],
		        len[0], rc[1], len[1]);
		fail();
	}
	long n = rc[0] == 0 ? records(b[0], len[0]) : 0;
	free(b[0]);
	free(b[1]);
	return n;
}

#define SAME(...) same_both_ways((const char *const[]){__VA_ARGS__, NULL})

/* Sessions from the store: flow id and Community ID of the n with the most
 * packets, and of the n with the fewest. */
struct sess {
	char id[32], cid[COMMUNITYID_STRLEN];
};
static size_t some_sessions(struct sess *out, size_t n)
{
	char db[600];
	sqlite3 *h;
	sqlite3_stmt *st;
	size_t k = 0;
	snprintf(db, sizeof(db), "%s/state/sinktrap.db", test_dir);
	assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	static const char *const order[] = {"DESC", "ASC"};
	for (int o = 0; o < 2; o++) {
		char sql[200];
		snprintf(sql, sizeof(sql),
		         "SELECT flow_id, community_id FROM sessions "
		         "ORDER BY pkts_toserver + pkts_toclient %s, flow_id LIMIT %zu",
		         order[o], n);
		assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
		while (sqlite3_step(st) == SQLITE_ROW && k < 2 * n) {
			snprintf(out[k].id, sizeof(out[k].id), "%lld",
			         sqlite3_column_int64(st, 0));
			snprintf(out[k].cid, sizeof(out[k].cid), "%s",
			         (const char *)sqlite3_column_text(st, 1));
			k++;
		}
		sqlite3_finalize(st);
	}
	sqlite3_close(h);
	return k;
}

/* Each of the spool's captures and indexes, by name order (the first n). */
static size_t spool_names(const char *suffix, char names[][640], size_t max)
{
	DIR *d = opendir(spool_dir);
	struct dirent *e;
	size_t n = 0;
	assert_non_null(d);
	while ((e = readdir(d)) != NULL && n < max) {
		size_t l = strlen(e->d_name), sl = strlen(suffix);
		if (strncmp(e->d_name, "sinktrap-", 9) || l < sl ||
		    strcmp(e->d_name + l - sl, suffix))
			continue;
		snprintf(names[n++], 640, "%s/%s", spool_dir, e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), (int (*)(const void *, const void *))strcmp);
	return n;
}

static long queries(const struct sess *ss, size_t nss)
{
	long most = 0, n;
	static const char *const filters[][5] = {
	    {"--proto", "tcp"},
	    {"--proto", "udp"},
	    {"--port", "80"},
	    {"--port", "5000"},
	    {"--net", "0.0.0.0/0"},
	    {"--net", "10.1.0.0/16"},
	    {"--proto", "tcp", "--bpf", "tcp[13] & 2 != 0"},
	    {"--proto", "udp", "--bpf", "ip[6:2] & 0x1fff != 0"},
	};
	for (size_t i = 0; i < sizeof(filters) / sizeof(*filters); i++) {
		const char *a[6] = {0};
		memcpy(a, filters[i], sizeof(filters[i]));
		n = same_both_ways(a);
		most = n > most ? n : most;
	}
	for (size_t i = 0; i < nss; i++) {
		n = SAME("--session", ss[i].id);
		most = n > most ? n : most;
		SAME("--community-id", ss[i].cid);
	}
	return most;
}

static void test_captures(void **state)
{
	(void)state;
	NEED_PCAP("ek_to_cryptowall4.pcapng");
	NEED_PCAP("cryptowall4_c2.pcapng");
	write_conf();
	/* the same capture twice: two files' packets at the same times, side by side */
	ingest(pcap_path("ek_to_cryptowall4.pcapng"));
	ingest(pcap_path("ek_to_cryptowall4.pcapng"));
	ingest(pcap_path("cryptowall4_c2.pcapng"));
	struct sess ss[12];
	size_t nss = some_sessions(ss, 6);
	assert_true(nss >= 6);
	char idx[64][640], caps[64][640];
	size_t nidx = spool_names(".idx", idx, 64), ncaps = spool_names(".pcap", caps, 64);
	assert_true(nidx >= 6 && ncaps == nidx);

	/* through the indexes: results of many windows */
	assert_true(queries(ss, nss) > (long)(20 * PCAP_WIN_TOTAL));

	/* without them: no index, a corrupt one, the last file still being written */
	for (size_t i = 0; i < nidx; i += 3)
		assert_int_equal(unlink(idx[i]), 0);
	size_t len;
	uint8_t *b = slurp(idx[1], &len);
	assert_true(len > 200);
	b[len - 100] ^= 0xff;
	FILE *f = fopen(idx[1], "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, len, f), len);
	fclose(f);
	free(b);
	char part[660];
	unlink(idx[ncaps - 1]);
	snprintf(part, sizeof(part), "%s.part", caps[ncaps - 1]);
	assert_int_equal(rename(caps[ncaps - 1], part), 0);
	assert_true(queries(ss, nss) > (long)(20 * PCAP_WIN_TOTAL));
}

/* A raw IP pcapng of UDP datagrams in three fragments, one in four tail first,
 * the first fragment of each up to some 300 packets from the others (files of
 * 64k hold some 900), and whole datagrams between. */
static void write_fragments(const char *path)
{
	enum { N = 1500, SPAN = 1200 };
	struct pkt {
		uint32_t pos, seq;
		uint8_t data[64];
		size_t len;
	} *p = calloc(4 * N, sizeof(*p));
	assert_non_null(p);
	size_t np = 0;
	uint32_t rnd = 12345;
	for (uint32_t d = 0; d < N; d++) {
		char src[32], dst[32];
		uint8_t frag[3][64];
		size_t len[3];
		snprintf(src, sizeof(src), "10.1.%u.%u", d % 7, 1 + d % 5);
		snprintf(dst, sizeof(dst), "192.0.2.%u", 1 + d % 3);
		udp_fragments(src, dst, (uint16_t)d, (uint16_t)(1000 + d % 11),
		              (uint16_t)(5000 + d % 3), frag, len);
		rnd = rnd * 1103515245u + 12345u;
		uint32_t base = 4 * d, far = base + 1 + (rnd >> 8) % SPAN;
		int tail_first = d % 4 == 1;
		for (int i = 0; i < 3; i++) {
			p[np].pos = (i == 0) == tail_first ? far : base;
			memcpy(p[np].data, frag[i], len[i]);
			p[np].len = len[i];
			np++;
		}
		/* a whole datagram of the same addresses and ports */
		memcpy(p[np].data, frag[0], len[0]);
		p[np].data[6] = p[np].data[7] = 0;
		p[np].data[4] ^= 0x80;
		p[np].pos = base + 2;
		p[np].len = len[0];
		np++;
	}
	for (size_t i = 0; i < np; i++)
		p[i].seq = (uint32_t)i;
	/* by place, then as made: a stable order */
	for (size_t i = 1; i < np; i++) {
		struct pkt t = p[i];
		size_t k = i;
		for (; k > 0 && (p[k - 1].pos > t.pos ||
		                 (p[k - 1].pos == t.pos && p[k - 1].seq > t.seq));
		     k--)
			p[k] = p[k - 1];
		p[k] = t;
	}
	struct pcapfile_writer *w;
	char err[256];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(
	    pcapfile_writer_open(&w, fd, PCAPFILE_PCAPNG, 101, 0, err, sizeof(err)), 0);
	for (size_t i = 0; i < np; i++)
		assert_int_equal(pcapfile_writer_write(
		                     w, 1700000000ll * NS + (int64_t)i * 1000000, p[i].data,
		                     (uint32_t)p[i].len, (uint32_t)p[i].len, NULL),
		                 0);
	assert_int_equal(pcapfile_writer_close(&w), 0);
	close(fd);
	free(p);
}

static void test_fragments_across_files(void **state)
{
	(void)state;
	char path[600];
	snprintf(path, sizeof(path), "%s/fragments.pcapng", test_dir);
	write_fragments(path);
	write_conf();
	ingest(path);
	struct sess ss[8];
	size_t nss = some_sessions(ss, 4);
	char idx[64][640];
	size_t nidx = spool_names(".idx", idx, 64);
	assert_true(nidx >= 4);
	long n = queries(ss, nss);
	assert_true(n > (long)(20 * PCAP_WIN_TOTAL));
	/* every file scanned: a later window of one scans those before it again */
	for (size_t i = 0; i < nidx; i++)
		assert_int_equal(unlink(idx[i]), 0);
	assert_true(queries(ss, nss) > (long)(20 * PCAP_WIN_TOTAL));
	assert_true(SAME("--port", "5000") > (long)(4 * PCAP_WIN_TOTAL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_captures, test_dir_setup, test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_fragments_across_files, test_dir_setup,
	                                    test_dir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

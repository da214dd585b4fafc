/*
 * readspeed: how fast the capture core goes through a capture file, beside
 * tcpdump on the same bytes.
 *
 * The input is looped (timestamps shifted forward each round, so flows age
 * as in a long capture) into a temporary pcap of about SIZE MB, which both
 * tools then read from the page cache:
 *   tcpdump -r BIG -w /dev/null            (libpcap read + write, a child process)
 *   sinktrap stages on BIG, each timed:
 *     read          pcapfile reader (mmap)
 *     +decode       decode_packet + decode_key_get
 *     +flow         flow_table_track (Community ID on each new flow)
 *     +index        index_writer_add per packet, index encoded at the end (the
 *                   writer is reused from a warm-up run, as the worker reuses
 *                   it from file to file)
 *     +write        the packets written again with pcapfile_writer to /dev/null
 *
 * Build (not part of meson; it is a measurement, not a test):
 *   cc -O2 -D_GNU_SOURCE -Isrc bench/capture/readspeed.c \
 *      src/capture/{pcapfile,decode,flow,index,communityid}.c \
 *      src/common/{event,log,util}.c -lcrypto -lz -o readspeed
 * Run:  ./readspeed FILE [SIZE_MB]     (default 256 MB)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "capture/decode.h"
#include "capture/flow.h"
#include "capture/index.h"
#include "capture/pcapfile.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "readspeed: %s: %s\n", what, msg);
	exit(1);
}

/* Loop src into a pcap of at least target bytes; returns its packet count. */
static long make_big(const char *src, const char *dst, uint64_t target, uint32_t *linktype)
{
	struct pcapfile_reader *r;
	struct pcapfile_writer *w;
	struct pcapfile_pkt p;
	char err[256];
	long n = 0;
	if (pcapfile_reader_open_path(&r, src, err, sizeof(err)) < 0)
		die(src, err);
	*linktype = pcapfile_reader_linktype(r);
	if (pcapfile_writer_open_path(&w, dst, PCAPFILE_PCAP, *linktype, 0, err, sizeof(err)) <
	    0)
		die(dst, err);
	int64_t first = 0, last = 0, shift = 0;
	int have = 0;
	while (pcapfile_writer_offset(w) < target) {
		int rc;
		if (r == NULL && pcapfile_reader_open_path(&r, src, err, sizeof(err)) < 0)
			die(src, err);
		while ((rc = pcapfile_reader_next(r, &p)) == 1) {
			if (!have) {
				first = p.ts_ns;
				have = 1;
			}
			if (p.ts_ns > last)
				last = p.ts_ns;
			if (p.linktype != *linktype)
				continue; /* one link type per pcap */
			if (pcapfile_writer_write(w, p.ts_ns + shift, p.data, p.caplen,
			                          p.origlen, NULL) < 0)
				die(dst, "write failed");
			n++;
		}
		if (rc < 0)
			die(src, pcapfile_reader_error(r));
		pcapfile_reader_close(&r); /* a new round reads from the start */
		shift += last - first + 1000000000ll;
	}
	pcapfile_reader_close(&r);
	if (pcapfile_writer_close(&w) < 0)
		die(dst, "close failed");
	return n;
}

enum { ST_READ, ST_DECODE, ST_FLOW, ST_INDEX, ST_WRITE, ST_MAX };
static const char *const stage_names[ST_MAX] = {"read", "+decode", "+flow", "+index", "+write"};

static long flows_ended;
static struct index_writer *shared_iw;
static double encode_secs;
static void on_end(void *arg, const struct flow *f)
{
	flows_ended++;
}

static double run_stage(const char *path, int stage, long *pkts_out, size_t *idx_len)
{
	struct pcapfile_reader *r;
	struct pcapfile_writer *w = NULL;
	struct flow_table *ft = NULL;
	struct index_writer *iw = NULL;
	struct flow_config c;
	struct pcapfile_pkt p;
	char err[256];
	long pkts = 0;
	uint64_t sum = 0;

	flow_config_default(&c);
	c.capacity = 262144;
	c.end_cb = on_end;
	if (stage >= ST_FLOW && flow_table_new(&ft, &c) < 0)
		die("flow table", "no memory");
	if (stage >= ST_INDEX) {
		/* one writer for the whole run, as the capture worker keeps one across
		 * its files: reset keeps the arrays, so this measures the steady state */
		if (shared_iw == NULL && index_writer_new(&shared_iw, 0, 0) < 0)
			die("index", "no memory");
		iw = shared_iw;
		index_writer_reset(iw);
	}
	if (pcapfile_reader_open_path(&r, path, err, sizeof(err)) < 0)
		die(path, err);
	if (stage >= ST_WRITE) {
		int fd = open("/dev/null", O_WRONLY);
		if (pcapfile_writer_open(&w, fd, PCAPFILE_PCAP, pcapfile_reader_linktype(r), 0,
		                         err, sizeof(err)) < 0)
			die("/dev/null", err);
	}
	double t0 = now();
	while (pcapfile_reader_next(r, &p) == 1) {
		pkts++;
		if (stage == ST_READ) {
			sum +=
			    p.data[0] + p.caplen; /* touch the packet, as any consumer would */
			continue;
		}
		struct decode_pkt d;
		struct decode_key k;
		int dir;
		if (decode_packet(p.linktype, p.data, p.caplen, &d) < 0)
			continue;
		if (stage == ST_DECODE) {
			if (decode_key_get(&d, &k) == 0)
				sum += k.sport;
			continue;
		}
		struct flow *f = flow_table_track(ft, &d, p.ts_ns, p.origlen, &dir);
		if (f && iw)
			index_writer_add(iw, f->id, &f->key, p.ts_ns, p.offset);
		if (w)
			pcapfile_writer_write(w, p.ts_ns, p.data, p.caplen, p.origlen, NULL);
	}
	if (iw) {
		uint8_t *buf;
		double te = now();
		if (index_writer_encode(iw, pcapfile_reader_offset(r), &buf, idx_len) == 0)
			free(buf);
		encode_secs = now() - te;
	}
	if (ft)
		flow_table_flush(ft, FLOW_END_SHUTDOWN);
	if (w)
		pcapfile_writer_close(&w);
	double dt = now() - t0;
	pcapfile_reader_close(&r);
	flow_table_free(&ft);
	*pkts_out = pkts;
	if (sum == 42)
		fputc(' ', stderr); /* keep the read loop from being optimised away */
	return dt;
}

static double run_tcpdump(const char *path)
{
	double t0 = now();
	pid_t pid = fork();
	if (pid < 0)
		die("fork", strerror(errno));
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		dup2(fd, 2);
		execlp("tcpdump", "tcpdump", "-r", path, "-w", "/dev/null", (char *)NULL);
		_exit(127);
	}
	int status;
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1;
	return now() - t0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: readspeed FILE [SIZE_MB]\n");
		return 2;
	}
	uint64_t target = (uint64_t)(argc > 2 ? atol(argv[2]) : 256) << 20;
	char big[] = "/tmp/readspeed-XXXXXX";
	int fd = mkstemp(big);
	if (fd < 0)
		die("mkstemp", strerror(errno));
	close(fd);
	unlink(big); /* the writer creates it afresh */
	uint32_t lt;
	long n = make_big(argv[1], big, target, &lt);
	struct stat st;
	stat(big, &st);
	double mb = (double)st.st_size / 1e6;
	printf("input %s, looped to %ld packets, %.1f MB (pcap, link type %u)\n", argv[1], n,
	       mb, lt);

	/* warm the page cache, then time each tool */
	long pkts;
	size_t idx_len = 0;
	run_stage(big, ST_READ, &pkts, &idx_len);
	run_stage(big, ST_INDEX, &pkts, &idx_len); /* sizes the index writer's arrays */
	double td = run_tcpdump(big);
	if (td > 0)
		printf("%-22s %8.3f s %10.0f pkt/s %8.1f MB/s\n", "tcpdump -r -w /dev/null", td,
		       n / td, mb / td);
	else
		printf("tcpdump: not run (missing?)\n");
	for (int s = 0; s < ST_MAX; s++) {
		double dt = run_stage(big, s, &pkts, &idx_len);
		printf("%-22s %8.3f s %10.0f pkt/s %8.1f MB/s", stage_names[s], dt, pkts / dt,
		       mb / dt);
		if (td > 0)
			printf("  (%.1fx tcpdump)", td / dt);
		if (s == ST_INDEX)
			printf("  index %.2f%% of the file, encoded in %.3f s",
			       100.0 * (double)idx_len / (double)st.st_size, encode_secs);
		printf("\n");
	}
	printf("flows ended: %ld\n", flows_ended);
	index_writer_free(&shared_iw);
	unlink(big);
	return 0;
}

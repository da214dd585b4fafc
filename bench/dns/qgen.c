/*
 * qgen: a UDP DNS load generator that is not the bottleneck.
 *
 * Reads a query file in dnsperf format ("name TYPE" per line, "#" comments),
 * encodes every query once, then for a fixed duration keeps a bounded window
 * of queries outstanding against one server: sendmmsg/recvmmsg batches on one
 * connected socket, responses matched to queries by DNS id and checked
 * against the question that was sent. A query not answered within the
 * timeout is lost and its id is reused (ids are recycled oldest first, so a
 * late answer is recognised rather than taken for a newer query).
 *
 * The cost per query is kept low by moving many datagrams per system call:
 * it refills the window in chunks (the smaller of -b and a quarter of the
 * window), never one query per response, and drains everything that has
 * arrived with one recvmmsg. When nothing has moved it keeps the CPU
 * (sched_yield) for -y US microseconds, default 200, and only then sleeps
 * in poll() until a response arrives. Staying awake matters in a virtual
 * machine: waking an idle CPU is an inter-processor interrupt that costs the
 * server's CPU time, so a generator that sleeps between responses makes
 * the server look slower than it is. Anything else runnable on the
 * generator's CPU (the upstream responder of the benchmark) still runs.
 * -y 0 sleeps at once; -n NAP_US naps that long instead of poll().
 * Latencies are taken per batch, so they carry up to one batch of error.
 *
 * At the end it prints a summary and one "RESULT key=value ..." line:
 *   sent received lost late mismatched qps noerror nxdomain servfail
 *   other_rcode answered sinkholed send_errors p50_us p90_us p99_us p999_us
 *   max_us cpu_pct busy_pct
 * qps counts responses received during the run (not the drain after it);
 * "answered" counts responses with at least one answer record, "sinkholed"
 * those whose answer section holds an A record equal to -A. cpu_pct is the
 * CPU qgen used, spinning included; busy_pct the share of the time it spent
 * moving datagrams: near 100 would mean qgen, not the server, is the limit.
 *
 * Probe mode (-P NAME) measures how long a server takes to come up: it asks
 * for NAME/A every -i ms until the answer holds the -A address (or any A
 * record without -A), prints the wait in ms and exits 0, or exits 1 after
 * -l seconds.
 *
 * Build: cc -O2 -o qgen qgen.c
 * Usage: qgen -d FILE [-s ADDR] [-p PORT] [-l SECONDS] [-w WINDOW] [-t TIMEOUT_MS]
 *             [-b BATCH] [-y SPIN_US] [-n NAP_US] [-A IPV4] [-S INTERVAL_S] [-e]
 *        qgen -P NAME [-s ADDR] [-p PORT] [-A IPV4] [-l SECONDS] [-i MS]
 * Defaults: -s 127.0.0.1 -p 53 -l 10 -w 200 -t 1000 -b 64 -y 200 -n 0.
 * -e adds an EDNS OPT record (4096) to every query; -S prints counts every
 * INTERVAL_S seconds on stderr.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BATCH 256
#define MAX_QUERY 512
#define RECV_SIZE 4096
#define ID_SPACE 65536
#define MAX_WINDOW 60000         /* leaves slack in the id space before an id is reused */
#define HIST_US 1000000          /* 1 us buckets up to 1 s, then one overflow bucket */
#define TIMEOUT_SCAN_NS 10000000 /* look for expired queries every 10 ms */

struct query {
	uint32_t off; /* into qwire */
	uint16_t len;
};

struct slot {
	uint64_t sent_ns;
	uint32_t query;
	uint8_t busy;
};

struct counters {
	uint64_t sent, received, received_in_period, lost, late, mismatched, send_errors;
	uint64_t noerror, nxdomain, servfail, other_rcode, answered, sinkholed;
};

static uint8_t *qwire;
static size_t qwire_len, qwire_cap;
static struct query *queries;
static size_t nqueries, queries_cap;

static struct slot slots[ID_SPACE];
static uint16_t free_ids[ID_SPACE]; /* FIFO: the id freed longest ago is reused first */
static uint32_t free_head, free_count;
static uint32_t hist[HIST_US + 1];
static uint64_t hist_max_us;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int qtype_parse(const char *s)
{
	static const struct {
		const char *name;
		int type;
	} types[] = {
	    {"A", 1},     {"NS", 2},     {"CNAME", 5}, {"SOA", 6},
	    {"PTR", 12},  {"MX", 15},    {"TXT", 16},  {"AAAA", 28},
	    {"SRV", 33},  {"NAPTR", 35}, {"DS", 43},   {"DNSKEY", 48},
	    {"SVCB", 64}, {"HTTPS", 65}, {"CAA", 257}, {"ANY", 255},
	};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcasecmp(s, types[i].name) == 0)
			return types[i].type;
	if (strncasecmp(s, "TYPE", 4) == 0 && s[4] != '\0') {
		char *end;
		long v = strtol(s + 4, &end, 10);
		if (*end == '\0' && v > 0 && v < 65536)
			return (int)v;
	}
	return -1;
}

/* Encode a query for name/type into out (id 0, RD set). Returns its length or 0. */
static size_t query_encode(uint8_t *out, size_t cap, const char *name, int type, int edns)
{
	size_t off = 12, nlen = strlen(name);

	if (cap < 12 + 256 + 4 + 11)
		return 0;
	memset(out, 0, 12);
	out[2] = 0x01; /* RD */
	out[5] = 1;    /* QDCOUNT */
	if (nlen > 0 && name[nlen - 1] == '.')
		nlen--;
	if (nlen > 253)
		return 0;
	for (size_t i = 0; i < nlen;) {
		size_t j = i;
		while (j < nlen && name[j] != '.')
			j++;
		if (j == i || j - i > 63)
			return 0;
		out[off++] = (uint8_t)(j - i);
		memcpy(out + off, name + i, j - i);
		off += j - i;
		i = j + 1;
	}
	out[off++] = 0;
	out[off++] = (uint8_t)(type >> 8);
	out[off++] = (uint8_t)type;
	out[off++] = 0;
	out[off++] = 1; /* IN */
	if (edns) {
		static const uint8_t opt[11] = {0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0};
		out[11] = 1; /* ARCOUNT */
		memcpy(out + off, opt, sizeof(opt));
		off += sizeof(opt);
	}
	return off;
}

static int query_add(const char *name, int type, int edns)
{
	uint8_t tmp[MAX_QUERY];
	size_t len = query_encode(tmp, sizeof(tmp), name, type, edns);

	if (len == 0)
		return -1;
	if (qwire_len + len > qwire_cap) {
		qwire_cap = qwire_cap ? qwire_cap * 2 : 1 << 20;
		qwire = realloc(qwire, qwire_cap);
	}
	if (nqueries == queries_cap) {
		queries_cap = queries_cap ? queries_cap * 2 : 1 << 16;
		queries = realloc(queries, queries_cap * sizeof(*queries));
	}
	if (!qwire || !queries) {
		fprintf(stderr, "qgen: out of memory\n");
		exit(1);
	}
	memcpy(qwire + qwire_len, tmp, len);
	queries[nqueries].off = (uint32_t)qwire_len;
	queries[nqueries].len = (uint16_t)len;
	qwire_len += len;
	nqueries++;
	return 0;
}

static void queries_load(const char *path, int edns)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	unsigned long lineno = 0, bad = 0;

	if (!f) {
		fprintf(stderr, "qgen: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	while (fgets(line, sizeof(line), f)) {
		char name[512], type[32];
		int t;

		lineno++;
		if (line[0] == '#' || line[0] == ';')
			continue;
		int n = sscanf(line, "%511s %31s", name, type);
		if (n < 1)
			continue;
		t = n == 2 ? qtype_parse(type) : 1;
		if (t < 0 || query_add(name, t, edns) < 0) {
			if (bad++ < 5)
				fprintf(stderr, "qgen: %s:%lu: invalid query line\n", path,
				        lineno);
		}
	}
	fclose(f);
	if (nqueries == 0) {
		fprintf(stderr, "qgen: %s: no queries\n", path);
		exit(1);
	}
}

/*
 * Skip a possibly compressed name at *off in msg; returns 0 or -1 if it
 * runs past len.
 */
static int name_skip(const uint8_t *msg, size_t len, size_t *off)
{
	size_t o = *off;
	for (;;) {
		if (o >= len)
			return -1;
		uint8_t l = msg[o];
		if ((l & 0xc0) == 0xc0) {
			if (o + 2 > len)
				return -1;
			*off = o + 2;
			return 0;
		}
		if (l > 63)
			return -1;
		if (l == 0) {
			*off = o + 1;
			return 0;
		}
		o += 1 + (size_t)l;
	}
}

/* Whether the answer section of msg holds an A record equal to ip (any A if ip is NULL). */
static int answer_has_a(const uint8_t *msg, size_t len, size_t qend, const uint8_t *ip)
{
	unsigned an = (unsigned)(msg[6] << 8 | msg[7]);
	size_t off = qend;

	for (unsigned i = 0; i < an; i++) {
		if (name_skip(msg, len, &off) < 0 || off + 10 > len)
			return 0;
		uint16_t type = (uint16_t)(msg[off] << 8 | msg[off + 1]);
		uint16_t rdlen = (uint16_t)(msg[off + 8] << 8 | msg[off + 9]);
		off += 10;
		if (off + rdlen > len)
			return 0;
		if (type == 1 && rdlen == 4 && (!ip || memcmp(msg + off, ip, 4) == 0))
			return 1;
		off += rdlen;
	}
	return 0;
}

static void hist_add(uint64_t ns)
{
	uint64_t us = ns / 1000;
	if (us > hist_max_us)
		hist_max_us = us;
	hist[us < HIST_US ? us : HIST_US]++;
}

static uint64_t hist_pct(uint64_t total, double pct)
{
	uint64_t want = (uint64_t)((double)total * pct / 100.0 + 0.5), seen = 0;
	if (total == 0)
		return 0;
	if (want == 0)
		want = 1;
	for (uint64_t i = 0; i <= HIST_US; i++) {
		seen += hist[i];
		if (seen >= want)
			return i < HIST_US ? i : hist_max_us;
	}
	return hist_max_us;
}

static int socket_open(const char *addr, const char *port)
{
	struct addrinfo hints = {0}, *ai;
	int fd, bufsz = 8 << 20, err;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if ((err = getaddrinfo(addr, port, &hints, &ai)) != 0) {
		fprintf(stderr, "qgen: %s port %s: %s\n", addr, port, gai_strerror(err));
		exit(2);
	}
	fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		perror("qgen: socket");
		exit(1);
	}
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bufsz, sizeof(bufsz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bufsz, sizeof(bufsz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	/* Connected: the kernel drops datagrams from anyone but the server. */
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		perror("qgen: connect");
		exit(1);
	}
	freeaddrinfo(ai);
	return fd;
}

static int probe(int fd, const char *name, const uint8_t *ip, double limit_s, int interval_ms)
{
	uint8_t q[MAX_QUERY], r[RECV_SIZE];
	size_t qlen = query_encode(q, sizeof(q), name, 1, 0);
	uint64_t start = now_ns(), next = start, end = start + (uint64_t)(limit_s * 1e9);
	uint16_t id = 0;

	if (qlen == 0) {
		fprintf(stderr, "qgen: invalid probe name %s\n", name);
		return 2;
	}
	for (;;) {
		uint64_t now = now_ns();
		if (now >= end) {
			printf("probe: no answer for %s within %.1f s\n", name, limit_s);
			return 1;
		}
		if (now >= next) {
			id++;
			q[0] = (uint8_t)(id >> 8);
			q[1] = (uint8_t)id;
			(void)send(fd, q, qlen, 0); /* ECONNREFUSED until the server binds */
			next = now + (uint64_t)interval_ms * 1000000ull;
		}
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int wait_ms = (int)((next - now) / 1000000ull) + 1;
		if (poll(&pfd, 1, wait_ms) <= 0)
			continue;
		ssize_t n;
		while ((n = recv(fd, r, sizeof(r), 0)) >= 0 || errno == ECONNREFUSED) {
			if (n < (ssize_t)qlen || r[0] != q[0] || r[1] != q[1] || !(r[2] & 0x80))
				continue;
			if (answer_has_a(r, (size_t)n, qlen, ip)) {
				printf("probe: answered after %.1f ms\n",
				       (double)(now_ns() - start) / 1e6);
				return 0;
			}
		}
	}
}

static void usage(void)
{
	fprintf(
	    stderr,
	    "usage: qgen -d FILE [-s ADDR] [-p PORT] [-l SECONDS] [-w WINDOW] [-t TIMEOUT_MS]\n"
	    "            [-b BATCH] [-n NAP_US] [-A IPV4] [-S INTERVAL_S] [-e]\n"
	    "       qgen -P NAME [-s ADDR] [-p PORT] [-A IPV4] [-l SECONDS] [-i MS]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *addr = "127.0.0.1", *port = "53", *file = NULL, *probe_name = NULL;
	double duration = 10, stats_every = 0;
	int window = 200, timeout_ms = 1000, batch = 64, edns = 0, interval_ms = 5, nap_us = 0;
	int spin_us = 200, opt;
	uint8_t sink_ip[4], *want_ip = NULL;

	while ((opt = getopt(argc, argv, "s:p:d:l:w:t:b:A:S:eP:i:n:y:h")) != -1) {
		switch (opt) {
		case 's':
			addr = optarg;
			break;
		case 'p':
			port = optarg;
			break;
		case 'd':
			file = optarg;
			break;
		case 'l':
			duration = atof(optarg);
			break;
		case 'w':
			window = atoi(optarg);
			break;
		case 't':
			timeout_ms = atoi(optarg);
			break;
		case 'b':
			batch = atoi(optarg);
			break;
		case 'A':
			if (inet_pton(AF_INET, optarg, sink_ip) != 1)
				usage();
			want_ip = sink_ip;
			break;
		case 'S':
			stats_every = atof(optarg);
			break;
		case 'e':
			edns = 1;
			break;
		case 'P':
			probe_name = optarg;
			break;
		case 'i':
			interval_ms = atoi(optarg);
			break;
		case 'n':
			nap_us = atoi(optarg);
			break;
		case 'y':
			spin_us = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (duration <= 0 || window < 1 || window > MAX_WINDOW || timeout_ms < 1 || batch < 1 ||
	    batch > MAX_BATCH || interval_ms < 1 || nap_us < 0 || nap_us > 100000 ||
	    spin_us < 0 || spin_us > 1000000)
		usage();

	int fd = socket_open(addr, port);
	if (probe_name)
		return probe(fd, probe_name, want_ip, duration, interval_ms);
	if (!file)
		usage();
	queries_load(file, edns);

	for (uint32_t i = 0; i < ID_SPACE; i++)
		free_ids[i] =
		    (uint16_t)(i * 40503u); /* odd multiplier: a permutation of 0..65535 */
	free_count = ID_SPACE;

	static uint8_t sbuf[MAX_BATCH][MAX_QUERY], rbuf[MAX_BATCH][RECV_SIZE];
	static struct iovec siov[MAX_BATCH], riov[MAX_BATCH];
	static struct mmsghdr smsg[MAX_BATCH], rmsg[MAX_BATCH];
	struct counters c = {0};
	uint64_t timeout_ns = (uint64_t)timeout_ms * 1000000ull;
	struct rusage ru0;
	getrusage(RUSAGE_SELF, &ru0); /* the generator's CPU use is counted from here */
	uint64_t start = now_ns(), end = start + (uint64_t)(duration * 1e9);
	uint64_t drain_end = end + timeout_ns, next_scan = start + TIMEOUT_SCAN_NS;
	uint64_t next_stats =
	    stats_every > 0 ? start + (uint64_t)(stats_every * 1e9) : UINT64_MAX;
	uint64_t last_sent = 0, last_recv = 0;
	uint32_t inflight = 0;
	size_t qnext = 0;
	uint64_t busy_ns = 0; /* time in loop turns that moved datagrams */
	uint64_t last_progress = start;
	/* Refill in chunks, not one query per response: fewer, fuller syscalls. */
	uint32_t refill = (uint32_t)(batch < window / 4 ? batch : window / 4);
	if (refill < 1)
		refill = 1;
	if (nap_us > 0)
		prctl(PR_SET_TIMERSLACK, 1000UL); /* naps of -n us, not 50 us more */

	for (int i = 0; i < batch; i++) {
		siov[i].iov_base = sbuf[i];
		smsg[i].msg_hdr.msg_iov = &siov[i];
		smsg[i].msg_hdr.msg_iovlen = 1;
		riov[i].iov_base = rbuf[i];
		riov[i].iov_len = RECV_SIZE;
		rmsg[i].msg_hdr.msg_iov = &riov[i];
		rmsg[i].msg_hdr.msg_iovlen = 1;
	}

	for (;;) {
		uint64_t now = now_ns(), turn = now;
		int sending = now < end;
		int progress = 0;

		if (!sending && (inflight == 0 || now >= drain_end))
			break;

		/* Fill the window. The ids are taken only for what the kernel accepted. */
		if (sending && (uint32_t)window - inflight >= refill) {
			int k = (int)((uint32_t)window - inflight);
			if (k > batch)
				k = batch;
			for (int i = 0; i < k; i++) {
				const struct query *q =
				    &queries[(qnext + (size_t)i) % nqueries];
				uint16_t id = free_ids[(free_head + (uint32_t)i) % ID_SPACE];
				memcpy(sbuf[i], qwire + q->off, q->len);
				sbuf[i][0] = (uint8_t)(id >> 8);
				sbuf[i][1] = (uint8_t)id;
				siov[i].iov_len = q->len;
			}
			int s = sendmmsg(fd, smsg, (unsigned)k, 0);
			if (s < 0) {
				if (errno != EAGAIN && errno != EINTR)
					c.send_errors++; /* ECONNREFUSED: nobody listening */
				s = 0;
			}
			for (int i = 0; i < s; i++) {
				uint16_t id = free_ids[free_head];
				free_head = (free_head + 1) % ID_SPACE;
				free_count--;
				slots[id].sent_ns = now;
				slots[id].query = (uint32_t)(qnext % nqueries);
				slots[id].busy = 1;
				qnext++;
			}
			inflight += (uint32_t)s;
			c.sent += (uint64_t)s;
			progress |= s > 0;
		}

		/* Drain what has arrived. */
		for (;;) {
			for (int i = 0; i < batch; i++)
				riov[i].iov_len = RECV_SIZE;
			int n = recvmmsg(fd, rmsg, (unsigned)batch, MSG_DONTWAIT, NULL);
			if (n <= 0)
				break;
			uint64_t t = now_ns();
			progress = 1;
			for (int i = 0; i < n; i++) {
				const uint8_t *r = rbuf[i];
				size_t len = rmsg[i].msg_len;
				if (len < 12 || !(r[2] & 0x80)) {
					c.mismatched++;
					continue;
				}
				uint16_t id = (uint16_t)(r[0] << 8 | r[1]);
				struct slot *sl = &slots[id];
				if (!sl->busy) {
					c.late++;
					continue;
				}
				const struct query *q = &queries[sl->query];
				/* The question must come back as it was sent. */
				if (len < q->len - (edns ? 11u : 0u) ||
				    memcmp(r + 4, qwire + q->off + 4, 2) != 0 ||
				    memcmp(r + 12, qwire + q->off + 12,
				           q->len - 12 - (edns ? 11u : 0u)) != 0) {
					c.mismatched++;
					continue;
				}
				sl->busy = 0;
				free_ids[(free_head + free_count) % ID_SPACE] = id;
				free_count++;
				inflight--;
				c.received++;
				if (t <= end)
					c.received_in_period++;
				hist_add(t - sl->sent_ns);
				switch (r[3] & 0x0f) {
				case 0:
					c.noerror++;
					break;
				case 2:
					c.servfail++;
					break;
				case 3:
					c.nxdomain++;
					break;
				default:
					c.other_rcode++;
					break;
				}
				if (r[6] | r[7]) {
					size_t qend = q->len - (edns ? 11u : 0u);
					c.answered++;
					if (want_ip && answer_has_a(r, len, qend, want_ip))
						c.sinkholed++;
				}
			}
			if (n < batch)
				break;
		}

		now = now_ns();
		if (now >= next_scan || (!sending && now >= drain_end)) {
			for (uint32_t id = 0; id < ID_SPACE; id++) {
				struct slot *sl = &slots[id];
				if (sl->busy && now - sl->sent_ns >= timeout_ns) {
					sl->busy = 0;
					free_ids[(free_head + free_count) % ID_SPACE] =
					    (uint16_t)id;
					free_count++;
					inflight--;
					c.lost++;
				}
			}
			next_scan = now + TIMEOUT_SCAN_NS;
		}
		if (now >= next_stats) {
			fprintf(stderr, "qgen: t=%.1fs sent=%llu received=%llu lost=%llu\n",
			        (double)(now - start) / 1e9,
			        (unsigned long long)(c.sent - last_sent),
			        (unsigned long long)(c.received - last_recv),
			        (unsigned long long)c.lost);
			last_sent = c.sent;
			last_recv = c.received;
			next_stats += (uint64_t)(stats_every * 1e9);
		}

		if (progress) {
			busy_ns += now_ns() - turn;
			last_progress = now;
			continue;
		}
		if (spin_us > 0 && now - last_progress < (uint64_t)spin_us * 1000) {
			/*
			 * Stay on the CPU for a while: a server that answers steadily
			 * then never has to wake us (in a VM each wake-up of an idle
			 * CPU is an IPI that the server's CPU pays for), and anything
			 * else runnable here, like the upstream responder, still runs.
			 */
			sched_yield();
		} else if (nap_us > 0) {
			/* Let responses pile up, then move them with one recvmmsg. */
			struct timespec ts = {0, (long)nap_us * 1000};
			nanosleep(&ts, NULL);
		} else {
			/* Sleep until a response arrives or the next deadline. */
			uint64_t deadline = next_scan < drain_end ? next_scan : drain_end;
			if (sending && end < deadline)
				deadline = end;
			int ms =
			    deadline > now ? (int)((deadline - now + 999999) / 1000000) : 0;
			struct pollfd pfd = {.fd = fd, .events = POLLIN};
			poll(&pfd, 1, ms);
		}
	}
	c.lost += inflight; /* still unanswered when the drain ended */

	/* Near 100 % would mean the generator, not the server, is the limit. */
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu_s = (double)(ru.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
	               (double)(ru.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
	               (double)(ru.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
	               (double)(ru.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
	double wall_s = (double)(now_ns() - start) / 1e9;
	double cpu_pct = wall_s > 0 ? 100.0 * cpu_s / wall_s : 0;
	double busy_pct = wall_s > 0 ? 100.0 * (double)busy_ns / 1e9 / wall_s : 0;

	double secs = duration;
	double qps = (double)c.received_in_period / secs;
	uint64_t p50 = hist_pct(c.received, 50), p90 = hist_pct(c.received, 90),
	         p99 = hist_pct(c.received, 99), p999 = hist_pct(c.received, 99.9);

	printf("qgen: %s port %s, %zu queries from %s, %.1f s, window %d, timeout %d ms\n",
	       addr, port, nqueries, file, duration, window, timeout_ms);
	printf("  sent %llu, received %llu, lost %llu (late %llu, mismatched %llu)\n",
	       (unsigned long long)c.sent, (unsigned long long)c.received,
	       (unsigned long long)c.lost, (unsigned long long)c.late,
	       (unsigned long long)c.mismatched);
	printf("  %.0f responses/s; rcode NOERROR %llu NXDOMAIN %llu SERVFAIL %llu other %llu; "
	       "with answer %llu, sinkholed %llu\n",
	       qps, (unsigned long long)c.noerror, (unsigned long long)c.nxdomain,
	       (unsigned long long)c.servfail, (unsigned long long)c.other_rcode,
	       (unsigned long long)c.answered, (unsigned long long)c.sinkholed);
	printf("  latency us: p50 %llu p90 %llu p99 %llu p99.9 %llu max %llu\n",
	       (unsigned long long)p50, (unsigned long long)p90, (unsigned long long)p99,
	       (unsigned long long)p999, (unsigned long long)hist_max_us);
	printf("  qgen: CPU %.0f %%, moving datagrams %.0f %% of the time\n", cpu_pct,
	       busy_pct);
	printf("RESULT sent=%llu received=%llu lost=%llu late=%llu mismatched=%llu qps=%.0f "
	       "noerror=%llu nxdomain=%llu servfail=%llu other_rcode=%llu answered=%llu "
	       "sinkholed=%llu send_errors=%llu p50_us=%llu p90_us=%llu p99_us=%llu "
	       "p999_us=%llu max_us=%llu cpu_pct=%.0f busy_pct=%.0f\n",
	       (unsigned long long)c.sent, (unsigned long long)c.received,
	       (unsigned long long)c.lost, (unsigned long long)c.late,
	       (unsigned long long)c.mismatched, qps, (unsigned long long)c.noerror,
	       (unsigned long long)c.nxdomain, (unsigned long long)c.servfail,
	       (unsigned long long)c.other_rcode, (unsigned long long)c.answered,
	       (unsigned long long)c.sinkholed, (unsigned long long)c.send_errors,
	       (unsigned long long)p50, (unsigned long long)p90, (unsigned long long)p99,
	       (unsigned long long)p999, (unsigned long long)hist_max_us, cpu_pct, busy_pct);
	return 0;
}

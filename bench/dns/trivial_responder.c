/*
 * trivial_responder: the limit of this machine's UDP path for DNS.
 *
 * A UDP DNS responder that does no lookup at all: it receives queries in
 * recvmmsg batches, answers each one in place (question copied, QR and RA
 * set, one A record pointing at the question name) and sends the batch back
 * with sendmmsg. Any DNS server on the same socket path can at best approach
 * its rate, so the benchmark reports servers as a fraction of it. The
 * benchmark also uses it as the upstream of the resolvers under test.
 *
 * Non-A questions get an empty NOERROR answer (NODATA), so a resolver that
 * forwards to it is never handed a record of the wrong type. Malformed
 * datagrams, responses and opcodes other than QUERY are dropped. EDNS and
 * anything after the question is not echoed (ARCOUNT is set to 0).
 *
 * Build: cc -O2 -o trivial_responder trivial_responder.c
 * Usage: trivial_responder [-a ADDR] [-p PORT] [-A IPV4] [-T TTL] [-b BATCH]
 * SIGTERM/SIGINT stop it; it then prints the number of answers on stderr.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_BATCH 256
#define BUF_SIZE 1232 /* room for the question plus a 16-byte answer */
#define ANSWER_LEN 16

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/*
 * Turn the query in buf (len bytes, cap bytes of room) into a response in
 * place. Returns the response length, or 0 to drop the datagram.
 */
static size_t answer_query(uint8_t *buf, size_t len, size_t cap, const uint8_t ip[4],
                           uint32_t ttl)
{
	size_t off = 12;
	uint16_t qtype;

	if (len < 12 || (buf[2] & 0x80) || ((buf[2] >> 3) & 0x0f) != 0)
		return 0;
	if (buf[4] != 0 || buf[5] != 1)
		return 0;
	/* Skip the question name; compression is not valid in a question. */
	for (;;) {
		if (off >= len)
			return 0;
		uint8_t l = buf[off];
		if (l == 0) {
			off++;
			break;
		}
		if (l > 63)
			return 0;
		off += 1 + (size_t)l;
	}
	if (off + 4 > len || off + 4 + ANSWER_LEN > cap)
		return 0;
	qtype = (uint16_t)(buf[off] << 8 | buf[off + 1]);
	off += 4;

	buf[2] = (uint8_t)((buf[2] & 0x01) | 0x80 | 0x04); /* QR, AA, keep RD */
	buf[3] = 0x80;                                     /* RA, NOERROR */
	buf[8] = buf[9] = buf[10] = buf[11] = 0;           /* NSCOUNT, ARCOUNT */
	buf[6] = 0;
	buf[7] = 0;
	if (qtype != 1)
		return off;
	buf[7] = 1;
	uint8_t *a = buf + off;
	a[0] = 0xc0; /* pointer to the question name at offset 12 */
	a[1] = 12;
	a[2] = 0;
	a[3] = 1; /* A */
	a[4] = 0;
	a[5] = 1; /* IN */
	a[6] = (uint8_t)(ttl >> 24);
	a[7] = (uint8_t)(ttl >> 16);
	a[8] = (uint8_t)(ttl >> 8);
	a[9] = (uint8_t)ttl;
	a[10] = 0;
	a[11] = 4;
	memcpy(a + 12, ip, 4);
	return off + ANSWER_LEN;
}

static void usage(void)
{
	fprintf(stderr, "usage: trivial_responder [-a ADDR] [-p PORT] [-A IPV4] [-T TTL] "
	                "[-b BATCH]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *addr = "127.0.0.1", *answer = "127.0.0.1";
	int port = 5399, batch = 64, opt, fd, on = 1, bufsz = 4 << 20;
	uint32_t ttl = 300;
	uint8_t ip[4];
	struct sockaddr_in sin;
	static uint8_t bufs[MAX_BATCH][BUF_SIZE];
	static struct sockaddr_in6 peers[MAX_BATCH];
	static struct iovec iov[MAX_BATCH];
	static struct mmsghdr in[MAX_BATCH], out[MAX_BATCH];
	unsigned long long answered = 0, dropped = 0;

	while ((opt = getopt(argc, argv, "a:p:A:T:b:h")) != -1) {
		switch (opt) {
		case 'a':
			addr = optarg;
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 'A':
			answer = optarg;
			break;
		case 'T':
			ttl = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'b':
			batch = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (batch < 1 || batch > MAX_BATCH || port < 1 || port > 65535)
		usage();
	if (inet_pton(AF_INET, answer, ip) != 1)
		usage();
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1)
		usage();

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("socket");
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	/* A deep queue absorbs the generator's bursts; FORCE needs root. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bufsz, sizeof(bufsz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bufsz, sizeof(bufsz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		fprintf(stderr, "trivial_responder: bind %s:%d: %s\n", addr, port,
		        strerror(errno));
		return 1;
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: recvmmsg returns EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	for (int i = 0; i < batch; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = BUF_SIZE;
	}
	while (!stop) {
		for (int i = 0; i < batch; i++) {
			iov[i].iov_len = BUF_SIZE;
			in[i].msg_hdr = (struct msghdr){
			    .msg_name = &peers[i],
			    .msg_namelen = sizeof(peers[i]),
			    .msg_iov = &iov[i],
			    .msg_iovlen = 1,
			};
		}
		int n = recvmmsg(fd, in, (unsigned)batch, MSG_WAITFORONE, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("recvmmsg");
			return 1;
		}
		int m = 0;
		for (int i = 0; i < n; i++) {
			size_t len = answer_query(bufs[i], in[i].msg_len, BUF_SIZE, ip, ttl);
			if (len == 0) {
				dropped++;
				continue;
			}
			iov[i].iov_len = len;
			out[m].msg_hdr = in[i].msg_hdr;
			out[m].msg_hdr.msg_iov = &iov[i];
			m++;
		}
		for (int done = 0; done < m;) {
			int s = sendmmsg(fd, out + done, (unsigned)(m - done), 0);
			if (s < 0) {
				if (errno == EINTR)
					continue;
				/* A full send queue or a vanished client: skip that one. */
				done++;
				continue;
			}
			done += s;
			answered += (unsigned long long)s;
		}
	}
	fprintf(stderr, "trivial_responder: answered %llu, dropped %llu\n", answered, dropped);
	return 0;
}

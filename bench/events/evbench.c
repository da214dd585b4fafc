/*
 * Event delivery load: starts a real store worker (the same code as
 * `sinktrap run`) on a config, and feeds it DNS events over its producer
 * channel at a fixed rate, as the DNS worker would, each stamped with the
 * time it was made. Then waits until every remote sink has delivered all
 * (its queue is empty, per status.json) and stops the store cleanly.
 *
 *   evbench -c CONF -r RATE -d SECONDS [-s SIZE]
 *
 * RATE 0 = as fast as the store takes them. Prints one line of key=value.
 * Latency is measured on the receiving side (the event's timestamp against
 * the receiver's clock), by run.sh.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/event.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/util.h"
#include "store/store.h"

static void make_event(struct evbuf *b, uint64_t n, size_t pad)
{
	char name[96], addr[32];
	snprintf(name, sizeof(name), "host-%" PRIu64 ".bench-%" PRIu64 ".evil.test", n % 100000,
	         n % 977);
	/* Each domain has its own sinkhole address, as the pool gives them. */
	snprintf(addr, sizeof(addr), "127.66.%u.%u", (unsigned)(n % 977) >> 8,
	         (unsigned)(n % 977) & 255);
	ev_begin(b, "dns", 0);
	ev_str(b, "src_ip", "10.1.2.3");
	ev_int(b, "src_port", (int64_t)(1024 + n % 60000));
	ev_str(b, "dest_ip", "10.0.0.53");
	ev_int(b, "dest_port", 53);
	ev_str(b, "proto", "UDP");
	ev_obj(b, "dns");
	ev_int(b, "version", 2);
	ev_str(b, "type", "answer");
	ev_int(b, "id", (int64_t)(n & 0xffff));
	ev_str(b, "rrname", name);
	ev_str(b, "rrtype", "A");
	ev_str(b, "rcode", "NOERROR");
	ev_arr(b, "answers");
	ev_obj(b, NULL);
	ev_str(b, "rrname", name);
	ev_str(b, "rrtype", "A");
	ev_int(b, "ttl", 300);
	ev_str(b, "rdata", addr);
	ev_close(b);
	ev_close(b);
	ev_close(b);
	ev_obj(b, "sinkhole");
	ev_str(b, "action", "sinkhole");
	ev_str(b, "reason", "blocklist");
	ev_str(b, "rule", "bench.evil.test");
	ev_str(b, "list", "/etc/sinktrap/lists/bench.hosts");
	ev_int(b, "line", (int64_t)(n % 1000000));
	ev_str(b, "answer", addr);
	if (pad) {
		char *p = xmalloc(pad + 1);
		memset(p, 'p', pad);
		p[pad] = '\0';
		ev_str(b, "pad", p);
		free(p);
	}
	ev_close(b);
	ev_end(b);
}

/* Send whole records, up to a message at a time, waiting for room. */
static void send_all(int fd, struct evbuf *b)
{
	size_t off = 0;
	while (off < b->len) {
		size_t n = 0;
		while (off + n < b->len) {
			uint32_t rl;
			memcpy(&rl, b->data + off + n, 4);
			if (n + rl > IPC_MAX_PAYLOAD)
				break;
			n += rl;
		}
		int r = ipc_send(fd, IPC_EVENTS, b->data + off, n, -1);
		if (r == -EAGAIN) {
			struct pollfd p = {fd, POLLOUT, 0};
			poll(&p, 1, 100);
			continue;
		}
		if (r < 0)
			fatalx("send: %s", strerror(-r));
		off += n;
	}
	evbuf_reset(b);
}

/* Sum of "queued" over the remote sinks in status.json, or -1 if unreadable. */
static long long queued(const char *state_dir, long long *delivered)
{
	char path[4200];
	size_t len;
	snprintf(path, sizeof(path), "%s/status.json", state_dir);
	char *t = read_file(path, 16 << 20, &len);
	if (t == NULL)
		return -1;
	long long q = 0, d = -1;
	const char *p = t;
	while ((p = strstr(p, "\"kind\":\"")) != NULL) {
		p += 8;
		int remote = !strncmp(p, "syslog", 6) || !strncmp(p, "postgresql", 10);
		const char *qp = strstr(p, "\"queued\":"), *dp = strstr(p, "\"delivered\":");
		if (remote && qp && dp) {
			q += atoll(qp + 9);
			long long dv = atoll(dp + 12);
			d = d < 0 || dv < d ? dv : d;
		}
	}
	free(t);
	*delivered = d;
	return q;
}

int main(int argc, char **argv)
{
	const char *conf = NULL;
	double rate = 50000, secs = 10;
	size_t pad = 0;
	int ch;
	while ((ch = getopt(argc, argv, "c:r:d:s:")) != -1) {
		switch (ch) {
		case 'c':
			conf = optarg;
			break;
		case 'r':
			rate = atof(optarg);
			break;
		case 'd':
			secs = atof(optarg);
			break;
		case 's':
			pad = (size_t)atol(optarg);
			break;
		default:
			fprintf(stderr,
			        "usage: evbench -c CONF [-r RATE] [-d SECONDS] [-s PAD]\n");
			return 2;
		}
	}
	struct cfg_errors errs;
	struct config *c = config_load(conf, &errs);
	if (c == NULL) {
		cfg_errors_print(&errs, stderr);
		return 2;
	}
	log_procname("evbench");
	signal(SIGPIPE, SIG_IGN);
	if (store_prepare(c, (uid_t)-1, (gid_t)-1) < 0)
		return 1;
	int sv[2];
	if (ipc_pair(sv) < 0)
		fatal("socketpair");
	pid_t pid = fork();
	if (pid == 0) {
		struct store_setup ss;
		memset(&ss, 0, sizeof(ss));
		close(sv[0]);
		log_procname("store");
		ss.parent_fd = -1;
		ss.peers[0].fd = sv[1];
		snprintf(ss.peers[0].name, sizeof(ss.peers[0].name), "bench");
		ss.npeers = 1;
		_exit(store_worker_main(c, &ss));
	}
	close(sv[1]);

	struct evbuf b;
	evbuf_init(&b);
	uint64_t n = 0;
	int64_t t0 = mono_ms(), end = t0 + (int64_t)(secs * 1000);
	for (;;) {
		int64_t now = mono_ms();
		if (now >= end)
			break;
		uint64_t due =
		    rate > 0 ? (uint64_t)((double)(now - t0) * rate / 1000.0) : n + 500;
		while (n < due) {
			make_event(&b, n++, pad);
			if (b.len > (256u << 10))
				send_all(sv[0], &b);
		}
		send_all(sv[0], &b);
		if (rate > 0)
			usleep(1000);
	}
	double sent_secs = (double)(mono_ms() - t0) / 1000.0;
	/* Let the sinks drain: every queue empty, everything delivered. */
	long long q = -1, d = -1;
	int64_t drain0 = mono_ms();
	while (mono_ms() - drain0 < 300000) {
		q = queued(c->state_dir, &d);
		if (q == 0 && (d < 0 || d >= (long long)n))
			break;
		usleep(200000);
	}
	double drain_secs = (double)(mono_ms() - drain0) / 1000.0;
	/* CPU the store used, per thread kind: its main thread and the delivery threads. */
	double cpu_store = 0, cpu_sinks = 0;
	char tdir[64];
	snprintf(tdir, sizeof(tdir), "/proc/%d/task", (int)pid);
	DIR *dir = opendir(tdir);
	struct dirent *de;
	long hz = sysconf(_SC_CLK_TCK);
	while (dir && (de = readdir(dir)) != NULL) {
		char path[600], buf[1024];
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/stat", tdir, de->d_name);
		FILE *f = fopen(path, "r");
		if (f == NULL)
			continue;
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		char *rp = strrchr(buf, ')');
		unsigned long ut = 0, st = 0;
		/* after "pid (comm)": state and 10 fields, then utime, stime */
		if (rp == NULL ||
		    sscanf(rp + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
		           &st) != 2)
			continue;
		double secs = (double)(ut + st) / (double)hz;
		if (atoi(de->d_name) == (int)pid)
			cpu_store += secs;
		else
			cpu_sinks += secs;
	}
	if (dir)
		closedir(dir);
	close(sv[0]);       /* the store sees its producer go... */
	kill(pid, SIGTERM); /* ...and stops */
	int status;
	waitpid(pid, &status, 0);
	printf("sent=%" PRIu64 " send_seconds=%.3f offered_rate=%.0f drain_seconds=%.2f "
	       "queued_left=%lld cpu_store_us=%.1f cpu_sinks_us=%.1f\n",
	       n, sent_secs, (double)n / sent_secs, drain_secs, q, cpu_store * 1e6 / (double)n,
	       cpu_sinks * 1e6 / (double)n);
	evbuf_free(&b);
	config_free(c);
	return q == 0 ? 0 : 1;
}

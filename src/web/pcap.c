/*
 * PCAP downloads: the capture code of `sinktrap pcap`, run in a child
 * process, its output streamed to the client as it is cut from the spool.
 * What a child holds does not grow with the packets it writes (query.c takes
 * their offsets a window at a time), so a broad filter over a large spool
 * costs time, not memory, however many downloads run at once.
 *
 * The children are forked by a helper process the worker forks at start,
 * before it has any thread: forking the threaded worker itself could copy a
 * lock (SQLite's, the C library's) another thread holds at that moment into
 * a child that would then wait for it forever. A request hands the helper
 * the write ends of two pipes (the PCAP, the messages) and the arguments;
 * the child writes "\x01<exit status>" on the message pipe as it ends.
 */
#include "web/web_int.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <microhttpd.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capture/capture.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/sandbox.h"
#include "common/util.h"

#define PCAP_ERRFD 100 /* the helper's message types (their own channel) */
#define PCAP_RUN 101
#define PCAP_HEAD 24 /* a PCAP file header: output beyond it holds packets */

static int g_helper = -1;
static pthread_mutex_t g_send_lock = PTHREAD_MUTEX_INITIALIZER;

static void helper_child(struct ipc_msg *m, int out, int err)
{
	dup2(out, 1);
	dup2(err, 2);
	int nul = open("/dev/null", O_RDONLY);
	if (nul >= 0)
		dup2(nul, 0);
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	signal(SIGPIPE, SIG_DFL);
	/* The arguments: NUL-separated strings. */
	char *argv[40];
	int argc = 0;
	size_t i = 0;
	m->data[m->hdr.len < IPC_MAX_PAYLOAD ? m->hdr.len : IPC_MAX_PAYLOAD - 1] = '\0';
	while (i < m->hdr.len && argc < 39) {
		argv[argc++] = (char *)m->data + i;
		i += strlen((char *)m->data + i) + 1;
	}
	argv[argc] = NULL;
	optind = 0;
	int rc = argc ? capture_pcap_main(argc, argv) : 2;
	fflush(NULL);
	dprintf(2, "\x01%d", rc);
	_exit(rc);
}

static void helper_main(int sock)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	log_procname("web-pcap");
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sa.sa_flags = SA_NOCLDWAIT; /* children are reaped by the kernel */
	sigaction(SIGCHLD, &sa, NULL);
	sandbox_lockdown("web-pcap", SANDBOX_NO_CONNECT | SANDBOX_NO_PACKET);
	static struct ipc_msg m;
	int errfd = -1;
	for (;;) {
		int r = ipc_recv(sock, &m);
		if (r == -EINTR || r == -EAGAIN)
			continue;
		if (r <= 0)
			_exit(0);
		if (m.hdr.type == PCAP_ERRFD) {
			if (errfd >= 0)
				close(errfd);
			errfd = m.fd;
			continue;
		}
		if (m.hdr.type != PCAP_RUN || m.fd < 0 || errfd < 0) {
			if (m.fd >= 0)
				close(m.fd);
			continue;
		}
		pid_t pid = fork();
		if (pid == 0)
			helper_child(&m, m.fd, errfd);
		if (pid < 0)
			dprintf(errfd, "fork: %s\x01%d", strerror(errno), 2);
		close(m.fd);
		close(errfd);
		errfd = -1;
	}
}

int web_pcap_helper_start(void)
{
	int sv[2];
	if (ipc_pair(sv) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		helper_main(sv[1]);
		_exit(0);
	}
	close(sv[1]);
	g_helper = sv[0];
	return 0;
}

/* A running download: the pipes from the child, what was read ahead. */
struct pcap_stream {
	int out, err;
	uint8_t *head;
	size_t nhead, off;
};

static void stream_free(void *cls)
{
	struct pcap_stream *ps = cls;
	/* Closing the pipe ends the child (EPIPE, SIGPIPE) if it is still writing. */
	if (ps->out >= 0)
		close(ps->out);
	if (ps->err >= 0)
		close(ps->err);
	free(ps->head);
	free(ps);
}

/* The child's messages until it ends: text, and its exit status (-1: unknown). */
static int read_status(int fd, char *msg, size_t msglen)
{
	char buf[2048];
	size_t n = 0;
	for (;;) {
		ssize_t k = read(fd, buf + n, sizeof(buf) - 1 - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		n += (size_t)k;
		if (n == sizeof(buf) - 1) {
			/* Keep the start and the end (where the status is). */
			memmove(buf + 1024, buf + n - 512, 512);
			n = 1536;
		}
	}
	buf[n] = '\0';
	char *mark = strrchr(buf, '\x01');
	int status = -1;
	if (mark) {
		status = atoi(mark + 1);
		*mark = '\0';
	}
	if (msg && msglen) {
		size_t k = strlen(buf) < msglen - 1 ? strlen(buf) : msglen - 1;
		memcpy(msg, buf, k);
		msg[k] = '\0';
	}
	return status;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct pcap_stream *ps = cls;
	(void)pos;
	if (ps->off < ps->nhead) {
		size_t n = ps->nhead - ps->off;
		if (n > max)
			n = max;
		memcpy(buf, ps->head + ps->off, n);
		ps->off += n;
		return (ssize_t)n;
	}
	for (;;) {
		ssize_t k = read(ps->out, buf, max);
		if (k > 0)
			return k;
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		break;
	}
	/* The end: complete only when the child says it succeeded. */
	int status = read_status(ps->err, NULL, 0);
	return status == 0 ? MHD_CONTENT_READER_END_OF_STREAM
	                   : MHD_CONTENT_READER_END_WITH_ERROR;
}

void web_pcap_run(struct web *w, struct wresp *o, char **args, int nargs, const char *fname)
{
	struct strbuf a;
	strbuf_init(&a);
	strbuf_put(&a, "pcap", 5); /* argv[0] of capture_pcap_main */
	if (w->conf_fd >= 0) {
		/* The text read at start, not the file: it may be root's alone. */
		char p[FD_PATH_MAX];
		fd_path(w->conf_fd, p);
		strbuf_put(&a, "-c", 3);
		strbuf_put(&a, p, strlen(p) + 1);
	} else if (w->conf_path) {
		strbuf_put(&a, "-c", 3);
		strbuf_put(&a, w->conf_path, strlen(w->conf_path) + 1);
	}
	for (int i = 0; i < nargs && i < 30; i++)
		strbuf_put(&a, args[i], strlen(args[i]) + 1);
	strbuf_put(&a, "-w\0-", 5);
	int out[2] = {-1, -1}, err[2] = {-1, -1};
	if (g_helper < 0 || a.len > IPC_MAX_PAYLOAD || pipe2(out, O_CLOEXEC) < 0 ||
	    pipe2(err, O_CLOEXEC) < 0) {
		strbuf_free(&a);
		for (int i = 0; i < 2; i++) {
			if (out[i] >= 0)
				close(out[i]);
			if (err[i] >= 0)
				close(err[i]);
		}
		resp_error(o, 500, "cannot run the capture query");
		return;
	}
	/* A deeper pipe: fewer wake-ups between the child and the connection's thread. */
	fcntl(out[1], F_SETPIPE_SZ, 1 << 20);
	pthread_mutex_lock(&g_send_lock);
	int rc = ipc_send(g_helper, PCAP_ERRFD, "", 0, err[1]);
	if (rc == 0)
		rc = ipc_send(g_helper, PCAP_RUN, a.data, a.len, out[1]);
	pthread_mutex_unlock(&g_send_lock);
	strbuf_free(&a);
	close(out[1]);
	close(err[1]);
	if (rc < 0) {
		close(out[0]);
		close(err[0]);
		resp_error(o, 500, "cannot run the capture query");
		return;
	}
	/*
	 * Read ahead until the output holds a packet (then it is a download) or
	 * ends (then the messages say why nothing matched).
	 */
	struct pcap_stream *ps = calloc(1, sizeof(*ps));
	size_t cap = 65536;
	uint8_t *head = malloc(cap);
	if (ps == NULL || head == NULL) {
		free(ps);
		free(head);
		close(out[0]);
		close(err[0]);
		resp_error(o, 500, "out of memory");
		return;
	}
	ps->out = out[0];
	ps->err = err[0];
	ps->head = head;
	while (ps->nhead <= PCAP_HEAD) {
		ssize_t k = read(ps->out, head + ps->nhead, cap - ps->nhead);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		ps->nhead += (size_t)k;
	}
	if (ps->nhead <= PCAP_HEAD) {
		char msg[1024];
		int status = read_status(ps->err, msg, sizeof(msg));
		stream_free(ps);
		char *m = msg;
		if (!strncmp(m, "sinktrap: ", 10))
			m += 10;
		m[strcspn(m, "\n")] = '\0';
		if (status == 2 && *m)
			resp_error(o, 400, m);
		else
			resp_error(o, 404, *m ? m : "no packets for this query");
		return;
	}
	struct MHD_Response *r = MHD_create_response_from_callback(
	    MHD_SIZE_UNKNOWN, 256 * 1024, stream_read, ps, stream_free);
	if (r == NULL) {
		stream_free(ps);
		resp_error(o, 500, "out of memory");
		return;
	}
	o->stream = r;
	o->status = 200;
	o->ctype = "application/vnd.tcpdump.pcap";
	snprintf(o->disposition, sizeof(o->disposition), "attachment; filename=\"%s\"", fname);
}

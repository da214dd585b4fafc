/*
 * The privileged parent of `sinktrap run`: reads the config, opens what needs
 * privilege (listening sockets, list files, the state directory), starts the
 * workers with their descriptors, and supervises them: a worker that dies is
 * restarted with back-off, SIGHUP reloads, SIGTERM/SIGINT stop everything
 * cleanly (producers first, the store last, so no accepted event is lost).
 */
#include "parent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <linux/capability.h>
#include <linux/sockios.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/fsuid.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/ipc.h"
#include "common/log.h"
#include "common/loop.h"
#include "common/sandbox.h"
#include "common/util.h"
#include "capture/capture.h"
#include "dns/dns.h"
#include "store/sinkspec.h"
#include "store/store.h"
#include "trap/trap.h"
#include "web/web.h"

enum wkind { W_STORE, W_DNS, W_TRAP, W_CAPTURE, W_WEB, W_MAX };

static const char *const wnames[W_MAX] = {"store", "dns", "trap", "capture", "web"};

struct worker {
	enum wkind kind;
	int enabled;
	pid_t pid;
	int ctl;         /* parent's end of the control channel */
	int64_t started; /* ms */
	int64_t backoff; /* ms before the next restart */
	struct loop_timer *restart;
	int stopping;
	int up; /* it said IPC_HELLO since its start */
};

/* A set of opened list files; seq is the reload that handed it (0: a start). */
struct list_set {
	uint32_t seq;
	struct list_source *ls;
	int n;
};
#define LIST_SETS_SENT 8

struct parent {
	const char *conf_path;
	struct config *cfg;
	struct loop *loop;
	int sigfd; /* the loop's signalfd */
	struct worker w[W_MAX];
	struct dns_listener *dns_ls;
	int dns_nls;
	struct trap_listener *trap_ls;
	int trap_nls;
	int web_fd; /* the [web] listening socket, -1 = none */
	uid_t uid;
	gid_t gid;
	gid_t groups[64]; /* the user's supplementary groups (group 0 left out) */
	int ngroups;
	int drop;
	int stopping;
	int ready;            /* every worker said it is up once (READY=1 sent) */
	char notify[108];     /* the service manager's socket ($NOTIFY_SOCKET), "" = none */
	uint32_t reload_seq;  /* reloads handed to the dns worker */
	uint32_t reload_wait; /* the one RELOADING=1 waits for (0: none) */
	/*
	 * The list files the dns worker serves: those of its start, then of the
	 * last reload it accepted. A restarted worker loads these, so a list
	 * deleted, renamed over or broken since then does not keep it down or
	 * change what it answers; only a reload changes the lists.
	 */
	struct list_set lists;
	struct list_set sent[LIST_SETS_SENT]; /* handed in reloads not yet answered */
	int nsent;
	int lists_reopen; /* the next dns start opens the config's lists again */
};

static struct parent P;

static void list_set_free(struct list_set *s)
{
	dns_lists_close(s->ls, s->n);
	memset(s, 0, sizeof(*s));
}

/* The same open files again (sharing their offsets), or NULL with errno. */
static struct list_source *lists_dup(const struct list_source *ls, int n)
{
	struct list_source *d = xcalloc((size_t)n + 1, sizeof(*d));
	for (int i = 0; i < n; i++) {
		d[i] = ls[i];
		d[i].fd = fcntl(ls[i].fd, F_DUPFD_CLOEXEC, 0);
		if (d[i].fd < 0) {
			int e = errno;
			d[i].path = NULL;
			dns_lists_close(d, i);
			errno = e;
			return NULL;
		}
		d[i].path = xstrdup(ls[i].path);
	}
	return d;
}

/* What a dns worker about to start loads: the lists it served before, or the
 * config's lists (its first start, or a reload starting it). */
static int dns_start_lists(struct parent *p, struct list_source **out, int *n, char *err,
                           size_t errlen)
{
	int reopen = p->lists_reopen || p->lists.ls == NULL;
	p->lists_reopen = 0;
	if (reopen) {
		if (dns_lists_open(p->cfg, out, n, err, errlen) == 0) {
			struct list_source *keep = lists_dup(*out, *n);
			if (keep == NULL) {
				log_warn("dns: keeping the list files for a restart");
			} else {
				list_set_free(&p->lists);
				p->lists = (struct list_set){0, keep, *n};
			}
			return 0;
		}
		if (p->lists.ls == NULL)
			return -1;
		log_warnx("dns: %s; starting it with the lists it served before", err);
	}
	/* The worker before read them to their end: from the start again. */
	for (int i = 0; i < p->lists.n; i++)
		if (lseek(p->lists.ls[i].fd, 0, SEEK_SET) < 0)
			log_warn("dns: rewinding %s", p->lists.ls[i].path);
	*out = lists_dup(p->lists.ls, p->lists.n);
	if (*out == NULL) {
		snprintf(err, errlen, "cannot hand on the list files: %s", strerror(errno));
		return -1;
	}
	*n = p->lists.n;
	return 0;
}

/*
 * The dns worker answered reload seq. Taken: its set becomes the one kept,
 * and the older ones (which it replaced) are let go. Refused or never run:
 * that set alone is let go; an older one may still be loading (a reload
 * replaced in the queue is told before the one running).
 */
static void lists_answered(struct parent *p, uint32_t seq, int ok)
{
	int k = 0;
	for (int i = 0; i < p->nsent; i++) {
		if (p->sent[i].seq == seq && ok) {
			list_set_free(&p->lists);
			p->lists = p->sent[i];
		} else if (p->sent[i].seq == seq || (ok && p->sent[i].seq < seq)) {
			list_set_free(&p->sent[i]);
		} else {
			p->sent[k++] = p->sent[i];
		}
	}
	p->nsent = k;
}

static void lists_sent_forget(struct parent *p)
{
	for (int i = 0; i < p->nsent; i++)
		list_set_free(&p->sent[i]);
	p->nsent = 0;
}

static void ctl_event(int fd, uint32_t events, void *arg);
static void json_dir_prepare(struct parent *p);
static void restart_later(struct parent *p, struct worker *w);

/*
 * Keep only the capabilities in mask (bits of linux/capability.h) across the
 * change of user; every other one is gone.
 */
static void caps_keep(uint64_t mask)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof(d));
	d[0].effective = d[0].permitted = (uint32_t)mask;
	d[1].effective = d[1].permitted = (uint32_t)(mask >> 32);
	if (syscall(SYS_capset, &h, d) < 0)
		log_warn("capset");
}

/*
 * Narrow a worker: its own name, then the unprivileged user (keeping the
 * capabilities in keep, usually none), then no new privileges.
 */
static void worker_narrow(struct parent *p, const char *name, uint64_t keep)
{
	/* The parent's loop and its signalfd are the parent's alone: a worker that
	 * kept them could take the parent's signals off its loop. */
	if (p->sigfd >= 0)
		close(p->sigfd);
	p->sigfd = -1;
	loop_free(&p->loop);
	list_set_free(&p->lists); /* a dns worker has copies of its own */
	lists_sent_forget(p);
	char comm[16];
	snprintf(comm, sizeof(comm), "sinktrap-%s", name);
	prctl(PR_SET_NAME, comm);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	pid_t parent = getppid();
	log_procname(name);
	if (p->drop) {
		if (keep)
			prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
		if (setgroups((size_t)p->ngroups, p->groups) < 0 ||
		    setresgid(p->gid, p->gid, p->gid) < 0 ||
		    setresuid(p->uid, p->uid, p->uid) < 0)
			fatal("dropping privileges to %s", p->cfg->user);
		if (keep)
			caps_keep(keep);
		/* A change of user clears the death signal: set it again, and go
		 * now if the parent is already gone. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		log_warn("no_new_privs");
}

/* A worker keeps only its own listening sockets. */
static void close_listeners(struct parent *p, enum wkind keep)
{
	if (keep != W_DNS)
		for (int i = 0; i < p->dns_nls; i++) {
			close(p->dns_ls[i].udp_fd);
			close(p->dns_ls[i].tcp_fd);
		}
	if (keep != W_TRAP)
		for (int i = 0; i < p->trap_nls; i++)
			close(p->trap_ls[i].fd);
	if (keep != W_WEB && p->web_fd >= 0)
		close(p->web_fd);
}

static void close_ctl_except(struct parent *p, int keep)
{
	for (int i = 0; i < W_MAX; i++)
		if (p->w[i].ctl >= 0 && p->w[i].ctl != keep)
			close(p->w[i].ctl);
}

/* A new channel between a producer and the store; the store's end goes over its ctl. */
static int store_channel(struct parent *p, const char *producer)
{
	int sv[2];
	if (ipc_pair(sv) < 0)
		fatal("socketpair");
	struct worker *st = &p->w[W_STORE];
	if (st->ctl < 0 ||
	    ipc_send(st->ctl, IPC_PEER_CHANNEL, producer, strlen(producer), sv[1]) < 0) {
		/* No store right now: the producer keeps its events until it gets one. */
		close(sv[1]);
		close(sv[0]);
		return -1;
	}
	close(sv[1]);
	return sv[0];
}

static void worker_start(struct parent *p, struct worker *w)
{
	int ctl[2];
	w->up = 0;
	if (ipc_pair(ctl) < 0)
		fatal("socketpair");

	if (w->kind == W_STORE) {
		/* A channel for every producer that is running now. */
		struct store_setup ss;
		int producer_end[W_MAX];
		memset(&ss, 0, sizeof(ss));
		for (int k = 0; k < W_MAX; k++) {
			producer_end[k] = -1;
			if (k == W_STORE || k == W_WEB || p->w[k].pid <= 0)
				continue;
			int sv[2];
			if (ipc_pair(sv) < 0)
				fatal("socketpair");
			ss.peers[ss.npeers].fd = sv[1];
			snprintf(ss.peers[ss.npeers].name, sizeof(ss.peers[0].name), "%s",
			         wnames[k]);
			ss.npeers++;
			producer_end[k] = sv[0];
		}
		pid_t pid = fork();
		if (pid < 0)
			fatal("fork");
		if (pid == 0) {
			close(ctl[0]);
			close_ctl_except(p, -1);
			for (int k = 0; k < W_MAX; k++)
				if (producer_end[k] >= 0)
					close(producer_end[k]);
			close_listeners(p, W_STORE);
			worker_narrow(p, "store", 0);
			ss.parent_fd = ctl[1];
			_exit(store_worker_main(p->cfg, &ss));
		}
		for (int i = 0; i < ss.npeers; i++)
			close(ss.peers[i].fd);
		w->pid = pid;
		w->ctl = ctl[0];
		close(ctl[1]);
		/* Tell the running producers where the new store is. */
		for (int k = 0; k < W_MAX; k++) {
			if (producer_end[k] < 0)
				continue;
			if (p->w[k].ctl < 0 || ipc_send(p->w[k].ctl, IPC_STORE_CHANNEL, NULL, 0,
			                                producer_end[k]) < 0)
				log_warnx("could not hand the new store to %s", wnames[k]);
			close(producer_end[k]);
		}
	} else if (w->kind == W_TRAP) {
		int store_end = store_channel(p, wnames[w->kind]);
		pid_t pid = fork();
		if (pid < 0)
			fatal("fork");
		if (pid == 0) {
			close(ctl[0]);
			close_ctl_except(p, -1);
			close_listeners(p, W_TRAP);
			/*
			 * With a TPROXY port every UDP reply goes out through a new
			 * transparent socket bound to the datagram's original address
			 * and port (IP_TRANSPARENT: CAP_NET_RAW), so the capability is
			 * needed for the worker's whole life, not only to open the
			 * listeners. What else it would allow, raw and packet sockets
			 * (SOCK_RAW, AF_PACKET, SOCK_PACKET), the trap's seccomp filter
			 * refuses: it makes only the families and types it uses.
			 */
			worker_narrow(p, "trap",
			              p->cfg->tproxy_port ? (1ull << CAP_NET_RAW) |
			                                        (1ull << CAP_NET_BIND_SERVICE)
			                                  : 0);
			struct trap_setup ts = {p->trap_ls, p->trap_nls, ctl[1], store_end};
			_exit(trap_worker_main(p->cfg, &ts));
		}
		if (store_end >= 0)
			close(store_end);
		w->pid = pid;
		w->ctl = ctl[0];
		close(ctl[1]);
	} else if (w->kind == W_WEB) {
		/* The web worker reads the store and the spool; it sends no events. */
		pid_t pid = fork();
		if (pid < 0)
			fatal("fork");
		if (pid == 0) {
			close(ctl[0]);
			close_ctl_except(p, -1);
			close_listeners(p, W_WEB);
			/* The TLS key is read while still privileged. */
			struct web_setup ws = {.listen_fd = p->web_fd,
			                       .parent_fd = ctl[1],
			                       .conf_path = p->conf_path,
			                       .conf_fd = -1};
			char err[512];
			if (web_tls_load(p->cfg, &ws, err, sizeof(err)) < 0)
				fatalx("%s", err);
			if (web_conf_keep(&ws, err, sizeof(err)) < 0)
				log_warnx("%s: PCAP downloads read the file itself", err);
			worker_narrow(p, "web", 0);
			_exit(web_worker_main(p->cfg, &ws));
		}
		w->pid = pid;
		w->ctl = ctl[0];
		close(ctl[1]);
	} else if (w->kind == W_CAPTURE) {
		int store_end = store_channel(p, wnames[w->kind]);
		pid_t pid = fork();
		if (pid < 0)
			fatal("fork");
		if (pid == 0) {
			/*
			 * The rings are opened here, still privileged, and only then does the
			 * worker narrow: a restarted worker gets fresh rings, never the
			 * half-read ones of the worker before it (which the parent could not
			 * keep without pinning their memory).
			 */
			struct capture_setup cs = {NULL, 0, ctl[1], store_end};
			char err[512];
			close(ctl[0]);
			close_ctl_except(p, -1);
			close_listeners(p, W_CAPTURE);
			log_procname("capture");
			if (capture_open(p->cfg, &cs.hs, &cs.nh, err, sizeof(err)) < 0)
				fatalx("%s", err);
			worker_narrow(p, "capture", 0);
			_exit(capture_worker_main(p->cfg, &cs));
		}
		if (store_end >= 0)
			close(store_end);
		w->pid = pid;
		w->ctl = ctl[0];
		close(ctl[1]);
	} else {
		struct dns_setup ds;
		char err[512];
		memset(&ds, 0, sizeof(ds));
		if (dns_start_lists(p, &ds.lists, &ds.nlists, err, sizeof(err)) < 0) {
			/* As if it had died at start: tried again with back-off (and at
			 * SIGHUP). */
			log_warnx("dns: %s; the dns worker cannot start", err);
			close(ctl[0]);
			close(ctl[1]);
			w->pid = 0;
			w->started = mono_ms(); /* it died young: the back-off doubles */
			restart_later(p, w);
			return;
		}
		int store_end = store_channel(p, wnames[w->kind]);
		pid_t pid = fork();
		if (pid < 0)
			fatal("fork");
		if (pid == 0) {
			close(ctl[0]);
			close_ctl_except(p, -1);
			close_listeners(p, W_DNS);
			worker_narrow(p, "dns", 0);
			ds.ls = p->dns_ls;
			ds.nls = p->dns_nls;
			ds.parent_fd = ctl[1];
			ds.store_fd = store_end;
			_exit(dns_worker_main(p->cfg, &ds));
		}
		dns_lists_close(ds.lists, ds.nlists);
		if (store_end >= 0)
			close(store_end);
		w->pid = pid;
		w->ctl = ctl[0];
		close(ctl[1]);
	}
	fd_nonblock(w->ctl);
	loop_io_add(p->loop, w->ctl, EPOLLIN, ctl_event, w);
	w->started = mono_ms();
	log_info("started %s worker (pid %d)", wnames[w->kind], (int)w->pid);
}

static void restart_cb(void *arg)
{
	struct worker *w = arg;
	w->restart = NULL;
	if (!P.stopping)
		worker_start(&P, w);
}

/*
 * A worker that died (or could not start) is started again after a back-off
 * that doubles while it keeps dying young and resets once it lived a minute.
 */
static void restart_later(struct parent *p, struct worker *w)
{
	if (w->restart)
		return;
	if (mono_ms() - w->started > 60000)
		w->backoff = 0;
	w->backoff = w->backoff ? w->backoff * 2 : 500;
	if (w->backoff > 60000)
		w->backoff = 60000;
	log_info("restarting %s worker in %lld ms", wnames[w->kind], (long long)w->backoff);
	w->restart = loop_timer_add(p->loop, w->backoff, 0, restart_cb, w);
}

/* A worker waiting for its restart (or down) is started at once. */
static void start_now(struct parent *p, struct worker *w, const char *why)
{
	if (w->restart) {
		loop_timer_cancel(p->loop, w->restart);
		w->restart = NULL;
	}
	log_info("%s", why);
	worker_start(p, w);
}

/*
 * The service manager's notification protocol (sd_notify(3), as systemd's
 * Type=notify reads it): one datagram to the socket named by $NOTIFY_SOCKET,
 * a path or, with a leading '@', an abstract name. Taken from the
 * environment once at start, so the workers do not inherit it.
 */
static void notify_init(struct parent *p)
{
	const char *e = getenv("NOTIFY_SOCKET");
	p->notify[0] = '\0';
	if (e && (e[0] == '/' || e[0] == '@') && strlen(e) < sizeof(p->notify))
		snprintf(p->notify, sizeof(p->notify), "%s", e);
	else if (e && *e)
		log_warnx("NOTIFY_SOCKET '%s': not a socket path; readiness is not reported",
		          e);
	unsetenv("NOTIFY_SOCKET");
}

static void notify(struct parent *p, const char *state)
{
	if (p->notify[0] == '\0')
		return;
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	size_t n = strlen(p->notify);
	memcpy(sa.sun_path, p->notify, n);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
	                     (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0)
		log_warn("notify %s", p->notify);
	if (fd >= 0)
		close(fd);
}

/*
 * A reload: RELOADING=1 at its start and READY=1 once the dns worker has the
 * new lists in place (or refused them), so that `systemctl reload` returns
 * when they answer. MONOTONIC_USEC as Type=notify-reload asks.
 */
static void reload_begin(struct parent *p)
{
	if (!p->ready || p->stopping)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	char msg[128];
	snprintf(msg, sizeof(msg), "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=%llu",
	         (unsigned long long)ts.tv_sec * 1000000ull +
	             (unsigned long long)ts.tv_nsec / 1000ull);
	notify(p, msg);
}

static void reload_end(struct parent *p, const char *status)
{
	p->reload_wait = 0;
	if (!p->ready || p->stopping)
		return;
	char msg[256];
	snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", status);
	notify(p, msg);
}

/* READY=1 once every enabled worker has said it serves (its sockets, lists, database). */
static void worker_up(struct parent *p, struct worker *w)
{
	w->up = 1;
	if (w->kind == W_DNS && p->reload_wait != 0)
		reload_end(p,
		           "serving (the dns worker started with the lists as they are now)");
	if (p->ready || p->stopping)
		return;
	for (int i = 0; i < W_MAX; i++)
		if (p->w[i].enabled && !p->w[i].up)
			return;
	p->ready = 1;
	log_info("ready: every worker is up");
	notify(p, "READY=1\nSTATUS=serving");
}

static void ctl_event(int fd, uint32_t events, void *arg)
{
	struct worker *w = arg;
	struct ipc_msg *m = xmalloc(sizeof(*m));
	/* Bounded per wake-up: a worker that keeps sending cannot keep the
	 * parent from its signals and the other workers. */
	for (int n = 0; n < 64; n++) {
		int r = ipc_recv(fd, m);
		if (r == -EAGAIN)
			break;
		if (r <= 0) {
			/* The worker is gone; SIGCHLD does the rest. */
			loop_io_del(P.loop, fd);
			close(fd);
			w->ctl = -1;
			break;
		}
		if (m->fd >= 0)
			ipc_close_unwanted(m->fd);
		if (m->hdr.type == IPC_HELLO) {
			log_debug("%s worker is up", wnames[w->kind]);
			worker_up(&P, w);
		} else if (m->hdr.type == IPC_RELOADED && w->kind == W_DNS &&
		           m->hdr.len == sizeof(struct ipc_reloaded)) {
			struct ipc_reloaded rd;
			memcpy(&rd, m->data, sizeof(rd));
			lists_answered(&P, rd.seq, rd.ok != 0);
			if (rd.seq == P.reload_wait)
				reload_end(
				    &P, rd.ok ? "serving (lists reloaded)"
				              : "serving (reload failed: previous lists kept)");
		}
	}
	free(m);
}

static void reap(struct parent *p)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (int i = 0; i < W_MAX; i++) {
			struct worker *w = &p->w[i];
			if (w->pid != pid)
				continue;
			w->pid = 0;
			/* What it said before it ended (a reload it took) still counts. */
			if (w->ctl >= 0)
				ctl_event(w->ctl, EPOLLIN, w);
			if (w->ctl >= 0) {
				loop_io_del(p->loop, w->ctl);
				close(w->ctl);
				w->ctl = -1;
			}
			if (i == W_DNS)
				lists_sent_forget(p); /* a restart loads the ones it served */
			if (p->stopping || w->stopping)
				break;
			if (i == W_DNS && p->reload_wait != 0)
				reload_end(p, "reload: the dns worker ended before its lists "
				              "were in place");
			if (WIFSIGNALED(status))
				log_warnx("%s worker (pid %d) killed by signal %d", wnames[i],
				          (int)pid, WTERMSIG(status));
			else
				log_warnx("%s worker (pid %d) exited with status %d", wnames[i],
				          (int)pid, WEXITSTATUS(status));
			restart_later(p, w);
		}
	}
}

/* A reload that could not start is an alert event: the DNS worker emits it. */
static void reload_error(struct parent *p, const char *msg)
{
	struct worker *w = &p->w[W_DNS];
	char text[1024];
	snprintf(text, sizeof(text), "reload: %s", msg);
	if (w->pid > 0 && w->ctl >= 0)
		ipc_send(w->ctl, IPC_RELOAD_ERROR, text, strlen(text), -1);
}

/* The checked config text to the store, which takes its [events] from it. */
static void store_reload(struct parent *p, const char *text, size_t len)
{
	struct worker *w = &p->w[W_STORE];
	if (w->pid <= 0 || w->ctl < 0)
		return; /* a store started later reads p->cfg, which has them already */
	int fd = memfd_create("sinktrap.conf", MFD_CLOEXEC);
	if (fd < 0 || write_full(fd, text, len) < 0) {
		log_warn("reload: could not pass the configuration to the store");
	} else if (ipc_send(w->ctl, IPC_STORE_RELOAD, p->conf_path, strlen(p->conf_path), fd) <
	           0) {
		log_warnx("reload: could not pass the configuration to the store");
	}
	if (fd >= 0)
		close(fd);
}

/* SIGHUP: a new config if it is valid (lists and events only), then reload. */
static void reload(struct parent *p)
{
	reload_begin(p);
	/* The store reopens its files (logrotate) whatever becomes of the rest. */
	if (p->w[W_STORE].pid > 0)
		kill(p->w[W_STORE].pid, SIGHUP);
	if (p->conf_path) {
		struct cfg_errors errs;
		size_t len = 0;
		char *text = read_file(p->conf_path, 1 << 20, &len);
		struct config *nc = NULL;
		if (text == NULL) {
			char msg[600];
			snprintf(msg, sizeof(msg), "%s: cannot read: %s", p->conf_path,
			         strerror(errno));
			memset(&errs, 0, sizeof(errs));
			errs.msg = xcalloc(1, sizeof(char *));
			errs.msg[0] = xstrdup(msg);
			errs.n = 1;
		} else {
			nc = config_parse(p->conf_path, text, len, 1, &errs);
		}
		if (nc == NULL) {
			log_warnx("reload: configuration has errors; keeping the running one:");
			for (int i = 0; i < errs.n; i++)
				log_warnx("%s", errs.msg[i]);
			reload_error(p, errs.n ? errs.msg[0] : "configuration has errors");
			cfg_errors_free(&errs);
			free(text);
			reload_end(p, "serving (reload refused: the configuration has errors)");
			return;
		}
		/* Sockets stay as they are: only what a reload can change moves over. */
		struct config *c = p->cfg;
		for (int i = 0; i < c->nlists; i++)
			free(c->lists[i].path);
		free(c->lists);
		c->lists = nc->lists;
		c->nlists = nc->nlists;
		nc->lists = NULL;
		nc->nlists = 0;
		sinkspec_config_swap(c, nc);
		config_free(nc);
		if (c->json)
			json_dir_prepare(p); /* a new place for it, made as at start */
		store_reload(p, text, len);
		free(text);
	}
	struct worker *w = &p->w[W_DNS];
	if (w->enabled && w->pid <= 0 && !p->stopping) {
		/* Down (its lists could not be opened, or it died): a reload starts it now,
		 * with the config's lists as they are now. */
		p->lists_reopen = 1;
		start_now(p, w, "reload: starting the dns worker");
		if (w->pid > 0)
			p->reload_wait = ++p->reload_seq; /* READY=1 when it is up */
		else
			reload_end(p, "reload: the dns worker cannot start");
		return;
	}
	if (w->pid > 0 && w->ctl >= 0) {
		struct list_source *ls;
		int n;
		char err[512];
		if (dns_lists_open(p->cfg, &ls, &n, err, sizeof(err)) < 0) {
			log_warnx("reload: %s; keeping the loaded lists", err);
			reload_error(p, err);
			reload_end(p, "serving (reload failed: previous lists kept)");
		} else {
			uint32_t seq = ++p->reload_seq;
			fd_nonblock(w->ctl);
			ipc_send(w->ctl, IPC_RELOAD_BEGIN, NULL, 0, -1);
			for (int i = 0; i < n; i++) {
				struct ipc_list il = {ls[i].line, ls[i].allow, ls[i].clients};
				ipc_send2(w->ctl, IPC_RELOAD_LIST, &il, sizeof(il), ls[i].path,
				          strlen(ls[i].path), ls[i].fd);
			}
			if (ipc_send(w->ctl, IPC_RELOAD_END, &seq, sizeof(seq), -1) == 0) {
				p->reload_wait = seq;
				/* Kept until the worker says whether it took them. */
				if (p->nsent == LIST_SETS_SENT) {
					list_set_free(&p->sent[0]);
					memmove(&p->sent[0], &p->sent[1],
					        sizeof(p->sent[0]) * (LIST_SETS_SENT - 1));
					p->nsent--;
				}
				p->sent[p->nsent++] = (struct list_set){seq, ls, n};
				ls = NULL;
			} else {
				reload_end(
				    p,
				    "serving (reload failed: the dns worker did not take it)");
			}
			dns_lists_close(ls, n);
			log_info("reload: %d lists handed to the dns worker", n);
		}
		return;
	}
	reload_end(p, "serving");
}

static int wait_exit(struct worker *w, int ms)
{
	for (int t = 0; t < ms / 10 && w->pid > 0; t++) {
		int status;
		pid_t r = waitpid(w->pid, &status, WNOHANG);
		if (r == w->pid || (r < 0 && errno == ECHILD)) {
			w->pid = 0;
			return 0;
		}
		usleep(10000);
	}
	return w->pid > 0 ? -1 : 0;
}

/*
 * Wait (bounded) until a worker has read everything sent on its control
 * channel: a Unix socket's sender is charged for what the receiver has not
 * taken yet (SIOCOUTQ).
 */
static void wait_taken(struct worker *w, int ms)
{
	for (int t = 0; t < ms / 10 && w->pid > 0 && w->ctl >= 0; t++) {
		int queued = 0;
		if (ioctl(w->ctl, SIOCOUTQ, &queued) < 0 || queued == 0)
			return;
		usleep(10000);
	}
}

static void stop_all(struct parent *p)
{
	p->stopping = 1;
	/* A worker that died with SIGTERM is known now: SIGTERM (15) is read
	 * before SIGCHLD (17), so a store just gone would not be started below.
	 * (Reaped as stopping: a foreground Ctrl-C reaches every worker too.) */
	reap(p);
	notify(p, "STOPPING=1");
	/*
	 * A store waiting for its restart is started now: the producers keep
	 * their events until a store exists, and would stop with them. Each
	 * producer is given its channel to it before it is told to stop.
	 */
	struct worker *st = &p->w[W_STORE];
	if (st->enabled && st->pid <= 0) {
		start_now(p, st,
		          "starting the store for the producers' events before stopping");
		for (int i = 0; i < W_MAX; i++)
			if (i != W_STORE && p->w[i].pid > 0)
				wait_taken(&p->w[i], 2000);
	}
	/* Producers first, so everything they emitted reaches the store. */
	for (int i = W_MAX - 1; i >= 0; i--) {
		struct worker *w = &p->w[i];
		if (w->restart) {
			loop_timer_cancel(p->loop, w->restart);
			w->restart = NULL;
		}
		if (w->pid <= 0)
			continue;
		w->stopping = 1;
		kill(w->pid, SIGTERM);
		if (wait_exit(w, i == W_STORE ? 60000 : 15000) < 0) {
			log_warnx("%s worker did not stop; killing it", wnames[i]);
			kill(w->pid, SIGKILL);
			wait_exit(w, 5000);
		}
	}
}

static void on_signal(int fd, uint32_t events, void *arg)
{
	struct parent *p = arg;
	struct signalfd_siginfo si;
	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap(p);
			break;
		case SIGHUP:
			if (p->stopping)
				break; /* a reload would start what the stop ended */
			log_info("SIGHUP: reloading");
			reload(p);
			break;
		case SIGTERM:
		case SIGINT:
			/* Once: a second signal read after the first stop (a second
			 * Ctrl-C, a stop sent twice) found the store down and started
			 * a new one to stop again. */
			if (p->stopping)
				break;
			log_info("stopping");
			stop_all(p);
			loop_break(p->loop);
			break;
		}
	}
}

static int resolve_user(struct parent *p)
{
	if (geteuid() != 0)
		return 0;
	struct passwd *pw = getpwnam(p->cfg->user);
	if (pw == NULL) {
		log_warnx("%s: [sinktrap] user '%s' does not exist", p->cfg->file,
		          p->cfg->user);
		return -1;
	}
	p->uid = pw->pw_uid;
	p->gid = pw->pw_gid;
	p->drop = pw->pw_uid != 0;
	/* Its groups as a login would have them (a key readable by group
	 * ssl-cert, say), all but root's. */
	gid_t all[64];
	int n = (int)(sizeof(all) / sizeof(all[0]));
	if (getgrouplist(pw->pw_name, pw->pw_gid, all, &n) < 0) {
		log_warnx("[sinktrap] user '%s' is in more than %zu groups: only its own group "
		          "is kept",
		          p->cfg->user, sizeof(all) / sizeof(all[0]));
		n = 0;
	}
	p->ngroups = 0;
	for (int i = 0; i < n; i++) {
		if (all[i] == 0) {
			log_warnx("[sinktrap] user '%s' is in group 0: the workers leave it",
			          p->cfg->user);
			continue;
		}
		p->groups[p->ngroups++] = all[i];
	}
	return 0;
}

/*
 * The JSON file's directory: the store, as the workers' user, opens the file
 * there, renames it when it rotates and makes a new one after a SIGHUP. A
 * directory the parent makes is given to that user; one that is there
 * already and that the user cannot write is said at start, not found out at
 * the first rotation (the check takes the user's file-system identity for a
 * moment, so the kernel judges as it will for the store).
 */
static void json_dir_prepare(struct parent *p)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", p->cfg->json);
	char *slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	struct stat st;
	if (stat(dir, &st) < 0) {
		/* each directory made here is the user's, or it could not reach the last */
		int r = mkdir_p_owned(dir, p->drop ? p->uid : (uid_t)-1, p->gid);
		if (r < 0)
			log_warnx("%s: cannot make the JSON file's directory: %s", dir,
			          strerror(-r));
		return;
	}
	if (!p->drop)
		return;
	/* The store's groups too (the parent has one thread here). */
	gid_t saved[64];
	int nsaved = getgroups((int)(sizeof(saved) / sizeof(saved[0])), saved);
	int grouped = nsaved >= 0 && setgroups((size_t)p->ngroups, p->groups) == 0;
	setfsgid(p->gid);
	setfsuid(p->uid);
	int ok = faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) == 0;
	setfsuid(0);
	setfsgid(0);
	if (grouped && setgroups((size_t)nsaved, saved) < 0)
		fatal("setgroups");
	if (!ok)
		log_warnx("%s: [sinktrap] user '%s' cannot write in the JSON file's directory: "
		          "the store cannot open, rotate or reopen %s",
		          dir, p->cfg->user, p->cfg->json);
}

/* An entry sinktrap makes in its state directory. */
static int sinktrap_entry(const char *name)
{
	static const char *const ours[] = {"sinktrap.db", "payloads", "ca",
	                                   "pcap",        "queue",    "status.json"};
	for (size_t i = 0; i < ARRAY_SIZE(ours); i++)
		if (strcmp(name, ours[i]) == 0)
			return 1;
	return 0;
}

/*
 * Does the directory look like a state directory of sinktrap's: empty, or
 * holding one of the entries sinktrap makes there? Otherwise the first other
 * entry's name goes into other.
 */
static int looks_ours(int dfd, char *other, size_t len)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		snprintf(other, len, "(unreadable: %s)", strerror(errno));
		return 0;
	}
	int ours = 0, empty = 1;
	other[0] = '\0';
	for (struct dirent *e; (e = readdir(d)) != NULL && !ours;) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		empty = 0;
		if (sinktrap_entry(e->d_name))
			ours = 1;
		else if (other[0] == '\0')
			snprintf(other, len, "%s", e->d_name);
	}
	closedir(d);
	return ours || empty;
}

/*
 * The state directory, before anything is made in it. The workers' user
 * writes there, so it must be sinktrap's own: one that exists is refused when
 * every user (or another group) can write it (/tmp: anyone could plant the
 * database's files) or when it belongs to someone else than root or that
 * user. One that belongs to root (a state directory an earlier start as root
 * made, or an administrator's mkdir) is given to the workers' user only when
 * it is empty or holds sinktrap's own files: never /var/lib or /. One that
 * does not exist is made below for that user (store_prepare), as `make
 * install` makes /var/lib/sinktrap.
 */
static int state_dir_check(struct parent *p)
{
	const char *dir = p->cfg->state_dir;
	char why[4200], other[256];
	int fd = sandbox_open_dir(dir, why, sizeof(why));
	if (fd == -ENOENT)
		return 0;
	if (fd < 0) {
		log_warnx("state_dir %s: refused: %s", dir, why);
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		log_warn("state_dir %s", dir);
		close(fd);
		return -1;
	}
	unsigned mode = (unsigned)(st.st_mode & 07777);
	gid_t group = p->drop ? p->gid : 0;
	int rc = 0;
	if ((st.st_mode & (S_ISVTX | S_IWOTH)) ||
	    (geteuid() == 0 && (st.st_mode & S_IWGRP) && st.st_gid != group)) {
		log_warnx(
		    "state_dir %s: refused: other users can write in it (mode %04o, group "
		    "%u), so any of them could replace the files the workers and the "
		    "parent open there; give sinktrap a directory of its own (make "
		    "install makes /var/lib/sinktrap, 0750, owned by the workers' user)",
		    dir, mode, (unsigned)st.st_gid);
		rc = -1;
	} else if (p->drop && st.st_uid != p->uid) {
		if (st.st_uid != 0) {
			log_warnx("state_dir %s: refused: it belongs to uid %u, neither to the "
			          "workers' user %s nor to root",
			          dir, (unsigned)st.st_uid, p->cfg->user);
			rc = -1;
		} else if (!looks_ours(fd, other, sizeof(other))) {
			log_warnx(
			    "state_dir %s: refused: it belongs to root and holds '%s', which "
			    "sinktrap did not make, so it is not given to the workers' user "
			    "%s; give sinktrap a directory of its own (or chown it to %s)",
			    dir, other, p->cfg->user, p->cfg->user);
			rc = -1;
		} else if (fchownat(fd, "", p->uid, p->gid, AT_EMPTY_PATH) < 0) {
			log_warn("state_dir %s: chown to %s", dir, p->cfg->user);
			rc = -1;
		} else {
			log_info(
			    "state_dir %s: given to the workers' user %s (it belonged to root)",
			    dir, p->cfg->user);
		}
	}
	close(fd);
	return rc;
}

/*
 * The database's files and the JSON file belong to the workers' user (an
 * earlier start as root may have made them). They lie where that user can
 * write: each is taken only if it is what it should be (sandbox_chown).
 */
static void own_state(struct parent *p)
{
	if (!p->drop)
		return;
	const char *names[] = {"/sinktrap.db", "/sinktrap.db-wal", "/sinktrap.db-shm"};
	char path[4200];
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		snprintf(path, sizeof(path), "%s%s", p->cfg->state_dir, names[i]);
		sandbox_chown(path, SANDBOX_OWN_FILE, p->uid, p->gid, p->cfg->user);
	}
	if (p->cfg->json)
		sandbox_chown(p->cfg->json, SANDBOX_OWN_CREATE, p->uid, p->gid, p->cfg->user);
}

int parent_run(const char *conf_path)
{
	struct parent *p = &P;
	struct cfg_errors errs;
	char err[512];

	memset(p, 0, sizeof(*p));
	log_procname("parent");
	notify_init(p);
	p->conf_path = conf_path;
	p->cfg = config_load(conf_path, &errs);
	if (p->cfg == NULL) {
		cfg_errors_print(&errs, stderr);
		cfg_errors_free(&errs);
		return 1;
	}
	if (log_level_get() < LOG_LVL_DEBUG) /* -d wins over the config */
		log_level_set(p->cfg->log_level);
	if (resolve_user(p) < 0 || state_dir_check(p) < 0 ||
	    store_prepare(p->cfg, p->drop ? p->uid : (uid_t)-1, p->gid) < 0)
		return 1;
	if (p->cfg->json)
		json_dir_prepare(p);
	own_state(p);

	for (int i = 0; i < W_MAX; i++) {
		p->w[i].kind = (enum wkind)i;
		p->w[i].ctl = -1;
	}
	p->w[W_STORE].enabled = 1;
	p->w[W_DNS].enabled = p->cfg->dns_enabled;
	p->w[W_TRAP].enabled = p->cfg->trap_enabled;
	p->w[W_CAPTURE].enabled = p->cfg->capture_enabled;
	p->w[W_WEB].enabled = p->cfg->web_enabled;
	p->web_fd = -1;
	p->sigfd = -1;
	raise_nofile();
	if (p->cfg->dns_enabled &&
	    dns_listeners_open(p->cfg, &p->dns_ls, &p->dns_nls, err, sizeof(err)) < 0) {
		log_warnx("dns: %s", err);
		return 1;
	}
	if (p->cfg->trap_enabled) {
		if (trap_listeners_open(p->cfg, &p->trap_ls, &p->trap_nls, err, sizeof(err)) <
		    0) {
			log_warnx("trap: %s", err);
			return 1;
		}
		/* The local CA is made once, while privileged, so the trap only reads it. */
		trap_prepare(p->cfg, p->drop ? p->uid : (uid_t)-1, p->gid);
	}
	if (p->cfg->web_enabled) {
		web_prepare(p->cfg, p->drop ? (unsigned)p->gid : (unsigned)-1);
		/* The spool the web worker reads: made and owned as the capture worker's. */
		if (!p->cfg->capture_enabled &&
		    capture_prepare(p->cfg, p->drop ? p->uid : (uid_t)-1, p->gid) < 0)
			return 1;
		p->web_fd = web_listen_open(p->cfg, err, sizeof(err));
		if (p->web_fd < 0) {
			log_warnx("%s", err);
			return 1;
		}
	}
	if (p->cfg->capture_enabled) {
		/* A wrong interface or filter stops the start here, not in a restart loop. */
		struct capture_handle *hs;
		int nh;
		if (capture_open(p->cfg, &hs, &nh, err, sizeof(err)) < 0) {
			log_warnx("capture: %s", err);
			return 1;
		}
		capture_close(hs, nh);
		if (capture_prepare(p->cfg, p->drop ? p->uid : (uid_t)-1, p->gid) < 0)
			return 1;
	}

	signal(SIGPIPE, SIG_IGN);
	p->loop = loop_new();
	static const int sigs[] = {SIGCHLD, SIGHUP, SIGTERM, SIGINT};
	p->sigfd = loop_signals(p->loop, sigs, 4, on_signal, p);

	log_info("sinktrap starting with %s", p->cfg->file);
	/* The store first: producers get their channel to it at birth. */
	worker_start(p, &p->w[W_STORE]);
	for (int i = 0; i < W_MAX; i++)
		if (i != W_STORE && p->w[i].enabled)
			worker_start(p, &p->w[i]);

	loop_run(p->loop);
	log_info("stopped");
	return 0;
}

#include "capture.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "capture/capture_int.h"
#include "capture/recorder.h"
#include "common/config.h"
#include "common/emit.h"
#include "common/event.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/loop.h"
#include "common/openssl_shim.h"
#include "common/sandbox.h"
#include "common/util.h"
#include "store/render.h"

#define DISPATCH_BATCH 4096 /* packets per pcap_dispatch */
#define DISPATCH_ROUNDS 16  /* batches per wake-up, so other interfaces get their turn */
#define RING_TIMEOUT_MS 100 /* a partly filled ring block is handed over after this */

struct capture_handle {
	pcap_t *p;
	char name[16];
	int fd;
	int nano;
	/* pcap_stats counters are 32-bit and wrap: widened here */
	uint32_t last_recv, last_drop, last_ifdrop;
	uint64_t recv, drop, ifdrop;
	uint64_t drop_reported, ifdrop_reported;
	uint64_t pkts, bytes; /* handed to the recorder */
	struct capture_worker *w;
};

struct capture_worker {
	struct config *cfg;
	struct capture_setup *setup;
	struct loop *loop;
	struct emitter em;
	struct recorder *rec;
	char spool[4096];
	uint64_t recovered;
	int64_t last_alert_ms;
};

int capture_filter_check(const char *bpf, char *err, size_t errlen)
{
	struct bpf_program prog;
	if (pcap_lib_ready(err, errlen) < 0)
		return -1;
	pcap_t *p = pcap_open_dead(DLT_EN10MB, 262144);
	if (p == NULL) {
		snprintf(err, errlen, "cannot compile filters (libpcap)");
		return -1;
	}
	int rc = pcap_compile(p, &prog, bpf, 1, PCAP_NETMASK_UNKNOWN);
	if (rc < 0)
		snprintf(err, errlen, "%s", pcap_geterr(p));
	else
		pcap_freecode(&prog);
	pcap_close(p);
	return rc < 0 ? -1 : 0;
}

void capture_spool_dir(const struct config *c, char *buf, size_t len)
{
	if (c->capture_spool)
		snprintf(buf, len, "%s", c->capture_spool);
	else
		snprintf(buf, len, "%s/pcap", c->state_dir);
}

int capture_prepare(const struct config *c, uid_t uid, gid_t gid)
{
	char dir[4096];
	capture_spool_dir(c, dir, sizeof(dir));
	int r = mkdir_p_owned(dir, uid, gid);
	if (r < 0) {
		log_warnx("capture spool %s: %s", dir, strerror(-r));
		return -1;
	}
	if (uid != (uid_t)-1) {
		/* In directories the workers' user writes: taken only if they are what they
		 * should be (sandbox_chown). */
		char lock[4200];
		sandbox_chown(dir, SANDBOX_OWN_DIR, uid, gid, c->user);
		snprintf(lock, sizeof(lock), "%s/.lock", dir);
		sandbox_chown(lock, SANDBOX_OWN_FILE, uid, gid, c->user);
	}
	return 0;
}

static int open_one(const struct config *c, struct capture_handle *h, const char *ifname,
                    char *err, size_t errlen)
{
	char ebuf[PCAP_ERRBUF_SIZE] = "";
	memset(h, 0, sizeof(*h));
	snprintf(h->name, sizeof(h->name), "%s", ifname);
	h->fd = -1;
	pcap_t *p = pcap_create(ifname, ebuf);
	if (p == NULL) {
		snprintf(err, errlen, "%s: %s", ifname, ebuf);
		return -1;
	}
	int64_t buf = c->capture_buffer > INT_MAX ? INT_MAX : c->capture_buffer;
	pcap_set_snaplen(p, c->capture_snaplen);
	pcap_set_promisc(p, c->capture_promisc);
	pcap_set_timeout(p, RING_TIMEOUT_MS);
	pcap_set_buffer_size(p, (int)buf);
	/* Immediate mode off: libpcap uses TPACKET_V3, whose blocks are handed
	 * over whole, one wake-up per block instead of one per packet. */
	pcap_set_immediate_mode(p, 0);
	pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO);
	int rc = pcap_activate(p);
	if (rc < 0) {
		const char *why = pcap_geterr(p), *what = pcap_statustostr(rc);
		if (why == NULL || *why == '\0' || strstr(why, what))
			snprintf(err, errlen, "%s: %s", ifname, why && *why ? why : what);
		else
			snprintf(err, errlen, "%s: %s: %s", ifname, what, why);
		pcap_close(p);
		return -1;
	}
	if (rc > 0)
		log_warnx("capture: %s: %s", ifname, pcap_statustostr(rc));
	if (c->capture_filter) {
		struct bpf_program prog;
		if (pcap_compile(p, &prog, c->capture_filter, 1, PCAP_NETMASK_UNKNOWN) < 0 ||
		    pcap_setfilter(p, &prog) < 0) {
			snprintf(err, errlen, "%s: filter '%s': %s", ifname, c->capture_filter,
			         pcap_geterr(p));
			pcap_close(p);
			return -1;
		}
		pcap_freecode(&prog);
	}
	if (pcap_setnonblock(p, 1, ebuf) < 0) {
		snprintf(err, errlen, "%s: %s", ifname, ebuf);
		pcap_close(p);
		return -1;
	}
	h->p = p;
	h->fd = pcap_get_selectable_fd(p);
	h->nano = pcap_get_tstamp_precision(p) == PCAP_TSTAMP_PRECISION_NANO;
	return 0;
}

int capture_open(const struct config *c, struct capture_handle **out, int *n, char *err,
                 size_t errlen)
{
	int count = c->capture_interfaces.n;
	struct capture_handle *hs = xcalloc((size_t)(count ? count : 1), sizeof(*hs));
	*out = NULL;
	*n = 0;
	for (int i = 0; i < count; i++) {
		if (open_one(c, &hs[i], c->capture_interfaces.v[i], err, errlen) < 0) {
			capture_close(hs, i);
			return -1;
		}
		if (i > 0 && pcap_datalink(hs[i].p) != pcap_datalink(hs[0].p)) {
			snprintf(err, errlen,
			         "%s has link type %s but %s has %s: capture one link type per "
			         "instance",
			         hs[i].name, pcap_datalink_val_to_name(pcap_datalink(hs[i].p)),
			         hs[0].name, pcap_datalink_val_to_name(pcap_datalink(hs[0].p)));
			capture_close(hs, i + 1);
			return -1;
		}
	}
	*out = hs;
	*n = count;
	return 0;
}

void capture_close(struct capture_handle *hs, int n)
{
	if (hs == NULL)
		return;
	for (int i = 0; i < n; i++)
		if (hs[i].p)
			pcap_close(hs[i].p);
	free(hs);
}

/* ---------------------------------------------------------------- the worker */

static void on_packet(u_char *user, const struct pcap_pkthdr *ph, const u_char *bytes)
{
	struct capture_handle *h = (struct capture_handle *)user;
	int64_t ts = (int64_t)ph->ts.tv_sec * 1000000000 +
	             (int64_t)ph->ts.tv_usec * (h->nano ? 1 : 1000);
	h->pkts++;
	h->bytes += ph->len;
	recorder_packet(h->w->rec, ts, bytes, ph->caplen, ph->len,
	                (uint32_t)pcap_datalink(h->p));
}

static void on_readable(int fd, uint32_t events, void *arg)
{
	struct capture_handle *h = arg;
	for (int i = 0; i < DISPATCH_ROUNDS; i++) {
		int n = pcap_dispatch(h->p, DISPATCH_BATCH, on_packet, (u_char *)h);
		if (n < 0) {
			log_warnx("capture: %s: %s", h->name, pcap_geterr(h->p));
			break;
		}
		if (n < DISPATCH_BATCH)
			break;
	}
	/* Every packet taken from the ring is in the kernel's hands before the next wait. */
	recorder_flush(h->w->rec);
}

static void sample_stats(struct capture_handle *h)
{
	struct pcap_stat ps;
	if (pcap_stats(h->p, &ps) < 0)
		return;
	h->recv += (uint32_t)(ps.ps_recv - h->last_recv);
	h->drop += (uint32_t)(ps.ps_drop - h->last_drop);
	h->ifdrop += (uint32_t)(ps.ps_ifdrop - h->last_ifdrop);
	h->last_recv = ps.ps_recv;
	h->last_drop = ps.ps_drop;
	h->last_ifdrop = ps.ps_ifdrop;
}

/* Drops are never silent: a warning, and an alert at most once a minute. */
static void check_drops(struct capture_worker *w)
{
	struct capture_setup *s = w->setup;
	uint64_t nd = 0, nif = 0, td = 0, tif = 0;
	for (int i = 0; i < s->nh; i++) {
		struct capture_handle *h = &s->hs[i];
		uint64_t d = h->drop - h->drop_reported, f = h->ifdrop - h->ifdrop_reported;
		if (d || f)
			log_warnx("capture: %s: %" PRIu64
			          " packets dropped by the kernel (ring full), "
			          "%" PRIu64 " by the interface, since the last report",
			          h->name, d, f);
		h->drop_reported = h->drop;
		h->ifdrop_reported = h->ifdrop;
		nd += d;
		nif += f;
		td += h->drop;
		tif += h->ifdrop;
	}
	if (nd + nif == 0 || mono_ms() - w->last_alert_ms < 60000)
		return;
	w->last_alert_ms = mono_ms();
	struct evbuf *b = emit_buf(&w->em);
	ev_begin(b, "alert", 0);
	ev_obj(b, "alert");
	ev_str(b, "signature", "capture dropped packets");
	ev_str(b, "category", "sinktrap");
	ev_str(b, "severity", "warning");
	ev_close(b);
	ev_obj(b, "stats");
	ev_str(b, "worker", "capture");
	ev_int(b, "kernel_drops", (int64_t)nd);
	ev_int(b, "ifdrops", (int64_t)nif);
	ev_int(b, "kernel_drops_total", (int64_t)td);
	ev_int(b, "ifdrops_total", (int64_t)tif);
	ev_close(b);
	emit_commit(&w->em);
	emit_soon(&w->em);
}

static void emit_stats(struct capture_worker *w)
{
	struct capture_setup *s = w->setup;
	struct recorder_stats rs;
	uint64_t recv = 0, drop = 0, ifdrop = 0;
	recorder_stats(w->rec, &rs);
	for (int i = 0; i < s->nh; i++) {
		sample_stats(&s->hs[i]);
		recv += s->hs[i].recv;
		drop += s->hs[i].drop;
		ifdrop += s->hs[i].ifdrop;
	}
	struct evbuf *b = emit_buf(&w->em);
	ev_begin(b, "stats", 0);
	ev_obj(b, "stats");
	ev_str(b, "worker", "capture");
	ev_obj(b, "capture");
	ev_int(b, "packets", (int64_t)recv);
	ev_int(b, "captured", (int64_t)rs.pkts);
	ev_int(b, "bytes", (int64_t)rs.bytes);
	ev_int(b, "kernel_drops", (int64_t)drop);
	ev_int(b, "ifdrops", (int64_t)ifdrop);
	ev_int(b, "written", (int64_t)rs.written);
	ev_int(b, "write_errors", (int64_t)rs.write_errors);
	ev_int(b, "linktype_refused", (int64_t)rs.refused);
	ev_int(b, "nonip", (int64_t)rs.nonip);
	ev_int(b, "malformed", (int64_t)rs.malformed);
	ev_int(b, "flows_active", rs.flows.active);
	ev_int(b, "flows_created", (int64_t)rs.flows.created);
	ev_int(b, "flows_forced", (int64_t)rs.flows.ended[FLOW_END_FORCED]);
	ev_int(b, "frags_held", (int64_t)rs.flows.frags_held);
	ev_int(b, "frags_joined", (int64_t)rs.flows.frags_joined);
	ev_int(b, "flow_events", (int64_t)rs.flow_events);
	ev_int(b, "files", (int64_t)rs.files);
	ev_int(b, "files_deleted", (int64_t)rs.files_deleted);
	ev_int(b, "bytes_deleted", (int64_t)rs.bytes_deleted);
	ev_int(b, "index_errors", (int64_t)rs.index_errors);
	ev_int(b, "recovered", (int64_t)w->recovered);
	if (rs.current[0])
		ev_str(b, "current", rs.current);
	ev_obj(b, "interfaces");
	for (int i = 0; i < s->nh; i++) {
		struct capture_handle *h = &s->hs[i];
		ev_obj(b, h->name);
		ev_int(b, "packets", (int64_t)h->recv);
		ev_int(b, "captured", (int64_t)h->pkts);
		ev_int(b, "bytes", (int64_t)h->bytes);
		ev_int(b, "kernel_drops", (int64_t)h->drop);
		ev_int(b, "ifdrops", (int64_t)h->ifdrop);
		ev_close(b);
	}
	ev_close(b);
	ev_close(b);
	ev_close(b);
	emit_commit(&w->em);
	emit_soon(&w->em);
	check_drops(w);
}

static void stats_timer(void *arg)
{
	emit_stats(arg);
}

static int64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void tick(void *arg)
{
	struct capture_worker *w = arg;
	/* Counters are read each second so a 32-bit wrap can never be missed. */
	for (int i = 0; i < w->setup->nh; i++)
		sample_stats(&w->setup->hs[i]);
	recorder_expire(w->rec, wall_ns());
	recorder_tick(w->rec);
	recorder_flush(w->rec);
	check_drops(w);
}

static void parent_read(int fd, uint32_t events, void *arg)
{
	struct capture_worker *w = arg;
	struct ipc_msg *m = xmalloc(sizeof(*m));
	for (;;) {
		int r = ipc_recv(fd, m);
		if (r == -EAGAIN)
			break;
		if (r == 0) {
			loop_io_del(w->loop, fd);
			loop_break(w->loop);
			break;
		}
		if (r < 0)
			fatalx("parent channel: %s", strerror(-r));
		if (m->hdr.type == IPC_STORE_CHANNEL && m->fd >= 0) {
			fd_nonblock(m->fd);
			emit_set_channel(&w->em, m->fd);
		} else {
			if (m->fd >= 0)
				close(m->fd);
			fatalx("unexpected message %u from parent", m->hdr.type);
		}
	}
	free(m);
}

static void stdout_sink(const uint8_t *rec, size_t len, void *arg)
{
	struct strbuf sb;
	strbuf_init(&sb);
	render_json(rec, len, NULL, &sb);
	strbuf_putc(&sb, '\n');
	write_full(STDOUT_FILENO, sb.data, sb.len);
	strbuf_free(&sb);
}

static void on_signal(int fd, uint32_t events, void *arg)
{
	struct capture_worker *w = arg;
	struct signalfd_siginfo si;
	while (read(fd, &si, sizeof(si)) == sizeof(si))
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
			loop_break(w->loop);
}

static void recovered_note(void *arg, const char *name, const char *what)
{
	struct capture_worker *w = arg;
	w->recovered++;
	log_warnx("capture: %s: %s", name, what);
}

/* The flow settings of [capture]. */
void capture_flow_config(const struct config *c, struct flow_config *fc)
{
	flow_config_default(fc);
	fc->capacity = (uint32_t)c->capture_max_flows;
	fc->tcp_new_timeout = (uint32_t)(c->capture_tcp_new_ms / 1000);
	fc->tcp_est_timeout = (uint32_t)(c->capture_tcp_est_ms / 1000);
	fc->tcp_closed_timeout = (uint32_t)(c->capture_tcp_closed_ms / 1000);
	fc->udp_timeout = (uint32_t)(c->capture_udp_ms / 1000);
	fc->other_timeout = (uint32_t)(c->capture_other_ms / 1000);
	fc->cid_seed = (uint16_t)c->capture_cid_seed;
}

/* The time in milliseconds shifted left by 10: where a run's ids start. */
static uint64_t id_floor(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	return ms << 10;
}

/* Where a run (a worker, an ingest: one flow table each) takes its ids. */
struct id_source {
	char spool[4096];
	uid_t owner; /* of the ids file: (uid_t)-1 = the run's own */
	gid_t group;
};

static uint64_t ids_more(void *arg, uint64_t last, uint64_t *end)
{
	const struct id_source *src = arg;
	uint64_t first;
	int rc = spool_take_ids(src->spool, src->owner, src->group, id_floor(),
	                        CAPTURE_ID_BLOCK, &first);
	if (rc < 0) {
		log_warnx("%s/%s: %s: flow ids go on without a reservation", src->spool,
		          SPOOL_IDS_FILE, strerror(-rc));
		*end = 0;
		return last;
	}
	*end = first + CAPTURE_ID_BLOCK;
	return first;
}

void capture_flow_ids(struct flow_config *fc, const char *spool, uid_t owner, gid_t group,
                      int ingest)
{
	static struct id_source src; /* the process's one run */
	snprintf(src.spool, sizeof(src.spool), "%s", spool);
	src.owner = owner;
	src.group = group;
	fc->id_more = ids_more;
	fc->id_arg = &src;
	uint64_t end = 0;
	/* Without a reservation, an ingest's ids have bit 51 set: never the worker's
	 * (until its clock-based ids reach that bit in 2039). */
	fc->id_base = ids_more(&src, id_floor() | (ingest ? CAPTURE_ID_INGEST_BIT : 0), &end);
	fc->id_end = end;
}

void capture_recorder_config(const struct config *c, const char *spool,
                             struct recorder_config *rc)
{
	memset(rc, 0, sizeof(*rc));
	rc->spool = spool;
	rc->format = c->capture_format ? PCAPFILE_PCAPNG : PCAPFILE_PCAP;
	rc->file_size = (uint64_t)c->capture_file_size;
	rc->file_time_ms = c->capture_file_time_ms;
	rc->limits.max_disk = (uint64_t)c->capture_max_disk;
	rc->limits.min_free = c->capture_min_free;
	rc->snaplen = (uint32_t)c->capture_snaplen;
	capture_flow_config(c, &rc->flow);
	rc->owner = (uid_t)-1;
	rc->group = (gid_t)-1;
}

int capture_worker_main(struct config *c, struct capture_setup *s)
{
	static struct capture_worker worker;
	struct capture_worker *w = &worker;
	struct recorder_config rc;
	char err[512];

	memset(w, 0, sizeof(*w));
	w->cfg = c;
	w->setup = s;
	w->loop = loop_new();
	w->last_alert_ms = -60000;
	event_id_init();
	emit_init(&w->em, w->loop, s->store_fd, "capture");
	if (s->store_fd < 0)
		emit_set_sink(&w->em, stdout_sink, NULL);
	else
		fd_nonblock(s->store_fd);
	signal(SIGPIPE, SIG_IGN);

	capture_spool_dir(c, w->spool, sizeof(w->spool));
	capture_recorder_config(c, w->spool, &rc);
	capture_flow_ids(&rc.flow, w->spool, rc.owner, rc.group, 0);
	int n = spool_recover(w->spool, &rc.flow, recovered_note, w);
	if (n < 0)
		log_warnx("capture: %s: %s", w->spool, strerror(-n));
	if (recorder_new(&w->rec, &rc, &w->em, err, sizeof(err)) < 0)
		fatalx("capture: %s", err);

	for (int i = 0; i < s->nh; i++) {
		struct capture_handle *h = &s->hs[i];
		h->w = w;
		if (h->fd < 0 || loop_io_add(w->loop, h->fd, EPOLLIN, on_readable, h) < 0)
			fatalx("capture: %s: no selectable descriptor", h->name);
	}
	if (s->parent_fd >= 0) {
		fd_nonblock(s->parent_fd);
		loop_io_add(w->loop, s->parent_fd, EPOLLIN, parent_read, w);
	}
	static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
	loop_signals(w->loop, sigs, 3, on_signal, w);
	loop_timer_add(w->loop, 1000, 1, tick, w);
	loop_timer_add(w->loop, c->capture_stats_ms, 1, stats_timer, w);

	openssl_require("capture"); /* the Community ID's SHA-1 */
	/* The packet socket stays open; nothing else of the network is needed. */
	sandbox_lockdown("capture", SANDBOX_NO_CONNECT);
	log_info("capturing on %d interface%s into %s", s->nh, s->nh == 1 ? "" : "s", w->spool);
	if (s->parent_fd >= 0)
		ipc_send(s->parent_fd, IPC_HELLO, "capture", 7, -1);

	loop_run(w->loop);

	/* What is still in the rings, then every flow and the file. */
	for (int i = 0; i < s->nh; i++)
		on_readable(s->hs[i].fd, EPOLLIN, &s->hs[i]);
	emit_stats(w);
	recorder_close(&w->rec, FLOW_END_SHUTDOWN);
	emit_drain(&w->em);
	log_info("capture stopped");
	return 0;
}

int capture_run_alone(const char *conf_path)
{
	struct cfg_errors errs;
	char err[512];
	struct config *c = config_load(conf_path, &errs);
	if (c == NULL) {
		cfg_errors_print(&errs, stderr);
		cfg_errors_free(&errs);
		return 1;
	}
	log_procname("capture");
	if (log_level_get() < LOG_LVL_DEBUG)
		log_level_set(c->log_level);
	if (c->capture_interfaces.n == 0) {
		fprintf(stderr, "%s: [capture]: no 'interface' to capture on\n", c->file);
		return 1;
	}
	struct capture_setup s;
	memset(&s, 0, sizeof(s));
	s.parent_fd = -1;
	s.store_fd = -1;
	if (capture_prepare(c, (uid_t)-1, (gid_t)-1) < 0)
		return 1;
	if (capture_open(c, &s.hs, &s.nh, err, sizeof(err)) < 0) {
		fprintf(stderr, "capture: %s\n", err);
		return 1;
	}
	int r = capture_worker_main(c, &s);
	capture_close(s.hs, s.nh);
	config_free(c);
	return r;
}

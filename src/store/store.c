#include "store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/event.h"
#include "../common/ipc.h"
#include "../common/log.h"
#include "../common/loop.h"
#include "../common/sandbox.h"
#include "../common/util.h"
#include "db.h"
#include "render.h"

#define COMMIT_MS 200
#define COMMIT_ROWS 20000
#define TOUCH_SLOTS 4096

struct peer {
	int fd; /* -1 once closed */
	char name[16];
	uint64_t events;
	int subscribed; /* gets every new sinkhole mapping (the trap, for attribution) */
};

struct store {
	struct config *cfg;
	struct loop *loop;
	struct db *db;
	int json_fd;
	char *json_path;
	struct strbuf line;  /* one rendered event */
	struct strbuf jsonq; /* lines not yet written */
	struct peer peers[STORE_MAX_PEERS];
	int npeers;
	int parent_fd;
	int stopping;
	uint64_t rows_in_batch;
	uint64_t n_events, n_json_errors, n_db_errors;
	/* sinkhole addresses seen in answers since the last commit: last use to persist */
	char touch_addr[TOUCH_SLOTS][INET6_ADDRSTRLEN];
	int64_t touch_ts[TOUCH_SLOTS];
	struct ipc_msg msg;
};

static void json_open(struct store *s)
{
	if (s->json_path == NULL)
		return;
	if (s->json_fd >= 0)
		close(s->json_fd);
	s->json_fd = open(s->json_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (s->json_fd < 0)
		log_warn("%s", s->json_path);
}

static void json_flush(struct store *s)
{
	if (s->jsonq.len == 0)
		return;
	if (s->json_fd < 0)
		json_open(s);
	if (s->json_fd >= 0) {
		int r = write_full(s->json_fd, s->jsonq.data, s->jsonq.len);
		if (r < 0) {
			/* A full disk must not take the store down: say so, keep going. */
			if (s->n_json_errors++ % 1000 == 0)
				log_warnx("%s: %s (%zu bytes of events not written)", s->json_path,
				          strerror(-r), s->jsonq.len);
			if (s->jsonq.len < (64u << 20))
				return; /* keep it queued and retry at the next flush */
		}
	}
	strbuf_reset(&s->jsonq);
}

static void touch_flush(struct store *s)
{
	for (int i = 0; i < TOUCH_SLOTS; i++) {
		if (s->touch_addr[i][0] == '\0')
			continue;
		db_map_touch(s->db, s->touch_addr[i], s->touch_ts[i]);
		s->touch_addr[i][0] = '\0';
	}
}

static void commit(struct store *s)
{
	json_flush(s);
	if (s->db && db_in_batch(s->db)) {
		touch_flush(s);
		if (db_commit(s->db) < 0)
			log_warnx("database commit: %s", db_error(s->db));
	}
	s->rows_in_batch = 0;
}

static void commit_timer(void *arg) { commit(arg); }

static void touch(struct store *s, const uint8_t *p, size_t n, int64_t ts)
{
	if (n == 0 || n >= INET6_ADDRSTRLEN)
		return;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	for (int probe = 0; probe < 8; probe++) {
		char *slot = s->touch_addr[(h + (uint32_t)probe) % TOUCH_SLOTS];
		int64_t *t = &s->touch_ts[(h + (uint32_t)probe) % TOUCH_SLOTS];
		if (slot[0] == '\0' || (strlen(slot) == n && !memcmp(slot, p, n))) {
			memcpy(slot, p, n);
			slot[n] = '\0';
			if (ts > *t || slot[0] == '\0')
				*t = ts;
			return;
		}
	}
	/* Table full: persist now. */
	if (s->db && db_in_batch(s->db))
		touch_flush(s);
}

static int send_blocking(int fd, uint32_t type, const void *a, size_t al, const void *b,
                         size_t bl);

/* A new mapping, to every subscribed peer at once (attribution must not lag). */
static void map_publish(struct store *s, const char *address, const char *domain, int64_t ts)
{
	struct ipc_map_entry e;
	memset(&e, 0, sizeof(e));
	e.last_use = ts;
	if (inet_pton(AF_INET, address, e.addr) == 1)
		e.family = AF_INET;
	else if (inet_pton(AF_INET6, address, e.addr) == 1)
		e.family = AF_INET6;
	else
		return;
	size_t nl = strlen(domain);
	if (nl > 255)
		return;
	for (int i = 0; i < s->npeers; i++) {
		struct peer *p = &s->peers[i];
		if (p->fd >= 0 && p->subscribed &&
		    ipc_send2(p->fd, IPC_MAP_ENTRY, &e, sizeof(e), domain, nl, -1) < 0)
			log_warnx("could not pass a sinkhole mapping to %s", p->name);
	}
}

/* Side effects of an event on the store's own tables. */
static void apply(struct store *s, const uint8_t *rec, size_t len)
{
	struct ev_field type, f1, f2, f3, ts;
	if (!ev_find(rec, len, "event_type", &type) || !ev_find(rec, len, "timestamp", &ts))
		return;
	if (type.strlen == 12 && !memcmp(type.str, "sinkhole_map", 12)) {
		if (ev_find(rec, len, "sinkhole_map.address", &f1) &&
		    ev_find(rec, len, "sinkhole_map.domain", &f2) &&
		    ev_find(rec, len, "sinkhole_map.family", &f3)) {
			char a[64], d[1100], fam[8];
			snprintf(a, sizeof(a), "%.*s", (int)f1.strlen, f1.str);
			snprintf(d, sizeof(d), "%.*s", (int)f2.strlen, f2.str);
			snprintf(fam, sizeof(fam), "%.*s", (int)f3.strlen, f3.str);
			if (s->db && db_map_upsert(s->db, a, d, fam, ts.i) < 0)
				log_warnx("sinkhole map: %s", db_error(s->db));
			map_publish(s, a, d, ts.i);
		}
	} else if (type.strlen == 3 && !memcmp(type.str, "dns", 3)) {
		if (s->db && ev_find(rec, len, "sinkhole.action", &f1) && f1.strlen == 8 &&
		    !memcmp(f1.str, "sinkhole", 8) && ev_find(rec, len, "sinkhole.answer", &f2) &&
		    f2.strlen && f2.str[0] != 'N')
			touch(s, f2.str, f2.strlen, ts.i);
	}
}

static void take_records(struct store *s, struct peer *p, const uint8_t *data, size_t len)
{
	size_t off = 0;
	while (off < len) {
		long rl = ev_record_check(data + off, len - off);
		if (rl < 0)
			fatalx("malformed event record from %s", p->name);
		const uint8_t *rec = data + off;
		strbuf_reset(&s->line);
		render_json(rec, (size_t)rl, s->cfg->sensor, &s->line);
		if (s->json_path) {
			strbuf_put(&s->jsonq, s->line.data, s->line.len);
			strbuf_putc(&s->jsonq, '\n');
		}
		if (s->db) {
			if (db_begin(s->db) == 0) {
				if (db_event_insert(s->db, rec, (size_t)rl, s->line.data, s->line.len) < 0 &&
				    s->n_db_errors++ % 1000 == 0)
					log_warnx("database insert: %s", db_error(s->db));
				s->rows_in_batch++;
			}
		}
		apply(s, rec, (size_t)rl);
		s->n_events++;
		p->events++;
		off += (size_t)rl;
	}
	if (s->rows_in_batch >= COMMIT_ROWS || s->jsonq.len > (4u << 20))
		commit(s);
}

struct map_send {
	int fd;
	uint32_t n;
};

static int send_blocking(int fd, uint32_t type, const void *a, size_t al, const void *b,
                         size_t bl)
{
	for (;;) {
		int r = ipc_send2(fd, type, a, al, b, bl, -1);
		if (r != -EAGAIN)
			return r;
		struct pollfd pf = {.fd = fd, .events = POLLOUT};
		poll(&pf, 1, 1000);
	}
}

static int map_send_row(const struct db_map_row *row, void *arg)
{
	struct map_send *ms = arg;
	struct ipc_map_entry e;
	memset(&e, 0, sizeof(e));
	e.last_use = row->last_seen;
	if (inet_pton(AF_INET, row->address, e.addr) == 1)
		e.family = AF_INET;
	else if (inet_pton(AF_INET6, row->address, e.addr) == 1)
		e.family = AF_INET6;
	else
		return 0;
	size_t nl = strlen(row->domain);
	if (nl > 255)
		return 0;
	if (send_blocking(ms->fd, IPC_MAP_ENTRY, &e, sizeof(e), row->domain, nl) < 0)
		return -1;
	ms->n++;
	return 0;
}

static void peer_close(struct store *s, struct peer *p)
{
	loop_io_del(s->loop, p->fd);
	close(p->fd);
	p->fd = -1;
}

static int peers_open(const struct store *s)
{
	int n = 0;
	for (int i = 0; i < s->npeers; i++)
		n += s->peers[i].fd >= 0;
	return n;
}

static struct store *S;

static void peer_event(int fd, uint32_t events, void *arg)
{
	struct store *s = S;
	struct peer *p = arg;
	/* Bounded per wake-up, so one busy producer cannot starve the others. */
	for (int i = 0; i < 64; i++) {
		int r = ipc_recv(fd, &s->msg);
		if (r == -EAGAIN)
			return;
		if (r == 0) {
			log_debug("%s closed its channel", p->name);
			peer_close(s, p);
			if (s->stopping && peers_open(s) == 0)
				loop_break(s->loop);
			return;
		}
		if (r < 0)
			fatalx("channel from %s: %s", p->name, strerror(-r));
		if (s->msg.fd >= 0) {
			close(s->msg.fd);
			s->msg.fd = -1;
		}
		switch (s->msg.hdr.type) {
		case IPC_EVENTS:
			take_records(s, p, s->msg.data, s->msg.hdr.len);
			break;
		case IPC_MAP_REQUEST: {
			/* Everything accepted so far is in the map before it is sent. */
			commit(s);
			struct map_send ms = {fd, 0};
			if (s->db)
				db_map_each(s->db, map_send_row, &ms);
			send_blocking(fd, IPC_MAP_DONE, NULL, 0, NULL, 0);
			if (s->msg.hdr.len == 1 && s->msg.data[0] == 1)
				p->subscribed = 1;
			log_debug("sent %u sinkhole mappings to %s", ms.n, p->name);
			break;
		}
		default:
			fatalx("unexpected message %u from %s", s->msg.hdr.type, p->name);
		}
	}
}

static void peer_add(struct store *s, int fd, const char *name)
{
	struct peer *p = NULL;
	for (int i = 0; i < s->npeers; i++)
		if (s->peers[i].fd < 0 && !strcmp(s->peers[i].name, name))
			p = &s->peers[i];
	if (p == NULL) {
		if (s->npeers == STORE_MAX_PEERS)
			fatalx("too many store peers");
		p = &s->peers[s->npeers++];
	}
	p->fd = fd;
	snprintf(p->name, sizeof(p->name), "%s", name);
	fd_nonblock(fd);
	loop_io_add(s->loop, fd, EPOLLIN, peer_event, p);
}

static void parent_event(int fd, uint32_t events, void *arg)
{
	struct store *s = arg;
	struct ipc_msg *m = xmalloc(sizeof(*m));
	for (;;) {
		int r = ipc_recv(fd, m);
		if (r == -EAGAIN)
			break;
		if (r == 0) {
			/* The parent is gone: take what is queued, then stop. */
			loop_io_del(s->loop, fd);
			s->stopping = 1;
			loop_break(s->loop);
			break;
		}
		if (r < 0)
			fatalx("parent channel: %s", strerror(-r));
		if (m->hdr.type == IPC_PEER_CHANNEL) {
			char name[16];
			if (m->fd < 0 || m->hdr.len == 0 || m->hdr.len >= sizeof(name))
				fatalx("invalid IPC_PEER_CHANNEL");
			memcpy(name, m->data, m->hdr.len);
			name[m->hdr.len] = '\0';
			peer_add(s, m->fd, name);
			m->fd = -1;
		} else {
			fatalx("unexpected message %u from parent", m->hdr.type);
		}
		if (m->fd >= 0)
			close(m->fd);
	}
	free(m);
}

static void on_signal(int fd, uint32_t events, void *arg)
{
	struct store *s = arg;
	struct signalfd_siginfo si;
	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			/* logrotate moved the file: write to a fresh one. */
			json_flush(s);
			json_open(s);
			log_info("reopened %s", s->json_path ? s->json_path : "(no JSON file)");
		} else {
			s->stopping = 1;
			if (peers_open(s) == 0)
				loop_break(s->loop);
		}
	}
}

/* Take everything still queued on every channel, without waiting. */
static void drain(struct store *s)
{
	for (int i = 0; i < s->npeers; i++) {
		struct peer *p = &s->peers[i];
		while (p->fd >= 0) {
			int r = ipc_recv(p->fd, &s->msg);
			if (r <= 0) {
				if (r != -EAGAIN)
					peer_close(s, p);
				break;
			}
			if (s->msg.fd >= 0)
				close(s->msg.fd);
			if (s->msg.hdr.type == IPC_EVENTS)
				take_records(s, p, s->msg.data, s->msg.hdr.len);
		}
	}
}

int store_prepare(const struct config *c)
{
	int r = mkdir_p(c->state_dir);
	if (r < 0) {
		log_warnx("state_dir %s: %s", c->state_dir, strerror(-r));
		return -1;
	}
	return 0;
}

int store_worker_main(struct config *c, struct store_setup *setup)
{
	static struct store store;
	struct store *s = &store;
	char err[512];

	S = s;
	memset(s, 0, sizeof(*s));
	s->cfg = c;
	s->loop = loop_new();
	s->json_fd = -1;
	s->parent_fd = setup->parent_fd;
	strbuf_init(&s->line);
	strbuf_init(&s->jsonq);

	if (c->json)
		s->json_path = c->json;
	json_open(s);
	if (c->sqlite) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/sinktrap.db", c->state_dir);
		s->db = db_open_sqlite(path, err, sizeof(err));
		if (s->db == NULL)
			fatalx("database: %s", err);
	}
	for (int i = 0; i < setup->npeers; i++)
		peer_add(s, setup->peers[i].fd, setup->peers[i].name);
	if (s->parent_fd >= 0) {
		fd_nonblock(s->parent_fd);
		loop_io_add(s->loop, s->parent_fd, EPOLLIN, parent_event, s);
	}
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	loop_io_add(s->loop, sfd, EPOLLIN, on_signal, s);
	loop_timer_add(s->loop, COMMIT_MS, 1, commit_timer, s);
	sandbox_lockdown("store", SANDBOX_NO_PACKET);
	if (s->parent_fd >= 0)
		ipc_send(s->parent_fd, IPC_HELLO, "store", 5, -1);

	loop_run(s->loop);

	drain(s);
	commit(s);
	log_info("stopped: %llu events stored", (unsigned long long)s->n_events);
	db_close(&s->db);
	if (s->json_fd >= 0) {
		fsync(s->json_fd);
		close(s->json_fd);
	}
	return 0;
}

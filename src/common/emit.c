#include "emit.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "loop.h"
#include "util.h"

#define DEFAULT_MAX_PENDING (64u << 20)

void emit_init(struct emitter *e, struct loop *l, int fd, const char *worker)
{
	memset(e, 0, sizeof(*e));
	evbuf_init(&e->buf);
	e->fd = fd;
	e->loop = l;
	e->worker = worker;
	e->max_pending = DEFAULT_MAX_PENDING;
}

void emit_set_sink(struct emitter *e, emit_sink_cb *cb, void *arg)
{
	e->sink = cb;
	e->sink_arg = arg;
}

static void report_drops(struct emitter *e)
{
	uint64_t n = e->dropped - e->dropped_reported;
	if (n == 0)
		return;
	e->dropped_reported = e->dropped;
	log_warnx("%llu events dropped: the store did not keep up", (unsigned long long)n);
	struct evbuf *b = &e->buf;
	ev_begin(b, "stats", 0);
	ev_obj(b, "stats");
	ev_str(b, "worker", e->worker);
	ev_int(b, "events_dropped", (int64_t)n);
	ev_int(b, "events_dropped_total", (int64_t)e->dropped);
	ev_close(b);
	ev_end(b);
}

void emit_commit(struct emitter *e)
{
	struct evbuf *b = &e->buf;
	size_t start = b->start;
	/* A record that ran out of room is kept: ev_end closes it with its marker. */
	ev_end(b);
	if (b->len - e->sent > e->max_pending) {
		b->len = start;
		b->start = start;
		e->dropped++;
		return;
	}
	e->committed++;
}

static void watch(struct emitter *e);

static void release(struct emitter *e)
{
	e->holding = 0;
	if (e->on_room)
		e->on_room(e->room_arg);
}

void emit_set_hold(struct emitter *e, size_t bytes, void (*cb)(void *arg), void *arg)
{
	e->hold_bytes = bytes;
	e->hold_at = bytes;
	e->on_room = cb;
	e->room_arg = arg;
}

int emit_hold(struct emitter *e)
{
	if (e->holding)
		return 1;
	if (e->hold_bytes == 0 || e->fd < 0)
		return 0;
	size_t pending = e->buf.len - e->sent;
	if (pending < e->hold_bytes)
		e->hold_at = e->hold_bytes; /* caught up: the normal bound again */
	if (pending < e->hold_at)
		return 0;
	int64_t now = mono_ms();
	if (e->progress_at && now - e->progress_at > EMIT_STUCK_MS)
		return 0;
	e->holding = 1;
	e->hold_since = now;
	emit_flush(e);
	return e->holding;
}

void emit_hold_check(struct emitter *e)
{
	if (!e->holding)
		return;
	int64_t now = mono_ms();
	/*
	 * A store that took nothing for a while is waiting for its disk or inside
	 * one long commit: the producer may as well use the CPU meanwhile, up to
	 * a few bounds of backlog.
	 */
	int64_t idle = now - (e->progress_at > e->hold_since ? e->progress_at : e->hold_since);
	if (now - e->hold_since > EMIT_HOLD_MAX_MS ||
	    (idle > EMIT_IDLE_MS && e->buf.len - e->sent < 3 * e->hold_bytes)) {
		/* Answers must not wait longer: go on, and hold again half a bound later. */
		e->hold_at = e->buf.len - e->sent + e->hold_bytes / 2;
		release(e);
	}
}

static void on_io(int fd, uint32_t events, void *arg)
{
	struct emitter *e = arg;
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && e->on_read)
		e->on_read(fd, e->read_arg);
	if ((events & EPOLLOUT) && e->fd == fd)
		emit_flush(e);
}

/* Register fd for what is wanted now: reads (if a reader is set), room (if waiting). */
static void watch(struct emitter *e)
{
	if (e->loop == NULL || e->fd < 0)
		return;
	uint32_t want = (e->on_read ? EPOLLIN : 0) | (e->waiting ? EPOLLOUT : 0);
	if (want == (uint32_t)e->watched)
		return;
	if (want == 0)
		loop_io_del(e->loop, e->fd);
	else if (e->watched == 0)
		loop_io_add(e->loop, e->fd, want, on_io, e);
	else
		loop_io_mod(e->loop, e->fd, want);
	e->watched = (int)want;
}

void emit_set_reader(struct emitter *e, void (*cb)(int fd, void *arg), void *arg)
{
	e->on_read = cb;
	e->read_arg = arg;
	watch(e);
}

static void compact(struct emitter *e)
{
	struct evbuf *b = &e->buf;
	if (e->sent == 0)
		return;
	memmove(b->data, b->data + e->sent, b->len - e->sent);
	b->len -= e->sent;
	b->start -= e->sent;
	e->sent = 0;
	evbuf_shrink(b, EMIT_KEEP_BYTES);
}

int emit_flush(struct emitter *e)
{
	struct evbuf *b = &e->buf;
	int rc = 0;

	/* Drops are summed and reported at most once a second: one line, one event. */
	if (e->dropped != e->dropped_reported && b->start == b->len &&
	    mono_ms() - e->reported_at >= 1000) {
		e->reported_at = mono_ms();
		report_drops(e);
	}
	if (e->fd < 0 && e->sink) {
		while (e->sent < b->start) {
			long rl = ev_record_check(b->data + e->sent, b->start - e->sent);
			if (rl < 0)
				fatalx("emit: corrupt record in own buffer");
			e->sink(b->data + e->sent, (size_t)rl, e->sink_arg);
			e->sent += (size_t)rl;
		}
		compact(e);
		return 0;
	}
	while (e->fd >= 0 && e->sent < b->start) {
		/* Whole records, as many as fit in one message. */
		size_t n = 0;
		while (e->sent + n < b->start) {
			uint32_t rl;
			memcpy(&rl, b->data + e->sent + n, 4);
			if (n + rl > IPC_MAX_PAYLOAD)
				break;
			n += rl;
		}
		if (n == 0)
			fatalx("emit: record larger than a message");
		int r = ipc_send(e->fd, IPC_EVENTS, b->data + e->sent, n, -1);
		if (r == -EAGAIN) {
			e->waiting = 1;
			watch(e);
			break;
		}
		if (r < 0) {
			log_warnx("store channel: %s; keeping %zu bytes of events",
			          strerror(-r), b->start - e->sent);
			if (e->watched && e->loop)
				loop_io_del(e->loop, e->fd);
			e->watched = 0;
			e->waiting = 0;
			close(e->fd);
			e->fd = -1;
			rc = r;
			break;
		}
		e->sent += n;
		e->progress_at = mono_ms();
	}
	if (e->sent == b->start && e->waiting) {
		e->waiting = 0;
		watch(e);
	}
	/*
	 * Keep the buffer from creeping: move the unsent tail down once the sent
	 * part is at least as large, so each byte is moved at most once on
	 * average however long the backlog.
	 */
	if (e->sent == b->len || (e->sent > (1u << 20) && e->sent >= b->len - e->sent))
		compact(e);
	if (e->holding && (e->fd < 0 || b->len - e->sent <= e->hold_bytes / 4))
		release(e);
	return rc;
}

static void soon_cb(void *arg)
{
	struct emitter *e = arg;
	e->soon = NULL;
	emit_flush(e);
}

void emit_soon(struct emitter *e)
{
	if (e->buf.start - e->sent >= EMIT_BATCH_BYTES || e->loop == NULL) {
		emit_flush(e);
		return;
	}
	if (e->soon == NULL && e->buf.start > e->sent)
		e->soon = loop_timer_add(e->loop, EMIT_DELAY_MS, 0, soon_cb, e);
}

void emit_drain(struct emitter *e)
{
	for (int tries = 0; tries < 3000; tries++) {
		emit_flush(e);
		if (e->sent == e->buf.start || e->fd < 0)
			return;
		struct pollfd p = {.fd = e->fd, .events = POLLOUT};
		poll(&p, 1, 10);
	}
	log_warnx("store did not take %zu bytes of events at stop", e->buf.start - e->sent);
}

void emit_set_channel(struct emitter *e, int fd)
{
	if (e->fd >= 0) {
		if (e->watched && e->loop)
			loop_io_del(e->loop, e->fd);
		close(e->fd);
	}
	e->watched = 0;
	e->waiting = 0;
	e->fd = fd;
	watch(e);
	emit_flush(e);
}

void emit_free(struct emitter *e)
{
	if (e->soon && e->loop)
		loop_timer_cancel(e->loop, e->soon);
	e->soon = NULL;
	evbuf_free(&e->buf);
}

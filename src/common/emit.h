/*
 * The producer side of the event pipeline, used by every worker: events are
 * built in a buffer (ev_begin ... emit_commit) and sent to the store in
 * batches over the worker's store channel. A busy store never blocks the
 * worker: unsent records wait in memory up to a bound, past which new
 * records are dropped and counted (the count is reported as a stats event
 * once there is room again). Without a store channel (a worker run alone in
 * the foreground) records go to a local sink instead.
 */
#ifndef SINKTRAP_EMIT_H
#define SINKTRAP_EMIT_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"

struct loop;

typedef void emit_sink_cb(const uint8_t *rec, size_t len, void *arg);

struct emitter {
	int fd;            /* store channel, or -1 */
	struct loop *loop; /* to wait for room on fd; may be NULL (blocking flush) */
	struct evbuf buf;  /* complete records from sent to buf.len, then the one in progress */
	size_t sent;       /* bytes of buf already sent */
	size_t max_pending;
	int waiting; /* waiting for room on fd (EPOLLOUT) */
	int watched; /* the events fd is registered for in the loop (0: none) */
	void (*on_read)(int fd, void *arg); /* messages from the store on the same channel */
	void *read_arg;
	struct loop_timer *soon; /* a flush is due shortly */
	uint64_t committed, dropped, dropped_reported;
	int64_t reported_at; /* ms: drops are reported at most once a second */
	const char *worker;
	emit_sink_cb *sink;
	void *sink_arg;
	/* flow control (emit_set_hold): the producer waits while the store catches up */
	size_t hold_bytes; /* 0: never hold */
	size_t hold_at; /* hold past this many bytes pending: hold_bytes, or more after a long
	                   hold */
	int holding;
	int64_t hold_since;  /* ms */
	int64_t progress_at; /* ms: the store last took a message */
	void (*on_room)(void *arg);
	void *room_arg;
};

void emit_init(struct emitter *e, struct loop *l, int fd, const char *worker);
/* Records are built with the ev_* functions on this buffer. */
static inline struct evbuf *emit_buf(struct emitter *e)
{
	return &e->buf;
}
/*
 * Close the record being built; drops it (counted) if over the bound. A
 * record that outgrew EV_MAX_RECORD is kept up to its last whole field, with
 * "truncated": true (event.h).
 */
void emit_commit(struct emitter *e);
/* Send what is pending; returns 0, or -errno if the channel broke (records kept). */
int emit_flush(struct emitter *e);
/*
 * Send soon: at once when a batch's worth is pending, else within
 * EMIT_DELAY_MS. Batching saves the store a wake-up (and this process a
 * context switch) per event; hot paths call this, not emit_flush().
 */
void emit_soon(struct emitter *e);
#define EMIT_BATCH_BYTES (32 * 1024)
#define EMIT_DELAY_MS 5
/* Flush everything, waiting as long as needed (clean stop). */
void emit_drain(struct emitter *e);
/* Replace the store channel (after a store restart); pending records go to the new one. */
void emit_set_channel(struct emitter *e, int fd);
void emit_set_sink(struct emitter *e, emit_sink_cb *cb, void *arg);
/*
 * Messages the store sends back on the channel (the sinkhole map) go to cb.
 * The emitter owns the channel's registration in the loop: nobody else may
 * add the fd, or the two registrations would replace each other.
 */
void emit_set_reader(struct emitter *e, void (*cb)(int fd, void *arg), void *arg);
/*
 * Flow control for a producer that can wait (the DNS worker: queries wait in
 * the socket's receive buffer). Past bytes pending, emit_hold() says to stop
 * taking input; cb is called once a quarter of that is left. Nothing waits
 * long for it: when a hold has lasted EMIT_HOLD_MAX_MS, or the store took
 * nothing for EMIT_IDLE_MS (it waits for its disk) and less than three bounds
 * are pending, emit_hold_check (from a timer) lets the producer go on for
 * half a bound more before it holds again; while the store takes nothing for
 * EMIT_STUCK_MS it is not held at all. Records are then kept, and dropped past the emitter's
 * bound, as without flow control.
 */
void emit_set_hold(struct emitter *e, size_t bytes, void (*cb)(void *arg), void *arg);
/* 1: stop taking input until the room callback. */
int emit_hold(struct emitter *e);
/* Call every few ms while holding (a timer): ends a hold that lasted too long. */
void emit_hold_check(struct emitter *e);
#define EMIT_HOLD_MAX_MS 200
#define EMIT_IDLE_MS 20
#define EMIT_STUCK_MS 500
/*
 * A backlog (a store that took nothing for a while) grows the buffer up to the
 * emitter's bound; once it is sent, the memory past this is given back.
 */
#define EMIT_KEEP_BYTES (8u << 20)
void emit_free(struct emitter *e);

#endif

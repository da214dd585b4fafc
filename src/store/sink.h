/*
 * Remote sinks: a syslog destination or the PostgreSQL database, each with
 * its delivery queue on disk (queue.h) and a thread of its own that reads
 * the queue, sends, reconnects with exponential back-off and acknowledges
 * what the remote side accepted. The store thread only appends to the queue,
 * so a slow, down or restarting sink never slows the store, let alone the
 * workers that feed it.
 *
 * Delivery is at least once. PostgreSQL: a batch is acknowledged once its
 * transaction committed, and rows are inserted ON CONFLICT (event_id) DO
 * NOTHING, so the database holds every event exactly once. Syslog has no
 * acknowledgement: a batch counts as delivered once it has been written,
 * the peer's TCP acknowledged it (SIOCOUTQ) and the connection stayed up for
 * the resend window afterwards; a broken connection sends everything younger
 * than that again, in order (a receiver may see a few events twice).
 */
#ifndef SINKTRAP_STORE_SINK_H
#define SINKTRAP_STORE_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "../common/config.h"
#include "sinkspec.h"

struct sink;

struct sink_status {
	char name[80];
	char kind[16];   /* "syslog" or "postgresql" */
	char dest[256];  /* what the config names (no password) */
	char format[16]; /* syslog format, or "" */
	int connected;
	char last_error[256];
	uint64_t delivered, queued, dropped, queue_bytes, reconnects;
	int64_t last_delivery; /* usec since the epoch; 0 = never */
};

/*
 * A syslog destination; its queue is state_dir/queue/<spec->name>. prev: a
 * sink of the same name whose thread was stopped and has not ended (NULL
 * normally): the new one takes it and its queue, and starts once it ended.
 * The sink keeps copies of what it uses of c and spec. NULL with err.
 */
struct sink *sink_syslog_new(const struct config *c, const struct cfg_syslog *spec,
                             struct sink *prev, char *err, size_t errlen);
/* The PostgreSQL database of c->database; its queue is state_dir/queue/postgresql. */
struct sink *sink_pg_new(const struct config *c, struct sink *prev, char *err, size_t errlen);

/* Start the delivery thread: 0, 1 when it waits for the thread of the sink it took the
 * queue of to end (call again later), or -errno. */
int sink_start(struct sink *s);
/* Whether the sink waits for an old thread to end before it starts. */
int sink_waiting(const struct sink *s);
/* Whether the event goes to this sink (its types= filter). The record is checked. */
int sink_wants(const struct sink *s, const uint8_t *rec, size_t len);
/* Store thread: queue a record; sink_flush writes what was queued (call before taking more). */
void sink_put(struct sink *s, const uint8_t *rec, size_t len);
void sink_flush(struct sink *s);
/* Store thread: fdatasync the queue (every commit tick). */
void sink_sync(struct sink *s);
/* Store thread: records dropped for size since the last call, and in *damaged those
 * lost to damage on disk, for an alert event each. */
uint64_t sink_drops_take(struct sink *s, uint64_t *damaged);
void sink_get_status(struct sink *s, struct sink_status *st);
const char *sink_name(const struct sink *s);
/*
 * Stopping: the thread delivers what it can within grace_ms while connected,
 * saves the queue cursor and ends; what is left stays queued for the next
 * start. Every wait of the thread (connection, TLS handshake, name lookup,
 * a receiver that takes nothing) ends at a stop. request_stop returns at once
 * (stop several sinks in parallel), join waits for the thread, sink_stop does
 * both and frees.
 */
void sink_request_stop(struct sink *s, int grace_ms);
/* 0, or -1 when the thread did not end within timeout_ms (it is then left running). */
int sink_join(struct sink *s, int timeout_ms);
/* Free a stopped sink: 0, or -1 (nothing freed) while a thread still uses it. */
int sink_free(struct sink **s);
/* Both: 0, or -1 when a thread still uses the sink: it is kept (sink_free it later). */
int sink_stop(struct sink **s, int grace_ms);

#endif

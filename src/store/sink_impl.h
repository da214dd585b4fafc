/* Internal to the sinks: what a transport provides to the delivery thread (sink.c). */
#ifndef SINKTRAP_STORE_SINK_IMPL_H
#define SINKTRAP_STORE_SINK_IMPL_H

#include <pthread.h>

#include "queue.h"
#include "sink.h"

struct sink_ops {
	const char *kind;
	/* Connect (and set up, e.g. migrate the schema). 0, or -1 with err. */
	int (*connect)(struct sink *s, char *err, size_t errlen);
	/* Deliver a batch. 0 once accepted (written / committed), -1 with err: connection
	 * broken. */
	int (*send)(struct sink *s, const struct queue_batch *b, char *err, size_t errlen);
	void (*disconnect)(struct sink *s);
	/* Descriptor to watch while idle (readable = the peer went away), or -1. */
	int (*idle_fd)(struct sink *s);
	/* The idle descriptor is readable: 0 still fine, -1 with err: broken. */
	int (*idle_check)(struct sink *s, char *err, size_t errlen);
	/* Bytes written but not yet acknowledged by the peer, or 0 when unknown. */
	uint64_t (*unacked)(struct sink *s);
	void (*free)(struct sink *s);
	/* 1: hold batches for the resend window before acknowledging (syslog). */
	int windowed;
};

struct pending {
	struct queue_span span;
	int64_t t_ms;        /* written at */
	uint64_t bytes_mark; /* bytes_sent after it */
};

struct sink {
	const struct sink_ops *ops;
	void *impl;
	char *name;
	char dest[256];
	char format[16];
	struct queue *q;
	/*
	 * A sink of the same name whose delivery thread did not end when it was
	 * stopped (a hung peer): this one took its queue, and starts once that
	 * thread has ended (sink_start); it owns it and frees it then.
	 */
	struct sink *prev;
	int queue_lent;        /* its queue went to a new sink: not closed with it */
	struct cfg_strv types; /* its own copy: the config it came from may be freed */
	int need_action;
	/* Databases: also take the events that fill their own tables (sinkhole_map, flow,
	 * pcap_expired, and sinkholed answers for the map's last_seen) whatever the
	 * filter, as the local store does. */
	int keep_tables;
	int resend_ms;
	size_t batch_bytes;

	pthread_t thread;
	int started;
	int wake_fd;     /* eventfd: stop (written once, never read: it stays readable) */
	int stopping;    /* atomic */
	int64_t stop_at; /* atomic: mono ms, the end of the grace time of a stop */

	/* Delivery thread only. */
	char logged[256]; /* the last problem logged, to say each once a minute */
	int64_t backoff;  /* ms before the next connection attempt; reset by a delivery */
	int64_t logged_ms;
	struct pending *pend;
	size_t npend, cappend, pend_head;
	uint64_t bytes_sent; /* on this connection */

	pthread_mutex_t mu; /* guards the status below */
	int connected;
	char last_error[256];
	uint64_t reconnects;
	int64_t last_delivery;
};

/* Common set-up of a new sink (queue under state_dir/queue/name, or prev's). NULL with err. */
struct sink *sink_alloc(const struct config *c, const char *name, const struct sink_ops *ops,
                        int64_t queue_max, struct sink *prev, char *err, size_t errlen);
/*
 * Delivery thread: wait until fd is ready for events, the deadline passes or
 * the sink is asked to stop. data: the wait is for data being delivered,
 * which goes on through a stop's grace time; else (connecting) a stop ends it
 * at once. 1 ready, 0 deadline, -1 stopped (errno ECANCELED) or error.
 */
int sink_wait(struct sink *s, int fd, short events, int64_t deadline, int data);
/* Whether the sink was asked to stop. */
int sink_stopping(const struct sink *s);

#endif

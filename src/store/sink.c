#include "sink.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "../common/event.h"
#include "../common/log.h"
#include "../common/util.h"
#include "sink_impl.h"

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 10000
#define SAVE_EVERY_MS 200
#define IDLE_WAIT_MS 100

static int stopping(const struct sink *s)
{
	return __atomic_load_n(&s->stopping, __ATOMIC_SEQ_CST);
}

int sink_stopping(const struct sink *s)
{
	return stopping(s);
}

int sink_wait(struct sink *s, int fd, short events, int64_t deadline, int data)
{
	for (;;) {
		int stop = stopping(s);
		int64_t end = deadline;
		if (stop) {
			int64_t at = __atomic_load_n(&s->stop_at, __ATOMIC_SEQ_CST);
			if (!data || at <= mono_ms()) {
				errno = ECANCELED;
				return -1;
			}
			if (at < end)
				end = at;
		}
		int64_t left = end - mono_ms();
		if (left <= 0)
			return 0;
		/* The stop descriptor stays readable once written: watched until then. */
		struct pollfd p[2] = {{fd, events, 0}, {stop ? -1 : s->wake_fd, POLLIN, 0}};
		int r = poll(p, 2, (int)(left > 1000 ? 1000 : left));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (p[0].revents)
			return 1;
	}
}

struct sink *sink_alloc(const struct config *c, const char *name, const struct sink_ops *ops,
                        int64_t queue_max, struct sink *prev, char *err, size_t errlen)
{
	char dir[4096];
	struct sink *s = xcalloc(1, sizeof(*s));
	s->ops = ops;
	s->name = xstrdup(name);
	s->resend_ms = 1000;
	s->batch_bytes = 256 << 10;
	s->wake_fd = -1;
	pthread_mutex_init(&s->mu, NULL);
	if (prev) {
		/* Its thread still uses the queue: one queue object, read by one thread at a
		 * time (this one starts when that one has ended). */
		s->q = prev->q;
	} else {
		snprintf(dir, sizeof(dir), "%s/queue/%s", c->state_dir, name);
		s->q = queue_open(dir, queue_max ? queue_max : c->queue_max, err, errlen);
		if (s->q == NULL)
			goto fail;
	}
	s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->wake_fd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	if (prev) {
		queue_set_max(s->q, queue_max ? queue_max : c->queue_max);
		prev->queue_lent = 1;
		s->prev = prev;
		snprintf(s->last_error, sizeof(s->last_error),
		         "waits for the old delivery thread (a hung peer) to end; events are "
		         "queued");
	}
	return s;
fail:
	if (prev == NULL)
		queue_close(&s->q);
	pthread_mutex_destroy(&s->mu);
	free(s->name);
	free(s);
	return NULL;
}

const char *sink_name(const struct sink *s)
{
	return s->name;
}

int sink_wants(const struct sink *s, const uint8_t *rec, size_t len)
{
	struct ev_field type, action;
	if (s->types.n == 0)
		return 1;
	if (!ev_find(rec, len, "event_type", &type) || type.kind != EV_STR)
		return 0;
	if (s->keep_tables && ((type.strlen == 12 && !memcmp(type.str, "sinkhole_map", 12)) ||
	                       (type.strlen == 4 && !memcmp(type.str, "flow", 4)) ||
	                       (type.strlen == 12 && !memcmp(type.str, "pcap_expired", 12))))
		return 1;
	int have_action = (s->need_action || s->keep_tables) &&
	                  ev_find(rec, len, "sinkhole.action", &action) &&
	                  action.kind == EV_STR;
	/* a sinkholed answer keeps its address's last_seen in the map */
	if (s->keep_tables && have_action && type.strlen == 3 && !memcmp(type.str, "dns", 3) &&
	    action.strlen == 8 && !memcmp(action.str, "sinkhole", 8))
		return 1;
	return sinkspec_types_match(&s->types, type.str, type.strlen,
	                            have_action ? action.str : NULL,
	                            have_action ? action.strlen : 0);
}

void sink_put(struct sink *s, const uint8_t *rec, size_t len)
{
	queue_append(s->q, rec, len);
}
void sink_flush(struct sink *s)
{
	queue_flush(s->q);
}

void sink_sync(struct sink *s)
{
	int r = queue_sync(s->q);
	if (r < 0)
		log_warnx("%s: queue sync: %s", s->name, strerror(-r));
}

uint64_t sink_drops_take(struct sink *s, uint64_t *damaged)
{
	return queue_drops_take(s->q, damaged);
}

void sink_get_status(struct sink *s, struct sink_status *st)
{
	struct queue_stats qs;
	memset(st, 0, sizeof(*st));
	queue_get_stats(s->q, &qs);
	snprintf(st->name, sizeof(st->name), "%s", s->name);
	snprintf(st->kind, sizeof(st->kind), "%s", s->ops->kind);
	snprintf(st->dest, sizeof(st->dest), "%s", s->dest);
	snprintf(st->format, sizeof(st->format), "%s", s->format);
	st->delivered = qs.delivered;
	st->queued = qs.queued;
	st->dropped = qs.dropped;
	st->queue_bytes = qs.bytes;
	pthread_mutex_lock(&s->mu);
	st->connected = s->connected;
	snprintf(st->last_error, sizeof(st->last_error), "%s", s->last_error);
	st->reconnects = s->reconnects;
	st->last_delivery = s->last_delivery;
	pthread_mutex_unlock(&s->mu);
}

static void set_state(struct sink *s, int connected, const char *err)
{
	pthread_mutex_lock(&s->mu);
	if (connected && !s->connected)
		s->reconnects++;
	s->connected = connected;
	if (err)
		snprintf(s->last_error, sizeof(s->last_error), "%s", err);
	pthread_mutex_unlock(&s->mu);
}

/* ---------------------------------------------------------------- the window */

static void pend_push(struct sink *s, const struct queue_span *sp, int64_t now)
{
	if (s->pend_head > 0 && s->pend_head == s->npend) {
		s->pend_head = s->npend = 0;
	}
	if (s->npend == s->cappend) {
		if (s->pend_head > 0) {
			memmove(s->pend, s->pend + s->pend_head,
			        (s->npend - s->pend_head) * sizeof(*s->pend));
			s->npend -= s->pend_head;
			s->pend_head = 0;
		}
		if (s->npend == s->cappend) {
			s->cappend = s->cappend ? s->cappend * 2 : 256;
			s->pend = xreallocarray(s->pend, s->cappend, sizeof(*s->pend));
		}
	}
	s->pend[s->npend++] = (struct pending){*sp, now, s->bytes_sent};
}

/*
 * Acknowledge the held batches that the peer's TCP has acknowledged and that
 * are older than the resend window.
 */
static void confirm(struct sink *s, int64_t now)
{
	if (s->pend_head == s->npend)
		return;
	uint64_t unacked = s->ops->unacked ? s->ops->unacked(s) : 0;
	uint64_t acked_upto =
	    s->bytes_sent - (unacked < s->bytes_sent ? unacked : s->bytes_sent);
	int any = 0;
	while (s->pend_head < s->npend) {
		struct pending *p = &s->pend[s->pend_head];
		if (p->bytes_mark > acked_upto || now - p->t_ms < s->resend_ms)
			break;
		queue_ack(s->q, &p->span);
		s->pend_head++;
		any = 1;
	}
	if (any) {
		s->backoff = 0; /* delivered: the peer works */
		pthread_mutex_lock(&s->mu);
		s->last_delivery = time_now_usec();
		pthread_mutex_unlock(&s->mu);
	}
}

/* Log a problem when it is new, or again after a minute (a dead SIEM must not flood the log).
 */
static void say(struct sink *s, const char *what, const char *tail)
{
	int64_t now = mono_ms();
	if (strcmp(s->logged, what) == 0 && now - s->logged_ms < 60000)
		return;
	snprintf(s->logged, sizeof(s->logged), "%s", what);
	s->logged_ms = now;
	log_warnx("%s: %s%s", s->name, what, tail);
}

static void broken(struct sink *s, const char *why)
{
	say(s, why, "; events are kept in the queue");
	s->ops->disconnect(s);
	s->npend = s->pend_head = 0;
	queue_rewind(s->q);
	set_state(s, 0, why);
}

/* Exponential back-off between connection attempts: 250 ms doubling up to 10 s. */
static int64_t next_backoff(struct sink *s)
{
	s->backoff = s->backoff ? s->backoff * 2 : BACKOFF_MIN_MS;
	if (s->backoff > BACKOFF_MAX_MS)
		s->backoff = BACKOFF_MAX_MS;
	return s->backoff;
}

/* Wait for the queue, the stop signal (until it came: it stays readable), or the idle
 * descriptor. */
static int wait_for(struct sink *s, int ms, int idle_fd)
{
	struct pollfd pf[3] = {{stopping(s) ? -1 : s->wake_fd, POLLIN, 0},
	                       {queue_event_fd(s->q), POLLIN, 0},
	                       {idle_fd, POLLIN, 0}};
	int n = poll(pf, idle_fd >= 0 ? 3 : 2, ms);
	if (n <= 0)
		return 0;
	if (pf[1].revents)
		queue_event_clear(s->q);
	return idle_fd >= 0 && pf[2].revents ? 1 : 0;
}

static void *sink_thread(void *arg)
{
	struct sink *s = arg;
	struct queue_batch b;
	char err[256];
	int connected = 0;
	int64_t next_try = 0, last_save = 0;

	memset(&b, 0, sizeof(b));
	for (;;) {
		int64_t now = mono_ms();
		int stop = stopping(s);
		if (stop &&
		    (!connected || now >= __atomic_load_n(&s->stop_at, __ATOMIC_SEQ_CST)))
			break;
		if (now - last_save >= SAVE_EVERY_MS) {
			queue_save_cursor(s->q);
			last_save = now;
		}
		if (!connected) {
			if (now < next_try) {
				wait_for(s, (int)(next_try - now), -1);
				continue;
			}
			err[0] = '\0';
			if (s->ops->connect(s, err, sizeof(err)) < 0) {
				if (stopping(s))
					break; /* the attempt was cut by the stop */
				next_try = now + next_backoff(s);
				say(s, err, "; retrying with back-off");
				set_state(s, 0, err);
				continue;
			}
			if (s->reconnects == 0 || s->logged[0])
				log_info("%s: connected to %s", s->name, s->dest);
			s->logged[0] = '\0';
			connected = 1;
			s->bytes_sent = 0;
			s->npend = s->pend_head = 0;
			queue_rewind(s->q);
			set_state(s, 1, NULL);
			continue; /* a stop asked meanwhile is seen first */
		}
		if (s->ops->windowed)
			confirm(s, now);
		if (queue_read(s->q, &b, s->batch_bytes)) {
			/* Only damaged records, skipped: nothing to send, acknowledged in
			 * order. */
			if (b.span.n > 0 && s->ops->send(s, &b, err, sizeof(err)) < 0) {
				broken(s, err);
				connected = 0;
				next_try = mono_ms() + next_backoff(s);
				continue;
			}
			if (s->ops->windowed) {
				pend_push(s, &b.span, mono_ms());
			} else {
				queue_ack(s->q, &b.span);
				s->backoff = 0;
				pthread_mutex_lock(&s->mu);
				s->last_delivery = time_now_usec();
				pthread_mutex_unlock(&s->mu);
			}
			continue;
		}
		if (stop) {
			/* Everything is written: wait for the peer to take it, and for the
			 * resend window, as at any other time, then stop; what the grace
			 * does not see through stays queued and is sent again at the next
			 * start. The connection is watched meanwhile: a receiver that dies
			 * within the window (its reset, its EOF) leaves what it held
			 * queued. */
			confirm(s, now);
			if (s->pend_head == s->npend)
				break;
		}
		int fd = s->ops->idle_fd ? s->ops->idle_fd(s) : -1;
		if (wait_for(s, stop ? 10 : IDLE_WAIT_MS, fd) &&
		    s->ops->idle_check(s, err, sizeof(err)) < 0) {
			broken(s, err);
			connected = 0;
			next_try = mono_ms() + next_backoff(s);
		}
	}
	if (connected)
		s->ops->disconnect(s);
	queue_save_cursor(s->q);
	queue_batch_free(&b);
	return NULL;
}

/* The thread of a sink stopped earlier has ended: free it (its queue lives on when lent). */
static int reap(struct sink **sp)
{
	struct sink *s = *sp;
	if (s->prev && reap(&s->prev) < 0)
		return -1;
	if (s->started) {
		if (pthread_tryjoin_np(s->thread, NULL) != 0)
			return -1;
		s->started = 0;
	}
	if (!s->queue_lent)
		queue_close(&s->q);
	if (s->ops->free)
		s->ops->free(s);
	close(s->wake_fd);
	pthread_mutex_destroy(&s->mu);
	sinkspec_types_free(&s->types);
	free(s->pend);
	free(s->name);
	free(s);
	*sp = NULL;
	return 0;
}

int sink_start(struct sink *s)
{
	if (s->started)
		return 0;
	if (s->prev) {
		/* The old thread reads the queue until it ends. */
		if (reap(&s->prev) < 0)
			return 1;
		log_info("%s: the old delivery thread has ended: delivering", s->name);
	}
	int r = pthread_create(&s->thread, NULL, sink_thread, s);
	if (r != 0)
		return -r;
	s->started = 1;
	char comm[16]; /* "top -H" shows which sink a thread delivers */
	snprintf(comm, sizeof(comm), "sink:%s", s->name);
	pthread_setname_np(s->thread, comm);
	return 0;
}

int sink_waiting(const struct sink *s)
{
	return s->prev != NULL;
}

void sink_request_stop(struct sink *s, int grace_ms)
{
	uint64_t one = 1;
	if (s->prev)
		sink_request_stop(s->prev, grace_ms);
	if (!s->started || stopping(s))
		return;
	__atomic_store_n(&s->stop_at, mono_ms() + grace_ms, __ATOMIC_SEQ_CST);
	__atomic_store_n(&s->stopping, 1, __ATOMIC_SEQ_CST);
	if (write(s->wake_fd, &one, sizeof(one)) < 0)
		log_warn("%s: wake", s->name);
}

int sink_join(struct sink *s, int timeout_ms)
{
	if (s->prev && sink_join(s->prev, timeout_ms) < 0)
		return -1;
	if (!s->started)
		return 0;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	if (pthread_timedjoin_np(s->thread, NULL, &ts) != 0) {
		log_warnx("%s: the delivery thread does not stop (a hung peer?); it is "
		          "kept until it does",
		          s->name);
		return -1;
	}
	s->started = 0;
	return 0;
}

int sink_free(struct sink **sp)
{
	if (*sp == NULL)
		return 0;
	return reap(sp);
}

int sink_stop(struct sink **sp, int grace_ms)
{
	struct sink *s = *sp;
	if (s == NULL)
		return 0;
	sink_request_stop(s, grace_ms);
	if (sink_join(s, grace_ms + 5000) < 0)
		return -1; /* still in use by a thread: kept */
	return reap(sp);
}

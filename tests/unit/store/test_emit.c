/*
 * The emitter's flow control, as the store's producers see it: past the hold
 * bound the producer is told to wait, the room callback comes once the store
 * has taken most of the backlog, a store that takes nothing (its disk) is not
 * waited for, no hold lasts longer than its time bound, and no record is lost
 * or reordered on the way.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/emit.h"
#include "common/ipc.h"
#include "common/util.h"

static int rooms;

static void on_room(void *arg)
{
	(void)arg;
	rooms++;
}

/* One record carrying its sequence number. */
static void put(struct emitter *e, int64_t n)
{
	struct evbuf *b = emit_buf(e);
	ev_begin(b, "dns", 0);
	ev_obj(b, "dns");
	ev_int(b, "seq", n);
	ev_str(b, "rrname", "c2.botnet.example.with.some.length.to.it");
	ev_close(b);
	emit_commit(e);
}

/* Take every waiting message; check the sequence continues at *next. */
static size_t take(int fd, int64_t *next)
{
	static struct ipc_msg m;
	size_t bytes = 0;
	while (ipc_recv(fd, &m) == 1) {
		assert_int_equal(m.hdr.type, IPC_EVENTS);
		size_t off = 0;
		while (off < m.hdr.len) {
			long rl = ev_record_check(m.data + off, m.hdr.len - off);
			assert_true(rl > 0);
			struct ev_field f;
			assert_true(ev_find(m.data + off, (size_t)rl, "dns.seq", &f));
			assert_int_equal(f.i, *next);
			(*next)++;
			off += (size_t)rl;
		}
		bytes += m.hdr.len;
	}
	return bytes;
}

/* An emitter whose store channel is one end of a non-blocking pair; the test
 * reads the other end as the store would. */
static void emitter_on_pair(struct emitter *e, int sv[2])
{
	assert_int_equal(ipc_pair(sv), 0);
	fd_nonblock(sv[0]);
	fd_nonblock(sv[1]);
	emit_init(e, NULL, sv[0], "dns");
}

static void test_hold_and_room(void **state)
{
	(void)state;
	int sv[2];
	struct emitter e;
	emitter_on_pair(&e, sv);
	emit_set_hold(&e, 256 * 1024, on_room, NULL);
	rooms = 0;

	/* Nobody reads: the socket fills, then the backlog reaches the bound. */
	int64_t n = 0;
	while (!emit_hold(&e)) {
		put(&e, n++);
		emit_soon(&e);
		assert_true(n < 1000000);
	}
	assert_true(e.buf.len - e.sent >= 256 * 1024);
	assert_int_equal(emit_hold(&e), 1); /* still holding: no new input */
	assert_int_equal(rooms, 0);
	assert_int_equal(e.dropped, 0);

	/* The store takes messages; each time the channel has room the emitter sends. */
	int64_t next = 0;
	for (int i = 0; i < 10000 && rooms == 0; i++) {
		take(sv[1], &next);
		emit_flush(&e);
	}
	assert_int_equal(rooms, 1);
	assert_int_equal(emit_hold(&e), 0);
	assert_true(e.buf.len - e.sent <= 64 * 1024);

	/* Everything arrives, in order, once drained. */
	emit_drain(&e);
	take(sv[1], &next);
	assert_int_equal(next, n);
	assert_int_equal(e.dropped, 0);
	emit_free(&e);
	close(sv[0]);
	close(sv[1]);
}

/* Let the store take everything still pending (within rounds), then check
 * that every record up to n arrived, in order. */
static void take_all(struct emitter *e, int fd, int64_t *next, int64_t n, int rounds)
{
	for (int i = 0; i < rounds && e->sent < e->buf.start; i++) {
		take(fd, next);
		emit_flush(e);
	}
	take(fd, next);
	assert_int_equal(*next, n);
}

/* Fill the channel and the backlog until the producer is told to hold. */
static int64_t fill(struct emitter *e, int64_t n)
{
	while (!emit_hold(e)) {
		put(e, n++);
		assert_true(n < 2000000);
	}
	return n;
}

static void test_idle_store_lets_go(void **state)
{
	(void)state;
	int sv[2];
	struct emitter e;
	emitter_on_pair(&e, sv);
	emit_set_hold(&e, 128 * 1024, on_room, NULL);
	int64_t n = fill(&e, 0);
	rooms = 0;
	/* Just held: the producer waits... */
	emit_hold_check(&e);
	assert_int_equal(rooms, 0);
	/* ...but the store takes nothing (its disk): go on for half a bound more. */
	usleep((EMIT_IDLE_MS + 10) * 1000);
	emit_hold_check(&e);
	assert_int_equal(rooms, 1);
	size_t before = e.buf.len - e.sent;
	assert_int_equal(emit_hold(&e), 0);
	n = fill(&e, n);
	size_t grown = e.buf.len - e.sent - before;
	assert_true(grown >= 64 * 1024 && grown < 64 * 1024 + 1024);
	assert_int_equal(e.dropped, 0);
	/* Once caught up, the normal bound holds again; nothing lost or reordered. */
	int64_t next = 0;
	for (int i = 0; i < 100000 && rooms < 2; i++) {
		take(sv[1], &next);
		emit_flush(&e);
	}
	assert_int_equal(rooms, 2);
	n = fill(&e, n);
	assert_true(e.buf.len - e.sent < 128 * 1024 + 1024);
	take_all(&e, sv[1], &next, n, 100000);
	emit_free(&e);
	close(sv[0]);
	close(sv[1]);
}

static void test_hold_time_bounded(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(ipc_pair(sv), 0);
	/* A narrow channel: the store takes one message at a time. */
	int small = 64 * 1024;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUFFORCE, &small, sizeof(small));
	fd_nonblock(sv[0]);
	fd_nonblock(sv[1]);
	struct emitter e;
	emit_init(&e, NULL, sv[0], "dns");
	emit_set_hold(&e, 16u << 20, on_room, NULL);
	int64_t n = fill(&e, 0);
	rooms = 0;
	/* The store keeps taking, slowly: the hold ends by its time bound, before the room. */
	int64_t t0 = mono_ms(), next = 0;
	while (rooms == 0 && mono_ms() - t0 < 5000) {
		assert_true(take(sv[1], &next) > 0 || mono_ms() - t0 < 100);
		emit_flush(&e);
		emit_hold_check(&e);
		usleep(5000);
	}
	int64_t held = mono_ms() - t0;
	assert_int_equal(rooms, 1);
	assert_true(held < EMIT_HOLD_MAX_MS + 300);
	assert_true(e.buf.len - e.sent > (4u << 20)); /* not released for room */
	take_all(&e, sv[1], &next, n, 1000000);
	assert_int_equal(e.dropped, 0);
	emit_free(&e);
	close(sv[0]);
	close(sv[1]);
}

static void test_stuck_store_not_waited_for(void **state)
{
	(void)state;
	int sv[2];
	struct emitter e;
	emitter_on_pair(&e, sv);
	emit_set_hold(&e, 128 * 1024, on_room, NULL);
	int64_t n = fill(&e, 0);
	rooms = 0;
	/* The store takes nothing for EMIT_STUCK_MS: no holding at all meanwhile. */
	usleep((EMIT_STUCK_MS + 30) * 1000);
	emit_hold_check(&e);
	assert_int_equal(rooms, 1);
	for (int i = 0; i < 20000; i++) {
		assert_int_equal(emit_hold(&e), 0);
		put(&e, n++);
	}
	assert_int_equal(e.dropped, 0);
	/* It takes again: holding works again, and every record arrives in order. */
	int64_t next = 0;
	take(sv[1], &next);
	emit_flush(&e);
	n = fill(&e, n);
	take_all(&e, sv[1], &next, n, 100000);
	emit_free(&e);
	close(sv[0]);
	close(sv[1]);
}

static void test_no_hold_without_channel(void **state)
{
	(void)state;
	struct emitter e;
	emit_init(&e, NULL, -1, "dns");
	emit_set_hold(&e, 1024, on_room, NULL);
	for (int i = 0; i < 1000; i++)
		put(&e, i);
	/* No store (yet): records are kept up to the bound, the producer goes on. */
	assert_int_equal(emit_hold(&e), 0);
	assert_int_equal(e.dropped, 0);
	emit_free(&e);
}

static void test_backlog_memory_given_back(void **state)
{
	(void)state;
	int sv[2];
	struct emitter e;
	emitter_on_pair(&e, sv);
	/* The store takes nothing: the backlog grows past what is kept afterwards. */
	int64_t n = 0;
	while (e.buf.len < 3 * EMIT_KEEP_BYTES) {
		put(&e, n++);
		emit_soon(&e);
	}
	assert_true(e.buf.cap >= 3 * EMIT_KEEP_BYTES);
	assert_int_equal(e.dropped, 0);
	/* It takes everything: every record arrives in order, the memory is given back. */
	int64_t next = 0;
	take_all(&e, sv[1], &next, n, 1000000);
	assert_true(e.buf.cap <= EMIT_KEEP_BYTES);
	/* and the buffer still works */
	for (int i = 0; i < 1000; i++)
		put(&e, n++);
	emit_flush(&e);
	take_all(&e, sv[1], &next, n, 1000);
	emit_free(&e);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hold_and_room),
	    cmocka_unit_test(test_idle_store_lets_go),
	    cmocka_unit_test(test_hold_time_bounded),
	    cmocka_unit_test(test_stuck_store_not_waited_for),
	    cmocka_unit_test(test_no_hold_without_channel),
	    cmocka_unit_test(test_backlog_memory_given_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

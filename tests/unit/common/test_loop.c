/*
 * The event loop: an event already in the batch for a descriptor that a
 * callback closed and whose number was registered again goes nowhere, not to
 * the new registration; timers fire once or on repeat; a paused descriptor is
 * watched again after its pause, unless its registration ended meanwhile
 * (the number closed and given to another descriptor is not re-armed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common/loop.h"

struct ctx {
	struct loop *l;
	int a[2], b[2];
	int first_calls, stale_calls, replaced, keep_writer;
};

static void on_new(int fd, uint32_t events, void *arg)
{
	struct ctx *c = arg;
	(void)fd;
	(void)events;
	c->stale_calls++;
}

/* Whichever of the two pipes comes first replaces the other under its number. */
static void on_first(int fd, uint32_t events, void *arg)
{
	struct ctx *c = arg;
	(void)events;
	c->first_calls++;
	if (c->replaced) {
		loop_break(c->l);
		return;
	}
	int other = fd == c->a[0] ? c->b[0] : c->a[0];
	loop_io_del(c->l, other);
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(dup2(p[0], other), other); /* the same number, another pipe */
	close(p[0]);
	c->keep_writer = p[1]; /* open: no hang-up to report */
	/* Watched for output only, which a pipe's read end never has: any call is
	 * the event of the descriptor this number belonged to. */
	assert_int_equal(loop_io_add(c->l, other, EPOLLOUT, on_new, c), 0);
	c->replaced = 1;
	/* the rest of this batch is dispatched; the next call ends the run */
}

static void test_stale_event_after_reuse(void **state)
{
	(void)state;
	struct ctx c = {0};
	c.l = loop_new();
	assert_int_equal(pipe(c.a), 0);
	assert_int_equal(pipe(c.b), 0);
	assert_int_equal(write(c.a[1], "x", 1), 1);
	assert_int_equal(write(c.b[1], "y", 1), 1);
	assert_int_equal(loop_io_add(c.l, c.a[0], EPOLLIN, on_first, &c), 0);
	assert_int_equal(loop_io_add(c.l, c.b[0], EPOLLIN, on_first, &c), 0);
	loop_run(c.l);
	assert_int_equal(c.first_calls, 2);
	assert_int_equal(c.stale_calls, 0);
	loop_free(&c.l);
	close(c.keep_writer);
	close(c.a[0]);
	close(c.a[1]);
	close(c.b[0]);
	close(c.b[1]);
}

static int fired_once, fired_repeat;

static void once(void *arg)
{
	(void)arg;
	fired_once++;
}

static void repeat(void *arg)
{
	struct loop *l = arg;
	if (++fired_repeat == 3)
		loop_break(l);
}

static void test_timers(void **state)
{
	(void)state;
	struct loop *l = loop_new();
	loop_timer_add(l, 1, 0, once, NULL);
	loop_timer_add(l, 5, 1, repeat, l);
	loop_run(l);
	assert_int_equal(fired_once, 1);
	assert_int_equal(fired_repeat, 3);
	loop_free(&l);
}

/* ---- loop_io_pause ---- */

struct pause_ctx {
	struct loop *l;
	int calls;
	int64_t first, second;
	int new_calls;
	uint32_t new_events;
};

static void on_readable(int fd, uint32_t events, void *arg)
{
	struct pause_ctx *c = arg;
	(void)fd;
	(void)events;
	if (++c->calls == 1) {
		c->first = loop_now(c->l);
		loop_io_pause(c->l, fd, EPOLLIN, 60);
	} else {
		c->second = loop_now(c->l);
		loop_break(c->l);
	}
}

/* Still readable, the descriptor is not reported during its pause, and is
 * again after it. */
static void test_pause_resumes(void **state)
{
	(void)state;
	struct pause_ctx c = {0};
	int p[2];
	c.l = loop_new();
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(loop_io_add(c.l, p[0], EPOLLIN, on_readable, &c), 0);
	loop_run(c.l);
	assert_int_equal(c.calls, 2);
	assert_true(c.second - c.first >= 50);
	loop_free(&c.l);
	close(p[0]);
	close(p[1]);
}

static void on_reused(int fd, uint32_t events, void *arg)
{
	struct pause_ctx *c = arg;
	(void)fd;
	c->new_calls++;
	c->new_events |= events;
	loop_break(c->l); /* level-triggered: once is enough to tell */
}

static void on_end(void *arg)
{
	loop_break(arg);
}

/*
 * A descriptor paused, closed and its number given to a readable pipe that is
 * watched for output only (which a pipe's read end never has): when the pause
 * would have ended, nothing re-arms the number for input, and the new
 * registration's callback never runs. With del: its registration removed
 * first; without: closed, and the number registered again.
 */
static void pause_then_reuse(int with_del)
{
	struct pause_ctx c = {0};
	int a[2], b[2];
	c.l = loop_new();
	assert_int_equal(pipe(a), 0);
	assert_int_equal(write(a[1], "x", 1), 1);
	assert_int_equal(loop_io_add(c.l, a[0], EPOLLIN, on_readable, &c), 0);
	loop_io_pause(c.l, a[0], EPOLLIN, 20);
	if (with_del)
		loop_io_del(c.l, a[0]);
	close(a[0]);

	assert_int_equal(pipe(b), 0);
	assert_int_equal(write(b[1], "y", 1), 1);
	if (b[0] != a[0]) { /* the same number, another pipe */
		assert_int_equal(dup2(b[0], a[0]), a[0]);
		close(b[0]);
	}
	assert_int_equal(loop_io_add(c.l, a[0], EPOLLOUT, on_reused, &c), 0);
	loop_timer_add(c.l, 150, 0, on_end, c.l);
	loop_run(c.l);
	assert_int_equal(c.calls, 0);
	assert_int_equal(c.new_calls, 0);
	assert_int_equal(c.new_events, 0);
	loop_free(&c.l);
	close(a[0]);
	close(a[1]);
	close(b[1]);
}

static void test_pause_cancelled_by_del(void **state)
{
	(void)state;
	pause_then_reuse(1);
}

static void test_pause_cancelled_by_reuse(void **state)
{
	(void)state;
	pause_then_reuse(0);
}

/* Explicitly watched for nothing during a pause: the pause does not undo it. */
static void test_pause_cancelled_by_mod(void **state)
{
	(void)state;
	struct pause_ctx c = {0};
	int p[2];
	c.l = loop_new();
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(loop_io_add(c.l, p[0], EPOLLIN, on_reused, &c), 0);
	loop_io_pause(c.l, p[0], EPOLLIN, 20);
	assert_int_equal(loop_io_mod(c.l, p[0], 0), 0);
	loop_timer_add(c.l, 150, 0, on_end, c.l);
	loop_run(c.l);
	assert_int_equal(c.new_calls, 0);
	loop_free(&c.l);
	close(p[0]);
	close(p[1]);
}

/* A loop freed during a pause frees the pause too (the sanitizer build sees a
 * leak otherwise). */
static void test_pause_then_free(void **state)
{
	(void)state;
	struct pause_ctx c = {0};
	int p[2];
	c.l = loop_new();
	assert_int_equal(pipe(p), 0);
	assert_int_equal(loop_io_add(c.l, p[0], EPOLLIN, on_readable, &c), 0);
	loop_io_pause(c.l, p[0], EPOLLIN, 1000);
	loop_free(&c.l);
	assert_null(c.l);
	close(p[0]);
	close(p[1]);
}

/* Only a registered descriptor can be paused. */
static void test_pause_unregistered(void **state)
{
	(void)state;
	struct loop *l = loop_new();
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(loop_io_pause(l, p[0], EPOLLIN, 10), -EBADF);
	assert_int_equal(loop_io_pause(l, -1, EPOLLIN, 10), -EBADF);
	assert_int_equal(loop_io_add(l, p[0], EPOLLIN, on_readable, NULL), 0);
	assert_int_equal(loop_io_pause(l, p[0], EPOLLIN, 10), 0);
	assert_int_equal(loop_io_pause(l, p[0], EPOLLIN, 10), 0); /* replaces the first */
	loop_free(&l);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_stale_event_after_reuse),
	                                   cmocka_unit_test(test_timers),
	                                   cmocka_unit_test(test_pause_resumes),
	                                   cmocka_unit_test(test_pause_cancelled_by_del),
	                                   cmocka_unit_test(test_pause_cancelled_by_reuse),
	                                   cmocka_unit_test(test_pause_cancelled_by_mod),
	                                   cmocka_unit_test(test_pause_then_free),
	                                   cmocka_unit_test(test_pause_unregistered)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

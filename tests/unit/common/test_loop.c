/*
 * The event loop: an event already in the batch for a descriptor that a
 * callback closed and whose number was registered again goes nowhere, not to
 * the new registration; timers fire once or on repeat.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_stale_event_after_reuse),
	                                   cmocka_unit_test(test_timers)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

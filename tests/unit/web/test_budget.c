/*
 * The web worker's memory budget for answers built in memory: what is
 * counted, when an answer is refused, what is given back; and many threads
 * counting at once never lose a byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "web/web_int.h"

#define MiB (1024 * 1024)

static void test_small_answers_are_not_counted(void **state)
{
	(void)state;
	struct web_budget b;
	web_budget_init(&b, 1 * MiB);
	size_t a = 0, c = 0;
	assert_int_equal(web_budget_grow(&b, &a, 1 * MiB), 0); /* alone: taken */
	assert_int_equal(web_budget_held(&b, NULL), 1 * MiB);
	/* Past the limit, an answer of at most WEB_ANSWER_SMALL still goes out. */
	assert_int_equal(web_budget_grow(&b, &c, WEB_ANSWER_SMALL), 0);
	assert_int_equal(c, 0);
	assert_int_equal(web_budget_grow(&b, &c, WEB_ANSWER_SMALL + 1), -1);
	assert_int_equal(c, 0);
	web_budget_release(&b, &a);
	web_budget_release(&b, &c);
	assert_int_equal(web_budget_held(&b, NULL), 0);
}

static void test_refused_past_the_limit(void **state)
{
	(void)state;
	struct web_budget b;
	web_budget_init(&b, 10 * MiB);
	size_t a = 0, c = 0, d = 0;
	uint64_t refused;
	assert_int_equal(web_budget_grow(&b, &a, 4 * MiB), 0);
	assert_int_equal(web_budget_grow(&b, &c, 4 * MiB), 0);
	/* Growing counts the difference only; a smaller size changes nothing. */
	assert_int_equal(web_budget_grow(&b, &a, 6 * MiB), 0);
	assert_int_equal(web_budget_grow(&b, &a, 2 * MiB), 0);
	assert_int_equal(a, 6 * MiB);
	assert_int_equal(web_budget_held(&b, NULL), 10 * MiB);
	/* Full: whoever grows is refused, and keeps what it had counted. */
	assert_int_equal(web_budget_grow(&b, &d, 1 * MiB), -1);
	assert_int_equal(d, 0);
	assert_int_equal(web_budget_grow(&b, &c, 5 * MiB), -1);
	assert_int_equal(c, 4 * MiB);
	assert_int_equal(web_budget_held(&b, &refused), 10 * MiB);
	assert_int_equal(refused, 2);
	/* What a finished request gives back is there for the next. */
	web_budget_release(&b, &a);
	assert_int_equal(a, 0);
	assert_int_equal(web_budget_grow(&b, &d, 6 * MiB), 0);
	assert_int_equal(web_budget_held(&b, NULL), 10 * MiB);
	web_budget_release(&b, &c);
	web_budget_release(&b, &d);
	web_budget_release(&b, &d); /* twice: nothing more */
	assert_int_equal(web_budget_held(&b, NULL), 0);
}

static void test_one_answer_alone_may_pass(void **state)
{
	(void)state;
	struct web_budget b;
	web_budget_init(&b, 2 * MiB);
	size_t a = 0, c = 0;
	/* Nothing else held: a large page is answered, not refused for ever. */
	assert_int_equal(web_budget_grow(&b, &a, 8 * MiB), 0);
	assert_int_equal(web_budget_grow(&b, &a, 16 * MiB), 0);
	/* While it is held, no other answer grows past the limit. */
	assert_int_equal(web_budget_grow(&b, &c, 1 * MiB), -1);
	web_budget_release(&b, &a);
	assert_int_equal(web_budget_grow(&b, &c, 1 * MiB), 0);
	web_budget_release(&b, &c);
}

static void test_no_limit(void **state)
{
	(void)state;
	struct web_budget b;
	web_budget_init(&b, 0);
	size_t a = 0, c = 0;
	assert_int_equal(web_budget_grow(&b, &a, 100 * MiB), 0);
	assert_int_equal(web_budget_grow(&b, &c, 100 * MiB), 0);
	assert_int_equal(web_budget_held(&b, NULL), 200 * MiB);
	web_budget_release(&b, &a);
	web_budget_release(&b, &c);
	assert_int_equal(web_budget_held(&b, NULL), 0);
}

static void test_say_at_most_every_10s(void **state)
{
	(void)state;
	struct web_budget b;
	web_budget_init(&b, MiB);
	assert_int_equal(web_budget_say(&b, 1000), 1);
	assert_int_equal(web_budget_say(&b, 5000), 0);
	assert_int_equal(web_budget_say(&b, 10999), 0);
	assert_int_equal(web_budget_say(&b, 11000), 1);
}

struct worker {
	struct web_budget *b;
	int taken, refused, over;
};

static void *churn(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < 20000; i++) {
		size_t mine = 0;
		size_t steps[3] = {100 * 1024, 300 * 1024, 1 * MiB};
		int ok = 1;
		for (int k = 0; k < 3 && ok; k++) {
			ok = web_budget_grow(w->b, &mine, steps[k]) == 0;
			/* No answer here passes the limit alone: the total never does. */
			if (web_budget_held(w->b, NULL) > w->b->max)
				w->over++;
		}
		if (ok)
			w->taken++;
		else
			w->refused++;
		web_budget_release(w->b, &mine);
	}
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	struct web_budget b;
	web_budget_init(&b, 4 * MiB);
	pthread_t t[8];
	struct worker w[8];
	for (int i = 0; i < 8; i++) {
		w[i] = (struct worker){&b, 0, 0, 0};
		assert_int_equal(pthread_create(&t[i], NULL, churn, &w[i]), 0);
	}
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	int taken = 0, over = 0;
	for (int i = 0; i < 8; i++) {
		taken += w[i].taken;
		over += w[i].over;
	}
	assert_true(taken > 0);
	assert_int_equal(over, 0);
	assert_int_equal(web_budget_held(&b, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_small_answers_are_not_counted),
	    cmocka_unit_test(test_refused_past_the_limit),
	    cmocka_unit_test(test_one_answer_alone_may_pass),
	    cmocka_unit_test(test_no_limit),
	    cmocka_unit_test(test_say_at_most_every_10s),
	    cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

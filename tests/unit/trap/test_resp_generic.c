/*
 * Generic responder: silence, and everything that arrives (up to the bound)
 * kept as one "raw" payload. The opening is the first bytes of a PE file
 * pushed down a raw port in the honeynet attack trace.
 */
#include "test_resp_harness.h"

static const uint8_t pe_head[] = {0x4d, 0x5a, 0x90, 0x00, 0x03, 0x00, 0x00, 0x00, 0x04, 0x00,
                                  0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0xb8, 0x00, 0x00, 0x00};

static void test_records_raw(void **state)
{
	struct tr_conn c;
	tr_run_both(&c, &resp_generic, NULL, pe_head, sizeof(pe_head));
	assert_int_equal(c.act, RESP_CONTINUE);
	assert_int_equal(c.out.len, 0);
	assert_int_equal(c.npl, 1);
	assert_string_equal(c.pl[0].kind, "raw");
	assert_string_equal(c.pl[0].name, "");
	assert_int_equal(c.pl[0].len, sizeof(pe_head));
	assert_memory_equal(c.pl[0].data, pe_head, sizeof(pe_head));
	assert_int_equal(tr_int(&c, "raw.length"), sizeof(pe_head));
	struct ev_field f;
	assert_true(tr_find(&c, "raw.head", &f));
	assert_int_equal(f.strlen, sizeof(pe_head));
	tr_close(&c);
}

static void test_bound_and_timeout(void **state)
{
	struct resp_config cfg = {0};
	cfg.max_raw = 1000;
	uint8_t buf[700];
	memset(buf, 'x', sizeof(buf));
	struct tr_conn c;
	tr_open(&c, &resp_generic, &cfg);
	assert_int_equal(tr_start(&c), RESP_CONTINUE);
	assert_int_equal(tr_feed(&c, buf, sizeof(buf), 0), RESP_CONTINUE);
	/* the bound reached: nothing more to learn */
	assert_int_equal(tr_feed(&c, buf, sizeof(buf), 0), RESP_CLOSE);
	tr_render(&c);
	assert_int_equal(c.npl, 1);
	assert_int_equal(c.pl[0].len, 1000);
	assert_int_equal(c.pl[0].truncated, 1);
	assert_int_equal(tr_int(&c, "raw.length"), 1000);
	assert_int_equal(tr_int(&c, "raw.truncated"), 1);
	struct ev_field f;
	assert_true(tr_find(&c, "raw.head", &f));
	assert_int_equal(f.strlen, 256);
	/* end() is idempotent */
	c.r->end(c.st);
	assert_int_equal(c.npl, 1);
	tr_close(&c);

	/* exactly the bound is not yet past it */
	uint8_t k[1000];
	memset(k, 'k', sizeof(k));
	tr_open(&c, &resp_generic, &cfg);
	tr_start(&c);
	assert_int_equal(tr_feed(&c, k, sizeof(k), 0), RESP_CONTINUE);
	assert_int_equal(tr_feed(&c, k, 1, 0), RESP_CLOSE);
	tr_close(&c);

	tr_open(&c, &resp_generic, NULL);
	tr_start(&c);
	assert_int_equal(c.r->timeout(c.st, &c.out), RESP_CLOSE);
	tr_render(&c);
	assert_int_equal(c.npl, 0);
	assert_int_equal(tr_int(&c, "raw.length"), 0);
	assert_int_equal(tr_int(&c, "raw.truncated"), -1);
	tr_close(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_records_raw),
	    cmocka_unit_test(test_bound_and_timeout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

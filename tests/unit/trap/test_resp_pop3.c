/*
 * POP3 responder: the dialogue recorded from Python's poplib (3.11) against
 * the responder on a loopback listener, and RFC 1939/2449/5034 exchanges
 * for the rest. Each runs whole and one byte at a time.
 */
#include "test_resp_harness.h"
#include "test_resp_budget.h"

/* poplib: capa, user, pass_, stat, list, uidl, retr(1), quit */
static const char tx_poplib[] = "CAPA\r\n"
                                "USER alice@example.com\r\n"
                                "PASS hunter2\r\n"
                                "STAT\r\n"
                                "LIST\r\n"
                                "UIDL\r\n"
                                "RETR 1\r\n"
                                "QUIT\r\n";

static void test_poplib(void **state)
{
	struct tr_conn c;
	tr_run_both(&c, &resp_pop3, NULL, tx_poplib, strlen(tx_poplib));
	assert_int_equal(c.act, RESP_CLOSE);
	assert_string_equal(tr_out(&c),
	                    "+OK Dovecot ready.\r\n"
	                    "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\n"
	                    "AUTH-RESP-CODE\r\nUSER\r\nSASL PLAIN LOGIN\r\n.\r\n"
	                    "+OK\r\n"
	                    "+OK Logged in.\r\n"
	                    "+OK 0 0\r\n"
	                    "+OK 0 messages:\r\n.\r\n"
	                    "+OK\r\n.\r\n"
	                    "-ERR There's no message 1.\r\n"
	                    "+OK Logging out.\r\n");
	assert_string_equal(tr_str(&c, "credentials.username"), "alice@example.com");
	assert_string_equal(tr_str(&c, "credentials.password"), "hunter2");
	assert_string_equal(tr_str(&c, "credentials.method"), "USER/PASS");
	assert_int_equal(tr_count(&c, "pop3.command"), 8);
	assert_string_equal(tr_elem(&c, "pop3.command", 6, NULL), "RETR 1");
	tr_close(&c);
}

static const struct {
	const char *tx;
	const char *reply; /* after the banner */
	const char *user, *pass, *method;
} cases[] = {
    {"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n", "+OK Logged in.\r\n", "mrose",
     "c4c9334bac560ecc979e58001b3e22fb", "APOP"},
    {"AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n", "+OK Logged in.\r\n", "bob", "secret", "PLAIN"},
    {"AUTH PLAIN\r\nAGJvYgBzZWNyZXQ=\r\n", "+ \r\n+OK Logged in.\r\n", "bob", "secret",
     "PLAIN"},
    {"AUTH LOGIN\r\nYm9i\r\nc2VjcmV0\r\n",
     "+ VXNlcm5hbWU6\r\n+ UGFzc3dvcmQ6\r\n+OK Logged in.\r\n", "bob", "secret", "LOGIN"},
    {"AUTH\r\n", "+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n", NULL, NULL, NULL},
    {"AUTH CRAM-MD5\r\n", "-ERR Unsupported authentication mechanism.\r\n", NULL, NULL, NULL},
    {"AUTH LOGIN\r\n*\r\n", "+ VXNlcm5hbWU6\r\n-ERR Authentication aborted by client.\r\n",
     NULL, NULL, NULL},
    {"PASS x\r\n", "-ERR No username given.\r\n", NULL, NULL, NULL},
    {"STAT\r\n", "-ERR Unknown command.\r\n", NULL, NULL, NULL},
    {"STLS\r\n", "-ERR Unknown command.\r\n", NULL, NULL, NULL},
    {"USER u\r\nPASS p\r\nLIST 3\r\nDELE 1\r\nRSET\r\nNOOP\r\nLAST\r\n",
     "+OK\r\n+OK Logged in.\r\n-ERR There's no message 3.\r\n-ERR There's no message 1.\r\n"
     "+OK\r\n+OK\r\n-ERR Unknown command.\r\n",
     "u", "p", "USER/PASS"},
};

static void test_cases(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tr_conn c;
		tr_run_both(&c, &resp_pop3, NULL, cases[i].tx, strlen(cases[i].tx));
		const char *o = tr_out(&c) + strlen("+OK Dovecot ready.\r\n");
		if (strcmp(o, cases[i].reply) != 0)
			fail_msg("case %zu: got\n%s", i, o);
		if (cases[i].user) {
			assert_string_equal(tr_str(&c, "credentials.username"), cases[i].user);
			assert_string_equal(tr_str(&c, "credentials.password"), cases[i].pass);
			assert_string_equal(tr_str(&c, "credentials.method"), cases[i].method);
		} else {
			assert_null(tr_str(&c, "credentials.username"));
		}
		tr_close(&c);
	}
}

static void test_stls_and_reject(void **state)
{
	struct resp_config cfg = {0};
	cfg.starttls = 1;
	cfg.login_reject = 1;
	cfg.banner = "POP3 server ready";
	struct tr_conn c;
	tr_open(&c, &resp_pop3, &cfg);
	tr_start(&c);
	assert_int_equal(tr_feeds(&c, "CAPA\r\nSTLS\r\nCAPA\r\n", 0), RESP_STARTTLS);
	assert_string_equal(tr_out(&c),
	                    "+OK POP3 server ready\r\n"
	                    "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\n"
	                    "AUTH-RESP-CODE\r\nSTLS\r\nUSER\r\nSASL PLAIN LOGIN\r\n.\r\n"
	                    "+OK Begin TLS negotiation now.\r\n");
	resp_out_consume(&c.out, c.out.len);
	tr_feeds(&c, "USER u\r\nPASS p\r\n", 1);
	assert_string_equal(tr_out(&c), "+OK\r\n-ERR [AUTH] Authentication failed.\r\n");
	tr_close(&c);
}

static void test_bad_commands_and_timeout(void **state)
{
	struct tr_conn c;
	char tx[256] = "";
	for (int i = 0; i < 12; i++)
		strcat(tx, "HELO\r\n");
	tr_run_both(&c, &resp_pop3, NULL, tx, strlen(tx));
	assert_int_equal(c.act, RESP_CLOSE);
	assert_true(tr_out_has(&c, "-ERR Unknown command.\r\n-ERR Too many bad commands.\r\n"));
	assert_int_equal(tr_count(&c, "pop3.command"), 10);
	tr_close(&c);

	tr_open(&c, &resp_pop3, NULL);
	tr_start(&c);
	assert_int_equal(tr_feeds(&c, "US", 1), RESP_NEED_MORE);
	assert_int_equal(c.r->timeout(c.st, &c.out), RESP_CLOSE);
	assert_true(tr_out_has(&c, "-ERR Disconnected for inactivity.\r\n"));
	tr_close(&c);
}

static void test_garbage(void **state)
{
	uint8_t junk[3000];
	uint32_t x = 99;
	for (int round = 0; round < 50; round++) {
		for (size_t i = 0; i < sizeof(junk); i++) {
			x = x * 1103515245 + 12345;
			uint8_t b = (uint8_t)(x >> 16);
			junk[i] = (b & 0x1f) == 0 ? '\n' : b;
		}
		struct tr_conn c;
		tr_run_both(&c, &resp_pop3, NULL, junk, sizeof(junk));
		tr_close(&c);
	}
}

/*
 * Long commands past the record budget, then a login: the commands kept are
 * the first ones, the rest counted; the credentials that follow are kept;
 * the event is not cut; the worker's memory budget counts what is kept.
 */
static void test_record_budget(void **state)
{
	char *tx = malloc(100000);
	size_t n = 0;
	for (int i = 0; i < 62; i++)
		n += (size_t)sprintf(tx + n, "CAPA %s\r\n", tr_pad('x', 600));
	n += (size_t)sprintf(tx + n, "USER mallory\r\nPASS %s\r\n", tr_pad('p', 40));
	struct tr_conn c;
	tr_run_both(&c, &resp_pop3, NULL, tx, n);
	tr_assert_budget(&c, "pop3.command", "pop3.command_count", "pop3.commands_not_kept",
	                 64);
	assert_string_equal(tr_str(&c, "credentials.username"), "mallory");
	assert_string_equal(tr_str(&c, "credentials.password"), tr_pad('p', 40));
	tr_close(&c);
	assert_int_equal(resp_mem_held(), 0);

	tr_assert_held(&resp_pop3, NULL, tx, n, (const char *const[]){"pop3.command", NULL}, 0,
	               RESP_RECORD_MAX + 4096);
	free(tx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_poplib),
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_stls_and_reject),
	    cmocka_unit_test(test_bad_commands_and_timeout),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_record_budget),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

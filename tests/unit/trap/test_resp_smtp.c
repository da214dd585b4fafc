/*
 * SMTP responder: dialogues recorded from swaks (20201014.0) against the
 * responder on a loopback listener, and hand-made ones from RFC 5321/4954
 * for the error paths. Each runs whole and one byte at a time.
 */
#include "test_resp_harness.h"
#include "test_resp_budget.h"

/* swaks --helo bot.example.org --from spam@example.org
 *   --to victim1@example.com,victim2@example.com --auth LOGIN
 *   --auth-user admin --auth-password 'S3cret!' --header 'Subject: Invoice 4711'
 *   --body (a body with lines starting with dots) */
static const char tx_swaks_login[] =
    "EHLO bot.example.org\r\n"
    "AUTH LOGIN\r\n"
    "YWRtaW4=\r\n"
    "UzNjcmV0IQ==\r\n"
    "MAIL FROM:<spam@example.org>\r\n"
    "RCPT TO:<victim1@example.com>\r\n"
    "RCPT TO:<victim2@example.com>\r\n"
    "DATA\r\n"
    "Date: Sun, 22 Nov 2026 22:03:55 +0000\r\n"
    "To: victim1@example.com,victim2@example.com\r\n"
    "From: spam@example.org\r\n"
    "Subject: Invoice 4711\r\n"
    "Message-Id: <20261122220355.018877@vm>\r\n"
    "X-Mailer: swaks v20201014.0 jetmore.org/john/code/swaks/\r\n"
    "\r\n"
    "Hello,\r\n"
    "..hidden line starting with a dot\r\n"
    "...two dots\r\n"
    "Bye\r\n"
    "\r\n"
    "\r\n"
    ".\r\n"
    "QUIT\r\n";

/* swaks --from '<>' --to root@localhost --auth PLAIN --auth-user test
 *   --auth-password test123 --pipeline */
static const char tx_swaks_plain[] =
    "EHLO bot.example.org\r\n"
    "AUTH PLAIN AHRlc3QAdGVzdDEyMw==\r\n"
    "MAIL FROM:<>\r\n"
    "RCPT TO:<root@localhost>\r\n"
    "DATA\r\n"
    "Date: Sun, 22 Nov 2026 22:03:57 +0000\r\n"
    "To: root@localhost\r\n"
    "From: \r\n"
    "Subject: =?UTF-8?B?SGVsbG8=?=\r\n"
    "Message-Id: <20261122220357.018910@vm>\r\n"
    "X-Mailer: swaks v20201014.0 jetmore.org/john/code/swaks/\r\n"
    "\r\n"
    "This is a test mailing\r\n"
    "\r\n"
    "\r\n"
    ".\r\n"
    "QUIT\r\n";

#define EHLO_REPLY                                                                             \
	"250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE "                                    \
	"10240000\r\n250-VRFY\r\n250-ETRN\r\n"                                                 \
	"250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n"          \
	"250-8BITMIME\r\n250 DSN\r\n"

static const struct resp_config host_cfg = {.hostname = "mx.example.net"};

static void run(struct tr_conn *c, const char *tx, const struct resp_config *cfg)
{
	tr_run_both(c, &resp_smtp, cfg ? cfg : &host_cfg, tx, strlen(tx));
}

static void test_swaks_login(void **state)
{
	struct tr_conn c;
	run(&c, tx_swaks_login, NULL);
	assert_int_equal(c.act, RESP_CLOSE);
	const char *o = tr_out(&c);
	static const char want_head[] =
	    "220 mx.example.net ESMTP Postfix\r\n" EHLO_REPLY "334 VXNlcm5hbWU6\r\n"
	    "334 UGFzc3dvcmQ6\r\n"
	    "235 2.7.0 Authentication successful\r\n"
	    "250 2.1.0 Ok\r\n"
	    "250 2.1.5 Ok\r\n"
	    "250 2.1.5 Ok\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n"
	    "250 2.0.0 Ok: queued as ";
	assert_memory_equal(o, want_head, strlen(want_head));
	const char *qid = o + strlen(want_head);
	assert_int_equal(strspn(qid, "0123456789ABCDEF"), 11);
	assert_string_equal(qid + 11, "\r\n221 2.0.0 Bye\r\n");

	assert_string_equal(tr_str(&c, "smtp.helo"), "bot.example.org");
	assert_string_equal(tr_str(&c, "smtp.mail_from"), "<spam@example.org>");
	assert_int_equal(tr_count(&c, "smtp.rcpt_to"), 2);
	assert_string_equal(tr_elem(&c, "smtp.rcpt_to", 1, NULL), "<victim2@example.com>");
	assert_int_equal(tr_int(&c, "smtp.messages"), 1);
	assert_string_equal(tr_str(&c, "email.subject"), "Invoice 4711");
	assert_string_equal(tr_str(&c, "email.from"), "spam@example.org");
	assert_int_equal(tr_count(&c, "email.to"), 2);
	assert_string_equal(tr_elem(&c, "email.to", 0, NULL), "victim1@example.com");
	assert_string_equal(tr_str(&c, "email.message_id"), "<20261122220355.018877@vm>");
	assert_string_equal(tr_str(&c, "email.x_mailer"),
	                    "swaks v20201014.0 jetmore.org/john/code/swaks/");
	assert_string_equal(tr_str(&c, "credentials.username"), "admin");
	assert_string_equal(tr_str(&c, "credentials.password"), "S3cret!");
	assert_string_equal(tr_str(&c, "credentials.method"), "LOGIN");
	assert_int_equal(tr_int(&c, "credentials_count"), -1);

	/* the message, dot-unstuffed, terminator removed */
	assert_int_equal(c.npl, 1);
	assert_string_equal(c.pl[0].kind, "smtp_message");
	assert_string_equal(c.pl[0].name, "message-1.eml");
	const char *m = (const char *)c.pl[0].data;
	assert_non_null(
	    strstr(m, "\r\nHello,\r\n.hidden line starting with a dot\r\n..two dots\r\n"
	              "Bye\r\n\r\n\r\n"));
	assert_int_equal(memcmp(m + c.pl[0].len - 9, "Bye\r\n\r\n\r\n", 9), 0);
	tr_close(&c);
}

static void test_swaks_plain_pipelined(void **state)
{
	struct tr_conn c;
	run(&c, tx_swaks_plain, NULL);
	assert_int_equal(c.act, RESP_CLOSE);
	assert_true(tr_out_has(&c, "\r\n250 DSN\r\n235 2.7.0 Authentication successful\r\n"
	                           "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data"));
	assert_string_equal(tr_str(&c, "credentials.username"), "test");
	assert_string_equal(tr_str(&c, "credentials.password"), "test123");
	assert_string_equal(tr_str(&c, "credentials.method"), "PLAIN");
	assert_string_equal(tr_str(&c, "smtp.mail_from"), "<>");
	assert_string_equal(tr_str(&c, "email.subject"), "=?UTF-8?B?SGVsbG8=?=");
	assert_string_equal(tr_str(&c, "email.from"), "");
	assert_int_equal(c.npl, 1);
	tr_close(&c);
}

static const struct {
	const char *tx;
	const char *reply; /* after the banner */
} dialogue[] = {
    {"MAIL FROM:<a@b>\r\n", "503 5.5.1 Error: send HELO/EHLO first\r\n"},
    {"HELO x\r\nRCPT TO:<a@b>\r\n",
     "250 mx.example.net\r\n503 5.5.1 Error: need MAIL command\r\n"},
    {"HELO x\r\nDATA\r\n", "250 mx.example.net\r\n503 5.5.1 Error: need RCPT command\r\n"},
    {"HELO x\r\nMAIL FROM:<a@b>\r\nDATA\r\n",
     "250 mx.example.net\r\n250 2.1.0 Ok\r\n554 5.5.1 Error: no valid recipients\r\n"},
    {"HELO x\r\nMAIL FROM:<a@b>\r\nMAIL FROM:<c@d>\r\n",
     "250 mx.example.net\r\n250 2.1.0 Ok\r\n503 5.5.1 Error: nested MAIL command\r\n"},
    {"HELO x\r\nMAIL TO:<a@b>\r\n",
     "250 mx.example.net\r\n501 5.5.4 Syntax: MAIL FROM:<address>\r\n"},
    {"HELO\r\n", "501 Syntax: HELO hostname\r\n"},
    {"XYZZY\r\n", "502 5.5.2 Error: command not recognized\r\n"},
    {"STARTTLS\r\n", "502 5.5.2 Error: command not recognized\r\n"},
    {"NOOP\r\nRSET\r\nVRFY root\r\n", "250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n252 2.0.0 root\r\n"},
    {"EHLO x\r\nAUTH CRAM-MD5\r\n",
     EHLO_REPLY "535 5.7.8 Error: authentication failed: Invalid authentication mechanism\r\n"},
    {"EHLO x\r\nAUTH PLAIN !!!\r\n", EHLO_REPLY "501 5.5.2 Cannot decode response\r\n"},
    {"EHLO x\r\nAUTH LOGIN\r\n*\r\n",
     EHLO_REPLY "334 VXNlcm5hbWU6\r\n501 5.7.0 Authentication aborted\r\n"},
    {"EHLO x\r\nAUTH PLAIN\r\nAGEAYg==\r\n",
     EHLO_REPLY "334 \r\n235 2.7.0 Authentication successful\r\n"},
    {"EHLO x\r\nAUTH LOGIN dXNlcg==\r\ncGFzcw==\r\nAUTH PLAIN AGEAYg==\r\n",
     EHLO_REPLY "334 UGFzc3dvcmQ6\r\n235 2.7.0 Authentication successful\r\n"
                "503 5.5.1 Error: already authenticated\r\n"},
    {"HELO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nhi\n.\nQUIT\r\n",
     "250 mx.example.net\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
     "354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as "},
};

static void test_dialogue(void **state)
{
	for (size_t i = 0; i < sizeof(dialogue) / sizeof(dialogue[0]); i++) {
		struct tr_conn c;
		run(&c, dialogue[i].tx, NULL);
		const char *o = tr_out(&c) + strlen("220 mx.example.net ESMTP Postfix\r\n");
		if (strncmp(o, dialogue[i].reply, strlen(dialogue[i].reply)) != 0)
			fail_msg("case %zu: got\n%s", i, o);
		tr_close(&c);
	}
}

static void test_auth_plain_recorded(void **state)
{
	struct tr_conn c;
	/* second attempt after a cancel; both recorded */
	run(&c,
	    "EHLO x\r\nAUTH LOGIN\r\ncm9vdA==\r\n*\r\nAUTH "
	    "PLAIN\r\nYWRtaW4AYWRtaW4AcGFzc3dvcmQ=\r\n",
	    NULL);
	assert_string_equal(tr_str(&c, "credentials.username"), "admin");
	assert_string_equal(tr_str(&c, "credentials.password"), "password");
	tr_close(&c);

	struct resp_config reject = host_cfg;
	reject.login_reject = 1;
	run(&c, "EHLO x\r\nAUTH PLAIN AHUAcA==\r\nAUTH PLAIN AHUyAHAy\r\n", &reject);
	assert_true(tr_out_has(&c, "535 5.7.8 Error: authentication failed: authentication "
	                           "failure\r\n535 5.7.8"));
	assert_int_equal(tr_int(&c, "credentials_count"), 2);
	assert_string_equal(tr_elem(&c, "credentials_tried", 1, "username"), "u2");
	assert_string_equal(tr_elem(&c, "credentials_tried", 1, "password"), "p2");
	tr_close(&c);
}

static void test_starttls(void **state)
{
	struct resp_config cfg = host_cfg;
	cfg.starttls = 1;
	struct tr_conn c;
	tr_open(&c, &resp_smtp, &cfg);
	tr_start(&c);
	assert_int_equal(tr_feeds(&c, "EHLO x\r\n", 0), RESP_CONTINUE);
	assert_true(tr_out_has(&c, "250-ETRN\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n"));
	resp_out_consume(&c.out, c.out.len);
	/* the injected RSET after STARTTLS is never answered */
	assert_int_equal(tr_feeds(&c, "STARTTLS\r\nRSET\r\n", 0), RESP_STARTTLS);
	assert_string_equal(tr_out(&c), "220 2.0.0 Ready to start TLS\r\n");
	resp_out_consume(&c.out, c.out.len);
	/* the session starts over inside TLS, without STARTTLS on offer */
	assert_int_equal(tr_feeds(&c, "MAIL FROM:<a@b>\r\n", 0), RESP_CONTINUE);
	assert_string_equal(tr_out(&c), "503 5.5.1 Error: send HELO/EHLO first\r\n");
	resp_out_consume(&c.out, c.out.len);
	tr_feeds(&c, "EHLO x\r\n", 0);
	assert_false(tr_out_has(&c, "STARTTLS"));
	tr_close(&c);
}

static void test_limits(void **state)
{
	struct tr_conn c;
	/* message larger than the payload bound: kept truncated, refused */
	struct resp_config small = host_cfg;
	small.max_payload = 100;
	char tx[4096] = "HELO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n";
	for (int i = 0; i < 20; i++)
		strcat(tx, "0123456789012345678901234567890123456789\r\n");
	strcat(tx, ".\r\n");
	run(&c, tx, &small);
	assert_true(tr_out_has(&c, "552 5.3.4 Message size exceeds fixed limit\r\n"));
	assert_int_equal(c.npl, 1);
	assert_int_equal(c.pl[0].len, 100);
	assert_int_equal(c.pl[0].truncated, 1);
	assert_int_equal(c.act, RESP_CONTINUE);
	tr_close(&c);

	/* recipients: 150 accepted, 100 recorded */
	char *big = malloc(8192);
	strcpy(big, "HELO x\r\nMAIL FROM:<a@b>\r\n");
	for (int i = 0; i < 150; i++)
		sprintf(big + strlen(big), "RCPT TO:<u%d@x>\r\n", i);
	run(&c, big, NULL);
	assert_int_equal(tr_count(&c, "smtp.rcpt_to"), 100);
	assert_int_equal(tr_int(&c, "smtp.rcpt_to_count"), 150);
	tr_close(&c);

	/* a command line past 2 KiB */
	memset(big, 'A', 5000);
	strcpy(big + 5000, "\r\nQUIT\r\n");
	run(&c, big, NULL);
	assert_true(tr_out_has(&c, "500 5.5.2 Error: line too long\r\n221 2.0.0 Bye\r\n"));
	tr_close(&c);

	/* twenty errors end the session */
	big[0] = 0;
	for (int i = 0; i < 25; i++)
		strcat(big, "BOGUS\r\n");
	run(&c, big, NULL);
	assert_int_equal(c.act, RESP_CLOSE);
	assert_true(tr_out_has(&c, "502 5.5.2 Error: command not recognized\r\n"
	                           "421 4.7.0 mx.example.net Error: too many errors\r\n"));
	free(big);
	tr_close(&c);
}

static void test_timeout_in_data(void **state)
{
	struct tr_conn c;
	tr_open(&c, &resp_smtp, &host_cfg);
	tr_start(&c);
	assert_int_equal(tr_feeds(&c,
	                          "HELO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"
	                          "Subject: cut\r\n\r\npartial",
	                          1),
	                 RESP_NEED_MORE);
	resp_out_consume(&c.out, c.out.len);
	assert_int_equal(c.r->timeout(c.st, &c.out), RESP_CLOSE);
	assert_string_equal(tr_out(&c), "421 4.4.2 mx.example.net Error: timeout exceeded\r\n");
	tr_render(&c);
	assert_int_equal(c.npl, 1);
	assert_string_equal((char *)c.pl[0].data, "Subject: cut\r\n\r\npartial");
	assert_string_equal(tr_str(&c, "email.subject"), "cut");
	tr_close(&c);
}

static void test_headers_folded(void **state)
{
	struct tr_conn c;
	run(&c,
	    "HELO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"
	    "To: \"Doe, John\" <jd@x>,\r\n\tother@y\r\nCc: c1@z\r\nSubject: a\r\n very long\r\n"
	    "\r\nTo: not-a-header@z\r\n.\r\n",
	    NULL);
	assert_int_equal(tr_count(&c, "email.to"), 2);
	assert_string_equal(tr_elem(&c, "email.to", 0, NULL), "\"Doe, John\" <jd@x>");
	assert_string_equal(tr_elem(&c, "email.to", 1, NULL), "other@y");
	assert_string_equal(tr_elem(&c, "email.cc", 0, NULL), "c1@z");
	assert_string_equal(tr_str(&c, "email.subject"), "a very long");
	tr_close(&c);
}

static void test_garbage(void **state)
{
	uint8_t junk[3000];
	uint32_t x = 777;
	for (int round = 0; round < 50; round++) {
		for (size_t i = 0; i < sizeof(junk); i++) {
			x = x * 1103515245 + 12345;
			/* mostly text-ish, with line ends */
			uint8_t b = (uint8_t)(x >> 16);
			junk[i] = (b & 0x1f) == 0 ? '\n' : b;
		}
		struct tr_conn c;
		tr_run_both(&c, &resp_smtp, &host_cfg, junk, sizeof(junk));
		tr_close(&c);
	}
}

/*
 * A spam run past the record budget: 100 long recipients and a message whose
 * To: lists 30 addresses, then a login: the recipients kept are the
 * first ones, the rest (and the To: addresses past the budget) counted; the
 * HELO, the sender, the subject and the credentials are kept; the event is
 * not cut; the worker's memory budget counts what is kept.
 */
static void test_record_budget(void **state)
{
	char *tx = malloc(300000);
	size_t n = (size_t)sprintf(tx, "EHLO spam.example\r\nMAIL FROM:<s@spam.example>\r\n");
	for (int i = 0; i < 100; i++)
		n += (size_t)sprintf(tx + n, "RCPT TO:<%03d%s@example.com>\r\n", i,
		                     tr_pad('r', 400));
	n += (size_t)sprintf(tx + n, "DATA\r\nSubject: offer\r\nTo: ");
	for (int i = 0; i < 30; i++)
		n += (size_t)sprintf(tx + n, "%s<t%s@example.com>", i ? ",\r\n " : "",
		                     tr_pad('t', 40));
	n += (size_t)sprintf(tx + n, "\r\n\r\nbody\r\n.\r\nRSET\r\nAUTH PLAIN %s\r\nQUIT\r\n",
	                     "AGFkbWluAFMzY3JldCE="); /* admin / S3cret! */
	struct tr_conn c;
	tr_run_both(&c, &resp_smtp, NULL, tx, n);
	assert_int_equal(c.act, RESP_CLOSE);
	tr_assert_budget(&c, "smtp.rcpt_to", "smtp.rcpt_to_count", "smtp.rcpt_to_not_kept",
	                 100);
	assert_memory_equal(tr_elem(&c, "smtp.rcpt_to", 0, NULL), "<000rrr", 7);
	assert_int_equal(tr_int(&c, "email.to_not_kept") +
	                     (tr_count(&c, "email.to") > 0 ? tr_count(&c, "email.to") : 0),
	                 30);
	assert_true(tr_int(&c, "email.to_not_kept") > 0);
	assert_string_equal(tr_str(&c, "smtp.helo"), "spam.example");
	assert_string_equal(tr_str(&c, "smtp.mail_from"), "<s@spam.example>");
	assert_string_equal(tr_str(&c, "email.subject"), "offer");
	assert_string_equal(tr_str(&c, "credentials.username"), "admin");
	assert_string_equal(tr_str(&c, "credentials.password"), "S3cret!");
	tr_close(&c);
	assert_int_equal(resp_mem_held(), 0);

	tr_assert_held(&resp_smtp, NULL, tx, n, (const char *const[]){"smtp.rcpt_to", NULL}, 0,
	               0);
	free(tx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_swaks_login),
	    cmocka_unit_test(test_swaks_plain_pipelined),
	    cmocka_unit_test(test_dialogue),
	    cmocka_unit_test(test_auth_plain_recorded),
	    cmocka_unit_test(test_starttls),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_timeout_in_data),
	    cmocka_unit_test(test_headers_folded),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_record_budget),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * IMAP responder: dialogues recorded from Python's imaplib (3.11) against
 * the responder on a loopback listener, and RFC 3501/7888 literals by hand.
 * Each runs whole and one byte at a time.
 */
#include "test_resp_harness.h"
#include "test_resp_budget.h"

/* imaplib: login (a quoted password with a space and a quote), list,
 * select, search, close, logout */
static const char tx_imaplib[] = "KIDO0 CAPABILITY\r\n"
                                 "KIDO1 LOGIN bob@example.com \"pa ss\\\"word\"\r\n"
                                 "KIDO2 LIST \"\" *\r\n"
                                 "KIDO3 SELECT INBOX\r\n"
                                 "KIDO4 SEARCH ALL\r\n"
                                 "KIDO5 CLOSE\r\n"
                                 "KIDO6 LOGOUT\r\n";

/* imaplib: authenticate('PLAIN'), append with a synchronizing literal, logout */
static const char tx_imaplib_auth[] = "PIFI0 CAPABILITY\r\n"
                                      "PIFI1 AUTHENTICATE PLAIN\r\n"
                                      "AGNhcm9sAHMzY3IzdA==\r\n"
                                      "PIFI2 APPEND INBOX {32}\r\n"
                                      "From: x@y\r\n"
                                      "Subject: hi\r\n"
                                      "\r\n"
                                      "body\r\n"
                                      "\r\n"
                                      "PIFI3 LOGOUT\r\n";

#define CAPS_PRE                                                                               \
	"IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN AUTH=LOGIN"
#define CAPS_POST                                                                              \
	"IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT THREAD=REFERENCES MULTIAPPEND " \
	"UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC "     \
	"ESEARCH LITERAL+ MOVE SPECIAL-USE"
#define BANNER "* OK [CAPABILITY " CAPS_PRE "] Dovecot ready.\r\n"

static void test_imaplib(void **state)
{
	struct tr_conn c;
	tr_run_both(&c, &resp_imap, NULL, tx_imaplib, strlen(tx_imaplib));
	assert_int_equal(c.act, RESP_CLOSE);
	assert_string_equal(
	    tr_out(&c), BANNER
	    "* CAPABILITY " CAPS_PRE "\r\n"
	    "KIDO0 OK Pre-login capabilities listed, post-login capabilities have more.\r\n"
	    "KIDO1 OK [CAPABILITY " CAPS_POST "] Logged in\r\n"
	    "* LIST (\\HasNoChildren) \".\" INBOX\r\n"
	    "KIDO2 OK List completed (0.001 + 0.000 secs).\r\n"
	    "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
	    "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags "
	    "permitted.\r\n"
	    "* 0 EXISTS\r\n* 0 RECENT\r\n"
	    "* OK [UIDVALIDITY 1700000000] UIDs valid\r\n"
	    "* OK [UIDNEXT 1] Predicted next UID\r\n"
	    "KIDO3 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).\r\n"
	    "* SEARCH\r\nKIDO4 OK Search completed (0.001 + 0.000 secs).\r\n"
	    "KIDO5 OK CLOSE completed.\r\n"
	    "* BYE Logging out\r\nKIDO6 OK Logout completed (0.001 + 0.000 secs).\r\n");
	assert_string_equal(tr_str(&c, "credentials.username"), "bob@example.com");
	assert_string_equal(tr_str(&c, "credentials.password"), "pa ss\"word");
	assert_string_equal(tr_str(&c, "credentials.method"), "LOGIN");
	assert_int_equal(tr_count(&c, "imap.command"), 7);
	assert_string_equal(tr_elem(&c, "imap.command", 3, NULL), "KIDO3 SELECT INBOX");
	tr_close(&c);
}

static void test_imaplib_auth_append(void **state)
{
	struct tr_conn c;
	tr_run_both(&c, &resp_imap, NULL, tx_imaplib_auth, strlen(tx_imaplib_auth));
	assert_int_equal(c.act, RESP_CLOSE);
	assert_true(
	    tr_out_has(&c, "PIFI0 OK Pre-login capabilities listed, post-login capabilities "
	                   "have more.\r\n+ \r\nPIFI1 OK [CAPABILITY "));
	assert_true(tr_out_has(&c, "] Logged in\r\n+ OK\r\nPIFI2 OK [APPENDUID 1700000000 1] "
	                           "Append completed.\r\n* BYE"));
	assert_string_equal(tr_str(&c, "credentials.username"), "carol");
	assert_string_equal(tr_str(&c, "credentials.password"), "s3cr3t");
	assert_string_equal(tr_str(&c, "credentials.method"), "PLAIN");
	assert_int_equal(c.npl, 1);
	assert_string_equal(c.pl[0].kind, "imap_append");
	assert_string_equal(c.pl[0].name, "append-1.eml");
	assert_string_equal((char *)c.pl[0].data, "From: x@y\r\nSubject: hi\r\n\r\nbody\r\n");
	assert_int_equal(tr_int(&c, "imap.appends"), 1);
	tr_close(&c);
}

static const struct {
	const char *tx;
	const char *reply; /* after the banner */
	const char *user, *pass;
} cases[] = {
    /* synchronizing literals for both arguments */
    {"a1 LOGIN {5}\r\nadmin {8}\r\npa\"ss wd\r\n",
     "+ OK\r\n+ OK\r\na1 OK [CAPABILITY " CAPS_POST "] Logged in\r\n", "admin", "pa\"ss wd"},
    /* LITERAL+ needs no continuation */
    {"a1 LOGIN {4+}\r\nroot {0+}\r\n\r\n", "a1 OK [CAPABILITY " CAPS_POST "] Logged in\r\n",
     "root", ""},
    {"x LOGIN \"a\\\\b\" c\r\n", "x OK [CAPABILITY " CAPS_POST "] Logged in\r\n", "a\\b", "c"},
    {"a1 AUTHENTICATE PLAIN AHUAcA==\r\n", "a1 OK [CAPABILITY " CAPS_POST "] Logged in\r\n",
     "u", "p"},
    {"a1 AUTHENTICATE LOGIN\r\ndQ==\r\ncA==\r\n",
     "+ VXNlcm5hbWU6\r\n+ UGFzc3dvcmQ6\r\na1 OK [CAPABILITY " CAPS_POST "] Logged in\r\n", "u",
     "p"},
    {"a1 AUTHENTICATE PLAIN\r\n*\r\n", "+ \r\na1 BAD Authentication aborted by client.\r\n",
     NULL, NULL},
    {"a1 AUTHENTICATE GSSAPI\r\n", "a1 NO Unsupported authentication mechanism.\r\n", NULL,
     NULL},
    {"a1 LOGIN onlyuser\r\n", "a1 BAD Error in IMAP command LOGIN: Missing arguments.\r\n",
     NULL, NULL},
    {"a1 SELECT INBOX\r\n", "a1 BAD Error in IMAP command received by server.\r\n", NULL, NULL},
    {"\r\n", "* BAD Error in IMAP command received by server.\r\n", NULL, NULL},
    {"+x NOOP\r\n", "* BAD Error in IMAP command received by server.\r\n", NULL, NULL},
    {"t1 NOOP\r\nt2 ID (\"name\" \"x\")\r\nt3 STARTTLS\r\n",
     "t1 OK NOOP completed (0.001 + 0.000 secs).\r\n* ID (\"name\" \"Dovecot\")\r\nt2 OK ID "
     "completed.\r\nt3 BAD Error in IMAP command received by server.\r\n",
     NULL, NULL},
    /* a synchronizing literal past the bound is refused before it is sent */
    {"a1 LOGIN {99999}\r\na2 NOOP\r\n",
     "a1 NO [TOOBIG] Literal too large.\r\na2 OK NOOP completed (0.001 + 0.000 secs).\r\n",
     NULL, NULL},
    {"a LOGIN u p\r\nb EXAMINE Trash\r\nc UID FETCH 1:* FLAGS\r\nd IDLE\r\nDONE\r\ne FOO\r\n",
     "a OK [CAPABILITY " CAPS_POST "] Logged in\r\nb NO Mailbox doesn't exist: Trash\r\n"
     "c BAD No mailbox selected.\r\n+ idling\r\nd OK Idle completed (0.001 + 0.000 secs).\r\n"
     "e BAD Error in IMAP command: Unknown command.\r\n",
     "u", "p"},
};

static void test_cases(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tr_conn c;
		tr_run_both(&c, &resp_imap, NULL, cases[i].tx, strlen(cases[i].tx));
		const char *o = tr_out(&c) + strlen(BANNER);
		if (strcmp(o, cases[i].reply) != 0)
			fail_msg("case %zu: got\n%s", i, o);
		if (cases[i].user) {
			assert_string_equal(tr_str(&c, "credentials.username"), cases[i].user);
			assert_string_equal(tr_str(&c, "credentials.password"), cases[i].pass);
		} else {
			assert_null(tr_str(&c, "credentials.username"));
		}
		tr_close(&c);
	}
}

static void test_big_nonsync_literal_skipped(void **state)
{
	/* a LITERAL+ past the bound is read and dropped, then answered BAD */
	size_t n = 20000;
	char *tx = malloc(n + 100);
	strcpy(tx, "a1 LOGIN {20000+}\r\n");
	size_t h = strlen(tx);
	memset(tx + h, 'z', n);
	strcpy(tx + h + n, " pw\r\na2 NOOP\r\n");
	struct tr_conn c;
	tr_run_both(&c, &resp_imap, NULL, tx, strlen(tx));
	assert_string_equal(tr_out(&c) + strlen(BANNER),
	                    "a1 BAD Error in IMAP command: Too long argument.\r\n"
	                    "a2 OK NOOP completed (0.001 + 0.000 secs).\r\n");
	assert_int_equal(c.act, RESP_CONTINUE);
	free(tx);
	tr_close(&c);
}

/* An APPEND too large (answered BAD) keeps what it sent, cut, when another follows. */
static void test_refused_append_is_kept(void **state)
{
	struct resp_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.max_payload = 1024;
	size_t n = 3000;
	char *tx = malloc(n + 200);
	strcpy(tx, "a1 LOGIN u p\r\nb APPEND INBOX {3000+}\r\n");
	size_t h = strlen(tx);
	memset(tx + h, 'M', n);
	strcpy(tx + h + n, "\r\nc APPEND INBOX {5+}\r\nhello\r\n");
	struct tr_conn c;
	tr_run_both(&c, &resp_imap, &cfg, tx, strlen(tx));
	assert_int_equal(c.npl, 2);
	assert_string_equal(c.pl[0].kind, "imap_append");
	assert_int_equal(c.pl[0].len, 1024);
	assert_true(c.pl[0].truncated);
	assert_memory_equal(c.pl[0].data, tx + h, 1024);
	assert_int_equal(c.pl[1].len, 5);
	assert_memory_equal(c.pl[1].data, "hello", 5);
	assert_false(c.pl[1].truncated);
	free(tx);
	tr_close(&c);
}

static void test_starttls(void **state)
{
	struct resp_config cfg = {0};
	cfg.starttls = 1;
	struct tr_conn c;
	tr_open(&c, &resp_imap, &cfg);
	tr_start(&c);
	assert_true(tr_out_has(&c, "LITERAL+ STARTTLS AUTH=PLAIN"));
	resp_out_consume(&c.out, c.out.len);
	assert_int_equal(tr_feeds(&c, "s STARTTLS\r\ni LOGIN injected x\r\n", 0),
	                 RESP_STARTTLS);
	assert_string_equal(tr_out(&c), "s OK Begin TLS negotiation now.\r\n");
	tr_render(&c);
	assert_null(tr_str(&c, "credentials.username"));
	tr_close(&c);
}

static void test_timeout_and_garbage(void **state)
{
	struct tr_conn c;
	tr_open(&c, &resp_imap, NULL);
	tr_start(&c);
	assert_int_equal(tr_feeds(&c, "a LOGIN {5}\r\nab", 1), RESP_NEED_MORE);
	assert_int_equal(c.r->timeout(c.st, &c.out), RESP_CLOSE);
	assert_true(tr_out_has(&c, "* BYE Disconnected for inactivity.\r\n"));
	tr_close(&c);

	uint8_t junk[3000];
	uint32_t x = 31337;
	for (int round = 0; round < 50; round++) {
		for (size_t i = 0; i < sizeof(junk); i++) {
			x = x * 1103515245 + 12345;
			uint8_t b = (uint8_t)(x >> 16);
			junk[i] = (b & 0x1f) == 0 ? '\n' : (b & 0x1f) == 1 ? '{' : b;
		}
		tr_run_both(&c, &resp_imap, NULL, junk, sizeof(junk));
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
	for (int i = 0; i < 63; i++)
		n += (size_t)sprintf(tx + n, "a%d CAPABILITY %s\r\n", i, tr_pad('x', 600));
	n += (size_t)sprintf(tx + n, "z LOGIN mallory %s\r\n", tr_pad('p', 40));
	struct tr_conn c;
	tr_run_both(&c, &resp_imap, NULL, tx, n);
	tr_assert_budget(&c, "imap.command", "imap.command_count", "imap.commands_not_kept",
	                 64);
	assert_memory_equal(tr_elem(&c, "imap.command", 0, NULL), "a0 CAPABILITY xxx", 17);
	assert_string_equal(tr_str(&c, "credentials.username"), "mallory");
	assert_string_equal(tr_str(&c, "credentials.password"), tr_pad('p', 40));
	tr_close(&c);
	assert_int_equal(resp_mem_held(), 0);

	tr_assert_held(&resp_imap, NULL, tx, n, (const char *const[]){"imap.command", NULL}, 0,
	               RESP_RECORD_MAX + 4096);
	free(tx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_imaplib),
	    cmocka_unit_test(test_imaplib_auth_append),
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_big_nonsync_literal_skipped),
	    cmocka_unit_test(test_refused_append_is_kept),
	    cmocka_unit_test(test_starttls),
	    cmocka_unit_test(test_timeout_and_garbage),
	    cmocka_unit_test(test_record_budget),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * IRC responder: a bot's session written from RFC 2812 / IRCv3 and run
 * against the responder on a loopback listener by a socket script, plus the
 * edges. Each runs whole and one byte at a time.
 */
#include "test_resp_harness.h"
#include "test_resp_budget.h"

static const char tx_bot[] = "CAP LS 302\r\n"
                             "PASS b0tn3t\r\n"
                             "NICK [UNK]x86|4821\r\n"
                             "USER x86 0 * :Linux 5.10 box\r\n"
                             "CAP END\r\n"
                             "JOIN #ddos,#update k3y\r\n"
                             "MODE [UNK]x86|4821 +x\r\n"
                             "PRIVMSG #ddos :!scan 198.51.100.0/24 23\r\n"
                             "PING :irc.example.net\r\n"
                             "NOTICE boss :done\r\n"
                             "QUIT :bye\r\n";

#define H ":irc.example.net "
#define N "[UNK]x86|4821"
static const struct resp_config irc_cfg = {.hostname = "irc.example.net"};

static void test_bot_session(void **state)
{
	struct tr_conn c;
	tr_run_both(&c, &resp_irc, &irc_cfg, tx_bot, strlen(tx_bot));
	assert_int_equal(c.act, RESP_CLOSE);
	assert_string_equal(
	    tr_out(&c), H
	    "NOTICE * :*** Looking up your hostname...\r\n" H
	    "NOTICE * :*** Couldn't resolve your hostname; using your IP address instead\r\n" H
	    "CAP * LS :\r\n" H "001 " N " :Welcome to the IRC Network " N
	    "!x86@198.51.100.23\r\n" H "002 " N
	    " :Your host is irc.example.net, running version UnrealIRCd-6.1.2\r\n" H "003 " N
	    " :This server was created Mon Jan 8 2024 at 10:23:20 UTC\r\n" H "004 " N
	    " irc.example.net UnrealIRCd-6.1.2 iowrsxzdHtIDRqpWGTSB "
	    "lvhopsmntikraqbeIHzMQNRTOVKDdGLPZSCcf\r\n" H "005 " N
	    " AWAYLEN=307 CASEMAPPING=ascii CHANLIMIT=#:10 CHANNELLEN=32 CHANTYPES=# "
	    "MAXTARGETS=20 MODES=12 NETWORK=IRC NICKLEN=30 PREFIX=(qaohv)~&@%+ :are supported "
	    "by this server\r\n" H "251 " N
	    " :There are 1 users and 2 invisible on 1 servers\r\n" H "375 " N
	    " :- irc.example.net Message of the Day - \r\n" H "372 " N " :- Welcome.\r\n" H
	    "376 " N " :End of /MOTD command.\r\n"
	    ":" N " MODE " N " :+iwx\r\n"
	    ":" N "!x86@198.51.100.23 JOIN :#ddos\r\n" H "353 " N " = #ddos :@" N "\r\n" H
	    "366 " N " #ddos :End of /NAMES list.\r\n"
	    ":" N "!x86@198.51.100.23 JOIN :#update\r\n" H "353 " N " = #update :@" N "\r\n" H
	    "366 " N " #update :End of /NAMES list.\r\n"
	    ":" N " MODE " N " :+x\r\n" H "PONG irc.example.net :irc.example.net\r\n"
	    "ERROR :Closing Link: " N "[198.51.100.23] (Quit: bye)\r\n");

	assert_string_equal(tr_str(&c, "irc.nick"), N);
	assert_string_equal(tr_str(&c, "irc.user"), "x86");
	assert_string_equal(tr_str(&c, "irc.realname"), "Linux 5.10 box");
	assert_int_equal(tr_count(&c, "irc.channels"), 2);
	assert_string_equal(tr_elem(&c, "irc.channels", 0, NULL), "#ddos k3y");
	assert_string_equal(tr_elem(&c, "irc.channels", 1, NULL), "#update");
	assert_int_equal(tr_count(&c, "irc.commands"), 11);
	assert_string_equal(tr_elem(&c, "irc.commands", 7, NULL),
	                    "PRIVMSG #ddos :!scan 198.51.100.0/24 23");
	assert_int_equal(tr_count(&c, "irc.messages"), 2);
	assert_string_equal(tr_elem(&c, "irc.messages", 0, "type"), "PRIVMSG");
	assert_string_equal(tr_elem(&c, "irc.messages", 0, "target"), "#ddos");
	assert_string_equal(tr_elem(&c, "irc.messages", 0, "text"), "!scan 198.51.100.0/24 23");
	assert_string_equal(tr_elem(&c, "irc.messages", 1, "type"), "NOTICE");
	assert_string_equal(tr_str(&c, "credentials.username"), "x86");
	assert_string_equal(tr_str(&c, "credentials.password"), "b0tn3t");
	assert_string_equal(tr_str(&c, "credentials.method"), "PASS");
	tr_close(&c);
}

static const struct {
	const char *tx;
	const char *reply; /* after the two NOTICE lines */
} cases[] = {
    {"JOIN #x\r\n", H "451 JOIN :You have not registered\r\n"},
    {"NICK 9bad\r\n", H "432 * 9bad :Erroneous Nickname\r\n"},
    {"NICK\r\n", H "431 * :No nickname given\r\n"},
    {"USER a b\r\n", H "461 * USER :Not enough parameters\r\n"},
    {"PING\r\n", H "461 * PING :Not enough parameters\r\n"},
    {"CAP REQ :sasl\r\n", H "CAP * NAK :sasl\r\n"},
    /* message tags and a source prefix are skipped */
    {"@time=x :me PING :tok\r\n", H "PONG irc.example.net :tok\r\n"},
    {"USER u 0 * :r\r\nNICK n\r\nFOO\r\nPRIVMSG nobody :x\r\nPRIVMSG #c\r\nNICK m\r\n"
     "JOIN bad\r\nWHOIS z\r\nTOPIC #c\r\n",
     NULL},
};

static void test_cases(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tr_conn c;
		tr_run_both(&c, &resp_irc, &irc_cfg, cases[i].tx, strlen(cases[i].tx));
		const char *o = strstr(tr_out(&c), "instead\r\n") + 9;
		if (cases[i].reply && strcmp(o, cases[i].reply) != 0)
			fail_msg("case %zu: got\n%s", i, o);
		if (cases[i].reply == NULL) {
			assert_non_null(strstr(o, H "421 n FOO :Unknown command\r\n"));
			assert_non_null(strstr(o, H "401 n nobody :No such nick/channel\r\n"));
			assert_non_null(strstr(o, H "412 n :No text to send\r\n"));
			assert_non_null(strstr(o, ":n!u@198.51.100.23 NICK :m\r\n"));
			assert_non_null(strstr(o, H "403 m bad :No such channel\r\n"));
			assert_non_null(strstr(o, H "318 m z :End of /WHOIS list.\r\n"));
			assert_non_null(strstr(o, H "331 m #c :No topic is set.\r\n"));
			assert_string_equal(tr_str(&c, "irc.nick"), "m");
		}
		tr_close(&c);
	}
}

static void test_topic_and_ping_timeout(void **state)
{
	struct resp_config cfg = irc_cfg;
	cfg.irc.topic = "!update http://203.0.113.5/b.sh";
	struct tr_conn c;
	tr_open(&c, &resp_irc, &cfg);
	tr_start(&c);
	tr_feeds(&c, "NICK a\r\nUSER a 0 * :a\r\nJOIN #c\r\n", 1);
	assert_true(tr_out_has(&c, H "332 a #c :!update http://203.0.113.5/b.sh\r\n" H
	                             "333 a #c irc.example.net 1704707000\r\n" H
	                             "353 a = #c :@a\r\n"));
	resp_out_consume(&c.out, c.out.len);
	/* silence: one PING, then the link closes */
	assert_int_equal(c.r->timeout(c.st, &c.out), RESP_CONTINUE);
	assert_string_equal(tr_out(&c), "PING :irc.example.net\r\n");
	resp_out_consume(&c.out, c.out.len);
	tr_feeds(&c, "PONG :irc.example.net\r\n", 0);
	assert_int_equal(c.r->timeout(c.st, &c.out), RESP_CONTINUE);
	resp_out_consume(&c.out, c.out.len);
	assert_int_equal(c.r->timeout(c.st, &c.out), RESP_CLOSE);
	assert_string_equal(
	    tr_out(&c),
	    "ERROR :Closing Link: a[198.51.100.23] (Ping timeout: 120 seconds)\r\n");
	tr_close(&c);

	/* unregistered silence closes at once */
	tr_open(&c, &resp_irc, &cfg);
	tr_start(&c);
	assert_int_equal(c.r->timeout(c.st, &c.out), RESP_CLOSE);
	tr_close(&c);
}

static void test_bounds(void **state)
{
	char *tx = malloc(200000);
	strcpy(tx, "NICK a\r\nUSER a 0 * :a\r\n");
	for (int i = 0; i < 300; i++)
		sprintf(tx + strlen(tx), "PRIVMSG #c :command number %d\r\n", i);
	for (int i = 0; i < 40; i++)
		sprintf(tx + strlen(tx), "JOIN #c%d\r\n", i);
	size_t n = strlen(tx);
	memset(tx + n, 'A', 10000); /* a line past the bound */
	strcpy(tx + n + 10000, "\r\n");
	struct tr_conn c;
	tr_run_both(&c, &resp_irc, &irc_cfg, tx, strlen(tx));
	assert_int_equal(tr_count(&c, "irc.commands"), 128);
	assert_int_equal(tr_int(&c, "irc.command_count"), 343);
	assert_int_equal(tr_count(&c, "irc.messages"), 64);
	assert_int_equal(tr_int(&c, "irc.message_count"), 300);
	assert_int_equal(tr_count(&c, "irc.channels"), 32);
	assert_null(tr_str(&c, "credentials.username"));
	free(tx);
	tr_close(&c);
}

static void test_garbage(void **state)
{
	uint8_t junk[3000];
	uint32_t x = 6667;
	for (int round = 0; round < 50; round++) {
		for (size_t i = 0; i < sizeof(junk); i++) {
			x = x * 1103515245 + 12345;
			uint8_t b = (uint8_t)(x >> 16);
			junk[i] = (b & 0x1f) == 0 ? '\n' : (b & 0x1f) == 1 ? ' ' : b;
		}
		struct tr_conn c;
		tr_run_both(&c, &resp_irc, &irc_cfg, junk, sizeof(junk));
		tr_close(&c);
	}
}

/*
 * A bot that registers with a password, then floods long PRIVMSGs, then joins
 * channels: the commands and messages kept are the first ones and within the
 * record budget, the rest counted; the channels after the flood and the
 * credentials before it are kept; the event is not cut; what is kept is
 * counted in the worker's memory budget while the connection lives.
 */
static void test_record_budget(void **state)
{
	char *tx = malloc(200000);
	size_t n = (size_t)sprintf(tx, "PASS s3cr3t\r\nNICK bot\r\nUSER bot 0 * :%s\r\n",
	                           tr_pad('r', 600));
	for (int i = 0; i < 120; i++)
		n += (size_t)sprintf(tx + n, "PRIVMSG #c :%04d %s\r\n", i, tr_pad('m', 480));
	for (int i = 0; i < 5; i++)
		n += (size_t)sprintf(tx + n, "JOIN #late%d\r\n", i);
	struct tr_conn c;
	tr_run_both(&c, &resp_irc, &irc_cfg, tx, n);
	tr_assert_budget(&c, "irc.commands", "irc.command_count", "irc.commands_not_kept", 128);
	tr_assert_budget(&c, "irc.messages", "irc.message_count", "irc.messages_not_kept", 120);
	assert_string_equal(tr_elem(&c, "irc.commands", 0, NULL), "PASS s3cr3t");
	assert_memory_equal(tr_elem(&c, "irc.messages", 0, "text"), "0000 mmm", 8);
	assert_int_equal(tr_count(&c, "irc.channels"), 5);
	assert_string_equal(tr_str(&c, "credentials.password"), "s3cr3t");
	assert_int_equal(strlen(tr_str(&c, "irc.realname")), 512);
	tr_close(&c);
	assert_int_equal(resp_mem_held(), 0);

	tr_assert_held(&resp_irc, &irc_cfg, tx, n, (const char *const[]){"irc.commands", NULL},
	               0, RESP_RECORD_MAX + 4096);
	free(tx);
}

/*
 * Replies that show a client's argument show it on one line: a CR, a NUL or
 * another control byte in it becomes '?', so that no client (one splitting
 * at CR included) reads a line the server did not send. The commands are
 * recorded as sent.
 */
static const char tx_echo[] = "FO\rO\r\n"
                              "NICK 9\rb\r\n"
                              "NICK n\r\nUSER u 0 * :r\r\n"
                              "PING :tok\r:evil 001 n :fake\0x\r\n"
                              "JOIN #a\rb,bad\rc,#n\0ul\r\n"
                              "MODE #a\rb +k\rk\r\n"
                              "MODE n :+i\r\x01\r\n"
                              "MODE m\rx\r\n"
                              "WHOIS z\rq\r\n"
                              "WHO m\x7f\r\n"
                              "TOPIC #t\rx\r\n"
                              "PART #p\rq\r\n"
                              "PRIVMSG no\rbody :x\r\n"
                              "CAP REQ :a\rb\r\n"
                              "B\rAD x\r\n"
                              "QUIT :bye\rnow\r\n";

static void test_echo_one_line(void **state)
{
	struct tr_conn c;
	tr_run_both(&c, &resp_irc, &irc_cfg, tx_echo, sizeof(tx_echo) - 1);
	assert_int_equal(c.act, RESP_CLOSE);
	tr_assert_lines(&c);
	static const char *const want[] = {
	    H "451 FO?O :You have not registered\r\n",
	    H "432 * 9?b :Erroneous Nickname\r\n",
	    H "PONG irc.example.net :tok?:evil 001 n :fake?x\r\n",
	    ":n!u@198.51.100.23 JOIN :#a?b\r\n",
	    H "353 n = #a?b :@n\r\n",
	    H "366 n #a?b :End of /NAMES list.\r\n",
	    H "403 n bad?c :No such channel\r\n",
	    ":n!u@198.51.100.23 JOIN :#n?ul\r\n",
	    ":n!u@198.51.100.23 MODE #a?b +k?k\r\n",
	    ":n MODE n :+i??\r\n",
	    H "401 n m?x :No such nick/channel\r\n",
	    H "401 n z?q :No such nick/channel\r\n" H "318 n z?q :End of /WHOIS list.\r\n",
	    H "315 n m? :End of /WHO list.\r\n",
	    H "331 n #t?x :No topic is set.\r\n",
	    ":n!u@198.51.100.23 PART #p?q\r\n",
	    H "401 n no?body :No such nick/channel\r\n",
	    H "CAP n NAK :a?b\r\n",
	    H "421 n B?AD :Unknown command\r\n",
	    "ERROR :Closing Link: n[198.51.100.23] (Quit: bye?now)\r\n",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!tr_out_has(&c, want[i]))
			fail_msg("no %s in\n%s", want[i], tr_out(&c));
	/* recorded as sent */
	assert_string_equal(tr_elem(&c, "irc.commands", 0, NULL), "FO\rO");
	assert_memory_equal(tr_elem(&c, "irc.commands", 4, NULL),
	                    "PING :tok\r:evil 001 n :fake\0x", 30);
	assert_string_equal(tr_elem(&c, "irc.commands", 6, NULL), "MODE #a\rb +k\rk");
	assert_int_equal(tr_count(&c, "irc.channels"), 2);
	assert_string_equal(tr_elem(&c, "irc.channels", 0, NULL), "#a\rb");
	/* a NUL in a channel is kept too, and what follows it */
	assert_memory_equal(tr_elem(&c, "irc.channels", 1, NULL), "#n\0ul", 6);
	tr_close(&c);
}

/* A long argument shown back is cut, and says so. */
static void test_echo_bounds(void **state)
{
	char tx[1200];
	struct tr_conn c;
	int n = snprintf(tx, sizeof(tx), "NICK n\r\nUSER u 0 * :r\r\nPING :%s\r\nWHOIS %s\r\n",
	                 tr_pad('p', 500), tr_pad('w', 100));
	tr_run_both(&c, &resp_irc, &irc_cfg, tx, (size_t)n);
	tr_assert_lines(&c);
	char want[600];
	snprintf(want, sizeof(want), H "PONG irc.example.net :%s...\r\n", tr_pad('p', 400));
	assert_true(tr_out_has(&c, want));
	snprintf(want, sizeof(want), H "318 n %s... :End of /WHOIS list.\r\n", tr_pad('w', 64));
	assert_true(tr_out_has(&c, want));
	tr_close(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bot_session),
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_topic_and_ping_timeout),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_record_budget),
	    cmocka_unit_test(test_echo_one_line),
	    cmocka_unit_test(test_echo_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

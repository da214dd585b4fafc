/*
 * `sinktrap sessions` and `sinktrap pcap`: the analyst's way back to the
 * packets.
 *
 * sessions reads the store's database (read-only; WAL lets it run beside a
 * busy store). pcap finds the spool files of the sessions asked for and
 * reads only their packets: with a file's index (index.h), one block per
 * session and a seek per packet; a file still being written, or one whose
 * index was rebuilt after a crash, is matched by 5-tuple and time instead.
 * The offsets of the packets to write are taken a window at a time (see
 * PCAP_WIN_TOTAL), so that what the command holds does not grow with the
 * packets it writes. Packets from several files are merged in time order
 * (each file keeps its own order, as a capture tool wrote it), a --bpf
 * filter is applied on top, and the result is written as pcap (nanosecond
 * pcap when a source has nanoseconds), to a file or to stdout for
 * `tcpdump -r -`.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "capture/capture.h"
#include "capture/capture_int.h"
#include "common/timeparse.h"
#include "capture/communityid.h"
#include "capture/decode.h"
#include "capture/flow.h"
#include "capture/index.h"
#include "capture/pcapfile.h"
#include "capture/spool.h"
#include "common/addr.h"
#include "common/config.h"
#include "common/util.h"
#include "store/render.h"
#include "store/sqlfn.h"

#define NS 1000000000ll
#define DEFAULT_LIMIT 100

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---------------------------------------------------------------- options */

struct query {
	const char *conf;
	const char *host; /* canonical text */
	uint8_t host_bin[16];
	int host_family;
	struct prefix net;
	int have_net;
	int port;                   /* -1 = any */
	int proto;                  /* -1 = any */
	int64_t since_ns, until_ns; /* INT64_MIN / INT64_MAX = open */
	int have_time;              /* --since or --until given */
	const char *cid;
	const char *domain;
	long limit;
	int have_limit;
	int json;
	/* pcap */
	const char *out;
	const char *bpf;
	int have_session;
	uint64_t session;
	/* pcap --domain: the addresses the sinkhole gave the domain, while it held them */
	struct dom_addr {
		int family; /* 4 or 6, as decode_key's */
		uint8_t a[16];
		int64_t since_ns, until_ns; /* until: INT64_MAX while it holds it */
	} * dom;
	size_t ndom;
};

static int parse_proto(const char *s)
{
	static const struct {
		const char *name;
		int num;
	} names[] = {{"tcp", 6},    {"udp", 17},    {"icmp", 1},
	             {"icmp6", 58}, {"icmpv6", 58}, {"ipv6-icmp", 58},
	             {"sctp", 132}, {"gre", 47},    {"esp", 50}};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcasecmp(s, names[i].name))
			return names[i].num;
	char *end;
	long v = strtol(s, &end, 10);
	return *s && !*end && v >= 0 && v <= 255 ? (int)v : -1;
}

static int proto_of_text(const char *s)
{
	if (s == NULL)
		return -1;
	if (!strcmp(s, "IPv6-ICMP"))
		return 58;
	return parse_proto(s);
}

static void query_init(struct query *q)
{
	memset(q, 0, sizeof(*q));
	q->port = -1;
	q->proto = -1;
	q->since_ns = INT64_MIN;
	q->until_ns = INT64_MAX;
	q->limit = DEFAULT_LIMIT;
}

enum {
	O_HOST = 256,
	O_NET,
	O_PORT,
	O_PROTO,
	O_SINCE,
	O_UNTIL,
	O_CID,
	O_DOMAIN,
	O_LIMIT,
	O_JSON,
	O_SESSION,
	O_BPF
};

static const struct option query_opts[] = {
    {"config", required_argument, NULL, 'c'},
    {"host", required_argument, NULL, O_HOST},
    {"net", required_argument, NULL, O_NET},
    {"port", required_argument, NULL, O_PORT},
    {"proto", required_argument, NULL, O_PROTO},
    {"since", required_argument, NULL, O_SINCE},
    {"until", required_argument, NULL, O_UNTIL},
    {"community-id", required_argument, NULL, O_CID},
    {"domain", required_argument, NULL, O_DOMAIN},
    {"limit", required_argument, NULL, O_LIMIT},
    {"json", no_argument, NULL, O_JSON},
    {"session", required_argument, NULL, O_SESSION},
    {"bpf", required_argument, NULL, O_BPF},
    {"write", required_argument, NULL, 'w'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static char host_text[INET6_ADDRSTRLEN];

/* Returns 0, 1 for --help, or -1 after a message. */
static int parse_args(int argc, char **argv, struct query *q, int pcap_cmd)
{
	int ch;
	char *end;
	char err[256];
	optind = 1;
	while ((ch = getopt_long(argc, argv, pcap_cmd ? "c:w:dh" : "c:dh", query_opts, NULL)) !=
	       -1) {
		switch (ch) {
		case 'c':
			q->conf = optarg;
			break;
		case 'd':
			break;
		case 'w':
			q->out = optarg;
			break;
		case O_HOST: {
			int fam = addr_parse_ip(optarg, q->host_bin);
			if (fam == 0) {
				fprintf(stderr, "sinktrap: --host '%s' is not an IP address\n",
				        optarg);
				return -1;
			}
			q->host_family = fam == AF_INET ? 4 : 6;
			inet_ntop(fam, q->host_bin, host_text, sizeof(host_text));
			q->host = host_text;
			break;
		}
		case O_NET:
			if (prefix_parse_net(optarg, &q->net, err, sizeof(err)) < 0) {
				fprintf(stderr, "sinktrap: --net: %s\n", err);
				return -1;
			}
			q->have_net = 1;
			break;
		case O_PORT:
			q->port = (int)strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end || q->port < 0 || q->port > 65535) {
				fprintf(stderr, "sinktrap: --port '%s' is not a port\n",
				        optarg);
				return -1;
			}
			break;
		case O_PROTO:
			q->proto = parse_proto(optarg);
			if (q->proto < 0) {
				fprintf(stderr,
				        "sinktrap: --proto '%s': tcp, udp, icmp, icmp6 or a "
				        "number\n",
				        optarg);
				return -1;
			}
			break;
		case O_SINCE:
		case O_UNTIL:
			if (time_parse_ns(optarg, time_now_ns(),
			                  ch == O_SINCE ? &q->since_ns : &q->until_ns) < 0) {
				fprintf(
				    stderr,
				    "sinktrap: --%s '%s' is not a time (2026-11-22T22:40:00Z, "
				    "@EPOCH, or an age such as 2h)\n",
				    ch == O_SINCE ? "since" : "until", optarg);
				return -1;
			}
			q->have_time = 1;
			break;
		case O_CID:
			q->cid = optarg;
			break;
		case O_DOMAIN:
			q->domain = optarg;
			break;
		case O_LIMIT:
			q->have_limit = 1;
			q->limit = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end || q->limit < 0) {
				fprintf(stderr,
				        "sinktrap: --limit '%s' is not a count (0: no limit)\n",
				        optarg);
				return -1;
			}
			break;
		case O_JSON:
			q->json = 1;
			break;
		case O_SESSION:
			q->session = strtoull(optarg, &end, 10);
			if (*optarg == '\0' || *end) {
				fprintf(stderr,
				        "sinktrap: --session '%s' is not a session (flow) id\n",
				        optarg);
				return -1;
			}
			q->have_session = 1;
			break;
		case O_BPF:
			q->bpf = optarg;
			break;
		case 'h':
			return 1;
		default:
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "sinktrap: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (q->since_ns > q->until_ns) {
		fprintf(stderr, "sinktrap: --since is after --until\n");
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- the database */

static sqlite3 *db_open_ro(const struct config *c)
{
	char path[4200], uri[4300];
	struct stat st;
	sqlite3 *db = NULL;
	snprintf(path, sizeof(path), "%s/sinktrap.db", c->state_dir);
	if (stat(path, &st) < 0)
		return NULL;
	snprintf(uri, sizeof(uri), "file:%s?mode=ro", path);
	if (sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) !=
	    SQLITE_OK) {
		fprintf(stderr, "sinktrap: %s: %s\n", path,
		        db ? sqlite3_errmsg(db) : "cannot open");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 5000);
	sqlfn_register(db);
	return db;
}

#define SESSION_COLUMNS                                                                        \
	"flow_id, community_id, src_ip, src_port, dest_ip, dest_port, proto, vlan, start_ts, " \
	"end_ts, pkts_toserver, pkts_toclient, bytes_toserver, bytes_toclient, "               \
	"payload_toserver, "                                                                   \
	"payload_toclient, tcp_flags, state, end_reason, conn_state, history, pcap_first, "    \
	"pcap_last, expired, (SELECT domain FROM sinkhole_map_spans h "                        \
	"WHERE " SQL_SPAN_HOLDS_SESSION ") AS domain"

enum {
	C_FLOW_ID,
	C_CID,
	C_SRC,
	C_SPORT,
	C_DST,
	C_DPORT,
	C_PROTO,
	C_VLAN,
	C_START,
	C_END,
	C_PKTS_TS,
	C_PKTS_TC,
	C_BYTES_TS,
	C_BYTES_TC,
	C_PAY_TS,
	C_PAY_TC,
	C_FLAGS,
	C_STATE,
	C_REASON,
	C_CONN_STATE,
	C_HISTORY,
	C_FIRST,
	C_LAST,
	C_EXPIRED,
	C_DOMAIN /* the sinkholed domain that held the destination address then */
};

/* NAME (a column) is the domain bound as ?7 or a name under it. */
#define DOMAIN_UNDER(name)                                                                     \
	"lower(" name ") = ?7 OR (length(" name ") > length(?7) AND substr(lower(" name        \
	"), -length(?7) - 1) = '.' || ?7)"

/* The WHERE clause of the filters, with its bindings numbered from 1. */
static void where_clause(const struct query *q, char *sql, size_t len)
{
	size_t n = strlen(sql);
	snprintf(sql + n, len - n, " WHERE 1");
	n = strlen(sql);
	if (q->host)
		n += (size_t)snprintf(sql + n, len - n, " AND (src_ip = ?1 OR dest_ip = ?1)");
	if (q->have_net)
		n += (size_t)snprintf(sql + n, len - n,
		                      " AND (st_in_net(src_ip, ?9) OR st_in_net(dest_ip, ?9))");
	if (q->port >= 0)
		n += (size_t)snprintf(sql + n, len - n,
		                      " AND (src_port = ?2 OR dest_port = ?2)");
	if (q->proto >= 0)
		n += (size_t)snprintf(sql + n, len - n, " AND proto = ?3");
	if (q->since_ns != INT64_MIN)
		n += (size_t)snprintf(sql + n, len - n, " AND end_ts >= ?4");
	if (q->until_ns != INT64_MAX)
		n += (size_t)snprintf(sql + n, len - n, " AND start_ts <= ?5");
	if (q->cid)
		n += (size_t)snprintf(sql + n, len - n, " AND community_id = ?6");
	if (q->have_session)
		n += (size_t)snprintf(sql + n, len - n, " AND flow_id = ?8");
	if (q->domain)
		n += (size_t)snprintf(sql + n, len - n,
		                      " AND EXISTS (SELECT 1 FROM sinkhole_map_spans h "
		                      "WHERE " SQL_SPAN_HOLDS_SESSION
		                      " AND (" DOMAIN_UNDER("h.domain") "))");
}

static char domain_norm[1100];

static void bind_query(const struct query *q, sqlite3_stmt *st)
{
	if (q->host)
		sqlite3_bind_text(st, 1, q->host, -1, SQLITE_STATIC);
	if (q->port >= 0)
		sqlite3_bind_int(st, 2, q->port);
	if (q->proto >= 0) {
		char buf[4];
		sqlite3_bind_text(st, 3, flow_proto_str((uint8_t)q->proto, buf), -1,
		                  SQLITE_TRANSIENT);
	}
	if (q->since_ns != INT64_MIN)
		sqlite3_bind_int64(st, 4, q->since_ns / 1000);
	if (q->until_ns != INT64_MAX)
		sqlite3_bind_int64(st, 5, q->until_ns / 1000);
	if (q->cid)
		sqlite3_bind_text(st, 6, q->cid, -1, SQLITE_STATIC);
	if (q->domain) {
		size_t n = 0;
		for (const char *p = q->domain; *p && n + 1 < sizeof(domain_norm); p++)
			domain_norm[n++] = (char)tolower((unsigned char)*p);
		while (n > 0 && domain_norm[n - 1] == '.')
			n--;
		domain_norm[n] = '\0';
		sqlite3_bind_text(st, 7, domain_norm, -1, SQLITE_STATIC);
	}
	if (q->have_session)
		sqlite3_bind_int64(st, 8, (int64_t)q->session);
	if (q->have_net) {
		char net[INET6_ADDRSTRLEN + 8];
		sqlite3_bind_text(st, 9, prefix_fmt(&q->net, net, sizeof(net)), -1,
		                  SQLITE_TRANSIENT);
	}
}

static const char *col_text(sqlite3_stmt *st, int c)
{
	const char *s = (const char *)sqlite3_column_text(st, c);
	return s ? s : "";
}

/* ---------------------------------------------------------------- sessions */

static void fmt_time(int64_t usec, char *buf, size_t len)
{
	time_t t = (time_t)(usec / 1000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03d", (int)((usec % 1000000) / 1000));
}

static void endpoint(sqlite3_stmt *st, int ca, int cp, char *buf, size_t len)
{
	const char *a = col_text(st, ca);
	int v6 = strchr(a, ':') != NULL;
	if (sqlite3_column_type(st, cp) == SQLITE_NULL)
		snprintf(buf, len, "%s", a);
	else
		snprintf(buf, len, v6 ? "[%s]:%d" : "%s:%d", a, sqlite3_column_int(st, cp));
}

static void json_row(sqlite3_stmt *st, struct strbuf *b)
{
	static const struct {
		int col;
		const char *key;
		char kind; /* s string, i integer, t time, b bool */
	} cols[] = {
	    {C_FLOW_ID, "flow_id", 'i'},
	    {C_CID, "community_id", 's'},
	    {C_SRC, "src_ip", 's'},
	    {C_SPORT, "src_port", 'i'},
	    {C_DST, "dest_ip", 's'},
	    {C_DPORT, "dest_port", 'i'},
	    {C_PROTO, "proto", 's'},
	    {C_VLAN, "vlan", 's'},
	    {C_START, "start", 't'},
	    {C_END, "end", 't'},
	    {C_PKTS_TS, "pkts_toserver", 'i'},
	    {C_PKTS_TC, "pkts_toclient", 'i'},
	    {C_BYTES_TS, "bytes_toserver", 'i'},
	    {C_BYTES_TC, "bytes_toclient", 'i'},
	    {C_PAY_TS, "payload_bytes_toserver", 'i'},
	    {C_PAY_TC, "payload_bytes_toclient", 'i'},
	    {C_FLAGS, "tcp_flags", 's'},
	    {C_STATE, "state", 's'},
	    {C_REASON, "reason", 's'},
	    {C_CONN_STATE, "conn_state", 's'},
	    {C_HISTORY, "history", 's'},
	    {C_FIRST, "pcap_first", 's'},
	    {C_LAST, "pcap_last", 's'},
	    {C_EXPIRED, "expired", 'b'},
	    {C_DOMAIN, "domain", 's'},
	};
	int first = 1;
	strbuf_putc(b, '{');
	for (size_t i = 0; i < ARRAY_SIZE(cols); i++) {
		int c = cols[i].col;
		if (sqlite3_column_type(st, c) == SQLITE_NULL)
			continue;
		strbuf_printf(b, "%s\"%s\":", first ? "" : ",", cols[i].key);
		first = 0;
		switch (cols[i].kind) {
		case 's': {
			const char *s = col_text(st, c);
			strbuf_json_str(b, (const uint8_t *)s, strlen(s));
			break;
		}
		case 'i':
			strbuf_printf(b, "%lld", (long long)sqlite3_column_int64(st, c));
			break;
		case 't':
			strbuf_putc(b, '"');
			strbuf_time(b, sqlite3_column_int64(st, c));
			strbuf_putc(b, '"');
			break;
		case 'b':
			strbuf_puts(b, sqlite3_column_int(st, c) ? "true" : "false");
			break;
		}
	}
	strbuf_puts(b, "}\n");
}

static struct config *load_config(const char *path)
{
	struct cfg_errors errs;
	struct config *c = config_load(path, &errs);
	if (c == NULL) {
		cfg_errors_print(&errs, stderr);
		cfg_errors_free(&errs);
	}
	return c;
}

int capture_sessions_main(int argc, char **argv)
{
	struct query q;
	query_init(&q);
	int r = parse_args(argc, argv, &q, 0);
	if (r != 0) {
		fprintf(
		    r > 0 ? stdout : stderr,
		    "usage: sinktrap sessions [-c FILE] [--host ADDR] [--net CIDR] [--port N]\n"
		    "         [--proto P] [--since T] [--until T] [--community-id ID]\n"
		    "         [--domain NAME] [--session ID] [--limit N (0: all)] [--json]\n"
		    "  T: 2026-11-22T22:40:00Z, 2026-11-22, @EPOCH, or an age (90s, 30m, 2h, "
		    "7d)\n"
		    "  the newest N sessions that match, oldest first\n");
		return r > 0 ? 0 : 2;
	}
	if (q.bpf || q.out) {
		fprintf(stderr, "sinktrap: sessions lists sessions: --%s is for pcap\n",
		        q.bpf ? "bpf" : "write");
		return 2;
	}
	struct config *c = load_config(q.conf);
	if (c == NULL)
		return 2;
	sqlite3 *db = db_open_ro(c);
	if (db == NULL) {
		fprintf(stderr,
		        "sinktrap: no session database in %s (has sinktrap stored anything?)\n",
		        c->state_dir);
		config_free(c);
		return 1;
	}
	char sql[4096];
	snprintf(sql, sizeof(sql), "SELECT " SESSION_COLUMNS " FROM sessions");
	where_clause(&q, sql, sizeof(sql));
	size_t n = strlen(sql);
	if (q.limit > 0)
		snprintf(sql + n, sizeof(sql) - n,
		         " ORDER BY start_ts DESC, flow_id DESC LIMIT %ld", q.limit);
	else
		snprintf(sql + n, sizeof(sql) - n, " ORDER BY start_ts, flow_id");
	/* the newest N, shown oldest first */
	char outer[4400];
	if (q.limit > 0)
		snprintf(outer, sizeof(outer), "SELECT * FROM (%s) ORDER BY start_ts, flow_id",
		         sql);
	else
		snprintf(outer, sizeof(outer), "%s", sql);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, outer, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "sinktrap: query: %s\n", sqlite3_errmsg(db));
		sqlite3_close(db);
		config_free(c);
		return 1;
	}
	bind_query(&q, st);
	struct strbuf b;
	strbuf_init(&b);
	long rows = 0;
	if (!q.json)
		printf("%-17s %-23s %9s %-9s %-41s %-41s %9s %11s %-6s %-8s %-30s %s\n",
		       "SESSION", "START (UTC)", "DURATION", "PROTO", "SOURCE", "DESTINATION",
		       "PACKETS", "BYTES", "STATE", "END", "COMMUNITY ID", "DOMAIN");
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rows++;
		if (q.json) {
			strbuf_reset(&b);
			json_row(st, &b);
			fwrite(b.data, 1, b.len, stdout);
			continue;
		}
		char start[40], src[64], dst[64];
		fmt_time(sqlite3_column_int64(st, C_START), start, sizeof(start));
		endpoint(st, C_SRC, C_SPORT, src, sizeof(src));
		endpoint(st, C_DST, C_DPORT, dst, sizeof(dst));
		double dur = (double)(sqlite3_column_int64(st, C_END) -
		                      sqlite3_column_int64(st, C_START)) /
		             1e6;
		long long pk =
		    sqlite3_column_int64(st, C_PKTS_TS) + sqlite3_column_int64(st, C_PKTS_TC);
		long long by =
		    sqlite3_column_int64(st, C_BYTES_TS) + sqlite3_column_int64(st, C_BYTES_TC);
		char endr[24];
		snprintf(endr, sizeof(endr), "%s%s", col_text(st, C_REASON),
		         sqlite3_column_int(st, C_EXPIRED) ? "*" : "");
		const char *dom = col_text(st, C_DOMAIN);
		printf("%-17lld %-23s %9.3f %-9s %-41s %-41s %9lld %11lld %-6s %-8s %-30s %s\n",
		       (long long)sqlite3_column_int64(st, C_FLOW_ID), start, dur,
		       col_text(st, C_PROTO), src, dst, pk, by, col_text(st, C_CONN_STATE),
		       endr, col_text(st, C_CID), *dom ? dom : "-");
	}
	if (rc != SQLITE_DONE)
		fprintf(stderr, "sinktrap: query: %s\n", sqlite3_errmsg(db));
	if (!q.json)
		printf("%ld session%s%s\n", rows, rows == 1 ? "" : "s",
		       rows && rows == q.limit ? " (--limit reached: the newest shown)" : "");
	strbuf_free(&b);
	sqlite3_finalize(st);
	sqlite3_close(db);
	config_free(c);
	return rc == SQLITE_DONE ? 0 : 1;
}

/* ---------------------------------------------------------------- pcap */

/* A session to find: its key (initiator first), window and files. */
struct target {
	uint64_t flow_id;
	struct decode_key key;
	int ports; /* the key's ports are known (TCP, UDP, SCTP; ICMP once matched) */
	int64_t lo_ns, hi_ns;
	uint32_t seq_first, seq_last; /* 0 = any file */
	char cid[COMMUNITYID_STRLEN];
};

/*
 * The packets to write from a file are named by their offsets in it, taken in
 * file order a window at a time: a window is the next offsets above the last
 * one written (at most want of them, sorted, without repeats), and the next
 * window is found again the way the first was (the file's index walked, or
 * the capture scanned) when the merge has written this one. A window has room
 * for twice want offsets: the other half gathers them while it is found. What
 * a download holds thus stays bounded however many packets it writes:
 * PCAP_WIN_TOTAL offsets of room for the windows of all files together (a
 * file whose packets go out beside another's takes a fair share of it, never
 * less than PCAP_WIN_MIN; a file not reached yet keeps its first window, cut
 * to what PCAP_WIN_FIRST leaves when the others hold the rest), at the cost
 * of a walk of the index (or a scan) per window. A result within one window
 * is found in one walk, as it always was.
 */
#ifndef PCAP_WIN_TOTAL
#define PCAP_WIN_TOTAL ((size_t)1024 * 1024) /* 8 MiB: windows of 512 Ki offsets */
#endif
#ifndef PCAP_WIN_MIN
#define PCAP_WIN_MIN ((size_t)8192)
#endif
#ifndef PCAP_WIN_FIRST
#define PCAP_WIN_FIRST ((size_t)32) /* the 16 packets prefetch_source asks for */
#endif

/* How a file's windows are found. */
enum {
	SEL_NONE,    /* none: no packets wanted from it */
	SEL_INDEX,   /* its index, as select_indexed walks it */
	SEL_SESSION, /* its index, one flow (session_by_index) */
	SEL_SCAN,    /* a scan of the capture (j->scans) */
};

/* A spool file and the window of the offsets of its packets to write. */
struct source {
	struct spool_file f;
	char path[4200];
	uint64_t *offs; /* the window: increasing, above floor */
	size_t n, cap;
	size_t want;    /* the window's size */
	uint64_t floor; /* with have_floor: offsets up to it went in earlier windows */
	uint64_t ceil;  /* with full: the window overflowed, only offsets below it fit */
	int have_floor, full;
	int active; /* has found a window beyond its first (counted in j->nactive) */
	int how;    /* SEL_ */
	int ifd;    /* SEL_INDEX, SEL_SESSION: its index, kept for the next windows; -1 */
	struct index_info info; /* ... as the first window read it */
	size_t scan;            /* SEL_SCAN: its place in j->scans */
	struct pcapfile_reader *r;
	size_t pos;
	struct pcapfile_pkt cur;
	int have;
	int ns; /* has nanosecond (or pcapng) timestamps */
};

/*
 * A capture scanned for the first windows, in the order scanned: the scans
 * share their fragment map and clock (a fragment's first may be in the file
 * before), so a later window of one is found by scanning those before it
 * again, as they were (the same bytes: the file kept open, its end as the
 * first scan found it).
 */
struct scan_rec {
	int fd;       /* -1: read by its path */
	uint64_t end; /* the end of what the first scan read */
	char path[4200];
};

struct pcapjob {
	struct query q;
	struct target *t;
	size_t nt, capt;
	struct source *src;
	size_t nsrc;
	char spool[4096];
	uint64_t scanned_files;
	uint16_t cid_seed;        /* [capture] community_id_seed, as the indexes have it */
	struct flow_frags *frags; /* scans: later fragments get their first one's ports */
	struct flow_clock clock;  /* scans: the time frags keeps, as the flow table's */
	size_t held;              /* offsets the windows of all sources have room for */
	size_t nactive;           /* sources with active set */
	struct scan_rec *scans;
	size_t nscans;
	int scanning_again;  /* scans are run again: past the first windows */
	int64_t clock_start; /* the scans' first clock time */
	int64_t shift;       /* added to the clock given to frags (scan_again) */
	int64_t frags_max;   /* the latest time given to frags */
	int failed;          /* a later window could not be found: the output is cut */
	uint64_t unreadable; /* wanted packets whose record could not be read: left out */
};

/* Unreadable packets named one by one; the rest are counted at the end. */
#define UNREADABLE_SAID 10

static void source_init(struct source *s)
{
	memset(s, 0, sizeof(*s));
	s->ifd = -1;
}

/* Room for cap offsets in s's window (0: none), counted in j->held. */
static void win_room(struct pcapjob *j, struct source *s, size_t cap)
{
	if (cap == s->cap)
		return;
	j->held = j->held - s->cap + cap;
	if (cap == 0) {
		free(s->offs);
		s->offs = NULL;
	} else {
		s->offs = xreallocarray(s->offs, cap, sizeof(*s->offs));
	}
	s->cap = cap;
	if (s->n > cap)
		s->n = cap;
}

static void set_active(struct pcapjob *j, struct source *s, int on)
{
	if (s->active != on)
		j->nactive = on ? j->nactive + 1 : j->nactive - 1;
	s->active = on;
}

/* The room of s's next window: a fair share of what the others leave, at least least. */
static size_t win_share(const struct pcapjob *j, const struct source *s, size_t least)
{
	size_t others = j->held - s->cap;
	size_t busy = j->nactive - (s->active ? 1 : 0);
	size_t share = PCAP_WIN_TOTAL / (1 + busy);
	size_t left = others < PCAP_WIN_TOTAL ? PCAP_WIN_TOTAL - others : 0;
	size_t want = share < left ? share : left;
	return want > least ? want : least;
}

/*
 * Offsets sorted and selected in place, taking no memory beyond the window's
 * (the C library's qsort takes a copy's worth): introsort, quicksort with a
 * heapsort past a depth, and the same partition to select.
 */
static void u64_swap(uint64_t *a, uint64_t *b)
{
	uint64_t t = *a;
	*a = *b;
	*b = t;
}

static void u64_sift(uint64_t *a, size_t n, size_t i)
{
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			return;
		if (c + 1 < n && a[c + 1] > a[c])
			c++;
		if (a[i] >= a[c])
			return;
		u64_swap(&a[i], &a[c]);
		i = c;
	}
}

static void u64_heapsort(uint64_t *a, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		u64_sift(a, n, i);
	for (size_t e = n; e-- > 1;) {
		u64_swap(&a[0], &a[e]);
		u64_sift(a, e, 0);
	}
}

static void u64_insertion(uint64_t *a, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		uint64_t v = a[i];
		size_t k = i;
		for (; k > 0 && a[k - 1] > v; k--)
			a[k] = a[k - 1];
		a[k] = v;
	}
}

/* Hoare's partition of a[0..n), n > 16, around the median of three (put in the
 * middle): every one of a[0..p) is at most every one of a[p..n), 0 < p < n. */
static size_t u64_split(uint64_t *a, size_t n)
{
	size_t mid = (n - 1) / 2;
	if (a[mid] < a[0])
		u64_swap(&a[mid], &a[0]);
	if (a[n - 1] < a[mid]) {
		u64_swap(&a[n - 1], &a[mid]);
		if (a[mid] < a[0])
			u64_swap(&a[mid], &a[0]);
	}
	uint64_t piv = a[mid];
	size_t i = 0, j = n - 1;
	for (;;) {
		while (a[i] < piv)
			i++;
		while (a[j] > piv)
			j--;
		if (i >= j)
			return j + 1;
		u64_swap(&a[i], &a[j]);
		i++;
		j--;
	}
}

static int u64_depth(size_t n)
{
	int d = 0;
	while (n >>= 1)
		d += 2;
	return d;
}

static void u64_sort(uint64_t *a, size_t n)
{
	int depth = u64_depth(n);
	while (n > 16) {
		if (depth-- == 0) {
			u64_heapsort(a, n);
			return;
		}
		size_t p = u64_split(a, n);
		if (p < n - p) {
			u64_sort(a, p);
			a += p;
			n -= p;
		} else {
			u64_sort(a + p, n - p);
			n = p;
		}
	}
	u64_insertion(a, n);
}

/* The k smallest of a[0..n) (k < n) into a[0..k), in no order. */
static void u64_select(uint64_t *a, size_t n, size_t k)
{
	int depth = u64_depth(n);
	while (n > 16) {
		if (depth-- == 0)
			break;
		size_t p = u64_split(a, n);
		if (k == p)
			return;
		if (k < p) {
			n = p;
		} else {
			a += p;
			n -= p;
			k -= p;
		}
	}
	u64_sort(a, n);
}

/* Past want offsets, keep the want smallest: the window is full, and only offsets
 * below the largest kept (ceil) fit in it now. */
static void win_cut(struct source *s)
{
	if (s->n <= s->want)
		return;
	u64_select(s->offs, s->n, s->want);
	s->n = s->want;
	s->full = 1;
	s->ceil = s->offs[0];
	for (size_t k = 1; k < s->n; k++)
		if (s->offs[k] > s->ceil)
			s->ceil = s->offs[k];
}

/* The window in order, without repeats. */
static void win_trim(struct source *s)
{
	win_cut(s);
	u64_sort(s->offs, s->n);
	size_t u = 0;
	for (size_t k = 0; k < s->n; k++)
		if (u == 0 || s->offs[k] != s->offs[u - 1])
			s->offs[u++] = s->offs[k];
	s->n = u;
}

/* An offset wanted from s (NULL: none wanted, a scan run again for its fragments). */
static void add_off(struct pcapjob *j, struct source *s, uint64_t off)
{
	if (s == NULL || (s->have_floor && off <= s->floor) || (s->full && off >= s->ceil))
		return;
	if (s->n == s->cap) {
		if (s->cap < 2 * s->want) {
			size_t cap = s->cap ? s->cap * 2 : 256;
			win_room(j, s, cap < 2 * s->want ? cap : 2 * s->want);
		} else {
			win_cut(s); /* room again: want are kept of 2 * want */
			if (s->full && off >= s->ceil)
				return;
		}
	}
	s->offs[s->n++] = off;
}

/* Start finding a window in room for room offsets (above floor when have_floor). */
static void win_begin(struct source *s, size_t room)
{
	s->n = s->pos = 0;
	s->full = 0;
	s->want = room / 2 ? room / 2 : 1;
}

/* The window found: sorted, without repeats. One that holds all that is left of
 * its file keeps no more room than it fills; one with more after it keeps its
 * room for the next (the same memory, window after window). Whether it has any. */
static int win_end(struct pcapjob *j, struct source *s)
{
	win_trim(s);
	if (!s->full)
		win_room(j, s, s->n);
	return s->n > 0;
}

/* A span's address against (family, a): both zero past the address's bytes
 * (addr_parse_ip, decode_key). */
static int dom_addr_cmp(const struct dom_addr *d, int family, const uint8_t *a)
{
	if (d->family != family)
		return d->family < family ? -1 : 1;
	return memcmp(d->a, a, 16);
}

/* The domain's spans in address order (then time), so a flow's address is
 * looked up, not compared with every span a recycling pool left. */
static int dom_cmp(const void *pa, const void *pb)
{
	const struct dom_addr *a = pa, *b = pb;
	int c = dom_addr_cmp(a, b->family, b->a);
	if (c)
		return c;
	return a->since_ns < b->since_ns ? -1 : a->since_ns > b->since_ns;
}

/* Whether the domain held address a (of family 4 or 6) at time t. */
static int dom_holds(const struct query *q, int family, const uint8_t *a, int64_t t)
{
	size_t lo = 0, hi = q->ndom;
	while (lo < hi) { /* the first span of (family, a) or after */
		size_t mid = lo + (hi - lo) / 2;
		if (dom_addr_cmp(&q->dom[mid], family, a) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < q->ndom && !dom_addr_cmp(&q->dom[i], family, a); i++)
		if (t >= q->dom[i].since_ns && t < q->dom[i].until_ns)
			return 1;
	return 0;
}

static int key_eq_dir(const struct decode_key *k, const struct target *t, int rev)
{
	const struct decode_key *a = &t->key;
	if (k->family != a->family || k->proto != a->proto || k->vlan[0] != a->vlan[0] ||
	    k->vlan[1] != a->vlan[1])
		return 0;
	const uint8_t *s = rev ? a->dst : a->src, *d = rev ? a->src : a->dst;
	if (memcmp(k->src, s, 16) || memcmp(k->dst, d, 16))
		return 0;
	if (!t->ports)
		return 1;
	uint16_t sp = rev ? a->dport : a->sport, dp = rev ? a->sport : a->dport;
	return k->sport == sp && k->dport == dp;
}

/*
 * A session's row has no ports for ICMP, but the flow table keys ICMP by type
 * and its counterpart (or code), as the session's Community ID (seed: the
 * configured one) does: a packet whose key gives that Community ID is the
 * session's, and its key's ports are the session's from then on. Other ICMP
 * between the same hosts (an unreachable beside an echo) is another session.
 */
static int key_matches(const struct decode_key *k, struct target *t, uint16_t seed)
{
	char cid[COMMUNITYID_STRLEN];
	if (!key_eq_dir(k, t, 0) && !key_eq_dir(k, t, 1))
		return 0;
	if (t->ports || (t->key.proto != 1 && t->key.proto != 58) || !t->cid[0])
		return 1;
	if (communityid_compute(seed, k->family, k->src, k->dst, k->proto, k->sport, k->dport,
	                        cid) < 0 ||
	    strcmp(cid, t->cid))
		return 0;
	int rev = memcmp(k->src, t->key.src, 16) != 0;
	t->key.sport = rev ? k->dport : k->sport;
	t->key.dport = rev ? k->sport : k->dport;
	t->ports = 1;
	return 1;
}

/*
 * The filter of --host/--port... on a flow key. For --domain: first_ns, when
 * the flow (or the packet) was seen first; either_end, a packet's key (its
 * own direction) rather than a flow's (initiator first, and a sinkhole
 * address is the responder).
 */
static int key_filter(const struct query *q, const struct decode_key *k, int64_t first_ns,
                      int either_end)
{
	if (q->host) {
		int fam = q->host_family;
		size_t alen = fam == 4 ? 4 : 16;
		if (k->family != fam ||
		    (memcmp(k->src, q->host_bin, alen) && memcmp(k->dst, q->host_bin, alen)))
			return 0;
	}
	if (q->port >= 0) {
		if (!communityid_has_ports(k->proto) || k->proto == 1 || k->proto == 58)
			return 0;
		if (k->sport != q->port && k->dport != q->port)
			return 0;
	}
	if (q->proto >= 0 && k->proto != q->proto)
		return 0;
	if (q->have_net) {
		int fam = q->net.family == AF_INET ? 4 : 6;
		if (k->family != fam ||
		    (!prefix_contains(&q->net, k->src) && !prefix_contains(&q->net, k->dst)))
			return 0;
	}
	if (q->domain) {
		/* to an address of the domain, while it was the domain's (as
		 * sessions --domain: what went to an address while the pool had
		 * given it to another name is that name's) */
		if (!dom_holds(q, k->family, k->dst, first_ns) &&
		    !(either_end && dom_holds(q, k->family, k->src, first_ns)))
			return 0;
	}
	return 1;
}

static int filter_mode(const struct pcapjob *j)
{
	return !j->q.have_session && !j->q.cid;
}

/* A session row into a target. */
static int target_from_row(sqlite3_stmt *st, struct target *t, const char *spool)
{
	memset(t, 0, sizeof(*t));
	t->flow_id = (uint64_t)sqlite3_column_int64(st, C_FLOW_ID);
	snprintf(t->cid, sizeof(t->cid), "%s", col_text(st, C_CID));
	const char *s = col_text(st, C_SRC), *d = col_text(st, C_DST);
	if (inet_pton(AF_INET, s, t->key.src) == 1 && inet_pton(AF_INET, d, t->key.dst) == 1)
		t->key.family = 4;
	else if (inet_pton(AF_INET6, s, t->key.src) == 1 &&
	         inet_pton(AF_INET6, d, t->key.dst) == 1)
		t->key.family = 6;
	else
		return -1;
	int proto = proto_of_text(col_text(st, C_PROTO));
	if (proto < 0)
		return -1;
	t->key.proto = (uint8_t)proto;
	t->ports = sqlite3_column_type(st, C_SPORT) != SQLITE_NULL;
	t->key.sport = (uint16_t)sqlite3_column_int(st, C_SPORT);
	t->key.dport = (uint16_t)sqlite3_column_int(st, C_DPORT);
	const char *v = col_text(st, C_VLAN);
	if (*v) {
		unsigned a = 0, b = 0;
		sscanf(v, "%u,%u", &a, &b);
		t->key.vlan[0] = (uint16_t)a;
		t->key.vlan[1] = (uint16_t)b;
	}
	t->lo_ns = sqlite3_column_int64(st, C_START) * 1000;
	t->hi_ns = sqlite3_column_int64(st, C_END) * 1000 + 999;
	struct spool_file f;
	if (spool_name_parse(col_text(st, C_FIRST), &f) == 0)
		t->seq_first = f.seq;
	if (spool_name_parse(col_text(st, C_LAST), &f) == 0)
		t->seq_last = f.seq;
	(void)spool;
	return 0;
}

/* Sessions from the store for --session / --community-id. Returns how many, or -1. */
static int load_targets(struct pcapjob *j, const struct config *c, int *expired)
{
	sqlite3 *db = db_open_ro(c);
	*expired = 0;
	if (db == NULL)
		return 0;
	struct query q;
	query_init(&q);
	q.have_session = j->q.have_session;
	q.session = j->q.session;
	q.cid = j->q.cid;
	char sql[4096];
	snprintf(sql, sizeof(sql), "SELECT " SESSION_COLUMNS " FROM sessions");
	where_clause(&q, sql, sizeof(sql));
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "sinktrap: query: %s\n", sqlite3_errmsg(db));
		sqlite3_close(db);
		return -1;
	}
	bind_query(&q, st);
	int n = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct target t;
		if (target_from_row(st, &t, j->spool) < 0)
			continue;
		if (sqlite3_column_int(st, C_EXPIRED))
			(*expired)++;
		if (j->nt == j->capt) {
			j->capt = j->capt ? j->capt * 2 : 8;
			j->t = xreallocarray(j->t, j->capt, sizeof(*j->t));
		}
		j->t[j->nt++] = t;
		n++;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/*
 * pcap --domain: the addresses the sinkhole map gave the domain (or a
 * subdomain, as sessions --domain reads it), with when it held each, into
 * j->q.dom. How many, or -1.
 */
static int load_domain(struct pcapjob *j, const struct config *c)
{
	sqlite3 *db = db_open_ro(c);
	if (db == NULL)
		return 0;
	struct query q;
	query_init(&q);
	q.domain = j->q.domain;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db,
	                       "SELECT address, held_from, held_until FROM "
	                       "sinkhole_map_spans h WHERE " DOMAIN_UNDER("h.domain"),
	                       -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "sinktrap: query: %s\n", sqlite3_errmsg(db));
		sqlite3_close(db);
		return -1;
	}
	bind_query(&q, st);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct dom_addr d;
		int fam = addr_parse_ip(col_text(st, 0), d.a);
		if (fam == 0)
			continue;
		d.family = fam == AF_INET ? 4 : 6;
		d.since_ns = sqlite3_column_int64(st, 1) * 1000;
		d.until_ns = sqlite3_column_type(st, 2) == SQLITE_NULL
		                 ? INT64_MAX
		                 : sqlite3_column_int64(st, 2) * 1000;
		if ((j->q.ndom & (j->q.ndom - 1)) == 0) /* 0, 1, 2, 4...: doubled */
			j->q.dom = xreallocarray(j->q.dom, j->q.ndom ? 2 * j->q.ndom : 1,
			                         sizeof(*j->q.dom));
		j->q.dom[j->q.ndom++] = d;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	if (j->q.ndom > 1)
		qsort(j->q.dom, j->q.ndom, sizeof(*j->q.dom), dom_cmp);
	return (int)j->q.ndom;
}

/* Whether a file may hold packets of a target (or of the filter). */
static int file_wanted(const struct pcapjob *j, const struct spool_file *f)
{
	if (filter_mode(j))
		return 1;
	if (j->nt == 0)
		return 1; /* not in the store: every file is searched */
	for (size_t i = 0; i < j->nt; i++) {
		const struct target *t = &j->t[i];
		if (t->seq_first == 0 || (f->seq >= t->seq_first && f->seq <= t->seq_last))
			return 1;
	}
	return 0;
}

struct walk {
	struct pcapjob *j;
	struct source *s;
	int rebuilt;
};

static int add_flow_offsets(struct pcapjob *j, struct source *s, const struct index_flow *fl,
                            const uint64_t *offs)
{
	for (uint32_t i = 0; i < fl->npkts; i++)
		add_off(j, s, offs[i]);
	return 0;
}

/* index_reader_foreach callback of the filter mode, and of targets in a rebuilt index. */
static int walk_flow(void *arg, const struct index_flow *fl, const uint64_t *offs)
{
	struct walk *w = arg;
	struct pcapjob *j = w->j;
	if (filter_mode(j)) {
		if (fl->last_ns < j->q.since_ns || fl->first_ns > j->q.until_ns)
			return 0;
		/* the index widens a flow's first time to the millisecond */
		if (!key_filter(&j->q, &fl->key, fl->first_ns + 1000000, 0))
			return 0;
		return add_flow_offsets(w->j, w->s, fl, offs);
	}
	for (size_t i = 0; i < j->nt; i++) {
		struct target *t = &j->t[i];
		if (fl->last_ns < t->lo_ns - 1000000 || fl->first_ns > t->hi_ns + 1000000)
			continue;
		if (key_matches(&fl->key, t, j->cid_seed))
			return add_flow_offsets(w->j, w->s, fl, offs);
	}
	return 0;
}

static int walk_cid(void *arg, const struct index_flow *fl, const uint64_t *offs)
{
	struct walk *w = arg;
	return add_flow_offsets(w->j, w->s, fl, offs);
}

/* Whether a packet of key k (its ports as the flow table keys it) at ts_ns is wanted: its
 * offset is then taken. */
static void scan_match(struct pcapjob *j, struct source *s, const struct decode_key *k,
                       int64_t ts_ns, uint64_t offset)
{
	if (s == NULL)
		return;
	if (filter_mode(j)) {
		if (key_filter(&j->q, k, ts_ns, 1))
			add_off(j, s, offset);
		return;
	}
	if (j->nt == 0) {
		/* --community-id without a session row */
		char cid[COMMUNITYID_STRLEN];
		if (communityid_compute(j->cid_seed, k->family, k->src, k->dst, k->proto,
		                        k->sport, k->dport, cid) == 0 &&
		    !strcmp(cid, j->q.cid))
			add_off(j, s, offset);
		return;
	}
	for (size_t i = 0; i < j->nt; i++) {
		struct target *t = &j->t[i];
		if (ts_ns >= t->lo_ns && ts_ns <= t->hi_ns && key_matches(k, t, j->cid_seed)) {
			add_off(j, s, offset);
			return;
		}
	}
}

/* The fragments the map holds no longer, matched with the key they have now (their first
 * fragment's ports, or their own at their bound): their offsets are sorted afterwards.
 * How many. */
static size_t scan_held(struct pcapjob *j, struct source *s, int64_t now_ns)
{
	struct flow_frag_held h;
	size_t n = 0;
	while (flow_frags_take(j->frags, now_ns, &h)) {
		scan_match(j, s, &h.key, h.ts_ns, h.tag);
		n++;
	}
	return n;
}

/* The scans' clock as frags is given it: moved on by j->shift for a scan run again. */
static int64_t frags_now(struct pcapjob *j, int64_t now)
{
	int64_t t;
	if (__builtin_add_overflow(now, j->shift, &t))
		t = INT64_MAX;
	if (t > j->frags_max)
		j->frags_max = t;
	return t;
}

/*
 * A file without a usable index: every packet is decoded and matched into s
 * (NULL: nothing is taken, the scan keeps the fragment map and clock up only),
 * a later fragment that comes before its first held for it as the flow table
 * holds it (flow_frags). The first scan of a file reads it to its end and
 * notes where that was; a scan run again reads as far, and the one finding
 * s's window stops once past it with no fragment held. 0, or -1 when the file
 * cannot be read.
 */
static int scan_run(struct pcapjob *j, struct source *s, struct scan_rec *rec)
{
	struct pcapfile_reader *r = NULL;
	struct pcapfile_pkt p;
	char err[256], fdp[FD_PATH_MAX];
	if (j->frags == NULL && flow_frags_new(&j->frags) < 0)
		return -1;
	int rc = -1;
	if (rec->fd >= 0) {
		rc = pcapfile_reader_open_file(&r, fd_path(rec->fd, fdp), err, sizeof(err));
	}
	if (rc < 0 && pcapfile_reader_open_file(&r, rec->path, err, sizeof(err)) < 0)
		return -1;
	pcapfile_reader_set_lenient(r, 1);
	if (j->scanning_again)
		pcapfile_reader_set_limit(r, rec->end);
	size_t held = 0; /* fragments frags holds: those not taken back */
	while (pcapfile_reader_next(r, &p) == 1) {
		struct decode_pkt d;
		struct decode_key k;
		if (decode_packet(p.linktype, p.data, p.caplen, &d) < 0 ||
		    decode_key_get(&d, &k) < 0)
			continue;
		struct flow_frag_held hold = {
		    .ts_ns = p.ts_ns, .wirelen = p.origlen, .tag = p.offset};
		/* keyed as the flow table keys it, in its order and by its clock (one that
		 * only moves forward, whatever the timestamps do): those past their time,
		 * the packet (unless held), then those it joined or let go to make room */
		int started = j->clock.set;
		int64_t now = flow_clock_observe(&j->clock, p.ts_ns);
		if (!started && !j->scanning_again)
			j->clock_start = now;
		now = frags_now(j, now);
		held -= scan_held(j, s, now);
		if (flow_frags_ports(j->frags, &d, now, &k, &hold))
			held++;
		else
			scan_match(j, s, &k, p.ts_ns, p.offset);
		held -= scan_held(j, s, now);
		/* past a full window, nothing held: what follows is beyond it */
		if (s && j->scanning_again && s->full && p.offset >= s->ceil && held == 0)
			break;
	}
	if (!j->scanning_again)
		rec->end = pcapfile_reader_offset(r);
	/* as the recorder does at the end of a file: those still held go as they are */
	flow_frags_release(j->frags, FLOW_FILE_ANY);
	scan_held(j, s, INT64_MIN);
	pcapfile_reader_close(&r);
	return 0;
}

/* The first scan of s's capture (kept open for later windows), noted in j->scans. */
static int scan_first(struct pcapjob *j, struct source *s)
{
	j->scanned_files++;
	j->scans = xreallocarray(j->scans, j->nscans + 1, sizeof(*j->scans));
	struct scan_rec *rec = &j->scans[j->nscans];
	rec->fd = open(s->path, O_RDONLY | O_CLOEXEC);
	rec->end = 0;
	snprintf(rec->path, sizeof(rec->path), "%s", s->path);
	if (scan_run(j, s, rec) < 0) {
		if (rec->fd >= 0)
			close(rec->fd);
		return -1;
	}
	s->scan = j->nscans++;
	return 0;
}

/*
 * A later window of a scanned capture: the scans before it run again, then its
 * own, from the state the first scans started in: a new clock, and times given
 * to frags moved past all it was given, so that what its map keeps from before
 * has expired (its hash keys, and with them which datagrams share a slot, stay).
 */
static int scan_again(struct pcapjob *j, struct source *s)
{
	int64_t shift;
	memset(&j->clock, 0, sizeof(j->clock));
	if (__builtin_sub_overflow(j->frags_max, j->clock_start, &shift) ||
	    __builtin_add_overflow(shift, 3600 * NS, &shift) || shift < 0) {
		/* times beyond any clock: a map of its own */
		flow_frags_free(&j->frags);
		shift = 0;
	}
	j->shift = shift;
	for (size_t i = 0; i < s->scan; i++)
		if (scan_run(j, NULL, &j->scans[i]) < 0)
			return -EIO;
	return scan_run(j, s, &j->scans[s->scan]) < 0 ? -EIO : 0;
}

/* The offsets of the packets wanted from one file, through its index. 0, or
 * the index's error (the offsets taken are then incomplete). */
static int select_indexed(struct pcapjob *j, struct source *s, struct index_reader *ir)
{
	struct index_info info;
	int rc = 0;
	index_reader_info(ir, &info);
	struct walk w = {j, s, (info.flags & INDEX_F_REBUILT) != 0};
	if (filter_mode(j)) {
		if (info.npkts &&
		    (info.last_ns >= j->q.since_ns && info.first_ns <= j->q.until_ns))
			rc = index_reader_foreach(ir, walk_flow, &w);
	} else if (j->nt == 0) {
		/* not in the store: the spool's own indexes */
		if (j->q.cid)
			rc = index_reader_find_cid(ir, j->q.cid, walk_cid, &w);
		if (rc == 0 && j->q.have_session) {
			struct index_flow fl;
			const uint64_t *offs;
			rc = index_reader_find(ir, j->q.session, &fl, &offs);
			if (rc == 0)
				add_flow_offsets(j, s, &fl, offs);
		}
	} else if (w.rebuilt) {
		/* flow ids of a rescan are its own: match by key and time */
		rc = index_reader_foreach(ir, walk_flow, &w);
	} else {
		for (size_t i = 0; i < j->nt && (rc == 0 || rc == -ENOENT); i++) {
			struct index_flow fl;
			const uint64_t *offs;
			const struct target *t = &j->t[i];
			if (t->seq_first && (s->f.seq < t->seq_first || s->f.seq > t->seq_last))
				continue;
			rc = index_reader_find(ir, t->flow_id, &fl, &offs);
			if (rc == 0)
				add_flow_offsets(j, s, &fl, offs);
		}
	}
	return rc == -ENOENT ? 0 : rc;
}

/* The first window of one file. */
static void select_file(struct pcapjob *j, struct source *s)
{
	char idx[4300], err[256];
	struct index_reader *ir = NULL;
	err[0] = '\0';
	if (!s->f.part && s->f.indexed) {
		snprintf(idx, sizeof(idx), "%s.idx", s->path);
		if (index_reader_open(&ir, idx, err, sizeof(err)) < 0)
			ir = NULL;
	}
	if (ir != NULL) {
		int rc = select_indexed(j, s, ir);
		if (rc == 0) {
			s->how = SEL_INDEX;
			index_reader_info(ir, &s->info);
			index_reader_close(&ir);
			return;
		}
		/* a corrupt block must not hide packets: the capture has them all */
		const char *why = index_reader_error(ir);
		snprintf(err, sizeof(err), "%s", *why ? why : strerror(-rc));
		index_reader_close(&ir);
		s->n = 0; /* the window found again, by the scan */
		s->full = 0;
	}
	if (!filter_mode(j) && j->nt == 0 && j->q.cid == NULL) {
		/* a session id unknown to the store: only indexes know ids */
		if (err[0])
			fprintf(stderr,
			        "sinktrap: %s: %s; its packets of session %" PRIu64
			        " (if any) cannot be found\n",
			        idx, err, j->q.session);
		return;
	}
	if (err[0])
		fprintf(stderr, "sinktrap: %s: %s; reading the capture instead\n", idx, err);
	s->how = SEL_SCAN;
	if (scan_first(j, s) < 0)
		fprintf(stderr, "sinktrap: %s: cannot be read\n", s->f.name);
}

/* The first window found: when more are to come from an index, it is kept open for them. */
static void win_first_found(struct source *s)
{
	if (s->full && (s->how == SEL_INDEX || s->how == SEL_SESSION) && s->ifd < 0) {
		char idx[4300];
		snprintf(idx, sizeof(idx), "%s.idx", s->path);
		s->ifd = open(idx, O_RDONLY | O_CLOEXEC);
	}
}

/* What a source holds let go: its window, its reader, its index. */
static void source_free(struct pcapjob *j, struct source *s)
{
	win_room(j, s, 0);
	s->n = s->pos = 0;
	s->full = 0;
	set_active(j, s, 0);
	pcapfile_reader_close(&s->r);
	if (s->ifd >= 0)
		close(s->ifd);
	s->ifd = -1;
}

/* Ask the kernel to start reading len bytes at off of path now, so that reads
 * of several files (or places) wait for the disk together, not in turn. */
static void prefetch(const char *path, uint64_t off, uint64_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	posix_fadvise(fd, (off_t)off, (off_t)len, POSIX_FADV_WILLNEED);
	close(fd);
}

/* The pieces of a source its reader takes first: the header's and those of
 * the first packets (16 KB each, as the reader reads), one open for them all
 * and one request per run of pieces that touch. offs are in file order. */
#define SOURCE_PIECE 16384
static void prefetch_source(const char *path, const uint64_t *offs, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	uint64_t start = 0, end = SOURCE_PIECE;
	for (size_t k = 0; k < n && k < 16; k++) {
		if (offs[k] <= end) {
			if (offs[k] + SOURCE_PIECE > end)
				end = offs[k] + SOURCE_PIECE;
			continue;
		}
		posix_fadvise(fd, (off_t)start, (off_t)(end - start), POSIX_FADV_WILLNEED);
		start = offs[k];
		end = start + SOURCE_PIECE;
	}
	posix_fadvise(fd, (off_t)start, (off_t)(end - start), POSIX_FADV_WILLNEED);
	close(fd);
}

/* The index header and block table of every file (64 KB holds the table of
 * a 1 GB file's index many times over), all at once. */
#define INDEX_HEAD_PREFETCH 65536

/*
 * --session ID from the spool's indexes alone, without the store: opening
 * SQLite and reading its schema was most of the command's time. The index of
 * a finished file holds every packet that file has of each of its flows, by
 * flow id, so every indexed file is asked (its block table says in one
 * binary search). What the indexes cannot vouch for is a file without one
 * of the capture run's own: a file being written, one a crash left
 * unindexed, one whose index was rebuilt (ids of the rescan's own). The
 * store is left out only when the id is found and no such file can hold
 * more of its packets: no file of the last two kinds, and files being
 * written only if their first packet is later than the flow's last indexed
 * packet plus the longest a flow can stay idle (flow_config_longest_idle_ns:
 * a packet after that starts another flow). Returns 1 with the sources filled,
 * or 0, with nothing kept, to ask the store.
 */
static int session_by_index(struct pcapjob *j, const struct config *c,
                            const struct spool_file *files, size_t nfiles)
{
	struct source *src = xcalloc(nfiles ? nfiles : 1, sizeof(*src));
	size_t nsrc = 0;
	int64_t last_ns = INT64_MIN;
	int ok = 1;
	for (size_t i = 0; i < nfiles; i++) {
		char path[4300];
		if (files[i].part || !files[i].indexed)
			continue;
		snprintf(path, sizeof(path), "%s/%s.idx", j->spool, files[i].name);
		prefetch(path, 0, INDEX_HEAD_PREFETCH);
	}
	for (size_t i = 0; i < nfiles && ok; i++) {
		if (files[i].part)
			continue; /* after the flow's last packet is known */
		char path[4300], err[256];
		snprintf(path, sizeof(path), "%s/%s.idx", j->spool, files[i].name);
		struct index_reader *ir = NULL;
		if (!files[i].indexed || index_reader_open(&ir, path, err, sizeof(err)) < 0) {
			ok = 0;
			break;
		}
		struct index_info info;
		index_reader_info(ir, &info);
		struct index_flow fl;
		const uint64_t *offs;
		int rc = -ENOENT;
		if (info.flags & INDEX_F_REBUILT ||
		    ((rc = index_reader_find(ir, j->q.session, &fl, &offs)) < 0 &&
		     rc != -ENOENT))
			ok = 0; /* a rescan's ids, or a corrupt index: ask the store */
		else if (rc == 0) {
			struct source *s = &src[nsrc];
			source_init(s);
			s->f = files[i];
			snprintf(s->path, sizeof(s->path), "%s/%s", j->spool, files[i].name);
			win_begin(s, win_share(j, s, PCAP_WIN_FIRST));
			add_flow_offsets(j, s, &fl, offs);
			if (win_end(j, s)) {
				s->how = SEL_SESSION;
				s->info = info;
				win_first_found(s);
				nsrc++;
			}
			if (fl.last_ns > last_ns)
				last_ns = fl.last_ns;
		}
		index_reader_close(&ir);
	}
	if (nsrc == 0)
		ok = 0;
	struct flow_config fc;
	capture_flow_config(c, &fc);
	int64_t horizon = ok ? last_ns + flow_config_longest_idle_ns(&fc) : 0;
	for (size_t i = 0; i < nfiles && ok; i++) {
		if (!files[i].part)
			continue;
		char path[4300], err[256];
		snprintf(path, sizeof(path), "%s/%s.part", j->spool, files[i].name);
		struct pcapfile_reader *r;
		struct pcapfile_pkt p;
		if (pcapfile_reader_open_sparse(&r, path, err, sizeof(err)) < 0) {
			ok = 0;
			break;
		}
		/* a file with no packet yet holds none of the session, nor does one whose
		 * first is later than the horizon; one whose first cannot be read (cut,
		 * oversized) may */
		pcapfile_reader_set_lenient(r, 1);
		int rc = pcapfile_reader_next(r, &p);
		if (rc < 0 || (rc == 1 && p.ts_ns <= horizon))
			ok = 0;
		pcapfile_reader_close(&r);
	}
	if (!ok) {
		for (size_t i = 0; i < nsrc; i++)
			source_free(j, &src[i]);
		free(src);
		return 0;
	}
	j->src = src;
	j->nsrc = nsrc;
	return 1;
}

/*
 * The next window of s, above the last offset of this one (its index open
 * again, or its capture scanned again). 0, or -1 with a message and j->failed:
 * the packets of s beyond cannot be had as its first window had them, and the
 * capture written ends short of them.
 */
static int source_fill(struct pcapjob *j, struct source *s)
{
	struct index_reader *ir = NULL;
	char p[4300], err[256];
	int rc = -EINVAL;
	s->floor = s->offs[s->n - 1];
	s->have_floor = 1;
	set_active(j, s, 1);
	size_t room = win_share(j, s, PCAP_WIN_MIN);
	if (room != s->cap) {
		/* made anew, not moved: what it holds is done with */
		win_room(j, s, 0);
		win_room(j, s, room);
	}
	win_begin(s, room);
	err[0] = '\0';
	if (s->how == SEL_INDEX || s->how == SEL_SESSION) {
		/* the file kept open, else by its name: the index the first window read */
		rc = -EBADF;
		if (s->ifd >= 0) {
			char fdp[FD_PATH_MAX];
			rc = index_reader_open(&ir, fd_path(s->ifd, fdp), err, sizeof(err));
		}
		if (rc < 0) {
			snprintf(p, sizeof(p), "%s.idx", s->path);
			rc = index_reader_open(&ir, p, err, sizeof(err));
		}
		struct index_info i;
		if (rc == 0) {
			index_reader_info(ir, &i);
			if (i.flags != s->info.flags || i.pcap_size != s->info.pcap_size ||
			    i.npkts != s->info.npkts || i.nflows != s->info.nflows ||
			    i.nblocks != s->info.nblocks || i.first_ns != s->info.first_ns ||
			    i.last_ns != s->info.last_ns) {
				snprintf(err, sizeof(err),
				         "its index was made again meanwhile");
				rc = -ESTALE;
			}
		}
		if (rc == 0 && s->how == SEL_INDEX) {
			rc = select_indexed(j, s, ir);
		} else if (rc == 0) {
			struct index_flow fl;
			const uint64_t *offs;
			rc = index_reader_find(ir, j->q.session, &fl, &offs);
			if (rc == 0)
				add_flow_offsets(j, s, &fl, offs);
		}
		if (rc < 0 && ir != NULL && *index_reader_error(ir))
			snprintf(err, sizeof(err), "%s", index_reader_error(ir));
		index_reader_close(&ir);
	} else if (s->how == SEL_SCAN) {
		rc = scan_again(j, s);
	}
	if (rc < 0) {
		fprintf(stderr,
		        "sinktrap: %s: %s; its packets after offset %" PRIu64
		        " cannot be read again: the capture written is cut short\n",
		        s->f.name, err[0] ? err : strerror(-rc), s->floor);
		j->failed = 1;
		return -1;
	}
	win_end(j, s);
	return 0;
}

/*
 * A wanted packet whose record cannot be read: the capture changed since its
 * packets were indexed (cut, overwritten). Named (the first few), left out,
 * and the command fails; what can be read still goes out.
 */
static void unreadable(struct pcapjob *j, const struct source *s, uint64_t off, const char *why)
{
	if (++j->unreadable <= UNREADABLE_SAID)
		fprintf(stderr,
		        "sinktrap: %s: the packet at offset %" PRIu64 " cannot be read (%s); "
		        "left out\n",
		        s->path, off, why);
}

/* Next wanted packet of a source into s->cur (s->have = 0 at the end, when what it
 * held is let go). */
static void source_next(struct pcapjob *j, struct source *s)
{
	s->have = 0;
	for (;;) {
		while (s->pos < s->n) {
			uint64_t off = s->offs[s->pos++];
			int rc = pcapfile_reader_seek(s->r, off);
			if (rc < 0) {
				unreadable(j, s, off, strerror(-rc));
				continue;
			}
			rc = pcapfile_reader_next(s->r, &s->cur);
			if (rc != 1) {
				unreadable(j, s, off,
				           rc < 0 ? pcapfile_reader_error(s->r)
				                  : "past the end of the file");
				continue;
			}
			if (filter_mode(j) &&
			    (s->cur.ts_ns < j->q.since_ns || s->cur.ts_ns > j->q.until_ns))
				continue;
			s->have = 1;
			return;
		}
		if (!s->full || j->failed || source_fill(j, s) < 0)
			break;
	}
	source_free(j, s);
}

static void job_free(struct pcapjob *j)
{
	for (size_t i = 0; i < j->nsrc; i++)
		source_free(j, &j->src[i]);
	for (size_t i = 0; i < j->nscans; i++)
		if (j->scans[i].fd >= 0)
			close(j->scans[i].fd);
	free(j->scans);
	free(j->src);
	free(j->t);
	free(j->q.dom);
	flow_frags_free(&j->frags);
	j->src = NULL;
	j->scans = NULL;
	j->t = NULL;
	j->q.dom = NULL;
	j->q.ndom = 0;
	j->nsrc = j->nt = j->nscans = 0;
}

/*
 * The DLT_ value libpcap's compiler wants for a LINKTYPE_ value of a file
 * (libpcap maps them when it reads a file, but does not export the map).
 * They differ where the platforms' DLT_ numbers did: raw IP above all.
 */
static int dlt_of_linktype(uint32_t linktype)
{
	switch (linktype) {
	case 100: /* LINKTYPE_ATM_RFC1483 */
		return DLT_ATM_RFC1483;
	case 101: /* LINKTYPE_RAW */
	case 12:  /* raw IP as BSD writes it (decode.h DECODE_LINK_RAW_BSD) */
	case 14:  /* and OpenBSD (DECODE_LINK_RAW_OBSD) */
		return DLT_RAW;
	case 102: /* LINKTYPE_SLIP_BSDOS */
		return DLT_SLIP_BSDOS;
	case 103: /* LINKTYPE_PPP_BSDOS */
		return DLT_PPP_BSDOS;
	case 106: /* LINKTYPE_ATM_CLIP */
		return DLT_ATM_CLIP;
	default: /* the same number (LINKTYPE_ETHERNET, _LINUX_SLL, _IPV4...) */
		return (int)linktype;
	}
}

static void pcap_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: sinktrap pcap [-c FILE] -w OUT|- (--session ID | --community-id ID |\n"
	    "         [--host ADDR] [--net CIDR] [--port N] [--proto P] [--since T] [--until "
	    "T]\n"
	    "         [--domain NAME])\n"
	    "         [--bpf EXPR]\n"
	    "  T: 2026-11-22T22:40:00Z, 2026-11-22, @EPOCH, or an age (90s, 30m, 2h, 7d)\n");
}

int capture_pcap_main(int argc, char **argv)
{
	struct pcapjob j;
	char err[512];
	int64_t t0 = mono_us();
	memset(&j, 0, sizeof(j));
	query_init(&j.q);
	int r = parse_args(argc, argv, &j.q, 1);
	if (r != 0) {
		pcap_usage(r > 0 ? stdout : stderr);
		return r > 0 ? 0 : 2;
	}
	if (j.q.out == NULL) {
		fprintf(stderr, "sinktrap: pcap needs -w OUT (- for stdout)\n");
		pcap_usage(stderr);
		return 2;
	}
	if (j.q.have_session && j.q.cid) {
		fprintf(stderr, "sinktrap: --session and --community-id do not go together\n");
		return 2;
	}
	if (j.q.have_limit || j.q.json) {
		fprintf(stderr, "sinktrap: pcap writes packets: --%s is for sessions\n",
		        j.q.json ? "json" : "limit");
		return 2;
	}
	if ((j.q.have_session || j.q.cid) && (j.q.host || j.q.have_net || j.q.port >= 0 ||
	                                      j.q.proto >= 0 || j.q.domain || j.q.have_time)) {
		fprintf(stderr,
		        "sinktrap: --%s names one session: --host, --net, --port, --proto, "
		        "--since, --until and --domain do not go with it (--bpf does)\n",
		        j.q.have_session ? "session" : "community-id");
		return 2;
	}
	if (!strcmp(j.q.out, "-") && isatty(STDOUT_FILENO)) {
		fprintf(
		    stderr,
		    "sinktrap: not writing a capture to a terminal (pipe it, or -w FILE)\n");
		return 2;
	}
	struct config *c = load_config(j.q.conf);
	if (c == NULL)
		return 2;
	capture_spool_dir(c, j.spool, sizeof(j.spool));
	j.cid_seed = (uint16_t)c->capture_cid_seed;

	struct spool_file *files;
	size_t nfiles;
	int rc = spool_list(j.spool, &files, &nfiles);
	if (rc < 0) {
		fprintf(stderr, "sinktrap: spool %s: %s\n", j.spool, strerror(-rc));
		job_free(&j);
		config_free(c);
		return 1;
	}
	int expired = 0, by_index = 0, ndom = 0;
	if (j.q.domain && (ndom = load_domain(&j, c)) < 0) {
		free(files);
		job_free(&j);
		config_free(c);
		return 1;
	}
	if (j.q.have_session && !j.q.cid)
		by_index = session_by_index(&j, c, files, nfiles);
	if (!by_index && !filter_mode(&j)) {
		int n = load_targets(&j, c, &expired);
		if (n < 0) {
			free(files);
			job_free(&j);
			config_free(c);
			return 1;
		}
	}

	/* candidate files, then the offsets wanted from each */
	if (!by_index) {
		j.src = xcalloc(nfiles ? nfiles : 1, sizeof(*j.src));
		for (size_t i = 0; i < nfiles; i++) {
			if (!file_wanted(&j, &files[i]))
				continue;
			struct source *s = &j.src[j.nsrc];
			source_init(s);
			s->f = files[i];
			snprintf(s->path, sizeof(s->path), "%s/%s%s", j.spool, files[i].name,
			         files[i].part ? ".part" : "");
			win_begin(s, win_share(&j, s, PCAP_WIN_FIRST));
			select_file(&j, s);
			if (!win_end(&j, s)) {
				source_free(&j, s);
				continue;
			}
			win_first_found(s);
			j.nsrc++;
		}
	}
	free(files);
	j.scanning_again = 1; /* from now on, a scan is of a later window */

	/* each source's header and first packets read together (16 KB pieces, as
	 * the reader takes them) */
	for (size_t i = 0; i < j.nsrc; i++)
		prefetch_source(j.src[i].path, j.src[i].offs, j.src[i].n);

	/* open the sources; the output's format follows them */
	int ns = 0;
	uint32_t linktype = DECODE_LINK_ETHERNET;
	int have_lt = 0;
	for (size_t i = 0; i < j.nsrc; i++) {
		struct source *s = &j.src[i];
		/* A scanned capture is read again through the descriptor its scan kept:
		 * a file being written may have been finished (renamed) since. */
		char fdp[FD_PATH_MAX];
		const char *path = s->path;
		if (s->how == SEL_SCAN && j.scans[s->scan].fd >= 0)
			path = fd_path(j.scans[s->scan].fd, fdp);
		if (pcapfile_reader_open_sparse(&s->r, path, err, sizeof(err)) < 0 &&
		    (path == s->path ||
		     pcapfile_reader_open_sparse(&s->r, s->path, err, sizeof(err)) < 0)) {
			fprintf(stderr, "sinktrap: %s\n", err);
			source_free(&j, s);
			continue;
		}
		pcapfile_reader_set_lenient(s->r, 1);
		enum pcapfile_format f = pcapfile_reader_format(s->r);
		s->ns = f != PCAPFILE_PCAP;
		ns |= s->ns;
		source_next(&j, s);
		if (s->have && !have_lt) {
			linktype = s->cur.linktype;
			have_lt = 1;
		}
	}

	int fd = !strcmp(j.q.out, "-")
	             ? STDOUT_FILENO
	             : open(j.q.out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "sinktrap: %s: %s\n", j.q.out, strerror(errno));
		job_free(&j);
		config_free(c);
		return 1;
	}
	struct pcapfile_writer *w;
	if (pcapfile_writer_open(&w, fd, ns ? PCAPFILE_PCAP_NS : PCAPFILE_PCAP, linktype, 0,
	                         err, sizeof(err)) < 0) {
		fprintf(stderr, "sinktrap: %s: %s\n", j.q.out, err);
		if (fd != STDOUT_FILENO)
			close(fd);
		job_free(&j);
		config_free(c);
		return 1;
	}
	pcap_t *dead = NULL;
	struct bpf_program prog;
	int have_prog = 0;
	if (j.q.bpf) {
		dead = pcap_open_dead_with_tstamp_precision(
		    dlt_of_linktype(linktype), PCAPFILE_MAX_CAPLEN, PCAP_TSTAMP_PRECISION_NANO);
		if (dead == NULL ||
		    pcap_compile(dead, &prog, j.q.bpf, 1, PCAP_NETMASK_UNKNOWN) < 0) {
			fprintf(stderr, "sinktrap: --bpf '%s': %s\n", j.q.bpf,
			        dead ? pcap_geterr(dead) : "libpcap");
			if (dead)
				pcap_close(dead);
			pcapfile_writer_close(&w);
			if (fd != STDOUT_FILENO)
				close(fd);
			job_free(&j);
			config_free(c);
			return 2;
		}
		have_prog = 1;
	}

	/* merge: the earliest next packet of all sources, file order kept within each */
	uint64_t written = 0, other_link = 0;
	while (!j.failed) {
		struct source *best = NULL;
		for (size_t i = 0; i < j.nsrc; i++) {
			struct source *s = &j.src[i];
			if (s->have && (best == NULL || s->cur.ts_ns < best->cur.ts_ns))
				best = s;
		}
		if (best == NULL)
			break;
		struct pcapfile_pkt *p = &best->cur;
		int keep = 1;
		if (p->linktype != linktype) {
			other_link++;
			keep = 0;
		}
		if (keep && have_prog) {
			struct pcap_pkthdr h;
			h.ts.tv_sec = (time_t)(p->ts_ns / NS);
			h.ts.tv_usec = (suseconds_t)(p->ts_ns % NS);
			h.caplen = p->caplen;
			h.len = p->origlen;
			keep = pcap_offline_filter(&prog, &h, p->data) != 0;
		}
		if (keep) {
			if (pcapfile_writer_write(w, p->ts_ns, p->data, p->caplen, p->origlen,
			                          NULL) < 0) {
				fprintf(stderr, "sinktrap: %s: write failed\n", j.q.out);
				break;
			}
			written++;
		}
		source_next(&j, best);
	}
	rc = pcapfile_writer_close(&w);
	if (fd != STDOUT_FILENO)
		close(fd);
	if (have_prog)
		pcap_freecode(&prog);
	if (dead)
		pcap_close(dead);
	size_t nsrc = j.nsrc, ntargets = j.nt;
	job_free(&j);
	int status = 0;
	if (rc < 0) {
		fprintf(stderr, "sinktrap: %s: %s\n", j.q.out, strerror(-rc));
		status = 1;
	}
	if (other_link)
		fprintf(stderr, "sinktrap: %" PRIu64 " packets of another link type left out\n",
		        other_link);
	if (j.unreadable) {
		fprintf(stderr,
		        "sinktrap: %" PRIu64
		        " packet%s could not be read from the spool%s; the "
		        "capture written lacks %s\n",
		        j.unreadable, j.unreadable == 1 ? "" : "s",
		        j.unreadable > UNREADABLE_SAID ? " (the first ones named above)" : "",
		        j.unreadable == 1 ? "it" : "them");
		status = 1;
	}
	if (j.failed) {
		status = 1;
	} else if (written == 0) {
		if (by_index)
			fprintf(stderr,
			        "sinktrap: the packets of session %" PRIu64
			        " could not be read from the spool\n",
			        j.q.session);
		else if (j.q.have_session && ntargets == 0)
			fprintf(stderr,
			        "sinktrap: no session %" PRIu64 " in the store or the spool\n",
			        j.q.session);
		else if (j.q.domain && ndom == 0)
			fprintf(stderr,
			        "sinktrap: the sinkhole has given %s (or a name under it) no "
			        "address\n",
			        j.q.domain);
		else if (expired)
			fprintf(stderr,
			        "sinktrap: the packets of %s were deleted from the spool "
			        "(expired by the disk quota)\n",
			        j.q.have_session ? "this session" : "these sessions");
		else
			fprintf(stderr, "sinktrap: no packets match\n");
		status = 1;
	} else if (strcmp(j.q.out, "-")) {
		fprintf(stderr,
		        "%" PRIu64 " packets written to %s in %.1f ms (from %zu file%s)\n",
		        written, j.q.out, (double)(mono_us() - t0) / 1000.0, nsrc,
		        nsrc == 1 ? "" : "s");
	}
	config_free(c);
	return status;
}

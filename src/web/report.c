/*
 * `sinktrap report -c FILE --host IP [--json]`: what the store knows about
 * one host, in the order of the infection: its queries and their list
 * entries, its connections to the trap, the requests and payloads, and its
 * captured sessions. Values come from malware: on the console every byte
 * that is not printable ASCII is shown as \xNN, so nothing reaches the
 * terminal as a control sequence. --json prints what GET /api/hosts/{ip}
 * answers.
 */
#include "web/web_int.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/config.h"

static void put_byte(FILE *out, unsigned c)
{
	if (c >= 0x20 && c < 0x7f && c != '\\')
		fputc((int)c, out);
	else
		fprintf(out, "\\x%02x", c);
}

/* Column i of the row, every byte that is not printable ASCII as \xNN: a NUL
 * too (a value cut at it would hide what follows, as hostile text may try). */
static void put_safe(FILE *out, sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);
	if (s == NULL) {
		fputs("-", out);
		return;
	}
	int n = sqlite3_column_bytes(st, i);
	for (int k = 0; k < n; k++)
		put_byte(out, s[k]);
}

static unsigned hex4(const unsigned char *p)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		unsigned c = p[i];
		v = v * 16 + (c >= '0' && c <= '9'   ? c - '0'
		              : c >= 'a' && c <= 'f' ? c - 'a' + 10
		              : c >= 'A' && c <= 'F' ? c - 'A' + 10
		                                     : 0);
	}
	return v;
}

/*
 * Column i as `json -> path` gives it: a JSON string is decoded here, as
 * put_safe shows bytes (json_extract would stop at a \u0000, and so hide what
 * follows it); anything else is shown as it is.
 */
static void put_json(FILE *out, sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);
	int n = sqlite3_column_bytes(st, i);
	if (s == NULL || n < 2 || s[0] != '"' || s[n - 1] != '"') {
		put_safe(out, st, i);
		return;
	}
	for (int k = 1; k < n - 1; k++) {
		if (s[k] != '\\' || k + 1 >= n - 1) {
			put_byte(out, s[k]);
			continue;
		}
		unsigned char e = s[++k];
		if (e != 'u' || k + 4 >= n - 1) {
			put_byte(out, e == 'n'   ? '\n'
			              : e == 't' ? '\t'
			              : e == 'r' ? '\r'
			              : e == 'b' ? '\b'
			              : e == 'f' ? '\f'
			                         : e);
			continue;
		}
		unsigned cp = hex4(s + k + 1);
		k += 4;
		if (cp >= 0xd800 && cp < 0xdc00 && k + 6 < n - 1 && s[k + 1] == '\\' &&
		    s[k + 2] == 'u') {
			unsigned lo = hex4(s + k + 3);
			if (lo >= 0xdc00 && lo < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				k += 6;
			}
		}
		/* As UTF-8, each byte shown as put_safe shows it. */
		if (cp < 0x80) {
			put_byte(out, cp);
		} else if (cp < 0x800) {
			put_byte(out, 0xc0 | (cp >> 6));
			put_byte(out, 0x80 | (cp & 0x3f));
		} else if (cp < 0x10000) {
			put_byte(out, 0xe0 | (cp >> 12));
			put_byte(out, 0x80 | ((cp >> 6) & 0x3f));
			put_byte(out, 0x80 | (cp & 0x3f));
		} else {
			put_byte(out, 0xf0 | (cp >> 18));
			put_byte(out, 0x80 | ((cp >> 12) & 0x3f));
			put_byte(out, 0x80 | ((cp >> 6) & 0x3f));
			put_byte(out, 0x80 | (cp & 0x3f));
		}
	}
}

static void put_time(FILE *out, int64_t usec)
{
	time_t t = (time_t)(usec / 1000000);
	struct tm tm;
	char buf[32];
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(out, "%s.%03dZ", buf, (int)((usec / 1000) % 1000));
}

static int text_report(sqlite3 *d, const char *ip, FILE *out)
{
	sqlite3_stmt *st;
	const char *sum =
	    "SELECT count(*), sum(event_type = 'dns'), sum(event_type = 'trap'), "
	    "sum(event_type = 'fileinfo'), min(ts), max(ts) FROM events WHERE src_ip = ?1 AND "
	    "event_type IN ('dns','trap','fileinfo','alert','flow')";
	if (sqlite3_prepare_v2(d, sum, -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, ip, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int64(st, 0) == 0) {
		sqlite3_finalize(st);
		fprintf(out, "host %s: nothing stored\n", ip);
		return 1;
	}
	fprintf(out, "host %s: %lld DNS queries, %lld trap connections, %lld payloads\n", ip,
	        (long long)sqlite3_column_int64(st, 1), (long long)sqlite3_column_int64(st, 2),
	        (long long)sqlite3_column_int64(st, 3));
	fputs("first seen ", out);
	put_time(out, sqlite3_column_int64(st, 4));
	fputs(", last seen ", out);
	put_time(out, sqlite3_column_int64(st, 5));
	fputs("\n\ndomains queried:\n", out);
	sqlite3_finalize(st);

	if (sqlite3_prepare_v2(
	        d,
	        "SELECT domain, count(*), min(ts) FROM events WHERE src_ip = ?1 AND "
	        "event_type = 'dns' AND domain IS NOT NULL GROUP BY domain ORDER BY 2 "
	        "DESC",
	        -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, ip, -1, SQLITE_STATIC);
		while (sqlite3_step(st) == SQLITE_ROW) {
			fputs("  ", out);
			put_safe(out, st, 0);
			fprintf(out, "  %lld queries, first ",
			        (long long)sqlite3_column_int64(st, 1));
			put_time(out, sqlite3_column_int64(st, 2));
			fputc('\n', out);
		}
		sqlite3_finalize(st);
	}

	fputs("\ntimeline:\n", out);
	const char *tl =
	    "SELECT ts, event_type, src_port, dest_ip, dest_port, proto, domain, "
	    "json -> '$.dns.rrtype', json -> '$.app_proto', json -> '$.http.request_line', "
	    "json -> '$.http.http_user_agent', json -> '$.fileinfo.sha256', "
	    "json_extract(json, '$.fileinfo.size'), json -> '$.trap.end', "
	    "json -> '$.http.http_method', json -> '$.http.url' "
	    "FROM events WHERE src_ip = ?1 AND event_type IN "
	    "('dns','trap','fileinfo','alert','flow') "
	    "AND json_valid(json) ORDER BY ts, id";
	if (sqlite3_prepare_v2(d, tl, -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, ip, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		fputs("  ", out);
		put_time(out, sqlite3_column_int64(st, 0));
		fputs("  ", out);
		put_safe(out, st, 1);
		const char *type = (const char *)sqlite3_column_text(st, 1);
		if (type && !strcmp(type, "dns")) {
			fputs("  query ", out);
			put_safe(out, st, 6);
			fputs(" ", out);
			put_json(out, st, 7);
		} else if (type && !strcmp(type, "fileinfo")) {
			fputs("  payload sha256 ", out);
			put_json(out, st, 11);
			fprintf(out, " (%lld bytes)", (long long)sqlite3_column_int64(st, 12));
		} else {
			fprintf(out, "  :%d -> ", sqlite3_column_int(st, 2));
			put_safe(out, st, 3);
			fprintf(out, ":%d ", sqlite3_column_int(st, 4));
			put_safe(out, st, 5);
			if (sqlite3_column_type(st, 6) != SQLITE_NULL) {
				fputs(" domain ", out);
				put_safe(out, st, 6);
			}
			if (sqlite3_column_type(st, 8) != SQLITE_NULL) {
				fputs(" ", out);
				put_json(out, st, 8);
			}
			if (sqlite3_column_type(st, 9) != SQLITE_NULL) {
				fputs(" \"", out);
				put_json(out, st, 9);
				fputs("\"", out);
			} else if (sqlite3_column_type(st, 14) != SQLITE_NULL) {
				fputs(" \"", out);
				put_json(out, st, 14);
				fputs(" ", out);
				put_json(out, st, 15);
				fputs("\"", out);
			}
			if (sqlite3_column_type(st, 10) != SQLITE_NULL) {
				fputs(" ua \"", out);
				put_json(out, st, 10);
				fputs("\"", out);
			}
			if (sqlite3_column_type(st, 13) != SQLITE_NULL) {
				fputs(" end ", out);
				put_json(out, st, 13);
			}
		}
		fputc('\n', out);
	}
	sqlite3_finalize(st);

	fputs("\ncaptured sessions:\n", out);
	if (sqlite3_prepare_v2(
	        d,
	        "SELECT id, start_ts, src_port, dest_ip, dest_port, proto, "
	        "pkts_toserver + pkts_toclient, bytes_toserver + bytes_toclient, "
	        "community_id FROM sessions WHERE src_ip = ?1 ORDER BY start_ts",
	        -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, ip, -1, SQLITE_STATIC);
		int n = 0;
		while (sqlite3_step(st) == SQLITE_ROW) {
			fprintf(out, "  #%lld  ", (long long)sqlite3_column_int64(st, 0));
			put_time(out, sqlite3_column_int64(st, 1));
			fprintf(out, "  :%d -> ", sqlite3_column_int(st, 2));
			put_safe(out, st, 3);
			fprintf(out, ":%d ", sqlite3_column_int(st, 4));
			put_safe(out, st, 5);
			fprintf(out, "  %lld packets, %lld bytes  ",
			        (long long)sqlite3_column_int64(st, 6),
			        (long long)sqlite3_column_int64(st, 7));
			put_safe(out, st, 8);
			fputc('\n', out);
			n++;
		}
		sqlite3_finalize(st);
		if (n == 0)
			fputs("  none\n", out);
		else
			fputs("  (sinktrap pcap --session ID -w FILE, or the web page, for the "
			      "packets)\n",
			      out);
	}
	return 0;
}

int web_report_main(int argc, char **argv)
{
	enum { O_HOST = 256, O_JSON };
	static const struct option longopts[] = {
	    {"host", required_argument, NULL, O_HOST},
	    {"json", no_argument, NULL, O_JSON},
	    {NULL, 0, NULL, 0},
	};
	const char *conf = NULL, *host = NULL;
	char ip[INET6_ADDRSTRLEN];
	int json = 0, ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			conf = optarg;
			break;
		case O_HOST:
			host = optarg;
			break;
		case O_JSON:
			json = 1;
			break;
		default:
			goto usage;
		}
	}
	if (host == NULL || optind != argc)
		goto usage;
	struct cfg_errors errs;
	struct config *c = config_load(conf, &errs);
	if (c == NULL) {
		cfg_errors_print(&errs, stderr);
		cfg_errors_free(&errs);
		return 2;
	}
	static struct web w;
	memset(&w, 0, sizeof(w));
	web_state_init(&w);
	w.cfg = c;
	snprintf(w.db_path, sizeof(w.db_path), "%s/sinktrap.db", c->state_dir);
	int rc = 0;
	if (json) {
		struct wreq r;
		struct wresp o;
		memset(&r, 0, sizeof(r));
		memset(&o, 0, sizeof(o));
		r.w = &w;
		api_host(&r, &o, host);
		fwrite(o.body, 1, o.len, stdout);
		rc = o.status == 200 ? 0 : 2;
		free(o.body);
	} else if (host_norm(host, ip) < 0) {
		fprintf(stderr, "sinktrap: --host %s: not an IPv4 or IPv6 address\n", host);
		rc = 2;
	} else {
		/* As the store writes it, as --json and the API look for it. */
		sqlite3 *d = web_db(&w);
		if (d == NULL) {
			fprintf(stderr, "sinktrap: no store at %s\n", w.db_path);
			rc = 2;
		} else {
			rc = text_report(d, ip, stdout);
			if (rc < 0) {
				fprintf(stderr, "sinktrap: %s\n", sqlite3_errmsg(d));
				rc = 2;
			}
		}
	}
	web_db_release(&w);
	web_state_free(&w);
	config_free(c);
	return rc;
usage:
	fprintf(stderr, "usage: sinktrap report [-c FILE] --host IP [--json]\n");
	return 2;
}

/*
 * The data endpoints of the web API (see docs/api.md): queries on the store,
 * opened read-only, answered as JSON; payload downloads as ZipCrypto
 * archives; PCAP downloads cut from the spool by `sinktrap pcap`.
 */
#include "web/web_int.h"
#include "web/params.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "capture/capture.h"
#include "common/config.h"
#include "common/log.h"
#include "common/util.h"
#include "common/addr.h"
#include "dns/dns.h"
#include "dns/wire.h"
#include "store/sqlfn.h"

#define MAX_LIMIT 1000
#define DEF_LIMIT 50
/* Paging deeper than this is a time filter's work: counting and skipping the
 * rows before the page would read that many at every request. */
#define MAX_OFFSET 100000
#define COUNT_AHEAD 1000
/* A host with more events than this is looked for in the type's time order. */
#define BUSY_HOST 20000

const char *req_arg(struct wreq *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

void resp_json(struct wresp *o, int status, struct strbuf *sb)
{
	o->status = status;
	o->ctype = "application/json";
	strbuf_putc(sb, '\n');
	o->body = (uint8_t *)sb->data;
	o->len = sb->len;
	o->cap = sb->cap;
}

void resp_error(struct wresp *o, int status, const char *msg)
{
	struct strbuf sb;
	strbuf_init(&sb);
	strbuf_puts(&sb, "{\"error\":");
	strbuf_json_str(&sb, (const uint8_t *)msg, strlen(msg));
	strbuf_printf(&sb, ",\"status\":%d}", status);
	resp_json(o, status, &sb);
}

int answer_grow(struct wreq *r, const struct strbuf *sb, size_t more)
{
	if (r->held == NULL)
		return 0;
	/* The capacity the buffer will have (it doubles from 1 KiB), counted before it grows.
	 */
	size_t need = sb->len + more + 1, cap = sb->cap ? sb->cap : 1024;
	while (cap < need)
		cap *= 2;
	return web_budget_grow(&r->w->budget, r->held, cap);
}

void resp_busy(struct wreq *r, struct wresp *o)
{
	struct web_budget *b = &r->w->budget;
	uint64_t refused;
	size_t held = web_budget_held(b, &refused);
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (web_budget_say(b, (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000))
		log_warnx(
		    "answers being sent hold %zu bytes, [web] memory_max is %zu: %s from %s "
		    "answered 503 (%llu so far)",
		    held, b->max, r->url ? r->url : "?", r->client ? r->client : "?",
		    (unsigned long long)refused);
	/* The answer is dropped: what it counted is free for the others now. */
	if (r->held)
		web_budget_release(b, r->held);
	resp_error(o, 503,
	           "the web worker holds as much as [web] memory_max allows in answers being "
	           "sent; try again in a few seconds");
	o->retry_after = WEB_RETRY_AFTER;
}

/* The connection the calling thread holds during a request. */
static __thread sqlite3 *t_db;
/* When the request's queries are stopped (mono ms, 0: never), and whether they were. */
static __thread int64_t t_deadline;
static __thread int t_interrupted;

/* SQLite asks every few thousand steps: a query past the request's time ends
 * with SQLITE_INTERRUPT (a filter no index serves, over a large table, cannot
 * hold a thread and the store's read snapshot for ever). */
static int query_progress(void *arg)
{
	(void)arg;
	if (t_deadline == 0 || mono_ms() < t_deadline)
		return 0;
	t_interrupted = 1;
	return 1;
}

void web_db_no_deadline(void)
{
	t_deadline = 0;
}

static int64_t query_deadline(const struct web *w)
{
	return mono_ms() + (w->cfg ? w->cfg->web_query_ms : 10000);
}

/*
 * The running totals caught up with the rows stored since: outside the
 * request's time limit, since each row is read once whatever the requests
 * ask (a burst of events would otherwise fail the requests that follow it).
 */
static int agg_catch_up(struct web *w, sqlite3 *d)
{
	int64_t dl = t_deadline, t0 = mono_ms();
	t_deadline = 0;
	int r = agg_update(w->agg, d);
	/* The request's own time resumes where it was. */
	t_deadline = dl ? dl + (mono_ms() - t0) : 0;
	return r;
}

/* A failed query's answer: 503 when it ran out of time, 500 otherwise. */
static void resp_store_error(struct wresp *o)
{
	if (t_interrupted) {
		resp_error(o, 503,
		           "the query took longer than [web] query_timeout and was stopped: "
		           "narrow it (a time range, a host)");
		o->retry_after = WEB_RETRY_AFTER;
	} else {
		resp_error(o, 500, "the store could not answer the query");
	}
}

void web_state_init(struct web *w)
{
	pthread_mutex_init(&w->db_lock, NULL);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->argon2_free, NULL);
	w->agg = agg_new();
	web_budget_init(&w->budget, 0);
}

void web_state_free(struct web *w)
{
	for (int i = 0; i < w->ndb_idle; i++)
		sqlite3_close(w->db_idle[i]);
	w->ndb_idle = 0;
	agg_free(w->agg);
	w->agg = NULL;
}

static sqlite3 *db_open(struct web *w)
{
	struct stat st;
	if (stat(w->db_path, &st) < 0)
		return NULL;
	char uri[4200];
	sqlite3 *d = NULL;
	snprintf(uri, sizeof(uri), "file:%s?mode=ro", w->db_path);
	/* NOMUTEX: one thread uses a connection at a time (the pool hands it out). */
	if (sqlite3_open_v2(uri, &d,
	                    SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK) {
		log_warnx("%s: %s", w->db_path, d ? sqlite3_errmsg(d) : "cannot open");
		sqlite3_close(d);
		return NULL;
	}
	sqlite3_busy_timeout(d, 2000);
	sqlite3_progress_handler(d, 4000, query_progress, NULL);
	sqlfn_register(d);
	/*
	 * Reads through the file mapping, a larger page cache, never a write.
	 * The soft heap limit (the process's, for every connection) keeps what
	 * SQLite holds near 64 MiB however many requests read at once: past it
	 * the page caches reuse their pages instead of taking more.
	 */
	sqlite3_exec(
	    d,
	    "PRAGMA query_only=1; PRAGMA mmap_size=1073741824; PRAGMA cache_size=-32768; "
	    "PRAGMA soft_heap_limit=67108864",
	    NULL, NULL, NULL);
	return d;
}

sqlite3 *web_db(struct web *w)
{
	if (t_db)
		return t_db;
	/* The worker's requests only: a command (sinktrap report) takes what it takes. */
	t_deadline = w->live ? query_deadline(w) : 0;
	t_interrupted = 0;
	pthread_mutex_lock(&w->db_lock);
	if (w->ndb_idle > 0)
		t_db = w->db_idle[--w->ndb_idle];
	pthread_mutex_unlock(&w->db_lock);
	if (t_db == NULL)
		t_db = db_open(w);
	return t_db;
}

void web_db_release(struct web *w)
{
	sqlite3 *d = t_db;
	if (d == NULL)
		return;
	t_db = NULL;
	pthread_mutex_lock(&w->db_lock);
	if (w->ndb_idle < WEB_DB_IDLE) {
		w->db_idle[w->ndb_idle++] = d;
		d = NULL;
	}
	pthread_mutex_unlock(&w->db_lock);
	if (d)
		sqlite3_close(d);
}

/* A query under construction: SQL text and its bound values. */
struct q {
	struct strbuf where;
	int n;
	struct {
		int is_int;
		int64_t i;
		const char *s;
	} b[24];
	char *owned;                    /* a bound text the query frees */
	char host[INET6_ADDRSTRLEN];    /* the host filter, as the store writes it */
	char net[INET6_ADDRSTRLEN + 8]; /* the net filter, host bits cleared */
};

static void q_init(struct q *q)
{
	strbuf_init(&q->where);
	q->n = 0;
	q->owned = NULL;
}

static void q_and(struct q *q, const char *cond)
{
	strbuf_puts(&q->where, q->where.len ? " AND " : " WHERE ");
	strbuf_puts(&q->where, cond);
}

static void q_str(struct q *q, const char *s)
{
	if (q->n < 24) {
		q->b[q->n].is_int = 0;
		q->b[q->n].s = s;
		q->n++;
	}
}

static void q_int(struct q *q, int64_t v)
{
	if (q->n < 24) {
		q->b[q->n].is_int = 1;
		q->b[q->n].i = v;
		q->n++;
	}
}

static int q_bind(struct q *q, sqlite3_stmt *st)
{
	for (int i = 0; i < q->n; i++) {
		int r = q->b[i].is_int
		            ? sqlite3_bind_int64(st, i + 1, q->b[i].i)
		            : sqlite3_bind_text(st, i + 1, q->b[i].s, -1, SQLITE_STATIC);
		if (r != SQLITE_OK)
			return -1;
	}
	return 0;
}

/* A column rows_json() writes as it is: the event's own JSON. */
static int raw_json_column(const char *name)
{
	return !strncmp(name, "event", 5) && strcmp(name, "event_type") &&
	       strcmp(name, "event_id");
}

/* The most bytes rows_json() writes for the current row. */
static size_t row_bound(sqlite3_stmt *st, int ncol)
{
	size_t n = 8;
	for (int i = 0; i < ncol; i++) {
		/* The name and the value as JSON strings: 6 bytes a byte at most (\u00XX). */
		const char *name = sqlite3_column_name(st, i);
		n += 6 * strlen(name) + 8;
		int t = sqlite3_column_type(st, i);
		if (t == SQLITE_TEXT || t == SQLITE_BLOB)
			n += (raw_json_column(name) ? 1 : 6) *
			     (size_t)sqlite3_column_bytes(st, i);
		else
			n += 48;
	}
	return n;
}

/*
 * Rows as a JSON array; a text column whose name starts with "event" is raw
 * JSON. -1 on a store error, -2 when the answer would take the worker past
 * its memory budget (rq: the request it is counted for, or NULL).
 */
static int rows_json(struct wreq *rq, struct strbuf *sb, sqlite3_stmt *st)
{
	int ncol = sqlite3_column_count(st), r, first = 1;
	strbuf_putc(sb, '[');
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		if (rq && answer_grow(rq, sb, row_bound(st, ncol)) < 0)
			return -2;
		strbuf_puts(sb, first ? "{" : ",{");
		first = 0;
		for (int i = 0; i < ncol; i++) {
			const char *name = sqlite3_column_name(st, i);
			if (i)
				strbuf_putc(sb, ',');
			strbuf_json_str(sb, (const uint8_t *)name, strlen(name));
			strbuf_putc(sb, ':');
			switch (sqlite3_column_type(st, i)) {
			case SQLITE_INTEGER:
				strbuf_printf(sb, "%lld",
				              (long long)sqlite3_column_int64(st, i));
				break;
			case SQLITE_FLOAT:
				strbuf_printf(sb, "%.6g", sqlite3_column_double(st, i));
				break;
			case SQLITE_NULL:
				strbuf_puts(sb, "null");
				break;
			default: {
				const uint8_t *t = sqlite3_column_text(st, i);
				int len = sqlite3_column_bytes(st, i);
				if (raw_json_column(name))
					strbuf_put(sb, t, (size_t)len);
				else
					strbuf_json_str(sb, t, (size_t)len);
			}
			}
		}
		strbuf_putc(sb, '}');
	}
	strbuf_putc(sb, ']');
	return r == SQLITE_DONE ? 0 : -1;
}

/*
 * Run sql (with q's binds) and append its rows; -1 on error (message in
 * err), -2 over the memory budget (rows_json).
 */
static int run_rows(struct wreq *r, sqlite3 *d, const char *sql, struct q *q, struct strbuf *sb,
                    const char **err)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(d, sql, -1, &st, NULL) != SQLITE_OK) {
		*err = sqlite3_errmsg(d);
		log_warnx("%s: %s", sql, *err);
		return -1;
	}
	int rc = q ? q_bind(q, st) : 0;
	if (rc == 0)
		rc = rows_json(r, sb, st);
	if (rc < 0) {
		*err = sqlite3_errmsg(d);
		sqlite3_finalize(st);
		return rc;
	}
	sqlite3_finalize(st);
	return 0;
}

static int64_t run_count(sqlite3 *d, const char *sql, struct q *q)
{
	sqlite3_stmt *st;
	int64_t n = -1;
	if (sqlite3_prepare_v2(d, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (q_bind(q, st) == 0 && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* Parameters. */

static int paging(struct wreq *r, struct wresp *o, int64_t *limit, int64_t *offset)
{
	const char *l = req_arg(r, "limit"), *f = req_arg(r, "offset");
	*limit = DEF_LIMIT;
	*offset = 0;
	if (l && web_parse_int(l, 1, MAX_LIMIT, limit) < 0) {
		resp_error(o, 400, "limit: an integer from 1 to 1000");
		return -1;
	}
	if (f && web_parse_int(f, 0, MAX_OFFSET, offset) < 0) {
		resp_error(o, 400,
		           "offset: an integer from 0 to 100000 (narrow by time for more)");
		return -1;
	}
	return 0;
}

int host_norm(const char *v, char *out)
{
	uint8_t a[16];
	int fam = addr_parse_ip(v, a);
	if (fam == 0)
		return -1;
	inet_ntop(fam, a, out, INET6_ADDRSTRLEN);
	return 0;
}

/* The host argument, normalised: 1 and the text in out, 0 when not given, -1
 * when it is not an address (with the 400 answered when o is given). */
static int arg_host(struct wreq *r, struct wresp *o, char out[INET6_ADDRSTRLEN])
{
	const char *v = req_arg(r, "host");
	if (v == NULL || *v == '\0')
		return 0;
	if (host_norm(v, out) < 0) {
		if (o)
			resp_error(o, 400, "host: not an IPv4 or IPv6 address");
		return -1;
	}
	return 1;
}

/* The net argument ("10.0.0.0/8", host bits cleared), like arg_host. */
static int arg_net(struct wreq *r, struct wresp *o, char out[INET6_ADDRSTRLEN + 8])
{
	const char *v = req_arg(r, "net");
	struct prefix p;
	char err[200], msg[256];
	if (v == NULL || *v == '\0')
		return 0;
	if (prefix_parse_net(v, &p, err, sizeof(err)) < 0) {
		snprintf(msg, sizeof(msg), "net: %s", err);
		resp_error(o, 400, msg);
		return -1;
	}
	prefix_fmt(&p, out, INET6_ADDRSTRLEN + 8);
	return 1;
}

/*
 * The domain filter past the names the running totals hand over: col is the
 * name or under it, in any case, with or without a final dot, as
 * agg_domains_under() decides. Two binds, both domain_pattern()'s ("%.name").
 */
#define DOMAIN_LIKE(col)                                                                       \
	"('.' || " col ") LIKE ? ESCAPE '\\' OR ('.' || " col ") LIKE ? || '.' ESCAPE '\\'"

/* host, net, port, proto, domain, since, until, community_id, session on
 * table columns. */
static int filters(struct wreq *r, struct wresp *o, struct q *q, const char *tscol, int domain)
{
	const char *v;
	int64_t n;
	int k = arg_host(r, o, q->host);
	if (k < 0)
		return -1;
	if (k > 0) {
		q_and(q, "(src_ip = ? OR dest_ip = ?)");
		q_str(q, q->host);
		q_str(q, q->host);
	}
	if ((k = arg_net(r, o, q->net)) < 0)
		return -1;
	if (k > 0) {
		q_and(q, "(st_in_net(src_ip, ?) OR st_in_net(dest_ip, ?))");
		q_str(q, q->net);
		q_str(q, q->net);
	}
	if ((v = req_arg(r, "port")) && *v) {
		if (web_parse_int(v, 0, 65535, &n) < 0) {
			resp_error(o, 400, "port: 0 to 65535");
			return -1;
		}
		q_and(q, "(src_port = ? OR dest_port = ?)");
		q_int(q, n);
		q_int(q, n);
	}
	if ((v = req_arg(r, "proto")) && *v) {
		q_and(q, "proto = ? COLLATE NOCASE");
		q_str(q, v);
	}
	if ((v = req_arg(r, "community_id")) && *v) {
		q_and(q, "community_id = ?");
		q_str(q, v);
	}
	if ((v = req_arg(r, "session")) && *v) {
		/* A session is named by its flow id, as `sinktrap sessions` shows it. */
		if (web_parse_int(v, 1, INT64_MAX, &n) < 0) {
			resp_error(o, 400, "session: a session (flow) id, a positive integer");
			return -1;
		}
		q_and(q, "flow_id = ?");
		q_int(q, n);
	}
	if (domain && (v = req_arg(r, "domain")) && *v) {
		/*
		 * The name and its subdomains: the stored names under it, looked up in
		 * the running totals, then found through the domain index. Too many
		 * of them: a scan with LIKE.
		 */
		sqlite3 *d = web_db(r->w);
		struct strbuf js;
		strbuf_init(&js);
		int n = -1;
		if (d && q->owned == NULL && agg_catch_up(r->w, d) == 0)
			n = agg_domains_under(r->w->agg, v, 2000, &js, NULL);
		if (n >= 0) {
			strbuf_putc(&js, '\0');
			q_and(q, "domain IN (SELECT value FROM json_each(?))");
			q_str(q, js.data);
			q->owned = js.data;
		} else {
			strbuf_free(&js);
			/* sqlite keeps the pointer: domain_pattern() makes the pattern */
			q_and(q, "(" DOMAIN_LIKE("domain") ")");
			q_str(q, NULL);
			q_str(q, NULL);
		}
	}
	const char *names[2] = {"since", "until"};
	for (int i = 0; i < 2; i++) {
		if ((v = req_arg(r, names[i])) && *v) {
			int64_t t;
			if (web_parse_time(v, &t) < 0) {
				resp_error(o, 400,
				           "since/until: unix seconds or YYYY-MM-DDTHH:MM:SSZ");
				return -1;
			}
			char cond[64];
			snprintf(cond, sizeof(cond), "%s %s ?", tscol, i ? "<" : ">=");
			q_and(q, cond);
			q_int(q, t);
		}
	}
	return 0;
}

/*
 * The "%.domain" pattern of DOMAIN_LIKE for the NULL binds of q, malloced:
 * the name as agg_domains_under() takes it (one final dot dropped, any case),
 * its '%', '_' and '\\' escaped (names with '_' are common: SRV, DMARC, DGAs).
 */
static char *domain_pattern(struct q *q, struct wreq *r)
{
	char *pat = NULL;
	for (int i = 0; i < q->n; i++)
		if (!q->b[i].is_int && q->b[i].s == NULL) {
			if (pat == NULL) {
				const char *d = req_arg(r, "domain");
				size_t n = d ? strlen(d) : 0;
				if (n && d[n - 1] == '.')
					n--;
				struct strbuf p;
				strbuf_init(&p);
				strbuf_puts(&p, "%.");
				for (size_t k = 0; k < n; k++) {
					if (d[k] == '%' || d[k] == '_' || d[k] == '\\')
						strbuf_putc(&p, '\\');
					strbuf_putc(&p, (char)tolower((unsigned char)d[k]));
				}
				strbuf_putc(&p, '\0');
				pat = p.data;
			}
			q->b[i].s = pat;
		}
	return pat;
}

static void paged(struct wreq *r, struct wresp *o, const char *cols, const char *from,
                  struct q *q, const char *order)
{
	sqlite3 *d = web_db(r->w);
	int64_t limit, offset;
	if (paging(r, o, &limit, &offset) < 0) {
		strbuf_free(&q->where);
		free(q->owned);
		return;
	}
	char *pat = domain_pattern(q, r);
	struct strbuf sb, sql;
	strbuf_init(&sb);
	strbuf_init(&sql);
	if (d == NULL) {
		strbuf_printf(
		    &sb,
		    "{\"total\":0,\"total_exact\":true,\"limit\":%lld,\"offset\":%lld,"
		    "\"items\":[]}",
		    (long long)limit, (long long)offset);
		resp_json(o, 200, &sb);
		goto out;
	}
	/*
	 * The total is counted up to COUNT_AHEAD rows past this page: a filter
	 * no index serves would otherwise read the whole table at every page.
	 * Past that, "total_exact" is false and "total" a lower bound.
	 */
	int64_t cap = offset + limit + COUNT_AHEAD;
	strbuf_printf(&sql, "SELECT count(*) FROM (SELECT 1 FROM %s%s LIMIT %lld)", from,
	              q->where.data ? q->where.data : "", (long long)cap + 1);
	strbuf_putc(&sql, '\0');
	int64_t total = run_count(d, sql.data, q);
	int exact = total <= cap;
	if (!exact)
		total = cap;
	strbuf_reset(&sql);
	strbuf_printf(&sql, "SELECT %s FROM %s%s ORDER BY %s LIMIT %lld OFFSET %lld", cols,
	              from, q->where.data ? q->where.data : "", order, (long long)limit,
	              (long long)offset);
	strbuf_putc(&sql, '\0');
	strbuf_printf(&sb,
	              "{\"total\":%lld,\"total_exact\":%s,\"limit\":%lld,\"offset\":%lld,"
	              "\"items\":",
	              (long long)total, exact ? "true" : "false", (long long)limit,
	              (long long)offset);
	const char *err;
	int rc = total < 0 ? -1 : run_rows(r, d, sql.data, q, &sb, &err);
	if (rc < 0) {
		strbuf_free(&sb);
		if (rc == -2)
			resp_busy(r, o);
		else
			resp_store_error(o);
		goto out;
	}
	strbuf_putc(&sb, '}');
	resp_json(o, 200, &sb);
out:
	strbuf_free(&sql);
	strbuf_free(&q->where);
	free(q->owned);
	free(pat);
}

#define EVCOLS                                                                                 \
	"id, event_id, ts, event_type, src_ip, src_port, dest_ip, dest_port, proto, "          \
	"community_id, domain, CASE WHEN json_valid(json) THEN json ELSE 'null' END AS event"

static void api_events(struct wreq *r, struct wresp *o, const char *type)
{
	struct q q;
	q_init(&q);
	/*
	 * The index to read: by default the type's in time order (no sort, the
	 * page's rows come first). A domain, or a host with few events, selects
	 * fewer rows through its own index (then sorted): "+event_type" keeps
	 * SQLite off the type's index.
	 */
	const char *dom = req_arg(r, "domain");
	const char *host = arg_host(r, NULL, q.host) > 0 ? q.host : NULL;
	int by_filter = 0;
	if (((dom && *dom) || (host && *host)) && web_db(r->w) &&
	    agg_catch_up(r->w, web_db(r->w)) == 0) {
		struct strbuf tmp;
		strbuf_init(&tmp);
		int64_t n = 0, m = 0;
		if (dom && *dom && agg_domains_under(r->w->agg, dom, 2000, &tmp, &n) < 0)
			n = BUSY_HOST;
		if (host && *host)
			m = agg_host_events(r->w->agg, host);
		strbuf_free(&tmp);
		/* The smaller of the two sets, if it is small. */
		if (dom && *dom && host && *host)
			by_filter = (n < m ? n : m) < BUSY_HOST;
		else
			by_filter = (dom && *dom ? n : m) < BUSY_HOST;
	}
	const char *tcond = by_filter ? "+event_type = ?" : "event_type = ?";
	if (type) {
		q_and(&q, tcond);
		q_str(&q, type);
	} else {
		const char *t = req_arg(r, "type");
		if (t && *t) {
			q_and(&q, tcond);
			q_str(&q, t);
		}
	}
	if (filters(r, o, &q, "ts", 1) < 0) {
		strbuf_free(&q.where);
		free(q.owned);
		return;
	}
	const char *order = req_arg(r, "order");
	if (order && *order && strcmp(order, "asc") && strcmp(order, "desc")) {
		strbuf_free(&q.where);
		free(q.owned);
		resp_error(o, 400, "order: asc or desc");
		return;
	}
	paged(r, o, EVCOLS, "events", &q,
	      order && !strcmp(order, "asc") ? "ts ASC, id ASC" : "ts DESC, id DESC");
}

static void api_sessions(struct wreq *r, struct wresp *o, const char *unused)
{
	(void)unused;
	struct q q;
	q_init(&q);
	if (filters(r, o, &q, "start_ts", 0) < 0) {
		strbuf_free(&q.where);
		free(q.owned);
		return;
	}
	const char *dom = req_arg(r, "domain");
	if (dom && *dom) {
		/*
		 * Sessions to an address the sinkhole handed to that domain or a
		 * subdomain, while the domain held it (as `sinktrap sessions
		 * --domain`: what went to the address while the pool had given it to
		 * another name is that name's): the names from the running totals,
		 * their addresses through the map history's domain index (too many
		 * names: LIKE).
		 */
		sqlite3 *d = web_db(r->w);
		struct strbuf js;
		strbuf_init(&js);
		int n = -1;
		if (d && agg_catch_up(r->w, d) == 0)
			n = agg_domains_under(r->w->agg, dom, 2000, &js, NULL);
		if (n >= 0) {
			strbuf_putc(&js, '\0');
			q_and(&q, "EXISTS (SELECT 1 FROM sinkhole_map_spans h "
			          "WHERE " SQL_SPAN_HOLDS_SESSION
			          " AND h.domain IN (SELECT value FROM json_each(?)))");
			q_str(&q, js.data);
			q.owned = js.data;
		} else {
			strbuf_free(&js);
			q_and(&q, "EXISTS (SELECT 1 FROM sinkhole_map_spans h "
			          "WHERE " SQL_SPAN_HOLDS_SESSION
			          " AND (" DOMAIN_LIKE("h.domain") "))");
			q_str(&q, NULL);
			q_str(&q, NULL);
		}
	}
	paged(
	    r, o,
	    "id, CAST(flow_id AS TEXT) AS flow_id, community_id, src_ip, src_port, dest_ip, "
	    "dest_port, proto, start_ts, end_ts, "
	    "pkts_toserver, pkts_toclient, bytes_toserver, bytes_toclient, state, end_reason, "
	    "(SELECT domain FROM sinkhole_map_spans h WHERE " SQL_SPAN_HOLDS_SESSION
	    ") AS domain",
	    "sessions", &q, "start_ts DESC, id DESC");
}

/* Hosts ranked by trap connections, then events (from the running totals). */
static void api_hosts_grouped(struct wreq *r, struct wresp *o, const char *unused)
{
	(void)unused;
	int64_t limit, offset;
	if (paging(r, o, &limit, &offset) < 0)
		return;
	sqlite3 *d = web_db(r->w);
	struct strbuf sb;
	strbuf_init(&sb);
	if (d != NULL && agg_catch_up(r->w, d) < 0) {
		resp_store_error(o);
		return;
	}
	agg_hosts_json(r->w->agg, limit, offset, &sb);
	resp_json(o, 200, &sb);
}

void api_host(struct wreq *r, struct wresp *o, const char *text)
{
	char ip[INET6_ADDRSTRLEN];
	if (host_norm(text, ip) < 0) {
		resp_error(o, 400, "not an IPv4 or IPv6 address");
		return;
	}
	sqlite3 *d = web_db(r->w);
	struct strbuf sb;
	strbuf_init(&sb);
	strbuf_puts(&sb, "{\"ip\":");
	strbuf_json_str(&sb, (const uint8_t *)ip, strlen(ip));
	if (d == NULL) {
		strbuf_puts(&sb, ",\"events\":[],\"sessions\":[],\"domains\":[]}");
		resp_json(o, 200, &sb);
		return;
	}
	struct q q;
	q_init(&q);
	q_str(&q, ip);
	const char *err;
	int rc;
	strbuf_puts(&sb, ",\"events\":");
	if ((rc =
	         run_rows(r, d,
	                  "SELECT " EVCOLS " FROM events WHERE src_ip = ?1 AND event_type IN "
	                  "('dns','trap','fileinfo','alert','flow') ORDER BY ts, id LIMIT 2000",
	                  &q, &sb, &err)) < 0)
		goto fail;
	strbuf_puts(&sb, ",\"domains\":");
	/* The worker has them counted; `sinktrap report` asks the store. */
	int counted = r->w->live && agg_catch_up(r->w, d) == 0 &&
	              agg_host_domains_json(r->w->agg, ip, 200, &sb) == 0;
	if (!counted &&
	    (rc = run_rows(
	         r, d,
	         "SELECT domain, count(*) AS queries, min(ts) AS first_seen FROM events WHERE "
	         "src_ip = ?1 AND event_type = 'dns' AND domain IS NOT NULL GROUP BY domain "
	         "ORDER BY queries DESC LIMIT 200",
	         &q, &sb, &err)) < 0)
		goto fail;
	strbuf_puts(&sb, ",\"sessions\":");
	if ((rc = run_rows(
	         r, d,
	         "SELECT id, CAST(flow_id AS TEXT) AS flow_id, community_id, src_ip, "
	         "src_port, dest_ip, dest_port, proto, "
	         "start_ts, end_ts, pkts_toserver + pkts_toclient AS packets, "
	         "bytes_toserver + bytes_toclient AS bytes FROM sessions WHERE src_ip = ?1 "
	         "ORDER BY start_ts LIMIT 1000",
	         &q, &sb, &err)) < 0) {
		if (rc == -2)
			goto fail;
		/* An older store without sessions. */
		strbuf_puts(&sb, "[]");
	}
	strbuf_putc(&sb, '}');
	resp_json(o, 200, &sb);
	return;
fail:
	strbuf_free(&sb);
	if (rc == -2)
		resp_busy(r, o);
	else
		resp_store_error(o);
}

static void api_stats(struct wreq *r, struct wresp *o, const char *unused)
{
	(void)unused;
	sqlite3 *d = web_db(r->w);
	struct strbuf sb;
	strbuf_init(&sb);
	if (d == NULL) {
		strbuf_puts(
		    &sb, "{\"store\":\"empty\",\"counts\":[],\"top_domains\":[],\"top_hosts\":"
		         "[],\"top_ports\":[],\"top_protocols\":[],\"timeline\":[],"
		         "\"health\":[]}");
		resp_json(o, 200, &sb);
		return;
	}
	/* Running totals, caught up with the rows stored since the last call. */
	if (agg_catch_up(r->w, d) < 0) {
		resp_store_error(o);
		return;
	}
	agg_stats_json(r->w->agg, d, &sb);
	resp_json(o, 200, &sb);
}

static int valid_sha256(const char *s)
{
	if (strlen(s) != 64)
		return 0;
	for (const char *p = s; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return 0;
	return 1;
}

/*
 * A payload download: the archive is made as it is sent (web_zip_*), the
 * file read a block at a time, so that a download holds a block whatever
 * the payload's size. The headers need the data's CRC-32: the file is read
 * once before the answer, then again as it is sent. Should the file not be
 * what it was on the first reading (shorter, or another CRC), the
 * connection is closed before the end of the archive (of announced
 * length): a client never takes a broken archive for a whole one.
 */
struct zip_stream {
	int fd;
	uint64_t pos; /* archive bytes given so far */
	uint32_t crc; /* of the data read so far */
	struct web_zip z;
};

static void zip_stream_free(void *cls)
{
	struct zip_stream *zs = cls;
	close(zs->fd);
	free(zs);
}

static ssize_t zip_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct zip_stream *zs = cls;
	struct web_zip *z = &zs->z;
	uint64_t end_data = (uint64_t)z->nhead + z->len, total = end_data + z->ntail;
	size_t n = 0;
	if (pos != zs->pos)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	while (n < max && zs->pos < total) {
		size_t k;
		if (zs->pos < z->nhead) {
			k = z->nhead - (size_t)zs->pos;
			if (k > max - n)
				k = max - n;
			memcpy(buf + n, z->head + zs->pos, k);
		} else if (zs->pos < end_data) {
			uint64_t left = end_data - zs->pos;
			k = left < max - n ? (size_t)left : max - n;
			ssize_t got = pread(zs->fd, buf + n, k, (off_t)(zs->pos - z->nhead));
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0)
				return MHD_CONTENT_READER_END_WITH_ERROR; /* shorter than it was
				                                           */
			k = (size_t)got;
			zs->crc = web_zip_crc(zs->crc, (uint8_t *)buf + n, k);
			web_zip_crypt(z, (uint8_t *)buf + n, k);
			/* The archive ends only if the data was what the headers say. */
			if (zs->pos + k == end_data && zs->crc != z->crc)
				return MHD_CONTENT_READER_END_WITH_ERROR;
		} else {
			size_t at = (size_t)(zs->pos - end_data);
			k = z->ntail - at;
			if (k > max - n)
				k = max - n;
			memcpy(buf + n, z->tail + at, k);
		}
		n += k;
		zs->pos += k;
	}
	if (n == 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	return (ssize_t)n;
}

static void api_payload(struct wreq *r, struct wresp *o, const char *sha)
{
	if (!valid_sha256(sha)) {
		resp_error(o, 400, "a payload is named by its sha256: 64 lowercase hex digits");
		return;
	}
	char path[4300];
	snprintf(path, sizeof(path), "%s/%.2s/%s", r->w->payload_dir, sha, sha);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		resp_error(o, 404, "no such payload");
		return;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		resp_error(o, 404, "no such payload");
		return;
	}
	if ((uint64_t)st.st_size > WEB_ZIP_MAX_DATA) {
		close(fd);
		resp_error(o, 500, "the payload is too large for a ZIP archive (4 GiB)");
		return;
	}
	/* The CRC-32 of the data, for the headers. */
	uint64_t len = (uint64_t)st.st_size, got = 0;
	uint32_t crc = 0;
	uint8_t *blk = malloc(WEB_STREAM_BLOCK);
	while (blk && got < len) {
		size_t want =
		    len - got < WEB_STREAM_BLOCK ? (size_t)(len - got) : WEB_STREAM_BLOCK;
		ssize_t n = pread(fd, blk, want, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		crc = web_zip_crc(crc, blk, (size_t)n);
		got += (uint64_t)n;
	}
	int oom = blk == NULL;
	free(blk);
	struct zip_stream *zs = calloc(1, sizeof(*zs));
	char name[80];
	snprintf(name, sizeof(name), "%s.bin", sha);
	uint8_t rnd[11];
	web_zip_random(rnd);
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	if (oom || zs == NULL || got != len ||
	    web_zip_begin(&zs->z, name, len, crc, "infected", rnd, &tm) < 0) {
		close(fd);
		free(zs);
		resp_error(o, 500, "could not read the payload");
		return;
	}
	zs->fd = fd;
	struct MHD_Response *resp = MHD_create_response_from_callback(
	    web_zip_size(&zs->z), WEB_STREAM_BLOCK, zip_stream_read, zs, zip_stream_free);
	if (resp == NULL) {
		zip_stream_free(zs);
		resp_error(o, 500, "out of memory");
		return;
	}
	o->stream = resp;
	o->status = 200;
	o->ctype = "application/zip";
	snprintf(o->disposition, sizeof(o->disposition), "attachment; filename=\"%s.zip\"",
	         sha);
}

/* Whether the store fills the payloads table (an older one does not). */
static int payloads_table_used(sqlite3 *d)
{
	sqlite3_stmt *st;
	int have = 0;
	if (d && sqlite3_prepare_v2(d, "SELECT 1 FROM payloads LIMIT 1", -1, &st, NULL) ==
	             SQLITE_OK) {
		have = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_finalize(st);
	}
	return have;
}

static void api_payloads(struct wreq *r, struct wresp *o, const char *unused)
{
	(void)unused;
	struct q q;
	q_init(&q);
	int k = arg_host(r, o, q.host);
	if (k < 0) {
		strbuf_free(&q.where);
		return;
	}
	const char *v = k > 0 ? q.host : NULL;
	if (payloads_table_used(web_db(r->w))) {
		/* One row per payload, with the host and domain of its first event. */
		struct strbuf js;
		strbuf_init(&js);
		sqlite3 *d = web_db(r->w);
		if (v && *v && r->w->live && d && agg_catch_up(r->w, d) == 0 &&
		    agg_host_payloads(r->w->agg, v, 5000, &js) >= 0) {
			/* The host's payloads, from the running totals. */
			strbuf_putc(&js, '\0');
			q_and(&q, "p.sha256 IN (SELECT value FROM json_each(?))");
			q_str(&q, js.data);
			q.owned = js.data;
		} else if (v && *v) {
			strbuf_free(&js);
			q_and(
			    &q,
			    "p.sha256 IN (SELECT json_extract(json, '$.fileinfo.sha256') FROM "
			    "events WHERE src_ip = ? AND event_type = 'fileinfo' AND "
			    "json_valid(json))");
			q_str(&q, v);
		} else {
			strbuf_free(&js);
		}
		/* The event's columns as subqueries: looked up for the page's rows only. */
		paged(r, o,
		      "p.sha256, p.size, p.first_seen, p.last_seen, p.seen, p.kind, p.name, "
		      "(SELECT src_ip FROM events e WHERE e.event_id = p.event_id) AS src_ip, "
		      "(SELECT domain FROM events e WHERE e.event_id = p.event_id) AS domain",
		      "payloads p", &q, "p.last_seen DESC, p.sha256");
		return;
	}
	/* Without it: from the fileinfo events themselves. */
	if (v && *v) {
		q_and(&q, "src_ip = ?");
		q_str(&q, v);
	}
	paged(r, o, "*",
	      "(SELECT json_extract(json, '$.fileinfo.sha256') AS sha256, "
	      "max(json_extract(json, '$.fileinfo.size')) AS size, min(ts) AS first_seen, "
	      "max(ts) "
	      "AS last_seen, count(*) AS seen, max(json_extract(json, '$.fileinfo.kind')) AS "
	      "kind, "
	      "max(json_extract(json, '$.fileinfo.filename')) AS name, min(src_ip) AS src_ip, "
	      "max(domain) AS domain FROM events WHERE event_type = 'fileinfo' AND "
	      "json_valid(json) "
	      "GROUP BY sha256) AS p",
	      &q, "last_seen DESC");
}

static int safe_arg(const char *s)
{
	if (s == NULL || *s == '\0' || strlen(s) > 100 || *s == '-')
		return 0;
	for (const char *p = s; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= 'A' && *p <= 'Z') || strchr(".:-+/=_T", *p)))
			return 0;
	return 1;
}

static void api_session_pcap(struct wreq *r, struct wresp *o, const char *rest)
{
	/* rest: "ID/pcap" */
	const char *slash = strchr(rest, '/');
	if (slash == NULL || strcmp(slash, "/pcap")) {
		resp_error(o, 404, "no such endpoint");
		return;
	}
	char id[32];
	size_t n = (size_t)(slash - rest);
	if (n == 0 || n >= sizeof(id)) {
		resp_error(o, 400, "a session is named by its numeric session (flow) id");
		return;
	}
	memcpy(id, rest, n);
	id[n] = '\0';
	/*
	 * A session is named by its flow id, the SESSION of `sinktrap sessions`
	 * and the flow_id of its events, so the page, the CLI and the SIEM agree.
	 */
	int64_t flow;
	if (web_parse_int(id, 1, INT64_MAX, &flow) < 0) {
		resp_error(o, 400, "a session is named by its numeric session (flow) id");
		return;
	}
	sqlite3 *d = web_db(r->w);
	sqlite3_stmt *st;
	int found = 0;
	if (d && sqlite3_prepare_v2(d, "SELECT 1 FROM sessions WHERE flow_id = ? LIMIT 1", -1,
	                            &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, flow);
		found = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_finalize(st);
	}
	if (!found) {
		resp_error(o, 404, "no such session");
		return;
	}
	char ids[32], fname[64];
	snprintf(ids, sizeof(ids), "%lld", (long long)flow);
	snprintf(fname, sizeof(fname), "session-%lld.pcap", (long long)flow);
	char *args[] = {"--session", ids};
	web_pcap_run(r->w, o, args, 2, fname);
}

static void api_pcap(struct wreq *r, struct wresp *o, const char *unused)
{
	(void)unused;
	static const char *const opts[][2] = {{"host", "--host"},
	                                      {"port", "--port"},
	                                      {"since", "--since"},
	                                      {"until", "--until"},
	                                      {"community_id", "--community-id"},
	                                      {"net", "--net"},
	                                      {"proto", "--proto"},
	                                      {"domain", "--domain"}};
	char *args[2 * sizeof(opts) / sizeof(opts[0])];
	char times[2][40], host[INET6_ADDRSTRLEN], net[INET6_ADDRSTRLEN + 8];
	int n = 0;
	if (arg_host(r, o, host) < 0 || arg_net(r, o, net) < 0)
		return;
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		const char *v = req_arg(r, opts[i][0]);
		if (v == NULL || *v == '\0')
			continue;
		if (i == 0) {
			v = host;
		} else if (i == 5) {
			v = net;
		} else if (i == 2 || i == 3) {
			/* The API's time forms, handed on as "@seconds.micro". */
			int64_t t;
			if (web_parse_time(v, &t) < 0) {
				resp_error(o, 400,
				           "since/until: unix seconds or YYYY-MM-DDTHH:MM:SSZ");
				return;
			}
			snprintf(times[i - 2], sizeof(times[0]), "@%lld.%06lld",
			         (long long)(t / 1000000), (long long)(t % 1000000));
			v = times[i - 2];
		} else if (!safe_arg(v)) {
			resp_error(o, 400, "invalid filter value");
			return;
		}
		args[n++] = (char *)opts[i][1];
		args[n++] = (char *)v;
	}
	if (n == 0) {
		resp_error(o, 400,
		           "give at least one of host, net, port, proto, domain, since, until, "
		           "community_id");
		return;
	}
	web_pcap_run(r->w, o, args, n, "sinktrap.pcap");
}

/*
 * Entries per list file, read with the DNS worker's own parser, kept until a
 * file changes (its size or modification time): a large list takes a while
 * to read, the page should not.
 */
static pthread_mutex_t g_lists_lock = PTHREAD_MUTEX_INITIALIZER;
static char *g_lists_sig;    /* size:mtime of every list file */
static char *g_lists_counts; /* JSON: [{path, format, allow, entries, invalid}] */

static char *lists_signature(const struct config *c)
{
	struct strbuf sb;
	strbuf_init(&sb);
	for (int i = 0; i < c->nlists; i++) {
		struct stat st;
		if (stat(c->lists[i].path, &st) == 0)
			strbuf_printf(&sb, "%lld:%lld.%09ld;", (long long)st.st_size,
			              (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
		else
			strbuf_puts(&sb, "-;");
	}
	strbuf_putc(&sb, '\0');
	return sb.data;
}

/*
 * The lists as the DNS worker would load them now, rebuilt when a file
 * changed: g_policy answers "which entry decides this name?" without reading
 * the lists at every question. Under g_lists_lock. 0, or -1 with err.
 */
static struct policy *g_policy;
static char g_lists_err[512];

static int lists_current_locked(struct config *c)
{
	char *sig = lists_signature(c);
	if (g_lists_sig && sig && !strcmp(sig, g_lists_sig)) {
		free(sig);
		return g_policy ? 0 : -1;
	}
	policy_free(&g_policy);
	free(g_lists_counts);
	g_lists_counts = NULL;
	free(g_lists_sig);
	g_lists_sig = sig;
	g_lists_err[0] = '\0';
	struct list_source *ls;
	int n;
	struct policy *p = NULL;
	if (dns_lists_open(c, &ls, &n, g_lists_err, sizeof(g_lists_err)) == 0) {
		p = dns_policy_build(ls, n, 1, 0, g_lists_err, sizeof(g_lists_err));
		dns_lists_close(ls, n);
	}
	if (p == NULL)
		return -1;
	g_lists_err[0] = '\0';
	struct strbuf sb;
	strbuf_init(&sb);
	strbuf_putc(&sb, '[');
	for (int i = 0; i < policy_list_count(p); i++) {
		const struct list_info *li = policy_list(p, i);
		strbuf_puts(&sb, i ? ",{\"path\":" : "{\"path\":");
		strbuf_json_str(&sb, (const uint8_t *)li->path, strlen(li->path));
		strbuf_puts(&sb, ",\"format\":");
		const char *f = list_format_name(li->format);
		strbuf_json_str(&sb, (const uint8_t *)f, strlen(f));
		strbuf_printf(&sb,
		              ",\"allow\":%s,\"clients\":%s,\"entries\":%u,\"invalid\":%u}",
		              li->allow ? "true" : "false", li->clients ? "true" : "false",
		              li->entries, li->invalid);
	}
	strbuf_printf(&sb, "],\"rules\":%zu", policy_rules(p));
	strbuf_putc(&sb, '\0');
	g_lists_counts = sb.data;
	g_policy = p;
	return 0;
}

/* The per-list counts as JSON (malloced), or NULL with err when the lists do not load. */
static char *lists_counts(struct config *c, char *err, size_t errlen)
{
	pthread_mutex_lock(&g_lists_lock);
	char *out = NULL;
	if (lists_current_locked(c) == 0 && g_lists_counts)
		out = strdup(g_lists_counts);
	else
		snprintf(err, errlen, "%s", g_lists_err);
	pthread_mutex_unlock(&g_lists_lock);
	return out;
}

/*
 * What `sinktrap check NAME` prints, from the cached lists: the deciding
 * entry and the answer, decided by the DNS worker's own code. 0 if NAME
 * would be sinkholed, 1 if not, 2 on error.
 */
static int check_name(struct config *c, const char *name, FILE *out)
{
	pthread_mutex_lock(&g_lists_lock);
	int rc;
	if (lists_current_locked(c) < 0) {
		fprintf(out, "%s\n", g_lists_err);
		rc = 2;
	} else {
		rc = dns_check_policy(c, g_policy, name, out, out);
	}
	pthread_mutex_unlock(&g_lists_lock);
	return rc;
}

/* The JSON of one event by id ("null" when there is none). */
static void event_json_by_id(sqlite3 *d, int64_t id, const char *path, struct strbuf *sb)
{
	sqlite3_stmt *st;
	int done = 0;
	if (d && id > 0 &&
	    sqlite3_prepare_v2(
	        d,
	        "SELECT ts, json_extract(json, ?2) FROM events WHERE id = ?1 AND "
	        "json_valid(json)",
	        -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW &&
		    sqlite3_column_type(st, 1) != SQLITE_NULL) {
			strbuf_printf(sb, "{\"ts\":%lld,\"stats\":",
			              (long long)sqlite3_column_int64(st, 0));
			const uint8_t *t = sqlite3_column_text(st, 1);
			int len = sqlite3_column_bytes(st, 1);
			if (sqlite3_column_type(st, 1) == SQLITE_TEXT &&
			    (len == 0 || t[0] != '{'))
				strbuf_json_str(sb, t, (size_t)len);
			else
				strbuf_put(sb, t, (size_t)len);
			strbuf_putc(sb, '}');
			done = 1;
		}
		sqlite3_finalize(st);
	}
	if (!done)
		strbuf_puts(sb, "null");
}

static void api_lists(struct wreq *r, struct wresp *o, const char *unused)
{
	(void)unused;
	struct config *c = r->w->cfg;
	struct strbuf sb;
	strbuf_init(&sb);
	char err[512] = "";
	char *counts = lists_counts(c, err, sizeof(err));
	strbuf_puts(&sb, "{\"lists\":[");
	for (int i = 0; i < c->nlists; i++) {
		const char *p = c->lists[i].path;
		struct stat st;
		if (i)
			strbuf_putc(&sb, ',');
		strbuf_puts(&sb, "{\"path\":");
		strbuf_json_str(&sb, (const uint8_t *)p, strlen(p));
		if (stat(p, &st) == 0)
			strbuf_printf(&sb, ",\"size\":%lld,\"mtime\":%lld}",
			              (long long)st.st_size, (long long)st.st_mtime);
		else
			strbuf_puts(&sb, ",\"size\":null,\"mtime\":null}");
	}
	/* Entries per file, as the DNS worker's parser reads the files now. */
	strbuf_puts(&sb, "],\"entries\":");
	if (counts) {
		strbuf_puts(&sb, counts);
		strbuf_puts(&sb, ",\"lists_error\":null");
	} else {
		strbuf_puts(&sb, "[],\"rules\":null,\"lists_error\":");
		strbuf_json_str(&sb, (const uint8_t *)err, strlen(err));
	}
	free(counts);
	sqlite3 *d = web_db(r->w);
	int64_t n = -1, reload_id = 0, stats_id = 0;
	if (d && agg_catch_up(r->w, d) == 0)
		agg_list_events(r->w->agg, &reload_id, &stats_id);
	/* What the DNS worker loaded: its last reload, its last stats. */
	strbuf_puts(&sb, ",\"last_reload\":");
	event_json_by_id(d, reload_id, "$.stats.reload", &sb);
	strbuf_puts(&sb, ",\"dns_stats\":");
	event_json_by_id(d, stats_id, "$.stats.dns", &sb);
	strbuf_puts(&sb, ",\"sinkholed_domains\":");
	if (d) {
		struct q q;
		q_init(&q);
		n = run_count(d, "SELECT count(DISTINCT domain) FROM sinkhole_map", &q);
	}
	strbuf_printf(&sb, "%lld", (long long)(n < 0 ? 0 : n));
	/* Which lists decided the queries seen, by the entries' list files. */
	strbuf_puts(&sb, ",\"decided_by\":");
	if (d)
		agg_decided_by_json(r->w->agg, &sb);
	else
		strbuf_puts(&sb, "[]");
	strbuf_putc(&sb, '}');
	resp_json(o, 200, &sb);
}

static void api_lists_check(struct wreq *r, struct wresp *o, const char *unused)
{
	(void)unused;
	const char *name = req_arg(r, "name");
	/* Unicode (UTF-8) is taken, as by `sinktrap check`; control bytes are not. */
	if (name == NULL || *name == '\0' || strlen(name) > 1000) {
		resp_error(o, 400, "name: a domain name");
		return;
	}
	for (const char *p = name; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f) {
			resp_error(o, 400, "name: a domain name");
			return;
		}
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (f == NULL) {
		resp_error(o, 500, "out of memory");
		return;
	}
	int rc = check_name(r->w->cfg, name, f);
	fclose(f);
	struct strbuf sb;
	strbuf_init(&sb);
	strbuf_puts(&sb, "{\"name\":");
	strbuf_json_str(&sb, (const uint8_t *)name, strlen(name));
	strbuf_printf(&sb, ",\"sinkholed\":%s,\"error\":%s,\"explanation\":",
	              rc == 0 ? "true" : "false", rc == 2 ? "true" : "false");
	strbuf_json_str(&sb, (const uint8_t *)(text ? text : ""), len);
	strbuf_putc(&sb, '}');
	free(text);
	resp_json(o, 200, &sb);
}

/*
 * The query parameters each endpoint takes. Any other is refused: a misspelt
 * filter ("hosts=", "ip=") must be an error, not a search over everything.
 */
#define FILTERS                                                                                \
	"host", "net", "port", "proto", "domain", "since", "until", "community_id", "session"
static const char *const p_none[] = {NULL};
static const char *const p_paged[] = {"limit", "offset", NULL};
static const char *const p_events[] = {FILTERS, "type", "order", "limit", "offset", NULL};
static const char *const p_typed[] = {FILTERS, "order", "limit", "offset", NULL};
static const char *const p_sessions[] = {FILTERS, "limit", "offset", NULL};
static const char *const p_pcap[] = {"host",  "net",   "port",         "proto", "domain",
                                     "since", "until", "community_id", NULL};
static const char *const p_payloads[] = {"host", "limit", "offset", NULL};
static const char *const p_check[] = {"name", NULL};
#undef FILTERS

struct argcheck {
	const char *const *ok;
	const char *bad;
};

static enum MHD_Result arg_known(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
	(void)kind;
	(void)value;
	struct argcheck *c = cls;
	for (const char *const *k = c->ok; *k; k++)
		if (!strcmp(*k, key))
			return MHD_YES;
	c->bad = key;
	return MHD_NO;
}

/* 0 when every parameter of the request is one of ok; else the 400 is given. */
static int args_known(struct wreq *r, struct wresp *o, const char *const *ok)
{
	struct argcheck c = {ok, NULL};
	if (r->conn)
		MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, arg_known, &c);
	if (c.bad == NULL)
		return 0;
	struct strbuf sb;
	strbuf_init(&sb);
	strbuf_printf(&sb, "unknown parameter '%.40s'; this endpoint takes ", c.bad);
	if (*ok == NULL)
		strbuf_puts(&sb, "none");
	for (const char *const *k = ok; *k; k++)
		strbuf_printf(&sb, "%s%s", k == ok ? "" : ", ", *k);
	strbuf_putc(&sb, '\0');
	resp_error(o, 400, sb.data);
	strbuf_free(&sb);
	return -1;
}

/* The endpoints: a path (or, with prefix, what starts with it: the rest is
 * the handler's argument, else arg is), and the parameters each takes. */
static const struct route {
	const char *path;
	int prefix;
	const char *const *params;
	void (*fn)(struct wreq *r, struct wresp *o, const char *arg);
	const char *arg;
} routes[] = {
    {"/api/stats", 0, p_none, api_stats, NULL},
    {"/api/hosts", 0, p_paged, api_hosts_grouped, NULL},
    {"/api/hosts/", 1, p_none, api_host, NULL},
    {"/api/dns", 0, p_typed, api_events, "dns"},
    {"/api/trap", 0, p_typed, api_events, "trap"},
    {"/api/events", 0, p_events, api_events, NULL},
    {"/api/sessions", 0, p_sessions, api_sessions, NULL},
    {"/api/sessions/", 1, p_none, api_session_pcap, NULL},
    {"/api/pcap", 0, p_pcap, api_pcap, NULL},
    {"/api/payloads", 0, p_payloads, api_payloads, NULL},
    {"/api/payloads/", 1, p_none, api_payload, NULL},
    {"/api/lists", 0, p_none, api_lists, NULL},
    {"/api/lists/check", 0, p_check, api_lists_check, NULL},
};

void api_route(struct wreq *r, struct wresp *o)
{
	const char *u = r->url;
	if (strcmp(r->method, "GET") && strcmp(r->method, "HEAD")) {
		resp_error(o, 405, "this endpoint only answers GET");
		return;
	}
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct route *rt = &routes[i];
		size_t n = strlen(rt->path);
		if (rt->prefix ? strncmp(u, rt->path, n) != 0 : strcmp(u, rt->path) != 0)
			continue;
		if (args_known(r, o, rt->params) == 0)
			rt->fn(r, o, rt->prefix ? u + n : rt->arg);
		return;
	}
	resp_error(o, 404, "no such endpoint");
}

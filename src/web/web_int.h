/* Inside the web worker. */
#ifndef SINKTRAP_WEB_WEB_INT_H
#define SINKTRAP_WEB_WEB_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

#include "store/render.h"
#include "web/web.h"

#define WEB_MAX_SESSIONS 256
/* A session ends 8 hours after its last use, and a week after its sign-in
 * however much it is used. */
#define WEB_SESSION_TTL (8 * 3600)
#define WEB_SESSION_MAX (7 * 86400)
/* The cookie is sent again, with a fresh Max-Age, once a use has moved the
 * session's end this far past what the browser was last told. */
#define WEB_COOKIE_RENEW 60
#define WEB_MAX_RATE 256
#define WEB_LOGIN_BURST 5
/* Connections served at once, each on its own thread. */
#define WEB_MAX_CONNECTIONS 64
/* Of which one client address may hold at most this many: a client that
 * opens connections and leaves them idle cannot take every thread. */
#define WEB_MAX_PER_ADDRESS 16
/* Past WEB_MAX_CONNECTIONS - this, a new connection closes the one that has
 * waited longest without a request (web.c). */
#define WEB_SPARE_CONNECTIONS 8
/* The time a connection has to send a whole request, from its start or from
 * its last answer (ms). */
#define WEB_RECV_MS 10000
/* Read-only store connections kept open between requests. */
#define WEB_DB_IDLE 16
/* Password checks (argon2id, 19 MiB each) running at once. */
#define WEB_MAX_ARGON2 2
/*
 * Memory: an answer built in memory (JSON) counts against [web] memory_max
 * once it is larger than WEB_ANSWER_SMALL; one that would take the answers
 * held past it is refused (503, Retry-After: WEB_RETRY_AFTER seconds).
 * Downloads are streamed in blocks of WEB_STREAM_BLOCK bytes.
 */
#define WEB_ANSWER_SMALL (64 * 1024)
#define WEB_RETRY_AFTER 5
#define WEB_STREAM_BLOCK (64 * 1024)

/* budget.c: what the answers built in memory hold, all connections together. */
struct web_budget {
	pthread_mutex_t lock;
	size_t max;  /* 0: no limit */
	size_t held; /* bytes counted */
	uint64_t refused;
	int64_t said_ms; /* the last warning about it */
};
void web_budget_init(struct web_budget *b, size_t max);
/*
 * One request's answer has grown to now bytes; *mine is what it has counted
 * so far. 0, counted (*mine = now; an answer of at most WEB_ANSWER_SMALL
 * bytes is not counted); -1 when other answers hold memory and the total
 * would pass max: nothing counted, the answer is to be dropped. One answer
 * alone may pass max.
 */
int web_budget_grow(struct web_budget *b, size_t *mine, size_t now);
/* The request is over: what it counted is given back (*mine = 0). */
void web_budget_release(struct web_budget *b, size_t *mine);
/* Bytes counted now, and the answers refused so far. */
size_t web_budget_held(struct web_budget *b, uint64_t *refused);
/* 1 when a refusal is to be logged (at most once in 10 s). */
int web_budget_say(struct web_budget *b, int64_t now_ms);

struct wsession {
	char id[65];
	char csrf[65];
	char user[65];
	uint8_t cred[32]; /* sha256 of the user's line in the users file at sign-in */
	int64_t expires;  /* unix seconds: the last use + WEB_SESSION_TTL, at most ends */
	int64_t ends;     /* the sign-in + WEB_SESSION_MAX */
	int64_t told;     /* the end the browser's cookie was last given */
	int renew;        /* in a copy session_find() made: send the cookie again */
};

struct wrate {
	char addr[64];
	int64_t window;
	int count;
};

struct web {
	struct config *cfg;
	const char *conf_path;
	int conf_fd; /* its text, kept at start: what the PCAP queries read (-1: none) */
	char db_path[4096];
	char spool[4096];
	char payload_dir[4096];
	/* Store connections not in use (WAL readers: they never block the writer). */
	pthread_mutex_t db_lock;
	sqlite3 *db_idle[WEB_DB_IDLE];
	int ndb_idle;
	/* Sessions, the login rate limit and the password check slots. */
	pthread_mutex_t lock;
	pthread_cond_t argon2_free;
	int argon2_running;
	struct wsession sessions[WEB_MAX_SESSIONS];
	struct wrate rate[WEB_MAX_RATE];
	struct wrate rate_rest; /* every address that found no slot free, together */
	char dummy_hash[256];
	struct agg *agg; /* agg.c: running totals of the events table */
	int live;        /* the worker (not `sinktrap report`): use the running totals */
	struct web_budget budget;
};

/* A request as the API handlers see it. */
struct wreq {
	struct web *w;
	void *conn; /* struct MHD_Connection */
	const char *url;
	const char *method;
	const char *body;
	size_t body_len;
	const char *client; /* text address */
	size_t *held;       /* what the answer has counted in w->budget; NULL: not counted */
};

/* A response: status, content type, body (malloced), extra headers. */
struct wresp {
	int status;
	const char *ctype;
	uint8_t *body;
	size_t len;
	size_t cap;      /* bytes allocated for body (0: len) */
	int body_static; /* body points at embedded data */
	int retry_after; /* seconds, for a 503 */
	char disposition[256];
	char set_cookie[512];
	void *stream; /* a struct MHD_Response made by the handler (a streamed download) */
};

/* auth.c */
void auth_init(struct web *w);
int ct_equal(const char *a, const char *b);
void random_hex(char *out, size_t nbytes);
/* 1 and cred (what session_new() keeps of the user's line), or 0. */
int auth_check_password(struct web *w, const char *user, const char *pass, uint8_t cred[32]);
int auth_check_token(struct web *w, const char *token);
/* Sessions are copied out under the lock: *out stays valid whatever happens. */
void session_new(struct web *w, const char *user, const uint8_t cred[32], struct wsession *out);
/*
 * The live session of the cookie id, renewed: 1 and *out, or 0. A session
 * whose user is no longer in the users file with the same password hash (or
 * that has expired) ends here. Reads the users file.
 */
int session_find(struct web *w, const char *id, struct wsession *out);
void session_end(struct web *w, const char *id);
/* Counts the attempt (WEB_LOGIN_BURST a minute per address, or IPv6 /64);
 * 0: refused. A success gives it back. */
int login_allowed(struct web *w, const char *addr);
void login_succeeded(struct web *w, const char *addr);
/* API tokens: 0 when the address has had WEB_LOGIN_BURST failures (wrong
 * passwords or tokens) this minute; token_failed counts a wrong token and
 * returns the address's failures so far. */
int token_allowed(struct web *w, const char *addr);
int token_failed(struct web *w, const char *addr);

/* api.c */
const char *req_arg(struct wreq *r, const char *name);
void resp_json(struct wresp *o, int status, struct strbuf *sb);
void resp_error(struct wresp *o, int status, const char *msg);
/*
 * 503: the answer would take the worker past [web] memory_max (logged at
 * most every 10 s); what it counted is given back at once, as its body is
 * dropped.
 */
void resp_busy(struct wreq *r, struct wresp *o);
/*
 * The answer being built in sb is about to take more bytes: counted in the
 * budget first (the capacity sb will grow to). 0, or -1: over the budget.
 */
int answer_grow(struct wreq *r, const struct strbuf *sb, size_t more);
void api_route(struct wreq *r, struct wresp *o);
void api_host(struct wreq *r, struct wresp *o, const char *ip);
/*
 * An address as the store writes it (inet_ntop's form, a v4-mapped one as
 * IPv4, so that "::0001" finds "::1"): 0 and the text in out, or -1 when v is
 * not an address. out: INET6_ADDRSTRLEN bytes.
 */
int host_norm(const char *v, char *out);
/*
 * The calling thread's store connection (read-only), taken from the pool at
 * the first call of a request; NULL while there is no store.
 * web_db_release() hands it back at the end of the request.
 */
sqlite3 *web_db(struct web *w);
void web_db_release(struct web *w);
/* The calling thread's queries run without the request's time limit (10 s). */
void web_db_no_deadline(void);
void web_state_init(struct web *w);
void web_state_free(struct web *w);

/* pcap.c: the helper that forks the PCAP queries (before any thread). 0, or -1. */
int web_pcap_helper_start(void);
/* Answer o with the output of `sinktrap pcap ARGS -w -`, streamed. */
void web_pcap_run(struct web *w, struct wresp *o, char **args, int nargs, const char *fname);

/* agg.c: running aggregates of the events table, caught up at every use. */
struct agg;
struct agg *agg_new(void);
void agg_free(struct agg *a);
/* Catch up with the store (new rows since the last call). 0, or -1. */
int agg_update(struct agg *a, sqlite3 *d);
/* Answers built from the aggregates (lock held inside). */
void agg_stats_json(struct agg *a, sqlite3 *d, struct strbuf *sb);
/* The hosts ranked as GET /api/hosts pages them. */
void agg_hosts_json(struct agg *a, int64_t limit, int64_t offset, struct strbuf *sb);
/*
 * The stored domains equal to d or under it, as a JSON array of strings;
 * -1 when there are more than max (the caller falls back to LIKE).
 */
int agg_domains_under(struct agg *a, const char *d, int max, struct strbuf *out,
                      int64_t *events);
/* A host's domains (DNS queries, first query), most queried first, as a JSON array. */
int agg_host_domains_json(struct agg *a, const char *ip, int max, struct strbuf *sb);
/* The sha256 of a host's payloads as a JSON array: their number, or -1 when over max. */
int agg_host_payloads(struct agg *a, const char *ip, int max, struct strbuf *sb);
/* The events of a host (as the source or the destination) counted so far. */
int64_t agg_host_events(struct agg *a, const char *ip);
/* "decided_by" of GET /api/lists. */
void agg_decided_by_json(struct agg *a, struct strbuf *sb);
/* The ids of the newest list reload event and DNS stats event (0: none). */
void agg_list_events(struct agg *a, int64_t *reload_id, int64_t *dnsstats_id);

/* assets (generated) */
struct web_asset {
	const char *path;
	const char *ctype;
	const char *data;
	size_t len;
};
extern const struct web_asset web_assets[];
extern const size_t web_nassets;

#endif

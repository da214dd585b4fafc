/*
 * The web worker's HTTP server (libmicrohttpd, a thread per connection, at
 * most WEB_MAX_CONNECTIONS, WEB_MAX_PER_ADDRESS of them from one address: a
 * slow request, such as a long PCAP download, holds only its own connection;
 * the in-memory sessions are under w->lock, each thread reads the store
 * through its own SQLite connection).
 * Authentication, CSRF and the security headers live here; the data
 * endpoints are in api.c, the page in the embedded assets (web/).
 */
#include "web/web_int.h"
#include "web/params.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/config.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/openssl_shim.h"
#include "common/sandbox.h"
#include "common/util.h"
#include "capture/capture.h"

#define MAX_BODY (64 * 1024)
#define COOKIE "sinktrap_session"

static const char CSP[] = "default-src 'self'; script-src 'self'; style-src 'self'; "
                          "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
                          "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

struct conn_state {
	struct strbuf body;
	int too_large;
	size_t held; /* what the answer counts in the memory budget */
};

static void add_security_headers(struct MHD_Response *r)
{
	MHD_add_response_header(r, "Content-Security-Policy", CSP);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Cross-Origin-Opener-Policy", "same-origin");
	MHD_add_response_header(r, "Cross-Origin-Resource-Policy", "same-origin");
}

static enum MHD_Result send_resp(struct MHD_Connection *c, struct wresp *o, int head)
{
	struct MHD_Response *r;
	if (o->stream) {
		r = o->stream;
		free(o->body);
	} else if (o->body_static)
		r = MHD_create_response_from_buffer(o->len, o->body, MHD_RESPMEM_PERSISTENT);
	else
		r = MHD_create_response_from_buffer(o->len, o->body, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		if (!o->body_static)
			free(o->body);
		return MHD_NO;
	}
	(void)head;
	add_security_headers(r);
	MHD_add_response_header(r, "Content-Type", o->ctype ? o->ctype : "application/json");
	if (o->disposition[0])
		MHD_add_response_header(r, "Content-Disposition", o->disposition);
	if (o->set_cookie[0])
		MHD_add_response_header(r, "Set-Cookie", o->set_cookie);
	if (o->status == 303)
		MHD_add_response_header(r, "Location", "/login");
	if (o->retry_after > 0) {
		char secs[16];
		snprintf(secs, sizeof(secs), "%d", o->retry_after);
		MHD_add_response_header(r, "Retry-After", secs);
	}
	/* No cache keeps an API answer, or any answer that sets the cookie. */
	if (!o->ctype || !strncmp(o->ctype, "application/", 12) || o->set_cookie[0])
		MHD_add_response_header(r, "Cache-Control", "no-store");
	enum MHD_Result ret = MHD_queue_response(c, (unsigned)o->status, r);
	MHD_destroy_response(r);
	return ret;
}

static const struct web_asset *asset_find(const char *path)
{
	for (size_t i = 0; i < web_nassets; i++)
		if (!strcmp(web_assets[i].path, path))
			return &web_assets[i];
	return NULL;
}

static void resp_asset(struct wresp *o, const struct web_asset *a)
{
	o->status = 200;
	o->ctype = a->ctype;
	o->body = (uint8_t *)(uintptr_t)a->data;
	o->len = a->len;
	o->body_static = 1;
}

static int is_public(const char *url)
{
	return !strcmp(url, "/login") || !strcmp(url, "/login.js") ||
	       !strcmp(url, "/style.css") || !strcmp(url, "/favicon.svg");
}

/* The session's cookie, to keep until the session's end (at most a week after the sign-in). */
static void session_cookie(struct wresp *o, const struct wsession *s, int https)
{
	int64_t age = s->expires - (int64_t)time(NULL);
	snprintf(o->set_cookie, sizeof(o->set_cookie),
	         COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%lld%s", s->id,
	         (long long)(age > 0 ? age : 0), https ? "; Secure" : "");
}

static void session_json(struct wresp *o, const struct wsession *s)
{
	struct strbuf sb;
	strbuf_init(&sb);
	strbuf_puts(&sb, "{\"user\":");
	strbuf_json_str(&sb, (const uint8_t *)s->user, strlen(s->user));
	strbuf_printf(&sb, ",\"csrf\":\"%s\"}", s->csrf);
	resp_json(o, 200, &sb);
}

static void do_login(struct wreq *rq, struct wresp *o, int https)
{
	struct web *w = rq->w;
	if (!login_allowed(w, rq->client)) {
		resp_error(o, 429, "too many login attempts; wait a minute");
		return;
	}
	char *user = web_json_get_str(rq->body, rq->body_len, "username");
	char *pass = web_json_get_str(rq->body, rq->body_len, "password");
	if (user == NULL || pass == NULL) {
		free(user);
		free(pass);
		resp_error(o, 400, "expected JSON {\"username\": ..., \"password\": ...}");
		return;
	}
	uint8_t cred[32];
	int ok = auth_check_password(w, user, pass, cred);
	explicit_bzero(pass, strlen(pass));
	free(pass);
	if (!ok) {
		log_info("failed login from %s", rq->client);
		free(user);
		resp_error(o, 401, "wrong user name or password");
		return;
	}
	login_succeeded(w, rq->client);
	struct wsession s;
	session_new(w, user, cred, &s);
	log_info("%s logged in from %s", s.user, rq->client);
	free(user);
	session_cookie(o, &s, https);
	session_json(o, &s);
	explicit_bzero(&s, sizeof(s));
}

static void client_text(struct MHD_Connection *c, char *client, size_t len)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr)
		addr_fmt(ci->client_addr, client, len);
}

static void handle(struct web *w, struct MHD_Connection *c, const char *url, const char *method,
                   struct conn_state *cs, struct wresp *o, int https)
{
	char client[INET6_ADDRSTRLEN + 8] = "?";
	client_text(c, client, sizeof(client));

	struct wreq rq = {.w = w,
	                  .conn = c,
	                  .url = url,
	                  .method = method,
	                  .body = cs->body.data ? cs->body.data : "",
	                  .body_len = cs->body.len,
	                  .client = client,
	                  .held = &cs->held};
	int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");

	if (cs->too_large) {
		resp_error(o, 413, "request body too large");
		return;
	}
	if (!strcmp(url, "/api/login")) {
		if (strcmp(method, "POST")) {
			resp_error(o, 405, "use POST");
			return;
		}
		/* JSON only: a cross-site form cannot send it without a preflight. */
		const char *ct =
		    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
		if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0) {
			resp_error(o, 415, "send the login as application/json");
			return;
		}
		do_login(&rq, o, https);
		return;
	}
	if (is_public(url)) {
		const struct web_asset *a =
		    asset_find(!strcmp(url, "/login") ? "/login.html" : url);
		if (a == NULL || !get) {
			resp_error(o, 404, "not found");
			return;
		}
		resp_asset(o, a);
		return;
	}

	/* Everything else needs a session or a token. */
	int api = !strncmp(url, "/api/", 5);
	struct wsession sbuf, *s = NULL;
	int token_ok = 0;
	const char *authz = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	if (authz != NULL && !strncasecmp(authz, "Bearer ", 7)) {
		if (!token_allowed(w, client)) {
			resp_error(o, 429,
			           "too many failed sign-ins or API tokens; wait a minute");
			return;
		}
		token_ok = auth_check_token(w, authz + 7);
		if (!token_ok) {
			/* logged at the first failure and at the limit, not each guess */
			int n = token_failed(w, client);
			if (n == 1 || n == WEB_LOGIN_BURST)
				log_info(
				    "invalid API token from %s%s", client,
				    n == WEB_LOGIN_BURST
				        ? ": the limit; its tokens are refused for a minute"
				        : "");
			resp_error(o, 401, "invalid API token");
			return;
		}
	} else {
		if (session_find(w, MHD_lookup_connection_value(c, MHD_COOKIE_KIND, COOKIE),
		                 &sbuf))
			s = &sbuf;
		/* Used, the session lasts longer: so does the browser's cookie. */
		if (s != NULL && s->renew)
			session_cookie(o, s, https);
	}
	if (s == NULL && !token_ok) {
		if (api)
			resp_error(o, 401, "authentication required");
		else {
			o->status = 303;
			o->ctype = "text/plain";
			o->body = (uint8_t *)strdup("see /login");
			o->len = strlen((char *)o->body);
		}
		return;
	}
	/* CSRF: a state-changing call with the cookie carries the session's token. */
	if (!get && s != NULL) {
		const char *t = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-CSRF-Token");
		if (t == NULL || !ct_equal(t, s->csrf)) {
			resp_error(o, 403, "missing or wrong X-CSRF-Token");
			return;
		}
	}
	if (!strcmp(url, "/api/session")) {
		if (s == NULL) {
			struct strbuf sb;
			strbuf_init(&sb);
			strbuf_puts(&sb, "{\"user\":\"token\",\"csrf\":null}");
			resp_json(o, 200, &sb);
			return;
		}
		session_json(o, s);
		return;
	}
	if (!strcmp(url, "/api/logout")) {
		if (strcmp(method, "POST")) {
			resp_error(o, 405, "use POST");
			return;
		}
		if (s)
			session_end(w, s->id);
		snprintf(o->set_cookie, sizeof(o->set_cookie),
		         COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
		struct strbuf sb;
		strbuf_init(&sb);
		strbuf_puts(&sb, "{\"ok\":true}");
		resp_json(o, 200, &sb);
		return;
	}
	if (api) {
		api_route(&rq, o);
		return;
	}
	if (!get) {
		resp_error(o, 405, "method not allowed");
		return;
	}
	const struct web_asset *a = asset_find(!strcmp(url, "/") ? "/index.html" : url);
	if (a == NULL) {
		resp_error(o, 404, "not found");
		return;
	}
	resp_asset(o, a);
}

static int g_https;

/* Count the stored events once at start, so the first page view is quick too. */
static void *warm_up(void *arg)
{
	struct web *w = arg;
	sqlite3 *d = web_db(w);
	web_db_no_deadline(); /* the whole table, once */
	if (d)
		agg_update(w->agg, d);
	web_db_release(w);
	return NULL;
}

/*
 * The connections, as the worker sees them, so that clients that hold
 * connections without asking anything cannot take every thread:
 *  - a connection has WEB_RECV_MS to send a whole request (headers and body),
 *    counted from its start or from the end of its last answer: one that
 *    trickles its headers, or waits idle, is closed then;
 *  - one source (an IPv4 address, an IPv6 /64) holds at most
 *    WEB_MAX_PER_ADDRESS;
 *  - when the worker is near its limit, a new connection closes the one that
 *    has waited longest without a request in hand, so a client with a whole
 *    request always gets in. A request being answered is never closed so.
 */
struct wconn {
	int fd;           /* a duplicate of the connection's socket, the guard's own: shutting
	                   * it down ends the connection, and its number cannot be reused by
	                   * another connection while the guard holds it (-1: none) */
	int handling;     /* its request is whole and being answered */
	int closing;      /* shut down by the guard: its thread ends it */
	int64_t since_ms; /* when it began to wait for a request (start, last answer) */
	uint8_t key[17];  /* its source */
	struct wconn *prev, *next;
};

static pthread_mutex_t wc_lock = PTHREAD_MUTEX_INITIALIZER;
static struct wconn *wc_head;
static int wc_n;

static void wc_close(struct wconn *x, const char *why)
{
	x->closing = 1;
	/* The connection's thread sees the end of its socket and closes it. */
	if (x->fd >= 0)
		shutdown(x->fd, SHUT_RDWR);
	log_debug("web: connection closed: %s", why);
}

static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t len)
{
	(void)cls;
	(void)len;
	uint8_t key[17];
	addr_source_key(addr, key);
	int same = 0;
	enum MHD_Result ok = MHD_YES;
	pthread_mutex_lock(&wc_lock);
	struct wconn *victim = NULL;
	for (struct wconn *x = wc_head; x; x = x->next) {
		if (x->closing)
			continue;
		same += !memcmp(x->key, key, 17);
		if (!x->handling && (victim == NULL || x->since_ms < victim->since_ms))
			victim = x;
	}
	if (same >= WEB_MAX_PER_ADDRESS)
		ok = MHD_NO;
	else if (wc_n >= WEB_MAX_CONNECTIONS - WEB_SPARE_CONNECTIONS && victim)
		wc_close(victim, "the worker is near its connection limit");
	pthread_mutex_unlock(&wc_lock);
	return ok;
}

static void notify_conn(void *cls, struct MHD_Connection *c, void **socket_context,
                        enum MHD_ConnectionNotificationCode toe)
{
	(void)cls;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		struct wconn *x = calloc(1, sizeof(*x));
		const union MHD_ConnectionInfo *fi =
		    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		const union MHD_ConnectionInfo *ai =
		    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		if (x == NULL || fi == NULL) {
			free(x);
			return;
		}
		x->fd = fcntl(fi->connect_fd, F_DUPFD_CLOEXEC, 0);
		x->since_ms = mono_ms();
		if (ai && ai->client_addr)
			addr_source_key(ai->client_addr, x->key);
		pthread_mutex_lock(&wc_lock);
		x->next = wc_head;
		if (wc_head)
			wc_head->prev = x;
		wc_head = x;
		wc_n++;
		pthread_mutex_unlock(&wc_lock);
		*socket_context = x;
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
		struct wconn *x = *socket_context;
		pthread_mutex_lock(&wc_lock);
		if (x->prev)
			x->prev->next = x->next;
		else
			wc_head = x->next;
		if (x->next)
			x->next->prev = x->prev;
		wc_n--;
		pthread_mutex_unlock(&wc_lock);
		if (x->fd >= 0)
			close(x->fd);
		free(x);
		*socket_context = NULL;
	}
}

static struct wconn *wconn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *i =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return i ? i->socket_context : NULL;
}

/* The request is whole (handling) or answered (waiting for the next). */
static void wconn_handling(struct MHD_Connection *c, int handling)
{
	struct wconn *x = wconn_of(c);
	if (x == NULL)
		return;
	pthread_mutex_lock(&wc_lock);
	x->handling = handling;
	if (!handling)
		x->since_ms = mono_ms();
	pthread_mutex_unlock(&wc_lock);
}

/* Connections that have waited WEB_RECV_MS for a whole request are closed. */
static void wconn_sweep(void)
{
	int64_t now = mono_ms();
	pthread_mutex_lock(&wc_lock);
	for (struct wconn *x = wc_head; x; x = x->next)
		if (!x->handling && !x->closing && now - x->since_ms > WEB_RECV_MS)
			wc_close(x, "no whole request in time");
	pthread_mutex_unlock(&wc_lock);
}

static enum MHD_Result ahc(void *cls, struct MHD_Connection *c, const char *url,
                           const char *method, const char *version, const char *upload_data,
                           size_t *upload_data_size, void **con_cls)
{
	struct web *w = cls;
	struct conn_state *cs = *con_cls;
	if (cs == NULL) {
		cs = calloc(1, sizeof(*cs));
		if (cs == NULL)
			return MHD_NO;
		strbuf_init(&cs->body);
		*con_cls = cs;
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (cs->body.len + *upload_data_size > MAX_BODY)
			cs->too_large = 1;
		else
			strbuf_put(&cs->body, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	wconn_handling(c, 1);
	struct wresp o;
	memset(&o, 0, sizeof(o));
	handle(w, c, url, method, cs, &o, g_https);
	/* The store connection goes back to the pool; a streamed body needs none. */
	web_db_release(w);
	if (o.body == NULL && !o.body_static && o.stream == NULL) {
		o.body = (uint8_t *)strdup("");
		o.len = 0;
	}
	/*
	 * An answer built in memory is held until it is sent: it counts in the
	 * budget until the request is over (completed()). One that would take
	 * the worker past it is not sent: 503.
	 */
	if (o.body && !o.body_static && o.stream == NULL &&
	    web_budget_grow(&w->budget, &cs->held, o.cap > o.len ? o.cap : o.len) < 0) {
		char client[INET6_ADDRSTRLEN + 8] = "?";
		client_text(c, client, sizeof(client));
		struct wreq rq = {.w = w,
		                  .conn = c,
		                  .url = url,
		                  .method = method,
		                  .client = client,
		                  .held = &cs->held};
		char cookie[sizeof(o.set_cookie)];
		memcpy(cookie, o.set_cookie, sizeof(cookie));
		free(o.body);
		memset(&o, 0, sizeof(o));
		memcpy(o.set_cookie, cookie, sizeof(cookie));
		resp_busy(&rq, &o);
	}
	return send_resp(c, &o, !strcmp(method, "HEAD"));
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
	struct web *w = cls;
	struct conn_state *cs = *con_cls;
	wconn_handling(c, 0);
	if (cs) {
		web_budget_release(&w->budget, &cs->held);
		strbuf_free(&cs->body);
		free(cs);
		*con_cls = NULL;
	}
}

int web_listen_open(const struct config *c, char *err, size_t errlen)
{
	const char *spec = c->web_listen ? c->web_listen : "127.0.0.1:8080";
	struct addrport ap;
	if (addrport_parse(spec, 8080, &ap, err, errlen) < 0)
		return -1;
	int fd = socket(ap.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "web: socket: %s", strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ap.ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ap.ss, ap.len) < 0 || listen(fd, 64) < 0) {
		snprintf(err, errlen, "web: %s: %s", spec, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static char *slurp_file(const char *path)
{
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return NULL;
	struct strbuf sb;
	strbuf_init(&sb);
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		strbuf_put(&sb, buf, n);
	fclose(f);
	strbuf_putc(&sb, '\0');
	return sb.data;
}

int web_conf_keep(struct web_setup *s, char *err, size_t errlen)
{
	s->conf_fd = -1;
	if (s->conf_path == NULL)
		return 0;
	size_t len = 0;
	char *text = read_file(s->conf_path, 1 << 20, &len);
	int fd = text ? memfd_create("sinktrap.conf", MFD_CLOEXEC) : -1;
	if (fd < 0 || write_full(fd, text, len) < 0) {
		snprintf(err, errlen, "web: %s: %s", s->conf_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(text);
		return -1;
	}
	free(text);
	s->conf_fd = fd;
	return 0;
}

int web_tls_load(const struct config *c, struct web_setup *s, char *err, size_t errlen)
{
	s->tls_cert = s->tls_key = NULL;
	if (c->web_tls_cert == NULL && c->web_tls_key == NULL)
		return 0;
	if (c->web_tls_cert == NULL || c->web_tls_key == NULL) {
		snprintf(err, errlen, "web: set both tls_cert and tls_key");
		return -1;
	}
	s->tls_cert = slurp_file(c->web_tls_cert);
	s->tls_key = slurp_file(c->web_tls_key);
	if (s->tls_cert == NULL || s->tls_key == NULL) {
		snprintf(err, errlen, "web: cannot read %s: %s",
		         s->tls_cert ? c->web_tls_key : c->web_tls_cert, strerror(errno));
		free(s->tls_cert);
		free(s->tls_key);
		s->tls_cert = s->tls_key = NULL;
		return -1;
	}
	return 0;
}

int web_worker_main(struct config *c, struct web_setup *s)
{
	static struct web W;
	struct web *w = &W;
	memset(w, 0, sizeof(*w));
	web_state_init(w);
	w->live = 1;
	w->cfg = c;
	w->budget.max = (size_t)c->web_memory_max;
	w->conf_path = s->conf_path;
	w->conf_fd = s->conf_fd;
	log_procname("web");
	snprintf(w->db_path, sizeof(w->db_path), "%s/sinktrap.db", c->state_dir);
	capture_spool_dir(c, w->spool, sizeof(w->spool));
	snprintf(w->payload_dir, sizeof(w->payload_dir), "%s/payloads", c->state_dir);
	auth_init(w);
	if (c->web_users == NULL)
		log_warnx("[web] users is not set: nobody can log in");

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	/*
	 * A thread per connection (bounded by the connection limit): a request
	 * that takes long (a PCAP download, a sign-in's argon2id) holds its own
	 * thread only. The seccomp filter lets threads be made: clone3 answers
	 * ENOSYS and the C library falls back to clone, whose thread flags are
	 * allowed (only the namespace flags are refused).
	 */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
	                 MHD_USE_POLL | MHD_USE_ERROR_LOG;
	char err[512];
	if (s->tls_cert == NULL && web_tls_load(c, s, err, sizeof(err)) < 0)
		fatalx("%s", err);
	char *cert = s->tls_cert, *key = s->tls_key;
	if (cert) {
		flags |= MHD_USE_TLS;
		g_https = 1;
	}
	/* Before any thread: the process that forks the PCAP queries. */
	if (web_pcap_helper_start() < 0)
		log_warn("web: the PCAP helper");
	/* The key and certificate when there are: an empty list otherwise. */
	struct MHD_OptionItem tls[] = {
	    {cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, cert},
	    {MHD_OPTION_HTTPS_MEM_KEY, 0, key},
	    {MHD_OPTION_END, 0, NULL},
	};
	struct MHD_Daemon *d = MHD_start_daemon(
	    flags, 0, accept_policy, NULL, ahc, w, MHD_OPTION_LISTEN_SOCKET, s->listen_fd,
	    MHD_OPTION_NOTIFY_COMPLETED, completed, w, MHD_OPTION_NOTIFY_CONNECTION,
	    notify_conn, NULL, MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)WEB_MAX_CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned)WEB_MAX_PER_ADDRESS, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
	if (d == NULL)
		fatalx("web: cannot start the HTTP server");
	log_info("serving %s%s", c->web_listen ? c->web_listen : "127.0.0.1:8080",
	         cert ? " (TLS)" : "");
	openssl_require("web"); /* session tokens */
	/* Serving needs no program runs, no outbound connections, no raw sockets. */
	sandbox_lockdown("web", SANDBOX_NO_CONNECT | SANDBOX_NO_PACKET);
	pthread_t warm;
	int warming = pthread_create(&warm, NULL, warm_up, w) == 0;
	if (s->parent_fd >= 0)
		ipc_send(s->parent_fd, IPC_HELLO, "web", 3, -1);
	/* Wait for a stop signal, or for the parent to go away. */
	for (;;) {
		if (s->parent_fd >= 0) {
			struct pollfd pfd = {s->parent_fd, POLLIN, 0};
			struct timespec ts = {0, 0};
			siginfo_t si;
			int sig = sigtimedwait(&set, &si, &ts);
			if (sig == SIGTERM || sig == SIGINT)
				break;
			wconn_sweep();
			if (poll(&pfd, 1, 500) > 0) {
				char b[256];
				ssize_t n = read(s->parent_fd, b, sizeof(b));
				if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
					break;
			}
		} else {
			struct timespec ts = {0, 500000000};
			siginfo_t si;
			int sig = sigtimedwait(&set, &si, &ts);
			if (sig == SIGTERM || sig == SIGINT)
				break;
			wconn_sweep();
		}
	}
	MHD_stop_daemon(d);
	if (warming)
		pthread_join(warm, NULL);
	web_state_free(w);
	free(cert);
	free(key);
	log_info("stopped");
	return 0;
}

/*
 * The users and tokens files usually sit in state_dir, which the workers'
 * user owns: a worker could put a link (or a second name) to any file there.
 * So the file is opened without following a link (and without waiting on a
 * FIFO), and what is changed is what was opened, if it is a plain file with
 * one name; anything else is said and left alone.
 */
static void prepare_file(const char *key, const char *path, unsigned gid)
{
	char why[128];
	int fd = sandbox_open_plain(path, NULL, why, sizeof(why));
	if (fd == -ENOENT)
		return;
	if (fd < 0)
		log_warnx(
		    "[web] %s %s: %s: left alone, not made readable by the workers' group "
		    "(name the file itself)",
		    key, path, why);
	else if (fchown(fd, (uid_t)-1, (gid_t)gid) < 0 || fchmod(fd, 0640) < 0)
		log_warn("[web] %s %s", key, path);
	if (fd >= 0)
		close(fd);
}

void web_prepare(const struct config *c, unsigned gid)
{
	if (gid == (unsigned)-1)
		return;
	if (c->web_users)
		prepare_file("users", c->web_users, gid);
	if (c->web_tokens)
		prepare_file("tokens", c->web_tokens, gid);
}

int web_run_alone(const char *conf_path)
{
	struct cfg_errors errs;
	struct config *c = config_load(conf_path, &errs);
	if (c == NULL) {
		cfg_errors_print(&errs, stderr);
		cfg_errors_free(&errs);
		return 1;
	}
	if (log_level_get() < LOG_LVL_DEBUG)
		log_level_set(c->log_level);
	char err[512];
	int fd = web_listen_open(c, err, sizeof(err));
	if (fd < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	struct web_setup s = {
	    .listen_fd = fd, .parent_fd = -1, .conf_path = conf_path, .conf_fd = -1};
	if (web_conf_keep(&s, err, sizeof(err)) < 0)
		log_warnx("%s: PCAP downloads read the file itself", err);
	return web_worker_main(c, &s);
}

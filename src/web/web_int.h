/* Inside the web worker. */
#ifndef SINKTRAP_WEB_WEB_INT_H
#define SINKTRAP_WEB_WEB_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

#include "store/render.h"
#include "web/web.h"

#define WEB_MAX_SESSIONS 256
#define WEB_SESSION_TTL (8 * 3600)
#define WEB_MAX_RATE 256
#define WEB_LOGIN_BURST 5

struct wsession {
	char id[65];
	char csrf[65];
	char user[65];
	int64_t expires;
};

struct wrate {
	char addr[64];
	int64_t window;
	int count;
};

struct web {
	struct config *cfg;
	const char *conf_path;
	char db_path[4096];
	char spool[4096];
	char payload_dir[4096];
	sqlite3 *db;
	struct wsession sessions[WEB_MAX_SESSIONS];
	struct wrate rate[WEB_MAX_RATE];
	char dummy_hash[256];
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
};

/* A response: status, content type, body (malloced), extra headers. */
struct wresp {
	int status;
	const char *ctype;
	uint8_t *body;
	size_t len;
	int body_static; /* body points at embedded data */
	char disposition[256];
	char set_cookie[512];
};

/* auth.c */
void auth_init(struct web *w);
int ct_equal(const char *a, const char *b);
void random_hex(char *out, size_t nbytes);
int auth_check_password(struct web *w, const char *user, const char *pass);
int auth_check_token(struct web *w, const char *token);
struct wsession *session_new(struct web *w, const char *user);
struct wsession *session_find(struct web *w, const char *id);
void session_end(struct wsession *s);
int login_allowed(struct web *w, const char *addr);
void login_failed(struct web *w, const char *addr);

/* api.c */
const char *req_arg(struct wreq *r, const char *name);
void resp_json(struct wresp *o, int status, struct strbuf *sb);
void resp_error(struct wresp *o, int status, const char *msg);
void api_route(struct wreq *r, struct wresp *o);
void api_host(struct wreq *r, struct wresp *o, const char *ip);
/* The store, opened read-only on first use; NULL while there is none. */
sqlite3 *web_db(struct web *w);

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

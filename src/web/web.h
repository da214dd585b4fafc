/*
 * The web worker: the HTTP API and the analyst's page, served by
 * libmicrohttpd on the [web] listen address. It reads the store (SQLite,
 * opened read-only) and the PCAP spool and payload directory, and writes
 * nothing. Every page and API call but the login needs a session cookie or
 * an API token (Authorization: Bearer); see docs/api.md.
 */
#ifndef SINKTRAP_WEB_WEB_H
#define SINKTRAP_WEB_WEB_H

#include <stddef.h>
#include <stdint.h>

struct config;

struct web_setup {
	int listen_fd;            /* bound and listening, opened by the parent */
	int parent_fd;            /* -1 when run alone */
	const char *conf_path;    /* NULL = the embedded default */
	char *tls_cert, *tls_key; /* PEM, malloced; NULL: read by the worker */
};

/*
 * Read [web] tls_cert and tls_key into s (while still privileged, so the key
 * may stay readable by root only). 0, or -1 with err.
 */
int web_tls_load(const struct config *c, struct web_setup *s, char *err, size_t errlen);

/* Open the [web] listen socket (privileged part). fd, or -1 with err. */
int web_listen_open(const struct config *c, char *err, size_t errlen);

/*
 * Before the workers start (privileged): the users and tokens files become
 * readable by group gid (the worker's) and by no one else. Only a regular
 * file with one name is changed: a symbolic link, a hard link or anything
 * else is left alone, with a warning naming it. gid (gid_t)-1: leave them
 * alone.
 */
void web_prepare(const struct config *c, unsigned gid);

/* Serve until SIGTERM/SIGINT (or the parent goes away). Exit status. */
int web_worker_main(struct config *c, struct web_setup *s);

/* `sinktrap web -c FILE`: the worker alone in the foreground. */
int web_run_alone(const char *conf_path);

/* `sinktrap report [-c FILE] --host IP [--json]`: one host's chain on the console. */
int web_report_main(int argc, char **argv);

/* `sinktrap passwd [-c FILE] [-f USERSFILE] USER`: password on stdin. */
int web_passwd_main(int argc, char **argv);

/*
 * A ZIP archive holding one file, name, encrypted with the traditional PKWARE
 * scheme (ZipCrypto) under password; stored, not compressed. Malloced into
 * *out. 0, or -1 (too large).
 */
int web_zip_encrypt(const char *name, const uint8_t *data, size_t len, const char *password,
                    uint8_t **out, size_t *outlen);

#endif

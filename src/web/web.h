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
	int conf_fd;              /* conf_path's text as read at start (a memfd), -1: none */
};

/*
 * Read [web] tls_cert and tls_key into s (while still privileged, so the key
 * may stay readable by root only). 0, or -1 with err.
 */
/*
 * Keep conf_path's text in s->conf_fd, read while still privileged: the PCAP
 * queries the worker runs read it there, not from a file the unprivileged
 * user may not read (nor one changed since). 0, or -1 with err.
 */
int web_conf_keep(struct web_setup *s, char *err, size_t errlen);
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
 * A ZIP archive holding one file, encrypted with the traditional PKWARE
 * scheme (ZipCrypto), stored, not compressed; made piece by piece so that
 * nothing holds the whole file: the head (local header and encryption
 * header), the data encrypted in place as it is read, the tail (central
 * directory). No ZIP64: the data is at most WEB_ZIP_MAX_DATA bytes.
 */
#define WEB_ZIP_MAX_DATA (0xffffffffu - 12 - 1024)
#define WEB_ZIP_MAX_NAME 255

struct tm;

struct web_zip {
	uint8_t head[30 + WEB_ZIP_MAX_NAME + 12];
	uint8_t tail[46 + WEB_ZIP_MAX_NAME + 22];
	size_t nhead, ntail;
	uint64_t len;     /* of the data */
	uint32_t crc;     /* CRC-32 of the data */
	uint32_t keys[3]; /* the cipher's state */
};

/* The CRC-32 of n bytes of p, going on from crc (0 to begin). */
uint32_t web_zip_crc(uint32_t crc, const uint8_t *p, size_t n);
/* The encryption header's 11 random bytes. */
void web_zip_random(uint8_t rnd[11]);
/*
 * The archive of the file name holding len bytes whose CRC-32 is crc,
 * encrypted under password, with the encryption header's random bytes rnd,
 * dated when (UTC). 0, or -1 (len or name too long).
 */
int web_zip_begin(struct web_zip *z, const char *name, uint64_t len, uint32_t crc,
                  const char *password, const uint8_t rnd[11], const struct tm *when);
/* Encrypt the next n bytes of the data in place (in order, len in all). */
void web_zip_crypt(struct web_zip *z, uint8_t *p, size_t n);
/* The whole archive's size: nhead + len + ntail. */
uint64_t web_zip_size(const struct web_zip *z);

#endif

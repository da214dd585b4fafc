/*
 * Configuration: one INI file, sections [sinktrap] [dns] [trap] [capture]
 * [events] [web]. config_load() parses and validates the whole file and
 * reports every error as "FILE:LINE: what is wrong"; a config with any error
 * is refused as a whole, so a reload never swaps in a half-valid one.
 */
#ifndef SINKTRAP_CONFIG_H
#define SINKTRAP_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "addr.h"

struct cfg_list {
	char *path;  /* Malloced. */
	int line;    /* where the config names it */
	int allow;   /* 1 = allowlist, 0 = blocklist */
	int clients; /* client_blocklist / client_allowlist: addresses of clients */
};

enum dns_mode { DNS_MODE_BLOCKLIST = 0, DNS_MODE_ALLOWLIST = 1 };

/* A set of ports, 1..65535. */
struct portset {
	uint8_t bits[8192];
	int count;
};

static inline int portset_has(const struct portset *s, int port)
{
	return port > 0 && port < 65536 && (s->bits[port >> 3] & (1 << (port & 7)));
}

struct cfg_strv {
	char **v; /* Malloced, each malloced. */
	int n;
};

struct config {
	char *file; /* Malloced; "<embedded>" for the built-in default. */

	/* [sinktrap] */
	char *state_dir;
	char *user; /* unprivileged user workers drop to when started as root */
	char *sensor;
	int log_level;

	/* [dns] */
	int dns_enabled;
	struct addrport *dns_listen;
	int dns_nlisten;
	struct addrport *upstream;
	int nupstream;
	struct cfg_list *lists;
	int nlists;
	enum dns_mode mode;
	struct cfg_strv internal_zones;
	struct prefix sinkhole4, sinkhole6;
	int have_sinkhole4, have_sinkhole6;
	uint32_t ttl;
	int log_forwarded;
	int cname_inspect; /* sinkhole forwarded answers whose CNAME chain reaches a listed name
	                    */
	int cache_entries;
	int upstream_timeout_ms;
	int edns_size;
	int tcp_idle_ms;
	int tcp_max_clients;
	int client_pending_max; /* forwarded queries in flight per client address */
	int rcvbuf;
	int map_memory; /* pool mappings kept in memory (max) */

	/* [events] */
	char *json;                     /* NULL = no JSON file */
	int sqlite;                     /* store events in state_dir/sinktrap.db */
	int64_t json_max_size;          /* rotate the JSON file past this; 0 = never */
	int json_keep;                  /* rotated JSON files kept (events.json.1 ...) */
	struct cfg_strv json_types;     /* event types written to JSON; none = all */
	struct cfg_strv database_types; /* event types stored in the databases; none = all */
	char *database;                 /* PostgreSQL conninfo or URI; NULL = none */
	int database_timeout_ms;        /* the longest wait for the database's answer */
	int64_t queue_max;              /* delivery queue on disk, per remote sink (bytes) */
	struct cfg_syslog *syslog;      /* destinations (store/sinkspec.h). Malloced. */
	int nsyslog;
	int syslog_format, syslog_facility;      /* defaults of the destinations */
	char *syslog_app_name, *syslog_hostname; /* NULL = "sinktrap", the host's name */

	/* [trap] */
	int trap_enabled;
	struct addrport *trap_listen; /* addresses (port unused) for the explicit ports */
	int trap_nlisten;
	struct portset trap_ports;     /* TCP ports listened on explicitly */
	struct portset trap_udp_ports; /* UDP ports listened on explicitly */
	struct portset exclude_ports;  /* left alone by the catch-all */
	int redirect_port;             /* catch-all TCP (nftables redirect); 0 = none */
	int tproxy_port;               /* catch-all UDP (TPROXY); 0 = none */
	struct cfg_strv banners;       /* "PORT:PROTO" overrides */
	char *trap_hostname;           /* shown in banners */
	char *http_page;               /* file served as the HTTP answer */
	char *http_content_type;
	int http_status;
	char *ftp_file; /* stand-in served by FTP RETR */
	int max_connections;
	int max_per_source;      /* concurrent connections from one address */
	int rate_per_source;     /* new connections per second from one address */
	int read_timeout_ms;     /* idle client */
	int session_timeout_ms;  /* whole connection */
	int64_t max_bytes;       /* read from one connection */
	int64_t payload_max;     /* kept of one payload */
	int64_t payload_quota;   /* all stored payloads; the oldest go first */
	int64_t trap_memory_max; /* replies and payloads held, all connections */
	char *ca_dir;            /* local CA for TLS; default state_dir/ca */

	/* [capture] */
	int capture_enabled;
	struct cfg_strv capture_interfaces; /* interface names, repeatable */
	char *capture_filter;               /* BPF applied in the kernel; NULL = all */
	int capture_snaplen;
	int64_t capture_buffer; /* ring per interface (bytes) */
	int capture_promisc;
	int capture_format;        /* 0 = pcap (usec), 1 = pcapng (nsec) */
	char *capture_spool;       /* NULL = state_dir/pcap */
	int64_t capture_file_size; /* rotate past this */
	int capture_file_time_ms;  /* and after this long */
	int64_t capture_max_disk;  /* spool bytes at most; 0 = no limit */
	int capture_min_free;      /* percent of the file system kept free */
	int capture_stats_ms;
	int capture_max_flows;
	int capture_tcp_new_ms, capture_tcp_est_ms, capture_tcp_closed_ms;
	int capture_udp_ms, capture_other_ms;
	int capture_cid_seed;

	/* [web]: a worker of its own; only enabling here. */
	int web_enabled;
	char *web_listen;   /* "127.0.0.1:8080" */
	char *web_users;    /* users file (name:$argon2id$...); NULL = nobody can log in */
	char *web_tokens;   /* API tokens file (name:sha256hex); NULL = none */
	char *web_tls_cert; /* PEM; both set = HTTPS */
	char *web_tls_key;
	int64_t web_memory_max; /* answers built in memory, all connections */
	int web_query_ms;       /* the longest a request's queries may run */
};

/* A list of error lines, each "FILE:LINE: message". */
struct cfg_errors {
	char **msg;
	int n;
};

/*
 * Parse text (the file's contents, len bytes) named name. Returns a config
 * and 0 errors, or NULL with the errors filled in. check_files also verifies
 * that list files can be opened (run/check-config do; unit tests may not).
 */
struct config *config_parse(const char *name, const char *text, size_t len, int check_files,
                            struct cfg_errors *errs);
/* Read and parse a file; path NULL = the embedded default. */
struct config *config_load(const char *path, struct cfg_errors *errs);
void config_free(struct config *c);
void cfg_errors_print(const struct cfg_errors *errs, FILE *out);
void cfg_errors_free(struct cfg_errors *errs);

/* The embedded default configuration (etc/sinktrap.conf), NUL-terminated. */
extern const char sinktrap_default_conf[];

#endif

/*
 * Events: what every worker tells the store.
 *
 * A worker builds an event as a compact typed record (no JSON on the hot
 * path); the store renders it to EVE-style JSON, SQL rows and syslog. The
 * record is a sequence of fields:
 *
 *   u32 record length (including these 4 bytes)
 *   field*: u8 kind, u8 key length, key bytes, value
 *     EV_STR  u32 length, bytes (any bytes: escaped when rendered)
 *     EV_INT  i64 (host order: records never leave the machine)
 *     EV_BOOL u8
 *     EV_TIME i64 microseconds since the epoch
 *     EV_OBJ / EV_ARR  opens a nested object / array (key empty in arrays)
 *     EV_END  closes the innermost object or array (no key)
 *
 * The first fields of every record are, in order: "timestamp" (EV_TIME),
 * "event_type" (EV_STR) and "event_id" (EV_STR, unique across processes and
 * restarts, used for idempotent inserts).
 *
 * A record is at most EV_MAX_RECORD bytes. Room to close every open object
 * and array and to add the marker is kept free as fields are added, so a
 * record that runs out of room ends the same way whatever its fields: the
 * first field that does not fit, and every field after it, are left out
 * (nothing is cut in the middle, nothing later fills the gap); an object
 * that is an element of an array (a header, a message, a credential) is kept
 * whole or not at all, objects and arrays left empty by that are dropped, the
 * others are closed, and the record gets a last top-level field
 * "truncated": true (EV_BOOL). No record has that key at the top level
 * otherwise.
 */
#ifndef SINKTRAP_EVENT_H
#define SINKTRAP_EVENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum ev_kind {
	EV_STR = 1,
	EV_INT = 2,
	EV_BOOL = 3,
	EV_TIME = 4,
	EV_OBJ = 5,
	EV_ARR = 6,
	EV_END = 7,
};

#define EV_MAX_DEPTH 8
#define EV_MAX_RECORD (60 * 1024)
#define EV_TRUNCATED_KEY "truncated"
/* The marker's size: kind, key length, key, the bool. */
#define EV_TRUNCATED_LEN (2 + sizeof(EV_TRUNCATED_KEY) - 1 + 1)

/* A growable buffer holding zero or more complete records. Malloced data. */
struct evbuf {
	uint8_t *data;
	size_t len, cap;
	size_t start; /* offset of the record being built */
	int depth;    /* objects and arrays open (written) */
	int overflow; /* a field did not fit: the record is truncated from there on */
	int skipped;  /* objects and arrays left out: their ev_close closes nothing */
	/* where each open object or array starts, and where its first field would */
	size_t open_at[EV_MAX_DEPTH], body_at[EV_MAX_DEPTH];
	uint8_t element[EV_MAX_DEPTH]; /* 1: an object that is an element of an array */
};

void evbuf_init(struct evbuf *b);
void evbuf_free(struct evbuf *b);
void evbuf_reset(struct evbuf *b);
/* Give back what a past backlog grew the buffer to: once it holds a quarter
 * of keep or less, its capacity goes down to keep (bytes). */
void evbuf_shrink(struct evbuf *b, size_t keep);

/* Set the per-process prefix that makes event ids unique. Call once. */
void event_id_init(void);
/* Write a fresh unique id (24 hex chars + NUL) into out[25]. */
void event_id_new(char out[25]);

/* Begin a record with timestamp (usec; 0 = now), event_type and event_id. */
void ev_begin(struct evbuf *b, const char *event_type, int64_t usec);
/* Close the record (closes any open object; adds the marker when truncated). */
void ev_end(struct evbuf *b);
/* Drop the record being built. */
void ev_abort(struct evbuf *b);

void ev_str(struct evbuf *b, const char *key, const char *s);
void ev_strn(struct evbuf *b, const char *key, const void *s, size_t n);
void ev_int(struct evbuf *b, const char *key, int64_t v);
void ev_bool(struct evbuf *b, const char *key, int v);
void ev_time(struct evbuf *b, const char *key, int64_t usec);
/* Address as text, and the port when nonzero under port_key. */
void ev_addr(struct evbuf *b, const char *key, const struct sockaddr *sa);
/* inet_ntop for AF_INET/AF_INET6 (IPv4 without sprintf); returns the length. */
size_t addr_text(int family, const void *addr, char out[46]);
/* Nesting deeper than EV_MAX_DEPTH - 1 truncates the record like a field that does not fit. */
void ev_obj(struct evbuf *b, const char *key);
void ev_arr(struct evbuf *b, const char *key);
void ev_close(struct evbuf *b);

int64_t time_now_usec(void);

/*
 * Reading records (the store side). Every length is checked: a record that
 * does not parse is rejected as a whole.
 */
struct ev_field {
	enum ev_kind kind;
	const char *key; /* not NUL-terminated; borrowed from the record */
	size_t keylen;
	const uint8_t *str; /* EV_STR */
	size_t strlen;
	int64_t i; /* EV_INT, EV_BOOL, EV_TIME */
	int depth; /* nesting depth of this field (0 = top level) */
};

struct ev_reader {
	const uint8_t *p, *end;
	int depth;
};

/*
 * Validate one record at buf (len bytes available). Returns its length, or
 * -1 if it is malformed or incomplete.
 */
long ev_record_check(const uint8_t *buf, size_t len);
void ev_reader_init(struct ev_reader *r, const uint8_t *rec, size_t reclen);
/* 1 = field returned, 0 = end of record. Only call on checked records. */
int ev_reader_next(struct ev_reader *r, struct ev_field *f);

/* Look up a top-level or dotted ("dns.rrname") field of a checked record. */
int ev_find(const uint8_t *rec, size_t reclen, const char *path, struct ev_field *out);

#endif

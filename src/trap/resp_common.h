/*
 * Helpers shared by the responders (not part of the worker's API): a bounded
 * line reader, bounded recorders for strings, credentials and payloads, and
 * small parsing tools. Every structure owns its malloced memory and is freed
 * by its _free function; all are safe to free when zeroed.
 */
#ifndef SINKTRAP_TRAP_RESP_COMMON_H
#define SINKTRAP_TRAP_RESP_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "trap/responder.h"

#define RESP_STR_MAX 512 /* bytes kept of one recorded string */
#define RESP_CREDS_MAX 16

/*
 * A recorded string longer than its bound (RESP_STR_MAX, or a smaller one a
 * responder has) keeps its first bytes and is counted as cut: every object a
 * responder writes (smtp{}, email{}, credentials{}, ...) carries, when any
 * of its strings (those of its lists included) was cut, how many were under
 * this key (resp_cut_render).
 */
#define RESP_CUT_KEY "strings_truncated"
/* ev_int(RESP_CUT_KEY, n) when n > 0. */
void resp_cut_render(struct evbuf *ev, unsigned n);

/*
 * Line reader: collects bytes up to LF (the CR before it is dropped). A line
 * longer than max keeps its first max bytes and is marked overlong; the rest
 * up to the LF is dropped, so a flood of bytes without LF costs nothing. Its
 * buffer is counted in the worker's memory budget (resp_mem_charge) from
 * resp_line_init to resp_line_free.
 */
struct resp_line {
	char *buf; /* Malloced, max + 1 (NUL-terminated for convenience). */
	size_t len;
	size_t max;
	int overlong;
	int done; /* a complete line is in buf */
};

/*
 * A responder's per-connection state, and any buffer it holds for the whole
 * connection: n bytes, zeroed, counted in the worker's memory budget until
 * resp_fixed_free (with the same n; p NULL: nothing). NULL: out of memory.
 */
void *resp_fixed_alloc(size_t n);
void resp_fixed_free(void *p, size_t n);

int resp_line_init(struct resp_line *l, size_t max);
void resp_line_free(struct resp_line *l);
/* Forget the current line (call after handling a complete one). */
void resp_line_clear(struct resp_line *l);
/*
 * Feed bytes; returns how many were consumed. Stops right after a line's LF
 * with l->done set; otherwise consumes everything.
 */
size_t resp_line_feed(struct resp_line *l, const uint8_t *p, size_t n);

/*
 * What one connection records for its event (commands, messages, addresses,
 * credentials): bounded in bytes, well under the event's record size
 * (EV_MAX_RECORD), and counted in the worker's memory budget while it is
 * kept (resp_mem_charge when taken, resp_mem_release when given back). Each
 * kept string costs its length plus RESP_ITEM_COST (its place in the event:
 * key and framing; its slot and allocation).
 *
 * What the client can repeat at will (commands, recipients, messages: BULK)
 * stops at max less RESP_RECORD_RESERVE, so that credentials and URLs that
 * come after a flood of commands are still kept (PRIORITY, up to max). The
 * few single values a protocol has (a HELO name, a realname: one of each, at
 * most RESP_STR_MAX bytes) are always kept (ALWAYS) and counted all the same.
 */
#define RESP_RECORD_MAX (40u * 1024)
#define RESP_RECORD_RESERVE (12u * 1024)
#define RESP_ITEM_COST 16

enum resp_rec_class { RESP_REC_BULK, RESP_REC_PRIORITY, RESP_REC_ALWAYS };

struct resp_record {
	size_t used; /* bytes taken */
	size_t max;  /* RESP_RECORD_MAX unless a test says otherwise */
};

/* max 0: RESP_RECORD_MAX. */
void resp_record_init(struct resp_record *r, size_t max);
/* Take n bytes of the budget (charged): 0, or -ENOSPC (nothing taken). */
int resp_record_take(struct resp_record *r, size_t n, enum resp_rec_class cls);
/* Give back n bytes taken before (released). */
void resp_record_give(struct resp_record *r, size_t n);

/*
 * Bounded list of recorded strings (commands, recipients, channels). The
 * first strings offered are kept, in order: once one is not kept (the count
 * or the connection's record budget reached), no later one is.
 */
struct resp_strv {
	char **v; /* Malloced, each malloced and NUL-terminated */
	size_t *len;
	int n, max;              /* max = 0: nothing is kept */
	unsigned total;          /* how many were offered, kept or not */
	unsigned cut;            /* kept strings that were cut (RESP_CUT_KEY) */
	struct resp_record *rec; /* NULL: bounded by max only, not charged */
	enum resp_rec_class cls;
	size_t slots; /* bytes of v and len charged (with rec) */
};

void resp_strv_init(struct resp_strv *v, int max);
/* Count what is kept in the connection's record budget (before the first add). */
void resp_strv_budget(struct resp_strv *v, struct resp_record *rec, enum resp_rec_class cls);
void resp_strv_free(struct resp_strv *v);
/* Keeps the first RESP_STR_MAX bytes. 0, or -ENOSPC/-ENOMEM when not kept. */
int resp_strv_add(struct resp_strv *v, const void *s, size_t n);
/* The same for a string the caller has cut already (cut: it was; counted). */
int resp_strv_add_cut(struct resp_strv *v, const void *s, size_t n, int cut);
/* How many were offered and not kept. */
unsigned resp_strv_not_kept(const struct resp_strv *v);
/* ev_arr(key) with each string; nothing when empty. */
void resp_strv_render(const struct resp_strv *v, struct evbuf *ev, const char *key);

/*
 * A single recorded string (a HELO name, a realname, an IRC password), at
 * most RESP_STR_MAX bytes, kept in the record budget as ALWAYS (rec may be
 * NULL). Replaces the previous value.
 */
struct resp_str {
	char *s; /* Malloced, NUL-terminated, or NULL */
	size_t len;
	int cut; /* longer than what is kept (RESP_CUT_KEY) */
};
void resp_str_set(struct resp_str *d, struct resp_record *rec, const void *s, size_t n);
/* The same for a string the caller has cut already (cut: it was). */
void resp_str_set_cut(struct resp_str *d, struct resp_record *rec, const void *s, size_t n,
                      int cut);
void resp_str_free(struct resp_str *d, struct resp_record *rec);

/* Credentials tried on a connection, in order; the first few are kept. */
struct resp_cred {
	char *user, *pass; /* Malloced or NULL */
	size_t ulen, plen;
	const char *method; /* static: "USER/PASS", "PLAIN", "LOGIN", ... */
	size_t cost;        /* taken of the record budget */
	int ucut, pcut;     /* the user name, the password was cut (RESP_CUT_KEY) */
};

struct resp_creds {
	struct resp_cred c[RESP_CREDS_MAX];
	int n;
	unsigned total;
	struct resp_record *rec; /* NULL: bounded by RESP_CREDS_MAX only, not charged */
};

/* Count the kept attempts in the connection's record budget, as PRIORITY. */
void resp_creds_budget(struct resp_creds *c, struct resp_record *rec);

/* Each value keeps its first RESP_STR_MAX bytes (a longer one is counted as cut). */
void resp_creds_add(struct resp_creds *c, const void *user, size_t ulen, const void *pass,
                    size_t plen, const char *method);
/* The same for values the caller has cut already: ucut, pcut say which were. */
void resp_creds_add_cut(struct resp_creds *c, const void *user, size_t ulen, int ucut,
                        const void *pass, size_t plen, int pcut, const char *method);
/*
 * The attempt recorded since c held `before` attempts was decoded from a line
 * the line reader cut: its last value (the password, or the user name when
 * there is none) is counted as cut. Nothing when none was kept.
 */
void resp_creds_mark_cut(struct resp_creds *c, int before);
/* Set the password of the last attempt (USER then PASS). */
void resp_creds_set_pass(struct resp_creds *c, const void *pass, size_t plen);
void resp_creds_free(struct resp_creds *c);
/*
 * credentials{username, password, method} for the first attempt (with
 * RESP_CUT_KEY when a value was cut); when there were more,
 * credentials_tried[{...}] lists every kept attempt and credentials_count
 * counts all of them; credentials_not_kept counts the attempts not kept (past
 * RESP_CREDS_MAX or the record budget).
 */
void resp_creds_render(const struct resp_creds *c, struct evbuf *ev);

/* A payload being collected: the first max bytes are kept, the rest counted. */
struct resp_blob {
	uint8_t *data; /* Malloced, grown on demand up to max */
	size_t len, cap, max;
	uint64_t seen; /* bytes offered */
};

void resp_blob_init(struct resp_blob *b, size_t max);
void resp_blob_add(struct resp_blob *b, const void *p, size_t n);
void resp_blob_reset(struct resp_blob *b);
void resp_blob_free(struct resp_blob *b);
/* Hand the blob to ops->payload (when there is one) and reset it. */
void resp_blob_emit(struct resp_blob *b, const struct resp_ctx *ctx, const char *kind,
                    const char *name);

/*
 * Standard base64 (padding optional), of any length: the first cap bytes of
 * what it decodes to are written to out. Returns the whole decoded length
 * (more than cap when it did not all fit), or -1 when in is not base64.
 */
long resp_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap);

/*
 * A SASL PLAIN message (RFC 4616, "authzid NUL authcid NUL passwd") decoded
 * from base64 of any length: the first RESP_STR_MAX bytes of each part and
 * its whole length. parts: how many there are (1 to 3; NUL bytes after the
 * second belong to the password). 0, or -1 when b64 is not base64.
 */
struct resp_plain {
	uint8_t v[3][RESP_STR_MAX];
	size_t len[3];
	int parts;
};
int resp_plain_decode(const char *b64, size_t n, struct resp_plain *p);
/*
 * Record its credentials: the authcid (or, in a message without one, the
 * last part there is) and the password, each cut to RESP_STR_MAX and counted
 * as cut when longer. 1 when there was a password, 0 when the message was
 * malformed (the user name alone is recorded).
 */
int resp_plain_record(const struct resp_plain *p, struct resp_creds *c);

/*
 * SASL PLAIN and LOGIN as servers run them (POP3 AUTH, IMAP AUTHENTICATE):
 * each step returns one of these, and on RESP_SASL_CHALLENGE the base64
 * challenge to send ("" for PLAIN's empty one). Credentials are recorded
 * in c as soon as the password is known.
 */
enum resp_sasl_result {
	RESP_SASL_CHALLENGE, /* send "+ <challenge>" and feed the next line to step */
	RESP_SASL_DONE,      /* credentials complete */
	RESP_SASL_BAD,       /* not base64, or a malformed PLAIN message */
	RESP_SASL_ABORT,     /* the client sent "*" */
	RESP_SASL_MECH,      /* mechanism not offered */
};

struct resp_sasl {
	int step;
	char user[RESP_STR_MAX]; /* LOGIN: the user name (its first bytes) */
	size_t ulen;
	int ucut;
};

int resp_sasl_start(struct resp_sasl *s, const char *mech, size_t ml, const char *ir,
                    size_t irl, struct resp_creds *c, const char **challenge);
int resp_sasl_step(struct resp_sasl *s, const char *line, size_t n, struct resp_creds *c,
                   const char **challenge);

/* Case-insensitive: does s[0..n) equal word? */
int resp_word_eq(const char *s, size_t n, const char *word);
/*
 * Split "VERB args" at the first space: returns the verb's length, *arg and
 * *alen the rest with leading spaces skipped (empty when none).
 */
size_t resp_split(const char *s, size_t n, const char **arg, size_t *alen);
/* Trim spaces and tabs at both ends of [*s, *s + *n). */
void resp_trim(const char **s, size_t *n);
/*
 * A client's bytes as a reply may echo them (a mailbox name, an argument):
 * each control byte (NUL, CR, LF, ...) and DEL becomes '?', so that the reply
 * stays one line; at most max bytes, a longer argument ending "..." (as
 * Dovecot's str_sanitize). Written to dst, NUL-terminated; cap must be at
 * least max + 4. Returns dst.
 */
const char *resp_echo(char *dst, size_t cap, const void *s, size_t n, size_t max);

/* Configuration with defaults applied. */
const char *resp_hostname(const struct resp_config *cfg);
size_t resp_max_payload(const struct resp_config *cfg);

#endif

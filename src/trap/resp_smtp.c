/*
 * SMTP responder: a Postfix that accepts (and keeps) whatever a spam bot or
 * a credential stuffer sends. Full dialogue: EHLO/HELO, AUTH PLAIN and
 * LOGIN (credentials recorded), MAIL FROM, many RCPT TO, DATA with
 * dot-unstuffing (each message becomes a payload), RSET, NOOP, VRFY, QUIT,
 * optional STARTTLS. Bounded: command line length, recipients, message size,
 * error count (Postfix's hard error limit), and what is recorded by the
 * connection's record budget (resp_common.h; what did not fit is counted).
 * Credentials are recorded whatever their length (their first bytes, counted
 * as cut), and a To:/Cc: header's addresses are offered to the record
 * however long the header is.
 */
#include "resp_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SMTP_LINE_MAX 2048
#define SMTP_RCPT_KEEP 100     /* recipients recorded per connection */
#define SMTP_RCPT_LIMIT 1000   /* recipients accepted per transaction */
#define SMTP_ERRORS_MAX 20     /* then 421 and close */
#define SMTP_HEADER_SCAN 65536 /* bytes of a message searched for headers */
#define SMTP_FIELD_MAX 2048    /* a header other than To/Cc, unfolded: its first bytes */
#define SMTP_SIZE_ADVERTISED 10240000

enum smtp_state {
	S_CMD,
	S_DATA,
	S_AUTH_PLAIN,
	S_AUTH_USER,
	S_AUTH_PASS,
	S_DONE,
};

/* DATA terminator scanner: where in a line we are. */
enum dot_state { D_BOL, D_DOT, D_DOTCR, D_MID };

struct smtp {
	const struct resp_config *cfg;
	const struct resp_ctx *ctx;
	enum smtp_state state;
	struct resp_line line;
	int helo_seen, ehlo, in_mail, authed, tls;
	int nrcpt; /* in the current transaction */
	int errors;
	unsigned messages;
	enum dot_state dot;
	struct resp_blob msg;

	struct resp_record rec;
	struct resp_str helo, mail_from;
	struct resp_strv rcpt;
	struct resp_creds creds;
	struct resp_str auth_user; /* AUTH LOGIN: the user name until the password comes */

	/* the first message's headers */
	int have_email;
	struct resp_str subject, from, message_id, x_mailer, date;
	struct resp_strv to, cc;
	int ended;
};

static void *smtp_create(const struct resp_config *cfg, const struct resp_ctx *ctx)
{
	struct smtp *s = resp_fixed_alloc(sizeof(*s));
	if (s == NULL)
		return NULL;
	if (resp_line_init(&s->line, SMTP_LINE_MAX) < 0) {
		resp_fixed_free(s, sizeof(*s));
		return NULL;
	}
	s->cfg = cfg;
	s->ctx = ctx;
	s->tls = ctx ? ctx->tls : 0;
	resp_blob_init(&s->msg, resp_max_payload(cfg));
	resp_record_init(&s->rec, 0);
	resp_strv_init(&s->rcpt, SMTP_RCPT_KEEP);
	resp_strv_budget(&s->rcpt, &s->rec, RESP_REC_BULK);
	resp_strv_init(&s->to, 32);
	resp_strv_budget(&s->to, &s->rec, RESP_REC_BULK);
	resp_strv_init(&s->cc, 32);
	resp_strv_budget(&s->cc, &s->rec, RESP_REC_BULK);
	resp_creds_budget(&s->creds, &s->rec);
	return s;
}

static const char *host(const struct smtp *s)
{
	return resp_hostname(s->cfg);
}

static int smtp_start(void *st, struct resp_out *out)
{
	struct smtp *s = st;
	if (s->cfg && s->cfg->banner)
		resp_out_printf(out, "220 %s\r\n", s->cfg->banner);
	else
		resp_out_printf(out, "220 %s ESMTP Postfix\r\n", host(s));
	return RESP_CONTINUE;
}

/* Count an error reply; past the limit the connection ends (as Postfix does). */
static int error_reply(struct smtp *s, struct resp_out *out, const char *reply)
{
	resp_out_puts(out, reply);
	if (++s->errors >= SMTP_ERRORS_MAX) {
		resp_out_printf(out, "421 4.7.0 %s Error: too many errors\r\n", host(s));
		s->state = S_DONE;
		return RESP_CLOSE;
	}
	return RESP_CONTINUE;
}

static void transaction_reset(struct smtp *s)
{
	s->in_mail = 0;
	s->nrcpt = 0;
}

/* ---- message headers ----------------------------------------------------- */

/*
 * An address list (To:, Cc:) split as it is read, over its folded lines, so
 * that a header of any length offers every address to the record: at commas
 * outside quotes and angle brackets, each address trimmed of blanks, its
 * first RESP_STR_MAX bytes kept (a longer one is counted as cut).
 */
struct addr_split {
	struct resp_strv *v;
	int quote, angle;
	char prev;
	char buf[RESP_STR_MAX];
	size_t len; /* bytes of the address so far, from its first non-blank */
	size_t end; /* the same without its trailing blanks */
};

static void addr_begin(struct addr_split *a, struct resp_strv *v)
{
	a->v = v;
	a->quote = a->angle = 0;
	a->prev = 0;
	a->len = a->end = 0;
}

/* cut: the address is known to go on past what was scanned */
static void addr_emit_cut(struct addr_split *a, int cut)
{
	if (a->end > 0) {
		size_t k = a->end < sizeof(a->buf) ? a->end : sizeof(a->buf);
		resp_strv_add_cut(a->v, a->buf, k, a->end > k || cut);
	}
	a->len = a->end = 0;
}

static void addr_emit(struct addr_split *a)
{
	addr_emit_cut(a, 0);
}

static void addr_feed(struct addr_split *a, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (c == '"' && a->prev != '\\')
			a->quote = !a->quote;
		else if (!a->quote && c == '<')
			a->angle = 1;
		else if (!a->quote && c == '>')
			a->angle = 0;
		else if (c == ',' && !a->quote && !a->angle) {
			addr_emit(a);
			a->prev = c;
			continue;
		}
		a->prev = c;
		if (a->len == 0 && (c == ' ' || c == '\t'))
			continue;
		if (a->len < sizeof(a->buf))
			a->buf[a->len] = c;
		a->len++;
		if (c != ' ' && c != '\t')
			a->end = a->len;
	}
}

static void header_field(struct smtp *s, const char *name, size_t nl, const char *v, size_t vl,
                         int cut)
{
	resp_trim(&v, &vl);
	if (resp_word_eq(name, nl, "Subject") && s->subject.s == NULL)
		resp_str_set_cut(&s->subject, &s->rec, v, vl, cut);
	else if (resp_word_eq(name, nl, "From") && s->from.s == NULL)
		resp_str_set_cut(&s->from, &s->rec, v, vl, cut);
	else if (resp_word_eq(name, nl, "Message-ID") && s->message_id.s == NULL)
		resp_str_set_cut(&s->message_id, &s->rec, v, vl, cut);
	else if (resp_word_eq(name, nl, "X-Mailer") && s->x_mailer.s == NULL)
		resp_str_set_cut(&s->x_mailer, &s->rec, v, vl, cut);
	else if (resp_word_eq(name, nl, "Date") && s->date.s == NULL)
		resp_str_set_cut(&s->date, &s->rec, v, vl, cut);
}

/* The address list a header line starts, when it is a To: or Cc:. */
static struct resp_strv *address_header(struct smtp *s, const char *l, size_t ll,
                                        const char **v, size_t *vl)
{
	const char *colon = memchr(l, ':', ll);
	if (colon == NULL)
		return NULL;
	size_t nl = (size_t)(colon - l);
	*v = colon + 1;
	*vl = ll - nl - 1;
	if (resp_word_eq(l, nl, "To"))
		return &s->to;
	if (resp_word_eq(l, nl, "Cc"))
		return &s->cc;
	return NULL;
}

static void field_done(struct smtp *s, const char *field, size_t fl, int cut)
{
	const char *colon = memchr(field, ':', fl);
	if (colon)
		header_field(s, field, (size_t)(colon - field), colon + 1,
		             fl - (size_t)(colon - field) - 1, cut);
}

/*
 * Parse the header section of the first message: To: and Cc: are split into
 * addresses as their lines come; any other field is unfolded into a bounded
 * buffer (its first SMTP_FIELD_MAX bytes: more than is recorded of it), then
 * handed over. O(n) in the scanned bytes, at most SMTP_HEADER_SCAN. When
 * the scan stops before the header section's end because the message was
 * kept or scanned only in part, the field or address it stopped in is
 * counted as cut.
 */
static void parse_headers(struct smtp *s, const uint8_t *m, size_t n)
{
	char field[SMTP_FIELD_MAX];
	size_t fl = 0;
	int have = 0, addr = 0, ended = 0;
	int clipped = n > SMTP_HEADER_SCAN || s->msg.seen > s->msg.len;
	struct addr_split as;
	if (n > SMTP_HEADER_SCAN)
		n = SMTP_HEADER_SCAN;
	size_t i = 0;
	while (i < n) {
		const uint8_t *lf = memchr(m + i, '\n', n - i);
		size_t e = lf ? (size_t)(lf - m) : n;
		size_t ll = e - i;
		const char *l = (const char *)m + i;
		if (ll > 0 && l[ll - 1] == '\r')
			ll--;
		i = e + 1;
		int cont = ll > 0 && (l[0] == ' ' || l[0] == '\t');
		if (!cont && addr) {
			addr_emit(&as);
			addr = 0;
		}
		if (!cont && have) {
			field_done(s, field, fl, 0);
			have = 0;
			fl = 0;
		}
		if (ll == 0) {
			ended = 1; /* end of the header section */
			break;
		}
		const char *v;
		size_t vl;
		struct resp_strv *list;
		if (addr) {
			addr_feed(&as, l, ll); /* a folded line of the list */
			continue;
		}
		if (!cont && (list = address_header(s, l, ll, &v, &vl)) != NULL) {
			addr_begin(&as, list);
			addr_feed(&as, v, vl);
			addr = 1;
			continue;
		}
		size_t k = ll < sizeof(field) - fl ? ll : sizeof(field) - fl;
		memcpy(field + fl, l, k);
		fl += k;
		have = 1;
	}
	/* the scan's last line itself may end where the kept bytes did */
	int cut = !ended && clipped;
	if (addr)
		addr_emit_cut(&as, cut);
	if (have)
		field_done(s, field, fl, cut);
	s->have_email = 1;
}

/* A Postfix-looking queue id derived from the message (deterministic). */
static void queue_id(const struct smtp *s, char out[16])
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < s->msg.len; i++)
		h = (h ^ s->msg.data[i]) * 1099511628211ull;
	h ^= s->messages;
	snprintf(out, 16, "%011llX", (unsigned long long)(h & 0xFFFFFFFFFFFull));
}

static void message_done(struct smtp *s, struct resp_out *out)
{
	char qid[16], name[32];
	s->messages++;
	if (!s->have_email && s->msg.len > 0)
		parse_headers(s, s->msg.data, s->msg.len);
	int big = s->msg.seen > s->msg.len;
	queue_id(s, qid);
	snprintf(name, sizeof(name), "message-%u.eml", s->messages);
	resp_blob_emit(&s->msg, s->ctx, "smtp_message", name);
	if (big)
		resp_out_puts(out, "552 5.3.4 Message size exceeds fixed limit\r\n");
	else
		resp_out_printf(out, "250 2.0.0 Ok: queued as %s\r\n", qid);
	transaction_reset(s);
	s->state = S_CMD;
}

/* Consume DATA bytes up to the terminator; returns bytes used. */
static size_t data_feed(struct smtp *s, const uint8_t *p, size_t n, struct resp_out *out)
{
	size_t i = 0;
	for (; i < n; i++) {
		uint8_t c = p[i];
		switch (s->dot) {
		case D_BOL:
			if (c == '.') {
				s->dot = D_DOT;
				continue;
			}
			break;
		case D_DOT:
			if (c == '\r') {
				s->dot = D_DOTCR;
				continue;
			}
			if (c == '\n') {
				message_done(s, out);
				return i + 1;
			}
			break; /* dot-stuffed: the leading dot is dropped */
		case D_DOTCR:
			if (c == '\n') {
				message_done(s, out);
				return i + 1;
			}
			resp_blob_add(&s->msg, "\r", 1);
			break;
		case D_MID:
			break;
		}
		resp_blob_add(&s->msg, &c, 1);
		s->dot = c == '\n' ? D_BOL : D_MID;
	}
	return i;
}

/* ---- commands ------------------------------------------------------------ */

/* Strip the "FROM:" / "TO:" keyword; the address is the next token. */
static int path_arg(const char *a, size_t al, const char *kw, const char **addr, size_t *adl)
{
	size_t kl = strlen(kw);
	if (al < kl || strncasecmp(a, kw, kl) != 0)
		return -1;
	a += kl;
	al -= kl;
	while (al > 0 && *a == ' ') {
		a++;
		al--;
	}
	size_t n = 0;
	if (al > 0 && a[0] == '<') {
		const char *gt = memchr(a, '>', al);
		if (gt == NULL)
			return -1;
		n = (size_t)(gt - a) + 1;
	} else {
		while (n < al && a[n] != ' ')
			n++;
	}
	if (n == 0)
		return -1;
	*addr = a;
	*adl = n;
	return 0;
}

static int login_reply(struct smtp *s, struct resp_out *out)
{
	s->state = S_CMD;
	if (s->cfg && s->cfg->login_reject)
		return error_reply(
		    s, out,
		    "535 5.7.8 Error: authentication failed: authentication failure\r\n");
	s->authed = 1;
	resp_out_puts(out, "235 2.7.0 Authentication successful\r\n");
	return RESP_CONTINUE;
}

/* "authzid NUL authcid NUL password", of any length: its first bytes recorded */
static int auth_plain(struct smtp *s, const char *b64, size_t n, struct resp_out *out)
{
	struct resp_plain p;
	if (resp_plain_decode(b64, n, &p) < 0) {
		s->state = S_CMD;
		return error_reply(s, out, "501 5.5.2 Cannot decode response\r\n");
	}
	if (!resp_plain_record(&p, &s->creds)) {
		s->state = S_CMD;
		return error_reply(
		    s, out,
		    "535 5.7.8 Error: authentication failed: authentication failure\r\n");
	}
	return login_reply(s, out);
}

/* AUTH LOGIN's user name, of any length: its first bytes kept until the password. */
static int login_user(struct smtp *s, const char *b64, size_t n)
{
	uint8_t u[RESP_STR_MAX];
	long ul = resp_b64_decode(b64, n, u, sizeof(u));
	if (ul < 0)
		return -1;
	size_t k = (size_t)ul < sizeof(u) ? (size_t)ul : sizeof(u);
	resp_str_set_cut(&s->auth_user, &s->rec, u, k, k < (size_t)ul);
	return 0;
}

static int cmd_auth(struct smtp *s, const char *a, size_t al, struct resp_out *out)
{
	if (!s->helo_seen)
		return error_reply(s, out, "503 5.5.1 Error: send HELO/EHLO first\r\n");
	if (s->authed)
		return error_reply(s, out, "503 5.5.1 Error: already authenticated\r\n");
	if (s->in_mail)
		return error_reply(s, out, "503 5.5.1 Error: MAIL transaction in progress\r\n");
	const char *ir;
	size_t irl;
	size_t ml = resp_split(a, al, &ir, &irl);
	if (resp_word_eq(a, ml, "PLAIN")) {
		if (irl > 0 && !(irl == 1 && ir[0] == '='))
			return auth_plain(s, ir, irl, out);
		s->state = S_AUTH_PLAIN;
		resp_out_puts(out, "334 \r\n");
		return RESP_CONTINUE;
	}
	if (resp_word_eq(a, ml, "LOGIN")) {
		if (irl > 0) {
			if (login_user(s, ir, irl) < 0)
				return error_reply(s, out,
				                   "501 5.5.2 Cannot decode response\r\n");
			s->state = S_AUTH_PASS;
			resp_out_puts(out, "334 UGFzc3dvcmQ6\r\n");
			return RESP_CONTINUE;
		}
		s->state = S_AUTH_USER;
		resp_out_puts(out, "334 VXNlcm5hbWU6\r\n");
		return RESP_CONTINUE;
	}
	if (ml == 0)
		return error_reply(s, out, "501 5.5.4 Syntax: AUTH mechanism\r\n");
	return error_reply(s, out,
	                   "535 5.7.8 Error: authentication failed: Invalid authentication "
	                   "mechanism\r\n");
}

static int auth_line(struct smtp *s, const char *l, size_t n, struct resp_out *out)
{
	if (n == 1 && l[0] == '*') {
		s->state = S_CMD;
		return error_reply(s, out, "501 5.7.0 Authentication aborted\r\n");
	}
	if (s->state == S_AUTH_PLAIN)
		return auth_plain(s, l, n, out);
	if (s->state == S_AUTH_USER) {
		if (login_user(s, l, n) < 0) {
			s->state = S_CMD;
			return error_reply(s, out, "501 5.5.2 Cannot decode response\r\n");
		}
		s->state = S_AUTH_PASS;
		resp_out_puts(out, "334 UGFzc3dvcmQ6\r\n");
		return RESP_CONTINUE;
	}
	uint8_t buf[RESP_STR_MAX];
	long dl = resp_b64_decode(l, n, buf, sizeof(buf));
	if (dl < 0) {
		s->state = S_CMD;
		return error_reply(s, out, "501 5.5.2 Cannot decode response\r\n");
	}
	size_t k = (size_t)dl < sizeof(buf) ? (size_t)dl : sizeof(buf);
	resp_creds_add_cut(&s->creds, s->auth_user.s ? s->auth_user.s : "", s->auth_user.len,
	                   s->auth_user.cut, buf, k, k < (size_t)dl, "LOGIN");
	return login_reply(s, out);
}

static void ehlo_reply(struct smtp *s, struct resp_out *out)
{
	resp_out_printf(out,
	                "250-%s\r\n250-PIPELINING\r\n250-SIZE %d\r\n250-VRFY\r\n250-ETRN\r\n",
	                host(s), SMTP_SIZE_ADVERTISED);
	if (s->cfg && s->cfg->starttls && !s->tls)
		resp_out_puts(out, "250-STARTTLS\r\n");
	resp_out_puts(out, "250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN LOGIN\r\n"
	                   "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 DSN\r\n");
}

static int command(struct smtp *s, struct resp_out *out)
{
	const char *l = s->line.buf;
	size_t n = s->line.len;
	const char *a;
	size_t al;

	if (s->line.overlong)
		return error_reply(s, out, "500 5.5.2 Error: line too long\r\n");
	size_t vl = resp_split(l, n, &a, &al);

	if (resp_word_eq(l, vl, "EHLO") || resp_word_eq(l, vl, "HELO")) {
		int ehlo = resp_word_eq(l, vl, "EHLO");
		if (al == 0)
			return error_reply(s, out,
			                   ehlo ? "501 Syntax: EHLO hostname\r\n"
			                        : "501 Syntax: HELO hostname\r\n");
		if (s->helo.s == NULL)
			resp_str_set(&s->helo, &s->rec, a, al);
		s->helo_seen = 1;
		s->ehlo = ehlo;
		transaction_reset(s);
		if (ehlo)
			ehlo_reply(s, out);
		else
			resp_out_printf(out, "250 %s\r\n", host(s));
		return RESP_CONTINUE;
	}
	if (resp_word_eq(l, vl, "MAIL")) {
		const char *addr;
		size_t adl;
		if (!s->helo_seen)
			return error_reply(s, out, "503 5.5.1 Error: send HELO/EHLO first\r\n");
		if (s->in_mail)
			return error_reply(s, out, "503 5.5.1 Error: nested MAIL command\r\n");
		if (path_arg(a, al, "FROM:", &addr, &adl) < 0)
			return error_reply(s, out, "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
		if (s->mail_from.s == NULL)
			resp_str_set(&s->mail_from, &s->rec, addr, adl);
		s->in_mail = 1;
		s->nrcpt = 0;
		resp_out_puts(out, "250 2.1.0 Ok\r\n");
		return RESP_CONTINUE;
	}
	if (resp_word_eq(l, vl, "RCPT")) {
		const char *addr;
		size_t adl;
		if (!s->in_mail)
			return error_reply(s, out, "503 5.5.1 Error: need MAIL command\r\n");
		if (path_arg(a, al, "TO:", &addr, &adl) < 0)
			return error_reply(s, out, "501 5.5.4 Syntax: RCPT TO:<address>\r\n");
		if (s->nrcpt >= SMTP_RCPT_LIMIT) {
			resp_out_puts(out, "452 4.5.3 Error: too many recipients\r\n");
			return RESP_CONTINUE;
		}
		resp_strv_add(&s->rcpt, addr, adl);
		s->nrcpt++;
		resp_out_puts(out, "250 2.1.5 Ok\r\n");
		return RESP_CONTINUE;
	}
	if (resp_word_eq(l, vl, "DATA")) {
		if (!s->in_mail)
			return error_reply(s, out, "503 5.5.1 Error: need RCPT command\r\n");
		if (s->nrcpt == 0)
			return error_reply(s, out, "554 5.5.1 Error: no valid recipients\r\n");
		s->state = S_DATA;
		s->dot = D_BOL;
		resp_blob_reset(&s->msg);
		resp_out_puts(out, "354 End data with <CR><LF>.<CR><LF>\r\n");
		return RESP_CONTINUE;
	}
	if (resp_word_eq(l, vl, "AUTH"))
		return cmd_auth(s, a, al, out);
	if (resp_word_eq(l, vl, "RSET")) {
		transaction_reset(s);
		resp_out_puts(out, "250 2.0.0 Ok\r\n");
		return RESP_CONTINUE;
	}
	if (resp_word_eq(l, vl, "NOOP")) {
		resp_out_puts(out, "250 2.0.0 Ok\r\n");
		return RESP_CONTINUE;
	}
	if (resp_word_eq(l, vl, "VRFY")) {
		char echo[256 + 4];
		if (al == 0)
			return error_reply(s, out, "501 5.5.4 Syntax: VRFY address\r\n");
		resp_out_printf(out, "252 2.0.0 %s\r\n",
		                resp_echo(echo, sizeof(echo), a, al, 256));
		return RESP_CONTINUE;
	}
	if (resp_word_eq(l, vl, "QUIT")) {
		resp_out_puts(out, "221 2.0.0 Bye\r\n");
		s->state = S_DONE;
		return RESP_CLOSE;
	}
	if (resp_word_eq(l, vl, "STARTTLS") && s->cfg && s->cfg->starttls && !s->tls) {
		resp_out_puts(out, "220 2.0.0 Ready to start TLS\r\n");
		/* RFC 3207: the session starts over once TLS is up. */
		s->tls = 1;
		s->helo_seen = 0;
		s->authed = 0;
		transaction_reset(s);
		return RESP_STARTTLS;
	}
	return error_reply(s, out, "502 5.5.2 Error: command not recognized\r\n");
}

static int smtp_input(void *st, const uint8_t *buf, size_t n, struct resp_out *out)
{
	struct smtp *s = st;
	while (n > 0 && s->state != S_DONE) {
		if (s->state == S_DATA) {
			size_t used = data_feed(s, buf, n, out);
			buf += used;
			n -= used;
			continue;
		}
		size_t used = resp_line_feed(&s->line, buf, n);
		buf += used;
		n -= used;
		if (!s->line.done)
			break;
		int rc;
		if (s->state == S_CMD) {
			rc = command(s, out);
		} else {
			int before = s->creds.n, user_step = s->state == S_AUTH_USER;
			rc = auth_line(s, s->line.buf, s->line.len, out);
			if (s->line.overlong) { /* decoded from the line's first bytes */
				resp_creds_mark_cut(&s->creds, before);
				if (user_step && s->auth_user.s)
					s->auth_user.cut = 1;
			}
		}
		resp_line_clear(&s->line);
		if (rc == RESP_CLOSE || rc == RESP_STARTTLS || rc < 0)
			return rc;
	}
	if (s->state == S_DONE)
		return RESP_CLOSE;
	if (s->state == S_DATA || s->line.len > 0 || s->line.overlong)
		return RESP_NEED_MORE;
	return RESP_CONTINUE;
}

static int smtp_timeout(void *st, struct resp_out *out)
{
	struct smtp *s = st;
	resp_out_printf(out, "421 4.4.2 %s Error: timeout exceeded\r\n", host(s));
	s->state = S_DONE;
	return RESP_CLOSE;
}

static void smtp_end(void *st)
{
	struct smtp *s = st;
	if (s->ended)
		return;
	s->ended = 1;
	/* a message cut off in DATA is still evidence */
	if (s->msg.seen > 0) {
		char name[32];
		if (!s->have_email && s->msg.len > 0)
			parse_headers(s, s->msg.data, s->msg.len);
		snprintf(name, sizeof(name), "message-%u.eml", s->messages + 1);
		resp_blob_emit(&s->msg, s->ctx, "smtp_message", name);
	}
}

static void smtp_fields(void *st, struct evbuf *ev)
{
	struct smtp *s = st;
	/* short fields first, long lists last: a cut event keeps its start (event.h) */
	resp_creds_render(&s->creds, ev);
	if (s->helo.s || s->mail_from.s || s->rcpt.total > 0 || s->messages > 0) {
		ev_obj(ev, "smtp");
		if (s->helo.s)
			ev_strn(ev, "helo", s->helo.s, s->helo.len);
		if (s->mail_from.s)
			ev_strn(ev, "mail_from", s->mail_from.s, s->mail_from.len);
		ev_int(ev, "messages", s->messages);
		resp_cut_render(ev, (unsigned)(s->helo.cut + s->mail_from.cut) + s->rcpt.cut);
		if (s->rcpt.total > (unsigned)s->rcpt.n) {
			ev_int(ev, "rcpt_to_count", s->rcpt.total);
			ev_int(ev, "rcpt_to_not_kept", resp_strv_not_kept(&s->rcpt));
		}
		resp_strv_render(&s->rcpt, ev, "rcpt_to");
		ev_close(ev);
	}
	if (s->have_email) {
		ev_obj(ev, "email");
		if (s->from.s)
			ev_strn(ev, "from", s->from.s, s->from.len);
		if (s->subject.s)
			ev_strn(ev, "subject", s->subject.s, s->subject.len);
		if (s->message_id.s)
			ev_strn(ev, "message_id", s->message_id.s, s->message_id.len);
		if (s->x_mailer.s)
			ev_strn(ev, "x_mailer", s->x_mailer.s, s->x_mailer.len);
		if (s->date.s)
			ev_strn(ev, "date", s->date.s, s->date.len);
		resp_cut_render(ev,
		                (unsigned)(s->from.cut + s->subject.cut + s->message_id.cut +
		                           s->x_mailer.cut + s->date.cut) +
		                    s->to.cut + s->cc.cut);
		if (resp_strv_not_kept(&s->to))
			ev_int(ev, "to_not_kept", resp_strv_not_kept(&s->to));
		if (resp_strv_not_kept(&s->cc))
			ev_int(ev, "cc_not_kept", resp_strv_not_kept(&s->cc));
		resp_strv_render(&s->to, ev, "to");
		resp_strv_render(&s->cc, ev, "cc");
		ev_close(ev);
	}
}

static void smtp_destroy(void *st)
{
	struct smtp *s = st;
	if (s == NULL)
		return;
	resp_line_free(&s->line);
	resp_blob_free(&s->msg);
	resp_strv_free(&s->rcpt);
	resp_strv_free(&s->to);
	resp_strv_free(&s->cc);
	resp_creds_free(&s->creds);
	resp_str_free(&s->helo, &s->rec);
	resp_str_free(&s->mail_from, &s->rec);
	resp_str_free(&s->auth_user, &s->rec);
	resp_str_free(&s->subject, &s->rec);
	resp_str_free(&s->from, &s->rec);
	resp_str_free(&s->message_id, &s->rec);
	resp_str_free(&s->x_mailer, &s->rec);
	resp_str_free(&s->date, &s->rec);
	resp_fixed_free(s, sizeof(*s));
}

const struct responder resp_smtp = {
    .name = "smtp",
    .proto = TRAP_PROTO_SMTP,
    .create = smtp_create,
    .start = smtp_start,
    .input = smtp_input,
    .timeout = smtp_timeout,
    .end = smtp_end,
    .fields = smtp_fields,
    .destroy = smtp_destroy,
};

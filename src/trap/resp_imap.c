/*
 * IMAP4rev1 responder: a Dovecot with one empty INBOX. Parses tagged
 * commands whose arguments may be atoms, quoted strings or literals ({n}
 * synchronizing, {n+} LITERAL+), records LOGIN / AUTHENTICATE (PLAIN, LOGIN)
 * credentials and every command, keeps APPENDed messages as payloads. What is
 * recorded is bounded by the connection's record budget (resp_common.h);
 * what did not fit is counted, and a string cut to its bound is counted as
 * cut. A reply that names a client's argument (SELECT's mailbox) shows it as
 * one line, control bytes replaced (resp_echo). The command buffer and the
 * line reader are counted in the worker's memory budget.
 */
#include "resp_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define IMAP_LINE_MAX 8192
#define IMAP_CMD_MAX (16 * 1024) /* one command with its (non-APPEND) literals */
#define IMAP_LITERAL_MAX 8192    /* a literal argument other than APPEND's */
#define IMAP_KEEP_COMMANDS 64
#define IMAP_BAD_MAX 20
#define IMAP_ECHO_MAX 64 /* bytes of a mailbox name shown back */

#define CAPS_PRE "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+"
#define CAPS_AUTH "AUTH=PLAIN AUTH=LOGIN"
#define CAPS_POST                                                                              \
	"IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT THREAD=REFERENCES MULTIAPPEND " \
	"UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC "     \
	"ESEARCH LITERAL+ MOVE SPECIAL-USE"

enum imap_state { I_LINE, I_LITERAL, I_SASL, I_IDLE, I_DONE };

struct imap {
	const struct resp_config *cfg;
	const struct resp_ctx *ctx;
	enum imap_state state;
	struct resp_line line;
	uint8_t *cmd; /* Malloced IMAP_CMD_MAX: the command in wire form */
	size_t cmdlen;
	int cmd_bad;        /* too long: answered BAD once complete */
	uint64_t remaining; /* literal bytes still to come */
	int literal_append; /* the literal is an APPEND message: goes to msg */
	unsigned messages;  /* APPEND: message literals of the command so far */
	int authed, tls, selected, bad;
	char tag[64];
	struct resp_sasl sasl;
	struct resp_blob msg;
	unsigned appends;
	struct resp_record rec;
	struct resp_strv commands;
	struct resp_creds creds;
	int ended;
};

static void *imap_create(const struct resp_config *cfg, const struct resp_ctx *ctx)
{
	struct imap *m = resp_fixed_alloc(sizeof(*m));
	if (m == NULL)
		return NULL;
	m->cmd = resp_fixed_alloc(IMAP_CMD_MAX);
	if (m->cmd == NULL || resp_line_init(&m->line, IMAP_LINE_MAX) < 0) {
		resp_fixed_free(m->cmd, IMAP_CMD_MAX);
		resp_fixed_free(m, sizeof(*m));
		return NULL;
	}
	m->cfg = cfg;
	m->ctx = ctx;
	m->tls = ctx ? ctx->tls : 0;
	resp_blob_init(&m->msg, resp_max_payload(cfg));
	resp_record_init(&m->rec, 0);
	resp_strv_init(&m->commands, IMAP_KEEP_COMMANDS);
	resp_strv_budget(&m->commands, &m->rec, RESP_REC_BULK);
	resp_creds_budget(&m->creds, &m->rec);
	return m;
}

static int offer_tls(const struct imap *m)
{
	return m->cfg && m->cfg->starttls && !m->tls;
}

static void caps(const struct imap *m, struct resp_out *out)
{
	if (m->authed) {
		resp_out_puts(out, CAPS_POST);
		return;
	}
	resp_out_puts(out, CAPS_PRE);
	if (offer_tls(m))
		resp_out_puts(out, " STARTTLS");
	resp_out_puts(out, " " CAPS_AUTH);
}

static int imap_start(void *st, struct resp_out *out)
{
	struct imap *m = st;
	resp_out_puts(out, "* OK [CAPABILITY ");
	caps(m, out);
	resp_out_printf(out, "] %s\r\n",
	                m->cfg && m->cfg->banner ? m->cfg->banner : "Dovecot ready.");
	return RESP_CONTINUE;
}

static int bad(struct imap *m, struct resp_out *out, const char *fmt, const char *arg)
{
	resp_out_printf(out, fmt, arg);
	if (++m->bad >= IMAP_BAD_MAX) {
		resp_out_puts(out, "* BYE Too many invalid IMAP commands.\r\n");
		m->state = I_DONE;
		return RESP_CLOSE;
	}
	return RESP_CONTINUE;
}

/* ---- argument parsing over the assembled command ------------------------ */

struct args {
	const uint8_t *p, *end;
};

static int is_atom(uint8_t c)
{
	return c > 0x20 && c < 0x7f && strchr("(){ %*\"\\]", c) == NULL;
}

/*
 * Next astring: atom, "quoted" (with \\ and \" escapes) or {n}CRLF literal.
 * Writes at most cap-1 bytes plus NUL; returns its whole length (more than
 * cap-1 when it was cut), or -1.
 */
static long next_astring(struct args *a, char *out, size_t cap)
{
	size_t o = 0;
	while (a->p < a->end && *a->p == ' ')
		a->p++;
	if (a->p >= a->end)
		return -1;
	if (*a->p == '"') {
		a->p++;
		while (a->p < a->end && *a->p != '"') {
			if (*a->p == '\\' && a->p + 1 < a->end)
				a->p++;
			if (*a->p == '\r' || *a->p == '\n')
				return -1;
			if (o + 1 < cap)
				out[o] = (char)*a->p;
			o++;
			a->p++;
		}
		if (a->p >= a->end)
			return -1;
		a->p++;
	} else if (*a->p == '{') {
		uint64_t n = 0;
		int digits = 0;
		a->p++;
		while (a->p < a->end && *a->p >= '0' && *a->p <= '9' && digits < 10) {
			n = n * 10 + (uint64_t)(*a->p - '0');
			a->p++;
			digits++;
		}
		if (a->p < a->end && *a->p == '+')
			a->p++;
		if (digits == 0 || a->end - a->p < 3 || memcmp(a->p, "}\r\n", 3) != 0)
			return -1;
		a->p += 3;
		if ((uint64_t)(a->end - a->p) < n)
			return -1;
		for (uint64_t i = 0; i < n; i++)
			if (o + 1 < cap)
				out[o++] = (char)a->p[i];
		o = (size_t)n;
		a->p += n;
	} else {
		while (a->p < a->end && is_atom(*a->p)) {
			if (o + 1 < cap)
				out[o] = (char)*a->p;
			o++;
			a->p++;
		}
		if (o == 0)
			return -1;
	}
	out[o < cap ? o : cap - 1] = '\0';
	return (long)o;
}

/* Bytes of an astring of whole length l that next_astring kept in cap. */
static size_t kept(long l, size_t cap)
{
	return (size_t)l < cap ? (size_t)l : cap - 1;
}

/*
 * AUTHENTICATE's initial response (RFC 4959: base64 or "=", an atom), as it
 * is in the command, whatever its length; a quoted string or a literal (not
 * what the RFC has, but read all the same) is copied into buf (cap bytes),
 * its first bytes. 0, or -1 when there is none.
 */
static int initial_response(struct args *a, char *buf, size_t cap, const char **ir, size_t *irl)
{
	while (a->p < a->end && *a->p == ' ')
		a->p++;
	if (a->p < a->end && is_atom(*a->p)) {
		*ir = (const char *)a->p;
		while (a->p < a->end && is_atom(*a->p))
			a->p++;
		*irl = (size_t)((const char *)a->p - *ir);
		return 0;
	}
	long l = next_astring(a, buf, cap);
	if (l < 0)
		return -1;
	*ir = buf;
	*irl = kept(l, cap);
	return 0;
}

/* ---- commands ------------------------------------------------------------ */

static int login_result(struct imap *m, struct resp_out *out)
{
	if (m->cfg && m->cfg->login_reject)
		return bad(m, out, "%s NO [AUTHENTICATIONFAILED] Authentication failed.\r\n",
		           m->tag);
	m->authed = 1;
	resp_out_printf(out, "%s OK [CAPABILITY " CAPS_POST "] Logged in\r\n", m->tag);
	return RESP_CONTINUE;
}

static int sasl_result(struct imap *m, int r, const char *challenge, struct resp_out *out)
{
	m->state = I_LINE;
	switch (r) {
	case RESP_SASL_CHALLENGE:
		m->state = I_SASL;
		resp_out_printf(out, "+ %s\r\n", challenge);
		return RESP_CONTINUE;
	case RESP_SASL_DONE:
		return login_result(m, out);
	case RESP_SASL_ABORT:
		return bad(m, out, "%s BAD Authentication aborted by client.\r\n", m->tag);
	case RESP_SASL_MECH:
		return bad(m, out, "%s NO Unsupported authentication mechanism.\r\n", m->tag);
	default:
		return bad(m, out, "%s BAD Invalid base64 data in continued response\r\n",
		           m->tag);
	}
}

static void select_reply(struct imap *m, int examine, struct resp_out *out)
{
	m->selected = 1;
	resp_out_puts(
	    out, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
	         "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] "
	         "Flags permitted.\r\n"
	         "* 0 EXISTS\r\n* 0 RECENT\r\n"
	         "* OK [UIDVALIDITY 1700000000] UIDs valid\r\n"
	         "* OK [UIDNEXT 1] Predicted next UID\r\n");
	resp_out_printf(out, "%s OK [%s] %s completed (0.001 + 0.000 secs).\r\n", m->tag,
	                examine ? "READ-ONLY" : "READ-WRITE", examine ? "Examine" : "Select");
}

static int execute(struct imap *m, struct resp_out *out)
{
	struct args a = {m->cmd, m->cmd + m->cmdlen};
	/* room for a recorded string's RESP_STR_MAX bytes: what is longer is cut */
	char verb[32], arg1[RESP_STR_MAX + 1], arg2[RESP_STR_MAX + 1];
	long l1, l2;

	resp_strv_add(&m->commands, m->cmd,
	              m->cmdlen >= 2 && m->cmd[m->cmdlen - 2] == '\r' ? m->cmdlen - 2
	                                                              : m->cmdlen);
	m->tag[0] = '\0';
	size_t tl = 0;
	while (a.p < a.end && is_atom(*a.p) && *a.p != '+') {
		if (tl + 1 < sizeof(m->tag))
			m->tag[tl++] = (char)*a.p;
		a.p++;
	}
	m->tag[tl] = '\0';
	if (tl == 0 || a.p >= a.end || *a.p != ' ')
		return bad(m, out, "* BAD Error in IMAP command received by server.\r\n%s", "");
	if (m->cmd_bad)
		return bad(m, out, "%s BAD Error in IMAP command: Too long argument.\r\n",
		           m->tag);
	a.p++;
	size_t vl = 0;
	while (a.p < a.end && is_atom(*a.p)) {
		if (vl + 1 < sizeof(verb))
			verb[vl++] = (char)*a.p;
		a.p++;
	}
	verb[vl] = '\0';
#define IS(w) resp_word_eq(verb, vl, w)
	if (IS("UID")) { /* UID FETCH / SEARCH ...: the sub-command decides */
		while (a.p < a.end && *a.p == ' ')
			a.p++;
		vl = 0;
		while (a.p < a.end && is_atom(*a.p)) {
			if (vl + 1 < sizeof(verb))
				verb[vl++] = (char)*a.p;
			a.p++;
		}
		verb[vl] = '\0';
	}

	if (IS("CAPABILITY")) {
		resp_out_puts(out, "* CAPABILITY ");
		caps(m, out);
		resp_out_printf(out,
		                "\r\n%s OK Pre-login capabilities listed, post-login "
		                "capabilities have more.\r\n",
		                m->tag);
	} else if (IS("NOOP") || IS("CHECK")) {
		resp_out_printf(out, "%s OK %s completed (0.001 + 0.000 secs).\r\n", m->tag,
		                IS("NOOP") ? "NOOP" : "Check");
	} else if (IS("LOGOUT")) {
		resp_out_printf(out,
		                "* BYE Logging out\r\n%s OK Logout completed (0.001 + 0.000 "
		                "secs).\r\n",
		                m->tag);
		m->state = I_DONE;
		return RESP_CLOSE;
	} else if (IS("ID")) {
		resp_out_printf(out, "* ID (\"name\" \"Dovecot\")\r\n%s OK ID completed.\r\n",
		                m->tag);
	} else if (IS("ENABLE")) {
		resp_out_printf(out, "* ENABLED\r\n%s OK Enabled.\r\n", m->tag);
	} else if (IS("STARTTLS") && offer_tls(m) && !m->authed) {
		resp_out_printf(out, "%s OK Begin TLS negotiation now.\r\n", m->tag);
		m->tls = 1;
		return RESP_STARTTLS;
	} else if (IS("LOGIN") && !m->authed) {
		if ((l1 = next_astring(&a, arg1, sizeof(arg1))) < 0 ||
		    (l2 = next_astring(&a, arg2, sizeof(arg2))) < 0)
			return bad(m, out,
			           "%s BAD Error in IMAP command LOGIN: Missing arguments.\r\n",
			           m->tag);
		size_t k1 = kept(l1, sizeof(arg1)), k2 = kept(l2, sizeof(arg2));
		resp_creds_add_cut(&m->creds, arg1, k1, k1 < (size_t)l1, arg2, k2,
		                   k2 < (size_t)l2, "LOGIN");
		return login_result(m, out);
	} else if (IS("AUTHENTICATE") && !m->authed) {
		const char *challenge = "";
		if ((l1 = next_astring(&a, arg1, sizeof(arg1))) < 0)
			return bad(m, out,
			           "%s BAD Error in IMAP command AUTHENTICATE: Missing "
			           "arguments.\r\n",
			           m->tag);
		const char *ir = "";
		size_t irl = 0;
		if (initial_response(&a, arg2, sizeof(arg2), &ir, &irl) < 0)
			irl = 0;
		int r = resp_sasl_start(&m->sasl, arg1, kept(l1, sizeof(arg1)), ir, irl,
		                        &m->creds, &challenge);
		return sasl_result(m, r, challenge, out);
	} else if (!m->authed) {
		return bad(m, out, "%s BAD Error in IMAP command received by server.\r\n",
		           m->tag);
	} else if (IS("SELECT") || IS("EXAMINE")) {
		if ((l1 = next_astring(&a, arg1, sizeof(arg1))) < 0)
			return bad(m, out,
			           "%s BAD Error in IMAP command: Missing arguments.\r\n",
			           m->tag);
		if (!resp_word_eq(arg1, (size_t)l1, "INBOX")) {
			/* shown as one line: a literal's CRLF would end the reply early */
			char echo[IMAP_ECHO_MAX + 4];
			m->selected = 0;
			resp_out_printf(out, "%s NO Mailbox doesn't exist: %s\r\n", m->tag,
			                resp_echo(echo, sizeof(echo), arg1,
			                          kept(l1, sizeof(arg1)), IMAP_ECHO_MAX));
		} else {
			select_reply(m, IS("EXAMINE"), out);
		}
	} else if (IS("LIST") || IS("LSUB")) {
		resp_out_printf(out,
		                "* %s (\\HasNoChildren) \".\" INBOX\r\n%s OK %s completed "
		                "(0.001 + 0.000 secs).\r\n",
		                IS("LIST") ? "LIST" : "LSUB", m->tag,
		                IS("LIST") ? "List" : "Lsub");
	} else if (IS("STATUS")) {
		resp_out_printf(out,
		                "* STATUS INBOX (MESSAGES 0 RECENT 0 UIDNEXT 1 UNSEEN 0)\r\n"
		                "%s OK Status completed (0.001 + 0.000 secs).\r\n",
		                m->tag);
	} else if (IS("NAMESPACE")) {
		resp_out_printf(out,
		                "* NAMESPACE ((\"\" \".\")) NIL NIL\r\n%s OK Namespace "
		                "completed.\r\n",
		                m->tag);
	} else if (IS("APPEND")) {
		m->appends++;
		char name[32];
		snprintf(name, sizeof(name), "append-%u.eml", m->appends);
		resp_blob_emit(&m->msg, m->ctx, "imap_append", name);
		if (m->messages > 1) /* MULTIAPPEND: the UIDs of all its messages */
			resp_out_printf(
			    out, "%s OK [APPENDUID 1700000000 %u:%u] Append completed.\r\n",
			    m->tag, m->appends - m->messages + 1, m->appends);
		else
			resp_out_printf(out,
			                "%s OK [APPENDUID 1700000000 %u] Append completed.\r\n",
			                m->tag, m->appends);
	} else if (IS("CREATE") || IS("DELETE") || IS("RENAME") || IS("SUBSCRIBE") ||
	           IS("UNSUBSCRIBE")) {
		resp_out_printf(out, "%s OK %s completed.\r\n", m->tag, verb);
	} else if (!m->selected &&
	           (IS("FETCH") || IS("SEARCH") || IS("STORE") || IS("COPY") || IS("MOVE") ||
	            IS("EXPUNGE") || IS("CLOSE") || IS("UNSELECT"))) {
		return bad(m, out, "%s BAD No mailbox selected.\r\n", m->tag);
	} else if (IS("SEARCH")) {
		resp_out_printf(out,
		                "* SEARCH\r\n%s OK Search completed (0.001 + 0.000 secs).\r\n",
		                m->tag);
	} else if (IS("FETCH") || IS("STORE") || IS("COPY") || IS("MOVE") || IS("EXPUNGE")) {
		resp_out_printf(out, "%s OK %s completed (0.001 + 0.000 secs).\r\n", m->tag,
		                verb);
	} else if (IS("CLOSE") || IS("UNSELECT")) {
		m->selected = 0;
		resp_out_printf(out, "%s OK %s completed.\r\n", m->tag, verb);
	} else if (IS("IDLE")) {
		m->state = I_IDLE;
		resp_out_puts(out, "+ idling\r\n");
	} else {
		return bad(m, out, "%s BAD Error in IMAP command: Unknown command.\r\n",
		           m->tag);
	}
#undef IS
	return RESP_CONTINUE;
}

static void cmd_append(struct imap *m, const void *p, size_t n)
{
	if (m->cmdlen + n > IMAP_CMD_MAX) {
		m->cmd_bad = 1;
		return;
	}
	memcpy(m->cmd + m->cmdlen, p, n);
	m->cmdlen += n;
}

/* Does the command so far begin "<tag> APPEND "? */
static int is_append(const struct imap *m)
{
	const uint8_t *sp = memchr(m->cmd, ' ', m->cmdlen);
	if (sp == NULL)
		return 0;
	size_t rest = m->cmdlen - (size_t)(sp + 1 - m->cmd);
	return rest >= 7 && strncasecmp((const char *)sp + 1, "APPEND ", 7) == 0;
}

/* Where the arguments of "tag APPEND " start in line l (n bytes), or n. */
static size_t append_args(const char *l, size_t n)
{
	const char *sp = memchr(l, ' ', n);
	if (sp == NULL || (size_t)(sp + 1 - l) + 7 > n || strncasecmp(sp + 1, "APPEND ", 7))
		return n;
	return (size_t)(sp + 1 - l) + 7;
}

static void tag_of(struct imap *m)
{
	size_t tl = 0;
	while (tl < m->cmdlen && tl + 1 < sizeof(m->tag) && is_atom(m->cmd[tl]) &&
	       m->cmd[tl] != '+') {
		m->tag[tl] = (char)m->cmd[tl];
		tl++;
	}
	m->tag[tl] = '\0';
}

static void command_reset(struct imap *m)
{
	m->cmdlen = 0;
	m->cmd_bad = 0;
	m->literal_append = 0;
	m->messages = 0;
}

/* A complete line of the command: a literal follows, or the command is whole. */
static int on_line(struct imap *m, struct resp_out *out)
{
	const char *l = m->line.buf;
	size_t n = m->line.len;

	if (m->state == I_SASL) {
		const char *challenge = "";
		int before = m->creds.n;
		int r = resp_sasl_step(&m->sasl, l, n, &m->creds, &challenge);
		if (m->line.overlong) { /* decoded from the line's first bytes */
			resp_creds_mark_cut(&m->creds, before);
			m->sasl.ucut |= r == RESP_SASL_CHALLENGE;
		}
		return sasl_result(m, r, challenge, out);
	}
	if (m->state == I_IDLE) {
		if (resp_word_eq(l, n, "DONE")) {
			m->state = I_LINE;
			resp_out_printf(out, "%s OK Idle completed (0.001 + 0.000 secs).\r\n",
			                m->tag);
			return RESP_CONTINUE;
		}
		return bad(m, out, "%s BAD Expected DONE.\r\n", m->tag);
	}
	if (m->line.overlong)
		m->cmd_bad = 1;
	cmd_append(m, l, n);
	cmd_append(m, "\r\n", 2);

	/* "{123}" or "{123+}" at the end of the line announces a literal. */
	if (!m->line.overlong && n >= 3 && l[n - 1] == '}') {
		size_t i = n - 1;
		int plus = 0;
		if (l[i - 1] == '+') {
			plus = 1;
			i--;
		}
		size_t e = i;
		while (i > 0 && l[i - 1] >= '0' && l[i - 1] <= '9')
			i--;
		if (i > 0 && l[i - 1] == '{' && e > i && e - i <= 10) {
			uint64_t len = strtoull(l + i, NULL, 10);
			/* "tag APPEND {n}": the mailbox's name is the literal, not a message.
			 */
			int append = is_append(m) && !(m->messages == 0 && m->cmdlen == n + 2 &&
			                               i - 1 == append_args(l, n));
			uint64_t max = append ? resp_max_payload(m->cfg) : IMAP_LITERAL_MAX;
			tag_of(m);
			if (len > max && !plus) {
				/* refused: the client must not send it */
				command_reset(m);
				return bad(m, out, "%s NO [TOOBIG] Literal too large.\r\n",
				           m->tag);
			}
			if (len > max)
				m->cmd_bad = 1; /* read and drop it, then answer BAD */
			if (!plus)
				resp_out_puts(out, "+ OK\r\n");
			m->literal_append = append;
			if (append && m->messages > 0 && m->msg.seen > 0) {
				/* MULTIAPPEND (RFC 3502): the message before this one is
				 * whole. */
				char name[32];
				snprintf(name, sizeof(name), "append-%u.eml", ++m->appends);
				resp_blob_emit(&m->msg, m->ctx, "imap_append", name);
			} else if (append) {
				/* A message the command before did not take (too large, not
				 * signed in): kept all the same, as the client sent it. */
				if (m->msg.seen > 0)
					resp_blob_emit(&m->msg, m->ctx, "imap_append", NULL);
				resp_blob_reset(&m->msg);
			}
			m->messages += append;
			m->remaining = len;
			m->state = I_LITERAL;
			return RESP_CONTINUE;
		}
	}
	int rc = execute(m, out);
	command_reset(m);
	return rc;
}

static int imap_input(void *st, const uint8_t *buf, size_t n, struct resp_out *out)
{
	struct imap *m = st;
	while (n > 0 && m->state != I_DONE) {
		if (m->state == I_LITERAL) {
			size_t k = m->remaining < n ? (size_t)m->remaining : n;
			if (m->literal_append)
				resp_blob_add(&m->msg, buf, k);
			else if (!m->cmd_bad)
				cmd_append(m, buf, k);
			buf += k;
			n -= k;
			m->remaining -= k;
			if (m->remaining == 0)
				m->state = I_LINE;
			continue;
		}
		size_t used = resp_line_feed(&m->line, buf, n);
		buf += used;
		n -= used;
		if (!m->line.done)
			break;
		int rc = on_line(m, out);
		resp_line_clear(&m->line);
		if (rc == RESP_CLOSE || rc == RESP_STARTTLS || rc < 0)
			return rc;
	}
	if (m->state == I_DONE)
		return RESP_CLOSE;
	if (m->state == I_LITERAL || m->cmdlen > 0 || m->line.len > 0 || m->line.overlong)
		return RESP_NEED_MORE;
	return RESP_CONTINUE;
}

static int imap_timeout(void *st, struct resp_out *out)
{
	struct imap *m = st;
	resp_out_puts(out, "* BYE Disconnected for inactivity.\r\n");
	m->state = I_DONE;
	return RESP_CLOSE;
}

static void imap_end(void *st)
{
	struct imap *m = st;
	if (m->ended)
		return;
	m->ended = 1;
	if (m->msg.seen > 0)
		resp_blob_emit(&m->msg, m->ctx, "imap_append", NULL);
}

static void imap_fields(void *st, struct evbuf *ev)
{
	struct imap *m = st;
	/* short fields first, long lists last: a cut event keeps its start (event.h) */
	resp_creds_render(&m->creds, ev);
	if (m->commands.total > 0) {
		ev_obj(ev, "imap");
		if (m->appends)
			ev_int(ev, "appends", m->appends);
		if (m->commands.total > (unsigned)m->commands.n) {
			ev_int(ev, "command_count", m->commands.total);
			ev_int(ev, "commands_not_kept", resp_strv_not_kept(&m->commands));
		}
		resp_cut_render(ev, m->commands.cut);
		resp_strv_render(&m->commands, ev, "command");
		ev_close(ev);
	}
}

static void imap_destroy(void *st)
{
	struct imap *m = st;
	if (m == NULL)
		return;
	resp_line_free(&m->line);
	resp_blob_free(&m->msg);
	resp_strv_free(&m->commands);
	resp_creds_free(&m->creds);
	resp_fixed_free(m->cmd, IMAP_CMD_MAX);
	resp_fixed_free(m, sizeof(*m));
}

const struct responder resp_imap = {
    .name = "imap",
    .proto = TRAP_PROTO_IMAP,
    .create = imap_create,
    .start = imap_start,
    .input = imap_input,
    .timeout = imap_timeout,
    .end = imap_end,
    .fields = imap_fields,
    .destroy = imap_destroy,
};

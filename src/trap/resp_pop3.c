/*
 * POP3 responder: a Dovecot with an empty mailbox. Records USER/PASS, APOP
 * and SASL (PLAIN, LOGIN) credentials and every command; answers CAPA, STAT,
 * LIST, UIDL, RETR/TOP/DELE (no such message), optional STLS. What is
 * recorded is bounded by the connection's record budget (resp_common.h);
 * what did not fit is counted.
 */
#include "resp_common.h"

#include <stdlib.h>
#include <string.h>

#define POP3_LINE_MAX 2048
#define POP3_KEEP_COMMANDS 64
#define POP3_BAD_MAX 10 /* Dovecot disconnects after ten bad commands */

struct pop3 {
	const struct resp_config *cfg;
	const struct resp_ctx *ctx;
	struct resp_line line;
	int done, authed, tls, user_given, in_sasl, bad;
	struct resp_sasl sasl;
	struct resp_record rec;
	struct resp_strv commands;
	struct resp_creds creds;
};

static void *pop3_create(const struct resp_config *cfg, const struct resp_ctx *ctx)
{
	struct pop3 *p = resp_fixed_alloc(sizeof(*p));
	if (p == NULL)
		return NULL;
	if (resp_line_init(&p->line, POP3_LINE_MAX) < 0) {
		resp_fixed_free(p, sizeof(*p));
		return NULL;
	}
	p->cfg = cfg;
	p->ctx = ctx;
	p->tls = ctx ? ctx->tls : 0;
	resp_record_init(&p->rec, 0);
	resp_strv_init(&p->commands, POP3_KEEP_COMMANDS);
	resp_strv_budget(&p->commands, &p->rec, RESP_REC_BULK);
	resp_creds_budget(&p->creds, &p->rec);
	return p;
}

static int pop3_start(void *st, struct resp_out *out)
{
	struct pop3 *p = st;
	resp_out_printf(out, "+OK %s\r\n",
	                p->cfg && p->cfg->banner ? p->cfg->banner : "Dovecot ready.");
	return RESP_CONTINUE;
}

static int bad(struct pop3 *p, struct resp_out *out, const char *reply)
{
	resp_out_puts(out, reply);
	if (++p->bad >= POP3_BAD_MAX) {
		resp_out_puts(out, "-ERR Too many bad commands.\r\n");
		p->done = 1;
		return RESP_CLOSE;
	}
	return RESP_CONTINUE;
}

static int login_result(struct pop3 *p, struct resp_out *out)
{
	if (p->cfg && p->cfg->login_reject)
		return bad(p, out, "-ERR [AUTH] Authentication failed.\r\n");
	p->authed = 1;
	resp_out_puts(out, "+OK Logged in.\r\n");
	return RESP_CONTINUE;
}

static int sasl_result(struct pop3 *p, int r, const char *challenge, struct resp_out *out)
{
	p->in_sasl = 0;
	switch (r) {
	case RESP_SASL_CHALLENGE:
		p->in_sasl = 1;
		resp_out_printf(out, "+ %s\r\n", challenge);
		return RESP_CONTINUE;
	case RESP_SASL_DONE:
		return login_result(p, out);
	case RESP_SASL_ABORT:
		return bad(p, out, "-ERR Authentication aborted by client.\r\n");
	case RESP_SASL_MECH:
		return bad(p, out, "-ERR Unsupported authentication mechanism.\r\n");
	default:
		return bad(p, out, "-ERR Invalid base64 data in continued response\r\n");
	}
}

static int command(struct pop3 *p, struct resp_out *out)
{
	const char *l = p->line.buf, *a, *challenge = "";
	size_t n = p->line.len, al;
	char echo[32 + 4];

	if (p->in_sasl) {
		int before = p->creds.n;
		int r = resp_sasl_step(&p->sasl, l, n, &p->creds, &challenge);
		if (p->line.overlong) { /* decoded from the line's first bytes */
			resp_creds_mark_cut(&p->creds, before);
			p->sasl.ucut |= r == RESP_SASL_CHALLENGE;
		}
		return sasl_result(p, r, challenge, out);
	}
	if (p->line.overlong) {
		resp_strv_add(&p->commands, l, n);
		return bad(p, out, "-ERR Input line too long.\r\n");
	}
	if (n == 0)
		return bad(p, out, "-ERR Unknown command.\r\n");
	resp_strv_add(&p->commands, l, n);
	size_t vl = resp_split(l, n, &a, &al);
#define IS(w) resp_word_eq(l, vl, w)

	if (IS("QUIT")) {
		resp_out_puts(out, p->authed ? "+OK Logging out.\r\n" : "+OK Logging out\r\n");
		p->done = 1;
		return RESP_CLOSE;
	}
	if (IS("CAPA")) {
		resp_out_puts(out, "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\n"
		                   "AUTH-RESP-CODE\r\n");
		if (p->cfg && p->cfg->starttls && !p->tls && !p->authed)
			resp_out_puts(out, "STLS\r\n");
		if (!p->authed)
			resp_out_puts(out, "USER\r\nSASL PLAIN LOGIN\r\n");
		resp_out_puts(out, ".\r\n");
		return RESP_CONTINUE;
	}
	if (IS("NOOP")) {
		resp_out_puts(out, "+OK\r\n");
		return RESP_CONTINUE;
	}
	if (!p->authed) {
		if (IS("USER")) {
			resp_creds_add(&p->creds, a, al, NULL, 0, "USER/PASS");
			p->user_given = 1;
			resp_out_puts(out, "+OK\r\n");
			return RESP_CONTINUE;
		}
		if (IS("PASS")) {
			if (!p->user_given)
				return bad(p, out, "-ERR No username given.\r\n");
			p->user_given = 0;
			resp_creds_set_pass(&p->creds, a, al);
			return login_result(p, out);
		}
		if (IS("APOP")) {
			const char *digest;
			size_t dl;
			size_t ul = resp_split(a, al, &digest, &dl);
			if (ul == 0 || dl == 0)
				return bad(p, out, "-ERR APOP needs name and digest.\r\n");
			resp_creds_add(&p->creds, a, ul, digest, dl, "APOP");
			return login_result(p, out);
		}
		if (IS("AUTH")) {
			if (al == 0) {
				resp_out_puts(out, "+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n");
				return RESP_CONTINUE;
			}
			const char *ir;
			size_t irl;
			size_t ml = resp_split(a, al, &ir, &irl);
			int r =
			    resp_sasl_start(&p->sasl, a, ml, ir, irl, &p->creds, &challenge);
			return sasl_result(p, r, challenge, out);
		}
		if (IS("STLS") && p->cfg && p->cfg->starttls && !p->tls) {
			resp_out_puts(out, "+OK Begin TLS negotiation now.\r\n");
			p->tls = 1;
			p->user_given = 0;
			return RESP_STARTTLS;
		}
		return bad(p, out, "-ERR Unknown command.\r\n");
	}
	if (IS("STAT")) {
		resp_out_puts(out, "+OK 0 0\r\n");
	} else if (IS("LIST") || IS("UIDL")) {
		if (al > 0)
			resp_out_printf(out, "-ERR There's no message %s.\r\n",
			                resp_echo(echo, sizeof(echo), a, al, 32));
		else
			resp_out_puts(out,
			              IS("LIST") ? "+OK 0 messages:\r\n.\r\n" : "+OK\r\n.\r\n");
	} else if (IS("RETR") || IS("TOP") || IS("DELE")) {
		const char *rest;
		size_t rl;
		size_t ml = resp_split(a, al, &rest, &rl);
		if (ml == 0)
			return bad(p, out, "-ERR Invalid message number\r\n");
		resp_out_printf(out, "-ERR There's no message %s.\r\n",
		                resp_echo(echo, sizeof(echo), a, ml, 32));
	} else if (IS("RSET")) {
		resp_out_puts(out, "+OK\r\n");
	} else {
		return bad(p, out, "-ERR Unknown command.\r\n");
	}
#undef IS
	return RESP_CONTINUE;
}

static int pop3_input(void *st, const uint8_t *buf, size_t n, struct resp_out *out)
{
	struct pop3 *p = st;
	while (n > 0 && !p->done) {
		size_t used = resp_line_feed(&p->line, buf, n);
		buf += used;
		n -= used;
		if (!p->line.done)
			break;
		int rc = command(p, out);
		resp_line_clear(&p->line);
		if (rc == RESP_CLOSE || rc == RESP_STARTTLS || rc < 0)
			return rc;
	}
	if (p->done)
		return RESP_CLOSE;
	return p->line.len > 0 || p->line.overlong ? RESP_NEED_MORE : RESP_CONTINUE;
}

static int pop3_timeout(void *st, struct resp_out *out)
{
	struct pop3 *p = st;
	resp_out_puts(out, "-ERR Disconnected for inactivity.\r\n");
	p->done = 1;
	return RESP_CLOSE;
}

static void pop3_end(void *st) {}

static void pop3_fields(void *st, struct evbuf *ev)
{
	struct pop3 *p = st;
	/* short fields first, long lists last: a cut event keeps its start (event.h) */
	resp_creds_render(&p->creds, ev);
	if (p->commands.total > 0) {
		ev_obj(ev, "pop3");
		if (p->commands.total > (unsigned)p->commands.n) {
			ev_int(ev, "command_count", p->commands.total);
			ev_int(ev, "commands_not_kept", resp_strv_not_kept(&p->commands));
		}
		resp_cut_render(ev, p->commands.cut);
		resp_strv_render(&p->commands, ev, "command");
		ev_close(ev);
	}
}

static void pop3_destroy(void *st)
{
	struct pop3 *p = st;
	if (p == NULL)
		return;
	resp_line_free(&p->line);
	resp_strv_free(&p->commands);
	resp_creds_free(&p->creds);
	resp_fixed_free(p, sizeof(*p));
}

const struct responder resp_pop3 = {
    .name = "pop3",
    .proto = TRAP_PROTO_POP3,
    .create = pop3_create,
    .start = pop3_start,
    .input = pop3_input,
    .timeout = pop3_timeout,
    .end = pop3_end,
    .fields = pop3_fields,
    .destroy = pop3_destroy,
};

/*
 * IRC responder: an UnrealIRCd that lets a bot register, join its channels
 * and speak. This is the command-and-control channel of many bots, so every
 * command line is recorded (up to a bound), and PRIVMSG/NOTICE with their
 * target and text; PASS becomes credentials. What is recorded is bounded by
 * the connection's record budget (resp_common.h); what did not fit is
 * counted, and so is a string cut to its bound. A reply that shows a
 * client's argument (a PING token, a channel, a nick asked about, an unknown
 * command) shows it on one line, each control byte as '?' (resp_echo): the
 * line reader ends a line at LF only, and a CR or NUL in an argument must not
 * end the reply early for the client, nor start a line of its own.
 */
#include "resp_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IRC_LINE_MAX 4096 /* 512 + IRCv3 message tags */
#define IRC_KEEP_COMMANDS 128
#define IRC_KEEP_MESSAGES 64
#define IRC_KEEP_CHANNELS 32
#define IRC_MAX_PARAMS 15
#define IRC_JOIN_MAX 10   /* channels per JOIN */
#define IRC_KEY_MAX 64    /* bytes of a channel key recorded */
#define IRC_CMD_ECHO 32   /* bytes of a command shown back (461, 421, ...) */
#define IRC_ARG_ECHO 64   /* of a nick, a channel, a mode shown back */
#define IRC_TEXT_ECHO 200 /* of a reason, a capability list */
#define IRC_PING_ECHO 400 /* of a PING token */
#define IRC_CHAN_MAX 50   /* a channel name joined */
#define IRC_VERSION "UnrealIRCd-6.1.2"
#define IRC_CREATED 1704707000 /* channel creation time shown */

struct irc_message {
	char type[8]; /* PRIVMSG or NOTICE */
	char *target, *text;
	size_t tl, xl;
	size_t cost; /* taken of the record budget */
	int cut;     /* target and text cut: 0 to 2 */
};

struct irc {
	const struct resp_config *cfg;
	const struct resp_ctx *ctx;
	struct resp_line line;
	int done, registered, ping_pending;
	char nick[32];
	char user[64];
	int user_cut; /* USER's name was longer than user keeps */
	struct resp_record rec;
	struct resp_str realname, pass;
	int have_pass, creds_done;
	struct resp_strv commands, channels;
	struct irc_message msgs[IRC_KEEP_MESSAGES];
	int nmsgs;
	unsigned msgs_total;
	struct resp_creds creds;
};

struct parsed {
	const char *cmd;
	size_t cl;
	const char *p[IRC_MAX_PARAMS];
	size_t pl[IRC_MAX_PARAMS];
	int np;
};

static char *dup_n(const char *s, size_t *n)
{
	if (*n > RESP_STR_MAX)
		*n = RESP_STR_MAX;
	char *c = malloc(*n + 1);
	if (c == NULL) {
		*n = 0;
		return NULL;
	}
	memcpy(c, s, *n);
	c[*n] = '\0';
	return c;
}

static void *irc_create(const struct resp_config *cfg, const struct resp_ctx *ctx)
{
	struct irc *c = resp_fixed_alloc(sizeof(*c));
	if (c == NULL)
		return NULL;
	if (resp_line_init(&c->line, IRC_LINE_MAX) < 0) {
		resp_fixed_free(c, sizeof(*c));
		return NULL;
	}
	c->cfg = cfg;
	c->ctx = ctx;
	strcpy(c->nick, "*");
	resp_record_init(&c->rec, 0);
	resp_strv_init(&c->commands, IRC_KEEP_COMMANDS);
	resp_strv_budget(&c->commands, &c->rec, RESP_REC_BULK);
	resp_strv_init(&c->channels, IRC_KEEP_CHANNELS);
	resp_strv_budget(&c->channels, &c->rec, RESP_REC_PRIORITY);
	resp_creds_budget(&c->creds, &c->rec);
	return c;
}

static const char *host(const struct irc *c)
{
	return resp_hostname(c->cfg);
}

static const char *peer(const struct irc *c)
{
	return c->ctx && c->ctx->peer_ip[0] ? c->ctx->peer_ip : "0.0.0.0";
}

static int irc_start(void *st, struct resp_out *out)
{
	struct irc *c = st;
	resp_out_printf(
	    out,
	    ":%s NOTICE * :*** Looking up your hostname...\r\n"
	    ":%s NOTICE * :*** Couldn't resolve your hostname; using your IP address "
	    "instead\r\n",
	    host(c), host(c));
	return RESP_CONTINUE;
}

/* [@tags] [:prefix] COMMAND params [:trailing] */
static void parse(const char *l, size_t n, struct parsed *m)
{
	size_t i = 0;
	memset(m, 0, sizeof(*m));
	if (i < n && l[i] == '@')
		while (i < n && l[i] != ' ')
			i++;
	while (i < n && l[i] == ' ')
		i++;
	if (i < n && l[i] == ':')
		while (i < n && l[i] != ' ')
			i++;
	while (i < n && l[i] == ' ')
		i++;
	m->cmd = l + i;
	while (i < n && l[i] != ' ')
		i++;
	m->cl = (size_t)(l + i - m->cmd);
	while (m->np < IRC_MAX_PARAMS) {
		while (i < n && l[i] == ' ')
			i++;
		if (i >= n)
			break;
		if (l[i] == ':' || m->np == IRC_MAX_PARAMS - 1) {
			if (l[i] == ':')
				i++;
			m->p[m->np] = l + i;
			m->pl[m->np++] = n - i;
			break;
		}
		m->p[m->np] = l + i;
		while (i < n && l[i] != ' ')
			i++;
		m->pl[m->np] = (size_t)(l + i - m->p[m->np]);
		m->np++;
	}
}

static int nick_valid(const char *s, size_t n)
{
	if (n == 0 || n >= 31 || (s[0] >= '0' && s[0] <= '9') || s[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr("-[]\\`^{}_|", c)))
			return 0;
	}
	return 1;
}

static void record_creds(struct irc *c)
{
	if (!c->have_pass || c->creds_done)
		return;
	c->creds_done = 1;
	const char *u = c->user[0] ? c->user : (strcmp(c->nick, "*") ? c->nick : NULL);
	resp_creds_add_cut(&c->creds, u, u ? strlen(u) : 0, u == c->user && c->user_cut,
	                   c->pass.s ? c->pass.s : "", c->pass.len, c->pass.cut, "PASS");
}

static void welcome(struct irc *c, struct resp_out *out)
{
	const char *h = host(c), *n = c->nick;
	c->registered = 1;
	record_creds(c);
	resp_out_printf(out, ":%s 001 %s :Welcome to the IRC Network %s!%s@%s\r\n", h, n, n,
	                c->user, peer(c));
	resp_out_printf(out, ":%s 002 %s :Your host is %s, running version " IRC_VERSION "\r\n",
	                h, n, h);
	resp_out_printf(
	    out, ":%s 003 %s :This server was created Mon Jan 8 2024 at 10:23:20 UTC\r\n", h,
	    n);
	resp_out_printf(out,
	                ":%s 004 %s %s " IRC_VERSION " iowrsxzdHtIDRqpWGTSB "
	                "lvhopsmntikraqbeIHzMQNRTOVKDdGLPZSCcf\r\n",
	                h, n, h);
	resp_out_printf(out,
	                ":%s 005 %s AWAYLEN=307 CASEMAPPING=ascii CHANLIMIT=#:10 CHANNELLEN=32 "
	                "CHANTYPES=# MAXTARGETS=20 MODES=12 NETWORK=IRC NICKLEN=30 "
	                "PREFIX=(qaohv)~&@%%+ :are supported by this server\r\n",
	                h, n);
	resp_out_printf(out, ":%s 251 %s :There are 1 users and 2 invisible on 1 servers\r\n",
	                h, n);
	resp_out_printf(out, ":%s 375 %s :- %s Message of the Day - \r\n", h, n, h);
	resp_out_printf(out, ":%s 372 %s :- Welcome.\r\n", h, n);
	resp_out_printf(out, ":%s 376 %s :End of /MOTD command.\r\n", h, n);
	resp_out_printf(out, ":%s MODE %s :+iwx\r\n", n, n);
}

static void join_one(struct irc *c, const char *ch, size_t chl, const char *key, size_t kl,
                     struct resp_out *out)
{
	const char *h = host(c), *n = c->nick;
	char e[IRC_ARG_ECHO + 4];
	resp_echo(e, sizeof(e), ch, chl, IRC_ARG_ECHO);
	if (chl == 0 || chl > IRC_CHAN_MAX || (ch[0] != '#' && ch[0] != '&')) {
		resp_out_printf(out, ":%s 403 %s %s :No such channel\r\n", h, n, e);
		return;
	}
	/* "channel key" recorded as sent (a NUL byte in it too), shown back as e */
	char rec[IRC_CHAN_MAX + 1 + IRC_KEY_MAX];
	size_t kk = kl > IRC_KEY_MAX ? IRC_KEY_MAX : kl, rl = chl;
	memcpy(rec, ch, chl);
	if (kl) {
		rec[rl++] = ' ';
		memcpy(rec + rl, key, kk);
		rl += kk;
	}
	resp_strv_add_cut(&c->channels, rec, rl, kl > IRC_KEY_MAX);
	resp_out_printf(out, ":%s!%s@%s JOIN :%s\r\n", n, c->user, peer(c), e);
	if (c->cfg && c->cfg->irc.topic) {
		resp_out_printf(out, ":%s 332 %s %s :%s\r\n", h, n, e, c->cfg->irc.topic);
		resp_out_printf(out, ":%s 333 %s %s %s %d\r\n", h, n, e, h, IRC_CREATED);
	}
	resp_out_printf(out, ":%s 353 %s = %s :@%s\r\n", h, n, e, n);
	resp_out_printf(out, ":%s 366 %s %s :End of /NAMES list.\r\n", h, n, e);
}

static void cmd_join(struct irc *c, const struct parsed *m, struct resp_out *out)
{
	const char *chs = m->p[0], *keys = m->np > 1 ? m->p[1] : "";
	size_t cl = m->pl[0], kl = m->np > 1 ? m->pl[1] : 0, ci = 0, ki = 0;
	for (int k = 0; k < IRC_JOIN_MAX && ci < cl; k++) {
		size_t cb = ci, kb = ki;
		while (ci < cl && chs[ci] != ',')
			ci++;
		while (ki < kl && keys[ki] != ',')
			ki++;
		join_one(c, chs + cb, ci - cb, keys + kb, ki - kb, out);
		ci++;
		if (ki < kl)
			ki++;
	}
}

/*
 * The first messages are kept, in order, as long as the count and the record
 * budget allow (BULK: the same text is also among the commands); once one is
 * not kept, no later one is.
 */
static void record_message(struct irc *c, const char *type, const struct parsed *m)
{
	if (c->msgs_total++ > (unsigned)c->nmsgs || c->nmsgs >= IRC_KEEP_MESSAGES)
		return;
	size_t tl = m->pl[0] > RESP_STR_MAX ? RESP_STR_MAX : m->pl[0];
	size_t xl = m->np > 1 ? (m->pl[1] > RESP_STR_MAX ? RESP_STR_MAX : m->pl[1]) : 0;
	size_t cost = tl + xl + 3 * RESP_ITEM_COST; /* an object of three strings */
	if (resp_record_take(&c->rec, cost, RESP_REC_BULK) < 0)
		return;
	struct irc_message *g = &c->msgs[c->nmsgs++];
	g->cost = cost;
	snprintf(g->type, sizeof(g->type), "%s", type);
	g->tl = tl;
	g->target = dup_n(m->p[0], &g->tl);
	g->xl = xl;
	g->text = dup_n(m->np > 1 ? m->p[1] : "", &g->xl);
	g->cut = (m->pl[0] > tl) + (m->np > 1 && m->pl[1] > xl);
}

static int command(struct irc *c, struct resp_out *out)
{
	const char *l = c->line.buf;
	size_t n = c->line.len;
	const char *h = host(c);
	struct parsed m;
	/* what replies show of the command and its arguments (resp_echo) */
	char cmd[IRC_CMD_ECHO + 4], e1[IRC_PING_ECHO + 4], e2[IRC_ARG_ECHO + 4];

	c->ping_pending = 0;
	if (n == 0)
		return RESP_CONTINUE;
	resp_strv_add(&c->commands, l, n);
	parse(l, n, &m);
	if (m.cl == 0)
		return RESP_CONTINUE;
	resp_echo(cmd, sizeof(cmd), m.cmd, m.cl, IRC_CMD_ECHO);
#define ECHO(buf, i, max) resp_echo(buf, sizeof(buf), m.p[i], m.pl[i], max)
#define IS(w) resp_word_eq(m.cmd, m.cl, w)
#define NEED(k)                                                                                \
	do {                                                                                   \
		if (m.np < (k)) {                                                              \
			resp_out_printf(out, ":%s 461 %s %s :Not enough parameters\r\n", h,    \
			                c->nick, cmd);                                         \
			return RESP_CONTINUE;                                                  \
		}                                                                              \
	} while (0)

	if (IS("QUIT")) {
		resp_out_printf(out, "ERROR :Closing Link: %s[%s] (Quit: %s)\r\n", c->nick,
		                peer(c), m.np > 0 ? ECHO(e1, 0, IRC_TEXT_ECHO) : "");
		c->done = 1;
		return RESP_CLOSE;
	}
	if (IS("PING")) {
		NEED(1);
		resp_out_printf(out, ":%s PONG %s :%s\r\n", h, h, ECHO(e1, 0, IRC_PING_ECHO));
		return RESP_CONTINUE;
	}
	if (IS("PONG"))
		return RESP_CONTINUE;
	if (IS("CAP")) {
		NEED(1);
		if (resp_word_eq(m.p[0], m.pl[0], "LS") ||
		    resp_word_eq(m.p[0], m.pl[0], "LIST"))
			resp_out_printf(out, ":%s CAP %s %.*s :\r\n", h, c->nick, (int)m.pl[0],
			                m.p[0]);
		else if (resp_word_eq(m.p[0], m.pl[0], "REQ") && m.np > 1)
			resp_out_printf(out, ":%s CAP %s NAK :%s\r\n", h, c->nick,
			                ECHO(e1, 1, IRC_TEXT_ECHO));
		return RESP_CONTINUE;
	}
	if (IS("PASS")) {
		NEED(1);
		if (c->registered) {
			resp_out_printf(out, ":%s 462 %s :You may not reregister\r\n", h,
			                c->nick);
			return RESP_CONTINUE;
		}
		resp_str_set(&c->pass, &c->rec, m.p[0], m.pl[0]);
		c->have_pass = 1;
		return RESP_CONTINUE;
	}
	if (IS("NICK")) {
		if (m.np < 1) {
			resp_out_printf(out, ":%s 431 %s :No nickname given\r\n", h, c->nick);
			return RESP_CONTINUE;
		}
		if (!nick_valid(m.p[0], m.pl[0])) {
			resp_out_printf(out, ":%s 432 %s %s :Erroneous Nickname\r\n", h,
			                c->nick, ECHO(e1, 0, IRC_ARG_ECHO));
			return RESP_CONTINUE;
		}
		if (c->registered)
			resp_out_printf(out, ":%s!%s@%s NICK :%.*s\r\n", c->nick, c->user,
			                peer(c), (int)m.pl[0], m.p[0]);
		memcpy(c->nick, m.p[0], m.pl[0]);
		c->nick[m.pl[0]] = '\0';
		if (!c->registered && c->user[0])
			welcome(c, out);
		return RESP_CONTINUE;
	}
	if (IS("USER")) {
		if (c->registered) {
			resp_out_printf(out, ":%s 462 %s :You may not reregister\r\n", h,
			                c->nick);
			return RESP_CONTINUE;
		}
		NEED(4);
		size_t ul = m.pl[0] < sizeof(c->user) - 1 ? m.pl[0] : sizeof(c->user) - 1;
		for (size_t i = 0; i < ul; i++) /* shown back in prefixes: keep it printable */
			c->user[i] = (m.p[0][i] > 0x20 && m.p[0][i] < 0x7f && m.p[0][i] != '@')
			                 ? m.p[0][i]
			                 : '_';
		c->user[ul] = '\0';
		c->user_cut = ul < m.pl[0];
		resp_str_set(&c->realname, &c->rec, m.p[3], m.pl[3]);
		if (strcmp(c->nick, "*") != 0)
			welcome(c, out);
		return RESP_CONTINUE;
	}
	if (!c->registered) {
		resp_out_printf(out, ":%s 451 %s :You have not registered\r\n", h, cmd);
		return RESP_CONTINUE;
	}
	const char *nk = c->nick;
	if (IS("JOIN")) {
		NEED(1);
		if (!(m.pl[0] == 1 && m.p[0][0] == '0'))
			cmd_join(c, &m, out);
	} else if (IS("PART")) {
		NEED(1);
		resp_out_printf(out, ":%s!%s@%s PART %s\r\n", nk, c->user, peer(c),
		                ECHO(e1, 0, IRC_TEXT_ECHO));
	} else if (IS("PRIVMSG") || IS("NOTICE")) {
		if (m.np < 1) {
			resp_out_printf(out, ":%s 411 %s :No recipient given (%s)\r\n", h, nk,
			                cmd);
			return RESP_CONTINUE;
		}
		record_message(c, IS("PRIVMSG") ? "PRIVMSG" : "NOTICE", &m);
		if (m.np < 2)
			resp_out_printf(out, ":%s 412 %s :No text to send\r\n", h, nk);
		else if (m.p[0][0] != '#' && m.p[0][0] != '&' &&
		         !resp_word_eq(m.p[0], m.pl[0], nk) && IS("PRIVMSG"))
			resp_out_printf(out, ":%s 401 %s %s :No such nick/channel\r\n", h, nk,
			                ECHO(e1, 0, IRC_ARG_ECHO));
	} else if (IS("MODE")) {
		NEED(1);
		const char *t = ECHO(e1, 0, IRC_ARG_ECHO);
		if (resp_word_eq(m.p[0], m.pl[0], nk)) {
			if (m.np > 1)
				resp_out_printf(out, ":%s MODE %s :%s\r\n", nk, nk,
				                ECHO(e2, 1, IRC_CMD_ECHO));
			else
				resp_out_printf(out, ":%s 221 %s +iwx\r\n", h, nk);
		} else if (m.p[0][0] == '#' || m.p[0][0] == '&') {
			if (m.np > 1)
				resp_out_printf(out, ":%s!%s@%s MODE %s %s\r\n", nk, c->user,
				                peer(c), t, ECHO(e2, 1, IRC_ARG_ECHO));
			else
				resp_out_printf(out,
				                ":%s 324 %s %s +nt\r\n:%s 329 %s %s %d\r\n", h,
				                nk, t, h, nk, t, IRC_CREATED);
		} else {
			resp_out_printf(out, ":%s 401 %s %s :No such nick/channel\r\n", h, nk,
			                t);
		}
	} else if (IS("TOPIC")) {
		NEED(1);
		const char *t = ECHO(e1, 0, IRC_ARG_ECHO);
		if (c->cfg && c->cfg->irc.topic)
			resp_out_printf(out, ":%s 332 %s %s :%s\r\n", h, nk, t,
			                c->cfg->irc.topic);
		else
			resp_out_printf(out, ":%s 331 %s %s :No topic is set.\r\n", h, nk, t);
	} else if (IS("WHO")) {
		resp_out_printf(out, ":%s 315 %s %s :End of /WHO list.\r\n", h, nk,
		                m.np ? ECHO(e1, 0, IRC_ARG_ECHO) : "*");
	} else if (IS("WHOIS")) {
		NEED(1);
		const char *t = ECHO(e1, 0, IRC_ARG_ECHO);
		resp_out_printf(out,
		                ":%s 401 %s %s :No such nick/channel\r\n"
		                ":%s 318 %s %s :End of /WHOIS list.\r\n",
		                h, nk, t, h, nk, t);
	} else if (IS("USERHOST")) {
		resp_out_printf(out, ":%s 302 %s :\r\n", h, nk);
	} else if (IS("ISON")) {
		resp_out_printf(out, ":%s 303 %s :\r\n", h, nk);
	} else if (IS("LIST")) {
		resp_out_printf(
		    out, ":%s 321 %s Channel :Users  Name\r\n:%s 323 %s :End of /LIST\r\n", h,
		    nk, h, nk);
	} else if (IS("AWAY")) {
		resp_out_printf(out,
		                m.np ? ":%s 306 %s :You have been marked as being away\r\n"
		                     : ":%s 305 %s :You are no longer marked as being away\r\n",
		                h, nk);
	} else {
		resp_out_printf(out, ":%s 421 %s %s :Unknown command\r\n", h, nk, cmd);
	}
#undef ECHO
#undef IS
#undef NEED
	return RESP_CONTINUE;
}

static int irc_input(void *st, const uint8_t *buf, size_t n, struct resp_out *out)
{
	struct irc *c = st;
	while (n > 0 && !c->done) {
		size_t used = resp_line_feed(&c->line, buf, n);
		buf += used;
		n -= used;
		if (!c->line.done)
			break;
		int rc = command(c, out);
		resp_line_clear(&c->line);
		if (rc == RESP_CLOSE || rc < 0)
			return rc;
	}
	if (c->done)
		return RESP_CLOSE;
	return c->line.len > 0 || c->line.overlong ? RESP_NEED_MORE : RESP_CONTINUE;
}

/* Registered clients get one PING; silence after it closes the link. */
static int irc_timeout(void *st, struct resp_out *out)
{
	struct irc *c = st;
	if (c->registered && !c->ping_pending) {
		c->ping_pending = 1;
		resp_out_printf(out, "PING :%s\r\n", host(c));
		return RESP_CONTINUE;
	}
	resp_out_printf(out, "ERROR :Closing Link: %s[%s] (Ping timeout: 120 seconds)\r\n",
	                c->nick, peer(c));
	c->done = 1;
	return RESP_CLOSE;
}

static void irc_end(void *st)
{
	record_creds(st);
}

static void irc_fields(void *st, struct evbuf *ev)
{
	struct irc *c = st;
	/* short fields first, long lists last: a cut event keeps its start (event.h) */
	resp_creds_render(&c->creds, ev);
	if (c->commands.total == 0)
		return;
	ev_obj(ev, "irc");
	if (strcmp(c->nick, "*") != 0)
		ev_str(ev, "nick", c->nick);
	if (c->user[0])
		ev_str(ev, "user", c->user);
	if (c->realname.s)
		ev_strn(ev, "realname", c->realname.s, c->realname.len);
	if (c->commands.total > (unsigned)c->commands.n) {
		ev_int(ev, "command_count", c->commands.total);
		ev_int(ev, "commands_not_kept", resp_strv_not_kept(&c->commands));
	}
	if (c->msgs_total > (unsigned)c->nmsgs) {
		ev_int(ev, "message_count", c->msgs_total);
		ev_int(ev, "messages_not_kept", c->msgs_total - (unsigned)c->nmsgs);
	}
	if (resp_strv_not_kept(&c->channels))
		ev_int(ev, "channels_not_kept", resp_strv_not_kept(&c->channels));
	unsigned cut = (unsigned)(c->user[0] && c->user_cut) + (unsigned)c->realname.cut +
	               c->channels.cut + c->commands.cut;
	for (int i = 0; i < c->nmsgs; i++)
		cut += (unsigned)c->msgs[i].cut;
	resp_cut_render(ev, cut);
	resp_strv_render(&c->channels, ev, "channels");
	if (c->nmsgs > 0) {
		ev_arr(ev, "messages");
		for (int i = 0; i < c->nmsgs; i++) {
			ev_obj(ev, "");
			ev_str(ev, "type", c->msgs[i].type);
			ev_strn(ev, "target", c->msgs[i].target ? c->msgs[i].target : "",
			        c->msgs[i].tl);
			ev_strn(ev, "text", c->msgs[i].text ? c->msgs[i].text : "",
			        c->msgs[i].xl);
			ev_close(ev);
		}
		ev_close(ev);
	}
	resp_strv_render(&c->commands, ev, "commands");
	ev_close(ev);
}

static void irc_destroy(void *st)
{
	struct irc *c = st;
	if (c == NULL)
		return;
	resp_line_free(&c->line);
	resp_strv_free(&c->commands);
	resp_strv_free(&c->channels);
	resp_creds_free(&c->creds);
	for (int i = 0; i < c->nmsgs; i++) {
		free(c->msgs[i].target);
		free(c->msgs[i].text);
		resp_record_give(&c->rec, c->msgs[i].cost);
	}
	resp_str_free(&c->realname, &c->rec);
	resp_str_free(&c->pass, &c->rec);
	resp_fixed_free(c, sizeof(*c));
}

const struct responder resp_irc = {
    .name = "irc",
    .proto = TRAP_PROTO_IRC,
    .create = irc_create,
    .start = irc_start,
    .input = irc_input,
    .timeout = irc_timeout,
    .end = irc_end,
    .fields = irc_fields,
    .destroy = irc_destroy,
};

/*
 * Telnet responder: a BusyBox telnetd on a small device. Handles and strips
 * IAC negotiation (subnegotiation included: terminal type, window size),
 * prompts "login:" and "Password:", records the credentials, then offers a
 * fake shell that records each command line. The few answers bots test for
 * are given ("X: applet not found", echo), and files built with
 * `echo -e '\x..' > file` (the echo-loader trick) are rebuilt and kept as
 * payloads, as are the URLs named on command lines.
 *
 * A line longer than TN_LINE_MAX (an echo loader that writes its file in a
 * few long lines) is collected whole, up to the payload size, run like any
 * other, kept as a "telnet_line" payload and counted (long_lines). What is
 * recorded for the event (commands, URLs, credentials) is bounded by the
 * connection's record budget (resp_common.h); what did not fit is counted,
 * and so is a string cut to its bound. The state, its line buffer included,
 * is counted in the worker's memory budget.
 */
#include "resp_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TN_LINE_MAX 4096
#define TN_KEEP_COMMANDS 128
#define TN_KEEP_URLS 32
#define TN_ECHO_FILES 4
#define TN_LOGIN_FAILS 3
#define TN_SB_MAX 64

enum { IAC = 255, DONT = 254, DO = 253, WONT = 252, WILL = 251, SB = 250, SE = 240 };
enum { OPT_ECHO = 1, OPT_SGA = 3, OPT_TTYPE = 24, OPT_NAWS = 31 };

enum tn_parse { T_DATA, T_IAC, T_OPT, T_SB, T_SB_IAC };
enum tn_phase { P_LOGIN, P_PASSWORD, P_SHELL, P_DONE };

struct echo_file {
	char name[128];
	int name_cut; /* the name was longer than name keeps */
	struct resp_blob data;
};

struct telnet {
	const struct resp_config *cfg;
	const struct resp_ctx *ctx;
	enum tn_parse ps;
	enum tn_phase phase;
	uint8_t verb;
	uint8_t sb[TN_SB_MAX];
	size_t sblen;
	int sb_over;             /* the subnegotiation had more bytes than sb keeps */
	uint8_t answered[4][32]; /* (verb, option) pairs already answered: no loops */
	int echo, cr;
	char line[TN_LINE_MAX + 1];
	size_t len;
	int overlong; /* the line went past TN_LINE_MAX: all of it is in longline */
	struct resp_blob longline;
	unsigned long_lines;
	char user[64];
	size_t ulen;
	int fails;
	char ttype[64];
	int ttype_cut;
	unsigned width, height;
	struct resp_record rec; /* what commands, urls and creds keep */
	struct resp_strv commands, urls;
	struct resp_creds creds;
	struct echo_file files[TN_ECHO_FILES];
	int nfiles;
	int ended;
};

static void *telnet_create(const struct resp_config *cfg, const struct resp_ctx *ctx)
{
	struct telnet *t = resp_fixed_alloc(sizeof(*t));
	if (t == NULL)
		return NULL;
	t->cfg = cfg;
	t->ctx = ctx;
	resp_record_init(&t->rec, 0);
	resp_strv_init(&t->commands, TN_KEEP_COMMANDS);
	resp_strv_budget(&t->commands, &t->rec, RESP_REC_BULK);
	resp_strv_init(&t->urls, TN_KEEP_URLS);
	resp_strv_budget(&t->urls, &t->rec, RESP_REC_PRIORITY);
	resp_creds_budget(&t->creds, &t->rec);
	return t;
}

static const char *host(const struct telnet *t)
{
	return resp_hostname(t->cfg);
}

static void login_prompt(struct telnet *t, struct resp_out *out)
{
	resp_out_printf(out, "%s login: ", host(t));
}

static void shell_prompt(struct telnet *t, struct resp_out *out)
{
	int root = t->ulen == 4 && memcmp(t->user, "root", 4) == 0;
	resp_out_printf(out, "%s@%s:~%s ", t->user[0] ? t->user : "root", host(t),
	                root || !t->user[0] ? "#" : "$");
}

static int telnet_start(void *st, struct resp_out *out)
{
	struct telnet *t = st;
	/* what BusyBox telnetd sends first */
	static const uint8_t iacs[] = {IAC, DO,   OPT_ECHO, IAC, DO,   OPT_NAWS,
	                               IAC, WILL, OPT_ECHO, IAC, WILL, OPT_SGA};
	resp_out_put(out, iacs, sizeof(iacs));
	resp_out_puts(out, "\r\n");
	if (t->cfg && t->cfg->banner)
		resp_out_printf(out, "%s\r\n", t->cfg->banner);
	login_prompt(t, out);
	return RESP_CONTINUE;
}

/* ---- option negotiation -------------------------------------------------- */

static int once(struct telnet *t, uint8_t verb, uint8_t opt)
{
	uint8_t *bits = t->answered[verb - WILL];
	if (bits[opt >> 3] & (1u << (opt & 7)))
		return 0;
	bits[opt >> 3] |= (uint8_t)(1u << (opt & 7));
	return 1;
}

static void negotiate(struct telnet *t, uint8_t verb, uint8_t opt, struct resp_out *out)
{
	if (!once(t, verb, opt))
		return;
	uint8_t r[3] = {IAC, 0, opt};
	switch (verb) {
	case WILL:
		if (opt == OPT_ECHO || opt == OPT_NAWS)
			return;
		if (opt == OPT_TTYPE) {
			static const uint8_t ask[] = {IAC,       DO, OPT_TTYPE, IAC, SB,
			                              OPT_TTYPE, 1,  IAC,       SE};
			resp_out_put(out, ask, sizeof(ask));
			return;
		}
		r[1] = DONT;
		break;
	case DO:
		if (opt == OPT_ECHO) {
			t->echo = 1;
			return;
		}
		if (opt == OPT_SGA)
			return;
		r[1] = WONT;
		break;
	case DONT:
		if (opt == OPT_ECHO)
			t->echo = 0;
		return;
	default:
		return;
	}
	resp_out_put(out, r, sizeof(r));
}

static void subnegotiation(struct telnet *t)
{
	if (t->sblen >= 2 && t->sb[0] == OPT_TTYPE && t->sb[1] == 0) {
		size_t n =
		    t->sblen - 2 < sizeof(t->ttype) - 1 ? t->sblen - 2 : sizeof(t->ttype) - 1;
		memcpy(t->ttype, t->sb + 2, n);
		t->ttype[n] = '\0';
		t->ttype_cut = t->sb_over || n < t->sblen - 2;
	} else if (t->sblen >= 5 && t->sb[0] == OPT_NAWS) {
		t->width = (unsigned)(t->sb[1] << 8 | t->sb[2]);
		t->height = (unsigned)(t->sb[3] << 8 | t->sb[4]);
	}
}

/* ---- the fake shell ------------------------------------------------------ */

static void extract_urls(struct telnet *t, const char *l, size_t n)
{
	static const char *const schemes[] = {"http://", "https://", "ftp://", "tftp://"};
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < sizeof(schemes) / sizeof(schemes[0]); k++) {
			size_t sl = strlen(schemes[k]);
			if (n - i < sl || strncasecmp(l + i, schemes[k], sl) != 0)
				continue;
			size_t e = i + sl;
			while (e < n && l[e] > 0x20 && l[e] < 0x7f &&
			       !strchr("'\";|&<>`)", l[e]))
				e++;
			if (e > i + sl)
				resp_strv_add(&t->urls, l + i, e - i);
			i = e;
			break;
		}
	}
}

static struct echo_file *echo_file(struct telnet *t, const char *name, size_t nl, int append)
{
	int cut = nl >= sizeof(t->files[0].name);
	if (cut)
		nl = sizeof(t->files[0].name) - 1;
	for (int i = 0; i < t->nfiles; i++) {
		struct echo_file *f = &t->files[i];
		if (strlen(f->name) == nl && memcmp(f->name, name, nl) == 0) {
			if (!append) /* ">" starts the file over: keep what was built so far */
				resp_blob_emit(&f->data, t->ctx, "telnet_echo_file", f->name);
			return f;
		}
	}
	if (t->nfiles >= TN_ECHO_FILES)
		return NULL;
	struct echo_file *f = &t->files[t->nfiles++];
	memcpy(f->name, name, nl);
	f->name[nl] = '\0';
	f->name_cut = cut;
	resp_blob_init(&f->data, resp_max_payload(t->cfg));
	return f;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
	                              : -1;
}

/*
 * Decode echo's words: quotes removed, and with -e the backslash escapes
 * (\xHH, \0NNN, \n, \t, \r, \\). Writes at most cap bytes; returns the length.
 */
static size_t echo_decode(const char *s, size_t n, int esc, uint8_t *out, size_t cap)
{
	size_t o = 0;
	char q = 0;
	int first = 1;
	for (size_t i = 0; i < n && o < cap; i++) {
		char c = s[i];
		if (!q && (c == '\'' || c == '"')) {
			q = c;
			continue;
		}
		if (q && c == q) {
			q = 0;
			continue;
		}
		if (!q && c == ' ') {
			/* words are joined by one space */
			while (i + 1 < n && s[i + 1] == ' ')
				i++;
			if (!first && i + 1 < n)
				out[o++] = ' ';
			continue;
		}
		first = 0;
		if (c == '\\' && i + 1 < n && (esc || q != '\'')) {
			char d = s[i + 1];
			if (esc && d == 'x' && i + 2 < n && hexval(s[i + 2]) >= 0) {
				int v = hexval(s[i + 2]);
				i += 2;
				if (i + 1 < n && hexval(s[i + 1]) >= 0)
					v = v * 16 + hexval(s[++i]);
				out[o++] = (uint8_t)v;
				continue;
			}
			if (esc && d == '0') {
				int v = 0, k = 0;
				i++;
				while (k < 3 && i + 1 < n && s[i + 1] >= '0' &&
				       s[i + 1] <= '7') {
					v = v * 8 + (s[++i] - '0');
					k++;
				}
				out[o++] = (uint8_t)v;
				continue;
			}
			if (esc && (d == 'n' || d == 't' || d == 'r' || d == '\\')) {
				out[o++] = d == 'n'   ? '\n'
				           : d == 't' ? '\t'
				           : d == 'r' ? '\r'
				                      : '\\';
				i++;
				continue;
			}
			if (!q) {
				out[o++] = (uint8_t)d;
				i++;
				continue;
			}
		}
		out[o++] = (uint8_t)c;
	}
	return o;
}

static void cmd_echo(struct telnet *t, const char *a, size_t al, struct resp_out *out)
{
	int nl = 1, esc = 0;
	/* options: -n, -e, -ne, -en */
	while (al >= 2 && a[0] == '-' && strchr("neE", a[1])) {
		size_t k = 1;
		while (k < al && strchr("neE", a[k]))
			k++;
		if (k < al && a[k] != ' ')
			break;
		for (size_t j = 1; j < k; j++) {
			if (a[j] == 'n')
				nl = 0;
			else if (a[j] == 'e')
				esc = 1;
			else
				esc = 0;
		}
		a += k;
		al -= k;
		resp_trim(&a, &al);
	}
	/* a redirect outside quotes sends the text to a file */
	size_t r = 0;
	char q = 0;
	for (; r < al; r++) {
		if (!q && (a[r] == '\'' || a[r] == '"'))
			q = a[r];
		else if (q && a[r] == q)
			q = 0;
		else if (!q && a[r] == '>')
			break;
	}
	uint8_t small[TN_LINE_MAX + 1], *buf = small, *big = NULL;
	size_t cap = sizeof(small);
	size_t tl = r;
	const char *txt = a;
	resp_trim(&txt, &tl);
	if (tl + 2 > cap && (big = malloc(tl + 2)) != NULL) {
		buf = big; /* a long line: decoded text is never longer */
		cap = tl + 2;
	}
	size_t bl = echo_decode(txt, tl, esc, buf, cap - 1);
	if (nl)
		buf[bl++] = '\n';
	if (r == al) {
		for (size_t i = 0; i < bl; i++) {
			if (buf[i] == '\n')
				resp_out_puts(out, "\r\n");
			else
				resp_out_put(out, &buf[i], 1);
		}
		free(big);
		return;
	}
	int append = r + 1 < al && a[r + 1] == '>';
	const char *fn = a + r + 1 + append;
	size_t fl = al - r - 1 - (size_t)append;
	resp_trim(&fn, &fl);
	size_t e = 0;
	while (e < fl && fn[e] != ' ')
		e++;
	struct echo_file *f = e ? echo_file(t, fn, e, append) : NULL;
	if (f)
		resp_blob_add(&f->data, buf, bl);
	free(big);
}

static int run_segment(struct telnet *t, const char *s, size_t n, struct resp_out *out)
{
	resp_trim(&s, &n);
	if (n == 0)
		return 0;
	const char *a;
	size_t al;
	size_t wl = resp_split(s, n, &a, &al);
	const char *w = s, *word = s;
	size_t wordl = wl;
	const char *slash = memrchr(w, '/', wl);
	if (slash) { /* /bin/busybox -> busybox */
		wl -= (size_t)(slash + 1 - w);
		w = slash + 1;
	}
	/* "busybox APPLET args": a real applet runs, anything else is not found */
	while (resp_word_eq(w, wl, "busybox") && al > 0) {
		static const char *const applets[] = {"echo",  "cat", "wget", "tftp",
		                                      "chmod", "rm",  "cp",   "mkdir",
		                                      "ps",    "sh",  "ls",   "cd"};
		const char *b;
		size_t bl;
		size_t appl = resp_split(a, al, &b, &bl);
		int known = 0;
		for (size_t i = 0; i < sizeof(applets) / sizeof(applets[0]); i++)
			known |= resp_word_eq(a, appl, applets[i]);
		if (!known) {
			resp_out_printf(out, "%.*s: applet not found\r\n",
			                (int)(appl > 64 ? 64 : appl), a);
			return 0;
		}
		w = a;
		wl = appl;
		a = b;
		al = bl;
	}
	if (resp_word_eq(w, wl, "exit") || resp_word_eq(w, wl, "logout"))
		return 1;
	if (resp_word_eq(w, wl, "echo")) {
		cmd_echo(t, a, al, out);
		return 0;
	}
	static const char *const silent[] = {
	    "cd",      "chmod",      "rm",    "mkdir", "export", "ulimit", "kill",   "killall",
	    "cat",     "cp",         "mv",    "sh",    "ash",    "bash",   "enable", "system",
	    "shell",   "linuxshell", "start", "wget",  "curl",   "tftp",   "ftpget", "nohup",
	    "history", "unset",      "sleep", "ls",    "ps",     "dd",     "uname",  "true",
	    "cat",     "sync",       "touch", "ln",
	};
	for (size_t i = 0; i < sizeof(silent) / sizeof(silent[0]); i++)
		if (resp_word_eq(w, wl, silent[i]))
			return 0;
	resp_out_printf(out, "-sh: %.*s: not found\r\n", (int)(wordl > 64 ? 64 : wordl), word);
	return 0;
}

/* Run a command line: segments split at ; && || and newlines. 1 = logout. */
static int shell_line(struct telnet *t, const char *l, size_t n, struct resp_out *out)
{
	size_t b = 0;
	char q = 0;
	for (size_t i = 0; i <= n; i++) {
		char c = i < n ? l[i] : ';';
		if (i < n && !q && (c == '\'' || c == '"')) {
			q = c;
			continue;
		}
		if (i < n && q) {
			if (c == q)
				q = 0;
			continue;
		}
		int sep = c == ';' || c == '\n' ||
		          (i + 1 < n &&
		           ((c == '&' && l[i + 1] == '&') || (c == '|' && l[i + 1] == '|')));
		if (!sep)
			continue;
		if (run_segment(t, l + b, i - b, out))
			return 1;
		if (c == '&' || c == '|')
			i++;
		b = i + 1;
	}
	return 0;
}

/* ---- lines --------------------------------------------------------------- */

/* One byte of the line being typed. */
static void line_put(struct telnet *t, uint8_t c)
{
	if (!t->overlong && t->len < TN_LINE_MAX) {
		t->line[t->len++] = (char)c;
		return;
	}
	if (!t->overlong) {
		/* past the line buffer: the whole line goes on in a blob */
		t->overlong = 1;
		resp_blob_init(&t->longline, resp_max_payload(t->cfg));
		resp_blob_add(&t->longline, t->line, t->len);
	}
	resp_blob_add(&t->longline, &c, 1);
}

/* Backspace: 1 when there was a byte to take back. */
static int line_unput(struct telnet *t)
{
	if (t->overlong) {
		struct resp_blob *b = &t->longline;
		if (b->seen == 0)
			return 0;
		if (b->seen-- == b->len)
			b->len--;
		return 1;
	}
	if (t->len == 0)
		return 0;
	t->len--;
	return 1;
}

static void line_forget(struct telnet *t)
{
	t->len = 0;
	if (t->overlong) {
		resp_blob_free(&t->longline);
		t->overlong = 0;
	}
}

/* A long line (ended, or cut off by the end of the connection) is kept as a payload. */
static void long_line_keep(struct telnet *t)
{
	char name[32];
	t->long_lines++;
	snprintf(name, sizeof(name), "line-%u.txt", t->long_lines);
	resp_blob_emit(&t->longline, t->ctx, "telnet_line", name);
}

static int on_line(struct telnet *t, struct resp_out *out)
{
	const char *l = t->line;
	size_t n = t->len;
	if (t->overlong && t->longline.seen == t->longline.len) {
		/* all of it kept: run all of it (an echo's redirect is at its end) */
		l = t->longline.data ? (const char *)t->longline.data : "";
		n = t->longline.len;
	}

	if (t->echo || t->phase == P_PASSWORD)
		resp_out_puts(out, "\r\n");
	switch (t->phase) {
	case P_LOGIN:
		if (n == 0) {
			login_prompt(t, out);
			return RESP_CONTINUE;
		}
		t->ulen = 0;
		for (size_t i = 0; i < n && t->ulen < sizeof(t->user) - 1; i++)
			if (l[i] > 0x20 && l[i] < 0x7f)
				t->user[t->ulen++] = l[i];
		t->user[t->ulen] = '\0';
		resp_creds_add(&t->creds, l, n, NULL, 0, "telnet");
		t->phase = P_PASSWORD;
		resp_out_puts(out, "Password: ");
		return RESP_CONTINUE;
	case P_PASSWORD:
		resp_creds_set_pass(&t->creds, l, n);
		if (t->cfg && t->cfg->login_reject) {
			resp_out_puts(out, "Login incorrect\r\n");
			if (++t->fails >= TN_LOGIN_FAILS) {
				t->phase = P_DONE;
				return RESP_CLOSE;
			}
			t->phase = P_LOGIN;
			login_prompt(t, out);
			return RESP_CONTINUE;
		}
		t->phase = P_SHELL;
		resp_out_puts(out,
		              "\r\nBusyBox v1.30.1 (2019-05-06 11:30:57 UTC) built-in shell "
		              "(ash)\r\nEnter 'help' for a list of built-in commands.\r\n\r\n");
		shell_prompt(t, out);
		return RESP_CONTINUE;
	case P_SHELL:
		if (n > 0) {
			resp_strv_add(&t->commands, l, n);
			extract_urls(t, l, n);
			if (shell_line(t, l, n, out)) {
				t->phase = P_DONE;
				return RESP_CLOSE;
			}
		}
		shell_prompt(t, out);
		return RESP_CONTINUE;
	default:
		return RESP_CLOSE;
	}
}

/* One data byte (IAC sequences already stripped). */
static int data_byte(struct telnet *t, uint8_t c, struct resp_out *out)
{
	if (t->cr) {
		t->cr = 0;
		if (c == '\n' || c == 0)
			return RESP_CONTINUE; /* CR LF and CR NUL are one end of line */
	}
	if (c == '\r' || c == '\n') {
		t->cr = c == '\r';
		int rc = on_line(t, out);
		if (t->overlong)
			long_line_keep(t);
		line_forget(t);
		return rc;
	}
	if (c == 0x08 || c == 0x7f) {
		if (line_unput(t) && t->echo && t->phase != P_PASSWORD)
			resp_out_puts(out, "\b \b");
		return RESP_CONTINUE;
	}
	if (c == 0x03 && t->phase == P_SHELL) { /* ^C drops the line */
		line_forget(t);
		resp_out_puts(out, "^C\r\n");
		shell_prompt(t, out);
		return RESP_CONTINUE;
	}
	if (c == 0x04 && t->len == 0 && !t->overlong && t->phase == P_SHELL) { /* ^D logs out */
		t->phase = P_DONE;
		return RESP_CLOSE;
	}
	if (c == 0)
		return RESP_CONTINUE;
	line_put(t, c);
	if (t->echo && t->phase != P_PASSWORD && c >= 0x20)
		resp_out_put(out, &c, 1);
	return RESP_CONTINUE;
}

static int telnet_input(void *st, const uint8_t *buf, size_t n, struct resp_out *out)
{
	struct telnet *t = st;
	for (size_t i = 0; i < n && t->phase != P_DONE; i++) {
		uint8_t c = buf[i];
		switch (t->ps) {
		case T_DATA:
			if (c == IAC) {
				t->ps = T_IAC;
				break;
			}
			if (data_byte(t, c, out) == RESP_CLOSE)
				return RESP_CLOSE;
			break;
		case T_IAC:
			t->ps = T_DATA;
			if (c == IAC) { /* escaped 0xFF data byte */
				if (data_byte(t, c, out) == RESP_CLOSE)
					return RESP_CLOSE;
			} else if (c >= WILL && c <= DONT) {
				t->verb = c;
				t->ps = T_OPT;
			} else if (c == SB) {
				t->sblen = 0;
				t->sb_over = 0;
				t->ps = T_SB;
			}
			/* NOP, DM, BRK, IP, AO, AYT, EC, EL, GA: nothing to do */
			break;
		case T_OPT:
			negotiate(t, t->verb, c, out);
			t->ps = T_DATA;
			break;
		case T_SB:
			if (c == IAC)
				t->ps = T_SB_IAC;
			else if (t->sblen < TN_SB_MAX)
				t->sb[t->sblen++] = c;
			else
				t->sb_over = 1;
			break;
		case T_SB_IAC:
			if (c == SE) {
				subnegotiation(t);
				t->ps = T_DATA;
			} else {
				if (c == IAC && t->sblen < TN_SB_MAX)
					t->sb[t->sblen++] = c;
				else if (c == IAC)
					t->sb_over = 1;
				t->ps = T_SB;
			}
			break;
		}
	}
	if (t->phase == P_DONE)
		return RESP_CLOSE;
	return t->len > 0 || t->overlong || t->ps != T_DATA ? RESP_NEED_MORE : RESP_CONTINUE;
}

static int telnet_timeout(void *st, struct resp_out *out)
{
	struct telnet *t = st;
	if (t->phase == P_SHELL)
		resp_out_puts(out, "\r\ntimed out waiting for input: auto-logout\r\n");
	else
		resp_out_puts(out, "\r\nLogin timed out after 60 seconds\r\n");
	t->phase = P_DONE;
	return RESP_CLOSE;
}

static void telnet_end(void *st)
{
	struct telnet *t = st;
	if (t->ended)
		return;
	t->ended = 1;
	if (t->overlong) /* cut off by the end: what came of it is evidence all the same */
		long_line_keep(t);
	for (int i = 0; i < t->nfiles; i++)
		resp_blob_emit(&t->files[i].data, t->ctx, "telnet_echo_file", t->files[i].name);
}

static void telnet_fields(void *st, struct evbuf *ev)
{
	struct telnet *t = st;
	/* short fields first, long lists last: a cut event keeps its start (event.h) */
	resp_creds_render(&t->creds, ev);
	if (t->commands.total > 0 || t->ttype[0] || t->width || t->long_lines) {
		ev_obj(ev, "telnet");
		if (t->ttype[0])
			ev_str(ev, "terminal_type", t->ttype);
		if (t->width || t->height) {
			ev_int(ev, "window_width", t->width);
			ev_int(ev, "window_height", t->height);
		}
		/* the counts first: they tell what the lists below leave out */
		if (t->commands.total > (unsigned)t->commands.n) {
			ev_int(ev, "command_count", t->commands.total);
			ev_int(ev, "commands_not_kept", resp_strv_not_kept(&t->commands));
		}
		if (resp_strv_not_kept(&t->urls))
			ev_int(ev, "urls_not_kept", resp_strv_not_kept(&t->urls));
		if (t->long_lines)
			ev_int(ev, "long_lines", t->long_lines);
		unsigned cut =
		    (unsigned)(t->ttype[0] && t->ttype_cut) + t->commands.cut + t->urls.cut;
		for (int i = 0; i < t->nfiles; i++)
			cut += (unsigned)t->files[i].name_cut;
		resp_cut_render(ev, cut);
		if (t->nfiles > 0) {
			ev_arr(ev, "echo_files");
			for (int i = 0; i < t->nfiles; i++)
				ev_str(ev, "", t->files[i].name);
			ev_close(ev);
		}
		resp_strv_render(&t->urls, ev, "urls");
		resp_strv_render(&t->commands, ev, "commands");
		ev_close(ev);
	}
}

static void telnet_destroy(void *st)
{
	struct telnet *t = st;
	if (t == NULL)
		return;
	resp_strv_free(&t->commands);
	resp_strv_free(&t->urls);
	resp_creds_free(&t->creds);
	resp_blob_free(&t->longline);
	for (int i = 0; i < t->nfiles; i++)
		resp_blob_free(&t->files[i].data);
	resp_fixed_free(t, sizeof(*t));
}

const struct responder resp_telnet = {
    .name = "telnet",
    .proto = TRAP_PROTO_TELNET,
    .create = telnet_create,
    .start = telnet_start,
    .input = telnet_input,
    .timeout = telnet_timeout,
    .end = telnet_end,
    .fields = telnet_fields,
    .destroy = telnet_destroy,
};

/*
 * FTP responder: a vsftpd with an empty-looking tree. Records USER/PASS,
 * every command, PORT/EPRT targets and uploaded files (STOR/APPE/STOU over a
 * passive data channel the worker opens through ops->listen_data). Active
 * mode is recorded but never used: the worker opens no outbound connection,
 * so the transfer that would need it fails with 425, as against a firewalled
 * client.
 *
 * An upload the client leaves open (PASV, EPSV, PORT or EPRT while its data
 * connection still runs) stays open until that connection ends: what it
 * sends is the same file, stored whole. TLS runs on the control connection
 * only (implicit on 990, or AUTH TLS): PROT P is refused with 536 as RFC 4217
 * has it, PROT C granted, and a data connection that opens with a TLS
 * ClientHello all the same is not taken for the file (ftp.data_tls counts
 * them; its bytes are an ftp_data_tls payload).
 *
 * The only client text a reply shows is a path, in a 257 reply (PWD, MKD):
 * quoted as RFC 959 has it, a quote in it doubled, and on one line, each
 * control byte as '?' (resp_echo), so that a CR or NUL in a CWD or MKD
 * argument neither ends the reply early nor makes a line of its own. The
 * commands are recorded as sent.
 */
#include "resp_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FTP_LINE_MAX 4096
#define FTP_KEEP_COMMANDS 64
#define FTP_KEEP_FILES 16
#define FTP_CHAN_HEAD 11 /* bytes of a data connection looked at for a TLS ClientHello */
#define FTP_TLS_KEEP (16384 + 5) /* of such a connection: one TLS record */
#define FTP_LOGIN_FAILS 3        /* vsftpd's max_login_fails */
#define FTP_ERRORS_MAX 50
#define FTP_PATH_ECHO 512 /* bytes of a path a 257 reply shows */

enum data_mode { DM_NONE, DM_PASSIVE, DM_ACTIVE };
enum transfer { TR_NONE, TR_LIST, TR_NLST, TR_RETR, TR_STOR };

struct ftp {
	const struct resp_config *cfg;
	const struct resp_ctx *ctx;
	struct resp_line line;
	int done;
	int logged_in, tls, rnfr;
	int user_given;
	int fails, errors;
	enum data_mode mode;
	enum transfer pending;
	int parked; /* the data channel closed before its STOR arrived */
	/* the client moved on (PASV/PORT) while its upload's data connection was
	 * still open: what that connection still sends is the same upload */
	int draining;
	/* the current data connection: its first bytes, and the blob before them */
	uint64_t chan_bytes;
	uint8_t chan_head[FTP_CHAN_HEAD];
	size_t chan_len0;
	uint64_t chan_seen0;
	int chan_tls;      /* it opened with a TLS ClientHello: its bytes are dropped */
	unsigned data_tls; /* data connections that did */
	uint16_t data_port;
	char active[64];
	int active_cut; /* the EPRT address was longer than active keeps */
	char cwd[256];
	char file[256]; /* name of the pending upload */
	struct resp_blob data;
	struct resp_blob
	    tls_data;           /* what a data connection that opened with a ClientHello sent */
	struct resp_record rec; /* what the event's fields may take */
	struct resp_strv commands, stor, retr;
	struct resp_creds creds;
	int ended;
};

static void *ftp_create(const struct resp_config *cfg, const struct resp_ctx *ctx)
{
	struct ftp *f = resp_fixed_alloc(sizeof(*f));
	if (f == NULL)
		return NULL;
	if (resp_line_init(&f->line, FTP_LINE_MAX) < 0) {
		resp_fixed_free(f, sizeof(*f));
		return NULL;
	}
	f->cfg = cfg;
	f->ctx = ctx;
	f->tls = ctx ? ctx->tls : 0;
	strcpy(f->cwd, "/");
	resp_blob_init(&f->data, resp_max_payload(cfg));
	resp_blob_init(&f->tls_data, FTP_TLS_KEEP);
	resp_record_init(&f->rec, 0);
	resp_strv_init(&f->commands, FTP_KEEP_COMMANDS);
	resp_strv_budget(&f->commands, &f->rec, RESP_REC_BULK);
	resp_strv_init(&f->stor, FTP_KEEP_FILES);
	resp_strv_budget(&f->stor, &f->rec, RESP_REC_PRIORITY);
	resp_strv_init(&f->retr, FTP_KEEP_FILES);
	resp_strv_budget(&f->retr, &f->rec, RESP_REC_PRIORITY);
	resp_creds_budget(&f->creds, &f->rec);
	return f;
}

static const char *stand_in_name(const struct ftp *f)
{
	return f->cfg && f->cfg->ftp.file_name ? f->cfg->ftp.file_name : "backup.tar.gz";
}

static int ftp_start(void *st, struct resp_out *out)
{
	struct ftp *f = st;
	if (f->cfg && f->cfg->banner)
		resp_out_printf(out, "220 %s\r\n", f->cfg->banner);
	else
		resp_out_puts(out, "220 (vsFTPd 3.0.3)\r\n");
	return RESP_CONTINUE;
}

static int error_reply(struct ftp *f, struct resp_out *out, const char *reply)
{
	resp_out_puts(out, reply);
	if (++f->errors >= FTP_ERRORS_MAX) {
		resp_out_puts(out, "421 Too many errors.\r\n");
		f->done = 1;
		return RESP_CLOSE;
	}
	return RESP_CONTINUE;
}

/* The last path component of an argument, bounded, as the upload's name. */
static void set_name(char *dst, size_t cap, const char *a, size_t al)
{
	if (al >= cap)
		al = cap - 1;
	memcpy(dst, a, al);
	dst[al] = '\0';
}

static void listing(struct ftp *f, int names_only, struct resp_out *out)
{
	char buf[1024];
	size_t size = f->cfg && f->cfg->ftp.file ? f->cfg->ftp.file_len : 4181238;
	int n;
	if (names_only)
		n = snprintf(buf, sizeof(buf), "%s\r\npub\r\n", stand_in_name(f));
	else
		n = snprintf(
		    buf, sizeof(buf),
		    "-rw-r--r--    1 0        0        %12zu Jan 14 09:21 %s\r\n"
		    "drwxr-xr-x    2 0        0                4096 Mar 02  2023 pub\r\n",
		    size, stand_in_name(f));
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	if (f->ctx && f->ctx->ops && f->ctx->ops->send_data)
		f->ctx->ops->send_data(f->ctx->arg, (const uint8_t *)buf, (size_t)n);
}

/* Is the transfer possible? Writes the refusal when not. */
static int data_ready(struct ftp *f, struct resp_out *out)
{
	if (f->mode == DM_PASSIVE)
		return 1;
	if (f->mode == DM_ACTIVE) {
		f->mode = DM_NONE;
		resp_out_puts(out, "425 Failed to establish connection.\r\n");
	} else {
		resp_out_puts(out, "425 Use PORT or PASV first.\r\n");
	}
	return 0;
}

static void emit_upload(struct ftp *f)
{
	resp_blob_emit(&f->data, f->ctx, "ftp_upload", f->file[0] ? f->file : NULL);
	f->parked = 0;
	f->draining = 0;
}

/* The next bytes on the data channel are a new connection's. */
static void chan_reset(struct ftp *f)
{
	f->chan_bytes = 0;
	f->chan_tls = 0;
	resp_blob_emit(&f->tls_data, f->ctx, "ftp_data_tls", NULL);
}

/* A new transfer starts: an upload left open ends here, with what it sent. */
static void finish_draining(struct ftp *f)
{
	if (f->draining) {
		emit_upload(f);
		chan_reset(f);
	}
}

/*
 * PASV/EPSV/PORT/EPRT: an upload whose data connection has carried bytes and
 * is still open stays open (what follows on it is the same file, stored when
 * it ends); bytes that parked, or that came before any STOR, are stored now.
 */
static void new_data_mode(struct ftp *f)
{
	if (f->draining) {
		/* already left open by an earlier one: still the same file */
		f->pending = TR_NONE;
		return;
	}
	if (f->pending == TR_STOR && f->data.seen > 0)
		f->draining = 1;
	else if (f->data.seen > 0)
		emit_upload(f);
	f->pending = TR_NONE;
	if (!f->draining) {
		resp_blob_reset(&f->data);
		chan_reset(f);
	}
}

/*
 * A TLS handshake record holding a ClientHello, as far as its first 11 bytes
 * tell: 16 03 0x, a record length a hello fits in, 01, a handshake length of
 * a hello (at least its fixed 38 bytes), and the client's version 03 0x. A
 * file that merely starts with 16 03 is not one.
 */
static int tls_client_hello(const uint8_t h[FTP_CHAN_HEAD])
{
	unsigned rec = (unsigned)h[3] << 8 | h[4];
	unsigned hs = (unsigned)h[6] << 16 | (unsigned)h[7] << 8 | h[8];
	return h[0] == 0x16 && h[1] == 0x03 && h[2] <= 0x04 && rec >= 42 && rec <= 16384 &&
	       h[5] == 0x01 && hs >= 38 && hs <= 0xffff && h[9] == 0x03 && h[10] <= 0x04;
}

static int cmd_pasv(struct ftp *f, int extended, struct resp_out *out)
{
	uint16_t port = 0;
	if (f->ctx == NULL || f->ctx->ops == NULL || f->ctx->ops->listen_data == NULL ||
	    f->ctx->ops->listen_data(f->ctx->arg, &port) < 0 || port == 0) {
		resp_out_puts(out, "425 Could not listen for passive connection.\r\n");
		return RESP_CONTINUE;
	}
	new_data_mode(f);
	f->mode = DM_PASSIVE;
	f->data_port = port;
	if (extended) {
		resp_out_printf(out, "229 Entering Extended Passive Mode (|||%u|)\r\n", port);
	} else {
		unsigned a = 0, b = 0, c = 0, d = 0;
		char tail;
		if (sscanf(f->ctx->local_ip, "%3u.%3u.%3u.%3u%c", &a, &b, &c, &d, &tail) != 4 ||
		    a > 255 || b > 255 || c > 255 || d > 255)
			a = b = c = d = 0;
		resp_out_printf(out, "227 Entering Passive Mode (%u,%u,%u,%u,%u,%u).\r\n", a, b,
		                c, d, port >> 8, port & 0xff);
	}
	return RESP_CONTINUE;
}

static int cmd_port(struct ftp *f, const char *a, size_t al, int extended, struct resp_out *out)
{
	char arg[128];
	set_name(arg, sizeof(arg), a, al);
	if (!extended) {
		unsigned h[6];
		char tail;
		if (sscanf(arg, "%3u,%3u,%3u,%3u,%3u,%3u%c", &h[0], &h[1], &h[2], &h[3], &h[4],
		           &h[5], &tail) != 6 ||
		    h[0] > 255 || h[1] > 255 || h[2] > 255 || h[3] > 255 || h[4] > 255 ||
		    h[5] > 255)
			return error_reply(f, out, "500 Illegal PORT command.\r\n");
		snprintf(f->active, sizeof(f->active), "%u.%u.%u.%u:%u", h[0], h[1], h[2], h[3],
		         h[4] << 8 | h[5]);
		f->active_cut = 0;
	} else {
		/* |af|address|port| with any delimiter */
		char d = arg[0];
		char *p1 = d ? strchr(arg + 1, d) : NULL;
		char *p2 = p1 ? strchr(p1 + 1, d) : NULL;
		char *p3 = p2 ? strchr(p2 + 1, d) : NULL;
		if (p3 == NULL || p2 - p1 < 2 || p3 - p2 < 2)
			return error_reply(f, out, "500 Bad EPRT command.\r\n");
		int v6 = p1 - arg == 2 && arg[1] == '2';
		int w = snprintf(f->active, sizeof(f->active), "%s%.*s%s:%.*s", v6 ? "[" : "",
		                 (int)(p2 - p1 - 1), p1 + 1, v6 ? "]" : "", (int)(p3 - p2 - 1),
		                 p2 + 1);
		f->active_cut = w < 0 || (size_t)w >= sizeof(f->active);
	}
	new_data_mode(f);
	f->mode = DM_ACTIVE;
	resp_out_puts(out, extended ? "200 EPRT command successful. Consider using EPSV.\r\n"
	                            : "200 PORT command successful. Consider using PASV.\r\n");
	return RESP_CONTINUE;
}

static int cmd_stor(struct ftp *f, const char *a, size_t al, struct resp_out *out)
{
	finish_draining(f);
	if (al == 0)
		set_name(f->file, sizeof(f->file), "ftp-upload", 10);
	else
		set_name(f->file, sizeof(f->file), a, al);
	resp_strv_add_cut(&f->stor, f->file, strlen(f->file), al >= sizeof(f->file));
	if (f->parked) {
		/* the data came and went before the command: finish at once */
		emit_upload(f);
		f->mode = DM_NONE;
		resp_out_puts(out, "150 Ok to send data.\r\n226 Transfer complete.\r\n");
		return RESP_CONTINUE;
	}
	if (!data_ready(f, out))
		return RESP_CONTINUE;
	f->pending = TR_STOR;
	resp_out_puts(out, "150 Ok to send data.\r\n");
	return RESP_CONTINUE;
}

static int cmd_retr(struct ftp *f, const char *a, size_t al, struct resp_out *out)
{
	finish_draining(f);
	resp_strv_add(&f->retr, a, al);
	const char *base = a;
	size_t bl = al;
	const char *slash = memrchr(a, '/', al);
	if (slash) {
		base = slash + 1;
		bl = al - (size_t)(base - a);
	}
	if (f->cfg == NULL || f->cfg->ftp.file == NULL ||
	    !resp_word_eq(base, bl, stand_in_name(f)))
		return error_reply(f, out, "550 Failed to open file.\r\n");
	if (!data_ready(f, out))
		return RESP_CONTINUE;
	f->pending = TR_RETR;
	if (f->ctx->ops && f->ctx->ops->send_data)
		f->ctx->ops->send_data(f->ctx->arg, f->cfg->ftp.file, f->cfg->ftp.file_len);
	resp_out_printf(out, "150 Opening BINARY mode data connection for %s (%zu bytes).\r\n",
	                stand_in_name(f), f->cfg->ftp.file_len);
	return RESP_CONTINUE;
}

/*
 * RFC 4217 data protection. The data connections run no TLS: PROT P (and S,
 * E) is refused with 536, as a server that cannot protect them answers,
 * PROT C is granted. PBSZ 0 is harmless and answered.
 */
static void cmd_prot(const char *a, size_t al, struct resp_out *out)
{
	if (resp_word_eq(a, al, "C"))
		resp_out_puts(out, "200 PROT now Clear.\r\n");
	else if (resp_word_eq(a, al, "P") || resp_word_eq(a, al, "S") ||
	         resp_word_eq(a, al, "E"))
		resp_out_puts(out, "536 PROT not supported.\r\n");
	else
		resp_out_puts(out, "504 PROT not recognized.\r\n");
}

/*
 * A path as a 257 reply shows it between its quotes (RFC 959): a quote in it
 * doubled, control bytes as '?', at most FTP_PATH_ECHO bytes of it (a longer
 * one ends "..."). Written to dst, NUL-terminated; returns dst.
 */
#define FTP_QUOTED_CAP (2 * (FTP_PATH_ECHO + 3) + 1)
static const char *quoted_path(char dst[FTP_QUOTED_CAP], const char *p, size_t n)
{
	char e[FTP_PATH_ECHO + 4];
	size_t o = 0;
	resp_echo(e, sizeof(e), p, n, FTP_PATH_ECHO);
	for (const char *q = e; *q; q++) {
		if (*q == '"')
			dst[o++] = '"';
		dst[o++] = *q;
	}
	dst[o] = '\0';
	return dst;
}

static void path_join(struct ftp *f, const char *a, size_t al, char *out, size_t cap)
{
	if (al > 0 && a[0] == '/')
		snprintf(out, cap, "%.*s", (int)al, a);
	else
		snprintf(out, cap, "%s%s%.*s", f->cwd, strcmp(f->cwd, "/") ? "/" : "", (int)al,
		         a);
}

static int command(struct ftp *f, struct resp_out *out)
{
	const char *l = f->line.buf, *a;
	size_t n = f->line.len, al;

	if (f->line.overlong) {
		resp_strv_add(&f->commands, l, n);
		return error_reply(f, out, "500 Input line too long.\r\n");
	}
	if (n == 0)
		return RESP_CONTINUE;
	resp_strv_add(&f->commands, l, n);
	size_t vl = resp_split(l, n, &a, &al);
#define IS(w) resp_word_eq(l, vl, w)

	if (IS("QUIT")) {
		resp_out_puts(out, "221 Goodbye.\r\n");
		f->done = 1;
		return RESP_CLOSE;
	}
	if (IS("USER")) {
		resp_creds_add(&f->creds, a, al, NULL, 0, "USER/PASS");
		f->user_given = 1;
		f->logged_in = 0;
		resp_out_puts(out, "331 Please specify the password.\r\n");
		return RESP_CONTINUE;
	}
	if (IS("PASS")) {
		if (!f->user_given)
			return error_reply(f, out, "503 Login with USER first.\r\n");
		f->user_given = 0;
		resp_creds_set_pass(&f->creds, a, al);
		if (f->cfg && f->cfg->login_reject) {
			resp_out_puts(out, "530 Login incorrect.\r\n");
			if (++f->fails >= FTP_LOGIN_FAILS) {
				f->done = 1;
				return RESP_CLOSE;
			}
			return RESP_CONTINUE;
		}
		f->logged_in = 1;
		resp_out_puts(out, "230 Login successful.\r\n");
		return RESP_CONTINUE;
	}
	if (IS("AUTH")) {
		if (f->cfg && f->cfg->starttls && !f->tls &&
		    (resp_word_eq(a, al, "TLS") || resp_word_eq(a, al, "SSL") ||
		     resp_word_eq(a, al, "TLS-C"))) {
			resp_out_puts(out, "234 Proceed with negotiation.\r\n");
			f->tls = 1;
			f->logged_in = 0;
			f->user_given = 0;
			return RESP_STARTTLS;
		}
		return error_reply(f, out, "530 Please login with USER and PASS.\r\n");
	}
	if (IS("FEAT")) {
		resp_out_puts(out, "211-Features:\r\n");
		if (f->cfg && f->cfg->starttls && !f->tls)
			resp_out_puts(out, " AUTH TLS\r\n");
		/* no PBSZ/PROT: the data connections are never protected */
		resp_out_puts(out, " EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n");
		resp_out_puts(out, " REST STREAM\r\n SIZE\r\n TVFS\r\n UTF8\r\n211 End\r\n");
		return RESP_CONTINUE;
	}
	if (IS("SYST")) {
		resp_out_puts(out, "215 UNIX Type: L8\r\n");
		return RESP_CONTINUE;
	}
	if (IS("OPTS")) {
		if (resp_word_eq(a, al, "UTF8 ON"))
			resp_out_puts(out, "200 Always in UTF8 mode.\r\n");
		else
			resp_out_puts(out, "501 Option not understood.\r\n");
		return RESP_CONTINUE;
	}
	if (IS("HELP")) {
		resp_out_puts(
		    out,
		    "214-The following commands are recognized.\r\n"
		    " ABOR ACCT ALLO APPE CDUP CWD  DELE EPRT EPSV FEAT HELP LIST MDTM MKD\r\n"
		    " MODE NLST NOOP OPTS PASS PASV PORT PWD  QUIT REIN REST RETR RMD  RNFR\r\n"
		    " RNTO SITE SIZE SMNT STAT STOR STOU STRU SYST TYPE USER XCUP XCWD XMKD\r\n"
		    " XPWD XRMD\r\n214 Help OK.\r\n");
		return RESP_CONTINUE;
	}
	if (IS("NOOP")) {
		resp_out_puts(out, "200 NOOP ok.\r\n");
		return RESP_CONTINUE;
	}
	if (!f->logged_in) {
		if (f->tls && IS("PBSZ")) {
			resp_out_puts(out, "200 PBSZ set to 0.\r\n");
			return RESP_CONTINUE;
		}
		if (f->tls && IS("PROT")) {
			cmd_prot(a, al, out);
			return RESP_CONTINUE;
		}
		return error_reply(f, out, "530 Please login with USER and PASS.\r\n");
	}

	char path[512], q[FTP_QUOTED_CAP];
	if (IS("PWD") || IS("XPWD")) {
		resp_out_printf(out, "257 \"%s\" is the current directory\r\n",
		                quoted_path(q, f->cwd, strlen(f->cwd)));
	} else if (IS("CDUP") || IS("XCUP") ||
	           ((IS("CWD") || IS("XCWD")) && resp_word_eq(a, al, ".."))) {
		char *s = strrchr(f->cwd, '/');
		if (s && s != f->cwd)
			*s = '\0';
		else
			strcpy(f->cwd, "/");
		resp_out_puts(out, "250 Directory successfully changed.\r\n");
	} else if (IS("CWD") || IS("XCWD")) {
		path_join(f, a, al, path, sizeof(path));
		size_t pl = strlen(path);
		if (pl >= sizeof(f->cwd))
			pl = sizeof(f->cwd) - 1;
		memcpy(f->cwd, path, pl);
		f->cwd[pl] = '\0';
		resp_out_puts(out, "250 Directory successfully changed.\r\n");
	} else if (IS("TYPE")) {
		if (al > 0 && (a[0] == 'I' || a[0] == 'i' || a[0] == 'L' || a[0] == 'l'))
			resp_out_puts(out, "200 Switching to Binary mode.\r\n");
		else if (al > 0 && (a[0] == 'A' || a[0] == 'a'))
			resp_out_puts(out, "200 Switching to ASCII mode.\r\n");
		else
			return error_reply(f, out, "500 Unrecognised TYPE command.\r\n");
	} else if (IS("MODE")) {
		resp_out_puts(out, "200 Mode set to S.\r\n");
	} else if (IS("STRU")) {
		resp_out_puts(out, "200 Structure set to F.\r\n");
	} else if (IS("PASV")) {
		return cmd_pasv(f, 0, out);
	} else if (IS("EPSV")) {
		if (resp_word_eq(a, al, "ALL")) {
			resp_out_puts(out, "200 EPSV ALL ok.\r\n");
			return RESP_CONTINUE;
		}
		return cmd_pasv(f, 1, out);
	} else if (IS("PORT")) {
		return cmd_port(f, a, al, 0, out);
	} else if (IS("EPRT")) {
		return cmd_port(f, a, al, 1, out);
	} else if (IS("LIST") || IS("NLST")) {
		finish_draining(f);
		if (data_ready(f, out)) {
			f->pending = IS("LIST") ? TR_LIST : TR_NLST;
			listing(f, f->pending == TR_NLST, out);
			resp_out_puts(out, "150 Here comes the directory listing.\r\n");
		}
	} else if (IS("RETR")) {
		return cmd_retr(f, a, al, out);
	} else if (IS("STOR") || IS("APPE") || IS("STOU")) {
		return cmd_stor(f, a, al, out);
	} else if (IS("SIZE")) {
		if (f->cfg && f->cfg->ftp.file && resp_word_eq(a, al, stand_in_name(f)))
			resp_out_printf(out, "213 %zu\r\n", f->cfg->ftp.file_len);
		else
			return error_reply(f, out, "550 Could not get file size.\r\n");
	} else if (IS("MDTM")) {
		if (f->cfg && f->cfg->ftp.file && resp_word_eq(a, al, stand_in_name(f)))
			resp_out_puts(out, "213 20240114092133\r\n");
		else
			return error_reply(f, out,
			                   "550 Could not get file modification time.\r\n");
	} else if (IS("MKD") || IS("XMKD")) {
		path_join(f, a, al, path, sizeof(path));
		resp_out_printf(out, "257 \"%s\" created\r\n",
		                quoted_path(q, path, strlen(path)));
	} else if (IS("RMD") || IS("XRMD")) {
		resp_out_puts(out, "250 Remove directory operation successful.\r\n");
	} else if (IS("DELE")) {
		resp_out_puts(out, "250 Delete operation successful.\r\n");
	} else if (IS("RNFR")) {
		f->rnfr = 1;
		resp_out_puts(out, "350 Ready for RNTO.\r\n");
	} else if (IS("RNTO")) {
		if (!f->rnfr)
			return error_reply(f, out, "503 RNFR required first.\r\n");
		f->rnfr = 0;
		resp_out_puts(out, "250 Rename successful.\r\n");
	} else if (IS("REST")) {
		unsigned long long off = strtoull(a, NULL, 10);
		resp_out_printf(out, "350 Restart position accepted (%llu).\r\n", off);
	} else if (IS("SITE")) {
		const char *sa;
		size_t sal;
		size_t sl = resp_split(a, al, &sa, &sal);
		if (resp_word_eq(a, sl, "CHMOD"))
			resp_out_puts(out, "200 SITE CHMOD command ok.\r\n");
		else
			return error_reply(f, out, "500 Unknown SITE command.\r\n");
	} else if (IS("ABOR")) {
		resp_out_puts(out, "225 No transfer to ABOR.\r\n");
	} else if (IS("PBSZ") && f->tls) {
		resp_out_puts(out, "200 PBSZ set to 0.\r\n");
	} else if (IS("PROT") && f->tls) {
		cmd_prot(a, al, out);
	} else {
		return error_reply(f, out, "500 Unknown command.\r\n");
	}
#undef IS
	return RESP_CONTINUE;
}

static int ftp_input(void *st, const uint8_t *buf, size_t n, struct resp_out *out)
{
	struct ftp *f = st;
	while (n > 0 && !f->done) {
		size_t used = resp_line_feed(&f->line, buf, n);
		buf += used;
		n -= used;
		if (!f->line.done)
			break;
		int rc = command(f, out);
		resp_line_clear(&f->line);
		if (rc == RESP_CLOSE || rc == RESP_STARTTLS || rc < 0)
			return rc;
	}
	if (f->done)
		return RESP_CLOSE;
	return f->line.len > 0 || f->line.overlong ? RESP_NEED_MORE : RESP_CONTINUE;
}

static int ftp_timeout(void *st, struct resp_out *out)
{
	struct ftp *f = st;
	resp_out_puts(out, "421 Timeout.\r\n");
	f->done = 1;
	return RESP_CLOSE;
}

static int ftp_data_input(void *st, const uint8_t *buf, size_t n, struct resp_out *out)
{
	struct ftp *f = st;
	if (f->chan_tls && n > 0)
		resp_blob_add(&f->tls_data, buf, n);
	if ((f->mode != DM_PASSIVE && !f->draining) || f->chan_tls || n == 0)
		return f->done ? RESP_CLOSE : RESP_CONTINUE;
	uint64_t before = f->chan_bytes;
	if (before == 0) {
		f->chan_len0 = f->data.len;
		f->chan_seen0 = f->data.seen;
	}
	for (size_t i = 0; i < n && before + i < sizeof(f->chan_head); i++)
		f->chan_head[before + i] = buf[i];
	f->chan_bytes += n;
	resp_blob_add(&f->data, buf, n);
	if (before < sizeof(f->chan_head) && f->chan_bytes >= sizeof(f->chan_head) &&
	    tls_client_hello(f->chan_head)) {
		/* a client that would protect the data anyway: that is no file, but what
		 * it sends is kept, as what it is (stored when the connection ends) */
		f->chan_tls = 1;
		f->data_tls++;
		resp_blob_add(&f->tls_data, f->data.data + f->chan_len0,
		              f->data.len - f->chan_len0);
		f->tls_data.seen = f->data.seen - f->chan_seen0;
		f->data.len = f->chan_len0;
		f->data.seen = f->chan_seen0;
	}
	return f->done ? RESP_CLOSE : RESP_CONTINUE;
}

static int ftp_data_closed(void *st, int status, struct resp_out *out)
{
	struct ftp *f = st;
	enum transfer t = f->pending;
	int tls = f->chan_tls;
	chan_reset(f);
	if (f->done)
		return RESP_CLOSE;
	if (f->draining) {
		/* the upload the client left open is over: stored whole, no reply
		 * (the client's later commands have had theirs) */
		emit_upload(f);
		return RESP_CONTINUE;
	}
	if (f->mode != DM_PASSIVE)
		return RESP_CONTINUE;
	f->pending = TR_NONE;
	switch (t) {
	case TR_NONE:
		/* bytes before any command: keep them for the STOR that follows */
		if (f->data.seen > 0) {
			f->parked = 1;
			return RESP_CONTINUE;
		}
		break;
	case TR_STOR:
		if (tls) {
			/* the handshake went unanswered: no file came */
			resp_out_puts(out, "426 Failure reading network stream.\r\n");
			break;
		}
		if (f->data.seen > 0 || status == 0)
			emit_upload(f);
		resp_out_puts(out, status == 0 ? "226 Transfer complete.\r\n"
		                               : "425 Failed to establish connection.\r\n");
		break;
	case TR_LIST:
	case TR_NLST:
		resp_out_puts(out, status == 0 ? "226 Directory send OK.\r\n"
		                               : "425 Failed to establish connection.\r\n");
		break;
	case TR_RETR:
		resp_out_puts(out, status == 0 ? "226 Transfer complete.\r\n"
		                               : "425 Failed to establish connection.\r\n");
		break;
	}
	f->mode = DM_NONE;
	return RESP_CONTINUE;
}

static void ftp_end(void *st)
{
	struct ftp *f = st;
	if (f->ended)
		return;
	f->ended = 1;
	if (f->data.seen > 0)
		emit_upload(f);
	resp_blob_emit(&f->tls_data, f->ctx, "ftp_data_tls", NULL);
}

static void ftp_fields(void *st, struct evbuf *ev)
{
	struct ftp *f = st;
	if (f->commands.total > 0 || f->data_port) {
		ev_obj(ev, "ftp");
		resp_strv_render(&f->commands, ev, "command");
		if (f->commands.total > (unsigned)f->commands.n) {
			ev_int(ev, "command_count", f->commands.total);
			ev_int(ev, "commands_not_kept", resp_strv_not_kept(&f->commands));
		}
		resp_strv_render(&f->stor, ev, "stor");
		if (resp_strv_not_kept(&f->stor))
			ev_int(ev, "stor_not_kept", resp_strv_not_kept(&f->stor));
		resp_strv_render(&f->retr, ev, "retr");
		if (resp_strv_not_kept(&f->retr))
			ev_int(ev, "retr_not_kept", resp_strv_not_kept(&f->retr));
		if (f->data_port) {
			ev_int(ev, "dynamic_port", f->data_port);
			ev_str(ev, "mode", "passive");
		}
		if (f->active[0])
			ev_str(ev, "active_address", f->active);
		if (f->data_tls)
			ev_int(ev, "data_tls", f->data_tls);
		resp_cut_render(ev, f->commands.cut + f->stor.cut + f->retr.cut +
		                        (unsigned)(f->active[0] && f->active_cut));
		ev_close(ev);
	}
	resp_creds_render(&f->creds, ev);
}

static void ftp_destroy(void *st)
{
	struct ftp *f = st;
	if (f == NULL)
		return;
	resp_line_free(&f->line);
	resp_blob_free(&f->data);
	resp_blob_free(&f->tls_data);
	resp_strv_free(&f->commands);
	resp_strv_free(&f->stor);
	resp_strv_free(&f->retr);
	resp_creds_free(&f->creds);
	resp_fixed_free(f, sizeof(*f));
}

const struct responder resp_ftp = {
    .name = "ftp",
    .proto = TRAP_PROTO_FTP,
    .create = ftp_create,
    .start = ftp_start,
    .input = ftp_input,
    .timeout = ftp_timeout,
    .data_input = ftp_data_input,
    .data_closed = ftp_data_closed,
    .end = ftp_end,
    .fields = ftp_fields,
    .destroy = ftp_destroy,
};

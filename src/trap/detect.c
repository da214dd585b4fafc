#include "detect.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

static const char *const proto_names[TRAP_PROTO_COUNT] = {
    [TRAP_PROTO_UNKNOWN] = "unknown", [TRAP_PROTO_HTTP] = "http",
    [TRAP_PROTO_HTTP2] = "http2",     [TRAP_PROTO_TLS] = "tls",
    [TRAP_PROTO_SSH] = "ssh",         [TRAP_PROTO_SMTP] = "smtp",
    [TRAP_PROTO_FTP] = "ftp",         [TRAP_PROTO_POP3] = "pop3",
    [TRAP_PROTO_IMAP] = "imap",       [TRAP_PROTO_IRC] = "irc",
    [TRAP_PROTO_TELNET] = "telnet",   [TRAP_PROTO_DNS] = "dns",
    [TRAP_PROTO_RDP] = "rdp",         [TRAP_PROTO_SMB] = "smb",
    [TRAP_PROTO_SIP] = "sip",         [TRAP_PROTO_RTSP] = "rtsp",
    [TRAP_PROTO_REDIS] = "redis",     [TRAP_PROTO_MQTT] = "mqtt",
    [TRAP_PROTO_SOCKS] = "socks",
};

const char *trap_proto_name(enum trap_proto p)
{
	if ((unsigned)p >= TRAP_PROTO_COUNT)
		return "unknown";
	return proto_names[p];
}

int trap_proto_parse(const char *name, enum trap_proto *out)
{
	if (name == NULL)
		return -EINVAL;
	if (strcasecmp(name, "none") == 0) {
		*out = TRAP_PROTO_UNKNOWN;
		return 0;
	}
	for (int i = 0; i < TRAP_PROTO_COUNT; i++) {
		if (strcasecmp(name, proto_names[i]) == 0) {
			*out = (enum trap_proto)i;
			return 0;
		}
	}
	return -EINVAL;
}

/*
 * Banner table. IRC is client-first on the wire, but real servers greet with
 * NOTICE AUTH lines at once and many bots wait for them, so IRC ports
 * announce. Implicit-TLS ports announce only once the handshake is done.
 */
enum { WHEN_PLAIN = 1, WHEN_TLS = 2 };

static const struct {
	uint16_t port;
	uint8_t proto;
	uint8_t when;
} banner_table[] = {
    {21, TRAP_PROTO_FTP, WHEN_PLAIN},    {22, TRAP_PROTO_SSH, WHEN_PLAIN},
    {23, TRAP_PROTO_TELNET, WHEN_PLAIN}, {25, TRAP_PROTO_SMTP, WHEN_PLAIN},
    {110, TRAP_PROTO_POP3, WHEN_PLAIN},  {143, TRAP_PROTO_IMAP, WHEN_PLAIN},
    {465, TRAP_PROTO_SMTP, WHEN_TLS},    {587, TRAP_PROTO_SMTP, WHEN_PLAIN},
    {990, TRAP_PROTO_FTP, WHEN_TLS},     {993, TRAP_PROTO_IMAP, WHEN_TLS},
    {995, TRAP_PROTO_POP3, WHEN_TLS},    {2121, TRAP_PROTO_FTP, WHEN_PLAIN},
    {2222, TRAP_PROTO_SSH, WHEN_PLAIN},  {2323, TRAP_PROTO_TELNET, WHEN_PLAIN},
    {2525, TRAP_PROTO_SMTP, WHEN_PLAIN}, {6667, TRAP_PROTO_IRC, WHEN_PLAIN},
    {6668, TRAP_PROTO_IRC, WHEN_PLAIN},  {6669, TRAP_PROTO_IRC, WHEN_PLAIN},
    {6697, TRAP_PROTO_IRC, WHEN_TLS},
};

/* Ports whose protocol settles ambiguous openings, beyond the banner table. */
static const struct {
	uint16_t port;
	uint8_t proto;
} hint_table[] = {
    {53, TRAP_PROTO_DNS},   {139, TRAP_PROTO_SMB},    {445, TRAP_PROTO_SMB},
    {554, TRAP_PROTO_RTSP}, {1080, TRAP_PROTO_SOCKS}, {1883, TRAP_PROTO_MQTT},
    {3389, TRAP_PROTO_RDP}, {5060, TRAP_PROTO_SIP},   {6379, TRAP_PROTO_REDIS},
    {6660, TRAP_PROTO_IRC}, {6665, TRAP_PROTO_IRC},   {6666, TRAP_PROTO_IRC},
    {7000, TRAP_PROTO_IRC}, {8554, TRAP_PROTO_RTSP},
};

static struct {
	uint16_t port;
	uint8_t proto;
} overrides[DETECT_MAX_OVERRIDES];
static int noverrides;

int detect_banner_set(uint16_t port, enum trap_proto proto)
{
	if (port == 0 || (unsigned)proto >= TRAP_PROTO_COUNT)
		return -EINVAL;
	for (int i = 0; i < noverrides; i++) {
		if (overrides[i].port == port) {
			overrides[i].proto = (uint8_t)proto;
			return 0;
		}
	}
	if (noverrides >= DETECT_MAX_OVERRIDES)
		return -ENOSPC;
	overrides[noverrides].port = port;
	overrides[noverrides].proto = (uint8_t)proto;
	noverrides++;
	return 0;
}

void detect_banner_clear(void)
{
	noverrides = 0;
}

enum trap_proto detect_banner(uint16_t port, int tls)
{
	for (int i = 0; i < noverrides; i++)
		if (overrides[i].port == port)
			return (enum trap_proto)overrides[i].proto;
	int want = tls ? WHEN_TLS : WHEN_PLAIN;
	for (size_t i = 0; i < sizeof(banner_table) / sizeof(banner_table[0]); i++)
		if (banner_table[i].port == port && (banner_table[i].when & want))
			return (enum trap_proto)banner_table[i].proto;
	return TRAP_PROTO_UNKNOWN;
}

static enum trap_proto port_hint(uint16_t port)
{
	for (int i = 0; i < noverrides; i++)
		if (overrides[i].port == port && overrides[i].proto != TRAP_PROTO_UNKNOWN)
			return (enum trap_proto)overrides[i].proto;
	for (size_t i = 0; i < sizeof(banner_table) / sizeof(banner_table[0]); i++)
		if (banner_table[i].port == port)
			return (enum trap_proto)banner_table[i].proto;
	for (size_t i = 0; i < sizeof(hint_table) / sizeof(hint_table[0]); i++)
		if (hint_table[i].port == port)
			return (enum trap_proto)hint_table[i].proto;
	return TRAP_PROTO_UNKNOWN;
}

/* ---- candidates ---------------------------------------------------------- */

struct cand {
	enum trap_proto proto;
	int conf;
	int more;
};

static void cand_take(struct cand *best, int *more, enum trap_proto p, int conf, int need)
{
	if (need)
		*more = 1;
	if (conf > best->conf) {
		best->proto = p;
		best->conf = conf;
	}
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

/* TLS record carrying a handshake, or an SSLv2-compatible CLIENT-HELLO. */
static void check_tls(const uint8_t *b, size_t n, struct cand *best, int *more)
{
	if (b[0] == 0x16) {
		if (n < 2) {
			cand_take(best, more, TRAP_PROTO_TLS, DETECT_GUESS, 1);
			return;
		}
		if (b[1] != 0x03)
			return;
		if (n < 3) {
			cand_take(best, more, TRAP_PROTO_TLS, DETECT_GUESS, 1);
			return;
		}
		if (b[2] > 0x04)
			return;
		if (n < 6) {
			cand_take(best, more, TRAP_PROTO_TLS, DETECT_WEAK, 1);
			return;
		}
		uint16_t rl = rd16(b + 3);
		if (rl < 4 || rl > 16384 + 2048)
			return;
		cand_take(best, more, TRAP_PROTO_TLS,
		          b[5] == 0x01 ? DETECT_CERTAIN : DETECT_STRONG, 0);
		return;
	}
	if (b[0] & 0x80) {
		/* SSLv2 record header (2 bytes), msg type 1, version 0x0002 or 3.x. */
		if (n < 5) {
			if (n < 3 || b[2] == 0x01)
				cand_take(best, more, TRAP_PROTO_TLS, DETECT_GUESS / 2, 1);
			return;
		}
		size_t rl = (size_t)((b[0] & 0x7f) << 8 | b[1]);
		uint16_t ver = rd16(b + 3);
		if (b[2] != 0x01 || rl < 9)
			return;
		if (ver != 0x0002 && (ver < 0x0300 || ver > 0x0304))
			return;
		if (n >= 11) {
			/* cipher specs are 3 bytes each in SSLv2; challenge 16..32 bytes. */
			uint16_t cs = rd16(b + 5), sid = rd16(b + 7), ch = rd16(b + 9);
			if (cs == 0 || cs % 3 != 0 || sid > 32 || ch < 16 || ch > 32 ||
			    (size_t)9 + cs + sid + ch != rl)
				return;
			cand_take(best, more, TRAP_PROTO_TLS, DETECT_CERTAIN, 0);
			return;
		}
		cand_take(best, more, TRAP_PROTO_TLS, DETECT_STRONG, 1);
	}
}

static void check_telnet(const uint8_t *b, size_t n, struct cand *best, int *more)
{
	if (b[0] != 0xff)
		return;
	if (n < 2) {
		cand_take(best, more, TRAP_PROTO_TELNET, DETECT_GUESS, 1);
		return;
	}
	/* SB, WILL, WONT, DO, DONT */
	if (b[1] < 250 || b[1] > 254)
		return;
	if (n < 3) {
		cand_take(best, more, TRAP_PROTO_TELNET, DETECT_WEAK, 1);
		return;
	}
	cand_take(best, more, TRAP_PROTO_TELNET, DETECT_CERTAIN, 0);
}

/* NetBIOS session message carrying SMB1/SMB2/SMB3, or a session request. */
static void check_smb(const uint8_t *b, size_t n, struct cand *best, int *more)
{
	if (b[0] == 0x81) {
		if (n < 4) {
			cand_take(best, more, TRAP_PROTO_SMB, DETECT_GUESS / 2, 1);
			return;
		}
		/* Session request: two encoded NetBIOS names, 68 bytes in practice. */
		if (b[1] == 0 && rd16(b + 2) >= 68 && rd16(b + 2) <= 512)
			cand_take(best, more, TRAP_PROTO_SMB, DETECT_STRONG, 0);
		return;
	}
	if (b[0] != 0x00)
		return;
	if (n < 8) {
		static const char *const sig[] = {"\xffSMB", "\xfeSMB", "\xfdSMB"};
		if (n <= 4) {
			cand_take(best, more, TRAP_PROTO_SMB, DETECT_GUESS / 2, 1);
			return;
		}
		for (int i = 0; i < 3; i++)
			if (memcmp(b + 4, sig[i], n - 4) == 0)
				cand_take(best, more, TRAP_PROTO_SMB, DETECT_GUESS, 1);
		return;
	}
	if ((b[5] == 'S' && b[6] == 'M' && b[7] == 'B') &&
	    (b[4] == 0xff || b[4] == 0xfe || b[4] == 0xfd))
		cand_take(best, more, TRAP_PROTO_SMB, DETECT_CERTAIN, 0);
}

/* TPKT + X.224 Connection Request. */
static void check_rdp(const uint8_t *b, size_t n, struct cand *best, int *more)
{
	if (b[0] != 0x03)
		return;
	if (n < 6) {
		if (n >= 2 && b[1] != 0x00)
			return;
		cand_take(best, more, TRAP_PROTO_RDP, DETECT_GUESS, 1);
		return;
	}
	uint16_t tl = rd16(b + 2);
	if (b[1] != 0x00 || tl < 11 || b[4] + 5 != tl || (b[5] & 0xf0) != 0xe0)
		return;
	cand_take(best, more, TRAP_PROTO_RDP, DETECT_CERTAIN, 0);
}

/* A DNS query behind its 2-byte TCP length. */
static void check_dns(const uint8_t *b, size_t n, uint16_t port, struct cand *best, int *more)
{
	if (n < 14) {
		if (n >= 2 && (rd16(b) < 17 || rd16(b) > 4096))
			return;
		if (n >= 5 && (b[4] & 0x80))
			return; /* a response, not a query */
		cand_take(best, more, TRAP_PROTO_DNS, DETECT_GUESS / 2, 1);
		return;
	}
	uint16_t l = rd16(b);
	uint8_t opcode = (b[4] >> 3) & 0x0f;
	uint16_t qd = rd16(b + 6), an = rd16(b + 8), ns = rd16(b + 10), ar = rd16(b + 12);
	if (l < 17 || l > 4096 || (b[4] & 0x80) || (b[5] & 0x0f) != 0)
		return;
	if (opcode == 5) { /* UPDATE: zone 1, prerequisites/updates free */
		if (qd != 1 || ar > 8)
			return;
	} else {
		if ((opcode != 0 && opcode != 1 && opcode != 2 && opcode != 4) || qd != 1 ||
		    an > 1 || ns > 1 || ar > 4)
			return;
	}
	if (n > 14 && b[14] > 63)
		return; /* first label length */
	cand_take(best, more, TRAP_PROTO_DNS, port == 53 ? DETECT_CERTAIN : DETECT_STRONG, 0);
}

/* CONNECT packet: 0x10, remaining length, protocol name "MQTT" or "MQIsdp". */
static void check_mqtt(const uint8_t *b, size_t n, struct cand *best, int *more)
{
	if (b[0] != 0x10)
		return;
	size_t i = 1;
	int k = 0;
	while (i < n && k < 4 && (b[i] & 0x80)) {
		i++;
		k++;
	}
	if (k == 4)
		return;
	if (i >= n) {
		cand_take(best, more, TRAP_PROTO_MQTT, DETECT_GUESS / 2, 1);
		return;
	}
	i++; /* last length byte */
	static const uint8_t v311[] = {0, 4, 'M', 'Q', 'T', 'T'};
	static const uint8_t v31[] = {0, 6, 'M', 'Q', 'I', 's', 'd', 'p'};
	size_t have = n - i;
	if ((have < sizeof(v311) && memcmp(b + i, v311, have) == 0) ||
	    (have < sizeof(v31) && memcmp(b + i, v31, have) == 0)) {
		cand_take(best, more, TRAP_PROTO_MQTT, DETECT_GUESS, 1);
		return;
	}
	if ((have >= sizeof(v311) && memcmp(b + i, v311, sizeof(v311)) == 0) ||
	    (have >= sizeof(v31) && memcmp(b + i, v31, sizeof(v31)) == 0))
		cand_take(best, more, TRAP_PROTO_MQTT, DETECT_CERTAIN, 0);
}

static void check_socks(const uint8_t *b, size_t n, uint16_t port, struct cand *best, int *more)
{
	int hinted = port_hint(port) == TRAP_PROTO_SOCKS;
	if (b[0] == 0x05) {
		/* greeting: version, method count, methods; the client then waits */
		if (n < 2) {
			cand_take(best, more, TRAP_PROTO_SOCKS, DETECT_GUESS / 2, 1);
			return;
		}
		if (b[1] == 0 || b[1] > 16 || n > (size_t)2 + b[1])
			return;
		for (size_t i = 2; i < n; i++)
			if (b[i] > 0x09 && b[i] < 0x80)
				return;
		if (n < (size_t)2 + b[1])
			cand_take(best, more, TRAP_PROTO_SOCKS, DETECT_GUESS / 2, 1);
		else
			cand_take(best, more, TRAP_PROTO_SOCKS,
			          hinted ? DETECT_STRONG : DETECT_WEAK, 0);
		return;
	}
	if (b[0] == 0x04) {
		/* SOCKS4(a): version, command 1|2, port, address, user id, NUL */
		if (n >= 2 && b[1] != 0x01 && b[1] != 0x02)
			return;
		if (n < 9) {
			cand_take(best, more, TRAP_PROTO_SOCKS, DETECT_GUESS / 2, 1);
			return;
		}
		if (memchr(b + 8, 0, n - 8) == NULL) {
			if (n < 8 + 64)
				cand_take(best, more, TRAP_PROTO_SOCKS, DETECT_GUESS / 2, 1);
			return;
		}
		cand_take(best, more, TRAP_PROTO_SOCKS, DETECT_STRONG, 0);
	}
}

/* RESP array of bulk strings: "*<n>\r\n$<len>\r\n". */
static void check_redis(const uint8_t *b, size_t n, struct cand *best, int *more)
{
	if (b[0] != '*')
		return;
	size_t i = 1;
	while (i < n && i < 6 && b[i] >= '0' && b[i] <= '9')
		i++;
	if (i == 1 && n > 1)
		return;
	static const char tail[] = "\r\n$";
	size_t k = 0;
	while (i < n && k < 3) {
		if (b[i] != (uint8_t)tail[k])
			return;
		i++;
		k++;
	}
	if (k < 3) {
		cand_take(best, more, TRAP_PROTO_REDIS, DETECT_GUESS / 2, 1);
		return;
	}
	cand_take(best, more, TRAP_PROTO_REDIS, DETECT_STRONG, 0);
}

/* ---- text protocols ------------------------------------------------------ */

enum {
	K_HTTP = 1,  /* HTTP method (case-sensitive) */
	K_RTSP = 2,  /* RTSP method */
	K_SIP = 4,   /* SIP method */
	K_OTHER = 8, /* a keyword of another protocol (case-insensitive) */
};

static const struct {
	const char *word;
	uint8_t kind;
	uint8_t proto; /* for K_OTHER */
} keywords[] = {
    /* RFC 9110 methods and the WebDAV / DeltaV / CalDAV extensions */
    {"GET", K_HTTP, 0},
    {"HEAD", K_HTTP, 0},
    {"POST", K_HTTP, 0},
    {"PUT", K_HTTP, 0},
    {"DELETE", K_HTTP, 0},
    {"CONNECT", K_HTTP, 0},
    {"OPTIONS", K_HTTP | K_RTSP | K_SIP, 0},
    {"TRACE", K_HTTP, 0},
    {"PATCH", K_HTTP, 0},
    {"PROPFIND", K_HTTP, 0},
    {"PROPPATCH", K_HTTP, 0},
    {"MKCOL", K_HTTP, 0},
    {"COPY", K_HTTP, 0},
    {"MOVE", K_HTTP, 0},
    {"LOCK", K_HTTP, 0},
    {"UNLOCK", K_HTTP, 0},
    {"SEARCH", K_HTTP, 0},
    {"REPORT", K_HTTP, 0},
    {"MKACTIVITY", K_HTTP, 0},
    {"CHECKOUT", K_HTTP, 0},
    {"MERGE", K_HTTP, 0},
    {"MKCALENDAR", K_HTTP, 0},
    {"ACL", K_HTTP, 0},
    {"BIND", K_HTTP, 0},
    {"M-SEARCH", K_HTTP, 0},
    {"PURGE", K_HTTP, 0},
    {"DEBUG", K_HTTP, 0},
    {"NOTIFY", K_HTTP | K_SIP, 0},
    {"SUBSCRIBE", K_HTTP | K_SIP, 0},
    {"UNSUBSCRIBE", K_HTTP, 0},
    {"PRI", K_HTTP, 0},
    {"DESCRIBE", K_RTSP, 0},
    {"SETUP", K_RTSP, 0},
    {"PLAY", K_RTSP, 0},
    {"TEARDOWN", K_RTSP, 0},
    {"GET_PARAMETER", K_RTSP, 0},
    {"SET_PARAMETER", K_RTSP, 0},
    {"ANNOUNCE", K_RTSP, 0},
    {"INVITE", K_SIP, 0},
    {"REGISTER", K_SIP, 0},
    {"MESSAGE", K_SIP, 0},
    {"PUBLISH", K_SIP, 0},
    {"REFER", K_SIP, 0},
    {"SSH-", K_OTHER, TRAP_PROTO_SSH},
    {"EHLO", K_OTHER, TRAP_PROTO_SMTP},
    {"HELO", K_OTHER, TRAP_PROTO_SMTP},
    {"NICK", K_OTHER, TRAP_PROTO_IRC},
    {"CAP", K_OTHER, TRAP_PROTO_IRC},
    {"PASS", K_OTHER, TRAP_PROTO_IRC},
    {"USER", K_OTHER, TRAP_PROTO_FTP},
    {"AUTH", K_OTHER, TRAP_PROTO_FTP},
    {"FEAT", K_OTHER, TRAP_PROTO_FTP},
    {"SYST", K_OTHER, TRAP_PROTO_FTP},
    {"OPTS", K_OTHER, TRAP_PROTO_FTP},
    {"CAPA", K_OTHER, TRAP_PROTO_POP3},
    {"STLS", K_OTHER, TRAP_PROTO_POP3},
    {"APOP", K_OTHER, TRAP_PROTO_POP3},
    {"CAPABILITY", K_OTHER, TRAP_PROTO_IMAP},
};

static const char *const imap_cmds[] = {
    "CAPABILITY", "LOGIN",   "AUTHENTICATE", "STARTTLS", "NOOP", "LOGOUT", "ID",
    "SELECT",     "EXAMINE", "LIST",         "ENABLE",   "LSUB", "STATUS",
};

static int is_tchar(uint8_t c)
{
	return c > 0x20 && c < 0x7f;
}

static int prefix_ci(const uint8_t *s, size_t n, const char *word)
{
	size_t wl = strlen(word);
	return n <= wl && strncasecmp((const char *)s, word, n) == 0;
}

static int eq_ci(const uint8_t *s, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp((const char *)s, word, n) == 0;
}

static int eq_cs(const uint8_t *s, size_t n, const char *word)
{
	return strlen(word) == n && memcmp(s, word, n) == 0;
}

/* Length of the first line (to the LF), or 0 if the line is not complete. */
static size_t line_len(const uint8_t *b, size_t n)
{
	const uint8_t *lf = memchr(b, '\n', n);
	return lf ? (size_t)(lf - b) : 0;
}

static size_t count_words(const uint8_t *b, size_t n)
{
	size_t w = 0;
	int in = 0;
	for (size_t i = 0; i < n; i++) {
		if (b[i] == ' ' || b[i] == '\r') {
			in = 0;
		} else if (!in) {
			in = 1;
			w++;
			if (b[i] == ':')
				return w; /* IRC trailing parameter */
		}
	}
	return w;
}

/* The version token at the end of a request line: "HTTP/1.1", "RTSP/1.0", "SIP/2.0". */
static enum trap_proto request_version(const uint8_t *line, size_t ll)
{
	while (ll > 0 && (line[ll - 1] == '\r' || line[ll - 1] == ' '))
		ll--;
	size_t sp = ll;
	while (sp > 0 && line[sp - 1] != ' ')
		sp--;
	if (sp == 0)
		return TRAP_PROTO_UNKNOWN;
	const uint8_t *v = line + sp;
	size_t vl = ll - sp;
	if (vl == 8 && memcmp(v, "HTTP/", 5) == 0 && v[5] >= '0' && v[5] <= '9' &&
	    v[6] == '.' && v[7] >= '0' && v[7] <= '9')
		return TRAP_PROTO_HTTP;
	if (eq_cs(v, vl, "RTSP/1.0") || eq_cs(v, vl, "RTSP/2.0"))
		return TRAP_PROTO_RTSP;
	if (eq_cs(v, vl, "SIP/2.0"))
		return TRAP_PROTO_SIP;
	return TRAP_PROTO_UNKNOWN;
}

static void check_request(const uint8_t *b, size_t n, size_t wl, int kind, uint16_t port,
                          struct cand *best, int *more)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	if (eq_cs(b, wl, "PRI")) {
		size_t m = n < sizeof(preface) - 1 ? n : sizeof(preface) - 1;
		if (memcmp(b, preface, m) != 0)
			return;
		cand_take(best, more, TRAP_PROTO_HTTP2,
		          m == sizeof(preface) - 1 ? DETECT_CERTAIN : DETECT_STRONG,
		          m < sizeof(preface) - 1);
		return;
	}
	size_t ll = line_len(b, n);
	if (ll > 0) {
		enum trap_proto v = request_version(b, ll);
		if (v != TRAP_PROTO_UNKNOWN) {
			cand_take(best, more, v, DETECT_CERTAIN, 0);
			return;
		}
		/* HTTP/0.9 simple request, or a broken one: still HTTP-ish. */
		if (kind & K_HTTP)
			cand_take(best, more, TRAP_PROTO_HTTP, DETECT_STRONG, 0);
		else
			cand_take(best, more, kind & K_RTSP ? TRAP_PROTO_RTSP : TRAP_PROTO_SIP,
			          DETECT_WEAK, 0);
		return;
	}
	/* Line not complete yet: the method alone decides unless it is shared. */
	int shared =
	    (kind & K_HTTP) ? (kind & (K_RTSP | K_SIP)) : (kind & K_RTSP) && (kind & K_SIP);
	enum trap_proto p = (kind & K_HTTP)   ? TRAP_PROTO_HTTP
	                    : (kind & K_RTSP) ? TRAP_PROTO_RTSP
	                                      : TRAP_PROTO_SIP;
	enum trap_proto h = port_hint(port);
	if (shared && (h == TRAP_PROTO_RTSP || h == TRAP_PROTO_SIP) &&
	    ((h == TRAP_PROTO_RTSP && (kind & K_RTSP)) ||
	     (h == TRAP_PROTO_SIP && (kind & K_SIP))))
		p = h;
	cand_take(best, more, p, shared ? DETECT_WEAK : DETECT_STRONG, 1);
}

/* Settle an opening that several mail/file/chat protocols share. */
static void ambiguous(enum trap_proto dflt, unsigned mask, uint16_t port, int need,
                      struct cand *best, int *more)
{
	enum trap_proto h = port_hint(port);
	if (h != TRAP_PROTO_UNKNOWN && (mask & (1u << h)))
		cand_take(best, more, h, DETECT_STRONG, 0);
	else
		cand_take(best, more, dflt, DETECT_WEAK, need);
}

#define M(p) (1u << (p))

static void check_keyword(const uint8_t *b, size_t n, size_t wl, int delim, uint16_t port,
                          struct cand *best, int *more)
{
	const uint8_t *w = b;
	size_t ll = line_len(b, n);

	/* SSH needs no delimiter. */
	if (n >= 4 && memcmp(b, "SSH-", 4) == 0) {
		int certain = (n >= 8 && memcmp(b, "SSH-2.0-", 8) == 0) ||
		              (n >= 8 && memcmp(b, "SSH-1.", 6) == 0);
		cand_take(best, more, TRAP_PROTO_SSH, certain ? DETECT_CERTAIN : DETECT_STRONG,
		          n < 8);
		return;
	}
	if (!delim) {
		/* A word still arriving: could it become a keyword? */
		for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
			int ok = (keywords[i].kind & K_OTHER)
			             ? prefix_ci(w, wl, keywords[i].word)
			             : (wl <= strlen(keywords[i].word) &&
			                memcmp(w, keywords[i].word, wl) == 0);
			if (ok) {
				enum trap_proto p =
				    (keywords[i].kind & K_OTHER)
				        ? (enum trap_proto)keywords[i].proto
				    : (keywords[i].kind & K_HTTP) ? TRAP_PROTO_HTTP
				    : (keywords[i].kind & K_RTSP) ? TRAP_PROTO_RTSP
				                                  : TRAP_PROTO_SIP;
				cand_take(best, more, p, DETECT_GUESS, 1);
			}
		}
		/* An IMAP tag, or an HTTP method we do not list. */
		if (wl <= 32)
			cand_take(best, more, TRAP_PROTO_UNKNOWN, 0, 1);
		return;
	}
	for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
		int kind = keywords[i].kind;
		if (kind & K_OTHER) {
			if (!eq_ci(w, wl, keywords[i].word))
				continue;
		} else if (!eq_cs(w, wl, keywords[i].word) || b[wl] != ' ') {
			continue;
		}
		if (!(kind & K_OTHER)) {
			check_request(b, n, wl, kind, port, best, more);
			return;
		}
		enum trap_proto p = (enum trap_proto)keywords[i].proto;
		const uint8_t *arg = b + wl + 1;
		size_t al = n > wl + 1 ? n - wl - 1 : 0;
		switch (p) {
		case TRAP_PROTO_IRC:
			if (eq_ci(w, wl, "PASS")) {
				ambiguous(TRAP_PROTO_IRC,
				          M(TRAP_PROTO_IRC) | M(TRAP_PROTO_FTP) |
				              M(TRAP_PROTO_POP3),
				          port, 0, best, more);
				return;
			}
			if (eq_ci(w, wl, "CAP")) {
				if (al < 2) {
					cand_take(best, more, p, DETECT_WEAK, 1);
				} else if (prefix_ci(arg, 2, "LS") ||
				           prefix_ci(arg, 3, "REQ") ||
				           prefix_ci(arg, 3, "END")) {
					cand_take(best, more, p, DETECT_STRONG, 0);
				}
				return;
			}
			cand_take(best, more, p, DETECT_STRONG, 0);
			return;
		case TRAP_PROTO_FTP:
			if (eq_ci(w, wl, "USER")) {
				if (ll == 0) {
					ambiguous(TRAP_PROTO_FTP,
					          M(TRAP_PROTO_IRC) | M(TRAP_PROTO_FTP) |
					              M(TRAP_PROTO_POP3),
					          port, 1, best, more);
					return;
				}
				/* IRC: USER <user> <mode> <unused> :<realname> */
				if (count_words(b, ll) >= 5) {
					cand_take(best, more, TRAP_PROTO_IRC, DETECT_STRONG, 0);
					return;
				}
				ambiguous(TRAP_PROTO_FTP,
				          M(TRAP_PROTO_FTP) | M(TRAP_PROTO_POP3), port, 0, best,
				          more);
				return;
			}
			if (eq_ci(w, wl, "AUTH")) {
				if (al < 3) {
					ambiguous(TRAP_PROTO_FTP,
					          M(TRAP_PROTO_FTP) | M(TRAP_PROTO_POP3) |
					              M(TRAP_PROTO_SMTP) | M(TRAP_PROTO_IMAP),
					          port, 1, best, more);
					return;
				}
				if (prefix_ci(arg, 3, "TLS") || prefix_ci(arg, 3, "SSL"))
					cand_take(best, more, TRAP_PROTO_FTP, DETECT_STRONG, 0);
				else
					ambiguous(TRAP_PROTO_POP3,
					          M(TRAP_PROTO_POP3) | M(TRAP_PROTO_SMTP) |
					              M(TRAP_PROTO_FTP),
					          port, 0, best, more);
				return;
			}
			cand_take(best, more, p, DETECT_STRONG, 0);
			return;
		case TRAP_PROTO_IMAP:
			ambiguous(TRAP_PROTO_IMAP, M(TRAP_PROTO_IMAP), port, 0, best, more);
			return;
		default:
			cand_take(best, more, p, DETECT_STRONG, 0);
			return;
		}
	}
	/* "<tag> <IMAP command>" */
	if (b[wl] == ' ' && wl <= 32) {
		const uint8_t *c = b + wl + 1;
		size_t cn = n - wl - 1, cl = 0;
		while (cl < cn && is_tchar(c[cl]))
			cl++;
		int cdelim = cl < cn;
		for (size_t i = 0; i < sizeof(imap_cmds) / sizeof(imap_cmds[0]); i++) {
			if (cdelim ? eq_ci(c, cl, imap_cmds[i])
			           : prefix_ci(c, cl, imap_cmds[i])) {
				cand_take(best, more, TRAP_PROTO_IMAP,
				          cdelim ? DETECT_STRONG : DETECT_GUESS, !cdelim);
				break;
			}
		}
	}
	/* An unlisted method: "FOO /path HTTP/1.1". */
	if (ll > 0) {
		enum trap_proto v = request_version(b, ll);
		if (v == TRAP_PROTO_HTTP && count_words(b, ll) == 3)
			cand_take(best, more, TRAP_PROTO_HTTP, DETECT_STRONG, 0);
	} else if (n < DETECT_MAX_BYTES && b[wl] == ' ') {
		cand_take(best, more, TRAP_PROTO_UNKNOWN, 0, 1);
	}
}

static void check_text(const uint8_t *b, size_t n, uint16_t port, struct cand *best, int *more)
{
	size_t wl = 0;
	while (wl < n && is_tchar(b[wl]))
		wl++;
	if (wl == 0)
		return;
	int delim = wl < n;
	if (delim && b[wl] != ' ' && b[wl] != '\r' && b[wl] != '\n' && b[wl] != '\t')
		return;
	check_keyword(b, n, wl, delim, port, best, more);
}

int detect_proto(const uint8_t *buf, size_t len, uint16_t port, struct detect_result *out)
{
	struct cand best = {TRAP_PROTO_UNKNOWN, 0, 0};
	int more = 0;

	memset(out, 0, sizeof(*out));
	if (buf == NULL && len > 0)
		return -EINVAL;
	if (len == 0) {
		out->need_more = 1;
		return 0;
	}
	size_t n = len < DETECT_MAX_BYTES ? len : DETECT_MAX_BYTES;

	check_tls(buf, n, &best, &more);
	check_telnet(buf, n, &best, &more);
	check_smb(buf, n, &best, &more);
	check_rdp(buf, n, &best, &more);
	if (buf[0] == 0x00)
		check_dns(buf, n, port, &best, &more);
	check_mqtt(buf, n, &best, &more);
	check_socks(buf, n, port, &best, &more);
	check_redis(buf, n, &best, &more);
	check_text(buf, n, port, &best, &more);

	out->proto = best.proto;
	out->confidence = best.conf;
	/* A strong answer is good enough; past the cap, take what we have. */
	out->need_more = more && best.conf < DETECT_STRONG && len < DETECT_MAX_BYTES;
	return 0;
}

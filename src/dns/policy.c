/*
 * Policy: list parsers and the suffix lookup.
 *
 * Layout, chosen so that a million rules fit in well under 45 MB:
 *  - Every rule is a record appended to one arena: [u32 meta][text]\0, where
 *    meta packs the line number (28 bits) and the rule flags (4 bits), and
 *    text is "name" or "*.name". Records of one list are contiguous, so the
 *    list a record came from is found from its offset by a binary search over
 *    the lists' first offsets rather than stored with every rule.
 *  - policy_finish() builds an open-addressing table of (arena offset, hash
 *    tag) pairs, 8 bytes a slot, sized for the final count at 2/3 load, and
 *    drops duplicates while doing so. Nothing is hashed while loading; the
 *    table memory is reserved when each list is added so that an allocation
 *    failure is reported by policy_add_list(), not lost in policy_finish().
 *
 * The hash runs over a name from its last byte to its first, so the hash of
 * every suffix that starts on a label boundary falls out of one pass over the
 * query: a lookup is one pass plus one probe sequence per label.
 *
 * The arena and the table are anonymous mappings rather than malloc blocks:
 * they grow with mremap (no copy), start zeroed, and are eligible for
 * transparent huge pages, which removes most of the page faults of loading a
 * million rules (they were a quarter of the load time).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy.h"
#include "../common/addr.h"
#include "idn.h"

#define NAME_MAX_LEN 253
#define LABEL_MAX_LEN 63
#define MAX_SUFFIXES 128 /* a 253-character name has at most 127 labels */

/* Rule flags, in the top bits of a record's meta word. */
#define RULE_SELF 0x1u  /* covers the name itself */
#define RULE_SUB 0x2u   /* covers every subdomain of the name */
#define RULE_ALLOW 0x4u /* allow rule (else block) */
#define RULE_STAR 0x8u  /* text is stored as "*.name" */
#define META_LINE_BITS 28
#define META_LINE_MAX ((1u << META_LINE_BITS) - 1)

/* Lines of a mapped file are given back every this many bytes parsed. */
#define RELEASE_STEP (8u << 20)

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

struct rule_slot {
	uint32_t off; /* arena offset of the record; 0 = empty slot */
	uint32_t tag; /* upper half of the name's hash */
};

struct suffix {
	size_t pos; /* where the suffix starts in the query */
	uint64_t h;
};

struct list_ent {
	struct list_info info; /* info.path: malloced */
	uint32_t first;        /* arena offset of the list's first record */
};

/* An RPZ rpz-ip trigger: answers holding an address under the prefix. */
struct ip_rule {
	struct prefix net; /* host bits zero */
	int allow;         /* rpz-passthru */
	int list;          /* index in lists */
	int line;
	char text[INET6_ADDRSTRLEN + 4]; /* "192.0.2.0/24", the rule as events name it */
};

/* A run of ip rules of one family and prefix length, sorted by address. */
struct ip_seg {
	int family, bits;
	size_t start, n;
};

/* Address rules: sorted by ipset_finish(), then cut into runs. */
struct ipset {
	struct ip_rule *v;
	size_t n, cap;
	struct ip_seg *segs; /* longest prefixes first */
	int nsegs;
};

struct policy {
	char *arena; /* records; offset 0 is a pad byte so that 0 means "none" */
	size_t alen, acap;
	struct list_ent *lists;
	int nlists, lcap;
	struct rule_slot *tab; /* built by policy_finish() */
	uint32_t nslots;       /* slots in use by the table */
	size_t tcap;           /* slots allocated */
	size_t nrecords;       /* records in the arena */
	size_t nrules;         /* distinct rules in the table */
	size_t nallow;         /* allow rules in the table */
	struct ipset resp;     /* addresses in forwarded answers: rpz-ip, ip lists */
	struct ipset client;   /* addresses of clients: rpz-client-ip */
	int finished;
};

/* Per-file parse state. */
struct parse {
	struct policy *p;
	struct list_ent *l;
	policy_warn_cb *warn;
	void *arg;
	unsigned allow; /* RULE_ALLOW for an allowlist */
	int line;
	int err; /* -ENOMEM once an allocation failed */

	/* RPZ zone state: names kept lowercase, absolute, with their final dot. */
	char origin[NAME_MAX_LEN + 3];
	size_t origin_len; /* 0: no $ORIGIN seen */
	char apex[NAME_MAX_LEN + 3];
	size_t apex_len; /* 0: zone apex unknown */
	char owner[NAME_MAX_LEN + 3];
	size_t owner_len; /* last owner, inherited by lines that start blank */
	int have_owner;
	int paren;      /* inside a "( ... )" record that spans lines */
	int paren_line; /* where its "(" was */
};

/* A record in parentheses (a SOA in practice) spans a few lines: a "(" left
 * open longer is a typo, and the lines after it are read as records again. */
#define RPZ_PAREN_LINES 32

typedef void line_fn(struct parse *ps, const char *s, const char *e);

static inline unsigned char lower(unsigned char c)
{
	return (unsigned char)(c - 'A') < 26 ? c | 0x20 : c;
}

#define NM(c) [c] = c
#define NM_LETTER(c) [c] = c, [c - 'a' + 'A'] = c
/*
 * Each byte as stored in a name: lowercased; '.' for the label separator; 0
 * for a byte that may not appear. Underscores are taken because real queries
 * carry them (service names, sloppy hosts).
 */
static const unsigned char name_map[256] = {
    NM('-'),        NM('.'),        NM('_'),        NM('0'),        NM('1'),
    NM('2'),        NM('3'),        NM('4'),        NM('5'),        NM('6'),
    NM('7'),        NM('8'),        NM('9'),        NM_LETTER('a'), NM_LETTER('b'),
    NM_LETTER('c'), NM_LETTER('d'), NM_LETTER('e'), NM_LETTER('f'), NM_LETTER('g'),
    NM_LETTER('h'), NM_LETTER('i'), NM_LETTER('j'), NM_LETTER('k'), NM_LETTER('l'),
    NM_LETTER('m'), NM_LETTER('n'), NM_LETTER('o'), NM_LETTER('p'), NM_LETTER('q'),
    NM_LETTER('r'), NM_LETTER('s'), NM_LETTER('t'), NM_LETTER('u'), NM_LETTER('v'),
    NM_LETTER('w'), NM_LETTER('x'), NM_LETTER('y'), NM_LETTER('z'),
};
#undef NM
#undef NM_LETTER

static inline int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static const char *skip_ws(const char *s, const char *e)
{
	while (s < e && is_space(*s))
		s++;
	return s;
}

static const char *skip_tok(const char *s, const char *e)
{
	while (s < e && !is_space(*s))
		s++;
	return s;
}

static const char *trim_end(const char *s, const char *e)
{
	while (e > s && is_space(e[-1]))
		e--;
	return e;
}

static int tok_is(const char *s, const char *e, const char *word)
{
	size_t n = strlen(word);

	return (size_t)(e - s) == n && strncasecmp(s, word, n) == 0;
}

static int starts_with(const char *s, const char *e, const char *word)
{
	size_t n = strlen(word);

	return (size_t)(e - s) >= n && strncasecmp(s, word, n) == 0;
}

/* Finalizer of MurmurHash3: FNV-1a alone leaves the low bits poorly mixed. */
static inline uint64_t hash_mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

/* Hash of a stored (lowercase) name, last byte first; see policy_lookup(). */
static uint64_t name_hash(const char *s, size_t n)
{
	uint64_t h = FNV_OFFSET;

	while (n--) {
		h ^= (unsigned char)s[n];
		h *= FNV_PRIME;
	}
	return hash_mix(h);
}

static inline uint32_t slot_of(uint64_t h, uint32_t nslots)
{
	return (uint32_t)(((uint64_t)(uint32_t)h * nslots) >> 32);
}

static inline uint32_t meta_at(const struct policy *p, uint32_t off)
{
	uint32_t m;

	memcpy(&m, p->arena + off, sizeof(m));
	return m;
}

/* Table slots for n rules: load at most 2/3 keeps misses short. */
static size_t slots_for(size_t n)
{
	return n ? n + n / 2 + 1 : 0;
}

/*
 * s (n bytes) quoted for a message: non-printable bytes as \xNN, long text
 * cut with "...". buf needs at least 16 bytes.
 */
static const char *msg_quote(char *buf, size_t sz, const char *s, size_t n)
{
	size_t o = 0, i;

	buf[o++] = '"';
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (o + 9 >= sz) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, sz - o, "\\x%02x", c);
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

static void parse_vwarn(struct parse *ps, int line, const char *fmt, va_list ap)
{
	char msg[384];

	ps->l->info.invalid++;
	if (!ps->warn)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	ps->warn(ps->arg, ps->l->info.path, line, msg);
}

__attribute__((format(printf, 2, 3))) static void parse_warn(struct parse *ps, const char *fmt,
                                                             ...)
{
	va_list ap;

	va_start(ap, fmt);
	parse_vwarn(ps, ps->line, fmt, ap);
	va_end(ap);
}

/* A "(" left open: said at its line. */
__attribute__((format(printf, 2, 3))) static void paren_warn(struct parse *ps, const char *fmt,
                                                             ...)
{
	va_list ap;

	va_start(ap, fmt);
	parse_vwarn(ps, ps->paren_line, fmt, ap);
	va_end(ap);
	ps->paren = 0;
}

/* A zeroed block of n bytes (a multiple of the page size), or NULL. */
static void *block_alloc(size_t n)
{
	void *b = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (b == MAP_FAILED)
		return NULL;
	madvise(b, n, MADV_HUGEPAGE); /* a hint: fine to fail */
	return b;
}

/* Grow or shrink a block, moving it if need be; NULL (old kept) on failure. */
static void *block_resize(void *old, size_t oldn, size_t n)
{
	void *b = mremap(old, oldn, n, MREMAP_MAYMOVE);

	if (b == MAP_FAILED)
		return NULL;
	if (n > oldn)
		madvise(b, n, MADV_HUGEPAGE);
	return b;
}

static void block_free(void *b, size_t n)
{
	if (b)
		munmap(b, n);
}

static size_t page_round(size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	return (n + pg - 1) / pg * pg;
}

static int arena_reserve(struct policy *p, size_t need)
{
	size_t cap;
	char *a;

	if (p->alen + need <= p->acap)
		return 0;
	/* Offsets are 32 bits wide. */
	if (p->alen + need > UINT32_MAX)
		return -ENOMEM;
	cap = p->acap ? p->acap : 1u << 16;
	while (cap < p->alen + need)
		cap *= 2;
	if (cap > UINT32_MAX)
		cap = page_round(p->alen + need);
	a = p->arena ? block_resize(p->arena, p->acap, cap) : block_alloc(cap);
	if (!a)
		return -ENOMEM;
	p->arena = a;
	p->acap = cap;
	return 0;
}

/*
 * Validate a name as written in a list (n bytes) and append it as a rule
 * with flags. One trailing dot is dropped. With star_ok a leading "*." makes
 * it a rule for the subdomains only. Returns 0 when added, 1 when reported
 * and skipped, -ENOMEM.
 */
static int rule_add(struct parse *ps, const char *s, size_t n, unsigned flags, int star_ok);
static int ip_rule_push(struct parse *ps, struct ipset *set, const char *text, int allow);

/* A name written in Unicode: added in its ASCII form (idn.h), as queries
 * carry it. */
static int rule_add_unicode(struct parse *ps, const char *s, size_t n, unsigned flags,
                            int star_ok)
{
	char q[128], err[160], ascii[NAME_MAX_LEN + 8];
	size_t star = star_ok && n >= 2 && s[0] == '*' && s[1] == '.' ? 2 : 0;
	memcpy(ascii, "*.", star);
	if (idn_to_ascii(s + star, n - star, ascii + star, sizeof(ascii) - star, err,
	                 sizeof(err)) < 0) {
		parse_warn(ps, "name %s: %s", msg_quote(q, sizeof(q), s, n), err);
		return 1;
	}
	return rule_add(ps, ascii, strlen(ascii), flags, star_ok);
}

static int rule_add(struct parse *ps, const char *s, size_t n, unsigned flags, int star_ok)
{
	struct policy *p = ps->p;
	const unsigned flags0 = flags;
	const char *os = s;                 /* as written, for messages */
	size_t on = n, star = 0, ls = 0, i; /* ls: where the current label starts */
	uint32_t meta, line;
	char q[128];
	char *d;

	if (n && s[n - 1] == '.')
		n--;
	if (star_ok && n >= 2 && s[0] == '*' && s[1] == '.') {
		star = 2;
		s += 2;
		n -= 2;
		flags = (flags & ~RULE_SELF) | RULE_SUB | RULE_STAR;
	}
	if (n == 0) {
		parse_warn(ps, "empty name");
		return 1;
	}
	if (n > NAME_MAX_LEN) {
		parse_warn(ps, "name %s is %zu characters long (max %d)",
		           msg_quote(q, sizeof(q), os, on), n, NAME_MAX_LEN);
		return 1;
	}
	if (arena_reserve(p, sizeof(meta) + star + n + 1) < 0) {
		ps->err = -ENOMEM;
		return -ENOMEM;
	}
	/* Validate and lowercase straight into the arena; only a success keeps it. */
	d = p->arena + p->alen + sizeof(meta) + star;
	for (i = 0; i < n; i++) {
		unsigned char k = name_map[(unsigned char)s[i]];

		d[i] = (char)k;
		if (k == '.') {
			if (i == ls)
				goto empty_label;
			if (i - ls > LABEL_MAX_LEN)
				goto long_label;
			ls = i + 1;
		} else if (!k) {
			unsigned char c = (unsigned char)s[i];

			if (c >= 0x80)
				return rule_add_unicode(ps, os, on, flags0, star_ok);
			else if (c > 0x20 && c < 0x7f)
				parse_warn(ps, "invalid character '%c' in name %s", c,
				           msg_quote(q, sizeof(q), os, on));
			else
				parse_warn(ps, "invalid byte 0x%02x in name %s", c,
				           msg_quote(q, sizeof(q), os, on));
			return 1;
		}
	}
	if (ls == n)
		goto empty_label;
	if (n - ls > LABEL_MAX_LEN)
		goto long_label;
	d[n] = '\0';
	line = ps->line > 0 && (uint32_t)ps->line < META_LINE_MAX ? (uint32_t)ps->line
	                                                          : META_LINE_MAX;
	meta = line | flags << META_LINE_BITS;
	memcpy(p->arena + p->alen, &meta, sizeof(meta));
	if (star)
		memcpy(p->arena + p->alen + sizeof(meta), "*.", 2);
	p->alen += sizeof(meta) + star + n + 1;
	p->nrecords++;
	ps->l->info.entries++;
	return 0;

empty_label:
	parse_warn(ps, "empty label in name %s", msg_quote(q, sizeof(q), os, on));
	return 1;
long_label:
	parse_warn(ps, "label longer than %d characters in name %s", LABEL_MAX_LEN,
	           msg_quote(q, sizeof(q), os, on));
	return 1;
}

/* Names that every hosts file carries for the machine itself, not blocks. */
static int hosts_boilerplate(const char *s, const char *e)
{
	static const char *const names[] = {
	    "localhost",     "localhost.localdomain", "local",        "broadcasthost",
	    "ip6-localhost", "ip6-loopback",          "ip6-localnet", "ip6-mcastprefix",
	    "ip6-allnodes",  "ip6-allrouters",        "ip6-allhosts", "0.0.0.0",
	};
	size_t i, n;

	if (e > s && e[-1] == '.')
		e--;
	n = (size_t)(e - s);
	/* Every one starts with 'l', 'b', 'i' or '0': most names leave here. */
	if (n == 0 || !strchr("lLbBiI0", *s))
		return 0;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == n && strncasecmp(s, names[i], n) == 0)
			return 1;
	return 0;
}

/* An IPv4 or IPv6 literal (an IPv6 zone such as "%lo0" is allowed). */
static int is_ip(const char *s, const char *e)
{
	char buf[INET6_ADDRSTRLEN + 1];
	unsigned char a[16];
	size_t n = (size_t)(e - s);
	const char *pct;

	if (n == 0 || n >= sizeof(buf))
		return 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, a) == 1)
		return 1;
	pct = memchr(buf, '%', n);
	if (pct)
		buf[pct - buf] = '\0';
	return inet_pton(AF_INET6, buf, a) == 1;
}

/* hosts: "ADDRESS name [name...] [# comment]" */
static void hosts_line(struct parse *ps, const char *s, const char *e)
{
	char q[128];
	const char *ip, *ipe, *t, *te;
	int names = 0;
	size_t n;

	s = skip_ws(s, e);
	if (s == e || *s == '#')
		return;
	ip = s;
	ipe = skip_tok(s, e);
	if (!is_ip(ip, ipe)) {
		parse_warn(ps, "expected an IP address before the names, got %s",
		           msg_quote(q, sizeof(q), ip, (size_t)(ipe - ip)));
		return;
	}
	for (t = skip_ws(ipe, e); t < e; t = skip_ws(te, e)) {
		te = skip_tok(t, e);
		if (*t == '#')
			break;
		names++;
		if (hosts_boilerplate(t, te))
			continue;
		/*
		 * A hosts file names hosts: a single label there is a machine's
		 * short name, and as a rule it would cover a whole top-level
		 * domain and everything under it. (A deliberate TLD rule is
		 * written in the other formats: "||zip^", "zip", RPZ.)
		 */
		n = (size_t)(te - t) - (te[-1] == '.');
		if (n && !memchr(t, '.', n)) {
			parse_warn(ps,
			           "single-label name %s in a hosts file: not taken as a "
			           "rule for a whole top-level domain",
			           msg_quote(q, sizeof(q), t, (size_t)(te - t)));
			continue;
		}
		if (rule_add(ps, t, (size_t)(te - t), RULE_SELF | RULE_SUB | ps->allow, 0) < 0)
			return;
	}
	if (!names)
		parse_warn(ps, "no name after the address %s",
		           msg_quote(q, sizeof(q), ip, (size_t)(ipe - ip)));
}

/*
 * Whether a token is meant as an address or prefix rather than a name: its
 * part before any '/' has a colon (no name has one; a URL, "://", is not an
 * address), or is digits and dots ending in a digit (no top-level domain is
 * numeric).
 */
static int addr_like(const char *s, const char *e)
{
	const char *slash = memchr(s, '/', (size_t)(e - s)), *h = slash ? slash : e;

	if (s == h)
		return 0;
	if (memchr(s, ':', (size_t)(h - s)))
		return !(slash && slash[-1] == ':' && slash + 1 < e && slash[1] == '/');
	if (!isdigit((unsigned char)h[-1]))
		return 0;
	for (const char *c = s; c < h; c++)
		if (*c != '.' && !isdigit((unsigned char)*c))
			return 0;
	return 1;
}

/*
 * An address or prefix ("192.0.2.1", "198.51.100.0/24", "2001:db8::/32") into
 * set: of a plain or ip list, a rule on the addresses of forwarded answers as
 * an rpz-ip trigger is; of a client list, on clients.
 */
static void addr_rule_add(struct parse *ps, struct ipset *set, const char *s, const char *e)
{
	char text[INET6_ADDRSTRLEN + 8], q[128];
	size_t n = (size_t)(e - s);
	const char *what = set == &ps->p->client ? "client" : "address";
	int r = 1;

	if (n < sizeof(text)) {
		memcpy(text, s, n);
		text[n] = '\0';
		r = ip_rule_push(ps, set, text, ps->allow != 0);
	}
	if (r == 2)
		parse_warn(ps, "prefix %s would cover every %s", msg_quote(q, sizeof(q), s, n),
		           what);
	else if (r == 1)
		parse_warn(ps, "%s is not %s IPv4 or IPv6 address or ADDRESS/PREFIXLEN",
		           msg_quote(q, sizeof(q), s, n),
		           set == &ps->p->client ? "a client's" : "an");
}

/*
 * The one token of a plain, ip or client line ("#" and ";" start a comment),
 * its end in *te; NULL for a line with none, or with more (reported: what
 * the token should be is what).
 */
static const char *line_token(struct parse *ps, const char *s, const char *e, const char *what,
                              const char **te)
{
	char q[128];
	const char *rest;

	s = skip_ws(s, e);
	if (s == e || *s == '#' || *s == ';')
		return NULL;
	*te = skip_tok(s, e);
	rest = skip_ws(*te, e);
	if (rest < e && *rest != '#' && *rest != ';') {
		parse_warn(ps, "unexpected text after the %s: %s", what,
		           msg_quote(q, sizeof(q), rest, (size_t)(trim_end(rest, e) - rest)));
		return NULL;
	}
	return s;
}

/*
 * plain: "name [# comment]"; "*.name" is a rule for the subdomains only.
 * An address or prefix ("192.0.2.1", "198.51.100.0/24 ; SBL123", as address
 * feeds write them) is an ip rule: lists of C&C addresses are this format.
 */
static void plain_line(struct parse *ps, const char *s, const char *e)
{
	const char *te;

	if (!(s = line_token(ps, s, e, "name", &te)) || hosts_boilerplate(s, te))
		return;
	if (addr_like(s, te)) {
		addr_rule_add(ps, &ps->p->resp, s, te);
		return;
	}
	rule_add(ps, s, (size_t)(te - s), RULE_SELF | RULE_SUB | ps->allow, 1);
}

/*
 * A list of clients (POLICY_LIST_CLIENTS): "ADDRESS" or "ADDRESS/PREFIXLEN",
 * "#" and ";" comments; each a client rule, as an rpz-client-ip trigger.
 */
static void client_line(struct parse *ps, const char *s, const char *e)
{
	const char *te;

	if ((s = line_token(ps, s, e, "address", &te)))
		addr_rule_add(ps, &ps->p->client, s, te);
}

/* Bytes that may be part of a name in an adblock rule (bad ones are reported). */
static inline int adblock_name_byte(unsigned char c)
{
	return name_map[c] || c == '*' || c >= 0x80;
}

/*
 * adblock: "||name^" blocks, "@@||name^" allows; a bare "name" is taken as
 * "||name^". Rules with modifiers ("$important"), paths or URL patterns
 * describe URLs, not names, and are reported and skipped.
 */
static void adblock_line(struct parse *ps, const char *s, const char *e)
{
	char q[128];
	unsigned flags = RULE_SELF | RULE_SUB | ps->allow;
	const char *ne, *rest;
	int anchored = 0;

	s = skip_ws(s, e);
	e = trim_end(s, e);
	if (s == e || *s == '!' || *s == '#' || *s == '[')
		return;
	if (starts_with(s, e, "@@")) {
		flags |= RULE_ALLOW;
		s += 2;
	}
	if (starts_with(s, e, "||")) {
		anchored = 1;
		s += 2;
	}
	for (ne = s; ne < e && adblock_name_byte((unsigned char)*ne); ne++)
		;
	rest = ne;
	if (rest < e && *rest == '^')
		rest++;
	if (rest < e && *rest == '|' && rest + 1 == e)
		rest++;
	if (rest == e && ne > s) {
		rule_add(ps, s, (size_t)(ne - s), flags, 1);
		return;
	}
	if (anchored && ne == s && rest == e) {
		parse_warn(ps, "no name after \"||\"");
		return;
	}
	if (!anchored &&
	    (memmem(s, (size_t)(e - s), "##", 2) || memmem(s, (size_t)(e - s), "#@#", 3) ||
	     memmem(s, (size_t)(e - s), "#?#", 3) || memmem(s, (size_t)(e - s), "#$#", 3))) {
		parse_warn(ps, "cosmetic rule is not a DNS rule");
		return;
	}
	if (ne > s && *rest == '$') {
		parse_warn(ps, "rule with modifiers %s is not a DNS rule",
		           msg_quote(q, sizeof(q), rest, (size_t)(e - rest)));
		return;
	}
	if (ne > s && *rest == '/') {
		parse_warn(ps, "rule with a path %s is not a DNS rule",
		           msg_quote(q, sizeof(q), rest, (size_t)(e - rest)));
		return;
	}
	if (ne == s && !anchored) {
		parse_warn(ps, "URL pattern %s is not a DNS rule",
		           msg_quote(q, sizeof(q), s, (size_t)(e - s)));
		return;
	}
	parse_warn(ps, "unsupported rule syntax at %s",
	           msg_quote(q, sizeof(q), ne, (size_t)(e - ne)));
}

/*
 * dnsmasq: "server=/a/b/[upstream]", "address=/a/[address]", "local=/a/".
 * Each domain between slashes is a rule. "address=" answers the names
 * itself, and "server=/a/" (or its synonym "local=") with no upstream keeps
 * them local, never forwarded: both block. "server=/a/#" sends them to the
 * standard servers, an exception to the blocks around it: an allow rule. A
 * "server=/a/UPSTREAM" in a blocklist only picks another server: neither a
 * block nor an exception (as an allow it would override every other list),
 * so the line is skipped with a warning. In an allowlist every form allows.
 */
static void dnsmasq_line(struct parse *ps, const char *s, const char *e)
{
	char q[128];
	const char *eq, *key_e, *v, *slash, *last;
	unsigned flags = RULE_SELF | RULE_SUB | ps->allow;
	int ndom = 0;

	s = skip_ws(s, e);
	e = trim_end(s, e);
	if (s == e || *s == '#')
		return;
	eq = memchr(s, '=', (size_t)(e - s));
	if (!eq) {
		parse_warn(ps, "expected server=/domain/ or address=/domain/, got %s",
		           msg_quote(q, sizeof(q), s, (size_t)(e - s)));
		return;
	}
	key_e = trim_end(s, eq);
	if (!tok_is(s, key_e, "server") && !tok_is(s, key_e, "address") &&
	    !tok_is(s, key_e, "local")) {
		parse_warn(ps, "unsupported dnsmasq option %s",
		           msg_quote(q, sizeof(q), s, (size_t)(key_e - s)));
		return;
	}
	v = skip_ws(eq + 1, e);
	if (v == e || *v != '/') {
		parse_warn(ps, "no /domain/ in %s",
		           msg_quote(q, sizeof(q), s, (size_t)(e - s)));
		return;
	}
	last = memrchr(v + 1, '/', (size_t)(e - v - 1));
	if (last && !tok_is(s, key_e, "address") && last + 1 < e) {
		if (last + 2 == e && last[1] == '#') {
			flags |= RULE_ALLOW;
		} else if (!ps->allow) {
			parse_warn(ps,
			           "%s only picks an upstream server: neither a block nor "
			           "an exception",
			           msg_quote(q, sizeof(q), s, (size_t)(e - s)));
			return;
		}
	}
	for (v++; (slash = memchr(v, '/', (size_t)(e - v))) != NULL; v = slash + 1) {
		ndom++;
		if (slash == v) {
			parse_warn(ps, "empty domain (unqualified names) is not supported");
			continue;
		}
		if (slash - v == 1 && *v == '#') {
			parse_warn(ps, "domain '#' (every name) is not supported");
			continue;
		}
		if (rule_add(ps, v, (size_t)(slash - v), flags, 0) < 0)
			return;
	}
	if (!ndom)
		parse_warn(ps, "missing '/' after the domain in %s",
		           msg_quote(q, sizeof(q), s, (size_t)(e - s)));
}

/* RPZ ------------------------------------------------------------------ */

#define RPZ_MAX_TOKENS 8

struct tok {
	const char *s, *e;
};

static int is_ttl(const struct tok *t)
{
	const char *s;

	if (t->s == t->e || (unsigned char)(*t->s - '0') >= 10)
		return 0;
	for (s = t->s; s < t->e; s++)
		if ((unsigned char)(*s - '0') >= 10 && !strchr("smhdwSMHDW", *s))
			return 0;
	return 1;
}

static int is_class(const struct tok *t)
{
	return tok_is(t->s, t->e, "IN") || tok_is(t->s, t->e, "CH") ||
	       tok_is(t->s, t->e, "HS") || tok_is(t->s, t->e, "CS");
}

/*
 * Split a zone-file line into tokens: ';' starts a comment (outside quotes),
 * parentheses let a record continue on the next lines. Returns the count
 * (only the first RPZ_MAX_TOKENS are kept; a policy needs fewer).
 */
static int rpz_tokens(struct parse *ps, const char *s, const char *e, struct tok *t)
{
	int n = 0;

	while (s < e) {
		const char *ts;

		if (is_space(*s)) {
			s++;
			continue;
		}
		if (*s == ';')
			break;
		if (*s == '(' || *s == ')') {
			ps->paren = *s == '(';
			ps->paren_line = ps->line;
			s++;
			continue;
		}
		ts = s;
		if (*s == '"') {
			for (s++; s < e && *s != '"'; s++)
				if (*s == '\\' && s + 1 < e)
					s++;
			if (s < e)
				s++;
		} else {
			while (s < e && !is_space(*s) && *s != ';' && *s != '(' && *s != ')')
				s++;
		}
		if (n < RPZ_MAX_TOKENS) {
			t[n].s = ts;
			t[n].e = s;
		}
		n++;
	}
	return n < RPZ_MAX_TOKENS ? n : RPZ_MAX_TOKENS;
}

/* Lowercase absolute name into dst (with its final dot); 0, or -1 if too long. */
static int rpz_absolute(char *dst, size_t *dlen, const char *s, size_t n, const char *origin,
                        size_t olen)
{
	size_t i, len = n;

	if (n == 0 || n > NAME_MAX_LEN + 1)
		return -1;
	if (s[n - 1] != '.') {
		/* Relative to the origin ("." when none is known). */
		len = n + 1 + (olen > 1 ? olen : 0);
		if (len > NAME_MAX_LEN + 1)
			return -1;
	}
	for (i = 0; i < n; i++)
		dst[i] = (char)lower((unsigned char)s[i]);
	if (s[n - 1] != '.') {
		dst[n] = '.';
		if (olen > 1)
			memcpy(dst + n + 1, origin, olen);
	}
	dst[len] = '\0';
	*dlen = len;
	return 0;
}

static void rpz_directive(struct parse *ps, const struct tok *t, int n)
{
	char q[128];
	char buf[sizeof(ps->origin)];
	size_t len;

	if (tok_is(t[0].s, t[0].e, "$TTL"))
		return;
	if (tok_is(t[0].s, t[0].e, "$ORIGIN")) {
		if (n < 2 || rpz_absolute(buf, &len, t[1].s, (size_t)(t[1].e - t[1].s),
		                          ps->origin, ps->origin_len) < 0) {
			parse_warn(ps, "$ORIGIN needs a name of at most %d characters",
			           NAME_MAX_LEN);
			return;
		}
		if (len == 1) {
			ps->origin_len = 0; /* the root: names are as written */
			return;
		}
		memcpy(ps->origin, buf, len + 1);
		ps->origin_len = len;
		/* The first origin is the zone's own name: triggers are relative to it. */
		if (!ps->apex_len) {
			memcpy(ps->apex, buf, len + 1);
			ps->apex_len = len;
		}
		return;
	}
	parse_warn(ps, "unsupported directive %s",
	           msg_quote(q, sizeof(q), t[0].s, (size_t)(t[0].e - t[0].s)));
}

/*
 * The trigger name an owner stands for: the owner made absolute against the
 * current $ORIGIN, then the zone apex taken off its end. Without any origin
 * a relative owner is the trigger as written. Returns the length written to
 * out, 0 for the apex itself, -1 if the name is too long.
 */
static int rpz_trigger(struct parse *ps, const char *o, size_t on, char *out)
{
	char fq[2 * sizeof(ps->origin)];
	size_t fl;

	if (on == 1 && *o == '@') {
		if (!ps->origin_len)
			return 0;
		memcpy(fq, ps->origin, ps->origin_len + 1);
		fl = ps->origin_len;
	} else if (o[on - 1] != '.' && !ps->origin_len) {
		if (on > NAME_MAX_LEN + 1)
			return -1;
		memcpy(out, o, on);
		return (int)on;
	} else if (rpz_absolute(fq, &fl, o, on, ps->origin, ps->origin_len) < 0) {
		return -1;
	}
	if (ps->apex_len) {
		if (fl == ps->apex_len && memcmp(fq, ps->apex, fl) == 0)
			return 0;
		if (fl > ps->apex_len && fq[fl - ps->apex_len - 1] == '.' &&
		    memcmp(fq + fl - ps->apex_len, ps->apex, ps->apex_len) == 0)
			fl -= ps->apex_len; /* keeps the dot, dropped below */
	}
	if (fl <= 1)
		return 0;
	memcpy(out, fq, fl - 1);
	return (int)(fl - 1);
}

/* Triggers on something other than the query name, which a sinkhole has no use for. */
static const char *rpz_special_trigger(const char *s, size_t n)
{
	static const char *const kinds[] = {"rpz-ip", "rpz-nsip", "rpz-nsdname",
	                                    "rpz-client-ip"};
	const char *last = s + n;
	size_t i;

	while (last > s && last[-1] != '.')
		last--;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (tok_is(last, s + n, kinds[i]))
			return kinds[i];
	return NULL;
}

/*
 * Add the ip rule "ADDR" or "ADDR/PLEN" (NUL-terminated; bits past the length
 * are cleared): 0; 1 when text is not an address or prefix, 2 for a length
 * of 0, which would cover every address (nothing reported: the caller says
 * why); -ENOMEM.
 */
static int ip_rule_push(struct parse *ps, struct ipset *set, const char *text, int allow)
{
	struct policy *p = ps->p;
	struct ip_rule r;
	char err[160];

	memset(&r, 0, sizeof(r));
	if (prefix_parse_net(text, &r.net, err, sizeof(err)) < 0)
		return 1;
	if (r.net.bits == 0)
		return 2;
	prefix_fmt(&r.net, r.text, sizeof(r.text));
	r.allow = allow != 0;
	r.list = (int)(ps->l - p->lists);
	r.line = ps->line;
	if (set->n == set->cap) {
		size_t nc = set->cap ? set->cap * 2 : 64;
		struct ip_rule *ni = realloc(set->v, nc * sizeof(*ni));
		if (ni == NULL) {
			ps->err = -ENOMEM;
			return -ENOMEM;
		}
		set->v = ni;
		set->cap = nc;
	}
	set->v[set->n++] = r;
	ps->l->info.entries++;
	return 0;
}

/*
 * An rpz-ip or rpz-client-ip trigger, "PLEN.REVERSED-ADDRESS.KIND" (trig,
 * n bytes, without the origin; kind "rpz-ip" or "rpz-client-ip"):
 * "24.0.2.0.192.rpz-ip" is 192.0.2.0/24, "48.zz.1.db8.2001.rpz-ip"
 * 2001:db8:1::/48 ("zz" stands for the "::"). Added to set; bits past the
 * prefix are cleared. 0, 1 when the line was reported, -ENOMEM.
 */
static int ip_rule_add(struct parse *ps, struct ipset *set, const char *kind, const char *trig,
                       size_t n, int allow)
{
	char lab[40][16], q[128];
	int nl = 0;
	size_t i = 0;

	/* the labels before "rpz-ip", in order */
	while (i < n) {
		size_t j = i;
		while (j < n && trig[j] != '.')
			j++;
		if (nl == 40 || j - i == 0 || j - i >= sizeof(lab[0]))
			goto bad;
		memcpy(lab[nl], trig + i, j - i);
		lab[nl][j - i] = '\0';
		nl++;
		i = j + 1;
	}
	if (nl < 3 || strcasecmp(lab[nl - 1], kind) != 0)
		goto bad;
	nl--; /* drop the kind */
	char text[INET6_ADDRSTRLEN + 64];
	size_t tl = 0;
	int v4 = nl == 5;
	for (int k = 1; v4 && k <= 4; k++)
		v4 = strspn(lab[k], "0123456789") == strlen(lab[k]) && strlen(lab[k]) <= 3;
	if (v4) {
		/* IPv4: four octets, last first (written again: "010" is 10) */
		for (int k = 4; k >= 1; k--) {
			char *end;
			long o = strtol(lab[k], &end, 10);
			if (*end || end == lab[k] || o < 0 || o > 255)
				goto bad;
			tl += (size_t)snprintf(text + tl, sizeof(text) - tl, "%s%ld",
			                       k == 4 ? "" : ".", o);
		}
	} else {
		/* IPv6: groups last first, "zz" for the run of zeros */
		if (nl > 9)
			goto bad;
		/* each group 1-4 hex digits or "zz": what the text below can hold */
		for (int k = 1; k < nl; k++) {
			size_t gl = strlen(lab[k]);
			if (strcasecmp(lab[k], "zz") != 0 &&
			    (gl > 4 || strspn(lab[k], "0123456789abcdefABCDEF") != gl))
				goto bad;
		}
		/* the groups joined by ':', "zz" empty; then a leading or trailing
		 * empty group is doubled so that it reads "::" */
		text[tl++] = ':';
		for (int k = nl - 1; k >= 1; k--)
			tl += (size_t)snprintf(text + tl, sizeof(text) - tl, "%s%s",
			                       strcasecmp(lab[k], "zz") ? lab[k] : "",
			                       k > 1 ? ":" : "");
		if (text[tl - 1] == ':')
			text[tl++] = ':';
		text[tl] = '\0';
		if (text[1] != ':')
			memmove(text, text + 1, tl--); /* no leading empty group */
	}
	snprintf(text + tl, sizeof(text) - tl, "/%s", lab[0]);
	int r = ip_rule_push(ps, set, text, allow);
	if (r <= 0)
		return r;
bad:
	parse_warn(ps, "%s trigger %s is not PREFIXLEN.REVERSED-ADDRESS.%s", kind,
	           msg_quote(q, sizeof(q), trig, n), kind);
	return 1;
}

/*
 * rpz: "[owner] [ttl] [class] type rdata". SOA and NS belong to the zone,
 * not the policy. "CNAME ." and "CNAME *." block (NXDOMAIN, NODATA),
 * "CNAME rpz-passthru." allows, "CNAME rpz-drop." blocks; a CNAME to any
 * other name and local data (A, AAAA, ...) rewrite the answer, which for a
 * sinkhole means "listed": they block as well.
 */
static void rpz_line(struct parse *ps, const char *s, const char *e)
{
	static const char *const data_types[] = {"A",   "AAAA",  "TXT",  "MX",    "PTR",
	                                         "SRV", "HTTPS", "SVCB", "NAPTR", "CAA"};
	char q[128], trig[2 * sizeof(ps->origin)];
	struct tok t[RPZ_MAX_TOKENS];
	const struct tok *type, *target = NULL;
	unsigned flags = RULE_SELF | ps->allow;
	int cont, n, i, tl;
	size_t k;

	if (ps->paren && ps->line - ps->paren_line > RPZ_PAREN_LINES)
		paren_warn(ps,
		           "\"(\" not closed within %d lines: that record is skipped, and "
		           "line %d on are read as records again",
		           RPZ_PAREN_LINES, ps->line);
	if (ps->paren) {
		/* Inside a multi-line record (a SOA in practice): wait for ')'. */
		const char *c = s;

		while (c < e && *c != ';' && *c != ')')
			c++;
		if (c < e && *c == ')')
			ps->paren = 0;
		return;
	}
	cont = s < e && is_space(*s);
	n = rpz_tokens(ps, s, e, t);
	if (n == 0)
		return;
	if (!cont && *t[0].s == '$') {
		rpz_directive(ps, t, n);
		return;
	}
	i = 0;
	if (!cont) {
		size_t on = (size_t)(t[0].e - t[0].s);

		ps->have_owner = on <= NAME_MAX_LEN + 1;
		if (!ps->have_owner) {
			parse_warn(ps, "owner name %s is %zu characters long (max %d)",
			           msg_quote(q, sizeof(q), t[0].s, on), on, NAME_MAX_LEN);
			return;
		}
		memcpy(ps->owner, t[0].s, on);
		ps->owner_len = on;
		i = 1;
	} else if (!ps->have_owner) {
		parse_warn(ps, "record without an owner name");
		return;
	}
	while (i < n && (is_ttl(&t[i]) || is_class(&t[i])))
		i++;
	if (i == n) {
		parse_warn(ps, "missing record type");
		return;
	}
	type = &t[i++];
	if (tok_is(type->s, type->e, "SOA")) {
		/* An absolute SOA owner names the zone when $ORIGIN did not. */
		if (!ps->apex_len && ps->owner_len > 1 && ps->owner[ps->owner_len - 1] == '.')
			rpz_absolute(ps->apex, &ps->apex_len, ps->owner, ps->owner_len, NULL,
			             0);
		return;
	}
	if (tok_is(type->s, type->e, "NS"))
		return;
	if (tok_is(type->s, type->e, "CNAME")) {
		if (i == n) {
			parse_warn(ps, "CNAME without a target");
			return;
		}
		if (tok_is(t[i].s, t[i].e, "rpz-passthru.") ||
		    tok_is(t[i].s, t[i].e, "rpz-passthru")) {
			flags |= RULE_ALLOW;
		} else if (starts_with(t[i].s, t[i].e, "rpz-") &&
		           !tok_is(t[i].s, t[i].e, "rpz-drop.") &&
		           !tok_is(t[i].s, t[i].e, "rpz-drop")) {
			parse_warn(ps, "unsupported RPZ action %s",
			           msg_quote(q, sizeof(q), t[i].s, (size_t)(t[i].e - t[i].s)));
			return;
		} else {
			target = &t[i];
		}
	} else {
		for (k = 0; k < sizeof(data_types) / sizeof(data_types[0]); k++)
			if (tok_is(type->s, type->e, data_types[k]))
				break;
		if (k == sizeof(data_types) / sizeof(data_types[0])) {
			parse_warn(
			    ps, "unsupported record type %s",
			    msg_quote(q, sizeof(q), type->s, (size_t)(type->e - type->s)));
			return;
		}
	}
	tl = rpz_trigger(ps, ps->owner, ps->owner_len, trig);
	if (tl < 0) {
		parse_warn(ps, "name %s is too long with the origin",
		           msg_quote(q, sizeof(q), ps->owner, ps->owner_len));
		return;
	}
	if (tl == 0) {
		parse_warn(ps, "record at the zone apex is not a policy");
		return;
	}
	if (tl == 1 && trig[0] == '*') {
		parse_warn(ps, "wildcard for every name is not supported");
		return;
	}
	/* The older form of passthru: a CNAME to the trigger itself, absolute
	 * (BIND still reads it so). */
	if (target && target->e - target->s == tl + 1 && target->e[-1] == '.' &&
	    strncasecmp(target->s, trig, (size_t)tl) == 0)
		flags |= RULE_ALLOW;
	const char *special = rpz_special_trigger(trig, (size_t)tl);
	if (special && !strcmp(special, "rpz-ip")) {
		/* An address in a forwarded answer: the name that got it is sinkholed. */
		ip_rule_add(ps, &ps->p->resp, special, trig, (size_t)tl,
		            (flags & RULE_ALLOW) != 0);
		return;
	}
	if (special && !strcmp(special, "rpz-client-ip")) {
		/* A client's address: every name it asks is sinkholed (or none). */
		ip_rule_add(ps, &ps->p->client, special, trig, (size_t)tl,
		            (flags & RULE_ALLOW) != 0);
		return;
	}
	if (special) {
		parse_warn(ps, "%s trigger is not supported", special);
		return;
	}
	rule_add(ps, trig, (size_t)tl, flags, 1);
}

/* Detection ------------------------------------------------------------ */

#define DETECT_LINES 200
#define DETECT_BYTES (256u << 10)

static int is_rr_word(const char *s, const char *e)
{
	static const char *const words[] = {"CNAME", "SOA", "NS", "A", "AAAA", "TXT", "IN"};
	size_t i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (tok_is(s, e, words[i]))
			return 1;
	return 0;
}

/* The format one content line suggests, or LIST_FMT_UNKNOWN. */
static enum list_format detect_line(const char *s, const char *e, int *hint)
{
	const char *t1e, *t2, *t;
	int i;

	if (*s == '#')
		return LIST_FMT_UNKNOWN;
	if (*s == '!') {
		*hint = LIST_FMT_ADBLOCK;
		return LIST_FMT_UNKNOWN;
	}
	if (*s == ';') {
		*hint = LIST_FMT_RPZ;
		return LIST_FMT_UNKNOWN;
	}
	if (starts_with(s, e, "[adblock") || starts_with(s, e, "[adguard") ||
	    starts_with(s, e, "||") || starts_with(s, e, "@@"))
		return LIST_FMT_ADBLOCK;
	if (starts_with(s, e, "$TTL") || starts_with(s, e, "$ORIGIN"))
		return LIST_FMT_RPZ;
	if (starts_with(s, e, "server=/") || starts_with(s, e, "address=/") ||
	    starts_with(s, e, "local=/"))
		return LIST_FMT_DNSMASQ;
	t1e = skip_tok(s, e);
	t2 = skip_ws(t1e, e);
	if ((t2 == e || *t2 == '#' || *t2 == ';') && addr_like(s, t1e))
		return LIST_FMT_IP;
	if (t2 == e || *t2 == '#')
		return LIST_FMT_PLAIN;
	if (is_ip(s, t1e))
		return LIST_FMT_HOSTS;
	for (t = t2, i = 0; t < e && i < 3; t = skip_ws(skip_tok(t, e), e), i++)
		if (is_rr_word(t, skip_tok(t, e)))
			return LIST_FMT_RPZ;
	return LIST_FMT_UNKNOWN;
}

enum list_format list_detect(const char *data, size_t len)
{
	int votes[LIST_FMT_IP + 1] = {0};
	int hint = LIST_FMT_UNKNOWN, lines = 0, f, best = LIST_FMT_UNKNOWN;
	const char *s = data, *end = data + (len < DETECT_BYTES ? len : DETECT_BYTES);

	if (!data)
		return LIST_FMT_UNKNOWN;
	if (end - s >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3;
	while (s < end && lines < DETECT_LINES) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *e = nl ? nl : end;
		const char *t = skip_ws(s, e);

		e = trim_end(t, e);
		if (t < e) {
			f = detect_line(t, e, &hint);
			votes[f]++;
			if (f != LIST_FMT_UNKNOWN)
				lines++;
		}
		s = nl ? nl + 1 : end;
	}
	/* Ties go to the more specific syntax. */
	for (f = LIST_FMT_IP; f > LIST_FMT_UNKNOWN; f--)
		if (votes[f] > (best ? votes[best] : 0))
			best = f;
	return best != LIST_FMT_UNKNOWN ? (enum list_format)best : (enum list_format)hint;
}

const char *list_format_name(enum list_format f)
{
	switch (f) {
	case LIST_FMT_HOSTS:
		return "hosts";
	case LIST_FMT_PLAIN:
		return "plain";
	case LIST_FMT_ADBLOCK:
		return "adblock";
	case LIST_FMT_DNSMASQ:
		return "dnsmasq";
	case LIST_FMT_RPZ:
		return "rpz";
	case LIST_FMT_IP:
		return "ip";
	default:
		return "unknown";
	}
}

/* Loading -------------------------------------------------------------- */

struct policy *policy_new(void)
{
	struct policy *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	if (arena_reserve(p, 1) < 0) {
		free(p);
		return NULL;
	}
	p->alen = 1; /* the pad byte, already zero */
	return p;
}

static struct list_ent *list_new(struct policy *p, const char *path, int allow)
{
	struct list_ent *l;

	if (p->nlists == p->lcap) {
		int cap = p->lcap ? p->lcap * 2 : 8;
		struct list_ent *v = realloc(p->lists, (size_t)cap * sizeof(*v));

		if (!v)
			return NULL;
		p->lists = v;
		p->lcap = cap;
	}
	l = &p->lists[p->nlists];
	memset(l, 0, sizeof(*l));
	l->info.path = strdup(path ? path : "");
	if (!l->info.path)
		return NULL;
	l->info.allow = allow != 0;
	l->first = (uint32_t)p->alen;
	p->nlists++;
	return l;
}

/* The table is reserved as lists come in; policy_finish() only fills it. */
static int table_reserve(struct policy *p)
{
	size_t need = slots_for(p->nrecords);

	if (need <= p->tcap)
		return 0;
	if (need > UINT32_MAX)
		return -ENOMEM;
	/* Room for a few more lists without a new block; untouched until finish. */
	need += need / 4;
	if (need > UINT32_MAX)
		need = UINT32_MAX;
	need = page_round(need * sizeof(*p->tab)) / sizeof(*p->tab);
	block_free(p->tab, p->tcap * sizeof(*p->tab));
	p->tab = block_alloc(need * sizeof(*p->tab));
	p->tcap = p->tab ? need : 0;
	return p->tab ? 0 : -ENOMEM;
}

/*
 * Parse data as one list. With base set (data mapped from a file), pages
 * already parsed are handed back every RELEASE_STEP bytes so that a big list
 * never sits in memory next to the rules built from it.
 */
static int list_load(struct policy *p, const char *path, const char *data, size_t len,
                     int flags, policy_warn_cb *warn, void *arg, int mapped)
{
	int allow = (flags & POLICY_LIST_ALLOW) != 0;
	struct parse *ps;
	line_fn *fn;
	const char *s = data, *end = data + len, *released = data;
	enum list_format fmt;
	int r;

	if (!p || p->finished || (!data && len))
		return -EINVAL;
	ps = calloc(1, sizeof(*ps));
	if (!ps)
		return -ENOMEM;
	ps->p = p;
	ps->warn = warn;
	ps->arg = arg;
	ps->allow = allow ? RULE_ALLOW : 0;
	ps->l = list_new(p, path, allow);
	if (!ps->l) {
		free(ps);
		return -ENOMEM;
	}
	fmt = list_detect(data, len);
	ps->l->info.format = fmt;
	ps->l->info.clients = (flags & POLICY_LIST_CLIENTS) != 0;
	switch (ps->l->info.clients ? LIST_FMT_IP : fmt) {
	case LIST_FMT_HOSTS:
		fn = hosts_line;
		break;
	case LIST_FMT_ADBLOCK:
		fn = adblock_line;
		break;
	case LIST_FMT_DNSMASQ:
		fn = dnsmasq_line;
		break;
	case LIST_FMT_RPZ:
		fn = rpz_line;
		break;
	case LIST_FMT_IP:
		fn = ps->l->info.clients ? client_line : plain_line;
		break;
	default:
		/* Unrecognised: the plain parser reports every line it cannot take. */
		fn = plain_line;
		break;
	}
	if (len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3;
	while (s < end && !ps->err) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *e = nl ? nl : end;

		if (ps->line < INT_MAX)
			ps->line++;
		fn(ps, s, e);
		s = nl ? nl + 1 : end;
		if (mapped && (size_t)(s - released) >= RELEASE_STEP) {
			size_t pg = (size_t)sysconf(_SC_PAGESIZE);
			size_t n = (size_t)(s - data) / pg * pg - (size_t)(released - data);

			madvise((void *)released, n, MADV_DONTNEED);
			released += n;
		}
	}
	if (ps->paren && fn == rpz_line)
		paren_warn(ps,
		           "\"(\" never closed: that record is skipped, and with it the file's "
		           "last %d line%s",
		           ps->line - ps->paren_line,
		           ps->line - ps->paren_line == 1 ? "" : "s");
	r = ps->err;
	free(ps);
	if (r == 0)
		r = table_reserve(p);
	return r;
}

int policy_add_list(struct policy *p, const char *path, const char *data, size_t len, int flags,
                    policy_warn_cb *warn, void *arg)
{
	return list_load(p, path, data, len, flags, warn, arg, 0);
}

int policy_add_fd(struct policy *p, const char *path, int fd, int flags, policy_warn_cb *warn,
                  void *arg)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;
	int r;

	if (!p || p->finished)
		return -EINVAL;
	if (fstat(fd, &st) < 0)
		return -errno;
	/*
	 * Read, never map: a list rewritten in place while it loads (a download
	 * over the old file) would raise SIGBUS on a mapping; read() just sees
	 * the bytes as they are, and the list is judged on them.
	 */
	if (S_ISREG(st.st_mode) && st.st_size > 0 && (uint64_t)st.st_size < SIZE_MAX / 2)
		cap = (size_t)st.st_size + 1;
	if (cap) {
		buf = malloc(cap);
		if (!buf)
			return -ENOMEM;
	}
	for (;;) {
		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 1u << 16;
			char *nb = realloc(buf, ncap);

			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			free(buf);
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	r = list_load(p, path, buf ? buf : "", len, flags, warn, arg, 0);
	free(buf);
	return r;
}

/* Does the stored name s (NUL-terminated, lowercase) equal q (n bytes, any case)? */
static inline int name_eq(const char *s, const char *q, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!s[i] || s[i] != (char)lower((unsigned char)q[i]))
			return 0;
	return s[n] == '\0';
}

#define FINISH_BATCH 16

/*
 * Fill the table from the arena, in load order, so the first of duplicate
 * rules (same text, same flags) is the one kept. Records go in batches whose
 * home slots are prefetched together, so that the cache misses of a table
 * far larger than the cache overlap instead of queueing. O(records).
 */
static int ip_cmp(const void *a, const void *b)
{
	const struct ip_rule *x = a, *y = b;
	if (x->net.family != y->net.family)
		return x->net.family - y->net.family;
	if (x->net.bits != y->net.bits)
		return y->net.bits - x->net.bits; /* longest first */
	int c = memcmp(x->net.addr, y->net.addr, 16);
	if (c)
		return c;
	return y->allow - x->allow; /* an allow first */
}

/* Sort the ip rules and cut them into runs of one family and length. */
static void ipset_finish(struct ipset *set)
{
	if (!set->n)
		return;
	qsort(set->v, set->n, sizeof(*set->v), ip_cmp);
	set->segs = calloc(2 + 32 + 128, sizeof(*set->segs));
	if (set->segs == NULL) {
		set->n = 0;
		return;
	}
	for (size_t i = 0; i < set->n; i++) {
		struct ip_seg *g = set->nsegs ? &set->segs[set->nsegs - 1] : NULL;
		const struct prefix *net = &set->v[i].net;
		if (!g || g->family != net->family || g->bits != net->bits) {
			g = &set->segs[set->nsegs++];
			g->family = net->family;
			g->bits = net->bits;
			g->start = i;
		}
		g->n++;
	}
}

static enum policy_action ipset_lookup(const struct policy *p, const struct ipset *set,
                                       int family, const uint8_t *addr, struct policy_match *m)
{
	size_t alen = family == AF_INET6 ? 16 : 4;
	if (m)
		memset(m, 0, sizeof(*m));
	if (!set || !set->nsegs)
		return POLICY_NONE;
	for (int g = 0; g < set->nsegs; g++) {
		const struct ip_seg *sg = &set->segs[g];
		if (sg->family != family)
			continue;
		/* the address cut to this length, as the rules' networks are */
		uint8_t key[16] = {0};
		memcpy(key, addr, alen);
		for (size_t b = 0; b < alen; b++) {
			int keep = sg->bits - (int)b * 8;
			if (keep <= 0)
				key[b] = 0;
			else if (keep < 8)
				key[b] &= (uint8_t)(0xff << (8 - keep));
		}
		/* the first rule with this address: an allow sorts before a block */
		size_t lo = sg->start, hi = sg->start + sg->n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (memcmp(set->v[mid].net.addr, key, 16) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < sg->start + sg->n && memcmp(set->v[lo].net.addr, key, 16) == 0) {
			const struct ip_rule *r = &set->v[lo];
			if (m) {
				m->action = r->allow ? POLICY_ALLOW : POLICY_BLOCK;
				m->rule = r->text;
				m->file = p->lists[r->list].info.path;
				m->line = r->line;
				m->wildcard = 1;
			}
			return r->allow ? POLICY_ALLOW : POLICY_BLOCK;
		}
	}
	return POLICY_NONE;
}

enum policy_action policy_lookup_ip(const struct policy *p, int family, const uint8_t *addr,
                                    struct policy_match *m)
{
	return ipset_lookup(p, p ? &p->resp : NULL, family, addr, m);
}

enum policy_action policy_lookup_client(const struct policy *p, int family, const uint8_t *addr,
                                        struct policy_match *m)
{
	return ipset_lookup(p, p ? &p->client : NULL, family, addr, m);
}

size_t policy_client_rules(const struct policy *p)
{
	return p ? p->client.n : 0;
}

size_t policy_ip_rules(const struct policy *p)
{
	return p ? p->resp.n : 0;
}

void policy_finish(struct policy *p)
{
	struct {
		uint32_t off, slot, tag, flags;
	} b[FINISH_BATCH];
	uint32_t off = 1;
	size_t sz;
	void *a;
	int n, k;

	if (!p || p->finished)
		return;
	p->finished = 1;
	ipset_finish(&p->resp);
	ipset_finish(&p->client);
	/* Give back the growth slack of both blocks (remaps, no copies). */
	sz = page_round(p->alen);
	if (sz < p->acap && (a = block_resize(p->arena, p->acap, sz)) != NULL) {
		p->arena = a;
		p->acap = sz;
	}
	p->nslots = (uint32_t)slots_for(p->nrecords);
	if (p->nslots > p->tcap)
		p->nslots = 0; /* table_reserve() failed and the caller went on */
	if (!p->nslots)
		return;
	sz = page_round((size_t)p->nslots * sizeof(*p->tab));
	if (sz < p->tcap * sizeof(*p->tab) &&
	    (a = block_resize(p->tab, p->tcap * sizeof(*p->tab), sz)) != NULL) {
		p->tab = a;
		p->tcap = sz / sizeof(*p->tab);
	}
	/* The table block is fresh from table_reserve(): already all empty. */
	while (off < p->alen) {
		for (n = 0; n < FINISH_BATCH && off < p->alen; n++) {
			uint32_t meta = meta_at(p, off), flags = meta >> META_LINE_BITS;
			const char *text = p->arena + off + sizeof(meta);
			size_t tlen = strlen(text), star = flags & RULE_STAR ? 2 : 0;
			uint64_t h = name_hash(text + star, tlen - star);

			b[n].off = off;
			b[n].flags = flags;
			b[n].slot = slot_of(h, p->nslots);
			b[n].tag = (uint32_t)(h >> 32);
			__builtin_prefetch(&p->tab[b[n].slot], 1);
			off += (uint32_t)(sizeof(meta) + tlen + 1);
		}
		for (k = 0; k < n; k++) {
			const char *text = p->arena + b[k].off + sizeof(uint32_t);
			uint32_t i = b[k].slot;

			for (;; i = i + 1 == p->nslots ? 0 : i + 1) {
				const struct rule_slot *s = &p->tab[i];

				if (!s->off)
					break;
				if (s->tag == b[k].tag &&
				    meta_at(p, s->off) >> META_LINE_BITS == b[k].flags &&
				    strcmp(p->arena + s->off + sizeof(uint32_t), text) == 0)
					break; /* a duplicate */
			}
			if (p->tab[i].off)
				continue;
			p->tab[i].off = b[k].off;
			p->tab[i].tag = b[k].tag;
			p->nrules++;
			if (b[k].flags & RULE_ALLOW)
				p->nallow++;
		}
	}
}

/*
 * Collect the rules stored under the name q (n bytes) that cover it in the
 * way need says (RULE_SELF or RULE_SUB): the first allow and block records.
 */
static void rule_probe(const struct policy *p, const char *q, size_t n, uint64_t h,
                       unsigned need, uint32_t *allow, uint32_t *block)
{
	uint32_t i = slot_of(h, p->nslots), tag = (uint32_t)(h >> 32);

	for (;; i = i + 1 == p->nslots ? 0 : i + 1) {
		const struct rule_slot *s = &p->tab[i];
		uint32_t flags;
		uint32_t *best;

		if (!s->off)
			return;
		if (s->tag != tag)
			continue;
		flags = meta_at(p, s->off) >> META_LINE_BITS;
		if (!(flags & need))
			continue;
		if (!name_eq(p->arena + s->off + 4 + (flags & RULE_STAR ? 2 : 0), q, n))
			continue;
		best = flags & RULE_ALLOW ? allow : block;
		if (!*best || s->off < *best)
			*best = s->off;
	}
}

static const struct list_ent *list_of(const struct policy *p, uint32_t off)
{
	int lo = 0, hi = p->nlists - 1;

	while (lo < hi) {
		int mid = (lo + hi + 1) / 2;

		if (p->lists[mid].first <= off)
			lo = mid;
		else
			hi = mid - 1;
	}
	return &p->lists[lo];
}

/*
 * Suffix hashes come out shortest first (the hash runs from the last byte),
 * and are then probed longest first: the first allow found is the most
 * specific allow and decides; the first block found is kept while shorter
 * suffixes are searched for an allow, unless the policy has none.
 */
/*
 * name[i] is a dot inside a label, written "\." in presentation form (an odd
 * run of backslashes before it): not a boundary between labels.
 */
int policy_dot_escaped(const char *name, size_t i)
{
	size_t b = 0;
	while (b < i && name[i - 1 - b] == '\\')
		b++;
	return b & 1;
}

enum policy_action policy_lookup(const struct policy *p, const char *name, size_t len,
                                 struct policy_match *m)
{
	struct suffix suf[MAX_SUFFIXES];
	uint64_t h = FNV_OFFSET;
	uint32_t allow = 0, block = 0, off, meta;
	int ns = 0, k, self = 0;
	size_t i;

	if (m)
		memset(m, 0, sizeof(*m));
	if (!p || !p->nslots || !name)
		return POLICY_NONE;
	if (len && name[len - 1] == '.' && !policy_dot_escaped(name, len - 1))
		len--;
	if (!len)
		return POLICY_NONE;
	for (i = len; i > 0;) {
		unsigned char c = lower((unsigned char)name[--i]);

		/* A label's own dot ("evil\.good.test" is a name under test, not
		 * under good.test) ends no suffix. */
		if (c == '.' && i + 1 < len &&
		    !(i && name[i - 1] == '\\' && policy_dot_escaped(name, i)))
			suf[ns++] = (struct suffix){i + 1, hash_mix(h)};
		/* A longer suffix than any stored name cannot match. */
		if (len - i > NAME_MAX_LEN || ns == MAX_SUFFIXES)
			break;
		h = (h ^ c) * FNV_PRIME;
		if (i == 0)
			suf[ns++] = (struct suffix){0, hash_mix(h)};
	}
	/* Start every probe's cache miss at once; they are then taken in order. */
	for (k = 0; k < ns; k++)
		__builtin_prefetch(&p->tab[slot_of(suf[k].h, p->nslots)]);
	for (k = ns - 1; k >= 0; k--) {
		uint32_t a = 0, b = 0;
		int is_self = suf[k].pos == 0;

		rule_probe(p, name + suf[k].pos, len - suf[k].pos, suf[k].h,
		           is_self ? RULE_SELF : RULE_SUB, &a, &b);
		if (a) {
			allow = a;
			self = is_self;
			break;
		}
		if (b && !block) {
			block = b;
			self = is_self;
			if (!p->nallow)
				break;
		}
	}
	off = allow ? allow : block;
	if (!off)
		return POLICY_NONE;
	if (m) {
		const struct list_ent *l = list_of(p, off);

		meta = meta_at(p, off);
		m->action = allow ? POLICY_ALLOW : POLICY_BLOCK;
		m->rule = p->arena + off + sizeof(meta);
		m->file = l->info.path;
		m->line = (int)(meta & META_LINE_MAX);
		m->wildcard = !self;
	}
	return allow ? POLICY_ALLOW : POLICY_BLOCK;
}

size_t policy_rules(const struct policy *p)
{
	if (!p)
		return 0;
	return (p->finished ? p->nrules : p->nrecords) + p->resp.n + p->client.n;
}

int policy_list_count(const struct policy *p)
{
	return p ? p->nlists : 0;
}

const struct list_info *policy_list(const struct policy *p, int i)
{
	if (!p || i < 0 || i >= p->nlists)
		return NULL;
	return &p->lists[i].info;
}

size_t policy_memory(const struct policy *p)
{
	size_t n;
	int i;

	if (!p)
		return 0;
	n = sizeof(*p) + p->acap + p->tcap * sizeof(*p->tab) +
	    (size_t)p->lcap * sizeof(*p->lists) +
	    (p->resp.cap + p->client.cap) * sizeof(struct ip_rule);
	for (i = 0; i < p->nlists; i++)
		n += strlen(p->lists[i].info.path) + 1;
	return n;
}

void policy_free(struct policy **pp)
{
	struct policy *p;
	int i;

	if (!pp || !*pp)
		return;
	p = *pp;
	for (i = 0; i < p->nlists; i++)
		free((char *)p->lists[i].info.path);
	free(p->lists);
	free(p->resp.v);
	free(p->resp.segs);
	free(p->client.v);
	free(p->client.segs);
	block_free(p->tab, p->tcap * sizeof(*p->tab));
	block_free(p->arena, p->acap);
	free(p);
	*pp = NULL;
}

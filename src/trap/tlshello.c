#include "tlshello.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/event.h"
#include "common/util.h"

#define TLS_RECORD_HANDSHAKE 22
#define TLS_HS_CLIENT_HELLO 1
#define TLS_RECORD_MAX 16384 /* plaintext record limit (RFC 8446 §5.1) */

#define EXT_SERVER_NAME 0x0000
#define EXT_SUPPORTED_GROUPS 0x000a
#define EXT_EC_POINT_FORMATS 0x000b
#define EXT_SIGNATURE_ALGORITHMS 0x000d
#define EXT_ALPN 0x0010
#define EXT_SUPPORTED_VERSIONS 0x002b

/* A bounded read cursor: every read checks what is left. */
struct cur {
	const uint8_t *p, *end;
};

static size_t cur_left(const struct cur *c)
{
	return (size_t)(c->end - c->p);
}

static int cur_u8(struct cur *c, unsigned *v)
{
	if (cur_left(c) < 1)
		return -1;
	*v = c->p[0];
	c->p += 1;
	return 0;
}

static int cur_u16(struct cur *c, unsigned *v)
{
	if (cur_left(c) < 2)
		return -1;
	*v = (unsigned)c->p[0] << 8 | c->p[1];
	c->p += 2;
	return 0;
}

static int cur_take(struct cur *c, size_t n, struct cur *sub)
{
	if (cur_left(c) < n)
		return -1;
	sub->p = c->p;
	sub->end = c->p + n;
	c->p += n;
	return 0;
}

/* A vector with a one- or two-byte length prefix. */
static int cur_vec8(struct cur *c, struct cur *sub)
{
	unsigned n;
	return cur_u8(c, &n) < 0 ? -1 : cur_take(c, n, sub);
}

static int cur_vec16(struct cur *c, struct cur *sub)
{
	unsigned n;
	return cur_u16(c, &n) < 0 ? -1 : cur_take(c, n, sub);
}

int tls_grease_is(uint16_t v)
{
	return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

const char *tls_version_name(uint16_t v, char *buf, size_t len)
{
	/* Suricata's spellings, so EVE consumers see the same strings. */
	const char *s = NULL;
	switch (v) {
	case 0x0002:
		s = "SSLv2";
		break;
	case 0x0300:
		s = "SSLv3";
		break;
	case 0x0301:
		s = "TLSv1";
		break;
	case 0x0302:
		s = "TLS 1.1";
		break;
	case 0x0303:
		s = "TLS 1.2";
		break;
	case 0x0304:
		s = "TLS 1.3";
		break;
	}
	if (s != NULL)
		snprintf(buf, len, "%s", s);
	else
		snprintf(buf, len, "0x%04x", v);
	return buf;
}

/* Check a handshake header; sets *need to the whole message length. */
static int hs_header(const uint8_t *hdr, size_t *need, char *err, size_t errlen)
{
	size_t body = (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
	if (hdr[0] != TLS_HS_CLIENT_HELLO)
		return set_err_code(-EBADMSG, err, errlen, "handshake type %u, not ClientHello",
		                    hdr[0]);
	if (body > TLS_HELLO_MAX_LEN)
		return set_err_code(-EBADMSG, err, errlen, "ClientHello length %zu over %d",
		                    body, TLS_HELLO_MAX_LEN);
	*need = 4 + body;
	return 0;
}

/*
 * Record layer: find the ClientHello message in the records at buf and make
 * it contiguous (copied to scratch only when it spans records). Returns 0
 * with *msg, *msglen (handshake header included), or a tls_hello_parse()
 * error.
 */
static int records_gather(const uint8_t *buf, size_t len, uint8_t *scratch, const uint8_t **msg,
                          size_t *msglen, struct tls_hello *h, char *err, size_t errlen)
{
	size_t off = 0, have = 0, need = 4;
	int nrec = 0, rc;

	if (len == 0)
		return -EAGAIN;
	if (buf[0] != TLS_RECORD_HANDSHAKE) {
		if ((buf[0] & 0x80) && len >= 3 && buf[2] == TLS_HS_CLIENT_HELLO)
			return set_err_code(-EPROTONOSUPPORT, err, errlen,
			                    "SSLv2-format ClientHello");
		return set_err_code(-EPROTONOSUPPORT, err, errlen,
		                    "not a TLS handshake record");
	}
	if (len >= 2 && buf[1] != 3)
		return set_err_code(-EPROTONOSUPPORT, err, errlen, "record version major %u",
		                    buf[1]);
	if (len >= 3 && buf[2] > 4)
		return set_err_code(-EPROTONOSUPPORT, err, errlen, "record version 3.%u",
		                    buf[2]);

	for (;;) {
		size_t left = len - off;
		if (left >= 1 && buf[off] != TLS_RECORD_HANDSHAKE)
			return set_err_code(-EBADMSG, err, errlen,
			                    "record type %u before the ClientHello is complete",
			                    buf[off]);
		if (left >= 2 && buf[off + 1] != 3)
			return set_err_code(-EBADMSG, err, errlen, "record version major %u",
			                    buf[off + 1]);
		if (left < 5)
			return -EAGAIN;
		size_t rlen = (size_t)buf[off + 3] << 8 | buf[off + 4];
		if (rlen == 0)
			return set_err_code(-EBADMSG, err, errlen, "empty handshake record");
		if (rlen > TLS_RECORD_MAX)
			return set_err_code(-EBADMSG, err, errlen, "record length %zu over %d",
			                    rlen, TLS_RECORD_MAX);
		if (++nrec > TLS_HELLO_MAX_RECORDS)
			return set_err_code(-EBADMSG, err, errlen,
			                    "ClientHello spans over %d records",
			                    TLS_HELLO_MAX_RECORDS);
		const uint8_t *frag = buf + off + 5;
		size_t avail = left - 5 < rlen ? left - 5 : rlen;

		if (nrec == 1) {
			h->record_version = (uint16_t)(buf[1] << 8 | buf[2]);
			if (avail >= 1 && frag[0] != TLS_HS_CLIENT_HELLO)
				return set_err_code(-EBADMSG, err, errlen,
				                    "handshake type %u, not ClientHello",
				                    frag[0]);
			/* The common case: one record holds it all, no copy. */
			if (avail >= 4) {
				if ((rc = hs_header(frag, &need, err, errlen)) < 0)
					return rc;
				if (rlen >= need) {
					if (avail < need)
						return -EAGAIN;
					*msg = frag;
					*msglen = need;
					h->records_len = 5 + need;
					if (rlen > need)
						h->anomalies |= TLS_HELLO_A_TRAILING;
					return 0;
				}
			}
		}

		size_t used = 0;
		while (used < avail && have < need) {
			size_t n = need - have < avail - used ? need - have : avail - used;
			memcpy(scratch + have, frag + used, n);
			have += n;
			used += n;
			if (have == 4 && (rc = hs_header(scratch, &need, err, errlen)) < 0)
				return rc;
		}
		if (have == need) {
			*msg = scratch;
			*msglen = need;
			h->records_len = off + 5 + used;
			if (used < rlen)
				h->anomalies |= TLS_HELLO_A_TRAILING;
			return 0;
		}
		if (avail < rlen)
			return -EAGAIN;
		off += 5 + rlen;
	}
}

static int ext_dup(uint8_t *seen, unsigned type)
{
	int was = seen[type >> 3] & (1u << (type & 7));
	seen[type >> 3] |= (uint8_t)(1u << (type & 7));
	return was != 0;
}

/* A list of u16 values filling the whole of c (even length). */
static int u16_list(struct cur *c, uint16_t *out, size_t cap, size_t *n, struct tls_hello *h,
                    unsigned grease_bit)
{
	if (cur_left(c) % 2 != 0)
		return -1;
	*n = 0;
	while (cur_left(c) > 0) {
		unsigned v = 0;
		cur_u16(c, &v); /* cannot fail: the length is even */
		if (tls_grease_is((uint16_t)v))
			h->grease |= grease_bit;
		if (*n < cap)
			out[(*n)++] = (uint16_t)v;
		else
			h->anomalies |= TLS_HELLO_A_TRUNCATED;
	}
	return 0;
}

static int ldh_byte(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_';
}

static int ext_server_name(struct cur *d, struct tls_hello *h)
{
	struct cur list;
	h->has_sni = 1;
	h->sni_len = 0;
	h->sni[0] = '\0';
	if (cur_left(d) == 0) {
		h->anomalies |= TLS_HELLO_A_SNI_EMPTY;
		return 0;
	}
	if (cur_vec16(d, &list) < 0 || cur_left(d) != 0)
		return -1;
	int found = 0;
	while (cur_left(&list) > 0) {
		unsigned type;
		struct cur name;
		if (cur_u8(&list, &type) < 0 || cur_vec16(&list, &name) < 0)
			return -1;
		if (type != 0 || found)
			continue;
		found = 1;
		size_t n = cur_left(&name);
		if (n == 0)
			h->anomalies |= TLS_HELLO_A_SNI_EMPTY;
		if (n > TLS_HELLO_SNI_LEN) {
			n = TLS_HELLO_SNI_LEN;
			h->anomalies |= TLS_HELLO_A_SNI_LONG;
		}
		for (size_t i = 0; i < cur_left(&name); i++)
			if (!ldh_byte(name.p[i]))
				h->anomalies |= TLS_HELLO_A_SNI_BYTES;
		memcpy(h->sni, name.p, n);
		h->sni[n] = '\0';
		h->sni_len = n;
	}
	if (!found)
		h->anomalies |= TLS_HELLO_A_SNI_EMPTY;
	return 0;
}

static int ext_alpn(struct cur *d, struct tls_hello *h)
{
	struct cur list;
	h->n_alpn = 0;
	if (cur_vec16(d, &list) < 0 || cur_left(d) != 0)
		return -1;
	while (cur_left(&list) > 0) {
		struct cur name;
		if (cur_vec8(&list, &name) < 0)
			return -1;
		size_t n = cur_left(&name);
		if (n == 0)
			h->anomalies |= TLS_HELLO_A_ALPN_EMPTY;
		if (n == 2 && tls_grease_is((uint16_t)(name.p[0] << 8 | name.p[1])))
			h->grease |= TLS_GREASE_ALPN;
		if (h->n_alpn == TLS_HELLO_MAX_ALPN) {
			h->anomalies |= TLS_HELLO_A_TRUNCATED;
			continue;
		}
		memcpy(h->alpn[h->n_alpn], name.p, n);
		h->alpn[h->n_alpn][n] = '\0';
		h->alpn_len[h->n_alpn] = (uint8_t)n;
		h->n_alpn++;
	}
	return 0;
}

/* Parse one extension's body where we care about it. -1: malformed. */
static int ext_parse(unsigned type, struct cur *d, struct tls_hello *h)
{
	struct cur v;
	switch (type) {
	case EXT_SERVER_NAME:
		return ext_server_name(d, h);
	case EXT_ALPN:
		return ext_alpn(d, h);
	case EXT_SUPPORTED_GROUPS:
		if (cur_vec16(d, &v) < 0 || cur_left(d) != 0)
			return -1;
		return u16_list(&v, h->groups, TLS_HELLO_MAX_GROUPS, &h->n_groups, h,
		                TLS_GREASE_GROUP);
	case EXT_SIGNATURE_ALGORITHMS:
		if (cur_vec16(d, &v) < 0 || cur_left(d) != 0)
			return -1;
		return u16_list(&v, h->sigalgs, TLS_HELLO_MAX_SIGALGS, &h->n_sigalgs, h,
		                TLS_GREASE_SIGALG);
	case EXT_SUPPORTED_VERSIONS:
		if (cur_vec8(d, &v) < 0 || cur_left(d) != 0)
			return -1;
		return u16_list(&v, h->versions, TLS_HELLO_MAX_VERSIONS, &h->n_versions, h,
		                TLS_GREASE_VERSION);
	case EXT_EC_POINT_FORMATS:
		if (cur_vec8(d, &v) < 0 || cur_left(d) != 0)
			return -1;
		h->n_point_formats = 0;
		while (cur_left(&v) > 0) {
			unsigned f = 0;
			cur_u8(&v, &f);
			if (h->n_point_formats < TLS_HELLO_MAX_POINT_FORMATS)
				h->point_formats[h->n_point_formats++] = (uint8_t)f;
			else
				h->anomalies |= TLS_HELLO_A_TRUNCATED;
		}
		return 0;
	default:
		return 0;
	}
}

static int hello_body(const uint8_t *p, size_t len, struct tls_hello *h, char *err,
                      size_t errlen)
{
	struct cur c = {p, p + len}, sid, cs, comp, exts;
	unsigned v;

	if (cur_u16(&c, &v) < 0)
		return set_err_code(-EBADMSG, err, errlen,
		                    "ClientHello too short for its version");
	h->version = (uint16_t)v;
	if (cur_left(&c) < 32)
		return set_err_code(-EBADMSG, err, errlen,
		                    "ClientHello too short for its random");
	memcpy(h->random, c.p, 32);
	c.p += 32;
	if (cur_vec8(&c, &sid) < 0)
		return set_err_code(-EBADMSG, err, errlen,
		                    "session id overruns the ClientHello");
	if (cur_left(&sid) > 32)
		return set_err_code(-EBADMSG, err, errlen, "session id of %zu bytes",
		                    cur_left(&sid));
	h->session_id_len = (uint8_t)cur_left(&sid);
	if (cur_vec16(&c, &cs) < 0)
		return set_err_code(-EBADMSG, err, errlen,
		                    "cipher suites overrun the ClientHello");
	if (cur_left(&cs) == 0)
		h->anomalies |= TLS_HELLO_A_NO_CIPHERS;
	if (u16_list(&cs, h->ciphers, TLS_HELLO_MAX_CIPHERS, &h->n_ciphers, h,
	             TLS_GREASE_CIPHER) < 0)
		return set_err_code(-EBADMSG, err, errlen, "odd cipher suites length");
	if (cur_vec8(&c, &comp) < 0)
		return set_err_code(-EBADMSG, err, errlen,
		                    "compression methods overrun the ClientHello");
	h->n_compressions = (uint8_t)cur_left(&comp);
	if (h->n_compressions == 0)
		h->anomalies |= TLS_HELLO_A_NO_COMPRESSION;
	if (cur_left(&c) == 0)
		return 0; /* no extensions: SSLv3 and early TLS clients */
	if (cur_vec16(&c, &exts) < 0)
		return set_err_code(-EBADMSG, err, errlen,
		                    "extensions overrun the ClientHello");
	if (cur_left(&c) != 0)
		return set_err_code(-EBADMSG, err, errlen, "%zu bytes after the extensions",
		                    cur_left(&c));

	uint8_t seen[65536 / 8];
	memset(seen, 0, sizeof(seen));
	while (cur_left(&exts) > 0) {
		unsigned type;
		struct cur d;
		if (cur_u16(&exts, &type) < 0 || cur_vec16(&exts, &d) < 0)
			return set_err_code(-EBADMSG, err, errlen,
			                    "extension overruns the list");
		if (tls_grease_is((uint16_t)type))
			h->grease |= TLS_GREASE_EXT;
		else if (ext_dup(seen, type))
			h->anomalies |= TLS_HELLO_A_DUP_EXT;
		if (h->n_exts < TLS_HELLO_MAX_EXTS)
			h->exts[h->n_exts++] = (uint16_t)type;
		else
			h->anomalies |= TLS_HELLO_A_TRUNCATED;
		if (ext_parse(type, &d, h) < 0)
			return set_err_code(-EBADMSG, err, errlen, "malformed extension 0x%04x",
			                    type);
	}
	return 0;
}

/* A bounded string builder; never overflows, stays NUL-terminated. */
struct sb {
	char *p;
	size_t len, cap;
};

static void sb_printf(struct sb *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sb *s, const char *fmt, ...)
{
	if (s->len + 1 >= s->cap)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(s->p + s->len, s->cap - s->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		s->len += (size_t)n < s->cap - s->len ? (size_t)n : s->cap - s->len - 1;
}

static void sb_u16_list(struct sb *s, const uint16_t *v, size_t n, const char *fmt,
                        const char *sep)
{
	int first = 1;
	for (size_t i = 0; i < n; i++) {
		if (tls_grease_is(v[i]))
			continue;
		if (!first)
			sb_printf(s, "%s", sep);
		sb_printf(s, fmt, v[i]);
		first = 0;
	}
}

static void hex_digest(const EVP_MD *md, const void *data, size_t len, char *out, size_t nhex)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dl = 0;
	static const char hex[] = "0123456789abcdef";
	if (!EVP_Digest(data, len, d, &dl, md, NULL))
		dl = 0;
	size_t i;
	for (i = 0; i < nhex && i / 2 < dl; i++)
		out[i] = hex[(d[i / 2] >> (i % 2 ? 0 : 4)) & 0xf];
	for (; i < nhex; i++)
		out[i] = '0';
	out[nhex] = '\0';
}

static void ja3_build(struct tls_hello *h)
{
	struct sb s = {h->ja3, 0, sizeof(h->ja3)};
	h->ja3[0] = '\0';
	sb_printf(&s, "%u,", h->version);
	sb_u16_list(&s, h->ciphers, h->n_ciphers, "%u", "-");
	sb_printf(&s, ",");
	sb_u16_list(&s, h->exts, h->n_exts, "%u", "-");
	sb_printf(&s, ",");
	sb_u16_list(&s, h->groups, h->n_groups, "%u", "-");
	sb_printf(&s, ",");
	for (size_t i = 0; i < h->n_point_formats; i++)
		sb_printf(&s, i ? "-%u" : "%u", h->point_formats[i]);
	hex_digest(EVP_md5(), h->ja3, s.len, h->ja3_hash, 32);
}

static int u16_cmp(const void *a, const void *b)
{
	uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;
	return x < y ? -1 : x > y;
}

/* Non-GREASE values of v, optionally without two extension types, sorted. */
static size_t sorted_copy(const uint16_t *v, size_t n, uint16_t *out, int drop_sni_alpn)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (tls_grease_is(v[i]))
			continue;
		if (drop_sni_alpn && (v[i] == EXT_SERVER_NAME || v[i] == EXT_ALPN))
			continue;
		out[k++] = v[i];
	}
	qsort(out, k, sizeof(*out), u16_cmp);
	return k;
}

static size_t count_non_grease(const uint16_t *v, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += !tls_grease_is(v[i]);
	return k;
}

static int alnum(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* JA4's two ALPN characters: first and last of the first (non-GREASE) value. */
static void ja4_alpn(const struct tls_hello *h, char out[2])
{
	static const char hex[] = "0123456789abcdef";
	out[0] = out[1] = '0';
	for (size_t i = 0; i < h->n_alpn; i++) {
		const uint8_t *a = (const uint8_t *)h->alpn[i];
		size_t n = h->alpn_len[i];
		if (n == 2 && tls_grease_is((uint16_t)(a[0] << 8 | a[1])))
			continue;
		if (n == 0)
			return;
		if (alnum(a[0]) && alnum(a[n - 1])) {
			out[0] = (char)a[0];
			out[1] = (char)a[n - 1];
		} else {
			out[0] = hex[a[0] >> 4];
			out[1] = hex[a[n - 1] & 0xf];
		}
		return;
	}
}

static const char *ja4_version(uint16_t v)
{
	switch (v) {
	case 0x0304:
		return "13";
	case 0x0303:
		return "12";
	case 0x0302:
		return "11";
	case 0x0301:
		return "10";
	case 0x0300:
		return "s3";
	case 0x0002:
		return "s2";
	case 0xfeff:
		return "d1";
	case 0xfefd:
		return "d2";
	case 0xfefc:
		return "d3";
	default:
		return "00";
	}
}

static void ja4_build(struct tls_hello *h)
{
	uint16_t ciphers[TLS_HELLO_MAX_CIPHERS], exts[TLS_HELLO_MAX_EXTS];
	char part_a[11], alpn[2], list[TLS_JA4R_LEN];
	char hash_b[13], hash_c[13];
	size_t nc = count_non_grease(h->ciphers, h->n_ciphers);
	size_t ne = count_non_grease(h->exts, h->n_exts);

	ja4_alpn(h, alpn);
	snprintf(part_a, sizeof(part_a), "t%s%c%02zu%02zu%c%c", ja4_version(h->max_version),
	         h->has_sni ? 'd' : 'i', nc > 99 ? (size_t)99 : nc, ne > 99 ? (size_t)99 : ne,
	         alpn[0], alpn[1]);

	struct sb r = {h->ja4_r, 0, sizeof(h->ja4_r)};
	h->ja4_r[0] = '\0';
	sb_printf(&r, "%s_", part_a);

	/* b: the sorted cipher list. */
	struct sb s = {list, 0, sizeof(list)};
	list[0] = '\0';
	nc = sorted_copy(h->ciphers, h->n_ciphers, ciphers, 0);
	sb_u16_list(&s, ciphers, nc, "%04x", ",");
	if (nc == 0)
		snprintf(hash_b, sizeof(hash_b), "000000000000");
	else
		hex_digest(EVP_sha256(), list, s.len, hash_b, 12);
	sb_printf(&r, "%s_", list);

	/* c: sorted extensions without SNI and ALPN, then signature algorithms as sent. */
	s.len = 0;
	list[0] = '\0';
	ne = sorted_copy(h->exts, h->n_exts, exts, 1);
	sb_u16_list(&s, exts, ne, "%04x", ",");
	if (count_non_grease(h->sigalgs, h->n_sigalgs) > 0) {
		sb_printf(&s, "_");
		sb_u16_list(&s, h->sigalgs, h->n_sigalgs, "%04x", ",");
	}
	if (ne == 0)
		snprintf(hash_c, sizeof(hash_c), "000000000000");
	else
		hex_digest(EVP_sha256(), list, s.len, hash_c, 12);
	sb_printf(&r, "%s", list);

	snprintf(h->ja4, sizeof(h->ja4), "%s_%s_%s", part_a, hash_b, hash_c);
}

int tls_hello_parse(const uint8_t *buf, size_t len, struct tls_hello *out, char *err,
                    size_t errlen)
{
	uint8_t scratch[4 + TLS_HELLO_MAX_LEN];
	const uint8_t *msg = NULL;
	size_t msglen = 0;
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (buf == NULL && len > 0)
		return set_err_code(-EBADMSG, err, errlen, "no buffer");
	memset(out, 0, sizeof(*out));
	rc = records_gather(buf, len, scratch, &msg, &msglen, out, err, errlen);
	if (rc < 0)
		return rc;
	out->hello_len = msglen - 4;
	rc = hello_body(msg + 4, msglen - 4, out, err, errlen);
	if (rc < 0)
		return rc;

	out->max_version = out->version;
	int have_version = 0;
	for (size_t i = 0; i < out->n_versions; i++) {
		uint16_t v = out->versions[i];
		if (tls_grease_is(v))
			continue;
		if (!have_version || v > out->max_version)
			out->max_version = v;
		have_version = 1;
	}
	ja3_build(out);
	ja4_build(out);
	return 0;
}

/*
 * The host_name as text: printable ASCII as sent, any other byte and the
 * backslash as \xNN, so that "paypal.com\0.evil.example" reads as what it is
 * wherever the event goes (4 * TLS_HELLO_SNI_LEN + 1 bytes at most).
 */
static size_t sni_text(const struct tls_hello *h, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (size_t i = 0; i < h->sni_len; i++) {
		uint8_t c = (uint8_t)h->sni[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			out[o++] = (char)c;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return o;
}

void tls_hello_event_fields(const struct tls_hello *h, struct evbuf *b)
{
	char ver[16], sni[4 * TLS_HELLO_SNI_LEN + 1];
	ev_obj(b, "tls");
	if (h->has_sni)
		ev_strn(b, "sni", sni, sni_text(h, sni));
	ev_str(b, "version", tls_version_name(h->max_version, ver, sizeof(ver)));
	ev_obj(b, "ja3");
	ev_str(b, "hash", h->ja3_hash);
	ev_str(b, "string", h->ja3);
	ev_close(b);
	ev_str(b, "ja4", h->ja4);
	ev_str(b, "ja4_r", h->ja4_r);
	if (h->n_alpn > 0) {
		ev_arr(b, "alpn");
		for (size_t i = 0; i < h->n_alpn; i++)
			ev_strn(b, "", h->alpn[i], h->alpn_len[i]);
		ev_close(b);
	}
	ev_close(b);
}

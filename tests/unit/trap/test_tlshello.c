/*
 * ClientHello parser and JA3/JA4: real hellos captured from openssl s_client
 * and curl (data/tls_vectors.inc, made by data/capture_tls.py), their record
 * layer re-cut every way, and hellos built here to break each length.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/event.h"
#include "trap/tlshello.h"

struct tls_vec {
	const char *name;
	const char *hex;
	const char *sni;            /* "" = no server_name */
	const char *alpn;           /* comma-joined, "" = none */
	const char *ja3, *ja3_hash; /* from tshark 4.0 */
	const char *ja4, *ja4_r;    /* from capture_tls.py; see the check below */
};

/*
 * JA4 of "openssl_sni", worked by hand from the spec (FoxIO JA4.md):
 *   t   TCP;  13  supported_versions holds 0x0304;  d  server_name present
 *   31  ciphers (3 TLS 1.3 + 28 others, no GREASE);  10  extensions
 *   00  no ALPN
 *   b = sha256("002f,0033,0035,0039,003c,003d,0067,006b,009c,009d,009e,009f,
 *       00ff,1301,1302,1303,c009,c00a,c013,c014,c023,c024,c027,c028,c02b,c02c,
 *       c02f,c030,cca8,cca9,ccaa")[:12] = e8f1e7e78f70   (sha256sum)
 *   c = sha256("000a,000b,000d,0016,0017,0023,002b,002d,0033_0403,0503,0603,
 *       0807,0808,0809,080a,080b,0804,0805,0806,0401,0501,0601,0303,0301,0302,
 *       0402,0502,0602")[:12] = 1f22a2ca17c4   (0000 dropped; sigalgs as sent)
 *   => t13d311000_e8f1e7e78f70_1f22a2ca17c4
 */
static const struct tls_vec vectors[] = {
#include "data/tls_vectors.inc"
};
#define NVEC (sizeof(vectors) / sizeof(vectors[0]))

static uint8_t *unhex(const char *hex, size_t *len)
{
	size_t n = strlen(hex) / 2;
	uint8_t *b = malloc(n ? n : 1);
	assert_non_null(b);
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		b[i] = (uint8_t)v;
	}
	*len = n;
	return b;
}

static const struct tls_vec *vec_find(const char *name)
{
	for (size_t i = 0; i < NVEC; i++)
		if (strcmp(vectors[i].name, name) == 0)
			return &vectors[i];
	fail_msg("no vector %s", name);
	return NULL;
}

static struct tls_hello *hello_new(void)
{
	struct tls_hello *h = malloc(sizeof(*h));
	assert_non_null(h);
	return h;
}

static void alpn_join(const struct tls_hello *h, char *out, size_t len)
{
	size_t off = 0;
	out[0] = '\0';
	for (size_t i = 0; i < h->n_alpn; i++)
		off += (size_t)snprintf(out + off, len - off, "%s%s", i ? "," : "", h->alpn[i]);
}

static void check_vector(const struct tls_vec *v, const struct tls_hello *h)
{
	char alpn[512];
	assert_string_equal(h->ja3, v->ja3);
	assert_string_equal(h->ja3_hash, v->ja3_hash);
	assert_string_equal(h->ja4, v->ja4);
	assert_string_equal(h->ja4_r, v->ja4_r);
	assert_int_equal(h->has_sni, v->sni[0] != '\0');
	assert_string_equal(h->sni, v->sni);
	alpn_join(h, alpn, sizeof(alpn));
	assert_string_equal(alpn, v->alpn);
}

static void test_vectors(void **state)
{
	(void)state;
	struct tls_hello *h = hello_new();
	char err[128];
	for (size_t i = 0; i < NVEC; i++) {
		size_t len;
		uint8_t *b = unhex(vectors[i].hex, &len);
		int rc = tls_hello_parse(b, len, h, err, sizeof(err));
		if (rc != 0)
			fail_msg("%s: %d %s", vectors[i].name, rc, err);
		check_vector(&vectors[i], h);
		assert_int_equal(h->records_len, len);
		assert_int_equal(h->anomalies, 0);
		free(b);
	}
	free(h);
}

/* Every proper prefix of a real hello asks for more bytes, never more than that. */
static void test_vectors_prefixes(void **state)
{
	(void)state;
	struct tls_hello *h = hello_new();
	for (size_t i = 0; i < NVEC; i++) {
		size_t len;
		uint8_t *b = unhex(vectors[i].hex, &len);
		for (size_t k = 0; k < len; k++) {
			/* A copy of exactly k bytes so ASan sees any overread. */
			uint8_t *p = malloc(k ? k : 1);
			memcpy(p, b, k);
			int rc = tls_hello_parse(p, k, h, NULL, 0);
			if (rc != -EAGAIN)
				fail_msg("%s: prefix %zu gave %d", vectors[i].name, k, rc);
			free(p);
		}
		free(b);
	}
	free(h);
}

/* Bytes after the hello (the client's next flight) do not change anything. */
static void test_vectors_followed(void **state)
{
	(void)state;
	struct tls_hello *h = hello_new();
	const struct tls_vec *v = vec_find("curl_sni");
	size_t len;
	uint8_t *b = unhex(v->hex, &len);
	uint8_t *p = malloc(len + 6);
	memcpy(p, b, len);
	memcpy(p + len, "\x14\x03\x03\x00\x01\x01", 6); /* change_cipher_spec */
	assert_int_equal(tls_hello_parse(p, len + 6, h, NULL, 0), 0);
	check_vector(v, h);
	assert_int_equal(h->records_len, len);
	free(p);
	free(b);
	free(h);
}

/* The handshake message of a single-record vector (record header dropped). */
static uint8_t *vec_message(const struct tls_vec *v, size_t *mlen, uint16_t *rver)
{
	size_t len;
	uint8_t *b = unhex(v->hex, &len);
	assert_true(len > 9 && b[0] == 22);
	size_t rlen = (size_t)b[3] << 8 | b[4];
	assert_int_equal(rlen + 5, len);
	*rver = (uint16_t)(b[1] << 8 | b[2]);
	*mlen = rlen;
	memmove(b, b + 5, rlen);
	return b;
}

/* Cut msg into records of at most chunk bytes; malloced, length in *out_len. */
static uint8_t *records_cut(const uint8_t *msg, size_t mlen, size_t chunk, uint16_t rver,
                            size_t *out_len)
{
	size_t nrec = (mlen + chunk - 1) / chunk;
	uint8_t *out = malloc(mlen + 5 * nrec);
	size_t o = 0;
	for (size_t off = 0; off < mlen; off += chunk) {
		size_t n = mlen - off < chunk ? mlen - off : chunk;
		out[o++] = 22;
		out[o++] = (uint8_t)(rver >> 8);
		out[o++] = (uint8_t)rver;
		out[o++] = (uint8_t)(n >> 8);
		out[o++] = (uint8_t)n;
		memcpy(out + o, msg + off, n);
		o += n;
	}
	*out_len = o;
	return out;
}

/* The same hello cut into many records gives the same result, prefixes included. */
static void test_records_recut(void **state)
{
	(void)state;
	struct tls_hello *h = hello_new();
	static const size_t chunks[] = {1, 2, 3, 4, 5, 7, 13, 64, 100, 255, 256, 511};
	for (size_t i = 0; i < NVEC; i++) {
		if (strcmp(vectors[i].name, "openssl_split") == 0)
			continue;
		size_t mlen;
		uint16_t rver;
		uint8_t *msg = vec_message(&vectors[i], &mlen, &rver);
		for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
			size_t len, chunk = chunks[c];
			uint8_t *rec = records_cut(msg, mlen, chunk, rver, &len);
			int rc = tls_hello_parse(rec, len, h, NULL, 0);
			if ((mlen + chunk - 1) / chunk > TLS_HELLO_MAX_RECORDS) {
				assert_int_equal(rc, -EBADMSG);
				free(rec);
				continue;
			}
			if (rc != 0)
				fail_msg("%s cut by %zu: %d", vectors[i].name, chunk, rc);
			check_vector(&vectors[i], h);
			assert_int_equal(h->records_len, len);
			assert_int_equal(h->record_version, rver);
			for (size_t k = 0; k < len; k++)
				assert_int_equal(tls_hello_parse(rec, k, h, NULL, 0), -EAGAIN);
			free(rec);
		}
		free(msg);
	}
	free(h);
}

static void test_split_vector(void **state)
{
	(void)state;
	struct tls_hello *h = hello_new();
	const struct tls_vec *v = vec_find("openssl_split");
	size_t len;
	uint8_t *b = unhex(v->hex, &len);
	/* Really two records, as s_client -max_send_frag 512 sent it. */
	assert_int_equal((b[3] << 8 | b[4]), 512);
	assert_int_equal(b[5 + 512], 22);
	assert_int_equal(tls_hello_parse(b, len, h, NULL, 0), 0);
	assert_int_equal(h->n_alpn, 10);
	assert_int_equal(h->hello_len + 4, len - 10);
	assert_string_equal(h->sni, "split-record.example");
	free(b);
	free(h);
}

static void test_fields(void **state)
{
	(void)state;
	struct tls_hello *h = hello_new();
	size_t len;
	uint8_t *b = unhex(vec_find("openssl_alpn")->hex, &len);
	assert_int_equal(tls_hello_parse(b, len, h, NULL, 0), 0);
	assert_int_equal(h->record_version, 0x0301);
	assert_int_equal(h->version, 0x0303);
	assert_int_equal(h->max_version, 0x0304);
	assert_int_equal(h->session_id_len, 32);
	assert_int_equal(h->n_compressions, 1);
	assert_int_equal(h->n_ciphers, 31);
	assert_int_equal(h->ciphers[0], 0x1302);
	assert_int_equal(h->n_versions, 4);
	assert_int_equal(h->versions[0], 0x0304);
	assert_int_equal(h->versions[3], 0x0301);
	assert_int_equal(h->n_groups, 10);
	assert_int_equal(h->groups[0], 0x001d);
	assert_int_equal(h->n_point_formats, 3);
	assert_int_equal(h->point_formats[2], 2);
	assert_int_equal(h->n_sigalgs, 20);
	assert_int_equal(h->sigalgs[0], 0x0403);
	assert_int_equal(h->n_exts, 11);
	assert_int_equal(h->exts[0], 0x0000);
	assert_int_equal(h->exts[4], 0x0010);
	assert_int_equal(h->n_alpn, 2);
	assert_string_equal(h->alpn[0], "h2");
	assert_string_equal(h->alpn[1], "http/1.1");
	assert_int_equal(h->alpn_len[1], 8);
	assert_int_equal(h->sni_len, 9);
	assert_int_equal(h->grease, 0);
	free(b);

	b = unhex(vec_find("openssl_tls12")->hex, &len);
	assert_int_equal(tls_hello_parse(b, len, h, NULL, 0), 0);
	assert_int_equal(h->max_version, 0x0303);
	assert_int_equal(h->n_versions, 0);
	assert_int_equal(h->ja4[1], '1');
	assert_int_equal(h->ja4[2], '2');
	free(b);
	free(h);
}

static void test_grease(void **state)
{
	(void)state;
	struct tls_hello *h = hello_new(), *plain = hello_new();
	size_t len;
	uint8_t *b = unhex(vec_find("grease")->hex, &len);
	assert_int_equal(tls_hello_parse(b, len, h, NULL, 0), 0);
	free(b);
	b = unhex(vec_find("openssl_alpn")->hex, &len);
	assert_int_equal(tls_hello_parse(b, len, plain, NULL, 0), 0);
	free(b);

	assert_int_equal(h->grease, TLS_GREASE_CIPHER | TLS_GREASE_EXT | TLS_GREASE_GROUP |
	                                TLS_GREASE_VERSION);
	/* Kept in the lists as sent ... */
	assert_int_equal(h->ciphers[0], 0x3a3a);
	assert_int_equal(h->n_ciphers, plain->n_ciphers + 1);
	assert_int_equal(h->exts[0], 0xdada);
	assert_int_equal(h->exts[h->n_exts - 1], 0x1a1a);
	assert_int_equal(h->groups[0], 0x8a8a);
	assert_int_equal(h->versions[0], 0x7a7a);
	assert_int_equal(h->max_version, 0x0304);
	/* ... and out of every fingerprint (tshark agrees for JA3). */
	assert_string_equal(h->ja3, plain->ja3);
	assert_string_equal(h->ja4, plain->ja4);
	assert_string_equal(h->ja4_r, plain->ja4_r);

	for (unsigned v = 0; v <= 0xffff; v++) {
		int g = (v & 0xff) == (v >> 8) && (v & 0x0f) == 0x0a;
		assert_int_equal(tls_grease_is((uint16_t)v), g);
	}
	free(h);
	free(plain);
}

/* ---- hellos built to order ---- */

struct hb {
	uint8_t b[70000];
	size_t len;
};

static void hb_u8(struct hb *w, unsigned v)
{
	w->b[w->len++] = (uint8_t)v;
}
static void hb_u16(struct hb *w, unsigned v)
{
	hb_u8(w, v >> 8);
	hb_u8(w, v & 0xff);
}
static void hb_mem(struct hb *w, const void *p, size_t n)
{
	memcpy(w->b + w->len, p, n);
	w->len += n;
}

/*
 * A one-record ClientHello with the given cipher list bytes (with their
 * length prefix) and extension block bytes (without the outer length; NULL
 * = no extension block at all).
 */
static size_t build_hello(uint8_t *out, const uint8_t *ciphers, size_t clen,
                          const uint8_t *exts, size_t elen)
{
	struct hb *w = calloc(1, sizeof(*w));
	assert_non_null(w);
	hb_u8(w, 22);
	hb_u16(w, 0x0301);
	hb_u16(w, 0); /* record length, patched */
	hb_u8(w, 1);
	hb_u8(w, 0);
	hb_u16(w, 0); /* handshake length, patched */
	hb_u16(w, 0x0303);
	for (int i = 0; i < 32; i++)
		hb_u8(w, (unsigned)i);
	hb_u8(w, 0); /* session id */
	hb_mem(w, ciphers, clen);
	hb_u8(w, 1);
	hb_u8(w, 0); /* null compression */
	if (exts != NULL) {
		hb_u16(w, (unsigned)elen);
		hb_mem(w, exts, elen);
	}
	size_t body = w->len - 9;
	w->b[3] = (uint8_t)((body + 4) >> 8);
	w->b[4] = (uint8_t)(body + 4);
	w->b[6] = (uint8_t)(body >> 16);
	w->b[7] = (uint8_t)(body >> 8);
	w->b[8] = (uint8_t)body;
	memcpy(out, w->b, w->len);
	size_t n = w->len;
	free(w);
	return n;
}

static const uint8_t two_ciphers[] = {0x00, 0x04, 0x00, 0x2f, 0x00, 0x35};

#define EXT(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

static int parse_exts(const uint8_t *exts, size_t elen, struct tls_hello *h)
{
	uint8_t *buf = malloc(70000);
	size_t len = build_hello(buf, two_ciphers, sizeof(two_ciphers), exts, elen);
	/* Exact-size copy so that ASan catches any read past the end. */
	uint8_t *exact = malloc(len);
	memcpy(exact, buf, len);
	char err[128];
	int rc = tls_hello_parse(exact, len, h, err, sizeof(err));
	free(exact);
	free(buf);
	return rc;
}

static void test_no_extensions(void **state)
{
	(void)state;
	struct tls_hello *h = hello_new();
	uint8_t buf[256];
	size_t len = build_hello(buf, two_ciphers, sizeof(two_ciphers), NULL, 0);
	assert_int_equal(tls_hello_parse(buf, len, h, NULL, 0), 0);
	assert_string_equal(h->ja3, "771,47-53,,,");
	assert_int_equal(h->n_exts, 0);
	assert_string_equal(h->ja4, "t12i020000_f54dd463d39b_000000000000");
	assert_string_equal(h->ja4_r, "t12i020000_002f,0035_");
	/* An empty extension block is the same fingerprint. */
	assert_int_equal(parse_exts(NULL, 0, h), 0);
	free(h);
}

/* The FoxIO spec's worked example, rebuilt as a real hello. */
static void test_ja4_spec_example(void **state)
{
	(void)state;
	struct tls_hello *h = hello_new();
	static const uint8_t ciphers[] = {0x00, 0x1e, 0x13, 0x01, 0x13, 0x02, 0x13, 0x03,
	                                  0xc0, 0x2b, 0xc0, 0x2f, 0xc0, 0x2c, 0xc0, 0x30,
	                                  0xcc, 0xa9, 0xcc, 0xa8, 0xc0, 0x13, 0xc0, 0x14,
	                                  0x00, 0x9c, 0x00, 0x9d, 0x00, 0x2f, 0x00, 0x35};
	static const uint16_t order[] = {0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017,
	                                 0x002d, 0x000d, 0x0005, 0x0023, 0x0012, 0x002b,
	                                 0xff01, 0x000b, 0x000a, 0x0015};
	static const uint8_t sni[] = {0x00, 0x0e, 0x00, 0x00, 0x0b, 'e', 'x', 'a',
	                              'm',  'p',  'l',  'e',  '.',  'c', 'o', 'm'};
	static const uint8_t alpn[] = {0x00, 0x0c, 0x02, 'h', '2', 0x08, 'h',
	                               't',  't',  'p',  '/', '1', '.',  '1'};
	static const uint8_t sigs[] = {0x00, 0x10, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01, 0x05,
	                               0x03, 0x08, 0x05, 0x05, 0x01, 0x08, 0x06, 0x06, 0x01};
	static const uint8_t vers[] = {0x04, 0x03, 0x04, 0x03, 0x03};
	static const uint8_t groups[] = {0x00, 0x04, 0x00, 0x1d, 0x00, 0x17};
	static const uint8_t pf[] = {0x01, 0x00};
	struct hb *w = calloc(1, sizeof(*w));
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		const uint8_t *d = NULL;
		size_t n = 0;
		switch (order[i]) {
		case 0x0000:
			d = sni;
			n = sizeof(sni);
			break;
		case 0x0010:
			d = alpn;
			n = sizeof(alpn);
			break;
		case 0x000d:
			d = sigs;
			n = sizeof(sigs);
			break;
		case 0x002b:
			d = vers;
			n = sizeof(vers);
			break;
		case 0x000a:
			d = groups;
			n = sizeof(groups);
			break;
		case 0x000b:
			d = pf;
			n = sizeof(pf);
			break;
		}
		hb_u16(w, order[i]);
		hb_u16(w, (unsigned)n);
		if (n)
			hb_mem(w, d, n);
	}
	uint8_t *buf = malloc(70000);
	size_t len = build_hello(buf, ciphers, sizeof(ciphers), w->b, w->len);
	assert_int_equal(tls_hello_parse(buf, len, h, NULL, 0), 0);
	assert_string_equal(h->ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
	assert_string_equal(h->ja4_r,
	                    "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,"
	                    "c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,"
	                    "002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601");
	assert_string_equal(h->sni, "example.com");
	free(buf);
	free(w);
	free(h);
}

/* JA4's ALPN characters for odd first values (spec examples). */
static void test_ja4_alpn(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		size_t len;
		const char *want;
	} cases[] = {
	    {"h2", 2, "h2"},
	    {"http/1.1", 8, "h1"},
	    {"h", 1, "hh"},
	    {"\xab", 1, "ab"},
	    {"\xab\xcd", 2, "ad"},
	    {"0\xab", 2, "3b"},
	    {"01\xab\xcd", 4, "3d"},
	    {"0\xab\xcd"
	     "1",
	     4, "01"},
	    {"", 0, "00"},
	    {"\x0a\x0a", 2, "h2"}, /* GREASE first: skipped, the next one counts */
	};
	struct tls_hello *h = hello_new();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t e[64];
		size_t n = cases[i].len, k = 0;
		int grease = n == 2 && cases[i].name[0] == 0x0a;
		size_t list = 1 + n + (grease ? 3 : 0);
		e[k++] = 0x00;
		e[k++] = 0x10;
		e[k++] = 0;
		e[k++] = (uint8_t)(list + 2);
		e[k++] = 0;
		e[k++] = (uint8_t)list;
		e[k++] = (uint8_t)n;
		memcpy(e + k, cases[i].name, n);
		k += n;
		if (grease) {
			memcpy(e + k, "\x02h2", 3);
			k += 3;
		}
		assert_int_equal(parse_exts(e, k, h), 0);
		if (strncmp(h->ja4 + 8, cases[i].want, 2) != 0)
			fail_msg("case %zu: %s", i, h->ja4);
	}
	free(h);
}

static void test_ja4_counts_cap(void **state)
{
	(void)state;
	/* 150 ciphers, 120 extensions: both show as 99. */
	uint8_t c[2 + 300], e[4 * 120];
	c[0] = 0x01;
	c[1] = 0x2c;
	for (int i = 0; i < 150; i++) {
		c[2 + 2 * i] = 0xc0;
		c[3 + 2 * i] = (uint8_t)i;
	}
	for (int i = 0; i < 120; i++) {
		e[4 * i] = 0x10;
		e[4 * i + 1] = (uint8_t)i;
		e[4 * i + 2] = 0;
		e[4 * i + 3] = 0;
	}
	uint8_t *buf = malloc(70000);
	struct tls_hello *h = hello_new();
	size_t len = build_hello(buf, c, sizeof(c), e, sizeof(e));
	assert_int_equal(tls_hello_parse(buf, len, h, NULL, 0), 0);
	assert_memory_equal(h->ja4, "t12i9999", 8);
	assert_int_equal(h->n_ciphers, 150);
	assert_int_equal(h->n_exts, 120);
	free(buf);
	free(h);
}

/* Lists past the caps are cut and flagged, never overflowed. */
static void test_caps(void **state)
{
	(void)state;
	size_t nc = 2000, ne = 400;
	uint8_t *c = malloc(2 + 2 * nc), *e = malloc(4 * ne + 600);
	c[0] = (uint8_t)((2 * nc) >> 8);
	c[1] = (uint8_t)(2 * nc);
	for (size_t i = 0; i < nc; i++) {
		c[2 + 2 * i] = (uint8_t)(i >> 8);
		c[3 + 2 * i] = (uint8_t)i;
	}
	size_t k = 0;
	for (size_t i = 0; i < ne; i++) {
		e[k++] = (uint8_t)((0x1000 + i) >> 8);
		e[k++] = (uint8_t)(0x1000 + i);
		e[k++] = 0;
		e[k++] = 0;
	}
	/* ALPN with 40 names, last of all extensions. */
	e[k++] = 0x00;
	e[k++] = 0x10;
	e[k++] = 0;
	e[k++] = 2 + 40 * 3;
	e[k++] = 0;
	e[k++] = 40 * 3;
	for (int i = 0; i < 40; i++) {
		e[k++] = 2;
		e[k++] = 'a';
		e[k++] = (uint8_t)('A' + i);
	}
	uint8_t *buf = malloc(70000);
	struct tls_hello *h = hello_new();
	size_t len = build_hello(buf, c, 2 + 2 * nc, e, k);
	assert_int_equal(tls_hello_parse(buf, len, h, NULL, 0), 0);
	assert_int_equal(h->n_ciphers, TLS_HELLO_MAX_CIPHERS);
	assert_int_equal(h->n_exts, TLS_HELLO_MAX_EXTS);
	assert_int_equal(h->n_alpn, TLS_HELLO_MAX_ALPN);
	assert_true(h->anomalies & TLS_HELLO_A_TRUNCATED);
	assert_true(strlen(h->ja3) < sizeof(h->ja3));
	assert_memory_equal(h->ja4, "t12i9999aA", 10);
	free(buf);
	free(c);
	free(e);
	free(h);
}

static void test_sni_odd(void **state)
{
	(void)state;
	struct tls_hello *h = hello_new();

	/* Zero-length host_name: structure holds; flagged, still 'd' in JA4. */
	assert_int_equal(parse_exts(EXT(0, 0, 0, 5, 0, 3, 0, 0, 0), h), 0);
	assert_true(h->has_sni);
	assert_int_equal(h->sni_len, 0);
	assert_true(h->anomalies & TLS_HELLO_A_SNI_EMPTY);
	assert_int_equal(h->ja4[3], 'd');

	/* Empty server_name extension (what servers send back). */
	assert_int_equal(parse_exts(EXT(0, 0, 0, 0), h), 0);
	assert_true(h->has_sni);
	assert_true(h->anomalies & TLS_HELLO_A_SNI_EMPTY);

	/* A name of another type only. */
	assert_int_equal(parse_exts(EXT(0, 0, 0, 6, 0, 4, 7, 0, 1, 'x'), h), 0);
	assert_int_equal(h->sni_len, 0);
	assert_true(h->anomalies & TLS_HELLO_A_SNI_EMPTY);

	/* Hostile bytes are kept as sent, length and all, and flagged. */
	assert_int_equal(
	    parse_exts(
	        EXT(0, 0, 0, 14, 0, 12, 0, 0, 9, '.', '.', '/', '.', '.', '/', 'a', 0, 'b'), h),
	    0);
	assert_int_equal(h->sni_len, 9);
	assert_memory_equal(h->sni,
	                    "../..\x2f"
	                    "a\0b",
	                    9);
	assert_true(h->anomalies & TLS_HELLO_A_SNI_BYTES);

	/* 300-byte name: cut to TLS_HELLO_SNI_LEN. */
	uint8_t e[4 + 5 + 300];
	memcpy(e, "\x00\x00\x01\x31\x01\x2f\x00\x01\x2c", 9);
	memset(e + 9, 'a', 300);
	assert_int_equal(parse_exts(e, sizeof(e), h), 0);
	assert_int_equal(h->sni_len, TLS_HELLO_SNI_LEN);
	assert_int_equal(strlen(h->sni), TLS_HELLO_SNI_LEN);
	assert_true(h->anomalies & TLS_HELLO_A_SNI_LONG);

	/* The same extension twice: flagged, the later one is kept. */
	assert_int_equal(
	    parse_exts(EXT(0, 0, 0, 6, 0, 4, 0, 0, 1, 'a', 0, 0, 0, 6, 0, 4, 0, 0, 1, 'b'), h),
	    0);
	assert_true(h->anomalies & TLS_HELLO_A_DUP_EXT);
	assert_string_equal(h->sni, "b");
	assert_int_equal(h->n_exts, 2);

	/* Zero-length ALPN name. */
	assert_int_equal(parse_exts(EXT(0, 0x10, 0, 3, 0, 1, 0), h), 0);
	assert_true(h->anomalies & TLS_HELLO_A_ALPN_EMPTY);
	assert_memory_equal(h->ja4 + 8, "00", 2);
	free(h);
}

static void test_not_tls(void **state)
{
	(void)state;
	static const struct {
		const char *b;
		size_t len;
	} cases[] = {
	    {"GET / HTTP/1.1\r\n", 16},
	    {"SSH-2.0-OpenSSH_9.2p1\r\n", 23},
	    {"\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10", 11}, /* SSLv2 hello */
	    {"\x16\x02", 2},
	    {"\x16\x03\x09", 3},
	    {"\x15\x03\x03\x00\x02\x02\x28", 7}, /* alert */
	    {"\x17\x03\x03\x00\x01\x00", 6},
	    {"\x00", 1},
	};
	struct tls_hello *h = hello_new();
	char err[128];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = tls_hello_parse((const uint8_t *)cases[i].b, cases[i].len, h, err,
		                         sizeof(err));
		if (rc != -EPROTONOSUPPORT)
			fail_msg("case %zu: %d", i, rc);
		assert_true(err[0] != '\0');
	}
	assert_int_equal(tls_hello_parse(NULL, 0, h, NULL, 0), -EAGAIN);
	assert_int_equal(tls_hello_parse((const uint8_t *)"\x16", 1, h, NULL, 0), -EAGAIN);
	assert_int_equal(tls_hello_parse((const uint8_t *)"\x16\x03", 2, h, NULL, 0), -EAGAIN);
	assert_int_equal(tls_hello_parse((const uint8_t *)"\x16\x03\x01\x02", 4, h, NULL, 0),
	                 -EAGAIN);
	free(h);
}

/* Record and handshake framing errors are told apart from "need more". */
static void test_malformed_framing(void **state)
{
	(void)state;
	static const struct {
		const char *b;
		size_t len;
	} cases[] = {
	    {"\x16\x03\x01\x00\x00", 5},                 /* empty record */
	    {"\x16\x03\x01\x40\x01\x01", 6},             /* record over 2^14 */
	    {"\x16\x03\x01\xff\xff\x01", 6},             /* huge record length */
	    {"\x16\x03\x01\x00\x10\x02", 6},             /* ServerHello, not ClientHello */
	    {"\x16\x03\x01\x00\x10\x01\xff\xff\xff", 9}, /* huge handshake length */
	    {"\x16\x03\x01\x00\x10\x01\x00\x40\x01", 9}, /* just over TLS_HELLO_MAX_LEN */
	    /* hello continues into an application-data record */
	    {"\x16\x03\x01\x00\x04\x01\x00\x00\x30\x17\x03\x03\x00\x01\x00", 15},
	    /* ... into a record of another major version */
	    {"\x16\x03\x01\x00\x04\x01\x00\x00\x30\x16\x04", 11},
	    /* ... into an empty record */
	    {"\x16\x03\x01\x00\x02\x01\x00\x16\x03\x01\x00\x00", 12},
	};
	struct tls_hello *h = hello_new();
	char err[128];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		int rc = tls_hello_parse((const uint8_t *)cases[i].b, cases[i].len, h, err,
		                         sizeof(err));
		if (rc != -EBADMSG)
			fail_msg("case %zu: %d", i, rc);
		assert_true(err[0] != '\0');
	}
	/* A full 16 KiB hello body is still accepted in framing (then -EAGAIN). */
	assert_int_equal(
	    tls_hello_parse((const uint8_t *)"\x16\x03\x01\x40\x00\x01\x00\x40\x00", 9, h, NULL,
	                    0),
	    -EAGAIN);
	/* Exactly TLS_HELLO_MAX_RECORDS one-byte records, then one more. */
	uint8_t many[6 * (TLS_HELLO_MAX_RECORDS + 1)];
	for (int i = 0; i <= TLS_HELLO_MAX_RECORDS; i++)
		memcpy(many + 6 * i, "\x16\x03\x01\x00\x01\x00", 6);
	many[5] = 0x01;         /* ClientHello, */
	many[6 * 3 + 5] = 0x80; /* body length 128: more records than allowed */
	assert_int_equal(tls_hello_parse(many, 6 * TLS_HELLO_MAX_RECORDS, h, NULL, 0), -EAGAIN);
	assert_int_equal(tls_hello_parse(many, sizeof(many), h, NULL, 0), -EBADMSG);
	free(h);
}

/* Broken lengths inside the hello and its extensions. */
static void test_malformed_body(void **state)
{
	(void)state;
	struct tls_hello *h = hello_new();
	const struct {
		const char *what;
		const uint8_t *e;
		size_t len;
	} cases[] = {
	    {"ext header cut", EXT(0, 0x0a, 0)},
	    {"ext length overruns", EXT(0, 0x0a, 0, 9, 0, 2, 0, 0x1d)},
	    {"sni list too long", EXT(0, 0, 0, 6, 0, 5, 0, 0, 1, 'a')},
	    {"sni list too short", EXT(0, 0, 0, 6, 0, 3, 0, 0, 1, 'a')},
	    {"sni name overruns", EXT(0, 0, 0, 6, 0, 4, 0, 0, 9, 'a')},
	    {"sni entry cut", EXT(0, 0, 0, 4, 0, 2, 0, 0)},
	    {"sni name 0xffff", EXT(0, 0, 0, 5, 0, 3, 0, 0xff, 0xff)},
	    {"alpn entry overruns", EXT(0, 0x10, 0, 5, 0, 3, 5, 'h', '2')},
	    {"alpn list mismatch", EXT(0, 0x10, 0, 5, 0, 2, 2, 'h', '2')},
	    {"groups odd", EXT(0, 0x0a, 0, 5, 0, 3, 0, 0x1d, 0)},
	    {"groups list mismatch", EXT(0, 0x0a, 0, 4, 0, 4, 0, 0x1d)},
	    {"sigalgs odd", EXT(0, 0x0d, 0, 3, 0, 1, 4)},
	    {"versions odd", EXT(0, 0x2b, 0, 4, 3, 3, 4, 3)},
	    {"versions length", EXT(0, 0x2b, 0, 3, 4, 3, 4)},
	    {"point formats mismatch", EXT(0, 0x0b, 0, 2, 2, 0)},
	    {"point formats trailing", EXT(0, 0x0b, 0, 3, 1, 0, 0)},
	    {"ext 0xffff length", EXT(0xff, 0x01, 0xff, 0xff, 0)},
	};
	char err[128];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t *buf = malloc(70000);
		size_t len = build_hello(buf, two_ciphers, sizeof(two_ciphers), cases[i].e,
		                         cases[i].len);
		int rc = tls_hello_parse(buf, len, h, err, sizeof(err));
		if (rc != -EBADMSG)
			fail_msg("%s: %d", cases[i].what, rc);
		free(buf);
	}

	/* Outer extension length one too long / one too short. */
	uint8_t *buf = malloc(70000);
	size_t len = build_hello(buf, two_ciphers, sizeof(two_ciphers), EXT(0, 0x17, 0, 0));
	buf[len - 5]++;
	assert_int_equal(tls_hello_parse(buf, len, h, err, sizeof(err)), -EBADMSG);
	buf[len - 5] -= 2;
	assert_int_equal(tls_hello_parse(buf, len, h, err, sizeof(err)), -EBADMSG);

	/* Odd cipher list, overrunning cipher list, session id over 32. */
	static const uint8_t odd[] = {0x00, 0x03, 0x00, 0x2f, 0x00};
	len = build_hello(buf, odd, sizeof(odd), NULL, 0);
	assert_int_equal(tls_hello_parse(buf, len, h, err, sizeof(err)), -EBADMSG);
	static const uint8_t over[] = {0xff, 0xfe, 0x00, 0x2f};
	len = build_hello(buf, over, sizeof(over), NULL, 0);
	assert_int_equal(tls_hello_parse(buf, len, h, err, sizeof(err)), -EBADMSG);
	len = build_hello(buf, two_ciphers, sizeof(two_ciphers), NULL, 0);
	buf[9 + 34] = 33;
	assert_int_equal(tls_hello_parse(buf, len, h, err, sizeof(err)), -EBADMSG);
	free(buf);
	free(h);
}

/*
 * A real hello whose framing claims it ends early, at every byte: the body
 * is cut but the lengths say "complete". Must parse or be -EBADMSG, never
 * -EAGAIN, never read past the end.
 */
static void test_truncated_every_byte(void **state)
{
	(void)state;
	struct tls_hello *h = hello_new();
	for (size_t i = 0; i < NVEC; i++) {
		if (strcmp(vectors[i].name, "openssl_split") == 0)
			continue;
		size_t len;
		uint8_t *b = unhex(vectors[i].hex, &len);
		size_t body = len - 9;
		int ok = 0;
		for (size_t k = 0; k < body; k++) {
			uint8_t *p = malloc(9 + k);
			memcpy(p, b, 9 + k);
			p[3] = (uint8_t)((k + 4) >> 8);
			p[4] = (uint8_t)(k + 4);
			p[6] = 0;
			p[7] = (uint8_t)(k >> 8);
			p[8] = (uint8_t)k;
			int rc = tls_hello_parse(p, 9 + k, h, NULL, 0);
			if (rc != 0 && rc != -EBADMSG)
				fail_msg("%s cut at %zu: %d", vectors[i].name, k, rc);
			ok += rc == 0;
			if (k < 2 + 32 + 1)
				assert_int_equal(rc, -EBADMSG);
			free(p);
		}
		/* Only the cut right before the extensions is a valid hello. */
		assert_int_equal(ok, 1);
		free(b);
	}
	free(h);
}

static void test_event_fields(void **state)
{
	(void)state;
	struct tls_hello *h = hello_new();
	size_t len;
	const struct tls_vec *v = vec_find("curl_sni");
	uint8_t *b = unhex(v->hex, &len);
	assert_int_equal(tls_hello_parse(b, len, h, NULL, 0), 0);

	struct evbuf eb;
	struct ev_field f;
	evbuf_init(&eb);
	ev_begin(&eb, "trap", 0);
	tls_hello_event_fields(h, &eb);
	ev_end(&eb);
	assert_true(ev_record_check(eb.data, eb.len) == (long)eb.len);

	assert_true(ev_find(eb.data, eb.len, "tls.sni", &f));
	assert_int_equal(f.strlen, strlen(v->sni));
	assert_memory_equal(f.str, v->sni, f.strlen);
	assert_true(ev_find(eb.data, eb.len, "tls.version", &f));
	assert_memory_equal(f.str, "TLS 1.3", f.strlen);
	assert_true(ev_find(eb.data, eb.len, "tls.ja3.hash", &f));
	assert_memory_equal(f.str, v->ja3_hash, 32);
	assert_true(ev_find(eb.data, eb.len, "tls.ja3.string", &f));
	assert_int_equal(f.strlen, strlen(v->ja3));
	assert_true(ev_find(eb.data, eb.len, "tls.ja4", &f));
	assert_memory_equal(f.str, v->ja4, 36);
	assert_true(ev_find(eb.data, eb.len, "tls.alpn", &f));
	assert_int_equal(f.kind, EV_ARR);

	/* The array holds "h2", "http/1.1". */
	struct ev_reader r;
	int in = 0, n = 0;
	ev_reader_init(&r, eb.data, eb.len);
	while (ev_reader_next(&r, &f)) {
		if (f.kind == EV_ARR && f.keylen == 4 && memcmp(f.key, "alpn", 4) == 0)
			in = 1;
		else if (in && f.kind == EV_END)
			in = 0;
		else if (in && f.kind == EV_STR)
			assert_memory_equal(f.str, n++ ? "http/1.1" : "h2", f.strlen);
	}
	assert_int_equal(n, 2);
	free(b);

	/* No SNI, no ALPN: neither key appears. */
	b = unhex(vec_find("openssl_nosni")->hex, &len);
	assert_int_equal(tls_hello_parse(b, len, h, NULL, 0), 0);
	evbuf_reset(&eb);
	ev_begin(&eb, "trap", 0);
	tls_hello_event_fields(h, &eb);
	ev_end(&eb);
	assert_false(ev_find(eb.data, eb.len, "tls.sni", &f));
	assert_false(ev_find(eb.data, eb.len, "tls.alpn", &f));
	assert_true(ev_find(eb.data, eb.len, "tls.ja4", &f));
	evbuf_free(&eb);
	free(b);
	free(h);
}

/* A host_name with a NUL, a backslash or other bytes: the event shows them as \xNN,
 * so that no reader takes "paypal.com\0.evil.example" for "paypal.com". */
static void test_event_sni_escaped(void **state)
{
	(void)state;
	struct tls_hello *h = hello_new();
	struct evbuf eb;
	struct ev_field f;
	static const char want[] = "paypal.com\\x00.evil.ex\\x5cm\\xff\\x0a";
	/* "paypal.com\0.evil.ex\\m\xff\n": 23 bytes */
	assert_int_equal(parse_exts(EXT(0, 0, 0, 28, 0, 26, 0, 0, 23, 'p', 'a', 'y', 'p', 'a',
	                                'l', '.', 'c', 'o', 'm', 0, '.', 'e', 'v', 'i', 'l',
	                                '.', 'e', 'x', '\\', 'm', 0xff, '\n'),
	                            h),
	                 0);
	assert_int_equal(h->sni_len, 23);
	evbuf_init(&eb);
	ev_begin(&eb, "trap", 0);
	tls_hello_event_fields(h, &eb);
	ev_end(&eb);
	assert_true(ev_record_check(eb.data, eb.len) == (long)eb.len);
	assert_true(ev_find(eb.data, eb.len, "tls.sni", &f));
	assert_int_equal(f.strlen, strlen(want));
	assert_memory_equal(f.str, want, f.strlen);

	/* The longest name there is, all of it escaped, fits. */
	uint8_t e[4 + 5 + TLS_HELLO_SNI_LEN];
	memcpy(e, "\x00\x00\x01\x04\x01\x02\x00\x00\xff", 9);
	memset(e + 9, 0, TLS_HELLO_SNI_LEN);
	assert_int_equal(parse_exts(e, sizeof(e), h), 0);
	assert_int_equal(h->sni_len, TLS_HELLO_SNI_LEN);
	evbuf_reset(&eb);
	ev_begin(&eb, "trap", 0);
	tls_hello_event_fields(h, &eb);
	ev_end(&eb);
	assert_true(ev_find(eb.data, eb.len, "tls.sni", &f));
	assert_int_equal(f.strlen, 4 * TLS_HELLO_SNI_LEN);
	assert_memory_equal(f.str, "\\x00\\x00", 8);
	evbuf_free(&eb);
	free(h);
}

static void test_version_name(void **state)
{
	(void)state;
	char b[16];
	assert_string_equal(tls_version_name(0x0304, b, sizeof(b)), "TLS 1.3");
	assert_string_equal(tls_version_name(0x0301, b, sizeof(b)), "TLSv1");
	assert_string_equal(tls_version_name(0x0300, b, sizeof(b)), "SSLv3");
	assert_string_equal(tls_version_name(0x7f1c, b, sizeof(b)), "0x7f1c");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors),
	    cmocka_unit_test(test_vectors_prefixes),
	    cmocka_unit_test(test_vectors_followed),
	    cmocka_unit_test(test_records_recut),
	    cmocka_unit_test(test_split_vector),
	    cmocka_unit_test(test_fields),
	    cmocka_unit_test(test_grease),
	    cmocka_unit_test(test_no_extensions),
	    cmocka_unit_test(test_ja4_spec_example),
	    cmocka_unit_test(test_ja4_alpn),
	    cmocka_unit_test(test_ja4_counts_cap),
	    cmocka_unit_test(test_caps),
	    cmocka_unit_test(test_sni_odd),
	    cmocka_unit_test(test_not_tls),
	    cmocka_unit_test(test_malformed_framing),
	    cmocka_unit_test(test_malformed_body),
	    cmocka_unit_test(test_truncated_every_byte),
	    cmocka_unit_test(test_event_fields),
	    cmocka_unit_test(test_event_sni_escaped),
	    cmocka_unit_test(test_version_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

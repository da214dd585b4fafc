/*
 * SSH identification line, KEXINIT and HASSH: what the OpenSSH client and
 * libssh2 really sent (data/ssh_vectors.inc, made by data/capture_ssh.py;
 * HASSH as tshark computed it), and packets built here to break each length.
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

#include <openssl/evp.h>

#include "common/event.h"
#include "trap/sshbanner.h"

struct ssh_vec {
	const char *name;
	const char *hex;
	const char *banner; /* tshark's ssh.protocol */
	size_t banner_len;  /* bytes of the line, CR LF included */
	const char *hassh, *hassh_string;
};

static const struct ssh_vec vectors[] = {
#include "data/ssh_vectors.inc"
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

/* Parse from an exact-size copy so that ASan sees any overread. */
static int banner_parse(const void *p, size_t len, struct ssh_banner *b)
{
	uint8_t *c = malloc(len ? len : 1);
	memcpy(c, p, len);
	char err[128];
	int rc = ssh_banner_parse(c, len, b, err, sizeof(err));
	free(c);
	return rc;
}

static int kex_parse(const void *p, size_t len, struct ssh_kexinit *k)
{
	uint8_t *c = malloc(len ? len : 1);
	memcpy(c, p, len);
	char err[128];
	int rc = ssh_kexinit_parse(c, len, k, err, sizeof(err));
	free(c);
	return rc;
}

static void test_vectors(void **state)
{
	(void)state;
	struct ssh_banner b;
	struct ssh_kexinit *k = malloc(sizeof(*k));
	for (size_t i = 0; i < NVEC; i++) {
		const struct ssh_vec *v = &vectors[i];
		size_t len;
		uint8_t *buf = unhex(v->hex, &len);
		assert_int_equal(banner_parse(buf, len, &b), 0);
		assert_string_equal(b.line, v->banner);
		assert_int_equal(b.consumed, v->banner_len);
		assert_string_equal(b.proto_version, "2.0");
		assert_int_equal(b.anomalies, 0);
		assert_int_equal(kex_parse(buf + b.consumed, len - b.consumed, k), 0);
		assert_int_equal(k->packet_len, len - b.consumed);
		assert_string_equal(k->hassh, v->hassh);
		assert_string_equal(k->hassh_string, v->hassh_string);
		assert_int_equal(k->anomalies, 0);
		assert_int_equal(k->first_kex_follows, 0);
		free(buf);
	}
	free(k);
}

static void test_vector_fields(void **state)
{
	(void)state;
	struct ssh_banner b;
	struct ssh_kexinit *k = malloc(sizeof(*k));
	size_t len;
	uint8_t *buf = unhex(vectors[0].hex, &len);
	assert_string_equal(vectors[0].name, "openssh");
	assert_int_equal(banner_parse(buf, len, &b), 0);
	assert_string_equal(b.software_version, "OpenSSH_9.2p1");
	assert_true(b.has_comments);
	assert_string_equal(b.comments, "Debian-2+deb12u6");
	assert_int_equal(kex_parse(buf + b.consumed, len - b.consumed, k), 0);
	assert_true(strncmp(k->lists[SSH_HOSTKEY], "ssh-ed25519-cert-v01@openssh.com,", 33) ==
	            0);
	assert_string_equal(k->lists[SSH_COMP_C2S], "none,zlib@openssh.com,zlib");
	assert_string_equal(k->lists[SSH_ENC_C2S], k->lists[SSH_ENC_S2C]);
	assert_int_equal(k->list_len[SSH_LANG_C2S], 0);
	assert_true(strstr(k->lists[SSH_KEX], "kex-strict-c-v00@openssh.com") != NULL);
	free(buf);

	buf = unhex(vectors[2].hex, &len);
	assert_string_equal(vectors[2].name, "libssh2");
	assert_int_equal(banner_parse(buf, len, &b), 0);
	assert_string_equal(b.software_version, "libssh2_1.10.0");
	assert_false(b.has_comments);
	assert_int_equal(kex_parse(buf + b.consumed, len - b.consumed, k), 0);
	assert_string_equal(k->lists[SSH_COMP_C2S], "none");
	assert_true(strstr(k->lists[SSH_HOSTKEY], "ssh-dss") != NULL);
	free(buf);
	free(k);
}

static void test_vector_prefixes(void **state)
{
	(void)state;
	struct ssh_banner b;
	struct ssh_kexinit *k = malloc(sizeof(*k));
	for (size_t i = 0; i < NVEC; i++) {
		size_t len;
		uint8_t *buf = unhex(vectors[i].hex, &len);
		size_t bl = vectors[i].banner_len;
		for (size_t n = 0; n < bl; n++)
			assert_int_equal(banner_parse(buf, n, &b), -EAGAIN);
		for (size_t n = 0; n < len - bl; n++)
			if (kex_parse(buf + bl, n, k) != -EAGAIN)
				fail_msg("%s: KEXINIT prefix %zu", vectors[i].name, n);
		/* The whole stream at once: the banner stops at its LF. */
		assert_int_equal(banner_parse(buf, len, &b), 0);
		assert_int_equal(b.consumed, bl);
		free(buf);
	}
	free(k);
}

static void test_banner_cases(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		size_t len; /* 0: strlen(in) */
		int rc;
		const char *proto, *software, *comments;
		unsigned anomalies, prelines;
	} cases[] = {
	    {"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", 0, 0, "2.0", "OpenSSH_9.2p1", "Debian-2", 0,
	     0},
	    {"SSH-2.0-Go\r\n", 0, 0, "2.0", "Go", NULL, 0, 0},
	    {"SSH-1.99-PuTTY_Release_0.78\r\n", 0, 0, "1.99", "PuTTY_Release_0.78", NULL, 0, 0},
	    {"SSH-2.0-libssh_0.9.6\n", 0, 0, "2.0", "libssh_0.9.6", NULL, SSH_BANNER_A_BARE_LF,
	     0},
	    {"SSH-2.0-\r\n", 0, 0, "2.0", "", NULL, SSH_BANNER_A_NO_SOFTWARE, 0},
	    {"SSH-2.0-x y z\r\n", 0, 0, "2.0", "x", "y z", 0, 0},
	    {"SSH-2.0-x\xff\r\n", 0, 0, "2.0", "x\xff", NULL, SSH_BANNER_A_BYTES, 0},
	    {"hello\r\n\r\nworld\tx\r\nSSH-2.0-bot\r\n", 0, 0, "2.0", "bot", NULL,
	     SSH_BANNER_A_PRELINES, 3},
	    {"SS\nSSH-2.0-bot\r\n", 0, 0, "2.0", "bot", NULL, SSH_BANNER_A_PRELINES, 1},
	    /* malformed */
	    {"SSH-2.0\r\n", 0, -EBADMSG, NULL, NULL, NULL, 0, 0},
	    {"SSH--x\r\n", 0, -EBADMSG, NULL, NULL, NULL, 0, 0},
	    {"SSH-\r\n", 0, -EBADMSG, NULL, NULL, NULL, 0, 0},
	    /* not SSH */
	    {"\x16\x03\x01\x02\x00\x01", 6, -EPROTONOSUPPORT, NULL, NULL, NULL, 0, 0},
	    {"hello\r\n\x00", 8, -EPROTONOSUPPORT, NULL, NULL, NULL, 0, 0},
	    {"\x80", 0, -EPROTONOSUPPORT, NULL, NULL, NULL, 0, 0},
	    /* need more */
	    {"", 0, -EAGAIN, NULL, NULL, NULL, 0, 0},
	    {"S", 0, -EAGAIN, NULL, NULL, NULL, 0, 0},
	    {"SSH-2.0-Open", 0, -EAGAIN, NULL, NULL, NULL, 0, 0},
	    {"hello\r\n", 0, -EAGAIN, NULL, NULL, NULL, 0, 0},
	};
	struct ssh_banner b;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);
		int rc = banner_parse(cases[i].in, len, &b);
		if (rc != cases[i].rc)
			fail_msg("case %zu: %d", i, rc);
		if (rc != 0)
			continue;
		assert_string_equal(b.proto_version, cases[i].proto);
		assert_string_equal(b.software_version, cases[i].software);
		assert_int_equal(b.has_comments, cases[i].comments != NULL);
		if (cases[i].comments)
			assert_string_equal(b.comments, cases[i].comments);
		assert_int_equal(b.anomalies, cases[i].anomalies);
		assert_int_equal(b.prelines, cases[i].prelines);
		assert_int_equal(b.consumed, len);
	}
	/* NUL inside the identification line. */
	assert_int_equal(banner_parse("SSH-2.0-a\0b\r\n", 13, &b), -EBADMSG);
}

static void test_banner_limits(void **state)
{
	(void)state;
	struct ssh_banner b;
	char line[600];

	/* 255 bytes with CR LF is the most; 256 is too long. */
	memset(line, 'a', sizeof(line));
	memcpy(line, "SSH-2.0-", 8);
	memcpy(line + 253, "\r\n", 2);
	assert_int_equal(banner_parse(line, 255, &b), 0);
	assert_int_equal(b.line_len, 253);
	assert_int_equal(strlen(b.software_version), 253 - 8);
	memset(line, 'a', sizeof(line));
	memcpy(line, "SSH-2.0-", 8);
	memcpy(line + 254, "\r\n", 2);
	assert_int_equal(banner_parse(line, 256, &b), -EBADMSG);
	/* Known too long before the LF arrives. */
	assert_int_equal(banner_parse(line, 254, &b), -EAGAIN);
	assert_int_equal(banner_parse(line, 255, &b), -EBADMSG);

	/* A long line of text without SSH- is not SSH. */
	memset(line, 'x', 300);
	assert_int_equal(banner_parse(line, 300, &b), -EPROTONOSUPPORT);

	/* Up to SSH_BANNER_MAX_PRELINES other lines, then give up. */
	char many[2000] = "";
	for (int i = 0; i < SSH_BANNER_MAX_PRELINES; i++)
		strcat(many, "Host: x\r\n");
	size_t n = strlen(many);
	strcat(many, "SSH-2.0-x\r\n");
	assert_int_equal(banner_parse(many, strlen(many), &b), 0);
	assert_int_equal(b.prelines, SSH_BANNER_MAX_PRELINES);
	many[n] = '\0';
	strcat(many, "Host: x\r\nSSH-2.0-x\r\n");
	assert_int_equal(banner_parse(many, strlen(many), &b), -EPROTONOSUPPORT);
}

/* ---- KEXINIT packets built to order ---- */

struct pkt {
	uint8_t b[80000];
	size_t len;
};

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* A KEXINIT with the given lists (NULL = empty), padding and trailer. */
static struct pkt *kex_build(const char *const lists[SSH_NAMELISTS], unsigned padding,
                             uint32_t reserved, size_t extra)
{
	struct pkt *k = calloc(1, sizeof(*k));
	size_t o = 5;
	k->b[o++] = 20;
	for (int i = 0; i < 16; i++)
		k->b[o++] = (uint8_t)(0xc0 + i);
	for (int i = 0; i < SSH_NAMELISTS; i++) {
		size_t n = lists && lists[i] ? strlen(lists[i]) : 0;
		put32(k->b + o, (uint32_t)n);
		memcpy(k->b + o + 4, n ? lists[i] : "", n);
		o += 4 + n;
	}
	k->b[o++] = 0;
	put32(k->b + o, reserved);
	o += 4;
	o += extra;
	o += padding;
	put32(k->b, (uint32_t)(o - 4));
	k->b[4] = (uint8_t)padding;
	k->len = o;
	return k;
}

static const char *const std_lists[SSH_NAMELISTS] = {
    "curve25519-sha256", "ssh-ed25519", "aes128-ctr", "aes128-ctr", "hmac-sha2-256",
    "hmac-sha2-256",     "none",        "none",       NULL,         NULL};

static void md5_hex(const char *s, char out[33])
{
	unsigned char d[16];
	unsigned int dl;
	EVP_Digest(s, strlen(s), d, &dl, EVP_md5(), NULL);
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void test_kexinit_built(void **state)
{
	(void)state;
	struct ssh_kexinit *k = malloc(sizeof(*k));
	char want[33];

	/* 5 + 1 + 16 + 40 + 46 + 5 = 113 ... padded to a multiple of 8. */
	struct pkt *p = kex_build(std_lists, 4, 0, 0);
	size_t pad = 8 - p->len % 8;
	free(p);
	p = kex_build(std_lists, 4 + (unsigned)pad, 0, 0);
	assert_int_equal(p->len % 8, 0);
	assert_int_equal(kex_parse(p->b, p->len, k), 0);
	assert_int_equal(k->anomalies, 0);
	assert_string_equal(k->hassh_string, "curve25519-sha256;aes128-ctr;hmac-sha2-256;none");
	md5_hex(k->hassh_string, want);
	assert_string_equal(k->hassh, want);
	assert_int_equal(k->cookie[0], 0xc0);
	assert_int_equal(k->cookie[15], 0xcf);
	free(p);

	/* Odd padding, a reserved value, bytes after it: parsed, flagged. */
	p = kex_build(std_lists, 1, 7, 3);
	assert_int_equal(kex_parse(p->b, p->len, k), 0);
	assert_int_equal(k->anomalies,
	                 SSH_KEX_A_PADDING | SSH_KEX_A_RESERVED | SSH_KEX_A_TRAILING);
	assert_int_equal(k->reserved, 7);
	free(p);

	/* All lists empty. */
	p = kex_build(NULL, 4, 0, 0);
	assert_int_equal(kex_parse(p->b, p->len, k), 0);
	assert_string_equal(k->hassh_string, ";;;");
	md5_hex(";;;", want);
	assert_string_equal(k->hassh, want);
	free(p);

	/* A list past SSH_NAMELIST_LEN is cut, but HASSH covers it whole. */
	char *big = malloc(3001);
	for (int i = 0; i < 3000; i++)
		big[i] = "abcdefghij,"[i % 11];
	big[3000] = '\0';
	const char *lists[SSH_NAMELISTS] = {big, "h", "e", "e", "m", "m", "c", "c", NULL, NULL};
	p = kex_build(lists, 4, 0, 0);
	assert_int_equal(kex_parse(p->b, p->len, k), 0);
	assert_true(k->anomalies & SSH_KEX_A_TRUNCATED);
	assert_int_equal(k->list_len[SSH_KEX], SSH_NAMELIST_LEN);
	char *full = malloc(3100);
	snprintf(full, 3100, "%s;e;m;c", big);
	md5_hex(full, want);
	assert_string_equal(k->hassh, want);
	free(full);
	free(big);
	free(p);

	/* Control bytes in a list. */
	const char *odd[SSH_NAMELISTS] = {"a\x01", "b c", NULL};
	p = kex_build(odd, 4, 0, 0);
	assert_int_equal(kex_parse(p->b, p->len, k), 0);
	assert_true(k->anomalies & SSH_KEX_A_BYTES);
	free(p);
	free(k);
}

static void test_kexinit_malformed(void **state)
{
	(void)state;
	struct ssh_kexinit *k = malloc(sizeof(*k));
	struct pkt *p;

	/* Impossible lengths are refused from the first byte. */
	assert_int_equal(kex_parse("\x01", 1, k), -EBADMSG);
	assert_int_equal(kex_parse("\x00\x01", 2, k), -EBADMSG);
	assert_int_equal(kex_parse("\x00\x00\x88\xb9", 4, k), -EBADMSG); /* 35001 */
	assert_int_equal(kex_parse("\xff\xff\xff\xff", 4, k), -EBADMSG);
	assert_int_equal(kex_parse("GET / HTTP/1.1\r\n", 16, k), -EBADMSG);
	assert_int_equal(kex_parse("\x00\x00\x00\x10", 4, k), -EBADMSG); /* too short */
	assert_int_equal(kex_parse("\x00\x00\x88\xb4", 4, k), -EAGAIN);  /* the largest */
	assert_int_equal(kex_parse("", 0, k), -EAGAIN);

	/* Another message first. */
	p = kex_build(std_lists, 4, 0, 0);
	p->b[5] = 21;
	assert_int_equal(kex_parse(p->b, 6, k), -EBADMSG);
	assert_int_equal(kex_parse(p->b, p->len, k), -EBADMSG);
	free(p);

	/* Padding that eats the payload. */
	p = kex_build(std_lists, 4, 0, 0);
	p->b[4] = 200;
	assert_int_equal(kex_parse(p->b, p->len, k), -EBADMSG);
	free(p);

	/* A name-list length that overruns the packet, at each list. */
	for (int i = 0; i < SSH_NAMELISTS; i++) {
		p = kex_build(std_lists, 4, 0, 0);
		size_t o = 5 + 1 + 16;
		for (int j = 0; j < i; j++)
			o += 4 + (std_lists[j] ? strlen(std_lists[j]) : 0);
		put32(p->b + o, 0xffffffffu);
		assert_int_equal(kex_parse(p->b, p->len, k), -EBADMSG);
		put32(p->b + o, 1000);
		assert_int_equal(kex_parse(p->b, p->len, k), -EBADMSG);
		free(p);
	}

	/* The packet claims to end early, at every byte: parse or -EBADMSG. */
	p = kex_build(std_lists, 4, 0, 0);
	for (size_t plen = 0; plen + 4 < p->len; plen++) {
		put32(p->b, (uint32_t)plen);
		p->b[4] = 0;
		int rc = kex_parse(p->b, 4 + plen, k);
		if (rc != 0 && rc != -EBADMSG)
			fail_msg("plen %zu: %d", plen, rc);
		if (plen < 1 + 1 + 16 + 4 * SSH_NAMELISTS + 5)
			assert_int_equal(rc, -EBADMSG);
	}
	free(p);
	free(k);
}

static void test_event_fields(void **state)
{
	(void)state;
	struct ssh_banner b;
	struct ssh_kexinit *k = malloc(sizeof(*k));
	size_t len;
	uint8_t *buf = unhex(vectors[0].hex, &len);
	assert_int_equal(banner_parse(buf, len, &b), 0);
	assert_int_equal(kex_parse(buf + b.consumed, len - b.consumed, k), 0);

	struct evbuf eb;
	struct ev_field f;
	evbuf_init(&eb);
	ev_begin(&eb, "trap", 0);
	ssh_event_fields(&b, k, &eb);
	ev_end(&eb);
	assert_true(ev_record_check(eb.data, eb.len) == (long)eb.len);
	assert_true(ev_find(eb.data, eb.len, "ssh.client.proto_version", &f));
	assert_memory_equal(f.str, "2.0", 3);
	assert_true(ev_find(eb.data, eb.len, "ssh.client.software_version", &f));
	assert_int_equal(f.strlen, strlen("OpenSSH_9.2p1"));
	assert_memory_equal(f.str, "OpenSSH_9.2p1", f.strlen);
	assert_true(ev_find(eb.data, eb.len, "ssh.client.comments", &f));
	assert_true(ev_find(eb.data, eb.len, "ssh.client.hassh.hash", &f));
	assert_memory_equal(f.str, vectors[0].hassh, 32);
	assert_true(ev_find(eb.data, eb.len, "ssh.client.hassh.string", &f));
	assert_int_equal(f.strlen, strlen(vectors[0].hassh_string));

	/* Banner only. */
	evbuf_reset(&eb);
	ev_begin(&eb, "trap", 0);
	ssh_event_fields(&b, NULL, &eb);
	ev_end(&eb);
	assert_true(ev_record_check(eb.data, eb.len) == (long)eb.len);
	assert_true(ev_find(eb.data, eb.len, "ssh.client.software_version", &f));
	assert_false(ev_find(eb.data, eb.len, "ssh.client.hassh", &f));
	evbuf_free(&eb);
	free(buf);
	free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors),           cmocka_unit_test(test_vector_fields),
	    cmocka_unit_test(test_vector_prefixes),   cmocka_unit_test(test_banner_cases),
	    cmocka_unit_test(test_banner_limits),     cmocka_unit_test(test_kexinit_built),
	    cmocka_unit_test(test_kexinit_malformed), cmocka_unit_test(test_event_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The payload archive made piece by piece (web_zip_*) against the archive
 * made whole, as payload downloads were answered before they were streamed
 * (the reference below, with its random bytes and time given): byte for
 * byte, for sizes around the cipher's and the blocks' edges and data cut in
 * pieces of any size.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "web/web.h"

/* ---- the reference: a whole archive in one buffer ---- */

struct rkeys {
	uint32_t k0, k1, k2;
};

static uint32_t r_crc_byte(uint32_t crc, uint8_t b)
{
	const z_crc_t *t = get_crc_table();
	return t[(crc ^ b) & 0xff] ^ (crc >> 8);
}

static void r_update(struct rkeys *k, uint8_t c)
{
	k->k0 = r_crc_byte(k->k0, c);
	k->k1 = k->k1 + (k->k0 & 0xff);
	k->k1 = k->k1 * 134775813u + 1;
	k->k2 = r_crc_byte(k->k2, (uint8_t)(k->k1 >> 24));
}

static uint8_t r_enc(struct rkeys *k, uint8_t p)
{
	uint32_t t = (k->k2 | 2) & 0xffff;
	uint8_t c = p ^ (uint8_t)((t * (t ^ 1)) >> 8);
	r_update(k, p);
	return c;
}

static uint8_t *r_le16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	return p + 2;
}

static uint8_t *r_le32(uint8_t *p, uint32_t v)
{
	p = r_le16(p, v & 0xffff);
	return r_le16(p, v >> 16);
}

static int ref_zip(const char *name, const uint8_t *data, size_t len, const char *password,
                   const uint8_t rnd[11], const struct tm *tm, uint8_t **out, size_t *outlen)
{
	size_t nlen = strlen(name);
	if (len > 0xffffffffu - 12 - 1024 || nlen > 255)
		return -1;
	uint32_t crc = (uint32_t)crc32(0L, data, (uInt)len);
	uint32_t dtime = (uint32_t)((tm->tm_hour << 11) | (tm->tm_min << 5) | (tm->tm_sec / 2));
	uint32_t ddate =
	    (uint32_t)(((tm->tm_year - 80) << 9) | ((tm->tm_mon + 1) << 5) | tm->tm_mday);
	uint32_t csize = (uint32_t)len + 12;
	size_t total = 30 + nlen + csize + 46 + nlen + 22;
	uint8_t *buf = malloc(total);
	assert_non_null(buf);
	uint8_t *p = buf;
	p = r_le32(p, 0x04034b50);
	p = r_le16(p, 20);
	p = r_le16(p, 1);
	p = r_le16(p, 0);
	p = r_le16(p, dtime);
	p = r_le16(p, ddate);
	p = r_le32(p, crc);
	p = r_le32(p, csize);
	p = r_le32(p, (uint32_t)len);
	p = r_le16(p, (uint32_t)nlen);
	p = r_le16(p, 0);
	memcpy(p, name, nlen);
	p += nlen;
	struct rkeys k = {0x12345678u, 0x23456789u, 0x34567890u};
	for (const char *s = password; *s; s++)
		r_update(&k, (uint8_t)*s);
	uint8_t hdr[12];
	memcpy(hdr, rnd, 11);
	hdr[11] = (uint8_t)(crc >> 24);
	for (int i = 0; i < 12; i++)
		*p++ = r_enc(&k, hdr[i]);
	for (size_t i = 0; i < len; i++)
		*p++ = r_enc(&k, data[i]);
	uint32_t cd_off = (uint32_t)(p - buf);
	p = r_le32(p, 0x02014b50);
	p = r_le16(p, 0x0314);
	p = r_le16(p, 20);
	p = r_le16(p, 1);
	p = r_le16(p, 0);
	p = r_le16(p, dtime);
	p = r_le16(p, ddate);
	p = r_le32(p, crc);
	p = r_le32(p, csize);
	p = r_le32(p, (uint32_t)len);
	p = r_le16(p, (uint32_t)nlen);
	p = r_le16(p, 0);
	p = r_le16(p, 0);
	p = r_le16(p, 0);
	p = r_le16(p, 0);
	p = r_le32(p, 0100644u << 16);
	p = r_le32(p, 0);
	memcpy(p, name, nlen);
	p += nlen;
	uint32_t cd_size = (uint32_t)(p - buf) - cd_off;
	p = r_le32(p, 0x06054b50);
	p = r_le16(p, 0);
	p = r_le16(p, 0);
	p = r_le16(p, 1);
	p = r_le16(p, 1);
	p = r_le32(p, cd_size);
	p = r_le32(p, cd_off);
	p = r_le16(p, 0);
	*out = buf;
	*outlen = (size_t)(p - buf);
	return 0;
}

/* ---- the archive piece by piece ---- */

static uint64_t g_rng = 88172645463325252ull;

static uint32_t rnd32(void)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return (uint32_t)g_rng;
}

/*
 * The archive as a download makes it: the CRC first, then the head, the data
 * encrypted in pieces of at most piece bytes (0: random sizes), the tail.
 */
static uint8_t *streamed(const char *name, const uint8_t *data, size_t len,
                         const uint8_t rnd[11], const struct tm *tm, size_t piece,
                         size_t *outlen)
{
	uint32_t crc = 0;
	for (size_t off = 0; off < len;) {
		size_t n = len - off < 7777 ? len - off : 7777;
		crc = web_zip_crc(crc, data + off, n);
		off += n;
	}
	struct web_zip z;
	assert_int_equal(web_zip_begin(&z, name, len, crc, "infected", rnd, tm), 0);
	uint64_t size = web_zip_size(&z);
	assert_int_equal(size, z.nhead + len + z.ntail);
	uint8_t *out = malloc((size_t)size);
	assert_non_null(out);
	memcpy(out, z.head, z.nhead);
	size_t at = z.nhead;
	for (size_t off = 0; off < len;) {
		size_t n = piece ? piece : 1 + rnd32() % 70000;
		if (n > len - off)
			n = len - off;
		memcpy(out + at, data + off, n);
		web_zip_crypt(&z, out + at, n);
		at += n;
		off += n;
	}
	memcpy(out + at, z.tail, z.ntail);
	at += z.ntail;
	assert_int_equal(at, size);
	*outlen = at;
	return out;
}

static void check_same(size_t len, size_t piece, int t)
{
	uint8_t *data = malloc(len ? len : 1);
	assert_non_null(data);
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)rnd32();
	uint8_t rnd[11];
	for (int i = 0; i < 11; i++)
		rnd[i] = (uint8_t)rnd32();
	time_t when = (time_t)1795395889 + t * 86399;
	struct tm tm;
	gmtime_r(&when, &tm);
	const char *name =
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.bin";
	uint8_t *want = NULL, *got;
	size_t nwant = 0, ngot;
	assert_int_equal(ref_zip(name, data, len, "infected", rnd, &tm, &want, &nwant), 0);
	got = streamed(name, data, len, rnd, &tm, piece, &ngot);
	assert_int_equal(ngot, nwant);
	assert_memory_equal(got, want, nwant);
	free(want);
	free(got);
	free(data);
}

static void test_same_bytes_as_whole(void **state)
{
	(void)state;
	static const size_t lens[] = {
	    0, 1, 2, 11, 12, 13, 255, 4095, 4096, 65535, 65536, 65537, 65536 * 3 + 5, 1 << 20};
	static const size_t pieces[] = {1, 3, 4096, 65536, 0};
	int t = 0;
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		for (size_t j = 0; j < sizeof(pieces) / sizeof(pieces[0]); j++) {
			if (pieces[j] == 1 && lens[i] > 65536 * 3 + 5)
				continue;
			check_same(lens[i], pieces[j], t++);
		}
}

static void test_crc_in_pieces(void **state)
{
	(void)state;
	uint8_t buf[5000];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rnd32();
	uint32_t whole = (uint32_t)crc32(0L, buf, sizeof(buf));
	uint32_t c = 0;
	for (size_t off = 0; off < sizeof(buf); off += 333)
		c = web_zip_crc(c, buf + off,
		                sizeof(buf) - off < 333 ? sizeof(buf) - off : 333);
	assert_int_equal(c, whole);
	assert_int_equal(web_zip_crc(0, buf, 0), 0);
}

static void test_limits(void **state)
{
	(void)state;
	struct web_zip z;
	uint8_t rnd[11] = {0};
	time_t when = 1795395889;
	struct tm tm;
	gmtime_r(&when, &tm);
	char name[300];
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	/* A name of more than 255 bytes, data past what a ZIP without ZIP64 holds. */
	assert_int_equal(web_zip_begin(&z, name, 1, 0, "infected", rnd, &tm), -1);
	name[255] = '\0';
	assert_int_equal(web_zip_begin(&z, name, 1, 0, "infected", rnd, &tm), 0);
	assert_int_equal(z.nhead, 30 + 255 + 12);
	assert_int_equal(z.ntail, 46 + 255 + 22);
	assert_int_equal(web_zip_begin(&z, "x.bin", WEB_ZIP_MAX_DATA, 0, "infected", rnd, &tm),
	                 0);
	assert_int_equal(web_zip_size(&z),
	                 30 + 5 + 12 + (uint64_t)WEB_ZIP_MAX_DATA + 46 + 5 + 22);
	assert_int_equal(
	    web_zip_begin(&z, "x.bin", (uint64_t)WEB_ZIP_MAX_DATA + 1, 0, "infected", rnd, &tm),
	    -1);
	assert_int_equal(web_zip_begin(&z, "x.bin", 1ull << 40, 0, "infected", rnd, &tm), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_bytes_as_whole),
	    cmocka_unit_test(test_crc_in_pieces),
	    cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

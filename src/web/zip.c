/*
 * One-file ZIP archives encrypted with the traditional PKWARE scheme
 * ("ZipCrypto", APPNOTE 6.1): what malware analysts' tools expect of a
 * sample zipped with the password "infected". The entry is stored (method
 * 0); the 12-byte encryption header ends with the CRC's high byte.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <zlib.h>

#include "web/web.h"

struct zkeys {
	uint32_t k0, k1, k2;
};

static uint32_t crc_byte(uint32_t crc, uint8_t b)
{
	/* zlib's table, one byte at a time. */
	const z_crc_t *t = get_crc_table();
	return t[(crc ^ b) & 0xff] ^ (crc >> 8);
}

static void zk_update(struct zkeys *k, uint8_t c)
{
	k->k0 = crc_byte(k->k0, c);
	k->k1 = k->k1 + (k->k0 & 0xff);
	k->k1 = k->k1 * 134775813u + 1;
	k->k2 = crc_byte(k->k2, (uint8_t)(k->k1 >> 24));
}

static uint8_t zk_stream(const struct zkeys *k)
{
	uint32_t t = (k->k2 | 2) & 0xffff;
	return (uint8_t)((t * (t ^ 1)) >> 8);
}

static uint8_t zk_enc(struct zkeys *k, uint8_t p)
{
	uint8_t c = p ^ zk_stream(k);
	zk_update(k, p);
	return c;
}

static uint8_t *le16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	return p + 2;
}

static uint8_t *le32(uint8_t *p, uint32_t v)
{
	p = le16(p, v & 0xffff);
	return le16(p, v >> 16);
}

int web_zip_encrypt(const char *name, const uint8_t *data, size_t len, const char *password,
                    uint8_t **out, size_t *outlen)
{
	size_t nlen = strlen(name);
	if (len > 0xffffffffu - 12 - 1024 || nlen > 255)
		return -1;
	uint32_t crc = (uint32_t)crc32(0L, data, (uInt)0);
	/* crc32 takes uInt lengths: feed it in pieces. */
	for (size_t off = 0; off < len;) {
		size_t n = len - off > (1u << 30) ? (1u << 30) : len - off;
		crc = (uint32_t)crc32(crc, data + off, (uInt)n);
		off += n;
	}
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	uint32_t dtime = (uint32_t)((tm.tm_hour << 11) | (tm.tm_min << 5) | (tm.tm_sec / 2));
	uint32_t ddate =
	    (uint32_t)(((tm.tm_year - 80) << 9) | ((tm.tm_mon + 1) << 5) | tm.tm_mday);
	uint32_t csize = (uint32_t)len + 12;

	size_t total = 30 + nlen + csize + 46 + nlen + 22;
	uint8_t *buf = malloc(total);
	if (buf == NULL)
		return -1;
	uint8_t *p = buf;
	/* Local file header. */
	p = le32(p, 0x04034b50);
	p = le16(p, 20);
	p = le16(p, 1); /* encrypted */
	p = le16(p, 0); /* stored */
	p = le16(p, dtime);
	p = le16(p, ddate);
	p = le32(p, crc);
	p = le32(p, csize);
	p = le32(p, (uint32_t)len);
	p = le16(p, (uint32_t)nlen);
	p = le16(p, 0);
	memcpy(p, name, nlen);
	p += nlen;
	/* Encryption header, then the data. */
	struct zkeys k = {0x12345678u, 0x23456789u, 0x34567890u};
	for (const char *s = password; *s; s++)
		zk_update(&k, (uint8_t)*s);
	uint8_t hdr[12];
	if (getrandom(hdr, 11, 0) != 11) {
		for (int i = 0; i < 11; i++)
			hdr[i] = (uint8_t)rand();
	}
	hdr[11] = (uint8_t)(crc >> 24);
	for (int i = 0; i < 12; i++)
		*p++ = zk_enc(&k, hdr[i]);
	for (size_t i = 0; i < len; i++)
		*p++ = zk_enc(&k, data[i]);
	/* Central directory. */
	uint32_t cd_off = (uint32_t)(p - buf);
	p = le32(p, 0x02014b50);
	p = le16(p, 0x0314); /* made by: Unix, 2.0 */
	p = le16(p, 20);
	p = le16(p, 1);
	p = le16(p, 0);
	p = le16(p, dtime);
	p = le16(p, ddate);
	p = le32(p, crc);
	p = le32(p, csize);
	p = le32(p, (uint32_t)len);
	p = le16(p, (uint32_t)nlen);
	p = le16(p, 0);
	p = le16(p, 0);
	p = le16(p, 0);
	p = le16(p, 0);
	p = le32(p, 0100644u << 16); /* regular file, rw-r--r-- */
	p = le32(p, 0);
	memcpy(p, name, nlen);
	p += nlen;
	uint32_t cd_size = (uint32_t)(p - buf) - cd_off;
	/* End of central directory. */
	p = le32(p, 0x06054b50);
	p = le16(p, 0);
	p = le16(p, 0);
	p = le16(p, 1);
	p = le16(p, 1);
	p = le32(p, cd_size);
	p = le32(p, cd_off);
	p = le16(p, 0);
	*out = buf;
	*outlen = (size_t)(p - buf);
	return 0;
}

/*
 * One-file ZIP archives encrypted with the traditional PKWARE scheme
 * ("ZipCrypto", APPNOTE 6.1): what malware analysts' tools expect of a
 * sample zipped with the password "infected". The entry is stored (method
 * 0); the 12-byte encryption header ends with the CRC's high byte.
 *
 * The archive is made piece by piece, so that a download holds none of the
 * payload: the headers (which need the data's CRC-32 and length, known
 * beforehand), then the data encrypted as it is read, then the central
 * directory.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <zlib.h>

#include "web/web.h"

static uint32_t crc_byte(const z_crc_t *t, uint32_t crc, uint8_t b)
{
	return (uint32_t)t[(crc ^ b) & 0xff] ^ (crc >> 8);
}

static void zk_update(const z_crc_t *t, uint32_t k[3], uint8_t c)
{
	k[0] = crc_byte(t, k[0], c);
	k[1] = k[1] + (k[0] & 0xff);
	k[1] = k[1] * 134775813u + 1;
	k[2] = crc_byte(t, k[2], (uint8_t)(k[1] >> 24));
}

static uint8_t zk_enc(const z_crc_t *t, uint32_t k[3], uint8_t p)
{
	uint32_t s = (k[2] | 2) & 0xffff;
	uint8_t c = p ^ (uint8_t)((s * (s ^ 1)) >> 8);
	zk_update(t, k, p);
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

uint32_t web_zip_crc(uint32_t crc, const uint8_t *p, size_t n)
{
	/* crc32 takes uInt lengths: feed it in pieces. */
	while (n > 0) {
		size_t k = n > (1u << 30) ? (1u << 30) : n;
		crc = (uint32_t)crc32(crc, p, (uInt)k);
		p += k;
		n -= k;
	}
	return crc;
}

void web_zip_random(uint8_t rnd[11])
{
	if (getrandom(rnd, 11, 0) != 11) {
		for (int i = 0; i < 11; i++)
			rnd[i] = (uint8_t)rand();
	}
}

int web_zip_begin(struct web_zip *z, const char *name, uint64_t len, uint32_t crc,
                  const char *password, const uint8_t rnd[11], const struct tm *when)
{
	size_t nlen = strlen(name);
	if (len > WEB_ZIP_MAX_DATA || nlen > WEB_ZIP_MAX_NAME)
		return -1;
	const z_crc_t *t = get_crc_table();
	uint32_t dtime =
	    (uint32_t)((when->tm_hour << 11) | (when->tm_min << 5) | (when->tm_sec / 2));
	uint32_t ddate =
	    (uint32_t)(((when->tm_year - 80) << 9) | ((when->tm_mon + 1) << 5) | when->tm_mday);
	uint32_t csize = (uint32_t)len + 12;
	z->len = len;
	z->crc = crc;

	uint8_t *p = z->head;
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
	/* Encryption header: the keys start from the password, then run on over the data. */
	z->keys[0] = 0x12345678u;
	z->keys[1] = 0x23456789u;
	z->keys[2] = 0x34567890u;
	for (const char *s = password; *s; s++)
		zk_update(t, z->keys, (uint8_t)*s);
	uint8_t hdr[12];
	memcpy(hdr, rnd, 11);
	hdr[11] = (uint8_t)(crc >> 24);
	for (int i = 0; i < 12; i++)
		*p++ = zk_enc(t, z->keys, hdr[i]);
	z->nhead = (size_t)(p - z->head);

	/* Central directory, after the local header, the encryption header and the data. */
	uint32_t cd_off = (uint32_t)(z->nhead + len);
	p = z->tail;
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
	uint32_t cd_size = (uint32_t)(p - z->tail);
	/* End of central directory. */
	p = le32(p, 0x06054b50);
	p = le16(p, 0);
	p = le16(p, 0);
	p = le16(p, 1);
	p = le16(p, 1);
	p = le32(p, cd_size);
	p = le32(p, cd_off);
	p = le16(p, 0);
	z->ntail = (size_t)(p - z->tail);
	return 0;
}

void web_zip_crypt(struct web_zip *z, uint8_t *p, size_t n)
{
	const z_crc_t *t = get_crc_table();
	uint32_t k[3] = {z->keys[0], z->keys[1], z->keys[2]};
	for (size_t i = 0; i < n; i++)
		p[i] = zk_enc(t, k, p[i]);
	memcpy(z->keys, k, sizeof(k));
}

uint64_t web_zip_size(const struct web_zip *z)
{
	return (uint64_t)z->nhead + z->len + z->ntail;
}

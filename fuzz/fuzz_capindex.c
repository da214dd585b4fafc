/*
 * Capture index reader over arbitrary bytes: open, walk every flow, look up
 * ids around the blocks' ranges and a Community ID. Offsets handed out must
 * lie inside the PCAP size the index claims.
 *
 * Checksums and deflate would stop almost every mutation at the door, so the
 * first byte picks how the input is used:
 *   0  as is (header, checksum and table validation);
 *   1  with the header and table checksums recomputed (table and block reads);
 *   2  as the raw content of one block, wrapped in a valid header, table and
 *      zlib stream (the column decoder itself).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "capture/index.h"

static uint64_t pcap_size;

static void le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static int visit(void *arg, const struct index_flow *fl, const uint64_t *offs)
{
	uint64_t *ids = arg;
	for (uint32_t i = 0; i < fl->npkts; i++)
		if (offs[i] >= pcap_size || (i > 0 && offs[i] <= offs[i - 1]))
			abort();
	if (ids[0] < 8)
		ids[1 + ids[0]++] = fl->id;
	return 0;
}

static void run(const uint8_t *data, size_t size)
{
	struct index_reader *r;
	struct index_info info;
	struct index_flow fl;
	const uint64_t *offs;
	uint64_t ids[9] = {0};

	if (index_reader_open_mem(&r, data, size, NULL, 0) < 0)
		return;
	index_reader_info(r, &info);
	pcap_size = info.pcap_size;
	index_reader_foreach(r, visit, ids);
	for (uint64_t i = 0; i < ids[0]; i++) {
		index_reader_find(r, ids[1 + i], &fl, &offs);
		index_reader_find(r, ids[1 + i] + 1, &fl, &offs);
	}
	index_reader_find(r, 0, &fl, &offs);
	index_reader_find_cid(r, "1:++padySyNhZriZz2q74c4d7/zxc=", visit, ids);
	index_reader_close(&r);
}

/* Header and checksums as index.h describes them (offsets 56 and 60). */
static void fix_crcs(uint8_t *b, size_t size)
{
	if (size < 64)
		return;
	uint64_t nb = rd32(b + 36);
	if (nb > (size - 64) / 40)
		return;
	le32(b + 56, (uint32_t)crc32(0, b + 64, (uInt)(nb * 40)));
	le32(b + 60, (uint32_t)crc32(0, b, 60));
}

/* One block whose raw content is raw[0..n): ids, counts from the first bytes. */
static void wrap_block(const uint8_t *raw, size_t n)
{
	if (n < 3)
		return;
	uint32_t nflows = 1 + raw[0] % 64, npkts = nflows + raw[1];
	uint64_t first = 1000, last = first + nflows - 1 + raw[2] % 4;
	raw += 3;
	n -= 3;
	uLongf clen = compressBound(n);
	uint8_t *b = malloc(64 + 40 + clen);
	if (b == NULL || compress2(b + 104, &clen, raw, n, 1) != Z_OK) {
		free(b);
		return;
	}
	memset(b, 0, 104);
	memcpy(b, "STCAPIX1", 8);
	b[8] = INDEX_VERSION;
	le64(b + 16, 1u << 20); /* PCAP size */
	le64(b + 24, npkts);
	le32(b + 32, nflows);
	le32(b + 36, 1);
	le64(b + 64, first);
	le64(b + 72, last);
	le64(b + 80, 104);
	le32(b + 88, (uint32_t)clen);
	le32(b + 92, (uint32_t)n);
	le32(b + 96, nflows);
	le32(b + 100, npkts);
	fix_crcs(b, 104 + clen);
	run(b, 104 + clen);
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0] % 3;
	data++;
	size--;
	if (mode == 0) {
		run(data, size);
	} else if (mode == 1) {
		uint8_t *b = malloc(size ? size : 1);
		if (b == NULL)
			return 0;
		memcpy(b, data, size);
		fix_crcs(b, size);
		run(b, size);
		free(b);
	} else {
		wrap_block(data, size);
	}
	return 0;
}

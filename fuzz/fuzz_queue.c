/*
 * A delivery queue reopened from whatever a crash, a full disk or a bad
 * sector left on disk: up to three segments of records (whole ones with
 * their CRCs, torn ones, garbage) and a cursor that may name any segment,
 * offset and count (its own CRC right, so that the values are what is
 * tried). The queue is opened, read to its end with every batch
 * acknowledged, appended to, reopened and read again.
 * Oracles: every record handed out is a whole event record
 * (ev_record_check), and no more records come out than were framed.
 *
 * Input: a flags byte, five cursor values (u64), then operations: a byte
 * below 200 appends a well-formed event whose string is the next (byte % 48)
 * input bytes; 200-219 starts the next segment; 220-255 appends the next
 * (byte - 219) input bytes raw.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "common/event.h"
#include "store/queue.h"

static char dir[64];

static void wipe(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[400];
	while (d && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
}

static void remove_dir(void)
{
	wipe();
	rmdir(dir);
}

static void put(FILE *f, const uint8_t *rec, size_t len)
{
	uint32_t l = (uint32_t)len, c = (uint32_t)crc32(0L, rec, (uInt)len);
	fwrite(&l, 4, 1, f);
	fwrite(&c, 4, 1, f);
	fwrite(rec, 1, len, f);
}

static size_t drain(struct queue *q)
{
	struct queue_batch b = {0};
	size_t n = 0;
	while (queue_read(q, &b, 4096) == 1) {
		size_t off = 0, len;
		const uint8_t *rec;
		while (queue_batch_next(&b, &off, &rec, &len)) {
			if (ev_record_check(rec, len) != (long)len)
				abort();
			n++;
		}
		queue_ack(q, &b.span);
		if (n > 100000)
			abort(); /* reads that never end */
	}
	queue_batch_free(&b);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (dir[0] == '\0') {
		snprintf(dir, sizeof(dir), "/tmp/sinktrap-fuzz-queue-XXXXXX");
		if (mkdtemp(dir) == NULL)
			abort();
		atexit(remove_dir);
	}
	if (size < 41)
		return 0;
	uint8_t flags = data[0];
	uint64_t cur[5];
	memcpy(cur, data + 1, sizeof(cur));
	if (!(flags & 2)) { /* mostly plausible values */
		cur[0] %= 5;
		cur[1] %= 4096;
		cur[2] %= 64;
	}
	data += 41;
	size -= 41;

	char path[400];
	int segno = 1;
	size_t framed = 0;
	snprintf(path, sizeof(path), "%s/%016x.q", dir, segno);
	FILE *f = fopen(path, "we");
	struct evbuf eb;
	evbuf_init(&eb);
	for (size_t i = 0; i < size && f != NULL;) {
		uint8_t op = data[i++];
		if (op < 200) {
			char s[49];
			size_t n = op % 48;
			if (n > size - i)
				n = size - i;
			for (size_t k = 0; k < n; k++)
				s[k] = data[i + k] ? (char)data[i + k] : '?';
			s[n] = '\0';
			i += n;
			evbuf_reset(&eb);
			ev_begin(&eb, "dns", 1);
			ev_str(&eb, "rrname", s);
			ev_end(&eb);
			put(f, eb.data, eb.len);
			framed++;
		} else if (op < 220) {
			fclose(f);
			f = NULL;
			if (segno < 3) {
				snprintf(path, sizeof(path), "%s/%016x.q", dir, ++segno);
				f = fopen(path, "we");
			}
		} else {
			size_t n = (size_t)op - 219;
			if (n > size - i)
				n = size - i;
			fwrite(data + i, 1, n, f);
			i += n;
		}
	}
	if (f)
		fclose(f);
	if (flags & 1) {
		char line[256];
		int l = snprintf(line, sizeof(line),
		                 "sinktrap-queue 1 %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
		                 " %" PRIu64,
		                 cur[0], cur[1], cur[2], cur[3], cur[4]);
		snprintf(path, sizeof(path), "%s/cursor", dir);
		FILE *cf = fopen(path, "we");
		if (cf) {
			fprintf(cf, "%s %x\n", line,
			        (unsigned)crc32(0L, (const uint8_t *)line, (uInt)l));
			fclose(cf);
		}
	}

	char err[256];
	struct queue *q = queue_open(dir, 1 << 20, err, sizeof(err));
	if (q != NULL) {
		if (drain(q) > framed)
			abort();
		evbuf_reset(&eb);
		ev_begin(&eb, "dns", 2);
		ev_str(&eb, "rrname", "after.reopen");
		ev_end(&eb);
		queue_append(q, eb.data, eb.len);
		queue_flush(q);
		if (drain(q) != 1) /* what is appended now comes out */
			abort();
		queue_close(&q);
		q = queue_open(dir, 1 << 20, err, sizeof(err));
		if (q != NULL) {
			if (drain(q) > 1) /* everything was acknowledged */
				abort();
			queue_close(&q);
		}
	}
	evbuf_free(&eb);
	wipe();
	return 0;
}

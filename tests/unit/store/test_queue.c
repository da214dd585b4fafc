/*
 * The delivery queue: append, read, acknowledge, rewind, reopen (a restart),
 * the size limit (oldest dropped and counted), a torn tail after a crash,
 * damage in the middle of a segment (that record alone lost, and counted),
 * and one producer with one consumer
 * thread at full speed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "../test_dir.h"
#include "common/event.h"
#include "store/queue.h"

/* Record number n with pad bytes of padding. */
static void put(struct queue *q, int64_t n, size_t pad)
{
	struct evbuf b;
	char *p = malloc(pad + 1);
	memset(p, 'x', pad);
	p[pad] = '\0';
	evbuf_init(&b);
	ev_begin(&b, "test", 1000000 + n);
	ev_int(&b, "n", n);
	ev_str(&b, "pad", p);
	ev_end(&b);
	queue_append(q, b.data, b.len);
	evbuf_free(&b);
	free(p);
}

static int64_t rec_n(const uint8_t *rec, size_t len)
{
	struct ev_field f;
	assert_true(ev_find(rec, len, "n", &f));
	return f.i;
}

/* Read everything readable; check the numbers run from *next on; ack when asked. */
static int read_all(struct queue *q, int64_t *next, int ack, size_t max)
{
	struct queue_batch b;
	int total = 0;
	memset(&b, 0, sizeof(b));
	while (queue_read(q, &b, max)) {
		size_t off = 0, len;
		const uint8_t *rec;
		uint32_t n = 0;
		while (queue_batch_next(&b, &off, &rec, &len)) {
			assert_int_equal(ev_record_check(rec, len), (long)len);
			assert_int_equal(rec_n(rec, len), *next);
			(*next)++;
			n++;
		}
		assert_int_equal(n, b.span.n);
		total += (int)n;
		if (ack)
			queue_ack(q, &b.span);
	}
	queue_batch_free(&b);
	return total;
}

static struct queue *open_q(int64_t max)
{
	char err[256];
	struct queue *q = queue_open(test_dir, max, err, sizeof(err));
	if (q == NULL)
		fail_msg("queue_open: %s", err);
	return q;
}

static void test_append_read_ack(void **state)
{
	struct queue *q = open_q(1 << 20);
	struct queue_stats st;
	int64_t next = 0;
	for (int i = 0; i < 100; i++)
		put(q, i, 10);
	/* Nothing is visible before the flush. */
	assert_int_equal(read_all(q, &next, 1, 4096), 0);
	assert_int_equal(queue_flush(q), 0);
	assert_int_equal(read_all(q, &next, 1, 4096), 100);
	queue_get_stats(q, &st);
	assert_int_equal(st.delivered, 100);
	assert_int_equal(st.queued, 0);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(st.appended, 100);
	queue_close(&q);
}

static void test_rewind(void **state)
{
	struct queue *q = open_q(1 << 20);
	int64_t next = 0;
	for (int i = 0; i < 10; i++)
		put(q, i, 10);
	queue_flush(q);
	assert_int_equal(read_all(q, &next, 0, 1 << 20), 10);
	queue_rewind(q);
	next = 0;
	assert_int_equal(read_all(q, &next, 1, 1 << 20), 10);
	queue_rewind(q); /* after the ack: nothing to read again */
	assert_int_equal(read_all(q, &next, 1, 1 << 20), 0);
	queue_close(&q);
}

/* A restart resumes after the last acknowledged record, counts intact. */
static void test_restart(void **state)
{
	struct queue *q = open_q(1 << 20);
	struct queue_batch b;
	struct queue_stats st;
	memset(&b, 0, sizeof(b));
	for (int i = 0; i < 50; i++)
		put(q, i, 100);
	queue_flush(q);
	/* Small batches: acknowledge the first few, leave one read but not acked. */
	int acked = 0;
	while (acked < 20 && queue_read(q, &b, 500)) {
		queue_ack(q, &b.span);
		acked += (int)b.span.n;
	}
	assert_true(queue_read(q, &b, 500));
	queue_close(&q); /* as a clean stop: cursor saved */
	queue_batch_free(&b);

	q = open_q(1 << 20);
	queue_get_stats(q, &st);
	assert_int_equal(st.delivered, acked);
	assert_int_equal(st.queued, 50 - acked);
	int64_t next = acked;
	assert_int_equal(read_all(q, &next, 1, 4096), 50 - acked);
	/* Appending after a reopen continues in order. */
	put(q, 50, 1);
	queue_flush(q);
	assert_int_equal(read_all(q, &next, 1, 4096), 1);
	queue_close(&q);
}

/*
 * A segment that cannot be read at the open (here a directory under a
 * segment's name; an I/O error alike) is set aside under another name, so
 * that no new segment takes its number and writes after its contents, and
 * no cursor past it deletes it as delivered; the rest of the queue goes on.
 */
static void test_unreadable_segment_set_aside(void **state)
{
	struct queue *q = open_q(1 << 20);
	for (int i = 0; i < 10; i++)
		put(q, i, 10);
	queue_close(&q);
	char seg[512], aside[600];
	snprintf(seg, sizeof(seg), "%s/%016x.q", test_dir, 2);
	snprintf(aside, sizeof(aside), "%s.unreadable", seg);
	assert_int_equal(mkdir(seg, 0700), 0);
	q = open_q(1 << 20);
	struct stat st;
	assert_int_equal(stat(aside, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(lstat(seg, &st), -1);
	int64_t next = 0;
	assert_int_equal(read_all(q, &next, 1, 4096), 10);
	for (int i = 10; i < 20; i++)
		put(q, i, 10);
	assert_int_equal(queue_flush(q), 0);
	assert_int_equal(read_all(q, &next, 1, 4096), 10);
	queue_close(&q);
}

/* A kill -9 after the cursor was last saved: everything after it comes again. */
static void test_unsaved_cursor(void **state)
{
	struct queue *q = open_q(1 << 20);
	int64_t next = 0;
	for (int i = 0; i < 10; i++)
		put(q, i, 10);
	queue_flush(q);
	assert_int_equal(read_all(q, &next, 1, 100), 10);
	/* No queue_close: throw the cursor away as a crash would. */
	char path[300];
	snprintf(path, sizeof(path), "%s/cursor", test_dir);
	unlink(path);
	queue_close(&q);
	unlink(path);
	q = open_q(1 << 20);
	next = 0;
	assert_int_equal(read_all(q, &next, 1, 4096), 10);
	queue_close(&q);
}

/* A cursor (its CRC right) whose offset falls inside a record: reading
 * resumes at the start of that record, and what is appended is read. */
static void test_cursor_inside_a_record(void **state)
{
	struct queue *q = open_q(1 << 20);
	int64_t next = 0;
	for (int i = 0; i < 3; i++)
		put(q, i, 10);
	queue_flush(q);
	queue_close(&q);
	struct stat st;
	char path[300], line[200];
	snprintf(path, sizeof(path), "%s/0000000000000001.q", test_dir);
	assert_int_equal(stat(path, &st), 0);
	uint64_t reclen = (uint64_t)st.st_size / 3; /* the three are the same size */
	/* inside the second record, claiming none before it */
	int l = snprintf(line, sizeof(line), "sinktrap-queue 1 1 %llu 0 0 0",
	                 (unsigned long long)(reclen + 7));
	snprintf(path, sizeof(path), "%s/cursor", test_dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "%s %x\n", line,
	        (unsigned)crc32(0L, (const unsigned char *)line, (unsigned)l));
	fclose(f);
	q = open_q(1 << 20);
	next = 1;
	assert_int_equal(read_all(q, &next, 1, 4096), 2); /* records 1 and 2 */
	put(q, 3, 10);
	queue_flush(q);
	assert_int_equal(read_all(q, &next, 1, 4096), 1);
	queue_close(&q);
	q = open_q(1 << 20); /* the cursor saved on close is whole again */
	assert_int_equal(read_all(q, &next, 1, 4096), 0);
	queue_close(&q);
}

static void test_size_limit(void **state)
{
	struct queue *q = open_q(64 << 10); /* 8 KiB segments */
	struct queue_stats st;
	for (int i = 0; i < 300; i++) {
		put(q, i, 1000);
		if (i % 7 == 0)
			queue_flush(q);
	}
	queue_flush(q);
	queue_get_stats(q, &st);
	assert_true(st.bytes <= 64 << 10);
	assert_true(st.dropped > 0);
	assert_int_equal(st.queued + st.dropped, 300);
	uint64_t damaged = 1;
	assert_int_equal(queue_drops_take(q, &damaged), st.dropped);
	assert_int_equal(damaged, 0);
	assert_int_equal(queue_drops_take(q, &damaged), 0);
	/* What is left is the newest, in order, ending with the last. */
	int64_t next = (int64_t)st.dropped;
	assert_int_equal(read_all(q, &next, 1, 4096), (int)st.queued);
	assert_int_equal(next, 300);
	queue_close(&q);

	/* The counts survive a restart. */
	q = open_q(64 << 10);
	struct queue_stats st2;
	queue_get_stats(q, &st2);
	assert_int_equal(st2.dropped, st.dropped);
	assert_int_equal(st2.delivered, st.queued);
	assert_int_equal(st2.queued, 0);
	queue_close(&q);
}

/* Drops while the consumer is in the middle of the oldest segment. */
static void test_drop_under_reader(void **state)
{
	struct queue *q = open_q(64 << 10);
	struct queue_batch b;
	struct queue_stats st;
	memset(&b, 0, sizeof(b));
	for (int i = 0; i < 20; i++)
		put(q, i, 500);
	queue_flush(q);
	assert_true(queue_read(q, &b, 600)); /* one record, not acked */
	for (int i = 20; i < 400; i++)
		put(q, i, 500);
	queue_flush(q);
	queue_ack(q, &b.span); /* its segment is gone: ignored */
	queue_get_stats(q, &st);
	assert_int_equal(st.queued + st.dropped + st.delivered, 400);
	int64_t next = (int64_t)(400 - st.queued);
	assert_int_equal(read_all(q, &next, 1, 4096), (int)st.queued);
	assert_int_equal(next, 400);
	queue_batch_free(&b);
	queue_close(&q);
}

static char *only_segment(char *out, size_t n)
{
	DIR *d = opendir(test_dir);
	struct dirent *de;
	out[0] = '\0';
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, ".q"))
			snprintf(out, n, "%s/%s", test_dir, de->d_name);
	closedir(d);
	return out;
}

/* A crash in the middle of a write leaves half a record: it is cut at reopen. */
static void test_torn_tail(void **state)
{
	struct queue *q = open_q(1 << 20);
	char seg[600];
	for (int i = 0; i < 10; i++)
		put(q, i, 10);
	queue_close(&q);
	only_segment(seg, sizeof(seg));
	struct stat st0;
	assert_int_equal(stat(seg, &st0), 0);
	int fd = open(seg, O_WRONLY | O_APPEND);
	const uint8_t torn[] = {200, 0, 0, 0, 1, 2, 3, 4, 'x', 'y'};
	assert_int_equal(write(fd, torn, sizeof(torn)), (ssize_t)sizeof(torn));
	close(fd);

	q = open_q(1 << 20);
	struct stat st1;
	assert_int_equal(stat(seg, &st1), 0);
	assert_int_equal(st1.st_size, st0.st_size);
	put(q, 10, 10);
	queue_flush(q);
	int64_t next = 0;
	assert_int_equal(read_all(q, &next, 1, 4096), 11);
	struct queue_stats qs;
	queue_get_stats(q, &qs);
	assert_int_equal(qs.dropped, 1); /* the record cut in the middle */
	queue_close(&q);

	/* Zeros, as a power loss may leave after an extended file. */
	fd = open(seg, O_WRONLY | O_APPEND);
	uint8_t zeros[64] = {0};
	assert_int_equal(write(fd, zeros, sizeof(zeros)), (ssize_t)sizeof(zeros));
	close(fd);
	q = open_q(1 << 20);
	queue_get_stats(q, &qs);
	assert_int_equal(qs.queued, 0);
	assert_int_equal(qs.delivered, 11);
	assert_int_equal(qs.dropped, 2);
	queue_close(&q);
}

static void seg_name(uint64_t num, char *out, size_t n)
{
	snprintf(out, n, "%s/%016llx.q", test_dir, (unsigned long long)num);
}

static void flip(const char *path, off_t at)
{
	int fd = open(path, O_RDWR);
	uint8_t byte;
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &byte, 1, at), 1);
	byte ^= 0xff;
	assert_int_equal(pwrite(fd, &byte, 1, at), 1);
	close(fd);
}

/* Read and acknowledge everything; the numbers read, as a bit set of up to 64. */
static uint64_t read_set(struct queue *q, int64_t *count)
{
	struct queue_batch b;
	uint64_t set = 0;
	int64_t prev = -1;
	memset(&b, 0, sizeof(b));
	*count = 0;
	while (queue_read(q, &b, 4096)) {
		size_t off = 0, len;
		const uint8_t *rec;
		uint32_t n = 0;
		while (queue_batch_next(&b, &off, &rec, &len)) {
			assert_int_equal(ev_record_check(rec, len), (long)len);
			int64_t v = rec_n(rec, len);
			assert_true(v > prev && v < 64);
			prev = v;
			set |= 1ull << v;
			n++;
		}
		assert_int_equal(n, b.span.n);
		*count += n;
		queue_ack(q, &b.span);
	}
	queue_batch_free(&b);
	return set;
}

/* 40 records of about 1100 bytes, a flush each: 7 to a segment of 8 KiB. */
static size_t forty(void)
{
	struct queue *q = open_q(64 << 10);
	for (int i = 0; i < 40; i++) {
		put(q, i, 1000);
		queue_flush(q);
	}
	queue_close(&q);
	char path[600];
	struct stat st;
	seg_name(1, path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);
	return (size_t)st.st_size / 7; /* one record */
}

/*
 * A flipped byte in a record in the middle of an older segment: that record
 * alone is lost, counted as dropped (once, whatever the restarts) and
 * reported as damage; every other record is delivered, in order.
 */
static void test_damaged_record(void **state)
{
	size_t rec = forty();
	char first[600];
	seg_name(1, first, sizeof(first));
	flip(first, (off_t)(rec + 200)); /* inside the second record (number 1) */

	struct queue *q = open_q(64 << 10);
	struct queue_stats st;
	queue_get_stats(q, &st);
	assert_int_equal(st.queued, 40);
	assert_int_equal(st.dropped, 0);
	int64_t count;
	uint64_t set = read_set(q, &count);
	assert_int_equal(count, 39);
	assert_true(set == ((1ull << 40) - 1 - 2));
	queue_get_stats(q, &st);
	assert_int_equal(st.delivered, 39);
	assert_int_equal(st.dropped, 1);
	assert_int_equal(st.queued, 0);
	uint64_t damaged = 0;
	assert_int_equal(queue_drops_take(q, &damaged), 0);
	assert_int_equal(damaged, 1);
	queue_close(&q);

	/* A restart counts nothing again. */
	q = open_q(64 << 10);
	queue_get_stats(q, &st);
	assert_int_equal(st.dropped, 1);
	assert_int_equal(st.delivered, 39);
	assert_int_equal(st.queued, 0);
	queue_close(&q);
}

/* The same found by the reader while the queue is open (damaged after it was written),
 * and a restart before the reader passed it: counted once, when passed. */
static void test_damaged_record_while_open(void **state)
{
	struct queue *q = open_q(64 << 10);
	for (int i = 0; i < 40; i++) {
		put(q, i, 1000);
		queue_flush(q);
	}
	char first[600];
	struct stat fs;
	seg_name(1, first, sizeof(first));
	assert_int_equal(stat(first, &fs), 0);
	flip(first, (off_t)(fs.st_size / 7 * 3 + 100)); /* record 3 */
	int64_t count;
	uint64_t set = read_set(q, &count);
	assert_int_equal(count, 39);
	assert_true(set == ((1ull << 40) - 1 - 8));
	struct queue_stats st;
	queue_get_stats(q, &st);
	assert_int_equal(st.delivered, 39);
	assert_int_equal(st.dropped, 1);
	assert_int_equal(st.queued, 0);
	queue_close(&q);
}

/* A damaged length: skipped up to the next whole record; a restart before the
 * reader passes it counts nothing, the reader counts it once. */
static void test_damaged_length(void **state)
{
	size_t rec = forty();
	char first[600];
	seg_name(1, first, sizeof(first));
	flip(first, (off_t)(rec * 4 + 2)); /* the length of record 4: far too long */
	struct queue *q = open_q(64 << 10);
	queue_close(&q);
	q = open_q(64 << 10);
	struct queue_stats st;
	queue_get_stats(q, &st);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(st.queued, 40);
	int64_t count;
	uint64_t set = read_set(q, &count);
	assert_int_equal(count, 39);
	assert_true(set == ((1ull << 40) - 1 - 16));
	queue_get_stats(q, &st);
	assert_int_equal(st.dropped, 1);
	assert_int_equal(st.delivered, 39);
	assert_int_equal(st.queued, 0);
	/* Every segment was passed: deleted but the one being written. */
	char path[600];
	seg_name(1, path, sizeof(path));
	assert_int_equal(access(path, F_OK), -1);
	queue_close(&q);
}

/* A damaged record in the middle of the last segment: skipped, not a torn tail (what
 * follows it stays); appends after a restart go on. */
static void test_damaged_in_the_last_segment(void **state)
{
	struct queue *q = open_q(1 << 20);
	for (int i = 0; i < 10; i++)
		put(q, i, 100);
	queue_close(&q);
	char seg[600];
	struct stat st0;
	seg_name(1, seg, sizeof(seg));
	assert_int_equal(stat(seg, &st0), 0);
	flip(seg, (off_t)(st0.st_size / 10 * 5 + 30)); /* record 5 */
	q = open_q(1 << 20);
	struct stat st1;
	assert_int_equal(stat(seg, &st1), 0);
	assert_int_equal(st1.st_size, st0.st_size);
	put(q, 10, 100);
	queue_flush(q);
	int64_t count;
	uint64_t set = read_set(q, &count);
	assert_int_equal(count, 10);
	assert_true(set == ((1ull << 11) - 1 - 32));
	struct queue_stats qs;
	queue_get_stats(q, &qs);
	assert_int_equal(qs.dropped, 1);
	assert_int_equal(qs.delivered, 10);
	queue_close(&q);
}

struct race {
	struct queue *q;
	int n;
	int done;
};

static void *producer(void *arg)
{
	struct race *r = arg;
	for (int i = 0; i < r->n; i++) {
		put(r->q, i, (size_t)(i % 300));
		if (i % 50 == 0)
			queue_flush(r->q);
	}
	queue_flush(r->q);
	__atomic_store_n(&r->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void test_threads(void **state)
{
	struct race r = {open_q(1LL << 30), 100000, 0};
	pthread_t t;
	int64_t next = 0;
	pthread_create(&t, NULL, producer, &r);
	for (;;) {
		int done = __atomic_load_n(&r.done, __ATOMIC_SEQ_CST);
		read_all(r.q, &next, 1, 64 << 10);
		if (done && next == r.n)
			break;
		queue_save_cursor(r.q);
	}
	pthread_join(t, NULL);
	assert_int_equal(next, r.n);
	struct queue_stats st;
	queue_get_stats(r.q, &st);
	assert_int_equal(st.delivered, r.n);
	assert_int_equal(st.queued, 0);
	queue_close(&r.q);
}

/*
 * A disk that takes no more (the file size limit stands in for it): the
 * flush fails, half a record is cut off the segment, and the records wait in
 * memory; once there is room every one is read back, in order, once.
 */
static void test_full_disk(void **state)
{
	struct queue *q = open_q(0);
	for (int i = 0; i < 10; i++)
		put(q, i, 100);
	assert_int_equal(queue_flush(q), 0);
	struct stat st;
	char seg[300];
	DIR *d = opendir(test_dir);
	struct dirent *e;
	seg[0] = '\0';
	while ((e = readdir(d)))
		if (strlen(e->d_name) == 18 && !strcmp(e->d_name + 16, ".q"))
			snprintf(seg, sizeof(seg), "%s/%s", test_dir, e->d_name);
	closedir(d);
	assert_true(seg[0] && stat(seg, &st) == 0);
	struct rlimit old, lim;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)st.st_size + 700; /* room for part of the next records */
	void (*h)(int) = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	for (int i = 10; i < 30; i++)
		put(q, i, 100);
	int r = queue_flush(q);
	struct stat st2;
	int sr = stat(seg, &st2);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, h);
	assert_int_equal(r, -EFBIG);
	assert_int_equal(sr, 0);
	assert_int_equal(st2.st_size, st.st_size); /* the half record is cut */
	struct queue_stats qs;
	queue_get_stats(q, &qs);
	assert_int_equal(qs.dropped, 0);
	assert_int_equal(queue_flush(q), 0);
	int64_t next = 0;
	assert_int_equal(read_all(q, &next, 1, 1 << 20), 30);
	queue_close(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_append_read_ack, test_dir_setup,
	                                    test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_rewind, test_dir_setup, test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_unreadable_segment_set_aside, test_dir_setup,
	                                    test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_restart, test_dir_setup, test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_unsaved_cursor, test_dir_setup,
	                                    test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_cursor_inside_a_record, test_dir_setup,
	                                    test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_size_limit, test_dir_setup, test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_drop_under_reader, test_dir_setup,
	                                    test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_full_disk, test_dir_setup, test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_torn_tail, test_dir_setup, test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_damaged_record, test_dir_setup,
	                                    test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_damaged_record_while_open, test_dir_setup,
	                                    test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_damaged_length, test_dir_setup,
	                                    test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_damaged_in_the_last_segment, test_dir_setup,
	                                    test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_threads, test_dir_setup, test_dir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

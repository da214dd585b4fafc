/*
 * A delivery queue on disk: append-only segment files and a persisted read
 * cursor, for one producer thread (the store) and one consumer thread (the
 * sink that delivers). Layout of the queue's directory:
 *
 *   0000000000000001.q ...  segments; each record is u32 length, u32 CRC-32
 *                           of the record, then the event record itself
 *   cursor                  "sinktrap-queue 1 SEG OFF NREC DELIVERED DROPPED CRC"
 *
 * Durability: queue_flush() writes the buffered records to the segment (the
 * kernel has them: a crash of the process loses nothing); queue_sync()
 * fdatasyncs it (the store calls it at every commit tick, so a power loss
 * loses at most that tick). The cursor names the last record the remote side
 * accepted; it is saved at most every few hundred milliseconds, so after a
 * crash the records after it are delivered again (at least once).
 *
 * Reopening scans every segment, checks every record's CRC and cuts a torn
 * tail of the last segment (a crash in the middle of a write) at the last
 * whole record. A record damaged on disk elsewhere is skipped alone (or up to
 * the next whole record when its length is damaged), at the open and when
 * read; each one skipped or cut is counted as dropped, once.
 *
 * Size limit: when a new record would take the queue past max_bytes, the
 * oldest segment is deleted and its undelivered records counted as dropped.
 */
#ifndef SINKTRAP_STORE_QUEUE_H
#define SINKTRAP_STORE_QUEUE_H

#include <stddef.h>
#include <stdint.h>

struct queue;

/* Where a batch was read from, for its acknowledgement. */
struct queue_span {
	uint64_t seg;
	uint64_t start, end; /* byte offsets in the segment */
	uint32_t n;          /* records */
	uint32_t skipped;    /* records damaged on disk, skipped: dropped once acknowledged */
};

/* Records read by the consumer: framed as on disk; walk with queue_batch_next. */
struct queue_batch {
	uint8_t *data; /* Malloced; reused from read to read. */
	size_t len, cap;
	struct queue_span span;
};

struct queue_stats {
	uint64_t appended;  /* records appended since open */
	uint64_t delivered; /* records acknowledged, total (persisted) */
	uint64_t
	    dropped; /* records dropped for size, write errors or damage, total (persisted) */
	uint64_t queued; /* records on disk not yet acknowledged */
	uint64_t bytes;  /* bytes on disk */
	uint64_t segments;
};

/* Open (create, recover) the queue in dir. NULL with err on failure. */
struct queue *queue_open(const char *dir, int64_t max_bytes, char *err, size_t errlen);
/* Flush, save the cursor and free. The caller has stopped the consumer. */
void queue_close(struct queue **q);

/* Producer: a new size limit (a reload). */
void queue_set_max(struct queue *q, int64_t max_bytes);
/* Producer: buffer one checked event record (flushed when the buffer is large). */
void queue_append(struct queue *q, const uint8_t *rec, size_t len);
/* Producer: write the buffered records and make them visible to the consumer. 0 or -errno. */
int queue_flush(struct queue *q);
/* Producer: fdatasync the segment being written. */
int queue_sync(struct queue *q);
/* Producer: records dropped for size since the last call (to report them), and in
 * *damaged those found damaged on disk (skipped, or cut off a torn tail). */
uint64_t queue_drops_take(struct queue *q, uint64_t *damaged);

/*
 * Consumer: read the next records after the read position (at most about
 * max_bytes, at least one record; never across segments). Returns 1 with a
 * batch, 0 when there is nothing to read.
 */
int queue_read(struct queue *q, struct queue_batch *b, size_t max_bytes);
/* Iterate a batch: *off starts at 0; returns 1 with the record, 0 at the end. */
int queue_batch_next(const struct queue_batch *b, size_t *off, const uint8_t **rec,
                     size_t *len);
void queue_batch_free(struct queue_batch *b);
/* Consumer: the records of span were accepted by the remote side. Spans are acked in order. */
void queue_ack(struct queue *q, const struct queue_span *span);
/* Consumer: read again from the last acknowledged record (after a broken connection). */
void queue_rewind(struct queue *q);
/* Consumer: persist the cursor if it moved (cheap when it did not). */
int queue_save_cursor(struct queue *q);
/* Readable when records were flushed since the last queue_event_clear. */
int queue_event_fd(const struct queue *q);
void queue_event_clear(struct queue *q);

void queue_get_stats(struct queue *q, struct queue_stats *st);

#endif

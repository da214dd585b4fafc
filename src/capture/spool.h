/*
 * The PCAP spool: a directory of capture files, each with its index beside
 * it, written one after the other and deleted oldest first.
 *
 * Names sort by creation: "sinktrap-20261122T224000Z-0000000123.pcap" (or
 * ".pcapng"): the UTC time the file was started and a sequence number that
 * only grows. The next number is one above the highest in the directory,
 * taken under the spool lock (an flock on ".lock"), so the capture worker
 * and an ingest running at the same time never collide. The sequence, not
 * the time, orders the files: a clock set back cannot make a new file look
 * old.
 *
 * A file being written is "NAME.part" and holds an flock for as long as its
 * writer lives; it appears under its final name only when complete, after
 * its index "NAME.idx" (index.h) is on disk. After a crash, spool_recover
 * cuts every unlocked ".part" to its last complete record, indexes it and
 * gives it its final name.
 *
 * Quota: before a file is started, the oldest finished files (capture and
 * index) go until the spool is under max_disk and the file system keeps
 * min_free percent free, both counting the file about to be written. The
 * newest finished file and files being written are never deleted. Files
 * with other names are neither counted nor touched.
 */
#ifndef SINKTRAP_CAPTURE_SPOOL_H
#define SINKTRAP_CAPTURE_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "capture/flow.h"

struct index_writer;

#define SPOOL_NAME_MAX 64 /* "sinktrap-YYYYmmddTHHMMSSZ-NNNNNNNNNN.pcapng" + NUL fits */

struct spool_file {
	char name[SPOOL_NAME_MAX]; /* final name, without ".part" */
	uint32_t seq;
	int64_t created; /* seconds since the epoch, from the name */
	uint64_t size;   /* bytes on disk: the capture plus its index */
	uint64_t pcap_size;
	uint8_t pcapng;
	uint8_t part;    /* "NAME.part": being written, or left by a crash */
	uint8_t indexed; /* "NAME.idx" exists */
};

struct spool_limits {
	uint64_t max_disk; /* bytes of capture files and indexes; 0 = no limit */
	int min_free;      /* percent of the file system kept free; 0 = none */
};

/* "sinktrap-...-SEQ.pcap[ng]" into buf. Returns 0 or -ENAMETOOLONG. */
int spool_name_make(char *buf, size_t len, int64_t created, uint32_t seq, int pcapng);
/* Parse a directory entry (final name or ".part"); 0, or -EINVAL for any other name. */
int spool_name_parse(const char *name, struct spool_file *out);

/* Every spool file of dir, sorted by sequence (malloced; the caller frees). 0 or -errno. */
int spool_list(const char *dir, struct spool_file **out, size_t *n);

/*
 * Flow ids for a capture run (the capture worker, an ingest): count ids that
 * no run has taken before in this spool. The spool keeps the next free id in
 * ".flow-ids", changed under the spool lock, so runs at the same time (the
 * worker and two ingests) never share an id. The block starts at floor or
 * later (the run's start time, so ids still grow with time from run to run).
 * *first is the id before the block: its ids are *first + 1 ... *first +
 * count. 0, or -errno (the file cannot be written).
 */
#define SPOOL_IDS_FILE ".flow-ids"
/* owner, group: given the file when not (uid_t)-1 (a root ingest: the spool's
 * owner, who reads it next), as spool_create does. */
int spool_take_ids(const char *dir, uid_t owner, gid_t group, uint64_t floor, uint64_t count,
                   uint64_t *first);

/* Take the spool lock (blocking); returns the descriptor that holds it, or -errno. */
int spool_lock(const char *dir);
void spool_unlock(int fd);

/*
 * Start a new file: a fresh sequence number (under the spool lock), above
 * every file in dir and above after (the last the caller was given: a file
 * of its own it dropped since, empty, must not lend its number to another
 * name), then "NAME.part" created (O_EXCL, mode 0640) and flocked.
 * owner/group: chown it ((uid_t)-1 leaves it). Returns the descriptor (the
 * caller closes it after spool_publish) or -errno; *f describes the file.
 */
int spool_create(const char *dir, int64_t now, int pcapng, uid_t owner, gid_t group,
                 uint32_t after, struct spool_file *f);

/*
 * Finish a file: its index written as "NAME.idx" (iw over pcap_size bytes),
 * then "NAME.part" renamed to NAME. iw may be NULL to rebuild the index from
 * the file instead (fc: flow settings for that, may be NULL). Returns 0 or a
 * negative errno with a message in err.
 */
int spool_publish(const char *dir, const struct spool_file *f, struct index_writer *iw,
                  uint64_t pcap_size, const struct flow_config *fc, char *err, size_t errlen);

/* Give a finished file and its index to owner/group (after an ingest as root). */
void spool_chown(const char *dir, const struct spool_file *f, uid_t owner, gid_t group);

enum { SPOOL_KEEP = 0, SPOOL_DEL_MAX_DISK = 1, SPOOL_DEL_MIN_FREE = 2 };

/*
 * The deletion policy, pure: files sorted by sequence, reserve the bytes of
 * the file about to be written, fs_total/fs_avail the file system's size and
 * free bytes (0 total: unknown, min_free is then not applied). Marks in
 * del[i] (n entries) the files to delete, oldest first, with the limit that
 * made it go (SPOOL_DEL_*), until both limits hold; never the newest
 * finished file, never a file being written. Returns how many are marked.
 */
size_t spool_plan(const struct spool_file *files, size_t n, const struct spool_limits *lim,
                  uint64_t reserve, uint64_t fs_total, uint64_t fs_avail, uint8_t *del);

/* Called for each file deleted; reason is "max_disk" or "min_free". */
typedef void spool_deleted_cb(void *arg, const struct spool_file *f, const char *reason);

/*
 * Apply the policy to dir now (under the spool lock): list, statvfs, plan,
 * delete capture then index. Returns the number of files deleted, or -errno.
 */
int spool_enforce(const char *dir, const struct spool_limits *lim, uint64_t reserve,
                  spool_deleted_cb *cb, void *arg);

/* Called for each file recovered or re-indexed, with what was done. */
typedef void spool_note_cb(void *arg, const char *name, const char *what);

/*
 * After a crash (under the spool lock): each unlocked "NAME.part" is cut to
 * its last complete record, indexed and renamed (an empty one is removed);
 * a finished file whose index is missing, unreadable (its header or block
 * table) or does not cover it is indexed again, and so is one of the newest
 * SPOOL_RECOVER_DEEP finished files with a block that does not decode: only
 * their blocks are all inflated (an older index's bad block is left to the
 * query, which then reads the capture), so a large spool starts fast. An
 * index without its capture and leftover temporary files go.
 * fc: flow settings for the rebuilt indexes (may be NULL). Returns the number
 * of files recovered or re-indexed, or -errno.
 */
#define SPOOL_RECOVER_DEEP 8
int spool_recover(const char *dir, const struct flow_config *fc, spool_note_cb *cb, void *arg);

#endif

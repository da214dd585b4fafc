/*
 * The recorder: what the capture worker and `sinktrap ingest` share. Each
 * packet is decoded, tracked in the flow table, appended to the spool file
 * being written and indexed under its flow; finished flows become "flow"
 * events and deleted spool files "pcap_expired" events, both built in the
 * emitter given (emit.h).
 *
 * A file holds one link type; packets of several link types (a pcapng of
 * several interfaces) go to files written side by side, one per link type
 * (8 at most: one more finishes the one the longest unused). Files rotate
 * past file_size, and (recorder_tick) after file_time. A finished file is
 * queued for a finisher thread, which writes its index, renames it to its
 * final name and applies the disk quota, file after file in the order they
 * finished, so neither the index encoding nor the unlinking of old files
 * stalls the packet path: several files finishing together (a file_time
 * rotation of two link types, a ninth link type, recorder_rotate) are all
 * queued at once, none waiting for another to be saved. Each file keeps its
 * index writer until it is saved, then the writer is reused: one fills per
 * file being written while the finisher saves the others. Only a finisher
 * 8 files behind (the queue's bound, one per file that can be open) makes a
 * hand-over wait for it.
 *
 * Single-threaded use (the finisher is internal). Time: flows age by packet
 * time (flow.h); recorder_expire moves that clock on when no packet comes
 * (live capture passes the wall clock; an ingest never does).
 */
#ifndef SINKTRAP_CAPTURE_RECORDER_H
#define SINKTRAP_CAPTURE_RECORDER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "capture/flow.h"
#include "capture/pcapfile.h"
#include "capture/spool.h"

struct emitter;
struct evbuf;

/* A finished flow, handed over instead of rendered (recorder_config.flow_cb):
 * first/last name the spool files of its first and last packet (NULL when it
 * was never written); expired: the last of them is deleted already (that
 * file itself: a file written beside it, of another link type, may have gone
 * while it is still open). f is borrowed for the call. */
typedef void recorder_flow_cb(void *arg, const struct flow *f, const char *first,
                              const char *last, int expired);

struct recorder_config {
	const char *spool;           /* directory, existing (borrowed) */
	enum pcapfile_format format; /* of the files written */
	uint64_t file_size;          /* rotate past this many bytes (0 = never) */
	int64_t file_time_ms;        /* rotate a file this old (0 = never) */
	size_t index_max_mem; /* rotate when its index takes this (0: INDEX_WRITER_MAX_MEM) */
	struct spool_limits limits;
	uint32_t snaplen;        /* of the files written (0 = PCAPFILE_MAX_CAPLEN) */
	struct flow_config flow; /* end_cb / cb_arg are the recorder's own */
	uid_t owner;             /* files created are given to owner:group ((uid_t)-1: left) */
	gid_t group;
	recorder_flow_cb *flow_cb; /* NULL: flows become events in the emitter */
	void *flow_cb_arg;
};

/*
 * Begin a "flow" event in b: flow_event_render's fields plus pcap{file_first,
 * file_last, expired} by name. The record is left open (finish it with
 * ev_end or emit_commit). Returns 0, or -EMSGSIZE (nothing added).
 */
int recorder_flow_event(struct evbuf *b, const struct flow *f, const char *first,
                        const char *last, int expired);

struct recorder_stats {
	uint64_t pkts, bytes;  /* packets given and their wire length */
	uint64_t written;      /* packets appended to a spool file */
	uint64_t write_errors; /* packets that could not be written */
	uint64_t refused;   /* packets of a link type no file could be opened for (-EMLINK) */
	uint64_t nonip;     /* not IP (written, not in any flow) */
	uint64_t malformed; /* IP header broken (written, not in any flow) */
	uint64_t files;     /* files finished */
	uint64_t files_deleted, bytes_deleted;
	uint64_t index_errors; /* files published without an index */
	uint64_t flow_events;  /* flows reported */
	struct flow_stats flows;
	int64_t last_ts;              /* the latest packet time given */
	char current[SPOOL_NAME_MAX]; /* file being written, "" when none */
};

struct recorder;

/*
 * Set up: the flow table, index writers and finisher thread; the quota is
 * applied once. em is borrowed and must outlive the recorder. Returns 0, or
 * a negative errno with a message in err.
 */
int recorder_new(struct recorder **out, const struct recorder_config *c, struct emitter *em,
                 char *err, size_t errlen);

/*
 * One packet. Written to the file being written for its link type (a new
 * one is started when there is none), tracked and indexed; flows that end
 * on the way are reported. Returns 0, or -errno when a write failed: this
 * packet, or packets buffered before it, could not be written (they are
 * counted in write_errors, the file is finished with the packets that
 * reached it, whole; the packet is still tracked; the next file is tried at
 * most once a second). -EMLINK: a link type without a file being written
 * when every file is taken and 64 were finished for room since the last
 * rotation or within the last second (link types taking turns past the
 * files that can be open at once); the packet is neither written nor
 * tracked, and counted as refused.
 */
int recorder_packet(struct recorder *r, int64_t ts_ns, const uint8_t *data, uint32_t caplen,
                    uint32_t origlen, uint32_t linktype);

/*
 * Ingest an existing classic pcap file as it is: its bytes (up to its last
 * complete record) are copied into the spool with copy_file_range while
 * the packets are tracked and indexed at their offsets in it. A file still
 * growing is taken as it is at the start: what is read is what is copied,
 * up to the size it had then. Finishes the files being written first.
 * *npkts gets the packets taken; *stop the reader's error when it stopped
 * early ("" otherwise). Returns 0, or -errno with err.
 */
int recorder_adopt(struct recorder *r, const char *path, uint64_t *npkts, char *stop,
                   size_t stoplen, char *err, size_t errlen);

/* Hand buffered packets to the kernel (a kill -9 after this loses none of them).
 * 0, or the -errno of a failed write (as recorder_packet). */
int recorder_flush(struct recorder *r);
/* End every flow now (between unrelated captures of an ingest). */
void recorder_end_flows(struct recorder *r, enum flow_end reason);
/* Move the flow clock to now_ns and end idle flows (live capture). */
void recorder_expire(struct recorder *r, int64_t now_ns);
/* Rotate by age, and report what the finisher did (deleted files). Call about once a second. */
void recorder_tick(struct recorder *r);
/* Finish the current file now (if it has packets). 0, or the -errno of a
 * failed write (as recorder_packet). */
int recorder_rotate(struct recorder *r);
/* End every flow (reason: FLOW_END_SHUTDOWN), finish the files, wait for the
 * finisher to save every one queued, report, free; sets *r to NULL. */
void recorder_close(struct recorder **r, enum flow_end reason);

void recorder_stats(const struct recorder *r, struct recorder_stats *out);

#endif

/*
 * Capture index: one small file beside each PCAP file, mapping flow id (and
 * Community ID) to the file offsets of that flow's packets, with a summary of
 * each flow (5-tuple, VLAN ids, first/last packet time, packet count) so a
 * query can filter flows without the store.
 *
 * Feeding it: for every packet written to the PCAP file, the capture loop
 * calls index_writer_add with the packet's flow (flow_table_track) and the
 * offset pcapfile_writer_write reported. When the PCAP file is closed,
 * index_writer_save writes "<pcap>.idx" (a temporary file, fsync, rename),
 * then index_writer_reset readies the writer for the next file. A crash
 * before that loses only the index: index_rebuild rescans the PCAP file and
 * writes it again (with flow ids of its own, flagged INDEX_F_REBUILT; the
 * Community ID, 5-tuple and times still join it to the store's flows).
 *
 * Format (little-endian), version 1:
 *   header, 64 bytes: magic "STCAPIX1", version, flags, Community ID seed,
 *     PCAP bytes covered, packets, flows, blocks, first and last time, CRC32
 *     of the block table, CRC32 of the header;
 *   block table: per block, first and last flow id, file offset, compressed
 *     and raw length, flows and packets (40 bytes each), sorted by flow id;
 *   blocks: zlib streams (their Adler-32 checks the content) of up to 4096
 *     flows each (1024 and 64k packets as written here), sorted by id, stored
 *     column by column: id deltas, family,
 *     protocol, VLAN ids, address dictionary indexes, ports, first time and
 *     duration (milliseconds, widened outward), packet counts, and packet
 *     offsets (the first as a signed delta from the previous flow's, then
 *     deltas), all as varints.
 * Opening reads the header and the block table (two reads); looking up a
 * flow binary-searches the table, then reads and inflates one block (one
 * read; the last block decoded is kept). Columns plus deflate keep the index
 * under 3% of the PCAP bytes even when every flow is a single SYN.
 *
 * The reader is a parser over untrusted bytes: every length, count, offset
 * and varint is checked, and a bad file gives -EBADMSG with a message.
 */
#ifndef SINKTRAP_CAPTURE_INDEX_H
#define SINKTRAP_CAPTURE_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "capture/decode.h"
#include "capture/flow.h"

#define INDEX_VERSION 1
#define INDEX_F_REBUILT 0x0001 /* flow ids come from a rescan, not from the capture run */
#define INDEX_BLOCK_FLOWS 4096

struct index_writer;

/* Returns 0 or -ENOMEM. cid_seed is recorded so Community IDs can be recomputed. */
int index_writer_new(struct index_writer **out, uint16_t cid_seed, uint16_t flags);
void index_writer_free(struct index_writer **w);
/* Forget all flows and packets, keeping the memory for the next file. */
void index_writer_reset(struct index_writer *w);

/*
 * Record one packet of flow id (key oriented as the flow, initiator first;
 * used the first time the id is seen) at offset in the PCAP file. Offsets of
 * one flow must increase (they do, as packets are written): -EINVAL if not,
 * or for a key that is not IPv4/IPv6. O(1) amortised; arrays grow by
 * doubling and are kept by index_writer_reset, so a writer reused file after
 * file stops allocating.
 */
int index_writer_add(struct index_writer *w, uint64_t flow_id, const struct decode_key *key,
                     int64_t ts_ns, uint64_t offset);
/* The same, with a hint kept by the caller per flow (struct index_hint, flow.h):
 * the flow's slot in this writer, so its packets after the first need no lookup.
 * A hint of another writer, of this one before a reset, or of another flow is
 * ignored (and replaced). */
int index_writer_add_hint(struct index_writer *w, uint64_t flow_id,
                          const struct decode_key *key, int64_t ts_ns, uint64_t offset,
                          struct index_hint *hint);

/*
 * A packet at offset whose flow is not known yet (a later IP fragment held for
 * its first, flow.h): it takes its place among the file's packets now, so the
 * offsets of the flow it is given later still come in file order. offset must
 * be past every packet added (-EINVAL if not). *pos names it for
 * index_writer_assign; a packet never assigned is in no flow (like a non-IP
 * one). O(1) amortised.
 */
int index_writer_add_pending(struct index_writer *w, uint64_t offset, size_t *pos);
/* Give the pending packet pos its flow (as index_writer_add_hint: id, key used
 * if the flow is new here, packet time, hint). -ENOENT when pos is not pending. O(1). */
int index_writer_assign(struct index_writer *w, size_t pos, uint64_t flow_id,
                        const struct decode_key *key, int64_t ts_ns, struct index_hint *hint);

/*
 * The memory the writer's flows and packets take now (about 120 bytes a flow,
 * 12 a packet, and what encoding them takes), which grows with the flows of
 * the file, not its bytes: a file of one-packet flows (a SYN scan) takes more
 * memory than it has bytes. The recorder ends a file when it passes
 * INDEX_WRITER_MAX_MEM.
 */
size_t index_writer_memory(const struct index_writer *w);
#define INDEX_WRITER_MAX_MEM (48u << 20)

/* Encode into a malloced buffer (*out, the caller frees). pcap_size is the
 * PCAP file's length; every offset must lie below it, and each flow's must
 * increase in the order added (-EINVAL otherwise).
 * O(n log n) in flows (a sort) plus O(packets). Returns 0 or a negative errno. */
int index_writer_encode(struct index_writer *w, uint64_t pcap_size, uint8_t **out, size_t *len);
/* Encode and write path atomically (path.tmp, fsync, rename). */
int index_writer_save(struct index_writer *w, uint64_t pcap_size, const char *path, char *err,
                      size_t errlen);

/* "<pcap_path>.idx" into buf. Returns 0, or -ENAMETOOLONG. */
int index_path_for(const char *pcap_path, char *buf, size_t len);

/*
 * Rescan a PCAP file and write its index (flags INDEX_F_REBUILT). cfg may be
 * NULL (defaults). A truncated tail is left out of the index; a packet
 * longer than the file's snaplen is indexed (lenient reading, as ingest
 * adopts such a file); other read errors fail. Returns 0 or a negative errno with a message in
 * err.
 */
int index_rebuild(const char *pcap_path, const char *index_path, const struct flow_config *cfg,
                  char *err, size_t errlen);

struct index_info {
	uint16_t version, flags, cid_seed;
	uint64_t pcap_size, npkts;
	uint32_t nflows, nblocks;
	int64_t first_ns, last_ns;
};

struct index_flow {
	uint64_t id;
	struct decode_key key;     /* initiator first */
	int64_t first_ns, last_ns; /* to the millisecond, widened outward */
	uint32_t npkts;
};

struct index_reader;

/* Read the header and block table of path (the file stays open for lookups). */
int index_reader_open(struct index_reader **out, const char *path, char *err, size_t errlen);
/* Over len bytes at buf, borrowed: they must outlive the reader. */
int index_reader_open_mem(struct index_reader **out, const void *buf, size_t len, char *err,
                          size_t errlen);
void index_reader_close(struct index_reader **r);
void index_reader_info(const struct index_reader *r, struct index_info *out);
/* The message of the last error ("" when none). */
const char *index_reader_error(const struct index_reader *r);

/*
 * Find flow id: fills *fl and points *offsets at its npkts offsets
 * (increasing; reader memory, valid until the next call). Returns 0,
 * -ENOENT, or -EBADMSG / -EIO. O(log blocks + flows in the block).
 */
int index_reader_find(struct index_reader *r, uint64_t id, struct index_flow *fl,
                      const uint64_t **offsets);

/* Called per flow; a nonzero return stops the walk and is returned. */
typedef int index_flow_cb(void *arg, const struct index_flow *fl, const uint64_t *offsets);

/* Every flow, by increasing id. Returns 0, the callback's value, or an error. */
int index_reader_foreach(struct index_reader *r, index_flow_cb *cb, void *arg);

/* Every flow whose Community ID (recomputed with the stored seed) is cid. */
int index_reader_find_cid(struct index_reader *r, const char *cid, index_flow_cb *cb,
                          void *arg);

#endif

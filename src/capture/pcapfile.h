/*
 * Capture files: a reader for classic pcap and pcapng, and a writer for both.
 *
 * Reader. The format is detected from the magic number, never the name:
 *   pcap    both byte orders, microsecond (a1b2c3d4) and nanosecond
 *           (a1b23c4d) magic, the modified (Kuznetzov) variant, any snaplen;
 *   pcapng  section header in either byte order, several sections and
 *           interfaces (each packet carries its own link type), if_tsresol
 *           (powers of 10 and of 2) and if_tsoffset, enhanced, simple and
 *           obsolete packet blocks; every other block is skipped.
 * The source is a memory image (a caller's buffer, or a file this module
 * maps) or a stdio stream such as stdin (read sequentially, never seeked).
 * Every packet comes with its timestamp in nanoseconds, captured and
 * original length, link type, and the byte offset of its record in the file
 * (pcap record header or pcapng block), which is what the capture index
 * stores.
 *
 * Errors are sticky and come with a message (pcapfile_reader_error). Every
 * packet before the fault is returned first:
 *   -EINVAL    not a capture file (bad magic), unsupported version
 *   -EBADMSG   corrupt structure: block length too small or not a multiple
 *              of 4, trailer length mismatch, unknown interface id
 *   -EMSGSIZE  caplen above the snaplen or PCAPFILE_MAX_CAPLEN, or a packet
 *              block too large to hold
 *   -ENODATA   the file ends inside a record (truncated, e.g. a writer killed
 *              mid-record). On a stream, calling next again retries the read,
 *              so a reader can follow a file that is still being written.
 *   -EIO       read error
 *
 * Writer: pcap (microsecond or nanosecond magic) or pcapng (one section, one
 * interface, if_tsresol = 9 for nanoseconds), with a given link type and
 * snaplen. Packets are buffered; pcapfile_writer_flush hands them to the
 * kernel (after which a kill -9 loses nothing), pcapfile_writer_sync also
 * fdatasyncs. A write that fails (full disk, file size limit) is sticky and
 * leaves no partial record behind: the file is cut back to the end of the
 * last record written whole. Opening a non-empty regular file appends to it:
 * its header must match, and a partial last record (from a crash) is cut off
 * first.
 */
#ifndef SINKTRAP_CAPTURE_PCAPFILE_H
#define SINKTRAP_CAPTURE_PCAPFILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Largest packet accepted or written (the largest snaplen libpcap uses). */
#define PCAPFILE_MAX_CAPLEN (256 * 1024)

enum pcapfile_format {
	PCAPFILE_PCAP = 1, /* microsecond timestamps */
	PCAPFILE_PCAP_NS,  /* nanosecond timestamps */
	PCAPFILE_PCAPNG,   /* written with nanosecond timestamps */
};

/*
 * The latest time a record can carry: a classic pcap's 32-bit seconds. The
 * reader gives every record a time in [0, PCAPFILE_TS_MAX_NS] (an earlier or
 * later one is taken as the bound), the range the writer stores, so the flow
 * table, the index and the spool file agree on every packet's time.
 */
#define PCAPFILE_TS_MAX_NS ((int64_t)0xffffffff * 1000000000 + 999999999)

struct pcapfile_pkt {
	const uint8_t *data; /* borrowed until the next call on the reader */
	uint64_t offset;     /* of the record (pcap header / pcapng block) in the file */
	int64_t ts_ns;       /* since the epoch (PCAPFILE_TS_MAX_NS); an SPB repeats the last */
	uint32_t caplen;
	uint32_t origlen;
	uint32_t linktype;
	uint32_t ifindex; /* pcapng interface within its section; 0 for pcap */
};

struct pcapfile_reader;

/* Over len bytes at buf, borrowed: they must outlive the reader. */
int pcapfile_reader_open_mem(struct pcapfile_reader **out, const void *buf, size_t len,
                             char *err, size_t errlen);
/* Over a stream (a file, a pipe, stdin) that stays the caller's to close. */
int pcapfile_reader_open_stream(struct pcapfile_reader **out, FILE *f, char *err,
                                size_t errlen);
/* A path: a regular file is mapped, anything else is read as a stream; "-" is stdin. */
int pcapfile_reader_open_path(struct pcapfile_reader **out, const char *path, char *err,
                              size_t errlen);
/*
 * A path for reading through: a regular file is read with read(2) in 1 MB
 * pieces (where page faults cost more than the copy, this is the fastest way
 * through a file; pcapfile_reader_seek works too); anything else as
 * pcapfile_reader_open_path.
 */
int pcapfile_reader_open_file(struct pcapfile_reader **out, const char *path, char *err,
                              size_t errlen);
/*
 * A path for reading here and there (pcapfile_reader_seek to offsets from an
 * index): read(2) in pieces of 16 KB after each seek, doubling as reading
 * goes on without one (up to 1 MB), so a few packets cost a few small reads
 * and a long run of them is read as pcapfile_reader_open_file would.
 */
int pcapfile_reader_open_sparse(struct pcapfile_reader **out, const char *path, char *err,
                                size_t errlen);
/* Frees the reader (and unmaps or closes what it opened itself); sets *r to NULL. */
void pcapfile_reader_close(struct pcapfile_reader **r);

/*
 * Next packet into *pkt: 1 = a packet, 0 = clean end of file, negative = an
 * error as listed above. O(1); nothing is allocated per packet.
 */
int pcapfile_reader_next(struct pcapfile_reader *r, struct pcapfile_pkt *pkt);

/*
 * Continue at offset, which must be a record start (an offset reported in
 * pcapfile_pkt). Memory and file readers (-ESPIPE on a stream). For pcapng the
 * interfaces known are those of the section read last, so offsets must come
 * from the same section (files written here have one).
 */
int pcapfile_reader_seek(struct pcapfile_reader *r, uint64_t offset);

/* The message of the last error ("" when none). Borrowed from the reader. */
const char *pcapfile_reader_error(const struct pcapfile_reader *r);
/*
 * Lenient mode: a packet longer than its file's (or interface's) snaplen,
 * but within PCAPFILE_MAX_CAPLEN, is returned whole instead of failing with
 * -EMSGSIZE (libpcap reads such files too); pcapfile_reader_oversized counts them.
 */
void pcapfile_reader_set_lenient(struct pcapfile_reader *r, int on);
/*
 * Read the file as if it ended after size bytes (a file still being written:
 * as it was when its size was taken). A record across that point is a
 * truncated one (-ENODATA). Not below the offset read to already.
 */
void pcapfile_reader_set_limit(struct pcapfile_reader *r, uint64_t size);
uint64_t pcapfile_reader_oversized(const struct pcapfile_reader *r);
enum pcapfile_format pcapfile_reader_format(const struct pcapfile_reader *r);
/* Link type and snaplen of the file (pcap) or of the first interface seen
 * (pcapng; link type 0xffffffff if the section has none before its packets). */
uint32_t pcapfile_reader_linktype(const struct pcapfile_reader *r);
uint32_t pcapfile_reader_snaplen(const struct pcapfile_reader *r);
/* Offset just past the last record read: the end of the file's good part. */
uint64_t pcapfile_reader_offset(const struct pcapfile_reader *r);

struct pcapfile_writer;

/*
 * Write to fd (borrowed: the caller closes it after pcapfile_writer_close).
 * An empty file or a pipe gets a new header; a non-empty regular file is
 * appended to (see above). snaplen 0 means PCAPFILE_MAX_CAPLEN.
 */
int pcapfile_writer_open(struct pcapfile_writer **out, int fd, enum pcapfile_format fmt,
                         uint32_t linktype, uint32_t snaplen, char *err, size_t errlen);
/* Open (create, mode 0640) or append to path; the writer owns the descriptor. */
int pcapfile_writer_open_path(struct pcapfile_writer **out, const char *path,
                              enum pcapfile_format fmt, uint32_t linktype, uint32_t snaplen,
                              char *err, size_t errlen);
/*
 * Append one packet, cut to the snaplen; *offset (if not NULL) receives the
 * offset of its record. Returns 0 or a negative errno (then sticky).
 */
int pcapfile_writer_write(struct pcapfile_writer *w, int64_t ts_ns, const void *data,
                          uint32_t caplen, uint32_t origlen, uint64_t *offset);
/* Hand buffered records to the kernel. */
int pcapfile_writer_flush(struct pcapfile_writer *w);
/* Flush, then fdatasync. */
int pcapfile_writer_sync(struct pcapfile_writer *w);
/* Size of the file including buffered records. */
uint64_t pcapfile_writer_offset(const struct pcapfile_writer *w);
/*
 * Records (packets) this writer has handed to the kernel whole. After a
 * failed write (the error is sticky) these are the ones the file keeps: the
 * partial record the failure left is cut off, so a regular file ends with
 * its last complete record; the records still buffered are lost.
 */
uint64_t pcapfile_writer_records(const struct pcapfile_writer *w);
/* Flush and free; sets *w to NULL. Returns the flush result. */
int pcapfile_writer_close(struct pcapfile_writer **w);

#endif

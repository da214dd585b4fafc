#include "pcapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

/* A block we parse is held whole: a maximal packet plus room for options. */
#define MAX_BLOCK (PCAPFILE_MAX_CAPLEN + 64 * 1024)
/* Unknown pcapng blocks are skipped; a length past this is taken as corruption. */
#define MAX_SKIP_BLOCK (64u << 20)
#define MAX_IFACES 1024
#define STREAM_BUF_INIT (64 * 1024)
#define WRITE_BUF (MAX_BLOCK + 64 * 1024)

#define PCAP_MAGIC_US 0xa1b2c3d4u
#define PCAP_MAGIC_NS 0xa1b23c4du
#define PCAP_MAGIC_KUZ 0xa1b2cd34u /* modified pcap: 8 more bytes per record header */
#define NG_SHB 0x0a0d0d0au
#define NG_IDB 0x00000001u
#define NG_OPB 0x00000002u /* obsolete packet block */
#define NG_SPB 0x00000003u
#define NG_EPB 0x00000006u
#define NG_BOM 0x1a2b3c4du

struct iface {
	uint32_t linktype;
	uint32_t snaplen;
	uint8_t ts_bin; /* resolution is 2^-ts_exp (else 10^-ts_exp) seconds */
	uint8_t ts_exp;
	int64_t ts_off_s; /* if_tsoffset: seconds added to every time stamp */
};

struct pcapfile_reader {
	const uint8_t *mem; /* memory source, or NULL for a stream */
	size_t memlen;
	void *map; /* mapped by us */
	size_t maplen;
	FILE *f;
	int own_f;
	int fd;       /* a regular file read with read(2) in large pieces, or -1 */
	uint8_t *buf; /* stream window: buf[bstart, bend) are the bytes at pos */
	size_t cap, bstart, bend;
	size_t chunk;   /* sparse reading: the next read's size, 0 = as far as cap goes */
	uint64_t pos;   /* file offset of the next record */
	uint64_t limit; /* the file is read as if it ended here (pcapfile_reader_set_limit) */

	enum pcapfile_format fmt;
	int be;     /* file (or current section) is big-endian */
	int ns;     /* pcap: nanosecond fractions */
	int rechdr; /* pcap: record header length (16, or 24 for the modified format) */
	uint32_t linktype, snaplen;
	struct iface *ifs; /* pcapng: interfaces of the current section */
	uint32_t nifs, ifcap;
	int64_t last_ts;
	int lenient;        /* caplen above the snaplen is accepted (and counted) */
	uint64_t oversized; /* packets longer than their snaplen */
	int err;            /* sticky error, 0 if none */
	char errbuf[256];
};

static const uint64_t pow10_tab[20] = {
    1ull,
    10ull,
    100ull,
    1000ull,
    10000ull,
    100000ull,
    1000000ull,
    10000000ull,
    100000000ull,
    1000000000ull,
    10000000000ull,
    100000000000ull,
    1000000000000ull,
    10000000000000ull,
    100000000000000ull,
    1000000000000000ull,
    10000000000000000ull,
    100000000000000000ull,
    1000000000000000000ull,
    10000000000000000000ull,
};

/* Inlined: they run several times per packet. */
static inline __attribute__((always_inline)) uint16_t rd16(const struct pcapfile_reader *r,
                                                           const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return r->be ? __builtin_bswap16(v) : v;
}

static inline __attribute__((always_inline)) uint32_t rd32(const struct pcapfile_reader *r,
                                                           const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return r->be ? __builtin_bswap32(v) : v;
}

static int rfail(struct pcapfile_reader *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int rfail(struct pcapfile_reader *r, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->errbuf, sizeof(r->errbuf), fmt, ap);
	va_end(ap);
	/* A truncated tail may still grow (a stream being written): not sticky. */
	if (code != -ENODATA)
		r->err = code;
	return code;
}

/*
 * Make n bytes at r->pos available at *p. Returns 0; 1 when not a single
 * byte is left (clean end); -ENODATA when fewer than n are; -EIO, -ENOMEM.
 */
static int need(struct pcapfile_reader *r, size_t n, const uint8_t **p)
{
	if (r->mem) {
		if (r->pos >= r->memlen)
			return 1;
		if (r->memlen - r->pos < n)
			return -ENODATA;
		*p = r->mem + r->pos;
		return 0;
	}
	size_t have = r->bend - r->bstart;
	if (have < n) {
		if (n > r->cap) {
			size_t cap = r->cap * 2 > n ? r->cap * 2 : n;
			uint8_t *nb = malloc(cap);
			if (nb == NULL)
				return -ENOMEM;
			memcpy(nb, r->buf + r->bstart, have);
			free(r->buf);
			r->buf = nb;
			r->cap = cap;
		} else if (r->bstart > 0) {
			memmove(r->buf, r->buf + r->bstart, have);
		}
		r->bstart = 0;
		r->bend = have;
		/* Read only what is needed, so a live pipe is never waited on for more;
		 * a regular file is read as far as the buffer goes. */
		while (r->bend < n) {
			size_t got;
			/* the buffer starts at pos: nothing is read past the limit */
			uint64_t at = r->pos + r->bend;
			uint64_t left = r->limit > at ? r->limit - at : 0;
			if (left == 0)
				break;
			if (r->fd >= 0) {
				size_t want = r->cap - r->bend;
				if (r->chunk) {
					size_t w =
					    n - r->bend > r->chunk ? n - r->bend : r->chunk;
					if (w < want)
						want = w;
					if (r->chunk < r->cap)
						r->chunk *= 2; /* read on: ever larger pieces */
				}
				if (want > left)
					want = (size_t)left;
				ssize_t k = read(r->fd, r->buf + r->bend, want);
				if (k < 0) {
					if (errno == EINTR)
						continue;
					return -EIO;
				}
				got = (size_t)k;
			} else {
				size_t want = n - r->bend;
				if (want > left)
					want = (size_t)left;
				got = fread(r->buf + r->bend, 1, want, r->f);
			}
			if (got == 0) {
				if (r->f && ferror(r->f)) {
					clearerr(r->f);
					return -EIO;
				}
				if (r->f)
					clearerr(r->f); /* EOF: a later call may find more */
				break;
			}
			r->bend += got;
		}
		if (r->bend < n)
			return r->bend == 0 ? 1 : -ENODATA;
	}
	*p = r->buf + r->bstart;
	return 0;
}

static void consume(struct pcapfile_reader *r, size_t n)
{
	r->pos += n;
	if (!r->mem)
		r->bstart += n;
}

/* Skip n bytes without holding them (large unknown pcapng blocks on a stream). */
static int skip(struct pcapfile_reader *r, uint64_t n)
{
	if (r->mem) {
		if (r->memlen - r->pos < n)
			return -ENODATA;
		r->pos += n;
		return 0;
	}
	size_t have = r->bend - r->bstart;
	if (have >= n) {
		consume(r, (size_t)n);
		return 0;
	}
	r->pos += have;
	n -= have;
	r->bstart = r->bend = 0;
	if (r->pos + n > r->limit)
		return -ENODATA;
	if (r->fd >= 0) {
		struct stat st;
		if (fstat(r->fd, &st) < 0 || (uint64_t)st.st_size < r->pos + n)
			return -ENODATA;
		if (lseek(r->fd, (off_t)(r->pos + n), SEEK_SET) < 0)
			return -EIO;
		r->pos += n;
		return 0;
	}
	while (n > 0) {
		size_t want = n < r->cap ? (size_t)n : r->cap;
		size_t got = fread(r->buf, 1, want, r->f);
		if (got == 0)
			return ferror(r->f) ? -EIO : -ENODATA;
		r->pos += got;
		n -= got;
	}
	return 0;
}

/* A time as the writer stores it: [0, PCAPFILE_TS_MAX_NS]. */
static int64_t ts_clamp(__int128 ns)
{
	return ns < 0 ? 0 : ns > PCAPFILE_TS_MAX_NS ? PCAPFILE_TS_MAX_NS : (int64_t)ns;
}

/* In 128 bits: neither a resolution, a time nor an offset can overflow. */
static int64_t ts_convert(const struct iface *i, uint64_t t)
{
	__int128 ns;
	if (i->ts_bin)
		ns = (__int128)(((unsigned __int128)t * 1000000000u) >> i->ts_exp);
	else if (i->ts_exp <= 9)
		ns = (__int128)t * pow10_tab[9 - i->ts_exp];
	else if (i->ts_exp - 9 < 20)
		ns = (__int128)(t / pow10_tab[i->ts_exp - 9]);
	else
		ns = 0;
	return ts_clamp(ns + (__int128)i->ts_off_s * 1000000000);
}

static int parse_idb(struct pcapfile_reader *r, const uint8_t *p, uint32_t blen)
{
	struct iface ifc = {.ts_bin = 0, .ts_exp = 6};
	if (blen < 20)
		return rfail(r, -EBADMSG, "interface block too short (%u) at offset %" PRIu64,
		             blen, r->pos);
	if (r->nifs >= MAX_IFACES)
		return rfail(r, -EBADMSG, "more than %d interfaces in a section", MAX_IFACES);
	ifc.linktype = rd16(r, p + 8);
	ifc.snaplen = rd32(r, p + 12);
	/* Options: code, length, value padded to 4; a malformed tail is ignored. */
	uint32_t o = 16, end = blen - 4;
	while (end - o >= 4) {
		uint16_t code = rd16(r, p + o), len = rd16(r, p + o + 2);
		uint32_t padded = ((uint32_t)len + 3) & ~3u;
		if (code == 0 || end - o - 4 < padded)
			break;
		if (code == 9 && len >= 1) {
			ifc.ts_bin = (p[o + 4] & 0x80) != 0;
			ifc.ts_exp = p[o + 4] & 0x7f;
		} else if (code == 14 && len == 8) {
			uint64_t v =
			    r->be ? ((uint64_t)rd32(r, p + o + 4) << 32 | rd32(r, p + o + 8))
			          : ((uint64_t)rd32(r, p + o + 8) << 32 | rd32(r, p + o + 4));
			ifc.ts_off_s = (int64_t)v; /* signed (two's complement) */
		}
		o += 4 + padded;
	}
	if (r->nifs == r->ifcap) {
		uint32_t cap = r->ifcap ? r->ifcap * 2 : 4;
		struct iface *n = realloc(r->ifs, cap * sizeof(*n));
		if (n == NULL)
			return rfail(r, -ENOMEM, "out of memory");
		r->ifs = n;
		r->ifcap = cap;
	}
	r->ifs[r->nifs++] = ifc;
	if (r->linktype == 0xffffffffu) {
		r->linktype = ifc.linktype;
		r->snaplen = ifc.snaplen;
	}
	return 0;
}

/* The section header at r->pos: byte order, version; resets the interfaces. */
static int parse_shb(struct pcapfile_reader *r)
{
	const uint8_t *p;
	int rc = need(r, 12, &p);
	if (rc == 1 || rc == -ENODATA)
		return rfail(r, -ENODATA, "truncated section header at offset %" PRIu64,
		             r->pos);
	if (rc < 0)
		return rfail(r, rc, "read error at offset %" PRIu64, r->pos);
	uint32_t bom = (uint32_t)p[8] | (uint32_t)p[9] << 8 | (uint32_t)p[10] << 16 |
	               (uint32_t)p[11] << 24;
	if (bom == NG_BOM)
		r->be = 0;
	else if (bom == 0x4d3c2b1au)
		r->be = 1;
	else
		return rfail(r, -EBADMSG,
		             "bad byte-order magic in section header at offset %" PRIu64,
		             r->pos);
	uint32_t blen = rd32(r, p + 4);
	if (blen < 28 || blen % 4 != 0)
		return rfail(r, -EBADMSG, "corrupt section header length %u at offset %" PRIu64,
		             blen, r->pos);
	if (blen > MAX_BLOCK)
		return rfail(r, -EMSGSIZE, "section header too large (%u) at offset %" PRIu64,
		             blen, r->pos);
	rc = need(r, blen, &p);
	if (rc == 1 || rc == -ENODATA)
		return rfail(r, -ENODATA, "truncated section header at offset %" PRIu64,
		             r->pos);
	if (rc < 0)
		return rfail(r, rc, "read error at offset %" PRIu64, r->pos);
	if (rd32(r, p + blen - 4) != blen)
		return rfail(r, -EBADMSG, "section header trailer mismatch at offset %" PRIu64,
		             r->pos);
	if (rd16(r, p + 12) != 1)
		return rfail(r, -EINVAL, "unsupported pcapng version %u.%u", rd16(r, p + 12),
		             rd16(r, p + 14));
	r->nifs = 0;
	consume(r, blen);
	return 0;
}

static int open_header(struct pcapfile_reader *r)
{
	const uint8_t *p;
	int rc = need(r, 4, &p);
	if (rc == 1)
		return rfail(r, -ENODATA, "empty file");
	if (rc == -ENODATA)
		return rfail(r, -ENODATA, "truncated file header");
	if (rc < 0)
		return rfail(r, rc, "read error");
	uint32_t m =
	    (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	uint32_t ms = __builtin_bswap32(m);
	r->linktype = 0xffffffffu;
	if (m == NG_SHB) {
		r->fmt = PCAPFILE_PCAPNG;
		if ((rc = parse_shb(r)) < 0)
			return rc;
		/* Take in the interfaces that follow, so the link type is known at open. A
		 * fault here is left for pcapfile_reader_next to report in order. */
		uint32_t blen;
		while (need(r, 8, &p) == 0 && rd32(r, p) == NG_IDB &&
		       (blen = rd32(r, p + 4)) >= 20 && blen % 4 == 0 && blen <= MAX_BLOCK &&
		       need(r, blen, &p) == 0 && rd32(r, p + blen - 4) == blen) {
			if ((rc = parse_idb(r, p, blen)) < 0)
				return rc;
			consume(r, blen);
		}
		return 0;
	}
	r->rechdr = 16;
	if (m == PCAP_MAGIC_US || m == PCAP_MAGIC_NS || m == PCAP_MAGIC_KUZ) {
		r->be = 0;
	} else if (ms == PCAP_MAGIC_US || ms == PCAP_MAGIC_NS || ms == PCAP_MAGIC_KUZ) {
		r->be = 1;
		m = ms;
	} else {
		return rfail(r, -EINVAL, "not a pcap or pcapng file (magic %08x)", m);
	}
	r->ns = m == PCAP_MAGIC_NS;
	r->fmt = r->ns ? PCAPFILE_PCAP_NS : PCAPFILE_PCAP;
	if (m == PCAP_MAGIC_KUZ)
		r->rechdr = 24;
	rc = need(r, 24, &p);
	if (rc == 1 || rc == -ENODATA)
		return rfail(r, -ENODATA, "truncated file header");
	if (rc < 0)
		return rfail(r, rc, "read error");
	if (rd16(r, p + 4) != 2)
		return rfail(r, -EINVAL, "unsupported pcap version %u.%u", rd16(r, p + 4),
		             rd16(r, p + 6));
	r->snaplen = rd32(r, p + 16);
	/* The upper bits carry FCS information; the link type is the low 16. */
	r->linktype = rd32(r, p + 20) & 0xffff;
	consume(r, 24);
	return 0;
}

static int next_pcap(struct pcapfile_reader *r, struct pcapfile_pkt *pkt)
{
	const uint8_t *p;
	uint32_t hl = (uint32_t)r->rechdr;
	int rc = need(r, hl, &p);
	if (rc == 1)
		return 0;
	if (rc == -ENODATA)
		return rfail(r, rc, "truncated record header at offset %" PRIu64, r->pos);
	if (rc < 0)
		return rfail(r, rc, "read error at offset %" PRIu64, r->pos);
	uint32_t sec = rd32(r, p), frac = rd32(r, p + 4);
	uint32_t caplen = rd32(r, p + 8), origlen = rd32(r, p + 12);
	if (caplen > PCAPFILE_MAX_CAPLEN)
		return rfail(r, -EMSGSIZE, "caplen %u above the %u limit at offset %" PRIu64,
		             caplen, PCAPFILE_MAX_CAPLEN, r->pos);
	if (r->snaplen != 0 && caplen > r->snaplen) {
		if (!r->lenient)
			return rfail(r, -EMSGSIZE,
			             "caplen %u above snaplen %u at offset %" PRIu64, caplen,
			             r->snaplen, r->pos);
		r->oversized++;
	}
	rc = need(r, (size_t)hl + caplen, &p);
	if (rc == 1 || rc == -ENODATA)
		return rfail(r, -ENODATA, "truncated packet at offset %" PRIu64, r->pos);
	if (rc < 0)
		return rfail(r, rc, "read error at offset %" PRIu64, r->pos);
	pkt->data = p + hl;
	pkt->offset = r->pos;
	pkt->ts_ns = ts_clamp((__int128)sec * 1000000000 + (__int128)frac * (r->ns ? 1 : 1000));
	pkt->caplen = caplen;
	pkt->origlen = origlen;
	pkt->linktype = r->linktype;
	pkt->ifindex = 0;
	consume(r, (size_t)hl + caplen);
	return 1;
}

static int check_caplen(struct pcapfile_reader *r, uint32_t caplen, uint32_t snaplen)
{
	if (caplen > PCAPFILE_MAX_CAPLEN)
		return rfail(r, -EMSGSIZE, "caplen %u above the %u limit at offset %" PRIu64,
		             caplen, PCAPFILE_MAX_CAPLEN, r->pos);
	if (snaplen != 0 && caplen > snaplen) {
		if (!r->lenient)
			return rfail(r, -EMSGSIZE,
			             "caplen %u above snaplen %u at offset %" PRIu64, caplen,
			             snaplen, r->pos);
		r->oversized++;
	}
	return 0;
}

static int next_pcapng(struct pcapfile_reader *r, struct pcapfile_pkt *pkt)
{
	for (;;) {
		const uint8_t *p;
		int rc = need(r, 8, &p);
		if (rc == 1)
			return 0;
		if (rc == -ENODATA)
			return rfail(r, rc, "truncated block header at offset %" PRIu64,
			             r->pos);
		if (rc < 0)
			return rfail(r, rc, "read error at offset %" PRIu64, r->pos);
		uint32_t type = rd32(r, p);
		if (type == NG_SHB) {
			if ((rc = parse_shb(r)) < 0)
				return rc;
			continue;
		}
		uint32_t blen = rd32(r, p + 4);
		if (blen < 12 || blen % 4 != 0)
			return rfail(r, -EBADMSG, "corrupt block length %u at offset %" PRIu64,
			             blen, r->pos);
		int held = type == NG_IDB || type == NG_EPB || type == NG_SPB || type == NG_OPB;
		if (!held && blen > MAX_BLOCK) {
			if (blen > MAX_SKIP_BLOCK)
				return rfail(r, -EBADMSG,
				             "implausible block length %u at offset %" PRIu64,
				             blen, r->pos);
			uint64_t at = r->pos;
			if ((rc = skip(r, blen - 4)) < 0 || (rc = need(r, 4, &p)) != 0) {
				r->pos = at;
				rc = rc == -EIO ? -EIO : -ENODATA;
				rfail(r, rc, "truncated block at offset %" PRIu64, at);
				if (!r->mem)
					r->err = rc; /* a stream cannot go back to retry */
				return rc;
			}
			if (rd32(r, p) != blen)
				return rfail(r, -EBADMSG,
				             "block trailer mismatch at offset %" PRIu64, at);
			consume(r, 4);
			continue;
		}
		if (blen > MAX_BLOCK)
			return rfail(r, -EMSGSIZE, "block too large (%u) at offset %" PRIu64,
			             blen, r->pos);
		rc = need(r, blen, &p);
		if (rc == 1 || rc == -ENODATA)
			return rfail(r, -ENODATA, "truncated block at offset %" PRIu64, r->pos);
		if (rc < 0)
			return rfail(r, rc, "read error at offset %" PRIu64, r->pos);
		if (rd32(r, p + blen - 4) != blen)
			return rfail(r, -EBADMSG, "block trailer mismatch at offset %" PRIu64,
			             r->pos);

		uint32_t ifid, caplen, origlen;
		uint64_t t;
		const struct iface *ifc;
		switch (type) {
		case NG_IDB:
			if ((rc = parse_idb(r, p, blen)) < 0)
				return rc;
			consume(r, blen);
			continue;
		case NG_EPB:
		case NG_OPB:
			if (blen < 32)
				return rfail(r, -EBADMSG,
				             "packet block too short (%u) at offset %" PRIu64,
				             blen, r->pos);
			if (type == NG_EPB) {
				ifid = rd32(r, p + 8);
			} else {
				ifid = rd16(r, p + 8);
			}
			t = (uint64_t)rd32(r, p + 12) << 32 | rd32(r, p + 16);
			caplen = rd32(r, p + 20);
			origlen = rd32(r, p + 24);
			if (ifid >= r->nifs)
				return rfail(
				    r, -EBADMSG,
				    "packet for unknown interface %u at offset %" PRIu64, ifid,
				    r->pos);
			ifc = &r->ifs[ifid];
			if ((rc = check_caplen(r, caplen, ifc->snaplen)) < 0)
				return rc;
			if (caplen > blen - 32)
				return rfail(
				    r, -EBADMSG,
				    "caplen %u overruns its block (%u) at offset %" PRIu64,
				    caplen, blen, r->pos);
			pkt->data = p + 28;
			pkt->ts_ns = ts_convert(ifc, t);
			r->last_ts = pkt->ts_ns;
			break;
		case NG_SPB:
			if (blen < 16)
				return rfail(r, -EBADMSG,
				             "simple packet block too short at offset %" PRIu64,
				             r->pos);
			if (r->nifs == 0)
				return rfail(r, -EBADMSG,
				             "simple packet block before any interface at "
				             "offset %" PRIu64,
				             r->pos);
			ifid = 0;
			ifc = &r->ifs[0];
			origlen = rd32(r, p + 8);
			caplen = origlen;
			if (caplen > blen - 16)
				caplen = blen - 16;
			if (ifc->snaplen != 0 && caplen > ifc->snaplen)
				caplen = ifc->snaplen;
			if ((rc = check_caplen(r, caplen, 0)) < 0)
				return rc;
			pkt->data = p + 12;
			pkt->ts_ns = r->last_ts;
			break;
		default:
			consume(r, blen);
			continue;
		}
		pkt->offset = r->pos;
		pkt->caplen = caplen;
		pkt->origlen = origlen;
		pkt->linktype = ifc->linktype;
		pkt->ifindex = ifid;
		consume(r, blen);
		return 1;
	}
}

int pcapfile_reader_next(struct pcapfile_reader *r, struct pcapfile_pkt *pkt)
{
	if (r->err)
		return r->err;
	if (r->fmt == PCAPFILE_PCAPNG)
		return next_pcapng(r, pkt);
	return next_pcap(r, pkt);
}

static struct pcapfile_reader *reader_alloc(void)
{
	struct pcapfile_reader *r = calloc(1, sizeof(*r));
	if (r) {
		r->fd = -1;
		r->limit = UINT64_MAX;
	}
	return r;
}

static int reader_start(struct pcapfile_reader **out, struct pcapfile_reader *r, char *err,
                        size_t errlen)
{
	int rc = open_header(r);
	if (rc < 0) {
		set_err(err, errlen, "%s", r->errbuf);
		pcapfile_reader_close(&r);
		return rc;
	}
	r->errbuf[0] = '\0';
	*out = r;
	return 0;
}

int pcapfile_reader_open_mem(struct pcapfile_reader **out, const void *buf, size_t len,
                             char *err, size_t errlen)
{
	*out = NULL;
	struct pcapfile_reader *r = reader_alloc();
	if (r == NULL) {
		set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	static const uint8_t empty[1];
	r->mem = buf && len ? buf : empty;
	r->memlen = buf ? len : 0;
	return reader_start(out, r, err, errlen);
}

int pcapfile_reader_open_stream(struct pcapfile_reader **out, FILE *f, char *err, size_t errlen)
{
	*out = NULL;
	struct pcapfile_reader *r = reader_alloc();
	if (r == NULL || (r->buf = malloc(STREAM_BUF_INIT)) == NULL) {
		free(r);
		set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r->cap = STREAM_BUF_INIT;
	r->f = f;
	return reader_start(out, r, err, errlen);
}

int pcapfile_reader_open_path(struct pcapfile_reader **out, const char *path, char *err,
                              size_t errlen)
{
	*out = NULL;
	if (strcmp(path, "-") == 0)
		return pcapfile_reader_open_stream(out, stdin, err, errlen);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		set_err(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		set_err(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	if (S_ISREG(st.st_mode) && st.st_size > 0) {
		void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		close(fd);
		if (m == MAP_FAILED) {
			int e = errno;
			set_err(err, errlen, "%s: mmap: %s", path, strerror(e));
			return -e;
		}
		madvise(m, (size_t)st.st_size, MADV_SEQUENTIAL);
		struct pcapfile_reader *r = reader_alloc();
		if (r == NULL) {
			munmap(m, (size_t)st.st_size);
			set_err(err, errlen, "out of memory");
			return -ENOMEM;
		}
		r->map = m;
		r->maplen = (size_t)st.st_size;
		r->mem = m;
		r->memlen = (size_t)st.st_size;
		return reader_start(out, r, err, errlen);
	}
	FILE *f = fdopen(fd, "rb");
	if (f == NULL) {
		int e = errno;
		close(fd);
		set_err(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	int rc = pcapfile_reader_open_stream(out, f, err, errlen);
	if (rc < 0)
		fclose(f);
	else
		(*out)->own_f = 1;
	return rc;
}

#define FILE_BUF (1u << 20)
#define SPARSE_CHUNK (16u << 10)

static int open_file(struct pcapfile_reader **out, const char *path, int sparse, char *err,
                     size_t errlen)
{
	*out = NULL;
	if (strcmp(path, "-") == 0)
		return pcapfile_reader_open_stream(out, stdin, err, errlen);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		set_err(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return pcapfile_reader_open_path(out, path, err, errlen);
	}
	posix_fadvise(fd, 0, 0, sparse ? POSIX_FADV_RANDOM : POSIX_FADV_SEQUENTIAL);
	struct pcapfile_reader *r = reader_alloc();
	if (r == NULL || (r->buf = malloc(FILE_BUF)) == NULL) {
		free(r);
		close(fd);
		set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r->cap = FILE_BUF;
	r->chunk = sparse ? SPARSE_CHUNK : 0;
	r->fd = fd;
	return reader_start(out, r, err, errlen);
}

int pcapfile_reader_open_file(struct pcapfile_reader **out, const char *path, char *err,
                              size_t errlen)
{
	return open_file(out, path, 0, err, errlen);
}

int pcapfile_reader_open_sparse(struct pcapfile_reader **out, const char *path, char *err,
                                size_t errlen)
{
	return open_file(out, path, 1, err, errlen);
}

void pcapfile_reader_close(struct pcapfile_reader **rp)
{
	struct pcapfile_reader *r = *rp;
	if (r == NULL)
		return;
	if (r->fd >= 0)
		close(r->fd);
	if (r->map)
		munmap(r->map, r->maplen);
	if (r->own_f && r->f)
		fclose(r->f);
	free(r->buf);
	free(r->ifs);
	free(r);
	*rp = NULL;
}

int pcapfile_reader_seek(struct pcapfile_reader *r, uint64_t offset)
{
	if (r->fd >= 0) {
		if (offset >= r->pos && offset - r->pos <= r->bend - r->bstart) {
			/* already read: the window moves on */
			r->bstart += (size_t)(offset - r->pos);
			r->pos = offset;
			r->err = 0;
			r->errbuf[0] = '\0';
			return 0;
		}
		if (lseek(r->fd, (off_t)offset, SEEK_SET) < 0)
			return -EINVAL;
		r->pos = offset;
		r->bstart = r->bend = 0;
		if (r->chunk)
			r->chunk = SPARSE_CHUNK;
		r->err = 0;
		r->errbuf[0] = '\0';
		return 0;
	}
	if (!r->mem)
		return -ESPIPE;
	if (offset > r->memlen)
		return -EINVAL;
	r->pos = offset;
	r->err = 0;
	r->errbuf[0] = '\0';
	return 0;
}

const char *pcapfile_reader_error(const struct pcapfile_reader *r)
{
	return r->errbuf;
}
enum pcapfile_format pcapfile_reader_format(const struct pcapfile_reader *r)
{
	return r->fmt;
}
uint32_t pcapfile_reader_linktype(const struct pcapfile_reader *r)
{
	return r->linktype;
}
void pcapfile_reader_set_lenient(struct pcapfile_reader *r, int on)
{
	r->lenient = on;
}

void pcapfile_reader_set_limit(struct pcapfile_reader *r, uint64_t size)
{
	if (size < r->pos)
		size = r->pos;
	if (r->mem) {
		if (size < r->memlen)
			r->memlen = (size_t)size;
		return;
	}
	r->limit = size;
	if (r->bend - r->bstart > size - r->pos)
		r->bend = r->bstart + (size_t)(size - r->pos); /* read already: forgotten */
}

uint64_t pcapfile_reader_oversized(const struct pcapfile_reader *r)
{
	return r->oversized;
}

uint32_t pcapfile_reader_snaplen(const struct pcapfile_reader *r)
{
	return r->snaplen;
}
uint64_t pcapfile_reader_offset(const struct pcapfile_reader *r)
{
	return r->pos;
}

/* ---- writer ---- */

struct pcapfile_writer {
	int fd;
	int own_fd;
	enum pcapfile_format fmt;
	uint32_t linktype, snaplen;
	uint64_t off; /* file size including what is buffered */
	uint8_t *buf;
	size_t len, cap;
	size_t nbuf;   /* records in buf */
	uint64_t nrec; /* records handed to the kernel whole */
	int err;
};

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}
static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* 0 or -errno; *done: the bytes written either way. */
static int write_all(int fd, const uint8_t *p, size_t n, size_t *done)
{
	*done = 0;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
		*done += (size_t)w;
	}
	return 0;
}

/* Length of the record at p (one this writer made, in host byte order). */
static size_t record_len(const struct pcapfile_writer *w, const uint8_t *p)
{
	uint32_t v;
	if (w->fmt == PCAPFILE_PCAPNG) {
		memcpy(&v, p + 4, 4);
		return v;
	}
	memcpy(&v, p + 8, 4);
	return 16 + (size_t)v;
}

/*
 * A write of the buffer failed after done bytes (a full disk, a file size
 * limit): the records written whole stay, the partial one after them is cut
 * off (a regular file), so the file never ends in the middle of a record.
 */
static void write_failed(struct pcapfile_writer *w, size_t done)
{
	size_t at = 0, k = 0;
	while (k < w->nbuf) {
		size_t n = record_len(w, w->buf + at);
		if (at + n > done)
			break;
		at += n;
		k++;
	}
	w->nrec += k;
	uint64_t good = w->off - w->len + at;
	struct stat st;
	if (fstat(w->fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size > good &&
	    ftruncate(w->fd, (off_t)good) == 0)
		lseek(w->fd, (off_t)good, SEEK_SET);
	w->off = good;
	w->len = 0;
	w->nbuf = 0;
}

int pcapfile_writer_flush(struct pcapfile_writer *w)
{
	size_t done;
	if (w->err)
		return w->err;
	if (w->len == 0)
		return 0;
	int rc = write_all(w->fd, w->buf, w->len, &done);
	if (rc < 0) {
		write_failed(w, done);
		return w->err = rc;
	}
	w->len = 0;
	w->nrec += w->nbuf;
	w->nbuf = 0;
	return 0;
}

static int wput(struct pcapfile_writer *w, size_t n, uint8_t **p)
{
	if (w->len + n > w->cap) {
		int rc = pcapfile_writer_flush(w);
		if (rc < 0)
			return rc;
	}
	*p = w->buf + w->len;
	w->len += n;
	w->off += n;
	return 0;
}

static int write_header(struct pcapfile_writer *w)
{
	uint8_t *p;
	int rc;
	if (w->fmt != PCAPFILE_PCAPNG) {
		if ((rc = wput(w, 24, &p)) < 0)
			return rc;
		put32(p, w->fmt == PCAPFILE_PCAP_NS ? PCAP_MAGIC_NS : PCAP_MAGIC_US);
		put16(p + 4, 2);
		put16(p + 6, 4);
		put32(p + 8, 0);  /* thiszone */
		put32(p + 12, 0); /* sigfigs */
		put32(p + 16, w->snaplen);
		put32(p + 20, w->linktype);
		return 0;
	}
	/* SHB with shb_userappl "sinktrap" */
	static const char appl[8] = "sinktrap";
	uint32_t shb = 28 + 4 + 8 + 4;
	if ((rc = wput(w, shb, &p)) < 0)
		return rc;
	put32(p, NG_SHB);
	put32(p + 4, shb);
	put32(p + 8, NG_BOM);
	put16(p + 12, 1);
	put16(p + 14, 0);
	memset(p + 16, 0xff, 8); /* section length unknown */
	put16(p + 24, 4);        /* shb_userappl */
	put16(p + 26, 8);
	memcpy(p + 28, appl, 8);
	put32(p + 36, 0); /* opt_endofopt */
	put32(p + 40, shb);
	/* IDB with if_tsresol = 9 (nanoseconds) */
	uint32_t idb = 20 + 8 + 4;
	if ((rc = wput(w, idb, &p)) < 0)
		return rc;
	put32(p, NG_IDB);
	put32(p + 4, idb);
	put16(p + 8, (uint16_t)w->linktype);
	put16(p + 10, 0);
	put32(p + 12, w->snaplen);
	put16(p + 16, 9);
	put16(p + 18, 1);
	p[20] = 9;
	p[21] = p[22] = p[23] = 0;
	put32(p + 24, 0);
	put32(p + 28, idb);
	return 0;
}

/* Check an existing file and find where its last complete record ends. */
static int writer_resume(struct pcapfile_writer *w, uint64_t size, char *err, size_t errlen)
{
	void *m = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, w->fd, 0);
	if (m == MAP_FAILED) {
		int e = errno;
		set_err(err, errlen, "mmap: %s", strerror(e));
		return -e;
	}
	struct pcapfile_reader *r;
	char rerr[256];
	int rc = pcapfile_reader_open_mem(&r, m, (size_t)size, rerr, sizeof(rerr));
	if (rc == -ENODATA) {
		/* Not even a whole header: start the file again. */
		munmap(m, (size_t)size);
		w->off = 0;
		if (ftruncate(w->fd, 0) < 0 || lseek(w->fd, 0, SEEK_SET) < 0)
			return -errno;
		rc = write_header(w);
		return rc < 0 ? rc : pcapfile_writer_flush(w);
	}
	if (rc < 0) {
		munmap(m, (size_t)size);
		set_err(err, errlen, "existing file: %s", rerr);
		return rc;
	}
	if (r->fmt != w->fmt || r->linktype != w->linktype ||
	    (r->fmt == PCAPFILE_PCAPNG &&
	     (r->nifs != 1 || r->ifs[0].ts_bin || r->ifs[0].ts_exp != 9))) {
		set_err(
		    err, errlen,
		    "existing file has another format or link type (format %d, link type %u)",
		    (int)r->fmt, r->linktype);
		pcapfile_reader_close(&r);
		munmap(m, (size_t)size);
		return -EINVAL;
	}
	w->snaplen = r->snaplen ? r->snaplen : w->snaplen;
	struct pcapfile_pkt pkt;
	while ((rc = pcapfile_reader_next(r, &pkt)) == 1)
		;
	if (rc == -ENODATA) {
		rc = 0; /* a partial last record: cut below */
	} else if (rc < 0) {
		/* Corruption in the middle: refuse rather than write after it. */
		set_err(err, errlen, "existing file: %s", r->errbuf);
	}
	uint64_t good = r->pos;
	pcapfile_reader_close(&r);
	munmap(m, (size_t)size);
	if (rc < 0)
		return rc;
	if (good < size && ftruncate(w->fd, (off_t)good) < 0) {
		int e = errno;
		set_err(err, errlen, "ftruncate: %s", strerror(e));
		return -e;
	}
	if (lseek(w->fd, (off_t)good, SEEK_SET) < 0)
		return -errno;
	w->off = good;
	return 0;
}

int pcapfile_writer_open(struct pcapfile_writer **out, int fd, enum pcapfile_format fmt,
                         uint32_t linktype, uint32_t snaplen, char *err, size_t errlen)
{
	*out = NULL;
	if (fmt != PCAPFILE_PCAP && fmt != PCAPFILE_PCAP_NS && fmt != PCAPFILE_PCAPNG) {
		set_err(err, errlen, "unknown capture file format %d", (int)fmt);
		return -EINVAL;
	}
	if (fmt == PCAPFILE_PCAPNG && linktype > 0xffff) {
		set_err(err, errlen, "link type %u does not fit pcapng", linktype);
		return -EINVAL;
	}
	struct pcapfile_writer *w = calloc(1, sizeof(*w));
	if (w == NULL || (w->buf = malloc(WRITE_BUF)) == NULL) {
		free(w);
		set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	w->cap = WRITE_BUF;
	w->fd = fd;
	w->fmt = fmt;
	w->linktype = linktype;
	w->snaplen =
	    snaplen == 0 || snaplen > PCAPFILE_MAX_CAPLEN ? PCAPFILE_MAX_CAPLEN : snaplen;

	struct stat st;
	int rc;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		set_err(err, errlen, "fstat: %s", strerror(-rc));
	} else if (S_ISREG(st.st_mode) && st.st_size > 0) {
		rc = writer_resume(w, (uint64_t)st.st_size, err, errlen);
	} else {
		rc = write_header(w);
		if (rc == 0)
			rc = pcapfile_writer_flush(w);
		if (rc < 0)
			set_err(err, errlen, "write: %s", strerror(-rc));
	}
	if (rc < 0) {
		free(w->buf);
		free(w);
		return rc;
	}
	*out = w;
	return 0;
}

int pcapfile_writer_open_path(struct pcapfile_writer **out, const char *path,
                              enum pcapfile_format fmt, uint32_t linktype, uint32_t snaplen,
                              char *err, size_t errlen)
{
	*out = NULL;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		int e = errno;
		set_err(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	int rc = pcapfile_writer_open(out, fd, fmt, linktype, snaplen, err, errlen);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	(*out)->own_fd = 1;
	return 0;
}

int pcapfile_writer_write(struct pcapfile_writer *w, int64_t ts_ns, const void *data,
                          uint32_t caplen, uint32_t origlen, uint64_t *offset)
{
	uint8_t *p;
	int rc;
	if (w->err)
		return w->err;
	if (caplen > w->snaplen)
		caplen = w->snaplen;
	if (origlen < caplen)
		origlen = caplen;
	uint64_t t = ts_ns < 0 ? 0 : (uint64_t)ts_ns;
	uint64_t at = w->off;
	if (w->fmt != PCAPFILE_PCAPNG) {
		if ((rc = wput(w, 16 + (size_t)caplen, &p)) < 0)
			return rc;
		uint64_t sec = t / 1000000000u;
		put32(p, sec > 0xffffffffu ? 0xffffffffu : (uint32_t)sec);
		put32(p + 4, (uint32_t)(w->fmt == PCAPFILE_PCAP_NS ? t % 1000000000u
		                                                   : t % 1000000000u / 1000u));
		put32(p + 8, caplen);
		put32(p + 12, origlen);
		memcpy(p + 16, data, caplen);
	} else {
		uint32_t padded = (caplen + 3) & ~3u;
		uint32_t blen = 32 + padded;
		if ((rc = wput(w, blen, &p)) < 0)
			return rc;
		put32(p, NG_EPB);
		put32(p + 4, blen);
		put32(p + 8, 0);
		put32(p + 12, (uint32_t)(t >> 32));
		put32(p + 16, (uint32_t)t);
		put32(p + 20, caplen);
		put32(p + 24, origlen);
		memcpy(p + 28, data, caplen);
		memset(p + 28 + caplen, 0, padded - caplen);
		put32(p + 28 + padded, blen);
	}
	w->nbuf++;
	if (offset)
		*offset = at;
	return 0;
}

int pcapfile_writer_sync(struct pcapfile_writer *w)
{
	int rc = pcapfile_writer_flush(w);
	if (rc < 0)
		return rc;
	if (fdatasync(w->fd) < 0 && errno != EINVAL && errno != EROFS)
		return w->err = -errno;
	return 0;
}

uint64_t pcapfile_writer_offset(const struct pcapfile_writer *w)
{
	return w->off;
}

uint64_t pcapfile_writer_records(const struct pcapfile_writer *w)
{
	return w->nrec;
}

int pcapfile_writer_close(struct pcapfile_writer **wp)
{
	struct pcapfile_writer *w = *wp;
	if (w == NULL)
		return 0;
	int rc = pcapfile_writer_flush(w);
	if (w->own_fd && close(w->fd) < 0 && rc == 0)
		rc = -errno;
	free(w->buf);
	free(w);
	*wp = NULL;
	return rc;
}

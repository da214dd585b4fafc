#include "index.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "capture/communityid.h"
#include "common/util.h"
#include "capture/pcapfile.h"

#define MAGIC "STCAPIX1"
#define HDR_LEN 64
#define TAB_ENT 40
#define BLOCK_MAX_PKTS (64u * 1024) /* a block also closes after this many packets */
/* Flows per block written (readers take up to INDEX_BLOCK_FLOWS): a lookup inflates one
 * block, and at 1024 flows that is some 60 KB, not 250 (deflate's 32 KB window makes the
 * index hardly bigger for it). */
#define WRITE_BLOCK_FLOWS 1024
#define MAX_RAW_BLOCK (256u << 20) /* reader: larger raw blocks are refused */
#define NCOL 14
/* Flow times are kept to the millisecond (widened outward): enough to filter
 * on, and a scan's flows, microseconds apart, then cost almost nothing. */
#define TS_UNIT 1000000
#define DICT_SLOTS (4 * INDEX_BLOCK_FLOWS) /* 2 addresses per flow, at most half full */

enum {
	COL_ID,
	COL_FAMILY,
	COL_PROTO,
	COL_VLAN0,
	COL_VLAN1,
	COL_DICT,
	COL_SRC,
	COL_DST,
	COL_SPORT,
	COL_DPORT,
	COL_FIRST,
	COL_DUR,
	COL_NPKTS,
	COL_OFFS,
};

/* ---- little helpers ---- */

static void le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
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
static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b < 0);
}
static int64_t ceil_div(int64_t a, int64_t b)
{
	return -floor_div(-a, b);
}
static uint64_t zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}
static int64_t unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

struct bbuf {
	uint8_t *p;
	size_t len, cap;
	int oom;
};

static int bb_reserve(struct bbuf *b, size_t n)
{
	if (b->oom)
		return -1;
	if (b->len + n <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + n)
		cap *= 2;
	uint8_t *np = realloc(b->p, cap);
	if (np == NULL) {
		b->oom = 1;
		return -1;
	}
	b->p = np;
	b->cap = cap;
	return 0;
}

static void bb_put(struct bbuf *b, const void *d, size_t n)
{
	if (n == 0 || bb_reserve(b, n) < 0)
		return;
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void bb_u8(struct bbuf *b, uint8_t v)
{
	bb_put(b, &v, 1);
}

static void bb_u16be(struct bbuf *b, uint16_t v)
{
	uint8_t t[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	bb_put(b, t, 2);
}

static void bb_varint(struct bbuf *b, uint64_t v)
{
	uint8_t t[10];
	size_t n = 0;
	while (v >= 0x80) {
		t[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	t[n++] = (uint8_t)v;
	bb_put(b, t, n);
}

/* ---- writer ---- */

struct ix_flow {
	uint64_t id;
	uint64_t last_off;
	struct decode_key key;
	int64_t first, last;
	uint32_t npkts;
};

struct index_writer {
	uint16_t seed, flags;
	uint32_t gen; /* for index_hint: unique per writer and per file */
	struct ix_flow *flows;
	uint32_t nflows, fcap;
	uint32_t *ht; /* flow id -> slot + 1 (0 = empty), open addressing */
	uint32_t hcap;
	uint32_t last_slot;
	uint64_t last_id;
	int last_valid;
	/* per packet, in file order: flow slot (PENDING: none yet) and offset */
	uint32_t *pflow;
	uint64_t *poff;
	size_t npkts, pcap;
	size_t npending; /* packets without a flow (index_writer_add_pending) */
};

#define PENDING UINT32_MAX

static uint32_t new_gen(void)
{
	static uint32_t gen;
	uint32_t g;
	do
		g = __atomic_add_fetch(&gen, 1, __ATOMIC_RELAXED);
	while (g == 0); /* 0: a hint never set */
	return g;
}

static uint32_t id_hash(uint64_t id, uint32_t mask)
{
	return (uint32_t)((id * 0x9e3779b97f4a7c15ull) >> 32) & mask;
}

int index_writer_new(struct index_writer **out, uint16_t cid_seed, uint16_t flags)
{
	struct index_writer *w = calloc(1, sizeof(*w));
	*out = NULL;
	if (w == NULL)
		return -ENOMEM;
	w->seed = cid_seed;
	w->flags = flags;
	w->gen = new_gen();
	*out = w;
	return 0;
}

void index_writer_free(struct index_writer **wp)
{
	struct index_writer *w = *wp;
	if (w == NULL)
		return;
	free(w->flows);
	free(w->ht);
	free(w->pflow);
	free(w->poff);
	free(w);
	*wp = NULL;
}

void index_writer_reset(struct index_writer *w)
{
	w->nflows = 0;
	w->npkts = 0;
	w->npending = 0;
	w->last_valid = 0;
	w->gen = new_gen();
	if (w->ht)
		memset(w->ht, 0, (size_t)w->hcap * sizeof(*w->ht));
}

static int ht_grow(struct index_writer *w)
{
	uint32_t cap = w->hcap ? w->hcap * 2 : 1024;
	uint32_t *ht = calloc(cap, sizeof(*ht));
	if (ht == NULL)
		return -ENOMEM;
	for (uint32_t s = 0; s < w->nflows; s++) {
		uint32_t h = id_hash(w->flows[s].id, cap - 1);
		while (ht[h])
			h = (h + 1) & (cap - 1);
		ht[h] = s + 1;
	}
	free(w->ht);
	w->ht = ht;
	w->hcap = cap;
	return 0;
}

size_t index_writer_memory(const struct index_writer *w)
{
	/* a flow: its record, two hash slots, and encoding's order, start, rank and cursor;
	 * a packet: its slot and offset, and encoding's copy of the offset */
	size_t per_flow = sizeof(struct ix_flow) + 2 * sizeof(uint32_t) + 3 * sizeof(uint32_t) +
	                  sizeof(size_t);
	size_t per_pkt = sizeof(uint32_t) + 2 * sizeof(uint64_t);
	return (size_t)w->nflows * per_flow + w->npkts * per_pkt;
}

static int flow_slot(struct index_writer *w, uint64_t id, const struct decode_key *key,
                     uint32_t *slot)
{
	if (w->last_valid && w->last_id == id) {
		*slot = w->last_slot;
		return 0;
	}
	if ((w->nflows + 1) * 2 > w->hcap && ht_grow(w) < 0)
		return -ENOMEM;
	uint32_t h = id_hash(id, w->hcap - 1);
	while (w->ht[h]) {
		if (w->flows[w->ht[h] - 1].id == id)
			break;
		h = (h + 1) & (w->hcap - 1);
	}
	if (w->ht[h] == 0) {
		if (w->nflows == UINT32_MAX - 1)
			return -ENOSPC;
		if (w->nflows == w->fcap) {
			uint32_t cap = w->fcap ? w->fcap * 2 : 1024;
			struct ix_flow *nf = realloc(w->flows, (size_t)cap * sizeof(*nf));
			if (nf == NULL)
				return -ENOMEM;
			w->flows = nf;
			w->fcap = cap;
		}
		struct ix_flow *f = &w->flows[w->nflows];
		memset(f, 0, sizeof(*f));
		f->id = id;
		f->key = *key;
		f->first = INT64_MAX;
		f->last = INT64_MIN;
		w->ht[h] = ++w->nflows;
	}
	*slot = w->ht[h] - 1;
	w->last_slot = *slot;
	w->last_id = id;
	w->last_valid = 1;
	return 0;
}

/* The slot of flow_id, through the caller's hint when it names it (made if new). */
static int hinted_slot(struct index_writer *w, uint64_t flow_id, const struct decode_key *key,
                       struct index_hint *hint, uint32_t *slot)
{
	if (key->family != 4 && key->family != 6)
		return -EINVAL;
	if (hint && hint->gen == w->gen && hint->slot < w->nflows &&
	    w->flows[hint->slot].id == flow_id) {
		*slot = hint->slot;
		return 0;
	}
	int rc = flow_slot(w, flow_id, key, slot);
	if (rc < 0)
		return rc;
	if (hint) {
		hint->gen = w->gen;
		hint->slot = *slot;
	}
	return 0;
}

/* Room for one more packet. */
static int pkt_reserve(struct index_writer *w)
{
	if (w->npkts < w->pcap)
		return 0;
	size_t cap = w->pcap ? w->pcap * 2 : 4096;
	uint32_t *pf = realloc(w->pflow, cap * sizeof(*pf));
	if (pf == NULL)
		return -ENOMEM;
	w->pflow = pf;
	uint64_t *po = realloc(w->poff, cap * sizeof(*po));
	if (po == NULL)
		return -ENOMEM;
	w->poff = po;
	w->pcap = cap;
	return 0;
}

/* One more packet of flow f, at offset and ts_ns. */
static void flow_note(struct ix_flow *f, int64_t ts_ns, uint64_t offset)
{
	f->npkts++;
	if (offset > f->last_off)
		f->last_off = offset;
	if (ts_ns < f->first)
		f->first = ts_ns;
	if (ts_ns > f->last)
		f->last = ts_ns;
}

int index_writer_add_hint(struct index_writer *w, uint64_t flow_id,
                          const struct decode_key *key, int64_t ts_ns, uint64_t offset,
                          struct index_hint *hint)
{
	uint32_t slot;
	int rc = hinted_slot(w, flow_id, key, hint, &slot);
	if (rc < 0)
		return rc;
	if (w->flows[slot].npkts > 0 && offset <= w->flows[slot].last_off)
		return -EINVAL; /* a flow's packets come in file order */
	if ((rc = pkt_reserve(w)) < 0)
		return rc;
	struct ix_flow *f = &w->flows[slot];
	if (f->npkts == UINT32_MAX)
		return -ENOSPC;
	flow_note(f, ts_ns, offset);
	w->pflow[w->npkts] = slot;
	w->poff[w->npkts] = offset;
	w->npkts++;
	return 0;
}

int index_writer_add_pending(struct index_writer *w, uint64_t offset, size_t *pos)
{
	if (w->npkts > 0 && offset <= w->poff[w->npkts - 1])
		return -EINVAL; /* in file order, after every packet added */
	int rc = pkt_reserve(w);
	if (rc < 0)
		return rc;
	w->pflow[w->npkts] = PENDING;
	w->poff[w->npkts] = offset;
	*pos = w->npkts++;
	w->npending++;
	return 0;
}

int index_writer_assign(struct index_writer *w, size_t pos, uint64_t flow_id,
                        const struct decode_key *key, int64_t ts_ns, struct index_hint *hint)
{
	uint32_t slot;
	if (pos >= w->npkts || w->pflow[pos] != PENDING)
		return -ENOENT;
	int rc = hinted_slot(w, flow_id, key, hint, &slot);
	if (rc < 0)
		return rc;
	struct ix_flow *f = &w->flows[slot];
	if (f->npkts == UINT32_MAX)
		return -ENOSPC;
	/* its place among the flow's packets is its place in the file: pflow is in file order
	 */
	flow_note(f, ts_ns, w->poff[pos]);
	w->pflow[pos] = slot;
	w->npending--;
	return 0;
}

int index_writer_add(struct index_writer *w, uint64_t flow_id, const struct decode_key *key,
                     int64_t ts_ns, uint64_t offset)
{
	return index_writer_add_hint(w, flow_id, key, ts_ns, offset, NULL);
}

struct order {
	uint64_t id;
	uint32_t slot;
};

static int order_cmp(const void *a, const void *b)
{
	const struct order *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

struct dict {
	uint32_t slot[DICT_SLOTS]; /* index + 1 */
	uint8_t addr[DICT_SLOTS][17];
	uint32_t n;
};

static uint32_t dict_get(struct dict *d, struct bbuf *col, uint8_t family, const uint8_t *a)
{
	uint8_t k[17];
	size_t alen = family == 4 ? 4 : 16;
	memset(k, 0, sizeof(k));
	k[0] = family;
	memcpy(k + 1, a, alen);
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < 17; i++)
		h = (h ^ k[i]) * 16777619u;
	h &= DICT_SLOTS - 1;
	while (d->slot[h]) {
		if (memcmp(d->addr[d->slot[h] - 1], k, 17) == 0)
			return d->slot[h] - 1;
		h = (h + 1) & (DICT_SLOTS - 1);
	}
	memcpy(d->addr[d->n], k, 17);
	d->slot[h] = ++d->n;
	bb_u8(col, family);
	bb_put(col, a, alen);
	return d->n - 1;
}

/* Encode flows ord[0..n) (their offsets at offs, by flow) as one raw block. */
static int encode_block(const struct index_writer *w, const struct order *ord, uint32_t n,
                        const uint64_t *offs, const size_t *start, int64_t base_t,
                        struct dict *dict, struct bbuf *col, struct bbuf *raw)
{
	uint32_t ndict = 0;
	struct bbuf dcol = {0};
	for (int c = 0; c < NCOL; c++)
		col[c].len = 0;
	memset(dict->slot, 0, sizeof(dict->slot));
	dict->n = 0;
	int64_t prev_first = base_t;
	uint64_t prev_off = 0;
	for (uint32_t i = 0; i < n; i++) {
		const struct ix_flow *f = &w->flows[ord[i].slot];
		if (i > 0)
			bb_varint(&col[COL_ID], f->id - ord[i - 1].id - 1);
		bb_u8(&col[COL_FAMILY], f->key.family);
		bb_u8(&col[COL_PROTO], f->key.proto);
		bb_varint(&col[COL_VLAN0], f->key.vlan[0]);
		bb_varint(&col[COL_VLAN1], f->key.vlan[1]);
		bb_varint(&col[COL_SRC], dict_get(dict, &dcol, f->key.family, f->key.src));
		bb_varint(&col[COL_DST], dict_get(dict, &dcol, f->key.family, f->key.dst));
		bb_u16be(&col[COL_SPORT], f->key.sport);
		bb_u16be(&col[COL_DPORT], f->key.dport);
		int64_t first_t = floor_div(f->first, TS_UNIT),
		        last_t = ceil_div(f->last, TS_UNIT);
		bb_varint(&col[COL_FIRST],
		          zigzag((int64_t)((uint64_t)first_t - (uint64_t)prev_first)));
		bb_varint(&col[COL_DUR], (uint64_t)last_t - (uint64_t)first_t);
		prev_first = first_t;
		bb_varint(&col[COL_NPKTS], f->npkts);
		const uint64_t *o = offs + start[i];
		bb_varint(&col[COL_OFFS], zigzag((int64_t)(o[0] - prev_off)));
		prev_off = o[0];
		for (uint32_t j = 1; j < f->npkts; j++)
			bb_varint(&col[COL_OFFS], o[j] - o[j - 1]);
	}
	ndict = dict->n;
	col[COL_DICT].len = 0;
	bb_varint(&col[COL_DICT], ndict);
	bb_put(&col[COL_DICT], dcol.p, dcol.len);
	int oom = dcol.oom;
	free(dcol.p);
	raw->len = 0;
	bb_varint(raw, n);
	for (int c = 0; c < NCOL; c++) {
		bb_varint(raw, col[c].len);
		bb_put(raw, col[c].p, col[c].len);
		oom |= col[c].oom;
	}
	return oom || raw->oom ? -ENOMEM : 0;
}

int index_writer_encode(struct index_writer *w, uint64_t pcap_size, uint8_t **outp,
                        size_t *outlen)
{
	struct order *ord = NULL;
	size_t *start = NULL;
	uint64_t *offs = NULL;
	struct dict *dict = NULL;
	struct bbuf col[NCOL], raw = {0}, out = {0}, tab = {0};
	int rc = -ENOMEM;
	uint32_t n = w->nflows, nblocks = 0;
	int64_t first = INT64_MAX, last = INT64_MIN;

	*outp = NULL;
	*outlen = 0;
	memset(col, 0, sizeof(col));
	ord = malloc(((size_t)n + 1) * sizeof(*ord));
	start = malloc(((size_t)n + 1) * sizeof(*start));
	offs = malloc((w->npkts + 1) * sizeof(*offs));
	dict = malloc(sizeof(*dict));
	if (!ord || !start || !offs || !dict)
		goto done;

	for (uint32_t s = 0; s < n; s++) {
		ord[s].id = w->flows[s].id;
		ord[s].slot = s;
		if (w->flows[s].first < first)
			first = w->flows[s].first;
		if (w->flows[s].last > last)
			last = w->flows[s].last;
	}
	if (n == 0)
		first = last = 0;
	qsort(ord, n, sizeof(*ord), order_cmp);
	/* Group packet offsets by flow, in id order, keeping file order within a flow. */
	{
		uint32_t *rank = malloc(((size_t)n + 1) * sizeof(*rank));
		size_t *cur = malloc(((size_t)n + 1) * sizeof(*cur));
		if (!rank || !cur) {
			free(rank);
			free(cur);
			goto done;
		}
		size_t acc = 0;
		for (uint32_t i = 0; i < n; i++) {
			rank[ord[i].slot] = i;
			start[i] = cur[i] = acc;
			acc += w->flows[ord[i].slot].npkts;
		}
		start[n] = acc;
		for (size_t p = 0; p < w->npkts; p++) {
			if (w->pflow[p] == PENDING)
				continue; /* never given a flow: in none */
			uint32_t i = rank[w->pflow[p]];
			/* the reader wants offsets inside the capture, increasing in each flow
			 */
			if (w->poff[p] >= pcap_size ||
			    (cur[i] > start[i] && w->poff[p] <= offs[cur[i] - 1])) {
				free(rank);
				free(cur);
				rc = -EINVAL;
				goto done;
			}
			offs[cur[i]++] = w->poff[p];
		}
		free(rank);
		free(cur);
	}

	int64_t base_t = floor_div(first, TS_UNIT);
	/* Blocks go after the header and table, whose size is known only at the end:
	 * encode blocks into out first, then prepend. */
	for (uint32_t i = 0; i < n;) {
		uint32_t j = i;
		size_t pk = 0;
		while (j < n && j - i < WRITE_BLOCK_FLOWS && (j == i || pk < BLOCK_MAX_PKTS))
			pk += w->flows[ord[j++].slot].npkts;
		if ((rc = encode_block(w, ord + i, j - i, offs, start + i, base_t, dict, col,
		                       &raw)) < 0)
			goto done;
		uLongf clen = compressBound(raw.len);
		if (bb_reserve(&out, clen) < 0) {
			rc = -ENOMEM;
			goto done;
		}
		if (compress2(out.p + out.len, &clen, raw.p, raw.len, 6) != Z_OK) {
			rc = -EIO;
			goto done;
		}
		uint8_t e[TAB_ENT];
		le64(e, ord[i].id);
		le64(e + 8, ord[j - 1].id);
		le64(e + 16, out.len); /* relative for now */
		le32(e + 24, (uint32_t)clen);
		le32(e + 28, (uint32_t)raw.len);
		le32(e + 32, j - i);
		le32(e + 36, (uint32_t)pk);
		bb_put(&tab, e, TAB_ENT);
		out.len += clen;
		nblocks++;
		i = j;
	}
	if (tab.oom) {
		rc = -ENOMEM;
		goto done;
	}
	uint64_t body = HDR_LEN + (uint64_t)nblocks * TAB_ENT;
	for (uint32_t b = 0; b < nblocks; b++)
		le64(tab.p + b * TAB_ENT + 16, rd64(tab.p + b * TAB_ENT + 16) + body);

	size_t total = (size_t)body + out.len;
	uint8_t *res = malloc(total ? total : 1);
	if (res == NULL) {
		rc = -ENOMEM;
		goto done;
	}
	uint8_t *h = res;
	memset(h, 0, HDR_LEN);
	memcpy(h, MAGIC, 8);
	le16(h + 8, INDEX_VERSION);
	le16(h + 10, w->flags);
	le16(h + 12, w->seed);
	le64(h + 16, pcap_size);
	le64(h + 24, w->npkts - w->npending);
	le32(h + 32, n);
	le32(h + 36, nblocks);
	le64(h + 40, (uint64_t)first);
	le64(h + 48, (uint64_t)last);
	le32(h + 56, (uint32_t)crc32(0, tab.p, (uInt)tab.len));
	le32(h + 60, (uint32_t)crc32(0, h, 60));
	if (tab.len)
		memcpy(res + HDR_LEN, tab.p, tab.len);
	if (out.len)
		memcpy(res + body, out.p, out.len);
	*outp = res;
	*outlen = total;
	rc = 0;
done:
	free(ord);
	free(start);
	free(offs);
	free(dict);
	for (int c = 0; c < NCOL; c++)
		free(col[c].p);
	free(raw.p);
	free(out.p);
	free(tab.p);
	return rc;
}

int index_path_for(const char *pcap_path, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s.idx", pcap_path);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int index_writer_save(struct index_writer *w, uint64_t pcap_size, const char *path, char *err,
                      size_t errlen)
{
	uint8_t *buf;
	size_t len;
	char tmp[4096];
	int rc = index_writer_encode(w, pcap_size, &buf, &len);
	if (rc < 0) {
		set_err(err, errlen, "index encode: %s", strerror(-rc));
		return rc;
	}
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		free(buf);
		set_err(err, errlen, "%s: name too long", path);
		return -ENAMETOOLONG;
	}
	/* A fresh file, never through a link: the directory may be another user's
	 * (an ingest as root into the workers' spool). */
	int fd = -1;
	if (unlink(tmp) == 0 || errno == ENOENT)
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0) {
		rc = -errno;
		set_err(err, errlen, "%s: %s", tmp, strerror(-rc));
		free(buf);
		return rc;
	}
	size_t done = 0;
	while (done < len) {
		ssize_t n = write(fd, buf + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		done += (size_t)n;
	}
	free(buf);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0) {
		set_err(err, errlen, "%s: %s", path, strerror(-rc));
		unlink(tmp);
	}
	return rc;
}

struct rebuild {
	struct index_writer *w;
	int rc;
};

/* A held fragment counted in its flow: its pending packet is given it. */
static void rebuild_held(void *arg, const struct flow *f, int dir,
                         const struct flow_frag_held *h)
{
	struct rebuild *rb = arg;
	int rc;
	(void)dir;
	if (h->tag != FLOW_TAG_NONE &&
	    (rc = index_writer_assign(rb->w, (size_t)h->tag, f->id, &f->key, h->ts_ns, NULL)) <
	        0 &&
	    rb->rc == 0)
		rb->rc = rc;
}

int index_rebuild(const char *pcap_path, const char *index_path, const struct flow_config *cfg,
                  char *err, size_t errlen)
{
	struct rebuild rb = {NULL, 0};
	struct pcapfile_reader *r = NULL;
	struct flow_table *ft = NULL;
	struct index_writer *w = NULL;
	struct flow_config c;
	struct pcapfile_pkt p;
	int rc;

	if (cfg)
		c = *cfg;
	else
		flow_config_default(&c);
	c.end_cb = NULL;
	c.held_cb = rebuild_held;
	c.cb_arg = &rb;
	c.id_base = 0; /* a rescan's ids are its own (INDEX_F_REBUILT) */
	c.id_end = 0;
	c.id_more = NULL;
	if ((rc = pcapfile_reader_open_file(&r, pcap_path, err, errlen)) < 0)
		return rc;
	/* as ingest read it: a packet longer than the file's snaplen is kept whole */
	pcapfile_reader_set_lenient(r, 1);
	if ((rc = flow_table_new(&ft, &c)) < 0 ||
	    (rc = index_writer_new(&w, c.cid_seed, INDEX_F_REBUILT)) < 0) {
		set_err(err, errlen, "out of memory");
		goto done;
	}
	rb.w = w;
	while ((rc = pcapfile_reader_next(r, &p)) == 1) {
		struct decode_pkt d;
		int dir;
		size_t pos;
		if (decode_packet(p.linktype, p.data, p.caplen, &d) < 0)
			continue;
		int e = 0;
		struct flow *f = flow_table_track(ft, &d, p.ts_ns, p.origlen, &dir);
		if (f)
			e = index_writer_add(w, f->id, &f->key, p.ts_ns, p.offset);
		else if (dir == FLOW_DIR_HELD &&
		         (e = index_writer_add_pending(w, p.offset, &pos)) == 0)
			flow_table_tag_held(ft, pos); /* its flow comes later (rebuild_held) */
		if (e == 0)
			e = rb.rc;
		if (e < 0) {
			rc = e;
			set_err(err, errlen, "index: %s", strerror(-rc));
			goto done;
		}
	}
	if (rc < 0 && rc != -ENODATA) {
		set_err(err, errlen, "%s: %s", pcap_path, pcapfile_reader_error(r));
		goto done;
	}
	uint64_t size = pcapfile_reader_offset(r);
	flow_table_release_frags(ft, FLOW_FILE_ANY); /* those still held: to their flows */
	if (rb.rc < 0) {
		rc = rb.rc;
		set_err(err, errlen, "index: %s", strerror(-rc));
		goto done;
	}
	rc = index_writer_save(w, size, index_path, err, errlen);
done:
	index_writer_free(&w);
	flow_table_free(&ft);
	pcapfile_reader_close(&r);
	return rc;
}

/* ---- reader ---- */

struct tab_ent {
	uint64_t first, last, off;
	uint32_t clen, rawlen, nflows, npkts;
};

struct index_reader {
	const uint8_t *mem;
	size_t memlen;
	int fd;
	uint64_t fsize;
	struct index_info info;
	struct tab_ent *tab;
	uint8_t *cbuf, *raw;
	size_t cbcap, rawcap;
	/* the decoded block */
	int64_t cur;              /* block number, -1 = none */
	struct index_flow *flows; /* flcap entries */
	size_t *fstart;           /* flcap + 1 entries */
	uint32_t *dpos;           /* 2 * flcap entries */
	size_t flcap;
	uint64_t *offs;
	size_t offcap;
	char errbuf[256];
};

static int rerr(struct index_reader *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int rerr(struct index_reader *r, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->errbuf, sizeof(r->errbuf), fmt, ap);
	va_end(ap);
	return code;
}

/* len bytes at off into dst (fd) or *ptr (memory). */
static int read_at(struct index_reader *r, uint64_t off, size_t len, uint8_t *dst,
                   const uint8_t **ptr)
{
	if (off > r->fsize || len > r->fsize - off)
		return rerr(r, -EBADMSG, "read past the end of the index");
	if (r->mem) {
		*ptr = r->mem + off;
		return 0;
	}
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(r->fd, dst + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return rerr(r, n < 0 ? -errno : -EIO, "index read error");
		done += (size_t)n;
	}
	*ptr = dst;
	return 0;
}

static int reader_init(struct index_reader *r)
{
	uint8_t hb[HDR_LEN];
	const uint8_t *h;
	int rc;
	r->cur = -1;
	if (r->fsize < HDR_LEN)
		return rerr(r, -EBADMSG, "index shorter than its header");
	if ((rc = read_at(r, 0, HDR_LEN, hb, &h)) < 0)
		return rc;
	if (memcmp(h, MAGIC, 8) != 0)
		return rerr(r, -EBADMSG, "not a capture index (bad magic)");
	if ((uint32_t)crc32(0, h, 60) != rd32(h + 60))
		return rerr(r, -EBADMSG, "index header checksum mismatch");
	r->info.version = rd16(h + 8);
	if (r->info.version != INDEX_VERSION)
		return rerr(r, -EBADMSG, "unsupported index version %u", r->info.version);
	r->info.flags = rd16(h + 10);
	r->info.cid_seed = rd16(h + 12);
	r->info.pcap_size = rd64(h + 16);
	r->info.npkts = rd64(h + 24);
	r->info.nflows = rd32(h + 32);
	r->info.nblocks = rd32(h + 36);
	r->info.first_ns = (int64_t)rd64(h + 40);
	r->info.last_ns = (int64_t)rd64(h + 48);
	uint32_t tab_crc = rd32(h + 56);
	uint64_t nb = r->info.nblocks;
	if (nb > (r->fsize - HDR_LEN) / TAB_ENT)
		return rerr(r, -EBADMSG, "block count %u does not fit the index",
		            r->info.nblocks);
	uint64_t body = HDR_LEN + nb * TAB_ENT;
	size_t tlen = (size_t)(nb * TAB_ENT);
	uint8_t *tb = NULL;
	const uint8_t *t;
	if (!r->mem && (tb = malloc(tlen ? tlen : 1)) == NULL)
		return rerr(r, -ENOMEM, "out of memory");
	rc = read_at(r, HDR_LEN, tlen, tb, &t);
	if (rc == 0 && (uint32_t)crc32(0, t, (uInt)tlen) != tab_crc)
		rc = rerr(r, -EBADMSG, "index block table checksum mismatch");
	if (rc == 0 && (r->tab = malloc((nb ? nb : 1) * sizeof(*r->tab))) == NULL)
		rc = rerr(r, -ENOMEM, "out of memory");
	uint64_t flows = 0, pkts = 0;
	for (uint64_t b = 0; rc == 0 && b < nb; b++) {
		const uint8_t *e = t + b * TAB_ENT;
		struct tab_ent *te = &r->tab[b];
		te->first = rd64(e);
		te->last = rd64(e + 8);
		te->off = rd64(e + 16);
		te->clen = rd32(e + 24);
		te->rawlen = rd32(e + 28);
		te->nflows = rd32(e + 32);
		te->npkts = rd32(e + 36);
		if (te->first > te->last || (b > 0 && te->first <= r->tab[b - 1].last) ||
		    te->nflows == 0 || te->nflows > INDEX_BLOCK_FLOWS ||
		    te->last - te->first < te->nflows - 1 || te->off < body ||
		    te->off > r->fsize || te->clen > r->fsize - te->off ||
		    te->rawlen > MAX_RAW_BLOCK ||
		    te->rawlen > (uint64_t)te->clen * 1032 + 64 || /* deflate's best ratio */
		    te->npkts < te->nflows || te->npkts > te->rawlen)
			rc = rerr(r, -EBADMSG, "index block %llu is inconsistent",
			          (unsigned long long)b);
		flows += te->nflows;
		pkts += te->npkts;
	}
	if (rc == 0 && (flows != r->info.nflows || pkts != r->info.npkts))
		rc = rerr(r, -EBADMSG, "index totals do not match its blocks");
	free(tb);
	return rc;
}

int index_reader_open_mem(struct index_reader **out, const void *buf, size_t len, char *err,
                          size_t errlen)
{
	static const uint8_t empty[1];
	*out = NULL;
	struct index_reader *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r->fd = -1;
	r->mem = buf && len ? buf : empty;
	r->fsize = buf ? len : 0;
	int rc = reader_init(r);
	if (rc < 0) {
		set_err(err, errlen, "%s", r->errbuf);
		index_reader_close(&r);
		return rc;
	}
	*out = r;
	return 0;
}

int index_reader_open(struct index_reader **out, const char *path, char *err, size_t errlen)
{
	*out = NULL;
	struct index_reader *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (r->fd < 0 || fstat(r->fd, &st) < 0) {
		int e = errno;
		set_err(err, errlen, "%s: %s", path, strerror(e));
		index_reader_close(&r);
		return -e;
	}
	r->fsize = (uint64_t)st.st_size;
	int rc = reader_init(r);
	if (rc < 0) {
		set_err(err, errlen, "%s: %s", path, r->errbuf);
		index_reader_close(&r);
		return rc;
	}
	*out = r;
	return 0;
}

void index_reader_close(struct index_reader **rp)
{
	struct index_reader *r = *rp;
	if (r == NULL)
		return;
	if (r->fd >= 0)
		close(r->fd);
	free(r->tab);
	free(r->cbuf);
	free(r->raw);
	free(r->offs);
	free(r->flows);
	free(r->fstart);
	free(r->dpos);
	free(r);
	*rp = NULL;
}

void index_reader_info(const struct index_reader *r, struct index_info *out)
{
	*out = r->info;
}
const char *index_reader_error(const struct index_reader *r)
{
	return r->errbuf;
}

struct cur {
	const uint8_t *p, *end;
};

static int get_varint(struct cur *c, uint64_t *v)
{
	uint64_t x = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (c->p >= c->end)
			return -1;
		uint8_t b = *c->p++;
		if (shift == 63 && b > 1)
			return -1;
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -1;
}

static int get_bytes(struct cur *c, size_t n, const uint8_t **p)
{
	if ((size_t)(c->end - c->p) < n)
		return -1;
	*p = c->p;
	c->p += n;
	return 0;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	void *np = realloc(*p, need * elem);
	if (np == NULL)
		return -1;
	*p = np;
	*cap = need;
	return 0;
}

#define BAD(msg) rerr(r, -EBADMSG, "index block %lld: %s", (long long)b, msg)

static int block_decode(struct index_reader *r, int64_t b)
{
	const struct tab_ent *te = &r->tab[b];
	const uint8_t *cdata;
	int rc;
	if (r->cur == b)
		return 0;
	r->cur = -1;
	if (!r->mem && grow((void **)&r->cbuf, &r->cbcap, te->clen ? te->clen : 1, 1) < 0)
		return rerr(r, -ENOMEM, "out of memory");
	if ((rc = read_at(r, te->off, te->clen, r->cbuf, &cdata)) < 0)
		return rc;
	if (grow((void **)&r->raw, &r->rawcap, te->rawlen ? te->rawlen : 1, 1) < 0 ||
	    grow((void **)&r->offs, &r->offcap, te->npkts, sizeof(uint64_t)) < 0)
		return rerr(r, -ENOMEM, "out of memory");
	if (te->nflows > r->flcap) {
		size_t n = te->nflows;
		free(r->flows);
		free(r->fstart);
		free(r->dpos);
		r->flows = malloc(n * sizeof(*r->flows));
		r->fstart = malloc((n + 1) * sizeof(*r->fstart));
		r->dpos = malloc(2 * n * sizeof(*r->dpos));
		r->flcap = n;
		if (r->flows == NULL || r->fstart == NULL || r->dpos == NULL) {
			r->flcap = 0;
			return rerr(r, -ENOMEM, "out of memory");
		}
	}
	uLongf rl = te->rawlen;
	if (uncompress(r->raw, &rl, cdata, te->clen) != Z_OK || rl != te->rawlen)
		return BAD("does not inflate to its length");

	struct cur all = {r->raw, r->raw + rl}, col[NCOL];
	uint64_t v;
	if (get_varint(&all, &v) < 0 || v != te->nflows)
		return BAD("flow count mismatch");
	for (int c = 0; c < NCOL; c++) {
		const uint8_t *p;
		if (get_varint(&all, &v) < 0 || get_bytes(&all, (size_t)v, &p) < 0 || v > rl)
			return BAD("column overruns the block");
		col[c].p = p;
		col[c].end = p + v;
	}
	if (all.p != all.end)
		return BAD("trailing bytes");

	/* address dictionary */
	uint64_t ndict;
	if (get_varint(&col[COL_DICT], &ndict) < 0 || ndict > 2u * te->nflows)
		return BAD("bad address dictionary");
	const uint8_t *dict = col[COL_DICT].p;
	uint32_t *dpos = r->dpos;
	for (uint64_t i = 0; i < ndict; i++) {
		const uint8_t *p;
		if (get_bytes(&col[COL_DICT], 1, &p) < 0 || (p[0] != 4 && p[0] != 6) ||
		    get_bytes(&col[COL_DICT], p[0] == 4 ? 4 : 16, &p) < 0)
			return BAD("bad address dictionary");
		dpos[i] = (uint32_t)(p - 1 - dict);
	}

	int64_t prev_first = floor_div(r->info.first_ns, TS_UNIT);
	uint64_t prev_off = 0, id = te->first;
	size_t np = 0;
	for (uint32_t i = 0; i < te->nflows; i++) {
		struct index_flow *f = &r->flows[i];
		const uint8_t *p;
		uint64_t si, di, vl0, vl1, dt, dur, n;
		memset(f, 0, sizeof(*f));
		if (i > 0) {
			if (get_varint(&col[COL_ID], &v) < 0 || v >= te->last - id)
				return BAD("bad flow id");
			id += v + 1;
		}
		f->id = id;
		if (get_bytes(&col[COL_FAMILY], 1, &p) < 0 || (p[0] != 4 && p[0] != 6))
			return BAD("bad family");
		f->key.family = p[0];
		if (get_bytes(&col[COL_PROTO], 1, &p) < 0)
			return BAD("protocol column short");
		f->key.proto = p[0];
		if (get_varint(&col[COL_VLAN0], &vl0) < 0 ||
		    get_varint(&col[COL_VLAN1], &vl1) < 0 || vl0 > 0xffff || vl1 > 0xffff)
			return BAD("bad VLAN id");
		f->key.vlan[0] = (uint16_t)vl0;
		f->key.vlan[1] = (uint16_t)vl1;
		if (get_varint(&col[COL_SRC], &si) < 0 || get_varint(&col[COL_DST], &di) < 0 ||
		    si >= ndict || di >= ndict || dict[dpos[si]] != f->key.family ||
		    dict[dpos[di]] != f->key.family)
			return BAD("bad address index");
		size_t alen = f->key.family == 4 ? 4 : 16;
		memcpy(f->key.src, dict + dpos[si] + 1, alen);
		memcpy(f->key.dst, dict + dpos[di] + 1, alen);
		if (get_bytes(&col[COL_SPORT], 2, &p) < 0)
			return BAD("port column short");
		f->key.sport = (uint16_t)(p[0] << 8 | p[1]);
		if (get_bytes(&col[COL_DPORT], 2, &p) < 0)
			return BAD("port column short");
		f->key.dport = (uint16_t)(p[0] << 8 | p[1]);
		if (get_varint(&col[COL_FIRST], &dt) < 0 || get_varint(&col[COL_DUR], &dur) < 0)
			return BAD("time column short");
		/* wrapping arithmetic: garbage in gives garbage times, never overflow */
		int64_t first_t = (int64_t)((uint64_t)prev_first + (uint64_t)unzigzag(dt));
		prev_first = first_t;
		f->first_ns = (int64_t)((uint64_t)first_t * TS_UNIT);
		f->last_ns = (int64_t)(((uint64_t)first_t + dur) * TS_UNIT);
		if (get_varint(&col[COL_NPKTS], &n) < 0 || n == 0 || n > te->npkts - np)
			return BAD("bad packet count");
		f->npkts = (uint32_t)n;
		r->fstart[i] = np;
		for (uint64_t j = 0; j < n; j++) {
			uint64_t o;
			if (get_varint(&col[COL_OFFS], &v) < 0)
				return BAD("offset column short");
			if (j == 0)
				o = prev_off + (uint64_t)unzigzag(v);
			else if (v == 0 || v > r->info.pcap_size - r->offs[np - 1])
				return BAD("bad offset delta");
			else
				o = r->offs[np - 1] + v;
			if (o >= r->info.pcap_size)
				return BAD("offset past the end of the PCAP file");
			if (j == 0)
				prev_off = o;
			r->offs[np++] = o;
		}
	}
	r->fstart[te->nflows] = np;
	if (np != te->npkts || id != te->last)
		return BAD("totals do not match the block table");
	for (int c = 0; c < NCOL; c++)
		if (col[c].p != col[c].end)
			return BAD("column has trailing bytes");
	r->cur = b;
	return 0;
}

/*
 * One flow of block b, without decoding the others into arrays: the columns
 * are walked up to the flow (every read bounds-checked as in block_decode)
 * and only its own offsets are kept. A lookup touches the inflated block and
 * the flow's offsets, not the ~600 KB a whole decoded block takes: pulling one
 * session out stays a few page faults. Returns 0, -ENOENT, or -EBADMSG.
 */
static int block_find_one(struct index_reader *r, int64_t b, uint64_t want,
                          struct index_flow *out)
{
	const struct tab_ent *te = &r->tab[b];
	const uint8_t *cdata;
	int rc;
	if (!r->mem && grow((void **)&r->cbuf, &r->cbcap, te->clen ? te->clen : 1, 1) < 0)
		return rerr(r, -ENOMEM, "out of memory");
	if ((rc = read_at(r, te->off, te->clen, r->cbuf, &cdata)) < 0)
		return rc;
	if (grow((void **)&r->raw, &r->rawcap, te->rawlen ? te->rawlen : 1, 1) < 0)
		return rerr(r, -ENOMEM, "out of memory");
	r->cur = -1; /* raw is reused: the decoded block (if any) is gone */
	uLongf rl = te->rawlen;
	if (uncompress(r->raw, &rl, cdata, te->clen) != Z_OK || rl != te->rawlen)
		return BAD("does not inflate to its length");
	struct cur all = {r->raw, r->raw + rl}, col[NCOL];
	uint64_t v;
	if (get_varint(&all, &v) < 0 || v != te->nflows)
		return BAD("flow count mismatch");
	for (int c = 0; c < NCOL; c++) {
		const uint8_t *p;
		if (get_varint(&all, &v) < 0 || get_bytes(&all, (size_t)v, &p) < 0 || v > rl)
			return BAD("column overruns the block");
		col[c].p = p;
		col[c].end = p + v;
	}
	uint64_t ndict;
	if (get_varint(&col[COL_DICT], &ndict) < 0 || ndict > 2u * te->nflows)
		return BAD("bad address dictionary");
	int64_t prev_first = floor_div(r->info.first_ns, TS_UNIT);
	uint64_t prev_off = 0, id = te->first, np = 0;
	for (uint32_t i = 0; i < te->nflows; i++) {
		const uint8_t *p, *fam, *proto, *sp, *dp;
		uint64_t si, di, vl0, vl1, dt, dur, n;
		if (i > 0) {
			if (get_varint(&col[COL_ID], &v) < 0 || v >= te->last - id)
				return BAD("bad flow id");
			id += v + 1;
		}
		if (id > want)
			return -ENOENT;
		if (get_bytes(&col[COL_FAMILY], 1, &fam) < 0 || (fam[0] != 4 && fam[0] != 6) ||
		    get_bytes(&col[COL_PROTO], 1, &proto) < 0 ||
		    get_varint(&col[COL_VLAN0], &vl0) < 0 ||
		    get_varint(&col[COL_VLAN1], &vl1) < 0 || vl0 > 0xffff || vl1 > 0xffff ||
		    get_varint(&col[COL_SRC], &si) < 0 || get_varint(&col[COL_DST], &di) < 0 ||
		    si >= ndict || di >= ndict || get_bytes(&col[COL_SPORT], 2, &sp) < 0 ||
		    get_bytes(&col[COL_DPORT], 2, &dp) < 0 ||
		    get_varint(&col[COL_FIRST], &dt) < 0 ||
		    get_varint(&col[COL_DUR], &dur) < 0 ||
		    get_varint(&col[COL_NPKTS], &n) < 0 || n == 0 || n > te->npkts - np)
			return BAD("flow columns short or out of range");
		int64_t first_t = (int64_t)((uint64_t)prev_first + (uint64_t)unzigzag(dt));
		prev_first = first_t;
		int mine = id == want;
		if (mine &&
		    grow((void **)&r->offs, &r->offcap, (size_t)n, sizeof(uint64_t)) < 0)
			return rerr(r, -ENOMEM, "out of memory");
		uint64_t last = 0;
		for (uint64_t j = 0; j < n; j++) {
			uint64_t o;
			if (get_varint(&col[COL_OFFS], &v) < 0)
				return BAD("offset column short");
			if (j == 0)
				o = prev_off + (uint64_t)unzigzag(v);
			else if (v == 0 || v > r->info.pcap_size - last)
				return BAD("bad offset delta");
			else
				o = last + v;
			if (o >= r->info.pcap_size)
				return BAD("offset past the end of the PCAP file");
			if (j == 0)
				prev_off = o;
			last = o;
			if (mine)
				r->offs[j] = o;
		}
		np += n;
		if (!mine)
			continue;
		/* the flow's addresses: walk the dictionary to its two entries */
		memset(out, 0, sizeof(*out));
		out->id = id;
		out->key.family = fam[0];
		out->key.proto = proto[0];
		out->key.vlan[0] = (uint16_t)vl0;
		out->key.vlan[1] = (uint16_t)vl1;
		out->key.sport = (uint16_t)(sp[0] << 8 | sp[1]);
		out->key.dport = (uint16_t)(dp[0] << 8 | dp[1]);
		out->first_ns = (int64_t)((uint64_t)first_t * TS_UNIT);
		out->last_ns = (int64_t)(((uint64_t)first_t + dur) * TS_UNIT);
		out->npkts = (uint32_t)n;
		int found = 0;
		for (uint64_t k = 0; k < ndict && found < 2; k++) {
			if (get_bytes(&col[COL_DICT], 1, &p) < 0 || (p[0] != 4 && p[0] != 6) ||
			    get_bytes(&col[COL_DICT], p[0] == 4 ? 4 : 16, &p) < 0)
				return BAD("bad address dictionary");
			size_t alen = p[-1] == 4 ? 4 : 16;
			if (k == si || k == di) {
				if (p[-1] != fam[0])
					return BAD("bad address index");
				if (k == si)
					memcpy(out->key.src, p, alen);
				if (k == di)
					memcpy(out->key.dst, p, alen);
				found += (si == di) ? 2 : 1;
			}
		}
		if (found < 2)
			return BAD("bad address index");
		return 0;
	}
	return -ENOENT;
}

int index_reader_find(struct index_reader *r, uint64_t id, struct index_flow *fl,
                      const uint64_t **offsets)
{
	int64_t lo = 0, hi = (int64_t)r->info.nblocks - 1, b = -1;
	while (lo <= hi) {
		int64_t mid = lo + (hi - lo) / 2;
		if (id < r->tab[mid].first)
			hi = mid - 1;
		else if (id > r->tab[mid].last)
			lo = mid + 1;
		else {
			b = mid;
			break;
		}
	}
	if (b < 0)
		return -ENOENT;
	int rc;
	if (r->cur != b) {
		/* one lookup in a block not decoded: walk it without decoding it whole */
		rc = block_find_one(r, b, id, fl);
		if (rc == 0)
			*offsets = r->offs;
		return rc;
	}
	uint32_t l = 0, h = r->tab[b].nflows;
	while (l < h) {
		uint32_t m = l + (h - l) / 2;
		if (r->flows[m].id < id)
			l = m + 1;
		else
			h = m;
	}
	if (l == r->tab[b].nflows || r->flows[l].id != id)
		return -ENOENT;
	*fl = r->flows[l];
	*offsets = r->offs + r->fstart[l];
	return 0;
}

int index_reader_foreach(struct index_reader *r, index_flow_cb *cb, void *arg)
{
	for (int64_t b = 0; b < (int64_t)r->info.nblocks; b++) {
		int rc = block_decode(r, b);
		if (rc < 0)
			return rc;
		for (uint32_t i = 0; i < r->tab[b].nflows; i++) {
			rc = cb(arg, &r->flows[i], r->offs + r->fstart[i]);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

struct cid_match {
	const char *cid;
	uint16_t seed;
	index_flow_cb *cb;
	void *arg;
};

static int cid_visit(void *arg, const struct index_flow *fl, const uint64_t *offsets)
{
	struct cid_match *m = arg;
	char cid[COMMUNITYID_STRLEN];
	if (communityid_compute(m->seed, fl->key.family, fl->key.src, fl->key.dst,
	                        fl->key.proto, fl->key.sport, fl->key.dport, cid) < 0)
		return 0;
	if (strcmp(cid, m->cid) != 0)
		return 0;
	return m->cb(m->arg, fl, offsets);
}

int index_reader_find_cid(struct index_reader *r, const char *cid, index_flow_cb *cb, void *arg)
{
	struct cid_match m = {cid, r->info.cid_seed, cb, arg};
	return index_reader_foreach(r, cid_visit, &m);
}

#include "flow.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/event.h"
#include "common/siphash.h"

#define NIL 0xffffffffu
#define NS 1000000000ll
#define SWEEP_EVERY NS
#define FRAG_SLOTS 1024 /* first-fragment ports remembered (direct mapped) */
#define FRAG_TTL (60 * NS)
/* Later fragments held for their first: one entry more than may be held, for
 * the oldest let go to make room while a new one takes its place. */
#define HOLD_ENTS (FLOW_FRAGS_HOLD + 1)
#define HOLD_BUCKETS FLOW_FRAGS_HOLD /* a power of two */

/* Timeout classes: one touch-ordered list each. */
enum { CLS_TCP_NEW, CLS_TCP_EST, CLS_TCP_CLOSED, CLS_UDP, CLS_OTHER, CLS_MAX };

/* hist_bits */
enum { H_SYN = 1, H_SYNACK = 2, H_ACK = 4, H_DATA = 8, H_FIN = 16, H_RST = 32 };

struct frag_slot {
	int64_t touch;
	uint32_t id;
	uint8_t family, proto; /* proto: the datagram's (decode_pkt.frag_nh) */
	uint8_t l4proto;       /* what its first fragment carries, past IPv6's other headers */
	uint16_t sport, dport;
	uint8_t src[16], dst[16];
};

enum { HELD_FREE = 0, HELD_WAITING, HELD_DUE };

/* A held later fragment. Links are entry index + 1 (0: none), so a zeroed map is empty. */
struct held_ent {
	struct flow_frag_held h;
	int64_t since;         /* map time it was held */
	uint32_t id;           /* fragment id */
	uint16_t hprev, hnext; /* its hash bucket's chain (waiting) */
	uint16_t prev, next;   /* the waiting list (oldest first), the due list, or free */
	uint16_t bucket;
	uint8_t state;
};

struct flow_frags {
	struct sipkey key; /* hash key */
	struct frag_slot slots[FRAG_SLOTS];
	/* held later fragments: waiting (hashed, in the order held) or due (to be taken) */
	struct held_ent held[HOLD_ENTS];
	uint16_t bucket[HOLD_BUCKETS];
	uint16_t wait_head, wait_tail, due_head, due_tail;
	uint16_t free_head; /* entries given back */
	uint16_t fresh;     /* entries from here on were never used */
	uint16_t last;      /* the entry held by the last call (flow_table_tag_held) */
	uint32_t nwaiting;
};

struct flow_table {
	struct flow_config cfg;
	struct flow *flows; /* cfg.capacity entries */
	uint32_t *buckets;
	uint32_t mask;
	uint32_t free_head; /* ended flows, for reuse */
	uint32_t fresh;     /* entries from here on were never used: touched only when needed */
	uint32_t head[CLS_MAX], tail[CLS_MAX];
	int64_t timeout[CLS_MAX];
	struct sipkey key; /* hash key */
	uint64_t next_id;
	uint64_t id_end; /* last id of the block taken (0: no end) */
	uint32_t file_id;
	struct flow_clock clock; /* packet clock: only moves forward */
	int64_t now;             /* clock.now */
	int64_t next_sweep;
	struct flow_stats st;
	struct flow_frags frags;
};

/* Direction-free hash: the lower (address, port) end goes first. */
static uint32_t key_hash(const struct flow_table *ft, const struct decode_key *k)
{
	uint64_t w[6];
	const uint8_t *a = k->src, *b = k->dst;
	uint16_t pa = k->sport, pb = k->dport;
	int c = memcmp(a, b, 16);
	if (c > 0 || (c == 0 && pa > pb)) {
		a = k->dst;
		b = k->src;
		pa = k->dport;
		pb = k->sport;
	}
	memcpy(&w[0], a, 8);
	memcpy(&w[1], a + 8, 8);
	memcpy(&w[2], b, 8);
	memcpy(&w[3], b + 8, 8);
	w[4] =
	    (uint64_t)pa << 48 | (uint64_t)pb << 32 | (uint64_t)k->vlan[0] << 16 | k->vlan[1];
	w[5] = (uint64_t)k->family << 8 | k->proto;
	return (uint32_t)siphash13_words(&ft->key, w, 6);
}

/* 0 = same direction, 1 = reverse, -1 = another flow. */
static int key_match(const struct decode_key *f, const struct decode_key *k)
{
	if (f->family != k->family || f->proto != k->proto || f->vlan[0] != k->vlan[0] ||
	    f->vlan[1] != k->vlan[1])
		return -1;
	if (f->sport == k->sport && f->dport == k->dport && memcmp(f->src, k->src, 16) == 0 &&
	    memcmp(f->dst, k->dst, 16) == 0)
		return 0;
	if (f->sport == k->dport && f->dport == k->sport && memcmp(f->src, k->dst, 16) == 0 &&
	    memcmp(f->dst, k->src, 16) == 0)
		return 1;
	return -1;
}

void flow_config_default(struct flow_config *c)
{
	memset(c, 0, sizeof(*c));
	c->capacity = 65536;
	c->tcp_new_timeout = 60;
	c->tcp_est_timeout = 600;
	c->tcp_closed_timeout = 60;
	c->udp_timeout = 120;
	c->other_timeout = 60;
}

int flow_table_new(struct flow_table **out, const struct flow_config *c)
{
	*out = NULL;
	if (c->capacity == 0 || c->capacity > (1u << 30))
		return -EINVAL;
	struct flow_table *ft = calloc(1, sizeof(*ft));
	if (ft == NULL)
		return -ENOMEM;
	ft->cfg = *c;
	uint32_t nb = 1;
	while (nb < c->capacity)
		nb <<= 1;
	ft->mask = nb - 1;
	ft->flows = calloc(c->capacity, sizeof(*ft->flows));
	ft->buckets = malloc((size_t)nb * sizeof(*ft->buckets));
	if (ft->flows == NULL || ft->buckets == NULL) {
		flow_table_free(&ft);
		return -ENOMEM;
	}
	memset(ft->buckets, 0xff, (size_t)nb * sizeof(*ft->buckets));
	/* No free list to build: entries are taken in order first, so a large
	 * table costs no memory (nor page faults) until it fills. */
	ft->free_head = NIL;
	ft->fresh = 0;
	for (int i = 0; i < CLS_MAX; i++)
		ft->head[i] = ft->tail[i] = NIL;
	ft->timeout[CLS_TCP_NEW] = c->tcp_new_timeout * NS;
	ft->timeout[CLS_TCP_EST] = c->tcp_est_timeout * NS;
	ft->timeout[CLS_TCP_CLOSED] = c->tcp_closed_timeout * NS;
	ft->timeout[CLS_UDP] = c->udp_timeout * NS;
	ft->timeout[CLS_OTHER] = c->other_timeout * NS;
	sipkey_init(&ft->key, c->hash_seed, ft);
	ft->frags.key = ft->key;
	ft->next_id = c->id_base;
	ft->id_end = c->id_end;
	*out = ft;
	return 0;
}

void flow_table_free(struct flow_table **ftp)
{
	struct flow_table *ft = *ftp;
	if (ft == NULL)
		return;
	free(ft->flows);
	free(ft->buckets);
	free(ft);
	*ftp = NULL;
}

/* ---- lists ---- */

static void list_unlink(struct flow_table *ft, struct flow *f)
{
	uint32_t idx = (uint32_t)(f - ft->flows);
	if (f->prev != NIL)
		ft->flows[f->prev].next = f->next;
	else if (ft->head[f->cls] == idx)
		ft->head[f->cls] = f->next;
	if (f->next != NIL)
		ft->flows[f->next].prev = f->prev;
	else if (ft->tail[f->cls] == idx)
		ft->tail[f->cls] = f->prev;
	f->prev = f->next = NIL;
}

static void list_append(struct flow_table *ft, struct flow *f, uint8_t cls)
{
	uint32_t idx = (uint32_t)(f - ft->flows);
	f->cls = cls;
	f->next = NIL;
	f->prev = ft->tail[cls];
	if (f->prev != NIL)
		ft->flows[f->prev].next = idx;
	else
		ft->head[cls] = idx;
	ft->tail[cls] = idx;
}

static uint8_t flow_class(const struct flow *f)
{
	switch (f->key.proto) {
	case 6:
		if (f->state == FLOW_STATE_CLOSED)
			return CLS_TCP_CLOSED;
		return f->state == FLOW_STATE_ESTABLISHED ? CLS_TCP_EST : CLS_TCP_NEW;
	case 17:
		return CLS_UDP;
	default:
		return CLS_OTHER;
	}
}

/* End a flow: report it, unhash it, free its entry. */
static void flow_end(struct flow_table *ft, struct flow *f, enum flow_end reason)
{
	uint32_t idx = (uint32_t)(f - ft->flows);
	if (f->state == FLOW_STATE_CLOSED && f->closed_by != FLOW_END_NONE)
		reason = f->closed_by;
	f->end_reason = (uint8_t)reason;
	ft->st.ended[reason]++;
	ft->st.active--;
	if (ft->cfg.end_cb)
		ft->cfg.end_cb(ft->cfg.cb_arg, f);
	list_unlink(ft, f);
	uint32_t *pp = &ft->buckets[key_hash(ft, &f->key) & ft->mask];
	while (*pp != NIL && *pp != idx)
		pp = &ft->flows[*pp].hnext;
	if (*pp == idx)
		*pp = f->hnext;
	f->hnext = ft->free_head;
	ft->free_head = idx;
}

int64_t flow_config_longest_idle_ns(const struct flow_config *c)
{
	uint32_t t = c->tcp_new_timeout;
	const uint32_t others[] = {c->tcp_est_timeout, c->tcp_closed_timeout, c->udp_timeout,
	                           c->other_timeout};
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		if (others[i] > t)
			t = others[i];
	return (int64_t)t * NS + SWEEP_EVERY;
}

static size_t sweep(struct flow_table *ft)
{
	size_t n = 0;
	for (int c = 0; c < CLS_MAX; c++) {
		while (ft->head[c] != NIL) {
			struct flow *f = &ft->flows[ft->head[c]];
			if (ft->now - f->touch <= ft->timeout[c])
				break;
			flow_end(ft, f, FLOW_END_TIMEOUT);
			n++;
		}
	}
	return n;
}

/* The flow nearest to (or furthest past) its timeout: a list head, since lists are in touch
 * order. */
static struct flow *victim(struct flow_table *ft)
{
	struct flow *best = NULL;
	int64_t best_left = 0;
	for (int c = 0; c < CLS_MAX; c++) {
		if (ft->head[c] == NIL)
			continue;
		struct flow *f = &ft->flows[ft->head[c]];
		int64_t left = ft->timeout[c] - (ft->now - f->touch);
		if (best == NULL || left < best_left) {
			best = f;
			best_left = left;
		}
	}
	return best;
}

int64_t flow_clock_observe(struct flow_clock *c, int64_t ts)
{
	if (!c->set) {
		c->set = 1;
		c->now = c->last_ts = c->hwm = ts;
		return c->now;
	}
	/* Step forward by the time since the previous packet; but coming back
	 * above the highest time seen after a dip into the past, only by the time
	 * past that high mark. Unsigned arithmetic: absurd timestamps cannot
	 * overflow. */
	int64_t from = c->last_ts;
	if (ts > c->hwm && c->hwm > from)
		from = c->hwm;
	if (ts > from) {
		uint64_t step = (uint64_t)ts - (uint64_t)from;
		if (step > (uint64_t)INT64_MAX - (uint64_t)c->now)
			step = (uint64_t)INT64_MAX - (uint64_t)c->now;
		c->now += (int64_t)step;
	}
	c->last_ts = ts;
	if (ts > c->hwm)
		c->hwm = ts;
	return c->now;
}

static void clock_observe(struct flow_table *ft, int64_t ts)
{
	int first = !ft->clock.set;
	ft->now = flow_clock_observe(&ft->clock, ts);
	if (first)
		ft->next_sweep = ts + SWEEP_EVERY;
}

static void held_count(struct flow_table *ft, struct flow *cur);

size_t flow_table_expire(struct flow_table *ft, int64_t now_ns)
{
	clock_observe(ft, now_ns);
	ft->next_sweep = ft->now > INT64_MAX - SWEEP_EVERY ? INT64_MAX : ft->now + SWEEP_EVERY;
	held_count(ft, NULL); /* those past their time */
	return sweep(ft);
}

size_t flow_table_flush(struct flow_table *ft, enum flow_end reason)
{
	size_t n = 0;
	flow_frags_release(&ft->frags, FLOW_FILE_ANY);
	held_count(ft, NULL);
	for (int c = 0; c < CLS_MAX; c++) {
		while (ft->head[c] != NIL) {
			flow_end(ft, &ft->flows[ft->head[c]], reason);
			n++;
		}
	}
	return n;
}

void flow_table_set_file(struct flow_table *ft, uint32_t file_id)
{
	ft->file_id = file_id;
}

void flow_table_stats(const struct flow_table *ft, struct flow_stats *out)
{
	*out = ft->st;
}

/* ---- fragments ---- */

int flow_frags_new(struct flow_frags **out)
{
	struct flow_frags *m = calloc(1, sizeof(*m));
	*out = NULL;
	if (m == NULL)
		return -ENOMEM;
	sipkey_init(&m->key, 0, m);
	*out = m;
	return 0;
}

void flow_frags_free(struct flow_frags **m)
{
	free(*m);
	*m = NULL;
}

/* Whether now is at most ttl after since (or before it), without overflow on any times. */
static int within(int64_t now, int64_t since, int64_t ttl)
{
	return now <= since || (uint64_t)now - (uint64_t)since <= (uint64_t)ttl;
}

static struct frag_slot *frag_slot(struct flow_frags *m, const struct decode_pkt *d)
{
	uint64_t w[5];
	memcpy(&w[0], d->src, 8);
	memcpy(&w[1], d->src + 8, 8);
	memcpy(&w[2], d->dst, 8);
	memcpy(&w[3], d->dst + 8, 8);
	w[4] = (uint64_t)d->frag_id << 16 | (uint64_t)d->l3 << 8 | d->frag_nh;
	return &m->slots[siphash13_words(&m->key, w, 5) & (FRAG_SLOTS - 1)];
}

static int frag_same(const struct frag_slot *s, const struct decode_pkt *d)
{
	return s->id == d->frag_id && s->family == d->l3 && s->proto == d->frag_nh &&
	       memcmp(s->src, d->src, 16) == 0 && memcmp(s->dst, d->dst, 16) == 0;
}

/* The bucket of a datagram's held fragments: its key (addresses, protocol, VLAN ids) and
 * fragment id, so fragments of one datagram seen in another VLAN do not share a chain. */
static uint16_t held_bucket(const struct flow_frags *m, const struct decode_key *k, uint32_t id)
{
	uint64_t w[6];
	memcpy(&w[0], k->src, 8);
	memcpy(&w[1], k->src + 8, 8);
	memcpy(&w[2], k->dst, 8);
	memcpy(&w[3], k->dst + 8, 8);
	w[4] = (uint64_t)id << 16 | (uint64_t)k->family << 8 | k->proto;
	w[5] = (uint64_t)k->vlan[0] << 16 | k->vlan[1];
	return (uint16_t)(siphash13_words(&m->key, w, 6) & (HOLD_BUCKETS - 1));
}

static int held_same(const struct held_ent *e, const struct decode_key *k, uint32_t id)
{
	const struct decode_key *h = &e->h.key;
	return e->id == id && h->family == k->family && h->proto == k->proto &&
	       h->vlan[0] == k->vlan[0] && h->vlan[1] == k->vlan[1] &&
	       memcmp(h->src, k->src, 16) == 0 && memcmp(h->dst, k->dst, 16) == 0;
}

/* Doubly linked lists of entries by prev/next (index + 1). */
static void held_list_add(struct flow_frags *m, uint16_t *head, uint16_t *tail, uint16_t i)
{
	struct held_ent *e = &m->held[i - 1];
	e->next = 0;
	e->prev = *tail;
	if (*tail)
		m->held[*tail - 1].next = i;
	else
		*head = i;
	*tail = i;
}

static void held_list_del(struct flow_frags *m, uint16_t *head, uint16_t *tail, uint16_t i)
{
	struct held_ent *e = &m->held[i - 1];
	if (e->prev)
		m->held[e->prev - 1].next = e->next;
	else
		*head = e->next;
	if (e->next)
		m->held[e->next - 1].prev = e->prev;
	else
		*tail = e->prev;
	e->prev = e->next = 0;
}

/* A waiting fragment becomes due: out of its bucket and the waiting list. */
static void held_due(struct flow_frags *m, uint16_t i)
{
	struct held_ent *e = &m->held[i - 1];
	if (e->hprev)
		m->held[e->hprev - 1].hnext = e->hnext;
	else
		m->bucket[e->bucket] = e->hnext;
	if (e->hnext)
		m->held[e->hnext - 1].hprev = e->hprev;
	e->hprev = e->hnext = 0;
	held_list_del(m, &m->wait_head, &m->wait_tail, i);
	held_list_add(m, &m->due_head, &m->due_tail, i);
	e->state = HELD_DUE;
	m->nwaiting--;
}

/* Hold a later fragment (key k) for its first; 0 when there is no room. */
static int held_add(struct flow_frags *m, const struct decode_pkt *d, int64_t now_ns,
                    const struct decode_key *k, const struct flow_frag_held *hold)
{
	if (m->nwaiting >= FLOW_FRAGS_HOLD)
		held_due(m, m->wait_head); /* the oldest goes as it would have unheld */
	uint16_t i;
	if (m->free_head) {
		i = m->free_head;
		m->free_head = m->held[i - 1].next;
	} else if (m->fresh < HOLD_ENTS) {
		i = ++m->fresh;
	} else {
		return 0; /* the due ones were not taken: not held */
	}
	struct held_ent *e = &m->held[i - 1];
	memset(e, 0, sizeof(*e));
	e->h = *hold;
	e->h.key = *k;
	e->h.joined = 0;
	e->since = now_ns;
	e->id = d->frag_id;
	e->bucket = held_bucket(m, k, d->frag_id);
	e->hnext = m->bucket[e->bucket];
	if (e->hnext)
		m->held[e->hnext - 1].hprev = i;
	m->bucket[e->bucket] = i;
	held_list_add(m, &m->wait_head, &m->wait_tail, i);
	e->state = HELD_WAITING;
	m->nwaiting++;
	m->last = i;
	return 1;
}

/* The first fragment (key k, ports included; the datagram's protocol nh) came: its
 * datagram's waiting fragments are joined (those past their time are not: they go at
 * their bound, whatever the order the caller takes things in). */
static void held_join(struct flow_frags *m, const struct decode_key *k, uint8_t nh, uint32_t id,
                      uint32_t file_id, int64_t now_ns)
{
	struct decode_key held_key = *k; /* as the later fragments were held: nh theirs */
	held_key.proto = nh;
	uint16_t i = m->bucket[held_bucket(m, &held_key, id)];
	while (i) {
		struct held_ent *e = &m->held[i - 1];
		uint16_t next = e->hnext;
		/* a fragment held in one file never joins a first one written to another
		 * (files written side by side, one per link type): each index and the scan
		 * of each file see only their own */
		if (held_same(e, &held_key, id) && e->h.file_id == file_id &&
		    within(now_ns, e->since, FLOW_FRAGS_HOLD_NS)) {
			e->h.key.proto = k->proto;
			e->h.key.sport = k->sport;
			e->h.key.dport = k->dport;
			e->h.joined = 1;
			held_due(m, i);
		}
		i = next;
	}
}

/* A first fragment lends its ports to the later ones of its datagram, those that come after
 * it and those held for it. */
int flow_frags_ports(struct flow_frags *m, const struct decode_pkt *d, int64_t now_ns,
                     struct decode_key *k, const struct flow_frag_held *hold)
{
	if (!(d->flags & DECODE_F_FRAG))
		return 0;
	struct frag_slot *s = frag_slot(m, d);
	if (!(d->flags & DECODE_F_FRAG_LATER)) {
		if (!(d->flags & DECODE_F_L4))
			return 0;
		s->touch = now_ns;
		s->id = d->frag_id;
		s->family = d->l3;
		s->proto = d->frag_nh;
		s->l4proto = d->proto;
		memcpy(s->src, d->src, 16);
		memcpy(s->dst, d->dst, 16);
		s->sport = k->sport;
		s->dport = k->dport;
		if (m->nwaiting)
			held_join(m, k, d->frag_nh, d->frag_id, hold ? hold->file_id : 0,
			          now_ns);
		return 0;
	}
	if (s->family != 0 && frag_same(s, d) && within(now_ns, s->touch, FRAG_TTL)) {
		k->proto = s->l4proto;
		k->sport = s->sport;
		k->dport = s->dport;
		return 0;
	}
	return hold ? held_add(m, d, now_ns, k, hold) : 0;
}

int flow_frags_take(struct flow_frags *m, int64_t now_ns, struct flow_frag_held *out)
{
	uint16_t i = m->due_head;
	if (i == 0) {
		i = m->wait_head;
		if (i == 0 || within(now_ns, m->held[i - 1].since, FLOW_FRAGS_HOLD_NS))
			return 0;
		held_due(m, i); /* past its time */
	}
	struct held_ent *e = &m->held[i - 1];
	*out = e->h;
	held_list_del(m, &m->due_head, &m->due_tail, i);
	e->state = HELD_FREE;
	e->next = m->free_head;
	m->free_head = i;
	return 1;
}

void flow_frags_release(struct flow_frags *m, uint32_t file_id)
{
	uint16_t i = m->wait_head;
	while (i) {
		uint16_t next = m->held[i - 1].next;
		if (file_id == FLOW_FILE_ANY || m->held[i - 1].h.file_id == file_id)
			held_due(m, i);
		i = next;
	}
}

/* ---- tracking ---- */

static void history_add(struct flow *f, int dir, uint8_t bit, char letter)
{
	if (f->hist_bits[dir] & bit)
		return;
	f->hist_bits[dir] |= bit;
	size_t n = strlen(f->history);
	if (n < FLOW_HISTORY_MAX) {
		f->history[n] = dir ? letter : (char)(letter - 'a' + 'A');
		f->history[n + 1] = '\0';
	}
}

static void tcp_update(struct flow *f, const struct decode_pkt *d, int dir)
{
	uint8_t fl = d->tcp_flags;
	if (!(d->flags & DECODE_F_TCP_HDR))
		return; /* header not captured: flags unknown */
	f->tcp_flags[dir] |= fl;
	if ((fl & (DECODE_TH_SYN | DECODE_TH_ACK)) == DECODE_TH_SYN)
		history_add(f, dir, H_SYN, 's');
	if ((fl & (DECODE_TH_SYN | DECODE_TH_ACK)) == (DECODE_TH_SYN | DECODE_TH_ACK))
		history_add(f, dir, H_SYNACK, 'h');
	if (d->payload_len > 0)
		history_add(f, dir, H_DATA, 'd');
	else if ((fl & (DECODE_TH_SYN | DECODE_TH_FIN | DECODE_TH_RST | DECODE_TH_ACK)) ==
	         DECODE_TH_ACK)
		history_add(f, dir, H_ACK, 'a');
	if (fl & DECODE_TH_FIN)
		history_add(f, dir, H_FIN, 'f');
	if (fl & DECODE_TH_RST)
		history_add(f, dir, H_RST, 'r');

	if (f->state == FLOW_STATE_CLOSED)
		return;
	if (fl & DECODE_TH_RST) {
		f->state = FLOW_STATE_CLOSED;
		f->closed_by = FLOW_END_RST;
		return;
	}
	if ((f->hist_bits[0] & H_FIN) && (f->hist_bits[1] & H_FIN)) {
		f->state = FLOW_STATE_CLOSED;
		f->closed_by = FLOW_END_FIN;
		return;
	}
	if (f->state == FLOW_STATE_NEW) {
		/* the handshake's last ACK, or (picked up midstream) ACKs both ways */
		int acks =
		    (f->tcp_flags[0] & DECODE_TH_ACK) && (f->tcp_flags[1] & DECODE_TH_ACK);
		if (acks && (!(f->hist_bits[0] & H_SYN) || (f->hist_bits[1] & H_SYNACK)))
			f->state = FLOW_STATE_ESTABLISHED;
	}
}

static struct flow *flow_create(struct flow_table *ft, const struct decode_key *k, uint32_t h,
                                int64_t ts)
{
	if (ft->free_head == NIL && ft->fresh == ft->cfg.capacity) {
		struct flow *v = victim(ft);
		if (v == NULL)
			return NULL;
		flow_end(ft, v, FLOW_END_FORCED);
	}
	uint32_t idx;
	if (ft->free_head != NIL) {
		idx = ft->free_head;
		ft->free_head = ft->flows[idx].hnext;
	} else {
		idx = ft->fresh++;
	}
	struct flow *f = &ft->flows[idx];
	memset(f, 0, sizeof(*f));
	if (ft->id_end && ft->next_id >= ft->id_end && ft->cfg.id_more)
		ft->next_id = ft->cfg.id_more(ft->cfg.id_arg, ft->next_id, &ft->id_end);
	f->id = ++ft->next_id;
	f->key = *k;
	f->start_ns = f->end_ns = ts;
	f->file_first = f->file_last = ft->file_id;
	if (!ft->cfg.cid_lazy &&
	    communityid_compute(ft->cfg.cid_seed, k->family, k->src, k->dst, k->proto, k->sport,
	                        k->dport, f->community_id) < 0)
		f->community_id[0] = '\0';
	f->hnext = ft->buckets[h & ft->mask];
	ft->buckets[h & ft->mask] = idx;
	f->prev = f->next = NIL;
	list_append(ft, f, flow_class(f));
	ft->st.created++;
	ft->st.active++;
	return f;
}

/*
 * The flow of a packet of key k (its ports as the fragment map gave them), found or made,
 * and the packet's direction in it in *m: a pure SYN with another sequence number than the
 * first one seen that way ends the flow and opens a new one. NULL only if none can be made.
 */
static struct flow *flow_get(struct flow_table *ft, const struct decode_pkt *d,
                             const struct decode_key *k, int64_t ts_ns, int *m)
{
	struct flow *f = NULL;
	uint32_t h = key_hash(ft, k);
	*m = -1;
	for (uint32_t i = ft->buckets[h & ft->mask]; i != NIL; i = ft->flows[i].hnext) {
		if ((*m = key_match(&ft->flows[i].key, k)) >= 0) {
			f = &ft->flows[i];
			break;
		}
	}

	int tcp = k->proto == 6 && (d->flags & DECODE_F_TCP_HDR);
	int pure_syn = tcp && (d->tcp_flags & (DECODE_TH_SYN | DECODE_TH_ACK)) == DECODE_TH_SYN;
	/* A SYN whose sequence number is not the first one seen that way opens a
	 * new connection on the tuple (as Wireshark's tcp.stream decides). */
	if (f && pure_syn && (f->seq_set & (1 << *m)) && f->base_seq[*m] != d->tcp_seq) {
		flow_end(ft, f, FLOW_END_REUSED);
		f = NULL;
	}
	if (f == NULL) {
		int flip = tcp && (d->tcp_flags & (DECODE_TH_SYN | DECODE_TH_ACK)) ==
		                      (DECODE_TH_SYN | DECODE_TH_ACK);
		struct decode_key fk = *k;
		if (flip)
			decode_key_reverse(k, &fk);
		f = flow_create(ft, &fk, h, ts_ns);
		if (f == NULL)
			return NULL;
		*m = flip;
		if (flip) {
			f->flipped = 1;
			f->history[0] = '^';
		}
	}
	return f;
}

/* Count a packet (written to file_id) in f, direction m. */
static void flow_account(struct flow_table *ft, struct flow *f, int m,
                         const struct decode_pkt *d, int64_t ts_ns, uint32_t wirelen,
                         uint32_t file_id)
{
	f->pkts[m]++;
	f->bytes[m] += wirelen;
	f->payload[m] += d->payload_len;
	if (ts_ns < f->start_ns)
		f->start_ns = ts_ns;
	if (ts_ns > f->end_ns)
		f->end_ns = ts_ns;
	if (file_id) {
		/* the first and last file of its packets: files written side by side
		 * (one per link type) may take turns */
		if (f->file_first == 0 || file_id < f->file_first)
			f->file_first = file_id;
		if (file_id > f->file_last)
			f->file_last = file_id;
	}
	if (f->key.proto == 6) {
		int tcp = (d->flags & DECODE_F_TCP_HDR) != 0;
		if (tcp && !(f->seq_set & (1 << m))) {
			f->seq_set |= (uint8_t)(1 << m);
			f->base_seq[m] = d->tcp_seq;
		}
		if (d->flags & DECODE_F_L4)
			tcp_update(f, d, m);
	} else {
		if (d->payload_len > 0)
			history_add(f, m, H_DATA, 'd');
		if (f->pkts[1] > 0)
			f->state = FLOW_STATE_ESTABLISHED;
		if ((f->key.proto == 1 || f->key.proto == 58) && (d->flags & DECODE_F_L4) &&
		    !(f->icmp_seen & (1 << m))) {
			f->icmp_seen |= (uint8_t)(1 << m);
			f->icmp_type[m] = d->icmp_type;
			f->icmp_code[m] = d->icmp_code;
		}
	}
	f->touch = ft->now;
	list_unlink(ft, f);
	list_append(ft, f, flow_class(f));
}

/*
 * The held fragments that are due, each counted in its flow and reported. cur: the flow
 * of the packet at hand, a first fragment whose datagram's held fragments were joined
 * (the only ones due then: those past their time went before it); they have its key
 * (joined on addresses, protocol and VLAN ids, given its ports), so they are counted in it
 * and no flow is made, which could end cur to make room. Without cur, only fragments let
 * go (past their time, to make room, released) are due, and they go where they would
 * have gone unheld.
 */
static void held_count(struct flow_table *ft, struct flow *cur)
{
	/* what a later fragment decodes to: no L4, no payload of its own */
	static const struct decode_pkt later = {.flags = DECODE_F_FRAG | DECODE_F_FRAG_LATER};
	struct flow_frag_held h;
	while (flow_frags_take(&ft->frags, ft->now, &h)) {
		struct flow *f = cur;
		int m = cur ? key_match(&cur->key, &h.key) : -1;
		if (m < 0 && (f = flow_get(ft, &later, &h.key, h.ts_ns, &m)) == NULL)
			continue;
		if (h.joined)
			ft->st.frags_joined++;
		flow_account(ft, f, m, &later, h.ts_ns, h.wirelen, h.file_id);
		if (ft->cfg.held_cb)
			ft->cfg.held_cb(ft->cfg.cb_arg, f, m, &h);
	}
}

struct flow *flow_table_track(struct flow_table *ft, const struct decode_pkt *d, int64_t ts_ns,
                              uint32_t wirelen, int *dir)
{
	struct decode_key k;
	int m;

	*dir = -1;
	if (decode_key_get(d, &k) < 0) {
		ft->st.nonip++;
		return NULL;
	}
	ft->st.pkts++;
	clock_observe(ft, ts_ns);
	if (ft->now >= ft->next_sweep) {
		sweep(ft);
		ft->next_sweep =
		    ft->now > INT64_MAX - SWEEP_EVERY ? INT64_MAX : ft->now + SWEEP_EVERY;
	}
	held_count(ft, NULL); /* those past their time */
	struct flow_frag_held hold = {
	    .ts_ns = ts_ns, .wirelen = wirelen, .file_id = ft->file_id, .tag = FLOW_TAG_NONE};
	if (flow_frags_ports(&ft->frags, d, ft->now, &k, &hold)) {
		ft->st.frags_held++;
		held_count(ft, NULL); /* the oldest, let go to make room */
		*dir = FLOW_DIR_HELD;
		return NULL;
	}
	struct flow *f = flow_get(ft, d, &k, ts_ns, &m);
	if (f == NULL)
		return NULL;
	*dir = m;
	flow_account(ft, f, m, d, ts_ns, wirelen, ft->file_id);
	held_count(ft, f); /* its datagram's, when it is a first fragment */
	return f;
}

void flow_table_tag_held(struct flow_table *ft, uint64_t tag)
{
	struct flow_frags *m = &ft->frags;
	if (m->last && m->held[m->last - 1].state == HELD_WAITING)
		m->held[m->last - 1].h.tag = tag;
}

size_t flow_table_release_frags(struct flow_table *ft, uint32_t file_id)
{
	uint32_t before = ft->frags.nwaiting;
	flow_frags_release(&ft->frags, file_id);
	size_t n = before - ft->frags.nwaiting;
	held_count(ft, NULL);
	return n;
}

/* ---- names and rendering ---- */

const char *flow_state_str(int state)
{
	switch (state) {
	case FLOW_STATE_NEW:
		return "new";
	case FLOW_STATE_ESTABLISHED:
		return "established";
	case FLOW_STATE_CLOSED:
		return "closed";
	default:
		return "unknown";
	}
}

const char *flow_end_str(int reason)
{
	switch (reason) {
	case FLOW_END_NONE:
		return "none";
	case FLOW_END_FIN:
		return "fin";
	case FLOW_END_RST:
		return "rst";
	case FLOW_END_TIMEOUT:
		return "timeout";
	case FLOW_END_FORCED:
		return "forced";
	case FLOW_END_SHUTDOWN:
		return "shutdown";
	case FLOW_END_REUSED:
		return "reused";
	default:
		return "unknown";
	}
}

const char *flow_proto_str(uint8_t proto, char buf[4])
{
	switch (proto) {
	case 6:
		return "TCP";
	case 17:
		return "UDP";
	case 1:
		return "ICMP";
	case 58:
		return "IPv6-ICMP";
	case 132:
		return "SCTP";
	default:
		snprintf(buf, 4, "%u", proto);
		return buf;
	}
}

/* Zeek's RSTOS0 test: the originator's SYN, then its RST, with no H A F G I Q of its own
 * between. */
static int syn_then_rst(const char *h)
{
	if (*h == '^')
		h++;
	if (*h++ != 'S')
		return 0;
	for (; *h; h++) {
		if (*h == 'R')
			return 1;
		if (strchr("HAFGIQ", *h))
			return 0;
	}
	return 0;
}

/*
 * Zeek's conn_state(), from endpoint states derived from the flags each side
 * sent: RESET (RST), CLOSED (FIN), ESTABLISHED (SYN, SYN-ACK and then more
 * from the originator), SYN_SENT / SYN_ACK_SENT, PARTIAL (midstream), INACTIVE.
 */
const char *flow_conn_state(const struct flow *f)
{
	enum { INACTIVE, PARTIAL, SYN_SENT, SYN_ACK_SENT, ESTABLISHED, CLOSED, RESET };
	uint8_t o = f->hist_bits[0], r = f->hist_bits[1];
	if (f->key.proto != 6) {
		if (f->pkts[0])
			return f->pkts[1] ? "SF" : "S0";
		return f->pkts[1] ? "SHR" : "OTH";
	}
	int hs = (o & H_SYN) && (r & H_SYNACK) && (o & (H_ACK | H_DATA | H_FIN | H_RST));
	int os = (o & H_RST)   ? RESET
	         : (o & H_FIN) ? CLOSED
	         : hs          ? ESTABLISHED
	         : (o & H_SYN) ? SYN_SENT
	         : f->pkts[0]  ? PARTIAL
	                       : INACTIVE;
	int rs = (r & H_RST)      ? RESET
	         : (r & H_FIN)    ? CLOSED
	         : hs             ? ESTABLISHED
	         : (r & H_SYNACK) ? SYN_ACK_SENT
	         : f->pkts[1]     ? PARTIAL
	                          : INACTIVE;
	int o_inactive = os == INACTIVE || os == PARTIAL;
	int r_inactive = rs == INACTIVE || rs == PARTIAL;
	if (rs == RESET) {
		if (os == SYN_SENT || os == SYN_ACK_SENT ||
		    (os == RESET && f->payload[0] == 0 && f->payload[1] == 0))
			return "REJ";
		return o_inactive ? "RSTRH" : "RSTR";
	}
	if (os == RESET) {
		if (r_inactive)
			return syn_then_rst(f->history) ? "RSTOS0" : "OTH";
		return "RSTO";
	}
	if (rs == CLOSED && os == CLOSED)
		return "SF";
	if (os == CLOSED)
		return r_inactive ? "SH" : "S2";
	if (rs == CLOSED)
		return o_inactive ? "SHR" : "S3";
	if (os == SYN_SENT && rs == INACTIVE)
		return "S0";
	if (os == ESTABLISHED && rs == ESTABLISHED)
		return "S1";
	return "OTH";
}

void flow_community_id(struct flow *f, uint16_t seed)
{
	const struct decode_key *k = &f->key;
	if (communityid_compute(seed, k->family, k->src, k->dst, k->proto, k->sport, k->dport,
	                        f->community_id) < 0)
		f->community_id[0] = '\0';
}

static void render_addr(struct evbuf *b, const char *key, int family, const uint8_t *a)
{
	char text[INET6_ADDRSTRLEN];
	if (inet_ntop(family == 4 ? AF_INET : AF_INET6, a, text, sizeof(text)) != NULL)
		ev_str(b, key, text);
}

static const char *tcp_state_str(const struct flow *f)
{
	uint8_t o = f->hist_bits[0], r = f->hist_bits[1];
	if (f->state == FLOW_STATE_CLOSED)
		return "closed";
	if ((o | r) & H_FIN)
		return "closing";
	if (f->state == FLOW_STATE_ESTABLISHED)
		return "established";
	if (r & H_SYNACK)
		return "syn_recv";
	if (o & H_SYN)
		return "syn_sent";
	return "none";
}

int flow_event_render(const struct flow *f, struct evbuf *b)
{
	char pbuf[4], hex[3];
	int ports = f->key.proto == 6 || f->key.proto == 17 || f->key.proto == 132;

	ev_begin(b, "flow", f->start_ns / 1000 ? f->start_ns / 1000 : 1);
	ev_int(b, "flow_id", (int64_t)f->id);
	render_addr(b, "src_ip", f->key.family, f->key.src);
	if (ports)
		ev_int(b, "src_port", f->key.sport);
	render_addr(b, "dest_ip", f->key.family, f->key.dst);
	if (ports)
		ev_int(b, "dest_port", f->key.dport);
	ev_str(b, "proto", flow_proto_str(f->key.proto, pbuf));
	if (f->key.vlan[0] || f->key.vlan[1]) {
		ev_arr(b, "vlan");
		ev_int(b, "", f->key.vlan[0]);
		if (f->key.vlan[1])
			ev_int(b, "", f->key.vlan[1]);
		ev_close(b);
	}
	if (f->community_id[0])
		ev_str(b, "community_id", f->community_id);
	if (f->icmp_seen & 1) {
		ev_int(b, "icmp_type", f->icmp_type[0]);
		ev_int(b, "icmp_code", f->icmp_code[0]);
	}
	if (f->icmp_seen & 2) {
		ev_int(b, "response_icmp_type", f->icmp_type[1]);
		ev_int(b, "response_icmp_code", f->icmp_code[1]);
	}

	ev_obj(b, "flow");
	ev_int(b, "pkts_toserver", (int64_t)f->pkts[0]);
	ev_int(b, "pkts_toclient", (int64_t)f->pkts[1]);
	ev_int(b, "bytes_toserver", (int64_t)f->bytes[0]);
	ev_int(b, "bytes_toclient", (int64_t)f->bytes[1]);
	ev_int(b, "payload_bytes_toserver", (int64_t)f->payload[0]);
	ev_int(b, "payload_bytes_toclient", (int64_t)f->payload[1]);
	ev_time(b, "start", f->start_ns / 1000);
	ev_time(b, "end", f->end_ns / 1000);
	/* as Suricata: whole seconds between the first and the last packet */
	ev_int(b, "age", f->end_ns / NS - f->start_ns / NS);
	ev_str(b, "state", flow_state_str(f->state));
	ev_str(b, "reason", flow_end_str(f->end_reason));
	ev_str(b, "conn_state", flow_conn_state(f));
	ev_str(b, "history", f->history);
	ev_close(b);

	if (f->key.proto == 6) {
		static const struct {
			uint8_t bit;
			const char *name;
		} names[] = {{DECODE_TH_SYN, "syn"}, {DECODE_TH_FIN, "fin"},
		             {DECODE_TH_RST, "rst"}, {DECODE_TH_PSH, "psh"},
		             {DECODE_TH_ACK, "ack"}, {DECODE_TH_URG, "urg"},
		             {DECODE_TH_ECE, "ecn"}, {DECODE_TH_CWR, "cwr"}};
		uint8_t all = f->tcp_flags[0] | f->tcp_flags[1];
		ev_obj(b, "tcp");
		snprintf(hex, sizeof(hex), "%02x", all);
		ev_str(b, "tcp_flags", hex);
		snprintf(hex, sizeof(hex), "%02x", f->tcp_flags[0]);
		ev_str(b, "tcp_flags_ts", hex);
		snprintf(hex, sizeof(hex), "%02x", f->tcp_flags[1]);
		ev_str(b, "tcp_flags_tc", hex);
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (all & names[i].bit)
				ev_bool(b, names[i].name, 1);
		ev_str(b, "state", tcp_state_str(f));
		ev_close(b);
	}
	if (f->file_first) {
		ev_obj(b, "pcap");
		ev_int(b, "file_first", f->file_first);
		ev_int(b, "file_last", f->file_last);
		ev_close(b);
	}
	if (b->overflow) {
		ev_abort(b);
		return -EMSGSIZE;
	}
	ev_end(b);
	return 0;
}

/*
 * Sinkhole address pool.
 *
 * Slot i holds the mapping of the i-th usable address of the prefix, so an
 * address is its own index into the slots and pool_name_of() is a
 * subtraction. Names find their slot through an open-addressing table of
 * slot numbers (linear probing with backward-shift deletion, so recycling
 * leaves no tombstones behind). The LRU order is a doubly linked list
 * threaded through the slots by index.
 *
 * Beyond the header: pool_get() returns -1 (cast to enum pool_result) when
 * it cannot allocate the copy of a new name, and pool_restore() returns
 * -ENOMEM then. A one-address pool keeps no mappings: pool_get() always
 * answers POOL_EXISTING, pool_used() is 0 and pool_name_of() is NULL, since
 * an address shared by every name attributes nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "pool.h"
#include "../common/siphash.h"

#define NIL UINT32_MAX
/* What the names may hold, per mapping on average (a name a client makes up, of
 * bytes that take four characters each as text, can be a thousand long), and at
 * least in all. */
#define POOL_NAME_BYTES 64
#define POOL_NAME_BYTES_MIN 4096
#define POOL_MAX_SLOTS (1u << 30)

struct pool_slot {
	char *name; /* Malloced; NULL while the address is free. */
	int64_t last_use;
	uint32_t hash;
	uint32_t prev, next; /* LRU neighbours (NIL at the ends); head is the most recent */
};

struct pool {
	struct prefix pfx; /* host bits cleared */
	uint64_t first;    /* position in the prefix of the first usable address */
	uint32_t cap;      /* usable addresses, one slot each */
	uint32_t used;
	uint32_t cursor; /* every slot below it is taken (one let go moves it back) */
	int single;
	struct pool_slot *slots;
	uint32_t *index;                   /* slot + 1, by name hash; 0 = empty */
	size_t name_bytes, max_name_bytes; /* held by the names; the most they may */
	uint64_t freed;                    /* mappings let go to stay within max_name_bytes */
	struct sipkey key;                 /* the names are the clients' choice: a keyed hash */
	uint32_t imask;
	uint32_t head, tail;
	int lru_dirty; /* restored mappings not yet sorted by last use */
};

static uint32_t name_hash(const struct pool *p, const char *s)
{
	return (uint32_t)siphash13(&p->key, s, strlen(s));
}

static void pool_addr(const struct pool *p, uint32_t slot, uint8_t addr[16])
{
	prefix_nth(&p->pfx, p->first + slot, addr);
}

/* The slot of addr, or -1 when it is not one of the pool's addresses. */
static int64_t pool_slot_of(const struct pool *p, const uint8_t *addr)
{
	int64_t i = prefix_index(&p->pfx, addr);

	if (i < 0 || (uint64_t)i < p->first || (uint64_t)i - p->first >= p->cap)
		return -1;
	return i - (int64_t)p->first;
}

struct pool *pool_new(const struct prefix *pfx, uint32_t max_entries)
{
	struct pool *p;
	uint64_t usable;
	int maxbits, hostbits, i;
	size_t isize;

	if (!pfx || max_entries == 0)
		return NULL;
	if (pfx->family == AF_INET)
		maxbits = 32;
	else if (pfx->family == AF_INET6)
		maxbits = 128;
	else
		return NULL;
	if (pfx->bits < 0 || pfx->bits > maxbits)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	sipkey_init(&p->key, 0, p);
	/* The helpers of addr.h expect the host bits clear. */
	p->pfx = *pfx;
	for (i = 0; i < 16; i++) {
		int b = pfx->bits - 8 * i;

		if (i >= maxbits / 8 || b <= 0)
			p->pfx.addr[i] = 0;
		else if (b < 8)
			p->pfx.addr[i] &= (uint8_t)(0xff00 >> b);
	}
	hostbits = maxbits - pfx->bits;
	p->head = p->tail = NIL;
	if (hostbits == 0) {
		p->single = 1;
		p->cap = 1;
		return p;
	}
	usable = prefix_size(&p->pfx, (uint64_t)max_entries + 2);
	if (pfx->family == AF_INET && hostbits >= 2) {
		/* Network and broadcast addresses; a /31 has neither (RFC 3021). */
		p->first = 1;
		usable -= 2;
	} else if (pfx->family == AF_INET6 && hostbits >= 2) {
		/* prefix::0 is the subnet-router anycast address (RFC 4291). */
		p->first = 1;
		usable -= 1;
	}
	p->cap = usable < max_entries ? (uint32_t)usable : max_entries;
	if (p->cap > POOL_MAX_SLOTS)
		goto fail;
	for (isize = 8; isize < (size_t)p->cap * 2; isize *= 2)
		;
	p->imask = (uint32_t)(isize - 1);
	p->max_name_bytes = (size_t)p->cap * POOL_NAME_BYTES;
	if (p->max_name_bytes < POOL_NAME_BYTES_MIN)
		p->max_name_bytes = POOL_NAME_BYTES_MIN;
	p->slots = calloc(p->cap, sizeof(*p->slots));
	p->index = calloc(isize, sizeof(*p->index));
	if (!p->slots || !p->index)
		goto fail;
	return p;
fail:
	pool_free(&p);
	return NULL;
}

void pool_free(struct pool **pp)
{
	struct pool *p;
	uint32_t i;

	if (!pp || !*pp)
		return;
	p = *pp;
	if (p->slots)
		for (i = 0; i < p->cap; i++)
			free(p->slots[i].name);
	free(p->slots);
	free(p->index);
	free(p);
	*pp = NULL;
}

/* Position in the index of name, or of the empty entry where it would go. */
static uint32_t index_pos(const struct pool *p, const char *name, uint32_t h, int *found)
{
	uint32_t i = h & p->imask;

	for (;; i = (i + 1) & p->imask) {
		uint32_t v = p->index[i];

		if (!v) {
			*found = 0;
			return i;
		}
		if (p->slots[v - 1].hash == h && strcmp(p->slots[v - 1].name, name) == 0) {
			*found = 1;
			return i;
		}
	}
}

/* Drop slot from the index, shifting later entries of its run back. */
static void index_remove(struct pool *p, uint32_t slot)
{
	uint32_t i = p->slots[slot].hash & p->imask, j;

	while (p->index[i] != slot + 1)
		i = (i + 1) & p->imask;
	for (j = i;;) {
		uint32_t home;

		j = (j + 1) & p->imask;
		if (!p->index[j])
			break;
		home = p->slots[p->index[j] - 1].hash & p->imask;
		/* Move j back to i unless its home lies cyclically in (i, j]. */
		if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
			p->index[i] = p->index[j];
			i = j;
		}
	}
	p->index[i] = 0;
}

static void lru_unlink(struct pool *p, uint32_t i)
{
	struct pool_slot *s = &p->slots[i];

	if (s->prev != NIL)
		p->slots[s->prev].next = s->next;
	else
		p->head = s->next;
	if (s->next != NIL)
		p->slots[s->next].prev = s->prev;
	else
		p->tail = s->prev;
	s->prev = s->next = NIL;
}

static void lru_push_head(struct pool *p, uint32_t i)
{
	struct pool_slot *s = &p->slots[i];

	s->prev = NIL;
	s->next = p->head;
	if (p->head != NIL)
		p->slots[p->head].prev = i;
	else
		p->tail = i;
	p->head = i;
}

static const struct pool *sort_pool; /* qsort has no user pointer in C11 */

static int lru_cmp(const void *a, const void *b)
{
	const struct pool_slot *x = &sort_pool->slots[*(const uint32_t *)a];
	const struct pool_slot *y = &sort_pool->slots[*(const uint32_t *)b];
	uint32_t ia = *(const uint32_t *)a, ib = *(const uint32_t *)b;

	/* Most recent first; equal times by address, for a stable order. */
	if (x->last_use != y->last_use)
		return x->last_use > y->last_use ? -1 : 1;
	return ia < ib ? -1 : ia > ib;
}

/*
 * Restored mappings arrive in any order; sort them once by last use before
 * the first pool_get() rather than insert each in place (O(n^2)).
 */
static void lru_rebuild(struct pool *p)
{
	uint32_t *v, n = 0, i;

	p->lru_dirty = 0;
	v = malloc((size_t)p->used * sizeof(*v));
	if (!v)
		return; /* keep restore order: only the recycling order suffers */
	for (i = 0; i < p->cap; i++)
		if (p->slots[i].name)
			v[n++] = i;
	sort_pool = p;
	qsort(v, n, sizeof(*v), lru_cmp);
	sort_pool = NULL;
	p->head = p->tail = NIL;
	for (i = n; i-- > 0;)
		lru_push_head(p, v[i]);
	free(v);
}

enum pool_result pool_get(struct pool *p, const char *name, int64_t now, uint8_t addr[16],
                          char *evicted, size_t evlen)
{
	enum pool_result r = POOL_NEW;
	struct pool_slot *s;
	uint32_t h, pos, slot;
	int found;
	char *copy;

	if (evicted && evlen)
		evicted[0] = '\0';
	if (p->single) {
		pool_addr(p, 0, addr);
		return POOL_EXISTING;
	}
	if (p->lru_dirty)
		lru_rebuild(p);
	h = name_hash(p, name);
	pos = index_pos(p, name, h, &found);
	if (found) {
		slot = p->index[pos] - 1;
		p->slots[slot].last_use = now;
		if (p->head != slot) {
			lru_unlink(p, slot);
			lru_push_head(p, slot);
		}
		pool_addr(p, slot, addr);
		return POOL_EXISTING;
	}
	copy = strdup(name);
	if (!copy)
		return (enum pool_result) - 1;
	while (p->cursor < p->cap && p->slots[p->cursor].name)
		p->cursor++;
	if (p->cursor < p->cap) {
		slot = p->cursor++;
		p->used++;
	} else {
		slot = p->tail;
		s = &p->slots[slot];
		if (evicted && evlen) {
			strncpy(evicted, s->name, evlen - 1);
			evicted[evlen - 1] = '\0';
		}
		index_remove(p, slot);
		lru_unlink(p, slot);
		p->name_bytes -= strlen(s->name) + 1;
		free(s->name);
		r = POOL_RECYCLED;
		/* The removal may have moved entries: find the free place again. */
		pos = index_pos(p, name, h, &found);
	}
	s = &p->slots[slot];
	s->name = copy;
	s->hash = h;
	s->last_use = now;
	p->index[pos] = slot + 1;
	p->name_bytes += strlen(copy) + 1;
	lru_push_head(p, slot);
	pool_addr(p, slot, addr);
	/* Past what the names may hold: the least recently used let go (their
	 * addresses free again), never the one just made. */
	while (p->name_bytes > p->max_name_bytes && p->tail != NIL && p->tail != slot) {
		uint32_t old = p->tail;
		struct pool_slot *o = &p->slots[old];
		index_remove(p, old);
		lru_unlink(p, old);
		p->name_bytes -= strlen(o->name) + 1;
		free(o->name);
		o->name = NULL;
		p->used--;
		if (old < p->cursor)
			p->cursor = old;
		p->freed++;
	}
	return r;
}

int pool_restore(struct pool *p, const char *name, const uint8_t addr[16], int64_t last_use)
{
	struct pool_slot *s;
	int64_t slot;
	uint32_t h, pos;
	int found;

	if (p->single)
		return -1;
	slot = pool_slot_of(p, addr);
	if (slot < 0 || p->slots[slot].name)
		return -1;
	h = name_hash(p, name);
	pos = index_pos(p, name, h, &found);
	if (found)
		return -1;
	size_t len = strlen(name) + 1;
	if (p->name_bytes + len > p->max_name_bytes)
		return -ENOSPC;
	s = &p->slots[slot];
	s->name = strdup(name);
	if (!s->name)
		return -ENOMEM;
	p->name_bytes += len;
	s->hash = h;
	s->last_use = last_use;
	p->index[pos] = (uint32_t)slot + 1;
	lru_push_head(p, (uint32_t)slot);
	p->used++;
	p->lru_dirty = 1;
	return 0;
}

const char *pool_name_of(const struct pool *p, const uint8_t addr[16])
{
	int64_t slot;

	if (p->single)
		return NULL;
	slot = pool_slot_of(p, addr);
	return slot < 0 ? NULL : p->slots[slot].name;
}

uint64_t pool_freed(const struct pool *p)
{
	return p->freed;
}

size_t pool_name_bytes(const struct pool *p)
{
	return p->name_bytes;
}

uint32_t pool_used(const struct pool *p)
{
	return p->used;
}

uint32_t pool_capacity(const struct pool *p)
{
	return p->cap;
}

int pool_single(const struct pool *p)
{
	return p->single;
}

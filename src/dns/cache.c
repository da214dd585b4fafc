#include "cache.h"

#include <stdlib.h>
#include <string.h>

#include "../common/siphash.h"
#include "../common/util.h"

struct centry {
	struct centry *hnext;       /* hash chain */
	struct centry *prev, *next; /* LRU list, most recent first */
	uint64_t hash;
	int64_t stored, expires; /* ms */
	uint16_t keylen;
	uint16_t len;
	uint8_t data[]; /* key, then the message */
};

struct dns_cache {
	struct centry **table;
	uint32_t mask;
	uint32_t n, max;
	size_t bytes, max_bytes;
	uint32_t max_ttl;
	struct centry *head, *tail;
	struct sipkey key; /* the names are the clients' choice: a keyed hash */
};

struct dns_cache *dns_cache_new(uint32_t max_entries, size_t max_bytes, uint32_t max_ttl)
{
	struct dns_cache *c = xcalloc(1, sizeof(*c));
	sipkey_init(&c->key, 0, c);
	uint32_t size = 1024;
	while (size < max_entries && size < (1u << 24))
		size <<= 1;
	c->table = xcalloc(size, sizeof(*c->table));
	c->mask = size - 1;
	c->max = max_entries;
	c->max_bytes = max_bytes;
	c->max_ttl = max_ttl;
	return c;
}

void dns_cache_free(struct dns_cache **cp)
{
	struct dns_cache *c = *cp;
	if (c == NULL)
		return;
	for (struct centry *e = c->head, *nx; e; e = nx) {
		nx = e->next;
		free(e);
	}
	free(c->table);
	free(c);
	*cp = NULL;
}

/* key: lowercased wire name + type + class + flag byte. */
static size_t make_key(const struct dns_query *q, uint8_t *key)
{
	size_t nl = q->qraw_len - 4;
	for (size_t i = 0; i < nl; i++) {
		uint8_t ch = q->qraw[i];
		key[i] = (ch >= 'A' && ch <= 'Z') ? (uint8_t)(ch + 32) : ch;
	}
	memcpy(key + nl, q->qraw + nl, 4);
	key[nl + 4] = (uint8_t)((q->edns_do ? 1 : 0) | ((q->flags & DNS_F_CD) ? 2 : 0));
	return nl + 5;
}

static void lru_unlink(struct dns_cache *c, struct centry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push(struct dns_cache *c, struct centry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (c->tail == NULL)
		c->tail = e;
}

static void remove_entry(struct dns_cache *c, struct centry *e)
{
	struct centry **pp = &c->table[e->hash & c->mask];
	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	lru_unlink(c, e);
	c->n--;
	c->bytes -= sizeof(*e) + e->keylen + e->len;
	free(e);
}

static struct centry *find(struct dns_cache *c, const uint8_t *key, size_t kl, uint64_t h)
{
	for (struct centry *e = c->table[h & c->mask]; e; e = e->hnext)
		if (e->hash == h && e->keylen == kl && !memcmp(e->data, key, kl))
			return e;
	return NULL;
}

void dns_cache_put(struct dns_cache *c, const struct dns_query *q, const uint8_t *msg,
                   size_t len, const struct dns_msg *m, int64_t now)
{
	int rcode = m->rcode;
	if (c->max == 0 || (m->flags & DNS_F_TC) ||
	    (rcode != DNS_R_NOERROR && rcode != DNS_R_NXDOMAIN))
		return;
	if (m->min_ttl == UINT32_MAX || m->min_ttl == 0 || len > UINT16_MAX)
		return;
	uint32_t ttl = m->min_ttl < c->max_ttl ? m->min_ttl : c->max_ttl;
	uint8_t key[DNS_NAME_WIRE_MAX + 8];
	size_t kl = make_key(q, key);
	uint64_t h = siphash13(&c->key, key, kl);
	struct centry *old = find(c, key, kl, h);
	if (old)
		remove_entry(c, old);
	while (c->head && (c->n >= c->max || c->bytes + len + kl > c->max_bytes))
		remove_entry(c, c->tail);
	struct centry *e = xmalloc(sizeof(*e) + kl + len);
	e->hash = h;
	e->stored = now;
	e->expires = now + (int64_t)ttl * 1000;
	e->keylen = (uint16_t)kl;
	e->len = (uint16_t)len;
	memcpy(e->data, key, kl);
	memcpy(e->data + kl, msg, len);
	e->hnext = c->table[h & c->mask];
	c->table[h & c->mask] = e;
	lru_push(c, e);
	c->n++;
	c->bytes += sizeof(*e) + kl + len;
}

size_t dns_cache_get(struct dns_cache *c, const struct dns_query *q, int64_t now, uint8_t *out,
                     size_t cap, struct dns_msg *m)
{
	uint8_t key[DNS_NAME_WIRE_MAX + 8];
	if (c->n == 0)
		return 0;
	size_t kl = make_key(q, key);
	uint64_t h = siphash13(&c->key, key, kl);
	struct centry *e = find(c, key, kl, h);
	if (e == NULL)
		return 0;
	if (now >= e->expires || e->len > cap) {
		remove_entry(c, e);
		return 0;
	}
	lru_unlink(c, e);
	lru_push(c, e);
	memcpy(out, e->data + e->keylen, e->len);
	dns_msg_age(out, e->len, (uint32_t)((now - e->stored) / 1000));
	if (dns_msg_walk(out, e->len, m) < 0)
		return 0;
	return e->len;
}

uint32_t dns_cache_entries(const struct dns_cache *c)
{
	return c->n;
}

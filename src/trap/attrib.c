#include "attrib.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../common/util.h"

struct slot {
	uint8_t key[17]; /* family byte + address */
	char *name;      /* Malloced; NULL = empty */
	uint32_t order;  /* insertion order, for forgetting the oldest */
};

struct attrib {
	struct slot *t;
	uint32_t mask, n, max, seq;
};

struct attrib *attrib_new(uint32_t max)
{
	struct attrib *a = xcalloc(1, sizeof(*a));
	uint32_t size = 64;
	while (size < max * 2 && size < (1u << 30))
		size <<= 1;
	a->t = xcalloc(size, sizeof(*a->t));
	a->mask = size - 1;
	a->max = max ? max : 1;
	return a;
}

void attrib_free(struct attrib **ap)
{
	struct attrib *a = *ap;
	if (a == NULL)
		return;
	for (uint32_t i = 0; i <= a->mask; i++)
		free(a->t[i].name);
	free(a->t);
	free(a);
	*ap = NULL;
}

static void mkkey(uint8_t key[17], int family, const uint8_t addr[16])
{
	memset(key, 0, 17);
	key[0] = (uint8_t)family;
	memcpy(key + 1, addr, family == AF_INET ? 4 : 16);
}

static uint32_t hash(const uint8_t key[17])
{
	uint32_t h = 2166136261u;
	for (int i = 0; i < 17; i++)
		h = (h ^ key[i]) * 16777619u;
	return h ^ (h >> 15);
}

/* Linear probing with backward-shift deletion: no tombstones. */
static void delete_at(struct attrib *a, uint32_t i)
{
	free(a->t[i].name);
	a->t[i].name = NULL;
	a->n--;
	uint32_t j = i;
	for (;;) {
		j = (j + 1) & a->mask;
		if (a->t[j].name == NULL)
			return;
		uint32_t home = hash(a->t[j].key) & a->mask;
		/* Can entry j move into the hole at i? Only if its home is not in (i, j]. */
		if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
			a->t[i] = a->t[j];
			a->t[j].name = NULL;
			i = j;
		}
	}
}

void attrib_set(struct attrib *a, int family, const uint8_t addr[16], const char *name)
{
	uint8_t key[17];
	mkkey(key, family, addr);
	uint32_t i = hash(key) & a->mask;
	while (a->t[i].name && memcmp(a->t[i].key, key, 17) != 0)
		i = (i + 1) & a->mask;
	if (a->t[i].name) {
		free(a->t[i].name);
		a->t[i].name = xstrdup(name);
		a->t[i].order = a->seq++;
		return;
	}
	if (a->n >= a->max) {
		/* Full: forget the oldest mapping (rare: the DNS pool recycles first). */
		uint32_t oldest = 0, best = UINT32_MAX;
		for (uint32_t k = 0; k <= a->mask; k++)
			if (a->t[k].name && a->t[k].order < best)
				best = a->t[k].order, oldest = k;
		delete_at(a, oldest);
		attrib_set(a, family, addr, name);
		return;
	}
	memcpy(a->t[i].key, key, 17);
	a->t[i].name = xstrdup(name);
	a->t[i].order = a->seq++;
	a->n++;
}

const char *attrib_get(const struct attrib *a, int family, const uint8_t addr[16])
{
	uint8_t key[17];
	mkkey(key, family, addr);
	uint32_t i = hash(key) & a->mask;
	while (a->t[i].name) {
		if (memcmp(a->t[i].key, key, 17) == 0)
			return a->t[i].name;
		i = (i + 1) & a->mask;
	}
	return NULL;
}

uint32_t attrib_count(const struct attrib *a)
{
	return a->n;
}

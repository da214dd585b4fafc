#include "attrib.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../common/util.h"

#define NIL UINT32_MAX

/*
 * Open addressing (linear probing), every live slot also on a list in the
 * order its mapping was last set: the oldest, forgotten when the map is full,
 * is the list's head, found in constant time (a full map is the steady state
 * of a large sinkhole pool: every new mapping forgets one).
 */
struct slot {
	uint8_t key[17];     /* family byte + address */
	char *name;          /* Malloced; NULL = empty */
	uint32_t prev, next; /* slot indexes on the list, NIL at its ends */
};

struct attrib {
	struct slot *t;
	uint32_t mask, n, max;
	uint32_t head, tail; /* the oldest and the newest, NIL when empty */
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
	if (a->max > size / 2)
		a->max = size / 2;
	a->head = a->tail = NIL;
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

static void list_unlink(struct attrib *a, uint32_t i)
{
	struct slot *s = &a->t[i];
	if (s->prev != NIL)
		a->t[s->prev].next = s->next;
	else
		a->head = s->next;
	if (s->next != NIL)
		a->t[s->next].prev = s->prev;
	else
		a->tail = s->prev;
	s->prev = s->next = NIL;
}

static void list_append(struct attrib *a, uint32_t i)
{
	struct slot *s = &a->t[i];
	s->prev = a->tail;
	s->next = NIL;
	if (a->tail != NIL)
		a->t[a->tail].next = i;
	else
		a->head = i;
	a->tail = i;
}

/* The entry at j moves to the empty slot i: its neighbours on the list follow. */
static void move_slot(struct attrib *a, uint32_t j, uint32_t i)
{
	a->t[i] = a->t[j];
	a->t[j].name = NULL;
	struct slot *s = &a->t[i];
	if (s->prev != NIL)
		a->t[s->prev].next = i;
	else
		a->head = i;
	if (s->next != NIL)
		a->t[s->next].prev = i;
	else
		a->tail = i;
}

/* Linear probing with backward-shift deletion: no tombstones. */
static void delete_at(struct attrib *a, uint32_t i)
{
	list_unlink(a, i);
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
			move_slot(a, j, i);
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
		list_unlink(a, i);
		list_append(a, i);
		return;
	}
	if (a->n >= a->max) {
		/* Full: forget the oldest mapping; the slot found may have moved. */
		delete_at(a, a->head);
		attrib_set(a, family, addr, name);
		return;
	}
	memcpy(a->t[i].key, key, 17);
	a->t[i].name = xstrdup(name);
	list_append(a, i);
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

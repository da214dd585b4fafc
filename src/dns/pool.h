/*
 * Sinkhole address pool: gives each sinkholed domain its own stable address
 * from a prefix (an IPv4 range such as 127.66.0.0/16, or an IPv6 /64), so a
 * later connection to that address can be attributed to the domain. When the
 * pool is exhausted the least recently used mapping is recycled.
 *
 * The pool is an in-memory index; durability is the store's job (every new
 * mapping is an event, and the store hands existing mappings back at start
 * through pool_restore()).
 */
#ifndef SINKTRAP_DNS_POOL_H
#define SINKTRAP_DNS_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "../common/addr.h"

struct pool;

enum pool_result {
	POOL_EXISTING = 0, /* name already had an address */
	POOL_NEW = 1,      /* a free address was assigned */
	POOL_RECYCLED = 2, /* the least recently used mapping was taken over */
};

/*
 * A pool over prefix pfx, holding at most max_entries mappings (a /64 has far
 * more addresses than memory; max_entries caps it, and the address space used
 * is then the first max_entries addresses). A one-address prefix (/32, /128)
 * is a pool of one: every name gets that address and nothing is recycled.
 * The network and broadcast addresses of IPv4 prefixes shorter than /31, and
 * the subnet-router anycast address (prefix::0) of IPv6 prefixes shorter than
 * /127, are not handed out. The names held take at most 64 bytes per mapping
 * on average (4 KiB at least): past that, the least recently used mappings
 * are let go, their addresses free again (pool_freed counts them), so names
 * a client makes as long as a name can be cannot take more memory than that.
 */
struct pool *pool_new(const struct prefix *pfx, uint32_t max_entries);
void pool_free(struct pool **p);

/*
 * The address for name (lowercase, no trailing dot) into addr[16] (v4 in the
 * first 4 bytes). now is the time of use (any monotonic unit; stored as the
 * mapping's last use). On POOL_RECYCLED, the name that lost the address is
 * copied into evicted (evlen bytes, NUL-terminated, truncated if needed).
 * O(1) average.
 */
enum pool_result pool_get(struct pool *p, const char *name, int64_t now, uint8_t addr[16],
                          char *evicted, size_t evlen);
/*
 * Restore a mapping from the store at start. Ignored (returns -1) when addr
 * is outside the prefix or already taken, or the name is already mapped;
 * -ENOSPC when the names held would take more than they may.
 */
int pool_restore(struct pool *p, const char *name, const uint8_t addr[16], int64_t last_use);
/* The name mapped to addr, or NULL. Borrowed until the next pool_get. */
const char *pool_name_of(const struct pool *p, const uint8_t addr[16]);
uint32_t pool_used(const struct pool *p);
uint64_t pool_freed(const struct pool *p);    /* let go for the names' memory */
size_t pool_name_bytes(const struct pool *p); /* held by the names */
uint32_t pool_capacity(const struct pool *p);
int pool_single(const struct pool *p); /* a one-address pool */

#endif

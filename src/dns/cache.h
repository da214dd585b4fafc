/*
 * Response cache for forwarded queries: key = (lowercased qname, qtype,
 * qclass, DO, CD), value = the upstream response as received. TTLs are
 * honoured: an entry lives min(answer TTLs) (or the SOA negative TTL) capped
 * at max_ttl, and is aged on the way out. Bounded by entry count and bytes;
 * the least recently used entry goes first.
 */
#ifndef SINKTRAP_DNS_CACHE_H
#define SINKTRAP_DNS_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct dns_cache;

struct dns_cache *dns_cache_new(uint32_t max_entries, size_t max_bytes, uint32_t max_ttl);
void dns_cache_free(struct dns_cache **c);
/*
 * Store the walked upstream response msg (len bytes) for key q at time now
 * (ms, monotonic). Not cached: truncated, SERVFAIL/REFUSED, or no usable TTL.
 */
void dns_cache_put(struct dns_cache *c, const struct dns_query *q, const uint8_t *msg,
                   size_t len, const struct dns_msg *m, int64_t now);
/*
 * Look up q; on a hit copy the response into out (cap bytes) with its TTLs
 * aged, walk it into m and return its length. 0 on a miss.
 */
size_t dns_cache_get(struct dns_cache *c, const struct dns_query *q, int64_t now, uint8_t *out,
                     size_t cap, struct dns_msg *m);
uint32_t dns_cache_entries(const struct dns_cache *c);

#endif

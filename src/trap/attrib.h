/*
 * Attribution: the sinkhole map as the trap sees it, from a sinkhole address
 * to the domain it was handed out for. Filled from the store at start and
 * kept current by the mappings the store forwards as they happen.
 */
#ifndef SINKTRAP_TRAP_ATTRIB_H
#define SINKTRAP_TRAP_ATTRIB_H

#include <stdint.h>

struct attrib;

/* At most max mappings (more: the oldest inserted is forgotten). */
struct attrib *attrib_new(uint32_t max);
void attrib_free(struct attrib **a);
/* Map addr (family AF_INET: first 4 bytes) to name, replacing an older mapping. */
void attrib_set(struct attrib *a, int family, const uint8_t addr[16], const char *name);
/* The domain for addr, or NULL. Borrowed until the next attrib_set. */
const char *attrib_get(const struct attrib *a, int family, const uint8_t addr[16]);
uint32_t attrib_count(const struct attrib *a);

#endif

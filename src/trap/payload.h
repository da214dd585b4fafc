/*
 * The payload store: every payload (request body, upload, mail, the first
 * bytes of anything unknown) is kept once, content-addressed by its sha256
 * under DIR/ab/abcdef..., written to a temporary name and renamed, so a file
 * under its final name is always complete. A quota bounds the whole store:
 * the oldest payloads are evicted first.
 */
#ifndef SINKTRAP_TRAP_PAYLOAD_H
#define SINKTRAP_TRAP_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

struct payload_store;

struct payload_result {
	char sha256[65];  /* hex */
	int existed;      /* already stored: nothing written */
	int stored;       /* on disk now (0: the write failed, e.g. disk full) */
	uint32_t evicted; /* older payloads removed to stay under the quota */
	int64_t evicted_bytes;
};

/* Open (creating) dir; scans what is there for the quota. NULL with err on failure. */
struct payload_store *payload_store_open(const char *dir, int64_t quota, char *err,
                                         size_t errlen);
/* At most n payloads (0: no limit), the oldest evicted first as for the
 * quota: a file takes at least a block on disk whatever its size, so tiny
 * payloads count too. */
void payload_store_set_max_files(struct payload_store *ps, uint32_t n);
void payload_store_close(struct payload_store **ps);
/* Hash and keep data. Returns 0 (see r->stored), or -errno for hashing failures. */
int payload_store_put(struct payload_store *ps, const uint8_t *data, size_t len,
                      struct payload_result *r);
/* sha256 of data as hex. */
void payload_sha256(const uint8_t *data, size_t len, char out[65]);
int64_t payload_store_bytes(const struct payload_store *ps);
uint32_t payload_store_count(const struct payload_store *ps);

#endif

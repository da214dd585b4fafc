/* Shared by the capture worker and the capture commands; not a public API. */
#ifndef SINKTRAP_CAPTURE_CAPTURE_INT_H
#define SINKTRAP_CAPTURE_CAPTURE_INT_H

#include <stdint.h>

#include "capture/recorder.h"

struct config;

/*
 * The flow ids of a run writing into spool (fc's id fields): unique in the
 * spool and below 2^53 (JSON readers) until the year 2248. They are taken in
 * blocks of CAPTURE_ID_BLOCK from the spool's one counter (spool_take_ids),
 * so runs at the same time (the worker, two ingests) never share one, each
 * block starting no earlier than the time in milliseconds shifted left by
 * 10. A spool where the ids cannot be recorded falls back to the time alone,
 * with a warning; an ingest then sets CAPTURE_ID_INGEST_BIT, so that its ids
 * are not the worker's.
 */
#define CAPTURE_ID_INGEST_BIT (1ull << 51)
#define CAPTURE_ID_BLOCK (1ull << 24)
void capture_flow_ids(struct flow_config *fc, const char *spool, uid_t owner, gid_t group,
                      int ingest);

/* The flow table settings of [capture] (timeouts, capacity, Community ID seed). */
void capture_flow_config(const struct config *c, struct flow_config *fc);

/* The recorder settings of [capture], writing into spool (borrowed). */
void capture_recorder_config(const struct config *c, const char *spool,
                             struct recorder_config *rc);

#endif

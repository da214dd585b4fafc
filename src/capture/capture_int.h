/* Shared by the capture worker and the capture commands; not a public API. */
#ifndef SINKTRAP_CAPTURE_CAPTURE_INT_H
#define SINKTRAP_CAPTURE_CAPTURE_INT_H

#include <stdint.h>

#include "capture/recorder.h"

struct config;

/*
 * Flow ids unique across restarts and below 2^53 (JSON readers): the start
 * time in milliseconds shifted left by 10, so a run started a second later
 * begins 2^20 ids further on, more than a run makes in a second short of a
 * million new flows a second. Ingests set bit 51: never the worker's ids.
 */
uint64_t capture_id_base(int ingest);

/* The recorder settings of [capture], writing into spool (borrowed). */
void capture_recorder_config(const struct config *c, const char *spool,
                             struct recorder_config *rc);

#endif

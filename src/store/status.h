/*
 * The store's status file, state_dir/status.json: per sink delivered,
 * queued and dropped counts, connection state and last error, and the last
 * stats of each worker. The store replaces it atomically every second;
 * `sinktrap status -c FILE` prints it as a table (or as it is, --json).
 */
#ifndef SINKTRAP_STORE_STATUS_H
#define SINKTRAP_STORE_STATUS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define STATUS_FILE "status.json"

/* Replace state_dir/status.json with json (write a temporary file, rename). 0 or -errno. */
int status_write(const char *state_dir, const char *json, size_t len);
/*
 * Print a status document as a table; now_usec dates it. Returns 0, 1 when
 * the store has not updated it for a while, or -1 when it does not parse.
 */
int status_print(const char *json, size_t len, int64_t now_usec, FILE *out);
/* The `status` command: argv is "status [-c FILE] [--json]". Exit status. */
int status_main(int argc, char **argv);

#endif

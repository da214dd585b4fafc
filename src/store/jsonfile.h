/*
 * The JSON lines file (EVE style): one event per line, written in batches by
 * the store thread, rotated by size (events.json -> events.json.1 -> ... ->
 * events.json.KEEP, the oldest deleted) and reopened on SIGHUP so logrotate's
 * move-and-signal works too.
 */
#ifndef SINKTRAP_STORE_JSONFILE_H
#define SINKTRAP_STORE_JSONFILE_H

#include <stddef.h>
#include <stdint.h>

struct jsonfile;

/* max_size 0: never rotate. The file is opened at the first flush. */
struct jsonfile *jsonfile_new(const char *path, int64_t max_size, int keep);
/* Buffer one line (a newline is added). */
void jsonfile_put(struct jsonfile *j, const char *line, size_t len);
size_t jsonfile_pending(const struct jsonfile *j);
/* Lines taken and not yet written (a full disk keeps them for the next flush). */
uint64_t jsonfile_pending_lines(const struct jsonfile *j);
/*
 * Write what is buffered, rotating first when it would pass max_size. A
 * rotation that fails lets the lines go past max_size; it is tried again at a
 * flush some seconds later. 0 or -errno (kept).
 */
int jsonfile_flush(struct jsonfile *j);
/* After SIGHUP: write what is buffered to the old file, then open the path anew. */
void jsonfile_reopen(struct jsonfile *j);
/* Flush, fsync and close. */
void jsonfile_free(struct jsonfile **j);
const char *jsonfile_path(const struct jsonfile *j);
/* Why the file is past max_size (its rotation fails), or NULL; *size: its size now. */
const char *jsonfile_rotate_error(const struct jsonfile *j, int64_t *size);
void jsonfile_counts(const struct jsonfile *j, uint64_t *lines, uint64_t *errors,
                     uint64_t *rotations, uint64_t *dropped);

#endif

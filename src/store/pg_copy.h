/*
 * The text of PostgreSQL's COPY ... FROM STDIN (text format) for the
 * PostgreSQL sink's staging tables: each value escaped, each column of a
 * number only ever a number in its SQL type's range, anything else NULL, so
 * that no record a worker sends makes the database refuse the batch that
 * holds it (a refused batch is sent again, and stops delivery behind it).
 */
#ifndef SINKTRAP_STORE_PG_COPY_H
#define SINKTRAP_STORE_PG_COPY_H

#include <stddef.h>
#include <stdint.h>

#include "render.h"
#include "rows.h"

/* A text value: valid UTF-8 as is; NUL and bytes that are not UTF-8 (the database
 * refuses both) as U+FFFD; backslash, tab, CR and LF escaped. */
void pg_copy_text(struct strbuf *o, const uint8_t *p, size_t n);
/* The separator before a column. */
void pg_copy_sep(struct strbuf *o);
/* A TEXT column: f's string, or NULL when f is absent or not a string. */
void pg_copy_str(struct strbuf *o, const struct ev_field *f);
/* A number column: f's value when it is a number within [min, max], else NULL. */
void pg_copy_int(struct strbuf *o, const struct ev_field *f, int64_t min, int64_t max);
/* One line of sessions_stage: seq, the columns of rows.h (typed as the table's),
 * then vlan, pcap_files, expired. */
void pg_copy_session(struct strbuf *o, uint32_t seq, const struct session_row *r);

#endif

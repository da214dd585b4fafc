/*
 * The rows an event makes in the tables beside `events`: a "flow" event is
 * a row of `sessions`, a "fileinfo" event one sighting of a row of
 * `payloads`, a "pcap_expired" event marks sessions expired. Found in one
 * pass over the record, for both databases (db_sqlite.c, sink_pg.c), so the
 * two fill their tables the same way. Pure; strings are borrowed from the
 * record, which must have passed ev_record_check().
 */
#ifndef SINKTRAP_STORE_ROWS_H
#define SINKTRAP_STORE_ROWS_H

#include <stddef.h>
#include <stdint.h>

#include "../common/event.h"

/* The columns of `sessions` a flow event fills, in this order. */
enum ses_col {
	SC_EVENT_ID,
	SC_FLOW_ID,
	SC_COMMUNITY_ID,
	SC_SRC_IP,
	SC_SRC_PORT,
	SC_DEST_IP,
	SC_DEST_PORT,
	SC_PROTO,
	SC_START_TS,
	SC_END_TS,
	SC_PKTS_TOSERVER,
	SC_PKTS_TOCLIENT,
	SC_BYTES_TOSERVER,
	SC_BYTES_TOCLIENT,
	SC_PAYLOAD_TOSERVER,
	SC_PAYLOAD_TOCLIENT,
	SC_TCP_FLAGS,
	SC_TCP_FLAGS_TS,
	SC_TCP_FLAGS_TC,
	SC_STATE,
	SC_END_REASON,
	SC_CONN_STATE,
	SC_HISTORY,
	SC_PCAP_FIRST,
	SC_PCAP_LAST,
	SC_MAX
};

/* Column names, in enum order (SQL lists are built from them). */
extern const char *const ses_col_names[SC_MAX];

struct session_row {
	struct ev_field col[SC_MAX]; /* kind 0 when absent */
	char vlan[32];               /* "100" or "100,200" (QinQ); "" = none */
	char pcap_files[130];        /* "first" or "first,last"; "" = unknown */
	int expired;
};

/* 1 when the record is a captured session (flow_id, src_ip and start present). */
int session_row_extract(const uint8_t *rec, size_t len, struct session_row *r);

struct payload_row {
	struct ev_field sha256, size, kind, filename, ts, event_id; /* kind 0 when absent */
};

/* 1 when the record is a fileinfo event with a sha256 and a size. */
int payload_row_extract(const uint8_t *rec, size_t len, struct payload_row *r);

/* The spool file of a "pcap_expired" event (pcap_expired.file), or 0. */
int expired_file_extract(const uint8_t *rec, size_t len, struct ev_field *file);

#endif

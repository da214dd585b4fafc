#include "rows.h"

#include <stdio.h>
#include <string.h>

const char *const ses_col_names[SC_MAX] = {
    "event_id",         "flow_id",       "community_id",   "src_ip",         "src_port",
    "dest_ip",          "dest_port",     "proto",          "start_ts",       "end_ts",
    "pkts_toserver",    "pkts_toclient", "bytes_toserver", "bytes_toclient", "payload_toserver",
    "payload_toclient", "tcp_flags",     "tcp_flags_ts",   "tcp_flags_tc",   "state",
    "end_reason",       "conn_state",    "history",        "pcap_first",     "pcap_last",
};

/* The objects of a "flow" event that hold columns. */
enum { OBJ_TOP, OBJ_FLOW, OBJ_TCP, OBJ_PCAP, OBJ_OTHER };

#define KEY(s) s, sizeof(s) - 1

/* Where each field of a "flow" event goes: object, key, column. */
static const struct {
	int obj;
	const char *key;
	size_t keylen;
	enum ses_col col;
} ses_fields[] = {
    {OBJ_TOP, KEY("event_id"), SC_EVENT_ID},
    {OBJ_TOP, KEY("flow_id"), SC_FLOW_ID},
    {OBJ_TOP, KEY("community_id"), SC_COMMUNITY_ID},
    {OBJ_TOP, KEY("src_ip"), SC_SRC_IP},
    {OBJ_TOP, KEY("src_port"), SC_SRC_PORT},
    {OBJ_TOP, KEY("dest_ip"), SC_DEST_IP},
    {OBJ_TOP, KEY("dest_port"), SC_DEST_PORT},
    {OBJ_TOP, KEY("proto"), SC_PROTO},
    {OBJ_FLOW, KEY("start"), SC_START_TS},
    {OBJ_FLOW, KEY("end"), SC_END_TS},
    {OBJ_FLOW, KEY("pkts_toserver"), SC_PKTS_TOSERVER},
    {OBJ_FLOW, KEY("pkts_toclient"), SC_PKTS_TOCLIENT},
    {OBJ_FLOW, KEY("bytes_toserver"), SC_BYTES_TOSERVER},
    {OBJ_FLOW, KEY("bytes_toclient"), SC_BYTES_TOCLIENT},
    {OBJ_FLOW, KEY("payload_bytes_toserver"), SC_PAYLOAD_TOSERVER},
    {OBJ_FLOW, KEY("payload_bytes_toclient"), SC_PAYLOAD_TOCLIENT},
    {OBJ_TCP, KEY("tcp_flags"), SC_TCP_FLAGS},
    {OBJ_TCP, KEY("tcp_flags_ts"), SC_TCP_FLAGS_TS},
    {OBJ_TCP, KEY("tcp_flags_tc"), SC_TCP_FLAGS_TC},
    {OBJ_FLOW, KEY("state"), SC_STATE},
    {OBJ_FLOW, KEY("reason"), SC_END_REASON},
    {OBJ_FLOW, KEY("conn_state"), SC_CONN_STATE},
    {OBJ_FLOW, KEY("history"), SC_HISTORY},
    {OBJ_PCAP, KEY("file_first"), SC_PCAP_FIRST},
    {OBJ_PCAP, KEY("file_last"), SC_PCAP_LAST},
};

static int key_is(const struct ev_field *f, const char *s)
{
	size_t n = strlen(s);
	return f->keylen == n && !memcmp(f->key, s, n);
}

static int is_type(const uint8_t *rec, size_t len, const char *type)
{
	struct ev_field t;
	size_t n = strlen(type);
	return ev_find(rec, len, "event_type", &t) && t.kind == EV_STR && t.strlen == n &&
	       !memcmp(t.str, type, n);
}

/* One pass over the record: each column taken as its field goes by. */
int session_row_extract(const uint8_t *rec, size_t len, struct session_row *r)
{
	struct ev_reader rd;
	struct ev_field f;
	int obj = OBJ_TOP;
	int in_vlan = 0;

	memset(r, 0, sizeof(*r));
	if (!is_type(rec, len, "flow"))
		return 0;
	ev_reader_init(&rd, rec, len);
	while (ev_reader_next(&rd, &f)) {
		if (f.kind == EV_END) {
			if (f.depth == 0)
				obj = OBJ_TOP;
			in_vlan = 0;
			continue;
		}
		if (f.depth == 0 && f.kind == EV_OBJ) {
			obj = key_is(&f, "flow")   ? OBJ_FLOW
			      : key_is(&f, "tcp")  ? OBJ_TCP
			      : key_is(&f, "pcap") ? OBJ_PCAP
			                           : OBJ_OTHER;
			continue;
		}
		if (f.depth == 0 && f.kind == EV_ARR) {
			in_vlan = key_is(&f, "vlan");
			continue;
		}
		if (in_vlan && f.depth == 1 && f.kind == EV_INT) {
			size_t n = strlen(r->vlan);
			if (n + 8 < sizeof(r->vlan))
				snprintf(r->vlan + n, sizeof(r->vlan) - n, "%s%lld",
				         n ? "," : "", (long long)f.i);
			continue;
		}
		if (f.depth > 1)
			continue;
		int o = f.depth == 0 ? OBJ_TOP : obj;
		if (o == OBJ_OTHER)
			continue;
		if (o == OBJ_PCAP && key_is(&f, "expired")) {
			r->expired = f.i != 0;
			continue;
		}
		for (size_t i = 0; i < sizeof(ses_fields) / sizeof(ses_fields[0]); i++) {
			if (ses_fields[i].obj == o && ses_fields[i].keylen == f.keylen &&
			    !memcmp(ses_fields[i].key, f.key, f.keylen)) {
				r->col[ses_fields[i].col] = f;
				break;
			}
		}
	}
	if (!r->col[SC_FLOW_ID].kind || !r->col[SC_SRC_IP].kind || !r->col[SC_START_TS].kind)
		return 0;
	const struct ev_field *first = &r->col[SC_PCAP_FIRST], *last = &r->col[SC_PCAP_LAST];
	if (first->kind == EV_STR && last->kind == EV_STR && first->strlen < 64 &&
	    last->strlen < 64) {
		if (first->strlen == last->strlen &&
		    !memcmp(first->str, last->str, first->strlen))
			snprintf(r->pcap_files, sizeof(r->pcap_files), "%.*s",
			         (int)first->strlen, first->str);
		else
			snprintf(r->pcap_files, sizeof(r->pcap_files), "%.*s,%.*s",
			         (int)first->strlen, first->str, (int)last->strlen, last->str);
	}
	return 1;
}

int payload_row_extract(const uint8_t *rec, size_t len, struct payload_row *r)
{
	struct ev_reader rd;
	struct ev_field f;
	int in_fi = 0;

	memset(r, 0, sizeof(*r));
	if (!is_type(rec, len, "fileinfo"))
		return 0;
	ev_reader_init(&rd, rec, len);
	while (ev_reader_next(&rd, &f)) {
		if (f.kind == EV_END) {
			if (f.depth == 0)
				in_fi = 0;
			continue;
		}
		if (f.depth == 0) {
			if (f.kind == EV_OBJ)
				in_fi = key_is(&f, "fileinfo");
			else if (key_is(&f, "timestamp"))
				r->ts = f;
			else if (key_is(&f, "event_id"))
				r->event_id = f;
			continue;
		}
		if (!in_fi || f.depth != 1)
			continue;
		if (key_is(&f, "sha256"))
			r->sha256 = f;
		else if (key_is(&f, "size"))
			r->size = f;
		else if (key_is(&f, "kind"))
			r->kind = f;
		else if (key_is(&f, "filename"))
			r->filename = f;
	}
	return r->sha256.kind == EV_STR && r->sha256.strlen == 64 && r->size.kind == EV_INT &&
	       r->ts.kind != 0;
}

int expired_file_extract(const uint8_t *rec, size_t len, struct ev_field *file)
{
	return is_type(rec, len, "pcap_expired") &&
	       ev_find(rec, len, "pcap_expired.file", file) && file->kind == EV_STR &&
	       file->strlen > 0;
}

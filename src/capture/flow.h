/*
 * Flow table: packets -> bidirectional sessions.
 *
 * Both directions of a 5-tuple (plus the VLAN ids) map to one flow. The
 * initiator is the side that sent the first packet, except that a flow first
 * seen through a SYN-ACK is turned round so the SYN's sender (the receiver
 * of the SYN-ACK) is the initiator. Direction 0 is "to server" (from the
 * initiator), 1 "to client".
 *
 * A TCP flow is CLOSED after a FIN each way or a RST; it then lingers for
 * tcp_closed seconds (late ACKs and retransmissions stay in it). A pure SYN
 * whose sequence number differs from the first one seen in its direction
 * ends the flow ("reused") and starts a new one, at once and in any state:
 * the rule Wireshark's tcp.stream applies, so stream counts agree.
 *
 * Time is packet time, never the wall clock, so old captures replay as they
 * happened. The table keeps its own clock that advances by the forward steps
 * between packets and ignores backward ones (after a dip into the past it
 * resumes from the highest time seen before): a packet from 1970 neither
 * expires nor stalls anything, a clock set back keeps expiry going at the
 * right pace, and a single far-future timestamp expires what was idle but
 * does not freeze the clock after it. Idle flows are swept once per second
 * of that clock (and by flow_table_expire); each timeout class is a list in
 * touch order, so a sweep only looks at flows that do expire, O(expired).
 *
 * Capacity is fixed at creation: all entries are allocated then, and nothing
 * is allocated per packet. When the table is full the flow nearest to (or
 * furthest past) its timeout is ended with reason "forced".
 *
 * Later fragments carry no ports: the table remembers the ports of recent
 * first fragments (by addresses, protocol and fragment id) so the rest of
 * the datagram lands in the same flow. A later fragment that comes before
 * its first one is held (flow_frags below) and counted in its datagram's
 * flow when the first fragment comes; one whose first fragment does not
 * come in time goes, at its bound, where it would have gone unheld (a flow
 * without ports).
 *
 * Feeding the capture index: flow_table_track returns the packet's flow;
 * the capture loop passes its id, key and the packet's file offset to
 * index_writer_add (index.h) for the PCAP file being written. A flow
 * spanning several files is indexed in each under the same id, and
 * flow_table_set_file records the first and last file id in the flow. A
 * held fragment (*dir FLOW_DIR_HELD) is written at once and indexed without
 * a flow (index_writer_add_pending), named by flow_table_tag_held; the held
 * callback gives it its flow later (index_writer_assign), and
 * flow_table_release_frags lets go of a file's held fragments before its
 * index is saved.
 */
#ifndef SINKTRAP_CAPTURE_FLOW_H
#define SINKTRAP_CAPTURE_FLOW_H

#include <stddef.h>
#include <stdint.h>

#include "capture/communityid.h"
#include "capture/decode.h"

struct evbuf;

enum flow_state {
	FLOW_STATE_NEW = 0,     /* TCP: handshake not complete; others: no reply yet */
	FLOW_STATE_ESTABLISHED, /* TCP: handshake (or traffic both ways); others: replied */
	FLOW_STATE_CLOSED,      /* TCP: FIN both ways or RST */
};

enum flow_end {
	FLOW_END_NONE = 0, /* still active */
	FLOW_END_FIN,      /* "fin": closed by FIN both ways */
	FLOW_END_RST,      /* "rst": closed by RST */
	FLOW_END_TIMEOUT,  /* "timeout": idle timeout */
	FLOW_END_FORCED,   /* "forced": ended to make room, the table was full */
	FLOW_END_SHUTDOWN, /* "shutdown": end of capture (flow_table_flush) */
	FLOW_END_REUSED,   /* "reused": a new connection started on the same tuple */
};

#define FLOW_HISTORY_MAX 15

/* Where a flow's packets went in the current file's index (index_writer_add_hint). */
struct index_hint {
	uint32_t gen, slot;
};

struct flow {
	uint64_t id;           /* unique per table: config id_base + 1, + 2, ... */
	struct decode_key key; /* oriented initiator -> responder */
	int64_t start_ns;      /* earliest and latest packet time seen */
	int64_t end_ns;
	uint64_t pkts[2];    /* [0] to server (from the initiator), [1] to client */
	uint64_t bytes[2];   /* wire length of the packets */
	uint64_t payload[2]; /* L4 payload bytes per the headers */
	uint8_t tcp_flags[2];
	uint8_t state;                      /* enum flow_state */
	uint8_t end_reason;                 /* enum flow_end, set when the flow ends */
	uint8_t icmp_type[2], icmp_code[2]; /* first ICMP message each way */
	uint8_t icmp_seen;                  /* bit d: icmp_type[d] is valid */
	uint8_t flipped;                    /* initiator chosen against packet order */
	uint32_t file_first, file_last;     /* flow_table_set_file ids (0 = unset) */
	struct index_hint ix;               /* the recorder's, for index_writer_add_hint */
	char community_id[COMMUNITYID_STRLEN];
	/* Zeek-style history: S SYN, H SYN-ACK, A pure ACK, D data, F FIN, R RST,
	 * upper case from the initiator, each letter once per direction; '^' first
	 * if the direction was flipped. */
	char history[FLOW_HISTORY_MAX + 1];

	/* private to flow.c */
	uint32_t hnext, prev, next;
	uint8_t cls, hist_bits[2], closed_by, seq_set;
	uint32_t base_seq[2];
	int64_t touch;
};

/* Called when a flow ends; f is borrowed for the call and recycled after it. */
typedef void flow_end_cb(void *arg, const struct flow *f);

/* flow_table_track's *dir for a later fragment held for its first (NULL returned). */
#define FLOW_DIR_HELD 2
#define FLOW_TAG_NONE UINT64_MAX /* a held fragment the caller did not name */
#define FLOW_FILE_ANY UINT32_MAX /* flow_table_release_frags: every file */

/* A later fragment held until its first fragment comes (flow_frags). */
/*
 * Packet time as the flow table keeps it: it only moves forward, by the time
 * between packets, so that a capture whose clock steps back and forward again
 * ages its flows and fragments by the time that went by, not by the jump.
 * Zeroed: not started; the first timestamp starts it.
 */
struct flow_clock {
	int64_t now;
	int64_t last_ts; /* the last timestamp observed, to measure forward steps */
	int64_t hwm;     /* the highest timestamp observed */
	int set;
};
/* Observe a packet's timestamp; returns the clock's time. */
int64_t flow_clock_observe(struct flow_clock *c, int64_t ts);

struct flow_frag_held {
	struct decode_key key; /* its own; with its first fragment's ports when joined */
	int64_t ts_ns;         /* packet time */
	uint32_t wirelen;
	uint32_t file_id; /* the file it was written to (flow_table_set_file; 0: none) */
	uint64_t tag;     /* the caller's name for it (FLOW_TAG_NONE: none) */
	int joined;       /* 1: its first fragment came; 0: let go at its bound */
};

/* Called when a held fragment is counted in f (direction dir): its datagram's
 * flow, or at its bound the flow it would have joined unheld. f is borrowed. */
typedef void flow_held_cb(void *arg, const struct flow *f, int dir,
                          const struct flow_frag_held *h);

struct flow_config {
	uint32_t capacity;           /* flows at once (default 65536) */
	uint32_t tcp_new_timeout;    /* seconds; handshake incomplete / half-open (60) */
	uint32_t tcp_est_timeout;    /* established (600) */
	uint32_t tcp_closed_timeout; /* after FIN both ways or RST (60) */
	uint32_t udp_timeout;        /* (120) */
	uint32_t other_timeout;      /* ICMP and other protocols (60) */
	uint16_t cid_seed;           /* Community ID seed (0) */
	/* Flow ids are id_base + 1, + 2, ... (default 0). A capture run that wants
	 * ids unique across restarts, and below 2^53 for JSON readers, can use its
	 * start time: (uint64_t)start_seconds << 20. With id_end (0: no end), the
	 * ids after id_end come from id_more (given the last id handed out): it
	 * returns the id before a new block and sets *end to the block's last, or 0
	 * to go on from last without an end (spool_take_ids). */
	uint64_t id_base;
	uint64_t id_end;
	uint64_t (*id_more)(void *arg, uint64_t last, uint64_t *end);
	void *id_arg;
	uint64_t hash_seed; /* 0 = random: flooding the table is not predictable */
	/* Leave community_id empty; whoever reports the flow computes it
	 * (flow_community_id), e.g. on another thread. */
	int cid_lazy;
	flow_end_cb *end_cb;   /* may be NULL */
	flow_held_cb *held_cb; /* may be NULL */
	void *cb_arg;          /* of both */
};

struct flow_stats {
	uint64_t pkts;  /* IP packets tracked */
	uint64_t nonip; /* packets given that were not IP */
	uint64_t created;
	uint64_t ended[FLOW_END_REUSED + 1]; /* by enum flow_end */
	uint32_t active;
	uint64_t frags_held;   /* later fragments that came before their first */
	uint64_t frags_joined; /* of which counted in their datagram's flow */
};

struct flow_table;

void flow_config_default(struct flow_config *c);

/*
 * The longest a flow of this config can stay idle and still take a packet:
 * its longest timeout, plus the sweep interval (flows are ended by a sweep
 * at most once a second of packet time, before the packet that triggers it
 * is looked up). A packet later than that after a flow's last one starts
 * another flow.
 */
int64_t flow_config_longest_idle_ns(const struct flow_config *c);

/* Returns 0, -EINVAL (capacity 0 or above 2^30), -ENOMEM. */
int flow_table_new(struct flow_table **out, const struct flow_config *c);
/* Frees the table without ending its flows (flush first to report them). */
void flow_table_free(struct flow_table **ft);

/*
 * Account one decoded packet of wirelen bytes at ts_ns. Returns its flow
 * (borrowed until the next call on the table) and the direction in *dir, or
 * NULL for a packet that is not IP (*dir -1) and for a later fragment held
 * until its first fragment comes (*dir FLOW_DIR_HELD: it is counted later,
 * through the held callback). May end other flows first (through the
 * callback): expired ones, a full table's victim, a reused tuple's old flow;
 * and count held fragments (through the held callback): those past their
 * bound first, then, after the packet, those of its datagram when it is a
 * first fragment (in the flow returned). O(1) amortised.
 */
struct flow *flow_table_track(struct flow_table *ft, const struct decode_pkt *d, int64_t ts_ns,
                              uint32_t wirelen, int *dir);

/* Name the fragment the last flow_table_track held (the held callback's
 * h->tag), before any other call on the table; e.g. its place in the index. */
void flow_table_tag_held(struct flow_table *ft, uint64_t tag);

/* Let go of the held fragments written to file_id (FLOW_FILE_ANY: all): each
 * is counted where it would have gone unheld (through the held callback), at
 * once. Call before a file's index is saved. Returns how many. */
size_t flow_table_release_frags(struct flow_table *ft, uint32_t file_id);

/* Record file_id (the PCAP file packets are written to now; 0: none) in the flows touched
 * from now on: file_first and file_last are the lowest and highest id of a flow's packets. */
void flow_table_set_file(struct flow_table *ft, uint32_t file_id);

/* Advance the clock to now_ns (if later), count held fragments past their
 * bound and end idle flows. Returns how many flows ended idle. */
size_t flow_table_expire(struct flow_table *ft, int64_t now_ns);

/* End every flow (reason FLOW_END_SHUTDOWN at the end of a capture; closed
 * TCP flows keep "fin"/"rst"), the held fragments counted first. Returns how many ended. */
size_t flow_table_flush(struct flow_table *ft, enum flow_end reason);

void flow_table_stats(const struct flow_table *ft, struct flow_stats *out);

/*
 * Later fragments carry no ports: the table of recent first fragments (by
 * addresses, protocol and fragment id, 1024 direct-mapped slots, kept 60 s)
 * that gives the rest of a datagram its first fragment's ports. The flow
 * table keeps one; a reader that matches packets without a flow table (a
 * scan of a capture file) keeps its own, so both see the same 5-tuples.
 *
 * A later fragment whose first fragment is not known (it comes after, out of
 * order or on purpose) is held: at most FLOW_FRAGS_HOLD at once and for at
 * most FLOW_FRAGS_HOLD_NS of packet time (the map's clock: now_ns). When the
 * first fragment of its datagram comes (the same addresses, protocol,
 * fragment id and VLAN ids), it is joined: it takes the first's ports. When
 * its time is up, when a new one needs its place (the oldest goes) or when
 * released, it is let go with its own key, as it would have gone unheld.
 * Either way the caller takes it back (flow_frags_take). A first fragment
 * looks only at the held fragments of its own hash bucket (keyed SipHash,
 * VLAN ids included), and each held fragment is joined or let go once, so
 * no packet costs more than O(1) amortised.
 */
#define FLOW_FRAGS_HOLD 1024
#define FLOW_FRAGS_HOLD_NS (30 * 1000000000ll)
struct flow_frags;
int flow_frags_new(struct flow_frags **out); /* 0 or -ENOMEM */
void flow_frags_free(struct flow_frags **m);
/*
 * A first fragment's ports (from k) are remembered, and the fragments held
 * for it are joined; a later one of its datagram gets them in k (left as it
 * is when unknown). now_ns: packet time. With hold (the caller's ts_ns,
 * wirelen, file_id and tag; the key comes from k), a later fragment whose
 * first is unknown is held and 1 returned: the caller leaves it for now and
 * takes it back with flow_frags_take. Otherwise 0 (hold NULL: never held).
 */
int flow_frags_ports(struct flow_frags *m, const struct decode_pkt *d, int64_t now_ns,
                     struct decode_key *k, const struct flow_frag_held *hold);
/* One held fragment that is due (joined, let go to make room or released, or
 * held past FLOW_FRAGS_HOLD_NS at now_ns) into *out: 1, or 0 when none. */
int flow_frags_take(struct flow_frags *m, int64_t now_ns, struct flow_frag_held *out);
/* Let go of the held fragments of file_id (FLOW_FILE_ANY: all); take them after. */
void flow_frags_release(struct flow_frags *m, uint32_t file_id);

/* The Community ID of a flow's key into f->community_id (for cid_lazy tables). */
void flow_community_id(struct flow *f, uint16_t seed);

const char *flow_state_str(int state); /* "new", "established", "closed" */
const char *flow_end_str(int reason);  /* "fin", "rst", "timeout", ... */
/* Zeek conn_state of a flow: S0 S1 SF REJ S2 S3 RSTO RSTR RSTOS0 RSTRH SH SHR OTH. */
const char *flow_conn_state(const struct flow *f);
/* EVE protocol name: "TCP", "UDP", "ICMP", "IPv6-ICMP", "SCTP", else the number. */
const char *flow_proto_str(uint8_t proto, char buf[4]);

/*
 * Render a flow as a "flow" event (timestamp = flow start) into b, in EVE
 * field names: flow_id, src_ip, src_port, dest_ip, dest_port, proto, vlan[],
 * community_id, icmp_type/icmp_code/response_icmp_type/response_icmp_code,
 * flow{pkts_toserver, pkts_toclient, bytes_toserver, bytes_toclient,
 * payload_bytes_toserver, payload_bytes_toclient, start, end, age, state,
 * reason, conn_state, history}, tcp{tcp_flags, tcp_flags_ts, tcp_flags_tc,
 * syn, fin, rst, psh, ack, urg, ecn, cwr, state} and pcap{file_first,
 * file_last}. Returns 0, or -EMSGSIZE if the record overflowed (dropped).
 */
int flow_event_render(const struct flow *f, struct evbuf *b);

#endif

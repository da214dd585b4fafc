/*
 * The capture worker and the capture commands.
 *
 * Worker: libpcap handles (TPACKET_V3 ring, a large buffer, immediate mode
 * off) on every [capture] interface, read in the worker's event loop and fed
 * to the recorder (recorder.h): PCAP spool, flows, index, "flow" events.
 * Kernel and ring drop counters are widened to 64 bits and reported as
 * "stats" events; new drops are also logged and raised as an alert.
 *
 * The handles are opened while the process is still privileged (the worker
 * is forked root and opens them before it narrows: a restarted worker gets
 * a fresh ring rather than the half-read one of its predecessor); after
 * that the packet socket needs no capability, and the worker runs as the
 * unprivileged user under the seccomp filter, packet sockets allowed.
 *
 * Commands (capture_*_main take argv as given after "sinktrap"):
 *   ingest    capture files into the spool, flows into the store
 *   sessions  list sessions from the store
 *   pcap      write the packets of sessions, from the spool by its indexes
 */
#ifndef SINKTRAP_CAPTURE_CAPTURE_H
#define SINKTRAP_CAPTURE_CAPTURE_H

#include <stddef.h>
#include <sys/types.h>

struct config;
struct capture_handle;

struct capture_setup {
	struct capture_handle *hs; /* Malloced by capture_open. */
	int nh;
	int parent_fd; /* -1 when run alone */
	int store_fd;  /* -1 when run alone: events are printed as JSON lines */
};

/* Whether a BPF expression compiles (for Ethernet). 0, or -1 with err. */
int capture_filter_check(const char *bpf, char *err, size_t errlen);

/* libpcap, opened at its first use (pcap_shim.c): 0, or -1 and why not. */
int pcap_lib_ready(char *err, size_t errlen);

/*
 * Open and activate a handle on every [capture] interface, with the filter
 * set (needs CAP_NET_RAW). All interfaces must share one link type. 0, or -1
 * with err.
 */
int capture_open(const struct config *c, struct capture_handle **out, int *n, char *err,
                 size_t errlen);
void capture_close(struct capture_handle *hs, int n);

/* The spool directory: [capture] spool, or state_dir/pcap. */
void capture_spool_dir(const struct config *c, char *buf, size_t len);

/* Before the workers start (privileged): the spool exists and belongs to uid/gid
 * (uid (uid_t)-1: leave ownership alone). 0, or -1 (logged). */
int capture_prepare(const struct config *c, uid_t uid, gid_t gid);

/* Run the worker until SIGTERM. Returns the exit status. */
int capture_worker_main(struct config *c, struct capture_setup *s);

/* `sinktrap capture -c FILE`: the worker alone in the foreground. */
int capture_run_alone(const char *conf_path);

int capture_ingest_main(int argc, char **argv);
int capture_sessions_main(int argc, char **argv);
int capture_pcap_main(int argc, char **argv);

#endif

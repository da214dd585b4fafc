/*
 * libpcap, opened at the first call (common/dynlib.h): live capture and BPF
 * expressions load it; writing and reading the spool do not need it.
 */
#include <pcap/pcap.h>

#include "../common/dynlib.h"
#include "capture.h"

static struct dynlib pcaplib =
    DYNLIB_INIT("packet capture library (libpcap)", "libpcap.so.0.8", "libpcap.so.1");

DYNLIB_FN(pcaplib, pcap_t *, pcap_create, (const char *source, char *errbuf), (source, errbuf))
DYNLIB_FN(pcaplib, int, pcap_set_snaplen, (pcap_t * p, int v), (p, v))
DYNLIB_FN(pcaplib, int, pcap_set_promisc, (pcap_t * p, int v), (p, v))
DYNLIB_FN(pcaplib, int, pcap_set_timeout, (pcap_t * p, int v), (p, v))
DYNLIB_FN(pcaplib, int, pcap_set_immediate_mode, (pcap_t * p, int v), (p, v))
DYNLIB_FN(pcaplib, int, pcap_set_buffer_size, (pcap_t * p, int v), (p, v))
DYNLIB_FN(pcaplib, int, pcap_set_tstamp_precision, (pcap_t * p, int v), (p, v))
DYNLIB_FN(pcaplib, int, pcap_get_tstamp_precision, (pcap_t * p), (p))
DYNLIB_FN(pcaplib, int, pcap_activate, (pcap_t * p), (p))
DYNLIB_FN(pcaplib, pcap_t *, pcap_open_dead, (int linktype, int snaplen), (linktype, snaplen))
DYNLIB_FN(pcaplib, pcap_t *, pcap_open_dead_with_tstamp_precision,
          (int linktype, int snaplen, u_int precision), (linktype, snaplen, precision))
DYNLIB_VOID(pcaplib, pcap_close, (pcap_t * p), (p))
DYNLIB_FN(pcaplib, int, pcap_dispatch, (pcap_t * p, int cnt, pcap_handler cb, u_char *user),
          (p, cnt, cb, user))
DYNLIB_FN(pcaplib, int, pcap_stats, (pcap_t * p, struct pcap_stat *ps), (p, ps))
DYNLIB_FN(pcaplib, int, pcap_setfilter, (pcap_t * p, struct bpf_program *fp), (p, fp))
DYNLIB_FN(pcaplib, int, pcap_setnonblock, (pcap_t * p, int nonblock, char *errbuf),
          (p, nonblock, errbuf))
DYNLIB_FN(pcaplib, const char *, pcap_statustostr, (int error), (error))
DYNLIB_FN(pcaplib, char *, pcap_geterr, (pcap_t * p), (p))
DYNLIB_FN(pcaplib, int, pcap_compile,
          (pcap_t * p, struct bpf_program *fp, const char *str, int optimize,
           bpf_u_int32 netmask),
          (p, fp, str, optimize, netmask))
DYNLIB_VOID(pcaplib, pcap_freecode, (struct bpf_program * fp), (fp))
DYNLIB_FN(pcaplib, int, pcap_offline_filter,
          (const struct bpf_program *fp, const struct pcap_pkthdr *h, const u_char *pkt),
          (fp, h, pkt))
DYNLIB_FN(pcaplib, int, pcap_datalink, (pcap_t * p), (p))
DYNLIB_FN(pcaplib, const char *, pcap_datalink_val_to_name, (int dlt), (dlt))
DYNLIB_FN(pcaplib, int, pcap_get_selectable_fd, (pcap_t * p), (p))

int pcap_lib_ready(char *err, size_t errlen)
{
	return dynlib_ready(&pcaplib, err, errlen);
}

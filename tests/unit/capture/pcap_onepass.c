/*
 * `sinktrap pcap` with windows larger than any result here: every file's packets
 * taken in one walk of its index (or one scan), as the command took them before
 * it took them a window at a time. test_pcap_window.c compares the two.
 */
#define PCAP_WIN_TOTAL ((size_t)1 << 40)
#define capture_pcap_main capture_pcap_main_onepass
#define capture_sessions_main capture_sessions_main_onepass
#include "capture/query.c"

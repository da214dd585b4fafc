/*
 * Community ID v1 (github.com/corelight/community-id-spec): a flow hash that
 * Zeek, Suricata, Arkime and Wireshark compute the same way, so a sinktrap
 * flow joins the same session in those tools.
 *
 *   "1:" base64(SHA1(seed(2, NBO) . saddr . daddr . proto(1) . 0(1)
 *                     [. sport(2, NBO) . dport(2, NBO)]))
 *
 * The endpoints are ordered (smaller address first, then smaller port) so
 * both directions give the same id. Ports are hashed for TCP, UDP, SCTP,
 * ICMP and ICMPv6 only; any other protocol hashes addresses and protocol.
 * For ICMP/ICMPv6 pass the type as sport and the code as dport: request and
 * reply types are mapped onto each other (echo 8 <-> 0, ...), and a type
 * with no counterpart (unreachable, time exceeded, ...) is "one-way": its
 * endpoints are hashed in packet order, never swapped.
 *
 * Pure functions; SHA1 comes from OpenSSL's libcrypto.
 */
#ifndef SINKTRAP_CAPTURE_COMMUNITYID_H
#define SINKTRAP_CAPTURE_COMMUNITYID_H

#include <stdint.h>

/* "1:" + 28 base64 characters + NUL. */
#define COMMUNITYID_STRLEN 31

/* Protocols whose ports take part in the hash. */
int communityid_has_ports(uint8_t proto);

/*
 * Port equivalents of an ICMP (v6 = 0) or ICMPv6 (v6 = 1) message: *p1 =
 * type, *p2 = the counterpart type, or the code when there is none. Returns
 * 1 for a one-way message (no counterpart), 0 otherwise.
 */
int communityid_icmp_ports(int v6, uint8_t type, uint8_t code, uint16_t *p1, uint16_t *p2);

/*
 * Compute the id of a flow into out. family is 4 or 6; saddr/daddr hold 4
 * or 16 bytes in network order; ports in host order (type/code for ICMP,
 * ignored for protocols without ports). Returns 0, or -EINVAL for a bad
 * family, -EIO if libcrypto fails.
 */
int communityid_compute(uint16_t seed, int family, const uint8_t *saddr, const uint8_t *daddr,
                        uint8_t proto, uint16_t sport, uint16_t dport,
                        char out[COMMUNITYID_STRLEN]);

#endif

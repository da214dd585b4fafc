/* The DNS message parser: queries, whole-message walks, and the response paths fed by them. */
#include <stdint.h>
#include <string.h>

#include "dns/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_query q;
	struct dns_msg m;
	uint8_t out[4096], buf[4096];

	if (dns_query_parse(data, size, &q) == DNS_PARSE_OK) {
		static const uint8_t a4[16] = {127, 66, 0,
		                               1}; /* 16 bytes: AAAA reads them all */
		dns_resp_sinkhole(&q, a4, 300, 1232, out, sizeof(out));
		dns_resp_sinkhole(&q, NULL, 300, 1232, out, sizeof(out));
		dns_query_build(&q, 1, 1232, out, sizeof(out));
	}
	dns_resp_empty(&q, DNS_R_FORMERR, 0, 1232, out, sizeof(out));
	if (size <= sizeof(buf) && dns_msg_walk(data, size, &m) == 0) {
		struct dns_addr addrs[8];
		struct dns_addr_cursor cur = {0};
		int na, total = 0;
		do { /* in batches, as the server takes them */
			na = dns_msg_addrs(data, size, &m, &cur, addrs, 8);
			if (na < 0 || na > 8)
				__builtin_trap();
			total += na;
		} while (na == 8);
		if (total > m.ancount)
			__builtin_trap();
		/* A CNAME chain, and the sinkhole answer built from it, well-formed. */
		struct dns_chain c;
		if (dns_msg_chain(data, size, &m, &c) > 0 && q.have_question) {
			static const uint8_t a6[16] = {0xfd, 0x66};
			struct dns_msg m2;
			struct dns_chain c2;
			/* an address record only for the types the server gives one */
			int typed = q.qtype == DNS_T_A || q.qtype == DNS_T_AAAA;
			for (int i = 0; i < c.n; i++) {
				const uint8_t *ap = typed && !(i & 1) ? a6 : NULL;
				size_t n = dns_resp_sinkhole_chain(&q, &c, i, ap, 300, 1232,
				                                   out, sizeof(out));
				if (n && (dns_msg_walk(out, n, &m2) < 0 || m2.ancount < i + 1))
					__builtin_trap();
				/* the chain read back from a question of the same name */
				if (n && m2.qname_len == m.qname_len &&
				    memcmp(m2.qname, m.qname, m.qname_len) == 0 &&
				    dns_msg_chain(out, n, &m2, &c2) < i + 1)
					__builtin_trap();
			}
		}
		memcpy(buf, data, size);
		dns_msg_age(buf, size, 30);
		/*
		 * Adapting a well-formed message must keep it well-formed. Aging can
		 * break a message whose names point into TTL fields, so it is walked
		 * again, as the cache does.
		 */
		if (q.have_question && dns_msg_walk(buf, size, &m) == 0) {
			size_t n = dns_resp_adapt(&q, &m, buf, size, sizeof(buf), 512, 1232);
			struct dns_msg m2;
			if (n > 512 || dns_msg_walk(buf, n, &m2) < 0)
				__builtin_trap();
		}
	}
	return 0;
}

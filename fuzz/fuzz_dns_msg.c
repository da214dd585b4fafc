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

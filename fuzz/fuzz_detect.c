/*
 * Fuzz protocol detection: the first two bytes are the local port, the rest
 * the connection's first bytes. Every prefix is detected as the worker would
 * see it arrive; results must stay in range and be deterministic.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trap/detect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint16_t port = (uint16_t)(data[0] << 8 | data[1]);
	const uint8_t *b = data + 2;
	size_t n = size - 2;
	struct detect_result r, again;

	for (size_t k = 0; k <= n && k <= DETECT_MAX_BYTES + 8; k++) {
		if (detect_proto(b, k, port, &r) != 0)
			abort();
		if ((unsigned)r.proto >= TRAP_PROTO_COUNT || r.confidence < 0 ||
		    r.confidence > 100 || (r.need_more != 0 && r.need_more != 1))
			abort();
		if (k >= DETECT_MAX_BYTES && r.need_more)
			abort(); /* the worker must be able to stop waiting */
	}
	detect_proto(b, n, port, &r);
	detect_proto(b, n, port, &again);
	if (memcmp(&r, &again, sizeof(r)) != 0)
		abort();
	(void)detect_banner(port, n & 1);
	(void)trap_proto_name(r.proto);
	return 0;
}

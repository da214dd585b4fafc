/* Event records as the store receives them: check, then render only what passed. */
#include <stdint.h>

#include "common/event.h"
#include "store/render.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	long rl = ev_record_check(data, size);
	if (rl > 0) {
		struct strbuf s;
		struct ev_field f;
		strbuf_init(&s);
		render_json(data, (size_t)rl, "fuzz", &s);
		ev_find(data, (size_t)rl, "dns.rrname", &f);
		strbuf_free(&s);
	}
	return 0;
}

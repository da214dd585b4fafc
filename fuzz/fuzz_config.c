/* The configuration parser over arbitrary text. */
#include <stdint.h>

#include "common/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg_errors e;
	struct config *c = config_parse("fuzz.conf", (const char *)data, size, 0, &e);
	config_free(c);
	cfg_errors_free(&e);
	return 0;
}

/*
 * What clients type or send as values: the web's sign-in body (flat JSON,
 * read before authentication), its integer parameters, and times (the web's
 * since/until and the capture commands' --since/--until, common/timeparse). The input is the
 * body as it comes, and, cut at its first NUL, the string each parameter parser gets. Oracles:
 * a value found is a NUL-terminated string no longer than the body; a time accepted is in the
 * documented range.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeparse.h"
#include "web/params.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = {"username", "password", "", "a"};
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		char *v = web_json_get_str((const char *)data, size, keys[k]);
		if (v != NULL && strlen(v) > size)
			abort();
		free(v);
	}

	char *s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	int64_t v;
	if (web_parse_int(s, -5, 70000, &v) == 0 && (v < -5 || v > 70000))
		abort();
	if (web_parse_time(s, &v) == 0 && v < 0)
		abort();
	/* 2262-04-11 at most, 1970 at least, whatever the present */
	if (time_parse_ns(s, 1700000000000000000LL, &v) == 0 &&
	    (v < 0 || v > 9223371960000000000LL))
		abort();
	if (time_parse_ns(s, 0, &v) == 0 && (v < 0 || v > 9223371960000000000LL))
		abort();
	free(s);
	return 0;
}

/*
 * What clients type or send as values: the web's sign-in body (flat JSON,
 * read before authentication), its integer and time parameters, and the
 * capture commands' --since/--until. The input is the body as it comes,
 * and, cut at its first NUL, the string each parameter parser gets.
 * Oracles: a value found is a NUL-terminated string no longer than the
 * body; a time accepted is in the documented range.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "capture/capture_int.h"
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
	if (web_parse_time(s, &v) == 0 && (v < 0 || v > 253402300799LL * 1000000))
		abort();
	if (capture_parse_time(s, &v) == 0 && v < 0)
		abort();
	free(s);
	return 0;
}

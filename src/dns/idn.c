#include "idn.h"

#include <idn2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/dynlib.h"

static struct dynlib idn2 = DYNLIB_INIT("IDN library (libidn2)", "libidn2.so.0");

DYNLIB_FN(idn2, int, idn2_to_ascii_8z, (const char *input, char **output, int flags),
          (input, output, flags))
DYNLIB_FN(idn2, const char *, idn2_strerror, (int rc), (rc))
DYNLIB_VOID(idn2, idn2_free, (void *ptr), (ptr))

int idn_is_unicode(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 1;
	return 0;
}

/*
 * The mapping also folds characters that only look like letters or that
 * show nothing (fullwidth "ｅｘａｍｐｌｅ", a zero-width space, a soft hyphen)
 * into plain ASCII, so a list line written with them would block another,
 * real name. Every label written with non-ASCII characters must therefore
 * become an "xn--" label, and the labels must stay the same in number.
 */
static int disguised(const char *in, const char *res, char *err, size_t errlen)
{
	const char *a = in, *b = res;
	for (;;) {
		const char *ae = strchr(a, '.'), *be = strchr(b, '.');
		size_t an = ae ? (size_t)(ae - a) : strlen(a),
		       bn = be ? (size_t)(be - b) : strlen(b);
		if (idn_is_unicode(a, an) && !(bn >= 4 && !strncasecmp(b, "xn--", 4))) {
			snprintf(err, errlen,
			         "a label written in Unicode becomes the plain ASCII \"%.*s\" "
			         "(write "
			         "that if it is meant)",
			         (int)(bn > 63 ? 63 : bn), b);
			return 1;
		}
		if (!ae != !be) {
			snprintf(err, errlen, "its labels are not separated by '.' alone");
			return 1;
		}
		if (!ae)
			return 0;
		a = ae + 1;
		b = be + 1;
	}
}

int idn_to_ascii(const char *s, size_t n, char *out, size_t outsz, char *err, size_t errlen)
{
	char in[1024], lib[256];
	if (n > 1 && s[n - 1] == '.')
		n--;
	if (n == 0 || n >= sizeof(in) || memchr(s, '\0', n)) {
		snprintf(err, errlen, "not a name");
		return -1;
	}
	if (dynlib_ready(&idn2, lib, sizeof(lib)) < 0) {
		snprintf(err, errlen, "a Unicode name needs %s", lib);
		return -1;
	}
	memcpy(in, s, n);
	in[n] = '\0';
	char *res = NULL;
	int rc = idn2_to_ascii_8z(in, &res, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
	if (rc != IDN2_OK || res == NULL) {
		snprintf(err, errlen, "not a valid internationalized name (%s)",
		         idn2_strerror(rc));
		return -1;
	}
	size_t len = strlen(res);
	if (disguised(in, res, err, errlen)) {
		idn2_free(res);
		return -1;
	}
	if (len + 1 > outsz || idn_is_unicode(res, len)) {
		snprintf(err, errlen, "its ASCII form is too long");
		idn2_free(res);
		return -1;
	}
	for (size_t i = 0; i <= len; i++)
		out[i] = (char)((res[i] >= 'A' && res[i] <= 'Z') ? res[i] + 32 : res[i]);
	idn2_free(res);
	return 0;
}

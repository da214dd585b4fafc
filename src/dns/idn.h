/*
 * Internationalized names: a name written in Unicode (UTF-8), in a list or
 * asked of `sinktrap check`, is turned into the ASCII form DNS carries,
 * IDNA2008 with the UTS #46 non-transitional mapping ("Bücher.example" is
 * "xn--bcher-kva.example", as browsers and resolvers send it), by libidn2,
 * opened at the first such name (common/dynlib.h).
 */
#ifndef SINKTRAP_DNS_IDN_H
#define SINKTRAP_DNS_IDN_H

#include <stddef.h>

/* Whether any byte of s[0..n) is not ASCII. */
int idn_is_unicode(const char *s, size_t n);

/*
 * s[0..n) (a trailing dot ignored) into out as lowercase ASCII, without the
 * dot. 0, or -1 with why in err (not valid IDNA2008, too long, libidn2
 * missing).
 */
int idn_to_ascii(const char *s, size_t n, char *out, size_t outsz, char *err, size_t errlen);

#endif

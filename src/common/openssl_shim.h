/* libssl and libcrypto are opened at their first use (openssl_shim.c). */
#ifndef SINKTRAP_OPENSSL_SHIM_H
#define SINKTRAP_OPENSSL_SHIM_H

#include <stddef.h>

/* Open both now: 0, or -1 with which library and why in err. */
int openssl_ready(char *err, size_t errlen);

/* Open both now, before a worker locks itself down, so that a missing library
 * stops it at start (logged with its name), not at its first client. */
void openssl_require(const char *worker);

#endif

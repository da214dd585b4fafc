/*
 * ClientHello parser: the input as the first bytes of a connection, and the
 * same bytes as the body of a ClientHello in one well-framed record, so that
 * mutations reach the extension parsers without first having to get the
 * record and handshake lengths right.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/event.h"
#include "trap/tlsca.h"
#include "trap/tlshello.h"

static struct tls_hello hello;
static uint8_t wrapped[9 + TLS_HELLO_MAX_LEN];

static void check(const uint8_t *data, size_t size)
{
	int rc = tls_hello_parse(data, size, &hello, NULL, 0);
	if (rc != 0)
		return;
	/* What a parse promises. */
	if (hello.records_len > size || hello.sni_len > TLS_HELLO_SNI_LEN ||
	    strlen(hello.ja4) != 36 || strlen(hello.ja3_hash) != 32 ||
	    strlen(hello.ja3) >= sizeof(hello.ja3) || hello.n_ciphers > TLS_HELLO_MAX_CIPHERS ||
	    hello.n_exts > TLS_HELLO_MAX_EXTS || hello.n_alpn > TLS_HELLO_MAX_ALPN)
		abort();
	/* Every prefix of a parsed hello is a valid beginning. */
	if (tls_hello_parse(data, hello.records_len - 1, &hello, NULL, 0) != -EAGAIN)
		abort();
	tls_hello_parse(data, size, &hello, NULL, 0);

	/* The name a certificate is made for: a host name or an address,
	 * lowercase letters, digits, '-', '_', '.', ':' only. */
	if (hello.has_sni) {
		char clean[TLSCA_NAME_MAX + 1];
		if (tlsca_name_clean(hello.sni, hello.sni_len, clean)) {
			size_t n = strlen(clean);
			if (n == 0 || n > TLSCA_NAME_MAX ||
			    strspn(clean, "abcdefghijklmnopqrstuvwxyz0123456789-_.:") != n)
				abort();
		}
	}

	struct evbuf b;
	evbuf_init(&b);
	ev_begin(&b, "trap", 1);
	tls_hello_event_fields(&hello, &b);
	ev_end(&b);
	if (ev_record_check(b.data, b.len) != (long)b.len)
		abort();
	evbuf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check(data, size);
	if (size <= TLS_HELLO_MAX_LEN) {
		size_t rlen = size + 4 > 16384 ? 16384 : size + 4;
		wrapped[0] = 22;
		wrapped[1] = 3;
		wrapped[2] = 1;
		wrapped[3] = (uint8_t)(rlen >> 8);
		wrapped[4] = (uint8_t)rlen;
		wrapped[5] = 1;
		wrapped[6] = 0;
		wrapped[7] = (uint8_t)(size >> 8);
		wrapped[8] = (uint8_t)size;
		memcpy(wrapped + 9, data, size);
		check(wrapped, size + 9 > rlen + 5 ? rlen + 5 : size + 9);
	}
	return 0;
}

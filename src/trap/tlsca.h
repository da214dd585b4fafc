/*
 * The trap's local certificate authority: a CA made once and kept in a
 * directory, and a certificate for whatever name a client asks for, made on
 * first use and kept in a bounded LRU of SSL_CTXs.
 *
 * Keys are RSA 2048 (the CA's, and one leaf key shared by every name), the
 * type the oldest TLS stacks found in malware still speak. The CA is
 * "CN=sinktrap local CA", CA:TRUE, keyCertSign, valid ten years; a leaf has
 * the name as CN (when it fits in 64 bytes) and as its only subjectAltName
 * (dNSName, or iPAddress for an address), a random serial, and is valid from
 * a day ago for a year.
 *
 * Names come from malware: tlsca_name_clean() accepts a host name (letters,
 * digits, '-', '_', dots between non-empty labels of at most 63 bytes, 253
 * bytes in all; lower-cased, one trailing dot dropped) or an IPv4/IPv6
 * address, and anything else becomes TLSCA_DEFAULT_NAME.
 *
 * A struct tlsca is safe to use from several threads.
 */
#ifndef SINKTRAP_TRAP_TLSCA_H
#define SINKTRAP_TRAP_TLSCA_H

#include <stddef.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#define TLSCA_DEFAULT_NAME "sinktrap.invalid"
#define TLSCA_NAME_MAX 253
#define TLSCA_CACHE_DEFAULT 1000
#define TLSCA_CA_CN "sinktrap local CA"

struct tlsca;

/*
 * Load dir/ca.key and dir/ca.crt, or make them if neither exists (dir itself
 * is created, mode 0700, if missing). Makes the shared leaf key. On success
 * *out is the caller's: tlsca_close() it. Slow the first time (two RSA
 * keys); 0 or -errno with the reason in err.
 *
 * dir may belong to the workers' user, and its parent too, while this runs
 * as root: dir is opened once, its parent reached as sandbox_open_dir() does
 * and dir itself never through a symbolic link (-ELOOP), and every file is
 * read and written through that descriptor. dir must be a directory nobody
 * but its owner can write (-EPERM), root's or this process's user's unless
 * this is root. A file is read only if it is a regular file with one name,
 * never through a link, owned by root, this process's user or dir's owner.
 * Files are written under a temporary name, synced, and published without
 * replacing anything (ca.key mode 0600, ca.crt 0644), so two processes
 * starting at once end up with the same CA.
 */
int tlsca_open(const char *dir, struct tlsca **out, char *err, size_t errlen);

/* Free everything and set *ca to NULL. SSL_CTXs handed out stay valid. */
void tlsca_close(struct tlsca **ca);

/* Cap the number of names kept (at least 1); evicts at once if over it. */
void tlsca_cache_limit(struct tlsca *ca, size_t max);
/* Names currently cached. */
size_t tlsca_cache_count(struct tlsca *ca);

/*
 * Clean a name as described above into out (TLSCA_NAME_MAX + 1 bytes).
 * name may hold any bytes (len of them; NULL or 0 = none). Returns 1 if the
 * name was accepted, 0 if out holds TLSCA_DEFAULT_NAME instead.
 */
int tlsca_name_clean(const char *name, size_t len, char *out);

/*
 * A server SSL_CTX whose certificate (with the CA after it in the chain)
 * and key are for the cleaned name, configured by tlsca_ctx_configure():
 * from the cache, or made now and cached.
 * *out holds a new reference for the caller: SSL_CTX_free() it when done.
 * 0 or -errno with the reason in err.
 */
int tlsca_cert_for(struct tlsca *ca, const char *name, size_t len, SSL_CTX **out, char *err,
                   size_t errlen);

/*
 * How the trap serves TLS, applied to a server context: every protocol
 * version the library still has from TLS 1.0 up, security level 0 (the
 * ciphers and MD5/SHA-1 handshake signatures of old clients), no
 * renegotiation and no compression, and ALPN answered with "http/1.1" when
 * the client offers it (nothing otherwise). Every context made here has it
 * (the default one given to tlsca_install_sni_cb() and each name's): an SSL
 * switched to its name's context takes that context's security level and
 * ALPN callback, so both must say the same. 0, or -1 when the library
 * refused a setting.
 */
int tlsca_ctx_configure(SSL_CTX *ctx);

/*
 * Make default_ctx serve the right certificate for each connection: give it
 * TLSCA_DEFAULT_NAME's certificate and key, the settings of
 * tlsca_ctx_configure(), and a servername callback that switches each SSL to
 * its name's SSL_CTX (the SNI if usable, else the name set by
 * tlsca_ssl_set_name(), else the default). The caller keeps ca alive as long
 * as default_ctx may handshake. 0 or -errno with the reason in err.
 */
int tlsca_install_sni_cb(SSL_CTX *default_ctx, struct tlsca *ca, char *err, size_t errlen);

/*
 * The name to use for this connection when the client sends no usable SNI
 * (the domain the sinkhole mapped its destination address to, say). Copied.
 * 0, or -ENOMEM.
 */
int tlsca_ssl_set_name(struct tlsca *ca, SSL *ssl, const char *name);

/* The CA certificate; borrowed, valid until tlsca_close(). */
X509 *tlsca_ca_cert(struct tlsca *ca);
/* SHA-256 of the CA certificate (DER) as 64 hex digits. */
void tlsca_ca_fingerprint(struct tlsca *ca, char out[65]);

#endif

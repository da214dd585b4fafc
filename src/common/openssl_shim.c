/*
 * libssl and libcrypto, opened at the first call (common/dynlib.h). Only the
 * trap (TLS service, its certificate authority, payload hashes), TLS syslog
 * destinations, the capture's community_id and the web's session tokens use
 * OpenSSL; linked, libcrypto alone cost every command some 120 page faults
 * of relocation at start-up (about 2 ms here), `sinktrap pcap` included.
 *
 * One forwarder per function sinktrap calls, with OpenSSL 3's prototypes;
 * the macros of the headers (SSL_CTX_set_mode, EVP_RSA_gen...) expand to
 * these. A function missing here is a link error, never a silent fallback.
 */
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <string.h>

#include "dynlib.h"
#include "log.h"
#include "openssl_shim.h"

static struct dynlib crypto =
    DYNLIB_INIT("OpenSSL crypto library (libcrypto)", "libcrypto.so.3");
static struct dynlib ssl = DYNLIB_INIT("OpenSSL TLS library (libssl)", "libssl.so.3");

int openssl_ready(char *err, size_t errlen)
{
	if (dynlib_ready(&crypto, err, errlen) < 0)
		return -1;
	return dynlib_ready(&ssl, err, errlen);
}

void openssl_require(const char *worker)
{
	char err[300];
	if (openssl_ready(err, sizeof(err)) < 0)
		fatalx("%s: %s", worker, err);
}

/* libssl */
DYNLIB_FN(ssl, const char *, SSL_CIPHER_get_name, (const SSL_CIPHER *a0), (a0))
DYNLIB_FN(ssl, long, SSL_CTX_callback_ctrl, (SSL_CTX * a0, int a1, void (*a2)(void)),
          (a0, a1, a2))
DYNLIB_FN(ssl, int, SSL_CTX_check_private_key, (const SSL_CTX *a0), (a0))
DYNLIB_FN(ssl, long, SSL_CTX_ctrl, (SSL_CTX * a0, int a1, long a2, void *a3), (a0, a1, a2, a3))
DYNLIB_VOID(ssl, SSL_CTX_free, (SSL_CTX * a0), (a0))
DYNLIB_FN(ssl, X509 *, SSL_CTX_get0_certificate, (const SSL_CTX *a0), (a0))
DYNLIB_FN(ssl, int, SSL_CTX_load_verify_locations,
          (SSL_CTX * a0, const char *a1, const char *a2), (a0, a1, a2))
DYNLIB_FN(ssl, SSL_CTX *, SSL_CTX_new, (const SSL_METHOD *a0), (a0))
DYNLIB_VOID(ssl, SSL_CTX_set_alpn_select_cb,
            (SSL_CTX * a0, SSL_CTX_alpn_select_cb_func a1, void *a2), (a0, a1, a2))
DYNLIB_FN(ssl, int, SSL_CTX_set_default_verify_paths, (SSL_CTX * a0), (a0))
DYNLIB_FN(ssl, uint64_t, SSL_CTX_set_options, (SSL_CTX * a0, uint64_t a1), (a0, a1))
DYNLIB_VOID(ssl, SSL_CTX_set_security_level, (SSL_CTX * a0, int a1), (a0, a1))
DYNLIB_VOID(ssl, SSL_CTX_set_verify, (SSL_CTX * a0, int a1, SSL_verify_cb a2), (a0, a1, a2))
DYNLIB_FN(ssl, int, SSL_CTX_up_ref, (SSL_CTX * a0), (a0))
DYNLIB_FN(ssl, int, SSL_CTX_use_PrivateKey, (SSL_CTX * a0, EVP_PKEY *a1), (a0, a1))
DYNLIB_FN(ssl, int, SSL_CTX_use_PrivateKey_file, (SSL_CTX * a0, const char *a1, int a2),
          (a0, a1, a2))
DYNLIB_FN(ssl, int, SSL_CTX_use_certificate, (SSL_CTX * a0, X509 *a1), (a0, a1))
DYNLIB_FN(ssl, int, SSL_CTX_use_certificate_chain_file, (SSL_CTX * a0, const char *a1),
          (a0, a1))
DYNLIB_FN(ssl, int, SSL_connect, (SSL * a0), (a0))
DYNLIB_FN(ssl, long, SSL_ctrl, (SSL * a0, int a1, long a2, void *a3), (a0, a1, a2, a3))
DYNLIB_FN(ssl, int, SSL_do_handshake, (SSL * a0), (a0))
DYNLIB_VOID(ssl, SSL_free, (SSL * a0), (a0))
DYNLIB_VOID(ssl, SSL_get0_alpn_selected,
            (const SSL *a0, const unsigned char **a1, unsigned int *a2), (a0, a1, a2))
DYNLIB_FN(ssl, X509_VERIFY_PARAM *, SSL_get0_param, (SSL * a0), (a0))
DYNLIB_FN(ssl, const SSL_CIPHER *, SSL_get_current_cipher, (const SSL *a0), (a0))
DYNLIB_FN(ssl, int, SSL_get_error, (const SSL *a0, int a1), (a0, a1))
DYNLIB_FN(ssl, void *, SSL_get_ex_data, (const SSL *a0, int a1), (a0, a1))
DYNLIB_FN(ssl, BIO *, SSL_get_rbio, (const SSL *a0), (a0))
DYNLIB_FN(ssl, const char *, SSL_get_servername, (const SSL *a0, const int a1), (a0, a1))
DYNLIB_FN(ssl, long, SSL_get_verify_result, (const SSL *a0), (a0))
DYNLIB_FN(ssl, const char *, SSL_get_version, (const SSL *a0), (a0))
DYNLIB_FN(ssl, BIO *, SSL_get_wbio, (const SSL *a0), (a0))
DYNLIB_FN(ssl, SSL *, SSL_new, (SSL_CTX * a0), (a0))
DYNLIB_FN(ssl, int, SSL_read, (SSL * a0, void *a1, int a2), (a0, a1, a2))
DYNLIB_FN(ssl, int, SSL_set1_host, (SSL * a0, const char *a1), (a0, a1))
DYNLIB_FN(ssl, SSL_CTX *, SSL_set_SSL_CTX, (SSL * a0, SSL_CTX *a1), (a0, a1))
DYNLIB_VOID(ssl, SSL_set_accept_state, (SSL * a0), (a0))
DYNLIB_VOID(ssl, SSL_set_bio, (SSL * a0, BIO *a1, BIO *a2), (a0, a1, a2))
DYNLIB_FN(ssl, int, SSL_set_ex_data, (SSL * a0, int a1, void *a2), (a0, a1, a2))
DYNLIB_FN(ssl, int, SSL_set_fd, (SSL * a0, int a1), (a0, a1))
DYNLIB_FN(ssl, int, SSL_shutdown, (SSL * a0), (a0))
DYNLIB_FN(ssl, int, SSL_write, (SSL * a0, const void *a1, int a2), (a0, a1, a2))
DYNLIB_FN(ssl, const SSL_METHOD *, TLS_client_method, (void), ())
DYNLIB_FN(ssl, const SSL_METHOD *, TLS_server_method, (void), ())

/* libcrypto */
DYNLIB_VOID(crypto, ASN1_IA5STRING_free, (ASN1_IA5STRING * a0), (a0))
DYNLIB_FN(crypto, ASN1_IA5STRING *, ASN1_IA5STRING_new, (void), ())
DYNLIB_VOID(crypto, ASN1_OCTET_STRING_free, (ASN1_OCTET_STRING * a0), (a0))
DYNLIB_FN(crypto, int, ASN1_STRING_set, (ASN1_STRING * a0, const void *a1, int a2),
          (a0, a1, a2))
DYNLIB_FN(crypto, int, BIO_free, (BIO * a0), (a0))
DYNLIB_FN(crypto, BIO *, BIO_new, (const BIO_METHOD *a0), (a0))
DYNLIB_FN(crypto, int, BIO_read, (BIO * a0, void *a1, int a2), (a0, a1, a2))
DYNLIB_FN(crypto, const BIO_METHOD *, BIO_s_mem, (void), ())
DYNLIB_FN(crypto, int, BIO_write, (BIO * a0, const void *a1, int a2), (a0, a1, a2))
DYNLIB_FN(crypto, BIGNUM *, BN_bin2bn, (const unsigned char *a0, int a1, BIGNUM *a2),
          (a0, a1, a2))
DYNLIB_VOID(crypto, BN_free, (BIGNUM * a0), (a0))
DYNLIB_FN(crypto, ASN1_INTEGER *, BN_to_ASN1_INTEGER, (const BIGNUM *a0, ASN1_INTEGER *a1),
          (a0, a1))
DYNLIB_FN(crypto, int, CRYPTO_get_ex_new_index,
          (int a0, long a1, void *a2, CRYPTO_EX_new(*a3), CRYPTO_EX_dup(*a4),
           CRYPTO_EX_free(*a5)),
          (a0, a1, a2, a3, a4, a5))
DYNLIB_VOID(crypto, ERR_clear_error, (void), ())
DYNLIB_VOID(crypto, ERR_error_string_n, (unsigned long a0, char *a1, size_t a2), (a0, a1, a2))
DYNLIB_FN(crypto, unsigned long, ERR_get_error, (void), ())
DYNLIB_FN(crypto, int, EVP_Digest,
          (const void *a0, size_t a1, unsigned char *a2, unsigned int *a3, const EVP_MD *a4,
           ENGINE *a5),
          (a0, a1, a2, a3, a4, a5))
DYNLIB_FN(crypto, int, EVP_DigestFinal_ex,
          (EVP_MD_CTX * a0, unsigned char *a1, unsigned int *a2), (a0, a1, a2))
DYNLIB_FN(crypto, int, EVP_DigestInit_ex, (EVP_MD_CTX * a0, const EVP_MD *a1, ENGINE *a2),
          (a0, a1, a2))
DYNLIB_FN(crypto, int, EVP_DigestUpdate, (EVP_MD_CTX * a0, const void *a1, size_t a2),
          (a0, a1, a2))
DYNLIB_FN(crypto, int, EVP_EncodeBlock, (unsigned char *a0, const unsigned char *a1, int a2),
          (a0, a1, a2))
DYNLIB_VOID(crypto, EVP_MD_CTX_free, (EVP_MD_CTX * a0), (a0))
DYNLIB_FN(crypto, EVP_MD_CTX *, EVP_MD_CTX_new, (void), ())
DYNLIB_VOID(crypto, EVP_PKEY_free, (EVP_PKEY * a0), (a0))
DYNLIB_FN(crypto, const EVP_MD *, EVP_md5, (void), ())
DYNLIB_FN(crypto, const EVP_MD *, EVP_sha256, (void), ())
DYNLIB_VOID(crypto, GENERAL_NAMES_free, (GENERAL_NAMES * a0), (a0))
DYNLIB_FN(crypto, GENERAL_NAMES *, GENERAL_NAMES_new, (void), ())
DYNLIB_VOID(crypto, GENERAL_NAME_free, (GENERAL_NAME * a0), (a0))
DYNLIB_FN(crypto, GENERAL_NAME *, GENERAL_NAME_new, (void), ())
DYNLIB_VOID(crypto, GENERAL_NAME_set0_value, (GENERAL_NAME * a0, int a1, void *a2),
            (a0, a1, a2))
DYNLIB_FN(crypto, int, OPENSSL_sk_push, (OPENSSL_STACK * a0, const void *a1), (a0, a1))
DYNLIB_FN(crypto, EVP_PKEY *, PEM_read_PrivateKey,
          (FILE * a0, EVP_PKEY **a1, pem_password_cb(*a2), void *a3), (a0, a1, a2, a3))
DYNLIB_FN(crypto, X509 *, PEM_read_X509, (FILE * a0, X509 **a1, pem_password_cb(*a2), void *a3),
          (a0, a1, a2, a3))
DYNLIB_FN(crypto, int, PEM_write_PrivateKey,
          (FILE * a0, const EVP_PKEY *a1, const EVP_CIPHER *a2, const unsigned char *a3, int a4,
           pem_password_cb(*a5), void *a6),
          (a0, a1, a2, a3, a4, a5, a6))
DYNLIB_FN(crypto, int, PEM_write_X509, (FILE * a0, const X509 *a1), (a0, a1))
DYNLIB_FN(crypto, int, RAND_bytes, (unsigned char *a0, int a1), (a0, a1))
DYNLIB_FN(crypto, unsigned char *, SHA1,
          (const unsigned char *a0, size_t a1, unsigned char *a2), (a0, a1, a2))
DYNLIB_FN(crypto, unsigned char *, SHA256,
          (const unsigned char *a0, size_t a1, unsigned char *a2), (a0, a1, a2))
DYNLIB_FN(crypto, X509_EXTENSION *, X509V3_EXT_conf_nid,
          (struct lhash_st_CONF_VALUE * a0, X509V3_CTX *a1, int a2, const char *a3),
          (a0, a1, a2, a3))
DYNLIB_VOID(crypto, X509V3_set_ctx,
            (X509V3_CTX * a0, X509 *a1, X509 *a2, X509_REQ *a3, X509_CRL *a4, int a5),
            (a0, a1, a2, a3, a4, a5))
DYNLIB_VOID(crypto, X509_EXTENSION_free, (X509_EXTENSION * a0), (a0))
DYNLIB_FN(crypto, int, X509_NAME_add_entry_by_NID,
          (X509_NAME * a0, int a1, int a2, const unsigned char *a3, int a4, int a5, int a6),
          (a0, a1, a2, a3, a4, a5, a6))
DYNLIB_FN(crypto, int, X509_VERIFY_PARAM_set1_ip_asc, (X509_VERIFY_PARAM * a0, const char *a1),
          (a0, a1))
DYNLIB_FN(crypto, int, X509_add1_ext_i2d,
          (X509 * a0, int a1, void *a2, int a3, unsigned long a4), (a0, a1, a2, a3, a4))
DYNLIB_FN(crypto, int, X509_add_ext, (X509 * a0, X509_EXTENSION *a1, int a2), (a0, a1, a2))
DYNLIB_FN(crypto, int, X509_check_ca, (X509 * a0), (a0))
DYNLIB_FN(crypto, int, X509_check_private_key, (const X509 *a0, const EVP_PKEY *a1), (a0, a1))
DYNLIB_FN(crypto, int, X509_digest,
          (const X509 *a0, const EVP_MD *a1, unsigned char *a2, unsigned int *a3),
          (a0, a1, a2, a3))
DYNLIB_VOID(crypto, X509_free, (X509 * a0), (a0))
DYNLIB_FN(crypto, ASN1_INTEGER *, X509_get_serialNumber, (X509 * a0), (a0))
DYNLIB_FN(crypto, X509_NAME *, X509_get_subject_name, (const X509 *a0), (a0))
DYNLIB_FN(crypto, ASN1_TIME *, X509_getm_notAfter, (const X509 *a0), (a0))
DYNLIB_FN(crypto, ASN1_TIME *, X509_getm_notBefore, (const X509 *a0), (a0))
DYNLIB_FN(crypto, ASN1_TIME *, X509_gmtime_adj, (ASN1_TIME * a0, long a1), (a0, a1))
DYNLIB_FN(crypto, X509 *, X509_new, (void), ())
DYNLIB_FN(crypto, int, X509_set_issuer_name, (X509 * a0, const X509_NAME *a1), (a0, a1))
DYNLIB_FN(crypto, int, X509_set_pubkey, (X509 * a0, EVP_PKEY *a1), (a0, a1))
DYNLIB_FN(crypto, int, X509_set_version, (X509 * a0, long a1), (a0, a1))
DYNLIB_FN(crypto, int, X509_sign, (X509 * a0, EVP_PKEY *a1, const EVP_MD *a2), (a0, a1, a2))
DYNLIB_FN(crypto, ASN1_TIME *, X509_time_adj_ex, (ASN1_TIME * a0, int a1, long a2, time_t *a3),
          (a0, a1, a2, a3))
DYNLIB_FN(crypto, const char *, X509_verify_cert_error_string, (long a0), (a0))
DYNLIB_FN(crypto, ASN1_OCTET_STRING *, a2i_IPADDRESS, (const char *a0), (a0))

/* Variadic: the key type says what follows. sinktrap asks for RSA keys
 * (EVP_RSA_gen: one size_t, the bits); EC keys take the curve's name. */
EVP_PKEY *EVP_PKEY_Q_keygen(OSSL_LIB_CTX *libctx, const char *propq, const char *type, ...)
{
	EVP_PKEY *(*f)(OSSL_LIB_CTX *, const char *, const char *, ...) =
	    DYNLIB_GET(crypto, EVP_PKEY *, EVP_PKEY_Q_keygen,
	               (OSSL_LIB_CTX *, const char *, const char *, ...));
	va_list ap;
	va_start(ap, type);
	EVP_PKEY *k = NULL;
	if (strcmp(type, "RSA") == 0) {
		size_t bits = va_arg(ap, size_t);
		k = f(libctx, propq, type, bits);
	} else if (strcmp(type, "EC") == 0) {
		const char *curve = va_arg(ap, const char *);
		k = f(libctx, propq, type, curve);
	} else {
		k = f(libctx, propq, type);
	}
	va_end(ap);
	return k;
}

#include "tlsca.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "common/sandbox.h"
#include "common/util.h"

#define RSA_BITS 2048
#define CA_DAYS 3650
#define LEAF_DAYS 365
#define CN_MAX 64 /* ub-common-name (RFC 5280) */
#define NBUCKETS 2048

struct entry {
	char name[TLSCA_NAME_MAX + 1];
	uint32_t hash;
	SSL_CTX *ctx;              /* one reference held by the cache */
	struct entry *hnext;       /* bucket chain */
	struct entry *prev, *next; /* LRU: head is the most recent */
};

struct tlsca {
	pthread_mutex_t mu;
	EVP_PKEY *ca_key, *leaf_key;
	X509 *ca_cert;
	char fingerprint[65];
	struct entry *buckets[NBUCKETS];
	struct entry *head, *tail;
	size_t count, max;
};

/* Report what failed with libcrypto's reason, and empty its error queue. */
static int ossl_fail(char *err, size_t errlen, const char *what)
{
	char reason[256] = "unknown error";
	unsigned long e = ERR_get_error();
	if (e != 0)
		ERR_error_string_n(e, reason, sizeof(reason));
	ERR_clear_error();
	return set_err_code(-EIO, err, errlen, "%s: %s", what, reason);
}

/* ---- names ---- */

static int ldh(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int tlsca_name_clean(const char *name, size_t len, char *out)
{
	char tmp[TLSCA_NAME_MAX + 2];
	struct in_addr a4;
	struct in6_addr a6;

	if (name == NULL || len == 0 || len > TLSCA_NAME_MAX + 1 || memchr(name, '\0', len))
		goto dflt;
	memcpy(tmp, name, len);
	tmp[len] = '\0';
	if (inet_pton(AF_INET, tmp, &a4) == 1) {
		inet_ntop(AF_INET, &a4, out, TLSCA_NAME_MAX + 1);
		return 1;
	}
	if (inet_pton(AF_INET6, tmp, &a6) == 1) {
		inet_ntop(AF_INET6, &a6, out, TLSCA_NAME_MAX + 1);
		return 1;
	}
	if (tmp[len - 1] == '.')
		tmp[--len] = '\0';
	if (len == 0 || len > TLSCA_NAME_MAX)
		goto dflt;
	size_t label = 0;
	for (size_t i = 0; i < len; i++) {
		char c = tmp[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		tmp[i] = c;
		if (c == '.') {
			if (label == 0)
				goto dflt;
			label = 0;
		} else if (!ldh(c) || ++label > 63) {
			goto dflt;
		}
	}
	if (label == 0)
		goto dflt;
	memcpy(out, tmp, len + 1);
	return 1;
dflt:
	memcpy(out, TLSCA_DEFAULT_NAME, sizeof(TLSCA_DEFAULT_NAME));
	return 0;
}

/* ---- certificates ---- */

static int serial_random(X509 *x)
{
	unsigned char b[16];
	int ok = 0;
	if (RAND_bytes(b, sizeof(b)) != 1)
		return 0;
	b[0] &= 0x7f; /* positive */
	b[0] |= 0x40; /* and never zero or short */
	BIGNUM *bn = BN_bin2bn(b, sizeof(b), NULL);
	if (bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL)
		ok = 1;
	BN_free(bn);
	return ok;
}

/* Add one extension from its OpenSSL config text. */
static int ext_add(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (e == NULL)
		return 0;
	int ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok;
}

/* The parts every certificate here shares. */
static X509 *cert_begin(EVP_PKEY *pub, long days, const char *cn)
{
	X509 *x = X509_new();
	if (x == NULL)
		return NULL;
	X509_NAME *subj = X509_get_subject_name(x);
	if (!X509_set_version(x, 2) || !serial_random(x) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -86400) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL) == NULL ||
	    !X509_set_pubkey(x, pub) ||
	    (cn != NULL && !X509_NAME_add_entry_by_NID(subj, NID_commonName, MBSTRING_ASC,
	                                               (const unsigned char *)cn, -1, -1, 0))) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static X509 *ca_cert_make(EVP_PKEY *key, char *err, size_t errlen)
{
	X509 *x = cert_begin(key, CA_DAYS, TLSCA_CA_CN);
	if (x == NULL || !X509_set_issuer_name(x, X509_get_subject_name(x)) ||
	    !ext_add(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
	    !ext_add(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    !ext_add(x, x, NID_subject_key_identifier, "hash") ||
	    !ext_add(x, x, NID_authority_key_identifier, "keyid:always") ||
	    !X509_sign(x, key, EVP_sha256())) {
		X509_free(x);
		ossl_fail(err, errlen, "making the CA certificate");
		return NULL;
	}
	return x;
}

static int san_add(X509 *x, const char *name, int critical)
{
	GENERAL_NAMES *gens = GENERAL_NAMES_new();
	GENERAL_NAME *gen = NULL;
	ASN1_OCTET_STRING *ip = a2i_IPADDRESS(name);
	int ok = 0;

	if (gens == NULL)
		goto out;
	if (ip != NULL) {
		gen = GENERAL_NAME_new();
		if (gen == NULL)
			goto out;
		GENERAL_NAME_set0_value(gen, GEN_IPADD, ip);
		ip = NULL;
	} else {
		ASN1_IA5STRING *dns = ASN1_IA5STRING_new();
		if (dns == NULL || !ASN1_STRING_set(dns, name, -1) ||
		    (gen = GENERAL_NAME_new()) == NULL) {
			ASN1_IA5STRING_free(dns);
			goto out;
		}
		GENERAL_NAME_set0_value(gen, GEN_DNS, dns);
	}
	if (!sk_GENERAL_NAME_push(gens, gen)) {
		GENERAL_NAME_free(gen);
		goto out;
	}
	ok =
	    X509_add1_ext_i2d(x, NID_subject_alt_name, gens, critical, X509V3_ADD_DEFAULT) == 1;
out:
	ASN1_OCTET_STRING_free(ip);
	GENERAL_NAMES_free(gens);
	return ok;
}

/* name is clean (tlsca_name_clean). */
static X509 *leaf_make(struct tlsca *ca, const char *name, char *err, size_t errlen)
{
	/* A name too long for a CN goes in the SAN alone, which is then critical. */
	int has_cn = strlen(name) <= CN_MAX;
	X509 *x = cert_begin(ca->leaf_key, LEAF_DAYS, has_cn ? name : NULL);
	if (x == NULL || !X509_set_issuer_name(x, X509_get_subject_name(ca->ca_cert)) ||
	    !ext_add(x, ca->ca_cert, NID_basic_constraints, "critical,CA:FALSE") ||
	    !ext_add(x, ca->ca_cert, NID_key_usage,
	             "critical,digitalSignature,keyEncipherment") ||
	    !ext_add(x, ca->ca_cert, NID_ext_key_usage, "serverAuth") ||
	    !ext_add(x, ca->ca_cert, NID_subject_key_identifier, "hash") ||
	    !ext_add(x, ca->ca_cert, NID_authority_key_identifier, "keyid:always") ||
	    !san_add(x, name, !has_cn) || !X509_sign(x, ca->ca_key, EVP_sha256())) {
		X509_free(x);
		ossl_fail(err, errlen, "making a certificate");
		return NULL;
	}
	return x;
}

/* ---- contexts ---- */

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	/* The trap's HTTP speaks 1.1: chosen when offered, else no ALPN at all. */
	for (unsigned int i = 0; i < inlen;) {
		unsigned int l = in[i];
		if (i + 1 + l > inlen)
			break;
		if (l == 8 && !memcmp(in + i + 1, "http/1.1", 8)) {
			*out = in + i + 1;
			*outlen = (unsigned char)l;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + l;
	}
	return SSL_TLSEXT_ERR_NOACK;
}

int tlsca_ctx_configure(SSL_CTX *ctx)
{
	/* Old malware speaks old TLS: accept what the library still can. */
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION) != 1)
		return -1;
	SSL_CTX_set_security_level(ctx, 0);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	return 0;
}

static SSL_CTX *ctx_make(struct tlsca *ca, const char *name, char *err, size_t errlen)
{
	X509 *leaf = leaf_make(ca, name, err, errlen);
	if (leaf == NULL)
		return NULL;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL || tlsca_ctx_configure(ctx) < 0 ||
	    SSL_CTX_use_certificate(ctx, leaf) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, ca->leaf_key) != 1 ||
	    SSL_CTX_add1_chain_cert(ctx, ca->ca_cert) != 1) {
		SSL_CTX_free(ctx);
		X509_free(leaf);
		ossl_fail(err, errlen, "setting up a TLS context");
		return NULL;
	}
	X509_free(leaf);
	return ctx;
}

/* ---- files ---- */

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0; /* never prompt: an encrypted ca.key fails to load */
}

/*
 * The CA directory, opened once: every file in it is read and written
 * through dfd, never by a path looked up again, so a directory renamed away
 * and replaced by a link meanwhile (its parent may be the workers' user's)
 * sends nothing elsewhere.
 */
struct cadir {
	const char *path; /* for messages */
	int dfd;
	uid_t owner;
};

/*
 * Whose files are taken: root's, this process's user's, or those of the
 * directory's owner (the workers' user, when root reads what it was given).
 */
static int owner_ok(const struct cadir *d, uid_t uid)
{
	return uid == 0 || uid == geteuid() || uid == d->owner;
}

/*
 * Load a PEM key or certificate; -ENOENT if the file is not there. Only a
 * regular file with one name, of an owner owner_ok() accepts, is read, never
 * through a link and never a FIFO: the CA directory belongs to the workers'
 * user, and it is read as root. Its stat in *st.
 */
static int pem_load(const struct cadir *d, const char *file, struct stat *st, EVP_PKEY **key,
                    X509 **cert, char *err, size_t errlen)
{
	char why[128];
	int fd = open_plain_at(d->dfd, file, st, why, sizeof(why));
	if (fd == -ENOENT)
		return -ENOENT;
	if (fd < 0)
		return set_err_code(
		    fd, err, errlen,
		    "%s/%s: %s: not read (only a regular file with one name is)", d->path, file,
		    why);
	if (!owner_ok(d, st->st_uid)) {
		close(fd);
		return set_err_code(
		    -EPERM, err, errlen,
		    "%s/%s: not read: it belongs to uid %u, neither to root nor "
		    "to the directory's owner",
		    d->path, file, (unsigned)st->st_uid);
	}
	FILE *fp = fdopen(fd, "r");
	if (fp == NULL) {
		int e = errno;
		close(fd);
		return set_err_code(-e, err, errlen, "%s/%s: %s", d->path, file, strerror(e));
	}
	if (key != NULL)
		*key = PEM_read_PrivateKey(fp, NULL, no_passphrase, NULL);
	else
		*cert = PEM_read_X509(fp, NULL, no_passphrase, NULL);
	fclose(fp);
	if ((key != NULL && *key == NULL) || (cert != NULL && *cert == NULL)) {
		char what[600];
		snprintf(what, sizeof(what), "reading %s/%s", d->path, file);
		return ossl_fail(err, errlen, what);
	}
	return 0;
}

/* Larger than any PEM written here (an RSA 2048 key is 1.7 KB). */
#define PEM_MAX 16384

/*
 * Publish a PEM file in the directory (write_file_at): written in full under
 * a temporary name, then given its name only if it is free (-EEXIST then:
 * someone else was first, and nothing is replaced).
 */
static int pem_publish(const struct cadir *d, const char *file, mode_t mode, EVP_PKEY *key,
                       X509 *cert, char *err, size_t errlen)
{
	/* In memory first, unbuffered: no copy of a key is left in a stdio buffer. */
	char buf[PEM_MAX];
	int rc = 0;
	FILE *fp = fmemopen(buf, sizeof(buf), "w");
	if (fp == NULL)
		return set_err_code(-errno, err, errlen, "%s/%s: %s", d->path, file,
		                    strerror(errno));
	setvbuf(fp, NULL, _IONBF, 0);
	int ok = key != NULL ? PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL)
	                     : PEM_write_X509(fp, cert);
	long n = ok ? ftell(fp) : -1;
	fclose(fp);
	if (!ok || n <= 0 || n >= (long)sizeof(buf)) {
		rc = ok ? set_err_code(-EIO, err, errlen, "%s/%s: PEM too large", d->path, file)
		        : ossl_fail(err, errlen, "writing PEM");
		goto out;
	}
	rc = write_file_at(d->dfd, file, mode, buf, (size_t)n);
	if (rc < 0 && rc != -EEXIST)
		set_err(err, errlen, "%s/%s: %s", d->path, file, strerror(-rc));
out:
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

/*
 * Open the CA directory, making it (mode 0700) if it is missing: its parent
 * reached as sandbox_open_dir() does (a link followed only where nobody but
 * root could have made it), the directory itself never through a link. It
 * must be a directory nobody but its owner can write, and, unless this is
 * root (which reads what it gave the workers' user), this process's user's or
 * root's. A descriptor, or -errno with the reason in err.
 */
static int cadir_open(const char *dir, uid_t *owner, char *err, size_t errlen)
{
	char parent[PATH_MAX], why[PATH_MAX + 256];
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (n >= sizeof(parent))
		return set_err_code(-ENAMETOOLONG, err, errlen, "%s: path too long", dir);
	memcpy(parent, dir, n);
	parent[n] = '\0';
	char *slash = strrchr(parent, '/');
	const char *base = slash ? slash + 1 : parent, *in = parent;
	if (base[0] == '\0' || !strcmp(base, ".") || !strcmp(base, "..")) {
		base = "."; /* "/", "x/.", "..": the directory is reached whole */
	} else if (slash == parent) {
		in = "/"; /* "/ca" */
	} else if (slash != NULL) {
		*slash = '\0'; /* "x/ca": in "x" */
	} else {
		in = "."; /* "ca" */
	}

	int pfd = sandbox_open_dir(in, why, sizeof(why));
	if (pfd < 0)
		return set_err_code(pfd, err, errlen, "%s: %s", dir, why);
	if (mkdirat(pfd, base, 0700) < 0 && errno != EEXIST) {
		int e = errno;
		close(pfd);
		return set_err_code(-e, err, errlen, "%s: %s", dir, strerror(e));
	}
	/* The name itself, never followed: then the directory it is, opened. */
	int nfd = openat(pfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	int e = nfd < 0 ? errno : 0;
	close(pfd);
	struct stat st;
	if (e == 0 && fstat(nfd, &st) < 0)
		e = errno;
	if (e == 0 && !S_ISDIR(st.st_mode))
		e = S_ISLNK(st.st_mode) ? ELOOP : ENOTDIR;
	int dfd = e == 0 ? openat(nfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (e == 0 && dfd < 0)
		e = errno;
	if (nfd >= 0)
		close(nfd);
	if (dfd < 0)
		return set_err_code(-e, err, errlen, "%s: %s", dir,
		                    e == ELOOP ? "a symbolic link: not followed" : strerror(e));
	if (fstat(dfd, &st) < 0) {
		e = errno;
		close(dfd);
		return set_err_code(-e, err, errlen, "%s: %s", dir, strerror(e));
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		close(dfd);
		return set_err_code(-EPERM, err, errlen,
		                    "%s: refused: others than its owner can write in it (mode "
		                    "%04o)",
		                    dir, (unsigned)(st.st_mode & 07777));
	}
	if (geteuid() != 0 && st.st_uid != 0 && st.st_uid != geteuid()) {
		close(dfd);
		return set_err_code(-EPERM, err, errlen, "%s: refused: it belongs to uid %u",
		                    dir, (unsigned)st.st_uid);
	}
	*owner = st.st_uid;
	return dfd;
}

/* A temporary file of a CA write older than this was left by a process that died in it. */
#define TMP_STALE_SECS 60

static void tmp_removed(const char *tmp, void *arg)
{
	const struct cadir *d = arg;
	log_info("%s/%s: removed, left by a CA write that did not finish", d->path, tmp);
}

/* Load the CA from the directory, making and publishing whatever part is missing. */
static int ca_load_or_make(struct tlsca *ca, const struct cadir *d, char *err, size_t errlen)
{
	/* A race with another process costs a retry: its files win. */
	for (int attempt = 0; attempt < 3; attempt++) {
		EVP_PKEY *key = NULL;
		X509 *cert = NULL;
		struct stat st;
		int rc = pem_load(d, "ca.key", &st, &key, NULL, err, errlen);
		if (rc == -ENOENT) {
			/* Without a key, a lone certificate is useless: refuse to guess. */
			if (fstatat(d->dfd, "ca.crt", &st, AT_SYMLINK_NOFOLLOW) == 0 ||
			    errno != ENOENT)
				return set_err_code(-EEXIST, err, errlen,
				                    "%s/ca.crt exists without %s/ca.key: "
				                    "remove it or restore the key",
				                    d->path, d->path);
			key = EVP_RSA_gen(RSA_BITS);
			if (key == NULL)
				return ossl_fail(err, errlen, "making the CA key");
			rc = pem_publish(d, "ca.key", 0600, key, NULL, err, errlen);
			if (rc == -EEXIST) {
				EVP_PKEY_free(key);
				continue;
			}
			if (rc < 0) {
				EVP_PKEY_free(key);
				return rc;
			}
			log_info("made a new CA key in %s/ca.key", d->path);
		} else if (rc < 0) {
			return rc;
		} else if ((st.st_mode & 077) != 0) {
			log_warnx("%s/ca.key is readable by others (mode %03o)", d->path,
			          (unsigned)(st.st_mode & 0777));
		}

		rc = pem_load(d, "ca.crt", &st, NULL, &cert, err, errlen);
		if (rc == -ENOENT) {
			cert = ca_cert_make(key, err, errlen);
			if (cert == NULL) {
				EVP_PKEY_free(key);
				return -EIO;
			}
			rc = pem_publish(d, "ca.crt", 0644, NULL, cert, err, errlen);
			if (rc == -EEXIST) {
				X509_free(cert);
				EVP_PKEY_free(key);
				continue;
			}
			if (rc < 0) {
				X509_free(cert);
				EVP_PKEY_free(key);
				return rc;
			}
		} else if (rc < 0) {
			EVP_PKEY_free(key);
			return rc;
		}

		if (X509_check_private_key(cert, key) != 1 || X509_check_ca(cert) < 1) {
			X509_free(cert);
			EVP_PKEY_free(key);
			ERR_clear_error();
			return set_err_code(-EINVAL, err, errlen,
			                    "%s/ca.crt is not a CA certificate for %s/ca.key",
			                    d->path, d->path);
		}
		ca->ca_key = key;
		ca->ca_cert = cert;
		return 0;
	}
	return set_err_code(-EAGAIN, err, errlen, "%s: CA files keep changing", d->path);
}

/* ---- the CA and its cache ---- */

static pthread_once_t exidx_once = PTHREAD_ONCE_INIT;
static int exidx = -1;

static void exidx_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                       void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	free(ptr);
}

static void exidx_init(void)
{
	exidx = SSL_get_ex_new_index(0, NULL, NULL, NULL, exidx_free);
}

int tlsca_open(const char *dir, struct tlsca **out, char *err, size_t errlen)
{
	*out = NULL;
	if (dir == NULL || dir[0] == '\0')
		return set_err_code(-EINVAL, err, errlen, "no CA directory");
	pthread_once(&exidx_once, exidx_init);
	if (exidx < 0)
		return ossl_fail(err, errlen, "SSL ex_data index");

	struct tlsca *ca = calloc(1, sizeof(*ca));
	if (ca == NULL)
		return set_err_code(-ENOMEM, err, errlen, "out of memory");
	pthread_mutex_init(&ca->mu, NULL);
	ca->max = TLSCA_CACHE_DEFAULT;
	struct cadir d = {.path = dir};
	int rc = d.dfd = cadir_open(dir, &d.owner, err, errlen);
	if (rc >= 0) {
		sweep_tmp_at(d.dfd, "ca.key", TMP_STALE_SECS, tmp_removed, &d);
		sweep_tmp_at(d.dfd, "ca.crt", TMP_STALE_SECS, tmp_removed, &d);
		rc = ca_load_or_make(ca, &d, err, errlen);
		close(d.dfd);
	}
	if (rc < 0) {
		tlsca_close(&ca);
		return rc;
	}
	ca->leaf_key = EVP_RSA_gen(RSA_BITS);
	if (ca->leaf_key == NULL) {
		tlsca_close(&ca);
		return ossl_fail(err, errlen, "making the certificate key");
	}
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	X509_digest(ca->ca_cert, EVP_sha256(), md, &n);
	for (unsigned i = 0; i < n && i < 32; i++)
		snprintf(ca->fingerprint + 2 * i, 3, "%02x", md[i]);
	*out = ca;
	return 0;
}

static void lru_unlink(struct tlsca *ca, struct entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		ca->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		ca->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push(struct tlsca *ca, struct entry *e)
{
	e->prev = NULL;
	e->next = ca->head;
	if (ca->head)
		ca->head->prev = e;
	ca->head = e;
	if (ca->tail == NULL)
		ca->tail = e;
}

static void entry_drop(struct tlsca *ca, struct entry *e)
{
	struct entry **pp = &ca->buckets[e->hash % NBUCKETS];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(ca, e);
	SSL_CTX_free(e->ctx);
	free(e);
	ca->count--;
}

static void cache_trim(struct tlsca *ca)
{
	while (ca->count > ca->max && ca->tail != NULL)
		entry_drop(ca, ca->tail);
}

void tlsca_close(struct tlsca **cap)
{
	struct tlsca *ca = *cap;
	if (ca == NULL)
		return;
	while (ca->head != NULL)
		entry_drop(ca, ca->head);
	EVP_PKEY_free(ca->ca_key);
	EVP_PKEY_free(ca->leaf_key);
	X509_free(ca->ca_cert);
	pthread_mutex_destroy(&ca->mu);
	free(ca);
	*cap = NULL;
}

void tlsca_cache_limit(struct tlsca *ca, size_t max)
{
	pthread_mutex_lock(&ca->mu);
	ca->max = max ? max : 1;
	cache_trim(ca);
	pthread_mutex_unlock(&ca->mu);
}

size_t tlsca_cache_count(struct tlsca *ca)
{
	pthread_mutex_lock(&ca->mu);
	size_t n = ca->count;
	pthread_mutex_unlock(&ca->mu);
	return n;
}

static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

int tlsca_cert_for(struct tlsca *ca, const char *name, size_t len, SSL_CTX **out, char *err,
                   size_t errlen)
{
	char clean[TLSCA_NAME_MAX + 1];
	*out = NULL;
	if (ca == NULL)
		return set_err_code(-EINVAL, err, errlen, "no CA");
	tlsca_name_clean(name, len, clean);
	uint32_t h = fnv1a(clean);

	pthread_mutex_lock(&ca->mu);
	struct entry *e = ca->buckets[h % NBUCKETS];
	while (e != NULL && (e->hash != h || strcmp(e->name, clean) != 0))
		e = e->hnext;
	if (e != NULL) {
		lru_unlink(ca, e);
		lru_push(ca, e);
	} else {
		SSL_CTX *ctx = ctx_make(ca, clean, err, errlen);
		if (ctx == NULL) {
			pthread_mutex_unlock(&ca->mu);
			return -EIO;
		}
		e = calloc(1, sizeof(*e));
		if (e == NULL) {
			pthread_mutex_unlock(&ca->mu);
			SSL_CTX_free(ctx);
			return set_err_code(-ENOMEM, err, errlen, "out of memory");
		}
		memcpy(e->name, clean, sizeof(clean));
		e->hash = h;
		e->ctx = ctx;
		e->hnext = ca->buckets[h % NBUCKETS];
		ca->buckets[h % NBUCKETS] = e;
		lru_push(ca, e);
		ca->count++;
		/* Take the caller's reference before a trim could drop the entry. */
		SSL_CTX_up_ref(ctx);
		*out = ctx;
		cache_trim(ca);
		pthread_mutex_unlock(&ca->mu);
		return 0;
	}
	SSL_CTX_up_ref(e->ctx);
	*out = e->ctx;
	pthread_mutex_unlock(&ca->mu);
	return 0;
}

static int sni_cb(SSL *ssl, int *alert, void *arg)
{
	struct tlsca *ca = arg;
	char clean[TLSCA_NAME_MAX + 1];
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	(void)alert;

	if (name == NULL || !tlsca_name_clean(name, strlen(name), clean)) {
		const char *fallback = SSL_get_ex_data(ssl, exidx);
		name = fallback != NULL ? fallback : TLSCA_DEFAULT_NAME;
	}
	SSL_CTX *ctx = NULL;
	if (tlsca_cert_for(ca, name, strlen(name), &ctx, NULL, 0) == 0) {
		/* The SSL takes its own reference, and from now on that context's
		 * security level and ALPN callback: the same as the default's
		 * (tlsca_ctx_configure). */
		SSL_set_SSL_CTX(ssl, ctx);
		SSL_CTX_free(ctx);
	} else {
		ERR_clear_error(); /* keep the default certificate */
	}
	return SSL_TLSEXT_ERR_OK;
}

int tlsca_install_sni_cb(SSL_CTX *default_ctx, struct tlsca *ca, char *err, size_t errlen)
{
	SSL_CTX *dflt = NULL;
	int rc = tlsca_cert_for(ca, TLSCA_DEFAULT_NAME, strlen(TLSCA_DEFAULT_NAME), &dflt, err,
	                        errlen);
	if (rc < 0)
		return rc;
	X509 *leaf = SSL_CTX_get0_certificate(dflt);
	if (tlsca_ctx_configure(default_ctx) < 0 ||
	    SSL_CTX_use_certificate(default_ctx, leaf) != 1 ||
	    SSL_CTX_use_PrivateKey(default_ctx, ca->leaf_key) != 1 ||
	    SSL_CTX_add1_chain_cert(default_ctx, ca->ca_cert) != 1) {
		SSL_CTX_free(dflt);
		return ossl_fail(err, errlen, "default certificate");
	}
	SSL_CTX_free(dflt);
	SSL_CTX_set_tlsext_servername_callback(default_ctx, sni_cb);
	SSL_CTX_set_tlsext_servername_arg(default_ctx, ca);
	return 0;
}

int tlsca_ssl_set_name(struct tlsca *ca, SSL *ssl, const char *name)
{
	char clean[TLSCA_NAME_MAX + 1];
	char *copy = NULL;
	(void)ca;
	/* A name that does not clean up means "no fallback": the default then. */
	if (name != NULL && tlsca_name_clean(name, strlen(name), clean)) {
		copy = strdup(clean);
		if (copy == NULL)
			return -ENOMEM;
	}
	char *old = SSL_get_ex_data(ssl, exidx);
	if (SSL_set_ex_data(ssl, exidx, copy) != 1) {
		free(copy);
		return -ENOMEM;
	}
	free(old);
	return 0;
}

X509 *tlsca_ca_cert(struct tlsca *ca)
{
	return ca->ca_cert;
}

void tlsca_ca_fingerprint(struct tlsca *ca, char out[65])
{
	memcpy(out, ca->fingerprint, 65);
}

/*
 * The local CA: made once in a temporary directory, loaded again, leaf
 * certificates checked with X509_verify_cert, and real TLS handshakes over a
 * socketpair between an OpenSSL client that verifies against the CA and a
 * server context switched by the SNI callback.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "trap/tlsca.h"

struct fixture {
	char dir[256]; /* the temporary directory; the CA is in dir/ca */
	char cadir[300];
	struct tlsca *ca;
};

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* One CA for the whole group (RSA keys are slow to make); tests that need
 * a fresh one make it in a directory of their own. */
static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];
	snprintf(f->dir, sizeof(f->dir), "/tmp/sinktrap-tlsca-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->cadir, sizeof(f->cadir), "%s/ca", f->dir);
	if (tlsca_open(f->cadir, &f->ca, err, sizeof(err)) != 0) {
		fprintf(stderr, "tlsca_open: %s\n", err);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	tlsca_close(&f->ca);
	nftw(f->dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Verify leaf against the CA alone, for TLS server use. */
static int verify_leaf(struct tlsca *ca, X509 *leaf)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509_STORE_add_cert(store, tlsca_ca_cert(ca));
	X509_STORE_CTX_init(ctx, store, leaf, NULL);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
	int ok = X509_verify_cert(ctx);
	if (ok != 1)
		fprintf(stderr, "verify: %s\n",
		        X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return ok;
}

/* The certificate's only subjectAltName as text ("DNS:x" / "IP:x"), or "". */
static void san_only(X509 *x, char *out, size_t len)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	out[0] = '\0';
	assert_non_null(gens);
	assert_int_equal(sk_GENERAL_NAME_num(gens), 1);
	GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, 0);
	if (g->type == GEN_DNS) {
		snprintf(out, len, "DNS:%.*s", ASN1_STRING_length(g->d.dNSName),
		         (const char *)ASN1_STRING_get0_data(g->d.dNSName));
	} else if (g->type == GEN_IPADD) {
		char ip[INET6_ADDRSTRLEN] = "?";
		int n = ASN1_STRING_length(g->d.iPAddress);
		inet_ntop(n == 16 ? AF_INET6 : AF_INET, ASN1_STRING_get0_data(g->d.iPAddress),
		          ip, sizeof(ip));
		snprintf(out, len, "IP:%s", ip);
	}
	GENERAL_NAMES_free(gens);
}

static void cn_of(X509 *x, char *out, size_t len)
{
	out[0] = '\0';
	X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out, (int)len);
}

/* Days from now to t (negative: in the past). */
static double days_from_now(const ASN1_TIME *t)
{
	int days, secs;
	assert_int_equal(ASN1_TIME_diff(&days, &secs, NULL, t), 1);
	return days + secs / 86400.0;
}

static void test_ca_made(void **state)
{
	struct fixture *f = *state;
	char path[400], cn[128];
	struct stat st;
	X509 *ca = tlsca_ca_cert(f->ca);

	snprintf(path, sizeof(path), "%s/ca.key", f->cadir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/ca.crt", f->cadir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_int_equal(stat(f->cadir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	cn_of(ca, cn, sizeof(cn));
	assert_string_equal(cn, TLSCA_CA_CN);
	assert_int_equal(X509_check_ca(ca), 1);
	assert_true(X509_get_extension_flags(ca) & EXFLAG_CA);
	assert_true(X509_get_key_usage(ca) & KU_KEY_CERT_SIGN);
	assert_int_equal(X509_check_issued(ca, ca), X509_V_OK);
	double left = days_from_now(X509_get0_notAfter(ca));
	assert_true(left > 3649 && left < 3651);
	assert_true(days_from_now(X509_get0_notBefore(ca)) <= -0.9);
	/* The files hold what is in memory. */
	FILE *fp = fopen(path, "r");
	X509 *disk = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_int_equal(X509_cmp(disk, ca), 0);
	X509_free(disk);
	char fp1[65];
	tlsca_ca_fingerprint(f->ca, fp1);
	assert_int_equal(strlen(fp1), 64);
	/* No temporary file left behind. */
	DIR *d = opendir(f->cadir);
	struct dirent *de;
	int files = 0;
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		assert_true(strcmp(de->d_name, "ca.key") == 0 ||
		            strcmp(de->d_name, "ca.crt") == 0);
		files++;
	}
	closedir(d);
	assert_int_equal(files, 2);
}

static void test_reopen_same_ca(void **state)
{
	struct fixture *f = *state;
	char err[256], fp1[65], fp2[65];
	struct tlsca *again = NULL;
	SSL_CTX *ctx = NULL;

	tlsca_ca_fingerprint(f->ca, fp1);
	assert_int_equal(tlsca_open(f->cadir, &again, err, sizeof(err)), 0);
	tlsca_ca_fingerprint(again, fp2);
	assert_string_equal(fp1, fp2);
	/* A leaf from the reopened CA verifies against the first one. */
	assert_int_equal(tlsca_cert_for(again, "evil.example", 12, &ctx, err, sizeof(err)), 0);
	assert_int_equal(verify_leaf(f->ca, SSL_CTX_get0_certificate(ctx)), 1);
	SSL_CTX_free(ctx);
	tlsca_close(&again);
	assert_null(again);
}

/* A CA file replaced by a link, a second name or a FIFO (the directory is
 * the workers' user's, and it is read as root): refused at once, never
 * followed, never waited on. */
static void test_planted_files_are_not_read(void **state)
{
	struct fixture *f = *state;
	char err[256], dir[400], key[450], other[450];
	struct tlsca *ca = NULL;
	snprintf(dir, sizeof(dir), "%s/planted", f->dir);
	snprintf(key, sizeof(key), "%s/ca.key", dir);
	snprintf(other, sizeof(other), "%s/ca/ca.key", f->dir);
	assert_int_equal(mkdir(dir, 0700), 0);

	assert_int_equal(symlink(other, key), 0);
	assert_int_equal(tlsca_open(dir, &ca, err, sizeof(err)), -ELOOP);
	assert_non_null(strstr(err, "symbolic link"));
	assert_int_equal(unlink(key), 0);

	assert_int_equal(link(other, key), 0);
	assert_true(tlsca_open(dir, &ca, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "one name"));
	assert_int_equal(unlink(key), 0);

	assert_int_equal(mkfifo(key, 0600), 0);
	assert_true(tlsca_open(dir, &ca, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "not a regular file"));
	assert_int_equal(unlink(key), 0);
	assert_null(ca);
}

static void test_cert_for_name(void **state)
{
	struct fixture *f = *state;
	char err[256], san[300], cn[128];
	SSL_CTX *ctx = NULL, *ctx2 = NULL;

	assert_int_equal(tlsca_cert_for(f->ca, "evil.example", 12, &ctx, err, sizeof(err)), 0);
	X509 *leaf = SSL_CTX_get0_certificate(ctx);
	assert_non_null(leaf);
	assert_int_equal(verify_leaf(f->ca, leaf), 1);
	san_only(leaf, san, sizeof(san));
	assert_string_equal(san, "DNS:evil.example");
	cn_of(leaf, cn, sizeof(cn));
	assert_string_equal(cn, "evil.example");
	assert_int_equal(X509_check_host(leaf, "evil.example", 0, 0, NULL), 1);
	assert_int_not_equal(X509_check_host(leaf, "c2.evil.example", 0, 0, NULL), 1);
	assert_int_equal(X509_check_ca(leaf), 0);
	assert_true(X509_get_extended_key_usage(leaf) & XKU_SSL_SERVER);
	double nb = days_from_now(X509_get0_notBefore(leaf));
	double na = days_from_now(X509_get0_notAfter(leaf));
	assert_true(nb < -0.99 && nb > -1.01);
	assert_true(na > 364.9 && na < 365.1);
	/* The CA follows the leaf in the chain. */
	STACK_OF(X509) *chain = NULL;
	assert_int_equal(SSL_CTX_get0_chain_certs(ctx, &chain), 1);
	assert_int_equal(sk_X509_num(chain), 1);
	assert_int_equal(X509_cmp(sk_X509_value(chain, 0), tlsca_ca_cert(f->ca)), 0);

	/* Another name: another serial, the same shared key. */
	assert_int_equal(tlsca_cert_for(f->ca, "other.example", 13, &ctx2, err, sizeof(err)),
	                 0);
	X509 *leaf2 = SSL_CTX_get0_certificate(ctx2);
	assert_int_not_equal(
	    ASN1_INTEGER_cmp(X509_get0_serialNumber(leaf), X509_get0_serialNumber(leaf2)), 0);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(leaf), X509_get0_pubkey(leaf2)), 1);
	SSL_CTX_free(ctx);
	SSL_CTX_free(ctx2);
}

static void test_cache(void **state)
{
	struct fixture *f = *state;
	char err[256];
	tlsca_cache_limit(f->ca, 1); /* start empty of these names */
	SSL_CTX *a, *a2, *a3, *b, *c, *d, *b2;

	assert_int_equal(tlsca_cert_for(f->ca, "a.example", 9, &a, err, sizeof(err)), 0);
	assert_int_equal(tlsca_cert_for(f->ca, "a.example", 9, &a2, err, sizeof(err)), 0);
	assert_ptr_equal(a, a2);
	/* Case and a trailing dot do not make another name. */
	assert_int_equal(tlsca_cert_for(f->ca, "A.Example.", 10, &a3, err, sizeof(err)), 0);
	assert_ptr_equal(a, a3);
	SSL_CTX_free(a2);
	SSL_CTX_free(a3);

	tlsca_cache_limit(f->ca, 3);
	assert_int_equal(tlsca_cert_for(f->ca, "b.example", 9, &b, err, sizeof(err)), 0);
	assert_int_equal(tlsca_cert_for(f->ca, "c.example", 9, &c, err, sizeof(err)), 0);
	assert_int_equal(tlsca_cache_count(f->ca), 3);
	/* Touch a: b is now the least recent and goes when d comes. */
	assert_int_equal(tlsca_cert_for(f->ca, "a.example", 9, &a2, err, sizeof(err)), 0);
	SSL_CTX_free(a2);
	assert_int_equal(tlsca_cert_for(f->ca, "d.example", 9, &d, err, sizeof(err)), 0);
	assert_int_equal(tlsca_cache_count(f->ca), 3);
	assert_int_equal(tlsca_cert_for(f->ca, "a.example", 9, &a2, err, sizeof(err)), 0);
	assert_ptr_equal(a, a2);
	SSL_CTX_free(a2);
	/* b was evicted: a new context (ours still holds the old one). */
	assert_int_equal(tlsca_cert_for(f->ca, "b.example", 9, &b2, err, sizeof(err)), 0);
	assert_ptr_not_equal(b, b2);
	assert_int_equal(verify_leaf(f->ca, SSL_CTX_get0_certificate(b)), 1);
	SSL_CTX_free(b2);
	tlsca_cache_limit(f->ca, 1);
	assert_int_equal(tlsca_cache_count(f->ca), 1);
	SSL_CTX_free(a);
	SSL_CTX_free(b);
	SSL_CTX_free(c);
	SSL_CTX_free(d);
}

/* The default bound holds: TLSCA_CACHE_DEFAULT names, never more. */
static void test_cache_default_bound(void **state)
{
	struct fixture *f = *state;
	char name[64];
	tlsca_cache_limit(f->ca, TLSCA_CACHE_DEFAULT);
	for (int i = 0; i < TLSCA_CACHE_DEFAULT + 5; i++) {
		SSL_CTX *ctx;
		int n = snprintf(name, sizeof(name), "host%d.example", i);
		assert_int_equal(tlsca_cert_for(f->ca, name, (size_t)n, &ctx, NULL, 0), 0);
		SSL_CTX_free(ctx);
	}
	assert_int_equal(tlsca_cache_count(f->ca), TLSCA_CACHE_DEFAULT);
}

static void test_ip_names(void **state)
{
	struct fixture *f = *state;
	char san[300], cn[128], err[256];
	SSL_CTX *ctx;

	assert_int_equal(tlsca_cert_for(f->ca, "192.0.2.7", 9, &ctx, err, sizeof(err)), 0);
	X509 *leaf = SSL_CTX_get0_certificate(ctx);
	assert_int_equal(verify_leaf(f->ca, leaf), 1);
	san_only(leaf, san, sizeof(san));
	assert_string_equal(san, "IP:192.0.2.7");
	cn_of(leaf, cn, sizeof(cn));
	assert_string_equal(cn, "192.0.2.7");
	assert_int_equal(X509_check_ip_asc(leaf, "192.0.2.7", 0), 1);
	SSL_CTX_free(ctx);

	assert_int_equal(tlsca_cert_for(f->ca, "2001:DB8:0::1", 13, &ctx, err, sizeof(err)), 0);
	leaf = SSL_CTX_get0_certificate(ctx);
	san_only(leaf, san, sizeof(san));
	assert_string_equal(san, "IP:2001:db8::1");
	assert_int_equal(X509_check_ip_asc(leaf, "2001:db8::1", 0), 1);
	SSL_CTX_free(ctx);
}

static void test_name_clean(void **state)
{
	(void)state;
	char long_label[80], long_name[300], out[TLSCA_NAME_MAX + 1];
	memset(long_label, 'a', 64);
	memcpy(long_label + 64, ".example", 9);
	memset(long_name, 'a', sizeof(long_name));
	long_name[299] = '\0';
	static const struct {
		const char *in;
		size_t len;
		const char *want; /* NULL: the default name */
	} cases[] = {
	    {"evil.example", 0, "evil.example"},
	    {"EVIL.Example.", 0, "evil.example"},
	    {"under_score-x.example", 0, "under_score-x.example"},
	    {"xn--bcher-kva.example", 0, "xn--bcher-kva.example"},
	    {"localhost", 0, "localhost"},
	    {"10.1.2.3", 0, "10.1.2.3"},
	    {"::FFFF:10.1.2.3", 0, "::ffff:10.1.2.3"},
	    {"../../", 0, NULL},
	    {"../../etc/passwd", 0, NULL},
	    {"evil\0.example", 13, NULL},
	    {"evil.example\0", 13, NULL},
	    {"", 0, NULL},
	    {".", 0, NULL},
	    {"a..b", 0, NULL},
	    {".lead.example", 0, NULL},
	    {"trail.example..", 0, NULL},
	    {"*.example", 0, NULL},
	    {"evil example", 0, NULL},
	    {"evil.example/", 0, NULL},
	    {"evil.example:443", 0, NULL},
	    {"fe80::1%eth0", 0, NULL},
	    {"\xff\xfe", 0, NULL},
	    {"caf\xc3\xa9.example", 0, NULL},
	    {"a\nb", 0, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);
		int ok = tlsca_name_clean(cases[i].in, len, out);
		if (ok != (cases[i].want != NULL) ||
		    strcmp(out, cases[i].want ? cases[i].want : TLSCA_DEFAULT_NAME) != 0)
			fail_msg("case %zu: %d %s", i, ok, out);
	}
	assert_int_equal(tlsca_name_clean(NULL, 0, out), 0);
	assert_string_equal(out, TLSCA_DEFAULT_NAME);
	assert_int_equal(tlsca_name_clean(long_label, strlen(long_label), out), 0);
	long_label[63] = '\0';
	assert_int_equal(tlsca_name_clean(long_label, 63, out), 1); /* 63 is the most */
	assert_int_equal(tlsca_name_clean(long_name, 299, out), 0);

	/* 253 bytes in all is the most (labels of 63). */
	char n253[260];
	for (int i = 0; i < 253; i++)
		n253[i] = (i % 64 == 63) ? '.' : 'b';
	n253[253] = '\0';
	assert_int_equal(tlsca_name_clean(n253, 253, out), 1);
	assert_int_equal(strlen(out), 253);
	n253[253] = '.';
	assert_int_equal(tlsca_name_clean(n253, 254, out), 1); /* trailing dot */
	n253[253] = 'b';
	assert_int_equal(tlsca_name_clean(n253, 254, out), 0);
}

static void test_hostile_names_get_default(void **state)
{
	struct fixture *f = *state;
	char san[300], err[256], big[300];
	SSL_CTX *dflt, *ctx;
	memset(big, 'x', sizeof(big));
	tlsca_cache_limit(f->ca, TLSCA_CACHE_DEFAULT);

	assert_int_equal(tlsca_cert_for(f->ca, NULL, 0, &dflt, err, sizeof(err)), 0);
	san_only(SSL_CTX_get0_certificate(dflt), san, sizeof(san));
	assert_string_equal(san, "DNS:" TLSCA_DEFAULT_NAME);
	const struct {
		const char *s;
		size_t len;
	} hostile[] = {{"../../", 6}, {big, sizeof(big)}, {"a\0b.example", 11}, {"", 0}};
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		assert_int_equal(
		    tlsca_cert_for(f->ca, hostile[i].s, hostile[i].len, &ctx, err, sizeof(err)),
		    0);
		assert_ptr_equal(ctx, dflt);
		SSL_CTX_free(ctx);
	}
	SSL_CTX_free(dflt);
}

/* A name longer than a CN can hold: SAN only, critical, still verifies. */
static void test_long_name(void **state)
{
	struct fixture *f = *state;
	char name[200], san[300], cn[128];
	SSL_CTX *ctx;
	for (int i = 0; i < 150; i++)
		name[i] = (i % 50 == 49 && i < 149) ? '.' : 'l';
	name[150] = '\0';
	assert_int_equal(tlsca_cert_for(f->ca, name, 150, &ctx, NULL, 0), 0);
	X509 *leaf = SSL_CTX_get0_certificate(ctx);
	assert_int_equal(verify_leaf(f->ca, leaf), 1);
	cn_of(leaf, cn, sizeof(cn));
	assert_string_equal(cn, "");
	san_only(leaf, san, sizeof(san));
	assert_string_equal(san + 4, name);
	int crit = -1;
	GENERAL_NAMES_free(X509_get_ext_d2i(leaf, NID_subject_alt_name, &crit, NULL));
	assert_int_equal(crit, 1);
	assert_int_equal(X509_check_host(leaf, name, 0, 0, NULL), 1);
	SSL_CTX_free(ctx);
}

/* ---- real handshakes ---- */

struct server {
	int fd;
	SSL_CTX *ctx;
	struct tlsca *ca;
	const char *fallback;
	int rc;
};

static void *server_main(void *arg)
{
	struct server *s = arg;
	SSL *ssl = SSL_new(s->ctx);
	SSL_set_fd(ssl, s->fd);
	if (s->fallback != NULL)
		tlsca_ssl_set_name(s->ca, ssl, s->fallback);
	s->rc = SSL_accept(ssl);
	if (s->rc == 1)
		SSL_shutdown(ssl);
	SSL_free(ssl);
	close(s->fd);
	return NULL;
}

/*
 * Handshake a verifying client (SNI sni, or none if NULL; host name checked
 * when check_host) with a server using the SNI callback. Returns the peer
 * certificate (caller frees), the verify result in *verify.
 */
static X509 *handshake(struct tlsca *ca, const char *sni, const char *fallback,
                       const char *check_host, int max_version, long *verify)
{
	int sv[2];
	char err[256];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);

	SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
	assert_int_equal(tlsca_install_sni_cb(sctx, ca, err, sizeof(err)), 0);
	struct server srv = {.fd = sv[0], .ctx = sctx, .ca = ca, .fallback = fallback};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, server_main, &srv), 0);

	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	X509_STORE_add_cert(SSL_CTX_get_cert_store(cctx), tlsca_ca_cert(ca));
	SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
	if (max_version)
		SSL_CTX_set_max_proto_version(cctx, max_version);
	SSL *ssl = SSL_new(cctx);
	SSL_set_fd(ssl, sv[1]);
	if (sni != NULL)
		SSL_set_tlsext_host_name(ssl, sni);
	if (check_host != NULL)
		SSL_set1_host(ssl, check_host);
	int rc = SSL_connect(ssl);
	if (rc != 1)
		ERR_print_errors_fp(stderr);
	*verify = SSL_get_verify_result(ssl);
	X509 *peer = SSL_get1_peer_certificate(ssl);
	if (rc == 1)
		SSL_shutdown(ssl);
	SSL_free(ssl);
	close(sv[1]);
	pthread_join(th, NULL);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	assert_int_equal(rc, 1);
	assert_int_equal(srv.rc, 1);
	return peer;
}

static void test_handshake_sni(void **state)
{
	struct fixture *f = *state;
	char san[300];
	long verify;
	static const int versions[] = {0, TLS1_2_VERSION};
	for (size_t i = 0; i < 2; i++) {
		X509 *peer = handshake(f->ca, "c2.evil.example", NULL, "c2.evil.example",
		                       versions[i], &verify);
		assert_int_equal(verify, X509_V_OK);
		san_only(peer, san, sizeof(san));
		assert_string_equal(san, "DNS:c2.evil.example");
		X509_free(peer);
	}
}

static void test_handshake_ip_sni(void **state)
{
	struct fixture *f = *state;
	char san[300];
	long verify;
	X509 *peer = handshake(f->ca, "198.51.100.9", NULL, NULL, 0, &verify);
	assert_int_equal(verify, X509_V_OK);
	san_only(peer, san, sizeof(san));
	assert_string_equal(san, "IP:198.51.100.9");
	X509_free(peer);
}

static void test_handshake_fallbacks(void **state)
{
	struct fixture *f = *state;
	char san[300];
	long verify;

	/* No SNI, a name from the sinkhole map. */
	X509 *peer = handshake(f->ca, NULL, "mapped.example", "mapped.example", 0, &verify);
	assert_int_equal(verify, X509_V_OK);
	san_only(peer, san, sizeof(san));
	assert_string_equal(san, "DNS:mapped.example");
	X509_free(peer);

	/* No SNI, nothing known: the default name. */
	peer = handshake(f->ca, NULL, NULL, TLSCA_DEFAULT_NAME, 0, &verify);
	assert_int_equal(verify, X509_V_OK);
	san_only(peer, san, sizeof(san));
	assert_string_equal(san, "DNS:" TLSCA_DEFAULT_NAME);
	X509_free(peer);

	/* A hostile SNI: the mapped name if there is one, else the default. */
	peer = handshake(f->ca, "../../", "mapped.example", NULL, 0, &verify);
	san_only(peer, san, sizeof(san));
	assert_string_equal(san, "DNS:mapped.example");
	X509_free(peer);
	char big[301];
	memset(big, 'q', 250);
	big[250] = '\0';
	peer = handshake(f->ca, big, NULL, NULL, 0, &verify);
	assert_int_equal(verify, X509_V_OK);
	san_only(peer, san, sizeof(san));
	assert_string_equal(san, "DNS:" TLSCA_DEFAULT_NAME);
	X509_free(peer);
	peer = handshake(f->ca, "x/y..z", NULL, NULL, TLS1_2_VERSION, &verify);
	san_only(peer, san, sizeof(san));
	assert_string_equal(san, "DNS:" TLSCA_DEFAULT_NAME);
	X509_free(peer);
}

/*
 * What the trap serves is the same whatever context the SNI callback switches
 * to: TLS 1.0 and 1.1 at security level 0, and ALPN.
 */
struct old_server {
	int fd;
	SSL_CTX *ctx;
	int rc, seclevel;
	char alpn[32];
};

static void *old_server_main(void *arg)
{
	struct old_server *s = arg;
	SSL *ssl = SSL_new(s->ctx);
	SSL_set_fd(ssl, s->fd);
	s->rc = SSL_accept(ssl);
	s->seclevel = SSL_get_security_level(ssl);
	const unsigned char *a = NULL;
	unsigned int al = 0;
	SSL_get0_alpn_selected(ssl, &a, &al);
	if (a != NULL && al < sizeof(s->alpn)) {
		memcpy(s->alpn, a, al);
		s->alpn[al] = '\0';
	}
	if (s->rc == 1)
		SSL_shutdown(ssl);
	SSL_free(ssl);
	close(s->fd);
	return NULL;
}

/* A client of one version (0: any) offering alpn (wire format, or NULL): 1 when
 * the handshake completed on both sides; the protocol chosen in alpn_out. */
static int old_handshake(struct tlsca *ca, const char *sni, int version,
                         const unsigned char *alpn, unsigned alpn_len, char *alpn_out,
                         size_t alpn_cap, int *seclevel)
{
	int sv[2];
	char err[256];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
	assert_int_equal(tlsca_install_sni_cb(sctx, ca, err, sizeof(err)), 0);
	struct old_server srv = {.fd = sv[0], .ctx = sctx};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, old_server_main, &srv), 0);

	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_security_level(cctx, 0);
	assert_int_equal(SSL_CTX_set_cipher_list(cctx, "DEFAULT:@SECLEVEL=0"), 1);
	if (version) {
		SSL_CTX_set_min_proto_version(cctx, version);
		SSL_CTX_set_max_proto_version(cctx, version);
	}
	if (alpn != NULL)
		assert_int_equal(SSL_CTX_set_alpn_protos(cctx, alpn, alpn_len), 0);
	SSL *ssl = SSL_new(cctx);
	SSL_set_fd(ssl, sv[1]);
	if (sni != NULL)
		SSL_set_tlsext_host_name(ssl, sni);
	int rc = SSL_connect(ssl);
	if (rc != 1)
		ERR_print_errors_fp(stderr);
	else
		assert_int_equal(SSL_version(ssl), version ? version : SSL_version(ssl));
	if (rc == 1)
		SSL_shutdown(ssl);
	SSL_free(ssl);
	close(sv[1]);
	pthread_join(th, NULL);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	ERR_clear_error();
	snprintf(alpn_out, alpn_cap, "%s", srv.alpn);
	*seclevel = srv.seclevel;
	return rc == 1 && srv.rc == 1;
}

static void test_old_versions_and_alpn(void **state)
{
	struct fixture *f = *state;
	static const unsigned char h2_http11[] = "\x02h2\x08http/1.1";
	static const unsigned char h2[] = "\x02h2";
	static const int versions[] = {TLS1_VERSION, TLS1_1_VERSION, TLS1_2_VERSION, 0};
	static const char *const snis[] = {NULL, "old.evil.example", "10.1.2.3"};
	char alpn[32];
	int seclevel;
	for (size_t v = 0; v < sizeof(versions) / sizeof(versions[0]); v++) {
		for (size_t n = 0; n < sizeof(snis) / sizeof(snis[0]); n++) {
			/* With SNI or without, the SSL ends on a name's context. */
			assert_true(old_handshake(f->ca, snis[n], versions[v], h2_http11,
			                          sizeof(h2_http11) - 1, alpn, sizeof(alpn),
			                          &seclevel));
			assert_string_equal(alpn, "http/1.1");
			assert_int_equal(seclevel, 0);
			/* Not offered: no ALPN, and the handshake goes on. */
			assert_true(old_handshake(f->ca, snis[n], versions[v], h2,
			                          sizeof(h2) - 1, alpn, sizeof(alpn),
			                          &seclevel));
			assert_string_equal(alpn, "");
		}
	}
}

/* Every context the CA hands out is configured as the default one is. */
static void test_name_contexts_configured(void **state)
{
	struct fixture *f = *state;
	char err[256];
	SSL_CTX *ctx;
	assert_int_equal(tlsca_cert_for(f->ca, "conf.evil.example", 17, &ctx, err, sizeof(err)),
	                 0);
	SSL_CTX *dflt = SSL_CTX_new(TLS_server_method());
	assert_int_equal(tlsca_install_sni_cb(dflt, f->ca, err, sizeof(err)), 0);
	SSL_CTX *both[] = {ctx, dflt};
	for (int i = 0; i < 2; i++) {
		assert_int_equal(SSL_CTX_get_security_level(both[i]), 0);
		assert_int_equal(SSL_CTX_get_min_proto_version(both[i]), TLS1_VERSION);
		uint64_t o = SSL_CTX_get_options(both[i]);
		assert_true(o & SSL_OP_NO_RENEGOTIATION);
		assert_true(o & SSL_OP_NO_COMPRESSION);
	}
	SSL_CTX_free(dflt);
	SSL_CTX_free(ctx);
}

/* ---- the files ---- */

static void copy_file(const char *from_dir, const char *to_dir, const char *name)
{
	char from[1024], to[1024], buf[8192];
	snprintf(from, sizeof(from), "%s/%s", from_dir, name);
	snprintf(to, sizeof(to), "%s/%s", to_dir, name);
	FILE *in = fopen(from, "r"), *out = fopen(to, "w");
	assert_non_null(in);
	assert_non_null(out);
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	fclose(out);
	chmod(to, 0600);
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void test_files_states(void **state)
{
	struct fixture *f = *state;
	char dir[400], path[500], err[256], fp1[65], fp2[65];
	struct tlsca *ca = NULL;

	/* A key without its certificate: the certificate is made from it. */
	snprintf(dir, sizeof(dir), "%s/keyonly", f->dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	copy_file(f->cadir, dir, "ca.key");
	assert_int_equal(tlsca_open(dir, &ca, err, sizeof(err)), 0);
	/* Same key as the fixture's CA: its public key matches. */
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(tlsca_ca_cert(ca)),
	                             X509_get0_pubkey(tlsca_ca_cert(f->ca))),
	                 1);
	tlsca_close(&ca);

	/* A certificate without its key: refused. */
	snprintf(dir, sizeof(dir), "%s/certonly", f->dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	copy_file(f->cadir, dir, "ca.crt");
	assert_int_equal(tlsca_open(dir, &ca, err, sizeof(err)), -EEXIST);
	assert_null(ca);

	/* Garbage in ca.crt: refused, and left alone. */
	snprintf(dir, sizeof(dir), "%s/garbage", f->dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	copy_file(f->cadir, dir, "ca.key");
	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	write_file(path, "not a certificate\n");
	assert_true(tlsca_open(dir, &ca, err, sizeof(err)) < 0);
	assert_true(err[0] != '\0');

	/* A certificate for another key: refused. */
	snprintf(dir, sizeof(dir), "%s/mismatch", f->dir);
	assert_int_equal(tlsca_open(dir, &ca, err, sizeof(err)), 0);
	tlsca_close(&ca);
	copy_file(f->cadir, dir, "ca.crt");
	assert_int_equal(tlsca_open(dir, &ca, err, sizeof(err)), -EINVAL);

	/* A directory that cannot be made. */
	snprintf(dir, sizeof(dir), "%s/no/such/parent", f->dir);
	assert_int_equal(tlsca_open(dir, &ca, err, sizeof(err)), -ENOENT);

	/* Reopen keeps the fingerprint (from the files, not memory). */
	snprintf(dir, sizeof(dir), "%s/keyonly", f->dir);
	assert_int_equal(tlsca_open(dir, &ca, err, sizeof(err)), 0);
	tlsca_ca_fingerprint(ca, fp1);
	tlsca_close(&ca);
	assert_int_equal(tlsca_open(dir, &ca, err, sizeof(err)), 0);
	tlsca_ca_fingerprint(ca, fp2);
	tlsca_close(&ca);
	assert_string_equal(fp1, fp2);
}

struct racer {
	const char *dir;
	struct tlsca *ca;
	int rc;
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;
	char err[256];
	r->rc = tlsca_open(r->dir, &r->ca, err, sizeof(err));
	return NULL;
}

/* Two openers of a new directory at once agree on one CA. */
static void test_open_race(void **state)
{
	struct fixture *f = *state;
	char dir[400], a[65], b[65];
	snprintf(dir, sizeof(dir), "%s/race", f->dir);
	struct racer r[2] = {{.dir = dir}, {.dir = dir}};
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, racer_main, &r[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(r[0].rc, 0);
	assert_int_equal(r[1].rc, 0);
	tlsca_ca_fingerprint(r[0].ca, a);
	tlsca_ca_fingerprint(r[1].ca, b);
	assert_string_equal(a, b);
	tlsca_close(&r[0].ca);
	tlsca_close(&r[1].ca);
}

/* Entries in dir, but . and .. */
static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/*
 * The CA directory replaced by a link (its parent, the state directory, is
 * the workers' user's; the CA is made as root): the link is not followed and
 * nothing is made where it points.
 */
static void test_linked_dir_not_written(void **state)
{
	struct fixture *f = *state;
	char err[256], link[400], elsewhere[400];
	struct tlsca *ca = NULL;
	snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere", f->dir);
	snprintf(link, sizeof(link), "%s/linked", f->dir);
	assert_int_equal(mkdir(elsewhere, 0700), 0);
	assert_int_equal(symlink(elsewhere, link), 0);
	assert_int_equal(tlsca_open(link, &ca, err, sizeof(err)), -ELOOP);
	assert_non_null(strstr(err, "symbolic link"));
	assert_null(ca);
	assert_int_equal(entries(elsewhere), 0);
	/* with a trailing slash too */
	strcat(link, "/");
	assert_int_equal(tlsca_open(link, &ca, err, sizeof(err)), -ELOOP);
	assert_int_equal(entries(elsewhere), 0);
}

/* Nor is a CA read through a link planted in place of the directory. */
static void test_linked_dir_not_read(void **state)
{
	struct fixture *f = *state;
	char err[256], link[400];
	struct tlsca *ca = NULL;
	snprintf(link, sizeof(link), "%s/linked-ca", f->dir);
	assert_int_equal(symlink(f->cadir, link), 0);
	assert_int_equal(tlsca_open(link, &ca, err, sizeof(err)), -ELOOP);
	assert_non_null(strstr(err, "symbolic link"));
	assert_null(ca);
}

/*
 * A link planted higher up, in a directory the workers' user owns (in place
 * of the state directory, below a base directory of theirs): not followed
 * either, and no CA directory is made where it points.
 */
static void test_linked_parent_not_followed(void **state)
{
	struct fixture *f = *state;
	char err[256], workers[400], victim[400], link[450], dir[500];
	struct tlsca *ca = NULL;
	snprintf(workers, sizeof(workers), "%s/workers", f->dir);
	snprintf(victim, sizeof(victim), "%s/victim", f->dir);
	snprintf(link, sizeof(link), "%s/state", workers);
	snprintf(dir, sizeof(dir), "%s/ca", link);
	assert_int_equal(mkdir(workers, 0700), 0);
	if (geteuid() == 0) /* as the workers' user's; as another user, it is ours */
		assert_int_equal(chown(workers, 65534, 65534), 0);
	assert_int_equal(mkdir(victim, 0700), 0);
	assert_int_equal(symlink(victim, link), 0);
	assert_int_equal(tlsca_open(dir, &ca, err, sizeof(err)), -ELOOP);
	assert_non_null(strstr(err, "symbolic link"));
	assert_null(ca);
	assert_int_equal(entries(victim), 0);
}

/* A CA directory others than its owner can write: anyone could plant a key. */
static void test_dir_others_can_write(void **state)
{
	struct fixture *f = *state;
	char err[256], dir[400];
	struct tlsca *ca = NULL;
	const mode_t modes[] = {0770, 0707, 01777};
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		snprintf(dir, sizeof(dir), "%s/shared%zu", f->dir, i);
		assert_int_equal(mkdir(dir, 0700), 0);
		assert_int_equal(chmod(dir, modes[i]), 0);
		assert_int_equal(tlsca_open(dir, &ca, err, sizeof(err)), -EPERM);
		assert_non_null(strstr(err, "others than its owner can write"));
		assert_null(ca);
		assert_int_equal(entries(dir), 0);
	}
}

/*
 * Root reads the CA it gave the workers' user (the directory and its files
 * theirs); in a directory of its own, a file of another user is not read.
 */
static void test_file_owners(void **state)
{
	struct fixture *f = *state;
	char err[256], dir[400], path[450], a[65], b[65];
	struct tlsca *ca = NULL;
	if (geteuid() != 0)
		skip();
	snprintf(dir, sizeof(dir), "%s/given", f->dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	copy_file(f->cadir, dir, "ca.key");
	copy_file(f->cadir, dir, "ca.crt");
	const char *names[] = {"", "/ca.key", "/ca.crt"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s%s", dir, names[i]);
		assert_int_equal(chown(path, 65534, 65534), 0);
	}
	assert_int_equal(tlsca_open(dir, &ca, err, sizeof(err)), 0);
	tlsca_ca_fingerprint(ca, a);
	tlsca_ca_fingerprint(f->ca, b);
	assert_string_equal(a, b);
	tlsca_close(&ca);

	snprintf(dir, sizeof(dir), "%s/mixed", f->dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	copy_file(f->cadir, dir, "ca.key");
	copy_file(f->cadir, dir, "ca.crt");
	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	assert_int_equal(chown(path, 4242, 4242), 0);
	assert_int_equal(tlsca_open(dir, &ca, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "belongs to uid 4242"));
	assert_null(ca);
}

/* A private key's temporary file left by a process that died writing it goes
 * at the next open, once it is a minute old; a fresh one stays. */
static void test_stale_tmp_removed(void **state)
{
	struct fixture *f = *state;
	char err[256], dir[400], path[450];
	struct tlsca *ca = NULL;
	snprintf(dir, sizeof(dir), "%s/crashed", f->dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	copy_file(f->cadir, dir, "ca.key");
	copy_file(f->cadir, dir, "ca.crt");
	const char *tmps[] = {".ca.key.q1w2e3", ".ca.crt.q1w2e3", ".ca.key.r4t5y6"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, tmps[i]);
		write_file(path, "-----BEGIN PRIVATE KEY-----\n");
		if (i < 2) {
			struct timespec t[2] = {{time(NULL) - 120, 0}, {time(NULL) - 120, 0}};
			assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
		}
	}
	assert_int_equal(tlsca_open(dir, &ca, err, sizeof(err)), 0);
	tlsca_close(&ca);
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, tmps[i]);
		assert_int_equal(access(path, F_OK) == 0, i == 2);
	}
	assert_int_equal(entries(dir), 3);
}

int main(void)
{
	log_level_set(LOG_LVL_WARN);
	signal(SIGPIPE, SIG_IGN); /* a peer may hang up first */
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ca_made),
	    cmocka_unit_test(test_stale_tmp_removed),
	    cmocka_unit_test(test_reopen_same_ca),
	    cmocka_unit_test(test_planted_files_are_not_read),
	    cmocka_unit_test(test_cert_for_name),
	    cmocka_unit_test(test_cache),
	    cmocka_unit_test(test_cache_default_bound),
	    cmocka_unit_test(test_ip_names),
	    cmocka_unit_test(test_name_clean),
	    cmocka_unit_test(test_hostile_names_get_default),
	    cmocka_unit_test(test_long_name),
	    cmocka_unit_test(test_handshake_sni),
	    cmocka_unit_test(test_handshake_ip_sni),
	    cmocka_unit_test(test_handshake_fallbacks),
	    cmocka_unit_test(test_old_versions_and_alpn),
	    cmocka_unit_test(test_name_contexts_configured),
	    cmocka_unit_test(test_files_states),
	    cmocka_unit_test(test_open_race),
	    cmocka_unit_test(test_linked_dir_not_written),
	    cmocka_unit_test(test_linked_dir_not_read),
	    cmocka_unit_test(test_linked_parent_not_followed),
	    cmocka_unit_test(test_dir_others_can_write),
	    cmocka_unit_test(test_file_owners),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

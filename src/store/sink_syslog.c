/*
 * Syslog transports: the host's /dev/log or another datagram socket, UDP,
 * TCP with octet-counted framing (RFC 6587) and TLS (RFC 5425, OpenSSL).
 * Sockets are non-blocking; every wait is a poll with a deadline that also
 * watches the sink's stop descriptor (sink_wait), so a peer that stops
 * reading is noticed, and a stop or a reload never waits for a peer (the
 * store thread is never involved). A host name is looked up in the
 * background (getaddrinfo_a), so that a slow resolver cannot hold a stop up
 * either.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "sink_impl.h"
#include "syslog_fmt.h"

#ifndef SINKTRAP_VERSION
#define SINKTRAP_VERSION "0.1.0"
#endif

#define CONNECT_TIMEOUT_MS 5000
#define LOOKUP_TIMEOUT_MS 10000
#define STALL_TIMEOUT_MS 60000
#define UDP_MAX 65000
#define DGRAM_FALLBACK 8192

struct syslog_sink {
	struct cfg_syslog spec; /* its own copy */
	struct syslog_fmt fmt;
	char hostname[256];
	char app_name[64];
	char *sensor;
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	struct strbuf out, msg;
	struct lookup *lookup;  /* a name lookup still running */
	uint64_t cut, cut_said; /* messages cut to fit a datagram; of them, said */
	int64_t cut_said_ms;
};

/* A name lookup in the background (getaddrinfo_a), with what it reads. */
struct lookup {
	struct gaicb cb;
	struct addrinfo hints;
	char host[256], port[8];
};

static struct syslog_sink *impl(struct sink *s)
{
	return s->impl;
}

static int stream(const struct syslog_sink *y)
{
	return y->spec.transport == SYSLOG_TCP || y->spec.transport == SYSLOG_TLS;
}

static void ssl_err(const char *what, char *err, size_t errlen)
{
	unsigned long e = ERR_get_error();
	char buf[200];
	if (e) {
		ERR_error_string_n(e, buf, sizeof(buf));
		snprintf(err, errlen, "%s: %s", what, buf);
	} else {
		snprintf(err, errlen, "%s: %s", what, errno ? strerror(errno) : "failed");
	}
	ERR_clear_error();
}

static int connect_unix(struct syslog_sink *y, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", y->spec.host);
	y->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (y->fd < 0 || connect(y->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		snprintf(err, errlen, "%s: %s", y->spec.host, strerror(errno));
		return -1;
	}
	return 0;
}

static int is_ip(const char *h);

/*
 * The addresses of host:port: at once for an address, else looked up in the
 * background, the wait ending at a stop. 0, or -1 with err.
 */
static int resolve(struct sink *s, const char *host, int port, int type, struct addrinfo **res,
                   char *err, size_t errlen)
{
	struct syslog_sink *y = impl(s);
	char ports[8];
	snprintf(ports, sizeof(ports), "%d", port);
	if (is_ip(host)) {
		struct addrinfo hints;
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = type;
		hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
		int r = getaddrinfo(host, ports, &hints, res);
		if (r != 0)
			snprintf(err, errlen, "%s: %s", host, gai_strerror(r));
		return r == 0 ? 0 : -1;
	}
	/* The request outlives this call when a stop cuts the wait (the resolver
	 * cannot be cancelled): it is kept until it ends (sy_free). */
	struct lookup *l = y->lookup;
	if (l == NULL) {
		l = y->lookup = xcalloc(1, sizeof(*l));
		snprintf(l->host, sizeof(l->host), "%s", host);
		snprintf(l->port, sizeof(l->port), "%s", ports);
		l->hints.ai_family = AF_UNSPEC;
		l->hints.ai_socktype = type;
		l->cb.ar_name = l->host;
		l->cb.ar_service = l->port;
		l->cb.ar_request = &l->hints;
		struct gaicb *list[1] = {&l->cb};
		int r = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL);
		if (r != 0) {
			free(l);
			y->lookup = NULL;
			snprintf(err, errlen, "%s: %s", host, gai_strerror(r));
			return -1;
		}
	}
	int64_t deadline = mono_ms() + LOOKUP_TIMEOUT_MS;
	const struct gaicb *wait[1] = {&l->cb};
	int r;
	while ((r = gai_error(&l->cb)) == EAI_INPROGRESS) {
		if (sink_stopping(s)) {
			snprintf(err, errlen, "%s: stopped while looking it up", host);
			return -1; /* y->lookup stays: the next call, or sy_free, takes it */
		}
		if (mono_ms() >= deadline) {
			snprintf(err, errlen, "%s: the name lookup takes more than %d s", host,
			         LOOKUP_TIMEOUT_MS / 1000);
			return -1; /* the next try waits for the same lookup */
		}
		struct timespec ts = {0, 100 * 1000000L};
		gai_suspend(wait, 1, &ts);
	}
	y->lookup = NULL;
	*res = l->cb.ar_result;
	free(l);
	if (r != 0) {
		snprintf(err, errlen, "%s: %s", host, gai_strerror(r));
		return -1;
	}
	return 0;
}

static int connect_inet(struct sink *s, int type, char *err, size_t errlen)
{
	struct syslog_sink *y = impl(s);
	struct addrinfo *res = NULL;
	if (resolve(s, y->spec.host, y->spec.port, type, &res, err, errlen) < 0)
		return -1;
	snprintf(err, errlen, "%s:%d: no address", y->spec.host, y->spec.port);
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		if (ai->ai_socktype != type)
			continue;
		int fd =
		    socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			snprintf(err, errlen, "socket: %s", strerror(errno));
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
			snprintf(err, errlen, "%s:%d: %s", y->spec.host, y->spec.port,
			         strerror(errno));
			close(fd);
			continue;
		}
		if (type == SOCK_STREAM) {
			int w = sink_wait(s, fd, POLLOUT, mono_ms() + CONNECT_TIMEOUT_MS, 0),
			    soerr = 0;
			socklen_t sl = sizeof(soerr);
			if (w <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 ||
			    soerr) {
				snprintf(err, errlen, "%s:%d: %s", y->spec.host, y->spec.port,
				         w == 0 ? "connection timed out"
				                : strerror(soerr ? soerr : errno));
				close(fd);
				if (w < 0 && errno == ECANCELED)
					break;
				continue;
			}
		}
		y->fd = fd;
		break;
	}
	freeaddrinfo(res);
	return y->fd >= 0 ? 0 : -1;
}

static int is_ip(const char *h)
{
	struct in6_addr a;
	return inet_pton(AF_INET, h, &a) == 1 || inet_pton(AF_INET6, h, &a) == 1;
}

static int tls_setup(struct sink *s, char *err, size_t errlen)
{
	struct syslog_sink *y = impl(s);
	const struct cfg_syslog *sp = &y->spec;
	const char *name = sp->servername ? sp->servername : sp->host;

	/* Read the files at every connection: a renewed certificate is picked up. */
	y->ctx = SSL_CTX_new(TLS_client_method());
	if (y->ctx == NULL) {
		ssl_err("TLS", err, errlen);
		return -1;
	}
	SSL_CTX_set_min_proto_version(y->ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(y->ctx,
	                 SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (sp->ca ? SSL_CTX_load_verify_locations(y->ctx, sp->ca, NULL) != 1
	           : SSL_CTX_set_default_verify_paths(y->ctx) != 1) {
		ssl_err(sp->ca ? sp->ca : "default CA paths", err, errlen);
		return -1;
	}
	if (sp->cert && (SSL_CTX_use_certificate_chain_file(y->ctx, sp->cert) != 1 ||
	                 SSL_CTX_use_PrivateKey_file(y->ctx, sp->key, SSL_FILETYPE_PEM) != 1 ||
	                 SSL_CTX_check_private_key(y->ctx) != 1)) {
		ssl_err(sp->cert, err, errlen);
		return -1;
	}
	SSL_CTX_set_verify(y->ctx, sp->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	y->ssl = SSL_new(y->ctx);
	if (y->ssl == NULL || SSL_set_fd(y->ssl, y->fd) != 1) {
		ssl_err("TLS", err, errlen);
		return -1;
	}
	if (!is_ip(name))
		SSL_set_tlsext_host_name(y->ssl, name);
	if (sp->verify) {
		if (is_ip(name)) {
			X509_VERIFY_PARAM *vp = SSL_get0_param(y->ssl);
			X509_VERIFY_PARAM_set1_ip_asc(vp, name);
		} else {
			SSL_set1_host(y->ssl, name);
		}
	}
	int64_t deadline = mono_ms() + CONNECT_TIMEOUT_MS;
	for (;;) {
		ERR_clear_error();
		errno = 0;
		int r = SSL_connect(y->ssl);
		if (r == 1)
			return 0;
		int e = SSL_get_error(y->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			int w = sink_wait(s, y->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
			                  deadline, 0);
			if (w <= 0) {
				snprintf(err, errlen, "TLS handshake with %s:%d %s", sp->host,
				         sp->port, w == 0 ? "timed out" : "cut by a stop");
				return -1;
			}
			continue;
		}
		long vr = SSL_get_verify_result(y->ssl);
		if (vr != X509_V_OK) {
			snprintf(err, errlen, "TLS: certificate of %s:%d: %s", sp->host,
			         sp->port, X509_verify_cert_error_string(vr));
			ERR_clear_error();
		} else {
			ssl_err("TLS handshake", err, errlen);
		}
		return -1;
	}
}

static void sy_disconnect(struct sink *s)
{
	struct syslog_sink *y = impl(s);
	if (y->ssl) {
		SSL_shutdown(y->ssl); /* best effort: non-blocking */
		SSL_free(y->ssl);
		y->ssl = NULL;
	}
	if (y->ctx) {
		SSL_CTX_free(y->ctx);
		y->ctx = NULL;
	}
	if (y->fd >= 0) {
		close(y->fd);
		y->fd = -1;
	}
}

static int sy_connect(struct sink *s, char *err, size_t errlen)
{
	struct syslog_sink *y = impl(s);
	int r;
	y->fd = -1;
	switch (y->spec.transport) {
	case SYSLOG_LOCAL:
	case SYSLOG_UNIX:
		r = connect_unix(y, err, errlen);
		break;
	case SYSLOG_UDP:
		r = connect_inet(s, SOCK_DGRAM, err, errlen);
		break;
	default:
		r = connect_inet(s, SOCK_STREAM, err, errlen);
		if (r == 0 && y->spec.transport == SYSLOG_TLS)
			r = tls_setup(s, err, errlen);
		break;
	}
	if (r < 0)
		sy_disconnect(s);
	return r;
}

/* Write all of buf to the stream, waiting while the peer reads. 0 or -1 with err. */
static int write_stream(struct sink *s, const char *buf, size_t len, char *err, size_t errlen)
{
	struct syslog_sink *y = impl(s);
	size_t off = 0;
	int64_t deadline = mono_ms() + STALL_TIMEOUT_MS;
	while (off < len) {
		ssize_t n;
		short want = POLLOUT;
		if (y->ssl) {
			ERR_clear_error();
			errno = 0;
			int r = SSL_write(y->ssl, buf + off,
			                  (int)(len - off > (1 << 30) ? (1 << 30) : len - off));
			if (r > 0) {
				n = r;
			} else {
				int e = SSL_get_error(y->ssl, r);
				if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
					want = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
					n = -1;
					errno = EAGAIN;
				} else {
					ssl_err("TLS write", err, errlen);
					return -1;
				}
			}
		} else {
			n = send(y->fd, buf + off, len - off, MSG_NOSIGNAL);
		}
		if (n > 0) {
			off += (size_t)n;
			s->bytes_sent += (uint64_t)n;
			deadline = mono_ms() + STALL_TIMEOUT_MS; /* progress */
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN) {
			snprintf(err, errlen, "write: %s", strerror(errno));
			return -1;
		}
		int w = sink_wait(s, y->fd, want, deadline, 1);
		if (w == 0) {
			snprintf(err, errlen, "the receiver took nothing for %d s",
			         STALL_TIMEOUT_MS / 1000);
			return -1;
		}
		if (w < 0) {
			snprintf(err, errlen, "%s",
			         errno == ECANCELED
			             ? "the receiver took nothing before the stop"
			             : strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* The longest start of m[0..len) within max that does not split a UTF-8 sequence. */
static size_t utf8_cut(const char *m, size_t len, size_t max)
{
	if (len <= max)
		return len;
	size_t n = max;
	while (n > 0 && max - n < 4 && ((unsigned char)m[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* A message cut to fit a datagram: counted, and said at most once a minute. */
static void dgram_cut(struct sink *s, size_t from, size_t to)
{
	struct syslog_sink *y = impl(s);
	int64_t now = mono_ms();
	y->cut++;
	if (y->cut_said_ms != 0 && now - y->cut_said_ms < 60000)
		return;
	log_warnx("%s: a message of %zu bytes cut to %zu to fit a datagram (%" PRIu64
	          " cut since the last word of it; use TCP or TLS for whole messages)",
	          s->name, from, to, y->cut - y->cut_said);
	y->cut_said = y->cut;
	y->cut_said_ms = now;
}

static int send_dgram(struct sink *s, const char *m, size_t len, char *err, size_t errlen)
{
	struct syslog_sink *y = impl(s);
	int64_t deadline = mono_ms() + STALL_TIMEOUT_MS;
	size_t whole = len;
	if (y->spec.transport == SYSLOG_UDP && len > UDP_MAX)
		len = utf8_cut(m, len, UDP_MAX);
	for (;;) {
		ssize_t n = send(y->fd, m, len, MSG_NOSIGNAL);
		if (n >= 0) {
			if (len < whole)
				dgram_cut(s, whole, len);
			s->bytes_sent += (uint64_t)n;
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno == EMSGSIZE && len > DGRAM_FALLBACK) {
			/* the receiver's limit: it keeps the start */
			len = utf8_cut(m, len, DGRAM_FALLBACK);
			continue;
		}
		if (errno == EAGAIN || errno == ENOBUFS) {
			if (sink_wait(s, y->fd, POLLOUT, deadline, 1) <= 0) {
				snprintf(err, errlen, "the receiver took nothing for %d s",
				         STALL_TIMEOUT_MS / 1000);
				return -1;
			}
			continue;
		}
		snprintf(err, errlen, "send: %s", strerror(errno));
		return -1;
	}
}

static int sy_send(struct sink *s, const struct queue_batch *b, char *err, size_t errlen)
{
	struct syslog_sink *y = impl(s);
	const uint8_t *rec;
	size_t len, off = 0;
	strbuf_reset(&y->out);
	while (queue_batch_next(b, &off, &rec, &len)) {
		strbuf_reset(&y->msg);
		syslog_fmt_render(&y->fmt, rec, len, &y->msg);
		if (stream(y)) {
			char num[24], *e = num + sizeof(num), *q = e;
			size_t v = y->msg.len;
			*--q = ' ';
			do
				*--q = (char)('0' + v % 10);
			while ((v /= 10) != 0);
			strbuf_put(&y->out, q, (size_t)(e - q));
			strbuf_put(&y->out, y->msg.data, y->msg.len);
		} else if (send_dgram(s, y->msg.data, y->msg.len, err, errlen) < 0) {
			return -1;
		}
	}
	if (stream(y))
		return write_stream(s, y->out.data, y->out.len, err, errlen);
	return 0;
}

static int sy_idle_fd(struct sink *s)
{
	return impl(s)->fd;
}

static int sy_idle_check(struct sink *s, char *err, size_t errlen)
{
	struct syslog_sink *y = impl(s);
	char buf[4096];
	if (y->ssl) {
		for (;;) {
			ERR_clear_error();
			errno = 0;
			int r = SSL_read(y->ssl, buf, sizeof(buf));
			if (r > 0)
				continue; /* a receiver has nothing to say: ignore it */
			int e = SSL_get_error(y->ssl, r);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				return 0;
			if (e == SSL_ERROR_ZERO_RETURN ||
			    (e == SSL_ERROR_SYSCALL && errno == 0))
				snprintf(err, errlen, "connection closed by the receiver");
			else
				ssl_err("TLS", err, errlen);
			return -1;
		}
	}
	if (!stream(y)) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		if (getsockopt(y->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr) {
			snprintf(err, errlen, "%s", strerror(soerr));
			return -1;
		}
		while (recv(y->fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
		return 0;
	}
	for (;;) {
		ssize_t n = recv(y->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		snprintf(err, errlen, "%s",
		         n == 0 ? "connection closed by the receiver" : strerror(errno));
		return -1;
	}
}

static uint64_t sy_unacked(struct sink *s)
{
	struct syslog_sink *y = impl(s);
	int n = 0;
	if (!stream(y) || y->fd < 0 || ioctl(y->fd, SIOCOUTQ, &n) < 0 || n < 0)
		return 0;
	return (uint64_t)n;
}

static void sy_free(struct sink *s)
{
	struct syslog_sink *y = impl(s);
	sy_disconnect(s);
	if (y->lookup) {
		/* A lookup a stop cut: freed when it is over; one the resolver still
		 * runs is left to it (and to the process's exit): it writes there. */
		gai_cancel(&y->lookup->cb);
		if (gai_error(&y->lookup->cb) != EAI_INPROGRESS) {
			if (y->lookup->cb.ar_result)
				freeaddrinfo(y->lookup->cb.ar_result);
			free(y->lookup);
		}
	}
	sinkspec_syslog_free(&y->spec);
	strbuf_free(&y->out);
	strbuf_free(&y->msg);
	free(y->sensor);
	free(y);
}

static const struct sink_ops syslog_ops = {
    .kind = "syslog",
    .connect = sy_connect,
    .send = sy_send,
    .disconnect = sy_disconnect,
    .idle_fd = sy_idle_fd,
    .idle_check = sy_idle_check,
    .unacked = sy_unacked,
    .free = sy_free,
    .windowed = 1,
};

/* The host's own name for HOSTNAME, made printable ASCII without spaces. */
static void default_hostname(char *out, size_t n)
{
	if (gethostname(out, n) < 0 || out[0] == '\0')
		snprintf(out, n, "-");
	out[n - 1] = '\0';
	for (char *p = out; *p; p++)
		if ((unsigned char)*p <= 32 || (unsigned char)*p >= 127)
			*p = '_';
}

struct sink *sink_syslog_new(const struct config *c, const struct cfg_syslog *spec,
                             struct sink *prev, char *err, size_t errlen)
{
	struct sink *s =
	    sink_alloc(c, spec->name, &syslog_ops, spec->queue_max, prev, err, errlen);
	if (s == NULL)
		return NULL;
	struct syslog_sink *y = xcalloc(1, sizeof(*y));
	s->impl = y;
	sinkspec_syslog_copy(&y->spec, spec);
	y->fd = -1;
	strbuf_init(&y->out);
	strbuf_init(&y->msg);
	if (c->syslog_hostname)
		snprintf(y->hostname, sizeof(y->hostname), "%s", c->syslog_hostname);
	else
		default_hostname(y->hostname, sizeof(y->hostname));
	snprintf(y->app_name, sizeof(y->app_name), "%s",
	         c->syslog_app_name ? c->syslog_app_name : "sinktrap");
	y->sensor = c->sensor ? xstrdup(c->sensor) : NULL;
	y->fmt.format = spec->format >= 0 ? spec->format : c->syslog_format;
	y->fmt.facility = spec->facility >= 0 ? spec->facility : c->syslog_facility;
	y->fmt.hostname = y->hostname;
	y->fmt.app_name = y->app_name;
	y->fmt.sensor = y->sensor;
	y->fmt.version = SINKTRAP_VERSION;
	y->fmt.pid = (int)getpid();
	y->fmt.local_time = 1;
	y->fmt.no_hostname = spec->transport == SYSLOG_LOCAL || spec->transport == SYSLOG_UNIX;
	sinkspec_types_copy(&s->types, &spec->types);
	s->need_action = sinkspec_types_need_action(&spec->types);
	s->resend_ms = spec->resend_ms;
	snprintf(s->dest, sizeof(s->dest), "%s", spec->dest);
	snprintf(s->format, sizeof(s->format), "%s", sinkspec_format_name(y->fmt.format));
	return s;
}

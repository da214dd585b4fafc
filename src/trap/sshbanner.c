#include "sshbanner.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/event.h"
#include "common/util.h"

#define SSH_MSG_KEXINIT 20
/* msg, cookie, ten empty name-lists, first_kex_packet_follows, reserved */
#define KEXINIT_MIN_PAYLOAD (1 + 16 + SSH_NAMELISTS * 4 + 1 + 4)

/* Text a peer may send in a line: printable ASCII, tab, CR (before LF). */
static int text_byte(uint8_t c)
{
	return (c >= 0x20 && c < 0x7f) || c == '\t' || c == '\r';
}

/* Could buf[0..n) still become "SSH-"? */
static int ssh_prefix(const uint8_t *p, size_t n)
{
	return memcmp(p, "SSH-", n < 4 ? n : 4) == 0;
}

static int banner_split(struct ssh_banner *b, char *err, size_t errlen)
{
	const char *proto = b->line + 4;
	const char *dash = strchr(proto, '-');
	if (dash == NULL || dash == proto)
		return set_err_code(-EBADMSG, err, errlen,
		                    "no protoversion in the identification line");
	size_t pl = (size_t)(dash - proto);
	memcpy(b->proto_version, proto, pl);
	b->proto_version[pl] = '\0';

	const char *sw = dash + 1;
	const char *sp = strchr(sw, ' ');
	size_t sl = sp ? (size_t)(sp - sw) : strlen(sw);
	memcpy(b->software_version, sw, sl);
	b->software_version[sl] = '\0';
	if (sl == 0)
		b->anomalies |= SSH_BANNER_A_NO_SOFTWARE;
	if (sp != NULL) {
		b->has_comments = 1;
		snprintf(b->comments, sizeof(b->comments), "%s", sp + 1);
	}
	return 0;
}

int ssh_banner_parse(const uint8_t *buf, size_t len, struct ssh_banner *out, char *err,
                     size_t errlen)
{
	size_t pos = 0;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	memset(out, 0, sizeof(*out));
	if (buf == NULL && len > 0)
		return set_err_code(-EBADMSG, err, errlen, "no buffer");

	for (;;) {
		const uint8_t *p = buf + pos;
		size_t left = len - pos;
		int ident = ssh_prefix(p, left);
		size_t n;

		/* Walk the line, judging each byte as it comes. */
		for (n = 0; n < left && p[n] != '\n'; n++) {
			if (n + 2 > SSH_BANNER_MAX) /* room for this byte and the LF */
				break;
			if (!ident && !text_byte(p[n]))
				return set_err_code(
				    -EPROTONOSUPPORT, err, errlen,
				    "binary data before an SSH identification line");
			if (ident && p[n] == '\0')
				return set_err_code(-EBADMSG, err, errlen,
				                    "NUL in the identification line");
		}
		if (n < left && p[n] != '\n') {
			if (ident)
				return set_err_code(-EBADMSG, err, errlen,
				                    "identification line over %d bytes",
				                    SSH_BANNER_MAX);
			return set_err_code(-EPROTONOSUPPORT, err, errlen,
			                    "a line over %d bytes and no SSH identification",
			                    SSH_BANNER_MAX);
		}
		if (n == left)
			return -EAGAIN;

		/* A whole line of n bytes before its LF. */
		size_t body = n;
		int cr = body > 0 && p[body - 1] == '\r';
		if (cr)
			body--;
		if (!ident || n < 4) {
			if (++out->prelines > SSH_BANNER_MAX_PRELINES)
				return set_err_code(-EPROTONOSUPPORT, err, errlen,
				                    "no SSH identification in %d lines",
				                    SSH_BANNER_MAX_PRELINES);
			out->anomalies |= SSH_BANNER_A_PRELINES;
			pos += n + 1;
			continue;
		}
		if (!cr)
			out->anomalies |= SSH_BANNER_A_BARE_LF;
		for (size_t i = 0; i < body; i++)
			if (p[i] < 0x20 || p[i] >= 0x7f)
				out->anomalies |= SSH_BANNER_A_BYTES;
		memcpy(out->line, p, body);
		out->line[body] = '\0';
		out->line_len = body;
		out->consumed = pos + n + 1;
		return banner_split(out, err, errlen);
	}
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int ssh_kexinit_parse(const uint8_t *buf, size_t len, struct ssh_kexinit *out, char *err,
                      size_t errlen)
{
	uint8_t head[4] = {0};

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	memset(out, 0, sizeof(*out));
	if (buf == NULL && len > 0)
		return set_err_code(-EBADMSG, err, errlen, "no buffer");

	/* Reject an impossible length from its first bytes, before waiting for it. */
	memcpy(head, buf, len < 4 ? len : 4);
	uint32_t plen = be32(head);
	if (plen > SSH_PACKET_MAX - 4)
		return set_err_code(-EBADMSG, err, errlen, "packet length %s%u over %d",
		                    len < 4 ? "at least " : "", plen, SSH_PACKET_MAX - 4);
	if (len < 4)
		return -EAGAIN;
	if (plen < 1 + KEXINIT_MIN_PAYLOAD) /* padding_length byte + payload */
		return set_err_code(-EBADMSG, err, errlen,
		                    "packet length %u too short for KEXINIT", plen);
	if (len >= 6 && buf[5] != SSH_MSG_KEXINIT)
		return set_err_code(-EBADMSG, err, errlen, "message %u, not KEXINIT", buf[5]);
	if (len < 4 + (size_t)plen)
		return -EAGAIN;

	out->packet_len = 4 + (size_t)plen;
	out->padding_len = buf[4];
	if ((size_t)out->padding_len + KEXINIT_MIN_PAYLOAD > (size_t)plen - 1)
		return set_err_code(-EBADMSG, err, errlen,
		                    "padding of %u leaves no room for KEXINIT",
		                    out->padding_len);
	if (out->padding_len < 4 || (4 + (size_t)plen) % 8 != 0)
		out->anomalies |= SSH_KEX_A_PADDING;

	const uint8_t *p = buf + 5;
	const uint8_t *end = p + (plen - 1 - out->padding_len);
	p++; /* message number, checked above */
	memcpy(out->cookie, p, 16);
	p += 16;

	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int md_ok = md != NULL && EVP_DigestInit_ex(md, EVP_md5(), NULL);
	size_t hl = 0;
	for (int i = 0; i < SSH_NAMELISTS; i++) {
		if (end - p < 4) {
			EVP_MD_CTX_free(md);
			return set_err_code(-EBADMSG, err, errlen,
			                    "KEXINIT cut before name-list %d", i);
		}
		uint32_t nl = be32(p);
		p += 4;
		if ((size_t)(end - p) < nl) {
			EVP_MD_CTX_free(md);
			return set_err_code(-EBADMSG, err, errlen,
			                    "name-list %d of %u bytes overruns the packet", i,
			                    nl);
		}
		size_t keep = nl > SSH_NAMELIST_LEN ? SSH_NAMELIST_LEN : nl;
		if (keep < nl)
			out->anomalies |= SSH_KEX_A_TRUNCATED;
		for (uint32_t j = 0; j < nl; j++)
			if (p[j] <= 0x20 || p[j] >= 0x7f)
				out->anomalies |= SSH_KEX_A_BYTES;
		memcpy(out->lists[i], p, keep);
		out->lists[i][keep] = '\0';
		out->list_len[i] = keep;

		if (i == SSH_KEX || i == SSH_ENC_C2S || i == SSH_MAC_C2S || i == SSH_COMP_C2S) {
			if (i != SSH_KEX) {
				md_ok = md_ok && EVP_DigestUpdate(md, ";", 1);
				out->hassh_string[hl++] = ';';
			}
			md_ok = md_ok && EVP_DigestUpdate(md, p, nl);
			memcpy(out->hassh_string + hl, p, keep);
			hl += keep;
		}
		p += nl;
	}
	out->hassh_string[hl] = '\0';

	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dl = 0;
	md_ok = md_ok && EVP_DigestFinal_ex(md, d, &dl);
	EVP_MD_CTX_free(md);
	if (!md_ok || dl != 16)
		return set_err_code(-ENOMEM, err, errlen, "MD5 unavailable");
	for (int i = 0; i < 16; i++)
		snprintf(out->hassh + 2 * i, 3, "%02x", d[i]);

	if (end - p < 5)
		return set_err_code(-EBADMSG, err, errlen,
		                    "KEXINIT cut before its last fields");
	out->first_kex_follows = p[0] != 0;
	out->reserved = be32(p + 1);
	if (out->reserved != 0)
		out->anomalies |= SSH_KEX_A_RESERVED;
	if (end - p > 5)
		out->anomalies |= SSH_KEX_A_TRAILING;
	return 0;
}

void ssh_event_fields(const struct ssh_banner *b, const struct ssh_kexinit *k, struct evbuf *eb)
{
	ev_obj(eb, "ssh");
	ev_obj(eb, "client");
	ev_str(eb, "proto_version", b->proto_version);
	ev_str(eb, "software_version", b->software_version);
	if (b->has_comments && b->comments[0] != '\0')
		ev_str(eb, "comments", b->comments);
	if (k != NULL) {
		ev_obj(eb, "hassh");
		ev_str(eb, "hash", k->hassh);
		ev_str(eb, "string", k->hassh_string);
		ev_close(eb);
	}
	ev_close(eb);
	ev_close(eb);
}

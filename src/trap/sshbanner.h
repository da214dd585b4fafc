/*
 * SSH client fingerprints: the identification line (RFC 4253 §4.2) and the
 * client's first binary packet, SSH_MSG_KEXINIT (§7.1), with its HASSH
 * (Salesforce: MD5 of "kex;ciphers;macs;compression", client to server).
 *
 * Both parsers are pure functions over the bytes received so far; they fill
 * self-contained structs (no pointers into the input, no allocation) and are
 * called again with more bytes while they answer -EAGAIN. The KEXINIT starts
 * right after the identification line: at buf + banner.consumed.
 *
 * Return values, for both:
 *   0                  parsed;
 *   -EAGAIN            a valid beginning: call again with more bytes;
 *   -EPROTONOSUPPORT   (banner only) this is not an SSH client;
 *   -EBADMSG           SSH, but malformed or over a limit;
 *   -ENOMEM            (KEXINIT only) libcrypto could not compute MD5;
 * with the reason in err (may be NULL) for the errors.
 */
#ifndef SINKTRAP_TRAP_SSHBANNER_H
#define SINKTRAP_TRAP_SSHBANNER_H

#include <stddef.h>
#include <stdint.h>

struct evbuf;

#define SSH_BANNER_MAX 255         /* identification line, CR LF included (RFC 4253) */
#define SSH_BANNER_MAX_PRELINES 16 /* other lines allowed before it */
/* The banner parser never answers -EAGAIN past this many bytes. */
#define SSH_BANNER_MAX_INPUT ((SSH_BANNER_MAX_PRELINES + 1) * (SSH_BANNER_MAX + 1))

#define SSH_BANNER_A_PRELINES 0x01    /* lines before the identification line */
#define SSH_BANNER_A_BARE_LF 0x02     /* ended by LF without CR */
#define SSH_BANNER_A_NO_SOFTWARE 0x04 /* empty softwareversion */
#define SSH_BANNER_A_BYTES 0x08       /* control or non-ASCII bytes in the line */

struct ssh_banner {
	/* The identification line without CR LF, NUL-terminated (no NUL inside). */
	char line[SSH_BANNER_MAX + 1];
	size_t line_len;
	char proto_version[SSH_BANNER_MAX + 1];    /* "2.0", "1.99", ... */
	char software_version[SSH_BANNER_MAX + 1]; /* up to the first space */
	char comments[SSH_BANNER_MAX + 1];         /* after it; "" if none */
	int has_comments;
	size_t consumed;    /* input bytes up to and including the line's LF */
	unsigned prelines;  /* lines before it */
	unsigned anomalies; /* SSH_BANNER_A_* */
};

int ssh_banner_parse(const uint8_t *buf, size_t len, struct ssh_banner *out, char *err,
                     size_t errlen);

/* The ten name-lists of a KEXINIT, in wire order. */
enum ssh_namelist {
	SSH_KEX = 0,
	SSH_HOSTKEY,
	SSH_ENC_C2S,
	SSH_ENC_S2C,
	SSH_MAC_C2S,
	SSH_MAC_S2C,
	SSH_COMP_C2S,
	SSH_COMP_S2C,
	SSH_LANG_C2S,
	SSH_LANG_S2C,
	SSH_NAMELISTS
};

#define SSH_PACKET_MAX 35000  /* RFC 4253 §6.1: the size every peer must take */
#define SSH_NAMELIST_LEN 1024 /* bytes kept of each list (SSH_KEX_A_TRUNCATED past it) */
#define SSH_HASSH_LEN (4 * SSH_NAMELIST_LEN + 4)

#define SSH_KEX_A_PADDING 0x01   /* padding under 4 bytes or length not a multiple of 8 */
#define SSH_KEX_A_TRUNCATED 0x02 /* a name-list longer than SSH_NAMELIST_LEN was cut */
#define SSH_KEX_A_BYTES 0x04     /* a name-list with bytes outside printable ASCII */
#define SSH_KEX_A_TRAILING 0x08  /* payload bytes after the reserved field */
#define SSH_KEX_A_RESERVED 0x10  /* the reserved field is not 0 */

struct ssh_kexinit {
	size_t packet_len; /* input bytes taken: 4 + packet_length */
	uint8_t padding_len;
	uint8_t cookie[16];
	/* Each list NUL-terminated; list_len bytes kept (NUL bytes possible). */
	char lists[SSH_NAMELISTS][SSH_NAMELIST_LEN + 1];
	size_t list_len[SSH_NAMELISTS];
	int first_kex_follows;
	uint32_t reserved;
	/* HASSH over the full lists as sent, even if a stored one was cut. */
	char hassh[33];
	char hassh_string[SSH_HASSH_LEN];
	unsigned anomalies; /* SSH_KEX_A_* */
};

/* Parse the client's first binary packet (unencrypted, no MAC), a KEXINIT. */
int ssh_kexinit_parse(const uint8_t *buf, size_t len, struct ssh_kexinit *out, char *err,
                      size_t errlen);

/*
 * Write a Suricata-style "ssh" object into the event being built:
 *   ssh{client{proto_version, software_version, comments?, hassh{hash, string}?}}
 * k may be NULL when only the banner arrived.
 */
void ssh_event_fields(const struct ssh_banner *b, const struct ssh_kexinit *k,
                      struct evbuf *eb);

#endif

/*
 * Policy: the block and allow rules loaded from list files, and the lookup
 * that decides a name. Built once (policy_add_list... then policy_finish),
 * read-only afterwards, so a reload builds a new policy beside the old one
 * and swaps the pointer.
 *
 * List formats, detected per file from its content:
 *   hosts     "0.0.0.0 evil.example other.example  # comment"
 *   plain     "evil.example"
 *   adblock   "||evil.example^" (block), "@@||good.example^" (allow),
 *             "!" comments, "[Adblock Plus ...]" header
 *   dnsmasq   "server=/evil.example/" or "address=/evil.example/0.0.0.0"
 *   rpz       RFC-style RPZ zone: "$TTL", SOA/NS records, "name CNAME ."
 *             (NXDOMAIN, block), "name CNAME *." (NODATA, block),
 *             "name CNAME rpz-passthru." (allow), "*.name CNAME ." (wildcard),
 *             "24.0.2.0.192.rpz-ip CNAME ." (an address in a forwarded
 *             answer: policy_lookup_ip()), "32.5.2.0.192.rpz-client-ip
 *             CNAME ." (a client's address: policy_lookup_client())
 *   ip        "192.0.2.1", "198.51.100.0/24 ; comment": addresses of C&C
 *             servers, as address feeds publish them; rules for
 *             policy_lookup_ip() like rpz-ip triggers. A plain list may
 *             hold such lines too.
 * Names are matched case-insensitively, a trailing dot is ignored, IDN must
 * be in punycode (raw UTF-8 is reported as invalid). An entry of any format
 * except rpz covers the name and all its subdomains; an rpz entry covers
 * exactly its name, and "*.name" covers the subdomains of name only.
 * An allow entry wins over any block entry.
 */
#ifndef SINKTRAP_DNS_POLICY_H
#define SINKTRAP_DNS_POLICY_H

#include <stddef.h>
#include <stdint.h>

struct policy;

enum policy_action { POLICY_NONE = 0, POLICY_BLOCK = 1, POLICY_ALLOW = 2 };

enum list_format {
	LIST_FMT_UNKNOWN = 0,
	LIST_FMT_HOSTS,
	LIST_FMT_PLAIN,
	LIST_FMT_ADBLOCK,
	LIST_FMT_DNSMASQ,
	LIST_FMT_RPZ,
	LIST_FMT_IP,
};

struct policy_match {
	enum policy_action action;
	const char *rule; /* entry as stored: "evil.example" or "*.evil.example"; borrowed */
	const char *file; /* list path; borrowed from the policy */
	int line;         /* line in that file */
	int wildcard;     /* matched a parent of the name, not the name itself */
};

struct list_info {
	const char *path; /* borrowed from the policy */
	enum list_format format;
	int allow;        /* loaded as an allowlist */
	int clients;      /* a list of clients (POLICY_LIST_CLIENTS) */
	uint32_t entries; /* rules added */
	uint32_t invalid; /* lines reported and skipped */
};

/* Called for each invalid line: "FILE:LINE: message" is the caller's to print. */
typedef void policy_warn_cb(void *arg, const char *file, int line, const char *msg);

struct policy *policy_new(void);
/* What a list file is, for policy_add_list()'s flags. */
#define POLICY_LIST_ALLOW 1   /* every entry is an allow rule (an allowlist file) */
#define POLICY_LIST_CLIENTS 2 /* addresses of clients, as rpz-client-ip triggers */

/*
 * Parse a list held in memory (data, len: need not be NUL-terminated) and add
 * its rules. flags: POLICY_LIST_ALLOW, POLICY_LIST_CLIENTS (one address or
 * prefix per line: each a client rule, a block (quarantine) or, with
 * POLICY_LIST_ALLOW, an exemption). Invalid lines go to warn (may be NULL)
 * and are skipped; only an allocation failure is an error (-ENOMEM). The path
 * is copied.
 */
int policy_add_list(struct policy *p, const char *path, const char *data, size_t len, int flags,
                    policy_warn_cb *warn, void *arg);
/* The same from an open file descriptor (mmap'd; fd is not closed). -errno on read errors. */
int policy_add_fd(struct policy *p, const char *path, int fd, int flags, policy_warn_cb *warn,
                  void *arg);
/* Freeze the policy; lookups are valid only after this. */
void policy_finish(struct policy *p);
/* 1 when name[i], a dot, belongs to a label ("\." in presentation form). */
int policy_dot_escaped(const char *name, size_t i);
/*
 * Decide name (lowercase or not, with or without trailing dot, len bytes,
 * presentation form: a dot inside a label is "\." and ends no label).
 * Returns the action, and the deciding rule in m (may be NULL).
 * Cost: one hash probe per label of the name.
 */
enum policy_action policy_lookup(const struct policy *p, const char *name, size_t len,
                                 struct policy_match *m);
/*
 * Decide an address found in a forwarded answer (family AF_INET or
 * AF_INET6; 4 or 16 bytes) by the address rules (rpz-ip triggers of RPZ
 * lists, addresses and prefixes of ip and plain lists): the longest
 * prefix covering it, an allow (rpz-passthru) winning at equal length. The
 * rule in m is its prefix ("192.0.2.0/24"). Cost: a binary search per
 * prefix length in use.
 */
enum policy_action policy_lookup_ip(const struct policy *p, int family, const uint8_t *addr,
                                    struct policy_match *m);
/*
 * Decide a client's address by the rpz-client-ip triggers of RPZ lists,
 * as policy_lookup_ip() does: a block sinkholes every name the client asks
 * (a host in quarantine), an allow (rpz-passthru) exempts it from every rule.
 */
enum policy_action policy_lookup_client(const struct policy *p, int family, const uint8_t *addr,
                                        struct policy_match *m);
/* The rpz-client-ip triggers loaded. */
size_t policy_client_rules(const struct policy *p);
/* The address rules loaded (rpz-ip triggers, ip list entries). */
size_t policy_ip_rules(const struct policy *p);
/* Rules loaded: names and address rules. */
size_t policy_rules(const struct policy *p);
int policy_list_count(const struct policy *p);
const struct list_info *policy_list(const struct policy *p, int i);
/* Approximate heap bytes held. */
size_t policy_memory(const struct policy *p);
void policy_free(struct policy **p);

enum list_format list_detect(const char *data, size_t len);
const char *list_format_name(enum list_format f);

#endif

/*
 * Fuzz target for the list parsers and the policy lookup: the input is one
 * list file (any format; detection picks the parser), then names taken from
 * the input itself are looked up and the answers checked for consistency.
 */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns/policy.h"

#define MAX_NAMES 32

static void warn_cb(void *arg, const char *file, int line, const char *msg)
{
	(void)arg;
	/* A warning names the list and a real line, and says something. */
	if (!file || strcmp(file, "fuzz.list") != 0 || line < 1 || !msg || !msg[0])
		__builtin_trap();
}

static unsigned char lc(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c | 0x20 : c;
}

/*
 * A match must be the name itself or one of its parents on a label
 * boundary, the rule as stored ("*." only for a parent match).
 */
static void check_match(const char *name, size_t len, enum policy_action a,
                        const struct policy_match *m)
{
	const char *rule;
	size_t rl, i;

	if (a != m->action)
		__builtin_trap();
	if (a == POLICY_NONE) {
		if (m->rule)
			__builtin_trap();
		return;
	}
	if (!m->rule || !m->file || m->line < 1 || strcmp(m->file, "fuzz.list") != 0)
		__builtin_trap();
	if (len && name[len - 1] == '.')
		len--;
	rule = m->rule;
	if (rule[0] == '*' && rule[1] == '.') {
		if (!m->wildcard)
			__builtin_trap();
		rule += 2;
	}
	rl = strlen(rule);
	if (rl == 0 || rl > 253 || rl > len)
		__builtin_trap();
	if (m->wildcard ? !(rl < len && name[len - rl - 1] == '.') : rl != len)
		__builtin_trap();
	for (i = 0; i < rl; i++)
		if (lc((unsigned char)name[len - rl + i]) != (unsigned char)rule[i])
			__builtin_trap();
}

static void lookup(const struct policy *p, const char *name, size_t len)
{
	struct policy_match m;
	enum policy_action a = policy_lookup(p, name, len, &m);

	check_match(name, len, a, &m);
	if (policy_lookup(p, name, len, NULL) != a)
		__builtin_trap();
}

typedef enum policy_action ip_lookup_fn(const struct policy *, int, const uint8_t *,
                                        struct policy_match *);

/* An address match (rpz-ip, ip list, rpz-client-ip): its rule, "ADDR/LEN",
 * covers the address looked up. */
static void lookup_in(const struct policy *p, ip_lookup_fn *fn, int family, const uint8_t *addr)
{
	struct policy_match m;
	enum policy_action a = fn(p, family, addr, &m);
	uint8_t r[16];
	char t[64];

	if (a != m.action || fn(p, family, addr, NULL) != a)
		__builtin_trap();
	if (a == POLICY_NONE)
		return;
	if (!m.rule || !m.file || m.line < 1 || strlen(m.rule) >= sizeof(t))
		__builtin_trap();
	strcpy(t, m.rule);
	char *slash = strchr(t, '/');
	if (!slash)
		__builtin_trap();
	*slash = '\0';
	int plen = atoi(slash + 1);
	if (inet_pton(family, t, r) != 1 || plen < 1 || plen > (family == AF_INET ? 32 : 128))
		__builtin_trap();
	for (int b = 0; b < plen; b++)
		if (((r[b / 8] ^ addr[b / 8]) >> (7 - b % 8)) & 1)
			__builtin_trap();
}

static void lookup_ip(const struct policy *p, int family, const uint8_t *addr)
{
	lookup_in(p, policy_lookup_ip, family, addr);
	lookup_in(p, policy_lookup_client, family, addr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data, *end = s + size;
	const struct list_info *li;
	struct policy *p;
	char buf[300];
	int names = 0;

	list_format_name(list_detect(s, size));
	p = policy_new();
	if (!p)
		return 0;
	if (policy_add_list(p, "fuzz.list", s, size, 0, warn_cb, NULL) < 0) {
		policy_free(&p);
		return 0;
	}
	policy_finish(p);
	li = policy_list(p, 0);
	if (!li || li->entries < policy_rules(p) || policy_list_count(p) != 1)
		__builtin_trap();

	/* Every token of the input is a name to try, as is "x." in front of it. */
	while (s < end && names < MAX_NAMES) {
		const char *t;

		while (s < end && strchr(" \t\r\n/|^$@", *s)) /* NUL too */
			s++;
		t = s;
		while (s < end && !strchr(" \t\r\n/|^$@", *s))
			s++;
		if (s == t)
			continue;
		names++;
		lookup(p, t, (size_t)(s - t));
		if ((size_t)(s - t) < 46) {
			/* an address token ("192.0.2.0" of "192.0.2.0/24") */
			char ab[46];
			uint8_t ia[16];
			memcpy(ab, t, (size_t)(s - t));
			ab[s - t] = '\0';
			if (inet_pton(AF_INET, ab, ia) == 1)
				lookup_ip(p, AF_INET, ia);
			else if (inet_pton(AF_INET6, ab, ia) == 1)
				lookup_ip(p, AF_INET6, ia);
		}
		if ((size_t)(s - t) + 2 <= sizeof(buf)) {
			memcpy(buf, "x.", 2);
			memcpy(buf + 2, t, (size_t)(s - t));
			lookup(p, buf, (size_t)(s - t) + 2);
		}
	}
	lookup(p, "", 0);
	lookup(p, ".", 1);
	/* Addresses: the input's first bytes, and what the input's triggers name. */
	uint8_t a[16] = {0};
	memcpy(a, data, size < 16 ? size : 16);
	lookup_ip(p, AF_INET, a);
	lookup_ip(p, AF_INET6, a);
	static const uint8_t v4[4] = {192, 0, 2, 1};
	static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1};
	lookup_ip(p, AF_INET, v4);
	lookup_ip(p, AF_INET6, v6);
	policy_memory(p);
	policy_free(&p);

	/* The same bytes as a client list (client_blocklist, client_allowlist). */
	p = policy_new();
	if (!p)
		return 0;
	if (policy_add_list(p, "fuzz.list", (const char *)data, size,
	                    POLICY_LIST_CLIENTS | (size & 1 ? POLICY_LIST_ALLOW : 0), warn_cb,
	                    NULL) == 0) {
		policy_finish(p);
		li = policy_list(p, 0);
		if (!li || !li->clients || policy_ip_rules(p) != 0 ||
		    policy_client_rules(p) != li->entries)
			__builtin_trap();
		lookup_ip(p, AF_INET, a);
		lookup_ip(p, AF_INET6, a);
		lookup_ip(p, AF_INET, v4);
		lookup_ip(p, AF_INET6, v6);
	}
	policy_free(&p);
	return 0;
}

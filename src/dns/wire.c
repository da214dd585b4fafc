#include "wire.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_HOPS 126

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint8_t lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/*
 * Read the name at off, following compression pointers (at most MAX_HOPS of
 * them). A pointer leads to a prior occurrence of the name (RFC 1035 4.1.4):
 * the name it points to must lie wholly before the pointer, so a name never
 * reads bytes that follow it, and cutting a message after a record cannot
 * change the records before it. The uncompressed name goes to out (may be
 * NULL), at most DNS_NAME_WIRE_MAX bytes. Returns the offset just after the
 * name where it stands in the packet, or -1.
 */
static long name_read(const uint8_t *pkt, size_t len, size_t off, uint8_t *out, size_t *outlen)
{
	size_t o = off, n = 0;
	size_t limit = len; /* the bytes this part of the name may use end here */
	long end = -1;
	int hops = 0;

	for (;;) {
		if (o >= limit)
			return -1;
		uint8_t c = pkt[o];
		if (c == 0) {
			if (n + 1 > DNS_NAME_WIRE_MAX)
				return -1;
			if (out)
				out[n] = 0;
			n++;
			if (end < 0)
				end = (long)o + 1;
			break;
		}
		if ((c & 0xC0) == 0xC0) {
			if (o + 1 >= limit)
				return -1;
			size_t ptr = (size_t)(c & 0x3F) << 8 | pkt[o + 1];
			if (end < 0)
				end = (long)o + 2;
			/* Backwards only, and never into the header. */
			if (ptr >= o || ptr < DNS_HDR_LEN || ++hops > MAX_HOPS)
				return -1;
			limit = o;
			o = ptr;
			continue;
		}
		if (c & 0xC0)
			return -1; /* extended label types are obsolete */
		if (o + 1 + c > limit || n + 1 + c + 1 > DNS_NAME_WIRE_MAX)
			return -1;
		if (out)
			memcpy(out + n, pkt + o, 1 + (size_t)c);
		n += 1 + (size_t)c;
		o += 1 + (size_t)c;
	}
	if (outlen)
		*outlen = n;
	return end;
}

int dns_name_to_text(const uint8_t *wire, size_t wlen, char *out, size_t cap)
{
	size_t o = 0, n = 0;
	if (cap < 2)
		return -1;
	if (wlen >= 1 && wire[0] == 0) {
		out[0] = '.';
		out[1] = '\0';
		return 1;
	}
	while (o < wlen && wire[o] != 0) {
		uint8_t l = wire[o++];
		if (o + l > wlen)
			return -1;
		if (n > 0) {
			if (n + 1 >= cap)
				return -1;
			out[n++] = '.';
		}
		for (uint8_t i = 0; i < l; i++) {
			uint8_t ch = lower(wire[o + i]);
			if (n + 5 >= cap)
				return -1;
			if (ch == '.' || ch == '\\') {
				out[n++] = '\\';
				out[n++] = (char)ch;
			} else if (ch <= 0x20 || ch >= 0x7f) {
				n += (size_t)snprintf(out + n, cap - n, "\\%03u", ch);
			} else {
				out[n++] = (char)ch;
			}
		}
		o += l;
	}
	out[n] = '\0';
	return (int)n;
}

/* Walk count records from *off. Returns 0 or -1; fills OPT/TTL info in m when m. */
struct rr_walk {
	const uint8_t *pkt;
	size_t len;
	size_t off;
	uint8_t *age_pkt; /* non-NULL: subtract age from each TTL */
	uint32_t age;
};

static int rr_next(struct rr_walk *w, uint16_t *type, uint32_t *ttl, size_t *rdoff,
                   uint16_t *rdlen, size_t *rrstart, int *owner_root)
{
	*rrstart = w->off;
	long e = name_read(w->pkt, w->len, w->off, NULL, NULL);
	if (e < 0 || (size_t)e + 10 > w->len)
		return -1;
	*owner_root = w->pkt[w->off] == 0;
	size_t o = (size_t)e;
	*type = get16(w->pkt + o);
	*ttl = get32(w->pkt + o + 4);
	*rdlen = get16(w->pkt + o + 8);
	*rdoff = o + 10;
	if (*rdoff + *rdlen > w->len)
		return -1;
	/* A TTL with its top bit set is read as 0 (RFC 2181 section 8); OPT's
	 * "TTL" holds flags. */
	if (*type != DNS_T_OPT && *ttl > DNS_TTL_MAX)
		*ttl = 0;
	if (w->age_pkt && *type != DNS_T_OPT) {
		uint32_t t = *ttl > w->age ? *ttl - w->age : 0;
		put32(w->age_pkt + o + 4, t);
	}
	w->off = *rdoff + *rdlen;
	return 0;
}

static int msg_walk(const uint8_t *pkt, size_t len, struct dns_msg *m, uint8_t *age_pkt,
                    uint32_t age)
{
	memset(m, 0, sizeof(*m));
	m->min_ttl = UINT32_MAX;
	if (len < DNS_HDR_LEN)
		return -1;
	m->id = get16(pkt);
	m->flags = get16(pkt + 2);
	m->qdcount = get16(pkt + 4);
	m->ancount = get16(pkt + 6);
	m->nscount = get16(pkt + 8);
	m->arcount = get16(pkt + 10);
	m->rcode = m->flags & 0xF;
	if (m->qdcount > 1)
		return -1;
	size_t off = DNS_HDR_LEN;
	if (m->qdcount == 1) {
		long e = name_read(pkt, len, off, m->qname, &m->qname_len);
		if (e < 0 || (size_t)e + 4 > len)
			return -1;
		for (size_t i = 0; i < m->qname_len; i++)
			m->qname[i] = lower(m->qname[i]);
		m->qtype = get16(pkt + e);
		m->qclass = get16(pkt + e + 2);
		off = (size_t)e + 4;
	}
	m->question_end = off;

	struct rr_walk w = {pkt, len, off, age_pkt, age};
	uint32_t total = (uint32_t)m->ancount + m->nscount + m->arcount;
	uint32_t soa_neg = UINT32_MAX;
	for (uint32_t i = 0; i < total; i++) {
		uint16_t type, rdlen;
		uint32_t ttl;
		size_t rdoff, rrstart;
		int root;
		if (rr_next(&w, &type, &ttl, &rdoff, &rdlen, &rrstart, &root) < 0)
			return -1;
		int section =
		    i < m->ancount ? 0 : (i < (uint32_t)m->ancount + m->nscount ? 1 : 2);
		if (type == DNS_T_OPT) {
			if (section != 2 || m->opt_start || !root)
				return -1;
			m->opt_start = rrstart;
			m->opt_end = w.off;
			m->opt_last = (i == total - 1);
			m->opt_index = (uint16_t)(i - m->ancount - m->nscount);
			m->rcode |= (int)(ttl >> 24) << 4;
			continue;
		}
		if (section == 0 && ttl < m->min_ttl)
			m->min_ttl = ttl;
		if (section == 1 && type == DNS_T_SOA) {
			/* The negative TTL: min(SOA TTL, SOA minimum). */
			long e1 = name_read(pkt, len, rdoff, NULL, NULL);
			long e2 = e1 < 0 ? -1 : name_read(pkt, len, (size_t)e1, NULL, NULL);
			if (e2 < 0 || (size_t)e2 + 20 > rdoff + rdlen)
				return -1;
			uint32_t minimum = get32(pkt + e2 + 16);
			if (minimum > DNS_TTL_MAX)
				minimum = 0;
			uint32_t neg = ttl < minimum ? ttl : minimum;
			if (neg > DNS_NEG_TTL_MAX)
				neg = DNS_NEG_TTL_MAX;
			if (neg < soa_neg)
				soa_neg = neg;
		}
	}
	/* A negative answer lives as long as its SOA says (RFC 2308), CNAMEs in
	 * front of it or not; without a SOA it is not kept at all. */
	if (m->ancount == 0 || ((m->rcode & 0xf) == DNS_R_NXDOMAIN && soa_neg == UINT32_MAX))
		m->min_ttl = soa_neg;
	else if (soa_neg < m->min_ttl)
		m->min_ttl = soa_neg; /* NXDOMAIN or NODATA after an alias: the shorter */
	return 0;
}

int dns_msg_walk(const uint8_t *pkt, size_t len, struct dns_msg *m)
{
	return msg_walk(pkt, len, m, NULL, 0);
}

void dns_msg_age(uint8_t *pkt, size_t len, uint32_t sub)
{
	struct dns_msg m;
	msg_walk(pkt, len, &m, pkt, sub);
}

int dns_msg_addrs(const uint8_t *pkt, size_t len, const struct dns_msg *m,
                  struct dns_addr_cursor *cur, struct dns_addr *out, int max)
{
	struct rr_walk w = {pkt, len, cur->off ? cur->off : m->question_end, NULL, 0};
	int n = 0;
	for (; cur->i < m->ancount && n < max; cur->i++) {
		uint16_t type, rdlen;
		uint32_t ttl;
		size_t rdoff, rrstart;
		int root;
		if (rr_next(&w, &type, &ttl, &rdoff, &rdlen, &rrstart, &root) < 0) {
			cur->i = m->ancount;
			break;
		}
		if (get16(pkt + rdoff - 8) != DNS_C_IN)
			continue;
		if (type == DNS_T_A && rdlen == 4) {
			out[n].family = AF_INET;
			memcpy(out[n++].a, pkt + rdoff, 4);
		} else if (type == DNS_T_AAAA && rdlen == 16) {
			out[n].family = AF_INET6;
			memcpy(out[n++].a, pkt + rdoff, 16);
		}
	}
	cur->off = w.off;
	return n;
}

int dns_msg_chain(const uint8_t *pkt, size_t len, const struct dns_msg *m, struct dns_chain *c)
{
	c->n = 0;
	if (m->qdcount != 1 || m->ancount == 0)
		return 0;
	const uint8_t *cur = m->qname;
	size_t curlen = m->qname_len;
	while (c->n < DNS_CHAIN_MAX) {
		struct rr_walk w = {pkt, len, m->question_end, NULL, 0};
		int found = 0;
		for (uint16_t i = 0; i < m->ancount && !found; i++) {
			uint16_t type, rdlen;
			uint32_t ttl;
			size_t rdoff, rrstart;
			int root;
			if (rr_next(&w, &type, &ttl, &rdoff, &rdlen, &rrstart, &root) < 0)
				return c->n = 0;
			if (type != DNS_T_CNAME || get16(pkt + rdoff - 8) != DNS_C_IN)
				continue;
			uint8_t owner[DNS_NAME_WIRE_MAX];
			size_t olen;
			if (name_read(pkt, len, rrstart, owner, &olen) < 0)
				return c->n = 0;
			if (olen != curlen)
				continue;
			size_t k = 0;
			while (k < olen && lower(owner[k]) == cur[k])
				k++;
			if (k != olen)
				continue;
			uint8_t *t = c->name[c->n];
			size_t tlen;
			long e = name_read(pkt, len, rdoff, t, &tlen);
			if (e < 0 || (size_t)e != rdoff + rdlen)
				return c->n = 0;
			for (k = 0; k < tlen; k++)
				t[k] = lower(t[k]);
			/* A loop back to the question or an earlier link ends the chain. */
			int seen = tlen == m->qname_len && memcmp(t, m->qname, tlen) == 0;
			for (int j = 0; j < c->n && !seen; j++)
				seen = c->len[j] == tlen && memcmp(c->name[j], t, tlen) == 0;
			if (seen)
				return c->n;
			c->len[c->n] = tlen;
			c->ttl[c->n] = ttl;
			cur = t;
			curlen = tlen;
			c->n++;
			found = 1;
		}
		if (!found)
			break;
	}
	return c->n;
}

int dns_msg_cnames(const uint8_t *pkt, size_t len, const struct dns_msg *m,
                   int (*fn)(void *arg, const uint8_t *name, size_t nlen), void *arg)
{
	struct rr_walk w = {pkt, len, m->question_end, NULL, 0};
	for (uint16_t i = 0; i < m->ancount; i++) {
		uint16_t type, rdlen;
		uint32_t ttl;
		size_t rdoff, rrstart;
		int root, r;
		if (rr_next(&w, &type, &ttl, &rdoff, &rdlen, &rrstart, &root) < 0)
			return 0;
		if (type != DNS_T_CNAME || get16(pkt + rdoff - 8) != DNS_C_IN)
			continue;
		uint8_t t[DNS_NAME_WIRE_MAX];
		size_t tlen;
		if (name_read(pkt, len, rdoff, t, &tlen) < 0)
			return 0;
		for (size_t k = 0; k < tlen; k++)
			t[k] = lower(t[k]);
		if ((r = fn(arg, t, tlen)) != 0)
			return r;
	}
	return 0;
}

enum dns_parse dns_query_parse(const uint8_t *pkt, size_t len, struct dns_query *q)
{
	memset(q, 0, sizeof(*q));
	if (len < DNS_HDR_LEN)
		return DNS_PARSE_DROP;
	q->id = get16(pkt);
	q->flags = get16(pkt + 2);
	q->opcode = (q->flags >> 11) & 0xF;
	q->qdcount = get16(pkt + 4);
	q->ancount = get16(pkt + 6);
	q->nscount = get16(pkt + 8);
	q->arcount = get16(pkt + 10);
	if (q->flags & DNS_F_QR)
		return DNS_PARSE_DROP; /* never answer a response: no reflection loops */
	if (q->opcode != 0)
		return DNS_PARSE_NOTIMP;
	if (q->qdcount != 1)
		return DNS_PARSE_FORMERR;

	size_t nlen;
	long e = name_read(pkt, len, DNS_HDR_LEN, q->qraw, &nlen);
	if (e < 0 || (size_t)e + 4 > len)
		return DNS_PARSE_FORMERR;
	memcpy(q->qraw + nlen, pkt + e, 4);
	q->qraw_len = nlen + 4;
	q->qtype = get16(pkt + e);
	q->qclass = get16(pkt + e + 2);
	int tl = dns_name_to_text(q->qraw, nlen, q->name, sizeof(q->name));
	if (tl < 0)
		return DNS_PARSE_FORMERR;
	q->name_len = (size_t)tl;
	q->have_question = 1;

	/* The other sections: only an OPT record is expected, but walk whatever is there. */
	struct rr_walk w = {pkt, len, (size_t)e + 4, NULL, 0};
	uint32_t total = (uint32_t)q->ancount + q->nscount + q->arcount;
	for (uint32_t i = 0; i < total; i++) {
		uint16_t type, rdlen;
		uint32_t ttl;
		size_t rdoff, rrstart;
		int root;
		if (rr_next(&w, &type, &ttl, &rdoff, &rdlen, &rrstart, &root) < 0)
			return DNS_PARSE_FORMERR;
		if (type != DNS_T_OPT)
			continue;
		if (i < (uint32_t)q->ancount + q->nscount || q->edns || !root)
			return DNS_PARSE_FORMERR;
		q->edns = 1;
		uint16_t cls = get16(pkt + rrstart + 3);
		q->edns_size = cls < 512 ? 512 : cls;
		q->edns_version = (uint8_t)(ttl >> 16);
		q->edns_do = (ttl & 0x8000) != 0;
	}
	if (q->edns && q->edns_version > 0)
		return DNS_PARSE_BADVERS;
	return DNS_PARSE_OK;
}

size_t dns_query_udp_limit(const struct dns_query *q, size_t server_max)
{
	if (!q->edns)
		return 512;
	return q->edns_size < server_max ? q->edns_size : server_max;
}

static size_t put_opt(uint8_t *p, uint16_t size, int ext_rcode, int do_bit)
{
	p[0] = 0;
	put16(p + 1, DNS_T_OPT);
	put16(p + 3, size);
	p[5] = (uint8_t)ext_rcode;
	p[6] = 0;
	put16(p + 7, do_bit ? 0x8000 : 0);
	put16(p + 9, 0);
	return 11;
}

/* Header and question; returns the offset after the question, 0 if no room. */
static size_t resp_head(const struct dns_query *q, int rcode, int aa, uint8_t *out, size_t cap)
{
	size_t need = DNS_HDR_LEN + (q->have_question ? q->qraw_len : 0) + 11;
	if (cap < need)
		return 0;
	uint16_t flags = DNS_F_QR | (uint16_t)(q->opcode << 11) | DNS_F_RA;
	flags |= q->flags & (DNS_F_RD | DNS_F_CD);
	if (aa)
		flags |= DNS_F_AA;
	flags |= (uint16_t)(rcode & 0xF);
	put16(out, q->id);
	put16(out + 2, flags);
	put16(out + 4, q->have_question ? 1 : 0);
	memset(out + 6, 0, 6);
	size_t n = DNS_HDR_LEN;
	if (q->have_question) {
		memcpy(out + n, q->qraw, q->qraw_len);
		n += q->qraw_len;
	}
	return n;
}

static size_t resp_finish(const struct dns_query *q, int rcode, uint16_t edns_size,
                          uint8_t *out, size_t n, size_t cap)
{
	if (q->edns || rcode > 15) {
		if (n + 11 > cap)
			return 0;
		n += put_opt(out + n, edns_size, rcode >> 4, q->edns_do);
		put16(out + 10, (uint16_t)(get16(out + 10) + 1));
	}
	return n;
}

size_t dns_resp_parse_error(enum dns_parse r, const struct dns_query *q, uint16_t edns_size,
                            uint8_t *out, size_t cap)
{
	switch (r) {
	case DNS_PARSE_OK:
	case DNS_PARSE_DROP:
		return 0;
	case DNS_PARSE_NOTIMP:
		return dns_resp_empty(q, DNS_R_NOTIMP, 0, edns_size, out, cap);
	case DNS_PARSE_BADVERS:
		return dns_resp_empty(q, DNS_R_BADVERS, 0, edns_size, out, cap);
	case DNS_PARSE_FORMERR:
		break;
	}
	return dns_resp_empty(q, DNS_R_FORMERR, 0, edns_size, out, cap);
}

size_t dns_resp_empty(const struct dns_query *q, int rcode, int aa, uint16_t edns_size,
                      uint8_t *out, size_t cap)
{
	size_t n = resp_head(q, rcode, aa, out, cap);
	if (n == 0)
		return 0;
	return resp_finish(q, rcode, edns_size, out, n, cap);
}

static const uint8_t soa_rdata[] = {
    /* mname sinktrap.invalid. */
    8, 's', 'i', 'n', 'k', 't', 'r', 'a', 'p', 7, 'i', 'n', 'v', 'a', 'l', 'i', 'd', 0,
    /* rname hostmaster.sinktrap.invalid. (pointer-free so it can be placed anywhere) */
    10, 'h', 'o', 's', 't', 'm', 'a', 's', 't', 'e', 'r', 8, 's', 'i', 'n', 'k', 't', 'r', 'a',
    'p', 7, 'i', 'n', 'v', 'a', 'l', 'i', 'd', 0,
    /* serial, refresh, retry, expire; minimum is appended */
    0, 0, 0, 1, 0, 0, 0x0e, 0x10, 0, 0, 0x02, 0x58, 0, 0x01, 0x51, 0x80};

/* Put an uncompressed wire name; returns its length, 0 if no room. */
static size_t put_name(uint8_t *out, size_t n, size_t cap, const uint8_t *name, size_t len)
{
	if (n + len > cap)
		return 0;
	memcpy(out + n, name, len);
	return len;
}

size_t dns_resp_sinkhole_chain(const struct dns_query *q, const struct dns_chain *c, int upto,
                               const uint8_t *addr, uint32_t ttl, uint16_t edns_size,
                               uint8_t *out, size_t cap)
{
	size_t n = resp_head(q, DNS_R_NOERROR, 1, out, cap);
	if (n == 0)
		return 0;
	if (c && (upto < 0 || upto >= c->n))
		return 0;
	uint16_t an = 0;
	size_t k;
	/* The CNAME records: the first owned by the question name (a pointer to it). */
	for (int i = 0; c && i <= upto; i++) {
		if (i == 0) {
			if (n + 2 > cap)
				return 0;
			out[n] = 0xC0;
			out[n + 1] = DNS_HDR_LEN;
			n += 2;
		} else {
			if ((k = put_name(out, n, cap, c->name[i - 1], c->len[i - 1])) == 0)
				return 0;
			n += k;
		}
		if (n + 10 > cap)
			return 0;
		put16(out + n, DNS_T_CNAME);
		put16(out + n + 2, DNS_C_IN);
		put32(out + n + 4, c->ttl[i] < ttl ? c->ttl[i] : ttl);
		put16(out + n + 8, (uint16_t)c->len[i]);
		n += 10;
		if ((k = put_name(out, n, cap, c->name[i], c->len[i])) == 0)
			return 0;
		n += k;
		an++;
	}
	/* The sinkhole record, owned by the question name or the chain's last name. */
	if (c) {
		if ((k = put_name(out, n, cap, c->name[upto], c->len[upto])) == 0)
			return 0;
		n += k;
	} else {
		if (n + 2 > cap)
			return 0;
		out[n] = 0xC0;
		out[n + 1] = DNS_HDR_LEN;
		n += 2;
	}
	size_t alen = q->qtype == DNS_T_AAAA ? 16 : 4;
	size_t rdlen = addr ? alen : sizeof(soa_rdata) + 4;
	if (n + 10 + rdlen + 11 > cap)
		return 0;
	put16(out + n, addr ? q->qtype : DNS_T_SOA);
	put16(out + n + 2, DNS_C_IN);
	put32(out + n + 4, ttl);
	put16(out + n + 8, (uint16_t)rdlen);
	n += 10;
	if (addr) {
		memcpy(out + n, addr, alen);
		n += alen;
		an++;
	} else {
		memcpy(out + n, soa_rdata, sizeof(soa_rdata));
		n += sizeof(soa_rdata);
		put32(out + n, ttl);
		n += 4;
		put16(out + 8, 1);
	}
	put16(out + 6, an);
	return resp_finish(q, DNS_R_NOERROR, edns_size, out, n, cap);
}

size_t dns_resp_sinkhole(const struct dns_query *q, const uint8_t *addr, uint32_t ttl,
                         uint16_t edns_size, uint8_t *out, size_t cap)
{
	return dns_resp_sinkhole_chain(q, NULL, 0, addr, ttl, edns_size, out, cap);
}

size_t dns_query_build(const struct dns_query *q, uint16_t id, uint16_t edns_size, uint8_t *out,
                       size_t cap)
{
	if (cap < DNS_HDR_LEN + q->qraw_len + 11 || !q->have_question)
		return 0;
	put16(out, id);
	put16(out + 2, DNS_F_RD | (q->flags & DNS_F_CD));
	put16(out + 4, 1);
	put16(out + 6, 0);
	put16(out + 8, 0);
	put16(out + 10, 1);
	size_t n = DNS_HDR_LEN;
	for (size_t i = 0; i < q->qraw_len; i++)
		out[n + i] = i < q->qraw_len - 4 ? lower(q->qraw[i]) : q->qraw[i];
	n += q->qraw_len;
	n += put_opt(out + n, edns_size, 0, q->edns_do);
	return n;
}

size_t dns_resp_adapt(const struct dns_query *q, const struct dns_msg *m, uint8_t *buf,
                      size_t len, size_t cap, size_t limit, uint16_t edns_size)
{
	put16(buf, q->id);
	uint16_t flags = (uint16_t)((m->flags & ~DNS_F_RD) | (q->flags & DNS_F_RD));
	put16(buf + 2, flags);
	/* The client's own spelling of the name (0x20 case randomisation). */
	if (m->qdcount == 1 && m->question_end - DNS_HDR_LEN == q->qraw_len)
		memcpy(buf + DNS_HDR_LEN, q->qraw, q->qraw_len);
	uint16_t ar = m->arcount;
	if (m->opt_start) {
		/*
		 * Cut at the OPT record. Records after it (rare) go too: moving them
		 * would break compression pointers into the bytes that moved.
		 */
		len = m->opt_start;
		ar = m->opt_index;
	}
	put16(buf + 10, ar);
	size_t room = q->edns ? 11 : 0;
	if (len + room > limit || len + room > cap) {
		/* Header and the client's own question (uncompressed: a pointer in
		 * the upstream's question could lead into the part cut off). */
		memcpy(buf + DNS_HDR_LEN, q->qraw, q->qraw_len);
		len = DNS_HDR_LEN + q->qraw_len;
		put16(buf + 4, 1);
		put16(buf + 2, (uint16_t)(get16(buf + 2) | DNS_F_TC));
		put16(buf + 6, 0);
		put16(buf + 8, 0);
		put16(buf + 10, 0);
	}
	if (q->edns && len + 11 <= cap) {
		len += put_opt(buf + len, edns_size, m->rcode >> 4, q->edns_do);
		put16(buf + 10, (uint16_t)(get16(buf + 10) + 1));
	}
	return len;
}

const char *dns_type_name(uint16_t t, char *buf, size_t len)
{
	static const struct {
		uint16_t t;
		const char *n;
	} names[] = {
	    {1, "A"},      {2, "NS"},      {5, "CNAME"}, {6, "SOA"},   {12, "PTR"},
	    {13, "HINFO"}, {15, "MX"},     {16, "TXT"},  {28, "AAAA"}, {29, "LOC"},
	    {33, "SRV"},   {35, "NAPTR"},  {41, "OPT"},  {43, "DS"},   {46, "RRSIG"},
	    {47, "NSEC"},  {48, "DNSKEY"}, {52, "TLSA"}, {64, "SVCB"}, {65, "HTTPS"},
	    {99, "SPF"},   {252, "AXFR"},  {255, "ANY"}, {257, "CAA"},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].t == t)
			return names[i].n;
	snprintf(buf, len, "TYPE%u", t);
	return buf;
}

const char *dns_rcode_name(int rcode)
{
	static const char *const n[] = {"NOERROR",  "FORMERR", "SERVFAIL",
	                                "NXDOMAIN", "NOTIMP",  "REFUSED"};
	if (rcode >= 0 && rcode < 6)
		return n[rcode];
	if (rcode == 16)
		return "BADVERS";
	return "RCODE";
}

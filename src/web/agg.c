/*
 * Running aggregates of the events table for the overview, the hosts ranking
 * and the lists page. The store only appends events (ids grow, rows are never
 * changed or deleted), so each use reads the rows after the last id seen and
 * adds them up: the page counts a million events in a few milliseconds
 * instead of scanning them at every request. The first use after the worker
 * starts reads the whole table once. A store whose ids went back (a new
 * database) starts the aggregates over.
 */
#include "web/web_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"

/*
 * A string-keyed hash table (open addressing); values are fixed-size records,
 * zeroed when new, or none (vsize 0: a set).
 */
struct hent {
	char *key;
	size_t klen; /* key holds klen bytes (and a NUL): keys may hold NULs */
	uint32_t hash;
	void *val;
};

struct hmap {
	struct hent *t;
	size_t cap, n, vsize;
	size_t *used; /* the aggregates' bytes, this map's among them */
};

static uint32_t hash_str(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++) {
		h ^= (uint8_t)s[i];
		h *= 16777619u;
	}
	return h ? h : 1;
}

static void hmap_init(struct hmap *m, size_t vsize, size_t *used)
{
	memset(m, 0, sizeof(*m));
	m->vsize = vsize;
	m->used = used;
}

static void hmap_free(struct hmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->t[i].key) {
			free(m->t[i].key);
			if (m->vsize)
				free(m->t[i].val);
		}
	free(m->t);
	m->t = NULL;
	m->cap = m->n = 0;
}

static void hmap_grow(struct hmap *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 64;
	struct hent *nt = calloc(ncap, sizeof(*nt));
	if (nt == NULL)
		fatal("web: out of memory");
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->t[i].key)
			continue;
		size_t j = m->t[i].hash & (ncap - 1);
		while (nt[j].key)
			j = (j + 1) & (ncap - 1);
		nt[j] = m->t[i];
	}
	free(m->t);
	m->t = nt;
	if (m->used)
		*m->used += (ncap - m->cap) * sizeof(*nt);
	m->cap = ncap;
}

/* The value for key (n bytes), made (zeroed) when absent; *isnew says so. */
static void *hmap_getk(struct hmap *m, const char *key, size_t n, int create, int *isnew,
                       const char **kout)
{
	uint32_t h = hash_str(key, n);
	if (isnew)
		*isnew = 0;
	if (m->cap) {
		size_t j = h & (m->cap - 1);
		while (m->t[j].key) {
			/* The length first: a colliding shorter key has fewer than n bytes. */
			if (m->t[j].hash == h && m->t[j].klen == n &&
			    !memcmp(m->t[j].key, key, n)) {
				if (kout)
					*kout = m->t[j].key;
				return m->t[j].val;
			}
			j = (j + 1) & (m->cap - 1);
		}
	}
	if (!create)
		return NULL;
	if ((m->n + 1) * 4 > m->cap * 3)
		hmap_grow(m);
	size_t j = h & (m->cap - 1);
	while (m->t[j].key)
		j = (j + 1) & (m->cap - 1);
	char *k = malloc(n + 1);
	/* A set (vsize 0) keeps no values: the map itself stands for "present". */
	void *v = m->vsize ? calloc(1, m->vsize) : (void *)m;
	if (k == NULL || v == NULL)
		fatal("web: out of memory");
	memcpy(k, key, n);
	k[n] = '\0';
	m->t[j].key = k;
	m->t[j].klen = n;
	m->t[j].hash = h;
	m->t[j].val = v;
	m->n++;
	if (m->used) /* the key and value, and what malloc keeps beside each */
		*m->used += n + 1 + m->vsize + 32;
	if (isnew)
		*isnew = 1;
	if (kout)
		*kout = k;
	return v;
}

static void *hmap_get(struct hmap *m, const char *key, size_t n, int create, int *isnew)
{
	return hmap_getk(m, key, n, create, isnew, NULL);
}

/* A growing array of pointers. */
struct parr {
	void **v;
	size_t n, cap;
};

static void parr_push(struct parr *a, void *p)
{
	if (a->n == a->cap) {
		size_t ncap = a->cap ? a->cap * 2 : 8;
		void **nv = realloc(a->v, ncap * sizeof(*nv));
		if (nv == NULL)
			fatal("web: out of memory");
		a->v = nv;
		a->cap = ncap;
	}
	a->v[a->n++] = p;
}

/* A key made of parts joined by NUL bytes. */
static size_t key2(char *buf, size_t len, const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la + lb + 2 > len)
		return 0;
	memcpy(buf, a, la + 1);
	memcpy(buf + la + 1, b, lb);
	buf[la + 1 + lb] = '\0';
	return la + 1 + lb;
}

struct host {
	int64_t events, dns, trap, payloads, domains, first, last;
	char *ip;         /* the key */
	struct parr doms; /* its struct hdom (host_dom values) */
	struct parr shas; /* the sha256 of its payloads (host_sha keys, after the ip) */
};

/* A domain of a host: its DNS queries, the first one. */
struct hdom {
	const char *domain; /* in the host_dom key */
	int64_t queries, first;
};

struct domain {
	int64_t n, hosts;
};

struct count {
	int64_t n, m; /* m: a second count (distinct domains of decided_by) */
};

struct minute {
	int64_t t, dns, trap, flow; /* t: unix seconds */
};

struct health {
	int64_t ts, id;
};

/*
 * What the aggregates may take: names come from hostile traffic (a flood of
 * random subdomains makes a new one per query), so past this no new name,
 * host or address is added anywhere; those already counted go on being
 * counted, and what the aggregates answered is marked incomplete, or left to
 * the store (which then answers the request by SQL).
 */
#define AGG_MAX_BYTES ((size_t)128 << 20)

struct agg {
	pthread_mutex_t lock;
	size_t used; /* bytes in the maps, about */
	int full;    /* AGG_MAX_BYTES was reached: some names are not counted */
	int64_t last_id;
	int64_t first_ts, last_ts;
	int64_t n_dns, n_trap, n_fileinfo, n_hosts_dt;
	struct hmap types;        /* event_type -> count */
	struct hmap hosts;        /* src_ip -> struct host (dns, trap, fileinfo, alert) */
	struct hmap host_dom;     /* ip\0domain of those -> struct hdom */
	struct hmap host_sha;     /* ip\0sha256 of fileinfo events: payloads per host */
	struct hmap dns_dom;      /* domain -> struct domain (dns events) */
	struct hmap dom_host;     /* domain\0ip of dns events: distinct hosts per domain */
	struct hmap domains;      /* every stored domain (any event) */
	struct hmap dests;        /* dest_ip -> count (any event) */
	struct hmap ports;        /* "port\0proto" -> count (trap) */
	struct hmap protos;       /* protocol -> count (trap) */
	struct hmap minutes;      /* "t" -> struct minute */
	struct hmap decided;      /* list\0reason -> count, m: distinct domains */
	struct hmap decided_dom;  /* list\0reason\0domain */
	struct health health[5];  /* the newest stats and alert events */
	int64_t load_id, load_ts; /* the newest list reload event */
	int64_t dnsstats_id, dnsstats_ts; /* the newest stats of the DNS worker */
	/* The hosts ranked (trap, events desc; ip), rebuilt when hosts changed. */
	struct host **ranked;
	size_t nranked;
	int ranked_dirty;
};

static void agg_reset(struct agg *a)
{
	struct hmap *maps[] = {&a->types,    &a->hosts,   &a->host_dom,    &a->dns_dom,
	                       &a->dom_host, &a->domains, &a->ports,       &a->protos,
	                       &a->minutes,  &a->decided, &a->decided_dom, &a->dests,
	                       &a->host_sha};
	size_t vs[] = {sizeof(struct count),
	               sizeof(struct host),
	               sizeof(struct hdom),
	               sizeof(struct domain),
	               0,
	               sizeof(struct count),
	               sizeof(struct count),
	               sizeof(struct count),
	               sizeof(struct minute),
	               sizeof(struct count),
	               0,
	               sizeof(struct count),
	               0};
	for (size_t i = 0; i < a->hosts.cap; i++)
		if (a->hosts.t[i].key) {
			struct host *h = a->hosts.t[i].val;
			free(h->doms.v);
			free(h->shas.v);
		}
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		if (maps[i]->t)
			hmap_free(maps[i]);
		hmap_init(maps[i], vs[i], &a->used);
	}
	a->used = 0;
	a->full = 0;
	free(a->ranked);
	a->ranked = NULL;
	a->nranked = 0;
	a->ranked_dirty = 1;
	a->last_id = 0;
	a->first_ts = a->last_ts = 0;
	a->n_dns = a->n_trap = a->n_fileinfo = a->n_hosts_dt = 0;
	memset(a->health, 0, sizeof(a->health));
	a->load_id = a->load_ts = 0;
	a->dnsstats_id = a->dnsstats_ts = 0;
}

struct agg *agg_new(void)
{
	struct agg *a = calloc(1, sizeof(*a));
	if (a == NULL)
		fatal("web: out of memory");
	pthread_mutex_init(&a->lock, NULL);
	agg_reset(a);
	return a;
}

void agg_free(struct agg *a)
{
	if (a == NULL)
		return;
	agg_reset(a);
	struct hmap *maps[] = {&a->types,    &a->hosts,   &a->host_dom,    &a->dns_dom,
	                       &a->dom_host, &a->domains, &a->ports,       &a->protos,
	                       &a->minutes,  &a->decided, &a->decided_dom, &a->dests,
	                       &a->host_sha};
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
		hmap_free(maps[i]);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

static const char *col(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

/* The value for key, made when absent unless the aggregates are full (NULL then). */
static void *agg_getk(struct agg *a, struct hmap *m, const char *key, size_t n, int *isnew,
                      const char **kout)
{
	int made = 0;
	void *v = hmap_getk(m, key, n, 0, NULL, kout);
	if (v == NULL) {
		if (a->used >= AGG_MAX_BYTES) {
			if (!a->full)
				log_warnx(
				    "web: the running totals hold %zu MiB: new names, hosts "
				    "and addresses are not counted any more (the pages say "
				    "so; searches ask the store)",
				    a->used >> 20);
			a->full = 1;
			if (isnew)
				*isnew = 0;
			return NULL;
		}
		v = hmap_getk(m, key, n, 1, NULL, kout);
		made = 1;
	}
	if (isnew)
		*isnew = made;
	return v;
}

static void *agg_get(struct agg *a, struct hmap *m, const char *key, size_t n, int *isnew)
{
	return agg_getk(a, m, key, n, isnew, NULL);
}

static void count_up(struct agg *a, struct hmap *m, const char *key, size_t n)
{
	struct count *c = agg_get(a, m, key, n, NULL);
	if (c)
		c->n++;
}

static void add_row(struct agg *a, sqlite3_stmt *st)
{
	int64_t id = sqlite3_column_int64(st, 0), ts = sqlite3_column_int64(st, 1);
	const char *type = col(st, 2), *ip = col(st, 3), *proto = col(st, 5), *dom = col(st, 6);
	/* A name is kept whole, a NUL in it too (it comes from hostile traffic). */
	size_t doml = dom ? (size_t)sqlite3_column_bytes(st, 6) : 0;
	int have_port = sqlite3_column_type(st, 4) != SQLITE_NULL;
	int64_t port = sqlite3_column_int64(st, 4);
	char kb[2048];
	size_t kl;
	int isnew;
	if (type == NULL)
		type = "";
	a->last_id = id;
	if (a->first_ts == 0 || ts < a->first_ts)
		a->first_ts = ts;
	if (ts > a->last_ts)
		a->last_ts = ts;
	count_up(a, &a->types, type, strlen(type));
	int is_dns = !strcmp(type, "dns"), is_trap = !strcmp(type, "trap");
	int is_file = !strcmp(type, "fileinfo"), is_alert = !strcmp(type, "alert");
	a->n_dns += is_dns;
	a->n_trap += is_trap;
	a->n_fileinfo += is_file;
	if (dom)
		count_up(a, &a->domains, dom, doml);
	const char *dst = col(st, 11);
	if (dst)
		count_up(a, &a->dests, dst, strlen(dst));
	struct host *h = NULL;
	if (ip && (is_dns || is_trap || is_file || is_alert))
		h = agg_get(a, &a->hosts, ip, strlen(ip), &isnew);
	if (h) {
		if (isnew)
			h->first = ts;
		if ((is_dns || is_trap) && h->dns + h->trap == 0)
			a->n_hosts_dt++;
		h->events++;
		h->dns += is_dns;
		h->trap += is_trap;
		h->payloads += is_file;
		if (ts < h->first)
			h->first = ts;
		if (ts > h->last)
			h->last = ts;
		if (dom && (kl = key2(kb, sizeof(kb), ip, dom))) {
			const char *k;
			struct hdom *hd = agg_getk(a, &a->host_dom, kb, kl, &isnew, &k);
			if (hd && isnew) {
				hd->domain = k + strlen(ip) + 1;
				h->domains++;
				parr_push(&h->doms, hd);
			}
			if (hd && is_dns) {
				if (hd->queries == 0 || ts < hd->first)
					hd->first = ts;
				hd->queries++;
			}
		}
		const char *sha = col(st, 12);
		if (is_file && sha && (kl = key2(kb, sizeof(kb), ip, sha))) {
			const char *k;
			if (agg_getk(a, &a->host_sha, kb, kl, &isnew, &k) && isnew)
				parr_push(&h->shas, (void *)(k + strlen(ip) + 1));
		}
		a->ranked_dirty = 1;
	}
	struct domain *d = is_dns && dom ? agg_get(a, &a->dns_dom, dom, doml, NULL) : NULL;
	if (d) {
		d->n++;
		if (ip && (kl = key2(kb, sizeof(kb), dom, ip)) &&
		    agg_get(a, &a->dom_host, kb, kl, &isnew))
			d->hosts += isnew;
	}
	if (is_dns) {
		/* decided_by: the deciding list file and the reason (NULL when absent). */
		const char *list = col(st, 8), *reason = col(st, 9);
		char k[1024];
		int n = snprintf(k, sizeof(k), "%c%s%c%c%s", list ? 'L' : '-', list ? list : "",
		                 0, reason ? 'R' : '-', reason ? reason : "");
		if (n > 0 && (size_t)n < sizeof(k)) {
			struct count *c = agg_get(a, &a->decided, k, (size_t)n, NULL);
			if (c)
				c->n++;
			if (c && dom && (size_t)n + strlen(dom) + 2 < sizeof(kb)) {
				memcpy(kb, k, (size_t)n);
				kb[n] = '\0';
				memcpy(kb + n + 1, dom, strlen(dom) + 1);
				if (agg_get(a, &a->decided_dom, kb, (size_t)n + 1 + strlen(dom),
				            &isnew))
					c->m += isnew;
			}
		}
	}
	if (is_trap) {
		if (have_port) {
			int n = snprintf(kb, sizeof(kb), "%lld%c%s", (long long)port, 0,
			                 proto ? proto : "");
			if (n > 0 && (size_t)n < sizeof(kb))
				count_up(a, &a->ports, kb, (size_t)n);
		}
		if (sqlite3_column_type(st, 7) != SQLITE_NULL) {
			const char *p = col(st, 7);
			count_up(a, &a->protos, p, strlen(p));
		}
	}
	if (is_dns || is_trap || !strcmp(type, "flow")) {
		int n = snprintf(kb, sizeof(kb), "%lld", (long long)((ts / 60000000) * 60));
		struct minute *m = agg_get(a, &a->minutes, kb, (size_t)n, NULL);
		if (m) {
			m->t = (ts / 60000000) * 60;
			m->dns += is_dns;
			m->trap += is_trap;
			m->flow += !is_dns && !is_trap;
		}
	} else if (is_alert || !strcmp(type, "stats")) {
		/* Keep the five newest by (ts, id). */
		int k = 5;
		while (k > 0 && (a->health[k - 1].ts < ts ||
		                 (a->health[k - 1].ts == ts && a->health[k - 1].id < id)))
			k--;
		if (k < 5) {
			memmove(&a->health[k + 1], &a->health[k],
			        (size_t)(4 - k) * sizeof(a->health[0]));
			a->health[k].ts = ts;
			a->health[k].id = id;
		}
		int what = sqlite3_column_int(st, 10);
		if (what == 1 && ts >= a->load_ts) {
			a->load_ts = ts;
			a->load_id = id;
		} else if (what == 2 && ts >= a->dnsstats_ts) {
			a->dnsstats_ts = ts;
			a->dnsstats_id = id;
		}
	}
}

#define SCAN_SQL                                                                               \
	"SELECT id, ts, event_type, src_ip, dest_port, proto, domain, "                        \
	"CASE WHEN event_type = 'trap' AND json_valid(json) THEN "                             \
	"coalesce(json_extract(json, '$.app_proto'), proto) END, "                             \
	"CASE WHEN event_type = 'dns' AND json_valid(json) THEN "                              \
	"json_extract(json, '$.sinkhole.list') END, "                                          \
	"CASE WHEN event_type = 'dns' AND json_valid(json) THEN "                              \
	"json_extract(json, '$.sinkhole.reason') END, "                                        \
	"CASE WHEN event_type = 'stats' AND json_valid(json) THEN "                            \
	"CASE WHEN json_type(json, '$.stats.reload.lists') = 'array' THEN 1 "                  \
	"WHEN json_type(json, '$.stats.dns.rules') = 'integer' THEN 2 END END, dest_ip, "      \
	"CASE WHEN event_type = 'fileinfo' AND json_valid(json) THEN "                         \
	"json_extract(json, '$.fileinfo.sha256') END "                                         \
	"FROM events WHERE id > ? ORDER BY id LIMIT 50000"

static int update_locked(struct agg *a, sqlite3 *d)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(d, "SELECT max(id) FROM events", -1, &st, NULL) != SQLITE_OK)
		return -1;
	int64_t max = 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		max = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (max < a->last_id) {
		log_info("the store's events start over: counting them again");
		agg_reset(a);
	}
	if (max == a->last_id)
		return 0;
	if (sqlite3_prepare_v2(d, SCAN_SQL, -1, &st, NULL) != SQLITE_OK) {
		log_warnx("web: %s", sqlite3_errmsg(d));
		return -1;
	}
	for (;;) {
		int64_t before = a->last_id;
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, a->last_id);
		int r;
		while ((r = sqlite3_step(st)) == SQLITE_ROW)
			add_row(a, st);
		if (r != SQLITE_DONE) {
			log_warnx("web: %s", sqlite3_errmsg(d));
			sqlite3_finalize(st);
			return -1;
		}
		if (a->last_id == before || a->last_id >= max)
			break;
	}
	sqlite3_finalize(st);
	return 0;
}

int agg_update(struct agg *a, sqlite3 *d)
{
	pthread_mutex_lock(&a->lock);
	int r = update_locked(a, d);
	pthread_mutex_unlock(&a->lock);
	return r;
}

/* The top k entries of a map by a count, for the JSON answers. */
struct top {
	const char *key;
	const void *val;
	int64_t n;
};

static int top_cmp(const void *x, const void *y)
{
	const struct top *a = x, *b = y;
	if (a->n != b->n)
		return a->n > b->n ? -1 : 1;
	return strcmp(a->key, b->key);
}

/* Up to k entries with the largest n(val); returns how many. */
static size_t top_k(const struct hmap *m, int64_t (*n)(const void *), struct top *out, size_t k)
{
	size_t have = 0;
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->t[i].key)
			continue;
		struct top t = {m->t[i].key, m->t[i].val, n(m->t[i].val)};
		if (have < k) {
			out[have++] = t;
			qsort(out, have, sizeof(*out), top_cmp);
		} else if (top_cmp(&t, &out[k - 1]) < 0) {
			out[k - 1] = t;
			qsort(out, have, sizeof(*out), top_cmp);
		}
	}
	return have;
}

static int64_t n_count(const void *v)
{
	return ((const struct count *)v)->n;
}

static int64_t n_domain(const void *v)
{
	return ((const struct domain *)v)->n;
}

static int64_t n_host_dt(const void *v)
{
	const struct host *h = v;
	return h->dns + h->trap;
}

static void json_str(struct strbuf *sb, const char *s)
{
	if (s == NULL)
		strbuf_puts(sb, "null");
	else
		strbuf_json_str(sb, (const uint8_t *)s, strlen(s));
}

static int minute_cmp(const void *x, const void *y)
{
	const struct top *a = x, *b = y;
	return a->n < b->n ? -1 : a->n > b->n;
}

void agg_stats_json(struct agg *a, sqlite3 *d, struct strbuf *sb)
{
	struct top top[10];
	size_t n;
	pthread_mutex_lock(&a->lock);
	strbuf_puts(sb, "{\"counts\":[");
	{
		struct top *all = calloc(a->types.n ? a->types.n : 1, sizeof(*all));
		size_t k = 0;
		for (size_t i = 0; all && i < a->types.cap; i++)
			if (a->types.t[i].key)
				all[k++] = (struct top){a->types.t[i].key, a->types.t[i].val,
				                        n_count(a->types.t[i].val)};
		if (all)
			qsort(all, k, sizeof(*all), top_cmp);
		for (size_t i = 0; i < k; i++) {
			strbuf_puts(sb, i ? ",{\"event_type\":" : "{\"event_type\":");
			json_str(sb, all[i].key);
			strbuf_printf(sb, ",\"n\":%lld}", (long long)all[i].n);
		}
		free(all);
	}
	strbuf_printf(sb,
	              "],\"totals\":[{\"dns_queries\":%lld,\"trap_connections\":%lld,"
	              "\"payloads\":%lld,\"hosts\":%lld,\"domains\":%lld,",
	              (long long)a->n_dns, (long long)a->n_trap, (long long)a->n_fileinfo,
	              (long long)a->n_hosts_dt, (long long)a->dns_dom.n);
	/* complete: false once some names were past what the totals may hold */
	strbuf_printf(sb, "\"complete\":%s,", a->full ? "false" : "true");
	if (a->last_id)
		strbuf_printf(sb, "\"first_ts\":%lld,\"last_ts\":%lld}]",
		              (long long)a->first_ts, (long long)a->last_ts);
	else
		strbuf_puts(sb, "\"first_ts\":null,\"last_ts\":null}]");

	strbuf_puts(sb, ",\"top_domains\":[");
	n = top_k(&a->dns_dom, n_domain, top, 10);
	for (size_t i = 0; i < n; i++) {
		const struct domain *dm = top[i].val;
		strbuf_puts(sb, i ? ",{\"domain\":" : "{\"domain\":");
		json_str(sb, top[i].key);
		strbuf_printf(sb, ",\"n\":%lld,\"hosts\":%lld}", (long long)dm->n,
		              (long long)dm->hosts);
	}
	strbuf_puts(sb, "],\"top_hosts\":[");
	n = top_k(&a->hosts, n_host_dt, top, 10);
	for (size_t i = 0, k = 0; i < n; i++) {
		const struct host *h = top[i].val;
		if (h->dns + h->trap == 0)
			continue;
		strbuf_puts(sb, k++ ? ",{\"ip\":" : "{\"ip\":");
		json_str(sb, top[i].key);
		strbuf_printf(sb, ",\"n\":%lld,\"trap\":%lld}", (long long)(h->dns + h->trap),
		              (long long)h->trap);
	}
	strbuf_puts(sb, "],\"top_ports\":[");
	n = top_k(&a->ports, n_count, top, 10);
	for (size_t i = 0; i < n; i++) {
		const char *proto = top[i].key + strlen(top[i].key) + 1;
		strbuf_printf(sb, "%s{\"port\":%s,\"proto\":", i ? "," : "", top[i].key);
		json_str(sb, *proto ? proto : NULL);
		strbuf_printf(sb, ",\"n\":%lld}", (long long)top[i].n);
	}
	strbuf_puts(sb, "],\"top_protocols\":[");
	n = top_k(&a->protos, n_count, top, 10);
	for (size_t i = 0; i < n; i++) {
		strbuf_puts(sb, i ? ",{\"protocol\":" : "{\"protocol\":");
		json_str(sb, top[i].key);
		strbuf_printf(sb, ",\"n\":%lld}", (long long)top[i].n);
	}
	/* Per-minute buckets over the last 24 hours with events. */
	strbuf_puts(sb, "],\"timeline\":[");
	{
		int64_t from = (a->last_ts - 86400000000LL) / 1000000;
		struct top *mins = calloc(1441 + 1, sizeof(*mins));
		size_t k = 0;
		for (size_t i = 0; mins && i < a->minutes.cap; i++) {
			if (!a->minutes.t[i].key)
				continue;
			int64_t t = ((const struct minute *)a->minutes.t[i].val)->t;
			if (t + 60 <= from || k > 1441)
				continue;
			mins[k++] = (struct top){a->minutes.t[i].key, a->minutes.t[i].val, t};
		}
		if (mins)
			qsort(mins, k, sizeof(*mins), minute_cmp);
		for (size_t i = 0; i < k; i++) {
			const struct minute *m = mins[i].val;
			strbuf_printf(sb,
			              "%s{\"t\":%lld,\"dns\":%lld,\"trap\":%lld,\"flow\":%lld}",
			              i ? "," : "", (long long)mins[i].n, (long long)m->dns,
			              (long long)m->trap, (long long)m->flow);
		}
		free(mins);
	}
	struct health health[5];
	memcpy(health, a->health, sizeof(health));
	pthread_mutex_unlock(&a->lock);

	/* The newest stats and alert events, read by their ids. */
	strbuf_puts(sb, "],\"health\":[");
	sqlite3_stmt *st = NULL;
	if (d &&
	    sqlite3_prepare_v2(d,
	                       "SELECT CASE WHEN json_valid(json) THEN json ELSE 'null' END "
	                       "FROM events WHERE id = ?",
	                       -1, &st, NULL) == SQLITE_OK) {
		for (int i = 0, k = 0; i < 5 && health[i].id; i++) {
			sqlite3_reset(st);
			sqlite3_bind_int64(st, 1, health[i].id);
			if (sqlite3_step(st) != SQLITE_ROW)
				continue;
			strbuf_printf(sb, "%s{\"ts\":%lld,\"event\":", k++ ? "," : "",
			              (long long)health[i].ts);
			strbuf_put(sb, sqlite3_column_text(st, 0),
			           (size_t)sqlite3_column_bytes(st, 0));
			strbuf_putc(sb, '}');
		}
		sqlite3_finalize(st);
	}
	strbuf_puts(sb, "]}");
}

static int host_cmp(const void *x, const void *y)
{
	const struct host *a = *(struct host *const *)x, *b = *(struct host *const *)y;
	if (a->trap != b->trap)
		return a->trap > b->trap ? -1 : 1;
	if (a->events != b->events)
		return a->events > b->events ? -1 : 1;
	return strcmp(a->ip, b->ip);
}

void agg_hosts_json(struct agg *a, int64_t limit, int64_t offset, struct strbuf *sb)
{
	pthread_mutex_lock(&a->lock);
	if (a->ranked_dirty) {
		free(a->ranked);
		a->ranked = calloc(a->hosts.n ? a->hosts.n : 1, sizeof(*a->ranked));
		a->nranked = 0;
		for (size_t i = 0; a->ranked && i < a->hosts.cap; i++)
			if (a->hosts.t[i].key) {
				struct host *h = a->hosts.t[i].val;
				h->ip = a->hosts.t[i].key;
				a->ranked[a->nranked++] = h;
			}
		if (a->ranked)
			qsort(a->ranked, a->nranked, sizeof(*a->ranked), host_cmp);
		a->ranked_dirty = 0;
	}
	strbuf_printf(
	    sb, "{\"total\":%lld,\"total_exact\":%s,\"limit\":%lld,\"offset\":%lld,\"items\":[",
	    (long long)a->nranked, a->full ? "false" : "true", (long long)limit,
	    (long long)offset);
	for (int64_t i = offset; i < offset + limit && i < (int64_t)a->nranked; i++) {
		const struct host *h = a->ranked[i];
		strbuf_puts(sb, i > offset ? ",{\"ip\":" : "{\"ip\":");
		json_str(sb, h->ip);
		strbuf_printf(sb,
		              ",\"events\":%lld,\"dns\":%lld,\"trap\":%lld,\"payloads\":%lld,"
		              "\"domains\":%lld,\"first_seen\":%lld,\"last_seen\":%lld}",
		              (long long)h->events, (long long)h->dns, (long long)h->trap,
		              (long long)h->payloads, (long long)h->domains,
		              (long long)h->first, (long long)h->last);
	}
	strbuf_puts(sb, "]}");
	pthread_mutex_unlock(&a->lock);
}

int agg_domains_under(struct agg *a, const char *d, int max, struct strbuf *out,
                      int64_t *events)
{
	/* Names as clients sent them (a Host header, an SNI): any case, a final dot. */
	size_t dl = strlen(d);
	if (dl && d[dl - 1] == '.')
		dl--;
	int n = 0;
	int64_t ev = 0;
	pthread_mutex_lock(&a->lock);
	if (a->full) {
		/* Not every name is here: the store's own search (LIKE) finds them all. */
		pthread_mutex_unlock(&a->lock);
		if (events)
			*events = INT64_MAX;
		return -1;
	}
	strbuf_putc(out, '[');
	for (size_t i = 0; i < a->domains.cap; i++) {
		const char *k = a->domains.t[i].key;
		if (k == NULL)
			continue;
		size_t kl = a->domains.t[i].klen;
		if (kl && k[kl - 1] == '.')
			kl--;
		if (kl < dl || strncasecmp(k + kl - dl, d, dl) ||
		    (kl > dl && k[kl - dl - 1] != '.'))
			continue;
		/* A name the JSON list cannot carry as its bytes (a NUL, bytes that are
		 * not UTF-8: they would come back from json_each as other bytes) is
		 * found by the store's own search instead. */
		if (!text_plain((const uint8_t *)k, a->domains.t[i].klen) || ++n > max) {
			n = -1;
			break;
		}
		if (n > 1)
			strbuf_putc(out, ',');
		json_str(out, k);
		ev += ((const struct count *)a->domains.t[i].val)->n;
	}
	strbuf_putc(out, ']');
	pthread_mutex_unlock(&a->lock);
	if (events)
		*events = ev;
	return n;
}

void agg_decided_by_json(struct agg *a, struct strbuf *sb)
{
	struct top top[100];
	pthread_mutex_lock(&a->lock);
	size_t n = top_k(&a->decided, n_count, top, 100);
	strbuf_putc(sb, '[');
	for (size_t i = 0; i < n; i++) {
		const char *list = top[i].key, *reason = list + strlen(list) + 1;
		const struct count *c = top[i].val;
		strbuf_puts(sb, i ? ",{\"list\":" : "{\"list\":");
		json_str(sb, list[0] == 'L' ? list + 1 : NULL);
		strbuf_puts(sb, ",\"reason\":");
		json_str(sb, reason[0] == 'R' ? reason + 1 : NULL);
		strbuf_printf(sb, ",\"queries\":%lld,\"domains\":%lld}", (long long)c->n,
		              (long long)c->m);
	}
	strbuf_putc(sb, ']');
	pthread_mutex_unlock(&a->lock);
}

void agg_list_events(struct agg *a, int64_t *reload_id, int64_t *dnsstats_id)
{
	pthread_mutex_lock(&a->lock);
	*reload_id = a->load_id;
	*dnsstats_id = a->dnsstats_id;
	pthread_mutex_unlock(&a->lock);
}

int64_t agg_host_events(struct agg *a, const char *ip)
{
	pthread_mutex_lock(&a->lock);
	const struct host *h = hmap_get(&a->hosts, ip, strlen(ip), 0, NULL);
	const struct count *c = hmap_get(&a->dests, ip, strlen(ip), 0, NULL);
	int64_t n = (h ? h->events : 0) + (c ? c->n : 0);
	if (a->full && h == NULL && c == NULL)
		n = INT64_MAX; /* not counted, perhaps a busy one: not known to be small */
	pthread_mutex_unlock(&a->lock);
	return n;
}

static int hdom_cmp(const void *x, const void *y)
{
	const struct hdom *a = *(struct hdom *const *)x, *b = *(struct hdom *const *)y;
	if (a->queries != b->queries)
		return a->queries > b->queries ? -1 : 1;
	return strcmp(a->domain, b->domain);
}

int agg_host_domains_json(struct agg *a, const char *ip, int max, struct strbuf *sb)
{
	pthread_mutex_lock(&a->lock);
	if (a->full) {
		pthread_mutex_unlock(&a->lock);
		return -1; /* some of its domains may not be counted: the store answers */
	}
	const struct host *h = hmap_get(&a->hosts, ip, strlen(ip), 0, NULL);
	struct hdom **v = NULL;
	size_t n = 0;
	if (h && h->doms.n) {
		v = malloc(h->doms.n * sizeof(*v));
		for (size_t i = 0; v && i < h->doms.n; i++)
			if (((struct hdom *)h->doms.v[i])->queries > 0)
				v[n++] = h->doms.v[i];
	}
	if (v)
		qsort(v, n, sizeof(*v), hdom_cmp);
	strbuf_putc(sb, '[');
	for (size_t i = 0; i < n && i < (size_t)max; i++) {
		strbuf_puts(sb, i ? ",{\"domain\":" : "{\"domain\":");
		json_str(sb, v[i]->domain);
		strbuf_printf(sb, ",\"queries\":%lld,\"first_seen\":%lld}",
		              (long long)v[i]->queries, (long long)v[i]->first);
	}
	strbuf_putc(sb, ']');
	pthread_mutex_unlock(&a->lock);
	free(v);
	return 0;
}

int agg_host_payloads(struct agg *a, const char *ip, int max, struct strbuf *sb)
{
	pthread_mutex_lock(&a->lock);
	if (a->full) {
		pthread_mutex_unlock(&a->lock);
		return -1;
	}
	const struct host *h = hmap_get(&a->hosts, ip, strlen(ip), 0, NULL);
	int n = h ? (int)h->shas.n : 0;
	if (n > max)
		n = -1;
	strbuf_putc(sb, '[');
	for (int i = 0; i < n; i++) {
		if (i)
			strbuf_putc(sb, ',');
		json_str(sb, h->shas.v[i]);
	}
	strbuf_putc(sb, ']');
	pthread_mutex_unlock(&a->lock);
	return n;
}

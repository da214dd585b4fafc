#include "status.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/config.h"
#include "../common/event.h"
#include "../common/util.h"

#define STALE_USEC (5 * 1000000LL)

int status_write(const char *state_dir, const char *json, size_t len)
{
	char path[4200], tmp[4220];
	snprintf(path, sizeof(path), "%s/" STATUS_FILE, state_dir);
	snprintf(tmp, sizeof(tmp), "%s/." STATUS_FILE ".tmp", state_dir);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int r = write_full(fd, json, len);
	close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

/* ---------------------------------------------------------------- a small JSON reader */

enum jt { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
	enum jt t;
	double num;
	int64_t i;
	char *s;         /* J_STR: decoded, NUL-terminated. Malloced. */
	char *key;       /* member name inside an object. Malloced. */
	struct jv *kids; /* J_ARR / J_OBJ. Malloced. */
	size_t n;
};

struct jp {
	const char *p, *end;
	int depth;
};

static void jv_free(struct jv *v)
{
	for (size_t i = 0; i < v->n; i++)
		jv_free(&v->kids[i]);
	free(v->kids);
	free(v->s);
	free(v->key);
}

static void ws(struct jp *p)
{
	while (p->p < p->end &&
	       (*p->p == ' ' || *p->p == '\n' || *p->p == '\t' || *p->p == '\r'))
		p->p++;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
	                              : -1;
}

static int parse_str(struct jp *p, char **out)
{
	if (p->p >= p->end || *p->p != '"')
		return -1;
	p->p++;
	size_t cap = 32, n = 0;
	char *s = xmalloc(cap);
	while (p->p < p->end && *p->p != '"') {
		unsigned cp = (unsigned char)*p->p++;
		int escaped = cp == '\\';
		if (escaped) {
			if (p->p >= p->end)
				goto bad;
			char e = *p->p++;
			switch (e) {
			case 'n':
				cp = '\n';
				break;
			case 't':
				cp = '\t';
				break;
			case 'r':
				cp = '\r';
				break;
			case 'b':
				cp = '\b';
				break;
			case 'f':
				cp = '\f';
				break;
			case 'u':
				if (p->end - p->p < 4)
					goto bad;
				cp = 0;
				for (int k = 0; k < 4; k++) {
					int h = hexval(p->p[k]);
					if (h < 0)
						goto bad;
					cp = cp << 4 | (unsigned)h;
				}
				p->p += 4;
				break;
			default:
				cp = (unsigned char)e;
				break;
			}
		}
		if (n + 4 >= cap)
			s = xreallocarray(s, cap *= 2, 1);
		if (!escaped || (cp > 0 && cp < 0x80)) {
			s[n++] = (char)cp; /* raw bytes are kept as they are */
		} else if (cp == 0) {
			s[n++] = '?';
		} else if (cp < 0x800) {
			s[n++] = (char)(0xC0 | cp >> 6);
			s[n++] = (char)(0x80 | (cp & 0x3F));
		} else {
			s[n++] = (char)(0xE0 | cp >> 12);
			s[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
			s[n++] = (char)(0x80 | (cp & 0x3F));
		}
	}
	if (p->p >= p->end)
		goto bad;
	p->p++;
	s[n] = '\0';
	*out = s;
	return 0;
bad:
	free(s);
	return -1;
}

static int parse_val(struct jp *p, struct jv *v);

static int parse_list(struct jp *p, struct jv *v, char close, int obj)
{
	size_t cap = 0;
	p->p++;
	ws(p);
	if (p->p < p->end && *p->p == close) {
		p->p++;
		return 0;
	}
	for (;;) {
		if (v->n == cap) {
			cap = cap ? cap * 2 : 8;
			v->kids = xreallocarray(v->kids, cap, sizeof(*v->kids));
		}
		struct jv *k = &v->kids[v->n];
		memset(k, 0, sizeof(*k));
		ws(p);
		if (obj) {
			if (parse_str(p, &k->key) < 0)
				return -1;
			ws(p);
			if (p->p >= p->end || *p->p != ':') {
				free(k->key);
				return -1;
			}
			p->p++;
		}
		v->n++;
		if (parse_val(p, k) < 0)
			return -1;
		ws(p);
		if (p->p >= p->end)
			return -1;
		if (*p->p == ',') {
			p->p++;
			continue;
		}
		if (*p->p == close) {
			p->p++;
			return 0;
		}
		return -1;
	}
}

static int parse_val(struct jp *p, struct jv *v)
{
	ws(p);
	if (p->p >= p->end || ++p->depth > 32)
		return -1;
	int r = -1;
	char c = *p->p;
	if (c == '{') {
		v->t = J_OBJ;
		r = parse_list(p, v, '}', 1);
	} else if (c == '[') {
		v->t = J_ARR;
		r = parse_list(p, v, ']', 0);
	} else if (c == '"') {
		v->t = J_STR;
		r = parse_str(p, &v->s);
	} else if (p->end - p->p >= 4 && !memcmp(p->p, "true", 4)) {
		v->t = J_BOOL, v->i = 1, p->p += 4, r = 0;
	} else if (p->end - p->p >= 5 && !memcmp(p->p, "false", 5)) {
		v->t = J_BOOL, v->i = 0, p->p += 5, r = 0;
	} else if (p->end - p->p >= 4 && !memcmp(p->p, "null", 4)) {
		v->t = J_NULL, p->p += 4, r = 0;
	} else if (c == '-' || (c >= '0' && c <= '9')) {
		char buf[64];
		size_t n = 0;
		while (p->p < p->end && n < sizeof(buf) - 1 && strchr("+-0123456789.eE", *p->p))
			buf[n++] = *p->p++;
		buf[n] = '\0';
		char *e1, *e2;
		v->t = J_NUM;
		v->num = strtod(buf, &e1);
		v->i = strtoll(buf, &e2, 10);
		if (*e2 != '\0') /* not an integer: its value, within range */
			v->i = v->num >= 9.2e18    ? INT64_MAX
			       : v->num <= -9.2e18 ? INT64_MIN
			       : v->num == v->num  ? (int64_t)v->num
			                           : 0;
		r = *e1 == '\0' ? 0 : -1;
	}
	p->depth--;
	return r;
}

static const struct jv *get(const struct jv *o, const char *key)
{
	if (o == NULL || o->t != J_OBJ)
		return NULL;
	for (size_t i = 0; i < o->n; i++)
		if (!strcmp(o->kids[i].key, key))
			return &o->kids[i];
	return NULL;
}

static int64_t get_i(const struct jv *o, const char *key)
{
	const struct jv *v = get(o, key);
	return v && (v->t == J_NUM || v->t == J_BOOL) ? v->i : 0;
}

static const char *get_s(const struct jv *o, const char *key)
{
	const struct jv *v = get(o, key);
	return v && v->t == J_STR ? v->s : "";
}

/* ---------------------------------------------------------------- printing */

static void fmt_time(int64_t usec, char *out, size_t n)
{
	time_t t = (time_t)(usec / 1000000);
	struct tm tm;
	if (usec <= 0) {
		snprintf(out, n, "never");
		return;
	}
	gmtime_r(&t, &tm);
	strftime(out, n, "%Y-%m-%d %H:%M:%SZ", &tm);
}

static void print_flat(FILE *out, const struct jv *o, const char *prefix, int *col)
{
	for (size_t i = 0; i < o->n; i++) {
		const struct jv *k = &o->kids[i];
		char name[128];
		snprintf(name, sizeof(name), "%s%s%s", prefix, *prefix ? "." : "", k->key);
		if (k->t == J_OBJ) {
			print_flat(out, k, name, col);
			continue;
		}
		if (k->t == J_ARR)
			continue;
		char val[160];
		if (k->t == J_NUM)
			snprintf(val, sizeof(val), "%" PRId64, k->i);
		else if (k->t == J_BOOL)
			snprintf(val, sizeof(val), "%s", k->i ? "yes" : "no");
		else if (k->t == J_STR)
			snprintf(val, sizeof(val), "%s", k->s);
		else
			snprintf(val, sizeof(val), "-");
		int w = fprintf(out, "%s%s=%s", *col ? "  " : "    ", name, val);
		*col += w;
		if (*col > 80) {
			fputc('\n', out);
			*col = 0;
		}
	}
}

int status_print(const char *json, size_t len, int64_t now_usec, FILE *out)
{
	struct jp p = {json, json + len, 0};
	struct jv root;
	memset(&root, 0, sizeof(root));
	if (parse_val(&p, &root) < 0 || root.t != J_OBJ) {
		jv_free(&root);
		return -1;
	}
	int64_t updated = get_i(&root, "updated_usec");
	int64_t age = now_usec - updated;
	char when[64];
	fmt_time(updated, when, sizeof(when));
	fprintf(out,
	        "store pid %" PRId64 ", status of %s (%.1f s ago), %" PRId64 " events taken\n",
	        get_i(&root, "pid"), when, (double)age / 1e6, get_i(&root, "events"));
	int stale = updated == 0 || age > STALE_USEC;
	if (stale)
		fprintf(
		    out,
		    "the store has not updated its status for %.0f s: is sinktrap running?\n",
		    (double)age / 1e6);
	fprintf(out, "\n%-28s %-10s %-6s %12s %10s %10s  %s\n", "SINK", "KIND", "STATE",
	        "DELIVERED", "QUEUED", "DROPPED", "DESTINATION / LAST ERROR");
	const struct jv *sinks = get(&root, "sinks");
	for (size_t i = 0; sinks && sinks->t == J_ARR && i < sinks->n; i++) {
		const struct jv *s = &sinks->kids[i];
		const char *err = get_s(s, "last_error");
		const char *fmt = get_s(s, "format");
		char dest[300];
		snprintf(dest, sizeof(dest), "%s%s%s%s", get_s(s, "dest"), *fmt ? " (" : "",
		         fmt, *fmt ? ")" : "");
		fprintf(out, "%-28s %-10s %-6s %12" PRId64 " %10" PRId64 " %10" PRId64 "  %s\n",
		        get_s(s, "name"), get_s(s, "kind"),
		        get_i(s, "connected") ? "up" : "down", get_i(s, "delivered"),
		        get_i(s, "queued"), get_i(s, "dropped"), dest);
		/* A JSON file is always "up"; its error is that it cannot rotate. */
		if (*err && (!get_i(s, "connected") || !strcmp(get_s(s, "kind"), "json")))
			fprintf(out, "%-28s %-10s %-6s %12s %10s %10s  last error: %s\n", "",
			        "", "", "", "", "", err);
	}
	const struct jv *workers = get(&root, "workers");
	for (size_t i = 0; workers && workers->t == J_OBJ && i < workers->n; i++) {
		const struct jv *w = &workers->kids[i];
		const struct jv *st = get(get(w, "stats"), w->key);
		char ts[64];
		int col = 0;
		fmt_time(get_i(w, "timestamp_usec"), ts, sizeof(ts));
		fprintf(out, "\n%s worker, stats of %s:\n", w->key, get_s(w, "timestamp"));
		if (st && st->t == J_OBJ)
			print_flat(out, st, "", &col);
		if (col)
			fputc('\n', out);
	}
	jv_free(&root);
	return stale ? 1 : 0;
}

int status_main(int argc, char **argv)
{
	const char *conf = NULL;
	int raw = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-c") && i + 1 < argc) {
			conf = argv[++i];
		} else if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j")) {
			raw = 1;
		} else if (!strcmp(argv[i], "-d")) {
			continue;
		} else {
			fprintf(stderr, "usage: sinktrap status [-c FILE] [--json]\n");
			return 2;
		}
	}
	struct cfg_errors errs;
	struct config *c = config_load(conf, &errs);
	if (c == NULL) {
		cfg_errors_print(&errs, stderr);
		cfg_errors_free(&errs);
		return 2;
	}
	char path[4200];
	size_t len;
	snprintf(path, sizeof(path), "%s/" STATUS_FILE, c->state_dir);
	config_free(c);
	char *text = read_file(path, 16 << 20, &len);
	if (text == NULL) {
		fprintf(stderr, "sinktrap: %s: %s (has the store run?)\n", path,
		        strerror(errno));
		return 2;
	}
	int r;
	if (raw) {
		fwrite(text, 1, len, stdout);
		if (len && text[len - 1] != '\n')
			putchar('\n');
		r = 0;
	} else {
		r = status_print(text, len, time_now_usec(), stdout);
		if (r < 0)
			fprintf(stderr, "sinktrap: %s does not parse\n", path);
	}
	free(text);
	return r < 0 ? 2 : r;
}

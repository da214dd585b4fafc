#include "payload.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"

struct item {
	char sha[65];
	int64_t size;
	int64_t mtime;
};

struct payload_store {
	char *dir;
	int64_t quota, bytes;
	uint32_t max_files; /* 0: no limit */
	/* Oldest first: a ring would do, but eviction is rare; an array is simplest. */
	struct item *items;
	uint32_t n, cap, head; /* live items are [head, n) */
	uint64_t tmpseq;
};

void payload_sha256(const uint8_t *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	static const char hex[] = "0123456789abcdef";
	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

static void push(struct payload_store *ps, const char *sha, int64_t size, int64_t mtime)
{
	if (ps->n == ps->cap) {
		/* Drop the evicted prefix before growing. */
		if (ps->head > 0) {
			memmove(ps->items, ps->items + ps->head,
			        (ps->n - ps->head) * sizeof(*ps->items));
			ps->n -= ps->head;
			ps->head = 0;
		}
		if (ps->n == ps->cap) {
			ps->cap = ps->cap ? ps->cap * 2 : 1024;
			ps->items = xreallocarray(ps->items, ps->cap, sizeof(*ps->items));
		}
	}
	struct item *it = &ps->items[ps->n++];
	memcpy(it->sha, sha, 65);
	it->size = size;
	it->mtime = mtime;
	ps->bytes += size;
}

static int by_mtime(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	return (x->mtime > y->mtime) - (x->mtime < y->mtime);
}

static void path_of(const struct payload_store *ps, const char *sha, char *out, size_t len)
{
	snprintf(out, len, "%s/%.2s/%s", ps->dir, sha, sha);
}

static int is_hex64(const char *s)
{
	if (strlen(s) != 64)
		return 0;
	for (int i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

struct payload_store *payload_store_open(const char *dir, int64_t quota, char *err,
                                         size_t errlen)
{
	int r = mkdir_p(dir);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(-r));
		return NULL;
	}
	struct payload_store *ps = xcalloc(1, sizeof(*ps));
	ps->dir = xstrdup(dir);
	ps->quota = quota;
	DIR *d = opendir(dir);
	if (d == NULL) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		payload_store_close(&ps);
		return NULL;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strlen(de->d_name) != 2 || de->d_name[0] == '.')
			continue;
		char sub[4096];
		snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
		DIR *sd = opendir(sub);
		if (sd == NULL)
			continue;
		struct dirent *fe;
		while ((fe = readdir(sd)) != NULL) {
			char path[4400];
			struct stat st;
			snprintf(path, sizeof(path), "%s/%s", sub, fe->d_name);
			if (!is_hex64(fe->d_name)) {
				/* A temporary left by a crash: never renamed, never complete.
				 */
				if (fe->d_name[0] == '.' && strncmp(fe->d_name, ".tmp", 4) == 0)
					unlink(path);
				continue;
			}
			if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
				push(ps, fe->d_name, st.st_size, (int64_t)st.st_mtime);
		}
		closedir(sd);
	}
	closedir(d);
	if (ps->n > 1)
		qsort(ps->items, ps->n, sizeof(*ps->items), by_mtime);
	return ps;
}

void payload_store_close(struct payload_store **pp)
{
	struct payload_store *ps = *pp;
	if (ps == NULL)
		return;
	free(ps->dir);
	free(ps->items);
	free(ps);
	*pp = NULL;
}

void payload_store_set_max_files(struct payload_store *ps, uint32_t n)
{
	ps->max_files = n;
}

static void evict(struct payload_store *ps, int64_t need, struct payload_result *r)
{
	while (ps->head < ps->n && (ps->bytes + need > ps->quota ||
	                            (ps->max_files && ps->n - ps->head >= ps->max_files))) {
		struct item *it = &ps->items[ps->head++];
		char path[4200];
		path_of(ps, it->sha, path, sizeof(path));
		if (unlink(path) == 0 || errno == ENOENT) {
			ps->bytes -= it->size;
			r->evicted++;
			r->evicted_bytes += it->size;
		} else {
			ps->bytes -= it->size; /* forget it either way: never loop on it */
		}
	}
}

int payload_store_put(struct payload_store *ps, const uint8_t *data, size_t len,
                      struct payload_result *r)
{
	char path[4200], tmp[4300], sub[4100];
	memset(r, 0, sizeof(*r));
	payload_sha256(data, len, r->sha256);
	path_of(ps, r->sha256, path, sizeof(path));
	struct stat st;
	if (stat(path, &st) == 0) {
		r->existed = 1;
		r->stored = 1;
		return 0;
	}
	if ((int64_t)len > ps->quota)
		return 0; /* larger than the whole store: described, not kept */
	evict(ps, (int64_t)len, r);
	snprintf(sub, sizeof(sub), "%s/%.2s", ps->dir, r->sha256);
	mkdir(sub, 0750);
	snprintf(tmp, sizeof(tmp), "%s/.tmp.%d.%llu", sub, (int)getpid(),
	         (unsigned long long)ps->tmpseq++);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0)
		return 0;
	int w = write_full(fd, data, len);
	if (close(fd) < 0 && w == 0)
		w = -errno;
	if (w < 0 || rename(tmp, path) < 0) {
		/* A full disk: the event still describes the payload, with stored = false. */
		unlink(tmp);
		return 0;
	}
	r->stored = 1;
	push(ps, r->sha256, (int64_t)len, (int64_t)time(NULL));
	return 0;
}

int64_t payload_store_bytes(const struct payload_store *ps)
{
	return ps->bytes;
}
uint32_t payload_store_count(const struct payload_store *ps)
{
	return ps->n - ps->head;
}

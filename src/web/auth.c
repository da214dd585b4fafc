/*
 * Users, sessions and API tokens of the web worker, and `sinktrap passwd`.
 *
 * Users file: one "name:$argon2id$..." line per user (libargon2 encoded
 * hashes), read at every login so `sinktrap passwd` takes effect at once.
 * Tokens file: one "name:sha256hex" line per API token (the hash of the
 * token the script sends as "Authorization: Bearer TOKEN"), compared in
 * constant time. Sessions live in memory only: a random 32-byte id (the
 * cookie) and a random 32-byte CSRF token, both hex, with an expiry (8 hours
 * after the last use, at most a week after the sign-in), and the sha256 of the
 * user's line: at every use the line is read again, so a user removed or
 * given a new password by `sinktrap passwd` is signed out at once.
 */
#include "web/web_int.h"

#include <arpa/inet.h>
#include <argon2.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/config.h"
#include "common/log.h"
#include "common/sandbox.h"

int ct_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = (unsigned char)(la != lb);
	size_t n = la < lb ? la : lb;
	for (size_t i = 0; i < n; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

void random_hex(char *out, size_t nbytes)
{
	uint8_t b[64];
	if (nbytes > sizeof(b))
		nbytes = sizeof(b);
	size_t got = 0;
	while (got < nbytes) {
		ssize_t r = getrandom(b + got, nbytes - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fatal("getrandom");
		}
		got += (size_t)r;
	}
	for (size_t i = 0; i < nbytes; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
	out[2 * nbytes] = '\0';
}

static int valid_username(const char *u)
{
	size_t n = strlen(u);
	if (n == 0 || n > 64)
		return 0;
	for (const char *p = u; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-' ||
		      *p == '@'))
			return 0;
	return 1;
}

/* The value after "name:" of the line for name in path, malloced; NULL if none. */
/* name's value in path, or NULL; *failed (may be NULL) set when the file
 * could not be read (absent is not a failure: nobody is in it). */
static char *file_lookup(const char *path, const char *name, int *failed)
{
	if (failed)
		*failed = 0;
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		if (failed && errno != ENOENT)
			*failed = errno;
		return NULL;
	}
	char line[1024];
	char *found = NULL;
	size_t nl = strlen(name);
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (strncmp(line, name, nl) == 0 && line[nl] == ':') {
			free(found);
			found = strdup(line + nl + 1);
		}
	}
	if (failed && ferror(f))
		*failed = EIO;
	fclose(f);
	return found;
}

/*
 * At most WEB_MAX_ARGON2 password checks at once: each takes 19 MiB and tens
 * of milliseconds of CPU, and a flood of sign-ins must not take the memory or
 * every core (the other requests keep being served meanwhile).
 */
static void argon2_enter(struct web *w)
{
	pthread_mutex_lock(&w->lock);
	while (w->argon2_running >= WEB_MAX_ARGON2)
		pthread_cond_wait(&w->argon2_free, &w->lock);
	w->argon2_running++;
	pthread_mutex_unlock(&w->lock);
}

static void argon2_leave(struct web *w)
{
	pthread_mutex_lock(&w->lock);
	w->argon2_running--;
	pthread_cond_signal(&w->argon2_free);
	pthread_mutex_unlock(&w->lock);
}

/* What a session keeps of a user's line: the sha256 of "user:hash". */
static void user_cred(const char *user, const char *enc, uint8_t cred[32])
{
	/* A line is at most 1023 bytes long (file_lookup), the name 64. */
	char line[1024 + 80];
	snprintf(line, sizeof(line), "%s:%s", user, enc);
	SHA256((const unsigned char *)line, strlen(line), cred);
}

static int check_password(struct web *w, const char *user, const char *pass, uint8_t cred[32]);

int auth_check_password(struct web *w, const char *user, const char *pass, uint8_t cred[32])
{
	argon2_enter(w);
	int ok = check_password(w, user, pass, cred);
	argon2_leave(w);
	return ok;
}

static int check_password(struct web *w, const char *user, const char *pass, uint8_t cred[32])
{
	const char *dummy = w->dummy_hash;
	if (w->cfg->web_users == NULL || !valid_username(user)) {
		argon2id_verify(dummy, pass, strlen(pass));
		return 0;
	}
	char *enc = file_lookup(w->cfg->web_users, user, NULL);
	if (enc == NULL) {
		/* The same work as for a real user: no timing oracle for names. */
		argon2id_verify(dummy, pass, strlen(pass));
		return 0;
	}
	int ok = strncmp(enc, "$argon2id$", 10) == 0 &&
	         argon2id_verify(enc, pass, strlen(pass)) == ARGON2_OK;
	if (ok)
		user_cred(user, enc, cred);
	free(enc);
	return ok;
}

/* Whether user's line in the users file is still the one cred was made of:
 * 1, 0, or -1 when the file could not be read now (say, out of descriptors). */
static int user_current(struct web *w, const char *user, const uint8_t cred[32])
{
	if (w->cfg->web_users == NULL || !valid_username(user))
		return 0;
	int failed;
	char *enc = file_lookup(w->cfg->web_users, user, &failed);
	if (failed) {
		free(enc);
		log_warnx("%s: %s: %s's request refused, the session kept", w->cfg->web_users,
		          strerror(failed), user);
		return -1;
	}
	if (enc == NULL)
		return 0;
	uint8_t now[32];
	user_cred(user, enc, now);
	free(enc);
	unsigned char d = 0;
	for (int i = 0; i < 32; i++)
		d |= (unsigned char)(now[i] ^ cred[i]);
	return d == 0;
}

int auth_check_token(struct web *w, const char *token)
{
	if (w->cfg->web_tokens == NULL || token == NULL || *token == '\0')
		return 0;
	uint8_t h[SHA256_DIGEST_LENGTH];
	char hex[2 * SHA256_DIGEST_LENGTH + 1];
	SHA256((const unsigned char *)token, strlen(token), h);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		sprintf(hex + 2 * i, "%02x", h[i]);
	FILE *f = fopen(w->cfg->web_tokens, "re");
	if (f == NULL)
		return 0;
	char line[1024];
	int ok = 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		char *colon = strrchr(line, ':');
		if (colon == NULL || line[0] == '#')
			continue;
		ok |= ct_equal(colon + 1, hex);
	}
	fclose(f);
	return ok;
}

void auth_init(struct web *w)
{
	static const uint8_t salt[16] = "sinktrap-dummy!";
	if (argon2id_hash_encoded(2, 19456, 1, "x", 1, salt, sizeof(salt), 32, w->dummy_hash,
	                          sizeof(w->dummy_hash)) != ARGON2_OK)
		w->dummy_hash[0] = '\0';
}

/* Sessions (every thread of the worker: under w->lock). */

void session_new(struct web *w, const char *user, const uint8_t cred[32], struct wsession *out)
{
	int64_t now = (int64_t)time(NULL);
	pthread_mutex_lock(&w->lock);
	struct wsession *slot = NULL;
	for (int i = 0; i < WEB_MAX_SESSIONS; i++) {
		struct wsession *s = &w->sessions[i];
		if (s->id[0] == '\0' || s->expires < now) {
			slot = s;
			break;
		}
		if (slot == NULL || s->expires < slot->expires)
			slot = s;
	}
	if (slot == NULL)
		slot = &w->sessions[0];
	memset(slot, 0, sizeof(*slot));
	random_hex(slot->id, 32);
	random_hex(slot->csrf, 32);
	snprintf(slot->user, sizeof(slot->user), "%s", user);
	memcpy(slot->cred, cred, sizeof(slot->cred));
	slot->ends = now + WEB_SESSION_MAX;
	slot->expires = slot->told = now + WEB_SESSION_TTL;
	*out = *slot;
	pthread_mutex_unlock(&w->lock);
}

/* The live session of id (under w->lock); an expired one ends. */
static struct wsession *session_live(struct web *w, const char *id, int64_t now)
{
	struct wsession *found = NULL;
	for (int i = 0; i < WEB_MAX_SESSIONS; i++) {
		struct wsession *s = &w->sessions[i];
		if (s->id[0] == '\0')
			continue;
		if (ct_equal(s->id, id))
			found = s;
	}
	if (found != NULL && (found->expires < now || found->ends <= now)) {
		memset(found, 0, sizeof(*found));
		found = NULL;
	}
	return found;
}

int session_find(struct web *w, const char *id, struct wsession *out)
{
	if (id == NULL || strlen(id) != 64)
		return 0;
	int64_t now = (int64_t)time(NULL);
	pthread_mutex_lock(&w->lock);
	struct wsession *s = session_live(w, id, now);
	if (s != NULL)
		*out = *s;
	pthread_mutex_unlock(&w->lock);
	if (s == NULL)
		return 0;
	/* The users file is read without the lock: the other requests go on. */
	int cur = user_current(w, out->user, out->cred);
	if (cur < 0) {
		explicit_bzero(out, sizeof(*out));
		return 0;
	}
	if (cur == 0) {
		log_info("%s's session ended: the user is no longer in %s with that password",
		         out->user, w->cfg->web_users ? w->cfg->web_users : "the users file");
		session_end(w, id);
		explicit_bzero(out, sizeof(*out));
		return 0;
	}
	pthread_mutex_lock(&w->lock);
	s = session_live(w, id, now);
	if (s != NULL) {
		s->expires = now + WEB_SESSION_TTL < s->ends ? now + WEB_SESSION_TTL : s->ends;
		s->renew = s->expires - s->told >= WEB_COOKIE_RENEW;
		if (s->renew)
			s->told = s->expires;
		*out = *s;
		s->renew = 0;
	}
	pthread_mutex_unlock(&w->lock);
	return s != NULL;
}

void session_end(struct web *w, const char *id)
{
	pthread_mutex_lock(&w->lock);
	for (int i = 0; i < WEB_MAX_SESSIONS; i++) {
		struct wsession *s = &w->sessions[i];
		if (s->id[0] != '\0' && ct_equal(s->id, id))
			memset(s, 0, sizeof(*s));
	}
	pthread_mutex_unlock(&w->lock);
}

/*
 * Login rate limit: WEB_LOGIN_BURST failed attempts per address per minute.
 * A new address takes a free slot: an empty one, or one whose minute is over
 * or that counts nothing. When none is free (WEB_MAX_RATE addresses failing
 * in the same minute), new addresses share one slot, rate_rest: an address
 * that is being limited keeps its count however many others come, so
 * guessing from many addresses in turn cannot wipe the counts out.
 */
static struct wrate *rate_slot(struct web *w, const char *addr, int create)
{
	int64_t now = (int64_t)time(NULL);
	struct wrate *slot = NULL, *free_slot = NULL;
	for (int i = 0; i < WEB_MAX_RATE; i++) {
		struct wrate *r = &w->rate[i];
		if (r->addr[0] && !strcmp(r->addr, addr)) {
			slot = r;
			break;
		}
		if (free_slot == NULL &&
		    (!r->addr[0] || now - r->window >= 60 || r->count == 0))
			free_slot = r;
	}
	if (slot == NULL) {
		if (free_slot == NULL) {
			slot = &w->rate_rest;
		} else if (!create) {
			return NULL; /* it would have a slot of its own: nothing counted yet */
		} else {
			slot = free_slot;
			memset(slot, 0, sizeof(*slot));
			snprintf(slot->addr, sizeof(slot->addr), "%s", addr);
			slot->window = now;
		}
	}
	if (now - slot->window >= 60) {
		slot->window = now;
		slot->count = 0;
	}
	return slot;
}

/* The rate limit's key: the address, an IPv6 client by its /64 (which a
 * single host may hold whole). */
static void rate_key(const char *addr, char *key, size_t len)
{
	uint8_t a[16];
	if (addr_parse_ip(addr, a) == AF_INET6) {
		memset(a + 8, 0, 8);
		char buf[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, a, buf, sizeof(buf));
		snprintf(key, len, "%s/64", buf);
	} else {
		snprintf(key, len, "%s", addr);
	}
}

/*
 * An attempt is counted as it begins, under the lock, so that attempts made
 * together are not all let through before the first has failed; a success
 * gives its count back (login_succeeded).
 */
int login_allowed(struct web *w, const char *addr)
{
	char key[64];
	rate_key(addr, key, sizeof(key));
	pthread_mutex_lock(&w->lock);
	struct wrate *r = rate_slot(w, key, 1);
	int ok = r->count < WEB_LOGIN_BURST;
	if (ok)
		r->count++;
	pthread_mutex_unlock(&w->lock);
	return ok;
}

void login_succeeded(struct web *w, const char *addr)
{
	char key[64];
	rate_key(addr, key, sizeof(key));
	pthread_mutex_lock(&w->lock);
	struct wrate *r = rate_slot(w, key, 0);
	if (r && r->count > 0)
		r->count--;
	pthread_mutex_unlock(&w->lock);
}

/*
 * A wrong API token counts as a failed sign-in of its address: past the limit
 * the address is refused before its token is looked at, a right token too,
 * until the minute is over. Only failures are counted, so a script sending
 * many requests at once with a right token is never refused; wrong tokens
 * sent together may pass the limit by the requests in flight at once (at most
 * WEB_MAX_CONNECTIONS).
 */
int token_allowed(struct web *w, const char *addr)
{
	char key[64];
	rate_key(addr, key, sizeof(key));
	pthread_mutex_lock(&w->lock);
	struct wrate *r = rate_slot(w, key, 0);
	int ok = r == NULL || r->count < WEB_LOGIN_BURST;
	pthread_mutex_unlock(&w->lock);
	return ok;
}

int token_failed(struct web *w, const char *addr)
{
	char key[64];
	rate_key(addr, key, sizeof(key));
	pthread_mutex_lock(&w->lock);
	struct wrate *r = rate_slot(w, key, 1);
	if (r->count < WEB_LOGIN_BURST)
		r->count++;
	int n = r->count;
	pthread_mutex_unlock(&w->lock);
	return n;
}

/* `sinktrap passwd`. */

static int read_password(char *buf, size_t len)
{
	if (fgets(buf, (int)len, stdin) == NULL)
		return -1;
	buf[strcspn(buf, "\r\n")] = '\0';
	return 0;
}

int web_passwd_main(int argc, char **argv)
{
	const char *conf = NULL, *file = NULL;
	int ch, del = 0;
	optind = 1;
	while ((ch = getopt(argc, argv, "c:f:D")) != -1) {
		switch (ch) {
		case 'c':
			conf = optarg;
			break;
		case 'f':
			file = optarg;
			break;
		case 'D':
			del = 1;
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1)
		goto usage;
	const char *user = argv[optind];
	if (!valid_username(user)) {
		fprintf(stderr, "passwd: user names are 1-64 of A-Z a-z 0-9 . _ - @\n");
		return 2;
	}
	struct config *c = NULL;
	if (file == NULL) {
		struct cfg_errors errs;
		c = config_load(conf, &errs);
		if (c == NULL) {
			cfg_errors_print(&errs, stderr);
			cfg_errors_free(&errs);
			return 1;
		}
		file = c->web_users;
		if (file == NULL) {
			fprintf(stderr, "passwd: [web] users is not set in %s\n", c->file);
			config_free(c);
			return 1;
		}
	}
	char line[1024];
	if (!del) {
		char pass[512];
		if (read_password(pass, sizeof(pass)) < 0 || pass[0] == '\0') {
			fprintf(stderr, "passwd: no password on stdin\n");
			config_free(c);
			return 1;
		}
		uint8_t salt[16];
		if (getrandom(salt, sizeof(salt), 0) != sizeof(salt))
			fatal("getrandom");
		char enc[256];
		int r = argon2id_hash_encoded(2, 19456, 1, pass, strlen(pass), salt,
		                              sizeof(salt), 32, enc, sizeof(enc));
		explicit_bzero(pass, sizeof(pass));
		if (r != ARGON2_OK) {
			fprintf(stderr, "passwd: %s\n", argon2_error_message(r));
			config_free(c);
			return 1;
		}
		snprintf(line, sizeof(line), "%s:%s\n", user, enc);
	}
	/*
	 * The file as it is, never through a link: it usually sits in state_dir,
	 * which the workers' user owns, and its lines, owner and mode go into the
	 * new file, which `sinktrap run` then gives to the workers' group.
	 */
	struct stat st;
	char why[128];
	int ifd = sandbox_open_plain(file, &st, why, sizeof(why));
	if (ifd < 0 && ifd != -ENOENT) {
		fprintf(stderr, "passwd: %s: %s: name the file itself\n", file, why);
		config_free(c);
		return 1;
	}
	/* Rewrite the file: every other user's line, then this one. */
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", file);
	int fd = mkstemp(tmp);
	if (fd < 0) {
		fprintf(stderr, "passwd: %s: %s\n", tmp, strerror(errno));
		if (ifd >= 0)
			close(ifd);
		config_free(c);
		return 1;
	}
	fchmod(fd, 0640);
	FILE *out = fdopen(fd, "w");
	FILE *in = ifd >= 0 ? fdopen(ifd, "r") : NULL;
	int found = 0;
	if (out == NULL || (ifd >= 0 && in == NULL)) {
		fprintf(stderr, "passwd: %s: %s\n", file, strerror(errno));
		if (out)
			fclose(out);
		else
			close(fd);
		if (in)
			fclose(in);
		else if (ifd >= 0)
			close(ifd);
		unlink(tmp);
		config_free(c);
		return 1;
	}
	if (in != NULL) {
		if (fchown(fd, st.st_uid, st.st_gid) < 0)
			fprintf(stderr, "passwd: %s: keeping its owner: %s\n", file,
			        strerror(errno));
		fchmod(fd, st.st_mode & 0777);
		char old[1024];
		size_t nl = strlen(user);
		while (fgets(old, sizeof(old), in)) {
			if (strncmp(old, user, nl) == 0 && old[nl] == ':') {
				found = 1;
				continue;
			}
			fputs(old, out);
		}
		fclose(in);
	} else if (c != NULL && geteuid() == 0) {
		/* a new file: the web worker (the workers' user) reads it at each sign-in */
		struct passwd *pw = getpwnam(c->user);
		if (pw == NULL || fchown(fd, (uid_t)-1, pw->pw_gid) < 0)
			fprintf(stderr, "passwd: %s: not given to user %s's group: %s\n", file,
			        c->user, pw ? strerror(errno) : "no such user");
	}
	if (!del)
		fputs(line, out);
	if (fflush(out) != 0 || fsync(fd) != 0 || fclose(out) != 0 || rename(tmp, file) != 0) {
		fprintf(stderr, "passwd: %s: %s\n", file, strerror(errno));
		unlink(tmp);
		config_free(c);
		return 1;
	}
	if (del && !found) {
		fprintf(stderr, "passwd: no user %s\n", user);
		config_free(c);
		return 1;
	}
	fprintf(stderr, "%s %s in %s\n",
	        del     ? "removed"
	        : found ? "updated"
	                : "added",
	        user, file);
	config_free(c);
	return 0;
usage:
	fprintf(stderr,
	        "usage: sinktrap passwd [-c FILE | -f USERSFILE] [-D] USER  (password on "
	        "stdin; -D removes USER)\n");
	return 2;
}

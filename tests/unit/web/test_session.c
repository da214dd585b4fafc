/*
 * The web worker's sessions (auth.c): each use checks the user's line in the
 * users file, renews the session up to its end a week after the sign-in, and
 * says when the browser's cookie is to be sent again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../test_dir.h"
#include "common/config.h"
#include "web/web_int.h"

/* Two argon2id hashes (t=1, m=64 KiB: quick) of "first password" and "second password". */
#define HASH1                                                                                  \
	"$argon2id$v=19$m=64,t=1,p=1$dW5pdC10ZXN0LXNhbHQxNg$"                                  \
	"ELD7oy8qJsXLTFQhUjc6sYVIM++KZMp+FuWuniyrocQ"
#define HASH2                                                                                  \
	"$argon2id$v=19$m=64,t=1,p=1$dW5pdC10ZXN0LXNhbHQxNg$"                                  \
	"851wHP+GeqTt/Nn1fWX1WEsWpqweicYjM001F8yk7VY"

static struct config cfg;
static struct web w;

static void write_users(const char *text)
{
	FILE *f = fopen(cfg.web_users, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	test_dir_setup(state);
	memset(&cfg, 0, sizeof(cfg));
	memset(&w, 0, sizeof(w));
	cfg.web_users = strdup(test_dir_path("users"));
	w.cfg = &cfg;
	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.argon2_free, NULL);
	write_users("other:" HASH2 "\nanalyst:" HASH1 "\n");
	return 0;
}

static int teardown(void **state)
{
	free(cfg.web_users);
	pthread_mutex_destroy(&w.lock);
	pthread_cond_destroy(&w.argon2_free);
	return test_dir_teardown(state);
}

/* A session of analyst, signed in with the password; its slot in w. */
static struct wsession *sign_in(struct wsession *s)
{
	uint8_t cred[32];
	assert_int_equal(auth_check_password(&w, "analyst", "first password", cred), 1);
	session_new(&w, "analyst", cred, s);
	for (int i = 0; i < WEB_MAX_SESSIONS; i++)
		if (!strcmp(w.sessions[i].id, s->id))
			return &w.sessions[i];
	fail();
	return NULL;
}

static void test_users_file_is_read_at_each_use(void **state)
{
	(void)state;
	struct wsession s, got;
	uint8_t cred[32];
	assert_int_equal(auth_check_password(&w, "analyst", "second password", cred), 0);
	struct wsession *slot = sign_in(&s);
	assert_int_equal(session_find(&w, s.id, &got), 1);
	assert_string_equal(got.user, "analyst");
	assert_string_equal(got.csrf, s.csrf);

	/* Another user's line changes: the session goes on. */
	write_users("analyst:" HASH1 "\n");
	assert_int_equal(session_find(&w, s.id, &got), 1);
	/* A new password: it ends, for good. */
	write_users("analyst:" HASH2 "\n");
	assert_int_equal(session_find(&w, s.id, &got), 0);
	assert_string_equal(slot->id, "");
	write_users("analyst:" HASH1 "\n");
	assert_int_equal(session_find(&w, s.id, &got), 0);

	/* Removed, or the file gone: it ends. */
	sign_in(&s);
	write_users("other:" HASH2 "\n");
	assert_int_equal(session_find(&w, s.id, &got), 0);
	write_users("analyst:" HASH1 "\n");
	sign_in(&s);
	remove(cfg.web_users);
	assert_int_equal(session_find(&w, s.id, &got), 0);

	/* The file cannot be read for a moment (a directory here; out of
	 * descriptors, an I/O error): this use is refused, the session kept. */
	write_users("analyst:" HASH1 "\n");
	slot = sign_in(&s);
	remove(cfg.web_users);
	assert_int_equal(mkdir(cfg.web_users, 0700), 0);
	assert_int_equal(session_find(&w, s.id, &got), 0);
	assert_string_equal(slot->id, s.id);
	assert_int_equal(rmdir(cfg.web_users), 0);
	write_users("analyst:" HASH1 "\n");
	assert_int_equal(session_find(&w, s.id, &got), 1);
}

static void test_lifetime_and_cookie_renewal(void **state)
{
	(void)state;
	struct wsession s, got;
	int64_t now = (int64_t)time(NULL);
	struct wsession *slot = sign_in(&s);
	assert_true(s.expires >= now + WEB_SESSION_TTL &&
	            s.expires <= now + WEB_SESSION_TTL + 2);
	assert_true(s.ends >= now + WEB_SESSION_MAX && s.ends <= now + WEB_SESSION_MAX + 2);
	assert_int_equal(s.told, s.expires);

	/* Used right away: the cookie the browser has is fresh. */
	assert_int_equal(session_find(&w, s.id, &got), 1);
	assert_int_equal(got.renew, 0);

	/* The cookie was sent a while ago: sent again, with the new end. */
	slot->told -= WEB_COOKIE_RENEW;
	assert_int_equal(session_find(&w, s.id, &got), 1);
	assert_int_equal(got.renew, 1);
	assert_int_equal(got.told, got.expires);
	assert_int_equal(slot->renew, 0);
	assert_int_equal(session_find(&w, s.id, &got), 1);
	assert_int_equal(got.renew, 0);

	/* Near its end a week after the sign-in, use renews it no further. */
	now = (int64_t)time(NULL);
	slot->ends = now + 100;
	slot->told = now;
	assert_int_equal(session_find(&w, s.id, &got), 1);
	assert_int_equal(got.renew, 1);
	assert_int_equal(got.expires, slot->ends);
	assert_int_equal(got.told, slot->ends);
	assert_int_equal(session_find(&w, s.id, &got), 1);
	assert_int_equal(got.renew, 0);
	assert_int_equal(got.expires, slot->ends);

	/* At its end, however recently used, it is over. */
	slot->ends = now;
	assert_int_equal(session_find(&w, s.id, &got), 0);
	assert_string_equal(slot->id, "");

	/* Unused for 8 hours: over. */
	slot = sign_in(&s);
	slot->expires = (int64_t)time(NULL) - 1;
	assert_int_equal(session_find(&w, s.id, &got), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_users_file_is_read_at_each_use, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_lifetime_and_cookie_renewal, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

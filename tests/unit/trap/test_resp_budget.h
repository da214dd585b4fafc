/*
 * Checks of what a responder records against the connection's record budget
 * (resp_common.h): the event's fields stay within it and are not cut, what
 * is kept is counted in the worker's memory budget (resp_mem_held) and given
 * back when the connection ends. Include after test_resp_harness.h.
 */
#ifndef SINKTRAP_TEST_RESP_BUDGET_H
#define SINKTRAP_TEST_RESP_BUDGET_H

#include "trap/resp_common.h"

#ifndef RESP_RECORD_MAX
#define RESP_RECORD_MAX (40u * 1024)
#endif

/* Room for the framing of every field on top of the budget's own count. */
#define TR_FRAMING_SLACK 4096

/* What the worker's budget counts for this connection beyond its reply buffer. */
static inline size_t tr_held_beyond_out(const struct tr_conn *c)
{
	return resp_mem_held() - c->out.cap;
}

/* Sum of the lengths of the strings of the array at path. */
static inline size_t tr_strings_len(struct tr_conn *c, const char *path)
{
	size_t sum = 0;
	int n = tr_count(c, path);
	for (int i = 0; i < n; i++) {
		const char *s = tr_elem(c, path, i, NULL);
		sum += s ? strlen(s) : 0;
	}
	return sum;
}

/*
 * The rendered fields: within the record budget (and framing), the record not
 * truncated, and the list at path (with its count_key and not_kept_key) kept
 * as its first entries: kept + not kept = offered.
 */
static inline void tr_assert_budget(struct tr_conn *c, const char *path, const char *count_key,
                                    const char *not_kept_key, int64_t offered)
{
	struct ev_field f;
	if (!c->rendered)
		tr_render(c);
	size_t fields = c->ev.len - c->fields_at;
	if (fields > RESP_RECORD_MAX + TR_FRAMING_SLACK)
		fail_msg("fields take %zu bytes", fields);
	assert_false(ev_find(c->ev.data, c->ev.len, "truncated", &f));
	int kept = tr_count(c, path);
	int64_t not_kept = tr_int(c, not_kept_key);
	if (not_kept < 1 || kept + not_kept != offered || tr_int(c, count_key) != offered)
		fail_msg("%s: %d kept, %s %lld, %s %lld, of %lld offered", path, kept,
		         not_kept_key, (long long)not_kept, count_key,
		         (long long)tr_int(c, count_key), (long long)offered);
}

/* n copies of c (n < 1024), NUL-terminated, in one of two static buffers (so two can be
 * used in one call). */
static inline const char *tr_pad(char c, size_t n)
{
	static char buf[2][1024];
	static int k;
	char *b = buf[k++ & 1];
	memset(b, c, n);
	b[n] = '\0';
	return b;
}

/*
 * While a connection that was sent tx lives, the worker's memory budget holds
 * its state and fixed buffers from the start (some bytes, counted before any
 * input), and on top of them at least what its event keeps of the string
 * arrays at paths (NULL-ended) plus extra bytes, and at most max (0: no upper
 * bound); once it is closed, nothing.
 */
static inline void tr_assert_held(const struct responder *r, const struct resp_config *cfg,
                                  const char *tx, size_t n, const char *const *paths,
                                  size_t extra, size_t max)
{
	struct tr_conn c;
	size_t before = resp_mem_held();
	tr_open(&c, r, cfg);
	size_t fixed = resp_mem_held() - before;
	assert_true(fixed > 0);
	tr_start(&c);
	tr_feed(&c, tx, n, 0);
	size_t held = tr_held_beyond_out(&c) - before - fixed;
	size_t kept = extra;
	for (const char *const *p = paths; *p; p++)
		kept += tr_strings_len(&c, *p);
	if (held < kept || (max && held > max))
		fail_msg("held %zu for %zu bytes kept", held, kept);
	tr_close(&c);
	assert_int_equal(resp_mem_held(), 0);
}

#endif

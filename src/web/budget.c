/*
 * The web worker's memory budget ([web] memory_max): what the answers built
 * in memory (the JSON of the API) hold while they are built and until they
 * are sent, every connection together. Downloads are streamed and hold a
 * small constant each; they are not counted here.
 */
#include "web/web_int.h"

#include <string.h>

void web_budget_init(struct web_budget *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	pthread_mutex_init(&b->lock, NULL);
	b->max = max;
}

int web_budget_grow(struct web_budget *b, size_t *mine, size_t now)
{
	if (now <= WEB_ANSWER_SMALL || now <= *mine)
		return 0;
	int rc = 0;
	pthread_mutex_lock(&b->lock);
	size_t more = now - *mine;
	size_t others = b->held - *mine;
	/* One answer alone may pass the limit: a page never fails for ever. */
	if (b->max && others > 0 && b->held + more > b->max) {
		b->refused++;
		rc = -1;
	} else {
		b->held += more;
		*mine = now;
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

void web_budget_release(struct web_budget *b, size_t *mine)
{
	if (*mine == 0)
		return;
	pthread_mutex_lock(&b->lock);
	b->held -= *mine;
	pthread_mutex_unlock(&b->lock);
	*mine = 0;
}

size_t web_budget_held(struct web_budget *b, uint64_t *refused)
{
	pthread_mutex_lock(&b->lock);
	size_t held = b->held;
	if (refused)
		*refused = b->refused;
	pthread_mutex_unlock(&b->lock);
	return held;
}

int web_budget_say(struct web_budget *b, int64_t now_ms)
{
	int say = 0;
	pthread_mutex_lock(&b->lock);
	if (b->said_ms == 0 || now_ms - b->said_ms >= 10000) {
		b->said_ms = now_ms;
		say = 1;
	}
	pthread_mutex_unlock(&b->lock);
	return say;
}

#include "loop.h"

#include <errno.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

struct io_pause;

struct io {
	int fd;
	uint32_t gen; /* of this registration: an event for an fd closed and
	               * registered again in the same batch is not the new one's */
	loop_io_cb *cb;
	void *arg;
	struct io_pause *pause; /* loop_io_pause's, until it re-arms the fd */
};

/* A registration taken out of epoll for a while (loop_io_pause). */
struct io_pause {
	struct loop *l;
	struct io *io;
	uint32_t gen; /* io's registration when paused */
	uint32_t events;
	struct loop_timer *timer;
};

static uint64_t io_key(const struct io *io)
{
	return (uint64_t)io->gen << 32 | (uint32_t)io->fd;
}

struct loop_timer {
	int64_t due, period;
	loop_timer_cb *cb;
	void *arg;
	struct loop_timer *next;
};

struct loop {
	int ep;
	int running;
	int64_t now;
	struct io **ios; /* indexed by fd */
	int nios;
	uint32_t gen;
	struct loop_timer *timers; /* sorted by due */
};

struct loop *loop_new(void)
{
	struct loop *l = xcalloc(1, sizeof(*l));
	l->ep = epoll_create1(EPOLL_CLOEXEC);
	if (l->ep < 0)
		fatal("epoll_create1");
	l->now = mono_ms();
	return l;
}

void loop_free(struct loop **lp)
{
	struct loop *l = *lp;
	if (l == NULL)
		return;
	for (int i = 0; i < l->nios; i++) {
		if (l->ios[i])
			free(l->ios[i]->pause); /* its timer goes with the others */
		free(l->ios[i]);
	}
	free(l->ios);
	while (l->timers) {
		struct loop_timer *t = l->timers;
		l->timers = t->next;
		free(t);
	}
	close(l->ep);
	free(l);
	*lp = NULL;
}

/* The pause of io, if any, is over without re-arming anything. */
static void io_unpause(struct loop *l, struct io *io)
{
	if (io->pause == NULL)
		return;
	loop_timer_cancel(l, io->pause->timer);
	free(io->pause);
	io->pause = NULL;
}

int loop_io_add(struct loop *l, int fd, uint32_t events, loop_io_cb *cb, void *arg)
{
	if (fd < 0)
		return -EBADF;
	if (fd >= l->nios) {
		int n = l->nios ? l->nios : 64;
		while (n <= fd)
			n *= 2;
		l->ios = xreallocarray(l->ios, (size_t)n, sizeof(*l->ios));
		memset(l->ios + l->nios, 0, (size_t)(n - l->nios) * sizeof(*l->ios));
		l->nios = n;
	}
	if (l->ios[fd] == NULL)
		l->ios[fd] = xcalloc(1, sizeof(struct io));
	/* Still there: the number was closed without loop_io_del and is another
	 * descriptor now. What was paused under it is not this one's to re-arm. */
	io_unpause(l, l->ios[fd]);
	l->ios[fd]->fd = fd;
	l->ios[fd]->gen = ++l->gen;
	l->ios[fd]->cb = cb;
	l->ios[fd]->arg = arg;
	struct epoll_event ev = {.events = events, .data.u64 = io_key(l->ios[fd])};
	if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		if (errno != EEXIST || epoll_ctl(l->ep, EPOLL_CTL_MOD, fd, &ev) < 0)
			return -errno;
	}
	return 0;
}

int loop_io_mod(struct loop *l, int fd, uint32_t events)
{
	if (fd < 0 || fd >= l->nios || l->ios[fd] == NULL)
		return -EBADF;
	io_unpause(l, l->ios[fd]); /* the caller's latest word wins */
	struct epoll_event ev = {.events = events, .data.u64 = io_key(l->ios[fd])};
	if (epoll_ctl(l->ep, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	return 0;
}

void loop_io_del(struct loop *l, int fd)
{
	if (fd < 0 || fd >= l->nios || l->ios[fd] == NULL)
		return;
	epoll_ctl(l->ep, EPOLL_CTL_DEL, fd, NULL);
	io_unpause(l, l->ios[fd]);
	free(l->ios[fd]);
	l->ios[fd] = NULL;
}

static void timer_insert(struct loop *l, struct loop_timer *t)
{
	struct loop_timer **pp = &l->timers;
	while (*pp && (*pp)->due <= t->due)
		pp = &(*pp)->next;
	t->next = *pp;
	*pp = t;
}

/*
 * The pause is cancelled whenever its registration ends (loop_io_del, the
 * number registered again, loop_io_mod, loop_free), so io is still the one
 * paused; the generation says so once more before epoll hears of it.
 */
static void io_resume(void *arg)
{
	struct io_pause *p = arg;
	struct io *io = p->io;
	struct loop *l = p->l;
	io->pause = NULL;
	if (io->fd >= 0 && io->fd < l->nios && l->ios[io->fd] == io && io->gen == p->gen) {
		struct epoll_event ev = {.events = p->events, .data.u64 = io_key(io)};
		epoll_ctl(l->ep, EPOLL_CTL_MOD, io->fd, &ev);
	}
	free(p);
}

int loop_io_pause(struct loop *l, int fd, uint32_t events, int64_t ms)
{
	if (fd < 0 || fd >= l->nios || l->ios[fd] == NULL)
		return -EBADF;
	struct io *io = l->ios[fd];
	io_unpause(l, io); /* paused again: the later pause counts */
	struct epoll_event ev = {.events = 0, .data.u64 = io_key(io)};
	if (epoll_ctl(l->ep, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	struct io_pause *p = xcalloc(1, sizeof(*p));
	p->l = l;
	p->io = io;
	p->gen = io->gen;
	p->events = events;
	p->timer = loop_timer_add(l, ms, 0, io_resume, p);
	io->pause = p;
	return 0;
}

struct loop_timer *loop_timer_add(struct loop *l, int64_t ms, int repeat, loop_timer_cb *cb,
                                  void *arg)
{
	struct loop_timer *t = xcalloc(1, sizeof(*t));
	t->due = mono_ms() + ms;
	t->period = repeat ? (ms > 0 ? ms : 1) : 0;
	t->cb = cb;
	t->arg = arg;
	timer_insert(l, t);
	return t;
}

void loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
	for (struct loop_timer **pp = &l->timers; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			free(t);
			return;
		}
	}
}

int loop_signals(struct loop *l, const int *sigs, int n, loop_io_cb *cb, void *arg)
{
	sigset_t mask;
	sigemptyset(&mask);
	for (int i = 0; i < n; i++)
		sigaddset(&mask, sigs[i]);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = loop_io_add(l, fd, EPOLLIN, cb, arg);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

void loop_break(struct loop *l)
{
	l->running = 0;
}
int64_t loop_now(const struct loop *l)
{
	return l->now;
}

int loop_run(struct loop *l)
{
	struct epoll_event evs[64];
	l->running = 1;
	while (l->running) {
		int timeout = -1;
		l->now = mono_ms();
		if (l->timers) {
			int64_t d = l->timers->due - l->now;
			timeout = d < 0 ? 0 : (d > 60000 ? 60000 : (int)d);
		}
		int n = epoll_wait(l->ep, evs, 64, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		l->now = mono_ms();
		for (int i = 0; i < n && l->running; i++) {
			int fd = (int)(uint32_t)evs[i].data.u64;
			uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
			/* A callback may have removed this fd earlier in the batch, or
			 * closed it and registered the number again. */
			if (fd < l->nios && l->ios[fd] && l->ios[fd]->gen == gen)
				l->ios[fd]->cb(fd, evs[i].events, l->ios[fd]->arg);
		}
		while (l->running && l->timers && l->timers->due <= l->now) {
			struct loop_timer *t = l->timers;
			l->timers = t->next;
			if (t->period) {
				t->due = l->now + t->period;
				timer_insert(l, t);
				t->cb(t->arg);
			} else {
				loop_timer_cb *cb = t->cb;
				void *arg = t->arg;
				free(t);
				cb(arg);
			}
		}
	}
	return 0;
}

/*
 * A small epoll event loop: descriptor callbacks and timers. Single-threaded;
 * callbacks run to completion. Timers are kept in a sorted list: there are
 * few of them (per-connection deadlines are swept by the owner instead).
 */
#ifndef SINKTRAP_LOOP_H
#define SINKTRAP_LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

struct loop;
struct loop_timer;

typedef void loop_io_cb(int fd, uint32_t events, void *arg);
typedef void loop_timer_cb(void *arg);

struct loop *loop_new(void);
void loop_free(struct loop **l);
/* Watch fd for events (EPOLLIN/EPOLLOUT...); one registration per fd. 0 or -errno. */
int loop_io_add(struct loop *l, int fd, uint32_t events, loop_io_cb *cb, void *arg);
int loop_io_mod(struct loop *l, int fd, uint32_t events);
void loop_io_del(struct loop *l, int fd);
/*
 * A listener whose accept failed for want of descriptors (EMFILE, ENFILE)
 * stays readable: watched for nothing now and with events again after ms, so
 * the loop does not spin on it meanwhile. The pause belongs to this
 * registration of fd: loop_io_del, loop_io_mod, or loop_io_add of the same
 * number (closed and reused) end it at once, and nothing is re-armed then; a
 * second pause replaces the first. 0, or -EBADF when fd is not registered,
 * or -errno from epoll.
 */
int loop_io_pause(struct loop *l, int fd, uint32_t events, int64_t ms);
/*
 * Call cb after ms milliseconds, then every ms milliseconds when repeat.
 * The timer is owned by the loop; loop_timer_cancel frees it.
 */
struct loop_timer *loop_timer_add(struct loop *l, int64_t ms, int repeat, loop_timer_cb *cb,
                                  void *arg);
void loop_timer_cancel(struct loop *l, struct loop_timer *t);
/*
 * Block the n signals in sigs and deliver them through a signalfd watched by
 * the loop: cb reads struct signalfd_siginfo records from fd. Returns the fd
 * or -errno.
 */
int loop_signals(struct loop *l, const int *sigs, int n, loop_io_cb *cb, void *arg);
/* Run until loop_break(). Returns 0, or -errno if epoll fails. */
int loop_run(struct loop *l);
void loop_break(struct loop *l);
/* Monotonic ms as of the last wake-up (cheap). */
int64_t loop_now(const struct loop *l);

#endif

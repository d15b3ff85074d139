/* The one event loop: a libwebsockets context used for its timers (lws_sul),
 * the worker thread's wakeup and lws_service(), and one epoll set of our own
 * adopted into it as a single raw fd. Every fd the loop serves (listeners,
 * client and target sockets, relay connections, UDP sockets, signalfd,
 * control socket) sits in that set, level-triggered, behind a small handle
 * (struct loop_fd); lws never sees those fds, so none costs an lws wsi, a
 * slot in its poll() table or its per-close scan of its descriptor table.
 * Reading, writing and TLS are ours (stream.c). Each handle points at a
 * struct loop_obj whose ops the loop calls. */
#ifndef AZB_LOOP_H
#define AZB_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

/* Largest chunk moved per read/write; also the scratch buffer's size. */
#define LOOP_CHUNK (64 * 1024)
/* Headroom before payload in the scratch buffer for a websocket header. */
#define LOOP_HEADROOM 16

struct loop_obj;
struct loop_fd;      /* the loop's handle of an adopted fd: opaque */

/* Non-zero from a callback makes the loop close the fd; on_close follows,
 * once. When an fd is both writeable and readable in one wakeup, the
 * writeable callback runs first. A hang-up or error counts as readable: the
 * reader sees every byte still queued and then EOF or the error; while its
 * input is paused, a hung-up fd waits, out of the set, for the resume, and
 * an fd with an error (a reset) is closed. */
struct loop_fd_ops {
	const char *what;
	int (*on_readable)(struct loop_obj *o, struct loop_fd *f);
	int (*on_writeable)(struct loop_obj *o, struct loop_fd *f);   /* NULL: never asks */
	void (*on_close)(struct loop_obj *o, struct loop_fd *f);
};

/* One per handle. The loop detaches it from the handle before on_close, so
 * the owner may free it there. */
struct loop_obj {
	const struct loop_fd_ops *fd_ops;
};

struct loop_work;
typedef void (*loop_work_fn)(struct loop_work *w);    /* runs on the worker thread */
typedef void (*loop_done_fn)(struct loop_work *w);    /* runs on the loop */
struct loop_work {
	loop_work_fn work;
	loop_done_fn done;       /* also for jobs left undone at shutdown: */
	bool cancelled;          /* then this is set and work() never ran */
	struct loop_work *next;
};

typedef void (*loop_signal_fn)(int signo);
int loop_init(loop_signal_fn on_signal);
void loop_destroy(void);
int loop_run(void);                 /* until loop_stop() */
void loop_stop(void);
struct lws_context *loop_context(void);

/* Adopt a non-blocking fd (the loop does not make it so: an fd from
 * outside, e.g. socket activation, is set non-blocking where it enters);
 * NULL on failure (the fd is closed then). The loop closes the fd when the
 * handle goes, after on_close. */
struct loop_fd *loop_adopt(int fd, struct loop_obj *o);
/* Close from outside the fd's own callbacks: on a later loop turn (never
 * inside the current callback chain), or now (never from inside a callback
 * of that fd). Either way on_close follows, once, unless detached. A handle
 * closed while events for it wait in the same wakeup gets none of them. */
void loop_kill(struct loop_fd *f);
void loop_kill_now(struct loop_fd *f);
/* The owner is going without a close callback: loop_kill*() after this
 * closes the fd only. */
void loop_detach(struct loop_fd *f);

/* Ask for one writeable callback; a request made inside that fd's own
 * writeable callback is honoured too. NULL is ignored. */
void loop_want_write(struct loop_fd *f);

/* Stop and restart watching f for input. Cheap both ways: the set is only
 * told once input actually arrives while paused. */
void loop_pause_rx(struct loop_fd *f, bool pause);
/* Pause for us microseconds, then watch f again. The timer goes with the
 * handle: nothing to cancel. */
void loop_pause_rx_for(struct loop_fd *f, int64_t us);

/* Scratch buffer (LOOP_HEADROOM + LOOP_CHUNK): single-threaded, valid until
 * the current callback returns. */
uint8_t *loop_scratch(void);

/* Blocking work (DNS) on the worker thread; done() runs on the loop. */
void loop_submit(struct loop_work *w);

/* Run fn soon from the loop (a zero-delay timer), e.g. to resume reading
 * data a TLS library holds buffered. */
void loop_defer(lws_sorted_usec_list_t *sul, sul_cb_t fn);

#endif

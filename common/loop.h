/* The one event loop: a libwebsockets context used for what it does well,
 * polling and timers. Every fd (listeners, client and target sockets, relay
 * connections, UDP sockets, signalfd, control socket) is adopted as a raw
 * file; reading, writing and TLS are ours (stream.c). Each adopted fd points
 * at a struct loop_obj whose ops the loop calls. */
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

/* Non-zero from a callback makes the loop close the fd; on_close follows. */
struct loop_fd_ops {
	const char *what;
	int (*on_readable)(struct loop_obj *o, struct lws *wsi);
	int (*on_writeable)(struct loop_obj *o, struct lws *wsi);   /* NULL: never asks */
	void (*on_close)(struct loop_obj *o, struct lws *wsi);
};

/* One per wsi. The loop clears the wsi's pointer to it before on_close, so
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

/* Adopt a non-blocking fd; NULL on failure (the fd is closed then). */
struct lws *loop_adopt(int fd, struct loop_obj *o);
/* Close a wsi from outside its own callback: on the next loop turn, or now
 * (never from inside a callback of that wsi). */
void loop_kill(struct lws *wsi);
void loop_kill_now(struct lws *wsi);

/* Ask for a writeable callback. lws's raw-file role clears POLLOUT after a
 * writeable callback returns, so a request made inside that wsi's own
 * writeable callback is re-armed from a zero-delay timer instead. The owner
 * keeps the struct and cancels it when the fd goes. */
struct loop_rearm {
	lws_sorted_usec_list_t sul;
	struct lws *wsi;
};
void loop_want_write(struct lws *wsi, struct loop_rearm *r);
void loop_rearm_cancel(struct loop_rearm *r);

/* Stop polling wsi for input for us microseconds, then poll it again. Kept
 * on lws's own per-wsi timer, so it goes with the wsi: nothing to cancel. */
void loop_pause_rx_for(struct lws *wsi, int64_t us);

/* Scratch buffer (LOOP_HEADROOM + LOOP_CHUNK): single-threaded, valid until
 * the current callback returns. */
uint8_t *loop_scratch(void);

/* Blocking work (DNS) on the worker thread; done() runs on the loop. */
void loop_submit(struct loop_work *w);

/* Run fn soon from the loop (a zero-delay timer), e.g. to resume reading
 * data a TLS library holds buffered. */
void loop_defer(lws_sorted_usec_list_t *sul, sul_cb_t fn);

#endif

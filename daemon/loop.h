/* The one event loop: a libwebsockets context whose only vhost carries two
 * protocols, one for every fd we adopt (listeners, client sockets, targets,
 * UDP sockets, signalfd, control socket) and one for relay connections (raw
 * TLS, with our own websocket layer on top). Every object behind a wsi starts
 * with a struct loop_obj so one callback per protocol can dispatch. */
#ifndef AZB_LOOP_H
#define AZB_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

/* Largest chunk moved per read/write; also the scratch buffer's size. */
#define LOOP_CHUNK (64 * 1024)
/* Headroom before payload in the scratch buffer: lws + a websocket header. */
#define LOOP_HEADROOM (LWS_PRE + 16)

struct loop_obj;

/* Callbacks for an adopted fd (raw-file role). Return non-zero to have lws
 * close the wsi; the object then gets on_close. */
struct loop_fd_ops {
	const char *what;
	int (*on_readable)(struct loop_obj *o, struct lws *wsi);
	int (*on_writeable)(struct loop_obj *o, struct lws *wsi);
	void (*on_close)(struct loop_obj *o, struct lws *wsi);
};

/* Callbacks for a relay connection (raw TLS client). */
struct loop_conn_ops {
	const char *what;
	int (*on_established)(struct loop_obj *o, struct lws *wsi);
	int (*on_rx)(struct loop_obj *o, struct lws *wsi, uint8_t *data, size_t len);
	int (*on_writeable)(struct loop_obj *o, struct lws *wsi);
	/* The connection failed before or after establishing; err is a
	 * message from lws when it had one. Called exactly once. */
	void (*on_close)(struct loop_obj *o, struct lws *wsi, const char *err);
};

/* One per wsi. The loop clears the wsi's pointer to it before on_close, so
 * the owner may free it there. */
struct loop_obj {
	const struct loop_fd_ops *fd_ops;
	const struct loop_conn_ops *conn_ops;
	bool established;
	bool connecting;         /* inside loop_connect(): errors are returned */
	bool connect_failed;
};

struct loop_work;
typedef void (*loop_work_fn)(struct loop_work *w);    /* runs on the worker thread */
typedef void (*loop_done_fn)(struct loop_work *w);    /* runs on the loop */
struct loop_work {
	loop_work_fn work;
	loop_done_fn done;
	struct loop_work *next;
};

typedef void (*loop_signal_fn)(int signo);
int loop_init(const char *ca_file, loop_signal_fn on_signal);
void loop_destroy(void);
int loop_run(void);                 /* until loop_stop() */
void loop_stop(void);
struct lws_context *loop_context(void);

/* Adopt a non-blocking fd; NULL on failure (fd closed by lws then). */
struct lws *loop_adopt(int fd, struct loop_obj *o);

/* Open a raw TLS (or plain TCP when !tls) connection. Returns 0 or -errno;
 * o->conn_ops->on_close is called on every later failure. */
struct loop_connect {
	const char *address;     /* numeric, already resolved */
	uint16_t port;
	const char *host;        /* for SNI and certificate checks */
	bool tls;
	bool insecure;           /* skip certificate checks: only when asked */
};
int loop_connect(const struct loop_connect *c, struct loop_obj *o, struct lws **pwsi);

/* Close a wsi from outside its own callback: on the next loop turn, or now
 * (never from inside a callback of that wsi). */
void loop_kill(struct lws *wsi);
void loop_kill_now(struct lws *wsi);

/* Scratch buffer: single-threaded, valid until the next callback returns. */
uint8_t *loop_scratch(void);

/* Blocking work (DNS) on the worker thread; done() runs on the loop. */
void loop_submit(struct loop_work *w);

#endif

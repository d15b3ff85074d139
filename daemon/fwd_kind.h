/* The kinds of forward: TCP, Unix socket, UDP, HTTP, one ops table each,
 * one file each (fwd_tcp.c, fwd_unix.c, fwd_udp.c, fwd_http.c). The forward
 * and the tunnel call through the table and never test the kind.
 *
 * Adding a kind: a file with its table, its entry in fwd.c's kinds[], and
 * the grammar in common/binding.c. */
#ifndef AZB_FWD_KIND_H
#define AZB_FWD_KIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "binding.h"
#include "dial.h"
#include "fwd.h"
#include "hc_listener.h"
#include "loop.h"
#include "preamble.h"
#include "udpframe.h"
#include "ws.h"

/* Most local bytes one websocket message carries: with its header (at
 * most WS_HDR_MAX) it fills four whole TLS records, where a full
 * LOOP_CHUNK would leave a fifth of a few bytes (one more write and
 * record for each side to handle). */
#define FWD_MESSAGE_MAX (LOOP_CHUNK - WS_HDR_MAX)

/* A tunnel's local end, as its kind's data functions see it. The kind
 * counts what passes in its own unit (bytes; for UDP, payloads). */
struct fwd_end {
	int fd;                        /* the socket; -1 once it is gone */
	const struct sockaddr *to;     /* a UDP flow: the client, fd is the forward's */
	socklen_t tolen;
	struct udpf_deframer df;       /* datagrams: a frame cut across messages */
	int64_t active;                /* datagrams: the last one either way (monotonic us) */
	uint64_t up, down;             /* from and to the local side, this tunnel */
	struct fwd_stats *stats;       /* ...and the forward's */
	struct log_ctx log;            /* the tunnel's journald fields */
};

/* One listening endpoint of a local forward; each kind embeds it in its own. */
struct fwd_listen {
	struct loop_obj obj;
	struct fwd_run *fr;
	size_t ep;
	int fd;
	struct loop_fd *fh;
};

/* What a tunnel does with its local end; byte streams share one set
 * (fwd_sock_stream), datagrams have theirs (fwd_udp.c). */
struct fwd_end_ops {
	/* to_local: bytes from the relay; returns how many the local side
	 * took now (the tunnel queues the rest and waits for writeability),
	 * or -errno. from_local: the next message for the relay, read into
	 * buf (cap bytes); its length, 0 at the end, -EAGAIN when nothing
	 * waits, or -errno. message_len: how much of what the tunnel queued
	 * goes in the next websocket message. */
	ssize_t (*to_local)(struct fwd_end *e, const uint8_t *p, size_t n);
	ssize_t (*from_local)(struct fwd_end *e, uint8_t *buf, size_t cap);
	size_t (*message_len)(const uint8_t *p, size_t n);
	/* Datagrams: all that waits (up to the kind's batch) read at once,
	 * each made a whole websocket frame in a buffer of the kind's own
	 * (wsc_frame_in_place), for one write: their length, with *frames
	 * where they are and *more when it stopped for room; -EAGAIN when
	 * nothing waits, or -errno. Set, it replaces from_local. */
	ssize_t (*frames_from_local)(struct fwd_end *e, const uint8_t **frames, bool *more);
	/* Datagrams: to_local() may hold back what lies in the read buffer,
	 * to send it with the rest of that read; the tunnel calls this when
	 * the read is done. NULL: nothing is held back. */
	void (*flush_local)(struct fwd_end *e);
	/* A byte stream has an end, and each direction ends on its own: the
	 * relay's end is passed on by shut_local, and finished says whether
	 * the local peer has ended its own (what it left in the socket may
	 * then be read at once). Datagram flows have neither: both NULL, and
	 * a close from either side ends the tunnel. */
	int (*shut_local)(struct fwd_end *e);
	bool (*finished)(struct fwd_end *e);
	/* Before a socket of the tunnel's own is closed; NULL: nothing. */
	void (*close_local)(int fd);
};

struct fwd_kind {
	const char *noun;           /* a tunnel of this kind in messages */
	enum pre_mode mode;         /* what the preamble asks for */
	int64_t idle_us;            /* an open tunnel quiet this long ends; 0: never */

	/* Local forwards: bind endpoint ep of fr and accept into tunnels;
	 * -errno with nothing left behind. NULL (with where): remote only. */
	int (*listen)(struct fwd_run *fr, size_t ep, struct fwd_listen **out);
	void (*unlisten)(struct fwd_listen *l);
	/* Tune an accepted client's socket (TCP: no Nagle); NULL: nothing. */
	void (*accepted)(int fd);
	/* The endpoint in messages ("127.0.0.1:8080", "/run/x.sock"). */
	const char *(*where)(const struct azb_ep *ep, char *buf, size_t len);

	/* Remote forwards: connect to the target (see dial.h); NULL when cb
	 * was called already. */
	struct dial *(*dial)(const struct azb_ep *ep, const char *bind_address, dial_cb cb,
			     void *arg);
	/* An HTTP request from the relay for endpoint ep: answer it through
	 * h (see hc_listener.h, which says what the return is). NULL: the
	 * kind serves no HTTP (the forward answers 501). */
	struct hc_body_sink *(*on_request)(struct fwd_run *fr, size_t ep, struct hc_listener *h,
					   struct hcp_msg *m);
	/* A remote forward's endpoint ep is about to go online: check and
	 * load what it needs, say what a user must know; -errno and a
	 * message (fwd_error) stop the forward. NULL: nothing. */
	int (*start)(struct fwd_run *fr, size_t ep);
	/* The forward goes now: end what the kind holds besides tunnels
	 * (HTTP requests under way). NULL: nothing. */
	void (*stop)(struct fwd_run *fr);

	/* The data functions of the tunnel's local end. */
	const struct fwd_end_ops *end;
};

extern const struct fwd_kind fwd_tcp, fwd_unix, fwd_udp, fwd_http;

/* ---- shared by the kinds (fwd_sock.c) -------------------------------------- */

/* Bind ep's address for type (SOCK_STREAM: listening too); fd or -errno. */
int fwd_sock_bind_inet(const struct azb_ep *ep, int type);
/* "host:port", "[v6]:port", with suffix. */
const char *fwd_sock_where_inet(const struct azb_ep *ep, const char *suffix, char *buf,
				size_t len);
/* Accept stream clients on fd (taken) into sender tunnels. */
int fwd_sock_listen_stream(struct fwd_listen *l, struct fwd_run *fr, size_t ep, int fd);
void fwd_sock_unlisten(struct fwd_listen *l);
/* A TCP connection to ep's host and port. */
struct dial *fwd_sock_dial_tcp(const struct azb_ep *ep, const char *bind_address, dial_cb cb,
			       void *arg);
/* The byte-stream end, for TCP, Unix and HTTP. */
extern const struct fwd_end_ops fwd_sock_stream;

#endif

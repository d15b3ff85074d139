/* One tunnel: a local end (a client or target socket, or a UDP flow over
 * the forward's socket) and one websocket to the relay, with flow control
 * both ways: what a slow receiver cannot take yet waits in a bounded queue
 * and the other side is paused. The kind's ops table (fwd_kind.h) does
 * what differs between kinds. Exactly one close path: tunnel_close(). */
#ifndef AZB_TUNNEL_H
#define AZB_TUNNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "fwd.h"
#include "outq.h"

struct tunnel;
struct fwd_end;

/* The relay direction is local -> relay ("up"), the other "down". */
enum tunnel_state {
	TUNNEL_HANDSHAKE,   /* the websocket, the preamble and its reply */
	TUNNEL_DIALING,     /* listener: connecting to the target */
	TUNNEL_OPEN,        /* bytes both ways */
	TUNNEL_UP_DONE,     /* the local side ended: our close frame follows what is queued */
	TUNNEL_DOWN_DONE,   /* the relay ended: the local side was (or is to be) told */
	TUNNEL_DRAINING,    /* both ended: what is queued and the close handshake finish */
	TUNNEL_CLOSED,      /* tunnel_close(): its parts are going */
};

/* A sender's local end: an accepted client, or a UDP flow whose datagrams
 * the owner reads from the forward's socket and passes in. */
struct tunnel_client {
	int fd;                       /* the client's socket (taken), or -1 for a flow */
	int flow_fd;                  /* a flow: the forward's socket, for replies */
	const struct sockaddr *to;    /* a flow: the client, valid until gone() */
	socklen_t tolen;
	const char *peer;             /* for messages */
	size_t queue_max;             /* bytes waiting for the relay; 0: the default */
	struct outq_pool *pool;       /* NULL, or the budget the queue shares */
	void (*gone)(void *arg);      /* final: the tunnel has gone; NULL: none */
	void *arg;
};

/* -L: a client of fr's endpoint ep. Never closes at once. */
struct tunnel *tunnel_start_sender(struct fwd_run *fr, size_t ep, const struct tunnel_client *c);
/* -T: the relay offered a connection at this rendezvous address (checked by
 * the control channel's parser); dialled with the forward's TLS settings. */
struct tunnel *tunnel_start_listener(struct fwd_run *fr, const char *host, uint16_t port,
				     const char *target, const char *peer);
/* A flow's datagram for the relay, framed, with LOOP_HEADROOM bytes before
 * msg: sent now when the relay side can take it, else queued. -ENOBUFS
 * when the queue is full, -EPIPE when the tunnel is closing. */
int tunnel_send(struct tunnel *t, uint8_t *msg, size_t n);
/* Open with nothing queued and the relay side taking more: whole frames
 * made in place (wsc_frame_in_place) may go by tunnel_send_frames(), several
 * of a flow's datagrams in one write. */
bool tunnel_can_send(const struct tunnel *t);
int tunnel_send_frames(struct tunnel *t, const uint8_t *frames, size_t n);
/* The local end, for its kind's own accounting. */
struct fwd_end *tunnel_end(struct tunnel *t);

enum tunnel_state tunnel_state(const struct tunnel *t);
const char *tunnel_state_name(enum tunnel_state s);

void tunnel_close(struct tunnel *t, const char *reason);
/* Close every tunnel of a forward (stop or rebuild); fr may be gone after. */
void tunnel_close_all(struct fwd_run *fr, const char *reason);

#endif

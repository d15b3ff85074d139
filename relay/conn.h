/* One client connection to the relay. It owns the stream, the request head,
 * its place in the admission count and the routing decision; a routed head
 * hands the connection to the role the route names (an HTTP client, a
 * listener's control channel, a sender waiting for its listener, an HTTP
 * rendezvous, one end of a splice), which gets the connection's events
 * through its ops table. One close path: conn_close() (or a response, which
 * closes), then the role's gone() and the end of the connection, once. */
#ifndef AZB_CONN_H
#define AZB_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "http1.h"
#include "relay.h"
#include "rhead.h"
#include "ws.h"

struct conn;

/* A role's events; any may be NULL. rx and the websocket events come only
 * while the connection is routed and open; writeable whenever the stream
 * drains (also while the next head is read); gone() once, last. */
struct conn_role {
	const char *name;
	/* Bytes after a head this role took (plain HTTP). */
	void (*rx)(struct conn *c, uint8_t *p, size_t n);
	/* A websocket message's data, in place (WS_HDR_MAX bytes before p may be
	 * overwritten); last: the message's final piece. */
	void (*ws_data)(struct conn *c, enum ws_op op, uint8_t *p, size_t n, bool last);
	/* A close frame (payload n == 0 or n >= 2). NULL: it is answered and
	 * the connection closes. */
	void (*ws_close)(struct conn *c, uint8_t *p, size_t n);
	/* The websocket broke (a protocol error): the peer has been told and the
	 * connection is closing. */
	void (*ws_broken)(struct conn *c);
	/* The frames of one read have all been delivered (the read buffer is
	 * about to be reused): what was gathered from them goes now. */
	void (*ws_read_done)(struct conn *c);
	/* The stream took everything queued. */
	void (*writeable)(struct conn *c);
	/* Final: the connection is gone (no stream left to write to); the role
	 * lets go of it and frees its state. */
	void (*gone)(struct conn *c);
};

/* The role a routed head starts, one per kind of route, from the owner of
 * the listening sockets. rest: bytes that came after the head. */
typedef void (*conn_start_fn)(struct conn *c, const struct rroute *rt, uint8_t *rest, size_t n);
struct conn_routes {
	conn_start_fn http, listen, connect, accept, request;
};

/* A new connection, if admission lets it in (else fd is closed). */
void conn_accept(struct relay *r, int fd, const struct sockaddr *sa,
		 const struct conn_routes *routes);

/* The role that gets c's events from now on (NULL: none) and its state. */
void conn_set_role(struct conn *c, const struct conn_role *role, void *state);
const struct conn_role *conn_role(const struct conn *c);
void *conn_state(const struct conn *c);

struct relay *conn_relay(const struct conn *c);
/* The latest request head; an empty one once dropped. */
const struct http1_head *conn_head(const struct conn *c);
void conn_drop_head(struct conn *c);
const struct rhost *conn_host(const struct conn *c);    /* of the latest head; empty once dropped */
const char *conn_peer(const struct conn *c);
/* Routed to a role and not closing. */
bool conn_open(const struct conn *c);
bool conn_choked(const struct conn *c);
/* Choked for a while: it has stopped reading what it is sent. */
bool conn_stuck(const struct conn *c);
void conn_pause_rx(struct conn *c, bool pause);
void conn_want_write(struct conn *c);
void conn_write(struct conn *c, const void *p, size_t n);

/* The role is done with this head: read the next one (keep-alive), with
 * bytes that came early. */
void conn_next_head(struct conn *c, uint8_t *early, size_t n);
/* A query parameter of the request target, decoded; NULL when absent. */
char *conn_query(const struct conn *c, const char *name);
/* The token of the query: sb-hc-token, else sbc-hc-token; NULL for neither. */
char *conn_query_token(const struct conn *c);
/* 0, or the status already answered (401/403) and logged. The entity's
 * resource is built from the validated host name, never the raw header. */
int conn_authorize(struct conn *c, const struct relay_hc *hc, const char *token, unsigned need,
		   time_t *expiry);
/* The same with a websocket's token: ServiceBusAuthorization, the query's
 * (conn_query_token), or (when neither is there) Authorization. */
int conn_check_token(struct conn *c, const struct relay_hc *hc, unsigned need, time_t *expiry);
/* The token came in Authorization: it is the relay's, not passed on. */
bool conn_token_in_authorization(const struct conn *c);
/* "host[:port]" by which c reached the relay, for addresses given to it. */
void conn_authority(const struct conn *c, char *out, size_t len);
/* "wss://AUTHORITY/$hc/PATH?sb-hc-action=ACTION&sb-hc-id=ID" for the
 * listener on c: a rendezvous on this relay, whatever a client sent. */
char *conn_rendezvous_address(const struct conn *c, const char *path, const char *action,
			      const char *id);
/* The peer's numeric address and port. */
void conn_remote_endpoint(const struct conn *c, char *addr, size_t len, int *port);

/* Answer with status and its usual reason phrase (body NULL: the phrase),
 * then close. */
void conn_respond(struct conn *c, int status, const char *body);
/* The same with a reason phrase already checked to be one line of text. */
void conn_respond_as(struct conn *c, int status, const char *reason, const char *body);
const char *conn_reason(int status);
/* 101 to the websocket upgrade of the latest head; frames follow. */
void conn_upgrade(struct conn *c, const char *protocol);
/* Finish sending what is queued, then close. */
void conn_close(struct conn *c);
/* Close now, dropping what is queued. */
void conn_abort(struct conn *c);

/* Frames out. A connection that reads nothing is told why and closed once
 * max_output_queue is passed: its queue stays bounded whatever it is sent.
 * The payload sits at p with WS_HDR_MAX bytes of headroom before it that
 * may be overwritten, so data is forwarded without a copy. */
void conn_send_frame_at(struct conn *c, enum ws_op op, bool fin, uint8_t *p, size_t n);
/* Whole frames laid out one after another (ws_header, unmasked): one write. */
void conn_send_frames(struct conn *c, const uint8_t *p, size_t n);
void conn_send_text(struct conn *c, const char *text);
/* A control frame of at most WS_CTRL_MAX bytes, copied. */
void conn_send_control(struct conn *c, enum ws_op op, const void *p, size_t n);
void conn_send_close(struct conn *c, uint16_t code, const char *reason);

#endif

/* One client connection to the relay, through its life: reading the upgrade
 * request, then a listener's control channel, a sender waiting for its
 * listener, or one side of a spliced pair. */
#ifndef AZB_RCONN_H
#define AZB_RCONN_H

#include "relay.h"

enum rc_state {
	RC_HEAD,         /* reading the HTTP request head */
	RC_LISTENER,     /* control channel */
	RC_WAITING,      /* sender: upgrade answered once a listener accepts */
	RC_SPLICED,
	RC_CLOSING,
};

struct pending;

struct rconn {
	struct relay *relay;
	struct stream *st;
	enum rc_state state;
	struct http1_head head;
	char *host;              /* the Host header, for accept addresses */
	char *key;               /* Sec-WebSocket-Key */
	struct ws_parser parser;
	/* control channel */
	struct relay_hc *hc;
	struct rconn *lnext;
	time_t token_expiry;
	lws_sorted_usec_list_t expiry_timer;
	struct sbuf msg;
	bool in_text;
	/* spliced */
	struct rconn *peer;
	bool mid_message;        /* forwarding: inside a fragmented message */
	bool close_rcvd, close_fwd;
	bool paused_for_peer;
	/* waiting sender */
	struct pending *pend;
	struct rconn *next_all;
};

/* hc.c */
void rc_route(struct rconn *rc, uint8_t *rest, size_t n);
void rc_forget(struct rconn *rc);           /* on close: leave lists, notify the peer */
int rc_ws_rx(struct rconn *rc, uint8_t *p, size_t n);
void rc_writeable(struct rconn *rc);

/* server.c */
void rc_respond(struct rconn *rc, int status, const char *reason, const char *body);
void rc_upgrade(struct rconn *rc, const char *key, const char *protocol);
/* A query parameter of the request target, decoded; NULL when absent. */
char *rc_query(const struct rconn *rc, const char *name);
void rc_close(struct rconn *rc);

#endif

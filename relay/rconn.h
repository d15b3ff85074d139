/* One client connection to the relay, through its life: reading the upgrade
 * request, then a listener's control channel, a sender waiting for its
 * listener, or one side of a spliced pair. */
#ifndef AZB_RCONN_H
#define AZB_RCONN_H

#include "admit.h"

#include "relay.h"
#include "rhead.h"

enum rc_state {
	RC_HEAD,         /* reading the HTTP request head */
	RC_LISTENER,     /* control channel */
	RC_WAITING,      /* sender: upgrade answered once a listener accepts */
	RC_SPLICED,
	RC_HTTP,         /* a client making plain HTTP requests */
	RC_RDV,          /* a listener's HTTP rendezvous websocket */
	RC_CLOSING,
};

struct pending;
struct hclient;
struct hcp_msg;

struct rconn {
	struct relay *relay;
	struct stream *st;
	enum rc_state state;
	struct http1_head head;
	struct rhost host;       /* the validated Host of the latest request */
	struct admit_key source; /* counted against the connection limits */
	char *key;               /* Sec-WebSocket-Key */
	struct ws_parser parser;
	/* control channel */
	struct relay_hc *hc;
	struct rconn *lnext;
	time_t token_expiry;
	lws_sorted_usec_list_t expiry_timer;
	lws_sorted_usec_list_t head_timer;  /* a request head must arrive in time */
	struct sbuf msg;
	bool in_text;
	/* spliced */
	struct rconn *peer;
	bool mid_message;        /* forwarding: inside a fragmented message */
	bool close_rcvd, close_fwd;
	bool paused_for_peer;
	/* Only the latest ping is answered while the peer reads nothing. */
	bool pong_due;
	uint8_t pong_len;
	uint8_t pong[WS_CTRL_MAX];
	/* waiting sender */
	struct pending *pend;
	/* HTTP */
	struct hclient *http;    /* RC_HTTP: this client's exchange */
	struct hclient *serving; /* RC_RDV: the client this rendezvous serves */
	struct hclient *body_to; /* a channel: whose response body is arriving */
	struct rconn *next_all;
};

/* hc.c */
void rc_route(struct rconn *rc, uint8_t *rest, size_t n);
/* "host[:port]" by which rc reached the relay, for addresses given to it. */
void rc_authority(const struct rconn *rc, char *out, size_t len);
/* "wss://AUTHORITY/$hc/PATH?sb-hc-action=ACTION&sb-hc-id=ID" for the
 * listener on chan: a rendezvous on this relay, whatever a client sent. */
char *rc_rendezvous_address(const struct rconn *chan, const char *path, const char *action,
			    const char *id);
/* Send one unmasked frame whose payload sits at p, with WS_HDR_MAX bytes of
 * headroom before it that may be overwritten. */
void rc_send_frame_at(struct rconn *to, enum ws_op op, bool fin, uint8_t *p, size_t n);
void rc_send_text(struct rconn *to, const char *text);
void rc_send_close(struct rconn *to, uint16_t code, const char *reason);
/* A listener of hc at random among those that are open and read what they
 * are sent; NULL with the status to answer (404 none online, 503 all busy). */
struct rconn *hc_pick_listener(struct relay_hc *hc, int *status);
void rc_remote_endpoint(const struct rconn *rc, char *addr, size_t len, int *port);
/* 0, or the status already answered (401/403). */
int rc_authorize(struct rconn *rc, struct relay_hc *hc, const char *token, unsigned need);
void rc_forget(struct rconn *rc);           /* on close: leave lists, notify the peer */
int rc_ws_rx(struct rconn *rc, uint8_t *p, size_t n);
void rc_writeable(struct rconn *rc);

/* http.c */
void http_request(struct rconn *rc, const struct rroute *rt, uint8_t *rest, size_t n);
int http_rx(struct rconn *rc, uint8_t *p, size_t n);
void http_rendezvous(struct rconn *rc, const struct rroute *rt);
void http_on_response(struct rconn *chan, struct hcp_msg *m);
/* A response from chan that could not be read: that request fails (502). */
void http_on_bad_response(struct rconn *chan, const char *request_id, const char *why);
void http_on_body(struct rconn *chan, uint8_t *p, size_t n, bool last);
void http_writeable(struct rconn *rc);
void http_forget(struct rconn *rc);

/* server.c */
/* Bytes of a new request head (after a finished keep-alive exchange). */
void rc_feed(struct rconn *rc, uint8_t *data, size_t len);
/* Expect a new request head within the header timeout. */
void rc_await_head(struct rconn *rc);
/* Answer with status and its usual reason phrase; body NULL: the phrase. */
void rc_respond(struct rconn *rc, int status, const char *body);
/* The same with a reason phrase already checked to be one line of text. */
void rc_respond_as(struct rconn *rc, int status, const char *reason, const char *body);
const char *rc_reason(int status);
void rc_upgrade(struct rconn *rc, const char *key, const char *protocol);
/* A query parameter of the request target, decoded; NULL when absent. */
char *rc_query(const struct rconn *rc, const char *name);
void rc_close(struct rconn *rc);

#endif

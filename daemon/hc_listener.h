/* A remote forward's listener control channel: connect, keep alive, renew
 * the token, reconnect with backoff, and hand what the relay asks for
 * (connections, HTTP requests) to the forward through its callbacks. */
#ifndef AZB_HC_LISTENER_H
#define AZB_HC_LISTENER_H

#include <stdbool.h>
#include <stdint.h>

#include "fwd.h"

struct hc_listener;
struct hcp_msg;

/* Where the binary message after a request (its body) goes. */
struct hc_body_sink {
	/* A piece of it; last: the body is whole. */
	void (*data)(struct hc_body_sink *s, const uint8_t *p, size_t n, bool last);
	/* The channel went before the body was whole. */
	void (*lost)(struct hc_body_sink *s);
};

struct hc_listener_ops {
	/* The relay offers a connection at this rendezvous address (checked
	 * by the message parser); peer is the sender's address. */
	void (*accept)(struct fwd_run *fr, const char *host, uint16_t port, const char *target,
		       const char *peer);
	/* An HTTP request, answered with hc_listener_respond() or _send(); m
	 * may be taken with hcp_move(). Returns where its body goes when
	 * m->body, NULL to drop it. */
	struct hc_body_sink *(*request)(struct fwd_run *fr, struct hc_listener *h,
					struct hcp_msg *m);
};

struct hc_listener *hc_listener_start(struct fwd_run *fr,
				      const struct hc_listener_ops *ops);
void hc_listener_stop(struct hc_listener *h);
/* A response without a body to request id. */
void hc_listener_respond(struct hc_listener *h, const char *id, int status, const char *desc);
/* Which connection of the channel is up: a response goes only on the one
 * its request came on. */
unsigned hc_listener_channel(const struct hc_listener *h);
/* Can a response go out now without waiting behind others? */
bool hc_listener_can_send(const struct hc_listener *h);
/* A response message and, when has_body, its body as one binary message
 * (n may be 0), on connection chan; -ENOTCONN when that one is gone. */
int hc_listener_send(struct hc_listener *h, unsigned chan, const char *text, const uint8_t *body,
		     size_t n, bool has_body);
/* s takes no more of a body (it goes before the body ended). */
void hc_listener_forget(struct hc_listener *h, struct hc_body_sink *s);

#endif

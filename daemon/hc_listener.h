/* A remote forward's listener control channel: connect, keep alive, renew
 * the token, reconnect with backoff, and hand what the relay asks for
 * (connections, HTTP requests) to the forward through its callbacks. */
#ifndef AZB_HC_LISTENER_H
#define AZB_HC_LISTENER_H

#include <stdbool.h>
#include <stdint.h>

#include "fwd.h"

struct hc_listener;

struct hc_listener_ops {
	/* The relay offers a connection at this rendezvous address (checked
	 * by the message parser); peer is the sender's address. */
	void (*accept)(struct fwd_run *fr, const char *host, uint16_t port, const char *target,
		       const char *peer);
	/* An HTTP request: answered with hc_listener_respond(). */
	void (*request)(struct fwd_run *fr, struct hc_listener *h, const char *id);
};

struct hc_listener *hc_listener_start(struct fwd_run *fr,
				      const struct hc_listener_ops *ops);
void hc_listener_stop(struct hc_listener *h);
/* A response without a body to request id. */
void hc_listener_respond(struct hc_listener *h, const char *id, int status, const char *desc);

#endif

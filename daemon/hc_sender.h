/* The sender's side of a hybrid connection, the one way every -L tunnel
 * (stream or datagram) opens: a token, a websocket to the relay's connect
 * address, the bridge preamble out, the listener's 3-byte reply in. Then
 * the websocket is the tunnel's. */
#ifndef AZB_HC_SENDER_H
#define AZB_HC_SENDER_H

/* The most of a client's first bytes that go out with the preamble. */
#define HC_SENDER_EARLY_MAX 4096

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fwd.h"
#include "preamble.h"
#include "wsc.h"

struct hc_sender;

struct hc_sender_params {
	const struct fwd_relay *relay;
	const char *path;         /* the hybrid connection */
	const char *id;           /* sb-hc-id: the tunnel's */
	const char *port_name;
	enum pre_mode mode;
	bool no_auth;             /* no token */
	int timeout_s;            /* connect_timeout, up to the reply */
	int spare_idle_s;         /* wsc_params' */
};

struct hc_sender_ops {
	const struct wsc_ops *ws_ops;   /* the owner's, once the websocket is */
	/* The listener accepted: ws is the owner's now, with ws_ops; rest is
	 * what came after the reply. The sender is gone already. */
	void (*ready)(void *owner, struct wsc *ws, uint8_t *rest, size_t n);
	/* Final when ready() did not come: why. */
	void (*failed)(void *owner, const char *why);
	/* What the client has sent already, read into buf (at most cap
	 * bytes): it goes out with the preamble instead of a round trip
	 * later. Its length, or 0 for none now. NULL: never any. */
	size_t (*early)(void *owner, uint8_t *buf, size_t cap);
};

/* Never fails at once: ready() or failed() follows from the loop. */
struct hc_sender *hc_sender_start(const struct hc_sender_params *p,
				  const struct hc_sender_ops *ops, void *owner);
/* No callback after this; the connection is dropped. */
void hc_sender_cancel(struct hc_sender *s);

#endif

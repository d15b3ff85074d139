/* A websocket client connection to the relay: raw TLS from the loop, our own
 * upgrade and framing (common/ws.h) on top. */
#ifndef AZB_WSC_H
#define AZB_WSC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ws.h"

struct wsc;

/* Callbacks into the owner. Non-zero from any of them aborts the connection
 * (gone() follows). */
struct wsc_ops {
	int (*open)(void *owner);
	int (*data)(void *owner, enum ws_op op, uint8_t *p, size_t n, bool last);
	/* The peer sent a close frame: no more data will come from it. */
	int (*peer_closed)(void *owner, uint16_t code);
	int (*writeable)(void *owner);
	/* Final: the transport is gone. status is the HTTP status when the
	 * upgrade was refused, 0 when a connection had been made, -1 when the
	 * relay could not be reached at all. The wsc is freed after this. */
	void (*gone)(void *owner, int status, const char *why);
};

struct wsc_params {
	const struct sockaddr *sa;   /* resolved, with the port set */
	socklen_t salen;
	uint16_t port;
	const char *host;       /* Host header, SNI, certificate name */
	bool tls;
	bool insecure;
	const char *target;     /* path and query */
	const char *token;      /* ServiceBusAuthorization, or NULL */
	/* Seconds from wsc_open() to wsc_ready(): TCP connect, TLS handshake,
	 * upgrade response and whatever first reply the owner waits for. When
	 * they pass, the connection is aborted (gone() says why). 0: none. */
	int timeout_s;
};

/* NULL and *err on immediate failure (no gone() then). */
struct wsc *wsc_open(const struct wsc_params *p, const struct wsc_ops *ops, void *owner, int *err);

/* The owner has what it waited for (at the latest in open()): the
 * deadline no longer applies. */
void wsc_ready(struct wsc *c);

/* Send one frame from the owner's writeable(): payload must sit at
 * loop_scratch() + LOOP_HEADROOM or have as much headroom. Masks in place. */
int wsc_send(struct wsc *c, enum ws_op op, bool fin, uint8_t *payload, size_t n);
/* End our direction with a close frame (sent before any further data). */
void wsc_close(struct wsc *c, uint16_t code, const char *reason);
void wsc_ping(struct wsc *c);
void wsc_want_write(struct wsc *c);
void wsc_pause_rx(struct wsc *c, bool pause);
/* Drop the connection now; gone() follows from the loop. */
void wsc_abort(struct wsc *c);

bool wsc_is_open(const struct wsc *c);
/* Can a data frame go out now without queueing? */
bool wsc_can_send(const struct wsc *c);
bool wsc_close_sent(const struct wsc *c);
/* Monotonic microseconds of the last frame of any kind from the peer. */
int64_t wsc_last_rx(const struct wsc *c);

#endif

/* A websocket client connection to the relay: raw TLS from the loop, our own
 * upgrade and framing (common/ws.h) on top. */
#ifndef AZB_WSC_H
#define AZB_WSC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ws.h"

struct azb_proxy;

struct wsc;

/* Callbacks into the owner. Non-zero from any of them aborts the connection
 * (gone() follows). */
struct wsc_ops {
	int (*open)(void *owner);
	int (*data)(void *owner, enum ws_op op, uint8_t *p, size_t n, bool last);
	/* The peer sent a close frame: no more data will come from it. */
	int (*peer_closed)(void *owner, uint16_t code);
	int (*writeable)(void *owner);   /* NULL: the owner never asks */
	/* Final: the transport is gone. status is the HTTP status when the
	 * upgrade was refused, 0 when a connection had been made, -1 when the
	 * relay could not be reached at all. The wsc is freed after this. */
	void (*gone)(void *owner, int status, const char *why);
	/* Every frame of one read has been delivered: what data() held back
	 * from the read buffer goes now, before it is reused. NULL: none. */
	void (*read_done)(void *owner);
};

struct wsc_params {
	const char *host;       /* looked up off the loop; also Host, SNI, certificate name */
	uint16_t port;
	bool tls;
	bool insecure;
	const char *target;     /* path and query */
	const char *token;      /* ServiceBusAuthorization, or NULL */
	/* Seconds from the connect to wsc_ready(): TCP connect, TLS handshake,
	 * upgrade response and whatever first reply the owner waits for (the
	 * name lookup comes before). When they pass, the connection is aborted
	 * (gone() says why). 0: none. */
	int timeout_s;
	/* Bytes the connection may hold for a relay that reads too slowly;
	 * past them it fails. 0: no limit (the owner sends only when
	 * wsc_can_send() says so). */
	size_t max_queued;
	/* The proxy settings that apply (NULL: none; the environment's
	 * are read then too: proxy.h). */
	const struct azb_proxy *proxy;
	/* A tunnel's (> 0): take a connection opened ahead (relay_pool.h) and
	 * keep spares for the next ones, each waiting at most this many seconds
	 * (the tunnel's keep-alive: what cuts a silent tunnel cuts a spare).
	 * 0: none. */
	int spare_idle_s;
};

/* Look up host, connect, upgrade. Never fails at once: whatever happens,
 * gone() follows exactly once, from the loop, never from inside wsc_open(). */
struct wsc *wsc_open(const struct wsc_params *p, const struct wsc_ops *ops, void *owner);
/* Hand the connection to another owner (from inside a callback too: the
 * next one goes to the new owner). */
void wsc_set_owner(struct wsc *c, const struct wsc_ops *ops, void *owner);

/* The owner has what it waited for (at the latest in open()): the
 * deadline no longer applies. */
void wsc_ready(struct wsc *c);

/* Send one frame: payload must sit at loop_scratch() + LOOP_HEADROOM or have
 * as much headroom. Masks in place. From the owner's writeable(), or
 * wherever the scratch buffer is not in use (not inside data()). */
int wsc_send(struct wsc *c, enum ws_op op, bool fin, uint8_t *payload, size_t n);
/* Several binary messages in one write (one TLS record while they fit):
 * the caller lays them out one after another. wsc_frame_in_place() makes a
 * payload (with wsc_frame_hdr_len(n) bytes of room before it) a whole
 * binary frame, masked, starting that many bytes before it: its header
 * length, 0 without random bytes. wsc_send_frames() writes such frames,
 * only while wsc_can_send(). */
size_t wsc_frame_in_place(uint8_t *payload, size_t n);
size_t wsc_frame_hdr_len(size_t n);
int wsc_send_frames(struct wsc *c, const uint8_t *frames, size_t n);
/* Two binary messages in one write (one TLS record), from buffers of the
 * caller's (copied, so from inside data() too); b may be empty (bn 0: a
 * alone). At most WSC_TWO_MAX bytes in all. */
#define WSC_TWO_MAX 8192
int wsc_send_two(struct wsc *c, const uint8_t *a, size_t an, const uint8_t *b, size_t bn);
/* Send one whole message from anywhere, data() included: it is copied first
 * (and the copy wiped: it may hold a token). */
int wsc_send_copy(struct wsc *c, enum ws_op op, const void *p, size_t n);
/* End our direction with a close frame (sent before any further data). */
void wsc_close(struct wsc *c, uint16_t code, const char *reason);
void wsc_ping(struct wsc *c);
void wsc_want_write(struct wsc *c);
void wsc_pause_rx(struct wsc *c, bool pause);
/* Drop the connection now; gone() follows from the loop. */
void wsc_abort(struct wsc *c);

/* Can a data frame go out now without queueing? */
bool wsc_can_send(const struct wsc *c);
/* Monotonic microseconds of the last frame of any kind from the peer. */
int64_t wsc_last_rx(const struct wsc *c);
/* What gone()'s status and why mean, as a tunnel's failure: in buf. */
const char *wsc_gone_text(char *buf, size_t len, int status, const char *why);

#endif

/* WebSocket (RFC 6455) framing and the upgrade handshake, independent of any
 * event loop. azbridge owns this layer instead of using libwebsockets' ws
 * role because a tunnel needs half-close: a close frame ends one direction
 * while data keeps flowing the other way, as the original tool does; lws
 * 4.1.6 drops data after a close frame in either direction. */
#ifndef AZB_WS_H
#define AZB_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http1.h"

#define WS_HDR_MAX 14
#define WS_CTRL_MAX 125
#define WS_KEY_LEN 24       /* base64 of 16 bytes */
#define WS_ACCEPT_LEN 28    /* base64 of a SHA-1 */

enum ws_op {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xa,
};

/* Close codes used here. */
enum {
	WS_CLOSE_NORMAL = 1000,
	WS_CLOSE_GOING_AWAY = 1001,
	WS_CLOSE_PROTOCOL = 1002,
	WS_CLOSE_NO_STATUS = 1005,
	WS_CLOSE_ABNORMAL = 1006,
	WS_CLOSE_POLICY = 1008,
	WS_CLOSE_TOO_BIG = 1009,
	WS_CLOSE_ERROR = 1011,
};

/* Frame header for a payload of len bytes. With mask (4 bytes, client to
 * server), the caller masks the payload with ws_mask(). Returns the size. */
size_t ws_header(uint8_t *out, enum ws_op op, bool fin, uint64_t len, const uint8_t *mask);
/* XOR data with the 4-byte key, starting at key offset off (mod 4). */
void ws_mask(uint8_t *data, size_t len, const uint8_t key[4], size_t off);

/* What the parser reports. Data comes in pieces as it arrives, in place
 * (unmasked in the caller's buffer); control frames arrive whole. */
struct ws_events {
	/* op is the message's opcode (TEXT or BINARY); last is true on the
	 * final piece of the message. Return non-zero to stop with an error. */
	int (*data)(void *arg, enum ws_op op, uint8_t *p, size_t n, bool last);
	int (*control)(void *arg, enum ws_op op, uint8_t *p, size_t n);
};

struct ws_parser {
	bool server;             /* frames from clients must be masked */
	uint8_t hdr[WS_HDR_MAX];
	size_t hdr_have;
	enum ws_op op, msg_op;
	bool fin, masked, in_msg;
	uint8_t key[4];
	uint64_t left;           /* payload bytes of this frame not yet seen */
	uint64_t off;            /* payload bytes of this frame seen */
	/* A control frame split across reads, until it is whole (NULL
	 * otherwise: one that arrives in one piece is passed in place). */
	uint8_t *ctrl;
};

void ws_parser_init(struct ws_parser *p, bool server);
/* Frees what a control frame cut short left (nothing else is held). */
void ws_parser_clear(struct ws_parser *p);
/* Parse len bytes (modified in place when masked). 0, or -EPROTO for a
 * protocol violation (the caller closes with 1002), or the callback's error. */
int ws_parse(struct ws_parser *p, uint8_t *buf, size_t len, const struct ws_events *ev, void *arg);

/* Close payload: 2-byte code + reason (truncated to fit). Returns size. */
size_t ws_close_payload(uint8_t *out, uint16_t code, const char *reason);
/* Read a close payload: code (1005 when empty) and reason (not NUL-terminated). */
uint16_t ws_close_code(const uint8_t *p, size_t n);

/* Handshake. key: out buffer of WS_KEY_LEN + 1 with a fresh random key. */
int ws_client_key(char key[WS_KEY_LEN + 1]);
/* accept: WS_ACCEPT_LEN + 1 bytes, base64(SHA-1(key + GUID)). */
void ws_accept_for(const char *key, char accept[WS_ACCEPT_LEN + 1]);
/* Check a 101 response head against the key; -EPROTO when it is not a
 * valid upgrade (status 101 with Upgrade/Connection/Sec-WebSocket-Accept). */
int ws_check_upgrade_response(const struct http1_head *h, const char *key);
/* Is a request head a websocket upgrade? Returns the key or NULL. */
const char *ws_upgrade_request_key(const struct http1_head *h);

#endif

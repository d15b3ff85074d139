/* UDP over a hybrid connection: each datagram is a 2-byte big-endian length
 * followed by the payload, in both directions. Websocket message boundaries
 * carry no meaning, so a frame may arrive split across messages (the
 * original restarted at offset 0 then; we reassemble). */
#ifndef AZB_UDPFRAME_H
#define AZB_UDPFRAME_H

#include <stddef.h>
#include <stdint.h>

#define UDPF_HDR 2
#define UDPF_MAX_PAYLOAD 65535

/* Write the 2-byte header for a payload of len bytes (len <= 65535). */
void udpf_header(uint8_t hdr[UDPF_HDR], size_t len);

typedef void (*udpf_cb)(void *arg, const uint8_t *payload, size_t len);

/* Whole frames inside one chunk are delivered straight from the caller's
 * buffer; only a frame cut by a chunk boundary is copied, into a buffer sized
 * for that frame. */
struct udpf_deframer {
	uint8_t hdr[UDPF_HDR];
	size_t hdr_have;
	uint8_t *part;          /* partial payload, NULL when none */
	size_t part_len, part_have;
};

void udpf_init(struct udpf_deframer *d);
void udpf_feed(struct udpf_deframer *d, const uint8_t *data, size_t len, udpf_cb cb, void *arg);
void udpf_clear(struct udpf_deframer *d);

#endif

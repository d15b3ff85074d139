/* The bridge preamble: the only framing azbridge adds to a hybrid connection.
 * Sender -> listener: 01 00 mode len name[len]; listener -> sender: 3 bytes. */
#ifndef AZB_PREAMBLE_H
#define AZB_PREAMBLE_H

#include <stddef.h>
#include <stdint.h>

#include "binding.h"

#define PRE_MAX (4 + 255)
#define PRE_REPLY_LEN 3

enum pre_mode {
	PRE_STREAM = 0,     /* TCP or Unix socket */
	PRE_DGRAM = 1,      /* UDP */
};

/* What the listener answers. PRE_SILENT: no forwarder for the name; the
 * original closes the websocket without a reply. */
enum pre_verdict {
	PRE_OK,
	PRE_BAD_VERSION,    /* 00 00 00 */
	PRE_WANT_DGRAM,     /* 00 00 01: forwarder is UDP, sender asked for a stream */
	PRE_WANT_STREAM,    /* 00 00 FF: forwarder is a stream, sender asked for UDP */
	PRE_SILENT,
};

/* Encode into out (at least PRE_MAX bytes). Returns the length, or -EINVAL
 * for a name longer than 255 bytes. */
int pre_encode(uint8_t *out, enum pre_mode mode, const char *port_name);

/* Incremental parser: the preamble may arrive split across websocket frames. */
struct pre_parser {
	uint8_t hdr[4];
	size_t have;            /* bytes of header + name seen so far */
	char name[256];
};
/* Feed bytes; *used tells how many were part of the preamble. Returns 1 when
 * complete, 0 when more is needed, -EPROTO for an unknown version or mode
 * (the caller then replies PRE_BAD_VERSION and closes). */
int pre_feed(struct pre_parser *p, const uint8_t *data, size_t len, size_t *used);
enum pre_mode pre_mode_of(const struct pre_parser *p);

/* Pick the endpoint of forward f for a port name and mode, with the
 * original's rules: exact name match; or, when f has exactly one endpoint,
 * any all-digit name. *ep_index is set for PRE_OK. */
enum pre_verdict pre_select(const struct azb_fwd *f, const char *name, enum pre_mode mode,
			    size_t *ep_index);

/* The 3 reply bytes for a verdict other than PRE_SILENT. */
void pre_reply(uint8_t out[PRE_REPLY_LEN], enum pre_verdict v, enum pre_mode mode);
/* Sender side: 0 if reply accepts mode, -ECONNREFUSED otherwise. */
int pre_check_reply(const uint8_t reply[PRE_REPLY_LEN], enum pre_mode mode);

#endif

/* One tunnel: a local socket (client or target) and one websocket to the
 * relay, with a bounded buffer for the direction whose receiver is slow and
 * flow control both ways. Exactly one close path: tunnel_close(). */
#ifndef AZB_TUNNEL_H
#define AZB_TUNNEL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "fwd.h"
#include "hc_proto.h"
#include "preamble.h"

struct tunnel;

/* -L: a client connected to our local socket. Takes fd. */
int tunnel_start_sender(struct fwd_run *fr, size_t ep, int fd, const char *peer);
/* -T: the relay offered a connection at this rendezvous address (checked by
 * hcp_parse_from_relay); it is dialled with the forward's TLS settings. */
int tunnel_start_listener(struct fwd_run *fr, const struct hcp_addr *rv, const char *peer);

void tunnel_close(struct tunnel *t, const char *reason);
/* Close every tunnel of a forward (stop or rebuild). */
void tunnel_close_all(struct fwd_run *fr, const char *reason);

#endif

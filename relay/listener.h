/* The listener role: a listener's control channel to its hybrid connection.
 * It is in the registry while open, keeps its token's expiry, takes
 * renewToken, and carries accept and request messages to the listener. */
#ifndef AZB_LISTENER_H
#define AZB_LISTENER_H

#include "channel.h"
#include "conn.h"

/* RR_LISTEN: authorize, then upgrade and join the hybrid connection. */
void listener_start(struct conn *c, const struct rroute *rt, uint8_t *rest, size_t n);
/* The channel of one of hc's listeners at random among those that are open
 * and read what they are sent; NULL with the status to answer (404 none
 * online, 503 all busy). */
struct channel *listener_pick(struct relay_hc *hc, int *status);

#endif

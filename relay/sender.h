/* The sender role: a websocket sender (sb-hc-action=connect) waiting for a
 * listener of its hybrid connection to accept it, and the listener's answer
 * (sb-hc-action=accept): a rendezvous spliced to the sender, or a
 * rejection passed on to it. */
#ifndef AZB_SENDER_H
#define AZB_SENDER_H

#include "conn.h"

/* RR_CONNECT: authorize if the hybrid connection asks it, then offer the
 * sender to one of its listeners and wait, unread, for the answer. */
void sender_start(struct conn *c, const struct rroute *rt, uint8_t *rest, size_t n);
/* RR_ACCEPT: a listener's answer to the offer the id names. */
void sender_accept(struct conn *c, const struct rroute *rt, uint8_t *rest, size_t n);

#endif

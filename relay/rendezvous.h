/* The rendezvous role: a websocket a listener opened for one HTTP request
 * (sb-hc-action=request), which carries that request's body to it and its
 * responses back. */
#ifndef AZB_RENDEZVOUS_H
#define AZB_RENDEZVOUS_H

#include "conn.h"

/* RR_REQUEST: join the request the id names, if it is this hybrid
 * connection's and has no rendezvous yet (else 403). */
void rendezvous_start(struct conn *c, const struct rroute *rt, uint8_t *rest, size_t n);

#endif

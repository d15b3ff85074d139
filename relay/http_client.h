/* The HTTP client role: a client making plain HTTP requests of a hybrid
 * connection's listeners (protocol guide §5), kept alive from one request
 * to the next. Each request is an exchange in the relay's index, which the
 * listener's channels answer through. */
#ifndef AZB_HTTP_CLIENT_H
#define AZB_HTTP_CLIENT_H

#include "conn.h"

/* RR_HTTP: a request head; rest: the bytes after it. */
void hclient_start(struct conn *c, const struct rroute *rt, uint8_t *rest, size_t n);

#endif

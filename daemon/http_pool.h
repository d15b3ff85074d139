/* Idle keep-alive connections to the targets of an HTTP forward: a
 * connection whose response ended cleanly waits here for the forward's
 * next request to the same endpoint over the same TLS context, at most
 * the endpoint's http_idle_connections of them, each for HTTP_POOL_IDLE_S.
 * A target that closes an idle connection, or sends anything on it, loses
 * it at once. Each holds a reference on its forward. */
#ifndef AZB_HTTP_POOL_H
#define AZB_HTTP_POOL_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "binding.h"

struct fwd_run;
struct stream;

/* Shorter than common servers' keep-alive (nginx: 75 s), which may still
 * close any time; a reused connection that fails unanswered is retried. */
#define HTTP_POOL_IDLE_S 4
#define HTTP_POOL_DEFAULT 32

/* The endpoint's cap on idle connections; 0: none are kept. */
unsigned http_pool_cap(const struct azb_ep *e);
/* An idle connection to endpoint ep of fr over ctx (NULL: plain), taken
 * out of the pool with no owner set yet; NULL when there is none. */
struct stream *http_pool_take(struct fwd_run *fr, size_t ep, SSL_CTX *ctx);
/* st (its response whole) waits for the next request, or closes when the
 * pool is full or the forward drains. */
void http_pool_put(struct fwd_run *fr, size_t ep, SSL_CTX *ctx, struct stream *st);
/* Close every idle connection of fr. */
void http_pool_close(struct fwd_run *fr);

#endif

/* One HTTP request through an HTTP forward (hyco-protocol.md §5): from the
 * control channel or a rendezvous websocket to the target, and the
 * response back inline while its body fits in 64 KiB, else over the
 * rendezvous, streamed. Each holds a reference on its forward and sits in
 * its list (fr->http); every phase has a deadline. */
#ifndef AZB_HTTP_EXCHANGE_H
#define AZB_HTTP_EXCHANGE_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "fwd.h"
#include "hc_listener.h"

struct hcp_msg;

/* A request m (taken) from h for endpoint ep of fr; ctx: the trust for an
 * https target (a reference, taken too). Returns where the body goes when
 * m->body. */
struct hc_body_sink *http_exchange_start(struct fwd_run *fr, size_t ep, struct hc_listener *h,
					 struct hcp_msg *m, SSL_CTX *ctx);
/* End every request of fr now. */
void http_exchange_stop_all(struct fwd_run *fr);

#endif

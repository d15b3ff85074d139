/* A remote forward's listener control channel: connect, keep alive, renew
 * the token, reconnect with backoff, and turn accept messages into tunnels. */
#ifndef AZB_HC_LISTENER_H
#define AZB_HC_LISTENER_H

#include <stdbool.h>

#include "fwd.h"

struct hc_listener;

struct hc_listener *hc_listener_start(struct fwd_run *fr, int token_lifetime);
void hc_listener_stop(struct hc_listener *h);
bool hc_listener_online(const struct hc_listener *h);

#endif

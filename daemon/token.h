/* Tokens for relay connections: a SAS made from a rule's key, or a fixed
 * pre-issued signature. */
#ifndef AZB_TOKEN_H
#define AZB_TOKEN_H

#include <time.h>

#include "fwd.h"

/* A fresh token for relay (the entity path) valid until *expiry; NULL with
 * *err when the forward has no usable credentials. Free with
 * azb_free_secret(). */
char *token_for(const struct fwd_relay *r, const char *relay, time_t *expiry, int *err);

#endif

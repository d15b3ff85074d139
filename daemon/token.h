/* Tokens for relay connections: a SAS made from a rule's key, a fixed
 * pre-issued signature, or an Entra ID token (entra.h). The first two are
 * made at once; an Entra ID token may have to be fetched first. */
#ifndef AZB_TOKEN_H
#define AZB_TOKEN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "fwd.h"

struct token {
	char *text;               /* secret: free with token_clear() */
	int64_t renew_in_us;      /* when a listener renews it; 0: never */
};

struct token_wait;
/* From the loop: err 0 means token_get() now answers at once. */
typedef void (*token_cb)(void *arg, int err, const char *why);

/* A token for relay (the entity path). 1: *t filled. 0: being fetched; cb
 * follows unless token_cancel(*w). <0: none now: why says (no secret). */
int token_get(const struct fwd_relay *r, const char *relay, struct token *t, token_cb cb,
	      void *arg, struct token_wait **w, char *why, size_t len);
void token_cancel(struct token_wait *w);
void token_clear(struct token *t);
/* Wipe the tokens kept for reuse (at exit). */
void token_flush(void);

#endif

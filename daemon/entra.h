/* Entra ID tokens for the relay, one cache per credential kind, shared by
 * every forward that uses it. Fetches run on the loop's worker thread (see
 * entra_kind.h); the loop never waits for an identity endpoint. A token is
 * fetched again before it expires while forwards keep using it, and a
 * failure is retried with backoff and logged once per change. */
#ifndef AZB_ENTRA_H
#define AZB_ENTRA_H

#include <stddef.h>
#include <time.h>

struct entra_wait;
/* From the loop: err 0 means entra_get() now answers at once. */
typedef void (*entra_cb)(void *arg, int err, const char *why);

/* A token of credential kind (a cred_kinds name). 1: *tok (free with
 * azb_free_secret) valid until *expiry, and a newer one due at *renew_at.
 * 0: fetching; cb follows unless entra_cancel(*w). <0: failing now (and
 * retried with backoff): why says, with no secret in it. */
int entra_get(const char *kind, char **tok, time_t *expiry, time_t *renew_at, entra_cb cb,
	      void *arg, struct entra_wait **w, char *why, size_t len);
void entra_cancel(struct entra_wait *w);
/* At exit, before loop_destroy(): a fetch under way gives up at once
 * instead of holding the worker (and so the exit) up to its timeout. */
void entra_stop(void);
/* Drop every cache: after loop_destroy(), at exit. */
void entra_flush(void);

#endif

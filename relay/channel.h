/* A websocket a listener answers the relay on: its control channel, or an
 * HTTP rendezvous it opened. Control messages come in text (checked by
 * hc_proto), response bodies in binary; each goes to the HTTP request it
 * names, through the exchange's ops. The listener and rendezvous roles each
 * hold one. */
#ifndef AZB_CHANNEL_H
#define AZB_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "util.h"

struct channel {
	struct conn *c;
	struct sbuf msg;                  /* the text message arriving */
	struct relay_exchange *body_to;   /* whose response body is arriving */
	struct relay_exchange *serving;   /* a rendezvous: the request it was opened for */
	/* A listener's renewToken; NULL: a rendezvous, which has none. */
	void (*on_renew)(struct channel *ch, const char *token);
};

void channel_init(struct channel *ch, struct conn *c,
		  void (*on_renew)(struct channel *ch, const char *token));
void channel_data(struct channel *ch, enum ws_op op, uint8_t *p, size_t n, bool last);
/* ch is gone: every exchange hears of it; then its memory is the owner's. */
void channel_gone(struct channel *ch);

/* A listener's control channel, which answers every request sent to that
 * listener; a rendezvous answers one client's. */
static inline bool channel_shared(const struct channel *ch)
{
	return ch->on_renew != NULL;
}

/* x is done with the body arriving on ch, if it was its. */
static inline void channel_body_done(struct channel *ch, const struct relay_exchange *x)
{
	if (ch && ch->body_to == x)
		ch->body_to = NULL;
}

#endif

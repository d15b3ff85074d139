#include "rendezvous.h"

#include <stdlib.h>

#include "channel.h"
#include "log.h"

static void on_data(struct conn *c, enum ws_op op, uint8_t *p, size_t n, bool last)
{
	channel_data(conn_state(c), op, p, n, last);
}

/* The request body streams here: once it drains, the client may send more. */
static void on_writeable(struct conn *c)
{
	struct channel *ch = conn_state(c);

	if (ch->serving)
		ch->serving->ops->writeable(ch->serving, ch);
}

static void on_gone(struct conn *c)
{
	struct channel *ch = conn_state(c);

	channel_gone(ch);
	free(ch);
}

static const struct conn_role rendezvous_role = {
	.name = "rendezvous", .ws_data = on_data, .writeable = on_writeable, .gone = on_gone,
};

void rendezvous_start(struct conn *c, const struct rroute *rt, uint8_t *rest, size_t n)
{
	struct relay_exchange *x = rt->id ? relay_exchange_find(conn_relay(c), rt->id) : NULL;
	struct channel *ch;

	(void)rest;
	(void)n;
	log_debug("HTTP rendezvous %s from %s", rt->id ? rt->id : "(no id)", conn_peer(c));
	if (!x || x->rdv || x->hc != rt->hc) {
		conn_respond(c, 403, "the rendezvous address is invalid or has expired");
		return;
	}
	conn_upgrade(c, NULL);
	ch = xcalloc(1, sizeof(*ch));
	channel_init(ch, c, NULL);
	ch->serving = x;
	conn_set_role(c, &rendezvous_role, ch);
	x->rdv = ch;
	x->ops->rendezvous(x);
}

#include "listener.h"

#include <stdlib.h>

#include "log.h"
#include "loop.h"
#include "sas.h"

/* A token's expiry is awaited in steps of at most this many seconds. */
#define TOKEN_STEP_S (24 * 3600)
/* A renewal that comes at or just after expiry is still taken. */
#define TOKEN_GRACE_S 5

struct listener {
	struct channel ch;
	struct relay_hc *hc;
	struct listener *next;       /* in hc->listeners */
	time_t token_expiry;
	lws_sorted_usec_list_t expiry_timer;
};

/* ---- picking one ------------------------------------------------------- */

/* A listener that is closing, or has stopped reading what it was sent,
 * would only sit on what it is given next; one that is merely busy (its
 * output waits a moment under load) is still given work. */
static bool pickable(const struct listener *l)
{
	return conn_open(l->ch.c) && !conn_stuck(l->ch.c);
}

/* None pickable: 404 when none is online (every one closing counts as
 * none), 503 when those online are all stuck. */
struct channel *listener_pick(struct relay_hc *hc, int *status)
{
	size_t n = 0, online = 0, k;
	uint32_t r = 0;

	for (struct listener *l = hc->listeners; l; l = l->next) {
		online += conn_open(l->ch.c);
		n += pickable(l);
	}
	if (!n) {
		*status = online ? 503 : 404;
		return NULL;
	}
	azb_random(&r, sizeof(r));
	k = r % n;
	for (struct listener *l = hc->listeners; l; l = l->next)
		if (pickable(l) && k-- == 0)
			return &l->ch;
	return NULL;
}

/* ---- the token --------------------------------------------------------- */

static void on_expiry(lws_sorted_usec_list_t *sul);

/* The timer fires at expiry plus the grace period: the .NET SDK renews at
 * expiry itself. Far expiries are reached in steps, so no product of
 * seconds and microseconds can overflow. */
static void arm_expiry(struct listener *l)
{
	time_t now = time(NULL), end = l->token_expiry;
	int64_t left = end > now ? (int64_t)(end - now) : 0;

	if (left > TOKEN_STEP_S)
		left = TOKEN_STEP_S;
	else
		left += TOKEN_GRACE_S;
	lws_sul_schedule(loop_context(), 0, &l->expiry_timer, on_expiry,
			 (lws_usec_t)left * LWS_US_PER_SEC + 1);
}

static void on_expiry(lws_sorted_usec_list_t *sul)
{
	struct listener *l = lws_container_of(sul, struct listener, expiry_timer);

	if (l->token_expiry - time(NULL) > 0) {
		arm_expiry(l);
		return;
	}
	log_info("listener for %s from %s: token expired", l->hc->path, conn_peer(l->ch.c));
	conn_send_close(l->ch.c, WS_CLOSE_POLICY, "token expired");
	conn_close(l->ch.c);
}

static void renew(struct channel *ch, const char *tok)
{
	struct listener *l = lws_container_of(ch, struct listener, ch);
	struct conn *c = ch->c;
	char why[256], *res = sas_resource(conn_host(c)->name, l->hc->path);
	time_t exp;
	int status = relay_authorize(conn_relay(c), l->hc, tok, RIGHT_LISTEN, res, &exp, why,
				     sizeof(why));

	free(res);
	if (status) {
		log_info("listener for %s: renewToken refused: %s", l->hc->path, why);
		conn_send_close(c, WS_CLOSE_POLICY, why);
		conn_close(c);
		return;
	}
	l->token_expiry = exp;
	arm_expiry(l);
}

/* ---- the role ---------------------------------------------------------- */

static void on_data(struct conn *c, enum ws_op op, uint8_t *p, size_t n, bool last)
{
	struct listener *l = conn_state(c);

	channel_data(&l->ch, op, p, n, last);
}

static void leave_hc(struct listener *l)
{
	struct listener **pp = &l->hc->listeners;

	while (*pp && *pp != l)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = l->next;
		l->hc->n_listeners--;
		log_info("listener for %s gone", l->hc->path);
	}
	lws_sul_cancel(&l->expiry_timer);
}

static void on_gone(struct conn *c)
{
	struct listener *l = conn_state(c);

	channel_gone(&l->ch);
	leave_hc(l);
	free(l);
}

static const struct conn_role listener_role = {
	.name = "listener", .ws_data = on_data, .gone = on_gone,
};

/* With --dev a hybrid connection appears on its first listener, but only
 * once that listener has shown a token: nobody else can fill the registry. */
void listener_start(struct conn *c, const struct rroute *rt, uint8_t *rest, size_t n)
{
	struct relay_hc probe = { .path = rt->path, .requires_client_auth = true };
	struct relay *r = conn_relay(c);
	struct relay_hc *hc = rt->hc;
	struct listener *l;
	time_t expiry = 0;

	(void)rest;
	(void)n;
	if (conn_check_token(c, hc ? hc : &probe, RIGHT_LISTEN, &expiry))
		return;
	if (!hc)
		hc = relay_hc_add(r, rt->path, true);
	if (r->max_listeners && hc->n_listeners >= r->max_listeners) {
		conn_respond(c, 403, "this hybrid connection has its maximum of listeners");
		return;
	}
	conn_upgrade(c, NULL);
	l = xcalloc(1, sizeof(*l));
	channel_init(&l->ch, c, renew);
	l->hc = hc;
	l->token_expiry = expiry;
	l->next = hc->listeners;
	hc->listeners = l;
	hc->n_listeners++;
	conn_set_role(c, &listener_role, l);
	arm_expiry(l);
	log_info("listener for %s from %s", hc->path, conn_peer(c));
}

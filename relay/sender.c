#include "sender.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "channel.h"
#include "hc_proto.h"
#include "listener.h"
#include "log.h"
#include "loop.h"
#include "splice.h"

struct sender {
	struct conn *c;
	char id[160];                /* the rendezvous key */
	struct relay_hc *hc;
	lws_sorted_usec_list_t timer;
	struct sender *next;
};

static struct sender *senders;   /* waiting for their listener */
static size_t n_senders;

/* The sender is no longer waiting: answered, timed out or gone. */
static void drop(struct sender *s)
{
	struct sender **pp = &senders;

	while (*pp && *pp != s)
		pp = &(*pp)->next;
	if (*pp)
		*pp = s->next;
	n_senders--;
	s->hc->n_pending--;
	lws_sul_cancel(&s->timer);
	conn_set_role(s->c, NULL, NULL);
	free(s);
}

static void on_gone(struct conn *c)
{
	drop(conn_state(c));
}

static const struct conn_role sender_role = { .name = "sender", .gone = on_gone };

static void on_timeout(lws_sorted_usec_list_t *sul)
{
	struct sender *s = lws_container_of(sul, struct sender, timer);
	struct conn *c = s->c;

	drop(s);
	conn_respond(c, 504, "the listener did not accept in time");
}

static struct sender *find(const char *id)
{
	for (struct sender *s = senders; s; s = s->next)
		if (strcmp(s->id, id) == 0)
			return s;
	return NULL;
}

/* ---- the offer --------------------------------------------------------- */

/* The token is for the relay, never for the listener; and the relay offers
 * no websocket extensions, so none is passed on for the listener to
 * accept. Returns how many of h's headers go into out. */
static size_t connect_headers(const struct sender *s, struct http1_header *out)
{
	const struct http1_head *h = conn_head(s->c);
	bool auth = s->hc->requires_client_auth && conn_token_in_authorization(s->c);
	size_t n = 0;

	for (size_t i = 0; i < h->n_headers; i++)
		if (strcasecmp(h->h[i].name, "ServiceBusAuthorization") != 0 &&
		    strcasecmp(h->h[i].name, "Sec-WebSocket-Extensions") != 0 &&
		    !(auth && strcasecmp(h->h[i].name, "Authorization") == 0))
			out[n++] = h->h[i];
	return n;
}

static char *accept_message(const struct sender *s, const struct conn *listener)
{
	struct http1_header hdrs[HTTP1_MAX_HEADERS];
	struct hcp_accept a = { .id = s->id, .headers = hdrs };
	char peer[64], *text;

	a.address = conn_rendezvous_address(listener, s->hc->path, "accept", s->id);
	a.n_headers = connect_headers(s, hdrs);
	conn_remote_endpoint(s->c, peer, sizeof(peer), &a.peer.port);
	a.peer.address = peer;
	text = hcp_accept_text(&a);
	free((char *)a.address);
	if (!text)
		log_error("an accept message could not be written as JSON");
	return text;
}

/* The rendezvous key must be one nobody can guess, or another client
 * could take a sender's connection by accepting it first: a sender's own
 * tracking id gets a random suffix (as Azure adds its gateway's). */
static void make_id(struct sender *s, const char *tracking)
{
	char rnd[37];

	azb_uuid(rnd);
	if (tracking)
		snprintf(s->id, sizeof(s->id), "%s_%.12s", tracking, rnd + 24);
	else
		snprintf(s->id, sizeof(s->id), "%s", rnd);
}

static int room(const struct relay *r, const struct relay_hc *hc)
{
	if ((r->max_pending && n_senders >= r->max_pending) ||
	    (r->max_pending_per_hc && hc->n_pending >= r->max_pending_per_hc))
		return -EBUSY;
	return 0;
}

static struct sender *wait_for_listener(struct conn *c, struct relay_hc *hc, const char *tracking)
{
	struct sender *s = xcalloc(1, sizeof(*s));

	s->c = c;
	s->hc = hc;
	make_id(s, tracking);
	s->next = senders;
	senders = s;
	n_senders++;
	hc->n_pending++;
	conn_set_role(c, &sender_role, s);
	conn_pause_rx(c, true);
	lws_sul_schedule(loop_context(), 0, &s->timer, on_timeout,
			 (lws_usec_t)conn_relay(c)->accept_timeout_s * LWS_US_PER_SEC);
	return s;
}

static void offer(struct conn *c, struct relay_hc *hc, const char *tracking)
{
	int status = 0;
	struct channel *l = listener_pick(hc, &status);
	struct sender *s;
	char *msg;

	if (!l) {
		conn_respond(c, status, status == 404 ? "no listener is online for this hybrid "
			     "connection" : "every listener of this hybrid connection is busy");
		return;
	}
	if (room(conn_relay(c), hc) < 0) {
		conn_respond(c, 503, "too many connections waiting");
		return;
	}
	s = wait_for_listener(c, hc, tracking);
	msg = accept_message(s, l->c);
	if (!msg) {
		drop(s);
		conn_respond(c, 500, "the connection could not be offered");
		return;
	}
	conn_send_text(l->c, msg);
	free(msg);
}

void sender_start(struct conn *c, const struct rroute *rt, uint8_t *rest, size_t n)
{
	(void)rest;
	(void)n;
	if (!rt->hc->requires_client_auth || !conn_check_token(c, rt->hc, RIGHT_SEND, NULL))
		offer(c, rt->hc, rt->id);
}

/* ---- the answer -------------------------------------------------------- */

/* Subprotocol names are case-sensitive tokens (RFC 6455 4.1). */
static bool protocol_offered(const struct http1_head *sender, const char *proto)
{
	size_t n = strlen(proto);

	for (size_t i = 0; i < sender->n_headers; i++) {
		const char *v = sender->h[i].value;

		if (strcasecmp(sender->h[i].name, "Sec-WebSocket-Protocol") != 0)
			continue;
		while (*v) {
			size_t len;

			v += strspn(v, " \t,");
			len = strcspn(v, " \t,");
			if (len == n && strncmp(v, proto, n) == 0)
				return true;
			v += len;
		}
	}
	return false;
}

static void reject(struct conn *c, struct sender *s, const struct rroute *rt)
{
	struct conn *sc = s->c;

	drop(s);
	if (rt->reject_status < 0) {
		conn_respond(sc, 502, "the listener's rejection was malformed");
		conn_respond(c, 400, "a rejection needs a status from 400 to 599 and a one-line "
			     "description");
		return;
	}
	conn_respond_as(sc, rt->reject_status, rt->reject_reason ? rt->reject_reason :
			conn_reason(rt->reject_status), rt->reject_reason ? rt->reject_reason :
			"rejected by the listener");
	conn_respond(c, 410, "rejection recorded");
}

void sender_accept(struct conn *c, const struct rroute *rt, uint8_t *rest, size_t n)
{
	struct sender *s = rt->id ? find(rt->id) : NULL;
	const char *proto = http1_get(conn_head(c), "Sec-WebSocket-Protocol");
	struct conn *sc = s ? s->c : NULL;

	(void)rest;
	(void)n;
	if (!s || s->hc != rt->hc) {
		conn_respond(c, 403, "the rendezvous address is invalid or has expired");
	} else if (rt->reject_status) {
		reject(c, s, rt);
	} else if (proto && !protocol_offered(conn_head(sc), proto)) {
		drop(s);
		conn_respond(sc, 502, "the listener chose a subprotocol this client did not offer");
		conn_respond(c, 400, "the sender did not offer that subprotocol");
	} else {
		drop(s);
		/* The sender speaks first (its preamble): its 101 goes out first. */
		conn_upgrade(sc, proto);
		conn_upgrade(c, proto);
		splice_join(sc, c);
	}
}

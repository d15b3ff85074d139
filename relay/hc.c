/* Hybrid connections: listeners' control channels, senders waiting for a
 * rendezvous, and the splice of two websockets frame by frame. Close frames
 * are forwarded like data, so each direction ends on its own (half-close). */
#include "rconn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hc_proto.h"
#include "log.h"
#include "loop.h"
#include "sas.h"
#include "url.h"

/* A token's expiry is awaited in steps of at most this many seconds. */
#define TOKEN_STEP_S (24 * 3600)
/* A renewal that comes at or just after expiry is still taken. */
#define TOKEN_GRACE_S 5

struct pending {
	char id[160];
	struct rconn *sender;
	struct relay_hc *hc;
	lws_sorted_usec_list_t timer;
	struct pending *next;
};

static struct pending *pendings;
static size_t n_pending;

/* ---- frames out -------------------------------------------------------- */

/* Past the output limit a connection that reads nothing is told why and
 * closed: its queue stays bounded whatever it is sent. */
static bool over_limit(struct rconn *to, size_t n)
{
	if (stream_queued(to->st) + n <= to->relay->max_output_queue)
		return false;
	log_info("connection from %s reads too slowly: %zu bytes queued; closing it",
		 stream_peer(to->st), stream_queued(to->st));
	rc_send_close(to, WS_CLOSE_POLICY, "the connection does not read what it is sent");
	rc_close(to);
	return true;
}

/* The headroom is the scratch buffer's, or the incoming frame's own header,
 * which is at least as large: data is forwarded without a copy. */
void rc_send_frame_at(struct rconn *to, enum ws_op op, bool fin, uint8_t *p, size_t n)
{
	uint8_t hdr[WS_HDR_MAX];
	size_t h = ws_header(hdr, op, fin, n, NULL);

	if (!to->st || (op != WS_OP_CLOSE && over_limit(to, h + n)))
		return;
	memcpy(p - h, hdr, h);
	stream_write(to->st, p - h, h + n);
}

static void send_frame(struct rconn *to, enum ws_op op, const void *data, size_t n)
{
	uint8_t buf[WS_HDR_MAX + WS_CTRL_MAX + 2048];

	if (!to->st || n > sizeof(buf) - WS_HDR_MAX)
		return;
	memcpy(buf + WS_HDR_MAX, data, n);
	rc_send_frame_at(to, op, true, buf + WS_HDR_MAX, n);
}

void rc_send_text(struct rconn *to, const char *text)
{
	size_t n = strlen(text);
	uint8_t *buf = xmalloc(WS_HDR_MAX + n);

	memcpy(buf + WS_HDR_MAX, text, n);
	rc_send_frame_at(to, WS_OP_TEXT, true, buf + WS_HDR_MAX, n);
	free(buf);
}

void rc_send_close(struct rconn *to, uint16_t code, const char *reason)
{
	uint8_t pl[WS_CTRL_MAX];

	send_frame(to, WS_OP_CLOSE, pl, ws_close_payload(pl, code, reason));
}

void rc_authority(const struct rconn *rc, char *out, size_t len)
{
	if (rc->host.port)
		snprintf(out, len, "%s:%u", rc->host.name, rc->host.port);
	else
		snprintf(out, len, "%s", rc->host.name);
}

char *rc_rendezvous_address(const struct rconn *chan, const char *path, const char *action,
			    const char *id)
{
	char auth[300], *enc = url_encode_path(path), *a;

	rc_authority(chan, auth, sizeof(auth));
	a = xasprintf("wss://%s/$hc/%s?sb-hc-action=%s&sb-hc-id=%s", auth, enc, action, id);
	free(enc);
	return a;
}

/* ---- pending senders --------------------------------------------------- */

static void pending_drop(struct pending *p)
{
	struct pending **pp = &pendings;

	while (*pp && *pp != p)
		pp = &(*pp)->next;
	if (*pp)
		*pp = p->next;
	n_pending--;
	p->hc->n_pending--;
	lws_sul_cancel(&p->timer);
	if (p->sender)
		p->sender->pend = NULL;
	free(p);
}

static void on_pending_timeout(lws_sorted_usec_list_t *sul)
{
	struct pending *p = lws_container_of(sul, struct pending, timer);
	struct rconn *s = p->sender;

	pending_drop(p);
	if (s)
		rc_respond(s, 504, "the listener did not accept in time");
}

static struct pending *pending_find(const char *id)
{
	for (struct pending *p = pendings; p; p = p->next)
		if (strcmp(p->id, id) == 0)
			return p;
	return NULL;
}

/* A listener that is closing, or has not read what it was sent, would only
 * sit on what it is given next. */
static bool pickable(const struct rconn *l)
{
	return l->state == RC_LISTENER && l->st && !stream_choked(l->st);
}

struct rconn *hc_pick_listener(struct relay_hc *hc, int *status)
{
	size_t n = 0, k;
	uint32_t r = 0;

	for (struct rconn *l = hc->listeners; l; l = l->lnext)
		n += pickable(l);
	if (!n) {
		*status = hc->n_listeners ? 503 : 404;
		return NULL;
	}
	azb_random(&r, sizeof(r));
	k = r % n;
	for (struct rconn *l = hc->listeners; l; l = l->lnext)
		if (pickable(l) && k-- == 0)
			return l;
	return NULL;
}

/* The token is for the relay, never for the listener; and the relay
 * offers no websocket extensions, so none is passed on for the listener to
 * accept. Returns how many of h's headers go into out. */
static size_t connect_headers(const struct http1_head *h, struct http1_header *out)
{
	size_t n = 0;

	for (size_t i = 0; i < h->n_headers; i++)
		if (strcasecmp(h->h[i].name, "ServiceBusAuthorization") != 0 &&
		    strcasecmp(h->h[i].name, "Sec-WebSocket-Extensions") != 0)
			out[n++] = h->h[i];
	return n;
}

/* "1.2.3.4:5" / "[::1]:5" -> address and port. */
void rc_remote_endpoint(const struct rconn *rc, char *addr, size_t len, int *port)
{
	const char *peer = stream_peer(rc->st);
	const char *colon = strrchr(peer, ':');
	size_t n = colon ? (size_t)(colon - peer) : strlen(peer);

	if (peer[0] == '[' && n >= 2) {
		peer++;
		n -= 2;
	}
	snprintf(addr, len, "%.*s", (int)n, peer);
	*port = colon ? atoi(colon + 1) : 0;
}

static char *accept_message(struct rconn *sender, struct rconn *listener, struct pending *p)
{
	struct http1_header hdrs[HTTP1_MAX_HEADERS];
	struct hcp_accept a = { .id = p->id, .headers = hdrs };
	char peer[64], *text;

	a.address = rc_rendezvous_address(listener, p->hc->path, "accept", p->id);
	a.n_headers = connect_headers(&sender->head, hdrs);
	rc_remote_endpoint(sender, peer, sizeof(peer), &a.peer.port);
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
static void pending_id(struct pending *p, const char *tracking)
{
	char rnd[37];

	azb_uuid(rnd);
	if (tracking)
		snprintf(p->id, sizeof(p->id), "%s_%.12s", tracking, rnd + 24);
	else
		snprintf(p->id, sizeof(p->id), "%s", rnd);
}

static int pending_room(const struct relay *r, const struct relay_hc *hc)
{
	if ((r->max_pending && n_pending >= r->max_pending) ||
	    (r->max_pending_per_hc && hc->n_pending >= r->max_pending_per_hc))
		return -EBUSY;
	return 0;
}

static void offer(struct rconn *sender, struct relay_hc *hc, const char *tracking)
{
	int status = 0;
	struct rconn *l = hc_pick_listener(hc, &status);
	struct pending *p;
	char *msg;

	if (!l) {
		rc_respond(sender, status, status == 404 ? "no listener is online for this hybrid "
			   "connection" : "every listener of this hybrid connection is busy");
		return;
	}
	if (pending_room(sender->relay, hc) < 0) {
		rc_respond(sender, 503, "too many connections waiting");
		return;
	}
	p = xcalloc(1, sizeof(*p));
	pending_id(p, tracking);
	p->sender = sender;
	p->hc = hc;
	p->next = pendings;
	pendings = p;
	n_pending++;
	hc->n_pending++;
	sender->pend = p;
	sender->state = RC_WAITING;
	stream_pause_rx(sender->st, true);
	lws_sul_schedule(loop_context(), 0, &p->timer, on_pending_timeout,
			 (lws_usec_t)sender->relay->accept_timeout_s * LWS_US_PER_SEC);
	msg = accept_message(sender, l, p);
	if (!msg) {
		pending_drop(p);
		rc_respond(sender, 500, "the connection could not be offered");
		return;
	}
	rc_send_text(l, msg);
	free(msg);
}

/* ---- routing ----------------------------------------------------------- */

static char *token_of(struct rconn *rc)
{
	const char *h = http1_get(&rc->head, "ServiceBusAuthorization");

	return h ? xstrdup(h) : rc_query(rc, "sb-hc-token");
}

/* The entity's resource from the validated host name (a configured one,
 * or the Host without its port), never from the raw header. */
static int authorize(struct rconn *rc, struct relay_hc *hc, const char *tok, unsigned need,
		     time_t *expiry)
{
	char why[256], *res = sas_resource(rc->host.name, hc->path);
	int status = relay_authorize(rc->relay, hc, tok, need, res, expiry, why, sizeof(why));

	free(res);
	if (status) {
		log_info("%s from %s refused (%d): %s", rc->head.target[1] == '$' ? "websocket" :
			 "request", stream_peer(rc->st), status, why);
		rc_respond(rc, status, why);
	}
	return status;
}

int rc_authorize(struct rconn *rc, struct relay_hc *hc, const char *token, unsigned need)
{
	return authorize(rc, hc, token, need, NULL);
}

static int check(struct rconn *rc, struct relay_hc *hc, unsigned need, time_t *expiry)
{
	char *tok = token_of(rc);
	int status = authorize(rc, hc, tok, need, expiry);

	azb_free_secret(tok);
	return status;
}

static void on_expiry(lws_sorted_usec_list_t *sul);

/* The timer fires at expiry plus the grace period: the .NET SDK renews at
 * expiry itself. Far expiries are reached in steps, so no product of
 * seconds and microseconds can overflow. */
static void arm_expiry(struct rconn *rc)
{
	time_t now = time(NULL), end = rc->token_expiry;
	int64_t left = end > now ? (int64_t)(end - now) : 0;

	if (left > TOKEN_STEP_S)
		left = TOKEN_STEP_S;
	else
		left += TOKEN_GRACE_S;
	lws_sul_schedule(loop_context(), 0, &rc->expiry_timer, on_expiry,
			 (lws_usec_t)left * LWS_US_PER_SEC + 1);
}

static void on_expiry(lws_sorted_usec_list_t *sul)
{
	struct rconn *rc = lws_container_of(sul, struct rconn, expiry_timer);

	if (rc->token_expiry - time(NULL) > 0) {
		arm_expiry(rc);
		return;
	}
	log_info("listener for %s from %s: token expired", rc->hc->path, stream_peer(rc->st));
	rc_send_close(rc, WS_CLOSE_POLICY, "token expired");
	rc_close(rc);
}

/* With --dev a hybrid connection appears on its first listener, but only
 * once that listener has shown a token: nobody else can fill the registry. */
static void do_listen(struct rconn *rc, const struct rroute *rt)
{
	struct relay_hc probe = { .path = rt->path, .requires_client_auth = true };
	struct relay_hc *hc = rt->hc;

	if (check(rc, hc ? hc : &probe, RIGHT_LISTEN, &rc->token_expiry))
		return;
	if (!hc)
		hc = relay_hc_add(rc->relay, rt->path, true);
	if (rc->relay->max_listeners && hc->n_listeners >= rc->relay->max_listeners) {
		rc_respond(rc, 403, "this hybrid connection has its maximum of listeners");
		return;
	}
	rc_upgrade(rc, rc->key, NULL);
	rc->state = RC_LISTENER;
	rc->hc = hc;
	rc->lnext = hc->listeners;
	hc->listeners = rc;
	hc->n_listeners++;
	arm_expiry(rc);
	log_info("listener for %s from %s", hc->path, stream_peer(rc->st));
}

static void do_connect(struct rconn *rc, const struct rroute *rt)
{
	if (rt->hc->requires_client_auth && check(rc, rt->hc, RIGHT_SEND, NULL))
		return;
	offer(rc, rt->hc, rt->id);
}

static void splice(struct rconn *a, struct rconn *b)
{
	a->peer = b;
	b->peer = a;
	a->state = b->state = RC_SPLICED;
	stream_pause_rx(a->st, false);
}

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

static void reject(struct rconn *rc, struct pending *p, const struct rroute *rt)
{
	struct rconn *sender = p->sender;

	pending_drop(p);
	if (rt->reject_status < 0) {
		rc_respond(sender, 502, "the listener's rejection was malformed");
		rc_respond(rc, 400, "a rejection needs a status from 400 to 599 and a one-line "
			   "description");
		return;
	}
	rc_respond_as(sender, rt->reject_status, rt->reject_reason ? rt->reject_reason :
		      rc_reason(rt->reject_status), rt->reject_reason ? rt->reject_reason :
		      "rejected by the listener");
	rc_respond(rc, 410, "rejection recorded");
}

static void do_accept(struct rconn *rc, const struct rroute *rt)
{
	struct pending *p = rt->id ? pending_find(rt->id) : NULL;
	const char *proto = http1_get(&rc->head, "Sec-WebSocket-Protocol");
	struct rconn *sender = p ? p->sender : NULL;

	if (!sender || p->hc != rt->hc) {
		rc_respond(rc, 403, "the rendezvous address is invalid or has expired");
	} else if (rt->reject_status) {
		reject(rc, p, rt);
	} else if (proto && !protocol_offered(&sender->head, proto)) {
		pending_drop(p);
		rc_respond(sender, 502, "the listener chose a subprotocol this client did not offer");
		rc_respond(rc, 400, "the sender did not offer that subprotocol");
	} else {
		pending_drop(p);
		rc_upgrade(rc, rc->key, proto);
		rc_upgrade(sender, sender->key, proto);
		splice(sender, rc);
	}
}

void rc_route(struct rconn *rc, uint8_t *rest, size_t n)
{
	const char *why = NULL;
	struct rroute rt;
	int status = rroute_decide(rc->relay, &rc->head, rc->http != NULL, &rt, &why);

	if (status) {
		log_debug("request from %s refused (%d): %s", stream_peer(rc->st), status, why);
		rc_respond(rc, status, why);
		rroute_clear(&rt);
		return;
	}
	rc->host = rt.host;
	azb_set_str(&rc->key, rt.ws_key);
	switch (rt.kind) {
	case RR_LISTEN: do_listen(rc, &rt); break;
	case RR_CONNECT: do_connect(rc, &rt); break;
	case RR_ACCEPT: do_accept(rc, &rt); break;
	case RR_REQUEST: http_rendezvous(rc, &rt); break;
	case RR_HTTP: http_request(rc, &rt, rest, n); break;
	}
	rroute_clear(&rt);
}

/* ---- the control channel ----------------------------------------------- */

static void renew(struct rconn *rc, const char *tok)
{
	char why[256], *res = sas_resource(rc->host.name, rc->hc->path);
	time_t exp;
	int status = relay_authorize(rc->relay, rc->hc, tok, RIGHT_LISTEN, res, &exp, why, sizeof(why));

	free(res);
	if (status) {
		log_info("listener for %s: renewToken refused: %s", rc->hc->path, why);
		rc_send_close(rc, WS_CLOSE_POLICY, why);
		rc_close(rc);
		return;
	}
	rc->token_expiry = exp;
	arm_expiry(rc);
}

static void control_message(struct rconn *rc)
{
	struct hcp_msg m;
	char why[300];

	/* What a listener garbles fails at most the request it names: its
	 * channel, and everything else it carries, goes on. */
	if (hcp_parse_from_listener(rc->msg.s, rc->msg.len, &m, why, sizeof(why)) < 0) {
		log_info("listener channel from %s: message dropped: %s", stream_peer(rc->st), why);
		if (m.id)
			http_on_bad_response(rc, m.id, why);
	} else if (m.kind == HCP_RENEW && rc->state == RC_LISTENER) {
		renew(rc, m.token);
	} else if (m.kind == HCP_RESPONSE) {
		http_on_response(rc, &m);
	}
	hcp_clear(&m);
	rc->msg.len = 0;
	rc->msg.s[0] = '\0';
}

/* A channel from a listener: JSON in text messages, response bodies in
 * binary ones. */
static int channel_data(struct rconn *rc, enum ws_op op, uint8_t *p, size_t n, bool last)
{
	if (op == WS_OP_BINARY) {
		http_on_body(rc, p, n, last);
		return 0;
	}
	if (rc->msg.len + n > rc->relay->max_control_msg) {
		rc_send_close(rc, WS_CLOSE_TOO_BIG, "control message too large");
		rc_close(rc);
		return 0;
	}
	sbuf_addn(&rc->msg, (const char *)p, n);
	if (last)
		control_message(rc);
	return 0;
}

/* ---- websocket traffic ------------------------------------------------- */

static int ev_data(void *arg, enum ws_op op, uint8_t *p, size_t n, bool last)
{
	struct rconn *rc = arg;
	struct rconn *peer = rc->peer;

	if (rc->state == RC_LISTENER || rc->state == RC_RDV)
		return channel_data(rc, op, p, n, last);
	if (!peer || rc->close_rcvd)
		return 0;
	rc_send_frame_at(peer, rc->mid_message ? WS_OP_CONT : op, last, p, n);
	rc->mid_message = !last;
	if (stream_choked(peer->st) && !rc->paused_for_peer) {
		/* A slow reader holds this side back: bounded memory. */
		rc->paused_for_peer = true;
		stream_pause_rx(rc->st, true);
		stream_want_write(peer->st);
	}
	return 0;
}

/* A peer that pings and reads nothing gets one pong when it reads again
 * (RFC 6455 5.5.3 allows answering only the latest ping), not a queue. */
static void answer_ping(struct rconn *rc, const uint8_t *p, size_t n)
{
	if (rc->st && stream_choked(rc->st)) {
		memcpy(rc->pong, p, n);
		rc->pong_len = (uint8_t)n;
		rc->pong_due = true;
		stream_want_write(rc->st);
		return;
	}
	send_frame(rc, WS_OP_PONG, p, n);
}

static int ev_control(void *arg, enum ws_op op, uint8_t *p, size_t n)
{
	struct rconn *rc = arg;

	switch (op) {
	case WS_OP_PING:
		answer_ping(rc, p, n);
		return 0;
	case WS_OP_CLOSE:
		if (n == 1) {
			/* A close payload is a 2-byte code or nothing (RFC 6455 5.5.1). */
			rc_send_close(rc, WS_CLOSE_PROTOCOL, "malformed close frame");
			if (rc->peer)
				rc_send_close(rc->peer, WS_CLOSE_GOING_AWAY, "the other side went away");
			rc->close_rcvd = true;
			rc_close(rc);
			return 0;
		}
		if (rc->state != RC_SPLICED || !rc->peer) {
			if (!rc->close_rcvd)
				send_frame(rc, WS_OP_CLOSE, p, n);
			rc->close_rcvd = true;
			rc_close(rc);
			return 0;
		}
		rc->close_rcvd = true;
		send_frame(rc->peer, WS_OP_CLOSE, p, n);
		rc->peer->close_fwd = true;
		/* Both directions ended: the pair is done. */
		if (rc->peer->close_rcvd) {
			rc_close(rc->peer);
			rc_close(rc);
		}
		return 0;
	default:
		return 0;
	}
}

static const struct ws_events rc_events = { ev_data, ev_control };

int rc_ws_rx(struct rconn *rc, uint8_t *p, size_t n)
{
	int r = ws_parse(&rc->parser, p, n, &rc_events, rc);

	if (r == -EPROTO) {
		rc_send_close(rc, WS_CLOSE_PROTOCOL, "websocket protocol error");
		if (rc->peer)
			rc_send_close(rc->peer, WS_CLOSE_GOING_AWAY, "the other side went away");
		rc_close(rc);
	}
	return 0;
}

void rc_writeable(struct rconn *rc)
{
	struct rconn *peer = rc->peer;

	if (rc->pong_due && !stream_choked(rc->st)) {
		rc->pong_due = false;
		send_frame(rc, WS_OP_PONG, rc->pong, rc->pong_len);
	}
	http_writeable(rc);
	if (peer && peer->paused_for_peer && !stream_choked(rc->st)) {
		peer->paused_for_peer = false;
		stream_pause_rx(peer->st, false);
	}
}

/* ---- leaving ----------------------------------------------------------- */

static void leave_hc(struct rconn *rc)
{
	struct rconn **pp = &rc->hc->listeners;

	while (*pp && *pp != rc)
		pp = &(*pp)->lnext;
	if (*pp) {
		*pp = rc->lnext;
		rc->hc->n_listeners--;
		log_info("listener for %s gone", rc->hc->path);
	}
	lws_sul_cancel(&rc->expiry_timer);
}

void rc_forget(struct rconn *rc)
{
	http_forget(rc);
	if (rc->hc)
		leave_hc(rc);
	if (rc->pend)
		pending_drop(rc->pend);
	if (rc->peer) {
		struct rconn *peer = rc->peer;

		peer->peer = NULL;
		/* Gone without its close frame: tell the other side, then end. */
		if (!rc->close_rcvd && !peer->close_fwd)
			rc_send_close(peer, WS_CLOSE_GOING_AWAY, "the other side went away");
		if (peer->paused_for_peer)
			stream_pause_rx(peer->st, false);
		rc_close(peer);
	}
}

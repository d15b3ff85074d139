/* Hybrid connections: listeners' control channels, senders waiting for a
 * rendezvous, and the splice of two websockets frame by frame. Close frames
 * are forwarded like data, so each direction ends on its own (half-close). */
#include "rconn.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "ctlmsg.h"
#include "log.h"
#include "loop.h"
#include "sas.h"
#include "url.h"

struct pending {
	char id[64];
	struct rconn *sender;
	struct relay_hc *hc;
	lws_sorted_usec_list_t timer;
	struct pending *next;
};

static struct pending *pendings;
static size_t n_pending;

/* ---- registry ---------------------------------------------------------- */

/* The longest registered name that is a path prefix of path. */
struct relay_hc *relay_hc_find(struct relay *r, const char *path, size_t *matched)
{
	struct relay_hc *best = NULL;
	size_t best_len = 0;

	for (struct relay_hc *h = r->hcs; h; h = h->next) {
		size_t n = strlen(h->path);

		if (n > best_len && strncmp(path, h->path, n) == 0 &&
		    (path[n] == '\0' || path[n] == '/')) {
			best = h;
			best_len = n;
		}
	}
	if (matched)
		*matched = best_len;
	return best;
}

struct relay_hc *relay_hc_add(struct relay *r, const char *path, bool client_auth)
{
	struct relay_hc *h = xcalloc(1, sizeof(*h));

	h->path = xstrdup(path);
	h->requires_client_auth = client_auth;
	h->next = r->hcs;
	r->hcs = h;
	return h;
}

static void free_rules(struct relay_rule *rules, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(rules[i].name);
		azb_free_secret(rules[i].key);
	}
	free(rules);
}

size_t relay_hc_count(const struct relay *r)
{
	size_t n = 0;

	for (const struct relay_hc *h = r->hcs; h; h = h->next)
		n++;
	return n;
}

void relay_free(struct relay *r)
{
	while (r->hcs) {
		struct relay_hc *h = r->hcs;

		r->hcs = h->next;
		free_rules(h->rules, h->n_rules);
		free(h->path);
		free(h);
	}
	free_rules(r->rules, r->n_rules);
	for (size_t i = 0; i < r->n_listen; i++)
		free(r->listen[i].host);
	free(r->listen);
	for (size_t i = 0; i < r->n_hosts; i++)
		free(r->hosts[i]);
	free(r->hosts);
}

/* ---- frames out -------------------------------------------------------- */

/* The headroom is the scratch buffer's, or the incoming frame's own header,
 * which is at least as large: data is forwarded without a copy. */
void rc_send_frame_at(struct rconn *to, enum ws_op op, bool fin, uint8_t *p, size_t n)
{
	uint8_t hdr[WS_HDR_MAX];
	size_t h = ws_header(hdr, op, fin, n, NULL);

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

/* ---- pending senders --------------------------------------------------- */

static void pending_drop(struct pending *p)
{
	struct pending **pp = &pendings;

	while (*pp && *pp != p)
		pp = &(*pp)->next;
	if (*pp)
		*pp = p->next;
	n_pending--;
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
		rc_respond(s, 504, "Gateway Timeout", "the listener did not accept in time");
}

static struct pending *pending_find(const char *id)
{
	for (struct pending *p = pendings; p; p = p->next)
		if (strcmp(p->id, id) == 0)
			return p;
	return NULL;
}

struct rconn *hc_pick_listener(struct relay_hc *hc)
{
	uint32_t r = 0;
	size_t i;
	struct rconn *l = hc->listeners;

	if (!hc->n_listeners)
		return NULL;
	getrandom(&r, sizeof(r), 0);
	for (i = r % hc->n_listeners; i && l; i--)
		l = l->lnext;
	return l;
}

static json_t *header_object(const struct http1_head *h)
{
	json_t *o = json_object();

	for (size_t i = 0; i < h->n_headers; i++) {
		/* The token is for the relay, never for the listener; and the
		 * relay offers no websocket extensions, so none is passed on
		 * for the listener to accept. */
		if (strcasecmp(h->h[i].name, "ServiceBusAuthorization") == 0 ||
		    strcasecmp(h->h[i].name, "Sec-WebSocket-Extensions") == 0)
			continue;
		json_object_set_new(o, h->h[i].name, json_string(h->h[i].value));
	}
	return o;
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
	char *address = xasprintf("wss://%s/$hc/%s?sb-hc-action=accept&sb-hc-id=%s",
				  listener->host ? listener->host : "localhost", p->hc->path, p->id);
	char peer[64], *text;
	int port;
	json_t *j;

	rc_remote_endpoint(sender, peer, sizeof(peer), &port);
	j = json_pack("{s:{s:s,s:s,s:o,s:{s:s,s:i}}}", "accept", "address", address, "id", p->id,
		      "connectHeaders", header_object(&sender->head), "remoteEndpoint", "address",
		      peer, "port", port);
	text = json_dumps(j, JSON_COMPACT);

	json_decref(j);
	free(address);
	return text;
}

static void offer(struct rconn *sender, struct relay_hc *hc)
{
	struct rconn *l = hc_pick_listener(hc);
	struct pending *p;
	char *id = rc_query(sender, "sb-hc-id"), *msg;

	if (sender->relay->max_pending && n_pending >= sender->relay->max_pending) {
		free(id);
		rc_respond(sender, 503, "Service Unavailable", "too many connections waiting");
		return;
	}
	p = xcalloc(1, sizeof(*p));
	if (id && *id && strlen(id) < sizeof(p->id) && !pending_find(id))
		snprintf(p->id, sizeof(p->id), "%s", id);
	else
		azb_uuid(p->id);
	free(id);
	p->sender = sender;
	p->hc = hc;
	p->next = pendings;
	pendings = p;
	n_pending++;
	sender->pend = p;
	sender->state = RC_WAITING;
	stream_pause_rx(sender->st, true);
	lws_sul_schedule(loop_context(), 0, &p->timer, on_pending_timeout,
			 (lws_usec_t)sender->relay->accept_timeout_s * LWS_US_PER_SEC);
	msg = accept_message(sender, l, p);
	rc_send_text(l, msg);
	free(msg);
}

/* ---- routing ----------------------------------------------------------- */

static char *token_of(struct rconn *rc)
{
	const char *h = http1_get(&rc->head, "ServiceBusAuthorization");

	return h ? xstrdup(h) : rc_query(rc, "sb-hc-token");
}

static int authorize(struct rconn *rc, struct relay_hc *hc, const char *tok, unsigned need,
		     time_t *expiry)
{
	char why[256], *res = sas_resource(rc->host ? rc->host : "localhost", hc->path);
	int status = relay_authorize(rc->relay, hc, tok, need, res, expiry, why, sizeof(why));

	free(res);
	if (status) {
		log_info("%s from %s refused (%d): %s", rc->head.target[1] == '$' ? "websocket" :
			 "request", stream_peer(rc->st), status, why);
		rc_respond(rc, status, status == 401 ? "Unauthorized" : "Forbidden", why);
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

static void on_expiry(lws_sorted_usec_list_t *sul)
{
	struct rconn *rc = lws_container_of(sul, struct rconn, expiry_timer);

	rc_send_close(rc, WS_CLOSE_POLICY, "token expired");
	rc_close(rc);
}

static void arm_expiry(struct rconn *rc)
{
	time_t now = time(NULL);

	lws_sul_schedule(loop_context(), 0, &rc->expiry_timer, on_expiry,
			 (lws_usec_t)(rc->token_expiry > now ? rc->token_expiry - now : 0) *
				 LWS_US_PER_SEC + 1);
}

static void do_listen(struct rconn *rc, const char *path)
{
	struct relay_hc *hc = relay_hc_find(rc->relay, path, NULL);

	if (!hc || strcmp(hc->path, path) != 0) {
		if (!rc->relay->create_on_listen) {
			rc_respond(rc, 404, "Not Found", "no such hybrid connection");
			return;
		}
		hc = relay_hc_add(rc->relay, path, true);
	}
	if (check(rc, hc, RIGHT_LISTEN, &rc->token_expiry))
		return;
	if (rc->relay->max_listeners && hc->n_listeners >= rc->relay->max_listeners) {
		rc_respond(rc, 403, "Forbidden", "this hybrid connection has its maximum of listeners");
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

static void do_connect(struct rconn *rc, const char *path)
{
	struct relay_hc *hc = relay_hc_find(rc->relay, path, NULL);

	if (!hc) {
		rc_respond(rc, 404, "Not Found", "no such hybrid connection");
		return;
	}
	if (hc->requires_client_auth && check(rc, hc, RIGHT_SEND, NULL))
		return;
	if (!hc->n_listeners) {
		rc_respond(rc, 404, "Not Found", "no listener is online for this hybrid connection");
		return;
	}
	offer(rc, hc);
}

static void splice(struct rconn *a, struct rconn *b)
{
	a->peer = b;
	b->peer = a;
	a->state = b->state = RC_SPLICED;
	stream_pause_rx(a->st, false);
}

static void do_accept(struct rconn *rc)
{
	char *id = rc_query(rc, "sb-hc-id"), *code = rc_query(rc, "sb-hc-statusCode");
	char *desc = rc_query(rc, "sb-hc-statusDescription");
	struct pending *p = id ? pending_find(id) : NULL;
	struct rconn *sender = p ? p->sender : NULL;
	long status;

	if (!code)
		code = rc_query(rc, "statusCode");
	if (!desc)
		desc = rc_query(rc, "statusDescription");
	if (!p || !sender) {
		rc_respond(rc, 403, "Forbidden", "the rendezvous address is invalid or has expired");
	} else if (code) {
		pending_drop(p);
		if (azb_parse_int(code, 100, 599, &status) < 0)
			status = 500;
		rc_respond(sender, (int)status, desc ? desc : "Rejected", desc ? desc : "rejected by the listener");
		rc_respond(rc, 410, "Gone", "rejection recorded");
	} else {
		pending_drop(p);
		rc_upgrade(rc, rc->key, http1_get(&rc->head, "Sec-WebSocket-Protocol"));
		rc_upgrade(sender, sender->key, http1_get(&rc->head, "Sec-WebSocket-Protocol"));
		splice(sender, rc);
	}
	free(id);
	free(code);
	free(desc);
}

/* "/$hc/name[/suffix]?query" -> "name[/suffix]" decoded. */
static char *hc_path_of(const char *target)
{
	size_t n;
	char *raw, *dec;

	if (strncmp(target, "/$hc/", 5) != 0)
		return NULL;
	n = strcspn(target + 5, "?");
	raw = xstrndup(target + 5, n);
	dec = url_decode(raw, false);
	free(raw);
	if (dec) {
		n = strlen(dec);
		while (n && dec[n - 1] == '/')
			dec[--n] = '\0';
	}
	return dec;
}

/* Configured host names, compared without the port; none: any host. */
static bool host_served(const struct relay *r, const char *host)
{
	size_t n;

	if (!r->n_hosts)
		return true;
	if (!host)
		return false;
	n = host[0] == '[' ? strcspn(host, "]") + 1 : strcspn(host, ":");
	for (size_t i = 0; i < r->n_hosts; i++)
		if (strlen(r->hosts[i]) == n && strncasecmp(r->hosts[i], host, n) == 0)
			return true;
	return false;
}

static void route_ws(struct rconn *rc, const char *path)
{
	char *action = rc_query(rc, "sb-hc-action");

	if (!rc->key || !action)
		rc_respond(rc, 400, "Bad Request", "expected a websocket upgrade with sb-hc-action");
	else if (strcmp(action, "listen") == 0)
		do_listen(rc, path);
	else if (strcmp(action, "connect") == 0)
		do_connect(rc, path);
	else if (strcmp(action, "accept") == 0)
		do_accept(rc);
	else if (strcmp(action, "request") == 0)
		http_rendezvous(rc);
	else
		rc_respond(rc, 400, "Bad Request", "unknown sb-hc-action");
	free(action);
}

void rc_route(struct rconn *rc, uint8_t *rest, size_t n)
{
	const char *host = http1_get(&rc->head, "Host");
	const char *key = ws_upgrade_request_key(&rc->head);
	char *path;

	azb_set_str(&rc->host, host);
	azb_set_str(&rc->key, key);
	if (!host_served(rc->relay, host)) {
		rc_respond(rc, 404, "Not Found", "this relay does not serve that host name");
		return;
	}
	path = hc_path_of(rc->head.target);
	if (path)
		route_ws(rc, path);
	else
		http_request(rc, rest, n);
	free(path);
}

/* ---- the control channel ----------------------------------------------- */

static void renew(struct rconn *rc, const char *tok)
{
	char why[256], *res = sas_resource(rc->host ? rc->host : "localhost", rc->hc->path);
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
	struct ctl_msg m;
	char why[160];

	if (ctl_parse(rc->msg.s, rc->msg.len, &m, why, sizeof(why)) < 0) {
		log_info("listener channel from %s: %s", stream_peer(rc->st), why);
		rc_send_close(rc, WS_CLOSE_PROTOCOL, why);
		rc_close(rc);
	} else if (m.kind == CTL_RENEW && rc->state == RC_LISTENER) {
		renew(rc, m.token);
	} else if (m.kind == CTL_RESPONSE) {
		http_on_response(rc, &m);
	}
	ctl_clear(&m);
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

static int ev_control(void *arg, enum ws_op op, uint8_t *p, size_t n)
{
	struct rconn *rc = arg;

	switch (op) {
	case WS_OP_PING:
		send_frame(rc, WS_OP_PONG, p, n);
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

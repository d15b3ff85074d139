#include "hc_listener.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "hc_proto.h"
#include "log.h"
#include "loop.h"
#include "token.h"
#include "util.h"
#include "wsc.h"

/* While the relay cannot be reached at all, try at least this often, so a
 * restarted relay is picked up within seconds. */
#define HC_UNREACHABLE_MAX_US (2LL * 1000000)

static const int backoff_s[] = { 0, 1, 2, 5, 10, 30 };

/* No failure reported yet: the first one is always logged. */
#define HC_NO_STATUS INT_MIN

/* What the relay may leave unread on the channel before it is dropped. */
#define HC_QUEUE_MAX (1024 * 1024)

enum hc_state { HC_CONNECTING, HC_ONLINE, HC_WAITING, HC_STOPPED };

struct hc_listener {
	struct fwd_run *fr;
	const struct hc_listener_ops *ops;
	enum hc_state state;
	struct wsc *ws;
	unsigned attempt;
	int last_status;              /* of the last failure; HC_NO_STATUS before one */
	char last_why[128];
	lws_sorted_usec_list_t retry_timer, ping_timer, renew_timer;
	struct sbuf msg;              /* the text message being received */
	bool msg_over;                /* ...is over HCP_MSG_MAX: skip to its end */
	unsigned n_malformed;         /* on this channel */
	unsigned chan;                /* counts the connections of the channel */
	struct hc_body_sink *body_to; /* takes the binary message that comes next */
	int64_t renew_in_us;          /* of the token in use; 0: never renewed */
	struct token_wait *wait;      /* an Entra ID token being fetched */
	char id[37];
};

static void hc_connect(struct hc_listener *h);
static void on_renew(lws_sorted_usec_list_t *sul);

static struct log_ctx hctx(const struct hc_listener *h)
{
	struct log_ctx c = { h->fr->fwd->name, h->fr->fwd->relay, NULL, NULL };

	return c;
}

/* Sent at once: the connection's own queue keeps what the relay does not
 * take yet, up to HC_QUEUE_MAX. The text may hold a token. */
static void send_text(struct hc_listener *h, char *text)
{
	if (h->ws && h->state == HC_ONLINE)
		wsc_send_copy(h->ws, WS_OP_TEXT, text, strlen(text));
	azb_free_secret(text);
}

/* ---- timers ------------------------------------------------------------ */

static void schedule(lws_sorted_usec_list_t *sul, sul_cb_t cb, int64_t us)
{
	lws_sul_schedule(loop_context(), 0, sul, cb, us);
}

static void on_retry(lws_sorted_usec_list_t *sul)
{
	hc_connect(lws_container_of(sul, struct hc_listener, retry_timer));
}

static void on_ping(lws_sorted_usec_list_t *sul)
{
	struct hc_listener *h = lws_container_of(sul, struct hc_listener, ping_timer);
	int64_t ka = (int64_t)h->fr->keep_alive * 1000000;

	if (h->state != HC_ONLINE || !h->ws)
		return;
	/* Nothing at all from the relay for two intervals: the channel is dead
	 * even if TCP has not noticed. */
	if (lws_now_usecs() - wsc_last_rx(h->ws) > 2 * ka + 1000000) {
		snprintf(h->last_why, sizeof(h->last_why), "no answer to keep-alive pings");
		wsc_abort(h->ws);
		return;
	}
	wsc_ping(h->ws);
	schedule(&h->ping_timer, on_ping, ka);
}

static void renew(struct hc_listener *h);

/* A failed fetch is retried by the token cache; try again a little later
 * (the channel stays up until the relay says the old token has expired). */
static void renew_ready(void *arg, int err, const char *why)
{
	struct hc_listener *h = arg;
	struct log_ctx c = hctx(h);

	h->wait = NULL;
	if (err == 0) {
		renew(h);
		return;
	}
	log_ctx(LOG_DEBUG, &c, "%s: cannot renew the listener token yet: %s", h->fr->fwd->name,
		why);
	schedule(&h->renew_timer, on_renew, 5 * 1000000LL);
}

static void renew(struct hc_listener *h)
{
	struct token t;
	struct log_ctx c = hctx(h);
	char *text, why[300];
	int r;

	if (h->state != HC_ONLINE)
		return;
	r = token_get(&h->fr->relay, h->fr->fwd->relay, &t, renew_ready, h, &h->wait, why,
		      sizeof(why));
	if (r < 0)
		renew_ready(h, r, why);
	if (r <= 0)
		return;
	text = hcp_renew_text(t.text);
	token_clear(&t);
	if (text)
		send_text(h, text);
	log_ctx(LOG_DEBUG, &c, "%s: renewing the listener token", h->fr->fwd->name);
	if (t.renew_in_us > 0)
		schedule(&h->renew_timer, on_renew, t.renew_in_us);
}

static void on_renew(lws_sorted_usec_list_t *sul)
{
	renew(lws_container_of(sul, struct hc_listener, renew_timer));
}

static void cancel_timers(struct hc_listener *h)
{
	lws_sul_cancel(&h->retry_timer);
	lws_sul_cancel(&h->ping_timer);
	lws_sul_cancel(&h->renew_timer);
	token_cancel(h->wait);
	h->wait = NULL;
}

/* ---- messages from the relay ------------------------------------------- */

static void on_accept(struct hc_listener *h, const struct hcp_msg *m)
{
	h->ops->accept(h->fr, m->addr.host, m->addr.port, m->addr.target, m->peer);
}

/* The forward answers, with hc_listener_respond() or _send(). */
static void on_request(struct hc_listener *h, struct hcp_msg *m)
{
	bool body = m->body;
	struct hc_body_sink *s = h->ops->request(h->fr, h, m);

	h->body_to = body ? s : NULL;
}

/* The body in progress will not be whole. */
static void body_lost(struct hc_listener *h)
{
	struct hc_body_sink *s = h->body_to;

	h->body_to = NULL;
	if (s)
		s->lost(s);
}

void hc_listener_forget(struct hc_listener *h, struct hc_body_sink *s)
{
	if (h && h->body_to == s)
		h->body_to = NULL;
}

unsigned hc_listener_channel(const struct hc_listener *h)
{
	return h->chan;
}

bool hc_listener_can_send(const struct hc_listener *h)
{
	return h->ws && h->state == HC_ONLINE && wsc_can_send(h->ws);
}

int hc_listener_send(struct hc_listener *h, unsigned chan, const char *text, const uint8_t *body,
		     size_t n, bool has_body)
{
	if (!h->ws || h->state != HC_ONLINE || chan != h->chan)
		return -ENOTCONN;
	wsc_send_copy(h->ws, WS_OP_TEXT, text, strlen(text));
	if (has_body)
		wsc_send_copy(h->ws, WS_OP_BINARY, body, n);
	return 0;
}

void hc_listener_respond(struct hc_listener *h, const char *id, int status, const char *desc)
{
	struct hcp_response r = { .id = id, .status = status, .description = desc };
	char *text = hcp_response_text(&r);

	if (text)
		send_text(h, text);
}

/* Dropped whole, logged at warning once per channel (a relay repeating it
 * must not flood the log), at debug after that. */
static void malformed(struct hc_listener *h, const char *why)
{
	struct log_ctx c = hctx(h);

	if (h->n_malformed++ == 0)
		fwd_error(h->fr, "dropping a malformed control message from the relay: %s", why);
	else
		log_ctx(LOG_DEBUG, &c, "%s: dropping a malformed control message from the relay: %s",
			h->fr->fwd->name, why);
}

static void dispatch(struct hc_listener *h)
{
	struct hcp_msg m;
	char why[300];

	if (h->msg_over) {
		snprintf(why, sizeof(why), "message over the %d-byte limit", HCP_MSG_MAX);
		malformed(h, why);
		return;
	}
	if (hcp_parse_from_relay(h->msg.s, h->msg.len, &m, why, sizeof(why)) < 0) {
		malformed(h, why);
		return;
	}
	if (m.kind == HCP_ACCEPT)
		on_accept(h, &m);
	else if (m.kind == HCP_REQUEST)
		on_request(h, &m);
	hcp_clear(&m);
}

static void binary_data(struct hc_listener *h, const uint8_t *p, size_t n, bool last)
{
	struct hc_body_sink *s = h->body_to;

	if (!s)
		return;   /* a body nobody asked for */
	if (last)
		h->body_to = NULL;
	s->data(s, p, n, last);
}

static int ws_data(void *owner, enum ws_op op, uint8_t *p, size_t n, bool last)
{
	struct hc_listener *h = owner;

	/* Only request bodies travel as binary here. */
	if (h->state == HC_STOPPED)
		return 0;
	if (op == WS_OP_BINARY) {
		binary_data(h, p, n, last);
		return 0;
	}
	if (h->msg.len + n > HCP_MSG_MAX)
		h->msg_over = true;
	if (!h->msg_over)
		sbuf_addn(&h->msg, (const char *)p, n);
	if (!last)
		return 0;
	dispatch(h);
	h->msg_over = false;
	h->msg.len = 0;
	h->msg.s[0] = '\0';
	return 0;
}

static int ws_open(void *owner)
{
	struct hc_listener *h = owner;
	struct log_ctx c = hctx(h);

	wsc_ready(h->ws);
	h->state = HC_ONLINE;
	h->chan++;
	fwd_set_state(h->fr, FWD_ONLINE, NULL, 0);
	h->attempt = 0;
	h->n_malformed = 0;
	h->last_status = HC_NO_STATUS;
	log_ctx(LOG_NOTICE, &c, "%s: listener online on relay %s", h->fr->fwd->name,
		h->fr->fwd->relay);
	schedule(&h->ping_timer, on_ping, (int64_t)h->fr->keep_alive * 1000000);
	if (h->renew_in_us > 0)
		schedule(&h->renew_timer, on_renew, h->renew_in_us);
	return 0;
}

static int ws_peer_closed(void *owner, uint16_t code)
{
	struct hc_listener *h = owner;

	snprintf(h->last_why, sizeof(h->last_why), "the relay closed the channel (code %u)", code);
	return -1;
}

static int64_t retry_delay(struct hc_listener *h, bool unreachable)
{
	unsigned i = h->attempt < AZB_ARRAY_SIZE(backoff_s) ? h->attempt :
							      AZB_ARRAY_SIZE(backoff_s) - 1;
	int64_t us = (int64_t)backoff_s[i] * 1000000;
	uint32_t r;

	if (unreachable && us > HC_UNREACHABLE_MAX_US)
		us = HC_UNREACHABLE_MAX_US;
	/* Jitter keeps many bridges from reconnecting in lock step. */
	azb_random(&r, sizeof(r));
	return us + (int64_t)(r % 250000) + us / 10 * (int64_t)(r % 3) / 2;
}

static void log_offline(struct hc_listener *h, int status, const char *why, int64_t delay)
{
	struct log_ctx c = hctx(h);
	bool changed = status != h->last_status || h->state == HC_ONLINE;

	if (status > 0)
		fwd_error(h->fr, "listener refused by the relay: %d %s%s", status, why ? why : "",
			  status == 404 ? " (hybrid connection not found)" : "");
	else if (changed)
		fwd_error(h->fr, "listener offline: %s", why ? why : "connection lost");
	log_ctx(LOG_DEBUG, &c, "next listener attempt in %.1f s", (double)delay / 1e6);
	h->last_status = status;
}

static void ws_gone(void *owner, int status, const char *why)
{
	struct hc_listener *h = owner;
	int64_t delay;

	h->ws = NULL;
	lws_sul_cancel(&h->ping_timer);
	lws_sul_cancel(&h->renew_timer);
	body_lost(h);
	token_cancel(h->wait);
	h->wait = NULL;
	if (h->state == HC_STOPPED) {
		free(h);
		return;
	}
	if (h->last_why[0])
		why = h->last_why;
	delay = retry_delay(h, status < 0);
	log_offline(h, status, why, delay);
	fwd_set_state(h->fr, FWD_RECONNECTING, h->fr->stats.last_error, delay);
	h->last_why[0] = '\0';
	h->state = HC_WAITING;
	h->attempt++;
	h->fr->stats.reconnects++;
	schedule(&h->retry_timer, on_retry, delay);
}

static const struct wsc_ops hc_ws_ops = { ws_open, ws_data, ws_peer_closed, NULL, ws_gone,
					  NULL };

/* ---- connecting -------------------------------------------------------- */

static void open_channel(struct hc_listener *h, const char *token)
{
	const struct fwd_relay *r = &h->fr->relay;
	struct wsc_params p = { r->host, r->port, r->tls, r->insecure, NULL, NULL,
				h->fr->connect_timeout, HC_QUEUE_MAX, &r->cred->proxy, 0 };
	char *target;

	azb_uuid(h->id);
	target = xasprintf("/$hc/%s?sb-hc-action=listen&sb-hc-id=%s", h->fr->fwd->relay, h->id);
	p.target = target;
	p.token = token;
	h->ws = wsc_open(&p, &hc_ws_ops, h);
	free(target);
	if (!h->ws)
		ws_gone(h, -1, "cannot open a connection to the relay");
}

static void connect_ready(void *arg, int err, const char *why)
{
	struct hc_listener *h = arg;

	h->wait = NULL;
	if (err < 0)
		ws_gone(h, -1, why);
	else
		hc_connect(h);
}

static void hc_connect(struct hc_listener *h)
{
	struct token t;
	char why[300];
	int r;

	h->state = HC_CONNECTING;
	if (h->fr->state != FWD_RECONNECTING)
		fwd_set_state(h->fr, FWD_CONNECTING, NULL, 0);
	r = token_get(&h->fr->relay, h->fr->fwd->relay, &t, connect_ready, h, &h->wait, why,
		      sizeof(why));
	if (r < 0)
		ws_gone(h, -1, why);
	if (r <= 0)
		return;
	h->renew_in_us = t.renew_in_us;
	open_channel(h, t.text);
	token_clear(&t);
}

struct hc_listener *hc_listener_start(struct fwd_run *fr, const struct hc_listener_ops *ops)
{
	struct hc_listener *h = xcalloc(1, sizeof(*h));

	h->fr = fr;
	h->ops = ops;
	h->last_status = HC_NO_STATUS;
	sbuf_init(&h->msg);
	hc_connect(h);
	return h;
}

void hc_listener_stop(struct hc_listener *h)
{
	if (!h)
		return;
	h->state = HC_STOPPED;
	cancel_timers(h);
	body_lost(h);
	sbuf_free(&h->msg);
	if (h->ws) {
		wsc_abort(h->ws);   /* freed in ws_gone */
		return;
	}
	free(h);
}

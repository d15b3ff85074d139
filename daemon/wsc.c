#include "wsc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "log.h"
#include "loop.h"
#include "relay_pool.h"
#include "resolve.h"
#include "stream.h"
#include "util.h"

#define WSC_HEAD_LIMIT 16384
/* A closing connection whose peer takes nothing is aborted after this
 * (the stream's own default, kept when a queue limit is set). */
#define WSC_LINGER_S 10
#define WSC_VERSION_UA "azbridge/" AZB_VERSION

enum wsc_state { WSC_RESOLVING, WSC_CONNECTING, WSC_UPGRADING, WSC_OPEN, WSC_DONE };

struct wsc {
	struct stream *st;
	struct resolve_req *rr;   /* while resolving */
	char *host;               /* until connected */
	uint16_t port;
	bool tls, insecure, pooled;
	bool ready;               /* wsc_ready() came: the relay served it */
	size_t max_queued;
	const struct wsc_ops *ops;
	void *owner;
	enum wsc_state state;
	char *request;            /* upgrade request, until sent */
	char key[WS_KEY_LEN + 1];
	struct http1_head *head;  /* while upgrading */
	struct ws_parser parser;
	int status;               /* HTTP status of a refused upgrade */
	char why[128];
	bool close_sent, close_rcvd, close_pending, ping_pending, pong_pending;
	uint8_t close_payload[WS_CTRL_MAX];
	size_t close_len;
	uint8_t pong_payload[WS_CTRL_MAX];
	size_t pong_len;
	int64_t last_rx;
	int timeout_s;
	lws_sorted_usec_list_t deadline;
	lws_sorted_usec_list_t failed;   /* reports a failure before a stream exists */
};

static char *build_request(const struct wsc_params *p, const char *key)
{
	struct sbuf b;

	sbuf_init(&b);
	sbuf_printf(&b, "GET %s HTTP/1.1\r\nHost: %s", p->target, p->host);
	if (p->port != (p->tls ? 443 : 80))
		sbuf_printf(&b, ":%u", p->port);
	sbuf_printf(&b, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
			"Relay-User-Agent: " WSC_VERSION_UA "\r\n", key);
	if (p->token)
		sbuf_printf(&b, "ServiceBusAuthorization: %s\r\n", p->token);
	sbuf_add(&b, "\r\n");
	return sbuf_take(&b);
}

static int raw_write(struct wsc *c, uint8_t *buf, size_t n)
{
	return stream_write(c->st, buf, n);
}

/* Straight from the request: this may run inside another connection's rx
 * (wsc_open from a control message), whose bytes sit in the scratch buffer.
 * What the socket does not take is copied into the stream's queue. */
static int send_request(struct wsc *c)
{
	size_t n = strlen(c->request);
	int r;

	if (n > LOOP_CHUNK)
		return -E2BIG;
	r = stream_write(c->st, (const uint8_t *)c->request, n);
	azb_free_secret(c->request);   /* it carries the token */
	c->request = NULL;
	return r;
}

static int send_frame(struct wsc *c, enum ws_op op, bool fin, uint8_t *payload, size_t n)
{
	uint8_t key[4], hdr[WS_HDR_MAX];
	size_t h;

	if (RAND_bytes(key, sizeof(key)) != 1)
		return -EIO;
	h = ws_header(hdr, op, fin, n, key);
	ws_mask(payload, n, key, 0);
	memcpy(payload - h, hdr, h);
	return raw_write(c, payload - h, h + n);
}

static int send_control(struct wsc *c, enum ws_op op, const uint8_t *p, size_t n)
{
	uint8_t *payload = loop_scratch() + LOOP_HEADROOM;

	if (n)          /* a ping may carry nothing, and p be NULL */
		memcpy(payload, p, n);
	return send_frame(c, op, true, payload, n);
}

/* Control frames go first, one per writeable callback. Returns 1 when one
 * was sent. */
static int flush_control(struct wsc *c)
{
	int r;

	if (c->pong_pending) {
		c->pong_pending = false;
		r = send_control(c, WS_OP_PONG, c->pong_payload, c->pong_len);
	} else if (c->ping_pending) {
		c->ping_pending = false;
		r = send_control(c, WS_OP_PING, NULL, 0);
	} else if (c->close_pending) {
		c->close_pending = false;
		c->close_sent = true;
		r = send_control(c, WS_OP_CLOSE, c->close_payload, c->close_len);
	} else {
		return 0;
	}
	if (r < 0)
		return r;
	stream_want_write(c->st);
	return 1;
}

static int on_established(void *owner)
{
	struct wsc *c = owner;

	c->state = WSC_UPGRADING;
	c->status = 0;
	return send_request(c) < 0 ? -1 : 0;
}

static int on_writeable(void *owner)
{
	struct wsc *c = owner;
	int r;

	if (c->request)
		return send_request(c) < 0 ? -1 : 0;
	if (c->state != WSC_OPEN)
		return 0;
	r = flush_control(c);
	if (r)
		return r < 0 ? -1 : 0;
	if (c->close_sent && c->close_rcvd) {
		stream_close(c->st);   /* both directions ended */
		return 0;
	}
	if (c->close_sent || !c->ops->writeable)
		return 0;
	return c->ops->writeable(c->owner) ? -1 : 0;
}

static int ev_data(void *arg, enum ws_op op, uint8_t *p, size_t n, bool last)
{
	struct wsc *c = arg;

	return c->close_rcvd ? 0 : c->ops->data(c->owner, op, p, n, last);
}

static int ev_control(void *arg, enum ws_op op, uint8_t *p, size_t n)
{
	struct wsc *c = arg;

	switch (op) {
	case WS_OP_PING:
		memcpy(c->pong_payload, p, n);
		c->pong_len = n;
		c->pong_pending = true;
		stream_want_write(c->st);
		return 0;
	case WS_OP_CLOSE:
		if (c->close_rcvd)
			return 0;
		c->close_rcvd = true;
		/* After our own close frame this completes the handshake. */
		if (c->close_sent)
			stream_want_write(c->st);
		return c->ops->peer_closed(c->owner, ws_close_code(p, n));
	default:
		return 0;
	}
}

static const struct ws_events wsc_events = { ev_data, ev_control };

static int finish_upgrade(struct wsc *c, uint8_t *rest, size_t n)
{
	int r = ws_check_upgrade_response(c->head, c->key);

	if (r < 0) {
		c->status = c->head->status == 101 ? 0 : c->head->status;
		snprintf(c->why, sizeof(c->why), "%s",
			 c->status ? c->head->reason : "bad upgrade response");
		if (c->status)
			log_debug("relay refused the upgrade: %d %s", c->head->status, c->head->reason);
		return -1;
	}
	http1_clear(c->head);
	free(c->head);
	c->head = NULL;
	c->state = WSC_OPEN;
	if (c->ops->open(c->owner))
		return -1;
	return n ? ws_parse(&c->parser, rest, n, &wsc_events, c) : 0;
}

static int on_rx(void *owner, uint8_t *data, size_t len)
{
	struct wsc *c = owner;
	size_t used;
	int r;

	c->last_rx = lws_now_usecs();
	if (c->state == WSC_OPEN) {
		r = ws_parse(&c->parser, data, len, &wsc_events, c);
		if (r == -EPROTO)
			snprintf(c->why, sizeof(c->why), "websocket protocol error from the relay");
		return r ? -1 : 0;
	}
	if (c->state != WSC_UPGRADING)
		return -1;
	r = http1_feed_response(c->head, (const char *)data, len, &used);
	if (r < 0) {
		snprintf(c->why, sizeof(c->why), "bad upgrade response");
		return -1;
	}
	return r == 1 ? (finish_upgrade(c, data + used, len - used) ? -1 : 0) : 0;
}

/* A peer that accepts TCP and then goes silent would otherwise hold the
 * attempt open for as long as the kernel keeps the socket. */
static void on_deadline(lws_sorted_usec_list_t *sul)
{
	struct wsc *c = lws_container_of(sul, struct wsc, deadline);
	static const char *const phase[] = {
		[WSC_RESOLVING] = "resolving",     /* never: the deadline starts after */
		[WSC_CONNECTING] = "connecting",   /* TCP and TLS */
		[WSC_UPGRADING] = "awaiting the upgrade",
		[WSC_OPEN] = "awaiting the peer's first reply",
		[WSC_DONE] = "closing",
	};

	snprintf(c->why, sizeof(c->why), "timed out after %d s %s", c->timeout_s,
		 phase[c->state]);
	if (c->st)
		stream_abort(c->st);
}

static void wsc_free(struct wsc *c)
{
	azb_free_secret(c->request);
	if (c->head) {
		http1_clear(c->head);
		free(c->head);
	}
	free(c->host);
	free(c);
}

static void finish(struct wsc *c, const char *err)
{
	if (c->pooled && c->ready)   /* not for a relay that left it unanswered */
		relay_pool_fill(c->host, c->port, c->tls, c->insecure, RELAY_POOL_PER_KEY);
	c->state = WSC_DONE;
	lws_sul_cancel(&c->deadline);
	lws_sul_cancel(&c->failed);
	c->ops->gone(c->owner, c->status, c->why[0] ? c->why : err ? err : "closed");
	wsc_free(c);
}

static void on_close(void *owner, const char *err)
{
	struct wsc *c = owner;

	c->st = NULL;
	finish(c, err);
}

static const struct stream_ops wsc_stream_ops = { on_established, on_rx, on_writeable, on_close };

static void on_failed(lws_sorted_usec_list_t *sul)
{
	finish(lws_container_of(sul, struct wsc, failed), NULL);
}

/* Before there is a stream: gone() from the loop, as for every other end. */
static void fail_later(struct wsc *c, const char *why)
{
	if (!c->why[0])
		snprintf(c->why, sizeof(c->why), "%s", why);
	resolve_cancel(c->rr);
	c->rr = NULL;
	c->state = WSC_DONE;
	loop_defer(&c->failed, on_failed);
}

static void started(struct wsc *c)
{
	if (c->max_queued)
		stream_set_limits(c->st, c->max_queued, WSC_LINGER_S);
	if (c->timeout_s > 0)
		lws_sul_schedule(loop_context(), 0, &c->deadline, on_deadline,
				 (lws_usec_t)c->timeout_s * LWS_US_PER_SEC);
}

/* A connection opened ahead (relay_pool.h): TCP and TLS are done, the
 * upgrade goes out now. A failure ends the stream, so gone() still comes
 * from the loop. */
static bool take_spare(struct wsc *c)
{
	c->st = relay_pool_take(c->host, c->port, c->tls, c->insecure, &wsc_stream_ops, c);
	if (!c->st)
		return false;
	log_debug("relay connection to %s:%u opened ahead, now in use", c->host, c->port);
	c->state = WSC_CONNECTING;
	started(c);
	if (on_established(c) < 0)
		stream_abort(c->st);
	return true;
}

static void connect_to(struct wsc *c, const struct resolve_result *res)
{
	struct sockaddr_storage ss;
	socklen_t sl = resolve_sockaddr(res, c->port, &ss);
	int err;

	c->state = WSC_CONNECTING;
	c->st = stream_connect((struct sockaddr *)&ss, sl, c->host, c->tls, c->insecure,
			       &wsc_stream_ops, c, &err);
	if (!c->st) {
		fail_later(c, strerror(-err));
		return;
	}
	started(c);
}

static void resolved(void *arg, int err, const struct resolve_result *res)
{
	struct wsc *c = arg;

	c->rr = NULL;
	if (err < 0)
		fail_later(c, "cannot resolve the relay's host name");
	else
		connect_to(c, res);
}

struct wsc *wsc_open(const struct wsc_params *p, const struct wsc_ops *ops, void *owner)
{
	struct wsc *c = xcalloc(1, sizeof(*c));
	struct resolve_result res;

	c->status = -1;
	c->ops = ops;
	c->owner = owner;
	c->host = xstrdup(p->host);
	c->port = p->port;
	c->tls = p->tls;
	c->insecure = p->insecure;
	c->pooled = p->pooled;
	c->timeout_s = p->timeout_s;
	c->max_queued = p->max_queued;
	ws_parser_init(&c->parser, false);
	c->head = xmalloc(sizeof(*c->head));
	http1_init(c->head, WSC_HEAD_LIMIT);
	if (ws_client_key(c->key) < 0) {
		fail_later(c, "no random numbers for the websocket key");
		return c;
	}
	c->request = build_request(p, c->key);
	if (c->pooled && take_spare(c))
		return c;
	if (resolve_host(c->host, &res, resolved, c, &c->rr) == 1)
		connect_to(c, &res);
	return c;
}

void wsc_set_owner(struct wsc *c, const struct wsc_ops *ops, void *owner)
{
	c->ops = ops;
	c->owner = owner;
}

/* A spare's handshake costs the relay and both bridges about what the
 * set-up of the tunnel it serves costs: one is opened while a tunnel sets
 * up only when none is left, and the rest when a tunnel ends. Only a relay
 * that has answered a tunnel gets spares. */
void wsc_ready(struct wsc *c)
{
	lws_sul_cancel(&c->deadline);
	c->ready = true;
	if (c->pooled)
		relay_pool_fill(c->host, c->port, c->tls, c->insecure, 1);
}

int wsc_send(struct wsc *c, enum ws_op op, bool fin, uint8_t *payload, size_t n)
{
	return send_frame(c, op, fin, payload, n);
}

/* Header and masked payload at out; its length, 0 without random bytes. */
static size_t put_frame(uint8_t *out, const uint8_t *p, size_t n)
{
	uint8_t key[4];
	size_t h;

	if (RAND_bytes(key, sizeof(key)) != 1)
		return 0;
	h = ws_header(out, WS_OP_BINARY, true, n, key);
	memcpy(out + h, p, n);
	ws_mask(out + h, n, key, 0);
	return h + n;
}

int wsc_send_two(struct wsc *c, const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	uint8_t buf[2 * WS_HDR_MAX + WSC_TWO_MAX];
	size_t n, m = 0;
	int r;

	if (an + bn > WSC_TWO_MAX)
		return -E2BIG;
	n = put_frame(buf, a, an);
	if (n && bn)
		m = put_frame(buf + n, b, bn);
	if (!n || (bn && !m))
		return -EIO;
	r = raw_write(c, buf, n + m);
	explicit_bzero(buf, n + m);
	return r;
}

int wsc_send_copy(struct wsc *c, enum ws_op op, const void *p, size_t n)
{
	uint8_t *buf = xmalloc(LOOP_HEADROOM + n);
	int r;

	memcpy(buf + LOOP_HEADROOM, p, n);
	r = send_frame(c, op, true, buf + LOOP_HEADROOM, n);
	explicit_bzero(buf, LOOP_HEADROOM + n);
	free(buf);
	return r;
}

void wsc_close(struct wsc *c, uint16_t code, const char *reason)
{
	if (c->close_sent || c->close_pending)
		return;
	c->close_len = ws_close_payload(c->close_payload, code, reason);
	c->close_pending = true;
	if (c->st && c->state == WSC_OPEN)
		stream_want_write(c->st);
}

void wsc_ping(struct wsc *c)
{
	c->ping_pending = true;
	if (c->st && c->state == WSC_OPEN)
		stream_want_write(c->st);
}

void wsc_want_write(struct wsc *c)
{
	if (c->st && c->state == WSC_OPEN)
		stream_want_write(c->st);
}

void wsc_pause_rx(struct wsc *c, bool pause)
{
	if (c->st)
		stream_pause_rx(c->st, pause);
}

void wsc_abort(struct wsc *c)
{
	if (c->st)
		stream_abort(c->st);
	else if (c->state != WSC_DONE)
		fail_later(c, "aborted");
}

bool wsc_can_send(const struct wsc *c)
{
	return c->state == WSC_OPEN && c->st && !c->close_sent && !c->close_pending &&
	       !stream_choked(c->st);
}

int64_t wsc_last_rx(const struct wsc *c)
{
	return c->last_rx;
}

const char *wsc_gone_text(char *buf, size_t len, int status, const char *why)
{
	if (status > 0)
		snprintf(buf, len, "the relay answered %d (%s)", status, why ? why : "");
	else if (status < 0)
		snprintf(buf, len, "cannot reach the relay (%s)", why ? why : "");
	else
		snprintf(buf, len, "relay connection lost (%s)", why ? why : "closed");
	return buf;
}

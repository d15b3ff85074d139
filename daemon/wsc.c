#include "wsc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "log.h"
#include "loop.h"
#include "util.h"

#define WSC_HEAD_LIMIT 16384
#define WSC_VERSION_UA "azbridge/" AZB_VERSION

enum wsc_state { WSC_CONNECTING, WSC_UPGRADING, WSC_OPEN, WSC_DONE };

struct wsc {
	struct loop_obj obj;      /* first: the loop hands it back */
	struct lws *wsi;
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
};

static struct wsc *wsc_of(struct loop_obj *o)
{
	return (struct wsc *)o;
}

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
	return lws_write(c->wsi, buf, n, LWS_WRITE_RAW) < (int)n ? -EIO : 0;
}

static int send_request(struct wsc *c)
{
	uint8_t *buf = loop_scratch() + LWS_PRE;
	size_t n = strlen(c->request);
	int r;

	if (n > LOOP_CHUNK)
		return -E2BIG;
	memcpy(buf, c->request, n);
	azb_free_secret(c->request);   /* it carries the token */
	c->request = NULL;
	r = raw_write(c, buf, n);
	explicit_bzero(buf, n);
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
	lws_callback_on_writable(c->wsi);
	return 1;
}

static int on_established(struct loop_obj *o, struct lws *wsi)
{
	struct wsc *c = wsc_of(o);

	c->wsi = wsi;
	c->state = WSC_UPGRADING;
	c->status = 0;
	lws_callback_on_writable(wsi);
	return 0;
}

static int on_writeable(struct loop_obj *o, struct lws *wsi)
{
	struct wsc *c = wsc_of(o);
	int r;

	(void)wsi;
	if (c->request)
		return send_request(c) < 0 ? -1 : 0;
	if (c->state != WSC_OPEN)
		return 0;
	r = flush_control(c);
	if (r)
		return r < 0 ? -1 : 0;
	if (c->close_sent && c->close_rcvd)
		return -1;     /* both directions ended: close the transport */
	if (c->close_sent)
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
		lws_callback_on_writable(c->wsi);
		return 0;
	case WS_OP_CLOSE:
		if (c->close_rcvd)
			return 0;
		c->close_rcvd = true;
		if (c->close_sent) {
			lws_callback_on_writable(c->wsi);
			return 0;
		}
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

static int on_rx(struct loop_obj *o, struct lws *wsi, uint8_t *data, size_t len)
{
	struct wsc *c = wsc_of(o);
	size_t used;
	int r;

	(void)wsi;
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

static void wsc_free(struct wsc *c)
{
	azb_free_secret(c->request);
	if (c->head) {
		http1_clear(c->head);
		free(c->head);
	}
	free(c);
}

static void on_close(struct loop_obj *o, struct lws *wsi, const char *err)
{
	struct wsc *c = wsc_of(o);

	(void)wsi;
	c->wsi = NULL;
	c->state = WSC_DONE;
	c->ops->gone(c->owner, c->status, c->why[0] ? c->why : err);
	wsc_free(c);
}

static const struct loop_conn_ops wsc_conn_ops = { "relay", on_established, on_rx, on_writeable,
						   on_close };

struct wsc *wsc_open(const struct wsc_params *p, const struct wsc_ops *ops, void *owner, int *err)
{
	struct loop_connect lc = { p->address, p->port, p->host, p->tls, p->insecure };
	struct wsc *c = xcalloc(1, sizeof(*c));

	c->obj.conn_ops = &wsc_conn_ops;
	c->status = -1;
	c->ops = ops;
	c->owner = owner;
	ws_parser_init(&c->parser, false);
	c->head = xmalloc(sizeof(*c->head));
	http1_init(c->head, WSC_HEAD_LIMIT);
	*err = ws_client_key(c->key);
	if (*err == 0) {
		c->request = build_request(p, c->key);
		*err = loop_connect(&lc, &c->obj, &c->wsi);
	}
	if (*err < 0) {
		wsc_free(c);
		return NULL;
	}
	return c;
}

int wsc_send(struct wsc *c, enum ws_op op, bool fin, uint8_t *payload, size_t n)
{
	return send_frame(c, op, fin, payload, n);
}

void wsc_close(struct wsc *c, uint16_t code, const char *reason)
{
	if (c->close_sent || c->close_pending)
		return;
	c->close_len = ws_close_payload(c->close_payload, code, reason);
	c->close_pending = true;
	if (c->wsi)
		lws_callback_on_writable(c->wsi);
}

void wsc_ping(struct wsc *c)
{
	c->ping_pending = true;
	if (c->wsi && c->state == WSC_OPEN)
		lws_callback_on_writable(c->wsi);
}

void wsc_want_write(struct wsc *c)
{
	if (c->wsi && c->state == WSC_OPEN)
		lws_callback_on_writable(c->wsi);
}

void wsc_pause_rx(struct wsc *c, bool pause)
{
	if (c->wsi)
		lws_rx_flow_control(c->wsi, pause ? 0 : 1);
}

void wsc_abort(struct wsc *c)
{
	if (c->wsi)
		loop_kill(c->wsi);
}

bool wsc_is_open(const struct wsc *c)
{
	return c->state == WSC_OPEN;
}

bool wsc_close_sent(const struct wsc *c)
{
	return c->close_sent || c->close_pending;
}

int64_t wsc_last_rx(const struct wsc *c)
{
	return c->last_rx;
}

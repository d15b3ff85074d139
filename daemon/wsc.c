#include "wsc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "log.h"
#include "loop.h"
#include "proxy.h"
#include "reach.h"
#include "relay_pool.h"
#include "stream.h"
#include "util.h"

#define WSC_HEAD_LIMIT 16384
/* A closing connection whose peer takes nothing is aborted after this
 * (the stream's own default, kept when a queue limit is set). */
#define WSC_LINGER_S 10
#define WSC_VERSION_UA "azbridge/" AZB_VERSION

enum wsc_state { WSC_RESOLVING, WSC_CONNECTING, WSC_PROXYING, WSC_UPGRADING, WSC_OPEN, WSC_DONE };

/* What only the way to an open websocket needs: freed once it is open, so
 * an idle tunnel holds none of it. */
struct wsc_setup {
	struct wsc *c;
	struct reach *reach;      /* while resolving and connecting */
	/* Where the TCP connection goes: the relay, or the proxy of route. */
	const char *connect_host;
	uint16_t connect_port;
	struct proxy_route route;
	char *connect_req;        /* CONNECT request, until sent (may hold a password) */
	char *request;            /* upgrade request, until sent */
	char key[WS_KEY_LEN + 1];
	struct http1_head head;   /* the proxy's answer, then the upgrade response */
	lws_sorted_usec_list_t failed;   /* reports a failure before a stream exists */
};

struct wsc {
	struct stream *st;
	struct wsc_setup *su;     /* until the upgrade is done */
	char *host;               /* the relay's: SNI, certificate, Host */
	uint16_t port;
	bool tls, insecure;
	bool proxied;             /* through a proxy's tunnel: no spares */
	bool ready;               /* wsc_ready() came: the relay served it */
	int spare_idle_s;         /* > 0: a tunnel's, pooled (relay_pool.h) */
	size_t max_queued;
	const struct wsc_ops *ops;
	void *owner;
	enum wsc_state state;
	struct ws_parser parser;
	int status;               /* HTTP status of a refused upgrade */
	char *why;                /* what went wrong (a proxy's answer, the addresses tried) */
	bool close_sent, close_rcvd, close_pending, ping_pending;
	uint8_t close_len, pong_len;
	uint8_t *close_payload;   /* WS_CTRL_MAX bytes while close_pending */
	uint8_t *pong_payload;    /* WS_CTRL_MAX bytes while a pong is due */
	int64_t last_rx;
	int timeout_s;
	lws_sorted_usec_list_t deadline;
};

/* At most this much of a reason is kept: a proxy's answer, the addresses tried. */
#define WSC_WHY_MAX 256

static void __attribute__((format(printf, 2, 3))) set_why(struct wsc *c, const char *fmt, ...)
{
	char buf[WSC_WHY_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	free(c->why);
	c->why = xstrdup(buf);
}

/* Where the connection stands with a proxy: before its tunnel is open. */
static bool at_proxy(const struct wsc *c)
{
	return c->su && (c->su->connect_req || c->state == WSC_PROXYING);
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

static int raw_write(struct wsc *c, const uint8_t *buf, size_t n)
{
	return stream_write(c->st, buf, n);
}

/* Straight from the request: this may run inside another connection's rx
 * (wsc_open from a control message), whose bytes sit in the scratch buffer.
 * What the socket does not take is copied into the stream's queue. */
static int send_request(struct wsc *c)
{
	size_t n = strlen(c->su->request);
	int r;

	if (n > LOOP_CHUNK)
		return -E2BIG;
	r = stream_write(c->st, (const uint8_t *)c->su->request, n);
	azb_free_secret(c->su->request);   /* it carries the token */
	c->su->request = NULL;
	return r;
}

/* Masking keys come from a pool filled 64 at a time: OpenSSL's generator
 * asks the kernel for the process id on every call (its fork check), a
 * syscall per frame that a burst of datagrams felt. The keys stay as
 * unpredictable; only the calls are fewer. */
#define MASK_KEYS 64

static int mask_key(uint8_t key[4])
{
	static uint8_t pool[4 * MASK_KEYS];
	static size_t left;

	if (!left) {
		if (RAND_bytes(pool, sizeof(pool)) != 1)
			return -EIO;
		left = MASK_KEYS;
	}
	left--;
	memcpy(key, pool + 4 * left, 4);
	return 0;
}

/* Header before payload, payload masked: the header's length, 0 without
 * random bytes. */
static size_t frame_in_place(enum ws_op op, bool fin, uint8_t *payload, size_t n)
{
	uint8_t key[4], hdr[WS_HDR_MAX];
	size_t h;

	if (mask_key(key) < 0)
		return 0;
	h = ws_header(hdr, op, fin, n, key);
	ws_mask(payload, n, key, 0);
	memcpy(payload - h, hdr, h);
	return h;
}

static int send_frame(struct wsc *c, enum ws_op op, bool fin, uint8_t *payload, size_t n)
{
	size_t h = frame_in_place(op, fin, payload, n);

	return h ? raw_write(c, payload - h, h + n) : -EIO;
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

	if (c->pong_payload) {
		r = send_control(c, WS_OP_PONG, c->pong_payload, c->pong_len);
		free(c->pong_payload);
		c->pong_payload = NULL;
	} else if (c->ping_pending) {
		c->ping_pending = false;
		r = send_control(c, WS_OP_PING, NULL, 0);
	} else if (c->close_pending) {
		c->close_pending = false;
		c->close_sent = true;
		r = send_control(c, WS_OP_CLOSE, c->close_payload, c->close_len);
		free(c->close_payload);
		c->close_payload = NULL;
	} else {
		return 0;
	}
	if (r < 0)
		return r;
	stream_want_write(c->st);
	return 1;
}

static int send_connect(struct wsc *c)
{
	struct wsc_setup *su = c->su;
	int r = stream_write(c->st, (const uint8_t *)su->connect_req, strlen(su->connect_req));

	azb_free_secret(su->connect_req);
	su->connect_req = NULL;
	c->state = WSC_PROXYING;
	return r;
}

static int on_established(void *owner)
{
	struct wsc *c = owner;

	if (c->su->connect_req)
		return send_connect(c) < 0 ? -1 : 0;
	c->state = WSC_UPGRADING;
	c->status = 0;
	return send_request(c) < 0 ? -1 : 0;
}

static int on_writeable(void *owner)
{
	struct wsc *c = owner;
	int r;

	if (c->state == WSC_UPGRADING && c->su->request)
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
		if (!c->pong_payload)
			c->pong_payload = xmalloc(WS_CTRL_MAX);
		memcpy(c->pong_payload, p, n);
		c->pong_len = (uint8_t)n;
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

static void setup_free(struct wsc_setup *su)
{
	if (!su)
		return;
	lws_sul_cancel(&su->failed);
	azb_free_secret(su->request);
	azb_free_secret(su->connect_req);
	proxy_route_clear(&su->route);
	http1_clear(&su->head);
	free(su);
}

static int finish_upgrade(struct wsc *c, uint8_t *rest, size_t n)
{
	struct http1_head *h = &c->su->head;

	if (ws_check_upgrade_response(h, c->su->key) < 0) {
		c->status = h->status == 101 ? 0 : h->status;
		set_why(c, "%s", c->status ? h->reason : "bad upgrade response");
		if (c->status)
			log_debug("relay refused the upgrade: %d %s", h->status, h->reason);
		return -1;
	}
	setup_free(c->su);
	c->su = NULL;
	c->state = WSC_OPEN;
	if (c->ops->open(c->owner))
		return -1;
	return n ? ws_parse(&c->parser, rest, n, &wsc_events, c) : 0;
}

static int proxy_rx(struct wsc *c, uint8_t *data, size_t len);

static int rx(struct wsc *c, uint8_t *data, size_t len)
{
	size_t used;
	int r;

	if (c->state == WSC_PROXYING)
		return proxy_rx(c, data, len);
	if (c->state == WSC_OPEN) {
		r = ws_parse(&c->parser, data, len, &wsc_events, c);
		if (r == -EPROTO)
			set_why(c, "websocket protocol error from the relay");
		return r ? -1 : 0;
	}
	if (c->state != WSC_UPGRADING)
		return -1;
	r = http1_feed_response(&c->su->head, (const char *)data, len, &used);
	if (r < 0) {
		set_why(c, "bad upgrade response");
		return -1;
	}
	return r == 1 ? (finish_upgrade(c, data + used, len - used) ? -1 : 0) : 0;
}

static int on_rx(void *owner, uint8_t *data, size_t len)
{
	struct wsc *c = owner;
	int r;

	c->last_rx = lws_now_usecs();
	r = rx(c, data, len);
	if (c->ops->read_done)   /* the owner's now: the sender hands over inside rx() */
		c->ops->read_done(c->owner);
	return r;
}

/* The tunnel is open: from here on the stream is as if connected to the
 * relay itself (TLS with the relay's name, then the upgrade). */
static int tunnel_open(struct wsc *c, uint8_t *rest, size_t n)
{
	http1_clear(&c->su->head);
	http1_init(&c->su->head, WSC_HEAD_LIMIT);
	c->state = WSC_CONNECTING;
	if (c->tls)
		return stream_start_tls(c->st, c->host, c->port, c->insecure, rest, n) < 0 ? -1 : 0;
	if (on_established(c) < 0)
		return -1;
	return n ? rx(c, rest, n) : 0;
}

static int proxy_rx(struct wsc *c, uint8_t *data, size_t len)
{
	char why[WSC_WHY_MAX] = "";
	size_t used = 0;
	int r = proxy_answer(&c->su->head, data, len, &used, &c->su->route, why, sizeof(why));

	if (r < 0) {
		set_why(c, "%s", why);
		log_debug("%s", why);
	}
	return r < 0 ? -1 : r == 1 ? tunnel_open(c, data + used, len - used) : 0;
}

static void fail_later(struct wsc *c, const char *why);

/* A peer that accepts TCP and then goes silent would otherwise hold the
 * attempt open for as long as the kernel keeps the socket. */
static void on_deadline(lws_sorted_usec_list_t *sul)
{
	struct wsc *c = lws_container_of(sul, struct wsc, deadline);
	char where[200];
	static const char *const phase[] = {
		[WSC_RESOLVING] = "resolving",     /* never: c->reach's, below */
		[WSC_CONNECTING] = "connecting",   /* TLS; TCP for a lone address */
		[WSC_PROXYING] = "awaiting the proxy's answer",
		[WSC_UPGRADING] = "awaiting the upgrade",
		[WSC_OPEN] = "awaiting the peer's first reply",
		[WSC_DONE] = "closing",
	};
	bool proxy = at_proxy(c);
	const char *pw = proxy ? c->su->route.where : "";

	if (c->su && c->su->reach) {
		set_why(c, "timed out after %d s connecting%s%s (%s)", c->timeout_s,
			proxy ? " to " : "", pw, reach_progress(c->su->reach, where, sizeof(where)));
		fail_later(c, "timed out");   /* c->why says more */
		return;
	}
	set_why(c, "timed out after %d s %s%s%s%s", c->timeout_s, phase[c->state],
		proxy ? " (" : "", pw, proxy ? ")" : "");
	if (c->st)
		stream_abort(c->st);
}

static void wsc_free(struct wsc *c)
{
	setup_free(c->su);
	ws_parser_clear(&c->parser);
	free(c->close_payload);
	free(c->pong_payload);
	free(c->why);
	free(c->host);
	free(c);
}

static void finish(struct wsc *c, const char *err)
{
	if (c->spare_idle_s && c->ready && !c->proxied)   /* not for a relay that left it unanswered */
		relay_pool_fill(c->host, c->port, c->tls, c->insecure, RELAY_POOL_PER_KEY,
				c->spare_idle_s);
	c->state = WSC_DONE;
	lws_sul_cancel(&c->deadline);
	if (c->su)
		lws_sul_cancel(&c->su->failed);
	c->ops->gone(c->owner, c->status, c->why ? c->why : err ? err : "closed");
	wsc_free(c);
}

static void on_close(void *owner, const char *err)
{
	struct wsc *c = owner;

	c->st = NULL;
	/* Before the tunnel, the failure is the proxy's: say which one. */
	if (err && !c->why && at_proxy(c))
		set_why(c, "%s: %s", c->su->route.where, err);
	finish(c, err);
}

static const struct stream_ops wsc_stream_ops = { on_established, on_rx, on_writeable, on_close };

static void on_failed(lws_sorted_usec_list_t *sul)
{
	finish(lws_container_of(sul, struct wsc_setup, failed)->c, NULL);
}

/* Before there is a stream: gone() from the loop, as for every other end. */
static void fail_later(struct wsc *c, const char *why)
{
	if (!c->why)
		set_why(c, "%s", why);
	reach_cancel(c->su->reach);
	c->su->reach = NULL;
	c->state = WSC_DONE;
	loop_defer(&c->su->failed, on_failed);
}

static void arm_deadline(struct wsc *c)
{
	if (c->timeout_s > 0)
		lws_sul_schedule(loop_context(), 0, &c->deadline, on_deadline,
				 (lws_usec_t)c->timeout_s * LWS_US_PER_SEC);
}

/* A connection opened ahead (relay_pool.h): TCP and TLS are done, the
 * upgrade goes out now. A failure ends the stream, so gone() still comes
 * from the loop. Never through a proxy: spares go straight to the relay. */
static bool take_spare(struct wsc *c)
{
	if (c->proxied)
		return false;
	c->st = relay_pool_take(c->host, c->port, c->tls, c->insecure, &wsc_stream_ops, c);
	if (!c->st)
		return false;
	log_debug("relay connection to %s:%u opened ahead, now in use", c->host, c->port);
	c->state = WSC_CONNECTING;
	if (c->max_queued)
		stream_set_limits(c->st, c->max_queued, WSC_LINGER_S);
	arm_deadline(c);
	if (on_established(c) < 0)
		stream_abort(c->st);
	return true;
}

static void reached(void *arg, int fd, int err, const char *why)
{
	struct wsc *c = arg;

	c->su->reach = NULL;
	if (err == -ECANCELED) {   /* wsc_abort(), maybe as the loop goes: no later */
		finish(c, "aborted");
		return;
	}
	if (fd < 0) {
		const char *what = why ? why : err != -ENOENT && err != -EHOSTUNREACH ?
				   strerror(-err) : c->su->connect_req ?
				   "cannot resolve the proxy's host name" :
				   "cannot resolve the relay's host name";

		if (c->su->connect_req)   /* say which proxy */
			set_why(c, "%s: %s", c->su->route.where, what);
		fail_later(c, what);
		return;
	}
	c->state = WSC_CONNECTING;
	c->st = stream_connect_fd(fd, c->port, c->host, c->tls && !c->su->connect_req, NULL,
				  c->insecure, &wsc_stream_ops, c, &err);
	if (!c->st) {
		fail_later(c, strerror(-err));
		return;
	}
	if (c->max_queued)
		stream_set_limits(c->st, c->max_queued, WSC_LINGER_S);
}

/* The deadline covers every address tried as well as TLS and the upgrade. */
static void connect_to(struct wsc *c)
{
	c->su->reach = reach_open(c->su->connect_host, c->su->connect_port, reached, c);
	arm_deadline(c);
}

/* Straight to the relay, or to the proxy that applies to it. */
static int choose_route(struct wsc *c, const struct wsc_params *p)
{
	struct wsc_setup *su = c->su;
	char err[200];

	su->connect_host = c->host;
	su->connect_port = c->port;
	if (proxy_route(p->proxy, "https", c->host, &su->route, err, sizeof(err)) < 0) {
		fail_later(c, err);
		return -EINVAL;
	}
	if (!su->route.host)
		return 0;
	c->proxied = true;
	su->connect_host = su->route.host;
	su->connect_port = su->route.port;
	su->connect_req = proxy_request(&su->route, c->host, c->port);
	return 0;
}

struct wsc *wsc_open(const struct wsc_params *p, const struct wsc_ops *ops, void *owner)
{
	struct wsc *c = xcalloc(1, sizeof(*c));

	c->status = -1;
	c->ops = ops;
	c->owner = owner;
	c->host = xstrdup(p->host);
	c->port = p->port;
	c->tls = p->tls;
	c->insecure = p->insecure;
	c->spare_idle_s = p->spare_idle_s;
	c->timeout_s = p->timeout_s;
	c->max_queued = p->max_queued;
	ws_parser_init(&c->parser, false);
	c->su = xcalloc(1, sizeof(*c->su));
	c->su->c = c;
	http1_init(&c->su->head, WSC_HEAD_LIMIT);
	if (ws_client_key(c->su->key) < 0) {
		fail_later(c, "no random numbers for the websocket key");
		return c;
	}
	c->su->request = build_request(p, c->su->key);
	if (choose_route(c, p) < 0)
		return c;
	if (c->spare_idle_s && take_spare(c))
		return c;
	connect_to(c);
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
	if (c->spare_idle_s && !c->proxied)
		relay_pool_fill(c->host, c->port, c->tls, c->insecure, 1, c->spare_idle_s);
}

int wsc_send(struct wsc *c, enum ws_op op, bool fin, uint8_t *payload, size_t n)
{
	return send_frame(c, op, fin, payload, n);
}

/* Header and masked payload at out; its length, 0 without random bytes. */
static size_t put_frame(uint8_t *out, const uint8_t *p, size_t n)
{
	size_t h = wsc_frame_hdr_len(n);

	memcpy(out + h, p, n);
	return frame_in_place(WS_OP_BINARY, true, out + h, n) ? h + n : 0;
}

size_t wsc_frame_in_place(uint8_t *payload, size_t n)
{
	return frame_in_place(WS_OP_BINARY, true, payload, n);
}

size_t wsc_frame_hdr_len(size_t n)
{
	return 2 + 4 + (n < 126 ? 0 : n <= 0xffff ? 2 : 8);
}

int wsc_send_frames(struct wsc *c, const uint8_t *frames, size_t n)
{
	return raw_write(c, frames, n);
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
	c->close_payload = xmalloc(WS_CTRL_MAX);
	c->close_len = (uint8_t)ws_close_payload(c->close_payload, code, reason);
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
	if (c->st) {
		stream_abort(c->st);
		return;
	}
	if (c->su && c->su->reach && reach_abort(c->su->reach))
		return;    /* reached() follows */
	if (c->su)
		c->su->reach = NULL;   /* still looking the name up: reach_abort() freed it */
	if (c->state != WSC_DONE)
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

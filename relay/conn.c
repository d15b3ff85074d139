#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admit.h"
#include "log.h"
#include "loop.h"
#include "sas.h"
#include "stream.h"
#include "url.h"
#include "util.h"

#define HEAD_LIMIT (32 * 1024)
/* Seconds a connection may leave what it was sent waiting before it counts
 * as one that stopped reading, not one busy for a moment. */
#define STUCK_S 0.25

enum conn_phase {
	CONN_HEAD,       /* reading a request head (a role may stay from the last one) */
	CONN_ROUTED,     /* the route's role has it */
	CONN_CLOSING,
};

struct conn {
	struct relay *relay;
	struct stream *st;
	enum conn_phase phase;
	const struct conn_routes *routes;
	const struct conn_role *role;
	void *state;
	struct http1_head *head; /* until it is spliced: conn_drop_head() */
	struct rhost *host;      /* the validated Host of the latest head; NULL: none, or spliced */
	struct admit_key source; /* counted against the connection limits */
	char *key;               /* Sec-WebSocket-Key */
	bool carried_http;       /* plain HTTP requests went through: no upgrade */
	lws_sorted_usec_list_t head_timer;   /* a request head must arrive in time */
	bool ws;                 /* upgraded: what arrives is websocket frames */
	double waiting_since;    /* monotonic: what it was sent began to wait; 0: none waits */
	struct ws_parser parser;
	/* Only the latest ping is answered while the peer reads nothing: its
	 * payload (WS_CTRL_MAX bytes), NULL when no pong is due. */
	uint8_t pong_len;
	uint8_t *pong;
};

/* ---- the role and what it may ask ---------------------------------------- */

void conn_set_role(struct conn *c, const struct conn_role *role, void *state)
{
	c->role = role;
	c->state = state;
}

const struct conn_role *conn_role(const struct conn *c)
{
	return c->role;
}

void *conn_state(const struct conn *c)
{
	return c->state;
}

struct relay *conn_relay(const struct conn *c)
{
	return c->relay;
}

const struct http1_head *conn_head(const struct conn *c)
{
	static const struct http1_head none;

	return c->head ? c->head : &none;
}

/* A spliced connection only carries frames: its head (over 1 KiB with the
 * header index, and the raw bytes) and what was taken from it (the Host,
 * the websocket key) are not kept for the tunnel's life. */
void conn_drop_head(struct conn *c)
{
	if (c->head)
		http1_clear(c->head);
	free(c->head);
	c->head = NULL;
	azb_set_str(&c->key, NULL);
	free(c->host);
	c->host = NULL;
}

const struct rhost *conn_host(const struct conn *c)
{
	static const struct rhost none;

	return c->host ? c->host : &none;
}

const char *conn_peer(const struct conn *c)
{
	return c->st ? stream_peer(c->st) : "?";
}

bool conn_open(const struct conn *c)
{
	return c->st && c->phase == CONN_ROUTED;
}

bool conn_choked(const struct conn *c)
{
	return c->st && stream_choked(c->st);
}

bool conn_stuck(const struct conn *c)
{
	return conn_choked(c) && c->waiting_since &&
	       azb_clock_s(CLOCK_MONOTONIC) - c->waiting_since >= STUCK_S;
}

/* Every write goes here: what waits in the queue is timed from the write
 * that found it empty. */
static int write_out(struct conn *c, const uint8_t *p, size_t n)
{
	int r;

	if (!stream_choked(c->st))
		c->waiting_since = 0;
	r = stream_write(c->st, p, n);
	if (!c->waiting_since && stream_choked(c->st))
		c->waiting_since = azb_clock_s(CLOCK_MONOTONIC);
	return r;
}

void conn_pause_rx(struct conn *c, bool pause)
{
	if (c->st)
		stream_pause_rx(c->st, pause);
}

void conn_want_write(struct conn *c)
{
	if (c->st)
		stream_want_write(c->st);
}

void conn_write(struct conn *c, const void *p, size_t n)
{
	if (c->st && write_out(c, p, n) == -ENOBUFS)
		log_info("connection from %s reads too slowly: over %zu bytes queued; dropped",
			 stream_peer(c->st), c->relay->max_output_queue);
}

char *conn_query(const struct conn *c, const char *name)
{
	return c->head ? rhead_query(c->head->target, name) : NULL;
}

/* Microsoft's clients send sb-hc-token; the protocol guide's URL templates
 * spell it sbc-hc-token. One rule where both are given: sb-hc-token. */
char *conn_query_token(const struct conn *c)
{
	char *t = conn_query(c, "sb-hc-token");

	return t ? t : conn_query(c, "sbc-hc-token");
}

int conn_authorize(struct conn *c, const struct relay_hc *hc, const char *token, unsigned need,
		   time_t *expiry)
{
	char why[256], *res = sas_resource(conn_host(c)->name, hc->path);
	int status = relay_authorize(c->relay, hc, token, need, res, expiry, why, sizeof(why));

	free(res);
	if (status) {
		log_info("%s from %s refused (%d): %s", conn_head(c)->target && conn_head(c)->target[1] == '$' ? "websocket" :
			 "request", conn_peer(c), status, why);
		conn_respond(c, status, why);
	}
	return status;
}

bool conn_token_in_authorization(const struct conn *c)
{
	char *q;

	if (http1_get(conn_head(c), "ServiceBusAuthorization") ||
	    !http1_get(conn_head(c), "Authorization"))
		return false;
	q = conn_query_token(c);
	azb_free_secret(q);
	return q == NULL;
}

int conn_check_token(struct conn *c, const struct relay_hc *hc, unsigned need, time_t *expiry)
{
	const char *h = http1_get(conn_head(c), "ServiceBusAuthorization");
	char *tok = h ? xstrdup(h) : conn_query_token(c);

	if (!tok && (h = http1_get(conn_head(c), "Authorization")))
		tok = xstrdup(h);
	int status = conn_authorize(c, hc, tok, need, expiry);

	azb_free_secret(tok);
	return status;
}

void conn_authority(const struct conn *c, char *out, size_t len)
{
	const struct rhost *h = conn_host(c);

	if (h->port)
		snprintf(out, len, "%s:%u", h->name, h->port);
	else
		snprintf(out, len, "%s", h->name);
}

char *conn_rendezvous_address(const struct conn *c, const char *path, const char *action,
			      const char *id)
{
	char auth[300], *enc = url_encode_path(path), *a;

	conn_authority(c, auth, sizeof(auth));
	a = xasprintf("wss://%s/$hc/%s?sb-hc-action=%s&sb-hc-id=%s", auth, enc, action, id);
	free(enc);
	return a;
}

/* "1.2.3.4:5" / "[::1]:5" -> address and port. */
void conn_remote_endpoint(const struct conn *c, char *addr, size_t len, int *port)
{
	const char *peer = conn_peer(c);
	const char *colon = strrchr(peer, ':');
	size_t n = colon ? (size_t)(colon - peer) : strlen(peer);

	if (peer[0] == '[' && n >= 2) {
		peer++;
		n -= 2;
	}
	snprintf(addr, len, "%.*s", (int)n, peer);
	*port = colon ? atoi(colon + 1) : 0;
}

/* ---- responses and the end ----------------------------------------------- */

const char *conn_reason(int status)
{
	static const struct { int status; const char *text; } t[] = {
		{ 400, "Bad Request" }, { 401, "Unauthorized" }, { 403, "Forbidden" },
		{ 404, "Not Found" }, { 405, "Method Not Allowed" }, { 408, "Request Timeout" },
		{ 410, "Gone" }, { 431, "Request Header Fields Too Large" },
		{ 500, "Internal Server Error" }, { 502, "Bad Gateway" },
		{ 503, "Service Unavailable" }, { 504, "Gateway Timeout" },
	};

	for (size_t i = 0; i < AZB_ARRAY_SIZE(t); i++)
		if (t[i].status == status)
			return t[i].text;
	return status < 500 ? "Client Error" : "Server Error";
}

void conn_respond(struct conn *c, int status, const char *body)
{
	conn_respond_as(c, status, conn_reason(status), body);
}

void conn_respond_as(struct conn *c, int status, const char *reason, const char *body)
{
	char *msg;

	if (!c->st)
		return;
	if (!body)
		body = reason;
	msg = xasprintf("HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
			"Connection: close\r\n\r\n%s", status, reason, strlen(body), body);
	write_out(c, (const uint8_t *)msg, strlen(msg));
	free(msg);
	c->phase = CONN_CLOSING;
	stream_close(c->st);
}

void conn_upgrade(struct conn *c, const char *protocol)
{
	char acc[WS_ACCEPT_LEN + 1], *msg;

	ws_accept_for(c->key, acc);
	msg = xasprintf("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
			"Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s%s%s\r\n", acc,
			protocol ? "Sec-WebSocket-Protocol: " : "", protocol ? protocol : "",
			protocol ? "\r\n" : "");
	write_out(c, (const uint8_t *)msg, strlen(msg));
	free(msg);
	ws_parser_init(&c->parser, true);
	c->ws = true;
}

void conn_close(struct conn *c)
{
	if (c->st && c->phase != CONN_CLOSING) {
		c->phase = CONN_CLOSING;
		stream_close(c->st);
	}
}

void conn_abort(struct conn *c)
{
	if (c->st)
		stream_abort(c->st);
}

/* ---- frames out ---------------------------------------------------------- */

static bool over_limit(struct conn *c, size_t n)
{
	if (stream_queued(c->st) + n <= c->relay->max_output_queue)
		return false;
	log_info("connection from %s reads too slowly: %zu bytes queued; closing it",
		 stream_peer(c->st), stream_queued(c->st));
	conn_send_close(c, WS_CLOSE_POLICY, "the connection does not read what it is sent");
	conn_close(c);
	return true;
}

/* The headroom is the scratch buffer's, or the incoming frame's own header,
 * which is at least as large. */
void conn_send_frame_at(struct conn *c, enum ws_op op, bool fin, uint8_t *p, size_t n)
{
	uint8_t hdr[WS_HDR_MAX];
	size_t h = ws_header(hdr, op, fin, n, NULL);

	if (!c->st || (op != WS_OP_CLOSE && over_limit(c, h + n)))
		return;
	memcpy(p - h, hdr, h);
	write_out(c, p - h, h + n);
}

void conn_send_frames(struct conn *c, const uint8_t *p, size_t n)
{
	if (c->st && !over_limit(c, n))
		write_out(c, p, n);
}

void conn_send_control(struct conn *c, enum ws_op op, const void *p, size_t n)
{
	uint8_t buf[WS_HDR_MAX + WS_CTRL_MAX];

	if (!c->st || n > WS_CTRL_MAX)
		return;
	memcpy(buf + WS_HDR_MAX, p, n);
	conn_send_frame_at(c, op, true, buf + WS_HDR_MAX, n);
}

void conn_send_text(struct conn *c, const char *text)
{
	size_t n = strlen(text);
	uint8_t *buf = xmalloc(WS_HDR_MAX + n);

	memcpy(buf + WS_HDR_MAX, text, n);
	conn_send_frame_at(c, WS_OP_TEXT, true, buf + WS_HDR_MAX, n);
	free(buf);
}

void conn_send_close(struct conn *c, uint16_t code, const char *reason)
{
	uint8_t pl[WS_CTRL_MAX];

	conn_send_control(c, WS_OP_CLOSE, pl, ws_close_payload(pl, code, reason));
}

/* ---- frames in ----------------------------------------------------------- */

static int ev_data(void *arg, enum ws_op op, uint8_t *p, size_t n, bool last)
{
	struct conn *c = arg;

	if (conn_open(c) && c->role && c->role->ws_data)
		c->role->ws_data(c, op, p, n, last);
	return 0;
}

/* A peer that pings and reads nothing gets one pong when it reads again
 * (RFC 6455 5.5.3 allows answering only the latest ping), not a queue. */
static void answer_ping(struct conn *c, const uint8_t *p, size_t n)
{
	if (stream_choked(c->st)) {
		if (!c->pong)
			c->pong = xmalloc(WS_CTRL_MAX);
		memcpy(c->pong, p, n);
		c->pong_len = (uint8_t)n;
		stream_want_write(c->st);
		return;
	}
	conn_send_control(c, WS_OP_PONG, p, n);
}

/* The peer is told, the role hears of it, the connection ends. */
static void ws_failed(struct conn *c, const char *why)
{
	conn_send_close(c, WS_CLOSE_PROTOCOL, why);
	if (c->role && c->role->ws_broken)
		c->role->ws_broken(c);
	conn_close(c);
}

static int ev_control(void *arg, enum ws_op op, uint8_t *p, size_t n)
{
	struct conn *c = arg;

	if (!conn_open(c))
		return 0;
	if (op == WS_OP_PING) {
		answer_ping(c, p, n);
	} else if (op == WS_OP_CLOSE && n == 1) {
		/* A close payload is a 2-byte code or nothing (RFC 6455 5.5.1). */
		ws_failed(c, "malformed close frame");
	} else if (op == WS_OP_CLOSE && c->role && c->role->ws_close) {
		c->role->ws_close(c, p, n);
	} else if (op == WS_OP_CLOSE) {
		conn_send_control(c, WS_OP_CLOSE, p, n);
		conn_close(c);
	}
	return 0;
}

static const struct ws_events conn_events = { ev_data, ev_control };

static void ws_rx(struct conn *c, uint8_t *p, size_t n)
{
	if (ws_parse(&c->parser, p, n, &conn_events, c) == -EPROTO)
		ws_failed(c, "websocket protocol error");
}

/* ---- heads and routes ---------------------------------------------------- */

static void on_head_timeout(lws_sorted_usec_list_t *sul)
{
	struct conn *c = lws_container_of(sul, struct conn, head_timer);

	if (c->phase != CONN_HEAD)
		return;
	if (conn_head(c)->len)
		conn_respond(c, 408, "the request head did not arrive in time");
	else
		conn_close(c);
}

static void await_head(struct conn *c)
{
	lws_sul_schedule(loop_context(), 0, &c->head_timer, on_head_timeout,
			 (lws_usec_t)c->relay->header_timeout_s * LWS_US_PER_SEC);
}

static conn_start_fn starter(const struct conn_routes *r, enum rroute_kind kind)
{
	switch (kind) {
	case RR_LISTEN: return r->listen;
	case RR_CONNECT: return r->connect;
	case RR_ACCEPT: return r->accept;
	case RR_REQUEST: return r->request;
	default: return r->http;
	}
}

static void route(struct conn *c, uint8_t *rest, size_t n)
{
	const char *why = NULL;
	struct rroute rt;
	int status = rroute_decide(c->relay, c->head, c->carried_http, &rt, &why);

	if (status) {
		log_debug("request from %s refused (%d): %s", stream_peer(c->st), status, why);
		conn_respond(c, status, why);
	} else {
		if (!c->host)
			c->host = xmalloc(sizeof(*c->host));
		*c->host = rt.host;
		azb_set_str(&c->key, rt.ws_key);
		c->phase = CONN_ROUTED;
		starter(c->routes, rt.kind)(c, &rt, rest, n);
	}
	rroute_clear(&rt);
}

static void read_head(struct conn *c, uint8_t *data, size_t len)
{
	size_t used;
	int r = http1_feed_request(c->head, (const char *)data, len, &used);

	if (r == 0)
		return;
	lws_sul_cancel(&c->head_timer);
	if (r < 0)
		conn_respond(c, r == -E2BIG ? 431 : 400, r == -E2BIG ? NULL :
			     "malformed request head: lines end in CRLF, no control characters");
	else
		route(c, data + used, len - used);
}

void conn_next_head(struct conn *c, uint8_t *early, size_t n)
{
	http1_clear(c->head);
	c->phase = CONN_HEAD;
	c->carried_http = true;
	await_head(c);
	stream_pause_rx(c->st, false);
	if (n)
		read_head(c, early, n);
}

/* ---- the stream's events ------------------------------------------------- */

static int on_open(void *owner)
{
	(void)owner;
	return 0;
}

static int on_rx(void *owner, uint8_t *data, size_t len)
{
	struct conn *c = owner;

	if (c->phase == CONN_HEAD)
		read_head(c, data, len);
	else if (c->phase == CONN_ROUTED && c->ws)
		ws_rx(c, data, len);
	else if (c->phase == CONN_ROUTED && c->role && c->role->rx)
		c->role->rx(c, data, len);
	/* else waiting or closing: nothing is expected */
	if (c->ws && c->role && c->role->ws_read_done)
		c->role->ws_read_done(c);
	return 0;
}

static int on_writeable(void *owner)
{
	struct conn *c = owner;

	if (c->pong && !stream_choked(c->st)) {
		conn_send_control(c, WS_OP_PONG, c->pong, c->pong_len);
		free(c->pong);
		c->pong = NULL;
	}
	if (c->role && c->role->writeable)
		c->role->writeable(c);
	return 0;
}

static void conn_free(struct conn *c)
{
	admit_release(&c->source);
	conn_drop_head(c);
	ws_parser_clear(&c->parser);
	free(c->pong);
	free(c->key);
	free(c);
}

static void on_close(void *owner, const char *err)
{
	struct conn *c = owner;

	if (err && c->phase == CONN_ROUTED)
		log_debug("connection from %s closed: %s", stream_peer(c->st), err);
	c->st = NULL;
	lws_sul_cancel(&c->head_timer);
	if (c->role && c->role->gone)
		c->role->gone(c);
	conn_free(c);
}

static const struct stream_ops conn_stream_ops = { on_open, on_rx, on_writeable, on_close };

/* Its head must come in time, and what it does not read is bounded. */
void conn_accept(struct relay *r, int fd, const struct sockaddr *sa,
		 const struct conn_routes *routes)
{
	struct admit_key k;
	struct conn *c;

	if (!admit_take(sa, &k)) {
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->relay = r;
	c->routes = routes;
	c->source = k;
	c->head = xmalloc(sizeof(*c->head));
	http1_init(c->head, HEAD_LIMIT);
	c->st = stream_accept(fd, r->tls, &conn_stream_ops, c);
	if (!c->st) {
		conn_free(c);
		return;
	}
	/* Room past the limit for the close frame that says why. */
	stream_set_limits(c->st, r->max_output_queue + 4096, r->close_timeout_s);
	await_head(c);
}

/* Plain HTTP requests through a listener (protocol guide §5). A request of up
 * to 64 kB goes inline on the control channel; a larger or chunked one asks
 * the listener for a rendezvous websocket and streams its body there with
 * flow control, so the relay never holds a whole body. Responses come back
 * on either channel and go to the client as they arrive. */
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

#define INLINE_MAX (64 * 1024)
#define FRAME_MAX (64 * 1024)

enum hx_phase {
	HX_IDLE,
	HX_BODY,        /* reading an inline request body */
	HX_AWAIT_RDV,   /* waiting for the listener's rendezvous websocket */
	HX_STREAM,      /* request body streaming through the rendezvous */
	HX_WAIT,        /* request delivered; waiting for the response */
	HX_RESP,        /* response body streaming to the client */
};

struct hclient {
	struct rconn *rc;
	struct relay_hc *hc;
	struct rconn *chan;       /* where this request went */
	struct rconn *rdv;        /* this client's rendezvous, once there is one */
	enum hx_phase phase;
	char id[37];
	struct sbuf body;         /* inline body, or bytes read before the rendezvous */
	bool chunked_in, body_open, has_body;
	struct http1_chunked ch;
	uint64_t body_left;
	bool is_head, keep_alive;
	bool head_sent, resp_chunked, resp_len_known;
	uint64_t resp_left;
	bool chan_paused, rx_paused_for_rdv;
	bool rdv_takes_requests;  /* opened for a request, not just a response */
	struct relay_hc *rdv_hc;  /* whose listener opened the rendezvous */
	bool token_in_auth;       /* the token came in Authorization: not passed on */
	lws_sorted_usec_list_t timer;
	struct sbuf pipelined;    /* the next request's bytes, read early */
	struct hclient *next;
};

static struct hclient *clients;

static void hx_feed(struct hclient *hx, const uint8_t *p, size_t n);
static void hx_fail(struct hclient *hx, int status, const char *why);
static void stream_body(struct hclient *hx, const uint8_t *p, size_t n);

/* ---- small helpers ----------------------------------------------------- */

static struct hclient *hx_find(const char *id)
{
	for (struct hclient *h = clients; h; h = h->next)
		if (h->phase != HX_IDLE && strcmp(h->id, id) == 0)
			return h;
	return NULL;
}

static const char *via_value(struct hclient *hx, char *buf, size_t len)
{
	snprintf(buf, len, "1.1 %s", hx->rc->host.name);
	return buf;
}

/* The target without sb-hc- query parameters. */
static char *target_for_listener(const char *target)
{
	const char *q = strchr(target, '?');
	struct sbuf b;
	bool first = true;

	sbuf_init(&b);
	sbuf_addn(&b, target, q ? (size_t)(q - target) : strlen(target));
	while (q && *q) {
		const char *p = q + 1, *end = p + strcspn(p, "&");

		if ((size_t)(end - p) && strncmp(p, "sb-hc-", 6) != 0) {
			sbuf_addc(&b, first ? '?' : '&');
			sbuf_addn(&b, p, (size_t)(end - p));
			first = false;
		}
		q = *end ? end : NULL;
	}
	return sbuf_take(&b);
}

static bool hop_header(const char *name, bool token_in_authorization)
{
	static const char *const drop[] = {
		"Connection", "Content-Length", "Host", "TE", "Trailer", "Transfer-Encoding",
		"Upgrade", "Close", "Keep-Alive", "Proxy-Connection", "Expect",
		"ServiceBusAuthorization",
	};

	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		if (strcasecmp(name, drop[i]) == 0)
			return true;
	return token_in_authorization && strcasecmp(name, "Authorization") == 0;
}

/* The client's headers for the listener, in out (room for all of them
 * and two more): hop-by-hop ones and a token in Authorization stay here,
 * and the relay adds itself to Via. */
static size_t request_headers(struct hclient *hx, struct http1_header *out, char *via,
			      size_t vialen)
{
	const struct http1_head *h = &hx->rc->head;
	const char *old = http1_get(h, "Via");
	size_t n = 0;

	for (size_t i = 0; i < h->n_headers; i++)
		if (!hop_header(h->h[i].name, hx->token_in_auth) &&
		    strcasecmp(h->h[i].name, "Via") != 0)
			out[n++] = h->h[i];
	if (old)
		out[n++] = (struct http1_header){ "Via", old };
	out[n++] = (struct http1_header){ "Via", via_value(hx, via, vialen) };
	return n;
}

/* The request for the listener on chan; its address is a rendezvous on
 * this relay as chan reached it. Only the address and id when the request
 * itself goes to the rendezvous once it is open. */
static char *request_message(struct hclient *hx, struct rconn *chan, bool whole)
{
	struct http1_header hdrs[HTTP1_MAX_HEADERS + 2];
	struct hcp_request rq = { .id = hx->id, .headers = hdrs, .body = hx->has_body };
	char *target = NULL, *text, peer[64], via[300];

	rq.address = rc_rendezvous_address(chan, hx->hc->path, "request", hx->id);
	if (whole) {
		rq.method = hx->rc->head.method;
		rq.target = target = target_for_listener(hx->rc->head.target);
		rq.n_headers = request_headers(hx, hdrs, via, sizeof(via));
		rc_remote_endpoint(hx->rc, peer, sizeof(peer), &rq.peer.port);
		rq.peer.address = peer;
	}
	text = hcp_request_text(&rq);
	free((char *)rq.address);
	free(target);
	if (!text)
		log_error("a request message could not be written as JSON");
	return text;
}

/* The message goes out, or the request fails: nothing half-sent. */
static bool send_request(struct hclient *hx, struct rconn *chan, bool whole)
{
	char *text = request_message(hx, chan, whole);

	if (!text) {
		hx_fail(hx, 500, "the request could not be passed on");
		return false;
	}
	rc_send_text(chan, text);
	free(text);
	return true;
}

/* One piece of the request body message on the rendezvous. */
static void send_body_piece(struct hclient *hx, const uint8_t *p, size_t n, bool fin)
{
	static uint8_t buf[WS_HDR_MAX + FRAME_MAX];

	do {
		size_t take = n > FRAME_MAX ? FRAME_MAX : n;
		bool last = fin && take == n;

		if (take)       /* the closing piece may be empty, p NULL */
			memcpy(buf + WS_HDR_MAX, p, take);
		rc_send_frame_at(hx->chan, hx->body_open ? WS_OP_CONT : WS_OP_BINARY, last,
				 buf + WS_HDR_MAX, take);
		hx->body_open = !last;
		p += take;
		n -= take;
	} while (n);
}

/* ---- the exchange's clock ---------------------------------------------- */

static void hx_fail(struct hclient *hx, int status, const char *why)
{
	if (hx->head_sent || hx->rc->state != RC_HTTP)
		rc_close(hx->rc);
	else
		rc_respond(hx->rc, status, why);
}

static void on_timer(lws_sorted_usec_list_t *sul)
{
	struct hclient *hx = lws_container_of(sul, struct hclient, timer);

	log_info("HTTP %s %s from %s: %s", hx->rc->head.method, hx->hc->path,
		 stream_peer(hx->rc->st), hx->phase == HX_BODY ? "request body too slow" :
		 "the listener did not answer in time");
	if (hx->phase == HX_BODY)
		hx_fail(hx, 408, "the request body did not arrive in time");
	else
		hx_fail(hx, 504, "the listener did not answer in time");
}

static void arm(struct hclient *hx)
{
	lws_sul_schedule(loop_context(), 0, &hx->timer, on_timer,
			 (lws_usec_t)hx->rc->relay->request_timeout_s * LWS_US_PER_SEC);
}

/* ---- request ----------------------------------------------------------- */

static void keep_leftover(struct hclient *hx, const uint8_t *p, size_t n)
{
	if (n)
		sbuf_addn(&hx->pipelined, (const char *)p, n);
	stream_pause_rx(hx->rc->st, true);
}

/* The request is all with the listener now. */
static void request_sent(struct hclient *hx)
{
	log_debug("HTTP request %s delivered", hx->id);
	hx->phase = HX_WAIT;
	stream_pause_rx(hx->rc->st, true);
}

/* 502 with none online (the service's answer), 503 when all are busy. */
static struct rconn *pick(struct hclient *hx)
{
	int status = 0;
	struct rconn *l = hc_pick_listener(hx->hc, &status);

	if (!l)
		hx_fail(hx, status == 404 ? 502 : 503, status == 404 ? "no listener is online for "
			"this hybrid connection" : "every listener of this hybrid connection is busy");
	return l;
}

static void dispatch_inline(struct hclient *hx)
{
	struct rconn *l = pick(hx);

	if (!l || !send_request(hx, l, true))
		return;
	hx->chan = l;
	if (hx->has_body) {
		/* The whole body is in hand: one frame, one message. */
		send_body_piece(hx, (const uint8_t *)hx->body.s, hx->body.len, true);
		hx->body.len = 0;
	}
	request_sent(hx);
}

static void ask_rendezvous(struct hclient *hx)
{
	struct rconn *l = pick(hx);

	if (!l || !send_request(hx, l, false))
		return;
	hx->chan = l;
	hx->phase = HX_AWAIT_RDV;
	log_debug("HTTP %s %s: request %s asks for a rendezvous", hx->rc->head.method,
		  hx->hc->path, hx->id);
	stream_pause_rx(hx->rc->st, true);
}

static void start_stream(struct hclient *hx)
{
	hx->chan = hx->rdv;
	if (!send_request(hx, hx->chan, true))
		return;
	if (!hx->has_body) {
		request_sent(hx);
		return;
	}
	hx->phase = HX_STREAM;
	stream_pause_rx(hx->rc->st, false);
	if (hx->body.len) {
		size_t n = hx->body.len;
		uint8_t *early = (uint8_t *)sbuf_take(&hx->body);

		stream_body(hx, early, n);
		free(early);
	}
}

static void body_out(void *arg, const uint8_t *p, size_t n)
{
	struct hclient *hx = arg;

	if (n)
		send_body_piece(hx, p, n, false);
}

static void stream_body(struct hclient *hx, const uint8_t *p, size_t n)
{
	size_t used;
	bool done;

	if (hx->chunked_in) {
		long r = http1_chunked_feed(&hx->ch, p, n, body_out, hx);

		if (r < 0) {
			hx_fail(hx, 400, "malformed chunked request body");
			return;
		}
		used = (size_t)r;
		done = http1_chunked_done(&hx->ch);
	} else {
		used = n < hx->body_left ? n : (size_t)hx->body_left;
		body_out(hx, p, used);
		hx->body_left -= used;
		done = hx->body_left == 0;
	}
	if (done) {
		send_body_piece(hx, NULL, 0, true);
		request_sent(hx);
		keep_leftover(hx, p + used, n - used);
		return;
	}
	if (hx->chan && stream_choked(hx->chan->st) && !hx->rx_paused_for_rdv) {
		hx->rx_paused_for_rdv = true;
		stream_pause_rx(hx->rc->st, true);
		stream_want_write(hx->chan->st);
	}
}

static void hx_feed(struct hclient *hx, const uint8_t *p, size_t n)
{
	size_t take;

	switch (hx->phase) {
	case HX_BODY:
		take = n < hx->body_left ? n : (size_t)hx->body_left;
		sbuf_addn(&hx->body, (const char *)p, take);
		hx->body_left -= take;
		if (hx->body_left == 0) {
			dispatch_inline(hx);
			keep_leftover(hx, p + take, n - take);
		}
		return;
	case HX_AWAIT_RDV:
		sbuf_addn(&hx->body, (const char *)p, n);
		return;
	case HX_STREAM:
		stream_body(hx, p, n);
		return;
	default:
		keep_leftover(hx, p, n);
		return;
	}
}

int http_rx(struct rconn *rc, uint8_t *p, size_t n)
{
	if (rc->http)
		hx_feed(rc->http, p, n);
	return 0;
}

static struct hclient *hx_get(struct rconn *rc)
{
	struct hclient *hx = rc->http;

	if (!hx) {
		hx = xcalloc(1, sizeof(*hx));
		hx->rc = rc;
		sbuf_init(&hx->body);
		sbuf_init(&hx->pipelined);
		hx->next = clients;
		clients = hx;
		rc->http = hx;
	}
	hx->phase = HX_IDLE;
	hx->chan = NULL;
	hx->body.len = 0;
	hx->body_open = hx->head_sent = hx->resp_chunked = hx->resp_len_known = false;
	hx->chunked_in = hx->has_body = false;
	hx->body_left = hx->resp_left = 0;
	http1_chunked_init(&hx->ch);
	azb_uuid(hx->id);
	return hx;
}

/* Token from the query, ServiceBusAuthorization, or (only when neither is
 * there) Authorization; *in_auth says the last, so it is not passed on. */
static char *client_token(struct rconn *rc, bool *in_auth)
{
	char *t = rc_query(rc, "sb-hc-token");
	const char *h;

	*in_auth = false;
	if (t)
		return t;
	if ((h = http1_get(&rc->head, "ServiceBusAuthorization")))
		return xstrdup(h);
	if ((h = http1_get(&rc->head, "Authorization"))) {
		*in_auth = true;
		return xstrdup(h);
	}
	return NULL;
}

/* Body framing of the request, already checked at the head (rhead.c). */
static void request_framing(struct hclient *hx)
{
	const struct http1_head *h = &hx->rc->head;
	const char *cl = http1_get(h, "Content-Length");
	long v = 0;

	if (http1_get(h, "Transfer-Encoding")) {
		hx->chunked_in = hx->has_body = true;
		return;
	}
	if (cl && azb_parse_int(cl, 0, (long)1 << 50, &v) == 0) {
		hx->body_left = (uint64_t)v;
		hx->has_body = v > 0;
	}
}

/* A rendezvous a listener of another hybrid connection opened never
 * carries this request: it goes, and the request finds its own listener. */
static void drop_foreign_rendezvous(struct hclient *hx)
{
	if (!hx->rdv || hx->rdv_hc == hx->hc)
		return;
	hx->rdv->serving = NULL;
	rc_send_close(hx->rdv, WS_CLOSE_NORMAL, "the client moved to another hybrid connection");
	rc_close(hx->rdv);
	hx->rdv = NULL;
}

static bool client_authorized(struct rconn *rc, struct hclient *hx)
{
	char *tok;
	int denied;

	if (!hx->hc->requires_client_auth)
		return true;
	tok = client_token(rc, &hx->token_in_auth);
	denied = rc_authorize(rc, hx->hc, tok, RIGHT_SEND);
	azb_free_secret(tok);
	return !denied;
}

void http_request(struct rconn *rc, const struct rroute *rt, uint8_t *rest, size_t n)
{
	struct hclient *hx = hx_get(rc);

	rc->state = RC_HTTP;
	hx->hc = rt->hc;
	request_framing(hx);
	drop_foreign_rendezvous(hx);
	if (!client_authorized(rc, hx))
		return;
	hx->is_head = strcmp(rc->head.method, "HEAD") == 0;
	hx->keep_alive = rc->head.minor_version >= 1 && !http1_has_token(&rc->head, "Connection", "close");
	if (hx->has_body && http1_has_token(&rc->head, "Expect", "100-continue"))
		stream_write(rc->st, (const uint8_t *)"HTTP/1.1 100 Continue\r\n\r\n", 25);
	arm(hx);
	if (hx->rdv) {
		hx->rdv->serving = hx;
		start_stream(hx);
	} else if (!hx->chunked_in && rc->head.len + hx->body_left <= INLINE_MAX) {
		hx->phase = HX_BODY;
		if (!hx->has_body)
			dispatch_inline(hx);
	} else {
		ask_rendezvous(hx);
	}
	if (rc->state == RC_HTTP)
		hx_feed(hx, rest, n);
}

/* ---- response ---------------------------------------------------------- */

static bool response_hop_header(const char *name)
{
	static const char *const drop[] = {
		"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "TE",
		"Trailer", "Upgrade", "Content-Length", "Via",
	};

	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		if (strcasecmp(name, drop[i]) == 0)
			return true;
	return false;
}

static const char *listener_length(const struct hcp_msg *m)
{
	for (size_t i = 0; i < m->n_headers; i++)
		if (strcasecmp(m->headers[i].name, "Content-Length") == 0 &&
		    azb_is_uint(m->headers[i].value))
			return m->headers[i].value;
	return NULL;
}

static const char *reason_for(int status)
{
	switch (status / 100) {
	case 1: return "Continue";
	case 2: return "OK";
	case 3: return "Redirect";
	case 4: return "Client Error";
	default: return "Server Error";
	}
}

/* Status line and headers; decides how the body is framed. */
static void write_head(struct hclient *hx, const struct hcp_msg *m)
{
	bool no_body = hx->is_head || m->status / 100 == 1 || m->status == 204 || m->status == 304;
	const char *len = listener_length(m);
	struct sbuf b;
	char via[300];

	sbuf_init(&b);
	sbuf_printf(&b, "HTTP/1.1 %d %s\r\n", m->status,
		    m->description ? m->description : reason_for(m->status));
	for (size_t i = 0; i < m->n_headers; i++)
		if (!response_hop_header(m->headers[i].name))
			sbuf_printf(&b, "%s: %s\r\n", m->headers[i].name, m->headers[i].value);
	sbuf_printf(&b, "Via: %s\r\n", via_value(hx, via, sizeof(via)));
	if (no_body) {
		if (len)
			sbuf_printf(&b, "Content-Length: %s\r\n", len);
	} else if (!m->body) {
		sbuf_add(&b, "Content-Length: 0\r\n");
	} else if (len) {
		sbuf_printf(&b, "Content-Length: %s\r\n", len);
		hx->resp_len_known = true;
		hx->resp_left = strtoull(len, NULL, 10);
	} else if (hx->keep_alive) {
		sbuf_add(&b, "Transfer-Encoding: chunked\r\n");
		hx->resp_chunked = true;
	} else {
		hx->keep_alive = false;   /* the body ends when the connection does */
	}
	if (!hx->keep_alive)
		sbuf_add(&b, "Connection: close\r\n");
	sbuf_add(&b, "\r\n");
	stream_write(hx->rc->st, (const uint8_t *)b.s, b.len);
	sbuf_free(&b);
	hx->head_sent = true;
}

static void next_request(struct hclient *hx)
{
	struct rconn *rc = hx->rc;
	size_t n = hx->pipelined.len;
	uint8_t *more;

	hx->phase = HX_IDLE;
	lws_sul_cancel(&hx->timer);
	if (!hx->keep_alive) {
		rc_close(rc);
		return;
	}
	http1_clear(&rc->head);
	rc->state = RC_HEAD;
	rc_await_head(rc);
	stream_pause_rx(rc->st, false);
	if (n) {
		more = (uint8_t *)sbuf_take(&hx->pipelined);
		rc_feed(rc, more, n);
		free(more);
	}
}

static void finish_response(struct hclient *hx)
{
	if (hx->chan && hx->chan->body_to == hx)
		hx->chan->body_to = NULL;
	if (hx->chan_paused && hx->chan) {
		hx->chan_paused = false;
		stream_pause_rx(hx->chan->st, false);
	}
	if (hx->resp_chunked)
		stream_write(hx->rc->st, (const uint8_t *)"0\r\n\r\n", 5);
	if (hx->rdv && !hx->rdv_takes_requests) {
		/* Microsoft's listener reads no requests on a rendezvous it
		 * opened only to answer one: the next request goes inline. */
		if (hx->chan == hx->rdv)
			hx->chan = NULL;
		hx->rdv->serving = NULL;
		rc_send_close(hx->rdv, WS_CLOSE_NORMAL, "response complete");
		rc_close(hx->rdv);
		hx->rdv = NULL;
	}
	if (hx->resp_len_known && hx->resp_left) {
		/* The listener sent less than it announced: the client must not
		 * take a short body for a whole one. */
		stream_abort(hx->rc->st);
		return;
	}
	next_request(hx);
}

void http_on_response(struct rconn *chan, struct hcp_msg *m)
{
	struct hclient *hx = hx_find(m->id);

	log_debug("HTTP response %s: %d", m->id, m->status);
	if (!hx || (hx->chan != chan && hx->rdv != chan) || hx->phase != HX_WAIT) {
		log_debug("response for unknown or finished request %s dropped", m->id);
		chan->body_to = NULL;
		return;
	}
	write_head(hx, m);
	if (!m->body || hx->is_head || m->status == 204 || m->status == 304) {
		chan->body_to = NULL;
		finish_response(hx);
		return;
	}
	hx->chan = chan;
	chan->body_to = hx;
	hx->phase = HX_RESP;
	arm(hx);
}

void http_on_bad_response(struct rconn *chan, const char *request_id, const char *why)
{
	struct hclient *hx = hx_find(request_id);

	if (!hx || (hx->chan != chan && hx->rdv != chan) || hx->phase != HX_WAIT)
		return;
	log_info("HTTP %s %s from %s: the listener's response is unusable: %s",
		 hx->rc->head.method, hx->hc->path, stream_peer(hx->rc->st), why);
	hx_fail(hx, 502, "the listener's response could not be read");
}

void http_on_body(struct rconn *chan, uint8_t *p, size_t n, bool last)
{
	struct hclient *hx = chan->body_to;
	char size[24];

	if (!hx)
		return;
	if (hx->resp_len_known) {
		n = n < hx->resp_left ? n : (size_t)hx->resp_left;
		hx->resp_left -= n;
	}
	if (n && hx->resp_chunked) {
		int k = snprintf(size, sizeof(size), "%zx\r\n", n);

		stream_write(hx->rc->st, (const uint8_t *)size, (size_t)k);
	}
	if (n)
		stream_write(hx->rc->st, p, n);
	if (n && hx->resp_chunked)
		stream_write(hx->rc->st, (const uint8_t *)"\r\n", 2);
	if (last) {
		finish_response(hx);
		return;
	}
	arm(hx);
	if (stream_choked(hx->rc->st) && !hx->chan_paused) {
		hx->chan_paused = true;
		stream_pause_rx(chan->st, true);
		stream_want_write(hx->rc->st);
	}
}

/* ---- the rendezvous ---------------------------------------------------- */

void http_rendezvous(struct rconn *rc, const struct rroute *rt)
{
	struct hclient *hx = rt->id ? hx_find(rt->id) : NULL;

	log_debug("HTTP rendezvous %s from %s", rt->id ? rt->id : "(no id)", stream_peer(rc->st));
	if (!hx || hx->rdv || hx->hc != rt->hc) {
		rc_respond(rc, 403, "the rendezvous address is invalid or has expired");
		return;
	}
	rc_upgrade(rc, rc->key, NULL);
	rc->state = RC_RDV;
	rc->serving = hx;
	hx->rdv = rc;
	hx->rdv_hc = hx->hc;
	if (hx->phase == HX_AWAIT_RDV) {
		hx->rdv_takes_requests = true;
		start_stream(hx);
	}
}

/* ---- flow and endings -------------------------------------------------- */

void http_writeable(struct rconn *rc)
{
	struct hclient *hx = rc->http ? rc->http : rc->serving;

	if (!hx)
		return;
	if (rc == hx->rc && hx->chan_paused && !stream_choked(rc->st)) {
		hx->chan_paused = false;
		if (hx->chan)
			stream_pause_rx(hx->chan->st, false);
	}
	if (rc == hx->rdv && hx->rx_paused_for_rdv && !stream_choked(rc->st)) {
		hx->rx_paused_for_rdv = false;
		if (hx->phase == HX_STREAM)
			stream_pause_rx(hx->rc->st, false);
	}
}

static void client_gone(struct hclient *hx)
{
	struct hclient **pp = &clients;

	while (*pp && *pp != hx)
		pp = &(*pp)->next;
	if (*pp)
		*pp = hx->next;
	lws_sul_cancel(&hx->timer);
	if (hx->chan && hx->chan->body_to == hx)
		hx->chan->body_to = NULL;
	if (hx->chan_paused && hx->chan)
		stream_pause_rx(hx->chan->st, false);
	if (hx->rdv) {
		hx->rdv->serving = NULL;
		rc_send_close(hx->rdv, WS_CLOSE_NORMAL, "the client went away");
		rc_close(hx->rdv);
	}
	sbuf_free(&hx->body);
	sbuf_free(&hx->pipelined);
	free(hx);
}

/* A listener channel went: what it carried fails, and a rendezvous takes
 * its client connection with it (protocol guide §5). */
static void channel_gone(struct rconn *chan)
{
	for (struct hclient *hx = clients; hx; hx = hx->next) {
		bool was_rdv = hx->rdv == chan;

		if (was_rdv)
			hx->rdv = NULL;
		if (hx->chan == chan) {
			hx->chan = NULL;
			hx->chan_paused = false;
			if (hx->phase != HX_IDLE) {
				hx_fail(hx, 502, "the listener went away");
				continue;
			}
		}
		if (was_rdv)
			rc_close(hx->rc);
	}
}

void http_forget(struct rconn *rc)
{
	if (rc->http) {
		client_gone(rc->http);
		rc->http = NULL;
	}
	/* Any connection may have been a listener's channel or rendezvous. */
	channel_gone(rc);
	rc->serving = NULL;
	rc->body_to = NULL;
}

/* Plain HTTP requests through a listener (protocol guide §5). A request of up
 * to 64 kB goes inline on the control channel; a larger or chunked one asks
 * the listener for a rendezvous websocket and streams its body there with
 * flow control, so the relay never holds a whole body. Responses come back
 * on either channel and go to the client as they arrive, also while the
 * request body is still on its way: the request and its answer each end on
 * their own, and the exchange is done when both have. */
#include "http_client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hc_proto.h"
#include "log.h"
#include "loop.h"
#include "listener.h"

#define INLINE_MAX (64 * 1024)
#define FRAME_MAX (64 * 1024)

/* The request's side. */
enum hx_phase {
	HX_IDLE,
	HX_BODY,        /* reading an inline request body */
	HX_AWAIT_RDV,   /* waiting for the listener's rendezvous websocket */
	HX_STREAM,      /* request body streaming through the rendezvous */
	HX_DISCARD,     /* answered before its body went anywhere: the rest is dropped */
	HX_SENT,        /* request delivered (or its body dropped) */
};

/* The answer's side. */
enum hx_answer {
	ANS_NONE,
	ANS_BODY,       /* head sent; the body streams from resp_chan */
	ANS_DONE,
};

/* One client connection's exchange, kept from one request to the next. */
struct hclient {
	struct relay_exchange x;  /* in the relay's index: id, hc, rendezvous */
	struct conn *c;
	struct channel *chan;     /* where this request went */
	struct channel *resp_chan;  /* where its answer's body comes from */
	enum hx_phase phase;
	enum hx_answer answer;
	struct sbuf body;         /* inline body, or bytes read before the rendezvous */
	bool chunked_in, body_open, has_body;
	struct http1_chunked chunks;
	uint64_t body_left;
	bool is_head, keep_alive;
	bool expect_continue;     /* the client waits for 100 Continue to send its body */
	bool head_sent, resp_chunked, resp_len_known;
	uint64_t resp_left;
	bool chan_paused;         /* resp_chan waits for the client to drain */
	bool rx_paused_for_rdv;
	bool rdv_takes_requests;  /* opened for a request, not just a response */
	struct relay_hc *rdv_hc;  /* whose listener opened the rendezvous */
	bool token_in_auth;       /* the token came in Authorization: not passed on */
	lws_sorted_usec_list_t timer;
	/* When the timer was last armed or a body piece moved: a piece only
	 * notes the time, the timer re-arms itself for what is left. */
	lws_usec_t moved_us;
	struct sbuf pipelined;    /* the next request's bytes, read early */
};

static void hx_feed(struct hclient *hx, const uint8_t *p, size_t n);
static void hx_fail(struct hclient *hx, int status, const char *why);
static void stream_body(struct hclient *hx, const uint8_t *p, size_t n);
static void maybe_done(struct hclient *hx);

/* ---- small helpers ----------------------------------------------------- */

/* Between requests no listener can name it. */
static void set_phase(struct hclient *hx, enum hx_phase phase)
{
	hx->phase = phase;
	hx->x.open = phase != HX_IDLE;
}

static const char *via_value(struct hclient *hx, char *buf, size_t len)
{
	snprintf(buf, len, "1.1 %s", conn_host(hx->c)->name);
	return buf;
}

/* The relay's own query parameters: sb-hc-*, and sbc-hc-token's spelling. */
static bool relay_param(const char *p, size_t n)
{
	return (n >= 6 && strncmp(p, "sb-hc-", 6) == 0) || (n >= 7 && strncmp(p, "sbc-hc-", 7) == 0);
}

/* The target without the relay's query parameters. */
static char *target_for_listener(const char *target)
{
	const char *q = strchr(target, '?');
	struct sbuf b;
	bool first = true;

	sbuf_init(&b);
	sbuf_addn(&b, target, q ? (size_t)(q - target) : strlen(target));
	while (q && *q) {
		const char *p = q + 1, *end = p + strcspn(p, "&");

		if ((size_t)(end - p) && !relay_param(p, (size_t)(end - p))) {
			sbuf_addc(&b, first ? '?' : '&');
			sbuf_addn(&b, p, (size_t)(end - p));
			first = false;
		}
		q = *end ? end : NULL;
	}
	return sbuf_take(&b);
}

static bool dropped_header(const char *name, bool token_in_authorization)
{
	/* Ours to frame or act on, beside the hop-by-hop ones. */
	static const char *const drop[] = {
		"Content-Length", "Host", "Close", "Expect", "ServiceBusAuthorization",
	};

	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		if (strcasecmp(name, drop[i]) == 0)
			return true;
	return token_in_authorization && strcasecmp(name, "Authorization") == 0;
}

/* The client's headers for the listener, in out (room for all of them
 * and two more): hop-by-hop ones (those the client names in Connection
 * too) and a token in Authorization stay here, and the relay adds itself
 * to Via. */
static size_t request_headers(struct hclient *hx, struct http1_header *out, char *via,
			      size_t vialen)
{
	const struct http1_head *h = conn_head(hx->c);
	const char *old = http1_get(h, "Via");
	size_t n = 0;

	for (size_t i = 0; i < h->n_headers; i++)
		if (!dropped_header(h->h[i].name, hx->token_in_auth) &&
		    !http1_hop_by_hop(h->h[i].name, h->h, h->n_headers) &&
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
static char *request_message(struct hclient *hx, struct channel *chan, bool whole)
{
	struct http1_header hdrs[HTTP1_MAX_HEADERS + 2];
	struct hcp_request rq = { .id = hx->x.id, .headers = hdrs, .body = hx->has_body };
	char *target = NULL, *text, peer[64], via[300];

	rq.address = conn_rendezvous_address(chan->c, hx->x.hc->path, "request", hx->x.id);
	if (whole) {
		rq.method = conn_head(hx->c)->method;
		rq.target = target = target_for_listener(conn_head(hx->c)->target);
		rq.n_headers = request_headers(hx, hdrs, via, sizeof(via));
		conn_remote_endpoint(hx->c, peer, sizeof(peer), &rq.peer.port);
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
static bool send_request(struct hclient *hx, struct channel *chan, bool whole)
{
	char *text = request_message(hx, chan, whole);

	if (!text) {
		hx_fail(hx, 500, "the request could not be passed on");
		return false;
	}
	conn_send_text(chan->c, text);
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
		conn_send_frame_at(hx->chan->c, hx->body_open ? WS_OP_CONT : WS_OP_BINARY, last,
				   buf + WS_HDR_MAX, take);
		hx->body_open = !last;
		p += take;
		n -= take;
	} while (n);
}

/* ---- the exchange's clock ---------------------------------------------- */

static void hx_fail(struct hclient *hx, int status, const char *why)
{
	if (hx->head_sent || !conn_open(hx->c))
		conn_close(hx->c);
	else
		conn_respond(hx->c, status, why);
}

/* The client holds things up while its body is awaited and the listener
 * takes what it is sent. */
static bool client_stalled(const struct hclient *hx)
{
	return hx->phase == HX_BODY || hx->phase == HX_DISCARD ||
	       (hx->phase == HX_STREAM && !hx->rx_paused_for_rdv);
}

static lws_usec_t timeout_us(const struct hclient *hx)
{
	return (lws_usec_t)conn_relay(hx->c)->request_timeout_s * LWS_US_PER_SEC;
}

static void on_timer(lws_sorted_usec_list_t *sul)
{
	struct hclient *hx = lws_container_of(sul, struct hclient, timer);
	lws_usec_t idle = lws_now_usecs() - hx->moved_us;
	bool client = client_stalled(hx);

	if (idle < timeout_us(hx)) {
		lws_sul_schedule(loop_context(), 0, &hx->timer, on_timer, timeout_us(hx) - idle);
		return;
	}

	log_info("HTTP %s %s from %s: %s", conn_head(hx->c)->method, hx->x.hc->path,
		 conn_peer(hx->c), client ? "request body too slow" :
		 "the listener did not answer in time");
	if (client)
		hx_fail(hx, 408, "the request body did not arrive in time");
	else
		hx_fail(hx, 504, "the listener did not answer in time");
}

static void arm(struct hclient *hx)
{
	hx->moved_us = lws_now_usecs();
	lws_sul_schedule(loop_context(), 0, &hx->timer, on_timer, timeout_us(hx));
}

/* ---- request ----------------------------------------------------------- */

static void keep_leftover(struct hclient *hx, const uint8_t *p, size_t n)
{
	if (n)
		sbuf_addn(&hx->pipelined, (const char *)p, n);
	conn_pause_rx(hx->c, true);
}

/* The request is all with the listener now (or dropped, when it answered
 * first); the listener's deadline runs from here. */
static void request_sent(struct hclient *hx)
{
	log_debug("HTTP request %s delivered", hx->x.id);
	set_phase(hx, HX_SENT);
	conn_pause_rx(hx->c, true);
	arm(hx);
	maybe_done(hx);
}

/* 502 with none online (the service's answer), 503 when all are busy. */
static struct channel *pick(struct hclient *hx)
{
	int status = 0;
	struct channel *l = listener_pick(hx->x.hc, &status);

	if (!l)
		hx_fail(hx, status == 404 ? 502 : 503, status == 404 ? "no listener is online for "
			"this hybrid connection" : "every listener of this hybrid connection is busy");
	return l;
}

static void dispatch_inline(struct hclient *hx)
{
	struct channel *l = pick(hx);

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
	struct channel *l = pick(hx);

	if (!l || !send_request(hx, l, false))
		return;
	hx->chan = l;
	set_phase(hx, HX_AWAIT_RDV);
	log_debug("HTTP %s %s: request %s asks for a rendezvous", conn_head(hx->c)->method,
		  hx->x.hc->path, hx->x.id);
	conn_pause_rx(hx->c, true);
}

/* The body is wanted: a client that asked is told to send it. Until then
 * a listener may still answer without it (and the client keep it). */
static void go_on(struct hclient *hx)
{
	if (hx->expect_continue)
		conn_write(hx->c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	hx->expect_continue = false;
}

/* The body goes on in phase (to the rendezvous, or nowhere), starting with
 * what was read before it knew where to go. */
static void body_goes(struct hclient *hx, enum hx_phase phase)
{
	size_t n = hx->body.len;
	uint8_t *early;

	if (!hx->has_body) {
		request_sent(hx);
		return;
	}
	if (phase == HX_STREAM)
		go_on(hx);
	set_phase(hx, phase);
	conn_pause_rx(hx->c, false);
	if (!n)
		return;
	early = (uint8_t *)sbuf_take(&hx->body);
	stream_body(hx, early, n);
	free(early);
}

static void start_stream(struct hclient *hx)
{
	hx->chan = hx->x.rdv;
	if (send_request(hx, hx->chan, true))
		body_goes(hx, HX_STREAM);
}

static void body_out(void *arg, const uint8_t *p, size_t n)
{
	struct hclient *hx = arg;

	if (n && hx->phase == HX_STREAM)
		send_body_piece(hx, p, n, false);
}

static void stream_body(struct hclient *hx, const uint8_t *p, size_t n)
{
	size_t used;
	bool done;

	if (hx->chunked_in) {
		long r = http1_chunked_feed(&hx->chunks, p, n, body_out, hx);

		if (r < 0) {
			hx_fail(hx, 400, "malformed chunked request body");
			return;
		}
		used = (size_t)r;
		done = http1_chunked_done(&hx->chunks);
	} else {
		used = n < hx->body_left ? n : (size_t)hx->body_left;
		body_out(hx, p, used);
		hx->body_left -= used;
		done = hx->body_left == 0;
	}
	if (done) {
		if (hx->phase == HX_STREAM)
			send_body_piece(hx, NULL, 0, true);
		keep_leftover(hx, p + used, n - used);
		request_sent(hx);
		return;
	}
	hx->moved_us = lws_now_usecs();   /* idle only when nothing moves */
	if (hx->phase == HX_STREAM && conn_choked(hx->chan->c) && !hx->rx_paused_for_rdv) {
		hx->rx_paused_for_rdv = true;
		conn_pause_rx(hx->c, true);
		conn_want_write(hx->chan->c);
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
			keep_leftover(hx, p + take, n - take);
			dispatch_inline(hx);
		}
		return;
	case HX_AWAIT_RDV:
		sbuf_addn(&hx->body, (const char *)p, n);
		return;
	case HX_STREAM:
	case HX_DISCARD:
		stream_body(hx, p, n);
		return;
	default:
		keep_leftover(hx, p, n);
		return;
	}
}

/* ---- response ---------------------------------------------------------- */

static bool response_hop_header(const char *name)
{
	return http1_hop_by_hop(name, NULL, 0) || strcasecmp(name, "Content-Length") == 0 ||
	       strcasecmp(name, "Via") == 0;
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

/* Answers that carry no body to the client, whatever the listener sends
 * (RFC 9110 6.4.1). */
static bool bodiless(const struct hclient *hx, int status)
{
	return hx->is_head || status == 204 || status == 304;
}

/* Status line and headers; decides how the body is framed. A 204 has no
 * length; HEAD and 304 keep the one a GET would have had. */
static void write_head(struct hclient *hx, const struct hcp_msg *m)
{
	bool no_body = bodiless(hx, m->status);
	const char *len = m->status == 204 ? NULL : listener_length(m);
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
	conn_write(hx->c, b.s, b.len);
	sbuf_free(&b);
	hx->head_sent = true;
}

static void next_request(struct hclient *hx)
{
	size_t n = hx->pipelined.len;
	uint8_t *more = NULL;

	set_phase(hx, HX_IDLE);
	lws_sul_cancel(&hx->timer);
	if (!hx->keep_alive) {
		conn_close(hx->c);
		return;
	}
	if (n)
		more = (uint8_t *)sbuf_take(&hx->pipelined);
	conn_next_head(hx->c, more, n);
	free(more);
}

/* The rendezvous is done: it goes, and the listener hears why. */
static void drop_rendezvous(struct hclient *hx, const char *why)
{
	struct channel *rdv = hx->x.rdv;

	if (hx->chan == rdv)
		hx->chan = NULL;
	rdv->serving = NULL;
	conn_send_close(rdv->c, WS_CLOSE_NORMAL, why);
	conn_close(rdv->c);
	hx->x.rdv = NULL;
	hx->rdv_takes_requests = false;
}

/* The channel the answer comes on may read again. */
static void resume_answer(struct hclient *hx)
{
	if (hx->chan_paused && hx->resp_chan)
		conn_pause_rx(hx->resp_chan->c, false);
	hx->chan_paused = false;
}

/* Both the request and its answer are through: the next request. */
static void maybe_done(struct hclient *hx)
{
	if (hx->answer != ANS_DONE || hx->phase != HX_SENT)
		return;
	/* Microsoft's listener reads no requests on a rendezvous it opened
	 * only to answer one: the next request goes inline. */
	if (hx->x.rdv && !hx->rdv_takes_requests)
		drop_rendezvous(hx, "response complete");
	next_request(hx);
}

static void answer_done(struct hclient *hx)
{
	channel_body_done(hx->resp_chan, &hx->x);
	resume_answer(hx);
	hx->resp_chan = NULL;
	hx->answer = ANS_DONE;
	if (hx->resp_chunked)
		conn_write(hx->c, "0\r\n\r\n", 5);
	if (hx->resp_len_known && hx->resp_left) {
		/* The listener sent less than it announced: the client must not
		 * take a short body for a whole one. */
		conn_abort(hx->c);
		return;
	}
	maybe_done(hx);
}

/* ---- what the listener's channels bring --------------------------------- */

static struct hclient *of(struct relay_exchange *x)
{
	return lws_container_of(x, struct hclient, x);
}

/* Only the channels the request went to answer it, and only once; a
 * listener may answer before it has the whole body (or any of it). */
static bool expects(const struct hclient *hx, const struct channel *ch)
{
	bool asked = hx->phase == HX_AWAIT_RDV || hx->phase == HX_STREAM || hx->phase == HX_SENT;

	return (hx->chan == ch || hx->x.rdv == ch) && asked && hx->answer == ANS_NONE;
}

/* Answered without a rendezvous: the body has nowhere to go. It is read off
 * the connection so that the client hears the answer and its next request
 * is read as one, unless the client still waits to be told to send it:
 * then it may never come, and the connection ends with the answer (RFC 9110
 * 10.1.1). */
static void answered_early(struct hclient *hx)
{
	if (hx->expect_continue) {
		hx->keep_alive = false;
		request_sent(hx);
	} else {
		body_goes(hx, HX_DISCARD);
	}
}

static int on_response(struct relay_exchange *x, struct channel *ch, const struct hcp_msg *m)
{
	struct hclient *hx = of(x);

	if (!expects(hx, ch))
		return -1;
	if (hx->phase == HX_AWAIT_RDV)
		answered_early(hx);
	write_head(hx, m);
	if (!m->body || bodiless(hx, m->status)) {
		answer_done(hx);
		return 0;
	}
	hx->resp_chan = ch;
	hx->answer = ANS_BODY;
	arm(hx);
	return 1;
}

static void on_bad_response(struct relay_exchange *x, struct channel *ch, const char *why)
{
	struct hclient *hx = of(x);

	if (!expects(hx, ch))
		return;
	log_info("HTTP %s %s from %s: the listener's response is unusable: %s",
		 conn_head(hx->c)->method, hx->x.hc->path, conn_peer(hx->c), why);
	hx_fail(hx, 502, "the listener's response could not be read");
}

static void on_body(struct relay_exchange *x, struct channel *ch, uint8_t *p, size_t n, bool last)
{
	struct hclient *hx = of(x);
	char size[24];

	if (hx->resp_len_known) {
		n = n < hx->resp_left ? n : (size_t)hx->resp_left;
		hx->resp_left -= n;
	}
	if (n && hx->resp_chunked) {
		int k = snprintf(size, sizeof(size), "%zx\r\n", n);

		conn_write(hx->c, size, (size_t)k);
	}
	if (n)
		conn_write(hx->c, p, n);
	if (n && hx->resp_chunked)
		conn_write(hx->c, "\r\n", 2);
	if (last) {
		answer_done(hx);
		return;
	}
	arm(hx);
	/* A slow client holds back its own rendezvous only: pausing a control
	 * channel would stall every other request on it. An inline body is at
	 * most 64 kB (protocol guide §5); what the client does not take is
	 * queued, and past max_output_queue its connection fails. */
	if (!channel_shared(ch) && conn_choked(hx->c) && !hx->chan_paused) {
		hx->chan_paused = true;
		conn_pause_rx(ch->c, true);
		conn_want_write(hx->c);
	}
}

static void on_rendezvous(struct relay_exchange *x)
{
	struct hclient *hx = of(x);

	hx->rdv_hc = hx->x.hc;
	if (hx->phase == HX_AWAIT_RDV) {
		hx->rdv_takes_requests = true;
		start_stream(hx);
	}
}

static void on_rdv_writeable(struct relay_exchange *x, struct channel *ch)
{
	struct hclient *hx = of(x);

	if (ch == hx->x.rdv && hx->rx_paused_for_rdv && !conn_choked(ch->c)) {
		hx->rx_paused_for_rdv = false;
		if (hx->phase == HX_STREAM)
			conn_pause_rx(hx->c, false);
	}
}

/* What went on ch and is not through fails, and a rendezvous takes its
 * client connection with it (protocol guide §5). */
static void on_channel_gone(struct relay_exchange *x, struct channel *ch)
{
	struct hclient *hx = of(x);
	bool was_rdv = hx->x.rdv == ch, used = hx->chan == ch || hx->resp_chan == ch;

	if (was_rdv) {
		hx->x.rdv = NULL;
		hx->rdv_takes_requests = false;
	}
	if (hx->resp_chan == ch) {
		hx->resp_chan = NULL;
		hx->chan_paused = false;
	}
	if (hx->chan == ch)
		hx->chan = NULL;
	if (used && hx->phase != HX_IDLE && hx->answer != ANS_DONE)
		hx_fail(hx, 502, "the listener went away");
	else if (was_rdv)
		conn_close(hx->c);
}

static const struct relay_exchange_ops exchange_ops = {
	on_rendezvous, on_response, on_bad_response, on_body, on_rdv_writeable, on_channel_gone,
};

/* ---- the role ---------------------------------------------------------- */

static void on_rx(struct conn *c, uint8_t *p, size_t n)
{
	hx_feed(conn_state(c), p, n);
}

/* The client drained: the channel its response comes on may go on. */
static void on_writeable(struct conn *c)
{
	struct hclient *hx = conn_state(c);

	if (!conn_choked(c))
		resume_answer(hx);
}

static void on_gone(struct conn *c)
{
	struct hclient *hx = conn_state(c);

	relay_exchange_remove(conn_relay(c), &hx->x);
	lws_sul_cancel(&hx->timer);
	channel_body_done(hx->resp_chan, &hx->x);
	resume_answer(hx);
	if (hx->x.rdv)
		drop_rendezvous(hx, "the client went away");
	sbuf_free(&hx->body);
	sbuf_free(&hx->pipelined);
	free(hx);
}

static const struct conn_role hclient_role = {
	.name = "HTTP client", .rx = on_rx, .writeable = on_writeable, .gone = on_gone,
};

/* The exchange is the connection's from its first request to its end; each
 * request starts it afresh under a new id. */
static struct hclient *hx_get(struct conn *c)
{
	struct hclient *hx = conn_role(c) == &hclient_role ? conn_state(c) : NULL;

	if (!hx) {
		hx = xcalloc(1, sizeof(*hx));
		hx->c = c;
		hx->x.ops = &exchange_ops;
		sbuf_init(&hx->body);
		sbuf_init(&hx->pipelined);
		relay_exchange_add(conn_relay(c), &hx->x);
		conn_set_role(c, &hclient_role, hx);
	}
	set_phase(hx, HX_IDLE);
	hx->answer = ANS_NONE;
	hx->chan = hx->resp_chan = NULL;
	hx->body.len = 0;
	hx->body_open = hx->head_sent = hx->resp_chunked = hx->resp_len_known = false;
	hx->chunked_in = hx->has_body = false;
	hx->body_left = hx->resp_left = 0;
	http1_chunked_init(&hx->chunks);
	azb_uuid(hx->x.id);
	return hx;
}

/* Token from the query (sb-hc-token, else sbc-hc-token),
 * ServiceBusAuthorization, or (only when neither is there) Authorization;
 * *in_auth says the last, so it is not passed on. */
static char *client_token(const struct conn *c, bool *in_auth)
{
	char *t = conn_query_token(c);
	const char *h;

	*in_auth = false;
	if (t)
		return t;
	if ((h = http1_get(conn_head(c), "ServiceBusAuthorization")))
		return xstrdup(h);
	if ((h = http1_get(conn_head(c), "Authorization"))) {
		*in_auth = true;
		return xstrdup(h);
	}
	return NULL;
}

/* Body framing of the request, already checked at the head (rhead.c). */
static void request_framing(struct hclient *hx)
{
	const struct http1_head *h = conn_head(hx->c);
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

static bool client_authorized(struct conn *c, struct hclient *hx)
{
	char *tok;
	int denied;

	if (!hx->x.hc->requires_client_auth)
		return true;
	tok = client_token(c, &hx->token_in_auth);
	denied = conn_authorize(c, hx->x.hc, tok, RIGHT_SEND, NULL);
	azb_free_secret(tok);
	return !denied;
}

void hclient_start(struct conn *c, const struct rroute *rt, uint8_t *rest, size_t n)
{
	struct hclient *hx = hx_get(c);
	const struct http1_head *h = conn_head(c);

	hx->x.hc = rt->hc;
	request_framing(hx);
	/* A rendezvous a listener of another hybrid connection opened never
	 * carries this request: it goes, and the request finds its own listener. */
	if (hx->x.rdv && hx->rdv_hc != hx->x.hc)
		drop_rendezvous(hx, "the client moved to another hybrid connection");
	if (!client_authorized(c, hx))
		return;
	hx->is_head = strcmp(h->method, "HEAD") == 0;
	hx->keep_alive = h->minor_version >= 1 && !http1_has_token(h, "Connection", "close");
	hx->expect_continue = hx->has_body && http1_has_token(h, "Expect", "100-continue");
	arm(hx);
	if (hx->x.rdv) {
		hx->x.rdv->serving = &hx->x;
		start_stream(hx);
	} else if (!hx->chunked_in && h->len + hx->body_left <= INLINE_MAX) {
		set_phase(hx, HX_BODY);
		go_on(hx);
		if (!hx->has_body)
			dispatch_inline(hx);
	} else {
		ask_rendezvous(hx);
	}
	if (conn_open(c))
		hx_feed(hx, rest, n);
}

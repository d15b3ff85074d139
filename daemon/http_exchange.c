#include "http_exchange.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fwd_status.h"
#include "hc_proto.h"
#include "http_map.h"
#include "http_pool.h"
#include "http_target.h"
#include "log.h"
#include "loop.h"
#include "util.h"
#include "wsc.h"

/* A response body up to this goes inline on the control channel. */
#define INLINE_MAX (64 * 1024)
/* Moving to the rendezvous pauses the target, but what it already read
 * still comes: room for one more read. */
#define OUT_CAP (INLINE_MAX + LOOP_CHUNK)
/* The largest request body the relay may send inline. */
#define INBODY_MAX HCP_MSG_MAX
/* A body that has not ended this long after its head goes over the
 * rendezvous, so the client starts to see it (the SDK's rule). */
#define FLUSH_US (2LL * 1000000)
/* A finished rendezvous gets this long for its closing handshake. */
#define CLOSE_US (5LL * 1000000)

enum hx_rdv { RDV_NONE, RDV_OPENING, RDV_OPEN };

struct http_exchange {
	struct fwd_run *fr;
	const struct azb_ep *ep;
	struct http_exchange *next, **pprev;
	struct hcp_msg req;            /* the whole request, once known */
	struct hcp_addr addr;          /* its rendezvous */
	char *id;                      /* what the response names */
	unsigned chan;                 /* the control channel's connection it came on */
	struct hc_body_sink sink;      /* an inline body */
	struct sbuf inbody;            /* kept until an answer starts: a retry sends it again */
	bool inbody_over;
	bool on_rdv;                   /* the request came over the rendezvous */
	struct wsc *rdv;
	enum hx_rdv rdv_state;
	struct sbuf rdv_msg;           /* the request message arriving there */
	bool body_in;                  /* a rendezvous body is still coming */
	struct sbuf early;             /* ...framed, before the target took it */
	SSL_CTX *ctx;
	struct http_target *t;
	bool target_started, target_open, target_done;
	bool retried;                  /* on a new connection after a kept one failed */
	char *resp_text;               /* the response message */
	bool resp_body, resp_sent, buffering, frames_started, ended;
	bool follow_on;                /* waits on a rendezvous for its next request */
	uint8_t *out;                  /* response body not sent yet, after LOOP_HEADROOM */
	size_t out_len;
	int status;
	uint64_t bytes_in, bytes_out;
	int64_t start_us;
	lws_sorted_usec_list_t timer, flush;
};

static void hx_end(struct http_exchange *hx, bool abort);
static bool keep_rendezvous(struct http_exchange *hx);
static void respond_error(struct http_exchange *hx, int status, const char *desc,
			  const char *why);

static struct log_ctx hx_ctx(const struct http_exchange *hx)
{
	struct log_ctx c = fwd_ctx(hx->fr);

	c.peer = hx->req.peer[0] && strcmp(hx->req.peer, "-") ? hx->req.peer : NULL;
	return c;
}

static int64_t timeout_us(const struct http_exchange *hx)
{
	int s = hx->ep->http_timeout ? hx->ep->http_timeout : AZB_HTTP_TIMEOUT_DEFAULT;

	return (int64_t)s * 1000000;
}

/* ---- the end --------------------------------------------------------------- */

static void hx_free(struct http_exchange *hx)
{
	struct fwd_run *fr = hx->fr;

	lws_sul_cancel(&hx->timer);
	lws_sul_cancel(&hx->flush);
	if (hx->ctx)
		SSL_CTX_free(hx->ctx);
	hcp_clear(&hx->req);
	free(hx->addr.host);
	free(hx->addr.target);
	free(hx->id);
	free(hx->resp_text);
	free(hx->out);
	sbuf_free(&hx->inbody);
	sbuf_free(&hx->rdv_msg);
	sbuf_free(&hx->early);
	free(hx);
	fwd_put(fr);
}

/* One line per request, and its parts as journald fields to match on. */
static void access_log(struct http_exchange *hx)
{
	struct log_ctx c = hx_ctx(hx);
	int64_t ms = (lws_now_usecs() - hx->start_us) / 1000;
	const char *method = hx->req.method ? hx->req.method : "-";
	const char *path = hx->req.target ? hx->req.target : "-";
	char status[8], in[24], out[24], took[24];
	const struct log_field f[] = { { "AZB_HTTP_METHOD", method }, { "AZB_HTTP_PATH", path },
				       { "AZB_HTTP_STATUS", status }, { "AZB_HTTP_BYTES_IN", in },
				       { "AZB_HTTP_BYTES_OUT", out }, { "AZB_HTTP_MS", took } };

	snprintf(status, sizeof(status), "%d", hx->status);
	snprintf(in, sizeof(in), "%llu", (unsigned long long)hx->bytes_in);
	snprintf(out, sizeof(out), "%llu", (unsigned long long)hx->bytes_out);
	snprintf(took, sizeof(took), "%lld", (long long)ms);
	hx->fr->stats.bytes_down += hx->bytes_in;
	hx->fr->stats.bytes_up += hx->bytes_out;
	log_ctx_fields(LOG_INFO, &c, f, AZB_ARRAY_SIZE(f), "%s: \"%s %s\" %s, %s bytes in, %s bytes "
		       "out, %s ms", hx->fr->fwd->name, method, path, status, in, out, took);
}

static void unlink_hx(struct http_exchange *hx)
{
	if (!hx->pprev)
		return;
	*hx->pprev = hx->next;
	if (hx->next)
		hx->next->pprev = hx->pprev;
	hx->pprev = NULL;
}

static void on_close_timer(lws_sorted_usec_list_t *sul)
{
	struct http_exchange *hx = lws_container_of(sul, struct http_exchange, timer);

	if (hx->rdv)
		wsc_abort(hx->rdv);   /* gone() frees hx */
}

/* The one close path: a rendezvous still open is closed (or dropped, when
 * what it carried is not whole) and hx goes with it. */
static void hx_end(struct http_exchange *hx, bool abort)
{
	if (hx->ended)
		return;
	hx->ended = true;
	unlink_hx(hx);
	if (!hx->follow_on || hx->req.method)
		access_log(hx);
	lws_sul_cancel(&hx->flush);
	if (hx->t)
		http_target_abort(hx->t);
	hx->t = NULL;
	if (hx->fr->hc)
		hc_listener_forget(hx->fr->hc, &hx->sink);
	if (!hx->rdv) {
		hx_free(hx);
		return;
	}
	if (abort || hx->rdv_state != RDV_OPEN) {
		wsc_abort(hx->rdv);
		return;
	}
	if (keep_rendezvous(hx)) {
		hx_free(hx);
		return;
	}
	wsc_close(hx->rdv, WS_CLOSE_NORMAL, "response complete");
	lws_sul_schedule(loop_context(), 0, &hx->timer, on_close_timer, CLOSE_US);
}

static void on_timeout(lws_sorted_usec_list_t *sul)
{
	struct http_exchange *hx = lws_container_of(sul, struct http_exchange, timer);
	char why[96];

	if (hx->follow_on && !hx->req.method) {
		hx_end(hx, false);   /* no next request came: the rendezvous closes */
		return;
	}
	if (hx->resp_sent) {
		hx_end(hx, true);
		return;
	}
	if (hx->req.method && !hx->target_started) {
		snprintf(why, sizeof(why), "the request body did not arrive within %lld s",
			 (long long)(timeout_us(hx) / 1000000));
		respond_error(hx, 408, "Request Timeout", why);
		return;
	}
	snprintf(why, sizeof(why), "the target did not answer within %lld s",
		 (long long)(timeout_us(hx) / 1000000));
	respond_error(hx, 504, "Gateway Timeout", why);
}

/* Every wait of an exchange is bounded by the forward's http_timeout. */
static void arm(struct http_exchange *hx)
{
	if (!hx->ended)
		lws_sul_schedule(loop_context(), 0, &hx->timer, on_timeout, timeout_us(hx));
}

/* ---- responses ------------------------------------------------------------- */

/* Where the response goes: the rendezvous when there is one, the control
 * channel otherwise; the text, then the body as one message. */
static void send_whole(struct http_exchange *hx, const uint8_t *body, size_t n)
{
	if (hx->rdv && hx->rdv_state == RDV_OPEN) {
		wsc_send_copy(hx->rdv, WS_OP_TEXT, hx->resp_text, strlen(hx->resp_text));
		if (hx->resp_body)
			wsc_send_copy(hx->rdv, WS_OP_BINARY, body, n);
	} else if (!hx->fr->hc || hc_listener_send(hx->fr->hc, hx->chan, hx->resp_text, body, n,
						   hx->resp_body) < 0) {
		log_debug("HTTP request %s: the control channel it came on is gone", hx->id);
	}
	hx->resp_sent = true;
}

/* The text alone on the rendezvous: the body follows in frames. */
static void send_text(struct http_exchange *hx)
{
	wsc_send_copy(hx->rdv, WS_OP_TEXT, hx->resp_text, strlen(hx->resp_text));
	hx->resp_sent = true;
}

static char *response_text(struct http_exchange *hx, int status, const char *desc,
			   const struct http1_header *h, size_t n, bool body)
{
	struct hcp_response r = { hx->id, status, desc, h, n, body };
	char *text = hcp_response_text(&r);

	if (!text) {
		/* Not UTF-8 in what the target sent: its status, no headers. */
		r.description = NULL;
		r.n_headers = 0;
		text = hcp_response_text(&r);
	}
	return text;
}

/* Ours, before anything of the target's response went: a short text. */
static void respond_error(struct http_exchange *hx, int status, const char *desc,
			  const char *why)
{
	static const struct http1_header type = { "Content-Type", "text/plain; charset=utf-8" };
	struct log_ctx c = hx_ctx(hx);
	char *body = xasprintf("%d %s: %s\n", status, desc, why);

	log_ctx(LOG_INFO, &c, "%s: request %s: %s", hx->fr->fwd->name, hx->id, why);
	free(hx->resp_text);
	hx->status = status;
	hx->resp_body = true;
	hx->resp_text = response_text(hx, status, desc, &type, 1, true);
	if (hx->resp_text)
		send_whole(hx, (const uint8_t *)body, strlen(body));
	free(body);
	hx_end(hx, false);
}

static void send_frame(struct http_exchange *hx, uint8_t *p, size_t n, bool fin)
{
	wsc_send(hx->rdv, hx->frames_started ? WS_OP_CONT : WS_OP_BINARY, fin, p, n);
	hx->frames_started = true;
}

/* The empty frame with FIN that ends a streamed body. */
static void send_final(struct http_exchange *hx)
{
	uint8_t room[LOOP_HEADROOM];

	send_frame(hx, room + LOOP_HEADROOM, 0, true);
}

/* The response goes over the rendezvous: open it if need be; the target
 * waits until it can take the body. */
static void rdv_open(struct http_exchange *hx);

static void to_rendezvous(struct http_exchange *hx)
{
	hx->buffering = false;
	lws_sul_cancel(&hx->flush);
	if (hx->t)
		http_target_pause(hx->t, true);
	if (hx->rdv_state == RDV_NONE)
		rdv_open(hx);
	else if (hx->rdv_state == RDV_OPEN)
		wsc_want_write(hx->rdv);
}

static void on_flush(lws_sorted_usec_list_t *sul)
{
	struct http_exchange *hx = lws_container_of(sul, struct http_exchange, flush);

	if (hx->buffering)
		to_rendezvous(hx);
}

/* A body that fit: inline when the channel takes it now, else streamed. */
static void finish_buffered(struct http_exchange *hx)
{
	hx->buffering = false;
	lws_sul_cancel(&hx->flush);
	if (hx->rdv_state == RDV_NONE && hx->fr->hc && hc_listener_can_send(hx->fr->hc)) {
		send_whole(hx, hx->out + LOOP_HEADROOM, hx->out_len);
		hx_end(hx, false);
		return;
	}
	to_rendezvous(hx);
}

/* ---- the target's side ------------------------------------------------------ */

static struct http_exchange *of(void *owner)
{
	return owner;
}

static void t_open(void *owner)
{
	struct http_exchange *hx = of(owner);

	hx->target_open = true;
	if (hx->inbody.len)
		http_target_write(hx->t, (const uint8_t *)hx->inbody.s, hx->inbody.len);
	if (hx->early.len)
		http_target_write(hx->t, (const uint8_t *)hx->early.s, hx->early.len);
	hx->early.len = 0;
	if (!hx->body_in)
		http_target_end_body(hx->t);
	if (hx->body_in && hx->rdv && !http_target_choked(hx->t))
		wsc_pause_rx(hx->rdv, false);
}

/* The response headers to pass on: all but the hop-by-hop ones, and a
 * Content-Length that a Transfer-Encoding overrides (RFC 9112 6.3): the
 * relay frames the body by what is left. */
static size_t response_headers(const struct http1_head *h, struct http1_header *out)
{
	bool te = http1_get(h, "Transfer-Encoding") != NULL;
	size_t n = 0;

	for (size_t i = 0; i < h->n_headers; i++)
		if (!http1_hop_by_hop(h->h[i].name, h->h, h->n_headers) &&
		    !(te && strcasecmp(h->h[i].name, "Content-Length") == 0))
			out[n++] = h->h[i];
	return n;
}

static bool long_body(const struct http1_head *h)
{
	const char *cl = http1_get(h, "Content-Length");

	return cl && strtoull(cl, NULL, 10) > INLINE_MAX;
}

static void t_head(void *owner, const struct http1_head *h, bool body)
{
	struct http_exchange *hx = of(owner);
	struct http1_header hs[HTTP1_MAX_HEADERS];
	size_t n = response_headers(h, hs);

	sbuf_free(&hx->inbody);
	sbuf_init(&hx->inbody);
	hx->status = h->status;
	hx->resp_body = body;
	hx->resp_text = response_text(hx, h->status, h->reason && *h->reason ? h->reason : NULL, hs,
				      n, body);
	if (!hx->resp_text) {
		respond_error(hx, 500, "Internal Server Error", "the response could not be written");
		return;
	}
	arm(hx);
	if (body)
		hx->out = xmalloc(LOOP_HEADROOM + OUT_CAP);
	if (hx->on_rdv) {
		send_text(hx);
	} else if (!body) {
		send_whole(hx, NULL, 0);
	} else if (long_body(h) || !hx->fr->hc || !hc_listener_can_send(hx->fr->hc)) {
		to_rendezvous(hx);
	} else {
		hx->buffering = true;
		lws_sul_schedule(loop_context(), 0, &hx->flush, on_flush, FLUSH_US);
	}
}

static bool streaming(const struct http_exchange *hx)
{
	return hx->rdv && hx->rdv_state == RDV_OPEN && hx->resp_sent && hx->out_len == 0;
}

static void t_body(void *owner, uint8_t *p, size_t n)
{
	struct http_exchange *hx = of(owner);

	hx->bytes_out += n;
	arm(hx);
	if (streaming(hx)) {
		send_frame(hx, p, n, false);
		if (!wsc_can_send(hx->rdv)) {
			http_target_pause(hx->t, true);
			wsc_want_write(hx->rdv);
		}
		return;
	}
	if (hx->out_len + n > OUT_CAP) {
		/* The target was paused a read ago: ours, never seen so far. */
		if (hx->resp_sent)
			hx_end(hx, true);
		else
			respond_error(hx, 500, "Internal Server Error", "response buffer overrun");
		return;
	}
	memcpy(hx->out + LOOP_HEADROOM + hx->out_len, p, n);
	hx->out_len += n;
	if (!hx->buffering)
		http_target_pause(hx->t, true);
	else if (hx->out_len > INLINE_MAX)
		to_rendezvous(hx);
}

static void t_done(void *owner)
{
	struct http_exchange *hx = of(owner);

	hx->t = NULL;
	hx->target_done = true;
	if (hx->buffering) {
		finish_buffered(hx);
	} else if (!hx->resp_body) {
		hx_end(hx, false);
	} else if (streaming(hx)) {
		send_final(hx);
		hx_end(hx, false);
	}
	/* else the rendezvous's writeable() sends what is left */
}

static void t_writeable(void *owner)
{
	struct http_exchange *hx = of(owner);

	if (hx->body_in && hx->rdv)
		wsc_pause_rx(hx->rdv, false);
}

static void target_start(struct http_exchange *hx, enum http_body_framing framing,
			 uint64_t length);

/* A kept connection the target had closed: nothing was answered, so the
 * request goes again on a new one, once, when all of it is still here. */
static bool retry(struct http_exchange *hx)
{
	if (hx->retried || (hx->on_rdv && hx->req.body))
		return false;
	hx->retried = true;
	hx->target_open = false;
	target_start(hx, hx->req.body ? HTTP_BODY_LENGTH : HTTP_BODY_NONE, hx->inbody.len);
	return true;
}

static void t_failed(void *owner, enum http_target_fail f, const char *why)
{
	struct http_exchange *hx = of(owner);
	char text[256];

	hx->t = NULL;
	if (hx->resp_sent) {
		hx_end(hx, true);   /* the client sees a body cut short */
		return;
	}
	if (f == HTF_STALE && retry(hx))
		return;
	if (f == HTF_INTERNAL) {
		respond_error(hx, 500, "Internal Server Error", why);
		return;
	}
	snprintf(text, sizeof(text), "%s%s", f == HTF_CONNECT ? "cannot reach the target: " : "",
		 why);
	respond_error(hx, 502, "Bad Gateway", text);
}

static const struct http_target_ops target_ops = {
	t_open, t_head, t_body, t_done, t_writeable, t_failed,
};

static bool bodyless_method_wants_length(const char *m)
{
	return !strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH");
}

static bool request_connection_auth(const struct http_exchange *hx)
{
	for (size_t i = 0; i < hx->req.n_headers; i++)
		if (strcasecmp(hx->req.headers[i].name, "Authorization") == 0 &&
		    http_connection_auth(hx->req.headers[i].value))
			return true;
	return false;
}

static char *request_head(struct http_exchange *hx, bool tls, enum http_body_framing framing,
			  uint64_t length, bool keep_alive)
{
	struct http1_header hs[HCP_HEADERS_MAX];
	struct http_request_in in = { .method = hx->req.method, .headers = hs,
				      .n_headers = hx->req.n_headers, .framing = framing,
				      .length = length, .keep_alive = keep_alive };
	char *target = http_map_target(hx->fr->fwd->relay, hx->ep->http_path, hx->req.target);
	char *authority = http_authority(hx->ep->host, hx->ep->port, tls), *head;

	for (size_t i = 0; i < hx->req.n_headers; i++)
		hs[i] = (struct http1_header){ hx->req.headers[i].name, hx->req.headers[i].value };
	in.target = target;
	in.authority = authority;
	if (hx->ep->xff_for && hx->req.peer_ip[0])
		in.forwarded_for = hx->req.peer_ip;
	if (hx->ep->xff_proto)
		in.forwarded_proto = hx->fr->relay.tls ? "https" : "http";
	if (hx->ep->xff_host)
		in.forwarded_host = hx->fr->relay.host;
	head = http_request_head(&in);
	free(target);
	free(authority);
	return head;
}

static void target_start(struct http_exchange *hx, enum http_body_framing framing,
			 uint64_t length)
{
	bool tls = strcmp(hx->ep->port_name, "https") == 0;
	bool keep = http_pool_cap(hx->ep) > 0 && !request_connection_auth(hx);
	struct http_target_params p = { hx->ep->host, hx->ep->port, hx->fr->bind_address, tls,
					hx->ep->insecure, hx->ctx, NULL,
					strcmp(hx->req.method, "HEAD") == 0,
					framing != HTTP_BODY_NONE, keep ? hx->fr : NULL,
					(size_t)(hx->ep - hx->fr->fwd->ep), hx->retried };

	if (!http_map_target_safe(hx->req.target)) {
		respond_error(hx, 400, "Bad Request",
			      "a dot segment next to '\\', %2F or %5C in the request's path");
		return;
	}
	if (framing == HTTP_BODY_NONE && bodyless_method_wants_length(hx->req.method))
		framing = HTTP_BODY_LENGTH;
	p.head = request_head(hx, tls, framing, length, keep);
	hx->target_started = true;
	hx->t = http_target_open(&p, &target_ops, hx);
	free((char *)p.head);
	arm(hx);
}

/* ---- an inline request body -------------------------------------------------- */

static void sink_data(struct hc_body_sink *s, const uint8_t *p, size_t n, bool last)
{
	struct http_exchange *hx = lws_container_of(s, struct http_exchange, sink);

	if (hx->inbody.len + n > INBODY_MAX)
		hx->inbody_over = true;
	else
		sbuf_addn(&hx->inbody, (const char *)p, n);
	hx->bytes_in += n;
	if (!last)
		return;
	if (hx->inbody_over)
		respond_error(hx, 413, "Content Too Large", "an inline request body over 256 KiB");
	else
		target_start(hx, HTTP_BODY_LENGTH, hx->inbody.len);
}

static void sink_lost(struct hc_body_sink *s)
{
	hx_end(lws_container_of(s, struct http_exchange, sink), true);
}

/* ---- the rendezvous --------------------------------------------------------- */

/* The request the relay sends on the rendezvous it asked for. */
static void rdv_request(struct http_exchange *hx)
{
	struct hcp_msg m;
	char why[300];

	if (hcp_parse_from_relay(hx->rdv_msg.s, hx->rdv_msg.len, &m, why, sizeof(why)) < 0 ||
	    m.kind != HCP_REQUEST || !m.method || !m.target) {
		if (m.kind == HCP_REQUEST && !m.method)
			snprintf(why, sizeof(why), "a request without a method");
		fwd_error(hx->fr, "dropping a malformed request on a rendezvous: %s", why);
		hcp_clear(&m);
		hx_end(hx, true);
		return;
	}
	hcp_clear(&hx->req);
	hcp_move(&hx->req, &m);
	free(hx->id);
	hx->id = xstrdup(hx->req.id);
	hx->start_us = lws_now_usecs();
	sbuf_free(&hx->rdv_msg);
	sbuf_init(&hx->rdv_msg);
	hx->on_rdv = true;
	hx->body_in = hx->req.body;
	if (hx->body_in)
		wsc_pause_rx(hx->rdv, true);   /* until the target is there */
	target_start(hx, hx->body_in ? HTTP_BODY_CHUNKED : HTTP_BODY_NONE, 0);
}

/* A piece of a rendezvous body, as a chunk for the target. */
static void rdv_body(struct http_exchange *hx, const uint8_t *p, size_t n, bool last)
{
	char size[24];
	int k = snprintf(size, sizeof(size), "%zx\r\n", n);

	hx->bytes_in += n;
	arm(hx);
	if (n) {
		sbuf_addn(&hx->early, size, (size_t)k);
		sbuf_addn(&hx->early, (const char *)p, n);
		sbuf_add(&hx->early, "\r\n");
	}
	if (last) {
		sbuf_add(&hx->early, "0\r\n\r\n");
		hx->body_in = false;
	}
	if (!hx->target_open || !hx->t) {
		wsc_pause_rx(hx->rdv, true);
		return;
	}
	http_target_write(hx->t, (const uint8_t *)hx->early.s, hx->early.len);
	hx->early.len = 0;
	if (!hx->body_in)
		http_target_end_body(hx->t);
	if (hx->body_in && http_target_choked(hx->t))
		wsc_pause_rx(hx->rdv, true);
}

static int rdv_data(void *owner, enum ws_op op, uint8_t *p, size_t n, bool last)
{
	struct http_exchange *hx = owner;

	if (hx->ended)
		return 0;
	if (op == WS_OP_BINARY) {
		if (hx->on_rdv && hx->body_in)
			rdv_body(hx, p, n, last);
		return 0;
	}
	if (hx->on_rdv || hx->rdv_msg.len + n > HCP_MSG_MAX) {
		hx_end(hx, true);
		return 0;
	}
	sbuf_addn(&hx->rdv_msg, (const char *)p, n);
	if (last)
		rdv_request(hx);
	return 0;
}

static int rdv_opened(void *owner)
{
	struct http_exchange *hx = owner;

	wsc_ready(hx->rdv);
	hx->rdv_state = RDV_OPEN;
	if (hx->resp_text)
		wsc_want_write(hx->rdv);   /* a response waits for it */
	return 0;
}

static int rdv_peer_closed(void *owner, uint16_t code)
{
	struct http_exchange *hx = owner;

	(void)code;
	return hx->ended ? 0 : -1;
}

/* What waited for the rendezvous goes: the text, the body so far, and the
 * end once the target has sent it all. */
static int rdv_writeable(void *owner)
{
	struct http_exchange *hx = owner;

	if (hx->ended || !hx->resp_text)
		return 0;
	if (!hx->resp_sent)
		send_text(hx);
	if (hx->out_len) {
		send_frame(hx, hx->out + LOOP_HEADROOM, hx->out_len, false);
		hx->out_len = 0;
	}
	if (hx->target_done) {
		send_final(hx);
		hx_end(hx, false);
	} else if (!wsc_can_send(hx->rdv)) {
		wsc_want_write(hx->rdv);
	} else if (hx->t) {
		http_target_pause(hx->t, false);
	}
	return 0;
}

static void rdv_gone(void *owner, int status, const char *why)
{
	struct http_exchange *hx = owner;
	char text[200];

	hx->rdv = NULL;
	hx->rdv_state = RDV_NONE;
	if (hx->ended) {
		hx_free(hx);
		return;
	}
	wsc_gone_text(text, sizeof(text), status, why);
	if (!hx->resp_sent && !hx->on_rdv && hx->resp_text) {
		/* The response could not move: the control channel hears why. */
		respond_error(hx, 502, "Bad Gateway", text);
		return;
	}
	log_debug("HTTP request %s: rendezvous gone: %s", hx->id, text);
	hx_end(hx, true);
}

static const struct wsc_ops rdv_ops = {
	rdv_opened, rdv_data, rdv_peer_closed, rdv_writeable, rdv_gone, NULL,
};

static void rdv_open(struct http_exchange *hx)
{
	const struct fwd_relay *r = &hx->fr->relay;
	struct wsc_params p = { hx->addr.host, hx->addr.port, r->tls, r->insecure,
				hx->addr.target, NULL, hx->fr->connect_timeout, 0, &r->cred->proxy,
				0 };

	if (!hx->addr.host) {
		respond_error(hx, 500, "Internal Server Error", "the request named no rendezvous");
		return;
	}
	hx->rdv_state = RDV_OPENING;
	hx->rdv = wsc_open(&p, &rdv_ops, hx);
}

/* ---- starting ---------------------------------------------------------------- */

static struct http_exchange *hx_link(struct fwd_run *fr, const struct azb_ep *ep, SSL_CTX *ctx)
{
	struct http_exchange *hx = xcalloc(1, sizeof(*hx));

	fwd_hold(fr);
	hx->fr = fr;
	hx->ep = ep;
	hx->ctx = ctx;
	hx->start_us = lws_now_usecs();
	hx->sink = (struct hc_body_sink){ sink_data, sink_lost };
	sbuf_init(&hx->inbody);
	sbuf_init(&hx->rdv_msg);
	sbuf_init(&hx->early);
	hx->next = fr->http;
	if (fr->http)
		fr->http->pprev = &hx->next;
	fr->http = hx;
	hx->pprev = &fr->http;
	return hx;
}

static struct http_exchange *hx_new(struct fwd_run *fr, size_t ep, struct hc_listener *h,
				    struct hcp_msg *m, SSL_CTX *ctx)
{
	struct http_exchange *hx = hx_link(fr, &fr->fwd->ep[ep], ctx);

	hx->chan = hc_listener_channel(h);
	hx->id = xstrdup(m->id);
	hx->addr = m->addr;
	m->addr.host = m->addr.target = NULL;
	return hx;
}

/* The relay sends a client connection's later requests over the rendezvous
 * its first one came on (and drops the client when it closes): a whole
 * response leaves it open for the next, which a new exchange waits for. */
static bool keep_rendezvous(struct http_exchange *hx)
{
	struct http_exchange *next;

	if (!hx->on_rdv || !hx->resp_sent || hx->body_in || !hx->fr->hc ||
	    hx->fr->state == FWD_DRAINING)
		return false;
	if (hx->ctx)
		SSL_CTX_up_ref(hx->ctx);
	next = hx_link(hx->fr, hx->ep, hx->ctx);
	next->follow_on = true;
	next->chan = hx->chan;
	next->id = xstrdup(hx->id);
	next->rdv = hx->rdv;
	next->rdv_state = RDV_OPEN;
	hx->rdv = NULL;
	wsc_set_owner(next->rdv, &rdv_ops, next);
	wsc_pause_rx(next->rdv, false);
	arm(next);
	return true;
}

struct hc_body_sink *http_exchange_start(struct fwd_run *fr, size_t ep, struct hc_listener *h,
					 struct hcp_msg *m, SSL_CTX *ctx)
{
	struct http_exchange *hx;

	if (!m->method && !m->addr.host) {
		hc_listener_respond(h, m->id, 400, "Bad Request");
		SSL_CTX_free(ctx);   /* the reference the exchange would have held */
		return NULL;
	}
	hx = hx_new(fr, ep, h, m, ctx);
	if (!m->method) {
		rdv_open(hx);   /* the request itself comes there */
		arm(hx);
		return NULL;
	}
	hcp_move(&hx->req, m);
	if (!hx->req.target) {
		respond_error(hx, 400, "Bad Request", "the request has no requestTarget");
		return NULL;
	}
	if (hx->req.body) {
		arm(hx);   /* for the body */
		return &hx->sink;
	}
	target_start(hx, HTTP_BODY_NONE, 0);
	return NULL;
}

void http_exchange_stop_all(struct fwd_run *fr)
{
	/* hx_end takes each off the list. */
	for (int i = 0; fr->http && i < 1000000; i++)
		hx_end(fr->http, true);
}

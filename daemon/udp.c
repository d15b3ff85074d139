#include "udp.h"

#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "preamble.h"
#include "token.h"
#include "udpframe.h"
#include "util.h"
#include "wsc.h"

#define UDP_IDLE_US (240LL * 1000000)      /* the original's 4 minutes */
/* Bytes waiting for the relay (mostly for routes still connecting), per
 * route and across all routes of one forward; beyond them datagrams are
 * dropped and counted. */
#define UDP_QUEUE_MAX (256 * 1024)
#define UDP_FWD_QUEUE_MAX (1024 * 1024)
#define UDP_ROUTES_MAX 4096
#define UDP_READS_PER_WAKEUP 64

enum route_state { R_CONNECTING, R_HANDSHAKE, R_OPEN, R_CLOSING };

struct dgram {
	struct dgram *next;
	size_t len;            /* framed: 2-byte header + payload */
	uint8_t data[];
};

struct udp_route {
	struct udp_fwd *uf;
	struct udp_route *next, **pprev;
	struct sockaddr_storage src;
	socklen_t srclen;
	enum route_state state;
	struct wsc *ws;
	struct dgram *q, **q_tail;
	size_t q_bytes;
	uint8_t reply[PRE_REPLY_LEN];
	size_t reply_have;
	bool preamble_sent;
	struct udpf_deframer df;
	int64_t last_activity;
	lws_sorted_usec_list_t idle;
	char id[37];
	char peer[64];
};

struct udp_fwd {
	struct loop_obj obj;
	struct fwd_run *fr;
	size_t ep;
	int fd;
	struct lws *wsi;
	struct udp_route *routes;
	unsigned n_routes;
	size_t q_bytes;        /* queued over all routes */
	bool stopping;
};

static void route_close(struct udp_route *r, const char *why);

static void uf_maybe_free(struct udp_fwd *uf)
{
	if (uf->stopping && !uf->routes && !uf->wsi)
		free(uf);
}

static void route_free(struct udp_route *r)
{
	struct udp_fwd *uf = r->uf;

	*r->pprev = r->next;
	if (r->next)
		r->next->pprev = r->pprev;
	uf->n_routes--;
	uf->fr->stats.tunnels_open--;
	uf->q_bytes -= r->q_bytes;
	while (r->q) {
		struct dgram *d = r->q;

		r->q = d->next;
		free(d);
	}
	udpf_clear(&r->df);
	free(r);
	fwd_release(uf->fr);
	uf_maybe_free(uf);
}

static struct log_ctx rctx(const struct udp_route *r)
{
	struct log_ctx c = fwd_ctx(r->uf->fr);

	c.tunnel = r->id;
	c.peer = r->peer;
	return c;
}

static void route_close(struct udp_route *r, const char *why)
{
	struct log_ctx c = rctx(r);

	if (r->state == R_CLOSING)
		return;
	if (why) {
		r->uf->fr->stats.tunnels_failed++;
		fwd_error_ctx(r->uf->fr, &c, "udp flow %s from %s failed: %s", r->id, r->peer, why);
	}
	r->state = R_CLOSING;
	lws_sul_cancel(&r->idle);
	if (r->ws) {
		wsc_abort(r->ws);   /* route_free from ws_gone */
		return;
	}
	route_free(r);
}

static void on_idle(lws_sorted_usec_list_t *sul)
{
	struct udp_route *r = lws_container_of(sul, struct udp_route, idle);
	int64_t quiet = lws_now_usecs() - r->last_activity;
	struct log_ctx c = rctx(r);

	if (quiet < UDP_IDLE_US) {
		lws_sul_schedule(loop_context(), 0, &r->idle, on_idle, UDP_IDLE_US - quiet);
		return;
	}
	log_ctx(LOG_DEBUG, &c, "udp flow %s from %s idle for 4 minutes: closing", r->id,
		r->peer);
	route_close(r, NULL);
}

/* ---- websocket side ---------------------------------------------------- */

static void send_back(void *arg, const uint8_t *p, size_t n)
{
	struct udp_route *r = arg;
	struct log_ctx c;

	r->uf->fr->stats.bytes_down += n;
	if (sendto(r->uf->fd, p, n, MSG_DONTWAIT, (struct sockaddr *)&r->src, r->srclen) < 0 &&
	    errno != EAGAIN) {
		c = rctx(r);
		log_ctx(LOG_DEBUG, &c, "udp flow %s: sendto %s: %s", r->id, r->peer,
			strerror(errno));
	}
}

static int ws_open(void *owner)
{
	struct udp_route *r = owner;

	r->state = R_HANDSHAKE;
	wsc_want_write(r->ws);
	return 0;
}

static int ws_data(void *owner, enum ws_op op, uint8_t *p, size_t n, bool last)
{
	struct udp_route *r = owner;
	size_t take;

	(void)op;
	(void)last;
	r->last_activity = lws_now_usecs();
	if (r->state == R_HANDSHAKE) {
		take = PRE_REPLY_LEN - r->reply_have < n ? PRE_REPLY_LEN - r->reply_have : n;
		memcpy(r->reply + r->reply_have, p, take);
		r->reply_have += take;
		if (r->reply_have < PRE_REPLY_LEN)
			return 0;
		if (pre_check_reply(r->reply, PRE_DGRAM) < 0) {
			route_close(r, "the listener refused the port name or mode");
			return 0;
		}
		wsc_ready(r->ws);
		r->state = R_OPEN;
		wsc_want_write(r->ws);
		p += take;
		n -= take;
	}
	if (r->state == R_OPEN && n)
		udpf_feed(&r->df, p, n, send_back, r);
	return 0;
}

static int ws_peer_closed(void *owner, uint16_t code)
{
	(void)code;
	route_close(owner, NULL);
	return 0;
}

static int send_preamble(struct udp_route *r)
{
	const struct azb_ep *ep = &r->uf->fr->fwd->ep[r->uf->ep];
	uint8_t *buf = loop_scratch() + LOOP_HEADROOM;
	int n = pre_encode(buf, PRE_DGRAM, ep->port_name);

	r->preamble_sent = true;
	return wsc_send(r->ws, WS_OP_BINARY, true, buf, (size_t)n);
}

static int ws_writeable(void *owner)
{
	struct udp_route *r = owner;
	uint8_t *buf = loop_scratch() + LOOP_HEADROOM;
	struct dgram *d = r->q;
	int rc;

	if (!r->preamble_sent)
		return send_preamble(r) < 0;
	if (r->state != R_OPEN || !d)
		return 0;
	r->q = d->next;
	if (!r->q)
		r->q_tail = &r->q;
	r->q_bytes -= d->len;
	r->uf->q_bytes -= d->len;
	memcpy(buf, d->data, d->len);
	rc = wsc_send(r->ws, WS_OP_BINARY, true, buf, d->len);
	free(d);
	if (r->q)
		wsc_want_write(r->ws);
	return rc < 0;
}

static void ws_gone(void *owner, int status, const char *why)
{
	struct udp_route *r = owner;
	char msg[200];

	r->ws = NULL;
	if (r->state == R_CLOSING) {
		route_free(r);
		return;
	}
	if (status > 0)
		snprintf(msg, sizeof(msg), "the relay answered %d (%s)", status, why ? why : "");
	else if (status < 0)
		snprintf(msg, sizeof(msg), "cannot reach the relay (%s)", why ? why : "");
	else
		snprintf(msg, sizeof(msg), "relay connection lost (%s)", why ? why : "closed");
	route_close(r, msg);
}

static const struct wsc_ops route_ws_ops = { ws_open, ws_data, ws_peer_closed, ws_writeable,
					     ws_gone };

/* ---- routes ------------------------------------------------------------ */

static void route_connect(struct udp_route *r)
{
	const struct fwd_relay *rl = &r->uf->fr->relay;
	struct wsc_params p = { rl->host, rl->port, rl->tls, rl->insecure, NULL, NULL,
				r->uf->fr->connect_timeout, 0 };
	char *target = xasprintf("/$hc/%s?sb-hc-action=connect&sb-hc-id=%s",
				 r->uf->fr->fwd->relay, r->id);
	char *token = NULL;
	time_t expiry;
	int err = 0;

	if (!r->uf->fr->fwd->ep[r->uf->ep].no_auth)
		token = token_for(rl, r->uf->fr->fwd->relay, &expiry, &err);
	p.target = target;
	p.token = token;
	if (err == 0)
		r->ws = wsc_open(&p, &route_ws_ops, r);
	free(target);
	azb_free_secret(token);
	if (!r->ws)
		route_close(r, "no credentials");
}

static struct udp_route *route_new(struct udp_fwd *uf, const struct sockaddr_storage *src,
				   socklen_t len)
{
	struct udp_route *r = xcalloc(1, sizeof(*r));
	char host[INET6_ADDRSTRLEN] = "?", port[8] = "";

	r->uf = uf;
	r->src = *src;
	r->srclen = len;
	r->q_tail = &r->q;
	r->last_activity = lws_now_usecs();
	udpf_init(&r->df);
	azb_uuid(r->id);
	getnameinfo((const struct sockaddr *)src, len, host, sizeof(host), port, sizeof(port),
		    NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(r->peer, sizeof(r->peer), "%s:%s", host, port);
	r->next = uf->routes;
	if (r->next)
		r->next->pprev = &r->next;
	r->pprev = &uf->routes;
	uf->routes = r;
	uf->n_routes++;
	uf->fr->stats.tunnels_total++;
	uf->fr->stats.tunnels_open++;
	lws_sul_schedule(loop_context(), 0, &r->idle, on_idle, UDP_IDLE_US);
	return r;
}

/* May fail at once and free r: the caller must not touch r afterwards. */
static void route_start(struct udp_route *r)
{
	route_connect(r);
}

static struct udp_route *route_find(struct udp_fwd *uf, const struct sockaddr_storage *src,
				    socklen_t len)
{
	for (struct udp_route *r = uf->routes; r; r = r->next)
		if (r->srclen == len && memcmp(&r->src, src, len) == 0 && r->state != R_CLOSING)
			return r;
	return NULL;
}

static void route_queue(struct udp_route *r, const uint8_t *p, size_t n)
{
	struct dgram *d;

	/* A relay that does not keep up loses datagrams, not memory. */
	if (r->q_bytes + n + UDPF_HDR > UDP_QUEUE_MAX ||
	    r->uf->q_bytes + n + UDPF_HDR > UDP_FWD_QUEUE_MAX) {
		r->uf->fr->stats.datagrams_dropped++;
		return;
	}
	d = xmalloc(sizeof(*d) + UDPF_HDR + n);
	d->next = NULL;
	d->len = UDPF_HDR + n;
	udpf_header(d->data, n);
	memcpy(d->data + UDPF_HDR, p, n);
	*r->q_tail = d;
	r->q_tail = &d->next;
	r->q_bytes += d->len;
	r->uf->q_bytes += d->len;
	r->last_activity = lws_now_usecs();
	r->uf->fr->stats.bytes_up += n;
	if (r->state == R_OPEN)
		wsc_want_write(r->ws);
}

/* ---- the local socket -------------------------------------------------- */

static int uf_readable(struct loop_obj *o, struct lws *wsi)
{
	struct udp_fwd *uf = (struct udp_fwd *)o;
	uint8_t *buf = loop_scratch() + LOOP_HEADROOM;
	struct sockaddr_storage src;
	struct udp_route *r;

	(void)wsi;
	for (int i = 0; i < UDP_READS_PER_WAKEUP; i++) {
		socklen_t len = sizeof(src);
		ssize_t n = recvfrom(uf->fd, buf, UDPF_MAX_PAYLOAD, MSG_DONTWAIT,
				     (struct sockaddr *)&src, &len);

		if (n < 0)
			break;
		r = route_find(uf, &src, len);
		if (r) {
			route_queue(r, buf, (size_t)n);
		} else if (uf->n_routes >= UDP_ROUTES_MAX) {
			uf->fr->stats.datagrams_dropped++;
		} else {
			/* Queued first: starting may fail and free the route. */
			r = route_new(uf, &src, len);
			route_queue(r, buf, (size_t)n);
			route_start(r);
		}
	}
	return 0;
}

static int uf_writeable(struct loop_obj *o, struct lws *wsi)
{
	(void)o;
	(void)wsi;
	return 0;
}

static void uf_close(struct loop_obj *o, struct lws *wsi)
{
	struct udp_fwd *uf = (struct udp_fwd *)o;

	(void)wsi;
	uf->wsi = NULL;
	uf->fd = -1;
	uf_maybe_free(uf);
}

static const struct loop_fd_ops uf_ops = { "udp", uf_readable, uf_writeable, uf_close };

static int bind_udp(const struct azb_ep *ep)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	char port[8];
	int one = 1, fd, r;

	snprintf(port, sizeof(port), "%u", ep->port);
	if (getaddrinfo(ep->host, port, &hints, &ai) != 0)
		return -EADDRNOTAVAIL;
	fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		freeaddrinfo(ai);
		return r;
	}
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	r = bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ? -errno : fd;
	if (r < 0)
		close(fd);
	freeaddrinfo(ai);
	return r;
}

int udp_fwd_start(struct fwd_run *fr, size_t ep, struct udp_fwd **out)
{
	struct udp_fwd *uf;
	int fd = bind_udp(&fr->fwd->ep[ep]);

	if (fd < 0)
		return fd;
	uf = xcalloc(1, sizeof(*uf));
	uf->obj.fd_ops = &uf_ops;
	uf->fr = fr;
	uf->ep = ep;
	uf->fd = fd;
	uf->wsi = loop_adopt(fd, &uf->obj);
	if (!uf->wsi) {
		free(uf);
		return -EIO;
	}
	*out = uf;
	return 0;
}

void udp_fwd_stop(struct udp_fwd *uf)
{
	struct udp_route *r, *next;

	uf->stopping = true;
	for (r = uf->routes; r; r = next) {
		next = r->next;
		route_close(r, NULL);
	}
	if (uf->wsi) {
		lws_set_opaque_user_data(uf->wsi, NULL);
		loop_kill_now(uf->wsi);
		uf->wsi = NULL;
	}
	uf_maybe_free(uf);
}

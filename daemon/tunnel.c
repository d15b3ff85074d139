#include "tunnel.h"

#include <errno.h>
#include <poll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "dial.h"
#include "log.h"
#include "loop.h"
#include "token.h"
#include "udpframe.h"
#include "util.h"
#include "wsc.h"

/* The relay connection has its own deadline (connect_timeout, until the
 * preamble is through); this one bounds the rest of the set-up on top of it:
 * the relay's name lookup and, on the listener side, dialling the target. */
#define TUNNEL_SETUP_EXTRA_US (20LL * 1000000)
/* How long a tunnel may take to finish a graceful close. */
#define TUNNEL_LINGER_US (10LL * 1000000)
/* A UDP flow with no datagram either way for this long ends (the original's). */
#define TUNNEL_UDP_IDLE_US (240LL * 1000000)

enum tstate {
	T_CONNECTING,    /* relay host name, websocket upgrade */
	T_HANDSHAKE,     /* preamble out / reply in (sender); preamble in (listener) */
	T_DIALING,       /* listener: connecting to the target */
	T_OPEN,
	T_CLOSING,
};

static const char *state_names[] = { "connecting", "handshake", "dialing", "open", "closing" };

struct tunnel {
	struct loop_obj local_obj;  /* the local socket's wsi points here */
	struct fwd_run *fr;
	struct tunnel *next, **pprev;
	enum tstate state;
	bool sender;
	size_t ep;
	int fd;                     /* local socket; owned until adopted */
	struct lws *local;
	struct wsc *ws;
	struct dial *dial;
	char *rv_host;              /* listener: the rendezvous address's host, */
	uint16_t rv_port;           /* port */
	char *rv_target;            /* and path with query */
	char *peer;
	char id[37];
	/* handshake */
	uint8_t reply[PRE_REPLY_LEN];
	size_t reply_have;
	bool preamble_sent, reply_pending;
	enum pre_verdict verdict;
	struct pre_parser pre;
	/* relay -> local bytes the local socket did not take yet */
	uint8_t *down;
	size_t down_len, down_off, down_cap;
	bool local_readable;        /* UDP: POLLIN seen, read pending in ws writeable */
	bool local_paused;          /* POLLIN off until the relay side can take more */
	uint8_t *upbuf;             /* local -> relay bytes read early (the peer had finished) */
	size_t up_len, up_off;
	bool up_eof;                /* ...and their end */
	bool local_eof;             /* local EOF: close frame sent */
	bool peer_eof;              /* close frame received */
	bool shut_wr;
	bool failed;
	bool dgram;                 /* UDP target: 2-byte length framing */
	struct udpf_deframer df;
	int64_t last_activity;
	uint64_t up, down_total;
	int64_t started;
	lws_sorted_usec_list_t timer;
	struct loop_rearm rearm;
};

static struct log_ctx tctx(const struct tunnel *t)
{
	struct log_ctx c = { t->fr->fwd->name, t->fr->fwd->relay, t->id, t->peer };

	return c;
}

static struct tunnel *from_local(struct loop_obj *o)
{
	return (struct tunnel *)((char *)o - offsetof(struct tunnel, local_obj));
}

static void set_timer(struct tunnel *t, int64_t us);

static struct tunnel *tunnel_new(struct fwd_run *fr, bool sender, const char *peer)
{
	struct tunnel *t = xcalloc(1, sizeof(*t));

	t->fr = fr;
	t->sender = sender;
	t->fd = -1;
	t->peer = xstrdup(peer ? peer : "-");
	t->started = lws_now_usecs();
	azb_uuid(t->id);
	t->next = fr->tunnels;
	if (t->next)
		t->next->pprev = &t->next;
	t->pprev = &fr->tunnels;
	fr->tunnels = t;
	fr->stats.tunnels_total++;
	fr->stats.tunnels_open++;
	set_timer(t, TUNNEL_SETUP_EXTRA_US + (int64_t)fr->connect_timeout * 1000000);
	return t;
}

static void tunnel_free(struct tunnel *t)
{
	struct log_ctx c = tctx(t);
	double secs = (double)(lws_now_usecs() - t->started) / 1e6;

	log_ctx(LOG_DEBUG, &c, "tunnel closed%s: %llu bytes up, %llu down, %.3f s",
		t->failed ? " after a failure" : "", (unsigned long long)t->up,
		(unsigned long long)t->down_total, secs);
	*t->pprev = t->next;
	if (t->next)
		t->next->pprev = t->pprev;
	t->fr->stats.tunnels_open--;
	fwd_release(t->fr);
	loop_rearm_cancel(&t->rearm);
	udpf_clear(&t->df);
	free(t->upbuf);
	free(t->down);
	free(t->rv_target);
	free(t->rv_host);
	free(t->peer);
	free(t);
}

static void tunnel_opened(struct tunnel *t)
{
	struct log_ctx c = tctx(t);

	t->state = T_OPEN;
	lws_sul_cancel(&t->timer);
	log_ctx(LOG_DEBUG, &c, "tunnel open after %.3f s",
		(double)(lws_now_usecs() - t->started) / 1e6);
}

static void maybe_free(struct tunnel *t)
{
	if (t->state == T_CLOSING && !t->ws && !t->local && !t->dial)
		tunnel_free(t);
}

/* Count and log a failure once: a tunnel fails on several paths at once. */
static void tunnel_failed(struct tunnel *t, const char *why)
{
	struct log_ctx c = tctx(t);

	if (t->failed)
		return;
	t->failed = true;
	t->fr->stats.tunnels_failed++;
	fwd_error_ctx(t->fr, &c, "tunnel %s (peer %s) failed while %s: %s", t->id, t->peer,
		      state_names[t->state], why);
}

/* Close with FIN, not RST: the kernel resets a socket closed with unread
 * bytes, so discard what the client already sent first. */
static void quiet_shutdown(int fd)
{
	char sink[4096];

	shutdown(fd, SHUT_WR);
	for (int i = 0; i < 64 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
		;
}

void tunnel_close(struct tunnel *t, const char *reason)
{
	if (t->state == T_CLOSING)
		return;
	if (reason)
		tunnel_failed(t, reason);
	if (t->fd >= 0 && !t->dgram)
		quiet_shutdown(t->fd);
	t->state = T_CLOSING;
	lws_sul_cancel(&t->timer);
	if (t->dial)
		dial_cancel(t->dial);
	t->dial = NULL;
	if (t->ws)
		wsc_abort(t->ws);
	if (t->local)
		loop_kill(t->local);
	else if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	maybe_free(t);
}

void tunnel_close_all(struct fwd_run *fr, const char *reason)
{
	struct tunnel *t = fr->tunnels, *next;

	for (; t; t = next) {
		next = t->next;
		tunnel_close(t, reason);
	}
}

static void on_timer(lws_sorted_usec_list_t *sul)
{
	struct tunnel *t = lws_container_of(sul, struct tunnel, timer);

	if (t->state == T_OPEN && t->dgram) {
		int64_t idle = lws_now_usecs() - t->last_activity;

		if (idle < TUNNEL_UDP_IDLE_US)
			set_timer(t, TUNNEL_UDP_IDLE_US - idle);
		else
			tunnel_close(t, NULL);
		return;
	}
	if (t->state == T_OPEN && t->local_eof && t->peer_eof)
		tunnel_close(t, NULL);
	else
		tunnel_close(t, t->state == T_OPEN ? "close not completed in time" : "timed out");
}

static void set_timer(struct tunnel *t, int64_t us)
{
	lws_sul_schedule(loop_context(), 0, &t->timer, on_timer, us);
}

/* ---- relay -> local ---------------------------------------------------- */

static void down_append(struct tunnel *t, const uint8_t *p, size_t n)
{
	if (t->down_off == t->down_len)
		t->down_off = t->down_len = 0;
	if (t->down_len + n > t->down_cap) {
		t->down_cap = t->down_len + n;
		t->down = xrealloc(t->down, t->down_cap);
	}
	memcpy(t->down + t->down_len, p, n);
	t->down_len += n;
	/* The relay side waits until the local socket has taken this. */
	wsc_pause_rx(t->ws, true);
	if (t->local)
		loop_want_write(t->local, &t->rearm);
}

static void maybe_finish(struct tunnel *t)
{
	if (t->down_off != t->down_len)
		return;
	if (t->peer_eof && !t->shut_wr && t->fd >= 0) {
		shutdown(t->fd, SHUT_WR);
		t->shut_wr = true;
	}
	if (t->local_eof && t->peer_eof && !t->ws)
		tunnel_close(t, NULL);
}

static void send_datagram(void *arg, const uint8_t *p, size_t n)
{
	struct tunnel *t = arg;
	struct log_ctx c;

	/* UDP may drop; so may we when the target's queue is full. */
	if (send(t->fd, p, n, MSG_DONTWAIT) < 0 && errno != EAGAIN && errno != ECONNREFUSED) {
		c = tctx(t);
		log_ctx(LOG_DEBUG, &c, "tunnel %s: udp send: %s", t->id, strerror(errno));
	}
}

/* Write straight from the caller's buffer when nothing is queued, so the
 * common case costs no copy. */
static int down_write(struct tunnel *t, const uint8_t *p, size_t n)
{
	ssize_t w = 0;

	if (t->dgram && t->state == T_OPEN) {
		t->down_total += n;
		t->fr->stats.bytes_down += n;
		t->last_activity = lws_now_usecs();
		udpf_feed(&t->df, p, n, send_datagram, t);
		return 0;
	}

	t->down_total += n;
	t->fr->stats.bytes_down += n;
	if (t->down_off == t->down_len && t->state == T_OPEN && t->local) {
		w = write(t->fd, p, n);
		if (w < 0 && errno != EAGAIN)
			return -errno;
		if (w < 0)
			w = 0;
	}
	if ((size_t)w < n)
		down_append(t, p + w, n - (size_t)w);
	return 0;
}

static int flush_down(struct tunnel *t)
{
	ssize_t w = write(t->fd, t->down + t->down_off, t->down_len - t->down_off);

	if (w < 0)
		return errno == EAGAIN ? 0 : -errno;
	t->down_off += (size_t)w;
	if (t->down_off < t->down_len) {
		loop_want_write(t->local, &t->rearm);
		return 0;
	}
	/* Drained: give the memory back, idle tunnels hold no buffer. */
	free(t->down);
	t->down = NULL;
	t->down_off = t->down_len = t->down_cap = 0;
	if (t->ws)
		wsc_pause_rx(t->ws, false);
	maybe_finish(t);
	return 0;
}

/* ---- local side (adopted fd) ------------------------------------------- */

static void pump(struct tunnel *t);
static void local_pause(struct tunnel *t, bool pause);
static void drain_local(struct tunnel *t);

static int local_readable(struct loop_obj *o, struct lws *wsi)
{
	struct tunnel *t = from_local(o);

	(void)wsi;
	if (t->dgram || t->state != T_OPEN) {
		/* Read when the relay side can take it: stop polling until then. */
		local_pause(t, true);
		t->local_readable = true;
		if (t->ws && t->state == T_OPEN)
			wsc_want_write(t->ws);
		return 0;
	}
	pump(t);
	return 0;
}

static int dial_finished(struct tunnel *t);

static int local_writeable(struct loop_obj *o, struct lws *wsi)
{
	struct tunnel *t = from_local(o);
	int r;

	(void)wsi;
	if (t->state == T_DIALING)
		return dial_finished(t);
	if (t->down_off == t->down_len)
		return 0;
	r = flush_down(t);
	if (r < 0) {
		tunnel_close(t, strerror(-r));
		return 0;
	}
	return 0;
}

static void local_close(struct loop_obj *o, struct lws *wsi)
{
	struct tunnel *t = from_local(o);

	(void)wsi;
	/* lws ends a raw fd on POLLHUP when it is not polling for input: the
	 * peer hung up after we shut our side while we were paused. What it
	 * sent last is still readable until the fd goes, after this call. */
	if (t->state == T_OPEN && !t->dgram && !t->local_eof && !t->up_eof && t->fd >= 0)
		drain_local(t);
	t->local = NULL;
	t->fd = -1;
	loop_rearm_cancel(&t->rearm);
	if (t->state == T_CLOSING) {
		maybe_free(t);
		return;
	}
	if (!t->local_eof && !t->up_eof && !t->dgram) {
		tunnel_close(t, "the local socket closed abruptly");
		return;
	}
	/* The local side is done: let the relay side finish what is queued
	 * and its close handshake. */
	if (!t->ws) {
		tunnel_close(t, NULL);
		return;
	}
	if (t->up_off == t->up_len)
		wsc_close(t->ws, WS_CLOSE_NORMAL, "Shutdown");
	else
		wsc_want_write(t->ws);
	set_timer(t, TUNNEL_LINGER_US);
}

static const struct loop_fd_ops local_ops = { "tunnel", local_readable, local_writeable,
					      local_close };

static int adopt_local(struct tunnel *t)
{
	t->local_obj.fd_ops = &local_ops;
	t->local = loop_adopt(t->fd, &t->local_obj);
	if (!t->local) {
		t->fd = -1;   /* lws closed it */
		return -EIO;
	}
	return 0;
}

/* ---- websocket side ---------------------------------------------------- */

static int send_preamble(struct tunnel *t)
{
	const struct azb_ep *ep = &t->fr->fwd->ep[t->ep];
	uint8_t *buf = loop_scratch() + LOOP_HEADROOM;
	int n = pre_encode(buf, ep->kind == AZB_KIND_UDP ? PRE_DGRAM : PRE_STREAM, ep->port_name);

	t->preamble_sent = true;
	return wsc_send(t->ws, WS_OP_BINARY, true, buf, (size_t)n);
}

static int send_reply(struct tunnel *t)
{
	uint8_t *buf = loop_scratch() + LOOP_HEADROOM;
	int r;

	pre_reply(buf, t->verdict, pre_mode_of(&t->pre));
	t->reply_pending = false;
	r = wsc_send(t->ws, WS_OP_BINARY, true, buf, PRE_REPLY_LEN);
	if (r < 0)
		return r;
	if (t->verdict != PRE_OK) {
		/* After the reply, not before: the sender reads why. */
		wsc_close(t->ws, WS_CLOSE_NORMAL, "refused");
		return 0;
	}
	tunnel_opened(t);
	local_pause(t, false);
	if (t->dgram) {
		t->last_activity = lws_now_usecs();
		set_timer(t, TUNNEL_UDP_IDLE_US);
		/* Datagrams that came with the preamble. */
		if (t->down_off != t->down_len)
			down_write(t, t->down + t->down_off, t->down_len - t->down_off);
		t->down_off = t->down_len = 0;
	}
	wsc_pause_rx(t->ws, t->down_off != t->down_len);
	return 0;
}

/* One datagram from the target per websocket message, as the original. */
static int pump_up_dgram(struct tunnel *t)
{
	uint8_t *buf = loop_scratch() + LOOP_HEADROOM;
	ssize_t n = recv(t->fd, buf + UDPF_HDR, UDPF_MAX_PAYLOAD, MSG_DONTWAIT);

	if (n < 0) {
		if (errno != EAGAIN && errno != ECONNREFUSED)
			return -errno;
		t->local_readable = false;
		local_pause(t, false);
		return 0;
	}
	udpf_header(buf, (size_t)n);
	t->up += (uint64_t)n;
	t->fr->stats.bytes_up += (uint64_t)n;
	t->last_activity = lws_now_usecs();
	if (wsc_send(t->ws, WS_OP_BINARY, true, buf, UDPF_HDR + (size_t)n) < 0)
		return -EIO;
	wsc_want_write(t->ws);
	return 0;
}

static void local_pause(struct tunnel *t, bool pause)
{
	if (!t->local || t->local_paused == pause)
		return;
	t->local_paused = pause;
	lws_rx_flow_control(t->local, pause ? 0 : 1);
}

/* Has the local peer sent FIN? Then what is left in the socket is finite and
 * may be read now: lws closes a raw fd on POLLHUP when POLLIN is off, and
 * unread bytes would be lost. */
static bool peer_finished(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLRDHUP };

	return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP));
}

/* What a finished peer left in the socket: the kernel's receive buffer,
 * a few MiB at most; the cap only guards against a broken kernel. */
#define TUNNEL_DRAIN_MAX (64u * 1024 * 1024)

static void drain_local(struct tunnel *t)
{
	for (;;) {
		ssize_t n;

		if (t->up_len - t->up_off > TUNNEL_DRAIN_MAX)
			return;
		t->upbuf = xrealloc(t->upbuf, t->up_len + LOOP_CHUNK);
		n = read(t->fd, t->upbuf + t->up_len, LOOP_CHUNK);
		if (n > 0) {
			t->up_len += (size_t)n;
			continue;
		}
		if (n == 0)
			t->up_eof = true;
		return;
	}
}

static void send_up(struct tunnel *t, uint8_t *buf, size_t n)
{
	t->up += n;
	t->fr->stats.bytes_up += n;
	wsc_send(t->ws, WS_OP_BINARY, true, buf, n);
}

/* Move one chunk local -> relay: 1 when more is likely, 0 when the socket
 * is empty or ended, or -errno. */
static int up_chunk(struct tunnel *t)
{
	uint8_t *buf = loop_scratch() + LOOP_HEADROOM;
	ssize_t n;

	if (t->up_off < t->up_len) {
		n = (ssize_t)(t->up_len - t->up_off < LOOP_CHUNK ? t->up_len - t->up_off : LOOP_CHUNK);
		memcpy(buf, t->upbuf + t->up_off, (size_t)n);
		t->up_off += (size_t)n;
		if (t->up_off == t->up_len) {
			free(t->upbuf);
			t->upbuf = NULL;
			t->up_off = t->up_len = 0;
		}
		send_up(t, buf, (size_t)n);
		return 1;
	}
	if (t->up_eof || t->fd < 0)
		n = 0;
	else
		n = read(t->fd, buf, LOOP_CHUNK);
	if (n > 0) {
		send_up(t, buf, (size_t)n);
		return n == LOOP_CHUNK;
	}
	if (n == 0) {
		t->local_eof = true;
		local_pause(t, true);
		wsc_close(t->ws, WS_CLOSE_NORMAL, "Shutdown");
		maybe_finish(t);
		return 0;
	}
	return errno == EAGAIN || errno == EINTR ? 0 : -errno;
}

/* Local -> relay without a buffer of our own: read straight into the frame
 * while the relay side takes it; when it does not, stop polling the local
 * socket until it does. */
static void pump(struct tunnel *t)
{
	for (int i = 0; i < 8; i++) {
		int r;

		if (t->local_eof || !t->ws)
			return;
		if (!wsc_can_send(t->ws)) {
			local_pause(t, true);
			if (t->fd >= 0 && !t->up_eof && peer_finished(t->fd))
				drain_local(t);
			wsc_want_write(t->ws);
			return;
		}
		r = up_chunk(t);
		if (r < 0) {
			tunnel_close(t, strerror(-r));
			return;
		}
		if (r == 0) {
			if (!t->local_eof)
				local_pause(t, false);
			return;
		}
	}
	/* Bounded turn: carry on when the relay side is writeable again. */
	local_pause(t, true);
	wsc_want_write(t->ws);
}

static int ws_writeable(void *owner)
{
	struct tunnel *t = owner;
	int r;

	if (t->sender && t->state == T_HANDSHAKE && !t->preamble_sent)
		return send_preamble(t) < 0;
	if (!t->sender && t->reply_pending)
		return send_reply(t) < 0;
	if (t->state != T_OPEN)
		return 0;
	if (!t->dgram) {
		pump(t);
		return 0;
	}
	r = t->local_readable ? pump_up_dgram(t) : 0;
	if (r < 0)
		tunnel_close(t, strerror(-r));
	return 0;
}

static int ws_open(void *owner)
{
	struct tunnel *t = owner;

	t->state = T_HANDSHAKE;
	if (t->sender)
		wsc_want_write(t->ws);
	return 0;
}

static int sender_reply(struct tunnel *t, const uint8_t *p, size_t n)
{
	size_t take = PRE_REPLY_LEN - t->reply_have;

	if (take > n)
		take = n;
	memcpy(t->reply + t->reply_have, p, take);
	t->reply_have += take;
	if (t->reply_have < PRE_REPLY_LEN)
		return 0;
	if (pre_check_reply(t->reply, PRE_STREAM) < 0) {
		tunnel_close(t, "the listener refused the port name or mode");
		return 0;
	}
	wsc_ready(t->ws);
	if (adopt_local(t) < 0) {
		tunnel_close(t, "cannot adopt the client socket");
		return 0;
	}
	tunnel_opened(t);
	return n > take ? down_write(t, p + take, n - take) : 0;
}

static int start_dial(struct tunnel *t);

/* Answer with an error reply, then close gracefully. */
static int refuse(struct tunnel *t, enum pre_verdict v, const char *why)
{
	tunnel_failed(t, why);
	t->verdict = v;
	t->reply_pending = true;
	wsc_want_write(t->ws);
	set_timer(t, TUNNEL_LINGER_US);
	return 0;
}

static int listener_preamble(struct tunnel *t, const uint8_t *p, size_t n)
{
	size_t used;
	int r = pre_feed(&t->pre, p, n, &used);

	if (r == 0)
		return 0;
	if (r < 0)
		return refuse(t, PRE_BAD_VERSION, "unsupported preamble version or mode");
	wsc_ready(t->ws);
	t->verdict = pre_select(t->fr->fwd, t->pre.name, pre_mode_of(&t->pre), &t->ep);
	if (t->verdict == PRE_SILENT) {
		char why[300];

		snprintf(why, sizeof(why), "no binding for port name \"%s\"", t->pre.name);
		tunnel_close(t, why);
		return 0;
	}
	if (t->verdict != PRE_OK)
		return refuse(t, t->verdict, t->verdict == PRE_WANT_DGRAM ?
			      "port name is UDP but the sender asked for a stream" :
			      "port name is a stream but the sender asked for UDP");
	if (n > used)
		down_append(t, p + used, n - used);
	return start_dial(t);
}

static int ws_data(void *owner, enum ws_op op, uint8_t *p, size_t n, bool last)
{
	struct tunnel *t = owner;
	int r;

	(void)op;
	(void)last;
	switch (t->state) {
	case T_HANDSHAKE:
		if (t->sender)
			return sender_reply(t, p, n);
		if (t->failed)
			return 0;
		return listener_preamble(t, p, n);
	case T_DIALING:
		down_append(t, p, n);
		return 0;
	case T_OPEN:
		r = down_write(t, p, n);
		if (r < 0)
			tunnel_close(t, strerror(-r));
		return 0;
	default:
		return 0;
	}
}

static int ws_peer_closed(void *owner, uint16_t code)
{
	struct tunnel *t = owner;
	struct log_ctx c = tctx(t);

	if (t->state != T_OPEN) {
		tunnel_close(t, "the peer closed the connection during set-up");
		return 0;
	}
	if (code != WS_CLOSE_NORMAL && code != WS_CLOSE_NO_STATUS)
		log_ctx(LOG_DEBUG, &c, "tunnel %s: peer closed with code %u", t->id, code);
	t->peer_eof = true;
	maybe_finish(t);
	return 0;
}

static void ws_gone(void *owner, int status, const char *why)
{
	struct tunnel *t = owner;
	char msg[200];

	t->ws = NULL;
	if (t->state == T_CLOSING) {
		maybe_free(t);
		return;
	}
	if (!t->local && t->state == T_OPEN) {
		tunnel_close(t, NULL);   /* the local side had finished */
		return;
	}
	if (t->local_eof && t->peer_eof) {
		/* Normal end; finish writing what the local side still owes. */
		if (t->down_off == t->down_len)
			tunnel_close(t, NULL);
		else
			set_timer(t, TUNNEL_LINGER_US);
		return;
	}
	if (status > 0)
		snprintf(msg, sizeof(msg), "the relay answered %d (%s)", status, why ? why : "");
	else if (status < 0)
		snprintf(msg, sizeof(msg), "cannot reach the relay (%s)", why ? why : "");
	else
		snprintf(msg, sizeof(msg), "relay connection lost (%s)", why ? why : "closed");
	tunnel_close(t, msg);
}

static const struct wsc_ops tunnel_ws_ops = { ws_open, ws_data, ws_peer_closed, ws_writeable,
					      ws_gone };

/* ---- listener: dialing the target -------------------------------------- */

static void dialed(void *arg, int fd, int err)
{
	struct tunnel *t = arg;
	char why[200];

	t->dial = NULL;
	if (err < 0) {
		snprintf(why, sizeof(why), "cannot reach the target: %s", strerror(-err));
		tunnel_close(t, why);
		return;
	}
	t->fd = fd;
	if (adopt_local(t) < 0) {
		tunnel_close(t, "cannot adopt the target socket");
		return;
	}
	/* Connect completion shows up as writeability. */
	loop_want_write(t->local, &t->rearm);
}

static int start_dial(struct tunnel *t)
{
	t->dgram = t->fr->fwd->ep[t->ep].kind == AZB_KIND_UDP;
	udpf_init(&t->df);
	t->state = T_DIALING;
	wsc_pause_rx(t->ws, true);
	t->dial = dial_start(&t->fr->fwd->ep[t->ep], t->fr->bind_address, dialed, t);
	return 0;
}

static int dial_finished(struct tunnel *t)
{
	int err = dial_result(t->fd);
	char why[200];

	if (err < 0) {
		snprintf(why, sizeof(why), "cannot reach the target: %s", strerror(-err));
		tunnel_close(t, why);
		return 0;
	}
	/* The original answers before dialling; answering after means a client
	 * never sees "accepted" for an unreachable target. */
	t->state = T_HANDSHAKE;
	t->reply_pending = true;
	wsc_want_write(t->ws);
	if (t->down_off != t->down_len)
		loop_want_write(t->local, &t->rearm);
	return 0;
}

/* ---- opening the websocket --------------------------------------------- */

static void connect_relay(struct tunnel *t, const char *host)
{
	const struct fwd_relay *r = &t->fr->relay;
	struct wsc_params p = { host, t->sender ? r->port : t->rv_port, r->tls, r->insecure, NULL,
				NULL, t->fr->connect_timeout, 0 };
	char *target = NULL, *token = NULL;
	time_t expiry;
	int err = 0;

	if (t->sender) {
		target = xasprintf("/$hc/%s?sb-hc-action=connect&sb-hc-id=%s", t->fr->fwd->relay, t->id);
		if (!t->fr->fwd->ep[t->ep].no_auth)
			token = token_for(r, t->fr->fwd->relay, &expiry, &err);
	} else {
		target = xstrdup(t->rv_target);
	}
	p.target = target;
	p.token = token;
	if (err == 0)
		t->ws = wsc_open(&p, &tunnel_ws_ops, t);
	free(target);
	azb_free_secret(token);
	if (!t->ws) {
		tunnel_close(t, "cannot open a connection to the relay: no credentials");
		return;
	}
	t->state = T_CONNECTING;
}

int tunnel_start_sender(struct fwd_run *fr, size_t ep, int fd, const char *peer)
{
	struct tunnel *t = tunnel_new(fr, true, peer);
	int one = 1;

	t->ep = ep;
	t->fd = fd;
	if (fr->fwd->ep[ep].kind == AZB_KIND_TCP)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	connect_relay(t, fr->relay.host);
	return 0;
}

int tunnel_start_listener(struct fwd_run *fr, const struct hcmsg_addr *rv, const char *peer)
{
	struct tunnel *t = tunnel_new(fr, false, peer);

	t->rv_host = xstrdup(rv->host);
	t->rv_port = rv->port;
	t->rv_target = xstrdup(rv->target);
	connect_relay(t, t->rv_host);
	return 0;
}

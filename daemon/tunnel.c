#include "tunnel.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dial.h"
#include "fwd_kind.h"
#include "hc_sender.h"
#include "log.h"
#include "loop.h"
#include "preamble.h"
#include "relay_pool.h"
#include "util.h"
#include "wsc.h"

/* The relay connection has its own deadline (connect_timeout, until the
 * preamble is through); this one bounds the rest of the set-up on top of it:
 * the relay's name lookup and, on the listener side, dialling the target. */
#define TUNNEL_SETUP_EXTRA_US (20LL * 1000000)
/* How long a tunnel may take to finish a graceful close. */
#define TUNNEL_LINGER_US (10LL * 1000000)
/* Local -> relay bytes read early: what a finished peer left in the socket
 * (the kernel's receive buffer, a few MiB at most; the cap only guards
 * against a broken kernel), or a flow's datagrams waiting for the relay. */
#define TUNNEL_UP_MAX (64u * 1024 * 1024)
/* Relay -> local bytes the local side did not take yet: the relay side is
 * paused as soon as there are any, so about one read at most; a guard. */
#define TUNNEL_DOWN_MAX (4u * 1024 * 1024)
/* Messages moved local -> relay per wakeup, so others get their turn. */
#define TUNNEL_PUMP_TURNS 8
/* Keep-alive pings go half an interval apart while a tunnel hears nothing;
 * this many unanswered in a row (two intervals) and it is dead. */
#define TUNNEL_KA_DEAD_PINGS 4

static const char *const state_names[] = {
	[TUNNEL_HANDSHAKE] = "handshake", [TUNNEL_DIALING] = "dialing",
	[TUNNEL_OPEN] = "open",           [TUNNEL_UP_DONE] = "local_closed",
	[TUNNEL_DOWN_DONE] = "relay_closed", [TUNNEL_DRAINING] = "draining",
	[TUNNEL_CLOSED] = "closed",
};

struct tunnel {
	struct loop_obj local_obj;  /* the local socket's fh points here */
	struct fwd_run *fr;
	const struct fwd_kind *kind;  /* a listener's: from the preamble on */
	struct tunnel *next, **pprev;
	enum tunnel_state state;
	int fd;                     /* the local socket, if it is ours */
	size_t ep;
	struct loop_fd *local;          /* ...once adopted */
	struct fwd_end end;
	struct wsc *ws;             /* the relay side, once open */
	struct hc_sender *snd;      /* sender: the handshake in flight */
	struct dial *dial;          /* listener: connecting to the target */
	struct pre_parser *pre;     /* listener: the preamble coming in, until it is read */
	struct outq down;           /* relay -> local, waiting for the local side */
	struct outq up;             /* local -> relay, waiting for the relay side */
	bool local_paused;          /* POLLIN off until the relay side can take more */
	bool failed;                /* counted and logged once */
	uint8_t ka_missed;          /* keep-alive pings sent since the relay was last heard */
	enum pre_mode mode;         /* listener: the preamble's */
	void (*gone)(void *arg);
	void *gone_arg;
	char *peer;
	char id[37];
	int64_t started;
	lws_sorted_usec_list_t timer;
};

static void set_timer(struct tunnel *t, int64_t us);
static void ka_arm(struct fwd_run *fr);
static void pump(struct tunnel *t);
static const struct wsc_ops tunnel_ws_ops;

static struct tunnel *from_local(struct loop_obj *o)
{
	return (struct tunnel *)((char *)o - offsetof(struct tunnel, local_obj));
}

const char *tunnel_state_name(enum tunnel_state s)
{
	return state_names[s];
}

enum tunnel_state tunnel_state(const struct tunnel *t)
{
	return t->state;
}

struct fwd_end *tunnel_end(struct tunnel *t)
{
	return &t->end;
}

/* ---- life and death ---------------------------------------------------- */

static struct tunnel *tunnel_new(struct fwd_run *fr, const char *peer)
{
	struct tunnel *t = xcalloc(1, sizeof(*t));

	t->fr = fr;
	t->fd = t->end.fd = -1;
	t->end.stats = &fr->stats;
	t->peer = xstrdup(peer ? peer : "-");
	t->started = lws_now_usecs();
	azb_uuid(t->id);
	t->end.log = (struct log_ctx){ fr->fwd->name, fr->fwd->relay, t->id, t->peer };
	udpf_init(&t->end.df);
	outq_init(&t->down, TUNNEL_DOWN_MAX);
	outq_init(&t->up, TUNNEL_UP_MAX);
	t->next = fr->tunnels;
	if (t->next)
		t->next->pprev = &t->next;
	t->pprev = &fr->tunnels;
	fr->tunnels = t;
	fwd_hold(fr);
	fr->stats.tunnels_total++;
	fr->stats.tunnels_open++;
	set_timer(t, TUNNEL_SETUP_EXTRA_US + (int64_t)fr->connect_timeout * 1000000);
	return t;
}

static void tunnel_free(struct tunnel *t)
{
	struct fwd_run *fr = t->fr;
	void (*gone)(void *arg) = t->gone;
	void *arg = t->gone_arg;

	log_ctx(LOG_DEBUG, &t->end.log, "tunnel closed%s: %llu bytes up, %llu down, %.3f s",
		t->failed ? " after a failure" : "", (unsigned long long)t->end.up,
		(unsigned long long)t->end.down, (double)(lws_now_usecs() - t->started) / 1e6);
	*t->pprev = t->next;
	if (t->next)
		t->next->pprev = t->pprev;
	fr->stats.tunnels_open--;
	if (!fr->tunnels)
		lws_sul_cancel(&fr->ka_sweep);
	udpf_clear(&t->end.df);
	outq_free(&t->down);
	outq_free(&t->up);   /* before gone(): it may share its owner's pool */
	free(t->pre);
	free(t->peer);
	free(t);
	if (gone)
		gone(arg);
	fwd_put(fr);
}

static void maybe_free(struct tunnel *t)
{
	if (t->state == TUNNEL_CLOSED && !t->ws && !t->local)
		tunnel_free(t);
}

static const char *noun(const struct tunnel *t)
{
	return t->kind ? t->kind->noun : "tunnel";
}

/* Count and log a failure once: a tunnel fails on several paths at once. */
static void tunnel_failed(struct tunnel *t, const char *why)
{
	if (t->failed)
		return;
	t->failed = true;
	t->fr->stats.tunnels_failed++;
	fwd_error_ctx(t->fr, &t->end.log, "%s %s from %s failed while %s: %s", noun(t), t->id,
		      t->peer, state_names[t->state], why);
}

void tunnel_close(struct tunnel *t, const char *reason)
{
	if (t->state == TUNNEL_CLOSED)
		return;
	if (reason)
		tunnel_failed(t, reason);
	t->state = TUNNEL_CLOSED;
	lws_sul_cancel(&t->timer);
	if (t->snd)
		hc_sender_cancel(t->snd);
	t->snd = NULL;
	if (t->dial)
		dial_cancel(t->dial);
	t->dial = NULL;
	if (t->ws)
		wsc_abort(t->ws);
	if (t->fd >= 0 && t->kind->end->close_local)
		t->kind->end->close_local(t->fd);
	if (t->local)
		loop_kill(t->local);
	else if (t->fd >= 0)
		close(t->fd);
	t->fd = t->end.fd = -1;
	maybe_free(t);
}

void tunnel_close_all(struct fwd_run *fr, const char *reason)
{
	struct tunnel *t = fr->tunnels, *next;

	/* The last one to go may take fr with it: nothing of fr after it. */
	for (; t; t = next) {
		next = t->next;
		tunnel_close(t, reason);
	}
}

static void opened(struct tunnel *t)
{
	t->state = TUNNEL_OPEN;
	lws_sul_cancel(&t->timer);
	log_ctx(LOG_DEBUG, &t->end.log, "tunnel open after %.3f s",
		(double)(lws_now_usecs() - t->started) / 1e6);
	t->end.active = lws_now_usecs();
	if (t->kind->idle_us)
		set_timer(t, t->kind->idle_us);
	if (t->fr->tunnel_ka && lws_dll2_is_detached(&t->fr->ka_sweep.list))
		ka_arm(t->fr);
}

static void idle_check(struct tunnel *t)
{
	int64_t quiet = lws_now_usecs() - t->end.active;

	if (quiet < t->kind->idle_us) {
		set_timer(t, t->kind->idle_us - quiet);
		return;
	}
	log_ctx(LOG_DEBUG, &t->end.log, "%s %s from %s idle for %lld minutes: closing", noun(t),
		t->id, t->peer, (long long)(t->kind->idle_us / 60000000));
	tunnel_close(t, NULL);
}

static void on_timer(lws_sorted_usec_list_t *sul)
{
	struct tunnel *t = lws_container_of(sul, struct tunnel, timer);

	switch (t->state) {
	case TUNNEL_OPEN:
		idle_check(t);
		return;
	case TUNNEL_UP_DONE:
	case TUNNEL_DOWN_DONE:
		tunnel_close(t, "close not completed in time");
		return;
	case TUNNEL_DRAINING:       /* both ends done; what is left may go */
		tunnel_close(t, NULL);
		return;
	default:
		tunnel_close(t, "timed out");
	}
}

static void set_timer(struct tunnel *t, int64_t us)
{
	lws_sul_schedule(loop_context(), 0, &t->timer, on_timer, us);
}

/* ---- keep-alive -------------------------------------------------------- */

/* One sweep per forward over its tunnels instead of a timer per tunnel:
 * lws keeps timers in one sorted list, and re-arming thousands of them
 * walks it each time; one walk every half interval costs less and adds no
 * timer to a tunnel. The data path does nothing for it: the websocket
 * notes when it last heard the relay anyway. */
static void ka_check(struct tunnel *t, int64_t now)
{
	int64_t quiet = t->ws ? now - wsc_last_rx(t->ws) : 0;
	char why[100];

	/* Silence we caused proves nothing: a pause of ours leaves the relay's
	 * frames in the kernel, a full queue holds our ping back. */
	if (t->state != TUNNEL_OPEN || !t->ws || outq_len(&t->down) || !wsc_can_send(t->ws) ||
	    quiet < (int64_t)t->fr->tunnel_ka * 1000000) {
		t->ka_missed = 0;
		return;
	}
	if (t->ka_missed >= TUNNEL_KA_DEAD_PINGS) {
		snprintf(why, sizeof(why), "nothing from the relay for %lld s, keep-alive pings "
			 "unanswered", (long long)(quiet / 1000000));
		tunnel_close(t, why);
		return;
	}
	t->ka_missed++;
	wsc_ping(t->ws);
}

static void ka_sweep(lws_sorted_usec_list_t *sul)
{
	struct fwd_run *fr = lws_container_of(sul, struct fwd_run, ka_sweep);
	int64_t now = lws_now_usecs();
	struct tunnel *t, *next;

	fwd_hold(fr);   /* the last tunnel may hold the last reference */
	for (t = fr->tunnels; t; t = next) {
		next = t->next;
		ka_check(t, now);
	}
	if (fr->tunnels)
		ka_arm(fr);
	fwd_put(fr);
}

static void ka_arm(struct fwd_run *fr)
{
	lws_sul_schedule(loop_context(), 0, &fr->ka_sweep, ka_sweep,
			 (int64_t)fr->tunnel_ka * 500000);
}

/* ---- relay -> local ---------------------------------------------------- */

/* Both directions have ended and everything is out. */
static void settle(struct tunnel *t)
{
	if (t->state == TUNNEL_DRAINING && !t->ws && !outq_len(&t->down))
		tunnel_close(t, NULL);
}

/* Open, and the local socket still there to take relay -> local bytes. */
static bool local_writable(const struct tunnel *t)
{
	return t->state >= TUNNEL_OPEN && t->state < TUNNEL_CLOSED && t->end.fd >= 0;
}

static int down_queue(struct tunnel *t, const uint8_t *p, size_t n)
{
	if (outq_push(&t->down, p, n) < 0)
		return -ENOBUFS;
	/* The relay side waits until the local side has taken this. */
	wsc_pause_rx(t->ws, true);
	if (t->local)
		loop_want_write(t->local);
	return 0;
}

/* Straight from the caller's buffer when nothing is queued, so the common
 * case costs no copy. */
static int down_write(struct tunnel *t, const uint8_t *p, size_t n)
{
	ssize_t w = 0;

	if (t->state >= TUNNEL_OPEN && t->end.fd < 0)
		return 0;   /* the local side has gone: nothing can take it */
	if (local_writable(t) && !outq_len(&t->down)) {
		w = t->kind->end->to_local(&t->end, p, n);
		if (w < 0)
			return (int)w;
	}
	return (size_t)w < n ? down_queue(t, p + w, n - (size_t)w) : 0;
}

/* The relay's end goes on to the local side once all before it has. */
static void pass_end(struct tunnel *t)
{
	if (t->end.fd >= 0)
		t->kind->end->shut_local(&t->end);
}

static int flush_down(struct tunnel *t)
{
	size_t n;
	const uint8_t *p = outq_peek(&t->down, &n);
	ssize_t w;

	if (!p)
		return 0;
	w = t->kind->end->to_local(&t->end, p, n);
	if (w < 0)
		return (int)w;
	outq_pop(&t->down, (size_t)w);
	if (outq_len(&t->down)) {
		if (t->local)
			loop_want_write(t->local);
		return 0;
	}
	/* Drained (and the memory given back): the relay side may go on. */
	if (t->ws)
		wsc_pause_rx(t->ws, false);
	if (t->state == TUNNEL_DOWN_DONE || t->state == TUNNEL_DRAINING)
		pass_end(t);
	settle(t);
	return 0;
}

/* The relay sent its close frame. Datagram kinds have no half-close: that
 * ends the flow. */
static void relay_ended(struct tunnel *t, uint16_t code)
{
	if (code != WS_CLOSE_NORMAL && code != WS_CLOSE_NO_STATUS)
		log_ctx(LOG_DEBUG, &t->end.log, "tunnel %s: peer closed with code %u", t->id, code);
	if (!t->kind->end->shut_local) {
		tunnel_close(t, NULL);
		return;
	}
	t->state = t->state == TUNNEL_UP_DONE ? TUNNEL_DRAINING : TUNNEL_DOWN_DONE;
	if (!outq_len(&t->down))
		pass_end(t);
}

/* ---- local -> relay ---------------------------------------------------- */

static bool up_open(const struct tunnel *t)
{
	return t->state == TUNNEL_OPEN || t->state == TUNNEL_DOWN_DONE;
}

static void local_pause(struct tunnel *t, bool pause)
{
	if (!t->local || t->local_paused == pause)
		return;
	t->local_paused = pause;
	loop_pause_rx(t->local, pause);
}

/* The local side ended its direction: the close frame follows what it sent
 * before (some of it may still be queued). */
static void up_ended(struct tunnel *t)
{
	t->state = t->state == TUNNEL_DOWN_DONE ? TUNNEL_DRAINING : TUNNEL_UP_DONE;
	local_pause(t, true);
	if (!t->ws)
		return;
	if (!outq_len(&t->up))
		wsc_close(t->ws, WS_CLOSE_NORMAL, "Shutdown");
	else
		wsc_want_write(t->ws);
}

/* Read what a finished peer left in the socket, straight into the queue:
 * the socket may go with it (the loop closes a paused fd on an error, e.g.
 * a reset after the peer's last bytes). */
static void drain_local(struct tunnel *t)
{
	for (;;) {
		uint8_t *at = outq_reserve(&t->up, FWD_MESSAGE_MAX);
		ssize_t n;

		if (!at)
			return;
		n = t->kind->end->from_local(&t->end, at, FWD_MESSAGE_MAX);
		outq_commit(&t->up, n > 0 ? (size_t)n : 0);
		if (n > 0)
			continue;
		if (n == 0)
			up_ended(t);
		return;
	}
}

/* The next queued message, copied to the scratch buffer for its header. */
static void send_queued(struct tunnel *t)
{
	uint8_t *buf = loop_scratch() + LOOP_HEADROOM;
	size_t n;
	const uint8_t *p = outq_peek(&t->up, &n);
	size_t m = t->kind->end->message_len(p, n);

	if (m > n || m > FWD_MESSAGE_MAX)
		m = n < FWD_MESSAGE_MAX ? n : FWD_MESSAGE_MAX;   /* never with what we queue */
	memcpy(buf, p, m);
	outq_pop(&t->up, m);
	wsc_send(t->ws, WS_OP_BINARY, true, buf, m);
}

/* A datagram kind's messages, framed by the kind, in one write. */
static int up_frames(struct tunnel *t)
{
	const uint8_t *frames;
	bool more = false;
	ssize_t n = t->kind->end->frames_from_local(&t->end, &frames, &more);

	if (n < 0 && n != -EAGAIN)
		return (int)n;
	if (n > 0)
		wsc_send_frames(t->ws, frames, (size_t)n);
	if (more)
		return 1;
	local_pause(t, false);   /* the socket is empty: poll it again */
	return 0;
}

/* Move one message local -> relay: 1 when more is likely, 0 when nothing
 * waits now or the direction has ended, or -errno. */
static int up_message(struct tunnel *t)
{
	uint8_t *buf = loop_scratch() + LOOP_HEADROOM;
	ssize_t n;

	if (outq_len(&t->up)) {
		send_queued(t);
		return 1;
	}
	if (!up_open(t)) {
		wsc_close(t->ws, WS_CLOSE_NORMAL, "Shutdown");
		return 0;
	}
	if (!t->local)
		return 0;   /* a flow: its datagrams come by tunnel_send() */
	if (t->kind->end->frames_from_local)
		return up_frames(t);
	n = t->kind->end->from_local(&t->end, buf, FWD_MESSAGE_MAX);
	if (n == 0) {
		up_ended(t);
		return 0;
	}
	if (n < 0 && n != -EAGAIN)
		return (int)n;
	if (n > 0)
		wsc_send(t->ws, WS_OP_BINARY, true, buf, (size_t)n);
	if (n == FWD_MESSAGE_MAX)
		return 1;
	local_pause(t, false);   /* a short read: the socket is empty, poll it again */
	return 0;
}

/* The relay side cannot take more now: stop reading the local side until
 * it can, unless the peer has finished (then what it left is read now). */
static void stall(struct tunnel *t)
{
	local_pause(t, true);
	if (t->local && up_open(t) && t->kind->end->finished && t->kind->end->finished(&t->end))
		drain_local(t);
	wsc_want_write(t->ws);
}

/* Local -> relay without a buffer of our own: read straight into the frame
 * while the relay side takes it. */
static void pump(struct tunnel *t)
{
	for (int i = 0; i < TUNNEL_PUMP_TURNS; i++) {
		int r;

		if (!t->ws || t->state < TUNNEL_OPEN || t->state == TUNNEL_CLOSED)
			return;
		if (!wsc_can_send(t->ws)) {
			stall(t);
			return;
		}
		r = up_message(t);
		if (r < 0) {
			tunnel_close(t, strerror(-r));
			return;
		}
		if (r == 0)
			return;
	}
	/* Bounded turn: carry on when the relay side is writeable again. */
	local_pause(t, true);
	wsc_want_write(t->ws);
}

bool tunnel_can_send(const struct tunnel *t)
{
	return t->state == TUNNEL_OPEN && !outq_len(&t->up) && wsc_can_send(t->ws);
}

int tunnel_send_frames(struct tunnel *t, const uint8_t *frames, size_t n)
{
	return wsc_send_frames(t->ws, frames, n);
}

int tunnel_send(struct tunnel *t, uint8_t *msg, size_t n)
{
	if (t->state == TUNNEL_CLOSED)
		return -EPIPE;
	if (tunnel_can_send(t)) {
		wsc_send(t->ws, WS_OP_BINARY, true, msg, n);
		return 0;
	}
	if (outq_push(&t->up, msg, n) < 0)
		return -ENOBUFS;
	if (t->state == TUNNEL_OPEN)
		wsc_want_write(t->ws);
	return 0;
}

/* ---- the local socket (adopted) ---------------------------------------- */

static int dial_finished(struct tunnel *t);

static int local_readable(struct loop_obj *o, struct loop_fd *fh)
{
	struct tunnel *t = from_local(o);

	(void)fh;
	if (t->state < TUNNEL_OPEN)
		local_pause(t, true);   /* a target's first bytes wait for the reply */
	else
		pump(t);
	return 0;
}

static int local_writeable(struct loop_obj *o, struct loop_fd *fh)
{
	struct tunnel *t = from_local(o);
	int r;

	(void)fh;
	if (t->state == TUNNEL_DIALING)
		return dial_finished(t);
	r = local_writable(t) ? flush_down(t) : 0;
	if (r < 0)
		tunnel_close(t, strerror(-r));
	return 0;
}

/* The local socket went after the local side's end (or it is a datagram
 * socket, which has no end of its own): the relay side finishes what is
 * queued and its close handshake. */
static void local_gone(struct tunnel *t)
{
	if (up_open(t))
		up_ended(t);
	if (!t->ws) {
		tunnel_close(t, NULL);
		return;
	}
	set_timer(t, TUNNEL_LINGER_US);
}

static void local_close(struct loop_obj *o, struct loop_fd *fh)
{
	struct tunnel *t = from_local(o);

	(void)fh;
	/* The loop ends a paused fd on an error: the peer reset after we shut
	 * our side while we were paused. What it sent last is still readable
	 * until the fd goes, after this call. */
	if (up_open(t) && t->kind->end->finished)
		drain_local(t);
	t->local = NULL;
	t->fd = t->end.fd = -1;
	if (t->state == TUNNEL_CLOSED) {
		maybe_free(t);
		return;
	}
	if (t->state < TUNNEL_OPEN || (up_open(t) && t->kind->end->shut_local)) {
		tunnel_close(t, "the local socket closed abruptly");
		return;
	}
	local_gone(t);
}

static const struct loop_fd_ops local_ops = { "tunnel", local_readable, local_writeable,
					      local_close };

static int adopt_local(struct tunnel *t)
{
	t->local_obj.fd_ops = &local_ops;
	t->local = loop_adopt(t->fd, &t->local_obj);
	if (!t->local) {
		t->fd = t->end.fd = -1;   /* lws closed it */
		return -EIO;
	}
	return 0;
}

/* ---- the websocket ----------------------------------------------------- */

/* A buffer of its own: this may run inside the websocket's rx, whose bytes
 * sit in the scratch buffer. */
static void send_reply(struct tunnel *t, enum pre_verdict v)
{
	uint8_t buf[LOOP_HEADROOM + PRE_REPLY_LEN];

	pre_reply(buf + LOOP_HEADROOM, v, t->mode);
	wsc_send(t->ws, WS_OP_BINARY, true, buf + LOOP_HEADROOM, PRE_REPLY_LEN);
}

/* Answer with an error reply (none for a port name we do not have), then
 * close gracefully as the original does, 1000 "Shutdown": the sender reads
 * why, or a clean end. */
static int refuse(struct tunnel *t, enum pre_verdict v, const char *why)
{
	tunnel_failed(t, why);
	if (v != PRE_SILENT)
		send_reply(t, v);
	wsc_close(t->ws, WS_CLOSE_NORMAL, "Shutdown");
	t->state = TUNNEL_DRAINING;
	set_timer(t, TUNNEL_LINGER_US);
	return 0;
}

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
	t->fd = t->end.fd = fd;
	if (adopt_local(t) < 0) {
		tunnel_close(t, "cannot adopt the target socket");
		return;
	}
	/* Connect completion shows up as writeability. */
	loop_want_write(t->local);
}

static int start_dial(struct tunnel *t)
{
	t->state = TUNNEL_DIALING;
	wsc_pause_rx(t->ws, true);
	/* NULL when dialed() has run already. */
	t->dial = t->kind->dial(&t->fr->fwd->ep[t->ep], t->fr->bind_address, dialed, t);
	return 0;
}

static int dial_finished(struct tunnel *t)
{
	int err = dial_result(t->fd), r = 0;
	char why[200];

	if (err < 0) {
		snprintf(why, sizeof(why), "cannot reach the target: %s", strerror(-err));
		tunnel_close(t, why);
		return 0;
	}
	/* The original answers before dialling; answering after means a client
	 * never sees "accepted" for an unreachable target. */
	send_reply(t, PRE_OK);
	opened(t);
	local_pause(t, false);
	if (outq_len(&t->down))
		r = flush_down(t);   /* what came with the preamble */
	else
		wsc_pause_rx(t->ws, false);
	if (r < 0)
		tunnel_close(t, strerror(-r));
	return 0;
}

static int listener_preamble(struct tunnel *t, const uint8_t *p, size_t n)
{
	size_t used;
	int r = pre_feed(t->pre, p, n, &used);
	enum pre_verdict v;
	char why[300];

	if (r == 0)
		return 0;
	t->mode = pre_mode_of(t->pre);
	if (r < 0)
		return refuse(t, PRE_BAD_VERSION, "unsupported preamble version or mode");
	wsc_ready(t->ws);
	v = pre_select(t->fr->fwd, t->pre->name, t->mode, &t->ep);
	snprintf(why, sizeof(why), "no binding for port name \"%s\"", t->pre->name);
	/* Held only while the preamble comes in, not for the tunnel's life. */
	free(t->pre);
	t->pre = NULL;
	if (v == PRE_SILENT)
		return refuse(t, v, why);
	if (v != PRE_OK)
		return refuse(t, v, v == PRE_WANT_DGRAM ?
			      "port name is UDP but the sender asked for a stream" :
			      "port name is a stream but the sender asked for UDP");
	t->kind = t->fr->kinds[t->ep];
	if (n > used && down_queue(t, p + used, n - used) < 0)
		return -1;
	return start_dial(t);
}

static int ws_open(void *owner)
{
	(void)owner;   /* a listener waits for the preamble */
	return 0;
}

static int ws_data(void *owner, enum ws_op op, uint8_t *p, size_t n, bool last)
{
	struct tunnel *t = owner;
	int r;

	(void)op;
	(void)last;
	switch (t->state) {
	case TUNNEL_HANDSHAKE:      /* a sender's handshake is hc_sender's */
		return listener_preamble(t, p, n);
	case TUNNEL_DIALING:
		return down_queue(t, p, n) < 0 ? -1 : 0;
	case TUNNEL_OPEN:
	case TUNNEL_UP_DONE:
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

	switch (t->state) {
	case TUNNEL_HANDSHAKE:
	case TUNNEL_DIALING:
		tunnel_close(t, "the peer closed the connection during set-up");
		return 0;
	case TUNNEL_OPEN:
	case TUNNEL_UP_DONE:
		relay_ended(t, code);
		return 0;
	default:
		return 0;   /* refused, or closing: the connection ends by itself */
	}
}

static int ws_writeable(void *owner)
{
	pump(owner);
	return 0;
}

static void ws_gone(void *owner, int status, const char *why)
{
	struct tunnel *t = owner;
	char msg[200];

	t->ws = NULL;
	switch (t->state) {
	case TUNNEL_CLOSED:
		maybe_free(t);
		return;
	case TUNNEL_DRAINING:
		/* The end of both; finish writing what the local side still owes. */
		if (outq_len(&t->down))
			set_timer(t, TUNNEL_LINGER_US);
		else
			tunnel_close(t, NULL);
		return;
	case TUNNEL_UP_DONE:
		if (t->end.fd < 0) {
			tunnel_close(t, NULL);   /* the local side had finished and gone */
			return;
		}
		break;
	default:
		break;
	}
	tunnel_close(t, wsc_gone_text(msg, sizeof(msg), status, why));
}

static void ws_read_done(void *owner)
{
	struct tunnel *t = owner;

	if (t->kind && t->kind->end->flush_local)
		t->kind->end->flush_local(&t->end);
}

static const struct wsc_ops tunnel_ws_ops = { ws_open, ws_data, ws_peer_closed, ws_writeable,
					      ws_gone, ws_read_done };

/* ---- starting ---------------------------------------------------------- */

static void sender_ready(void *owner, struct wsc *ws, uint8_t *rest, size_t n)
{
	struct tunnel *t = owner;
	int r;

	t->snd = NULL;
	t->ws = ws;
	if (t->fd >= 0 && adopt_local(t) < 0) {
		tunnel_close(t, "cannot adopt the client socket");
		return;
	}
	opened(t);
	if (outq_len(&t->up))
		wsc_want_write(ws);   /* a flow's datagrams that waited */
	r = n ? down_write(t, rest, n) : 0;
	if (r < 0)
		tunnel_close(t, strerror(-r));
}

static void sender_failed(void *owner, const char *why)
{
	struct tunnel *t = owner;

	t->snd = NULL;
	tunnel_close(t, why);
}

/* A byte stream's client may have spoken already (most protocols do
 * first); what it sent goes with the preamble. Datagrams wait for the
 * reply, in the up queue. */
static size_t sender_early(void *owner, uint8_t *buf, size_t cap)
{
	struct tunnel *t = owner;
	ssize_t n;

	if (t->fd < 0 || t->kind->mode != PRE_STREAM)   /* datagrams wait for the reply */
		return 0;
	n = t->kind->end->from_local(&t->end, buf, cap);
	if (n <= 0)
		return 0;   /* the end or an error: seen again once the tunnel is open */
	log_ctx(LOG_DEBUG, &t->end.log, "%zd bytes from the client go with the preamble", n);
	return (size_t)n;
}

static const struct hc_sender_ops sender_ops = { &tunnel_ws_ops, sender_ready, sender_failed,
						 sender_early };

/* A connection opened ahead waits no longer than the tunnels' keep-alive:
 * below a middlebox's cut for silent connections, if one was set for it. */
static int spare_idle(const struct fwd_run *fr)
{
	return fr->tunnel_ka ? fr->tunnel_ka : RELAY_POOL_IDLE_S;
}

struct tunnel *tunnel_start_sender(struct fwd_run *fr, size_t ep, const struct tunnel_client *c)
{
	struct tunnel *t = tunnel_new(fr, c->peer);
	const struct azb_ep *e = &fr->fwd->ep[ep];
	struct hc_sender_params p = { &fr->relay, fr->fwd->relay, t->id, e->port_name,
				      fr->kinds[ep]->mode, e->no_auth, fr->connect_timeout,
				      spare_idle(fr) };

	t->ep = ep;
	t->kind = fr->kinds[ep];
	t->fd = c->fd;
	t->end.fd = c->fd >= 0 ? c->fd : c->flow_fd;
	t->end.to = c->to;
	t->end.tolen = c->tolen;
	t->end.active = lws_now_usecs();
	t->gone = c->gone;
	t->gone_arg = c->arg;
	if (c->queue_max)
		t->up.limit = c->queue_max;
	if (c->pool)
		outq_share(&t->up, c->pool);
	t->snd = hc_sender_start(&p, &sender_ops, t);
	return t;
}

struct tunnel *tunnel_start_listener(struct fwd_run *fr, const char *host, uint16_t port,
				     const char *target, const char *peer)
{
	struct tunnel *t = tunnel_new(fr, peer);
	const struct fwd_relay *r = &fr->relay;
	struct wsc_params p = { host, port, r->tls, r->insecure, target, NULL, fr->connect_timeout,
				0, &r->cred->proxy, spare_idle(fr) };

	t->pre = xcalloc(1, sizeof(*t->pre));
	t->ws = wsc_open(&p, &tunnel_ws_ops, t);
	return t;
}

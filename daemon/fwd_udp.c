/* UDP forwards. Locally (-L) one socket serves every client: each client
 * address is a flow, a tunnel of its own whose datagrams this file reads
 * and passes in, and whose replies go out from the same socket. Remotely
 * (-T) each tunnel has its own socket connected to the target. Over the
 * relay each datagram is a 2-byte length and the payload (udpframe.h), one
 * per websocket message; a flow quiet for 4 minutes ends (the original's). */
#include "fwd_kind.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "tunnel.h"
#include "util.h"
#include "wsc.h"

#define UDP_IDLE_US (240LL * 1000000)
/* Bytes waiting for the relay (mostly for flows still connecting), per flow
 * and across all flows of one forward; beyond them datagrams are dropped
 * and counted. */
#define UDP_QUEUE_MAX (256 * 1024)
#define UDP_FWD_QUEUE_MAX (1024 * 1024)
#define UDP_FLOWS_MAX 4096
#define UDP_READS_PER_WAKEUP 64
/* A flow's datagrams read in one wakeup leave in one write, made websocket
 * frames where they were read (no copy): a TLS record's worth at most when
 * they are alike in size, the next one's size guessed from the last's. */
#define UDP_BATCH_MAX (16 * 1024)
/* Read at most this much, so that a frame's payload (the 2-byte length
 * and the datagram) stays within 65535 bytes and its header within
 * UDP_SLOT_HDR; the largest datagram IPv6 carries is 65527 bytes. */
#define UDP_READ_MAX (0xffff - UDPF_HDR)
#define UDP_SLOT_HDR 8
#define UDP_SLOT_MAX (UDP_SLOT_HDR + UDPF_HDR + UDP_READ_MAX)

struct udp_listen;

struct flow {
	struct udp_listen *u;
	struct flow *next, **pprev;
	struct tunnel *t;
	struct sockaddr_storage src;
	socklen_t srclen;
};

struct udp_listen {
	struct fwd_listen l;      /* first: the listener's pointer is ours */
	struct flow *flows;
	unsigned n_flows;
	struct outq_pool pool;    /* what all flows hold for the relay */
	bool stopping;            /* freed when the last flow has gone */
};

/* Frames of one flow waiting in batch_buf for their one write. */
struct batch {
	struct tunnel *t;         /* NULL: none wait */
	uint8_t *start, *end;
	unsigned count;
	size_t bytes;             /* the datagrams' */
};

/* Room for a batch and, past it, the largest datagram read next; the
 * headroom before the first slot is what tunnel_send() wants. */
static uint8_t batch_buf[LOOP_HEADROOM + UDP_BATCH_MAX + UDP_SLOT_MAX];
#define BATCH_BASE (batch_buf + LOOP_HEADROOM)

/* ---- the datagram end -------------------------------------------------------- */

/* Datagrams for local sockets decoded from one read of a relay connection
 * go in one sendmmsg() when that read is done (udp_flush_local): they point
 * into the read buffer, valid until then. */
#define UDP_HELD_MAX 64

static struct {
	struct mmsghdr m[UDP_HELD_MAX];
	struct iovec iov[UDP_HELD_MAX];
	struct fwd_end *e[UDP_HELD_MAX];
	int fd;                   /* theirs, all the same: a closing flow's end has none */
	unsigned n;
} held;

/* UDP may drop; so may we when the client's or target's queue is full. */
static void send_failed(struct fwd_end *e)
{
	if (errno != EAGAIN && errno != ECONNREFUSED)
		log_ctx(LOG_DEBUG, &e->log, "udp flow %s: send: %s", e->log.tunnel, strerror(errno));
}

static void udp_flush_local(struct fwd_end *unused)
{
	unsigned i = 0;
	int r;

	(void)unused;
	while (i < held.n) {   /* each turn sends at least one or drops one */
		r = sendmmsg(held.fd, held.m + i, held.n - i, MSG_DONTWAIT);
		if (r > 0) {
			i += (unsigned)r;
			continue;
		}
		send_failed(held.e[i]);
		if (errno == EAGAIN)
			break;   /* the socket is full: the rest is dropped */
		i++;
	}
	held.n = 0;
}

/* Held back only from the read buffer, and only for the same socket. */
static bool hold(const struct fwd_end *e, const uint8_t *p)
{
	const uint8_t *rb = loop_scratch();

	if (held.n && (held.n == UDP_HELD_MAX || held.fd != e->fd))
		udp_flush_local(NULL);
	return p >= rb && p < rb + LOOP_HEADROOM + LOOP_CHUNK;
}

static void deliver(void *arg, const uint8_t *p, size_t n)
{
	struct fwd_end *e = arg;
	unsigned i = held.n;

	e->down += n;
	e->stats->bytes_down += n;
	e->active = lws_now_usecs();
	if (!hold(e, p)) {
		udp_flush_local(NULL);   /* in order */
		if (sendto(e->fd, p, n, MSG_DONTWAIT, e->to, e->tolen) < 0)
			send_failed(e);
		return;
	}
	held.iov[i] = (struct iovec){ (void *)p, n };
	held.m[i].msg_hdr = (struct msghdr){ .msg_name = (void *)e->to, .msg_namelen = e->tolen,
					    .msg_iov = &held.iov[i], .msg_iovlen = 1 };
	held.e[i] = e;
	held.fd = e->fd;
	held.n++;
}

/* Every byte is taken: a datagram the socket refuses is dropped, as UDP does. */
static ssize_t udp_to_local(struct fwd_end *e, const uint8_t *p, size_t n)
{
	udpf_feed(&e->df, p, n, deliver, e);
	return (ssize_t)n;
}

/* The datagram of n bytes read into slot (after room for its frame's
 * header and its length) made a whole websocket frame starting at slot:
 * where it ends, NULL without random bytes for its mask. */
static uint8_t *frame_slot(uint8_t *slot, size_t n)
{
	size_t m = UDPF_HDR + n, h = wsc_frame_hdr_len(m);
	uint8_t *payload = slot + UDP_SLOT_HDR;

	udpf_header(payload, n);
	if (h < UDP_SLOT_HDR) {   /* under 124 bytes: close the gap a shorter header leaves */
		memmove(slot + h, payload, m);
		payload = slot + h;
	}
	return wsc_frame_in_place(payload, m) ? payload + m : NULL;
}

/* The next one is guessed to be as long as the last: the batch goes when
 * it would not fit. */
static bool batch_full(const uint8_t *end, size_t last)
{
	return (size_t)(end - BATCH_BASE) + last > UDP_BATCH_MAX;
}

/* -T: what the target sent, as many datagrams as wait (a batch at most),
 * framed where they were read, for one write. */
static ssize_t udp_frames_from_local(struct fwd_end *e, const uint8_t **frames, bool *more)
{
	uint8_t *end = BATCH_BASE, *next;
	size_t last = 0;

	*frames = BATCH_BASE;
	for (int i = 0; i < UDP_READS_PER_WAKEUP && !(*more = batch_full(end, last)); i++) {
		ssize_t n = recv(e->fd, end + UDP_SLOT_HDR + UDPF_HDR, UDP_READ_MAX, MSG_DONTWAIT);

		if (n < 0 && end == BATCH_BASE)
			return errno == EAGAIN || errno == EINTR || errno == ECONNREFUSED ? -EAGAIN :
			       -errno;
		if (n < 0)
			break;   /* what was read goes; the error comes again */
		if (!(next = frame_slot(end, (size_t)n))) {
			e->stats->datagrams_dropped++;
			continue;
		}
		last = (size_t)(next - end);
		end = next;
		e->up += (uint64_t)n;
		e->stats->bytes_up += (uint64_t)n;
	}
	e->active = lws_now_usecs();
	return end - BATCH_BASE;
}

/* What is held back for the socket goes before it closes. */
static void udp_close_local(int fd)
{
	(void)fd;
	udp_flush_local(NULL);
}

static size_t udp_message_len(const uint8_t *p, size_t n)
{
	(void)n;   /* the tunnel queues whole frames */
	return UDPF_HDR + ((size_t)p[0] << 8 | p[1]);
}

/* ---- flows --------------------------------------------------------------------- */

static void maybe_free(struct udp_listen *u)
{
	if (u->stopping && !u->flows && !u->l.fh)
		free(u);
}

/* The flow's tunnel has gone. */
static void flow_gone(void *arg)
{
	struct flow *f = arg;
	struct udp_listen *u = f->u;

	*f->pprev = f->next;
	if (f->next)
		f->next->pprev = f->pprev;
	u->n_flows--;
	free(f);
	maybe_free(u);
}

static struct tunnel *flow_find(struct udp_listen *u, const struct sockaddr_storage *src,
				socklen_t len)
{
	for (struct flow *f = u->flows; f; f = f->next)
		if (f->srclen == len && memcmp(&f->src, src, len) == 0 &&
		    tunnel_state(f->t) != TUNNEL_CLOSED)
			return f->t;
	return NULL;
}

static struct tunnel *flow_new(struct udp_listen *u, const struct sockaddr_storage *src,
			       socklen_t len)
{
	struct flow *f = xcalloc(1, sizeof(*f));
	char host[INET6_ADDRSTRLEN] = "?", port[8] = "", peer[64];

	f->u = u;
	f->src = *src;
	f->srclen = len;
	getnameinfo((const struct sockaddr *)src, len, host, sizeof(host), port, sizeof(port),
		    NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(peer, sizeof(peer), "%s:%s", host, port);
	f->next = u->flows;
	if (f->next)
		f->next->pprev = &f->next;
	f->pprev = &u->flows;
	u->flows = f;
	u->n_flows++;
	f->t = tunnel_start_sender(u->l.fr, u->l.ep, &(struct tunnel_client){
		.fd = -1, .flow_fd = u->l.fd, .to = (struct sockaddr *)&f->src, .tolen = len,
		.peer = peer, .queue_max = UDP_QUEUE_MAX, .pool = &u->pool,
		.gone = flow_gone, .arg = f });
	return f->t;
}

/* A relay that does not keep up loses datagrams, not memory. */
static void pass_in(struct udp_listen *u, struct tunnel *t, uint8_t *msg, size_t n)
{
	struct fwd_end *e = tunnel_end(t);

	if (tunnel_send(t, msg, UDPF_HDR + n) < 0) {
		u->l.fr->stats.datagrams_dropped++;
		return;
	}
	e->up += n;
	e->stats->bytes_up += n;
	e->active = lws_now_usecs();
}

static void batch_flush(struct udp_listen *u, struct batch *b)
{
	struct fwd_end *e;

	if (!b->t)
		return;
	if (tunnel_send_frames(b->t, b->start, (size_t)(b->end - b->start)) < 0) {
		u->l.fr->stats.datagrams_dropped += b->count;
	} else {
		e = tunnel_end(b->t);
		e->up += b->bytes;
		e->stats->bytes_up += b->bytes;
		e->active = lws_now_usecs();
	}
	*b = (struct batch){ 0 };
}

/* The datagram read into slot joins the batch; one of another flow, or
 * one that does not fit, sends the batch before it first. */
static void batch_add(struct udp_listen *u, struct batch *b, struct tunnel *t, uint8_t *slot,
		      size_t n)
{
	uint8_t *end;

	if (b->t != t || (size_t)(slot + UDP_SLOT_HDR + UDPF_HDR + n - b->start) > UDP_BATCH_MAX)
		batch_flush(u, b);
	if (!(end = frame_slot(slot, n))) {
		u->l.fr->stats.datagrams_dropped++;
		return;
	}
	if (!b->t)
		*b = (struct batch){ .t = t, .start = slot };
	b->end = end;
	b->count++;
	b->bytes += n;
	if (batch_full(end, (size_t)(end - slot)))
		batch_flush(u, b);
}

static struct tunnel *flow_of(struct udp_listen *u, const struct sockaddr_storage *src,
			      socklen_t len)
{
	struct tunnel *t = flow_find(u, src, len);

	if (!t && u->n_flows < UDP_FLOWS_MAX)
		t = flow_new(u, src, len);
	if (!t)
		u->l.fr->stats.datagrams_dropped++;
	return t;
}

static int udp_readable(struct loop_obj *o, struct loop_fd *fh)
{
	struct udp_listen *u = (struct udp_listen *)o;
	struct batch b = { 0 };
	struct sockaddr_storage src;
	struct tunnel *t;

	(void)fh;
	for (int i = 0; i < UDP_READS_PER_WAKEUP; i++) {
		uint8_t *slot = b.t ? b.end : BATCH_BASE;
		socklen_t len = sizeof(src);
		ssize_t n = recvfrom(u->l.fd, slot + UDP_SLOT_HDR + UDPF_HDR, UDP_READ_MAX,
				     MSG_DONTWAIT, (struct sockaddr *)&src, &len);

		if (n < 0)
			break;
		if (!(t = flow_of(u, &src, len)))
			continue;
		if (tunnel_can_send(t)) {
			batch_add(u, &b, t, slot, (size_t)n);
			continue;
		}
		batch_flush(u, &b);   /* what came before goes first */
		udpf_header(slot + UDP_SLOT_HDR, (size_t)n);
		pass_in(u, t, slot + UDP_SLOT_HDR, (size_t)n);
	}
	batch_flush(u, &b);
	return 0;
}

static void udp_close(struct loop_obj *o, struct loop_fd *fh)
{
	struct udp_listen *u = (struct udp_listen *)o;

	(void)fh;
	u->l.fh = NULL;
	u->l.fd = -1;
	maybe_free(u);
}

static const struct loop_fd_ops udp_ops = { "udp", udp_readable, NULL, udp_close };

/* ---- the kind ------------------------------------------------------------------ */

static int udp_listen(struct fwd_run *fr, size_t ep, struct fwd_listen **out)
{
	struct udp_listen *u;
	int fd = fwd_sock_bind_inet(&fr->fwd->ep[ep], SOCK_DGRAM);

	if (fd < 0)
		return fd;
	u = xcalloc(1, sizeof(*u));
	u->l.obj.fd_ops = &udp_ops;
	u->l.fr = fr;
	u->l.ep = ep;
	u->l.fd = fd;
	u->pool.limit = UDP_FWD_QUEUE_MAX;
	u->l.fh = loop_adopt(fd, &u->l.obj);
	if (!u->l.fh) {
		free(u);   /* lws closed the fd */
		return -EIO;
	}
	*out = &u->l;
	return 0;
}

static void udp_unlisten(struct fwd_listen *l)
{
	struct udp_listen *u = (struct udp_listen *)l;
	struct flow *f, *next;

	u->stopping = true;
	/* Flows may go at once (flow_gone): walk with the next one in hand. */
	for (f = u->flows; f; f = next) {
		next = f->next;
		tunnel_close(f->t, NULL);
	}
	fwd_sock_unlisten(l);
	maybe_free(u);
}

static const struct fwd_end_ops udp_end = {
	.to_local = udp_to_local,
	.frames_from_local = udp_frames_from_local,
	.flush_local = udp_flush_local,
	.close_local = udp_close_local,
	.message_len = udp_message_len,
};

static const char *udp_where(const struct azb_ep *ep, char *buf, size_t len)
{
	return fwd_sock_where_inet(ep, "/udp", buf, len);
}

static struct dial *udp_dial(const struct azb_ep *ep, const char *bind_address, dial_cb cb,
			     void *arg)
{
	return dial_inet(ep->host, ep->port, SOCK_DGRAM, bind_address, cb, arg);
}

const struct fwd_kind fwd_udp = {
	.noun = "udp flow",
	.mode = PRE_DGRAM,
	.idle_us = UDP_IDLE_US,
	.listen = udp_listen,
	.unlisten = udp_unlisten,
	.where = udp_where,
	.dial = udp_dial,
	.end = &udp_end,
};

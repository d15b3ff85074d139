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

#define UDP_IDLE_US (240LL * 1000000)
/* Bytes waiting for the relay (mostly for flows still connecting), per flow
 * and across all flows of one forward; beyond them datagrams are dropped
 * and counted. */
#define UDP_QUEUE_MAX (256 * 1024)
#define UDP_FWD_QUEUE_MAX (1024 * 1024)
#define UDP_FLOWS_MAX 4096
#define UDP_READS_PER_WAKEUP 64

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

/* ---- the datagram end -------------------------------------------------------- */

static void deliver(void *arg, const uint8_t *p, size_t n)
{
	struct fwd_end *e = arg;

	e->down += n;
	e->stats->bytes_down += n;
	e->active = lws_now_usecs();
	/* UDP may drop; so may we when the client's or target's queue is full. */
	if (sendto(e->fd, p, n, MSG_DONTWAIT, e->to, e->tolen) < 0 && errno != EAGAIN &&
	    errno != ECONNREFUSED)
		log_ctx(LOG_DEBUG, &e->log, "udp flow %s: send: %s", e->log.tunnel, strerror(errno));
}

/* Every byte is taken: a datagram the socket refuses is dropped, as UDP does. */
static ssize_t udp_to_local(struct fwd_end *e, const uint8_t *p, size_t n)
{
	udpf_feed(&e->df, p, n, deliver, e);
	return (ssize_t)n;
}

/* One datagram from the target, framed: one websocket message. */
static ssize_t udp_from_local(struct fwd_end *e, uint8_t *buf, size_t cap)
{
	size_t room = cap - UDPF_HDR < UDPF_MAX_PAYLOAD ? cap - UDPF_HDR : UDPF_MAX_PAYLOAD;
	ssize_t n = recv(e->fd, buf + UDPF_HDR, room, MSG_DONTWAIT);

	if (n < 0)
		return errno == EAGAIN || errno == EINTR || errno == ECONNREFUSED ? -EAGAIN : -errno;
	udpf_header(buf, (size_t)n);
	e->up += (uint64_t)n;
	e->stats->bytes_up += (uint64_t)n;
	e->active = lws_now_usecs();
	return UDPF_HDR + n;
}

static size_t udp_message_len(const uint8_t *p, size_t n)
{
	(void)n;   /* the tunnel queues whole frames */
	return UDPF_HDR + ((size_t)p[0] << 8 | p[1]);
}

/* ---- flows --------------------------------------------------------------------- */

static void maybe_free(struct udp_listen *u)
{
	if (u->stopping && !u->flows && !u->l.wsi)
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

static int udp_readable(struct loop_obj *o, struct lws *wsi)
{
	struct udp_listen *u = (struct udp_listen *)o;
	uint8_t *msg = loop_scratch() + LOOP_HEADROOM;
	struct sockaddr_storage src;
	struct tunnel *t;

	(void)wsi;
	for (int i = 0; i < UDP_READS_PER_WAKEUP; i++) {
		socklen_t len = sizeof(src);
		ssize_t n = recvfrom(u->l.fd, msg + UDPF_HDR, LOOP_CHUNK - UDPF_HDR, MSG_DONTWAIT,
				     (struct sockaddr *)&src, &len);

		if (n < 0)
			break;
		t = flow_find(u, &src, len);
		if (!t && u->n_flows < UDP_FLOWS_MAX)
			t = flow_new(u, &src, len);
		if (!t) {
			u->l.fr->stats.datagrams_dropped++;
			continue;
		}
		udpf_header(msg, (size_t)n);
		pass_in(u, t, msg, (size_t)n);
	}
	return 0;
}

static void udp_close(struct loop_obj *o, struct lws *wsi)
{
	struct udp_listen *u = (struct udp_listen *)o;

	(void)wsi;
	u->l.wsi = NULL;
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
	u->l.wsi = loop_adopt(fd, &u->l.obj);
	if (!u->l.wsi) {
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
	.from_local = udp_from_local,
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

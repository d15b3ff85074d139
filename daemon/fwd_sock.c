/* What the kinds share: binding IP sockets, the listening stream socket and
 * its accept loop, and the byte-stream end of a tunnel (TCP, Unix, HTTP). */
#include "fwd_kind.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "acceptor.h"
#include "tunnel.h"

#define ACCEPTS_PER_WAKEUP 64

int fwd_sock_bind_inet(const struct azb_ep *ep, int type)
{
	struct addrinfo hints = { .ai_socktype = type, .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	char port[8];
	int one = 1, fd, r;

	/* Bind addresses are loopback or local names: resolving them here, at
	 * start or reload, does not wait on the network. */
	snprintf(port, sizeof(port), "%u", ep->port);
	if (getaddrinfo(ep->host, port, &hints, &ai) != 0)
		return -EADDRNOTAVAIL;
	fd = socket(ai->ai_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		freeaddrinfo(ai);
		return r;
	}
	if (type == SOCK_STREAM)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	r = bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 511) < 0) ? -errno : fd;
	if (r < 0)
		close(fd);
	freeaddrinfo(ai);
	return r;
}

const char *fwd_sock_where_inet(const struct azb_ep *ep, const char *suffix, char *buf,
				size_t len)
{
	snprintf(buf, len, strchr(ep->host, ':') ? "[%s]:%u%s" : "%s:%u%s", ep->host, ep->port,
		 suffix);
	return buf;
}

/* ---- listening ----------------------------------------------------------- */

static void peer_text(const struct sockaddr_storage *ss, char *out, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?", port[8] = "";

	if (ss->ss_family == AF_UNIX) {
		snprintf(out, len, "unix");
		return;
	}
	getnameinfo((const struct sockaddr *)ss, sizeof(*ss), host, sizeof(host), port,
		    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(out, len, ss->ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

static int listen_readable(struct loop_obj *o, struct loop_fd *fh)
{
	struct fwd_listen *l = (struct fwd_listen *)o;
	const struct fwd_kind *k = l->fr->kinds[l->ep];
	struct sockaddr_storage ss;
	char peer[64];

	for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
		socklen_t sl = sizeof(ss);
		int fd = acc_accept(fh, l->fd, (struct sockaddr *)&ss, &sl, l->fr->fwd->name);

		if (fd < 0) {
			if (fd != -EAGAIN)
				fwd_error(l->fr, "accept failed: %s", strerror(-fd));
			break;
		}
		if (k->accepted)
			k->accepted(fd);
		peer_text(&ss, peer, sizeof(peer));
		tunnel_start_sender(l->fr, l->ep, &(struct tunnel_client){ .fd = fd, .peer = peer });
	}
	return 0;
}

static void listen_close(struct loop_obj *o, struct loop_fd *fh)
{
	struct fwd_listen *l = (struct fwd_listen *)o;

	(void)fh;
	l->fh = NULL;
	l->fd = -1;
}

static const struct loop_fd_ops listen_ops = { "listener", listen_readable, NULL,
					       listen_close };

int fwd_sock_listen_stream(struct fwd_listen *l, struct fwd_run *fr, size_t ep, int fd)
{
	l->obj.fd_ops = &listen_ops;
	l->fr = fr;
	l->ep = ep;
	l->fd = fd;
	l->fh = loop_adopt(fd, &l->obj);
	return l->fh ? 0 : -EIO;   /* lws closed the fd */
}

void fwd_sock_unlisten(struct fwd_listen *l)
{
	if (l->fh) {
		/* Detach first: the object goes now, the fh on the loop. */
		loop_detach(l->fh);
		loop_kill_now(l->fh);
	} else if (l->fd >= 0) {
		close(l->fd);
	}
	l->fh = NULL;
	l->fd = -1;
}

struct dial *fwd_sock_dial_tcp(const struct azb_ep *ep, const char *bind_address, dial_cb cb,
			       void *arg)
{
	return dial_inet(ep->host, ep->port, SOCK_STREAM, bind_address, cb, arg);
}

/* ---- the byte-stream end ------------------------------------------------- */

static ssize_t stream_write(struct fwd_end *e, const uint8_t *p, size_t n)
{
	ssize_t w = write(e->fd, p, n);

	if (w < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	e->down += (uint64_t)w;
	e->stats->bytes_down += (uint64_t)w;
	return w;
}

static ssize_t stream_read(struct fwd_end *e, uint8_t *buf, size_t cap)
{
	ssize_t n = read(e->fd, buf, cap);

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? -EAGAIN : -errno;
	e->up += (uint64_t)n;
	e->stats->bytes_up += (uint64_t)n;
	return n;
}

static size_t stream_message(const uint8_t *p, size_t n)
{
	(void)p;
	return n < FWD_MESSAGE_MAX ? n : FWD_MESSAGE_MAX;
}

static int stream_shut(struct fwd_end *e)
{
	return shutdown(e->fd, SHUT_WR) < 0 ? -errno : 0;
}

/* Has the local peer sent FIN? Then what is left in the socket is finite and
 * may be read now: the loop closes a paused fd on an error (a reset that
 * may follow), and unread bytes would be lost. */
static bool stream_finished(struct fwd_end *e)
{
	struct pollfd p = { .fd = e->fd, .events = POLLRDHUP };

	return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP));
}

/* Close with FIN, not RST: the kernel resets a socket closed with unread
 * bytes, so discard what the client already sent first. */
static void stream_close(int fd)
{
	char sink[4096];

	shutdown(fd, SHUT_WR);
	for (int i = 0; i < 64 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
		;
}

const struct fwd_end_ops fwd_sock_stream = {
	.to_local = stream_write,
	.from_local = stream_read,
	.message_len = stream_message,
	.shut_local = stream_shut,
	.finished = stream_finished,
	.close_local = stream_close,
};

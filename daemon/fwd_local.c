#include "fwd_local.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "acceptor.h"
#include "log.h"
#include "loop.h"
#include "tunnel.h"
#include "udp.h"
#include "util.h"

#define ACCEPTS_PER_WAKEUP 64

struct fwd_listen {
	struct loop_obj obj;
	struct fwd_run *fr;
	size_t ep;
	int fd;
	struct lws *wsi;
	char *unix_path;      /* unlinked when the listener stops */
	struct udp_fwd *udp;
};

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

static int listen_readable(struct loop_obj *o, struct lws *wsi)
{
	struct fwd_listen *l = (struct fwd_listen *)o;
	struct sockaddr_storage ss;
	char peer[64];

	for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
		socklen_t sl = sizeof(ss);
		int fd = acc_accept(wsi, l->fd, (struct sockaddr *)&ss, &sl, l->fr->fwd->name);

		if (fd < 0) {
			if (fd != -EAGAIN)
				fwd_error(l->fr, "accept failed: %s", strerror(-fd));
			break;
		}
		peer_text(&ss, peer, sizeof(peer));
		tunnel_start_sender(l->fr, l->ep, fd, peer);
	}
	return 0;
}

static void listen_close(struct loop_obj *o, struct lws *wsi)
{
	struct fwd_listen *l = (struct fwd_listen *)o;

	(void)wsi;
	l->wsi = NULL;
	l->fd = -1;
}

static const struct loop_fd_ops listen_ops = { "listener", listen_readable, NULL,
					       listen_close };

static int bind_inet(const struct azb_ep *ep, int *fd_out)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	char port[8];
	int one = 1, fd, rc;

	/* Bind addresses are loopback or local names: resolving them here, at
	 * start or reload, does not wait on the network. */
	snprintf(port, sizeof(port), "%u", ep->port);
	rc = getaddrinfo(ep->host, port, &hints, &ai);
	if (rc != 0)
		return -EADDRNOTAVAIL;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 511) < 0) {
		rc = -errno;
		close(fd);
		goto out;
	}
	*fd_out = fd;
	rc = 0;
out:
	freeaddrinfo(ai);
	return rc;
}

static int bind_unix(const char *path, int *fd_out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	r = unix_clear_stale(&sa);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 511) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	*fd_out = fd;
	return 0;
}

static int start_one(struct fwd_run *fr, size_t i, struct fwd_listen **out)
{
	const struct azb_ep *ep = &fr->fwd->ep[i];
	struct fwd_listen *l = xcalloc(1, sizeof(*l));
	int r;

	l->fr = fr;
	l->ep = i;
	l->fd = -1;
	l->obj.fd_ops = &listen_ops;
	if (ep->kind == AZB_KIND_UDP) {
		r = udp_fwd_start(fr, i, &l->udp);
	} else if (ep->kind == AZB_KIND_UNIX) {
		r = bind_unix(ep->socket_path, &l->fd);
		if (r == 0)
			l->unix_path = xstrdup(ep->socket_path);
	} else {
		r = bind_inet(ep, &l->fd);
	}
	if (r == 0 && l->fd >= 0) {
		l->wsi = loop_adopt(l->fd, &l->obj);
		if (!l->wsi)
			r = -EIO;
	}
	if (r < 0) {
		free(l->unix_path);
		free(l);
		return r;
	}
	*out = l;
	return 0;
}

static const char *ep_text(const struct azb_ep *ep, char *buf, size_t len)
{
	if (ep->kind == AZB_KIND_UNIX)
		snprintf(buf, len, "%s", ep->socket_path);
	else
		snprintf(buf, len, strchr(ep->host, ':') ? "[%s]:%u%s" : "%s:%u%s", ep->host,
			 ep->port, ep->kind == AZB_KIND_UDP ? "/udp" : "");
	return buf;
}

int fwd_local_start(struct fwd_run *fr)
{
	struct log_ctx c = fwd_ctx(fr);
	char where[300];
	int r;

	fr->listens = xcalloc(fr->fwd->n_ep, sizeof(*fr->listens));
	for (size_t i = 0; i < fr->fwd->n_ep; i++) {
		r = start_one(fr, i, &fr->listens[i]);
		if (r < 0) {
			fwd_error(fr, "cannot listen on %s: %s",
				  ep_text(&fr->fwd->ep[i], where, sizeof(where)), strerror(-r));
			fwd_local_stop(fr);
			return r;
		}
		log_ctx(LOG_INFO, &c, "%s: listening on %s for relay %s (port name %s)",
			fr->fwd->name, ep_text(&fr->fwd->ep[i], where, sizeof(where)),
			fr->fwd->relay, fr->fwd->ep[i].port_name);
	}
	return 0;
}

void fwd_local_stop(struct fwd_run *fr)
{
	if (!fr->listens)
		return;
	for (size_t i = 0; i < fr->fwd->n_ep; i++) {
		struct fwd_listen *l = fr->listens[i];

		if (!l)
			continue;
		if (l->udp)
			udp_fwd_stop(l->udp);
		if (l->wsi) {
			/* Detach first: the object goes now, the wsi on the loop. */
			lws_set_opaque_user_data(l->wsi, NULL);
			loop_kill_now(l->wsi);
		} else if (l->fd >= 0) {
			close(l->fd);
		}
		if (l->unix_path)
			unlink(l->unix_path);
		free(l->unix_path);
		free(l);
	}
	free(fr->listens);
	fr->listens = NULL;
}

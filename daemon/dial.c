#include "dial.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "resolve.h"
#include "util.h"

struct dial {
	struct resolve_req *rr;
	int sotype;
	uint16_t port;
	char *bind_address;
	dial_cb cb;
	void *arg;
};

static int bind_source(int fd, int family, const char *src)
{
	struct resolve_result r;
	struct resolve_req *req;

	/* -b is a local address, checked when the config was loaded. */
	if (!src || resolve_host(src, &r, NULL, NULL, &req) != 1)
		return 0;
	if (r.addr.ss_family != family)
		return 0;
	return bind(fd, (struct sockaddr *)&r.addr, r.len) < 0 ? -errno : 0;
}

static int connect_inet(const struct resolve_result *res, uint16_t port, int sotype,
			const char *src)
{
	struct sockaddr_storage sa = res->addr;
	int one = 1, fd, r;

	if (sa.ss_family == AF_INET)
		((struct sockaddr_in *)&sa)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&sa)->sin6_port = htons(port);
	fd = socket(sa.ss_family, sotype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (sotype == SOCK_STREAM)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	r = bind_source(fd, sa.ss_family, src);
	if (r == 0 && connect(fd, (struct sockaddr *)&sa, res->len) < 0 && errno != EINPROGRESS)
		r = -errno;
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

static int connect_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

static void resolved(void *arg, int err, const struct resolve_result *res)
{
	struct dial *d = arg;
	int fd = err < 0 ? err : connect_inet(res, d->port, d->sotype, d->bind_address);

	d->cb(d->arg, fd < 0 ? -1 : fd, fd < 0 ? fd : 0);
	free(d->bind_address);
	free(d);
}

struct dial *dial_start(const struct azb_ep *ep, const char *bind_address, dial_cb cb, void *arg)
{
	struct resolve_result res;
	struct dial *d;
	int fd;

	if (ep->kind == AZB_KIND_UNIX) {
		fd = connect_unix(ep->socket_path);
		cb(arg, fd < 0 ? -1 : fd, fd < 0 ? fd : 0);
		return NULL;
	}
	d = xcalloc(1, sizeof(*d));
	d->sotype = ep->kind == AZB_KIND_UDP ? SOCK_DGRAM : SOCK_STREAM;
	d->port = ep->port;
	d->bind_address = bind_address ? xstrdup(bind_address) : NULL;
	d->cb = cb;
	d->arg = arg;
	if (resolve_host(ep->host, &res, resolved, d, &d->rr) == 1) {
		resolved(d, 0, &res);
		return NULL;
	}
	return d;
}

void dial_cancel(struct dial *d)
{
	/* The resolver still calls back once; make that a no-op. */
	resolve_cancel(d->rr);
	free(d->bind_address);
	free(d);
}

int dial_result(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	return -err;
}

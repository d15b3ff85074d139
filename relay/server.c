/* The relay's listening sockets: each accepted connection becomes a conn
 * (conn.c), and a routed head starts the role its route names. */
#include "relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acceptor.h"
#include "admit.h"
#include "conn.h"
#include "http_client.h"
#include "listener.h"
#include "log.h"
#include "loop.h"
#include "rendezvous.h"
#include "sender.h"

#define ACCEPTS_PER_WAKEUP 64

/* One listening socket. */
struct lsock {
	struct loop_obj obj;
	struct relay *relay;
	int fd;
	struct loop_fd *fh;
	uint16_t port;
};

static struct lsock *lsocks;
static size_t n_lsocks;

static const struct conn_routes routes = {
	.http = hclient_start, .listen = listener_start, .connect = sender_start,
	.accept = sender_accept, .request = rendezvous_start,
};

/* ---- listening --------------------------------------------------------- */

static int lst_readable(struct loop_obj *o, struct loop_fd *fh)
{
	struct lsock *l = (struct lsock *)o;

	for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = acc_accept(fh, l->fd, (struct sockaddr *)&ss, &sl, "relay");

		if (fd < 0)
			break;
		conn_accept(l->relay, fd, (struct sockaddr *)&ss, &routes);
	}
	return 0;
}

static void lst_close(struct loop_obj *o, struct loop_fd *fh)
{
	struct lsock *l = (struct lsock *)o;

	(void)fh;
	l->fh = NULL;
}

static const struct loop_fd_ops lst_ops = { "relay listener", lst_readable, NULL,
					    lst_close };

static int bind_one(const struct relay_listen_addr *a, int *fd_out, uint16_t *port_out)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char port[8];
	int one = 1, fd, r = 0;

	snprintf(port, sizeof(port), "%u", a->port);
	if (getaddrinfo(*a->host ? a->host : NULL, port, &hints, &ai) != 0)
		return -EADDRNOTAVAIL;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		r = -errno;
	if (r == 0) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0)
			r = -errno;
	}
	freeaddrinfo(ai);
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		return r;
	}
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	*port_out = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port :
						    ((struct sockaddr_in6 *)&ss)->sin6_port);
	*fd_out = fd;
	return 0;
}

/* Descriptors the process may open, less some for listeners and logs: past
 * that, accept() would fail for everyone. */
static size_t connection_budget(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return 0;
	return rl.rlim_cur > 256 ? (size_t)rl.rlim_cur - 64 : (size_t)rl.rlim_cur / 2;
}

int relay_serve(struct relay *r)
{
	if (!r->max_connections)
		r->max_connections = connection_budget();
	admit_configure(r->max_connections, r->max_per_source);
	lsocks = xcalloc(r->n_listen, sizeof(*lsocks));
	for (size_t i = 0; i < r->n_listen; i++) {
		struct lsock *l = &lsocks[i];
		int rc = bind_one(&r->listen[i], &l->fd, &l->port);

		if (rc < 0) {
			log_error("cannot listen on %s%s%s:%u: %s", strchr(r->listen[i].host, ':') ? "[" : "",
				  *r->listen[i].host ? r->listen[i].host : "*",
				  strchr(r->listen[i].host, ':') ? "]" : "", r->listen[i].port,
				  strerror(-rc));
			return rc;
		}
		l->relay = r;
		l->obj.fd_ops = &lst_ops;
		l->fh = loop_adopt(l->fd, &l->obj);
		if (!l->fh)
			return -EIO;
		n_lsocks++;
	}
	return 0;
}

uint16_t relay_bound_port(size_t i)
{
	return i < n_lsocks ? lsocks[i].port : 0;
}

void relay_close_all(void)
{
	for (size_t i = 0; i < n_lsocks; i++)
		if (lsocks[i].fh) {
			loop_detach(lsocks[i].fh);
			loop_kill_now(lsocks[i].fh);
		}
	free(lsocks);
	lsocks = NULL;
	n_lsocks = 0;
	admit_reset();
}

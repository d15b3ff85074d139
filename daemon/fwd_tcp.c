/* TCP forwards: a listening port (-L), or a target dialled by name (-T). */
#include "fwd_kind.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "util.h"

static int tcp_listen(struct fwd_run *fr, size_t ep, struct fwd_listen **out)
{
	struct fwd_listen *l;
	int fd = fwd_sock_bind_inet(&fr->fwd->ep[ep], SOCK_STREAM), r;

	if (fd < 0)
		return fd;
	l = xcalloc(1, sizeof(*l));
	r = fwd_sock_listen_stream(l, fr, ep, fd);
	if (r < 0) {
		free(l);
		return r;
	}
	*out = l;
	return 0;
}

static void tcp_unlisten(struct fwd_listen *l)
{
	fwd_sock_unlisten(l);
	free(l);
}

/* Small writes go out at once: a tunnel carries interactive protocols. */
static void tcp_accepted(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static const char *tcp_where(const struct azb_ep *ep, char *buf, size_t len)
{
	return fwd_sock_where_inet(ep, "", buf, len);
}

const struct fwd_kind fwd_tcp = {
	.noun = "tunnel",
	.mode = PRE_STREAM,
	.listen = tcp_listen,
	.unlisten = tcp_unlisten,
	.accepted = tcp_accepted,
	.where = tcp_where,
	.dial = fwd_sock_dial_tcp,
	.end = &fwd_sock_stream,
};

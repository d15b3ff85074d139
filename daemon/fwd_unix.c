/* Unix-socket forwards: a socket file we listen on (-L), unlinked when the
 * forward stops, or a target socket we connect to (-T). */
#include "fwd_kind.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

struct unix_listen {
	struct fwd_listen l;      /* first: the listener's pointer is ours */
	char *path;
};

static int path_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

static int bind_unix(const char *path)
{
	struct sockaddr_un sa;
	int fd, r = path_addr(path, &sa);

	if (r == 0)
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
	return fd;
}

static int unix_listen(struct fwd_run *fr, size_t ep, struct fwd_listen **out)
{
	const char *path = fr->fwd->ep[ep].socket_path;
	struct unix_listen *u;
	int fd = bind_unix(path), r;

	if (fd < 0)
		return fd;
	u = xcalloc(1, sizeof(*u));
	u->path = xstrdup(path);
	r = fwd_sock_listen_stream(&u->l, fr, ep, fd);
	if (r < 0) {
		unlink(u->path);
		free(u->path);
		free(u);
		return r;
	}
	*out = &u->l;
	return 0;
}

static void unix_unlisten(struct fwd_listen *l)
{
	struct unix_listen *u = (struct unix_listen *)l;

	fwd_sock_unlisten(l);
	unlink(u->path);
	free(u->path);
	free(u);
}

static const char *unix_where(const struct azb_ep *ep, char *buf, size_t len)
{
	snprintf(buf, len, "%s", ep->socket_path);
	return buf;
}

/* A local connect: done or refused at once, so cb comes before the return. */
static struct dial *unix_dial(const struct azb_ep *ep, const char *bind_address, dial_cb cb,
			      void *arg)
{
	struct sockaddr_un sa;
	int fd, r = path_addr(ep->socket_path, &sa);

	(void)bind_address;   /* for IP dials only */
	fd = r < 0 ? r : socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (r == 0 && fd < 0)
		r = -errno;
	if (r == 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
		r = -errno;
		close(fd);
	}
	cb(arg, r < 0 ? -1 : fd, r);
	return NULL;
}

const struct fwd_kind fwd_unix = {
	.noun = "tunnel",
	.mode = PRE_STREAM,
	.listen = unix_listen,
	.unlisten = unix_unlisten,
	.where = unix_where,
	.dial = unix_dial,
	.end = &fwd_sock_stream,
};

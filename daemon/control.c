#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "acceptor.h"
#include "log.h"
#include "loop.h"
#include "supervisor.h"
#include "util.h"

struct ctl_client {
	struct loop_obj obj;
	struct loop_fd *fh;
	int fd;
	struct ctl_peer peer;
	char *in;                 /* a partial request line */
	size_t in_len;
	struct sbuf out;          /* replies not yet written */
	size_t out_off;
	bool closing;             /* close once out is written */
	lws_sorted_usec_list_t idle;
	struct ctl_client *next, **pprev;
};

static struct {
	struct loop_obj obj;
	struct loop_fd *fh;
	int fd;
	char *path;               /* unlinked on stop; NULL if activated */
	const char *shown;        /* path for messages */
	char *bound;              /* the path it is bound to, activated or not */
	char *rundir;             /* its directory, or the default's */
	struct ctl_client *clients;
	unsigned n_clients;
} C = { .fd = -1 };

/* ---- requests ------------------------------------------------------------- */

static bool may_mutate(const struct ctl_caller *who)
{
	const struct azb_config *c = sup_config();

	if (who->root)
		return true;
	for (size_t i = 0; c && i < c->n_control_uids; i++)
		if (c->control_uids[i] == who->peer->uid)
			return true;
	return false;
}

/* The groups the peer had when it connected (the kernel's record, not the
 * user database), for telling which directories it can write. */
static void caller_of(const struct ctl_client *cl, struct ctl_caller *who)
{
	socklen_t len = sizeof(who->groups);

	who->peer = &cl->peer;
	who->root = cl->peer.uid == 0 || cl->peer.uid == geteuid();
	who->groups_known = getsockopt(cl->fd, SOL_SOCKET, SO_PEERGROUPS, who->groups, &len) == 0;
	who->n_groups = who->groups_known ? len / sizeof(gid_t) : 0;
}

static void log_request(const struct ctl_peer *p, const struct ctl_verb *v, const json_t *reply)
{
	bool ok = json_is_true(json_object_get(reply, "ok"));
	const char *msg = json_string_value(json_object_get(reply, "message"));

	log_msg(v->mutating ? LOG_NOTICE : LOG_DEBUG, "control: uid %u pid %d: %s%s%s",
		(unsigned)p->uid, (int)p->pid, v->name, ok ? "" : ": ", ok ? "" : msg ? msg : "?");
}

static json_t *dispatch(const struct ctl_client *cl, const char *line, size_t len)
{
	struct ctl_caller who;
	struct ctl_request rq;
	json_t *reply;

	if (ctl_decode(line, len, &rq, &reply) < 0)
		return reply;
	caller_of(cl, &who);
	if (rq.verb->mutating && !may_mutate(&who))
		reply = ctl_fail(CTL_E_DENIED, "%s needs root or a user listed in "
				 "control_users (you are uid %u)", rq.verb->name,
				 (unsigned)cl->peer.uid);
	else
		reply = ctl_verb_run(rq.verb->id, &who, rq.req);
	log_request(&cl->peer, rq.verb, reply);
	json_decref(rq.req);
	return reply;
}

/* ---- one client ----------------------------------------------------------- */

static void client_idle(lws_sorted_usec_list_t *sul)
{
	struct ctl_client *cl = lws_container_of(sul, struct ctl_client, idle);

	if (cl->fh)
		loop_kill(cl->fh);
}

static void queue_reply(struct ctl_client *cl, json_t *reply)
{
	char *text = json_dumps(reply, JSON_COMPACT);

	json_decref(reply);
	sbuf_add(&cl->out, text ? text : "{\"ok\":false,\"error\":\"internal\"}");
	sbuf_addc(&cl->out, '\n');
	free(text);
	loop_want_write(cl->fh);
}

/* Answer every complete line; keep the partial rest. */
static void take_lines(struct ctl_client *cl)
{
	size_t start = 0;
	char *nl;

	while (!cl->closing && (nl = memchr(cl->in + start, '\n', cl->in_len - start))) {
		size_t len = (size_t)(nl - (cl->in + start));

		if (len > 0 && !(len == 1 && cl->in[start] == '\r'))
			queue_reply(cl, dispatch(cl, cl->in + start, len));
		start += len + 1;
	}
	memmove(cl->in, cl->in + start, cl->in_len - start);
	cl->in_len -= start;
	if (cl->in_len > CTL_MAX_REQUEST && !cl->closing) {
		queue_reply(cl, ctl_fail("too-large", "a request line may be at most %d bytes",
					 CTL_MAX_REQUEST));
		cl->closing = true;
	}
}

static int client_readable(struct loop_obj *o, struct loop_fd *fh)
{
	struct ctl_client *cl = (struct ctl_client *)o;
	ssize_t n;

	(void)fh;
	if (cl->closing) {   /* whatever follows an oversized line is dropped */
		n = read(cl->fd, loop_scratch(), LOOP_CHUNK);
		return n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) ? -1 : 0;
	}
	n = read(cl->fd, cl->in + cl->in_len, CTL_MAX_REQUEST + 1 - cl->in_len);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (n == 0) {
		/* A half-written request is dropped; written replies still go out. */
		cl->closing = true;
		cl->in_len = 0;
		return cl->out.len > cl->out_off ? 0 : -1;
	}
	cl->in_len += (size_t)n;
	lws_sul_schedule(loop_context(), 0, &cl->idle, client_idle,
			 (lws_usec_t)CTL_IDLE_SECONDS * LWS_US_PER_SEC);
	take_lines(cl);
	if (cl->out.len - cl->out_off > CTL_MAX_PENDING) {
		log_warning("control: uid %u pid %d reads no replies; closing its connection",
			    (unsigned)cl->peer.uid, (int)cl->peer.pid);
		return -1;
	}
	return 0;
}

static int client_writeable(struct loop_obj *o, struct loop_fd *fh)
{
	struct ctl_client *cl = (struct ctl_client *)o;
	size_t left = cl->out.len - cl->out_off;
	ssize_t n;

	(void)fh;
	if (left == 0)
		return cl->closing ? -1 : 0;
	n = send(cl->fd, cl->out.s + cl->out_off, left, MSG_NOSIGNAL);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? (loop_want_write(cl->fh), 0) : -1;
	cl->out_off += (size_t)n;
	if (cl->out_off == cl->out.len) {
		sbuf_free(&cl->out);
		cl->out_off = 0;
		return cl->closing ? -1 : 0;
	}
	loop_want_write(cl->fh);
	return 0;
}

static void client_close(struct loop_obj *o, struct loop_fd *fh)
{
	struct ctl_client *cl = (struct ctl_client *)o;

	(void)fh;
	lws_sul_cancel(&cl->idle);
	*cl->pprev = cl->next;
	if (cl->next)
		cl->next->pprev = cl->pprev;
	C.n_clients--;
	sbuf_free(&cl->out);
	free(cl->in);
	free(cl);
}

static const struct loop_fd_ops client_ops = { "control client", client_readable,
					       client_writeable, client_close };

static void client_new(int fd, const struct ucred *uc)
{
	struct ctl_client *cl = xcalloc(1, sizeof(*cl));

	cl->obj.fd_ops = &client_ops;
	cl->fd = fd;
	cl->peer = (struct ctl_peer){ uc->uid, uc->gid, uc->pid };
	cl->in = xmalloc(CTL_MAX_REQUEST + 1);   /* the line and its newline */
	sbuf_init(&cl->out);
	cl->next = C.clients;
	if (cl->next)
		cl->next->pprev = &cl->next;
	cl->pprev = &C.clients;
	C.clients = cl;
	C.n_clients++;
	cl->fh = loop_adopt(fd, &cl->obj);
	if (!cl->fh) {   /* loop_adopt closed fd and delivered no close */
		client_close(&cl->obj, NULL);
		return;
	}
	lws_sul_schedule(loop_context(), 0, &cl->idle, client_idle,
			 (lws_usec_t)CTL_IDLE_SECONDS * LWS_US_PER_SEC);
}

/* ---- the listening socket --------------------------------------------------- */

static int listen_readable(struct loop_obj *o, struct loop_fd *fh)
{
	(void)o;
	for (int i = 0; i < 16; i++) {
		struct ucred uc;
		socklen_t ul = sizeof(uc);
		int fd = acc_accept(fh, C.fd, NULL, NULL, "control socket");

		if (fd < 0)
			break;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &ul) < 0 ||
		    C.n_clients >= CTL_MAX_CLIENTS) {
			log_warning("control: refusing a connection: %s",
				    C.n_clients >= CTL_MAX_CLIENTS ? "too many clients" : strerror(errno));
			close(fd);
			continue;
		}
		client_new(fd, &uc);
	}
	return 0;
}

static void listen_close(struct loop_obj *o, struct loop_fd *fh)
{
	(void)o;
	(void)fh;
	C.fh = NULL;
	C.fd = -1;
}

static const struct loop_fd_ops listen_ops = { "control socket", listen_readable, NULL,
					       listen_close };

/* Socket activation: a socket named "control", or the only one passed. */
static int activated_fd(void)
{
	char **names = NULL;
	int n = sd_listen_fds_with_names(1, &names), fd = -1;

	for (int i = 0; i < n; i++) {
		if (fd < 0 && (n == 1 || (names && strcmp(names[i], "control") == 0)))
			fd = SD_LISTEN_FDS_START + i;
		if (names)
			free(names[i]);
	}
	free(names);
	if (fd >= 0 && sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0)
		return -ENOTSOCK;
	/* Passed blocking: the accept loop runs until EAGAIN. */
	if (fd >= 0 && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		return -errno;
	return fd;
}

static void make_parent(const char *path)
{
	char *dir = xstrdup(path), *slash = strrchr(dir, '/');

	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) == 0)
			log_info("created %s for the control socket", dir);
	}
	free(dir);
}

/* Mode 0660 from the first moment (umask around bind), then the group. */
static int bind_path(const char *path, const char *group, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const struct group *gr = getgrnam(group ? group : AZB_CONTROL_GROUP);
	mode_t old;
	int fd, r;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	make_parent(path);
	r = unix_clear_stale(&sa);   /* never take over a live socket */
	if (r == -EADDRINUSE)
		return azb_errn(err, errlen, r, "another azbridged answers on %s", path);
	if (r < 0)
		return azb_errn(err, errlen, r, "%s: %s", path,
				 r == -EEXIST ? "exists and is not a socket" : strerror(-r));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return azb_errn(err, errlen, -errno, "socket: %s", strerror(errno));
	old = umask(0117);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, SOMAXCONN) < 0 ? -errno : 0;
	umask(old);
	if (r < 0) {
		close(fd);
		return azb_errn(err, errlen, r, "cannot listen on %s: %s", path, strerror(-r));
	}
	if (gr && chown(path, (uid_t)-1, gr->gr_gid) < 0)
		log_warning("control socket %s: cannot give it group %s: %s", path, gr->gr_name,
			    strerror(errno));
	else if (!gr)
		log_info("control socket %s: group %s does not exist; only root and the daemon's "
			 "own user can connect", path, group ? group : AZB_CONTROL_GROUP);
	return fd;
}

/* The path of a listening socket, whoever bound it; NULL for an abstract
 * or unnamed one. */
static char *bound_path(int fd)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);

	memset(&sa, 0, sizeof(sa));
	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0 || sa.sun_path[0] != '/')
		return NULL;
	return xstrndup(sa.sun_path, len - offsetof(struct sockaddr_un, sun_path));
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return xstrndup(path, slash && slash != path ? (size_t)(slash - path) : 1);
}

static void set_rundir(const struct azb_config *c)
{
	free(C.rundir);
	C.rundir = dir_of(C.bound ? C.bound : c->control_socket ? c->control_socket :
			  AZB_CONTROL_SOCKET);
}

int ctl_server_start(const struct azb_config *c, bool from_file, char *err, size_t errlen)
{
	const char *path = c->control_socket;
	int fd = activated_fd();

	ctl_verbs_init();
	set_rundir(c);
	if (fd == -ENOTSOCK)
		return azb_errn(err, errlen, fd, "the socket passed by systemd is not a listening "
				 "Unix stream socket");
	if (fd < 0) {
		if (!path && (c->control_socket_set || !from_file))
			return 0;   /* none asked for */
		path = path ? path : AZB_CONTROL_SOCKET;
		fd = bind_path(path, c->control_group, err, errlen);
		if (fd < 0)
			return fd;
		C.path = xstrdup(path);
	}
	C.shown = C.path ? C.path : "(socket activation)";
	C.bound = bound_path(fd);
	set_rundir(c);
	C.fd = fd;
	C.obj.fd_ops = &listen_ops;
	C.fh = loop_adopt(fd, &C.obj);
	if (!C.fh) {
		ctl_server_stop();
		return azb_errn(err, errlen, -EIO, "cannot watch the control socket");
	}
	log_info("control socket: %s", C.shown);
	return 0;
}

const char *ctl_server_path(void)
{
	return C.fd >= 0 ? C.shown : NULL;
}

const char *ctl_runtime_dir(void)
{
	return C.rundir ? C.rundir : AZB_RUNTIME_DIR;
}

/* By inode, which no other name of the socket can hide, and by the path
 * with its directory resolved, for when the socket's file is gone. */
bool ctl_is_control_socket(const char *resolved, const struct stat *st)
{
	const char *base;
	char *dir, *real;
	struct stat own;
	bool same;

	if (!C.bound)
		return false;
	if (st && stat(C.bound, &own) == 0 && own.st_dev == st->st_dev && own.st_ino == st->st_ino)
		return true;
	dir = dir_of(C.bound);
	real = realpath(dir, NULL);
	base = strrchr(C.bound, '/') + 1;
	same = real && strncmp(resolved, real, strlen(real)) == 0 &&
	       resolved[strlen(real)] == '/' && strcmp(resolved + strlen(real) + 1, base) == 0;
	free(real);
	free(dir);
	return same;
}

void ctl_server_stop(void)
{
	while (C.clients) {
		struct ctl_client *cl = C.clients;

		if (cl->fh) {
			loop_detach(cl->fh);
			loop_kill_now(cl->fh);
		}
		client_close(&cl->obj, NULL);
	}
	if (C.fh) {
		loop_detach(C.fh);
		loop_kill_now(C.fh);
	} else if (C.fd >= 0) {
		close(C.fd);
	}
	C.fh = NULL;
	C.fd = -1;
	if (C.path)
		unlink(C.path);
	free(C.path);
	C.path = NULL;
	free(C.bound);
	C.bound = NULL;
	free(C.rundir);
	C.rundir = NULL;
}

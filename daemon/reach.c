#include "reach.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "util.h"

/* The attempts' sockets sit in an epoll set of their own, and only that set
 * is adopted by the loop: the winner is handed on without lws ever having
 * known it, so no poll entry or close of the loop's follows it. A name
 * with one address needs no set: its socket goes out at once. */
struct reach {
	struct loop_obj obj;
	struct loop_fd *fh;              /* the epoll set's; NULL until there is one */
	int ep;
	char *host;
	uint16_t port;
	reach_cb cb;
	void *arg;
	struct resolve_req *rr;
	struct resolve_list list;
	int order[RESOLVE_MAX];
	int fd[RESOLVE_MAX];          /* by position in order; -1: none */
	int next;                     /* position of the next to start */
	int pending;                  /* started and not yet failed */
	int last_err;
	char last[INET6_ADDRSTRLEN + 80];
	bool resolved, done;
	lws_sorted_usec_list_t delay, kick;
};

/* ---- the order -------------------------------------------------------------- */

int reach_order(const struct resolve_list *list, int order[RESOLVE_MAX])
{
	int same[RESOLVE_MAX], other[RESOLVE_MAX], ns = 0, no = 0, n = 0, family = 0;

	if (list->preferred >= 0 && list->preferred < list->n)
		order[n++] = list->preferred;
	for (int i = 0; i < list->n; i++) {
		if (i == list->preferred)
			continue;
		if (!family)
			family = list->a[i].addr.ss_family;
		if (list->a[i].addr.ss_family == family)
			same[ns++] = i;
		else
			other[no++] = i;
	}
	for (int i = 0; i < ns || i < no; i++) {
		if (i < ns)
			order[n++] = same[i];
		if (i < no)
			order[n++] = other[i];
	}
	return n;
}

/* ---- the end ---------------------------------------------------------------- */

static void close_attempts(struct reach *r)
{
	for (int i = 0; i < r->list.n; i++)
		if (r->fd[i] >= 0) {
			close(r->fd[i]);
			r->fd[i] = -1;
		}
	r->pending = 0;
}

static void teardown(struct reach *r)
{
	r->done = true;
	close_attempts(r);
	resolve_cancel(r->rr);
	r->rr = NULL;
	lws_sul_cancel(&r->delay);
	lws_sul_cancel(&r->kick);
}

static void reach_free(struct reach *r)
{
	free(r->host);
	free(r);
}

/* The one way out: what is left goes, and r with it (by the loop when it
 * holds the set). */
static void end(struct reach *r)
{
	teardown(r);
	if (r->fh)
		loop_kill(r->fh);
	else
		reach_free(r);
}

/* why may point into r: it is copied before r goes. */
static void deliver(struct reach *r, int fd, int err, const char *why)
{
	reach_cb cb = r->cb;
	void *arg = r->arg;
	char text[sizeof(r->last) + 64];

	snprintf(text, sizeof(text), "%s", why ? why : "");
	end(r);
	cb(arg, fd, err, why ? text : NULL);
}

static void fail(struct reach *r)
{
	char why[sizeof(r->last) + 64];

	snprintf(why, sizeof(why), "%d address%s of %s tried, last %s", r->list.n,
		 r->list.n == 1 ? "" : "es", r->host, r->last);
	deliver(r, -1, r->last_err, why);
}

static const char *addr_text(const struct reach *r, int pos)
{
	return r->list.a[r->order[pos]].text;
}

static void won(struct reach *r, int pos)
{
	int fd = r->fd[pos];
	const struct resolve_result *a = &r->list.a[r->order[pos]];

	epoll_ctl(r->ep, EPOLL_CTL_DEL, fd, NULL);
	r->fd[pos] = -1;
	if (pos > 0)    /* the first worked: nothing to tell */
		log_debug("%s:%u: connected to %s (address %d of %d)", r->host, r->port, a->text,
			  pos + 1, r->list.n);
	resolve_prefer(r->host, (const struct sockaddr *)&a->addr);
	deliver(r, fd, 0, NULL);
}

/* ---- the attempts ----------------------------------------------------------- */

static void attempt_failed(struct reach *r, int pos, int err)
{
	r->last_err = err;
	snprintf(r->last, sizeof(r->last), "%s: %s", addr_text(r, pos), strerror(-err));
	log_debug("%s:%u: %s", r->host, r->port, r->last);
}

/* A socket whose connect to the address at pos is under way, or -errno. */
static int connect_one(struct reach *r, int pos)
{
	struct sockaddr_storage sa;
	socklen_t len = resolve_sockaddr(&r->list.a[r->order[pos]], r->port, &sa);
	int one = 1, fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, len) < 0 && errno != EINPROGRESS) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* The same, watched in the set. */
static int start_one(struct reach *r, int pos)
{
	struct epoll_event ev = { .events = EPOLLOUT, .data.u32 = (uint32_t)pos };
	int err, fd = connect_one(r, pos);

	if (fd < 0 || epoll_ctl(r->ep, EPOLL_CTL_ADD, fd, &ev) == 0)
		return fd;
	err = -errno;
	close(fd);
	return err;
}

static void on_delay(lws_sorted_usec_list_t *sul);

/* Starts the next address that gets as far as a connect under way. False
 * when none is left. */
static bool start_next(struct reach *r)
{
	while (r->next < r->list.n) {
		int pos = r->next++, fd = start_one(r, pos);

		if (fd < 0) {
			attempt_failed(r, pos, fd);
			continue;
		}
		r->fd[pos] = fd;
		r->pending++;
		lws_sul_schedule(loop_context(), 0, &r->delay, on_delay,
				 (lws_usec_t)REACH_DELAY_MS * 1000);
		return true;
	}
	return false;
}

static void on_delay(lws_sorted_usec_list_t *sul)
{
	struct reach *r = lws_container_of(sul, struct reach, delay);

	if (r->next < r->list.n)
		log_debug("%s:%u: no answer from %s within %d ms; trying %s as well", r->host,
			  r->port, addr_text(r, r->next - 1), REACH_DELAY_MS, addr_text(r, r->next));
	start_next(r);
}

/* After a failure: the next one at once; the end when nothing is left. */
static void go_on(struct reach *r)
{
	if (!start_next(r) && r->pending == 0)
		fail(r);
}

static void attempt_ready(struct reach *r, int pos)
{
	int fd = r->fd[pos], err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == 0) {
		won(r, pos);
		return;
	}
	close(fd);
	r->fd[pos] = -1;
	r->pending--;
	attempt_failed(r, pos, -err);
	go_on(r);
}

static int on_readable(struct loop_obj *o, struct loop_fd *fh)
{
	struct reach *r = (struct reach *)o;
	struct epoll_event ev[RESOLVE_MAX];
	int n = epoll_wait(r->ep, ev, RESOLVE_MAX, 0);

	(void)fh;
	for (int i = 0; i < n && !r->done; i++)
		if (ev[i].data.u32 < (uint32_t)r->list.n && r->fd[ev[i].data.u32] >= 0)
			attempt_ready(r, (int)ev[i].data.u32);
	return 0;
}

static void on_close(struct loop_obj *o, struct loop_fd *fh)
{
	struct reach *r = (struct reach *)o;

	(void)fh;
	if (!r->done) {   /* the loop going away: the owner ends as with a stream */
		teardown(r);
		r->cb(r->arg, -1, -ECANCELED, NULL);
	}
	reach_free(r);
}

static const struct loop_fd_ops reach_fd_ops = { "reach", on_readable, NULL, on_close };

/* ---- the start -------------------------------------------------------------- */

/* One address: the caller sees the connect's outcome as with any socket. */
static void only_one(struct reach *r)
{
	int fd = connect_one(r, 0);

	r->next = 1;
	if (fd < 0)
		attempt_failed(r, 0, fd);
	deliver(r, fd, fd < 0 ? fd : 0, fd < 0 ? r->last : NULL);
}

static int make_set(struct reach *r)
{
	r->ep = epoll_create1(EPOLL_CLOEXEC);
	if (r->ep < 0)
		return -errno;
	r->fh = loop_adopt(r->ep, &r->obj);
	return r->fh ? 0 : -EIO;    /* lws closed ep */
}

static void begin(struct reach *r)
{
	int err;

	r->resolved = true;
	reach_order(&r->list, r->order);
	if (r->list.n == 1) {
		only_one(r);
		return;
	}
	err = make_set(r);
	if (err < 0) {
		deliver(r, -1, err, NULL);
		return;
	}
	go_on(r);
}

static void on_kick(lws_sorted_usec_list_t *sul)
{
	begin(lws_container_of(sul, struct reach, kick));
}

static void resolved(void *arg, int err, const struct resolve_list *list)
{
	struct reach *r = arg;

	r->rr = NULL;
	if (err == -ECANCELED && !loop_context()) {
		/* After the loop: the owner can be told nothing safely. */
		end(r);
		return;
	}
	if (err < 0) {
		deliver(r, -1, err, NULL);
		return;
	}
	r->list = *list;
	begin(r);
}

struct reach *reach_open(const char *host, uint16_t port, reach_cb cb, void *arg)
{
	struct reach *r = xcalloc(1, sizeof(*r));

	r->obj.fd_ops = &reach_fd_ops;
	r->ep = -1;
	r->host = xstrdup(host);
	r->port = port;
	r->cb = cb;
	r->arg = arg;
	for (int i = 0; i < RESOLVE_MAX; i++)
		r->fd[i] = -1;
	/* Even a cached answer starts from the loop: cb never runs inside this. */
	if (resolve_host_all(host, &r->list, resolved, r, &r->rr) == 1)
		loop_defer(&r->kick, on_kick);
	return r;
}

void reach_cancel(struct reach *r)
{
	if (r && !r->done)
		end(r);
}

bool reach_abort(struct reach *r)
{
	if (!r->fh) {
		reach_cancel(r);
		return false;
	}
	close_attempts(r);
	lws_sul_cancel(&r->delay);
	loop_kill(r->fh);    /* on_close calls back */
	return true;
}

const char *reach_progress(const struct reach *r, char *buf, size_t len)
{
	if (!r->resolved)
		snprintf(buf, len, "resolving %s", r->host);
	else if (r->last[0])
		snprintf(buf, len, "%d of %d addresses of %s tried, last %s", r->next, r->list.n,
			 r->host, r->last);
	else
		snprintf(buf, len, "%d of %d addresses of %s tried, none answered", r->next,
			 r->list.n, r->host);
	return buf;
}

/* Listening sockets, TLS, the HTTP request head and responses. */
#include "rconn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acceptor.h"
#include "log.h"
#include "loop.h"
#include "url.h"

#define HEAD_LIMIT (32 * 1024)
#define ACCEPTS_PER_WAKEUP 64

struct listener {
	struct loop_obj obj;
	struct relay *relay;
	int fd;
	struct lws *wsi;
	uint16_t port;
};

static struct listener *listeners;
static size_t n_listeners;

/* ---- responses --------------------------------------------------------- */

const char *rc_reason(int status)
{
	static const struct { int status; const char *text; } t[] = {
		{ 400, "Bad Request" }, { 401, "Unauthorized" }, { 403, "Forbidden" },
		{ 404, "Not Found" }, { 405, "Method Not Allowed" }, { 408, "Request Timeout" },
		{ 410, "Gone" }, { 431, "Request Header Fields Too Large" },
		{ 500, "Internal Server Error" }, { 502, "Bad Gateway" },
		{ 503, "Service Unavailable" }, { 504, "Gateway Timeout" },
	};

	for (size_t i = 0; i < AZB_ARRAY_SIZE(t); i++)
		if (t[i].status == status)
			return t[i].text;
	return status < 500 ? "Client Error" : "Server Error";
}

void rc_respond(struct rconn *rc, int status, const char *body)
{
	rc_respond_as(rc, status, rc_reason(status), body);
}

void rc_respond_as(struct rconn *rc, int status, const char *reason, const char *body)
{
	char *msg;

	if (!rc->st)
		return;
	if (!body)
		body = reason;
	msg = xasprintf("HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
			"Connection: close\r\n\r\n%s", status, reason, strlen(body), body);
	stream_write(rc->st, (const uint8_t *)msg, strlen(msg));
	free(msg);
	rc->state = RC_CLOSING;
	stream_close(rc->st);
}

void rc_upgrade(struct rconn *rc, const char *key, const char *protocol)
{
	char acc[WS_ACCEPT_LEN + 1], *msg;

	ws_accept_for(key, acc);
	msg = xasprintf("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
			"Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s%s%s\r\n", acc,
			protocol ? "Sec-WebSocket-Protocol: " : "", protocol ? protocol : "",
			protocol ? "\r\n" : "");
	stream_write(rc->st, (const uint8_t *)msg, strlen(msg));
	free(msg);
	ws_parser_init(&rc->parser, true);
}

void rc_close(struct rconn *rc)
{
	if (rc->st && rc->state != RC_CLOSING) {
		rc->state = RC_CLOSING;
		stream_close(rc->st);
	}
}

char *rc_query(const struct rconn *rc, const char *name)
{
	return rhead_query(rc->head.target, name);
}

/* ---- a connection ------------------------------------------------------ */

static void on_head_timeout(lws_sorted_usec_list_t *sul)
{
	struct rconn *rc = lws_container_of(sul, struct rconn, head_timer);

	if (rc->state != RC_HEAD)
		return;
	if (rc->head.len)
		rc_respond(rc, 408, "the request head did not arrive in time");
	else
		rc_close(rc);
}

void rc_await_head(struct rconn *rc)
{
	lws_sul_schedule(loop_context(), 0, &rc->head_timer, on_head_timeout,
			 (lws_usec_t)rc->relay->header_timeout_s * LWS_US_PER_SEC);
}

static int rc_open(void *owner)
{
	(void)owner;
	return 0;
}

static int read_head(struct rconn *rc, uint8_t *data, size_t len)
{
	size_t used;
	int r = http1_feed_request(&rc->head, (const char *)data, len, &used);

	if (r == 0)
		return 0;
	lws_sul_cancel(&rc->head_timer);
	if (r < 0) {
		rc_respond(rc, r == -E2BIG ? 431 : 400, r == -E2BIG ? NULL :
			   "malformed request head: lines end in CRLF, no control characters");
		return 0;
	}
	rc_route(rc, data + used, len - used);
	return 0;
}

void rc_feed(struct rconn *rc, uint8_t *data, size_t len)
{
	read_head(rc, data, len);
}

static int rc_rx(void *owner, uint8_t *data, size_t len)
{
	struct rconn *rc = owner;

	switch (rc->state) {
	case RC_HEAD:
		return read_head(rc, data, len);
	case RC_HTTP:
		return http_rx(rc, data, len);
	case RC_LISTENER:
	case RC_RDV:
	case RC_SPLICED:
		return rc_ws_rx(rc, data, len);
	default:
		return 0;    /* waiting or closing: nothing is expected */
	}
}

static int rc_on_writeable(void *owner)
{
	rc_writeable(owner);
	return 0;
}

static void rc_on_close(void *owner, const char *err)
{
	struct rconn *rc = owner;

	if (err && rc->state != RC_CLOSING && rc->state != RC_HEAD)
		log_debug("connection from %s closed: %s", rc->st ? stream_peer(rc->st) : "?", err);
	rc->st = NULL;
	lws_sul_cancel(&rc->head_timer);
	rc_forget(rc);
	admit_release(&rc->source);
	http1_clear(&rc->head);
	sbuf_free(&rc->msg);
	free(rc->key);
	free(rc);
}

static const struct stream_ops rc_ops = { rc_open, rc_rx, rc_on_writeable, rc_on_close };

/* ---- listening --------------------------------------------------------- */

/* A new connection, if the limits let it in: its head must come in time,
 * and what it does not read is bounded. */
static void rc_admit(struct relay *r, int fd, const struct sockaddr *sa)
{
	struct admit_key k;
	struct rconn *rc;

	if (!admit_take(sa, &k)) {
		close(fd);
		return;
	}
	rc = xcalloc(1, sizeof(*rc));
	rc->relay = r;
	rc->source = k;
	http1_init(&rc->head, HEAD_LIMIT);
	sbuf_init(&rc->msg);
	rc->st = stream_accept(fd, r->tls, &rc_ops, rc);
	if (!rc->st) {
		admit_release(&rc->source);
		http1_clear(&rc->head);
		sbuf_free(&rc->msg);
		free(rc);
		return;
	}
	/* Room past the limit for the close frame that says why. */
	stream_set_limits(rc->st, r->max_output_queue + 4096, r->close_timeout_s);
	rc_await_head(rc);
}

static int lst_readable(struct loop_obj *o, struct lws *wsi)
{
	struct listener *l = (struct listener *)o;

	for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = acc_accept(wsi, l->fd, (struct sockaddr *)&ss, &sl, "relay");

		if (fd < 0)
			break;
		rc_admit(l->relay, fd, (struct sockaddr *)&ss);
	}
	return 0;
}

static void lst_close(struct loop_obj *o, struct lws *wsi)
{
	struct listener *l = (struct listener *)o;

	(void)wsi;
	l->wsi = NULL;
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
	listeners = xcalloc(r->n_listen, sizeof(*listeners));
	for (size_t i = 0; i < r->n_listen; i++) {
		struct listener *l = &listeners[i];
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
		l->wsi = loop_adopt(l->fd, &l->obj);
		if (!l->wsi)
			return -EIO;
		n_listeners++;
	}
	return 0;
}

uint16_t relay_bound_port(size_t i)
{
	return i < n_listeners ? listeners[i].port : 0;
}

void relay_close_all(void)
{
	for (size_t i = 0; i < n_listeners; i++)
		if (listeners[i].wsi) {
			lws_set_opaque_user_data(listeners[i].wsi, NULL);
			loop_kill_now(listeners[i].wsi);
		}
	free(listeners);
	listeners = NULL;
	n_listeners = 0;
	admit_reset();
}

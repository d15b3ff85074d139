/* Listening sockets, TLS, the HTTP request head and responses. */
#include "rconn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

void rc_respond(struct rconn *rc, int status, const char *reason, const char *body)
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
	const char *q = strchr(rc->head.target, '?');
	size_t nl = strlen(name);

	while (q && *q) {
		const char *p = q + 1, *end = p + strcspn(p, "&");

		if ((size_t)(end - p) > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
			char *raw = xstrndup(p + nl + 1, (size_t)(end - p - (long)nl - 1));
			char *v = url_decode(raw, true);

			free(raw);
			return v;
		}
		q = *end ? end : NULL;
	}
	return NULL;
}

/* ---- a connection ------------------------------------------------------ */

static void on_head_timeout(lws_sorted_usec_list_t *sul)
{
	struct rconn *rc = lws_container_of(sul, struct rconn, head_timer);

	if (rc->state != RC_HEAD)
		return;
	if (rc->head.len)
		rc_respond(rc, 408, "Request Timeout", "the request head did not arrive in time");
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
		rc_respond(rc, r == -E2BIG ? 431 : 400, r == -E2BIG ?
			   "Request Header Fields Too Large" : "Bad Request", NULL);
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
	http1_clear(&rc->head);
	sbuf_free(&rc->msg);
	free(rc->host);
	free(rc->key);
	free(rc);
}

static const struct stream_ops rc_ops = { rc_open, rc_rx, rc_on_writeable, rc_on_close };

/* ---- listening --------------------------------------------------------- */

static int lst_readable(struct loop_obj *o, struct lws *wsi)
{
	struct listener *l = (struct listener *)o;

	for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
		int fd = acc_accept(wsi, l->fd, NULL, NULL, "relay");
		struct rconn *rc;

		if (fd < 0)
			break;
		rc = xcalloc(1, sizeof(*rc));
		rc->relay = l->relay;
		http1_init(&rc->head, HEAD_LIMIT);
		sbuf_init(&rc->msg);
		rc->st = stream_accept(fd, l->relay->tls, &rc_ops, rc);
		if (!rc->st) {
			http1_clear(&rc->head);
			sbuf_free(&rc->msg);
			free(rc);
			continue;
		}
		rc_await_head(rc);
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

int relay_serve(struct relay *r)
{
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
}

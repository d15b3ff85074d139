#include "relay_pool.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "loop.h"
#include "reach.h"
#include "stream.h"
#include "util.h"

struct spare {
	struct spare *next;
	struct stream *st;          /* NULL while resolving and connecting */
	struct reach *reach;
	char *host;
	uint16_t port;
	bool tls, insecure, ready;
	lws_sorted_usec_list_t timer;   /* opening and idle: one deadline */
};

static struct spare *spares;
static size_t n_spares;
static bool closed;

static bool same(const struct spare *s, const char *host, uint16_t port, bool tls, bool insecure)
{
	return s->port == port && s->tls == tls && s->insecure == insecure &&
	       strcmp(s->host, host) == 0;
}

static void unlink_spare(struct spare *s)
{
	for (struct spare **pp = &spares; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			n_spares--;
			return;
		}
}

static void spare_free(struct spare *s)
{
	unlink_spare(s);
	lws_sul_cancel(&s->timer);
	reach_cancel(s->reach);
	free(s->host);
	free(s);
}

/* ---- a spare's stream --------------------------------------------------- */

static int spare_open(void *owner)
{
	struct spare *s = owner;

	s->ready = true;
	log_debug("relay connection to %s:%u opened ahead of need", s->host, s->port);
	return 0;
}

/* Nothing was asked: anything the relay sends (an error, garbage) ends it.
 * TLS session tickets are TLS's own and never come here. */
static int spare_rx(void *owner, uint8_t *data, size_t len)
{
	(void)owner;
	(void)data;
	(void)len;
	return -1;
}

static int spare_writeable(void *owner)
{
	(void)owner;
	return 0;
}

static void spare_closed(void *owner, const char *err)
{
	struct spare *s = owner;

	if (!s->ready && err)
		log_debug("relay connection to %s:%u opened ahead failed: %s", s->host, s->port,
			  err);
	spare_free(s);
}

static const struct stream_ops spare_ops = { spare_open, spare_rx, spare_writeable,
					     spare_closed };

static void on_timer(lws_sorted_usec_list_t *sul)
{
	struct spare *s = lws_container_of(sul, struct spare, timer);

	if (!s->st) {
		spare_free(s);
		return;
	}
	if (s->ready)
		stream_close(s->st);   /* close_notify, then on_close */
	else
		stream_abort(s->st);
}

/* ---- opening ------------------------------------------------------------ */

/* Every address of the name, as for the connections the spares stand in
 * for (reach.h). */
static void reached(void *arg, int fd, int err, const char *why)
{
	struct spare *s = arg;

	(void)why;
	s->reach = NULL;
	if (fd >= 0)
		s->st = stream_connect_fd(fd, s->port, s->host, s->tls, NULL, s->insecure,
					  &spare_ops, s, &err);
	if (!s->st)
		spare_free(s);
}

static void open_spare(const char *host, uint16_t port, bool tls, bool insecure, int idle_s)
{
	struct spare *s = xcalloc(1, sizeof(*s));

	s->host = xstrdup(host);
	s->port = port;
	s->tls = tls;
	s->insecure = insecure;
	s->next = spares;
	spares = s;
	n_spares++;
	if (idle_s <= 0 || idle_s > RELAY_POOL_IDLE_S)
		idle_s = RELAY_POOL_IDLE_S;
	lws_sul_schedule(loop_context(), 0, &s->timer, on_timer,
			 (lws_usec_t)idle_s * LWS_US_PER_SEC);
	s->reach = reach_open(host, port, reached, s);
}

void relay_pool_fill(const char *host, uint16_t port, bool tls, bool insecure, size_t want,
		     int idle_s)
{
	size_t have = 0;

	if (want > RELAY_POOL_PER_KEY)
		want = RELAY_POOL_PER_KEY;
	for (struct spare *s = spares; s; s = s->next)
		if (same(s, host, port, tls, insecure))
			have++;
	while (!closed && have++ < want && n_spares < RELAY_POOL_MAX)
		open_spare(host, port, tls, insecure, idle_s);
}

struct stream *relay_pool_take(const char *host, uint16_t port, bool tls, bool insecure,
			       const struct stream_ops *ops, void *owner)
{
	struct stream *st;
	struct spare *s;

	for (s = spares; s; s = s->next) {
		if (!s->ready || !same(s, host, port, tls, insecure))
			continue;
		/* Closed by the relay a moment ago: the loop has not seen it yet. */
		if (!stream_peer_gone(s->st))
			break;
		s->ready = false;
		stream_abort(s->st);   /* on_close frees it */
	}
	if (!s)
		return NULL;
	st = s->st;
	stream_set_owner(st, ops, owner);
	spare_free(s);
	return st;
}

size_t relay_pool_count(void)
{
	return n_spares;
}

void relay_pool_close(void)
{
	struct spare *next;

	closed = true;
	for (struct spare *s = spares; s; s = next) {
		next = s->next;
		if (s->st)
			stream_abort(s->st);   /* on_close frees it as the loop ends */
		else
			spare_free(s);
	}
}

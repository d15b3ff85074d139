#include "http_pool.h"

#include <stdlib.h>

#include "fwd.h"
#include "loop.h"
#include "stream.h"
#include "util.h"

struct http_pool_conn {
	struct fwd_run *fr;            /* held */
	struct stream *st;
	size_t ep;
	SSL_CTX *ctx;                  /* compared only: the stream's SSL holds it */
	struct http_pool_conn *next, **pprev;    /* NULL pprev: out of the pool, closing */
	lws_sorted_usec_list_t timer;
};

static struct http_pool_conn **head_of(struct fwd_run *fr)
{
	return &fr->http_pool;
}

unsigned http_pool_cap(const struct azb_ep *e)
{
	if (e->http_idle < 0)
		return 0;
	return e->http_idle ? (unsigned)e->http_idle : HTTP_POOL_DEFAULT;
}

static void unlink_idle(struct http_pool_conn *c)
{
	if (!c->pprev)
		return;
	*c->pprev = c->next;
	if (c->next)
		c->next->pprev = c->pprev;
	c->pprev = NULL;
	lws_sul_cancel(&c->timer);
}

static void idle_free(struct http_pool_conn *c)
{
	struct fwd_run *fr = c->fr;

	unlink_idle(c);
	free(c);
	fwd_put(fr);   /* last: it may free fr */
}

/* ---- an idle connection's stream ---------------------------------------- */

static int idle_open(void *owner)
{
	(void)owner;
	return 0;
}

/* Nothing is asked: whatever comes (a 408, garbage) ends the connection. */
static int idle_rx(void *owner, uint8_t *data, size_t len)
{
	(void)owner;
	(void)data;
	(void)len;
	return -1;
}

static void idle_closed(void *owner, const char *err)
{
	(void)err;
	idle_free(owner);
}

static const struct stream_ops idle_ops = { idle_open, idle_rx, idle_open, idle_closed };

static void unowned_closed(void *owner, const char *err)
{
	(void)owner;
	(void)err;
}

/* A connection closing that nothing waits for. */
static const struct stream_ops unowned_ops = { idle_open, idle_rx, idle_open, unowned_closed };

static void idle_expired(lws_sorted_usec_list_t *sul)
{
	struct http_pool_conn *c = lws_container_of(sul, struct http_pool_conn, timer);

	unlink_idle(c);
	stream_close(c->st);   /* idle_closed frees c */
}

/* ---- the pool ------------------------------------------------------------- */

static unsigned count(struct fwd_run *fr, size_t ep)
{
	unsigned n = 0;

	for (struct http_pool_conn *c = *head_of(fr); c; c = c->next)
		n += c->ep == ep;
	return n;
}

struct stream *http_pool_take(struct fwd_run *fr, size_t ep, SSL_CTX *ctx)
{
	struct stream *st;

	for (struct http_pool_conn *c = *head_of(fr); c; c = c->next) {
		if (c->ep != ep || c->ctx != ctx)
			continue;
		st = c->st;
		idle_free(c);   /* fr is held by the caller's request */
		return st;
	}
	return NULL;
}

void http_pool_put(struct fwd_run *fr, size_t ep, SSL_CTX *ctx, struct stream *st)
{
	struct http_pool_conn *c;
	struct http_pool_conn **head = head_of(fr);

	if (fr->state == FWD_DRAINING || count(fr, ep) >= http_pool_cap(&fr->fwd->ep[ep])) {
		stream_set_owner(st, &unowned_ops, NULL);
		stream_close(st);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	fwd_hold(fr);
	c->fr = fr;
	c->st = st;
	c->ep = ep;
	c->ctx = ctx;
	c->next = *head;
	if (*head)
		(*head)->pprev = &c->next;
	*head = c;
	c->pprev = head;
	stream_set_owner(st, &idle_ops, c);
	stream_pause_rx(st, false);
	lws_sul_schedule(loop_context(), 0, &c->timer, idle_expired,
			 (lws_usec_t)HTTP_POOL_IDLE_S * LWS_US_PER_SEC);
}

void http_pool_close(struct fwd_run *fr)
{
	/* Each leaves the list here; idle_closed frees it from the loop. */
	for (int i = 0; *head_of(fr) && i < 1000000; i++) {
		struct http_pool_conn *c = *head_of(fr);

		unlink_idle(c);
		stream_abort(c->st);
	}
}

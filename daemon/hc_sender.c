#include "hc_sender.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"
#include "token.h"
#include "util.h"

struct hc_sender {
	struct wsc *ws;
	const struct hc_sender_ops *ops;
	void *owner;                  /* NULL once cancelled */
	enum pre_mode mode;
	uint8_t pre[PRE_MAX];         /* the preamble, encoded */
	size_t pre_len;
	uint8_t reply[PRE_REPLY_LEN];
	size_t reply_have;
	char why[400];                /* a failure before the websocket */
	lws_sorted_usec_list_t later;
	/* While an Entra ID token is fetched: what opening needs, kept. */
	struct token_wait *wait;
	struct hc_sender_params p;
	char *path, *id;
};

/* ---- the websocket --------------------------------------------------------- */

static void sender_free(struct hc_sender *s)
{
	token_cancel(s->wait);
	free(s->path);
	free(s->id);
	free(s);
}

static void fail(struct hc_sender *s, const char *why)
{
	void *owner = s->owner;

	s->owner = NULL;
	if (owner)
		s->ops->failed(owner, why);
}

/* From inside the upgrade's rx: the scratch buffer holds what is being
 * parsed, so the preamble goes from a buffer of its own. The client's first
 * bytes, when they are there already, follow it in the same write: the
 * listener holds them until its target is connected, and the first reply
 * comes a relay round trip sooner. */
static int ws_open(void *arg)
{
	struct hc_sender *s = arg;
	uint8_t early[HC_SENDER_EARLY_MAX];
	size_t n = 0;

	if (!s->owner)
		return -1;
	if (s->ops->early)
		n = s->ops->early(s->owner, early, sizeof(early));
	return wsc_send_two(s->ws, s->pre, s->pre_len, early, n) < 0;
}

static void accepted(struct hc_sender *s, uint8_t *rest, size_t n)
{
	const struct hc_sender_ops *ops = s->ops;
	struct wsc *ws = s->ws;
	void *owner = s->owner;

	wsc_ready(ws);
	/* The websocket outlives us: the owner's from its next callback on. */
	wsc_set_owner(ws, ops->ws_ops, owner);
	sender_free(s);
	ops->ready(owner, ws, rest, n);
}

static int ws_data(void *arg, enum ws_op op, uint8_t *p, size_t n, bool last)
{
	struct hc_sender *s = arg;
	size_t take = PRE_REPLY_LEN - s->reply_have;

	(void)op;
	(void)last;
	if (!s->owner)
		return -1;
	if (take > n)
		take = n;
	memcpy(s->reply + s->reply_have, p, take);
	s->reply_have += take;
	if (s->reply_have < PRE_REPLY_LEN)
		return 0;
	if (pre_check_reply(s->reply, s->mode) < 0) {
		fail(s, "the listener refused the port name or mode");
		return -1;
	}
	accepted(s, p + take, n - take);
	return 0;
}

static int ws_peer_closed(void *arg, uint16_t code)
{
	(void)code;
	fail(arg, "the peer closed the connection during set-up");
	return -1;
}

static void ws_gone(void *arg, int status, const char *why)
{
	struct hc_sender *s = arg;
	char msg[200];

	fail(s, wsc_gone_text(msg, sizeof(msg), status, why));
	sender_free(s);
}

static const struct wsc_ops sender_ws_ops = { ws_open, ws_data, ws_peer_closed, NULL, ws_gone,
					      NULL };

/* ---- starting -------------------------------------------------------------- */

static void failed_later(lws_sorted_usec_list_t *sul)
{
	struct hc_sender *s = lws_container_of(sul, struct hc_sender, later);

	fail(s, s->why);
	sender_free(s);
}

static void fail_later(struct hc_sender *s, const char *why)
{
	snprintf(s->why, sizeof(s->why), "cannot open a connection to the relay: %s", why);
	loop_defer(&s->later, failed_later);
}

static void open_ws(struct hc_sender *s, const struct hc_sender_params *p, const char *token)
{
	const struct fwd_relay *r = p->relay;
	struct wsc_params wp = { r->host, r->port, r->tls, r->insecure, NULL, NULL, p->timeout_s, 0,
				 &r->cred->proxy, p->spare_idle_s };

	wp.target = xasprintf("/$hc/%s?sb-hc-action=connect&sb-hc-id=%s", p->path, p->id);
	wp.token = token;
	s->ws = wsc_open(&wp, &sender_ws_ops, s);
	free((char *)wp.target);
}

static void get_token(struct hc_sender *s, const struct hc_sender_params *p);

static void token_ready(void *arg, int err, const char *why)
{
	struct hc_sender *s = arg;

	s->wait = NULL;
	if (err < 0)
		fail_later(s, why);
	else
		get_token(s, &s->p);
}

/* An Entra ID token not in the cache yet: wait for it with copies of what
 * opening needs (the caller's strings are gone by then). */
static void keep_params(struct hc_sender *s, const struct hc_sender_params *p)
{
	if (p == &s->p)
		return;
	s->p = *p;
	s->path = xstrdup(p->path);
	s->id = xstrdup(p->id);
	s->p.path = s->path;
	s->p.id = s->id;
	s->p.port_name = NULL;
}

static void get_token(struct hc_sender *s, const struct hc_sender_params *p)
{
	struct token t = { 0 };
	char why[300];
	int r = 1;

	if (!p->no_auth)
		r = token_get(p->relay, p->path, &t, token_ready, s, &s->wait, why, sizeof(why));
	if (r < 0)
		fail_later(s, why);
	else if (r == 0)
		keep_params(s, p);
	else
		open_ws(s, p, t.text);
	token_clear(&t);
}

struct hc_sender *hc_sender_start(const struct hc_sender_params *p,
				  const struct hc_sender_ops *ops, void *owner)
{
	struct hc_sender *s = xcalloc(1, sizeof(*s));
	int n = pre_encode(s->pre, p->mode, p->port_name);

	s->ops = ops;
	s->owner = owner;
	s->mode = p->mode;
	if (n < 0) {
		snprintf(s->why, sizeof(s->why), "port name longer than 255 bytes");
		loop_defer(&s->later, failed_later);
		return s;
	}
	s->pre_len = (size_t)n;
	get_token(s, p);
	return s;
}

void hc_sender_cancel(struct hc_sender *s)
{
	s->owner = NULL;
	if (s->ws)
		wsc_abort(s->ws);   /* freed in ws_gone */
	else {
		lws_sul_cancel(&s->later);
		sender_free(s);
	}
}

#include "http_target.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dial.h"
#include "http_map.h"
#include "http_pool.h"
#include "loop.h"
#include "stream.h"
#include "util.h"

enum ht_state { HT_DIALING, HT_CONNECTING, HT_HEAD, HT_BODY, HT_DONE };

enum ht_framing { HT_NONE, HT_LENGTH, HT_CHUNKED, HT_TO_CLOSE };

struct http_target {
	const struct http_target_ops *ops;   /* NULL once the owner has its last call */
	void *owner;
	enum ht_state state;
	struct dial *dial;             /* while dialing */
	struct stream *st;
	char *host, *head;
	uint16_t port;
	bool tls, insecure, no_body;
	SSL_CTX *ctx;
	struct http1_head resp;
	enum ht_framing framing;
	uint64_t left;
	struct http1_chunked chunks;
	struct fwd_run *pool;          /* where a clean end leaves the connection */
	size_t ep;
	bool sent;                     /* the request is whole on the wire */
	bool reused, answered;         /* a kept connection; a byte of its answer came */
	bool keep;                     /* done: the connection goes to the pool */
	lws_sorted_usec_list_t later;        /* a failure before any stream exists */
	char why[160];
};

static void ht_free(struct http_target *t)
{
	lws_sul_cancel(&t->later);
	http1_clear(&t->resp);
	free(t->host);
	free(t->head);
	free(t);
}

/* The owner's last call; the stream (if any) goes after it. */
static void ht_fail(struct http_target *t, enum http_target_fail f, const char *why)
{
	const struct http_target_ops *ops = t->ops;

	t->ops = NULL;
	t->state = HT_DONE;
	if (ops)
		ops->failed(t->owner, f, why);
	if (t->st)
		stream_abort(t->st);
}

/* NTLM and Negotiate authenticate the connection, not the request: such a
 * connection is never given to another client. */
static bool connection_auth(const struct http1_head *h, const char *name)
{
	for (size_t i = 0; i < h->n_headers; i++)
		if (strcasecmp(h->h[i].name, name) == 0 && http_connection_auth(h->h[i].value))
			return true;
	return false;
}

/* Another request may follow this one on the connection (RFC 9112 9.3). */
static bool reusable(const struct http_target *t)
{
	return t->pool && t->sent && t->resp.minor_version >= 1 && t->framing != HT_TO_CLOSE &&
	       !http1_has_token(&t->resp, "Connection", "close") &&
	       !connection_auth(&t->resp, "WWW-Authenticate");
}

/* clean: nothing came past the response's end. A connection kept goes to
 * the pool once on_rx is over. */
static void ht_done(struct http_target *t, bool clean)
{
	const struct http_target_ops *ops = t->ops;

	t->ops = NULL;
	t->state = HT_DONE;
	t->keep = clean && t->st && reusable(t);
	if (ops)
		ops->done(t->owner);
	if (!t->keep && t->st)   /* a body ended by the close has no stream left */
		stream_close(t->st);
}

/* ---- the response ------------------------------------------------------- */

static void body_out(void *arg, const uint8_t *p, size_t n)
{
	struct http_target *t = arg;

	if (t->ops && n)
		t->ops->body(t->owner, (uint8_t *)p, n);
}

static void feed_body(struct http_target *t, uint8_t *p, size_t n)
{
	bool extra = n > t->left;
	long r;

	switch (t->framing) {
	case HT_CHUNKED:
		r = http1_chunked_feed(&t->chunks, p, n, body_out, t);
		if (r < 0)
			ht_fail(t, HTF_RESPONSE, "the target sent a malformed chunked body");
		else if (t->ops && http1_chunked_done(&t->chunks))
			ht_done(t, r == (long)n);
		return;
	case HT_LENGTH:
		n = n < t->left ? n : (size_t)t->left;
		t->left -= n;
		body_out(t, p, n);
		if (t->ops && t->left == 0)
			ht_done(t, !extra);
		return;
	case HT_TO_CLOSE:
		body_out(t, p, n);
		return;
	default:
		return;
	}
}

/* The value of the last header called name, or NULL. With sole, NULL
 * too when two of them differ: a response that names two lengths has none
 * (RFC 9112 6.3). */
static const char *last_header(const struct http1_head *h, const char *name, bool sole,
			       bool *conflict)
{
	const char *v = NULL;

	for (size_t i = 0; i < h->n_headers; i++) {
		if (strcasecmp(h->h[i].name, name) != 0)
			continue;
		if (sole && v && strcmp(v, h->h[i].value) != 0)
			*conflict = true;
		v = h->h[i].value;
	}
	return v;
}

/* How the body is framed (RFC 9112 6.3); -EBADMSG for a length that is not one. */
static int framing_of(struct http_target *t)
{
	bool conflict = false;
	const char *te = last_header(&t->resp, "Transfer-Encoding", false, &conflict);
	const char *cl = last_header(&t->resp, "Content-Length", true, &conflict);
	size_t n;

	if (t->no_body || t->resp.status == 204 || t->resp.status == 304) {
		t->framing = HT_NONE;
		return 0;
	}
	if (te) {
		n = strlen(te);
		t->framing = n >= 7 && strcasecmp(te + n - 7, "chunked") == 0 ? HT_CHUNKED :
			     HT_TO_CLOSE;
		http1_chunked_init(&t->chunks);
		return 0;
	}
	if (!cl) {
		t->framing = HT_TO_CLOSE;
		return 0;
	}
	if (conflict || !azb_is_uint(cl) || strlen(cl) > 18)
		return -EBADMSG;
	t->left = strtoull(cl, NULL, 10);
	t->framing = t->left ? HT_LENGTH : HT_NONE;
	return 0;
}

/* A whole head of len bytes read: 1xx ones are interim and skipped;
 * returns bytes used. */
static size_t head_done(struct http_target *t, size_t used, size_t len)
{
	if (t->resp.status >= 100 && t->resp.status < 200 && t->resp.status != 101) {
		http1_clear(&t->resp);
		http1_init(&t->resp, HTTP_TARGET_HEAD_MAX);
		return used;
	}
	if (t->resp.status < 200 || t->resp.status > 599 || framing_of(t) < 0) {
		ht_fail(t, HTF_RESPONSE, "the target's response head is not one we can pass on");
		return used;
	}
	t->state = HT_BODY;
	t->ops->head(t->owner, &t->resp, t->framing != HT_NONE);
	if (t->ops && t->framing == HT_NONE)
		ht_done(t, used == len);
	return used;
}

/* A response that ended cleanly leaves its connection for the next. */
static void to_pool(struct http_target *t)
{
	struct stream *st = t->st;

	t->st = NULL;
	http_pool_put(t->pool, t->ep, t->ctx, st);
	ht_free(t);
}

static int on_rx(void *owner, uint8_t *data, size_t len)
{
	struct http_target *t = owner;

	t->answered = t->answered || len;
	while (len && t->state == HT_HEAD) {
		size_t used = 0;
		int r = http1_feed_response(&t->resp, (const char *)data, len, &used);

		if (r == 0)
			return 0;
		if (r < 0) {
			ht_fail(t, HTF_RESPONSE, r == -E2BIG ? "the target's response head is over "
				"32 kB or 64 headers" : "the target's response head is malformed");
			return 0;
		}
		used = head_done(t, used, len);
		data += used;
		len -= used;
	}
	if (len && t->state == HT_BODY)
		feed_body(t, data, len);
	if (t->keep)
		to_pool(t);
	return 0;
}

/* ---- the connection ------------------------------------------------------ */

/* The head goes; the owner may write the body. -1: the stream failed. */
static int send_head(struct http_target *t)
{
	t->state = HT_HEAD;
	if (stream_write(t->st, (const uint8_t *)t->head, strlen(t->head)) < 0)
		return -1;
	free(t->head);
	t->head = NULL;
	t->ops->open(t->owner);
	return 0;
}

static int on_open(void *owner)
{
	return send_head(owner);
}

static int on_writeable(void *owner)
{
	struct http_target *t = owner;

	if (t->ops && t->state != HT_DONE)
		t->ops->writeable(t->owner);
	return 0;
}

static bool peer_ended(const char *err)
{
	return !err || strcmp(err, "closed by the peer") == 0;
}

static void on_close(void *owner, const char *err)
{
	struct http_target *t = owner;

	t->st = NULL;
	if (t->reused && !t->answered && (t->state == HT_CONNECTING || t->state == HT_HEAD))
		ht_fail(t, HTF_STALE, "the target closed a kept connection without an answer");
	else if (t->state == HT_BODY && t->framing == HT_TO_CLOSE && peer_ended(err))
		ht_done(t, false);
	else if (t->state == HT_CONNECTING)
		ht_fail(t, HTF_CONNECT, err ? err : "connection failed");
	else if (t->state != HT_DONE)
		ht_fail(t, HTF_RESPONSE, t->state == HT_HEAD ? "the target closed the connection "
			"without an answer" : "the target closed the connection in the body");
	ht_free(t);
}

static const struct stream_ops target_stream_ops = { on_open, on_rx, on_writeable, on_close };

static void fail_later_cb(lws_sorted_usec_list_t *sul)
{
	struct http_target *t = lws_container_of(sul, struct http_target, later);

	ht_fail(t, HTF_CONNECT, t->why);
	ht_free(t);
}

static void fail_later(struct http_target *t, const char *why)
{
	snprintf(t->why, sizeof(t->why), "%s", why);
	t->state = HT_CONNECTING;
	lws_sul_schedule(loop_context(), 0, &t->later, fail_later_cb, 1);
}

static void dialed(void *arg, int fd, int err)
{
	struct http_target *t = arg;

	t->dial = NULL;
	t->state = HT_CONNECTING;
	if (fd < 0) {
		fail_later(t, err == -ENOENT ? "its host name does not resolve" :
			   err == -EHOSTUNREACH ? "its host name cannot be looked up" : strerror(-err));
		return;
	}
	t->st = stream_connect_fd(fd, t->port, t->host, t->tls, t->ctx, t->insecure,
				  &target_stream_ops, t, &err);
	if (!t->st)
		fail_later(t, strerror(-err));
}

/* A kept connection: the head goes from the loop, as after a connect. */
static void reused_open(lws_sorted_usec_list_t *sul)
{
	struct http_target *t = lws_container_of(sul, struct http_target, later);

	send_head(t);   /* a failed stream calls on_close */
}

static bool take_kept(struct http_target *t, const struct http_target_params *p)
{
	if (!t->pool || p->fresh)
		return false;
	t->st = http_pool_take(t->pool, t->ep, t->ctx);
	if (!t->st)
		return false;
	t->reused = true;
	t->state = HT_CONNECTING;
	stream_set_owner(t->st, &target_stream_ops, t);
	lws_sul_schedule(loop_context(), 0, &t->later, reused_open, 1);
	return true;
}

struct http_target *http_target_open(const struct http_target_params *p,
				     const struct http_target_ops *ops, void *owner)
{
	struct http_target *t = xcalloc(1, sizeof(*t));

	t->ops = ops;
	t->owner = owner;
	t->host = xstrdup(p->host);
	t->head = xstrdup(p->head);
	t->port = p->port;
	t->tls = p->tls;
	t->insecure = p->insecure;
	t->ctx = p->ctx;
	t->no_body = p->no_body;
	t->sent = !p->body;
	t->pool = p->pool;
	t->ep = p->ep;
	http1_init(&t->resp, HTTP_TARGET_HEAD_MAX);
	if (take_kept(t, p))
		return t;
	/* Called back at once for a numeric host: failures are reported later. */
	t->dial = dial_inet(t->host, t->port, SOCK_STREAM, p->bind_address, dialed, t);
	return t;
}

/* ---- the owner's side ------------------------------------------------------ */

int http_target_write(struct http_target *t, const uint8_t *p, size_t n)
{
	return t->st ? stream_write(t->st, p, n) : -ENOTCONN;
}

void http_target_end_body(struct http_target *t)
{
	t->sent = true;
}

bool http_target_choked(struct http_target *t)
{
	if (!t->st || !stream_choked(t->st))
		return false;
	stream_want_write(t->st);
	return true;
}

void http_target_pause(struct http_target *t, bool pause)
{
	if (t->st)
		stream_pause_rx(t->st, pause);
}

void http_target_abort(struct http_target *t)
{
	t->ops = NULL;
	if (t->dial) {
		dial_cancel(t->dial);
		ht_free(t);
		return;
	}
	if (t->st) {
		t->state = HT_DONE;
		stream_abort(t->st);   /* freed in on_close */
		return;
	}
	ht_free(t);   /* only the deferred failure was left */
}

#include "splice.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

struct splice_end {
	struct conn *c;
	struct splice_end *peer;     /* NULL once it has gone */
	bool mid_message;            /* forwarding: inside a fragmented message */
	bool close_rcvd;             /* this side sent its close */
	bool close_fwd;              /* a close was forwarded to this side */
	bool paused_for_peer;        /* not read while the peer drains */
	uint8_t *out;                /* frames of this read gathered for the peer */
	size_t out_len;
};

/* Small frames of one read leave for the peer in one write (a datagram
 * tunnel's messages would each cost a TLS record and a syscall): each is
 * moved up against the one before, over the bytes between them (its masked
 * header, longer than ours). Bigger frames go from where they are, as the
 * bulk of a stream does, so that path moves nothing. */
#define SPLICE_GATHER_MAX (16 * 1024)   /* one TLS record */
#define SPLICE_MOVE_MAX 4096

static void sent(struct splice_end *e)
{
	if (conn_choked(e->peer->c) && !e->paused_for_peer) {
		/* A slow reader holds this side back: bounded memory. */
		e->paused_for_peer = true;
		conn_pause_rx(e->c, true);
		conn_want_write(e->peer->c);
	}
}

static void flush_gathered(struct splice_end *e)
{
	if (!e->out_len)
		return;
	if (e->peer) {
		conn_send_frames(e->peer->c, e->out, e->out_len);
		sent(e);
	}
	e->out_len = 0;
}

static void gather(struct splice_end *e, enum ws_op op, bool fin, uint8_t *p, size_t n)
{
	uint8_t hdr[WS_HDR_MAX];
	size_t h = ws_header(hdr, op, fin, n, NULL);
	uint8_t *at;

	if (e->out_len + h + n > SPLICE_GATHER_MAX)
		flush_gathered(e);
	if (!e->out_len)
		e->out = p - h;   /* the headroom every piece has */
	at = e->out + e->out_len;
	memmove(at + h, p, n);   /* nothing to move for the first */
	memcpy(at, hdr, h);
	e->out_len += h + n;
}

static void on_data(struct conn *c, enum ws_op op, uint8_t *p, size_t n, bool last)
{
	struct splice_end *e = conn_state(c), *peer = e->peer;

	if (!peer || e->close_rcvd)
		return;
	op = e->mid_message ? WS_OP_CONT : op;
	e->mid_message = !last;
	if (n <= SPLICE_MOVE_MAX) {
		gather(e, op, last, p, n);
		return;
	}
	flush_gathered(e);
	conn_send_frame_at(peer->c, op, last, p, n);
	sent(e);
}

static void on_read_done(struct conn *c)
{
	flush_gathered(conn_state(c));
}

static void on_close_frame(struct conn *c, uint8_t *p, size_t n)
{
	struct splice_end *e = conn_state(c), *peer = e->peer;

	if (!peer) {
		if (!e->close_rcvd)
			conn_send_control(c, WS_OP_CLOSE, p, n);
		e->close_rcvd = true;
		conn_close(c);
		return;
	}
	e->close_rcvd = true;
	flush_gathered(e);   /* the data before it goes first */
	conn_send_control(peer->c, WS_OP_CLOSE, p, n);
	peer->close_fwd = true;
	/* Both directions ended: the pair is done. */
	if (peer->close_rcvd) {
		conn_close(peer->c);
		conn_close(c);
	}
}

static void on_broken(struct conn *c)
{
	struct splice_end *e = conn_state(c), *peer = e->peer;

	flush_gathered(e);
	if (peer && !peer->close_fwd) {
		conn_send_close(peer->c, WS_CLOSE_GOING_AWAY, "the other side went away");
		peer->close_fwd = true;
	}
}

static void on_writeable(struct conn *c)
{
	struct splice_end *e = conn_state(c), *peer = e->peer;

	if (peer && peer->paused_for_peer && !conn_choked(c)) {
		peer->paused_for_peer = false;
		conn_pause_rx(peer->c, false);
	}
}

/* Gone without its close frame: the other side is told, then ends. */
static void on_gone(struct conn *c)
{
	struct splice_end *e = conn_state(c), *peer = e->peer;

	if (peer) {
		peer->peer = NULL;
		if (!e->close_rcvd && !peer->close_fwd)
			conn_send_close(peer->c, WS_CLOSE_GOING_AWAY, "the other side went away");
		if (peer->paused_for_peer)
			conn_pause_rx(peer->c, false);
		conn_close(peer->c);
	}
	free(e);
}

static const struct conn_role splice_role = {
	.name = "splice", .ws_data = on_data, .ws_close = on_close_frame, .ws_broken = on_broken,
	.ws_read_done = on_read_done, .writeable = on_writeable, .gone = on_gone,
};

static struct splice_end *end_of(struct conn *c)
{
	struct splice_end *e = xcalloc(1, sizeof(*e));

	e->c = c;
	conn_set_role(c, &splice_role, e);
	return e;
}

void splice_join(struct conn *a, struct conn *b)
{
	struct splice_end *ea = end_of(a), *eb = end_of(b);

	ea->peer = eb;
	eb->peer = ea;
	conn_drop_head(a);
	conn_drop_head(b);
	conn_pause_rx(a, false);
}

/* The tunnel's state machine (daemon/tunnel.c) driven through its real
 * event loop: the local end is a socket pair, the relay a socket on
 * loopback that this test answers itself with common/ws.c's framing. Each
 * direction ends on its own; a slow receiver pauses the other side; every
 * failure ends the tunnel once, counted, and the forward's reference goes
 * with its last tunnel. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "../../daemon/fwd.h"
#include "loop.h"
#include "outq.h"
#include "../../daemon/tunnel.h"
#include "util.h"
#include "ws.h"

/* More than loopback's socket buffers hold, so that a paused side shows. */
#define BIG (32u * 1024 * 1024)
/* Turns without progress after which a side counts as held back. */
#define STUCK 100

/* ---- driving the loop ---------------------------------------------------- */

#include "loop_turn.h"

/* ---- the relay (and the other bridge) ------------------------------------- */

struct peer {
	int lfd, fd;
	uint16_t port;
	char head[4096];
	size_t head_len;
	struct ws_parser ps;
	uint8_t *got;            /* binary payload received */
	size_t got_len;
	bool closed, eof;        /* close frame; TCP end */
	uint16_t code;
	struct outq out;
};

static int peer_data(void *arg, enum ws_op op, uint8_t *p, size_t n, bool last)
{
	struct peer *pr = arg;

	(void)op;
	(void)last;
	pr->got = xrealloc(pr->got, pr->got_len + n + 1);
	memcpy(pr->got + pr->got_len, p, n);
	pr->got_len += n;
	return 0;
}

static int peer_control(void *arg, enum ws_op op, uint8_t *p, size_t n)
{
	struct peer *pr = arg;

	if (op == WS_OP_CLOSE) {
		pr->closed = true;
		pr->code = ws_close_code(p, n);
	}
	return 0;
}

static const struct ws_events peer_events = { peer_data, peer_control };

static void peer_listen(struct peer *pr, int rcvbuf)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);

	memset(pr, 0, sizeof(*pr));
	pr->fd = -1;
	outq_init(&pr->out, 0);
	ws_parser_init(&pr->ps, true);
	pr->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (rcvbuf)
		setsockopt(pr->lfd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	assert_int_equal(bind(pr->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(pr->lfd, 8), 0);
	getsockname(pr->lfd, (struct sockaddr *)&sa, &sl);
	pr->port = ntohs(sa.sin_port);
}

static bool peer_accepted(struct peer *pr)
{
	if (pr->fd < 0)
		pr->fd = accept4(pr->lfd, NULL, NULL, SOCK_NONBLOCK);
	return pr->fd >= 0;
}

static bool head_read(struct peer *pr)
{
	ssize_t n = read(pr->fd, pr->head + pr->head_len, sizeof(pr->head) - 1 - pr->head_len);

	if (n > 0)
		pr->head_len += (size_t)n;
	pr->head[pr->head_len] = '\0';
	return strstr(pr->head, "\r\n\r\n") != NULL;
}

static void peer_write(struct peer *pr, const char *s)
{
	assert_int_equal(write(pr->fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* Accept, read the upgrade request and answer it (status 101, or another). */
static void peer_upgrade(struct peer *pr, int status)
{
	char key[WS_KEY_LEN + 1], accept[WS_ACCEPT_LEN + 1], resp[256];
	const char *k;

	UNTIL(peer_accepted(pr), 5);
	UNTIL(head_read(pr), 5);
	k = strstr(pr->head, "Sec-WebSocket-Key: ");
	assert_non_null(k);
	snprintf(key, sizeof(key), "%.*s", WS_KEY_LEN, k + 19);
	ws_accept_for(key, accept);
	if (status == 101)
		snprintf(resp, sizeof(resp), "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
			 "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept);
	else
		snprintf(resp, sizeof(resp), "HTTP/1.1 %d Nope\r\nContent-Length: 0\r\n\r\n", status);
	peer_write(pr, resp);
}

/* Read what has come; true once the TCP connection has ended. */
static bool peer_pump(struct peer *pr)
{
	uint8_t buf[65536];

	for (int i = 0; i < 64 && pr->fd >= 0 && !pr->eof; i++) {
		ssize_t n = read(pr->fd, buf, sizeof(buf));

		if (n == 0 || (n < 0 && errno != EAGAIN))
			pr->eof = true;
		if (n <= 0)
			break;
		assert_int_equal(ws_parse(&pr->ps, buf, (size_t)n, &peer_events, pr), 0);
	}
	return pr->eof;
}

static bool peer_has(struct peer *pr, size_t n)
{
	peer_pump(pr);
	return pr->got_len >= n;
}

static bool peer_flush(struct peer *pr)
{
	const uint8_t *p;
	size_t n;

	while ((p = outq_peek(&pr->out, &n))) {
		ssize_t w = write(pr->fd, p, n);

		if (w <= 0)
			return false;
		outq_pop(&pr->out, (size_t)w);
	}
	return true;
}

/* A frame from the relay's side: unmasked. */
static void peer_send(struct peer *pr, enum ws_op op, const void *p, size_t n)
{
	uint8_t hdr[WS_HDR_MAX];

	assert_int_equal(outq_push(&pr->out, hdr, ws_header(hdr, op, true, n, NULL)), 0);
	assert_int_equal(outq_push(&pr->out, p, n), 0);
	peer_flush(pr);
}

static void peer_close_frame(struct peer *pr)
{
	uint8_t payload[WS_CTRL_MAX];

	peer_send(pr, WS_OP_CLOSE, payload, ws_close_payload(payload, WS_CLOSE_NORMAL, "bye"));
}

static void peer_drop(struct peer *pr)
{
	if (pr->fd >= 0)
		close(pr->fd);
	pr->fd = -1;
}

static void peer_free(struct peer *pr)
{
	peer_drop(pr);
	if (pr->lfd >= 0)
		close(pr->lfd);
	free(pr->got);
	outq_free(&pr->out);
}

/* ---- the local side -------------------------------------------------------- */

/* Read what the application end has; true at EOF. */
static bool app_read(int fd, uint8_t **buf, size_t *len)
{
	uint8_t tmp[65536];

	for (int i = 0; i < 64; i++) {
		ssize_t n = read(fd, tmp, sizeof(tmp));

		if (n == 0)
			return true;
		if (n < 0)
			return false;
		*buf = xrealloc(*buf, *len + (size_t)n);
		memcpy(*buf + *len, tmp, (size_t)n);
		*len += (size_t)n;
	}
	return false;
}

/* A TCP pair on loopback, for what a Unix socket cannot do (a reset). */
static void tcp_pair(int fds[2])
{
	struct peer l;

	peer_listen(&l, 0);
	fds[0] = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(fds[0], (struct sockaddr *)&(struct sockaddr_in){
		.sin_family = AF_INET, .sin_port = htons(l.port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) }, sizeof(struct sockaddr_in)), 0);
	UNTIL(peer_accepted(&l), 5);
	fds[1] = l.fd;
	l.fd = -1;
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	peer_free(&l);
}

/* Write until the tunnel takes no more for a while; what went. */
static size_t app_fill(int fd)
{
	static uint8_t chunk[65536];
	size_t sent = 0;

	memset(chunk, 'u', sizeof(chunk));
	for (int stuck = 0; stuck < STUCK && sent < BIG;) {
		ssize_t w = write(fd, chunk, sizeof(chunk));

		stuck = w > 0 ? 0 : stuck + 1;
		if (w > 0)
			sent += (size_t)w;
		turn();
	}
	return sent;
}

/* ---- fixtures ----------------------------------------------------------------- */

struct fx {
	struct azb_config *c;
	struct fwd_run *fr;
	struct peer pr;
	int app;              /* the local client's end */
	struct tunnel *t;
};

static int n_released;

static void released(struct fwd_run *fr)
{
	n_released++;
	fwd_free(fr);
}

static void on_signal(int signo)
{
	(void)signo;
}

static struct fwd_run *forward(struct fx *x, char opt, const char *expr, uint16_t relay_port)
{
	struct azb_fwd *f;
	struct fwd_run *fr;
	char err[256];

	x->c = cfg_new();
	assert_int_equal(cfg_set_global(x->c, "endpoint", "sb://127.0.0.1/", err, sizeof(err)), 0);
	assert_int_equal(cfg_set_global(x->c, "shared_access_key_name", "k", err, sizeof(err)), 0);
	assert_int_equal(cfg_set_global(x->c, "shared_access_key", "a2V5", err, sizeof(err)), 0);
	assert_int_equal(cfg_set_global(x->c, "connect_timeout", "2", err, sizeof(err)), 0);
	assert_int_equal(bnd_parse(opt, expr, &f, err, sizeof(err)), 0);
	if (!f->name)
		f->name = xstrdup("t");
	fr = fwd_new(x->c, f, released);
	bnd_fwd_free(f);
	/* Plain TCP to this test's relay instead of TLS to the endpoint's. */
	fr->relay.host = xstrdup("127.0.0.1");
	fr->relay.port = relay_port;
	fr->relay.tls = false;
	return fr;
}

static void start_sender(struct fx *x, bool tcp, int rcvbuf)
{
	int fds[2];

	peer_listen(&x->pr, rcvbuf);
	x->fr = forward(x, 'L', "/tmp/azb-unit.sock:r1", x->pr.port);
	if (tcp)
		tcp_pair(fds);
	else
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
	x->app = fds[0];
	x->t = tunnel_start_sender(x->fr, 0, &(struct tunnel_client){ .fd = fds[1], .peer = "app" });
	assert_int_equal(tunnel_state(x->t), TUNNEL_HANDSHAKE);
}

/* The upgrade, the preamble in, the reply (3 bytes) out. */
static void handshake(struct fx *x, const char *reply)
{
	const char *name = x->fr->fwd->ep[0].port_name;
	uint8_t pre[4] = { 1, 0, 0, (uint8_t)strlen(name) };

	peer_upgrade(&x->pr, 101);
	assert_non_null(strstr(x->pr.head, "GET /$hc/r1?sb-hc-action=connect&sb-hc-id="));
	assert_non_null(strstr(x->pr.head, "ServiceBusAuthorization: SharedAccessSignature "));
	UNTIL(peer_has(&x->pr, 4), 5);
	assert_memory_equal(x->pr.got, pre, 4);
	UNTIL(peer_has(&x->pr, 4 + strlen(name)), 5);
	assert_memory_equal(x->pr.got + 4, name, strlen(name));
	x->pr.got_len = 0;
	peer_send(&x->pr, WS_OP_BINARY, reply, 3);
}

static void open_sender(struct fx *x, bool tcp, int rcvbuf)
{
	start_sender(x, tcp, rcvbuf);
	handshake(x, "\x01\x00\x00");
	UNTIL(tunnel_state(x->t) == TUNNEL_OPEN, 5);
}

static int setup(void **state)
{
	struct fx *x = xcalloc(1, sizeof(*x));

	x->app = -1;
	n_released = 0;
	assert_int_equal(loop_init(on_signal), 0);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	if (x->app >= 0)
		close(x->app);
	peer_free(&x->pr);
	/* The running reference goes last: the forward with its last tunnel. */
	if (x->fr && n_released == 0)
		fwd_drain(x->fr, 0);
	UNTIL(n_released == 1, 5);
	cfg_free(x->c);
	loop_destroy();
	free(x);
	return 0;
}

static bool gone(struct fx *x)
{
	peer_pump(&x->pr);
	return x->fr->stats.tunnels_open == 0;
}

/* ---- open, both ways, each end on its own --------------------------------------- */

static void test_bytes_both_ways(void **state)
{
	struct fx *x = *state;
	uint8_t *in = NULL;
	size_t n = 0;

	open_sender(x, false, 0);
	assert_int_equal(write(x->app, "hello", 5), 5);
	UNTIL(peer_has(&x->pr, 5), 5);
	assert_memory_equal(x->pr.got, "hello", 5);
	peer_send(&x->pr, WS_OP_BINARY, "world", 5);
	UNTIL((app_read(x->app, &in, &n), n >= 5), 5);
	assert_memory_equal(in, "world", 5);
	assert_int_equal(x->fr->stats.bytes_up, 5);
	assert_int_equal(x->fr->stats.bytes_down, 5);
	assert_int_equal(x->fr->refs, 2);   /* running, and the tunnel */
	free(in);
}

/* The client ends its side: a close frame goes out, the relay's bytes
 * still come in, and the relay's close ends the client's read side. */
static void test_local_side_ends_first(void **state)
{
	struct fx *x = *state;
	uint8_t *in = NULL;
	size_t n = 0;

	open_sender(x, false, 0);
	assert_int_equal(write(x->app, "last", 4), 4);
	shutdown(x->app, SHUT_WR);
	UNTIL((peer_pump(&x->pr), x->pr.closed), 5);
	assert_int_equal(x->pr.code, WS_CLOSE_NORMAL);
	assert_int_equal(x->pr.got_len, 4);
	assert_int_equal(tunnel_state(x->t), TUNNEL_UP_DONE);
	peer_send(&x->pr, WS_OP_BINARY, "late", 4);
	UNTIL((app_read(x->app, &in, &n), n == 4), 5);
	assert_memory_equal(in, "late", 4);
	peer_close_frame(&x->pr);
	UNTIL(app_read(x->app, &in, &n), 5);   /* EOF */
	UNTIL(gone(x), 5);                     /* both ends: the tunnel closes itself */
	UNTIL(peer_pump(&x->pr), 5);
	assert_int_equal(x->fr->stats.tunnels_failed, 0);
	assert_int_equal(x->fr->refs, 1);
	free(in);
}

/* The relay ends its side: the client reads EOF and may go on writing. */
static void test_relay_side_ends_first(void **state)
{
	struct fx *x = *state;
	uint8_t *in = NULL;
	size_t n = 0;

	open_sender(x, false, 0);
	peer_send(&x->pr, WS_OP_BINARY, "data", 4);
	peer_close_frame(&x->pr);
	UNTIL(app_read(x->app, &in, &n), 5);
	assert_int_equal(n, 4);
	assert_int_equal(tunnel_state(x->t), TUNNEL_DOWN_DONE);
	assert_int_equal(write(x->app, "more", 4), 4);
	UNTIL(peer_has(&x->pr, 4), 5);
	assert_memory_equal(x->pr.got, "more", 4);
	assert_false(x->pr.closed);
	shutdown(x->app, SHUT_WR);
	UNTIL((peer_pump(&x->pr), x->pr.closed), 5);
	UNTIL(gone(x), 5);
	assert_int_equal(x->fr->stats.tunnels_failed, 0);
	free(in);
}

/* ---- flow control ------------------------------------------------------------- */

/* A client that does not read holds the relay back: the bytes wait in the
 * relay's socket, not in the tunnel, and all of them arrive once it reads. */
static void test_slow_client_pauses_the_relay(void **state)
{
	struct fx *x = *state;
	uint8_t *chunk = xmalloc(65536), *in = NULL;
	size_t sent = 0, n = 0;

	open_sender(x, false, 0);
	for (size_t i = 0; i < 65536; i++)
		chunk[i] = (uint8_t)(i * 7);
	for (int stuck = 0; stuck < STUCK && sent < BIG;) {
		stuck = peer_flush(&x->pr) ? 0 : stuck + 1;
		if (!stuck) {
			peer_send(&x->pr, WS_OP_BINARY, chunk, 65536);
			sent += 65536;
		}
		turn();
	}
	assert_true(sent < BIG);   /* held back */
	assert_true(outq_len(&x->pr.out) > 0);
	while (sent < BIG) {
		UNTIL((app_read(x->app, &in, &n), peer_flush(&x->pr)), 10);
		peer_send(&x->pr, WS_OP_BINARY, chunk, 65536);
		sent += 65536;
	}
	UNTIL((peer_flush(&x->pr), app_read(x->app, &in, &n), n == BIG), 20);
	for (size_t i = 0; i < BIG; i += 65536)
		assert_memory_equal(in + i, chunk, 65536);
	free(chunk);
	free(in);
}

/* A relay that does not read holds the client back the same way. */
static void test_slow_relay_pauses_the_client(void **state)
{
	struct fx *x = *state;
	int64_t until = lws_now_usecs() + 20 * 1000000;
	uint8_t chunk[65536];
	size_t sent;

	open_sender(x, false, 0);
	memset(chunk, 'u', sizeof(chunk));
	sent = app_fill(x->app);
	assert_true(sent < BIG);   /* held back */
	while (sent < BIG && lws_now_usecs() < until) {
		ssize_t w = write(x->app, chunk, sent + sizeof(chunk) > BIG ? BIG - sent :
									   sizeof(chunk));

		if (w > 0)
			sent += (size_t)w;
		peer_pump(&x->pr);
		turn();
	}
	UNTIL(peer_has(&x->pr, BIG), 20);
	assert_int_equal(x->pr.got_len, BIG);
	assert_int_equal(x->fr->stats.bytes_up, BIG);
}

/* A client that writes and hangs up while the tunnel is paused: every byte
 * still reaches the relay, then the close frame. */
static void test_tail_of_a_paused_client_is_kept(void **state)
{
	struct fx *x = *state;
	size_t sent;

	open_sender(x, false, 64 * 1024);
	sent = app_fill(x->app);
	assert_true(sent < BIG);   /* held back */
	close(x->app);   /* the relay side is full: the tunnel is not reading */
	x->app = -1;
	for (int i = 0; i < 20; i++)
		turn();
	UNTIL((peer_pump(&x->pr), x->pr.closed), 20);
	assert_int_equal(x->pr.got_len, sent);
	assert_int_equal(x->fr->stats.tunnels_failed, 0);
}

/* ---- failures: each ends the tunnel once, counted ------------------------------ */

static void assert_failed(struct fx *x, const char *what)
{
	UNTIL(gone(x), 10);
	assert_int_equal(x->fr->stats.tunnels_failed, 1);
	assert_non_null(strstr(x->fr->stats.last_error, what));
	assert_int_equal(x->fr->refs, 1);
}

static void app_sees_end(struct fx *x)
{
	uint8_t *in = NULL;
	size_t n = 0;

	UNTIL(app_read(x->app, &in, &n), 5);
	assert_int_equal(n, 0);
	free(in);
}

static void test_listener_refuses(void **state)
{
	struct fx *x = *state;

	start_sender(x, false, 0);
	handshake(x, "\x00\x00\x00");
	assert_failed(x, "failed while handshake: the listener refused the port name or mode");
	app_sees_end(x);
}

static void test_relay_refuses_the_upgrade(void **state)
{
	struct fx *x = *state;

	start_sender(x, false, 0);
	peer_upgrade(&x->pr, 404);
	assert_failed(x, "the relay answered 404");
	app_sees_end(x);
}

static void test_relay_unreachable(void **state)
{
	struct fx *x = *state;

	int fds[2];

	peer_listen(&x->pr, 0);
	close(x->pr.lfd);   /* nothing listens there now */
	x->pr.lfd = -1;
	x->fr = forward(x, 'L', "/tmp/azb-unit.sock:r1", x->pr.port);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
	x->app = fds[0];
	tunnel_start_sender(x->fr, 0, &(struct tunnel_client){ .fd = fds[1], .peer = "app" });
	assert_failed(x, "failed while handshake: cannot reach the relay");
	app_sees_end(x);
}

static void test_relay_silent_in_the_handshake(void **state)
{
	struct fx *x = *state;

	start_sender(x, false, 0);
	peer_upgrade(&x->pr, 101);   /* and never a reply to the preamble */
	assert_failed(x, "timed out after 2 s awaiting the peer's first reply");
}

static void test_relay_lost_while_open(void **state)
{
	struct fx *x = *state;

	open_sender(x, false, 0);
	peer_drop(&x->pr);
	assert_failed(x, "failed while open: relay connection lost");
	app_sees_end(x);
}

static void test_client_resets(void **state)
{
	struct fx *x = *state;
	struct linger lg = { 1, 0 };

	open_sender(x, true, 0);
	setsockopt(x->app, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(x->app);   /* RST */
	x->app = -1;
	assert_failed(x, "failed while open");
	UNTIL(peer_pump(&x->pr), 5);
}

/* A forward that drains closes its tunnels; its reference goes with the last. */
static void test_drain_closes_the_tunnel_then_releases(void **state)
{
	struct fx *x = *state;

	open_sender(x, false, 0);
	fwd_drain(x->fr, 0);
	assert_int_equal(n_released, 0);     /* the tunnel holds it */
	UNTIL(n_released == 1, 5);
	app_sees_end(x);
	x->fr = NULL;
}

/* ---- the listener side: preamble in, target dialled, reply out ----------------- */

static void start_listener(struct fx *x, const char *expr, const char *name, uint8_t mode)
{
	uint8_t pre[64] = { 1, 0, mode, (uint8_t)strlen(name) };

	peer_listen(&x->pr, 0);
	x->fr = forward(x, 'T', expr, 9);
	x->t = tunnel_start_listener(x->fr, "127.0.0.1", x->pr.port, "/$hc/r1?sb-hc-action=accept",
				     "sender");
	peer_upgrade(&x->pr, 101);
	assert_non_null(strstr(x->pr.head, "GET /$hc/r1?sb-hc-action=accept HTTP/1.1"));
	assert_null(strstr(x->pr.head, "ServiceBusAuthorization"));
	memcpy(pre + 4, name, strlen(name));
	peer_send(&x->pr, WS_OP_BINARY, pre, 4 + strlen(name));
}

static void test_listener_dials_then_replies(void **state)
{
	struct fx *x = *state;
	struct peer target;
	char expr[64];
	uint8_t *in = NULL;
	size_t n = 0;

	peer_listen(&target, 0);
	snprintf(expr, sizeof(expr), "r1:127.0.0.1:%u", target.port);
	start_listener(x, expr, "4711", 0);
	UNTIL(peer_accepted(&target), 5);
	UNTIL(peer_has(&x->pr, 3), 5);
	assert_memory_equal(x->pr.got, "\x01\x00\x00", 3);
	UNTIL(tunnel_state(x->t) == TUNNEL_OPEN, 5);
	peer_send(&x->pr, WS_OP_BINARY, "ping", 4);
	UNTIL((app_read(target.fd, &in, &n), n == 4), 5);
	assert_int_equal(write(target.fd, "pong", 4), 4);
	UNTIL(peer_has(&x->pr, 7), 5);
	assert_memory_equal(x->pr.got + 3, "pong", 4);
	free(in);
	peer_free(&target);
	assert_int_equal(x->fr->stats.tunnels_failed, 0);
}

static void test_listener_target_unreachable(void **state)
{
	struct fx *x = *state;
	struct peer target;
	char expr[64];

	peer_listen(&target, 0);
	snprintf(expr, sizeof(expr), "r1:127.0.0.1:%u", target.port);
	peer_free(&target);   /* nothing listens there now */
	start_listener(x, expr, "4711", 0);
	assert_failed(x, "failed while dialing: cannot reach the target");
	assert_int_equal(x->pr.got_len, 0);   /* no "accepted" for an unreachable target */
}

static void test_listener_wrong_mode_is_answered(void **state)
{
	struct fx *x = *state;

	start_listener(x, "r1:127.0.0.1:9", "4711", 1);   /* UDP asked, TCP served */
	UNTIL((peer_pump(&x->pr), x->pr.closed), 5);
	assert_int_equal(x->pr.got_len, 3);
	assert_memory_equal(x->pr.got, "\x00\x00\xff", 3);
	peer_close_frame(&x->pr);
	assert_failed(x, "port name is a stream but the sender asked for UDP");
}

/* As the original's listener: no reply, a close 1000 the sender reads. */
static void test_listener_unknown_name_is_closed_cleanly(void **state)
{
	struct fx *x = *state;

	start_listener(x, "r1:sql1/127.0.0.1:9;sql2/127.0.0.1:9", "nosuch", 0);
	UNTIL((peer_pump(&x->pr), x->pr.closed), 5);
	assert_int_equal(x->pr.code, 1000);
	assert_int_equal(x->pr.got_len, 0);
	peer_close_frame(&x->pr);
	assert_failed(x, "no binding for port name \"nosuch\"");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_bytes_both_ways),
		T(test_local_side_ends_first),
		T(test_relay_side_ends_first),
		T(test_slow_client_pauses_the_relay),
		T(test_slow_relay_pauses_the_client),
		T(test_tail_of_a_paused_client_is_kept),
		T(test_listener_refuses),
		T(test_relay_refuses_the_upgrade),
		T(test_relay_unreachable),
		T(test_relay_silent_in_the_handshake),
		T(test_relay_lost_while_open),
		T(test_client_resets),
		T(test_drain_closes_the_tunnel_then_releases),
		T(test_listener_dials_then_replies),
		T(test_listener_target_unreachable),
		T(test_listener_wrong_mode_is_answered),
		T(test_listener_unknown_name_is_closed_cleanly),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}

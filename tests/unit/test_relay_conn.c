/* The relay's connection object and its roles, driven over loopback TCP on
 * the real event loop: a routed head goes to the role its route names, a
 * refused one is answered and goes nowhere, a role's gone() comes exactly
 * once however the connection ends, and a sender and a listener's
 * rendezvous spliced by the real roles pass frames, close each direction on
 * its own, and tell one side once when the other breaks. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "../../relay/admit.h"
#include "../../relay/conn.h"
#include "../../relay/http_client.h"
#include "../../relay/listener.h"
#include "../../relay/rendezvous.h"
#include "../../relay/sender.h"
#include "hc_proto.h"
#include "loop.h"
#include "sas.h"
#include "util.h"

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define UPGRADE "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " KEY \
	"\r\nSec-WebSocket-Version: 13\r\n"

static struct relay R;
static lws_sorted_usec_list_t ticker;

/* ---- the test's end of a connection ---------------------------------------- */

struct peer {
	int fd;
	struct sbuf in;          /* everything the relay sent */
	bool eof;
};

static void tick(lws_sorted_usec_list_t *sul)
{
	/* Wakes the loop often, so every wait below checks its deadline. */
	lws_sul_schedule(loop_context(), 0, sul, tick, 20 * 1000);
}

static void take(struct peer *p)
{
	char buf[4096];
	ssize_t n;

	while (!p->eof && (n = read(p->fd, buf, sizeof(buf))) != 0) {
		if (n < 0)
			return;
		sbuf_addn(&p->in, buf, (size_t)n);
	}
	p->eof = true;
}

typedef bool (*cond_fn)(void *arg);

/* Turn the loop until cond holds; 10 s at the most. */
static void wait_until(cond_fn cond, void *arg, const char *what)
{
	time_t end = time(NULL) + 10;

	while (!cond(arg)) {
		if (time(NULL) > end)
			fail_msg("timed out waiting for %s", what);
		lws_service(loop_context(), 0);
	}
}

/* A TCP connection on loopback: the test's end, and the relay's. */
static struct peer *connect_peer(const struct conn_routes *routes)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	struct peer *p = xcalloc(1, sizeof(*p));
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), fd;

	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sa, &sl), 0);
	p->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(p->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	fd = accept4(l, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
	assert_true(fd >= 0);
	close(l);
	assert_int_equal(fcntl(p->fd, F_SETFL, O_NONBLOCK), 0);
	sbuf_init(&p->in);
	conn_accept(&R, fd, (struct sockaddr *)&sa, routes);
	return p;
}

static void send_text(struct peer *p, const char *s)
{
	assert_int_equal(write(p->fd, s, strlen(s)), (ssize_t)strlen(s));
}

static bool has_needle(void *arg)
{
	struct peer *p = ((void **)arg)[0];

	take(p);
	return p->in.len && memmem(p->in.s, p->in.len, ((void **)arg)[1],
				   strlen(((void **)arg)[1]));
}

static void expect(struct peer *p, const char *needle)
{
	void *arg[2] = { p, (void *)needle };

	wait_until(has_needle, arg, needle);
}

static bool at_eof(void *arg)
{
	take(arg);
	return ((struct peer *)arg)->eof;
}

static void expect_eof(struct peer *p)
{
	wait_until(at_eof, p, "the relay to close the connection");
}

static void peer_free(struct peer *p)
{
	close(p->fd);
	sbuf_free(&p->in);
	free(p);
}

/* A client's frame: masked, as RFC 6455 wants. */
static void send_frame(struct peer *p, enum ws_op op, bool fin, const void *data, size_t n)
{
	static const uint8_t mask[4] = { 1, 2, 3, 4 };
	uint8_t buf[WS_HDR_MAX + 256];
	size_t h = ws_header(buf, op, fin, n, mask);

	memcpy(buf + h, data, n);
	ws_mask(buf + h, n, mask, 0);
	assert_int_equal(write(p->fd, buf, h + n), (ssize_t)(h + n));
}

/* ---- frames the relay sends ------------------------------------------------- */

struct frames {
	struct peer *p;
	size_t at;               /* where the frames begin in p->in */
	struct ws_parser parser;
	size_t n;                /* frames seen */
	enum ws_op op[16];
	bool fin[16];
	char data[16][1024];
};

static int fr_data(void *arg, enum ws_op op, uint8_t *p, size_t n, bool last)
{
	struct frames *f = arg;

	if (f->n < 16) {
		f->op[f->n] = op;
		f->fin[f->n] = last;
		snprintf(f->data[f->n++], sizeof(f->data[0]), "%.*s", (int)n, (const char *)p);
	}
	return 0;
}

static int fr_control(void *arg, enum ws_op op, uint8_t *p, size_t n)
{
	struct frames *f = arg;

	if (f->n < 16) {
		f->op[f->n] = op;
		f->fin[f->n] = true;
		/* a close frame as "CODE reason" */
		if (op == WS_OP_CLOSE && n >= 2)
			snprintf(f->data[f->n++], sizeof(f->data[0]), "%u %.*s", ws_close_code(p, n),
				 (int)n - 2, (const char *)p + 2);
		else
			snprintf(f->data[f->n++], sizeof(f->data[0]), "%.*s", (int)n, (const char *)p);
	}
	return 0;
}

static const struct ws_events fr_events = { fr_data, fr_control };

/* The frames after the 101 head that p has read so far. */
static void frames_start(struct frames *f, struct peer *p)
{
	const char *end;

	expect(p, "\r\n\r\n");
	assert_non_null(strstr(p->in.s, "HTTP/1.1 101 "));
	end = strstr(p->in.s, "\r\n\r\n") + 4;
	memset(f, 0, sizeof(*f));
	f->p = p;
	f->at = (size_t)(end - p->in.s);
	ws_parser_init(&f->parser, false);
}

static bool frames_reach(void *arg)
{
	struct frames *f = ((void **)arg)[0];
	size_t want = *(size_t *)((void **)arg)[1];

	take(f->p);
	if (f->p->in.len > f->at) {
		size_t n = f->p->in.len - f->at;

		assert_int_equal(ws_parse(&f->parser, (uint8_t *)f->p->in.s + f->at, n, &fr_events, f), 0);
		f->at += n;
	}
	return f->n >= want;
}

static void expect_frames(struct frames *f, size_t want)
{
	void *arg[2] = { f, &want };

	wait_until(frames_reach, arg, "frames from the relay");
}

/* ---- a role the tests play ---------------------------------------------------- */

static struct {
	enum rroute_kind kind;
	int started, gone, broken;
	char rest[64];
	char data[256];
	struct conn *c;
} T;

static void t_data(struct conn *c, enum ws_op op, uint8_t *p, size_t n, bool last)
{
	size_t have = strlen(T.data);

	(void)c;
	(void)op;
	/* the pieces of one message, then "|" at its end */
	snprintf(T.data + have, sizeof(T.data) - have, "%.*s%s", (int)n, (const char *)p,
		 last ? "|" : "");
}

static void t_broken(struct conn *c)
{
	(void)c;
	T.broken++;
}

static void t_gone(struct conn *c)
{
	assert_ptr_equal(c, T.c);
	T.gone++;
}

static const struct conn_role test_role = {
	.name = "test", .ws_data = t_data, .ws_broken = t_broken, .gone = t_gone,
};

static void record(struct conn *c, enum rroute_kind kind, uint8_t *rest, size_t n)
{
	T.kind = kind;
	T.started++;
	T.c = c;
	snprintf(T.rest, sizeof(T.rest), "%.*s", (int)n, (const char *)rest);
	conn_set_role(c, &test_role, NULL);
}

static void start_answer(struct conn *c, const struct rroute *rt, uint8_t *rest, size_t n)
{
	record(c, rt->kind, rest, n);
	conn_respond(c, 200, "routed");
}

/* HTTP: the role is done with the head at once and reads the next. */
static void start_again(struct conn *c, const struct rroute *rt, uint8_t *rest, size_t n)
{
	record(c, rt->kind, rest, n);
	conn_next_head(c, rest, n);
}

static void start_ws(struct conn *c, const struct rroute *rt, uint8_t *rest, size_t n)
{
	record(c, rt->kind, rest, n);
	conn_upgrade(c, NULL);
}

static const struct conn_routes answering = {
	start_answer, start_answer, start_answer, start_answer, start_answer,
};
static const struct conn_routes websockets = { start_answer, start_ws, start_ws, start_ws, start_ws };
static const struct conn_routes keep_alive = {
	start_again, start_answer, start_answer, start_answer, start_answer,
};
/* The relay's own, as server.c has it. */
static const struct conn_routes roles = {
	hclient_start, listener_start, sender_start, sender_accept, rendezvous_start,
};

static bool no_connections(void *arg)
{
	(void)arg;
	return admit_total() == 0;
}

static int setup(void **state)
{
	(void)state;
	memset(&T, 0, sizeof(T));
	return 0;
}

/* Every test leaves nothing behind: no connection is still counted. */
static int teardown(void **state)
{
	(void)state;
	wait_until(no_connections, NULL, "every connection to end");
	return 0;
}

/* ---- routes ----------------------------------------------------------------- */

static void test_routes(void **state)
{
	static const struct { const char *head; enum rroute_kind kind; } t[] = {
		{ "GET /hc/x HTTP/1.1\r\nHost: relay.test\r\n\r\n", RR_HTTP },
		{ "GET /$hc/hc?sb-hc-action=listen HTTP/1.1\r\nHost: relay.test\r\n" UPGRADE "\r\n",
		  RR_LISTEN },
		{ "GET /$hc/hc?sb-hc-action=connect HTTP/1.1\r\nHost: relay.test\r\n" UPGRADE "\r\n",
		  RR_CONNECT },
		{ "GET /$hc/hc?sb-hc-action=accept&sb-hc-id=a1 HTTP/1.1\r\nHost: relay.test\r\n"
		  UPGRADE "\r\n", RR_ACCEPT },
		{ "GET /$hc/hc?sb-hc-action=request&sb-hc-id=r1 HTTP/1.1\r\nHost: relay.test\r\n"
		  UPGRADE "\r\n", RR_REQUEST },
	};

	(void)state;
	for (size_t i = 0; i < AZB_ARRAY_SIZE(t); i++) {
		struct peer *p = connect_peer(&answering);
		char *msg = xasprintf("%sMORE", t[i].head);

		T.started = T.gone = 0;
		send_text(p, msg);
		expect(p, "HTTP/1.1 200 ");
		expect_eof(p);
		assert_int_equal(T.started, 1);
		assert_int_equal(T.kind, t[i].kind);
		assert_string_equal(T.rest, "MORE");
		assert_int_equal(T.gone, 1);
		free(msg);
		peer_free(p);
	}
}

static void test_refusals(void **state)
{
	static const struct { const char *head, *answer; } t[] = {
		{ "GET /hc HTTP/1.1\r\n\r\n", "HTTP/1.1 400 " },
		{ "GET /hc HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "HTTP/1.1 400 " },
		{ "GET /hc HTTP/1.1\r\nHost: relay\x01.test\r\n\r\n", "HTTP/1.1 400 " },
		{ "GET /nothing HTTP/1.1\r\nHost: relay.test\r\n\r\n", "HTTP/1.1 404 " },
		{ "CONNECT /hc HTTP/1.1\r\nHost: relay.test\r\n\r\n", "HTTP/1.1 405 " },
		{ "GET /$hc/hc?sb-hc-action=dance HTTP/1.1\r\nHost: relay.test\r\n" UPGRADE "\r\n",
		  "HTTP/1.1 400 " },
	};

	(void)state;
	for (size_t i = 0; i < AZB_ARRAY_SIZE(t); i++) {
		struct peer *p = connect_peer(&answering);

		send_text(p, t[i].head);
		expect(p, t[i].answer);
		expect_eof(p);
		peer_free(p);
	}
	assert_int_equal(T.started, 0);
}

/* The head is the connection's; whoever took the last one cannot make a
 * websocket of a connection that carried HTTP. */
static void test_next_head(void **state)
{
	struct peer *p = connect_peer(&keep_alive);

	(void)state;
	send_text(p, "GET /hc/1 HTTP/1.1\r\nHost: relay.test\r\n\r\nGET /hc/2 HTTP/1.1\r\nHost: "
		  "relay.test\r\n\r\n");
	send_text(p, "GET /$hc/hc?sb-hc-action=listen HTTP/1.1\r\nHost: relay.test\r\n" UPGRADE "\r\n");
	expect(p, "HTTP/1.1 400 ");
	expect(p, "cannot become a websocket");
	expect_eof(p);
	assert_int_equal(T.started, 2);
	assert_int_equal(T.gone, 1);
	peer_free(p);
}

static void test_head_timeout(void **state)
{
	struct peer *half, *silent;

	(void)state;
	R.header_timeout_s = 1;
	half = connect_peer(&answering);
	silent = connect_peer(&answering);
	send_text(half, "GET /hc HTTP/1.1\r\nHost: relay");
	expect(half, "HTTP/1.1 408 ");
	expect_eof(half);
	expect_eof(silent);
	assert_int_equal(silent->in.len, 0);
	R.header_timeout_s = 30;
	assert_int_equal(T.started, 0);
	peer_free(half);
	peer_free(silent);
}

/* ---- one close path ------------------------------------------------------------ */

static void test_gone_once(void **state)
{
	struct peer *p = connect_peer(&websockets);

	(void)state;
	send_text(p, "GET /$hc/hc?sb-hc-action=connect HTTP/1.1\r\nHost: relay.test\r\n" UPGRADE
		  "\r\n");
	expect(p, "HTTP/1.1 101 ");
	close(p->fd);          /* the peer hangs up */
	p->fd = -1;
	wait_until(no_connections, NULL, "the connection to end");
	assert_int_equal(T.gone, 1);
	peer_free(p);
	/* the role closes it, twice over */
	p = connect_peer(&websockets);
	send_text(p, "GET /$hc/hc?sb-hc-action=connect HTTP/1.1\r\nHost: relay.test\r\n" UPGRADE
		  "\r\n");
	expect(p, "HTTP/1.1 101 ");
	conn_close(T.c);
	conn_close(T.c);
	expect_eof(p);
	wait_until(no_connections, NULL, "the connection to end");
	assert_int_equal(T.gone, 2);
	peer_free(p);
}

/* ---- websocket events ---------------------------------------------------------- */

static void test_ws_events(void **state)
{
	struct peer *p = connect_peer(&websockets);
	struct frames f;

	(void)state;
	send_text(p, "GET /$hc/hc?sb-hc-action=connect HTTP/1.1\r\nHost: relay.test\r\n" UPGRADE
		  "\r\n");
	frames_start(&f, p);
	send_frame(p, WS_OP_TEXT, false, "he", 2);
	send_frame(p, WS_OP_PING, true, "p1", 2);
	send_frame(p, WS_OP_CONT, true, "llo", 3);
	expect_frames(&f, 1);
	assert_int_equal(f.op[0], WS_OP_PONG);
	assert_string_equal(f.data[0], "p1");
	assert_string_equal(T.data, "hello|");
	/* a close payload of one byte is no close frame */
	send_frame(p, WS_OP_CLOSE, true, "x", 1);
	expect_frames(&f, 2);
	assert_int_equal(f.op[1], WS_OP_CLOSE);
	assert_string_equal(f.data[1], "1002 malformed close frame");
	expect_eof(p);
	wait_until(no_connections, NULL, "the connection to end");
	assert_int_equal(T.broken, 1);
	assert_int_equal(T.gone, 1);
	peer_free(p);
	/* a role with no close handler: the close is answered, then the end */
	memset(&T, 0, sizeof(T));
	p = connect_peer(&websockets);
	send_text(p, "GET /$hc/hc?sb-hc-action=connect HTTP/1.1\r\nHost: relay.test\r\n" UPGRADE
		  "\r\n");
	frames_start(&f, p);
	send_frame(p, WS_OP_CLOSE, true, "\x03\xe8" "bye", 5);
	expect_frames(&f, 1);
	assert_string_equal(f.data[0], "1000 bye");
	expect_eof(p);
	peer_free(p);
}

/* ---- a peer that stops reading ----------------------------------------------- */

static bool quarter_second_passed(void *arg)
{
	return azb_clock_s(CLOCK_MONOTONIC) >= *(double *)arg;
}

static bool relay_drained(void *arg)
{
	take(arg);
	return !conn_choked(T.c);
}

/* Stuck is choked for a while, timed from the write that found the queue
 * empty: a peer busy for a moment is not, one that stopped reading is. */
static void test_stuck(void **state)
{
	static uint8_t buf[WS_HDR_MAX + 65536];
	struct peer *p = connect_peer(&websockets);
	double later;
	int i;

	(void)state;
	send_text(p, "GET /$hc/hc?sb-hc-action=connect HTTP/1.1\r\nHost: relay.test\r\n" UPGRADE
		  "\r\n");
	expect(p, "HTTP/1.1 101 ");
	for (i = 0; i < 200 && !conn_choked(T.c); i++)
		conn_send_frame_at(T.c, WS_OP_BINARY, true, buf + WS_HDR_MAX, 65536);
	assert_true(conn_choked(T.c));
	assert_false(conn_stuck(T.c));
	later = azb_clock_s(CLOCK_MONOTONIC) + 0.3;
	wait_until(quarter_second_passed, &later, "a quarter of a second");
	assert_true(conn_stuck(T.c));
	wait_until(relay_drained, p, "the relay's queue to drain");
	assert_false(conn_stuck(T.c));
	/* choked again: the wait counts from now, not from the first time */
	for (i = 0; i < 200 && !conn_choked(T.c); i++)
		conn_send_frame_at(T.c, WS_OP_BINARY, true, buf + WS_HDR_MAX, 65536);
	assert_true(conn_choked(T.c));
	assert_false(conn_stuck(T.c));
	conn_abort(T.c);
	expect_eof(p);
	peer_free(p);
}

/* ---- the relay's own roles: a splice ------------------------------------------- */

static char *listen_head(void)
{
	char *res = sas_resource("relay.test", "hc");
	char *tok = sas_create(res, "rule", "secret", time(NULL) + 3600);
	char *head = xasprintf("GET /$hc/hc?sb-hc-action=listen&sb-hc-id=l1 HTTP/1.1\r\nHost: "
			       "relay.test\r\n" UPGRADE "ServiceBusAuthorization: %s\r\n\r\n", tok);

	free(res);
	free(tok);
	return head;
}

/* A sender, and the listener's rendezvous for it, spliced. */
static void splice_pair(struct peer **sender, struct frames *fs, struct peer **rdv,
			struct frames *fr, struct frames *fl)
{
	struct hcp_msg m;
	char err[300], *head;
	size_t at = fl->n;

	*sender = connect_peer(&roles);
	send_text(*sender, "GET /$hc/hc?sb-hc-action=connect&sb-hc-id=s1 HTTP/1.1\r\nHost: "
		  "relay.test\r\n" UPGRADE "\r\n");
	expect_frames(fl, at + 1);
	if (hcp_parse_from_relay(fl->data[at], strlen(fl->data[at]), &m, err, sizeof(err)) < 0)
		fail_msg("%s: %s", err, fl->data[at]);
	assert_int_equal(m.kind, HCP_ACCEPT);
	assert_string_equal(m.addr.host, "relay.test");
	assert_non_null(strstr(m.addr.target, "sb-hc-action=accept"));
	*rdv = connect_peer(&roles);
	head = xasprintf("GET %s HTTP/1.1\r\nHost: relay.test\r\n" UPGRADE "\r\n", m.addr.target);
	send_text(*rdv, head);
	free(head);
	hcp_clear(&m);
	frames_start(fr, *rdv);
	frames_start(fs, *sender);
}

static void test_splice(void **state)
{
	struct peer *lst = connect_peer(&roles), *s, *r;
	struct frames fl, fs, fr;
	char *head = listen_head();

	(void)state;
	send_text(lst, head);
	free(head);
	frames_start(&fl, lst);
	splice_pair(&s, &fs, &r, &fr, &fl);
	/* a fragmented message keeps its fragments; data goes both ways */
	send_frame(s, WS_OP_BINARY, false, "ab", 2);
	send_frame(s, WS_OP_CONT, true, "cd", 2);
	send_frame(r, WS_OP_TEXT, true, "back", 4);
	expect_frames(&fr, 2);
	assert_int_equal(fr.op[0], WS_OP_BINARY);
	assert_false(fr.fin[0]);
	assert_string_equal(fr.data[1], "cd");
	assert_true(fr.fin[1]);
	expect_frames(&fs, 1);
	assert_string_equal(fs.data[0], "back");
	/* keep-alive: a ping on either side is answered here and never passed
	 * on (a passed one would come before the frames below) */
	send_frame(s, WS_OP_PING, true, "k1", 2);
	send_frame(r, WS_OP_PING, true, "k2", 2);
	expect_frames(&fs, 2);
	assert_int_equal(fs.op[1], WS_OP_PONG);
	assert_string_equal(fs.data[1], "k1");
	expect_frames(&fr, 3);
	assert_int_equal(fr.op[2], WS_OP_PONG);
	assert_string_equal(fr.data[2], "k2");
	/* the sender ends its direction; the other still flows */
	send_frame(s, WS_OP_CLOSE, true, "\x03\xe8" "done", 6);
	expect_frames(&fr, 4);
	assert_int_equal(fr.op[3], WS_OP_CLOSE);
	assert_string_equal(fr.data[3], "1000 done");
	send_frame(r, WS_OP_BINARY, true, "more", 4);
	expect_frames(&fs, 3);
	assert_string_equal(fs.data[2], "more");
	assert_false(s->eof);
	send_frame(r, WS_OP_CLOSE, true, "\x03\xe8", 2);
	expect_frames(&fs, 4);
	assert_int_equal(fs.op[3], WS_OP_CLOSE);
	expect_eof(s);
	expect_eof(r);
	peer_free(s);
	peer_free(r);
	/* one side breaks the protocol: the other is told once, then ends */
	splice_pair(&s, &fs, &r, &fr, &fl);
	send_text(s, "\x81\x05hello");            /* unmasked, from a client */
	expect_eof(r);
	expect_frames(&fr, 1);
	assert_int_equal(fr.n, 1);
	assert_string_equal(fr.data[0], "1001 the other side went away");
	expect_frames(&fs, 1);
	assert_string_equal(fs.data[0], "1002 websocket protocol error");
	peer_free(s);
	peer_free(r);
	peer_free(lst);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_routes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_next_head, setup, teardown),
		cmocka_unit_test_setup_teardown(test_head_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gone_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ws_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stuck, setup, teardown),
		cmocka_unit_test_setup_teardown(test_splice, setup, teardown),
	};
	struct relay_rule *rule = xcalloc(1, sizeof(*rule));
	int failed;

	rule->name = xstrdup("rule");
	rule->key = xstrdup("secret");
	rule->rights = RIGHT_LISTEN | RIGHT_SEND;
	R.rules = rule;
	R.n_rules = 1;
	R.header_timeout_s = 30;
	R.close_timeout_s = 10;
	R.accept_timeout_s = 30;
	R.request_timeout_s = 60;
	R.max_control_msg = R.max_output_queue = 1024 * 1024;
	R.max_listeners = 25;
	relay_hc_add(&R, "hc", false);
	if (loop_init(NULL) < 0)
		return 1;
	tick(&ticker);
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	lws_sul_cancel(&ticker);
	loop_destroy();
	relay_free(&R);
	admit_reset();
	return failed;
}

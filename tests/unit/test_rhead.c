/* The relay's one check of a request head (relay/rhead.c): Host, target,
 * ids and header values, and the routing decision. The attacks themselves
 * run against the real relay in tests/conformance/test_attacks.py. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "../../relay/rhead.h"
#include "util.h"

static void test_host(void **state)
{
	static const char *const good[][3] = {
		{ "localhost", "localhost", "0" }, { "LocalHost:443", "localhost", "443" },
		{ "127.0.0.1:9", "127.0.0.1", "9" }, { "[::1]", "[::1]", "0" },
		{ "[2001:DB8::1]:65535", "[2001:db8::1]", "65535" }, { "a_b.example~", "a_b.example~", "0" },
	};
	static const char *const bad[] = {
		"", ":443", "localhost:", "localhost:0", "localhost:65536", "localhost:+1",
		"localhost:443/a", "localhost/a", "user@localhost", "a b", "a,b", "[::1", "[::1]x",
		"[::1]:", "[zz]", "[fe80::1%eth0]", "h:1:2", "caf\xc3\xa9", "localhost:00443x",
	};
	struct rhost h;

	(void)state;
	for (size_t i = 0; i < AZB_ARRAY_SIZE(good); i++) {
		assert_int_equal(rhead_parse_host(good[i][0], &h), 0);
		assert_string_equal(h.name, good[i][1]);
		assert_int_equal(h.port, atoi(good[i][2]));
	}
	for (size_t i = 0; i < AZB_ARRAY_SIZE(bad); i++)
		if (rhead_parse_host(bad[i], &h) != -EINVAL)
			fail_msg("Host \"%s\" was accepted", bad[i]);
}

static struct relay *relay_with(const char *const *hcs, size_t n, char **hosts, size_t n_hosts)
{
	static struct relay r;

	relay_free(&r);
	memset(&r, 0, sizeof(r));
	for (size_t i = 0; i < n; i++)
		relay_hc_add(&r, hcs[i], true);
	r.hosts = hosts;
	r.n_hosts = n_hosts;
	return &r;
}

/* Decide on one head; returns the status (0: routed) and fills rt. */
static int decide(struct relay *r, const char *head, bool carried, struct rroute *rt)
{
	struct http1_head h;
	const char *why = NULL;
	size_t used;
	int st;

	http1_init(&h, 32 * 1024);
	assert_int_equal(http1_feed_request(&h, head, strlen(head), &used), 1);
	st = rroute_decide(r, &h, carried, rt, &why);
	if (st)
		assert_non_null(why);
	else
		rt->ws_key = NULL;      /* points into h, which goes now */
	http1_clear(&h);
	return st;
}

#define WS_HEAD "Upgrade: websocket\r\nConnection: Upgrade\r\n" \
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

static void test_routes(void **state)
{
	static const char *const hcs[] = { "a", "a/b", "web" };
	struct relay *r = relay_with(hcs, 3, NULL, 0);
	struct rroute rt;

	(void)state;
	assert_int_equal(decide(r, "GET /$hc/a/b/x?sb-hc-action=connect&sb-hc-id=t-1 HTTP/1.1\r\n"
			       "Host: h:1\r\n" WS_HEAD, false, &rt), 0);
	assert_int_equal(rt.kind, RR_CONNECT);
	assert_string_equal(rt.hc->path, "a/b");
	assert_string_equal(rt.id, "t-1");
	assert_string_equal(rt.host.name, "h");
	rroute_clear(&rt);
	/* a listener names its hybrid connection exactly */
	assert_int_equal(decide(r, "GET /$hc/a/b/x?sb-hc-action=listen HTTP/1.1\r\nHost: h\r\n"
			       WS_HEAD, false, &rt), 404);
	rroute_clear(&rt);
	assert_int_equal(decide(r, "GET /web/x?q=%ff HTTP/1.1\r\nHost: h\r\n\r\n", false, &rt), 0);
	assert_int_equal(rt.kind, RR_HTTP);
	rroute_clear(&rt);
	/* once a connection carried HTTP it never becomes a websocket */
	assert_int_equal(decide(r, "GET /$hc/a?sb-hc-action=listen HTTP/1.1\r\nHost: h\r\n" WS_HEAD,
				true, &rt), 400);
	rroute_clear(&rt);
	assert_int_equal(decide(r, "GET /$hc/a?sb-hc-action=accept&sb-hc-id=x&statusCode=101 "
			       "HTTP/1.1\r\nHost: h\r\n" WS_HEAD, false, &rt), 0);
	assert_int_equal(rt.reject_status, -1);
	rroute_clear(&rt);
	assert_int_equal(decide(r, "GET /$hc/a?sb-hc-action=accept&sb-hc-id=x&sb-hc-statusCode=403"
			       "&sb-hc-statusDescription=Not%20now HTTP/1.1\r\nHost: h\r\n" WS_HEAD,
			       false, &rt), 0);
	assert_int_equal(rt.reject_status, 403);
	assert_string_equal(rt.reject_reason, "Not now");
	rroute_clear(&rt);
	relay_with(NULL, 0, NULL, 0);
}

static void test_refusals(void **state)
{
	static const char *const hcs[] = { "a", "web" };
	static char *hosts[] = { "relay.test" };
	static const struct { const char *head; int status; } cases[] = {
		{ "GET /$hc/a?sb-hc-action=connect&sb-hc-id=%ff HTTP/1.1\r\nHost: relay.test\r\n" WS_HEAD, 400 },
		{ "GET /$hc/a?sb-hc-action=connect&sb-hc-id=a%26b HTTP/1.1\r\nHost: relay.test\r\n" WS_HEAD, 400 },
		{ "GET /$hc/a%ff?sb-hc-action=listen HTTP/1.1\r\nHost: relay.test\r\n" WS_HEAD, 400 },
		{ "GET /$hc/a%00?sb-hc-action=listen HTTP/1.1\r\nHost: relay.test\r\n" WS_HEAD, 400 },
		{ "GET /$hc/a?sb-hc-action=fly HTTP/1.1\r\nHost: relay.test\r\n" WS_HEAD, 400 },
		{ "GET /$hc/a?sb-hc-action=listen HTTP/1.1\r\nHost: relay.test\r\n\r\n", 400 },
		{ "GET /$hc/a?sb-hc-action=listen HTTP/1.1\r\nHost: other\r\n" WS_HEAD, 404 },
		{ "GET /$hc/a?sb-hc-action=listen HTTP/1.1\r\nHost: relay.test:1/a\r\n" WS_HEAD, 400 },
		{ "GET /web/x HTTP/1.1\r\nHost: relay.test\r\nHost: relay.test\r\n\r\n", 400 },
		{ "GET /web/x HTTP/1.1\r\nX: \xc0\xaf\r\nHost: relay.test\r\n\r\n", 400 },
		{ "GET http://relay.test/web/x HTTP/1.1\r\nHost: relay.test\r\n\r\n", 400 },
		{ "CONNECT /web/x HTTP/1.1\r\nHost: relay.test\r\n\r\n", 405 },
		{ "GET /nothing/x HTTP/1.1\r\nHost: relay.test\r\n\r\n", 404 },
		{ "POST /web/x HTTP/1.1\r\nHost: relay.test\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400 },
		{ "POST /web/x HTTP/1.1\r\nHost: relay.test\r\nTransfer-Encoding: chunked\r\n"
		  "Content-Length: 2\r\n\r\n", 400 },
		{ "POST /web/x HTTP/1.1\r\nHost: relay.test\r\nTransfer-Encoding: gzip\r\n\r\n", 400 },
	};
	struct relay *r = relay_with(hcs, 2, hosts, 1);
	struct rroute rt;

	(void)state;
	for (size_t i = 0; i < AZB_ARRAY_SIZE(cases); i++) {
		int st = decide(r, cases[i].head, false, &rt);

		if (st != cases[i].status)
			fail_msg("case %zu: %d, want %d", i, st, cases[i].status);
		rroute_clear(&rt);
	}
	r->hosts = NULL;
	r->n_hosts = 0;
	relay_with(NULL, 0, NULL, 0);
}

static void test_text(void **state)
{
	(void)state;
	assert_true(rhead_text_ok("caf\xc3\xa9 \xe2\x82\xac", 9));
	assert_false(rhead_text_ok("a\x1b[31m", 6));
	assert_false(rhead_text_ok("a\xc2\x9b" "31m", 6));     /* C1 CSI */
	assert_false(rhead_text_ok("\xed\xa0\x80", 3));        /* a surrogate */
	assert_false(rhead_text_ok("\xc0\xaf", 2));            /* overlong */
	assert_false(rhead_text_ok("\xf4\x90\x80\x80", 4));    /* past U+10FFFF */
	assert_false(rhead_text_ok("a\xe2\x82", 3));           /* cut short */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host),
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The control channel's messages (common/hc_proto.c): every message built
 * and parsed again gives back what went in, and everything the parsers
 * refuse stays refused, with a reason that is safe to log. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hc_proto.h"
#include "util.h"

static int from_relay(const char *text, struct hcp_msg *m, char *err, size_t errlen)
{
	return hcp_parse_from_relay(text, strlen(text), m, err, errlen);
}

static int from_listener(const char *text, struct hcp_msg *m, char *err, size_t errlen)
{
	return hcp_parse_from_listener(text, strlen(text), m, err, errlen);
}

static void assert_loggable(const char *err)
{
	assert_true(err[0] != '\0');
	for (const char *p = err; *p; p++)
		assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
}

/* ---- round trips ----------------------------------------------------------- */

/* What a listener does not read (connectHeaders, the request's method, target
 * and headers) is looked up in the text itself: kind.name, or kind.name.sub. */
static const char *field(const char *text, const char *kind, const char *name, const char *sub)
{
	static char buf[256];
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	json_t *v = json_object_get(json_object_get(j, kind), name);
	const char *s;

	assert_non_null(j);
	s = json_string_value(sub ? json_object_get(v, sub) : v);
	if (s)
		snprintf(buf, sizeof(buf), "%s", s);
	json_decref(j);
	return s ? buf : NULL;
}

/* text parses, as a listener reads it, to these fields. */
static void assert_offer(const char *text, enum hcp_kind kind, const char *id, const char *host,
			 int port, const char *peer, bool body)
{
	struct hcp_msg m;
	char err[300] = "";

	assert_non_null(text);
	assert_int_equal(from_relay(text, &m, err, sizeof(err)), 0);
	assert_int_equal(m.kind, kind);
	assert_string_equal(m.id, id);
	assert_string_equal(m.addr.host, host);
	assert_int_equal(m.addr.port, port);
	assert_string_equal(m.peer, peer);
	assert_int_equal(m.body, body);
	hcp_clear(&m);
}

static void test_accept_round_trip(void **state)
{
	const struct http1_header h[] = {
		{ "Host", "relay.test" }, { "X-A", "1" }, { "X-A", "2" }, { "Sec-WebSocket-Protocol", "p" },
	};
	struct hcp_accept a = { "wss://relay.test:8443/$hc/db?sb-hc-action=accept&sb-hc-id=abc_1",
				"abc_1", h, 4, { "2001:db8::5", 51234 } };
	char *text = hcp_accept_text(&a), err[300] = "";
	struct hcp_msg m;

	(void)state;
	assert_offer(text, HCP_ACCEPT, "abc_1", "relay.test", 8443, "[2001:db8::5]:51234", false);
	assert_int_equal(from_relay(text, &m, err, sizeof(err)), 0);
	assert_string_equal(m.addr.target, "/$hc/db?sb-hc-action=accept&sb-hc-id=abc_1");
	hcp_clear(&m);
	/* A header given twice keeps its last value, as the relay always sent it. */
	assert_string_equal(field(text, "accept", "connectHeaders", "X-A"), "2");
	assert_string_equal(field(text, "accept", "connectHeaders", "Sec-WebSocket-Protocol"), "p");
	free(text);
}

static void test_request_round_trip(void **state)
{
	const struct http1_header h[] = { { "Accept", "a" }, { "Via", "1.0 p" }, { "Via", "1.1 r" } };
	struct hcp_request r = { "wss://127.0.0.1/$hc/web?sb-hc-action=request&sb-hc-id=r9", "r9",
				 "POST", "/web/x?y=1", h, 3, { "198.51.100.2", 443 }, true };
	char *text = hcp_request_text(&r);

	(void)state;
	assert_offer(text, HCP_REQUEST, "r9", "127.0.0.1", 443, "198.51.100.2:443", true);
	assert_string_equal(field(text, "request", "method", NULL), "POST");
	assert_string_equal(field(text, "request", "requestTarget", NULL), "/web/x?y=1");
	assert_string_equal(field(text, "request", "requestHeaders", "Accept"), "a");
	/* The values of a header given twice are one list. */
	assert_string_equal(field(text, "request", "requestHeaders", "Via"), "1.0 p, 1.1 r");
	free(text);
	/* Asking for a rendezvous names only the address and the id. */
	r.method = NULL;
	text = hcp_request_text(&r);
	assert_offer(text, HCP_REQUEST, "r9", "127.0.0.1", 443, "-", false);
	assert_null(field(text, "request", "method", NULL));
	free(text);
}

/* text parses, as the relay reads it, to the response want describes. */
static void assert_response(const char *text, const struct hcp_response *want)
{
	struct hcp_msg m;
	char err[300] = "";

	assert_non_null(text);
	assert_int_equal(from_listener(text, &m, err, sizeof(err)), 0);
	assert_int_equal(m.kind, HCP_RESPONSE);
	assert_string_equal(m.id, want->id);
	assert_int_equal(m.status, want->status);
	if (want->description)
		assert_string_equal(m.description, want->description);
	else
		assert_null(m.description);
	assert_int_equal(m.body, want->body);
	assert_int_equal(m.n_headers, want->n_headers);
	for (size_t i = 0; i < m.n_headers; i++) {
		assert_string_equal(m.headers[i].name, want->headers[i].name);
		assert_string_equal(m.headers[i].value, want->headers[i].value);
	}
	hcp_clear(&m);
}

static void test_response_round_trip(void **state)
{
	const struct http1_header h[] = { { "Content-Type", "text/plain" }, { "X-N", "5" } };
	struct hcp_response r = { "4b1c", 201, "Made", h, 2, true };
	char *text = hcp_response_text(&r);

	(void)state;
	assert_response(text, &r);
	free(text);
	/* The plain forward's answer to a request: no headers, no description. */
	r = (struct hcp_response){ .id = "r1", .status = 501 };
	text = hcp_response_text(&r);
	assert_string_equal(text, "{\"response\":{\"requestId\":\"r1\",\"statusCode\":501,"
			    "\"body\":false}}");
	assert_response(text, &r);
	free(text);
}

static void test_renew_round_trip(void **state)
{
	const char *tok = "SharedAccessSignature sr=http%3a%2f%2fr%2fdb&sig=a%2Bb%3D&se=9&skn=k";
	char *text = hcp_renew_text(tok), err[300] = "";
	struct hcp_msg m;

	(void)state;
	assert_int_equal(from_listener(text, &m, err, sizeof(err)), 0);
	assert_int_equal(m.kind, HCP_RENEW);
	assert_string_equal(m.token, tok);
	hcp_clear(&m);
	free(text);
}

/* Each side reads only its own kinds: the others are not errors. */
static void test_directions(void **state)
{
	struct hcp_response rs = { .id = "r", .status = 200 };
	struct hcp_accept a = { "wss://h/$hc/x", "i", NULL, 0, { "1.2.3.4", 1 } };
	char *resp = hcp_response_text(&rs), *renew = hcp_renew_text("t");
	char *acc = hcp_accept_text(&a), err[300];
	struct hcp_msg m;

	(void)state;
	assert_int_equal(from_relay(resp, &m, err, sizeof(err)), 0);
	assert_int_equal(m.kind, HCP_OTHER);
	assert_int_equal(from_relay(renew, &m, err, sizeof(err)), 0);
	assert_int_equal(m.kind, HCP_OTHER);
	assert_int_equal(from_listener(acc, &m, err, sizeof(err)), 0);
	assert_int_equal(m.kind, HCP_OTHER);
	assert_null(m.id);
	free(resp);
	free(renew);
	free(acc);
}

/* A string JSON cannot hold makes no message: NULL, never a half text. */
static void test_builders_refuse(void **state)
{
	const struct http1_header bad_value[] = { { "A", "\xff" } }, bad_name[] = { { "\xc3", "v" } };
	struct hcp_accept a = { "wss://h/$hc/x", "i", bad_value, 1, { "1.2.3.4", 1 } };
	struct hcp_request r = { "wss://h/$hc/x", "i", "GET", "/x", bad_name, 1, { "1.2.3.4", 1 }, false };
	struct hcp_response rs = { .id = "r", .status = 200, .description = "\xfe" };

	(void)state;
	assert_null(hcp_accept_text(&a));
	a.n_headers = 0;
	a.peer.address = "\x80";
	assert_null(hcp_accept_text(&a));
	assert_null(hcp_request_text(&r));
	r.method = NULL;
	r.id = "\xc0\xaf";
	assert_null(hcp_request_text(&r));
	assert_null(hcp_response_text(&rs));
	rs.description = NULL;
	rs.headers = bad_value;
	rs.n_headers = 1;
	assert_null(hcp_response_text(&rs));
	assert_null(hcp_renew_text("\xe2\x82"));
}

/* ---- what a listener reads from the relay ------------------------------------- */

static void test_accept(void **state)
{
	struct hcp_msg m;
	char err[300] = "";

	const char *text = "{\"accept\":{\"address\":\"wss://g1.relay.test/$hc/db?sb-hc-action="
			   "accept&sb-hc-id=abc\",\"id\":\"abc_G1\",\"connectHeaders\":{},"
			   "\"remoteEndpoint\":{\"address\":\"203.0.113.5\",\"port\":51234}}}";

	(void)state;
	assert_offer(text, HCP_ACCEPT, "abc_G1", "g1.relay.test", 443, "203.0.113.5:51234", false);
	assert_int_equal(from_relay(text, &m, err, sizeof(err)), 0);
	assert_string_equal(m.addr.target, "/$hc/db?sb-hc-action=accept&sb-hc-id=abc");
	hcp_clear(&m);
}

static void test_accept_v6_and_port(void **state)
{
	struct hcp_msg m;
	char err[300] = "";

	(void)state;
	assert_int_equal(from_relay("{\"accept\":{\"address\":\"wss://[::1]:8443/$hc/db\","
				    "\"remoteEndpoint\":{\"address\":\"2001:db8::1\",\"port\":0}}}",
				    &m, err, sizeof(err)), 0);
	assert_string_equal(m.addr.host, "::1");
	assert_int_equal(m.addr.port, 8443);
	assert_null(m.id);
	assert_string_equal(m.peer, "[2001:db8::1]:0");
	hcp_clear(&m);
	/* No remoteEndpoint at all: the peer is unknown, not invented. */
	assert_int_equal(from_relay("{\"accept\":{\"address\":\"wss://relay.test./$hc/db\"}}", &m, err,
				    sizeof(err)), 0);
	assert_string_equal(m.peer, "-");
	hcp_clear(&m);
}

static void test_request_and_other(void **state)
{
	struct hcp_msg m;
	char err[300] = "";

	(void)state;
	assert_int_equal(from_relay("{\"request\":{\"id\":\"r1\",\"method\":\"GET\",\"body\":true}}", &m,
				    err, sizeof(err)), 0);
	assert_int_equal(m.kind, HCP_REQUEST);
	assert_string_equal(m.id, "r1");
	assert_true(m.body);
	assert_null(m.addr.host);
	hcp_clear(&m);
	assert_int_equal(from_relay("{\"somethingNew\":{\"address\":\"anything\"}}", &m, err,
				    sizeof(err)), 0);
	assert_int_equal(m.kind, HCP_OTHER);
	hcp_clear(&m);
}

static const char *const bad_from_relay[] = {
	"",
	"[]",
	"\"accept\"",
	"{\"accept\":[]}",
	"{\"accept\":{}}",
	"{\"accept\":{\"address\":5}}",
	"{\"accept\":{\"address\":\"wss://h/$hc/x\"},\"request\":{\"id\":\"r\"}}",
	"{\"accept\":{\"address\":\"wss://h/$hc/x\",\"address\":\"wss://evil/$hc/x\"}}",
	"{\"accept\":{\"address\":\"ws://h/$hc/x\"}}",
	"{\"accept\":{\"address\":\"wss://h/other\"}}",
	"{\"accept\":{\"address\":\"wss://h?$hc/x\"}}",
	"{\"accept\":{\"address\":\"wss://h/$hc/x#f\"}}",
	"{\"accept\":{\"address\":\"wss://h/$hc/x\\r\\nX: 1\"}}",
	"{\"accept\":{\"address\":\"wss://h/$hc/\\u0001\"}}",
	"{\"accept\":{\"address\":\"wss://h/$hc/\\u00e9\"}}",
	"{\"accept\":{\"address\":\"wss://h /$hc/x\"}}",
	"{\"accept\":{\"address\":\"wss://user@h/$hc/x\"}}",
	"{\"accept\":{\"address\":\"wss://h:0/$hc/x\"}}",
	"{\"accept\":{\"address\":\"wss://h:99999/$hc/x\"}}",
	"{\"accept\":{\"address\":\"wss://h:/$hc/x\"}}",
	"{\"accept\":{\"address\":\"wss://[127.0.0.1]/$hc/x\"}}",
	"{\"accept\":{\"address\":\"wss://[::1%eth0]/$hc/x\"}}",
	"{\"accept\":{\"address\":\"wss://[]/$hc/x\"}}",
	"{\"accept\":{\"address\":\"wss://-h/$hc/x\"}}",
	"{\"accept\":{\"address\":\"wss://a..b/$hc/x\"}}",
	"{\"accept\":{\"address\":\"wss://a_b/$hc/x\"}}",
	"{\"accept\":{\"address\":\"wss://1.2.3/$hc/x\"}}",
	"{\"accept\":{\"address\":\"wss://h/$hc/x\",\"id\":5}}",
	"{\"accept\":{\"address\":\"wss://h/$hc/x\",\"id\":\"\"}}",
	"{\"accept\":{\"address\":\"wss://h/$hc/x\",\"id\":\"a b\"}}",
	"{\"accept\":{\"address\":\"wss://h/$hc/x\",\"id\":\"\\u001b[2J\"}}",
	"{\"accept\":{\"address\":\"wss://h/$hc/x\",\"remoteEndpoint\":5}}",
	"{\"accept\":{\"address\":\"wss://h/$hc/x\",\"remoteEndpoint\":{\"port\":1}}}",
	"{\"accept\":{\"address\":\"wss://h/$hc/x\",\"remoteEndpoint\":"
	"{\"address\":\"host.example\",\"port\":1}}}",
	"{\"accept\":{\"address\":\"wss://h/$hc/x\",\"remoteEndpoint\":"
	"{\"address\":\"1.2.3.4\",\"port\":-1}}}",
	"{\"accept\":{\"address\":\"wss://h/$hc/x\",\"remoteEndpoint\":"
	"{\"address\":\"1.2.3.4\",\"port\":\"80\"}}}",
	"{\"request\":{\"body\":true}}",
	"{\"request\":{\"id\":\"r\",\"address\":\"wss://h/x\"}}",
	"{\"accept\":{\"address\":\"wss://h/$hc/x\\u0000y\"}}",
};

/* Refused, with a reason, and the reason is safe to log. */
static void test_bad_from_relay(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_from_relay) / sizeof(bad_from_relay[0]); i++) {
		struct hcp_msg m;
		char err[300] = "";

		if (from_relay(bad_from_relay[i], &m, err, sizeof(err)) != -EBADMSG)
			fail_msg("accepted: %s", bad_from_relay[i]);
		assert_loggable(err);
		assert_null(m.id);
		assert_null(m.addr.host);
	}
}

static void test_limits(void **state)
{
	size_t n = HCP_MSG_MAX + 1;
	char *big = malloc(n + 1), id[HCP_ID_MAX + 80], err[300];
	struct hcp_msg m;

	(void)state;
	memset(big, ' ', n);
	memcpy(big, "{}", 2);
	big[n] = '\0';
	assert_int_equal(hcp_parse_from_relay(big, n, &m, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "limit"));
	free(big);
	snprintf(id, sizeof(id), "{\"request\":{\"id\":\"%0*d\"}}", HCP_ID_MAX, 7);
	assert_int_equal(from_relay(id, &m, err, sizeof(err)), 0);
	hcp_clear(&m);
	snprintf(id, sizeof(id), "{\"request\":{\"id\":\"%0*d\"}}", HCP_ID_MAX + 1, 7);
	assert_int_equal(from_relay(id, &m, err, sizeof(err)), -EBADMSG);
}

/* What goes wrong is quoted with its bytes escaped. */
static void test_error_escapes(void **state)
{
	struct hcp_msg m;
	char err[300];

	(void)state;
	assert_int_equal(from_relay("{\"accept\":{\"address\":\"wss://h/$hc/\\u0007\\\"x\"}}", &m, err,
				    sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "\"wss://h/$hc/\\x07\\x22x\""));
	/* jansson quotes the text near a syntax error: escaped too */
	assert_int_equal(from_listener("{\"a\":1\x1b}", &m, err, sizeof(err)), -EBADMSG);
	assert_loggable(err);
}

/* ---- what the relay reads from a listener ------------------------------------- */

/* A status as a string, header values as numbers and booleans. */
static void test_response(void **state)
{
	const struct http1_header h[] = { { "A", "b" }, { "N", "5" }, { "T", "true" } };
	const struct hcp_response want = { "r1", 201, "Made", h, 3, true };

	(void)state;
	assert_response("{\"response\":{\"requestId\":\"r1\",\"statusCode\":\"201\","
			"\"statusDescription\":\"Made\",\"responseHeaders\":{\"A\":\"b\",\"N\":5,"
			"\"T\":true},\"body\":true}}", &want);
}

static void test_bad_from_listener(void **state)
{
	static const char *const bad[] = {
		"", "nope", "[1]", "{\"response\":1}",
		"{\"response\":{\"statusCode\":200}}",
		"{\"response\":{\"requestId\":\"\",\"statusCode\":200}}",
		"{\"response\":{\"requestId\":\"r\",\"statusCode\":99}}",
		"{\"response\":{\"requestId\":\"r\",\"statusCode\":\"2x\"}}",
		"{\"response\":{\"requestId\":\"r\",\"statusCode\":200,\"statusDescription\":\"a\\r\\nb\"}}",
		"{\"response\":{\"requestId\":\"r\",\"statusCode\":200,\"statusDescription\":5}}",
		"{\"response\":{\"requestId\":\"r\",\"statusCode\":200,\"body\":\"yes\"}}",
		"{\"response\":{\"requestId\":\"r\",\"statusCode\":200,\"responseHeaders\":[]}}",
		"{\"response\":{\"requestId\":\"r\",\"statusCode\":200,\"responseHeaders\":{\"A\":\"x\\ny\"}}}",
		"{\"response\":{\"requestId\":\"r\",\"statusCode\":200,\"responseHeaders\":{\"A B\":\"x\"}}}",
		"{\"response\":{\"requestId\":\"r\",\"statusCode\":200,\"responseHeaders\":{\"A\":[1]}}}",
		"{\"response\":{\"requestId\":\"r\",\"statusCode\":101}}",
		"{\"response\":{\"requestId\":\"r\",\"statusCode\":\"199\"}}",
		"{\"response\":{\"requestId\":\"r\",\"statusCode\":600}}",
		"{\"renewToken\":{}}",
		"{\"renewToken\":{\"token\":5}}",
		"{\"a\":1,\"a\":2}",
	};
	struct hcp_msg m;
	char why[300];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (from_listener(bad[i], &m, why, sizeof(why)) != -EBADMSG)
			fail_msg("accepted: %s", bad[i]);
		assert_loggable(why);
		assert_int_equal(m.kind, HCP_OTHER);
		hcp_clear(&m);
	}
	/* a bad response that names its request keeps the id: that request fails */
	assert_int_equal(from_listener("{\"response\":{\"requestId\":\"r9\",\"statusCode\":100}}", &m,
				       why, sizeof(why)), -EBADMSG);
	assert_string_equal(m.id, "r9");
	hcp_clear(&m);
	/* kinds the relay does not act on are not errors */
	assert_int_equal(from_listener("{\"accept\":{}}", &m, why, sizeof(why)), 0);
	assert_int_equal(m.kind, HCP_OTHER);
}

static void test_response_limits(void **state)
{
	struct sbuf b;
	struct hcp_msg m;
	char why[300];

	(void)state;
	/* requestId: 64 characters at most */
	sbuf_init(&b);
	sbuf_printf(&b, "{\"response\":{\"requestId\":\"%0*d\",\"statusCode\":200}}", HCP_REQUEST_ID_MAX, 1);
	assert_int_equal(from_listener(b.s, &m, why, sizeof(why)), 0);
	hcp_clear(&m);
	b.len = 0;
	sbuf_printf(&b, "{\"response\":{\"requestId\":\"%0*d\",\"statusCode\":200}}",
		    HCP_REQUEST_ID_MAX + 1, 1);
	assert_int_equal(from_listener(b.s, &m, why, sizeof(why)), -EBADMSG);
	hcp_clear(&m);
	/* statusDescription: 512 */
	b.len = 0;
	sbuf_printf(&b, "{\"response\":{\"requestId\":\"r\",\"statusCode\":200,\"statusDescription\":"
		    "\"%0*d\"}}", HCP_DESCRIPTION_MAX + 1, 1);
	assert_int_equal(from_listener(b.s, &m, why, sizeof(why)), -EBADMSG);
	hcp_clear(&m);
	/* 64 headers, and 32 kB of them */
	b.len = 0;
	sbuf_add(&b, "{\"response\":{\"requestId\":\"r\",\"statusCode\":200,\"responseHeaders\":{");
	for (int i = 0; i <= HCP_HEADERS_MAX; i++)
		sbuf_printf(&b, "%s\"h%d\":\"v\"", i ? "," : "", i);
	sbuf_add(&b, "}}}");
	assert_int_equal(from_listener(b.s, &m, why, sizeof(why)), -EBADMSG);
	assert_non_null(strstr(why, "too many"));
	hcp_clear(&m);
	b.len = 0;
	sbuf_printf(&b, "{\"response\":{\"requestId\":\"r\",\"statusCode\":200,\"responseHeaders\":"
		    "{\"a\":\"%0*d\"}}}", HCP_HEADER_BYTES_MAX, 1);
	assert_int_equal(from_listener(b.s, &m, why, sizeof(why)), -EBADMSG);
	assert_non_null(strstr(why, "32 kB"));
	hcp_clear(&m);
	sbuf_free(&b);
}

/* A whole request: method, target and headers as the relay sent them, a
 * header given as a list one entry per value; what could steer a head is
 * refused. */
static void test_whole_request(void **state)
{
	static const char ok[] = "{\"request\":{\"address\":\"wss://r.test/$hc/web?sb-hc-id=1\","
				 "\"id\":\"1\",\"method\":\"PATCH\",\"requestTarget\":\"/web/a%2Fb?x=%20\","
				 "\"requestHeaders\":{\"Accept\":\"*/*\",\"X-L\":[\"a\",\"b\"]},"
				 "\"remoteEndpoint\":{\"address\":\"::1\",\"port\":7},\"body\":false}}";
	static const char *const bad[] = {
		"{\"request\":{\"id\":\"1\",\"method\":\"G T\",\"requestTarget\":\"/x\"}}",
		"{\"request\":{\"id\":\"1\",\"method\":\"GET\",\"requestTarget\":\"x\"}}",
		"{\"request\":{\"id\":\"1\",\"method\":\"GET\",\"requestTarget\":\"/a b\"}}",
		"{\"request\":{\"id\":\"1\",\"method\":\"GET\",\"requestTarget\":\"/a#f\"}}",
		"{\"request\":{\"id\":\"1\",\"method\":\"GET\",\"requestTarget\":\"/\","
		"\"requestHeaders\":{\"A\":\"x\\r\\nB: y\"}}}",
		"{\"request\":{\"id\":\"1\",\"method\":\"GET\",\"requestTarget\":\"/\","
		"\"requestHeaders\":{\"A\":[\"x\",2]}}}",
	};
	struct hcp_msg m, moved;
	char err[300];

	(void)state;
	assert_int_equal(from_relay(ok, &m, err, sizeof(err)), 0);
	assert_string_equal(m.method, "PATCH");
	assert_string_equal(m.target, "/web/a%2Fb?x=%20");
	assert_string_equal(m.peer_ip, "::1");
	assert_int_equal(m.n_headers, 3);
	assert_string_equal(m.headers[1].name, "X-L");
	assert_string_equal(m.headers[1].value, "a");
	assert_string_equal(m.headers[2].value, "b");
	hcp_move(&moved, &m);
	assert_null(m.method);
	assert_string_equal(moved.addr.host, "r.test");
	hcp_clear(&m);
	hcp_clear(&moved);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (from_relay(bad[i], &m, err, sizeof(err)) != -EBADMSG)
			fail_msg("accepted: %s", bad[i]);
		assert_loggable(err);
		hcp_clear(&m);
	}
}

/* Set-Cookie cannot be joined: two stay two through the response message;
 * other repeated names are one list. */
static void test_response_repeated_headers(void **state)
{
	const struct http1_header h[] = { { "Set-Cookie", "a=1" }, { "X", "1" },
					  { "Set-Cookie", "b=2; Expires=Wed, 21 Oct 2037" },
					  { "X", "2" }, { "Set-Cookie", "c=3" } };
	struct hcp_response r = { "r1", 200, NULL, h, 5, true };
	char *text = hcp_response_text(&r), err[300];
	struct hcp_msg m;

	(void)state;
	assert_int_equal(from_listener(text, &m, err, sizeof(err)), 0);
	assert_int_equal(m.n_headers, 4);
	assert_string_equal(m.headers[0].name, "Set-Cookie");
	assert_string_equal(m.headers[0].value, "a=1");
	assert_string_equal(m.headers[1].value, "b=2; Expires=Wed, 21 Oct 2037");
	assert_string_equal(m.headers[2].value, "c=3");
	assert_string_equal(m.headers[3].name, "X");
	assert_string_equal(m.headers[3].value, "1, 2");
	hcp_clear(&m);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accept_round_trip),
		cmocka_unit_test(test_request_round_trip),
		cmocka_unit_test(test_response_round_trip),
		cmocka_unit_test(test_renew_round_trip),
		cmocka_unit_test(test_directions),
		cmocka_unit_test(test_builders_refuse),
		cmocka_unit_test(test_accept),
		cmocka_unit_test(test_accept_v6_and_port),
		cmocka_unit_test(test_request_and_other),
		cmocka_unit_test(test_bad_from_relay),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_error_escapes),
		cmocka_unit_test(test_response),
		cmocka_unit_test(test_bad_from_listener),
		cmocka_unit_test(test_response_limits),
		cmocka_unit_test(test_whole_request),
		cmocka_unit_test(test_response_repeated_headers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

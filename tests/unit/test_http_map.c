/* What an HTTP forward makes of a request (daemon/http_map.c): the target
 * path never leaves the base path nor the target, whatever the client
 * writes; hop-by-hop headers stay behind; the head frames the body as
 * asked. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../daemon/http_map.h"

static void assert_maps(const char *relay, const char *base, const char *raw, const char *want)
{
	char *got = http_map_target(relay, base, raw);

	if (strcmp(got, want) != 0)
		fail_msg("%s under %s: got %s, want %s", raw, base, got, want);
	free(got);
}

static void test_prefix_only_as_a_whole_segment(void **state)
{
	(void)state;
	assert_maps("api", "/", "/api/a/b?x=1", "/a/b?x=1");
	assert_maps("api", "/p1/p2/", "/api", "/p1/p2/");
	assert_maps("api", "/p1/", "/api?x", "/p1/?x");
	assert_maps("api", "/p1/", "/API/x", "/p1/x");
	/* The original took "/api" off "/apiv2" too. */
	assert_maps("api", "/p1/", "/apiv2/x", "/p1/apiv2/x");
	assert_maps("a/b", "/", "/a/b/c", "/c");
	assert_maps("api", "/", "/other", "/other");
}

static void test_never_another_host_nor_above_base(void **state)
{
	(void)state;
	assert_maps("r", "/base/", "/r//evil/x", "/base//evil/x");
	assert_maps("r", "/base/", "/r/http://evil/x", "/base/http://evil/x");
	assert_maps("r", "/base/", "/r/http:%2F%2Fevil%2Fx", "/base/http:%2F%2Fevil%2Fx");
	assert_maps("r", "/base/", "/r/../../etc/passwd", "/base/etc/passwd");
	assert_maps("r", "/base/", "/r/a/%2e%2E/../b", "/base/b");
	assert_maps("r", "/base/", "/r/a/.%2e/b/", "/base/b/");
	assert_maps("r", "/base/", "/r/a/./b/.", "/base/a/b/");
	assert_maps("r", "/base/", "/r/a/b/..", "/base/a/");
	assert_maps("r", "/base/", "/r/..", "/base/");
	/* Dots that are not whole segments are names. */
	assert_maps("r", "/base/", "/r/a..b/.x/...", "/base/a..b/.x/...");
	/* The query is the client's, as sent: nothing in it is a path. */
	assert_maps("r", "/base/", "/r/x?a=/../b&c=%2F", "/base/x?a=/../b&c=%2F");
}

/* A server that splits on '\\' or decodes %2F / %5C first (IIS) would read
 * these as dot segments that climb out of base: they are refused. */
static void test_dots_by_other_separators_refused(void **state)
{
	(void)state;
	assert_false(http_map_target_safe("/r/..%2F..%2Fetc/passwd"));
	assert_false(http_map_target_safe("/r/..%2f..%2fetc"));
	assert_false(http_map_target_safe("/r/a%5C..%5Cb"));
	assert_false(http_map_target_safe("/r/..\\..\\etc"));
	assert_false(http_map_target_safe("/r/x\\."));
	assert_false(http_map_target_safe("/r/%2e%2e%5cwin.ini"));
	assert_false(http_map_target_safe("/r/a/.%2E%2Fb"));
	/* plain dot segments are resolved, not refused; dots in names pass */
	assert_true(http_map_target_safe("/r/../../etc/passwd"));
	assert_true(http_map_target_safe("/r/a..%2Fb/x%5C.y/..."));
	assert_true(http_map_target_safe("/r/http:%2F%2Fevil%2Fx"));
	assert_true(http_map_target_safe("/r/x?a=..%2F..%2F"));
	assert_true(http_map_target_safe("/"));
}

static void test_hop_by_hop(void **state)
{
	const struct http1_header one[] = { { "Connection", "close, x-drop" } };
	/* Each Connection header counts, not only the first. */
	const struct http1_header two[] = { { "Connection", "keep-alive" },
					    { "X-Secret", "s" },
					    { "connection", "X-Secret" } };

	(void)state;
	assert_true(http1_hop_by_hop("connection", NULL, 0));
	assert_true(http1_hop_by_hop("Transfer-Encoding", NULL, 0));
	assert_true(http1_hop_by_hop("keep-alive", NULL, 0));
	assert_true(http1_hop_by_hop("X-Drop", one, 1));
	assert_false(http1_hop_by_hop("X-Dropped", one, 1));
	assert_false(http1_hop_by_hop("Authorization", one, 1));
	assert_false(http1_hop_by_hop("Content-Length", NULL, 0));
	assert_true(http1_hop_by_hop("x-secret", two, 3));
}

static void test_every_connection_header_names_hop_headers(void **state)
{
	const struct http1_header h[] = { { "Connection", "keep-alive" }, { "X-Secret", "s" },
					  { "Connection", "X-Secret" }, { "X-Kept", "k" } };
	struct http_request_in in = { "GET", "/p", "127.0.0.1:8080", h, 4, HTTP_BODY_NONE, 0,
				      NULL, NULL, NULL, true };
	char *head = http_request_head(&in);

	(void)state;
	assert_null(strstr(head, "X-Secret"));
	assert_non_null(strstr(head, "X-Kept: k\r\n"));
	free(head);
}

static void test_request_head(void **state)
{
	const struct http1_header h[] = { { "Authorization", "Bearer t" }, { "Host", "relay" },
					  { "Connection", "X-Hop" }, { "X-Hop", "1" },
					  { "Content-Length", "9" }, { "X-Forwarded-For", "10.0.0.1" },
					  { "Content-Type", "a/b;charset=utf-8;foo=bar" } };
	struct http_request_in in = { "PUT", "/p/x", "127.0.0.1:8080", h, 7, HTTP_BODY_LENGTH, 42,
				      NULL, NULL, NULL, false };
	char *head = http_request_head(&in);

	(void)state;
	assert_string_equal(head, "PUT /p/x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
				  "Authorization: Bearer t\r\nX-Forwarded-For: 10.0.0.1\r\n"
				  "Content-Type: a/b;charset=utf-8;foo=bar\r\nContent-Length: 42\r\n"
				  "Connection: close\r\n\r\n");
	free(head);
	in.framing = HTTP_BODY_CHUNKED;
	in.forwarded_for = "192.0.2.7";
	in.forwarded_proto = "https";
	in.forwarded_host = "ns.example";
	head = http_request_head(&in);
	assert_non_null(strstr(head, "X-Forwarded-For: 10.0.0.1, 192.0.2.7\r\n"));
	assert_non_null(strstr(head, "X-Forwarded-Proto: https\r\nX-Forwarded-Host: ns.example\r\n"));
	assert_non_null(strstr(head, "Transfer-Encoding: chunked\r\n"));
	assert_null(strstr(head, "Content-Length"));
	free(head);
	/* a connection to keep says nothing: HTTP/1.1 keeps it by default */
	in.keep_alive = true;
	head = http_request_head(&in);
	assert_null(strstr(head, "Connection"));
	assert_non_null(strstr(head, "Transfer-Encoding: chunked\r\n\r\n"));
	free(head);
}

static void test_connection_auth(void **state)
{
	(void)state;
	assert_true(http_connection_auth("NTLM TlRMTVNTUAAB"));
	assert_true(http_connection_auth("negotiate YIIGhg"));
	assert_true(http_connection_auth("Negotiate"));
	assert_false(http_connection_auth("NTLMv2 x"));
	assert_false(http_connection_auth("Basic dTpw"));
	assert_false(http_connection_auth("Bearer NTLM"));
	assert_false(http_connection_auth(""));
}

static void test_authority(void **state)
{
	char *a;

	(void)state;
	a = http_authority("web.example", 443, true);
	assert_string_equal(a, "web.example");
	free(a);
	a = http_authority("::1", 8443, true);
	assert_string_equal(a, "[::1]:8443");
	free(a);
	a = http_authority("10.0.0.1", 443, false);
	assert_string_equal(a, "10.0.0.1:443");
	free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix_only_as_a_whole_segment),
		cmocka_unit_test(test_never_another_host_nor_above_base),
		cmocka_unit_test(test_dots_by_other_separators_refused),
		cmocka_unit_test(test_hop_by_hop),
		cmocka_unit_test(test_every_connection_header_names_hop_headers),
		cmocka_unit_test(test_request_head),
		cmocka_unit_test(test_connection_auth),
		cmocka_unit_test(test_authority),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

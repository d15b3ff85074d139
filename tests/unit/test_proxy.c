/* HTTP CONNECT proxies: no_proxy as curl reads it, proxy URLs, the choice
 * between the setting and the environment, the request and the answer. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../daemon/proxy.h"
#include "util.h"

static const char *const proxy_vars[] = {
	"https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY",
	"no_proxy", "NO_PROXY",
};

static int clean_env(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(proxy_vars) / sizeof(proxy_vars[0]); i++)
		unsetenv(proxy_vars[i]);
	return 0;
}

static void test_no_proxy_names(void **state)
{
	(void)state;
	assert_true(proxy_excluded("*", "anything.example"));
	assert_true(proxy_excluded("example.com", "example.com"));
	assert_true(proxy_excluded("example.com", "ns.Example.COM"));
	assert_true(proxy_excluded(".example.com", "ns.example.com"));
	assert_true(proxy_excluded(".example.com", "example.com"));
	assert_true(proxy_excluded("example.com.", "ns.example.com."));
	assert_false(proxy_excluded("example.com", "notexample.com"));
	assert_false(proxy_excluded("ns.example.com", "example.com"));
	assert_false(proxy_excluded("", "example.com"));
	assert_false(proxy_excluded(NULL, "example.com"));
	/* "*" is only special as the whole list (curl 7.88) */
	assert_false(proxy_excluded("a.test, *", "example.com"));
	assert_true(proxy_excluded("a.test, ,b.test,,example.com", "example.com"));
	assert_true(proxy_excluded("  a.test ,\texample.com", "x.example.com"));
	/* after an item, anything but a comma ends the list */
	assert_true(proxy_excluded("a.test b.test", "a.test"));
	assert_false(proxy_excluded("a.test b.test", "b.test"));
}

static void test_no_proxy_addresses(void **state)
{
	(void)state;
	assert_true(proxy_excluded("127.0.0.1", "127.0.0.1"));
	assert_false(proxy_excluded("127.0.0.1", "127.0.0.2"));
	assert_true(proxy_excluded("10.0.0.0/8", "10.20.30.40"));
	assert_false(proxy_excluded("10.0.0.0/8", "11.0.0.1"));
	assert_true(proxy_excluded("192.168.1.0/25", "192.168.1.127"));
	assert_false(proxy_excluded("192.168.1.0/25", "192.168.1.128"));
	assert_false(proxy_excluded("10.0.0.0/33", "10.0.0.1"));
	assert_true(proxy_excluded("::1", "::1"));
	assert_true(proxy_excluded("[::1]", "::1"));
	assert_true(proxy_excluded("[fd00::]/8", "fd00::5"));
	assert_true(proxy_excluded("fd00::/8", "fd12:3456::1"));
	assert_false(proxy_excluded("fd00::/8", "fe80::1"));
	/* an address is never matched as a name suffix */
	assert_false(proxy_excluded("0.0.1", "10.0.0.1"));
	/* a name item does not match an address, nor an address a name */
	assert_false(proxy_excluded("localhost", "127.0.0.1"));
	assert_false(proxy_excluded("127.0.0.1", "localhost"));
}

static void test_parse_url(void **state)
{
	struct proxy_route r;
	char err[200];

	(void)state;
	assert_int_equal(proxy_parse_url("http://proxy.test:3128", &r, err, sizeof(err)), 0);
	assert_string_equal(r.host, "proxy.test");
	assert_int_equal(r.port, 3128);
	assert_null(r.user);
	proxy_route_clear(&r);
	assert_int_equal(proxy_parse_url("proxy.test", &r, err, sizeof(err)), 0);
	assert_int_equal(r.port, PROXY_PORT_DEFAULT);
	proxy_route_clear(&r);
	assert_int_equal(proxy_parse_url("http://al%40ce:p%3Ass@[::1]:8080/", &r, err, sizeof(err)),
			 0);
	assert_string_equal(r.host, "::1");
	assert_int_equal(r.port, 8080);
	assert_string_equal(r.user, "al@ce");
	assert_string_equal(r.password, "p:ss");
	proxy_route_clear(&r);
	assert_int_equal(proxy_parse_url("socks5://proxy.test:1080", &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "http://"));
	assert_int_equal(proxy_parse_url("https://proxy.test", &r, err, sizeof(err)), -EINVAL);
	assert_int_equal(proxy_parse_url("http://u:topsecret@proxy.test:99999", &r, err,
					 sizeof(err)), -EINVAL);
	assert_null(strstr(err, "topsecret"));
	assert_int_equal(proxy_parse_url("http://proxy.test/path", &r, err, sizeof(err)), -EINVAL);
}

static void test_route_environment(void **state)
{
	struct proxy_route r;
	char err[200];

	(void)state;
	assert_int_equal(proxy_route(NULL, "https", "ns.test", &r, err, sizeof(err)), 0);
	assert_null(r.host);
	setenv("ALL_PROXY", "http://all.test:1", 1);
	assert_int_equal(proxy_route(NULL, "https", "ns.test", &r, err, sizeof(err)), 0);
	assert_string_equal(r.host, "all.test");
	assert_string_equal(r.where, "proxy all.test:1 from ALL_PROXY");
	proxy_route_clear(&r);
	setenv("HTTPS_PROXY", "http://upper.test:2", 1);
	assert_int_equal(proxy_route(NULL, "https", "ns.test", &r, err, sizeof(err)), 0);
	assert_string_equal(r.host, "upper.test");
	proxy_route_clear(&r);
	setenv("https_proxy", "http://lower.test:3", 1);
	assert_int_equal(proxy_route(NULL, "https", "ns.test", &r, err, sizeof(err)), 0);
	assert_string_equal(r.host, "lower.test");
	proxy_route_clear(&r);
	/* HTTP_PROXY is never read (a CGI request header); http_proxy is */
	setenv("HTTP_PROXY", "http://cgi.test:4", 1);
	assert_int_equal(proxy_route(NULL, "http", "ns.test", &r, err, sizeof(err)), 0);
	assert_string_equal(r.host, "all.test");
	proxy_route_clear(&r);
	/* empty is unset, as curl_getenv has it */
	setenv("https_proxy", "", 1);
	assert_int_equal(proxy_route(NULL, "https", "ns.test", &r, err, sizeof(err)), 0);
	assert_string_equal(r.host, "upper.test");
	proxy_route_clear(&r);
	setenv("NO_PROXY", "other.test", 1);
	setenv("no_proxy", ".test", 1);
	assert_int_equal(proxy_route(NULL, "https", "ns.test", &r, err, sizeof(err)), 0);
	assert_null(r.host);
	/* the instance metadata service is never proxied */
	unsetenv("no_proxy");
	unsetenv("NO_PROXY");
	assert_int_equal(proxy_route(NULL, "http", "169.254.169.254", &r, err, sizeof(err)), 0);
	assert_null(r.host);
	setenv("https_proxy", "socks5://u:hidden@s.test", 1);
	assert_int_equal(proxy_route(NULL, "https", "ns.test", &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "https_proxy"));
	assert_null(strstr(err, "hidden"));
}

static void test_route_setting(void **state)
{
	struct azb_proxy set = { .url = (char *)"http://set.test:8080", .user = (char *)"bob",
				 .password = (char *)"pw" };
	struct proxy_route r;
	char err[200];

	(void)state;
	setenv("https_proxy", "http://u:envpw@env.test:3", 1);
	setenv("no_proxy", "ns.test", 1);
	/* the setting alone: no_proxy is the environment's, not read either */
	assert_int_equal(proxy_route(&set, "https", "ns.test", &r, err, sizeof(err)), 0);
	assert_string_equal(r.host, "set.test");
	assert_string_equal(r.user, "bob");
	assert_string_equal(r.password, "pw");
	assert_string_equal(r.where, "proxy set.test:8080 from the setting proxy");
	proxy_route_clear(&r);
	set.url = (char *)"direct";
	assert_int_equal(proxy_route(&set, "https", "x.test", &r, err, sizeof(err)), 0);
	assert_null(r.host);
	set.url = (char *)"";
	assert_int_equal(proxy_route(&set, "https", "x.test", &r, err, sizeof(err)), 0);
	assert_null(r.host);
	/* no url: the environment's proxy, with the setting's user */
	set.url = NULL;
	assert_int_equal(proxy_route(&set, "https", "x.test", &r, err, sizeof(err)), 0);
	assert_string_equal(r.host, "env.test");
	assert_string_equal(r.user, "bob");
	assert_string_equal(r.password, "pw");
	proxy_route_clear(&r);
	set.user = NULL;
	assert_int_equal(proxy_route(&set, "https", "x.test", &r, err, sizeof(err)), 0);
	assert_string_equal(r.user, "u");
	assert_string_equal(r.password, "envpw");
	proxy_route_clear(&r);
}

static void test_request(void **state)
{
	struct proxy_route r = { .host = (char *)"p", .port = 1 };
	char *q;

	(void)state;
	q = proxy_request(&r, "ns.test", 443);
	assert_string_equal(q, "CONNECT ns.test:443 HTTP/1.1\r\nHost: ns.test:443\r\n"
			       "User-Agent: azbridge/" AZB_VERSION "\r\n\r\n");
	free(q);
	r.user = (char *)"Aladdin";
	r.password = (char *)"open sesame";
	q = proxy_request(&r, "::1", 9443);
	assert_non_null(strstr(q, "CONNECT [::1]:9443 HTTP/1.1\r\n"));
	assert_non_null(strstr(q, "\r\nProxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n"));
	azb_free_secret(q);
}

static int feed(const char *text, size_t *used, char *why, size_t wlen)
{
	struct proxy_route r = { .where = (char *)"proxy p:1 from https_proxy" };
	struct http1_head h;
	int e;

	http1_init(&h, PROXY_HEAD_MAX);
	e = proxy_answer(&h, (const uint8_t *)text, strlen(text), used, &r, why, wlen);
	http1_clear(&h);
	return e;
}

static void test_answer(void **state)
{
	char why[300], big[PROXY_HEAD_MAX + 64];
	const char *ok = "HTTP/1.1 200 Connection established\r\nX: y\r\n\r\n\x16\x03\x03";
	size_t used = 0;

	(void)state;
	assert_int_equal(feed(ok, &used, why, sizeof(why)), 1);
	assert_int_equal(used, strlen(ok) - 3);   /* the TLS bytes are left */
	assert_int_equal(feed("HTTP/1.0 200 OK\r\n", &used, why, sizeof(why)), 0);
	assert_true(feed("HTTP/1.1 407 Proxy Authentication Required\r\n"
			 "Proxy-Authenticate: Basic realm=\"x\"\r\n\r\n",
			 &used, why, sizeof(why)) < 0);
	assert_string_equal(why, "proxy p:1 from https_proxy refused the tunnel: 407 Proxy "
				 "Authentication Required");
	assert_true(feed("HTTP/1.1 502 Bad Gateway\r\n\r\n", &used, why, sizeof(why)) < 0);
	assert_non_null(strstr(why, "502 Bad Gateway"));
	assert_int_equal(feed("SSH-2.0-OpenSSH\r\n\r\n", &used, why, sizeof(why)), -EPROTO);
	assert_non_null(strstr(why, "not HTTP"));
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
	assert_int_equal(feed(big, &used, why, sizeof(why)), -E2BIG);
	assert_non_null(strstr(why, "over 8192 bytes"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_proxy_names),
		cmocka_unit_test(test_no_proxy_addresses),
		cmocka_unit_test(test_parse_url),
		cmocka_unit_test_setup(test_route_environment, clean_env),
		cmocka_unit_test_setup(test_route_setting, clean_env),
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_answer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* URL helpers: encoding, splitting, namespace endpoints. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "url.h"

static void test_encode_decode(void **state)
{
	char *e = url_encode("http://h:1/a b/caf\xc3\xa9~-._");
	char *d;

	(void)state;
	assert_string_equal(e, "http%3A%2F%2Fh%3A1%2Fa%20b%2Fcaf%C3%A9~-._");
	d = url_decode(e, false);
	assert_string_equal(d, "http://h:1/a b/caf\xc3\xa9~-._");
	free(d);
	free(e);
	d = url_decode("a+b%2fc", true);
	assert_string_equal(d, "a b/c");
	free(d);
	assert_null(url_decode("bad%2", false));
	assert_null(url_decode("bad%zz", false));
}

static void test_split(void **state)
{
	struct url_parts p;

	(void)state;
	assert_int_equal(url_split("wss://relay.test:9443/$hc/db?sb-hc-action=accept&x=1", &p), 0);
	assert_string_equal(p.scheme, "wss");
	assert_string_equal(p.host, "relay.test");
	assert_int_equal(p.port, 9443);
	assert_string_equal(p.path, "/$hc/db?sb-hc-action=accept&x=1");
	url_parts_clear(&p);
	assert_int_equal(url_split("https://[::1]:8443", &p), 0);
	assert_string_equal(p.host, "::1");
	assert_int_equal(p.port, 8443);
	assert_string_equal(p.path, "/");
	url_parts_clear(&p);
	assert_int_equal(url_split("sb://host", &p), 0);
	assert_int_equal(p.port, 0);
	url_parts_clear(&p);
	assert_int_equal(url_split("nohost", &p), -EINVAL);
	assert_int_equal(url_split("sb://", &p), -EINVAL);
	assert_int_equal(url_split("sb://h:0/", &p), -EINVAL);
	assert_int_equal(url_split("sb://h:65536/", &p), -EINVAL);
	assert_int_equal(url_split("sb://h:x/", &p), -EINVAL);
	assert_int_equal(url_split("sb://[::1/", &p), -EINVAL);
	assert_int_equal(url_split("s b://h/", &p), -EINVAL);
}

static void test_endpoint(void **state)
{
	const struct { const char *in, *host; uint16_t port; } ok[] = {
		{ "sb://ns.servicebus.windows.net/", "ns.servicebus.windows.net", 443 },
		{ "sb://ns.servicebus.windows.net", "ns.servicebus.windows.net", 443 },
		{ "sb://localhost:9443/", "localhost", 9443 },
		{ "https://h:1", "h", 1 },
		{ "bare.host", "bare.host", 443 },
		{ "bare.host:7", "bare.host", 7 },
		{ "sb://[::1]:9443/", "::1", 9443 },
	};
	const char *bad[] = { "", "sb://", "ftp://h/", "sb://h:99999/", "sb://:5/" };
	char *host;
	uint16_t port;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(url_endpoint(ok[i].in, &host, &port), 0);
		assert_string_equal(host, ok[i].host);
		assert_int_equal(port, ok[i].port);
		free(host);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(url_endpoint(bad[i], &host, &port), -EINVAL);
}

/* A secret in a form body (client_secret, client_assertion) keeps every
 * character it has. */
static void test_encode_form_value(void **state)
{
	char *s = url_encode("Zx8Q~a-b_c.d+e/f=g&h i%");

	(void)state;
	assert_string_equal(s, "Zx8Q~a-b_c.d%2Be%2Ff%3Dg%26h%20i%25");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_decode),
		cmocka_unit_test(test_encode_form_value),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_endpoint),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

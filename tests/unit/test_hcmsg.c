/* The relay's accept and request messages: what passes, what is refused, and
 * that no refusal carries a control character into a log. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../daemon/hcmsg.h"

static int parse(const char *text, struct hcmsg *m, char *err, size_t errlen)
{
	return hcmsg_parse(text, strlen(text), m, err, errlen);
}

static void test_accept(void **state)
{
	struct hcmsg m;
	char err[300] = "";

	(void)state;
	assert_int_equal(parse("{\"accept\":{\"address\":\"wss://g1.relay.test/$hc/db?sb-hc-action="
			       "accept&sb-hc-id=abc\",\"id\":\"abc_G1\",\"connectHeaders\":{},"
			       "\"remoteEndpoint\":{\"address\":\"203.0.113.5\",\"port\":51234}}}",
			       &m, err, sizeof(err)), 0);
	assert_int_equal(m.kind, HCMSG_ACCEPT);
	assert_string_equal(m.addr.host, "g1.relay.test");
	assert_int_equal(m.addr.port, 443);
	assert_string_equal(m.addr.target, "/$hc/db?sb-hc-action=accept&sb-hc-id=abc");
	assert_string_equal(m.id, "abc_G1");
	assert_string_equal(m.peer, "203.0.113.5:51234");
	hcmsg_clear(&m);
}

static void test_accept_v6_and_port(void **state)
{
	struct hcmsg m;
	char err[300] = "";

	(void)state;
	assert_int_equal(parse("{\"accept\":{\"address\":\"wss://[::1]:8443/$hc/db\","
			       "\"remoteEndpoint\":{\"address\":\"2001:db8::1\",\"port\":0}}}",
			       &m, err, sizeof(err)), 0);
	assert_string_equal(m.addr.host, "::1");
	assert_int_equal(m.addr.port, 8443);
	assert_null(m.id);
	assert_string_equal(m.peer, "[2001:db8::1]:0");
	hcmsg_clear(&m);
	/* No remoteEndpoint at all: the peer is unknown, not invented. */
	assert_int_equal(parse("{\"accept\":{\"address\":\"wss://relay.test./$hc/db\"}}", &m, err,
			       sizeof(err)), 0);
	assert_string_equal(m.peer, "-");
	hcmsg_clear(&m);
}

static void test_request_and_other(void **state)
{
	struct hcmsg m;
	char err[300] = "";

	(void)state;
	assert_int_equal(parse("{\"request\":{\"id\":\"r1\",\"method\":\"GET\",\"body\":true}}", &m,
			       err, sizeof(err)), 0);
	assert_int_equal(m.kind, HCMSG_REQUEST);
	assert_string_equal(m.id, "r1");
	assert_true(m.body);
	assert_null(m.addr.host);
	hcmsg_clear(&m);
	assert_int_equal(parse("{\"somethingNew\":{\"address\":\"anything\"}}", &m, err,
			       sizeof(err)), 0);
	assert_int_equal(m.kind, HCMSG_OTHER);
	hcmsg_clear(&m);
}

static const char *const bad[] = {
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
static void test_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct hcmsg m;
		char err[300] = "";

		if (parse(bad[i], &m, err, sizeof(err)) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
		assert_true(err[0] != '\0');
		for (const char *p = err; *p; p++)
			assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
		assert_null(m.id);
		assert_null(m.addr.host);
	}
}

static void test_limits(void **state)
{
	size_t n = HCMSG_MAX + 1;
	char *big = malloc(n + 1), id[HCMSG_ID_MAX + 80], err[300];
	struct hcmsg m;

	(void)state;
	memset(big, ' ', n);
	memcpy(big, "{}", 2);
	big[n] = '\0';
	assert_int_equal(hcmsg_parse(big, n, &m, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "limit"));
	free(big);
	snprintf(id, sizeof(id), "{\"request\":{\"id\":\"%0*d\"}}", HCMSG_ID_MAX, 7);
	assert_int_equal(parse(id, &m, err, sizeof(err)), 0);
	hcmsg_clear(&m);
	snprintf(id, sizeof(id), "{\"request\":{\"id\":\"%0*d\"}}", HCMSG_ID_MAX + 1, 7);
	assert_int_equal(parse(id, &m, err, sizeof(err)), -EINVAL);
}

/* What goes wrong is quoted with its bytes escaped. */
static void test_error_escapes(void **state)
{
	struct hcmsg m;
	char err[300];

	(void)state;
	assert_int_equal(parse("{\"accept\":{\"address\":\"wss://h/$hc/\\u0007\\\"x\"}}", &m, err,
			       sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "\"wss://h/$hc/\\x07\\x22x\""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accept),
		cmocka_unit_test(test_accept_v6_and_port),
		cmocka_unit_test(test_request_and_other),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_error_escapes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

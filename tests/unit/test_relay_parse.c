/* The relay's parsers of untrusted input: chunked bodies and the messages
 * listeners send (response heads must not be able to split). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../relay/ctlmsg.h"
#include "http1.h"
#include "util.h"

static void collect(void *arg, const uint8_t *p, size_t n)
{
	sbuf_addn(arg, (const char *)p, n);
}

/* Feed s one byte at a time: every state must survive a split anywhere. */
static long feed_bytewise(const char *s, struct sbuf *out, struct http1_chunked *c)
{
	size_t n = strlen(s), i;

	http1_chunked_init(c);
	for (i = 0; i < n && !http1_chunked_done(c); i++)
		if (http1_chunked_feed(c, (const uint8_t *)s + i, 1, collect, out) < 0)
			return -EBADMSG;
	return (long)i;
}

static void test_chunked(void **state)
{
	const char *ok = "5;name=v\r\nhello\r\nA\r\n, world!!!\r\n0\r\nX-T: 1\r\n\r\nNEXT";
	struct http1_chunked c;
	struct sbuf out;
	long used;

	(void)state;
	sbuf_init(&out);
	used = feed_bytewise(ok, &out, &c);
	assert_true(http1_chunked_done(&c));
	assert_int_equal(used, (long)(strlen(ok) - 4));   /* stops before the next message */
	assert_int_equal(out.len, 15);
	assert_memory_equal(out.s, "hello, world!!!", 15);
	out.len = 0;
	http1_chunked_init(&c);
	used = http1_chunked_feed(&c, (const uint8_t *)ok, strlen(ok), collect, &out);
	assert_int_equal(used, (long)(strlen(ok) - 4));
	sbuf_free(&out);
}

static void test_chunked_bad(void **state)
{
	static const char *const bad[] = {
		"g\r\n", "\r\n", "5\r\nhelloXX", "5\r\nhello\rX", "1234567890abcdef0\r\n",
		"0\r\nX", "-1\r\n",
	};
	struct http1_chunked c;
	struct sbuf out;

	(void)state;
	sbuf_init(&out);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		http1_chunked_init(&c);
		if (strcmp(bad[i], "0\r\nX") == 0) {
			/* a trailer line that never ends is not done */
			assert_true(http1_chunked_feed(&c, (const uint8_t *)bad[i], 4, collect, &out) >= 0);
			assert_false(http1_chunked_done(&c));
			continue;
		}
		assert_int_equal(http1_chunked_feed(&c, (const uint8_t *)bad[i], strlen(bad[i]),
						    collect, &out), -EBADMSG);
	}
	sbuf_free(&out);
}

static void test_response_message(void **state)
{
	const char *j = "{\"response\":{\"requestId\":\"r1\",\"statusCode\":\"201\","
			"\"statusDescription\":\"Made\",\"responseHeaders\":{\"A\":\"b\",\"N\":5},"
			"\"body\":true}}";
	struct ctl_msg m;
	char why[160];

	(void)state;
	assert_int_equal(ctl_parse(j, strlen(j), &m, why, sizeof(why)), 0);
	assert_int_equal(m.kind, CTL_RESPONSE);
	assert_string_equal(m.request_id, "r1");
	assert_int_equal(m.status, 201);
	assert_string_equal(m.description, "Made");
	assert_true(m.body);
	assert_int_equal(m.n_headers, 2);
	assert_string_equal(m.headers[1].value, "5");
	ctl_clear(&m);
}

static void test_bad_messages(void **state)
{
	static const char *const bad[] = {
		"", "nope", "[1]", "{\"response\":1}",
		"{\"response\":{\"statusCode\":200}}",
		"{\"response\":{\"requestId\":\"r\",\"statusCode\":99}}",
		"{\"response\":{\"requestId\":\"r\",\"statusCode\":\"2x\"}}",
		"{\"response\":{\"requestId\":\"r\",\"statusCode\":200,\"statusDescription\":\"a\\r\\nb\"}}",
		"{\"response\":{\"requestId\":\"r\",\"statusCode\":200,\"responseHeaders\":{\"A\":\"x\\ny\"}}}",
		"{\"response\":{\"requestId\":\"r\",\"statusCode\":200,\"responseHeaders\":{\"A B\":\"x\"}}}",
		"{\"response\":{\"requestId\":\"r\",\"statusCode\":200,\"responseHeaders\":{\"A\":[1]}}}",
		"{\"response\":{\"requestId\":\"r\",\"statusCode\":101}}",
		"{\"response\":{\"requestId\":\"r\",\"statusCode\":\"199\"}}",
		"{\"response\":{\"requestId\":\"r\",\"statusCode\":600}}",
		"{\"renewToken\":{}}",
		"{\"a\":1,\"a\":2}",
	};
	struct ctl_msg m;
	char why[160];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(ctl_parse(bad[i], strlen(bad[i]), &m, why, sizeof(why)), -EBADMSG);
		assert_true(why[0] != '\0');
		ctl_clear(&m);
	}
	/* a bad response that names its request keeps the id: that request fails */
	{
		const char *j = "{\"response\":{\"requestId\":\"r9\",\"statusCode\":100}}";

		assert_int_equal(ctl_parse(j, strlen(j), &m, why, sizeof(why)), -EBADMSG);
	}
	assert_string_equal(m.request_id, "r9");
	ctl_clear(&m);
	/* kinds the relay does not act on are not errors */
	assert_int_equal(ctl_parse("{\"accept\":{}}", 13, &m, why, sizeof(why)), 0);
	assert_int_equal(m.kind, CTL_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chunked),
		cmocka_unit_test(test_chunked_bad),
		cmocka_unit_test(test_response_message),
		cmocka_unit_test(test_bad_messages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

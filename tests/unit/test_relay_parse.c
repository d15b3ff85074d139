/* Chunked request bodies as the relay reads them from HTTP clients. The
 * messages listeners send are tested with the others in test_hc_proto.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chunked),
		cmocka_unit_test(test_chunked_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

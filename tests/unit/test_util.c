/* String buffers: growth, reuse after free, a zeroed buffer. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "util.h"

static void test_sbuf_grows(void **state)
{
	struct sbuf b;
	char big[5000];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	sbuf_init(&b);
	sbuf_add(&b, "ab");
	sbuf_add(&b, big);
	sbuf_printf(&b, "%d", 42);
	assert_int_equal(b.len, 2 + 4999 + 2);
	assert_memory_equal(b.s + b.len - 2, "42", 3);
	sbuf_free(&b);
}

/* The control socket frees its output buffer whenever it drains and adds
 * the next reply to it: that must not spin on a zero capacity. */
static void test_sbuf_reuse_after_free(void **state)
{
	struct sbuf b;

	(void)state;
	sbuf_init(&b);
	sbuf_add(&b, "first");
	sbuf_free(&b);
	sbuf_add(&b, "second reply, longer than before");
	sbuf_addc(&b, '\n');
	assert_string_equal(b.s, "second reply, longer than before\n");
	sbuf_free(&b);
	sbuf_printf(&b, "%s", "third");
	assert_string_equal(b.s, "third");
	sbuf_free(&b);
}

static void test_sbuf_zeroed(void **state)
{
	struct sbuf b = { 0 };
	char *s;

	(void)state;
	sbuf_addc(&b, 'z');
	s = sbuf_take(&b);
	assert_string_equal(s, "z");
	free(s);
	sbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sbuf_grows),
		cmocka_unit_test(test_sbuf_reuse_after_free),
		cmocka_unit_test(test_sbuf_zeroed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The output queue every writer uses (common/outq.c): its limit, and memory
 * that follows what is queued rather than what ever passed through. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "outq.h"

static void test_order_and_limit(void **state)
{
	struct outq q;
	const uint8_t *p;
	size_t n;

	(void)state;
	outq_init(&q, 10);
	assert_int_equal(outq_push(&q, "hello", 5), 0);
	assert_int_equal(outq_push(&q, "world", 5), 0);
	assert_int_equal(outq_push(&q, "!", 1), -ENOBUFS);     /* nothing queued past the limit */
	assert_int_equal(outq_len(&q), 10);
	p = outq_peek(&q, &n);
	assert_int_equal(n, 10);
	assert_memory_equal(p, "helloworld", 10);
	outq_pop(&q, 3);
	assert_int_equal(outq_push(&q, "abc", 3), 0);
	p = outq_peek(&q, &n);
	assert_memory_equal(p, "loworldabc", 10);
	outq_pop(&q, 10);
	assert_null(outq_peek(&q, &n));
	assert_null(q.buf);                                     /* empty: no buffer held */
	outq_free(&q);
}

/* A queue that never quite empties: written bytes must not keep memory. */
static void test_compaction(void **state)
{
	static uint8_t chunk[1000];
	struct outq q;
	size_t peak = 0;

	(void)state;
	outq_init(&q, 0);
	assert_int_equal(outq_push(&q, chunk, sizeof(chunk)), 0);
	for (int i = 0; i < 100000; i++) {
		assert_int_equal(outq_push(&q, chunk, sizeof(chunk)), 0);
		outq_pop(&q, sizeof(chunk));
		if (q.cap > peak)
			peak = q.cap;
	}
	assert_int_equal(outq_len(&q), sizeof(chunk));
	assert_true(peak <= 4 * 1024);
	outq_free(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_limit),
		cmocka_unit_test(test_compaction),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

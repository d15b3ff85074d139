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

/* Reading straight into the queue: what is committed is queued, a reserve
 * that is never filled leaves no buffer behind. */
static void test_reserve_commit(void **state)
{
	struct outq q;
	const uint8_t *p;
	uint8_t *at;
	size_t n;

	(void)state;
	outq_init(&q, 8);
	assert_null(outq_reserve(&q, 9));                       /* past the limit */
	at = outq_reserve(&q, 8);
	assert_non_null(at);
	memcpy(at, "abc", 3);
	outq_commit(&q, 3);
	assert_int_equal(outq_len(&q), 3);
	assert_null(outq_reserve(&q, 6));                       /* 3 + 6 > 8 */
	at = outq_reserve(&q, 5);
	memcpy(at, "de", 2);
	outq_commit(&q, 2);
	p = outq_peek(&q, &n);
	assert_int_equal(n, 5);
	assert_memory_equal(p, "abcde", 5);
	outq_pop(&q, 5);
	assert_non_null(outq_reserve(&q, 4));
	outq_commit(&q, 0);                                     /* nothing came */
	assert_null(q.buf);
	outq_free(&q);
}

/* Queues sharing a pool stay within it together, each within its own limit;
 * what they pop or free goes back to the pool. */
static void test_pool(void **state)
{
	struct outq_pool pool = { 0, 10 };
	struct outq a, b;

	(void)state;
	outq_init(&a, 6);
	outq_init(&b, 6);
	outq_share(&a, &pool);
	outq_share(&b, &pool);
	assert_int_equal(outq_push(&a, "123456", 6), 0);
	assert_int_equal(outq_push(&b, "12345", 5), -ENOBUFS);  /* the pool's limit */
	assert_int_equal(outq_push(&b, "1234", 4), 0);
	assert_int_equal(pool.used, 10);
	assert_null(outq_reserve(&b, 1));
	outq_pop(&a, 2);
	assert_int_equal(pool.used, 8);
	assert_int_equal(outq_push(&b, "56", 2), 0);
	assert_int_equal(outq_push(&b, "7", 1), -ENOBUFS);      /* b's own limit */
	outq_free(&a);
	assert_int_equal(pool.used, 6);
	outq_free(&b);
	assert_int_equal(pool.used, 0);
	assert_int_equal(outq_push(&b, "x", 1), 0);             /* still in the pool */
	assert_int_equal(pool.used, 1);
	outq_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_limit),
		cmocka_unit_test(test_compaction),
		cmocka_unit_test(test_reserve_commit),
		cmocka_unit_test(test_pool),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

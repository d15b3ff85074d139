/* UDP framing: frames whole, split at every offset, and zero-length. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../daemon/udpframe.h"

struct sink {
	size_t n;
	size_t len[64];
	uint8_t first[64];
	size_t total;
};

static void collect(void *arg, const uint8_t *p, size_t len)
{
	struct sink *s = arg;

	s->len[s->n] = len;
	s->first[s->n] = len ? p[0] : 0;
	for (size_t i = 0; i < len; i++)
		assert_int_equal(p[i], (uint8_t)(s->n + i));
	s->n++;
	s->total += len;
}

/* Three frames of 0, 1 and 300 bytes; payload byte i of frame k is k + i. */
static size_t build(uint8_t *buf)
{
	const size_t lens[] = { 0, 1, 300 };
	size_t off = 0;

	for (size_t k = 0; k < 3; k++) {
		udpf_header(buf + off, lens[k]);
		off += 2;
		for (size_t i = 0; i < lens[k]; i++)
			buf[off++] = (uint8_t)(k + i);
	}
	return off;
}

static void test_whole(void **state)
{
	uint8_t buf[400];
	size_t n = build(buf);
	struct udpf_deframer d;
	struct sink s = { 0 };

	(void)state;
	udpf_init(&d);
	udpf_feed(&d, buf, n, collect, &s);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.len[0], 0);
	assert_int_equal(s.len[1], 1);
	assert_int_equal(s.len[2], 300);
	assert_null(d.part);
	udpf_clear(&d);
}

static void test_split_everywhere(void **state)
{
	uint8_t buf[400];
	size_t n = build(buf);

	(void)state;
	for (size_t cut1 = 0; cut1 <= n; cut1++) {
		for (size_t cut2 = cut1; cut2 <= n; cut2 += 7) {
			struct udpf_deframer d;
			struct sink s = { 0 };

			udpf_init(&d);
			udpf_feed(&d, buf, cut1, collect, &s);
			udpf_feed(&d, buf + cut1, cut2 - cut1, collect, &s);
			udpf_feed(&d, buf + cut2, n - cut2, collect, &s);
			assert_int_equal(s.n, 3);
			assert_int_equal(s.total, 301);
			udpf_clear(&d);
		}
	}
}

static void test_byte_at_a_time_max(void **state)
{
	uint8_t *buf = malloc(2 + UDPF_MAX_PAYLOAD);
	struct udpf_deframer d;
	struct sink s = { 0 };

	(void)state;
	udpf_header(buf, UDPF_MAX_PAYLOAD);
	assert_int_equal(buf[0], 0xff);
	assert_int_equal(buf[1], 0xff);
	for (size_t i = 0; i < UDPF_MAX_PAYLOAD; i++)
		buf[2 + i] = (uint8_t)i;
	udpf_init(&d);
	for (size_t i = 0; i < 2 + UDPF_MAX_PAYLOAD; i++)
		udpf_feed(&d, buf + i, 1, collect, &s);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.len[0], UDPF_MAX_PAYLOAD);
	udpf_clear(&d);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole),
		cmocka_unit_test(test_split_everywhere),
		cmocka_unit_test(test_byte_at_a_time_max),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

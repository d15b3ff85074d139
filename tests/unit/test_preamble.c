/* The bridge preamble: byte-exact encoding, split delivery, dispatch rules. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "../../daemon/preamble.h"

static void test_encode_matches_original(void **state)
{
	/* The original's sender for port name "29876" in stream mode. */
	const uint8_t want[] = { 1, 0, 0, 5, '2', '9', '8', '7', '6' };
	const uint8_t want_udp[] = { 1, 0, 1, 6, '2', '9', '8', '7', '6', 'U' };
	uint8_t buf[PRE_MAX];

	(void)state;
	assert_int_equal(pre_encode(buf, PRE_STREAM, "29876"), sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(pre_encode(buf, PRE_DGRAM, "29876U"), sizeof(want_udp));
	assert_memory_equal(buf, want_udp, sizeof(want_udp));
}

static void test_encode_limits(void **state)
{
	char name[300];
	uint8_t buf[PRE_MAX];

	(void)state;
	memset(name, 'a', 255);
	name[255] = '\0';
	assert_int_equal(pre_encode(buf, PRE_STREAM, name), 259);
	assert_int_equal(buf[3], 255);
	name[255] = 'a';
	name[256] = '\0';
	assert_int_equal(pre_encode(buf, PRE_STREAM, name), -EINVAL);
	assert_int_equal(pre_encode(buf, PRE_STREAM, ""), 4);
}

static void test_feed_byte_by_byte_then_data(void **state)
{
	const uint8_t in[] = { 1, 0, 0, 3, 's', 'q', 'l', 'D', 'A', 'T', 'A' };
	struct pre_parser p = { 0 };
	size_t used, i;
	int r = 0;

	(void)state;
	for (i = 0; i < sizeof(in) && r == 0; i++) {
		r = pre_feed(&p, in + i, 1, &used);
		assert_int_equal(used, 1);
	}
	assert_int_equal(r, 1);
	assert_int_equal(i, 7);
	assert_string_equal(p.name, "sql");
	assert_int_equal(pre_mode_of(&p), PRE_STREAM);
}

static void test_feed_whole_with_trailing_data(void **state)
{
	const uint8_t in[] = { 1, 0, 1, 2, 'n', 'U', 0xAA, 0xBB };
	struct pre_parser p = { 0 };
	size_t used;

	(void)state;
	assert_int_equal(pre_feed(&p, in, sizeof(in), &used), 1);
	assert_int_equal(used, 6);
	assert_string_equal(p.name, "nU");
	assert_int_equal(pre_mode_of(&p), PRE_DGRAM);
}

static void test_feed_bad_versions(void **state)
{
	const uint8_t bad[][4] = { { 2, 0, 0, 0 }, { 1, 1, 0, 0 }, { 1, 0, 2, 0 }, { 0, 0, 0, 0 } };
	size_t used;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pre_parser p = { 0 };

		assert_int_equal(pre_feed(&p, bad[i], 4, &used), -EPROTO);
	}
}

static void test_feed_empty_name(void **state)
{
	const uint8_t in[] = { 1, 0, 0, 0 };
	struct pre_parser p = { 0 };
	size_t used;

	(void)state;
	assert_int_equal(pre_feed(&p, in, 4, &used), 1);
	assert_string_equal(p.name, "");
}

static struct azb_ep eps[2];
static struct azb_fwd fwd = { .ep = eps };

static void setup_fwd(size_t n)
{
	memset(eps, 0, sizeof(eps));
	eps[0].kind = AZB_KIND_TCP;
	eps[0].port_name = "sql1";
	eps[1].kind = AZB_KIND_UDP;
	eps[1].port_name = "53U";
	fwd.n_ep = n;
}

static void test_select_rules(void **state)
{
	size_t i = 99;

	(void)state;
	setup_fwd(2);
	assert_int_equal(pre_select(&fwd, "sql1", PRE_STREAM, &i), PRE_OK);
	assert_int_equal(i, 0);
	assert_int_equal(pre_select(&fwd, "53U", PRE_DGRAM, &i), PRE_OK);
	assert_int_equal(i, 1);
	assert_int_equal(pre_select(&fwd, "53U", PRE_STREAM, &i), PRE_WANT_DGRAM);
	assert_int_equal(pre_select(&fwd, "sql1", PRE_DGRAM, &i), PRE_WANT_STREAM);
	assert_int_equal(pre_select(&fwd, "nope", PRE_STREAM, &i), PRE_SILENT);
	/* numeric names reach a lone forwarder only */
	assert_int_equal(pre_select(&fwd, "3389", PRE_STREAM, &i), PRE_SILENT);
	setup_fwd(1);
	i = 99;
	assert_int_equal(pre_select(&fwd, "3389", PRE_STREAM, &i), PRE_OK);
	assert_int_equal(i, 0);
	assert_int_equal(pre_select(&fwd, "3389U", PRE_STREAM, &i), PRE_SILENT);
	assert_int_equal(pre_select(&fwd, "SQL1", PRE_STREAM, &i), PRE_SILENT);
}

static void test_replies(void **state)
{
	uint8_t r[3];

	(void)state;
	pre_reply(r, PRE_OK, PRE_DGRAM);
	assert_memory_equal(r, ((uint8_t[]){ 1, 0, 1 }), 3);
	assert_int_equal(pre_check_reply(r, PRE_DGRAM), 0);
	assert_int_equal(pre_check_reply(r, PRE_STREAM), -ECONNREFUSED);
	pre_reply(r, PRE_BAD_VERSION, PRE_STREAM);
	assert_memory_equal(r, ((uint8_t[]){ 0, 0, 0 }), 3);
	pre_reply(r, PRE_WANT_DGRAM, PRE_STREAM);
	assert_memory_equal(r, ((uint8_t[]){ 0, 0, 1 }), 3);
	pre_reply(r, PRE_WANT_STREAM, PRE_DGRAM);
	assert_memory_equal(r, ((uint8_t[]){ 0, 0, 0xff }), 3);
	assert_int_equal(pre_check_reply(r, PRE_DGRAM), -ECONNREFUSED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_matches_original),
		cmocka_unit_test(test_encode_limits),
		cmocka_unit_test(test_feed_byte_by_byte_then_data),
		cmocka_unit_test(test_feed_whole_with_trailing_data),
		cmocka_unit_test(test_feed_bad_versions),
		cmocka_unit_test(test_feed_empty_name),
		cmocka_unit_test(test_select_rules),
		cmocka_unit_test(test_replies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

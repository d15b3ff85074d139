/* WebSocket framing against RFC 6455's own examples, split delivery, and
 * protocol violations. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"

struct rec {
	char data[70000];
	size_t n_data, pieces, messages, ctrl_n;
	enum ws_op last_op, ctrl_op;
	uint8_t ctrl[WS_CTRL_MAX];
};

static int on_data(void *arg, enum ws_op op, uint8_t *p, size_t n, bool last)
{
	struct rec *r = arg;

	memcpy(r->data + r->n_data, p, n);
	r->n_data += n;
	r->pieces++;
	r->last_op = op;
	if (last)
		r->messages++;
	return 0;
}

static int on_control(void *arg, enum ws_op op, uint8_t *p, size_t n)
{
	struct rec *r = arg;

	r->ctrl_op = op;
	r->ctrl_n = n;
	memcpy(r->ctrl, p, n);
	return 0;
}

static const struct ws_events ev = { on_data, on_control };

static int parse_all(bool server, const uint8_t *in, size_t len, size_t step, struct rec *r)
{
	struct ws_parser p;
	uint8_t *copy = malloc(len ? len : 1);
	int rc = 0;

	memcpy(copy, in, len);
	ws_parser_init(&p, server);
	for (size_t off = 0; off < len && rc == 0; off += step)
		rc = ws_parse(&p, copy + off, len - off < step ? len - off : step, &ev, r);
	ws_parser_clear(&p);
	free(copy);
	return rc;
}

static void test_rfc_examples(void **state)
{
	const uint8_t hello[] = { 0x81, 0x05, 'H', 'e', 'l', 'l', 'o' };
	const uint8_t masked[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	const uint8_t frag[] = { 0x01, 0x03, 'H', 'e', 'l', 0x80, 0x02, 'l', 'o' };
	const uint8_t ping[] = { 0x89, 0x05, 'H', 'e', 'l', 'l', 'o' };

	(void)state;
	for (size_t step = 1; step <= sizeof(masked); step++) {
		struct rec *r = calloc(1, sizeof(*r));

		assert_int_equal(parse_all(false, hello, sizeof(hello), step, r), 0);
		assert_int_equal(parse_all(true, masked, sizeof(masked), step, r), 0);
		assert_int_equal(parse_all(false, frag, sizeof(frag), step, r), 0);
		assert_int_equal(r->n_data, 15);
		assert_memory_equal(r->data, "HelloHelloHello", 15);
		assert_int_equal(r->messages, 3);
		assert_int_equal(r->last_op, WS_OP_TEXT);
		assert_int_equal(parse_all(false, ping, sizeof(ping), step, r), 0);
		assert_int_equal(r->ctrl_op, WS_OP_PING);
		assert_int_equal(r->ctrl_n, 5);
		free(r);
	}
}

static void test_header_encoding(void **state)
{
	const uint8_t mask[4] = { 0x37, 0xfa, 0x21, 0x3d };
	uint8_t h[WS_HDR_MAX], data[5] = { 'H', 'e', 'l', 'l', 'o' };

	(void)state;
	assert_int_equal(ws_header(h, WS_OP_TEXT, true, 5, mask), 6);
	assert_memory_equal(h, ((uint8_t[]){ 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d }), 6);
	ws_mask(data, 5, mask, 0);
	assert_memory_equal(data, ((uint8_t[]){ 0x7f, 0x9f, 0x4d, 0x51, 0x58 }), 5);
	assert_int_equal(ws_header(h, WS_OP_BINARY, true, 256, NULL), 4);
	assert_memory_equal(h, ((uint8_t[]){ 0x82, 0x7e, 0x01, 0x00 }), 4);
	assert_int_equal(ws_header(h, WS_OP_BINARY, true, 65536, NULL), 10);
	assert_memory_equal(h, ((uint8_t[]){ 0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0 }), 10);
	assert_int_equal(ws_header(h, WS_OP_BINARY, false, 125, NULL), 2);
	assert_int_equal(h[0], 0x02);
	assert_int_equal(h[1], 125);
}

static void test_mask_offsets(void **state)
{
	const uint8_t key[4] = { 1, 2, 3, 4 };
	uint8_t a[37], b[37];

	(void)state;
	for (size_t i = 0; i < sizeof(a); i++)
		a[i] = b[i] = (uint8_t)(i * 7);
	ws_mask(a, sizeof(a), key, 0);
	/* masking in two pieces with the running offset equals one pass */
	ws_mask(b, 11, key, 0);
	ws_mask(b + 11, sizeof(b) - 11, key, 11);
	assert_memory_equal(a, b, sizeof(a));
	for (size_t i = 0; i < sizeof(a); i++)
		assert_int_equal(a[i], (uint8_t)((i * 7) ^ key[i & 3]));
}

/* Every length around the block size, at every key offset and from an
 * unaligned start, against the byte-by-byte definition (RFC 6455 5.3). */
static void test_mask_blocks_and_tails(void **state)
{
	const uint8_t key[4] = { 0x9c, 0x01, 0xe7, 0x5a };
	uint8_t buf[160];

	(void)state;
	for (size_t len = 0; len < 140; len++)
		for (size_t off = 0; off < 4; off++)
			for (size_t start = 0; start < 3; start++) {
				for (size_t i = 0; i < len; i++)
					buf[start + i] = (uint8_t)(i * 31 + 5);
				ws_mask(buf + start, len, key, off);
				for (size_t i = 0; i < len; i++)
					assert_int_equal(buf[start + i],
							 (uint8_t)((i * 31 + 5) ^ key[(off + i) & 3]));
			}
}

/* Masked 70000-byte binary message in 3 frames, parsed in odd-sized chunks. */
static void test_large_masked_roundtrip(void **state)
{
	const uint8_t key[4] = { 0xde, 0xad, 0xbe, 0xef };
	size_t sizes[] = { 1000, 65536, 3464 }, off = 0, total = 0;
	uint8_t *buf = malloc(80000);
	struct rec *r = calloc(1, sizeof(*r));

	(void)state;
	for (int f = 0; f < 3; f++) {
		size_t h = ws_header(buf + off, f ? WS_OP_CONT : WS_OP_BINARY, f == 2, sizes[f], key);

		off += h;
		for (size_t i = 0; i < sizes[f]; i++)
			buf[off + i] = (uint8_t)(total + i);
		ws_mask(buf + off, sizes[f], key, 0);
		off += sizes[f];
		total += sizes[f];
	}
	assert_int_equal(parse_all(true, buf, off, 4093, r), 0);
	assert_int_equal(r->n_data, 70000);
	assert_int_equal(r->messages, 1);
	assert_int_equal(r->last_op, WS_OP_BINARY);
	for (size_t i = 0; i < 70000; i++)
		assert_int_equal((uint8_t)r->data[i], (uint8_t)i);
	free(buf);
	free(r);
}

static void test_empty_frames(void **state)
{
	const uint8_t in[] = { 0x88, 0x00, 0x82, 0x00, 0x8a, 0x00 };
	struct rec *r = calloc(1, sizeof(*r));

	(void)state;
	assert_int_equal(parse_all(false, in, 2, 2, r), 0);
	assert_int_equal(r->ctrl_op, WS_OP_CLOSE);
	assert_int_equal(ws_close_code(r->ctrl, r->ctrl_n), WS_CLOSE_NO_STATUS);
	assert_int_equal(parse_all(false, in + 2, 4, 1, r), 0);
	assert_int_equal(r->messages, 1);
	assert_int_equal(r->ctrl_op, WS_OP_PONG);
	free(r);
}

static void test_violations(void **state)
{
	const struct {
		bool server;
		uint8_t b[4];
		size_t n;
	} bad[] = {
		{ true, { 0x82, 0x00 }, 2 },         /* client frame not masked */
		{ false, { 0x82, 0x80, 0, 0 }, 4 },  /* server frame masked (needs 6) */
		{ false, { 0xc2, 0x00 }, 2 },        /* RSV1 without an extension */
		{ false, { 0x80, 0x00 }, 2 },        /* continuation with no message */
		{ false, { 0x03, 0x00 }, 2 },        /* reserved opcode */
		{ false, { 0x09, 0x00 }, 2 },        /* fragmented ping */
		{ false, { 0x89, 0x7e, 0, 126 }, 4 }, /* control frame too long */
	};
	uint8_t twomsg[] = { 0x02, 0x01, 'a', 0x82, 0x01, 'b' };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rec *r = calloc(1, sizeof(*r));
		int rc = parse_all(bad[i].server, bad[i].b, bad[i].n, bad[i].n, r);

		if (i == 1) {
			uint8_t six[6] = { 0x82, 0x80, 1, 2, 3, 4 };

			rc = parse_all(false, six, 6, 6, r);
		}
		assert_int_equal(rc, -EPROTO);
		free(r);
	}
	{
		struct rec *r = calloc(1, sizeof(*r));

		/* a new data message while one is unfinished */
		assert_int_equal(parse_all(false, twomsg, sizeof(twomsg), 6, r), -EPROTO);
		free(r);
	}
}

/* A control frame comes whole (passed in place) or in pieces (kept until
 * whole), masked or not, and between the fragments of a message; a parser
 * left in the middle of one gives its piece back (ASan's leak check). */
static void test_control_pieces(void **state)
{
	const uint8_t in[] = { 0x01, 0x83, 1, 2, 3, 4, 'H' ^ 1, 'e' ^ 2, 'l' ^ 3,
			       0x89, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
			       0x80, 0x82, 5, 6, 7, 8, 'l' ^ 5, 'o' ^ 6 };
	struct ws_parser p;
	uint8_t half[8];

	(void)state;
	for (size_t step = 1; step <= sizeof(in); step++) {
		struct rec *r = calloc(1, sizeof(*r));

		assert_int_equal(parse_all(true, in, sizeof(in), step, r), 0);
		assert_int_equal(r->ctrl_op, WS_OP_PING);
		assert_int_equal(r->ctrl_n, 5);
		assert_memory_equal(r->ctrl, "Hello", 5);
		assert_int_equal(r->messages, 1);
		assert_memory_equal(r->data, "Hello", 5);
		free(r);
	}
	memcpy(half, in + 9, sizeof(half));
	ws_parser_init(&p, true);
	assert_int_equal(ws_parse(&p, half, sizeof(half), &ev, NULL), 0);
	ws_parser_clear(&p);
	ws_parser_clear(&p);
}

static void test_close_payload(void **state)
{
	uint8_t b[WS_CTRL_MAX];
	char longr[300];

	(void)state;
	assert_int_equal(ws_close_payload(b, 1000, "Shutdown"), 10);
	assert_int_equal(ws_close_code(b, 10), 1000);
	assert_memory_equal(b + 2, "Shutdown", 8);
	memset(longr, 'x', sizeof(longr) - 1);
	longr[sizeof(longr) - 1] = '\0';
	assert_int_equal(ws_close_payload(b, 1011, longr), WS_CTRL_MAX);
}

static void test_handshake(void **state)
{
	char acc[WS_ACCEPT_LEN + 1], key[WS_KEY_LEN + 1], key2[WS_KEY_LEN + 1];
	const char *resp = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
			   "Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
	const char *req = "GET /$hc/db?sb-hc-action=connect HTTP/1.1\r\nHost: h\r\n"
			  "Upgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n"
			  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
	struct http1_head h;
	size_t used;

	(void)state;
	ws_accept_for("dGhlIHNhbXBsZSBub25jZQ==", acc);
	assert_string_equal(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	http1_init(&h, 4096);
	assert_int_equal(http1_feed_response(&h, resp, strlen(resp), &used), 1);
	assert_int_equal(ws_check_upgrade_response(&h, "dGhlIHNhbXBsZSBub25jZQ=="), 0);
	assert_int_equal(ws_check_upgrade_response(&h, "AAAAAAAAAAAAAAAAAAAAAA=="), -EPROTO);
	http1_clear(&h);
	assert_int_equal(http1_feed_request(&h, req, strlen(req), &used), 1);
	assert_string_equal(ws_upgrade_request_key(&h), "dGhlIHNhbXBsZSBub25jZQ==");
	http1_clear(&h);
	assert_int_equal(ws_client_key(key), 0);
	assert_int_equal(ws_client_key(key2), 0);
	assert_int_equal(strlen(key), WS_KEY_LEN);
	assert_string_not_equal(key, key2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_examples),
		cmocka_unit_test(test_header_encoding),
		cmocka_unit_test(test_mask_offsets),
		cmocka_unit_test(test_mask_blocks_and_tails),
		cmocka_unit_test(test_large_masked_roundtrip),
		cmocka_unit_test(test_empty_frames),
		cmocka_unit_test(test_violations),
		cmocka_unit_test(test_control_pieces),
		cmocka_unit_test(test_close_payload),
		cmocka_unit_test(test_handshake),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* libFuzzer: bytes from the network as the relay reads them. The first byte
 * picks the parser: an HTTP request head, websocket frames (server side),
 * or a chunked body. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http1.h"
#include "ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_data(void *arg, enum ws_op op, uint8_t *p, size_t n, bool last)
{
	(void)arg;
	(void)last;
	if (op != WS_OP_TEXT && op != WS_OP_BINARY)
		__builtin_trap();
	if (n)
		(void)*(volatile uint8_t *)&p[n - 1];
	return 0;
}

static int on_control(void *arg, enum ws_op op, uint8_t *p, size_t n)
{
	(void)arg;
	(void)p;
	if (n > WS_CTRL_MAX || op < WS_OP_CLOSE)
		__builtin_trap();
	return 0;
}

static void sink(void *arg, const uint8_t *p, size_t n)
{
	*(size_t *)arg += n;
	if (n)
		(void)*(volatile const uint8_t *)&p[n - 1];
}

/* Fed in two pieces, to cover state kept between reads. */
static void head(const uint8_t *d, size_t n)
{
	struct http1_head h;
	size_t used = 0, half = n / 2;
	int r;

	http1_init(&h, 4096);
	r = http1_feed_request(&h, (const char *)d, half, &used);
	if (r == 0)
		r = http1_feed_request(&h, (const char *)d + half, n - half, &used);
	if (r == 1) {
		(void)http1_get(&h, "Host");
		(void)ws_upgrade_request_key(&h);
	}
	http1_clear(&h);
}

static void frames(const uint8_t *d, size_t n)
{
	static const struct ws_events ev = { on_data, on_control };
	struct ws_parser p;
	uint8_t *buf = malloc(n ? n : 1);
	size_t half = n / 2;

	memcpy(buf, d, n);
	ws_parser_init(&p, true);
	if (ws_parse(&p, buf, half, &ev, NULL) == 0)
		ws_parse(&p, buf + half, n - half, &ev, NULL);
	ws_parser_clear(&p);
	free(buf);
}

static void chunked(const uint8_t *d, size_t n)
{
	struct http1_chunked c;
	size_t out = 0, half = n / 2;
	long r;

	http1_chunked_init(&c);
	r = http1_chunked_feed(&c, d, half, sink, &out);
	if (r >= 0 && !http1_chunked_done(&c))
		r = http1_chunked_feed(&c, d + half, n - half, sink, &out);
	if (r >= 0 && out > n)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0: head(data + 1, size - 1); break;
	case 1: frames(data + 1, size - 1); break;
	default: chunked(data + 1, size - 1); break;
	}
	return 0;
}

/* libFuzzer: UDP framing as read from the relay (the far bridge, or anyone
 * impersonating it, chooses every byte and every message boundary). The
 * datagrams delivered must not depend on how the stream was cut into
 * websocket messages, and must be exactly the stream's frames. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../daemon/udpframe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct log {
	uint8_t *buf;     /* every payload, each after its 2-byte length */
	size_t len;
};

static void collect(void *arg, const uint8_t *p, size_t n)
{
	struct log *l = arg;

	if (n > UDPF_MAX_PAYLOAD)
		__builtin_trap();
	l->buf = realloc(l->buf, l->len + UDPF_HDR + n);
	if (!l->buf)
		__builtin_trap();
	udpf_header(l->buf + l->len, n);
	if (n)
		memcpy(l->buf + l->len + UDPF_HDR, p, n);
	l->len += UDPF_HDR + n;
}

static void run(const uint8_t *data, size_t size, const uint8_t *cuts, size_t ncuts,
		struct log *out)
{
	struct udpf_deframer d;
	size_t off = 0;

	udpf_init(&d);
	for (size_t i = 0; off < size; i++) {
		size_t n = ncuts ? 1 + (size_t)cuts[i % ncuts] * 7 % 300 : size;

		if (n > size - off)
			n = size - off;
		udpf_feed(&d, data + off, n, collect, out);
		off += n;
	}
	udpf_clear(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct log whole = { 0 }, parts = { 0 };
	size_t ncuts;

	if (size < 1)
		return 0;
	ncuts = data[0] % 8;
	if (size < 1 + ncuts)
		return 0;
	run(data + 1 + ncuts, size - 1 - ncuts, NULL, 0, &whole);
	run(data + 1 + ncuts, size - 1 - ncuts, data + 1, ncuts, &parts);
	/* Delivered frames are a prefix of the stream, byte for byte. */
	if (whole.len != parts.len || (whole.len && memcmp(whole.buf, parts.buf, whole.len)) ||
	    whole.len > size - 1 - ncuts || (whole.len && memcmp(whole.buf, data + 1 + ncuts,
								  whole.len)))
		__builtin_trap();
	free(whole.buf);
	free(parts.buf);
	return 0;
}

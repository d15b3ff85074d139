#include "udpframe.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

void udpf_header(uint8_t hdr[UDPF_HDR], size_t len)
{
	hdr[0] = (uint8_t)(len >> 8);
	hdr[1] = (uint8_t)len;
}

void udpf_init(struct udpf_deframer *d)
{
	memset(d, 0, sizeof(*d));
}

void udpf_clear(struct udpf_deframer *d)
{
	free(d->part);
	udpf_init(d);
}

/* Continue a frame whose header (and maybe some payload) came earlier. */
static size_t feed_partial(struct udpf_deframer *d, const uint8_t *data, size_t len,
			   udpf_cb cb, void *arg)
{
	size_t used = 0, take;

	if (d->hdr_have < UDPF_HDR) {
		take = UDPF_HDR - d->hdr_have < len ? UDPF_HDR - d->hdr_have : len;
		memcpy(d->hdr + d->hdr_have, data, take);
		d->hdr_have += take;
		used = take;
		if (d->hdr_have < UDPF_HDR)
			return used;
		d->part_len = (size_t)d->hdr[0] << 8 | d->hdr[1];
		d->part_have = 0;
		d->part = xmalloc(d->part_len);
	}
	take = d->part_len - d->part_have < len - used ? d->part_len - d->part_have : len - used;
	memcpy(d->part + d->part_have, data + used, take);
	d->part_have += take;
	used += take;
	if (d->part_have == d->part_len) {
		cb(arg, d->part, d->part_len);
		udpf_clear(d);
	}
	return used;
}

void udpf_feed(struct udpf_deframer *d, const uint8_t *data, size_t len, udpf_cb cb, void *arg)
{
	size_t n;

	if (d->hdr_have) {
		n = feed_partial(d, data, len, cb, arg);
		data += n;
		len -= n;
	}
	while (len >= UDPF_HDR) {
		n = (size_t)data[0] << 8 | data[1];
		if (len - UDPF_HDR < n)
			break;
		cb(arg, data + UDPF_HDR, n);
		data += UDPF_HDR + n;
		len -= UDPF_HDR + n;
	}
	if (len)
		feed_partial(d, data, len, cb, arg);
}

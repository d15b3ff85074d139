#include "preamble.h"

#include <errno.h>
#include <string.h>

#include "util.h"

int pre_encode(uint8_t *out, enum pre_mode mode, const char *port_name)
{
	size_t n = strlen(port_name);

	if (n > 255)
		return -EINVAL;
	out[0] = 1;
	out[1] = 0;
	out[2] = (uint8_t)mode;
	out[3] = (uint8_t)n;
	memcpy(out + 4, port_name, n);
	return (int)(4 + n);
}

static int header_valid(const uint8_t *h)
{
	return h[0] == 1 && h[1] == 0 && (h[2] == PRE_STREAM || h[2] == PRE_DGRAM);
}

int pre_feed(struct pre_parser *p, const uint8_t *data, size_t len, size_t *used)
{
	size_t take, need;

	*used = 0;
	if (p->have < 4) {
		take = 4 - p->have < len ? 4 - p->have : len;
		memcpy(p->hdr + p->have, data, take);
		p->have += take;
		*used = take;
		if (p->have < 4)
			return 0;
		if (!header_valid(p->hdr))
			return -EPROTO;
	}
	need = 4 + (size_t)p->hdr[3] - p->have;
	take = need < len - *used ? need : len - *used;
	memcpy(p->name + (p->have - 4), data + *used, take);
	p->have += take;
	*used += take;
	if (p->have < 4 + (size_t)p->hdr[3])
		return 0;
	p->name[p->hdr[3]] = '\0';
	return 1;
}

enum pre_mode pre_mode_of(const struct pre_parser *p)
{
	return (enum pre_mode)p->hdr[2];
}

static enum pre_verdict verdict_for(const struct azb_ep *ep, enum pre_mode mode)
{
	int dgram = ep->kind == AZB_KIND_UDP;

	if (dgram && mode == PRE_STREAM)
		return PRE_WANT_DGRAM;
	if (!dgram && mode == PRE_DGRAM)
		return PRE_WANT_STREAM;
	return PRE_OK;
}

enum pre_verdict pre_select(const struct azb_fwd *f, const char *name, enum pre_mode mode,
			    size_t *ep_index)
{
	for (size_t i = 0; i < f->n_ep; i++) {
		if (strcmp(f->ep[i].port_name, name) == 0) {
			*ep_index = i;
			return verdict_for(&f->ep[i], mode);
		}
	}
	/* A lone forwarder serves every numeric port name (the original's PR #55);
	 * "3389U" is not numeric, so UDP always needs an exact name. */
	if (f->n_ep == 1 && azb_is_uint(name)) {
		*ep_index = 0;
		return verdict_for(&f->ep[0], mode);
	}
	return PRE_SILENT;
}

void pre_reply(uint8_t out[PRE_REPLY_LEN], enum pre_verdict v, enum pre_mode mode)
{
	out[0] = v == PRE_OK;
	out[1] = 0;
	switch (v) {
	case PRE_OK: out[2] = (uint8_t)mode; break;
	case PRE_WANT_DGRAM: out[2] = 0x01; break;
	case PRE_WANT_STREAM: out[2] = 0xff; break;
	default: out[2] = 0x00; break;
	}
}

int pre_check_reply(const uint8_t reply[PRE_REPLY_LEN], enum pre_mode mode)
{
	if (reply[0] == 1 && reply[1] == 0 && reply[2] == (uint8_t)mode)
		return 0;
	return -ECONNREFUSED;
}

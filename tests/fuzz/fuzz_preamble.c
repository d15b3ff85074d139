/* libFuzzer: the bridge preamble as a listener reads it from the relay (any
 * sender may write it), fed in the pieces the input itself chooses, then
 * matched against a forward's port names; and the sender's check of the
 * 3-byte reply. Feeding in pieces must give what one feed gives. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../daemon/preamble.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct azb_ep eps[] = {
	{ .kind = AZB_KIND_TCP, .port_name = (char *)"sql1" },
	{ .kind = AZB_KIND_UDP, .port_name = (char *)"53U" },
};
static const struct azb_fwd one = { .name = (char *)"a", .relay = (char *)"r", .n_ep = 1,
				    .ep = eps };
static const struct azb_fwd two = { .name = (char *)"b", .relay = (char *)"r", .n_ep = 2,
				    .ep = eps };

/* Feed all of data in pieces of the given sizes; the result and bytes used. */
static int feed(struct pre_parser *p, const uint8_t *data, size_t size, uint8_t step,
		size_t *total)
{
	size_t off = 0, used;
	int r = 0;

	memset(p, 0, sizeof(*p));
	*total = 0;
	while (off < size && r == 0) {
		size_t n = step ? (size_t)step : size;

		if (n > size - off)
			n = size - off;
		r = pre_feed(p, data + off, n, &used);
		if (used > n || (r == 0 && used != n))
			__builtin_trap();
		off += used;
		*total += used;
	}
	return r;
}

static void select_both(const struct pre_parser *p)
{
	size_t ep = 99;

	if (strlen(p->name) > 255)
		__builtin_trap();
	for (int i = 0; i < 2; i++) {
		enum pre_verdict v = pre_select(i ? &two : &one, p->name, pre_mode_of(p), &ep);

		if (v == PRE_OK && ep >= (i ? 2u : 1u))
			__builtin_trap();
		if (v != PRE_SILENT) {
			uint8_t reply[PRE_REPLY_LEN];

			pre_reply(reply, v, pre_mode_of(p));
			if ((pre_check_reply(reply, pre_mode_of(p)) == 0) != (v == PRE_OK))
				__builtin_trap();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pre_parser whole, parts;
	size_t used_whole, used_parts;
	int r1, r2;

	if (size < 1)
		return 0;
	r1 = feed(&whole, data + 1, size - 1, 0, &used_whole);
	r2 = feed(&parts, data + 1, size - 1, data[0], &used_parts);
	if (r1 != r2 || (r1 == 1 && (used_whole != used_parts ||
				     strcmp(whole.name, parts.name) != 0)))
		__builtin_trap();
	if (r1 == 1)
		select_both(&whole);
	if (size >= PRE_REPLY_LEN)
		(void)pre_check_reply(data, (enum pre_mode)(data[0] & 1));
	return 0;
}

/* libFuzzer: a -L, -T, -R or -H rule as anyone may type it (and as
 * azbridgectl add passes it to the root daemon). The first byte picks the
 * option ('L', 'T', 'R', 'H', else its value mod 4), the rest is the rule.
 * A rule that parses must print (bnd_format) as one that parses again to an
 * equal forward and the same text, and get a valid derived name; one that
 * does not parse leaves nothing behind and says why. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "binding.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char option(uint8_t b)
{
	return strchr("LTRH", b) && b ? (char)b : "LTRH"[b % 4];
}

static void check_parsed(const struct azb_fwd *f)
{
	if (!f->relay || bnd_check_relay_name(f->relay, NULL, 0) < 0 || f->n_ep == 0)
		__builtin_trap();
	for (size_t i = 0; i < f->n_ep; i++)
		if (!f->ep[i].port_name || bnd_check_port_name(f->ep[i].port_name, NULL, 0) < 0)
			__builtin_trap();
}

static void round_trip(const struct azb_fwd *f)
{
	char *text = bnd_format(f), *again, *name = bnd_derive_name(f), err[512];
	struct azb_fwd *g = NULL;

	if (bnd_parse(bnd_format_option(f), text, &g, err, sizeof(err)) < 0 || !bnd_fwd_equal(f, g))
		__builtin_trap();
	again = bnd_format(g);
	if (strcmp(text, again) != 0 || bnd_check_forward_name(name, NULL, 0) < 0)
		__builtin_trap();
	free(again);
	free(name);
	free(text);
	bnd_fwd_free(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct azb_fwd *f = NULL;
	char err[512] = "", *expr;

	if (size == 0)
		return 0;
	expr = xstrndup((const char *)data + 1, size - 1);
	if (bnd_parse(option(data[0]), expr, &f, err, sizeof(err)) < 0) {
		if (f || !err[0])
			__builtin_trap();
	} else {
		check_parsed(f);
		round_trip(f);
		bnd_fwd_free(f);
	}
	free(expr);
	return 0;
}

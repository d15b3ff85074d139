/* libFuzzer: a hosts file as azbridged finds it (anyone with root may have
 * edited it by hand). Whatever parses must render stably: the same sync
 * twice changes nothing, and taking our entries away and adding them back
 * gives the same bytes while the block stays. (A hand-made entry whose name
 * a binding takes is replaced by design, so "add then remove" need not give
 * the original.) */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hostsfile.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct hosts_entry ours[] = {
	{ "127.0.0.8", "sql1.corp.example", "sql" },
	{ "::1", "web.example", "web-1" },
};

/* sync(in, entries) must succeed and give exactly `want` (when given). */
static void expect(const struct sbuf *in, size_t n, const struct sbuf *want, struct sbuf *out)
{
	char err[300];

	if (hosts_sync_text(in->s, in->len, n ? ours : NULL, n, out, err, sizeof(err)) < 0)
		__builtin_trap();
	if (want && (out->len != want->len || memcmp(out->s, want->s, out->len) != 0))
		__builtin_trap();
}

/* The block as the renderer writes its first line; any other line with
 * that text would have made a second BEGIN, which does not parse. */
static int has_block(const struct sbuf *b)
{
	static const char line[] = "# BEGIN azbridge (managed by azbridged; use azbridgectl hosts)\n";
	const size_t n = sizeof(line) - 1;

	return (b->len >= n && memcmp(b->s, line, n) == 0) ||
	       memmem(b->s, b->len, "\n# BEGIN azbridge (managed by azbridged; use azbridgectl hosts)\n",
		      n + 1) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sbuf in = { (char *)data, size, 0 };
	struct sbuf without, with, twice, again, back, none2;
	char err[300];

	if (hosts_sync_text((const char *)data, size, NULL, 0, &without, err, sizeof(err)) < 0)
		return 0;
	expect(&in, 2, NULL, &with);
	expect(&with, 2, &with, &twice);
	expect(&with, 0, NULL, &again);
	/* Once the block is gone (nothing else was in it) its place is too, and
	 * a new one goes at the end: compare only while it stays. */
	expect(&again, 2, has_block(&again) ? &with : NULL, &back);
	expect(&without, 0, &without, &none2);
	sbuf_free(&without);
	sbuf_free(&with);
	sbuf_free(&twice);
	sbuf_free(&again);
	sbuf_free(&back);
	sbuf_free(&none2);
	return 0;
}

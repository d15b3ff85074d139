/* libFuzzer: a client's request head, as the relay turns it into a routing
 * decision (http1.c, then rhead.c). Whatever the relay accepts must be safe
 * to put into the JSON messages, headers and addresses built from it. */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http1.h"
#include "relay.h"
#include "rhead.h"
#include "url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct relay R;

static void setup(void)
{
	static char *hosts[] = { "localhost", "relay.example" };

	if (R.hcs)
		return;
	relay_hc_add(&R, "a", true);
	relay_hc_add(&R, "a/b", true);
	relay_hc_add(&R, "web", false);
	R.hosts = hosts;
	R.n_hosts = 2;
}

static bool json_ok(const char *s)
{
	json_t *j = json_string(s);
	bool ok = j != NULL;

	json_decref(j);
	return ok;
}

static void check_host(const struct rhost *h)
{
	for (const char *c = h->name; *c; c++)
		if ((*c >= 'A' && *c <= 'Z') || *c <= ' ' || *c == '/' || *c == '@' || *c == '?')
			__builtin_trap();
	if (!h->name[0])
		__builtin_trap();
}

static void check(const struct http1_head *h, const struct rroute *rt)
{
	char *enc;

	check_host(&rt->host);
	for (size_t i = 0; i < h->n_headers; i++)
		if (!json_ok(h->h[i].value))
			__builtin_trap();
	if (rt->kind != RR_HTTP && (!rhead_text_ok(rt->path, strlen(rt->path)) || !json_ok(rt->path)))
		__builtin_trap();
	if ((rt->kind == RR_HTTP || rt->kind == RR_CONNECT) && !rt->hc)
		__builtin_trap();
	if (rt->id && (!*rt->id || strlen(rt->id) > 128 || strpbrk(rt->id, "&?#%/ \r\n")))
		__builtin_trap();
	if (rt->reject_status > 0 && (rt->reject_status < 400 || rt->reject_status > 599 ||
				      (rt->reject_reason &&
				       !rhead_text_ok(rt->reject_reason, strlen(rt->reject_reason)))))
		__builtin_trap();
	enc = url_encode_path(rt->path);
	if (strpbrk(enc, "?#& \r\n\""))
		__builtin_trap();
	free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http1_head h;
	struct rroute rt;
	const char *why = NULL;
	size_t used = 0;

	setup();
	http1_init(&h, 32 * 1024);
	if (http1_feed_request(&h, (const char *)data, size, &used) == 1) {
		bool carried = size && (data[0] & 1);

		if (rroute_decide(&R, &h, carried, &rt, &why) == 0)
			check(&h, &rt);
		else if (!why)
			__builtin_trap();
		rroute_clear(&rt);
	}
	http1_clear(&h);
	return 0;
}

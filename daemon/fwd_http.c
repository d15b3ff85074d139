/* HTTP forwards (-H): the relay's HTTP requests go to a local web server.
 * Until that is built, every request is answered 501, and a websocket
 * sender that names this forward's port gets a plain TCP tunnel to the
 * web server, as for -T. */
#include "fwd_kind.h"

#include "hc_listener.h"

static void http_request(struct fwd_run *fr, struct hc_listener *h, const char *id)
{
	(void)fr;
	hc_listener_respond(h, id, 501, "Not Implemented");
}

const struct fwd_kind fwd_http = {
	.noun = "tunnel",
	.mode = PRE_STREAM,
	.dial = fwd_sock_dial_tcp,
	.on_request = http_request,
	.end = &fwd_sock_stream,
};

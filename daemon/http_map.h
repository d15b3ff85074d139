/* What an HTTP forward changes in a request on its way to the target and
 * in a response on its way back, as pure functions: the target path, the
 * request head, which headers are hop-by-hop. */
#ifndef AZB_HTTP_MAP_H
#define AZB_HTTP_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http1.h"

/* The target's path and query for a client's raw request target. The
 * relay's name is stripped only as a whole first segment (any case), then
 * what is left is always a path under base ("/" or "/a/b/"): never decoded,
 * never a host or a scheme, and "." and ".." segments (also as %2e) are
 * resolved so they cannot climb above base. The query is kept as sent. */
char *http_map_target(const char *relay, const char *base, const char *raw);
/* False when a "." or ".." in raw's path touches '\\', %2F or %5C: a server
 * that splits on those too (IIS) would climb above base, so such a request
 * is refused rather than rewritten. */
bool http_map_target_safe(const char *raw);

enum http_body_framing {
	HTTP_BODY_NONE,       /* nothing follows the head */
	HTTP_BODY_LENGTH,     /* Content-Length: length */
	HTTP_BODY_CHUNKED,    /* Transfer-Encoding: chunked */
};

struct http_request_in {
	const char *method;
	const char *target;        /* from http_map_target() */
	const char *authority;     /* host[:port] for Host */
	const struct http1_header *headers;   /* the client's, end to end and hop-by-hop */
	size_t n_headers;
	enum http_body_framing framing;
	uint64_t length;
	/* NULL: not added. X-Forwarded-For is appended to the client's own;
	 * -Proto and -Host replace theirs. */
	const char *forwarded_for, *forwarded_proto, *forwarded_host;
	bool keep_alive;           /* false: Connection: close */
};

/* Does an Authorization or WWW-Authenticate value name a scheme that
 * authenticates the connection rather than the request (NTLM, Negotiate)? */
bool http_connection_auth(const char *value);
/* The request head for the target, ending with the blank line. */
char *http_request_head(const struct http_request_in *in);

/* "host", "host:port", "[v6]:port": the port only when not the scheme's. */
char *http_authority(const char *host, uint16_t port, bool tls);

#endif

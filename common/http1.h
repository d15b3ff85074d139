/* HTTP/1.1 message heads (start line + headers), parsed incrementally with a
 * hard size limit. Used for the websocket upgrade on both sides and for the
 * relay's plain HTTP requests. */
#ifndef AZB_HTTP1_H
#define AZB_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP1_MAX_HEADERS 64

struct http1_header {
	const char *name;
	const char *value;
};

struct http1_head {
	char *raw;               /* accumulated bytes; names/values point in here */
	size_t len, cap, limit;
	bool done;
	/* request: method, target, version; response: version, status, reason */
	const char *method, *target, *reason;
	int status;
	int minor_version;       /* HTTP/1.x */
	size_t n_headers;
	struct http1_header h[HTTP1_MAX_HEADERS];
};

void http1_init(struct http1_head *m, size_t limit);
void http1_clear(struct http1_head *m);
/* Feed bytes. Returns 1 when the head is complete (*used = bytes consumed,
 * the rest belongs to the body or the next protocol), 0 for more, or
 * -E2BIG (over the limit or too many headers) / -EBADMSG (malformed). */
int http1_feed_request(struct http1_head *m, const char *data, size_t len, size_t *used);
int http1_feed_response(struct http1_head *m, const char *data, size_t len, size_t *used);
/* Case-insensitive lookup; NULL when absent. */
const char *http1_get(const struct http1_head *m, const char *name);
/* Does a comma-separated header contain token (case-insensitive)? */
bool http1_has_token(const struct http1_head *m, const char *name, const char *token);
/* The same over any list of headers: every header called name counts. */
bool http1_headers_have_token(const struct http1_header *h, size_t n, const char *name,
			      const char *token);
/* Is name hop-by-hop (RFC 9110 7.6.1): Connection, Keep-Alive,
 * Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade, or a name any
 * Connection header among h lists? */
bool http1_hop_by_hop(const char *name, const struct http1_header *h, size_t n);

/* A chunked body (RFC 9112 7.1): sizes, extensions and trailers are checked
 * and dropped, data goes to out. */
struct http1_chunked {
	int state;
	uint64_t left;
	unsigned digits, ext;
};

void http1_chunked_init(struct http1_chunked *c);
/* Bytes consumed (it stops right after the last chunk's trailer, so what
 * follows is the next message), or -EBADMSG. */
long http1_chunked_feed(struct http1_chunked *c, const uint8_t *in, size_t n,
			void (*out)(void *arg, const uint8_t *p, size_t n), void *arg);
bool http1_chunked_done(const struct http1_chunked *c);

#endif

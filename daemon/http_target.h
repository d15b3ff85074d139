/* One HTTP/1.1 request to an HTTP forward's target, over a stream of its
 * own (plain or TLS, verified unless the forward says insecure): dial (as
 * every remote forward does, from -b's address), send the head the caller built and the body it writes, read
 * the response head and hand on the body, de-chunked, as it comes. With a
 * pool, a connection whose response ended cleanly in a framing that allows
 * another (HTTP/1.1, a length or chunks, no Connection: close, the request
 * sent whole) waits there for the next request (http_pool.c); nothing else
 * is kept between requests. */
#ifndef AZB_HTTP_TARGET_H
#define AZB_HTTP_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "http1.h"

/* Response heads past this fail the request (the relay takes 32 kB). */
#define HTTP_TARGET_HEAD_MAX (32 * 1024)

struct http_target;
struct fwd_run;

enum http_target_fail {
	HTF_CONNECT,      /* name, connect, TLS: nothing was sent */
	HTF_RESPONSE,     /* the target ended or garbled its response */
	HTF_INTERNAL,     /* ours */
	HTF_STALE,        /* a kept connection ended before any byte of an answer */
};

struct http_target_ops {
	/* Connected: the head is sent; the body may be written now. */
	void (*open)(void *owner);
	/* The response head (1xx heads are skipped); body: one follows. */
	void (*head)(void *owner, const struct http1_head *h, bool body);
	/* Body bytes, in the loop's scratch buffer with LOOP_HEADROOM before
	 * them that the owner may overwrite; valid during the call. */
	void (*body)(void *owner, uint8_t *p, size_t n);
	/* The response is whole: the connection goes, no more callbacks. */
	void (*done)(void *owner);
	/* What was written has gone: more may follow (after a choke). */
	void (*writeable)(void *owner);
	/* Final: no more callbacks. */
	void (*failed)(void *owner, enum http_target_fail f, const char *why);
};

struct http_target_params {
	const char *host;       /* looked up off the loop; also SNI and the certificate name */
	uint16_t port;
	const char *bind_address;   /* -b: the source address, or NULL */
	bool tls, insecure;
	SSL_CTX *ctx;           /* TLS: the trust to verify with; NULL: the system's */
	const char *head;       /* the request head, ending with the blank line */
	bool no_body;           /* HEAD: a response has no body whatever it says */
	bool body;              /* a request body follows, whole at http_target_end_body() */
	struct fwd_run *pool;   /* keep the connection for endpoint ep of this forward; NULL: no */
	size_t ep;
	bool fresh;             /* a new connection even when one is idle */
};

/* Never fails at once: open() or failed() follows, from the loop. */
struct http_target *http_target_open(const struct http_target_params *p,
				     const struct http_target_ops *ops, void *owner);
/* Request body bytes, as they go on the wire (the caller frames them). */
int http_target_write(struct http_target *t, const uint8_t *p, size_t n);
/* The request body has been written whole. */
void http_target_end_body(struct http_target *t);
/* Is output waiting? writeable() comes once it has gone. */
bool http_target_choked(struct http_target *t);
void http_target_pause(struct http_target *t, bool pause);
/* Drop it now: no more callbacks. */
void http_target_abort(struct http_target *t);

#endif

/* HTTP CONNECT proxies: which one a connection takes (the proxy setting, or
 * the environment read as curl reads it), the CONNECT request and the
 * proxy's answer. wsc.c opens the tunnel; entra_http.c hands libcurl the
 * same decision, so both ways out agree. */
#ifndef AZB_PROXY_H
#define AZB_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cred.h"
#include "http1.h"

/* The proxy's answer head is a few hundred bytes; anything far larger is
 * not one. */
#define PROXY_HEAD_MAX 8192
/* curl's port for a proxy URL without one. */
#define PROXY_PORT_DEFAULT 1080

struct proxy_route {
	char *host;         /* the proxy's; NULL: direct */
	uint16_t port;
	char *user;         /* Basic credentials, or NULL */
	char *password;     /* secret */
	char *where;        /* "proxy HOST:PORT from https_proxy", for messages */
};

/* The route to host for a URL of scheme ("https" for the relay). With a
 * proxy setting in set (url non-NULL): it alone ("direct" or "": none);
 * the environment is not read. Else <scheme>_proxy (lower case first; the
 * upper case too but for HTTP_PROXY), then all_proxy, ALL_PROXY, unless
 * no_proxy or NO_PROXY excludes host. Link-local hosts (the instance
 * metadata service) are always direct. set's user and password replace
 * any in the URL. 0 with r->host NULL: direct; 0 with r->host: through
 * it; -EINVAL with err (naming the variable, never a password) for a
 * proxy we cannot use. */
int proxy_route(const struct azb_proxy *set, const char *scheme, const char *host,
		struct proxy_route *r, char *err, size_t len);
void proxy_route_clear(struct proxy_route *r);

/* Does a no_proxy list exclude host, by curl's rules: "*" alone, names
 * matching themselves and the names below them (a leading dot the same),
 * trailing dots ignored, IP addresses exactly or by CIDR prefix; items
 * separated by commas (blanks around them allowed). */
bool proxy_excluded(const char *no_proxy, const char *host);

/* [http://][USER[:PASSWORD]@]HOST[:PORT][/] into r (port 1080 when
 * absent, as curl); -EINVAL with a message (without the password) for
 * anything else, another scheme included. */
int proxy_parse_url(const char *url, struct proxy_route *r, char *err, size_t len);

/* The CONNECT request for host:port through r, with Proxy-Authorization
 * when r has a user: a secret then, free with azb_free_secret. */
char *proxy_request(const struct proxy_route *r, const char *host, uint16_t port);

/* Feed the proxy's answer to h (initialised with PROXY_HEAD_MAX). 1: the
 * tunnel is open, *used bytes were the proxy's (the rest are the peer's);
 * 0: more to come; <0: refused or malformed, why says so naming r's
 * proxy and its status. */
int proxy_answer(struct http1_head *h, const uint8_t *data, size_t len, size_t *used,
		 const struct proxy_route *r, char *why, size_t wlen);

/* The global proxy settings, for identity endpoints on the worker thread:
 * a copy taken under a lock (from the loop, at start and each reload). */
void proxy_set_global(const struct azb_proxy *p);
int proxy_route_global(const char *scheme, const char *host, struct proxy_route *r, char *err,
		       size_t len);
void proxy_global_clear(void);

#endif

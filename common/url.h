/* URL helpers for relay addresses and SAS resources. */
#ifndef AZB_URL_H
#define AZB_URL_H

#include <stdbool.h>
#include <stdint.h>

/* Percent-encode everything but RFC 3986 unreserved characters, with
 * upper-case hex digits (what .NET's WebUtility.UrlEncode produces). */
char *url_encode(const char *s);
/* The same, but '/' stays: a path of segments ("site/app"). */
char *url_encode_path(const char *s);
/* Decode %XX escapes (and '+' as space when plus_space). NULL on a bad escape
 * or %00. */
char *url_decode(const char *s, bool plus_space);

/* Split "scheme://host[:port][/path]" (host may be a [v6] literal).
 * Any out pointer may be NULL. *port is 0 when absent. -EINVAL on bad input. */
struct url_parts {
	char *scheme;
	char *host;
	uint16_t port;
	char *path;      /* "/" when absent */
};
int url_split(const char *url, struct url_parts *out);
void url_parts_clear(struct url_parts *p);

/* Namespace endpoint ("sb://host[:port][/]", also https:// or a bare host)
 * to host and port; port 443 when absent. */
int url_endpoint(const char *endpoint, char **host, uint16_t *port);

#endif

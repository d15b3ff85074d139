#include "http_map.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

/* ---- the target path ---------------------------------------------------- */

/* A dot in a segment as a server may read it: "." or "%2e". Returns its
 * length in s, 0 when s does not start with one. */
static size_t dot_at(const char *s, size_t n)
{
	if (n >= 1 && s[0] == '.')
		return 1;
	if (n >= 3 && s[0] == '%' && s[1] == '2' && (s[2] == 'e' || s[2] == 'E'))
		return 3;
	return 0;
}

/* 1 for ".", 2 for "..", 0 for anything else. */
static int dots(const char *s, size_t n)
{
	size_t a = dot_at(s, n), b = a ? dot_at(s + a, n - a) : 0;

	if (a && a == n)
		return 1;
	if (a && b && a + b == n)
		return 2;
	return 0;
}

/* What is left of path once "/relay" is taken off, when it is there as a
 * whole segment. */
static const char *after_relay(const char *relay, const char *path, size_t n)
{
	size_t r = strlen(relay);

	if (n >= r + 1 && path[0] == '/' && strncasecmp(path + 1, relay, r) == 0 &&
	    (n == r + 1 || path[r + 1] == '/'))
		return path + r + 1;
	return path;
}

/* Segments of rest onto out (which holds base, ending in '/'), never
 * taking out below keep bytes. */
static void add_segments(struct sbuf *out, size_t keep, const char *rest, size_t n)
{
	const char *p = rest, *end = rest + n;

	if (p < end && *p == '/')
		p++;
	/* Each kept segment brings its '/' when one follows, so a trailing
	 * slash, and the one a dot segment stands for, stay. */
	while (p < end) {
		const char *e = memchr(p, '/', (size_t)(end - p));
		size_t len = (size_t)((e ? e : end) - p);
		int d = dots(p, len);

		if (d == 2 && out->len > keep) {
			out->len--;   /* the '/' ending the last segment */
			while (out->len > keep && out->s[out->len - 1] != '/')
				out->len--;
			out->s[out->len] = '\0';
		} else if (d == 0) {
			sbuf_addn(out, p, len);
			if (e)
				sbuf_addc(out, '/');
		}
		if (!e)
			break;
		p = e + 1;
	}
}

/* Length of the separator at s other than '/' that some servers also split
 * paths on (IIS: '\\', and '/' or '\\' percent-encoded), 0 when none. */
static size_t alt_sep_at(const char *s, size_t n)
{
	if (n >= 1 && s[0] == '\\')
		return 1;
	if (n >= 3 && s[0] == '%' && (s[1] == '2' || s[1] == '5') &&
	    ((s[1] == '2' && (s[2] == 'f' || s[2] == 'F')) ||
	     (s[1] == '5' && (s[2] == 'c' || s[2] == 'C'))))
		return 3;
	return 0;
}

/* Does a "." or ".." piece of s touch a separator other than '/'? */
static bool dot_piece_at_alt_sep(const char *s, size_t n)
{
	size_t start = 0;
	bool alt_before = false;

	for (size_t i = 0; i <= n; i++) {
		size_t sep = i == n ? 0 : alt_sep_at(s + i, n - i);
		bool slash = i < n && s[i] == '/';

		if (i < n && !sep && !slash)
			continue;
		if ((alt_before || sep) && dots(s + start, i - start))
			return true;
		alt_before = sep != 0;
		i += sep ? sep - 1 : 0;
		start = i + 1;
	}
	return false;
}

bool http_map_target_safe(const char *raw)
{
	const char *q = strchr(raw, '?');

	return !dot_piece_at_alt_sep(raw, q ? (size_t)(q - raw) : strlen(raw));
}

char *http_map_target(const char *relay, const char *base, const char *raw)
{
	const char *q = strchr(raw, '?');
	size_t plen = q ? (size_t)(q - raw) : strlen(raw);
	const char *rest = after_relay(relay, raw, plen);
	struct sbuf out;
	size_t keep;

	sbuf_init(&out);
	sbuf_add(&out, base);
	keep = out.len;
	add_segments(&out, keep, rest, plen - (size_t)(rest - raw));
	if (q)
		sbuf_add(&out, q);
	return sbuf_take(&out);
}

/* ---- headers ----------------------------------------------------------- */

/* Ours to set: the client's own would contradict what we send. */
static bool replaced(const struct http_request_in *in, const char *name)
{
	return strcasecmp(name, "Host") == 0 || strcasecmp(name, "Content-Length") == 0 ||
	       strcasecmp(name, "Expect") == 0 ||
	       (in->forwarded_proto && strcasecmp(name, "X-Forwarded-Proto") == 0) ||
	       (in->forwarded_host && strcasecmp(name, "X-Forwarded-Host") == 0) ||
	       (in->forwarded_for && strcasecmp(name, "X-Forwarded-For") == 0);
}

static void add_forwarded(struct sbuf *b, const struct http_request_in *in)
{
	const char *before = NULL;

	for (size_t i = 0; in->forwarded_for && i < in->n_headers; i++)
		if (strcasecmp(in->headers[i].name, "X-Forwarded-For") == 0)
			before = in->headers[i].value;
	if (in->forwarded_for)
		sbuf_printf(b, "X-Forwarded-For: %s%s%s\r\n", before ? before : "",
			    before ? ", " : "", in->forwarded_for);
	if (in->forwarded_proto)
		sbuf_printf(b, "X-Forwarded-Proto: %s\r\n", in->forwarded_proto);
	if (in->forwarded_host)
		sbuf_printf(b, "X-Forwarded-Host: %s\r\n", in->forwarded_host);
}

char *http_request_head(const struct http_request_in *in)
{
	struct sbuf b;

	sbuf_init(&b);
	sbuf_printf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", in->method, in->target, in->authority);
	for (size_t i = 0; i < in->n_headers; i++) {
		const struct http1_header *h = &in->headers[i];

		if (!http1_hop_by_hop(h->name, in->headers, in->n_headers) && !replaced(in, h->name))
			sbuf_printf(&b, "%s: %s\r\n", h->name, h->value);
	}
	add_forwarded(&b, in);
	if (in->framing == HTTP_BODY_LENGTH)
		sbuf_printf(&b, "Content-Length: %llu\r\n", (unsigned long long)in->length);
	else if (in->framing == HTTP_BODY_CHUNKED)
		sbuf_add(&b, "Transfer-Encoding: chunked\r\n");
	/* HTTP/1.1 keeps the connection by default; without a pool, say not. */
	if (!in->keep_alive)
		sbuf_add(&b, "Connection: close\r\n");
	sbuf_add(&b, "\r\n");
	return sbuf_take(&b);
}

bool http_connection_auth(const char *value)
{
	static const char *const schemes[] = { "NTLM", "Negotiate" };

	for (size_t i = 0; i < AZB_ARRAY_SIZE(schemes); i++) {
		size_t n = strlen(schemes[i]);

		if (strncasecmp(value, schemes[i], n) == 0 && (!value[n] || value[n] == ' '))
			return true;
	}
	return false;
}

char *http_authority(const char *host, uint16_t port, bool tls)
{
	bool v6 = strchr(host, ':') != NULL;

	if (port == (tls ? 443 : 80))
		return v6 ? xasprintf("[%s]", host) : xstrdup(host);
	return v6 ? xasprintf("[%s]:%u", host, port) : xasprintf("%s:%u", host, port);
}

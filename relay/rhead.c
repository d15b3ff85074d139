#include "rhead.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "url.h"
#include "util.h"
#include "ws.h"

#define ID_MAX 128
#define REASON_MAX 256

/* C0 and C1 controls are refused too: a log line or a terminal showing
 * the text must not take them as commands. */
bool rhead_text_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f || (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] < 0xa0))
			return false;
	}
	return azb_utf8_valid(s, n);
}

/* ---- Host ---------------------------------------------------------------- */

static bool reg_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.' && s[i] != '_' &&
		    s[i] != '~')
			return false;
	return true;
}

static bool v6_literal_ok(const char *s, size_t n)
{
	char tmp[INET6_ADDRSTRLEN];
	struct in6_addr a;

	if (n == 0 || n >= sizeof(tmp))
		return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	return inet_pton(AF_INET6, tmp, &a) == 1;
}

static int parse_port(const char *s, uint16_t *port)
{
	long v;

	if (strlen(s) > 5 || !azb_is_uint(s) || azb_parse_int(s, 1, 65535, &v) < 0)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int rhead_parse_host(const char *s, struct rhost *out)
{
	const char *end;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		end = strchr(s, ']');
		if (!end || !v6_literal_ok(s + 1, (size_t)(end - s - 1)))
			return -EINVAL;
		end++;
	} else {
		end = s + strcspn(s, ":");
		if (!reg_name_ok(s, (size_t)(end - s)))
			return -EINVAL;
	}
	if (*end && (*end != ':' || parse_port(end + 1, &out->port) < 0))
		return -EINVAL;
	n = (size_t)(end - s);
	for (size_t i = 0; i < n; i++)
		out->name[i] = (char)tolower((unsigned char)s[i]);
	out->name[n] = '\0';
	return 0;
}

/* ---- the head as a whole -------------------------------------------------- */

/* Origin form only ("/path?query"), visible ASCII: an absolute URL or a
 * raw byte has no meaning for a hybrid connection. */
static bool target_ok(const char *t)
{
	if (t[0] != '/')
		return false;
	for (; *t; t++)
		if ((unsigned char)*t <= 0x20 || (unsigned char)*t >= 0x7f)
			return false;
	return true;
}

static size_t count(const struct http1_head *h, const char *name, const char **first)
{
	size_t n = 0;

	*first = NULL;
	for (size_t i = 0; i < h->n_headers; i++)
		if (strcasecmp(h->h[i].name, name) == 0 && n++ == 0)
			*first = h->h[i].value;
	return n;
}

/* One framing only (RFC 9112 6.3): a body length two parsers could read
 * differently is how requests are smuggled. */
static int framing_ok(const struct http1_head *h, const char **why)
{
	const char *cl, *te;
	size_t n_cl = count(h, "Content-Length", &cl), n_te = count(h, "Transfer-Encoding", &te);

	for (size_t i = 0; i < h->n_headers; i++)
		if (strcasecmp(h->h[i].name, "Content-Length") == 0 &&
		    (!azb_is_uint(h->h[i].value) || strcmp(h->h[i].value, cl) != 0)) {
			*why = "Content-Length is not one decimal number";
			return 400;
		}
	if (n_te && (n_cl || n_te > 1 || strcasecmp(te, "chunked") != 0)) {
		*why = n_cl ? "Transfer-Encoding and Content-Length together" :
			      "only Transfer-Encoding: chunked is read";
		return 400;
	}
	return 0;
}

static int head_ok(const struct http1_head *h, struct rhost *host, const char **why)
{
	const char *v;

	if (!target_ok(h->target)) {
		*why = "the request target is not an absolute path of visible ASCII";
		return 400;
	}
	if (count(h, "Host", &v) != 1 || rhead_parse_host(v, host) < 0) {
		*why = "want exactly one Host header: a host name, IPv4 or [IPv6] and an optional port";
		return 400;
	}
	for (size_t i = 0; i < h->n_headers; i++)
		if (!azb_utf8_valid(h->h[i].value, strlen(h->h[i].value))) {
			*why = "a header value is not UTF-8";
			return 400;
		}
	return framing_ok(h, why);
}

static bool host_served(const struct relay *r, const char *name)
{
	if (!r->n_hosts)
		return true;
	for (size_t i = 0; i < r->n_hosts; i++)
		if (strcasecmp(r->hosts[i], name) == 0)
			return true;
	return false;
}

/* ---- paths and query parameters ------------------------------------------- */

char *rhead_query(const char *target, const char *name)
{
	const char *q = strchr(target, '?');
	size_t nl = strlen(name);

	while (q && *q) {
		const char *p = q + 1, *end = p + strcspn(p, "&");

		if ((size_t)(end - p) > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
			char *raw = xstrndup(p + nl + 1, (size_t)(end - p - (long)nl - 1));
			char *v = url_decode(raw, true);

			free(raw);
			return v ? v : xstrdup("\x01");   /* a bad escape fails every check */
		}
		q = *end ? end : NULL;
	}
	return NULL;
}

/* The entity path of target[0, n): decoded, no leading or trailing '/'. */
static char *entity_path(const char *target, size_t n, const char **why)
{
	char *raw = xstrndup(target, n), *dec = url_decode(raw, false);
	size_t skip = 0, len;

	free(raw);
	if (!dec) {
		*why = "the path has a bad %-escape";
		return NULL;
	}
	while (dec[skip] == '/')
		skip++;
	len = strlen(dec + skip);
	memmove(dec, dec + skip, len + 1);
	while (len && dec[len - 1] == '/')
		dec[--len] = '\0';
	if (!rhead_text_ok(dec, len)) {
		*why = "the path is not UTF-8 text";
		free(dec);
		return NULL;
	}
	return dec;
}

static bool id_ok(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)id[i]) && !strchr("-._~", id[i]))
			return false;
	return true;
}

/* sb-hc-statusCode/-Description, or the unprefixed names Node's clients send. */
static char *reject_param(const char *target, const char *name)
{
	char pref[64], *v;

	snprintf(pref, sizeof(pref), "sb-hc-%s", name);
	v = rhead_query(target, pref);
	return v ? v : rhead_query(target, name);
}

/* A rejection's status and reason go into the sender's status line: only
 * an error status and one line of text; anything else marks it malformed
 * (reject_status -1), which fails the sender with 502. */
static void take_rejection(const char *target, struct rroute *rt)
{
	char *code = reject_param(target, "statusCode");
	long v;

	if (!code)
		return;
	rt->reject_reason = reject_param(target, "statusDescription");
	if (azb_parse_int(code, 400, 599, &v) < 0 ||
	    (rt->reject_reason && (strlen(rt->reject_reason) > REASON_MAX ||
				   !rhead_text_ok(rt->reject_reason, strlen(rt->reject_reason)))))
		v = -1;
	free(code);
	rt->reject_status = (int)v;
}

static const struct { const char *name; enum rroute_kind kind; } actions[] = {
	{ "listen", RR_LISTEN }, { "connect", RR_CONNECT }, { "accept", RR_ACCEPT },
	{ "request", RR_REQUEST },
};

static int ws_route(const struct http1_head *h, bool carried_http, struct rroute *rt,
		    const char **why)
{
	char *action = rhead_query(h->target, "sb-hc-action");
	size_t i = AZB_ARRAY_SIZE(actions);

	rt->ws_key = ws_upgrade_request_key(h);
	if (action)
		for (i = 0; i < AZB_ARRAY_SIZE(actions) && strcmp(action, actions[i].name) != 0; i++)
			;
	free(action);
	if (carried_http) {
		*why = "a connection that carried HTTP requests cannot become a websocket";
		return 400;
	}
	if (!rt->ws_key || i == AZB_ARRAY_SIZE(actions)) {
		*why = "expected a websocket upgrade with sb-hc-action listen, connect, accept or request";
		return 400;
	}
	rt->kind = actions[i].kind;
	rt->id = rhead_query(h->target, "sb-hc-id");
	if (rt->id && !id_ok(rt->id)) {
		*why = "sb-hc-id must be 1 to 128 letters, digits, '-', '.', '_' or '~'";
		return 400;
	}
	if (rt->kind == RR_ACCEPT)
		take_rejection(h->target, rt);
	return 0;
}

static int http_route(const struct http1_head *h, const char **why)
{
	if (strcmp(h->method, "CONNECT") == 0) {
		*why = "CONNECT is not relayed";
		return 405;
	}
	if (http1_get(h, "Upgrade")) {
		*why = "upgrades go to /$hc/ addresses";
		return 400;
	}
	return 0;
}

int rroute_decide(const struct relay *r, const struct http1_head *h, bool carried_http,
		  struct rroute *rt, const char **why)
{
	bool ws = strncmp(h->target, "/$hc/", 5) == 0;
	const char *path_at = ws ? h->target + 5 : h->target;
	int status;

	memset(rt, 0, sizeof(*rt));
	status = head_ok(h, &rt->host, why);
	if (status)
		return status;
	if (!host_served(r, rt->host.name)) {
		*why = "this relay does not serve that host name";
		return 404;
	}
	status = ws ? ws_route(h, carried_http, rt, why) : http_route(h, why);
	if (status)
		return status;
	rt->path = entity_path(path_at, strcspn(path_at, "?"), why);
	if (!rt->path)
		return 400;
	rt->hc = *rt->path ? relay_hc_find((struct relay *)r, rt->path, NULL) : NULL;
	if (rt->kind == RR_LISTEN && rt->hc && strcmp(rt->hc->path, rt->path) != 0)
		rt->hc = NULL;     /* a listener names its hybrid connection exactly */
	if (!rt->hc && (rt->kind == RR_HTTP || rt->kind == RR_CONNECT ||
			(rt->kind == RR_LISTEN && (!r->create_on_listen || !*rt->path)))) {
		*why = "no such hybrid connection";
		return 404;
	}
	return 0;
}

void rroute_clear(struct rroute *rt)
{
	free(rt->path);
	free(rt->id);
	free(rt->reject_reason);
	memset(rt, 0, sizeof(*rt));
}

#include "hc_proto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "url.h"
#include "util.h"

/* How much of an offending value an error quotes. */
#define QUOTE_MAX 48

/* ---- shared ------------------------------------------------------------ */

/* "what \"value\"" with value cut short and every byte outside printable
 * ASCII (and the quote and backslash) as \xNN; value NULL: what alone. */
static int fail(char *err, size_t errlen, const char *what, const char *value)
{
	struct sbuf b;
	size_t i;

	sbuf_init(&b);
	for (i = 0; value && value[i] && i < QUOTE_MAX; i++) {
		unsigned char ch = (unsigned char)value[i];

		if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
			sbuf_addc(&b, (char)ch);
		else
			sbuf_printf(&b, "\\x%02x", ch);
	}
	if (value && value[i])
		sbuf_add(&b, "...");
	if (value)
		azb_err(err, errlen, "%s \"%s\"", what, b.s);
	else
		azb_err(err, errlen, "%s", what);
	sbuf_free(&b);
	return -EBADMSG;
}

/* Visible ASCII only: no space, no control character, nothing above 0x7e. */
static bool visible(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static bool is_tchar(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

bool hcp_header_name_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!is_tchar(*s))
			return false;
	return true;
}

/* Visible characters, spaces and tabs: no CR, LF or NUL to split a head. */
bool hcp_header_value_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 && *s != '\t')
			return false;
		else if (*s == 0x7f)
			return false;
	return true;
}

/* One JSON object, no key twice (two parsers could take different ones). */
static json_t *load_object(const char *text, size_t n, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *j = json_loadb(text, n, JSON_REJECT_DUPLICATES, &jerr);

	if (!j) {
		fail(err, errlen, "not JSON:", jerr.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		fail(err, errlen, "not a JSON object", NULL);
		json_decref(j);
		return NULL;
	}
	return j;
}

/* ---- from the relay: accept and request -------------------------------- */

static bool label_ok(const char *s, size_t n)
{
	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] >= 'a' && s[i] <= 'z') && !(s[i] >= 'A' && s[i] <= 'Z') &&
		    !(s[i] >= '0' && s[i] <= '9') && s[i] != '-')
			return false;
	return true;
}

/* A DNS name, an IPv4 address, or (it had brackets) an IPv6 address. */
static bool host_ok(const char *h)
{
	struct in6_addr a6;
	size_t n = strlen(h);

	if (strchr(h, ':'))
		return inet_pton(AF_INET6, h, &a6) == 1;
	if (n == 0 || n > HCP_HOST_MAX)
		return false;
	if (strspn(h, "0123456789.") == n)
		return inet_pton(AF_INET, h, &a6) == 1;
	for (const char *p = h; *p;) {
		size_t l = strcspn(p, ".");

		if (!label_ok(p, l))
			return false;
		p += l;
		if (*p == '.' && *++p == '\0')
			break;   /* one trailing dot: a fully qualified name */
	}
	return true;
}

static int parse_address(const char *url, struct hcp_addr *a, char *err, size_t errlen)
{
	static const char rule[] = "address is not wss://host[:port]/$hc/...:";
	struct url_parts u;
	bool bracketed;

	if (strlen(url) > HCP_ADDRESS_MAX)
		return fail(err, errlen, "address over the length limit:", url);
	if (!visible(url))
		return fail(err, errlen, "address with a space or control character:", url);
	if (url_split(url, &u) < 0)
		return fail(err, errlen, rule, url);
	/* Brackets hold an IPv6 address and nothing else. */
	bracketed = strstr(url, "://")[3] == '[';
	if (strcasecmp(u.scheme, "wss") != 0 || !host_ok(u.host) ||
	    bracketed != (strchr(u.host, ':') != NULL) ||
	    strncmp(u.path, "/$hc/", 5) != 0 || strchr(u.path, '#')) {
		url_parts_clear(&u);
		return fail(err, errlen, rule, url);
	}
	a->host = u.host;
	a->port = u.port ? u.port : 443;
	a->target = u.path;
	u.host = u.path = NULL;
	url_parts_clear(&u);
	return 0;
}

static int parse_id(json_t *v, struct hcp_msg *m, char *err, size_t errlen)
{
	const char *s = json_string_value(v);

	if (!v)
		return 0;
	if (!s)
		return fail(err, errlen, "id is not a string", NULL);
	if (json_string_length(v) > HCP_ID_MAX || !*s || !visible(s))
		return fail(err, errlen, "id empty, too long or not printable:", s);
	m->id = xstrdup(s);
	return 0;
}

/* remoteEndpoint: optional, but when present a numeric address and a port. */
static int parse_peer(json_t *ep, struct hcp_msg *m, char *err, size_t errlen)
{
	const char *addr = json_string_value(json_object_get(ep, "address"));
	json_t *port = json_object_get(ep, "port");
	struct in6_addr a6;
	bool v6;

	if (!ep)
		return 0;
	if (!json_is_object(ep) || !addr)
		return fail(err, errlen, "remoteEndpoint without an address", NULL);
	v6 = strchr(addr, ':') != NULL;
	if (inet_pton(v6 ? AF_INET6 : AF_INET, addr, &a6) != 1)
		return fail(err, errlen, "remoteEndpoint address is not numeric:", addr);
	if (!json_is_integer(port) || json_integer_value(port) < 0 ||
	    json_integer_value(port) > 65535)
		return fail(err, errlen, "remoteEndpoint port is not 0 to 65535", NULL);
	snprintf(m->peer, sizeof(m->peer), v6 ? "[%s]:%d" : "%s:%d", addr,
		 (int)json_integer_value(port));
	snprintf(m->peer_ip, sizeof(m->peer_ip), "%s", addr);
	return 0;
}

static int parse_headers(json_t *hdrs, const char *what, struct hcp_msg *m, char *err,
			 size_t errlen);

/* The whole request (inline, or the one on a rendezvous); without a method
 * it only asks for a rendezvous. */
static int parse_request_line(json_t *o, struct hcp_msg *m, char *err, size_t errlen)
{
	json_t *method = json_object_get(o, "method"), *target = json_object_get(o, "requestTarget");
	const char *mt = json_string_value(method), *tg = json_string_value(target);

	if (!method || json_is_null(method))
		return 0;
	if (!mt || strlen(mt) > HCP_METHOD_MAX || !hcp_header_name_ok(mt))
		return fail(err, errlen, "method is not an HTTP token:", mt);
	if (target && (!tg || tg[0] != '/' || strlen(tg) > HCP_TARGET_MAX || !visible(tg) ||
		       strchr(tg, '#')))
		return fail(err, errlen, "requestTarget is not a path with an optional query:", tg);
	m->method = xstrdup(mt);
	m->target = tg ? xstrdup(tg) : NULL;
	return parse_headers(json_object_get(o, "requestHeaders"), "request", m, err, errlen);
}

static int parse_offer(json_t *o, enum hcp_kind kind, struct hcp_msg *m, char *err,
		       size_t errlen)
{
	json_t *addr = json_object_get(o, "address");
	const char *what = kind == HCP_ACCEPT ? "accept" : "request";
	char why[200];
	int r;

	m->kind = kind;
	if (!json_is_object(o))
		return azb_errn(err, errlen, -EBADMSG, "%s is not an object", what);
	if (!addr && kind == HCP_ACCEPT)
		return azb_errn(err, errlen, -EBADMSG, "accept without an address");
	if (addr && !json_is_string(addr))
		return azb_errn(err, errlen, -EBADMSG, "%s address is not a string", what);
	r = addr ? parse_address(json_string_value(addr), &m->addr, why, sizeof(why)) : 0;
	if (r == 0 && (r = parse_id(json_object_get(o, "id"), m, why, sizeof(why))) == 0 &&
	    !m->id && kind == HCP_REQUEST)
		r = fail(why, sizeof(why), "no id", NULL);
	if (r == 0)
		r = parse_peer(json_object_get(o, "remoteEndpoint"), m, why, sizeof(why));
	if (r == 0 && kind == HCP_REQUEST)
		r = parse_request_line(o, m, why, sizeof(why));
	if (r < 0)
		return azb_errn(err, errlen, -EBADMSG, "%s: %s", what, why);
	m->body = json_is_true(json_object_get(o, "body"));
	return 0;
}

static int parse_relay_object(json_t *j, struct hcp_msg *m, char *err, size_t errlen)
{
	json_t *acc = json_object_get(j, "accept"), *req = json_object_get(j, "request");

	if (acc && req)
		return azb_errn(err, errlen, -EBADMSG, "both an accept and a request in one message");
	if (acc)
		return parse_offer(acc, HCP_ACCEPT, m, err, errlen);
	if (req)
		return parse_offer(req, HCP_REQUEST, m, err, errlen);
	return 0;
}

static void init_msg(struct hcp_msg *m)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->peer, sizeof(m->peer), "-");
}

int hcp_parse_from_relay(const char *text, size_t n, struct hcp_msg *m, char *err,
			 size_t errlen)
{
	json_t *j;
	int r;

	init_msg(m);
	if (n > HCP_MSG_MAX)
		return azb_errn(err, errlen, -EBADMSG,
				"message of %zu bytes, over the %d-byte limit", n, HCP_MSG_MAX);
	j = load_object(text, n, err, errlen);
	if (!j)
		return -EBADMSG;
	r = parse_relay_object(j, m, err, errlen);
	json_decref(j);
	if (r < 0)
		hcp_clear(m);
	return r;
}

/* ---- from a listener: response and renewToken -------------------------- */

/* 1xx would make the client wait for another head; past 599 there is no
 * status. 502 and 504 stay the relay's own in meaning only. */
static int parse_status(json_t *v, int *out)
{
	long code;

	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		if (i < 200 || i > 599)
			return -ERANGE;
		*out = (int)i;
		return 0;
	}
	if (json_is_string(v) && azb_parse_int(json_string_value(v), 200, 599, &code) == 0) {
		*out = (int)code;
		return 0;
	}
	return -ERANGE;
}

/* Header values are strings; numbers and booleans become text as a
 * JavaScript listener would print them. */
static const char *header_text(json_t *v, char *num, size_t len)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v))
		snprintf(num, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_boolean(v))
		snprintf(num, len, "%s", json_is_true(v) ? "true" : "false");
	else
		return NULL;
	return num;
}

/* "what headers ..." with value quoted, as fail() does. */
static int fail_headers(char *err, size_t errlen, const char *what, const char *rule,
			const char *value)
{
	char why[96];

	snprintf(why, sizeof(why), "%s %s", what, rule);
	return fail(err, errlen, why, value);
}

static int add_header(struct hcp_msg *m, const char *what, const char *name, json_t *v,
		      size_t *bytes, char *err, size_t errlen)
{
	char num[32];
	const char *s = header_text(v, num, sizeof(num));

	if (m->n_headers == HCP_HEADERS_MAX)
		return fail_headers(err, errlen, what, "headers: too many", NULL);
	if (!s)
		return fail_headers(err, errlen, what, "header value is not a string:", name);
	if (!hcp_header_name_ok(name) || !hcp_header_value_ok(s))
		return fail_headers(err, errlen, what, "header has a character HTTP does not allow:",
				    name);
	*bytes += strlen(name) + strlen(s) + 4;
	if (*bytes > HCP_HEADER_BYTES_MAX)
		return fail_headers(err, errlen, what, "headers exceed 32 kB", NULL);
	m->headers[m->n_headers].name = xstrdup(name);
	m->headers[m->n_headers].value = xstrdup(s);
	m->n_headers++;
	return 0;
}

/* A name with a list of values (two Set-Cookie) is one entry per value. */
static int parse_headers(json_t *hdrs, const char *what, struct hcp_msg *m, char *err,
			 size_t errlen)
{
	const char *name;
	json_t *v, *e;
	size_t bytes = 0, i;
	int r = 0;

	if (!hdrs || json_is_null(hdrs))
		return 0;
	if (!json_is_object(hdrs))
		return fail_headers(err, errlen, what, "headers are not an object", NULL);
	json_object_foreach(hdrs, name, v) {
		if (!json_is_array(v)) {
			r = add_header(m, what, name, v, &bytes, err, errlen);
		} else {
			json_array_foreach(v, i, e)
				if ((r = json_is_string(e) ? add_header(m, what, name, e, &bytes, err,
									errlen) :
					 fail_headers(err, errlen, what, "header value is not a "
						      "string:", name)) < 0)
					break;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static bool description_ok(json_t *desc)
{
	return !desc || json_is_null(desc) ||
	       (json_is_string(desc) && strlen(json_string_value(desc)) <= HCP_DESCRIPTION_MAX &&
		hcp_header_value_ok(json_string_value(desc)));
}

static int parse_response(json_t *r, struct hcp_msg *m, char *err, size_t errlen)
{
	json_t *id = json_object_get(r, "requestId"), *desc = json_object_get(r, "statusDescription");
	json_t *body = json_object_get(r, "body");

	if (!json_is_object(r))
		return fail(err, errlen, "response is not an object", NULL);
	if (!json_is_string(id) || !*json_string_value(id) ||
	    strlen(json_string_value(id)) > HCP_REQUEST_ID_MAX)
		return fail(err, errlen, "response has no valid requestId", NULL);
	m->id = xstrdup(json_string_value(id));
	if (parse_status(json_object_get(r, "statusCode"), &m->status) < 0)
		return fail(err, errlen, "response statusCode is not a number from 200 to 599", NULL);
	if (!description_ok(desc))
		return fail(err, errlen, "response statusDescription is not a one-line string", NULL);
	if (body && !json_is_boolean(body) && !json_is_null(body))
		return fail(err, errlen, "response body is not a boolean", NULL);
	m->kind = HCP_RESPONSE;
	m->description = json_is_string(desc) ? xstrdup(json_string_value(desc)) : NULL;
	m->body = json_is_true(body);
	return parse_headers(json_object_get(r, "responseHeaders"), "response", m, err, errlen);
}

static int parse_renew(json_t *r, struct hcp_msg *m, char *err, size_t errlen)
{
	json_t *tok = json_is_object(r) ? json_object_get(r, "token") : NULL;

	if (!json_is_string(tok))
		return fail(err, errlen, "renewToken has no token string", NULL);
	m->kind = HCP_RENEW;
	m->token = xstrdup(json_string_value(tok));
	return 0;
}

int hcp_parse_from_listener(const char *text, size_t n, struct hcp_msg *m, char *err,
			    size_t errlen)
{
	json_t *j, *v;
	int r = 0;

	init_msg(m);
	j = load_object(text, n, err, errlen);
	if (!j)
		return -EBADMSG;
	if ((v = json_object_get(j, "response")))
		r = parse_response(v, m, err, errlen);
	else if ((v = json_object_get(j, "renewToken")))
		r = parse_renew(v, m, err, errlen);
	json_decref(j);
	if (r < 0) {
		char *id = m->id;

		m->id = NULL;
		hcp_clear(m);
		m->id = id;
	}
	return r;
}

void hcp_clear(struct hcp_msg *m)
{
	for (size_t i = 0; i < m->n_headers; i++) {
		free(m->headers[i].name);
		free(m->headers[i].value);
	}
	azb_free_secret(m->token);
	free(m->id);
	free(m->addr.host);
	free(m->addr.target);
	free(m->description);
	free(m->method);
	free(m->target);
	init_msg(m);
}

void hcp_move(struct hcp_msg *to, struct hcp_msg *from)
{
	*to = *from;
	init_msg(from);
}

/* ---- builders ---------------------------------------------------------- */

/* The text of {kind: body}, or NULL when body is NULL or cannot be written. */
static char *text_of(const char *kind, json_t *body)
{
	json_t *j = body ? json_pack("{s:o}", kind, body) : NULL;
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return text;
}

/* join: a repeated name's values as one list ("a, b"); else the last one. */
static json_t *header_object(const struct http1_header *h, size_t n, bool join)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < n; i++) {
		const char *before = join ? json_string_value(json_object_get(o, h[i].name)) : NULL;
		char *joined = before ? xasprintf("%s, %s", before, h[i].value) : NULL;

		if (json_object_set_new(o, h[i].name, json_string(joined ? joined : h[i].value)) < 0) {
			json_decref(o);
			o = NULL;
		}
		free(joined);
	}
	return o;
}

/* responseHeaders: Set-Cookie cannot be joined with commas (its dates
 * hold them), so a repeated one becomes a list; other names are joined. */
static int add_response_header(json_t *o, const struct http1_header *h)
{
	json_t *before = json_object_get(o, h->name), *list;
	char *joined;
	int r;

	if (!before)
		return json_object_set_new(o, h->name, json_string(h->value));
	if (strcasecmp(h->name, "Set-Cookie") == 0) {
		if (json_is_array(before))
			return json_array_append_new(before, json_string(h->value));
		list = json_pack("[O,s]", before, h->value);
		return json_object_set_new(o, h->name, list);
	}
	joined = xasprintf("%s, %s", json_string_value(before), h->value);
	r = json_object_set_new(o, h->name, json_string(joined));
	free(joined);
	return r;
}

static json_t *response_headers(const struct http1_header *h, size_t n)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < n; i++)
		if (add_response_header(o, &h[i]) < 0) {
			json_decref(o);
			o = NULL;
		}
	return o;
}

static json_t *endpoint(const struct hcp_endpoint *ep)
{
	return json_pack("{s:s,s:i}", "address", ep->address, "port", ep->port);
}

char *hcp_accept_text(const struct hcp_accept *a)
{
	json_t *hdrs = header_object(a->headers, a->n_headers, false);

	return text_of("accept", json_pack("{s:s,s:s,s:o,s:o}", "address", a->address, "id", a->id,
					   "connectHeaders", hdrs, "remoteEndpoint",
					   endpoint(&a->peer)));
}

char *hcp_request_text(const struct hcp_request *r)
{
	json_t *hdrs;

	if (!r->method)
		return text_of("request", json_pack("{s:s,s:s}", "address", r->address, "id", r->id));
	hdrs = header_object(r->headers, r->n_headers, true);
	return text_of("request", json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:b}", "address", r->address,
					    "id", r->id, "requestTarget", r->target, "method",
					    r->method, "requestHeaders", hdrs, "remoteEndpoint",
					    endpoint(&r->peer), "body", r->body));
}

char *hcp_response_text(const struct hcp_response *r)
{
	json_t *o = json_pack("{s:s,s:i}", "requestId", r->id, "statusCode", r->status);

	if (o && r->description &&
	    json_object_set_new(o, "statusDescription", json_string(r->description)) < 0)
		goto bad;
	if (o && r->n_headers &&
	    json_object_set_new(o, "responseHeaders", response_headers(r->headers,
								       r->n_headers)) < 0)
		goto bad;
	if (o && json_object_set_new(o, "body", json_boolean(r->body)) < 0)
		goto bad;
	return text_of("response", o);
bad:
	json_decref(o);
	return NULL;
}

char *hcp_renew_text(const char *token)
{
	return text_of("renewToken", json_pack("{s:s}", "token", token));
}

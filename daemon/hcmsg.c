#include "hcmsg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "url.h"
#include "util.h"

/* How much of an offending value an error quotes. */
#define QUOTE_MAX 48

/* "what \"value\"" with value cut short and every byte outside printable
 * ASCII (and the quote and backslash) as \xNN. */
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
	return -EINVAL;
}

/* Visible ASCII only: no space, no control character, nothing above 0x7e. */
static bool visible(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

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
	if (n == 0 || n > HCMSG_HOST_MAX)
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

static int parse_address(const char *url, struct hcmsg_addr *a, char *err, size_t errlen)
{
	struct url_parts u;
	bool bracketed;

	if (strlen(url) > HCMSG_ADDRESS_MAX)
		return fail(err, errlen, "address over the length limit:", url);
	if (!visible(url))
		return fail(err, errlen, "address with a space or control character:", url);
	if (url_split(url, &u) < 0)
		return fail(err, errlen, "address is not wss://host[:port]/$hc/...:", url);
	/* Brackets hold an IPv6 address and nothing else. */
	bracketed = strstr(url, "://")[3] == '[';
	if (strcasecmp(u.scheme, "wss") != 0 || !host_ok(u.host) ||
	    bracketed != (strchr(u.host, ':') != NULL) ||
	    strncmp(u.path, "/$hc/", 5) != 0 || strchr(u.path, '#')) {
		url_parts_clear(&u);
		return fail(err, errlen, "address is not wss://host[:port]/$hc/...:", url);
	}
	a->host = u.host;
	a->port = u.port ? u.port : 443;
	a->target = u.path;
	u.host = u.path = NULL;
	url_parts_clear(&u);
	return 0;
}

static int parse_id(json_t *v, struct hcmsg *m, char *err, size_t errlen)
{
	const char *s = json_string_value(v);

	if (!v)
		return 0;
	if (!s)
		return fail(err, errlen, "id is not a string", NULL);
	if (json_string_length(v) > HCMSG_ID_MAX || !*s || !visible(s))
		return fail(err, errlen, "id empty, too long or not printable:", s);
	m->id = xstrdup(s);
	return 0;
}

/* remoteEndpoint: optional, but when present a numeric address and a port. */
static int parse_peer(json_t *ep, struct hcmsg *m, char *err, size_t errlen)
{
	const char *addr = json_string_value(json_object_get(ep, "address"));
	json_t *port = json_object_get(ep, "port");
	struct in6_addr a6;
	bool v6;

	snprintf(m->peer, sizeof(m->peer), "-");
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
	return 0;
}

static int parse_body(json_t *o, enum hcmsg_kind kind, struct hcmsg *m, char *err,
		      size_t errlen)
{
	json_t *addr = json_object_get(o, "address");
	const char *what = kind == HCMSG_ACCEPT ? "accept" : "request";
	char why[200];
	int r;

	m->kind = kind;
	if (!json_is_object(o))
		return azb_err(err, errlen, "%s is not an object", what);
	if (!addr && kind == HCMSG_ACCEPT)
		return azb_err(err, errlen, "accept without an address");
	if (addr && !json_is_string(addr))
		return azb_err(err, errlen, "%s address is not a string", what);
	r = addr ? parse_address(json_string_value(addr), &m->addr, why, sizeof(why)) : 0;
	if (r == 0 && (r = parse_id(json_object_get(o, "id"), m, why, sizeof(why))) == 0 &&
	    !m->id && kind == HCMSG_REQUEST)
		r = azb_err(why, sizeof(why), "no id");
	if (r == 0)
		r = parse_peer(json_object_get(o, "remoteEndpoint"), m, why, sizeof(why));
	if (r < 0)
		return azb_err(err, errlen, "%s: %s", what, why);
	m->body = json_is_true(json_object_get(o, "body"));
	return 0;
}

static int parse_object(json_t *j, struct hcmsg *m, char *err, size_t errlen)
{
	json_t *acc = json_object_get(j, "accept"), *req = json_object_get(j, "request");

	if (acc && req)
		return azb_err(err, errlen, "both an accept and a request in one message");
	if (acc)
		return parse_body(acc, HCMSG_ACCEPT, m, err, errlen);
	if (req)
		return parse_body(req, HCMSG_REQUEST, m, err, errlen);
	return 0;
}

int hcmsg_parse(const char *text, size_t len, struct hcmsg *m, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *j;
	int r;

	memset(m, 0, sizeof(*m));
	snprintf(m->peer, sizeof(m->peer), "-");
	if (len > HCMSG_MAX)
		return azb_err(err, errlen, "message of %zu bytes, over the %d-byte limit", len,
			       HCMSG_MAX);
	j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j || !json_is_object(j)) {
		r = j ? azb_err(err, errlen, "not a JSON object") :
			fail(err, errlen, "not JSON:", jerr.text);
		json_decref(j);
		return r;
	}
	r = parse_object(j, m, err, errlen);
	json_decref(j);
	if (r < 0)
		hcmsg_clear(m);
	return r;
}

void hcmsg_clear(struct hcmsg *m)
{
	free(m->id);
	free(m->addr.host);
	free(m->addr.target);
	memset(m, 0, sizeof(*m));
	snprintf(m->peer, sizeof(m->peer), "-");
}

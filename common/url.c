#include "url.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static bool unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static char *encode(const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	struct sbuf b;

	sbuf_init(&b);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (unreserved(*p) || (keep_slash && *p == '/')) {
			sbuf_addc(&b, (char)*p);
		} else {
			sbuf_addc(&b, '%');
			sbuf_addc(&b, hex[*p >> 4]);
			sbuf_addc(&b, hex[*p & 15]);
		}
	}
	return sbuf_take(&b);
}

char *url_encode(const char *s)
{
	return encode(s, false);
}

char *url_encode_path(const char *s)
{
	return encode(s, true);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

char *url_decode(const char *s, bool plus_space)
{
	char *out = xmalloc(strlen(s) + 1), *o = out;

	for (; *s; s++) {
		if (*s == '%') {
			int hi = hexval(s[1]), lo = hi < 0 ? -1 : hexval(s[2]);

			/* %00 would cut the C string short: what follows it
			 * would silently vanish from what the caller checks. */
			if (hi < 0 || lo < 0 || (hi | lo) == 0) {
				free(out);
				return NULL;
			}
			*o++ = (char)(hi << 4 | lo);
			s += 2;
		} else {
			*o++ = plus_space && *s == '+' ? ' ' : *s;
		}
	}
	*o = '\0';
	return out;
}

void url_parts_clear(struct url_parts *p)
{
	free(p->scheme);
	free(p->host);
	free(p->path);
	memset(p, 0, sizeof(*p));
}

static int parse_port(const char *s, size_t n, uint16_t *port)
{
	char buf[8];
	long v;

	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (!azb_is_uint(buf) || azb_parse_int(buf, 1, 65535, &v) < 0)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

/* host[:port] or [v6][:port], up to end. */
static int split_authority(const char *a, const char *end, struct url_parts *out)
{
	const char *hend, *colon = NULL;

	if (*a == '[') {
		hend = memchr(a, ']', (size_t)(end - a));
		if (!hend || hend == a + 1)
			return -EINVAL;
		out->host = xstrndup(a + 1, (size_t)(hend - a - 1));
		if (hend + 1 < end && hend[1] != ':')
			return -EINVAL;
		colon = hend + 1 < end ? hend + 1 : NULL;
	} else {
		colon = memchr(a, ':', (size_t)(end - a));
		hend = colon ? colon : end;
		if (hend == a)
			return -EINVAL;
		out->host = xstrndup(a, (size_t)(hend - a));
		for (const char *p = out->host; *p; p++)
			if (isspace((unsigned char)*p) || *p == '@' || *p == '[' || *p == ']')
				return -EINVAL;
	}
	if (colon)
		return parse_port(colon + 1, (size_t)(end - colon - 1), &out->port);
	return 0;
}

int url_split(const char *url, struct url_parts *out)
{
	const char *sep = strstr(url, "://"), *a, *end;
	int r;

	memset(out, 0, sizeof(*out));
	if (!sep || sep == url)
		return -EINVAL;
	for (const char *p = url; p < sep; p++)
		if (!isalnum((unsigned char)*p) && *p != '+' && *p != '-' && *p != '.')
			return -EINVAL;
	out->scheme = xstrndup(url, (size_t)(sep - url));
	a = sep + 3;
	end = a + strcspn(a, "/?#");
	r = split_authority(a, end, out);
	if (r == 0)
		out->path = xstrdup(*end ? end : "/");
	if (r < 0)
		url_parts_clear(out);
	return r;
}

int url_endpoint(const char *endpoint, char **host, uint16_t *port)
{
	struct url_parts p;
	char *tmp = NULL;
	int r;

	if (!endpoint || !*endpoint)
		return -EINVAL;
	if (!strstr(endpoint, "://"))
		endpoint = tmp = xasprintf("sb://%s", endpoint);
	r = url_split(endpoint, &p);
	free(tmp);
	if (r < 0)
		return r;
	if (strcmp(p.scheme, "sb") != 0 && strcmp(p.scheme, "https") != 0 &&
	    strcmp(p.scheme, "wss") != 0) {
		url_parts_clear(&p);
		return -EINVAL;
	}
	*host = p.host;
	*port = p.port ? p.port : 443;
	p.host = NULL;
	url_parts_clear(&p);
	return 0;
}

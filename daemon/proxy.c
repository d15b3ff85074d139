#include "proxy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "url.h"
#include "util.h"

#define PROXY_UA "azbridge/" AZB_VERSION
#define REASON_MAX 80

/* ---- no_proxy ---------------------------------------------------------- */

static bool cidr_match(int af, const char *host, const char *net, unsigned bits)
{
	unsigned char a[16], b[16];
	unsigned all = af == AF_INET ? 32 : 128, whole, rest;

	if (bits > all || inet_pton(af, host, a) != 1 || inet_pton(af, net, b) != 1)
		return false;
	if (bits == 0)
		bits = all;   /* no prefix: the address itself */
	whole = bits / 8;
	rest = bits % 8;
	if (memcmp(a, b, whole) != 0)
		return false;
	return !rest || ((a[whole] ^ b[whole]) & (0xff << (8 - rest)) & 0xff) == 0;
}

static bool ip_item(int af, const char *host, const char *tok, size_t n)
{
	char item[128], *slash, *at = item, *end;
	unsigned bits = 0;

	if (n >= sizeof(item))
		return false;
	memcpy(item, tok, n);
	item[n] = '\0';
	slash = strchr(item, '/');
	if (slash) {
		bits = (unsigned)atoi(slash + 1);
		*slash = '\0';
	}
	/* [::1] as in a URL (curl 8 takes it too) */
	end = item + strlen(item);
	if (item[0] == '[' && end > item + 1 && end[-1] == ']') {
		at = item + 1;
		end[-1] = '\0';
	}
	return cidr_match(af, host, at, bits);
}

static bool name_item(const char *name, size_t len, const char *tok, size_t n)
{
	if (n && tok[n - 1] == '.')
		n--;
	if (n && tok[0] == '.') {
		tok++;
		n--;
	}
	if (n == len)
		return strncasecmp(tok, name, len) == 0;
	return n && n < len && name[len - n - 1] == '.' &&
	       strncasecmp(tok, name + len - n, n) == 0;
}

static int host_family(const char *host)
{
	unsigned char buf[16];

	if (inet_pton(AF_INET, host, buf) == 1)
		return AF_INET;
	return inet_pton(AF_INET6, host, buf) == 1 ? AF_INET6 : 0;
}

static bool item_matches(const char *host, int af, const char *tok, size_t n)
{
	size_t len = strlen(host);

	if (af)
		return ip_item(af, host, tok, n);
	if (len && host[len - 1] == '.')
		len--;
	return name_item(host, len, tok, n);
}

/* As curl's loop: an item ends at a blank or a comma, and the list at
 * anything but a comma after the blanks that follow an item. */
bool proxy_excluded(const char *no_proxy, const char *host)
{
	const char *p = no_proxy;
	int af = host_family(host);

	if (!p || !*p || !*host)
		return false;
	if (strcmp(p, "*") == 0)
		return true;
	while (*p) {
		size_t n;

		p += strspn(p, " \t");
		n = strcspn(p, " \t,");
		if (n && item_matches(host, af, p, n))
			return true;
		p += n;
		p += strspn(p, " \t");
		if (*p != ',')
			break;
		p += strspn(p, ",");
	}
	return false;
}

/* ---- proxy URLs -------------------------------------------------------- */

void proxy_route_clear(struct proxy_route *r)
{
	free(r->host);
	free(r->where);
	free(r->user);
	azb_free_secret(r->password);
	memset(r, 0, sizeof(*r));
}

static int take_userinfo(struct proxy_route *r, const char *ui, size_t n)
{
	char *copy = xstrndup(ui, n), *colon = strchr(copy, ':');

	if (colon)
		*colon = '\0';
	r->user = url_decode(copy, false);
	r->password = colon ? url_decode(colon + 1, false) : xstrdup("");
	azb_free_secret(copy);
	return r->user && r->password ? 0 : -EINVAL;
}

int proxy_parse_url(const char *url, struct proxy_route *r, char *err, size_t len)
{
	const char *sep = strstr(url, "://"), *auth = sep ? sep + 3 : url, *at;
	struct url_parts p;
	char *plain;
	int e;

	memset(r, 0, sizeof(*r));
	if (sep && strncasecmp(url, "http://", 7) != 0)
		return azb_err(err, len, "only an http:// proxy can carry the relay's TLS");
	at = memchr(auth, '@', strcspn(auth, "/?#"));
	if (at && take_userinfo(r, auth, (size_t)(at - auth)) < 0) {
		proxy_route_clear(r);
		return azb_err(err, len, "the proxy's user or password has a bad %% escape");
	}
	plain = xasprintf("http://%s", at ? at + 1 : auth);
	e = url_split(plain, &p);
	free(plain);
	if (e < 0 || strcmp(p.path, "/") != 0) {
		url_parts_clear(&p);
		proxy_route_clear(r);
		return azb_err(err, len, "not http://HOST[:PORT]");
	}
	r->host = p.host;
	r->port = p.port ? p.port : PROXY_PORT_DEFAULT;
	p.host = NULL;
	url_parts_clear(&p);
	return 0;
}

/* ---- the decision ------------------------------------------------------ */

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;   /* as curl_getenv: empty is unset */
}

/* The variable that names the proxy for scheme, as curl looks for it. */
static const char *env_proxy(const char *scheme, char *name, size_t len)
{
	const char *v;

	snprintf(name, len, "%s_proxy", scheme);
	for (char *p = name; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	v = env(name);
	if (!v && strcmp(name, "http_proxy") != 0) {   /* HTTP_PROXY: a CGI header */
		for (char *p = name; *p; p++)
			*p = (char)toupper((unsigned char)*p);
		v = env(name);
	}
	if (!v) {
		snprintf(name, len, "all_proxy");
		v = env(name);
	}
	if (!v) {
		snprintf(name, len, "ALL_PROXY");
		v = env(name);
	}
	return v;
}

static bool link_local(const char *host)
{
	return cidr_match(AF_INET, host, "169.254.0.0", 16) ||
	       cidr_match(AF_INET6, host, "fe80::", 10);
}

static void describe(struct proxy_route *r, const char *from)
{
	bool v6 = strchr(r->host, ':') != NULL;

	r->where = xasprintf("proxy %s%s%s:%u from %s", v6 ? "[" : "", r->host, v6 ? "]" : "",
			     r->port, from);
}

static void set_credentials(struct proxy_route *r, const struct azb_proxy *set)
{
	if (!set || !set->user)
		return;
	free(r->user);
	azb_free_secret(r->password);
	r->user = xstrdup(set->user);
	r->password = xstrdup(set->password ? set->password : "");
}

int proxy_route(const struct azb_proxy *set, const char *scheme, const char *host,
		struct proxy_route *r, char *err, size_t len)
{
	const char *url = set ? set->url : NULL, *from = "the setting proxy";
	char name[64], why[160];
	const char *no;

	memset(r, 0, sizeof(*r));
	if (!url) {
		url = env_proxy(scheme, name, sizeof(name));
		from = name;
		no = env("no_proxy") ? env("no_proxy") : env("NO_PROXY");
		if (url && proxy_excluded(no, host))
			url = NULL;
	}
	if (!url || !*url || strcmp(url, "direct") == 0 || link_local(host))
		return 0;
	if (proxy_parse_url(url, r, why, sizeof(why)) < 0)
		return azb_err(err, len, "%s: %s", from, why);
	set_credentials(r, set);
	describe(r, from);
	return 0;
}

/* ---- the exchange ------------------------------------------------------ */

static char *basic(const char *user, const char *password)
{
	char *pair = xasprintf("%s:%s", user, password);
	size_t n = strlen(pair);
	char *out = xmalloc(4 * ((n + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)pair, (int)n);
	azb_free_secret(pair);
	return out;
}

char *proxy_request(const struct proxy_route *r, const char *host, uint16_t port)
{
	bool v6 = strchr(host, ':') != NULL;
	char *target = xasprintf("%s%s%s:%u", v6 ? "[" : "", host, v6 ? "]" : "", port);
	struct sbuf b;
	char *cred;

	sbuf_init(&b);
	sbuf_printf(&b, "CONNECT %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: " PROXY_UA "\r\n", target,
		    target);
	if (r->user) {
		cred = basic(r->user, r->password ? r->password : "");
		sbuf_printf(&b, "Proxy-Authorization: Basic %s\r\n", cred);
		azb_free_secret(cred);
	}
	sbuf_add(&b, "\r\n");
	free(target);
	return sbuf_take(&b);
}

/* The reason phrase, kept to printable characters and a sane length. */
static void reason_text(const char *in, char *out, size_t len)
{
	size_t n = 0;

	for (; in && *in && n + 1 < len && n < REASON_MAX; in++)
		out[n++] = isprint((unsigned char)*in) ? *in : '?';
	out[n] = '\0';
}

int proxy_answer(struct http1_head *h, const uint8_t *data, size_t len, size_t *used,
		 const struct proxy_route *r, char *why, size_t wlen)
{
	int e = http1_feed_response(h, (const char *)data, len, used);
	char reason[REASON_MAX + 1];

	if (e == -E2BIG)
		return azb_errn(why, wlen, -E2BIG, "%s: its answer's head is over %d bytes", r->where,
				PROXY_HEAD_MAX);
	if (e < 0)
		return azb_errn(why, wlen, -EPROTO, "%s: its answer is not HTTP", r->where);
	if (e == 0)
		return 0;
	if (h->status / 100 == 2)
		return 1;
	reason_text(h->reason, reason, sizeof(reason));
	return azb_errn(why, wlen, -ECONNREFUSED, "%s refused the tunnel: %d %s", r->where,
			h->status, reason);
}

/* ---- the global settings, for the worker thread ------------------------ */

static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;
static struct azb_proxy global;

void proxy_set_global(const struct azb_proxy *p)
{
	pthread_mutex_lock(&global_lock);
	cred_proxy_clear(&global);
	cred_proxy_copy(&global, p);
	pthread_mutex_unlock(&global_lock);
}

int proxy_route_global(const char *scheme, const char *host, struct proxy_route *r, char *err,
		       size_t len)
{
	int e;

	pthread_mutex_lock(&global_lock);
	e = proxy_route(&global, scheme, host, r, err, len);
	pthread_mutex_unlock(&global_lock);
	return e;
}

void proxy_global_clear(void)
{
	pthread_mutex_lock(&global_lock);
	cred_proxy_clear(&global);
	pthread_mutex_unlock(&global_lock);
}

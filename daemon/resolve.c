#include "resolve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "loop.h"
#include "util.h"

struct cache_entry {
	char *host;
	int family;                /* AF_UNSPEC, AF_INET or AF_INET6 asked for */
	struct resolve_result res;
	int64_t expires;
	struct cache_entry *next;
};

struct resolve_req {
	struct loop_work work;     /* first: the loop hands it back */
	char *host;
	int family;
	resolve_cb cb;
	void *arg;
	int err;
	struct resolve_result res;
};

static struct cache_entry *cache;

static int64_t now_us(void)
{
	return (int64_t)lws_now_usecs();
}

static int numeric(const char *host, struct resolve_result *res)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&res->addr;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&res->addr;

	memset(res, 0, sizeof(*res));
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		res->len = sizeof(*s4);
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		res->len = sizeof(*s6);
	} else {
		return 0;
	}
	snprintf(res->text, sizeof(res->text), "%s", host);
	return 1;
}

static struct cache_entry *cache_find(const char *host, int family)
{
	for (struct cache_entry *e = cache; e; e = e->next)
		if (e->family == family && strcasecmp(e->host, host) == 0)
			return e;
	return NULL;
}

static void cache_put(const char *host, int family, const struct resolve_result *res)
{
	struct cache_entry *e = cache_find(host, family);

	if (!e) {
		e = xcalloc(1, sizeof(*e));
		e->host = xstrdup(host);
		e->family = family;
		e->next = cache;
		cache = e;
	}
	e->res = *res;
	e->expires = now_us() + RESOLVE_TTL_US;
}

void resolve_flush(void)
{
	while (cache) {
		struct cache_entry *e = cache;

		cache = e->next;
		free(e->host);
		free(e);
	}
}

/* Blocking. Without a family, prefer IPv4 for "localhost"-style names as
 * most services listen there; take the first address otherwise. */
static int lookup(const char *host, int family, struct resolve_result *res)
{
	struct addrinfo hints = { .ai_family = family, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_ADDRCONFIG };
	struct addrinfo *ai = NULL, *pick;
	int rc = getaddrinfo(host, NULL, &hints, &ai);

	if (rc != 0 || !ai)
		return rc == EAI_NONAME || rc == EAI_NODATA ? -ENOENT : -EHOSTUNREACH;
	pick = ai;
	for (struct addrinfo *a = ai; a && family == AF_UNSPEC; a = a->ai_next)
		if (a->ai_family == AF_INET) {
			pick = a;
			break;
		}
	memset(res, 0, sizeof(*res));
	memcpy(&res->addr, pick->ai_addr, pick->ai_addrlen);
	res->len = pick->ai_addrlen;
	getnameinfo(pick->ai_addr, pick->ai_addrlen, res->text, sizeof(res->text), NULL, 0,
		    NI_NUMERICHOST);
	freeaddrinfo(ai);
	return 0;
}

/* Worker thread. */
static void do_lookup(struct loop_work *w)
{
	struct resolve_req *r = (struct resolve_req *)w;

	r->err = lookup(r->host, r->family, &r->res);
}

static void lookup_done(struct loop_work *w)
{
	struct resolve_req *r = (struct resolve_req *)w;

	if (w->cancelled)
		r->err = -ECANCELED;
	if (r->err == 0)
		cache_put(r->host, r->family, &r->res);
	if (r->cb)
		r->cb(r->arg, r->err, &r->res);
	free(r->host);
	free(r);
}

/* A numeric host of the wrong family is not an answer. */
static int numeric_of(const char *host, int family, struct resolve_result *res)
{
	if (!numeric(host, res))
		return 0;
	return family == AF_UNSPEC || res->addr.ss_family == family ? 1 : -EAFNOSUPPORT;
}

int resolve_host_af(const char *host, int family, struct resolve_result *res, resolve_cb cb,
		    void *arg, struct resolve_req **req)
{
	struct cache_entry *e;
	struct resolve_req *r;
	int n;

	*req = NULL;
	n = numeric_of(host, family, res);
	if (n != 0)
		return n;
	e = cache_find(host, family);
	if (e && e->expires > now_us()) {
		*res = e->res;
		return 1;
	}
	r = xcalloc(1, sizeof(*r));
	r->work.work = do_lookup;
	r->work.done = lookup_done;
	r->host = xstrdup(host);
	r->family = family;
	r->cb = cb;
	r->arg = arg;
	*req = r;
	loop_submit(&r->work);
	return 0;
}

int resolve_host(const char *host, struct resolve_result *res, resolve_cb cb, void *arg,
		 struct resolve_req **req)
{
	return resolve_host_af(host, AF_UNSPEC, res, cb, arg, req);
}

int resolve_now(const char *host, struct resolve_result *res)
{
	int r = numeric_of(host, AF_UNSPEC, res);

	if (r)
		return 0;
	r = lookup(host, AF_UNSPEC, res);
	if (r == 0)
		cache_put(host, AF_UNSPEC, res);
	return r;
}

void resolve_cancel(struct resolve_req *req)
{
	if (req)
		req->cb = NULL;
}

socklen_t resolve_sockaddr(const struct resolve_result *res, uint16_t port,
			   struct sockaddr_storage *out)
{
	*out = res->addr;
	if (out->ss_family == AF_INET)
		((struct sockaddr_in *)out)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)out)->sin6_port = htons(port);
	return res->len;
}

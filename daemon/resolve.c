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
	struct resolve_list list;
	struct sockaddr_storage good;   /* resolve_prefer()'s; family 0: none */
	int64_t expires;
	struct cache_entry *next;
};

struct resolve_req {
	struct loop_work work;     /* first: the loop hands it back */
	char *host;
	int family;
	resolve_cb cb;             /* one of these */
	resolve_list_cb list_cb;
	void *arg;
	int err;
	struct resolve_list list;
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

static bool same_addr(const struct sockaddr *a, const struct sockaddr_storage *b)
{
	if (a->sa_family != b->ss_family)
		return false;
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return a->sa_family == AF_INET6 &&
	       memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		      &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
}

/* The preferred index is worked out on the way out: the list may be new. */
static void list_of(const struct cache_entry *e, struct resolve_list *out)
{
	*out = e->list;
	out->preferred = -1;
	for (int i = 0; i < out->n && e->good.ss_family; i++)
		if (same_addr((const struct sockaddr *)&e->good, &out->a[i].addr))
			out->preferred = i;
}

static void cache_put(const char *host, int family, const struct resolve_list *list)
{
	struct cache_entry *e = cache_find(host, family);

	if (!e) {
		e = xcalloc(1, sizeof(*e));
		e->host = xstrdup(host);
		e->family = family;
		e->next = cache;
		cache = e;
	}
	e->list = *list;
	e->expires = now_us() + RESOLVE_TTL_US;
}

void resolve_prefer(const char *host, const struct sockaddr *sa)
{
	struct cache_entry *e = cache_find(host, AF_UNSPEC);

	if (e && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6))
		memcpy(&e->good, sa, sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) :
								  sizeof(struct sockaddr_in6));
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

/* Without a family, prefer IPv4 for "localhost"-style names as most
 * services listen there; take the first address otherwise. */
static void pick(const struct resolve_list *list, int family, struct resolve_result *res)
{
	*res = list->a[0];
	for (int i = 0; i < list->n && family == AF_UNSPEC; i++)
		if (list->a[i].addr.ss_family == AF_INET) {
			*res = list->a[i];
			return;
		}
}

static bool listed(const struct resolve_list *list, const struct sockaddr *sa)
{
	for (int i = 0; i < list->n; i++)
		if (same_addr(sa, &list->a[i].addr))
			return true;
	return false;
}

static void list_add(struct resolve_list *list, const struct sockaddr *sa, socklen_t len)
{
	struct resolve_result *r;

	if (list->n == RESOLVE_MAX || len > sizeof(r->addr) || listed(list, sa))
		return;
	r = &list->a[list->n++];
	memset(r, 0, sizeof(*r));
	memcpy(&r->addr, sa, len);
	r->len = len;
	getnameinfo(sa, len, r->text, sizeof(r->text), NULL, 0, NI_NUMERICHOST);
}

/* Blocking. */
static int lookup(const char *host, int family, struct resolve_list *list)
{
	struct addrinfo hints = { .ai_family = family, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_ADDRCONFIG };
	struct addrinfo *ai = NULL;
	int rc = getaddrinfo(host, NULL, &hints, &ai);

	if (rc != 0 || !ai)
		return rc == EAI_NONAME || rc == EAI_NODATA ? -ENOENT : -EHOSTUNREACH;
	list->n = 0;
	list->preferred = -1;
	for (struct addrinfo *a = ai; a; a = a->ai_next)
		if (a->ai_family == AF_INET || a->ai_family == AF_INET6)
			list_add(list, a->ai_addr, a->ai_addrlen);
	freeaddrinfo(ai);
	return list->n ? 0 : -ENOENT;
}

/* Worker thread. */
static void do_lookup(struct loop_work *w)
{
	struct resolve_req *r = (struct resolve_req *)w;

	r->err = lookup(r->host, r->family, &r->list);
}

static void lookup_done(struct loop_work *w)
{
	struct resolve_req *r = (struct resolve_req *)w;
	struct resolve_result res = { .len = 0 };

	if (w->cancelled)
		r->err = -ECANCELED;
	if (r->err == 0) {
		cache_put(r->host, r->family, &r->list);
		list_of(cache_find(r->host, r->family), &r->list);
		pick(&r->list, r->family, &res);
	}
	if (r->cb)
		r->cb(r->arg, r->err, &res);
	if (r->list_cb)
		r->list_cb(r->arg, r->err, &r->list);
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

static struct resolve_req *submit(const char *host, int family, void *arg)
{
	struct resolve_req *r = xcalloc(1, sizeof(*r));

	r->work.work = do_lookup;
	r->work.done = lookup_done;
	r->host = xstrdup(host);
	r->family = family;
	r->arg = arg;
	loop_submit(&r->work);
	return r;
}

static const struct cache_entry *fresh(const char *host, int family)
{
	const struct cache_entry *e = cache_find(host, family);

	return e && e->expires > now_us() ? e : NULL;
}

int resolve_host_af(const char *host, int family, struct resolve_result *res, resolve_cb cb,
		    void *arg, struct resolve_req **req)
{
	const struct cache_entry *e;
	int n;

	*req = NULL;
	n = numeric_of(host, family, res);
	if (n != 0)
		return n;
	e = fresh(host, family);
	if (e) {
		pick(&e->list, family, res);
		return 1;
	}
	*req = submit(host, family, arg);
	(*req)->cb = cb;
	return 0;
}

int resolve_host(const char *host, struct resolve_result *res, resolve_cb cb, void *arg,
		 struct resolve_req **req)
{
	return resolve_host_af(host, AF_UNSPEC, res, cb, arg, req);
}

int resolve_host_all(const char *host, struct resolve_list *out, resolve_list_cb cb, void *arg,
		     struct resolve_req **req)
{
	const struct cache_entry *e;

	*req = NULL;
	out->n = 0;
	out->preferred = -1;
	if (numeric(host, &out->a[0])) {
		out->n = 1;
		return 1;
	}
	e = fresh(host, AF_UNSPEC);
	if (e) {
		list_of(e, out);
		return 1;
	}
	*req = submit(host, AF_UNSPEC, arg);
	(*req)->list_cb = cb;
	return 0;
}

int resolve_now(const char *host, struct resolve_result *res)
{
	struct resolve_list list;
	int r = numeric_of(host, AF_UNSPEC, res);

	if (r)
		return 0;
	r = lookup(host, AF_UNSPEC, &list);
	if (r == 0) {
		cache_put(host, AF_UNSPEC, &list);
		pick(&list, AF_UNSPEC, res);
	}
	return r;
}

void resolve_cancel(struct resolve_req *req)
{
	if (req) {
		req->cb = NULL;
		req->list_cb = NULL;
	}
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

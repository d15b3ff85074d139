/* Host name resolution off the loop (lws 4.1.6 would call getaddrinfo() on
 * the loop thread), with a small cache so new tunnels do not wait for DNS. */
#ifndef AZB_RESOLVE_H
#define AZB_RESOLVE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define RESOLVE_TTL_US (60LL * 1000000)

struct resolve_result {
	struct sockaddr_storage addr;   /* port 0 */
	socklen_t len;
	char text[INET6_ADDRSTRLEN];    /* numeric form */
};

/* Every address of a name, as getaddrinfo orders them (RFC 6724), at most
 * RESOLVE_MAX; preferred is the index of the one resolve_prefer() last
 * named for it, or -1. */
#define RESOLVE_MAX 16
struct resolve_list {
	int n;
	int preferred;
	struct resolve_result a[RESOLVE_MAX];
};

typedef void (*resolve_cb)(void *arg, int err, const struct resolve_result *res);
typedef void (*resolve_list_cb)(void *arg, int err, const struct resolve_list *list);
struct resolve_req;

/* Numeric hosts and fresh cache entries answer at once: returns 1 with *res
 * filled. Otherwise returns 0 and calls cb later from the loop, unless
 * cancelled; *req is the handle for resolve_cancel(). */
int resolve_host(const char *host, struct resolve_result *res, resolve_cb cb, void *arg,
		 struct resolve_req **req);
/* The same for one address family (AF_UNSPEC: any); a numeric host of the
 * other family gives -EAFNOSUPPORT at once. */
int resolve_host_af(const char *host, int family, struct resolve_result *res, resolve_cb cb,
		    void *arg, struct resolve_req **req);
/* The same for every address of host (any family), from the same cache. */
int resolve_host_all(const char *host, struct resolve_list *out, resolve_list_cb cb, void *arg,
		     struct resolve_req **req);
/* sa (port ignored) is the address of host that worked last: the next
 * list names it as preferred, across refreshes, while the name is cached. */
void resolve_prefer(const char *host, const struct sockaddr *sa);
/* Blocking, for before the loop runs (start-up, -n): 0 with *res (also
 * cached), -ENOENT when the name does not resolve, -EHOSTUNREACH when it
 * cannot be looked up. */
int resolve_now(const char *host, struct resolve_result *res);
void resolve_cancel(struct resolve_req *req);
void resolve_flush(void);   /* drop the cache */
/* A copy of res's address with port set; returns its length. */
socklen_t resolve_sockaddr(const struct resolve_result *res, uint16_t port,
			   struct sockaddr_storage *out);

#endif

#include "dial.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "binding.h"
#include "log.h"
#include "loop.h"
#include "reach.h"
#include "resolve.h"
#include "util.h"

struct dial {
	struct resolve_req *rr;
	struct reach *reach;           /* TCP from any source: every address */
	int sotype;
	uint16_t port;
	char *bind_name;               /* bind_address (-b), or NULL */
	struct resolve_result target;
	dial_cb cb;
	void *arg;
};

/* ---- the source address ----------------------------------------------------- */

static const char *family_name(int family)
{
	return family == AF_INET6 ? "IPv6 " : family == AF_INET ? "IPv4 " : "";
}

/* Is the looked-up source usable? 0, or -EADDRNOTAVAIL with the reason. */
static int source_ok(const char *name, int family, int err, const struct resolve_result *src,
		     char *why, size_t len)
{
	char tmp[200];

	if (err == -EAFNOSUPPORT)
		return azb_errn(why, len, -EADDRNOTAVAIL, "bind_address %s is not an %saddress",
				name, family_name(family));
	if (err == -ENOENT && family)
		return azb_errn(why, len, -EADDRNOTAVAIL, "bind_address \"%s\" has no %saddress "
				"(for an %starget)", name, family_name(family), family_name(family));
	if (err == -ENOENT)
		return azb_errn(why, len, -EADDRNOTAVAIL, "bind_address \"%s\" does not resolve",
				name);
	if (err < 0)
		return azb_errn(why, len, -EADDRNOTAVAIL, "bind_address \"%s\" cannot be looked up "
				"now (DNS)", name);
	if (bnd_check_bind_address(src->text, tmp, sizeof(tmp)) < 0)
		return azb_errn(why, len, -EADDRNOTAVAIL, "bind_address \"%s\" resolves to %s, not "
				"a local address", name, src->text);
	return 0;
}

/* Logged once per change: every tunnel would say the same. */
static void report_source(int r, const char *why)
{
	static char last[300];

	if (r == 0) {
		last[0] = '\0';
		return;
	}
	if (strcmp(last, why) == 0)
		return;
	snprintf(last, sizeof(last), "%s", why);
	log_error("%s; remote forwards cannot dial their targets until it does", why);
}

static void probed(void *arg, int err, const struct resolve_result *res)
{
	char why[300];

	if (err != -ECANCELED)
		report_source(source_ok(arg, AF_UNSPEC, err, res, why, sizeof(why)), why);
	free(arg);
}

int dial_check_source(const char *name, char *why, size_t len)
{
	struct resolve_result res;
	struct resolve_req *req;
	char *copy;

	if (!loop_context())
		return source_ok(name, AF_UNSPEC, resolve_now(name, &res), &res, why, len);
	copy = xstrdup(name);
	if (resolve_host(name, &res, probed, copy, &req) == 0)
		return 1;
	free(copy);
	return source_ok(name, AF_UNSPEC, 0, &res, why, len);
}

/* ---- connecting ------------------------------------------------------------- */

static int bind_source(int fd, const struct resolve_result *src)
{
	if (!src)
		return 0;
	return bind(fd, (const struct sockaddr *)&src->addr, src->len) < 0 ? -errno : 0;
}

static int connect_inet(const struct resolve_result *res, uint16_t port, int sotype,
			const struct resolve_result *src)
{
	struct sockaddr_storage sa = res->addr;
	int one = 1, fd, r;

	if (sa.ss_family == AF_INET)
		((struct sockaddr_in *)&sa)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&sa)->sin6_port = htons(port);
	fd = socket(sa.ss_family, sotype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (sotype == SOCK_STREAM)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	r = bind_source(fd, src);
	if (r == 0 && connect(fd, (struct sockaddr *)&sa, res->len) < 0 && errno != EINPROGRESS)
		r = -errno;
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

static void finish(struct dial *d, int fd)
{
	d->cb(d->arg, fd < 0 ? -1 : fd, fd < 0 ? fd : 0);
	free(d->bind_name);
	free(d);
}

/* A bind address that cannot be used fails the dial: leaving from another
 * address would be a silent surprise. */
static void source_resolved(void *arg, int err, const struct resolve_result *src)
{
	struct dial *d = arg;
	char why[300];
	int r = source_ok(d->bind_name, d->target.addr.ss_family, err, src, why, sizeof(why));

	d->rr = NULL;
	report_source(r, why);
	finish(d, r < 0 ? r : connect_inet(&d->target, d->port, d->sotype, src));
}

/* True when d is done (its callback called, d freed). */
static bool target_done(struct dial *d, int err, const struct resolve_result *res)
{
	struct resolve_result src;
	int r;

	d->rr = NULL;
	if (err < 0 || !d->bind_name) {
		finish(d, err < 0 ? err : connect_inet(res, d->port, d->sotype, NULL));
		return true;
	}
	d->target = *res;
	/* The source is of the target's family: localhost has both. */
	r = resolve_host_af(d->bind_name, res->addr.ss_family, &src, source_resolved, d, &d->rr);
	if (r == 0)
		return false;
	source_resolved(d, r < 0 ? r : 0, &src);
	return true;
}

static void target_resolved(void *arg, int err, const struct resolve_result *res)
{
	target_done(arg, err, res);
}

static void reached(void *arg, int fd, int err, const char *why)
{
	struct dial *d = arg;

	d->reach = NULL;
	if (why)
		log_debug("target: %s", why);   /* the tunnel tells the rest */
	finish(d, fd < 0 ? err : fd);
}

struct dial *dial_inet(const char *host, uint16_t port, int type, const char *bind_address,
		       dial_cb cb, void *arg)
{
	struct resolve_result res;
	struct dial *d = xcalloc(1, sizeof(*d));

	d->sotype = type;
	d->port = port;
	d->bind_name = bind_address ? xstrdup(bind_address) : NULL;
	d->cb = cb;
	d->arg = arg;
	/* A bind address is of one family: those dials keep to one address. */
	if (type == SOCK_STREAM && !bind_address) {
		d->reach = reach_open(host, port, reached, d);
		return d;
	}
	if (resolve_host(host, &res, target_resolved, d, &d->rr) == 1 && target_done(d, 0, &res))
		return NULL;
	return d;
}

void dial_cancel(struct dial *d)
{
	/* The resolver still calls back once; make that a no-op. */
	resolve_cancel(d->rr);
	reach_cancel(d->reach);
	free(d->bind_name);
	free(d);
}

int dial_result(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	return -err;
}

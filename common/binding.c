/* The original tool's forwarding-rule grammar, bug-compatible where scripts
 * depend on it, plus two extensions:
 *
 *  - IPv6 literals in brackets: -L "[::1]:8080/web:relay", -T "relay:web/[::1]:8080",
 *    -R "relay:[::1]:web/8080", -H "relay:http/[::1]:8080".
 *  - Absolute Unix socket paths: -L "/run/app.sock:relay" (port name = the
 *    file's name), -L "[/run/app.sock]/name:relay" (brackets also allow ':'
 *    in the path); -T "relay:/run/app.sock", -T "relay:name//run/app.sock" or
 *    -T "relay:name/[/run/app.sock]".
 *
 * Also -H "relay:https/443" means https://localhost:443/, as the original's
 * documentation says (its parser read "443" as a host name).
 */
#include "binding.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cred.h"
#include "util.h"

#define NAME_MAX_LEN 64

struct pctx {
	char opt;            /* 'L', 'T', 'R', 'H' */
	const char *expr;
	char *err;
	size_t errlen;
};

static int fail(const struct pctx *c, const char *fmt, ...) AZB_PRINTF(2, 3);

static int fail(const struct pctx *c, const char *fmt, ...)
{
	char detail[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return azb_err(c->err, c->errlen, "invalid -%c expression \"%s\": %s", c->opt, c->expr,
		       detail);
}

const char *bnd_kind_name(enum azb_kind k)
{
	static const char *names[] = { "tcp", "udp", "unix", "http" };

	return names[k];
}

/* ---- validation -------------------------------------------------------- */

static bool relay_char(char ch)
{
	return isalnum((unsigned char)ch) || ch == '/' || ch == '_' || ch == '-' || ch == '.';
}

int bnd_check_relay_name(const char *s, char *err, size_t errlen)
{
	if (!*s)
		return azb_err(err, errlen, "relay name is empty");
	for (const char *p = s; *p; p++)
		if (!relay_char(*p))
			return azb_err(err, errlen, "relay name \"%s\" is invalid: use letters, digits, "
				       "'/', '_', '-' and '.'", s);
	return 0;
}

int bnd_check_port_name(const char *s, char *err, size_t errlen)
{
	size_t n = strlen(s);

	if (n == 0)
		return azb_err(err, errlen, "port name is empty");
	if (n > AZB_PORT_NAME_MAX)
		return azb_err(err, errlen, "port name is %zu bytes long; at most %d are allowed", n,
			       AZB_PORT_NAME_MAX);
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f || strchr(":;/[]", *p))
			return azb_err(err, errlen, "port name \"%s\" may not contain spaces, control "
				       "characters or any of : ; / [ ]", s);
	return 0;
}

int bnd_check_forward_name(const char *s, char *err, size_t errlen)
{
	size_t n = strlen(s);

	if (n == 0 || n > NAME_MAX_LEN)
		return azb_err(err, errlen, "name \"%s\" must be 1 to %d characters", s, NAME_MAX_LEN);
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
			return azb_err(err, errlen, "name \"%s\" may hold only letters, digits, '.', "
				       "'_' and '-'", s);
	return 0;
}

/* What a URL path segment may hold (RFC 3986 pchar) but ':', which the
 * grammar keeps for the port: no blank, control character, '?', '#', '[' or
 * ']' reaches the request line sent to the target. */
int bnd_check_http_path(const char *s, char *err, size_t errlen)
{
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("/-._~!$&'()*+,=@%", *p))
			return azb_err(err, errlen, "path \"%s\" may hold only letters, digits and "
				       "/ - . _ ~ ! $ & ' ( ) * + , = @ %%", s);
	if (strstr(s, "//"))
		return azb_err(err, errlen, "path \"%s\" has an empty segment", s);
	return 0;
}

static bool addr_is_local(int family, const void *addr)
{
	struct ifaddrs *ifa = NULL;
	bool found = false;

	if (getifaddrs(&ifa) < 0)
		return false;
	for (struct ifaddrs *i = ifa; i && !found; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != family)
			continue;
		if (family == AF_INET)
			found = !memcmp(&((struct sockaddr_in *)i->ifa_addr)->sin_addr, addr, 4);
		else
			found = !memcmp(&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, addr, 16);
	}
	freeifaddrs(ifa);
	return found;
}

int bnd_check_bind_address(const char *s, char *err, size_t errlen)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (!*s)
		return azb_err(err, errlen, "bind address is empty");
	if (inet_pton(AF_INET, s, &a4) == 1) {
		if ((ntohl(a4.s_addr) >> 24) == 127 || a4.s_addr == INADDR_ANY ||
		    addr_is_local(AF_INET, &a4))
			return 0;
	} else if (inet_pton(AF_INET6, s, &a6) == 1) {
		if (IN6_IS_ADDR_LOOPBACK(&a6) || IN6_IS_ADDR_UNSPECIFIED(&a6) ||
		    addr_is_local(AF_INET6, &a6))
			return 0;
	} else {
		/* A host name: resolved when the forward starts. */
		for (const char *p = s; *p; p++)
			if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.')
				return azb_err(err, errlen, "bind address \"%s\" is not an address or "
					       "host name", s);
		return 0;
	}
	return azb_err(err, errlen, "bind address %s is not a local address", s);
}

/* ---- struct helpers ---------------------------------------------------- */

struct azb_fwd *bnd_fwd_new(enum azb_dir dir)
{
	struct azb_fwd *f = xcalloc(1, sizeof(*f));

	f->dir = dir;
	f->tunnel_keep_alive = -1;
	return f;
}

struct azb_ep *bnd_fwd_add_ep(struct azb_fwd *f)
{
	f->ep = xrealloc(f->ep, (f->n_ep + 1) * sizeof(*f->ep));
	memset(&f->ep[f->n_ep], 0, sizeof(*f->ep));
	return &f->ep[f->n_ep++];
}

void bnd_ep_clear(struct azb_ep *e)
{
	free(e->port_name);
	free(e->host);
	free(e->socket_path);
	free(e->http_path);
	free(e->host_name);
	free(e->ca_file);
	memset(e, 0, sizeof(*e));
}

void bnd_fwd_free(struct azb_fwd *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n_ep; i++)
		bnd_ep_clear(&f->ep[i]);
	free(f->ep);
	if (f->cred) {
		cred_clear(f->cred);
		free(f->cred);
	}
	free(f->name);
	free(f->relay);
	free(f->origin_file);
	free(f);
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

struct azb_fwd *bnd_fwd_dup(const struct azb_fwd *f)
{
	struct azb_fwd *d = bnd_fwd_new(f->dir);

	d->name = dup_or_null(f->name);
	d->relay = dup_or_null(f->relay);
	d->origin_file = dup_or_null(f->origin_file);
	d->origin_line = f->origin_line;
	d->tunnel_keep_alive = f->tunnel_keep_alive;
	for (size_t i = 0; i < f->n_ep; i++) {
		const struct azb_ep *s = &f->ep[i];
		struct azb_ep *e = bnd_fwd_add_ep(d);

		*e = *s;
		e->port_name = dup_or_null(s->port_name);
		e->host = dup_or_null(s->host);
		e->socket_path = dup_or_null(s->socket_path);
		e->http_path = dup_or_null(s->http_path);
		e->host_name = dup_or_null(s->host_name);
		e->ca_file = dup_or_null(s->ca_file);
	}
	if (f->cred) {
		d->cred = xcalloc(1, sizeof(*d->cred));
		cred_copy(d->cred, f->cred);
	}
	return d;
}

static bool ep_equal(const struct azb_ep *a, const struct azb_ep *b)
{
	return a->kind == b->kind && a->port == b->port && a->no_auth == b->no_auth &&
	       a->insecure == b->insecure && azb_streq(a->port_name, b->port_name) &&
	       azb_streq(a->host, b->host) && azb_streq(a->socket_path, b->socket_path) &&
	       azb_streq(a->http_path, b->http_path) && azb_streq(a->host_name, b->host_name) &&
	       azb_streq(a->ca_file, b->ca_file) && a->http_timeout == b->http_timeout &&
	       a->http_idle == b->http_idle &&
	       a->xff_for == b->xff_for && a->xff_proto == b->xff_proto &&
	       a->xff_host == b->xff_host;
}

const char *bnd_dup_port_name(const struct azb_fwd *f)
{
	for (size_t i = 0; i < f->n_ep; i++)
		for (size_t j = i + 1; j < f->n_ep; j++)
			if (strcmp(f->ep[i].port_name, f->ep[j].port_name) == 0)
				return f->ep[i].port_name;
	return NULL;
}

bool bnd_fwd_equal(const struct azb_fwd *a, const struct azb_fwd *b)
{
	if (a->dir != b->dir || a->n_ep != b->n_ep || !azb_streq(a->name, b->name) ||
	    !azb_streq(a->relay, b->relay) || a->tunnel_keep_alive != b->tunnel_keep_alive)
		return false;
	for (size_t i = 0; i < a->n_ep; i++)
		if (!ep_equal(&a->ep[i], &b->ep[i]))
			return false;
	if (!a->cred || !b->cred)
		return a->cred == b->cred;
	return cred_equal(a->cred, b->cred);
}

/* ---- lexical helpers --------------------------------------------------- */

/* Position of the first or last sep outside [...], or NULL. */
static const char *find_sep(const char *s, const char *end, char sep, bool last)
{
	const char *hit = NULL;
	int depth = 0;

	for (const char *p = s; p < end; p++) {
		if (*p == '[')
			depth++;
		else if (*p == ']' && depth)
			depth--;
		else if (*p == sep && !depth) {
			hit = p;
			if (!last)
				break;
		}
	}
	return hit;
}

static int count_sep(const char *s, char sep)
{
	int n = 0;

	for (const char *p = s; (p = find_sep(p, p + strlen(p), sep, false)); p++)
		n++;
	return n;
}

/* "1234" or "1234U" -> port and UDP flag. */
static int parse_port(const struct pctx *c, const char *s, uint16_t *port, bool *udp)
{
	size_t n = strlen(s);
	char digits[16];
	long v;

	*udp = n > 1 && s[n - 1] == 'U';
	if (*udp)
		n--;
	if (n == 0 || n >= sizeof(digits))
		return fail(c, "\"%s\" is not a port number", s);
	memcpy(digits, s, n);
	digits[n] = '\0';
	if (!azb_is_uint(digits))
		return fail(c, "\"%s\" is not a port number", s);
	if (azb_parse_int(digits, 1, 65535, &v) < 0)
		return fail(c, "port %s is out of range 1..65535", digits);
	*port = (uint16_t)v;
	return 0;
}

/* A host, with IPv6 literals unbracketed. */
static int take_host(const struct pctx *c, const char *s, char **host)
{
	size_t n = strlen(s);

	if (s[0] == '[') {
		struct in6_addr a6;
		char *inner;

		if (n < 3 || s[n - 1] != ']')
			return fail(c, "\"%s\" is not a bracketed IPv6 address", s);
		inner = xstrndup(s + 1, n - 2);
		if (inet_pton(AF_INET6, inner, &a6) != 1) {
			free(inner);
			return fail(c, "\"%s\" is not an IPv6 address", s);
		}
		*host = inner;
		return 0;
	}
	if (n == 0)
		return fail(c, "a host name is empty");
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || strchr("[]/;", *p))
			return fail(c, "\"%s\" is not a host name", s);
	*host = xstrdup(s);
	return 0;
}

static int set_port_name(const struct pctx *c, struct azb_ep *e, const char *name)
{
	char msg[300];

	if (bnd_check_port_name(name, msg, sizeof(msg)) < 0)
		return fail(c, "%s", msg);
	e->port_name = xstrdup(name);
	return 0;
}

static const char *base_name(const char *path)
{
	const char *b = strrchr(path, '/');

	return b ? b + 1 : path;
}

/* Digits, optionally followed by U (UDP). */
static bool is_port_string(const char *s)
{
	size_t n = strlen(s);

	if (n > 1 && s[n - 1] == 'U')
		n--;
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* A relative name is a word that does not read as a port, as in the original
 * tool; anything else is an absolute path, which a rule can always enclose
 * in brackets. */
int bnd_check_socket_path(const char *s, char *err, size_t errlen)
{
	if (!*s || (s[0] == '/' && !*base_name(s)))
		return azb_err(err, errlen, "socket path \"%s\" names no file", s);
	if (strpbrk(s, "[]"))
		return azb_err(err, errlen, "socket path \"%s\" may not hold '[' or ']' (brackets "
			       "enclose a path in a rule)", s);
	for (const char *p = s; s[0] != '/' && *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
			return azb_err(err, errlen, "socket name \"%s\" may hold only letters, digits, "
				       "'.', '_' and '-'; give another file as an absolute path", s);
	if (is_port_string(s))
		return azb_err(err, errlen, "socket name \"%s\" reads as a port; give the file as "
			       "an absolute path", s);
	return 0;
}

static int set_socket(const struct pctx *c, struct azb_ep *e, const char *path)
{
	char msg[300];

	if (bnd_check_socket_path(path, msg, sizeof(msg)) < 0)
		return fail(c, "%s", msg);
	e->kind = AZB_KIND_UNIX;
	e->socket_path = xstrdup(path);
	return 0;
}

static int set_relay(const struct pctx *c, struct azb_fwd *f, const char *relay)
{
	char msg[300];

	if (bnd_check_relay_name(relay, msg, sizeof(msg)) < 0)
		return fail(c, "%s", msg);
	f->relay = xstrdup(relay);
	return 0;
}

/* Split expr at the relay separator and run one parser per ';' binding. */
typedef int (*binding_fn)(const struct pctx *c, struct azb_fwd *f, char *b);

static int parse_list(const struct pctx *c, struct azb_fwd *f, const char *list, binding_fn fn)
{
	char *copy = xstrdup(list), *cur = copy;
	int r = 0;

	while (r == 0 && cur) {
		const char *semi = find_sep(cur, cur + strlen(cur), ';', false);
		char *b = cur;

		if (semi) {
			copy[semi - copy] = '\0';
			cur = (char *)semi + 1;
		} else {
			cur = NULL;
		}
		if (!*b)
			r = fail(c, "a binding is empty");
		else
			r = fn(c, f, b);
	}
	free(copy);
	return r;
}

static int parse_expr(const struct pctx *c, enum azb_dir dir, bool relay_last, binding_fn fn,
		      struct azb_fwd **out)
{
	const char *e = c->expr, *end = e + strlen(e);
	const char *sep = find_sep(e, end, ':', relay_last);
	struct azb_fwd *f;
	char *relay, *list;
	int r;

	if (!sep)
		return fail(c, "no ':' between the relay name and the bindings");
	relay = relay_last ? xstrdup(sep + 1) : xstrndup(e, (size_t)(sep - e));
	list = relay_last ? xstrndup(e, (size_t)(sep - e)) : xstrdup(sep + 1);
	f = bnd_fwd_new(dir);
	r = set_relay(c, f, relay);
	if (r == 0 && !*list)
		r = fail(c, "no bindings");
	if (r == 0)
		r = parse_list(c, f, list, fn);
	free(relay);
	free(list);
	if (r < 0) {
		bnd_fwd_free(f);
		return r;
	}
	*out = f;
	return 0;
}

/* ---- -L ---------------------------------------------------------------- */

static int local_port(const struct pctx *c, struct azb_ep *e, const char *ps, const char *name)
{
	bool udp;
	int r = parse_port(c, ps, &e->port, &udp);

	if (r < 0)
		return r;
	e->kind = udp ? AZB_KIND_UDP : AZB_KIND_TCP;
	return set_port_name(c, e, name ? name : ps);
}

/* Socket forms: "name[/pn]", "/abs/path", "[/abs/path][/pn]". */
static int local_socket(const struct pctx *c, struct azb_ep *e, const char *b)
{
	const char *close_br, *slash;
	char *path;
	int r;

	if (b[0] == '/') {
		r = set_socket(c, e, b);
		return r < 0 ? r : set_port_name(c, e, base_name(b));
	}
	if (b[0] == '[') {
		close_br = strchr(b, ']');
		if (!close_br || (close_br[1] != '\0' && close_br[1] != '/'))
			return fail(c, "binding \"%s\" has an unclosed or misplaced ']'", b);
		path = xstrndup(b + 1, (size_t)(close_br - b - 1));
		r = set_socket(c, e, path);
		if (r == 0)
			r = set_port_name(c, e, close_br[1] ? close_br + 2 : base_name(path));
		free(path);
		return r;
	}
	slash = strchr(b, '/');
	if (slash && strchr(slash + 1, '/'))
		return fail(c, "binding \"%s\" has more than one '/'", b);
	path = slash ? xstrndup(b, (size_t)(slash - b)) : xstrdup(b);
	r = set_socket(c, e, path);
	if (r == 0)
		r = set_port_name(c, e, slash ? slash + 1 : path);
	free(path);
	return r;
}

static int local_binding(const struct pctx *c, struct azb_fwd *f, char *b)
{
	struct azb_ep *e = bnd_fwd_add_ep(f);
	const char *colon = find_sep(b, b + strlen(b), ':', false);
	char *slash, msg[300];
	int r;

	if (b[0] == '/' || (b[0] == '[' && b[1] == '/'))
		return local_socket(c, e, b);
	if (count_sep(b, ':') > 1)
		return fail(c, "binding \"%s\" has too many ':' parts", b);
	slash = strchr(colon ? colon : b, '/');
	if (slash && strchr(slash + 1, '/'))
		return fail(c, "binding \"%s\" has more than one '/'", b);
	if (!colon) {
		if (slash)
			*slash = '\0';
		if (!is_port_string(b)) {
			if (slash)
				*slash = '/';
			return local_socket(c, e, b);
		}
		e->host = xstrdup("localhost");
		return local_port(c, e, b, slash ? slash + 1 : NULL);
	}
	if (slash)
		*slash = '\0';
	b[colon - b] = '\0';
	r = take_host(c, b, &e->host);
	if (r < 0)
		return r;
	if (bnd_check_bind_address(e->host, msg, sizeof(msg)) < 0)
		return fail(c, "%s", msg);
	return local_port(c, e, colon + 1, slash ? slash + 1 : NULL);
}

int bnd_parse_local(const char *expr, struct azb_fwd **out, char *err, size_t errlen)
{
	struct pctx c = { 'L', expr, err, errlen };

	return parse_expr(&c, AZB_DIR_LOCAL, true, local_binding, out);
}

/* ---- -T and -R --------------------------------------------------------- */

/* Target of a one-part binding: a port (on localhost) or a socket. */
static int remote_target(const struct pctx *c, struct azb_ep *e, const char *t, const char *name)
{
	bool udp;
	int r;

	if (is_port_string(t)) {
		r = parse_port(c, t, &e->port, &udp);
		if (r < 0)
			return r;
		e->kind = udp ? AZB_KIND_UDP : AZB_KIND_TCP;
		e->host = xstrdup("localhost");
		return set_port_name(c, e, name ? name : t);
	}
	r = set_socket(c, e, t);
	if (r < 0)
		return r;
	return set_port_name(c, e, name ? name : (t[0] == '/' ? base_name(t) : t));
}

static int remote_host_port(const struct pctx *c, struct azb_ep *e, const char *host,
			    const char *port, const char *name)
{
	bool udp;
	int r = parse_port(c, port, &e->port, &udp);

	if (r < 0)
		return r;
	e->kind = udp ? AZB_KIND_UDP : AZB_KIND_TCP;
	r = take_host(c, host, &e->host);
	return r < 0 ? r : set_port_name(c, e, name ? name : port);
}

/* "[name/]target": the name is everything before the first '/', unless
 * the binding starts with '/' (an absolute socket path) or '['. */
static char *split_name(char *b, char **rest)
{
	char *slash;

	*rest = b;
	if (b[0] == '/' || b[0] == '[')
		return NULL;
	slash = strchr(b, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	*rest = slash + 1;
	return b;
}

static char *unbracket_path(char *t)
{
	size_t n = strlen(t);

	if (t[0] == '[' && t[1] == '/' && n > 2 && t[n - 1] == ']') {
		t[n - 1] = '\0';
		return t + 1;
	}
	return t;
}

static int remote_binding(const struct pctx *c, struct azb_fwd *f, char *b)
{
	struct azb_ep *e = bnd_fwd_add_ep(f);
	const char *colon;
	char *name, *rest;

	name = split_name(b, &rest);
	if (rest[0] == '/' || (rest[0] == '[' && rest[1] == '/'))
		return remote_target(c, e, unbracket_path(rest), name);
	colon = find_sep(rest, rest + strlen(rest), ':', false);
	if (count_sep(rest, ':') > 1)
		return fail(c, "binding \"%s\" has too many ':' parts", b);
	if (!colon) {
		if (strchr(rest, '/'))
			return fail(c, "binding \"%s\" has more than one '/'", b);
		return remote_target(c, e, rest, name);
	}
	rest[colon - rest] = '\0';
	return remote_host_port(c, e, rest, colon + 1, name);
}

/* -R: host:[name/]port; the one-part forms are those of -T. */
static int legacy_binding(const struct pctx *c, struct azb_fwd *f, char *b)
{
	const char *colon = find_sep(b, b + strlen(b), ':', false);
	struct azb_ep *e;
	char *name, *port;

	if (!colon)
		return remote_binding(c, f, b);
	if (count_sep(b, ':') > 1)
		return fail(c, "binding \"%s\" has too many ':' parts", b);
	e = bnd_fwd_add_ep(f);
	b[colon - b] = '\0';
	name = split_name((char *)colon + 1, &port);
	return remote_host_port(c, e, b, port, name);
}

int bnd_parse_remote(const char *expr, struct azb_fwd **out, char *err, size_t errlen)
{
	struct pctx c = { 'T', expr, err, errlen };

	return parse_expr(&c, AZB_DIR_REMOTE, false, remote_binding, out);
}

int bnd_parse_legacy(const char *expr, struct azb_fwd **out, char *err, size_t errlen)
{
	struct pctx c = { 'R', expr, err, errlen };

	return parse_expr(&c, AZB_DIR_REMOTE, false, legacy_binding, out);
}

/* ---- -H ---------------------------------------------------------------- */

static int http_scheme(const struct pctx *c, struct azb_ep *e, const char *scheme)
{
	if (strcmp(scheme, "http") && strcmp(scheme, "https"))
		return fail(c, "\"%s\" is not http or https: write http/HOST or https/HOST", scheme);
	e->port_name = xstrdup(scheme);
	e->port = strcmp(scheme, "https") ? 80 : 443;
	return 0;
}

/* "host/p1/p2" (host may be [v6]) -> host and "/p1/p2/". */
static int http_host_path(const struct pctx *c, struct azb_ep *e, const char *hp)
{
	char err[300];
	const char *end = hp[0] == '[' ? strchr(hp, ']') : hp;
	const char *slash = end ? strchr(end, '/') : NULL;
	char *host = slash ? xstrndup(hp, (size_t)(slash - hp)) : xstrdup(hp);
	int r = take_host(c, host, &e->host);

	free(host);
	if (r < 0)
		return r;
	if (!slash || !slash[1]) {
		e->http_path = xstrdup("/");
		return 0;
	}
	if (bnd_check_http_path(slash, err, sizeof(err)) < 0)
		return fail(c, "%s", err);
	e->http_path = xasprintf("%s%s", slash, slash[strlen(slash) - 1] == '/' ? "" : "/");
	return 0;
}

static int http_binding(const struct pctx *c, struct azb_fwd *f, char *b)
{
	struct azb_ep *e = bnd_fwd_add_ep(f);
	const char *colon = find_sep(b, b + strlen(b), ':', false);
	char *slash = strchr(b, '/');
	bool udp;
	int r;

	e->kind = AZB_KIND_HTTP;
	if (!slash)
		return fail(c, "binding \"%s\" is not SCHEME/HOST", b);
	if (count_sep(b, ':') > 1)
		return fail(c, "binding \"%s\" has too many ':' parts", b);
	*slash = '\0';
	r = http_scheme(c, e, b);
	if (r < 0)
		return r;
	if (colon)
		b[colon - b] = '\0';
	if (!colon && azb_is_uint(slash + 1)) {
		/* "https/443": the documented meaning, a port on localhost. */
		e->host = xstrdup("localhost");
		e->http_path = xstrdup("/");
		return parse_port(c, slash + 1, &e->port, &udp);
	}
	r = http_host_path(c, e, slash + 1);
	if (r == 0 && colon) {
		r = parse_port(c, colon + 1, &e->port, &udp);
		if (r == 0 && udp)
			r = fail(c, "an HTTP forward cannot be UDP");
	}
	return r;
}

int bnd_parse_http(const char *expr, struct azb_fwd **out, char *err, size_t errlen)
{
	struct pctx c = { 'H', expr, err, errlen };
	struct azb_fwd *f = NULL;
	int r = parse_expr(&c, AZB_DIR_REMOTE, false, http_binding, &f);

	if (r < 0)
		return r;
	/* The original keys HTTP forwarders by scheme: a repeat could never start. */
	if (bnd_dup_port_name(f)) {
		r = fail(&c, "two %s bindings on one relay; one per scheme can work",
			 bnd_dup_port_name(f));
		bnd_fwd_free(f);
		return r;
	}
	*out = f;
	return 0;
}

int bnd_parse(char opt, const char *expr, struct azb_fwd **out, char *err, size_t errlen)
{
	switch (opt) {
	case 'L': return bnd_parse_local(expr, out, err, errlen);
	case 'T': return bnd_parse_remote(expr, out, err, errlen);
	case 'R': return bnd_parse_legacy(expr, out, err, errlen);
	case 'H': return bnd_parse_http(expr, out, err, errlen);
	default: return azb_err(err, errlen, "-%c is not a forwarding rule", opt);
	}
}

/* ---- printing ---------------------------------------------------------- */

static void add_host(struct sbuf *b, const char *h)
{
	sbuf_printf(b, strchr(h, ':') ? "[%s]" : "%s", h);
}

/* Relative names print as they are; absolute paths in brackets on -L (the
 * port name follows) and wherever they hold a separator character. */
static void add_socket(struct sbuf *b, const char *path, bool local)
{
	bool bracket = path[0] == '/' && (local || strpbrk(path, ":;[]"));

	sbuf_printf(b, bracket ? "[%s]" : "%s", path);
}

static void format_local(struct sbuf *b, const struct azb_fwd *f)
{
	for (size_t i = 0; i < f->n_ep; i++) {
		const struct azb_ep *e = &f->ep[i];

		if (i)
			sbuf_addc(b, ';');
		if (e->kind == AZB_KIND_UNIX) {
			add_socket(b, e->socket_path, true);
		} else {
			add_host(b, e->host);
			sbuf_printf(b, ":%u%s", e->port, e->kind == AZB_KIND_UDP ? "U" : "");
		}
		sbuf_printf(b, "/%s", e->port_name);
	}
	sbuf_printf(b, ":%s", f->relay);
}

static void format_remote(struct sbuf *b, const struct azb_fwd *f)
{
	sbuf_printf(b, "%s:", f->relay);
	for (size_t i = 0; i < f->n_ep; i++) {
		const struct azb_ep *e = &f->ep[i];

		if (i)
			sbuf_addc(b, ';');
		if (e->kind == AZB_KIND_HTTP) {
			sbuf_printf(b, "%s/", e->port_name);
			add_host(b, e->host);
			if (strcmp(e->http_path, "/"))
				sbuf_printf(b, "%.*s", (int)strlen(e->http_path) - 1, e->http_path);
			sbuf_printf(b, ":%u", e->port);
			continue;
		}
		sbuf_printf(b, "%s/", e->port_name);
		if (e->kind == AZB_KIND_UNIX) {
			add_socket(b, e->socket_path, false);
			continue;
		}
		add_host(b, e->host);
		sbuf_printf(b, ":%u%s", e->port, e->kind == AZB_KIND_UDP ? "U" : "");
	}
}

char bnd_format_option(const struct azb_fwd *f)
{
	if (f->dir == AZB_DIR_LOCAL)
		return 'L';
	return f->n_ep && f->ep[0].kind == AZB_KIND_HTTP ? 'H' : 'T';
}

char *bnd_format(const struct azb_fwd *f)
{
	struct sbuf b;

	sbuf_init(&b);
	if (f->dir == AZB_DIR_LOCAL)
		format_local(&b, f);
	else
		format_remote(&b, f);
	return sbuf_take(&b);
}

char *bnd_derive_name(const struct azb_fwd *f)
{
	char *expr = bnd_format(f), *out;
	struct sbuf b;
	uint32_t h = 2166136261u;   /* FNV-1a */
	bool dash = true;

	sbuf_init(&b);
	sbuf_printf(&b, "%c-", (char)tolower((unsigned char)bnd_format_option(f)));
	for (const char *p = expr; *p; p++) {
		h = (h ^ (uint8_t)*p) * 16777619u;
		if (isalnum((unsigned char)*p) || *p == '.' || *p == '_') {
			sbuf_addc(&b, *p);
			dash = false;
		} else if (!dash) {
			sbuf_addc(&b, '-');
			dash = true;
		}
	}
	while (b.len > 2 && b.s[b.len - 1] == '-')
		b.s[--b.len] = '\0';
	if (b.len > NAME_MAX_LEN) {
		b.len = NAME_MAX_LEN - 9;
		b.s[b.len] = '\0';
		sbuf_printf(&b, "-%08x", h);
	}
	out = sbuf_take(&b);
	free(expr);
	return out;
}

/* Forward entries: a local_forward or remote_forward group, written as
 * keys (one binding, or a bindings list) or as the original's expression,
 * into a struct azb_fwd with its own credentials if it names any. */
#include "config_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hostsfile.h"

static const char *const local_ep_keys[] = { "bind_address", "bind_port", "udp",
	"bind_local_socket", "port_name", "host_name", "no_authentication", NULL };
static const char *const remote_ep_keys[] = { "host", "host_port", "port", "udp",
	"local_socket", "port_name", "http", "insecure", "path", "ca_file", "http_timeout",
	"http_idle_connections", "x_forwarded_for", "x_forwarded_proto", "x_forwarded_host", NULL };
/* The keys only an HTTP forward has. */
static const char *const http_only_keys[] = { "path", "ca_file", "http_timeout",
	"http_idle_connections", "x_forwarded_for", "x_forwarded_proto", "x_forwarded_host", NULL };
static const char *const entry_keys[] = { "name", "relay", "expression", "bindings",
	"tunnel_keep_alive", NULL };

static bool in_list(const char *const *list, const char *name)
{
	for (; *list; list++)
		if (strcmp(*list, name) == 0)
			return true;
	return false;
}

static const config_setting_t *member(const config_setting_t *g, const char *name)
{
	return config_setting_get_member(g, name);
}

/* String member, or NULL (with an error when present but not a string). */
static const char *str_member(struct cfg_loader *ld, const config_setting_t *g, const char *name)
{
	const config_setting_t *s = member(g, name);

	if (!s)
		return NULL;
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		cfg_error_at(ld, s, "%s must be a string in quotes", name);
		return NULL;
	}
	return config_setting_get_string(s);
}

static bool bool_member(struct cfg_loader *ld, const config_setting_t *g, const char *name)
{
	const config_setting_t *s = member(g, name);

	if (!s)
		return false;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		cfg_error_at(ld, s, "%s must be true or false", name);
		return false;
	}
	return config_setting_get_bool(s);
}

/* Port member: 1..65535, or -65535..-1 meaning UDP as in the original. */
static int port_member(struct cfg_loader *ld, const config_setting_t *g, const char *name,
		       uint16_t *port, bool *udp)
{
	const config_setting_t *s = member(g, name);
	long long v;

	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64) {
		cfg_error_at(ld, s, "%s must be a number", name);
		return -EINVAL;
	}
	v = config_setting_get_int64(s);
	if (v == 0 || v > 65535 || v < -65535) {
		cfg_error_at(ld, s, "%s %lld is out of range 1..65535 (negative for UDP)", name, v);
		return -EINVAL;
	}
	*port = (uint16_t)(v < 0 ? -v : v);
	if (v < 0)
		*udp = true;
	return 1;
}

static bool check_port_name(struct cfg_loader *ld, const config_setting_t *at, const char *n)
{
	char err[300];

	if (bnd_check_port_name(n, err, sizeof(err)) == 0)
		return true;
	cfg_error_at(ld, at, "%s", err);
	return false;
}

static const char *base_name(const char *p)
{
	const char *b = strrchr(p, '/');

	return b && b[1] ? b + 1 : p;
}

static void default_port_name(struct azb_ep *e)
{
	if (e->kind == AZB_KIND_UNIX)
		e->port_name = xstrdup(base_name(e->socket_path));
	else
		e->port_name = xasprintf("%u%s", e->port, e->kind == AZB_KIND_UDP ? "U" : "");
}

static int set_socket(struct cfg_loader *ld, const config_setting_t *g, const char *key,
		      const char *path, struct azb_ep *e)
{
	char err[300];

	if (bnd_check_socket_path(path, err, sizeof(err)) < 0) {
		cfg_error_at(ld, member(g, key), "%s", err);
		return -EINVAL;
	}
	e->kind = AZB_KIND_UNIX;
	e->socket_path = xstrdup(path);
	return 0;
}

static int local_ep(struct cfg_loader *ld, const config_setting_t *g, struct azb_ep *e)
{
	const char *addr = str_member(ld, g, "bind_address"), *sock = str_member(ld, g, "bind_local_socket");
	const char *pn = str_member(ld, g, "port_name"), *hn = str_member(ld, g, "host_name");
	bool udp = bool_member(ld, g, "udp");
	char err[300];
	int has_port = port_member(ld, g, "bind_port", &e->port, &udp);

	if (has_port < 0)
		return -EINVAL;
	if (!!has_port == !!sock) {
		cfg_error_at(ld, g, "give either bind_port or bind_local_socket");
		return -EINVAL;
	}
	e->no_auth = bool_member(ld, g, "no_authentication");
	if (sock) {
		if (set_socket(ld, g, "bind_local_socket", sock, e) < 0)
			return -EINVAL;
	} else {
		e->kind = udp ? AZB_KIND_UDP : AZB_KIND_TCP;
		e->host = xstrdup(addr ? addr : "localhost");
		if (bnd_check_bind_address(e->host, err, sizeof(err)) < 0) {
			cfg_error_at(ld, member(g, "bind_address"), "%s", err);
			return -EINVAL;
		}
	}
	/* It becomes a line in /etc/hosts: a host name and nothing else. */
	if (hn && !hosts_valid_name(hn)) {
		cfg_error_at(ld, member(g, "host_name"), "host_name \"%s\" is not a host name: labels of "
			 "letters, digits and '-' (not first or last), 63 characters each, 253 in "
			 "all, not an address", hn);
		return -EINVAL;
	}
	if (hn)
		e->host_name = xstrdup(hn);
	if (pn && !check_port_name(ld, member(g, "port_name"), pn))
		return -EINVAL;
	if (pn)
		e->port_name = xstrdup(pn);
	else
		default_port_name(e);
	return 0;
}

/* An integer key from lo to hi ("seconds": the unit its errors name);
 * 1 when present, 0 when absent, -EINVAL when it is not such a number. */
static int int_member(struct cfg_loader *ld, const config_setting_t *g, const char *key,
		      long long lo, long long hi, const char *unit, long long *out)
{
	const config_setting_t *s = member(g, key);

	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64) {
		cfg_error_at(ld, s, "%s must be a number%s%s", key, unit ? " of " : "",
			     unit ? unit : "");
		return -EINVAL;
	}
	*out = config_setting_get_int64(s);
	if (*out < lo || *out > hi) {
		cfg_error_at(ld, s, "%s %lld is out of range %lld..%lld%s%s", key, *out, lo, hi,
			     unit ? " " : "", unit ? unit : "");
		return -EINVAL;
	}
	return 1;
}

/* http_timeout: whole seconds; http_idle_connections: 0 keeps none. */
static int http_numbers(struct cfg_loader *ld, const config_setting_t *g, struct azb_ep *e)
{
	long long v;
	int r = int_member(ld, g, "http_timeout", 1, AZB_HTTP_TIMEOUT_MAX, "seconds", &v);

	if (r < 0)
		return r;
	if (r)
		e->http_timeout = (int)v;
	r = int_member(ld, g, "http_idle_connections", 0, AZB_HTTP_IDLE_MAX, NULL, &v);
	if (r > 0)
		e->http_idle = v ? (int)v : -1;
	return r < 0 ? r : 0;
}

/* What an HTTP forward adds to the target and how it trusts it. */
static int http_settings(struct cfg_loader *ld, const config_setting_t *g, struct azb_ep *e)
{
	const char *ca = str_member(ld, g, "ca_file");

	if (member(g, "ca_file") && (!ca || ca[0] != '/')) {
		cfg_error_at(ld, member(g, "ca_file"), "ca_file must be an absolute path in quotes");
		return -EINVAL;
	}
	e->ca_file = ca ? xstrdup(ca) : NULL;
	e->xff_for = bool_member(ld, g, "x_forwarded_for");
	e->xff_proto = bool_member(ld, g, "x_forwarded_proto");
	e->xff_host = bool_member(ld, g, "x_forwarded_host");
	return http_numbers(ld, g, e);
}

static bool has_http_keys(const config_setting_t *g)
{
	for (const char *const *k = http_only_keys; *k; k++)
		if (member(g, *k))
			return true;
	return false;
}

static int http_ep(struct cfg_loader *ld, const config_setting_t *g, struct azb_ep *e,
		   bool has_port)
{
	const char *path = str_member(ld, g, "path");
	char err[300];

	if (!e->port_name || (strcmp(e->port_name, "http") && strcmp(e->port_name, "https"))) {
		cfg_error_at(ld, g, "an HTTP forward needs port_name \"http\" or \"https\" (the scheme)");
		return -EINVAL;
	}
	e->kind = AZB_KIND_HTTP;
	if (http_settings(ld, g, e) < 0)
		return -EINVAL;
	if (path && bnd_check_http_path(path, err, sizeof(err)) < 0) {
		cfg_error_at(ld, member(g, "path"), "%s", err);
		return -EINVAL;
	}
	if (!has_port)
		e->port = strcmp(e->port_name, "https") ? 80 : 443;
	if (!path || !*path || strcmp(path, "/") == 0)
		e->http_path = xstrdup("/");
	else
		e->http_path = xasprintf("%s%s%s", path[0] == '/' ? "" : "/", path,
					 path[strlen(path) - 1] == '/' ? "" : "/");
	return 0;
}

static int remote_ep(struct cfg_loader *ld, const config_setting_t *g, struct azb_ep *e, bool http)
{
	const char *host = str_member(ld, g, "host"), *sock = str_member(ld, g, "local_socket");
	const char *pn = str_member(ld, g, "port_name");
	bool udp = bool_member(ld, g, "udp");
	int has_port = port_member(ld, g, member(g, "host_port") ? "host_port" : "port", &e->port, &udp);

	if (has_port < 0 || (pn && !check_port_name(ld, member(g, "port_name"), pn)))
		return -EINVAL;
	e->port_name = pn ? xstrdup(pn) : NULL;
	e->insecure = bool_member(ld, g, "insecure");
	http = http || bool_member(ld, g, "http");
	if (http || e->insecure || has_http_keys(g)) {
		e->host = xstrdup(host ? host : "localhost");
		if (!http) {
			cfg_error_at(ld, g, "insecure, path, ca_file, http_timeout, http_idle_connections and x_forwarded_* "
				     "belong to HTTP forwards (http = true)");
			return -EINVAL;
		}
		return http_ep(ld, g, e, has_port);
	}
	if (!!has_port == !!sock) {
		cfg_error_at(ld, g, "give either host_port or local_socket");
		return -EINVAL;
	}
	if (sock) {
		if (set_socket(ld, g, "local_socket", sock, e) < 0)
			return -EINVAL;
	} else {
		e->kind = udp ? AZB_KIND_UDP : AZB_KIND_TCP;
		e->host = xstrdup(host ? host : "localhost");
	}
	if (!e->port_name)
		default_port_name(e);
	return 0;
}

static int add_ep(struct cfg_loader *ld, struct azb_fwd *f, const config_setting_t *g, bool http)
{
	struct azb_ep *e = bnd_fwd_add_ep(f);

	return f->dir == AZB_DIR_LOCAL ? local_ep(ld, g, e) : remote_ep(ld, g, e, http);
}

static bool check_keys(struct cfg_loader *ld, const config_setting_t *g, const char *const *ep_keys,
		       bool entry)
{
	bool ok = true;

	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *n = config_setting_name(s);

		if (in_list(ep_keys, n) || (entry && (in_list(entry_keys, n) || cfg_key_is_cred(n))))
			continue;
		cfg_error_at(ld, s, "unknown key '%s'%s", n, entry ? "" : " in a binding");
		ok = false;
	}
	return ok;
}

static bool has_ep_keys(const config_setting_t *g, const char *const *ep_keys)
{
	for (const char *const *k = ep_keys; *k; k++)
		if (member(g, *k) && strcmp(*k, "http") != 0)
			return true;
	return false;
}

static int endpoints_from_keys(struct cfg_loader *ld, struct azb_fwd *f, const config_setting_t *g,
			       const char *const *ep_keys)
{
	const config_setting_t *b = member(g, "bindings");
	bool http = f->dir == AZB_DIR_REMOTE && bool_member(ld, g, "http");
	int r = 0;

	if (!b)
		return add_ep(ld, f, g, false);
	if (has_ep_keys(g, ep_keys)) {
		cfg_error_at(ld, b, "use either bindings or the single-binding keys, not both");
		return -EINVAL;
	}
	if (!config_setting_is_list(b) || config_setting_length(b) == 0) {
		cfg_error_at(ld, b, "bindings must be a non-empty list ( { ... }, ... )");
		return -EINVAL;
	}
	for (int i = 0; i < config_setting_length(b) && r == 0; i++) {
		const config_setting_t *e = config_setting_get_elem(b, (unsigned)i);

		if (!config_setting_is_group(e)) {
			cfg_error_at(ld, e, "each binding must be a group { ... }");
			return -EINVAL;
		}
		if (!check_keys(ld, e, ep_keys, false))
			return -EINVAL;
		r = add_ep(ld, f, e, http);
	}
	return r;
}

static int from_expression(struct cfg_loader *ld, const config_setting_t *g, enum azb_dir dir,
			   const char *expr, const char *const *ep_keys, struct azb_fwd **f)
{
	bool http = dir == AZB_DIR_REMOTE && bool_member(ld, g, "http");
	char err[512];
	int r;

	if (member(g, "relay") || member(g, "bindings") || has_ep_keys(g, ep_keys)) {
		cfg_error_at(ld, member(g, "expression"),
			 "expression cannot be combined with relay, bindings or binding keys");
		return -EINVAL;
	}
	if (dir == AZB_DIR_LOCAL)
		r = bnd_parse_local(expr, f, err, sizeof(err));
	else if (http)
		r = bnd_parse_http(expr, f, err, sizeof(err));
	else
		r = bnd_parse_remote(expr, f, err, sizeof(err));
	if (r < 0)
		cfg_error_at(ld, member(g, "expression"), "%s", err);
	return r;
}

static int from_keys(struct cfg_loader *ld, const config_setting_t *g, enum azb_dir dir,
		     const char *const *ep_keys, struct azb_fwd **out)
{
	const char *relay = str_member(ld, g, "relay");
	struct azb_fwd *f;
	char err[300];

	if (!relay) {
		cfg_error_at(ld, g, "a forward needs relay (or an expression)");
		return -EINVAL;
	}
	if (bnd_check_relay_name(relay, err, sizeof(err)) < 0) {
		cfg_error_at(ld, member(g, "relay"), "%s", err);
		return -EINVAL;
	}
	f = bnd_fwd_new(dir);
	f->relay = xstrdup(relay);
	if (endpoints_from_keys(ld, f, g, ep_keys) < 0) {
		bnd_fwd_free(f);
		return -EINVAL;
	}
	*out = f;
	return 0;
}

static bool has_cred_keys(const config_setting_t *g)
{
	for (int i = 0; i < config_setting_length(g); i++)
		if (cfg_key_is_cred(config_setting_name(config_setting_get_elem(g, (unsigned)i))))
			return true;
	return false;
}

static struct azb_fwd *parse_forward(struct cfg_loader *ld, const config_setting_t *g,
				     enum azb_dir dir)
{
	const char *const *ep_keys = dir == AZB_DIR_LOCAL ? local_ep_keys : remote_ep_keys;
	const char *expr = str_member(ld, g, "expression"), *name = str_member(ld, g, "name");
	size_t before = ld->errs->n;
	struct azb_fwd *f = NULL;
	long long ka;
	char err[300];

	if (!check_keys(ld, g, ep_keys, true))
		return NULL;
	if ((expr ? from_expression(ld, g, dir, expr, ep_keys, &f) :
		    from_keys(ld, g, dir, ep_keys, &f)) < 0)
		return NULL;
	if (name && bnd_check_forward_name(name, err, sizeof(err)) < 0)
		cfg_error_at(ld, member(g, "name"), "%s", err);
	f->name = name ? xstrdup(name) : bnd_derive_name(f);
	if (int_member(ld, g, "tunnel_keep_alive", 0, AZB_TUNNEL_KEEPALIVE_MAX, "seconds", &ka) > 0)
		f->tunnel_keep_alive = (int)ka;
	if (has_cred_keys(g)) {
		f->cred = xcalloc(1, sizeof(*f->cred));
		cfg_apply_creds(ld, g, f->cred);
	}
	f->origin_file = xstrdup(ld->file);
	f->origin_line = cfg_line_of(g);
	if (ld->errs->n != before) {
		bnd_fwd_free(f);
		return NULL;
	}
	return f;
}

static void parse_forwards(struct cfg_loader *ld, const config_setting_t *list, enum azb_dir dir,
			   struct azb_fwd ***seen, size_t *n_seen)
{
	if (!config_setting_is_list(list)) {
		cfg_error_at(ld, list, "%s must be a list ( { ... }, ... )", config_setting_name(list));
		return;
	}
	for (int i = 0; i < config_setting_length(list); i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		struct azb_fwd *f;

		if (!config_setting_is_group(g)) {
			cfg_error_at(ld, g, "each forward must be a group { ... }");
			continue;
		}
		f = parse_forward(ld, g, dir);
		if (!f)
			continue;
		for (size_t j = 0; j < *n_seen; j++) {
			if (strcmp((*seen)[j]->name, f->name) == 0) {
				cfg_error_at(ld, g, "a forward named \"%s\" is already defined at line %d",
					 f->name, (*seen)[j]->origin_line);
				bnd_fwd_free(f);
				f = NULL;
				break;
			}
		}
		if (!f)
			continue;
		*seen = xrealloc(*seen, (*n_seen + 1) * sizeof(**seen));
		(*seen)[(*n_seen)++] = f;
	}
}

struct azb_fwd *cfg_parse_fwd(struct azb_config *c, const config_setting_t *g, enum azb_dir dir,
			     const char *what, struct cfg_errors *errs)
{
	struct cfg_loader ld = { .c = c, .file = what, .dir = (char *)"/", .errs = errs };

	if (!config_setting_is_group(g)) {
		cfg_error_at(&ld, g, "a forward must be a group { ... }");
		return NULL;
	}
	return parse_forward(&ld, g, dir);
}

void cfg_load_forwards(struct cfg_loader *ld, const config_setting_t *root)
{
	struct azb_fwd **seen = NULL;
	size_t n = 0;
	const config_setting_t *l = config_setting_get_member(root, "local_forward");
	const config_setting_t *r = config_setting_get_member(root, "remote_forward");

	if (l)
		parse_forwards(ld, l, AZB_DIR_LOCAL, &seen, &n);
	if (r)
		parse_forwards(ld, r, AZB_DIR_REMOTE, &seen, &n);
	for (size_t i = 0; i < n; i++)
		cfg_put_fwd(ld->c, seen[i]);
	free(seen);
}

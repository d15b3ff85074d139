#include "ctlpolicy.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "supervisor.h"
#include "util.h"

#define DENIED CTL_E_DENIED

/* ---- keys -------------------------------------------------------------------- */

/* What control_users may give, by name: a key added to the configuration
 * later is root's until it is listed here. */
static const char *const entry_keys[] = {
	CTL_M_DIRECTION, CTL_M_LEGACY, "name", "relay", "expression", "bindings", NULL,
};
static const char *const local_keys[] = {
	"bind_address", "bind_port", "udp", "bind_local_socket", "port_name", "host_name",
	"no_authentication", NULL,
};
static const char *const remote_keys[] = {
	"host", "host_port", "port", "udp", "local_socket", "port_name", "http", "insecure", "path",
	NULL,
};

static bool listed(const char *const *list, const char *key)
{
	for (; list && *list; list++)
		if (strcmp(*list, key) == 0)
			return true;
	return false;
}

static json_t *check_members(json_t *o, const char *const *entry, const char *const *ep)
{
	const char *key;
	json_t *v;

	json_object_foreach(o, key, v) {
		if (!listed(entry, key) && !listed(ep, key))
			return ctl_fail(DENIED, "\"%.64s\" is not a key control_users may set; only root "
					"may, in a configuration file", key);
	}
	return NULL;
}

json_t *ctl_policy_keys(const struct ctl_caller *who, json_t *fwd)
{
	const char *dir = json_string_value(json_object_get(fwd, CTL_M_DIRECTION));
	const char *const *ep = azb_streq(dir, "remote") ? remote_keys : local_keys;
	json_t *list = json_object_get(fwd, "bindings"), *e, *r;
	size_t i;

	if (who->root)
		return NULL;
	r = check_members(fwd, entry_keys, ep);
	if (r || !json_is_array(list))
		return r;
	json_array_foreach(list, i, e) {
		r = json_is_object(e) ? check_members(e, NULL, ep) : NULL;
		if (r)
			return r;
	}
	return NULL;
}

/* ---- host names ---------------------------------------------------------------- */

static char *joined(const struct azb_strs *l)
{
	struct sbuf b;

	sbuf_init(&b);
	for (size_t i = 0; i < l->n; i++)
		sbuf_printf(&b, "%s%s", i ? ", " : "", l->v[i]);
	if (!l->n)
		sbuf_add(&b, "none set");
	return sbuf_take(&b);
}

/* The domain itself or a name below it, on a label boundary. */
static bool under(const char *name, const char *domain)
{
	size_t n = strlen(name), d = strlen(domain);

	return n >= d && strcasecmp(name + n - d, domain) == 0 && (n == d || name[n - d - 1] == '.');
}

json_t *ctl_policy_host_name(const struct ctl_caller *who, const char *name)
{
	const struct azb_strs *l = &sup_config()->control_host_names;
	char *list;
	json_t *r;

	if (who->root)
		return NULL;
	for (size_t i = 0; i < l->n; i++)
		if (under(name, l->v[i]))
			return NULL;
	list = joined(l);
	r = ctl_fail(DENIED, "hosts entry \"%s\": control_users may only name hosts in the domains "
		     "of control_host_names (%s)", name, list);
	free(list);
	return r;
}

/* ---- Unix sockets ------------------------------------------------------------------ */

/* Absolute, and nothing to resolve but symlinks: no ".", "..", "//". */
static bool plain_path(const char *p)
{
	if (p[0] != '/')
		return false;
	for (const char *s = p + 1;;) {
		const char *e = strchrnul(s, '/');
		size_t n = (size_t)(e - s);

		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		if (!*e)
			return true;
		s = e + 1;
	}
}

/* The allowed directory, resolved now, that holds rdir; NULL if none. */
static char *allowed_root(const char *rdir)
{
	const struct azb_strs *l = &sup_config()->control_socket_dirs;

	for (size_t i = 0; i < l->n; i++) {
		char *a = realpath(l->v[i], NULL);
		size_t n = a ? strlen(a) : 0;

		if (a && strncmp(rdir, a, n) == 0 && (rdir[n] == '\0' || rdir[n] == '/' ||
						     strcmp(a, "/") == 0))
			return a;
		free(a);
	}
	return NULL;
}

/* Whoever owns a directory can make it writable, so ownership counts. */
static bool can_write(const struct ctl_caller *who, const struct stat *st)
{
	if (st->st_uid == who->peer->uid || (st->st_mode & S_IWOTH))
		return true;
	if (!(st->st_mode & S_IWGRP))
		return false;
	if (!who->groups_known || st->st_gid == who->peer->gid)
		return true;
	for (size_t i = 0; i < who->n_groups; i++)
		if (who->groups[i] == st->st_gid)
			return true;
	return false;
}

/* A caller who can write a directory on the way from the allowed one down
 * to the socket could later swap what lies below it for a link elsewhere:
 * the daemon would then dial, or delete on stop, what the link names. The
 * socket's own directory matters for a target only (for a listening socket
 * the caller could only rename things within it). The first such
 * directory, or NULL. */
static char *writable_on_the_way(const struct ctl_caller *who, const char *root,
				 const char *rdir, bool target)
{
	size_t len = strlen(root), end = strlen(rdir);

	for (;;) {
		char *d = xstrndup(rdir, len);
		struct stat st;
		const char *next;

		if ((len < end || target) && (stat(d, &st) < 0 || can_write(who, &st)))
			return d;
		free(d);
		if (len >= end)
			return NULL;
		next = strchr(rdir + len + (rdir[len] == '/'), '/');
		len = next ? (size_t)(next - rdir) : end;
	}
}

static json_t *outside(const char *resolved)
{
	char *list = joined(&sup_config()->control_socket_dirs);
	json_t *r = ctl_fail(DENIED, "Unix socket %s is outside control_socket_dirs (%s); control_users "
			     "may only use sockets there", resolved, list);

	free(list);
	return r;
}

/* What is at the resolved path now: not a link, not the control socket. */
static json_t *check_file(const char *resolved, bool target)
{
	struct stat st;
	bool exists = lstat(resolved, &st) == 0;

	if (exists && S_ISLNK(st.st_mode))
		return ctl_fail(DENIED, "Unix socket %s is a symbolic link; control_users must name "
				"the socket itself", resolved);
	if (ctl_is_control_socket(resolved, exists ? &st : NULL))
		return ctl_fail(DENIED, "%s is the daemon's control socket; no binding may use it",
				resolved);
	if (exists && target && !S_ISSOCK(st.st_mode))
		return ctl_fail(DENIED, "%s is not a Unix socket", resolved);
	return NULL;
}

static json_t *check_resolved(const struct ctl_caller *who, const char *rdir, const char *resolved,
			      bool target)
{
	char *root = allowed_root(rdir), *w = NULL;
	json_t *r = NULL;

	if (!root)
		return outside(resolved);
	w = writable_on_the_way(who, root, rdir, target);
	if (w)
		r = ctl_fail(DENIED, "Unix socket %s: uid %u can write %s, so what is there could be "
			     "swapped for a link; control_socket_dirs are for directories control_users "
			     "cannot write", resolved, (unsigned)who->peer->uid, w);
	else
		r = check_file(resolved, target);
	free(w);
	free(root);
	return r;
}

/* *path becomes the resolved path on success. */
static json_t *check_socket(const struct ctl_caller *who, char **path, bool target)
{
	const char *slash = strrchr(*path, '/');
	char *dir, *rdir, *resolved;
	json_t *r;

	if (!plain_path(*path) || !slash[1])
		return ctl_fail(DENIED, "Unix socket \"%s\": control_users must give an absolute path "
				"without \".\", \"..\" or empty parts", *path);
	dir = xstrndup(*path, slash == *path ? 1 : (size_t)(slash - *path));
	rdir = realpath(dir, NULL);
	free(dir);
	if (!rdir)
		return ctl_fail(DENIED, "Unix socket %s: its directory: %s", *path, strerror(errno));
	resolved = xasprintf("%s/%s", strcmp(rdir, "/") ? rdir : "", slash + 1);
	if (strlen(resolved) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		r = ctl_fail(DENIED, "Unix socket %s: the path is too long", resolved);
	else
		r = check_resolved(who, rdir, resolved, target);
	free(rdir);
	if (!r) {
		free(*path);
		*path = resolved;
	} else {
		free(resolved);
	}
	return r;
}

/* ---- the forward --------------------------------------------------------------------- */

static json_t *check_ep(const struct ctl_caller *who, enum azb_dir dir, struct azb_ep *e)
{
	json_t *r = NULL;

	if (dir == AZB_DIR_LOCAL && e->host_name)
		r = ctl_policy_host_name(who, e->host_name);
	if (r)
		return r;
	if (e->kind == AZB_KIND_UNIX)
		return check_socket(who, &e->socket_path, dir == AZB_DIR_REMOTE);
	if (dir == AZB_DIR_LOCAL && e->port < 1024 && !sup_config()->control_privileged_ports)
		return ctl_fail(DENIED, "listening on port %u: control_users may take ports below "
				"1024 only with control_privileged_ports = true", e->port);
	return NULL;
}

json_t *ctl_policy_fwd(const struct ctl_caller *who, struct azb_fwd *f)
{
	json_t *r;

	if (who->root)
		return NULL;
	for (size_t i = 0; i < f->n_ep; i++) {
		r = check_ep(who, f->dir, &f->ep[i]);
		if (r)
			return r;
	}
	return NULL;
}

#include "control_add.h"

#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctlpolicy.h"
#include "log.h"
#include "reload.h"
#include "supervisor.h"
#include "util.h"

#define ADD_WHAT "control request"

/* Secrets stay in files an administrator protects, never in requests that
 * end up in world-readable drop-ins. The proxy keys too: a password file
 * named in a request would send that file's first line to the proxy the
 * request names. */
static const char *const cred_keys[] = {
	"connection_string", "connection_string_file", "endpoint", "shared_access_key_name",
	"shared_access_key", "shared_access_key_file", "shared_access_signature", "authentication",
	"credential", "proxy", "proxy_user", "proxy_password_file",
};

/* ---- JSON -> libconfig, so files and requests share one parser ----------- */

static int put_scalar(config_setting_t *parent, const char *key, json_t *v, char *err, size_t len)
{
	int type = json_is_string(v) ? CONFIG_TYPE_STRING : json_is_integer(v) ? CONFIG_TYPE_INT64 :
		   json_is_boolean(v) ? CONFIG_TYPE_BOOL : CONFIG_TYPE_NONE;
	config_setting_t *s;

	if (type == CONFIG_TYPE_NONE)
		return azb_err(err, len, "\"%.64s\" must be a string, a number or true/false", key);
	s = config_setting_add(parent, key, type);
	if (!s)
		return azb_err(err, len, "\"%.64s\" is not a configuration key", key);
	if (type == CONFIG_TYPE_STRING)
		config_setting_set_string(s, json_string_value(v));
	else if (type == CONFIG_TYPE_INT64)
		config_setting_set_int64(s, json_integer_value(v));
	else
		config_setting_set_bool(s, json_is_true(v));
	return 0;
}

static int put_group(config_setting_t *g, json_t *obj, bool top, char *err, size_t len);

static int put_bindings(config_setting_t *parent, json_t *arr, char *err, size_t len)
{
	config_setting_t *list = config_setting_add(parent, "bindings", CONFIG_TYPE_LIST);
	size_t i;
	json_t *e;

	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return azb_err(err, len, "\"bindings\" must be a non-empty array of objects");
	json_array_foreach(arr, i, e) {
		if (!json_is_object(e))
			return azb_err(err, len, "\"bindings\" must be a non-empty array of objects");
		if (put_group(config_setting_add(list, NULL, CONFIG_TYPE_GROUP), e, false, err,
			      len) < 0)
			return -EINVAL;
	}
	return 0;
}

static int put_group(config_setting_t *g, json_t *obj, bool top, char *err, size_t len)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		int r;

		if (top && (strcmp(key, CTL_M_DIRECTION) == 0 || strcmp(key, CTL_M_LEGACY) == 0))
			continue;
		for (size_t i = 0; i < AZB_ARRAY_SIZE(cred_keys); i++)
			if (strcmp(key, cred_keys[i]) == 0)
				return azb_err(err, len, "%s cannot be set over the control socket; "
					       "put credentials and proxy settings in a "
					       "configuration file", key);
		r = top && strcmp(key, "bindings") == 0 ? put_bindings(g, v, err, len) :
							 put_scalar(g, key, v, err, len);
		if (r < 0)
			return r;
	}
	return 0;
}

/* -R's legacy order becomes the canonical -T expression the files know. */
static int legacy_to_remote(json_t *b, char *err, size_t len)
{
	const char *expr = json_string_value(json_object_get(b, CTL_M_EXPRESSION));
	struct azb_fwd *f;
	char *text;

	if (!json_is_true(json_object_get(b, CTL_M_LEGACY)))
		return 0;
	if (!expr)
		return azb_err(err, len, "\"legacy\" needs an \"expression\"");
	if (bnd_parse_legacy(expr, &f, err, len) < 0)
		return -EINVAL;
	text = bnd_format(f);
	json_object_set_new(b, CTL_M_EXPRESSION, json_string(text));
	free(text);
	bnd_fwd_free(f);
	return 0;
}

static struct azb_fwd *fwd_from_json(json_t *b, enum azb_dir dir, struct cfg_errors *errs)
{
	struct azb_config *scratch = cfg_new();
	struct azb_fwd *f = NULL;
	char err[512];
	config_t cf;

	config_init(&cf);
	if (legacy_to_remote(b, err, sizeof(err)) < 0 ||
	    put_group(config_root_setting(&cf), b, true, err, sizeof(err)) < 0)
		cfg_errors_add(errs, ADD_WHAT, 0, "%s", err);
	else
		f = cfg_parse_fwd(scratch, config_root_setting(&cf), dir, ADD_WHAT, errs);
	config_destroy(&cf);
	cfg_free(scratch);
	if (f) {
		free(f->origin_file);
		f->origin_file = NULL;
	}
	return f;
}

static json_t *invalid(const struct cfg_errors *errs)
{
	json_t *r = ctl_fail("invalid", "%s", errs->n ? errs->msg[0] : "invalid forward");
	json_t *a = json_array();

	for (size_t i = 0; i < errs->n; i++)
		json_array_append_new(a, json_string(errs->msg[i]));
	json_object_set_new(r, CTL_M_ERRORS, a);
	return r;
}

/* ---- drop-in files ---------------------------------------------------------- */

static char *dropin_path(const char *dir, const char *name)
{
	return xasprintf("%s/50-%s.conf", dir, name);
}

static json_t *added(const char *name, const char *file)
{
	struct fwd_run *fr = sup_find(name);
	json_t *r = json_pack("{s:b, s:s}", CTL_M_OK, 1, CTL_M_NAME, name);

	if (file)
		json_object_set_new(r, CTL_M_FILE, json_string(file));
	if (fr)
		json_object_set_new(r, CTL_M_STATE, json_string(fwd_state_name(fr->state)));
	return r;
}

static json_t *add_persistent(const struct azb_fwd *f)
{
	char *dir = reload_dropin_dir(), *path, *text, *why;
	json_t *r;
	int err;

	if (!dir)
		return ctl_fail("invalid", "azbridged runs without a configuration file; add the "
				"forward with --runtime");
	path = dropin_path(dir, f->name);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		r = ctl_fail("io", "cannot create %s: %s", dir, strerror(errno));
	} else if (access(path, F_OK) == 0) {
		r = ctl_fail("exists", "%s already exists", path);
	} else {
		text = cfg_print_fwd(f);
		/* A dot name while it is written: reloads skip it. */
		err = azb_write_atomic(path, text, 0644);
		free(text);
		why = xasprintf("azbridgectl add %s", f->name);
		r = err < 0 ? ctl_fail("io", "cannot write %s: %s", path, strerror(-err)) :
			      ctl_reload(why);
		free(why);
		if (err == 0 && !json_is_true(json_object_get(r, CTL_M_OK)))
			unlink(path);
		else if (err == 0)
			json_object_update_new(r, added(f->name, path));
	}
	free(path);
	free(dir);
	return r;
}

static json_t *add_runtime(const struct azb_fwd *f)
{
	char *why = xasprintf("azbridgectl add --runtime %s", f->name);
	json_t *r;

	sup_runtime_add(f);
	r = ctl_reload(why);
	free(why);
	if (!json_is_true(json_object_get(r, CTL_M_OK)))
		sup_runtime_remove(f->name);
	else
		json_object_update_new(r, added(f->name, NULL));
	return r;
}

static json_t *add_checked(const struct azb_fwd *f, bool runtime)
{
	if (cfg_find_fwd(sup_config(), f->name))
		return ctl_fail("exists", "a forward named \"%s\" exists", f->name);
	return runtime ? add_runtime(f) : add_persistent(f);
}

/* Root's limits are the parser's; anyone else's are ctlpolicy.c's, checked
 * on the request's keys and again on the forward they make. */
json_t *ctl_add(const struct ctl_caller *who, json_t *req)
{
	json_t *b = json_object_get(req, CTL_M_FORWARD), *r;
	const char *dir = json_string_value(json_object_get(b, CTL_M_DIRECTION));
	struct cfg_errors errs = { 0 };
	struct azb_fwd *f;

	if (!dir || (strcmp(dir, "local") && strcmp(dir, "remote")))
		return ctl_fail("bad-request", "\"direction\" must be \"local\" or \"remote\"");
	r = ctl_policy_keys(who, b);
	if (r)
		return r;
	f = fwd_from_json(b, strcmp(dir, "local") ? AZB_DIR_REMOTE : AZB_DIR_LOCAL, &errs);
	if (!f) {
		r = invalid(&errs);
		cfg_errors_clear(&errs);
		return r;
	}
	r = ctl_policy_fwd(who, f);
	if (!r)
		r = add_checked(f, json_is_true(json_object_get(req, CTL_M_RUNTIME)));
	bnd_fwd_free(f);
	return r;
}

/* ---- remove ----------------------------------------------------------------- */

static json_t *remove_runtime(struct fwd_run *fr)
{
	struct azb_fwd *keep = bnd_fwd_dup(fr->fwd);
	char *why = xasprintf("azbridgectl remove %s", keep->name);
	json_t *r;

	sup_runtime_remove(keep->name);
	r = ctl_reload(why);
	if (!json_is_true(json_object_get(r, CTL_M_OK)))
		sup_runtime_add(keep);
	else
		json_object_set_new(r, CTL_M_NAME, json_string(keep->name));
	bnd_fwd_free(keep);
	free(why);
	return r;
}

/* The file is moved aside under a dot name (reloads skip it) rather than
 * deleted: if the reload fails it goes back as it was, with its mode, owner
 * and bytes, since the forward still runs and a restart must agree. */
static json_t *remove_dropin(const char *name, const char *path)
{
	const char *slash = strrchr(path, '/');
	char *aside = xasprintf("%.*s/.%s.removing", (int)(slash - path), path, slash + 1);
	char *why = xasprintf("azbridgectl remove %s", name);
	bool ok;
	json_t *r;

	if (rename(path, aside) < 0) {
		r = ctl_fail("io", "cannot remove %s: %s", path, strerror(errno));
	} else {
		r = ctl_reload(why);
		ok = json_is_true(json_object_get(r, CTL_M_OK));
		if (!ok && rename(aside, path) < 0)
			log_error("cannot put %s back from %s: %s", path, aside, strerror(errno));
		if (ok && unlink(aside) < 0)
			log_warning("cannot delete %s: %s", aside, strerror(errno));
		if (ok)
			json_object_update_new(r, json_pack("{s:s, s:s}", CTL_M_NAME, name,
							    CTL_M_FILE, path));
	}
	free(aside);
	free(why);
	return r;
}

json_t *ctl_remove(const struct ctl_caller *who, json_t *req)
{
	const char *name = json_string_value(json_object_get(req, CTL_M_NAME));
	struct fwd_run *fr = sup_find(name);
	char *dir, *path;
	json_t *r;

	(void)who;
	if (!fr)
		return ctl_fail("not-found", "no forward named \"%s\"", name);
	if (sup_is_runtime(name))
		return remove_runtime(fr);
	dir = reload_dropin_dir();
	path = dir ? dropin_path(dir, name) : NULL;
	if (path && azb_streq(fr->fwd->origin_file, path))
		r = remove_dropin(name, path);
	else if (fr->fwd->origin_file)
		r = ctl_fail("invalid", "\"%s\" is defined in %s:%d; edit that file and reload",
			     name, fr->fwd->origin_file, fr->fwd->origin_line);
	else
		r = ctl_fail("invalid", "\"%s\" comes from the command line; it stays until azbridged "
			     "is restarted without it", name);
	free(path);
	free(dir);
	return r;
}

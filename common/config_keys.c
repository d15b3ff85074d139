/* The settings table: every key outside a forward's bindings (global, and
 * the credential keys a forward may set too) by our name and the original
 * tool's, its type and range, and its setter. Files, -o and the control socket all
 * go through it, so a value is checked the same way wherever it comes from. */
#include "config_impl.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <unistd.h>

#include "hostsfile.h"
#include "log.h"

/* A global setting's check and store. Credential keys take cred.h's
 * setters directly, all but the key file, which needs the loader's dir. */
typedef int (*setter_fn)(struct cfg_loader *ld, struct azb_cred *cred, const char *v, char *err,
			 size_t len);
typedef int (*cred_setter_fn)(struct azb_cred *c, const char *v, char *err, size_t len);

enum vtype { V_STR, V_INT, V_BOOL };

struct key {
	const char *name;          /* ours */
	const char *orig;          /* the original tool's, or NULL */
	enum vtype type;
	bool cred;                 /* also valid inside a forward */
	bool dead;                 /* accepted, checked, no effect */
	bool secret;               /* holds a key or a signature: not in a file others read */
	long min, max;
	setter_fn set;             /* or: */
	cred_setter_fn set_cred;
	size_t field;              /* set == store_typed: offset of its int or bool in azb_config */
};

static int parse_bool(const char *v, bool *out)
{
	static const char *yes[] = { "true", "yes", "on", "1" }, *no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < AZB_ARRAY_SIZE(yes); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* ---- setters ----------------------------------------------------------- */

static int set_key_file(struct cfg_loader *ld, struct azb_cred *cred, const char *v, char *err,
			size_t len)
{
	return cred_set_key_file(cred, v, ld->dir, err, len);
}

static int set_proxy_password_file(struct cfg_loader *ld, struct azb_cred *cred, const char *v,
				   char *err, size_t len)
{
	return cred_set_proxy_password_file(cred, v, ld->dir, err, len);
}

static int set_connstr_file(struct cfg_loader *ld, struct azb_cred *cred, const char *v, char *err,
			    size_t len)
{
	return cred_set_connstr_file(cred, v, ld->dir, err, len);
}

static int set_bind_address(struct cfg_loader *ld, struct azb_cred *cred, const char *v, char *err,
			    size_t len)
{
	(void)cred;
	if (bnd_check_bind_address(v, err, len) < 0)
		return -EINVAL;
	azb_set_str(&ld->c->bind_address, v);
	free(ld->c->bind_address_at);
	ld->c->bind_address_at = ld->line ? xasprintf("%s:%d", ld->file, ld->line) :
					    xstrdup(ld->file);
	return 0;
}

static int store_typed(struct cfg_loader *ld, struct azb_cred *cred, const char *v, char *err,
		       size_t len)
{
	(void)ld;
	(void)v;
	(void)err;
	(void)len;
	(void)cred;
	return 0;   /* apply_key() stores the checked value */
}

static int set_log_level(struct cfg_loader *ld, struct azb_cred *cred, const char *v, char *err,
			 size_t len)
{
	(void)cred;
	if (log_level_parse(v, &ld->c->log_level) < 0)
		return azb_err(err, len, "log_level \"%s\" is not one of none, fatal, error, warning, "
			       "notice, info, verbose, debug", v);
	ld->c->log_level_set = true;
	return 0;
}

static int set_log_file(struct cfg_loader *ld, struct azb_cred *cred, const char *v, char *err,
			size_t len)
{
	(void)cred;
	if (!*v)
		return azb_err(err, len, "log_file is empty");
	azb_set_str(&ld->c->log_file, v);
	return 0;
}

static int set_ca_file(struct cfg_loader *ld, struct azb_cred *cred, const char *v, char *err,
		       size_t len)
{
	(void)cred;
	if (access(v, R_OK) < 0)
		return azb_err(err, len, "ca_file %s: %s", v, strerror(errno));
	azb_set_str(&ld->c->ca_file, v);
	return 0;
}

static int set_abs_path(const char *key, char **dst, const char *v, char *err, size_t len)
{
	if (v[0] != '/')
		return azb_err(err, len, "%s must be an absolute path, not \"%s\"", key, v);
	azb_set_str(dst, v);
	return 0;
}

static int set_control_socket(struct cfg_loader *ld, struct azb_cred *cred, const char *v,
			      char *err, size_t len)
{
	(void)cred;
	ld->c->control_socket_set = true;
	if (!*v || strcmp(v, "none") == 0) {
		azb_set_str(&ld->c->control_socket, NULL);
		return 0;
	}
	if (strlen(v) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return azb_err(err, len, "control_socket path is longer than %zu bytes",
			       sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	return set_abs_path("control_socket", &ld->c->control_socket, v, err, len);
}

static int set_control_group(struct cfg_loader *ld, struct azb_cred *cred, const char *v, char *err,
			     size_t len)
{
	(void)cred;
	if (!getgrnam(v) && !azb_is_uint(v))
		return azb_err(err, len, "control_group \"%s\" is not a group on this system", v);
	azb_set_str(&ld->c->control_group, v);
	return 0;
}

static int add_control_user(struct azb_config *c, const char *u, char *err, size_t len)
{
	const struct passwd *pw = getpwnam(u);
	long uid;

	if (pw)
		uid = pw->pw_uid;
	else if (azb_parse_int(u, 0, 0x7fffffff, &uid) < 0)
		return azb_err(err, len, "control_users: \"%s\" is not a user on this system", u);
	c->control_uids = xrealloc(c->control_uids, (c->n_control_uids + 1) * sizeof(unsigned));
	c->control_uids[c->n_control_uids++] = (unsigned)uid;
	return 0;
}

/* -o control_users:alice,1001 (the file takes a list). */
static int set_control_users(struct cfg_loader *ld, struct azb_cred *cred, const char *v, char *err,
			     size_t len)
{
	char *copy = xstrdup(v), *save = NULL;
	int r = 0;

	(void)cred;
	ld->c->n_control_uids = 0;
	for (char *u = strtok_r(copy, ", ", &save); u && r == 0; u = strtok_r(NULL, ", ", &save))
		r = add_control_user(ld->c, u, err, len);
	free(copy);
	return r;
}

/* ---- lists of strings: [ "a", "b" ] in a file, "a,b" after -o ---- */

typedef int (*item_check_fn)(const char *key, const char *item, char **out, char *err, size_t len);

struct str_list {
	const char *key;
	size_t off;                 /* of its struct azb_strs in azb_config */
	item_check_fn check;        /* the item as stored in *out */
};

static struct azb_strs *list_in(struct azb_config *c, const struct str_list *l)
{
	return (struct azb_strs *)((char *)c + l->off);
}

static int list_add(struct azb_config *c, const struct str_list *l, const char *item, char *err,
		    size_t len)
{
	struct azb_strs *v = list_in(c, l);
	char *norm;

	if (l->check(l->key, item, &norm, err, len) < 0)
		return -EINVAL;
	v->v = xrealloc(v->v, (v->n + 1) * sizeof(*v->v));
	v->v[v->n++] = norm;
	return 0;
}

static int list_set_text(struct azb_config *c, const struct str_list *l, const char *v, char *err,
			 size_t len)
{
	char *copy = xstrdup(v), *save = NULL;
	int r = 0;

	cfg_strs_free(list_in(c, l));
	for (char *t = strtok_r(copy, ", ", &save); t && r == 0; t = strtok_r(NULL, ", ", &save))
		r = list_add(c, l, t, err, len);
	free(copy);
	return r;
}

/* Directories are compared after resolving at the time of each request;
 * here only their form is checked. */
static int check_socket_dir(const char *key, const char *v, char **out, char *err, size_t len)
{
	size_t n = strlen(v);

	if (v[0] != '/')
		return azb_err(err, len, "%s: \"%s\" is not an absolute path", key, v);
	while (n > 1 && v[n - 1] == '/')
		n--;
	*out = xstrndup(v, n);
	return 0;
}

/* A domain: itself and the names below it. A leading dot says the same. */
static int check_host_domain(const char *key, const char *v, char **out, char *err, size_t len)
{
	const char *d = v[0] == '.' ? v + 1 : v;

	if (!hosts_valid_name(d))
		return azb_err(err, len, "%s: \"%s\" is not a domain name", key, v);
	*out = xstrdup(d);
	return 0;
}

static const struct str_list socket_dirs = {
	"control_socket_dirs", offsetof(struct azb_config, control_socket_dirs), check_socket_dir,
};
static const struct str_list host_domains = {
	"control_host_names", offsetof(struct azb_config, control_host_names), check_host_domain,
};

static int set_socket_dirs(struct cfg_loader *ld, struct azb_cred *cred, const char *v, char *err,
			   size_t len)
{
	(void)cred;
	return list_set_text(ld->c, &socket_dirs, v, err, len);
}

static int set_host_domains(struct cfg_loader *ld, struct azb_cred *cred, const char *v, char *err,
			    size_t len)
{
	(void)cred;
	return list_set_text(ld->c, &host_domains, v, err, len);
}

static const struct str_list *str_list_of(setter_fn set)
{
	return set == set_socket_dirs ? &socket_dirs : set == set_host_domains ? &host_domains : NULL;
}

static int set_hosts_file(struct cfg_loader *ld, struct azb_cred *cred, const char *v, char *err,
			  size_t len)
{
	(void)cred;
	return set_abs_path("hosts_file", &ld->c->hosts_file, v, err, len);
}

static int set_dead_family(struct cfg_loader *ld, struct azb_cred *cred, const char *v, char *err,
			   size_t len)
{
	(void)ld;
	(void)cred;
	if (strcasecmp(v, "any") && strcasecmp(v, "inet") && strcasecmp(v, "inet6"))
		return azb_err(err, len, "AddressFamily \"%s\" is not any, inet or inet6", v);
	return 0;
}

/* ---- the table --------------------------------------------------------- */

#define CRED(n, o, fn) { .name = n, .orig = o, .type = V_STR, .cred = true, .set_cred = fn }
#define SECRET(n, o, fn) \
	{ .name = n, .orig = o, .type = V_STR, .cred = true, .secret = true, .set_cred = fn }
#define GLOBAL(n, o, fn) { .name = n, .orig = o, .type = V_STR, .set = fn }
/* The offset of field f, which must have the size of what type t parses
 * into (an int or a bool): a mismatch does not compile. */
#define FIELD(f, t) (offsetof(struct azb_config, f) + 0 * sizeof(char[ \
	sizeof(((struct azb_config *)0)->f) == ((t) == V_INT ? sizeof(int) : sizeof(bool)) ? 1 : -1]))
#define TYPED(n, o, t, lo, hi, f) { .name = n, .orig = o, .type = t, .min = lo, .max = hi, \
				    .set = store_typed, .field = FIELD(f, t) }
#define DEAD(o, t, lo, hi, fn) { .orig = o, .type = t, .dead = true, .min = lo, .max = hi, .set = fn }

static const struct key keys[] = {
	SECRET("connection_string", "AzureRelayConnectionString", cred_from_connstr),
	{ .name = "connection_string_file", .type = V_STR, .cred = true, .set = set_connstr_file },
	CRED("endpoint", "AzureRelayEndpoint", cred_set_endpoint),
	CRED("shared_access_key_name", "AzureRelaySharedAccessKeyName", cred_set_key_name),
	SECRET("shared_access_key", "AzureRelaySharedAccessKey", cred_set_key),
	{ .name = "shared_access_key_file", .type = V_STR, .cred = true, .set = set_key_file },
	SECRET("shared_access_signature", "AzureRelaySharedAccessSignature", cred_set_signature),
	CRED("authentication", NULL, cred_set_authentication),
	CRED("credential", NULL, cred_set_credential),
	CRED("proxy", NULL, cred_set_proxy),
	CRED("proxy_user", NULL, cred_set_proxy_user),
	{ .name = "proxy_password_file", .type = V_STR, .cred = true,
	  .set = set_proxy_password_file },
	GLOBAL("bind_address", "BindAddress", set_bind_address),
	TYPED("keep_alive_interval", "KeepAliveInterval", V_INT, 1, 3600, keep_alive_interval),
	TYPED("token_lifetime", NULL, V_INT, 2, 86400, token_lifetime),
	GLOBAL("log_level", "LogLevel", set_log_level),
	GLOBAL("log_file", "LogFileName", set_log_file),
	GLOBAL("ca_file", NULL, set_ca_file),
	TYPED("exit_on_forward_failure", "ExitOnForwardFailure", V_BOOL, 0, 0,
	      exit_on_forward_failure),
	GLOBAL("control_socket", NULL, set_control_socket),
	GLOBAL("control_group", NULL, set_control_group),
	GLOBAL("control_users", NULL, set_control_users),
	GLOBAL("control_socket_dirs", NULL, set_socket_dirs),
	TYPED("control_privileged_ports", NULL, V_BOOL, 0, 0, control_privileged_ports),
	GLOBAL("control_host_names", NULL, set_host_domains),
	GLOBAL("hosts_file", NULL, set_hosts_file),
	TYPED("drain_timeout", NULL, V_INT, 0, 3600, drain_timeout),
	TYPED("stop_timeout", NULL, V_INT, 0, 300, stop_timeout),
	TYPED("connect_timeout", NULL, V_INT, 1, 120, connect_timeout),
	TYPED("tunnel_keep_alive", NULL, V_INT, 0, AZB_TUNNEL_KEEPALIVE_MAX, tunnel_keep_alive),
	DEAD("GatewayPorts", V_BOOL, 0, 0, store_typed),
	DEAD("AddressFamily", V_STR, 0, 0, set_dead_family),
	DEAD("ConnectionAttempts", V_INT, 1, 10, store_typed),
	DEAD("ConnectTimeout", V_INT, 0, 120, store_typed),
	DEAD("ClearAllForwardings", V_BOOL, 0, 0, store_typed),
};

#undef CRED
#undef SECRET
#undef GLOBAL
#undef TYPED
#undef FIELD
#undef DEAD

static const struct key *find_key(const char *name, bool allow_orig)
{
	for (size_t i = 0; i < AZB_ARRAY_SIZE(keys); i++) {
		if (keys[i].name && strcmp(keys[i].name, name) == 0)
			return &keys[i];
		if (allow_orig && keys[i].orig && strcmp(keys[i].orig, name) == 0)
			return &keys[i];
	}
	return NULL;
}

static const char *key_label(const struct key *k)
{
	return k->name ? k->name : k->orig;
}

/* A file others may read holds no secret. A connection string is one only
 * when it carries a key or a signature. */
static int check_exposed(struct cfg_loader *ld, const struct key *k, const char *v, char *err,
			 size_t len)
{
	bool cs = k->set_cred == cred_from_connstr;

	if (!k->secret || !ld->exposed[0])
		return 0;
	if (cs && !strcasestr(v, "SharedAccessKey=") && !strcasestr(v, "SharedAccessSignature="))
		return 0;
	return azb_err(err, len, "%s is set here but this file %s, or use shared_access_key_file",
		       cs ? "a connection string with a secret" : k->name, ld->exposed);
}

static int set_value(struct cfg_loader *ld, const struct key *k, struct azb_cred *cred,
		     const char *v, char *err, size_t len)
{
	if (check_exposed(ld, k, v, err, len) < 0)
		return -EINVAL;
	return k->set_cred ? k->set_cred(cred, v, err, len) : k->set(ld, cred, v, err, len);
}

static void store_value(struct azb_config *c, const struct key *k, long n, bool b)
{
	char *p = (char *)c + k->field;

	if (k->type == V_INT)
		*(int *)p = (int)n;
	else
		*(bool *)p = b;
}

/* Apply a text value; typed checks first, then the key's own. */
static int apply_key(struct cfg_loader *ld, const struct key *k, struct azb_cred *cred,
		     const char *v, char *err, size_t len)
{
	long n = 0;
	bool b = false;

	if (k->type == V_INT && azb_parse_int(v, k->min, k->max, &n) < 0)
		return azb_err(err, len, "%s must be a whole number from %ld to %ld, not \"%s\"",
			       key_label(k), k->min, k->max, v);
	if (k->type == V_BOOL && parse_bool(v, &b) < 0)
		return azb_err(err, len, "%s must be true or false, not \"%s\"", key_label(k), v);
	if (set_value(ld, k, cred, v, err, len) < 0)
		return -EINVAL;
	if (k->dead)
		return 1;
	if (k->set == store_typed)
		store_value(ld->c, k, n, b);
	return 0;
}

bool cfg_key_is_secret(const char *key)
{
	const struct key *k = find_key(key, true);

	return k && k->secret;
}

int cfg_set_global(struct azb_config *c, const char *key, const char *value, char *err,
		   size_t errlen)
{
	struct cfg_loader ld = { .c = c, .file = "command line", .dir = (char *)"." };
	const struct key *k = find_key(key, true);

	if (!k)
		return azb_err(err, errlen, "unknown configuration key \"%s\"", key);
	return apply_key(&ld, k, &c->cred, value, err, errlen);
}

/* ---- settings from libconfig ------------------------------------------- */

void cfg_error_at(struct cfg_loader *ld, const config_setting_t *s, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cfg_errors_add(ld->errs, ld->file, s ? cfg_line_of(s) : 0, "%s", msg);
}

static const char *type_name(enum vtype t)
{
	return t == V_INT ? "a number" : t == V_BOOL ? "true or false" : "a string in quotes";
}

/* A scalar setting as text, if its libconfig type matches. */
static int scalar_text(const config_setting_t *s, enum vtype want, char *buf, size_t len)
{
	int t = config_setting_type(s);

	if (want == V_STR && t == CONFIG_TYPE_STRING)
		snprintf(buf, len, "%s", config_setting_get_string(s));
	else if (want == V_INT && (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64))
		snprintf(buf, len, "%lld", config_setting_get_int64(s));
	else if (want == V_BOOL && t == CONFIG_TYPE_BOOL)
		snprintf(buf, len, "%s", config_setting_get_bool(s) ? "true" : "false");
	else
		return -EINVAL;
	return 0;
}

static void apply_setting(struct cfg_loader *ld, const struct key *k, struct azb_cred *cred,
			  const config_setting_t *s)
{
	char text[4096], err[512];

	if (scalar_text(s, k->type, text, sizeof(text)) < 0) {
		cfg_error_at(ld, s, "%s must be %s", key_label(k), type_name(k->type));
		return;
	}
	ld->line = cfg_line_of(s);
	if (apply_key(ld, k, cred, text, err, sizeof(err)) < 0)
		cfg_error_at(ld, s, "%s", err);
	ld->line = 0;
	explicit_bzero(text, sizeof(text));
}

/* A connection string's file holds the group's secret: another one beside
 * it would leave which one counts to the order of the lines. */
static const config_setting_t *connstr_file_of(struct cfg_loader *ld,
					       const config_setting_t *group)
{
	static const char *const others[] = { "connection_string", "shared_access_key",
					      "shared_access_key_file", "shared_access_signature" };
	const config_setting_t *f = config_setting_get_member(group, "connection_string_file");

	for (size_t i = 0; f && i < AZB_ARRAY_SIZE(others); i++) {
		const config_setting_t *o = config_setting_get_member(group, others[i]);

		if (o) {
			cfg_error_at(ld, o, "connection_string_file and %s exclude each other: "
				     "keep one", others[i]);
			return NULL;
		}
	}
	return f;
}

/* Connection strings go first so a file's single keys override them. */
void cfg_apply_creds(struct cfg_loader *ld, const config_setting_t *group, struct azb_cred *cred)
{
	const config_setting_t *cs = config_setting_get_member(group, "connection_string");
	const config_setting_t *csf = connstr_file_of(ld, group);

	if (cs)
		apply_setting(ld, find_key("connection_string", false), cred, cs);
	if (csf)
		apply_setting(ld, find_key("connection_string_file", false), cred, csf);
	for (int i = 0; i < config_setting_length(group); i++) {
		const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
		const struct key *k = find_key(config_setting_name(s), false);

		if (k && k->cred && s != cs && strcmp(config_setting_name(s), "connection_string_file"))
			apply_setting(ld, k, cred, s);
	}
	if (cred->proxy.password && !cred->proxy.user)
		cfg_error_at(ld, config_setting_get_member(group, "proxy_password_file"),
			     "proxy_password_file is set without proxy_user");
}

/* ---- a file's global settings ------------------------------------------ */

/* control_users = [ "alice", 1001 ]; */
static void apply_user_list(struct cfg_loader *ld, const config_setting_t *s)
{
	char err[256], num[24];

	ld->c->n_control_uids = 0;
	for (int i = 0; i < config_setting_length(s); i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *u = config_setting_get_string(e);

		if (!u && config_setting_type(e) == CONFIG_TYPE_INT) {
			snprintf(num, sizeof(num), "%d", config_setting_get_int(e));
			u = num;
		}
		if (!u)
			cfg_error_at(ld, e, "control_users takes user names or numeric uids");
		else if (add_control_user(ld->c, u, err, sizeof(err)) < 0)
			cfg_error_at(ld, e, "%s", err);
	}
}

static void apply_str_list(struct cfg_loader *ld, const struct str_list *l,
			   const config_setting_t *s)
{
	char err[512];

	cfg_strs_free(list_in(ld->c, l));
	for (int i = 0; i < config_setting_length(s); i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(e);

		if (!v)
			cfg_error_at(ld, e, "%s takes a list of strings", l->key);
		else if (list_add(ld->c, l, v, err, sizeof(err)) < 0)
			cfg_error_at(ld, e, "%s", err);
	}
}

void cfg_apply_globals(struct cfg_loader *ld, const config_setting_t *root)
{
	cfg_apply_creds(ld, root, &ld->c->cred);
	if (config_setting_get_member(root, "connection_string") ||
	    config_setting_get_member(root, "connection_string_file"))
		ld->c->connstr_set = true;
	for (int i = 0; i < config_setting_length(root); i++) {
		const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
		const char *n = config_setting_name(s);
		const struct key *k = find_key(n, false);

		if (k && k->set == set_control_users && config_setting_is_aggregate(s))
			apply_user_list(ld, s);
		else if (k && str_list_of(k->set) && config_setting_is_aggregate(s))
			apply_str_list(ld, str_list_of(k->set), s);
		else if (k && !k->cred)
			apply_setting(ld, k, NULL, s);
		else if (!k && strcmp(n, "local_forward") && strcmp(n, "remote_forward"))
			cfg_error_at(ld, s, "unknown key '%s'", n);
	}
}

bool cfg_key_is_cred(const char *name)
{
	const struct key *k = find_key(name, false);

	return k && k->cred;
}

/* /etc/azbridge-relayd.conf: listen addresses, TLS, host names, limits,
 * authorization rules and hybrid connections. Every problem is reported
 * with file:line, all of them in one pass. */
#include "rconfig.h"

#include <errno.h>
#include <stddef.h>
#include <libconfig.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "sas.h"
#include "util.h"

struct rload {
	const char *file;
	struct cfg_errors *errs;
	bool exposed;          /* the file is readable by group or others */
	char *dir;
};

static int line_of(const config_setting_t *s)
{
	return s ? (int)config_setting_source_line(s) : 0;
}

#define ERR(ld, s, ...) cfg_errors_add((ld)->errs, (ld)->file, line_of(s), __VA_ARGS__)

static bool known(struct rload *ld, const config_setting_t *g, const char *const *names,
		  const char *where)
{
	bool ok = true;

	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		const char *n = config_setting_name(m);
		size_t k = 0;

		while (names[k] && strcmp(names[k], n) != 0)
			k++;
		if (!names[k]) {
			ERR(ld, m, "unknown key \"%s\" in %s", n, where);
			ok = false;
		}
	}
	return ok;
}

static const char *str_at(struct rload *ld, const config_setting_t *g, const char *name)
{
	const config_setting_t *s = config_setting_get_member(g, name);

	if (!s)
		return NULL;
	if (config_setting_type(s) != CONFIG_TYPE_STRING || !*config_setting_get_string(s)) {
		ERR(ld, s, "%s must be a non-empty string", name);
		return NULL;
	}
	return config_setting_get_string(s);
}

static void int_at(struct rload *ld, const config_setting_t *g, const char *name, long min,
		   long max, long *out)
{
	const config_setting_t *s = config_setting_get_member(g, name);

	if (!s)
		return;
	if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64) {
		ERR(ld, s, "%s must be a number", name);
		return;
	}
	if (config_setting_get_int64(s) < min || config_setting_get_int64(s) > max) {
		ERR(ld, s, "%s must be from %ld to %ld", name, min, max);
		return;
	}
	*out = (long)config_setting_get_int64(s);
}

static void bool_at(struct rload *ld, const config_setting_t *g, const char *name, bool *out)
{
	const config_setting_t *s = config_setting_get_member(g, name);

	if (!s)
		return;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		ERR(ld, s, "%s must be true or false", name);
		return;
	}
	*out = config_setting_get_bool(s);
}

/* A list or array of strings, each passed to fn. */
static void strings_at(struct rload *ld, const config_setting_t *g, const char *name,
		       void (*fn)(struct rload *, const config_setting_t *, const char *, void *),
		       void *arg)
{
	const config_setting_t *s = config_setting_get_member(g, name);

	if (!s)
		return;
	if (!config_setting_is_aggregate(s) || config_setting_is_group(s)) {
		ERR(ld, s, "%s must be a list of strings", name);
		return;
	}
	for (int i = 0; i < config_setting_length(s); i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);

		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			ERR(ld, e, "%s must be a list of strings", name);
		else
			fn(ld, e, config_setting_get_string(e), arg);
	}
}

/* ---- pieces ------------------------------------------------------------ */

int relay_parse_listen(const char *s, struct relay_listen_addr *a)
{
	const char *colon = strrchr(s, ':');
	long port;

	if (!colon || azb_parse_int(colon + 1, 0, 65535, &port) < 0)
		return -EINVAL;
	if (s[0] == '[') {
		if (colon < s + 2 || colon[-1] != ']')
			return -EINVAL;
		a->host = xstrndup(s + 1, (size_t)(colon - s - 2));
	} else {
		a->host = xstrndup(s, (size_t)(colon - s));
		if (strchr(a->host, ':')) {
			free(a->host);
			a->host = NULL;
			return -EINVAL;
		}
	}
	a->port = (uint16_t)port;
	return 0;
}

static void add_listen(struct rload *ld, const config_setting_t *at, const char *v, void *arg)
{
	struct relay_config *rc = arg;
	struct relay_listen_addr a;

	if (relay_parse_listen(v, &a) < 0) {
		ERR(ld, at, "listen \"%s\": want ADDRESS:PORT, [IPV6]:PORT or :PORT", v);
		return;
	}
	rc->listen = xrealloc(rc->listen, (rc->n_listen + 1) * sizeof(*rc->listen));
	rc->listen[rc->n_listen++] = a;
}

static void add_host(struct rload *ld, const config_setting_t *at, const char *v, void *arg)
{
	struct relay_config *rc = arg;

	if (strpbrk(v, " /:?#@")) {
		ERR(ld, at, "hosts: \"%s\" is not a host name", v);
		return;
	}
	rc->hosts = xrealloc(rc->hosts, (rc->n_hosts + 1) * sizeof(*rc->hosts));
	rc->hosts[rc->n_hosts++] = xstrdup(v);
}

static void add_right(struct rload *ld, const config_setting_t *at, const char *v, void *arg)
{
	unsigned *rights = arg;

	if (strcasecmp(v, "Listen") == 0)
		*rights |= RIGHT_LISTEN;
	else if (strcasecmp(v, "Send") == 0)
		*rights |= RIGHT_SEND;
	else if (strcasecmp(v, "Manage") == 0)
		*rights |= RIGHT_MANAGE | RIGHT_LISTEN | RIGHT_SEND;
	else
		ERR(ld, at, "rights: \"%s\" is not Listen, Send or Manage", v);
}

/* Relative names are next to the file. Under the systemd unit the file is a
 * credential, so they name the unit's other credentials (LoadCredential=). */
static char *near_file(const struct rload *ld, const char *file)
{
	return file[0] == '/' ? xstrdup(file) : xasprintf("%s/%s", ld->dir, file);
}

static void path_at(struct rload *ld, const config_setting_t *g, const char *name, char **out)
{
	const char *v = str_at(ld, g, name);

	free(*out);
	*out = v ? near_file(ld, v) : NULL;
}

static char *rule_key(struct rload *ld, const config_setting_t *g, const char *name)
{
	const char *key = str_at(ld, g, "key"), *file = str_at(ld, g, "key_file");
	char err[512], *out = NULL, *path;

	if (!!key == !!file) {
		ERR(ld, g, "rule \"%s\" needs exactly one of key and key_file", name);
		return NULL;
	}
	if (key) {
		if (ld->exposed) {
			ERR(ld, config_setting_get_member(g, "key"), "rule \"%s\" has its key inline "
			    "but %s is readable by group or others; chmod 600 it or use key_file",
			    name, ld->file);
			return NULL;
		}
		return xstrdup(key);
	}
	path = near_file(ld, file);
	if (cfg_read_key_file(path, &out, err, sizeof(err)) < 0)
		ERR(ld, config_setting_get_member(g, "key_file"), "rule \"%s\": %s", name, err);
	free(path);
	return out;
}

static void parse_rules(struct rload *ld, const config_setting_t *list,
			struct relay_rule **rules, size_t *n)
{
	static const char *const keys[] = { "name", "key", "key_file", "rights", NULL };

	if (!list)
		return;
	if (!config_setting_is_list(list) && !config_setting_is_array(list)) {
		ERR(ld, list, "rules must be a list of groups: ( { name = ...; key_file = ...; "
		    "rights = [ ... ]; } )");
		return;
	}
	for (int i = 0; i < config_setting_length(list); i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		const char *name = str_at(ld, g, "name");
		unsigned rights = 0;
		char *key;

		if (!config_setting_is_group(g) || !known(ld, g, keys, "a rule"))
			continue;
		if (!name) {
			ERR(ld, g, "a rule needs a name");
			continue;
		}
		strings_at(ld, g, "rights", add_right, &rights);
		if (!rights)
			ERR(ld, g, "rule \"%s\" grants no rights (Listen, Send, Manage)", name);
		if (!(key = rule_key(ld, g, name)) || !rights) {
			azb_free_secret(key);
			continue;
		}
		*rules = xrealloc(*rules, (*n + 1) * sizeof(**rules));
		(*rules)[*n] = (struct relay_rule){ xstrdup(name), key, rights, sas_key_new(key) };
		(*n)++;
	}
}

/* ---- Entra ID ------------------------------------------------------------ */

struct role_name {
	const char *name, *short_name;
	unsigned rights;
};

static const struct role_name role_names[] = {
	{ "Azure Relay Owner", "Owner", RIGHT_MANAGE | RIGHT_LISTEN | RIGHT_SEND },
	{ "Azure Relay Listener", "Listener", RIGHT_LISTEN },
	{ "Azure Relay Sender", "Sender", RIGHT_SEND },
};

static unsigned role_rights(const char *v)
{
	for (size_t i = 0; v && i < AZB_ARRAY_SIZE(role_names); i++)
		if (strcasecmp(v, role_names[i].name) == 0 ||
		    strcasecmp(v, role_names[i].short_name) == 0)
			return role_names[i].rights;
	return 0;
}

/* Exactly one of object_id, app_id, app_role names the principal. */
static const char *principal(struct rload *ld, const config_setting_t *g,
			     enum relay_principal *kind)
{
	static const char *const names[] = { "object_id", "app_id", "app_role" };
	const char *id = NULL;
	int found = 0;

	for (size_t i = 0; i < AZB_ARRAY_SIZE(names); i++) {
		const char *v = str_at(ld, g, names[i]);

		if (config_setting_get_member(g, names[i]))
			found++;
		if (v) {
			id = v;
			*kind = (enum relay_principal)i;
		}
	}
	if (found != 1) {
		ERR(ld, g, "a role assignment needs exactly one of object_id, app_id and app_role");
		return NULL;
	}
	return id;
}

static void parse_roles(struct rload *ld, const config_setting_t *list,
			struct relay_role **roles, size_t *n)
{
	static const char *const keys[] = { "object_id", "app_id", "app_role", "role", NULL };

	if (!list)
		return;
	if (!config_setting_is_list(list)) {
		ERR(ld, list, "role_assignments must be a list of groups: ( { object_id = ...; "
		    "role = \"Azure Relay Sender\"; } )");
		return;
	}
	for (int i = 0; i < config_setting_length(list); i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		enum relay_principal kind = PRINCIPAL_OBJECT;
		const char *id, *role;
		unsigned rights;

		if (!config_setting_is_group(g) || !known(ld, g, keys, "a role assignment"))
			continue;
		id = principal(ld, g, &kind);
		role = str_at(ld, g, "role");
		rights = role_rights(role);
		if (!rights)
			ERR(ld, g, "role must be \"Azure Relay Owner\", \"Azure Relay Listener\" or "
			    "\"Azure Relay Sender\"");
		if (!id || !rights)
			continue;
		*roles = xrealloc(*roles, (*n + 1) * sizeof(**roles));
		(*roles)[(*n)++] = (struct relay_role){ kind, xstrdup(id), rights };
	}
}

static void add_issuer_key(struct rload *ld, const config_setting_t *e, struct relay_entra *en)
{
	static const char *const keys[] = { "file", "kid", NULL };
	const char *file = NULL, *kid = NULL;
	char err[512], *path;

	if (config_setting_type(e) == CONFIG_TYPE_STRING) {
		file = config_setting_get_string(e);
	} else if (config_setting_is_group(e) && known(ld, e, keys, "an issuer key")) {
		file = str_at(ld, e, "file");
		kid = str_at(ld, e, "kid");
	}
	if (!file || !*file) {
		ERR(ld, e, "issuer_keys: each is a file name or { file = ...; kid = ...; }");
		return;
	}
	path = near_file(ld, file);
	if (jwt_keyset_load(&en->keys, path, kid, err, sizeof(err)) < 0)
		ERR(ld, e, "issuer_keys: %s", err);
	free(path);
}

static void add_to(struct rload *ld, const config_setting_t *at, const char *v, void *arg)
{
	struct { char ***list; size_t *n; } *dst = arg;

	(void)ld;
	(void)at;
	*dst->list = xrealloc(*dst->list, (*dst->n + 1) * sizeof(char *));
	(*dst->list)[(*dst->n)++] = xstrdup(v);
}

static void parse_entra(struct rload *ld, const config_setting_t *g, struct relay_entra *en)
{
	static const char *const keys[] = { "issuer_keys", "issuers", "audiences", "clock_skew",
					    NULL };
	const config_setting_t *kl = config_setting_get_member(g, "issuer_keys");
	struct { char ***list; size_t *n; } iss = { &en->issuers, &en->n_issuers },
		aud = { &en->audiences, &en->n_audiences };

	if (!config_setting_is_group(g)) {
		ERR(ld, g, "entra_id must be a group: { issuer_keys = ...; issuers = ...; }");
		return;
	}
	known(ld, g, keys, "entra_id");
	if (!kl || !config_setting_is_aggregate(kl) || config_setting_is_group(kl) ||
	    !config_setting_length(kl))
		ERR(ld, kl ? kl : g, "entra_id needs issuer_keys, a list of PEM or JWKS files");
	for (int i = 0; kl && config_setting_is_aggregate(kl) && i < config_setting_length(kl); i++)
		add_issuer_key(ld, config_setting_get_elem(kl, (unsigned)i), en);
	strings_at(ld, g, "issuers", add_to, &iss);
	strings_at(ld, g, "audiences", add_to, &aud);
	if (!en->n_issuers)
		ERR(ld, g, "entra_id needs issuers, the iss values of tokens to accept");
	int_at(ld, g, "clock_skew", 0, 600, &en->skew_s);
}

static void parse_hcs(struct rload *ld, const config_setting_t *list, struct relay *r)
{
	static const char *const keys[] = { "name", "requires_client_authorization", "rules",
					    "role_assignments", NULL };

	if (!list)
		return;
	if (!config_setting_is_list(list)) {
		ERR(ld, list, "hybrid_connections must be a list of groups: ( { name = ...; } )");
		return;
	}
	for (int i = 0; i < config_setting_length(list); i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		const char *name = str_at(ld, g, "name");
		bool client_auth = true;
		struct relay_hc *hc;

		if (!config_setting_is_group(g) || !known(ld, g, keys, "a hybrid connection"))
			continue;
		if (!name || name[0] == '/' || name[strlen(name) - 1] == '/' || strstr(name, "//") ||
		    strchr(name, '?') || strchr(name, '$')) {
			ERR(ld, g, "a hybrid connection needs a name like \"db\" or \"site/app\"");
			continue;
		}
		if (relay_hc_find(r, name, NULL) && strcmp(relay_hc_find(r, name, NULL)->path, name) == 0) {
			ERR(ld, g, "hybrid connection \"%s\" is defined twice", name);
			continue;
		}
		bool_at(ld, g, "requires_client_authorization", &client_auth);
		hc = relay_hc_add(r, name, client_auth);
		parse_rules(ld, config_setting_get_member(g, "rules"), &hc->rules, &hc->n_rules);
		parse_roles(ld, config_setting_get_member(g, "role_assignments"), &hc->roles,
			    &hc->n_roles);
	}
}

/* The numbers: timeouts (int seconds) and limits (size_t). */
struct num_key {
	const char *name;
	long min, max;
	size_t off;
	bool seconds;            /* an int field; otherwise a size_t */
};

#define SECS(k, f, lo, hi) { k, lo, hi, offsetof(struct relay, f), true }
#define LIMIT(k, f, lo, hi) { k, lo, hi, offsetof(struct relay, f), false }

static const struct num_key nums[] = {
	SECS("accept_timeout", accept_timeout_s, 1, 600),
	SECS("request_timeout", request_timeout_s, 1, 3600),
	SECS("header_timeout", header_timeout_s, 1, 3600),
	SECS("close_timeout", close_timeout_s, 1, 600),
	LIMIT("max_pending_accepts", max_pending, 1, 1000000),
	LIMIT("max_pending_accepts_per_hybrid_connection", max_pending_per_hc, 1, 1000000),
	LIMIT("max_control_message", max_control_msg, 1024, 64L << 20),
	LIMIT("max_listeners", max_listeners, 1, 1000),
	LIMIT("max_output_queue", max_output_queue, 64 * 1024, 256L << 20),
	LIMIT("max_connections", max_connections, 1, 10000000),
	LIMIT("max_connections_per_source", max_per_source, 1, 10000000),
};

static void parse_numbers(struct rload *ld, const config_setting_t *root, struct relay *r)
{
	for (size_t i = 0; i < AZB_ARRAY_SIZE(nums); i++) {
		char *f = (char *)r + nums[i].off;
		long v = nums[i].seconds ? *(int *)f : (long)*(size_t *)f;

		int_at(ld, root, nums[i].name, nums[i].min, nums[i].max, &v);
		if (nums[i].seconds)
			*(int *)f = (int)v;
		else
			*(size_t *)f = (size_t)v;
	}
}

static void parse_level(struct rload *ld, const config_setting_t *root, struct relay_config *rc)
{
	static const char *const levels[] = { "debug", "info", "notice", "warning", "error", NULL };
	const char *lvl = str_at(ld, root, "log_level");
	size_t k = 0;

	if (!lvl)
		return;
	while (levels[k] && strcasecmp(levels[k], lvl) != 0)
		k++;
	if (levels[k])
		azb_set_str(&rc->log_level, levels[k]);
	else
		ERR(ld, config_setting_get_member(root, "log_level"),
		    "log_level \"%s\" is not debug, info, notice, warning or error", lvl);
}

static bool top_key(const char *name)
{
	static const char *const keys[] = { "listen", "certificate", "key", "plain", "hosts",
		"log_level", "rules", "hybrid_connections", "entra_id", "role_assignments", NULL };

	for (size_t i = 0; keys[i]; i++)
		if (strcmp(keys[i], name) == 0)
			return true;
	for (size_t i = 0; i < AZB_ARRAY_SIZE(nums); i++)
		if (strcmp(nums[i].name, name) == 0)
			return true;
	return false;
}

static bool any_hc_roles(const struct relay *r)
{
	for (const struct relay_hc *h = r->hcs; h; h = h->next)
		if (h->n_roles)
			return true;
	return false;
}

static void parse_top(struct rload *ld, const config_setting_t *root, struct relay *r,
		      struct relay_config *rc)
{
	for (int i = 0; i < config_setting_length(root); i++) {
		const config_setting_t *m = config_setting_get_elem(root, (unsigned)i);

		if (!top_key(config_setting_name(m)))
			ERR(ld, m, "unknown key \"%s\" in the top level", config_setting_name(m));
	}
	strings_at(ld, root, "listen", add_listen, rc);
	strings_at(ld, root, "hosts", add_host, rc);
	path_at(ld, root, "certificate", &rc->cert_file);
	path_at(ld, root, "key", &rc->key_file);
	bool_at(ld, root, "plain", &rc->plain);
	parse_numbers(ld, root, r);
	parse_level(ld, root, rc);
	parse_rules(ld, config_setting_get_member(root, "rules"), &r->rules, &r->n_rules);
	parse_hcs(ld, config_setting_get_member(root, "hybrid_connections"), r);
	parse_roles(ld, config_setting_get_member(root, "role_assignments"), &r->roles,
		    &r->n_roles);
	r->entra.skew_s = 60;
	if (config_setting_get_member(root, "entra_id"))
		parse_entra(ld, config_setting_get_member(root, "entra_id"), &r->entra);
	else if (r->n_roles || any_hc_roles(r))
		ERR(ld, config_setting_get_member(root, "role_assignments"),
		    "role_assignments need entra_id with issuer_keys and issuers");
}

int relay_config_load(const char *path, struct relay *r, struct relay_config *rc,
		      struct cfg_errors *errs)
{
	struct rload ld = { .file = path, .errs = errs };
	struct stat st;
	config_t cf;
	const char *slash = strrchr(path, '/');
	size_t before = errs->n;

	if (stat(path, &st) < 0) {
		cfg_errors_add(errs, path, 0, "%s", strerror(errno));
		return -EINVAL;
	}
	ld.exposed = (st.st_mode & 044) != 0;
	ld.dir = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup(".");
	config_init(&cf);
	if (config_read_file(&cf, path) != CONFIG_TRUE)
		cfg_errors_add(errs, path, config_error_line(&cf), "%s", config_error_text(&cf));
	else
		parse_top(&ld, config_root_setting(&cf), r, rc);
	config_destroy(&cf);
	free(ld.dir);
	return errs->n > before ? -EINVAL : 0;
}

void relay_config_clear(struct relay_config *rc)
{
	for (size_t i = 0; i < rc->n_listen; i++)
		free(rc->listen[i].host);
	for (size_t i = 0; i < rc->n_hosts; i++)
		free(rc->hosts[i]);
	free(rc->listen);
	free(rc->hosts);
	free(rc->cert_file);
	free(rc->key_file);
	free(rc->log_level);
	memset(rc, 0, sizeof(*rc));
}

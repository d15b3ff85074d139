/* The normalised text of a configuration (azbridged -n -v, the drop-in that
 * azbridgectl add writes): libconfig that parses back to an equal config,
 * inline secrets replaced unless asked for. */
#include "config.h"

#include "log.h"
#include "util.h"

static void put_quoted(struct sbuf *b, const char *v)
{
	sbuf_addc(b, '"');
	for (const char *p = v; *p; p++) {
		if (*p == '"' || *p == '\\')
			sbuf_addc(b, '\\');
		sbuf_addc(b, *p);
	}
	sbuf_addc(b, '"');
}

static void put_str(struct sbuf *b, const char *ind, const char *k, const char *v)
{
	if (!v)
		return;
	sbuf_printf(b, "%s%s = ", ind, k);
	put_quoted(b, v);
	sbuf_add(b, ";\n");
}

static void put_list(struct sbuf *b, const char *k, const struct azb_strs *l)
{
	if (!l->n)
		return;
	sbuf_printf(b, "%s = [ ", k);
	for (size_t i = 0; i < l->n; i++) {
		sbuf_add(b, i ? ", " : "");
		put_quoted(b, l->v[i]);
	}
	sbuf_add(b, " ];\n");
}

static void put_secret(struct sbuf *b, const char *ind, const char *k, const char *v, bool show)
{
	if (!v)
		return;
	if (!show)
		sbuf_printf(b, "%s# %s is set but not shown\n", ind, k);
	put_str(b, ind, k, show ? v : LOG_REDACTED);
}

static void print_secrets(struct sbuf *b, const char *ind, const struct azb_cred *c, bool show)
{
	if (c->key_file)
		put_str(b, ind, "shared_access_key_file", c->key_file);
	else
		put_secret(b, ind, "shared_access_key", c->key, show);
	put_secret(b, ind, "shared_access_signature", c->signature, show);
}

static void print_cred(struct sbuf *b, const char *ind, const struct azb_cred *c, bool show)
{
	/* Read first when loaded again: what the lines below set overrides it. */
	put_str(b, ind, "connection_string_file", c->connstr_file);
	put_str(b, ind, "endpoint", c->endpoint);
	put_str(b, ind, "shared_access_key_name", c->key_name);
	if (!c->connstr_file)   /* else key and signature came from that file */
		print_secrets(b, ind, c, show);
	if (c->entra)
		put_str(b, ind, "authentication", "Managed Identity");
	put_str(b, ind, "credential", c->credential);
	put_str(b, ind, "proxy", c->proxy.url);
	put_str(b, ind, "proxy_user", c->proxy.user);
	put_str(b, ind, "proxy_password_file", c->proxy.password_file);
}

static void print_local_ep(struct sbuf *b, const struct azb_ep *e)
{
	if (e->kind == AZB_KIND_UNIX) {
		put_str(b, "", "bind_local_socket", e->socket_path);
	} else {
		put_str(b, "", "bind_address", e->host);
		sbuf_printf(b, "bind_port = %u;\n", e->port);
		if (e->kind == AZB_KIND_UDP)
			sbuf_add(b, "udp = true;\n");
	}
	put_str(b, "", "port_name", e->port_name);
	put_str(b, "", "host_name", e->host_name);
	if (e->no_auth)
		sbuf_add(b, "no_authentication = true;\n");
}

static void print_remote_ep(struct sbuf *b, const struct azb_ep *e)
{
	if (e->kind == AZB_KIND_UNIX) {
		put_str(b, "", "local_socket", e->socket_path);
	} else {
		put_str(b, "", "host", e->host);
		sbuf_printf(b, "host_port = %u;\n", e->port);
		if (e->kind == AZB_KIND_UDP)
			sbuf_add(b, "udp = true;\n");
		if (e->kind == AZB_KIND_HTTP) {
			sbuf_add(b, "http = true;\n");
			put_str(b, "", "path", e->http_path);
			if (e->insecure)
				sbuf_add(b, "insecure = true;\n");
			put_str(b, "", "ca_file", e->ca_file);
			if (e->http_timeout)
				sbuf_printf(b, "http_timeout = %d;\n", e->http_timeout);
			if (e->http_idle)
				sbuf_printf(b, "http_idle_connections = %d;\n",
					    e->http_idle < 0 ? 0 : e->http_idle);
			if (e->xff_for)
				sbuf_add(b, "x_forwarded_for = true;\n");
			if (e->xff_proto)
				sbuf_add(b, "x_forwarded_proto = true;\n");
			if (e->xff_host)
				sbuf_add(b, "x_forwarded_host = true;\n");
		}
	}
	put_str(b, "", "port_name", e->port_name);
}

/* One binding per line: "{ key = v; key = v; }". */
static void print_ep(struct sbuf *b, const struct azb_fwd *f, const struct azb_ep *e, bool last)
{
	struct sbuf one;

	sbuf_init(&one);
	if (f->dir == AZB_DIR_LOCAL)
		print_local_ep(&one, e);
	else
		print_remote_ep(&one, e);
	for (char *p = one.s; *p; p++)
		if (*p == '\n')
			*p = p[1] ? ' ' : '\0';
	sbuf_printf(b, "      { %s }%s\n", one.s, last ? "" : ",");
	sbuf_free(&one);
}

static void print_forwards(struct sbuf *b, const struct azb_config *c, enum azb_dir dir, bool show)
{
	size_t n = 0, done = 0;

	for (size_t i = 0; i < c->n_fwd; i++)
		n += c->fwd[i]->dir == dir;
	if (!n)
		return;
	sbuf_printf(b, "\n%s = (\n", dir == AZB_DIR_LOCAL ? "local_forward" : "remote_forward");
	for (size_t i = 0; i < c->n_fwd; i++) {
		const struct azb_fwd *f = c->fwd[i];

		if (f->dir != dir)
			continue;
		sbuf_add(b, "  {\n");
		put_str(b, "    ", "name", f->name);
		put_str(b, "    ", "relay", f->relay);
		if (f->tunnel_keep_alive >= 0)
			sbuf_printf(b, "    tunnel_keep_alive = %d;\n", f->tunnel_keep_alive);
		if (f->cred)
			print_cred(b, "    ", f->cred, show);
		sbuf_add(b, "    bindings = (\n");
		for (size_t k = 0; k < f->n_ep; k++)
			print_ep(b, f, &f->ep[k], k + 1 == f->n_ep);
		sbuf_printf(b, "    );\n  }%s\n", ++done == n ? "" : ",");
	}
	sbuf_add(b, ");\n");
}

char *cfg_print_fwd(const struct azb_fwd *f)
{
	struct azb_fwd *one[1] = { (struct azb_fwd *)f };
	struct azb_config c = { .n_fwd = 1, .fwd = one };
	struct sbuf b;

	sbuf_init(&b);
	sbuf_printf(&b, "# Forward \"%s\", written by azbridgectl add; see azbridge.conf(5).\n",
		    f->name);
	print_forwards(&b, &c, f->dir, false);   /* add refuses credentials anyway */
	return sbuf_take(&b);
}

/* Daemon keys appear only when set, so older goldens keep their shape. */
static void print_daemon(struct sbuf *b, const struct azb_config *c)
{
	if (c->control_socket_set)
		put_str(b, "", "control_socket", c->control_socket ? c->control_socket : "none");
	put_str(b, "", "control_group", c->control_group);
	if (c->n_control_uids) {
		sbuf_add(b, "control_users = [ ");
		for (size_t i = 0; i < c->n_control_uids; i++)
			sbuf_printf(b, "%s%u", i ? ", " : "", c->control_uids[i]);
		sbuf_add(b, " ];\n");
	}
	put_list(b, "control_socket_dirs", &c->control_socket_dirs);
	if (c->control_privileged_ports)
		sbuf_add(b, "control_privileged_ports = true;\n");
	put_list(b, "control_host_names", &c->control_host_names);
	put_str(b, "", "hosts_file", c->hosts_file);
	if (c->drain_timeout != AZB_DRAIN_TIMEOUT_DEFAULT)
		sbuf_printf(b, "drain_timeout = %d;\n", c->drain_timeout);
	if (c->stop_timeout != AZB_STOP_TIMEOUT_DEFAULT)
		sbuf_printf(b, "stop_timeout = %d;\n", c->stop_timeout);
	if (c->connect_timeout != AZB_CONNECT_TIMEOUT_DEFAULT)
		sbuf_printf(b, "connect_timeout = %d;\n", c->connect_timeout);
	if (c->tunnel_keep_alive >= 0)
		sbuf_printf(b, "tunnel_keep_alive = %d;\n", c->tunnel_keep_alive);
}

char *cfg_print(const struct azb_config *c, bool show_secrets)
{
	struct sbuf b;

	sbuf_init(&b);
	sbuf_add(&b, "# azbridged configuration, merged and normalised\n");
	print_cred(&b, "", &c->cred, show_secrets);
	put_str(&b, "", "bind_address", c->bind_address);
	sbuf_printf(&b, "keep_alive_interval = %d;\n", c->keep_alive_interval);
	sbuf_printf(&b, "token_lifetime = %d;\n", c->token_lifetime);
	put_str(&b, "", "log_level", log_level_name(c->log_level));
	put_str(&b, "", "log_file", c->log_file);
	put_str(&b, "", "ca_file", c->ca_file);
	sbuf_printf(&b, "exit_on_forward_failure = %s;\n", c->exit_on_forward_failure ? "true" : "false");
	print_daemon(&b, c);
	print_forwards(&b, c, AZB_DIR_LOCAL, show_secrets);
	print_forwards(&b, c, AZB_DIR_REMOTE, show_secrets);
	return sbuf_take(&b);
}

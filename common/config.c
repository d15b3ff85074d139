/* The configuration as a value: made, freed, forwards found, put and
 * removed by name, a forward's effective credentials; and the message
 * lists every other part writes into. */
#include "config_impl.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* ---- messages ---------------------------------------------------------- */

/* Every message is redacted here, where errors are made: from here they
 * reach stderr, the log, reload replies, status and systemd's STATUS=. */
void cfg_errors_add(struct cfg_errors *e, const char *file, int line, const char *fmt, ...)
{
	struct sbuf b;
	va_list ap;

	sbuf_init(&b);
	if (file && line > 0)
		sbuf_printf(&b, "%s:%d: ", file, line);
	else if (file)
		sbuf_printf(&b, "%s: ", file);
	va_start(ap, fmt);
	sbuf_vprintf(&b, fmt, ap);
	va_end(ap);
	e->msg = xrealloc(e->msg, (e->n + 1) * sizeof(*e->msg));
	e->msg[e->n++] = log_redact(b.s);
	explicit_bzero(b.s, b.len);
	sbuf_free(&b);
}

void cfg_errors_clear(struct cfg_errors *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->msg[i]);
	free(e->msg);
	e->msg = NULL;
	e->n = 0;
}

/* ---- the value --------------------------------------------------------- */

struct azb_config *cfg_new(void)
{
	struct azb_config *c = xcalloc(1, sizeof(*c));

	c->keep_alive_interval = AZB_KEEPALIVE_DEFAULT;
	c->token_lifetime = AZB_TOKEN_LIFETIME_DEFAULT;
	c->log_level = LOG_INFO;
	c->exit_on_forward_failure = true;
	c->drain_timeout = AZB_DRAIN_TIMEOUT_DEFAULT;
	c->stop_timeout = AZB_STOP_TIMEOUT_DEFAULT;
	c->connect_timeout = AZB_CONNECT_TIMEOUT_DEFAULT;
	c->tunnel_keep_alive = -1;
	return c;
}

void cfg_strs_free(struct azb_strs *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void cfg_free(struct azb_config *c)
{
	if (!c)
		return;
	cred_clear(&c->cred);
	free(c->bind_address);
	free(c->bind_address_at);
	free(c->log_file);
	free(c->ca_file);
	free(c->control_socket);
	free(c->control_group);
	free(c->control_uids);
	cfg_strs_free(&c->control_socket_dirs);
	cfg_strs_free(&c->control_host_names);
	free(c->hosts_file);
	for (size_t i = 0; i < c->n_fwd; i++)
		bnd_fwd_free(c->fwd[i]);
	free(c->fwd);
	free(c);
}

/* ---- forwards by name -------------------------------------------------- */

struct azb_fwd *cfg_find_fwd(const struct azb_config *c, const char *name)
{
	for (size_t i = 0; i < c->n_fwd; i++)
		if (strcmp(c->fwd[i]->name, name) == 0)
			return c->fwd[i];
	return NULL;
}

void cfg_put_fwd(struct azb_config *c, struct azb_fwd *f)
{
	for (size_t i = 0; i < c->n_fwd; i++) {
		if (strcmp(c->fwd[i]->name, f->name) == 0) {
			bnd_fwd_free(c->fwd[i]);
			c->fwd[i] = f;
			return;
		}
	}
	c->fwd = xrealloc(c->fwd, (c->n_fwd + 1) * sizeof(*c->fwd));
	c->fwd[c->n_fwd++] = f;
}

bool cfg_remove_fwd(struct azb_config *c, const char *name)
{
	for (size_t i = 0; i < c->n_fwd; i++) {
		if (strcmp(c->fwd[i]->name, name) == 0) {
			bnd_fwd_free(c->fwd[i]);
			memmove(&c->fwd[i], &c->fwd[i + 1], (c->n_fwd - i - 1) * sizeof(*c->fwd));
			c->n_fwd--;
			return true;
		}
	}
	return false;
}

/* ---- global settings into forwards ------------------------------------- */

void cfg_effective_cred(const struct azb_config *c, const struct azb_fwd *f, struct azb_cred *out)
{
	cred_effective(f->cred, &c->cred, out);
}

int cfg_tunnel_keep_alive(const struct azb_config *c, const struct azb_fwd *f)
{
	if (f->tunnel_keep_alive >= 0)
		return f->tunnel_keep_alive;
	if (c->tunnel_keep_alive >= 0)
		return c->tunnel_keep_alive;
	return f->dir == AZB_DIR_LOCAL ? AZB_SENDER_KEEPALIVE_DEFAULT : c->keep_alive_interval;
}

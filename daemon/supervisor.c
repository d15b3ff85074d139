#include "supervisor.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fwd.h"
#include "fwd_local.h"
#include "hc_listener.h"
#include "log.h"
#include "token.h"
#include "tunnel.h"
#include "url.h"
#include "util.h"

static struct {
	struct fwd_run **run;
	size_t n;
} S;

void fwd_error(struct fwd_run *fr, const char *fmt, ...)
{
	struct log_ctx c = { fr->fwd->name, fr->fwd->relay, NULL, NULL };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fr->stats.last_error, sizeof(fr->stats.last_error), fmt, ap);
	va_end(ap);
	log_ctx(LOG_WARNING, &c, "%s: %s", fr->fwd->name, fr->stats.last_error);
}

static int relay_of(struct fwd_run *fr)
{
	struct fwd_relay *r = &fr->relay;
	int err;

	memset(r, 0, sizeof(*r));
	r->cred = &fr->cred;
	if (!fr->cred.endpoint)
		return -EINVAL;
	err = url_endpoint(fr->cred.endpoint, &r->host, &r->port);
	if (err < 0)
		return err;
	r->tls = true;
	return 0;
}

static struct fwd_run *run_new(const struct azb_config *c, const struct azb_fwd *f)
{
	struct fwd_run *fr = xcalloc(1, sizeof(*fr));

	fr->fwd = bnd_fwd_dup(f);
	cfg_effective_cred(c, f, &fr->cred);
	fr->keep_alive = c->keep_alive_interval;
	fr->bind_address = c->bind_address ? xstrdup(c->bind_address) : NULL;
	return fr;
}

static void run_destroy(struct fwd_run *fr)
{
	free(fr->relay.host);
	cfg_cred_clear(&fr->cred);
	free(fr->bind_address);
	bnd_fwd_free(fr->fwd);
	free(fr);
}

void fwd_release(struct fwd_run *fr)
{
	if (fr->stopping && fr->stats.tunnels_open == 0)
		run_destroy(fr);
}

/* Stop accepting; the run is freed when its last tunnel is gone. */
static void run_stop(struct fwd_run *fr)
{
	fwd_local_stop(fr);
	hc_listener_stop(fr->hc);
	fr->hc = NULL;
	fr->stopping = true;
	tunnel_close_all(fr, NULL);
	fwd_release(fr);
}

static int run_start(const struct azb_config *c, struct fwd_run *fr)
{
	int r = relay_of(fr);

	fr->relay.token_lifetime = c->token_lifetime;
	/* Incomplete forwards stay down and say why; the others run. */
	if (r < 0 || !cfg_fwd_has_credentials(c, fr->fwd)) {
		fwd_error(fr, "not started: %s", r < 0 ? "no relay endpoint" : "no credentials");
		return 0;
	}
	if (fr->fwd->dir == AZB_DIR_LOCAL)
		return fwd_local_start(fr);
	fr->hc = hc_listener_start(fr, c->token_lifetime);
	return 0;
}

int sup_start(const struct azb_config *c)
{
	S.run = xcalloc(c->n_fwd ? c->n_fwd : 1, sizeof(*S.run));
	for (size_t i = 0; i < c->n_fwd; i++) {
		struct fwd_run *fr = run_new(c, c->fwd[i]);
		int r = run_start(c, fr);

		S.run[S.n++] = fr;
		if (r < 0 && c->exit_on_forward_failure)
			return r;
	}
	return 0;
}

void sup_stop(void)
{
	for (size_t i = 0; i < S.n; i++)
		run_stop(S.run[i]);
	free(S.run);
	S.run = NULL;
	S.n = 0;
}

size_t sup_count(size_t *online, size_t *tunnels)
{
	*online = *tunnels = 0;
	for (size_t i = 0; i < S.n; i++) {
		const struct fwd_run *fr = S.run[i];

		if (fr->fwd->dir == AZB_DIR_LOCAL ? fr->listens != NULL : hc_listener_online(fr->hc))
			(*online)++;
		*tunnels += fr->stats.tunnels_open;
	}
	return S.n;
}

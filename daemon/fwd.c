#include "fwd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fwd_kind.h"
#include "hc_listener.h"
#include "hc_proto.h"
#include "log.h"
#include "loop.h"
#include "tunnel.h"
#include "url.h"
#include "util.h"

static const struct fwd_kind *const kinds[] = {
	[AZB_KIND_TCP] = &fwd_tcp,
	[AZB_KIND_UDP] = &fwd_udp,
	[AZB_KIND_UNIX] = &fwd_unix,
	[AZB_KIND_HTTP] = &fwd_http,
};

static int relay_of(struct fwd_run *fr)
{
	struct fwd_relay *r = &fr->relay;

	r->cred = &fr->cred;
	if (!fr->cred.endpoint)
		return -EINVAL;
	r->tls = true;
	return url_endpoint(fr->cred.endpoint, &r->host, &r->port);
}

struct fwd_run *fwd_new(const struct azb_config *c, const struct azb_fwd *f,
			void (*release)(struct fwd_run *fr))
{
	struct fwd_run *fr = xcalloc(1, sizeof(*fr));

	fr->fwd = bnd_fwd_dup(f);
	fr->kinds = xcalloc(f->n_ep ? f->n_ep : 1, sizeof(*fr->kinds));
	for (size_t i = 0; i < f->n_ep; i++)
		fr->kinds[i] = kinds[f->ep[i].kind];
	cfg_effective_cred(c, f, &fr->cred);
	fr->relay.cred = &fr->cred;
	fr->relay.token_lifetime = c->token_lifetime;
	fr->keep_alive = c->keep_alive_interval;
	fr->connect_timeout = c->connect_timeout;
	fr->tunnel_ka = cfg_tunnel_keep_alive(c, f);
	fr->bind_address = c->bind_address ? xstrdup(c->bind_address) : NULL;
	fr->since = azb_clock_s(CLOCK_REALTIME);
	fr->refs = 1;
	fr->release = release;
	return fr;
}

void fwd_free(struct fwd_run *fr)
{
	lws_sul_cancel(&fr->drain_timer);
	lws_sul_cancel(&fr->ka_sweep);
	free(fr->relay.host);
	cfg_cred_clear(&fr->cred);
	free(fr->bind_address);
	free(fr->kinds);
	bnd_fwd_free(fr->fwd);
	free(fr);
}

/* ---- local forwards ------------------------------------------------------ */

static void unlisten_all(struct fwd_run *fr)
{
	if (!fr->listens)
		return;
	for (size_t i = 0; i < fr->fwd->n_ep; i++)
		if (fr->listens[i])
			fr->kinds[i]->unlisten(fr->listens[i]);
	free(fr->listens);
	fr->listens = NULL;
}

static int listen_one(struct fwd_run *fr, size_t i)
{
	const struct fwd_kind *k = fr->kinds[i];
	const struct azb_ep *ep = &fr->fwd->ep[i];
	struct log_ctx c = fwd_ctx(fr);
	char where[300];
	int r = k->listen ? k->listen(fr, i, &fr->listens[i]) : -EOPNOTSUPP;

	if (k->where)
		k->where(ep, where, sizeof(where));
	else
		snprintf(where, sizeof(where), "port name %s", ep->port_name);
	if (r < 0) {
		fwd_error(fr, "cannot listen on %s: %s", where, strerror(-r));
		return r;
	}
	log_ctx(LOG_INFO, &c, "%s: listening on %s for relay %s (port name %s)", fr->fwd->name,
		where, fr->fwd->relay, ep->port_name);
	return 0;
}

static int listen_all(struct fwd_run *fr)
{
	fr->listens = xcalloc(fr->fwd->n_ep, sizeof(*fr->listens));
	for (size_t i = 0; i < fr->fwd->n_ep; i++) {
		int r = listen_one(fr, i);

		if (r < 0) {
			unlisten_all(fr);
			return r;
		}
	}
	return 0;
}

/* ---- remote forwards: what the control channel hands over -------------- */

static void on_accept(struct fwd_run *fr, const char *host, uint16_t port, const char *target,
		      const char *peer)
{
	if (fr->state != FWD_DRAINING)
		tunnel_start_listener(fr, host, port, target, peer);
}

/* The first endpoint whose kind serves HTTP answers; a forward without one
 * answers as the original does for a forwarder that cannot serve HTTP. */
static struct hc_body_sink *on_request(struct fwd_run *fr, struct hc_listener *h,
				       struct hcp_msg *m)
{
	for (size_t i = 0; i < fr->fwd->n_ep; i++)
		if (fr->kinds[i]->on_request)
			return fr->kinds[i]->on_request(fr, i, h, m);
	hc_listener_respond(h, m->id, 501, "Not Implemented");
	return NULL;
}

static const struct hc_listener_ops hc_ops = { on_accept, on_request };

/* ---- running ------------------------------------------------------------- */

static int start_kinds(struct fwd_run *fr)
{
	for (size_t i = 0; i < fr->fwd->n_ep; i++) {
		int r = fr->kinds[i]->start ? fr->kinds[i]->start(fr, i) : 0;

		if (r < 0)
			return r;
	}
	return 0;
}

/* Each kind once: stop ends all of a forward's requests of that kind. */
static void stop_kinds(struct fwd_run *fr)
{
	for (size_t i = 0; i < fr->fwd->n_ep; i++) {
		bool seen = false;

		for (size_t j = 0; j < i; j++)
			seen = seen || fr->kinds[j] == fr->kinds[i];
		if (!seen && fr->kinds[i]->stop)
			fr->kinds[i]->stop(fr);
	}
}

int fwd_start(struct fwd_run *fr, const struct azb_config *c)
{
	int r = relay_of(fr);

	/* Incomplete forwards stay down and say why; the others run. */
	if (r < 0 || !cfg_fwd_has_credentials(c, fr->fwd)) {
		fwd_error(fr, "not started: %s", r < 0 ? "no relay endpoint" : "no credentials");
		fwd_set_state(fr, FWD_FAILED, fr->stats.last_error, 0);
		return 0;
	}
	if (fr->fwd->dir == AZB_DIR_REMOTE) {
		if (start_kinds(fr) < 0) {
			fwd_set_state(fr, FWD_FAILED, fr->stats.last_error, 0);
			return 0;
		}
		fr->hc = hc_listener_start(fr, &hc_ops);
		return 0;
	}
	r = listen_all(fr);
	fwd_set_state(fr, r < 0 ? FWD_FAILED : FWD_LISTENING, r < 0 ? fr->stats.last_error : NULL, 0);
	return r;
}

void fwd_close_tunnels(struct fwd_run *fr)
{
	fwd_hold(fr);
	stop_kinds(fr);
	tunnel_close_all(fr, NULL);
	fwd_put(fr);
}

static void drain_expired(lws_sorted_usec_list_t *sul)
{
	struct fwd_run *fr = lws_container_of(sul, struct fwd_run, drain_timer);
	struct log_ctx c = fwd_ctx(fr);

	if (fr->stats.tunnels_open)
		log_ctx(LOG_INFO, &c, "%s: closing %u tunnel%s still open after the drain time",
			fr->fwd->name, fr->stats.tunnels_open,
			fr->stats.tunnels_open == 1 ? "" : "s");
	fwd_close_tunnels(fr);
}

void fwd_drain(struct fwd_run *fr, int grace)
{
	struct log_ctx c = fwd_ctx(fr);

	if (fr->state == FWD_DRAINING)
		return;
	unlisten_all(fr);
	hc_listener_stop(fr->hc);
	fr->hc = NULL;
	fwd_set_state(fr, FWD_DRAINING, NULL, 0);
	/* Requests under way finish within their own deadline, or now. */
	if (grace == 0)
		stop_kinds(fr);
	if (fr->stats.tunnels_open) {
		log_ctx(LOG_INFO, &c, "%s: draining %u open tunnel%s (at most %d s)", fr->fwd->name,
			fr->stats.tunnels_open, fr->stats.tunnels_open == 1 ? "" : "s", grace);
		if (grace == 0)
			tunnel_close_all(fr, NULL);
		else
			lws_sul_schedule(loop_context(), 0, &fr->drain_timer, drain_expired,
					 (lws_usec_t)grace * LWS_US_PER_SEC);
	}
	/* Last: this may be the last reference. */
	fwd_put(fr);
}

#include "supervisor.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fwd_local.h"
#include "hc_listener.h"
#include "hostsync.h"
#include "log.h"
#include "loop.h"
#include "tunnel.h"
#include "url.h"
#include "util.h"

/* Running forwards: [0, n_current) are the config's, in its order; the rest
 * drain. */
static struct {
	struct azb_config *cfg;
	struct fwd_run **run;
	size_t n, n_current, cap;
	struct azb_fwd **runtime;
	size_t n_runtime;
	bool shutting_down;
	void (*on_empty)(void);
	lws_sorted_usec_list_t stop_timer;
} S;

static const char *const state_names[] = {
	[FWD_STARTING] = "starting",         [FWD_LISTENING] = "listening",
	[FWD_CONNECTING] = "connecting",     [FWD_ONLINE] = "online",
	[FWD_RECONNECTING] = "reconnecting", [FWD_FAILED] = "failed",
	[FWD_DRAINING] = "draining",
};

const char *fwd_state_name(enum fwd_state s)
{
	return state_names[s];
}

void fwd_set_state(struct fwd_run *fr, enum fwd_state s, const char *reason, int64_t next_in_us)
{
	if (fr->state == FWD_DRAINING && s != FWD_DRAINING)
		return;
	fr->since = fr->state == s && s != FWD_RECONNECTING ? fr->since : azb_clock_s(CLOCK_REALTIME);
	fr->state = s;
	snprintf(fr->reason, sizeof(fr->reason), "%s", reason ? reason : "");
	fr->next_attempt = s == FWD_RECONNECTING ? fr->since + (double)next_in_us / 1e6 : 0;
}

static void fwd_verror(struct fwd_run *fr, const struct log_ctx *c, const char *fmt,
		       va_list ap)
{
	vsnprintf(fr->stats.last_error, sizeof(fr->stats.last_error), fmt, ap);
	log_ctx(LOG_WARNING, c, "%s: %s", fr->fwd->name, fr->stats.last_error);
}

void fwd_error(struct fwd_run *fr, const char *fmt, ...)
{
	struct log_ctx c = fwd_ctx(fr);
	va_list ap;

	va_start(ap, fmt);
	fwd_verror(fr, &c, fmt, ap);
	va_end(ap);
}

void fwd_error_ctx(struct fwd_run *fr, const struct log_ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fwd_verror(fr, c, fmt, ap);
	va_end(ap);
}

/* ---- one run ------------------------------------------------------------ */

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
	fr->connect_timeout = c->connect_timeout;
	fr->bind_address = c->bind_address ? xstrdup(c->bind_address) : NULL;
	fr->since = azb_clock_s(CLOCK_REALTIME);
	return fr;
}

static void run_destroy(struct fwd_run *fr)
{
	lws_sul_cancel(&fr->drain_timer);
	free(fr->relay.host);
	cfg_cred_clear(&fr->cred);
	free(fr->bind_address);
	bnd_fwd_free(fr->fwd);
	free(fr);
}

static void forget(struct fwd_run *fr)
{
	for (size_t i = S.n_current; i < S.n; i++) {
		if (S.run[i] != fr)
			continue;
		memmove(&S.run[i], &S.run[i + 1], (S.n - i - 1) * sizeof(*S.run));
		S.n--;
		break;
	}
}

void fwd_release(struct fwd_run *fr)
{
	if (!fr->stopping || fr->stats.tunnels_open != 0)
		return;
	forget(fr);
	run_destroy(fr);
	if (S.shutting_down && S.n == 0 && S.on_empty) {
		void (*done)(void) = S.on_empty;

		S.on_empty = NULL;
		done();
	}
}

static void drain_expired(lws_sorted_usec_list_t *sul)
{
	struct fwd_run *fr = lws_container_of(sul, struct fwd_run, drain_timer);
	struct log_ctx c = fwd_ctx(fr);

	if (fr->stats.tunnels_open)
		log_ctx(LOG_INFO, &c, "%s: closing %u tunnel%s still open after the drain time",
			fr->fwd->name, fr->stats.tunnels_open,
			fr->stats.tunnels_open == 1 ? "" : "s");
	tunnel_close_all(fr, NULL);
}

/* Stop accepting; open tunnels get `grace` seconds, then are closed. The run
 * is freed by fwd_release() with its last tunnel. */
static void run_drain(struct fwd_run *fr, int grace)
{
	struct log_ctx c = fwd_ctx(fr);

	fwd_local_stop(fr);
	hc_listener_stop(fr->hc);
	fr->hc = NULL;
	fr->stopping = true;
	fwd_set_state(fr, FWD_DRAINING, NULL, 0);
	if (fr->stats.tunnels_open == 0) {
		fwd_release(fr);
		return;
	}
	log_ctx(LOG_INFO, &c, "%s: draining %u open tunnel%s (at most %d s)", fr->fwd->name,
		fr->stats.tunnels_open, fr->stats.tunnels_open == 1 ? "" : "s", grace);
	if (grace == 0)
		tunnel_close_all(fr, NULL);
	else
		lws_sul_schedule(loop_context(), 0, &fr->drain_timer, drain_expired,
				 (lws_usec_t)grace * LWS_US_PER_SEC);
}

static int run_start(const struct azb_config *c, struct fwd_run *fr)
{
	int r = relay_of(fr);

	fr->relay.token_lifetime = c->token_lifetime;
	/* Incomplete forwards stay down and say why; the others run. */
	if (r < 0 || !cfg_fwd_has_credentials(c, fr->fwd)) {
		fwd_error(fr, "not started: %s", r < 0 ? "no relay endpoint" : "no credentials");
		fwd_set_state(fr, FWD_FAILED, fr->stats.last_error, 0);
		return 0;
	}
	if (fr->fwd->dir == AZB_DIR_REMOTE) {
		fr->hc = hc_listener_start(fr, c->token_lifetime);
		return 0;
	}
	r = fwd_local_start(fr);
	fwd_set_state(fr, r < 0 ? FWD_FAILED : FWD_LISTENING, r < 0 ? fr->stats.last_error : NULL, 0);
	return r;
}

/* ---- the set of runs ------------------------------------------------------ */

static void push(struct fwd_run *fr)
{
	if (S.n == S.cap) {
		S.cap = S.cap ? 2 * S.cap : 16;
		S.run = xrealloc(S.run, S.cap * sizeof(*S.run));
	}
	S.run[S.n++] = fr;
}

/* Do two configs run this forward the same way? */
static bool same_run(const struct azb_config *c, const struct azb_fwd *f, const struct fwd_run *fr)
{
	struct azb_cred cred;
	bool same;

	if (!bnd_fwd_equal(f, fr->fwd) || c->keep_alive_interval != fr->keep_alive ||
	    c->token_lifetime != fr->relay.token_lifetime ||
	    !azb_streq(c->bind_address, fr->bind_address))
		return false;
	cfg_effective_cred(c, f, &cred);
	same = cfg_cred_equal(&cred, &fr->cred);
	cfg_cred_clear(&cred);
	return same;
}

static void note(char ***list, size_t *n, const char *name)
{
	*list = xrealloc(*list, (*n + 1) * sizeof(**list));
	(*list)[(*n)++] = xstrdup(name);
}

void sup_diff_free(struct sup_diff *d)
{
	char **lists[] = { d->added, d->removed, d->changed, d->failed };
	size_t ns[] = { d->n_added, d->n_removed, d->n_changed, d->n_failed };

	for (size_t i = 0; i < AZB_ARRAY_SIZE(lists); i++) {
		for (size_t k = 0; k < ns[i]; k++)
			free(lists[i][k]);
		free(lists[i]);
	}
	memset(d, 0, sizeof(*d));
}

static struct fwd_run *take_current(struct fwd_run **old, size_t n_old, const char *name)
{
	for (size_t i = 0; i < n_old; i++) {
		struct fwd_run *fr = old[i];

		if (fr && strcmp(fr->fwd->name, name) == 0) {
			old[i] = NULL;
			return fr;
		}
	}
	return NULL;
}

/* The run for f in the new config: the old one when nothing that matters
 * changed (a failed one is retried), else a new one after the old drains. */
static struct fwd_run *place(const struct azb_config *c, const struct azb_fwd *f,
			     struct fwd_run *old, struct sup_diff *d)
{
	struct fwd_run *fr;

	if (old && same_run(c, f, old) && old->state != FWD_FAILED) {
		azb_set_str(&old->fwd->origin_file, f->origin_file);
		old->fwd->origin_line = f->origin_line;
		old->connect_timeout = c->connect_timeout;   /* for connections from now on */
		d->n_unchanged++;
		return old;
	}
	if (old) {
		note(&d->changed, &d->n_changed, f->name);
		push(old);
		run_drain(old, c->drain_timeout);
	} else {
		note(&d->added, &d->n_added, f->name);
	}
	fr = run_new(c, f);
	if (run_start(c, fr) < 0 || fr->state == FWD_FAILED)
		note(&d->failed, &d->n_failed, f->name);
	return fr;
}

void sup_apply(struct azb_config *c, struct sup_diff *d)
{
	size_t n_old = S.n_current;
	struct fwd_run **old = xmalloc((n_old ? n_old : 1) * sizeof(*old));
	struct fwd_run **next = xmalloc((c->n_fwd ? c->n_fwd : 1) * sizeof(*next));
	size_t n_draining = S.n - S.n_current;

	memset(d, 0, sizeof(*d));
	/* S.run is NULL before the first forward: no memcpy from it (UBSan). */
	if (n_old)
		memcpy(old, S.run, n_old * sizeof(*old));
	if (n_draining)
		memmove(S.run, S.run + n_old, n_draining * sizeof(*S.run));
	S.n = n_draining;
	S.n_current = 0;
	/* Removed ones first, so a changed forward's address is free again. */
	for (size_t i = 0; i < n_old; i++) {
		if (cfg_find_fwd(c, old[i]->fwd->name))
			continue;
		note(&d->removed, &d->n_removed, old[i]->fwd->name);
		push(old[i]);
		run_drain(old[i], c->drain_timeout);
		old[i] = NULL;
	}
	for (size_t i = 0; i < c->n_fwd; i++)
		next[i] = place(c, c->fwd[i], take_current(old, n_old, c->fwd[i]->name), d);
	free(old);
	/* The new current ones go in front of everything draining. */
	S.cap = S.n + c->n_fwd;
	S.run = xrealloc(S.run, (S.cap ? S.cap : 1) * sizeof(*S.run));
	if (S.n)
		memmove(S.run + c->n_fwd, S.run, S.n * sizeof(*S.run));
	if (c->n_fwd)
		memcpy(S.run, next, c->n_fwd * sizeof(*S.run));
	S.n += c->n_fwd;
	S.n_current = c->n_fwd;
	free(next);
	cfg_free(S.cfg);
	S.cfg = c;
	hostsync_apply();
}

int sup_start(struct azb_config *c)
{
	struct sup_diff d;
	bool failed;

	S.cfg = cfg_new();
	sup_apply(c, &d);
	failed = d.n_failed > 0;
	sup_diff_free(&d);
	return failed && c->exit_on_forward_failure ? -EADDRNOTAVAIL : 0;
}

const struct azb_config *sup_config(void)
{
	return S.cfg;
}

/* ---- stopping ------------------------------------------------------------- */

/* Last resort: a tunnel whose peer never finishes its close must not hold
 * the daemon; the loop's teardown frees what is left. */
static void stop_forced(lws_sorted_usec_list_t *sul)
{
	void (*done)(void) = S.on_empty;

	(void)sul;
	S.on_empty = NULL;
	if (done)
		done();
}

static void stop_expired(lws_sorted_usec_list_t *sul)
{
	for (size_t i = S.n; i-- > 0;)
		if (i < S.n)
			tunnel_close_all(S.run[i], NULL);
	if (S.on_empty)
		lws_sul_schedule(loop_context(), 0, sul, stop_forced, LWS_US_PER_SEC);
}

void sup_shutdown(void (*done)(void))
{
	int grace = S.cfg ? S.cfg->stop_timeout : 0;

	S.shutting_down = true;
	S.n_current = 0;
	/* run_drain() may free runs and shrink the array under us. */
	for (size_t i = S.n; i-- > 0;)
		if (i < S.n && !S.run[i]->stopping)
			run_drain(S.run[i], grace);
	hostsync_apply();
	if (S.n == 0) {
		done();
		return;
	}
	S.on_empty = done;
	lws_sul_schedule(loop_context(), 0, &S.stop_timer, stop_expired,
			 (lws_usec_t)grace * LWS_US_PER_SEC);
}

void sup_stop(void)
{
	lws_sul_cancel(&S.stop_timer);
	S.on_empty = NULL;
	S.n_current = 0;
	while (S.n) {
		struct fwd_run *fr = S.run[S.n - 1];

		/* Tunnels still open are torn down with the loop; their runs go
		 * with them or here, whichever is last. */
		S.n--;
		if (!fr->stopping) {
			fwd_local_stop(fr);
			hc_listener_stop(fr->hc);
			fr->hc = NULL;
			fr->stopping = true;
		}
		if (fr->stats.tunnels_open == 0)
			run_destroy(fr);
		else
			tunnel_close_all(fr, NULL);   /* the last tunnel to go frees fr */
	}
	hostsync_stop();
	free(S.run);
	S.run = NULL;
	S.n_current = S.cap = 0;
	for (size_t i = 0; i < S.n_runtime; i++)
		bnd_fwd_free(S.runtime[i]);
	free(S.runtime);
	S.runtime = NULL;
	S.n_runtime = 0;
	cfg_free(S.cfg);
	S.cfg = NULL;
}

/* ---- queries -------------------------------------------------------------- */

static bool is_up(const struct fwd_run *fr)
{
	return fr->state == FWD_LISTENING || fr->state == FWD_ONLINE;
}

size_t sup_count(size_t *online, size_t *tunnels)
{
	*online = *tunnels = 0;
	for (size_t i = 0; i < S.n; i++) {
		if (i < S.n_current && is_up(S.run[i]))
			(*online)++;
		*tunnels += S.run[i]->stats.tunnels_open;
	}
	return S.n_current;
}

size_t sup_runs(struct fwd_run *const **runs)
{
	*runs = S.run;
	return S.n;
}

size_t sup_n_current(void)
{
	return S.n_current;
}

struct fwd_run *sup_find(const char *name)
{
	for (size_t i = 0; i < S.n_current; i++)
		if (strcmp(S.run[i]->fwd->name, name) == 0)
			return S.run[i];
	return NULL;
}

/* ---- runtime forwards ----------------------------------------------------- */

void sup_runtime_add(const struct azb_fwd *f)
{
	S.runtime = xrealloc(S.runtime, (S.n_runtime + 1) * sizeof(*S.runtime));
	S.runtime[S.n_runtime++] = bnd_fwd_dup(f);
}

bool sup_runtime_remove(const char *name)
{
	for (size_t i = 0; i < S.n_runtime; i++) {
		if (strcmp(S.runtime[i]->name, name) != 0)
			continue;
		bnd_fwd_free(S.runtime[i]);
		S.runtime[i] = S.runtime[--S.n_runtime];
		return true;
	}
	return false;
}

void sup_runtime_merge(struct azb_config *c)
{
	for (size_t i = 0; i < S.n_runtime;) {
		const struct azb_fwd *f = S.runtime[i];

		if (!cfg_find_fwd(c, f->name)) {
			cfg_put_fwd(c, bnd_fwd_dup(f));
			i++;
			continue;
		}
		log_warning("%s: a configuration file now defines this name; it replaces "
			    "the forward added at run time", f->name);
		sup_runtime_remove(f->name);   /* moves the last one into slot i */
	}
}

bool sup_is_runtime(const char *name)
{
	for (size_t i = 0; i < S.n_runtime; i++)
		if (strcmp(S.runtime[i]->name, name) == 0)
			return true;
	return false;
}

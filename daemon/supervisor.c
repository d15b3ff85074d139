#include "supervisor.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hostsync.h"
#include "log.h"
#include "loop.h"
#include "proxy.h"
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

/* ---- the set of runs ------------------------------------------------------ */

static void push(struct fwd_run *fr)
{
	if (S.n == S.cap) {
		S.cap = S.cap ? 2 * S.cap : 16;
		S.run = xrealloc(S.run, S.cap * sizeof(*S.run));
	}
	S.run[S.n++] = fr;
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

static void stop_forced(lws_sorted_usec_list_t *sul);

/* Through the loop, after what it has to run now: the gone() of a relay
 * connection aborted while its name was still being looked up frees that
 * connection from there. */
static void shutdown_done(void)
{
	loop_defer(&S.stop_timer, stop_forced);
}

/* A forward's last reference has gone (it drained). */
static void released(struct fwd_run *fr)
{
	forget(fr);
	fwd_free(fr);
	if (S.shutting_down && S.n == 0 && S.on_empty)
		shutdown_done();
}

/* Do two configs run this forward the same way? */
static bool same_run(const struct azb_config *c, const struct azb_fwd *f, const struct fwd_run *fr)
{
	struct azb_cred cred;
	bool same;

	if (!bnd_fwd_equal(f, fr->fwd) || c->keep_alive_interval != fr->keep_alive ||
	    c->token_lifetime != fr->relay.token_lifetime ||
	    cfg_tunnel_keep_alive(c, f) != fr->tunnel_ka ||
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

/* The run of the current set named name, if any. */
static size_t find_run(struct fwd_run *const *old, size_t n_old, const char *name)
{
	for (size_t i = 0; i < n_old; i++)
		if (strcmp(old[i]->fwd->name, name) == 0)
			return i;
	return SIZE_MAX;
}

size_t sup_plan(struct fwd_run *const *old, size_t n_old, const struct azb_config *c,
		struct sup_step *out)
{
	size_t n = 0;

	/* Removed ones first, so a changed forward's address is free again. */
	for (size_t i = 0; i < n_old; i++)
		if (!cfg_find_fwd(c, old[i]->fwd->name))
			out[n++] = (struct sup_step){ SUP_REMOVE, i, SIZE_MAX };
	for (size_t k = 0; k < c->n_fwd; k++) {
		size_t i = find_run(old, n_old, c->fwd[k]->name);
		enum sup_action a = SUP_ADD;

		/* A failed one is retried. */
		if (i != SIZE_MAX)
			a = same_run(c, c->fwd[k], old[i]) && old[i]->state != FWD_FAILED ? SUP_KEEP :
											     SUP_REPLACE;
		out[n++] = (struct sup_step){ a, i, k };
	}
	return n;
}

static void drain(struct fwd_run *fr, int grace)
{
	push(fr);
	fwd_drain(fr, grace);
}

static struct fwd_run *start_new(struct azb_config *c, const struct azb_fwd *f,
				 struct sup_diff *d)
{
	struct fwd_run *fr = fwd_new(c, f, released);

	if (fwd_start(fr, c) < 0 || fr->state == FWD_FAILED)
		note(&d->failed, &d->n_failed, f->name);
	return fr;
}

static void keep(struct fwd_run *fr, const struct azb_config *c, const struct azb_fwd *f)
{
	azb_set_str(&fr->fwd->origin_file, f->origin_file);
	fr->fwd->origin_line = f->origin_line;
	fr->connect_timeout = c->connect_timeout;   /* for connections from now on */
}

/* Carry out one step; the forward that runs for c's forward, or NULL. */
static struct fwd_run *step(const struct sup_step *s, struct fwd_run **old, struct azb_config *c,
			    struct sup_diff *d)
{
	struct fwd_run *fr = s->run != SIZE_MAX ? old[s->run] : NULL;
	const struct azb_fwd *f = s->fwd != SIZE_MAX ? c->fwd[s->fwd] : NULL;

	switch (s->action) {
	case SUP_REMOVE:
		note(&d->removed, &d->n_removed, fr->fwd->name);
		drain(fr, c->drain_timeout);
		return NULL;
	case SUP_KEEP:
		keep(fr, c, f);
		d->n_unchanged++;
		return fr;
	case SUP_REPLACE:
		note(&d->changed, &d->n_changed, f->name);
		drain(fr, c->drain_timeout);
		return start_new(c, f, d);
	case SUP_ADD:
		note(&d->added, &d->n_added, f->name);
		return start_new(c, f, d);
	}
	return NULL;
}

void sup_apply(struct azb_config *c, struct sup_diff *d)
{
	size_t n_old = S.n_current, n_draining = S.n - S.n_current, n_steps;
	struct fwd_run **old = xmalloc((n_old ? n_old : 1) * sizeof(*old));
	struct fwd_run **next = xmalloc((c->n_fwd ? c->n_fwd : 1) * sizeof(*next));
	struct sup_step *steps = xmalloc((n_old + c->n_fwd + 1) * sizeof(*steps));

	memset(d, 0, sizeof(*d));
	/* Before any forward starts a token fetch on the worker. */
	proxy_set_global(&c->cred.proxy);
	/* S.run is NULL before the first forward: no memcpy from it (UBSan). */
	if (n_old)
		memcpy(old, S.run, n_old * sizeof(*old));
	n_steps = sup_plan(old, n_old, c, steps);
	if (n_draining)
		memmove(S.run, S.run + n_old, n_draining * sizeof(*S.run));
	S.n = n_draining;
	S.n_current = 0;
	for (size_t i = 0; i < n_steps; i++) {
		struct fwd_run *fr = step(&steps[i], old, c, d);

		if (fr)
			next[steps[i].fwd] = fr;
	}
	free(steps);
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
	hostsync_apply(c->hosts_file, S.run, S.n_current);
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
	/* Closing may free runs and shrink the array under us. */
	for (size_t i = S.n; i-- > 0;)
		if (i < S.n)
			fwd_close_tunnels(S.run[i]);
	if (S.on_empty)
		lws_sul_schedule(loop_context(), 0, sul, stop_forced, LWS_US_PER_SEC);
}

void sup_shutdown(void (*done)(void))
{
	int grace = S.cfg ? S.cfg->stop_timeout : 0;

	S.shutting_down = true;
	S.n_current = 0;
	/* Draining may free runs and shrink the array under us. */
	for (size_t i = S.n; i-- > 0;)
		if (i < S.n && S.run[i]->state != FWD_DRAINING)
			fwd_drain(S.run[i], grace);
	hostsync_apply(S.cfg ? S.cfg->hosts_file : NULL, S.run, 0);
	S.on_empty = done;
	if (S.n == 0) {
		shutdown_done();
		return;
	}
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

		/* Tunnels still open are torn down with the loop; the last
		 * one to go frees fr (released() no longer finds it here). */
		S.n--;
		if (fr->state != FWD_DRAINING)
			fwd_drain(fr, 0);
		else
			fwd_close_tunnels(fr);
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

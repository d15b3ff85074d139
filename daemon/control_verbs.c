/* One handler per control verb; the protocol is in azbridgectl(8). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "control_add.h"
#include "ctlpolicy.h"
#include "hostsfile.h"
#include "hostsync.h"
#include "reload.h"
#include "supervisor.h"
#include "util.h"

static double started;   /* CLOCK_MONOTONIC seconds */

/* ---- forwards as JSON ------------------------------------------------------ */

static json_t *source_of(const struct fwd_run *fr)
{
	if (sup_is_runtime(fr->fwd->name))
		return json_string("runtime");
	if (!fr->fwd->origin_file)
		return json_string("command line");
	return json_sprintf("%s:%d", fr->fwd->origin_file, fr->fwd->origin_line);
}

static json_t *host_names(const struct azb_fwd *f)
{
	json_t *a = json_array();

	for (size_t i = 0; i < f->n_ep; i++)
		if (f->ep[i].host_name)
			json_array_append_new(a, json_string(f->ep[i].host_name));
	return a;
}

static json_t *forward_json(const struct fwd_run *fr)
{
	char *expr = bnd_format(fr->fwd), opt[2] = { bnd_format_option(fr->fwd), 0 };
	json_t *b = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:f, s:I, s:o}",
			      CTL_M_NAME, fr->fwd->name,
			      CTL_M_DIRECTION, fr->fwd->dir == AZB_DIR_LOCAL ? "local" : "remote",
			      CTL_M_RELAY, fr->fwd->relay, CTL_M_EXPRESSION, expr,
			      CTL_M_OPTION, opt, CTL_M_SOURCE, source_of(fr),
			      CTL_M_STATE, fwd_state_name(fr->state), CTL_M_SINCE, fr->since,
			      CTL_M_TUNNELS, (json_int_t)fr->stats.tunnels_open,
			      CTL_M_HOST_NAMES, host_names(fr->fwd));

	free(expr);
	if (fr->reason[0])
		json_object_set_new(b, CTL_M_REASON, json_string(fr->reason));
	if (fr->state == FWD_RECONNECTING)
		json_object_set_new(b, CTL_M_NEXT_ATTEMPT, json_real(fr->next_attempt));
	return b;
}

static void put_str(json_t *o, const char *k, const char *v)
{
	if (v)
		json_object_set_new(o, k, json_string(v));
}

/* One binding of a forward (an endpoint, struct azb_ep). */
static json_t *binding_json(const struct azb_fwd *f, const struct azb_ep *e)
{
	json_t *o = json_pack("{s:s, s:s}", CTL_M_KIND, bnd_kind_name(e->kind), CTL_M_PORT_NAME,
			      e->port_name);
	bool local = f->dir == AZB_DIR_LOCAL;

	put_str(o, local ? CTL_M_BIND_ADDRESS : CTL_M_HOST, e->host);
	if (e->port)
		json_object_set_new(o, local ? CTL_M_BIND_PORT : CTL_M_PORT, json_integer(e->port));
	put_str(o, CTL_M_SOCKET, e->socket_path);
	put_str(o, CTL_M_PATH, e->http_path);
	put_str(o, CTL_M_HOST_NAME, e->host_name);
	if (e->no_auth)
		json_object_set_new(o, CTL_M_NO_AUTHENTICATION, json_true());
	return o;
}

static json_t *stats_json(const struct fwd_stats *s)
{
	json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			      CTL_M_BYTES_UP, (json_int_t)s->bytes_up,
			      CTL_M_BYTES_DOWN, (json_int_t)s->bytes_down,
			      CTL_M_TUNNELS_OPEN, (json_int_t)s->tunnels_open,
			      CTL_M_TUNNELS_TOTAL, (json_int_t)s->tunnels_total,
			      CTL_M_TUNNELS_FAILED, (json_int_t)s->tunnels_failed,
			      CTL_M_RECONNECTS, (json_int_t)s->reconnects,
			      CTL_M_DATAGRAMS_DROPPED, (json_int_t)s->datagrams_dropped);

	if (s->last_error[0])
		json_object_set_new(o, CTL_M_LAST_ERROR, json_string(s->last_error));
	return o;
}

static void stats_add(struct fwd_stats *t, const struct fwd_stats *s)
{
	t->bytes_up += s->bytes_up;
	t->bytes_down += s->bytes_down;
	t->tunnels_open += s->tunnels_open;
	t->tunnels_total += s->tunnels_total;
	t->tunnels_failed += s->tunnels_failed;
	t->reconnects += s->reconnects;
	t->datagrams_dropped += s->datagrams_dropped;
}

static const char *name_arg(json_t *req)
{
	return json_string_value(json_object_get(req, CTL_M_NAME));
}

/* Members are as ctl_decode() checked them against the verb's table. */

/* ---- read verbs ------------------------------------------------------------ */

static json_t *v_version(const struct ctl_caller *who, json_t *req)
{
	(void)who;
	(void)req;
	return json_pack("{s:b, s:s, s:i}", CTL_M_OK, 1, CTL_M_VERSION, AZB_VERSION, CTL_M_PROTOCOL,
			 CTL_PROTOCOL);
}

static json_t *last_reload_json(const struct reload_last *l)
{
	json_t *errs = json_array();

	for (size_t i = 0; i < l->errs.n; i++)
		json_array_append_new(errs, json_string(l->errs.msg[i]));
	return json_pack("{s:b, s:I, s:o}", CTL_M_OK, l->ok, CTL_M_TIME, (json_int_t)l->when,
			 CTL_M_ERRORS, errs);
}

static json_t *v_status(const struct ctl_caller *who, json_t *req)
{
	size_t online, tunnels, n = sup_count(&online, &tunnels);
	const struct reload_last *l = reload_last();
	const char *cfg = reload_config_path();
	json_t *r = json_pack("{s:b, s:s, s:i, s:f, s:o, s:I, s:I, s:I, s:I}", CTL_M_OK, 1,
			      CTL_M_VERSION, AZB_VERSION, CTL_M_PID, (int)getpid(),
			      CTL_M_UPTIME, azb_clock_s(CLOCK_MONOTONIC) - started,
			      CTL_M_CONFIG, cfg ? json_string(cfg) : json_null(),
			      CTL_M_FORWARDS, (json_int_t)n, CTL_M_ONLINE, (json_int_t)online,
			      CTL_M_TUNNELS, (json_int_t)tunnels,
			      CTL_M_RELOADS, (json_int_t)l->count);

	(void)who;
	(void)req;
	if (l->count)
		json_object_set_new(r, CTL_M_LAST_RELOAD, last_reload_json(l));
	return r;
}

static json_t *v_list(const struct ctl_caller *who, json_t *req)
{
	struct fwd_run *const *runs;
	size_t n = sup_runs(&runs);
	json_t *a = json_array();

	(void)who;
	(void)req;
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, forward_json(runs[i]));
	return json_pack("{s:b, s:o}", CTL_M_OK, 1, CTL_M_FORWARDS, a);
}

static json_t *v_show(const struct ctl_caller *who, json_t *req)
{
	const char *name = name_arg(req);
	struct fwd_run *fr = sup_find(name);
	json_t *b, *eps;

	(void)who;
	if (!fr)
		return ctl_fail("not-found", "no forward named \"%s\"", name);
	b = forward_json(fr);
	eps = json_array();
	for (size_t i = 0; i < fr->fwd->n_ep; i++)
		json_array_append_new(eps, binding_json(fr->fwd, &fr->fwd->ep[i]));
	json_object_set_new(b, CTL_M_ENDPOINTS, eps);
	json_object_set_new(b, CTL_M_STATS, stats_json(&fr->stats));
	return json_pack("{s:b, s:o}", CTL_M_OK, 1, CTL_M_FORWARD, b);
}

static json_t *named_stats(const struct fwd_run *fr)
{
	json_t *o = stats_json(&fr->stats);

	json_object_set_new(o, CTL_M_NAME, json_string(fr->fwd->name));
	return o;
}

static json_t *v_stats(const struct ctl_caller *who, json_t *req)
{
	const char *name = name_arg(req);
	struct fwd_stats total = { 0 };
	struct fwd_run *const *runs;
	size_t n = sup_runs(&runs), n_cur = sup_n_current();
	json_t *a = json_array();

	(void)who;
	if (name) {
		struct fwd_run *fr = sup_find(name);

		json_decref(a);
		if (!fr)
			return ctl_fail("not-found", "no forward named \"%s\"", name);
		return json_pack("{s:b, s:[o], s:o}", CTL_M_OK, 1, CTL_M_FORWARDS, named_stats(fr),
				 CTL_M_TOTAL, stats_json(&fr->stats));
	}
	/* The total includes forwards still draining after a reload. */
	for (size_t i = 0; i < n; i++) {
		if (i < n_cur)
			json_array_append_new(a, named_stats(runs[i]));
		stats_add(&total, &runs[i]->stats);
	}
	return json_pack("{s:b, s:o, s:o}", CTL_M_OK, 1, CTL_M_FORWARDS, a, CTL_M_TOTAL,
			 stats_json(&total));
}

/* ---- reload ---------------------------------------------------------------- */

static json_t *names_json(char **names, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(names[i]));
	return a;
}

json_t *ctl_config_failure(const struct cfg_errors *errs)
{
	json_t *r = ctl_fail("config", "the configuration has %zu error%s; the running one is kept",
			     errs->n, errs->n == 1 ? "" : "s");

	json_object_set_new(r, CTL_M_ERRORS, json_array());
	for (size_t i = 0; i < errs->n; i++)
		json_array_append_new(json_object_get(r, CTL_M_ERRORS), json_string(errs->msg[i]));
	return r;
}

json_t *ctl_reload(const char *why)
{
	struct cfg_errors errs = { 0 };
	struct sup_diff d;
	json_t *r;

	if (reload_run(why, &d, &errs) < 0) {
		r = ctl_config_failure(&errs);
		cfg_errors_clear(&errs);
		return r;
	}
	r = json_pack("{s:b, s:o, s:o, s:o, s:I, s:o}", CTL_M_OK, 1,
		      CTL_M_ADDED, names_json(d.added, d.n_added),
		      CTL_M_REMOVED, names_json(d.removed, d.n_removed),
		      CTL_M_CHANGED, names_json(d.changed, d.n_changed),
		      CTL_M_UNCHANGED, (json_int_t)d.n_unchanged,
		      CTL_M_FAILED, names_json(d.failed, d.n_failed));
	sup_diff_free(&d);
	return r;
}

static json_t *v_reload(const struct ctl_caller *who, json_t *req)
{
	(void)who;
	(void)req;
	return ctl_reload("azbridgectl reload");
}

/* ---- hosts ------------------------------------------------------------------ */

static json_t *v_hosts_list(const struct ctl_caller *who, json_t *req)
{
	struct hosts_list l = { 0 };
	char err[256];
	json_t *a;

	(void)who;
	(void)req;
	if (hosts_read(hostsync_path(), &l, err, sizeof(err)) < 0)
		return ctl_fail("io", "%s", err);
	a = json_array();
	for (size_t i = 0; i < l.n; i++) {
		json_t *e = json_pack("{s:s, s:s}", CTL_M_IP, l.e[i].ip, CTL_M_NAME, l.e[i].name);

		put_str(e, CTL_M_FORWARD, l.e[i].owner);
		json_array_append_new(a, e);
	}
	hosts_list_free(&l);
	return json_pack("{s:b, s:s, s:o}", CTL_M_OK, 1, CTL_M_FILE, hostsync_path(), CTL_M_ENTRIES,
			 a);
}

static json_t *hosts_failure(int r, const char *err)
{
	switch (r) {
	case -EINVAL: return ctl_fail("invalid", "%s", err);
	case -EEXIST: return ctl_fail("exists", "%s", err);
	case -ENOENT: return ctl_fail("not-found", "%s", err);
	case -EPERM: return ctl_fail("invalid", "%s", err);
	case -EAGAIN: return ctl_fail("busy", "%s; try again", err);
	default: return ctl_fail("io", "%s", err);
	}
}

static json_t *v_hosts_add(const struct ctl_caller *who, json_t *req)
{
	const char *ip = json_string_value(json_object_get(req, CTL_M_IP));
	const char *name = name_arg(req);
	json_t *denied = ctl_policy_host_name(who, name);
	char err[256];
	int r;

	if (denied)
		return denied;
	r = hosts_add_manual(hostsync_path(), hostsync_lock(), ip, name, err, sizeof(err));
	return r < 0 ? hosts_failure(r, err) : ctl_ok();
}

static json_t *v_hosts_remove(const struct ctl_caller *who, json_t *req)
{
	const char *name = name_arg(req);
	json_t *denied = ctl_policy_host_name(who, name);
	char err[256];
	int r;

	if (denied)
		return denied;
	r = hosts_remove_manual(hostsync_path(), hostsync_lock(), name, err, sizeof(err));
	return r < 0 ? hosts_failure(r, err) : ctl_ok();
}

/* ---- the table --------------------------------------------------------------- */

void ctl_verbs_init(void)
{
	started = azb_clock_s(CLOCK_MONOTONIC);
}

/* A switch, so that the compiler names a verb of ctl_proto.c without a handler. */
json_t *ctl_verb_run(enum ctl_verb_id id, const struct ctl_caller *who, json_t *req)
{
	switch (id) {
	case CTL_VERSION: return v_version(who, req);
	case CTL_STATUS: return v_status(who, req);
	case CTL_LIST: return v_list(who, req);
	case CTL_SHOW: return v_show(who, req);
	case CTL_STATS: return v_stats(who, req);
	case CTL_HOSTS_LIST: return v_hosts_list(who, req);
	case CTL_ADD: return ctl_add(who, req);
	case CTL_REMOVE: return ctl_remove(who, req);
	case CTL_RELOAD: return v_reload(who, req);
	case CTL_HOSTS_ADD: return v_hosts_add(who, req);
	case CTL_HOSTS_REMOVE: return v_hosts_remove(who, req);
	case CTL_N_VERBS: break;
	}
	return ctl_fail("internal", "no handler for request %d", (int)id);
}

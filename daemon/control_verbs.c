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

/* ---- bindings as JSON ------------------------------------------------------ */

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

static json_t *binding_json(const struct fwd_run *fr)
{
	char *expr = bnd_format(fr->fwd), opt[2] = { bnd_format_option(fr->fwd), 0 };
	json_t *b = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:f, s:I, s:o}",
			      "name", fr->fwd->name,
			      "direction", fr->fwd->dir == AZB_DIR_LOCAL ? "local" : "remote",
			      "relay", fr->fwd->relay, "expression", expr, "option", opt,
			      "source", source_of(fr), "state", fwd_state_name(fr->state),
			      "since", fr->since, "tunnels", (json_int_t)fr->stats.tunnels_open,
			      "host_names", host_names(fr->fwd));

	free(expr);
	if (fr->reason[0])
		json_object_set_new(b, "reason", json_string(fr->reason));
	if (fr->state == FWD_RECONNECTING)
		json_object_set_new(b, "next_attempt", json_real(fr->next_attempt));
	return b;
}

static void put_str(json_t *o, const char *k, const char *v)
{
	if (v)
		json_object_set_new(o, k, json_string(v));
}

static json_t *endpoint_json(const struct azb_fwd *f, const struct azb_ep *e)
{
	json_t *o = json_pack("{s:s, s:s}", "kind", bnd_kind_name(e->kind), "port_name",
			      e->port_name);
	bool local = f->dir == AZB_DIR_LOCAL;

	put_str(o, local ? "bind_address" : "host", e->host);
	if (e->port)
		json_object_set_new(o, local ? "bind_port" : "port", json_integer(e->port));
	put_str(o, "socket", e->socket_path);
	put_str(o, "path", e->http_path);
	put_str(o, "host_name", e->host_name);
	if (e->no_auth)
		json_object_set_new(o, "no_authentication", json_true());
	return o;
}

static json_t *stats_json(const struct fwd_stats *s)
{
	json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			      "bytes_up", (json_int_t)s->bytes_up,
			      "bytes_down", (json_int_t)s->bytes_down,
			      "tunnels_open", (json_int_t)s->tunnels_open,
			      "tunnels_total", (json_int_t)s->tunnels_total,
			      "tunnels_failed", (json_int_t)s->tunnels_failed,
			      "reconnects", (json_int_t)s->reconnects,
			      "datagrams_dropped", (json_int_t)s->datagrams_dropped);

	if (s->last_error[0])
		json_object_set_new(o, "last_error", json_string(s->last_error));
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
	return json_string_value(json_object_get(req, "name"));
}

/* Members are as ctl_decode() checked them against the verb table. */

/* ---- read verbs ------------------------------------------------------------ */

static json_t *v_version(const struct ctl_caller *who, json_t *req)
{
	(void)who;
	(void)req;
	return json_pack("{s:b, s:s, s:i}", "ok", 1, "version", AZB_VERSION, "protocol", 1);
}

static json_t *last_reload_json(const struct reload_last *l)
{
	json_t *errs = json_array();

	for (size_t i = 0; i < l->errs.n; i++)
		json_array_append_new(errs, json_string(l->errs.msg[i]));
	return json_pack("{s:b, s:I, s:o}", "ok", l->ok, "time", (json_int_t)l->when, "errors",
			 errs);
}

static json_t *v_status(const struct ctl_caller *who, json_t *req)
{
	size_t online, tunnels, n = sup_count(&online, &tunnels);
	const struct reload_last *l = reload_last();
	const char *cfg = reload_config_path();
	json_t *r = json_pack("{s:b, s:s, s:i, s:f, s:o, s:I, s:I, s:I, s:I}", "ok", 1,
			      "version", AZB_VERSION, "pid", (int)getpid(), "uptime", azb_clock_s(CLOCK_MONOTONIC) - started,
			      "config", cfg ? json_string(cfg) : json_null(),
			      "bindings", (json_int_t)n, "online", (json_int_t)online,
			      "tunnels", (json_int_t)tunnels, "reloads", (json_int_t)l->count);

	(void)who;
	(void)req;
	if (l->count)
		json_object_set_new(r, "last_reload", last_reload_json(l));
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
		json_array_append_new(a, binding_json(runs[i]));
	return json_pack("{s:b, s:o}", "ok", 1, "bindings", a);
}

static json_t *v_show(const struct ctl_caller *who, json_t *req)
{
	const char *name = name_arg(req);
	struct fwd_run *fr = sup_find(name);
	json_t *b, *eps;

	(void)who;
	if (!fr)
		return ctl_fail("not-found", "no binding named \"%s\"", name);
	b = binding_json(fr);
	eps = json_array();
	for (size_t i = 0; i < fr->fwd->n_ep; i++)
		json_array_append_new(eps, endpoint_json(fr->fwd, &fr->fwd->ep[i]));
	json_object_set_new(b, "endpoints", eps);
	json_object_set_new(b, "stats", stats_json(&fr->stats));
	return json_pack("{s:b, s:o}", "ok", 1, "binding", b);
}

static json_t *named_stats(const struct fwd_run *fr)
{
	json_t *o = stats_json(&fr->stats);

	json_object_set_new(o, "name", json_string(fr->fwd->name));
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
			return ctl_fail("not-found", "no binding named \"%s\"", name);
		return json_pack("{s:b, s:[o], s:o}", "ok", 1, "bindings", named_stats(fr), "total",
				 stats_json(&fr->stats));
	}
	/* The total includes forwards still draining after a reload. */
	for (size_t i = 0; i < n; i++) {
		if (i < n_cur)
			json_array_append_new(a, named_stats(runs[i]));
		stats_add(&total, &runs[i]->stats);
	}
	return json_pack("{s:b, s:o, s:o}", "ok", 1, "bindings", a, "total", stats_json(&total));
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

	json_object_set_new(r, "errors", json_array());
	for (size_t i = 0; i < errs->n; i++)
		json_array_append_new(json_object_get(r, "errors"), json_string(errs->msg[i]));
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
	r = json_pack("{s:b, s:o, s:o, s:o, s:I, s:o}", "ok", 1,
		      "added", names_json(d.added, d.n_added),
		      "removed", names_json(d.removed, d.n_removed),
		      "changed", names_json(d.changed, d.n_changed),
		      "unchanged", (json_int_t)d.n_unchanged,
		      "failed", names_json(d.failed, d.n_failed));
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
		json_t *e = json_pack("{s:s, s:s}", "ip", l.e[i].ip, "name", l.e[i].name);

		put_str(e, "binding", l.e[i].owner);
		json_array_append_new(a, e);
	}
	hosts_list_free(&l);
	return json_pack("{s:b, s:s, s:o}", "ok", 1, "file", hostsync_path(), "entries", a);
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
	const char *ip = json_string_value(json_object_get(req, "ip"));
	const char *name = json_string_value(json_object_get(req, "name"));
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
	const char *name = json_string_value(json_object_get(req, "name"));
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

/* A switch, so that the compiler names a verb of ctlreq.c without a handler. */
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

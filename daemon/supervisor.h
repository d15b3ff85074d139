/* Owns the set of running forwards and applies a new configuration as a
 * keyed diff: forwards are matched by name; unchanged ones keep their
 * listeners and tunnels, changed ones are rebuilt, removed ones stop
 * accepting and drain. Each forward's own lifetime is fwd.c's. */
#ifndef AZB_SUPERVISOR_H
#define AZB_SUPERVISOR_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "fwd.h"

/* The keyed diff as data: what becomes of each current run and each
 * forward of the new config. */
enum sup_action {
	SUP_REMOVE,    /* run: not in the new config; drains */
	SUP_KEEP,      /* run keeps serving fwd */
	SUP_REPLACE,   /* run drains; a new one starts for fwd */
	SUP_ADD,       /* a new one starts for fwd */
};
struct sup_step {
	enum sup_action action;
	size_t run;    /* index into the current runs, or SIZE_MAX */
	size_t fwd;    /* index into the new config's forwards, or SIZE_MAX */
};
/* Pure: the steps from the current runs to c, removals first (their
 * addresses come free), then c's forwards in order. out has room for
 * n_old + c->n_fwd steps; returns how many there are. */
size_t sup_plan(struct fwd_run *const *old, size_t n_old, const struct azb_config *c,
		struct sup_step *out);

/* Names per outcome of one apply. */
struct sup_diff {
	size_t n_added, n_removed, n_changed, n_unchanged, n_failed;
	char **added, **removed, **changed, **failed;
};
void sup_diff_free(struct sup_diff *d);

/* First start; takes c. -errno when a forward could not start and the
 * config says to exit on forward failures. */
int sup_start(struct azb_config *c);
/* Replace the running config with c (taken) and report what changed. */
void sup_apply(struct azb_config *c, struct sup_diff *d);
/* The config in force (owned by the supervisor). */
const struct azb_config *sup_config(void);

/* Stop accepting everywhere; open tunnels get stop_timeout to finish, then
 * they are closed and done() runs (once) when the last one is gone. */
void sup_shutdown(void (*done)(void));
/* Free everything (after the loop ended). */
void sup_stop(void);

/* Counts for STATUS= and `status`: current bindings, how many are up, and
 * open tunnels including those of draining forwards. */
size_t sup_count(size_t *online, size_t *tunnels);

/* Current forwards in config order, then draining ones. */
size_t sup_runs(struct fwd_run *const **runs);
size_t sup_n_current(void);
struct fwd_run *sup_find(const char *name);

/* Forwards added with --runtime: kept across reloads, lost on restart. */
void sup_runtime_add(const struct azb_fwd *f);
bool sup_runtime_remove(const char *name);
bool sup_is_runtime(const char *name);
/* Put copies of the runtime forwards into c (a file's forward of the same
 * name wins, with a warning). */
void sup_runtime_merge(struct azb_config *c);

#endif

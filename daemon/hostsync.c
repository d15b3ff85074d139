#include "hostsync.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hostsfile.h"
#include "log.h"
#include "supervisor.h"
#include "util.h"

static char *last_path;     /* where our entries are now, to clear on a change */

const char *hostsync_path(void)
{
	const struct azb_config *c = sup_config();

	return c && c->hosts_file ? c->hosts_file : AZB_HOSTS_FILE;
}

/* The address a name should resolve to for clients to reach the listener. */
static const char *entry_ip(const struct azb_ep *e)
{
	if (!e->host)
		return NULL;
	if (strcmp(e->host, "0.0.0.0") == 0)
		return "127.0.0.1";
	if (strcmp(e->host, "::") == 0)
		return "::1";
	return hosts_valid_ip(e->host) ? e->host : NULL;
}

static size_t collect(struct hosts_entry **out)
{
	struct fwd_run *const *runs;
	size_t n_cur = sup_n_current(), n = 0;
	struct hosts_entry *e = NULL;

	sup_runs(&runs);
	for (size_t i = 0; i < n_cur; i++) {
		const struct fwd_run *fr = runs[i];

		if (fr->fwd->dir != AZB_DIR_LOCAL || fr->state != FWD_LISTENING)
			continue;
		for (size_t k = 0; k < fr->fwd->n_ep; k++) {
			const struct azb_ep *ep = &fr->fwd->ep[k];
			const char *ip = entry_ip(ep);

			if (!ep->host_name)
				continue;
			if (!ip) {
				log_warning("%s: no hosts entry for %s: bind address %s is not an IP "
					    "address", fr->fwd->name, ep->host_name, ep->host);
				continue;
			}
			e = xrealloc(e, (n + 1) * sizeof(*e));
			e[n++] = (struct hosts_entry){ (char *)ip, ep->host_name, fr->fwd->name };
		}
	}
	*out = e;
	return n;
}

static void sync_file(const char *path, const struct hosts_entry *e, size_t n)
{
	char err[256];
	int r = hosts_sync_owned(path, e, n, err, sizeof(err));

	if (r < 0)
		log_warning("hosts file %s not updated: %s", path, err);
	else if (r > 0)
		log_info("hosts file %s: %zu entr%s for forwards", path, n, n == 1 ? "y" : "ies");
}

/* Entries a previous run left behind (it crashed, or was killed). */
static bool has_stale(const char *path)
{
	struct hosts_list l = { 0 };
	char err[256];
	bool stale = false;

	if (hosts_read(path, &l, err, sizeof(err)) < 0)
		return false;
	for (size_t i = 0; i < l.n; i++)
		stale |= l.e[i].owner != NULL;
	hosts_list_free(&l);
	return stale;
}

void hostsync_apply(void)
{
	const char *path = hostsync_path();
	struct hosts_entry *e;
	size_t n = collect(&e);

	if (last_path && strcmp(last_path, path) != 0)
		sync_file(last_path, NULL, 0);
	/* A daemon without host names writes nothing, but clears what an
	 * earlier run left. */
	if (n || last_path || has_stale(path))
		sync_file(path, e, n);
	free(e);
	if (n)
		azb_set_str(&last_path, path);
	else
		azb_set_str(&last_path, NULL);
}

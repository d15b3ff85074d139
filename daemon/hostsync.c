#include "hostsync.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostsfile.h"
#include "log.h"
#include "loop.h"
#include "util.h"

#define RETRY_FIRST_MS 250
#define RETRY_MAX_MS 5000
#define MARKER_MAX 4096

/* Which hosts files may hold our entries is remembered in the runtime
 * directory (the marker), so that a daemon that has no host names never
 * opens the hosts file, yet clears what a killed earlier run left. */
static struct {
	bool ready;
	char *dir;                /* the runtime directory */
	char *path;               /* the config's hosts_file, or NULL */
	struct hosts_list want;   /* the entries the running forwards want */
	char *lock, *marker;
	char **dirty;             /* hosts files that may hold our entries */
	size_t n_dirty;
	lws_sorted_usec_list_t retry;
	unsigned delay_ms;        /* 0: no retry pending */
} H;

const char *hostsync_path(void)
{
	return H.path ? H.path : AZB_HOSTS_FILE;
}

static const char *rundir(void)
{
	return H.dir ? H.dir : AZB_RUNTIME_DIR;
}

void hostsync_set_dir(const char *dir)
{
	azb_set_str(&H.dir, dir);
}

/* ---- the marker -------------------------------------------------------------- */

static bool is_dirty(const char *path, size_t *at)
{
	for (size_t i = 0; i < H.n_dirty; i++) {
		if (strcmp(H.dirty[i], path) == 0) {
			if (at)
				*at = i;
			return true;
		}
	}
	return false;
}

static void dirty_add(const char *path)
{
	H.dirty = xrealloc(H.dirty, (H.n_dirty + 1) * sizeof(*H.dirty));
	H.dirty[H.n_dirty++] = xstrdup(path);
}

/* Only a regular file of ours counts: the runtime directory is root's, so
 * anything else there is a mistake, and following it could make us edit a
 * file of somebody's choosing. */
static int marker_read(struct sbuf *out)
{
	char buf[MARKER_MAX + 1];
	struct stat st;
	ssize_t n;
	int fd = open(H.marker, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
		close(fd);
		return -EPERM;
	}
	n = pread(fd, buf, MARKER_MAX, 0);
	close(fd);
	if (n < 0)
		return -errno;
	sbuf_addn(out, buf, (size_t)n);
	return 0;
}

static void marker_load(void)
{
	struct sbuf b;
	char *save = NULL;
	int r;

	sbuf_init(&b);
	r = marker_read(&b);
	if (r < 0)
		log_warning("%s: %s; ignoring it (hosts entries a previous run left stay)", H.marker,
			    r == -EPERM ? "not a regular file of ours" : strerror(-r));
	for (char *l = strtok_r(b.s, "\n", &save); r == 0 && l; l = strtok_r(NULL, "\n", &save))
		if (l[0] == '/' && !is_dirty(l, NULL))
			dirty_add(l);
	sbuf_free(&b);
}

static void marker_save(void)
{
	struct sbuf b;
	int r;

	sbuf_init(&b);
	for (size_t i = 0; i < H.n_dirty; i++)
		sbuf_printf(&b, "%s\n", H.dirty[i]);
	if (H.n_dirty) {
		r = mkdir(rundir(), 0755) < 0 && errno != EEXIST ? -errno : 0;
		if (r == 0)
			r = azb_write_atomic(H.marker, b.s, 0600);
	} else {
		r = unlink(H.marker) < 0 && errno != ENOENT ? -errno : 0;
	}
	if (r < 0)
		log_warning("%s: %s; a later run may not clear these hosts entries", H.marker,
			    strerror(-r));
	sbuf_free(&b);
}

static void init(void)
{
	const char *dir = rundir();

	if (H.ready)
		return;
	H.ready = true;
	H.lock = xasprintf("%s/hosts.lock", dir);
	H.marker = xasprintf("%s/hosts.entries", dir);
	marker_load();
}

/* ---- the entries --------------------------------------------------------------- */

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

static void want(const char *ip, const char *name, const char *owner)
{
	struct hosts_list *l = &H.want;

	l->e = xrealloc(l->e, (l->n + 1) * sizeof(*l->e));
	l->e[l->n++] = (struct hosts_entry){ xstrdup(ip), xstrdup(name), xstrdup(owner) };
}

/* Copies: the forwards may be gone when a retry writes them. */
static void collect(struct fwd_run *const *runs, size_t n_runs)
{
	hosts_list_free(&H.want);
	for (size_t i = 0; i < n_runs; i++) {
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
			want(ip, ep->host_name, fr->fwd->name);
		}
	}
}

/* -EAGAIN (another writer has the lock) is for the retry timer to say. */
static int sync_file(const char *path, const struct hosts_entry *e, size_t n)
{
	char err[256];
	int r = hosts_sync_owned(path, H.lock, e, n, err, sizeof(err));

	if (r < 0 && r != -EAGAIN)
		log_warning("hosts file %s not updated: %s", path, err);
	else if (r > 0)
		log_info("hosts file %s: %zu entr%s for forwards", path, n, n == 1 ? "y" : "ies");
	return r;
}

/* The marker is written before the entries, so that no crash can leave
 * entries it does not know of. */
static int write_entries(const char *path, const struct hosts_entry *e, size_t n)
{
	if (!is_dirty(path, NULL)) {
		dirty_add(path);
		marker_save();
	}
	return sync_file(path, e, n);
}

/* A file whose entries cannot be cleared for another reason than the lock
 * stays listed: the next change tries again. */
static bool clear_dirty(const char *keep)
{
	bool busy = false, changed = false;

	for (size_t i = H.n_dirty; i-- > 0;) {
		int r;

		if (keep && strcmp(H.dirty[i], keep) == 0)
			continue;
		r = sync_file(H.dirty[i], NULL, 0);
		busy |= r == -EAGAIN;
		if (r < 0)
			continue;
		free(H.dirty[i]);
		H.dirty[i] = H.dirty[--H.n_dirty];
		changed = true;
	}
	if (changed)
		marker_save();
	return busy;
}

static void retry_fired(lws_sorted_usec_list_t *sul);

static void schedule_retry(void)
{
	if (!H.delay_ms)
		log_notice("%s: another writer holds it; the hosts file is updated when it is free",
			   H.lock);
	H.delay_ms = H.delay_ms ? H.delay_ms * 2 : RETRY_FIRST_MS;
	if (H.delay_ms > RETRY_MAX_MS)
		H.delay_ms = RETRY_MAX_MS;
	lws_sul_schedule(loop_context(), 0, &H.retry, retry_fired,
			 (lws_usec_t)H.delay_ms * LWS_US_PER_MS);
}

/* Nothing here waits for the lock: the loop must keep serving. */
static void attempt(void)
{
	const char *path = hostsync_path();
	size_t n = H.want.n;
	bool busy = false;

	init();
	if (n)
		busy = write_entries(path, H.want.e, n) == -EAGAIN;
	busy |= clear_dirty(n ? path : NULL);
	if (busy)
		schedule_retry();
	else if (H.delay_ms)
		H.delay_ms = 0;
}

static void retry_fired(lws_sorted_usec_list_t *sul)
{
	(void)sul;
	attempt();
}

void hostsync_apply(const char *hosts_file, struct fwd_run *const *runs, size_t n)
{
	azb_set_str(&H.path, hosts_file);
	collect(runs, n);
	lws_sul_cancel(&H.retry);
	attempt();
}

const char *hostsync_lock(void)
{
	init();
	return H.lock;
}

void hostsync_stop(void)
{
	hosts_list_free(&H.want);
	lws_sul_cancel(&H.retry);
	attempt();
	lws_sul_cancel(&H.retry);
	if (H.delay_ms)
		log_warning("%s: still busy at exit; the next start clears the entries left", H.lock);
	for (size_t i = 0; i < H.n_dirty; i++)
		free(H.dirty[i]);
	free(H.dirty);
	free(H.lock);
	free(H.marker);
	free(H.path);
	free(H.dir);
	memset(&H, 0, sizeof(H));
}

/* Hosts-file entries of local forwards with host_name: present while the
 * forward listens, gone when it stops or is removed. A daemon none of whose
 * forwards has a host name leaves the hosts file alone, unless the marker in
 * its runtime directory says an earlier run left entries there. Writers
 * share a lock file in the runtime directory (see hostsfile.h); while
 * another holds it, a timer tries again and the loop carries on. */
#ifndef AZB_HOSTSYNC_H
#define AZB_HOSTSYNC_H

#include <stddef.h>

#include "fwd.h"

/* Where the lock and the marker live (the control socket's directory);
 * before the first apply. */
void hostsync_set_dir(const char *dir);
/* Make the managed block's forward entries in hosts_file (NULL: the
 * default) match the running forwards runs[0, n). */
void hostsync_apply(const char *hosts_file, struct fwd_run *const *runs, size_t n);
/* The last apply, at exit; then the state is freed. */
void hostsync_stop(void);
/* The hosts file in use (the config's, or the default). */
const char *hostsync_path(void);
/* The lock file every writer of the hosts file takes. */
const char *hostsync_lock(void);

#endif

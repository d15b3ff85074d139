/* Hosts-file entries of local forwards with host_name: present while the
 * forward listens, gone when it stops or is removed. */
#ifndef AZB_HOSTSYNC_H
#define AZB_HOSTSYNC_H

/* Make the managed block's forward entries match the running forwards. */
void hostsync_apply(void);
/* The hosts file in use (the config's, or the default). */
const char *hostsync_path(void);

#endif

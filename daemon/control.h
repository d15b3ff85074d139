/* The control socket: newline-delimited JSON requests from azbridgectl (see
 * azbridgectl(8)), bounded per client, peers identified by SO_PEERCRED. */
#ifndef AZB_CONTROL_H
#define AZB_CONTROL_H

#include <stdbool.h>
#include <sys/types.h>

#include <jansson.h>

#include "config.h"
#include "ctlreq.h"

#define CTL_MAX_REQUEST (64 * 1024)
#define CTL_MAX_PENDING (1024 * 1024)   /* unread reply bytes before we give up */
#define CTL_MAX_CLIENTS 64
#define CTL_IDLE_SECONDS 60

/* Who is asking. */
struct ctl_peer {
	uid_t uid;
	gid_t gid;
	pid_t pid;
};

#define CTL_MAX_GROUPS 256

/* A request's caller, from the connection's peer credentials. */
struct ctl_caller {
	const struct ctl_peer *peer;
	bool root;                /* uid 0 or the daemon's own user: no limits */
	bool groups_known;        /* false: more than CTL_MAX_GROUPS, or unknown */
	size_t n_groups;
	gid_t groups[CTL_MAX_GROUPS];
};

/* Bind (or take from socket activation) and adopt the socket. 0 when there
 * is none to run; -EADDRINUSE when another daemon answers on the path;
 * other -errno with the reason in err. */
int ctl_server_start(const struct azb_config *c, bool from_file, char *err, size_t errlen);
void ctl_server_stop(void);
const char *ctl_server_path(void);   /* NULL when there is no socket */
/* The daemon's runtime directory: the control socket's (bound or passed in),
 * else the configured or default socket's, even when there is none. */
const char *ctl_runtime_dir(void);
/* Is this (a resolved path, and the file's stat when it exists) the
 * control socket? */
struct stat;
bool ctl_is_control_socket(const char *resolved, const struct stat *st);

/* Verbs (control_verbs.c): one reply object per request that ctl_decode()
 * let through and the caller may run. */
void ctl_verbs_init(void);
json_t *ctl_verb_run(enum ctl_verb_id id, const struct ctl_caller *who, json_t *req);

#endif

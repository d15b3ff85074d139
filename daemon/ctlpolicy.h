/* What a caller other than root (and the daemon's own user) may ask of the
 * root daemon over the control socket, as the root-owned configuration
 * allows it: the keys of a forward (a list of those allowed, not of those
 * refused), Unix sockets only in control_socket_dirs and never the control
 * socket, listening ports below 1024 only with control_privileged_ports,
 * hosts entries only under control_host_names. Each check answers NULL, or
 * the permission-denied reply that names what was refused and the key that
 * would allow it. Root passes every check. */
#ifndef AZB_CTLPOLICY_H
#define AZB_CTLPOLICY_H

#include <jansson.h>

#include "binding.h"
#include "control.h"

/* The members of an add request's forward object, before it is parsed. */
json_t *ctl_policy_keys(const struct ctl_caller *who, json_t *fwd);
/* The parsed forward. Unix socket paths become the resolved ones that were
 * checked, so that what runs (and what the drop-in says) is what passed. */
json_t *ctl_policy_fwd(const struct ctl_caller *who, struct azb_fwd *f);
/* A hosts entry's name, to add or to remove. */
json_t *ctl_policy_host_name(const struct ctl_caller *who, const char *name);

#endif

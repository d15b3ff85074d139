/* Control verbs that change the set of forwards: add and remove (with their
 * drop-in files), and the reload both end with. */
#ifndef AZB_CONTROL_ADD_H
#define AZB_CONTROL_ADD_H

#include <jansson.h>

#include "config.h"
#include "control.h"

json_t *ctl_add(const struct ctl_caller *who, json_t *req);
json_t *ctl_remove(const struct ctl_caller *who, json_t *req);
/* Reload and answer with the diff, or with the errors. */
json_t *ctl_reload(const char *why);
json_t *ctl_config_failure(const struct cfg_errors *errs);

#endif

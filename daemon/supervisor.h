/* Owns the running forwards. */
#ifndef AZB_SUPERVISOR_H
#define AZB_SUPERVISOR_H

#include <stddef.h>

#include "config.h"

/* Start every forward of c (c stays owned by the caller and must outlive the
 * forwards). -errno when a forward could not start and the config says to
 * exit on forward failures. */
int sup_start(const struct azb_config *c);
void sup_stop(void);
size_t sup_count(size_t *online, size_t *tunnels);

#endif

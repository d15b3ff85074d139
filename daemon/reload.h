/* Reloading: parse the configuration again (files and command line) and
 * apply it through the supervisor; an invalid one leaves everything as it
 * is. Reloads run to completion on the loop, so a second one waits for the
 * first. */
#ifndef AZB_RELOAD_H
#define AZB_RELOAD_H

#include <stdbool.h>
#include <time.h>

#include "cli.h"
#include "config.h"
#include "supervisor.h"

struct reload_last {
	unsigned count;        /* reloads attempted since start */
	bool ok;
	time_t when;
	struct cfg_errors errs;
};

void reload_init(const struct azb_cli *cli);
void reload_cleanup(void);
/* -EINVAL with every message in errs (also logged) when the new config is
 * invalid; 0 with the outcome in d otherwise. why names the trigger. */
int reload_run(const char *why, struct sup_diff *d, struct cfg_errors *errs);
const struct reload_last *reload_last(void);
/* The main configuration file, or NULL when only the command line is used. */
const char *reload_config_path(void);
/* Where drop-ins live (caller frees), or NULL without a configuration file. */
char *reload_dropin_dir(void);

#endif

/* azbridged's command line: the original tool's options plus our own. */
#ifndef AZB_CLI_H
#define AZB_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"

/* Exit codes, documented in azbridged(8). */
enum {
	AZB_EXIT_OK = 0,
	AZB_EXIT_CONFIG = 1,   /* configuration invalid (also -n's "not OK") */
	AZB_EXIT_USAGE = 2,    /* bad command line */
	AZB_EXIT_RUNTIME = 3,  /* could not start or keep running */
};

/* One -L/-T/-R/-H rule or one global setting, in command-line order. */
struct cli_item {
	char opt;              /* 'L','T','R','H' for rules, 'o' for settings */
	const char *key;       /* setting name (for 'o') */
	const char *value;
};

struct azb_cli {
	const char *config_path;   /* -c/-f; NULL: default unless rules given */
	bool check;                /* -n */
	bool verbose;              /* -v */
	bool quiet;                /* -q */
	bool foreground;
	bool service;              /* -svc / --svc */
	bool help, version;
	size_t n_items;
	struct cli_item *items;
	size_t n_rules;
	char *env_connstr;         /* AZURE_BRIDGE_CONNECTIONSTRING, read once */
};

#define AZB_ENV_CONNSTR "AZURE_BRIDGE_CONNECTIONSTRING"

/* Parse argv. Values of secret options are scrubbed from argv in place so
 * they do not linger in /proc/PID/cmdline, and AZURE_BRIDGE_CONNECTIONSTRING
 * is taken out of the environment (and its bytes wiped) for the same reason.
 * -EINVAL with a message on a usage error. */
int cli_parse(int argc, char **argv, struct azb_cli *cli, char *err, size_t errlen);
void cli_free(struct azb_cli *cli);

/* Load the config file (if any) and apply the command line on top. Errors
 * make it fail; warnings (forwards that cannot start yet) do not. The
 * environment's connection string lies beneath the files' global keys,
 * unless -x or a file sets a connection string: then it is not used. */
int cli_build_config(const struct azb_cli *cli, struct azb_config **out, struct cfg_errors *errs,
		     struct cfg_errors *warns);

void cli_usage(FILE *f);

#endif

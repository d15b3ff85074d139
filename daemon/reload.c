#include "reload.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "notify.h"
#include "util.h"

static const struct azb_cli *cli;
static struct reload_last last;

void reload_init(const struct azb_cli *c)
{
	cli = c;
}

void reload_cleanup(void)
{
	cfg_errors_clear(&last.errs);
}

const char *reload_config_path(void)
{
	if (cli->config_path)
		return cli->config_path;
	return cli->n_rules ? NULL : AZB_CONFIG_FILE;
}

char *reload_dropin_dir(void)
{
	const char *p = reload_config_path();

	return p ? xasprintf("%s.d", p) : NULL;
}

const struct reload_last *reload_last(void)
{
	return &last;
}

/* Files plus command line plus forwards added at run time. */
static int build(struct azb_config **out, struct cfg_errors *errs)
{
	struct cfg_errors warns = { 0 };
	struct azb_config *c;

	if (cli_build_config(cli, &c, errs, &warns) < 0)
		return -EINVAL;
	sup_runtime_merge(c);
	cfg_errors_clear(&warns);
	/* Again with the runtime forwards: they may clash with the files'. */
	if (cfg_validate(c, errs, &warns) < 0 || errs->n) {
		cfg_free(c);
		cfg_errors_clear(&warns);
		return -EINVAL;
	}
	for (size_t i = 0; i < warns.n; i++)
		log_warning("%s", warns.msg[i]);
	cfg_errors_clear(&warns);
	*out = c;
	return 0;
}

static void remember(bool ok, const struct cfg_errors *errs)
{
	last.count++;
	last.ok = ok;
	last.when = time(NULL);
	cfg_errors_clear(&last.errs);
	for (size_t i = 0; errs && i < errs->n; i++)
		cfg_errors_add(&last.errs, NULL, 0, "%s", errs->msg[i]);
}

static void warn_restart_only(const struct azb_config *old, const struct azb_config *c)
{
	if (!azb_streq(old->control_socket, c->control_socket) ||
	    old->control_socket_set != c->control_socket_set ||
	    !azb_streq(old->control_group, c->control_group))
		log_notice("control_socket and control_group changes take effect on restart");
	if (!azb_streq(old->ca_file, c->ca_file) || !azb_streq(old->log_file, c->log_file))
		log_notice("ca_file and log_file changes take effect on restart");
}

static void failed(const char *why, const struct cfg_errors *errs)
{
	char text[200];

	log_error("reload (%s) failed: %zu error%s; the running configuration is kept", why,
		  errs->n, errs->n == 1 ? "" : "s");
	for (size_t i = 0; i < errs->n; i++)
		log_error("%s", errs->msg[i]);
	snprintf(text, sizeof(text), "last reload failed: %s%s", errs->n ? errs->msg[0] : "?",
		 errs->n > 1 ? " (and more)" : "");
	remember(false, errs);
	notify_reloaded(text);
}

int reload_run(const char *why, struct sup_diff *d, struct cfg_errors *errs)
{
	struct azb_config *c = NULL;

	memset(d, 0, sizeof(*d));
	notify_reloading();
	log_info("reloading the configuration (%s)", why);
	if (build(&c, errs) < 0) {
		failed(why, errs);
		return -EINVAL;
	}
	warn_restart_only(sup_config(), c);
	if (c->log_level_set || cli->verbose || cli->quiet)
		log_set_level(c->log_level);
	sup_apply(c, d);
	log_notice("configuration reloaded (%s): %zu added, %zu removed, %zu changed, %zu unchanged"
		   "%s", why, d->n_added, d->n_removed, d->n_changed, d->n_unchanged,
		   d->n_failed ? "; some forwards failed to start" : "");
	remember(true, NULL);
	notify_reloaded(NULL);
	return 0;
}

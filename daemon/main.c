/* azbridged: start-up order is parse command line -> load config -> run. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "log.h"
#include "loop.h"
#include "control.h"
#include "entra.h"
#include "hostsync.h"
#include "notify.h"
#include "proxy.h"
#include "reload.h"
#include "relay_pool.h"
#include "resolve.h"
#include "sas.h"
#include "stream.h"
#include "supervisor.h"
#include "token.h"
#include "util.h"

static int check_config(const struct azb_config *c, bool print)
{
	char *text;

	if (!print)
		return AZB_EXIT_OK;
	text = cfg_print(c, false);
	fputs(text, stdout);
	free(text);
	return fflush(stdout) == 0 ? AZB_EXIT_OK : AZB_EXIT_RUNTIME;
}

static void report_errors(const struct azb_cli *cli, const struct cfg_errors *errs)
{
	const char *p = cli->config_path;

	for (size_t i = 0; i < errs->n; i++)
		fprintf(stderr, "%s\n", errs->msg[i]);
	if (p && (strstr(p, ".yml") || strstr(p, ".yaml")))
		fprintf(stderr, "note: azbridged reads libconfig syntax (see azbridge.conf(5)); "
				"the original tool's YAML files must be converted\n");
}

static bool stopping;

static void on_signal(int signo)
{
	struct cfg_errors errs = { 0 };
	struct sup_diff d;

	if (signo == SIGHUP) {
		if (!stopping && reload_run("SIGHUP", &d, &errs) == 0)
			sup_diff_free(&d);
		cfg_errors_clear(&errs);
		return;
	}
	if (stopping) {   /* a second request: do not wait for the drain */
		loop_stop();
		return;
	}
	stopping = true;
	log_notice("%s: stopping", strsignal(signo));
	notify_stopping();
	ctl_server_stop();
	sup_shutdown(loop_stop);
}

static void apply_logging(const struct azb_config *c, const struct azb_cli *cli)
{
	if (c->log_file && log_init("azbridged", LOG_TARGET_FILE, c->log_file) < 0)
		log_error("cannot open log file %s: %s", c->log_file, strerror(errno));
	else if (!c->log_file && cli->foreground)
		log_init("azbridged", LOG_TARGET_STDERR, NULL);
	log_set_level(c->log_level);
}

/* Control socket first: a second daemon must fail before it touches any
 * listener or hosts entry of the first. The supervisor takes c. */
static int start(struct azb_config *c)
{
	char err[300];
	int r = ctl_server_start(c, reload_config_path() != NULL, err, sizeof(err));

	if (r < 0) {
		log_error("control socket: %s", err);
		cfg_free(c);
		return AZB_EXIT_RUNTIME;
	}
	hostsync_set_dir(ctl_runtime_dir());
	if (sup_start(c) < 0) {
		log_error("a forward could not start and exit_on_forward_failure is set");
		return AZB_EXIT_RUNTIME;
	}
	return AZB_EXIT_OK;
}

static int run(struct azb_config *c, const struct azb_cli *cli)
{
	int rc = AZB_EXIT_OK;

	apply_logging(c, cli);
	log_route_lws();
	if (loop_init(on_signal) < 0 || stream_client_tls_init(c->ca_file) < 0) {
		log_error("cannot set up the event loop and TLS%s%s", c->ca_file ? " with " : "",
			  c->ca_file ? c->ca_file : "");
		loop_destroy();
		stream_tls_cleanup();
		cfg_free(c);
		return AZB_EXIT_RUNTIME;
	}
	rc = start(c);
	if (rc == AZB_EXIT_OK) {
		notify_ready();
		log_info("running %zu forward%s; stop with Ctrl+C or SIGTERM", sup_n_current(),
			 sup_n_current() == 1 ? "" : "s");
		if (loop_run() < 0)
			rc = AZB_EXIT_RUNTIME;
	}
	ctl_server_stop();
	sup_stop();
	entra_stop();
	relay_pool_close();
	loop_destroy();
	stream_tls_cleanup();
	sas_cleanup();
	token_flush();
	resolve_flush();
	entra_flush();
	proxy_global_clear();
	return rc;
}

int main(int argc, char **argv)
{
	struct cfg_errors errs = { 0 }, warns = { 0 };
	struct azb_config *c = NULL;
	struct azb_cli cli;
	char err[512];
	int rc;

	azb_undumpable();
	log_init("azbridged", LOG_TARGET_AUTO, NULL);
	if (cli_parse(argc, argv, &cli, err, sizeof(err)) < 0) {
		fprintf(stderr, "azbridged: %s\nTry 'azbridged --help'.\n", err);
		cli_free(&cli);
		return AZB_EXIT_USAGE;
	}
	if (cli.help || cli.version) {
		if (cli.help)
			cli_usage(stdout);
		else
			printf("azbridged %s\n", AZB_VERSION);
		cli_free(&cli);
		return AZB_EXIT_OK;
	}
	if (cli.foreground)
		log_init("azbridged", LOG_TARGET_STDERR, NULL);
	if (cli_build_config(&cli, &c, &errs, &warns) < 0) {
		report_errors(&cli, &errs);
		cfg_errors_clear(&errs);
		cfg_errors_clear(&warns);
		cli_free(&cli);
		return AZB_EXIT_CONFIG;
	}
	for (size_t i = 0; i < warns.n; i++)
		fprintf(stderr, "warning: %s\n", warns.msg[i]);
	cfg_errors_clear(&warns);
	reload_init(&cli);
	if (cli.check) {
		rc = check_config(c, cli.verbose);
		cfg_free(c);
	} else {
		rc = run(c, &cli);
	}
	reload_cleanup();
	cli_free(&cli);
	return rc;
}

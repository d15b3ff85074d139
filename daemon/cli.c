#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "binding.h"
#include "connstr.h"
#include "dial.h"
#include "log.h"
#include "util.h"

/* Options that carry a secret: scrubbed from argv after parsing. */
static bool opt_is_secret(int opt)
{
	return opt == 'k' || opt == 'x' || opt == 's';
}

/* Original single-letter options that set a global, by our config key. */
static const char *opt_setting(int opt)
{
	switch (opt) {
	case 'e': return "endpoint";
	case 'x': return "connection_string";
	case 'K': return "shared_access_key_name";
	case 'k': return "shared_access_key";
	case 's': return "shared_access_signature";
	case 'b': return "bind_address";
	case 'a': return "keep_alive_interval";
	case 'l': return "log_file";
	case 'g': return "GatewayPorts";
	default: return NULL;
	}
}

static const struct option long_opts[] = {
	{ "local-forward", required_argument, NULL, 'L' },
	{ "remote-forward", required_argument, NULL, 'T' },
	{ "remote-forward-old", required_argument, NULL, 'R' },
	{ "remote-http-forward", required_argument, NULL, 'H' },
	{ "endpoint-uri", required_argument, NULL, 'e' },
	{ "connection-string", required_argument, NULL, 'x' },
	{ "shared-access-key-name", required_argument, NULL, 'K' },
	{ "shared-access-key", required_argument, NULL, 'k' },
	{ "signature", required_argument, NULL, 's' },
	{ "config-file", required_argument, NULL, 'f' },
	{ "config", required_argument, NULL, 'c' },
	{ "option", required_argument, NULL, 'o' },
	{ "bind-address", required_argument, NULL, 'b' },
	{ "keep-alive-interval", required_argument, NULL, 'a' },
	{ "log-file", required_argument, NULL, 'l' },
	{ "gateway-ports", no_argument, NULL, 'g' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "check", no_argument, NULL, 'n' },
	{ "foreground", no_argument, NULL, 'F' },
	{ "svc", no_argument, NULL, 'S' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void add_item(struct azb_cli *cli, char opt, const char *key, const char *value)
{
	struct cli_item *it;

	cli->items = xrealloc(cli->items, (cli->n_items + 1) * sizeof(*cli->items));
	it = &cli->items[cli->n_items++];
	it->opt = opt;
	it->key = key ? xstrdup(key) : NULL;
	it->value = xstrdup(value);
	if (opt != 'o')
		cli->n_rules++;
}

static void scrub(char *s)
{
	/* Overwrite in place: /proc/PID/cmdline reads this very memory. */
	memset(s, 'x', strlen(s));
}

/* Without a ':' the argument may be a key with a typo around it: only a
 * name is shown. */
static int bad_option_setting(const char *arg, char *err, size_t errlen)
{
	const char *eq = strchr(arg, '=');
	char *name = xstrndup(arg, eq ? (size_t)(eq - arg) : strlen(arg));
	int r;

	if (!cs_may_echo(name))
		r = azb_err(err, errlen, "-o: expected KEY:VALUE (the argument is not shown: it "
			    "may be a secret)");
	else if (eq)
		r = azb_err(err, errlen, "-o: expected KEY:VALUE with ':' rather than '=' after "
			    "\"%s\"", name);
	else
		r = azb_err(err, errlen, "-o: expected KEY:VALUE, not \"%s\"", name);
	free(name);
	return r;
}

/* -o key:value splits at the first ':' only, so URIs and connection strings
 * survive (the original kept only the first two ':'-separated parts). The
 * value of a key that holds a secret leaves argv as -k's does. */
static int add_option_setting(struct azb_cli *cli, char *arg, char *err, size_t errlen)
{
	char *colon = strchr(arg, ':'), *key;

	if (colon == arg)
		return azb_err(err, errlen, "-o: expected KEY:VALUE; the key before ':' is empty");
	if (!colon)
		return bad_option_setting(arg, err, errlen);
	key = xstrndup(arg, (size_t)(colon - arg));
	add_item(cli, 'o', key, colon + 1);
	if (cfg_key_is_secret(key))
		scrub(colon + 1);
	free(key);
	return 0;
}

static int handle_opt(struct azb_cli *cli, int opt, char *arg, char *err, size_t errlen)
{
	const char *key = opt_setting(opt);

	switch (opt) {
	case 'L': case 'T': case 'R': case 'H':
		add_item(cli, (char)opt, NULL, arg);
		return 0;
	case 'c': case 'f':
		cli->config_path = arg;
		return 0;
	case 'o':
		return add_option_setting(cli, arg, err, errlen);
	case 'q': cli->quiet = true; return 0;
	case 'v': cli->verbose = true; return 0;
	case 'n': cli->check = true; return 0;
	case 'F': cli->foreground = true; return 0;
	case 'S': cli->service = true; return 0;
	case 'h': cli->help = true; return 0;
	case 'V': cli->version = true; return 0;
	case 'g':
		add_item(cli, 'o', key, "true");
		return 0;
	default:
		break;
	}
	if (!key)
		return azb_err(err, errlen, "unknown option");
	add_item(cli, 'o', key, arg);
	if (opt_is_secret(opt))
		scrub(arg);
	return 0;
}

/* "-svc" and "-?" are not getopt-shaped (multi-letter single dash, '?'). */
static bool pre_scan(int argc, char **argv, struct azb_cli *cli)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-svc") == 0) {
			cli->service = true;
			argv[i] = (char *)"--svc";
		} else if (strcmp(argv[i], "-?") == 0) {
			cli->help = true;
			return true;
		} else if (strcmp(argv[i], "--") == 0) {
			break;
		}
	}
	return false;
}

#define OPTSTRING ":L:T:R:H:e:x:K:k:s:f:c:o:b:a:l:gqvnhV"

/* What getopt refused, without a value given with '=' (--shared-access-keys=KEY). */
static int bad_option(char **argv, char *err, size_t errlen)
{
	const char *a = argv[optind - 1];

	if (optopt && !strchr(OPTSTRING, optopt))
		return azb_err(err, errlen, "unknown option '-%c'", optopt);
	if (strncmp(a, "--", 2) != 0)
		return azb_err(err, errlen, "unknown option");
	return azb_err(err, errlen, "%s option '%.*s'", optopt ? "no value is taken by" : "unknown",
		       (int)strcspn(a, "="), a);
}

/* A stray argument is shown when it looks like a rule or a word; a key or
 * the half of a token split by missing quotes is not. */
static int stray_argument(char **argv, char *err, size_t errlen)
{
	const char *a = argv[optind];

	if (strchr(a, ':') || cs_may_echo(a))
		return azb_err(err, errlen, "unexpected argument '%s' (rules go after -L, -T, -R "
			       "or -H)", a);
	return azb_err(err, errlen, "unexpected argument number %d (not shown: it may be a "
		       "secret; rules go after -L, -T, -R or -H)", optind);
}

static int parse_opts(int argc, char **argv, struct azb_cli *cli, char *err, size_t errlen)
{
	int opt, r;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, OPTSTRING, long_opts, NULL)) != -1) {
		if (opt == '?')
			return bad_option(argv, err, errlen);
		if (opt == ':')
			return azb_err(err, errlen, "option '%s' needs a value", argv[optind - 1]);
		r = handle_opt(cli, opt, optarg, err, errlen);
		if (r < 0)
			return r;
	}
	return optind < argc ? stray_argument(argv, err, errlen) : 0;
}

/* /proc/PID/environ reads the bytes getenv points at, and a child (az)
 * would inherit them: keep a copy, wipe them, drop the variable. */
static char *take_env_connstr(void)
{
	char *v = getenv(AZB_ENV_CONNSTR), *copy;

	if (!v)
		return NULL;
	copy = *v ? xstrdup(v) : NULL;
	explicit_bzero(v, strlen(v));
	unsetenv(AZB_ENV_CONNSTR);
	return copy;
}

int cli_parse(int argc, char **argv, struct azb_cli *cli, char *err, size_t errlen)
{
	char *safe;
	int r;

	memset(cli, 0, sizeof(*cli));
	cli->env_connstr = take_env_connstr();
	if (pre_scan(argc, argv, cli))
		return 0;
	r = parse_opts(argc, argv, cli, err, errlen);
	if (r < 0 && err) {
		safe = log_redact(err);
		snprintf(err, errlen, "%s", safe);
		free(safe);
	}
	return r;
}

void cli_free(struct azb_cli *cli)
{
	for (size_t i = 0; i < cli->n_items; i++) {
		free((char *)cli->items[i].key);
		azb_free_secret((char *)cli->items[i].value);
	}
	free(cli->items);
	azb_free_secret(cli->env_connstr);
	memset(cli, 0, sizeof(*cli));
}

static void apply_rule(struct azb_config *c, const struct cli_item *it, struct cfg_errors *errs)
{
	struct azb_fwd *f = NULL;
	char err[512];

	if (bnd_parse(it->opt, it->value, &f, err, sizeof(err)) < 0) {
		cfg_errors_add(errs, "command line", 0, "%s", err);
		return;
	}
	f->name = bnd_derive_name(f);
	if (cfg_find_fwd(c, f->name)) {
		cfg_errors_add(errs, "command line", 0, "-%c \"%s\": the same rule is given twice",
			       it->opt, it->value);
		bnd_fwd_free(f);
		return;
	}
	cfg_put_fwd(c, f);
}

static void apply_setting(struct azb_config *c, const struct cli_item *it, struct cfg_errors *errs)
{
	char err[512];
	int r = cfg_set_global(c, it->key, it->value, err, sizeof(err));

	if (r < 0)
		cfg_errors_add(errs, "command line", 0, "%s", err);
	else if (r > 0)
		log_warning("command line: %s has no effect (as in the original tool)", it->key);
}

static bool is_connstr_item(const struct cli_item *it)
{
	return it->opt == 'o' && (strcmp(it->key, "connection_string") == 0 ||
				  strcmp(it->key, "connection_string_file") == 0 ||
				  strcmp(it->key, "AzureRelayConnectionString") == 0);
}

static bool has_connstr_item(const struct azb_cli *cli)
{
	for (size_t i = 0; i < cli->n_items; i++)
		if (is_connstr_item(&cli->items[i]))
			return true;
	return false;
}

/* The original documents the variable as -x's stand-in: it counts only
 * where neither -x nor a file gives a connection string, and a file's
 * global endpoint or rule is laid over it as a forward's own are over the
 * global ones. */
static void apply_env_connstr(const struct azb_cli *cli, struct azb_config *c,
			      struct cfg_errors *errs)
{
	struct azb_cred env = { 0 }, out;
	char err[512];

	if (!cli->env_connstr)
		return;
	if (c->connstr_set || has_connstr_item(cli)) {
		log_notice(AZB_ENV_CONNSTR " is not used: %s gives the connection string",
			   has_connstr_item(cli) ? "the command line" : "the configuration");
		return;
	}
	if (cred_from_connstr(&env, cli->env_connstr, err, sizeof(err)) < 0) {
		cfg_errors_add(errs, AZB_ENV_CONNSTR, 0, "%s", err);
		cred_clear(&env);
		return;
	}
	cred_effective(&c->cred, &env, &out);
	cred_clear(&env);
	cred_clear(&c->cred);
	c->cred = out;
}

/* A bind address given as a host name is looked up here, at start and on
 * every reload (dial_check_source says when and how). */
static void check_bind_address(const struct azb_config *c, struct cfg_errors *errs)
{
	char why[300];

	if (c->bind_address && dial_check_source(c->bind_address, why, sizeof(why)) < 0)
		cfg_errors_add(errs, c->bind_address_at, 0, "%s", why);
}

/* Log level flags change how the daemon runs, not what -n prints. */
static void apply_verbosity(const struct azb_cli *cli, struct azb_config *c)
{
	if (cli->check)
		return;
	if (cli->quiet) {
		c->log_level = -1;
		c->log_level_set = true;
	} else if (cli->verbose) {
		c->log_level = LOG_DEBUG;
		c->log_level_set = true;
	}
}

int cli_build_config(const struct azb_cli *cli, struct azb_config **out, struct cfg_errors *errs,
		     struct cfg_errors *warns)
{
	const char *path = cli->config_path;
	struct azb_config *c = NULL;
	int r;

	if (!path && cli->n_rules == 0)
		path = AZB_CONFIG_FILE;
	if (path) {
		r = cfg_load(path, NULL, &c, errs);
		if (r < 0)
			return r;
	} else {
		c = cfg_new();
	}
	apply_env_connstr(cli, c, errs);
	/* A connection string is applied first and the single-value options
	 * override it, as the original's help text promises (its code let -x win). */
	for (size_t i = 0; i < cli->n_items; i++)
		if (is_connstr_item(&cli->items[i]))
			apply_setting(c, &cli->items[i], errs);
	for (size_t i = 0; i < cli->n_items; i++) {
		if (is_connstr_item(&cli->items[i]))
			continue;
		if (cli->items[i].opt == 'o')
			apply_setting(c, &cli->items[i], errs);
		else
			apply_rule(c, &cli->items[i], errs);
	}
	apply_verbosity(cli, c);
	/* Without a file, the command line is all there is: incomplete
	 * credentials are an error, as in the original tool (none at all
	 * means Entra ID). */
	if (errs->n == 0)
		cfg_validate(c, errs, path ? warns : NULL);
	if (errs->n == 0)
		check_bind_address(c, errs);
	if (errs->n) {
		cfg_free(c);
		return -EINVAL;
	}
	*out = c;
	return 0;
}

void cli_usage(FILE *f)
{
	fputs("Usage: azbridged [options] [-L rule]... [-T rule]... [-R rule]... [-H rule]...\n"
	      "\n"
	      "Forwarding rules:\n"
	      "  -L [addr:]port[U][/name][;...]:relay   local forward (listen here, send to relay)\n"
	      "  -L socket[/name]:relay                 local forward from a Unix socket\n"
	      "  -T relay:[name/][host:]port[U][;...]   remote forward (relay to a target)\n"
	      "  -R relay:host:[name/]port[U][;...]     remote forward, legacy form\n"
	      "  -H relay:{http|https}/host[/path][:port]  HTTP reverse proxy\n"
	      "\n"
	      "Relay and credentials:\n"
	      "  -e, --endpoint-uri URI               namespace endpoint, sb://host[:port]/\n"
	      "  -x, --connection-string STRING       connection string (-e -K -k -s override it)\n"
	      "  -K, --shared-access-key-name NAME    SAS rule name\n"
	      "  -k, --shared-access-key KEY          SAS key (prefer a key file in the config)\n"
	      "  -s, --signature TOKEN                pre-issued SAS token\n"
	      "  (none of -K -k -s: an Entra ID token; -o credential:KIND picks the credential)\n"
	      "\n"
	      "Other options:\n"
	      "  -c, --config FILE     configuration file (default " AZB_CONFIG_FILE
	      "; drop-ins in FILE.d/)\n"
	      "  -f, --config-file FILE  the same as -c\n"
	      "  -o, --option KEY:VALUE  set a configuration key (snake_case or the original's name)\n"
	      "  -b, --bind-address ADDR  source address for remote forwards' outbound connections\n"
	      "  -a, --keep-alive-interval SECONDS  listener keep-alive (default 30)\n"
	      "  -l, --log-file FILE   log to FILE instead of stderr/journald\n"
	      "  -q, --quiet           log nothing\n"
	      "  -v, --verbose         log debug messages; with -n, print the merged configuration\n"
	      "  -n, --check           check the configuration and exit (0 valid, 1 invalid)\n"
	      "      --foreground      log as text to stderr even under systemd\n"
	      "      --svc             service mode (accepted for compatibility, also -svc)\n"
	      "  -g, --gateway-ports   accepted for compatibility; has no effect\n"
	      "  -h, --help            show this help\n"
	      "  -V, --version         show the version\n"
	      "\n"
	      "Exit status: 0 success, 1 configuration error, 2 usage error, 3 runtime failure.\n"
	      "See azbridged(8) and azbridge.conf(5).\n", f);
}

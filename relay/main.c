/* azbridge-relayd: the service side of the Hybrid Connections protocol. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "loop.h"
#include "rconfig.h"
#include "relay.h"
#include "sas.h"
#include "stream.h"

enum { EXIT_USAGE = 2, EXIT_RUNTIME = 3 };

#define DEFAULT_CONFIG "/etc/azbridge-relayd.conf"

struct opts {
	bool dev, plain, verbose, check;
	const char *config;
	const char *state_dir;
	const char *cert, *key;
	char **listen;
	size_t n_listen;
	int accept_timeout, request_timeout;
};

static void usage(FILE *f)
{
	fputs("Usage: azbridge-relayd [--config FILE] [options]\n"
	      "       azbridge-relayd --dev [options]\n"
	      "\n"
	      "  -c, --config FILE     configuration file (default " DEFAULT_CONFIG ",\n"
	      "                        read when it exists; with --dev only when given)\n"
	      "  --dev                 throw-away CA and certificate, hybrid connections made on\n"
	      "                        first listen, one generated Manage rule; prints a\n"
	      "                        connection string and the CA path\n"
	      "  --listen ADDR:PORT    listen address (repeatable; [::1]:PORT for IPv6; port 0\n"
	      "                        picks a free one). Default with --dev: 127.0.0.1:0\n"
	      "  --state-dir DIR       where --dev writes its certificate, key and connection\n"
	      "                        string (mode 0700; default: a new directory in /tmp)\n"
	      "  --cert FILE, --key FILE  TLS certificate chain and key (PEM)\n"
	      "  --plain               serve ws:// without TLS (tests on loopback only)\n"
	      "  --accept-timeout SECONDS  how long a sender waits for a listener (default 30)\n"
	      "  --request-timeout SECONDS how long an HTTP request waits for its response\n"
	      "                        (default 60)\n"
	      "  -n, --check           check the configuration and certificate, then exit\n"
	      "  -v, --verbose         log debug messages\n"
	      "  -h, --help            show this help\n"
	      "  -V, --version         show the version\n"
	      "See azbridge-relayd(8).\n", f);
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option opts[] = {
		{ "dev", no_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "cert", required_argument, NULL, 'C' },
		{ "key", required_argument, NULL, 'K' },
		{ "plain", no_argument, NULL, 'p' },
		{ "accept-timeout", required_argument, NULL, 't' },
		{ "request-timeout", required_argument, NULL, 'r' },
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	long v;
	int c;

	while ((c = getopt_long(argc, argv, "c:nvhV", opts, NULL)) != -1) {
		switch (c) {
		case 'd': o->dev = true; break;
		case 'p': o->plain = true; break;
		case 's': o->state_dir = optarg; break;
		case 'C': o->cert = optarg; break;
		case 'K': o->key = optarg; break;
		case 'v': o->verbose = true; break;
		case 'c': o->config = optarg; break;
		case 'n': o->check = true; break;
		case 'l':
			o->listen = xrealloc(o->listen, (o->n_listen + 1) * sizeof(*o->listen));
			o->listen[o->n_listen++] = optarg;
			break;
		case 't':
			if (azb_parse_int(optarg, 1, 600, &v) < 0) {
				fprintf(stderr, "azbridge-relayd: --accept-timeout %s: want 1 to 600 seconds\n",
					optarg);
				return -EINVAL;
			}
			o->accept_timeout = (int)v;
			break;
		case 'r':
			if (azb_parse_int(optarg, 1, 3600, &v) < 0) {
				fprintf(stderr, "azbridge-relayd: --request-timeout %s: want 1 to 3600 seconds\n",
					optarg);
				return -EINVAL;
			}
			o->request_timeout = (int)v;
			break;
		case 'h': usage(stdout); exit(0);
		case 'V': printf("azbridge-relayd %s\n", AZB_VERSION); exit(0);
		default: usage(stderr); return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "azbridge-relayd: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (!!o->cert != !!o->key) {
		fprintf(stderr, "azbridge-relayd: --cert and --key go together\n");
		return -EINVAL;
	}
	if (!o->dev && !o->config && access(DEFAULT_CONFIG, F_OK) == 0)
		o->config = DEFAULT_CONFIG;
	return 0;
}

static char *dev_key(void)
{
	unsigned char raw[32];
	char *b64 = xmalloc(48);

	RAND_bytes(raw, sizeof(raw));
	EVP_EncodeBlock((unsigned char *)b64, raw, sizeof(raw));
	return b64;
}

static int write_secret_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -EIO;
}

static void on_signal(int signo)
{
	if (signo == SIGHUP)
		return;
	log_notice("%s: stopping", strsignal(signo));
	sd_notify(0, "STOPPING=1");
	loop_stop();
}

/* A state directory from an earlier --dev run keeps its CA, certificate and
 * key, so bridges that trusted it keep working across relay restarts. */
static char *read_saved(const char *dir, const char *name)
{
	char *path = xasprintf("%s/%s", dir, name), buf[256];
	FILE *f = fopen(path, "re");
	char *out = NULL;

	free(path);
	if (!f)
		return NULL;
	if (fgets(buf, sizeof(buf), f)) {
		buf[strcspn(buf, "\r\n")] = '\0';
		out = *buf ? xstrdup(buf) : NULL;
	}
	explicit_bzero(buf, sizeof(buf));
	fclose(f);
	return out;
}

static bool reuse_dev(const char *dir, struct devcert *dc, char **key)
{
	*key = read_saved(dir, "dev.key");
	if (!*key)
		return false;
	dc->ca_file = xasprintf("%s/ca.pem", dir);
	dc->cert_file = xasprintf("%s/server.pem", dir);
	dc->key_file = xasprintf("%s/server.key", dir);
	if (access(dc->ca_file, R_OK) == 0 && access(dc->cert_file, R_OK) == 0 &&
	    access(dc->key_file, R_OK) == 0)
		return true;
	devcert_clear(dc);
	azb_free_secret(*key);
	*key = NULL;
	return false;
}

static int setup_dev(struct relay *r, const struct opts *o, char **dir, struct devcert *dc)
{
	char *key = NULL, *path;

	*dir = o->state_dir ? xstrdup(o->state_dir) : xstrdup("/tmp/azbridge-relayd-XXXXXX");
	if (o->state_dir ? (mkdir(*dir, 0700) < 0 && errno != EEXIST) : !mkdtemp(*dir)) {
		log_error("cannot create %s: %s", *dir, strerror(errno));
		return -errno;
	}
	chmod(*dir, 0700);
	if (!(o->state_dir && reuse_dev(*dir, dc, &key))) {
		if (!o->plain && devcert_make(*dir, dc) < 0) {
			log_error("cannot write a certificate into %s", *dir);
			return -EIO;
		}
		key = dev_key();
		path = xasprintf("%s/dev.key", *dir);
		write_secret_file(path, key);
		free(path);
	}
	/* First, so it is the one announced; a configured rule of the same
	 * name comes later and is shadowed. */
	r->rules = xrealloc(r->rules, (r->n_rules + 1) * sizeof(*r->rules));
	memmove(r->rules + 1, r->rules, r->n_rules * sizeof(*r->rules));
	r->rules[0] = (struct relay_rule){ xstrdup("RootManageSharedAccessKey"), key,
					   RIGHT_MANAGE | RIGHT_LISTEN | RIGHT_SEND, sas_key_new(key) };
	r->n_rules++;
	/* A configuration that lists hybrid connections fixes the set. */
	r->create_on_listen = r->hcs == NULL;
	return 0;
}

static void announce_dev(const struct relay *r, const char *dir, const struct devcert *dc)
{
	char *cs = xasprintf("Endpoint=sb://localhost:%u/;SharedAccessKeyName=%s;SharedAccessKey=%s",
			     relay_bound_port(0), r->rules[0].name, r->rules[0].key);
	char *path = xasprintf("%s/connection-string", dir);

	write_secret_file(path, cs);
	/* For demos and tests: a throw-away key on a loopback relay. */
	printf("listening on %s:%u (%s)\n", *r->listen[0].host ? r->listen[0].host : "*",
	       relay_bound_port(0), r->tls ? "TLS" : "plain");
	printf("connection string: %s\n", cs);
	printf("connection string file: %s\n", path);
	if (dc->ca_file)
		printf("CA certificate: %s\n", dc->ca_file);
	fflush(stdout);
	azb_free_secret(cs);
	free(path);
}

static int load_config(const struct opts *o, struct relay *r, struct relay_config *rc)
{
	struct cfg_errors errs = { 0 };
	int ret = relay_config_load(o->config, r, rc, &errs);

	for (size_t i = 0; i < errs.n; i++)
		log_error("%s", errs.msg[i]);
	cfg_errors_clear(&errs);
	return ret;
}

static int pick_listen(const struct opts *o, struct relay *r, struct relay_config *rc)
{
	if (!o->n_listen) {
		/* The file's addresses move over as they are. */
		r->listen = rc->listen;
		r->n_listen = rc->n_listen;
		rc->listen = NULL;
		rc->n_listen = 0;
		if (!r->n_listen && o->dev) {
			r->listen = xcalloc(1, sizeof(*r->listen));
			relay_parse_listen("127.0.0.1:0", &r->listen[r->n_listen++]);
		}
		if (!r->n_listen) {
			log_error("no listen address: give --listen or listen = [ ... ] in the configuration");
			return -EINVAL;
		}
		return 0;
	}
	r->listen = xcalloc(o->n_listen, sizeof(*r->listen));
	for (size_t i = 0; i < o->n_listen; i++, r->n_listen++)
		if (relay_parse_listen(o->listen[i], &r->listen[i]) < 0) {
			log_error("--listen %s: want ADDRESS:PORT, [IPV6]:PORT or :PORT", o->listen[i]);
			return -EINVAL;
		}
	return 0;
}

static const int levels[] = { LOG_DEBUG, LOG_INFO, LOG_NOTICE, LOG_WARNING, LOG_ERR };

static void pick_log_level(const struct opts *o, const struct relay_config *rc)
{
	static const char *const names[] = { "debug", "info", "notice", "warning", "error" };

	if (o->verbose) {
		log_set_level(LOG_DEBUG);
		return;
	}
	for (size_t i = 0; rc->log_level && i < 5; i++)
		if (strcmp(rc->log_level, names[i]) == 0)
			log_set_level(levels[i]);
}

/* Settings from the file, then the command line over them. */
static int configure(struct opts *o, struct relay *r, struct relay_config *rc)
{
	r->accept_timeout_s = 30;
	r->request_timeout_s = 60;
	r->header_timeout_s = 30;
	r->close_timeout_s = 10;
	r->max_pending = 10000;
	r->max_pending_per_hc = 1000;
	r->max_control_msg = 1024 * 1024;
	r->max_listeners = 25;
	r->max_output_queue = 1024 * 1024;
	r->max_per_source = 2048;
	if (!o->dev && !o->config && !o->cert && !o->plain) {
		log_error("no configuration: " DEFAULT_CONFIG " does not exist; give --config, "
			  "--dev, or --cert and --key");
		return -EINVAL;
	}
	if (o->config && load_config(o, r, rc) < 0)
		return -EINVAL;
	pick_log_level(o, rc);
	if (o->accept_timeout)
		r->accept_timeout_s = o->accept_timeout;
	if (o->request_timeout)
		r->request_timeout_s = o->request_timeout;
	o->plain = o->plain || rc->plain;
	if (!o->cert && rc->cert_file) {
		o->cert = rc->cert_file;
		o->key = rc->key_file;
	}
	if (!o->dev && !o->plain && (!o->cert || !o->key)) {
		log_error("no TLS certificate: give certificate and key in the configuration, "
			  "--cert and --key, or --dev");
		return -EINVAL;
	}
	r->hosts = rc->hosts;
	r->n_hosts = rc->n_hosts;
	rc->hosts = NULL;
	rc->n_hosts = 0;
	return pick_listen(o, r, rc);
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct relay r = { 0 };
	struct relay_config rcfg = { 0 };
	struct devcert dc = { 0 };
	char err[256], *dir = NULL;
	int rc = EXIT_RUNTIME;

	azb_undumpable();
	log_init("azbridge-relayd", LOG_TARGET_AUTO, NULL);
	if (parse_args(argc, argv, &o) < 0)
		return EXIT_USAGE;
	if (configure(&o, &r, &rcfg) < 0) {
		rc = EXIT_USAGE;
		goto out;
	}
	log_route_lws();
	if (o.dev && setup_dev(&r, &o, &dir, &dc) < 0)
		goto out;
	if (!o.plain) {
		r.tls = stream_server_ctx(o.cert ? o.cert : dc.cert_file, o.key ? o.key : dc.key_file,
					  err, sizeof(err));
		if (!r.tls) {
			log_error("TLS: %s", err);
			if (o.check)
				rc = EXIT_USAGE;
			goto out;
		}
	}
	if (r.entra.keys.n)
		log_info("Entra ID tokens: %zu issuer key%s, %zu issuer%s, %zu role assignment%s at "
			 "namespace scope", r.entra.keys.n, r.entra.keys.n == 1 ? "" : "s",
			 r.entra.n_issuers, r.entra.n_issuers == 1 ? "" : "s", r.n_roles,
			 r.n_roles == 1 ? "" : "s");
	if (o.check) {
		printf("configuration OK: %zu hybrid connection%s, %zu rule%s at namespace level\n",
		       relay_hc_count(&r), relay_hc_count(&r) == 1 ? "" : "s", r.n_rules,
		       r.n_rules == 1 ? "" : "s");
		rc = 0;
		goto out;
	}
	if (loop_init(on_signal) < 0 || relay_serve(&r) < 0)
		goto out;
	if (o.dev)
		announce_dev(&r, dir, &dc);
	log_notice("serving %zu hybrid connection%s on %zu address%s%s", relay_hc_count(&r),
		   relay_hc_count(&r) == 1 ? "" : "s", r.n_listen, r.n_listen == 1 ? "" : "es",
		   r.tls ? "" : " without TLS");
	sd_notify(0, "READY=1");
	rc = loop_run() < 0 ? EXIT_RUNTIME : 0;
out:
	relay_close_all();
	loop_destroy();
	if (r.tls)
		SSL_CTX_free(r.tls);
	relay_free(&r);
	sas_cleanup();
	relay_config_clear(&rcfg);
	devcert_clear(&dc);
	free(dir);
	free(o.listen);
	return rc;
}

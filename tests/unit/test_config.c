/* Configuration: -o settings by both key spellings, key files and their
 * modes, effective credentials, and the print -> load -> print fixpoint. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "util.h"

#define KEY "c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seQ=="

static char tmpdir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/azb-cfgtest-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd);
}

static char *write_file(const char *name, const char *text, mode_t mode)
{
	char *p;
	FILE *f;

	assert_true(asprintf(&p, "%s/%s", tmpdir, name) > 0);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(p, mode);
	return p;
}

static void test_set_global(void **state)
{
	struct azb_config *c = cfg_new();
	char err[512];

	(void)state;
	assert_int_equal(cfg_set_global(c, "keep_alive_interval", "12", err, sizeof(err)), 0);
	assert_int_equal(c->keep_alive_interval, 12);
	assert_int_equal(cfg_set_global(c, "KeepAliveInterval", "13", err, sizeof(err)), 0);
	assert_int_equal(c->keep_alive_interval, 13);
	assert_int_equal(cfg_set_global(c, "ExitOnForwardFailure", "No", err, sizeof(err)), 0);
	assert_false(c->exit_on_forward_failure);
	assert_int_equal(cfg_set_global(c, "LogLevel", "VERBOSE", err, sizeof(err)), 0);
	assert_int_equal(c->log_level, 7);
	assert_int_equal(cfg_set_global(c, "AzureRelayEndpoint", "sb://h:9443/", err, sizeof(err)), 0);
	assert_string_equal(c->cred.endpoint, "sb://h:9443/");
	assert_int_equal(cfg_set_global(c, "AzureRelayConnectionString",
					"Endpoint=sb://cs/;SharedAccessKeyName=n;SharedAccessKey=" KEY,
					err, sizeof(err)), 0);
	assert_string_equal(c->cred.endpoint, "sb://cs/");
	assert_string_equal(c->cred.key, KEY);
	/* the original's keys that never did anything: checked, no effect */
	assert_int_equal(cfg_set_global(c, "GatewayPorts", "yes", err, sizeof(err)), 1);
	assert_int_equal(cfg_set_global(c, "ConnectionAttempts", "11", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "ConnectionAttempts must be a whole number from 1 to 10, not \"11\"");
	assert_int_equal(cfg_set_global(c, "AddressFamily", "inet7", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "AddressFamily \"inet7\" is not any, inet or inet6");
	assert_int_equal(cfg_set_global(c, "Fompa", "1", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "unknown configuration key \"Fompa\"");
	assert_int_equal(cfg_set_global(c, "keep_alive_interval", "soon", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "keep_alive_interval must be a whole number from 1 to 3600, not \"soon\"");
	assert_int_equal(cfg_set_global(c, "exit_on_forward_failure", "maybe", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "exit_on_forward_failure must be true or false, not \"maybe\"");
	assert_int_equal(cfg_set_global(c, "shared_access_key", "x!", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "shared_access_key is not valid base64");
	cfg_free(c);
}

static void test_key_files(void **state)
{
	char *good = write_file("good.key", KEY "\n", 0600);
	char *open = write_file("open.key", KEY "\n", 0640);
	char *bad = write_file("bad.key", "two\nlines\n", 0600);
	char err[512], *key = NULL;

	(void)state;
	assert_int_equal(cfg_read_key_file(good, &key, err, sizeof(err)), 0);
	assert_string_equal(key, KEY);
	free(key);
	assert_int_equal(cfg_read_key_file(open, &key, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "holds a secret but is readable by group or others (mode 0640)"));
	assert_null(strstr(err, KEY));
	assert_int_equal(cfg_read_key_file(bad, &key, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "does not hold one base64 key"));
	free(good);
	free(open);
	free(bad);
}

/* Judged on the opened descriptor: no symbolic link, no FIFO (and no wait
 * for a writer), nothing another user owns, nothing others may write. */
static void test_secret_file_refusals(void **state)
{
	char *good = write_file("s.key", KEY "\n", 0600), *other = write_file("o.key", KEY, 0600);
	char *ww = write_file("w.key", KEY, 0602), *link = xasprintf("%s/l.key", tmpdir);
	char *fifo = xasprintf("%s/f.key", tmpdir), err[512];
	int fd;

	(void)state;
	assert_int_equal(symlink(good, link), 0);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(chown(other, 65534, 65534), 0);
	fd = cfg_open_secret_file(good, err, sizeof(err));
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(cfg_open_secret_file(link, err, sizeof(err)), -ELOOP);
	assert_non_null(strstr(err, "l.key: is a symbolic link"));
	assert_int_equal(cfg_open_secret_file(fifo, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "f.key: is not a regular file"));
	assert_int_equal(cfg_open_secret_file(tmpdir, err, sizeof(err)), -EINVAL);
	assert_int_equal(cfg_open_secret_file(other, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "o.key holds a secret but is owned by uid 65534"));
	assert_int_equal(cfg_open_secret_file(ww, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "w.key holds a secret but is writable by group or others "
				    "(mode 0602)"));
	free(good);
	free(other);
	free(ww);
	free(link);
	free(fifo);
}

static void test_effective_cred(void **state)
{
	char *conf = write_file("eff.conf",
		"endpoint = \"sb://global/\";\n"
		"shared_access_key_name = \"g\";\n"
		"shared_access_key = \"" KEY "\";\n"
		"local_forward = (\n"
		"  { name = \"a\"; relay = \"r\"; bind_port = 1; endpoint = \"sb://own/\"; },\n"
		"  { name = \"b\"; relay = \"r\"; bind_port = 2; shared_access_signature = \"SharedAccessSignature x\"; }\n"
		");\n", 0600);
	struct cfg_errors errs = { 0 };
	struct azb_config *c = NULL;
	struct azb_cred cr;

	(void)state;
	assert_int_equal(cfg_load(conf, NULL, &c, &errs), 0);
	cfg_effective_cred(c, cfg_find_fwd(c, "a"), &cr);
	assert_string_equal(cr.endpoint, "sb://own/");
	assert_string_equal(cr.key_name, "g");
	cfg_cred_clear(&cr);
	/* a forward's own signature is not mixed with the global key */
	cfg_effective_cred(c, cfg_find_fwd(c, "b"), &cr);
	assert_string_equal(cr.endpoint, "sb://global/");
	assert_null(cr.key_name);
	assert_null(cr.key);
	assert_string_equal(cr.signature, "SharedAccessSignature x");
	cfg_cred_clear(&cr);
	assert_true(cfg_remove_fwd(c, "a"));
	assert_false(cfg_remove_fwd(c, "a"));
	assert_int_equal(c->n_fwd, 1);
	cfg_free(c);
	free(conf);
}

static void test_print_fixpoint_and_secrets(void **state)
{
	char *conf = write_file("p.conf",
		"connection_string = \"Endpoint=sb://h/;SharedAccessKeyName=n;SharedAccessKey=" KEY "\";\n"
		"remote_forward = ( { expression = \"db:a/localhost:1;b//run/x.sock\"; } );\n", 0600);
	struct cfg_errors errs = { 0 };
	struct azb_config *c = NULL, *d = NULL;
	char *t1, *t2, *again;

	(void)state;
	assert_int_equal(cfg_load(conf, NULL, &c, &errs), 0);
	t1 = cfg_print(c, false);
	assert_null(strstr(t1, KEY));
	assert_non_null(strstr(t1, "# shared_access_key is set but not shown"));
	again = write_file("again.conf", t1, 0600);
	assert_int_equal(cfg_load(again, NULL, &d, &errs), 0);
	t2 = cfg_print(d, false);
	assert_string_equal(t1, t2);
	assert_true(bnd_fwd_equal(c->fwd[0], d->fwd[0]) ||
		    strcmp(c->fwd[0]->origin_file, d->fwd[0]->origin_file) != 0);
	free(t2);
	t2 = cfg_print(c, true);
	assert_non_null(strstr(t2, KEY));
	free(t1);
	free(t2);
	cfg_free(c);
	cfg_free(d);
	free(conf);
	free(again);
}

static void test_errors_keep_nothing(void **state)
{
	char *conf = write_file("bad.conf", "endpoint = \"sb://h/\";\nlocal_forward = ( { relay = \"r\"; } );\n",
				0600);
	struct cfg_errors errs = { 0 };
	struct azb_config *c = (struct azb_config *)0x1;

	(void)state;
	assert_int_equal(cfg_load(conf, NULL, &c, &errs), -EINVAL);
	assert_ptr_equal(c, (struct azb_config *)0x1);
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msg[0], "bad.conf:2: give either bind_port or bind_local_socket"));
	cfg_errors_clear(&errs);
	free(conf);
}

static bool has_msg(const struct cfg_errors *e, const char *part)
{
	for (size_t i = 0; i < e->n; i++)
		if (strstr(e->msg[i], part))
			return true;
	return false;
}

/* connection_string_file: globally and per forward, the secret file's
 * checks, printed by its path, never by what it holds. */
static void test_connection_string_file(void **state)
{
	char *cs = write_file("relay.cs", "Endpoint=sb://cs.test/;SharedAccessKeyName=fromfile;"
			      "SharedAccessKey=" KEY "\n", 0600);
	char *own = write_file("own.cs", "Endpoint=sb://own.test/;SharedAccessSignature="
			       "SharedAccessSignature sr=x&sig=c2lnbmF0dXJl&se=1&skn=n\n", 0600);
	char *text = xasprintf("connection_string_file = \"relay.cs\";\n"
			       "shared_access_key_name = \"override\";\n"
			       "local_forward = (\n"
			       "  { name = \"a\"; relay = \"r\"; bind_port = 1; },\n"
			       "  { name = \"b\"; relay = \"r\"; bind_port = 2; connection_string_file = \"%s\"; }\n"
			       ");\n", own);
	char *conf = write_file("csf.conf", text, 0644), *t1, *t2, *again;
	struct cfg_errors errs = { 0 };
	struct azb_config *c = NULL, *d = NULL;
	struct azb_cred cr;

	(void)state;
	assert_int_equal(cfg_load(conf, NULL, &c, &errs), 0);
	assert_string_equal(c->cred.endpoint, "sb://cs.test/");
	assert_string_equal(c->cred.key_name, "override");   /* single keys win, as after a string */
	assert_string_equal(c->cred.key, KEY);
	cfg_effective_cred(c, cfg_find_fwd(c, "b"), &cr);
	assert_string_equal(cr.endpoint, "sb://own.test/");
	assert_null(cr.key);
	assert_non_null(strstr(cr.signature, "sig=c2lnbmF0dXJl"));
	cfg_cred_clear(&cr);
	t1 = cfg_print(c, false);
	assert_null(strstr(t1, KEY));
	assert_null(strstr(t1, "c2lnbmF0dXJl"));
	assert_null(strstr(t1, "is set but not shown"));
	assert_non_null(strstr(t1, "connection_string_file = \""));
	assert_non_null(strstr(t1, "/relay.cs\";"));
	again = write_file("csf-again.conf", t1, 0600);
	assert_int_equal(cfg_load(again, NULL, &d, &errs), 0);
	t2 = cfg_print(d, false);
	assert_string_equal(t1, t2);
	free(t1);
	free(t2);
	cfg_free(c);
	cfg_free(d);
	free(again);
	free(conf);
	free(text);
	free(own);
	free(cs);
}

/* Each file's error names it and its line, and never repeats the key. */
static void test_connection_string_file_refusals(void **state)
{
	static const struct { const char *name, *text, *want[2]; } v[] = {
		{ "open.conf", "connection_string_file = \"open.cs\";\n",
		  { "open.conf:1: ", "open.cs holds a secret but is readable by group or others" } },
		{ "badcs.conf", "connection_string_file = \"bad.cs\";\n",
		  { "badcs.conf:1: ", "bad.cs: " } },
		{ "missing.conf", "\n\nconnection_string_file = \"none.cs\";\n",
		  { "missing.conf:3: ", "none.cs" } },
		{ "both.conf", "connection_string_file = \"bad.cs\";\nshared_access_key = \"" KEY "\";\n",
		  { "both.conf:2: ", "connection_string_file and shared_access_key exclude each other" } },
	};
	struct cfg_errors errs = { 0 };
	struct azb_config *c = NULL;

	(void)state;
	free(write_file("open.cs", "Endpoint=sb://cs.test/;SharedAccessKeyName=n;SharedAccessKey="
			KEY "\n", 0644));
	free(write_file("bad.cs", "Endpoint=sb://cs.test/;Bogus=" KEY "\n", 0600));
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *conf = write_file(v[i].name, v[i].text, 0600);

		assert_int_equal(cfg_load(conf, NULL, &c, &errs), -EINVAL);
		assert_true(has_msg(&errs, v[i].want[0]));
		assert_true(has_msg(&errs, v[i].want[1]));
		assert_false(has_msg(&errs, KEY));
		cfg_errors_clear(&errs);
		free(conf);
	}
}

/* The original keys a remote forward's targets by port name: a repeat
 * could never be reached, so it refuses to start. Local forwards may send
 * one name from several addresses. */
static void test_duplicate_port_names(void **state)
{
	char *conf = write_file("dup.conf", "endpoint = \"sb://h/\";\n"
				"shared_access_key_name = \"k\";\n"
				"shared_access_key = \"" KEY "\";\n"
				"remote_forward = ( { name = \"pg\"; relay = \"db\"; bindings = (\n"
				"  { host_port = 5432; port_name = \"sql\"; },\n"
				"  { host = \"other\"; host_port = 5432; port_name = \"sql\"; } ); } );\n"
				"local_forward = ( { relay = \"db\"; bindings = (\n"
				"  { bind_port = 15432; port_name = \"sql\"; },\n"
				"  { bind_address = \"127.0.0.2\"; bind_port = 15432; port_name = \"sql\"; } ); } );\n",
				0600);
	struct cfg_errors errs = { 0 };
	struct azb_config *c = NULL;
	struct azb_fwd *f;
	char err[300];

	(void)state;
	assert_int_equal(cfg_load(conf, NULL, &c, &errs), 0);
	assert_int_equal(cfg_validate(c, &errs, NULL), -EINVAL);
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msg[0], "dup.conf:4: forward \"pg\": port name \"sql\" is "
				  "given to two bindings"));
	cfg_errors_clear(&errs);
	cfg_free(c);
	/* -T: "5432" twice, once by default */
	c = cfg_new();
	assert_int_equal(cred_set_endpoint(&c->cred, "sb://h/", err, sizeof(err)), 0);
	assert_int_equal(bnd_parse_remote("db:5432;other:5432", &f, err, sizeof(err)), 0);
	f->name = xstrdup("t-db");
	cfg_put_fwd(c, f);
	assert_int_equal(cfg_validate(c, &errs, &errs), -EINVAL);
	assert_true(has_msg(&errs, "forward \"t-db\": port name \"5432\" is given to two "
			    "bindings"));
	cfg_errors_clear(&errs);
	cfg_free(c);
	free(conf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_global),
		cmocka_unit_test(test_key_files),
		cmocka_unit_test(test_secret_file_refusals),
		cmocka_unit_test(test_effective_cred),
		cmocka_unit_test(test_print_fixpoint_and_secrets),
		cmocka_unit_test(test_errors_keep_nothing),
		cmocka_unit_test(test_duplicate_port_names),
		cmocka_unit_test(test_connection_string_file),
		cmocka_unit_test(test_connection_string_file_refusals),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

/* cli_parse: option forms, ordering, and scrubbing of secrets from argv. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../daemon/cli.h"

#define ARGV(...) char *argv[] = { "azbridged", __VA_ARGS__, NULL }; \
	int argc = (int)(sizeof(argv) / sizeof(argv[0])) - 1

static char *dup_arg(const char *s)
{
	return strdup(s);
}

static void test_rules_in_order(void **state)
{
	ARGV("-L", "16161:db", "-T", "db:5432", "-R", "db:h:p/1", "-H", "w:http/x");
	struct azb_cli cli;
	char err[256];

	(void)state;
	assert_int_equal(cli_parse(argc, argv, &cli, err, sizeof(err)), 0);
	assert_int_equal(cli.n_rules, 4);
	assert_int_equal(cli.items[0].opt, 'L');
	assert_string_equal(cli.items[0].value, "16161:db");
	assert_int_equal(cli.items[3].opt, 'H');
	cli_free(&cli);
}

static void test_secrets_scrubbed(void **state)
{
	char *k = dup_arg("c2VjcmV0"), *x = dup_arg("Endpoint=sb://a/;SharedAccessKey=zz");
	char *s = dup_arg("SharedAccessSignature sr=a&sig=b&se=1&skn=c");
	char *argv[] = { "azbridged", "-k", k, "-x", x, "--signature", s, "-K", "name", NULL };
	struct azb_cli cli;
	char err[256];

	(void)state;
	assert_int_equal(cli_parse(9, argv, &cli, err, sizeof(err)), 0);
	assert_null(strstr(k, "c2Vj"));
	assert_null(strstr(x, "SharedAccessKey"));
	assert_null(strstr(s, "sig="));
	/* the key name is not a secret and stays readable */
	assert_string_equal(argv[8], "name");
	assert_string_equal(cli.items[0].value, "c2VjcmV0");
	assert_string_equal(cli.items[0].key, "shared_access_key");
	cli_free(&cli);
	free(k);
	free(x);
	free(s);
}

/* -o with a key that holds a secret: the value leaves argv, the key stays. */
static void test_option_secrets_scrubbed(void **state)
{
	char *o1 = dup_arg("shared_access_key:c2VjcmV0"), *o2 = dup_arg("-oconnection_string:"
									"SharedAccessKey=zz");
	char *o3 = dup_arg("--option=AzureRelaySharedAccessSignature:sig=b");
	char *o4 = dup_arg("keep_alive_interval:45");
	char *argv[] = { "azbridged", "-o", o1, o2, o3, "-o", o4, NULL };
	struct azb_cli cli;
	char err[256];

	(void)state;
	assert_int_equal(cli_parse(7, argv, &cli, err, sizeof(err)), 0);
	assert_string_equal(o1, "shared_access_key:xxxxxxxx");
	assert_string_equal(o2, "-oconnection_string:xxxxxxxxxxxxxxxxxx");
	assert_string_equal(o3, "--option=AzureRelaySharedAccessSignature:xxxxx");
	assert_string_equal(o4, "keep_alive_interval:45");
	assert_string_equal(cli.items[0].value, "c2VjcmV0");
	assert_string_equal(cli.items[2].value, "sig=b");
	assert_true(cfg_key_is_secret("AzureRelayConnectionString"));
	assert_false(cfg_key_is_secret("shared_access_key_file"));
	cli_free(&cli);
	free(o1);
	free(o2);
	free(o3);
	free(o4);
}

static void test_option_splits_at_first_colon(void **state)
{
	ARGV("-o", "AzureRelayEndpoint:sb://h:9443/");
	struct azb_cli cli;
	char err[256];

	(void)state;
	assert_int_equal(cli_parse(argc, argv, &cli, err, sizeof(err)), 0);
	assert_string_equal(cli.items[0].key, "AzureRelayEndpoint");
	assert_string_equal(cli.items[0].value, "sb://h:9443/");
	cli_free(&cli);
}

static void test_svc(void **state)
{
	ARGV("-svc", "-n");
	struct azb_cli cli;
	char err[256];

	(void)state;
	assert_int_equal(cli_parse(argc, argv, &cli, err, sizeof(err)), 0);
	assert_true(cli.service);
	assert_true(cli.check);
	cli_free(&cli);
}

static void test_question_mark(void **state)
{
	ARGV("-?");
	struct azb_cli cli;
	char err[256];

	(void)state;
	assert_int_equal(cli_parse(argc, argv, &cli, err, sizeof(err)), 0);
	assert_true(cli.help);
	cli_free(&cli);
}

static void expect_usage_error(char **argv, int argc, const char *msg)
{
	struct azb_cli cli;
	char err[256];

	assert_int_equal(cli_parse(argc, argv, &cli, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, msg);
	cli_free(&cli);
}

static void test_usage_errors(void **state)
{
	char *a1[] = { "azbridged", "-Z", NULL };
	char *a2[] = { "azbridged", "-n", "-k", NULL };
	char *a3[] = { "azbridged", "-o", ":v", NULL };
	/* what may be a secret is never shown, and what is shown is redacted */
	char *a4[] = { "azbridged", "--shared-access-keys=c2VjcmV0", NULL };
	char *a5[] = { "azbridged", "--quiet=c2VjcmV0", NULL };
	char *a6[] = { "azbridged", "-o", "shared_access_key=c2VjcmV0", NULL };
	char *a7[] = { "azbridged", "-o", "c2VjcmV0c2VjcmV0", NULL };
	char *a8[] = { "azbridged", "-n", "c2VjcmV0c2VjcmV0", NULL };
	char *a9[] = { "azbridged", "-n", "sb://h/;SharedAccessKey=c2VjcmV0", NULL };
	char *a10[] = { "azbridged", "-qZ", NULL };

	(void)state;
	expect_usage_error(a1, 2, "unknown option '-Z'");
	expect_usage_error(a2, 3, "option '-k' needs a value");
	expect_usage_error(a3, 3, "-o: expected KEY:VALUE; the key before ':' is empty");
	expect_usage_error(a4, 2, "unknown option '--shared-access-keys'");
	expect_usage_error(a5, 2, "no value is taken by option '--quiet'");
	expect_usage_error(a6, 3, "-o: expected KEY:VALUE with ':' rather than '=' after "
			   "\"shared_access_key\"");
	expect_usage_error(a7, 3, "-o: expected KEY:VALUE (the argument is not shown: it may be a "
			   "secret)");
	expect_usage_error(a8, 3, "unexpected argument number 2 (not shown: it may be a secret; "
			   "rules go after -L, -T, -R or -H)");
	expect_usage_error(a9, 3, "unexpected argument 'sb://h/;SharedAccessKey=REDACTED");
	expect_usage_error(a10, 2, "unknown option '-Z'");
}

static void test_build_connstr_first(void **state)
{
	char *x = dup_arg("Endpoint=sb://cs.test/;SharedAccessKeyName=fromcs;SharedAccessKey=a2V5");
	char *argv[] = { "azbridged", "-K", "override", "-x", x, "-L", "1:db", NULL };
	struct cfg_errors errs = { 0 }, warns = { 0 };
	struct azb_config *c = NULL;
	struct azb_cli cli;
	char err[256];

	(void)state;
	assert_int_equal(cli_parse(7, argv, &cli, err, sizeof(err)), 0);
	assert_int_equal(cli_build_config(&cli, &c, &errs, &warns), 0);
	assert_string_equal(c->cred.key_name, "override");
	assert_string_equal(c->cred.key, "a2V5");
	assert_int_equal(c->n_fwd, 1);
	assert_string_equal(c->fwd[0]->relay, "db");
	cfg_free(c);
	cli_free(&cli);
	free(x);
}

#define ENV_CS "Endpoint=sb://env.test/;SharedAccessKeyName=fromenv;SharedAccessKey=ZW52a2V5"

/* The configuration azbridged builds from argv (and the environment). */
static struct azb_config *built(int argc, char **argv, struct azb_cli *cli)
{
	struct cfg_errors errs = { 0 }, warns = { 0 };
	struct azb_config *c = NULL;
	char err[256];

	assert_int_equal(cli_parse(argc, argv, cli, err, sizeof(err)), 0);
	assert_int_equal(cli_build_config(cli, &c, &errs, &warns), 0);
	cfg_errors_clear(&warns);
	return c;
}

/* AZURE_BRIDGE_CONNECTIONSTRING, documented by the original: read once,
 * taken out of the environment (children and /proc/PID/environ never see
 * it), and the global connection string unless -x or a file sets one. */
static void test_env_connection_string(void **state)
{
	char *x = dup_arg("Endpoint=sb://cs.test/;SharedAccessKeyName=fromcs;SharedAccessKey=a2V5");
	char *a1[] = { "azbridged", "-L", "1:db", NULL };
	char *a2[] = { "azbridged", "-x", x, "-L", "1:db", NULL };
	char *a3[] = { "azbridged", "-e", "sb://flag.test/", "-L", "1:db", NULL };
	const struct { int argc; char **argv; const char *endpoint, *key_name; } v[] = {
		{ 3, a1, "sb://env.test/", "fromenv" },
		{ 5, a2, "sb://cs.test/", "fromcs" },       /* -x: the variable is not used */
		{ 5, a3, "sb://flag.test/", "fromenv" },    /* -e over its endpoint */
	};
	struct azb_config *c;
	struct azb_cli cli;

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		setenv("AZURE_BRIDGE_CONNECTIONSTRING", ENV_CS, 1);
		c = built(v[i].argc, v[i].argv, &cli);
		assert_null(getenv("AZURE_BRIDGE_CONNECTIONSTRING"));
		assert_string_equal(c->cred.endpoint, v[i].endpoint);
		assert_string_equal(c->cred.key_name, v[i].key_name);
		cfg_free(c);
		/* a reload builds again from what was read */
		assert_int_equal(cli_build_config(&cli, &c, &(struct cfg_errors){ 0 },
						  &(struct cfg_errors){ 0 }), 0);
		assert_string_equal(c->cred.key_name, v[i].key_name);
		cfg_free(c);
		cli_free(&cli);
	}
	free(x);
}

/* cli_build_config's first error with AZURE_BRIDGE_CONNECTIONSTRING=value. */
static void env_error(const char *value, const char *want, const char *never)
{
	char *argv[] = { "azbridged", "-L", "1:db", NULL };
	struct cfg_errors errs = { 0 }, warns = { 0 };
	struct azb_config *c = NULL;
	struct azb_cli cli;
	char err[256];

	setenv("AZURE_BRIDGE_CONNECTIONSTRING", value, 1);
	assert_int_equal(cli_parse(3, argv, &cli, err, sizeof(err)), 0);
	assert_int_equal(cli_build_config(&cli, &c, &errs, &warns), -EINVAL);
	assert_non_null(strstr(errs.msg[0], want));
	assert_null(strstr(errs.msg[0], never));
	cfg_errors_clear(&errs);
	cfg_errors_clear(&warns);
	cli_free(&cli);
}

static void test_env_connection_string_errors(void **state)
{
	(void)state;
	env_error("Endpoint=sb://env.test/;Bogus=1;SharedAccessKey=c2VjcmV0",
		  "AZURE_BRIDGE_CONNECTIONSTRING: ", "c2VjcmV0");
	env_error("Endpoint=sb://env.test/;Bogus=1;SharedAccessKey=c2VjcmV0", "Bogus", "c2VjcmV0");
	env_error("", "no endpoint", "AZURE_BRIDGE");   /* set but empty: as if unset */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules_in_order),
		cmocka_unit_test(test_secrets_scrubbed),
		cmocka_unit_test(test_option_secrets_scrubbed),
		cmocka_unit_test(test_option_splits_at_first_colon),
		cmocka_unit_test(test_svc),
		cmocka_unit_test(test_question_mark),
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_build_connstr_first),
		cmocka_unit_test(test_env_connection_string),
		cmocka_unit_test(test_env_connection_string_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

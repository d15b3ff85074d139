/* Credentials: a forward's own over the global ones (its way to
 * authenticate taken whole), the comparison a reload's diff makes, the
 * setters, and key files found through $CREDENTIALS_DIRECTORY. */
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

#include "cred.h"
#include "util.h"

#define KEY "c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seQ=="
#define KEY2 "b3RoZXIta2V5LWZvci10ZXN0cy1vbmx5"

/* A whole credential: every field set, key from a file. */
static void global_cred(struct azb_cred *g)
{
	memset(g, 0, sizeof(*g));
	g->endpoint = xstrdup("sb://global/");
	g->key_name = xstrdup("g");
	g->key = xstrdup(KEY);
	g->key_file = xstrdup("/etc/azbridge/g.key");
}

static void test_effective_without_own(void **state)
{
	struct azb_cred g, out;

	(void)state;
	global_cred(&g);
	cred_effective(NULL, &g, &out);
	assert_true(cred_equal(&out, &g));
	assert_ptr_not_equal(out.key, g.key);
	cred_clear(&out);
	g.entra = true;
	cred_effective(NULL, &g, &out);
	assert_true(out.entra);
	cred_clear(&out);
	cred_clear(&g);
}

static void test_effective_own_endpoint(void **state)
{
	struct azb_cred g, own = { .endpoint = xstrdup("sb://own/") }, out;

	(void)state;
	global_cred(&g);
	cred_effective(&own, &g, &out);
	assert_string_equal(out.endpoint, "sb://own/");
	assert_string_equal(out.key_name, "g");
	assert_string_equal(out.key, KEY);
	assert_string_equal(out.key_file, "/etc/azbridge/g.key");
	assert_true(cred_gives_token(&out));
	cred_clear(&out);
	cred_clear(&own);
	cred_clear(&g);
}

/* Any part of a way to authenticate in the forward keeps every part of the
 * global one out: a key name alone does not borrow the global key. */
static void test_effective_own_auth_taken_whole(void **state)
{
	struct azb_cred g, own, out;

	(void)state;
	global_cred(&g);
	g.signature = xstrdup("SharedAccessSignature global");
	memset(&own, 0, sizeof(own));
	own.key_name = xstrdup("mine");
	cred_effective(&own, &g, &out);
	assert_string_equal(out.endpoint, "sb://global/");
	assert_string_equal(out.key_name, "mine");
	assert_null(out.key);
	assert_null(out.key_file);
	assert_null(out.signature);
	assert_false(cred_gives_token(&out));
	cred_clear(&out);
	cred_clear(&own);

	own.signature = xstrdup("SharedAccessSignature own");
	cred_effective(&own, &g, &out);
	assert_null(out.key_name);
	assert_null(out.key);
	assert_string_equal(out.signature, "SharedAccessSignature own");
	assert_true(cred_gives_token(&out));
	cred_clear(&out);
	cred_clear(&own);

	/* a key without its rule's name signs nothing */
	own.key = xstrdup(KEY);
	cred_effective(&own, &g, &out);
	assert_null(out.key_name);
	assert_false(cred_gives_token(&out));
	cred_clear(&out);
	cred_clear(&own);

	own.entra = true;
	cred_effective(&own, &g, &out);
	assert_true(out.entra);
	assert_null(out.key);
	assert_null(out.signature);
	cred_clear(&out);
	cred_clear(&own);
	cred_clear(&g);
}

/* The reload diff rebuilds a forward when any field differs, a rotated
 * key or a key moved to another file included. */
static void test_equal_every_field(void **state)
{
	struct azb_cred a, b;
	char **fields[] = { &b.endpoint, &b.key_name, &b.key, &b.key_file, &b.signature };

	(void)state;
	global_cred(&a);
	a.signature = xstrdup("SharedAccessSignature s");
	for (size_t i = 0; i < AZB_ARRAY_SIZE(fields); i++) {
		memset(&b, 0, sizeof(b));
		cred_copy(&b, &a);
		assert_true(cred_equal(&a, &b));
		azb_set_str(fields[i], "changed");
		assert_false(cred_equal(&a, &b));
		assert_false(cred_equal(&b, &a));
		azb_set_str(fields[i], NULL);
		assert_false(cred_equal(&a, &b));
		cred_clear(&b);
	}
	cred_copy(&b, &a);
	b.entra = true;
	assert_false(cred_equal(&a, &b));
	cred_clear(&b);
	cred_clear(&a);
	assert_null(a.endpoint);
	assert_null(a.key);
	assert_false(a.entra);
}

static void test_setters(void **state)
{
	struct azb_cred c = { 0 };
	char err[256];

	(void)state;
	assert_int_equal(cred_from_connstr(&c, "Endpoint=sb://cs/;SharedAccessKeyName=n;"
					   "SharedAccessKey=" KEY, err, sizeof(err)), 0);
	assert_string_equal(c.endpoint, "sb://cs/");
	assert_string_equal(c.key_name, "n");
	assert_string_equal(c.key, KEY);
	/* a connection string names only what it sets */
	assert_int_equal(cred_from_connstr(&c, "Endpoint=sb://two/", err, sizeof(err)), 0);
	assert_string_equal(c.key, KEY);
	assert_int_equal(cred_set_endpoint(&c, "Endpoint=sb://x/;EntityPath=e", err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "a connection string goes in connection_string"));
	assert_string_equal(c.endpoint, "sb://two/");
	assert_int_equal(cred_set_key_name(&c, "a b", err, sizeof(err)), -EINVAL);
	assert_int_equal(cred_set_key(&c, "not base64!", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "shared_access_key is not valid base64");
	assert_int_equal(cred_set_signature(&c, "", err, sizeof(err)), -EINVAL);
	assert_int_equal(cred_set_authentication(&c, "password", err, sizeof(err)), -EINVAL);
	assert_false(c.entra);
	assert_int_equal(cred_set_authentication(&c, "managedidentity", err, sizeof(err)), 0);
	assert_true(c.entra);
	cred_clear(&c);
}

static char *write_key(const char *dir, const char *name, const char *key)
{
	char *p = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	fprintf(f, "%s\n", key);
	fclose(f);
	assert_int_equal(chmod(p, 0600), 0);
	return p;
}

/* A relative key file: systemd's credentials directory first, then the
 * configuration's directory; an inline key then replaces the file's. */
static void test_key_file_places(void **state)
{
	char top[] = "/tmp/azb-credtest-XXXXXX", *creds, *conf, *in_creds, *in_conf, *only_conf;
	char err[512];
	struct azb_cred c = { 0 };

	(void)state;
	assert_non_null(mkdtemp(top));
	creds = xasprintf("%s/creds", top);
	conf = xasprintf("%s/conf", top);
	assert_int_equal(mkdir(creds, 0700), 0);
	assert_int_equal(mkdir(conf, 0700), 0);
	in_creds = write_key(creds, "k", KEY);
	in_conf = write_key(conf, "k", KEY2);
	only_conf = write_key(conf, "other", KEY2);
	assert_int_equal(setenv("CREDENTIALS_DIRECTORY", creds, 1), 0);
	assert_int_equal(cred_set_key_file(&c, "k", conf, err, sizeof(err)), 0);
	assert_string_equal(c.key, KEY);
	assert_string_equal(c.key_file, in_creds);
	assert_int_equal(cred_set_key_file(&c, "other", conf, err, sizeof(err)), 0);
	assert_string_equal(c.key, KEY2);
	assert_string_equal(c.key_file, only_conf);
	assert_int_equal(unsetenv("CREDENTIALS_DIRECTORY"), 0);
	assert_int_equal(cred_set_key_file(&c, "k", conf, err, sizeof(err)), 0);
	assert_string_equal(c.key_file, in_conf);
	assert_int_equal(cred_set_key_file(&c, "missing", conf, err, sizeof(err)), -EINVAL);
	assert_string_equal(c.key_file, in_conf);
	assert_int_equal(cred_set_key(&c, KEY, err, sizeof(err)), 0);
	assert_null(c.key_file);
	cred_clear(&c);
	for (char **p = (char *[]){ in_creds, in_conf, only_conf, creds, conf, NULL }; *p; p++) {
		assert_int_equal(remove(*p), 0);
		free(*p);
	}
	assert_int_equal(rmdir(top), 0);
}

/* The original's rule: no key name, no key and no signature is Entra ID;
 * a forward's credential is its own or the global one, never mixed. */
static void test_entra_rule(void **state)
{
	struct azb_cred g = { 0 }, own = { 0 }, out;
	char err[256];

	(void)state;
	assert_true(cred_is_entra(&g));
	assert_true(cred_gives_token(&g));
	assert_string_equal(cred_entra_kind(&g), "default");
	assert_int_equal(cred_set_credential(&g, "managed-identity", err, sizeof(err)), 0);
	assert_int_equal(cred_set_credential(&g, "browser", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "credential \"browser\" is not one of"));
	assert_string_equal(cred_entra_kind(&g), "managed-identity");
	assert_int_equal(cred_set_key_name(&g, "rule", err, sizeof(err)), 0);
	assert_false(cred_is_entra(&g));
	assert_false(cred_gives_token(&g));           /* a key name, no key */
	assert_int_equal(cred_set_credential(&own, "azure-cli", err, sizeof(err)), 0);
	cred_effective(&own, &g, &out);
	assert_true(cred_is_entra(&out));
	assert_string_equal(cred_entra_kind(&out), "azure-cli");
	assert_false(cred_equal(&out, &g));
	cred_clear(&out);
	cred_clear(&own);
	cred_clear(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_effective_without_own),
		cmocka_unit_test(test_effective_own_endpoint),
		cmocka_unit_test(test_effective_own_auth_taken_whole),
		cmocka_unit_test(test_equal_every_field),
		cmocka_unit_test(test_setters),
		cmocka_unit_test(test_key_file_places),
		cmocka_unit_test(test_entra_rule),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

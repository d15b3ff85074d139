/* Connection strings: every field, round trips, and errors that never echo
 * a secret. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connstr.h"

#define KEY "c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seQ=="

static void test_parse_all_fields(void **state)
{
	struct azb_connstr cs;
	char err[256];

	(void)state;
	assert_int_equal(cs_parse(" endpoint = sb://ns.example/ ;SHAREDACCESSKEYNAME=rule;"
				  "SharedAccessKey=" KEY ";EntityPath=db;OperationTimeout=00:01:00;"
				  "Authentication=Managed Identity;", &cs, err, sizeof(err)), 0);
	assert_string_equal(cs.endpoint, "sb://ns.example/");
	assert_string_equal(cs.key_name, "rule");
	assert_string_equal(cs.key, KEY);
	assert_string_equal(cs.entity_path, "db");
	assert_string_equal(cs.operation_timeout, "00:01:00");
	assert_string_equal(cs.authentication, "Managed Identity");
	cs_clear(&cs);
}

static void test_signature_with_equals(void **state)
{
	const char *sig = "SharedAccessSignature sr=http%3A%2F%2Fh%2Fd%2F&sig=AB%2B%3D&se=9&skn=r";
	char in[300], err[256], *out;
	struct azb_connstr cs, again;

	(void)state;
	snprintf(in, sizeof(in), "Endpoint=sb://h/;SharedAccessSignature=%s", sig);
	assert_int_equal(cs_parse(in, &cs, err, sizeof(err)), 0);
	assert_string_equal(cs.signature, sig);
	out = cs_format(&cs);
	assert_string_equal(out, in);
	assert_int_equal(cs_parse(out, &again, err, sizeof(err)), 0);
	assert_string_equal(again.signature, sig);
	cs_clear(&again);
	cs_clear(&cs);
	free(out);
}

static void test_roundtrip_order(void **state)
{
	struct azb_connstr cs;
	char *out;

	(void)state;
	assert_int_equal(cs_parse("EntityPath=e;SharedAccessKey=" KEY ";SharedAccessKeyName=n;"
				  "Endpoint=sb://h/", &cs, NULL, 0), 0);
	out = cs_format(&cs);
	assert_string_equal(out, "Endpoint=sb://h/;SharedAccessKeyName=n;SharedAccessKey=" KEY
			    ";EntityPath=e");
	free(out);
	cs_clear(&cs);
}

static void test_errors(void **state)
{
	const struct { const char *in, *msg; } bad[] = {
		{ "Endpoint=sb://h/;Bogus=1", "connection string: unknown key \"Bogus\"" },
		{ "Endpoint=sb://h/;Endpoint=sb://x/", "connection string: Endpoint is given twice" },
		{ "Endpoint=sb://h/;justtext", "connection string: part 2 is not NAME=VALUE" },
		/* a key in the wrong place is never echoed */
		{ "Endpoint=sb://h/;;SharedAccessKey " KEY, "connection string: part 3 has an unknown "
		  "key (not shown: it may be a secret)" },
		{ "Endpoint=sb://h/;SharedAccessKeyName=a;" KEY, "connection string: part 3 has an "
		  "unknown key (not shown: it may be a secret)" },
		{ "Endpoint=sb://h/;SharedAccessKey:" KEY, "connection string: part 2 has an unknown "
		  "key (not shown: it may be a secret)" },
		{ "Endpoint=sb://h/;SharedAccessKey:c2VjcmV0", "connection string: part 2 is not "
		  "NAME=VALUE" },
		{ "Endpoint=", "connection string: Endpoint is empty" },
		{ "SharedAccessKeyName=bad name", "connection string: SharedAccessKeyName \"bad name\" "
		  "may hold only letters, digits, '-' and '_'" },
		{ "SharedAccessKey=not*base64", "connection string: SharedAccessKey is not valid base64" },
		{ ";;", "connection string: no Endpoint, key or signature in it" },
	};
	struct azb_connstr cs;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(cs_parse(bad[i].in, &cs, err, sizeof(err)), -EINVAL);
		assert_string_equal(err, bad[i].msg);
		assert_null(strstr(err, "not*base64"));
		assert_null(strstr(err, "c2VjcmV0"));
	}
}

static void test_base64(void **state)
{
	(void)state;
	assert_true(cs_valid_base64(KEY));
	assert_true(cs_valid_base64("AAAA"));
	assert_true(cs_valid_base64("+/+/+/=="));
	assert_false(cs_valid_base64(""));
	assert_false(cs_valid_base64("AAA"));
	assert_false(cs_valid_base64("AA=A"));
	assert_false(cs_valid_base64("AA A"));
	assert_false(cs_valid_base64("A==="));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_all_fields),
		cmocka_unit_test(test_signature_with_equals),
		cmocka_unit_test(test_roundtrip_order),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_base64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* What the Entra ID credentials read and send: token answers in each
 * endpoint's form, error codes kept to safe characters, form escaping and
 * the authority host override. The endpoints themselves are exercised by
 * tests/integration/test_entra.py against a token service on loopback. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"
#include "../../daemon/entra_kind.h"

static int parse(const char *json, struct entra_result *r)
{
	memset(r, 0, sizeof(*r));
	return entra_parse_answer(json, strlen(json), r);
}

static void test_answers(void **state)
{
	struct entra_result r;
	time_t now = time(NULL);
	char on[200];

	(void)state;
	/* The token endpoint: expires_in as a number. */
	assert_int_equal(parse("{\"access_token\":\"a.b.c\",\"expires_in\":3599}", &r), 0);
	assert_string_equal(r.token, "a.b.c");
	assert_true(r.expiry >= now + 3599 && r.expiry <= now + 3601);
	azb_free_secret(r.token);
	/* Managed identity: strings; expires_on wins. */
	snprintf(on, sizeof(on), "{\"access_token\":\"t\",\"expires_in\":\"5\",\"expires_on\":"
		 "\"%lld\"}", (long long)now + 600);
	assert_int_equal(parse(on, &r), 0);
	assert_int_equal(r.expiry, now + 600);
	azb_free_secret(r.token);
	/* The Azure CLI. */
	snprintf(on, sizeof(on), "{\"accessToken\":\"cli\",\"expires_on\":%lld}",
		 (long long)now + 60);
	assert_int_equal(parse(on, &r), 0);
	assert_string_equal(r.token, "cli");
	azb_free_secret(r.token);
	/* Absurd lifetimes are taken as a day, so nothing overflows later. */
	assert_int_equal(parse("{\"access_token\":\"t\",\"expires_in\":9223372036854775807}",
			       &r), 0);
	assert_true(r.expiry <= time(NULL) + 24 * 3600);
	azb_free_secret(r.token);
	assert_int_equal(parse("{\"access_token\":\"t\",\"expires_on\":9223372036854775807}",
			       &r), 0);
	assert_true(r.expiry <= time(NULL) + 24 * 3600);
	azb_free_secret(r.token);
}

static void test_bad_answers(void **state)
{
	struct entra_result r;

	(void)state;
	assert_int_equal(parse("{\"access_token\":\"a.b.c\",", &r), -EIO);
	assert_string_equal(r.why, "the answer is not a JSON object");
	assert_int_equal(parse("[1]", &r), -EIO);
	assert_int_equal(parse("{\"expires_in\":60}", &r), -EIO);
	assert_string_equal(r.why, "the answer has no usable access_token");
	/* A token that would break the header it goes into. */
	assert_int_equal(parse("{\"access_token\":\"a b\",\"expires_in\":60}", &r), -EIO);
	assert_int_equal(parse("{\"access_token\":\"a\\r\\nX: y\",\"expires_in\":60}", &r), -EIO);
	assert_int_equal(parse("{\"access_token\":\"t\"}", &r), -EIO);
	assert_non_null(strstr(r.why, "no expires_in or expires_on"));
	assert_int_equal(parse("{\"access_token\":\"t\",\"expires_on\":\"12\"}", &r), -EIO);
	assert_null(r.token);
}

static void test_authority(void **state)
{
	char *a;

	(void)state;
	assert_int_equal(unsetenv("AZURE_AUTHORITY_HOST"), 0);
	a = entra_authority();
	assert_string_equal(a, "https://login.microsoftonline.com/");
	free(a);
	assert_int_equal(setenv("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.us//", 1),
			 0);
	a = entra_authority();
	assert_string_equal(a, "https://login.microsoftonline.us/");
	free(a);
	assert_int_equal(setenv("AZURE_AUTHORITY_HOST", "", 1), 0);
	a = entra_authority();
	assert_string_equal(a, "https://login.microsoftonline.com/");
	free(a);
	unsetenv("AZURE_AUTHORITY_HOST");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answers),
		cmocka_unit_test(test_bad_answers),
		cmocka_unit_test(test_authority),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

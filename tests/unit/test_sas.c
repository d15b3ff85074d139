/* SAS tokens against vectors computed by an independent implementation
 * (tests/unit/fixtures/gen_sas_vectors.py), plus parsing and audience rules. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sas.h"
#include "url.h"

struct vec {
	char kind[8], res[256], kn[64], key[128], token[512];
	long long exp;
};

static int load(struct vec *v, int max)
{
	const char *dir = getenv("AZB_FIXTURES") ? getenv("AZB_FIXTURES") : "tests/unit/fixtures";
	char path[512], line[1024];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s/sas_vectors.txt", dir);
	f = fopen(path, "r");
	assert_non_null(f);
	while (n < max && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		assert_int_equal(sscanf(line, "%7[^\t]\t%255[^\t]\t%63[^\t]\t%127[^\t]\t%lld\t%511[^\n]",
					v[n].kind, v[n].res, v[n].kn, v[n].key, &v[n].exp, v[n].token), 6);
		n++;
	}
	fclose(f);
	return n;
}

static void test_create_matches_vectors(void **state)
{
	struct vec v[16];
	int n = load(v, 16), created = 0;

	(void)state;
	for (int i = 0; i < n; i++) {
		char *tok;

		if (strcmp(v[i].kind, "create"))
			continue;
		tok = sas_create(v[i].res, v[i].kn, v[i].key, (time_t)v[i].exp);
		assert_string_equal(tok, v[i].token);
		free(tok);
		created++;
	}
	assert_int_equal(created, 5);
}

static void test_verify_other_clients(void **state)
{
	struct vec v[16];
	int n = load(v, 16);

	(void)state;
	for (int i = 0; i < n; i++) {
		struct sas_token t;
		char err[256];

		assert_int_equal(sas_parse(v[i].token, &t, err, sizeof(err)), 0);
		assert_int_equal(sas_verify(&t, v[i].key, (time_t)v[i].exp - 1), 0);
		assert_int_equal(sas_verify(&t, v[i].key, (time_t)v[i].exp), -EKEYEXPIRED);
		assert_int_equal(sas_verify(&t, "wrong-key", (time_t)v[i].exp - 1), -EACCES);
		assert_string_equal(t.key_name, v[i].kn);
		sas_token_clear(&t);
	}
}

static void test_tampering(void **state)
{
	struct vec v[16];
	char tok[600], err[256], *p;
	struct sas_token t;

	(void)state;
	load(v, 16);
	/* change the expiry */
	snprintf(tok, sizeof(tok), "%s", v[1].token);
	p = strstr(tok, "&se=2000000000");
	assert_non_null(p);
	p[4] = '3';
	assert_int_equal(sas_parse(tok, &t, err, sizeof(err)), 0);
	assert_int_equal(sas_verify(&t, v[1].key, 0), -EACCES);
	sas_token_clear(&t);
	/* change the resource */
	snprintf(tok, sizeof(tok), "%s", v[1].token);
	p = strstr(tok, "localhost");
	p[0] = 'L';
	assert_int_equal(sas_parse(tok, &t, err, sizeof(err)), 0);
	assert_int_equal(sas_verify(&t, v[1].key, 0), -EACCES);
	sas_token_clear(&t);
}

static void test_parse_errors(void **state)
{
	struct { const char *tok, *msg; } bad[] = {
		{ "SharedAccessSignature sr=a&sig=b&se=1", "token: missing skn" },
		{ "sr=a&se=1&skn=x", "token: missing sig" },
		{ "SharedAccessSignature sig=b&se=1&skn=x", "token: missing sr" },
		{ "sr=a&sig=b&skn=x", "token: missing se" },
		{ "sr=a&sig=b&se=soon&skn=x", "token: se \"soon\" is not a time" },
		{ "sr=a&sig=b&se=1&skn=x&sr=b", "token: sr is given twice" },
		{ "sr=a%zz&sig=b&se=1&skn=x", "token: bad %-escape in sr" },
		{ "garbage", "token: malformed parameter" },
	};
	struct sas_token t;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(sas_parse(bad[i].tok, &t, err, sizeof(err)), -EINVAL);
		assert_string_equal(err, bad[i].msg);
	}
	/* the prefix is optional and parameters come in any order */
	assert_int_equal(sas_parse("skn=x&se=5&sig=YQ%3D%3D&sr=http%3A%2F%2Fh%2Fp%2F", &t, err,
				   sizeof(err)), 0);
	assert_string_equal(t.resource, "http://h/p/");
	assert_string_equal(t.sig, "YQ==");
	assert_int_equal(t.expiry, 5);
	sas_token_clear(&t);
}

static void test_roundtrip_own_tokens(void **state)
{
	char *res = sas_resource("NS.example", "/a/b/"), *tok;
	struct sas_token t;

	(void)state;
	/* The SDK's audience: host lower-cased, the path as it is. */
	assert_string_equal(res, "http://ns.example/a/b/");
	tok = sas_create(res, "rule", "a2V5", 100);
	assert_int_equal(sas_parse(tok, &t, NULL, 0), 0);
	assert_string_equal(t.resource, res);
	assert_int_equal(sas_verify(&t, "a2V5", 99), 0);
	sas_token_clear(&t);
	free(tok);
	free(res);
	res = sas_resource("h", "");
	assert_string_equal(res, "http://h/");
	free(res);
}

/* What the .NET SDK's TokenProvider signs: scheme http, no port (our hosts
 * never carry one), host lower-cased as System.Uri does, the entity path's
 * case kept, one trailing slash. An IPv6 literal keeps its brackets. */
static void test_resource_is_the_sdk_audience(void **state)
{
	static const struct { const char *host, *path, *want; } v[] = {
		{ "MyNS.ServiceBus.Windows.NET", "db", "http://myns.servicebus.windows.net/db/" },
		{ "ns.servicebus.windows.net", "/Sql/Prod/", "http://ns.servicebus.windows.net/Sql/Prod/" },
		{ "RELAY.test", "", "http://relay.test/" },
		{ "::1", "hc", "http://[::1]/hc/" },
		{ "FE80::A", "hc", "http://[fe80::a]/hc/" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *res = sas_resource(v[i].host, v[i].path);

		assert_string_equal(res, v[i].want);
		/* and the relay finds it covers the entity of either spelling */
		assert_true(sas_resource_covers(res, v[i].want));
		free(res);
	}
	assert_true(sas_resource_covers("http://[::1]:9443/hc", "http://[::1]/hc/"));
	assert_false(sas_resource_covers("http://[::2]/hc/", "http://[::1]/hc/"));
}

static void test_resource_covers(void **state)
{
	const char *ent = "http://ns.example/a/b/";

	(void)state;
	assert_true(sas_resource_covers("http://ns.example/a/b/", ent));
	assert_true(sas_resource_covers("https://NS.EXAMPLE:443/a/b", ent));
	assert_true(sas_resource_covers("sb://ns.example/$hc/a/b", ent));
	assert_true(sas_resource_covers("http://ns.example/a", ent));
	assert_true(sas_resource_covers("http://ns.example/", ent));
	assert_true(sas_resource_covers("http://ns.example", ent));
	assert_false(sas_resource_covers("http://ns.example/ab", "http://ns.example/ab2/"));
	assert_false(sas_resource_covers("http://ns.example/a/b/c", ent));
	assert_false(sas_resource_covers("http://other.example/a/b/", ent));
}

static void hex(const unsigned char *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

/* RFC 4231 section 4, HMAC-SHA-256 (case 5 truncates: its full MAC here). */
static void test_hmac_rfc4231(void **state)
{
	static const char *const want[] = {
		"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
		"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
		"773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
		"82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
		"a3b6167473100ee06e0c796c2955552bfa6f7c0a6a8aef8b93f860aab0cd20c5",
		"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
		"9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
	};
	unsigned char k[7][131], m[7][160], md[SAS_MAC_LEN];
	size_t kl[7] = { 20, 4, 20, 25, 20, 131, 131 }, ml[7];
	const char *text[7] = { "Hi There", "what do ya want for nothing?", NULL, NULL,
				"Test With Truncation",
				"Test Using Larger Than Block-Size Key - Hash Key First",
				"This is a test using a larger than block-size key and a larger "
				"than block-size data. The key needs to be hashed before being "
				"used by the HMAC algorithm." };
	char got[2 * SAS_MAC_LEN + 1];

	(void)state;
	memset(k[0], 0x0b, 20);
	memcpy(k[1], "Jefe", 4);
	memset(k[2], 0xaa, 20);
	for (int i = 0; i < 25; i++)
		k[3][i] = (unsigned char)(i + 1);
	memset(k[4], 0x0c, 20);
	memset(k[5], 0xaa, 131);
	memset(k[6], 0xaa, 131);
	memset(m[2], 0xdd, ml[2] = 50);
	memset(m[3], 0xcd, ml[3] = 50);
	for (int i = 0; i < 7; i++) {
		if (text[i])
			memcpy(m[i], text[i], ml[i] = strlen(text[i]));
		assert_int_equal(sas_hmac(k[i], kl[i], m[i], ml[i], md), 0);
		hex(md, sizeof(md), got);
		assert_string_equal(got, want[i]);
	}
}

/* A rule's key made ready once checks what the key string checks, as many
 * times as asked: each check works on a copy of it. */
static void test_key_template(void **state)
{
	struct vec v[16];
	int n = load(v, 16);

	(void)state;
	for (int i = 0; i < n; i++) {
		struct sas_key *k = sas_key_new(v[i].key), *wrong = sas_key_new("wrong-key");
		struct sas_token t;

		assert_non_null(k);
		assert_int_equal(sas_parse(v[i].token, &t, NULL, 0), 0);
		for (int j = 0; j < 3; j++) {
			assert_int_equal(sas_verify_key(&t, k, (time_t)v[i].exp - 1), 0);
			assert_int_equal(sas_verify_key(&t, k, (time_t)v[i].exp), -EKEYEXPIRED);
			assert_int_equal(sas_verify_key(&t, wrong, (time_t)v[i].exp - 1), -EACCES);
		}
		assert_int_equal(sas_verify_key(&t, NULL, 0), -EACCES);
		sas_token_clear(&t);
		sas_key_free(k);
		sas_key_free(wrong);
	}
}

static int cleanup(void **state)
{
	(void)state;
	sas_cleanup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_matches_vectors),
		cmocka_unit_test(test_verify_other_clients),
		cmocka_unit_test(test_tampering),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_roundtrip_own_tokens),
		cmocka_unit_test(test_resource_is_the_sdk_audience),
		cmocka_unit_test(test_resource_covers),
		cmocka_unit_test(test_hmac_rfc4231),
		cmocka_unit_test(test_key_template),
	};

	return cmocka_run_group_tests(tests, NULL, cleanup);
}

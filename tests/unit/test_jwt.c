/* Entra ID tokens: common/jwt against tokens this test signs itself with
 * OpenSSL (RSA keys made here, written as PEM and JWKS), then the relay's
 * relay_authorize() with role assignments beside SAS rules. */
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
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "jwt.h"
#include "../../relay/relay.h"
#include "sas.h"
#include "util.h"

#define ISS "https://sts.windows.net/tenant-1/"
#define AUD "https://relay.azure.net"

static EVP_PKEY *key1, *key2;
static char dir[64];

/* ---- what the test signs with -------------------------------------------- */

static char *b64u(const unsigned char *p, size_t n)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char *out = xmalloc(n * 4 / 3 + 4), *o = out;
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];

		*o++ = a[v >> 18], *o++ = a[(v >> 12) & 63], *o++ = a[(v >> 6) & 63], *o++ = a[v & 63];
	}
	if (n - i == 1) {
		*o++ = a[p[i] >> 2], *o++ = a[(p[i] & 3) << 4];
	} else if (n - i == 2) {
		unsigned v = (unsigned)p[i] << 8 | p[i + 1];

		*o++ = a[v >> 10], *o++ = a[(v >> 4) & 63], *o++ = a[(v & 15) << 2];
	}
	*o = '\0';
	return out;
}

static char *b64u_str(const char *s)
{
	return b64u((const unsigned char *)s, strlen(s));
}

/* header.payload.signature with RS256 by pk (NULL: no signature). */
static char *sign_with(EVP_PKEY *pk, const char *header, const char *claims)
{
	char *h = b64u_str(header), *c = b64u_str(claims), *in = xasprintf("%s.%s", h, c), *s, *t;
	unsigned char sig[1024];
	size_t n = sizeof(sig);
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (pk) {
		assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pk), 1);
		assert_int_equal(EVP_DigestSign(md, sig, &n, (unsigned char *)in, strlen(in)), 1);
	} else {
		n = 0;
	}
	s = b64u(sig, n);
	t = xasprintf("%s.%s", in, s);
	EVP_MD_CTX_free(md);
	free(h), free(c), free(in), free(s);
	return t;
}

static char *claims_now(long exp_in, const char *extra)
{
	return xasprintf("{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":%lld,\"nbf\":%lld%s%s}",
			 (long long)time(NULL) + exp_in, (long long)time(NULL) - 10,
			 extra ? "," : "", extra ? extra : "");
}

static char *token(const char *kid, long exp_in, const char *extra)
{
	char *hdr = xasprintf("{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}", kid);
	char *c = claims_now(exp_in, extra), *t = sign_with(key1, hdr, c);

	free(hdr), free(c);
	return t;
}

/* iss, aud (JSON) and an exp a minute away, signed by key1 as "k1". */
static char *iss_aud_token(const char *iss, const char *aud, const char *extra)
{
	char *c = xasprintf("{\"iss\":\"%s\",\"aud\":%s,\"exp\":%lld%s}", iss, aud,
			    (long long)time(NULL) + 60, extra);
	char *t = sign_with(key1, "{\"alg\":\"RS256\",\"kid\":\"k1\"}", c);

	free(c);
	return t;
}

static char *path_of(const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

static void write_file(const char *name, const char *text)
{
	char *p = path_of(name);
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(p);
}

static void write_pem(const char *name, EVP_PKEY *pk)
{
	char *p = path_of(name);
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	assert_int_equal(PEM_write_PUBKEY(f, pk), 1);
	fclose(f);
	free(p);
}

static char *bn_b64u(EVP_PKEY *pk, const char *name)
{
	BIGNUM *bn = NULL;
	unsigned char buf[1024];
	int n;

	assert_int_equal(EVP_PKEY_get_bn_param(pk, name, &bn), 1);
	n = BN_bn2bin(bn, buf);
	BN_free(bn);
	return b64u(buf, (size_t)n);
}

static char *jwk(EVP_PKEY *pk, const char *kid, const char *more)
{
	char *n = bn_b64u(pk, OSSL_PKEY_PARAM_RSA_N), *e = bn_b64u(pk, OSSL_PKEY_PARAM_RSA_E);
	char *j = xasprintf("{\"kty\":\"RSA\",\"kid\":\"%s\",\"n\":\"%s\",\"e\":\"%s\"%s}", kid, n, e,
			    more);

	free(n), free(e);
	return j;
}

static int setup(void **state)
{
	char *a, *b, *jwks;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/azb-jwt-XXXXXX");
	assert_non_null(mkdtemp(dir));
	key1 = EVP_RSA_gen(2048);
	key2 = EVP_RSA_gen(2048);
	a = jwk(key1, "k1", ",\"use\":\"sig\"");
	b = jwk(key2, "enc", ",\"use\":\"enc\"");       /* skipped: not for signatures */
	jwks = xasprintf("{\"keys\":[%s,%s,{\"kty\":\"EC\",\"kid\":\"ec\"}]}", a, b);
	write_file("k.jwks", jwks);
	write_pem("k1.pem", key1);
	write_pem("k2.pem", key2);
	free(a), free(b), free(jwks);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	EVP_PKEY_free(key1);
	EVP_PKEY_free(key2);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void load(struct jwt_keyset *ks, const char *name, const char *kid)
{
	char *p = path_of(name), err[256];

	assert_int_equal(jwt_keyset_load(ks, p, kid, err, sizeof(err)), 0);
	free(p);
}

static int load_err(const char *name, const char *kid, char *err, size_t len)
{
	struct jwt_keyset ks = { 0 };
	char *p = path_of(name);
	int rc = jwt_keyset_load(&ks, p, kid, err, len);

	jwt_keyset_clear(&ks);
	free(p);
	return rc;
}

static const char *const issuers[] = { ISS };
static const char *const audiences[] = { AUD, "sb://ns.example" };

static int verify(const struct jwt_keyset *ks, const char *t, char *why, size_t len)
{
	struct jwt_policy p = { ks, issuers, 1, audiences, 2, 30 };
	struct jwt_claims c;
	int rc = jwt_verify(t, &p, time(NULL), &c, why, len);

	jwt_claims_clear(&c);
	return rc;
}

/* verify() of a token made by token(), freed. */
static int verify_made(const struct jwt_keyset *ks, char *t, char *why, size_t len)
{
	int rc = verify(ks, t, why, len);

	free(t);
	return rc;
}

/* ---- base64url ------------------------------------------------------------- */

static void test_b64url(void **state)
{
	unsigned char *out;
	size_t n;

	(void)state;
	assert_int_equal(jwt_b64url_decode("aGk", 3, &out, &n), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(out, "hi", 2);
	free(out);
	assert_int_equal(jwt_b64url_decode("-_8", 3, &out, &n), 0);
	assert_int_equal(out[0], 0xfb);
	assert_int_equal(out[1], 0xff);
	free(out);
	assert_int_equal(jwt_b64url_decode("", 0, &out, &n), 0);
	assert_int_equal(n, 0);
	free(out);
	assert_int_equal(jwt_b64url_decode("aGk=", 4, &out, &n), -EINVAL);   /* padding */
	assert_int_equal(jwt_b64url_decode("aG+", 3, &out, &n), -EINVAL);    /* base64, not url */
	assert_int_equal(jwt_b64url_decode("aGl", 3, &out, &n), -EINVAL);    /* stray bits */
	assert_int_equal(jwt_b64url_decode("aGk9a", 5, &out, &n), -EINVAL);  /* 4n+1 */
	assert_int_equal(jwt_b64url_decode("a\0k", 3, &out, &n), -EINVAL);
}

static void test_form(void **state)
{
	char *sas = sas_create("http://ns/db/", "root", "key", time(NULL) + 60);

	(void)state;
	assert_false(jwt_is_jwt(sas));
	assert_true(jwt_is_jwt("a.b.c"));
	assert_true(jwt_is_jwt("Bearer a.b.c"));
	assert_true(jwt_is_jwt("a.b."));
	assert_false(jwt_is_jwt("a.b"));
	assert_false(jwt_is_jwt("a.b.c.d"));
	assert_false(jwt_is_jwt("a..c"));
	assert_false(jwt_is_jwt("a.b.c "));
	{       /* long, but a SAS: its form decides, not its length */
		char *big = xmalloc(JWT_MAX_TOKEN + 64);

		memset(big, 'A', JWT_MAX_TOKEN + 63);
		memcpy(big, "SharedAccessSignature sr=", 25);
		big[JWT_MAX_TOKEN + 63] = '\0';
		assert_false(jwt_is_jwt(big));
		free(big);
	}
	free(sas);
}

/* ---- keys ------------------------------------------------------------------ */

static void test_keys_load(void **state)
{
	struct jwt_keyset ks = { 0 };
	char err[256];

	(void)state;
	load(&ks, "k.jwks", NULL);
	assert_int_equal(ks.n, 1);                   /* enc and EC keys skipped */
	assert_string_equal(ks.keys[0].kid, "k1");
	load(&ks, "k2.pem", "p2");
	load(&ks, "k1.pem", NULL);
	assert_int_equal(ks.n, 3);
	assert_string_equal(ks.keys[1].kid, "p2");
	assert_null(ks.keys[2].kid);
	jwt_keyset_clear(&ks);

	load(&ks, "k.jwks", NULL);
	{
		char *p = path_of("k1.pem");

		assert_int_equal(jwt_keyset_load(&ks, p, "k1", err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "key id \"k1\" is given twice"));
		free(p);
	}
	jwt_keyset_clear(&ks);
	assert_int_equal(load_err("nope.pem", NULL, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "nope.pem"));
	assert_int_equal(load_err("k.jwks", "x", err, sizeof(err)), -EINVAL);
	write_file("bad.jwks", "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}");
	assert_int_equal(load_err("bad.jwks", NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "bits"));
	write_file("bad.jwks", "{\"keys\":[{\"kty\":\"EC\"}]}");
	assert_int_equal(load_err("bad.jwks", NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no RSA signing key"));
	write_file("bad.jwks", "{\"keys\":[], \"keys\":[]}");
	assert_int_equal(load_err("bad.jwks", NULL, err, sizeof(err)), -EINVAL);
	write_file("bad.pem", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
	assert_int_equal(load_err("bad.pem", NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not an RSA public key"));
}

static void test_keys_refuse_small_and_non_rsa(void **state)
{
	EVP_PKEY *small = EVP_RSA_gen(1024), *ec = EVP_EC_gen("P-256");
	char err[256];

	(void)state;
	write_pem("small.pem", small);
	write_pem("ec.pem", ec);
	assert_int_equal(load_err("small.pem", NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "1024 bits"));
	assert_int_equal(load_err("ec.pem", NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not an RSA"));
	EVP_PKEY_free(small);
	EVP_PKEY_free(ec);
}

/* ---- tokens ---------------------------------------------------------------- */

static void test_good_tokens(void **state)
{
	struct jwt_keyset ks = { 0 };
	struct jwt_policy p = { &ks, issuers, 1, audiences, 2, 30 };
	struct jwt_claims c;
	char why[256], *t;

	(void)state;
	load(&ks, "k.jwks", NULL);
	t = token("k1", 600, "\"oid\":\"o-1\",\"azp\":\"app-1\",\"roles\":[\"R.Listen\",7,\"R.Send\"]");
	assert_int_equal(jwt_verify(t, &p, time(NULL), &c, why, sizeof(why)), 0);
	assert_string_equal(c.oid, "o-1");
	assert_string_equal(c.azp, "app-1");
	assert_null(c.appid);
	assert_int_equal(c.n_roles, 2);
	assert_string_equal(c.roles[1], "R.Send");
	assert_true(c.exp >= time(NULL) + 600 + 29 && c.exp <= time(NULL) + 600 + 31);
	jwt_claims_clear(&c);
	free(t);
	t = token("k1", 600, NULL);
	{
		char *b = xasprintf("Bearer %s", t);

		assert_int_equal(verify(&ks, b, why, sizeof(why)), 0);
		free(b);
	}
	free(t);
	jwt_keyset_clear(&ks);
}

static void test_audiences(void **state)
{
	struct jwt_keyset ks = { 0 };
	char why[256], *t;
	static const char *const good[] = {
		"\"https://relay.azure.net/\"", "[\"x\",\"sb://ns.example/\"]", "\"sb://ns.example\"",
	};
	static const char *const bad[] = { "\"https://vault.azure.net\"", "[\"x\"]", "7", "[]",
		"\"https://relay.azure.net//\"", "\"https://relay.azure.netx\"" };

	(void)state;
	load(&ks, "k.jwks", NULL);
	for (size_t i = 0; i < AZB_ARRAY_SIZE(good); i++) {
		t = iss_aud_token(ISS, good[i], "");
		assert_int_equal(verify(&ks, t, why, sizeof(why)), 0);
		free(t);
	}
	for (size_t i = 0; i < AZB_ARRAY_SIZE(bad); i++) {
		t = iss_aud_token(ISS, bad[i], "");
		assert_int_equal(verify(&ks, t, why, sizeof(why)), -EDESTADDRREQ);
		assert_non_null(strstr(why, "audience"));
		free(t);
	}
	jwt_keyset_clear(&ks);
}

static void test_times(void **state)
{
	struct jwt_keyset ks = { 0 };
	char why[256], *c, *t;
	long long now = (long long)time(NULL);

	(void)state;
	load(&ks, "k.jwks", NULL);
	assert_int_equal(verify_made(&ks, token("k1", -60, NULL), why, sizeof(why)), -EKEYEXPIRED);
	assert_non_null(strstr(why, "expired"));
	assert_int_equal(verify_made(&ks, token("k1", -20, NULL), why, sizeof(why)), 0); /* skew */
	c = xasprintf("{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":%lld,\"nbf\":%lld}",
		      now + 600, now + 300);
	t = sign_with(key1, "{\"alg\":\"RS256\",\"kid\":\"k1\"}", c);
	assert_int_equal(verify(&ks, t, why, sizeof(why)), -EAGAIN);
	assert_non_null(strstr(why, "not valid yet"));
	free(c), free(t);
	static const char *const odd[] = { "\"exp\":\"soon\"", "\"exp\":1e300", "\"nbf\":null,\"exp\":9",
					   "\"iat\":1" };
	for (size_t i = 0; i < AZB_ARRAY_SIZE(odd); i++) {
		c = xasprintf("{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",%s}", odd[i]);
		t = sign_with(key1, "{\"alg\":\"RS256\",\"kid\":\"k1\"}", c);
		assert_int_equal(verify(&ks, t, why, sizeof(why)), -EBADMSG);
		free(c), free(t);
	}
	jwt_keyset_clear(&ks);
}

static void test_issuer(void **state)
{
	struct jwt_keyset ks = { 0 };
	char why[256], *t;

	(void)state;
	load(&ks, "k.jwks", NULL);
	t = iss_aud_token("https://sts.windows.net/other/", "\"" AUD "\"", "");
	assert_int_equal(verify(&ks, t, why, sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "issuer \"https://sts.windows.net/other/\""));
	free(t);
	t = iss_aud_token("https://sts.windows.net/tenant-1", "\"" AUD "\"", "");
	assert_int_equal(verify(&ks, t, why, sizeof(why)), -EPERM);     /* exact */
	free(t);
	jwt_keyset_clear(&ks);
}

static void test_signatures_and_keys(void **state)
{
	struct jwt_keyset ks = { 0 }, pem = { 0 };
	char why[256], *t, *c = claims_now(60, NULL);

	(void)state;
	load(&ks, "k.jwks", NULL);
	load(&pem, "k1.pem", NULL);
	t = sign_with(key2, "{\"alg\":\"RS256\",\"kid\":\"k1\"}", c);   /* another key */
	assert_int_equal(verify(&ks, t, why, sizeof(why)), -EACCES);
	assert_string_equal(why, "the token's signature is not valid");
	free(t);
	t = token("k1", 60, NULL);
	t[strlen(t) / 2] ^= 1;                                          /* the payload changed */
	assert_int_not_equal(verify(&ks, t, why, sizeof(why)), 0);
	free(t);
	assert_int_equal(verify_made(&ks, token("k9", 60, NULL), why, sizeof(why)), -ENOKEY);
	assert_non_null(strstr(why, "key id \"k9\""));
	t = sign_with(key1, "{\"alg\":\"RS256\"}", c);                   /* no kid, JWKS only */
	assert_int_equal(verify(&ks, t, why, sizeof(why)), -ENOKEY);
	assert_int_equal(verify(&pem, t, why, sizeof(why)), 0);          /* a PEM key named by none */
	free(t);
	assert_int_equal(verify_made(&pem, token("anything", 60, NULL), why, sizeof(why)), 0);
	assert_int_equal(verify_made(NULL, token("k1", 60, NULL), why, sizeof(why)), -ENOKEY);
	jwt_keyset_clear(&pem);
	load(&pem, "k2.pem", "k1");              /* its kid shadows the unnamed key1 */
	load(&pem, "k1.pem", NULL);
	assert_int_equal(verify_made(&pem, token("k1", 60, NULL), why, sizeof(why)), -EACCES);
	jwt_keyset_clear(&pem);
	jwt_keyset_clear(&ks);
	free(c);
}

/* alg none, HS256 keyed with the public key's PEM (the classic confusion), and others. */
static void test_algorithms(void **state)
{
	struct jwt_keyset ks = { 0 };
	char why[256], *c = claims_now(60, NULL), *h, *p, *in, *s, *t, *pemtext = NULL;
	unsigned char mac[32];
	unsigned int n = 0;
	long len;
	FILE *f;
	char *path = path_of("k1.pem");

	(void)state;
	load(&ks, "k1.pem", NULL);
	t = sign_with(NULL, "{\"alg\":\"none\"}", c);
	assert_int_equal(verify(&ks, t, why, sizeof(why)), -EPROTONOSUPPORT);
	assert_non_null(strstr(why, "\"none\" is not RS256"));
	free(t);
	f = fopen(path, "r");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	pemtext = xmalloc((size_t)len + 1);
	assert_int_equal(fread(pemtext, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	h = b64u_str("{\"alg\":\"HS256\"}");
	p = b64u_str(c);
	in = xasprintf("%s.%s", h, p);
	HMAC(EVP_sha256(), pemtext, (int)len, (unsigned char *)in, strlen(in), mac, &n);
	s = b64u(mac, n);
	t = xasprintf("%s.%s", in, s);
	assert_int_equal(verify(&ks, t, why, sizeof(why)), -EPROTONOSUPPORT);
	free(t), free(s), free(in), free(h), free(p), free(pemtext), free(path);
	static const char *const hdrs[] = { "{\"alg\":\"rs256\"}", "{\"alg\":\"RS512\"}",
					    "{\"alg\":\"PS256\"}", "{\"alg\":7}" };
	for (size_t i = 0; i < AZB_ARRAY_SIZE(hdrs); i++) {
		t = sign_with(key1, hdrs[i], c);
		assert_int_not_equal(verify(&ks, t, why, sizeof(why)), 0);
		free(t);
	}
	jwt_keyset_clear(&ks);
	free(c);
}

static void test_malformed(void **state)
{
	struct jwt_keyset ks = { 0 };
	char why[256], *c = claims_now(60, NULL), *t, *big;
	static const char *const hdrs[] = {
		"{\"alg\":\"RS256\",\"crit\":[\"exp\"]}", "{\"alg\":\"RS256\",\"alg\":\"RS256\"}",
		"[\"RS256\"]", "{\"alg\":\"RS256\",\"kid\":5}", "not json", "{\"alg\":\"RS256\"",
	};

	(void)state;
	load(&ks, "k1.pem", NULL);
	for (size_t i = 0; i < AZB_ARRAY_SIZE(hdrs); i++) {
		t = sign_with(key1, hdrs[i], c);
		assert_int_equal(verify(&ks, t, why, sizeof(why)), -EBADMSG);
		free(t);
	}
	static const char *const bodies[] = { "[1]", "{\"exp\":1,\"exp\":2}", "{" };
	for (size_t i = 0; i < AZB_ARRAY_SIZE(bodies); i++) {
		t = sign_with(key1, "{\"alg\":\"RS256\"}", bodies[i]);
		assert_int_equal(verify(&ks, t, why, sizeof(why)), -EBADMSG);
		free(t);
	}
	assert_int_equal(verify(&ks, "a.b.c", why, sizeof(why)), -EBADMSG);
	assert_int_equal(verify(&ks, "SharedAccessSignature sr=x", why, sizeof(why)), -EBADMSG);
	big = xmalloc(JWT_MAX_TOKEN + 8);
	memset(big, 'A', JWT_MAX_TOKEN + 7);
	big[10] = big[20] = '.';
	big[JWT_MAX_TOKEN + 7] = '\0';
	assert_int_equal(verify(&ks, big, why, sizeof(why)), -EBADMSG);
	assert_non_null(strstr(why, "over"));
	free(big);
	/* Too many roles. */
	{
		struct sbuf b;

		sbuf_init(&b);
		sbuf_add(&b, "\"roles\":[");
		for (int i = 0; i <= JWT_MAX_ROLES; i++)
			sbuf_printf(&b, "%s\"r%d\"", i ? "," : "", i);
		sbuf_add(&b, "]");
		assert_int_equal(verify_made(&ks, token("x", 60, b.s), why, sizeof(why)), -EBADMSG);
		sbuf_free(&b);
	}
	jwt_keyset_clear(&ks);
	free(c);
}

/* The reason names what was wrong but never carries the token or raw bytes. */
static void test_reasons_are_clean(void **state)
{
	struct jwt_keyset ks = { 0 };
	char why[256], *t;

	(void)state;
	load(&ks, "k.jwks", NULL);
	t = sign_with(key1, "{\"alg\":\"RS256\",\"kid\":\"k\\n\\u0001\\\"x\"}", "{}");
	assert_int_equal(verify(&ks, t, why, sizeof(why)), -ENOKEY);
	assert_string_equal(why, "the token's key id \"k???x\" is not a known issuer key");
	free(t);
	t = token("k1", 60, NULL);
	t[strlen(t) - 5] = t[strlen(t) - 5] == 'B' ? 'C' : 'B';
	assert_int_equal(verify(&ks, t, why, sizeof(why)), -EACCES);
	assert_null(strstr(why, t + strlen(t) - 20));
	free(t);
	t = sign_with(key1, "{\"alg\":\"RS256\",\"kid\":\"k1\"}", "{\"iss\":\"evil\\r\\nline\",\"exp\":9}");
	assert_int_equal(verify(&ks, t, why, sizeof(why)), -EPERM);
	assert_null(strpbrk(why, "\r\n"));
	free(t);
	jwt_keyset_clear(&ks);
}

/* ---- the relay's decision -------------------------------------------------- */

static struct relay relay;
static struct relay_hc *db, *web;

static void role(struct relay_role **roles, size_t *n, enum relay_principal kind, const char *id,
		 unsigned rights)
{
	*roles = xrealloc(*roles, (*n + 1) * sizeof(**roles));
	(*roles)[(*n)++] = (struct relay_role){ kind, xstrdup(id), rights };
}

static int relay_setup(void **state)
{
	setup(state);
	load(&relay.entra.keys, "k.jwks", NULL);
	relay.entra.issuers = xcalloc(1, sizeof(char *));
	relay.entra.issuers[0] = xstrdup(ISS);
	relay.entra.n_issuers = 1;
	relay.entra.skew_s = 5;
	relay.rules = xcalloc(1, sizeof(*relay.rules));
	relay.rules[0] = (struct relay_rule){ xstrdup("root"), xstrdup("sekrit"), RIGHT_MANAGE |
					      RIGHT_LISTEN | RIGHT_SEND, sas_key_new("sekrit") };
	relay.n_rules = 1;
	db = relay_hc_add(&relay, "db", true);
	web = relay_hc_add(&relay, "web", true);
	role(&relay.roles, &relay.n_roles, PRINCIPAL_OBJECT, "owner", 7);
	role(&relay.roles, &relay.n_roles, PRINCIPAL_APP, "sender-app", RIGHT_SEND);
	role(&relay.roles, &relay.n_roles, PRINCIPAL_APP_ROLE, "Relay.Listen", RIGHT_LISTEN);
	role(&db->roles, &db->n_roles, PRINCIPAL_OBJECT, "db-listener", RIGHT_LISTEN);
	return 0;
}

static int relay_teardown(void **state)
{
	relay_free(&relay);
	return teardown(state);
}

static int authz(struct relay_hc *hc, const char *extra, unsigned need, char *why, size_t len)
{
	char *t = token("k1", 600, extra), *res = sas_resource("ns.example", hc->path);
	time_t exp = 0;
	int rc = relay_authorize(&relay, hc, t, need, res, &exp, why, len);

	if (rc == 0)
		assert_true(exp > time(NULL) + 600);
	free(t), free(res);
	return rc;
}

static void test_roles(void **state)
{
	static const struct {
		bool on_db;
		const char *claims;
		unsigned need;
		int status;
	} cases[] = {
		{ true, "\"oid\":\"owner\"", RIGHT_LISTEN, 0 },
		{ false, "\"oid\":\"owner\"", RIGHT_SEND, 0 },
		{ true, "\"appid\":\"sender-app\"", RIGHT_SEND, 0 },
		{ true, "\"azp\":\"sender-app\"", RIGHT_SEND, 0 },
		{ true, "\"azp\":\"sender-app\"", RIGHT_LISTEN, 403 },
		{ true, "\"roles\":[\"Relay.Listen\"]", RIGHT_LISTEN, 0 },
		{ true, "\"roles\":[\"relay.listen\"]", RIGHT_LISTEN, 403 },
		/* Entity scope: on db only, and only what the role grants. */
		{ true, "\"oid\":\"db-listener\"", RIGHT_LISTEN, 0 },
		{ false, "\"oid\":\"db-listener\"", RIGHT_LISTEN, 403 },
		{ true, "\"oid\":\"db-listener\"", RIGHT_SEND, 403 },
		/* The oid of one is not the app id of another. */
		{ true, "\"oid\":\"sender-app\"", RIGHT_SEND, 403 },
		/* An app's assignment is the app's own: a user signed in through
		 * it (a delegated token, with scp) does not get it. */
		{ true, "\"appid\":\"sender-app\",\"scp\":\"user_impersonation\"", RIGHT_SEND, 403 },
		{ true, "\"azp\":\"sender-app\",\"scp\":\"x\",\"idtyp\":\"user\"", RIGHT_SEND, 403 },
		{ true, "\"appid\":\"sender-app\",\"idtyp\":\"app\"", RIGHT_SEND, 0 },
	};
	char why[256];

	(void)state;
	for (size_t i = 0; i < AZB_ARRAY_SIZE(cases); i++)
		assert_int_equal(authz(cases[i].on_db ? db : web, cases[i].claims, cases[i].need, why,
				       sizeof(why)), cases[i].status);
	assert_int_equal(authz(db, "\"azp\":\"sender-app\"", RIGHT_LISTEN, why, sizeof(why)), 403);
	assert_string_equal(why, "no role assignment grants Listen to app sender-app on db");
	assert_int_equal(authz(db, "\"oid\":\"nobody\"", RIGHT_SEND, why, sizeof(why)), 403);
	assert_string_equal(why, "no role assignment grants Send to oid nobody on db");
}

static void test_sas_beside_jwt(void **state)
{
	char why[256], *res = sas_resource("ns.example", "db");
	char *sas = sas_create(res, "root", "sekrit", time(NULL) + 60), *t;

	(void)state;
	assert_int_equal(relay_authorize(&relay, db, sas, RIGHT_LISTEN, res, NULL, why, sizeof(why)),
			 0);
	sas[strlen(sas) - 20] ^= 1;
	assert_int_equal(relay_authorize(&relay, db, sas, RIGHT_LISTEN, res, NULL, why, sizeof(why)),
			 401);
	/* Audiences by default: Azure Relay's and the namespace's own names. */
	t = token("k1", 60, "\"oid\":\"owner\"");
	assert_int_equal(relay_authorize(&relay, db, t, RIGHT_SEND, res, NULL, why, sizeof(why)), 0);
	free(t);
	free(res);
	free(sas);
}

static void test_relay_audiences_and_refusals(void **state)
{
	char why[256], *res = sas_resource("ns.example", "db"), *t;
	struct relay_entra saved = relay.entra;

	char *names[] = { "ns.example" };

	(void)state;
	t = iss_aud_token(ISS, "\"https://ns.example/\"", ",\"oid\":\"owner\"");
	/* A relay that answers as any name takes no audience from the name a
	 * client sent: it would accept a token issued for another service. */
	assert_int_equal(relay_authorize(&relay, db, t, RIGHT_SEND, res, NULL, why, sizeof(why)), 401);
	assert_non_null(strstr(why, "audience"));
	relay.hosts = names;
	relay.n_hosts = 1;
	assert_int_equal(relay_authorize(&relay, db, t, RIGHT_SEND, res, NULL, why, sizeof(why)), 0);
	free(res);
	res = sas_resource("other.example", "db");
	assert_int_equal(relay_authorize(&relay, db, t, RIGHT_SEND, res, NULL, why, sizeof(why)), 401);
	assert_non_null(strstr(why, "audience"));
	free(t);
	t = token("k1", -60, "\"oid\":\"owner\"");
	assert_int_equal(relay_authorize(&relay, db, t, RIGHT_SEND, res, NULL, why, sizeof(why)), 401);
	assert_non_null(strstr(why, "expired"));
	memset(&relay.entra.keys, 0, sizeof(relay.entra.keys));
	assert_int_equal(relay_authorize(&relay, db, t, RIGHT_SEND, res, NULL, why, sizeof(why)), 401);
	assert_non_null(strstr(why, "not accepted here"));
	relay.entra = saved;
	relay.hosts = NULL;
	relay.n_hosts = 0;
	free(t), free(res);
}

int main(void)
{
	const struct CMUnitTest jwt[] = {
		cmocka_unit_test(test_b64url),
		cmocka_unit_test(test_form),
		cmocka_unit_test(test_keys_load),
		cmocka_unit_test(test_keys_refuse_small_and_non_rsa),
		cmocka_unit_test(test_good_tokens),
		cmocka_unit_test(test_audiences),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_issuer),
		cmocka_unit_test(test_signatures_and_keys),
		cmocka_unit_test(test_algorithms),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_reasons_are_clean),
	};
	const struct CMUnitTest authz_tests[] = {
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_sas_beside_jwt),
		cmocka_unit_test(test_relay_audiences_and_refusals),
	};

	return cmocka_run_group_tests(jwt, setup, teardown) |
	       cmocka_run_group_tests(authz_tests, relay_setup, relay_teardown);
}

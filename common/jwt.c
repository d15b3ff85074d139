/* RS256 JWT verification: base64url, the JOSE header and claims (jansson,
 * capped sizes, duplicates refused), the signature with OpenSSL's EVP, and
 * the keys from PEM or JWKS files. */
#include "jwt.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "util.h"

#define MAX_KEY_FILE (1 << 20)
#define MIN_RSA_BITS 2048
#define MAX_RSA_BITS 8192

/* ---- base64url ---------------------------------------------------------- */

static int b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int jwt_b64url_decode(const char *s, size_t n, unsigned char **out, size_t *outlen)
{
	unsigned char *p;
	unsigned acc = 0, bits = 0;
	size_t k = 0;

	if (n % 4 == 1)
		return -EINVAL;
	p = xmalloc(n * 3 / 4 + 1);
	for (size_t i = 0; i < n; i++) {
		int v = b64url_value((unsigned char)s[i]);

		if (v < 0) {
			free(p);
			return -EINVAL;
		}
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			p[k++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0) {            /* stray bits: not the canonical encoding */
		free(p);
		return -EINVAL;
	}
	p[k] = '\0';
	*out = p;
	*outlen = k;
	return 0;
}

/* ---- keys --------------------------------------------------------------- */

static int read_small_file(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	struct sbuf b;
	char chunk[4096];
	size_t got;

	if (!f)
		return azb_errn(err, errlen, -errno, "%s: %s", path, strerror(errno));
	sbuf_init(&b);
	while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0 && b.len <= MAX_KEY_FILE)
		sbuf_addn(&b, chunk, got);
	fclose(f);
	if (b.len > MAX_KEY_FILE) {
		sbuf_free(&b);
		return azb_errn(err, errlen, -EFBIG, "%s: larger than %d bytes", path, MAX_KEY_FILE);
	}
	*len = b.len;
	*text = b.s ? sbuf_take(&b) : xstrdup("");
	return 0;
}

static int check_rsa(EVP_PKEY *pk, const char *what, char *err, size_t errlen)
{
	int bits;

	if (!pk || EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA)
		return azb_err(err, errlen, "%s is not an RSA public key", what);
	bits = EVP_PKEY_get_bits(pk);
	if (bits < MIN_RSA_BITS || bits > MAX_RSA_BITS)
		return azb_err(err, errlen, "%s has %d bits (want %d to %d)", what, bits,
			       MIN_RSA_BITS, MAX_RSA_BITS);
	return 0;
}

static int add_key(struct jwt_keyset *ks, EVP_PKEY *pk, const char *kid, const char *what,
		   char *err, size_t errlen)
{
	if (check_rsa(pk, what, err, errlen) < 0) {
		EVP_PKEY_free(pk);
		return -EINVAL;
	}
	if (ks->n >= JWT_MAX_KEYS) {
		EVP_PKEY_free(pk);
		return azb_err(err, errlen, "more than %d issuer keys", JWT_MAX_KEYS);
	}
	for (size_t i = 0; kid && i < ks->n; i++)
		if (azb_streq(ks->keys[i].kid, kid)) {   /* one key per kid: one check per token */
			EVP_PKEY_free(pk);
			return azb_err(err, errlen, "key id \"%s\" is given twice", kid);
		}
	ks->keys = xrealloc(ks->keys, (ks->n + 1) * sizeof(*ks->keys));
	ks->keys[ks->n++] = (struct jwt_key){ kid ? xstrdup(kid) : NULL, pk };
	return 0;
}

static EVP_PKEY *pem_key(const char *text, size_t len)
{
	BIO *bio = BIO_new_mem_buf(text, (int)len);
	EVP_PKEY *pk = NULL;
	X509 *x;

	if (!bio)
		return NULL;
	if (strstr(text, "-----BEGIN CERTIFICATE-----")) {
		x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		pk = x ? X509_get_pubkey(x) : NULL;
		X509_free(x);
	} else {
		pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	}
	BIO_free(bio);
	return pk;
}

/* A big-endian unsigned number from base64url, at most max bytes. */
static BIGNUM *b64_bignum(json_t *o, const char *name, size_t max)
{
	const char *s = json_string_value(json_object_get(o, name));
	unsigned char *raw;
	size_t n;
	BIGNUM *bn;

	if (!s || strlen(s) > max * 4 / 3 + 4 ||
	    jwt_b64url_decode(s, strlen(s), &raw, &n) < 0)
		return NULL;
	bn = n && n <= max ? BN_bin2bn(raw, (int)n, NULL) : NULL;
	free(raw);
	return bn;
}

static EVP_PKEY *rsa_from_ne(json_t *jwk)
{
	BIGNUM *n = b64_bignum(jwk, "n", MAX_RSA_BITS / 8), *e = b64_bignum(jwk, "e", 8);
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pk = NULL;

	if (n && e && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
		params = OSSL_PARAM_BLD_to_param(bld);
	if (params)
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (ctx && EVP_PKEY_fromdata_init(ctx) > 0)
		EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return pk;
}

/* Keys for other uses or algorithms are skipped, as a JWKS may mix them. */
static bool jwk_wanted(json_t *jwk)
{
	const char *use = json_string_value(json_object_get(jwk, "use"));
	const char *alg = json_string_value(json_object_get(jwk, "alg"));

	return azb_streq(json_string_value(json_object_get(jwk, "kty")), "RSA") &&
	       (!use || strcmp(use, "sig") == 0) && (!alg || strcmp(alg, "RS256") == 0);
}

static int jwks_keys(struct jwt_keyset *ks, const char *path, const char *text, size_t len,
		     char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je), *arr, *jwk;
	size_t i, before = ks->n;
	int rc = 0;

	arr = json_object_get(root, "keys");
	if (!json_is_array(arr)) {
		json_decref(root);
		return azb_err(err, errlen, "%s: not a JWKS (%s)", path,
			       root ? "no \"keys\" array" : je.text);
	}
	json_array_foreach(arr, i, jwk) {
		const char *kid = json_string_value(json_object_get(jwk, "kid"));
		char what[64];

		if (!json_is_object(jwk) || !jwk_wanted(jwk))
			continue;
		snprintf(what, sizeof(what), "key %zu", i);
		if (!kid || !*kid)
			rc = azb_err(err, errlen, "%s: %s has no \"kid\"", path, what);
		else if (add_key(ks, rsa_from_ne(jwk), kid, what, err, errlen) < 0)
			rc = -EINVAL;
		if (rc < 0)
			break;
	}
	json_decref(root);
	if (rc == 0 && ks->n == before)
		rc = azb_err(err, errlen, "%s: no RSA signing key in it", path);
	return rc;
}

int jwt_keyset_load(struct jwt_keyset *ks, const char *path, const char *kid, char *err,
		    size_t errlen)
{
	char *text, sub[256];
	size_t len;
	int rc = read_small_file(path, &text, &len, err, errlen);

	if (rc < 0)
		return rc;
	if (strstr(text, "-----BEGIN ")) {
		rc = add_key(ks, pem_key(text, len), kid, "the key", sub, sizeof(sub));
		if (rc < 0)
			azb_err(err, errlen, "%s: %s", path, sub);
	} else if (kid) {
		rc = azb_err(err, errlen, "%s: kid is for a PEM key; a JWKS names its keys", path);
	} else {
		rc = jwks_keys(ks, path, text, len, err, errlen);
	}
	free(text);
	return rc;
}

void jwt_keyset_clear(struct jwt_keyset *ks)
{
	for (size_t i = 0; i < ks->n; i++) {
		free(ks->keys[i].kid);
		EVP_PKEY_free(ks->keys[i].pkey);
	}
	free(ks->keys);
	ks->keys = NULL;
	ks->n = 0;
}

/* ---- the token ---------------------------------------------------------- */

struct parts {
	const char *s;             /* header.payload, what was signed */
	size_t head_len, signed_len;
	const char *sig;
	size_t sig_len;
};

static const char *strip_bearer(const char *t)
{
	if (strncasecmp(t, "Bearer ", 7) == 0)
		t += 7;
	while (*t == ' ')
		t++;
	return t;
}

static bool b64url_run(const char *s, size_t *n)
{
	size_t k = 0;

	while (b64url_value((unsigned char)s[k]) >= 0)
		k++;
	*n = k;
	return k > 0;
}

/* The form first, so that a long token of another kind is never taken for
 * an oversized JWT. */
static int split(const char *t, struct parts *p)
{
	size_t a, b;

	if (!b64url_run(t, &a) || t[a] != '.' || !b64url_run(t + a + 1, &b) ||
	    t[a + 1 + b] != '.')
		return -EBADMSG;
	p->s = t;
	p->head_len = a;
	p->signed_len = a + 1 + b;
	p->sig = t + a + 2 + b;
	b64url_run(p->sig, &p->sig_len);
	if (p->sig[p->sig_len] != '\0')
		return -EBADMSG;
	return p->signed_len + 1 + p->sig_len > JWT_MAX_TOKEN ? -EMSGSIZE : 0;
}

bool jwt_is_jwt(const char *token)
{
	struct parts p;

	return token && split(strip_bearer(token), &p) != -EBADMSG;
}

static json_t *decode_json(const char *s, size_t n, size_t max)
{
	unsigned char *raw;
	size_t len;
	json_t *j;

	if (n > max * 4 / 3 + 4 || jwt_b64url_decode(s, n, &raw, &len) < 0)
		return NULL;
	j = len <= max ? json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
	free(raw);
	if (j && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

const char *jwt_printable(const char *v, char *buf, size_t len)
{
	size_t k = 0;

	for (; v && *v && k + 4 < len; v++)
		buf[k++] = (*v >= 0x20 && *v < 0x7f && *v != '"') ? *v : '?';
	if (v && *v)
		buf[k++] = '.', buf[k++] = '.', buf[k++] = '.';
	buf[k] = '\0';
	return buf;
}

static int check_header(json_t *h, const char **kid, char *why, size_t whylen)
{
	const char *alg = json_string_value(json_object_get(h, "alg"));
	json_t *crit = json_object_get(h, "crit"), *k = json_object_get(h, "kid");
	char buf[32];

	if (!alg)
		return azb_errn(why, whylen, -EBADMSG, "the token's header names no algorithm");
	if (strcmp(alg, "RS256") != 0)
		return azb_errn(why, whylen, -EPROTONOSUPPORT, "the token's algorithm \"%s\" is "
				"not RS256", jwt_printable(alg, buf, sizeof(buf)));
	if (crit)      /* extensions we would have to understand */
		return azb_errn(why, whylen, -EBADMSG, "the token's header has \"crit\"");
	if (k && !json_is_string(k))
		return azb_errn(why, whylen, -EBADMSG, "the token's kid is not a string");
	*kid = json_string_value(k);
	return 0;
}

static bool sig_ok(EVP_PKEY *pk, const struct parts *p, const unsigned char *sig, size_t n)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bool ok = md && (size_t)EVP_PKEY_get_size(pk) == n &&
		  EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk) == 1 &&
		  EVP_DigestVerify(md, sig, n, (const unsigned char *)p->s, p->signed_len) == 1;

	EVP_MD_CTX_free(md);
	return ok;
}

/* Keys named by the token's kid; without a match, the keys named by none. */
static int check_signature(const struct jwt_keyset *ks, const char *kid, const struct parts *p,
			   char *why, size_t whylen)
{
	unsigned char *sig;
	size_t n, tried = 0;
	int rc = -EACCES;
	char buf[48];

	if (p->sig_len > MAX_RSA_BITS / 6 + 4 || jwt_b64url_decode(p->sig, p->sig_len, &sig, &n) < 0)
		return azb_errn(why, whylen, -EBADMSG, "the token's signature is not base64url");
	for (int pass = 0; pass < 2 && !tried && rc; pass++)
		for (size_t i = 0; ks && i < ks->n && rc; i++) {
			const char *k = ks->keys[i].kid;

			if (pass == 0 ? !(kid && azb_streq(k, kid)) : k != NULL)
				continue;
			tried++;
			if (sig_ok(ks->keys[i].pkey, p, sig, n))
				rc = 0;
		}
	free(sig);
	if (!tried && !kid)
		return azb_errn(why, whylen, -ENOKEY, "the token names no key id");
	if (!tried)
		return azb_errn(why, whylen, -ENOKEY, "the token's key id \"%s\" is not a known "
				"issuer key", jwt_printable(kid, buf, sizeof(buf)));
	if (rc)
		azb_err(why, whylen, "the token's signature is not valid");
	return rc;
}

static bool listed(const char *v, const char *const *list, size_t n, bool slash_free)
{
	size_t vl = v ? strlen(v) : 0;

	if (slash_free && vl && v[vl - 1] == '/')
		vl--;
	for (size_t i = 0; v && i < n; i++) {
		size_t l = strlen(list[i]);

		if (slash_free && l && list[i][l - 1] == '/')
			l--;
		if (l == vl && strncmp(v, list[i], l) == 0)
			return true;
	}
	return false;
}

static int check_audience(json_t *aud, const struct jwt_policy *p, char *why, size_t whylen)
{
	size_t i;
	json_t *a;
	char buf[80];

	if (json_is_string(aud)) {
		if (listed(json_string_value(aud), p->audiences, p->n_audiences, true))
			return 0;
		return azb_errn(why, whylen, -EDESTADDRREQ, "the token's audience \"%s\" is not "
				"accepted", jwt_printable(json_string_value(aud), buf, sizeof(buf)));
	}
	if (!json_is_array(aud) || json_array_size(aud) > JWT_MAX_AUDIENCES)
		return azb_errn(why, whylen, -EDESTADDRREQ, "the token has no audience");
	json_array_foreach(aud, i, a)
		if (listed(json_string_value(a), p->audiences, p->n_audiences, true))
			return 0;
	return azb_errn(why, whylen, -EDESTADDRREQ, "none of the token's audiences is accepted");
}

static int time_claim(json_t *c, const char *name, bool required, json_int_t *out)
{
	json_t *v = json_object_get(c, name);

	if (!v)
		return required ? -EBADMSG : 0;
	if (json_is_integer(v))
		*out = json_integer_value(v);
	else if (json_is_real(v) && json_real_value(v) > -1e15 && json_real_value(v) < 1e15)
		*out = (json_int_t)json_real_value(v);
	else
		return -EBADMSG;
	return 0;
}

static int check_times(json_t *c, const struct jwt_policy *p, time_t now, time_t *exp_out,
		       char *why, size_t whylen)
{
	json_int_t exp = 0, nbf = 0;

	if (time_claim(c, "exp", true, &exp) < 0 || time_claim(c, "nbf", false, &nbf) < 0 ||
	    exp > (json_int_t)1 << 40 || exp < 0)
		return azb_errn(why, whylen, -EBADMSG, "the token's exp or nbf is not a time");
	if ((json_int_t)now >= exp + p->skew_s)
		return azb_errn(why, whylen, -EKEYEXPIRED, "the token has expired (%lld s ago)",
				(long long)((json_int_t)now - exp));
	if (nbf && (json_int_t)now + p->skew_s < nbf)
		return azb_errn(why, whylen, -EAGAIN, "the token is not valid yet (nbf in %lld s)",
				(long long)(nbf - (json_int_t)now));
	*exp_out = (time_t)(exp + p->skew_s);
	return 0;
}

static char *opt_string(json_t *c, const char *name)
{
	const char *v = json_string_value(json_object_get(c, name));

	return v ? xstrdup(v) : NULL;
}

static int take_identity(json_t *c, struct jwt_claims *out, char *why, size_t whylen)
{
	json_t *roles = json_object_get(c, "roles"), *r;
	size_t i;

	if (roles && (!json_is_array(roles) || json_array_size(roles) > JWT_MAX_ROLES))
		return azb_errn(why, whylen, -EBADMSG, "the token's roles are not a list of at "
				"most %d", JWT_MAX_ROLES);
	out->oid = opt_string(c, "oid");
	out->appid = opt_string(c, "appid");
	out->azp = opt_string(c, "azp");
	/* Entra ID marks an app-only token with idtyp "app" when asked to, and
	 * a delegated one always carries the user's scopes in scp. */
	out->app_only = azb_streq(json_string_value(json_object_get(c, "idtyp")), "app") ||
			!json_object_get(c, "scp");
	out->roles = xcalloc(json_array_size(roles) + 1, sizeof(*out->roles));
	json_array_foreach(roles, i, r)
		if (json_is_string(r))
			out->roles[out->n_roles++] = xstrdup(json_string_value(r));
	return 0;
}

static int check_claims(json_t *c, const struct jwt_policy *p, time_t now,
			struct jwt_claims *out, char *why, size_t whylen)
{
	const char *iss = json_string_value(json_object_get(c, "iss"));
	char buf[80];
	int rc;

	if (!listed(iss, p->issuers, p->n_issuers, false))
		return azb_errn(why, whylen, -EPERM, "the token's issuer \"%s\" is not accepted",
				iss ? jwt_printable(iss, buf, sizeof(buf)) : "");
	if ((rc = check_audience(json_object_get(c, "aud"), p, why, whylen)) < 0 ||
	    (rc = check_times(c, p, now, &out->exp, why, whylen)) < 0)
		return rc;
	return take_identity(c, out, why, whylen);
}

/* The signature is checked before any claim is looked at: nothing an
 * unsigned payload says reaches a log line. */
int jwt_verify(const char *token, const struct jwt_policy *p, time_t now,
	       struct jwt_claims *out, char *why, size_t whylen)
{
	struct parts parts;
	json_t *head = NULL, *claims = NULL;
	const char *kid = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = split(strip_bearer(token), &parts);
	if (rc == -EMSGSIZE)
		return azb_errn(why, whylen, -EBADMSG, "the token is over %d bytes", JWT_MAX_TOKEN);
	if (rc < 0)
		return azb_errn(why, whylen, -EBADMSG, "the token is not a JWT");
	if (!(head = decode_json(parts.s, parts.head_len, JWT_MAX_HEADER)))
		return azb_errn(why, whylen, -EBADMSG, "the token's header is not a JSON object");
	rc = check_header(head, &kid, why, whylen);
	if (rc == 0)
		rc = check_signature(p->keys, kid, &parts, why, whylen);
	json_decref(head);
	if (rc < 0)
		return rc;
	claims = decode_json(parts.s + parts.head_len + 1, parts.signed_len - parts.head_len - 1,
			     JWT_MAX_TOKEN);
	if (!claims)
		return azb_errn(why, whylen, -EBADMSG, "the token's claims are not a JSON object");
	rc = check_claims(claims, p, now, out, why, whylen);
	json_decref(claims);
	if (rc < 0)
		jwt_claims_clear(out);
	return rc;
}

void jwt_claims_clear(struct jwt_claims *c)
{
	for (size_t i = 0; i < c->n_roles; i++)
		free(c->roles[i]);
	free(c->roles);
	free(c->oid);
	free(c->appid);
	free(c->azp);
	memset(c, 0, sizeof(*c));
}

#include "sas.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "url.h"
#include "util.h"

#define SAS_PREFIX "SharedAccessSignature "

/* The .NET SDK's audience (TokenProvider's NormalizeAudience over System.Uri):
 * the host lower-cased, which Azure compares as the SDK sends it; the path's
 * case kept. A bare IPv6 literal gets the brackets a URI needs. */
char *sas_resource(const char *host, const char *path)
{
	bool v6 = host[0] != '[' && strchr(host, ':');
	struct sbuf b;
	size_t n;

	while (*path == '/')
		path++;
	n = strlen(path);
	while (n && path[n - 1] == '/')
		n--;
	sbuf_init(&b);
	sbuf_add(&b, v6 ? "http://[" : "http://");
	for (const char *c = host; *c; c++)
		sbuf_addc(&b, (char)tolower((unsigned char)*c));
	sbuf_printf(&b, "%s/%.*s%s", v6 ? "]" : "", (int)n, path, n ? "/" : "");
	return sbuf_take(&b);
}

struct sas_key {
	EVP_MAC_CTX *ctx;  /* keyed; each use works on a copy */
};

static EVP_MAC *hmac_impl;
static EVP_MAC_CTX *unkeyed;  /* digest set: keying a copy needs no digest fetch */

static int mac_init(void)
{
	OSSL_PARAM p[] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
							    (char *)"SHA256", 0),
			   OSSL_PARAM_construct_end() };

	if (unkeyed)
		return 0;
	if (!hmac_impl && !(hmac_impl = EVP_MAC_fetch(NULL, "HMAC", NULL)))
		return -ENOSYS;
	unkeyed = EVP_MAC_CTX_new(hmac_impl);
	if (!unkeyed || !EVP_MAC_CTX_set_params(unkeyed, p)) {
		EVP_MAC_CTX_free(unkeyed);
		unkeyed = NULL;
		return -ENOSYS;
	}
	return 0;
}

void sas_cleanup(void)
{
	EVP_MAC_CTX_free(unkeyed);
	EVP_MAC_free(hmac_impl);
	unkeyed = NULL;
	hmac_impl = NULL;
}

static EVP_MAC_CTX *keyed(const void *key, size_t keylen)
{
	EVP_MAC_CTX *c;

	if (mac_init() < 0 || !(c = EVP_MAC_CTX_dup(unkeyed)))
		return NULL;
	if (!EVP_MAC_init(c, key, keylen, NULL)) {
		EVP_MAC_CTX_free(c);
		return NULL;
	}
	return c;
}

/* MAC of msg with c, which it frees (NULL: the MAC could not be had). */
static int mac_once(EVP_MAC_CTX *c, const void *msg, size_t len, unsigned char out[SAS_MAC_LEN])
{
	size_t n = 0;
	int ok = c && EVP_MAC_update(c, msg, len) && EVP_MAC_final(c, out, &n, SAS_MAC_LEN) &&
		 n == SAS_MAC_LEN;

	EVP_MAC_CTX_free(c);
	return ok ? 0 : -EIO;
}

int sas_hmac(const void *key, size_t keylen, const void *msg, size_t len,
	     unsigned char out[SAS_MAC_LEN])
{
	return mac_once(keyed(key, keylen), msg, len, out);
}

struct sas_key *sas_key_new(const char *key)
{
	EVP_MAC_CTX *c = keyed(key, strlen(key));
	struct sas_key *k;

	if (!c)
		return NULL;
	k = xmalloc(sizeof(*k));
	k->ctx = c;
	return k;
}

void sas_key_free(struct sas_key *k)
{
	if (!k)
		return;
	EVP_MAC_CTX_free(k->ctx);
	free(k);
}

/* base64(HMAC-SHA256(key, sr + "\n" + se)) with c, which it frees; NULL if
 * the MAC failed. */
static char *signature(EVP_MAC_CTX *c, const char *sr, const char *se)
{
	unsigned char md[SAS_MAC_LEN];
	char *msg = xasprintf("%s\n%s", sr, se), *b64 = NULL;

	if (mac_once(c, msg, strlen(msg), md) == 0) {
		b64 = xmalloc(4 * ((SAS_MAC_LEN + 2) / 3) + 1);
		EVP_EncodeBlock((unsigned char *)b64, md, SAS_MAC_LEN);
	}
	OPENSSL_cleanse(md, sizeof(md));
	free(msg);
	return b64;
}

char *sas_create(const char *resource, const char *key_name, const char *key, time_t expiry)
{
	char se[24], *sr = url_encode(resource), *sig, *esig, *skn, *tok;

	snprintf(se, sizeof(se), "%lld", (long long)expiry);
	sig = signature(keyed(key, strlen(key)), sr, se);
	if (!sig) {
		free(sr);
		return NULL;
	}
	esig = url_encode(sig);
	skn = url_encode(key_name);
	tok = xasprintf(SAS_PREFIX "sr=%s&sig=%s&se=%s&skn=%s", sr, esig, se, skn);
	free(sr);
	azb_free_secret(sig);
	azb_free_secret(esig);
	free(skn);
	return tok;
}

void sas_token_clear(struct sas_token *t)
{
	free(t->sr_raw);
	free(t->resource);
	azb_free_secret(t->sig);
	free(t->key_name);
	free(t->se_raw);
	memset(t, 0, sizeof(*t));
}

static int take_param(struct sas_token *t, const char *name, const char *val, size_t n,
		      char *err, size_t errlen)
{
	char *raw = xstrndup(val, n), *dec = url_decode(raw, false);
	char **slot = NULL;
	int r = 0;

	if (!dec) {
		r = azb_err(err, errlen, "token: bad %%-escape in %s", name);
	} else if (strcmp(name, "sr") == 0 && !t->sr_raw) {
		t->sr_raw = raw;
		raw = NULL;
		slot = &t->resource;
	} else if (strcmp(name, "sig") == 0 && !t->sig) {
		slot = &t->sig;
	} else if (strcmp(name, "skn") == 0 && !t->key_name) {
		slot = &t->key_name;
	} else if (strcmp(name, "se") == 0 && !t->se_raw) {
		long v;

		t->se_raw = raw;
		raw = NULL;
		if (azb_parse_int(dec, 0, 0x7fffffffffffffffL, &v) < 0)
			r = azb_err(err, errlen, "token: se \"%s\" is not a time", dec);
		t->expiry = (time_t)v;
	} else if (strcmp(name, "sr") == 0 || strcmp(name, "sig") == 0 ||
		   strcmp(name, "skn") == 0 || strcmp(name, "se") == 0) {
		r = azb_err(err, errlen, "token: %s is given twice", name);
	}
	if (slot) {
		*slot = dec;
		dec = NULL;
	}
	free(raw);
	azb_free_secret(dec);
	return r;
}

int sas_parse(const char *token, struct sas_token *out, char *err, size_t errlen)
{
	const char *p = token;
	int r = 0;

	memset(out, 0, sizeof(*out));
	if (strncasecmp(p, SAS_PREFIX, strlen(SAS_PREFIX)) == 0)
		p += strlen(SAS_PREFIX);
	while (r == 0 && *p) {
		const char *amp = p + strcspn(p, "&"), *eq = memchr(p, '=', (size_t)(amp - p));
		char name[8];

		if (!eq || eq - p >= (long)sizeof(name)) {
			r = azb_err(err, errlen, "token: malformed parameter");
			break;
		}
		snprintf(name, sizeof(name), "%.*s", (int)(eq - p), p);
		r = take_param(out, name, eq + 1, (size_t)(amp - eq - 1), err, errlen);
		p = *amp ? amp + 1 : amp;
	}
	if (r == 0 && (!out->sr_raw || !out->sig || !out->se_raw || !out->key_name))
		r = azb_err(err, errlen, "token: missing %s", !out->sr_raw ? "sr" : !out->sig ? "sig" :
						    !out->se_raw ? "se" : "skn");
	if (r < 0)
		sas_token_clear(out);
	return r;
}

static int verify_with(const struct sas_token *t, EVP_MAC_CTX *c, time_t now)
{
	char *want = signature(c, t->sr_raw, t->se_raw);
	size_t n = want ? strlen(want) : 0;
	int ok = want && strlen(t->sig) == n && CRYPTO_memcmp(want, t->sig, n) == 0;

	azb_free_secret(want);
	if (!ok)
		return -EACCES;
	return t->expiry <= now ? -EKEYEXPIRED : 0;
}

int sas_verify(const struct sas_token *t, const char *key, time_t now)
{
	return verify_with(t, keyed(key, strlen(key)), now);
}

int sas_verify_key(const struct sas_token *t, const struct sas_key *k, time_t now)
{
	return verify_with(t, k ? EVP_MAC_CTX_dup(k->ctx) : NULL, now);
}

/* Reduce a resource to "host/path" without scheme, port, "$hc/" or the
 * trailing slash, host lower-cased. */
static char *normal_resource(const char *r)
{
	const char *sep = strstr(r, "://"), *h = sep ? sep + 3 : r;
	const char *close = h[0] == '[' ? strchr(h, ']') : NULL;
	const char *hend = close ? close + 1 : h + strcspn(h, ":/");
	const char *path = hend + strcspn(hend, "/");
	struct sbuf b;
	size_t n;

	sbuf_init(&b);
	for (const char *c = h; c < hend; c++)
		sbuf_addc(&b, (char)tolower((unsigned char)*c));
	if (strncmp(path, "/$hc/", 5) == 0)
		path += 4;
	n = strlen(path);
	while (n && path[n - 1] == '/')
		n--;
	sbuf_addn(&b, path, n);
	return sbuf_take(&b);
}

int sas_resource_covers(const char *token_resource, const char *entity_resource)
{
	char *a = normal_resource(token_resource), *b = normal_resource(entity_resource);
	size_t n = strlen(a);
	int r = strncmp(a, b, n) == 0 && (b[n] == '\0' || b[n] == '/');

	free(a);
	free(b);
	return r;
}

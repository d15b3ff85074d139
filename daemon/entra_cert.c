/* The certificate credential's client assertion: a JWT signed RS256 with
 * the private key of a PEM file, naming its certificate by x5t (the
 * base64url SHA-1 of its DER form), as Entra ID expects. */
#include "entra_kind.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cred.h"
#include "util.h"

#define PEM_MAX (64 * 1024)
/* Entra ID accepts assertions valid up to ten minutes. */
#define ASSERTION_LIFETIME 600

static char *b64url(const unsigned char *p, size_t n)
{
	char *out = xmalloc(4 * ((n + 2) / 3) + 1);
	int len = EVP_EncodeBlock((unsigned char *)out, p, (int)n);

	while (len > 0 && out[len - 1] == '=')
		len--;
	out[len] = '\0';
	for (char *c = out; *c; c++)
		*c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
	return out;
}

static char *b64url_json(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);
	char *r = b64url((const unsigned char *)s, strlen(s));

	free(s);
	json_decref(o);
	return r;
}

/* The file's bytes (a secret: a private key), *n long; NULL with res->why. */
static char *read_pem(const char *path, size_t *n, struct entra_result *res)
{
	char *buf = xmalloc(PEM_MAX);
	int fd = cred_open_secret_file(path, res->why, sizeof(res->why));
	ssize_t got = fd < 0 ? -1 : read(fd, buf, PEM_MAX);

	if (fd >= 0)
		close(fd);
	if (got > 0 && got < PEM_MAX) {
		*n = (size_t)got;
		return buf;
	}
	if (fd >= 0)
		entra_fail(res, false, "%s does not hold a PEM certificate and key", path);
	explicit_bzero(buf, PEM_MAX);
	free(buf);
	return NULL;
}

static int pem_password(char *buf, int size, int rw, void *arg)
{
	const char *pw = arg;
	size_t n = pw ? strlen(pw) : 0;

	(void)rw;
	if (n > (size_t)size)
		return -1;
	memcpy(buf, pw ? pw : "", n);
	return (int)n;
}

static char *thumbprint(X509 *x)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!X509_digest(x, EVP_sha1(), md, &n))
		return NULL;
	return b64url(md, n);
}

static char *signing_input(const char *x5t, const char *client, const char *aud)
{
	time_t now = time(NULL);
	char jti[37];
	char *h, *p, *s;

	azb_uuid(jti);
	h = b64url_json(json_pack("{s:s, s:s, s:s}", "alg", "RS256", "typ", "JWT", "x5t", x5t));
	p = b64url_json(json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "aud", aud, "iss", client,
				  "sub", client, "jti", jti, "nbf", (json_int_t)now, "iat",
				  (json_int_t)now, "exp", (json_int_t)(now + ASSERTION_LIFETIME)));
	s = xasprintf("%s.%s", h, p);
	free(h);
	free(p);
	return s;
}

static char *sign(EVP_PKEY *key, char *input)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *sig = NULL;
	size_t n = 0;
	char *out = NULL, *s;

	if (md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
	    EVP_DigestSign(md, NULL, &n, (unsigned char *)input, strlen(input)) == 1) {
		sig = xmalloc(n);
		if (EVP_DigestSign(md, sig, &n, (unsigned char *)input, strlen(input)) == 1) {
			s = b64url(sig, n);
			out = xasprintf("%s.%s", input, s);
			free(s);
		}
	}
	free(sig);
	EVP_MD_CTX_free(md);
	free(input);
	return out;
}

static EVP_PKEY *pem_key(const char *buf, size_t n, const char *password)
{
	BIO *b = BIO_new_mem_buf(buf, (int)n);
	EVP_PKEY *key = b ? PEM_read_bio_PrivateKey(b, NULL, pem_password, (void *)password) : NULL;

	BIO_free(b);
	return key;
}

static char *pem_x5t(const char *buf, size_t n)
{
	BIO *b = BIO_new_mem_buf(buf, (int)n);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	char *t = x ? thumbprint(x) : NULL;

	X509_free(x);
	BIO_free(b);
	return t;
}

char *entra_cert_assertion(const char *pem_path, const char *password, const char *client,
			   const char *aud, struct entra_result *res)
{
	size_t n = 0;
	char *buf = read_pem(pem_path, &n, res);
	EVP_PKEY *key = buf ? pem_key(buf, n, password) : NULL;
	char *x5t = buf ? pem_x5t(buf, n) : NULL, *out = NULL;

	if (!buf)
		return NULL;
	if (!key || !x5t || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA)
		entra_fail(res, false, "%s: no %s", pem_path, !key ? "readable private key (is "
			   "AZURE_CLIENT_CERTIFICATE_PASSWORD right?)" : !x5t ? "certificate" :
			   "RSA private key");
	else if (!(out = sign(key, signing_input(x5t, client, aud))))
		entra_fail(res, false, "%s: cannot sign the client assertion", pem_path);
	free(x5t);
	EVP_PKEY_free(key);
	explicit_bzero(buf, n);
	free(buf);
	return out;
}

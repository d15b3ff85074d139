/* libFuzzer: Entra ID tokens as a relay receives them. The first byte picks
 * what the rest is: a whole token (split, base64url, the header, the key
 * lookup, the signature); a header and claims ("HEADER\nCLAIMS") that the
 * harness signs with its own key, so that the claims reach the checks
 * behind the signature; or a key file (JWKS or PEM). A refusal always says
 * why in printable text and leaves no claims behind. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "jwt.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *signer;
static struct jwt_keyset keys;
static const char *const issuers[] = { "https://sts.windows.net/t/" };
static const char *const audiences[] = { "https://relay.azure.net" };

static char *b64u(const unsigned char *p, size_t n)
{
	char *std = xmalloc(4 * ((n + 2) / 3) + 1), *o = std;
	int len = EVP_EncodeBlock((unsigned char *)std, p, (int)n);

	for (int i = 0; i < len && std[i] != '='; i++)
		*o++ = std[i] == '+' ? '-' : std[i] == '/' ? '_' : std[i];
	*o = '\0';
	return std;
}

static int memfile(const void *p, size_t n, char *path, size_t len)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC);

	if (fd < 0 || write(fd, p, n) != (ssize_t)n)
		__builtin_trap();
	snprintf(path, len, "/proc/self/fd/%d", fd);
	return fd;
}

static void init(void)
{
	char path[64], err[256];
	FILE *f = tmpfile();
	long n;
	char *pem;
	int fd;

	signer = EVP_RSA_gen(2048);
	if (!f || PEM_write_PUBKEY(f, signer) != 1)
		__builtin_trap();
	n = ftell(f);
	rewind(f);
	pem = xmalloc((size_t)n);
	if (fread(pem, 1, (size_t)n, f) != (size_t)n)
		__builtin_trap();
	fclose(f);
	fd = memfile(pem, (size_t)n, path, sizeof(path));
	if (jwt_keyset_load(&keys, path, "k1", err, sizeof(err)) < 0)
		__builtin_trap();
	close(fd);
	free(pem);
}

static void check(const char *token)
{
	struct jwt_policy p = { &keys, issuers, 1, audiences, 1, 60 };
	struct jwt_claims c;
	char why[256] = "";

	if (jwt_verify(token, &p, time(NULL), &c, why, sizeof(why)) < 0) {
		if (!why[0] || c.oid || c.appid || c.azp || c.roles || c.n_roles)
			__builtin_trap();
		for (const char *w = why; *w; w++)
			if ((unsigned char)*w < 0x20 || (unsigned char)*w >= 0x7f)
				__builtin_trap();
	} else if (c.n_roles > JWT_MAX_ROLES) {
		__builtin_trap();
	}
	jwt_claims_clear(&c);
}

/* "HEADER\nCLAIMS", signed here with the harness's key. */
static void signed_claims(const char *s, size_t n)
{
	const char *nl = memchr(s, '\n', n);
	char *h, *c, *in, *sig, *tok;
	unsigned char raw[512];
	size_t rn = sizeof(raw);
	EVP_MD_CTX *md;

	if (!nl)
		return;
	h = b64u((const unsigned char *)s, (size_t)(nl - s));
	c = b64u((const unsigned char *)nl + 1, n - (size_t)(nl - s) - 1);
	in = xasprintf("%s.%s", h, c);
	md = EVP_MD_CTX_new();
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, signer) != 1 ||
	    EVP_DigestSign(md, raw, &rn, (unsigned char *)in, strlen(in)) != 1)
		__builtin_trap();
	EVP_MD_CTX_free(md);
	sig = b64u(raw, rn);
	tok = xasprintf("%s.%s", in, sig);
	check(tok);
	free(h), free(c), free(in), free(sig), free(tok);
}

static void key_file(const uint8_t *p, size_t n)
{
	struct jwt_keyset ks = { 0 };
	char path[64], err[256] = "";
	int fd = memfile(p, n, path, sizeof(path));

	if (jwt_keyset_load(&ks, path, NULL, err, sizeof(err)) < 0 && !err[0])
		__builtin_trap();
	if (ks.n > JWT_MAX_KEYS)
		__builtin_trap();
	jwt_keyset_clear(&ks);
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (!signer)
		init();
	if (size < 1 || size > JWT_MAX_TOKEN + 64)
		return 0;
	s = xstrndup((const char *)data + 1, size - 1);
	switch (data[0] % 3) {
	case 0:
		check(s);
		break;
	case 1:
		signed_claims((const char *)data + 1, size - 1);
		break;
	default:
		key_file(data + 1, size - 1);
	}
	free(s);
	return 0;
}

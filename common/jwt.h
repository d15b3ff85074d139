/* Entra ID access tokens (JWS compact form, RS256) as a relay checks them:
 * signature against keys it was given, then iss, aud, exp and nbf. Every
 * byte of a token is treated as hostile: sizes are capped before anything
 * is decoded, and the work per token is bounded by the number of keys. */
#ifndef AZB_JWT_H
#define AZB_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define JWT_MAX_TOKEN 16384      /* bytes of a whole token */
#define JWT_MAX_HEADER 1024      /* bytes of the decoded JOSE header */
#define JWT_MAX_KEYS 64          /* keys in one key set */
#define JWT_MAX_ROLES 256        /* entries of "roles" */
#define JWT_MAX_AUDIENCES 16     /* entries of an "aud" array */

struct evp_pkey_st;

struct jwt_key {
	char *kid;                   /* NULL: a PEM key named by no id */
	struct evp_pkey_st *pkey;    /* RSA, 2048 to 8192 bits */
};

struct jwt_keyset {
	struct jwt_key *keys;
	size_t n;
};

/* Add the keys of a file: a JWKS ({"keys":[{"kty":"RSA","kid":..,"n":..,
 * "e":..}]}) or a PEM public key or certificate, told apart by content.
 * kid names a PEM key (NULL: none); a JWKS names its own. 0 or -errno with
 * a reason in err. */
int jwt_keyset_load(struct jwt_keyset *ks, const char *path, const char *kid, char *err,
		    size_t errlen);
void jwt_keyset_clear(struct jwt_keyset *ks);

struct jwt_policy {
	const struct jwt_keyset *keys;
	const char *const *issuers;  /* iss must equal one */
	size_t n_issuers;
	const char *const *audiences;  /* aud (or one of them) must equal one, '/' at the end aside */
	size_t n_audiences;
	long skew_s;                 /* leeway on exp and nbf */
};

/* What a verified token says about its holder. */
struct jwt_claims {
	char *oid, *appid, *azp;     /* NULL when absent */
	bool app_only;               /* an application's own token, no user's (idtyp, scp) */
	char **roles;
	size_t n_roles;
	time_t exp;                  /* the token's exp plus the skew */
};

/* Is this a JWS compact token (after an optional "Bearer ")? SAS tokens never are. */
bool jwt_is_jwt(const char *token);
/* 0, or a refusal with its reason in why (never a piece of the token
 * beyond printable claim values, shortened):
 * -EBADMSG malformed; -EPROTONOSUPPORT alg is not RS256; -ENOKEY unknown
 * key id; -EACCES bad signature; -EKEYEXPIRED expired; -EAGAIN not yet valid;
 * -EPERM wrong issuer; -EDESTADDRREQ wrong audience. */
int jwt_verify(const char *token, const struct jwt_policy *p, time_t now,
	       struct jwt_claims *out, char *why, size_t whylen);
void jwt_claims_clear(struct jwt_claims *c);
/* A claim value fit for a log line: printable ASCII but '"', shortened to
 * fit len (at least 5) with "..."; buf is returned. */
const char *jwt_printable(const char *v, char *buf, size_t len);

/* base64url without padding, strictly (no '=', no stray bits); the result
 * is NUL-terminated beyond *outlen. 0 or -EINVAL. */
int jwt_b64url_decode(const char *s, size_t n, unsigned char **out, size_t *outlen);

#endif

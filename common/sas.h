/* Shared Access Signature tokens (HMAC-SHA256). */
#ifndef AZB_SAS_H
#define AZB_SAS_H

#include <stddef.h>
#include <time.h>

/* Resource URI of an entity: "http://host/path/" (no port, trailing slash). */
char *sas_resource(const char *host, const char *path);

/* "SharedAccessSignature sr=<enc(resource)>&sig=<enc(b64(hmac))>&se=<expiry>&skn=<enc(key_name)>".
 * The HMAC key is the key string's bytes, not its base64 decoding. NULL if
 * the MAC cannot be had. */
char *sas_create(const char *resource, const char *key_name, const char *key, time_t expiry);

/* HMAC-SHA256. The implementation is fetched from the providers once, at
 * first use (a fetch by name costs more than the MAC); sas_cleanup() frees
 * it at exit. Loop thread only. */
#define SAS_MAC_LEN 32
int sas_hmac(const void *key, size_t keylen, const void *msg, size_t len,
	     unsigned char out[SAS_MAC_LEN]);
void sas_cleanup(void);

/* A key made ready once (its HMAC pads computed) for the many checks made
 * with it: a relay's rule. NULL if the MAC cannot be had. */
struct sas_key;
struct sas_key *sas_key_new(const char *key);
void sas_key_free(struct sas_key *k);

struct sas_token {
	char *sr_raw;     /* sr exactly as in the token (still encoded): what was signed */
	char *resource;   /* sr decoded */
	char *sig;        /* decoded base64 signature text */
	char *key_name;   /* decoded */
	char *se_raw;     /* se as sent: also part of what was signed */
	time_t expiry;
};

/* Parse a token (with or without the "SharedAccessSignature " prefix). */
int sas_parse(const char *token, struct sas_token *out, char *err, size_t errlen);
void sas_token_clear(struct sas_token *t);
/* 0 if sig matches key over sr_raw and se; -EACCES bad signature, -EKEYEXPIRED
 * when expiry <= now. */
int sas_verify(const struct sas_token *t, const char *key, time_t now);
int sas_verify_key(const struct sas_token *t, const struct sas_key *k, time_t now);
/* Does a token's (decoded) resource cover an entity's resource? Lenient as the
 * service is: http/https/sb alike, host case-insensitive, port ignored,
 * trailing slash optional, "$hc/" ignored, path-prefix match on segments. */
int sas_resource_covers(const char *token_resource, const char *entity_resource);

#endif

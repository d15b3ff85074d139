/* The Entra ID credential kinds: environment, workload identity, managed
 * identity, Azure CLI, one ops table each (entra_env.c, entra_mi.c,
 * entra_cli.c). entra.c caches their tokens and calls fetch() on the loop's
 * worker thread, where blocking is allowed; nothing here touches the loop,
 * logs, or keeps state between fetches.
 *
 * Adding a kind: its table, its place in entra.c's kinds[] and its name in
 * common/cred.c's cred_kinds. */
#ifndef AZB_ENTRA_KIND_H
#define AZB_ENTRA_KIND_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define ENTRA_SCOPE "https://relay.azure.net/.default"
#define ENTRA_RESOURCE "https://relay.azure.net"
#define ENTRA_AUTHORITY "https://login.microsoftonline.com/"

/* Seconds an identity endpoint may take: to connect, and in all. */
#define ENTRA_CONNECT_TIMEOUT 5
#define ENTRA_TIMEOUT 20

/* What a fetch gives: a token (a secret) and its expiry, or the failure:
 * the endpoint's HTTP status (0: none) and error code, and why, none of
 * which holds a secret. */
struct entra_result {
	char *token;
	time_t expiry;
	int status;
	char code[64];
	char why[300];
	bool unavailable;     /* not set up here: "default" moves on quietly */
};

struct entra_kind {
	const char *name;                        /* as in cred_kinds */
	int (*fetch)(struct entra_result *res);  /* 0 or -errno with res->why */
};

extern const struct entra_kind entra_environment, entra_workload_identity,
	entra_managed_identity, entra_azure_cli;

/* ---- helpers for the kinds (entra_http.c) ------------------------------ */

/* The daemon is exiting (entra_stop()): abandon the fetch. Any thread. */
bool entra_stopping(void);
void entra_set_stopping(bool on);

/* A failure into res: -EIO (or -ENOENT when unavailable). */
int entra_fail(struct entra_result *res, bool unavailable, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* GET url (body NULL) or POST the form body, with one extra header (NULL:
 * none), then read the token from the JSON answer. */
int entra_http(const char *url, const char *body, const char *header, struct entra_result *res);
/* libcurl, loaded on first use (on the loop, before the worker needs it);
 * -ENOENT when it is not installed (entra_http() then fails). */
int entra_curl_open(void);
void entra_curl_close(void);
/* Read a token answer: access_token (or accessToken) with expires_on (epoch
 * seconds, number or string) or expires_in. */
int entra_parse_answer(const char *json, size_t len, struct entra_result *res);
/* getenv() with "" as unset. */
const char *entra_env(const char *name);
/* AZURE_AUTHORITY_HOST (or the public cloud's) with exactly one '/' after. */
char *entra_authority(void);
/* POST {authority}/{tenant}/oauth2/v2.0/token: client credentials, with
 * "&client_secret=..." or "&client_assertion_type=...&client_assertion=..."
 * (form-escaped) as auth. */
int entra_token_endpoint(const char *tenant, const char *client, const char *auth,
			 struct entra_result *res);

/* ---- the certificate credential's client assertion (entra_cert.c) ------ */

/* A client assertion (RS256 JWT with the certificate's x5t) for client at
 * aud, from the PEM file (private key and certificate; password may be
 * NULL). NULL with res->why on failure. */
char *entra_cert_assertion(const char *pem_path, const char *password, const char *client,
			   const char *aud, struct entra_result *res);

#endif

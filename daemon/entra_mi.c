/* Managed identity: the App Service / Container Apps form
 * (IDENTITY_ENDPOINT with IDENTITY_HEADER) when it is set, else the
 * instance metadata service (IMDS). A user-assigned identity is chosen by
 * AZURE_CLIENT_ID. AZURE_POD_IDENTITY_AUTHORITY_HOST moves IMDS, as the
 * Azure SDKs allow. */
#include "entra_kind.h"

#include <stdlib.h>
#include <string.h>

#include "url.h"
#include "util.h"

#define IMDS_HOST "http://169.254.169.254"

static char *client_param(void)
{
	const char *id = entra_env("AZURE_CLIENT_ID");
	char *esc, *p;

	if (!id)
		return xstrdup("");
	esc = url_encode(id);
	p = xasprintf("&client_id=%s", esc);
	free(esc);
	return p;
}

/* Trailing '/'s off a base URL, so paths join with exactly one. */
static int base_len(const char *b)
{
	size_t n = strlen(b);

	while (n && b[n - 1] == '/')
		n--;
	return (int)n;
}

static int mi_fetch(struct entra_result *res)
{
	const char *ep = entra_env("IDENTITY_ENDPOINT"), *secret = entra_env("IDENTITY_HEADER");
	const char *imds = entra_env("AZURE_POD_IDENTITY_AUTHORITY_HOST");
	char *client = client_param(), *res_esc = url_encode(ENTRA_RESOURCE);
	char *url, *hdr;
	int r;

	if (ep && secret) {
		url = xasprintf("%s?api-version=2019-08-01&resource=%s%s", ep, res_esc, client);
		hdr = xasprintf("X-IDENTITY-HEADER: %s", secret);
	} else {
		imds = imds ? imds : IMDS_HOST;
		url = xasprintf("%.*s/metadata/identity/oauth2/token?api-version=2018-02-01"
				"&resource=%s%s", base_len(imds), imds, res_esc, client);
		hdr = xstrdup("Metadata: true");
	}
	r = entra_http(url, NULL, hdr, res);
	/* No IMDS answering at all: not an Azure machine, for "default". */
	if (r < 0 && !(ep && secret) && res->status == 0)
		res->unavailable = true;
	azb_free_secret(hdr);
	free(url);
	free(res_esc);
	free(client);
	return r;
}

const struct entra_kind entra_managed_identity = { "managed-identity", mi_fetch };

/* The environment credential (a service principal: client secret or
 * certificate) and workload identity (a federated token file), as the Azure
 * SDKs read them. Both ask the tenant's token endpoint. */
#include "entra_kind.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cred.h"
#include "url.h"
#include "util.h"

#define JWT_BEARER "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"

/* Relative names of secret files are systemd credentials, else from the
 * working directory. */
static char *secret_path(const char *v)
{
	return cred_locate(v, ".");
}

static int ids(const char **tenant, const char **client, struct entra_result *res)
{
	*tenant = entra_env("AZURE_TENANT_ID");
	*client = entra_env("AZURE_CLIENT_ID");
	if (!*tenant || !*client)
		return entra_fail(res, true, "AZURE_TENANT_ID and AZURE_CLIENT_ID are not both set");
	return 0;
}

static int with_assertion(const char *tenant, const char *client, char *assertion,
			  struct entra_result *res)
{
	char *esc = url_encode(assertion);
	char *auth = xasprintf("&client_assertion_type=%s&client_assertion=%s", JWT_BEARER, esc);
	int r = entra_token_endpoint(tenant, client, auth, res);

	azb_free_secret(auth);
	azb_free_secret(esc);
	azb_free_secret(assertion);
	return r;
}

/* ---- environment ------------------------------------------------------- */

static char *client_secret(struct entra_result *res)
{
	const char *v = entra_env("AZURE_CLIENT_SECRET");
	char *path, *s = NULL;

	if (v)
		return xstrdup(v);
	v = entra_env("AZURE_CLIENT_SECRET_FILE");
	if (!v)
		return NULL;
	path = secret_path(v);
	if (cred_read_secret_file(path, &s, res->why, sizeof(res->why)) < 0)
		s = NULL;
	free(path);
	return s;
}

static int with_certificate(const char *tenant, const char *client, const char *cert,
			    struct entra_result *res)
{
	char *authority = entra_authority();
	char *aud = xasprintf("%s%s/oauth2/v2.0/token", authority, tenant);
	char *path = secret_path(cert);
	char *a = entra_cert_assertion(path, entra_env("AZURE_CLIENT_CERTIFICATE_PASSWORD"), client,
				       aud, res);

	free(path);
	free(aud);
	free(authority);
	return a ? with_assertion(tenant, client, a, res) : -EIO;
}

static int env_fetch(struct entra_result *res)
{
	const char *tenant, *client, *cert = entra_env("AZURE_CLIENT_CERTIFICATE_PATH");
	char *secret, *esc, *auth;
	int r = ids(&tenant, &client, res);

	if (r < 0)
		return r;
	secret = client_secret(res);
	if (!secret && res->why[0])
		return entra_fail(res, false, "AZURE_CLIENT_SECRET_FILE: %s", res->why);
	if (!secret && cert)
		return with_certificate(tenant, client, cert, res);
	if (!secret)
		return entra_fail(res, true, "none of AZURE_CLIENT_SECRET, AZURE_CLIENT_SECRET_FILE "
				  "and AZURE_CLIENT_CERTIFICATE_PATH is set");
	esc = url_encode(secret);
	auth = xasprintf("&client_secret=%s", esc);
	r = entra_token_endpoint(tenant, client, auth, res);
	azb_free_secret(auth);
	azb_free_secret(esc);
	azb_free_secret(secret);
	return r;
}

const struct entra_kind entra_environment = { "environment", env_fetch };

/* ---- workload identity -------------------------------------------------- */

/* Kubernetes rotates the projected token: read it on every fetch. */
static char *read_token_file(const char *path, struct entra_result *res)
{
	char buf[16384];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	char *t;

	if (fd >= 0)
		close(fd);
	if (n < 0) {
		entra_fail(res, false, "AZURE_FEDERATED_TOKEN_FILE %s: %s", path, strerror(errno));
		return NULL;
	}
	while (n > 0 && strchr("\r\n \t", buf[n - 1]))
		n--;
	buf[n] = '\0';
	t = n > 0 && (size_t)n < sizeof(buf) - 1 ? xstrdup(buf) : NULL;
	if (!t)
		entra_fail(res, false, "AZURE_FEDERATED_TOKEN_FILE %s holds no token", path);
	explicit_bzero(buf, sizeof(buf));
	return t;
}

static int wi_fetch(struct entra_result *res)
{
	const char *tenant, *client, *file = entra_env("AZURE_FEDERATED_TOKEN_FILE");
	char *assertion;
	int r;

	if (!file)
		return entra_fail(res, true, "AZURE_FEDERATED_TOKEN_FILE is not set");
	r = ids(&tenant, &client, res);
	if (r < 0)
		return r;
	assertion = read_token_file(file, res);
	return assertion ? with_assertion(tenant, client, assertion, res) : -EIO;
}

const struct entra_kind entra_workload_identity = { "workload-identity", wi_fetch };

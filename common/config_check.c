/* Checks of the merged whole, which no single file or setting can make:
 * every forward has what it needs to authenticate (a SAS rule, a signature,
 * or nothing of either, which means Entra ID), no two listen on one
 * address, no remote forward gives one port name to two bindings. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static bool all_no_auth(const struct azb_fwd *f)
{
	for (size_t i = 0; i < f->n_ep; i++)
		if (!f->ep[i].no_auth)
			return false;
	return f->dir == AZB_DIR_LOCAL && f->n_ep;
}

static void where(const struct azb_fwd *f, const char **file, int *line)
{
	*file = f->origin_file ? f->origin_file : "command line";
	*line = f->origin_file ? f->origin_line : 0;
}

bool cfg_fwd_has_credentials(const struct azb_config *c, const struct azb_fwd *f)
{
	struct azb_cred cr;
	bool ok;

	cfg_effective_cred(c, f, &cr);
	ok = cr.endpoint && (all_no_auth(f) || cred_gives_token(&cr));
	cred_clear(&cr);
	return ok;
}

static void check_creds(const struct azb_config *c, const struct azb_fwd *f, struct cfg_errors *e,
			struct cfg_errors *w)
{
	struct azb_cred cr;
	const char *file;
	int line;

	where(f, &file, &line);
	cfg_effective_cred(c, f, &cr);
	if ((cr.credential || cr.entra) && !cred_is_entra(&cr))
		cfg_errors_add(e, file, line, "forward \"%s\": %s (Entra ID) and a shared access key "
			       "or signature exclude each other: keep one", f->name,
			       cr.credential ? "credential" : "authentication");
	else if (!cr.endpoint)
		cfg_errors_add(w ? w : e, file, line, "forward \"%s\": no endpoint (set endpoint, "
			       "a connection string or -e)", f->name);
	else if (!cfg_fwd_has_credentials(c, f))
		cfg_errors_add(w ? w : e, file, line, "forward \"%s\": no credentials (set "
			       "shared_access_key_name with shared_access_key or "
			       "shared_access_key_file, shared_access_signature, or a connection "
			       "string)", f->name);
	cred_clear(&cr);
}

static char *listen_key(const struct azb_ep *e)
{
	if (e->kind == AZB_KIND_UNIX)
		return xasprintf("unix socket %s", e->socket_path);
	return xasprintf("%s %s:%u", e->kind == AZB_KIND_UDP ? "udp" : "tcp", e->host, e->port);
}

static void check_listens(const struct azb_config *c, struct cfg_errors *e)
{
	for (size_t i = 0; i < c->n_fwd; i++) {
		for (size_t a = 0; c->fwd[i]->dir == AZB_DIR_LOCAL && a < c->fwd[i]->n_ep; a++) {
			char *ka = listen_key(&c->fwd[i]->ep[a]);

			for (size_t j = i; j < c->n_fwd; j++) {
				if (c->fwd[j]->dir != AZB_DIR_LOCAL)
					continue;
				for (size_t b = j == i ? a + 1 : 0; b < c->fwd[j]->n_ep; b++) {
					char *kb = listen_key(&c->fwd[j]->ep[b]);
					const char *file;
					int line;

					where(c->fwd[j], &file, &line);
					if (strcmp(ka, kb) == 0)
						cfg_errors_add(e, file, line, "forward \"%s\": %s is "
							       "already used by forward \"%s\"",
							       c->fwd[j]->name, kb, c->fwd[i]->name);
					free(kb);
				}
			}
			free(ka);
		}
	}
}

/* The original refuses such a forward at start; here files, the command
 * line, the control socket's add and a reload all meet. */
static void check_port_names(const struct azb_fwd *f, struct cfg_errors *e)
{
	const char *dup = f->dir == AZB_DIR_REMOTE ? bnd_dup_port_name(f) : NULL, *file;
	int line;

	if (!dup)
		return;
	where(f, &file, &line);
	cfg_errors_add(e, file, line, "forward \"%s\": port name \"%s\" is given to two bindings; "
		       "a sender naming it could reach only the first: give each binding its own "
		       "port_name", f->name, dup);
}

int cfg_validate(const struct azb_config *c, struct cfg_errors *errs, struct cfg_errors *warns)
{
	size_t before = errs->n;

	for (size_t i = 0; i < c->n_fwd; i++) {
		check_creds(c, c->fwd[i], errs, warns);
		check_port_names(c->fwd[i], errs);
	}
	check_listens(c, errs);
	return errs->n == before ? 0 : -EINVAL;
}

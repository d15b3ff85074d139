#include "token.h"

#include <errno.h>
#include <stdlib.h>

#include "sas.h"
#include "util.h"

char *token_for(const struct fwd_relay *r, const char *relay, time_t *expiry, int *err)
{
	const struct azb_cred *c = r->cred;
	char *resource, *tok;

	*err = 0;
	if (c->signature) {
		struct sas_token t;

		*expiry = 0;
		if (sas_parse(c->signature, &t, NULL, 0) == 0) {
			*expiry = t.expiry;
			sas_token_clear(&t);
		}
		return xstrdup(c->signature);
	}
	if (!c->key_name || !c->key) {
		*err = -ENOKEY;
		return NULL;
	}
	*expiry = time(NULL) + r->token_lifetime;
	resource = sas_resource(r->host, relay);
	tok = sas_create(resource, c->key_name, c->key, *expiry);
	free(resource);
	return tok;
}

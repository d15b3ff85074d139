#include "token.h"

#include <errno.h>
#include <stdlib.h>

#include "entra.h"
#include "sas.h"
#include "util.h"

static int fixed(const struct azb_cred *c, struct token *t)
{
	t->text = xstrdup(c->signature);
	t->renew_in_us = 0;
	return 1;
}

static int from_key(const struct fwd_relay *r, const char *relay, struct token *t, char *why,
		    size_t len)
{
	char *resource = sas_resource(r->host, relay);

	t->text = sas_create(resource, r->cred->key_name, r->cred->key,
			     time(NULL) + r->token_lifetime);
	t->renew_in_us = (int64_t)r->token_lifetime * 1000000 * 4 / 5;
	free(resource);
	if (!t->text)
		return azb_errn(why, len, -EIO, "cannot compute HMAC-SHA256 for the token");
	return 1;
}

/* A token_wait is an entra_wait: only Entra ID tokens are ever waited for. */
static int from_entra(const struct fwd_relay *r, struct token *t, token_cb cb, void *arg,
		      struct token_wait **w, char *why, size_t len)
{
	time_t expiry, renew_at;
	int rc = entra_get(cred_entra_kind(r->cred), &t->text, &expiry, &renew_at, cb, arg,
			   (struct entra_wait **)w, why, len);

	if (rc == 1)
		t->renew_in_us = (int64_t)(renew_at - time(NULL)) * 1000000;
	return rc;
}

int token_get(const struct fwd_relay *r, const char *relay, struct token *t, token_cb cb,
	      void *arg, struct token_wait **w, char *why, size_t len)
{
	const struct azb_cred *c = r->cred;

	*w = NULL;
	t->text = NULL;
	if (c->signature)
		return fixed(c, t);
	if (c->key_name && c->key)
		return from_key(r, relay, t, why, len);
	if (cred_is_entra(c))
		return from_entra(r, t, cb, arg, w, why, len);
	return azb_errn(why, len, -ENOKEY, "no credentials");
}

void token_cancel(struct token_wait *w)
{
	entra_cancel((struct entra_wait *)w);
}

void token_clear(struct token *t)
{
	azb_free_secret(t->text);
	t->text = NULL;
}

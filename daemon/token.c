#include "token.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "entra.h"
#include "sas.h"
#include "util.h"

static int fixed(const struct azb_cred *c, struct token *t)
{
	t->text = xstrdup(c->signature);
	t->renew_in_us = 0;
	return 1;
}

/* Tokens made from a key, kept for the connections that follow: signing one
 * per sender cost as much as the rest of its set-up in this process. One is
 * reused while more than half its lifetime remains (the relay checks a
 * sender's token only as it connects; a listener renews it when a fifth of
 * the lifetime is left). An entry is found by all the token depends on, so
 * a reload that changes the key, its name or the lifetime signs anew, and
 * drops the entry made with the old ones. */
#define TOKEN_CACHE_MAX 32

struct cached {
	char *resource, *key_name, *key;  /* key: secret */
	int lifetime;
	time_t expiry;
	char *text;                       /* secret */
};

static struct cached cache[TOKEN_CACHE_MAX];
static size_t n_cached;

static void drop(size_t i)
{
	struct cached *e = &cache[i];

	free(e->resource);
	free(e->key_name);
	azb_free_secret(e->key);
	azb_free_secret(e->text);
	*e = cache[--n_cached];
	memset(&cache[n_cached], 0, sizeof(cache[n_cached]));
}

void token_flush(void)
{
	while (n_cached)
		drop(0);
}

static bool reusable(const struct cached *e, time_t now)
{
	return 2 * (int64_t)(e->expiry - now) > e->lifetime;
}

static bool same_key(const struct cached *e, const struct azb_cred *c, int lifetime)
{
	return e->lifetime == lifetime && strcmp(e->key, c->key) == 0;
}

static bool same_use(const struct cached *e, const char *resource, const struct azb_cred *c)
{
	return strcmp(e->resource, resource) == 0 && strcmp(e->key_name, c->key_name) == 0;
}

/* The entry for (resource, key name) still good to use, if any, once the
 * stale ones and those made with an old key or lifetime are gone. */
static struct cached *lookup(const char *resource, const struct azb_cred *c, int lifetime,
			     time_t now)
{
	for (size_t i = n_cached; i-- > 0;)
		if (!reusable(&cache[i], now) ||
		    (same_use(&cache[i], resource, c) && !same_key(&cache[i], c, lifetime)))
			drop(i);
	for (size_t i = 0; i < n_cached; i++)
		if (same_use(&cache[i], resource, c))
			return &cache[i];
	return NULL;
}

static size_t soonest(void)
{
	size_t s = 0;

	for (size_t i = 1; i < n_cached; i++)
		if (cache[i].expiry < cache[s].expiry)
			s = i;
	return s;
}

static const struct cached *sign(char *resource, const struct azb_cred *c, int lifetime,
				 time_t now)
{
	char *text = sas_create(resource, c->key_name, c->key, now + lifetime);
	struct cached *e;

	if (!text) {
		free(resource);
		return NULL;
	}
	if (n_cached == TOKEN_CACHE_MAX)
		drop(soonest());
	e = &cache[n_cached++];
	*e = (struct cached){ resource, xstrdup(c->key_name), xstrdup(c->key), lifetime,
			      now + lifetime, text };
	return e;
}

static int from_key(const struct fwd_relay *r, const char *relay, struct token *t, char *why,
		    size_t len)
{
	char *resource = sas_resource(r->host, relay);
	time_t now = time(NULL);
	const struct cached *e = lookup(resource, r->cred, r->token_lifetime, now);

	if (e)
		free(resource);
	else if (!(e = sign(resource, r->cred, r->token_lifetime, now)))
		return azb_errn(why, len, -EIO, "cannot compute HMAC-SHA256 for the token");
	t->text = xstrdup(e->text);
	t->renew_in_us = (int64_t)(e->expiry - now) * 1000000 - (int64_t)e->lifetime * 200000;
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

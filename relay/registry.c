/* The shared index of the relay: the hybrid connections it serves, found by
 * the longest registered name that prefixes a path, and the HTTP requests
 * under way, found by their ids. It calls no connection role: each finds
 * the others here and talks to them through their ops. */
#include "relay.h"

#include <stdlib.h>
#include <string.h>

#include "sas.h"
#include "util.h"

/* The longest registered name that is a path prefix of path. */
struct relay_hc *relay_hc_find(struct relay *r, const char *path, size_t *matched)
{
	struct relay_hc *best = NULL;
	size_t best_len = 0;

	for (struct relay_hc *h = r->hcs; h; h = h->next) {
		size_t n = strlen(h->path);

		if (n > best_len && strncmp(path, h->path, n) == 0 &&
		    (path[n] == '\0' || path[n] == '/')) {
			best = h;
			best_len = n;
		}
	}
	if (matched)
		*matched = best_len;
	return best;
}

struct relay_hc *relay_hc_add(struct relay *r, const char *path, bool client_auth)
{
	struct relay_hc *h = xcalloc(1, sizeof(*h));

	h->path = xstrdup(path);
	h->requires_client_auth = client_auth;
	h->next = r->hcs;
	r->hcs = h;
	return h;
}

void relay_exchange_add(struct relay *r, struct relay_exchange *x)
{
	x->next = r->exchanges;
	r->exchanges = x;
}

void relay_exchange_remove(struct relay *r, struct relay_exchange *x)
{
	struct relay_exchange **pp = &r->exchanges;

	while (*pp && *pp != x)
		pp = &(*pp)->next;
	if (*pp)
		*pp = x->next;
}

struct relay_exchange *relay_exchange_find(struct relay *r, const char *id)
{
	for (struct relay_exchange *x = r->exchanges; x; x = x->next)
		if (x->open && strcmp(x->id, id) == 0)
			return x;
	return NULL;
}

static void free_rules(struct relay_rule *rules, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(rules[i].name);
		azb_free_secret(rules[i].key);
		sas_key_free(rules[i].mac);
	}
	free(rules);
}

static void free_roles(struct relay_role *roles, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(roles[i].id);
	free(roles);
}

static void free_entra(struct relay_entra *e)
{
	jwt_keyset_clear(&e->keys);
	for (size_t i = 0; i < e->n_issuers; i++)
		free(e->issuers[i]);
	for (size_t i = 0; i < e->n_audiences; i++)
		free(e->audiences[i]);
	free(e->issuers);
	free(e->audiences);
}

size_t relay_hc_count(const struct relay *r)
{
	size_t n = 0;

	for (const struct relay_hc *h = r->hcs; h; h = h->next)
		n++;
	return n;
}

void relay_free(struct relay *r)
{
	while (r->hcs) {
		struct relay_hc *h = r->hcs;

		r->hcs = h->next;
		free_rules(h->rules, h->n_rules);
		free_roles(h->roles, h->n_roles);
		free(h->path);
		free(h);
	}
	free_rules(r->rules, r->n_rules);
	free_roles(r->roles, r->n_roles);
	free_entra(&r->entra);
	for (size_t i = 0; i < r->n_listen; i++)
		free(r->listen[i].host);
	free(r->listen);
	for (size_t i = 0; i < r->n_hosts; i++)
		free(r->hosts[i]);
	free(r->hosts);
}

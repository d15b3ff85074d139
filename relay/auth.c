/* Token checks for listeners, senders and HTTP clients: shared access
 * signatures against the rules, Entra ID tokens against the issuer keys
 * and the role assignments. */
#include "relay.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "jwt.h"
#include "log.h"
#include "sas.h"

static const struct relay_rule *find_rule(const struct relay_rule *rules, size_t n,
					  const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(rules[i].name, name) == 0)
			return &rules[i];
	return NULL;
}

static bool grants(const struct relay_rule *rule, unsigned need)
{
	return (rule->rights & RIGHT_MANAGE) || (rule->rights & need) == need;
}

/* Entity rules first: a name there shadows a namespace rule of that name. */
static const struct relay_rule *rule_for(const struct relay *r, const struct relay_hc *hc,
					 const char *name, bool *entity)
{
	const struct relay_rule *rule = hc ? find_rule(hc->rules, hc->n_rules, name) : NULL;

	*entity = rule != NULL;
	return rule ? rule : find_rule(r->rules, r->n_rules, name);
}

static const char *right_name(unsigned need)
{
	return need == RIGHT_LISTEN ? "Listen" : "Send";
}

static int authorize_sas(const struct relay *r, const struct relay_hc *hc, const char *token,
			 unsigned need, const char *entity_resource, time_t *expiry, char *why,
			 size_t whylen)
{
	const struct relay_rule *rule;
	struct sas_token t;
	bool entity;
	int rc = 0, v;

	if (sas_parse(token, &t, why, whylen) < 0)
		return 401;
	rule = rule_for(r, hc, t.key_name, &entity);
	v = !rule ? -EACCES : rule->mac ? sas_verify_key(&t, rule->mac, time(NULL))
				    : sas_verify(&t, rule->key, time(NULL));
	if (!rule || v == -EACCES) {
		snprintf(why, whylen, "the token's signature is not valid for rule \"%s\"", t.key_name);
		rc = 401;
	} else if (v == -EKEYEXPIRED) {
		snprintf(why, whylen, "the token has expired");
		rc = 401;
	} else if (!sas_resource_covers(t.resource, entity_resource)) {
		snprintf(why, whylen, "the token is for another entity");
		rc = 403;
	} else if (!grants(rule, need)) {
		snprintf(why, whylen, "rule \"%s\" does not grant %s", t.key_name,
			 right_name(need));
		rc = 403;
	}
	if (rc == 0)
		log_debug("%s token of rule \"%s\" accepted, valid until %lld", right_name(need),
			  rule->name, (long long)t.expiry);
	if (rc == 0 && expiry)
		*expiry = t.expiry;
	sas_token_clear(&t);
	(void)entity;
	return rc;
}

/* ---- Entra ID ------------------------------------------------------------ */

static bool holds(const struct jwt_claims *c, const struct relay_role *a)
{
	switch (a->kind) {
	case PRINCIPAL_OBJECT:
		return azb_streq(c->oid, a->id);
	case PRINCIPAL_APP:
		/* appid/azp of a delegated token name the app a user signed in
		 * through: the app's own assignment is not the user's. */
		return c->app_only && (azb_streq(c->appid, a->id) || azb_streq(c->azp, a->id));
	case PRINCIPAL_APP_ROLE:
		for (size_t i = 0; i < c->n_roles; i++)
			if (strcmp(c->roles[i], a->id) == 0)
				return true;
	}
	return false;
}

static unsigned rights_of(const struct jwt_claims *c, const struct relay_role *roles, size_t n)
{
	unsigned rights = 0;

	for (size_t i = 0; i < n; i++)
		if (holds(c, &roles[i]))
			rights |= roles[i].rights;
	return rights;
}

/* Without configured audiences: Azure Relay's own, and the names this relay
 * answers as (from the entity's resource, "http://host/path/") when it has
 * a list of them. Without one any Host is served, and a client could name
 * the audience of a token issued for another service. */
static size_t audiences(const struct relay *r, const char *entity_resource,
			char names[3][300], const char *list[3])
{
	const char *host = strstr(entity_resource, "://");
	size_t n;

	list[0] = "https://relay.azure.net";
	if (!r->n_hosts)
		return 1;
	host = host ? host + 3 : entity_resource;
	n = strcspn(host, "/");
	snprintf(names[1], 300, "https://%.*s", (int)(n < 250 ? n : 250), host);
	snprintf(names[2], 300, "sb://%.*s", (int)(n < 250 ? n : 250), host);
	list[1] = names[1];
	list[2] = names[2];
	return 3;
}

static void principal_name(const struct jwt_claims *c, char *out, size_t len)
{
	const char *app = c->appid ? c->appid : c->azp;
	char buf[48];

	if (c->oid)
		snprintf(out, len, "oid %s", jwt_printable(c->oid, buf, sizeof(buf)));
	else if (app)
		snprintf(out, len, "app %s", jwt_printable(app, buf, sizeof(buf)));
	else
		snprintf(out, len, "a token with no oid or appid");
}

static int authorize_jwt(const struct relay *r, const struct relay_hc *hc, const char *token,
			 unsigned need, const char *entity_resource, time_t *expiry, char *why,
			 size_t whylen)
{
	const struct relay_entra *e = &r->entra;
	char names[3][300], who[64];
	const char *defaults[3];
	struct jwt_policy p = { &e->keys, (const char *const *)e->issuers, e->n_issuers,
				(const char *const *)e->audiences, e->n_audiences, e->skew_s };
	struct jwt_claims c;
	unsigned rights;

	if (!e->keys.n) {
		snprintf(why, whylen, "Entra ID tokens are not accepted here (no issuer keys)");
		return 401;
	}
	if (!e->n_audiences) {
		p.n_audiences = audiences(r, entity_resource, names, defaults);
		p.audiences = defaults;
	}
	if (jwt_verify(token, &p, time(NULL), &c, why, whylen) < 0)
		return 401;
	rights = rights_of(&c, r->roles, r->n_roles) |
		 (hc ? rights_of(&c, hc->roles, hc->n_roles) : 0);
	principal_name(&c, who, sizeof(who));
	if (!(rights & RIGHT_MANAGE) && (rights & need) != need) {
		snprintf(why, whylen, "no role assignment grants %s to %s on %s", right_name(need),
			 who, hc ? hc->path : "this namespace");
		jwt_claims_clear(&c);
		return 403;
	}
	if (expiry)
		*expiry = c.exp;
	jwt_claims_clear(&c);
	return 0;
}

int relay_authorize(const struct relay *r, const struct relay_hc *hc, const char *token,
		    unsigned need, const char *entity_resource, time_t *expiry, char *why,
		    size_t whylen)
{
	if (!token || !*token) {
		snprintf(why, whylen, "a token is required");
		return 401;
	}
	if (jwt_is_jwt(token))
		return authorize_jwt(r, hc, token, need, entity_resource, expiry, why, whylen);
	return authorize_sas(r, hc, token, need, entity_resource, expiry, why, whylen);
}

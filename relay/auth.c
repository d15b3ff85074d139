/* SAS verification for listeners, senders and HTTP clients. */
#include "relay.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

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

int relay_authorize(const struct relay *r, const struct relay_hc *hc, const char *token,
		    unsigned need, const char *entity_resource, time_t *expiry, char *why,
		    size_t whylen)
{
	const struct relay_rule *rule;
	struct sas_token t;
	bool entity;
	int rc = 0, v;

	if (!token || !*token) {
		snprintf(why, whylen, "a token is required");
		return 401;
	}
	if (sas_parse(token, &t, why, whylen) < 0)
		return 401;
	rule = rule_for(r, hc, t.key_name, &entity);
	v = rule ? sas_verify(&t, rule->key, time(NULL)) : -EACCES;
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
			 need == RIGHT_LISTEN ? "Listen" : "Send");
		rc = 403;
	}
	if (rc == 0 && expiry)
		*expiry = t.expiry;
	sas_token_clear(&t);
	(void)entity;
	return rc;
}

#include "connstr.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "util.h"

static const struct {
	const char *name;
	size_t off;
	bool secret;
} fields[] = {
	{ "Endpoint", offsetof(struct azb_connstr, endpoint), false },
	{ "SharedAccessKeyName", offsetof(struct azb_connstr, key_name), false },
	{ "SharedAccessKey", offsetof(struct azb_connstr, key), true },
	{ "EntityPath", offsetof(struct azb_connstr, entity_path), false },
	{ "SharedAccessSignature", offsetof(struct azb_connstr, signature), true },
	{ "Authentication", offsetof(struct azb_connstr, authentication), false },
	{ "OperationTimeout", offsetof(struct azb_connstr, operation_timeout), false },
};

static char **field(struct azb_connstr *cs, size_t i)
{
	return (char **)((char *)cs + fields[i].off);
}

void cs_clear(struct azb_connstr *cs)
{
	for (size_t i = 0; i < AZB_ARRAY_SIZE(fields); i++) {
		if (fields[i].secret)
			azb_free_secret(*field(cs, i));
		else
			free(*field(cs, i));
	}
	memset(cs, 0, sizeof(*cs));
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* The rule's name: letters, digits, '-' and '_' (as the original checks -K). */
static bool valid_key_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
			return false;
	return true;
}

bool cs_valid_base64(const char *s)
{
	size_t n = strlen(s), pad = 0;
	unsigned char *out;
	int r;

	if (n == 0 || n % 4)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '=') {
			if (i < n - 2)
				return false;
			pad++;
		} else if (pad || !(isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '/')) {
			return false;
		}
	}
	out = xmalloc(n);
	r = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
	explicit_bzero(out, n);
	free(out);
	return r >= 0;
}

static int check_field(size_t i, const char *v, char *err, size_t errlen)
{
	if (!*v)
		return azb_err(err, errlen, "connection string: %s is empty", fields[i].name);
	if (fields[i].off == offsetof(struct azb_connstr, key_name) && !valid_key_name(v))
		return azb_err(err, errlen,
			       "connection string: SharedAccessKeyName \"%s\" may hold only letters, "
			       "digits, '-' and '_'", v);
	if (fields[i].off == offsetof(struct azb_connstr, key) && !cs_valid_base64(v))
		return azb_err(err, errlen, "connection string: SharedAccessKey is not valid base64");
	return 0;
}

bool cs_may_echo(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 40)
		return false;
	for (; *s; s++)
		if (!isalpha((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

/* Errors name a part by its number, never by its text: any part may be a
 * secret in the wrong place. */
static int parse_segment(struct azb_connstr *out, char *seg, unsigned nth, char *err,
			 size_t errlen)
{
	char *eq = strchr(seg, '='), *name, *value;

	if (!eq)
		return azb_err(err, errlen, "connection string: part %u is not NAME=VALUE", nth);
	*eq = '\0';
	name = trim(seg);
	value = trim(eq + 1);
	for (size_t i = 0; i < AZB_ARRAY_SIZE(fields); i++) {
		if (strcasecmp(name, fields[i].name) != 0)
			continue;
		if (*field(out, i))
			return azb_err(err, errlen, "connection string: %s is given twice",
				       fields[i].name);
		if (check_field(i, value, err, errlen) < 0)
			return -EINVAL;
		*field(out, i) = xstrdup(value);
		return 0;
	}
	if (cs_may_echo(name))
		return azb_err(err, errlen, "connection string: unknown key \"%s\"", name);
	return azb_err(err, errlen, "connection string: part %u has an unknown key (not shown: "
		       "it may be a secret)", nth);
}

int cs_parse(const char *s, struct azb_connstr *out, char *err, size_t errlen)
{
	char *copy = xstrdup(s), *cur = copy, *seg;
	unsigned nth = 0;
	int r = 0;

	memset(out, 0, sizeof(*out));
	while (r == 0 && (seg = strsep(&cur, ";")) != NULL) {
		nth++;
		if (*trim(seg) == '\0')
			continue;
		r = parse_segment(out, seg, nth, err, errlen);
	}
	azb_free_secret(copy);
	if (r == 0 && !out->endpoint && !out->key_name && !out->key && !out->signature)
		r = azb_err(err, errlen, "connection string: no Endpoint, key or signature in it");
	if (r < 0)
		cs_clear(out);
	return r;
}

char *cs_format(const struct azb_connstr *cs)
{
	struct sbuf b;

	sbuf_init(&b);
	for (size_t i = 0; i < AZB_ARRAY_SIZE(fields); i++) {
		const char *v = *field((struct azb_connstr *)cs, i);

		if (!v)
			continue;
		sbuf_printf(&b, "%s%s=%s", b.len ? ";" : "", fields[i].name, v);
	}
	return sbuf_take(&b);
}

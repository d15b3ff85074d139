#include "ctlreq.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

json_t *ctl_ok(void)
{
	return json_pack("{s:b}", CTL_M_OK, 1);
}

/* Length of the valid UTF-8 sequence at s (as jansson checks it: no
 * overlong forms, no surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *s)
{
	size_t n = s[0] < 0x80 ? 1 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2 : s[0] >= 0xe0 && s[0] < 0xf0 ? 3 :
		   s[0] >= 0xf0 && s[0] < 0xf5 ? 4 : 0;
	unsigned long cp = n == 1 ? s[0] : n ? s[0] & (0x3f >> (n - 1)) : 0;

	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

/* A message quotes what the client sent, cut to a length: bytes that do not
 * make UTF-8 (jansson would refuse the whole reply) become '?'. */
static void utf8_scrub(char *s)
{
	while (*s) {
		size_t n = utf8_seq((const unsigned char *)s);

		if (!n)
			*s++ = '?';
		else
			s += n;
	}
}

json_t *ctl_fail(const char *code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	utf8_scrub(msg);
	return json_pack("{s:b, s:s, s:s}", CTL_M_OK, 0, CTL_M_ERROR, code, CTL_M_MESSAGE, msg);
}

static const char *type_name(json_type t)
{
	switch (t) {
	case JSON_STRING: return "a string";
	case JSON_OBJECT: return "an object";
	case JSON_TRUE: return "true or false";
	default: return "something else";
	}
}

static bool type_ok(const json_t *v, json_type want)
{
	return want == JSON_TRUE ? json_is_boolean(v) : json_typeof(v) == want;
}

static json_t *check_args(const struct ctl_verb *v, const json_t *req)
{
	for (const struct ctl_arg *a = v->args; a->key; a++) {
		const json_t *m = json_object_get(req, a->key);

		if (!m && a->required)
			return ctl_fail("bad-request", "%s needs \"%s\", %s", v->name, a->key,
					type_name(a->type));
		if (m && !type_ok(m, a->type))
			return ctl_fail("bad-request", "\"%s\" of %s must be %s", a->key, v->name,
					type_name(a->type));
	}
	return NULL;
}

int ctl_decode(const char *line, size_t len, struct ctl_request *out, json_t **reply)
{
	json_error_t je;
	json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
	const char *cmd = json_string_value(json_object_get(req, CTL_M_CMD));

	memset(out, 0, sizeof(*out));
	*reply = NULL;
	if (!req)
		*reply = ctl_fail("bad-request", "not JSON: %s at column %d", je.text, je.column);
	else if (!json_is_object(req) || !cmd)
		*reply = ctl_fail("bad-request", "a request is an object with a string \"cmd\"");
	else if (!(out->verb = ctl_verb_find(cmd)))
		*reply = ctl_fail("unknown-command", "unknown command \"%.64s\"", cmd);
	else
		*reply = check_args(out->verb, req);
	if (*reply) {
		json_decref(req);
		out->verb = NULL;
		return -EINVAL;
	}
	out->req = req;
	return 0;
}
